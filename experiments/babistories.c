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
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "babistories_data.h"
#include "driver.h"
#include "io/gzfile.h"
#include "io/progress.h"
#include "lm_opts.h"
#include "nn/lm_ckpt.h"
#include "nn/lm_train.h"

/* Text far from children's stories that every Debian machine has and nobody here wrote. */
#define OOD_DEFAULT_TEXT "/usr/share/common-licenses/GPL-3"

typedef struct {
    char *data, *tokenizer, *vocab_dir, *resume, *ckpt, *prompt, *text;
    long long stories, val_stories, vocab_size, steps, batch, warmup, eval_every, eval_batches;
    long long ckpt_every, stop_at, dump_corpus, top_k, max_tokens;
    double lr, lr_end, wd, clip, val_fraction, temperature;
} bs_opts;

static bs_opts o;
static lm_opts mo;

static const opt_spec bs_options[] = {
    LM_OPTION_ROWS(mo, "both", "gpt|mosaic|both", "1", "128", "4", "256", "0.05"),
    {"data", 0, OPT_STRING, &o.data, NULL, "story corpus: TinyStories/BabiStories text (stories separated by <|endoftext|> lines) or JSON lines with a text/story field, .gz allowed (default: memlab's story generator)", NULL, 0, -1, "PATH"},
    {"stories", 0, OPT_INT, &o.stories, "20000", "generated training stories (without --data)", NULL, 1, 1e9, "N"},
    {"val-stories", 0, OPT_INT, &o.val_stories, "500", "generated validation stories (without --data)", NULL, 1, 1e8, "N"},
    {"val-fraction", 0, OPT_DOUBLE, &o.val_fraction, "0.01", "share of a --data corpus held out for validation (by story)", NULL, 1e-6, 0.5, "F"},
    {"tokenizer", 0, OPT_STRING, &o.tokenizer, "train", "train (a BPE of --vocab-size learned on the training stories), gpt2 (with --vocab-dir), or a tokenizer .json saved by memlab tokenize", NULL, 0, -1, "T"},
    {"vocab-size", 0, OPT_INT, &o.vocab_size, "2048", "tokens of a trained BPE (256 bytes + merges + <|endoftext|>)", NULL, 257, 1 << 20, "N"},
    {"vocab-dir", 0, OPT_STRING, &o.vocab_dir, NULL, "folder holding GPT-2's encoder.json and vocab.bpe (--tokenizer gpt2)", NULL, 0, -1, "DIR"},
    {"steps", 0, OPT_INT, &o.steps, "3000", "training steps (batches)", NULL, 1, 1e9, "N"},
    {"batch", 0, OPT_INT, &o.batch, "16", "windows of --ctx + 1 tokens per step", NULL, 1, 1e6, "B"},
    {"lr", 0, OPT_DOUBLE, &o.lr, "5e-3", "peak learning rate (AdamW 0.9, 0.95; the paper's 5e-3)", NULL, 1e-12, 10, "LR"},
    {"lr-end", 0, OPT_DOUBLE, &o.lr_end, "1e-4", "learning rate at the last step (cosine)", NULL, 0, 10, "LR"},
    {"warmup", 0, OPT_INT, &o.warmup, "100", "linear warm-up steps", NULL, 0, 1e9, "N"},
    {"wd", 0, OPT_DOUBLE, &o.wd, "0.1", "weight decay (matrices only)", NULL, 0, 10, "WD"},
    {"clip", 0, OPT_DOUBLE, &o.clip, "1", "global gradient-norm clip (0: none)", NULL, 0, 1e9, "C"},
    {"eval-every", 0, OPT_INT, &o.eval_every, "250", "evaluate train and validation loss every N steps (and at the last)", NULL, 1, 1e9, "N"},
    {"eval-batches", 0, OPT_INT, &o.eval_batches, "8", "batches of fixed windows per loss evaluation", NULL, 1, 1e6, "N"},
    {"ckpt-every", 0, OPT_INT, &o.ckpt_every, "500", "write the checkpoint every N steps (and at the end)", NULL, 1, 1e9, "N"},
    {"stop-at", 0, OPT_INT, &o.stop_at, "0", "write the checkpoint and stop after step N, to continue later with --resume (0: run to --steps)", NULL, 0, 1e9, "N"},
    {"resume", 0, OPT_STRING, &o.resume, NULL, "continue the run that wrote this checkpoint (its architecture only) from its step", NULL, 0, -1, "CKPT"},
    {"dump-corpus", 0, OPT_INT, &o.dump_corpus, "0", "print N generated stories (TinyStories format) and exit", NULL, 0, 1e9, "N"},
    {"ckpt", 0, OPT_STRING, &o.ckpt, NULL, "generate/score: the checkpoint; ood: a comma list of them", NULL, 0, -1, "CKPT"},
    {"prompt", 0, OPT_STRING, &o.prompt, "Once upon a time", "generate: the text to continue", NULL, 0, -1, "TEXT"},
    {"text", 0, OPT_STRING, &o.text, NULL, "score: the text file; ood: the text (default " OOD_DEFAULT_TEXT ")", NULL, 0, -1, "FILE"},
    {"temperature", 0, OPT_DOUBLE, &o.temperature, "0.8", "generate: sampling temperature (0: greedy)", NULL, 0, 100, "T"},
    {"top-k", 0, OPT_INT, &o.top_k, "40", "generate: sample among the k most likely tokens (0: all)", NULL, 0, 1 << 24, "K"},
    {"max-tokens", 0, OPT_INT, &o.max_tokens, "200", "generate: tokens to add", NULL, 1, 1e7, "N"},
};

