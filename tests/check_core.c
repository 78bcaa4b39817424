/* The core runtime: arena, param store, tape, RNG, optimiser, schedules, clipping, and a two-layer
 * network trained on XOR through the tape (the whole core end to end). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/ops.h"
#include "core/optim.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/threads.h"
#include "nn/mlp.h"
#include "test_util.h"

START_TEST(test_arena_grows_without_moving)
{
    arena a;
    arena_init(&a);
    unsigned char *first = arena_alloc(&a, 1000);
    ck_assert_uint_eq((uintptr_t)first % 64, 0);
    memset(first, 0xab, 1000);
    /* Far more than one block: earlier pointers must stay valid. */
    for (int i = 0; i < 50; i++) {
        void *p = arena_alloc(&a, 100000 + i);
        ck_assert_uint_eq((uintptr_t)p % 64, 0);
        memset(p, i, 100000 + i);
    }
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(first[i], 0xab);
    size_t used = arena_used(&a);
    ck_assert_uint_ge(used, 50 * 100000);
    arena_reset(&a);
    ck_assert_uint_eq(arena_used(&a), 0);
    ck_assert_ptr_null(a.blocks->next); /* folded into one block */
    ck_assert_uint_ge(a.blocks->size, used);
    arena_free(&a);
}
END_TEST

START_TEST(test_params_layout)
{
    param_store ps;
    params_init(&ps);
    int a = params_declare_auto(&ps, "a", 2, (int[]){3, 5});
    int b = params_declare_auto(&ps, "b", 1, (int[]){7});
    int c = params_declare(&ps, "c", 3, (int[]){2, 2, 2}, 0);
    params_alloc(&ps);
    ck_assert_uint_eq(params_numel(&ps), 15 + 7 + 8);
    ck_assert_int_eq(ps.entries[a].decay, 1);
    ck_assert_int_eq(ps.entries[b].decay, 0);
    ck_assert_int_eq(ps.entries[c].decay, 0);
    for (int i = 0; i < ps.count; i++) {
        ck_assert_uint_eq(ps.entries[i].offset % 16, 0);
        ck_assert_uint_eq((uintptr_t)params_tensor(&ps, i)->data % 64, 0);
        ck_assert_ptr_eq(params_tensor(&ps, i)->grad, ps.grad + ps.entries[i].offset);
    }
    ck_assert_int_eq(params_find(&ps, "b"), b);
    ck_assert_int_eq(params_find(&ps, "nope"), -1);
    params_free(&ps);
}
END_TEST

START_TEST(test_rng_reference_vector)
{
    /* xoshiro256** from state {1, 2, 3, 4}: the published reference outputs. */
    rng r = {{1, 2, 3, 4}};
    ck_assert_uint_eq(rng_next(&r), 11520ULL);
    ck_assert_uint_eq(rng_next(&r), 0ULL);
    ck_assert_uint_eq(rng_next(&r), 1509978240ULL);
    ck_assert_uint_eq(rng_next(&r), 1215971899390074240ULL);
}
END_TEST

START_TEST(test_rng_streams_and_statistics)
{
    rng a = rng_stream(7, RNG_STREAM_DATA), b = rng_stream(7, RNG_STREAM_DATA);
    rng c = rng_stream(7, RNG_STREAM_INIT), d = rng_stream(8, RNG_STREAM_DATA);
    uint64_t xa = rng_next(&a);
    ck_assert_uint_eq(xa, rng_next(&b));
    ck_assert_uint_ne(xa, rng_next(&c));
    ck_assert_uint_ne(xa, rng_next(&d));

    rng r = rng_stream(1, RNG_STREAM_USER);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    int counts[10] = {0};
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        su += u;
        double z = rng_normal(&r);
        sn += z;
        sn2 += z * z;
        counts[rng_below(&r, 10)]++;
        long long k = rng_range(&r, -2, 2);
        ck_assert(k >= -2 && k <= 2);
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
    double chi2 = 0;
    for (int i = 0; i < 10; i++)
        chi2 += pow(counts[i] - n / 10.0, 2) / (n / 10.0);
    ck_assert_msg(chi2 < 27.9, "chi2 %g over 9 dof", chi2); /* p = 0.001 */

    const double w[4] = {0.1, 0.0, 0.6, 0.3};
    int hits[4] = {0};
    for (int i = 0; i < n; i++)
        hits[rng_categorical(&r, w, 4)]++;
    ck_assert_int_eq(hits[1], 0);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(hits[i] / (double)n, w[i], 0.005);

    int perm[20];
    for (int i = 0; i < 20; i++)
        perm[i] = i;
    rng_shuffle(&r, perm, 20);
    int seen[20] = {0};
    for (int i = 0; i < 20; i++)
        seen[perm[i]]++;
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(seen[i], 1);
}
END_TEST

