/* copy and blank-copy: the batch builders and the memory model's slot layout on hand-made examples,
 * causality across chunks (no token sees a later chunk's tokens or memories), what a frozen encoder
 * and the no-memory control let through, then the commands through the real binary: smoke runs and
 * bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/copytask.h"
#include "nn/lm_ckpt.h"
#include "nn/memmodel.h"
#include "test_util.h"

static void expect_ints(const int *got, const int *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s[%d] = %d, want %d", what, i, got[i], want[i]);
}

/* ---- batches ------------------------------------------------------------------------------------- */

START_TEST(test_batches)
{
    /* two windows of n + 1 = 9 tokens; pad 99 */
    const int w[18] = {10, 11, 12, 13, 14, 15, 16, 17, 18,   20, 21, 22, 23, 24, 25, 26, 27, 28};
    int ids[16], tg[16];
    copytask_batch(TASK_CAUSAL, w, 2, 8, 99, ids, tg);
    expect_ints(ids, (int[]){10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25, 26, 27}, 16, "causal ids");
    expect_ints(tg, (int[]){11, 12, 13, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 26, 27, 28}, 16, "causal targets");
    /* copy: [x, x] with x the first half; the targets are the second half's tokens, predicted from the
     * position before each: positions 3 .. 6 of each row */
    const int I = COPYTASK_IGNORE;
    const int want_tg[16] = {I, I, I, 10, 11, 12, 13, I,   I, I, I, 20, 21, 22, 23, I};
    copytask_batch(TASK_COPY, w, 2, 8, 99, ids, tg);
    expect_ints(ids, (int[]){10, 11, 12, 13, 10, 11, 12, 13, 20, 21, 22, 23, 20, 21, 22, 23}, 16, "copy ids");
    expect_ints(tg, want_tg, 16, "copy targets");
    copytask_batch(TASK_BLANK_COPY, w, 2, 8, 99, ids, tg);
    expect_ints(ids, (int[]){10, 11, 12, 13, 99, 99, 99, 99, 20, 21, 22, 23, 99, 99, 99, 99}, 16, "blank ids");
    expect_ints(tg, want_tg, 16, "blank-copy targets");
    copy_task t;
    ck_assert_int_eq(copy_task_parse("blank-copy", &t), 0);
    ck_assert_int_eq(t, TASK_BLANK_COPY);
    ck_assert_str_eq(copy_task_name(TASK_COPY), "copy");
    ck_assert_int_eq(copy_task_parse("combined", &t), -1);
}
END_TEST

/* ---- slot layout ----------------------------------------------------------------------------------- */

START_TEST(test_slot_layout)
{
    /* B 2, C 3: memories are rows 0..5 (row b * 3 + chunk), placeholders rows 6, 7, 8 */
    int rows[2 * 3 * 3];
    memmodel_slot_rows(2, 3, 1, rows);
    expect_ints(rows, (int[]){6, 7, 8,   0, 7, 8,   0, 1, 8,   6, 7, 8,   3, 7, 8,   3, 4, 8}, 18, "slots");
    memmodel_slot_rows(2, 3, 0, rows);
    for (int i = 0; i < 18; i++)
        ck_assert_int_eq(rows[i], 6 + i % 3);
}
END_TEST

/* ---- the model ------------------------------------------------------------------------------------- */

enum { V = 13, C = 3, L = 4, B = 2, N = C * L };

static void small_model(memmodel *m, lm_arch enc, lm_arch dec, int dec_d, int no_memory, int frozen, int full)
{
    memmodel_config c = {.chunks = C, .chunk_len = L, .no_memory = no_memory, .frozen = frozen, .full = full};
    c.enc = (lm_config){.arch = enc, .vocab = V, .ctx = L, .d = 8, .layers = 2, .heads = 2, .pmem = 6};
    c.dec = (lm_config){.arch = dec, .vocab = V, .ctx = full ? N : C + L, .d = dec_d, .layers = 2, .heads = 2, .pmem = 6};
    c.map = dec_d != 8;
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c.enc, &e), 0);
    ck_assert_int_eq(lm_config_resolve(&c.dec, &e), 0);
    ck_assert_msg(memmodel_config_check(&c, &e) == 0, "%s", e.msg);
    memmodel_build(m, &c);
    rng r = rng_stream(5, 3);
    memmodel_init_weights(m, &r);
}

static void logits_of(memmodel *m, const int *ids, real *out)
{
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = tp.training = 0;
    tensor *l = memmodel_forward(m, &tp, ids, B, NULL);
    ck_assert_int_eq((int)l->n, B * N * V);
    memcpy(out, l->data, l->n * sizeof *out);
    tape_free(&tp);
}

