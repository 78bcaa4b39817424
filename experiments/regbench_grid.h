/* Hyper-parameter sweeps for memlab regbench (--sweep, --jobs, --emit-jobs, --collect): the grid
 * (the paper's search space, trimmed by a YAML grid file), its points, the command line that trains
 * one point, running those in child processes, and merging their one-row tables into one table and
 * the best row of each (model, training size) on validation. regbench.c owns the options; this
 * file knows the option names of the swept settings but not what training does. */
#ifndef MEMLAB_EXPERIMENTS_REGBENCH_GRID_H
#define MEMLAB_EXPERIMENTS_REGBENCH_GRID_H

#include <stdio.h>

#include "driver.h"

/* The swept settings besides the model and the training size, outer to inner in the sweep's order
 * (the primary table's column order). */
enum {
    REGBENCH_AXIS_LAYERS,
    REGBENCH_AXIS_D,
    REGBENCH_AXIS_HEADS,
    REGBENCH_AXIS_LR,
    REGBENCH_AXIS_WD,
    REGBENCH_AXIS_EPOCHS,
    REGBENCH_NAXES
};

typedef struct {
    double *v;   /* the values, in the order they are swept; integers for all but lr and wd */
    int n;
} regbench_axis;

typedef struct {
    regbench_axis ax[REGBENCH_NAXES];
} regbench_grid;

/* The paper's search space (docs/regbench.md#what-the-paper-specifies): layers {1, 2, 4, 8}, d {64, 128, 256}, heads {2, 4, 8},
 * weight decay {1e-2, 1e-1}; lr and epochs: the one value given. */
void regbench_grid_default(regbench_grid *g, double lr, long long epochs);
/* Replaces every axis that the file lists ("layers: [1, 2]"; a single value is a list of one).
 * Values are checked against the ranges of the options of the same name in opts. -1 with a
 * message naming the file, line and key ("grid.yaml:2: key 'layers' must be >= 1, got 0"). */
int regbench_grid_load(regbench_grid *g, const char *path, const opt_spec *opts, int nopts, err_t *e);
/* The grid as a YAML grid file (loadable again with --grid), atomically. */
int regbench_grid_write(const regbench_grid *g, const char *path, err_t *e);
/* "layers {1,2} d {64} ..." for log messages. */
void regbench_grid_describe(const regbench_grid *g, char *buf, size_t len);
void regbench_grid_free(regbench_grid *g);

/* A value as an option takes it: integers plainly, others in the shortest form that reads back. */
void regbench_format_number(double v, int is_int, char *buf, size_t len);

/* What a model takes from the grid: nothing (fitted in context: one point per training size), all
 * but heads (the lstm), or every axis. */
typedef enum { REGBENCH_GRID_NONE, REGBENCH_GRID_NO_HEADS, REGBENCH_GRID_ALL } regbench_grid_use;

typedef struct {
    const char *model;
    regbench_grid_use use;
    long long train_size;
    long long layers, d, heads, epochs;   /* unused (0) for a model fitted in context */
    double lr, wd;
} regbench_point;

/* Every point, models outermost, then training sizes, then the axes in enum order. Points whose
 * heads do not divide d are left out with a note on stderr (once per pair) unless quiet. Returns
 * the number of points (*out malloc'd, NULL when none); the model strings are borrowed. -1 with e
 * filled, before anything is allocated, when the sweep would have more than LIMIT_SWEEP_POINTS
 * points (limits.h). */
int regbench_grid_points(const regbench_grid *g, const char *const *models, const regbench_grid_use *uses, int nmodels,
                         const long long *sizes, int nsizes, int quiet, regbench_point **out, err_t *e);
/* "mosaic at 100 automata, layers 2, d 64, heads 4, lr 0.002, wd 0.1, epochs 30" */
void regbench_point_describe(const regbench_point *p, char *buf, size_t len);

/* A sweep as run (--sweep) or printed (--emit-jobs). A point's command line is the binary, the
 * command, the point's settings, and every other option of the command with its resolved value
 * except the `modes` (the options that choose what to do rather than describe one run), then
 * --seed, --threads, --quiet, and -o DIR/point_NNN.csv --out-dir DIR/point_NNN under --out-dir. */
typedef struct {
    driver *d;
    const char *exe;                 /* the memlab binary (/proc/self/exe resolved) */
    const char *const *modes;        /* NULL-terminated option names left out of a point's line */
    const regbench_point *points;
    int npoints;
    long long threads;               /* --threads of each point */
    int quiet;                       /* --quiet on each point's line */
    const char *out_dir;             /* where the points write (every rank's: the shared --out-dir) */
    int rank, ranks;                 /* MPI ranks: this one runs points rank, rank + ranks, ... */
} regbench_sweep;

/* The file stem of point i: "point_007" (at least 3 digits, enough for every point). */
void regbench_point_name(const regbench_sweep *s, int i, char *buf, size_t len);
/* One shell-quoted command line per point. -1 on a write error. */
int regbench_sweep_emit(const regbench_sweep *s, FILE *f);
/* Runs this rank's points (every point for one rank), `jobs` at a time, as child processes of this
 * binary; each writes its row to DIR/point_NNN.csv. A point that fails is reported with its
 * settings; the others still run. Returns the number of this rank's points that failed. */
int regbench_sweep_run(const regbench_sweep *s, int jobs);

/* The merged rows of one-row (or longer) tables with the same header, as text (cells copied
 * verbatim, so the merged table reads as the parts did). */
typedef struct {
    const char *const *cols;
    int ncols;
    char **cells;   /* nrows x ncols, owned */
    int nrows, cap;
} regbench_table;

void regbench_table_init(regbench_table *t, const char *const *cols, int ncols);
/* Appends the rows of a CSV file whose header must be cols. -1 with "FILE:LINE: ..." in e. */
int regbench_table_read(regbench_table *t, const char *path, err_t *e);
/* The point_NNN.csv files of dir, in point order (numeric). -1 with e filled when dir cannot be
 * read or holds none. */
int regbench_point_files(const char *dir, char ***paths, int *n, err_t *e);
/* The row chosen for each (model, train_size), in order of first appearance: the lowest val_loss
 * (as written; an empty cell never wins); a tie goes to fewer params, then to the earlier row.
 * Returns the number of rows written to best (room for nrows). */
int regbench_table_best(const regbench_table *t, int *best);
/* Rows (all when rows is NULL) into w. */
void regbench_table_write(const regbench_table *t, const int *rows, int n, csv_writer *w);
void regbench_table_free(regbench_table *t);

#endif
