/* Dense kernels: the linear layer (through blas_gemm), elementwise arithmetic and embedding rows. */
#include "core/kernels.h"

#include <string.h>

#include "core/blas.h"
#include "core/kernels_par.h"

/* Below this many elements a loop stays on one thread: a pool round trip costs microseconds,
 * more than a small loop takes. */
#define PAR_MIN ((size_t)1 << 16)

/* Reductions over rows (bias and embedding gradients) are split by columns: each thread owns
 * whole blocks of columns and adds the rows in order 0..N-1, so the bits never depend on the
 * thread count. */
#define COL_BLOCK 64

/* out[c] += sum over rows n of a[n, c] for the column blocks [lo, hi), rows added in order, in
 * double. */
static void column_sums_blocks(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    const int N = p->N, C = p->C;
    real *restrict dst = p->out;
    const real *restrict src = p->a;
    for (int blk = (int)lo; blk < (int)hi; blk++) {
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

static void column_sums_add(real *dst, const real *src, int N, int C)
{
    int blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
    pool_for((size_t)blocks, (size_t)N * (size_t)C >= PAR_MIN, column_sums_blocks,
             &(par_args){.out = dst, .a = src, .N = N, .C = C});
}

void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC)
{
    if (bias)
        blas_gemm_bias(N, OC, C, inp, weight, bias, out);
    else
        blas_gemm(0, 1, N, OC, C, 1, inp, C, weight, C, 0, out, OC);
}

void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC, int store_dinp)
{
    if (dinp)   /* [N,C] (+)= [N,OC] . [OC,C] */
        blas_gemm(0, 0, N, C, OC, 1, dout, OC, weight, C, store_dinp ? 0 : 1, dinp, C);
    if (dweight)   /* [OC,C] += [N,OC]^T . [N,C] */
        blas_gemm(1, 0, OC, C, N, 1, dout, OC, inp, C, 1, dweight, C);
    if (dbias)
        column_sums_add(dbias, dout, N, OC);
}

/* The elementwise kernels keep no restrict qualifiers: callers may run them in place (out == a),
 * and mul_backward gets da == db for op_mul(x, x). */

static void add_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] = p->a[i] + p->b[i];
}

void add_forward(real *out, const real *a, const real *b, size_t n)
{
    pool_for(n, n >= PAR_MIN, add_rows, &(par_args){.out = out, .a = a, .b = b});
}

static void scale_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] = p->s * p->a[i];
}

void scale_forward(real *out, const real *a, real s, size_t n)
{
    pool_for(n, n >= PAR_MIN, scale_rows, &(par_args){.out = out, .a = a, .s = s});
}

/* out += a (s == 1 keeps the product out of the loop, so the sum is exactly a + b). */
static void accumulate_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    if (p->s == 1) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            p->out[i] += p->a[i];
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            p->out[i] += p->s * p->a[i];
    }
}

void accumulate(real *dst, const real *src, real alpha, size_t n)
{
    if (dst)
        pool_for(n, n >= PAR_MIN, accumulate_rows, &(par_args){.out = dst, .a = src, .s = alpha});
}

static void mul_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] = p->a[i] * p->b[i];
}

void mul_forward(real *out, const real *a, const real *b, size_t n)
{
    pool_for(n, n >= PAR_MIN, mul_rows, &(par_args){.out = out, .a = a, .b = b});
}

/* out += a * b: one term of the product's gradient. */
static void mul_add_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] += p->a[i] * p->b[i];
}

void mul_backward(real *da, real *db, const real *dout, const real *a, const real *b, size_t n)
{
    /* Two separate loops, so that da == db (x * x) adds both terms. */
    if (da)
        pool_for(n, n >= PAR_MIN, mul_add_rows, &(par_args){.out = da, .a = dout, .b = b});
    if (db)
        pool_for(n, n >= PAR_MIN, mul_add_rows, &(par_args){.out = db, .a = dout, .b = a});
}

static void embedding_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    const size_t C = (size_t)p->C;
    for (size_t n = lo; n < hi; n++)
        memcpy(p->out + n * C, p->a + (size_t)p->ids[n] * C, C * sizeof(real));
}

void embedding_forward(real *out, const int *ids, const real *table, int N, int C)
{
    pool_for((size_t)N, (size_t)N * (size_t)C >= PAR_MIN, embedding_rows,
             &(par_args){.out = out, .a = table, .ids = ids, .C = C});
}

/* Repeated ids add into the same row: split by columns, rows in order (see COL_BLOCK). */
static void embedding_backward_blocks(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    const int N = p->N, C = p->C;
    real *dtable = p->out;
    const real *dout = p->a;
    const int *ids = p->ids;
    for (int blk = (int)lo; blk < (int)hi; blk++) {
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

void embedding_backward(real *dtable, const real *dout, const int *ids, int N, int C)
{
    if (!dtable)
        return;
    int blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
    pool_for((size_t)blocks, (size_t)N * (size_t)C >= PAR_MIN, embedding_backward_blocks,
             &(par_args){.out = dtable, .a = dout, .ids = ids, .N = N, .C = C});
}
