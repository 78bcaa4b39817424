/* End to end: the same small language model, the same initial weights and batch, three training
 * steps (lm_train_step: forward, cross-entropy, backward, clipping, AdamW) on the CPU and on the
 * GPU, fp32: gpt (both GELU forms, with and without bias, learned positions, RoPE, ALiBi) and
 * mosaic (both variants). Compared after every step: the loss, the gradient norm, every gradient, the updated
 * weights and both AdamW moments.
 *
 * Tolerances: the loss and the norm to 1e-5 relative; gradients to 1e-6 + 1e-3 relative (the GPU
 * sums in other orders: float noise of 1e-7 relative on sums of a few hundred terms, a few ulps
 * more after the backward pass through the layers); the AdamW first moment to the gradients' own
 * tolerance (it is an average of the clipped gradients with weights summing to less than 1, so a
 * gradient difference within 1e-6 moves it by as much: the H100 measured 7.5e-8 on an element of
 * 8.8e-6 of the nano mosaic, 1.7 times the 1e-8 + 1e-3 relative this test held it to before), the
 * second moment to 1e-12 + 1e-3 relative.
 *
 * The weights after AdamW cannot share a fixed tolerance: the update m^/(sqrt v^ + eps) is a
 * normalised gradient, so where a gradient is itself near float noise (|g| ~ eps = 1e-6) a
 * difference of 1e-9 in g moves the update by ~1e-3 of itself; the H100 measured 2.3e-6 on the
 * nano mosaic's weights while every gradient agreed. So the weights are held to what the measured
 * gradient differences can explain through AdamW's own sensitivity, element by element:
 *   with D_s = max over steps r <= s of |g_gpu - g_cpu| (the gradients before clipping, which
 *   lm_train_step leaves in the stores: the clipped ones differ by a factor <= 1 times as much),
 *   both moments are convex
 *   combinations of past g and g^2, so |dm^| <= D_s, |d sqrt v^| <= D_s and |m^| <= sqrt v^, hence
 *   |d update_s| <= 2 D_s / (sqrt v^_s + eps) and |dw_t| <= sum_{s<=t} lr 2 D_s / (sqrt v^_s + eps)
 * (weight decay only shrinks a difference), plus 1e-6 + 1e-4 relative for the float rounding of the
 * update itself. A wrong AdamW (bias correction, decay mask, eps) still fails: it moves weights
 * whose gradients agree, where the bound is tight. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "nn/lm.h"
#include "nn/lm_train.h"
#include "harness.h"

/* The weights' tolerance per element (the header's bound), carried across a run's steps. */
typedef struct {
    double *dmax;    /* D_s: the largest gradient difference so far */
    double *drift;   /* sum over steps of lr 2 D_s / (sqrt v^_s + eps) */
} adamw_bound;

/* Adds step t's (1-based) term to the bound from the gradients the two sides stepped with. */
static void adamw_bound_step(adamw_bound *ab, const real *g_gpu, const param_store *cpu, const lm_optim *o, long long t)
{
    const double lr = schedule_lr(&o->sched, t - 1), bc2 = 1.0 - pow(o->adamw.beta2, (double)t);
    for (size_t i = 0; i < cpu->total; i++) {
        ab->dmax[i] = fmax(ab->dmax[i], fabs((double)g_gpu[i] - cpu->grad[i]));
        ab->drift[i] += lr * 2 * ab->dmax[i] / (sqrt(cpu->v[i] / bc2) + o->adamw.eps);
    }
}

/* The weights against the bound; one check line (the worst element named when it fails). */
static void check_weights(const char *name, const real *w_gpu, const param_store *cpu, const adamw_bound *ab)
{
    double worst = 0, max_abs = 0;
    size_t at = 0;
    int ok = 1;
    for (size_t i = 0; i < cpu->total; i++) {
        const double d = fabs((double)w_gpu[i] - cpu->data[i]);
        const double excess = d - (1e-6 + 1e-4 * fabs(cpu->data[i]) + ab->drift[i]);
        if (!(excess <= 0) && (ok || excess > worst)) {
            ok = 0;
            worst = excess;
            at = i;
        }
        max_abs = fmax(max_abs, d);
    }
    /* th_check_scalar counts and prints the check: the worst excess over the bound against 0 */
    char line[320];
    snprintf(line, sizeof line, "%s (max_abs %.3g; bound 1e-6 + 1e-4 |w| + AdamW's sensitivity to the gradient "
                                "differences, largest %.3g)%s",
             name, max_abs, ab->drift[at], ok ? "" : " worst element below");
    th_check_scalar(line, ok ? 0 : worst, 0, 0, 0);
    if (!ok)
        printf("     element %zu: %.9g vs %.9g, gradient diff so far %.3g, cpu v %.3g\n", at, (double)w_gpu[at],
               (double)cpu->data[at], ab->dmax[at], (double)cpu->v[at]);
}

