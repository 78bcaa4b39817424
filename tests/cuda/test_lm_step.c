/* End to end: the same small language model, the same initial weights and batch, three training
 * steps (lm_train_step: forward, cross-entropy, backward, clipping, AdamW) on the CPU and on the
 * GPU, fp32. Compared after every step: the loss, the gradient norm, every gradient, the updated
 * weights and both AdamW moments.
 *
 * Tolerances: the loss and the norm to 1e-5 relative; gradients to 1e-6 + 1e-3 relative (the GPU
 * sums in other orders: float noise of 1e-7 relative on sums of a few hundred terms, a few ulps
 * more after the backward pass through the layers). AdamW runs with eps 1e-6 so that a gradient
 * below float noise cannot flip the sign of a full-size first step; weights then agree to
 * 1e-6 + 1e-4 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "nn/lm.h"
#include "nn/lm_train.h"
#include "harness.h"

static void compare_stores(const char *tag, int step, param_store *cpu, param_store *gpu)
{
    size_t bytes = cpu->total * sizeof(real);
    real *g = malloc(bytes), *d = malloc(bytes), *m = malloc(bytes), *v = malloc(bytes);
    mem_copy(g, MEM_HOST, gpu->grad, MEM_DEVICE, bytes);
    mem_copy(d, MEM_HOST, gpu->data, MEM_DEVICE, bytes);
    mem_copy(m, MEM_HOST, gpu->m, MEM_DEVICE, bytes);
    mem_copy(v, MEM_HOST, gpu->v, MEM_DEVICE, bytes);
    char name[160];
    int bad = 0;
    /* a line per tensor only where it is off, then one line per buffer */
    for (int i = 0; i < cpu->count; i++) {
        const param_entry *e = &cpu->entries[i];
        int off = 0;
        for (size_t j = 0; j < e->n && !off; j++) {
            double a = g[e->offset + j], b = cpu->grad[e->offset + j];
            off = !(fabs(a - b) <= 1e-6 + 1e-3 * fabs(b));
        }
        if (off) {
            snprintf(name, sizeof name, "%s step %d grad %s", tag, step, e->name);
            th_check(name, g + e->offset, cpu->grad + e->offset, e->n, 1e-6, 1e-3);
            bad++;
        }
    }
    snprintf(name, sizeof name, "%s step %d all gradients (%d tensors off)", tag, step, bad);
    th_check(name, g, cpu->grad, cpu->total, 1e-6, 1e-3);
    snprintf(name, sizeof name, "%s step %d weights after AdamW", tag, step);
    th_check(name, d, cpu->data, cpu->total, 1e-6, 1e-4);
    snprintf(name, sizeof name, "%s step %d AdamW m", tag, step);
    th_check(name, m, cpu->m, cpu->total, 1e-8, 1e-3);
    snprintf(name, sizeof name, "%s step %d AdamW v", tag, step);
    th_check(name, v, cpu->v, cpu->total, 1e-12, 1e-3);
    free(g);
    free(d);
    free(m);
    free(v);
}

static void run(const char *tag, lm_config cfg, double clip)
{
    err_t e;
    if (lm_config_resolve(&cfg, &e) != 0) {
        printf("FAIL %s: %s\n", tag, e.msg);
        return;
    }
    lm cpu, gpu;
    lm_build(&cpu, &cfg);
    lm_build(&gpu, &cfg);
    rng r1 = rng_stream(7, RNG_STREAM_INIT), r2 = rng_stream(7, RNG_STREAM_INIT);
    lm_init_weights(&cpu, &r1);
    lm_init_weights(&gpu, &r2);
    params_move(&gpu.ps, DEV_CUDA);
    tape tc, tg;
    tape_init(&tc);
    tape_init(&tg);
    tape_set_device(&tg, DEV_CUDA);

    const int B = 4, T = cfg.ctx;
    int *ids = malloc((size_t)B * T * sizeof *ids), *tgt = malloc((size_t)B * T * sizeof *tgt);
    rng data = rng_stream(7, RNG_STREAM_DATA);
    lm_optim opt = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1},
                    .sched = {.kind = SCHED_CONSTANT, .lr = 1e-3, .total = 100},
                    .clip = clip};
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < B * T; i++) {
            ids[i] = (int)rng_below(&data, (uint64_t)cfg.vocab);
            tgt[i] = i % 11 == 5 ? -1 : (int)rng_below(&data, (uint64_t)cfg.vocab);
        }
        double nc = 0, ng = 0;
        double lc = lm_train_step(&cpu, &tc, ids, tgt, B, T, -1, &opt, step, NULL, &nc);
        double lg = lm_train_step(&gpu, &tg, ids, tgt, B, T, -1, &opt, step, NULL, &ng);
        char name[128];
        snprintf(name, sizeof name, "%s step %d loss", tag, step);
        th_check_scalar(name, lg, lc, 0, 1e-5);
        snprintf(name, sizeof name, "%s step %d gradient norm", tag, step);
        th_check_scalar(name, ng, nc, 0, 1e-5);
        compare_stores(tag, step, &cpu.ps, &gpu.ps);
    }
    free(ids);
    free(tgt);
    tape_free(&tc);
    tape_free(&tg);
    lm_free(&cpu);
    lm_free(&gpu);
}

int main(void)
{
    th_open("test_lm_step");
    lm_config gpt = {.arch = LM_GPT, .vocab = 97, .ctx = 24, .d = 64, .layers = 2, .heads = 4, .bias = 1,
                     .pos = POS_LEARNED};
    run("gpt", gpt, 1.0);
    lm_config nobias = gpt;
    nobias.bias = 0;
    run("gpt bias=0 clip=0.05", nobias, 0.05);   /* a bound that clips every step */
    lm_config rope = gpt;
    rope.pos = POS_ROPE;
    run("gpt rope", rope, 1.0);
    lm_config alibi = gpt;
    alibi.pos = POS_ALIBI;
    run("gpt alibi", alibi, 1.0);
    lm_config mosaic = {.arch = LM_MOSAIC, .vocab = 97, .ctx = 24, .d = 64, .layers = 2, .heads = 4, .bias = 0};
    run("mosaic", mosaic, 1.0);
    return th_finish();
}
