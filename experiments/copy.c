/* memlab copy and memlab blank-copy: encoder-decoder memory models (Badger 2026, docs/copy.md)
 * trained on the causal, copy, blank-copy or combined objective, with a trainable or frozen
 * (autoencoder) encoder, optionally through a curriculum of stages, against the no-memory and the
 * full-context controls; every model is scored on all three tasks on held-out text. `--cost` measures
 * instead the training speed and forward FLOPs per token of the memory model against the
 * full-context decoder as the number of chunks grows.
 *
 * The model is nn/memmodel.h, the batches data/copytask.h, the data the babistories pipeline
 * (lib/data/token_corpus.h). The two commands differ only in the copy task they default to
 * and that `combined` adds to next-token prediction: copy for `copy`, blank copy for `blank-copy`.
 *
 * Determinism: the windows of training step s (counted over all stages) come from a random stream
 * numbered by s; the initial weights from one stream whatever the objective, so that models trained
 * on different objectives start alike. tokens_per_s is a wall-clock measurement and varies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "data/token_corpus.h"
#include "data/copytask.h"
#include "commands.h"
#include "corpus_opts.h"
#include "driver.h"
#include "io/progress.h"
#include "lm_opts.h"
#include "nn/autoencoder.h"
#include "nn/lm_ckpt.h"
#include "nn/memmodel.h"
#include "nn/train_loop.h"

typedef struct {
    char *objective, *curriculum, *encoder, *encoder_ckpt, *decoder_ckpt, *baseline, *encoder_arch, *decoder_arch;
    corpus_opts corpus;
    char *cost_chunks;
    long long chunks, chunk_len, enc_d, enc_layers, enc_heads, steps, batch, warmup, eval_every, eval_batches;
    long long ae_steps, cost_steps;
    int no_memory, map, cost;
    double lr, wd, clip;
    device_opts dev;
} copy_opts;

static copy_opts opts;
static lm_opts model_opts;   /* the decoder's shape (--layers, --d, --heads, --pmem, --dropout) and --pos */

#define COPY_MAX_STAGES 8
#define COPY_MAX_COST 8

static const opt_spec copy_options[] = {
    {"chunks", 0, OPT_INT, &opts.chunks, "4", "chunks per input (C): each becomes one memory", NULL, -1e9, 4096, "C"},
    {"chunk-len", 0, OPT_INT, &opts.chunk_len, "8", "tokens per chunk (L); the input is C x L tokens", NULL, -1e9, 1 << 20, "L"},
    {"objective", 0, OPT_STRING, &opts.objective, NULL, "training objective: causal (next token), copy, blank-copy, or combined (causal + this command's copy task, losses summed); default: this command's task", "causal|copy|blank-copy|combined", 0, -1, "O"},
    {"curriculum", 0, OPT_STRING, &opts.curriculum, NULL, "stages instead of --objective: a comma list of OBJECTIVE[:STEPS] (default steps --steps), each starting from the previous stage's weights, e.g. blank-copy:500,combined:500", NULL, 0, -1, "O:N,..."},
    {"encoder", 0, OPT_STRING, &opts.encoder, "trainable", "trainable (trained with the decoder) or frozen (an autoencoder's encoder: --encoder-ckpt, or trained first for --ae-steps)", "trainable|frozen", 0, -1, "E"},
    {"encoder-ckpt", 0, OPT_STRING, &opts.encoder_ckpt, NULL, "the frozen encoder: an autoencoder's encoder checkpoint (memlab memory-inversion's autoencoder_encoder_ctxN.safetensors, with N >= --chunk-len, or an earlier frozen run's; same --encoder-arch, --encoder-d, --encoder-layers)", NULL, 0, -1, "CKPT"},
    {"ae-steps", 0, OPT_INT, &opts.ae_steps, "2000", "--encoder frozen without --encoder-ckpt: autoencoder training steps on single chunks", NULL, 1, 1e9, "N"},
    {"decoder-ckpt", 0, OPT_STRING, &opts.decoder_ckpt, NULL, "initialise the decoder from a `memlab babistories` checkpoint (its shape replaces --decoder-arch, --d, --layers, --heads)", NULL, 0, -1, "CKPT"},
    {"no-memory", 0, OPT_FLAG, &opts.no_memory, NULL, "control: every memory slot a placeholder (no encoder)", NULL, 0, -1, NULL},
    {"baseline", 0, OPT_STRING, &opts.baseline, "none", "full: instead of the memory model, a decoder of the same shape reading the whole C x L input", "none|full", 0, -1, "B"},
    {"encoder-arch", 0, OPT_STRING, &opts.encoder_arch, "gpt", "encoder stack", "gpt|mosaic", 0, -1, "A"},
    {"decoder-arch", 0, OPT_STRING, &opts.decoder_arch, "gpt", "decoder stack", "gpt|mosaic", 0, -1, "A"},
    {"encoder-d", 0, OPT_INT, &opts.enc_d, "64", "encoder width (a linear map joins it to --d when they differ)", NULL, 1, 65536, "D"},
    {"encoder-layers", 0, OPT_INT, &opts.enc_layers, "2", "encoder blocks", NULL, 1, 1000, "L"},
    {"encoder-heads", 0, OPT_INT, &opts.enc_heads, "4", "encoder heads (must divide --encoder-d)", NULL, 1, 4096, "H"},
    LM_SHAPE_ROWS(model_opts, "2", "64", "4", "0"),
    {"pos", 0, OPT_STRING, &model_opts.pos, "learned", "gpt positions of both stacks: learned, none, rope or alibi", "learned|none|rope|alibi", 0, -1, "P"},
    {"map", 0, OPT_BOOL, &opts.map, "on", "a linear map from memories to the decoder's width and embedding scale (always on when the widths differ)", NULL, 0, -1, "on|off"},
    {"steps", 0, OPT_INT, &opts.steps, "4000", "training steps (of each curriculum stage without its own count)", NULL, 1, 1e9, "N"},
    {"batch", 0, OPT_INT, &opts.batch, "16", "inputs of C x L tokens per step", NULL, 1, 1e6, "B"},
    {"lr", 0, OPT_DOUBLE, &opts.lr, "2e-3", "peak learning rate (AdamW 0.9, 0.95; warm-up, cosine to lr/10, per stage)", NULL, 1e-12, 10, "LR"},
    {"warmup", 0, OPT_INT, &opts.warmup, "100", "linear warm-up steps of every stage", NULL, 0, 1e9, "N"},
    LM_DECAY_CLIP_ROWS(opts),
    {"eval-every", 0, OPT_INT, &opts.eval_every, "250", "evaluate every N steps (and at the end of every stage)", NULL, 1, 1e9, "N"},
    {"eval-batches", 0, OPT_INT, &opts.eval_batches, "8", "batches of held-out inputs per evaluation", NULL, 1, 1e6, "N"},
    {"cost", 0, OPT_FLAG, &opts.cost, NULL, "measure instead training tokens/s and forward FLOPs per token, memory model against the full-context decoder, for each of --cost-chunks", NULL, 0, -1, NULL},
    {"cost-chunks", 0, OPT_STRING, &opts.cost_chunks, "1,2,4,8,16", "--cost: the chunk counts", NULL, 0, -1, "C,C,..."},
    {"cost-steps", 0, OPT_INT, &opts.cost_steps, "20", "--cost: timed training steps per model", NULL, 1, 1e6, "N"},
    CORPUS_OPTION_ROWS(opts.corpus, "train (a BPE of --vocab-size; with a checkpoint, the checkpoint's), gpt2 (with --vocab-dir) or a saved tokenizer .json", "512", "tokens of a trained BPE"),
    DEVICE_OPTION_ROWS(opts.dev),
};

