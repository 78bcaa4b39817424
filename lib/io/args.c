#include "io/args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dist.h"
#include "core/threads.h"
#include "io/config.h"

/* The common options, in the order --help lists them. */
enum { C_SEED, C_THREADS, C_CONFIG, C_PRESET, C_PRINT_CONFIG, C_OUTPUT, C_OUT_DIR, C_FORCE, C_QUIET, C_HELP, NCOMMON };

/* Config keys that args_write_config adds for the record and that a config file may therefore hold
 * (`command` is also checked: a config of another command is refused). */
static const char *const record_keys[] = {"memlab_version", "git_commit", "command", "action", "command_line"};

/* Every option a command accepts: the common ones (pointing into a common_opts) then its own. */
typedef struct {
    const cmd_spec *spec;
    opt_spec common[NCOMMON];
    const opt_spec **all;
    int nall;
    char *out_dir_def;      /* "results/<command>" */
    char *preset_choices;   /* "smoke|default|paper", or "" without presets */
} opt_table;

static void table_build(opt_table *t, const cmd_spec *spec, common_opts *c)
{
    memset(t, 0, sizeof *t);
    t->spec = spec;
    size_t n = strlen(spec->command);
    t->out_dir_def = xmalloc(n + sizeof "results/");
    memcpy(t->out_dir_def, "results/", sizeof "results/" - 1);
    memcpy(t->out_dir_def + sizeof "results/" - 1, spec->command, n + 1);

    size_t len = 1;
    for (int i = 0; i < spec->npresets; i++)
        len += strlen(spec->presets[i].name) + 1;
    t->preset_choices = xcalloc(1, len);
    for (int i = 0; i < spec->npresets; i++) {
        if (i)
            strcat(t->preset_choices, "|");
        strcat(t->preset_choices, spec->presets[i].name);
    }

    const double big = 9.2e18;   /* below LLONG_MAX, so the comparison in doubles is exact enough */
    t->common[C_SEED] = (opt_spec){"seed", 0, OPT_INT, &c->seed, "1",
                                   "random seed; same seed, threads and build give identical output",
                                   NULL, 0, big, "N"};
    t->common[C_THREADS] = (opt_spec){"threads", 0, OPT_INT, &c->threads, "0",
                                      "worker threads; 0 = all online CPUs (also the most used)", NULL, 0, 1e6, "N"};
    t->common[C_CONFIG] = (opt_spec){"config", 0, OPT_STRING, &c->config, NULL,
                                     "read options from a YAML file (key: value; flags override it)",
                                     NULL, 1, 0, "FILE.yaml"};
    t->common[C_PRESET] = (opt_spec){"preset", 0, OPT_STRING, &c->preset, NULL,
                                     "apply a preset (see Presets below)", t->preset_choices, 1, 0, "NAME"};
    t->common[C_PRINT_CONFIG] = (opt_spec){"print-config", 0, OPT_FLAG, &c->print_config, NULL,
                                           "print the resolved configuration as YAML and exit",
                                           NULL, 1, 0, NULL};
    t->common[C_OUTPUT] = (opt_spec){"output", 'o', OPT_STRING, &c->output, "-",
                                     spec->output_help ? spec->output_help : "the primary CSV table; '-' is stdout",
                                     NULL, 1, 0, "FILE"};
    t->common[C_OUT_DIR] = (opt_spec){"out-dir", 0, OPT_STRING, &c->out_dir, t->out_dir_def,
                                      "directory for every other artefact (config, tables, checkpoints, "
                                      "run.log); must be absent or empty unless --force",
                                      NULL, 1, 0, "DIR"};
    t->common[C_FORCE] = (opt_spec){"force", 0, OPT_FLAG, &c->force, NULL,
                                    "write into a non-empty --out-dir, replacing files of the same names",
                                    NULL, 1, 0, NULL};
    t->common[C_QUIET] = (opt_spec){"quiet", 'q', OPT_FLAG, &c->quiet, NULL,
                                    "no progress line or log messages on stderr", NULL, 1, 0, NULL};
    t->common[C_HELP] = (opt_spec){"help", 'h', OPT_FLAG, &c->help, NULL, "show this help and exit",
                                   NULL, 1, 0, NULL};

    t->nall = NCOMMON + spec->nopts;
    t->all = xcalloc((size_t)t->nall, sizeof *t->all);
    for (int i = 0; i < NCOMMON; i++)
        t->all[i] = &t->common[i];
    for (int i = 0; i < spec->nopts; i++)
        t->all[NCOMMON + i] = &spec->opts[i];

    /* A clash would make one option unreachable: a bug in the command's table. */
    for (int i = 0; i < t->nall; i++)
        for (int j = 0; j < i; j++) {
            const opt_spec *a = t->all[i], *b = t->all[j];
            if (!strcmp(a->name, b->name) || (a->short_name && a->short_name == b->short_name))
                fatal("internal: %s: options --%s and --%s clash", spec->command, a->name, b->name);
        }
}

