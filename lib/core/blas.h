/* The one matrix-product wrapper: row-major C = alpha * op(A) * op(B) + beta * C through
 * cblas_sgemm (cblas_dgemm in the double build). All transpose and leading-dimension logic lives
 * here; kernels never call cblas directly. */
#ifndef MEMLAB_BLAS_H
#define MEMLAB_BLAS_H

#include "core/real.h"

/* op(A) is M x K, op(B) is K x N, C is M x N; trans_a / trans_b nonzero means A / B are stored
 * transposed (K x M, N x K). lda, ldb, ldc are the row strides of the stored matrices. */
void blas_gemm(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
               const real *B, int ldb, real beta, real *C, int ldc);

/* The linear layer's forward with its bias: C[M, N] = bias (every row) + A[M, K] . B[N, K]^T, rows
 * packed (lda = ldb = K, ldc = N). Each tile of C is filled with the bias by the thread that then
 * adds the product into it, while the tile is in that core's cache: filling all of C first, on one
 * thread, cost 15-25% of the product's time on 2 threads (benchmarks/NOTES.md section 18). Same
 * bits as the fill followed by blas_gemm with beta 1. */
void blas_gemm_bias(int M, int N, int K, const real *A, const real *B, const real *bias, real *C);

/* The measured rate of blas_gemm in GFLOP/s (2 M N K per call) as a linear layer calls it,
 * x[M, K] . w[N, K]^T, on normal random data at the current thread count: one warm-up call (thread
 * pool, caches, pages), then calls until min_seconds have passed (at least one). For the
 * benchmarks' ceiling (benchmarks/sgemm.c, memlab bench). */
double blas_gemm_gflops(int M, int N, int K, double min_seconds);

/* The same for any transposes, operands packed (op(A) M x K, op(B) K x N, C M x N): the linear's
 * backward products (benchmarks/sgemm.c), dx = dy w (0, 0) and dw = dy^T x (1, 0). */
double blas_gemm_op_gflops(int trans_a, int trans_b, int M, int N, int K, double min_seconds);

/* OpenBLAS's kernel family ("Cooperlake", "Haswell", ...): its own choice for the CPU, or
 * OPENBLAS_CORETYPE's when that is set (benchmarks/NOTES.md §7). */
const char *blas_kernels(void);

/* The kernel family to ask OpenBLAS for instead of `chosen`, or NULL to keep it: OpenBLAS picks its
 * kernels from the CPU's model number, and on a CPU it does not know (a cloud host that hides its
 * model) it falls back to generic SSE kernels, two to four times slower than the vector units allow
 * (benchmarks/NOTES.md §15); on a CPU newer than it knows it may pick AVX2 kernels where AVX-512 ones
 * run the products up to twice as fast (§18). A family older than AVX2's is replaced by SkylakeX's
 * (AVX-512 F, VL, BW, DQ, CD present) or Haswell's (AVX2 and FMA present); an AVX2 family (Haswell,
 * Zen) by SkylakeX's when AVX-512 is present; an AVX-512 family is kept. */
const char *blas_kernels_better(const char *chosen, int avx2_fma, int avx512);

/* The variable in which blas_choose_kernels leaves OpenBLAS's own choice when it overrules it (the
 * new start, and every process it starts, read it there). */
#define BLAS_OVERRULED_ENV "MEMLAB_OPENBLAS_OWN_CHOICE"

/* OpenBLAS's own choice of kernels when blas_choose_kernels overruled it in this process tree, or
 * NULL. */
const char *blas_kernels_overruled(void);

/* blas_kernels_better of the kernels in use on this CPU: what memlab would have asked for had
 * OPENBLAS_CORETYPE not been set (the bench's log names it), or NULL. */
const char *blas_kernels_upgrade(void);

/* Called first thing in main: when OPENBLAS_CORETYPE is unset and blas_kernels_better names a
 * better family for this CPU, sets the variable (and BLAS_OVERRULED_ENV to OpenBLAS's own choice)
 * and runs the program again from the start, silently (OpenBLAS reads the variable once, when it is
 * loaded). Returns when nothing is to be done or the new start failed (saying so on stderr). */
void blas_choose_kernels(char **argv);

#endif