static const char *const smoke_kv[] = {"stories", "300", "val-stories", "20", "vocab-size", "300", "chunks", "2",
                                       "chunk-len", "8", "d", "32", "heads", "2", "encoder-d", "32", "encoder-heads", "2",
                                       "layers", "1", "encoder-layers", "1", "batch", "4", "steps", "6",
                                       "eval-every", "3", "eval-batches", "2", "warmup", "2", "ae-steps", "5",
                                       "cost-chunks", "1,2", "cost-steps", "2", NULL};
/* The paper's chunking (4 x 256) and vocabulary; widths, depths and steps are memlab's. */
static const char *const paper_kv[] = {"vocab-size", "8192", "chunks", "4", "chunk-len", "256", "d", "512",
                                       "heads", "8", "layers", "4", "encoder-d", "512", "encoder-heads", "8",
                                       "encoder-layers", "4", "steps", "20000", "ae-steps", "20000", "warmup", "1000",
                                       "lr", "1e-3", "eval-every", "1000", NULL};
static const preset_def copy_presets[] = {{"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}};

#define COPY_DESCRIPTION                                                                                          \
    "An input is --chunks C x --chunk-len L tokens of text (training or held-out). The encoder (--encoder-arch,\n"      \
    "-d, -layers, -heads) turns each chunk into one memory, its last-token state, all chunks in one pass;\n"  \
    "to predict chunk c the decoder (--decoder-arch, --d, --layers, --heads) reads C slots (the memories\n"   \
    "of chunks 0..c-1, learned placeholders for the rest) then chunk c's tokens, causally. Objectives:\n"     \
    "causal (next token); copy (the input is [x, x] with x its first half, loss on the second half);\n"       \
    "blank-copy (the second half of the input is the pad token <|endoftext|>, the same labels); combined\n"   \
    "(causal + this command's copy task, summed). --encoder frozen uses an autoencoder's encoder (from\n"     \
    "--encoder-ckpt, or trained first); --curriculum runs stages. Controls: --no-memory, --baseline full.\n"  \
    "Every --eval-every steps all three are measured on held-out inputs. Primary CSV (also\n"                 \
    "<out-dir>/copy.csv):\n"                                                                                   \
    "  command,encoder,objective,curriculum,encoder_arch,decoder_arch,chunks,chunk_len,step,copy_acc,\n"      \
    "  blank_copy_acc,causal_ce,tokens_per_s\n"                                                                \
    "copy_acc / blank_copy_acc: token accuracy on the copied half; causal_ce: next-token cross-entropy\n"      \
    "(nats). encoder is trainable, frozen, none (--no-memory) or full (the baseline); curriculum the\n"     \
    "stages joined by + (or none). Checkpoints: <out-dir>/encoder.safetensors, decoder.safetensors.\n"     \
    "--cost writes instead\n"                                                                                 \
    "  command,model,chunks,chunk_len,params,tokens_per_s,flops_per_token\n"                                  \
    "for the memory model and the full-context decoder at each of --cost-chunks (also <out-dir>/cost.csv)."

static const cmd_spec copy_spec = {
    .command = "copy",
    .summary = "memory models on the copy task: encoder memories, objectives, frozen encoder, curriculum (Badger 2026)",
    .usage = "memlab copy [options]",
    .description = COPY_DESCRIPTION,
    .opts = copy_options,
    .nopts = sizeof copy_options / sizeof copy_options[0],
    .presets = copy_presets,
    .npresets = 3,
};

static const cmd_spec blank_spec = {
    .command = "blank-copy",
    .summary = "memory models on the blank-copy task: regenerate text from memories alone (Badger 2026)",
    .usage = "memlab blank-copy [options]",
    .description = COPY_DESCRIPTION,
    .opts = copy_options,
    .nopts = sizeof copy_options / sizeof copy_options[0],
    .presets = copy_presets,
    .npresets = 3,
};

static const char *const copy_columns[] = {"command", "encoder", "objective", "curriculum", "encoder_arch",
                                           "decoder_arch", "chunks", "chunk_len", "step", "copy_acc",
                                           "blank_copy_acc", "causal_ce", "tokens_per_s"};
static const char *const cost_columns[] = {"command", "model", "chunks", "chunk_len", "params", "tokens_per_s",
                                           "flops_per_token"};
/* The primary table, copied into the run folder: the training curve, or --cost's measurements. */
static const table_spec copy_table = TABLE_SPEC("copy.csv", copy_columns);
static const table_spec cost_table = TABLE_SPEC("cost.csv", cost_columns);

typedef struct {
    int objective;
    long long steps;
} stage;

typedef struct {
    copy_task task;            /* the command's copy task */
    stage st[COPY_MAX_STAGES];
    int nst;
    int cost[COPY_MAX_COST], ncost;
    device_kind device;        /* --device, --dtype: where every model trains and runs */
    int bf16;
} copy_plan;

/* ---- options ------------------------------------------------------------------------------------ */

static int parse_curriculum(copy_plan *pl, err_t *e)
{
    const char *s = opts.curriculum;
    char item[64], *colon;
    while (args_next_item(&s, item, sizeof item)) {
        stage *st = &pl->st[pl->nst];
        st->steps = opts.steps;
        if ((colon = strchr(item, ':')) != NULL) {
            char *end;
            *colon = 0;
            st->steps = strtoll(colon + 1, &end, 10);
            if (*end || end == colon + 1 || st->steps < 1)
                return err_set(e, "--curriculum '%s': a stage's steps must be a positive integer", opts.curriculum);
        }
        if (pl->nst == COPY_MAX_STAGES || copytask_objective_parse(item, &st->objective) != 0)
            return err_set(e, "--curriculum '%s': expected at most %d stages OBJECTIVE[:STEPS], objectives causal, copy, blank-copy or combined",
                           opts.curriculum, COPY_MAX_STAGES);
        pl->nst++;
    }
    return 0;
}

static int parse_cost(copy_plan *pl, err_t *e)
{
    const char *s = opts.cost_chunks;
    char item[64];
    while (args_next_item(&s, item, sizeof item)) {
        char *end;
        long v = strtol(item, &end, 10);
        if (end == item || *end || v < 1 || v > 4096 || pl->ncost == COPY_MAX_COST)
            return err_set(e, "--cost-chunks expects a comma list of at most %d chunk counts from 1 to 4096, got '%s'",
                           COPY_MAX_COST, opts.cost_chunks);
        pl->cost[pl->ncost++] = (int)v;
    }
    return 0;
}

static int full_baseline(void) { return strcmp(opts.baseline, "full") == 0; }
static int frozen(void) { return strcmp(opts.encoder, "frozen") == 0; }

/* The two stacks' shapes for a vocabulary, `chunks` chunks, the memory model or (full) the
 * full-context decoder. */
static int stack_configs(int vocab, int chunks, int full, lm_config *enc, lm_config *dec, err_t *e)
{
    lm_opts m = model_opts;
    m.arch = opts.decoder_arch;
    m.ctx = full ? chunks * opts.chunk_len : chunks + opts.chunk_len;
    if (lm_opts_config(&m, vocab, dec, e) != 0)
        return -1;
    m.arch = opts.encoder_arch;
    m.ctx = opts.chunk_len;
    m.d = opts.enc_d;
    m.layers = opts.enc_layers;
    m.heads = opts.enc_heads;
    int rc = lm_opts_config(&m, vocab, enc, e);
    if (rc != 0 && strstr(e->msg, "--d ") == e->msg)   /* name the encoder's options */
        err_set(e, "--encoder-d %lld is not divisible by --encoder-heads %lld", opts.enc_d, opts.enc_heads);
    return rc;
}

/* Usage errors, checked before any data is read. */
static int plan_make(copy_plan *pl, copy_task task, err_t *e)
{
    memset(pl, 0, sizeof *pl);
    pl->task = task;
    if (opts.chunks < 1)
        return err_set(e, "--chunks %lld: need at least one chunk", opts.chunks);
    if (opts.chunk_len < 1)
        return err_set(e, "--chunk-len %lld: need at least one token per chunk", opts.chunk_len);
    if (opts.chunks * opts.chunk_len > 1 << 20)
        return err_set(e, "--chunks %lld x --chunk-len %lld: inputs longer than %d tokens", opts.chunks, opts.chunk_len,
                       1 << 20);
    if (opts.curriculum && opts.objective)
        return err_set(e, "--curriculum and --objective both given: the curriculum names each stage's objective");
    if (opts.curriculum) {
        if (parse_curriculum(pl, e) != 0)
            return -1;
    } else {
        pl->st[0].steps = opts.steps;
        pl->st[0].objective = (int)task;
        if (opts.objective && copytask_objective_parse(opts.objective, &pl->st[0].objective) != 0)
            return err_set(e, "--objective '%s': expected causal, copy, blank-copy or combined", opts.objective);
        pl->nst = 1;
    }
    lm_config enc, dec;
    if (stack_configs(257, (int)opts.chunks, full_baseline(), &enc, &dec, e) != 0)
        return -1;
    if ((opts.chunks * opts.chunk_len) % 2 != 0)
        return err_set(e, "--chunks %lld x --chunk-len %lld is odd: the copy tasks split the input in halves",
                       opts.chunks, opts.chunk_len);
    if (opts.no_memory && full_baseline())
        return err_set(e, "--no-memory and --baseline full are two different controls: give one");
    if (frozen() && (opts.no_memory || full_baseline()))
        return err_set(e, "--encoder frozen needs an encoder: not with --no-memory or --baseline full");
    if (opts.encoder_ckpt && !frozen())
        return err_set(e, "--encoder-ckpt gives the frozen encoder: add --encoder frozen");
    if (opts.cost && parse_cost(pl, e) != 0)
        return -1;
    if (opts.cost && dist_size() > 1)
        return err_set(e, "--cost measures the speed of one process: run it without mpirun");
    return 0;
}

/* The frozen encoder's checkpoint against --encoder-arch, --encoder-d and --encoder-layers (before
 * any data is read). */
static int check_encoder_ckpt(err_t *e)
{
    lm_config k, want;
    if (lm_ckpt_config(opts.encoder_ckpt, &k, e) != 0)
        return -1;
    if (stack_configs(257, (int)opts.chunks, 0, &want, &(lm_config){0}, e) != 0)
        return -1;
    if (lm_config_same_stack(&k, &want))
        return 0;
    return err_set(e, "--encoder-ckpt %s: a %s of width %d and %d layers, but --encoder-arch %s --encoder-d %d --encoder-layers %d",
                   opts.encoder_ckpt, lm_arch_name(k.arch), k.d, k.layers, lm_arch_name(want.arch), want.d,
                   want.layers);
}

/* ---- data --------------------------------------------------------------------------------------- */

#define STREAM_STEP (1ULL << 40)
#define STREAM_AE (2ULL << 40)
#define STREAM_DROPOUT (3ULL << 40)
#define STREAM_COST (4ULL << 40)

/* The corpus, with room for the longest input of the plan (--chunks, or the largest --cost point). */
static int data_load(driver *d, const copy_plan *pl, token_corpus *bd, err_t *e)
{
    char path[4096];
    const char *ckpt = opts.encoder_ckpt ? opts.encoder_ckpt : opts.decoder_ckpt;
    token_corpus_opts co = corpus_opts_for(&opts.corpus, d);
    int maxc = (int)opts.chunks;
    for (int i = 0; opts.cost && i < pl->ncost; i++)
        maxc = pl->cost[i] > maxc ? pl->cost[i] : maxc;
    co.window = (size_t)maxc * opts.chunk_len;
    /* a checkpoint's tokenizer is saved into the run folder once the corpus passed its checks */
    return token_corpus_load_for_ckpt(bd, &co, ckpt, ckpt ? driver_out_path(d, "tokenizer.json", path, sizeof path) : NULL, e);
}

/* B windows of n + 1 consecutive tokens drawn with r. */
static void windows(const token_stream *s, rng *r, int B, int n, int *win)
{
    int *scratch = xmalloc((size_t)B * (n + 1) * sizeof *scratch);
    token_stream_windows(s, r, B, n + 1, win, scratch);
    free(scratch);
}

static lm_optim make_optim(long long steps)
{
    return lm_optim_cosine(opts.lr, opts.lr / 10, opts.warmup < steps ? opts.warmup : 0, steps, opts.wd, opts.clip);
}

/* ---- the model ----------------------------------------------------------------------------------- */

static int ckpt_extra_save(driver *d, const lm *m, const token_corpus *bd, const char *name, const char *role, err_t *e)
{
    char path[4096], seedbuf[32];
    snprintf(seedbuf, sizeof seedbuf, "%lld", d->opt.seed);
    char *config = driver_config_text(d);
    const char *extra[] = {"experiment", d->spec->command, "role", role, "seed", seedbuf, "config", config,
                           TOKEN_CORPUS_CKPT_META(bd), NULL};
    int rc = lm_ckpt_save(driver_out_path(d, name, path, sizeof path), m, extra, 0, e);
    free(config);
    return dist_agree_err(rc, e);   /* data-parallel ranks go on, or stop, together */
}

/* The autoencoder's training run: what its step function reads. */
typedef struct {
    const driver *d;
    const token_corpus *bd;
    autoencoder *ae;
    lm_optim opt;
    int B, L;
    int *ids, *tg;
    tape tp;
} ae_run;

static double ae_step(void *ctx, long long s, long long *tokens)
{
    ae_run *a = ctx;
    rng r = rng_stream((uint64_t)a->d->opt.seed, STREAM_AE + (uint64_t)s);
    rng drop = rng_stream((uint64_t)a->d->opt.seed, dist_stream(STREAM_DROPOUT + (uint64_t)s));
    token_stream_windows(&a->bd->train, &r, a->B, a->L, a->ids, a->tg);
    *tokens += (long long)a->B * a->L;
    int first;   /* data-parallel ranks: the whole batch drawn, this rank's rows trained on */
    const int rows = dist_rows(a->B, &first);
    return autoencoder_train_step(a->ae, &a->tp, a->ids + (size_t)first * a->L, rows, &a->opt, s, &drop);
}

/* An autoencoder trained on single chunks (the frozen encoder when no checkpoint is given); its
 * encoder's weights are copied into enc. */
static int train_autoencoder(driver *d, const copy_plan *pl, const token_corpus *bd, lm *enc, err_t *e)
{
    const lm_config *c = &enc->cfg;
    probe_config dc = {.arch = c->arch, .n = (int)opts.chunk_len, .d = c->d, .layers = c->layers, .heads = c->heads,
                       .pmem = c->pmem, .bias = c->bias, .feed = FEED_UNROLLED};
    autoencoder ae;
    autoencoder_build(&ae, c, &dc);
    rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT + 10);
    autoencoder_init_weights(&ae, &init);
    autoencoder_broadcast(&ae);
    autoencoder_place(&ae, pl->device, pl->bf16);
    ae_run a = {.d = d, .bd = bd, .ae = &ae, .opt = make_optim(opts.ae_steps), .B = (int)opts.batch,
                .L = (int)opts.chunk_len};
    a.ids = xmalloc((size_t)a.B * a.L * sizeof *a.ids);
    a.tg = xmalloc((size_t)a.B * a.L * sizeof *a.tg);
    lm_tape_init(&a.tp, &ae.enc);
    train_loop loop = {.label = "autoencoder (frozen encoder)", .hint = "try a lower --lr", .quiet = d->opt.quiet,
                       .end = opts.ae_steps, .ctx = &a, .step = ae_step};
    int rc = train_loop_run(&loop, NULL, e) == TRAIN_DONE ? 0 : -1;
    if (rc == 0) {
        params_copy(&enc->ps, &ae.enc.ps, 0);
        rc = ckpt_extra_save(d, &ae.enc, bd, "autoencoder_encoder.safetensors", "autoencoder-encoder", e);
    }
    tape_free(&a.tp);
    free(a.ids);
    free(a.tg);
    autoencoder_free(&ae);
    return rc;
}

/* A checkpoint's model, checked to be a gpt or mosaic of the tokenizer's vocabulary. */
static int open_stack(const char *opt, const char *path, int vocab, lm *m, err_t *e)
{
    if (lm_ckpt_open(path, m, 0, e) != 0)
        return -1;
    const char *why = !m->ops->attends ? "its blocks do not attend (the memory model takes gpt or mosaic stacks)"
                      : m->cfg.vocab != vocab ? "a vocabulary other than the tokenizer's" : NULL;
    if (why) {
        err_set(e, "%s %s: a %s model: %s", opt, path, m->ops->name, why);
        lm_free(m);
        return -1;
    }
    return 0;
}

/* Builds the model for `chunks` chunks: shapes from the options or the checkpoints, weights from the
 * seeded initialisation, then the checkpoints'. *code: 2 for an option at fault, 1 otherwise. */
static int model_make(driver *d, const copy_plan *pl, const token_corpus *bd, int chunks, int full, int no_memory,
                      memmodel *m, int *code, err_t *e)
{
    memmodel_config c = {.chunks = chunks, .chunk_len = (int)opts.chunk_len, .no_memory = no_memory, .full = full,
                         .frozen = frozen()};
    *code = 2;
    if (stack_configs(bd->vocab, chunks, full, &c.enc, &c.dec, e) != 0)
        return -1;
    lm enc_ck = {0}, dec_ck = {0};
    *code = 1;
    if (opts.encoder_ckpt) {
        if (open_stack("--encoder-ckpt", opts.encoder_ckpt, bd->vocab, &enc_ck, e) != 0)
            return -1;
        c.enc = enc_ck.cfg;
    }
    if (opts.decoder_ckpt) {
        if (open_stack("--decoder-ckpt", opts.decoder_ckpt, bd->vocab, &dec_ck, e) != 0) {
            if (opts.encoder_ckpt)
                lm_free(&enc_ck);
            return -1;
        }
        c.dec = dec_ck.cfg;
        c.dec.dropout = model_opts.dropout;
    }
    c.map = opts.map || c.enc.d != c.dec.d;
    int rc = memmodel_config_check(&c, e);
    if (rc != 0 && (opts.encoder_ckpt || opts.decoder_ckpt)) {
        err_t why = *e;
        err_set(e, "%s (with %s%s%s)", why.msg, opts.encoder_ckpt ? opts.encoder_ckpt : "",
                opts.encoder_ckpt && opts.decoder_ckpt ? ", " : "", opts.decoder_ckpt ? opts.decoder_ckpt : "");
    } else if (rc != 0) {
        *code = 2;
    }
    if (rc == 0) {
        memmodel_build(m, &c);
        rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
        memmodel_init_weights(m, &init);
        if (opts.encoder_ckpt)
            params_copy(&m->enc.ps, &enc_ck.ps, 0);
        if (opts.decoder_ckpt)
            params_copy(&m->dec.ps, &dec_ck.ps, 0);
        memmodel_broadcast(m);
        memmodel_place(m, pl->device, pl->bf16);   /* the same weights on either device */
    }
    if (opts.encoder_ckpt)
        lm_free(&enc_ck);
    if (opts.decoder_ckpt)
        lm_free(&dec_ck);
    return rc;
}

/* ---- evaluation ------------------------------------------------------------------------------------ */

typedef struct {
    int *win;   /* eval_batches * B windows of n + 1 held-out tokens */
    int nb;
} eval_set;

typedef struct {
    double copy_acc, blank_acc, causal_ce;
} copy_metrics;

static copy_metrics evaluate(memmodel *m, const eval_set *es, int B, int n, int pad)
{
    int *ids = xmalloc((size_t)B * n * sizeof *ids), *tg = xmalloc((size_t)B * n * sizeof *tg);
    probe_score sc[3] = {{0}};
    tape tp;
    lm_tape_init(&tp, &m->dec);
    for (int i = 0; i < es->nb; i++)
        for (int t = 0; t < 3; t++) {
            copytask_batch((copy_task)t, es->win + (size_t)i * B * (n + 1), B, n, pad, ids, tg);
            memmodel_score(m, &tp, &(memmodel_batch){ids, tg}, B, &sc[t]);
        }
    tape_free(&tp);
    free(ids);
    free(tg);
    const int V = m->cfg.dec.vocab;
    return (copy_metrics){.copy_acc = probe_metrics_of(&sc[TASK_COPY], V).token_acc,
                          .blank_acc = probe_metrics_of(&sc[TASK_BLANK_COPY], V).token_acc,
                          .causal_ce = probe_metrics_of(&sc[TASK_CAUSAL], V).ce};
}

static const char *encoder_label(void)
{
    return full_baseline() ? "full" : opts.no_memory ? "none" : opts.encoder;
}

static void write_row(csv_writer *w, const driver *d, const memmodel *m, int obj, long long step,
                      const copy_metrics *x, double tps)
{
    char stages[256];   /* the curriculum's stages joined by '+': one plain CSV field */
    snprintf(stages, sizeof stages, "%s", opts.curriculum ? opts.curriculum : "none");
    for (char *c = stages; (c = strchr(c, ',')) != NULL;)
        *c = '+';
    csv_row(w, cell_str(d->spec->command), cell_str(encoder_label()), cell_str(copytask_objective_name(obj)),
            cell_str(stages), cell_str(opts.no_memory || full_baseline() ? "none" : lm_arch_name(m->cfg.enc.arch)),
            cell_str(lm_arch_name(m->cfg.dec.arch)), cell_int(m->cfg.chunks), cell_int(m->cfg.chunk_len),
            cell_int(step), cell_num(x->copy_acc), cell_num(x->blank_acc), cell_num(x->causal_ce), cell_num(tps));
}

/* ---- training ------------------------------------------------------------------------------------ */

/* The decoder's training run over every stage: what the step function and the evaluation share. */
typedef struct {
    driver *d;
    const copy_plan *pl;
    const token_corpus *bd;
    memmodel *m;
    const stage *st;      /* the stage in progress */
    long long offset;     /* its first step: steps count on across stages, the schedule per stage */
    lm_optim opt;
    int B, n, pad;
    eval_set es;
    int *win, *ids, *tg;
    tape tp;
    long long tokens;     /* over every stage so far, for the tokens_per_s column */
    double seconds;       /* spent in the steps (not in evaluation) */
} copy_run;

static double copy_step(void *ctx, long long step, long long *tokens)
{
    copy_run *c = ctx;
    const int B = c->B, n = c->n;
    const double t0 = progress_now();
    rng r = rng_stream((uint64_t)c->d->opt.seed, STREAM_STEP + (uint64_t)step);
    rng drop = rng_stream((uint64_t)c->d->opt.seed, dist_stream(STREAM_DROPOUT + (uint64_t)step));
    windows(&c->bd->train, &r, B, n, c->win);
    int first;   /* data-parallel ranks: the whole batch drawn, this rank's rows trained on */
    const int rows = dist_rows(B, &first);
    const int nb = copytask_objective_batches(c->st->objective, c->pl->task, c->win + (size_t)first * (n + 1), rows, n,
                                              c->pad, c->ids, c->tg);
    const memmodel_batch bt[2] = {{c->ids, c->tg}, {c->ids + (size_t)rows * n, c->tg + (size_t)rows * n}};
    double loss = memmodel_train_step(c->m, &c->tp, bt, nb, rows, &c->opt, step - c->offset, &drop);
    c->seconds += progress_now() - t0;
    c->tokens += (long long)nb * B * n;
    *tokens += (long long)nb * B * n;
    return loss;
}

static int copy_eval(void *ctx, const train_state *st)
{
    copy_run *c = ctx;
    copy_metrics x = evaluate(c->m, &c->es, c->B, c->n, c->pad);
    write_row(c->d->csv, c->d, c->m, c->st->objective, st->step, &x, c->tokens / c->seconds);
    return 0;
}

/* Every stage of the plan, evaluating every --eval-every steps and at each stage's end; the rows go to
 * the primary CSV. */
static int train(driver *d, const copy_plan *pl, const token_corpus *bd, memmodel *m, err_t *e)
{
    copy_run c = {.d = d, .pl = pl, .bd = bd, .m = m, .B = (int)opts.batch,
                  .n = m->cfg.chunks * m->cfg.chunk_len, .pad = bpe_eot(bd->tok), .es = {.nb = (int)opts.eval_batches}};
    const int B = c.B, n = c.n;
    c.es.win = xmalloc((size_t)c.es.nb * B * (n + 1) * sizeof *c.es.win);
    rng er = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_EVAL);
    windows(&bd->val, &er, c.es.nb * B, n, c.es.win);
    c.win = xmalloc((size_t)B * (n + 1) * sizeof *c.win);
    c.ids = xmalloc((size_t)2 * B * n * sizeof *c.ids);
    c.tg = xmalloc((size_t)2 * B * n * sizeof *c.tg);
    lm_tape_init(&c.tp, &m->dec);
    int rc = 0;
    for (int si = 0; si < pl->nst && rc == 0; si++) {
        c.st = &pl->st[si];
        c.opt = make_optim(c.st->steps);
        if (si > 0)
            memmodel_reset_optimizer(m);
        char label[96];
        snprintf(label, sizeof label, "%s: %s stage %d/%d", d->spec->command, copytask_objective_name(c.st->objective),
                 si + 1, pl->nst);
        train_loop loop = {.label = label, .hint = "try a lower --lr", .quiet = d->opt.quiet, .first = c.offset,
                           .end = c.offset + c.st->steps, .ctx = &c, .step = copy_step, .eval_every = opts.eval_every,
                           .eval = copy_eval};
        rc = train_loop_run(&loop, NULL, e) == TRAIN_DONE ? 0 : -1;
        c.offset += c.st->steps;
    }
    tape_free(&c.tp);
    free(c.win);
    free(c.ids);
    free(c.tg);
    free(c.es.win);
    return rc;
}

