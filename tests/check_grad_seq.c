/* Sequence ops in double precision: attention under every mask kind (also cached queries, shared
 * key/value tables and ALiBi's biases, on both kernel paths), the leaky average, the look-ahead mix, the time shift and the complex
 * matrix, each against a naive reference written with explicit loops and against central
 * differences; plus the mask's promises: no leakage from disallowed keys, and rows without keys
 * (keys without queries) that output and pass exactly nothing.
 * MEMLAB_GRADCHECK_VERBOSE=1 prints every gradient check's worst error on stderr. */
#include <check.h>
#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gradcheck.h"
#include "core/kernels.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "test_util.h"

#define REF_TOL 1e-12

static void fill_normal(tensor *t, uint64_t seed)
{
    rng r = rng_stream(seed, RNG_STREAM_USER + 7);
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)rng_normal(&r);
}

/* Relative to the values' own scale (they are O(1)): an output near zero that is the sum of O(1)
 * terms cannot be held to 1e-12 of itself. */
static void expect_near_unit(double got, double want, double tol, const char *what, size_t idx)
{
    double scale = fmax(fabs(want), 1.0);
    ck_assert_msg(fabs(got - want) <= tol * scale, "%s[%zu]: %.17g vs reference %.17g", what, idx, got,
                  want);
}


/* ---- attention -------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    att_mask mask;
    int B, Tq, Tk, H, hs;
    int shared; /* k and v are [Tk, C] tables shared by the batch */
    int alibi;  /* op_attention_alibi: ALiBi's per-head linear biases */
} att_case;

static const att_case ATT_CASES[] = {
    {"causal", {ATT_CAUSAL, 0}, 2, 7, 7, 2, 3, 0, 0},
    {"strict", {ATT_STRICT, 0}, 2, 7, 7, 2, 3, 0, 0},
    {"full", {ATT_FULL, 0}, 2, 7, 7, 2, 3, 0, 0},
    {"block3", {ATT_BLOCK, 3}, 2, 7, 7, 2, 3, 0, 0},
    {"causal cached", {ATT_CAUSAL, 0}, 2, 3, 7, 2, 3, 0, 0},
    {"strict cached", {ATT_STRICT, 0}, 2, 2, 7, 2, 3, 0, 0},
    {"block3 cached", {ATT_BLOCK, 3}, 2, 4, 7, 2, 3, 0, 0},
    {"shared full", {ATT_FULL, 0}, 2, 4, 6, 2, 3, 1, 0},
    {"shared causal", {ATT_CAUSAL, 0}, 2, 4, 6, 2, 3, 1, 0},
    /* head sizes above the kernel's direct path (hs <= 4) take the BLAS path */
    {"causal hs6", {ATT_CAUSAL, 0}, 2, 7, 7, 2, 6, 0, 0},
    {"strict hs6", {ATT_STRICT, 0}, 2, 7, 7, 2, 6, 0, 0},
    {"block3 cached hs5", {ATT_BLOCK, 3}, 2, 4, 7, 2, 5, 0, 0},
    {"shared full hs5", {ATT_FULL, 0}, 2, 4, 6, 2, 5, 1, 0},
    /* the mosaic's persistent memory as the model lays it out, one long sequence against the
     * table: the CPU op splits its rows into 8 sequences (ops_seq.c, attention_cpu_dims) */
    {"shared full one long sequence", {ATT_FULL, 0}, 1, 512, 6, 2, 5, 1, 0},
    /* longer than the kernel's row tile (64): several tiles with their own key ranges */
    {"causal long", {ATT_CAUSAL, 0}, 1, 130, 130, 2, 1, 0, 0},
    {"strict long", {ATT_STRICT, 0}, 1, 130, 130, 2, 1, 0, 0},
    {"block37 long", {ATT_BLOCK, 37}, 1, 130, 130, 2, 1, 0, 0},
    {"strict cached long", {ATT_STRICT, 0}, 1, 80, 130, 2, 1, 0, 0},
    /* ALiBi on the direct path (hs <= 4) and on the products (hs 6, 5); 3 and 6 heads take the
     * slopes' rule for a count that is not a power of two; cached rows sit at t = i + Tk - Tq */
    {"alibi causal", {ATT_CAUSAL, 0}, 2, 7, 7, 4, 3, 0, 1},
    {"alibi causal cached", {ATT_CAUSAL, 0}, 2, 3, 7, 3, 2, 0, 1},
    {"alibi full", {ATT_FULL, 0}, 2, 5, 7, 2, 4, 0, 1},
    {"alibi strict", {ATT_STRICT, 0}, 2, 7, 7, 2, 1, 0, 1},
    {"alibi shared causal", {ATT_CAUSAL, 0}, 2, 4, 6, 2, 3, 1, 1},
    {"alibi causal hs6", {ATT_CAUSAL, 0}, 2, 7, 7, 4, 6, 0, 1},
    {"alibi causal cached hs6", {ATT_CAUSAL, 0}, 2, 3, 7, 3, 6, 0, 1},
    {"alibi full hs5", {ATT_FULL, 0}, 2, 5, 7, 6, 5, 0, 1},
    {"alibi block3 hs5", {ATT_BLOCK, 3}, 2, 7, 7, 2, 5, 0, 1},
    {"alibi shared full hs5", {ATT_FULL, 0}, 2, 4, 6, 2, 5, 1, 1},
    {"alibi causal long", {ATT_CAUSAL, 0}, 1, 130, 130, 2, 1, 0, 1},
    {"alibi causal long hs5", {ATT_CAUSAL, 0}, 1, 66, 66, 1, 5, 0, 1},
};
#define N_ATT_CASES ((int)(sizeof ATT_CASES / sizeof ATT_CASES[0]))
#define ATT_SCALE 0.9

