/* regbench: the command through the real binary: smoke runs of the reference models, --describe,
 * --export, and bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int run_cmd(const char *args, char **out, char **err)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s regbench --threads 1 %s", test_memlab_bin(), args);
    return test_run(cmd, out, err);
}

static const char *const header = "model,train_size,layers,d,heads,params,lr,wd,epochs,seed,val_loss,val_acc,"
                                  "val_tvd,test_acc,test_tvd,train_seconds\n";

/* The single data row of a run: its 16 fields (pointers into row, which is modified). */
static void split_row(char *row, char **f)
{
    int n = 0;
    f[n++] = row;
    for (char *c = row; *c && *c != '\n'; c++)
        if (*c == ',') {
            *c = 0;
            ck_assert_int_lt(n, 16);
            f[n++] = c + 1;
        }
    char *nl = strchr(f[n - 1], '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    ck_assert_str_eq(nl + 1, ""); /* one row */
    ck_assert_int_eq(n, 16);
}

static double unit(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    ck_assert_msg(*s && !*end && isfinite(v) && v >= 0 && v <= 1, "'%s' is not a number in [0, 1]", s);
    return v;
}

START_TEST(test_smoke_runs)
{
    char *dir = test_tmpdir(), args[1024], *out, *err;
    struct {
        const char *flags, *model;
    } runs[] = {{"--model ngram", "ngram3"}, {"--model ngram --ngram-order 1", "ngram1"}, {"--model ngram --ngram-order 4", "ngram4"},
                {"--model uniform", "uniform"}};
    double acc[4];
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args, "--preset smoke --quiet --out-dir %s %s", dir, runs[i].flags);
        ck_assert_int_eq(run_cmd(args, &out, &err), 0);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(strncmp(out, header, strlen(header)), 0);
        char *f[16];
        split_row(out + strlen(header), f);
        ck_assert_str_eq(f[0], runs[i].model);
        ck_assert_str_eq(f[1], "20"); /* smoke training size */
        for (int c = 2; c <= 4; c++)
            ck_assert_str_eq(f[c], ""); /* layers, d, heads */
        ck_assert_str_eq(f[5], "0");
        for (int c = 6; c <= 8; c++)
            ck_assert_str_eq(f[c], ""); /* lr, wd, epochs */
        ck_assert_str_eq(f[9], "1");
        double loss = strtod(f[10], NULL);
        ck_assert_msg(isfinite(loss) && loss > 0 && loss < 12, "val_loss %s", f[10]);
        acc[i] = unit(f[11]);
        unit(f[12]);
        unit(f[13]);
        unit(f[14]);
        ck_assert_str_eq(f[15], "0");
        if (i == 3) { /* uniform: loss log 18 exactly, TVD far from the truth */
            ck_assert_double_eq_tol(loss, log(18), 1e-5);
            ck_assert(strtod(f[12], NULL) > 0.7);
        }
        free(out);
        free(err);
    }
    ck_assert(acc[0] > acc[1] && acc[1] > acc[3]);
    /* the same run again: byte-identical */
    char *a, *b;
    snprintf(args, sizeof args, "--preset smoke --model ngram --quiet --out-dir %s", dir);
    ck_assert_int_eq(run_cmd(args, &a, NULL), 0);
    ck_assert_int_eq(run_cmd(args, &b, NULL), 0);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    char *cfg = test_slurp(path);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_nonnull(strstr(cfg, "ngram_order: 3"));
    free(cfg);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_describe)
{
    char *dir = test_tmpdir(), args[1024], *out;
    snprintf(args, sizeof args, "--preset smoke --describe --quiet --out-dir %s", dir);
    ck_assert_int_eq(run_cmd(args, &out, NULL), 0);
    ck_assert_int_eq(strncmp(out, "split,statistic,mean,min,max\n", 29), 0);
    ck_assert_ptr_nonnull(strstr(out, "\ntrain,automata,20,,\n"));
    ck_assert_ptr_nonnull(strstr(out, "\ntest,out_degree_3_fraction,"));
    int rows = 0;
    for (char *c = out; *c; c++)
        rows += *c == '\n';
    ck_assert_int_eq(rows, 1 + 3 * 12);
    /* states after minimisation lie in 1..12, strings in 10..19, string lengths in 1..49 */
    double mean;
    int lo, hi;
    char *line = strstr(out, "\nval,strings,");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, "\nval,strings,%lf,%d,%d", &mean, &lo, &hi), 3);
    ck_assert(lo >= 10 && hi <= 19 && mean >= lo && mean <= hi);
    line = strstr(out, "\ntrain,states,");
    ck_assert_int_eq(sscanf(line, "\ntrain,states,%lf,%d,%d", &mean, &lo, &hi), 3);
    ck_assert(lo >= 1 && hi <= 12);
    free(out);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_export)
{
    char *dir = test_tmpdir(), args[3072], path[1024], *out, *err;
    snprintf(path, sizeof path, "%s/data.txt", dir);
    snprintf(args, sizeof args, "--train-size 5 --val-size 3 --test-size 4 --export %s --out-dir %s", path, dir);
    ck_assert_int_eq(run_cmd(args, &out, &err), 0);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "data.txt.automata.jsonl"));
    char *seqs = test_slurp(path);
    ck_assert_ptr_nonnull(seqs);
    int lines = 0;
    for (char *c = seqs; *c; c++) {
        ck_assert_msg(*c == '\n' || *c == '|' || (*c >= 'a' && *c <= 'r'), "unexpected character '%c'", *c);
        lines += *c == '\n';
    }
    ck_assert_int_eq(lines, 12);
    free(seqs);
    strcat(path, ".automata.jsonl");
    char *automata = test_slurp(path);
    ck_assert_ptr_nonnull(automata);
    ck_assert_int_eq(strncmp(automata, "{\"split\":\"train\",\"index\":0,", 27), 0);
    ck_assert_ptr_nonnull(strstr(automata, "\n{\"split\":\"val\",\"index\":2,"));
    ck_assert_ptr_nonnull(strstr(automata, "\n{\"split\":\"test\",\"index\":3,"));
    free(automata);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* The trained models at the smoke size: a row with their shape and finite metrics. */
