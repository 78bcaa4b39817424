/* Loss kernels: softmax cross-entropy with ignored rows, and (clipped) mean squared error. */
#include "core/kernels.h"

#include <string.h>
#include <tgmath.h>

#include "core/blas.h"
#include "core/kernels_par.h"

/* Below this much work a loop stays on one thread (a parallel region costs microseconds). */
#define PAR_MIN ((size_t)1 << 13)

/* Probabilities at least this large are normal floats with full relative precision, so that
 * -log(p) is as accurate as the log-sum-exp form. */
#define XENT_P_MIN 1e-30

/* log-sum-exp of a row minus its entry t, in double: the loss of a row whose target probability
 * underflowed. */
static double row_lse_loss(const real *x, int V, int t)
{
    double mx = x[0];
    for (int i = 1; i < V; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += exp((double)x[i] - mx);
    return mx + log(sum) - (double)x[t];
}

/* The sum over counted rows of -log probs[target] (the log-sum-exp form where that probability
 * underflowed), added to *total row by row in order; *counted gets the rows counted. Serial, one log
 * a row: the same sum for any thread count, and for any split of the rows into consecutive chunks. */
static void xent_rows_sum(double *total, int *counted, const real *probs, const real *logits,
                          const int *targets, int N, int V, int ignore)
{
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == ignore)
            continue;
        const real *x = logits + (size_t)n * (size_t)V;
        double p = probs[(size_t)n * (size_t)V + (size_t)t];
        /* p can round a hair above 1 for a certain row; the loss itself is never negative */
        *total += p >= XENT_P_MIN ? fmax(-log(p), 0.0) : row_lse_loss(x, V, t);
        ++*counted;
    }
}

double softmax_xent_forward(real *probs, const real *logits, const int *targets, int N, int V,
                            int ignore, int *count)
{
    softmax_forward(probs, logits, N, V);
    double total = 0;
    int counted = 0;
    xent_rows_sum(&total, &counted, probs, logits, targets, N, V, ignore);
    if (count)
        *count = counted;
    return counted ? total / counted : 0;
}

/* dlogits += s (probs - onehot(target)) per row of C = V; rows whose target is N (the ignored id)
 * get nothing. */
static void xent_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *a = arg;
    const int V = a->C, ignore = a->N;
    const real s = a->s;
    for (size_t n = lo; n < hi; n++) {
        int t = a->ids[n];
        if (t == ignore)
            continue;
        const real *restrict pr = a->a + n * (size_t)V;
        real *restrict dx = a->out + n * (size_t)V;
#pragma omp simd
        for (int i = 0; i < V; i++)
            dx[i] += s * pr[i];
        dx[t] -= s;
    }
}

void softmax_xent_backward(real *dlogits, const real *probs, const int *targets, int N, int V,
                           int ignore, int count, real dloss)
{
    if (!dlogits || count <= 0)
        return;
    real s = dloss / (real)count;
    pool_for((size_t)N, (size_t)N * (size_t)V >= PAR_MIN, xent_backward_rows,
             &(par_args){.out = dlogits, .a = probs, .ids = targets, .s = s, .N = ignore, .C = V});
}

/* ---- the language model's head and its loss, fused ------------------------------------------ */

/* Rows per chunk: about 2^24 logits (64 MB in float, two such buffers), at least 256 rows. Smaller
 * chunks, sized for the cache, measured slower on 2 cores (gpt 128x2x256, vocabulary 2048: the head
 * and loss 55 ms a step at 256 rows, 52 at 2048, 50 in one chunk of 8192; benchmarks/NOTES.md §19):
 * the products lose more on short operands than the passes gain in cache. Depends on the shape
 * alone, never on the thread count (the bits do not either). */
int linear_xent_chunk_rows(int N, int V)
{
    int r = (int)((1 << 24) / (V > 0 ? V : 1));
    r = r < 256 ? 256 : r;
    return N < r ? (N > 0 ? N : 1) : r;
}

