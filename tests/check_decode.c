/* Incremental decoding (nn/lm_decode.c): the logits of every position fed one token at a time
 * against the cache equal those of lm_forward over the whole sequence, for gpt with each kind of
 * positions and for the mosaic, and again after a reset. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "core/ops.h"
#include "nn/lm_decode.h"
#include "test_util.h"

static void expect_decode_matches(lm_config c, uint64_t seed)
{
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
    lm m;
    lm_build(&m, &c);
    rng r = rng_stream(seed, RNG_STREAM_INIT);
    lm_init_weights(&m, &r);
    /* move every parameter off its initial special values (zero biases, unit LayerNorms) */
    for (size_t i = 0; i < m.ps.total; i++)
        m.ps.data[i] += (real)(0.05 * rng_normal(&r));
    const int T = c.ctx, V = c.vocab;
    int ids[64];
    ck_assert_int_le(T, 64);
    for (int t = 0; t < T; t++)
        ids[t] = (int)rng_below(&r, (uint64_t)V);

    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *full = lm_forward(&m, &tp, ids, 1, T, NULL);
    lm_decoder dc;
    lm_decoder_init(&dc, &m, T);
    real *z = malloc((size_t)V * sizeof *z);
    for (int pass = 0; pass < 2; pass++) {
        for (int t = 0; t < T; t++) {
            lm_decode_step(&m, &dc, ids[t], z);
            for (int v = 0; v < V; v++) {
                const double want = full->data[(size_t)t * V + v];
                ck_assert_msg(fabs(z[v] - want) <= 2e-5 * fmax(1, fabs(want)),
                              "%s pos %s, pass %d, position %d, token %d: cached %.8g, window %.8g",
                              lm_arch_name(c.arch), lm_pos_name(c.pos), pass, t, v, (double)z[v], want);
            }
        }
        ck_assert_int_eq(dc.len, T);
        lm_decoder_reset(&dc);
    }
    free(z);
    lm_decoder_free(&dc);
    tape_free(&tp);
    lm_free(&m);
}

START_TEST(test_decode_gpt)
{
    static const lm_pos pos[] = {POS_LEARNED, POS_NONE, POS_ROPE, POS_ALIBI};
    for (int i = 0; i < 4; i++)
        expect_decode_matches((lm_config){.arch = LM_GPT, .vocab = 23, .ctx = 19, .d = 24, .layers = 2, .heads = 3,
                                          .bias = i % 2, .pos = pos[i]},
                              10 + (uint64_t)i);
}
END_TEST

START_TEST(test_decode_mosaic)
{
    for (int bias = 0; bias < 2; bias++)
        expect_decode_matches((lm_config){.arch = LM_MOSAIC, .vocab = 23, .ctx = 19, .d = 24, .layers = 2, .heads = 3,
                                          .bias = bias, .pmem = 7},
                              20 + (uint64_t)bias);
}
END_TEST

Suite *suite_decode(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 60);   /* many small steps: slow only on a loaded machine (benchmarks/NOTES.md §2) */
    tcase_add_test(tc, test_decode_gpt);
    tcase_add_test(tc, test_decode_mosaic);
    suite_add_tcase(s, tc);
    return s;
}