START_TEST(test_adamw_hand_computed)
{
    param_store ps;
    params_init(&ps);
    int dec = params_declare(&ps, "decayed", 1, (int[]){1}, 1);
    int plain = params_declare(&ps, "plain", 1, (int[]){1}, 0);
    params_alloc(&ps);
    params_fill(&ps, dec, 1.0);
    params_fill(&ps, plain, 1.0);
    adamw_cfg cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
    const double lr = 0.1;

    /* Step 1, g = 0.5: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25, update = 0.5 / (0.5 + 1e-8). */
    params_tensor(&ps, dec)->grad[0] = 0.5f;
    params_tensor(&ps, plain)->grad[0] = 0.5f;
    adamw_step(&ps, &cfg, lr, 1);
    double u1 = 0.5 / (0.5 + 1e-8);
    ck_assert_rel(params_tensor(&ps, dec)->data[0], 1.0 - lr * 0.1 * 1.0 - lr * u1, 1e-6);
    ck_assert_rel(params_tensor(&ps, plain)->data[0], 1.0 - lr * u1, 1e-6);
    ck_assert_rel(ps.m[ps.entries[dec].offset], 0.05, 1e-6);
    ck_assert_rel(ps.v[ps.entries[dec].offset], 0.00025, 1e-6);

    /* Step 2, g = -0.25: m = 0.02, v = 0.00031225, bias corrections 0.19 and 0.001999. */
    double p_plain = params_tensor(&ps, plain)->data[0];
    params_tensor(&ps, plain)->grad[0] = -0.25f;
    adamw_step(&ps, &cfg, lr, 2);
    double mhat = 0.02 / 0.19, vhat = 0.00031225 / 0.001999;
    ck_assert_rel(params_tensor(&ps, plain)->data[0], p_plain - lr * mhat / (sqrt(vhat) + 1e-8), 1e-6);
    params_free(&ps);
}
END_TEST

/* Without bias correction (MLX's Adam and AdamW default): m and v are used as they are, so the first
 * step is (1-b1)/sqrt(1-b2) = 3.16 times the corrected one. */
START_TEST(test_adamw_without_bias_correction)
{
    param_store ps;
    params_init(&ps);
    int w = params_declare(&ps, "w", 1, (int[]){1}, 1);
    params_alloc(&ps);
    params_fill(&ps, w, 1.0);
    adamw_cfg cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .no_bias_correction = 1};
    const double lr = 0.01;
    /* step 1, g = 0.5: m = 0.05, v = 0.00025 */
    params_tensor(&ps, w)->grad[0] = 0.5f;
    adamw_step(&ps, &cfg, lr, 1);
    double p1 = 1.0 - lr * 0.1 * 1.0 - lr * 0.05 / (sqrt(0.00025) + 1e-8);
    ck_assert_rel(params_tensor(&ps, w)->data[0], p1, 1e-6);
    ck_assert_rel(1.0 - lr * 0.1 - p1, lr * 3.1623, 1e-4);
    /* step 2, g = -0.25: m = 0.02, v = 0.00031225 (the step number no longer matters) */
    params_tensor(&ps, w)->grad[0] = -0.25f;
    adamw_step(&ps, &cfg, lr, 2);
    double p2 = p1 - lr * 0.1 * p1 - lr * 0.02 / (sqrt(0.00031225) + 1e-8);
    ck_assert_rel(params_tensor(&ps, w)->data[0], p2, 1e-6);
    /* a fresh optimiser over the same values: after params_zero_moments, step 1 with g = 0.5 moves
     * the weight exactly as the first step did */
    params_zero_moments(&ps);
    params_tensor(&ps, w)->grad[0] = 0.5f;
    adamw_step(&ps, &cfg, lr, 1);
    ck_assert_rel(params_tensor(&ps, w)->data[0], p2 - lr * 0.1 * p2 - lr * 0.05 / (sqrt(0.00025) + 1e-8), 1e-6);
    params_free(&ps);
}
END_TEST

