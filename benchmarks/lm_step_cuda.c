/* Training throughput of the GPU path (lm_train_step on a tape on the GPU, fp32 then bf16) for gpt
 * and mosaic at memlab bench's three CPU shapes and the GPT-2-small shape: tokens per second over timed steps after warm-up steps, and the device memory
 * high-water mark. A measurement for benchmarks/NOTES.md, not a test. Needs a GPU (and a build
 * with CUDA); CSV on stdout:
 *   bench,arch,dtype,d,layers,heads,ctx,batch,vocab,steps,seconds,tokens_per_s,peak_device_mib */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/device.h"
#include "cuda/cuda_ctx.h"
#include "nn/lm.h"
#include "nn/lm_train.h"

static void bench(lm_arch arch, int d, int layers, int heads, int ctx, int B, int vocab, int steps, int bf16)
{
    lm_config c = {.arch = arch, .vocab = vocab, .ctx = ctx, .d = d, .layers = layers, .heads = heads,
                   .bias = 0, .pos = POS_LEARNED};
    err_t e;
    if (lm_config_resolve(&c, &e) != 0) {
        fprintf(stderr, "lm_step_cuda: %s\n", e.msg);
        exit(1);
    }
    cuda_peak_reset();
    lm m;
    lm_build(&m, &c);
    rng r = rng_stream(1, RNG_STREAM_INIT), data = rng_stream(1, RNG_STREAM_DATA);
    lm_init_weights(&m, &r);
    params_move(&m.ps, DEV_CUDA);
    tape tp;
    tape_init(&tp);
    tape_set_device(&tp, DEV_CUDA);
    tape_set_bf16(&tp, bf16);
    int n = B * ctx;
    int *ids = malloc((size_t)n * sizeof *ids), *tg = malloc((size_t)n * sizeof *tg);
    for (int i = 0; i < n; i++) {
        ids[i] = (int)rng_below(&data, (uint64_t)vocab);
        tg[i] = (int)rng_below(&data, (uint64_t)vocab);
    }
    lm_optim o = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1},
                  .sched = {.kind = SCHED_CONSTANT, .lr = 1e-4, .total = 1000}, .clip = 1.0};
    for (int s = 0; s < 2; s++)
        lm_train_step(&m, &tp, ids, tg, B, ctx, -1, &o, s, NULL, NULL);
    device_sync(DEV_CUDA);
    double t0 = clock_seconds();
    for (int s = 0; s < steps; s++)
        lm_train_step(&m, &tp, ids, tg, B, ctx, -1, &o, s + 2, NULL, NULL);
    device_sync(DEV_CUDA);
    double sec = clock_seconds() - t0;
    printf("lm_step_cuda,%s,%s,%d,%d,%d,%d,%d,%d,%d,%.4f,%.0f,%.0f\n", lm_arch_name(arch), bf16 ? "bf16" : "fp32", d,
           layers, heads, ctx, B, vocab,
           steps, sec, (double)n * steps / sec, cuda_peak_bytes() / 1048576.0);
    fflush(stdout);
    free(ids);
    free(tg);
    tape_free(&tp);
    lm_free(&m);
}

int main(int argc, char **argv)
{
    err_t e;
    if (device_open(DEV_CUDA, &e) != 0) {
        fprintf(stderr, "lm_step_cuda: %s\n", e.msg);
        return 1;
    }
    int steps = argc > 1 ? atoi(argv[1]) : 5;
    fprintf(stderr, "lm_step_cuda on %s\n", cuda_ctx_describe());
    printf("bench,arch,dtype,d,layers,heads,ctx,batch,vocab,steps,seconds,tokens_per_s,peak_device_mib\n");
    /* memlab bench's three CPU shapes (its default --train-shapes and --tokens 8192, vocabulary
     * 2048), then the paper's GPT-2-small shape at batch 8 and 32 (vocabulary 50,304) */
    static const int shapes[][6] = {{128, 2, 4, 256, 32, 2048}, {256, 4, 8, 256, 32, 2048},
                                    {512, 4, 8, 512, 16, 2048}, {768, 12, 12, 512, 8, 50304},
                                    {768, 12, 12, 512, 32, 50304}};
    for (int bf16 = 0; bf16 < 2; bf16++)
        for (int a = 0; a < 2; a++)
            for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
                const int *x = shapes[i];
                bench(a ? LM_MOSAIC : LM_GPT, x[0], x[1], x[2], x[3], x[4], x[5], steps, bf16);
            }
    return 0;
}
