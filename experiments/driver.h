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

typedef struct {
    const cmd_spec *spec;
    common_opts opt;
    csv_writer *csv;   /* the primary table (-o FILE, default stdout) */
    int table_only;    /* set by commands whose only output is the table: no --out-dir, no config.yaml */
    char *rank_dir;    /* a data-parallel rank other than 0: its private --out-dir, removed at the end */
    char *shared_out_dir; /* that rank's --out-dir as given (rank 0's), for work shared through files */
    const char *table_copy;   /* set before driver_open_csv: the table also goes to <out-dir>/<table_copy> */
    int live_table;   /* set before driver_open_csv: a training curve, written as the run goes and kept
                         however it ends (csv_open_live); no table_copy then */
    int out_use;              /* OUT_DIR_* (io/args.h): what this run does with --out-dir */
    int out_made;             /* --out-dir exists and run.log is kept there */
    char *command_line;       /* "memlab <command> <arguments>", shell-quoted, for config.yaml */
    const char *action;       /* the first positional argument, or the command's default action */
    double t_start;
} driver;

/* Returns 0 when the command should run; otherwise the command returns *exit_code at once
 * (0 after --help / --print-config, 2 for a usage error, 1 for a run-time failure). Usage errors
 * include outputs that cannot be written: -o a folder or in a missing folder, --out-dir a file,
 * --out-dir holding files when the command's out_dir_use says a new run and --force is not given. */
int driver_begin(driver *d, const cmd_spec *spec, int argc, char **argv, int *exit_code);
/* The command's checks passed and its work begins: creates --out-dir and keeps run.log there (the
 * first driver_open_csv or driver_out_path does it too). 0 or -1 (message printed). */
int driver_ready(driver *d);
/* Creates --out-dir, then opens the primary CSV (-o, which may lie inside it) with the given
 * header. 0 or -1 (message printed). */
int driver_open_csv(driver *d, const char *const *columns, int ncols);
/* Creates --out-dir and returns "<out-dir>/<name>" in buf. */
const char *driver_out_path(driver *d, const char *name, char *buf, size_t len);
/* Success: commits the CSV and writes <out-dir>/config.yaml (config-<action>.yaml for an analysis).
 * Failure (ok == 0): drops a half-written CSV file. run.log then ends with one line: the time taken
 * and the last row of the primary table (or that the run failed). Frees everything; returns the
 * command's exit code. */
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

#endif
