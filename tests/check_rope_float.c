/* Rotary position embedding in the float build that training uses, at a realistic size: op_rope
 * against an independent reference (each pair (x_i, x_{i+hs/2}) as the complex number
 * x_i + i x_{i+hs/2}, multiplied by e^(i theta) in double), its backward pass as the inverse
 * rotation, and the same bits from one thread and from two. */
#include <check.h>
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/threads.h"
#include "test_util.h"

_Static_assert(sizeof(real) == sizeof(float), "check_rope_float tests the float build");

typedef struct {
    int B, T, H, hs, pos0;
} rope_float_case;

static const rope_float_case CASES[] = {
    {2, 256, 4, 64, 0},
    {1, 64, 3, 10, 1536},   /* far positions, as at 3x a training context of 512 */
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

static tensor *input(const rope_float_case *c, uint64_t seed)
{
    rng r = rng_stream(seed, RNG_STREAM_USER + 5);
    return rand_tensor(&r, 3, (int[]){c->B, c->T, c->H * c->hs}, -2, 2);
}

START_TEST(test_rope_float_matches_complex_rotation)
{
    const rope_float_case *c = &CASES[_i];
    const int half = c->hs / 2, C = c->H * c->hs;
    tensor *x = input(c, 40 + (uint64_t)_i);
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *o = op_rope(&tp, x, c->H, c->pos0);
    double worst = 0;
    for (int r = 0; r < c->B * c->T; r++) {
        const int pos = c->pos0 + r % c->T;
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < half; i++) {
                const size_t a = (size_t)r * C + (size_t)h * c->hs + i, b = a + half;
                const double complex z =
                    (x->data[a] + I * x->data[b]) * cexp(I * pos / pow(10000.0, 2.0 * i / c->hs));
                worst = fmax(worst, fabs(o->data[a] - creal(z)) / fmax(fabs(creal(z)), 1.0));
                worst = fmax(worst, fabs(o->data[b] - cimag(z)) / fmax(fabs(cimag(z)), 1.0));
            }
    }
    ck_assert_msg(worst < 2e-6, "float RoPE differs from the complex rotation by %g", worst);
    tape_free(&tp);
    tensor_free(x);
}
END_TEST

/* Forward then backward of the output itself: the inverse rotation gives the input back. */
START_TEST(test_rope_float_backward_inverts)
{
    const rope_float_case *c = &CASES[_i];
    tensor *x = input(c, 50 + (uint64_t)_i);
    real *y = malloc(x->n * sizeof *y), *back = calloc(x->n, sizeof *back);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(back);
    rope_forward(y, x->data, c->B, c->T, c->H, c->hs, c->pos0);
    rope_backward(back, y, c->B, c->T, c->H, c->hs, c->pos0);
    for (size_t e = 0; e < x->n; e++)
        ck_assert_msg(fabs(back[e] - x->data[e]) <= 1e-6 * fmax(fabs(x->data[e]), 1.0), "element %zu: %.9g vs %.9g",
                      e, back[e], x->data[e]);
    free(y);
    free(back);
    tensor_free(x);
}
END_TEST

static real *det_run(const rope_float_case *c, const tensor *x, int threads)
{
    threads_set(threads);
    real *res = calloc(2 * x->n, sizeof *res);
    ck_assert_ptr_nonnull(res);
    rope_forward(res, x->data, c->B, c->T, c->H, c->hs, c->pos0);
    rope_backward(res + x->n, x->data, c->B, c->T, c->H, c->hs, c->pos0);
    return res;
}

START_TEST(test_rope_float_deterministic_across_threads)
{
    const rope_float_case *c = &CASES[0];
    tensor *x = input(c, 60);
    const int saved = threads_get();
    real *one = det_run(c, x, 1), *two = det_run(c, x, 2);
    threads_set(saved);
    ck_assert(memcmp(one, two, 2 * x->n * sizeof(real)) == 0);
    free(one);
    free(two);
    tensor_free(x);
}
END_TEST

Suite *suite_rope_float(void)
{
    Suite *s = suite_create("rope_float");
    TCase *tc = tcase_create("float");
    tcase_add_loop_test(tc, test_rope_float_matches_complex_rotation, 0, N_CASES);
    tcase_add_loop_test(tc, test_rope_float_backward_inverts, 0, N_CASES);
    tcase_add_test(tc, test_rope_float_deterministic_across_threads);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
