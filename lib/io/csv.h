/* CSV tables (RFC 4180 quoting, valid UTF-8, a header row, numbers with %.6g). A file is written atomically;
 * stdout is flushed after every row so that a pipeline sees progress. */
#ifndef MEMLAB_IO_CSV_H
#define MEMLAB_IO_CSV_H

#include "core/error.h"

typedef struct csv_writer csv_writer;

/* path NULL or "-" writes to stdout. Writes the header row at once. */
csv_writer *csv_open(const char *path, const char *const *columns, int ncols, err_t *e);
/* csv_open, and every row also goes to copy_path (committed and dropped with the main file); no copy
 * when copy_path is NULL or the same path. */
csv_writer *csv_open_copy(const char *path, const char *copy_path, const char *const *columns, int ncols,
                          err_t *e);
/* A training curve (docs/design.md, "Output and errors"): written straight to path as the run goes,
 * every row flushed, and left on disk however the run ends (csv_abort keeps it: its rows are true
 * measurements), so that Ctrl-C or a crash keeps the curve so far; no temporary file. append: the
 * rows go after those already in the file, whose header must be this one ("FILE: its header is not
 * ..."); an absent or empty file gets the header. path NULL or "-": stdout, as csv_open. */
csv_writer *csv_open_live(const char *path, const char *const *columns, int ncols, int append, err_t *e);
/* One field each; NULL is an empty cell. */
void csv_str(csv_writer *w, const char *s);
void csv_int(csv_writer *w, long long v);
/* %.6g; NaN and infinities become an empty cell, so no reader sees "nan" or "inf". */
void csv_num(csv_writer *w, double v);
/* Ends the row; a row with other than ncols fields is a bug and fatal. */
void csv_end_row(csv_writer *w);

/* One cell of a row written whole by csv_row: cell_str, cell_int and cell_num write as csv_str,
 * csv_int and csv_num. */
typedef struct {
    enum { CSV_CELL_STR, CSV_CELL_INT, CSV_CELL_NUM } kind;
    const char *s;
    long long i;
    double x;
} csv_cell;
static inline csv_cell cell_str(const char *s) { return (csv_cell){.kind = CSV_CELL_STR, .s = s}; }
static inline csv_cell cell_int(long long v) { return (csv_cell){.kind = CSV_CELL_INT, .i = v}; }
static inline csv_cell cell_num(double v) { return (csv_cell){.kind = CSV_CELL_NUM, .x = v}; }
/* A whole row in one call, its cells counted by the compiler:
 *     csv_row(w, cell_str("gpt"), cell_int(step), cell_num(loss));
 * a count other than the header's is a bug and fatal, before anything of the row is written. */
#define csv_row(w, ...)                                                                                    \
    csv_write_row((w), (const csv_cell[]){__VA_ARGS__},                                                     \
                  (int)(sizeof((const csv_cell[]){__VA_ARGS__}) / sizeof(csv_cell)))
void csv_write_row(csv_writer *w, const csv_cell *cells, int n);

/* From now on every field written to w also goes to copy (a table of the same columns), which
 * csv_sync, csv_close and csv_abort then treat with w. */
void csv_tee(csv_writer *w, csv_writer *copy);
/* The last complete data row as "column=value column=value ..." (strings cut to 40 bytes, the
 * whole cut to about 1 KB); "" before the first. */
const char *csv_last_row(const csv_writer *w);
/* Checks that every row so far reached its file (flushed and synced; a file is not committed yet)
 * or stdout: 0, or -1 with e filled on a write error. Tables that must appear together are all
 * synced before any is closed (experiments/driver.h). */
int csv_sync(csv_writer *w, err_t *e);
/* Commits the file (or flushes stdout) and releases w; -1 with e filled on a write error. */
int csv_close(csv_writer *w, err_t *e);
/* Drops a half-written file (an earlier file at the path stays); for stdout just flushes. NULL ok. */
void csv_abort(csv_writer *w);

#endif
