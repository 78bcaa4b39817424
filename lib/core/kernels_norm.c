/* Normalisation kernels: LayerNorm, row (group) L2 normalisation and the capped exponential scale. */
#include "core/kernels.h"

#include <tgmath.h>

/* Below this many elements a loop stays on one thread (a parallel region costs microseconds). */
#define PAR_MIN ((size_t)1 << 15)

/* Weight and bias gradients sum over rows: split by columns, each thread owning whole blocks and
 * adding rows in order, so that the bits do not depend on the thread count. */
#define COL_BLOCK 64

void layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                       const real *bias, int N, int C, real eps)
{
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *restrict x = inp + (size_t)n * (size_t)C;
        real *restrict y = out + (size_t)n * (size_t)C;
        real s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++)
            s += x[i];
        real m = s / (real)C;
        /* Two passes: the variance of centred values does not cancel catastrophically. */
        real v = 0;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++) {
            real d = x[i] - m;
            v += d * d;
        }
        real r = 1 / sqrt(v / (real)C + eps);
        if (bias) {
#pragma omp simd
            for (int i = 0; i < C; i++)
                y[i] = (x[i] - m) * r * weight[i] + bias[i];
        } else {
#pragma omp simd
            for (int i = 0; i < C; i++)
                y[i] = (x[i] - m) * r * weight[i];
        }
        if (mean)
            mean[n] = m;
        if (rstd)
            rstd[n] = r;
    }
}

void layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                        const real *weight, const real *mean, const real *rstd, int N, int C)
{
    if (dinp) {
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN)
        for (int n = 0; n < N; n++) {
            const real *restrict x = inp + (size_t)n * (size_t)C;
            const real *restrict dy = dout + (size_t)n * (size_t)C;
            real *restrict dx = dinp + (size_t)n * (size_t)C;
            real m = mean[n], r = rstd[n];
            /* With g = w * dy and xhat the normalised input:
             * dx = (g - mean(g) - xhat * mean(g * xhat)) * rstd. */
            real sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
            for (int i = 0; i < C; i++) {
                real g = weight[i] * dy[i];
                sg += g;
                sgx += g * ((x[i] - m) * r);
            }
            sg /= (real)C;
            sgx /= (real)C;
#pragma omp simd
            for (int i = 0; i < C; i++) {
                real xhat = (x[i] - m) * r;
                dx[i] += (weight[i] * dy[i] - sg - xhat * sgx) * r;
            }
        }
    }
    if (!dweight && !dbias)
        return;
    int blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN && blocks > 1)
    for (int blk = 0; blk < blocks; blk++) {
        int c0 = blk * COL_BLOCK;
        int w = C - c0 < COL_BLOCK ? C - c0 : COL_BLOCK;
        double aw[COL_BLOCK] = {0}, ab[COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *restrict x = inp + (size_t)n * (size_t)C + c0;
            const real *restrict dy = dout + (size_t)n * (size_t)C + c0;
            real m = mean[n], r = rstd[n];
#pragma omp simd
            for (int j = 0; j < w; j++) {
                aw[j] += dy[j] * ((x[j] - m) * r);
                ab[j] += dy[j];
            }
        }
        if (dweight)
            for (int j = 0; j < w; j++)
                dweight[c0 + j] += (real)aw[j];
        if (dbias)
            for (int j = 0; j < w; j++)
                dbias[c0 + j] += (real)ab[j];
    }
}

void rownorm_forward(real *out, real *norm, const real *inp, int N, int C, real eps)
{
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *restrict x = inp + (size_t)n * (size_t)C;
        real *restrict y = out + (size_t)n * (size_t)C;
        real ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < C; i++)
            ss += x[i] * x[i];
        real nrm = sqrt(ss);
        real d = nrm > eps ? nrm : eps;
#pragma omp simd
        for (int i = 0; i < C; i++)
            y[i] = x[i] / d;
        norm[n] = nrm;
    }
}

void rownorm_backward(real *dinp, const real *dout, const real *out, const real *norm, int N, int C,
                      real eps)
{
    if (!dinp)
        return;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *restrict y = out + (size_t)n * (size_t)C;
        const real *restrict dy = dout + (size_t)n * (size_t)C;
        real *restrict dx = dinp + (size_t)n * (size_t)C;
        real nrm = norm[n];
        if (nrm >= eps) {   /* y = x / ||x||: dx = (dy - y (y . dy)) / ||x|| */
            real dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int i = 0; i < C; i++)
                dot += y[i] * dy[i];
#pragma omp simd
            for (int i = 0; i < C; i++)
                dx[i] += (dy[i] - y[i] * dot) / nrm;
        } else {   /* the denominator is the constant eps */
#pragma omp simd
            for (int i = 0; i < C; i++)
                dx[i] += dy[i] / eps;
        }
    }
}

static inline real capped_exp(real p, real cap) { return exp(p < cap ? p : cap); }

void exp_scale_forward(real *out, const real *inp, const real *p, int N, int G, int D, real cap)
{
    size_t rows = (size_t)N * (size_t)G;
#pragma omp parallel for schedule(static) if (rows * (size_t)D >= PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        real s = capped_exp(p[r % (size_t)G], cap);
        const real *restrict x = inp + r * (size_t)D;
        real *restrict y = out + r * (size_t)D;
#pragma omp simd
        for (int i = 0; i < D; i++)
            y[i] = s * x[i];
    }
}

void exp_scale_backward(real *dinp, real *dp, const real *dout, const real *inp, const real *p,
                        int N, int G, int D, real cap)
{
    size_t rows = (size_t)N * (size_t)G;
    if (dinp) {
#pragma omp parallel for schedule(static) if (rows * (size_t)D >= PAR_MIN)
        for (size_t r = 0; r < rows; r++) {
            real s = capped_exp(p[r % (size_t)G], cap);
            const real *restrict dy = dout + r * (size_t)D;
            real *restrict dx = dinp + r * (size_t)D;
#pragma omp simd
            for (int i = 0; i < D; i++)
                dx[i] += s * dy[i];
        }
    }
    if (!dp)
        return;
    /* One group per iteration, rows in order: the same bits for any thread count. Above the cap
     * the scale is constant and p gets nothing. */
#pragma omp parallel for schedule(static) if (rows * (size_t)D >= PAR_MIN)
    for (int g = 0; g < G; g++) {
        if (!(p[g] < cap))
            continue;
        double acc = 0;
        for (int n = 0; n < N; n++) {
            size_t off = ((size_t)n * (size_t)G + (size_t)g) * (size_t)D;
            const real *restrict dy = dout + off;
            const real *restrict x = inp + off;
            real s = 0;
#pragma omp simd reduction(+ : s)
            for (int i = 0; i < D; i++)
                s += dy[i] * x[i];
            acc += s;
        }
        dp[g] += (real)((double)capped_exp(p[g], cap) * acc);
    }
}
