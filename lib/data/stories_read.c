/* Real story corpora (TinyStories, BabiStories) and the validation split (stories.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/stories.h"
#include "io/gzfile.h"
#include "io/json.h"
#include "io/limits.h"

/* What the size limits call the file. */
#define CORPUS "a story corpus"

/* ---- collecting stories into one block ------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t n, cap; /* bytes of data */
    size_t *off;   /* start of each story in data */
    size_t count, cap_off;
} collector;

static void put_bytes(collector *c, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (c->n + n > c->cap) {
        size_t cap = c->cap ? c->cap : 1 << 16;
        while (c->n + n > cap)
            cap *= 2;
        c->data = xrealloc(c->data, cap);
        c->cap = cap;
    }
    memcpy(c->data + c->n, s, n);
    c->n += n;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Adds s[0, n) as a story: "\r\n" and a lone '\r' read as "\n", a NUL byte as a space (a story is a
 * C string; a space rather than nothing, so that no "<|endoftext|>" is formed by joining text),
 * then the white space around it dropped; blank ones skipped. Trimming comes last, so that neither
 * "\0" nor "a \0" can leave an empty story or a trailing space. */
static void add_story(collector *c, const char *s, size_t n)
{
    if (n == 0)
        return;
    size_t start = c->n, k = 0, a = 0;
    put_bytes(c, s, n);
    char *d = c->data + start;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n')
            continue;
        d[k++] = d[i] == '\r' ? '\n' : d[i] == '\0' ? ' ' : d[i];
    }
    while (a < k && is_space(d[a]))
        a++;
    while (k > a && is_space(d[k - 1]))
        k--;
    c->n = start;
    if (a == k)
        return;
    memmove(d, d + a, k - a);
    c->n = start + (k - a);
    put_bytes(c, "", 1);
    if (c->count == c->cap_off) {
        c->cap_off = c->cap_off ? 2 * c->cap_off : 1024;
        c->off = xrealloc(c->off, c->cap_off * sizeof *c->off);
    }
    c->off[c->count++] = start;
}

static void collector_into(collector *c, story_set *out)
{
    out->n = c->count;
    out->data = c->data ? c->data : xcalloc(1, 1);
    out->text = xmalloc((c->count ? c->count : 1) * sizeof *out->text);
    out->len = xmalloc((c->count ? c->count : 1) * sizeof *out->len);
    for (size_t i = 0; i < c->count; i++) {
        out->text[i] = out->data + c->off[i];
        out->len[i] = strlen(out->text[i]);
    }
    free(c->off);
    memset(c, 0, sizeof *c);
}

static void collector_free(collector *c)
{
    free(c->data);
    free(c->off);
    memset(c, 0, sizeof *c);
}

/* ---- the formats ---------------------------------------------------------------------------------- */

/* The story of one JSON value: a string, or an object's "text" (else "story") string. */
static const char *json_story(const json_value *v)
{
    if (v->type == JSON_STRING)
        return v->text;
    const json_value *t = json_get(v, "text");
    if (!t || t->type != JSON_STRING)
        t = json_get(v, "story");
    return t && t->type == JSON_STRING ? t->text : NULL;
}

static int json_line(collector *c, const char *line, size_t len, const char *path, long long lineno, err_t *e)
{
    json_value v;
    err_t je;
    if (json_parse(line, len, &v, &je) != 0)
        return err_set(e, "%s:%lld: %s", path, lineno, je.msg);
    const char *s = json_story(&v);
    if (!s) {
        json_free(&v);
        return err_set(e, "%s:%lld: expected a JSON string or an object with a \"text\" or \"story\" string",
                       path, lineno);
    }
    add_story(c, s, strlen(s));
    json_free(&v);
    return 0;
}

static int read_json_array(collector *c, const char *path, err_t *e)
{
    size_t len;
    char *text = file_read_max(path, LIMIT_DATA_BYTES, CORPUS, &len, e);
    if (!text)
        return -1;
    json_value v;
    err_t je;
    int rc = json_parse(text, len, &v, &je);
    free(text);
    if (rc != 0)
        return err_set(e, "%s: %s", path, je.msg);
    if (v.type != JSON_ARRAY) {
        json_free(&v);
        return err_set(e, "%s: expected a JSON array of stories", path);
    }
    for (int i = 0; i < v.n; i++) {
        const char *s = json_story(&v.items[i]);
        if (!s) {
            json_free(&v);
            return err_set(e,
                           "%s: item %d: expected a string or an object with a \"text\" or \"story\" string",
                           path, i);
        }
        add_story(c, s, strlen(s));
    }
    json_free(&v);
    return 0;
}

