/* What a newcomer reads: the README (short, and every `memlab ...` example names a real command and
 * options its --help lists), every --help (enum options list their choices and default; info and
 * tokenize list only what applies to them), the log lines (each command logs under its own name) and
 * `make figures` (names only the PNGs it drew, says why it skipped the rest). Run from the
 * repository root, as `make check` does. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/args.h"
#include "test_util.h"

static char *out, *err;

static int run(const char *fmt, const char *arg)
{
    char cmd[4096], tail[3072];
    snprintf(tail, sizeof tail, fmt, arg ? arg : "");
    snprintf(cmd, sizeof cmd, "%s %s", test_memlab_bin(), tail);
    free(out);
    free(err);
    out = err = NULL;
    return test_run(cmd, &out, &err);
}

/* The help text of one option: its line, and the next when the option's left column was too wide
 * and the help went on the line below (indented by 30 spaces). */
static char *option_help(const char *help, const char *name)
{
    char want[128], want_nl[128];
    snprintf(want, sizeof want, "--%s ", name);
    snprintf(want_nl, sizeof want_nl, "--%s\n", name);
    for (const char *line = help; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (*p == ' ')
            p++;
        if (p[0] == '-' && p[1] != '-' && p[2] == ',')   /* "-o, --output" */
            p += 4;
        if (!strncmp(p, want, strlen(want)) || !strncmp(p, want_nl, strlen(want_nl))) {
            if (end && !strncmp(end + 1, "                              ", 30))
                n += 1 + (strchr(end + 1, '\n') ? (size_t)(strchr(end + 1, '\n') - end - 1) : strlen(end + 1));
            char *s = malloc(n + 1);
            memcpy(s, line, n);
            s[n] = 0;
            return s;
        }
        if (!end)
            break;
        line = end + 1;
    }
    return NULL;
}

/* ---- --help --------------------------------------------------------------------------------- */

/* None of the NULL-terminated words appears in text. */
static void expect_none(const char *text, const char *what, const char *const *words)
{
    for (; *words; words++)
        ck_assert_msg(!strstr(text, *words), "%s mentions '%s':\n%s", what, *words, text);
}

START_TEST(test_enum_options_list_choices_and_default)
{
    /* Every option of a fixed set of values in every command, with its choices. */
    static const struct {
        const char *command, *option, *choices;
    } enums[] = {
        {"three-moons", "param", "complex|real"},
        {"three-moons", "preset", "smoke|default|paper"},
        {"babistories", "arch", "gpt|mosaic|both"},
        {"babistories", "pos", "learned|none|rope|alibi"},
        {"babistories", "format", "markdown|csv"},
        {"memory-inversion", "arch", "gpt|mosaic"},
        {"memory-inversion", "joint-objective", "causal|copy|blank-copy|combined"},
        {"memory-inversion", "probe-arch", "gpt|mosaic"},
        {"memory-inversion", "feed", "unrolled|repeated"},
        {"copy", "objective", "causal|copy|blank-copy|combined"},
        {"copy", "encoder", "trainable|frozen"},
        {"copy", "baseline", "none|full"},
        {"copy", "encoder-arch", "gpt|mosaic"},
        {"copy", "decoder-arch", "gpt|mosaic"},
        {"blank-copy", "decoder-arch", "gpt|mosaic"},
        {"copy", "pos", "learned|none|rope|alibi"},
        {"bench", "torch", "auto|on|off"},
        {"bench", "kind", "train|generate|generate_uncached"},
        {"bench", "arch", "gpt|mosaic"},
        {"info", "arch", "gpt|mosaic|lstm"},
        {"babistories", "gelu", "erf|tanh"},
        {"info", "mosaic-variant", "library|nano"},
        {"xor", "preset", "smoke|default"},
    };
    for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
        ck_assert_int_eq(run("%s --help", enums[i].command), 0);
        char *h = option_help(out, enums[i].option);
        ck_assert_msg(h, "%s --help: no --%s", enums[i].command, enums[i].option);
        ck_assert_msg(strstr(h, enums[i].choices), "%s --help does not list --%s's choices %s:\n%s",
                      enums[i].command, enums[i].option, enums[i].choices, h);
        ck_assert_msg(strstr(h, "default"), "%s --help gives no default for --%s:\n%s", enums[i].command,
                      enums[i].option, h);
        free(h);
    }
}
END_TEST

/* The mechanism itself: any OPT_STRING with choices lists them, once. */
static char *m_kind, *m_free, *m_meta;
static const opt_spec m_opts[] = {
    {"kind", 0, OPT_STRING, &m_kind, "b", "the kind", "a|b|c", 0, -1, "K"},
    {"free", 0, OPT_STRING, &m_free, NULL, "no default", "x|y", 0, -1, "F"},
    {"meta", 0, OPT_STRING, &m_meta, "p", "metavar lists them", "p|q", 0, -1, NULL},
};

