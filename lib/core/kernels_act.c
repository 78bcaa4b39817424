/* Activation kernels: GELU (tanh and erf forms), ReLU, tanh, sigmoid, row softmax and inverted dropout. */
#include "core/kernels.h"

#include <tgmath.h>

#include "core/fastexp.h"
#include "core/kernels_par.h"

/* Below this much work a loop stays on one thread (a pool round trip costs microseconds). The
 * transcendental kernels cost more per element, so they split sooner than copies. */
#define PAR_MIN_TRANS ((size_t)1 << 13)
#define PAR_MIN ((size_t)1 << 16)

/* GELU, tanh form, as GPT-2 and PyTorch's approximate='tanh':
 * 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). Computed as x * sigmoid(2u), the same
 * function (0.5 (1 + tanh(u)) = 1 / (1 + e^-2u)) without the cancellation of 1 + tanh(u) for
 * negative x, and through exp_vec. */
#define GELU_BETA ((real)(M_SQRT2 * M_2_SQRTPI * 0.5))
#define GELU_KAPPA ((real)0.044715)
/* The backward pass caps e^-2u at e^80 so that e stays finite and e * s is never inf * 0; past the
 * cap (x below about -7) the derivative is below 1e-30 either way. */
#define GELU_Z_MAX ((real)80)

static void gelu_forward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    real *out = p->out;
    const real *inp = p->a;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        real x = inp[i];
        real u = GELU_BETA * (x + GELU_KAPPA * x * x * x);
        out[i] = x / (1 + exp_vec(-2 * u));
    }
}

void gelu_forward(real *out, const real *inp, size_t n)
{
    pool_for(n, n >= PAR_MIN_TRANS, gelu_forward_rows, &(par_args){.out = out, .a = inp});
}

/* With s = sigmoid(2u) = 1 / (1 + e), e = e^-2u: d gelu / dx = s + 2 x s (1 - s) u', and
 * 1 - s = e s keeps its precision where s is close to 1. */
static void gelu_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    real *dinp = p->out;
    const real *dout = p->a, *inp = p->b;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        real x = inp[i];
        real u = GELU_BETA * (x + GELU_KAPPA * x * x * x);
        real z = -2 * u;
        real e = exp_vec(z < GELU_Z_MAX ? z : GELU_Z_MAX);
        real s = 1 / (1 + e);
        real du = GELU_BETA * (1 + 3 * GELU_KAPPA * x * x);
        dinp[i] += dout[i] * (s + 2 * x * s * (e * s) * du);
    }
}

void gelu_backward(real *dinp, const real *dout, const real *inp, size_t n)
{
    if (dinp)
        pool_for(n, n >= PAR_MIN_TRANS, gelu_backward_rows, &(par_args){.out = dinp, .a = dout, .b = inp});
}

/* GELU, exact form, as PyTorch's nn.GELU() (nanoGPT's MLP): x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
 * Written with erfc(-x / sqrt 2) in place of 1 + erf(x / sqrt 2): the same value without the
 * cancellation for negative x, where 1 + erf would lose every digit below -4 or so. */
#define GELU_RSQRT2 ((real)M_SQRT1_2)
#define GELU_RSQRT2PI ((real)(M_2_SQRTPI * M_SQRT1_2 * 0.5))

#ifdef MEMLAB_DOUBLE
static inline real erfc_vec(real z) { return erfc(z); }   /* the gradient checks: accuracy first */
#else
/* erfc in branch-free arithmetic that vectorises (glibc's erfcf is an opaque call: the exact GELU
 * through it measured 17x slower than the tanh form). Chebyshev fit erfc(z) = t exp(-z^2 + P(t)),
 * t = 1 / (1 + z/2) for z >= 0 (Numerical Recipes' erfcc; relative error below 1.2e-7 in exact
 * arithmetic), and erfc(z) = 2 - erfc(-z) below 0. Measured in float against libm's double: the
 * GELU within 6e-6 relative for |x| < 8 (the left tail keeps its relative precision; the rounding of
 * z^2 is what grows there), its derivative within 2e-7 absolute. */
static inline float erfc_vec(float z)
{
    float a = fabsf(z), t = 1 / (1 + 0.5f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float r = t * exp_vec(p - a * a);
    return z >= 0 ? r : 2 - r;
}
#endif

static void gelu_erf_forward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    real *out = p->out;
    const real *inp = p->a;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        real x = inp[i];
        out[i] = (real)0.5 * x * erfc_vec(-x * GELU_RSQRT2);
    }
}

void gelu_erf_forward(real *out, const real *inp, size_t n)
{
    pool_for(n, n >= PAR_MIN_TRANS, gelu_erf_forward_rows, &(par_args){.out = out, .a = inp});
}

/* d/dx x Phi(x) = Phi(x) + x phi(x), phi the standard normal density; phi underflows to 0 (never
 * NaN) far out, where x phi(x) is 0 anyway. */
static inline real gelu_erf_slope(real x)
{
    real cdf = (real)0.5 * erfc_vec(-x * GELU_RSQRT2);
    real pdf = GELU_RSQRT2PI * exp_vec((real)-0.5 * x * x);
    return cdf + x * pdf;
}