START_TEST(test_schedules)
{
    schedule cos = {.kind = SCHED_COSINE, .lr = 1e-3, .lr_end = 1e-4, .warmup = 10, .total = 110};
    ck_assert_rel(schedule_lr(&cos, 0), 1e-4, 1e-12);
    ck_assert_rel(schedule_lr(&cos, 9), 1e-3, 1e-12);
    ck_assert_rel(schedule_lr(&cos, 10), 1e-3, 1e-12);
    ck_assert_rel(schedule_lr(&cos, 109), 1e-4, 1e-12);
    ck_assert_rel(schedule_lr(&cos, 500), 1e-4, 1e-12);
    double mid = schedule_lr(&cos, 10 + 99 / 2.0);
    ck_assert(mid < 1e-3 && mid > 1e-4);
    for (int s = 11; s < 110; s++)
        ck_assert(schedule_lr(&cos, s) <= schedule_lr(&cos, s - 1));

    schedule lin = {.kind = SCHED_LINEAR, .lr = 1e-2, .lr_end = 5e-6, .warmup = 0, .total = 500};
    ck_assert_rel(schedule_lr(&lin, 0), 1e-2, 1e-12);
    ck_assert_rel(schedule_lr(&lin, 499), 5e-6, 1e-9);
    ck_assert_rel(schedule_lr(&lin, 1) - schedule_lr(&lin, 0), (5e-6 - 1e-2) / 499, 1e-9);

    schedule c = {.kind = SCHED_CONSTANT, .lr = 0.3, .total = 5};
    ck_assert_rel(schedule_lr(&c, 3), 0.3, 1e-12);
    ck_assert_int_eq(schedule_kind_parse("cosine"), SCHED_COSINE);
    ck_assert_int_eq(schedule_kind_parse("bogus"), -1);
}
END_TEST

/* adamw_step_clipped's update has the bits of clip_grad_norm then adamw_step (the factor applied as
 * the step reads each gradient is the same float product the clip stores). */
START_TEST(test_adamw_step_clipped_bits)
{
    param_store ps[2];
    for (int k = 0; k < 2; k++) {
        params_init(&ps[k]);
        params_declare_auto(&ps[k], "w", 1, (int[]){37});
        params_alloc(&ps[k]);
        for (size_t i = 0; i < ps[k].total; i++) {
            ps[k].data[i] = (real)(0.01 * (double)(i % 7) - 0.02);
            ps[k].grad[i] = (real)(0.37 * sin(1.3 * (double)i + 0.1));
        }
    }
    adamw_cfg cfg = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
    const double n0 = clip_grad_norm(&ps[0], 0.5);
    adamw_step(&ps[0], &cfg, 1e-3, 1);
    ck_assert(adamw_step_clipped(&ps[1], &cfg, 1e-3, 1, 0.5) == n0);
    ck_assert(n0 > 0.5);   /* the bound clips */
    ck_assert(memcmp(ps[0].data, ps[1].data, ps[0].total * sizeof(real)) == 0);
    ck_assert(memcmp(ps[0].m, ps[1].m, ps[0].total * sizeof(real)) == 0);
    ck_assert(memcmp(ps[0].v, ps[1].v, ps[0].total * sizeof(real)) == 0);
    for (int k = 0; k < 2; k++)
        params_free(&ps[k]);
}
END_TEST

