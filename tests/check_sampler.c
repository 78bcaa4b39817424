/* The sampler (nn/sampler.c): temperature 0 is the argmax, top-k draws only among the k largest,
 * and within the context the cached decoder and the sliding window give the same logits and the
 * same tokens, for gpt and the mosaic. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "nn/sampler.h"
#include "test_util.h"

START_TEST(test_greedy_is_argmax)
{
    const int V = 50;
    real z[50];
    double p[50], w[50];
    rng r = rng_stream(3, RNG_STREAM_USER);
    for (int trial = 0; trial < 20; trial++) {
        int best = 0;
        for (int v = 0; v < V; v++) {
            z[v] = (real)rng_normal(&r);
            if (z[v] > z[best])
                best = v;
        }
        const rng before = r;
        ck_assert_int_eq(sample_pick(&(sample_cfg){.temperature = 0, .top_k = 5}, z, V, p, w, &r), best);
        ck_assert_mem_eq(&before, &r, sizeof r);   /* greedy draws nothing */
    }
    z[7] = z[3] = 100;   /* ties: the first */
    ck_assert_int_eq(sample_pick(&(sample_cfg){0}, z, V, p, w, &r), 3);
}
END_TEST

START_TEST(test_top_k_restricts)
{
    const int V = 40, k = 3;
    real z[40];
    double p[40], w[40];
    for (int v = 0; v < V; v++)
        z[v] = (real)(0.01 * v);   /* nearly flat: without the cut every token would come up */
    rng r = rng_stream(4, RNG_STREAM_USER);
    int seen[40] = {0};
    for (int i = 0; i < 3000; i++)
        seen[sample_pick(&(sample_cfg){.temperature = 1, .top_k = k}, z, V, p, w, &r)]++;
    for (int v = 0; v < V; v++) {
        if (v >= V - k)
            ck_assert_int_gt(seen[v], 500);
        else
            ck_assert_int_eq(seen[v], 0);
    }
    int all = 0;
    for (int i = 0; i < 3000; i++)
        all |= sample_pick(&(sample_cfg){.temperature = 1}, z, V, p, w, &r) < V - k;
    ck_assert(all);
}
END_TEST

/* A freshly initialised model of shape c; r goes on from its initialisation stream. */
static void model_make(lm *m, lm_config *c, uint64_t seed, rng *r)
{
    err_t e;
    ck_assert_int_eq(lm_config_resolve(c, &e), 0);
    lm_build(m, c);
    *r = rng_stream(seed, RNG_STREAM_INIT);
    lm_init_weights(m, r);
}

static void expect_cached_equals_window(lm_config c)
{
    lm m;
    rng r;
    model_make(&m, &c, 5, &r);
    for (size_t i = 0; i < m.ps.total; i++)   /* off the initial special values */
        m.ps.data[i] += (real)(0.05 * rng_normal(&r));
    const int prompt = 3, n = c.ctx;
    int a[64], b[64];
    for (int t = 0; t < prompt; t++)
        a[t] = b[t] = (int)rng_below(&r, (uint64_t)c.vocab);
    sampler sc, sw;
    sampler_init(&sc, &m, &(sample_cfg){0}, n, SAMPLE_CACHED);
    sampler_init(&sw, &m, &(sample_cfg){0}, n, SAMPLE_WINDOW);
    for (int len = prompt; len < n; len++) {
        a[len] = sampler_next(&sc, a, len, NULL);
        b[len] = sampler_next(&sw, b, len, NULL);
        for (int v = 0; v < c.vocab; v++)
            ck_assert_msg(fabs(sc.z[v] - sw.z[v]) <= 1e-4 * fmax(1, fabs(sw.z[v])), "position %d, token %d: %g vs %g",
                          len, v, sc.z[v], sw.z[v]);
        ck_assert_int_eq(a[len], b[len]);
    }
    /* the whole-sequence helper: a cached sampler in auto mode */
    sampler sa;
    sampler_init(&sa, &m, &(sample_cfg){0}, n, SAMPLE_AUTO);
    ck_assert_int_eq(sa.cached, 1);
    int c2[64] = {a[0], a[1], a[2]};
    ck_assert_int_eq(sampler_extend(&sa, c2, prompt, n - prompt, -1, NULL), n);
    ck_assert_mem_eq(c2, a, (size_t)n * sizeof *a);
    sampler_free(&sa);
    sampler_free(&sc);
    sampler_free(&sw);
    lm_free(&m);
}

START_TEST(test_cached_equals_window)
{
    expect_cached_equals_window((lm_config){.arch = LM_GPT, .vocab = 23, .ctx = 17, .d = 24, .layers = 2, .heads = 3});
    expect_cached_equals_window((lm_config){.arch = LM_MOSAIC, .vocab = 23, .ctx = 17, .d = 24, .layers = 2, .heads = 3,
                                            .pmem = 5});
}
END_TEST

/* Beyond the context the auto mode slides a window of cfg.ctx tokens. */
START_TEST(test_window_beyond_context)
{
    lm_config c = {.arch = LM_GPT, .vocab = 11, .ctx = 6, .d = 8, .layers = 1, .heads = 2};
    lm m;
    rng r;
    model_make(&m, &c, 6, &r);
    sampler s;
    sampler_init(&s, &m, &(sample_cfg){.temperature = 1}, 20, SAMPLE_AUTO);
    ck_assert_int_eq(s.cached, 0);
    int seq[20] = {1};
    ck_assert_int_eq(sampler_extend(&s, seq, 1, 19, -1, &r), 20);
    for (int t = 0; t < 20; t++)
        ck_assert(seq[t] >= 0 && seq[t] < c.vocab);
    sampler_free(&s);
    lm_free(&m);
}
END_TEST

Suite *suite_sampler(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_greedy_is_argmax);
    tcase_add_test(tc, test_top_k_restricts);
    tcase_add_test(tc, test_cached_equals_window);
    tcase_add_test(tc, test_window_beyond_context);
    suite_add_tcase(s, tc);
    return s;
}
