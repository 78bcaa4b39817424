/* Masked multi-head attention, forward and backward kernels alone, at the shapes the models use:
 * the three-moons memory model (many tiny heads over a long context), two language-model sizes, and
 * the mosaic's two memories at the bench's 256x4x256 shape (the context memory under the strict mask;
 * the persistent memory, 896 slots shared by the batch), each also with logits 50 times larger, the
 * spread of a mosaic whose learned key scales have grown (most probabilities underflow to 0), and
 * both again at 512x4x512, batch 16 (1,792 slots: a (batch, head)'s probabilities no longer fit a
 * core's cache). OpenBLAS's kernels are chosen as memlab chooses them (blas_choose_kernels).
 * [B, T, H*hs] buffers as the ops lay them out; 1 and 2 threads; the kernels that keep the
 * probabilities (bench "attention") and, where it applies, the flash kernels that recompute them
 * ("attention_flash").
 * CSV on stdout: bench,B,T,Tk,H,hs,mask,shared,logit_mult,threads,fwd_ms,bwd_ms (the median
 * milliseconds of one call).
 * Usage: attention [min_seconds per measurement, default 1] [shape index: that shape alone]
 *        [threads: that count alone, any count].
 * BENCH_FTZ=1 in the environment sets the SSE unit's flush-to-zero and denormals-are-zero bits
 * before any thread starts (threads inherit them): whether subnormal numbers cost time on this CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "core/blas.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/kernels.h"
#include "core/rng.h"
#include "core/threads.h"

#define MAX_CALLS 1000

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static real *normal_buf(size_t n, uint64_t seed)
{
    real *p = xaligned_zeroed(n * sizeof *p);
    rng r = rng_stream(seed, RNG_STREAM_USER);
    for (size_t i = 0; i < n; i++)
        p[i] = (real)rng_normal(&r);
    return p;
}

static const char *mask_name(att_mask_kind k)
{
    switch (k) {
    case ATT_CAUSAL: return "causal";
    case ATT_STRICT: return "strict";
    case ATT_FULL: return "full";
    case ATT_BLOCK: return "block";
    }
    return "?";
}

typedef struct {
    int B, T, H, hs;
    att_mask_kind mask;
    int Tk;           /* keys: 0 for T (self-attention) */
    int shared;       /* one key/value table for the batch (the persistent memory) */
    double mult;      /* logit scale times this */
} shape;

