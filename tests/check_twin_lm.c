/* The gpt (learned positions, RoPE, ALiBi) and mosaic language models against their PyTorch twins
 * (tests/reference/twin_lm.py): logits, loss and every gradient on a tiny configuration, and the
 * weights after three AdamW steps. The twin computes in double; memlab in float32 must agree to
 * 1e-4 relative. Also: which inputs longer than --ctx each kind of position accepts. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "core/optim.h"
#include "io/ckpt.h"
#include "nn/lm.h"
#include "nn/lm_ckpt.h"
#include "test_util.h"

#define TWIN_TOL 1e-4
/* The twin's AdamW run (twin_lm.py: LR, STEPS). */
#define TWIN_LR 0.01
#define TWIN_STEPS 3

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

/* Weights after the AdamW steps. Adam's step is lr times a ratio of gradients: it carries the
 * gradient's relative error. An element whose gradient is zero in exact arithmetic (the key bias of
 * attention: softmax ignores a constant added to every logit of a row) or nearly so (RoPE's key bias
 * at the slowest rotation, where the key barely turns over the context) gets a gradient that float
 * round-off of its neighbours' size dominates, which Adam normalises into full-size steps of
 * uncertain size and sign: for those (|grad| below GRAD_NOISE of the tensor's largest, or 1e-7) only
 * the bound |after - init| <= steps * lr holds. Every other element is held to TWIN_TOL relative to
 * its value or to steps * lr, whichever is larger (a value near zero moves by whole steps). */
#define GRAD_NOISE 1e-3
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
    double gmax = 0;
    for (size_t j = 0; j < pe->n; j++)
        gmax = fmax(gmax, fabs(g->data[j]));
    for (size_t j = 0; j < pe->n; j++) {
        if (fabs(g->data[j]) < fmax(1e-7, GRAD_NOISE * gmax)) {
            ck_assert_msg(fabs(got[j] - init->data[j]) <= TWIN_STEPS * TWIN_LR * 1.001, "%s[%zu] moved too far",
                          name, j);
            continue;
        }
        double a = got[j], b = want->data[j], scale = fmax(fmax(fabs(a), fabs(b)), TWIN_STEPS * TWIN_LR);
        ck_assert_msg(fabs(a - b) <= TWIN_TOL * scale, "%s[%zu]: memlab %.8g, PyTorch %.8g", name, j, a, b);
    }
    tensor_free(g);
    tensor_free(init);
    tensor_free(want);
}

/* The model of cfg with the fixture's initial weights. */
static void fixture_model(const char *path, lm_config cfg, lm *m)
{
    err_t e;
    ck_assert_msg(lm_config_resolve(&cfg, &e) == 0, "%s", e.msg);
    lm_build(m, &cfg);
    fixture_load_params(path, &m->ps, "init.");
}

/* Logits of the fixture's ids (two sequences of cfg.ctx tokens), without gradients. */
static tensor *fixture_logits(lm *m, tape *tp, const char *path)
{
    size_t n;
    int *ids = fixture_ids(path, "ids", &n);
    tp->grad_enabled = 0;
    tensor *logits = lm_forward(m, tp, ids, 2, m->cfg.ctx, NULL);
    free(ids);
    return logits;
}

