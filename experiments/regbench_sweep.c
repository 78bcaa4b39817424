/* Running a RegBench sweep: one command line per grid point, run here in child processes (--sweep,
 * --jobs) or printed for another runner (--emit-jobs); then the points' tables merged, and the best
 * point of each model and training size picked on validation (also --collect). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/gzfile.h"
#include "io/progress.h"
#include "io/spawn.h"
#include "regbench_grid.h"


/* ---- a point's command line ------------------------------------------------------------------ */

typedef struct {
    char **v;
    int n, cap;
} strv;

static void strv_push(strv *a, const char *s)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        a->v = xrealloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = s ? xstrdup(s) : NULL;
}

static void strv_option(strv *a, const char *flag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void strv_option(strv *a, const char *flag, const char *fmt, ...)
{
    char buf[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    strv_push(a, flag);
    strv_push(a, buf);
}

static void strv_free(strv *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

static int in_list(const char *const *names, const char *name)
{
    for (; names && *names; names++)
        if (!strcmp(*names, name))
            return 1;
    return 0;
}

/* The options a point's own settings give. */
static const char *const point_options[] = {"model", "train-size", "layers", "d", "heads", "lr", "wd", "epochs", NULL};

void regbench_point_name(const regbench_sweep *s, int i, char *buf, size_t len)
{
    int width = 3;
    for (int n = s->npoints - 1; n >= 1000; n /= 10)
        width++;
    if (snprintf(buf, len, "point_%0*d", width, i) >= (int)len)
        fatal("internal: point name longer than %zu", len);
}

/* Every option of the command, as resolved, that is neither one of a point's own (its model and
 * shape) nor one of modes (what makes this process a sweep rather than a point). */
static void push_options(strv *a, const cmd_spec *spec, const char *const *modes)
{
    char num[64];
    for (int k = 0; k < spec->nopts; k++) {
        const opt_spec *o = &spec->opts[k];
        if (in_list(point_options, o->name) || in_list(modes, o->name))
            continue;
        char flag[80];
        snprintf(flag, sizeof flag, "--%s", o->name);
        switch (o->type) {
        case OPT_INT: strv_option(a, flag, "%lld", *(const long long *)o->dest); break;
        case OPT_DOUBLE:
            regbench_format_number(*(const double *)o->dest, 0, num, sizeof num);
            strv_option(a, flag, "%s", num);
            break;
        case OPT_STRING:
            if (*(char *const *)o->dest)
                strv_option(a, flag, "%s", *(char *const *)o->dest);
            break;
        case OPT_BOOL: strv_option(a, flag, "%s", *(const int *)o->dest ? "on" : "off"); break;
        case OPT_FLAG:
            if (*(const int *)o->dest)
                strv_push(a, flag);
            break;
        }
    }
}

/* argv of point i, NULL-terminated. */
static void point_argv(const regbench_sweep *s, int i, strv *a)
{
    const regbench_point *p = &s->points[i];
    const cmd_spec *spec = s->d->spec;
    char num[64], name[32];
    strv_push(a, s->exe);
    strv_push(a, spec->command);
    strv_option(a, "--model", "%s", p->model);
    strv_option(a, "--train-size", "%lld", p->train_size);
    if (p->use != REGBENCH_GRID_NONE) {
        strv_option(a, "--layers", "%lld", p->layers);
        strv_option(a, "--d", "%lld", p->d);
        strv_option(a, "--heads", "%lld", p->heads);
        regbench_format_number(p->lr, 0, num, sizeof num);
        strv_option(a, "--lr", "%s", num);
        regbench_format_number(p->wd, 0, num, sizeof num);
        strv_option(a, "--wd", "%s", num);
        strv_option(a, "--epochs", "%lld", p->epochs);
    }
    push_options(a, spec, s->modes);
    strv_option(a, "--seed", "%lld", s->d->opt.seed);
    strv_option(a, "--threads", "%lld", s->threads);
    if (s->quiet)
        strv_push(a, "--quiet");
    /* a sweep told to write over its folder writes over its points' folders too (docs/outputs.md) */
    if (s->d->opt.force)
        strv_push(a, "--force");
    regbench_point_name(s, i, name, sizeof name);
    strv_option(a, "-o", "%s/%s.csv", s->out_dir, name);
    strv_option(a, "--out-dir", "%s/%s", s->out_dir, name);
    strv_push(a, NULL);
}

/* A word as a POSIX shell reads it back: plain when it holds only safe characters, else in single
 * quotes (a quote inside written as '\''). */
static void shell_word(FILE *f, const char *s)
{
    if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./_-") == strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

int regbench_sweep_emit(const regbench_sweep *s, FILE *f)
{
    for (int i = 0; i < s->npoints; i++) {
        strv a = {0};
        point_argv(s, i, &a);
        for (int k = 0; a.v[k]; k++) {
            if (k)
                fputc(' ', f);
            shell_word(f, a.v[k]);
        }
        fputc('\n', f);
        strv_free(&a);
    }
    return ferror(f) ? -1 : 0;
}

/* ---- running the points ------------------------------------------------------------------------ */

/* A point's failure: every rank reports its own (driver_error speaks for rank 0 alone). */
static void sweep_error(const regbench_sweep *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sweep_error(const regbench_sweep *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->ranks > 1)
        fprintf(stderr, "memlab: %s: rank %d: %s\n", s->d->spec->command, s->rank, msg);
    else
        driver_error(s->d, "%s", msg);
}

/* Starts point i; its stdout goes to /dev/null (the parent's stdout carries the merged table). */
static pid_t point_start(const regbench_sweep *s, int i)
{
    strv a = {0};
    point_argv(s, i, &a);
    spawn_child c;
    err_t e;
    int rc = spawn_start(SPAWN_SELF, a.v, SPAWN_OUT_NULL, &c, &e);
    strv_free(&a);
    if (rc != 0) {
        char name[32];
        regbench_point_name(s, i, name, sizeof name);
        sweep_error(s, "%s: %s", name, e.msg);
        return -1;
    }
    return c.pid;
}

/* The number of points this rank runs. */
static int mine(const regbench_sweep *s)
{
    return s->ranks > 1 ? (s->npoints - s->rank + s->ranks - 1) / s->ranks : s->npoints;
}

static void point_report(const regbench_sweep *s, int i, int status, double seconds, int done, int *failed)
{
    char name[32], what[256], why[64];
    regbench_point_name(s, i, name, sizeof name);
    regbench_point_describe(&s->points[i], what, sizeof what);
    if (spawn_ok(status)) {
        log_info(s->d->opt.quiet, "regbench: %s (%d/%d) done in %.1f s: %s", name, done, mine(s), seconds, what);
        return;
    }
    ++*failed;
    sweep_error(s, "%s failed (%s): %s", name, spawn_status_str(status, why, sizeof why), what);
}

int regbench_sweep_run(const regbench_sweep *s, int jobs)
{
    pid_t *pid = xcalloc((size_t)s->npoints, sizeof *pid);   /* 0: not running */
    double *t0 = xcalloc((size_t)s->npoints, sizeof *t0);
    const int step = s->ranks > 1 ? s->ranks : 1;
    int next = s->ranks > 1 ? s->rank : 0, running = 0, done = 0, failed = 0;
    while (next < s->npoints || running > 0) {
        while (running < jobs && next < s->npoints) {
            t0[next] = progress_now();
            if ((pid[next] = point_start(s, next)) > 0) {
                running++;
            } else {
                pid[next] = 0;
                failed++;
                done++;
            }
            next += step;
        }
        if (running == 0)
            continue;
        int status;
        err_t e;
        pid_t p = spawn_wait(-1, &status, NULL, &e);
        if (p < 0)
            fatal("regbench: the sweep's points: %s", e.msg);
        for (int i = 0; i < next && i < s->npoints; i++)
            if (pid[i] == p) {
                pid[i] = 0;
                running--;
                point_report(s, i, status, progress_now() - t0[i], ++done, &failed);
                break;
            }
    }
    free(pid);
    free(t0);
    return failed;
}

/* ---- merging the points' tables ---------------------------------------------------------------- */

void regbench_table_init(regbench_table *t, const char *const *cols, int ncols)
{
    memset(t, 0, sizeof *t);
    t->cols = cols;
    t->ncols = ncols;
}

void regbench_table_free(regbench_table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

static int header_matches(const regbench_table *t, const char *line)
{
    for (int c = 0; c < t->ncols; c++) {
        size_t n = strlen(t->cols[c]);
        if (strncmp(line, t->cols[c], n) || line[n] != (c + 1 < t->ncols ? ',' : '\0'))
            return 0;
        line += n + 1;
    }
    return 1;
}

/* One data line: exactly ncols cells, none quoted (no regbench cell needs quotes). */
static int table_add_row(regbench_table *t, char *line, const char *path, int lineno, err_t *e)
{
    int commas = 0;
    for (const char *c = line; *c; c++)
        commas += *c == ',';
    if (strchr(line, '"'))
        return err_set(e, "%s:%d: quoted cells are not expected in a regbench table", path, lineno);
    if (commas != t->ncols - 1)
        return err_set(e, "%s:%d: %d cells, expected %d", path, lineno, commas + 1, t->ncols);
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->cells = xrealloc(t->cells, (size_t)t->cap * t->ncols * sizeof *t->cells);
    }
    char **row = &t->cells[(size_t)t->nrows++ * t->ncols];
    for (int c = 0; c < t->ncols; c++) {
        char *comma = strchr(line, ',');
        if (comma)
            *comma = '\0';
        row[c] = xstrdup(line);
        if (comma)
            line = comma + 1;
    }
    return 0;
}

int regbench_table_read(regbench_table *t, const char *path, err_t *e)
{
    size_t len;
    char *text = file_read_all(path, &len, e);
    if (!text)
        return -1;
    int lineno = 0, rc = 0;
    for (char *s = text, *nl; *s && rc == 0; s = nl ? nl + 1 : s + strlen(s)) {
        nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        size_t n = strlen(s);
        if (n && s[n - 1] == '\r')
            s[n - 1] = '\0';
        if (++lineno == 1 && !header_matches(t, s))
            rc = err_set(e, "%s:1: not a regbench table (the header differs)", path);
        else if (lineno > 1 && *s)
            rc = table_add_row(t, s, path, lineno, e);
    }
    if (rc == 0 && lineno == 0)
        rc = err_set(e, "%s: empty file, expected a regbench table", path);
    free(text);
    return rc;
}

typedef struct {
    long number;
    char *path;
} point_file;

static int by_number(const void *a, const void *b)
{
    long x = ((const point_file *)a)->number, y = ((const point_file *)b)->number;
    return (x > y) - (x < y);
}

int regbench_point_files(const char *dir, char ***paths, int *n, err_t *e)
{
    *paths = NULL;
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return err_set(e, "--collect %s: %s", dir, strerror(errno));
    point_file *files = NULL;
    int nf = 0, cap = 0;
    for (struct dirent *de; (de = readdir(dp));) {
        const char *name = de->d_name;
        size_t digits = strncmp(name, "point_", 6) ? 0 : strspn(name + 6, "0123456789");
        if (!digits || strcmp(name + 6 + digits, ".csv"))
            continue;
        if (nf == cap) {
            cap = cap ? 2 * cap : 64;
            files = xrealloc(files, (size_t)cap * sizeof *files);
        }
        files[nf].number = strtol(name + 6, NULL, 10);
        size_t len = strlen(dir) + strlen(name) + 2;
        files[nf].path = xmalloc(len);
        snprintf(files[nf].path, len, "%s/%s", dir, name);
        nf++;
    }
    closedir(dp);
    if (nf == 0)
        return err_set(e, "--collect %s: no point_NNN.csv files there", dir);
    qsort(files, (size_t)nf, sizeof *files, by_number);
    *paths = xmalloc((size_t)nf * sizeof **paths);
    for (int i = 0; i < nf; i++)
        (*paths)[i] = files[i].path;
    free(files);
    *n = nf;
    return 0;
}

static int column_of(const regbench_table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], name))
            return c;
    fatal("internal: regbench table has no column %s", name);
}

int regbench_table_best(const regbench_table *t, int *best)
{
    const int cm = column_of(t, "model"), cn = column_of(t, "train_size"), cp = column_of(t, "params"),
              cl = column_of(t, "val_loss");
    int nbest = 0;
    for (int r = 0; r < t->nrows; r++) {
        char *const *row = &t->cells[(size_t)r * t->ncols], *end;
        double loss = strtod(row[cl], &end);
        if (!*row[cl] || *end)
            continue;
        int g = 0;
        while (g < nbest && (strcmp(t->cells[(size_t)best[g] * t->ncols + cm], row[cm]) ||
                             strcmp(t->cells[(size_t)best[g] * t->ncols + cn], row[cn])))
            g++;
        if (g == nbest) {
            best[nbest++] = r;
            continue;
        }
        char *const *cur = &t->cells[(size_t)best[g] * t->ncols];
        double cur_loss = strtod(cur[cl], NULL);
        if (loss < cur_loss || (loss == cur_loss && atoll(row[cp]) < atoll(cur[cp])))
            best[g] = r;
    }
    return nbest;
}

void regbench_table_write(const regbench_table *t, const int *rows, int n, csv_writer *w)
{
    csv_cell *cells = xmalloc((size_t)t->ncols * sizeof *cells);
    for (int i = 0; i < (rows ? n : t->nrows); i++) {
        char *const *row = &t->cells[(size_t)(rows ? rows[i] : i) * t->ncols];
        for (int c = 0; c < t->ncols; c++)
            cells[c] = cell_str(row[c]);
        csv_write_row(w, cells, t->ncols);
    }
    free(cells);
}
