/* The machine's own matrix-product ceiling, measured through the core's BLAS wrapper: GFLOP/s of
 * blas_gemm at square sizes and at the shapes the models use, on 1 thread and on all cores.
 * CSV on stdout: bench,m,n,k,threads,seconds_per_call,gflops. */
#include <stdio.h>
#include <stdlib.h>

#include "core/blas.h"
#include "core/threads.h"

static void bench(int m, int n, int k, int threads, double min_seconds)
{
    threads_set(threads);
    double gflops = blas_gemm_gflops(m, n, k, min_seconds);
    printf("sgemm,%d,%d,%d,%d,%.6g,%.6g\n", m, n, k, threads, 2.0 * m * n * k / gflops * 1e-9, gflops);
    fflush(stdout);
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
