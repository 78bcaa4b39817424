/* Dense ops in the float build that training uses: the linear layer at an odd, non-square shape,
 * LayerNorm and softmax cross-entropy against naive double-precision references, and the
 * determinism promise: one thread and two threads give the same bits, forward and backward. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/gradcheck.h"
#include "core/kernels.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "test_util.h"

/* Float rounding of sums of a few dozen terms: measured against the terms' magnitude. */
#define FLT_TOL 1e-5

/* ---- linear ----------------------------------------------------------------------------------- */

START_TEST(test_linear_float)
{
    enum { N = 37, C = 29, OC = 41 };
    rng r = rng_stream(21, RNG_STREAM_USER);
    int xs[2] = {N, C}, ws[2] = {OC, C}, bs[1] = {OC}, ys[2] = {N, OC};
    tensor *x = rand_tensor(&r, 2, xs, -1, 1), *w = rand_tensor(&r, 2, ws, -1, 1);
    tensor *b = rand_tensor(&r, 1, bs, -1, 1), *dy = rand_tensor(&r, 2, ys, -1, 1);
    double *want = dalloc(N * OC), *scale = dalloc(N * OC);
    double *wdx = dalloc(N * C), *sdx = dalloc(N * C), *wdw = dalloc(OC * C), *sdw = dalloc(OC * C);
    double *wdb = dalloc(OC), *sdb = dalloc(OC);
    for (int bias = 0; bias <= 1; bias++) {
        linear_reference(want, scale, x, w, bias ? b : NULL);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                double s = 0, a = 0;
                for (int o = 0; o < OC; o++) {
                    double t = (double)dy->data[n * OC + o] * w->data[o * C + c];
                    s += t;
                    a += fabs(t);
                }
                wdx[n * C + c] = s;
                sdx[n * C + c] = a;
            }
        for (int o = 0; o < OC; o++) {
            for (int c = 0; c < C; c++) {
                double s = 0, a = 0;
                for (int n = 0; n < N; n++) {
                    double t = (double)dy->data[n * OC + o] * x->data[n * C + c];
                    s += t;
                    a += fabs(t);
                }
                wdw[o * C + c] = s;
                sdw[o * C + c] = a;
            }
            double s = 0, a = 0;
            for (int n = 0; n < N; n++) {
                s += dy->data[n * OC + o];
                a += fabs(dy->data[n * OC + o]);
            }
            wdb[o] = s;
            sdb[o] = a;
        }
        tape tp;
        tape_init(&tp);
        tensor *y = op_linear(&tp, x, w, bias ? b : NULL);
        ck_assert(y->ndim == 2 && y->shape[0] == N && y->shape[1] == OC);
        expect_close(y->data, want, scale, y->n, FLT_TOL, bias ? "linear+bias" : "linear");
        /* backward with dout = dy through sum(y * dy) */
        memset(x->grad, 0, x->n * sizeof(real));
        memset(w->grad, 0, w->n * sizeof(real));
        memset(b->grad, 0, b->n * sizeof(real));
        tensor *dyc = tape_input(&tp, 2, ys, dy->data);
        tape_backward(&tp, op_sum(&tp, op_mul(&tp, y, dyc)));
        expect_close(x->grad, wdx, sdx, x->n, FLT_TOL, "linear dx");
        expect_close(w->grad, wdw, sdw, w->n, FLT_TOL, "linear dw");
        if (bias)
            expect_close(b->grad, wdb, sdb, b->n, FLT_TOL, "linear db");
        else
            for (int o = 0; o < OC; o++)
                ck_assert(b->grad[o] == 0);
        tape_free(&tp);
    }
    free(want), free(scale), free(wdx), free(sdx), free(wdw), free(sdw), free(wdb), free(sdb);
    tensor_free(x), tensor_free(w), tensor_free(b), tensor_free(dy);
}
END_TEST