static int save_model(driver *d, const token_corpus *bd, const memmodel *m, err_t *e)
{
    if (ckpt_extra_save(d, &m->dec, bd, "decoder.safetensors", "decoder", e) != 0)
        return -1;
    if (m->cfg.no_memory || m->cfg.full)
        return 0;
    return ckpt_extra_save(d, &m->enc, bd, "encoder.safetensors", m->cfg.frozen ? "frozen-encoder" : "joint-encoder", e);
}

static int run_train(driver *d, const copy_plan *pl, const token_corpus *bd, err_t *e, int *code)
{
    memmodel m;
    if (model_make(d, pl, bd, (int)opts.chunks, full_baseline(), opts.no_memory, &m, code, e) != 0)
        return -1;
    *code = 1;
    log_info(d->opt.quiet, "%s: %s encoder, %zu decoder parameters, %zu training tokens, vocabulary %d",
             d->spec->command, encoder_label(), params_numel(&m.dec.ps), bd->train.n, bd->vocab);
    int rc = 0;
    if (frozen() && !opts.encoder_ckpt)
        rc = train_autoencoder(d, pl, bd, &m.enc, e);
    if (rc == 0)
        rc = train(d, pl, bd, &m, e);
    if (rc == 0)
        rc = save_model(d, bd, &m, e);
    memmodel_free(&m);
    return rc;
}

