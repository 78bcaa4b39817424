/* Sequence kernels in the float build that training uses: attention (also with ALiBi's biases, on
 * both kernel paths) at a realistic size against a naive reference computed in float, and the same
 * bits from one thread and from two (attention and the leaky average, forward and backward); the
 * flash attention kernels give the stored-probabilities kernels' bits. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "core/rng.h"
#include "core/threads.h"
#include "test_util.h"

_Static_assert(sizeof(real) == sizeof(float), "check_seq_float tests the float build");

static real *normal_buf(size_t n, uint64_t seed)
{
    real *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    rng r = rng_stream(seed, RNG_STREAM_USER + 11);
    for (size_t i = 0; i < n; i++)
        p[i] = (real)rng_normal(&r);
    return p;
}

static real *zero_buf(size_t n)
{
    real *p = calloc(n, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static att_dims dims_self(int B, int T, int H, int hs, att_mask mask)
{
    const int C = H * hs;
    return (att_dims){.B = B, .Tq = T, .Tk = T, .H = H, .hs = hs, .ldq = C, .ldk = C, .ldv = C, .ldo = C,
                      .bsq = (size_t)T * C, .bsk = (size_t)T * C, .bsv = (size_t)T * C, .bso = (size_t)T * C,
                      .mask = mask, .scale = (real)(1 / sqrt(hs))};
}

/* Float all the way: the reference gets no extra precision the kernel does not have. */
static void att_naive_float(float *out, const float *q, const float *k, const float *v, const att_dims *d)
{
    const int C = d->H * d->hs, T = d->Tq;
    float *w = malloc((size_t)T * sizeof *w);
    ck_assert_ptr_nonnull(w);
    for (int b = 0; b < d->B; b++)
        for (int h = 0; h < d->H; h++)
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * C + h * d->hs;
                float m = -INFINITY;
                int any = 0;
                for (int u = 0; u < T; u++) {
                    if (!att_allowed(d->mask, t, u))
                        continue;
                    const float *ku = k + ((size_t)b * T + u) * C + h * d->hs;
                    float dot = 0;
                    for (int j = 0; j < d->hs; j++)
                        dot += qt[j] * ku[j];
                    w[u] = d->scale * dot;
                    if (d->alibi)
                        w[u] -= d->alibi[h] * (float)(t - u);
                    m = fmaxf(m, w[u]);
                    any = 1;
                }
                float z = 0;
                for (int u = 0; u < T; u++)
                    if (att_allowed(d->mask, t, u))
                        z += expf(w[u] - m);
                float *ot = out + ((size_t)b * T + t) * C + h * d->hs;
                for (int j = 0; j < d->hs; j++) {
                    float acc = 0;
                    for (int u = 0; u < T; u++)
                        if (att_allowed(d->mask, t, u))
                            acc += expf(w[u] - m) * v[((size_t)b * T + u) * C + h * d->hs + j];
                    ot[j] = any ? acc / z : 0;
                }
            }
    free(w);
}

typedef struct {
    int B, T, H, hs;
    att_mask mask;
    int alibi;   /* ALiBi's slopes (alibi_slopes) */
} float_case;

static const float_case FLOAT_CASES[] = {
    {2, 64, 4, 16, {ATT_CAUSAL, 0}, 0},
    {2, 64, 4, 16, {ATT_STRICT, 0}, 0},
    /* ALiBi through the products (hs 16) and the direct path (hs 2), over several row tiles */
    {2, 130, 4, 16, {ATT_CAUSAL, 0}, 1},
    {2, 130, 6, 2, {ATT_CAUSAL, 0}, 1},
    {1, 100, 3, 16, {ATT_FULL, 0}, 1},
    {1, 100, 5, 4, {ATT_STRICT, 0}, 1},
};