/* The largest change of the logits at positions [from, to) of every row between two inputs. */
static double change(const real *a, const real *b, int from, int to)
{
    double worst = 0;
    for (int r = 0; r < B; r++)
        for (int i = (r * N + from) * V; i < (r * N + to) * V; i++)
            worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

/* Changing the tokens of chunks after c (or the later tokens of chunk c itself) changes nothing
 * before them; changing them does change what comes after (memories flow forward). */
static void check_causal(memmodel *m, int memory_flows)
{
    int ids[B * N], alt[B * N];
    for (int i = 0; i < B * N; i++)
        ids[i] = (i * 7 + 3) % V;
    real *base = malloc(B * N * V * sizeof *base), *got = malloc(B * N * V * sizeof *got);
    logits_of(m, ids, base);
    for (int p = 1; p < N; p++) {
        /* every token from position p on replaced */
        memcpy(alt, ids, sizeof ids);
        for (int r = 0; r < B; r++)
            for (int i = p; i < N; i++)
                alt[r * N + i] = (alt[r * N + i] + 5) % V;
        logits_of(m, alt, got);
        ck_assert_msg(change(base, got, 0, p) == 0, "a change from position %d reached position < %d: %g", p, p,
                      change(base, got, 0, p));
        ck_assert_msg(change(base, got, p, N) > 1e-6, "position %d onwards did not see its own tokens", p);
    }
    /* a change of chunk 0 alone: seen by the last chunk only through its memory */
    memcpy(alt, ids, sizeof ids);
    for (int r = 0; r < B; r++)
        for (int i = 0; i < L; i++)
            alt[r * N + i] = (alt[r * N + i] + 5) % V;
    logits_of(m, alt, got);
    if (memory_flows)
        ck_assert_msg(change(base, got, (C - 1) * L, N) > 1e-6, "the last chunk did not see chunk 0's memory");
    else
        ck_assert_msg(change(base, got, L, N) == 0, "without memory a later chunk saw chunk 0: %g", change(base, got, L, N));
    free(base);
    free(got);
}

START_TEST(test_causal_across_chunks)
{
    memmodel m;
    const lm_arch archs[2] = {LM_GPT, LM_MOSAIC};
    for (int e = 0; e < 2; e++)
        for (int d = 0; d < 2; d++) {
            small_model(&m, archs[e], archs[d], d ? 8 : 12, 0, 0, 0);
            check_causal(&m, 1);
            memmodel_free(&m);
        }
    small_model(&m, LM_GPT, LM_GPT, 8, 1, 0, 0);   /* no memory */
    check_causal(&m, 0);
    memmodel_free(&m);
    small_model(&m, LM_GPT, LM_MOSAIC, 8, 0, 0, 1);   /* full context: plain causal over C * L */
    check_causal(&m, 1);
    memmodel_free(&m);
}
END_TEST

/* A training step moves a trainable encoder, never a frozen one; the decoder moves in both. */
START_TEST(test_frozen_encoder)
{
    for (int frozen = 0; frozen < 2; frozen++) {
        memmodel m;
        small_model(&m, LM_GPT, LM_GPT, 8, 0, frozen, 0);
        int win[B * (N + 1)], ids[B * N], tg[B * N];
        for (int i = 0; i < B * (N + 1); i++)
            win[i] = (i * 5 + 1) % (V - 1);
        copytask_batch(TASK_BLANK_COPY, win, B, N, V - 1, ids, tg);
        real *enc0 = malloc(m.enc.ps.total * sizeof *enc0), *dec0 = malloc(m.dec.ps.total * sizeof *dec0);
        memcpy(enc0, m.enc.ps.data, m.enc.ps.total * sizeof *enc0);
        memcpy(dec0, m.dec.ps.data, m.dec.ps.total * sizeof *dec0);
        lm_optim o = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8},
                      .sched = {.kind = SCHED_CONSTANT, .lr = 1e-2, .total = 10}};
        tape tp;
        tape_init(&tp);
        memmodel_batch bt = {ids, tg};
        ck_assert(isfinite(memmodel_train_step(&m, &tp, &bt, 1, B, &o, 0, NULL)));
        ck_assert_int_eq(memcmp(enc0, m.enc.ps.data, m.enc.ps.total * sizeof *enc0) == 0, frozen);
        ck_assert(memcmp(dec0, m.dec.ps.data, m.dec.ps.total * sizeof *dec0) != 0);
        /* a few more steps lower the blank-copy loss: the slots are read */
        probe_score s0 = {0}, s1 = {0};
        memmodel_score(&m, &tp, &bt, B, &s0);
        for (int s = 1; s < 10; s++)
            memmodel_train_step(&m, &tp, &bt, 1, B, &o, s, NULL);
        memmodel_score(&m, &tp, &bt, B, &s1);
        ck_assert_int_eq(s1.count, B * N / 2);
        ck_assert_msg(s1.ce_sum < s0.ce_sum, "loss %g -> %g", s0.ce_sum, s1.ce_sum);
        tape_free(&tp);
        free(enc0);
        free(dec0);
        memmodel_free(&m);
    }
}
END_TEST