/* op_linear_residual on the CPU: the bits of op_add(res, op_linear(x, w, b)), forward and every
 * gradient (the fused op only drops the product's own tensor and the gradient's copy). */
START_TEST(test_linear_residual_float)
{
    enum { N = 37, C = 29, OC = 41 };
    rng r = rng_stream(22, RNG_STREAM_USER);
    int xs[2] = {N, C}, ws[2] = {OC, C}, bs[1] = {OC}, ys[2] = {N, OC};
    tensor *x = rand_tensor(&r, 2, xs, -1, 1), *w = rand_tensor(&r, 2, ws, -1, 1);
    tensor *b = rand_tensor(&r, 1, bs, -1, 1), *res = rand_tensor(&r, 2, ys, -1, 1);
    tensor *dy = rand_tensor(&r, 2, ys, -1, 1);
    real *got[4], *want[4], *ref_out = NULL;
    tensor *all[4] = {res, x, w, b};
    for (int fused = 0; fused <= 1; fused++) {
        for (int i = 0; i < 4; i++)
            memset(all[i]->grad, 0, all[i]->n * sizeof(real));
        tape tp;
        tape_init(&tp);
        tensor *y = fused ? op_linear_residual(&tp, res, x, w, b) : op_add(&tp, res, op_linear(&tp, x, w, b));
        if (!fused) {
            ref_out = malloc(y->n * sizeof *ref_out);
            memcpy(ref_out, y->data, y->n * sizeof *ref_out);
        } else {
            ck_assert_msg(memcmp(y->data, ref_out, y->n * sizeof *ref_out) == 0, "linear_residual: the output's bits");
        }
        tape_backward(&tp, op_sum(&tp, op_mul(&tp, y, tape_input(&tp, 2, ys, dy->data))));
        real **keep = fused ? got : want;
        for (int i = 0; i < 4; i++) {
            keep[i] = malloc(all[i]->n * sizeof(real));
            memcpy(keep[i], all[i]->grad, all[i]->n * sizeof(real));
        }
        tape_free(&tp);
    }
    const char *name[4] = {"res", "x", "w", "b"};
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(memcmp(got[i], want[i], all[i]->n * sizeof(real)) == 0, "linear_residual: %s's gradient bits",
                      name[i]);
        free(got[i]);
        free(want[i]);
    }
    free(ref_out);
    tensor_free(x), tensor_free(w), tensor_free(b), tensor_free(res), tensor_free(dy);
}
END_TEST

/* ---- layernorm -------------------------------------------------------------------------------- */

