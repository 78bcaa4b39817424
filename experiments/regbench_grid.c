/* The grid of a RegBench sweep: its axes, the YAML grid file that trims them, and its points. */
#include "regbench_grid.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "io/config.h"
#include "io/limits.h"
#include "io/progress.h"

/* The option each axis sets, and whether its values are integers. */
static const struct {
    const char *name;
    int is_int;
} axis_info[REGBENCH_NAXES] = {
    [REGBENCH_AXIS_LAYERS] = {"layers", 1}, [REGBENCH_AXIS_D] = {"d", 1},   [REGBENCH_AXIS_HEADS] = {"heads", 1},
    [REGBENCH_AXIS_LR] = {"lr", 0},         [REGBENCH_AXIS_WD] = {"wd", 0}, [REGBENCH_AXIS_EPOCHS] = {"epochs", 1},
};

static void axis_set(regbench_axis *a, const double *v, int n)
{
    free(a->v);
    a->v = xmalloc((size_t)n * sizeof *a->v);
    memcpy(a->v, v, (size_t)n * sizeof *v);
    a->n = n;
}

void regbench_grid_default(regbench_grid *g, double lr, long long epochs)
{
    memset(g, 0, sizeof *g);
    axis_set(&g->ax[REGBENCH_AXIS_LAYERS], (const double[]){1, 2, 4, 8}, 4);
    axis_set(&g->ax[REGBENCH_AXIS_D], (const double[]){64, 128, 256}, 3);
    axis_set(&g->ax[REGBENCH_AXIS_HEADS], (const double[]){2, 4, 8}, 3);
    axis_set(&g->ax[REGBENCH_AXIS_LR], &lr, 1);
    axis_set(&g->ax[REGBENCH_AXIS_WD], (const double[]){1e-2, 1e-1}, 2);
    axis_set(&g->ax[REGBENCH_AXIS_EPOCHS], (const double[]){(double)epochs}, 1);
}

void regbench_grid_free(regbench_grid *g)
{
    for (int i = 0; i < REGBENCH_NAXES; i++)
        free(g->ax[i].v);
    memset(g, 0, sizeof *g);
}

void regbench_format_number(double v, int is_int, char *buf, size_t len)
{
    if (is_int)
        snprintf(buf, len, "%lld", (long long)v);
    else if (snprintf(buf, len, "%.15g", v) > 0 && strtod(buf, NULL) != v)
        snprintf(buf, len, "%.17g", v);
}

static const opt_spec *find_opt(const opt_spec *opts, int nopts, const char *name)
{
    for (int i = 0; i < nopts; i++)
        if (!strcmp(opts[i].name, name))
            return &opts[i];
    fatal("internal: regbench grid: no option --%s", name);
}

/* One list item of key k: a number within the option's range, not listed before. */
static int parse_item(const char *path, const config_entry *c, int k, const opt_spec *o, const char *item,
                      const double *prev, int nprev, double *out, err_t *e)
{
    char *end;
    double v = strtod(item, &end);
    if (!*item || *end || !isfinite(v) || (axis_info[k].is_int && v != floor(v)))
        return err_set(e, "%s:%d: key '%s' expects %s, got '%s'", path, c->line, c->key,
                       axis_info[k].is_int ? "integers" : "numbers", item);
    if (v < o->min || v > o->max)
        return err_set(e, "%s:%d: key '%s' must be %s %g, got %s", path, c->line, c->key, v < o->min ? ">=" : "<=",
                       v < o->min ? o->min : o->max, item);
    for (int i = 0; i < nprev; i++)
        if (prev[i] == v)
            return err_set(e, "%s:%d: key '%s' lists %s twice", path, c->line, c->key, item);
    *out = v;
    return 0;
}

