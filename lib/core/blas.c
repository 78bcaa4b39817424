#include "core/blas.h"

#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/pool.h"
#include "core/rng.h"

/* One gemm split into mt x nt tiles of C, each a single-threaded BLAS call over the whole of K, so a
 * tile's values do not depend on which thread computed it. OpenBLAS runs on one thread per call
 * (threads_set): the pool is the only source of parallelism. */
struct gemm {
    int trans_a, trans_b, M, N, K;
    real alpha;
    const real *A;
    int lda;
    const real *B;
    int ldb;
    real beta;
    real *C;
    int ldc, mt, nt;
    const real *bias;   /* blas_gemm_bias: every row of a tile starts as bias[n0..n1) */
};

/* Below this many multiply-adds a gemm runs on the caller's thread alone (a 64 x 64 x 64 product
 * takes ~10 us, the order of a pool round trip); tiles keep at least GEMM_MIN_SIDE rows and columns
 * so that BLAS's register blocking stays efficient. */
enum { GEMM_PAR_MACS = 1 << 18, GEMM_MIN_SIDE = 32, GEMM_TILES_PER_PARTICIPANT = 2 };

/* OpenBLAS's OpenMP build re-reads its thread count from the calling thread's OpenMP count, which
 * a new thread starts at the number of cores: each thread that calls BLAS sets its own to 1 once. */
static void blas_single_threaded(void)
{
    static _Thread_local int done;
    if (!done) {
        omp_set_num_threads(1);
        done = 1;
    }
}

static void gemm_tile(void *arg, size_t lo, size_t hi)
{
    const struct gemm *g = arg;
    blas_single_threaded();
    for (size_t t = lo; t < hi; t++) {
        const int ti = (int)(t / (size_t)g->nt), tj = (int)(t % (size_t)g->nt);
        const int m0 = (int)((long)g->M * ti / g->mt), m1 = (int)((long)g->M * (ti + 1) / g->mt);
        const int n0 = (int)((long)g->N * tj / g->nt), n1 = (int)((long)g->N * (tj + 1) / g->nt);
        if (m1 <= m0 || n1 <= n0)
            continue;
        const real *a = g->trans_a ? g->A + m0 : g->A + (size_t)m0 * g->lda;
        const real *b = g->trans_b ? g->B + (size_t)n0 * g->ldb : g->B + n0;
        real *c = g->C + (size_t)m0 * g->ldc + n0;
        if (g->bias)
            for (int m = m0; m < m1; m++)
                memcpy(c + (size_t)(m - m0) * g->ldc, g->bias + n0, (size_t)(n1 - n0) * sizeof(real));
        enum CBLAS_TRANSPOSE ta = g->trans_a ? CblasTrans : CblasNoTrans;
        enum CBLAS_TRANSPOSE tb = g->trans_b ? CblasTrans : CblasNoTrans;
#ifdef MEMLAB_DOUBLE
        cblas_dgemm(CblasRowMajor, ta, tb, m1 - m0, n1 - n0, g->K, g->alpha, a, g->lda, b, g->ldb, g->beta, c, g->ldc);
#else
        cblas_sgemm(CblasRowMajor, ta, tb, m1 - m0, n1 - n0, g->K, g->alpha, a, g->lda, b, g->ldb, g->beta, c, g->ldc);
#endif
    }
}

/* Splits g over the pool (or runs it on this thread when it is small). */
static void gemm_run(struct gemm *g)
{
    const int M = g->M, N = g->N;
    const double macs = (double)M * N * g->K;
    if (macs < GEMM_PAR_MACS || pool_size() == 1 || pool_in_loop()) {   /* one call, on this thread */
        gemm_tile(g, 0, 1);
        return;
    }
    /* Tiles of C for the pool: the longer side is halved until there are enough tiles for every
     * participant to take a few (docs/threads.md), keeping a tile's sides at GEMM_MIN_SIDE or more
     * and its work above GEMM_PAR_MACS / 4. */
    const int want = GEMM_TILES_PER_PARTICIPANT * pool_size();
    while (g->mt * g->nt < want) {
        const int mlen = (M + g->mt - 1) / g->mt, nlen = (N + g->nt - 1) / g->nt;
        if (mlen >= nlen && mlen >= 2 * GEMM_MIN_SIDE)
            g->mt *= 2;
        else if (nlen >= 2 * GEMM_MIN_SIDE)
            g->nt *= 2;
        else if (mlen >= 2 * GEMM_MIN_SIDE)
            g->mt *= 2;
        else
            break;
        if (macs / ((double)g->mt * g->nt) < GEMM_PAR_MACS / 4)
            break;
    }
    pool_for((size_t)g->mt * g->nt, g->mt * g->nt > 1, gemm_tile, g);
}

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
    gemm_run(&(struct gemm){trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1, 1, NULL});
}