START_TEST(test_layernorm_float)
{
    enum { N = 37, C = 29 };
    const double eps = 1e-5;
    rng r = rng_stream(22, RNG_STREAM_USER);
    int xs[2] = {N, C}, ws[1] = {C};
    tensor *x = rand_tensor(&r, 2, xs, 1, 4), *w = rand_tensor(&r, 1, ws, -1.5, 1.5);
    tensor *b = rand_tensor(&r, 1, ws, -1, 1);
    double *want = dalloc(N * C), *scale = dalloc(N * C);
    for (int n = 0; n < N; n++) {
        const real *row = x->data + n * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += row[c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (row[c] - m) * (row[c] - m);
        v /= C;
        for (int c = 0; c < C; c++) {
            double t = (row[c] - m) / sqrt(v + eps) * w->data[c];
            want[n * C + c] = t + b->data[c];
            scale[n * C + c] = fabs(t) + fabs(b->data[c]);
        }
    }
    tape tp;
    tape_init(&tp);
    tensor *y = op_layernorm(&tp, x, w, b, (real)eps);
    expect_close(y->data, want, scale, y->n, FLT_TOL, "layernorm");
    tape_free(&tp);
    free(want), free(scale);
    tensor_free(x), tensor_free(w), tensor_free(b);
}
END_TEST

/* ---- softmax cross-entropy -------------------------------------------------------------------- */

START_TEST(test_softmax_xent_float)
{
    enum { N = 37, V = 41 };
    const int ignore = -100;
    rng r = rng_stream(23, RNG_STREAM_USER);
    int ls[2] = {N, V};
    tensor *logits = rand_tensor(&r, 2, ls, -6, 6);
    int targets[N], count = 0;
    for (int n = 0; n < N; n++) {
        targets[n] = n % 5 == 2 ? ignore : (int)rng_below(&r, V);
        count += targets[n] != ignore;
    }
    double want = 0;
    double *wgrad = dalloc(N * V);
    for (int n = 0; n < N; n++) {
        if (targets[n] == ignore)
            continue;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++)
            mx = fmax(mx, logits->data[n * V + v]);
        for (int v = 0; v < V; v++)
            sum += exp(logits->data[n * V + v] - mx);
        want += mx + log(sum) - logits->data[n * V + targets[n]];
        for (int v = 0; v < V; v++)
            wgrad[n * V + v] = (exp(logits->data[n * V + v] - mx) / sum - (v == targets[n])) / count;
    }
    want /= count;
    tape tp;
    tape_init(&tp);
    memset(logits->grad, 0, logits->n * sizeof(real));
    tensor *loss = op_softmax_xent(&tp, logits, targets, ignore);
    expect_close(loss->data, &want, NULL, 1, FLT_TOL, "softmax_xent");
    tape_backward(&tp, loss);
    /* gradients of size ~1/count: measured against 1/count */
    double *scale = dalloc(N * V);
    for (size_t i = 0; i < logits->n; i++)
        scale[i] = 1.0 / count;
    expect_close(logits->grad, wgrad, scale, logits->n, FLT_TOL, "softmax_xent dlogits");
    tape_free(&tp);

    /* a target whose probability underflows (e^-200): the loss is still exactly its logit gap */
    int two[2] = {2, 3};
    tensor *far = tensor_alloc(2, two, 0);
    real vals[6] = {0, 200, -5, 1, 2, 3};
    memcpy(far->data, vals, sizeof vals);
    int tg[2] = {0, 2};
    double lse2 = 3 + log(exp(-2.0) + exp(-1.0) + 1);
    double want_far = (200 + log1p(exp(-200.0) + exp(-205.0)) + lse2 - 3) / 2;
    tape_init(&tp);
    loss = op_softmax_xent(&tp, far, tg, ignore);
    expect_close(loss->data, &want_far, NULL, 1, 1e-6, "softmax_xent underflowed target");
    tape_free(&tp);
    tensor_free(far);
    free(wgrad), free(scale);
    tensor_free(logits);
}
END_TEST

/* ---- activations and softmax: exp_vec ------------------------------------------------------- */

