/* Rotary position embedding in double precision: op_rope against its definition written with
 * explicit loops (GPT-NeoX / LLaMA pairs (i, i + hs/2), angle p * 10000^(-2i/hs)), against central
 * differences, and its promises: a rotation (norms kept), relative (a q.k product depends on the
 * positions only through their difference), and pos0 places the rows as a longer sequence would. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "test_util.h"

#define REF_TOL 1e-12

typedef struct {
    int B, T, H, hs, pos0;
} rope_case;

static const rope_case ROPE_CASES[] = {
    {2, 5, 2, 4, 0},
    {1, 6, 3, 6, 0},    /* an odd number of pairs per head */
    {2, 4, 1, 2, 7},    /* one pair; a later first position */
    {1, 3, 2, 8, 1000}, /* angles of hundreds of radians */
};
#define N_ROPE_CASES ((int)(sizeof ROPE_CASES / sizeof ROPE_CASES[0]))

static tensor *rope_input(const rope_case *c, uint64_t seed)
{
    rng r = rng_stream(seed, RNG_STREAM_USER + 3);
    return rand_tensor(&r, 3, (int[]){c->B, c->T, c->H * c->hs}, -1, 1);
}

static real *rope_eval(tensor *x, int H, int pos0)
{
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = op_rope(&tp, x, H, pos0);
    real *copy = malloc(o->n * sizeof(real));
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, o->data, o->n * sizeof(real));
    tape_free(&tp);
    return copy;
}

START_TEST(test_rope_matches_definition)
{
    const rope_case *c = &ROPE_CASES[_i];
    const int C = c->H * c->hs, half = c->hs / 2;
    tensor *x = rope_input(c, 10 + (uint64_t)_i);
    real *got = rope_eval(x, c->H, c->pos0);
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->T; t++)
            for (int h = 0; h < c->H; h++)
                for (int i = 0; i < c->hs; i++) {
                    const int pair = i % half;
                    const double theta = (c->pos0 + t) * pow(10000.0, -2.0 * pair / c->hs);
                    const size_t row = ((size_t)b * c->T + t) * C + (size_t)h * c->hs;
                    const double x1 = x->data[row + pair], x2 = x->data[row + pair + half];
                    const double want = i < half ? x1 * cos(theta) - x2 * sin(theta)
                                                 : x2 * cos(theta) + x1 * sin(theta);
                    ck_assert_msg(fabs(got[row + i] - want) <= REF_TOL, "case %d (b=%d, t=%d, h=%d, i=%d): %.17g vs %.17g",
                                  _i, b, t, h, i, got[row + i], want);
                }
    free(got);
    tensor_free(x);
}
END_TEST

static tensor *rope_loss(tape *tp, tensor *const *in, void *ctx)
{
    const rope_case *c = ctx;
    return gradcheck_weighted_sum(tp, op_rope(tp, in[0], c->H, c->pos0), 29);
}

START_TEST(test_rope_gradcheck)
{
    const rope_case *c = &ROPE_CASES[_i];
    tensor *x = rope_input(c, 20 + (uint64_t)_i);
    char what[64];
    snprintf(what, sizeof what, "rope case %d", _i);
    expect_gradcheck(rope_loss, (tensor *[]){x}, 1, (void *)c, what);
    tensor_free(x);
}
END_TEST

/* Rotations keep every pair's length; q_t . k_u after RoPE depends on t - u alone: moving both by
 * the same pos0 changes no product; and pos0 = s gives rows s.. of the sequence started at 0. */
START_TEST(test_rope_is_relative)
{
    const rope_case c = {1, 6, 2, 4, 0};
    const int C = c.H * c.hs, half = c.hs / 2, shift = 11;
    tensor *q = rope_input(&c, 30), *k = rope_input(&c, 31);
    real *q0 = rope_eval(q, c.H, 0), *k0 = rope_eval(k, c.H, 0);
    real *qs = rope_eval(q, c.H, shift), *ks = rope_eval(k, c.H, shift);
    for (int t = 0; t < c.T; t++)
        for (int h = 0; h < c.H; h++)
            for (int i = 0; i < half; i++) {
                const size_t a = (size_t)t * C + (size_t)h * c.hs + i;
                ck_assert(fabs(hypot(q0[a], q0[a + half]) - hypot(q->data[a], q->data[a + half])) <= REF_TOL);
            }
    for (int t = 0; t < c.T; t++)
        for (int u = 0; u < c.T; u++)
            for (int h = 0; h < c.H; h++) {
                double d0 = 0, ds = 0;
                for (int j = 0; j < c.hs; j++) {
                    d0 += q0[(size_t)t * C + h * c.hs + j] * k0[(size_t)u * C + h * c.hs + j];
                    ds += qs[(size_t)t * C + h * c.hs + j] * ks[(size_t)u * C + h * c.hs + j];
                }
                ck_assert_msg(fabs(d0 - ds) <= REF_TOL, "t=%d u=%d h=%d: %.17g vs %.17g", t, u, h, d0, ds);
            }

    /* the last 2 rows, rotated as positions 4 and 5 */
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *tail = op_slice(&tp, q, 1, 4, 2);
    tensor *rt = op_rope(&tp, tail, c.H, 4);
    for (size_t e = 0; e < rt->n; e++)
        ck_assert(rt->data[e] == q0[4 * C + e]);
    tape_free(&tp);
    free(q0), free(k0), free(qs), free(ks);
    tensor_free(q);
    tensor_free(k);
}
END_TEST

START_TEST(test_rope_needs_even_heads)
{
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); /* the expected message */
    tape tp;
    tape_init(&tp);
    tensor *x = tape_tensor_zeros(&tp, 3, (int[]){1, 2, 6});
    op_rope(&tp, x, 2, 0);   /* heads of 3 */
}
END_TEST

Suite *suite_grad_rope(void)
{
    Suite *s = suite_create("grad_rope");
    TCase *tc = tcase_create("rope");
    tcase_add_loop_test(tc, test_rope_matches_definition, 0, N_ROPE_CASES);
    tcase_add_loop_test(tc, test_rope_gradcheck, 0, N_ROPE_CASES);
    tcase_add_test(tc, test_rope_is_relative);
    tcase_add_exit_test(tc, test_rope_needs_even_heads, 1);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
