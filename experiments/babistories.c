/* memlab babistories: language modelling on children's stories, a GPT against a memory mosaic of
 * the same shape (Memory Mosaics §5, Fig 9, Table 1).
 *
 * Actions: `train` (the default) trains --arch gpt and/or mosaic on the same data in the same order
 * and writes their learning curves; `generate` continues a prompt from a checkpoint; `score` writes
 * the per-token loss of a text under a checkpoint. Data: a real corpus from --data, or memlab's own
 * story generator (lib/data/stories.c); tokenizer: a BPE trained on the training stories (default),
 * GPT-2's, or a saved one.
 *
 * Determinism and exact resume: the training windows of step s and the dropout masks of step s are
 * drawn from RNG streams numbered by s, so a run resumed at step s sees exactly what the
 * uninterrupted run saw. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "babistories_analyses.h"
#include "data/token_corpus.h"
#include "commands.h"
#include "corpus_opts.h"
#include "core/dist.h"
#include "driver.h"
#include "io/gzfile.h"
#include "io/progress.h"
#include "io/utf8.h"
#include "lm_opts.h"
#include "nn/lm_ckpt.h"
#include "nn/sampler.h"
#include "nn/lm_train.h"
#include "nn/train_loop.h"

/* Text far from children's stories that every Debian machine has and nobody here wrote. */
#define OOD_DEFAULT_TEXT "/usr/share/common-licenses/GPL-3"

typedef struct {
    corpus_opts corpus;
    char *resume, *ckpt, *prompt, *text;
    long long steps, batch, warmup, eval_every, eval_batches;
    long long ckpt_every, stop_at, dump_corpus, top_k, max_tokens, ctx_mult, windows, stride;
    char *prompts, *format;
    double lr, lr_end, wd, clip, temperature;
    device_opts dev;
} babistories_opts;


static babistories_opts opts;
static lm_opts model_opts;

static const opt_spec babistories_options[] = {
    LM_OPTION_ROWS(model_opts, "both", "gpt|mosaic|both", "model: gpt (nanoGPT transformer), mosaic (memory mosaic) or both, trained in turn on the same windows", "1", "128", "4", "256", "0.05"),
    CORPUS_OPTION_ROWS(opts.corpus, "train (a BPE of --vocab-size learned on the training stories), gpt2 (with --vocab-dir), or a tokenizer .json saved by memlab tokenize", "2048", "tokens of a trained BPE (256 bytes + merges + <|endoftext|>)"),
    {"steps", 0, OPT_INT, &opts.steps, "3000", "training steps (batches)", NULL, 1, 1e9, "N"},
    {"batch", 0, OPT_INT, &opts.batch, "16", "windows of --ctx + 1 tokens per step", NULL, 1, 1e6, "B"},
    {"lr", 0, OPT_DOUBLE, &opts.lr, "5e-3", "peak learning rate (AdamW 0.9, 0.95; the paper's 5e-3)", NULL, 1e-12, 10, "LR"},
    {"lr-end", 0, OPT_DOUBLE, &opts.lr_end, "1e-4", "learning rate at the last step (cosine)", NULL, 0, 10, "LR"},
    {"warmup", 0, OPT_INT, &opts.warmup, "100", "linear warm-up steps", NULL, 0, 1e9, "N"},
    LM_DECAY_CLIP_ROWS(opts),
    {"eval-every", 0, OPT_INT, &opts.eval_every, "250", "evaluate train and validation loss every N steps (and at the last)", NULL, 1, 1e9, "N"},
    {"eval-batches", 0, OPT_INT, &opts.eval_batches, "8", "batches of fixed windows per loss evaluation", NULL, 1, 1e6, "N"},
    {"ckpt-every", 0, OPT_INT, &opts.ckpt_every, "500", "write the checkpoint every N steps (and at the end)", NULL, 1, 1e9, "N"},
    {"stop-at", 0, OPT_INT, &opts.stop_at, "0", "write the checkpoint and stop after step N, to continue later with --resume (0: run to --steps)", NULL, 0, 1e9, "N"},
    {"resume", 0, OPT_STRING, &opts.resume, NULL, "continue the run that wrote this checkpoint (its architecture only) from its step, with its options (only --steps, --arch, --eval-every, --ckpt-every, --device, --dtype, --vocab-dir, --stop-at, --threads, -o and --out-dir may be given otherwise; --out-dir defaults to the checkpoint's folder, whose curves.csv it continues)", NULL, 0, -1, "CKPT"},
    {"dump-corpus", 0, OPT_INT, &opts.dump_corpus, "0", "print N generated stories (TinyStories format) and exit", NULL, 0, 1e9, "N"},
    {"ckpt", 0, OPT_STRING, &opts.ckpt, NULL, "generate/score: the checkpoint; ood/attention: a comma list of them; compare: two, A,B", NULL, 0, -1, "CKPT"},
    {"prompt", 0, OPT_STRING, &opts.prompt, "Once upon a time", "generate: the text to continue", NULL, 0, -1, "TEXT"},
    {"text", 0, OPT_STRING, &opts.text, NULL, "score: the text file; ood: the text (default " OOD_DEFAULT_TEXT ")", NULL, 0, -1, "FILE"},
    {"temperature", 0, OPT_DOUBLE, &opts.temperature, "0.8", "generate: sampling temperature (0: greedy)", NULL, 0, 100, "T"},
    {"top-k", 0, OPT_INT, &opts.top_k, "40", "generate: sample among the k most likely tokens (0: all)", NULL, 0, 1 << 24, "K"},
    {"max-tokens", 0, OPT_INT, &opts.max_tokens, "200", "generate/compare: tokens to add", NULL, 1, 1e7, "N"},
    {"stride", 0, OPT_INT, &opts.stride, "4", "ood: a window starts every N tokens (position p then averages the text's tokens p mod N: small N averages out how hard the text is at any one offset)", NULL, 1, 1e9, "N"},
    {"ctx-mult", 0, OPT_INT, &opts.ctx_mult, "1", "attention: read windows of this many times the training context (gpt with learned positions: 1 only)", NULL, 1, 64, "M"},
    {"windows", 0, OPT_INT, &opts.windows, "64", "attention: validation windows averaged over", NULL, 1, 1e7, "N"},
    {"prompts", 0, OPT_STRING, &opts.prompts, NULL, "compare: a file of prompts, one per line (default: memlab's 24 prompts)", NULL, 0, -1, "FILE"},
    {"format", 0, OPT_STRING, &opts.format, "markdown", "compare: markdown (a side-by-side table) or csv", "markdown|csv", 0, -1, "F"},
    DEVICE_OPTION_ROWS(opts.dev),
};