typedef struct {
    const att_case *c;
    tensor *q, *k, *v;
} att_setup;

static att_setup att_make(const att_case *c, uint64_t seed)
{
    const int C = c->H * c->hs;
    att_setup s = {.c = c};
    s.q = tensor_alloc(3, (int[]){c->B, c->Tq, C}, 1);
    if (c->shared) {
        s.k = tensor_alloc(2, (int[]){c->Tk, C}, 1);
        s.v = tensor_alloc(2, (int[]){c->Tk, C}, 1);
    } else {
        s.k = tensor_alloc(3, (int[]){c->B, c->Tk, C}, 1);
        s.v = tensor_alloc(3, (int[]){c->B, c->Tk, C}, 1);
    }
    fill_normal(s.q, seed);
    fill_normal(s.k, seed + 1);
    fill_normal(s.v, seed + 2);
    return s;
}

static void att_free(att_setup *s)
{
    tensor_free(s->q);
    tensor_free(s->k);
    tensor_free(s->v);
}

/* Element (b, row, col) of a [B,T,C] tensor or of a [T,C] table shared by the batch. */
static double at(const tensor *x, int b, int row, int col)
{
    const int C = x->shape[x->ndim - 1], T = x->shape[x->ndim - 2];
    const int bb = x->ndim == 2 ? 0 : b;
    return x->data[((size_t)bb * T + row) * C + col];
}

/* ALiBi's slopes as the paper's get_slopes computes them: 2^(-8/n)^(i+1) for the n = 2^k heads
 * at or below H, then every other slope of 2n. */
static void alibi_reference(double *m, int H)
{
    int n = 1;
    while (2 * n <= H)
        n *= 2;
    for (int h = 0; h < n; h++)
        m[h] = pow(pow(2, -8.0 / n), h + 1);
    for (int h = n; h < H; h++)
        m[h] = pow(pow(2, -8.0 / (2 * n)), 2 * (h - n) + 1);
}

/* The textbook definition, one query row at a time. */
static void att_naive(double *out, const att_setup *s)
{
    const att_case *c = s->c;
    const int C = c->H * c->hs;
    double *w = malloc((size_t)c->Tk * sizeof *w);
    double *slope = calloc((size_t)c->H, sizeof *slope);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(slope);
    if (c->alibi)
        alibi_reference(slope, c->H);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < c->Tq; i++) {
                const int t = i + c->Tk - c->Tq;
                double m = -INFINITY;
                for (int u = 0; u < c->Tk; u++) {
                    if (!att_allowed(c->mask, t, u))
                        continue;
                    double dot = 0;
                    for (int j = 0; j < c->hs; j++)
                        dot += at(s->q, b, i, h * c->hs + j) * at(s->k, b, u, h * c->hs + j);
                    w[u] = ATT_SCALE * dot - slope[h] * (t - u);
                    m = fmax(m, w[u]);
                }
                double z = 0;
                for (int u = 0; u < c->Tk; u++)
                    if (att_allowed(c->mask, t, u))
                        z += exp(w[u] - m);
                for (int j = 0; j < c->hs; j++) {
                    double acc = 0;
                    for (int u = 0; u < c->Tk; u++)
                        if (att_allowed(c->mask, t, u))
                            acc += exp(w[u] - m) / z * at(s->v, b, u, h * c->hs + j);
                    out[((size_t)b * c->Tq + i) * C + h * c->hs + j] = acc;
                }
            }
    free(w);
    free(slope);
}

static tensor *att_op(tape *tp, const att_case *c, tensor *q, tensor *k, tensor *v)
{
    return c->alibi ? op_attention_alibi(tp, q, k, v, c->H, c->mask, ATT_SCALE)
                    : op_attention(tp, q, k, v, c->H, c->mask, ATT_SCALE);
}

/* The op's output with the tape off, copied to the heap. */
static real *att_eval(const att_setup *s, tensor *k, tensor *v)
{
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = att_op(&tp, s->c, s->q, k, v);
    real *copy = malloc(o->n * sizeof(real));
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, o->data, o->n * sizeof(real));
    tape_free(&tp);
    return copy;
}

static tensor *att_loss(tape *tp, tensor *const *in, void *ctx)
{
    const att_case *c = ctx;
    return gradcheck_weighted_sum(tp, att_op(tp, c, in[0], in[1], in[2]), 11);
}