static void table_free(opt_table *t)
{
    free(t->all);
    free(t->out_dir_def);
    free(t->preset_choices);
}

static int find_long(const opt_table *t, const char *name, size_t len)
{
    for (int i = 0; i < t->nall; i++)
        if (strlen(t->all[i]->name) == len && !strncmp(t->all[i]->name, name, len))
            return i;
    return -1;
}

static int find_short(const opt_table *t, char ch)
{
    for (int i = 0; i < t->nall; i++)
        if (t->all[i]->short_name && t->all[i]->short_name == ch)
            return i;
    return -1;
}

/* Config keys and preset keys: the option name, with '_' and '-' interchangeable. */
static int key_matches(const char *key, const char *name)
{
    for (; *key && *name; key++, name++) {
        int k = *key == '_' ? '-' : *key;
        if (k != *name)
            return 0;
    }
    return !*key && !*name;
}

static int find_key(const opt_table *t, const char *key)
{
    for (int i = 0; i < t->nall; i++)
        if (key_matches(key, t->all[i]->name))
            return i;
    return -1;
}

static const preset_def *find_preset(const cmd_spec *spec, const char *name)
{
    for (int i = 0; i < spec->npresets; i++)
        if (!strcmp(spec->presets[i].name, name))
            return &spec->presets[i];
    return NULL;
}

/* ---- values --------------------------------------------------------------------------------- */

/* Integers may be written in scientific notation ("1e6") when the value is exactly integral. */
static int parse_int(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s))   /* strtoll would skip leading blanks */
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = v;
        return 0;
    }
    double d = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return -1;
    *out = (long long)d;
    return 0;
}

/* Returns 1 for a finite number, 0 for not a number, -1 for NaN or an infinity. */
static int parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s))
        return 0;
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0' || end == s)
        return 0;
    if (!isfinite(d))
        return -1;
    *out = d;
    return 1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"}, *const no[] = {"off", "false", "no", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int in_choices(const char *choices, const char *s);

/* 1 when the common option at index i (of the opt_table) is one the command declares unused. */
static int common_unused(const cmd_spec *spec, int i)
{
    static const char *const names[NCOMMON] = {"seed", "threads", "config", "preset", "print-config",
                                               "output", "out-dir", "force", "quiet", "help"};
    /* --force only matters where --out-dir does */
    if (i == C_FORCE)
        i = C_OUT_DIR;
    return i >= 0 && i < NCOMMON && spec->unused_common && in_choices(spec->unused_common, names[i]);
}

static int in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, s, n))
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int has_range(const opt_spec *o) { return o->min <= o->max; }

/* Stores text into o's destination. On failure fills why with the reason, worded to follow the
 * option or key ("expects an integer, got 'x'", "must be >= 1, got -5"). */
static int opt_set(const opt_spec *o, const char *text, char *why, size_t whylen)
{
    switch (o->type) {
    case OPT_INT: {
        long long v;
        if (parse_int(text, &v) != 0) {
            snprintf(why, whylen, "expects an integer, got '%s'", text);
            return -1;
        }
        if (has_range(o) && (double)v < o->min) {
            snprintf(why, whylen, "must be >= %lld, got %s", (long long)ceil(o->min), text);
            return -1;
        }
        if (has_range(o) && (double)v > o->max) {
            snprintf(why, whylen, "must be <= %lld, got %s", (long long)floor(o->max), text);
            return -1;
        }
        *(long long *)o->dest = v;
        return 0;
    }
    case OPT_DOUBLE: {
        double v = 0;
        int ok = parse_double(text, &v);
        if (ok <= 0) {
            snprintf(why, whylen, "expects a %snumber, got '%s'", ok < 0 ? "finite " : "", text);
            return -1;
        }
        if (has_range(o) && v < o->min) {
            snprintf(why, whylen, "must be >= %g, got %s", o->min, text);
            return -1;
        }
        if (has_range(o) && v > o->max) {
            snprintf(why, whylen, "must be <= %g, got %s", o->max, text);
            return -1;
        }
        *(double *)o->dest = v;
        return 0;
    }
    case OPT_STRING: {
        if (o->choices && !in_choices(o->choices, text)) {
            if (!*o->choices)
                snprintf(why, whylen, "cannot be used: this command has no presets");
            else
                snprintf(why, whylen, "must be one of %s, got '%s'", o->choices, text);
            return -1;
        }
        char **dest = o->dest;
        free(*dest);
        *dest = xstrdup(text);
        return 0;
    }
    case OPT_BOOL:
    case OPT_FLAG:
        if (parse_bool(text, o->dest) != 0) {
            snprintf(why, whylen, "expects on or off (or true/false, yes/no, 1/0), got '%s'", text);
            return -1;
        }
        return 0;
    }
    return -1;
}