START_TEST(test_config_errors)
{
    memmodel_config c = {.chunks = 0, .chunk_len = 4};
    c.enc = c.dec = (lm_config){.arch = LM_GPT, .vocab = V, .ctx = 8, .d = 8, .layers = 1, .heads = 2};
    err_t e;
    ck_assert_int_eq(memmodel_config_check(&c, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "--chunks 0"));
    c.chunks = 5;   /* 5 slots + 4 tokens > 8 learned positions */
    ck_assert_int_eq(memmodel_config_check(&c, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "learned positions cover 8"));
    c.chunks = 4;
    ck_assert_int_eq(memmodel_config_check(&c, &e), 0);
    c.dec.d = 16;
    ck_assert_int_eq(memmodel_config_check(&c, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "linear map"));
    /* the cost: the full-context decoder's attention grows with C * L, the memory model's with C + L */
    c.dec.d = 8;
    c.dec.ctx = 1 << 12;
    c.chunk_len = 32;
    double prev_ratio = 0;
    for (int chunks = 1; chunks <= 16; chunks *= 2) {
        c.chunks = chunks;
        c.full = 0;
        const double mem = memmodel_flops_per_token(&c);
        c.full = 1;
        const double full = memmodel_flops_per_token(&c);
        ck_assert(mem > 0 && full > 0);
        ck_assert_msg(full / mem > prev_ratio, "%d chunks: ratio %g after %g", chunks, full / mem, prev_ratio);
        prev_ratio = full / mem;
    }
}
END_TEST


/* ---- the commands ---------------------------------------------------------------------------------- */

static int copy_run(const char *command, const char *args, char **out, char **err)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s --threads 1 --quiet --preset smoke %s", test_memlab_bin(), command, args);
    return test_run(cmd, out, err);
}

static const char *const header = "command,encoder,objective,curriculum,encoder_arch,decoder_arch,chunks,chunk_len,step,"
                                  "copy_acc,blank_copy_acc,causal_ce,tokens_per_s\n";

/* Each row: the command and encoder expected, objectives in order, steps as listed, metrics in range.
 * Returns the number of rows. */
static int check_rows(const char *csv, const char *command, const char *encoder, const char *const *objectives,
                      const int *steps, int nrows)
{
    ck_assert_int_eq(strncmp(csv, header, strlen(header)), 0);
    const char *line = csv + strlen(header);
    int r = 0;
    for (; *line; r++) {
        char cmd[32], enc[32], obj[32], a1[16], a2[16];
        int chunks, len, step, off = 0;
        double copy, blank, ce, tps;
        ck_assert(sscanf(line, "%31[^,],%31[^,],%31[^,],%n", cmd, enc, obj, &off) == 3);
        const char *rest = strchr(line + off, ',');   /* past the curriculum */
        ck_assert_msg(sscanf(rest, ",%15[^,],%15[^,],%d,%d,%d,%lf,%lf,%lf,%lf", a1, a2, &chunks, &len, &step, &copy, &blank,
                             &ce, &tps) == 9, "row %d: %s", r, line);
        ck_assert_int_lt(r, nrows);
        ck_assert_str_eq(cmd, command);
        ck_assert_str_eq(enc, encoder);
        ck_assert_str_eq(obj, objectives[r]);
        ck_assert_int_eq(step, steps[r]);
        ck_assert_int_eq(chunks, 2);
        ck_assert_int_eq(len, 8);
        ck_assert(copy >= 0 && copy <= 1 && blank >= 0 && blank <= 1);
        ck_assert(ce > 0 && ce < 10 && tps > 0);
        line = strchr(line, '\n') + 1;
    }
    ck_assert_int_eq(r, nrows);
    return r;
}

