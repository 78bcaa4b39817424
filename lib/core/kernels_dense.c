/* Dense kernels: the linear layer (through blas_gemm), elementwise arithmetic and embedding rows. */
#include "core/kernels.h"

#include <string.h>

#include "core/blas.h"

/* Below this many elements a loop stays on one thread: opening a parallel region costs
 * microseconds, more than a small loop takes. */
#define PAR_MIN ((size_t)1 << 16)

/* Reductions over rows (bias and embedding gradients) are split by columns: each thread owns
 * whole blocks of columns and adds the rows in order 0..N-1, so the bits never depend on the
 * thread count. */
#define COL_BLOCK 64

/* dst[c] += sum over rows n of src[n, c], rows added in order, in double. */
static void column_sums_add(real *restrict dst, const real *restrict src, int N, int C)
{
    int blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN && blocks > 1)
    for (int blk = 0; blk < blocks; blk++) {
        int c0 = blk * COL_BLOCK;
        int w = C - c0 < COL_BLOCK ? C - c0 : COL_BLOCK;
        double acc[COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *row = src + (size_t)n * (size_t)C + c0;
#pragma omp simd
            for (int j = 0; j < w; j++)
                acc[j] += row[j];
        }
        for (int j = 0; j < w; j++)
            dst[c0 + j] += (real)acc[j];
    }
}

void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC)
{
    real beta = 0;
    if (bias) {
        /* Rows start as the bias and the product is added on top (beta = 1): one pass fewer than
         * adding the bias afterwards. */
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * (size_t)OC, bias, (size_t)OC * sizeof(real));
        beta = 1;
    }
    blas_gemm(0, 1, N, OC, C, 1, inp, C, weight, C, beta, out, OC);
}

void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC)
{
    if (dinp)   /* [N,C] += [N,OC] . [OC,C] */
        blas_gemm(0, 0, N, C, OC, 1, dout, OC, weight, C, 1, dinp, C);
    if (dweight)   /* [OC,C] += [N,OC]^T . [N,C] */
        blas_gemm(1, 0, OC, C, N, 1, dout, OC, inp, C, 1, dweight, C);
    if (dbias)
        column_sums_add(dbias, dout, N, OC);
}

/* The elementwise kernels keep no restrict qualifiers: callers may run them in place (out == a),
 * and mul_backward gets da == db for op_mul(x, x). */

void add_forward(real *out, const real *a, const real *b, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void scale_forward(real *out, const real *a, real s, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = s * a[i];
}

void accumulate(real *dst, const real *src, real alpha, size_t n)
{
    if (!dst)
        return;
    if (alpha == 1) {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dst[i] += src[i];
    } else {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dst[i] += alpha * src[i];
    }
}

void mul_forward(real *out, const real *a, const real *b, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

void mul_backward(real *da, real *db, const real *dout, const real *a, const real *b, size_t n)
{
    /* Two separate loops, so that da == db (x * x) adds both terms. */
    if (da) {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            da[i] += dout[i] * b[i];
    }
    if (db) {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            db[i] += dout[i] * a[i];
    }
}

void embedding_forward(real *out, const int *ids, const real *table, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN)
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * (size_t)C, table + (size_t)ids[n] * (size_t)C, (size_t)C * sizeof(real));
}

void embedding_backward(real *dtable, const real *dout, const int *ids, int N, int C)
{
    if (!dtable)
        return;
    /* Repeated ids add into the same row: split by columns, rows in order (see COL_BLOCK). */
    int blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN && blocks > 1)
    for (int blk = 0; blk < blocks; blk++) {
        int c0 = blk * COL_BLOCK;
        int w = C - c0 < COL_BLOCK ? C - c0 : COL_BLOCK;
        for (int n = 0; n < N; n++) {
            real *restrict dst = dtable + (size_t)ids[n] * (size_t)C + c0;
            const real *restrict src = dout + (size_t)n * (size_t)C + c0;
#pragma omp simd
            for (int j = 0; j < w; j++)
                dst[j] += src[j];
        }
    }
}
