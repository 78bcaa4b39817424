/* The core's thread pool (core/pool.h, docs/threads.md): every index of a loop runs exactly once
 * whatever the thread count (more threads than this machine's cores included, so that workers are
 * descheduled mid-loop), nested loops run inline, participants stay in range, the pool survives
 * resizing, and blas_gemm's tiles over the pool give the product (against a plain triple loop), the
 * same bits on every run with the same thread count. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/threads.h"
#include "test_util.h"

typedef struct {
    _Atomic int *hits;
    _Atomic int *bad_participant;
    size_t n;
} cover_args;

static void cover(void *arg, size_t lo, size_t hi)
{
    cover_args *a = arg;
    const int p = pool_participant();
    if (p < 0 || p >= pool_size() || lo > hi || hi > a->n)
        atomic_fetch_add(a->bad_participant, 1);
    for (size_t i = lo; i < hi && i < a->n; i++)
        atomic_fetch_add(&a->hits[i], 1);
}

START_TEST(test_every_index_once)
{
    const int before = threads_get();
    static const size_t sizes[] = {1, 2, 3, 7, 64, 1000, 100003};
    for (int threads = 1; threads <= 5; threads++) {
        threads_set(threads);
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            const size_t n = sizes[k];
            _Atomic int *hits = calloc(n, sizeof *hits);
            _Atomic int bad = 0;
            cover_args a = {hits, &bad, n};
            for (int rep = 0; rep < 20; rep++)
                pool_for(n, 1, cover, &a);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(hits[i] == 20, "threads %d, n %zu: index %zu ran %d times of 20", threads, n, i,
                              (int)hits[i]);
            ck_assert_int_eq(bad, 0);
            free(hits);
        }
    }
    threads_set(before);
}
END_TEST

static void whole_range(void *arg, size_t lo, size_t hi)
{
    size_t *seen = arg;
    seen[0] = lo;
    seen[1] = hi;
    seen[2] = (size_t)pool_participant();
}

typedef struct {
    _Atomic int wrong;
} nest_args;

static void outer_chunk(void *arg, size_t lo, size_t hi)
{
    nest_args *a = arg;
    const int me = pool_participant();
    size_t seen[3] = {99, 99, 99};
    pool_for(50, 1, whole_range, seen); /* inside a chunk: inline, one call over [0, 50) */
    if (seen[0] != 0 || seen[1] != 50 || (int)seen[2] != me)
        atomic_fetch_add(&a->wrong, 1);
}

START_TEST(test_serial_and_nested_loops_run_inline)
{
    const int before = threads_get();
    threads_set(3);
    size_t seen[3] = {99, 99, 99};
    pool_for(1000, 0, whole_range, seen); /* parallel = 0: the caller, one chunk */
    ck_assert_uint_eq(seen[0], 0);
    ck_assert_uint_eq(seen[1], 1000);
    ck_assert_uint_eq(seen[2], 0);
    nest_args a = {0};
    for (int rep = 0; rep < 50; rep++)
        pool_for(12, 1, outer_chunk, &a);
    ck_assert_int_eq(a.wrong, 0);
    ck_assert_int_eq(pool_participant(), 0);
    threads_set(before);
}
END_TEST

static void count_one(void *arg, size_t lo, size_t hi) { atomic_fetch_add((_Atomic long *)arg, (long)(hi - lo)); }

START_TEST(test_many_small_loops_and_resizes)
{
    const int before = threads_get();
    _Atomic long total = 0;
    long want = 0;
    for (int round = 0; round < 40; round++) {
        threads_set(1 + round % 4);
        for (int i = 0; i < 500; i++) {
            pool_for((size_t)(1 + i % 17), 1, count_one, &total);
            want += 1 + i % 17;
        }
    }
    ck_assert_int_eq(total, want);
    threads_set(before);
}
END_TEST

/* C = alpha op(A) op(B) + beta C in double, the plain triple loop. */
static void naive_gemm(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda, const real *B,
                       int ldb, real beta, real *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                     (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            C[(size_t)i * ldc + j] = (real)(alpha * s + beta * C[(size_t)i * ldc + j]);
        }
}

