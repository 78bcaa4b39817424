/* The benchmark's FLOP counter against hand counts, and `memlab bench` in its smoke preset through the
 * real binary (memlab alone, then with the PyTorch peers when Debian's python3-torch is there). No
 * timing is asserted: only that every measurement is there, positive and consistent. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "nn/lm.h"
#include "nn/lm_ckpt.h"
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

static const char *const header =
    "bench,arch,d,layers,ctx,batch,threads,memlab_tokens_per_s,torch_tokens_per_s,ratio,gflops,mfu,peak_rss_mb\n";

/* Splits a CSV line (modified in place) into its 13 fields; returns the count. */
static int fields(char *line, char **f)
{
    int n = 0;
    for (char *p = line;; p++) {
        f[n++] = p;
        p = strchr(p, ',');
        if (!p || n == 13)
            break;
        *p = 0;
    }
    return n;
}

static int empty(const char *s) { return *s == 0; }

static int have_torch(const char *why)
{
    if (test_run("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1", NULL, NULL) == 0)
        return 1;
    fprintf(stderr, "check_bench: /usr/bin/python3 lacks torch (Debian's python3-torch): skipping %s\n", why);
    return 0;
}

/* Runs the smoke benchmark and checks every row, and how many of each kind it wrote: sgemm, train,
 * scaling, generate_uncached. */
static void smoke(const char *extra, int torch, const int want[4])
{
    int n[4] = {0, 0, 0, 0}, *nsgemm = &n[0], *ntrain = &n[1], *nscaling = &n[2], *ngen = &n[3];
    char *dir = test_tmpdir(), cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, "%s bench --preset smoke --threads 1 --quiet --out-dir %s %s", test_memlab_bin(), dir,
             extra);
    int rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
    ck_assert_int_eq(strncmp(out, header, strlen(header)), 0);
    for (char *line = strchr(out, '\n') + 1, *next; *line; line = next) {
        next = strchr(line, '\n');
        ck_assert(next);
        *next++ = 0;
        char *f[13];
        ck_assert_int_eq(fields(line, f), 13);
        ck_assert_str_eq(f[6], "1");   /* threads */
        if (strncmp(f[0], "sgemm_", 6) == 0) {
            (*nsgemm)++;
            ck_assert(strtod(f[10], NULL) > 0);
            ck_assert(empty(f[1]) && empty(f[7]) && empty(f[8]) && empty(f[9]) && empty(f[11]) && empty(f[12]));
            continue;
        }
        const int train = strcmp(f[0], "train") == 0, scaling = strcmp(f[0], "scaling") == 0;
        ck_assert_msg(train || scaling || strcmp(f[0], "generate") == 0 || strcmp(f[0], "generate_uncached") == 0,
                      "bench %s", f[0]);
        *ntrain += train;
        *nscaling += scaling;
        *ngen += !train && !scaling;
        ck_assert_msg(strcmp(f[1], "gpt") == 0 || strcmp(f[1], "mosaic") == 0, "arch %s", f[1]);
        ck_assert_str_eq(f[2], "32");
        ck_assert_str_eq(f[3], "1");
        const double mem = strtod(f[7], NULL), rss = strtod(f[12], NULL);
        ck_assert(mem > 0 && rss > 0);
        if (torch) {
            const double tor = strtod(f[8], NULL), ratio = strtod(f[9], NULL);
            ck_assert(tor > 0);
            ck_assert_rel(ratio, mem / tor, 1e-4);
        } else {
            ck_assert(empty(f[8]) && empty(f[9]));
        }
        if (train || scaling) {
            /* gflops = training FLOPs per token x tokens/s; mfu = gflops / the best sgemm rate */
            lm_config c = {.arch = strcmp(f[1], "gpt") ? LM_MOSAIC : LM_GPT, .vocab = 64, .ctx = atoi(f[4]),
                           .d = 32, .layers = 1, .heads = 2, .pmem = 112};
            ck_assert_rel(strtod(f[10], NULL), lm_flops_per_token(&c).train * mem * 1e-9, 1e-4);
            ck_assert(strtod(f[11], NULL) > 0);
        } else {
            ck_assert(empty(f[10]) && empty(f[11]));
            ck_assert_str_eq(f[5], "1");
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/results.md", dir);
    char *md = test_slurp(path);
    ck_assert_msg(md, "no %s", path);
    ck_assert(strstr(md, "Machine: ") && strstr(md, "Commit: `") && strstr(md, "| bench | threads | arch |"));
    ck_assert(strstr(md, "| train | 1 | mosaic | 32 | 1 | 32 | 2 |"));
    free(md);
    free(out);
    free(err);
    test_rmdir(dir);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(n[i] == want[i], "%d rows of kind %d, expected %d", n[i], i, want[i]);
}

START_TEST(test_smoke_memlab)
{
    /* 128^3 and five linear shapes; 2 archs at one shape; 2 archs x 2 contexts; 2 archs, cached and not */
    smoke("--torch off", 0, (const int[]){6, 2, 4, 4});
}
END_TEST

START_TEST(test_smoke_torch)
{
    if (!have_torch("the PyTorch peers' smoke run"))
        return;
    smoke("--torch on --suite sgemm,train,generate", 1, (const int[]){6, 2, 0, 4});
    /* the peers' own caches give the logits of their full forward */
    for (int a = 0; a < 2; a++) {
        char cmd[1024], *out;
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 benchmarks/peers/lm_peer.py --check-cache --arch %s --d 24 "
                                  "--heads 3 --layers 2 --ctx 19 --vocab 23", a ? "mosaic" : "gpt");
        ck_assert_msg(test_run(cmd, &out, NULL) == 0, "%s: %s", cmd, out);
        free(out);
    }
}
END_TEST

