/* memlab bench: how fast memlab trains and generates, against the machine's own sgemm ceiling and
 * against the same models in PyTorch (benchmarks/peers/lm_peer.py), measured in one run.
 *
 * Every measurement runs in a child process of its own (this binary's `bench run`, or the PyTorch
 * peer), so that its peak resident memory is its own (wait4's ru_maxrss) and no state (thread pools,
 * allocator caches, page faults already taken) leaks from one configuration into the next. For each
 * configuration the memlab and PyTorch children alternate, --repeats rounds of one each (A/B
 * interleaved, so that a change of load on the machine hits both), and the median of each side is
 * reported. A child builds the model, takes --warmup untimed steps, then times whole steps until
 * --min-time has passed and at least --min-steps were taken.
 *
 * Model FLOPs per token are lm_flops_per_token (nn/lm_flops.h; benchmarks/NOTES.md §3); MFU divides
 * the achieved GFLOP/s by the best sgemm GFLOP/s measured in the same run at the same thread count. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/blas.h"
#include "core/op_profile.h"
#include "core/ops.h"
#include "core/threads.h"
#include "commands.h"
#include "driver.h"
#include "io/progress.h"
#include "io/spawn.h"
#include "lm_opts.h"
#include "nn/lm_flops.h"
#include "nn/lm_train.h"
#include "nn/sampler.h"
#include "nn/train_loop.h"

#define MAX_SHAPES 16
#define MAX_ROWS 1024
#define MAX_THREAD_COUNTS 16

typedef struct {
    char *suite, *train_shapes, *scaling_shape, *scaling_ctx, *torch, *python, *peer, *peer_dir, *markdown;
    char *threads_list;
    int compile;
    device_opts dev;
    long long tokens, scaling_batch, gen_tokens, vocab, repeats, warmup, min_steps, square;
    double min_time, sgemm_time, peak_tflops;
    /* `bench run`: one measurement in this process */
    char *kind, *arch;
    long long d, layers, heads, ctx, batch, pmem;
} bench_opts;

static bench_opts opts;

static const opt_spec bench_options[] = {
    {"suite", 0, OPT_STRING, &opts.suite, "sgemm,train,scaling,generate", "comma list of the benchmarks to run: sgemm, train, scaling, generate", NULL, 0, -1, "LIST"},
    {"train-shapes", 0, OPT_STRING, &opts.train_shapes, "128x2x256x4,256x4x256x8,512x4x512x8", "training (and generation) shapes, DxLAYERSxCTXxHEADS, comma-separated", NULL, 0, -1, "LIST"},
    {"tokens", 0, OPT_INT, &opts.tokens, "8192", "tokens per training step: batch = tokens / ctx (at least 1)", NULL, 1, 1 << 30, "N"},
    {"scaling-shape", 0, OPT_STRING, &opts.scaling_shape, "128x2x4", "the scaling benchmark's shape, DxLAYERSxHEADS", NULL, 0, -1, "S"},
    {"scaling-ctx", 0, OPT_STRING, &opts.scaling_ctx, "128,256,512,1024,2048", "context lengths of the scaling benchmark", NULL, 0, -1, "LIST"},
    {"scaling-batch", 0, OPT_INT, &opts.scaling_batch, "2", "sequences per step in the scaling benchmark (fixed, so time per step shows the cost in context length)", NULL, 1, 1 << 20, "B"},
    {"gen-tokens", 0, OPT_INT, &opts.gen_tokens, "32", "tokens generated per generation measurement (after a prompt of ctx / 2)", NULL, 1, 1 << 20, "N"},
    {"vocab", 0, OPT_INT, &opts.vocab, "2048", "vocabulary size (babistories' default BPE)", NULL, 2, 1 << 24, "V"},
    {"repeats", 0, OPT_INT, &opts.repeats, "3", "A/B rounds per configuration (memlab then PyTorch); the median is reported", NULL, 1, 1000, "N"},
    /* 2: the activation arena settles into one block of its peak size at the first step's end, so the
     * second step is the first to run in it and pays the first touch of its pages (measured: gpt
     * 512x4x512 1670 tokens/s with one warm-up step, 2500 with two, the steady state of training). */
    {"warmup", 0, OPT_INT, &opts.warmup, "2", "untimed steps (or generated tokens) before timing (2: the first step sizes the activation arena, the second touches its pages)", NULL, 0, 1000, "N"},
    {"min-steps", 0, OPT_INT, &opts.min_steps, "2", "timed steps at least", NULL, 1, 1 << 20, "N"},
    {"min-time", 0, OPT_DOUBLE, &opts.min_time, "3", "timed seconds at least per measurement", NULL, 0, 1e6, "S"},
    {"sgemm-time", 0, OPT_DOUBLE, &opts.sgemm_time, "0.5", "seconds per sgemm measurement", NULL, 0, 1e6, "S"},
    {"square", 0, OPT_INT, &opts.square, "1024", "the square sgemm size", NULL, 1, 1 << 16, "N"},
    {"peak-tflops", 0, OPT_DOUBLE, &opts.peak_tflops, "0", "MFU against this peak in TFLOP/s, the hardware's datasheet figure (an H100 SXM's dense bf16: 989), instead of the best sgemm this run measured (0)", NULL, 0, 1e9, "X"},
    {"torch", 0, OPT_STRING, &opts.torch, "auto", "the PyTorch peers: on, off, or auto (on when --python imports torch)", "auto|on|off", 0, -1, "WHEN"},
    {"python", 0, OPT_STRING, &opts.python, "/usr/bin/python3", "the interpreter with torch (Debian's python3-torch; the device machine's PyTorch 2: /opt/torch/.venv/bin/python3)", NULL, 0, -1, "PATH"},
    {"peer", 0, OPT_STRING, &opts.peer, "twin", "the PyTorch peer: twin (lm_peer.py: the test fixtures' twins, hand-written attention, for PyTorch 1.13) or torch2 (lm_peer_torch2.py: nanoGPT with SDPA and nanoMosaics' mosaic, PyTorch >= 2.1)", "twin|torch2", 0, -1, "NAME"},
    {"peer-dir", 0, OPT_STRING, &opts.peer_dir, "benchmarks/peers", "the folder of the peers' scripts", NULL, 0, -1, "DIR"},
    {"compile", 0, OPT_FLAG, &opts.compile, NULL, "the torch2 peer runs its model through torch.compile", NULL, 0, -1, NULL},
    DEVICE_OPTION_ROWS(opts.dev),
    {"threads-list", 0, OPT_STRING, &opts.threads_list, NULL, "thread counts to run every benchmark at, e.g. 2,8,16 (a scaling table in one CSV; default: --threads alone)", NULL, 0, -1, "LIST"},
    {"markdown", 0, OPT_STRING, &opts.markdown, NULL, "the Markdown table (default <out-dir>/results.md)", NULL, 0, -1, "FILE"},
    {"kind", 0, OPT_STRING, &opts.kind, "train", "run: train, generate (with the KV / memory cache) or generate_uncached", "train|generate|generate_uncached", 0, -1, "K"},
    {"arch", 0, OPT_STRING, &opts.arch, "gpt", "run: gpt or mosaic", "gpt|mosaic", 0, -1, "A"},
    {"d", 0, OPT_INT, &opts.d, "128", "run: model width", NULL, 1, 65536, "D"},
    {"layers", 0, OPT_INT, &opts.layers, "2", "run: blocks", NULL, 1, 1000, "L"},
    {"heads", 0, OPT_INT, &opts.heads, "4", "run: heads", NULL, 1, 4096, "H"},
    {"ctx", 0, OPT_INT, &opts.ctx, "256", "run: context length", NULL, 2, 1 << 20, "T"},
    {"batch", 0, OPT_INT, &opts.batch, "8", "run: sequences per step", NULL, 1, 1 << 20, "B"},
    {"pmem", 0, OPT_INT, &opts.pmem, "0", "mosaic persistent-memory slots (0: 3.5 d)", NULL, 0, 1 << 24, "P"},
};

