/* regbench: the command through the real binary: smoke runs of the reference models, --describe,
 * --export, bad input, and sweeps (--sweep, --jobs, --emit-jobs, --collect). */
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
        snprintf(args, sizeof args, "--preset smoke --quiet --force --out-dir %s %s", dir, runs[i].flags);
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
    snprintf(args, sizeof args, "--preset smoke --model ngram --quiet --force --out-dir %s", dir);
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
    snprintf(args, sizeof args, "--preset smoke --describe --quiet --force --out-dir %s", dir);
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
    snprintf(args, sizeof args, "--train-size 5 --val-size 3 --test-size 4 --export %s --force --out-dir %s", path, dir);
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
        snprintf(args, sizeof args, "--preset smoke --quiet --force --out-dir %s --model %s", dir, models[i]);
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

/* A usage error: exit 2, one line on stderr holding needle, nothing on stdout. */
static void expect_usage_error(const char *args, const char *needle)
{
    bad_input_case c = {.code = 2, .needle = needle};
    snprintf(c.args, sizeof c.args, "%s", args);
    expect_bad_inputs("regbench --threads 1", &c, 1);
}

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
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_usage_error(cases[i].args, cases[i].needle);
}
END_TEST

/* ---- sweeps: --sweep, --jobs, --emit-jobs, --collect ---------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* A 2-point grid at the smoke size: one shape, two weight decays. */
static const char *const two_points = "layers: [1]\nd: [16]\nheads: [2]\nwd: [0.01, 0.1]\n";

/* A table with its last column (train_seconds, the only one that differs between runs) cut off. */
static char *without_seconds(const char *csv)
{
    ck_assert_ptr_nonnull(csv);
    char *out = strdup(csv), *w = out;
    ck_assert_ptr_nonnull(out);
    for (const char *line = csv; *line;) {
        const char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        const char *comma = line;
        for (const char *c = line; c < nl; c++)
            if (*c == ',')
                comma = c;
        ck_assert(comma > line);
        memcpy(w, line, (size_t)(comma - line));
        w += comma - line;
        *w++ = '\n';
        line = nl + 1;
    }
    *w = 0;
    return out;
}

