/* The memlab binary itself: dispatch, help, version, usage errors and their exit codes, a smoke run
 * of the XOR utility (CSV on stdout, artefacts in --out-dir), presets, configs and determinism. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/commands.h"
#include "io/args.h"
#include "test_util.h"

static char *out, *err;

static int run(const char *fmt, const char *arg)
{
    char cmd[2048];
    char tail[1536];
    snprintf(tail, sizeof tail, fmt, arg ? arg : "");
    snprintf(cmd, sizeof cmd, "%s %s", test_memlab_bin(), tail);
    free(out);
    free(err);
    out = err = NULL;
    return test_run(cmd, &out, &err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_help_lists_utilities)
{
    ck_assert_int_eq(run("--help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "Utilities:"));
    ck_assert_ptr_nonnull(strstr(out, "xor"));
    ck_assert_ptr_nonnull(strstr(out, "version"));
    ck_assert_int_eq(run("help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "Experiments:"));
    ck_assert_int_eq(run("", NULL), 2); /* no command: usage on stderr */
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "usage: memlab COMMAND"));
}
END_TEST

START_TEST(test_version_has_commit)
{
    ck_assert_int_eq(run("version", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "memlab "));
    ck_assert_ptr_nonnull(strstr(out, "commit "));
}
END_TEST

