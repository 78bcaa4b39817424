#include "io/ckpt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic.h"
#include "io/json.h"
#include "io/limits.h"

#define SHAPE_MAX_DIM 8

#ifdef MEMLAB_DOUBLE
#define REAL_DTYPE "F64"
#else
#define REAL_DTYPE "F32"
#endif

#if !defined(__BYTE_ORDER__) || (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ && __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__)
#error "unknown byte order"
#endif

/* ---- a growable string for the header --------------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        while (b->n + len + 1 > b->cap)
            b->cap = b->cap ? 2 * b->cap : 1024;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

static void sb_puts(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        fatal("internal: checkpoint header field too long");
    sb_put(b, tmp, (size_t)n);
}

/* JSON string: quotes, backslashes and control characters escaped; other bytes (UTF-8) as is. */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_puts(b, "\"");
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"')
            sb_puts(b, "\\\"");
        else if (*u == '\\')
            sb_puts(b, "\\\\");
        else if (*u == '\n')
            sb_puts(b, "\\n");
        else if (*u == '\t')
            sb_puts(b, "\\t");
        else if (*u == '\r')
            sb_puts(b, "\\r");
        else if (*u < 0x20 || *u == 0x7f)
            sb_printf(b, "\\u%04x", *u);
        else
            sb_put(b, (const char *)u, 1);
    }
    sb_puts(b, "\"");
}

/* ---- saving ----------------------------------------------------------------------------------- */

/* The three sections a checkpoint may hold, in file order. */
static const char *const section_prefix[3] = {"", "optim.m.", "optim.v."};

static const real *section_data(const param_store *ps, int section)
{
    return section == 0 ? ps->data : section == 1 ? ps->m : ps->v;
}

static void header_add_tensor(strbuf *b, const char *prefix, const param_entry *pe, uint64_t *offset)
{
    char name[PARAM_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s%s", prefix, pe->name);
    sb_puts(b, ",");
    sb_json_string(b, name);
    sb_puts(b, ":{\"dtype\":\"" REAL_DTYPE "\",\"shape\":[");
    for (int d = 0; d < pe->ndim; d++)
        sb_printf(b, "%s%d", d ? "," : "", pe->shape[d]);
    uint64_t bytes = (uint64_t)pe->n * sizeof(real);
    sb_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)*offset,
              (unsigned long long)(*offset + bytes));
    *offset += bytes;
}

/* The header JSON, padded with spaces so that the data starts at a multiple of 8 bytes. */
static void header_build(strbuf *b, const param_store *ps, const char *const *meta, int sections)
{
    sb_puts(b, "{\"__metadata__\":{");
    for (const char *const *kv = meta; kv && kv[0]; kv += 2) {
        if (!kv[1])
            fatal("internal: checkpoint metadata key '%s' without a value", kv[0]);
        for (const char *const *prev = meta; prev != kv; prev += 2)
            if (!strcmp(prev[0], kv[0]))
                fatal("internal: checkpoint metadata key '%s' given twice", kv[0]);
        if (kv != meta)
            sb_puts(b, ",");
        sb_json_string(b, kv[0]);
        sb_puts(b, ":");
        sb_json_string(b, kv[1]);
    }
    sb_puts(b, "}");
    uint64_t offset = 0;
    for (int s = 0; s < sections; s++)
        for (int i = 0; i < ps->count; i++)
            header_add_tensor(b, section_prefix[s], &ps->entries[i], &offset);
    sb_puts(b, "}");
    while (b->n % 8)
        sb_puts(b, " ");
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int write_reals(FILE *f, const real *x, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return fwrite(x, sizeof *x, n, f) == n ? 0 : -1;
#else
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf / sizeof *x ? n : sizeof buf / sizeof *x;
        for (size_t i = 0; i < k; i++) {
            const unsigned char *src = (const unsigned char *)&x[i];
            for (size_t j = 0; j < sizeof *x; j++)
                buf[i * sizeof *x + j] = src[sizeof *x - 1 - j];
        }
        if (fwrite(buf, sizeof *x, k, f) != k)
            return -1;
        x += k;
        n -= k;
    }
    return 0;
#endif
}