static void check_twin(const char *fixture, lm_config cfg)
{
    char *path = test_fixture(fixture);
    lm m;
    fixture_model(path, cfg, &m);
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
    for (int step = 1; step <= TWIN_STEPS; step++) {
        tensor *l = op_softmax_xent(&tp, lm_forward(&m, &tp, ids, B, T, &drop), targets, -1);
        params_zero_grad(&m.ps);
        tape_backward(&tp, l);
        adamw_step(&m.ps, &ocfg, TWIN_LR, step);
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

/* Head size 6: the attention kernel's product path, three rotated pairs per head. */
START_TEST(test_gpt_rope_matches_pytorch)
{
    check_twin("lm_gpt_rope.safetensors.gz", (lm_config){.arch = LM_GPT, .vocab = 11, .ctx = 6, .d = 12,
                                                         .layers = 2, .heads = 2, .bias = 1, .pos = POS_ROPE});
}
END_TEST

/* Three heads (slopes 2^-4, 2^-8, 2^-2: the paper's rule for a count that is not a power of two) of
 * size 4: the kernel's direct path. */
START_TEST(test_gpt_alibi_matches_pytorch)
{
    check_twin("lm_gpt_alibi.safetensors.gz", (lm_config){.arch = LM_GPT, .vocab = 11, .ctx = 6, .d = 12,
                                                          .layers = 2, .heads = 3, .bias = 1, .pos = POS_ALIBI});
}
END_TEST

START_TEST(test_mosaic_matches_pytorch)
{
    check_twin("lm_mosaic.safetensors.gz", (lm_config){.arch = LM_MOSAIC, .vocab = 11, .ctx = 6, .d = 8,
                                                       .layers = 2, .heads = 2, .pmem = 5, .bias = 0});
}
END_TEST

/* GPT-2's tanh GELU (--gelu tanh). */
START_TEST(test_gpt_tanh_matches_pytorch)
{
    check_twin("lm_gpt_tanh.safetensors.gz", (lm_config){.arch = LM_GPT, .vocab = 11, .ctx = 6, .d = 8, .layers = 2,
                                                         .heads = 2, .bias = 1, .pos = POS_LEARNED, .gelu = GELU_TANH});
}
END_TEST

/* nanoMosaics: no logit scale; one head's persistent key scale past both variants' caps, against a
 * table small enough for the cap to decide the logits (twin_lm.py). */
START_TEST(test_mosaic_nano_matches_pytorch)
{
    check_twin("lm_mosaic_nano.safetensors.gz",
               (lm_config){.arch = LM_MOSAIC, .vocab = 11, .ctx = 6, .d = 8, .layers = 2, .heads = 2, .pmem = 5,
                           .bias = 0, .mosaic_variant = MOSAIC_NANO});
}
END_TEST

/* The nano key-scale cap decides the logits (twin_lm.py: capped): persistent-memory exponents past
 * ln 65535 against small key tables. Forward only: at a key scale of 65535 float32 gradients keep
 * too little precision to compare. Without the cap the logits move by up to 0.07, with the library's
 * (10) by up to 0.19, against a tolerance of about 1e-6 here. */
START_TEST(test_mosaic_nano_cap)
{
    char *path = test_fixture("lm_mosaic_nano.safetensors.gz");
    lm m;
    fixture_model(path, (lm_config){.arch = LM_MOSAIC, .vocab = 11, .ctx = 6, .d = 8, .layers = 2, .heads = 2,
                                    .pmem = 5, .mosaic_variant = MOSAIC_NANO}, &m);
    for (int i = 0; i < m.ps.count; i++) {
        const char *name = m.ps.entries[i].name;
        if (strstr(name, ".pmem.kernel_beta") || strstr(name, ".pmem.M_k")) {
            char full[256];
            snprintf(full, sizeof full, "capped.%s", name);
            tensor *t = fixture_tensor(path, full);
            memcpy(params_tensor(&m.ps, i)->data, t->data, t->n * sizeof(real));
            tensor_free(t);
        }
    }
    tape tp;
    tape_init(&tp);
    tensor *logits = fixture_logits(&m, &tp, path);
    expect_fixture_named(logits->data, logits->n, path, "capped.", "logits", TWIN_TOL);
    tape_free(&tp);
    lm_free(&m);
    test_fixture_done(path);
}
END_TEST

/* The twin tests have the power to tell the variants apart: each fixture's logits computed with the
 * other GELU (or mosaic variant) miss by far more than TWIN_TOL, in the measure expect_fixture_close
 * holds them to. So a swap of the two forms (in gpt.c, the option or a checkpoint's key) fails. */
static double swapped_deviation(const char *fixture, lm_config cfg)
{
    char *path = test_fixture(fixture);
    lm m;
    fixture_model(path, cfg, &m);
    tape tp;
    tape_init(&tp);
    tensor *logits = fixture_logits(&m, &tp, path);
    tensor *want = fixture_tensor(path, "logits");
    double floor = 1e-3, worst = 0;
    for (size_t i = 0; i < want->n; i++)
        floor = fmax(floor, 0.01 * fabs(want->data[i]));
    for (size_t i = 0; i < want->n; i++) {
        double a = logits->data[i], b = want->data[i];
        worst = fmax(worst, fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), floor));
    }
    tensor_free(want);
    tape_free(&tp);
    lm_free(&m);
    test_fixture_done(path);
    return worst;
}

