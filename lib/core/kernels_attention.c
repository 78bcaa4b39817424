/* Masked multi-head attention on strided buffers, by one of two paths chosen by the head size.
 *
 * Products (hs > ATT_DIRECT_HS): per (batch, head) the logits and the weighted sum of values are two
 * matrix products through blas_gemm, reading head h in place (columns h*hs .. h*hs+hs-1 of rows
 * ldq / ldk / ldv apart), so q, k and v are never copied or transposed. The (batch, head) units run
 * in one parallel region, each with its products, softmax rows and softmax backward on one thread
 * (units_parallel below): one region per call instead of one per threaded product, and no
 * product small enough to lose more to threading than it gains.
 *
 * Direct (hs <= ATT_DIRECT_HS, e.g. the memory model's heads of 2): a product whose inner dimension
 * is 2 is almost all call, packing and copying in BLAS, so each query row instead computes its
 * logits, softmax and output in a few vectorised passes over its own keys, from copies of k and v
 * transposed to [hs][Tk] per (batch, head) so that every loop over keys is contiguous. No BLAS call;
 * the backward pass runs (batch, head) pairs in parallel into per-pair gradient partials and adds
 * them up batch by batch in order, so a shared k / v needs no special case and the bits do not
 * depend on the thread count.
 *
 * ALiBi (d->alibi) adds its bias to the logits of the allowed keys on either path, in a branch taken
 * once per row (the direct rows are compiled twice, with and without it), so attention without it
 * does no extra work. The backward passes need nothing from it: they read the probabilities. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/fastexp.h"
#include "core/kernels.h"
#include "core/pool.h"

/* Head sizes up to this take the direct path; at most 4 (its rows spell out up to four columns).
 * Set at compile time with -DATT_DIRECT_HS=0 to send every size through the products. */
#ifndef ATT_DIRECT_HS
#define ATT_DIRECT_HS 4
#endif
#if ATT_DIRECT_HS > 4
#error "ATT_DIRECT_HS is at most 4"
#endif

/* Thread a call only above this many multiply-adds of its logits (B H Tq Tk hs): a region costs
 * more than it saves on less (a cached decoding step, a gradient check's tiny shapes;
 * benchmarks/NOTES.md §2, §6). */
#define ATT_PAR_MIN ((size_t)1 << 16)

static int enough_work(const att_dims *d)
{
    return (size_t)d->B * d->H * d->Tq * d->Tk * d->hs >= ATT_PAR_MIN;
}

/* Query rows are handled in tiles that share one range of key columns; a tile never computes the
 * logits of columns none of its rows may see (most of a causal mask's upper triangle, the other
 * blocks of a block mask). Small enough to skip most of a masked triangle, large enough for BLAS. */
#define ATT_TILE 64

/* For every mask kind the keys of one query row form an interval [lo, hi), and both ends never
 * decrease from one row to the next: so the keys any row of a tile may see lie in
 * [lo(first row), hi(last row)). Agrees with att_allowed (the tests compare against it). */
static void row_keys(const att_dims *d, int i, int *lo, int *hi)
{
    int t = i + d->Tk - d->Tq;
    int a = 0, b = 0;
    switch (d->mask.kind) {
    case ATT_CAUSAL: b = t + 1; break;
    case ATT_STRICT: b = t; break;
    case ATT_FULL: b = d->Tk; break;
    case ATT_BLOCK:
        b = t + 1;
        a = t >= 0 ? t / d->mask.block * d->mask.block : 0;
        break;
    }
    if (b > d->Tk)
        b = d->Tk;
    if (b < 0)
        b = 0;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

static int tile_rows(const att_dims *d)
{
    /* Nothing to skip under a full mask: one product per (batch, head). */
    return d->mask.kind == ATT_FULL ? d->Tq : ATT_TILE;
}

/* Rows [i0, i1) of the tile of `rows` rows starting at i0, and the key columns [c0, c1) they may
 * see. */
static void tile_span_of(const att_dims *d, int rows, int i0, int *i1, int *c0, int *c1)
{
    int end = i0 + rows;
    if (end > d->Tq)
        end = d->Tq;
    int unused;
    row_keys(d, i0, c0, &unused);
    row_keys(d, end - 1, &unused, c1);
    *i1 = end;
}

static void tile_span(const att_dims *d, int i0, int *i1, int *c0, int *c1)
{
    tile_span_of(d, tile_rows(d), i0, i1, c0, c1);
}

/* ALiBi's bias of key u for a query at position t under slope m: -m (t - u), in one expression
 * for both paths. */
static inline real alibi_bias(real m, int t, int u) { return -(m * (real)(t - u)); }

void alibi_slopes(real *m, int H)
{
    int p = 1;
    while (2 * p <= H)
        p *= 2;
    for (int h = 0; h < p; h++)
        m[h] = (real)exp2(-8.0 * (h + 1) / p);
    for (int h = p; h < H; h++)   /* slope 2 (h - p) of 2p heads */
        m[h] = (real)exp2(-8.0 * (2 * (h - p) + 1) / (2 * p));
}

/* p[u] = e^(p[u] - m) for u in [lo, hi); returns their sum, added in an order that depends on lo
 * and hi alone (never on the thread count). */
static inline real exp_sum(real *restrict p, int lo, int hi, real m)
{
    real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int u = lo; u < hi; u++) {
        real e = exp_vec(p[u] - m);
        p[u] = e;
        sum += e;
    }
    return sum;
}

/* Row softmax over the allowed logits p[lo..hi); every other entry becomes exactly 0 (no exp of
 * -inf anywhere), and a row without keys is all zero. */
