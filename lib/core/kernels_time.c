/* Mixing along time on [B, T, H*hs] buffers: the leaky average (an O(T) scan each way, never a
 * T x T matrix), the one-step look-ahead mix and the time shift. Every (batch, head) is an
 * independent scan over its hs contiguous channels, which is the unit of the OpenMP loops; the
 * per-head parameter gradients are reduced from per-(batch, head) partials in a fixed order, so
 * the bits do not depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kernels.h"
#include "core/kernels_par.h"

/* Thread a loop only above this many elements of [B, T, C]: a region costs more than it saves on
 * less (the single rows of a cached decoding step; benchmarks/NOTES.md §2 and §6). */
#define PAR_MIN ((size_t)1 << 15)

#ifdef MEMLAB_DOUBLE
#define REXP exp
#define RABS fabs
#else
#define REXP expf
#define RABS fabsf
#endif

/* Per-head sums of per-(batch, head) partials, batch by batch in order. */
static double head_sum(const double *part, int B, int H, int h)
{
    double s = 0;
    for (int b = 0; b < B; b++)
        s += part[(size_t)b * H + h];
    return s;
}

/* The operands of one time kernel over [B, T, H * hs] (C: the row width of time_shift, k its
 * shift); part holds one double per (batch, head) for the parameter gradients. The loops run over
 * (batch, head) pairs, each scanning its own column block in time order. */
typedef struct {
    real *out, *dinp;
    double *part;
    real *gbuf;
    const real *inp, *dout, *p;
    int B, T, H, hs, C, k;
    int store;   /* the backward stores dinp rather than adding (core/tape.h) */
} time_args;

static void leaky_avg_forward_heads(void *arg, size_t lo, size_t hi)
{
    const time_args *g = arg;
    const int T = g->T, H = g->H, hs = g->hs;
    const size_t C = (size_t)H * hs;
    for (int bh = (int)lo; bh < (int)hi; bh++) {
        const int b = bh / H, h = bh % H;
        const real a = REXP(-RABS(g->p[h]));
        const real *x = g->inp + (size_t)b * T * C + (size_t)h * hs;
        real *y = g->out + (size_t)b * T * C + (size_t)h * hs;
        for (int j = 0; j < hs; j++)
            y[j] = x[j];
        for (int t = 1; t < T; t++) {
            const real *xt = x + (size_t)t * C;
            const real *yp = y + (size_t)(t - 1) * C;
            real *yt = y + (size_t)t * C;
            for (int j = 0; j < hs; j++)
                yt[j] = xt[j] + a * yp[j];
        }
    }
}

void leaky_avg_forward(real *out, const real *inp, const real *theta, int B, int T, int H, int hs)
{
    pool_for((size_t)B * H, (size_t)B * T * H * hs >= PAR_MIN, leaky_avg_forward_heads,
             &(time_args){.out = out, .inp = inp, .p = theta, .B = B, .T = T, .H = H, .hs = hs});
}

/* Reverse scan g_t = dout_t + a g_{t+1}: dinp_t += g_t and da = sum_t g_t . out_{t-1}; then
 * dtheta += da * d(a)/d(theta) = da * (-a) * sign(theta). At theta = 0 exactly, |theta| has no
 * derivative; sign(0) = 0 takes the zero subgradient there. (inp: the forward output.) */
