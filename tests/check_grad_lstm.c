/* op_lstm in double precision: gradients against central differences with respect to the input
 * projection and the recurrent weights, together and one at a time (the other input needing no
 * gradient and getting none); gradients that accumulate; the shape check.
 * MEMLAB_GRADCHECK_VERBOSE=1 prints every gradient check's worst error on stderr. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "test_util.h"

typedef struct {
    int B, T, H;
} lstm_case;

static const lstm_case CASES[] = {{2, 5, 3}, {1, 1, 1}, {3, 4, 1}, {1, 7, 2}, {2, 3, 5}};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

/* A heap tensor as rand_tensor makes it, without its gradient buffer unless asked for. */
static tensor *rand_input(rng *r, int ndim, const int *shape, double a, int with_grad)
{
    tensor *t = rand_tensor(r, ndim, shape, -a, a);
    if (!with_grad) {
        free(t->grad);
        t->grad = NULL;
        t->requires_grad = 0;
    }
    return t;
}

/* xproj [B,T,4H] and w_hh [4H,H]. */
static void lstm_inputs(const lstm_case *c, uint64_t seed, int xgrad, int wgrad, tensor **xproj, tensor **w)
{
    rng r = rng_stream(seed, RNG_STREAM_USER + 3);
    *xproj = rand_input(&r, 3, (int[]){c->B, c->T, 4 * c->H}, 2, xgrad);
    *w = rand_input(&r, 2, (int[]){4 * c->H, c->H}, 0.8, wgrad);
}

static tensor *lstm_loss(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_lstm(tp, in[0], in[1]), 29);
}

/* The one checked input is in[0]; ctx holds the other and says which argument in[0] is. */
typedef struct {
    tensor *other;
    int checked_is_w;
} one_ctx;

static tensor *lstm_loss_one(tape *tp, tensor *const *in, void *ctx)
{
    const one_ctx *o = ctx;
    tensor *xproj = o->checked_is_w ? o->other : in[0], *w = o->checked_is_w ? in[0] : o->other;
    return gradcheck_weighted_sum(tp, op_lstm(tp, xproj, w), 29);
}

START_TEST(test_lstm_gradcheck)
{
    const lstm_case *c = &CASES[_i];
    tensor *x, *w;
    lstm_inputs(c, 100 + (uint64_t)_i, 1, 1, &x, &w);
    char what[64];
    snprintf(what, sizeof what, "lstm B=%d T=%d H=%d", c->B, c->T, c->H);
    expect_gradcheck(lstm_loss, (tensor *[]){x, w}, 2, NULL, what);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

/* _i = 0: only xproj needs a gradient; _i = 1: only w_hh. */
START_TEST(test_lstm_gradcheck_one_input)
{
    const lstm_case *c = &CASES[0];
    const int check_w = _i;
    tensor *x, *w;
    lstm_inputs(c, 200 + (uint64_t)_i, !check_w, check_w, &x, &w);
    one_ctx ctx = {check_w ? x : w, check_w};
    expect_gradcheck(lstm_loss_one, (tensor *[]){check_w ? w : x}, 1, &ctx,
                     check_w ? "lstm w_hh only" : "lstm xproj only");
    ck_assert_ptr_null(ctx.other->grad);
    ck_assert_int_eq(ctx.other->requires_grad, 0);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

/* Two forward and backward passes (one tape each) leave exactly twice the gradients of one. */
START_TEST(test_lstm_gradients_accumulate)
{
    const lstm_case *c = &CASES[0];
    tensor *x, *w;
    lstm_inputs(c, 300, 1, 1, &x, &w);
    real *once[2] = {NULL, NULL};
    tensor *in[2] = {x, w};
    for (int pass = 0; pass < 2; pass++) {
        tape tp;
        tape_init(&tp);
        tape_backward(&tp, lstm_loss(&tp, in, NULL));
        tape_free(&tp);
        for (int k = 0; pass == 0 && k < 2; k++) {
            once[k] = malloc(in[k]->n * sizeof(real));
            ck_assert_ptr_nonnull(once[k]);
            memcpy(once[k], in[k]->grad, in[k]->n * sizeof(real));
        }
    }
    for (int k = 0; k < 2; k++) {
        int nonzero = 0;
        for (size_t e = 0; e < in[k]->n; e++) {
            ck_assert_msg(in[k]->grad[e] == 2 * once[k][e], "%s[%zu]: %.17g after two passes, %.17g after one",
                          k ? "dw_hh" : "dxproj", e, in[k]->grad[e], once[k][e]);
            nonzero += once[k][e] != 0;
        }
        ck_assert_int_gt(nonzero, 0);
        free(once[k]);
    }
    tensor_free(x);
    tensor_free(w);
}
END_TEST

START_TEST(test_lstm_shape_mismatch_is_fatal)
{
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); /* the expected message */
    tape tp;
    tape_init(&tp);
    tensor *x = tape_tensor_zeros(&tp, 3, (int[]){1, 2, 12});
    tensor *w = tape_tensor_zeros(&tp, 2, (int[]){12, 4});
    op_lstm(&tp, x, w);
}
END_TEST

Suite *suite_grad_lstm(void)
{
    Suite *s = suite_create("grad_lstm");
    TCase *tc = tcase_create("lstm");
    tcase_add_loop_test(tc, test_lstm_gradcheck, 0, N_CASES);
    tcase_add_loop_test(tc, test_lstm_gradcheck_one_input, 0, 2);
    tcase_add_test(tc, test_lstm_gradients_accumulate);
    tcase_add_exit_test(tc, test_lstm_shape_mismatch_is_fatal, 1);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