START_TEST(test_smoke)
{
    char *dir = test_tmpdir(), args[2048], *out, *err, path[1100];
    snprintf(args, sizeof args, "--force --out-dir %s", dir);
    ck_assert_int_eq(copy_run("copy", args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const copy2[] = {"copy", "copy"};
    check_rows(out, "copy", "trainable", copy2, (const int[]){3, 6}, 2);
    snprintf(path, sizeof path, "%s/copy.csv", dir);
    char *table = test_slurp(path);
    ck_assert_ptr_nonnull(table);
    ck_assert_str_eq(table, out);
    free(table);
    free(out);
    free(err);
    static const char *const files[] = {"encoder.safetensors", "decoder.safetensors", "config.yaml", "tokenizer.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        char *f = test_slurp(path);
        ck_assert_msg(f != NULL, "%s missing", files[i]);
        free(f);
    }
    /* blank-copy: its own task by default; the controls; a mosaic decoder */
    static const char *const blank2[] = {"blank-copy", "blank-copy"};
    struct {
        const char *args, *encoder;
    } runs[] = {{"", "trainable"}, {"--no-memory", "none"}, {"--baseline full --decoder-arch mosaic", "full"},
                {"--encoder-arch mosaic --d 48", "trainable"}};
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        snprintf(args, sizeof args, "--out-dir %s/b%zu %s", dir, i, runs[i].args);
        ck_assert_msg(copy_run("blank-copy", args, &out, NULL) == 0, "%s", runs[i].args);
        check_rows(out, "blank-copy", runs[i].encoder, blank2, (const int[]){3, 6}, 2);
        free(out);
    }
    test_rmdir(dir);
}
END_TEST

/* The frozen encoder (an autoencoder trained first, then from its checkpoint, then from
 * memory-inversion's) and a curriculum. */
START_TEST(test_frozen_curriculum)
{
    char *dir = test_tmpdir(), args[2048], *out, *err;
    snprintf(args, sizeof args, "--out-dir %s/a --encoder frozen --curriculum blank-copy:4,combined:3", dir);
    ck_assert_int_eq(copy_run("blank-copy", args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const stages[] = {"blank-copy", "blank-copy", "combined", "combined"};
    check_rows(out, "blank-copy", "frozen", stages, (const int[]){3, 4, 6, 7}, 4);
    ck_assert_ptr_nonnull(strstr(out, ",blank-copy:4+combined:3,"));
    free(out);
    free(err);
    /* the autoencoder's encoder as --encoder-ckpt: the same rows, since the same encoder is frozen */
    snprintf(args, sizeof args, "--out-dir %s/b --encoder frozen --encoder-ckpt %s/a/autoencoder_encoder.safetensors --objective causal",
             dir, dir);
    ck_assert_int_eq(copy_run("copy", args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const causal[] = {"causal", "causal"};
    check_rows(out, "copy", "frozen", causal, (const int[]){3, 6}, 2);
    free(out);
    free(err);
    /* an autoencoder's encoder saved by memory-inversion (16-token windows cover 8-token chunks) */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s memory-inversion --preset smoke --threads 1 --quiet --encoder autoencoder --out-dir %s/inv -o /dev/null",
             test_memlab_bin(), dir);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    snprintf(args, sizeof args, "--out-dir %s/c --encoder frozen --encoder-ckpt %s/inv/autoencoder_encoder_ctx16.safetensors", dir, dir);
    ck_assert_int_eq(copy_run("blank-copy", args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const blank[] = {"blank-copy", "blank-copy"};
    check_rows(out, "blank-copy", "frozen", blank, (const int[]){3, 6}, 2);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* A decoder from a babistories checkpoint (its shape and tokenizer); one whose learned positions are
 * too short for the slots and the chunk is refused. */
START_TEST(test_decoder_ckpt)
{
    char *dir = test_tmpdir(), cmd[4096], args[2048], *out, *err;
    snprintf(cmd, sizeof cmd, "%s babistories --preset smoke --arch mosaic --threads 1 --quiet --steps 5 --ctx 16 --out-dir %s/bs -o /dev/null && "
             "%s babistories --preset smoke --arch gpt --threads 1 --quiet --steps 5 --ctx 8 --out-dir %s/short -o /dev/null",
             test_memlab_bin(), dir, test_memlab_bin(), dir);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    snprintf(args, sizeof args, "--out-dir %s/a --decoder-ckpt %s/bs/babistories_mosaic.safetensors", dir, dir);
    ck_assert_int_eq(copy_run("copy", args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    static const char *const copy2[] = {"copy", "copy"};
    check_rows(out, "copy", "trainable", copy2, (const int[]){3, 6}, 2);
    ck_assert_ptr_nonnull(strstr(out, ",gpt,mosaic,"));   /* the checkpoint's architecture */
    free(out);
    free(err);
    snprintf(args, sizeof args, "--out-dir %s/b --decoder-ckpt %s/short/babistories_gpt.safetensors", dir, dir);
    ck_assert_int_eq(copy_run("copy", args, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "learned positions cover 8 inputs, fewer than the 10"));
    ck_assert_ptr_nonnull(strstr(err, "short/babistories_gpt.safetensors"));
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* --cost: rows for the memory model and the full-context decoder at each chunk count; at one chunk
 * the memory model does strictly more (an encoder and a slot besides the same decoder). */
START_TEST(test_cost)
{
    char *dir = test_tmpdir(), args[2048], *out;
    snprintf(args, sizeof args, "--force --out-dir %s --cost --cost-chunks 1,4", dir);
    ck_assert_int_eq(copy_run("copy", args, &out, NULL), 0);
    const char *h = "command,model,chunks,chunk_len,params,tokens_per_s,flops_per_token\n";
    ck_assert_int_eq(strncmp(out, h, strlen(h)), 0);
    const char *line = out + strlen(h);
    const char *models[4] = {"memory", "full", "memory", "full"};
    const int chunks[4] = {1, 1, 4, 4};
    double flops[4];
    for (int r = 0; r < 4; r++) {
        char cmd[16], model[16];
        int c, l;
        long long params;
        double tps;
        ck_assert(sscanf(line, "%15[^,],%15[^,],%d,%d,%lld,%lf,%lf", cmd, model, &c, &l, &params, &tps, &flops[r]) == 7);
        ck_assert_str_eq(model, models[r]);
        ck_assert_int_eq(c, chunks[r]);
        ck_assert(tps > 0 && flops[r] > 0 && params > 0);
        line = strchr(line, '\n') + 1;
    }
    ck_assert_str_eq(line, "");
    ck_assert(flops[0] > flops[1]);
    ck_assert(flops[3] > flops[1] && flops[2] > flops[0]);
    free(out);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_bad_input)
{
    char *dir = test_tmpdir(), narrow[1100], prefix[1200];
    snprintf(narrow, sizeof narrow, "%s/narrow.safetensors", dir);
    write_gpt_ckpt(narrow, 16, 8);
    bad_input_case cases[] = {
        {"--chunks 0", 2, "--chunks 0: need at least one chunk"},
        {"--chunk-len 0", 2, "--chunk-len 0"},
        {"--chunks 3 --chunk-len 5", 2, "is odd"},
        {"--objective recall", 2, "recall"},
        {"--curriculum blank-copy:x", 2, "--curriculum 'blank-copy:x'"},
        {"--curriculum copy,recall", 2, "--curriculum"},
        {"--curriculum copy --objective copy", 2, "--curriculum and --objective"},
        {"--no-memory --baseline full", 2, "--no-memory and --baseline full"},
        {"--encoder frozen --no-memory", 2, "--encoder frozen needs an encoder"},
        {"--encoder-ckpt x.safetensors", 2, "add --encoder frozen"},
        {"--encoder-d 30 --encoder-heads 4", 2, "--encoder-d 30 is not divisible by --encoder-heads 4"},
        {"--cost --cost-chunks 2,x", 2, "--cost-chunks"},
        {"", 1, "a gpt of width 16 and 1 layers, but --encoder-arch gpt --encoder-d 32"},
        {"--encoder frozen --encoder-ckpt /nonexistent.safetensors", 1, "/nonexistent.safetensors"},
    };
    snprintf(cases[12].args, sizeof cases[12].args, "--encoder frozen --encoder-ckpt %s", narrow);
    snprintf(prefix, sizeof prefix, "blank-copy --threads 1 --quiet --preset smoke --out-dir %s/out", dir);
    expect_bad_inputs(prefix, cases, sizeof cases / sizeof *cases);
    test_rmdir(dir);
}
END_TEST

Suite *suite_copy(void)
{
    Suite *s = suite_create("copy");
    TCase *lib = tcase_create("memmodel");
    tcase_add_test(lib, test_batches);
    tcase_add_test(lib, test_slot_layout);
    tcase_add_test(lib, test_causal_across_chunks);
    tcase_add_test(lib, test_frozen_encoder);
    tcase_add_test(lib, test_config_errors);
    tcase_set_timeout(lib, 60);
    suite_add_tcase(s, lib);
    TCase *cmd = tcase_create("command");
    tcase_add_test(cmd, test_smoke);
    tcase_add_test(cmd, test_frozen_curriculum);
    tcase_add_test(cmd, test_decoder_ckpt);
    tcase_add_test(cmd, test_cost);
    tcase_add_test(cmd, test_bad_input);
    tcase_set_timeout(cmd, 120);
    suite_add_tcase(s, cmd);
    return s;
}