/* ---- cost ------------------------------------------------------------------------------------------ */

/* Training tokens per second of a model over --cost-steps causal steps (after one untimed step). */
static double measure_speed(driver *d, memmodel *m, const token_corpus *bd)
{
    const int B = (int)opts.batch, n = m->cfg.chunks * m->cfg.chunk_len;
    int *win = xmalloc((size_t)B * (n + 1) * sizeof *win), *ids = xmalloc((size_t)B * n * sizeof *ids),
        *tg = xmalloc((size_t)B * n * sizeof *tg);
    lm_optim opt = make_optim(opts.cost_steps + 1);
    tape tp;
    lm_tape_init(&tp, &m->dec);
    double t0 = 0;
    for (long long s = 0; s <= opts.cost_steps; s++) {
        if (s == 1)
            t0 = progress_now();
        rng r = rng_stream((uint64_t)d->opt.seed, STREAM_COST + (uint64_t)s);
        windows(&bd->train, &r, B, n, win);
        copytask_batch(TASK_CAUSAL, win, B, n, 0, ids, tg);
        memmodel_train_step(m, &tp, &(memmodel_batch){ids, tg}, 1, B, &opt, s, NULL);
    }
    const double tps = (double)opts.cost_steps * B * n / (progress_now() - t0);
    tape_free(&tp);
    free(win);
    free(ids);
    free(tg);
    return tps;
}