static const char *const smoke_kv[] = {"stories", "300", "val-stories", "20", "vocab-size", "300", "d", "32",
                                       "heads", "2", "ctx", "64", "batch", "4", "steps", "20", "eval-every", "10",
                                       "eval-batches", "2", "ckpt-every", "10", "warmup", "5", NULL};
static const char *const paper_kv[] = {"tokenizer", "gpt2", "d", "768", "heads", "12", "layers", "12", "ctx", "512",
                                       "batch", "512", "lr", "5e-3", "lr-end", "1e-4", "warmup", "2000",
                                       "steps", "80000", "dropout", "0.05", "eval-every", "1000",
                                       "ckpt-every", "1000", NULL};
static const preset_def bs_presets[] = {{"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}};

static const cmd_spec bs_spec = {
    .command = "babistories",
    .summary = "GPT vs memory mosaic language models on children's stories (Memory Mosaics Fig 9)",
    .usage = "memlab babistories [train|generate|score|ood] [options]",
    .description =
        "train (default): trains --arch gpt and mosaic (both by default: same shape, same data, same\n"
        "order) with AdamW (0.9, 0.95), warm-up + cosine, clipping; evaluates train and validation loss\n"
        "on fixed windows every --eval-every steps. Primary CSV:\n"
        "  arch,layers,d,heads,params,step,tokens,lr,train_loss,val_loss\n"
        "--out-dir gets tokenizer.json (a trained BPE), babistories_<arch>.safetensors (weights, AdamW\n"
        "moments, step; Ctrl-C writes it before exiting), curves.csv and babistories.png.\n"
        "generate: --ckpt FILE --prompt TEXT writes the prompt and its continuation on stdout.\n"
        "score: --ckpt FILE --text FILE writes position,token,loss (CSV) for every token after the\n"
        "first of each window of the model's context.\n"
        "ood: --ckpt A,B,... [--text FILE] writes arch,checkpoint,position,mean_loss,n: the loss at each\n"
        "position of non-overlapping windows of the model's context, averaged over the windows of a text\n"
        "from another distribution (default " OOD_DEFAULT_TEXT ", Memory Mosaics Fig 10).",
    .opts = bs_options,
    .nopts = sizeof bs_options / sizeof bs_options[0],
    .presets = bs_presets,
    .npresets = 3,
    .max_positional = 1,
};

/* ---- Ctrl-C: finish the step, write the checkpoint, stop --------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = sig; }

/* ---- per-step random streams ------------------------------------------------------------------- */

#define STREAM_STEP_DATA (1ULL << 40)
#define STREAM_STEP_DROPOUT (2ULL << 40)

/* Window starts for step s: batch rows drawn uniformly over the training stream. */
static void step_windows(const bs_data *bd, long long seed, long long step, int B, int T, int *ids, int *tg)
{
    rng r = rng_stream((uint64_t)seed, STREAM_STEP_DATA + (uint64_t)step);
    bs_windows(&bd->train, &r, B, T, ids, tg);
}

/* ---- training ----------------------------------------------------------------------------------- */

typedef struct {
    int *ids, *tg;   /* eval_batches * B * T */
} eval_set;

static void eval_set_make(eval_set *es, const bs_tokens *toks, long long seed, uint64_t stream, int nb, int B, int T)
{
    es->ids = xmalloc((size_t)nb * B * T * sizeof(int));
    es->tg = xmalloc((size_t)nb * B * T * sizeof(int));
    rng r = rng_stream((uint64_t)seed, stream);
    for (int i = 0; i < nb; i++)
        bs_windows(toks, &r, B, T, es->ids + (size_t)i * B * T, es->tg + (size_t)i * B * T);
}

static double eval_loss(lm *m, tape *tp, const eval_set *es, int nb, int B, int T)
{
    double sum = 0;
    long long n = 0;
    for (int i = 0; i < nb; i++)
        sum += lm_eval_sum(m, tp, es->ids + (size_t)i * B * T, es->tg + (size_t)i * B * T, B, T, -1, &n);
    return n ? sum / n : NAN;
}

static int save_ckpt(driver *d, lm *m, const bs_data *bd, long long step, const char *path)
{
    char stepbuf[32], seedbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%lld", step);
    snprintf(seedbuf, sizeof seedbuf, "%lld", d->opt.seed);
    const char *extra[] = {"experiment", "babistories", "step", stepbuf, "seed", seedbuf,
                           "tokenizer", bd->tokenizer_ref, NULL};
    err_t e;
    if (lm_ckpt_save(path, m, extra, 1, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* Trains one architecture from step `start` (0, or a resumed checkpoint's step). */
static int train_arch(driver *d, bs_data *bd, lm *m, long long start, const eval_set *ev_train,
                      const eval_set *ev_val, csv_writer *curves)
{
    const int B = (int)o.batch, T = m->cfg.ctx, nb = (int)o.eval_batches;
    const char *arch = lm_arch_name(m->cfg.arch);
    char path[4096], name[64];
    snprintf(name, sizeof name, "babistories_%s.safetensors", arch);
    driver_out_path(d, name, path, sizeof path);
    lm_optim opt = {
        .adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = o.wd},
        .sched = {.kind = SCHED_COSINE, .lr = o.lr, .lr_end = o.lr_end, .warmup = o.warmup, .total = o.steps},
        .clip = o.clip,
    };
    int *ids = xmalloc((size_t)B * T * sizeof *ids), *tg = xmalloc((size_t)B * T * sizeof *tg);
    tape tp;
    tape_init(&tp);
    progress prog;
    char label[64];
    snprintf(label, sizeof label, "babistories %s", arch);
    progress_start(&prog, label, o.steps, d->opt.quiet);
    long long params = (long long)params_numel(&m->ps);
    int ok = 1;
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    for (long long s = start; s < o.steps; s++) {
        step_windows(bd, d->opt.seed, s, B, T, ids, tg);
        rng drop = rng_stream((uint64_t)d->opt.seed, STREAM_STEP_DROPOUT + (uint64_t)s);
        double loss = lm_train_step(m, &tp, ids, tg, B, T, -1, &opt, s, &drop, NULL);
        if (!isfinite(loss)) {
            driver_error(d, "%s: the loss became %g at step %lld (try a lower --lr)", arch, loss, s + 1);
            ok = 0;
            break;
        }
        progress_update(&prog, s + 1, loss, (s + 1 - start) * (long long)B * T);
        const long long done = s + 1;
        if (done % o.eval_every == 0 || done == o.steps) {
            double tl = eval_loss(m, &tp, ev_train, nb, B, T), vl = eval_loss(m, &tp, ev_val, nb, B, T);
            for (csv_writer *w = d->csv; w; w = w == d->csv ? curves : NULL) {
                csv_str(w, arch);
                csv_int(w, m->cfg.layers);
                csv_int(w, m->cfg.d);
                csv_int(w, m->cfg.heads);
                csv_int(w, params);
                csv_int(w, done);
                csv_int(w, done * (long long)B * T);
                csv_num(w, schedule_lr(&opt.sched, s));
                csv_num(w, tl);
                csv_num(w, vl);
                csv_end_row(w);
            }
        }
        const int stop = done == o.stop_at;
        if (interrupted || stop || done % o.ckpt_every == 0 || done == o.steps) {
            if (save_ckpt(d, m, bd, done, path) != 0) {
                ok = 0;
                break;
            }
        }
        if (stop) {
            log_info(d->opt.quiet, "babistories: stopped after step %lld (--stop-at); continue with --resume %s", done, path);
            break;
        }
        if (interrupted) {
            log_info(d->opt.quiet, "babistories: interrupted at step %lld; checkpoint %s (continue with --resume)",
                     done, path);
            ok = 0;
            break;
        }
    }
    sigaction(SIGINT, &old, NULL);
    progress_end(&prog);
    tape_free(&tp);
    free(ids);
    free(tg);
    return ok ? 0 : -1;
}

static int run_train(driver *d)
{
    bs_data bd;
    err_t e;
    if (bs_data_load(&bd, &(bs_data_opts){.data = o.data, .stories = o.stories, .val_stories = o.val_stories,
                                          .val_fraction = o.val_fraction, .tokenizer = o.tokenizer,
                                          .vocab_size = (int)o.vocab_size, .vocab_dir = o.vocab_dir,
                                          .seed = d->opt.seed, .out_dir = d->opt.out_dir, .quiet = d->opt.quiet},
                     &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    const int B = (int)o.batch, T = (int)mo.ctx, nb = (int)o.eval_batches;
    if (bd.train.n < (size_t)T + 2 || bd.val.n < (size_t)T + 2) {
        driver_error(d, "the corpus is too small for --ctx %d (training %zu tokens, validation %zu)", T,
                     bd.train.n, bd.val.n);
        bs_data_free(&bd);
        return 1;
    }
    lm_arch archs[2];
    int narch = 0;
    lm resumed;
    long long start = 0;
    if (o.resume) {
        if (lm_ckpt_open(o.resume, &resumed, 1, &e) != 0) {
            driver_error(d, "%s", e.msg);
            bs_data_free(&bd);
            return 1;
        }
        ckpt_meta *md = ckpt_meta_read(o.resume, &e);
        const char *st = md ? ckpt_meta_get(md, "step") : NULL;
        start = st ? atoll(st) : -1;
        ckpt_meta_free(md);
        /* The run's options must describe the checkpoint's model: --arch (unless both), the shape,
         * the vocabulary and the context. */
        lm_config want;
        char *saved = mo.arch;
        if (strcmp(mo.arch, "both") == 0)
            mo.arch = (char *)lm_arch_name(resumed.cfg.arch);
        int bad = lm_opts_config(&mo, bd.vocab, &want, &e);
        mo.arch = saved;
        const char *why = bad ? e.msg
                          : start < 0 ? "it records no step"
                          : want.arch != resumed.cfg.arch ? "it holds another architecture than --arch"
                          : want.d != resumed.cfg.d || want.layers != resumed.cfg.layers ||
                                    want.heads != resumed.cfg.heads || want.pmem != resumed.cfg.pmem ||
                                    want.bias != resumed.cfg.bias || want.pos != resumed.cfg.pos
                              ? "its shape differs from --layers/--d/--heads/--pmem/--bias/--pos"
                          : want.vocab != resumed.cfg.vocab ? "its vocabulary differs from the tokenizer's"
                          : want.ctx != resumed.cfg.ctx ? "its context differs from --ctx" : NULL;
        if (why) {
            driver_error(d, "--resume %s: %s", o.resume, why);
            lm_free(&resumed);
            bs_data_free(&bd);
            return bad ? 2 : 1;
        }
        archs[narch++] = resumed.cfg.arch;
    } else if (strcmp(mo.arch, "both") == 0) {
        archs[narch++] = LM_GPT;
        archs[narch++] = LM_MOSAIC;
    } else {
        lm_arch_parse(mo.arch, &archs[narch++]);
    }

    static const char *const cols[] = {"arch", "layers", "d", "heads", "params", "step", "tokens", "lr", "train_loss", "val_loss"};
    char path[4096];
    csv_writer *curves = csv_open(driver_out_path(d, "curves.csv", path, sizeof path), cols, 10, &e);
    if (!curves) {
        driver_error(d, "%s", e.msg);
        bs_data_free(&bd);
        return 1;
    }
    eval_set ev_train, ev_val;
    eval_set_make(&ev_train, &bd.train, d->opt.seed, RNG_STREAM_EVAL, nb, B, T);
    eval_set_make(&ev_val, &bd.val, d->opt.seed, RNG_STREAM_EVAL + 1000, nb, B, T);
    int rc = 0;
    for (int a = 0; a < narch && rc == 0; a++) {
        lm m;
        if (o.resume) {
            m = resumed;
        } else {
            char *saved = mo.arch;
            mo.arch = (char *)lm_arch_name(archs[a]);
            lm_config cfg;
            int bad = lm_opts_config(&mo, bd.vocab, &cfg, &e);
            mo.arch = saved;
            if (bad) {
                driver_error(d, "%s", e.msg);
                rc = 2;
                break;
            }
            lm_build(&m, &cfg);
            rng init = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_INIT);
            lm_init_weights(&m, &init);
        }
        log_info(d->opt.quiet, "babistories: %s, %zu parameters, %zu training tokens, vocabulary %d",
                 lm_arch_name(m.cfg.arch), params_numel(&m.ps), bd.train.n, bd.vocab);
        if (train_arch(d, &bd, &m, start, &ev_train, &ev_val, curves) != 0)
            rc = 1;
        lm_free(&m);
    }
    if (rc == 0) {
        if (csv_close(curves, &e) != 0) {
            driver_error(d, "%s", e.msg);
            rc = 1;
        }
    } else {
        csv_abort(curves);
    }
    free(ev_train.ids);
    free(ev_train.tg);
    free(ev_val.ids);
    free(ev_val.tg);
    bs_data_free(&bd);
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
    if (lm_ckpt_open(ckpt, m, 0, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 1;
    }
    *tok = bs_tokenizer_for_ckpt(ckpt, o.vocab_dir, &e);
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

static int sample_token(const double *p, int V, rng *r)
{
    if (o.temperature == 0) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (p[v] > p[best])
                best = v;
        return best;
    }
    double *w = xmalloc((size_t)V * sizeof *w);
    for (int v = 0; v < V; v++)
        w[v] = pow(p[v], 1.0 / o.temperature);
    if (o.top_k > 0 && o.top_k < V) {
        /* Keep the k largest weights: find the k-th largest by partial selection. */
        double *sorted = xmalloc((size_t)V * sizeof *sorted);
        memcpy(sorted, w, (size_t)V * sizeof *sorted);
        for (int i = 0; i < o.top_k; i++)
            for (int j = i + 1; j < V; j++)
                if (sorted[j] > sorted[i]) {
                    double t = sorted[i];
                    sorted[i] = sorted[j];
                    sorted[j] = t;
                }
        double kth = sorted[o.top_k - 1];
        for (int v = 0; v < V; v++)
            if (w[v] < kth)
                w[v] = 0;
        free(sorted);
    }
    int tok = rng_categorical(r, w, V);
    free(w);
    return tok;
}

static int run_generate(driver *d)
{
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, o.ckpt, &m, &tok);
    if (rc)
        return rc;
    bpe_ids ids = {0};
    bpe_encode(tok, o.prompt, strlen(o.prompt), &ids);
    if (ids.n == 0) {
        driver_error(d, "--prompt is empty");
        lm_free(&m);
        bpe_free(tok);
        return 2;
    }
    const int V = m.cfg.vocab, maxlen = lm_max_len(&m) ? lm_max_len(&m) : m.cfg.ctx;
    double *p = NULL;
    rng r = rng_stream((uint64_t)d->opt.seed, RNG_STREAM_SAMPLE);
    tape tp;
    tape_init(&tp);
    fputs(o.prompt, stdout);
    size_t first_new = ids.n;
    for (long long i = 0; i < o.max_tokens; i++) {
        /* The last `maxlen` tokens (no cache: every step runs the window again). */
        int T = ids.n < (size_t)maxlen ? (int)ids.n : maxlen;
        const int *win = ids.ids + ids.n - T;
        p = xrealloc(p, (size_t)T * V * sizeof *p);
        lm_next_probs(&m, &tp, win, 1, T, p);
        int t = sample_token(p + (size_t)(T - 1) * V, V, &r);
        if (t == bpe_eot(tok))
            break;
        if (ids.n == ids.cap) {
            ids.cap = ids.cap ? 2 * ids.cap : 64;
            ids.ids = xrealloc(ids.ids, ids.cap * sizeof *ids.ids);
        }
        ids.ids[ids.n++] = t;
    }
    err_t e;
    size_t len;
    char *text = bpe_decode(tok, ids.ids + first_new, ids.n - first_new, &len, &e);
    if (text) {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        free(text);
    }
    fflush(stdout);
    free(p);
    free(ids.ids);
    tape_free(&tp);
    lm_free(&m);
    bpe_free(tok);
    return text ? 0 : 1;
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
    if (!o.text) {
        driver_error(d, "--text FILE is required");
        return 2;
    }
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, o.ckpt, &m, &tok);
    if (rc)
        return rc;
    bpe_ids ids = {0};
    if (encode_file(d, tok, o.text, &ids) != 0) {
        lm_free(&m);
        bpe_free(tok);
        return 1;
    }
    static const char *const cols[] = {"position", "token", "loss"};
    if (driver_open_csv(d, cols, 3) != 0) {
        rc = 1;
    } else {
        const int V = m.cfg.vocab, T = m.cfg.ctx;
        double *p = xmalloc((size_t)T * V * sizeof *p);
        tape tp;
        tape_init(&tp);
        /* Windows of T + 1 tokens overlapping by one, so that every token after the first is scored
         * exactly once, each with the context of its own window. */
        for (size_t at = 0; at + 1 < ids.n; at += (size_t)T) {
            int n = (int)((ids.n - at - 1) < (size_t)T ? ids.n - at - 1 : (size_t)T);
            lm_next_probs(&m, &tp, ids.ids + at, 1, n, p);
            for (int t = 0; t < n; t++) {
                int next = ids.ids[at + t + 1];
                csv_int(d->csv, (long long)(at + t + 1));
                csv_int(d->csv, next);
                csv_num(d->csv, -log(fmax(p[(size_t)t * V + next], 1e-300)));
                csv_end_row(d->csv);
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

#define OOD_BATCH 8

/* Mean loss at every position of windows of the model's context (non-overlapping, T + 1 tokens
 * each: the T inputs and their next tokens). position p: the loss of predicting token p + 1 from
 * tokens 0..p of its window. */
static int ood_one(driver *d, const char *ckpt, const char *path)
{
    lm m;
    bpe *tok;
    int rc = open_ckpt(d, ckpt, &m, &tok);
    if (rc)
        return rc;
    bpe_ids ids = {0};
    if (encode_file(d, tok, path, &ids) != 0) {
        lm_free(&m);
        bpe_free(tok);
        return 1;
    }
    const int T = m.cfg.ctx, V = m.cfg.vocab;
    const size_t nwin = ids.n > (size_t)T ? (ids.n - 1) / (size_t)T : 0;
    if (nwin == 0) {
        driver_error(d, "%s: %zu tokens, fewer than one window of %d + 1", path, ids.n, T);
        free(ids.ids);
        lm_free(&m);
        bpe_free(tok);
        return 1;
    }
    double *sum = xcalloc((size_t)T, sizeof *sum), *p = xmalloc((size_t)OOD_BATCH * T * V * sizeof *p);
    int *batch = xmalloc((size_t)OOD_BATCH * T * sizeof *batch);
    tape tp;
    tape_init(&tp);
    for (size_t w0 = 0; w0 < nwin; w0 += OOD_BATCH) {
        int B = (int)(nwin - w0 < OOD_BATCH ? nwin - w0 : OOD_BATCH);
        for (int b = 0; b < B; b++)
            memcpy(batch + (size_t)b * T, ids.ids + (w0 + (size_t)b) * T, (size_t)T * sizeof *batch);
        lm_next_probs(&m, &tp, batch, B, T, p);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int next = ids.ids[(w0 + (size_t)b) * T + (size_t)t + 1];
                sum[t] -= log(fmax(p[((size_t)b * T + t) * V + next], 1e-300));
            }
    }
    for (int t = 0; t < T; t++) {
        csv_str(d->csv, lm_arch_name(m.cfg.arch));
        csv_str(d->csv, ckpt);
        csv_int(d->csv, t);
        csv_num(d->csv, sum[t] / (double)nwin);
        csv_int(d->csv, (long long)nwin);
        csv_end_row(d->csv);
    }
    log_info(d->opt.quiet, "babistories ood: %s: %zu windows of %d tokens from %s; loss at the first and last "
                           "position %.4g, %.4g",
             ckpt, nwin, T, path, sum[0] / (double)nwin, sum[T - 1] / (double)nwin);
    tape_free(&tp);
    free(sum);
    free(p);
    free(batch);
    free(ids.ids);
    lm_free(&m);
    bpe_free(tok);
    return 0;
}

static int run_ood(driver *d)
{
    if (!o.ckpt) {
        driver_error(d, "--ckpt FILE[,FILE...] is required");
        return 2;
    }
    static const char *const cols[] = {"arch", "checkpoint", "position", "mean_loss", "n"};
    if (driver_open_csv(d, cols, 5) != 0)
        return 1;
    const char *path = o.text ? o.text : OOD_DEFAULT_TEXT;
    char *list = xstrdup(o.ckpt), *save = NULL;
    int rc = 0;
    for (char *c = strtok_r(list, ",", &save); c && rc == 0; c = strtok_r(NULL, ",", &save))
        rc = ood_one(d, c, path);
    free(list);
    return rc;
}

int cmd_babistories(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &bs_spec, argc, argv, &code) != 0)
        return code;
    const char *action = d.opt.npositional ? d.opt.positional[0] : "train";
    if (o.dump_corpus > 0) {
        d.table_only = 1;
        bs_dump_corpus((uint64_t)o.dump_corpus, stdout);
        return driver_end(&d, 1);
    }
    int rc;
    if (strcmp(action, "train") == 0) {
        static const char *const cols[] = {"arch", "layers", "d", "heads", "params", "step", "tokens", "lr", "train_loss", "val_loss"};
        if (driver_open_csv(&d, cols, 10) != 0)
            return driver_end(&d, 0);
        rc = run_train(&d);
    } else if (strcmp(action, "generate") == 0) {
        d.table_only = 1;
        rc = run_generate(&d);
    } else if (strcmp(action, "score") == 0) {
        d.table_only = 1;
        rc = run_score(&d);
    } else if (strcmp(action, "ood") == 0) {
        d.table_only = 1;
        rc = run_ood(&d);
    } else {
        driver_error(&d, "unknown action '%s' (train, generate, score or ood)", action);
        rc = 2;
    }
    int end = driver_end(&d, rc == 0);
    return rc ? rc : end;
}