START_TEST(test_variants_distinguished)
{
    const lm_config gpt = {.arch = LM_GPT, .vocab = 11, .ctx = 6, .d = 8, .layers = 2, .heads = 2, .bias = 1};
    const lm_config mosaic = {.arch = LM_MOSAIC, .vocab = 11, .ctx = 6, .d = 8, .layers = 2, .heads = 2, .pmem = 5};
    lm_config c = gpt;
    c.gelu = GELU_TANH;
    double erf_as_tanh = swapped_deviation("lm_gpt.safetensors.gz", c);
    double tanh_as_erf = swapped_deviation("lm_gpt_tanh.safetensors.gz", gpt);
    c = mosaic;
    c.mosaic_variant = MOSAIC_NANO;
    double library_as_nano = swapped_deviation("lm_mosaic.safetensors.gz", c);
    double nano_as_library = swapped_deviation("lm_mosaic_nano.safetensors.gz", mosaic);
    ck_assert_msg(erf_as_tanh > 10 * TWIN_TOL && tanh_as_erf > 10 * TWIN_TOL, "gelu: %g, %g", erf_as_tanh,
                  tanh_as_erf);
    ck_assert_msg(library_as_nano > 10 * TWIN_TOL && nano_as_library > 10 * TWIN_TOL, "mosaic: %g, %g",
                  library_as_nano, nano_as_library);
}
END_TEST

/* Checkpoints carry the gpt's GELU and the mosaic's variant; one written before the keys existed
 * (a gpt trained with the tanh GELU, a library mosaic) loads as what it was trained with. */
static lm_config saved_config(const char *dir, lm_config c, int drop_key)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    err_t e;
    ck_assert_msg(lm_config_resolve(&c, &e) == 0, "%s", e.msg);
    lm m;
    lm_build(&m, &c);
    if (drop_key) { /* the metadata of an older memlab: the architecture keys alone */
        char num[6][16];
        const int v[6] = {c.vocab, c.ctx, c.d, c.layers, c.heads, c.pmem};
        for (int i = 0; i < 6; i++)
            snprintf(num[i], sizeof num[i], "%d", v[i]);
        const char *meta[] = {"memlab_model", "lm", "arch", lm_arch_name(c.arch), "vocab", num[0], "ctx", num[1],
                              "d", num[2], "layers", num[3], "heads", num[4], "pmem", num[5], "bias", "0",
                              "pos", lm_pos_name(c.pos), NULL};
        ck_assert_msg(ckpt_save(path, &m.ps, meta, 0, &e) == 0, "%s", e.msg);
    } else {
        ck_assert_msg(lm_ckpt_save(path, &m, NULL, 0, &e) == 0, "%s", e.msg);
    }
    lm_free(&m);
    lm_config got;
    ck_assert_msg(lm_ckpt_config(path, &got, &e) == 0, "%s", e.msg);
    return got;
}