/* In place of the probabilities: g = scale (s p - s onehot(target)) for counted rows, 0 for ignored
 * ones; the same operations, in the same order, as softmax_xent_backward into a zeroed buffer
 * followed by op_scale's backward. */
static void xent_grad_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *a = arg;
    const int V = a->C, ignore = a->N;
    const real s = a->s, scale = *a->b;
    for (size_t n = lo; n < hi; n++) {
        real *restrict g = a->out + n * (size_t)V;
        int t = a->ids[n];
        if (t == ignore) {
            memset(g, 0, (size_t)V * sizeof *g);
            continue;
        }
#pragma omp simd
        for (int i = 0; i < V; i++)
            g[i] = s * g[i];
        g[t] -= s;
        if (scale != 1) {
#pragma omp simd
            for (int i = 0; i < V; i++)
                g[i] = scale * g[i];
        }
    }
}

double linear_xent_forward(real *dx, real *dw, const real *x, const real *w, real scale, const int *targets,
                           int N, int C, int V, int ignore, int *count, int R, real *work)
{
    int counted = 0;
    for (int n = 0; n < N; n++)
        counted += targets[n] != ignore;
    if (count)
        *count = counted;
    real *logits = work, *probs = work + (size_t)R * V;
    const real s = counted ? 1 / (real)counted : 0;
    double total = 0;
    int seen = 0;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        const real *xc = x + (size_t)r0 * C;
        const int *tc = targets + r0;
        blas_gemm(0, 1, rows, V, C, scale, xc, C, w, C, 0, logits, V);   /* [rows,V] = scale x w^T */
        softmax_forward(probs, logits, rows, V);
        xent_rows_sum(&total, &seen, probs, logits, tc, rows, V, ignore);
        if (!dx && !dw)
            continue;
        pool_for((size_t)rows, (size_t)rows * (size_t)V >= PAR_MIN, xent_grad_rows,
                 &(par_args){.out = probs, .b = &scale, .ids = tc, .s = s, .N = ignore, .C = V});
        if (dx)   /* [rows,C] = g . w */
            blas_gemm(0, 0, rows, C, V, 1, probs, V, w, C, 0, dx + (size_t)r0 * C, C);
        if (dw)   /* [V,C] (+)= g^T . x */
            blas_gemm(1, 0, V, C, rows, 1, probs, V, xc, C, r0 ? 1 : 0, dw, C);
    }
    return counted ? total / counted : 0;
}

double mse_forward(const real *pred, const real *target, size_t n, real clip)
{
    if (n == 0)
        return 0;
    /* Serial, summed in double: the same bits for any thread count. The error itself is taken
     * in `real`, exactly as mse_backward takes it, so both agree on which errors are clipped. */
    double sum = 0;
    if (clip > 0) {
        double c2 = (double)clip * (double)clip;
#pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) {
            real e = pred[i] - target[i];
            sum += fabs(e) < clip ? (double)e * (double)e : c2;
        }
    } else {
#pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) {
            real e = pred[i] - target[i];
            sum += (double)e * (double)e;
        }
    }
    return sum / (double)n;
}

/* dpred += s (pred - target); with a clip (c points at it), |e| >= clip is clipped: the loss is the
 * constant clip^2 there. */
static void mse_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *a = arg;
    real *dpred = a->out;
    const real *pred = a->a, *target = a->b;
    const real s = a->s;
    if (a->c) {
        const real clip = *a->c;
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            real e = pred[i] - target[i];
            dpred[i] += fabs(e) < clip ? s * e : 0;
        }
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dpred[i] += s * (pred[i] - target[i]);
    }
}

void mse_backward(real *dpred, const real *pred, const real *target, size_t n, real clip, real dloss)
{
    if (!dpred || n == 0)
        return;
    pool_for(n, n >= PAR_MIN * 8, mse_backward_rows,
             &(par_args){.out = dpred, .a = pred, .b = target, .s = 2 * dloss / (real)n, .c = clip > 0 ? &clip : NULL});
}