START_TEST(test_attention_float_matches_naive)
{
    const float_case *c = &FLOAT_CASES[_i];
    const int B = c->B, T = c->T, H = c->H, hs = c->hs, C = H * hs;
    real slopes[8];
    att_dims d = dims_self(B, T, H, hs, c->mask);
    if (c->alibi) {
        alibi_slopes(slopes, H);
        d.alibi = slopes;
    }
    const size_t n = (size_t)B * T * C;
    real *q = normal_buf(n, 1), *k = normal_buf(n, 2), *v = normal_buf(n, 3);
    real *out = zero_buf(n), *ref = zero_buf(n), *att = zero_buf((size_t)B * H * T * T);
    attention_forward(out, att, q, k, v, &d);
    att_naive_float(ref, q, k, v, &d);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)out[i] - ref[i]) / fmax(fabs(ref[i]), 1.0);
        worst = fmax(worst, err);
    }
    ck_assert_msg(worst < 1e-5, "float attention differs from the naive float reference by %g", worst);
    if (attention_flash_supports(&d)) {
        /* the kernel that keeps no probabilities: the same bits, except under the full mask (one
         * product of Tq rows per head there, tiles of 64 rows in the flash kernel) */
        real *flash = zero_buf(n);
        attention_forward_flash(flash, q, k, v, &d);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(c->mask.kind == ATT_FULL ? fabs((double)flash[i] - out[i]) <= 1e-6 * fmax(fabs(out[i]), 1.0)
                                                   : memcmp(&flash[i], &out[i], sizeof(real)) == 0,
                          "flash attention's output %zu: %.9g vs %.9g", i, flash[i], out[i]);
        free(flash);
    }
    /* each row of probabilities sums to one, or is all zero for a row without keys */
    for (size_t r = 0; r < (size_t)B * H * T; r++) {
        double s = 0;
        for (int u = 0; u < T; u++)
            s += att[r * T + u];
        const int t = (int)(r % T);
        ck_assert(c->mask.kind == ATT_STRICT && t == 0 ? s == 0 : fabs(s - 1) < 1e-5);
    }
    free(q), free(k), free(v), free(out), free(ref), free(att);
}
END_TEST

/* Forward and backward of attention and of the leaky average, with n threads; every buffer the
 * kernels write is returned in one block (attention first) so that runs can be compared bit by bit.
 *
 * OpenBLAS (0.3.21 here) itself gives different bits with 1 and with 2 threads once it splits a
 * product between threads (M*N*K above 4*65536; a plain cblas_sgemm of 64x64x128 already shows
 * it), while repeating a product with the same thread count gives the same bits. So: the core's own
 * loops (every softmax row, every scan) must not depend on the thread count at all; attention at
 * sizes whose products OpenBLAS keeps on one thread must be identical for 1 and 2 threads; above
 * that, identical for the same thread count and equal to float round-off across thread counts. */
typedef struct {
    int B, T, H, hs;
    att_mask mask;
    int blas_splits;   /* products large enough for OpenBLAS to thread */
    int alibi;
} det_case;

static size_t det_att_size(const det_case *c)
{
    const size_t n = (size_t)c->B * c->T * c->H * c->hs;
    return 4 * n + (size_t)c->B * c->H * c->T * c->T;
}

static size_t det_size(const det_case *c)
{
    const size_t n = (size_t)c->B * c->T * c->H * c->hs;
    return det_att_size(c) + 2 * n + c->H;
}

static real *det_run(const det_case *c, int threads, int flash)
{
    threads_set(threads);
    real slopes[8];
    att_dims d = dims_self(c->B, c->T, c->H, c->hs, c->mask);
    if (c->alibi) {
        alibi_slopes(slopes, c->H);
        d.alibi = slopes;
    }
    const size_t n = (size_t)c->B * c->T * c->H * c->hs;
    real *q = normal_buf(n, 21), *k = normal_buf(n, 22), *v = normal_buf(n, 23), *dout = normal_buf(n, 24);
    real *theta = normal_buf((size_t)c->H, 25);
    real *res = zero_buf(det_size(c));
    real *out = res, *dq = out + n, *dk = dq + n, *dv = dk + n, *att = dv + n;
    real *leaky = res + det_att_size(c), *dx = leaky + n, *dtheta = dx + n;
    real *scratch = zero_buf(attention_scratch_size(&d));
    if (flash) {   /* the kernels that keep no probabilities (att stays 0) */
        attention_forward_flash(out, q, k, v, &d);
        attention_backward_flash(dq, dk, dv, dout, q, k, v, &d);
    } else {
        attention_forward(out, att, q, k, v, &d);
        attention_backward(dq, dk, dv, scratch, dout, q, k, v, att, &d);
    }
    leaky_avg_forward(leaky, q, theta, c->B, c->T, c->H, c->hs);
    leaky_avg_backward(dx, dtheta, dout, leaky, theta, c->B, c->T, c->H, c->hs, 0);
    free(q), free(k), free(v), free(dout), free(theta), free(scratch);
    return res;
}

