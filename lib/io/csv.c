#include "io/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "io/utf8.h"

struct csv_writer {
    FILE *fp;
    atomic_file *file;   /* NULL when writing to stdout */
    char *name;          /* path, or "stdout", for messages */
    int ncols;
    int nfields;         /* fields in the current row */
    int write_errno;     /* first failed flush of stdout or a live file, reported by csv_close */
    int live;            /* csv_open_live: a file written directly, flushed every row, kept on abort */
    csv_writer *copy;    /* csv_open_copy: a second file that gets every field, or NULL */
    char **columns;      /* the header, for csv_last_row */
    char row[1024];      /* "column=value ..." of the row being written, then of the last one */
    char last[1024];
};

/* Adds "column=value" of the current field to the row's summary (values cut to 40 bytes). */
static void summary_add(csv_writer *w, const char *value)
{
    if (!w->columns)   /* the header row */
        return;
    size_t k = strlen(w->row);
    if (k + 1 < sizeof w->row)
        snprintf(w->row + k, sizeof w->row - k, "%s%s=%.40s", k ? " " : "", w->columns[w->nfields - 1],
                 value ? value : "");
}

static void field_begin(csv_writer *w)
{
    if (w->nfields >= w->ncols)
        fatal("internal: %s: CSV row has more fields than the header's %d", w->name, w->ncols);
    if (w->nfields++ > 0)
        fputc(',', w->fp);
}

/* RFC 4180 quoting; the text is written as valid UTF-8 (io/utf8.h): a model's sampled text can end
 * in the middle of a character. */
static void put_quoted(FILE *fp, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        utf8_write_valid(fp, s, strlen(s));
        return;
    }
    fputc('"', fp);
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        utf8_write_valid(fp, s, (size_t)(q - s) + 1);
        fputc('"', fp);
    }
    utf8_write_valid(fp, s, strlen(s));
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
    w->columns = xcalloc((size_t)ncols, sizeof *w->columns);
    for (int i = 0; i < ncols; i++)
        w->columns[i] = xstrdup(columns[i]);
    w->last[0] = w->row[0] = '\0';
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
    csv_writer *copy = csv_open(copy_path, columns, ncols, e);
    if (!copy) {
        csv_abort(w);
        return NULL;
    }
    csv_tee(w, copy);
    return w;
}

void csv_tee(csv_writer *w, csv_writer *copy)
{
    if (w->copy)
        fatal("internal: %s: CSV table already copied to %s", w->name, w->copy->name);
    if (copy->ncols != w->ncols || w->nfields || copy->nfields)
        fatal("internal: %s: a copy with %d columns (or in the middle of a row)", w->name, copy->ncols);
    w->copy = copy;
}

void csv_str(csv_writer *w, const char *s)
{
    if (w->copy)
        csv_str(w->copy, s);
    field_begin(w);
    put_quoted(w->fp, s);
    summary_add(w, s);
}

void csv_int(csv_writer *w, long long v)
{
    if (w->copy)
        csv_int(w->copy, v);
    field_begin(w);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    fputs(buf, w->fp);
    summary_add(w, buf);
}

void csv_num(csv_writer *w, double v)
{
    if (w->copy)
        csv_num(w->copy, v);
    field_begin(w);
    char buf[32] = "";
    if (isfinite(v))
        snprintf(buf, sizeof buf, "%.6g", v);
    fputs(buf, w->fp);
    summary_add(w, buf);
}

void csv_end_row(csv_writer *w)
{
    if (w->copy)
        csv_end_row(w->copy);
    if (w->nfields != w->ncols)
        fatal("internal: %s: CSV row has %d fields, the header has %d", w->name, w->nfields, w->ncols);
    w->nfields = 0;
    memcpy(w->last, w->row, sizeof w->last);
    w->row[0] = '\0';
    fputc('\n', w->fp);
    if (!w->file && fflush(w->fp) != 0 && w->write_errno == 0)   /* stdout or a live file */
        w->write_errno = errno ? errno : EIO;
}

void csv_write_row(csv_writer *w, const csv_cell *cells, int n)
{
    if (n != w->ncols || w->nfields)
        fatal("internal: %s: CSV row of %d cells, the header has %d", w->name, n, w->ncols);
    for (int i = 0; i < n; i++)
        switch (cells[i].kind) {
        case CSV_CELL_STR: csv_str(w, cells[i].s); break;
        case CSV_CELL_INT: csv_int(w, cells[i].i); break;
        case CSV_CELL_NUM: csv_num(w, cells[i].x); break;
        }
    csv_end_row(w);
}

const char *csv_last_row(const csv_writer *w) { return w->last; }

static void csv_release(csv_writer *w)
{
    for (int i = 0; w->columns && i < w->ncols; i++)
        free(w->columns[i]);
    free(w->columns);
    free(w->name);
    free(w);
}

/* The first write error of stdout or a live file, after flushing it; 0 when none. */
static int stream_error(csv_writer *w)
{
    int err = w->write_errno;
    if (fflush(w->fp) != 0 && err == 0)
        err = errno ? errno : EIO;
    if (err == 0 && ferror(w->fp))
        err = EIO;
    return err;
}

int csv_sync(csv_writer *w, err_t *e)
{
    if (w->nfields != 0)
        fatal("internal: %s: CSV synced in the middle of a row", w->name);
    if (w->copy && csv_sync(w->copy, e) != 0)
        return -1;
    if (w->file)
        return atomic_sync(w->file, e);
    int err = stream_error(w);
    return err ? err_set(e, "%s: write failed: %s", w->name, strerror(err)) : 0;
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
        int err = stream_error(w);
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
