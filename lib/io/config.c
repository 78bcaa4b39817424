#include "io/config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "io/gzfile.h"
#include "io/limits.h"

/* A growable list of entries being read. */
typedef struct {
    config_entry *v;
    int n, cap;
} entry_list;

static void entry_list_free(entry_list *l)
{
    config_free(l->v, l->n);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* The entries own their strings. */
static config_entry *entry_list_push(entry_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    config_entry *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    return c;
}

static int plain_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)ev->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* libyaml's reader errors carry a byte offset but no line; count the lines before it. */
static int line_of_offset(const char *text, size_t len, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < len; i++)
        line += text[i] == '\n';
    return line;
}

static int syntax_error(const yaml_parser_t *p, const char *path, const char *text, size_t len, err_t *e)
{
    if (p->error == YAML_MEMORY_ERROR)
        fatal("out of memory parsing %s", path);
    int line = p->error == YAML_READER_ERROR ? line_of_offset(text, len, p->problem_offset)
                                             : (int)p->problem_mark.line + 1;
    const char *problem = p->problem ? p->problem : "unknown error";
    /* the context ("while parsing a flow sequence") points at where the broken construct began */
    if (p->context && p->error != YAML_READER_ERROR)
        return err_set(e, "%s:%d: YAML syntax error: %s (%s on line %d)", path, line, problem, p->context,
                       (int)p->context_mark.line + 1);
    return err_set(e, "%s:%d: YAML syntax error: %s", path, line, problem);
}

/* The parser's state between events: where in the flat mapping we are. */
enum cfg_state { ST_STREAM, ST_DOC, ST_TOP, ST_KEY, ST_VALUE, ST_SEQ, ST_DOC_END, ST_AFTER_DOC, ST_END };

/* Appends a list item to the entry being read, joined by ','. A comma inside an item would be
 * indistinguishable from a separator afterwards, so it is refused. */
static int seq_append(config_entry *c, const char *item, int first, const char *path, err_t *e)
{
    if (strchr(item, ','))
        return err_set(e, "%s:%d: key '%s': list item '%s' must not contain a comma", path, c->line,
                       c->key, item);
    size_t a = strlen(c->value), b = strlen(item);
    c->value = xrealloc(c->value, a + b + 2);
    if (!first)
        c->value[a++] = ',';
    memcpy(c->value + a, item, b + 1);
    return 0;
}