static const det_case DET_CASES[] = {
    {2, 64, 4, 16, {ATT_CAUSAL, 0}, 0, 0},
    {2, 64, 4, 16, {ATT_STRICT, 0}, 0, 0},
    {2, 256, 2, 64, {ATT_CAUSAL, 0}, 1, 0},
    {2, 200, 2, 64, {ATT_BLOCK, 48}, 1, 0},
    {2, 64, 4, 16, {ATT_CAUSAL, 0}, 0, 1},
    {2, 64, 4, 2, {ATT_CAUSAL, 0}, 0, 1},
};

static int same_bits(const real *a, const real *b, size_t n, size_t *where)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(real)) != 0) {
            *where = i;
            return 0;
        }
    return 1;
}

/* One thread against several, where a product tiled over the pool may round otherwise than one
 * call: every element within 1e-5 relative (absolute below 1). */
static void expect_round_off(const real *one, const real *many, size_t n, const char *what, int threads)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)one[i] - many[i]) <= 1e-5 * fmax(fabs(one[i]), 1.0),
                      "%s element %zu: %.9g (1 thread) vs %.9g (%d)", what, i, one[i], many[i], threads);
}

START_TEST(test_seq_kernels_deterministic_across_threads)
{
    const det_case *c = &DET_CASES[_i];
    const int saved = threads_get();
    real *one = det_run(c, 1, 0);
    real *two = det_run(c, 2, 0);
    real *again = det_run(c, 2, 0);
    threads_set(saved);
    const size_t n = det_size(c), natt = det_att_size(c);
    size_t at;
    ck_assert_msg(same_bits(two, again, n, &at), "element %zu differs between two runs on 2 threads", at);
    ck_assert_msg(same_bits(one + natt, two + natt, n - natt, &at),
                  "leaky average element %zu: %.9g (1 thread) vs %.9g (2)", at, one[natt + at], two[natt + at]);
    if (!c->blas_splits) {
        ck_assert_msg(same_bits(one, two, natt, &at), "attention element %zu: %.9g (1 thread) vs %.9g (2)", at,
                      one[at], two[at]);
    } else {
        expect_round_off(one, two, natt, "attention", 2);
    }
    free(one);
    free(two);
    free(again);
}
END_TEST

/* The same promises for the flash kernels, which must also give the stored-probabilities kernels'
 * bits for the same thread count (out, dq, dk, dv: det_run's first 4 n elements). */
START_TEST(test_flash_deterministic_across_threads)
{
    const det_case *c = &DET_CASES[_i];
    att_dims d = dims_self(c->B, c->T, c->H, c->hs, c->mask);
    if (!attention_flash_supports(&d))
        return;   /* the direct path's head sizes */
    const int saved = threads_get();
    real *one = det_run(c, 1, 1);
    real *two = det_run(c, 2, 1);
    real *again = det_run(c, 2, 1);
    real *stored = det_run(c, 2, 0);
    threads_set(saved);
    const size_t n = 4 * (size_t)c->B * c->T * c->H * c->hs;   /* out, dq, dk, dv */
    size_t at;
    ck_assert_msg(same_bits(two, again, n, &at), "flash element %zu differs between two runs on 2 threads", at);
    ck_assert_msg(same_bits(two, stored, n, &at), "flash element %zu: %.9g vs the stored kernel's %.9g", at, two[at],
                  stored[at]);
    if (!c->blas_splits)
        ck_assert_msg(same_bits(one, two, n, &at), "flash element %zu: %.9g (1 thread) vs %.9g (2)", at, one[at],
                      two[at]);
    else
        expect_round_off(one, two, n, "flash", 2);
    free(one);
    free(two);
    free(again);
    free(stored);
}
END_TEST

