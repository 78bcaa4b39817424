#include "driver.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/threads.h"
#include "io/atomic.h"

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

int driver_begin(driver *d, const cmd_spec *spec, int argc, char **argv, int *exit_code)
{
    err_t e;
    memset(d, 0, sizeof *d);
    d->spec = spec;
    int rc = args_parse(spec, argc, argv, &d->opt, &e);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "memlab: %s\n", e.msg);
        *exit_code = rc < 0 ? 2 : 0;
        args_free(spec, &d->opt);
        return -1;
    }
    if (d->opt.print_config) {
        args_write_config(spec, &d->opt, stdout, memlab_git_commit);
        *exit_code = fflush(stdout) == 0 ? 0 : 1;
        args_free(spec, &d->opt);
        return -1;
    }
    threads_set((int)d->opt.threads);
    if (dist_rank() != 0)
        mute_other_rank(d);
    return 0;
}

const char *driver_out_path(driver *d, const char *name, char *buf, size_t len)
{
    err_t e;
    if (mkdir_p(d->opt.out_dir, &e) != 0)
        fatal("%s", e.msg);
    snprintf(buf, len, "%s/%s", d->opt.out_dir, name);
    return buf;
}

int driver_open_csv(driver *d, const char *const *columns, int ncols)
{
    err_t e;
    /* The output directory first, so that -o may name a file inside it. */
    if (!d->table_only && mkdir_p(d->opt.out_dir, &e) != 0) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    char copy[4096];
    if (d->table_copy && !d->table_only)
        driver_out_path(d, d->table_copy, copy, sizeof copy);
    d->csv = d->live_table ? csv_open_live(d->opt.output, columns, ncols, 0, &e)
                           : csv_open_copy(d->opt.output, d->table_copy && !d->table_only ? copy : NULL, columns, ncols, &e);
    if (!d->csv) {
        driver_error(d, "%s", e.msg);
        return -1;
    }
    return 0;
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
    return args_write_config(d->spec, &d->opt, f, memlab_git_commit);
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
    char path[4096];
    driver_out_path(d, "config.yaml", path, sizeof path);
    return driver_write_file(d, path, config_writer, d);
}

int driver_end(driver *d, int ok)
{
    err_t e = {{0}};
    if (d->csv) {
        if (ok) {
            if (csv_close(d->csv, &e) != 0) {
                driver_error(d, "%s", e.msg);
                ok = 0;
            }
        } else {
            csv_abort(d->csv);
        }
        d->csv = NULL;
    }
    if (ok && !d->table_only && driver_write_config(d) != 0)
        ok = 0;
    args_free(d->spec, &d->opt);
    remove_rank_dir(d);
    return ok ? 0 : 1;
}