static void softmax_row(real *restrict p, int Tk, int lo, int hi)
{
    if (hi <= lo) {
        memset(p, 0, (size_t)Tk * sizeof(real));
        return;
    }
    real m = p[lo];
#pragma omp simd reduction(max : m)
    for (int u = lo + 1; u < hi; u++)
        m = p[u] > m ? p[u] : m;
    const real inv = 1 / exp_sum(p, lo, hi, m);
#pragma omp simd
    for (int u = lo; u < hi; u++)
        p[u] *= inv;
    memset(p, 0, (size_t)lo * sizeof(real));
    memset(p + hi, 0, (size_t)(Tk - hi) * sizeof(real));
}

/* dS = P * (dP - rowsum(dP * P)) over the allowed columns [lo, hi), in place of dP in g. */
static void softmax_backward_row(real *restrict g, const real *restrict p, int lo, int hi)
{
    real dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int u = lo; u < hi; u++)
        dot += g[u] * p[u];
#pragma omp simd
    for (int u = lo; u < hi; u++)
        g[u] = p[u] * (g[u] - dot);
}

/* ---- direct path (hs <= ATT_DIRECT_HS) ------------------------------------------------------- */

/* Asks for the cache lines of p[lo..hi) before they are needed. Each row of att is short and is
 * read or written in a few quick passes, so without this most rows would start with misses the
 * hardware prefetcher has not caught up with; one row of lead is enough. */
#define LINE_REALS ((int)(64 / sizeof(real)))
#ifdef __GNUC__
#define PREFETCH(addr, write) __builtin_prefetch((addr), (write), 3)
#else
#define PREFETCH(addr, write) ((void)(addr))
#endif
static inline void prefetch_read(const real *p, int lo, int hi)
{
    for (int u = lo; u < hi; u += LINE_REALS)
        PREFETCH(p + u, 0);
}
static inline void prefetch_write(real *p, int n)
{
    for (int u = 0; u < n; u += LINE_REALS)
        PREFETCH(p + u, 1);
}

/* The operands of one attention loop run on the pool (core/pool.h): the per-(batch, head) layout
 * helpers use x, t, bs and ld; the row and unit loops the rest. */
typedef struct {
    const att_dims *d;
    real *out, *att, *dq, *dk, *dv, *scratch, *t, *kt, *vt, *dkt, *dvt;
    const real *q, *k, *v, *dout, *x, *part;
    size_t bs;
    int ld, shared;
} att_args;

/* Head h of batch bb of x (rows ld apart, batch stride bs) as hs contiguous rows of Tk:
 * t[((bb * H + h) * hs + j) * Tk + u] = x[bb * bs + u * ld + h * hs + j] for bb < nb. */
static void heads_transposed_units(void *arg, size_t lo, size_t hi)
{
    const att_args *a = arg;
    const int H = a->d->H, hs = a->d->hs, Tk = a->d->Tk, ld = a->ld;
    const size_t head = (size_t)hs * Tk;
    for (size_t bh = lo; bh < hi; bh++) {
        const real *src = a->x + (bh / H) * a->bs + (bh % H) * hs;
        real *dst = a->t + bh * head;
        for (int u = 0; u < Tk; u++)
            for (int j = 0; j < hs; j++)
                dst[(size_t)j * Tk + u] = src[(size_t)u * ld + j];
    }
}

static real *heads_transposed(const real *x, int nb, size_t bs, int ld, const att_dims *d)
{
    real *t = xmalloc((size_t)nb * d->H * d->hs * d->Tk * sizeof(real));
    pool_for((size_t)nb * d->H, enough_work(d), heads_transposed_units,
             &(att_args){.d = d, .t = t, .x = x, .bs = bs, .ld = ld});
    return t;
}

/* x (laid out as above; bs = 0 for a table shared by the batch) += the per-(batch, head) partials
 * part[((b * H + h) * hs + j) * Tk + u], batch by batch in order. */
static void heads_fold_rows(void *arg, size_t lo, size_t hi)
{
    const att_args *a = arg;
    const att_dims *d = a->d;
    const int B = d->B, H = d->H, hs = d->hs, Tk = d->Tk, ld = a->ld;
    const size_t head = (size_t)hs * Tk, batch = (size_t)H * head, bs = a->bs;
    const real *part = a->part;
    for (size_t r = lo; r < hi; r++) {
        const int bd = (int)(r / Tk), u = (int)(r % Tk);
        real *row = a->t + (size_t)bd * bs + (size_t)u * ld;
        for (int h = 0; h < H; h++)
            for (int j = 0; j < hs; j++) {
                const real *pp = part + (size_t)h * head + (size_t)j * Tk + u;
                real acc = row[h * hs + j];
                if (bs)
                    acc += pp[(size_t)bd * batch];
                else
                    for (int b = 0; b < B; b++)
                        acc += pp[(size_t)b * batch];
                row[h * hs + j] = acc;
            }
    }
}

static void heads_fold(real *x, size_t bs, int ld, const real *part, const att_dims *d)
{
    const int nb = bs ? d->B : 1;
    pool_for((size_t)nb * d->Tk, enough_work(d), heads_fold_rows,
             &(att_args){.d = d, .t = x, .part = part, .bs = bs, .ld = ld});
}

/* The rows below take hs as a literal (ATT_DIRECT_ROW spells out the one switch), so that the
 * terms over j unroll and every loop over keys vectorises. Column j of a head is x0..x3; columns
 * past hs are never touched. Heads k, v and the partials dk, dv are [hs][Tk] (heads_transposed). */
#define ATT_DIRECT_ROW(fn, hs, ...)         \
    switch (hs) {                            \
    case 1: fn(__VA_ARGS__, 1); break;       \
    case 2: fn(__VA_ARGS__, 2); break;       \
    case 3: fn(__VA_ARGS__, 3); break;       \
    default: fn(__VA_ARGS__, 4); break;      \
    }