static const char *const smoke_kv[] = {"stories", "300", "val-stories", "20", "vocab-size", "300", "d", "32",
                                       "heads", "2", "ctx", "64", "batch", "4", "steps", "20", "eval-every", "10",
                                       "eval-batches", "2", "ckpt-every", "10", "warmup", "5", NULL};
static const char *const paper_kv[] = {"tokenizer", "gpt2", "d", "768", "heads", "12", "layers", "12", "ctx", "512",
                                       "batch", "512", "lr", "5e-3", "lr-end", "1e-4", "warmup", "2000",
                                       "steps", "80000", "dropout", "0.05", "eval-every", "1000",
                                       "ckpt-every", "1000", NULL};
/* The paper's GPT-2-small shape for one GPU and about 8 minutes an architecture on an H100 (issue
 * 19; docs/babistories.md): memlab's own BPE (the generated stories hold about 4,100 tokens' worth
 * of merges) instead of GPT-2's files, batch 32 of 512 tokens, 2500 steps = 41M tokens of 300,000
 * generated stories (about one pass). */
static const char *const gpu_kv[] = {"d", "768", "heads", "12", "layers", "12", "ctx", "512", "batch", "32",
                                     "stories", "300000", "vocab-size", "4096", "lr", "1e-3", "lr-end", "1e-4",
                                     "warmup", "200", "steps", "2500", "dropout", "0", "eval-every", "250",
                                     "ckpt-every", "500", NULL};
