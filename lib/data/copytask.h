/* Batches for the memory-model objectives (docs/copy.md#what-the-paper-specifies), built from windows
 * of a token stream.
 * An input of n tokens is C chunks of L (n = C * L), row-major, so that ids[B * n] is also
 * ids[(B * C) * L]: chunk c of row b is row b * C + c.
 *
 *   causal:      a window w of n + 1 tokens; inputs w[0 .. n), targets w[1 .. n] (next token).
 *   copy:        x = w[0 .. n/2); the input is s = [x, x] and the targets are s's next tokens, kept only
 *                where they lie in the second half (positions n/2 - 1 .. n - 2, labels x[0 .. n/2)); every
 *                other target is COPYTASK_IGNORE.
 *   blank-copy:  the same targets, with the input's second half replaced by the pad token: whatever the
 *                model predicts there it must take from what it remembers of the first half. */
#ifndef MEMLAB_DATA_COPYTASK_H
#define MEMLAB_DATA_COPYTASK_H

/* The target of a position that carries no loss (op_softmax_xent's ignore). */
#define COPYTASK_IGNORE (-1)

typedef enum { TASK_CAUSAL, TASK_COPY, TASK_BLANK_COPY } copy_task;

const char *copy_task_name(copy_task t);        /* "causal", "copy", "blank-copy" */
int copy_task_parse(const char *s, copy_task *t);   /* 0 or -1 */

/* windows[B * (n + 1)] (each row n + 1 consecutive tokens; copy tasks read the first n / 2) ->
 * ids[B * n], targets[B * n]. n must be even for the copy tasks (fatal otherwise: callers check). */
void copytask_batch(copy_task t, const int *windows, int B, int n, int pad, int *ids, int *targets);

/* Training objectives: a task above, or COPYTASK_COMBINED, next-token prediction and a copy task
 * on the same windows with their losses summed. */
#define COPYTASK_COMBINED 3
const char *copytask_objective_name(int objective);        /* a task's name or "combined" */
int copytask_objective_parse(const char *s, int *objective); /* 0 or -1 */
/* The batches of an objective from windows as copytask_batch: one, or for combined two (causal,
 * then `copy`), the second at ids + B * n and targets + B * n. Returns how many. */
int copytask_objective_batches(int objective, copy_task copy, const int *windows, int B, int n, int pad, int *ids,
                               int *targets);

#endif