START_TEST(test_attention_forward_matches_naive)
{
    const att_case *c = &ATT_CASES[_i];
    att_setup s = att_make(c, 100 + (uint64_t)_i);
    real *got = att_eval(&s, s.k, s.v);
    size_t n = (size_t)c->B * c->Tq * c->H * c->hs;
    double *want = malloc(n * sizeof *want);
    ck_assert_ptr_nonnull(want);
    att_naive(want, &s);
    for (size_t i = 0; i < n; i++)
        expect_near_unit(got[i], want[i], REF_TOL, c->name, i);
    free(want);
    free(got);
    att_free(&s);
}
END_TEST

START_TEST(test_attention_gradcheck)
{
    const att_case *c = &ATT_CASES[_i];
    att_setup s = att_make(c, 200 + (uint64_t)_i);
    char what[64];
    snprintf(what, sizeof what, "attention %s", c->name);
    expect_gradcheck(att_loss, (tensor *[]){s.q, s.k, s.v}, 3, (void *)c, what);
    att_free(&s);
}
END_TEST

/* Moving the key and the value at position u changes nothing, exactly, in any row that may not
 * see u (every disallowed (t, u) pair is checked; one forward pass per moved position). */
START_TEST(test_attention_no_leakage)
{
    const att_case *c = &ATT_CASES[_i];
    const int C = c->H * c->hs;
    att_setup s = att_make(c, 300 + (uint64_t)_i);
    real *base = att_eval(&s, s.k, s.v);
    tensor *k2 = tensor_alloc(s.k->ndim, s.k->shape, 0);
    tensor *v2 = tensor_alloc(s.v->ndim, s.v->shape, 0);
    int pairs = 0;
    for (int kb = 0; kb < (c->shared ? 1 : c->B); kb++)
        for (int u = 0; u < c->Tk; u++) {
            memcpy(k2->data, s.k->data, s.k->n * sizeof(real));
            memcpy(v2->data, s.v->data, s.v->n * sizeof(real));
            const size_t row = ((size_t)kb * c->Tk + u) * C;
            for (int j = 0; j < C; j++) {
                k2->data[row + j] += 5 + j;
                v2->data[row + j] -= 7 + j;
            }
            real *moved = att_eval(&s, k2, v2);
            for (int b = 0; b < c->B; b++) {
                if (!c->shared && b != kb)
                    continue;
                for (int i = 0; i < c->Tq; i++) {
                    const int t = i + c->Tk - c->Tq;
                    if (att_allowed(c->mask, t, u))
                        continue;
                    pairs++;
                    for (int j = 0; j < C; j++) {
                        const size_t o = ((size_t)b * c->Tq + i) * C + j;
                        ck_assert_msg(moved[o] == base[o], "%s: row (b=%d, t=%d) changed when key %d moved",
                                      c->name, b, t, u);
                    }
                }
            }
            free(moved);
        }
    if (c->mask.kind != ATT_FULL)
        ck_assert_int_gt(pairs, 0);
    tensor_free(k2);
    tensor_free(v2);
    free(base);
    att_free(&s);
}
END_TEST

/* A query row without keys outputs exactly zero and gets exactly zero gradient; a key no row may
 * see gets exactly zero gradient (STRICT: row 0, and the last key). */
START_TEST(test_attention_empty_rows_and_unseen_keys)
{
    const att_case *c = &ATT_CASES[_i];
    const int C = c->H * c->hs;
    att_setup s = att_make(c, 400 + (uint64_t)_i);
    tape tp;
    tape_init(&tp);
    tensor *o = att_op(&tp, c, s.q, s.k, s.v);
    tape_backward(&tp, gradcheck_weighted_sum(&tp, o, 5));
    int empty_rows = 0, unseen_keys = 0;
    for (int i = 0; i < c->Tq; i++) {
        int seen = 0;
        for (int u = 0; u < c->Tk; u++)
            seen |= att_allowed(c->mask, i + c->Tk - c->Tq, u);
        if (seen)
            continue;
        empty_rows++;
        for (int b = 0; b < c->B; b++)
            for (int j = 0; j < C; j++) {
                const size_t e = ((size_t)b * c->Tq + i) * C + j;
                ck_assert_msg(o->data[e] == 0, "%s: output of empty row %d is %g", c->name, i, o->data[e]);
                ck_assert_msg(s.q->grad[e] == 0, "%s: dq of empty row %d is %g", c->name, i, s.q->grad[e]);
            }
    }
    for (int u = 0; u < c->Tk; u++) {
        int seen = 0;
        for (int i = 0; i < c->Tq; i++)
            seen |= att_allowed(c->mask, i + c->Tk - c->Tq, u);
        if (seen)
            continue;
        unseen_keys++;
        for (int b = 0; b < (c->shared ? 1 : c->B); b++)
            for (int j = 0; j < C; j++) {
                const size_t e = ((size_t)b * c->Tk + u) * C + j;
                ck_assert_msg(s.k->grad[e] == 0 && s.v->grad[e] == 0, "%s: unseen key %d has gradient",
                              c->name, u);
            }
    }
    if (c->mask.kind == ATT_STRICT && c->Tq == c->Tk) {
        ck_assert_int_eq(empty_rows, 1);   /* position 0 */
        ck_assert_int_eq(unseen_keys, 1);  /* the last position */
    }
    tape_free(&tp);
    att_free(&s);
}
END_TEST