int ckpt_save(const char *path, const param_store *ps, const char *const *meta, int with_optim, err_t *e)
{
    if (!ps->allocated)
        fatal("internal: saving a parameter store that was never allocated");
    int sections = with_optim ? 3 : 1;
    strbuf h = {0};
    header_build(&h, ps, meta, sections);

    atomic_file *a = atomic_open(path, e);
    if (!a) {
        free(h.s);
        return -1;
    }
    FILE *f = atomic_fp(a);
    unsigned char len[8];
    put_le64(len, h.n);
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(h.s, 1, h.n, f) == h.n;
    for (int s = 0; ok && s < sections; s++)
        for (int i = 0; ok && i < ps->count; i++)
            ok = write_reals(f, section_data(ps, s) + ps->entries[i].offset, ps->entries[i].n) == 0;
    free(h.s);
    if (!ok) {
        err_set(e, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(a);
        return -1;
    }
    return atomic_commit(a, e);
}

/* ---- reading the header ----------------------------------------------------------------------- */

typedef enum { DT_F64, DT_F32, DT_F16, DT_BF16, DT_OTHER } dtype_kind;

static const struct {
    const char *name;
    int size;
    dtype_kind kind;
} dtypes[] = {
    {"F64", 8, DT_F64},    {"F32", 4, DT_F32},      {"F16", 2, DT_F16},      {"BF16", 2, DT_BF16},
    {"I64", 8, DT_OTHER},  {"I32", 4, DT_OTHER},    {"I16", 2, DT_OTHER},    {"I8", 1, DT_OTHER},
    {"U64", 8, DT_OTHER},  {"U32", 4, DT_OTHER},    {"U16", 2, DT_OTHER},    {"U8", 1, DT_OTHER},
    {"BOOL", 1, DT_OTHER}, {"F8_E4M3", 1, DT_OTHER}, {"F8_E5M2", 1, DT_OTHER},
};

typedef struct {
    const char *name;    /* points into the parsed header */
    const char *dtype;   /* as written */
    dtype_kind kind;
    int elem_size;
    int ndim;
    uint64_t shape[SHAPE_MAX_DIM];
    uint64_t numel;
    uint64_t begin, end; /* byte offsets into the data section */
} st_tensor;

typedef struct {
    json_value root;
    const json_value *meta;   /* __metadata__ or NULL */
    st_tensor *t;
    int n;
    uint64_t data_start;      /* 8 + header length */
} st_header;

static void header_free(st_header *h)
{
    json_free(&h->root);
    free(h->t);
    memset(h, 0, sizeof *h);
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void shape_str(char *buf, size_t len, int ndim, const uint64_t *shape)
{
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%llu", d ? "," : "", (unsigned long long)shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
}

/* One tensor's entry: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}. */
static int tensor_parse(const char *path, const char *name, const json_value *v, uint64_t data_len,
                        st_tensor *t, err_t *e)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    const json_value *dt = json_get(v, "dtype"), *shape = json_get(v, "shape");
    const json_value *offs = json_get(v, "data_offsets");
    if (!dt || dt->type != JSON_STRING || !shape || shape->type != JSON_ARRAY || !offs ||
        offs->type != JSON_ARRAY || offs->n != 2 || json_uint(&offs->items[0], &t->begin) != 0 ||
        json_uint(&offs->items[1], &t->end) != 0)
        return err_set(e, "%s: tensor '%s': bad header entry (needs dtype, shape and data_offsets)", path, name);
    t->dtype = dt->text;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(dt->text, dtypes[i].name)) {
            t->kind = dtypes[i].kind;
            t->elem_size = dtypes[i].size;
        }
    if (!t->elem_size)
        return err_set(e, "%s: tensor '%s' has unknown dtype '%s'", path, name, dt->text);
    if (shape->n > SHAPE_MAX_DIM)
        return err_set(e, "%s: tensor '%s' has %d dimensions (at most %d supported)", path, name, shape->n,
                       SHAPE_MAX_DIM);
    t->ndim = shape->n;
    t->numel = 1;
    int overflow = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (json_uint(&shape->items[d], &t->shape[d]) != 0)
            return err_set(e, "%s: tensor '%s': shape must be a list of non-negative integers", path, name);
        overflow |= __builtin_mul_overflow(t->numel, t->shape[d], &t->numel);
    }
    uint64_t bytes;
    overflow |= __builtin_mul_overflow(t->numel, (uint64_t)t->elem_size, &bytes);
    char sh[256];
    shape_str(sh, sizeof sh, t->ndim, t->shape);
    if (overflow || t->end < t->begin || t->end - t->begin != bytes)
        return err_set(e, "%s: tensor '%s': data_offsets [%llu,%llu] do not match shape %s of %s", path, name,
                       (unsigned long long)t->begin, (unsigned long long)t->end, sh, t->dtype);
    if (t->end > data_len)
        return err_set(e, "%s: truncated file: tensor '%s' needs %llu data bytes, the file holds %llu", path,
                       name, (unsigned long long)t->end, (unsigned long long)data_len);
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every key of the header once (a tensor or __metadata__ named twice is refused). Sorted rather
 * than compared pairwise: a 100 MB header can hold millions of keys. The message is written before
 * anything is freed, since it quotes a key of the parsed header. */
