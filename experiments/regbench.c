/* memlab regbench: in-context language learning on random probabilistic finite automata (RegBench,
 * Akyürek et al. 2024; Memory Mosaics §5, Fig 11). Each sequence holds strings of one unseen
 * automaton; a model must infer the automaton from the context and predict valid next letters. This
 * file draws the data (lib/data/pfa.h), evaluates models against the true next-token distributions
 * and writes one CSV row per run. The reference models (in-context n-gram, uniform) need no training
 * (lib/data/ngram.h); a trained model plugs in through the same predictor and result row. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dist.h"
#include "core/error.h"
#include "data/ngram.h"
#include "data/pfa.h"
#include "commands.h"
#include "driver.h"
#include "io/atomic.h"
#include "io/progress.h"
#include "io/spawn.h"
#include "lm_opts.h"
#include "regbench_grid.h"
#include "regbench_train.h"

typedef struct {
    char *model, *export_path, *grid, *train_sizes, *collect;
    long long ngram_order, train_size, val_size, test_size, epochs, batch, jobs;
    double lr, wd, clip, warmup;
    int describe, sweep, emit_jobs;
    device_opts dev;
} regbench_opts;

static regbench_opts opts;
static lm_opts model_opts;

#define REGBENCH_MODELS "mosaic|gpt|lstm|ngram|uniform"
#define REGBENCH_MAX_SPLIT 100000   /* automata in one split */
#define REGBENCH_PAPER_SIZES "100,500,1000,2500,5000,10000,20000,40000"

static const opt_spec regbench_options[] = {
    {"model", 0, OPT_STRING, &opts.model, "mosaic", "mosaic (memory mosaic), gpt (transformer, learned positions), lstm; references: ngram (in-context n-gram with back-off), uniform (1/18 on each letter); a sweep takes a comma list", NULL, 0, -1, "M[,M...]"},
    LM_SHAPE_ROWS(model_opts, "2", "64", "4", "0"),
    {"lr", 0, OPT_DOUBLE, &opts.lr, "2e-3", "peak learning rate (AdamW 0.9, 0.999; cosine to lr/10)", NULL, 1e-12, 10, "LR"},
    LM_DECAY_CLIP_ROWS(opts),
    {"epochs", 0, OPT_INT, &opts.epochs, "30", "passes over the training sequences", NULL, 1, 1e6, "N"},
    {"batch", 0, OPT_INT, &opts.batch, "32", "sequences per step", NULL, 1, 1e6, "B"},
    {"warmup", 0, OPT_DOUBLE, &opts.warmup, "0.1", "share of the steps spent in linear warm-up", NULL, 0, 0.99, "F"},
    {"ngram-order", 0, OPT_INT, &opts.ngram_order, "3", "n-gram order (context of n-1 symbols) for --model ngram", NULL, 1, NGRAM_MAX_ORDER, "N"},
    {"train-size", 0, OPT_INT, &opts.train_size, "500", "training automata, one sequence each (the paper: 100 .. 40000)", NULL, 1, REGBENCH_MAX_SPLIT, "N"},
    {"val-size", 0, OPT_INT, &opts.val_size, "500", "held-out validation automata (model selection, val_* columns)", NULL, 1, REGBENCH_MAX_SPLIT, "N"},
    {"test-size", 0, OPT_INT, &opts.test_size, "500", "held-out test automata (test_* columns)", NULL, 1, REGBENCH_MAX_SPLIT, "N"},
    {"describe", 0, OPT_FLAG, &opts.describe, NULL, "print statistics of the three splits as CSV instead of evaluating a model", NULL, 0, -1, NULL},
    {"export", 0, OPT_STRING, &opts.export_path, NULL, "write the sequences to FILE and the automata to FILE.automata.jsonl instead of evaluating a model", NULL, 0, -1, "FILE"},
    {"sweep", 0, OPT_FLAG, &opts.sweep, NULL, "train every grid point for every --model and --train-sizes: all rows in the primary table, the best on validation in <out-dir>/best.csv", NULL, 0, -1, NULL},
    {"grid", 0, OPT_STRING, &opts.grid, NULL, "sweep: YAML mapping of option to list of values (layers, d, heads, lr, wd, epochs); each replaces that axis of the paper's search space", NULL, 0, -1, "FILE.yaml"},
    {"train-sizes", 0, OPT_STRING, &opts.train_sizes, NULL, "sweep: comma list of training-set sizes (default: --train-size)", NULL, 0, -1, "N,N,..."},
    {"jobs", 0, OPT_INT, &opts.jobs, "1", "sweep: points trained at once, each in a child process with --threads / J threads", NULL, 1, 1024, "J"},
    {"emit-jobs", 0, OPT_FLAG, &opts.emit_jobs, NULL, "print the sweep's command lines, one a point, for GNU parallel or a scheduler, instead of running them", NULL, 0, -1, NULL},
    {"collect", 0, OPT_STRING, &opts.collect, NULL, "merge DIR/point_NNN.csv (the --emit-jobs points) into the primary table and write DIR/best.csv", NULL, 0, -1, "DIR"},
    DEVICE_OPTION_ROWS(opts.dev),
};
#define REGBENCH_NOPTS ((int)(sizeof regbench_options / sizeof regbench_options[0]))