#define ATT_COL(x, j, hs, Tk) ((x) + ((hs) > (j) ? (size_t)(j) * (size_t)(Tk) : 0))

/* Query row i: logits into p[lo, hi) and their max in one pass, the exponentials and their sum in
 * a second, the normalisation and the output o[0, hs) in a third. Logits are scale * (q . k) with
 * the dot product summed over j in order, as a product would; plus, when `biased` (a literal at
 * every call, so the unbiased row has no trace of it), ALiBi's bias for slope m at position t. */
static inline __attribute__((always_inline)) void
direct_row_forward(real *restrict p, real *o, const real *qi, const real *kh, const real *vh, int Tk,
                   int lo, int hi, real scale, real slope, int t, const int biased, const int hs)
{
    const real *restrict k0 = kh, *restrict k1 = ATT_COL(kh, 1, hs, Tk),
               *restrict k2 = ATT_COL(kh, 2, hs, Tk), *restrict k3 = ATT_COL(kh, 3, hs, Tk);
    const real *restrict v0 = vh, *restrict v1 = ATT_COL(vh, 1, hs, Tk),
               *restrict v2 = ATT_COL(vh, 2, hs, Tk), *restrict v3 = ATT_COL(vh, 3, hs, Tk);
    const real q0 = qi[0], q1 = hs > 1 ? qi[1] : 0, q2 = hs > 2 ? qi[2] : 0, q3 = hs > 3 ? qi[3] : 0;
    real m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int u = lo; u < hi; u++) {
        real x = q0 * k0[u];
        if (hs > 1)
            x += q1 * k1[u];
        if (hs > 2)
            x += q2 * k2[u];
        if (hs > 3)
            x += q3 * k3[u];
        x = scale * x;
        if (biased)
            x += alibi_bias(slope, t, u);
        p[u] = x;
        m = x > m ? x : m;
    }
    const real inv = 1 / exp_sum(p, lo, hi, m);
    real a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (int u = lo; u < hi; u++) {
        real y = p[u] * inv;
        p[u] = y;
        a0 += y * v0[u];
        if (hs > 1)
            a1 += y * v1[u];
        if (hs > 2)
            a2 += y * v2[u];
        if (hs > 3)
            a3 += y * v3[u];
    }
    o[0] = a0;
    if (hs > 1)
        o[1] = a1;
    if (hs > 2)
        o[2] = a2;
    if (hs > 3)
        o[3] = a3;
}

/* Query row i of the backward pass, in two passes over its keys u in [lo, hi):
 *   dv_u += p_u dout_i;  g_u = dP_u = dout_i . v_u;  dot = P . dP
 *   dS_u = p_u (g_u - dot);  dq_i += scale sum_u dS_u k_u;  dk_u += scale dS_u q_i
 * The second pass runs only when dq or dk is wanted (ds); dqi may be NULL. */
static inline __attribute__((always_inline)) void
direct_row_backward(real *restrict g, real *dkh, real *dvh, real *dqi, const real *restrict p, const real *dob,
                    const real *qi, const real *kh, const real *vh, int Tk, int lo, int hi, real scale, int ds,
                    const int hs)
{
    real *restrict dv0 = dvh, *restrict dv1 = ATT_COL(dvh, 1, hs, Tk), *restrict dv2 = ATT_COL(dvh, 2, hs, Tk),
         *restrict dv3 = ATT_COL(dvh, 3, hs, Tk);
    const real *restrict v0 = vh, *restrict v1 = ATT_COL(vh, 1, hs, Tk),
               *restrict v2 = ATT_COL(vh, 2, hs, Tk), *restrict v3 = ATT_COL(vh, 3, hs, Tk);
    const real o0 = dob[0], o1 = hs > 1 ? dob[1] : 0, o2 = hs > 2 ? dob[2] : 0, o3 = hs > 3 ? dob[3] : 0;
    real dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int u = lo; u < hi; u++) {
        const real pu = p[u];
        dv0[u] += o0 * pu;
        real x = o0 * v0[u];
        if (hs > 1) {
            dv1[u] += o1 * pu;
            x += o1 * v1[u];
        }
        if (hs > 2) {
            dv2[u] += o2 * pu;
            x += o2 * v2[u];
        }
        if (hs > 3) {
            dv3[u] += o3 * pu;
            x += o3 * v3[u];
        }
        g[u] = x;
        dot += x * pu;
    }
    if (!ds)
        return;

    real *restrict dk0 = dkh, *restrict dk1 = ATT_COL(dkh, 1, hs, Tk), *restrict dk2 = ATT_COL(dkh, 2, hs, Tk),
         *restrict dk3 = ATT_COL(dkh, 3, hs, Tk);
    const real *restrict k0 = kh, *restrict k1 = ATT_COL(kh, 1, hs, Tk),
               *restrict k2 = ATT_COL(kh, 2, hs, Tk), *restrict k3 = ATT_COL(kh, 3, hs, Tk);
    const real c0 = scale * qi[0], c1 = hs > 1 ? scale * qi[1] : 0, c2 = hs > 2 ? scale * qi[2] : 0,
               c3 = hs > 3 ? scale * qi[3] : 0;
    real a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (int u = lo; u < hi; u++) {
        const real s = p[u] * (g[u] - dot);
        a0 += s * k0[u];
        dk0[u] += c0 * s;
        if (hs > 1) {
            a1 += s * k1[u];
            dk1[u] += c1 * s;
        }
        if (hs > 2) {
            a2 += s * k2[u];
            dk2[u] += c2 * s;
        }
        if (hs > 3) {
            a3 += s * k3[u];
            dk3[u] += c3 * s;
        }
    }
    if (dqi) {
        dqi[0] += scale * a0;
        if (hs > 1)
            dqi[1] += scale * a1;
        if (hs > 2)
            dqi[2] += scale * a2;
        if (hs > 3)
            dqi[3] += scale * a3;
    }
}

