#include "io/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"

struct csv_writer {
    FILE *fp;
    atomic_file *file;   /* NULL when writing to stdout */
    char *name;          /* path, or "stdout", for messages */
    int ncols;
    int nfields;         /* fields in the current row */
    int write_errno;     /* first failed flush of stdout or a live file, reported by csv_close */
    int live;            /* csv_open_live: a file written directly, flushed every row, kept on abort */
    csv_writer *copy;    /* csv_open_copy: a second file that gets every field, or NULL */
};

static void field_begin(csv_writer *w)
{
    if (w->nfields >= w->ncols)
        fatal("internal: %s: CSV row has more fields than the header's %d", w->name, w->ncols);
    if (w->nfields++ > 0)
        fputc(',', w->fp);
}

static void put_quoted(FILE *fp, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

csv_writer *csv_open(const char *path, const char *const *columns, int ncols, err_t *e)
{
    if (ncols < 1)
        fatal("internal: CSV table with %d columns", ncols);
    csv_writer *w = xcalloc(1, sizeof *w);
    w->ncols = ncols;
    if (!path || strcmp(path, "-") == 0) {
        w->fp = stdout;
        w->name = xstrdup("stdout");
    } else {
        w->file = atomic_open(path, e);
        if (!w->file) {
            free(w);
            return NULL;
        }
        w->fp = atomic_fp(w->file);
        w->name = xstrdup(path);
    }
    for (int i = 0; i < ncols; i++)
        csv_str(w, columns[i]);
    csv_end_row(w);
    return w;
}

/* The header row as csv_open writes it, malloc'd. */
static char *header_text(const char *const *columns, int ncols)
{
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        fatal("out of memory writing a CSV header");
    for (int i = 0; i < ncols; i++) {
        if (i)
            fputc(',', f);
        put_quoted(f, columns[i]);
    }
    fputc('\n', f);
    fclose(f);
    return text;
}

csv_writer *csv_open_live(const char *path, const char *const *columns, int ncols, int append, err_t *e)
{
    if (!path || strcmp(path, "-") == 0)
        return csv_open(path, columns, ncols, e);
    char *header = header_text(columns, ncols);
    int has_rows = 0;
    FILE *old = append ? fopen(path, "r") : NULL;
    if (old) {
        char line[4096];
        has_rows = fgets(line, sizeof line, old) != NULL;
        fclose(old);
        if (has_rows && strcmp(line, header) != 0) {
            err_set(e, "%s: its header is not %.*s", path, (int)strlen(header) - 1, header);
            free(header);
            return NULL;
        }
    }
    FILE *fp = fopen(path, has_rows ? "a" : "w");
    if (!fp) {
        err_set(e, "%s: cannot write: %s", path, strerror(errno));
        free(header);
        return NULL;
    }
    csv_writer *w = xcalloc(1, sizeof *w);
    w->ncols = ncols;
    w->fp = fp;
    w->live = 1;
    w->name = xstrdup(path);
    if (!has_rows) {
        fputs(header, fp);
        fflush(fp);
    }
    free(header);
    return w;
}

csv_writer *csv_open_copy(const char *path, const char *copy_path, const char *const *columns, int ncols,
                          err_t *e)
{
    csv_writer *w = csv_open(path, columns, ncols, e);
    if (!w || !copy_path || (path && strcmp(path, copy_path) == 0))
        return w;
    if (!(w->copy = csv_open(copy_path, columns, ncols, e))) {
        csv_abort(w);
        return NULL;
    }
    return w;
}

void csv_str(csv_writer *w, const char *s)
{
    if (w->copy)
        csv_str(w->copy, s);
    field_begin(w);
    put_quoted(w->fp, s);
}

void csv_int(csv_writer *w, long long v)
{
    if (w->copy)
        csv_int(w->copy, v);
    field_begin(w);
    fprintf(w->fp, "%lld", v);
}

void csv_num(csv_writer *w, double v)
{
    if (w->copy)
        csv_num(w->copy, v);
    field_begin(w);
    if (isfinite(v))
        fprintf(w->fp, "%.6g", v);
}

void csv_end_row(csv_writer *w)
{
    if (w->copy)
        csv_end_row(w->copy);
    if (w->nfields != w->ncols)
        fatal("internal: %s: CSV row has %d fields, the header has %d", w->name, w->nfields, w->ncols);
    w->nfields = 0;
    fputc('\n', w->fp);
    if (!w->file && fflush(w->fp) != 0 && w->write_errno == 0)   /* stdout or a live file */
        w->write_errno = errno ? errno : EIO;
}

static void csv_release(csv_writer *w)
{
    free(w->name);
    free(w);
}

int csv_close(csv_writer *w, err_t *e)
{
    int rc = 0;
    if (w->nfields != 0)
        fatal("internal: %s: CSV closed in the middle of a row", w->name);
    if (w->copy && csv_close(w->copy, e) != 0) {
        w->copy = NULL;
        csv_abort(w);
        return -1;
    }
    if (w->file) {
        rc = atomic_commit(w->file, e);
    } else {
        int err = w->write_errno;
        if (fflush(w->fp) != 0 && err == 0)
            err = errno ? errno : EIO;
        if (err == 0 && ferror(w->fp))
            err = EIO;
        if (w->live && fclose(w->fp) != 0 && err == 0)
            err = errno ? errno : EIO;
        if (err)
            rc = err_set(e, "%s: write failed: %s", w->name, strerror(err));
    }
    csv_release(w);
    return rc;
}

void csv_abort(csv_writer *w)
{
    if (!w)
        return;
    csv_abort(w->copy);
    if (w->file)
        atomic_abort(w->file);
    else if (w->live)
        fclose(w->fp);
    else
        fflush(w->fp);
    csv_release(w);
}
