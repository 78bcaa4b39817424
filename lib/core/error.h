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

/* Formats the message into e (if e is not NULL) and returns -1, so that `return err_set(e, ...)`. */
int err_set(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "memlab: <message>" on stderr and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Allocation that never returns NULL: out of memory is fatal, with the size asked for. */
void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t bytes);
char *xstrdup(const char *s);
/* 64-byte aligned, zeroed; free with free(). */
void *xaligned_zeroed(size_t bytes);

#endif