static void forward_direct_rows(void *arg, size_t lo_row, size_t hi_row)
{
    const att_args *a = arg;
    const att_dims *d = a->d;
    const int H = d->H, Tq = d->Tq, Tk = d->Tk, hs = d->hs;
    const size_t head = (size_t)hs * Tk;
    real *out = a->out, *att = a->att;
    const real *q = a->q, *kt = a->kt, *vt = a->vt;
    const long rows = (long)hi_row;
    for (long r = (long)lo_row; r < rows; r++) {
        const int i = (int)(r % Tq), b = (int)(r / Tq / H), h = (int)(r / Tq % H);
        real *p = att + (size_t)r * Tk;
        real *o = out + (size_t)b * d->bso + (size_t)i * d->ldo + (size_t)h * hs;
        if (r + 1 < rows)
            prefetch_write(p + Tk, Tk);
        int lo, hi;
        row_keys(d, i, &lo, &hi);
        memset(p, 0, (size_t)lo * sizeof(real));
        memset(p + hi, 0, (size_t)(Tk - hi) * sizeof(real));
        if (hi <= lo) {
            memset(o, 0, (size_t)hs * sizeof(real));
            continue;
        }
        const real *qi = q + (size_t)b * d->bsq + (size_t)i * d->ldq + (size_t)h * hs;
        const real *kh = kt + ((size_t)(d->bsk ? b : 0) * H + h) * head;
        const real *vh = vt + ((size_t)(d->bsv ? b : 0) * H + h) * head;
        if (d->alibi) {
            ATT_DIRECT_ROW(direct_row_forward, hs, p, o, qi, kh, vh, Tk, lo, hi, d->scale, d->alibi[h],
                           i + Tk - Tq, 1)
        } else {
            ATT_DIRECT_ROW(direct_row_forward, hs, p, o, qi, kh, vh, Tk, lo, hi, d->scale, 0, 0, 0)
        }
    }
}

static void forward_direct(real *out, real *att, const real *q, const real *k, const real *v, const att_dims *d)
{
    const int B = d->B;
    real *kt = heads_transposed(k, d->bsk ? B : 1, d->bsk, d->ldk, d);
    real *vt = heads_transposed(v, d->bsv ? B : 1, d->bsv, d->ldv, d);
    pool_for((size_t)B * d->H * d->Tq, enough_work(d), forward_direct_rows,
             &(att_args){.d = d, .out = out, .att = att, .q = q, .kt = kt, .vt = vt});
    free(kt);
    free(vt);
}

/* scratch: one row of Tk per pool participant. */
static void backward_direct_units(void *arg, size_t lo_unit, size_t hi_unit)
{
    const att_args *a = arg;
    const att_dims *d = a->d;
    const int H = d->H, Tq = d->Tq, Tk = d->Tk, hs = d->hs;
    const size_t head = (size_t)hs * Tk;
    const int ds = a->dq || a->dkt;
    real *dq = a->dq, *dkt = a->dkt, *dvt = a->dvt;
    const real *kt = a->kt, *vt = a->vt, *att = a->att, *q = a->q, *dout = a->dout;
    for (int bh = (int)lo_unit; bh < (int)hi_unit; bh++) {
        const int b = bh / H, h = bh % H;
        real *g = a->scratch + (size_t)pool_participant() * Tk;
        const real *kh = kt + ((size_t)(d->bsk ? b : 0) * H + h) * head;
        const real *vh = vt + ((size_t)(d->bsv ? b : 0) * H + h) * head;
        real *dkh = dkt ? dkt + (size_t)bh * head : NULL;
        real *dvh = dvt + (size_t)bh * head;
        for (int i = 0; i < Tq; i++) {
            const real *p = att + ((size_t)bh * Tq + i) * Tk;
            if (i + 1 < Tq) {
                int nlo, nhi;
                row_keys(d, i + 1, &nlo, &nhi);
                prefetch_read(p + Tk, nlo, nhi);
            }
            int lo, hi;
            row_keys(d, i, &lo, &hi);
            if (hi <= lo)
                continue;
            const size_t qrow = (size_t)b * d->bsq + (size_t)i * d->ldq + (size_t)h * hs;
            const real *dob = dout + (size_t)b * d->bso + (size_t)i * d->ldo + (size_t)h * hs;
            real *dqi = dq ? dq + qrow : NULL;
            ATT_DIRECT_ROW(direct_row_backward, hs, g, dkh, dvh, dqi, p, dob, q + qrow, kh, vh, Tk, lo, hi,
                           d->scale, ds)
        }
    }
}