/* grad_norm over a store of several of its chunks (65,536 elements) with a ragged tail: the naive
 * sum's value within float noise of double sums, and the same bits at 1 and 2 threads. */
START_TEST(test_grad_norm_chunks)
{
    param_store ps;
    params_init(&ps);
    params_declare_auto(&ps, "a", 1, (int[]){100003});
    params_declare_auto(&ps, "b", 2, (int[]){301, 97});
    params_alloc(&ps);
    long double want = 0;
    for (size_t i = 0; i < ps.total; i++) {
        ps.grad[i] = (real)(sin(0.37 * (double)i) * (1 + (double)(i % 13)));
        want += (long double)ps.grad[i] * ps.grad[i];
    }
    const int before = threads_get();
    threads_set(1);
    const double one = grad_norm(&ps);
    threads_set(2);
    const double two = grad_norm(&ps);
    threads_set(before);
    ck_assert_rel(one, sqrtl(want), 1e-12);
    ck_assert_msg(one == two, "grad_norm: 1 thread %.17g, 2 threads %.17g", one, two);
    params_free(&ps);
}
END_TEST

/* adamw_step_clipped: the step on the clipped gradients (g = (3, 4) clipped to norm 1 is (0.6, 0.8);
 * Adam's first step moves each parameter by lr whatever the gradient's size, so m shows the clip),
 * and no step at all when a gradient is not finite. */
START_TEST(test_adamw_step_clipped)
{
    param_store ps;
    params_init(&ps);
    int a = params_declare_auto(&ps, "a", 1, (int[]){2});
    params_alloc(&ps);
    params_fill(&ps, a, 1.0);
    adamw_cfg cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
    real *g = params_tensor(&ps, a)->grad, *p = params_tensor(&ps, a)->data;
    g[0] = 3;
    g[1] = 4;
    ck_assert_rel(adamw_step_clipped(&ps, &cfg, 0.1, 1, 1.0), 5.0, 1e-7);
    ck_assert_rel(ps.m[ps.entries[a].offset], 0.06, 1e-6);
    ck_assert_rel(ps.m[ps.entries[a].offset + 1], 0.08, 1e-6);
    ck_assert_rel(p[0], 0.9, 1e-6);
    ck_assert_rel(g[0], 3.0, 1e-7);   /* the gradients themselves stay unclipped, as on the GPU */
    ck_assert_rel(g[1], 4.0, 1e-7);
    g[0] = NAN;
    g[1] = 1;
    ck_assert(!isfinite(adamw_step_clipped(&ps, &cfg, 0.1, 2, 1.0)));
    ck_assert_rel(p[0], 0.9, 1e-6);
    ck_assert_rel(p[1], 0.9, 1e-6);
    ck_assert_rel(ps.m[ps.entries[a].offset + 1], 0.08, 1e-6);
    params_free(&ps);
}
END_TEST

START_TEST(test_clip_to_exact_norm)
{
    param_store ps;
    params_init(&ps);
    int a = params_declare_auto(&ps, "a", 1, (int[]){1});
    int b = params_declare_auto(&ps, "b", 2, (int[]){1, 1});
    params_alloc(&ps);
    params_tensor(&ps, a)->grad[0] = 3;
    params_tensor(&ps, b)->grad[0] = 4;
    ck_assert_rel(clip_grad_norm(&ps, 10.0), 5.0, 1e-7); /* below the limit: untouched */
    ck_assert_rel(params_tensor(&ps, a)->grad[0], 3.0, 1e-7);
    ck_assert_rel(clip_grad_norm(&ps, 1.0), 5.0, 1e-7);
    ck_assert_rel(grad_norm(&ps), 1.0, 1e-6);
    ck_assert_rel(params_tensor(&ps, a)->grad[0], 0.6, 1e-6);
    ck_assert_rel(params_tensor(&ps, b)->grad[0], 0.8, 1e-6);
    params_free(&ps);
}
END_TEST