/* The state before any source is applied: defaults, or zero/NULL. */
static void opt_set_default(const opt_spec *o, const char *command)
{
    char why[ERR_MAX];
    if (o->def) {
        if (opt_set(o, o->def, why, sizeof why) != 0)
            fatal("internal: %s: default of --%s %s", command, o->name, why);
        return;
    }
    switch (o->type) {
    case OPT_INT: *(long long *)o->dest = 0; break;
    case OPT_DOUBLE: *(double *)o->dest = 0; break;
    case OPT_STRING: free(*(char **)o->dest); *(char **)o->dest = NULL; break;
    case OPT_BOOL:
    case OPT_FLAG: *(int *)o->dest = 0; break;
    }
}

/* ---- the command line ------------------------------------------------------------------------ */

typedef struct {
    int opt;             /* index into the table */
    int is_short;        /* given as -o rather than --output (for messages) */
    const char *value;   /* NULL for a flag */
} cli_item;

/* A token that can be an option's value: anything but an option. "-" (stdout) and negative
 * numbers are values, so that "--iters -5" reaches the range check. */
static int is_value(const char *s)
{
    if (s[0] != '-' || s[1] == '\0')
        return 1;
    const char *d = s + 1 + (s[1] == '.');
    return *d >= '0' && *d <= '9';
}

static void opt_spelling(const opt_table *t, const cli_item *it, char *buf, size_t len)
{
    if (it->is_short)
        snprintf(buf, len, "-%c", t->all[it->opt]->short_name);
    else
        snprintf(buf, len, "--%s", t->all[it->opt]->name);
}

static void add_positional(common_opts *c, const char *s)
{
    c->positional = xrealloc(c->positional, (size_t)(c->npositional + 1) * sizeof *c->positional);
    c->positional[c->npositional++] = xstrdup(s);
}

/* Splits argv into options (with their values) and positional arguments. */
static int cli_tokenize(const opt_table *t, int argc, char **argv, cli_item *items, int *nitems,
                        common_opts *c, err_t *e)
{
    const char *cmd = t->spec->command;
    int only_positional = 0;
    *nitems = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || is_value(a)) {
            add_positional(c, a);
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        cli_item it = {0};
        const char *inline_value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            it.opt = find_long(t, name, len);
            if (it.opt < 0)
                return err_set(e, "%s: unknown option '--%.*s'", cmd, (int)len, name);
            inline_value = eq ? eq + 1 : NULL;
        } else {
            it.is_short = 1;
            it.opt = find_short(t, a[1]);
            if (it.opt < 0 || (a[2] && t->all[it.opt]->type == OPT_FLAG))
                return err_set(e, "%s: unknown option '%s'", cmd, a);
            inline_value = a[2] ? a + 2 : NULL;   /* -oFILE */
        }
        char spelled[80];
        opt_spelling(t, &it, spelled, sizeof spelled);
        if (common_unused(t->spec, it.opt))
            return err_set(e, "%s: %s does not apply to this command", cmd, spelled);
        if (t->all[it.opt]->type == OPT_FLAG) {
            if (inline_value)
                return err_set(e, "%s: %s takes no value", cmd, spelled);
        } else if (inline_value) {
            it.value = inline_value;
        } else if (i + 1 < argc && is_value(argv[i + 1])) {
            it.value = argv[++i];
        } else {
            return err_set(e, "%s: %s needs a value", cmd, spelled);
        }
        items[(*nitems)++] = it;
    }
    return 0;
}

/* Records that the user set option i (config_apply, cli_apply); common options are not tracked,
 * nor a resumed checkpoint's own configuration (c NULL). */
static void mark_given(const opt_table *t, common_opts *c, int i)
{
    if (i >= NCOMMON && c && c->given)
        c->given[i - NCOMMON] = 1;
}

static int cli_apply(const opt_table *t, const cli_item *it, common_opts *c, err_t *e)
{
    const opt_spec *o = t->all[it->opt];
    char why[ERR_MAX], spelled[80];
    mark_given(t, c, it->opt);
    if (o->type == OPT_FLAG) {
        *(int *)o->dest = 1;
        return 0;
    }
    if (opt_set(o, it->value, why, sizeof why) == 0)
        return 0;
    opt_spelling(t, it, spelled, sizeof spelled);
    return err_set(e, "%s: %s %s", t->spec->command, spelled, why);
}

