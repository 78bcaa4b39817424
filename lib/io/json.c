#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep nesting only happens in hostile input; a safetensors header needs three levels. */
#define JSON_MAX_DEPTH 64

typedef struct {
    const char *s;
    size_t n, i;
    err_t *e;
} json_parser;

static int jerr(json_parser *p, const char *what)
{
    return err_set(p->e, "%s at byte %zu", what, p->i);
}

static void skip_space(json_parser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int peek(const json_parser *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }

static int literal(json_parser *p, const char *word)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return jerr(p, "invalid literal");
    p->i += len;
    return 0;
}

static int hex4(json_parser *p, unsigned *out)
{
    if (p->n - p->i < 4)
        return jerr(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int c = p->s[p->i + (size_t)k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return jerr(p, "invalid \\u escape");
        v = v * 16 + (unsigned)d;
    }
    p->i += 4;
    *out = v;
    return 0;
}

/* Appends the UTF-8 encoding of code point cp (at most 4 bytes; buf has room). */
static size_t put_utf8(char *buf, unsigned cp)
{
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The decoded string is never longer than its escaped form, so one allocation of that size does. */
static int parse_string(json_parser *p, char **out)
{
    p->i++;   /* the opening quote */
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] != '"')
        p->i += p->s[p->i] == '\\' ? 2 : 1;
    if (p->i >= p->n) {
        p->i = start;
        return jerr(p, "unterminated string");
    }
    size_t end = p->i;
    char *buf = xmalloc(end - start + 1);
    size_t k = 0;
    p->i = start;
    while (p->i < end) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) {
            free(buf);
            return jerr(p, "control character in string");
        }
        if (c != '\\') {
            buf[k++] = (char)c;
            p->i++;
            continue;
        }
        char esc = p->s[p->i + 1];
        p->i += 2;
        switch (esc) {
        case '"': buf[k++] = '"'; break;
        case '\\': buf[k++] = '\\'; break;
        case '/': buf[k++] = '/'; break;
        case 'b': buf[k++] = '\b'; break;
        case 'f': buf[k++] = '\f'; break;
        case 'n': buf[k++] = '\n'; break;
        case 'r': buf[k++] = '\r'; break;
        case 't': buf[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo = 0;
            if (hex4(p, &cp) != 0) {
                free(buf);
                return -1;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                /* a high surrogate must be followed by an escaped low one: \uD83D\uDE00 */
                if (p->i + 2 > end || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    free(buf);
                    return jerr(p, "unpaired surrogate in \\u escape");
                }
                p->i += 2;
                if (hex4(p, &lo) != 0) {
                    free(buf);
                    return -1;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    return jerr(p, "unpaired surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(buf);
                return jerr(p, "unpaired surrogate in \\u escape");
            } else if (cp == 0) {
                free(buf);
                return jerr(p, "\\u0000 in string");
            }
            /* an escape of n >= 6 bytes decodes to at most 4 (a pair: 12 bytes to 4) */
            k += put_utf8(buf + k, cp);
            break;
        }
        default:
            free(buf);
            p->i -= 2;
            return jerr(p, "invalid escape in string");
        }
    }
    buf[k] = '\0';
    p->i = end + 1;
    *out = buf;
    return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int parse_number(json_parser *p, char **out)
{
    size_t start = p->i;
    if (peek(p) == '-')
        p->i++;
    if (peek(p) == '0')
        p->i++;
    else if (is_digit(peek(p)))
        while (is_digit(peek(p)))
            p->i++;
    else
        return jerr(p, "invalid number");
    if (peek(p) == '.') {
        p->i++;
        if (!is_digit(peek(p)))
            return jerr(p, "invalid number");
        while (is_digit(peek(p)))
            p->i++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->i++;
        if (peek(p) == '+' || peek(p) == '-')
            p->i++;
        if (!is_digit(peek(p)))
            return jerr(p, "invalid number");
        while (is_digit(peek(p)))
            p->i++;
    }
    *out = strndup(p->s + start, p->i - start);
    if (!*out)
        fatal("out of memory parsing JSON");
    return 0;
}

static json_value *push_item(json_value *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->items = xrealloc(v->items, (size_t)v->cap * sizeof *v->items);
        if (v->type == JSON_OBJECT)
            v->keys = xrealloc(v->keys, (size_t)v->cap * sizeof *v->keys);
    }
    json_value *item = &v->items[v->n];
    memset(item, 0, sizeof *item);
    if (v->type == JSON_OBJECT)
        v->keys[v->n] = NULL;
    v->n++;
    return item;
}

static int parse_value(json_parser *p, json_value *v, int depth);

/* Arrays and objects share one loop: [ value, ... ] or { "key": value, ... }. */
static int parse_container(json_parser *p, json_value *v, int depth)
{
    int is_obj = v->type == JSON_OBJECT;
    char close = is_obj ? '}' : ']';
    if (depth >= JSON_MAX_DEPTH)
        return jerr(p, "nesting too deep");
    p->i++;
    skip_space(p);
    if (peek(p) == close) {
        p->i++;
        return 0;
    }
    for (;;) {
        skip_space(p);
        json_value *item = push_item(v);
        if (is_obj) {
            if (peek(p) != '"')
                return jerr(p, "expected a string key");
            if (parse_string(p, &v->keys[v->n - 1]) != 0)
                return -1;
            skip_space(p);
            if (peek(p) != ':')
                return jerr(p, "expected ':'");
            p->i++;
            skip_space(p);
        }
        if (parse_value(p, item, depth + 1) != 0)
            return -1;
        skip_space(p);
        if (peek(p) == ',') {
            p->i++;
            continue;
        }
        if (peek(p) == close) {
            p->i++;
            return 0;
        }
        return jerr(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(json_parser *p, json_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    switch (peek(p)) {
    case '{': v->type = JSON_OBJECT; return parse_container(p, v, depth);
    case '[': v->type = JSON_ARRAY; return parse_container(p, v, depth);
    case '"': v->type = JSON_STRING; return parse_string(p, &v->text);
    case 't': v->type = JSON_BOOL; v->boolean = 1; return literal(p, "true");
    case 'f': v->type = JSON_BOOL; return literal(p, "false");
    case 'n': v->type = JSON_NULL; return literal(p, "null");
    case -1: return jerr(p, "unexpected end");
    default: v->type = JSON_NUMBER; return parse_number(p, &v->text);
    }
}

int json_parse(const char *text, size_t len, json_value *out, err_t *e)
{
    json_parser p = {text, len, 0, e};
    memset(out, 0, sizeof *out);
    if (memchr(text, '\0', len)) {
        p.i = (size_t)((const char *)memchr(text, '\0', len) - text);
        return jerr(&p, "NUL byte");
    }
    skip_space(&p);
    int rc = parse_value(&p, out, 0);
    if (rc == 0) {
        skip_space(&p);
        if (p.i != p.n)
            rc = jerr(&p, "unexpected text after the end");
    }
    if (rc != 0) {
        json_free(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void json_free(json_value *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        json_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    memset(v, 0, sizeof *v);
}

const json_value *json_get(const json_value *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT)
        return NULL;
    for (int i = 0; i < v->n; i++)
        if (v->keys[i] && !strcmp(v->keys[i], key))
            return &v->items[i];
    return NULL;
}

int json_uint(const json_value *v, uint64_t *out)
{
    if (!v || v->type != JSON_NUMBER || !is_digit((unsigned char)v->text[0]))
        return -1;
    uint64_t x = 0;
    for (const char *s = v->text; *s; s++) {
        if (!is_digit((unsigned char)*s) || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *out = x;
    return 0;
}
