/* Error reporting. Library functions that can fail on user input (files, options, configs) return
 * -1 and fill an err_t with a one-line message that names the file, option or key at fault; the
 * command prints it and chooses the exit code. Conditions no input can cause (out of memory,
 * broken invariants) end the process through fatal(). */
#ifndef MEMLAB_ERROR_H
#define MEMLAB_ERROR_H

#include <stddef.h>

#define ERR_MAX 512

typedef struct {
    char msg[ERR_MAX];
} err_t;

/* Formats the message into e (if e is not NULL) and returns -1, so that `return err_set(e, ...)`.
 * Control characters that the input put into it (a key or value holding a newline) are written as
 * escapes (\n, \t, \xNN), so that the message is one line; so are fatal()'s. */
int err_set(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "memlab: <message>" on stderr and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Allocation that never returns NULL: out of memory ends the process with one line naming the
 * function that allocated and the size it asked for ("memlab: out of memory: tensor_alloc asked
 * for 4294967296 bytes (4.29 GB)"), exit status 1. The macros pass the caller's name. */
void *xmalloc_in(size_t bytes, const char *where);
void *xcalloc_in(size_t count, size_t size, const char *where);
void *xrealloc_in(void *p, size_t bytes, const char *where);
char *xstrdup_in(const char *s, const char *where);
/* 64-byte aligned, zeroed; free with free(). */
void *xaligned_zeroed_in(size_t bytes, const char *where);
#define xmalloc(bytes) xmalloc_in((bytes), __func__)
#define xcalloc(count, size) xcalloc_in((count), (size), __func__)
#define xrealloc(p, bytes) xrealloc_in((p), (bytes), __func__)
#define xstrdup(s) xstrdup_in((s), __func__)
#define xaligned_zeroed(bytes) xaligned_zeroed_in((bytes), __func__)

#endif