/* The last value given on the command line for one option, or NULL. */
static const char *cli_last(const cli_item *items, int n, int opt)
{
    const char *v = NULL;
    for (int i = 0; i < n; i++)
        if (items[i].opt == opt)
            v = items[i].value;
    return v;
}

/* ---- presets and config files ---------------------------------------------------------------- */

/* Presets are part of the program, so a bad one is a bug, not a usage error. */
static void preset_apply(const opt_table *t, const preset_def *p)
{
    char why[ERR_MAX];
    for (const char *const *kv = p->kv; kv && kv[0]; kv += 2) {
        int i = find_key(t, kv[0]);
        if (i < 0 || i == C_CONFIG || i == C_PRESET || i == C_HELP || !kv[1])
            fatal("internal: %s: preset '%s' sets '%s', which is not a settable option", t->spec->command,
                  p->name, kv[0]);
        if (opt_set(t->all[i], kv[1], why, sizeof why) != 0)
            fatal("internal: %s: preset '%s': --%s %s", t->spec->command, p->name, kv[0], why);
    }
}

static int is_record_key(const char *key)
{
    for (size_t i = 0; i < sizeof record_keys / sizeof *record_keys; i++)
        if (!strcmp(key, record_keys[i]))
            return 1;
    return 0;
}

static const char *type_noun(opt_type type)
{
    switch (type) {
    case OPT_INT: return "an integer";
    case OPT_DOUBLE: return "a number";
    case OPT_BOOL:
    case OPT_FLAG: return "on or off";
    case OPT_STRING: break;
    }
    return "a value";
}

static int config_apply(const opt_table *t, const char *path, const config_entry *entries, int n,
                        common_opts *given, err_t *e)
{
    char why[ERR_MAX];
    int *set_on_line = xcalloc((size_t)t->nall, sizeof *set_on_line);
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        const config_entry *c = &entries[k];
        if (!strcmp(c->key, "command") && !c->is_null && !c->is_seq && strcmp(c->value, t->spec->command)) {
            rc = err_set(e, "%s:%d: this configuration is for memlab %s, not %s", path, c->line, c->value,
                         t->spec->command);
            continue;
        }
        if (is_record_key(c->key))
            continue;
        int i = find_key(t, c->key);
        if (i < 0 || i == C_HELP) {
            rc = err_set(e, "%s:%d: unknown key '%s'", path, c->line, c->key);
        } else if (i == C_CONFIG) {
            rc = err_set(e, "%s:%d: key '%s' cannot be used inside a config file", path, c->line, c->key);
        } else if (set_on_line[i]) {
            rc = err_set(e, "%s:%d: key '%s' sets the same option as line %d", path, c->line, c->key,
                         set_on_line[i]);
        } else if (i == C_PRESET) {
            set_on_line[i] = c->line;   /* chosen before the config was applied */
        } else {
            const opt_spec *o = t->all[i];
            set_on_line[i] = c->line;
            mark_given(t, given, i);
            /* null is "unset": what a string option without a default holds before any source, and
             * what args_write_config writes for it, choices or not. */
            if (c->is_null && o->type == OPT_STRING && (!o->choices || !o->def)) {
                free(*(char **)o->dest);
                *(char **)o->dest = NULL;
            } else if (c->is_null) {
                rc = err_set(e, "%s:%d: key '%s' needs a value", path, c->line, c->key);
            } else if (c->is_seq && o->type != OPT_STRING) {
                rc = err_set(e, "%s:%d: key '%s' expects %s, got a list", path, c->line, c->key,
                             type_noun(o->type));
            } else if (opt_set(o, c->value, why, sizeof why) != 0) {
                rc = err_set(e, "%s:%d: key '%s' %s", path, c->line, c->key, why);
            }
        }
    }
    free(set_on_line);
    return rc;
}

/* The preset to apply: --preset, else the config file's `preset` key, else "default" if defined. */
static int preset_choose(const opt_table *t, const char *cli_value, const char *path,
                         const config_entry *entries, int n, const preset_def **out, err_t *e)
{
    const cmd_spec *spec = t->spec;
    char why[ERR_MAX];
    *out = NULL;
    if (cli_value) {
        if (!(*out = find_preset(spec, cli_value))) {
            opt_set(&t->common[C_PRESET], cli_value, why, sizeof why);
            return err_set(e, "%s: --preset %s", spec->command, why);
        }
        return 0;
    }
    for (int k = 0; k < n; k++) {
        if (find_key(t, entries[k].key) != C_PRESET || entries[k].is_null)
            continue;
        if (!(*out = find_preset(spec, entries[k].value))) {
            opt_set(&t->common[C_PRESET], entries[k].value, why, sizeof why);
            return err_set(e, "%s:%d: key '%s' %s", path, entries[k].line, entries[k].key, why);
        }
        return 0;
    }
    *out = find_preset(spec, "default");
    return 0;
}