static const char *const smoke_kv[] = {"train-shapes", "32x1x32x2", "tokens", "64", "scaling-shape", "32x1x2",
                                       "scaling-ctx", "16,32", "scaling-batch", "2", "gen-tokens", "4",
                                       "vocab", "64", "repeats", "1", "warmup", "1", "min-steps", "2",
                                       "min-time", "0", "sgemm-time", "0", "square", "128", NULL};
static const preset_def bench_presets[] = {{"smoke", smoke_kv}, {"default", NULL}};

/* `bench run` writes only its table; the harness writes results.md into a run folder. */
static int bench_out_dir_use(const common_opts *c) { return c->npositional ? OUT_DIR_NONE : OUT_DIR_NEW; }

static const cmd_spec bench_spec = {
    .command = "bench",
    .summary = "training and generation throughput, MFU, and the same models in PyTorch",
    .usage = "memlab bench [options]        memlab bench run --kind KIND [shape options]",
    .description =
        "Measures, in one run: the sgemm ceiling through the core's BLAS wrapper (at --square^3 and at\n"
        "the shapes of the models' linears), training-step tokens/s, achieved GFLOP/s and MFU of gpt\n"
        "and mosaic at --train-shapes (MFU against that ceiling, or against --peak-tflops, the\n"
        "hardware's own peak: the way for --device cuda, which measures no sgemm), time per step\n"
        "against context length (--scaling-ctx), and\n"
        "greedy generation tokens/s at the same shapes, with the KV / memory cache (generate) and\n"
        "without, every token re-running the window (generate_uncached).\n"
        "Each measurement is a child process; memlab and the PyTorch peer alternate (--repeats rounds).\n"
        "Primary CSV:\n"
        "  bench,arch,d,layers,ctx,batch,threads,memlab_tokens_per_s,torch_tokens_per_s,ratio,gflops,mfu,peak_rss_mb\n"
        "(bench: sgemm_MxNxK, train, scaling, generate, generate_uncached; empty cells where a column\n"
        "does not apply; gflops of an sgemm row is its own rate). --markdown gets the same rows as a\n"
        "table with the machine, the date and the commit. `bench run` takes one measurement in this process and\n"
        "prints kind,tokens_per_s,steps,seconds,loss (the harness's child).",
    .opts = bench_options,
    .nopts = sizeof bench_options / sizeof bench_options[0],
    .presets = bench_presets,
    .npresets = 2,
    .max_positional = 1,
    .out_dir_use = bench_out_dir_use,
};

/* ---- one measurement in this process (`bench run`) ------------------------------------------------ */

/* `bench run`'s table: one row, the measurement (a harness reads it back from its child). */
static const char *const run_columns[] = {"kind", "tokens_per_s", "steps", "seconds", "loss"};
static const table_spec run_table = TABLE_SPEC(NULL, run_columns);

