#include "driver.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dist.h"
#include "core/threads.h"
#include "io/atomic.h"
#include "io/progress.h"
#include "io/runlog.h"

/* ---- data-parallel ranks: only rank 0 writes -------------------------------------------------- */

/* Ranks other than 0 run the same command (core/dist.h) but their results are rank 0's: their
 * table goes nowhere, their logs are off, and whatever they write into --out-dir goes to a private
 * folder that driver_end removes, so that no command needs to know which rank it is. */
static void mute_other_rank(driver *d)
{
    char tmpl[] = "/tmp/memlab-rank-XXXXXX";
    if (!mkdtemp(tmpl))
        fatal("rank %d: cannot make a scratch folder under /tmp", dist_rank());
    d->rank_dir = xstrdup(tmpl);
    d->shared_out_dir = d->opt.out_dir;
    d->opt.out_dir = xstrdup(tmpl);
    free(d->opt.output);
    d->opt.output = xstrdup("-");
    d->opt.quiet = 1;
    if (!freopen("/dev/null", "w", stdout))
        fatal("rank %d: cannot silence stdout", dist_rank());
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_rank_dir(driver *d)
{
    if (!d->rank_dir)
        return;
    nftw(d->rank_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d->rank_dir);
    d->rank_dir = NULL;
    free(d->shared_out_dir);
    d->shared_out_dir = NULL;
}

void driver_error(const driver *d, const char *fmt, ...)
{
    /* Data-parallel ranks check the same inputs and fail alike: rank 0 speaks for them (fatal()
     * still speaks on any rank). */
    if (dist_rank() != 0)
        return;
    va_list ap;
    fprintf(stderr, "memlab: %s: ", d->spec->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int driver_usage_error(driver *d, const char *fmt, ...)
{
    char msg[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    driver_error(d, "%s", msg);
    driver_end(d, 0);
    return 2;
}

/* ---- where the run writes: checked before any work (docs/outputs.md) ---------------------------- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The first entry of a folder other than . and .. into buf, or 0 when it is empty or unreadable. */
static int first_entry(const char *dir, char *buf, size_t len)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    int found = 0;
    for (struct dirent *de; !found && (de = readdir(dp));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(buf, len, "%s", de->d_name);
            found = 1;
        }
    closedir(dp);
    return found;
}

/* The nearest existing folder at or above path (mkdir -p creates the rest there); malloc'd. */
static char *existing_ancestor(const char *path)
{
    char *p = xstrdup(path);
    for (;;) {
        struct stat st;
        if (stat(p, &st) == 0)
            return p;
        char *slash = strrchr(p, '/');
        while (slash && slash > p && slash[1] == '\0') {   /* "a/b/" */
            *slash = '\0';
            slash = strrchr(p, '/');
        }
        if (!slash) {
            free(p);
            return xstrdup(".");
        }
        if (slash == p) {
            p[1] = '\0';
            continue;
        }
        *slash = '\0';
    }
}

/* A path will be created under `what` = "-o" or "--out-dir": its nearest existing ancestor must be
 * a folder this process can write in. */
static int check_creatable(const driver *d, const char *what, const char *path)
{
    char *anc = existing_ancestor(path);
    int ok = 1;
    if (!is_dir(anc)) {
        driver_error(d, "%s %s: %s is not a folder", what, path, anc);
        ok = 0;
    } else if (access(anc, W_OK | X_OK) != 0) {
        driver_error(d, "%s %s: cannot write in %s: %s", what, path, anc, strerror(errno));
        ok = 0;
    }
    free(anc);
    return ok;
}

/* -o FILE: not a folder, and in a folder that exists or that --out-dir will create. */
static int check_output(const driver *d)
{
    const char *out = d->opt.output;
    if (!out || !strcmp(out, "-"))
        return 1;
    if (!*out || out[strlen(out) - 1] == '/' || is_dir(out)) {
        driver_error(d, "-o %s: is a folder, not a file", out);
        return 0;
    }
    const char *slash = strrchr(out, '/');
    char *parent = slash ? strndup(out, slash == out ? 1 : (size_t)(slash - out)) : xstrdup(".");
    size_t n = strlen(d->opt.out_dir);
    int in_out_dir = !d->table_only && !strncmp(parent, d->opt.out_dir, n) && (parent[n] == '\0' || parent[n] == '/');
    int ok = 1;
    if (!is_dir(parent) && !in_out_dir) {
        driver_error(d, "-o %s: no folder %s", out, parent);
        ok = 0;
    } else if (access(out, F_OK) == 0 && access(out, W_OK) != 0) {   /* a file or device to replace */
        driver_error(d, "-o %s: cannot write: %s", out, strerror(errno));
        ok = 0;
    } else if (access(out, F_OK) != 0) {
        ok = check_creatable(d, "-o", parent);
    }
    free(parent);
    return ok;
}

/* --out-dir: a folder or nothing yet; a new run's must be empty unless --force. */
static int check_out_dir(const driver *d)
{
    const char *dir = d->opt.out_dir;
    struct stat st;
    if (stat(dir, &st) != 0)
        return check_creatable(d, "--out-dir", dir);
    if (!S_ISDIR(st.st_mode)) {
        driver_error(d, "--out-dir %s: exists and is not a folder", dir);
        return 0;
    }
    char entry[256];
    if (d->out_use != OUT_DIR_CONTINUE && !d->opt.force && first_entry(dir, entry, sizeof entry)) {
        driver_error(d, "--out-dir %s already holds files of an earlier run ('%s'); give a new --out-dir, or "
                        "--force to write into it (files of the same names are replaced)", dir, entry);
        return 0;
    }
    return check_creatable(d, "--out-dir", dir);
}

/* "memlab <command> <arguments>" with every argument that the shell would split or expand in
 * single quotes, so that the line can be pasted back. */
static char *command_line_of(int argc, char **argv)
{
    size_t cap = 16;
    for (int i = 0; i < argc; i++)
        cap += 4 * strlen(argv[i]) + 3;
    char *s = xmalloc(cap), *p = s;
    p += sprintf(p, "memlab");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        *p++ = ' ';
        if (*a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=./,:@%") == strlen(a)) {
            p += sprintf(p, "%s", a);
            continue;
        }
        *p++ = '\'';
        for (; *a; a++) {
            if (*a == '\'')
                p += sprintf(p, "'\\''");
            else
                *p++ = *a;
        }
        *p++ = '\'';
    }
    *p = '\0';
    return s;
}

int driver_begin(driver *d, const cmd_spec *spec, int argc, char **argv, int *exit_code)
{
    err_t e;
    memset(d, 0, sizeof *d);
    d->spec = spec;
    d->t_start = progress_now();
    /* run.log gets what stderr shows from the start (a note about --threads included); it is
     * dropped unless the run gets a folder. Rank 0 speaks for a data-parallel run. */
    if (dist_rank() == 0)
        runlog_start();
    int rc = args_parse(spec, argc, argv, &d->opt, &e);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "memlab: %s\n", e.msg);
        *exit_code = rc < 0 ? 2 : 0;
        args_free(spec, &d->opt);
        runlog_finish(NULL);
        return -1;
    }
    d->action = d->opt.npositional ? d->opt.positional[0] : spec->default_action;
    if (d->opt.print_config) {
        const char *records[] = {"action", d->action, NULL};
        args_write_config_records(spec, &d->opt, stdout, memlab_git_commit, d->action ? records : NULL);
        *exit_code = fflush(stdout) == 0 ? 0 : 1;
        args_free(spec, &d->opt);
        runlog_finish(NULL);
        return -1;
    }
    d->out_use = !args_common_applies(spec, "out-dir") ? OUT_DIR_NONE
                 : spec->out_dir_use                   ? spec->out_dir_use(&d->opt)
                                                       : OUT_DIR_NEW;
    d->table_only = d->out_use == OUT_DIR_NONE;
    /* Rank 0 looks (the others could see the folder it has begun to fill) and all follow it. */
    int ok = dist_rank() != 0 || (check_output(d) && (d->table_only || check_out_dir(d)));
    if (!dist_agree_ok(ok)) {
        *exit_code = 2;
        args_free(spec, &d->opt);
        runlog_finish(NULL);
        return -1;
    }
    if (d->table_only)
        runlog_finish(NULL);
    d->command_line = command_line_of(argc, argv);
    threads_set((int)d->opt.threads);
    if (dist_rank() != 0)
        mute_other_rank(d);
    return 0;
}