/* The token ids of the peers' --check-loss (benchmarks/peers/peer_common.py: check_ids). */
static void check_ids(int *ids, int n, int vocab, int salt)
{
    for (int i = 0; i < n; i++)
        ids[i] = (int)((((long long)(i + salt) * 7919 + 13) % (1 << 20)) % vocab);
}

/* A model of memlab bench's kind (no biases, learned positions, exact GELU, the library mosaic) at a
 * tiny shape, its weights moved off the initialisation so that every term counts (the gpt's N(0,
 * 0.02) matrices would leave attention uniform): matrices get noise of std 0.5 / sqrt(fan-in), vectors
 * (LayerNorm weights, the mosaic's per-head scalars) a factor 1 + 0.1 N(0, 1). Written as a
 * checkpoint recording memlab's loss on the check's ids (times loss_factor: 1, or a wrong loss that
 * the peers must reject) and the batch. */
static void write_check_ckpt(const char *path, int mosaic, double loss_factor)
{
    lm_config c = {.arch = mosaic ? LM_MOSAIC : LM_GPT, .vocab = 23, .ctx = 7, .d = 12, .layers = 2, .heads = 3,
                   .pmem = mosaic ? 5 : 0, .pos = POS_LEARNED};
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
    lm m;
    lm_build(&m, &c);
    rng r = rng_stream(7, RNG_STREAM_INIT);
    lm_init_weights(&m, &r);
    for (int i = 0; i < m.ps.count; i++) {
        const param_entry *pe = &m.ps.entries[i];
        real *w = params_tensor(&m.ps, i)->data;
        for (size_t j = 0; j < pe->n; j++)
            w[j] = pe->ndim == 2 ? w[j] + 0.5 / sqrt(pe->shape[1]) * rng_normal(&r) : w[j] * (1 + 0.1 * rng_normal(&r));
    }
    enum { B = 2 };
    int ids[B * 7], targets[B * 7];
    check_ids(ids, B * c.ctx, c.vocab, 0);
    check_ids(targets, B * c.ctx, c.vocab, 1);
    tape tp;
    tape_init(&tp);
    tensor *loss = op_softmax_xent(&tp, lm_forward(&m, &tp, ids, B, c.ctx, NULL), targets, -1);
    char value[32];
    snprintf(value, sizeof value, "%.9g", loss->data[0] * loss_factor);
    const char *extra[] = {"check_loss", value, "check_batch", "2", NULL};
    ck_assert_msg(lm_ckpt_save(path, &m, extra, 0, &e) == 0, "%s", e.msg);
    tape_free(&tp);
    lm_free(&m);
}

/* Both peers compute memlab's functions: the same weights give memlab's loss within 1e-4 (under
 * Debian's torch 1.13 the torch2 peer runs its no-SDPA fallback), and a recorded loss 0.1% off fails. */