static void random_ids(int *ids, size_t n, int V, rng *r)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = (int)rng_below(r, (uint64_t)V);
}

/* Training steps on random tokens (the cost of a step does not depend on the data), timed after
 * --warmup steps until both --min-steps and --min-time are reached. */
typedef struct {
    lm *m;
    tape tp;
    int *ids, *tg;
    int B, T;
    int bf16;
    lm_optim opt;
    double start, elapsed;
    long long timed;
} timed_train;

static double timed_step(void *ctx, long long step, long long *tokens)
{
    timed_train *t = ctx;
    if (step == opts.warmup) {
        t->start = progress_now();
        op_profile_restart();   /* MEMLAB_PROFILE: the timed steps only */
    }
    *tokens += (long long)t->B * t->T;
    return lm_train_step(t->m, &t->tp, t->ids, t->tg, t->B, t->T, -1, &t->opt, step, NULL, NULL);
}

static int timed_enough(void *ctx, const train_state *st)
{
    timed_train *t = ctx;
    if (st->step <= opts.warmup)
        return 0;
    t->timed = st->step - opts.warmup;
    t->elapsed = progress_now() - t->start;
    return t->timed >= opts.min_steps && t->elapsed >= opts.min_time;
}

static int run_train(driver *d, lm *m, int B, int T, int bf16)
{
    const size_t n = (size_t)B * T;
    /* babistories' optimiser: AdamW (0.9, 0.95), decay 0.1, clipping at 1 */
    timed_train t = {.m = m, .B = B, .T = T, .bf16 = bf16,
                     .opt = {.adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1},
                             .sched = {.kind = SCHED_CONSTANT, .lr = 1e-3, .total = 1},
                             .clip = 1}};
    t.ids = xmalloc(n * sizeof *t.ids);
    t.tg = xmalloc(n * sizeof *t.tg);
    rng r = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_DATA);
    random_ids(t.ids, n, m->cfg.vocab, &r);
    random_ids(t.tg, n, m->cfg.vocab, &r);
    tape_init(&t.tp);
    tape_set_device(&t.tp, m->ps.device);
    tape_set_bf16(&t.tp, bf16);
    train_loop loop = {.label = "bench", .quiet = 1, .ctx = &t, .step = timed_step, .done = timed_enough};
    train_state st;
    err_t e;
    const int ok = train_loop_run(&loop, &st, &e) == TRAIN_DONE;
    tape_free(&t.tp);
    free(t.ids);
    free(t.tg);
    if (!ok) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    csv_row(d->csv, cell_str("train"), cell_num((double)t.timed * B * T / t.elapsed), cell_int(t.timed),
            cell_num(t.elapsed), cell_num(st.loss));
    return 0;
}

/* Tokens the generation benchmark adds: --gen-tokens, within the context for the cache. */
static int gen_count(int ctx, int cached)
{
    const int prompt = ctx / 2 > 0 ? ctx / 2 : 1, room = ctx - prompt - (int)opts.warmup;
    return cached && room < opts.gen_tokens ? (room > 0 ? room : 0) : (int)opts.gen_tokens;
}

/* Greedy generation of one sequence after a random prompt (nn/sampler.h). Uncached: each new token
 * runs the model over the last ctx tokens. Cached: the prompt goes through the decoder's cache
 * (untimed), then each new token is one cached step. */
static int run_generate(driver *d, lm *m, int cached)
{
    const int prompt = m->cfg.ctx / 2 > 0 ? m->cfg.ctx / 2 : 1, G = gen_count(m->cfg.ctx, cached);
    if (G < 1) {
        driver_error(d, "no room to generate after a prompt of %d tokens in a context of %d", prompt, m->cfg.ctx);
        return -1;
    }
    const int total = prompt + (int)opts.warmup + G;
    int *seq = xmalloc((size_t)total * sizeof *seq);
    rng r = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_DATA);
    random_ids(seq, (size_t)prompt, m->cfg.vocab, &r);
    sampler sm;
    sampler_init(&sm, m, &(sample_cfg){.temperature = 0}, total, cached ? SAMPLE_CACHED : SAMPLE_WINDOW);
    sampler_feed(&sm, seq, prompt);
    double start = 0;
    for (int i = 0, len = prompt; i < opts.warmup + G; i++, len++) {
        if (i == opts.warmup) {
            start = progress_now();
            op_profile_restart();
        }
        seq[len] = sampler_next(&sm, seq, len, NULL);
    }
    double elapsed = progress_now() - start;
    sampler_free(&sm);
    free(seq);
    csv_row(d->csv, cell_str(cached ? "generate" : "generate_uncached"), cell_num(G / elapsed), cell_int(G),
            cell_num(elapsed), cell_num(NAN));
    return 0;
}

