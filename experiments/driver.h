/* What every experiment command does around its own work: parse the options (defaults < preset <
 * config file < flags), answer --help and --print-config, check where the run will write before
 * any work (docs/outputs.md: -o is not a folder, --out-dir is absent or empty unless --force or
 * --resume), set the thread count, open the primary CSV, keep run.log, and on success record the
 * resolved configuration (with the command line, memlab's version and commit) in the run folder. */
#ifndef MEMLAB_EXPERIMENTS_DRIVER_H
#define MEMLAB_EXPERIMENTS_DRIVER_H

#include "core/version.h"
#include "io/args.h"
#include "io/csv.h"

/* A table of the run, declared once: the file it goes to in --out-dir and its columns (rows are
 * written with csv_row, io/csv.h). TABLE_SPEC counts the columns of a static array:
 *     static const char *const summary_columns[] = {"seed", "loss"};
 *     static const table_spec summary_table = TABLE_SPEC("summary.csv", summary_columns); */
typedef struct {
    const char *file;   /* its name in --out-dir; for the primary table, a copy of -o kept there (or NULL) */
    const char *const *columns;
    int ncols;
} table_spec;
#define TABLE_SPEC(file, columns) {(file), (columns), (int)(sizeof(columns) / sizeof *(columns))}

typedef struct driver driver;
struct driver {
    const cmd_spec *spec;
    common_opts opt;
    csv_writer *csv;   /* the primary table (-o FILE, default stdout) */
    int table_only;    /* set by commands whose only output is the table: no --out-dir, no config.yaml */
    char *rank_dir;    /* a data-parallel rank other than 0: its private --out-dir, removed at the end */
    char *shared_out_dir; /* that rank's --out-dir as given (rank 0's), for work shared through files */
    int live_table;   /* set before driver_open_csv: a training curve, written as the run goes and kept
                         however it ends (csv_open_live); no copy in --out-dir then */
    csv_writer **tables;      /* every table of the run, the primary included, in the order opened */
    int ntables;
    /* Set by a command that reads its own tables back once they are on disk (three-moons draws its
     * figures from them): called by driver_end on success, after every table was committed. */
    void (*after_commit)(driver *d);
    int out_use;              /* OUT_DIR_* (io/args.h): what this run does with --out-dir */
    int out_made;             /* --out-dir exists and run.log is kept there */
    char *command_line;       /* "memlab <command> <arguments>", shell-quoted, for config.yaml */
    const char *action;       /* the first positional argument, or the command's default action */
    double t_start;
};

/* Returns 0 when the command should run; otherwise the command returns *exit_code at once
 * (0 after --help / --print-config, 2 for a usage error, 1 for a run-time failure). Usage errors
 * include outputs that cannot be written: -o a folder or in a missing folder, --out-dir a file,
 * --out-dir holding files when the command's out_dir_use says a new run and --force is not given. */
int driver_begin(driver *d, const cmd_spec *spec, int argc, char **argv, int *exit_code);
/* The command's checks passed and its work begins: creates --out-dir and keeps run.log there (the
 * first driver_open_csv or driver_out_path does it too). 0 or -1 (message printed). */
int driver_ready(driver *d);
/* Creates --out-dir, then opens the primary CSV (-o, which may lie inside it) with t's columns, as
 * d->csv; when t->file is set (and the run has a folder), every row also goes to <out-dir>/<file>.
 * 0 or -1 (message printed). */
int driver_open_csv(driver *d, const table_spec *t);
/* Creates --out-dir and opens the secondary table <out-dir>/<t->file>, written to a temporary file
 * until driver_end commits or discards it with every other table of the run. NULL (message
 * printed) when it cannot be created. Not for a run whose only output is its primary table. */
csv_writer *driver_table(driver *d, const table_spec *t);
/* driver_table for a table in the folder dir rather than --out-dir, committed or discarded with the
 * run's other tables: a command that writes into a folder it reads (regbench --collect). */
csv_writer *driver_table_in(driver *d, const char *dir, const table_spec *t);
/* Creates --out-dir and returns "<out-dir>/<name>" in buf. */
const char *driver_out_path(driver *d, const char *name, char *buf, size_t len);
/* Success: commits every table of the run together (all are synced first, so that a write error in
 * any of them, a full disk, discards them all), writes <out-dir>/config.yaml (config-<action>.yaml
 * for an analysis) and calls after_commit. Failure (ok == 0): discards every table, so that no
 * partial table and no temporary file is left (a live table keeps the rows it has: csv_open_live).
 * run.log then ends with one line: the time taken and the last row of the primary table (or that
 * the run failed). Frees everything; returns the command's exit code. */
int driver_end(driver *d, int ok);
/* Writes a file atomically through write(f, ctx) (0 or -1 on a write error); 0, or -1 with the
 * message printed and nothing left behind. */
int driver_write_file(driver *d, const char *path, int (*write)(FILE *f, void *ctx), void *ctx);
/* The resolved configuration as config.yaml holds it (malloc'd YAML): checkpoints carry it. */
char *driver_config_text(const driver *d);
/* Writes <out-dir>/config.yaml now (driver_end writes it again on success): a training run that may
 * be interrupted records its configuration before its first step. 0 or -1 (message printed). */
int driver_write_config(driver *d);
/* "memlab: <command>: <message>" on stderr (rank 0 only in a data-parallel run). */
void driver_error(const driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error that the command's own checks found before any output (options that make no sense
 * together): driver_error, then driver_end(d, 0); returns 2, the exit code. */
int driver_usage_error(driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Data-parallel ranks take equal shares of every step's --batch (docs/distributed.md): 0 when
 * `batch` divides by their number, else that one line ("--batch 3 is not divisible by the 2
 * data-parallel ranks") and 2, the exit code. Call before any work. */
int driver_check_batch(const driver *d, long long batch);

#endif
