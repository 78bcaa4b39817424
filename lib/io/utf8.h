/* UTF-8: decoding one character strictly, and writing text so that what is written is valid UTF-8
 * whatever the bytes (a model's sampled tokens can end in the middle of a character). */
#ifndef MEMLAB_IO_UTF8_H
#define MEMLAB_IO_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define UTF8_INVALID 0xFFFFFFFFu
/* U+FFFD, the replacement character, encoded */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* The character at s[0, len), len > 0, and its length in *n: strict UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF); anything else is UTF8_INVALID, one byte long. */
uint32_t utf8_next(const unsigned char *s, size_t len, size_t *n);
/* Writes s[0, len) with every byte that does not begin a valid character (a cut multi-byte
 * character, a stray continuation byte) replaced by U+FFFD; returns how many were replaced. */
size_t utf8_write_valid(FILE *f, const char *s, size_t len);

#endif