static const preset_def babistories_presets[] = {
    {"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}, {"gpu", gpu_kv}};

/* train writes a run folder (--resume continues one), attention an analysis folder of its own; the
 * other actions and --dump-corpus write only the table (docs/outputs.md). */
static int babistories_out_dir_use(const common_opts *c)
{
    const char *action = c->npositional ? c->positional[0] : "train";
    if (opts.dump_corpus > 0)
        return OUT_DIR_NONE;
    if (!strcmp(action, "train"))
        return opts.resume ? OUT_DIR_CONTINUE : OUT_DIR_NEW;
    return !strcmp(action, "attention") ? OUT_DIR_ANALYSIS : OUT_DIR_NONE;
}

static const cmd_spec babistories_spec = {
    .command = "babistories",
    .summary = "GPT vs memory mosaic language models on children's stories (Memory Mosaics Fig 9)",
    .usage = "memlab babistories [train|generate|score|ood|attention|compare] [options]",
    .description =
        "train (default): trains --arch gpt and mosaic (both by default: same shape, same data, same\n"
        "order) with AdamW (0.9, 0.95), warm-up + cosine, clipping; evaluates train and validation loss\n"
        "on fixed windows every --eval-every steps. Primary CSV:\n"
        "  arch,layers,d,heads,params,step,tokens,lr,train_loss,val_loss\n"
        "--out-dir gets tokenizer.json (a trained BPE), babistories_<arch>.safetensors (weights, AdamW\n"
        "moments, step; Ctrl-C writes it before exiting) and curves.csv (the same table; `make figures`\n"
        "then draws it as babistories.png).\n"
        "generate: --ckpt FILE --prompt TEXT writes the prompt and its continuation on stdout.\n"
        "score: --ckpt FILE --text FILE writes position,token,loss (CSV) for every token after the\n"
        "first of each window of the model's context.\n"
        "ood: --ckpt A,B,... [--text FILE] writes arch,checkpoint,position,mean_loss,n: the loss at each\n"
        "position of windows of the model's context (one every --stride tokens), averaged over a text\n"
        "from another distribution (default " OOD_DEFAULT_TEXT ", Memory Mosaics Fig 10); the log\n"
        "names the position from which each curve stays within 1% of its final value.\n"
        "attention: --ckpt A,B,... [--ctx-mult M] writes arch,pos,layer,head,offset,weight,ctx,\n"
        "positions,checkpoint: the attention of a window's last position on every earlier position pos\n"
        "(offset = last - pos), averaged over --windows validation windows of M x the training context\n"
        "(Figs 12, 13; the validation stories come from the same --data or generator options as\n"
        "training). --out-dir (a folder of its own: config-attention.yaml, run-attention.log) gets\n"
        "attention_heads.csv: per head the leaky-average coefficient (mosaic),\n"
        "the width of the recent-token peak (Fig 15) and the mass on position 0 and on the last 8.\n"
        "compare: --ckpt A,B [--prompts FILE] continues the same prompts with both models, side by side\n"
        "(Tables 1, 5) as Markdown (--format csv: prompt_id,prompt,arch,checkpoint,continuation).",
    .opts = babistories_options,
    .nopts = sizeof babistories_options / sizeof babistories_options[0],
    .presets = babistories_presets,
    .npresets = sizeof babistories_presets / sizeof babistories_presets[0],
    .max_positional = 1,
    /* --resume takes every option from the checkpoint (docs/babistories.md, "Resuming") */
    .resume_option = "resume",
    .resume_config = lm_ckpt_run_config,
    .resume_may_change = "steps|arch|eval-every|ckpt-every|device|dtype|vocab-dir",
    .resume_fresh = "resume|stop-at|dump-corpus|ckpt|prompt|text|temperature|top-k|max-tokens|stride|ctx-mult|"
                    "windows|prompts|format",
    .out_dir_use = babistories_out_dir_use,
    .default_action = "train",
};

/* ---- per-step random streams ------------------------------------------------------------------- */

#define STREAM_STEP_DATA (1ULL << 40)
#define STREAM_STEP_DROPOUT (2ULL << 40)

/* Window starts for step s: batch rows drawn uniformly over the training stream. */
static void step_windows(const token_corpus *bd, long long seed, long long step, int B, int T, int *ids, int *tg)
{
    rng r = rng_stream((uint64_t)seed, STREAM_STEP_DATA + (uint64_t)step);
    token_stream_windows(&bd->train, &r, B, T, ids, tg);
}

/* --device and --dtype, opened: 0, or the exit code (the one-line message printed). Every action
 * asks before it writes anything, and again where it places a model (opening twice is cheap). */
static int babistories_device(driver *d, device_kind *dev, int *bf16)
{
    err_t e;
    int rc = device_opts_open(&opts.dev, dev, bf16, &e);
    if (rc)
        driver_error(d, "%s", e.msg);
    return rc;
}

/* ---- training ----------------------------------------------------------------------------------- */

typedef struct {
    int *ids, *tg;   /* eval_batches * B * T */
} eval_set;

static void eval_set_make(eval_set *es, const token_stream *toks, long long seed, uint64_t stream, int nb, int B, int T)
{
    es->ids = xmalloc((size_t)nb * B * T * sizeof(int));
    es->tg = xmalloc((size_t)nb * B * T * sizeof(int));
    rng r = rng_stream((uint64_t)seed, stream);
    for (int i = 0; i < nb; i++)
        token_stream_windows(toks, &r, B, T, es->ids + (size_t)i * B * T, es->tg + (size_t)i * B * T);
}

static double eval_loss(lm *m, tape *tp, const eval_set *es, int nb, int B, int T)
{
    double sum = 0;
    long long n = 0;
    for (int i = 0; i < nb; i++)
        sum += lm_eval_sum(m, tp, es->ids + (size_t)i * B * T, es->tg + (size_t)i * B * T, B, T, -1, &n);
    return n ? sum / n : NAN;
}

static int save_ckpt(driver *d, lm *m, const token_corpus *bd, long long step, const char *path)
{
    char stepbuf[32], seedbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%lld", step);
    snprintf(seedbuf, sizeof seedbuf, "%lld", d->opt.seed);
    char *config = driver_config_text(d);
    const char *extra[] = {"experiment", "babistories", "step", stepbuf, "seed", seedbuf, "config", config,
                           TOKEN_CORPUS_CKPT_META(bd), NULL};
    err_t e;
    int rc = lm_ckpt_save(path, m, extra, 1, &e);
    free(config);
    if (rc != 0)
        driver_error(d, "%s", e.msg);
    return rc;
}

/* One architecture's training run: what the step function and the hooks share. */
typedef struct {
    driver *d;
    const token_corpus *bd;
    lm *m;
    lm_optim opt;
    tape tp;
    int B, T, nb;
    int *ids, *tg;   /* one step's windows [B * T] */
    const eval_set *ev_train, *ev_val;
    char path[4096];   /* the checkpoint */
} babistories_run;

/* Data-parallel ranks (core/dist.h) draw the whole batch and each trains on its own rows; their
 * dropout streams differ by rank (rank 0's is the single process's), so that with dropout N ranks
 * follow the single-process run in distribution, and without it within float tolerance. */
static double babistories_step(void *ctx, long long s, long long *tokens)
{
    babistories_run *r = ctx;
    step_windows(r->bd, r->d->opt.seed, s, r->B, r->T, r->ids, r->tg);
    int first;
    const int rows = dist_rows(r->B, &first);
    const size_t at = (size_t)first * r->T;
    rng drop = rng_stream((uint64_t)r->d->opt.seed, dist_stream(STREAM_STEP_DROPOUT + (uint64_t)s));
    *tokens += (long long)r->B * r->T;
    return lm_train_step(r->m, &r->tp, r->ids + at, r->tg + at, rows, r->T, -1, &r->opt, s, &drop, NULL);
}

/* Train and validation loss on the fixed windows: one row in the primary CSV (and so in curves.csv). */
static int babistories_eval(void *ctx, const train_state *st)
{
    babistories_run *r = ctx;
    const lm *m = r->m;
    double tl = eval_loss(r->m, &r->tp, r->ev_train, r->nb, r->B, r->T);
    double vl = eval_loss(r->m, &r->tp, r->ev_val, r->nb, r->B, r->T);
    csv_row(r->d->csv, cell_str(lm_arch_name(m->cfg.arch)), cell_int(m->cfg.layers), cell_int(m->cfg.d),
            cell_int(m->cfg.heads), cell_int((long long)params_numel(&m->ps)), cell_int(st->step),
            cell_int(st->step * (long long)r->B * r->T), cell_num(schedule_lr(&r->opt.sched, st->step - 1)),
            cell_num(tl), cell_num(vl));
    return 0;
}

static int babistories_ckpt(void *ctx, const train_state *st)
{
    babistories_run *r = ctx;
    return save_ckpt(r->d, r->m, r->bd, st->step, r->path);
}

/* What a training run trains: fresh models of the options' shapes, or the resumed checkpoint's. */
typedef struct {
    int narch;
    lm_config cfgs[2];
    lm resumed;         /* --resume: the model, trained on from step `start` */
    long long start;
    device_kind device; /* --device, --dtype: where the models train */
    int bf16;
} babistories_plan;

/* Trains one architecture from the plan's step `start` (0, or a resumed checkpoint's step) on its
 * device. */
static int train_arch(driver *d, token_corpus *bd, lm *m, const babistories_plan *pl, const eval_set *ev_train,
                      const eval_set *ev_val)
{
    const char *arch = lm_arch_name(m->cfg.arch);
    babistories_run r = {.d = d, .bd = bd, .m = m, .B = (int)opts.batch, .T = m->cfg.ctx, .nb = (int)opts.eval_batches,
                         .ev_train = ev_train, .ev_val = ev_val};
    r.opt = lm_optim_cosine(opts.lr, opts.lr_end, opts.warmup, opts.steps, opts.wd, opts.clip);
    char name[64], label[64];
    snprintf(name, sizeof name, "babistories_%s.safetensors", arch);
    driver_out_path(d, name, r.path, sizeof r.path);
    snprintf(label, sizeof label, "babistories %s", arch);
    r.ids = xmalloc((size_t)r.B * r.T * sizeof *r.ids);
    r.tg = xmalloc((size_t)r.B * r.T * sizeof *r.tg);
    lm_tape_init(&r.tp, m);   /* on the device lm_place put the model on */
    train_loop loop = {.label = label, .hint = "try a lower --lr", .quiet = d->opt.quiet, .first = pl->start,
                       .end = opts.steps, .ctx = &r, .step = babistories_step, .eval_every = opts.eval_every,
                       .eval = babistories_eval, .ckpt_every = opts.ckpt_every, .ckpt = babistories_ckpt,
                       .stop_at = opts.stop_at};
    train_state st;
    err_t e;
    train_end end = train_loop_run(&loop, &st, &e);
    if (end == TRAIN_DIVERGED)
        driver_error(d, "%s", e.msg);
    else if (end == TRAIN_STOPPED)
        log_info(d->opt.quiet, "babistories: stopped after step %lld (--stop-at); continue with --resume %s", st.step,
                 r.path);
    else if (end == TRAIN_INTERRUPTED)
        log_info(d->opt.quiet, "babistories: interrupted at step %lld; checkpoint %s (continue with --resume)",
                 st.step, r.path);
    tape_free(&r.tp);
    free(r.ids);
    free(r.tg);
    return end == TRAIN_DONE || end == TRAIN_STOPPED ? 0 : -1;
}


/* The corpus, tokenised, with room for at least one window of each split; 0 or 1 (message printed). */
static int train_data_load(driver *d, token_corpus *bd)
{
    err_t e;
    char tok_path[4096] = "";
    token_corpus_opts co = corpus_opts_for(&opts.corpus, d);
    co.window = (size_t)model_opts.ctx;
    /* --resume: the checkpoint's own tokenizer (hash-checked), not a new one, saved in --out-dir once
     * the data passed their checks (so is a fresh run's) */
    if (opts.resume)
        driver_out_path(d, "tokenizer.json", tok_path, sizeof tok_path);
    if (token_corpus_load_for_ckpt(bd, &co, opts.resume, tok_path, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    return 0;
}

/* The options' model config for one architecture (--arch may say both); 0 or -1 with e set. */
static int config_for(lm_arch arch, int vocab, lm_config *c, err_t *e)
{
    char *saved = model_opts.arch;
    model_opts.arch = (char *)lm_arch_name(arch);
    int bad = lm_opts_config(&model_opts, vocab, c, e);
    model_opts.arch = saved;
    return bad;
}

/* --resume: the checkpoint's model and step, which the run's options must describe (--arch unless
 * both, the shape, the vocabulary and the context). 0, or the exit code (message printed). */
static int plan_resume(driver *d, const token_corpus *bd, babistories_plan *pl)
{
    err_t e;
    if (lm_ckpt_open(opts.resume, &pl->resumed, 1, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    ckpt_meta *md = ckpt_meta_read(opts.resume, &e);
    const char *st = md ? ckpt_meta_get(md, "step") : NULL;
    pl->start = st ? atoll(st) : -1;
    ckpt_meta_free(md);
    const lm_config *have = &pl->resumed.cfg;
    lm_config want;
    int bad = strcmp(model_opts.arch, "both") == 0 ? config_for(have->arch, bd->vocab, &want, &e)
                                           : lm_opts_config(&model_opts, bd->vocab, &want, &e);
    const char *why = bad ? e.msg
                      : pl->start < 0 ? "it records no step"
                      : want.arch != have->arch ? "it holds another architecture than --arch"
                      : !lm_config_same_stack(&want, have) || want.heads != have->heads ||
                                want.pmem != have->pmem || want.bias != have->bias || want.pos != have->pos
                          ? "its shape differs from --layers/--d/--heads/--pmem/--bias/--pos"
                      : !lm_config_same_variant(&want, have) ? "it was trained with another --gelu / --mosaic-variant"
                      : want.vocab != have->vocab ? "its vocabulary differs from the tokenizer's"
                      : want.ctx != have->ctx ? "its context differs from --ctx" : NULL;
    if (why) {
        driver_error(d, "--resume %s: %s", opts.resume, why);
        lm_free(&pl->resumed);
        return bad ? 2 : 1;
    }
    if (opts.steps <= pl->start || (opts.stop_at > 0 && opts.stop_at <= pl->start)) {
        driver_error(d, "--resume %s: the checkpoint is at step %lld: --%s %lld must be above it (--steps counts "
                        "from the start of the run)",
                     opts.resume, pl->start, opts.steps <= pl->start ? "steps" : "stop-at",
                     opts.steps <= pl->start ? opts.steps : opts.stop_at);
        lm_free(&pl->resumed);
        return 2;
    }
    pl->narch = 1;
    return 0;
}

/* Every model's options, checked before any output; 0, or the exit code (message printed). */
static int plan_make(driver *d, const token_corpus *bd, babistories_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    if (opts.resume)
        return plan_resume(d, bd, pl);
    lm_arch archs[2];
    if (strcmp(model_opts.arch, "both") == 0) {
        /* the paper's comparison: every architecture with attention (gpt, mosaic) */
        for (int a = 0; a < lm_arch_count(); a++)
            if (lm_arch_table((lm_arch)a)->attends && pl->narch < (int)(sizeof archs / sizeof archs[0]))
                archs[pl->narch++] = (lm_arch)a;
    } else {
        lm_arch_parse(model_opts.arch, &archs[pl->narch++]);
    }
    err_t e;
    for (int a = 0; a < pl->narch; a++)
        if (config_for(archs[a], bd->vocab, &pl->cfgs[a], &e) != 0) {
            driver_error(d, "%s", e.msg);
            return 2;
        }
    return 0;
}

/* Trains every model of the plan in turn on the same windows; 0 or -1. */
static int train_all(driver *d, token_corpus *bd, babistories_plan *pl)
{
    const int B = (int)opts.batch, T = (int)model_opts.ctx, nb = (int)opts.eval_batches;
    eval_set ev_train, ev_val;
    eval_set_make(&ev_train, &bd->train, d->opt.seed, RNG_STREAM_EVAL, nb, B, T);
    eval_set_make(&ev_val, &bd->val, d->opt.seed, RNG_STREAM_EVAL + 1000, nb, B, T);
    int rc = 0;
    for (int a = 0; a < pl->narch; a++) {
        lm m;
        if (opts.resume) {
            m = pl->resumed;
        } else {
            lm_build(&m, &pl->cfgs[a]);
            rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
            lm_init_weights(&m, &init);
        }
        dist_broadcast_real(m.ps.data, m.ps.total);   /* data-parallel ranks start from rank 0's weights */
        lm_place(&m, pl->device, pl->bf16);   /* initialised (or loaded) on the host: the same weights on either device */
        log_info(d->opt.quiet, "babistories: %s, %zu parameters, %zu training tokens, vocabulary %d",
                 lm_arch_name(m.cfg.arch), params_numel(&m.ps), bd->train.n, bd->vocab);
        if (train_arch(d, bd, &m, pl, &ev_train, &ev_val) != 0)
            rc = -1;
        lm_free(&m);
        if (rc)
            break;
    }
    free(ev_train.ids);
    free(ev_train.tg);
    free(ev_val.ids);
    free(ev_val.tg);
    return rc;
}

/* The rows of an earlier curves.csv that a run resumed at `start` keeps: all but those of its
 * architecture after its checkpoint (evaluations after the last checkpoint, which it repeats).
 * header: the expected first line. NULL with e set when the file's header differs. */
static char *curves_kept(const char *text, const char *header, const char *arch, long long start, const char *path,
                         err_t *e)
{
    size_t hlen = strlen(header);
    if (strncmp(text, header, hlen) != 0 || text[hlen] != '\n') {
        err_set(e, "%s: its header is not %s", path, header);
        return NULL;
    }
    char *kept = xmalloc(strlen(text) + 1), *at = kept;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        const char *step = line;   /* the sixth field */
        for (int f = 0; f < 5 && step; f++) {
            step = memchr(step, ',', (size_t)(line + n - step));
            step = step ? step + 1 : NULL;
        }
        size_t alen = strlen(arch);
        int later = line != text && step && !strncmp(line, arch, alen) && line[alen] == ',' && atoll(step) > start;
        if (!later) {
            memcpy(at, line, n);
            at += n;
        }
        line += n;
    }
    *at = '\0';
    return kept;
}

/* <out-dir>/curves.csv, written as the run goes. --resume continues the run's curve: the rows of
 * curves.csv in --out-dir, else beside the checkpoint, up to the checkpoint's step. */
static csv_writer *curves_open(driver *d, const babistories_plan *pl, const table_spec *t, err_t *e)
{
    const char *const *cols = t->columns;
    const int ncols = t->ncols;
    char path[4096], src[4096];
    driver_out_path(d, "curves.csv", path, sizeof path);
    if (!opts.resume)
        return csv_open_live(path, cols, ncols, 0, e);
    snprintf(src, sizeof src, "%s", path);
    if (access(src, R_OK) != 0) {
        const char *slash = strrchr(opts.resume, '/');
        snprintf(src, sizeof src, "%.*scurves.csv", slash ? (int)(slash - opts.resume + 1) : 0, opts.resume);
    }
    size_t len;
    char *text = access(src, R_OK) == 0 ? file_read_all(src, &len, e) : xstrdup("");
    if (!text)
        return NULL;
    char header[256] = "";
    for (int i = 0; i < ncols; i++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", i ? "," : "", cols[i]);
    char *kept = *text ? curves_kept(text, header, lm_arch_name(pl->resumed.cfg.arch), pl->start, src, e) : xstrdup("");
    free(text);
    if (!kept)
        return NULL;
    FILE *f = fopen(path, "w");
    int ok = f && fputs(kept, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(kept);
    if (!ok) {
        err_set(e, "%s: cannot write", path);
        return NULL;
    }
    return csv_open_live(path, cols, ncols, 1, e);
}

/* train's options alone, before the corpus is read or a tokenizer trained and saved: the ranks, the
 * device (into *device, *bf16), the schedule and (unless --resume) the models' shapes (pl is
 * scratch). 0, or the exit code (message printed). */
static int train_check(driver *d, device_kind *device, int *bf16, babistories_plan *pl)
{
    int bad = driver_check_batch(d, opts.batch);
    if (!bad)
        bad = babistories_device(d, device, bf16);
    if (bad)
        return bad;
    err_t e;
    /* GPU ranks: NCCL joined on every rank before any work (docs/distributed.md, "GPUs") */
    if (dist_open_device(*device, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    const schedule_opts sch = {.steps_name = "--steps", .steps = opts.steps, .warmup_name = "--warmup",
                               .warmup = opts.warmup, .stop_name = "--stop-at", .stop_at = opts.stop_at,
                               .lr_name = "--lr", .lr = opts.lr, .lr_end_name = "--lr-end", .lr_end = opts.lr_end};
    if (schedule_opts_check(&sch, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 2;
    }
    if (opts.resume)
        return 0;
    /* whether a shape is valid does not depend on the vocabulary: any stands in for the corpus's */
    token_corpus shapes_only = {.vocab = 512};
    return plan_make(d, &shapes_only, pl);
}

/* The primary table (live: the curve so far stays on disk whatever ends the run, Ctrl-C or
 * --stop-at) and its copy curves.csv; the configuration written before the first step. 0 or -1. */
static int train_tables_open(driver *d, const babistories_plan *pl)
{
    static const char *const cols[] = {"arch", "layers", "d", "heads", "params", "step", "tokens", "lr", "train_loss", "val_loss"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    d->live_table = 1;
    if (driver_open_csv(d, &primary) != 0 || driver_write_config(d) != 0)
        return -1;
    err_t e;
    csv_writer *curves = curves_open(d, pl, &primary, &e);
    if (!curves) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    csv_tee(d->csv, curves);   /* closed or kept with the primary table by driver_end */
    return 0;
}

/* train: check, plan on the corpus, open the tables, train. Returns the exit code. */
static int run_train(driver *d)
{
    babistories_plan pl;
    device_kind device;
    int bf16, rc = train_check(d, &device, &bf16, &pl);
    if (rc != 0)
        return rc;
    token_corpus bd;
    if (train_data_load(d, &bd) != 0)
        return 1;
    rc = plan_make(d, &bd, &pl);
    pl.device = device;
    pl.bf16 = bf16;
    if (rc == 0 && train_tables_open(d, &pl) != 0) {
        if (opts.resume)
            lm_free(&pl.resumed);
        rc = 1;
    }
    if (rc == 0)
        rc = train_all(d, &bd, &pl) == 0 ? 0 : 1;
    token_corpus_free(&bd);
    return rc;
}

/* ---- generate and score -------------------------------------------------------------------------- */

static int open_ckpt(driver *d, const char *ckpt, lm *m, bpe **tok)
{
    err_t e;
    if (!ckpt) {
        driver_error(d, "--ckpt FILE is required");
        return 2;
    }
    device_kind dev;
    int bf16, rc = babistories_device(d, &dev, &bf16);
    if (rc)
        return rc;
    if (lm_ckpt_open(ckpt, m, 0, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    lm_place(m, dev, bf16);   /* loaded on the host: a checkpoint of either device runs on either */
    *tok = tokenizer_for_ckpt(ckpt, opts.corpus.vocab_dir, d->opt.quiet, &e);
    if (!*tok || bpe_vocab_size(*tok) != m->cfg.vocab) {
        if (*tok)
            err_set(&e, "%s: the tokenizer has %d tokens, the model %d", ckpt, bpe_vocab_size(*tok), m->cfg.vocab);
        driver_error(d, "%s", e.msg);
        lm_free(m);
        if (*tok)
            bpe_free(*tok);
        return 1;
    }
    return 0;
}

/* The continuation of prompt ids (extended in place) by up to max_tokens sampled tokens, stopping at
 * <|endoftext|>; returns the new text (malloc'd) or NULL with e set. Cached while prompt and
 * continuation fit in the training context, a sliding window beyond (nn/sampler.h). */
static char *continue_ids(lm *m, bpe *tok, bpe_ids *ids, long long max_tokens, rng *r, err_t *e)
{
    const size_t first_new = ids->n, total = ids->n + (size_t)max_tokens;
    if (ids->cap < total) {
        ids->cap = total;
        ids->ids = xrealloc(ids->ids, ids->cap * sizeof *ids->ids);
    }
    sampler s;
    sampler_init(&s, m, &(sample_cfg){.temperature = opts.temperature, .top_k = opts.top_k},
                 total > INT_MAX ? INT_MAX : (int)total, SAMPLE_AUTO);
    ids->n = (size_t)sampler_extend(&s, ids->ids, (int)ids->n, (int)max_tokens, bpe_eot(tok), r);
    sampler_free(&s);
    size_t len;
    return bpe_decode(tok, ids->ids + first_new, ids->n - first_new, &len, e);
}

/* The prompt's tokens; -1 (message printed) when it has none. */
static int encode_prompt(driver *d, bpe *tok, const char *prompt, bpe_ids *ids)
{
    ids->n = 0;
    bpe_encode(tok, prompt, strlen(prompt), ids);
    if (ids->n == 0) {
        driver_error(d, "the prompt '%s' has no tokens", prompt);
        return -1;
    }
    return 0;
}

static int run_generate(driver *d)
{
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, opts.ckpt, &m, &tok);
    if (rc)
        return rc;
    bpe_ids ids = {0};
    char *text = NULL;
    if (encode_prompt(d, tok, opts.prompt, &ids) != 0) {
        rc = 2;
    } else {
        rng r = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_SAMPLE);
        err_t e;
        text = continue_ids(&m, tok, &ids, opts.max_tokens, &r, &e);
        if (text) {
            printf("%s%s\n", opts.prompt, text);
            fflush(stdout);
            free(text);
        } else {
            driver_error(d, "%s", e.msg);
            rc = 1;
        }
    }
    free(ids.ids);
    lm_free(&m);
    bpe_free(tok);
    return rc;
}

/* The tokens of a text file (with <|endoftext|> as the special token); 0 or -1 (message printed). */
static int encode_file(driver *d, bpe *tok, const char *path, bpe_ids *ids)
{
    err_t e;
    size_t len;
    char *text = file_read_all(path, &len, &e);
    if (!text) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    bpe_encode(tok, text, len, ids);
    free(text);
    return 0;
}

static int run_score(driver *d)
{
    if (!opts.text) {
        driver_error(d, "--text FILE is required");
        return 2;
    }
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, opts.ckpt, &m, &tok);
    if (rc)
        return rc;
    bpe_ids ids = {0};
    if (encode_file(d, tok, opts.text, &ids) != 0) {
        lm_free(&m);
        bpe_free(tok);
        return 1;
    }
    static const char *const cols[] = {"position", "token", "loss"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(d, &primary) != 0) {
        rc = 1;
    } else {
        const int V = m.cfg.vocab, T = m.cfg.ctx;
        double *p = xmalloc((size_t)T * V * sizeof *p);
        tape tp;
        lm_tape_init(&tp, &m);
        /* Windows of T + 1 tokens overlapping by one, so that every token after the first is scored
         * exactly once, each with the context of its own window. */
        for (size_t at = 0; at + 1 < ids.n; at += (size_t)T) {
            int n = (int)((ids.n - at - 1) < (size_t)T ? ids.n - at - 1 : (size_t)T);
            lm_next_probs(&m, &tp, ids.ids + at, 1, n, p);
            for (int t = 0; t < n; t++) {
                int next = ids.ids[at + t + 1];
                csv_row(d->csv, cell_int((long long)(at + t + 1)), cell_int(next),
                        cell_num(-log(fmax(p[(size_t)t * V + next], 1e-300))));
            }
        }
        tape_free(&tp);
        free(p);
    }
    free(ids.ids);
    lm_free(&m);
    bpe_free(tok);
    return rc;
}

/* ---- ood: per-position loss on text from another distribution (Memory Mosaics Fig 10) ----------- */

/* ood's rows for one checkpoint: the mean loss at each position over windows of its context. */
static void ood_rows(driver *d, const char *ckpt, lm *m, const bpe_ids *ids, const char *path)
{
    const int T = m->cfg.ctx;
    double *mean = xmalloc((size_t)T * sizeof *mean);
    const int stride = (int)opts.stride;
    size_t nwin = babistories_position_loss(m, ids->ids, ids->n, T, stride, mean);
    for (int t = 0; t < T; t++)
        csv_row(d->csv, cell_str(lm_arch_name(m->cfg.arch)), cell_str(ckpt), cell_int(t), cell_num(mean[t]),
                cell_int((long long)nwin));
    double final;
    /* Smoothed over the multiple of the stride nearest above 8 positions. */
    int settle = babistories_settle_position(mean, T, 0.01, stride * ((8 + stride - 1) / stride), &final);
    log_info(d->opt.quiet, "babistories ood: %s (%s): %zu windows of %d tokens (one every %d) from %s; loss %.4g at position 0, "
                           "final %.4g; within 1%% of it (smoothed) from position %d on",
             ckpt, lm_arch_name(m->cfg.arch), nwin, T, stride, path, mean[0], final, settle);
    free(mean);
}

/* Runs one(d, checkpoint, ctx) for each of the comma list --ckpt; stops at the first failure. */
static int for_each_ckpt(driver *d, int (*one)(driver *d, const char *ckpt, void *ctx), void *ctx)
{
    char *list = xstrdup(opts.ckpt), *save = NULL;
    int rc = 0;
    for (char *c = strtok_r(list, ",", &save); c && rc == 0; c = strtok_r(NULL, ",", &save))
        rc = one(d, c, ctx);
    free(list);
    return rc;
}

/* One checkpoint of ood: it opens with its tokenizer and the text holds a window of its context;
 * with `rows` not NULL its rows are written too. run_ood checks every checkpoint first (nothing
 * written), then writes. 0, or the exit code (message printed). */
static int ood_one(driver *d, const char *ckpt, void *rows)
{
    const char *path = opts.text ? opts.text : OOD_DEFAULT_TEXT;
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, ckpt, &m, &tok);
    if (rc)
        return rc;
    bpe_ids ids = {0};
    if (encode_file(d, tok, path, &ids) != 0) {
        rc = 1;
    } else if (ids.n <= (size_t)m.cfg.ctx) {
        driver_error(d, "%s: %zu tokens, fewer than one window of %d + 1", path, ids.n, m.cfg.ctx);
        rc = 1;
    } else if (rows) {
        ood_rows(d, ckpt, &m, &ids, path);
    }
    free(ids.ids);
    lm_free(&m);
    bpe_free(tok);
    return rc;
}

static int run_ood(driver *d)
{
    if (!opts.ckpt) {
        driver_error(d, "--ckpt FILE[,FILE...] is required");
        return 2;
    }
    int rc = for_each_ckpt(d, ood_one, NULL);
    if (rc)
        return rc;
    static const char *const cols[] = {"arch", "checkpoint", "position", "mean_loss", "n"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(d, &primary) != 0)
        return 1;
    static const int write_rows = 1;
    return for_each_ckpt(d, ood_one, (void *)&write_rows);
}

/* ---- attention: the last position's attention over earlier ones (Figs 12, 13, 15) --------------- */

static const char *positions_name(const lm *m) { return lm_config_pos_name(&m->cfg); }

/* heads: attention_heads.csv, one row per layer and head of every checkpoint. */
static int attention_one(driver *d, const char *ckpt, void *heads_csv)
{
    csv_writer *heads = heads_csv;
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, ckpt, &m, &tok);
    if (rc)
        return rc;
    const int T = (int)(m.cfg.ctx * opts.ctx_mult);
    err_t e;
    token_stream val;
    babistories_attention a;
    const token_corpus_opts co = corpus_opts_for(&opts.corpus, d);
    if (token_corpus_val(&co, tok, &val, &e) != 0 ||
        babistories_attention_measure(&m, val.ids, val.n, T, (int)opts.windows, &a, &e) != 0) {
        driver_error(d, "%s: %s", ckpt, e.msg);
        free(val.ids);
        lm_free(&m);
        bpe_free(tok);
        return 1;
    }
    free(val.ids);
    for (int l = 0; l < a.layers; l++)
        for (int h = 0; h < a.heads; h++)
            for (int u = 0; u < T; u++) {
                csv_row(d->csv, cell_str(lm_arch_name(m.cfg.arch)), cell_int(u), cell_int(l), cell_int(h),
                        cell_int(T - 1 - u), cell_num(a.weight[((size_t)l * a.heads + h) * T + u]), cell_int(T),
                        cell_str(positions_name(&m)), cell_str(ckpt));
            }
    for (int l = 0; l < a.layers; l++) {
        for (int h = 0; h < a.heads; h++) {
            /* the leaky coefficient is a = exp(-lambda) (NaN for gpt) */
            const double lambda = lm_head_leak(&m, l, h);
            csv_row(heads, cell_str(lm_arch_name(m.cfg.arch)), cell_str(positions_name(&m)), cell_int(T), cell_str(ckpt),
                    cell_int(l), cell_int(h), cell_num(lambda), cell_num(exp(-lambda)),
                    cell_num(babistories_attention_peak_width(&a, l, h)),
                    cell_num(babistories_attention_share(&a, l, h, 0, 1)),
                    cell_num(babistories_attention_share(&a, l, h, a.nearest - 7, a.nearest + 1)));
        }
        log_info(d->opt.quiet, "babistories attention: %s (%s, %s), layer %d, %lld windows of %d: mass on position 0 "
                               "%.3f, on the last 8 readable positions %.3f (mean over heads)",
                 ckpt, lm_arch_name(m.cfg.arch), positions_name(&m), l, a.windows, T,
                 babistories_attention_share(&a, l, -1, 0, 1),
                 babistories_attention_share(&a, l, -1, a.nearest - 7, a.nearest + 1));
    }
    babistories_attention_free(&a);
    lm_free(&m);
    bpe_free(tok);
    return 0;
}

/* attention's checks of one checkpoint, before any output: it opens with its tokenizer and reads
 * windows of --ctx-mult times its context; the validation stories are read for the first one (their
 * source does not depend on the checkpoint). 0, or the exit code (message printed). */
static int attention_check(driver *d, const char *ckpt, void *first)
{
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, ckpt, &m, &tok);
    if (rc)
        return rc;
    const int T = (int)(m.cfg.ctx * opts.ctx_mult);
    if (lm_max_len(&m) && T > lm_max_len(&m)) {
        driver_error(d, "--ctx-mult %lld: %s is a %s with learned positions for %d tokens and cannot read %d "
                        "(gpt --pos rope, alibi or none, and the mosaic, can)",
                     opts.ctx_mult, ckpt, lm_arch_name(m.cfg.arch), lm_max_len(&m), T);
        rc = 2;
    } else if (*(int *)first) {
        err_t e;
        token_stream val = {0};
        const token_corpus_opts co = corpus_opts_for(&opts.corpus, d);
        if (token_corpus_val(&co, tok, &val, &e) != 0) {
            driver_error(d, "%s: %s", ckpt, e.msg);
            rc = 1;
        }
        free(val.ids);
        *(int *)first = 0;
    }
    lm_free(&m);
    bpe_free(tok);
    return rc;
}

static int run_attention(driver *d)
{
    if (!opts.ckpt) {
        driver_error(d, "--ckpt FILE[,FILE...] is required");
        return 2;
    }
    int first = 1, rc = for_each_ckpt(d, attention_check, &first);
    if (rc)
        return rc;
    static const char *const cols[] = {"arch", "pos", "layer", "head", "offset", "weight", "ctx", "positions", "checkpoint"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(d, &primary) != 0)
        return 1;
    static const char *const head_cols[] = {"arch", "positions", "ctx", "checkpoint", "layer", "head", "leaky_rate",
                                            "leaky_coef", "peak_width", "share_pos0", "share_last8"};
    static const table_spec heads_table = TABLE_SPEC("attention_heads.csv", head_cols);
    csv_writer *heads = driver_table(d, &heads_table);
    return heads ? for_each_ckpt(d, attention_one, heads) : 1;
}

/* ---- compare: two models continue the same prompts (Tables 1, 5) -------------------------------- */

/* Written for memlab in the style of the TinyStories evaluation prompts: facts, simple reasoning
 * (counting, cause and effect, where things are) and consistency with what the prompt set up. */
static const char *const default_prompts[] = {
    "Lily had a red ball and a blue ball. She gave the red ball to Tom. Now Lily has the",
    "The sun was very hot, so Ben wanted to drink something cold. He opened the fridge and took out",
    "Sara put her toy car in the box and closed the lid. Later she wanted to play with it, so she",
    "Tom and his dog went to the park. The dog saw a cat and",
    "Once upon a time, there was a little bird who could not fly. One day,",
    "Mia was sad because it was raining and she could not go outside. Her mom said,",
    "Max had three apples. He ate one apple. Now Max has",
    "The cat was hungry. It looked at its empty bowl and",
    "Anna lost her shoe at the beach. She looked under her towel, but it was not there. Then she looked",
    "Every night before bed, Lucy's dad read her a story. Tonight he picked a book about",
    "Jack built a tall tower with his blocks. When the tower fell down, Jack felt",
    "The little fish lived in the big blue sea. One day a big shark came, and the little fish",
    "Emma's grandma baked cookies. Emma smelled them from her room and ran to the",
    "Tim was scared of the dark. His sister gave him a small lamp and said,",
    "The farmer had a cow, a pig and a hen. Every morning the hen gave him",
    "Sam and Lily both wanted the last piece of cake. Their mom said they should",
    "It was winter and snow covered the ground. The children put on their warm coats and",
    "Ben found a shiny key in the garden. He wondered what it could open, so he",
    "The teddy bear fell off the bed in the night. When Mia woke up, she could not find it. She asked her brother,",
    "The moon was bright in the sky. A little owl sat on a branch and",
    "Kate wanted to help her dad wash the car. She filled a bucket with water and",
    "The frog jumped into the pond with a big splash. The ducks were surprised and",
    "Leo forgot his lunch at home. At school his friend Ava saw that he was hungry, so she",
    "Once upon a time, in a small town, there lived a kind old man who loved to",
};

typedef struct {
    char **text;
    int n;
} prompt_list;

/* --prompts FILE: one prompt per non-empty line (trailing spaces and \r dropped). */
static int prompts_load(driver *d, prompt_list *pl)
{
    pl->text = NULL;
    pl->n = 0;
    if (!opts.prompts) {
        pl->n = (int)(sizeof default_prompts / sizeof default_prompts[0]);
        pl->text = xmalloc((size_t)pl->n * sizeof *pl->text);
        for (int i = 0; i < pl->n; i++)
            pl->text[i] = xstrdup(default_prompts[i]);
        return 0;
    }
    err_t e;
    size_t len;
    char *all = file_read_all(opts.prompts, &len, &e);
    if (!all) {
        driver_error(d, "--prompts: %s", e.msg);
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        pl->text = xrealloc(pl->text, (size_t)(pl->n + 1) * sizeof *pl->text);
        pl->text[pl->n++] = xstrdup(line);
    }
    free(all);
    if (pl->n == 0) {
        driver_error(d, "--prompts %s holds no prompt (one per line)", opts.prompts);
        return -1;
    }
    return 0;
}

/* A Markdown table cell: one line, pipes escaped, valid UTF-8 (a continuation can end inside a
 * character). */
static void markdown_cell(const char *s)
{
    for (size_t n; *s; s += n) {
        n = strcspn(s, "|\n\r");
        utf8_write_valid(stdout, s, n);
        if (!s[n])
            break;
        fputs(s[n] == '|' ? "\\|" : " ", stdout);
        n++;
    }
}

/* The two models' continuations of every prompt, cont[prompt * 2 + model]; each prompt has its own
 * sampling seed, the same for both. 0, or the exit code (message printed). */
static int compare_generate(driver *d, const prompt_list *pl, lm *m, bpe **tok, char **cont)
{
    rng seeds = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_SAMPLE);
    bpe_ids ids = {0};
    int rc = 0;
    log_info(d->opt.quiet, "babistories compare: %d prompts, up to %lld tokens each", pl->n, opts.max_tokens);
    for (int i = 0; rc == 0 && i < pl->n; i++) {
        uint64_t seed = rng_next(&seeds);
        for (int k = 0; k < 2 && rc == 0; k++) {
            err_t e;
            rng r;
            rng_seed(&r, seed);
            if (encode_prompt(d, tok[k], pl->text[i], &ids) != 0)
                rc = 2;
            else if (!(cont[i * 2 + k] = continue_ids(&m[k], tok[k], &ids, opts.max_tokens, &r, &e))) {
                driver_error(d, "%s", e.msg);
                rc = 1;
            }
        }
    }
    free(ids.ids);
    return rc;
}

static int compare_write_csv(driver *d, const prompt_list *pl, const lm *m, char *const *path, char *const *cont)
{
    static const char *const cols[] = {"prompt_id", "prompt", "arch", "checkpoint", "continuation"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(d, &primary) != 0)
        return 1;
    for (int i = 0; i < pl->n; i++)
        for (int k = 0; k < 2; k++) {
            csv_row(d->csv, cell_int(i + 1), cell_str(pl->text[i]), cell_str(lm_arch_name(m[k].cfg.arch)),
                    cell_str(path[k]), cell_str(cont[i * 2 + k]));
        }
    return 0;
}

static void compare_write_markdown(const prompt_list *pl, const lm *m, char *const *path, char *const *cont)
{
    printf("| # | prompt | %s (%s) | %s (%s) |\n|---|---|---|---|\n", lm_arch_name(m[0].cfg.arch), path[0],
           lm_arch_name(m[1].cfg.arch), path[1]);
    for (int i = 0; i < pl->n; i++) {
        printf("| %d | ", i + 1);
        markdown_cell(pl->text[i]);
        for (int k = 0; k < 2; k++) {
            fputs(" | ...", stdout);
            markdown_cell(cont[i * 2 + k]);
        }
        fputs(" |\n", stdout);
    }
    fflush(stdout);
}

/* compare: two checkpoints, the prompts -> the continuations -> the table. */
static int run_compare(driver *d)
{
    char *list = opts.ckpt ? xstrdup(opts.ckpt) : NULL, *save = NULL;
    char *path[2] = {list ? strtok_r(list, ",", &save) : NULL, list ? strtok_r(NULL, ",", &save) : NULL};
    if (!path[1] || strtok_r(NULL, ",", &save)) {
        driver_error(d, "--ckpt A,B: compare takes exactly two checkpoints");
        free(list);
        return 2;
    }
    prompt_list pl;
    if (prompts_load(d, &pl) != 0) {
        free(list);
        return 2;
    }
    lm m[2];
    bpe *tok[2] = {NULL, NULL};
    int rc = open_ckpt(d, path[0], &m[0], &tok[0]);
    if (rc == 0 && (rc = open_ckpt(d, path[1], &m[1], &tok[1])) != 0) {
        lm_free(&m[0]);
        bpe_free(tok[0]);
    }
    char **cont = xcalloc((size_t)pl.n * 2, sizeof *cont);
    if (rc == 0)
        rc = compare_generate(d, &pl, m, tok, cont);
    if (rc == 0 && strcmp(opts.format, "csv") == 0)
        rc = compare_write_csv(d, &pl, m, path, cont);
    else if (rc == 0)
        compare_write_markdown(&pl, m, path, cont);
    for (int i = 0; i < pl.n; i++) {
        free(cont[i * 2]);
        free(cont[i * 2 + 1]);
        free(pl.text[i]);
    }
    free(cont);
    free(pl.text);
    for (int k = 0; tok[1] && k < 2; k++) {
        lm_free(&m[k]);
        bpe_free(tok[k]);
    }
    free(list);
    return rc;
}

int cmd_babistories(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &babistories_spec, argc, argv, &code) != 0)
        return code;
    const char *action = d.opt.npositional ? d.opt.positional[0] : "train";
    if (opts.dump_corpus > 0) {
        token_corpus_dump_stories((uint64_t)opts.dump_corpus, stdout);
        return driver_end(&d, 1);
    }
    static const char *const actions[] = {"train", "generate", "score", "ood", "attention", "compare"};
    int known = 0;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        known |= strcmp(action, actions[i]) == 0;
    device_kind dev;
    int bf16, rc;
    if (!known) {
        driver_error(&d, "unknown action '%s' (train, generate, score, ood, attention or compare)", action);
        rc = 2;
    } else if ((rc = babistories_device(&d, &dev, &bf16)) != 0) {
        /* a bad or unusable --device: one line, nothing written */
    } else if (strcmp(action, "train") == 0) {
        rc = run_train(&d); /* opens the table once the data and options have passed their checks */
    } else if (strcmp(action, "generate") == 0) {
        rc = run_generate(&d);
    } else if (strcmp(action, "score") == 0) {
        rc = run_score(&d);
    } else if (strcmp(action, "ood") == 0) {
        rc = run_ood(&d);
    } else if (strcmp(action, "attention") == 0) {
        rc = run_attention(&d);
    } else if (strcmp(action, "compare") == 0) {
        rc = run_compare(&d);
    }
    int end = driver_end(&d, rc == 0);
    return rc ? rc : end;
}

const command babistories_command = {&babistories_spec, NULL, cmd_babistories, 1};
