#include "data/copytask.h"

#include <string.h>

#include "core/error.h"

static const char *const task_names[] = {"causal", "copy", "blank-copy"};

const char *copy_task_name(copy_task t) { return task_names[t]; }

int copy_task_parse(const char *s, copy_task *t)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, task_names[i]) == 0) {
            *t = (copy_task)i;
            return 0;
        }
    return -1;
}

void copytask_batch(copy_task t, const int *windows, int B, int n, int pad, int *ids, int *targets)
{
    if (t != TASK_CAUSAL && n % 2 != 0)
        fatal("internal: a copy batch of odd length %d", n);
    const int h = n / 2;
    for (int b = 0; b < B; b++) {
        const int *w = windows + (size_t)b * (n + 1);
        int *in = ids + (size_t)b * n, *tg = targets + (size_t)b * n;
        if (t == TASK_CAUSAL) {
            memcpy(in, w, (size_t)n * sizeof *in);
            memcpy(tg, w + 1, (size_t)n * sizeof *tg);
            continue;
        }
        for (int i = 0; i < n; i++) {
            in[i] = i < h || t == TASK_COPY ? w[i % h] : pad;
            /* position i predicts s[i + 1]: a label only when that lies in the second half */
            tg[i] = i >= h - 1 && i < n - 1 ? w[(i + 1) % h] : COPYTASK_IGNORE;
        }
    }
}

const char *copytask_objective_name(int objective)
{
    return objective == COPYTASK_COMBINED ? "combined" : copy_task_name((copy_task)objective);
}

int copytask_objective_parse(const char *s, int *objective)
{
    copy_task t;
    if (strcmp(s, "combined") == 0) {
        *objective = COPYTASK_COMBINED;
        return 0;
    }
    if (copy_task_parse(s, &t) != 0)
        return -1;
    *objective = (int)t;
    return 0;
}

int copytask_objective_batches(int objective, copy_task copy, const int *windows, int B, int n, int pad, int *ids,
                               int *targets)
{
    const size_t sz = (size_t)B * n;
    copytask_batch(objective == COPYTASK_COMBINED ? TASK_CAUSAL : (copy_task)objective, windows, B, n, pad, ids, targets);
    if (objective != COPYTASK_COMBINED)
        return 1;
    copytask_batch(copy, windows, B, n, pad, ids + sz, targets + sz);
    return 2;
}