static void compare_stores(const char *tag, int step, param_store *cpu, param_store *gpu, const lm_optim *o,
                           adamw_bound *ab)
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
    adamw_bound_step(ab, g, cpu, o, step + 1);
    snprintf(name, sizeof name, "%s step %d weights after AdamW", tag, step);
    check_weights(name, d, cpu, ab);
    snprintf(name, sizeof name, "%s step %d AdamW m", tag, step);
    th_check(name, m, cpu->m, cpu->total, 1e-6, 1e-3);
    snprintf(name, sizeof name, "%s step %d AdamW v", tag, step);
    th_check(name, v, cpu->v, cpu->total, 1e-12, 1e-3);
    free(g);
    free(d);
    free(m);
    free(v);
}

static void run_steps(const char *tag, lm_config cfg, double clip, int bf16);

static void run(const char *tag, lm_config cfg, double clip) { run_steps(tag, cfg, clip, 0); }

/* --dtype bf16 on the GPU against the fp32 CPU: the loss within 1% and the gradient norm within 5%
 * over three steps (bf16 operands round each product's inputs to 8 significant bits). */
static void run_bf16(const char *tag, lm_config cfg) { run_steps(tag, cfg, 1.0, 1); }

static void run_steps(const char *tag, lm_config cfg, double clip, int bf16)
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
    tape_set_bf16(&tg, bf16);

    const int B = 4, T = cfg.ctx;
    int *ids = malloc((size_t)B * T * sizeof *ids), *tgt = malloc((size_t)B * T * sizeof *tgt);
    rng data = rng_stream(7, RNG_STREAM_DATA);
    lm_optim opt = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1},
                    .sched = {.kind = SCHED_CONSTANT, .lr = 1e-3, .total = 100},
                    .clip = clip};
    adamw_bound ab = {calloc(cpu.ps.total, sizeof(double)), calloc(cpu.ps.total, sizeof(double))};
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
        th_check_scalar(name, lg, lc, 0, bf16 ? 1e-2 : 1e-5);
        snprintf(name, sizeof name, "%s step %d gradient norm", tag, step);
        th_check_scalar(name, ng, nc, 0, bf16 ? 5e-2 : 1e-5);
        if (!bf16)
            compare_stores(tag, step, &cpu.ps, &gpu.ps, &opt, &ab);
    }
    /* evaluation reads the logits on the host (tape_to_host copies them from the GPU) */
    long long cc = 0, cg = 0;
    double ec = lm_eval_sum(&cpu, &tc, ids, tgt, B, T, -1, &cc), eg = lm_eval_sum(&gpu, &tg, ids, tgt, B, T, -1, &cg);
    char name[128];
    snprintf(name, sizeof name, "%s lm_eval_sum after the steps", tag);
    th_check_scalar(name, eg, ec, 0, bf16 ? 1e-2 : 1e-5);
    free(ab.dmax);
    free(ab.drift);
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
    run("gpt", gpt, 1.0);   /* exact (erf) GELU, the default */
    lm_config tanh_gelu = gpt;
    tanh_gelu.gelu = GELU_TANH;
    run("gpt gelu=tanh", tanh_gelu, 1.0);
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
    lm_config nano = mosaic;
    nano.mosaic_variant = MOSAIC_NANO;
    run("mosaic nano", nano, 1.0);
    run_bf16("gpt bf16 vs fp32 cpu", gpt);
    run_bf16("mosaic bf16 vs fp32 cpu", mosaic);
    return th_finish();
}