START_TEST(test_unknown_command_exit_2)
{
    ck_assert_int_eq(run("frobnicate", NULL), 2);
    ck_assert_str_eq(err, "memlab: unknown command 'frobnicate' (see `memlab help`)\n");
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_bad_options_exit_2)
{
    ck_assert_int_eq(run("xor --stpes 10", NULL), 2);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "--stpes"));
    ck_assert_int_eq(run("xor --steps -5", NULL), 2);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "--steps"));
    ck_assert_int_eq(run("xor --steps abc", NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "--steps"));
    ck_assert_int_eq(run("xor --preset huge", NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "huge"));
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_command_help)
{
    ck_assert_int_eq(run("xor --help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "--steps"));
    ck_assert_ptr_nonnull(strstr(out, "--seed"));
    ck_assert_ptr_nonnull(strstr(out, "--threads"));
    ck_assert_ptr_nonnull(strstr(out, "--out-dir"));
    ck_assert_int_eq(run("help xor", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "--steps"));
    ck_assert_int_eq(run("help nope", NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown command 'nope'"));
}
END_TEST

START_TEST(test_xor_smoke_run)
{
    char *dir = test_tmpdir();
    ck_assert_int_eq(run("xor --preset smoke --quiet --out-dir %s", dir), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(strncmp(out, "seed,hidden,step,loss\n", 22), 0);
    /* Every row: 4 fields, finite loss; the loss falls. */
    double first = -1, last = -1;
    int rows = 0;
    char *line = strchr(out, '\n') + 1;
    while (*line) {
        long long seed, hidden, step;
        double loss;
        ck_assert_int_eq(sscanf(line, "%lld,%lld,%lld,%lf", &seed, &hidden, &step, &loss), 4);
        ck_assert(isfinite(loss));
        if (first < 0)
            first = loss;
        last = loss;
        rows++;
        line = strchr(line, '\n') + 1;
    }
    ck_assert_int_eq(rows, 6);
    ck_assert(last < first);
    char path[600];
    snprintf(path, sizeof path, "%s/xor.safetensors", dir);
    char *ckpt = test_slurp(path);
    ck_assert_ptr_nonnull(ckpt);
    free(ckpt);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    char *cfg = test_slurp(path);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_nonnull(strstr(cfg, "steps: 300"));
    ck_assert_ptr_nonnull(strstr(cfg, "git_commit"));
    free(cfg);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_same_seed_same_bytes)
{
    char *dir = test_tmpdir();
    ck_assert_int_eq(run("xor --preset smoke --quiet --threads 2 --seed 5 --out-dir %s", dir), 0);
    char *a = strdup(out);
    ck_assert_int_eq(run("xor --preset smoke --quiet --threads 2 --seed 5 --force --out-dir %s", dir), 0);
    ck_assert_str_eq(a, out);
    ck_assert_int_eq(run("xor --preset smoke --quiet --threads 2 --seed 6 --force --out-dir %s", dir), 0);
    ck_assert_str_ne(a, out);
    free(a);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_config_file_and_print_config)
{
    char *dir = test_tmpdir();
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("steps: 40\nhidden: 4\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "xor --config %s --hidden 6 --print-config", path);
    ck_assert_int_eq(run("%s", cmd), 0);
    ck_assert_ptr_nonnull(strstr(out, "steps: 40"));
    ck_assert_ptr_nonnull(strstr(out, "hidden: 6")); /* the flag overrides the file */

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("steps: 40\nhiden: 4\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "xor --config %s", path);
    ck_assert_int_eq(run("%s", cmd), 2);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "c.yaml:2"));
    ck_assert_ptr_nonnull(strstr(err, "hiden"));
    test_rmdir(dir);
}
END_TEST

START_TEST(test_failed_run_leaves_earlier_output)
{
    char *dir = test_tmpdir();
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/table.csv", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("earlier\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "xor --steps 0 -o %s", path);
    ck_assert_int_eq(run("%s", cmd), 2);
    char *kept = test_slurp(path);
    ck_assert_str_eq(kept, "earlier\n");
    free(kept);
    snprintf(cmd, sizeof cmd, "xor --preset smoke --quiet -o %s --out-dir %s/run", path, dir);
    ck_assert_int_eq(run("%s", cmd), 0);
    ck_assert_str_eq(out, ""); /* the table went to the file */
    kept = test_slurp(path);
    ck_assert_int_eq(strncmp(kept, "seed,hidden,step,loss\n", 22), 0);
    free(kept);
    test_rmdir(dir);
}
END_TEST

/* --device cuda where no GPU can be used (hidden here, so that a machine with one tests the same
 * path), on every command and action that runs a language model: one line, exit 1, before anything
 * is written (a build without CUDA says so instead). The lstm says it has no GPU kernels (exit 2). */
START_TEST(test_device_unavailable)
{
    static const char *const cmds[] = {
        "babistories --preset smoke", "babistories score --ckpt x --text y", "babistories generate --ckpt x",
        "babistories ood --ckpt x", "babistories attention --ckpt x", "babistories compare --ckpt x,y",
        "regbench --preset smoke --model gpt", "regbench --preset smoke --model mosaic,gpt --sweep",
        "copy --preset smoke", "blank-copy --preset smoke", "memory-inversion --preset smoke",
    };
    char *dir = test_tmpdir(), cmd[4096], *out, *err;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "CUDA_VISIBLE_DEVICES= %s %s --device cuda --quiet --out-dir %s/run", test_memlab_bin(),
                 cmds[i], dir);
        ck_assert_msg(test_run(cmd, &out, &err) == 1, "%s: %s", cmds[i], err);
        ck_assert_msg(strcmp(out, "") == 0, "%s wrote %s", cmds[i], out);
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1 && strstr(err, ": --device cuda: ") &&
                          (strstr(err, "built without CUDA") || strstr(err, "no usable GPU")),
                      "%s: %s", cmds[i], err);
        snprintf(cmd, sizeof cmd, "test -e %s/run", dir);
        ck_assert_msg(test_run(cmd, NULL, NULL) != 0, "%s left %s/run", cmds[i], dir);
        free(out);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "%s regbench --preset smoke --model lstm --device cuda --quiet", test_memlab_bin());
    ck_assert_int_eq(test_run(cmd, &out, &err), 2);
    ck_assert_msg(strstr(err, "--model lstm runs on the CPU only") && strchr(err, '\n') == err + strlen(err) - 1, "%s", err);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* The configuration --print-config writes for argv (args_parse, then args_write_config: what the
 * driver does), malloc'd; NULL with the usage error in e. */
static char *printed_config(const cmd_spec *spec, int argc, char **argv, err_t *e)
{
    common_opts c;
    char *text = NULL;
    size_t len;
    if (args_parse(spec, argc, argv, &c, e) == 0) {
        FILE *f = open_memstream(&text, &len);
        ck_assert_int_eq(args_write_config(spec, &c, f, "test"), 0);
        fclose(f);
    }
    args_free(spec, &c);
    return text;
}

/* `memlab C [--preset P] --print-config > c.yaml; memlab C --config c.yaml --print-config` prints the
 * same file for every command of experiments/commands.h and each of its presets (and none): a
 * printed config loads and describes the same run. In process (each run of the binary costs a
 * second of start-up), then through the binary for the commands whose config once failed to load
 * (copy, blank-copy: `objective:` written empty) and a run replayed. */
START_TEST(test_every_printed_config_replays)
{
    char *dir = test_tmpdir();
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    int checked = 0;
    for (int i = 0; i < memlab_ncommands; i++) {
        const cmd_spec *spec = memlab_commands[i]->spec;
        for (int p = -1; p < spec->npresets; p++) {
            char *name = (char *)spec->command, *preset = p >= 0 ? (char *)spec->presets[p].name : NULL;
            char *argv1[] = {name, "--preset", preset, NULL}, *argv2[] = {name, "--config", path, NULL};
            err_t e;
            char *first = printed_config(spec, p >= 0 ? 3 : 1, argv1, &e);
            ck_assert_msg(first != NULL, "%s %s: %s", name, preset ? preset : "", e.msg);
            FILE *f = fopen(path, "w");
            ck_assert_ptr_nonnull(f);
            fputs(first, f);
            fclose(f);
            char *again = printed_config(spec, 3, argv2, &e);
            ck_assert_msg(again != NULL, "%s %s: its printed config does not load: %s", name, preset ? preset : "", e.msg);
            ck_assert_msg(strcmp(first, again) == 0, "%s %s: the replayed config differs:\n%s\n---\n%s", name,
                          preset ? preset : "", first, again);
            free(first);
            free(again);
            checked++;
        }
    }
    ck_assert_int_ge(checked, 2 * memlab_ncommands);
    const char *once_broken[] = {"copy", "blank-copy"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s --preset smoke --print-config > %s", once_broken[i], path);
        ck_assert_int_eq(run("%s", cmd), 0);
        char *first = test_slurp(path);
        snprintf(cmd, sizeof cmd, "%s --config %s --print-config", once_broken[i], path);
        ck_assert_msg(run("%s", cmd) == 0, "%s: %s", once_broken[i], err);
        ck_assert_str_eq(first, out);
        free(first);
    }
    /* The run itself: the smoke preset and its printed config give the same table. */
    ck_assert_int_eq(run("xor --preset smoke --quiet --threads 1 --out-dir %s/direct", dir), 0);
    char *direct = strdup(out);
    snprintf(cmd, sizeof cmd, "xor --preset smoke --threads 1 --print-config > %s", path);
    ck_assert_int_eq(run("%s", cmd), 0);
    snprintf(cmd, sizeof cmd, "xor --config %s --quiet --out-dir %s/replayed", path, dir);
    ck_assert_int_eq(run("%s", cmd), 0);
    ck_assert_str_eq(direct, out);
    free(direct);
    test_rmdir(dir);
}
END_TEST

Suite *suite_cli(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("binary");
    tcase_add_test(tc, test_help_lists_utilities);
    tcase_add_test(tc, test_version_has_commit);
    tcase_add_test(tc, test_unknown_command_exit_2);
    tcase_add_test(tc, test_bad_options_exit_2);
    tcase_add_test(tc, test_command_help);
    tcase_add_test(tc, test_xor_smoke_run);
    tcase_add_test(tc, test_same_seed_same_bytes);
    tcase_add_test(tc, test_config_file_and_print_config);
    tcase_add_test(tc, test_failed_run_leaves_earlier_output);
    tcase_add_test(tc, test_device_unavailable);
    tcase_add_test(tc, test_every_printed_config_replays);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