START_TEST(test_ckpt_keeps_variants)
{
    char *dir = test_tmpdir();
    const lm_config gpt = {.arch = LM_GPT, .vocab = 7, .ctx = 4, .d = 4, .layers = 1, .heads = 2};
    const lm_config mosaic = {.arch = LM_MOSAIC, .vocab = 7, .ctx = 4, .d = 4, .layers = 1, .heads = 2};
    lm_config c = gpt;
    ck_assert_int_eq(saved_config(dir, c, 0).gelu, GELU_ERF);
    c.gelu = GELU_TANH;
    ck_assert_int_eq(saved_config(dir, c, 0).gelu, GELU_TANH);
    ck_assert_int_eq(saved_config(dir, gpt, 1).gelu, GELU_TANH);   /* the old default */
    c = mosaic;
    c.mosaic_variant = MOSAIC_NANO;
    ck_assert_int_eq(saved_config(dir, c, 0).mosaic_variant, MOSAIC_NANO);
    ck_assert_int_eq(saved_config(dir, mosaic, 0).mosaic_variant, MOSAIC_LIBRARY);
    ck_assert_int_eq(saved_config(dir, c, 1).mosaic_variant, MOSAIC_LIBRARY);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_variant_names_round_trip)
{
    lm_gelu g;
    lm_mosaic_variant v;
    ck_assert(lm_gelu_parse("erf", &g) == 0 && g == GELU_ERF && !strcmp(lm_gelu_name(g), "erf"));
    ck_assert(lm_gelu_parse("tanh", &g) == 0 && g == GELU_TANH && !strcmp(lm_gelu_name(g), "tanh"));
    ck_assert_int_eq(lm_gelu_parse("exact", &g), -1);
    ck_assert(lm_mosaic_variant_parse("library", &v) == 0 && v == MOSAIC_LIBRARY);
    ck_assert(lm_mosaic_variant_parse("nano", &v) == 0 && v == MOSAIC_NANO && !strcmp(lm_mosaic_variant_name(v), "nano"));
    ck_assert_int_eq(lm_mosaic_variant_parse("nanoGPT", &v), -1);
}
END_TEST

/* docs/models.md#parameter-count: at d = 768, H = 12, P = 2688 a mosaic block and a bias-free GPT-2
 * block differ by a few dozen scalars (7H = 84: the per-head leaky rates, scales and mixing coefficients). */
static size_t block_params(lm_arch arch)
{
    lm_config c = {.arch = arch, .vocab = 50304, .ctx = 512, .d = 768, .layers = 1, .heads = 12, .pos = POS_NONE};
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
    lm m;
    lm_declare(&m, &c);   /* counted, not allocated */
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
    /* RoPE turns pairs of a head's columns: an odd head size has one left over */
    c = (lm_config){.arch = LM_GPT, .vocab = 10, .ctx = 8, .d = 15, .layers = 1, .heads = 3, .pos = POS_ROPE};
    ck_assert_int_eq(lm_config_resolve(&c, &e), -1);
    ck_assert_str_eq(e.msg, "--pos rope needs an even head size (--d 15 / --heads 3 = 5)");
    c.pos = POS_ALIBI;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
}
END_TEST

START_TEST(test_pos_names_round_trip)
{
    static const char *const names[] = {"learned", "none", "rope", "alibi"};
    for (int i = 0; i < 4; i++) {
        lm_pos p;
        ck_assert_int_eq(lm_pos_parse(names[i], &p), 0);
        ck_assert_int_eq((int)p, i);
        ck_assert_str_eq(lm_pos_name(p), names[i]);
    }
    lm_pos p;
    ck_assert_int_eq(lm_pos_parse("sinusoidal", &p), -1);
}
END_TEST

/* A tiny gpt with positions `pos`, context 5, initialised. */
enum { LONG_CTX = 5, LONG_V = 13 };
static void long_model(lm *m, lm_pos pos)
{
    lm_config c = {.arch = LM_GPT, .vocab = LONG_V, .ctx = LONG_CTX, .d = 8, .layers = 2, .heads = 2, .pos = pos};
    err_t e;
    ck_assert_msg(lm_config_resolve(&c, &e) == 0, "%s", e.msg);
    lm_build(m, &c);
    rng r = rng_stream(7, RNG_STREAM_INIT);
    lm_init_weights(m, &r);
}

/* Relative positions (RoPE, ALiBi) and none have no table to run out of: lm_max_len is 0 and a
 * sequence of 3 x --ctx goes through, giving finite logits whose first --ctx positions are those of
 * the --ctx-long input (causal: later tokens change nothing before them). */