static void backward_direct(real *dq, real *dk, real *dv, const real *dout, const real *q, const real *k,
                            const real *v, const real *att, const att_dims *d)
{
    const int B = d->B, H = d->H, Tk = d->Tk, hs = d->hs;
    const size_t head = (size_t)hs * Tk, pairs = (size_t)B * H;
    const int ds = dq || dk;
    /* Partials for every (batch, head), so that the pairs run in parallel with no race even when
     * k / v are shared by the batch; a partial nobody wants is computed and dropped (dv always
     * exists, dk whenever dS does), which keeps the row loops free of tests. */
    real *kt = heads_transposed(k, d->bsk ? B : 1, d->bsk, d->ldk, d);
    real *vt = heads_transposed(v, d->bsv ? B : 1, d->bsv, d->ldv, d);
    real *dvt = xcalloc(pairs * head, sizeof(real));
    real *dkt = ds ? xcalloc(pairs * head, sizeof(real)) : NULL;
    real *gbuf = xmalloc((size_t)pool_size() * Tk * sizeof(real));
    pool_for(pairs, enough_work(d), backward_direct_units,
             &(att_args){.d = d, .dq = dq, .dkt = dkt, .dvt = dvt, .scratch = gbuf, .kt = kt, .vt = vt,
                         .att = (real *)att, .q = q, .dout = dout});

    if (dk)
        heads_fold(dk, d->bsk, d->ldk, dkt, d);
    if (dv)
        heads_fold(dv, d->bsv, d->ldv, dvt, d);
    free(kt);
    free(vt);
    free(dkt);
    free(dvt);
    free(gbuf);
}

/* ---- entry points and the products path ------------------------------------------------------ */

static int use_direct(const att_dims *d) { return d->hs >= 1 && d->hs <= ATT_DIRECT_HS; }

/* The products path runs its (batch, head) units on the pool, each unit's products on the thread
 * that runs it (a product called inside a pool loop runs inline: nothing nests), when there are at
 * least as many units as participants; otherwise one unit after another, each product split over
 * the pool by blas_gemm (if large enough). */
static int units_parallel(long units, const att_dims *d)
{
    const int t = pool_size();
    return t > 1 && units >= t && enough_work(d);
}

/* Runs fn over the units: in parallel when there are enough for every thread; with fewer units than
 * threads (a head at a time over a shared table, a short batch on many cores) the units run one
 * after another on this thread, outside any pool loop, so that each unit's products are tiled over
 * the pool (blas_gemm) instead of the whole op running on one thread. A unit computes the same
 * sums either way, in the same order, so the bits do not depend on the path. */
static void run_units(long units, const att_dims *d, pool_fn fn, void *args)
{
    const int parallel = units_parallel(units, d);
    if (!parallel && units >= 1 && pool_size() > 1 && !pool_in_loop() && enough_work(d)) {
        for (long u = 0; u < units; u++)
            fn(args, (size_t)u, (size_t)u + 1);
        return;
    }
    pool_for((size_t)units, parallel, fn, args);
}

/* The softmax rows of one tile: rows from i0 of head h, row i's logits turned into probabilities
 * in place at P + (i - i0) * Tk (tile_probs), or its probabilities read at A + (i - i0) * Tk and
 * dP turned into dS in place at G + (i - i0) * Tk (backward_unit). */
typedef struct {
    const att_dims *d;
    real *P, *G;
    const real *A;
    int h, i0;
} tile_rows_args;

/* Row work of a tile goes over the pool when the tile's unit runs alone (a unit after another, with
 * fewer units than threads: the mosaic's persistent memory is one long sequence per head) and inline
 * inside a pool loop (pool_for); every row is computed the same way either way. Threaded above this
 * many logits: a region costs a few microseconds. */
#define ATT_ROWS_PAR_MIN ((size_t)1 << 15)

static void tile_rows_run(const tile_rows_args *a, int rows, pool_fn fn)
{
    pool_for((size_t)rows, (size_t)rows * (size_t)a->d->Tk >= ATT_ROWS_PAR_MIN, fn, (void *)a);
}

static void probs_rows(void *arg, size_t lo, size_t hi)
{
    const tile_rows_args *a = arg;
    const att_dims *d = a->d;
    const int Tq = d->Tq, Tk = d->Tk;
    for (size_t r = lo; r < hi; r++) {
        const int i = a->i0 + (int)r;
        int lo_key, hi_key;
        row_keys(d, i, &lo_key, &hi_key);
        real *restrict p = a->P + r * (size_t)Tk;
        if (d->alibi) {
            const real m = d->alibi[a->h];
            const int t = i + Tk - Tq;
#pragma omp simd
            for (int u = lo_key; u < hi_key; u++)
                p[u] += alibi_bias(m, t, u);
        }
        softmax_row(p, Tk, lo_key, hi_key);
    }
}

/* Probabilities of rows [i0, i1) over the columns [c0, c1) into P (row r = query i0 + r, column u at
 * P[r * Tk + u]; exactly 0 outside each row's keys, and a row without keys all 0). */
static void tile_probs(real *P, const real *qb, const real *kb, const att_dims *d, int h, int i0, int i1, int c0,
                       int c1)
{
    const int Tk = d->Tk;
    if (c1 > c0)
        blas_gemm(0, 1, i1 - i0, c1 - c0, d->hs, d->scale, qb + (size_t)i0 * d->ldq, d->ldq,
                  kb + (size_t)c0 * d->ldk, d->ldk, 0, P + c0, Tk);
    tile_rows_run(&(tile_rows_args){.d = d, .P = P, .h = h, .i0 = i0}, i1 - i0, probs_rows);
}

/* One (batch, head), tile by tile: the logits of the key columns the tile's rows may see, their
 * softmax rows, then P v over the same columns. The probabilities go to a->att (kept, tiles of
 * tile_rows) or, for the flash kernel (a->att NULL), to P, ATT_TILE rows of the participant's own
 * that the next tile overwrites. */
