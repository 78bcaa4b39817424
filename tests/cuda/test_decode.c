/* Cached decoding on the GPU (nn/lm_decode.c with the caches in device memory): the logits of every
 * position, fed one token at a time, against (1) the GPU's own full forward over the sequence and
 * (2) the CPU's cached decoding of the same weights; gpt with each kind of positions and the
 * mosaic (whose cache carries the two leaky-average states and completes values one step late).
 * Then the sampler (nn/sampler.h) greedy on both devices: the same tokens.
 *
 * Tolerances, |got - want| <= atol + rtol |want| on logits of order 1: fp32 2e-5 + 2e-5 relative
 * (the CPU's check_decode holds cached against window to 2e-5; the GPU's products sum in other
 * orders); bf16 cached against the bf16 full forward 2e-2 + 2e-2 relative (both round the same
 * operands to 8 significant bits, but a one-row product and a window's product round differently). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/device.h"
#include "core/ops.h"
#include "nn/lm_decode.h"
#include "nn/sampler.h"
#include "harness.h"

static void decode_case(const char *tag, lm_config c, uint64_t seed, int bf16)
{
    err_t e;
    if (lm_config_resolve(&c, &e) != 0) {
        printf("FAIL %s: %s\n", tag, e.msg);
        return;
    }
    lm cpu, gpu;
    lm_build(&cpu, &c);
    rng r = rng_stream(seed, RNG_STREAM_INIT);
    lm_init_weights(&cpu, &r);
    for (size_t i = 0; i < cpu.ps.total; i++)   /* off the special initial values (zero biases, unit norms) */
        cpu.ps.data[i] += (real)(0.05 * rng_normal(&r));
    lm_build(&gpu, &c);
    params_copy(&gpu.ps, &cpu.ps, 0);
    lm_place(&gpu, DEV_CUDA, bf16);
    const int T = c.ctx, V = c.vocab;
    int *ids = malloc((size_t)T * sizeof *ids);
    for (int t = 0; t < T; t++)
        ids[t] = (int)rng_below(&r, (uint64_t)V);

    tape tp;
    lm_tape_init(&tp, &gpu);
    tp.grad_enabled = tp.training = 0;
    tensor *full = tape_to_host(&tp, lm_forward(&gpu, &tp, ids, 1, T, NULL));
    lm_decoder dg, dc;
    lm_decoder_init(&dg, &gpu, T);
    lm_decoder_init(&dc, &cpu, T);
    real *zg = malloc((size_t)T * V * sizeof *zg), *zc = malloc((size_t)T * V * sizeof *zc);
    for (int t = 0; t < T; t++) {
        lm_decode_step(&gpu, &dg, ids[t], zg + (size_t)t * V);
        lm_decode_step(&cpu, &dc, ids[t], zc + (size_t)t * V);
    }
    const double tol = bf16 ? 2e-2 : 2e-5;
    char name[160];
    snprintf(name, sizeof name, "%s: GPU cached vs GPU full forward, %d positions", tag, T);
    th_check(name, zg, full->data, (size_t)T * V, tol, tol);
    if (!bf16) {
        snprintf(name, sizeof name, "%s: GPU cached vs CPU cached", tag);
        th_check(name, zg, zc, (size_t)T * V, tol, tol);
        /* greedy continuation of the first 3 tokens through the sampler (cached) */
        int sg[64], sc[64];
        for (int t = 0; t < 3; t++)
            sg[t] = sc[t] = ids[t];
        sampler a, b;
        rng ra = rng_stream(1, RNG_STREAM_SAMPLE), rb = rng_stream(1, RNG_STREAM_SAMPLE);
        sampler_init(&a, &gpu, &(sample_cfg){0}, T, SAMPLE_CACHED);
        sampler_init(&b, &cpu, &(sample_cfg){0}, T, SAMPLE_CACHED);
        int ng = sampler_extend(&a, sg, 3, T - 3, -1, &ra), nc = sampler_extend(&b, sc, 3, T - 3, -1, &rb);
        int same = ng == nc;
        for (int t = 0; same && t < ng; t++)
            same = sg[t] == sc[t];
        snprintf(name, sizeof name, "%s: greedy tokens, GPU sampler vs CPU (1 = the same)", tag);
        th_check_scalar(name, same, 1, 0, 0);
        sampler_free(&a);
        sampler_free(&b);
    }
    free(zg);
    free(zc);
    free(ids);
    lm_decoder_free(&dg);
    lm_decoder_free(&dc);
    tape_free(&tp);
    lm_free(&cpu);
    lm_free(&gpu);
}

int main(void)
{
    th_open("test_decode");
    static const lm_pos pos[] = {POS_LEARNED, POS_NONE, POS_ROPE, POS_ALIBI};
    static const char *const names[] = {"gpt learned", "gpt none", "gpt rope", "gpt alibi"};
    for (int i = 0; i < 4; i++)
        decode_case(names[i], (lm_config){.arch = LM_GPT, .vocab = 23, .ctx = 19, .d = 32, .layers = 2, .heads = 4,
                                          .bias = i % 2, .pos = pos[i]},
                    10 + (uint64_t)i, 0);
    for (int bias = 0; bias < 2; bias++)
        decode_case(bias ? "mosaic bias" : "mosaic", (lm_config){.arch = LM_MOSAIC, .vocab = 23, .ctx = 19, .d = 32,
                                                                 .layers = 2, .heads = 4, .bias = bias, .pmem = 7},
                    20 + (uint64_t)bias, 0);
    decode_case("gpt bf16", (lm_config){.arch = LM_GPT, .vocab = 23, .ctx = 19, .d = 32, .layers = 2, .heads = 4,
                                        .pos = POS_LEARNED}, 30, 1);
    decode_case("mosaic bf16", (lm_config){.arch = LM_MOSAIC, .vocab = 23, .ctx = 19, .d = 32, .layers = 2,
                                           .heads = 4, .pmem = 7}, 31, 1);
    return th_finish();
}
