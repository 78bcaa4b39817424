#include "regbench_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/progress.h"
#include "nn/lm_train.h"

/* Inputs tok[0..len-2], targets tok[1..len-1] except '|' (not trained on: docs/regbench.md); rows padded
 * with '.' to T inputs whose targets are ignored. */
static void fill_row(const uint8_t *tok, int len, int T, int *ids, int *tg)
{
    for (int t = 0; t < T; t++) {
        if (t < len - 1) {
            ids[t] = tok[t];
            tg[t] = tok[t + 1] == PFA_SEP ? -1 : tok[t + 1];
        } else {
            ids[t] = PFA_PAD;
            tg[t] = -1;
        }
    }
}

/* Batches of similar lengths waste less on padding: shuffle, then sort each run of RB_SORT_GROUP
 * batches by length before cutting it into batches (the batches still change every epoch). */
#define RB_SORT_GROUP 8

static const pfa_split *sort_split;
static int by_length(const void *a, const void *b)
{
    int la, lb;
    pfa_split_seq(sort_split, *(const int *)a, &la);
    pfa_split_seq(sort_split, *(const int *)b, &lb);
    return la != lb ? (la < lb ? -1 : 1) : (*(const int *)a < *(const int *)b ? -1 : 1);
}

static void epoch_order(const pfa_split *train, rng *r, int B, int *order)
{
    const int N = train->count;
    for (int i = 0; i < N; i++)
        order[i] = i;
    rng_shuffle(r, order, N);
    sort_split = train;
    for (int g = 0; g < N; g += RB_SORT_GROUP * B) {
        int n = g + RB_SORT_GROUP * B <= N ? RB_SORT_GROUP * B : N - g;
        qsort(order + g, (size_t)n, sizeof *order, by_length);
    }
}

int rb_train(rb_model *rm, const rb_train_cfg *c, const pfa_split *train, err_t *e)
{
    memset(rm, 0, sizeof *rm);
    lm_build(&rm->m, &c->cfg);
    rng init = rng_stream((uint64_t)c->seed, RNG_STREAM_INIT);
    lm_init_weights(&rm->m, &init);
    tape_init(&rm->tp);
    const int N = train->count, B = (int)(c->batch < N ? c->batch : N);
    const long long per_epoch = (N + B - 1) / B, total = per_epoch * c->epochs;
    lm_optim opt = {
        .adamw = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = c->wd},
        .sched = {.kind = SCHED_COSINE, .lr = c->lr, .lr_end = c->lr * c->lr_min_frac,
                  .warmup = (long long)(c->warmup_frac * total), .total = total},
        .clip = c->clip,
    };
    int *order = xmalloc((size_t)N * sizeof *order);
    int *ids = xmalloc((size_t)B * PFA_MAX_TOKENS * sizeof *ids), *tg = xmalloc((size_t)B * PFA_MAX_TOKENS * sizeof *tg);
    rng data = rng_stream((uint64_t)c->seed, RNG_STREAM_DATA), drop = rng_stream((uint64_t)c->seed, RNG_STREAM_DROPOUT);
    progress prog;
    char label[64];
    snprintf(label, sizeof label, "regbench %s", lm_arch_name(c->cfg.arch));
    progress_start(&prog, label, total, c->quiet);
    long long step = 0, tokens = 0;
    int rc = 0;
    for (long long ep = 0; ep < c->epochs && rc == 0; ep++) {
        epoch_order(train, &data, B, order);
        for (int first = 0; first < N; first += B, step++) {
            const int nb = first + B <= N ? B : N - first;
            int T = 1;
            for (int b = 0; b < nb; b++) {
                int len;
                pfa_split_seq(train, order[first + b], &len);
                if (len - 1 > T)
                    T = len - 1;
            }
            for (int b = 0; b < nb; b++) {
                int len;
                const uint8_t *tok = pfa_split_seq(train, order[first + b], &len);
                fill_row(tok, len, T, ids + (size_t)b * T, tg + (size_t)b * T);
            }
            double loss = lm_train_step(&rm->m, &rm->tp, ids, tg, nb, T, -1, &opt, step, &drop, NULL);
            if (!isfinite(loss)) {
                rc = err_set(e, "%s: the loss became %g at step %lld (try a lower --lr)", lm_arch_name(c->cfg.arch),
                             loss, step + 1);
                break;
            }
            tokens += (long long)nb * T;
            progress_update(&prog, step + 1, loss, tokens);
        }
    }
    progress_end(&prog);
    free(order);
    free(ids);
    free(tg);
    tape_reset(&rm->tp);
    rm->ids = xmalloc(PFA_MAX_TOKENS * sizeof *rm->ids);
    return rc;
}

void rb_predict(void *self, const uint8_t *tok, int len, double *probs)
{
    rb_model *rm = self;
    for (int t = 0; t < len - 1; t++)
        rm->ids[t] = tok[t];
    lm_next_probs(&rm->m, &rm->tp, rm->ids, 1, len - 1, probs);
}

void rb_model_free(rb_model *rm)
{
    lm_free(&rm->m);
    tape_free(&rm->tp);
    free(rm->ids);
    memset(rm, 0, sizeof *rm);
}