/* ---- a resumed run: the checkpoint's configuration as the base --------------------------------- */

static char *value_text(const opt_spec *o);

/* name in a '|'-separated list (NULL: empty). */
static int in_list(const char *list, const char *name)
{
    return list && in_choices(list, name);
}

/* The checkpoint a resumed run continues: the command line's, else the config file's, or NULL. */
static const char *resume_path(const opt_table *t, const cli_item *items, int nitems, const config_entry *entries,
                               int n)
{
    if (!t->spec->resume_config)
        return NULL;
    int opt = find_long(t, t->spec->resume_option, strlen(t->spec->resume_option));
    if (opt < 0)
        fatal("internal: %s: resume_option --%s is not an option", t->spec->command, t->spec->resume_option);
    const char *v = cli_last(items, nitems, opt);
    for (int k = 0; !v && k < n; k++)
        if (find_key(t, entries[k].key) == opt && !entries[k].is_null)
            v = entries[k].value;
    return v;
}

typedef struct {
    char what[4200];        /* "CKPT's configuration", for messages */
    config_entry *entries;  /* what the checkpoint carries */
    int n;
    char **value;           /* every option's value once it was applied (value_text), for the check */
} resume_base;

static void resume_base_free(resume_base *b, int nall)
{
    config_free(b->entries, b->n);
    for (int i = 0; b->value && i < nall; i++)
        free(b->value[i]);
    free(b->value);
}

/* Reads the checkpoint's configuration; 0 with b->n == 0 (and a note) when it carries none. */
static int resume_base_read(const opt_table *t, const char *ckpt, int quiet, resume_base *b, err_t *e)
{
    memset(b, 0, sizeof *b);
    snprintf(b->what, sizeof b->what, "%s's configuration", ckpt);
    err_t re = {{0}};
    char *text = t->spec->resume_config(ckpt, &re);
    if (!text && re.msg[0])
        return err_set(e, "%s: --%s %s", t->spec->command, t->spec->resume_option, re.msg);
    if (!text) {
        if (!quiet && dist_rank() == 0)
            fprintf(stderr, "memlab: note: --%s %s: an older checkpoint that does not carry its configuration: "
                            "the options are taken as given\n", t->spec->resume_option, ckpt);
        return 0;
    }
    int rc = config_parse_text(b->what, text, strlen(text), &b->entries, &b->n, e);
    free(text);
    return rc;
}

/* Applies the checkpoint's configuration but for the fresh options and --threads, then records
 * every option's value. */
static int resume_base_apply(const opt_table *t, resume_base *b, err_t *e)
{
    config_entry *keep = xcalloc((size_t)b->n + 1, sizeof *keep);
    int nkeep = 0;
    for (int k = 0; k < b->n; k++) {
        int i = find_key(t, b->entries[k].key);
        if (i == C_THREADS || (i >= 0 && in_list(t->spec->resume_fresh, t->all[i]->name)))
            continue;
        keep[nkeep++] = b->entries[k];   /* shallow: b->entries still owns the strings */
    }
    int rc = config_apply(t, b->what, keep, nkeep, NULL, e);
    free(keep);
    if (rc != 0)
        return -1;
    b->value = xcalloc((size_t)t->nall, sizeof *b->value);
    for (int i = 0; i < t->nall; i++)
        b->value[i] = value_text(t->all[i]);
    return 0;
}

/* Options a resumed run sets otherwise than its checkpoint: a usage error unless they may change. */
static int resume_check(const opt_table *t, const resume_base *b, const char *ckpt, err_t *e)
{
    const cmd_spec *spec = t->spec;
    for (int i = 0; i < t->nall; i++) {
        const opt_spec *o = t->all[i];
        if (i == C_THREADS || i == C_CONFIG || i == C_PRINT_CONFIG || i == C_OUTPUT || i == C_OUT_DIR ||
            i == C_QUIET || i == C_HELP || i == C_PRESET || in_list(spec->resume_may_change, o->name) ||
            in_list(spec->resume_fresh, o->name) || !strcmp(o->name, spec->resume_option))
            continue;
        char *now = value_text(o);
        const char *was = b->value[i];
        int same = (!now && !was) || (now && was && !strcmp(now, was));
        if (!same) {
            char may[1024] = "";
            for (const char *p = spec->resume_may_change; p && *p;) {
                size_t n = strcspn(p, "|"), at = strlen(may);
                snprintf(may + at, sizeof may - at, "--%.*s, ", (int)n, p);
                p += n + (p[n] == '|');
            }
            err_set(e, "%s: --%s %s: --%s %s contradicts the checkpoint's %s (a resumed run may change only %s"
                       "--threads, -o, --out-dir)",
                    spec->command, spec->resume_option, ckpt, o->name, now ? now : "(unset)", was ? was : "(unset)", may);
            free(now);
            return -1;
        }
        free(now);
    }
    return 0;
}