/* Plain text: the marker ends a story wherever it stands in a line. */
static void plain_line(collector *c, collector *cur, const char *line, size_t len)
{
    static const size_t eot_len = sizeof STORIES_EOT - 1;
    for (const char *m; (m = memmem(line, len, STORIES_EOT, eot_len));) {
        put_bytes(cur, line, (size_t)(m - line));
        add_story(c, cur->data, cur->n);
        cur->n = 0;
        len -= (size_t)(m - line) + eot_len;
        line = m + eot_len;
    }
    put_bytes(cur, line, len);
    put_bytes(cur, "\n", 1);
}

enum { FORMAT_PLAIN, FORMAT_JSON_LINES, FORMAT_JSON_ARRAY };

int stories_read(const char *path, story_set *out, progress *p, err_t *e)
{
    memset(out, 0, sizeof *out);
    line_reader *r = lines_open(path, e);
    if (!r)
        return -1;
    lines_limit(r, LIMIT_LINE_BYTES, LIMIT_DATA_BYTES, CORPUS);
    collector c = {0}, cur = {0};
    int format = -1, rc = 0;
    size_t len;
    for (const char *line; (line = lines_next(r, &len));) {
        if (p)
            progress_update(p, lines_lineno(r), 0, 0);
        if (format < 0) {
            size_t i = 0;
            while (i < len && is_space(line[i]))
                i++;
            if (i == len)
                continue; /* blank lines before the first story say nothing about the format */
            format = line[i] == '{' || line[i] == '"' ? FORMAT_JSON_LINES
                     : line[i] == '['                 ? FORMAT_JSON_ARRAY
                                                      : FORMAT_PLAIN;
            if (format == FORMAT_JSON_ARRAY)
                break;
        }
        if (format == FORMAT_PLAIN)
            plain_line(&c, &cur, line, len);
        else {
            size_t i = 0;
            while (i < len && is_space(line[i]))
                i++;
            if (i < len && (rc = json_line(&c, line, len, path, lines_lineno(r), e)) != 0)
                break;
        }
    }
    if (lines_close(r, rc ? NULL : e) != 0)
        rc = -1;
    if (rc == 0 && format == FORMAT_PLAIN)
        add_story(&c, cur.data, cur.n);
    free(cur.data);
    free(cur.off);
    if (rc == 0 && format == FORMAT_JSON_ARRAY)
        rc = read_json_array(&c, path, e);
    if (rc == 0 && c.count == 0)
        rc = err_set(e, "%s: no stories (the corpus is empty)", path);
    if (rc != 0) {
        collector_free(&c);
        return -1;
    }
    collector_into(&c, out);
    return 0;
}

void story_set_free(story_set *s)
{
    if (!s)
        return;
    free(s->text);
    free(s->len);
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* ---- the validation split ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double split_hash(uint64_t seed, size_t index)
{
    return (double)(splitmix64(seed ^ splitmix64((uint64_t)index)) >> 11) * 0x1.0p-53;
}

int stories_is_validation(uint64_t seed, size_t index, double val_frac)
{
    return split_hash(seed, index) < val_frac;
}

int stories_split(size_t n, uint64_t seed, double val_frac, story_split *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    if (!(val_frac >= 0 && val_frac < 1))
        return err_set(e, "validation fraction %g is not in [0, 1)", val_frac);
    char *is_val = xcalloc(n ? n : 1, 1);
    size_t n_val = 0, lowest = 0, highest = 0;
    double h_low = 2, h_high = -1;
    for (size_t i = 0; i < n; i++) {
        double h = split_hash(seed, i);
        is_val[i] = h < val_frac;
        n_val += (size_t)is_val[i];
        if (h < h_low)
            h_low = h, lowest = i;
        if (h > h_high)
            h_high = h, highest = i;
    }
    /* keep both sides non-empty: the story nearest the threshold crosses it */
    if (n >= 2 && val_frac > 0 && n_val == 0) {
        is_val[lowest] = 1;
        n_val = 1;
    }
    if (n >= 2 && val_frac > 0 && n_val == n) {
        is_val[highest] = 0;
        n_val--;
    }
    out->n_val = n_val;
    out->n_train = n - n_val;
    out->val = xmalloc((n_val ? n_val : 1) * sizeof *out->val);
    out->train = xmalloc((n - n_val ? n - n_val : 1) * sizeof *out->train);
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_val[i])
            out->val[a++] = i;
        else
            out->train[b++] = i;
    }
    free(is_val);
    return 0;
}

void story_split_free(story_split *s)
{
    if (!s)
        return;
    free(s->train);
    free(s->val);
    memset(s, 0, sizeof *s);
}
