#include "regbench_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "nn/lm_train.h"
#include "nn/train_loop.h"

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

/* Batches of similar lengths waste less on padding: shuffle, then sort each run of REGBENCH_SORT_GROUP
 * batches by length before cutting it into batches (the batches still change every epoch). */
#define REGBENCH_SORT_GROUP 8

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
    for (int g = 0; g < N; g += REGBENCH_SORT_GROUP * B) {
        int n = g + REGBENCH_SORT_GROUP * B <= N ? REGBENCH_SORT_GROUP * B : N - g;
        qsort(order + g, (size_t)n, sizeof *order, by_length);
    }
}

/* The training run: the epoch's order and one batch's rows. */
typedef struct {
    regbench_model *rm;
    const pfa_split *train;
    lm_optim opt;
    int N, B;
    long long per_epoch;   /* batches */
    int *order, *ids, *tg;
    rng data, drop;
} regbench_run;

/* Step s takes batch s mod per_epoch of the epoch's order, drawn anew at its first batch. */
static double regbench_step(void *ctx, long long step, long long *tokens)
{
    regbench_run *r = ctx;
    const int B = r->B, first = (int)(step % r->per_epoch) * B, nb = first + B <= r->N ? B : r->N - first;
    if (first == 0)
        epoch_order(r->train, &r->data, B, r->order);
    int T = 1;
    for (int b = 0; b < nb; b++) {
        int len;
        pfa_split_seq(r->train, r->order[first + b], &len);
        if (len - 1 > T)
            T = len - 1;
    }
    for (int b = 0; b < nb; b++) {
        int len;
        const uint8_t *tok = pfa_split_seq(r->train, r->order[first + b], &len);
        fill_row(tok, len, T, r->ids + (size_t)b * T, r->tg + (size_t)b * T);
    }
    *tokens += (long long)nb * T;
    /* Data-parallel ranks (core/dist.h) fill the whole batch, at the length of its longest row, and
     * each trains on its own rows (unequal in an epoch's short last batch: lm_train_step weights the
     * ranks by their targets). */
    int mine;
    const int rows = dist_rows(nb, &mine);
    const size_t at = (size_t)mine * T;
    return lm_train_step(&r->rm->m, &r->rm->tp, r->ids + at, r->tg + at, rows, T, -1, &r->opt, step, &r->drop, NULL);
}

int regbench_train(regbench_model *rm, const regbench_train_cfg *c, const pfa_split *train, err_t *e)
{
    memset(rm, 0, sizeof *rm);
    lm_build(&rm->m, &c->cfg);
    rng init = rng_stream((uint64_t)c->seed, RNG_STREAM_INIT);
    lm_init_weights(&rm->m, &init);
    dist_broadcast_real(rm->m.ps.data, rm->m.ps.total);   /* data-parallel ranks start from rank 0's weights */
    lm_place(&rm->m, c->device, c->bf16);   /* the same initial weights on either device */
    lm_tape_init(&rm->tp, &rm->m);
    const int N = train->count, B = (int)(c->batch < N ? c->batch : N);
    regbench_run r = {.rm = rm, .train = train, .N = N, .B = B, .per_epoch = (N + B - 1) / B,
                      .data = rng_stream((uint64_t)c->seed, RNG_STREAM_DATA),
                      .drop = rng_stream((uint64_t)c->seed, dist_stream(RNG_STREAM_DROPOUT))};
    const long long total = r.per_epoch * c->epochs;
    r.opt = (lm_optim){
        .adamw = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = c->wd},
        .sched = {.kind = SCHED_COSINE, .lr = c->lr, .lr_end = c->lr * c->lr_min_frac,
                  .warmup = (long long)(c->warmup_frac * total), .total = total},
        .clip = c->clip,
    };
    r.order = xmalloc((size_t)N * sizeof *r.order);
    r.ids = xmalloc((size_t)B * PFA_MAX_TOKENS * sizeof *r.ids);
    r.tg = xmalloc((size_t)B * PFA_MAX_TOKENS * sizeof *r.tg);
    char label[64];
    snprintf(label, sizeof label, "regbench %s", lm_arch_name(c->cfg.arch));
    train_loop loop = {.label = label, .hint = "try a lower --lr", .quiet = c->quiet, .end = total, .ctx = &r,
                       .step = regbench_step};
    int rc = train_loop_run(&loop, NULL, e) == TRAIN_DONE ? 0 : -1;
    free(r.order);
    free(r.ids);
    free(r.tg);
    tape_reset(&rm->tp);
    rm->ids = xmalloc(PFA_MAX_TOKENS * sizeof *rm->ids);
    return rc;
}

void regbench_predict(void *self, const uint8_t *tok, int len, double *probs)
{
    regbench_model *rm = self;
    for (int t = 0; t < len - 1; t++)
        rm->ids[t] = tok[t];
    lm_next_probs(&rm->m, &rm->tp, rm->ids, 1, len - 1, probs);
}

void regbench_model_free(regbench_model *rm)
{
    lm_free(&rm->m);
    tape_free(&rm->tp);
    free(rm->ids);
    memset(rm, 0, sizeof *rm);
}
