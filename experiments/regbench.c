/* memlab regbench: in-context language learning on random probabilistic finite automata (RegBench,
 * Akyürek et al. 2024; Memory Mosaics §5, Fig 11). Each sequence holds strings of one unseen
 * automaton; a model must infer the automaton from the context and predict valid next letters. This
 * file draws the data (lib/data/pfa.h), evaluates models against the true next-token distributions
 * and writes one CSV row per run. The reference models (in-context n-gram, uniform) need no training
 * (lib/data/ngram.h); a trained model plugs in through the same predictor and result row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "data/ngram.h"
#include "data/pfa.h"
#include "driver.h"
#include "io/atomic.h"
#include "io/progress.h"
#include "lm_opts.h"
#include "regbench_train.h"

typedef struct {
    char *model, *export_path;
    long long ngram_order, train_size, val_size, test_size, epochs, batch;
    double lr, wd, clip, warmup;
    int describe;
} rb_opts;

static rb_opts o;
static lm_opts mo;

static const opt_spec rb_options[] = {
    {"model", 0, OPT_STRING, &o.model, "mosaic", "mosaic (memory mosaic), gpt (transformer, learned positions), lstm; references: ngram (in-context n-gram with back-off), uniform (1/18 on each letter)", "mosaic|gpt|lstm|ngram|uniform", 0, -1, "M"},
    LM_SHAPE_ROWS(mo, "2", "64", "4", "0"),
    {"lr", 0, OPT_DOUBLE, &o.lr, "2e-3", "peak learning rate (AdamW 0.9, 0.999; cosine to lr/10)", NULL, 1e-12, 10, "LR"},
    {"wd", 0, OPT_DOUBLE, &o.wd, "0.1", "weight decay (matrices only)", NULL, 0, 10, "WD"},
    {"epochs", 0, OPT_INT, &o.epochs, "40", "passes over the training sequences", NULL, 1, 1e6, "N"},
    {"batch", 0, OPT_INT, &o.batch, "32", "sequences per step", NULL, 1, 1e6, "B"},
    {"clip", 0, OPT_DOUBLE, &o.clip, "1", "global gradient-norm clip (0: none)", NULL, 0, 1e9, "C"},
    {"warmup", 0, OPT_DOUBLE, &o.warmup, "0.1", "share of the steps spent in linear warm-up", NULL, 0, 0.99, "F"},
    {"ngram-order", 0, OPT_INT, &o.ngram_order, "3", "n-gram order (context of n-1 symbols) for --model ngram", NULL, 1, NGRAM_MAX_ORDER, "N"},
    {"train-size", 0, OPT_INT, &o.train_size, "500", "training automata, one sequence each (the paper: 100 .. 40000)", NULL, 1, 100000, "N"},
    {"val-size", 0, OPT_INT, &o.val_size, "500", "held-out validation automata (model selection, val_* columns)", NULL, 1, 100000, "N"},
    {"test-size", 0, OPT_INT, &o.test_size, "500", "held-out test automata (test_* columns)", NULL, 1, 100000, "N"},
    {"describe", 0, OPT_FLAG, &o.describe, NULL, "print statistics of the three splits as CSV instead of evaluating a model", NULL, 0, -1, NULL},
    {"export", 0, OPT_STRING, &o.export_path, NULL, "write the sequences to FILE and the automata to FILE.automata.jsonl instead of evaluating a model", NULL, 0, -1, "FILE"},
};

static const char *const smoke_kv[] = {"train-size", "20", "val-size", "20", "test-size", "20", "epochs", "2",
                                       "d", "16", "heads", "2", "layers", "1", "batch", "8", NULL};
/* The paper's memory-mosaic configuration (REFERENCE §4); the transformer's comes from the grid. */
static const char *const paper_kv[] = {"train-size", "40000", "epochs", "200", "d", "128", "heads", "8",
                                       "layers", "2", "pmem", "448", "dropout", "0.05", "lr", "5e-4",
                                       "wd", "0.1", "clip", "1", NULL};