static void forward_unit(const att_args *a, real *P, int b, int h)
{
    const att_dims *d = a->d;
    const int Tq = d->Tq, Tk = d->Tk, hs = d->hs, rows = a->att ? tile_rows(d) : ATT_TILE;
    const real *qb = a->q + (size_t)b * d->bsq + (size_t)h * hs;
    const real *kb = a->k + (size_t)b * d->bsk + (size_t)h * hs;
    const real *vb = a->v + (size_t)b * d->bsv + (size_t)h * hs;
    real *ob = a->out + (size_t)b * d->bso + (size_t)h * hs;
    for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
        tile_span_of(d, rows, i0, &i1, &c0, &c1);
        real *Pt = a->att ? a->att + (((size_t)b * d->H + h) * Tq + i0) * Tk : P;
        tile_probs(Pt, qb, kb, d, h, i0, i1, c0, c1);
        if (c1 > c0) {
            blas_gemm(0, 0, i1 - i0, hs, c1 - c0, 1, Pt + c0, Tk, vb + (size_t)c0 * d->ldv, d->ldv, 0,
                      ob + (size_t)i0 * d->ldo, d->ldo);
        } else {
            for (int i = i0; i < i1; i++)
                memset(ob + (size_t)i * d->ldo, 0, (size_t)hs * sizeof(real));
        }
    }
}

/* Scratch of the flash kernels, per participant: P and dS of one tile. */
static size_t flash_scratch_reals(const att_dims *d) { return (size_t)2 * ATT_TILE * d->Tk; }

static void forward_units(void *arg, size_t lo, size_t hi)
{
    const att_args *a = arg;
    real *own = a->att ? NULL : a->scratch + (size_t)pool_participant() * flash_scratch_reals(a->d);
    for (size_t u = lo; u < hi; u++)
        forward_unit(a, own, (int)(u / a->d->H), (int)(u % a->d->H));
}

void attention_forward(real *out, real *att, const real *q, const real *k, const real *v, const att_dims *d)
{
    if (use_direct(d)) {
        forward_direct(out, att, q, k, v, d);
        return;
    }
    run_units((long)d->B * d->H, d, forward_units, &(att_args){.d = d, .out = out, .att = att, .q = q, .k = k, .v = v});
}

/* The backward pass's scratch: a Tq x Tk block per participant, then, for a table shared by a batch
 * of two or more, the partial tables of its key and value gradients (shared_tables). */
static size_t participant_scratch(const att_dims *d) { return (size_t)pool_size() * d->Tq * d->Tk; }

static int shared_splits(const att_dims *d);

static size_t shared_tables_size(const att_dims *d)
{
    if (d->B < 2)
        return 0;
    const size_t rows = (size_t)shared_splits(d) * d->Tk;
    return (d->bsk == 0 ? rows * d->ldk : 0) + (d->bsv == 0 ? rows * d->ldv : 0);
}

size_t attention_scratch_size(const att_dims *d) { return participant_scratch(d) + shared_tables_size(d); }

/* dS over the rows of a head's whole [Tq, Tk] block (backward_unit). */
static void dscores_rows(void *arg, size_t lo, size_t hi)
{
    const tile_rows_args *a = arg;
    const int Tk = a->d->Tk;
    for (size_t i = lo; i < hi; i++) {
        int lo_key, hi_key;
        row_keys(a->d, a->i0 + (int)i, &lo_key, &hi_key);
        real *g = a->G + i * (size_t)Tk;
        softmax_backward_row(g, a->A + i * (size_t)Tk, lo_key, hi_key);
        memset(g, 0, (size_t)lo_key * sizeof(real));
        memset(g + hi_key, 0, (size_t)(Tk - hi_key) * sizeof(real));
    }
}

/* One (batch, head) of the backward pass, with a Tq x Tk scratch of its own. */
static void backward_unit(real *dq, real *dk, real *dv, real *scratch, const real *dout, const real *q,
                          const real *k, const real *v, const real *att, const att_dims *d, int b, int h)
{
    const int Tq = d->Tq, Tk = d->Tk, hs = d->hs;
    const size_t hq = (size_t)b * d->bsq + (size_t)h * hs;
    const size_t hk = (size_t)b * d->bsk + (size_t)h * hs;
    const size_t hv = (size_t)b * d->bsv + (size_t)h * hs;
    const real *dob = dout + (size_t)b * d->bso + (size_t)h * hs;
    const real *A = att + ((size_t)b * d->H + h) * Tq * Tk;

    /* dv += P^T dout */
    if (dv)
        for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
            tile_span(d, i0, &i1, &c0, &c1);
            if (c1 > c0)
                blas_gemm(1, 0, c1 - c0, hs, i1 - i0, 1, A + (size_t)i0 * Tk + c0, Tk,
                          dob + (size_t)i0 * d->ldo, d->ldo, 1, dv + hv + (size_t)c0 * d->ldv, d->ldv);
        }
    if (!dq && !dk)
        return;

    /* dP = dout v^T into scratch */
    for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
        tile_span(d, i0, &i1, &c0, &c1);
        if (c1 > c0)
            blas_gemm(0, 1, i1 - i0, c1 - c0, hs, 1, dob + (size_t)i0 * d->ldo, d->ldo,
                      v + hv + (size_t)c0 * d->ldv, d->ldv, 0, scratch + (size_t)i0 * Tk + c0, Tk);
    }

    /* dS = P * (dP - rowsum(dP * P)): O(Tk) per row; masked entries (and a row without keys)
     * become exactly 0, so they pass nothing on. */
    tile_rows_run(&(tile_rows_args){.d = d, .A = A, .G = scratch, .i0 = 0}, Tq, dscores_rows);

    /* dq += scale dS k;  dk += scale dS^T q */
    for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
        tile_span(d, i0, &i1, &c0, &c1);
        if (c1 <= c0)
            continue;
        const real *S = scratch + (size_t)i0 * Tk + c0;
        if (dq)
            blas_gemm(0, 0, i1 - i0, hs, c1 - c0, d->scale, S, Tk, k + hk + (size_t)c0 * d->ldk,
                      d->ldk, 1, dq + hq + (size_t)i0 * d->ldq, d->ldq);
        if (dk)
            blas_gemm(1, 0, c1 - c0, hs, i1 - i0, d->scale, S, Tk, q + hq + (size_t)i0 * d->ldq,
                      d->ldq, 1, dk + hk + (size_t)c0 * d->ldk, d->ldk);
    }
}