static void leaky_avg_backward_heads(void *arg, size_t lo, size_t hi)
{
    const time_args *ta = arg;
    const int T = ta->T, H = ta->H, hs = ta->hs;
    const size_t C = (size_t)H * hs;
    for (int bh = (int)lo; bh < (int)hi; bh++) {
        const int b = bh / H, h = bh % H;
        const real a = REXP(-RABS(ta->p[h]));
        const size_t base = (size_t)b * T * C + (size_t)h * hs;
        const real *dy = ta->dout + base;
        const real *y = ta->inp + base;
        real *dx = ta->dinp ? ta->dinp + base : NULL;
        real *g = ta->gbuf + (size_t)bh * hs;
        double acc = 0;
        for (int j = 0; j < hs; j++)
            g[j] = 0;
        for (int t = T - 1; t >= 0; t--) {
            const real *dyt = dy + (size_t)t * C;
            for (int j = 0; j < hs; j++)
                g[j] = dyt[j] + a * g[j];
            if (dx) {
                real *dxt = dx + (size_t)t * C;
                if (ta->store)
                    for (int j = 0; j < hs; j++)
                        dxt[j] = g[j];
                else
                    for (int j = 0; j < hs; j++)
                        dxt[j] += g[j];
            }
            if (t > 0) {
                const real *yp = y + (size_t)(t - 1) * C;
                for (int j = 0; j < hs; j++)
                    acc += (double)g[j] * yp[j];
            }
        }
        ta->part[bh] = acc;
    }
}

void leaky_avg_backward(real *dinp, real *dtheta, const real *dout, const real *out, const real *theta,
                        int B, int T, int H, int hs, int store)
{
    if (!dinp && !dtheta)
        return;
    const size_t C = (size_t)H * hs;
    real *gbuf = xmalloc((size_t)B * C * sizeof(real));
    double *part = xcalloc((size_t)B * H, sizeof(double));
    pool_for((size_t)B * H, (size_t)B * T * C >= PAR_MIN, leaky_avg_backward_heads,
             &(time_args){.dinp = dinp, .part = part, .gbuf = gbuf, .inp = out, .dout = dout, .p = theta,
                          .B = B, .T = T, .H = H, .hs = hs, .store = store});
    if (dtheta)
        for (int h = 0; h < H; h++) {
            const double a = REXP(-RABS(theta[h]));
            const double sign = (theta[h] > 0) - (theta[h] < 0);
            dtheta[h] += (real)(head_sum(part, B, H, h) * -a * sign);
        }
    free(part);
    free(gbuf);
}

static void lookahead_mix_forward_heads(void *arg, size_t lo, size_t hi)
{
    const time_args *g = arg;
    const int T = g->T, H = g->H, hs = g->hs;
    const size_t C = (size_t)H * hs;
    for (int bh = (int)lo; bh < (int)hi; bh++) {
        const int b = bh / H, h = bh % H;
        const real ch = g->p[h], rest = 1 - g->p[h];
        const real *x = g->inp + (size_t)b * T * C + (size_t)h * hs;
        real *y = g->out + (size_t)b * T * C + (size_t)h * hs;
        for (int t = 0; t < T; t++) {
            const real *xt = x + (size_t)t * C;
            real *yt = y + (size_t)t * C;
            if (t + 1 < T) {
                const real *xn = xt + C;
                for (int j = 0; j < hs; j++)
                    yt[j] = ch * xt[j] + rest * xn[j];
            } else {
                for (int j = 0; j < hs; j++)
                    yt[j] = ch * xt[j];
            }
        }
    }
}

void lookahead_mix_forward(real *out, const real *inp, const real *c, int B, int T, int H, int hs)
{
    pool_for((size_t)B * H, (size_t)B * T * H * hs >= PAR_MIN, lookahead_mix_forward_heads,
             &(time_args){.out = out, .inp = inp, .p = c, .B = B, .T = T, .H = H, .hs = hs});
}