static int run_cost(driver *d, const copy_plan *pl, const token_corpus *bd, err_t *e, int *code)
{
    int rc = 0;
    for (int i = 0; i < pl->ncost && rc == 0; i++)
        for (int full = 0; full < 2 && rc == 0; full++) {
            const int C = pl->cost[i];
            memmodel m;
            if (model_make(d, pl, bd, C, full, 0, &m, code, e) != 0) {
                rc = -1;
                break;
            }
            const double tps = measure_speed(d, &m, bd), flops = memmodel_flops_per_token(&m.cfg);
            const size_t params = params_numel(&m.dec.ps) + params_numel(&m.ps) + (full ? 0 : params_numel(&m.enc.ps));
            log_info(d->opt.quiet, "%s --cost: %s, %d chunks: %.0f tokens/s, %.3g FLOPs/token", d->spec->command,
                     full ? "full context" : "memory model", C, tps, flops);
            csv_row(d->csv, cell_str(d->spec->command), cell_str(full ? "full" : "memory"), cell_int(C),
                    cell_int(opts.chunk_len), cell_int((long long)params), cell_num(tps), cell_num(flops));
            memmodel_free(&m);
        }
    return rc;
}

/* ---- the commands -------------------------------------------------------------------------------- */

static int run(driver *d, const copy_plan *pl)
{
    token_corpus bd;
    err_t e;
    if (data_load(d, pl, &bd, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    /* the table's header once the data passed their checks */
    if (driver_open_csv(d, opts.cost ? &cost_table : &copy_table) != 0) {
        token_corpus_free(&bd);
        return 1;
    }
    int code = 1;
    int rc = opts.cost ? run_cost(d, pl, &bd, &e, &code) : run_train(d, pl, &bd, &e, &code);
    if (rc != 0)
        driver_error(d, "%s", e.msg);
    token_corpus_free(&bd);
    return rc ? code : 0;
}

static int cmd_run(const cmd_spec *spec, copy_task task, int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, spec, argc, argv, &code) != 0)
        return code;
    copy_plan pl;
    err_t e;
    if (plan_make(&pl, task, &e) != 0)
        return driver_usage_error(&d, "%s", e.msg);
    const schedule_opts sch = {.steps_name = "--steps", .steps = opts.steps, .warmup_name = "--warmup",
                               .warmup = opts.warmup};
    if (schedule_opts_check(&sch, &e) != 0)
        return driver_usage_error(&d, "%s", e.msg);
    if ((code = driver_check_batch(&d, opts.batch)) != 0) {
        driver_end(&d, 0);
        return code;
    }
    if ((code = device_opts_open(&opts.dev, &pl.device, &pl.bf16, &e)) != 0 ||
        (code = dist_open_device(pl.device, &e) != 0)) {   /* GPU ranks: NCCL (docs/distributed.md) */
        driver_error(&d, "%s", e.msg);
        driver_end(&d, 0);
        return code;
    }
    if (opts.encoder_ckpt && check_encoder_ckpt(&e) != 0) {
        driver_error(&d, "%s", e.msg);
        driver_end(&d, 0);
        return 1;
    }
    int rc = run(&d, &pl);
    int end = driver_end(&d, rc == 0);
    return rc ? rc : end;
}

int cmd_copy(int argc, char **argv) { return cmd_run(&copy_spec, TASK_COPY, argc, argv); }
int cmd_blank_copy(int argc, char **argv) { return cmd_run(&blank_spec, TASK_BLANK_COPY, argc, argv); }

const command copy_command = {&copy_spec, NULL, cmd_copy, 1};

const command blank_copy_command = {&blank_spec, NULL, cmd_blank_copy, 1};