START_TEST(test_help_mechanism_lists_choices)
{
    cmd_spec spec = {.command = "t", .opts = m_opts, .nopts = 3, .unused_common = "seed|out-dir"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    args_print_help(&spec, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "the kind (one of a|b|c; default: b)"));
    ck_assert_ptr_nonnull(strstr(buf, "no default (one of x|y)\n"));
    ck_assert_ptr_nonnull(strstr(buf, "--meta p|q"));
    /* no presets: neither the option nor the sentence */
    expect_none(buf, "help", (const char *[]){"one of p|q", "--seed", "--out-dir", "preset", NULL});
    ck_assert_ptr_nonnull(strstr(buf, "--threads"));
    free(buf);
}
END_TEST

START_TEST(test_info_help_lists_what_applies)
{
    ck_assert_int_eq(run("info --help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "gpt, mosaic or lstm"));
    expect_none(out, "info --help",
                (const char *[]){"gpt or mosaic shape", "--seed", "--threads", "--out-dir", "preset", NULL});
    ck_assert_ptr_nonnull(strstr(out, "--output"));
    ck_assert_int_eq(run("info --seed 3", NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "--seed does not apply"));
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(run("help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "gpt, mosaic or lstm"));
    ck_assert_int_eq(run("info --arch lstm --layers 1", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "lstm,total,"));
}
END_TEST

START_TEST(test_tokenize_help_no_csv)
{
    ck_assert_int_eq(run("tokenize --help", NULL), 0);
    expect_none(out, "tokenize --help", (const char *[]){"CSV", "--seed", "README.md", NULL});
}
END_TEST

START_TEST(test_babistories_help_says_who_draws_the_png)
{
    ck_assert_int_eq(run("babistories --help", NULL), 0);
    const char *png = strstr(out, "babistories.png");
    ck_assert_ptr_nonnull(png);
    /* the sentence that names the PNG names `make figures` too */
    const char *from = png;
    while (from > out && !(from[0] == '.' && from[1] == ' ') && !(from[0] == '\n' && from[-1] == '.'))
        from--;
    ck_assert_msg(strstr(from, "make figures") && strstr(from, "make figures") < png + 40,
                  "babistories --help promises babistories.png without saying `make figures` draws it");
}
END_TEST

/* ---- log lines ------------------------------------------------------------------------------ */

START_TEST(test_commands_log_under_their_own_name)
{
    static const char *const runs[][2] = {
        {"copy", "copy --preset smoke --out-dir %s"},
        {"blank-copy", "blank-copy --preset smoke --out-dir %s"},
        {"memory-inversion", "memory-inversion --preset smoke --encoder untrained --out-dir %s"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char *dir = test_tmpdir();
        ck_assert_int_eq(run(runs[i][1], dir), 0);
        char want[64];
        snprintf(want, sizeof want, "memlab: %s: training a", runs[i][0]);
        ck_assert_msg(strstr(err, want), "%s logs no '%s':\n%s", runs[i][0], want, err);
        ck_assert_msg(!strstr(err, "babistories"), "%s logs under babistories:\n%s", runs[i][0], err);
        test_rmdir(dir);
    }
}
END_TEST

/* ---- make figures --------------------------------------------------------------------------- */

static int has_gnuplot(void)
{
    return test_run("command -v gnuplot", NULL, NULL) == 0;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Every "figures: drew PATH" line names a non-empty file; returns how many there were. */
static int check_drawn(const char *log)
{
    int n = 0;
    for (const char *p = strstr(log, "figures: drew "); p; p = strstr(p + 1, "figures: drew ")) {
        char path[1024];
        ck_assert_int_eq(sscanf(p, "figures: drew %1023s", path), 1);
        ck_assert_msg(file_size(path) > 0, "figures.sh says it drew %s, which is %ld bytes", path,
                      file_size(path));
        n++;
    }
    return n;
}

START_TEST(test_figures_names_only_what_it_drew)
{
    if (!has_gnuplot()) {
        fprintf(stderr, "check_docs: gnuplot missing: figures test skipped (scripts/deps.sh installs it)\n");
        return;
    }
    char *dir = test_tmpdir(), cmd[2048], path[1100];
    /* A results folder that xor wrote with no table beside it (an earlier memlab, or -o elsewhere). */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/xor %s/three-moons && : > %s/xor/config.yaml", dir, dir, dir);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    char *log = NULL;
    snprintf(cmd, sizeof cmd, "RESULTS=%s scripts/figures.sh", dir);
    ck_assert_int_eq(test_run(cmd, NULL, &log), 0);
    ck_assert_int_eq(check_drawn(log), 0);
    ck_assert_msg(strstr(log, "skipped xor.gp") && strstr(log, "xor.csv"), "no reason for skipping xor:\n%s", log);
    ck_assert_msg(strstr(log, "skipped three_moons.gp"), "three_moons.gp not reported:\n%s", log);
    snprintf(path, sizeof path, "%s/xor/xor.png", dir);
    ck_assert_int_eq(file_size(path), -1);   /* no 0-byte PNG left behind */
    snprintf(path, sizeof path, "%s/three-moons/three_moons.png", dir);
    ck_assert_int_eq(file_size(path), -1);
    free(log);

    /* What `memlab xor` writes to its --out-dir is what xor.gp draws. */
    ck_assert_int_eq(run("xor --preset smoke --quiet --force --out-dir %s/xor", dir), 0);
    log = NULL;
    ck_assert_int_eq(test_run(cmd, NULL, &log), 0);
    ck_assert_int_eq(check_drawn(log), 1);
    snprintf(path, sizeof path, "figures: drew %s/xor/xor.png", dir);
    ck_assert_msg(strstr(log, path), "xor.png not drawn:\n%s", log);
    free(log);
    test_rmdir(dir);
}
END_TEST

/* ---- README --------------------------------------------------------------------------------- */

static char *read_readme(void)
{
    char *s = test_slurp("README.md");
    ck_assert_msg(s, "README.md not found (run the tests from the repository root)");
    return s;
}

START_TEST(test_readme_is_short)
{
    char *s = read_readme();
    int lines = 0;
    for (const char *p = s; *p; p++)
        lines += *p == '\n';
    ck_assert_msg(lines < 250, "README.md has %d lines; keep it under 250 (details go to docs/)", lines);
    free(s);
}
END_TEST

/* The option names a README example line uses, checked against `memlab COMMAND --help`. The line
 * is cut at a comment, pipe, redirection or ';'; words after the command that start with '-' are
 * options ("--name", "--name=value", "-o"). Returns the number of options checked. */
static int check_example(const char *line, int lineno, const char *commands)
{
    char buf[2048], *words[128];
    snprintf(buf, sizeof buf, "%s", line);
    char *cut = strpbrk(buf, "#|><;");
    if (cut)
        *cut = 0;
    int n = 0;
    for (char *w = strtok(buf, " \t\\"); w && n < 128; w = strtok(NULL, " \t\\"))
        words[n++] = w;
    int at = 0;
    while (at < n && strcmp(words[at], "memlab") && strcmp(words[at], "./memlab"))
        at++;
    ck_assert_msg(at + 1 < n, "README.md:%d: `%s` names no command", lineno, line);
    const char *cmd = words[at + 1];
    char want[160];
    snprintf(want, sizeof want, "\n  %s ", cmd);
    ck_assert_msg(strstr(commands, want) || !strcmp(cmd, "inversion"), "README.md:%d: no command '%s'", lineno, cmd);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "version"))
        return 0;
    int checked = 0;
    for (int i = at + 2; i < n; i++) {
        if (words[i][0] != '-' || !strcmp(words[i], "-") || isdigit((unsigned char)words[i][1]))
            continue;
        ck_assert_int_eq(run("%s --help", cmd), 0);
        char opt[128];
        snprintf(opt, sizeof opt, "%s", words[i]);
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = 0;
        if (opt[1] != '-') {   /* -o, -q, -h */
            snprintf(want, sizeof want, "  %s, --", opt);
        } else {
            snprintf(want, sizeof want, "%s ", opt);
            if (!strstr(out, want))
                snprintf(want, sizeof want, "%s\n", opt);
        }
        ck_assert_msg(strstr(out, want), "README.md:%d: `memlab %s --help` lists no %s", lineno, cmd, opt);
        checked++;
    }
    return checked;
}

START_TEST(test_readme_examples_name_real_options)
{
    char *s = read_readme();
    ck_assert_int_eq(run("help", NULL), 0);
    char *commands = strdup(out);
    int lineno = 0, examples = 0, in_code = 0;
    char joined[4096] = "";
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (!strncmp(line, "```", 3)) {
            in_code = !in_code;
        } else if (in_code) {
            /* join continued lines */
            size_t len = strlen(line);
            int cont = len > 0 && line[len - 1] == '\\';
            if (strlen(joined) + len + 2 < sizeof joined)
                strcat(strcat(joined, " "), line);
            if (!cont) {
                const char *p = joined;
                while (*p == ' ')
                    p++;
                if (!strncmp(p, "./memlab ", 9) || !strncmp(p, "memlab ", 7)) {
                    check_example(p, lineno, commands);
                    examples++;
                }
                joined[0] = 0;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    ck_assert_msg(examples >= 10, "README.md: only %d `memlab ...` examples found", examples);
    free(commands);
    free(s);
}
END_TEST

Suite *suite_docs(void)
{
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("docs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_enum_options_list_choices_and_default);
    tcase_add_test(tc, test_help_mechanism_lists_choices);
    tcase_add_test(tc, test_info_help_lists_what_applies);
    tcase_add_test(tc, test_tokenize_help_no_csv);
    tcase_add_test(tc, test_babistories_help_says_who_draws_the_png);
    tcase_add_test(tc, test_commands_log_under_their_own_name);
    tcase_add_test(tc, test_figures_names_only_what_it_drew);
    tcase_add_test(tc, test_readme_is_short);
    tcase_add_test(tc, test_readme_examples_name_real_options);
    suite_add_tcase(s, tc);
    return s;
}
