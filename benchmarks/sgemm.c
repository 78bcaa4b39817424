/* The machine's own matrix-product ceiling, measured through the core's BLAS wrapper: GFLOP/s of
 * blas_gemm at square sizes and at the shapes the models use, on 1 thread and on all cores.
 * CSV on stdout: bench,m,n,k,threads,seconds_per_call,gflops. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(int m, int n, int k, int threads, double min_seconds)
{
    real *a = xaligned_zeroed((size_t)m * k * sizeof(real));
    real *b = xaligned_zeroed((size_t)k * n * sizeof(real));
    real *c = xaligned_zeroed((size_t)m * n * sizeof(real));
    rng r = rng_stream(1, RNG_STREAM_USER);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (real)rng_normal(&r);
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (real)rng_normal(&r);
    threads_set(threads);
    blas_gemm(0, 1, m, n, k, 1, a, k, b, k, 0, c, n); /* warm-up: thread pool, caches */
    long calls = 0;
    double start = now(), elapsed;
    do {
        blas_gemm(0, 1, m, n, k, 1, a, k, b, k, 0, c, n);
        calls++;
        elapsed = now() - start;
    } while (elapsed < min_seconds);
    double per_call = elapsed / calls;
    printf("sgemm,%d,%d,%d,%d,%.6g,%.6g\n", m, n, k, threads, per_call, 2.0 * m * n * k / per_call * 1e-9);
    fflush(stdout);
    free(a);
    free(b);
    free(c);
}

int main(int argc, char **argv)
{
    double min_seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int all = threads_available();
    /* Square sizes, then (rows = batch * context, in, out) shapes of a d = 128..512 model's linears. */
    static const int shapes[][3] = {{512, 512, 512}, {1024, 1024, 1024}, {4096, 384, 128},
                                    {4096, 128, 512}, {4096, 768, 256}, {8192, 1536, 512},
                                    {8192, 512, 2048}};
    printf("bench,m,n,k,threads,seconds_per_call,gflops\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        bench(shapes[i][0], shapes[i][1], shapes[i][2], 1, min_seconds);
        if (all > 1)
            bench(shapes[i][0], shapes[i][1], shapes[i][2], all, min_seconds);
    }
    return 0;
}
