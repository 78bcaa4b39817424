/* The babistories analyses on hand-made models and curves: per-position loss, the attention of the
 * last position, the recent-peak width and the settling position of a loss curve. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "../experiments/babistories_analyses.h"
#include "test_util.h"

static void tiny_lm(lm *m, lm_arch arch, int layers)
{
    lm_config c = {.arch = arch, .vocab = 50, .ctx = 16, .d = 16, .layers = layers, .heads = 2, .pos = POS_LEARNED};
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
    lm_build(m, &c);
    rng r = rng_stream(7, RNG_STREAM_INIT);
    lm_init_weights(m, &r);
}

static int *random_ids(size_t n, int V)
{
    int *ids = malloc(n * sizeof *ids);
    rng r = rng_stream(3, RNG_STREAM_DATA);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int)rng_below(&r, (uint64_t)V);
    return ids;
}

/* A zero embedding makes every logit zero (both archs tie the head to it): uniform predictions,
 * loss ln V at every position of every window. */
START_TEST(test_uniform_logits_give_ln_v)
{
    for (int arch = 0; arch < 2; arch++) {
        lm m;
        tiny_lm(&m, arch ? LM_MOSAIC : LM_GPT, 1);
        params_fill(&m.ps, m.wte, 0);
        int *ids = random_ids(5 * 16 + 3, 50);
        double mean[16];
        ck_assert_int_eq(babistories_position_loss(&m, ids, 5 * 16 + 3, 16, 16, mean), 5);
        for (int t = 0; t < 16; t++)
            ck_assert_rel(mean[t], log(50.0), 1e-5);
        /* windows every 4 tokens: starts 0, 4, ..., 64 (the last needs tokens up to 80 < 83) */
        ck_assert_int_eq(babistories_position_loss(&m, ids, 5 * 16 + 3, 16, 4, mean), 17);
        ck_assert_rel(mean[15], log(50.0), 1e-5);
        /* fewer than T + 1 tokens: no window */
        ck_assert_int_eq(babistories_position_loss(&m, ids, 16, 16, 16, mean), 0);
        free(ids);
        lm_free(&m);
    }
}
END_TEST

/* Every layer's and head's mean attention row is a distribution over the positions the last one
 * can read: sums to one, and the mosaic's strict mask leaves its own position at zero. */
START_TEST(test_attention_rows_sum_to_one)
{
    for (int arch = 0; arch < 2; arch++) {
        lm m;
        tiny_lm(&m, arch ? LM_MOSAIC : LM_GPT, 2);
        int *ids = random_ids(200, 50);
        babistories_attention a;
        err_t e;
        ck_assert_int_eq(babistories_attention_measure(&m, ids, 200, 16, 5, &a, &e), 0);
        ck_assert_int_eq(a.windows, 5);
        ck_assert_int_eq(a.nearest, arch ? 14 : 15);
        for (int l = 0; l < 2; l++)
            for (int h = 0; h < 2; h++) {
                ck_assert_rel(babistories_attention_share(&a, l, h, 0, 16), 1.0, 1e-5);
                const double *w = a.weight + ((size_t)l * 2 + h) * 16;
                for (int u = 0; u < 16; u++)
                    ck_assert(w[u] >= 0);
                if (arch)
                    ck_assert(w[15] == 0);
            }
        ck_assert_rel(babistories_attention_share(&a, 1, -1, 0, 16), 1.0, 1e-5);
        babistories_attention_free(&a);
        /* a learned-position gpt cannot read past its table; the mosaic can */
        int rc = babistories_attention_measure(&m, ids, 200, 48, 2, &a, &e);
        if (arch) {
            ck_assert_int_eq(rc, 0);
            ck_assert_rel(babistories_attention_share(&a, 0, 0, 0, 48), 1.0, 1e-5);
            babistories_attention_free(&a);
        } else {
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_nonnull(strstr(e.msg, "learned positions for 16 tokens"));
        }
        free(ids);
        lm_free(&m);
    }
}
END_TEST

START_TEST(test_peak_width)
{
    double w[20];
    for (int u = 0; u < 20; u++)
        w[u] = 0.01;
    w[19] = 0.3;
    w[18] = 0.2;
    w[17] = 0.16;   /* above half-way between the flat 0.01 and the peak 0.3 */
    w[16] = 0.1;    /* below it */
    w[15] = 0.3;    /* not counted: the run from the nearest position has ended */
    babistories_attention a = {.layers = 1, .heads = 1, .T = 20, .nearest = 19, .windows = 1, .weight = w};
    /* half height 0.155: above on 19, 18, 17; crossed 0.005 / 0.06 of the way from 17 to 16 */
    ck_assert_rel(babistories_attention_peak_width(&a, 0, 0), 2 + 0.005 / 0.06, 1e-9);
    /* one-position spike: half-way to the next position */
    w[18] = w[17] = w[16] = w[15] = 0.01;
    ck_assert_rel(babistories_attention_peak_width(&a, 0, 0), 0.5, 1e-9);
    /* a flat row has no peak */
    for (int u = 0; u < 20; u++)
        w[u] = 0.05;
    ck_assert(babistories_attention_peak_width(&a, 0, 0) == 0);
}
END_TEST

/* 10 - 5 exp(-t / 10) is within 1% (0.1) of 10 from t = 10 ln 50 = 39.1 on. */
START_TEST(test_settle_position)
{
    double c[256], final;
    for (int t = 0; t < 256; t++)
        c[t] = 10 - 5 * exp(-t / 10.0);
    int p = babistories_settle_position(c, 256, 0.01, 9, &final);
    ck_assert_rel(final, 10.0, 1e-6);
    ck_assert_msg(p >= 37 && p <= 42, "settles at %d", p);
    for (int t = 0; t < 256; t++)
        c[t] = 3;
    ck_assert_int_eq(babistories_settle_position(c, 256, 0.01, 8, &final), 0);
    /* a period-4 zig-zag around a constant vanishes in a moving average over 8 */
    for (int t = 0; t < 256; t++)
        c[t] = 3 + (t % 4 == 1 ? 0.2 : t % 4 == 3 ? -0.2 : 0);
    ck_assert_int_eq(babistories_settle_position(c, 256, 0.01, 8, &final), 0);
    ck_assert_rel(final, 3.0, 1e-12);
}
END_TEST

Suite *suite_babistories_analyses(void)
{
    Suite *s = suite_create("babistories_analyses");
    TCase *tc = tcase_create("analyses");
    tcase_add_test(tc, test_uniform_logits_give_ln_v);
    tcase_add_test(tc, test_attention_rows_sum_to_one);
    tcase_add_test(tc, test_peak_width);
    tcase_add_test(tc, test_settle_position);
    suite_add_tcase(s, tc);
    return s;
}