/* The options that choose what the command does rather than describe one run: a sweep point's
 * command line leaves them out. */
static const char *const regbench_modes[] = {"describe", "export", "sweep", "grid", "train-sizes", "jobs", "emit-jobs",
                                             "collect", NULL};

static const char *const smoke_kv[] = {"train-size", "20", "val-size", "20", "test-size", "20", "epochs", "2",
                                       "d", "16", "heads", "2", "layers", "1", "batch", "8", NULL};
/* The paper's sweep (docs/regbench.md#what-the-paper-specifies): its grid (the default one: layers,
 * d, heads, wd) at its training sizes, with the memory mosaic's other settings (P = 3.5 d, the default, is its 448 at
 * d = 128). */
static const char *const paper_kv[] = {"sweep", "on", "model", "mosaic,gpt", "train-sizes", REGBENCH_PAPER_SIZES,
                                       "epochs", "200", "dropout", "0.05", "lr", "5e-4", "clip", "1", NULL};
static const preset_def regbench_presets[] = {{"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}};

/* --collect writes into the sweep's folder it reads (best.csv) and to -o: no run folder of its own. */
static int regbench_out_dir_use(const common_opts *c)
{
    (void)c;
    return opts.collect ? OUT_DIR_NONE : OUT_DIR_NEW;
}

static const cmd_spec regbench_spec = {
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
        "prefix of every larger one.\n"
        "\n"
        "--sweep trains every point of a grid: for each --model (a comma list) and each --train-sizes,\n"
        "every combination of layers {1,2,4,8}, d {64,128,256}, heads {2,4,8} and wd {0.01,0.1} (the\n"
        "paper's search space), --lr and --epochs; --grid FILE.yaml replaces the axes it lists (e.g.\n"
        "'layers: [1, 2]'). Points whose heads do not divide d are skipped with a note; the lstm takes\n"
        "no heads, ngram and uniform no grid (one point per training size). Each point runs as a child\n"
        "process (--jobs at a time), writing <out-dir>/point_NNN.csv; the primary table gets every row\n"
        "in grid order (models, then sizes, then the axes in column order) whatever --jobs, and\n"
        "<out-dir>/best.csv the row of each (model, train_size) with the lowest val_loss (test metrics\n"
        "are never looked at; a tie goes to fewer params, then to the earlier row). --emit-jobs prints\n"
        "the points' command lines instead; --collect DIR merges their tables afterwards.",
    .opts = regbench_options,
    .nopts = sizeof regbench_options / sizeof regbench_options[0],
    .presets = regbench_presets,
    .npresets = 3,
    .out_dir_use = regbench_out_dir_use,
};

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
} regbench_row;

static const char *const regbench_columns[] = {"model", "train_size", "layers", "d", "heads", "params", "lr", "wd",
                                               "epochs", "seed", "val_loss", "val_acc", "val_tvd", "test_acc",
                                               "test_tvd", "train_seconds"};
static const table_spec regbench_primary = TABLE_SPEC(NULL, regbench_columns);

/* A cell that only trained models fill; empty for the others. */
static csv_cell trained_int(const regbench_row *r, long long v) { return r->trained ? cell_int(v) : cell_str(NULL); }
static csv_cell trained_num(const regbench_row *r, double v) { return r->trained ? cell_num(v) : cell_str(NULL); }

static void write_row(driver *d, const regbench_row *r)
{
    csv_row(d->csv, cell_str(r->model), cell_int(opts.train_size), trained_int(r, r->layers), trained_int(r, r->d),
            trained_int(r, r->heads), cell_int(r->params), trained_num(r, r->lr), trained_num(r, r->wd),
            trained_int(r, r->epochs), cell_int(d->opt.seed), cell_num(pfa_score_loss(&r->val)),
            cell_num(pfa_score_accuracy(&r->val)), cell_num(pfa_score_tvd(&r->val)),
            cell_num(pfa_score_accuracy(&r->test)), cell_num(pfa_score_tvd(&r->test)), cell_num(r->train_seconds));
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
    model_opts.ctx = PFA_MAX_TOKENS;
    model_opts.arch = opts.model;
    model_opts.pos = "learned";
    return lm_opts_config(&model_opts, PFA_VOCAB, c, e);
}

/* The architecture of a trained model (NULL for the references). */
static const lm_arch_ops *model_arch(const char *model)
{
    lm_arch a;
    return lm_arch_parse(model, &a) == 0 ? lm_arch_table(a) : NULL;
}

/* --device and --dtype for the trained models (the references run on the CPU whatever they say):
 * 0, or the exit code with the one-line message printed. cpu_only: a model among them without GPU
 * kernels (the lstm), or NULL. */
static int trained_device(driver *d, const char *cpu_only, device_kind *dev, int *bf16)
{
    err_t e;
    int rc = 0;
    if (cpu_only && device_parse(opts.dev.device, dev, &e) == 0 && *dev != DEV_CPU) {
        err_set(&e, "--model %s runs on the CPU only (it has no GPU kernels): leave out --device cuda", cpu_only);
        rc = 2;
    } else {
        rc = device_opts_open(&opts.dev, dev, bf16, &e);
    }
    if (rc)
        driver_error(d, "%s", e.msg);
    return rc;
}

static int run_trained(driver *d, const pfa_dataset *ds)
{
    regbench_row row = {.trained = 1};
    regbench_train_cfg tc = {.epochs = opts.epochs, .batch = opts.batch, .lr = opts.lr, .wd = opts.wd,
                             .clip = opts.clip, .warmup_frac = opts.warmup, .lr_min_frac = 0.1,
                             .seed = d->opt.seed, .quiet = d->opt.quiet};
    err_t e;
    trained_config(&tc.cfg, &e);   /* checked before the data were drawn */
    trained_device(d, NULL, &tc.device, &tc.bf16);   /* checked too: opens it again */
    double t0 = progress_now();
    regbench_model rm;
    int rc = regbench_train(&rm, &tc, &ds->train, &e);
    row.train_seconds = progress_now() - t0;
    if (rc == 0) {
        predictor p = {regbench_predict, &rm};
        snprintf(row.model, sizeof row.model, "%s", opts.model);
        row.layers = model_opts.layers;
        row.d = model_opts.d;
        row.heads = lm_arch_table(tc.cfg.arch)->attends ? model_opts.heads : 1;
        row.params = (long long)params_numel(&rm.m.ps);
        row.lr = opts.lr;
        row.wd = opts.wd;
        row.epochs = opts.epochs;
        row.val = evaluate(&ds->val, &p);
        row.test = evaluate(&ds->test, &p);
        log_info(d->opt.quiet, "regbench: %s (%lld parameters, %.0f s): validation accuracy %.4f TVD %.4f loss %.4f; "
                               "test accuracy %.4f TVD %.4f",
                 row.model, row.params, row.train_seconds, pfa_score_accuracy(&row.val), pfa_score_tvd(&row.val),
                 pfa_score_loss(&row.val), pfa_score_accuracy(&row.test), pfa_score_tvd(&row.test));
    } else {
        driver_error(d, "%s", e.msg);
    }
    regbench_model_free(&rm);
    if (rc != 0)
        return 0;
    if (driver_open_csv(d, &regbench_primary) != 0)
        return 0;
    write_row(d, &row);
    return 1;
}

/* The models fitted in context: nothing to train, straight to evaluation. */
static int run_reference(driver *d, const pfa_dataset *ds)
{
    regbench_row row = {0};
    predictor p = {predict_uniform, NULL};
    ngram_model *ng = NULL;
    if (!strcmp(opts.model, "ngram")) {
        ng = ngram_new((int)opts.ngram_order);
        p = (predictor){predict_ngram, ng};
        snprintf(row.model, sizeof row.model, "ngram%lld", opts.ngram_order);
    } else {
        snprintf(row.model, sizeof row.model, "%s", opts.model);
    }
    if (driver_open_csv(d, &regbench_primary) != 0) {
        ngram_free(ng);
        return 0;
    }
    double t0 = progress_now();
    row.val = evaluate(&ds->val, &p);
    row.test = evaluate(&ds->test, &p);
    ngram_free(ng);
    log_info(d->opt.quiet, "regbench: %s: validation accuracy %.4f TVD %.4f loss %.4f; test accuracy %.4f TVD %.4f "
                           "(%ld test positions, %.2f s)",
             row.model, pfa_score_accuracy(&row.val), pfa_score_tvd(&row.val), pfa_score_loss(&row.val),
             pfa_score_accuracy(&row.test), pfa_score_tvd(&row.test), row.test.positions, progress_now() - t0);
    write_row(d, &row);
    return 1;
}

/* ---- data only: --describe and --export --------------------------------------------------------- */

static void describe_row(csv_writer *w, const char *split, const char *stat, double mean, const pfa_tally *t)
{
    if (t)
        csv_row(w, cell_str(split), cell_str(stat), cell_num(mean), cell_int(t->min), cell_int(t->max));
    else
        csv_row(w, cell_str(split), cell_str(stat), cell_num(mean), cell_str(NULL), cell_str(NULL));
}

static int describe(driver *d, const pfa_dataset *ds)
{
    static const char *const cols[] = {"split", "statistic", "mean", "min", "max"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(d, &primary) != 0)
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
typedef struct {
    const pfa_dataset *ds;
    int automata;   /* the automata as JSON lines, else the sequences */
} export_job;

static int export_writer(FILE *f, void *ctx)
{
    const export_job *j = ctx;
    const pfa_split *splits[3] = {&j->ds->train, &j->ds->val, &j->ds->test};
    static const char *const names[3] = {"train", "val", "test"};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = j->automata ? pfa_write_automata(f, splits[i], names[i]) : pfa_write_sequences(f, splits[i]);
    return rc;
}

static int export_file(driver *d, const char *path, const pfa_dataset *ds, int automata)
{
    export_job j = {ds, automata};
    return driver_write_file(d, path, export_writer, &j);
}

static int export_data(driver *d, const pfa_dataset *ds)
{
    size_t n = strlen(opts.export_path) + 32;
    char *jsonl = xmalloc(n);
    snprintf(jsonl, n, "%s.automata.jsonl", opts.export_path);
    int rc = export_file(d, opts.export_path, ds, 0);
    if (rc == 0)
        rc = export_file(d, jsonl, ds, 1);
    if (rc == 0)
        log_info(d->opt.quiet, "regbench: wrote %s and %s", opts.export_path, jsonl);
    free(jsonl);
    return rc;
}

/* ---- sweeps: --sweep, --emit-jobs, --collect --------------------------------------------------- */

/* A comma list split in place into items (at most max); 0, or -1 when an item is empty. */
static int split_list(char *text, char **items, int max, int *n)
{
    *n = 0;
    for (char *item = text, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (!*item || *n == max)
            return -1;
        items[(*n)++] = item;
    }
    return 0;
}

static int listed_before(char *const *items, int i)
{
    for (int j = 0; j < i; j++)
        if (!strcmp(items[j], items[i]))
            return 1;
    return 0;
}

/* --model as a list: each one of REGBENCH_MODELS, none twice. text is split in place. */
static int parse_models(char *text, char **models, int *n, err_t *e)
{
    static const char *const known[] = {"mosaic", "gpt", "lstm", "ngram", "uniform"};
    if (split_list(text, models, 5, n) != 0)
        return err_set(e, "--model expects one of %s or a comma list of them, got '%s'", REGBENCH_MODELS, opts.model);
    for (int i = 0; i < *n; i++) {
        int ok = 0;
        for (int k = 0; k < 5; k++)
            ok |= !strcmp(models[i], known[k]);
        if (!ok)
            return err_set(e, "--model must be one of %s, got '%s'", REGBENCH_MODELS, models[i]);
        if (listed_before(models, i))
            return err_set(e, "--model lists '%s' twice", models[i]);
    }
    return 0;
}

/* --train-sizes (default: --train-size alone); sizes has room for every item. */
static int parse_sizes(long long *sizes, int max, int *n, err_t *e)
{
    if (!opts.train_sizes || !*opts.train_sizes) {
        sizes[0] = opts.train_size;
        *n = 1;
        return 0;
    }
    char *text = xstrdup(opts.train_sizes), **items = xmalloc((size_t)max * sizeof *items);
    int bad = split_list(text, items, max, n) != 0, twice = -1, rc = 0;
    for (int i = 0; i < *n && !bad && twice < 0; i++) {
        char *end;
        sizes[i] = strtoll(items[i], &end, 10);
        bad = *end || sizes[i] < 1 || sizes[i] > REGBENCH_MAX_SPLIT;
        if (!bad && listed_before(items, i))
            twice = i;
    }
    if (bad)
        rc = err_set(e, "--train-sizes expects a comma list of integers from 1 to %d, got '%s'", REGBENCH_MAX_SPLIT,
                     opts.train_sizes);
    else if (twice >= 0)
        rc = err_set(e, "--train-sizes lists %s twice", items[twice]);
    free(items);
    free(text);
    return rc;
}

/* The best row of each (model, training size) on validation, beside the points' tables. */
static const table_spec regbench_best = TABLE_SPEC("best.csv", regbench_columns);

/* Reads the points' tables in order, writes them all as the primary table and the best of each
 * (model, training size) as best.csv in best_dir (NULL: --out-dir). 1 on success. */
static int merge_points(driver *d, char *const *paths, int n, const char *best_dir)
{
    enum { C_MODEL, C_SIZE, C_VAL_LOSS = 10, C_TEST_ACC = 13, C_TEST_TVD };
    const int ncols = regbench_primary.ncols;
    regbench_table t;
    regbench_table_init(&t, regbench_columns, ncols);
    err_t e;
    int ok = 1;
    for (int i = 0; i < n && ok; i++)
        if (regbench_table_read(&t, paths[i], &e) != 0) {
            driver_error(d, "%s", e.msg);
            ok = 0;
        }
    int *best = xmalloc((size_t)(t.nrows + 1) * sizeof *best), nbest = ok ? regbench_table_best(&t, best) : 0;
    csv_writer *best_csv = NULL;
    if (ok)
        best_csv = best_dir ? driver_table_in(d, best_dir, &regbench_best) : driver_table(d, &regbench_best);
    ok = best_csv && driver_open_csv(d, &regbench_primary) == 0;
    if (ok) {
        regbench_table_write(&t, best, nbest, best_csv);
        regbench_table_write(&t, NULL, 0, d->csv);
        for (int b = 0; b < nbest; b++) {
            char *const *row = &t.cells[(size_t)best[b] * ncols];
            log_info(d->opt.quiet, "regbench: best %s at %s automata (row %d of %d): val_loss %s; test accuracy %s, TVD %s",
                     row[C_MODEL], row[C_SIZE], best[b] + 1, t.nrows, row[C_VAL_LOSS], row[C_TEST_ACC], row[C_TEST_TVD]);
        }
        log_info(d->opt.quiet, "regbench: %d rows; the best of each model and training size in %s/%s", t.nrows,
                 best_dir ? best_dir : d->opt.out_dir, regbench_best.file);
    }
    free(best);
    regbench_table_free(&t);
    return ok;
}

static int collect(driver *d)
{
    if (opts.emit_jobs || opts.describe || opts.export_path)
        return driver_usage_error(d, "--collect cannot be combined with --emit-jobs, --describe or --export");
    char **paths;
    int n;
    err_t e;
    if (regbench_point_files(opts.collect, &paths, &n, &e) != 0)
        return driver_usage_error(d, "%s", e.msg);
    int ok = merge_points(d, paths, n, opts.collect);
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return driver_end(d, ok);
}

/* Every point's model shape must make a model (heads dividing d was checked by the grid). */
static int check_points(const regbench_point *pts, int n, err_t *e)
{
    for (int i = 0; i < n; i++) {
        if (pts[i].use == REGBENCH_GRID_NONE)
            continue;
        lm_opts m = model_opts;
        m.arch = (char *)pts[i].model;
        m.pos = "learned";
        m.ctx = PFA_MAX_TOKENS;
        m.layers = pts[i].layers;
        m.d = pts[i].d;
        m.heads = pts[i].heads;
        lm_config c;
        err_t why;
        if (lm_opts_config(&m, PFA_VOCAB, &c, &why) != 0) {
            char what[256];
            regbench_point_describe(&pts[i], what, sizeof what);
            return err_set(e, "grid point %s: %s", what, why.msg);
        }
    }
    return 0;
}

/* --emit-jobs: the command lines on stdout or -o FILE (atomically). */
static int emit_jobs(driver *d, const regbench_sweep *s)
{
    err_t e;
    if (!strcmp(d->opt.output, "-"))
        return regbench_sweep_emit(s, stdout) == 0 && fflush(stdout) == 0;
    atomic_file *af = atomic_open(d->opt.output, &e);
    if (!af) {
        driver_error(d, "%s", e.msg);
        return 0;
    }
    if (regbench_sweep_emit(s, atomic_fp(af)) != 0) {
        atomic_abort(af);
        driver_error(d, "%s: write failed", d->opt.output);
        return 0;
    }
    if (atomic_commit(af, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return 0;
    }
    return 1;
}

/* --sweep: runs the points and merges their tables. */
static int run_sweep(driver *d, regbench_sweep *s, const regbench_grid *g, int nmodels, int nsizes)
{
    char grid[512];
    regbench_grid_describe(g, grid, sizeof grid);
    char ranks[64] = "";
    if (s->ranks > 1)
        snprintf(ranks, sizeof ranks, " on each of %d MPI ranks", s->ranks);
    log_info(d->opt.quiet, "regbench: sweeping %d points (%d model%s x %d training size%s x grid %s), %lld at a time%s "
                           "with %lld thread%s each",
             s->npoints, nmodels, nmodels == 1 ? "" : "s", nsizes, nsizes == 1 ? "" : "s", grid, opts.jobs, ranks,
             s->threads, s->threads == 1 ? "" : "s");
    if (driver_ready(d) != 0)   /* the points write into the run folder */
        return 0;
    if (s->ranks > 1) /* the points are single processes of their own, not ranks of this run */
        dist_hide_launcher();
    double failed = regbench_sweep_run(s, (int)opts.jobs);
    if (s->ranks > 1) {
        dist_sum_double(&failed, 1);   /* also waits for every rank's points before the merge */
        if (s->rank != 0)
            return failed == 0;
    }
    if (failed) {
        driver_error(d, "%d of %d points failed; the others' rows are in %s/point_*.csv (--collect %s merges them)",
                     (int)failed, s->npoints, d->opt.out_dir, d->opt.out_dir);
        return 0;
    }
    char **paths = xmalloc((size_t)s->npoints * sizeof *paths);
    for (int i = 0; i < s->npoints; i++) {
        char name[32];
        size_t len = strlen(d->opt.out_dir) + sizeof name + 8;
        regbench_point_name(s, i, name, sizeof name);
        paths[i] = xmalloc(len);
        snprintf(paths[i], len, "%s/%s.csv", d->opt.out_dir, name);
    }
    int ok = merge_points(d, paths, s->npoints, NULL);
    for (int i = 0; i < s->npoints; i++)
        free(paths[i]);
    free(paths);
    return ok;
}

/* The sweep's plan: the training sizes, the grid (--grid over the defaults in g) and its points,
 * every one of which must make a model. 0, or -1 with the usage error in e. */
static int sweep_plan(driver *d, char *const *models, int nmodels, regbench_grid *g, long long *sizes, int max_sizes,
                      int *nsizes, regbench_point **pts, int *npts, err_t *e)
{
    regbench_grid_use uses[5];
    for (int m = 0; m < nmodels; m++) {   /* heads only for a model that attends (not the lstm) */
        const lm_arch_ops *arch = model_arch(models[m]);
        uses[m] = !arch ? REGBENCH_GRID_NONE : arch->attends ? REGBENCH_GRID_ALL : REGBENCH_GRID_NO_HEADS;
    }
    if (parse_sizes(sizes, max_sizes, nsizes, e) != 0 ||
        (opts.grid && regbench_grid_load(g, opts.grid, regbench_options, REGBENCH_NOPTS, e) != 0))
        return -1;
    *npts = regbench_grid_points(g, (const char *const *)models, uses, nmodels, sizes, *nsizes, d->opt.quiet, pts, e);
    if (*npts < 0)
        return -1;
    if (*npts == 0)
        return err_set(e, "the grid has no point: heads divide d in none of its combinations");
    return check_points(*pts, *npts, e);
}

/* Runs (or, --emit-jobs, lists) every point, --jobs at a time, then writes the grid beside
 * config.yaml; 1 on success. */
static int sweep_run(driver *d, regbench_grid *g, const char *exe, const regbench_point *pts, int npts, int nmodels,
                     int nsizes)
{
    long long jobs = opts.jobs, threads = d->opt.threads;
    if (!opts.emit_jobs && jobs > threads) {
        log_info(d->opt.quiet, "regbench: --jobs %lld with --threads %lld: running %lld point%s at a time", jobs,
                 threads, threads, threads == 1 ? "" : "s");
        opts.jobs = jobs = threads;
    }
    regbench_sweep s = {.d = d, .exe = exe, .modes = regbench_modes, .points = pts, .npoints = npts,
                        .threads = threads / jobs > 1 ? threads / jobs : 1,
                        .quiet = d->opt.quiet || (!opts.emit_jobs && jobs > 1),
                        .out_dir = d->shared_out_dir ? d->shared_out_dir : d->opt.out_dir,
                        .rank = opts.emit_jobs ? 0 : dist_rank(), .ranks = opts.emit_jobs ? 1 : dist_size()};
    int ok = opts.emit_jobs ? emit_jobs(d, &s) : run_sweep(d, &s, g, nmodels, nsizes);
    char grid_path[4200];
    err_t e;
    if (ok && regbench_grid_write(g, driver_out_path(d, "grid.yaml", grid_path, sizeof grid_path), &e) != 0) {
        driver_error(d, "%s", e.msg);
        ok = 0;
    }
    return ok;
}

static int sweep(driver *d, char *const *models, int nmodels)
{
    if (opts.describe || opts.export_path)
        return driver_usage_error(d, "--describe and --export cannot be combined with --sweep or --emit-jobs");
    const int max_sizes = opts.train_sizes ? (int)strlen(opts.train_sizes) + 1 : 1;
    long long *sizes = xmalloc((size_t)max_sizes * sizeof *sizes);
    int nsizes, npts = 0, code;
    regbench_grid g;
    regbench_grid_default(&g, opts.lr, opts.epochs);
    regbench_point *pts = NULL;
    err_t e;
    char exe[4096];
    if (sweep_plan(d, models, nmodels, &g, sizes, max_sizes, &nsizes, &pts, &npts, &e) != 0) {
        code = driver_usage_error(d, "%s", e.msg);
    } else if (spawn_self_path(exe, sizeof exe, &e) != 0) {
        driver_error(d, "%s", e.msg);
        code = driver_end(d, 0);
    } else {
        code = driver_end(d, sweep_run(d, &g, exe, pts, npts, nmodels, nsizes));
    }
    free(pts);
    free(sizes);
    regbench_grid_free(&g);
    return code;
}

/* One run: a model evaluated (trained first unless it is fitted in context), or the data views. */
static int run_one(driver *d)
{
    const int data_only = opts.describe || opts.export_path;
    if (!data_only && !is_reference_model(opts.model)) {
        lm_config c;
        err_t e;
        if (trained_config(&c, &e) != 0)
            return driver_usage_error(d, "%s", e.msg);
        device_kind dev;
        int bf16, rc = driver_check_batch(d, opts.batch);
        if (!rc)
            rc = trained_device(d, lm_arch_table(c.arch)->cpu_only ? opts.model : NULL, &dev, &bf16);
        /* GPU ranks: NCCL joined on every rank before any work (docs/distributed.md, "GPUs") */
        if (!rc && dist_open_device(dev, &e) != 0) {
            driver_error(d, "%s", e.msg);
            rc = 1;
        }
        if (rc) {
            driver_end(d, 0);
            return rc;
        }
    }
    /* Only trained models and the data views use the training set; the others skip drawing it (the
     * validation and test sets do not depend on it). */
    const int n_train = data_only || !is_reference_model(opts.model) ? (int)opts.train_size : 0;
    double t0 = progress_now();
    pfa_dataset ds;
    pfa_dataset_generate(&ds, (uint64_t)d->opt.seed, n_train, (int)opts.val_size, (int)opts.test_size);
    log_info(d->opt.quiet, "regbench: drew %d training, %d validation and %d test automata in %.2f s", n_train,
             (int)opts.val_size, (int)opts.test_size, progress_now() - t0);
    int ok = 1;
    if (data_only) {
        if (opts.export_path && export_data(d, &ds) != 0)
            ok = 0;
        if (ok && opts.describe && describe(d, &ds) != 0)
            ok = 0;
    } else {
        ok = is_reference_model(opts.model) ? run_reference(d, &ds) : run_trained(d, &ds);
    }
    pfa_dataset_free(&ds);
    return driver_end(d, ok);
}

int cmd_regbench(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &regbench_spec, argc, argv, &code) != 0)
        return code;
    if (opts.export_path && !*opts.export_path)
        return driver_usage_error(&d, "--export needs a file name");
    if (opts.collect)
        return collect(&d);
    char *model_text = xstrdup(opts.model), *models[5];
    int nmodels;
    err_t e;
    const char *cpu_only = NULL;
    int trained = 0;
    device_kind dev;
    int bf16;
    if (parse_models(model_text, models, &nmodels, &e) != 0) {
        code = driver_usage_error(&d, "%s", e.msg);
        goto out;
    }
    for (int m = 0; m < nmodels; m++) {
        const lm_arch_ops *arch = model_arch(models[m]);
        if (arch && arch->cpu_only)
            cpu_only = models[m];
        trained |= arch != NULL;
    }
    if (trained && (opts.sweep || opts.emit_jobs) && (code = trained_device(&d, cpu_only, &dev, &bf16)) != 0)
        driver_end(&d, 0);   /* a sweep checks once, before its points start */
    else if (opts.sweep || opts.emit_jobs)
        code = sweep(&d, models, nmodels);
    else if (nmodels > 1)
        code = driver_usage_error(&d, "--model takes one model unless --sweep or --emit-jobs is given");
    else if (opts.grid || opts.train_sizes || opts.jobs > 1)
        code = driver_usage_error(&d, "--%s needs --sweep or --emit-jobs",
                           opts.grid ? "grid" : opts.train_sizes ? "train-sizes" : "jobs");
    else
        code = run_one(&d);
out:
    free(model_text);
    return code;
}

const command regbench_command = {&regbench_spec, NULL, cmd_regbench, 1};