static int bench_run(driver *d)
{
    lm_config cfg = {.vocab = (int)opts.vocab, .ctx = (int)opts.ctx, .d = (int)opts.d, .layers = (int)opts.layers,
                     .heads = (int)opts.heads, .pmem = (int)opts.pmem, .pos = POS_LEARNED};
    err_t e;
    device_kind device;
    int bf16;
    if (lm_arch_parse(opts.arch, &cfg.arch) != 0 || lm_config_resolve(&cfg, &e) != 0 ||
        device_opts_open(&opts.dev, &device, &bf16, &e) != 0)
        return driver_usage_error(d, "%s", e.msg);
    if (device != DEV_CPU && strcmp(opts.kind, "train") != 0)
        return driver_usage_error(d, "bench run --device cuda: training only (generation runs on the CPU)");
    if (driver_open_csv(d, &run_table) != 0)
        return driver_end(d, 0);
    lm m;
    lm_build(&m, &cfg);
    rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
    lm_init_weights(&m, &init);
    params_move(&m.ps, device);   /* initialised on the host: the same weights on either device */
    int rc = strcmp(opts.kind, "train") == 0 ? run_train(d, &m, (int)opts.batch, cfg.ctx, bf16)
                                           : run_generate(d, &m, strcmp(opts.kind, "generate") == 0);
    lm_free(&m);
    return driver_end(d, rc == 0);
}

/* ---- the harness ------------------------------------------------------------------------------------ */

typedef struct {
    int d, layers, ctx, heads;
} shape;

/* "AxBxC..." with exactly n positive parts. */
static int parse_dims(const char *s, int *v, int n)
{
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 1 || x > (1 << 24))
            return -1;
        v[i] = (int)x;
        p = end;
        if (i < n - 1) {
            if (*p != 'x')
                return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

/* A comma list of items parsed by parse_dims with n parts each; returns the count or -1. */
static int parse_list(const char *s, int n, int *out, int max)
{
    char buf[1024];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    int count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (count == max || parse_dims(tok, out + (size_t)count * n, n) != 0)
            return -1;
        count++;
    }
    return count ? count : -1;
}

static int suite_has(const char *name)
{
    size_t n = strlen(name);
    for (const char *p = opts.suite; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        p += *p == ',';
    }
    return 0;
}

typedef struct {
    char bench[48];
    int threads;
    const char *arch;   /* NULL: empty cell */
    int d, layers, ctx, batch;   /* 0: empty cell */
    double memlab_tps, torch_tps, gflops, mfu, rss_mb, torch_rss_mb, memlab_step_s, torch_step_s;
} row;

/* The PyTorch peers (benchmarks/peers/): the script, and whether it has a decoding cache (the
 * nanoGPT-style torch2 peer has none, as nanoGPT has none: its `generate` rows leave PyTorch's cells
 * empty) and a torch.compile option. */
typedef struct {
    const char *name, *script;
    int cached, compiles;
} peer_def;

static const peer_def peers[] = {{"twin", "lm_peer.py", 1, 0}, {"torch2", "lm_peer_torch2.py", 0, 1}};

typedef struct {
    driver *d;
    int threads, torch;
    const peer_def *peer;
    char peer_path[4096];
    char torch_version[64];
    int thread_counts[MAX_THREAD_COUNTS], nthread_counts;
    double ceiling;    /* MFU's divisor, GFLOP/s: --peak-tflops, else the best sgemm of this run (NaN without) */
    row rows[MAX_ROWS];
    int nrows;
} harness;

/* The harness's table: one row per measurement (emit). */
static const char *const suite_columns[] = {"bench", "arch", "d", "layers", "ctx", "batch", "threads",
                                            "memlab_tokens_per_s", "torch_tokens_per_s", "ratio", "gflops", "mfu",
                                            "peak_rss_mb"};
static const table_spec suite_table = TABLE_SPEC(NULL, suite_columns);

/* A shape's cell: 0 (a row that has no such dimension) is an empty cell. */
static csv_cell dim_cell(int v) { return v ? cell_int(v) : cell_str(NULL); }

static void emit(harness *h, const row *r)
{
    csv_row(h->d->csv, cell_str(r->bench), cell_str(r->arch), dim_cell(r->d), dim_cell(r->layers), dim_cell(r->ctx),
            dim_cell(r->batch), cell_int(r->threads), cell_num(r->memlab_tps), cell_num(r->torch_tps),
            cell_num(r->memlab_tps / r->torch_tps), cell_num(r->gflops), cell_num(r->mfu), cell_num(r->rss_mb));
    if (h->nrows < MAX_ROWS)
        h->rows[h->nrows++] = *r;
}

static row row_new(const harness *h, const char *bench)
{
    row r = {.threads = h->threads, .memlab_tps = NAN, .torch_tps = NAN, .gflops = NAN, .mfu = NAN, .rss_mb = NAN,
             .torch_rss_mb = NAN, .memlab_step_s = NAN, .torch_step_s = NAN};
    snprintf(r.bench, sizeof r.bench, "%s", bench);
    return r;
}

static void sgemm_row(harness *h, int M, int N, int K, const shape *s, int batch)
{
    char name[48];
    snprintf(name, sizeof name, "sgemm_%dx%dx%d", M, N, K);
    for (int i = 0; i < h->nrows; i++)
        if (strcmp(h->rows[i].bench, name) == 0 && h->rows[i].threads == h->threads)
            return;   /* measured already for another shape */
    row r = row_new(h, name);
    if (s) {
        r.d = s->d;
        r.ctx = s->ctx;
        r.batch = batch;
    }
    r.gflops = blas_gemm_gflops(M, N, K, opts.sgemm_time);
    if (!(opts.peak_tflops > 0) && !(h->ceiling >= r.gflops))
        h->ceiling = r.gflops;
    emit(h, &r);
}

static int batch_for(const shape *s) { return opts.tokens / s->ctx > 0 ? (int)(opts.tokens / s->ctx) : 1; }