START_TEST(test_gemm_tiles_are_the_product)
{
    const int before = threads_get();
    /* Large enough to be split (above 2^18 multiply-adds), with sides that do not divide evenly and
     * leading dimensions wider than the matrices. */
    static const int shapes[][3] = {{300, 70, 65}, {37, 513, 40}, {130, 130, 130}, {2000, 33, 8}};
    rng r = rng_stream(7, RNG_STREAM_USER);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
                real *A = malloc(na * sizeof(real)), *B = malloc(nb * sizeof(real));
                real *C0 = malloc(nc * sizeof(real)), *C1 = malloc(nc * sizeof(real)), *C3 = malloc(nc * sizeof(real));
                real *C3b = malloc(nc * sizeof(real));
                for (size_t i = 0; i < na; i++)
                    A[i] = (real)rng_normal(&r);
                for (size_t i = 0; i < nb; i++)
                    B[i] = (real)rng_normal(&r);
                for (size_t i = 0; i < nc; i++)
                    C0[i] = C1[i] = C3[i] = C3b[i] = (real)rng_normal(&r);
                naive_gemm(ta, tb, M, N, K, (real)0.5, A, lda, B, ldb, (real)0.25, C0, ldc);
                threads_set(1);
                blas_gemm(ta, tb, M, N, K, (real)0.5, A, lda, B, ldb, (real)0.25, C1, ldc);
                threads_set(3);
                blas_gemm(ta, tb, M, N, K, (real)0.5, A, lda, B, ldb, (real)0.25, C3, ldc);
                blas_gemm(ta, tb, M, N, K, (real)0.5, A, lda, B, ldb, (real)0.25, C3b, ldc);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < ldc; j++) {
                        const size_t at = (size_t)i * ldc + j;
                        if (j >= N) { /* the padding columns are never written */
                            ck_assert_msg(C1[at] == C3[at] && C3[at] == C0[at], "padding changed at (%d, %d)", i, j);
                            continue;
                        }
                        /* 3 threads run tiles: each within float rounding of the exact product
                         * (K <= 130 terms of unit variance), and the same bits on a second run. */
                        ck_assert_msg(fabs((double)C3[at] - C0[at]) <= 1e-4 * (1 + fabs((double)C0[at])),
                                      "%dx%dx%d ta %d tb %d: (%d, %d) 3 threads %g vs naive %g", M, N, K, ta, tb,
                                      i, j, (double)C3[at], (double)C0[at]);
                        ck_assert_msg(fabs((double)C1[at] - C0[at]) <= 1e-4 * (1 + fabs((double)C0[at])),
                                      "%dx%dx%d ta %d tb %d: (%d, %d) 1 thread %g vs naive %g", M, N, K, ta, tb,
                                      i, j, (double)C1[at], (double)C0[at]);
                        ck_assert_msg(memcmp(&C3[at], &C3b[at], sizeof(real)) == 0,
                                      "%dx%dx%d ta %d tb %d: (%d, %d) two runs on 3 threads: %.9g, %.9g", M, N, K,
                                      ta, tb, i, j, (double)C3[at], (double)C3b[at]);
                    }
                free(A);
                free(B);
                free(C0);
                free(C1);
                free(C3);
                free(C3b);
            }
    threads_set(before);
}
END_TEST

/* OpenBLAS's fallback on a CPU it does not know (the GPU machine's host hides its model and got
 * "Prescott", benchmarks/NOTES.md §15), and AVX2 kernels on a CPU with AVX-512 (§18), are replaced
 * by the family the vector units allow; AVX-512 kernels, or a CPU without AVX2, are left alone. */
START_TEST(test_blas_kernels_better)
{
    ck_assert_str_eq(blas_kernels_better("Prescott", 1, 1), "SkylakeX");
    ck_assert_str_eq(blas_kernels_better("Prescott", 1, 0), "Haswell");
    ck_assert_str_eq(blas_kernels_better("Nehalem", 1, 0), "Haswell");
    ck_assert_str_eq(blas_kernels_better("Sandybridge", 1, 1), "SkylakeX");
    ck_assert_ptr_null(blas_kernels_better("Prescott", 0, 0));
    ck_assert_str_eq(blas_kernels_better("Haswell", 1, 1), "SkylakeX");
    ck_assert_str_eq(blas_kernels_better("Zen", 1, 1), "SkylakeX");
    ck_assert_ptr_null(blas_kernels_better("Haswell", 1, 0));
    ck_assert_ptr_null(blas_kernels_better("Zen", 1, 0));
    ck_assert_ptr_null(blas_kernels_better("SkylakeX", 1, 1));
    ck_assert_ptr_null(blas_kernels_better("Cooperlake", 1, 1));
    ck_assert_ptr_null(blas_kernels_better("SapphireRapids", 1, 1));
    /* a variable set by the user is obeyed: no note, no new start */
    char cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=Prescott %s version", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 0);
    ck_assert_msg(strstr(out, "memlab ") && !strstr(err, "OpenBLAS"), "%s", err);
    free(out);
    free(err);
}
END_TEST

Suite *suite_pool(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_index_once);
    tcase_add_test(tc, test_serial_and_nested_loops_run_inline);
    tcase_add_test(tc, test_many_small_loops_and_resizes);
    tcase_add_test(tc, test_gemm_tiles_are_the_product);
    tcase_add_test(tc, test_blas_kernels_better);
    suite_add_tcase(s, tc);
    return s;
}