static void gelu_erf_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    real *dinp = p->out;
    const real *dout = p->a, *inp = p->b;
    if (p->store) {   /* the old contents are never read */
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dinp[i] = dout[i] * gelu_erf_slope(inp[i]);
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dinp[i] += dout[i] * gelu_erf_slope(inp[i]);
    }
}

void gelu_erf_backward(real *dinp, const real *dout, const real *inp, size_t n, int store)
{
    if (dinp)
        pool_for(n, n >= PAR_MIN_TRANS, gelu_erf_backward_rows,
                 &(par_args){.out = dinp, .a = dout, .b = inp, .store = store});
}

static void relu_forward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)   /* written so that a NaN passes through, as in PyTorch */
        p->out[i] = p->a[i] < 0 ? 0 : p->a[i];
}

void relu_forward(real *out, const real *inp, size_t n)
{
    pool_for(n, n >= PAR_MIN, relu_forward_rows, &(par_args){.out = out, .a = inp});
}

/* a: the upstream gradient, b: the forward output. */
static void relu_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] += p->b[i] > 0 ? p->a[i] : 0;
}

void relu_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (dinp)
        pool_for(n, n >= PAR_MIN, relu_backward_rows, &(par_args){.out = dinp, .a = dout, .b = out});
}

static void tanh_forward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    for (size_t i = lo; i < hi; i++)
        p->out[i] = tanh(p->a[i]);
}

void tanh_forward(real *out, const real *inp, size_t n)
{
    pool_for(n, n >= PAR_MIN_TRANS, tanh_forward_rows, &(par_args){.out = out, .a = inp});
}

static void tanh_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] += p->a[i] * (1 - p->b[i] * p->b[i]);
}

void tanh_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (dinp)
        pool_for(n, n >= PAR_MIN, tanh_backward_rows, &(par_args){.out = dinp, .a = dout, .b = out});
}

static void sigmoid_forward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        real x = p->a[i];
        /* e^-|x| never overflows: s = 1 / (1 + e) for x >= 0, e / (1 + e) below. */
        real e = exp_vec(x < 0 ? x : -x);
        real s = 1 / (1 + e);
        p->out[i] = x >= 0 ? s : e * s;
    }
}

void sigmoid_forward(real *out, const real *inp, size_t n)
{
    pool_for(n, n >= PAR_MIN_TRANS, sigmoid_forward_rows, &(par_args){.out = out, .a = inp});
}

static void sigmoid_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        p->out[i] += p->a[i] * p->b[i] * (1 - p->b[i]);
}

void sigmoid_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (dinp)
        pool_for(n, n >= PAR_MIN, sigmoid_backward_rows, &(par_args){.out = dinp, .a = dout, .b = out});
}

static void softmax_forward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    const size_t C = (size_t)p->C;
    for (size_t n = lo; n < hi; n++) {
        const real *restrict x = p->a + n * C;
        real *restrict y = p->out + n * C;
        real mx = x[0];
#pragma omp simd reduction(max : mx)
        for (size_t i = 1; i < C; i++)
            mx = x[i] > mx ? x[i] : mx;
        real sum = 0;
#pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < C; i++) {
            y[i] = exp_vec(x[i] - mx);
            sum += y[i];
        }
        real inv = 1 / sum;
#pragma omp simd
        for (size_t i = 0; i < C; i++)
            y[i] *= inv;
    }
}

void softmax_forward(real *out, const real *inp, int N, int C)
{
    pool_for((size_t)N, (size_t)N * (size_t)C >= PAR_MIN_TRANS, softmax_forward_rows,
             &(par_args){.out = out, .a = inp, .C = C});
}

static void softmax_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *p = arg;
    const size_t C = (size_t)p->C;
    for (size_t n = lo; n < hi; n++) {
        const real *restrict y = p->b + n * C;
        const real *restrict dy = p->a + n * C;
        real *restrict dx = p->out + n * C;
        /* dx = y * (dy - y . dy): O(C) per row, never the C x C Jacobian. */
        real dot = 0;
#pragma omp simd reduction(+ : dot)
        for (size_t i = 0; i < C; i++)
            dot += y[i] * dy[i];
#pragma omp simd
        for (size_t i = 0; i < C; i++)
            dx[i] += y[i] * (dy[i] - dot);
    }
}

void softmax_backward(real *dinp, const real *dout, const real *out, int N, int C)
{
    if (dinp)
        pool_for((size_t)N, (size_t)N * (size_t)C >= PAR_MIN, softmax_backward_rows,
                 &(par_args){.out = dinp, .a = dout, .b = out, .C = C});
}

void dropout_forward(real *out, real *mask, const real *inp, size_t n, real p, rng *r)
{
    /* Serial: the mask is a function of the RNG stream alone, whatever the thread count. */
    real keep = 1 / (1 - p);
    for (size_t i = 0; i < n; i++) {
        real m = rng_uniform(r) < (double)p ? 0 : keep;
        mask[i] = m;
        out[i] = inp[i] * m;
    }
}
