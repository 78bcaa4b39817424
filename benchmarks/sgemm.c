/* The machine's own matrix-product ceiling, measured through the core's BLAS wrapper: GFLOP/s of
 * blas_gemm at square sizes and at the shapes the models use, on 1 thread and on all cores; the
 * linear's two backward products the same way; then the attention's small products called from
 * every pool thread at once (docs/bench.md).
 * CSV on stdout: bench,m,n,k,threads,seconds_per_call,gflops (for sgemm_concurrent, threads is the
 * number that ran products at once and gflops the rate of one of them: equal to the 1-thread row
 * when nothing is shared).
 * Usage: sgemm [seconds per measurement, default 1] [threads for the concurrent rows, default all] */
#include <stdio.h>
#include <stdlib.h>

#include "core/blas.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/pool.h"
#include "core/threads.h"

/* One CSV row: the product op(A) op(B) (trans_a, trans_b as blas_gemm takes them) on `threads`.
 * "sgemm" is the linear's forward, x w^T; "sgemm_nn" and "sgemm_tn" its two backward products, as
 * matmul_backward calls them: the input's gradient dx = dy w (m = rows, n = in, k = out) and the
 * weight's dw = dy^T x (m = out, n = in, k = rows). The weight's has the long reduction, so the
 * pool's tiles of C are small and each packs a long slice of both operands: where its rate falls
 * behind the forward's on many threads, memory traffic, not the kernels, holds the backward. */
static void bench(const char *name, int trans_a, int trans_b, int m, int n, int k, int threads, double min_seconds)
{
    threads_set(threads);
    double gflops = blas_gemm_op_gflops(trans_a, trans_b, m, n, k, min_seconds);
    printf("%s,%d,%d,%d,%d,%.6g,%.6g\n", name, m, n, k, threads, 2.0 * m * n * k / gflops * 1e-9, gflops);
    fflush(stdout);
}

/* Every participant's operands and its count of products done. */
typedef struct {
    int m, n, k, trans_b;
    double deadline;
    real *a[256], *b, *c[256];
    long calls[256];
} concurrent_args;

/* Each participant runs C = A op(B) (its own A and C, one shared B: the persistent memory's table)
 * until the common deadline; the products run inline on the participant's thread, as the
 * attention's do inside its pool loop. A participant that claims a second unit finds the deadline
 * past, so the count of participants with products is the number that ran at once. */
static void concurrent_units(void *arg, size_t lo, size_t hi)
{
    concurrent_args *g = arg;
    const int p = pool_participant();
    const int ldb = g->trans_b ? g->k : g->n;
    for (size_t u = lo; u < hi; u++)
        while (clock_seconds() < g->deadline) {
            blas_gemm(0, g->trans_b, g->m, g->n, g->k, 1, g->a[p], g->k, g->b, ldb, 0, g->c[p], g->n);
            g->calls[p]++;
        }
}

/* The attention's products at the mosaic's 512 x 4 x 512 shape (64 query rows a tile, head size
 * 64, 1,792 persistent-memory slots): logits q k^T (m 64, n 1792, k 64, k transposed) and P v
 * (m 64, n 64, k 1792). If the rate of one thread falls as threads are added while every operand
 * sits in the thread's own cache, the threads contend inside the BLAS library. */
static void bench_concurrent(int m, int n, int k, int trans_b, int threads, double seconds)
{
    threads_set(threads);
    const int parts = pool_size();
    if (parts > 256)
        fatal("sgemm: at most 256 threads for the concurrent rows");
    concurrent_args g = {.m = m, .n = n, .k = k, .trans_b = trans_b};
    g.b = xaligned_zeroed((size_t)n * k * sizeof(real));
    for (int p = 0; p < parts; p++) {
        g.a[p] = xaligned_zeroed((size_t)m * k * sizeof(real));
        g.c[p] = xaligned_zeroed((size_t)m * n * sizeof(real));
    }
    /* 50 ms untimed: starts the workers (a worker created during a loop joins from the next one) */
    g.deadline = clock_seconds() + 0.05;
    pool_for((size_t)parts, parts > 1, concurrent_units, &g);
    for (int p = 0; p < parts; p++)
        g.calls[p] = 0;
    const double start = clock_seconds();
    g.deadline = start + seconds;
    pool_for((size_t)parts, parts > 1, concurrent_units, &g);
    const double elapsed = clock_seconds() - start;
    long calls = 0;
    int ran = 0;
    for (int p = 0; p < parts; p++) {
        calls += g.calls[p];
        ran += g.calls[p] > 0;
    }
    if (!calls)
        fatal("sgemm: no product finished in %g s", seconds);
    const double per_thread = 2.0 * m * n * k * calls / elapsed * 1e-9 / ran;
    printf("sgemm_concurrent,%d,%d,%d,%d,%.6g,%.6g\n", m, n, k, ran, elapsed * ran / calls, per_thread);
    fflush(stdout);
    for (int p = 0; p < parts; p++) {
        free(g.a[p]);
        free(g.c[p]);
    }
    free(g.b);
}

int main(int argc, char **argv)
{
    blas_choose_kernels(argv);   /* OpenBLAS's kernels as memlab would run them (core/blas.h) */
    double min_seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int all = threads_available();
    int concurrent = argc > 2 ? atoi(argv[2]) : all;
    if (!(min_seconds > 0) || concurrent < 1)
        fatal("usage: sgemm [seconds > 0] [threads >= 1]");
    /* Square sizes, then (rows = batch * context, in, out) shapes of a d = 128..512 model's linears. */
    static const int shapes[][3] = {{512, 512, 512}, {1024, 1024, 1024}, {4096, 384, 128},
                                    {4096, 128, 512}, {4096, 768, 256}, {8192, 1536, 512},
                                    {8192, 512, 2048}};
    printf("bench,m,n,k,threads,seconds_per_call,gflops\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        bench("sgemm", 0, 1, shapes[i][0], shapes[i][1], shapes[i][2], 1, min_seconds);
        if (all > 1)
            bench("sgemm", 0, 1, shapes[i][0], shapes[i][1], shapes[i][2], all, min_seconds);
    }
    /* The backward products of the 512 x 4 x 512 gpt's fc (in 512, out 2048) at 8,192 rows. */
    for (int trans_a = 0; trans_a < 2; trans_a++) {
        const int m = trans_a ? 2048 : 8192, k = trans_a ? 8192 : 2048;
        const char *name = trans_a ? "sgemm_tn" : "sgemm_nn";
        bench(name, trans_a, 0, m, 512, k, 1, min_seconds);
        if (all > 1)
            bench(name, trans_a, 0, m, 512, k, all, min_seconds);
    }
    for (int t = 1;; t = 2 * t < concurrent ? 2 * t : concurrent) {   /* 1, 2, 4, ... and concurrent */
        bench_concurrent(64, 1792, 64, 1, t, min_seconds);
        bench_concurrent(64, 64, 1792, 0, t, min_seconds);
        if (t == concurrent)
            break;
    }
    return 0;
}