/* ---- the flash kernel (probabilities recomputed, never kept) ---------------------------------- */

/* Every per-sequence case of the products path, under every mask, and a few more: several row tiles
 * (the tile is 64 rows) with a head size of the products path, and q that is k (the mosaic's
 * keys as their own queries: dq and dk one buffer). */
static const att_case FLASH_CASES[] = {
    {"causal hs6", {ATT_CAUSAL, 0}, 2, 7, 7, 2, 6, 0, 0},
    {"strict hs6", {ATT_STRICT, 0}, 2, 7, 7, 2, 6, 0, 0},
    {"full hs5", {ATT_FULL, 0}, 2, 5, 7, 2, 5, 0, 0},
    {"block3 cached hs5", {ATT_BLOCK, 3}, 2, 4, 7, 2, 5, 0, 0},
    {"causal cached hs5", {ATT_CAUSAL, 0}, 2, 3, 7, 2, 5, 0, 0},
    {"alibi causal hs6", {ATT_CAUSAL, 0}, 2, 7, 7, 4, 6, 0, 1},
    {"alibi strict cached hs5", {ATT_STRICT, 0}, 2, 3, 7, 3, 5, 0, 1},
    {"causal long hs5", {ATT_CAUSAL, 0}, 1, 130, 130, 1, 5, 0, 0},
    {"strict long hs5", {ATT_STRICT, 0}, 1, 130, 130, 1, 5, 0, 0},
    {"block37 long hs5", {ATT_BLOCK, 37}, 1, 130, 130, 1, 5, 0, 0},
    {"alibi strict cached long hs5", {ATT_STRICT, 0}, 1, 80, 130, 1, 5, 0, 1},
};
#define N_FLASH_CASES ((int)(sizeof FLASH_CASES / sizeof FLASH_CASES[0]))
/* Cases run with q as k (Tq = Tk, shares the buffer and its gradient). */
static int flash_q_is_k(int i) { return i == 1 || i == 8; }

static att_dims *flash_dims(tape *tp, const att_case *c)
{
    const int C = c->H * c->hs;
    att_dims *d = tape_alloc(tp, sizeof *d);
    *d = (att_dims){.B = c->B, .Tq = c->Tq, .Tk = c->Tk, .H = c->H, .hs = c->hs, .ldq = C, .ldk = C, .ldv = C,
                    .ldo = C, .bsq = (size_t)c->Tq * C, .bsk = (size_t)c->Tk * C, .bsv = (size_t)c->Tk * C,
                    .bso = (size_t)c->Tq * C, .mask = c->mask, .scale = ATT_SCALE};
    if (c->alibi) {
        real *m = tape_alloc(tp, (size_t)c->H * sizeof(real));
        alibi_slopes(m, c->H);
        d->alibi = m;
    }
    return d;
}

static void flash_bwd(tape *tp, tape_node *nd)
{
    tensor *q = nd->in[0], *k = nd->in[1], *v = nd->in[2];
    attention_backward_flash(needs_grad(q) ? q->grad : NULL, needs_grad(k) ? k->grad : NULL,
                             needs_grad(v) ? v->grad : NULL, nd->out->grad, q->data, k->data, v->data, nd->saved[0]);
}

/* The flash kernels as an op of their own, so that central differences see them whatever kernel
 * op_attention picks. */
static tensor *flash_op(tape *tp, const att_case *c, tensor *q, tensor *k, tensor *v)
{
    att_dims *d = flash_dims(tp, c);
    ck_assert(attention_flash_supports(d));
    tensor *out = tape_tensor(tp, 3, (int[]){c->B, c->Tq, c->H * c->hs});
    attention_forward_flash(out->data, q->data, k->data, v->data, d);
    tape_node *nd = tape_record(tp, flash_bwd, out, 3, (tensor *[]){q, k, v});
    if (nd)
        nd->saved[0] = d;
    return out;
}

static tensor *flash_loss(tape *tp, tensor *const *in, void *ctx)
{
    const att_case *c = ctx;
    return gradcheck_weighted_sum(tp, flash_op(tp, c, in[0], in[1], in[2]), 11);
}

static tensor *flash_loss_q_is_k(tape *tp, tensor *const *in, void *ctx)
{
    const att_case *c = ctx;
    return gradcheck_weighted_sum(tp, flash_op(tp, c, in[0], in[0], in[1]), 11);
}

