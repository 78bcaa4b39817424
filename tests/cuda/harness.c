#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "cuda/cuda_ctx.h"

static const char *prog = "test";
static int checks, failures;

void th_open(const char *program)
{
    prog = program;
    char msg[256];
    if (cuda_ctx_open(0, msg, sizeof msg) != 0) {
        printf("FAIL %s: %s\n", prog, msg);
        exit(1);
    }
    printf("# %s on %s\n", prog, cuda_ctx_describe());
}

void th_fill(real *x, size_t n, rng *r, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (real)(lo + (hi - lo) * rng_uniform(r));
}

real *th_random(size_t n, rng *r, double lo, double hi)
{
    real *x = xmalloc(n * sizeof *x);
    th_fill(x, n, r, lo, hi);
    return x;
}

real *th_upload(const real *host, size_t n)
{
    real *d = cuda_dev_alloc(n * sizeof *d);
    cuda_memcopy(d, host, n * sizeof *d);
    return d;
}

int *th_upload_ints(const int *host, size_t n)
{
    int *d = cuda_dev_alloc(n * sizeof *d);
    cuda_memcopy(d, host, n * sizeof *d);
    return d;
}

real *th_dev_zeros(size_t n)
{
    real *d = cuda_dev_alloc(n * sizeof *d);
    cuda_memzero(d, n * sizeof *d);
    return d;
}

void th_free_dev(void *dev) { cuda_dev_free(dev); }

real *th_download(const real *dev, size_t n)
{
    real *h = xmalloc(n * sizeof *h);
    cuda_sync();
    cuda_memcopy(h, dev, n * sizeof *h);
    return h;
}

int th_check(const char *name, const real *got, const real *want, size_t n, double atol, double rtol)
{
    double max_abs = 0, max_rel = 0, worst = 0;
    size_t at = 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], d = fabs(g - w);
        double excess = d - (atol + rtol * fabs(w));
        if (!(excess <= 0))   /* NaN fails too */
            ok = 0;
        if (!(excess <= worst) || (i == 0 && !ok)) {
            worst = excess;
            at = i;
        }
        if (d > max_abs || isnan(d))
            max_abs = d;
        if (fabs(w) > 0 && d / fabs(w) > max_rel)
            max_rel = d / fabs(w);
    }
    checks++;
    failures += !ok;
    printf("%s %s: n=%zu max_abs=%.3g max_rel=%.3g (atol %.1g rtol %.1g)", ok ? "ok  " : "FAIL", name, n,
           max_abs, max_rel, atol, rtol);
    if (!ok)
        printf(" worst at %zu: %.9g vs %.9g", at, (double)got[at], (double)want[at]);
    printf("\n");
    return ok;
}

int th_check_dev(const char *name, const real *dev, const real *want, size_t n, double atol, double rtol)
{
    real *got = th_download(dev, n);
    int ok = th_check(name, got, want, n, atol, rtol);
    free(got);
    return ok;
}

int th_check_scalar(const char *name, double got, double want, double atol, double rtol)
{
    double d = fabs(got - want);
    int ok = d <= atol + rtol * fabs(want);
    checks++;
    failures += !ok;
    printf("%s %s: %.9g vs %.9g (abs %.3g; atol %.1g rtol %.1g)\n", ok ? "ok  " : "FAIL", name, got, want, d,
           atol, rtol);
    return ok;
}

int th_finish(void)
{
    printf("# %s: %d checks, %d failed\n", prog, checks, failures);
    return failures ? 1 : 0;
}
