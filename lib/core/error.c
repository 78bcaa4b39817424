#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int err_set(err_t *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    fputs("memlab: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void out_of_memory(const char *where, double bytes)
{
    fatal("out of memory: %s asked for %.0f bytes (%.3g GB)", where, bytes, bytes / 1e9);
}

void *xmalloc_in(size_t bytes, const char *where)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        out_of_memory(where, (double)bytes);
    return p;
}

void *xcalloc_in(size_t count, size_t size, const char *where)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(where, (double)count * (double)size);
    return p;
}

void *xrealloc_in(void *old, size_t bytes, const char *where)
{
    void *p = realloc(old, bytes ? bytes : 1);
    if (!p)
        out_of_memory(where, (double)bytes);
    return p;
}

char *xstrdup_in(const char *s, const char *where)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc_in(n, where);
    memcpy(p, s, n);
    return p;
}

void *xaligned_zeroed_in(size_t bytes, const char *where)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = rounded >= bytes ? aligned_alloc(64, rounded ? rounded : 64) : NULL;
    if (!p)
        out_of_memory(where, (double)bytes);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}
