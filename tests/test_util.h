/* Small helpers shared by the Check suites. */
#ifndef MEMLAB_TEST_UTIL_H
#define MEMLAB_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stddef.h>

#include "core/gradcheck.h"
#include "core/rng.h"
#include "core/tensor.h"

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

/* Runs fn in a child process with stdout and stderr sent to the given files (NULL: /dev/null), so
 * that output, exit codes and fatal() can be checked whatever Check's fork mode. Returns the exit
 * status, or -1 if the child was killed. */
int test_run_child(void (*fn)(void *), void *arg, const char *out, const char *err);

/* A fresh directory under /tmp (removed by test_rmdir). */
char *test_tmpdir(void);
void test_rmdir(char *dir);

/* One bad-input run: the arguments, the exit code and a piece of the one-line message expected. */
typedef struct {
    char args[2048];
    int code;
    const char *needle;
} bad_input_case;

/* Runs "<memlab> <prefix> <case args>" for every case and checks the exit code, that stderr is one
 * line holding the needle, and that nothing reached stdout. */
void expect_bad_inputs(const char *prefix, const bad_input_case *cases, size_t n);

/* Writes a freshly built (zero) gpt checkpoint of width d, one layer, two heads, vocabulary 300 and
 * context ctx at path: the wrong-shape encoder that bad-input tests hand to a command. */
void write_gpt_ckpt(const char *path, int d, int ctx);

/* Contents of a file, or NULL. */
char *test_slurp(const char *path);

/* Gradient checks in the double build: step and the bound on max_rel_err (gradcheck.h). */
#define GC_H 1e-5
#define GC_TOL 1e-6

/* A heap tensor with a gradient buffer, uniform in [lo, hi). */
tensor *rand_tensor(rng *r, int ndim, const int *shape, double lo, double hi);
/* n zeroed doubles (for naive references); never NULL. */
double *dalloc(size_t n);
/* |got - want| <= tol * max(|got|, |want|, scale[i]); scale (may be NULL) is the magnitude of the
 * terms a reference value was summed from, for outputs that cancel towards zero. */
void expect_close(const real *got, const double *want, const double *scale, size_t n, double tol,
                  const char *what);
/* gradcheck_run with GC_H, failing above GC_TOL with the worst element; MEMLAB_GRADCHECK_VERBOSE=1
 * prints every check's worst error. */
void expect_gradcheck(gradcheck_fn f, tensor *const *in, int n_in, void *ctx, const char *what);

/* Naive x . w^T + b (b may be NULL) in double; scale[i] = sum of |terms|, the magnitude a rounding
 * error of the output is measured against. */
void linear_reference(double *want, double *scale, const tensor *x, const tensor *w, const tensor *b);

/* A fixture from tests/fixtures/ (MEMLAB_FIXTURES overrides the folder), gunzipped when its name
 * ends in .gz, as a temporary file: returns its path (free with test_fixture_done). */
char *test_fixture(const char *name);
void test_fixture_done(char *path);

/* Tensor `name` of a fixture file (fails the test when missing); free with tensor_free. */
tensor *fixture_tensor(const char *path, const char *name);
/* got[i] against the fixture tensor: |a - b| <= tol * max(|a|, |b|, 1e-3, max|want| / 100). */
void expect_fixture_close(const real *got, const tensor *want, const char *what, double tol);
/* got against fixture tensor "<prefix><name>". */
void expect_fixture_named(const real *got, size_t n, const char *path, const char *prefix,
                          const char *name, double tol);
struct param_store;
/* Copies fixture tensors "<prefix><entry name>" into every parameter of ps (sizes must agree). */
void fixture_load_params(const char *path, struct param_store *ps, const char *prefix);

#endif
