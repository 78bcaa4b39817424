#include "io/utf8.h"

uint32_t utf8_next(const unsigned char *s, size_t len, size_t *n)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    uint32_t cp;
    *n = 1;
    if (c < 0x80)
        return c;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return UTF8_INVALID;
    }
    if (len <= need)
        return UTF8_INVALID;
    for (size_t i = 1; i <= need; i++) {
        if (s[i] < lo || s[i] > hi)
            return UTF8_INVALID;
        lo = 0x80;
        hi = 0xBF;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    *n = need + 1;
    return cp;
}


size_t utf8_write_valid(FILE *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t replaced = 0;
    for (size_t i = 0; i < len;) {
        size_t n;
        if (utf8_next(u + i, len - i, &n) == UTF8_INVALID) {
            fputs(UTF8_REPLACEMENT, f);
            replaced++;
        } else {
            fwrite(u + i, 1, n, f);
        }
        i += n;
    }
    return replaced;
}