static int config_parse(const char *path, const char *text, size_t len, entry_list *l, err_t *e)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        fatal("out of memory parsing %s", path);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);

    enum cfg_state st = ST_STREAM;
    config_entry *cur = NULL;
    int nitems = 0;   /* items of the list being read */
    int rc = 0;
    while (rc == 0 && st != ST_END) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(&p, path, text, len, e);
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        const char *sval = ev.type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : NULL;
        if (ev.type == YAML_ALIAS_EVENT) {
            rc = err_set(e, "%s:%d: YAML aliases are not supported", path, line);
        } else if (st == ST_STREAM) {
            st = ST_DOC;   /* STREAM-START */
        } else if (st == ST_DOC) {
            if (ev.type == YAML_STREAM_END_EVENT)
                st = ST_END;
            else
                st = ST_TOP;   /* DOCUMENT-START */
        } else if (st == ST_TOP) {
            if (ev.type == YAML_MAPPING_START_EVENT)
                st = ST_KEY;
            else if (ev.type == YAML_SCALAR_EVENT && plain_null(&ev))
                st = ST_DOC_END;   /* a document holding only "---" or "~" */
            else
                rc = err_set(e, "%s:%d: the top level must be a mapping of key: value lines", path, line);
        } else if (st == ST_KEY) {
            if (ev.type == YAML_MAPPING_END_EVENT) {
                st = ST_DOC_END;
            } else if (ev.type != YAML_SCALAR_EVENT) {
                rc = err_set(e, "%s:%d: keys must be plain words, not lists or mappings", path, line);
            } else if (strlen(sval) > LIMIT_CONFIG_KEY_BYTES) {
                rc = err_set(e, "%s:%d: a key of %zu bytes (keys are option names, at most %d bytes)", path,
                             line, strlen(sval), LIMIT_CONFIG_KEY_BYTES);
            } else {
                for (int i = 0; i < l->n; i++)
                    if (!strcmp(l->v[i].key, sval))
                        rc = err_set(e, "%s:%d: duplicate key '%s' (first on line %d)", path, line, sval,
                                     l->v[i].line);
                if (rc == 0) {
                    cur = entry_list_push(l);
                    cur->key = xstrdup(sval);
                    cur->line = line;
                    st = ST_VALUE;
                }
            }
        } else if (st == ST_VALUE) {
            if (ev.type == YAML_SCALAR_EVENT) {
                cur->is_null = plain_null(&ev);
                cur->value = xstrdup(cur->is_null ? "" : sval);
                st = ST_KEY;
            } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
                cur->value = xstrdup("");
                cur->is_seq = 1;
                nitems = 0;
                st = ST_SEQ;
            } else {
                rc = err_set(e, "%s:%d: key '%s' must be a scalar or a list of scalars", path, cur->line,
                             cur->key);
            }
        } else if (st == ST_SEQ) {
            if (ev.type == YAML_SEQUENCE_END_EVENT) {
                st = ST_KEY;
            } else if (ev.type == YAML_SCALAR_EVENT) {
                rc = seq_append(cur, sval, nitems++ == 0, path, e);
            } else {
                rc = err_set(e, "%s:%d: key '%s' must be a scalar or a list of scalars", path, cur->line,
                             cur->key);
            }
        } else if (st == ST_DOC_END) {
            st = ST_AFTER_DOC;   /* DOCUMENT-END */
        } else if (st == ST_AFTER_DOC) {
            if (ev.type == YAML_STREAM_END_EVENT)
                st = ST_END;
            else
                rc = err_set(e, "%s:%d: only one YAML document is allowed", path, line);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

int config_parse_text(const char *what, const char *text, size_t len, config_entry **out, int *n, err_t *e)
{
    *out = NULL;
    *n = 0;
    if (len > LIMIT_CONFIG_BYTES)
        return err_set(e, "%s: larger than %zu MiB, the limit for a YAML config", what, LIMIT_CONFIG_BYTES / LIMIT_MIB);
    entry_list l = {0};
    if (config_parse(what, text, len, &l, e) != 0) {
        entry_list_free(&l);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

int config_load(const char *path, config_entry **out, int *n, err_t *e)
{
    *out = NULL;
    *n = 0;
    size_t len;
    char *text = file_read_max(path, LIMIT_CONFIG_BYTES, "a YAML config file", &len, e);
    if (!text)
        return -1;
    int rc = config_parse_text(path, text, len, out, n, e);
    free(text);
    return rc;
}

void config_free(config_entry *entries, int n)
{
    for (int i = 0; i < n; i++) {
        free(entries[i].key);
        free(entries[i].value);
    }
    free(entries);
}

/* ---- writing ------------------------------------------------------------------------------------ */

/* Words that YAML 1.1 or 1.2 readers turn into booleans or null. */
static int reserved_word(const char *s)
{
    static const char *const words[] = {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcasecmp(s, words[i]))
            return 1;
    return 0;
}

/* The code point at s (NUL-terminated) and its length in *n; -1 (with *n = 1) for a byte that does
 * not start well-formed UTF-8 (overlong, surrogate, beyond U+10FFFF, cut short). */
static long utf8_decode(const unsigned char *s, size_t *n)
{
    static const long min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    *n = 1;
    if (len == 0)
        return -1;
    long cp = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)   /* also stops at the NUL */
            return -1;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min_of_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *n = len;
    return cp;
}

/* Characters a YAML reader does not take back as they were when written bare: C0 and C1 controls
 * and DEL (refused, or line breaks: U+0085 is NEL), the Unicode line and paragraph separators
 * U+2028 and U+2029 (line breaks too), the byte-order mark U+FEFF (skipped at the start of a
 * line), the non-characters U+FFFE and U+FFFF (refused), and bytes that are not UTF-8 (refused).
 * -1 stands for such a byte. */
static int needs_escape(long cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF ||
           cp == 0xFFFE || cp == 0xFFFF;
}

/* Whether s must be double-quoted to be read back as the same string. in_flow: inside [ ... ],
 * where ',' and brackets end a plain scalar. */
static int needs_quotes(const char *s, int in_flow, int bare)
{
    size_t n = strlen(s), len;
    if (n == 0 || (!bare && reserved_word(s)))
        return 1;
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
        return 1;
    if (strchr("!&*{}[],#|>@`\"'%?:", s[0]))
        return 1;
    if (s[0] == '-' && (n == 1 || s[1] == ' ' || s[1] == '-'))
        return 1;
    if (!strncmp(s, "...", 3))
        return 1;
    if (strstr(s, ": ") || strstr(s, " #") || s[n - 1] == ':')
        return 1;
    /* libyaml refuses a ':' in a flow item when a flow indicator or '?' follows it ("o::?", a fuzz
     * finding); quoting every item with a ':' is simpler than tracking which ones */
    if (in_flow && strpbrk(s, ",[]{}:"))
        return 1;
    for (const unsigned char *u = (const unsigned char *)s; *u; u += len)
        if (needs_escape(utf8_decode(u, &len)))
            return 1;
    return 0;
}

static void write_scalar(FILE *f, const char *s, int in_flow, int bare)
{
    if (!needs_quotes(s, in_flow, bare)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    size_t len;
    for (const unsigned char *u = (const unsigned char *)s; *u; u += len) {
        long cp = utf8_decode(u, &len);
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (int)cp);
        else if (cp == '\n')
            fputs("\\n", f);
        else if (cp == '\t')
            fputs("\\t", f);
        else if (cp == '\r')
            fputs("\\r", f);
        else if (cp == 0x85 || cp == 0x2028 || cp == 0x2029)   /* YAML's own escapes: \N, \L, \P */
            fprintf(f, "\\%c", cp == 0x85 ? 'N' : cp == 0x2028 ? 'L' : 'P');
        else if (cp < 0)   /* not UTF-8: no YAML string holds this byte; \xNN at least shows it */
            fprintf(f, "\\x%02X", *u);
        else if (needs_escape(cp))
            fprintf(f, cp < 0x100 ? "\\x%02lX" : "\\u%04lX", cp);
        else
            fwrite(u, 1, len, f);
    }
    fputc('"', f);
}

int config_write_yaml(FILE *f, const config_entry *entries, int n)
{
    for (int i = 0; i < n; i++) {
        const config_entry *c = &entries[i];
        write_scalar(f, c->key, 0, 0);
        fputs(":", f);
        if (!c->value || c->is_null) {
            fputs(" null\n", f);
            continue;
        }
        fputc(' ', f);
        if (!c->is_seq) {
            write_scalar(f, c->value, 0, c->bare);
        } else {
            fputc('[', f);
            const char *s = c->value;
            /* an empty value is an empty list; otherwise every ',' separates two items */
            for (int first = 1; *c->value; first = 0) {
                const char *comma = strchr(s, ',');
                size_t len = comma ? (size_t)(comma - s) : strlen(s);
                char *item = xmalloc(len + 1);
                memcpy(item, s, len);
                item[len] = '\0';
                if (!first)
                    fputs(", ", f);
                write_scalar(f, item, 1, 0);
                free(item);
                if (!comma)
                    break;
                s = comma + 1;
            }
            fputc(']', f);
        }
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}