/* The values of one entry ("1,2,4": config.c joins a list with ','). */
static int parse_entry(const char *path, const config_entry *c, int k, const opt_spec *o, regbench_axis *a, err_t *e)
{
    if (c->is_null || !*c->value)
        return err_set(e, "%s:%d: key '%s' needs a non-empty list of values", path, c->line, c->key);
    int cap = 1;
    for (const char *s = c->value; *s; s++)
        cap += *s == ',';
    double *v = xmalloc((size_t)cap * sizeof *v);
    int n = 0, rc = 0;
    char *text = xstrdup(c->value);
    for (char *item = text, *next; item && rc == 0; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        rc = parse_item(path, c, k, o, item, v, n, &v[n], e);
        n += rc == 0;
    }
    if (rc == 0)
        axis_set(a, v, n);
    free(text);
    free(v);
    return rc;
}

int regbench_grid_load(regbench_grid *g, const char *path, const opt_spec *opts, int nopts, err_t *e)
{
    config_entry *entries;
    int n;
    if (config_load(path, &entries, &n, e) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int k = 0;
        while (k < REGBENCH_NAXES && strcmp(entries[i].key, axis_info[k].name))
            k++;
        if (k == REGBENCH_NAXES)
            rc = err_set(e, "%s:%d: unknown key '%s' (a grid lists layers, d, heads, lr, wd, epochs)", path,
                         entries[i].line, entries[i].key);
        else
            rc = parse_entry(path, &entries[i], k, find_opt(opts, nopts, axis_info[k].name), &g->ax[k], e);
    }
    config_free(entries, n);
    return rc;
}

/* An axis as config.c's list text: "1,2,4". */
static char *axis_text(const regbench_axis *a, int k)
{
    size_t len = (size_t)a->n * 32 + 1, used = 0;
    char *s = xmalloc(len);
    s[0] = '\0';
    for (int i = 0; i < a->n; i++) {
        char num[32];
        regbench_format_number(a->v[i], axis_info[k].is_int, num, sizeof num);
        used += (size_t)snprintf(s + used, len - used, "%s%s", i ? "," : "", num);
    }
    return s;
}

int regbench_grid_write(const regbench_grid *g, const char *path, err_t *e)
{
    config_entry entries[REGBENCH_NAXES];
    for (int k = 0; k < REGBENCH_NAXES; k++)
        entries[k] = (config_entry){.key = (char *)axis_info[k].name, .value = axis_text(&g->ax[k], k), .is_seq = 1};
    atomic_file *af = atomic_open(path, e);
    int rc = -1;
    if (af) {
        fputs("# memlab regbench: the grid swept (reusable with --grid)\n", atomic_fp(af));
        if (config_write_yaml(atomic_fp(af), entries, REGBENCH_NAXES) != 0) {
            atomic_abort(af);
            err_set(e, "%s: write failed", path);
        } else {
            rc = atomic_commit(af, e);
        }
    }
    for (int k = 0; k < REGBENCH_NAXES; k++)
        free(entries[k].value);
    return rc;
}

void regbench_grid_describe(const regbench_grid *g, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < REGBENCH_NAXES && used < len; k++) {
        char *s = axis_text(&g->ax[k], k);
        used += (size_t)snprintf(buf + used, len - used, "%s%s {%s}", k ? " " : "", axis_info[k].name, s);
        free(s);
    }
}

/* The most points the sweep can have (every model taking every axis), saturating instead of
 * overflowing; 0 with e filled above LIMIT_SWEEP_POINTS, naming the factors. */
static int points_bound(const regbench_grid *g, int nmodels, int nsizes, int *per_size, err_t *e)
{
    uint64_t n = (uint64_t)nmodels * (uint64_t)nsizes, grid = 1;
    for (int k = 0; k < REGBENCH_NAXES; k++)
        if (__builtin_mul_overflow(grid, (uint64_t)g->ax[k].n, &grid))
            grid = UINT64_MAX;
    if (__builtin_mul_overflow(n, grid, &n) || n > LIMIT_SWEEP_POINTS) {
        char axes[512] = "";
        size_t used = 0;
        for (int k = 0; k < REGBENCH_NAXES && used < sizeof axes; k++)
            used += (size_t)snprintf(axes + used, sizeof axes - used, " x %d %s", g->ax[k].n, axis_info[k].name);
        err_set(e, "the sweep has up to %.3g points (%d model%s x %d training size%s%s), more than the %d a sweep may "
                   "have", (double)nmodels * nsizes * (double)grid, nmodels, nmodels == 1 ? "" : "s", nsizes,
                nsizes == 1 ? "" : "s", axes, LIMIT_SWEEP_POINTS);
        return 0;
    }
    *per_size = (int)grid;
    return 1;
}

