/* memlab memory-inversion: how much of its input a language model's embedding keeps (Badger 2026,
 * docs/memory-inversion.md). Encoders (untrained, causally trained, autoencoder, and the memory
 * models' of
 * memlab copy: frozen, an autoencoder's, and joint, trained with a memory model's decoder) turn a
 * window of text into its last-token hidden state; for each, a fresh probe decoder (nn/probe.h)
 * learns to regenerate every token of the window from that embedding alone, with the encoder frozen;
 * token accuracy and cross-entropy on held-out windows measure what the embedding retained. The
 * same probe trained on a zero embedding is the baseline: what can be guessed with no memory at all.
 *
 * Data: the babistories pipeline (generated stories or --data, a trained BPE or a saved tokenizer;
 * lib/data/token_corpus.h). Determinism: the windows of training step s of each phase come
 * from a random stream numbered by s, so every encoder's probe sees the same windows in the same
 * order and starts from the same weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "data/token_corpus.h"
#include "commands.h"
#include "corpus_opts.h"
#include "driver.h"
#include "io/progress.h"
#include "lm_opts.h"
#include "nn/autoencoder.h"
#include "data/copytask.h"
#include "nn/lm_ckpt.h"
#include "nn/memmodel.h"
#include "nn/train_loop.h"

typedef struct {
    char *encoder, *encoder_ckpt, *frozen_ckpt, *joint_ckpt, *joint_objective, *probe_arch, *feed, *ctx_sweep;
    corpus_opts corpus;
    long long encoder_steps, probe_steps, batch, warmup, eval_windows;
    long long probe_d, probe_layers, probe_heads, joint_chunks;
    double lr, probe_lr, wd, clip;
    device_opts dev;
} inversion_opts;

static inversion_opts opts;
static lm_opts model_opts;

#define INVERSION_MAX_CTX 16

static const opt_spec inversion_options[] = {
    LM_OPTION_ROWS(model_opts, "gpt", "gpt|mosaic", "encoder model: gpt (nanoGPT transformer) or mosaic (memory mosaic)", "1", "128", "4", "16", "0"),
    {"encoder", 0, OPT_STRING, &opts.encoder, "untrained,causal,autoencoder", "encoders to measure, a comma list of untrained (random initialisation), causal (trained on next-token prediction), autoencoder (trained with a decoder to regenerate its input from its embedding), and the memory models' (memlab copy): frozen (an autoencoder's encoder, frozen in the memory model) and joint (trained with the memory model's decoder on --joint-objective)", NULL, 0, -1, "E[,E...]"},
    {"frozen-ckpt", 0, OPT_STRING, &opts.frozen_ckpt, NULL, "the frozen encoder from a checkpoint (memlab copy's autoencoder_encoder.safetensors) instead of training an autoencoder", NULL, 0, -1, "CKPT"},
    {"joint-ckpt", 0, OPT_STRING, &opts.joint_ckpt, NULL, "the joint encoder from a checkpoint (memlab copy's encoder.safetensors) instead of training a memory model", NULL, 0, -1, "CKPT"},
    {"joint-objective", 0, OPT_STRING, &opts.joint_objective, "causal", "the joint encoder's memory model: trained on causal, copy, blank-copy or combined (causal + blank-copy)", "causal|copy|blank-copy|combined", 0, -1, "O"},
    {"joint-chunks", 0, OPT_INT, &opts.joint_chunks, "4", "the joint encoder's memory model: chunks of --ctx tokens per input (its decoder has the encoder's shape)", NULL, 1, 4096, "C"},
    {"encoder-steps", 0, OPT_INT, &opts.encoder_steps, "3000", "training steps of the causal and the autoencoder encoders", NULL, 1, 1e9, "N"},
    {"encoder-ckpt", 0, OPT_STRING, &opts.encoder_ckpt, NULL, "the causal encoder from a `memlab babistories` checkpoint (same --arch, --d, --layers; its tokenizer) instead of training it", NULL, 0, -1, "CKPT"},
    {"lr", 0, OPT_DOUBLE, &opts.lr, "2e-3", "encoder training: peak learning rate (AdamW 0.9, 0.95; warm-up, cosine to lr/10)", NULL, 1e-12, 10, "LR"},
    {"batch", 0, OPT_INT, &opts.batch, "32", "windows per training step (encoders and probes)", NULL, 1, 1e6, "B"},
    {"warmup", 0, OPT_INT, &opts.warmup, "100", "linear warm-up steps of every training", NULL, 0, 1e9, "N"},
    LM_DECAY_CLIP_ROWS(opts),
    {"probe-arch", 0, OPT_STRING, &opts.probe_arch, "gpt", "the probe's blocks (whatever the encoder's): gpt or mosaic, both attending over every position", "gpt|mosaic", 0, -1, "A"},
    {"probe-d", 0, OPT_INT, &opts.probe_d, "128", "probe width", NULL, 1, 65536, "D"},
    {"probe-layers", 0, OPT_INT, &opts.probe_layers, "1", "probe blocks", NULL, 1, 1000, "L"},
    {"probe-heads", 0, OPT_INT, &opts.probe_heads, "4", "probe heads (must divide --probe-d)", NULL, 1, 4096, "H"},
    {"probe-steps", 0, OPT_INT, &opts.probe_steps, "1500", "probe training steps", NULL, 1, 1e9, "N"},
    {"probe-lr", 0, OPT_DOUBLE, &opts.probe_lr, "2e-3", "probe peak learning rate (schedule as --lr)", NULL, 1e-12, 10, "LR"},
    {"feed", 0, OPT_STRING, &opts.feed, "unrolled", "how the embedding reaches the decoder's positions: unrolled (position p: elements p mod d .. p mod d + d/2 - 1, wrapping) or repeated (all of it everywhere)", "unrolled|repeated", 0, -1, "F"},
    {"ctx-sweep", 0, OPT_STRING, &opts.ctx_sweep, NULL, "measure at each of these input lengths (a comma list; default: --ctx alone)", NULL, 0, -1, "N,N,..."},
    {"eval-windows", 0, OPT_INT, &opts.eval_windows, "512", "held-out windows the metrics are measured on", NULL, 1, 1e7, "N"},
    CORPUS_OPTION_ROWS(opts.corpus, "train (a BPE of --vocab-size learned on the training stories), gpt2 (with --vocab-dir), or a saved tokenizer .json; with --encoder-ckpt, train means the checkpoint's", "1024", "tokens of a trained BPE (smaller than babistories' 2048: the output head dominates a probe step)"),
    DEVICE_OPTION_ROWS(opts.dev),
};

static const char *const smoke_kv[] = {"stories", "300", "val-stories", "20", "vocab-size", "300", "d", "32",
                                       "heads", "2", "ctx", "16", "batch", "4", "encoder-steps", "10",
                                       "probe-steps", "10", "probe-d", "32", "probe-heads", "2", "probe-layers", "1",
                                       "eval-windows", "16", "warmup", "2", NULL};
/* The paper's vocabulary and input length (docs/memory-inversion.md#what-the-paper-specifies);
 * widths, depths and steps are memlab's. */