static const preset_def rb_presets[] = {{"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}};

static const cmd_spec rb_spec = {
    .command = "regbench",
    .summary = "in-context language learning on random automata (Memory Mosaics Fig 11)",
    .usage = "memlab regbench [options]",
    .description =
        "Draws random automata (4-12 states, 4-18 letters, 1-3 edges a state; minimised and trimmed),\n"
        "one sequence of 10-19 strings ('|'-separated, 1-49 letters each) per automaton, in three\n"
        "disjoint splits (train, validation, test; no automaton twice). A model predicts every next\n"
        "token; it is scored against the automaton's true next-token distribution at every position:\n"
        "accuracy (its argmax is a valid next letter) and total variation distance (mass on '|' or '.'\n"
        "counts as error). val_loss is the mean cross-entropy on validation targets other than '|'\n"
        "(probabilities clamped at 1e-5). Primary CSV (one row per run):\n"
        "  model,train_size,layers,d,heads,params,lr,wd,epochs,seed,val_loss,val_acc,val_tvd,test_acc,\n"
        "  test_tvd,train_seconds\n"
        "Models: ngram (named ngramN in the model column; fit in context at every position, per-string\n"
        "contexts, back-off to lower orders) and uniform. They need no training: their training-only\n"
        "cells are empty, params and train_seconds 0, and the training set is not drawn.\n"
        "--describe prints split,statistic,mean,min,max instead (states after minimisation and as drawn,\n"
        "alphabet, letters used, out-degree and its histogram as fractions, strings, tokens and string\n"
        "lengths per sequence). --export FILE writes every sequence as one line of letters and '|'\n"
        "(train, then validation, then test) and FILE.automata.jsonl, one JSON object per automaton in\n"
        "the same order (split, index, states, start, edges [from, letter, to]). The test set depends\n"
        "only on --seed and --test-size, the validation set also on --val-size, and a training set is a\n"
        "prefix of every larger one.",
    .opts = rb_options,
    .nopts = sizeof rb_options / sizeof rb_options[0],
    .presets = rb_presets,
    .npresets = 3,
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- evaluation --------------------------------------------------------------------------------- */

/* A model as the evaluation sees it: next-token distributions for every input position of a sequence
 * (probs[t * PFA_VOCAB + v] for t = 0 .. len-2, from tokens 0..t only). */
typedef struct {
    void (*predict)(void *self, const uint8_t *tok, int len, double *probs);
    void *self;
} predictor;

static pfa_score evaluate(const pfa_split *s, const predictor *p)
{
    double *p_model = xmalloc((size_t)PFA_MAX_TOKENS * PFA_VOCAB * sizeof *p_model);
    double *p_true = xmalloc((size_t)PFA_MAX_TOKENS * PFA_VOCAB * sizeof *p_true);
    pfa_score score = {0};
    for (int i = 0; i < s->count; i++) {
        int len;
        const uint8_t *tok = pfa_split_seq(s, i, &len);
        p->predict(p->self, tok, len, p_model);
        pfa_true_dist(&s->automata[i], tok, len, p_true);
        pfa_score_sequence(&score, p_model, p_true, tok, len);
    }
    free(p_model);
    free(p_true);
    return score;
}

/* One row of the primary table. */
typedef struct {
    char model[32];
    int trained;   /* 0: layers, d, heads, lr, wd and epochs are empty cells */
    long long layers, d, heads, params, epochs;
    double lr, wd, train_seconds;
    pfa_score val, test;
} rb_row;

static const char *const rb_columns[] = {"model", "train_size", "layers", "d", "heads", "params", "lr", "wd",
                                         "epochs", "seed", "val_loss", "val_acc", "val_tvd", "test_acc",
                                         "test_tvd", "train_seconds"};

/* A cell that only trained models fill; empty for the others. */
static void trained_int(csv_writer *w, const rb_row *r, long long v)
{
    if (r->trained)
        csv_int(w, v);
    else
        csv_str(w, NULL);
}

static void trained_num(csv_writer *w, const rb_row *r, double v)
{
    if (r->trained)
        csv_num(w, v);
    else
        csv_str(w, NULL);
}

static void write_row(driver *d, const rb_row *r)
{
    csv_writer *w = d->csv;
    csv_str(w, r->model);
    csv_int(w, o.train_size);
    trained_int(w, r, r->layers);
    trained_int(w, r, r->d);
    trained_int(w, r, r->heads);
    csv_int(w, r->params);
    trained_num(w, r, r->lr);
    trained_num(w, r, r->wd);
    trained_int(w, r, r->epochs);
    csv_int(w, d->opt.seed);
    csv_num(w, pfa_score_loss(&r->val));
    csv_num(w, pfa_score_accuracy(&r->val));
    csv_num(w, pfa_score_tvd(&r->val));
    csv_num(w, pfa_score_accuracy(&r->test));
    csv_num(w, pfa_score_tvd(&r->test));
    csv_num(w, r->train_seconds);
    csv_end_row(w);
}

static void predict_ngram(void *self, const uint8_t *tok, int len, double *probs) { ngram_predict(self, tok, len, probs); }

static void predict_uniform(void *self, const uint8_t *tok, int len, double *probs)
{
    (void)self;
    uniform_predict(tok, len, probs);
}

static int is_reference_model(const char *model) { return !strcmp(model, "ngram") || !strcmp(model, "uniform"); }

/* A trained model: gpt, mosaic or lstm on the training split, then the same evaluation. */
/* The model options as an lm_config (vocabulary, context and positions fixed by the task). */
static int trained_config(lm_config *c, err_t *e)
{
    mo.ctx = PFA_MAX_TOKENS;
    mo.arch = o.model;
    mo.pos = "learned";
    return lm_opts_config(&mo, PFA_VOCAB, c, e);
}

static int run_trained(driver *d, const pfa_dataset *ds)
{
    rb_row row = {.trained = 1};
    rb_train_cfg tc = {.epochs = o.epochs, .batch = o.batch, .lr = o.lr, .wd = o.wd, .clip = o.clip,
                       .warmup_frac = o.warmup, .lr_min_frac = 0.1, .seed = d->opt.seed, .quiet = d->opt.quiet};
    err_t e;
    trained_config(&tc.cfg, &e);   /* checked before the data were drawn */
    double t0 = now_seconds();
    rb_model rm;
    int rc = rb_train(&rm, &tc, &ds->train, &e);
    row.train_seconds = now_seconds() - t0;
    if (rc == 0) {
        predictor p = {rb_predict, &rm};
        snprintf(row.model, sizeof row.model, "%s", o.model);
        row.layers = mo.layers;
        row.d = mo.d;
        row.heads = tc.cfg.arch == LM_LSTM ? 1 : mo.heads;
        row.params = (long long)params_numel(&rm.m.ps);
        row.lr = o.lr;
        row.wd = o.wd;
        row.epochs = o.epochs;
        row.val = evaluate(&ds->val, &p);
        row.test = evaluate(&ds->test, &p);
        log_info(d->opt.quiet, "regbench: %s (%lld parameters, %.0f s): validation accuracy %.4f TVD %.4f loss %.4f; "
                               "test accuracy %.4f TVD %.4f",
                 row.model, row.params, row.train_seconds, pfa_score_accuracy(&row.val), pfa_score_tvd(&row.val),
                 pfa_score_loss(&row.val), pfa_score_accuracy(&row.test), pfa_score_tvd(&row.test));
    } else {
        driver_error(d, "%s", e.msg);
    }
    rb_model_free(&rm);
    if (rc != 0)
        return 0;
    if (driver_open_csv(d, rb_columns, sizeof rb_columns / sizeof *rb_columns) != 0)
        return 0;
    write_row(d, &row);
    return 1;
}

/* The models fitted in context: nothing to train, straight to evaluation. */
static int run_reference(driver *d, const pfa_dataset *ds)
{
    rb_row row = {0};
    predictor p = {predict_uniform, NULL};
    ngram_model *ng = NULL;
    if (!strcmp(o.model, "ngram")) {
        ng = ngram_new((int)o.ngram_order);
        p = (predictor){predict_ngram, ng};
        snprintf(row.model, sizeof row.model, "ngram%lld", o.ngram_order);
    } else {
        snprintf(row.model, sizeof row.model, "%s", o.model);
    }
    if (driver_open_csv(d, rb_columns, sizeof rb_columns / sizeof *rb_columns) != 0) {
        ngram_free(ng);
        return 0;
    }
    double t0 = now_seconds();
    row.val = evaluate(&ds->val, &p);
    row.test = evaluate(&ds->test, &p);
    ngram_free(ng);
    log_info(d->opt.quiet, "regbench: %s: validation accuracy %.4f TVD %.4f loss %.4f; test accuracy %.4f TVD %.4f "
                           "(%ld test positions, %.2f s)",
             row.model, pfa_score_accuracy(&row.val), pfa_score_tvd(&row.val), pfa_score_loss(&row.val),
             pfa_score_accuracy(&row.test), pfa_score_tvd(&row.test), row.test.positions, now_seconds() - t0);
    write_row(d, &row);
    return 1;
}

/* ---- data only: --describe and --export --------------------------------------------------------- */

static void describe_row(csv_writer *w, const char *split, const char *stat, double mean, const pfa_tally *t)
{
    csv_str(w, split);
    csv_str(w, stat);
    csv_num(w, mean);
    if (t) {
        csv_int(w, t->min);
        csv_int(w, t->max);
    } else {
        csv_str(w, NULL);
        csv_str(w, NULL);
    }
    csv_end_row(w);
}

static int describe(driver *d, const pfa_dataset *ds)
{
    static const char *const cols[] = {"split", "statistic", "mean", "min", "max"};
    if (driver_open_csv(d, cols, 5) != 0)
        return -1;
    const pfa_split *splits[3] = {&ds->train, &ds->val, &ds->test};
    static const char *const names[3] = {"train", "val", "test"};
    for (int i = 0; i < 3; i++) {
        pfa_stats st;
        pfa_describe(splits[i], &st);
        struct {
            const char *name;
            const pfa_tally *t;
        } rows[] = {{"states", &st.states},   {"states_generated", &st.states_generated},
                    {"alphabet", &st.alphabet}, {"letters_used", &st.letters_used},
                    {"out_degree", &st.out_degree}, {"strings", &st.strings},
                    {"tokens", &st.tokens},   {"string_length", &st.string_len}};
        describe_row(d->csv, names[i], "automata", st.count, NULL);
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
            describe_row(d->csv, names[i], rows[r].name, pfa_tally_mean(rows[r].t), rows[r].t);
        for (int k = 1; k <= PFA_MAX_OUT; k++) {
            char stat[32];
            snprintf(stat, sizeof stat, "out_degree_%d_fraction", k);
            describe_row(d->csv, names[i], stat, st.out_degree.n ? (double)st.degree_hist[k] / st.out_degree.n : 0, NULL);
        }
    }
    return 0;
}

/* Writes the sequences (automata 0) or the automata (1) of train, validation and test, in that
 * order, to one file, atomically. */
static int export_file(driver *d, const char *path, const pfa_dataset *ds, int automata)
{
    err_t e;
    atomic_file *af = atomic_open(path, &e);
    if (!af) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    const pfa_split *splits[3] = {&ds->train, &ds->val, &ds->test};
    static const char *const names[3] = {"train", "val", "test"};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = automata ? pfa_write_automata(atomic_fp(af), splits[i], names[i])
                      : pfa_write_sequences(atomic_fp(af), splits[i]);
    if (rc != 0) {
        atomic_abort(af);
        driver_error(d, "%s: write failed", path);
        return -1;
    }
    if (atomic_commit(af, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    return 0;
}

static int export_data(driver *d, const pfa_dataset *ds)
{
    size_t n = strlen(o.export_path) + 32;
    char *jsonl = xmalloc(n);
    snprintf(jsonl, n, "%s.automata.jsonl", o.export_path);
    int rc = export_file(d, o.export_path, ds, 0);
    if (rc == 0)
        rc = export_file(d, jsonl, ds, 1);
    if (rc == 0)
        log_info(d->opt.quiet, "regbench: wrote %s and %s", o.export_path, jsonl);
    free(jsonl);
    return rc;
}

int cmd_regbench(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &rb_spec, argc, argv, &code) != 0)
        return code;
    if (o.export_path && !*o.export_path) {
        driver_error(&d, "--export needs a file name");
        driver_end(&d, 0);
        return 2;
    }
    const int data_only = o.describe || o.export_path;
    if (!data_only && !is_reference_model(o.model)) {
        lm_config c;
        err_t e;
        if (trained_config(&c, &e) != 0) {
            driver_error(&d, "%s", e.msg);
            driver_end(&d, 0);
            return 2;
        }
    }
    /* Only trained models and the data views use the training set; the others skip drawing it (the
     * validation and test sets do not depend on it). */
    const int n_train = data_only || !is_reference_model(o.model) ? (int)o.train_size : 0;
    double t0 = now_seconds();
    pfa_dataset ds;
    pfa_dataset_generate(&ds, (uint64_t)d.opt.seed, n_train, (int)o.val_size, (int)o.test_size);
    log_info(d.opt.quiet, "regbench: drew %d training, %d validation and %d test automata in %.2f s", n_train,
             (int)o.val_size, (int)o.test_size, now_seconds() - t0);
    int ok = 1;
    if (data_only) {
        if (o.export_path && export_data(&d, &ds) != 0)
            ok = 0;
        if (ok && o.describe && describe(&d, &ds) != 0)
            ok = 0;
    } else {
        ok = is_reference_model(o.model) ? run_reference(&d, &ds) : run_trained(&d, &ds);
    }
    pfa_dataset_free(&ds);
    return driver_end(&d, ok);
}
