/* memory-inversion: the probe's feed windows against hand-computed cases, the metrics on hand-made
 * predictions, a probe that reads an embedding holding its whole input (accuracy 1), gradients
 * through the autoencoder's embedding, then the command through the real binary: smoke runs, a
 * causal encoder from a babistories checkpoint, and bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/autoencoder.h"
#include "nn/lm_ckpt.h"
#include "nn/probe.h"
#include "test_util.h"

/* ---- the feed ------------------------------------------------------------------------------------ */

static void expect_window(const int *idx, int w, int p, const int *want)
{
    for (int j = 0; j < w; j++)
        ck_assert_msg(idx[p * w + j] == want[j], "position %d input %d: %d, want %d", p, j, idx[p * w + j], want[j]);
}

START_TEST(test_feed_windows)
{
    int idx[16 * 8];
    /* d 8, 10 positions (n >= d): windows of 4 starting at p mod 8, wrapping. */
    ck_assert_int_eq(probe_feed_width(FEED_UNROLLED, 8), 4);
    ck_assert_int_eq(probe_feed_stride(8, 10), 1);
    probe_feed_index(FEED_UNROLLED, 8, 10, idx);
    expect_window(idx, 4, 0, (int[]){0, 1, 2, 3});
    expect_window(idx, 4, 3, (int[]){3, 4, 5, 6});
    expect_window(idx, 4, 5, (int[]){5, 6, 7, 0});
    expect_window(idx, 4, 7, (int[]){7, 0, 1, 2});
    expect_window(idx, 4, 8, (int[]){0, 1, 2, 3});
    expect_window(idx, 4, 9, (int[]){1, 2, 3, 4});
    /* Fewer positions than elements: starts spread by floor(d/n). d 8, n 3: starts 0, 2, 4. */
    probe_feed_index(FEED_UNROLLED, 8, 3, idx);
    expect_window(idx, 4, 0, (int[]){0, 1, 2, 3});
    expect_window(idx, 4, 1, (int[]){2, 3, 4, 5});
    expect_window(idx, 4, 2, (int[]){4, 5, 6, 7});
    /* d 10, n 4: stride 2, windows of 5; the last wraps. */
    probe_feed_index(FEED_UNROLLED, 10, 4, idx);
    expect_window(idx, 5, 3, (int[]){6, 7, 8, 9, 0});
    /* repeated: every position reads the whole embedding in order */
    ck_assert_int_eq(probe_feed_width(FEED_REPEATED, 6), 6);
    probe_feed_index(FEED_REPEATED, 6, 3, idx);
    for (int p = 0; p < 3; p++)
        expect_window(idx, 6, p, (int[]){0, 1, 2, 3, 4, 5});
    /* every element reaches some position whenever n >= 2 */
    for (int d = 4; d <= 40; d += 2)
        for (int n = 2; n <= 48; n++) {
            int *ix = malloc((size_t)n * d / 2 * sizeof *ix), seen[40] = {0};
            probe_feed_index(FEED_UNROLLED, d, n, ix);
            for (int i = 0; i < n * d / 2; i++)
                seen[ix[i]] = 1;
            for (int k = 0; k < d; k++)
                ck_assert_msg(seen[k], "d %d, n %d: element %d unread", d, n, k);
            free(ix);
        }
}
END_TEST

/* ---- metrics ------------------------------------------------------------------------------------- */

START_TEST(test_metrics)
{
    /* V = 3; the third row is a pad (ignored); ties go to the lowest id. */
    const real logits[] = {2, 0, 0,   0, 0, 0,   0, 1, 5,   0, 3, 1};
    const int targets[] = {0, 1, -1, 2};
    probe_score s = {0};
    probe_score_add(&s, logits, targets, 4, 3, -1);
    ck_assert_int_eq(s.count, 3);
    ck_assert_int_eq(s.correct, 1);
    const double ce0 = log(1 + 2 * exp(-2.0)), ce1 = log(3.0), ce3 = log(1 + exp(3.0) + exp(1.0)) - 1;
    const double ce = (ce0 + ce1 + ce3) / 3;
    probe_metrics m = probe_metrics_of(&s, 3);
    ck_assert_rel(m.token_acc, 1.0 / 3, 1e-12);
    ck_assert_rel(m.ce, ce, 1e-6);
    ck_assert_rel(m.entropy_ratio, ce / log(3.0), 1e-6);
    ck_assert_rel(m.retained, 1 - ce / log(3.0), 1e-6);
    ck_assert_rel(m.bits_per_token, (log(3.0) - ce) / log(2.0), 1e-6);
    /* a certain, right prediction keeps every bit: log2 V */
    probe_score p = {0};
    probe_score_add(&p, (const real[]){0, 0, 0, 40}, (const int[]){3}, 1, 4, -1);
    m = probe_metrics_of(&p, 4);
    ck_assert_rel(m.token_acc, 1, 1e-12);
    ck_assert_rel(m.bits_per_token, 2, 1e-6);
    ck_assert(fabs(m.retained - 1) < 1e-9);
    probe_score none = {0};
    ck_assert(isnan(probe_metrics_of(&none, 4).token_acc));
}
END_TEST