START_TEST(test_flash_matches_naive_and_gradcheck)
{
    const att_case *c = &FLASH_CASES[_i];
    att_setup s = att_make(c, 600 + (uint64_t)_i);
    const int q_is_k = flash_q_is_k(_i);
    if (q_is_k) {
        ck_assert_int_eq(c->Tq, c->Tk);
        memcpy(s.k->data, s.q->data, s.q->n * sizeof(real));
    }
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = flash_op(&tp, c, s.q, q_is_k ? s.q : s.k, s.v);
    const size_t n = o->n;
    double *want = malloc(n * sizeof *want);
    ck_assert_ptr_nonnull(want);
    att_naive(want, &s);
    for (size_t i = 0; i < n; i++)
        expect_near_unit(o->data[i], want[i], REF_TOL, c->name, i);
    free(want);
    tape_free(&tp);

    char what[80];
    snprintf(what, sizeof what, "flash attention %s%s", c->name, q_is_k ? " (q is k)" : "");
    if (q_is_k)
        expect_gradcheck(flash_loss_q_is_k, (tensor *[]){s.q, s.v}, 2, (void *)c, what);
    else
        expect_gradcheck(flash_loss, (tensor *[]){s.q, s.k, s.v}, 3, (void *)c, what);
    att_free(&s);
}
END_TEST

/* The flash kernels compute the stored-probabilities kernels' very products and softmax rows:
 * output and gradients are the same bits (q distinct from k). */
START_TEST(test_flash_same_bits_as_stored)
{
    const att_case *c = &FLASH_CASES[_i];
    att_setup s = att_make(c, 700 + (uint64_t)_i);
    tape tp;
    tape_init(&tp);
    att_dims *d = flash_dims(&tp, c);
    const size_t nq = s.q->n, nk = s.k->n, natt = (size_t)c->B * c->H * c->Tq * c->Tk;
    real *buf = calloc(2 * (2 * nq + 2 * nk) + natt + attention_scratch_size(d), sizeof(real));
    ck_assert_ptr_nonnull(buf);
    real *o1 = buf, *dq1 = o1 + nq, *dk1 = dq1 + nq, *dv1 = dk1 + nk;
    real *o2 = dv1 + nk, *dq2 = o2 + nq, *dk2 = dq2 + nq, *dv2 = dk2 + nk;
    real *att = dv2 + nk, *scratch = att + natt;
    real *dout = s.q->grad;   /* any values: the q tensor's gradient buffer, filled below */
    for (size_t i = 0; i < nq; i++)
        dout[i] = (real)sin(0.37 * (double)i);
    attention_forward(o1, att, s.q->data, s.k->data, s.v->data, d);
    attention_backward(dq1, dk1, dv1, scratch, dout, s.q->data, s.k->data, s.v->data, att, d);
    attention_forward_flash(o2, s.q->data, s.k->data, s.v->data, d);
    attention_backward_flash(dq2, dk2, dv2, dout, s.q->data, s.k->data, s.v->data, d);
    ck_assert_msg(memcmp(o1, o2, nq * sizeof(real)) == 0, "%s: outputs differ", c->name);
    ck_assert_msg(memcmp(dq1, dq2, nq * sizeof(real)) == 0, "%s: dq differs", c->name);
    ck_assert_msg(memcmp(dk1, dk2, nk * sizeof(real)) == 0, "%s: dk differs", c->name);
    ck_assert_msg(memcmp(dv1, dv2, nk * sizeof(real)) == 0, "%s: dv differs", c->name);
    free(buf);
    tape_free(&tp);
    att_free(&s);
}
END_TEST

/* op_attention_qkv reads q | k | v inside one [B, T, 3C] tensor: the same output and the same
 * gradient of qkv, bit for bit, as op_attention of its three slices (the gpt's two spellings). */
static const att_case QKV_CASES[] = {
    {"causal hs6", {ATT_CAUSAL, 0}, 2, 7, 7, 2, 6, 0, 0},
    {"alibi causal hs6", {ATT_CAUSAL, 0}, 2, 7, 7, 4, 6, 0, 1},
    {"full hs5", {ATT_FULL, 0}, 2, 7, 7, 2, 5, 0, 0},
    {"strict hs5", {ATT_STRICT, 0}, 2, 7, 7, 2, 5, 0, 0},   /* the stored-probabilities kernel */
    {"causal hs3", {ATT_CAUSAL, 0}, 2, 7, 7, 2, 3, 0, 0},   /* the direct path */
};

static tensor *qkv_loss(tape *tp, tensor *const *in, void *ctx)
{
    const att_case *c = ctx;
    return gradcheck_weighted_sum(tp, op_attention_qkv(tp, in[0], c->H, c->mask, ATT_SCALE, c->alibi), 11);
}