START_TEST(test_trained_smoke)
{
    char *dir = test_tmpdir(), args[1024], *out, *err;
    static const char *const models[] = {"mosaic", "gpt", "lstm"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "--preset smoke --quiet --out-dir %s --model %s", dir, models[i]);
        ck_assert_int_eq(run_cmd(args, &out, &err), 0);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(strncmp(out, header, strlen(header)), 0);
        char *f[16];
        split_row(out + strlen(header), f);
        ck_assert_str_eq(f[0], models[i]);
        ck_assert_str_eq(f[2], "1");                      /* layers */
        ck_assert_str_eq(f[3], "16");                     /* d */
        ck_assert_str_eq(f[4], i == 2 ? "1" : "2");       /* heads */
        ck_assert(atol(f[5]) > 1000);                     /* params */
        ck_assert_str_eq(f[8], "2");                      /* epochs */
        double loss = strtod(f[10], NULL);
        ck_assert_msg(isfinite(loss) && loss > 0 && loss < 12, "val_loss %s", f[10]);
        for (int c = 11; c <= 14; c++)
            unit(f[c]);
        ck_assert(strtod(f[15], NULL) > 0);               /* train_seconds */
        if (i == 0) { /* the same training again: the same row but for the time */
            char *again, *g[16];
            ck_assert_int_eq(run_cmd(args, &again, NULL), 0);
            split_row(again + strlen(header), g);
            for (int c = 0; c < 15; c++)
                ck_assert_str_eq(f[c], g[c]);
            free(again);
        }
        free(out);
        free(err);
    }
    test_rmdir(dir);
}
END_TEST

START_TEST(test_bad_input)
{
    struct {
        const char *args, *needle;
    } cases[] = {
        {"--train-size 0", "--train-size"},
        {"--val-size 0", "--val-size"},
        {"--test-size -3", "--test-size"},
        {"--ngram-order 9", "--ngram-order"},
        {"--ngram-order 0", "--ngram-order"},
        {"--model transformer", "--model"},
        {"--train-sise 10", "--train-sise"},
        {"--export ''", "--export"},
        {"--model gpt --d 100 --heads 3", "--d 100"},
        {"--model mosaic --epochs 0", "--epochs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out, *err;
        ck_assert_int_eq(run_cmd(cases[i].args, &out, &err), 2);
        ck_assert_msg(strstr(err, cases[i].needle) != NULL, "%s: %s", cases[i].args, err);
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: %s", cases[i].args, err);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
}
END_TEST

Suite *suite_regbench(void)
{
    Suite *s = suite_create("regbench");
    TCase *cmd = tcase_create("command");
    tcase_add_test(cmd, test_smoke_runs);
    tcase_add_test(cmd, test_describe);
    tcase_add_test(cmd, test_export);
    tcase_add_test(cmd, test_trained_smoke);
    tcase_add_test(cmd, test_bad_input);
    tcase_set_timeout(cmd, 120);
    suite_add_tcase(s, cmd);
    return s;
}