/* Fewer attention units than threads (kernels_attention.c, run_units): a table of keys shared by
 * the batch (the mosaic's persistent memory) has one backward unit per (head, range of the batch),
 * 2 here (1 head, 2 sequences) on 4 threads, so the units run one after another with their products
 * tiled over the pool, and the two ranges' partial tables are added in order. Every output and
 * gradient: the same bits in two runs on 4 threads, and within float round-off of one thread (a
 * product tiled over the pool may round otherwise than one call). */
static real *shared_table_run(int threads, int B, int T, int H, size_t *len)
{
    threads_set(threads);
    const int P = 160, hs = 32, C = H * hs;
    att_dims d = {.B = B, .Tq = T, .Tk = P, .H = H, .hs = hs, .ldq = C, .ldk = C, .ldv = C, .ldo = C,
                  .bsq = (size_t)T * C, .bsk = 0, .bsv = 0, .bso = (size_t)T * C, .mask = {ATT_FULL, 0},
                  .scale = (real)(1 / sqrt(hs))};
    const size_t nq = (size_t)B * T * C, nk = (size_t)P * C, natt = (size_t)B * H * T * P;
    real *q = normal_buf(nq, 31), *k = normal_buf(nk, 32), *v = normal_buf(nk, 33), *dout = normal_buf(nq, 34);
    *len = 2 * nq + 2 * nk + natt;
    real *res = zero_buf(*len), *out = res, *dq = out + nq, *dk = dq + nq, *dv = dk + nk;
    real *att = dv + nk, *scratch = zero_buf(attention_scratch_size(&d));
    attention_forward(out, att, q, k, v, &d);
    attention_backward(dq, dk, dv, scratch, dout, q, k, v, att, &d);
    free(q), free(k), free(v), free(dout), free(scratch);
    return res;
}

/* Case 0 as above; case 1 is the model's own layout of the persistent memory, the batch as one
 * long sequence of queries (B 1, 2 heads: 2 units on 4 threads), where each unit's softmax rows and
 * their gradients also go over the pool (tile_rows_run). */
START_TEST(test_fewer_units_than_threads)
{
    static const int shape[2][3] = {{2, 96, 1}, {1, 512, 2}};   /* B, T, H */
    const int *c = shape[_i], saved = threads_get();
    size_t n, at;
    real *one = shared_table_run(1, c[0], c[1], c[2], &n), *four = shared_table_run(4, c[0], c[1], c[2], &n);
    real *again = shared_table_run(4, c[0], c[1], c[2], &n);
    threads_set(saved);
    ck_assert_msg(same_bits(four, again, n, &at), "element %zu differs between two runs on 4 threads", at);
    expect_round_off(one, four, n, "shared table", 4);
    free(one), free(four), free(again);
}
END_TEST

Suite *suite_seq_float(void)
{
    Suite *s = suite_create("seq_float");
    TCase *tc = tcase_create("float");
    tcase_add_loop_test(tc, test_attention_float_matches_naive, 0, (int)(sizeof FLOAT_CASES / sizeof FLOAT_CASES[0]));
    tcase_add_loop_test(tc, test_seq_kernels_deterministic_across_threads, 0,
                        (int)(sizeof DET_CASES / sizeof DET_CASES[0]));
    tcase_add_loop_test(tc, test_flash_deterministic_across_threads, 0, (int)(sizeof DET_CASES / sizeof DET_CASES[0]));
    tcase_add_loop_test(tc, test_fewer_units_than_threads, 0, 2);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
