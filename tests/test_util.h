/* Small helpers shared by the Check suites. */
#ifndef MEMLAB_TEST_UTIL_H
#define MEMLAB_TEST_UTIL_H

#include <check.h>
#include <math.h>

/* |a - b| <= tol * max(|a|, |b|, 1e-30) */
#define ck_assert_rel(a, b, tol)                                                                   \
    do {                                                                                           \
        double ck_a_ = (double)(a), ck_b_ = (double)(b);                                           \
        double ck_s_ = fmax(fmax(fabs(ck_a_), fabs(ck_b_)), 1e-30);                                \
        ck_assert_msg(fabs(ck_a_ - ck_b_) <= (tol) * ck_s_, "%s = %.10g vs %s = %.10g (rel tol %g)", \
                      #a, ck_a_, #b, ck_b_, (double)(tol));                                        \
    } while (0)

/* The memlab binary under test (MEMLAB_BIN, set by `make check`; ./memlab otherwise). */
const char *test_memlab_bin(void);

/* Runs a shell command, capturing stdout and stderr (each malloc'd, NUL-terminated; pass NULL to
 * discard) and returning the exit status (or -1 if it could not run or was killed). */
int test_run(const char *cmd, char **out, char **err);

/* A fresh directory under /tmp (removed by test_rmdir). */
char *test_tmpdir(void);
void test_rmdir(char *dir);

/* Contents of a file, or NULL. */
char *test_slurp(const char *path);

/* A fixture from tests/fixtures/ (MEMLAB_FIXTURES overrides the folder), gunzipped when its name
 * ends in .gz, as a temporary file: returns its path (free with test_fixture_done). */
char *test_fixture(const char *name);
void test_fixture_done(char *path);

#endif