/* dinp_t += c dout_t + (1 - c) dout_{t-1} (= when store);  dc += sum_t dout_t . (inp_t - inp_{t+1}). */
static void lookahead_mix_backward_heads(void *arg, size_t lo, size_t hi)
{
    const time_args *g = arg;
    const int T = g->T, H = g->H, hs = g->hs;
    const size_t C = (size_t)H * hs;
    real *dinp = g->dinp;
    double *part = g->part;
    for (int bh = (int)lo; bh < (int)hi; bh++) {
        const int b = bh / H, h = bh % H;
        const real ch = g->p[h], rest = 1 - g->p[h];
        const size_t base = (size_t)b * T * C + (size_t)h * hs;
        const real *dy = g->dout + base;
        const real *x = g->inp + base;
        if (dinp) {
            real *dx = dinp + base;
            for (int t = 0; t < T; t++) {
                const real *dyt = dy + (size_t)t * C;
                real *dxt = dx + (size_t)t * C;
                if (g->store)   /* the row's old contents are never read */
                    memset(dxt, 0, (size_t)hs * sizeof(real));
                if (t > 0) {
                    const real *dyp = dyt - C;
                    for (int j = 0; j < hs; j++)
                        dxt[j] += ch * dyt[j] + rest * dyp[j];
                } else {
                    for (int j = 0; j < hs; j++)
                        dxt[j] += ch * dyt[j];
                }
            }
        }
        if (part) {   /* a row's dot in SIMD lanes, the rows added in double (one chain a row, not an element) */
            double acc = 0;
            for (int t = 0; t < T; t++) {
                const real *restrict dyt = dy + (size_t)t * C;
                const real *restrict xt = x + (size_t)t * C;
                real s = 0;
                if (t + 1 < T) {
                    const real *restrict xn = xt + C;
#pragma omp simd reduction(+ : s)
                    for (int j = 0; j < hs; j++)
                        s += dyt[j] * (xt[j] - xn[j]);
                } else {
#pragma omp simd reduction(+ : s)
                    for (int j = 0; j < hs; j++)
                        s += dyt[j] * xt[j];
                }
                acc += s;
            }
            part[bh] = acc;
        }
    }
}

void lookahead_mix_backward(real *dinp, real *dc, const real *dout, const real *inp, const real *c,
                            int B, int T, int H, int hs, int store)
{
    if (!dinp && !dc)
        return;
    double *part = dc ? xcalloc((size_t)B * H, sizeof(double)) : NULL;
    pool_for((size_t)B * H, (size_t)B * T * H * hs >= PAR_MIN, lookahead_mix_backward_heads,
             &(time_args){.dinp = dinp, .part = part, .inp = inp, .dout = dout, .p = c, .B = B, .T = T, .H = H,
                          .hs = hs, .store = store});
    if (dc) {
        for (int h = 0; h < H; h++)
            dc[h] += (real)head_sum(part, B, H, h);
        free(part);
    }
}

/* Output row t reads input row t + k; returns -1 when that is outside 0..T-1. */
static long shifted(int t, int T, int k)
{
    long s = (long)t + k;
    return s >= 0 && s < T ? s : -1;
}

static void time_shift_forward_seqs(void *arg, size_t lo, size_t hi)
{
    const time_args *g = arg;
    const int T = g->T, C = g->C, k = g->k;
    for (size_t b = lo; b < hi; b++)
        for (int t = 0; t < T; t++) {
            real *o = g->out + (b * T + t) * C;
            long s = shifted(t, T, k);
            if (s >= 0)
                memcpy(o, g->inp + (b * T + (size_t)s) * C, (size_t)C * sizeof(real));
            else
                memset(o, 0, (size_t)C * sizeof(real));
        }
}

void time_shift_forward(real *out, const real *inp, int B, int T, int C, int k)
{
    pool_for((size_t)B, (size_t)B * T * C >= PAR_MIN, time_shift_forward_seqs,
             &(time_args){.out = out, .inp = inp, .T = T, .C = C, .k = k});
}

static void time_shift_backward_seqs(void *arg, size_t lo, size_t hi)
{
    const time_args *ta = arg;
    const int T = ta->T, C = ta->C, k = ta->k;
    for (size_t b = lo; b < hi; b++)
        for (int t = 0; t < T; t++) {
            long s = shifted(t, T, k);
            if (s < 0)
                continue;
            const real *g = ta->dout + (b * T + t) * C;
            real *dx = ta->dinp + (b * T + (size_t)s) * C;
            for (int c = 0; c < C; c++)
                dx[c] += g[c];
        }
}

void time_shift_backward(real *dinp, const real *dout, int B, int T, int C, int k)
{
    if (dinp)
        pool_for((size_t)B, (size_t)B * T * C >= PAR_MIN, time_shift_backward_seqs,
                 &(time_args){.dinp = dinp, .dout = dout, .T = T, .C = C, .k = k});
}