START_TEST(test_peers_equal_memlab)
{
    if (!have_torch("the peers' losses against memlab's"))
        return;
    char *dir = test_tmpdir(), path[4200], cmd[8600], *out;
    snprintf(path, sizeof path, "%s/check.safetensors", dir);
    static const char *const scripts[] = {"lm_peer.py", "lm_peer_torch2.py"};
    for (int mosaic = 0; mosaic < 2; mosaic++)
        for (int wrong = 0; wrong < 2; wrong++) {
            write_check_ckpt(path, mosaic, wrong ? 1.001 : 1);
            for (int s = 0; s < 2; s++) {
                snprintf(cmd, sizeof cmd, "/usr/bin/python3 benchmarks/peers/%s --check-loss %s", scripts[s], path);
                const int rc = test_run(cmd, &out, NULL);
                ck_assert_msg(wrong ? rc == 1 : rc == 0, "%s: exit %d: %s", cmd, rc, out);
                ck_assert_msg(strstr(out, "relative difference"), "%s", out);
                free(out);
            }
        }
    test_rmdir(dir);
}
END_TEST

/* --threads-list: every benchmark at each count, one CSV (the threads column); with the torch2 peer,
 * PyTorch's cells are filled except for cached generation (it has no cache). No timing is asserted. */
START_TEST(test_threads_list)
{
    const int torch = have_torch("the torch2 peer in the thread-list run");
    char *dir = test_tmpdir(), cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, "%s bench --preset smoke --quiet --out-dir %s --suite train,generate --threads-list 1,2 "
                              "--torch %s --peer torch2", test_memlab_bin(), dir, torch ? "on" : "off");
    int rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
    int rows[2] = {0, 0}, torch_cells = 0;
    for (char *line = strchr(out, '\n') + 1, *next; *line; line = next) {
        next = strchr(line, '\n');
        *next++ = 0;
        char *f[13];
        ck_assert_int_eq(fields(line, f), 13);
        const int t = atoi(f[6]);
        ck_assert_msg(t == 1 || t == 2, "threads %s", f[6]);
        rows[t - 1]++;
        ck_assert(strtod(f[7], NULL) > 0);
        const int cached = strcmp(f[0], "generate") == 0;
        ck_assert_msg(empty(f[8]) == (cached || !torch), "%s: torch cell '%s'", f[0], f[8]);
        torch_cells += !empty(f[8]);
    }
    /* train and both generations, 2 archs each, at each count */
    ck_assert_int_eq(rows[0], 6);
    ck_assert_int_eq(rows[1], 6);
    ck_assert_int_eq(torch_cells, torch ? 8 : 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/results.md", dir);
    char *md = test_slurp(path);
    ck_assert_msg(md && strstr(md, "threads for memlab and PyTorch: 1, 2") && strstr(md, "| train | 2 | mosaic |"),
                  "%s", md ? md : path);
    free(md);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* --peak-tflops: MFU divides by the peak given (0.001 TFLOP/s: 1 GFLOP/s, so MFU equals GFLOP/s),
 * not by a measured sgemm, and results.md names it. */
START_TEST(test_peak_tflops)
{
    char *dir = test_tmpdir(), cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, "%s bench --preset smoke --threads 1 --quiet --out-dir %s --suite sgemm,train "
                              "--torch off --peak-tflops 0.001", test_memlab_bin(), dir);
    int rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
    int train = 0;
    for (char *line = strchr(out, '\n') + 1, *next; *line; line = next) {
        next = strchr(line, '\n');
        *next++ = 0;
        char *f[13];
        ck_assert_int_eq(fields(line, f), 13);
        if (strcmp(f[0], "train") != 0)
            continue;
        train++;
        ck_assert_rel(strtod(f[11], NULL), strtod(f[10], NULL), 1e-4);
    }
    ck_assert_int_eq(train, 2);
    char path[4200];
    snprintf(path, sizeof path, "%s/results.md", dir);
    char *md = test_slurp(path);
    ck_assert_msg(md && strstr(md, "MFU: against a peak of 0.001 TFLOP/s"), "%s", md ? md : path);
    free(md);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_bad_input)
{
    char cmd[2048], *out, *err;
    snprintf(cmd, sizeof cmd, "%s bench --preset smoke --torch off --train-shapes 30x1x32x4", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 2);
    ck_assert_msg(strstr(err, "--train-shapes"), "%s", err);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s bench --preset smoke --torch off --suite train,fast", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 2);
    ck_assert_msg(strstr(err, "--suite"), "%s", err);
    free(out);
    free(err);
    static const char *const bad[][2] = {{"--peer torch3", "--peer"},
                                         {"--compile", "--compile needs --peer torch2"},
                                         {"--threads-list 2,0", "--threads-list"},
                                         {"--dtype bf16", "--dtype bf16 needs --device cuda"},
                                         {"--device cuda", "--device cuda"}};
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "%s bench --preset smoke --torch off %s", test_memlab_bin(), bad[i][0]);
        ck_assert_int_eq(test_run(cmd, &out, &err), 2);
        ck_assert_msg(strstr(err, bad[i][1]) && !*out, "%s: %s", cmd, err);
        free(out);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "%s bench --preset smoke --torch on --python /nonexistent/python3", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 1);
    ck_assert_msg(strstr(err, "--torch on"), "%s", err);
    free(out);
    free(err);
}
END_TEST