START_TEST(test_activations_float)
{
    /* sigmoid over the whole range where e^x is a normal float: exp's own accuracy (a few ulp) */
    enum { M = 17401 };
    int ms = M;
    tensor *x = tensor_alloc(1, &ms, 0);
    for (int i = 0; i < M; i++)
        x->data[i] = (real)(-87.0 + 174.0 * i / (M - 1));
    double *want = dalloc(M);
    for (int i = 0; i < M; i++) {
        double v = x->data[i];
        want[i] = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
    }
    tape tp;
    tape_init(&tp);
    expect_close(op_sigmoid(&tp, x)->data, want, NULL, M, 1e-6, "sigmoid");
    tape_free(&tp);
    tensor_free(x);
    free(want);

    /* GELU forward and backward against the tanh formula in double */
    enum { N = 37, C = 29 };
    rng r = rng_stream(25, RNG_STREAM_USER);
    int xs[2] = {N, C};
    x = rand_tensor(&r, 2, xs, -6, 6);
    x->data[0] = -30;   /* far tails: 0 and identity, no NaN */
    x->data[1] = 30;
    tensor *dy = rand_tensor(&r, 2, xs, -1, 1);
    want = dalloc(N * C);
    double *wgrad = dalloc(N * C), *gscale = dalloc(N * C);
    const double beta = sqrt(2 / M_PI), kappa = 0.044715;
    for (int i = 0; i < N * C; i++) {
        double v = x->data[i], u = beta * (v + kappa * v * v * v), t = tanh(u);
        want[i] = 0.5 * v * (1 + t);
        double left = 0.5 * (1 + t), right = 0.5 * v * (1 - t * t) * beta * (1 + 3 * kappa * v * v);
        wgrad[i] = dy->data[i] * (left + right);
        /* plus an absolute floor: far left the derivative is ~1e-31 instead of an exact 0 */
        gscale[i] = fabs(dy->data[i]) * (fabs(left) + fabs(right)) + 1e-20;
    }
    tape_init(&tp);
    memset(x->grad, 0, x->n * sizeof(real));
    tensor *y = op_gelu(&tp, x);
    expect_close(y->data, want, NULL, y->n, FLT_TOL, "gelu");
    ck_assert(y->data[0] == 0 && y->data[1] == 30);
    tape_backward(&tp, op_sum(&tp, op_mul(&tp, y, tape_input(&tp, 2, xs, dy->data))));
    expect_close(x->grad, wgrad, gscale, x->n, FLT_TOL, "gelu dx");
    tape_free(&tp);

    /* the exact GELU x Phi(x): the same tails, and the erfc form keeps the left tail's relative
     * precision (1 + erf would cancel to 0 there) */
    for (int i = 0; i < N * C; i++) {
        double v = x->data[i], cdf = 0.5 * erfc(-v / sqrt(2)), pdf = exp(-0.5 * v * v) / sqrt(2 * M_PI);
        want[i] = v * cdf;
        wgrad[i] = dy->data[i] * (cdf + v * pdf);
        gscale[i] = fabs(dy->data[i]) * (cdf + fabs(v) * pdf) + 1e-30;
    }
    /* values: the same absolute floor (at -30 the exact value, 1e-196, is below float's range) */
    double *vscale = dalloc(N * C);
    for (int i = 0; i < N * C; i++)
        vscale[i] = 1e-30;
    tape_init(&tp);
    memset(x->grad, 0, x->n * sizeof(real));
    y = op_gelu_erf(&tp, x);
    expect_close(y->data, want, vscale, y->n, FLT_TOL, "gelu_erf");
    free(vscale);
    ck_assert(fabs(y->data[0]) <= 1e-30 && y->data[1] == 30);
    tape_backward(&tp, op_sum(&tp, op_mul(&tp, y, tape_input(&tp, 2, xs, dy->data))));
    expect_close(x->grad, wgrad, gscale, x->n, FLT_TOL, "gelu_erf dx");
    tape_free(&tp);

    /* softmax, with a -inf entry (a masked logit) that must come out exactly 0 */
    x->data[5] = -INFINITY;
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++)
            mx = fmax(mx, x->data[n * C + c]);
        for (int c = 0; c < C; c++)
            sum += exp(x->data[n * C + c] - mx);
        for (int c = 0; c < C; c++)
            want[n * C + c] = exp(x->data[n * C + c] - mx) / sum;
    }
    tape_init(&tp);
    y = op_softmax(&tp, x);
    expect_close(y->data, want, NULL, y->n, FLT_TOL, "softmax");
    ck_assert(y->data[5] == 0);
    tape_free(&tp);
    free(want), free(wgrad), free(gscale);
    tensor_free(x), tensor_free(dy);
}
END_TEST

/* ---- determinism across thread counts --------------------------------------------------------- */

enum { DET_N = 512, DET_C = 384 };

/* Appends n reals to a growing buffer. */
static void append(real **buf, size_t *len, const real *src, size_t n)
{
    real *grown = realloc(*buf, (*len + n) * sizeof(real));
    ck_assert_ptr_nonnull(grown);
    memcpy(grown + *len, src, n * sizeof(real));
    *buf = grown;
    *len += n;
}

