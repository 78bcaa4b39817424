/* The option parser shared by every subcommand: typed options with ranges and choices, the common
 * options (--seed, --threads, --config, --preset, ...), presets, YAML config files, --help, and the
 * resolved configuration written beside the results.
 *
 * Resolution order, later winning: defaults < preset < config file < command line (a resumed run:
 * the checkpoint's configuration < config file < command line, see cmd_spec.resume_config). The preset is
 * the one named by --preset, else by the config file's `preset` key, else "default" when the
 * command has one. Every option is also a config key: its name with '-' written as '_' (both
 * spellings are accepted). */
#ifndef MEMLAB_IO_ARGS_H
#define MEMLAB_IO_ARGS_H

#include <stdio.h>

#include "core/error.h"

/* Written as `memlab_version` into every resolved configuration. */
#include "core/version.h"

typedef enum {
    OPT_INT,      /* long long in [min, max]; dest long long * */
    OPT_DOUBLE,   /* finite double in [min, max]; dest double * */
    OPT_STRING,   /* dest char ** (an owned copy, freed by args_free); `choices` "a|b|c" validated */
    OPT_BOOL,     /* on|off|true|false|yes|no|1|0; dest int * */
    OPT_FLAG      /* no value on the command line, sets 1; true/false in YAML; dest int * */
} opt_type;

typedef struct {
    const char *name;      /* long option without dashes, e.g. "eval-seqs" */
    char short_name;       /* e.g. 'o', or 0 */
    opt_type type;
    void *dest;
    const char *def;       /* default as text, or NULL (int 0, double 0, string NULL, bool/flag 0) */
    const char *help;      /* one line */
    const char *choices;   /* for OPT_STRING, or NULL */
    double min, max;       /* range for numbers; ignored when min > max */
    const char *metavar;   /* for --help, e.g. "N", "FILE" */
} opt_spec;

/* kv: NULL-terminated key, value, key, value, ... using option names. */
typedef struct {
    const char *name;
    const char *const *kv;
} preset_def;

struct common_opts;

typedef struct {
    const char *command;       /* "three-moons" */
    const char *summary;       /* one line */
    const char *usage;         /* e.g. "memlab three-moons [options]" */
    const char *description;   /* paragraph(s) for --help, may be NULL */
    const opt_spec *opts;
    int nopts;
    const preset_def *presets; /* "default" is applied when none is chosen, if it exists */
    int npresets;
    int min_positional, max_positional;
    /* Common options that do not apply to this command, '|'-separated (e.g. "seed|out-dir"): left out
     * of --help and refused on the command line. NULL: all apply. */
    const char *unused_common;
    /* What -o writes, for --help; NULL: "the primary CSV table". */
    const char *output_help;
    /* A command that continues a run from a checkpoint (its option resume_option, e.g. "resume"):
     * resume_config returns the YAML text of the configuration the checkpoint carries (malloc'd),
     * or NULL: with e->msg empty when it carries none (an older checkpoint: the options are then
     * taken as given, with a note), else with the error. That configuration replaces the defaults
     * and the preset; a config file or flag may then change only the options of resume_may_change
     * ('|'-separated) and the common --threads, -o, --out-dir and --quiet; any other value that
     * differs from the checkpoint's is a usage error naming both. The options of resume_fresh are
     * not taken from the checkpoint (they start from their defaults; e.g. --stop-at) and may be
     * set. --threads is never taken from it, and --out-dir defaults to the checkpoint's folder. */
    const char *resume_option;
    char *(*resume_config)(const char *ckpt, err_t *e);
    const char *resume_may_change;
    const char *resume_fresh;
    /* How a run uses --out-dir (docs/outputs.md), asked once the options are resolved: OUT_DIR_NEW
     * when NULL or when out-dir is an unused common option (then nothing is written there at all). */
    int (*out_dir_use)(const struct common_opts *c);
    /* The action run when no positional argument names one (e.g. "train"), recorded in config.yaml;
     * NULL for commands without actions. */
    const char *default_action;
} cmd_spec;

/* What a run does with --out-dir (cmd_spec.out_dir_use). */
enum {
    OUT_DIR_NONE,       /* writes nothing there (its only output is -o / stdout) */
    OUT_DIR_NEW,        /* a new run: the folder must be absent or empty unless --force */
    OUT_DIR_CONTINUE,   /* continues the run that wrote the folder (--resume): it may hold files */
    OUT_DIR_ANALYSIS    /* an analysis of other runs: like NEW, and its config is config-<action>.yaml */
};

typedef struct common_opts {
    long long seed;      /* --seed, default 1 */
    long long threads;   /* --threads, resolved: 0 ("all cores") becomes the online CPU count, and
                            more than that is capped to it with a note on stderr (unless quiet) */
    char *config;        /* --config FILE.yaml or NULL */
    char *preset;        /* the preset applied, or NULL */
    int print_config;
    char *output;        /* -o/--output, "-" for stdout */
    char *out_dir;       /* --out-dir, default "results/<command>" */
    int force;           /* --force: a new run may write into a non-empty --out-dir */
    int quiet;
    int help;
    char **positional;
    int npositional;
    unsigned char *given;   /* per option of the command's own table: 1 when a config file or the
                               command line set it (not a default or a preset) */
} common_opts;

/* Fills c and every option's dest (their previous contents are ignored, not freed).
 * 0: run; 1: --help was printed on stdout (exit 0); -1: usage error in e (exit 2), e.g.
 * "three-moons: unknown option '--hedas'", "config.yaml:4: key 'heads' expects an integer, got 'abc'".
 * Whatever it returns, args_free releases what it allocated. */
int args_parse(const cmd_spec *spec, int argc, char **argv, common_opts *c, err_t *e);
void args_print_help(const cmd_spec *spec, FILE *f);
/* The resolved configuration as a flat YAML mapping: memlab_version, git_commit, command, seed,
 * threads, preset and every option of the command. Loadable again with --config. -1 on a write error. */
int args_write_config(const cmd_spec *spec, const common_opts *c, FILE *f, const char *git_commit);
/* The same with more record keys after `command` (key, value, ..., NULL; values may be NULL): only
 * the keys "action" and "command_line" are allowed, the ones a config file may hold for the record
 * (ignored when read; a `command` key naming another command is refused). */
int args_write_config_records(const cmd_spec *spec, const common_opts *c, FILE *f, const char *git_commit,
                              const char *const *records);
/* 1 when the common option `name` ("out-dir", "seed", ...) applies to the command (is not listed in
 * its unused_common). */
int args_common_applies(const cmd_spec *spec, const char *name);
/* 1 when a config file or the command line set the command's option `name` (not a default or a
 * preset): for options whose combination only makes no sense when both were asked for. */
int args_given(const cmd_spec *spec, const common_opts *c, const char *name);
/* The next comma-separated item of *s into buf (NUL-terminated, cut to len - 1); 0 at the end of
 * the list (*s becomes NULL after the last item). */
int args_next_item(const char **s, char *buf, size_t len);

/* Frees the owned strings of c and of the command's string options; safe to call twice. */
void args_free(const cmd_spec *spec, common_opts *c);

#endif