static void run_sgemm(harness *h, const shape *train, int ntrain)
{
    threads_set(h->threads);
    sgemm_row(h, (int)opts.square, (int)opts.square, (int)opts.square, NULL, 0);
    /* rows = batch x ctx; (out, in) of the linears: gpt's c_attn, c_fc, c_proj of the MLP, every
     * d x d linear of both, and the tied output head */
    for (int i = 0; i < ntrain; i++) {
        const shape *s = &train[i];
        const int B = batch_for(s), M = B * s->ctx, d = s->d;
        const int nk[][2] = {{3 * d, d}, {4 * d, d}, {d, 4 * d}, {d, d}, {(int)opts.vocab, d}};
        for (size_t j = 0; j < sizeof nk / sizeof nk[0]; j++)
            sgemm_row(h, M, nk[j][0], nk[j][1], s, B);
    }
}

typedef struct {
    double tps, seconds, loss, rss_mb;
    long long steps;
} child_result;

/* Runs argv (argv[0] a path) with stdout captured, stderr passed through; parses the one data row
 * "kind,tokens_per_s,steps,seconds,loss" after its header. 0, or -1 with a message. */
static int run_child(harness *h, char *const *argv, child_result *res)
{
    spawn_child c;
    err_t e;
    if (spawn_start(NULL, argv, SPAWN_OUT_PIPE, &c, &e) != 0) {
        driver_error(h->d, "%s", e.msg);
        return -1;
    }
    /* the measurement is two short lines: 8 KB is plenty, the rest is drained */
    char buf[8192], why[64];
    spawn_read_all(&c, buf, sizeof buf);
    int status;
    struct rusage ru;
    if (spawn_wait(c.pid, &status, &ru, &e) < 0) {
        driver_error(h->d, "%s", e.msg);
        return -1;
    }
    if (!spawn_ok(status)) {
        driver_error(h->d, "%s %s failed (%s)", argv[0], argv[1], spawn_status_str(status, why, sizeof why));
        return -1;
    }
    const char *data = strchr(buf, '\n');
    char kind[24];
    if (!data || sscanf(data + 1, "%23[a-z_],%lf,%lld,%lf,", kind, &res->tps, &res->steps, &res->seconds) != 4 ||
        !(res->tps > 0)) {
        driver_error(h->d, "%s %s printed no measurement: '%s'", argv[0], argv[1], buf);
        return -1;
    }
    /* the loss: empty for generation */
    const char *last = strrchr(data + 1, ',');
    char *end;
    res->loss = last ? strtod(last + 1, &end) : NAN;
    if (last && end == last + 1)
        res->loss = NAN;
    res->rss_mb = ru.ru_maxrss / 1024.0;   /* kilobytes on Linux */
    return 0;
}

typedef struct {
    const char *kind, *arch;
    int d, layers, heads, ctx, batch, pmem;
} measurement;

static int measure(harness *h, const measurement *m, int torch, child_result *res)
{
    char a[17][32];
    snprintf(a[0], 32, "%s", m->kind);
    snprintf(a[1], 32, "%s", m->arch);
    snprintf(a[2], 32, "%d", m->d);
    snprintf(a[3], 32, "%d", m->layers);
    snprintf(a[4], 32, "%d", m->heads);
    snprintf(a[5], 32, "%d", m->ctx);
    snprintf(a[6], 32, "%d", m->batch);
    snprintf(a[7], 32, "%d", m->pmem);
    snprintf(a[8], 32, "%lld", opts.vocab);
    snprintf(a[9], 32, "%d", h->threads);
    snprintf(a[10], 32, "%lld", opts.warmup);
    snprintf(a[11], 32, "%lld", opts.min_steps);
    snprintf(a[12], 32, "%.17g", opts.min_time);
    snprintf(a[13], 32, "%lld", opts.gen_tokens);
    snprintf(a[14], 32, "%lld", h->d->opt.seed);
    char *argv[40];
    int n = 0;
    if (torch) {
        argv[n++] = opts.python;
        argv[n++] = h->peer_path;
        if (opts.compile)
            argv[n++] = "--compile";
    } else {
        argv[n++] = SPAWN_SELF;
        argv[n++] = "bench";
        argv[n++] = "run";
        argv[n++] = "--quiet";
    }
    static const char *const flags[] = {"--kind", "--arch", "--d", "--layers", "--heads", "--ctx", "--batch",
                                        "--pmem", "--vocab", "--threads", "--warmup", "--min-steps",
                                        "--min-time", "--gen-tokens", "--seed", "--device", "--dtype"};
    snprintf(a[15], 32, "%s", opts.dev.device);
    snprintf(a[16], 32, "%s", opts.dev.dtype);
    for (int i = 0; i < 17; i++) {
        argv[n++] = (char *)flags[i];
        argv[n++] = a[i];
    }
    argv[n] = NULL;
    if (run_child(h, argv, res) != 0)
        return -1;
    /* A broken step (NaN, inf, a zero or negative cross-entropy) must not report a speed. (No upper
     * bound: the mosaic's initial loss is about sqrt(d), its input token's own logit.) */
    if (strcmp(m->kind, "train") == 0 && !(res->loss > 0 && isfinite(res->loss))) {
        driver_error(h->d, "%s %s: training loss %g", torch ? "torch" : "memlab", m->arch, res->loss);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* --repeats A/B rounds of one configuration, then its row. */
static int ab_row(harness *h, const char *bench, const measurement *m)
{
    double tps[2][1000], rss[2] = {0, 0};
    const int torch = h->torch && (h->peer->cached || strcmp(m->kind, "generate") != 0);
    const int R = (int)opts.repeats, sides = torch ? 2 : 1;
    for (int r = 0; r < R; r++)
        for (int side = 0; side < sides; side++) {
            child_result res;
            if (measure(h, m, side, &res) != 0)
                return -1;
            tps[side][r] = res.tps;
            rss[side] = fmax(rss[side], res.rss_mb);
            if (!h->d->opt.quiet)
                fprintf(stderr, "bench %s %s d%d L%d ctx%d B%d: %s %.4g tokens/s (%lld steps, %.3g s, loss %.4g, %.0f MB)\n",
                        bench, m->arch, m->d, m->layers, m->ctx, m->batch, side ? "torch " : "memlab",
                        res.tps, res.steps, res.seconds, res.loss, res.rss_mb);
        }
    row rw = row_new(h, bench);
    rw.arch = m->arch;
    rw.d = m->d;
    rw.layers = m->layers;
    rw.ctx = m->ctx;
    rw.batch = m->batch;
    rw.memlab_tps = median(tps[0], R);
    rw.rss_mb = rss[0];
    if (torch) {
        rw.torch_tps = median(tps[1], R);
        rw.torch_rss_mb = rss[1];
    }
    if (strcmp(m->kind, "train") == 0) {
        lm_config c = {.vocab = (int)opts.vocab, .ctx = m->ctx, .d = m->d, .layers = m->layers, .heads = m->heads,
                       .pmem = m->pmem};
        if (lm_arch_parse(m->arch, &c.arch) != 0)
            fatal("internal: bench model '%s'", m->arch);
        rw.gflops = lm_flops_per_token(&c).train * rw.memlab_tps * 1e-9;
        rw.mfu = rw.gflops / h->ceiling;
        rw.memlab_step_s = (double)m->batch * m->ctx / rw.memlab_tps;
        rw.torch_step_s = (double)m->batch * m->ctx / rw.torch_tps;
    }
    emit(h, &rw);
    return 0;
}

static const char *const archs[] = {"gpt", "mosaic"};

static measurement make_measurement(const char *kind, const char *arch, int d, int layers, int heads, int ctx, int batch)
{
    return (measurement){.kind = kind, .arch = arch, .d = d, .layers = layers, .heads = heads, .ctx = ctx,
                         .batch = batch, .pmem = strcmp(arch, "mosaic") == 0 ? (int)lround(3.5 * d) : 0};
}

/* ---- Markdown ------------------------------------------------------------------------------------------ */

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + strspn(v + 1, " \t");
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, len, "%s", v);
            }
            break;
        }
    fclose(f);
}