START_TEST(test_attention_qkv_is_the_slices)
{
    const att_case *c = &QKV_CASES[_i];
    const int C = c->H * c->hs;
    tensor *qkv = tensor_alloc(3, (int[]){c->B, c->Tq, 3 * C}, 1);
    fill_normal(qkv, 800 + (uint64_t)_i);
    real *grads[2], *outs[2];
    for (int way = 0; way < 2; way++) {
        memset(qkv->grad, 0, qkv->n * sizeof(real));
        tape tp;
        tape_init(&tp);
        tensor *o;
        if (way == 0) {
            o = op_attention_qkv(&tp, qkv, c->H, c->mask, ATT_SCALE, c->alibi);
        } else {
            tensor *q = op_slice(&tp, qkv, -1, 0, C), *k = op_slice(&tp, qkv, -1, C, C),
                   *v = op_slice(&tp, qkv, -1, 2 * C, C);
            o = att_op(&tp, c, q, k, v);
        }
        tape_backward(&tp, gradcheck_weighted_sum(&tp, o, 5));
        outs[way] = malloc(o->n * sizeof(real));
        grads[way] = malloc(qkv->n * sizeof(real));
        ck_assert(outs[way] && grads[way]);
        memcpy(outs[way], o->data, o->n * sizeof(real));
        memcpy(grads[way], qkv->grad, qkv->n * sizeof(real));
        tape_free(&tp);
    }
    const size_t nout = (size_t)c->B * c->Tq * C;
    ck_assert_msg(memcmp(outs[0], outs[1], nout * sizeof(real)) == 0, "%s: outputs differ", c->name);
    ck_assert_msg(memcmp(grads[0], grads[1], qkv->n * sizeof(real)) == 0, "%s: gradients differ", c->name);
    char what[64];
    snprintf(what, sizeof what, "attention qkv %s", c->name);
    expect_gradcheck(qkv_loss, &qkv, 1, (void *)c, what);
    for (int way = 0; way < 2; way++) {
        free(outs[way]);
        free(grads[way]);
    }
    tensor_free(qkv);
}
END_TEST

START_TEST(test_attention_shared_table_is_the_repeated_table)
{
    /* A [Tk,C] table must give what the same table repeated over the batch gives, and its
     * gradient must be the batch sum of the repeated table's gradients. */
    const att_case shared = {"shared", {ATT_FULL, 0}, 3, 4, 5, 2, 3, 1, 0};
    const att_case rep = {"repeated", {ATT_FULL, 0}, 3, 4, 5, 2, 3, 0, 0};
    const int C = 6;
    att_setup a = att_make(&shared, 500), r = att_make(&rep, 500);
    memcpy(r.q->data, a.q->data, a.q->n * sizeof(real));
    for (int b = 0; b < 3; b++) {
        memcpy(r.k->data + (size_t)b * 5 * C, a.k->data, a.k->n * sizeof(real));
        memcpy(r.v->data + (size_t)b * 5 * C, a.v->data, a.v->n * sizeof(real));
    }
    tensor *const ain[] = {a.q, a.k, a.v}, *const rin[] = {r.q, r.k, r.v};
    tape ta, tr; /* one tape each: a second backward on one tape would run the first graph again */
    tape_init(&ta);
    tape_init(&tr);
    tensor *la = att_loss(&ta, ain, (void *)&shared);
    tape_backward(&ta, la);
    tensor *lr = att_loss(&tr, rin, (void *)&rep);
    tape_backward(&tr, lr);
    expect_near_unit(la->data[0], lr->data[0], REF_TOL, "loss", 0);
    for (size_t e = 0; e < a.q->n; e++)
        expect_near_unit(a.q->grad[e], r.q->grad[e], REF_TOL, "dq", e);
    for (size_t e = 0; e < a.k->n; e++) {
        double dk = 0, dv = 0;
        for (int b = 0; b < 3; b++) {
            dk += r.k->grad[(size_t)b * a.k->n + e];
            dv += r.v->grad[(size_t)b * a.v->n + e];
        }
        expect_near_unit(a.k->grad[e], dk, REF_TOL, "dk", e);
        expect_near_unit(a.v->grad[e], dv, REF_TOL, "dv", e);
    }
    tape_free(&ta);
    tape_free(&tr);
    att_free(&a);
    att_free(&r);
}
END_TEST

/* The kernel's slopes are the paper's, and with H = 8 the familiar 1/2, 1/4, ..., 1/256. */
START_TEST(test_alibi_slopes)
{
    for (int H = 1; H <= 16; H++) {
        real got[16];
        double want[16];
        alibi_slopes(got, H);
        alibi_reference(want, H);
        for (int h = 0; h < H; h++)
            ck_assert_msg(fabs(got[h] - want[h]) <= 1e-14 * want[h], "H=%d slope %d: %.17g vs %.17g", H, h,
                          got[h], want[h]);
    }
    real m[8];
    alibi_slopes(m, 8);
    for (int h = 0; h < 8; h++)
        ck_assert(m[h] == ldexp(1, -(h + 1)));
    alibi_slopes(m, 3);   /* the 2-head slopes 2^-4, 2^-8, then the first of the 4-head ones, 2^-2 */
    ck_assert(m[0] == 0.0625 && m[1] == 0.00390625 && m[2] == 0.25);
}
END_TEST

START_TEST(test_attention_heads_must_divide_width)
{
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); /* the expected message */
    tape tp;
    tape_init(&tp);
    tensor *x = tape_tensor_zeros(&tp, 3, (int[]){1, 2, 6});
    op_attention(&tp, x, x, x, 4, (att_mask){ATT_CAUSAL, 0}, 1);
}
END_TEST

/* ---- leaky average ------------------------------------------------------------------------------ */

enum { LB = 2, LT = 6, LH = 3, LHS = 2, LC = LH * LHS };

static tensor *theta_make(const double *values, int H)
{
    tensor *t = tensor_alloc(1, (int[]){H}, 1);
    for (int h = 0; h < H; h++)
        t->data[h] = (real)values[h];
    return t;
}