/* Whether the profile table in err has a line for op in pass. */
static int profile_has(const char *err, const char *pass_want, const char *op_want)
{
    for (const char *line = err; (line = strstr(line, "memlab: profile: ")); line++) {
        char op[64], pass[16];
        long long calls;
        double ms, pct;
        if (sscanf(line, "memlab: profile: %15s %lld %lf %lf%% %63[^\n]", pass, &calls, &ms, &pct, op) == 5 &&
            strcmp(pass, pass_want) == 0 && strcmp(op, op_want) == 0)
            return 1;
    }
    return 0;
}

/* MEMLAB_PROFILE=1 (docs/profiling.md): a training step's ops in both passes, with shares that add
 * up to the whole, and the warm-up left out (each timed step is one softmax-cross-entropy call); the
 * attention named after its table, so that the mosaic's two memories show apart. */
START_TEST(test_op_profile)
{
    char cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, "MEMLAB_PROFILE=1 %s bench run --kind train --arch gpt --d 16 --layers 2 --heads 2 "
                              "--ctx 16 --batch 2 --vocab 32 --warmup 2 --min-steps 3 --min-time 0", test_memlab_bin());
    int rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
    ck_assert_msg(strstr(err, "memlab: profile (wall time, MEMLAB_PROFILE)"), "%s", err);
    int linear_fwd = 0, linear_bwd = 0, xent_calls = -1;
    double share = 0;
    for (char *line = err; (line = strstr(line, "memlab: profile: ")); line++) {
        char op[64], pass[16];
        long long calls;
        double ms, pct;
        if (sscanf(line, "memlab: profile: %15s %lld %lf %lf%% %63[^\n]", pass, &calls, &ms, &pct, op) != 5)
            continue;   /* the header */
        ck_assert_msg(calls > 0 && ms >= 0 && pct >= 0, "%.80s", line);
        share += pct;
        linear_fwd |= strcmp(op, "linear") == 0 && strcmp(pass, "forward") == 0;
        linear_bwd |= strcmp(op, "linear") == 0 && strcmp(pass, "backward") == 0;
        if (strcmp(op, "linear_xent") == 0 && strcmp(pass, "forward") == 0)   /* the head and its loss */
            xent_calls = (int)calls;
    }
    ck_assert_msg(linear_fwd && linear_bwd, "%s", err);
    ck_assert_int_eq(xent_calls, 3);
    ck_assert_msg(fabs(share - 100) < 0.5, "shares add up to %g%%", share);
    ck_assert_msg(profile_has(err, "forward", "attention") && profile_has(err, "backward", "attention"), "%s", err);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "MEMLAB_PROFILE=1 %s bench run --kind train --arch mosaic --d 16 --layers 1 --heads 2 "
                              "--ctx 16 --batch 2 --vocab 32 --warmup 1 --min-steps 1 --min-time 0", test_memlab_bin());
    rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
    const char *memories[] = {"attention_shared", "attention_strict"};
    for (int i = 0; i < 2; i++)
        ck_assert_msg(profile_has(err, "forward", memories[i]) && profile_has(err, "backward", memories[i]),
                      "%s missing: %s", memories[i], err);
    ck_assert_msg(!profile_has(err, "forward", "attention"), "%s", err);
    free(out);
    free(err);
    /* without the variable: no table */
    snprintf(cmd, sizeof cmd, "%s bench run --kind train --arch gpt --d 16 --layers 1 --heads 2 --ctx 16 --batch 2 "
                              "--vocab 32 --warmup 1 --min-steps 1 --min-time 0", test_memlab_bin());
    rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0 && !strstr(err, "memlab: profile"), "%s", err);
    free(out);
    free(err);
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
    tc = tcase_create("harness");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_smoke_memlab);
    tcase_add_test(tc, test_smoke_torch);
    tcase_add_test(tc, test_peers_equal_memlab);
    tcase_add_test(tc, test_threads_list);
    tcase_add_test(tc, test_peak_tflops);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_op_profile);
    suite_add_tcase(s, tc);
    return s;
}