/* A resumed run writes beside its checkpoint unless told otherwise. */
static void resume_out_dir(const opt_table *t, common_opts *c, const char *ckpt, const cli_item *items, int nitems,
                           const config_entry *entries, int n)
{
    if (cli_last(items, nitems, C_OUT_DIR))
        return;
    for (int k = 0; k < n; k++)
        if (find_key(t, entries[k].key) == C_OUT_DIR)
            return;
    free(c->out_dir);
    c->out_dir = xstrdup(ckpt);
    char *slash = strrchr(c->out_dir, '/');
    if (!slash)
        strcpy(c->out_dir, ".");
    else
        slash[slash == c->out_dir] = '\0';   /* "/x.safetensors" lies in "/" */
}

/* ---- args_parse ------------------------------------------------------------------------------- */

static int positional_check(const cmd_spec *spec, const common_opts *c, err_t *e)
{
    int n = c->npositional, lo = spec->min_positional, hi = spec->max_positional;
    if (n >= lo && n <= hi)
        return 0;
    if (hi == 0)
        return err_set(e, "%s: unexpected argument '%s' (this command takes no arguments)", spec->command,
                       c->positional[0]);
    if (lo == hi)
        return err_set(e, "%s: expects %d argument%s, got %d", spec->command, lo, lo == 1 ? "" : "s", n);
    if (n < lo)
        return err_set(e, "%s: expects at least %d argument%s, got %d", spec->command, lo,
                       lo == 1 ? "" : "s", n);
    return err_set(e, "%s: expects at most %d argument%s, got %d", spec->command, hi, hi == 1 ? "" : "s", n);
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

int args_parse(const cmd_spec *spec, int argc, char **argv, common_opts *c, err_t *e)
{
    memset(c, 0, sizeof *c);
    c->given = xcalloc(spec->nopts > 0 ? (size_t)spec->nopts : 1, 1);
    /* Every string destination starts NULL so that setting one can free the previous value and
     * args_free works whatever happens below. */
    for (int i = 0; i < spec->nopts; i++)
        if (spec->opts[i].type == OPT_STRING)
            *(char **)spec->opts[i].dest = NULL;

    if (wants_help(argc, argv)) {
        c->help = 1;
        args_print_help(spec, stdout);
        return 1;
    }

    opt_table t;
    table_build(&t, spec, c);
    cli_item *items = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof *items);
    config_entry *entries = NULL;
    int nentries = 0, nitems = 0, rc = -1;
    const preset_def *preset = NULL;
    resume_base base = {0};

    if (cli_tokenize(&t, argc, argv, items, &nitems, c, e) != 0)
        goto out;
    for (int i = 0; i < t.nall; i++)
        opt_set_default(t.all[i], spec->command);

    const char *config_path = cli_last(items, nitems, C_CONFIG);
    if (config_path && config_load(config_path, &entries, &nentries, e) != 0)
        goto out;
    const char *resume = resume_path(&t, items, nitems, entries, nentries);
    if (resume && resume_base_read(&t, resume, cli_last(items, nitems, C_QUIET) != NULL, &base, e) != 0)
        goto out;
    if (base.n) {
        /* the checkpoint's preset, for the record: its values are in its configuration */
        const char *cli_preset = cli_last(items, nitems, C_PRESET);
        if (preset_choose(&t, NULL, base.what, base.entries, base.n, &preset, e) != 0)
            goto out;
        if (cli_preset && (!preset || strcmp(cli_preset, preset->name))) {
            err_set(e, "%s: --%s %s: --preset %s contradicts the checkpoint's %s", spec->command, spec->resume_option,
                    resume, cli_preset, preset ? preset->name : "(none)");
            goto out;
        }
        if (resume_base_apply(&t, &base, e) != 0)
            goto out;
    } else {
        if (preset_choose(&t, cli_last(items, nitems, C_PRESET), config_path, entries, nentries, &preset, e) != 0)
            goto out;
        if (preset)
            preset_apply(&t, preset);
    }
    if (config_path && config_apply(&t, config_path, entries, nentries, c, e) != 0)
        goto out;
    for (int i = 0; i < nitems; i++)
        if (cli_apply(&t, &items[i], c, e) != 0)
            goto out;
    if (base.n && resume_check(&t, &base, resume, e) != 0)
        goto out;
    if (resume)
        resume_out_dir(&t, c, resume, items, nitems, entries, nentries);

    free(c->preset);
    c->preset = preset ? xstrdup(preset->name) : NULL;
    /* More threads than CPUs only adds contention, and each OpenBLAS thread reserves a large buffer:
     * under a memory limit (ulimit -v) 32 of them made OpenBLAS hang in its allocator. */
    int online = threads_available();
    if (c->threads == 0)
        c->threads = online;
    else if (c->threads > online) {
        if (!c->quiet && dist_rank() == 0)   /* data-parallel ranks: rank 0 speaks for them all */
            fprintf(stderr, "memlab: note: --threads %lld is more than the %d online CPU%s; using %d\n", c->threads,
                    online, online == 1 ? "" : "s", online);
        c->threads = online;
    }
    if (positional_check(spec, c, e) != 0)
        goto out;
    rc = 0;
out:
    config_free(entries, nentries);
    resume_base_free(&base, t.nall);
    free(items);
    table_free(&t);
    return rc;
}