static int keys_unique(const json_value *root, const char *path, err_t *e)
{
    if (root->n < 2)
        return 0;
    char **keys = xmalloc((size_t)root->n * sizeof *keys);
    memcpy(keys, root->keys, (size_t)root->n * sizeof *keys);
    qsort(keys, (size_t)root->n, sizeof *keys, key_cmp);
    int rc = 0;
    for (int i = 1; i < root->n && rc == 0; i++)
        if (!strcmp(keys[i - 1], keys[i]))
            rc = err_set(e, "%s: '%s' appears twice in the header", path, keys[i]);
    free(keys);
    return rc;
}

/* Reads and checks the header: its length against the file, the JSON, every tensor's entry
 * against the data the file really holds. */
static int header_read(FILE *f, const char *path, st_header *h, err_t *e)
{
    memset(h, 0, sizeof *h);
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return err_set(e, "%s: cannot read: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(e, "%s: not a regular file", path);
    uint64_t size = (uint64_t)st.st_size;
    unsigned char lenbuf[8];
    if (size < 8 || fread(lenbuf, 1, 8, f) != 8)
        return err_set(e, "%s: not a safetensors file (%llu bytes, too short)", path, (unsigned long long)size);
    uint64_t hlen = get_le64(lenbuf);
    if (hlen > size - 8)
        return err_set(e, "%s: header length %llu is larger than the file (%llu bytes): not a safetensors file, "
                          "or truncated", path, (unsigned long long)hlen, (unsigned long long)size);
    if (hlen > LIMIT_CKPT_HEADER_BYTES)   /* checked before allocating */
        return err_set(e, "%s: header length %llu is larger than %zu MiB, the limit for a safetensors header",
                       path, (unsigned long long)hlen, LIMIT_CKPT_HEADER_BYTES / LIMIT_MIB);
    char *text = xmalloc(hlen + 1);
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return err_set(e, "%s: cannot read: %s", path, ferror(f) ? strerror(errno) : "unexpected end of file");
    }
    text[hlen] = '\0';
    if (hlen == 0 || text[0] != '{') {
        free(text);
        return err_set(e, "%s: not a safetensors file (the header is not a JSON object)", path);
    }
    err_t je;
    int rc = json_parse(text, hlen, &h->root, &je);
    free(text);
    if (rc != 0)
        return err_set(e, "%s: not a safetensors file (bad JSON header: %s)", path, je.msg);

    h->data_start = 8 + hlen;
    uint64_t data_len = size - h->data_start;
    if (keys_unique(&h->root, path, e) != 0) {
        header_free(h);
        return -1;
    }
    h->t = xcalloc((size_t)h->root.n + 1, sizeof *h->t);
    for (int i = 0; i < h->root.n; i++) {
        const char *key = h->root.keys[i];
        const json_value *v = &h->root.items[i];
        if (!strcmp(key, "__metadata__")) {
            int ok = v->type == JSON_OBJECT;
            for (int k = 0; ok && k < v->n; k++)
                ok = v->items[k].type == JSON_STRING;
            if (!ok) {
                header_free(h);
                return err_set(e, "%s: __metadata__ must map strings to strings", path);
            }
            h->meta = v;
            continue;
        }
        if (tensor_parse(path, key, v, data_len, &h->t[h->n], e) != 0) {
            header_free(h);
            return -1;
        }
        h->n++;
    }
    return 0;
}

