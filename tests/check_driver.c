/* experiments/driver.h: a run's tables, declared once (table_spec) and written with csv_row, are
 * committed together by driver_end, or discarded together: after a failure, a write error in any
 * one of them, or a crash mid-run, no table (not even part of one) and no temporary file is left. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../experiments/driver.h"
#include "test_util.h"

static const cmd_spec spec = {.command = "tables-test", .summary = "a run with three tables", .usage = "tables-test"};

static const char *const primary_columns[] = {"step", "loss"};
static const char *const a_columns[] = {"name", "value"};
static const char *const b_columns[] = {"seed", "converged", "score"};
static const table_spec primary = TABLE_SPEC("curves.csv", primary_columns);
static const table_spec table_a = TABLE_SPEC("a.csv", a_columns);
static const table_spec table_b = TABLE_SPEC("b.csv", b_columns);

/* How a run of the test command ends. */
typedef enum { END_OK, END_FAILED, END_FATAL } run_end;

typedef struct {
    const char *dir;      /* the run folder */
    const char *output;   /* -o */
    run_end end;
} run_args;

/* Opens two tables and the primary one (copied to curves.csv), writes rows, then ends as told.
 * Exits with driver_end's code, 1 from fatal(), or 7 when a table reached its name before the end. */
static void table_run(void *arg)
{
    const run_args *a = arg;
    char *argv[] = {"tables-test", "--out-dir", (char *)a->dir, "-o", (char *)a->output, "--quiet", NULL};
    driver d;
    int code;
    if (driver_begin(&d, &spec, 6, argv, &code) != 0)
        exit(10 + code);
    csv_writer *ta = NULL, *tb = NULL;
    /* the primary last: a write error there must still discard the tables opened before it */
    if (!(ta = driver_table(&d, &table_a)) || !(tb = driver_table(&d, &table_b)) || driver_open_csv(&d, &primary) != 0)
        exit(driver_end(&d, 0) + 20);
    for (int step = 1; step <= 3; step++)
        csv_row(d.csv, cell_int(step), cell_num(1.0 / step));
    csv_row(ta, cell_str("x"), cell_num(0.5));
    csv_row(tb, cell_int(1), cell_int(1), cell_num(0.75));
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/a.csv", a->dir);
    if (stat(path, &st) == 0)
        exit(7);
    if (a->end == END_FATAL)
        fatal("tables-test: dies in the middle of the run");
    exit(driver_end(&d, a->end == END_OK));
}

/* The names in dir, sorted, joined by ' ' (so a test compares them in one string); malloc'd. */
static char *listing(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    char *s = calloc(1, 4096);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
            snprintf(s + strlen(s), 4096 - strlen(s), "%s%s", *s ? " " : "", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return s;
}

static void expect_file(const char *dir, const char *name, const char *want)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *got = test_slurp(path);
    ck_assert_msg(got != NULL, "%s is missing", path);
    ck_assert_str_eq(got, want);
    free(got);
}

/* A run of the test command in root/<name>, its -o root/primary.csv (or output when given); the exit
 * status. */
static int run_in(const char *root, const char *name, const char *output, run_end end, const char *err)
{
    char dir[4096], out[4200];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(out, sizeof out, "%s/primary.csv", root);
    run_args a = {dir, output ? output : out, end};
    return test_run_child(table_run, &a, NULL, err);
}

/* The names in root/<name> (listing). */
static char *listing_in(const char *root, const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    return listing(dir);
}

START_TEST(test_tables_committed_together)
{
    char *root = test_tmpdir(), dir[4096];
    snprintf(dir, sizeof dir, "%s/run", root);
    ck_assert_int_eq(run_in(root, "run", NULL, END_OK, NULL), 0);
    char *names = listing(dir);
    ck_assert_str_eq(names, "a.csv b.csv config.yaml curves.csv run.log");
    free(names);
    const char *curve = "step,loss\n1,1\n2,0.5\n3,0.333333\n";
    expect_file(root, "primary.csv", curve);
    expect_file(dir, "curves.csv", curve);
    expect_file(dir, "a.csv", "name,value\nx,0.5\n");
    expect_file(dir, "b.csv", "seed,converged,score\n1,1,0.75\n");
    test_rmdir(root);
}
END_TEST

START_TEST(test_tables_discarded_together)
{
    char *root = test_tmpdir();
    /* a failed run (driver_end(d, 0)), and a crash in the middle of one (fatal() exits without
     * driver_end): the folder keeps its run.log alone, and -o was never written */
    ck_assert_int_eq(run_in(root, "failed", NULL, END_FAILED, NULL), 1);
    ck_assert_int_eq(run_in(root, "crash", NULL, END_FATAL, NULL), 1);
    const char *runs[] = {"failed", "crash"};
    for (int i = 0; i < 2; i++) {
        char *names = listing_in(root, runs[i]);
        ck_assert_str_eq(names, "run.log");
        free(names);
    }
    char *names = listing(root);
    ck_assert_str_eq(names, "crash failed");
    free(names);
    test_rmdir(root);
}
END_TEST

/* A write error in one table (the primary, -o on a full disk) discards the others: every table is
 * synced before any is committed. */
START_TEST(test_tables_write_error_discards_all)
{
    char *root = test_tmpdir(), err[4200];
    snprintf(err, sizeof err, "%s/stderr", root);
    ck_assert_int_eq(run_in(root, "run", "/dev/full", END_OK, err), 1);
    char *names = listing_in(root, "run");
    ck_assert_str_eq(names, "run.log");
    free(names);
    char *msg = test_slurp(err);
    ck_assert_str_eq(msg, "memlab: tables-test: /dev/full: write failed: No space left on device\n");
    free(msg);
    test_rmdir(root);
}
END_TEST

Suite *suite_driver(void)
{
    Suite *s = suite_create("driver");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, test_tables_committed_together);
    tcase_add_test(tc, test_tables_discarded_together);
    tcase_add_test(tc, test_tables_write_error_discards_all);
    suite_add_tcase(s, tc);
    return s;
}