/* ---- a probe reading an embedding that holds its whole input --------------------------------------- */

/* Every sequence of `n` tokens of a vocabulary of `V`, and its embedding: the tokens' one-hots one
 * after another (d_in = n * V). Trains a probe on all of them; returns its token accuracy. */
static double identity_probe(lm_arch arch, probe_feed feed, int zero_embedding)
{
    enum { V = 4, N = 2, D = V * N, B = 16 };
    real emb[B * D] = {0};
    int tokens[B * N];
    for (int b = 0; b < B; b++)
        for (int p = 0; p < N; p++) {
            tokens[b * N + p] = (b >> (2 * p)) & 3;
            if (!zero_embedding)
                emb[b * D + p * V + tokens[b * N + p]] = 1;
        }
    probe_config c = {.arch = arch, .vocab = V, .n = N, .d_in = D, .d = 16, .layers = 1, .heads = 2, .feed = feed};
    err_t e;
    ck_assert_int_eq(probe_config_check(&c, &e), 0);
    probe p;
    probe_build(&p, &c);
    rng r = rng_stream(7, 1);
    probe_init_weights(&p, &r);
    lm_optim o = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8},
                  .sched = {.kind = SCHED_CONSTANT, .lr = 1e-2, .total = 300}};
    tape tp;
    tape_init(&tp);
    for (int s = 0; s < 300; s++)
        ck_assert(isfinite(probe_train_step(&p, &tp, emb, tokens, B, &o, s)));
    real logits[B * N * V];
    probe_logits(&p, &tp, emb, B, logits);
    probe_score sc = {0};
    probe_score_add(&sc, logits, tokens, B * N, V, -1);
    tape_free(&tp);
    probe_free(&p);
    return probe_metrics_of(&sc, V).token_acc;
}

START_TEST(test_identity_encoder)
{
    for (int a = 0; a < 2; a++)
        for (int f = 0; f < 2; f++) {
            double acc = identity_probe(a ? LM_MOSAIC : LM_GPT, f ? FEED_REPEATED : FEED_UNROLLED, 0);
            ck_assert_msg(acc == 1, "%s probe, %s feed: accuracy %g", a ? "mosaic" : "gpt", f ? "repeated" : "unrolled",
                          acc);
        }
    /* with a zero embedding the same probe can only guess: every token is equally likely */
    ck_assert_double_le(identity_probe(LM_GPT, FEED_UNROLLED, 1), 0.5);
}
END_TEST

/* The autoencoder's loss reaches both halves: one step moves the encoder's weights too. */
START_TEST(test_autoencoder_step)
{
    lm_config enc = {.arch = LM_GPT, .vocab = 11, .ctx = 5, .d = 8, .layers = 1, .heads = 2};
    probe_config dec = {.arch = LM_GPT, .n = 5, .d = 8, .layers = 1, .heads = 2};
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&enc, &e), 0);
    autoencoder a;
    autoencoder_build(&a, &enc, &dec);
    ck_assert_int_eq(a.dec.cfg.d_in, 8);
    ck_assert_int_eq(a.dec.cfg.vocab, 11);
    rng r = rng_stream(3, 2);
    autoencoder_init_weights(&a, &r);
    const int ids[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    real *before = malloc(a.enc.ps.total * sizeof *before);
    memcpy(before, a.enc.ps.data, a.enc.ps.total * sizeof *before);
    lm_optim o = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8},
                  .sched = {.kind = SCHED_CONSTANT, .lr = 1e-2, .total = 100}};
    tape tp;
    tape_init(&tp);
    double first = autoencoder_train_step(&a, &tp, ids, 2, &o, 0, NULL), last = first;
    /* the query/key/value weights of the encoder's block moved */
    const param_entry *qkv = &a.enc.ps.entries[params_find(&a.enc.ps, "h.0.attn.c_attn.weight")];
    int moved = 0;
    for (size_t i = 0; i < qkv->n; i++)
        moved |= a.enc.ps.data[qkv->offset + i] != before[qkv->offset + i];
    ck_assert(moved);
    for (int s = 1; s < 100; s++)
        last = autoencoder_train_step(&a, &tp, ids, 2, &o, s, NULL);
    ck_assert_msg(last < first / 4, "loss %g -> %g", first, last);
    tape_free(&tp);
    free(before);
    autoencoder_free(&a);
}
END_TEST