/* Two tables equal in every column but train_seconds. */
static void expect_same_but_seconds(const char *x, const char *y)
{
    char *a = without_seconds(x), *b = without_seconds(y);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Runs a smoke sweep over the 2-point grid into dir; returns the primary table and dir/best.csv. */
static void sweep_two_points(const char *dir, const char *flags, char **table, char **best)
{
    char args[2048], path[1024], *err;
    snprintf(path, sizeof path, "%s/grid.in.yaml", dir);
    write_text(path, two_points);
    snprintf(args, sizeof args, "--sweep --preset smoke --quiet --grid %s --force --out-dir %s/sweep %s", path, dir, flags);
    ck_assert_int_eq(run_cmd(args, table, &err), 0);
    ck_assert_str_eq(err, "");
    free(err);
    snprintf(path, sizeof path, "%s/sweep/best.csv", dir);
    *best = test_slurp(path);
    ck_assert_ptr_nonnull(*best);
}

START_TEST(test_sweep)
{
    char *dir = test_tmpdir(), *table, *best;
    sweep_two_points(dir, "", &table, &best);
    ck_assert_int_eq(strncmp(table, header, strlen(header)), 0);
    ck_assert_int_eq(count_lines(table), 3);
    /* the rows in grid order (wd 0.01, then 0.1), each a full smoke row */
    char *rows[2], *f[2][16];
    rows[0] = strdup(table + strlen(header));
    char *nl = strchr(rows[0], '\n');
    rows[1] = strdup(nl + 1);
    nl[1] = 0;
    char *copy[2] = {strdup(rows[0]), strdup(rows[1])};
    for (int r = 0; r < 2; r++) {
        split_row(copy[r], f[r]);
        ck_assert_str_eq(f[r][0], "mosaic");
        ck_assert_str_eq(f[r][1], "20");
        ck_assert_str_eq(f[r][3], "16");
        ck_assert_str_eq(f[r][8], "2");
    }
    ck_assert_str_eq(f[0][7], "0.01");
    ck_assert_str_eq(f[1][7], "0.1");
    /* best.csv: the row with the lower val_loss (the first on a tie: same params) */
    int pick = strtod(f[1][10], NULL) < strtod(f[0][10], NULL);
    ck_assert_int_eq(strncmp(best, header, strlen(header)), 0);
    ck_assert_str_eq(best + strlen(header), rows[pick]);
    char path[1024];
    snprintf(path, sizeof path, "%s/sweep/grid.yaml", dir);
    char *grid = test_slurp(path);
    ck_assert_ptr_nonnull(grid);
    ck_assert_ptr_nonnull(strstr(grid, "wd: [0.01, 0.1]"));
    free(grid);

    /* two at a time (one thread each, as above): the same table but for train_seconds */
    char *table2, *best2;
    sweep_two_points(dir, "--threads 2 --jobs 2", &table2, &best2);
    expect_same_but_seconds(table, table2);
    expect_same_but_seconds(best, best2);
    for (int r = 0; r < 2; r++) {
        free(rows[r]);
        free(copy[r]);
    }
    free(table);
    free(best);
    free(table2);
    free(best2);
    test_rmdir(dir);
}
END_TEST

/* --emit-jobs lines, run by a shell, then --collect: the sweep's rows and the same best.csv. */
START_TEST(test_emit_collect)
{
    char *dir = test_tmpdir(), *table, *best, args[2048], path[1024], *out, *err;
    sweep_two_points(dir, "", &table, &best);
    snprintf(args, sizeof args, "--emit-jobs --preset smoke --quiet --grid %s/grid.in.yaml --out-dir %s/jobs", dir, dir);
    ck_assert_int_eq(run_cmd(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(count_lines(out), 2);
    snprintf(path, sizeof path, "-o %s/jobs/point_001.csv --out-dir %s/jobs/point_001\n", dir, dir);
    ck_assert_ptr_nonnull(strstr(out, path));
    ck_assert_ptr_nonnull(strstr(out, " regbench --model mosaic --train-size 20 --layers 1 --d 16 --heads 2 "));
    snprintf(path, sizeof path, "%s/jobs.sh", dir);
    write_text(path, out);
    free(out);
    free(err);
    snprintf(args, sizeof args, "sh %s", path);
    ck_assert_int_eq(test_run(args, &out, &err), 0);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);

    snprintf(args, sizeof args, "--collect %s/jobs", dir);
    char *merged;
    ck_assert_int_eq(run_cmd(args, &merged, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "best.csv")); /* not quiet: says where the selection went */
    snprintf(path, sizeof path, "%s/jobs/best.csv", dir);
    char *best2 = test_slurp(path);
    ck_assert_ptr_nonnull(best2);
    expect_same_but_seconds(table, merged);
    expect_same_but_seconds(best, best2);
    free(err);
    free(merged);
    free(best2);

    /* heads that do not divide d: left out with a note, not an error */
    snprintf(path, sizeof path, "%s/odd.yaml", dir);
    write_text(path, "layers: [1]\nd: [16]\nheads: [2, 3]\nwd: [0.1]\n");
    snprintf(args, sizeof args, "--emit-jobs --preset smoke --grid %s --model mosaic,lstm,ngram --out-dir %s/odd", path, dir);
    ck_assert_int_eq(run_cmd(args, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "d 16 and heads 3"));
    ck_assert_int_eq(count_lines(out), 3); /* mosaic heads 2, lstm (no heads), ngram (no grid) */
    ck_assert_ptr_nonnull(strstr(out, " --model lstm --train-size 20 --layers 1 --d 16 --heads 1 "));
    ck_assert_ptr_nonnull(strstr(out, " --model ngram --train-size 20 --pmem "));
    free(out);
    free(err);
    free(table);
    free(best);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_sweep_bad_input)
{
    char *dir = test_tmpdir(), args[2048], path[1024];
    struct {
        const char *yaml, *needle;
    } grids[] = {
        {"layers: [1]\nwidth: [2]\n", ":2: unknown key 'width'"},
        {"layers: []\n", ":1: key 'layers' needs a non-empty list"},
        {"d: [16, x]\n", ":1: key 'd' expects integers, got 'x'"},
        {"heads: [0]\n", ":1: key 'heads' must be >= 1"},
        {"lr: [0.1, 1e-1]\n", ":1: key 'lr' lists 1e-1 twice"},
        {"layers: [1\n", ":2: YAML syntax error"},
        {"- 1\n- 2\n", ":1: the top level must be a mapping"},
    };
    snprintf(path, sizeof path, "%s/grid.yaml", dir);
    for (size_t i = 0; i < sizeof grids / sizeof *grids; i++) {
        char needle[1200];
        write_text(path, grids[i].yaml);
        snprintf(args, sizeof args, "--sweep --preset smoke --grid %s --out-dir %s/out", path, dir);
        snprintf(needle, sizeof needle, "%s%s", path, grids[i].needle); /* names the file, line and key */
        expect_usage_error(args, needle);
    }
    /* Fuzz finding: the point count of a grid overflowed an int (40 values on each axis), and 12 a
     * axis asked for 1.3 GB; both are refused before anything is allocated. */
    for (int per_axis = 12; per_axis <= 40; per_axis += 28) {
        char yaml[2048] = "", ints[512] = "", rates[512] = "", needle[1200];
        size_t used = 0, used_r = 0;
        for (int v = 1; v <= per_axis; v++) {
            used += (size_t)snprintf(ints + used, sizeof ints - used, "%s%d", v > 1 ? ", " : "", v);
            used_r += (size_t)snprintf(rates + used_r, sizeof rates - used_r, "%s%de-3", v > 1 ? ", " : "", v);
        }
        snprintf(yaml, sizeof yaml, "layers: [%s]\nd: [%s]\nheads: [%s]\nlr: [%s]\nwd: [%s]\nepochs: [%s]\n", ints,
                 ints, ints, rates, rates, ints);
        write_text(path, yaml);
        snprintf(args, sizeof args, "--emit-jobs --preset smoke --grid %s --out-dir %s/out", path, dir);
        snprintf(needle, sizeof needle, "(1 model x 1 training size x %d layers x %d d x %d heads x %d lr x %d wd x %d epochs), "
                 "more than the 100000 a sweep may have", per_axis, per_axis, per_axis, per_axis, per_axis, per_axis);
        expect_usage_error(args, needle);
    }
    const char *cases[][2] = {
        {"--model mosaic,gpt", "--model"},
        {"--sweep --model mosaic,transformer", "--model"},
        {"--grid g.yaml", "--grid"},
        {"--sweep --train-sizes 20,x", "--train-sizes"},
        {"--sweep --describe", "--describe"},
        {"--collect /nonexistent-memlab-dir", "/nonexistent-memlab-dir"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(args, sizeof args, "--preset smoke %s --out-dir %s/out", cases[i][0], dir);
        expect_usage_error(args, cases[i][1]);
    }
    /* a point that fails (its --out-dir is a file): named, the other still runs, exit 1, no table */
    char *out, *err;
    snprintf(path, sizeof path, "%s/grid.yaml", dir);
    write_text(path, two_points);
    snprintf(args, sizeof args, "mkdir -p %s/fail && touch %s/fail/point_000", dir, dir);
    ck_assert_int_eq(test_run(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "--sweep --preset smoke --quiet --grid %s --force --out-dir %s/fail", path, dir);
    ck_assert_int_eq(run_cmd(args, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, "point_000 failed") && strstr(err, "wd 0.01"), "%s", err);
    snprintf(path, sizeof path, "%s/fail/point_001.csv", dir);
    char *other = test_slurp(path);
    ck_assert_ptr_nonnull(other);
    free(other);
    snprintf(path, sizeof path, "%s/fail/best.csv", dir);
    ck_assert_ptr_null(test_slurp(path));
    free(out);
    free(err);
    test_rmdir(dir);
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
    tcase_add_test(cmd, test_sweep);
    tcase_add_test(cmd, test_emit_collect);
    tcase_add_test(cmd, test_sweep_bad_input);
    tcase_set_timeout(cmd, 120);
    suite_add_tcase(s, cmd);
    return s;
}