static const lm_pos UNBOUNDED[] = {POS_NONE, POS_ROPE, POS_ALIBI};

START_TEST(test_longer_than_ctx)
{
    const lm_pos pos = UNBOUNDED[_i];
    enum { T = 3 * LONG_CTX };
    lm m;
    long_model(&m, pos);
    ck_assert_int_eq(params_find(&m.ps, "wpe"), -1);
    ck_assert_int_eq(lm_max_len(&m), 0);
    int ids[T];
    for (int t = 0; t < T; t++)
        ids[t] = (t * 7 + 3) % LONG_V;
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *full = lm_forward(&m, &tp, ids, 1, T, NULL);
    tensor *head = lm_forward(&m, &tp, ids, 1, LONG_CTX, NULL);
    ck_assert_int_eq(full->shape[1], T);
    for (size_t i = 0; i < full->n; i++)
        ck_assert_msg(isfinite(full->data[i]), "%s: logit %zu is %g", lm_pos_name(pos), i, full->data[i]);
    for (size_t i = 0; i < head->n; i++)
        ck_assert_msg(fabs(full->data[i] - head->data[i]) <= 1e-5 * fmax(fabs(head->data[i]), 1),
                      "%s: logit %zu: %g over %d tokens, %g over %d", lm_pos_name(pos), i, full->data[i], T,
                      head->data[i], LONG_CTX);
    tape_free(&tp);
    lm_free(&m);
}
END_TEST

/* A learned table ends at --ctx: lm_max_len says so, and a longer input is fatal (exit 1). */
START_TEST(test_learned_stops_at_ctx)
{
    lm m;
    long_model(&m, POS_LEARNED);
    ck_assert_int_ge(params_find(&m.ps, "wpe"), 0);
    ck_assert_int_eq(lm_max_len(&m), LONG_CTX);
    int ids[LONG_CTX + 1] = {0};
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    lm_forward(&m, &tp, ids, 1, LONG_CTX, NULL);   /* exactly --ctx is fine */
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); /* the expected message */
    lm_forward(&m, &tp, ids, 1, LONG_CTX + 1, NULL);
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
    /* GPT-2 XL's shape counts without being allocated: its 1.56e9 parameters, their gradients and
     * AdamW moments (25 GB) would not fit under a 2 GB address-space limit */
    snprintf(cmd, sizeof cmd, "(ulimit -v 2000000; %s info --d 1600 --layers 48 --heads 25)", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 0);
    /* wte V d + wpe 512 d + 48 blocks of 12 d^2 + 2 d (no biases) + ln_f d */
    ck_assert_msg(strstr(out, "gpt,total,,,1556020800\n") != NULL, "%s", err);
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
    /* The GPT-2-sized builds (block parity, info) allocate 40M parameters: seconds, not the default
     * 4, on a 2-core machine that other jobs share. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gpt_matches_pytorch);
    tcase_add_test(tc, test_gpt_rope_matches_pytorch);
    tcase_add_test(tc, test_gpt_alibi_matches_pytorch);
    tcase_add_test(tc, test_mosaic_matches_pytorch);
    tcase_add_test(tc, test_gpt_tanh_matches_pytorch);
    tcase_add_test(tc, test_mosaic_nano_matches_pytorch);
    tcase_add_test(tc, test_mosaic_nano_cap);
    tcase_add_test(tc, test_variants_distinguished);
    tcase_add_test(tc, test_ckpt_keeps_variants);
    tcase_add_test(tc, test_variant_names_round_trip);
    tcase_add_test(tc, test_block_parameter_parity);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_pos_names_round_trip);
    tcase_add_loop_test(tc, test_longer_than_ctx, 0, (int)(sizeof UNBOUNDED / sizeof UNBOUNDED[0]));
    tcase_add_exit_test(tc, test_learned_stops_at_ctx, 1);
    tcase_add_test(tc, test_info_command);
    suite_add_tcase(s, tc);
    return s;
}