static int header_open(const char *path, FILE **f, st_header *h, err_t *e)
{
    memset(h, 0, sizeof *h);
    *f = fopen(path, "rb");
    if (!*f)
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    if (header_read(*f, path, h, e) != 0) {
        fclose(*f);
        *f = NULL;
        return -1;
    }
    return 0;
}

static const st_tensor *header_find(const st_header *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->t[i].name, name))
            return &h->t[i];
    return NULL;
}

/* ---- loading ---------------------------------------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)man, -24);   /* zero and subnormals */
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexpf((float)(man | 0x400), exp - 25);
    return (h & 0x8000) ? -v : v;
}

static real decode(const unsigned char *p, dtype_kind kind)
{
    switch (kind) {
    case DT_F64: {
        uint64_t u = get_le64(p);
        double d;
        memcpy(&d, &u, sizeof d);
        return (real)d;
    }
    case DT_F32: {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float x;
        memcpy(&x, &u, sizeof x);
        return (real)x;
    }
    case DT_F16: return (real)half_to_float((uint16_t)(p[0] | p[1] << 8));
    case DT_BF16: {
        uint32_t u = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
        float x;
        memcpy(&x, &u, sizeof x);
        return (real)x;
    }
    case DT_OTHER: break;
    }
    return 0;
}

static int tensor_read(FILE *f, const char *path, const st_header *h, const st_tensor *t, real *dst, err_t *e)
{
    if (fseeko(f, (off_t)(h->data_start + t->begin), SEEK_SET) != 0)
        return err_set(e, "%s: cannot read tensor '%s': %s", path, t->name, strerror(errno));
    unsigned char buf[1 << 16];
    size_t per = sizeof buf / (size_t)t->elem_size;
    for (uint64_t done = 0; done < t->numel;) {
        size_t k = t->numel - done < per ? (size_t)(t->numel - done) : per;
        if (fread(buf, (size_t)t->elem_size, k, f) != k)
            return err_set(e, "%s: cannot read tensor '%s': %s", path, t->name,
                           ferror(f) ? strerror(errno) : "unexpected end of file");
        for (size_t i = 0; i < k; i++)
            dst[done + i] = decode(buf + i * (size_t)t->elem_size, t->kind);
        done += k;
    }
    return 0;
}