/* ---- the command --------------------------------------------------------------------------------- */

static int inversion_run(const char *args, char **out, char **err)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s memory-inversion --threads 1 --quiet %s", test_memlab_bin(), args);
    return test_run(cmd, out, err);
}

static const char *const header =
    "encoder,arch,d,layers,ctx,feed,probe_steps,token_acc,ce,entropy_ratio,retained,bits_per_token,baseline_token_acc\n";

/* Checks the rows of a primary table: the encoders and contexts expected in order, metrics finite and
 * consistent, the same baseline in every row. */
static void check_rows(char *csv, const char *const *encoders, const int *ctx, int nrows, const char *arch, int d)
{
    ck_assert_int_eq(strncmp(csv, header, strlen(header)), 0);
    char *line = csv + strlen(header);
    double baseline = NAN;
    for (int r = 0; r < nrows; r++) {
        char enc[32], a[16], feed[16];
        int dd, layers, T, steps;
        double acc, ce, ratio, kept, bits, base;
        int got = sscanf(line, "%31[^,],%15[^,],%d,%d,%d,%15[^,],%d,%lf,%lf,%lf,%lf,%lf,%lf", enc, a, &dd, &layers, &T,
                         feed, &steps, &acc, &ce, &ratio, &kept, &bits, &base);
        ck_assert_msg(got == 13, "row %d: %s", r, line);
        ck_assert_str_eq(enc, encoders[r]);
        ck_assert_str_eq(a, arch);
        ck_assert_str_eq(feed, "unrolled");
        ck_assert_int_eq(dd, d);
        ck_assert_int_eq(T, ctx[r]);
        ck_assert(acc >= 0 && acc <= 1 && base >= 0 && base <= 1);
        ck_assert(ce > 0 && isfinite(ce));
        ck_assert_rel(ratio + kept, 1, 1e-4);
        ck_assert_rel(bits, kept * log(300) / log(2), 1e-3);
        if (r > 0 && ctx[r] == ctx[r - 1])
            ck_assert_double_eq(base, baseline);
        baseline = base;
        line = strchr(line, '\n') + 1;
    }
    ck_assert_str_eq(line, "");
}

