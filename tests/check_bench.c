/* The benchmark's FLOP counter against hand counts. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lm_flops.h"
#include "test_util.h"

/* gpt, d 8, 2 layers, 2 heads, ctx 4, vocab 11, counted by hand:
 *   linears per block 3*64 + 64 + 4*64 + 4*64 = 768 multiply-adds; 2 blocks 1536; head 11*8 = 88
 *     -> dense 2 * 1624 = 3248
 *   causal attention over T = 4: the queries see 1, 2, 3, 4 keys, 2.5 on average; scores and values
 *     8 multiply-adds a key each -> 2 * 8 * 2.5 = 40 a block, 80 in all -> 160
 *   forward 3408, training 3 * 3408 = 10224 */
START_TEST(test_flops_gpt_hand)
{
    lm_config c = {.arch = LM_GPT, .vocab = 11, .ctx = 4, .d = 8, .layers = 2, .heads = 2};
    lm_flops f = lm_flops_per_token(&c);
    ck_assert_double_eq(f.dense, 3248);
    ck_assert_double_eq(f.attention, 160);
    ck_assert_double_eq(f.memory, 0);
    ck_assert_double_eq(f.forward, 3408);
    ck_assert_double_eq(f.train, 10224);
    /* bidirectional: every query sees all 4 keys -> 2 * 2 * 8 * 4 * 2 layers = 256 */
    c.bidirectional = 1;
    ck_assert_double_eq(lm_flops_per_token(&c).attention, 256);
}
END_TEST

/* mosaic, d 8, 2 layers, 2 heads, ctx 4, 5 persistent slots, vocab 11:
 *   linears per block 5 * 64 = 320; 2 blocks 640; head 88 -> dense 2 * 728 = 1456
 *   strict mask over T = 4: 0, 1, 2, 3 keys, 1.5 on average -> 2 * 8 * 1.5 = 24 a block -> 2 * 48 = 96
 *   persistent memory 8 * 5 (scores) + 8 * 5 (values) = 80, leaky averages 2 * 8 = 16: 96 a block
 *     -> 2 * 192 = 384
 *   forward 1456 + 96 + 384 = 1936, training 5808 */
START_TEST(test_flops_mosaic_hand)
{
    lm_config c = {.arch = LM_MOSAIC, .vocab = 11, .ctx = 4, .d = 8, .layers = 2, .heads = 2, .pmem = 5};
    lm_flops f = lm_flops_per_token(&c);
    ck_assert_double_eq(f.dense, 1456);
    ck_assert_double_eq(f.attention, 96);
    ck_assert_double_eq(f.memory, 384);
    ck_assert_double_eq(f.forward, 1936);
    ck_assert_double_eq(f.train, 5808);
}
END_TEST

/* The dense and table terms are twice the matrices a token is multiplied by: every 2-D parameter of
 * the built model (the tied embedding as the head), less gpt's position table, which is only looked
 * up. An independent count from the parameter store, at a shape no one counted by hand. */
START_TEST(test_flops_match_params)
{
    for (int arch = 0; arch < 2; arch++) {
        lm_config c = {.arch = arch ? LM_MOSAIC : LM_GPT, .vocab = 37, .ctx = 9, .d = 12, .layers = 3, .heads = 3,
                       .bias = 1};
        err_t e;
        ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
        lm m;
        lm_build(&m, &c);
        double matrices = 0;
        for (int i = 0; i < m.ps.count; i++) {
            const param_entry *pe = &m.ps.entries[i];
            if (pe->ndim == 2 && strcmp(pe->name, "wpe") != 0)
                matrices += (double)pe->n;
        }
        lm_flops f = lm_flops_per_token(&c);
        const double leaky = arch ? 2.0 * 2 * c.d * c.layers : 0;
        ck_assert_double_eq_tol(f.dense + f.memory - leaky, 2 * matrices, 1e-9);
        lm_free(&m);
    }
}
END_TEST

Suite *suite_bench(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("flops");
    tcase_add_test(tc, test_flops_gpt_hand);
    tcase_add_test(tc, test_flops_mosaic_hand);
    tcase_add_test(tc, test_flops_match_params);
    suite_add_tcase(s, tc);
    return s;
}