/* A table shared by the batch (the mosaic's persistent memory) gets its gradient summed over the
 * batch. Its units are (head, range of the batch): ATT_SHARED_SPLITS ranges (fewer for a shorter
 * batch), each adding its sequences' terms in order into a zeroed partial table of its own, and the
 * partials are then added to dk / dv range by range in order. The number of ranges is fixed, not
 * the thread count's, so the bits do not depend on the threads. (Whole heads as units, as before,
 * left 16 cores with 4 or 8 units: benchmarks/NOTES.md section 17.) */
#define ATT_SHARED_SPLITS 8

static int shared_splits(const att_dims *d) { return d->B < ATT_SHARED_SPLITS ? d->B : ATT_SHARED_SPLITS; }

/* Zeroes head h's columns of the Tk rows of one partial table: the unit that then adds into them
 * writes them first, in parallel with the other units (no other unit touches those columns). */
static void zero_head_columns(real *table, int ld, const att_dims *d, int h)
{
    if (!table)
        return;
    for (int u = 0; u < d->Tk; u++)
        memset(table + (size_t)u * ld + (size_t)h * d->hs, 0, (size_t)d->hs * sizeof(real));
}

/* Units of the products path's backward pass: one (batch, head), or with a shared table one (head,
 * range of the batch) whose shared gradients go to its range's partial tables (a->dkt, a->dvt:
 * [splits][Tk rows of ldk / ldv], in the scratch after the participants' blocks); each participant
 * works in its own Tq x Tk scratch. */
static void backward_units(void *arg, size_t lo, size_t hi)
{
    const att_args *a = arg;
    const att_dims *d = a->d;
    const int B = d->B, H = d->H;
    real *own = a->scratch + (size_t)pool_participant() * d->Tq * d->Tk;
    for (size_t u = lo; u < hi; u++) {
        if (!a->shared) {
            backward_unit(a->dq, a->dk, a->dv, own, a->dout, a->q, a->k, a->v, a->att, d, (int)(u / H),
                          (int)(u % H));
            continue;
        }
        const int S = shared_splits(d), sp = (int)(u / H), h = (int)(u % H);
        real *dk = a->dkt ? a->dkt + (size_t)sp * d->Tk * d->ldk : a->dk;
        real *dv = a->dvt ? a->dvt + (size_t)sp * d->Tk * d->ldv : a->dv;
        zero_head_columns(a->dkt ? dk : NULL, d->ldk, d, h);
        zero_head_columns(a->dvt ? dv : NULL, d->ldv, d, h);
        for (int b = (int)((long)sp * B / S); b < (int)((long)(sp + 1) * B / S); b++)
            backward_unit(a->dq, dk, dv, own, a->dout, a->q, a->k, a->v, a->att, d, b, h);
    }
}

/* x[u * ld + c] += part[sp][u * ld + c] over the splits in order, for the heads' columns c < H hs. */
static void shared_fold_rows(void *arg, size_t lo, size_t hi)
{
    const att_args *a = arg;
    const att_dims *d = a->d;
    const int S = shared_splits(d), C = d->H * d->hs, ld = a->ld;
    const size_t table = (size_t)d->Tk * ld;
    for (size_t u = lo; u < hi; u++) {
        real *row = a->t + u * ld;
        for (int sp = 0; sp < S; sp++) {
            const real *p = a->part + sp * table + u * ld;
            for (int c = 0; c < C; c++)
                row[c] += p[c];
        }
    }
}

static void shared_fold(real *x, int ld, const real *part, const att_dims *d)
{
    pool_for((size_t)d->Tk, enough_work(d), shared_fold_rows, &(att_args){.d = d, .t = x, .part = part, .ld = ld});
}

void attention_backward(real *dq, real *dk, real *dv, real *scratch, const real *dout, const real *q,
                        const real *k, const real *v, const real *att, const att_dims *d)
{
    if (!dq && !dk && !dv)
        return;
    if (use_direct(d)) {
        backward_direct(dq, dk, dv, dout, q, k, v, att, d);
        return;
    }
    /* Without a shared table every (batch, head) writes rows of its own. q and k may be one buffer
     * (the mosaic's keys are their own queries): a unit then writes dq and dk of its own (batch,
     * head) alone. */
    const int B = d->B, H = d->H;
    const int shared_k = B > 1 && dk && d->bsk == 0, shared_v = B > 1 && dv && d->bsv == 0;
    if (!shared_k && !shared_v) {
        run_units((long)B * H, d, backward_units,
                  &(att_args){.d = d, .dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .dout = dout, .q = q,
                              .k = k, .v = v, .att = (real *)att});
        return;
    }
    /* The partial tables live in the caller's scratch, not in memory allocated and freed per call:
     * 2 x 29 MB at 512x4x512 (1,792 slots) went back to the kernel on every free, and on many
     * threads the next call's page faults and the return's TLB shootdowns serialised
     * (benchmarks/NOTES.md section 21). */
    const int S = shared_splits(d);
    real *tables = scratch + participant_scratch(d);
    real *dkt = shared_k ? tables : NULL;
    real *dvt = shared_v ? tables + (d->bsk == 0 ? (size_t)S * d->Tk * d->ldk : 0) : NULL;
    run_units((long)S * H, d, backward_units,
              &(att_args){.d = d, .dq = dq, .dk = dk, .dv = dv, .dkt = dkt, .dvt = dvt, .scratch = scratch,
                          .dout = dout, .q = q, .k = k, .v = v, .att = (real *)att, .shared = 1});
    if (dkt)
        shared_fold(dk, d->ldk, dkt, d);
    if (dvt)
        shared_fold(dv, d->ldv, dvt, d);
}

