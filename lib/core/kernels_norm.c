/* Normalisation kernels: LayerNorm, row (group) L2 normalisation and the capped exponential scale. */
#include "core/kernels.h"

#include <string.h>
#include <tgmath.h>

#include "core/kernels_par.h"

/* Below this many elements a loop stays on one thread (a pool round trip costs microseconds). */
#define PAR_MIN ((size_t)1 << 15)

/* Weight and bias gradients sum over rows: split by columns, each thread owning whole blocks and
 * adding rows in order, so that the bits do not depend on the thread count. */
#define COL_BLOCK 64

/* One layer norm's operands, forward and backward. */
typedef struct {
    real *out, *mean, *rstd, *dinp, *dweight, *dbias;
    const real *inp, *weight, *bias, *dout, *cmean, *crstd;
    int N, C;
    real eps;
} layernorm_args;

static void layernorm_forward_rows(void *arg, size_t lo, size_t hi)
{
    const layernorm_args *a = arg;
    real *out = a->out, *mean = a->mean, *rstd = a->rstd;
    const real *inp = a->inp, *weight = a->weight, *bias = a->bias;
    const int C = a->C;
    const real eps = a->eps;
    for (size_t n = lo; n < hi; n++) {
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

void layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                       const real *bias, int N, int C, real eps)
{
    layernorm_args a = {.out = out, .mean = mean, .rstd = rstd, .inp = inp, .weight = weight, .bias = bias,
                        .N = N, .C = C, .eps = eps};
    pool_for((size_t)N, (size_t)N * (size_t)C >= PAR_MIN, layernorm_forward_rows, &a);
}

static void layernorm_dinp_rows(void *arg, size_t lo, size_t hi)
{
    const layernorm_args *a = arg;
    real *dinp = a->dinp;
    const real *inp = a->inp, *weight = a->weight, *dout = a->dout, *mean = a->cmean, *rstd = a->crstd;
    const int C = a->C;
    for (size_t n = lo; n < hi; n++) {
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

static void layernorm_params_blocks(void *arg, size_t lo, size_t hi)
{
    const layernorm_args *a = arg;
    real *dweight = a->dweight, *dbias = a->dbias;
    const real *inp = a->inp, *dout = a->dout, *mean = a->cmean, *rstd = a->crstd;
    const int N = a->N, C = a->C;
    for (int blk = (int)lo; blk < (int)hi; blk++) {
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

void layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                        const real *weight, const real *mean, const real *rstd, int N, int C)
{
    layernorm_args a = {.dinp = dinp, .dweight = dweight, .dbias = dbias, .dout = dout, .inp = inp,
                        .weight = weight, .cmean = mean, .crstd = rstd, .N = N, .C = C};
    const int par = (size_t)N * (size_t)C >= PAR_MIN;
    if (dinp)
        pool_for((size_t)N, par, layernorm_dinp_rows, &a);
    if (dweight || dbias)
        pool_for((size_t)((C + COL_BLOCK - 1) / COL_BLOCK), par, layernorm_params_blocks, &a);
}

static inline real capped_exp(real p, real cap) { return exp(p < cap ? p : cap); }

/* Row normalisation, and with a scale per group (rownorm_scale: rownorm then exp_scale in one pass).
 * Operands: rows r of N G, each D long, in group r % G with scale e^min(p, cap), or 1 without p
 * (rownorm alone, the same bits as a normalisation by itself: 1 * y = y, d / 1 = d). */
typedef struct {
    real *out, *norm, *rowdot, *dp;
    const real *a, *b, *c, *p;   /* forward: a = x; backward: a = dy, b = y, c = the norms */
    int N, G, D, store;
    real eps, cap;
} rownorm_scale_args;

static void rownorm_scale_forward_rows(void *arg, size_t lo, size_t hi)
{
    const rownorm_scale_args *e = arg;
    const size_t D = (size_t)e->D;
    for (size_t r = lo; r < hi; r++) {
        const real *restrict x = e->a + r * D;
        real *restrict y = e->out + r * D;
        real ss = 0;
#pragma omp simd reduction(+ : ss)
        for (size_t i = 0; i < D; i++)
            ss += x[i] * x[i];
        const real nrm = sqrt(ss), den = nrm > e->eps ? nrm : e->eps;
        const real s = e->p ? capped_exp(e->p[r % (size_t)e->G], e->cap) : 1;
#pragma omp simd
        for (size_t i = 0; i < D; i++)
            y[i] = s * (x[i] / den);   /* the unit row, then its scale: rownorm's then exp_scale's rounding */
        e->norm[r] = nrm;
    }
}

void rownorm_scale_forward(real *out, real *norm, const real *inp, const real *p, int N, int G, int D, real eps,
                           real cap)
{
    const size_t rows = (size_t)N * (size_t)G;
    pool_for(rows, rows * (size_t)D >= PAR_MIN, rownorm_scale_forward_rows,
             &(rownorm_scale_args){.out = out, .norm = norm, .a = inp, .p = p, .G = G, .D = D, .eps = eps,
                                   .cap = cap});
}

/* y = s u with u = x / max(||x||, eps): with u recovered as y / s (0 where s underflowed to 0, where
 * y and every gradient are 0 too) and c = u . dy, dx = (dy - u c) / (||x|| / s) (dy / (eps / s) below
 * eps), and the row's part of d(y)/dp . dy is s c, kept in rowdot for the groups' sums. */
static void rownorm_scale_backward_rows(void *arg, size_t lo, size_t hi)
{
    const rownorm_scale_args *e = arg;
    const size_t D = (size_t)e->D;
    for (size_t r = lo; r < hi; r++) {
        const real *restrict dy = e->a + r * D, *restrict y = e->b + r * D;
        const real s = e->p ? capped_exp(e->p[r % (size_t)e->G], e->cap) : 1, inv = s > 0 ? 1 / s : 0;
        const real nrm = e->c[r];
        real c = 0;
#pragma omp simd reduction(+ : c)
        for (size_t i = 0; i < D; i++)
            c += y[i] * inv * dy[i];
        if (e->rowdot)
            e->rowdot[r] = c;
        if (!e->out)
            continue;
        real *restrict dx = e->out + r * D;
        if (e->store)   /* the row's old contents are never read; it is in cache for the += below */
            memset(dx, 0, D * sizeof(real));
        if (nrm >= e->eps) {
            const real den = nrm / s;
#pragma omp simd
            for (size_t i = 0; i < D; i++)
                dx[i] += (dy[i] - y[i] * inv * c) / den;
        } else {   /* the denominator is the constant eps */
            const real den = e->eps / s;
#pragma omp simd
            for (size_t i = 0; i < D; i++)
                dx[i] += dy[i] / den;
        }
    }
}

/* dp[g] += e^p[g] sum over the rows of group g of rowdot, rows in order: the same bits for any
 * thread count. Above the cap the scale is constant and p gets nothing. */
static void rownorm_scale_dp_groups(void *arg, size_t lo, size_t hi)
{
    const rownorm_scale_args *e = arg;
    for (int g = (int)lo; g < (int)hi; g++) {
        if (!(e->p[g] < e->cap))
            continue;
        double acc = 0;
        for (int n = 0; n < e->N; n++)
            acc += e->rowdot[(size_t)n * (size_t)e->G + (size_t)g];
        e->dp[g] += (real)((double)capped_exp(e->p[g], e->cap) * acc);
    }
}

void rownorm_scale_backward(real *dinp, real *dp, real *rowdot, const real *dout, const real *out, const real *norm,
                            const real *p, int N, int G, int D, real eps, real cap, int store)
{
    const size_t rows = (size_t)N * (size_t)G;
    rownorm_scale_args e = {.out = dinp, .rowdot = dp ? rowdot : NULL, .dp = dp, .a = dout, .b = out, .c = norm,
                            .p = p, .N = N, .G = G, .D = D, .store = store, .eps = eps, .cap = cap};
    if (!dinp && !dp)
        return;
    pool_for(rows, rows * (size_t)D >= PAR_MIN, rownorm_scale_backward_rows, &e);
    if (dp)
        pool_for((size_t)G, rows >= PAR_MIN, rownorm_scale_dp_groups, &e);
}

void rownorm_forward(real *out, real *norm, const real *inp, int N, int C, real eps)
{
    rownorm_scale_forward(out, norm, inp, NULL, N, 1, C, eps, 0);
}

void rownorm_backward(real *dinp, const real *dout, const real *out, const real *norm, int N, int C,
                      real eps, int store)
{
    if (dinp)
        rownorm_scale_backward(dinp, NULL, NULL, dout, out, norm, NULL, N, 1, C, eps, 0, store);
}

/* The capped exponential scale's operands: out (y, or dx when accumulate) = or += e^min(p, cap) * a
 * (x or dy) per row of D, row r in group r % G; dp gets the N rows' sums per group. */
typedef struct {
    real *out, *dp;
    const real *a, *inp, *p;
    int N, G, D, accumulate;
    real cap;
} exp_scale_args;

static void exp_scale_rows(void *arg, size_t lo, size_t hi)
{
    const exp_scale_args *e = arg;
    const size_t D = (size_t)e->D;
    for (size_t r = lo; r < hi; r++) {
        real s = capped_exp(e->p[r % (size_t)e->G], e->cap);
        const real *restrict x = e->a + r * D;
        real *restrict y = e->out + r * D;
        if (e->accumulate) {
#pragma omp simd
            for (size_t i = 0; i < D; i++)
                y[i] += s * x[i];
        } else {
#pragma omp simd
            for (size_t i = 0; i < D; i++)
                y[i] = s * x[i];
        }
    }
}

void exp_scale_forward(real *out, const real *inp, const real *p, int N, int G, int D, real cap)
{
    size_t rows = (size_t)N * (size_t)G;
    pool_for(rows, rows * (size_t)D >= PAR_MIN, exp_scale_rows,
             &(exp_scale_args){.out = out, .a = inp, .p = p, .G = G, .D = D, .cap = cap});
}

/* One group per iteration, rows in order: the same bits for any thread count. Above the cap the
 * scale is constant and p gets nothing. */
static void exp_scale_dp_groups(void *arg, size_t lo, size_t hi)
{
    const exp_scale_args *e = arg;
    real *dp = e->dp;
    const real *dout = e->a, *inp = e->inp, *p = e->p;
    const int N = e->N, G = e->G, D = e->D;
    const real cap = e->cap;
    for (int g = (int)lo; g < (int)hi; g++) {
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

void exp_scale_backward(real *dinp, real *dp, const real *dout, const real *inp, const real *p,
                        int N, int G, int D, real cap, int store)
{
    size_t rows = (size_t)N * (size_t)G;
    exp_scale_args e = {.out = dinp, .dp = dp, .a = dout, .inp = inp, .p = p, .N = N, .G = G, .D = D,
                        .accumulate = !store, .cap = cap};
    if (dinp)
        pool_for(rows, rows * (size_t)D >= PAR_MIN, exp_scale_rows, &e);
    if (dp)
        pool_for((size_t)G, rows * (size_t)D >= PAR_MIN, exp_scale_dp_groups, &e);
}