START_TEST(test_tape_off_records_nothing_and_grads_accumulate)
{
    param_store ps;
    params_init(&ps);
    int w = params_declare_auto(&ps, "w", 2, (int[]){1, 2});
    params_alloc(&ps);
    params_fill(&ps, w, 0.5);
    tape tp;
    tape_init(&tp);
    real xs[2] = {2, 3};

    tp.grad_enabled = 0;
    tensor *x = tape_input(&tp, 2, (int[]){1, 2}, xs);
    tensor *y = op_sum(&tp, op_linear(&tp, x, params_tensor(&ps, w), NULL));
    ck_assert_int_eq(tp.n, 0);
    ck_assert_rel(y->data[0], 2.5, 1e-7);
    tape_reset(&tp);

    tp.grad_enabled = 1;
    for (int rep = 0; rep < 2; rep++) { /* two micro-batches: gradients add up */
        x = tape_input(&tp, 2, (int[]){1, 2}, xs);
        y = op_sum(&tp, op_linear(&tp, x, params_tensor(&ps, w), NULL));
        ck_assert_int_gt(tp.n, 0);
        tape_backward(&tp, y);
        tape_reset(&tp);
    }
    ck_assert_rel(params_tensor(&ps, w)->grad[0], 4.0, 1e-7);
    ck_assert_rel(params_tensor(&ps, w)->grad[1], 6.0, 1e-7);
    tape_free(&tp);
    params_free(&ps);
}
END_TEST

/* Trains 2-8-1 on XOR with full-batch AdamW; returns the final loss and leaves the weights in ps. */
static double train_xor(param_store *ps, int steps, uint64_t seed)
{
    static const real xs[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    static const real ys[4] = {0, 1, 1, 0};
    mlp net;
    params_init(ps);
    mlp_declare(&net, ps, "xor", 2, 8, 1);
    params_alloc(ps);
    rng init = rng_stream(seed, RNG_STREAM_INIT);
    mlp_init(&net, ps, &init);
    adamw_cfg cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
    tape tp;
    tape_init(&tp);
    double loss = 0;
    for (int step = 1; step <= steps; step++) {
        tensor *x = tape_input(&tp, 2, (int[]){4, 2}, xs);
        tensor *y = tape_input(&tp, 2, (int[]){4, 1}, ys);
        tensor *l = op_mse(&tp, mlp_forward(&net, ps, &tp, x), y, 0);
        loss = l->data[0];
        params_zero_grad(ps);
        tape_backward(&tp, l);
        adamw_step(ps, &cfg, 0.05, step);
        tape_reset(&tp);
    }
    tape_free(&tp);
    return loss;
}

START_TEST(test_xor_trains_through_the_tape)
{
    param_store ps;
    double loss = train_xor(&ps, 1500, 1);
    ck_assert_msg(loss < 1e-3, "XOR loss after 1500 steps: %g", loss);
    params_free(&ps);
}
END_TEST

START_TEST(test_training_is_deterministic)
{
    param_store a, b;
    threads_set(2);
    train_xor(&a, 200, 3);
    train_xor(&b, 200, 3);
    ck_assert_int_eq(memcmp(a.data, b.data, a.total * sizeof(real)), 0);
    params_free(&a);
    params_free(&b);
}
END_TEST

Suite *suite_core(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("runtime");
    tcase_add_test(tc, test_arena_grows_without_moving);
    tcase_add_test(tc, test_params_layout);
    tcase_add_test(tc, test_rng_reference_vector);
    tcase_add_test(tc, test_rng_streams_and_statistics);
    tcase_add_test(tc, test_adamw_hand_computed);
    tcase_add_test(tc, test_adamw_without_bias_correction);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_clip_to_exact_norm);
    tcase_add_test(tc, test_adamw_step_clipped);
    tcase_add_test(tc, test_grad_norm_chunks);
    tcase_add_test(tc, test_adamw_step_clipped_bits);
    tcase_add_test(tc, test_tape_off_records_nothing_and_grads_accumulate);
    tcase_add_test(tc, test_xor_trains_through_the_tape);
    tcase_add_test(tc, test_training_is_deterministic);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