/* ---- help ------------------------------------------------------------------------------------- */

static const char *metavar_of(const opt_spec *o)
{
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case OPT_INT: return "N";
    case OPT_DOUBLE: return "X";
    case OPT_STRING: return o->choices && *o->choices ? o->choices : "TEXT";
    case OPT_BOOL: return "on|off";
    case OPT_FLAG: break;
    }
    return "";
}

#define HELP_COL 30

static void help_option(FILE *f, const opt_spec *o, const char *def)
{
    char left[256];
    int n;
    if (o->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name);
    else
        n = snprintf(left, sizeof left, "      --%s", o->name);
    if (o->type != OPT_FLAG && n >= 0 && (size_t)n < sizeof left)
        snprintf(left + n, sizeof left - (size_t)n, " %s", metavar_of(o));
    if (strlen(left) + 2 > HELP_COL)
        fprintf(f, "%s\n%*s", left, HELP_COL, "");
    else
        fprintf(f, "%-*s", HELP_COL, left);
    fputs(o->help ? o->help : "", f);
    /* An option with a fixed set of values lists them, unless its metavar already does. */
    int list = o->type == OPT_STRING && o->choices && *o->choices && strcmp(metavar_of(o), o->choices);
    if (list && def)
        fprintf(f, " (one of %s; default: %s)", o->choices, def);
    else if (list)
        fprintf(f, " (one of %s)", o->choices);
    else if (def && o->type != OPT_FLAG)
        fprintf(f, " (default: %s)", def);
    fputc('\n', f);
}

void args_print_help(const cmd_spec *spec, FILE *f)
{
    common_opts dummy;
    memset(&dummy, 0, sizeof dummy);
    opt_table t;
    table_build(&t, spec, &dummy);

    if (spec->usage)
        fprintf(f, "Usage: %s\n", spec->usage);
    else
        fprintf(f, "Usage: memlab %s [options]\n", spec->command);
    if (spec->summary)
        fprintf(f, "%s\n", spec->summary);
    if (spec->description)
        fprintf(f, "\n%s%s", spec->description,
                spec->description[0] && spec->description[strlen(spec->description) - 1] == '\n' ? "" : "\n");
    if (spec->nopts > 0) {
        fputs("\nOptions:\n", f);
        for (int i = 0; i < spec->nopts; i++)
            help_option(f, &spec->opts[i], spec->opts[i].def);
    }
    fputs("\nCommon options:\n", f);
    for (int i = 0; i < NCOMMON; i++) {
        const char *def = t.common[i].def;
        if (i == C_PRESET)
            def = find_preset(spec, "default") ? "default" : NULL;
        if ((i == C_PRESET && spec->npresets == 0) || common_unused(spec, i))
            continue;
        help_option(f, &t.common[i], def);
    }
    if (spec->npresets > 0) {
        fputs("\nPresets:\n", f);
        for (int i = 0; i < spec->npresets; i++) {
            const preset_def *p = &spec->presets[i];
            fprintf(f, "  %-10s", p->name);
            if (!p->kv || !p->kv[0])
                fputs(" (the defaults above)", f);
            for (const char *const *kv = p->kv; kv && kv[0] && kv[1]; kv += 2) {
                int i = find_key(&t, kv[0]);
                fprintf(f, " --%s %s", i >= 0 ? t.all[i]->name : kv[0], kv[1]);
            }
            fputc('\n', f);
        }
    }
    if (!common_unused(spec, C_CONFIG))
        fprintf(f, "\nLater settings win: defaults, %sthen --config FILE.yaml, then the command line.\n"
                "Every option is also a config key, spelled with '_' for '-'%s.\n",
                spec->npresets > 0 ? "then the preset, " : "",
                common_unused(spec, C_OUT_DIR) ? "" : " (e.g. out_dir: DIR)");
    table_free(&t);
}