int driver_check_batch(const driver *d, long long batch)
{
    if (batch % dist_size() == 0)
        return 0;
    driver_error(d, "--batch %lld is not divisible by the %d data-parallel ranks", batch, dist_size());
    return 2;
}

/* The names of the run's config and log: an analysis keeps its own beside a training run's. */
static void run_file_name(const driver *d, const char *stem, const char *ext, char *buf, size_t len)
{
    if (d->out_use == OUT_DIR_ANALYSIS && d->action)
        snprintf(buf, len, "%s-%s.%s", stem, d->action, ext);
    else
        snprintf(buf, len, "%s.%s", stem, ext);
}

int driver_ready(driver *d)
{
    if (d->table_only || d->out_made)
        return 0;
    err_t e;
    if (mkdir_p(d->opt.out_dir, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    d->out_made = 1;
    if (d->rank_dir)
        return 0;
    char name[128], path[4096];
    run_file_name(d, "run", "log", name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", d->opt.out_dir, name);
    if (runlog_attach(path, d->out_use == OUT_DIR_CONTINUE, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    return 0;
}

const char *driver_out_path(driver *d, const char *name, char *buf, size_t len)
{
    if (driver_ready(d) != 0)
        fatal("%s: cannot create the run folder", d->opt.out_dir);
    snprintf(buf, len, "%s/%s", d->opt.out_dir, name);
    return buf;
}

static void add_table(driver *d, csv_writer *w)
{
    d->tables = xrealloc(d->tables, (size_t)(d->ntables + 1) * sizeof *d->tables);
    d->tables[d->ntables++] = w;
}

int driver_open_csv(driver *d, const table_spec *t)
{
    err_t e;
    /* The output directory first, so that -o may name a file inside it. */
    if (driver_ready(d) != 0)
        return -1;
    if (d->csv)
        fatal("internal: %s: the primary table opened twice", d->spec->command);
    char copy[4096];
    const int copied = t->file && !d->table_only && !d->live_table;
    if (copied)
        driver_out_path(d, t->file, copy, sizeof copy);
    d->csv = d->live_table ? csv_open_live(d->opt.output, t->columns, t->ncols, 0, &e)
                           : csv_open_copy(d->opt.output, copied ? copy : NULL, t->columns, t->ncols, &e);
    if (!d->csv) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    add_table(d, d->csv);
    return 0;
}

/* Opens the table t at path as one of the run's tables. */
static csv_writer *open_table(driver *d, const char *path, const table_spec *t)
{
    err_t e;
    csv_writer *w = csv_open(path, t->columns, t->ncols, &e);
    if (!w) {
        driver_error(d, "%s", e.msg);
        return NULL;
    }
    add_table(d, w);
    return w;
}

csv_writer *driver_table(driver *d, const table_spec *t)
{
    if (d->table_only)
        fatal("internal: %s: %s: a run without a folder opens no table there", d->spec->command, t->file);
    char path[4096];
    return open_table(d, driver_out_path(d, t->file, path, sizeof path), t);
}

csv_writer *driver_table_in(driver *d, const char *dir, const table_spec *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, t->file);
    return open_table(d, path, t);
}

/* Every table of the run: all synced, then all committed, or all discarded; returns ok. */
static int end_tables(driver *d, int ok)
{
    err_t e = {{0}};
    for (int i = 0; ok && i < d->ntables; i++)
        if (csv_sync(d->tables[i], &e) != 0) {
            driver_error(d, "%s", e.msg);
            ok = 0;
        }
    for (int i = 0; i < d->ntables; i++) {
        if (ok && csv_close(d->tables[i], &e) != 0) {
            driver_error(d, "%s", e.msg);
            ok = 0;
        } else if (!ok) {
            csv_abort(d->tables[i]);
        }
    }
    free(d->tables);
    d->tables = NULL;
    d->ntables = 0;
    d->csv = NULL;
    return ok;
}

int driver_write_file(driver *d, const char *path, int (*write)(FILE *f, void *ctx), void *ctx)
{
    err_t e = {{0}};
    atomic_file *af = atomic_open(path, &e);
    if (!af) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    if (write(atomic_fp(af), ctx) != 0) {
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

static int config_writer(FILE *f, void *ctx)
{
    const driver *d = ctx;
    const char *records[] = {"action", d->action, "command_line", d->command_line, NULL};
    return args_write_config_records(d->spec, &d->opt, f, memlab_git_commit, d->action ? records : records + 2);
}

char *driver_config_text(const driver *d)
{
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f || config_writer(f, (void *)d) != 0 || fclose(f) != 0)
        fatal("out of memory writing the configuration");
    return text;
}

int driver_write_config(driver *d)
{
    char name[128], path[4096];
    run_file_name(d, "config", "yaml", name, sizeof name);
    driver_out_path(d, name, path, sizeof path);
    return driver_write_file(d, path, config_writer, d);
}

/* run.log's last line: how the run ended and, on success, the last row of the primary table. */
static void final_line(const driver *d, int ok, const char *last_row, char *buf, size_t len)
{
    double s = progress_now() - d->t_start;
    int k = snprintf(buf, len, "memlab: %s%s%s: %s after %.1f s", d->spec->command, d->action ? " " : "",
                     d->action ? d->action : "", ok ? "done" : "failed", s);
    if (ok && last_row && *last_row && k > 0 && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, "; final: %s", last_row);
}

int driver_end(driver *d, int ok)
{
    char last_row[1024] = "";
    if (d->csv)
        snprintf(last_row, sizeof last_row, "%s", csv_last_row(d->csv));
    ok = end_tables(d, ok);
    if (ok && !d->table_only && driver_write_config(d) != 0)
        ok = 0;
    if (ok && d->after_commit)
        d->after_commit(d);
    if (d->out_made && !d->rank_dir) {
        char line[1200];
        final_line(d, ok, last_row, line, sizeof line);
        if (!d->opt.quiet)
            fprintf(stderr, "%s\n", line);
        runlog_finish(d->opt.quiet ? line : NULL);
    } else {
        runlog_finish(NULL);
    }
    args_free(d->spec, &d->opt);
    free(d->command_line);
    d->command_line = NULL;
    remove_rank_dir(d);
    return ok ? 0 : 1;
}
