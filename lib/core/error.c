#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dst = src with control characters written as escapes (\n, \t, \xNN), cut to fit: a message
 * quotes keys, values and paths from the input, and must stay one line whatever they hold. */
static void one_line(char *dst, size_t cap, const char *src)
{
    size_t k = 0;
    for (const unsigned char *u = (const unsigned char *)src; *u && k + 1 < cap; u++) {
        char esc[8];
        if (*u >= 0x20 && *u != 0x7f) {
            dst[k++] = (char)*u;
            continue;
        }
        if (*u == '\n' || *u == '\t' || *u == '\r')
            snprintf(esc, sizeof esc, "\\%c", *u == '\n' ? 'n' : *u == '\t' ? 't' : 'r');
        else
            snprintf(esc, sizeof esc, "\\x%02X", *u);
        size_t n = strlen(esc);
        if (k + n + 1 > cap)
            break;
        memcpy(dst + k, esc, n);
        k += n;
    }
    dst[k] = '\0';
}

int err_set(err_t *e, const char *fmt, ...)
{
    if (e) {
        char raw[ERR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        one_line(e->msg, sizeof e->msg, raw);
    }
    return -1;
}

void fatal(const char *fmt, ...)
{
    char raw[ERR_MAX], msg[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    one_line(msg, sizeof msg, raw);
    fprintf(stderr, "memlab: %s\n", msg);
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
