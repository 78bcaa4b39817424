#include "core/blas.h"

#include <cblas.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#include "core/rng.h"

void blas_gemm(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
               const real *B, int ldb, real beta, real *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) { /* an empty sum: C = beta * C, which BLAS implementations disagree on */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
        return;
    }
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef MEMLAB_DOUBLE
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double blas_gemm_gflops(int M, int N, int K, double min_seconds)
{
    real *a = xaligned_zeroed((size_t)M * K * sizeof(real));
    real *b = xaligned_zeroed((size_t)N * K * sizeof(real));
    real *c = xaligned_zeroed((size_t)M * N * sizeof(real));
    rng r = rng_stream(1, RNG_STREAM_USER);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = (real)rng_normal(&r);
    for (size_t i = 0; i < (size_t)N * K; i++)
        b[i] = (real)rng_normal(&r);
    blas_gemm(0, 1, M, N, K, 1, a, K, b, K, 0, c, N);
    long calls = 0;
    double start = now(), elapsed;
    do {
        blas_gemm(0, 1, M, N, K, 1, a, K, b, K, 0, c, N);
        calls++;
        elapsed = now() - start;
    } while (elapsed < min_seconds);
    free(a);
    free(b);
    free(c);
    return 2.0 * M * N * K * calls / elapsed * 1e-9;
}

const char *blas_kernels(void) { return openblas_get_corename(); }