int regbench_grid_points(const regbench_grid *g, const char *const *models, const regbench_grid_use *uses, int nmodels,
                         const long long *sizes, int nsizes, int quiet, regbench_point **out, err_t *e)
{
    const regbench_axis *ax = g->ax;
    int per_size;
    *out = NULL;
    if (!points_bound(g, nmodels, nsizes, &per_size, e))
        return -1;
    regbench_point *pts = xmalloc((size_t)nmodels * (size_t)nsizes * (size_t)per_size * sizeof *pts);
    /* the (d, heads) pairs reported */
    char *noted = xcalloc((size_t)ax[REGBENCH_AXIS_D].n * ax[REGBENCH_AXIS_HEADS].n, 1);
    int n = 0;
    for (int m = 0; m < nmodels; m++)
        for (int s = 0; s < nsizes; s++) {
            if (uses[m] == REGBENCH_GRID_NONE) {
                pts[n++] = (regbench_point){.model = models[m], .use = uses[m], .train_size = sizes[s]};
                continue;
            }
            /* an odometer over the axes, the last one turning fastest */
            int idx[REGBENCH_NAXES] = {0};
            for (int p = 0; p < per_size; p++) {
                for (int k = REGBENCH_NAXES - 1, q = p; k >= 0; q /= ax[k].n, k--)
                    idx[k] = q % ax[k].n;
                regbench_point pt = {.model = models[m], .use = uses[m], .train_size = sizes[s],
                                     .layers = (long long)ax[REGBENCH_AXIS_LAYERS].v[idx[REGBENCH_AXIS_LAYERS]],
                                     .d = (long long)ax[REGBENCH_AXIS_D].v[idx[REGBENCH_AXIS_D]],
                                     .heads = (long long)ax[REGBENCH_AXIS_HEADS].v[idx[REGBENCH_AXIS_HEADS]],
                                     .lr = ax[REGBENCH_AXIS_LR].v[idx[REGBENCH_AXIS_LR]],
                                     .wd = ax[REGBENCH_AXIS_WD].v[idx[REGBENCH_AXIS_WD]],
                                     .epochs = (long long)ax[REGBENCH_AXIS_EPOCHS].v[idx[REGBENCH_AXIS_EPOCHS]]};
                if (uses[m] == REGBENCH_GRID_NO_HEADS) {
                    if (idx[REGBENCH_AXIS_HEADS] != 0)   /* the heads axis collapses to one point */
                        continue;
                    pt.heads = 1;
                } else if (pt.d % pt.heads != 0) {
                    char *seen = &noted[idx[REGBENCH_AXIS_D] * ax[REGBENCH_AXIS_HEADS].n + idx[REGBENCH_AXIS_HEADS]];
                    if (!*seen)
                        log_info(quiet, "regbench: skipping the grid points with d %lld and heads %lld (heads must "
                                        "divide d)", pt.d, pt.heads);
                    *seen = 1;
                    continue;
                }
                pts[n++] = pt;
            }
        }
    free(noted);
    if (n == 0) {
        free(pts);
        pts = NULL;
    }
    *out = pts;
    return n;
}

void regbench_point_describe(const regbench_point *p, char *buf, size_t len)
{
    int used = snprintf(buf, len, "%s at %lld automata", p->model, p->train_size);
    if (p->use == REGBENCH_GRID_NONE || used < 0 || (size_t)used >= len)
        return;
    char lr[32], wd[32], heads[32] = "";
    regbench_format_number(p->lr, 0, lr, sizeof lr);
    regbench_format_number(p->wd, 0, wd, sizeof wd);
    if (p->use == REGBENCH_GRID_ALL)
        snprintf(heads, sizeof heads, ", heads %lld", p->heads);
    snprintf(buf + used, len - (size_t)used, ", layers %lld, d %lld%s, lr %s, wd %s, epochs %lld", p->layers, p->d,
             heads, lr, wd, p->epochs);
}