/* ---- the flash path: probabilities recomputed, never kept ------------------------------------ */

/* The products path without the [B, H, Tq, Tk] probabilities: per (batch, head) and per tile of
 * ATT_TILE query rows, the tile's logits and softmax rows are computed into a scratch of ATT_TILE x Tk
 * of the participant's own, used, and dropped; the backward pass computes them again, tile by tile,
 * before it needs them (FlashAttention-2's recomputation, on whole key ranges: a tile's rows fit in
 * the scratch, so the softmax needs no running rescale). The tile's products and its softmax rows are
 * the very calls of the products path above, so the probabilities, the output and every gradient
 * have the same bits as there; only a q that is also k (dq and dk one buffer) sums its two terms in
 * another order, and a full mask is cut into tiles here where the products path makes one product
 * per head (OpenBLAS may round an element differently in a product of another size). Memory:
 * 2 ATT_TILE Tk reals per participant, freed on return. The cost: the logits' product and softmax
 * once more in the backward pass. */

/* One (batch, head) of the backward pass: per tile, P again, then dv += P^T dout, dS = P * (dP -
 * rowsum(dP * P)) with dP = dout v^T, dq += scale dS k, dk += scale dS^T q. */
static void flash_backward_unit(const att_args *a, real *P, int b, int h)
{
    const att_dims *d = a->d;
    const int Tq = d->Tq, Tk = d->Tk, hs = d->hs;
    const size_t hq = (size_t)b * d->bsq + (size_t)h * hs;
    const size_t hk = (size_t)b * d->bsk + (size_t)h * hs;
    const size_t hv = (size_t)b * d->bsv + (size_t)h * hs;
    const real *dob = a->dout + (size_t)b * d->bso + (size_t)h * hs;
    real *G = P + (size_t)ATT_TILE * Tk;
    for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
        tile_span_of(d, ATT_TILE, i0, &i1, &c0, &c1);
        if (c1 <= c0)
            continue;
        tile_probs(P, a->q + hq, a->k + hk, d, h, i0, i1, c0, c1);
        if (a->dv)
            blas_gemm(1, 0, c1 - c0, hs, i1 - i0, 1, P + c0, Tk, dob + (size_t)i0 * d->ldo, d->ldo, 1,
                      a->dv + hv + (size_t)c0 * d->ldv, d->ldv);
        if (!a->dq && !a->dk)
            continue;
        blas_gemm(0, 1, i1 - i0, c1 - c0, hs, 1, dob + (size_t)i0 * d->ldo, d->ldo, a->v + hv + (size_t)c0 * d->ldv,
                  d->ldv, 0, G + c0, Tk);
        for (int i = i0; i < i1; i++) {
            int lo, hi;
            row_keys(d, i, &lo, &hi);
            real *g = G + (size_t)(i - i0) * Tk;
            softmax_backward_row(g, P + (size_t)(i - i0) * Tk, lo, hi);
            /* the tile's columns this row may not see pass nothing on (c0 <= lo <= hi <= c1) */
            memset(g + c0, 0, (size_t)(lo - c0) * sizeof(real));
            memset(g + hi, 0, (size_t)(c1 - hi) * sizeof(real));
        }
        if (a->dq)
            blas_gemm(0, 0, i1 - i0, hs, c1 - c0, d->scale, G + c0, Tk, a->k + hk + (size_t)c0 * d->ldk, d->ldk,
                      1, a->dq + hq + (size_t)i0 * d->ldq, d->ldq);
        if (a->dk)
            blas_gemm(1, 0, c1 - c0, hs, i1 - i0, d->scale, G + c0, Tk, a->q + hq + (size_t)i0 * d->ldq, d->ldq,
                      1, a->dk + hk + (size_t)c0 * d->ldk, d->ldk);
    }
}

static void flash_backward_units(void *arg, size_t lo, size_t hi)
{
    const att_args *a = arg;
    real *own = a->scratch + (size_t)pool_participant() * flash_scratch_reals(a->d);
    for (size_t u = lo; u < hi; u++)
        flash_backward_unit(a, own, (int)(u / a->d->H), (int)(u % a->d->H));
}

int attention_flash_supports(const att_dims *d)
{
    return !use_direct(d) && d->bsk != 0 && d->bsv != 0;
}

static void flash_check(const att_dims *d)
{
    if (!attention_flash_supports(d))
        fatal("internal: flash attention needs per-sequence keys and a head size above %d (hs %d)", ATT_DIRECT_HS,
              d->hs);
}

static void flash_run(pool_fn fn, att_args *a)
{
    a->scratch = xmalloc((size_t)pool_size() * flash_scratch_reals(a->d) * sizeof(real));
    run_units((long)a->d->B * a->d->H, a->d, fn, a);
    free(a->scratch);
}

void attention_forward_flash(real *out, const real *q, const real *k, const real *v, const att_dims *d)
{
    flash_check(d);
    flash_run(forward_units, &(att_args){.d = d, .out = out, .q = q, .k = k, .v = v});
}

void attention_backward_flash(real *dq, real *dk, real *dv, const real *dout, const real *q, const real *k,
                              const real *v, const att_dims *d)
{
    flash_check(d);
    if (!dq && !dk && !dv)
        return;
    flash_run(flash_backward_units, &(att_args){.d = d, .dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k,
                                                .v = v});
}