static double mem_total_gb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    double kb = NAN;
    if (!f)
        return kb;
    if (fscanf(f, "MemTotal: %lf kB", &kb) != 1)
        kb = NAN;
    fclose(f);
    return kb / (1024.0 * 1024.0);
}

static void md_num(FILE *f, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    fputs(" |", f);
}

/* Appended to the name of OpenBLAS's kernels: who chose them; when OPENBLAS_CORETYPE names older
 * ones than this CPU runs (a preset Haswell on an AVX-512 CPU), the family memlab would have taken:
 * the products' speed differs by up to 2x between them (benchmarks/NOTES.md §18). */
static const char *kernels_chosen_by(void)
{
    static char why[160];
    const char *own = blas_kernels_overruled();
    if (own) {
        snprintf(why, sizeof why, " (memlab's choice for this CPU over OpenBLAS's %s)", own);
        return why;
    }
    if (!getenv("OPENBLAS_CORETYPE"))
        return "";
    const char *up = blas_kernels_upgrade();
    if (!up)
        return " (set by OPENBLAS_CORETYPE)";
    snprintf(why, sizeof why, " (set by OPENBLAS_CORETYPE; unset, memlab would run this CPU's %s kernels)", up);
    return why;
}

static int write_markdown(FILE *f, void *ctx)
{
    const harness *h = ctx;
    char cpu[256], date[64];
    cpu_model(cpu, sizeof cpu);
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    char threads[256];
    int len = 0;
    for (int i = 0; i < h->nthread_counts; i++)
        len += snprintf(threads + len, sizeof threads - (size_t)len, "%s%d", i ? ", " : "", h->thread_counts[i]);
    fprintf(f, "Machine: %s, %d cores online, %.0f GiB; threads for memlab and PyTorch: %s; OpenBLAS kernels %s%s. "
               "Date: %s. Commit: `%s`. PyTorch: %s",
            cpu, threads_available(), mem_total_gb(), threads, blas_kernels(),
            kernels_chosen_by(), date, memlab_git_commit,
            h->torch ? h->torch_version : "not run");
    if (h->torch)
        fprintf(f, ", peer %s (%s%s)", h->peer->name, h->peer->script, opts.compile ? ", torch.compile" : "");
    fprintf(f, ". Preset: %s.\n\n", h->d->opt.preset ? h->d->opt.preset : "default");
    fputs("| bench | threads | arch | d | layers | ctx | batch | memlab tokens/s | PyTorch tokens/s | memlab / PyTorch "
          "| GFLOP/s | MFU | memlab ms/step | PyTorch ms/step | memlab peak RSS MB | PyTorch peak RSS MB |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < h->nrows; i++) {
        const row *r = &h->rows[i];
        fprintf(f, "| %s | %d | %s |", r->bench, r->threads, r->arch ? r->arch : "");
        const int ints[] = {r->d, r->layers, r->ctx, r->batch};
        for (int j = 0; j < 4; j++)
            if (ints[j])
                fprintf(f, " %d |", ints[j]);
            else
                fputs(" |", f);
        md_num(f, r->memlab_tps, " %.0f");
        md_num(f, r->torch_tps, " %.0f");
        md_num(f, r->memlab_tps / r->torch_tps, " %.2f");
        md_num(f, r->gflops, " %.1f");
        md_num(f, r->mfu * 100, " %.0f%%");
        md_num(f, r->memlab_step_s * 1e3, " %.1f");
        md_num(f, r->torch_step_s * 1e3, " %.1f");
        md_num(f, r->rss_mb, " %.0f");
        md_num(f, r->torch_rss_mb, " %.0f");
        fputc('\n', f);
    }
    if (opts.peak_tflops > 0)
        fprintf(f, "\nMFU: against a peak of %g TFLOP/s (--peak-tflops).\n", opts.peak_tflops);
    fputs("\nsgemm rows: GFLOP/s of one `blas_gemm` (x . w^T, rows = batch x ctx) at that shape; the best "
          "of them is the ceiling that MFU divides by, unless --peak-tflops names one. GFLOP/s of training rows: model FLOPs "
          "(`lm_flops_per_token`, benchmarks/NOTES.md §3) x tokens/s. generate: greedy "
          "generation of one sequence after a prompt of ctx/2 tokens (fed through the cache, untimed), "
          "one cached step per token (memlab: `lm_decode_step`; PyTorch: the peer's own KV / memory "
          "cache), up to the context's end; generate_uncached: the same, every token re-running the "
          "model over its window.\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- the run --------------------------------------------------------------------------------------------- */

static int detect_torch(harness *h)
{
    if (strcmp(opts.torch, "off") == 0)
        return 0;
    char cmd[8500];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --version 2>/dev/null", opts.python, h->peer_path);
    FILE *p = popen(cmd, "r");
    int ok = 0;
    if (p) {
        ok = fgets(h->torch_version, sizeof h->torch_version, p) != NULL;
        ok = (pclose(p) == 0) && ok;
    }
    if (ok) {
        h->torch_version[strcspn(h->torch_version, "\n")] = 0;
        return 1;
    }
    if (strcmp(opts.torch, "on") == 0) {
        driver_error(h->d, "--torch on: '%s %s --version' failed (Debian's python3-torch: scripts/deps.sh --torch)",
                     opts.python, h->peer_path);
        return -1;
    }
    fprintf(stderr, "memlab: bench: %s cannot run %s with torch: measuring memlab alone (--torch auto)\n",
            opts.python, h->peer_path);
    return 0;
}

/* What the harness measures: the options' shapes, checked. */
typedef struct {
    shape train[MAX_SHAPES];
    int ntrain;
    int scaling[3];   /* d, layers, heads */
    int ctxs[MAX_SHAPES], nctx;
} bench_plan;

/* Parses and checks --train-shapes, --scaling-ctx, --scaling-shape and --suite; NULL, or the first bad
 * option with its expected form. */
static const char *plan_make(bench_plan *pl)
{
    int train[MAX_SHAPES * 4];
    pl->ntrain = parse_list(opts.train_shapes, 4, train, MAX_SHAPES);
    pl->nctx = parse_list(opts.scaling_ctx, 1, pl->ctxs, MAX_SHAPES);
    if (pl->ntrain < 0)
        return "--train-shapes (DxLAYERSxCTXxHEADS,...)";
    if (pl->nctx < 0)
        return "--scaling-ctx (N,N,...)";
    if (parse_dims(opts.scaling_shape, pl->scaling, 3))
        return "--scaling-shape (DxLAYERSxHEADS)";
    for (int i = 0; i < pl->ntrain; i++) {
        pl->train[i] = (shape){.d = train[4 * i], .layers = train[4 * i + 1], .ctx = train[4 * i + 2],
                               .heads = train[4 * i + 3]};
        if (pl->train[i].d % pl->train[i].heads != 0)
            return "--train-shapes (a d not divisible by its heads)";
    }
    if (pl->scaling[0] % pl->scaling[2] != 0)
        return "--scaling-shape (d not divisible by heads)";
    for (const char *p = opts.suite; *p;) {
        size_t len = strcspn(p, ",");
        static const char *const known[] = {"sgemm", "train", "scaling", "generate"};
        int ok = 0;
        for (int k = 0; k < 4; k++)
            ok |= strlen(known[k]) == len && strncmp(p, known[k], len) == 0;
        if (!ok)
            return "--suite (sgemm, train, scaling, generate)";
        p += len;
        p += *p == ',';
    }
    return NULL;
}

/* Every benchmark of --suite, one row each (memlab and PyTorch alternating); 1, or 0 on a failure. */
static int run_suites(harness *h, const bench_plan *pl)
{
    const shape *ts = pl->train;
    int ok = 1;
    if (suite_has("sgemm"))
        run_sgemm(h, ts, pl->ntrain);
    for (int i = 0; ok && suite_has("train") && i < pl->ntrain; i++)
        for (int a = 0; ok && a < 2; a++) {
            measurement m = make_measurement("train", archs[a], ts[i].d, ts[i].layers, ts[i].heads, ts[i].ctx,
                                             batch_for(&ts[i]));
            ok = ab_row(h, "train", &m) == 0;
        }
    for (int i = 0; ok && suite_has("scaling") && i < pl->nctx; i++)
        for (int a = 0; ok && a < 2; a++) {
            measurement m = make_measurement("train", archs[a], pl->scaling[0], pl->scaling[1], pl->scaling[2],
                                             pl->ctxs[i], (int)opts.scaling_batch);
            ok = ab_row(h, "scaling", &m) == 0;
        }
    static const char *const gen_kinds[] = {"generate", "generate_uncached"};
    for (int i = 0; ok && suite_has("generate") && i < pl->ntrain; i++)
        for (int g = 0; ok && g < 2; g++)
            for (int a = 0; ok && a < 2; a++) {
                measurement m = make_measurement(gen_kinds[g], archs[a], ts[i].d, ts[i].layers, ts[i].heads,
                                                 ts[i].ctx, 1);
                ok = ab_row(h, gen_kinds[g], &m) == 0;
            }
    return ok;
}

/* The peer (--peer, --peer-dir, --compile) and the thread counts (--threads-list, else --threads),
 * each capped at the cores online with a note. NULL, or the bad option. */
static const char *harness_setup(harness *h, long long threads)
{
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        if (strcmp(opts.peer, peers[i].name) == 0)
            h->peer = &peers[i];
    if (!h->peer)
        return "bad --peer (twin, torch2)";
    if (opts.compile && !h->peer->compiles)
        return "--compile needs --peer torch2 (the twin peer is PyTorch 1.13's, which has no torch.compile)";
    snprintf(h->peer_path, sizeof h->peer_path, "%s/%s", opts.peer_dir, h->peer->script);
    if (strcmp(opts.dev.device, "cpu") != 0) {
        if (suite_has("sgemm") || suite_has("generate"))
            return "--device cuda: training suites only (--suite train,scaling; sgemm and generation are the CPU's)";
        if (strcmp(opts.torch, "off") != 0 && !h->peer->compiles)
            return "--device cuda: the twin peer is the CPU's; --peer torch2, or --torch off";
    }
    if (opts.threads_list) {
        h->nthread_counts = parse_list(opts.threads_list, 1, h->thread_counts, MAX_THREAD_COUNTS);
        if (h->nthread_counts < 0)
            return "bad --threads-list (N,N,...: at most 16 positive counts)";
    } else {
        h->thread_counts[0] = (int)threads;
        h->nthread_counts = 1;
    }
    const int cores = threads_available();
    for (int i = 0; i < h->nthread_counts; i++)
        if (h->thread_counts[i] > cores) {
            fprintf(stderr, "memlab: bench: %d threads capped at the %d cores online (more would time the "
                            "scheduler, not the kernels)\n", h->thread_counts[i], cores);
            h->thread_counts[i] = cores;
        }
    return NULL;
}

/* bench: plan -> the PyTorch peers' check -> every suite at every thread count -> the Markdown table. */
/* The checks before any row: the suites' options, the peer and thread counts, the device (opened
 * here too, so that a build without CUDA or a machine without a GPU stops before any row). 0, or -1
 * with the usage error in e. */
static int bench_check(harness *h, bench_plan *pl, err_t *e)
{
    const char *bad = plan_make(pl);
    if (bad)
        return err_set(e, "bad %s", bad);
    if ((bad = harness_setup(h, h->d->opt.threads)))
        return err_set(e, "%s", bad);
    device_kind device;
    int bf16;
    return device_opts_open(&opts.dev, &device, &bf16, e) != 0 ? -1 : 0;
}

/* Every suite at each thread count, the sgemm ceiling (MFU's divisor) measured anew for each, then
 * the Markdown table; 1 on success. */
static int bench_suites(driver *d, harness *h, const bench_plan *pl)
{
    int ok = (h->torch = detect_torch(h)) >= 0 && driver_open_csv(d, &suite_table) == 0;
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    /* the kernels OpenBLAS chose for this CPU (a masked CPU model may get slower ones than it has) */
    log_info(d->opt.quiet, "bench: %s, %d cores online; OpenBLAS kernels %s%s", cpu, threads_available(), blas_kernels(),
             kernels_chosen_by());
    for (int i = 0; ok && i < h->nthread_counts; i++) {
        h->threads = h->thread_counts[i];
        h->ceiling = opts.peak_tflops > 0 ? opts.peak_tflops * 1e3 : NAN;   /* GFLOP/s */
        ok = run_suites(h, pl);
    }
    if (!ok)
        return 0;
    char path[4096];
    if (!opts.markdown)
        driver_out_path(d, "results.md", path, sizeof path);
    else
        snprintf(path, sizeof path, "%s", opts.markdown);
    return driver_write_file(d, path, write_markdown, h) == 0;
}

int cmd_bench(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &bench_spec, argc, argv, &code) != 0)
        return code;
    if (d.opt.npositional == 1) {
        if (strcmp(d.opt.positional[0], "run") == 0)
            return bench_run(&d);
        return driver_usage_error(&d, "unknown action '%s' (expected run, or none)", d.opt.positional[0]);
    }
    harness *h = xcalloc(1, sizeof *h);
    h->d = &d;
    bench_plan pl;
    err_t e;
    if (bench_check(h, &pl, &e) != 0)
        code = driver_usage_error(&d, "%s", e.msg);
    else
        code = driver_end(&d, bench_suites(&d, h, &pl));
    free(h);
    return code;
}

const command bench_command = {&bench_spec, NULL, cmd_bench, 0};
