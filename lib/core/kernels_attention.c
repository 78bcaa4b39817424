/* Masked multi-head attention on strided buffers. Per (batch, head) the logits and the weighted sum
 * of values are two matrix products through blas_gemm, reading head h in place (columns
 * h*hs .. h*hs+hs-1 of rows ldq / ldk / ldv apart), so q, k and v are never copied or transposed.
 * The softmax rows between the products are an OpenMP loop; no BLAS call runs inside it. */
#include <string.h>

#include "core/blas.h"
#include "core/kernels.h"

#ifdef MEMLAB_DOUBLE
#define REXP exp
#else
#define REXP expf
#endif

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

/* Rows [i0, i1) of the tile starting at i0, and the key columns [c0, c1) they may see. */
static void tile_span(const att_dims *d, int i0, int *i1, int *c0, int *c1)
{
    int end = i0 + tile_rows(d);
    if (end > d->Tq)
        end = d->Tq;
    int unused;
    row_keys(d, i0, c0, &unused);
    row_keys(d, end - 1, &unused, c1);
    *i1 = end;
}

/* Row softmax over the allowed logits p[lo..hi); every other entry becomes exactly 0 (no exp of
 * -inf anywhere), and a row without keys is all zero. */
static void softmax_row(real *p, int Tk, int lo, int hi)
{
    if (hi <= lo) {
        memset(p, 0, (size_t)Tk * sizeof(real));
        return;
    }
    real m = p[lo];
    for (int u = lo + 1; u < hi; u++)
        if (p[u] > m)
            m = p[u];
    real sum = 0;
    for (int u = lo; u < hi; u++) {
        p[u] = REXP(p[u] - m);
        sum += p[u];
    }
    real inv = 1 / sum;
    for (int u = lo; u < hi; u++)
        p[u] *= inv;
    memset(p, 0, (size_t)lo * sizeof(real));
    memset(p + hi, 0, (size_t)(Tk - hi) * sizeof(real));
}

void attention_forward(real *out, real *att, const real *q, const real *k, const real *v, const att_dims *d)
{
    const int B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk, hs = d->hs;
    const size_t TT = (size_t)Tq * Tk;

    /* Logits of every (batch, head) into att, only where some row of the tile may look. */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const real *qb = q + (size_t)b * d->bsq + (size_t)h * hs;
            const real *kb = k + (size_t)b * d->bsk + (size_t)h * hs;
            real *A = att + ((size_t)b * H + h) * TT;
            for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
                tile_span(d, i0, &i1, &c0, &c1);
                if (c1 > c0)
                    blas_gemm(0, 1, i1 - i0, c1 - c0, hs, d->scale, qb + (size_t)i0 * d->ldq, d->ldq,
                              kb + (size_t)c0 * d->ldk, d->ldk, 0, A + (size_t)i0 * Tk + c0, Tk);
            }
        }

    const long rows = (long)B * H * Tq;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int lo, hi;
        row_keys(d, (int)(r % Tq), &lo, &hi);
        softmax_row(att + (size_t)r * Tk, Tk, lo, hi);
    }

    /* out = P v over the same column ranges (P is exactly 0 elsewhere). */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const real *vb = v + (size_t)b * d->bsv + (size_t)h * hs;
            real *ob = out + (size_t)b * d->bso + (size_t)h * hs;
            const real *A = att + ((size_t)b * H + h) * TT;
            for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
                tile_span(d, i0, &i1, &c0, &c1);
                if (c1 > c0) {
                    blas_gemm(0, 0, i1 - i0, hs, c1 - c0, 1, A + (size_t)i0 * Tk + c0, Tk,
                              vb + (size_t)c0 * d->ldv, d->ldv, 0, ob + (size_t)i0 * d->ldo, d->ldo);
                } else {
                    for (int i = i0; i < i1; i++)
                        memset(ob + (size_t)i * d->ldo, 0, (size_t)hs * sizeof(real));
                }
            }
        }
}

void attention_backward(real *dq, real *dk, real *dv, real *scratch, const real *dout, const real *q,
                        const real *k, const real *v, const real *att, const att_dims *d)
{
    if (!dq && !dk && !dv)
        return;
    const int B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk, hs = d->hs;
    const size_t TT = (size_t)Tq * Tk;

    /* Batch and head are serial so that a shared k / v (batch stride 0) accumulates its gradient
     * over the batch through beta = 1 without any race. */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t hq = (size_t)b * d->bsq + (size_t)h * hs;
            const size_t hk = (size_t)b * d->bsk + (size_t)h * hs;
            const size_t hv = (size_t)b * d->bsv + (size_t)h * hs;
            const real *dob = dout + (size_t)b * d->bso + (size_t)h * hs;
            const real *A = att + ((size_t)b * H + h) * TT;

            /* dv += P^T dout */
            if (dv)
                for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
                    tile_span(d, i0, &i1, &c0, &c1);
                    if (c1 > c0)
                        blas_gemm(1, 0, c1 - c0, hs, i1 - i0, 1, A + (size_t)i0 * Tk + c0, Tk,
                                  dob + (size_t)i0 * d->ldo, d->ldo, 1, dv + hv + (size_t)c0 * d->ldv, d->ldv);
                }
            if (!dq && !dk)
                continue;

            /* dP = dout v^T into scratch */
            for (int i0 = 0, i1, c0, c1; i0 < Tq; i0 = i1) {
                tile_span(d, i0, &i1, &c0, &c1);
                if (c1 > c0)
                    blas_gemm(0, 1, i1 - i0, c1 - c0, hs, 1, dob + (size_t)i0 * d->ldo, d->ldo,
                              v + hv + (size_t)c0 * d->ldv, d->ldv, 0, scratch + (size_t)i0 * Tk + c0, Tk);
            }

            /* dS = P * (dP - rowsum(dP * P)): O(Tk) per row; masked entries (and a row without
             * keys) become exactly 0, so they pass nothing on. */
#pragma omp parallel for schedule(static) if (TT >= 4096)
            for (int i = 0; i < Tq; i++) {
                int lo, hi;
                row_keys(d, i, &lo, &hi);
                real *g = scratch + (size_t)i * Tk;
                const real *p = A + (size_t)i * Tk;
                real dot = 0;
                for (int u = lo; u < hi; u++)
                    dot += g[u] * p[u];
                for (int u = lo; u < hi; u++)
                    g[u] = p[u] * (g[u] - dot);
                memset(g, 0, (size_t)lo * sizeof(real));
                memset(g + hi, 0, (size_t)(Tk - hi) * sizeof(real));
            }

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
}