void blas_gemm_bias(int M, int N, int K, const real *A, const real *B, const real *bias, real *C)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            memcpy(C + (size_t)i * N, bias, (size_t)N * sizeof(real));
        return;
    }
    gemm_run(&(struct gemm){0, 1, M, N, K, 1, A, K, B, K, 1, C, N, 1, 1, bias});
}

double blas_gemm_op_gflops(int trans_a, int trans_b, int M, int N, int K, double min_seconds)
{
    real *a = xaligned_zeroed((size_t)M * K * sizeof(real));
    real *b = xaligned_zeroed((size_t)N * K * sizeof(real));
    real *c = xaligned_zeroed((size_t)M * N * sizeof(real));
    rng r = rng_stream(1, RNG_STREAM_USER);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = (real)rng_normal(&r);
    for (size_t i = 0; i < (size_t)N * K; i++)
        b[i] = (real)rng_normal(&r);
    const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    blas_gemm(trans_a, trans_b, M, N, K, 1, a, lda, b, ldb, 0, c, N);
    long calls = 0;
    double start = clock_seconds(), elapsed;
    do {
        blas_gemm(trans_a, trans_b, M, N, K, 1, a, lda, b, ldb, 0, c, N);
        calls++;
        elapsed = clock_seconds() - start;
    } while (elapsed < min_seconds);
    free(a);
    free(b);
    free(c);
    return 2.0 * M * N * K * calls / elapsed * 1e-9;
}

double blas_gemm_gflops(int M, int N, int K, double min_seconds)
{
    return blas_gemm_op_gflops(0, 1, M, N, K, min_seconds);
}

const char *blas_kernels(void) { return openblas_get_corename(); }

const char *blas_kernels_better(const char *chosen, int avx2_fma, int avx512)
{
    static const char *const wide[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};   /* AVX-512 kernels */
    static const char *const avx2[] = {"Haswell", "Zen"};
    if (!avx2_fma || !chosen)
        return NULL;
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++)
        if (strcmp(chosen, wide[i]) == 0)
            return NULL;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (strcmp(chosen, avx2[i]) == 0)
            return avx512 ? "SkylakeX" : NULL;
    return avx512 ? "SkylakeX" : "Haswell";
}

/* The CPU's vector units as blas_kernels_better asks them: AVX2 with FMA; AVX-512 F, VL, BW, DQ and
 * CD (what OpenBLAS's SkylakeX kernels use). */
static void cpu_vector_units(int *avx2_fma, int *avx512)
{
    *avx2_fma = *avx512 = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    *avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    *avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
              __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
              __builtin_cpu_supports("avx512cd");
#endif
}

const char *blas_kernels_overruled(void) { return getenv(BLAS_OVERRULED_ENV); }

const char *blas_kernels_upgrade(void)
{
    int avx2_fma, avx512;
    cpu_vector_units(&avx2_fma, &avx512);
    return blas_kernels_better(blas_kernels(), avx2_fma, avx512);
}

void blas_choose_kernels(char **argv)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (getenv("OPENBLAS_CORETYPE"))
        return;   /* whoever set it chose (and a new start below sets it: no loop) */
    int avx2_fma, avx512;
    cpu_vector_units(&avx2_fma, &avx512);
    const char *chosen = openblas_get_corename(), *better = blas_kernels_better(chosen, avx2_fma, avx512);
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0 || setenv(BLAS_OVERRULED_ENV, chosen, 1) != 0)
        return;
    /* silent: every command would print it, and a bad input's error is one line (memlab bench's
     * log names the kernels and OpenBLAS's own choice) */
    execv("/proc/self/exe", argv);
    fprintf(stderr, "memlab: could not start again with OPENBLAS_CORETYPE=%s (%s): going on with %s\n", better,
            strerror(errno), chosen);
#else
    (void)argv;
#endif
}