static const char *const paper_kv[] = {"vocab-size", "8192", "ctx", "512", "d", "512", "heads", "8", "layers", "4",
                                       "probe-d", "512", "probe-heads", "8", "probe-layers", "4",
                                       "encoder-steps", "20000", "probe-steps", "20000", "eval-windows", "2048",
                                       "warmup", "1000", "lr", "1e-3", "probe-lr", "1e-3", NULL};
static const preset_def inversion_presets[] = {{"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}};

static const cmd_spec inversion_spec = {
    .command = "memory-inversion",
    .summary = "how much of its input a language model's embedding keeps: causal LM vs autoencoder (Badger 2026)",
    .usage = "memlab memory-inversion [options]",
    .description =
        "For each --encoder (an --arch stack of --layers/--d/--heads): untrained, causal (next-token\n"
        "training for --encoder-steps, or --encoder-ckpt) or autoencoder (encoder + decoder trained\n"
        "--encoder-steps to regenerate the input from the embedding; its encoder is saved as\n"
        "autoencoder_encoder_ctxN.safetensors), and the memory models' (memlab copy): frozen (--frozen-ckpt,\n"
        "or an autoencoder's) and joint (--joint-ckpt, or trained with a memory model's decoder on\n"
        "--joint-objective, --joint-chunks chunks of --ctx tokens), the embedding of a window of --ctx\n"
        "tokens is its last-token hidden state. With the encoder frozen, a fresh probe decoder\n"
        "(--probe-arch/-d/-layers/-heads, --probe-steps, the same for every encoder) learns to regenerate\n"
        "all the window's tokens in one pass from the embedding alone (--feed unrolled|repeated, plus\n"
        "learned positions). On --eval-windows held-out windows: token accuracy (1 - normalised Hamming\n"
        "distance), cross-entropy ce, entropy_ratio = ce / ln V, retained = 1 - ce / ln V and\n"
        "bits_per_token = (ln V - ce) / ln 2; baseline_token_acc is the same probe given a zero\n"
        "embedding. Primary CSV (also <out-dir>/inversion.csv, drawn as inversion.png):\n"
        "  encoder,arch,d,layers,ctx,feed,probe_steps,token_acc,ce,entropy_ratio,retained,bits_per_token,\n"
        "  baseline_token_acc\n"
        "--ctx-sweep 16,32,64 repeats the measurement at each length (the causal and untrained encoders\n"
        "are shared; autoencoders, probes and baselines are trained per length).",
    .opts = inversion_options,
    .nopts = sizeof inversion_options / sizeof inversion_options[0],
    .presets = inversion_presets,
    .npresets = 3,
};

static const char *const inversion_columns[] = {"encoder", "arch", "d", "layers", "ctx", "feed", "probe_steps",
                                                "token_acc", "ce", "entropy_ratio", "retained", "bits_per_token",
                                                "baseline_token_acc"};
/* The primary table, copied into the run folder. */
static const table_spec inversion_table = TABLE_SPEC("inversion.csv", inversion_columns);

typedef enum { ENC_UNTRAINED, ENC_CAUSAL, ENC_AUTOENCODER, ENC_FROZEN, ENC_JOINT, ENC_KINDS } enc_kind;
static const char *const enc_names[] = {"untrained", "causal", "autoencoder", "frozen", "joint"};

/* What the options ask for, checked before any data is read. */
typedef struct {
    enc_kind enc[ENC_KINDS];
    int nenc, want[ENC_KINDS];
    int ctx[INVERSION_MAX_CTX], nctx, ctx_max;
    lm_arch arch;
    probe_config probe;   /* n, vocab and d_in are set per measurement */
    device_kind device;   /* --device, --dtype: where every model trains and runs */
    int bf16;
} inversion_plan;

/* ---- options ------------------------------------------------------------------------------------ */

static int parse_encoders(inversion_plan *pl, err_t *e)
{
    const char *s = opts.encoder;
    char item[64];
    while (args_next_item(&s, item, sizeof item)) {
        int k = 0;
        while (k < ENC_KINDS && strcmp(item, enc_names[k]) != 0)
            k++;
        if (k == ENC_KINDS)
            return err_set(e, "--encoder '%s': expected untrained, causal, autoencoder, frozen or joint (or a comma list of them)",
                           item);
        if (pl->want[k])
            return err_set(e, "--encoder lists '%s' twice", item);
        pl->want[k] = 1;
        pl->enc[pl->nenc++] = (enc_kind)k;
    }
    return 0;
}

static int parse_ctx(inversion_plan *pl, err_t *e)
{
    const char *s = opts.ctx_sweep;
    char item[64];
    if (!s || !*s)
        pl->ctx[pl->nctx++] = (int)model_opts.ctx;
    while (s && *s && args_next_item(&s, item, sizeof item)) {
        char *end;
        long v = strtol(item, &end, 10);
        if (*end || end == item || v < 2 || v > 1 << 20 || pl->nctx == INVERSION_MAX_CTX)
            return err_set(e, "--ctx-sweep expects a comma list of at most %d lengths from 2 to %d, got '%s'",
                           INVERSION_MAX_CTX, 1 << 20, opts.ctx_sweep);
        pl->ctx[pl->nctx++] = (int)v;
    }
    pl->ctx_max = 0;
    for (int i = 0; i < pl->nctx; i++)
        pl->ctx_max = pl->ctx[i] > pl->ctx_max ? pl->ctx[i] : pl->ctx_max;
    return 0;
}

/* The encoder's shape for a vocabulary and an input length. */
static int encoder_config(int vocab, int ctx, lm_config *c, err_t *e)
{
    lm_opts m = model_opts;
    m.ctx = ctx;
    return lm_opts_config(&m, vocab, c, e);
}

/* Usage errors (exit 2) first, then the checkpoint's shape against the options (exit 1). */
static int plan_make(inversion_plan *pl, int *code, err_t *e)
{
    memset(pl, 0, sizeof *pl);
    *code = 2;
    lm_config c;
    if (parse_encoders(pl, e) || parse_ctx(pl, e) || encoder_config(257, pl->ctx_max, &c, e))
        return -1;
    pl->arch = c.arch;
    pl->probe = (probe_config){.d = (int)opts.probe_d, .layers = (int)opts.probe_layers, .heads = (int)opts.probe_heads,
                               .vocab = 257, .n = pl->ctx_max, .d_in = c.d};
    lm_arch_parse(opts.probe_arch, &pl->probe.arch);
    probe_feed_parse(opts.feed, &pl->probe.feed);
    if (probe_config_check(&pl->probe, e) != 0)
        return -1;
    const struct {
        const char *opt, *path;
        enc_kind k;
    } cks[3] = {{"--encoder-ckpt", opts.encoder_ckpt, ENC_CAUSAL}, {"--frozen-ckpt", opts.frozen_ckpt, ENC_FROZEN},
                {"--joint-ckpt", opts.joint_ckpt, ENC_JOINT}};
    for (int i = 0; i < 3; i++)
        if (cks[i].path && !pl->want[cks[i].k])
            return err_set(e, "%s gives the %s encoder, but --encoder '%s' does not ask for it", cks[i].opt,
                           enc_names[cks[i].k], opts.encoder);
    for (int i = 0; i < 3; i++) {
        if (!cks[i].path)
            continue;
        *code = 1;
        lm_config k;
        if (lm_ckpt_config(cks[i].path, &k, e) != 0)
            return -1;
        if (!lm_config_same_stack(&k, &c))
            return err_set(e, "%s %s: a %s of width %d and %d layers, but --arch %s --d %d --layers %d", cks[i].opt,
                           cks[i].path, lm_arch_name(k.arch), k.d, k.layers, lm_arch_name(c.arch), c.d, c.layers);
        if (lm_config_max_len(&k) > 0 && k.ctx < pl->ctx_max)
            return err_set(e, "%s %s: its learned positions cover %d tokens, fewer than the input length %d", cks[i].opt,
                           cks[i].path, k.ctx, pl->ctx_max);
    }
    return 0;
}

/* ---- data --------------------------------------------------------------------------------------- */

/* The corpus, tokenised with --tokenizer, or with a checkpoint's tokenizer (saved beside the
 * results) when an encoder comes from a checkpoint and --tokenizer is left at train; with room for
 * the plan's longest input. */
static int data_load(driver *d, const inversion_plan *pl, token_corpus *bd, err_t *e)
{
    char path[4096];
    token_corpus_opts co = corpus_opts_for(&opts.corpus, d);
    co.window = (size_t)pl->ctx_max;
    const char *ckpt = opts.encoder_ckpt ? opts.encoder_ckpt : opts.frozen_ckpt ? opts.frozen_ckpt : opts.joint_ckpt;
    /* a checkpoint's tokenizer is saved into the run folder once the corpus passed its checks */
    return token_corpus_load_for_ckpt(bd, &co, ckpt, ckpt ? driver_out_path(d, "tokenizer.json", path, sizeof path) : NULL, e);
}

/* ---- training ------------------------------------------------------------------------------------ */

/* Random streams: phase + step, so that each step's windows are fixed whatever ran before. */
#define STREAM_CAUSAL (1ULL << 40)
#define STREAM_AE (2ULL << 40)
#define STREAM_PROBE (3ULL << 40)
#define STREAM_DROPOUT (4ULL << 40)
#define STREAM_JOINT (5ULL << 40)
#define STREAM_PROBE_INIT (RNG_STREAM_USER + 1)

static lm_optim make_optim(double lr, long long steps)
{
    return lm_optim_cosine(lr, lr / 10, opts.warmup, steps, opts.wd, opts.clip);
}

typedef enum { TRAIN_CAUSAL, TRAIN_AE, TRAIN_PROBE, TRAIN_JOINT } train_kind;

/* One training run of one of the four kinds; what it trains is `model` (an lm, an autoencoder, a
 * probe with `enc` its frozen encoder, NULL for the zero embedding, or a memory model on
 * --joint-objective with chunks of T tokens). */
typedef struct {
    driver *d;
    train_kind kind;
    void *model;
    lm *enc;
    const token_corpus *bd;
    const lm_optim *opt;
    int B, T, n, W;   /* the memory model reads n = chunks x T tokens from windows of W = n + 1 */
    int objective;
    uint64_t stream;  /* the kind's base of the per-step data streams */
    int *ids, *tg, *win;
    real *emb;
    tape tp;
} inversion_train;

static double inversion_step(void *ctx, long long s, long long *tokens)
{
    inversion_train *t = ctx;
    const int B = t->B, T = t->T, n = t->n;
    rng r = rng_stream((uint64_t)t->d->opt.seed, t->stream + (uint64_t)s);
    rng drop = rng_stream((uint64_t)t->d->opt.seed, dist_stream(STREAM_DROPOUT + (uint64_t)s));
    token_stream_windows(&t->bd->train, &r, B, t->W, t->win ? t->win : t->ids, t->tg);
    *tokens += (long long)B * T;
    int first;   /* data-parallel ranks: the whole batch drawn, this rank's rows trained on */
    const int rows = dist_rows(B, &first);
    if (t->kind == TRAIN_JOINT) {
        const int nb = copytask_objective_batches(t->objective, TASK_BLANK_COPY, t->win + (size_t)first * t->W, rows, n,
                                                  bpe_eot(t->bd->tok), t->ids, t->tg);
        const memmodel_batch bt[2] = {{t->ids, t->tg}, {t->ids + (size_t)rows * n, t->tg + (size_t)rows * n}};
        return memmodel_train_step(t->model, &t->tp, bt, nb, rows, t->opt, s, &drop);
    }
    const int *ids = t->ids + (size_t)first * T;
    if (t->kind == TRAIN_CAUSAL)
        return lm_train_step(t->model, &t->tp, ids, t->tg + (size_t)first * T, rows, T, -1, t->opt, s, &drop, NULL);
    if (t->kind == TRAIN_AE)
        return autoencoder_train_step(t->model, &t->tp, ids, rows, t->opt, s, &drop);
    if (t->enc)
        lm_embed(t->enc, &t->tp, ids, rows, T, t->emb);
    return probe_train_step(t->model, &t->tp, t->emb, ids, rows, t->opt, s);
}

/* 0, or -1 when the loss stopped being finite (message printed). */
static int train_model(driver *d, const inversion_plan *pl, train_kind kind, void *model, lm *enc,
                       const token_corpus *bd, int T, long long steps, const lm_optim *opt, const char *label)
{
    inversion_train t = {.d = d, .kind = kind, .model = model, .enc = enc, .bd = bd, .opt = opt, .B = (int)opts.batch,
                         .T = T};
    t.n = kind == TRAIN_JOINT ? ((memmodel *)model)->cfg.chunks * T : T;
    t.W = kind == TRAIN_JOINT ? t.n + 1 : T;
    t.ids = xmalloc((size_t)2 * t.B * t.W * sizeof *t.ids);
    t.tg = xmalloc((size_t)2 * t.B * t.W * sizeof *t.tg);
    t.win = kind == TRAIN_JOINT ? xmalloc((size_t)t.B * t.W * sizeof *t.win) : NULL;
    copytask_objective_parse(opts.joint_objective, &t.objective);
    if (kind == TRAIN_PROBE)
        t.emb = xcalloc((size_t)t.B * ((probe *)model)->cfg.d_in, sizeof *t.emb);
    t.stream = kind == TRAIN_CAUSAL ? STREAM_CAUSAL
               : kind == TRAIN_AE   ? STREAM_AE
               : kind == TRAIN_JOINT ? STREAM_JOINT
                                    : STREAM_PROBE;
    tape_init_on(&t.tp, pl->device, pl->bf16);
    train_loop loop = {.label = label, .hint = "try a lower --lr / --probe-lr", .quiet = d->opt.quiet, .end = steps,
                       .ctx = &t, .step = inversion_step};
    err_t e;
    int rc = train_loop_run(&loop, NULL, &e) == TRAIN_DONE ? 0 : -1;
    if (rc)
        driver_error(d, "%s", e.msg);
    tape_free(&t.tp);
    free(t.ids);
    free(t.tg);
    free(t.win);
    free(t.emb);
    return rc;
}

/* A fresh probe for the embeddings of `enc` (NULL: zero embeddings of the encoder's width) at input
 * length T, trained and measured on the held-out windows eval_ids[n_eval * T]. */
static int measure(driver *d, const inversion_plan *pl, lm *enc, int d_in, const token_corpus *bd, int T,
                   const int *eval_ids, int n_eval, const char *name, probe_metrics *out)
{
    probe_config pc = pl->probe;
    pc.n = T;
    pc.vocab = bd->vocab;
    pc.d_in = d_in;
    probe p;
    probe_build(&p, &pc);
    rng init = rng_stream((uint64_t)d->opt.seed, STREAM_PROBE_INIT);
    probe_init_weights(&p, &init);
    dist_broadcast_real(p.ps.data, p.ps.total);   /* data-parallel ranks start from rank 0's weights */
    probe_place(&p, pl->device);
    char label[96];
    snprintf(label, sizeof label, "memory-inversion: probe of %s, ctx %d", name, T);
    lm_optim opt = make_optim(opts.probe_lr, opts.probe_steps);
    int rc = train_model(d, pl, TRAIN_PROBE, &p, enc, bd, T, opts.probe_steps, &opt, label);
    if (rc == 0) {
        const int B = (int)opts.batch, V = bd->vocab;
        real *emb = xcalloc((size_t)B * d_in, sizeof *emb), *logits = xmalloc((size_t)B * T * V * sizeof *logits);
        tape tp;
        tape_init_on(&tp, pl->device, pl->bf16);
        probe_score sc = {0};
        for (int i = 0; i < n_eval; i += B) {
            const int b = n_eval - i < B ? n_eval - i : B;
            const int *ids = eval_ids + (size_t)i * T;
            if (enc)
                lm_embed(enc, &tp, ids, b, T, emb);
            probe_logits(&p, &tp, emb, b, logits);
            probe_score_add(&sc, logits, ids, (long long)b * T, V, -1);
        }
        *out = probe_metrics_of(&sc, V);
        log_info(d->opt.quiet, "%s: %s at ctx %d: token accuracy %.4f, cross-entropy %.4f", d->spec->command, name, T,
                 out->token_acc, out->ce);
        tape_free(&tp);
        free(emb);
        free(logits);
    }
    probe_free(&p);
    return rc;
}

static void write_row(csv_writer *w, const char *encoder, const lm_config *c, int T, const probe_metrics *m,
                      double baseline)
{
    csv_row(w, cell_str(encoder), cell_str(lm_arch_name(c->arch)), cell_int(c->d), cell_int(c->layers), cell_int(T),
            cell_str(opts.feed), cell_int(opts.probe_steps), cell_num(m->token_acc), cell_num(m->ce),
            cell_num(m->entropy_ratio), cell_num(m->retained), cell_num(m->bits_per_token), cell_num(baseline));
}

/* An encoder from a checkpoint (shape checked by plan_make) of the tokenizer's vocabulary. */
static int open_encoder(const char *opt, const char *path, int vocab, lm *m, err_t *e)
{
    if (lm_ckpt_open(path, m, 0, e) != 0)
        return -1;
    if (m->cfg.vocab == vocab)
        return 0;
    lm_free(m);
    return err_set(e, "%s %s: %d tokens, but the tokenizer has %d", opt, path, m->cfg.vocab, vocab);
}

/* The untrained and causal encoders, shared by every input length: built at the longest. */
static int shared_encoders(driver *d, const inversion_plan *pl, const token_corpus *bd, lm *untrained, lm *causal,
                           err_t *e)
{
    lm_config c;
    if (encoder_config(bd->vocab, pl->ctx_max, &c, e) != 0)
        return -1;
    if (pl->want[ENC_UNTRAINED]) {
        lm_build(untrained, &c);
        rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
        lm_init_weights(untrained, &init);
        dist_broadcast_real(untrained->ps.data, untrained->ps.total);   /* every rank embeds alike */
        lm_place(untrained, pl->device, pl->bf16);
    }
    if (!pl->want[ENC_CAUSAL])
        return 0;
    if (opts.encoder_ckpt) {
        if (open_encoder("--encoder-ckpt", opts.encoder_ckpt, bd->vocab, causal, e) != 0)
            return -1;
        lm_place(causal, pl->device, pl->bf16);
        return 0;
    }
    lm_build(causal, &c);
    rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
    lm_init_weights(causal, &init);
    dist_broadcast_real(causal->ps.data, causal->ps.total);   /* data-parallel ranks start alike */
    lm_place(causal, pl->device, pl->bf16);
    lm_optim opt = make_optim(opts.lr, opts.encoder_steps);
    if (train_model(d, pl, TRAIN_CAUSAL, causal, NULL, bd, pl->ctx_max, opts.encoder_steps, &opt,
                    "memory-inversion: causal encoder") != 0) {
        lm_free(causal);
        return err_set(e, "the causal encoder's training failed");
    }
    return 0;
}

/* An encoder made for one input length, and what owns it. */
typedef struct {
    autoencoder ae;
    memmodel mm;
    lm loaded;
    enum { HOLD_NONE, HOLD_AE, HOLD_MM, HOLD_LOADED } what;
} enc_holder;

static void holder_free(enc_holder *h)
{
    if (h->what == HOLD_AE)
        autoencoder_free(&h->ae);
    else if (h->what == HOLD_MM)
        memmodel_free(&h->mm);
    else if (h->what == HOLD_LOADED)
        lm_free(&h->loaded);
    h->what = HOLD_NONE;
}

/* The joint encoder, trained with its decoder as a memory model (--joint-objective) at length T;
 * NULL on a failure (message printed). */
static lm *joint_encoder(driver *d, const inversion_plan *pl, const token_corpus *bd, const lm_config *c, int T,
                         enc_holder *h, lm_optim *opt, rng *init)
{
    /* the decoder: the encoder's shape, positions for the slots and a chunk */
    memmodel_config mc = {.enc = *c, .dec = *c, .chunks = (int)opts.joint_chunks, .chunk_len = T};
    mc.dec.ctx = mc.chunks + T;
    err_t e;
    if (memmodel_config_check(&mc, &e) != 0) {
        driver_error(d, "the joint encoder's memory model: %s", e.msg);
        return NULL;
    }
    memmodel_build(&h->mm, &mc);
    memmodel_init_weights(&h->mm, init);
    memmodel_broadcast(&h->mm);
    memmodel_place(&h->mm, pl->device, pl->bf16);
    h->what = HOLD_MM;
    char label[96];
    snprintf(label, sizeof label, "memory-inversion: joint (%s memory model), ctx %d", opts.joint_objective, T);
    if (train_model(d, pl, TRAIN_JOINT, &h->mm, NULL, bd, T, opts.encoder_steps, opt, label) != 0)
        return NULL;
    return &h->mm.enc;
}

/* An autoencoder's encoder (the frozen kind), trained at length T and saved for memlab copy
 * --encoder frozen --encoder-ckpt; NULL on a failure (message printed). */
static lm *autoencoder_encoder(driver *d, const inversion_plan *pl, const token_corpus *bd, enc_kind k,
                               const lm_config *c, int T, enc_holder *h, lm_optim *opt, rng *init)
{
    probe_config dc = pl->probe;
    dc.arch = c->arch;   /* both halves of the autoencoder are --arch stacks of the encoder's shape */
    dc.d = c->d;
    dc.layers = c->layers;
    dc.heads = c->heads;
    dc.pmem = c->pmem;
    dc.bias = c->bias;
    dc.n = T;
    autoencoder_build(&h->ae, c, &dc);
    autoencoder_init_weights(&h->ae, init);
    autoencoder_broadcast(&h->ae);
    autoencoder_place(&h->ae, pl->device, pl->bf16);
    h->what = HOLD_AE;
    char label[96];
    snprintf(label, sizeof label, "memory-inversion: %s, ctx %d", enc_names[k], T);
    if (train_model(d, pl, TRAIN_AE, &h->ae, NULL, bd, T, opts.encoder_steps, opt, label) != 0)
        return NULL;
    char name[64], path[4096], seedbuf[32];
    snprintf(name, sizeof name, "autoencoder_encoder_ctx%d.safetensors", T);
    snprintf(seedbuf, sizeof seedbuf, "%lld", d->opt.seed);
    char *config = driver_config_text(d);
    const char *extra[] = {"experiment", "memory-inversion", "role", "autoencoder-encoder", "seed", seedbuf,
                           "config", config, TOKEN_CORPUS_CKPT_META(bd), NULL};
    err_t e;
    int rc = lm_ckpt_save(driver_out_path(d, name, path, sizeof path), &h->ae.enc, extra, 0, &e);
    const int bad = dist_agree_err(rc, &e) != 0;   /* data-parallel ranks go on, or stop, together */
    free(config);
    if (bad)
        driver_error(d, "%s", e.msg);
    return bad ? NULL : &h->ae.enc;
}

/* Encoder k at input length T (c: the encoder's shape there): the shared untrained and causal ones;
 * an autoencoder's (autoencoder, and frozen without --frozen-ckpt: a memory model's frozen encoder
 * is an autoencoder's, which the memory model never changes); a memory model's trained jointly with
 * its decoder (joint without --joint-ckpt); or a checkpoint's. *rc: 0, or 1 with the message
 * printed (the result is then NULL). */
static lm *encoder_at(driver *d, const inversion_plan *pl, const token_corpus *bd, enc_kind k, const lm_config *c,
                      int T, lm *untrained, lm *causal, enc_holder *h, int *rc)
{
    const char *ckpt = k == ENC_FROZEN ? opts.frozen_ckpt : k == ENC_JOINT ? opts.joint_ckpt : NULL;
    err_t e;
    *rc = 0;
    if (k == ENC_UNTRAINED || k == ENC_CAUSAL)
        return k == ENC_UNTRAINED ? untrained : causal;
    if (ckpt) {
        const char *opt = k == ENC_FROZEN ? "--frozen-ckpt" : "--joint-ckpt";
        if (open_encoder(opt, ckpt, bd->vocab, &h->loaded, &e) != 0) {
            driver_error(d, "%s", e.msg);
            *rc = 1;
            return NULL;
        }
        h->what = HOLD_LOADED;
        lm_place(&h->loaded, pl->device, pl->bf16);
        return &h->loaded;
    }
    lm_optim opt = make_optim(opts.lr, opts.encoder_steps);
    rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
    lm *enc = k == ENC_JOINT ? joint_encoder(d, pl, bd, c, T, h, &opt, &init)
                             : autoencoder_encoder(d, pl, bd, k, c, T, h, &opt, &init);
    *rc = enc ? 0 : 1;
    return enc;
}

/* All rows of one input length: the baseline, then each encoder. */
static int measure_ctx(driver *d, const inversion_plan *pl, const token_corpus *bd, lm *untrained, lm *causal, int T)
{
    const int n_eval = (int)opts.eval_windows;
    int *eval_ids = xmalloc((size_t)n_eval * T * sizeof *eval_ids), *scratch = xmalloc((size_t)n_eval * T * sizeof *scratch);
    rng r = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_EVAL);
    token_stream_windows(&bd->val, &r, n_eval, T, eval_ids, scratch);
    free(scratch);
    err_t e;
    lm_config c;
    encoder_config(bd->vocab, T, &c, &e);   /* checked by plan_make */
    probe_metrics base;
    int rc = measure(d, pl, NULL, c.d, bd, T, eval_ids, n_eval, "zero embedding", &base);
    for (int i = 0; i < pl->nenc && rc == 0; i++) {
        const enc_kind k = pl->enc[i];
        enc_holder h = {0};
        lm *enc = encoder_at(d, pl, bd, k, &c, T, untrained, causal, &h, &rc);
        probe_metrics m;
        if (rc == 0)
            rc = measure(d, pl, enc, enc->cfg.d, bd, T, eval_ids, n_eval, enc_names[k], &m);
        if (rc == 0)
            write_row(d->csv, enc_names[k], &enc->cfg, T, &m, base.token_acc);
        holder_free(&h);
    }
    free(eval_ids);
    return rc;
}

static int run(driver *d, const inversion_plan *pl)
{
    token_corpus bd;
    err_t e;
    if (data_load(d, pl, &bd, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    /* the table's header once the data passed their checks */
    if (driver_open_csv(d, &inversion_table) != 0) {
        token_corpus_free(&bd);
        return 1;
    }
    log_info(d->opt.quiet, "%s: %s encoders, %zu training tokens, vocabulary %d", d->spec->command, lm_arch_name(pl->arch),
             bd.train.n, bd.vocab);
    lm untrained = {0}, causal = {0};
    if (shared_encoders(d, pl, &bd, &untrained, &causal, &e) != 0) {
        if (pl->want[ENC_UNTRAINED])
            lm_free(&untrained);
        driver_error(d, "%s", e.msg);
        token_corpus_free(&bd);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < pl->nctx && rc == 0; i++)
        rc = measure_ctx(d, pl, &bd, &untrained, &causal, pl->ctx[i]) != 0;
    if (pl->want[ENC_UNTRAINED])
        lm_free(&untrained);
    if (pl->want[ENC_CAUSAL])
        lm_free(&causal);
    token_corpus_free(&bd);
    return rc;
}

int cmd_memory_inversion(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &inversion_spec, argc, argv, &code) != 0)
        return code;
    inversion_plan pl;
    err_t e;
    if ((code = driver_check_batch(&d, opts.batch)) != 0) {
        driver_end(&d, 0);
        return code;
    }
    if (plan_make(&pl, &code, &e) != 0 || (code = device_opts_open(&opts.dev, &pl.device, &pl.bf16, &e)) != 0 ||
        (code = dist_open_device(pl.device, &e) != 0)) {   /* GPU ranks: NCCL (docs/distributed.md) */
        driver_error(&d, "%s", e.msg);
        driver_end(&d, 0);
        return code;
    }
    const schedule_opts enc = {.steps_name = "--encoder-steps", .steps = opts.encoder_steps, .warmup_name = "--warmup",
                               .warmup = opts.warmup},
                        probe = {.steps_name = "--probe-steps", .steps = opts.probe_steps, .warmup_name = "--warmup",
                                 .warmup = opts.warmup};
    if (schedule_opts_check(&enc, &e) != 0 || schedule_opts_check(&probe, &e) != 0)
        return driver_usage_error(&d, "%s", e.msg);
    int rc = run(&d, &pl);
    int end = driver_end(&d, rc == 0);
    return rc ? rc : end;
}

const command memory_inversion_command = {&inversion_spec, "inversion", cmd_memory_inversion, 1};
