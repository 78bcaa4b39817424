#include "io/gzfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/limits.h"

#define READ_CHUNK (1u << 20)

/* Opens through a descriptor of our own so that a directory is refused with a clear message and the
 * reason for a failed open is errno's, not zlib's. */
static gzFile gz_open_checked(const char *path, err_t *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        err_set(e, "%s: cannot open: is a directory", path);
        close(fd);
        return NULL;
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        fatal("out of memory opening %s", path);
    }
    gzbuffer(gz, 1u << 16);
    return gz;
}

/* Turns zlib's state after a short or failed gzread into a message; 0 when there was no error. */
static int gz_check(gzFile gz, const char *path, err_t *e)
{
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    switch (errnum) {
    case Z_OK:
        return 0;
    case Z_ERRNO:
        return err_set(e, "%s: read failed: %s", path, strerror(errno));
    case Z_BUF_ERROR:
        return err_set(e, "%s: truncated gzip data (unexpected end of file)", path);
    case Z_DATA_ERROR:
        return err_set(e, "%s: corrupt gzip data", path);
    case Z_MEM_ERROR:
        fatal("out of memory reading %s", path);
    default:
        return err_set(e, "%s: read failed: %s", path, msg ? msg : "zlib error");
    }
}

/* The limit message of file_read_max and of the line reader's total. */
static int too_large(const char *path, size_t max, const char *what, err_t *e)
{
    return err_set(e, "%s: larger than %zu MiB, the limit for %s", path, max / LIMIT_MIB, what);
}

char *file_read_max(const char *path, size_t max, const char *what, size_t *len, err_t *e)
{
    gzFile gz = gz_open_checked(path, e);
    if (!gz)
        return NULL;
    /* room for max bytes, one more to see that there are more, and the NUL */
    size_t cap = 1u << 16, n = 0;
    if (cap > max + 2)
        cap = max + 2;
    char *buf = xmalloc(cap);
    for (;;) {
        if (cap - n < 2) {
            cap = cap > (max + 2) / 2 ? max + 2 : 2 * cap;
            buf = xrealloc(buf, cap);
        }
        size_t want = cap - n - 1;
        if (want > READ_CHUNK)
            want = READ_CHUNK;
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0 || (got == 0 && gz_check(gz, path, NULL) != 0)) {
            gz_check(gz, path, e);
            free(buf);
            gzclose_r(gz);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            too_large(path, max, what, e);
            free(buf);
            gzclose_r(gz);
            return NULL;
        }
    }
    gzclose_r(gz);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *file_read_all(const char *path, size_t *len, err_t *e)
{
    return file_read_max(path, LIMIT_DATA_BYTES, "a file", len, e);
}

struct line_reader {
    gzFile gz;
    char *path;
    char *buf;
    size_t cap;
    size_t beg, end;   /* unread bytes are buf[beg, end) */
    int eof;
    int failed;
    long long lineno;
    size_t max_line, max_total, total;   /* limits, and the bytes read so far */
    const char *what;
    err_t err;
};

line_reader *lines_open(const char *path, err_t *e)
{
    gzFile gz = gz_open_checked(path, e);
    if (!gz)
        return NULL;
    line_reader *r = xcalloc(1, sizeof *r);
    r->gz = gz;
    r->path = xstrdup(path);
    r->cap = 1u << 16;
    r->buf = xmalloc(r->cap);
    lines_limit(r, LIMIT_LINE_BYTES, LIMIT_DATA_BYTES, "a file");
    return r;
}

void lines_limit(line_reader *r, size_t max_line, size_t max_total, const char *what)
{
    r->max_line = max_line;
    r->max_total = max_total;
    r->what = what;
}

/* Reads more bytes after buf[end], first moving the unread part to the front and growing the
 * buffer when a line does not fit. Keeps one byte free so a last line can be NUL-terminated. */
static void lines_fill(line_reader *r)
{
    if (r->beg > 0) {
        memmove(r->buf, r->buf + r->beg, r->end - r->beg);
        r->end -= r->beg;
        r->beg = 0;
    }
    if (r->end > r->max_line) {   /* all of it is one unfinished line */
        err_set(&r->err, "%s:%lld: longer than %zu MiB, the limit for a line of %s", r->path, r->lineno + 1,
                r->max_line / LIMIT_MIB, r->what);
        r->failed = 1;
        return;
    }
    if (r->cap - r->end < 4096) {
        r->cap *= 2;
        r->buf = xrealloc(r->buf, r->cap);
    }
    size_t want = r->cap - r->end - 1;
    if (want > READ_CHUNK)
        want = READ_CHUNK;
    int got = gzread(r->gz, r->buf + r->end, (unsigned)want);
    if (got < 0 || (got == 0 && gz_check(r->gz, r->path, NULL) != 0)) {
        gz_check(r->gz, r->path, &r->err);
        r->failed = 1;
        return;
    }
    if (got == 0)
        r->eof = 1;
    r->end += (size_t)got;
    r->total += (size_t)got;
    if (r->total > r->max_total) {
        too_large(r->path, r->max_total, r->what, &r->err);
        r->failed = 1;
    }
}

const char *lines_next(line_reader *r, size_t *len)
{
    size_t scanned = 0;   /* bytes after beg already known to hold no '\n' */
    while (!r->failed) {
        char *start = r->buf + r->beg;
        char *nl = memchr(start + scanned, '\n', r->end - r->beg - scanned);
        if (nl || (r->eof && r->end > r->beg)) {
            size_t n = nl ? (size_t)(nl - start) : r->end - r->beg;
            start[n] = '\0';
            r->beg += nl ? n + 1 : n;
            r->lineno++;
            if (len)
                *len = n;
            return start;
        }
        if (r->eof)
            return NULL;
        scanned = r->end - r->beg;
        lines_fill(r);
    }
    return NULL;
}

long long lines_lineno(const line_reader *r) { return r->lineno; }

int lines_close(line_reader *r, err_t *e)
{
    if (!r)
        return 0;
    int rc = 0;
    if (r->failed) {
        if (e)
            *e = r->err;
        rc = -1;
    }
    gzclose_r(r->gz);
    free(r->buf);
    free(r->path);
    free(r);
    return rc;
}