START_TEST(test_smoke)
{
    char *dir = test_tmpdir(), args[2048], *out, *err, path[1100];
    snprintf(args, sizeof args, "--preset smoke --force --out-dir %s", dir);
    ck_assert_int_eq(inversion_run(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const three[] = {"untrained", "causal", "autoencoder"};
    check_rows(out, three, (const int[]){16, 16, 16}, 3, "gpt", 32);
    snprintf(path, sizeof path, "%s/inversion.csv", dir);
    char *table = test_slurp(path);
    ck_assert_ptr_nonnull(table);
    ck_assert_str_eq(table, out);
    free(table);
    free(out);
    free(err);
    /* the alias, a mosaic, a sweep over two lengths, a subset of encoders in another order */
    snprintf(args, sizeof args, "--preset smoke --arch mosaic --encoder autoencoder,untrained --ctx-sweep 8,12 --force --out-dir %s", dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s inversion --threads 1 --quiet %s", test_memlab_bin(), args);
    ck_assert_int_eq(test_run(cmd, &out, NULL), 0);
    static const char *const sweep[] = {"autoencoder", "untrained", "autoencoder", "untrained"};
    check_rows(out, sweep, (const int[]){8, 8, 12, 12}, 4, "mosaic", 32);
    free(out);
    test_rmdir(dir);
}
END_TEST

/* The causal encoder from a babistories checkpoint (and its tokenizer). */
START_TEST(test_encoder_ckpt)
{
    char *dir = test_tmpdir(), cmd[4096], args[2048], *out, *err;
    snprintf(cmd, sizeof cmd, "%s babistories --preset smoke --arch gpt --threads 1 --quiet --steps 5 --out-dir %s/bs -o /dev/null",
             test_memlab_bin(), dir);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    snprintf(args, sizeof args, "--preset smoke --encoder causal --encoder-ckpt %s/bs/babistories_gpt.safetensors --out-dir %s/inv",
             dir, dir);
    ck_assert_int_eq(inversion_run(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const causal[] = {"causal"};
    check_rows(out, causal, (const int[]){16}, 1, "gpt", 32);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* The memory models' encoders: trained here (frozen: an autoencoder's, so the same row as the
 * autoencoder's; joint: a causal memory model's), then from memlab copy's checkpoints. */
START_TEST(test_memory_encoders)
{
    char *dir = test_tmpdir(), cmd[4096], args[2048], *out, *err;
    snprintf(args, sizeof args, "--preset smoke --encoder autoencoder,frozen,joint --out-dir %s/a", dir);
    ck_assert_int_eq(inversion_run(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const three[] = {"autoencoder", "frozen", "joint"};
    check_rows(out, three, (const int[]){16, 16, 16}, 3, "gpt", 32);
    char *ae = strchr(out, '\n') + 1, *fr = strchr(ae, '\n') + 1;
    ck_assert_int_eq(strncmp(strchr(ae, ','), strchr(fr, ','), strchr(fr, '\n') - strchr(fr, ',')), 0);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s copy --preset smoke --threads 1 --quiet --encoder frozen --out-dir %s/fz -o /dev/null && "
             "%s copy --preset smoke --threads 1 --quiet --objective causal --out-dir %s/jt -o /dev/null",
             test_memlab_bin(), dir, test_memlab_bin(), dir);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    snprintf(args, sizeof args, "--preset smoke --ctx 8 --encoder frozen,joint --frozen-ckpt %s/fz/encoder.safetensors "
             "--joint-ckpt %s/jt/encoder.safetensors --out-dir %s/b", dir, dir, dir);
    ck_assert_int_eq(inversion_run(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const two[] = {"frozen", "joint"};
    check_rows(out, two, (const int[]){8, 8}, 2, "gpt", 32);
    free(out);
    free(err);
    /* at --ctx 16 the checkpoints' positions (8) fall short */
    snprintf(args, sizeof args, "--preset smoke --encoder joint --joint-ckpt %s/jt/encoder.safetensors --out-dir %s/c", dir, dir);
    ck_assert_int_eq(inversion_run(args, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "--joint-ckpt"));
    ck_assert_ptr_nonnull(strstr(err, "cover 8 tokens"));
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_bad_input)
{
    char *dir = test_tmpdir(), narrow[1100], prefix[1200];
    /* a gpt checkpoint of width 16: the smoke preset asks for 32 */
    snprintf(narrow, sizeof narrow, "%s/narrow.safetensors", dir);
    write_gpt_ckpt(narrow, 16, 16);
    bad_input_case cases[] = {
        {"--encoder nonsense", 2, "--encoder 'nonsense': expected untrained, causal, autoencoder, frozen or joint"},
        {"--encoder untrained --frozen-ckpt x.safetensors", 2, "--frozen-ckpt gives the frozen encoder"},
        {"--encoder frozen --joint-ckpt x.safetensors", 2, "--joint-ckpt gives the joint encoder"},
        {"--encoder joint --joint-objective recall", 2, "recall"},
        {"--encoder causal,causal", 2, "twice"},
        {"--ctx-sweep 8,x", 2, "--ctx-sweep"},
        {"--probe-d 100 --probe-heads 3", 2, "--probe-d 100 is not divisible by --probe-heads 3"},
        {"--feed sideways", 2, "sideways"},
        {"", 1, "a gpt of width 16 and 1 layers, but --arch gpt --d 32"},
        {"--encoder untrained --encoder-ckpt x.safetensors", 2, "--encoder-ckpt"},
        {"--encoder-ckpt /nonexistent.safetensors", 1, "/nonexistent.safetensors"},
    };
    snprintf(cases[8].args, sizeof cases[8].args, "--encoder-ckpt %s", narrow);
    snprintf(prefix, sizeof prefix, "memory-inversion --threads 1 --quiet --preset smoke --out-dir %s/out", dir);
    expect_bad_inputs(prefix, cases, sizeof cases / sizeof *cases);
    /* --help lists every encoder, the memory models' too */
    char *out;
    ck_assert_int_eq(inversion_run("--help", &out, NULL), 0);
    char *line = strstr(out, "--encoder E");
    ck_assert_ptr_nonnull(line);
    *strchr(line, '\n') = 0;
    ck_assert_ptr_nonnull(strstr(line, "autoencoder"));
    ck_assert_ptr_nonnull(strstr(line, "frozen"));
    ck_assert_ptr_nonnull(strstr(line, "joint"));
    free(out);
    test_rmdir(dir);
}
END_TEST

Suite *suite_inversion(void)
{
    Suite *s = suite_create("inversion");
    TCase *lib = tcase_create("probe");
    tcase_add_test(lib, test_feed_windows);
    tcase_add_test(lib, test_metrics);
    tcase_add_test(lib, test_identity_encoder);
    tcase_add_test(lib, test_autoencoder_step);
    tcase_set_timeout(lib, 60);
    suite_add_tcase(s, lib);
    TCase *cmd = tcase_create("command");
    tcase_add_test(cmd, test_smoke);
    tcase_add_test(cmd, test_encoder_ckpt);
    tcase_add_test(cmd, test_memory_encoders);
    tcase_add_test(cmd, test_bad_input);
    tcase_set_timeout(cmd, 120);
    suite_add_tcase(s, cmd);
    return s;
}