static real *leaky_eval(tensor *x, tensor *theta)
{
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = op_leaky_avg(&tp, x, theta);
    real *copy = malloc(o->n * sizeof(real));
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, o->data, o->n * sizeof(real));
    tape_free(&tp);
    return copy;
}

static tensor *leaky_loss(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_leaky_avg(tp, in[0], in[1]), 13);
}

/* The same on a produced input, whose gradient the leaky average writes first (stores; the double
 * build hands that buffer out full of NaNs), as a linear's output in the mosaic. */
static tensor *leaky_loss_produced(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_leaky_avg(tp, op_scale(tp, in[0], (real)1.5), in[1]), 13);
}

START_TEST(test_leaky_avg_matches_recursion_and_gradcheck)
{
    const double th[LH] = {0.7, -1.3, 2.0};
    tensor *x = tensor_alloc(3, (int[]){LB, LT, LC}, 1);
    tensor *theta = theta_make(th, LH);
    fill_normal(x, 600);
    real *got = leaky_eval(x, theta);
    for (int b = 0; b < LB; b++)
        for (int c = 0; c < LC; c++) {
            const double a = exp(-fabs(th[c / LHS]));
            double prev = 0;
            for (int t = 0; t < LT; t++) {
                const size_t e = ((size_t)b * LT + t) * LC + c;
                const double cur = x->data[e] + (t > 0 ? a * prev : 0);
                expect_near_unit(got[e], cur, REF_TOL, "leaky average", e);
                prev = cur;
            }
        }
    free(got);
    expect_gradcheck(leaky_loss, (tensor *[]){x, theta}, 2, NULL, "leaky average");
    expect_gradcheck(leaky_loss_produced, (tensor *[]){x, theta}, 2, NULL, "leaky average of a produced input");
    tensor_free(x);
    tensor_free(theta);
}
END_TEST

START_TEST(test_leaky_avg_limits)
{
    tensor *x = tensor_alloc(3, (int[]){LB, LT, LC}, 0);
    fill_normal(x, 601);
    /* theta -> infinity: a = 0, the identity, exactly */
    tensor *big = theta_make((double[]){1e3, -1e3, 1e3}, LH);
    real *id = leaky_eval(x, big);
    for (size_t e = 0; e < x->n; e++)
        ck_assert_msg(id[e] == x->data[e], "identity broken at %zu", e);
    free(id);
    /* theta -> 0: a -> 1, a running sum */
    tensor *small = theta_make((double[]){1e-9, -1e-9, 1e-9}, LH);
    real *sum = leaky_eval(x, small);
    for (int b = 0; b < LB; b++)
        for (int c = 0; c < LC; c++) {
            double run = 0;
            for (int t = 0; t < LT; t++) {
                const size_t e = ((size_t)b * LT + t) * LC + c;
                run += x->data[e];
                expect_near_unit(sum[e], run, 1e-7, "running sum", e);
            }
        }
    free(sum);
    tensor_free(big);
    tensor_free(small);
    tensor_free(x);
}
END_TEST

/* ---- look-ahead mix ----------------------------------------------------------------------------- */

static tensor *mix_loss(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_lookahead_mix(tp, in[0], in[1]), 17);
}

/* On a produced input, whose gradient the mix writes first (stores), as the mosaic's W_v x. */
static tensor *mix_loss_produced(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_lookahead_mix(tp, op_scale(tp, in[0], (real)1.5), in[1]), 17);
}

START_TEST(test_lookahead_mix)
{
    const double cv[LH] = {0.3, 0.8, -0.2};
    tensor *x = tensor_alloc(3, (int[]){LB, LT, LC}, 1);
    tensor *c = theta_make(cv, LH);
    fill_normal(x, 700);
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = op_lookahead_mix(&tp, x, c);
    for (int b = 0; b < LB; b++)
        for (int t = 0; t < LT; t++)
            for (int ch = 0; ch < LC; ch++) {
                const size_t e = ((size_t)b * LT + t) * LC + ch;
                const double w = cv[ch / LHS];
                const double next = t + 1 < LT ? x->data[e + LC] : 0;
                expect_near_unit(o->data[e], w * x->data[e] + (1 - w) * next, REF_TOL, "lookahead mix", e);
            }
    tape_free(&tp);
    expect_gradcheck(mix_loss, (tensor *[]){x, c}, 2, NULL, "lookahead mix");
    expect_gradcheck(mix_loss_produced, (tensor *[]){x, c}, 2, NULL, "lookahead mix of a produced input");
    tensor_free(x);
    tensor_free(c);
}
END_TEST

/* ---- time shift --------------------------------------------------------------------------------- */

enum { SB = 2, ST = 5, SC = 3 };
static const int SHIFTS[] = {1, -1, 2, -3, ST, -ST, ST + 4, -ST - 9, 0};

static tensor *shift_loss(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_time_shift(tp, in[0], *(const int *)ctx), 19);
}