/* LayerNorm, softmax, cross-entropy and GELU forward and backward on inputs large enough for the
 * kernels' parallel loops, with `threads` threads; every output and gradient, concatenated. */
static real *run_dense_ops(int threads, size_t *len)
{
    ck_assert_int_eq(threads_set(threads), threads);
    ck_assert_int_eq(threads_get(), threads);
    rng r = rng_stream(24, RNG_STREAM_USER);
    int xs[2] = {DET_N, DET_C}, ws[1] = {DET_C};
    tensor *x = rand_tensor(&r, 2, xs, -3, 3), *w = rand_tensor(&r, 1, ws, -1, 1);
    tensor *b = rand_tensor(&r, 1, ws, -1, 1);
    int *targets = malloc(DET_N * sizeof *targets);
    ck_assert_ptr_nonnull(targets);
    for (int n = 0; n < DET_N; n++)
        targets[n] = n % 7 == 3 ? -1 : (int)rng_below(&r, DET_C);
    real *buf = NULL;
    *len = 0;
    tensor *(*const unary[3])(tape *, tensor *) = {NULL, op_softmax, op_gelu};
    for (int k = 0; k < 4; k++) {
        tape tp;
        tape_init(&tp);
        memset(x->grad, 0, x->n * sizeof(real));
        memset(w->grad, 0, w->n * sizeof(real));
        memset(b->grad, 0, b->n * sizeof(real));
        tensor *y;
        if (k == 0)
            y = op_layernorm(&tp, x, w, b, (real)1e-5);
        else if (k == 3)
            y = op_softmax_xent(&tp, x, targets, -1);
        else
            y = unary[k](&tp, x);
        tape_backward(&tp, k == 3 ? y : gradcheck_weighted_sum(&tp, y, 5));
        append(&buf, len, y->data, y->n);
        append(&buf, len, x->grad, x->n);
        if (k == 0) {
            append(&buf, len, w->grad, w->n);
            append(&buf, len, b->grad, b->n);
        }
        tape_free(&tp);
    }
    free(targets);
    tensor_free(x), tensor_free(w), tensor_free(b);
    return buf;
}

/* Index of the first element where a and b differ in their bits, or len. */
static size_t first_difference(const real *a, const real *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (memcmp(&a[i], &b[i], sizeof(real)) != 0)
            return i;
    return len;
}

START_TEST(test_threads_bit_identical)
{
    int before = threads_get();
    size_t len0, len1, len2;
    /* Two threads first as well as last: the first run also starts the second thread, and a
     * thread that starts late would hide an order-dependent reduction behind a serial order. */
    real *two_first = run_dense_ops(2, &len0);
    real *one = run_dense_ops(1, &len1);
    real *two = run_dense_ops(2, &len2);
    threads_set(before);
    ck_assert(len0 == len1 && len1 == len2);
    const real *runs[2] = {two_first, two};
    for (int k = 0; k < 2; k++) {
        size_t i = first_difference(one, runs[k], len1);
        ck_assert_msg(i == len1, "1 vs 2 threads differ at element %zu of %zu: %.9g vs %.9g", i, len1,
                      i < len1 ? (double)one[i] : 0.0, i < len1 ? (double)runs[k][i] : 0.0);
    }
    free(two_first);
    free(one);
    free(two);
}
END_TEST

Suite *suite_ops_float(void)
{
    Suite *s = suite_create("ops_float");
    TCase *tc = tcase_create("dense float");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_linear_float);
    tcase_add_test(tc, test_linear_residual_float);
    tcase_add_test(tc, test_layernorm_float);
    tcase_add_test(tc, test_softmax_xent_float);
    tcase_add_test(tc, test_activations_float);
    tcase_add_test(tc, test_threads_bit_identical);
    suite_add_tcase(s, tc);
    return s;
}
