/* The memlab binary itself: dispatch, help, version, usage errors and their exit codes, a smoke run
 * of the XOR utility (CSV on stdout, artefacts in --out-dir), presets, configs and determinism. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