START_TEST(test_time_shift)
{
    const int k = SHIFTS[_i];
    tensor *x = tensor_alloc(3, (int[]){SB, ST, SC}, 1);
    fill_normal(x, 800);
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = op_time_shift(&tp, x, k);
    for (int b = 0; b < SB; b++)
        for (int t = 0; t < ST; t++)
            for (int c = 0; c < SC; c++) {
                const int s = t + k;
                const double want = s >= 0 && s < ST ? x->data[((size_t)b * ST + s) * SC + c] : 0;
                ck_assert_msg(o->data[((size_t)b * ST + t) * SC + c] == want, "shift %d: (b=%d,t=%d,c=%d)", k,
                              b, t, c);
            }
    tape_free(&tp);
    char what[64];
    snprintf(what, sizeof what, "time shift %d", k);
    expect_gradcheck(shift_loss, (tensor *[]){x}, 1, (void *)&SHIFTS[_i], what);
    tensor_free(x);
}
END_TEST

/* ---- complex matrix ------------------------------------------------------------------------------ */

enum { CN = 3 };

static tensor *complex_loss(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_complex_matrix(tp, in[0]), 23);
}

START_TEST(test_complex_matrix)
{
    tensor *p = tensor_alloc(3, (int[]){2, CN, CN}, 1);
    fill_normal(p, 900);
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *W = op_complex_matrix(&tp, p);
    ck_assert_int_eq(W->ndim, 2);
    ck_assert_int_eq(W->shape[0], 2 * CN);
    ck_assert_int_eq(W->shape[1], 2 * CN);
    const int w = 2 * CN;
    for (int i = 0; i < CN; i++)
        for (int j = 0; j < CN; j++) {
            const real a = p->data[i * CN + j], b = p->data[CN * CN + i * CN + j];
            ck_assert(W->data[(2 * i) * w + 2 * j] == a);
            ck_assert(W->data[(2 * i) * w + 2 * j + 1] == -b);
            ck_assert(W->data[(2 * i + 1) * w + 2 * j] == b);
            ck_assert(W->data[(2 * i + 1) * w + 2 * j + 1] == a);
        }
    /* W on interleaved (re, im) pairs is the complex matrix on complex numbers. */
    double x[2 * CN];
    rng r = rng_stream(901, RNG_STREAM_USER);
    for (int j = 0; j < 2 * CN; j++)
        x[j] = rng_normal(&r);
    for (int i = 0; i < CN; i++) {
        double complex z = 0;
        for (int j = 0; j < CN; j++)
            z += (p->data[i * CN + j] + I * p->data[CN * CN + i * CN + j]) * (x[2 * j] + I * x[2 * j + 1]);
        double re = 0, im = 0;
        for (int j = 0; j < w; j++) {
            re += W->data[(2 * i) * w + j] * x[j];
            im += W->data[(2 * i + 1) * w + j] * x[j];
        }
        expect_near_unit(re, creal(z), REF_TOL, "complex product (re)", (size_t)i);
        expect_near_unit(im, cimag(z), REF_TOL, "complex product (im)", (size_t)i);
    }
    tape_free(&tp);
    expect_gradcheck(complex_loss, (tensor *[]){p}, 1, NULL, "complex matrix");
    tensor_free(p);
}
END_TEST

Suite *suite_grad_seq(void)
{
    Suite *s = suite_create("grad_seq");
    TCase *att = tcase_create("attention");
    tcase_add_loop_test(att, test_attention_forward_matches_naive, 0, N_ATT_CASES);
    tcase_add_loop_test(att, test_attention_gradcheck, 0, N_ATT_CASES);
    tcase_add_loop_test(att, test_attention_no_leakage, 0, N_ATT_CASES);
    tcase_add_loop_test(att, test_attention_empty_rows_and_unseen_keys, 0, N_ATT_CASES);
    tcase_add_test(att, test_attention_shared_table_is_the_repeated_table);
    tcase_add_loop_test(att, test_flash_matches_naive_and_gradcheck, 0, N_FLASH_CASES);
    tcase_add_loop_test(att, test_flash_same_bits_as_stored, 0, N_FLASH_CASES);
    tcase_add_loop_test(att, test_attention_qkv_is_the_slices, 0, (int)(sizeof QKV_CASES / sizeof QKV_CASES[0]));
    tcase_add_test(att, test_alibi_slopes);
    tcase_add_exit_test(att, test_attention_heads_must_divide_width, 1);
    tcase_set_timeout(att, 60);
    suite_add_tcase(s, att);
    TCase *tm = tcase_create("time");
    tcase_add_test(tm, test_leaky_avg_matches_recursion_and_gradcheck);
    tcase_add_test(tm, test_leaky_avg_limits);
    tcase_add_test(tm, test_lookahead_mix);
    tcase_add_loop_test(tm, test_time_shift, 0, (int)(sizeof SHIFTS / sizeof SHIFTS[0]));
    tcase_set_timeout(tm, 60);
    suite_add_tcase(s, tm);
    TCase *cx = tcase_create("complex");
    tcase_add_test(cx, test_complex_matrix);
    tcase_set_timeout(cx, 60);
    suite_add_tcase(s, cx);
    return s;
}
