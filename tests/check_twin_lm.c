/* The gpt and mosaic language models against their PyTorch twins (tests/reference/twin_lm.py):
 * logits, loss and every gradient on a tiny configuration, and the weights after three AdamW
 * steps. The twin computes in double; memlab in float32 must agree to 1e-4 relative. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "core/optim.h"
#include "io/ckpt.h"
#include "nn/lm.h"
#include "test_util.h"

#define TWIN_TOL 1e-4

static int *fixture_ids(const char *path, const char *name, size_t *n)
{
    tensor *t = fixture_tensor(path, name);
    int *ids = malloc(t->n * sizeof *ids);
    for (size_t i = 0; i < t->n; i++)
        ids[i] = (int)t->data[i];
    *n = t->n;
    tensor_free(t);
    return ids;
}

/* Weights after the AdamW steps. An element whose gradient is zero in exact arithmetic (the key
 * bias of attention: softmax ignores a constant added to every logit of a row) gets rounding noise
 * as its gradient, which Adam normalises into full-size steps of either sign; for those only the
 * bound |after - init| <= steps * lr holds. */
static void expect_after_steps(const char *path, param_store *ps, int i)
{
    char name[256];
    const param_entry *pe = &ps->entries[i];
    snprintf(name, sizeof name, "grad.%s", pe->name);
    tensor *g = fixture_tensor(path, name);
    snprintf(name, sizeof name, "init.%s", pe->name);
    tensor *init = fixture_tensor(path, name);
    snprintf(name, sizeof name, "after.%s", pe->name);
    tensor *want = fixture_tensor(path, name);
    const real *got = params_tensor(ps, i)->data;
    for (size_t j = 0; j < pe->n; j++) {
        if (fabs(g->data[j]) < 1e-7) {
            ck_assert_msg(fabs(got[j] - init->data[j]) <= 3 * 0.01 * 1.001, "%s[%zu] moved too far", name, j);
            continue;
        }
        double a = got[j], b = want->data[j], scale = fmax(fmax(fabs(a), fabs(b)), 1e-3);
        ck_assert_msg(fabs(a - b) <= TWIN_TOL * scale, "%s[%zu]: memlab %.8g, PyTorch %.8g", name, j, a, b);
    }
    tensor_free(g);
    tensor_free(init);
    tensor_free(want);
}

static void check_twin(const char *fixture, lm_config cfg)
{
    char *path = test_fixture(fixture);
    err_t e;
    ck_assert_msg(lm_config_resolve(&cfg, &e) == 0, "%s", e.msg);
    lm m;
    lm_build(&m, &cfg);
    fixture_load_params(path, &m.ps, "init.");
    size_t n;
    int *ids = fixture_ids(path, "ids", &n), *targets = fixture_ids(path, "targets", &n);
    const int B = 2, T = cfg.ctx;
    ck_assert_int_eq((int)n, B * T);

    tape tp;
    tape_init(&tp);
    tp.training = 1;   /* dropout is 0: training mode must not change anything */
    rng drop = rng_stream(1, RNG_STREAM_DROPOUT);
    tensor *logits = lm_forward(&m, &tp, ids, B, T, &drop);
    tensor *loss = op_softmax_xent(&tp, logits, targets, -1);
    expect_fixture_named(logits->data, logits->n, path, "", "logits", TWIN_TOL);
    expect_fixture_named(loss->data, 1, path, "", "loss", TWIN_TOL);
    params_zero_grad(&m.ps);
    tape_backward(&tp, loss);
    for (int i = 0; i < m.ps.count; i++)
        expect_fixture_named(params_tensor(&m.ps, i)->grad, m.ps.entries[i].n, path, "grad.",
                             m.ps.entries[i].name, TWIN_TOL);
    tape_reset(&tp);

    adamw_cfg ocfg = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
    for (int step = 1; step <= 3; step++) {
        tensor *l = op_softmax_xent(&tp, lm_forward(&m, &tp, ids, B, T, &drop), targets, -1);
        params_zero_grad(&m.ps);
        tape_backward(&tp, l);
        adamw_step(&m.ps, &ocfg, 0.01, step);
        tape_reset(&tp);
    }
    for (int i = 0; i < m.ps.count; i++)
        expect_after_steps(path, &m.ps, i);
    tape_free(&tp);
    lm_free(&m);
    free(ids);
    free(targets);
    test_fixture_done(path);
}

START_TEST(test_gpt_matches_pytorch)
{
    check_twin("lm_gpt.safetensors.gz", (lm_config){.arch = LM_GPT, .vocab = 11, .ctx = 6, .d = 8,
                                                    .layers = 2, .heads = 2, .bias = 1, .pos = POS_LEARNED});
}
END_TEST

START_TEST(test_mosaic_matches_pytorch)
{
    check_twin("lm_mosaic.safetensors.gz", (lm_config){.arch = LM_MOSAIC, .vocab = 11, .ctx = 6, .d = 8,
                                                       .layers = 2, .heads = 2, .pmem = 5, .bias = 0});
}
END_TEST

/* REFERENCE.md §1: at d = 768, H = 12, P = 2688 a mosaic block and a bias-free GPT-2 block differ
 * by a few dozen scalars (7H = 84: the per-head leaky rates, scales and mixing coefficients). */
static size_t block_params(lm_arch arch)
{
    lm_config c = {.arch = arch, .vocab = 50304, .ctx = 512, .d = 768, .layers = 1, .heads = 12, .pos = POS_NONE};
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
    lm m;
    lm_build(&m, &c);
    size_t n = params_numel(&m.ps) - (size_t)c.vocab * c.d - c.d;   /* minus embedding, final LN */
    lm_free(&m);
    return n;
}

START_TEST(test_block_parameter_parity)
{
    size_t g = block_params(LM_GPT), mm = block_params(LM_MOSAIC);
    ck_assert_uint_eq(g, 12 * 768 * 768 + 2 * 768);
    ck_assert_uint_eq(mm, g + 7 * 12);
}
END_TEST

START_TEST(test_config_errors)
{
    err_t e;
    lm_config c = {.arch = LM_GPT, .vocab = 10, .ctx = 8, .d = 100, .layers = 1, .heads = 3};
    ck_assert_int_eq(lm_config_resolve(&c, &e), -1);
    ck_assert_str_eq(e.msg, "--d 100 is not divisible by --heads 3");
    c.d = 96;
    c.dropout = 1;
    ck_assert_int_eq(lm_config_resolve(&c, &e), -1);
}
END_TEST

/* memlab info: the block rows of both architectures at GPT-2 small's width, and a bad shape. */
START_TEST(test_info_command)
{
    char cmd[512], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "%s info --arch mosaic --layers 1", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 0);
    ck_assert_msg(strncmp(out, "arch,scope,name,shape,params\n", 29) == 0, "header: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "mosaic,block,h.0,,7079508\n"));
    ck_assert_ptr_nonnull(strstr(out, "mosaic,tensor,h.0.pmem.M_k,2688x768,2064384\n"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s info --d 100 --heads 3", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 2);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "memlab: info: --d 100 is not divisible by --heads 3\n");
    free(out);
    free(err);
}
END_TEST

Suite *suite_twin_lm(void)
{
    Suite *s = suite_create("twin_lm");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, test_gpt_matches_pytorch);
    tcase_add_test(tc, test_mosaic_matches_pytorch);
    tcase_add_test(tc, test_block_parameter_parity);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_info_command);
    suite_add_tcase(s, tc);
    return s;
}
