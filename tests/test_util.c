#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/params.h"
#include "io/ckpt.h"
#include "nn/lm_ckpt.h"

const char *test_memlab_bin(void)
{
    const char *bin = getenv("MEMLAB_BIN");
    return bin && *bin ? bin : "./memlab";
}

char *test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    return buf;
}

char *test_tmpdir(void)
{
    char *dir = strdup("/tmp/memlab-test-XXXXXX");
    ck_assert_ptr_nonnull(dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

void test_rmdir(char *dir)
{
    if (!dir)
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
    free(dir);
}

int test_run(const char *cmd, char **out, char **err)
{
    char *dir = test_tmpdir();
    size_t len = strlen(cmd) + 2 * strlen(dir) + 64;
    char *full = malloc(len);
    ck_assert_ptr_nonnull(full);
    snprintf(full, len, "(%s) >'%s/out' 2>'%s/err'", cmd, dir, dir);
    int status = system(full);
    free(full);
    char path[512];
    if (out) {
        snprintf(path, sizeof path, "%s/out", dir);
        *out = test_slurp(path);
    }
    if (err) {
        snprintf(path, sizeof path, "%s/err", dir);
        *err = test_slurp(path);
    }
    test_rmdir(dir);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

char *test_fixture(const char *name)
{
    const char *dir = getenv("MEMLAB_FIXTURES");
    char src[1024];
    snprintf(src, sizeof src, "%s/%s", dir && *dir ? dir : "tests/fixtures", name);
    gzFile in = gzopen(src, "rb");
    ck_assert_msg(in != NULL, "fixture %s not found (run the tests from the repository root)", src);
    char *path = strdup("/tmp/memlab-fixture-XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    char buf[65536];
    int got;
    while ((got = gzread(in, buf, sizeof buf)) > 0)
        ck_assert_int_eq(write(fd, buf, (size_t)got), got);
    ck_assert_msg(got == 0, "fixture %s: corrupt gzip", src);
    gzclose(in);
    close(fd);
    return path;
}

void test_fixture_done(char *path)
{
    if (path)
        unlink(path);
    free(path);
}

tensor *rand_tensor(rng *r, int ndim, const int *shape, double lo, double hi)
{
    tensor *t = tensor_alloc(ndim, shape, 1);
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)(lo + (hi - lo) * rng_uniform(r));
    return t;
}

double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

void expect_close(const real *got, const double *want, const double *scale, size_t n, double tol,
                  const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double s = fmax(fmax(fabs(g), fabs(w)), scale ? scale[i] : 0);
        ck_assert_msg(fabs(g - w) <= tol * s, "%s[%zu]: %.17g vs reference %.17g", what, i, g, w);
    }
}

void expect_gradcheck(gradcheck_fn f, tensor *const *in, int n_in, void *ctx, const char *what)
{
    gradcheck_result res = gradcheck_run(f, in, n_in, ctx, GC_H);
    if (getenv("MEMLAB_GRADCHECK_VERBOSE"))
        fprintf(stderr, "gradcheck %-28s max_rel_err %.3g (input %d, element %zu)\n", what, res.max_rel_err,
                res.worst_input, res.worst_index);
    ck_assert_msg(res.max_rel_err < GC_TOL, "%s: input %d element %zu: analytic %.12g, numeric %.12g (rel %.3g)",
                  what, res.worst_input, res.worst_index, res.analytic, res.numeric, res.max_rel_err);
}

void linear_reference(double *want, double *scale, const tensor *x, const tensor *w, const tensor *b)
{
    int C = w->shape[1], OC = w->shape[0];
    size_t N = x->n / (size_t)C;
    for (size_t n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b->data[o] : 0, a = b ? fabs(b->data[o]) : 0;
            for (int c = 0; c < C; c++) {
                double term = (double)x->data[n * C + c] * w->data[o * C + c];
                s += term;
                a += fabs(term);
            }
            want[n * OC + o] = s;
            scale[n * OC + o] = a;
        }
}


tensor *fixture_tensor(const char *path, const char *name)
{
    err_t e;
    tensor *t = ckpt_read_tensor(path, name, &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    return t;
}

void expect_fixture_close(const real *got, const tensor *want, const char *what, double tol)
{
    /* Elements that cancel towards zero are measured against the tensor's own magnitude: float32
     * rounding of the summed terms is relative to them, not to the small result. */
    double floor = 1e-3;
    for (size_t i = 0; i < want->n; i++)
        floor = fmax(floor, 0.01 * fabs(want->data[i]));
    for (size_t i = 0; i < want->n; i++) {
        double a = got[i], b = want->data[i];
        double scale = fmax(fmax(fabs(a), fabs(b)), floor);
        ck_assert_msg(fabs(a - b) <= tol * scale, "%s[%zu]: memlab %.8g, PyTorch %.8g", what, i, a, b);
    }
}

void expect_fixture_named(const real *got, size_t n, const char *path, const char *prefix,
                          const char *name, double tol)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    tensor *want = fixture_tensor(path, full);
    ck_assert_msg(want->n == n, "%s: %zu elements, fixture has %zu", full, n, want->n);
    expect_fixture_close(got, want, full, tol);
    tensor_free(want);
}

void fixture_load_params(const char *path, param_store *ps, const char *prefix)
{
    for (int i = 0; i < ps->count; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, ps->entries[i].name);
        tensor *t = fixture_tensor(path, name);
        ck_assert_msg(t->n == ps->entries[i].n, "%s: %zu elements, memlab has %zu", name, t->n,
                      ps->entries[i].n);
        memcpy(params_tensor(ps, i)->data, t->data, t->n * sizeof(real));
        tensor_free(t);
    }
}

void expect_bad_inputs(const char *prefix, const bad_input_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char cmd[8192], *out, *err;
        snprintf(cmd, sizeof cmd, "%s %s %s", test_memlab_bin(), prefix, cases[i].args);
        ck_assert_msg(test_run(cmd, &out, &err) == cases[i].code, "%s: %s", cases[i].args, err);
        ck_assert_msg(strstr(err, cases[i].needle) != NULL, "%s: %s", cases[i].args, err);
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: %s", cases[i].args, err);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
}

void write_gpt_ckpt(const char *path, int d, int ctx)
{
    lm_config c = {.arch = LM_GPT, .vocab = 300, .ctx = ctx, .d = d, .layers = 1, .heads = 2};
    err_t e;
    ck_assert_int_eq(lm_config_resolve(&c, &e), 0);
    lm m;
    lm_build(&m, &c);
    ck_assert_msg(lm_ckpt_save(path, &m, NULL, 0, &e) == 0, "%s", e.msg);
    lm_free(&m);
}

int test_run_child(void (*fn)(void *), void *arg, const char *out, const char *err)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(99);
        fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