static void bench(const shape *s, int threads, double min_seconds)
{
    const int C = s->H * s->hs, Tk = s->Tk ? s->Tk : s->T;
    const double mult = s->mult;
    const size_t n = (size_t)s->B * s->T * C, nk = (size_t)(s->shared ? 1 : s->B) * Tk * C;
    const size_t TT = (size_t)s->T * Tk;
    const att_dims d = {.B = s->B, .Tq = s->T, .Tk = Tk, .H = s->H, .hs = s->hs,
                        .ldq = C, .ldk = C, .ldv = C, .ldo = C,
                        .bsq = (size_t)s->T * C, .bsk = s->shared ? 0 : (size_t)Tk * C,
                        .bsv = s->shared ? 0 : (size_t)Tk * C,
                        .bso = (size_t)s->T * C, .mask = {s->mask, 0}, .scale = (real)(mult / sqrt(s->hs))};
    real *q = normal_buf(n, 1), *k = normal_buf(nk, 2), *v = normal_buf(nk, 3), *dout = normal_buf(n, 4);
    real *out = xaligned_zeroed(n * sizeof(real));
    real *dq = xaligned_zeroed(n * sizeof(real)), *dk = xaligned_zeroed(nk * sizeof(real));
    real *dv = xaligned_zeroed(nk * sizeof(real));
    real *att = xaligned_zeroed((size_t)s->B * s->H * TT * sizeof(real));
    threads_set(threads);   /* first: the backward's scratch is a block per thread */
    real *scratch = xaligned_zeroed(attention_scratch_size(&d) * sizeof(real));
    for (int flash = 0; flash < 2; flash++) {
        if (flash && !attention_flash_supports(&d))
            continue;
        static double fwd[MAX_CALLS], bwd[MAX_CALLS];
        int calls = 0;
        /* the first call warms up (thread pools, caches, the pages of att and scratch); forward and
         * backward alternate, as in training; the gradients keep accumulating, which costs the same
         * as writing them afresh */
        for (double start = clock_seconds(), t0, t1, t2; calls <= MAX_CALLS && (calls < 4 || clock_seconds() - start < min_seconds);
             calls++) {
            t0 = clock_seconds();
            if (flash)
                attention_forward_flash(out, q, k, v, &d);
            else
                attention_forward(out, att, q, k, v, &d);
            t1 = clock_seconds();
            if (flash)
                attention_backward_flash(dq, dk, dv, dout, q, k, v, &d);
            else
                attention_backward(dq, dk, dv, scratch, dout, q, k, v, att, &d);
            t2 = clock_seconds();
            if (calls > 0) {
                fwd[calls - 1] = t1 - t0;
                bwd[calls - 1] = t2 - t1;
            }
        }
        printf("%s,%d,%d,%d,%d,%d,%s,%d,%g,%d,%.4g,%.4g\n", flash ? "attention_flash" : "attention", s->B, s->T, Tk,
               s->H, s->hs, mask_name(s->mask), s->shared, mult, threads, 1e3 * median(fwd, calls - 1),
               1e3 * median(bwd, calls - 1));
        fflush(stdout);
    }
    free(q), free(k), free(v), free(dout), free(out), free(dq), free(dk), free(dv), free(att), free(scratch);
}

int main(int argc, char **argv)
{
    blas_choose_kernels(argv);   /* OpenBLAS's kernels as memlab would run them (core/blas.h) */
    double min_seconds = argc > 1 ? atof(argv[1]) : 1.0;
    static const shape shapes[] = {
        {64, 800, 3, 2, ATT_STRICT, 0, 0, 1},    /* three moons: the memory model over one long context */
        {8, 256, 4, 32, ATT_CAUSAL, 0, 0, 1},    /* small language model */
        {8, 512, 8, 64, ATT_CAUSAL, 0, 0, 1},    /* larger language model */
        {32, 256, 4, 64, ATT_STRICT, 0, 0, 1},   /* the mosaic's context memory, 256x4x256 */
        {32, 256, 4, 64, ATT_FULL, 896, 1, 1},   /* its persistent memory */
        {32, 256, 4, 64, ATT_STRICT, 0, 0, 50},
        {32, 256, 4, 64, ATT_FULL, 896, 1, 50},
        {16, 512, 8, 64, ATT_STRICT, 0, 0, 1},   /* the mosaic's two memories at 512x4x512, batch 16 */
        {16, 512, 8, 64, ATT_FULL, 1792, 1, 1},
    };
    const char *ftz = getenv("BENCH_FTZ");
    if (ftz && strcmp(ftz, "1") == 0) {
#if defined(__x86_64__)
        _mm_setcsr(_mm_getcsr() | 0x8040);   /* FTZ (bit 15) and DAZ (bit 6) */
#else
        fatal("BENCH_FTZ: x86-64 only");
#endif
    }
    static const int thread_counts[] = {1, 2};
    printf("bench,B,T,Tk,H,hs,mask,shared,logit_mult,threads,fwd_ms,bwd_ms\n");
    const int only = argc > 2 ? atoi(argv[2]) : -1, only_threads = argc > 3 ? atoi(argv[3]) : 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (only >= 0 && (size_t)only != i)
            continue;
        if (only_threads > 0)
            bench(&shapes[i], only_threads, min_seconds);
        else
            for (size_t j = 0; j < sizeof thread_counts / sizeof thread_counts[0]; j++)
                bench(&shapes[i], thread_counts[j], min_seconds);
    }
    return 0;
}