/* ---- the resolved configuration --------------------------------------------------------------- */

/* The shortest decimal form that reads back as the same double. */
static void format_double(double v, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static char *key_of(const char *name)
{
    char *k = xstrdup(name);
    for (char *p = k; *p; p++)
        if (*p == '-')
            *p = '_';
    return k;
}

static char *value_text(const opt_spec *o)
{
    char buf[64];
    switch (o->type) {
    case OPT_INT: snprintf(buf, sizeof buf, "%lld", *(const long long *)o->dest); break;
    case OPT_DOUBLE: format_double(*(const double *)o->dest, buf, sizeof buf); break;
    case OPT_STRING: return *(char *const *)o->dest ? xstrdup(*(char *const *)o->dest) : NULL;
    case OPT_BOOL:
    case OPT_FLAG: snprintf(buf, sizeof buf, "%s", *(const int *)o->dest ? "true" : "false"); break;
    }
    return xstrdup(buf);
}

int args_write_config(const cmd_spec *spec, const common_opts *c, FILE *f, const char *git_commit)
{
    return args_write_config_records(spec, c, f, git_commit, NULL);
}

int args_write_config_records(const cmd_spec *spec, const common_opts *c, FILE *f, const char *git_commit,
                              const char *const *records)
{
    /* The table only reads through its pointers here. */
    opt_table t;
    table_build(&t, spec, (common_opts *)c);
    int nrec = 0;
    for (const char *const *kv = records; kv && kv[0]; kv += 2) {
        if (!is_record_key(kv[0]) || !strcmp(kv[0], "command") || !strcmp(kv[0], "memlab_version") ||
            !strcmp(kv[0], "git_commit"))
            fatal("internal: %s: '%s' is not a record key of a configuration", spec->command, kv[0]);
        nrec++;
    }
    int n = 0, cap = 6 + nrec + spec->nopts;
    config_entry *entries = xcalloc((size_t)cap, sizeof *entries);
    entries[n++] = (config_entry){.key = xstrdup("memlab_version"), .value = xstrdup(MEMLAB_VERSION)};
    entries[n++] = (config_entry){.key = xstrdup("git_commit"), .value = xstrdup(git_commit ? git_commit : "unknown")};
    entries[n++] = (config_entry){.key = xstrdup("command"), .value = xstrdup(spec->command)};
    for (const char *const *kv = records; kv && kv[0]; kv += 2)
        entries[n++] = (config_entry){.key = xstrdup(kv[0]), .value = kv[1] ? xstrdup(kv[1]) : NULL};
    const int common_written[] = {C_SEED, C_THREADS, C_PRESET};
    for (int i = 0; i < 3; i++) {
        const opt_spec *o = &t.common[common_written[i]];
        entries[n++] = (config_entry){.key = key_of(o->name), .value = value_text(o)};
    }
    for (int i = 0; i < spec->nopts; i++) {
        const opt_spec *o = &spec->opts[i];
        entries[n++] = (config_entry){.key = key_of(o->name), .value = value_text(o),
                                      .bare = o->type == OPT_BOOL || o->type == OPT_FLAG};
    }

    fprintf(f, "# memlab %s: the resolved configuration (reusable with --config)\n", spec->command);
    int rc = config_write_yaml(f, entries, n);
    config_free(entries, n);
    table_free(&t);
    return rc;
}

void args_free(const cmd_spec *spec, common_opts *c)
{
    for (int i = 0; i < spec->nopts; i++)
        if (spec->opts[i].type == OPT_STRING) {
            char **dest = spec->opts[i].dest;
            free(*dest);
            *dest = NULL;
        }
    free(c->config);
    free(c->preset);
    free(c->output);
    free(c->out_dir);
    for (int i = 0; i < c->npositional; i++)
        free(c->positional[i]);
    free(c->positional);
    free(c->given);
    c->config = c->preset = c->output = c->out_dir = NULL;
    c->positional = NULL;
    c->given = NULL;
    c->npositional = 0;
}

int args_common_applies(const cmd_spec *spec, const char *name)
{
    return !spec->unused_common || !in_choices(spec->unused_common, name);
}

int args_given(const cmd_spec *spec, const common_opts *c, const char *name)
{
    for (int i = 0; i < spec->nopts; i++)
        if (!strcmp(spec->opts[i].name, name))
            return c->given && c->given[i];
    fatal("internal: %s: no option --%s", spec->command, name);
}

int args_next_item(const char **s, char *buf, size_t len)
{
    if (!*s)
        return 0;
    size_t n = strcspn(*s, ",");
    snprintf(buf, len, "%.*s", (int)n, *s);
    *s = (*s)[n] ? *s + n + 1 : NULL;
    return 1;
}
