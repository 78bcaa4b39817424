/* Reading files that may be gzip-compressed: zlib reads plain files transparently, so every loader
 * accepts both "data.txt" and "data.txt.gz" through one path. */
#ifndef MEMLAB_IO_GZFILE_H
#define MEMLAB_IO_GZFILE_H

#include <stddef.h>

#include "core/error.h"

/* The whole (decompressed) content, NUL-terminated; *len excludes the NUL, so binary data with
 * embedded NULs is fine. NULL and e filled when the file is missing, unreadable or corrupt, or
 * holds more than max bytes (decompressed): "PATH: larger than 1 MiB, the limit for <what>" (what:
 * "a config file"; limits.h has each kind's max). Never holds much more than max bytes. */
char *file_read_max(const char *path, size_t max, const char *what, size_t *len, err_t *e);
/* file_read_max with LIMIT_DATA_BYTES, for "a file" of no particular kind. */
char *file_read_all(const char *path, size_t *len, err_t *e);

typedef struct line_reader line_reader;

line_reader *lines_open(const char *path, err_t *e);
/* Ends reading with an error ("PATH:LINE: longer than 64 MiB, the limit for a line of <what>", or
 * "PATH: larger than N MiB, the limit for <what>") at a line above max_line bytes or once more
 * than max_total bytes were read. Without it, LIMIT_LINE_BYTES and LIMIT_DATA_BYTES hold for "a
 * file"; what is borrowed. */
void lines_limit(line_reader *r, size_t max_line, size_t max_total, const char *what);
/* The next line without its '\n' (a '\r' before it is kept), NUL-terminated, *len its length.
 * Valid until the next call. Lines may be arbitrarily long; a last line without '\n' counts.
 * NULL at the end of the file or on a read error (lines_close tells which). */
const char *lines_next(line_reader *r, size_t *len);
/* 1-based number of the line last returned, for messages. */
long long lines_lineno(const line_reader *r);
/* Releases r; -1 with e filled if reading failed (corrupt or truncated gzip, I/O error). */
int lines_close(line_reader *r, err_t *e);

#endif