/* The file's tensor for one parameter and section, checked against the store's shape. */
static int tensor_match(const char *path, const st_header *h, const param_entry *pe, int section,
                        const st_tensor **out, err_t *e)
{
    char name[PARAM_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s%s", section_prefix[section], pe->name);
    const st_tensor *t = header_find(h, name);
    if (!t)
        return err_set(e, "%s: missing tensor '%s'%s", path, name,
                       section ? " (the checkpoint was saved without the optimizer state?)" : "");
    uint64_t want[SHAPE_MAX_DIM];
    int same = t->ndim == pe->ndim;
    for (int d = 0; d < pe->ndim; d++) {
        want[d] = (uint64_t)pe->shape[d];
        same = same && t->shape[d] == want[d];
    }
    if (!same) {
        char has[256], exp[256];
        shape_str(has, sizeof has, t->ndim, t->shape);
        shape_str(exp, sizeof exp, pe->ndim, want);
        return err_set(e, "%s: tensor '%s' has shape %s, model expects %s", path, name, has, exp);
    }
    if (t->kind == DT_OTHER)
        return err_set(e, "%s: tensor '%s' has dtype %s, expected F32, F64, F16 or BF16", path, name, t->dtype);
    *out = t;
    return 0;
}

int ckpt_load(const char *path, param_store *ps, int with_optim, err_t *e)
{
    if (!ps->allocated)
        fatal("internal: loading into a parameter store that was never allocated");
    FILE *f;
    st_header h;
    if (header_open(path, &f, &h, e) != 0)
        return -1;
    int sections = with_optim ? 3 : 1, rc = 0;
    const st_tensor **match = xcalloc((size_t)ps->count * 3 + 1, sizeof *match);
    for (int s = 0; s < sections && rc == 0; s++)
        for (int i = 0; i < ps->count && rc == 0; i++)
            rc = tensor_match(path, &h, &ps->entries[i], s, &match[s * ps->count + i], e);
    for (int i = 0; i < h.n && rc == 0; i++)
        if (strncmp(h.t[i].name, "optim.", 6) != 0 && params_find(ps, h.t[i].name) < 0)
            rc = err_set(e, "%s: tensor '%s' is not a parameter of the model", path, h.t[i].name);
    /* Only reading can fail from here on (the sizes were checked against the file), so the store
     * is only touched by a load that is going to succeed unless the disk fails. */
    real *bufs[3] = {ps->data, ps->m, ps->v};
    for (int s = 0; s < sections && rc == 0; s++)
        for (int i = 0; i < ps->count && rc == 0; i++)
            rc = tensor_read(f, path, &h, match[s * ps->count + i], bufs[s] + ps->entries[i].offset, e);
    free(match);
    header_free(&h);
    fclose(f);
    return rc;
}

tensor *ckpt_read_tensor(const char *path, const char *name, err_t *e)
{
    FILE *f;
    st_header h;
    if (header_open(path, &f, &h, e) != 0)
        return NULL;
    const st_tensor *t = header_find(&h, name);
    tensor *out = NULL;
    if (!t)
        err_set(e, "%s: missing tensor '%s'", path, name);
    else if (t->kind == DT_OTHER)
        err_set(e, "%s: tensor '%s' has dtype %s, expected F32, F64, F16 or BF16", path, name, t->dtype);
    else if (t->ndim > TENSOR_MAX_DIM || t->numel == 0)
        err_set(e, "%s: tensor '%s' has %d dimensions and %llu elements (1..%d dimensions, not empty)", path,
                name, t->ndim, (unsigned long long)t->numel, TENSOR_MAX_DIM);
    else {
        int shape[TENSOR_MAX_DIM] = {1};
        for (int d = 0; d < t->ndim; d++)
            shape[d] = (int)t->shape[d];
        out = tensor_alloc(t->ndim ? t->ndim : 1, shape, 0);
        if (tensor_read(f, path, &h, t, out->data, e) != 0) {
            tensor_free(out);
            out = NULL;
        }
    }
    header_free(&h);
    fclose(f);
    return out;
}

/* ---- metadata --------------------------------------------------------------------------------- */

ckpt_meta *ckpt_meta_read(const char *path, err_t *e)
{
    FILE *f;
    st_header h;
    if (header_open(path, &f, &h, e) != 0)
        return NULL;
    fclose(f);
    ckpt_meta *m = xcalloc(1, sizeof *m);
    int n = h.meta ? h.meta->n : 0;
    m->keys = xcalloc((size_t)n + 1, sizeof *m->keys);
    m->values = xcalloc((size_t)n + 1, sizeof *m->values);
    for (int i = 0; i < n; i++) {
        m->keys[i] = xstrdup(h.meta->keys[i]);
        m->values[i] = xstrdup(h.meta->items[i].text);
    }
    m->n = n;
    header_free(&h);
    return m;
}

const char *ckpt_meta_get(const ckpt_meta *m, const char *key)
{
    /* JSON readers keep the last of repeated keys; so do we */
    const char *v = NULL;
    for (int i = 0; m && i < m->n; i++)
        if (!strcmp(m->keys[i], key))
            v = m->values[i];
    return v;
}

void ckpt_meta_free(ckpt_meta *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    free(m);
}
