/* Dense ops in double precision: every op's forward against a naive loop reference written here,
 * and its backward against central differences (every input, weights and biases included); plus
 * the kernels' contract (backward accumulates and skips NULL gradients), the dropout mask's
 * promises and the fatal messages for bad shapes, ids and targets.
 * MEMLAB_GRADCHECK_VERBOSE=1 prints every gradient check's worst error on stderr. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/gradcheck.h"
#include "core/kernels.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "test_util.h"

#define REF_TOL 1e-12
#define LOSS_SEED 17u

/* ---- helpers ---------------------------------------------------------------------------------- */

static void expect_shape(const tensor *t, int ndim, const int *shape, const char *what)
{
    ck_assert_msg(t->ndim == ndim, "%s: %d dimensions, expected %d", what, t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_msg(t->shape[i] == shape[i], "%s: extent %d is %d, expected %d", what, i, t->shape[i],
                      shape[i]);
}


static void free_all(tensor **t, int n)
{
    for (int i = 0; i < n; i++)
        tensor_free(t[i]);
}

/* ---- linear ----------------------------------------------------------------------------------- */

static tensor *f_linear(tape *tp, tensor *const *in, void *ctx)
{
    int bias = *(int *)ctx;
    return gradcheck_weighted_sum(tp, op_linear(tp, in[0], in[1], bias ? in[2] : NULL), LOSS_SEED);
}

START_TEST(test_linear)
{
    rng r = rng_stream(1, RNG_STREAM_USER);
    int xs[3] = {2, 3, 5}, ws[2] = {4, 5}, bs[1] = {4}, x1s[1] = {5};
    tensor *x = rand_tensor(&r, 3, xs, -1, 1), *w = rand_tensor(&r, 2, ws, -1, 1);
    tensor *b = rand_tensor(&r, 1, bs, -1, 1), *x1 = rand_tensor(&r, 1, x1s, -1, 1);
    double *want = dalloc(24), *scale = dalloc(24);
    for (int bias = 0; bias <= 1; bias++) {
        tape tp;
        tape_init(&tp);
        tensor *y = op_linear(&tp, x, w, bias ? b : NULL);
        int ys[3] = {2, 3, 4};
        expect_shape(y, 3, ys, "linear");
        linear_reference(want, scale, x, w, bias ? b : NULL);
        expect_close(y->data, want, scale, y->n, REF_TOL, bias ? "linear+bias" : "linear");
        /* rank 1: a single row */
        tensor *y1 = op_linear(&tp, x1, w, bias ? b : NULL);
        expect_shape(y1, 1, bs, "linear rank 1");
        linear_reference(want, scale, x1, w, bias ? b : NULL);
        expect_close(y1->data, want, scale, y1->n, REF_TOL, "linear rank 1");
        tape_free(&tp);

        tensor *in[3] = {x, w, b};
        expect_gradcheck(f_linear, in, bias ? 3 : 2, &bias, bias ? "linear+bias" : "linear");
        tensor *in1[3] = {x1, w, b};
        expect_gradcheck(f_linear, in1, bias ? 3 : 2, &bias, bias ? "linear rank 1+bias" : "linear rank 1");
    }
    free(want);
    free(scale);
    tensor *all[4] = {x, w, b, x1};
    free_all(all, 4);
}
END_TEST

/* ---- the residual update res + linear(x) ------------------------------------------------------ */

/* ctx: {bias, same}: same feeds res as x too (a square w), so res's gradient is first stored by the
 * product and then added to, where it is otherwise moved. */
static tensor *f_linear_residual(tape *tp, tensor *const *in, void *ctx)
{
    const int *o = ctx;
    tensor *x = o[1] ? in[0] : in[1];
    return gradcheck_weighted_sum(tp, op_linear_residual(tp, in[0], x, in[2], o[0] ? in[3] : NULL), LOSS_SEED);
}

START_TEST(test_linear_residual)
{
    rng r = rng_stream(3, RNG_STREAM_USER);
    int xs[3] = {2, 3, 5}, ws[2] = {4, 5}, bs[1] = {4}, rs[3] = {2, 3, 4}, sq[2] = {4, 4};
    tensor *x = rand_tensor(&r, 3, xs, -1, 1), *w = rand_tensor(&r, 2, ws, -1, 1);
    tensor *b = rand_tensor(&r, 1, bs, -1, 1), *res = rand_tensor(&r, 3, rs, -1, 1), *wsq = rand_tensor(&r, 2, sq, -1, 1);
    double *want = dalloc(24), *scale = dalloc(24);
    for (int bias = 0; bias <= 1; bias++) {
        tape tp;
        tape_init(&tp);
        tensor *y = op_linear_residual(&tp, res, x, w, bias ? b : NULL);
        expect_shape(y, 3, rs, "linear_residual");
        linear_reference(want, scale, x, w, bias ? b : NULL);
        for (size_t i = 0; i < y->n; i++) {
            want[i] += res->data[i];
            scale[i] += fabs(res->data[i]);
        }
        expect_close(y->data, want, scale, y->n, REF_TOL, "linear_residual");
        tape_free(&tp);
        int o[2] = {bias, 0};
        tensor *in[4] = {res, x, w, b};
        expect_gradcheck(f_linear_residual, in, bias ? 4 : 3, o, bias ? "linear_residual+bias" : "linear_residual");
        int o2[2] = {bias, 1};
        tensor *in2[4] = {res, x, wsq, b};   /* in[1] unused: x is res */
        expect_gradcheck(f_linear_residual, in2, bias ? 4 : 3, o2, "linear_residual, res as x too");
    }
    free(want);
    free(scale);
    tensor *all[5] = {x, w, b, res, wsq};
    free_all(all, 5);
}
END_TEST

/* ---- add, scale, mul -------------------------------------------------------------------------- */

static tensor *f_add(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_add(tp, in[0], in[1]), LOSS_SEED);
}

static tensor *f_scale(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_scale(tp, in[0], (real)-1.75), LOSS_SEED);
}

static tensor *f_mul(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_mul(tp, in[0], in[1]), LOSS_SEED);
}

/* x * x: both gradient pointers of mul_backward are the same buffer. */
static tensor *f_square(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_mul(tp, in[0], in[0]), LOSS_SEED);
}

START_TEST(test_add_scale_mul)
{
    rng r = rng_stream(2, RNG_STREAM_USER);
    int s[2] = {3, 7};
    tensor *a = rand_tensor(&r, 2, s, -2, 2), *b = rand_tensor(&r, 2, s, -2, 2);
    tape tp;
    tape_init(&tp);
    tensor *add = op_add(&tp, a, b), *scl = op_scale(&tp, a, (real)-1.75), *mul = op_mul(&tp, a, b);
    expect_shape(add, 2, s, "add");
    expect_shape(scl, 2, s, "scale");
    expect_shape(mul, 2, s, "mul");
    for (size_t i = 0; i < a->n; i++) {
        ck_assert(add->data[i] == a->data[i] + b->data[i]);
        ck_assert(scl->data[i] == (real)-1.75 * a->data[i]);
        ck_assert(mul->data[i] == a->data[i] * b->data[i]);
    }
    tape_free(&tp);
    tensor *in[2] = {a, b};
    expect_gradcheck(f_add, in, 2, NULL, "add");
    expect_gradcheck(f_scale, in, 1, NULL, "scale");
    expect_gradcheck(f_mul, in, 2, NULL, "mul");
    expect_gradcheck(f_square, in, 1, NULL, "mul x*x");
    free_all(in, 2);
}
END_TEST

/* ---- embedding -------------------------------------------------------------------------------- */

typedef struct {
    const int *ids;
    int B, T;
} emb_ctx;

static tensor *f_embedding(tape *tp, tensor *const *in, void *ctx)
{
    emb_ctx *e = ctx;
    return gradcheck_weighted_sum(tp, op_embedding(tp, e->ids, e->B, e->T, in[0]), LOSS_SEED);
}

START_TEST(test_embedding)
{
    rng r = rng_stream(3, RNG_STREAM_USER);
    int ts[2] = {6, 4};
    tensor *table = rand_tensor(&r, 2, ts, -1, 1);
    int ids[6] = {3, 0, 3, 5, 1, 3};   /* 3 repeats: its gradient row sums three rows */
    int ids_copy[6];
    memcpy(ids_copy, ids, sizeof ids);
    tape tp;
    tape_init(&tp);
    tensor *y = op_embedding(&tp, ids_copy, 2, 3, table);
    memset(ids_copy, 0, sizeof ids_copy);   /* the op keeps its own copy for the backward pass */
    int ys[3] = {2, 3, 4};
    expect_shape(y, 3, ys, "embedding");
    for (int n = 0; n < 6; n++)
        for (int c = 0; c < 4; c++)
            ck_assert(y->data[n * 4 + c] == table->data[ids[n] * 4 + c]);
    /* backward with dout = 1: each row of dtable counts its uses */
    tensor *loss = op_sum(&tp, y);
    memset(table->grad, 0, table->n * sizeof(real));
    tape_backward(&tp, loss);
    static const int uses[6] = {1, 1, 0, 3, 0, 1};
    for (int v = 0; v < 6; v++)
        for (int c = 0; c < 4; c++)
            ck_assert(table->grad[v * 4 + c] == (real)uses[v]);
    tape_free(&tp);
    emb_ctx e = {ids, 2, 3};
    expect_gradcheck(f_embedding, &table, 1, &e, "embedding");
    tensor_free(table);
}
END_TEST

/* ---- layernorm -------------------------------------------------------------------------------- */

#define LN_EPS 1e-5

static tensor *f_layernorm(tape *tp, tensor *const *in, void *ctx)
{
    int bias = *(int *)ctx;
    return gradcheck_weighted_sum(tp, op_layernorm(tp, in[0], in[1], bias ? in[2] : NULL, (real)LN_EPS),
                                  LOSS_SEED);
}

START_TEST(test_layernorm)
{
    rng r = rng_stream(4, RNG_STREAM_USER);
    int xs[3] = {3, 4, 7}, ws[1] = {7};
    tensor *x = rand_tensor(&r, 3, xs, 1, 4);   /* an offset mean, as real activations have */
    tensor *w = rand_tensor(&r, 1, ws, -1.5, 1.5), *b = rand_tensor(&r, 1, ws, -1, 1);
    double *want = dalloc(x->n), *scale = dalloc(x->n);
    for (int bias = 0; bias <= 1; bias++) {
        tape tp;
        tape_init(&tp);
        tensor *y = op_layernorm(&tp, x, w, bias ? b : NULL, (real)LN_EPS);
        expect_shape(y, 3, xs, "layernorm");
        for (int n = 0; n < 12; n++) {
            const real *row = x->data + n * 7;
            double m = 0, v = 0;
            for (int c = 0; c < 7; c++)
                m += row[c];
            m /= 7;
            for (int c = 0; c < 7; c++)
                v += (row[c] - m) * (row[c] - m);
            v /= 7;   /* biased, as PyTorch */
            for (int c = 0; c < 7; c++) {
                double t = (row[c] - m) / sqrt(v + LN_EPS) * w->data[c];
                double bb = bias ? b->data[c] : 0;
                want[n * 7 + c] = t + bb;
                scale[n * 7 + c] = fabs(t) + fabs(bb);
            }
        }
        expect_close(y->data, want, scale, y->n, REF_TOL, bias ? "layernorm+bias" : "layernorm");
        tape_free(&tp);
        tensor *in[3] = {x, w, b};
        expect_gradcheck(f_layernorm, in, bias ? 3 : 2, &bias, bias ? "layernorm+bias" : "layernorm");
    }
    free(want);
    free(scale);
    tensor *all[3] = {x, w, b};
    free_all(all, 3);
}
END_TEST

/* ---- activations ------------------------------------------------------------------------------ */

typedef struct {
    tensor *(*op)(tape *, tensor *);
} unary_ctx;

static tensor *f_unary(tape *tp, tensor *const *in, void *ctx)
{
    unary_ctx *u = ctx;
    return gradcheck_weighted_sum(tp, u->op(tp, in[0]), LOSS_SEED);
}

static double gelu_ref(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* The exact GELU from its definition x Phi(x) with 1 + erf: the kernel's erfc form is a rewriting,
 * not the same expression, and agrees to rounding for these |x| <= 3. */
static double gelu_erf_ref(double x) { return 0.5 * x * (1 + erf(x / sqrt(2))); }

static double relu_ref(double x) { return x > 0 ? x : 0; }
static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }

START_TEST(test_activations)
{
    static const struct {
        const char *name;
        tensor *(*op)(tape *, tensor *);
        double (*ref)(double);
    } acts[] = {
        {"gelu", op_gelu, gelu_ref},
        {"gelu_erf", op_gelu_erf, gelu_erf_ref},
        {"relu", op_relu, relu_ref},
        {"tanh", op_tanh, tanh},
        {"sigmoid", op_sigmoid, sigmoid_ref},
    };
    rng r = rng_stream(5, RNG_STREAM_USER);
    int s[2] = {4, 9};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        tensor *x = rand_tensor(&r, 2, s, -3, 3);
        /* ReLU's kink stays out of reach of the differences: |x| >= 0.1 */
        for (size_t i = 0; i < x->n; i++)
            if (fabs(x->data[i]) < 0.1)
                x->data[i] = x->data[i] < 0 ? (real)-0.1 - x->data[i] : (real)0.1 + x->data[i];
        double *want = dalloc(x->n);
        for (size_t i = 0; i < x->n; i++)
            want[i] = acts[k].ref(x->data[i]);
        tape tp;
        tape_init(&tp);
        tensor *y = acts[k].op(&tp, x);
        expect_shape(y, 2, s, acts[k].name);
        expect_close(y->data, want, NULL, y->n, REF_TOL, acts[k].name);
        tape_free(&tp);
        unary_ctx u = {acts[k].op};
        expect_gradcheck(f_unary, &x, 1, &u, acts[k].name);
        free(want);
        tensor_free(x);
    }
    /* sigmoid far out in both tails: no overflow, exact limits */
    int two = 2;
    tensor *big = tensor_alloc(1, &two, 0);
    big->data[0] = -800;
    big->data[1] = 800;
    real out[2];
    sigmoid_forward(out, big->data, 2);
    ck_assert(out[0] == 0 && out[1] == 1);
    tensor_free(big);
}
END_TEST

/* ---- softmax ---------------------------------------------------------------------------------- */

static tensor *f_softmax(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_softmax(tp, in[0]), LOSS_SEED);
}

START_TEST(test_softmax)
{
    rng r = rng_stream(6, RNG_STREAM_USER);
    int s[3] = {3, 2, 6};
    tensor *x = rand_tensor(&r, 3, s, -4, 4);
    double *want = dalloc(x->n);
    for (int n = 0; n < 6; n++) {
        double sum = 0;
        for (int c = 0; c < 6; c++)
            sum += exp(x->data[n * 6 + c]);
        for (int c = 0; c < 6; c++)
            want[n * 6 + c] = exp(x->data[n * 6 + c]) / sum;
    }
    tape tp;
    tape_init(&tp);
    tensor *y = op_softmax(&tp, x);
    expect_shape(y, 3, s, "softmax");
    expect_close(y->data, want, NULL, y->n, REF_TOL, "softmax");
    /* logits near 1000 would overflow exp without the max subtracted */
    int s2[2] = {1, 6};
    tensor *xs = tape_tensor(&tp, 2, s2);
    for (int c = 0; c < 6; c++)
        xs->data[c] = x->data[c] + 1000;
    tensor *ys = op_softmax(&tp, xs);
    expect_close(ys->data, want, NULL, 6, 1e-9, "softmax shifted by 1000");
    tape_free(&tp);
    expect_gradcheck(f_softmax, &x, 1, NULL, "softmax");
    free(want);
    tensor_free(x);
}
END_TEST

/* ---- softmax cross-entropy -------------------------------------------------------------------- */

#define IGNORE (-1)

static tensor *f_xent(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_softmax_xent(tp, in[0], ctx, IGNORE), LOSS_SEED);
}

static double xent_reference(const tensor *logits, const int *targets)
{
    int V = tensor_cols(logits);
    size_t N = tensor_rows(logits);
    double total = 0;
    int count = 0;
    for (size_t n = 0; n < N; n++) {
        if (targets[n] == IGNORE)
            continue;
        double sum = 0;
        for (int v = 0; v < V; v++)
            sum += exp(logits->data[n * V + v]);
        total += log(sum) - logits->data[n * V + targets[n]];
        count++;
    }
    return count ? total / count : 0;
}

START_TEST(test_softmax_xent)
{
    rng r = rng_stream(7, RNG_STREAM_USER);
    int s[3] = {2, 3, 5};
    tensor *logits = rand_tensor(&r, 3, s, -3, 3);
    int targets[6] = {1, IGNORE, 4, 0, IGNORE, 2};
    int targets_copy[6];
    memcpy(targets_copy, targets, sizeof targets);
    tape tp;
    tape_init(&tp);
    tensor *loss = op_softmax_xent(&tp, logits, targets_copy, IGNORE);
    memset(targets_copy, 0, sizeof targets_copy);   /* the op keeps its own copy */
    ck_assert_int_eq(loss->ndim, 1);
    ck_assert_int_eq((int)loss->n, 1);
    double want = xent_reference(logits, targets);
    expect_close(loss->data, &want, NULL, 1, REF_TOL, "softmax_xent");
    /* the backward uses the saved copy of the targets */
    memset(logits->grad, 0, logits->n * sizeof(real));
    tape_backward(&tp, loss);
    for (int n = 0; n < 6; n++) {
        double sum = 0;
        for (int v = 0; v < 5; v++)
            sum += exp(logits->data[n * 5 + v]);
        for (int v = 0; v < 5; v++) {
            double g = targets[n] == IGNORE ? 0 : (exp(logits->data[n * 5 + v]) / sum - (v == targets[n])) / 4;
            expect_close(&logits->grad[n * 5 + v], &g, NULL, 1, REF_TOL, "softmax_xent dlogits");
        }
    }
    tape_free(&tp);
    expect_gradcheck(f_xent, &logits, 1, targets, "softmax_xent");

    /* every row ignored: loss 0 and zero gradients */
    int none[6] = {IGNORE, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE};
    tape_init(&tp);
    memset(logits->grad, 0, logits->n * sizeof(real));
    loss = op_softmax_xent(&tp, logits, none, IGNORE);
    ck_assert(loss->data[0] == 0);
    tape_backward(&tp, loss);
    for (size_t i = 0; i < logits->n; i++)
        ck_assert(logits->grad[i] == 0);
    tape_free(&tp);

    /* log-sum-exp: logits in the thousands give the same finite loss as the shifted ones */
    int big_s[2] = {6, 5};
    tensor *big = tensor_alloc(2, big_s, 0);
    for (size_t i = 0; i < big->n; i++)
        big->data[i] = logits->data[i] * 1000;
    int all[6] = {1, 2, 4, 0, 3, 2};
    tape_init(&tp);
    loss = op_softmax_xent(&tp, big, all, IGNORE);
    double want_big = xent_reference(big, all);   /* exp overflows here: recompute shifted */
    ck_assert(isinf(want_big) || isnan(want_big) || want_big > 0);
    double shifted = 0;
    for (int n = 0; n < 6; n++) {
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < 5; v++)
            mx = fmax(mx, big->data[n * 5 + v]);
        for (int v = 0; v < 5; v++)
            sum += exp(big->data[n * 5 + v] - mx);
        shifted += mx + log(sum) - big->data[n * 5 + all[n]];
    }
    shifted /= 6;
    ck_assert(isfinite(loss->data[0]));
    expect_close(loss->data, &shifted, NULL, 1, REF_TOL, "softmax_xent large logits");
    tape_free(&tp);
    tensor_free(big);
    tensor_free(logits);
}
END_TEST

/* ---- the head and its loss, fused -------------------------------------------------------------- */

typedef struct {
    const int *targets;
    real scale;
} head_ctx;

static tensor *f_linear_xent(tape *tp, tensor *const *in, void *ctx)
{
    const head_ctx *c = ctx;
    return gradcheck_weighted_sum(tp, op_linear_xent(tp, in[0], in[1], c->scale, c->targets, IGNORE), LOSS_SEED);
}

/* The unfused ops' loss and gradients: op_softmax_xent(scale op_linear(x, w)). */
static double unfused_head(tensor *x, tensor *w, real scale, const int *targets, real *gx, real *gw)
{
    memset(x->grad, 0, x->n * sizeof(real));
    memset(w->grad, 0, w->n * sizeof(real));
    tape tp;
    tape_init(&tp);
    tensor *z = op_linear(&tp, x, w, NULL);
    if (scale != 1)
        z = op_scale(&tp, z, scale);
    tensor *loss = op_softmax_xent(&tp, z, targets, IGNORE);
    double l = loss->data[0];
    tape_backward(&tp, loss);
    tape_free(&tp);
    memcpy(gx, x->grad, x->n * sizeof(real));
    memcpy(gw, w->grad, w->n * sizeof(real));
    return l;
}

START_TEST(test_linear_xent)
{
    enum { N = 7, C = 4, V = 6 };
    rng r = rng_stream(11, RNG_STREAM_USER);
    tensor *x = rand_tensor(&r, 2, (int[]){N, C}, -2, 2), *w = rand_tensor(&r, 2, (int[]){V, C}, -2, 2);
    const int targets[N] = {1, IGNORE, 5, 0, 3, IGNORE, 2};
    real gx[N * C], gw[V * C], dx[N * C], dw[V * C], dx1[N * C], dw1[V * C], work[2 * N * V];
    const real scales[2] = {1, (real)0.4};
    for (int k = 0; k < 2; k++) {
        /* the same loss and gradients as the ops it fuses, and central differences */
        const double want = unfused_head(x, w, scales[k], targets, gx, gw);
        memset(x->grad, 0, sizeof gx);
        memset(w->grad, 0, sizeof gw);
        tape tp;
        tape_init(&tp);
        tensor *loss = op_linear_xent(&tp, x, w, scales[k], targets, IGNORE);
        ck_assert_int_eq((int)loss->n, 1);
        expect_close(loss->data, &want, NULL, 1, REF_TOL, "linear_xent loss");
        tape_backward(&tp, loss);
        tape_free(&tp);
        expect_close(x->grad, gx, NULL, x->n, REF_TOL, "linear_xent dx");
        expect_close(w->grad, gw, NULL, w->n, REF_TOL, "linear_xent dw");
        head_ctx hc = {targets, scales[k]};
        expect_gradcheck(f_linear_xent, (tensor *[]){x, w}, 2, &hc, "linear_xent");
    }
    /* chunks of 1, 2 and 3 rows give what one chunk of all rows gives */
    int count = 0;
    const double whole = linear_xent_forward(dx, dw, x->data, w->data, (real)0.4, targets, N, C, V, IGNORE, &count,
                                             N, work);
    ck_assert_int_eq(count, 5);
    for (int R = 1; R <= 3; R++) {
        const double l = linear_xent_forward(dx1, dw1, x->data, w->data, (real)0.4, targets, N, C, V, IGNORE,
                                             &count, R, work);
        expect_close(&l, &whole, NULL, 1, REF_TOL, "linear_xent chunked loss");
        expect_close(dx1, dx, NULL, N * C, REF_TOL, "linear_xent chunked dx");
        expect_close(dw1, dw, NULL, V * C, REF_TOL, "linear_xent chunked dw");
    }
    /* the loss alone (no gradient buffers) */
    const double alone = linear_xent_forward(NULL, NULL, x->data, w->data, (real)0.4, targets, N, C, V, IGNORE,
                                             NULL, 3, work);
    expect_close(&alone, &whole, NULL, 1, REF_TOL, "linear_xent loss alone");
    /* every row ignored: loss 0 and gradients exactly 0 */
    const int none[N] = {IGNORE, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE};
    ck_assert(linear_xent_forward(dx, dw, x->data, w->data, 1, none, N, C, V, IGNORE, &count, 2, work) == 0);
    ck_assert_int_eq(count, 0);
    for (int i = 0; i < N * C; i++)
        ck_assert(dx[i] == 0);
    for (int i = 0; i < V * C; i++)
        ck_assert(dw[i] == 0);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

/* ---- mse -------------------------------------------------------------------------------------- */

typedef struct {
    tensor *target;
    real clip;
} mse_ctx;

static tensor *f_mse(tape *tp, tensor *const *in, void *ctx)
{
    mse_ctx *m = ctx;
    return gradcheck_weighted_sum(tp, op_mse(tp, in[0], m->target, m->clip), LOSS_SEED);
}

START_TEST(test_mse)
{
    rng r = rng_stream(8, RNG_STREAM_USER);
    int s[2] = {4, 5};
    tensor *pred = rand_tensor(&r, 2, s, -1, 1), *target = rand_tensor(&r, 2, s, 0, 1);
    const real clip = (real)0.5;
    /* errors in [-1, 1], none within 1e-3 of the clip, so the differences never straddle it */
    for (size_t i = 0; i < pred->n; i++) {
        double e;
        do
            e = 2 * rng_uniform(&r) - 1;
        while (fabs(fabs(e) - clip) < 1e-3);
        target->data[i] = pred->data[i] - (real)e;
    }
    for (int clipped = 0; clipped <= 1; clipped++) {
        real c = clipped ? clip : 0;
        double want = 0;
        int n_clipped = 0;
        for (size_t i = 0; i < pred->n; i++) {
            double e = pred->data[i] - target->data[i];
            if (clipped && fabs(e) >= c) {
                want += (double)c * c;
                n_clipped++;
            } else {
                want += e * e;
            }
        }
        want /= (double)pred->n;
        if (clipped)
            ck_assert(n_clipped > 2 && n_clipped < (int)pred->n - 2);
        tape tp;
        tape_init(&tp);
        memset(pred->grad, 0, pred->n * sizeof(real));
        memset(target->grad, 0, target->n * sizeof(real));
        tensor *loss = op_mse(&tp, pred, target, c);
        expect_close(loss->data, &want, NULL, 1, REF_TOL, clipped ? "mse clipped" : "mse");
        tape_backward(&tp, loss);
        for (size_t i = 0; i < pred->n; i++) {
            double e = pred->data[i] - target->data[i];
            double g = clipped && fabs(e) >= c ? 0 : 2 * e / (double)pred->n;
            expect_close(&pred->grad[i], &g, NULL, 1, REF_TOL, "mse dpred");
            if (g == 0)
                ck_assert(pred->grad[i] == 0);
            ck_assert(target->grad[i] == 0);   /* the target receives no gradient */
        }
        tape_free(&tp);
        mse_ctx m = {target, c};
        expect_gradcheck(f_mse, &pred, 1, &m, clipped ? "mse clipped" : "mse");
    }
    tensor_free(pred);
    tensor_free(target);
}
END_TEST

/* ---- rownorm ---------------------------------------------------------------------------------- */

static tensor *f_rownorm(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_rownorm(tp, in[0], *(int *)ctx), LOSS_SEED);
}

START_TEST(test_rownorm)
{
    rng r = rng_stream(9, RNG_STREAM_USER);
    int s[3] = {2, 3, 8};
    tensor *x = rand_tensor(&r, 3, s, -1, 1);
    double *want = dalloc(x->n);
    static const int groups[2] = {4, 8};   /* per head of 4, and the whole row */
    for (int k = 0; k < 2; k++) {
        int g = groups[k];
        for (size_t o = 0; o < x->n; o += (size_t)g) {
            double ss = 0;
            for (int i = 0; i < g; i++)
                ss += (double)x->data[o + i] * x->data[o + i];
            for (int i = 0; i < g; i++)
                want[o + i] = x->data[o + i] / fmax(sqrt(ss), 1e-12);
        }
        tape tp;
        tape_init(&tp);
        tensor *y = op_rownorm(&tp, x, g);
        expect_shape(y, 3, s, "rownorm");
        expect_close(y->data, want, NULL, y->n, REF_TOL, "rownorm");
        tape_free(&tp);
        int gg = g;
        expect_gradcheck(f_rownorm, &x, 1, &gg, g == 4 ? "rownorm group 4" : "rownorm group 8");
    }
    free(want);
    tensor_free(x);

    /* below eps the denominator is eps itself: a zero row stays zero and passes dout / eps */
    real zero[4] = {0, 0, 0, 0}, out[4], norm[1], dout[4] = {1e-12, -2e-12, 3e-12, 0.5e-12};
    real dinp[4] = {1, 1, 1, 1};
    rownorm_forward(out, norm, zero, 1, 4, (real)1e-12);
    for (int i = 0; i < 4; i++)
        ck_assert(out[i] == 0);
    ck_assert(norm[0] == 0);
    rownorm_backward(dinp, dout, out, norm, 1, 4, (real)1e-12, 0);
    for (int i = 0; i < 4; i++) {
        double g = 1 + dout[i] / 1e-12;
        expect_close(&dinp[i], &g, NULL, 1, REF_TOL, "rownorm below eps");
    }
}
END_TEST

/* ---- exp_scale -------------------------------------------------------------------------------- */

#define CAP 5.0

static tensor *f_exp_scale(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_exp_scale(tp, in[0], in[1], (real)CAP), LOSS_SEED);
}

START_TEST(test_exp_scale)
{
    rng r = rng_stream(10, RNG_STREAM_USER);
    int xs[3] = {2, 3, 12}, ps[1] = {3};
    tensor *x = rand_tensor(&r, 3, xs, -1, 1), *p = tensor_alloc(1, ps, 1);
    p->data[0] = (real)0.3;
    p->data[1] = (real)5.7;   /* above the cap: constant scale, no gradient */
    p->data[2] = (real)-0.5;
    double *want = dalloc(x->n);
    for (size_t i = 0; i < x->n; i++) {
        int g = (int)(i % 12) / 4;
        want[i] = exp(fmin(p->data[g], CAP)) * x->data[i];
    }
    tape tp;
    tape_init(&tp);
    tensor *y = op_exp_scale(&tp, x, p, (real)CAP);
    expect_shape(y, 3, xs, "exp_scale");
    expect_close(y->data, want, NULL, y->n, REF_TOL, "exp_scale");
    memset(p->grad, 0, p->n * sizeof(real));
    tape_backward(&tp, op_sum(&tp, y));
    ck_assert(p->grad[1] == 0);
    ck_assert(p->grad[0] != 0 && p->grad[2] != 0);
    tape_free(&tp);
    tensor *in[2] = {x, p};
    expect_gradcheck(f_exp_scale, in, 2, NULL, "exp_scale");
    free(want);
    free_all(in, 2);
}
END_TEST

/* ---- rownorm_scale: rownorm and exp_scale in one op -------------------------------------------- */

static tensor *f_rownorm_scale(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_rownorm_scale(tp, in[0], in[1], (real)CAP), LOSS_SEED);
}

static tensor *f_rownorm_then_scale(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_exp_scale(tp, op_rownorm(tp, in[0], 4), in[1], (real)CAP), LOSS_SEED);
}

/* The fused op against the two ops it replaces, values and every gradient (a zero row, below eps,
 * and a scale above the cap among them), and its own gradient check. */
START_TEST(test_rownorm_scale)
{
    rng r = rng_stream(18, RNG_STREAM_USER);
    int xs[3] = {2, 3, 12}, ps[1] = {3};
    tensor *x = rand_tensor(&r, 3, xs, -1, 1), *p = tensor_alloc(1, ps, 1);
    p->data[0] = (real)0.3;
    p->data[1] = (real)5.7;   /* above the cap */
    p->data[2] = (real)-0.5;
    memset(x->data + 16, 0, 4 * sizeof(real));   /* row 1, group 1: norm 0 */
    tensor *in[2] = {x, p};
    real *got[2], *want[2];
    for (int fused = 0; fused < 2; fused++) {
        tape tp;
        tape_init(&tp);
        memset(x->grad, 0, x->n * sizeof(real));
        memset(p->grad, 0, p->n * sizeof(real));
        tensor *y = (fused ? f_rownorm_scale : f_rownorm_then_scale)(&tp, in, NULL);
        tape_backward(&tp, y);
        real **keep = fused ? got : want;
        keep[0] = xmalloc((x->n + p->n) * sizeof(real));
        memcpy(keep[0], x->grad, x->n * sizeof(real));
        memcpy(keep[0] + x->n, p->grad, p->n * sizeof(real));
        keep[1] = xmalloc(sizeof(real));
        keep[1][0] = y->data[0];
        tape_free(&tp);
    }
    ck_assert(got[0][x->n + 1] == 0);   /* no gradient above the cap */
    for (size_t i = 0; i < x->n + p->n; i++) {
        double w = want[0][i], sc = fabs(want[0][i]) + 1;
        expect_close(&got[0][i], &w, &sc, 1, REF_TOL, "rownorm_scale gradients against rownorm then exp_scale");
    }
    double w = want[1][0], sc = fabs(want[1][0]) + 1;
    expect_close(&got[1][0], &w, &sc, 1, REF_TOL, "rownorm_scale loss against rownorm then exp_scale");
    for (int i = 0; i < 2; i++)
        free(got[i]), free(want[i]);
    memset(x->data + 16, 0, 4 * sizeof(real));
    x->data[16] = (real)0.7;   /* the gradient check steps across eps otherwise */
    expect_gradcheck(f_rownorm_scale, in, 2, NULL, "rownorm_scale");
    free_all(in, 2);
}
END_TEST

/* ---- concat and slice ------------------------------------------------------------------------- */

typedef struct {
    int axis, start, len;
} axis_ctx;

static tensor *f_concat(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_concat(tp, in[0], in[1], ((axis_ctx *)ctx)->axis), LOSS_SEED);
}

static tensor *f_concat_self(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_concat(tp, in[0], in[0], ((axis_ctx *)ctx)->axis), LOSS_SEED);
}

static tensor *f_slice(tape *tp, tensor *const *in, void *ctx)
{
    axis_ctx *a = ctx;
    return gradcheck_weighted_sum(tp, op_slice(tp, in[0], a->axis, a->start, a->len), LOSS_SEED);
}

/* Element (i0, i1, i2) of a [d0, d1, d2] tensor. */
static real at3(const tensor *t, int i0, int i1, int i2)
{
    return t->data[((size_t)i0 * t->shape[1] + i1) * t->shape[2] + i2];
}

START_TEST(test_concat)
{
    rng r = rng_stream(11, RNG_STREAM_USER);
    static const struct {
        const char *name;
        int axis;
        int sa[3], sb[3];
    } cases[] = {
        {"concat features", -1, {2, 3, 4}, {2, 3, 2}},
        {"concat time", 1, {2, 3, 4}, {2, 5, 4}},
        {"concat batch", 0, {2, 3, 4}, {1, 3, 4}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tensor *a = rand_tensor(&r, 3, cases[k].sa, -1, 1), *b = rand_tensor(&r, 3, cases[k].sb, -1, 1);
        int ax = cases[k].axis < 0 ? cases[k].axis + 3 : cases[k].axis;
        int so[3] = {cases[k].sa[0], cases[k].sa[1], cases[k].sa[2]};
        so[ax] += cases[k].sb[ax];
        tape tp;
        tape_init(&tp);
        tensor *y = op_concat(&tp, a, b, cases[k].axis);
        expect_shape(y, 3, so, cases[k].name);
        for (int i = 0; i < so[0]; i++)
            for (int j = 0; j < so[1]; j++)
                for (int c = 0; c < so[2]; c++) {
                    int idx[3] = {i, j, c};
                    real want = idx[ax] < cases[k].sa[ax]
                                    ? at3(a, i, j, c)
                                    : at3(b, ax == 0 ? i - cases[k].sa[0] : i, ax == 1 ? j - cases[k].sa[1] : j,
                                          ax == 2 ? c - cases[k].sa[2] : c);
                    ck_assert(at3(y, i, j, c) == want);
                }
        tape_free(&tp);
        axis_ctx ctx = {cases[k].axis, 0, 0};
        tensor *in[2] = {a, b};
        expect_gradcheck(f_concat, in, 2, &ctx, cases[k].name);
        if (k == 0)
            expect_gradcheck(f_concat_self, in, 1, &ctx, "concat x with x");
        free_all(in, 2);
    }
}
END_TEST

START_TEST(test_slice)
{
    rng r = rng_stream(12, RNG_STREAM_USER);
    int s[3] = {2, 5, 6};
    tensor *x = rand_tensor(&r, 3, s, -1, 1);
    static const struct {
        const char *name;
        axis_ctx a;
    } cases[] = {
        {"slice features", {-1, 1, 3}},
        {"slice time", {1, 2, 3}},
        {"slice time (negative axis)", {-2, 0, 1}},
        {"slice batch", {0, 1, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        axis_ctx a = cases[k].a;
        int ax = a.axis < 0 ? a.axis + 3 : a.axis;
        int so[3] = {2, 5, 6};
        so[ax] = a.len;
        tape tp;
        tape_init(&tp);
        tensor *y = op_slice(&tp, x, a.axis, a.start, a.len);
        expect_shape(y, 3, so, cases[k].name);
        for (int i = 0; i < so[0]; i++)
            for (int j = 0; j < so[1]; j++)
                for (int c = 0; c < so[2]; c++)
                    ck_assert(at3(y, i, j, c) == at3(x, i + (ax == 0) * a.start, j + (ax == 1) * a.start,
                                                     c + (ax == 2) * a.start));
        tape_free(&tp);
        expect_gradcheck(f_slice, &x, 1, &a, cases[k].name);
    }
    tensor_free(x);
}
END_TEST

/* ---- reshape, sum, mean ----------------------------------------------------------------------- */

static tensor *f_reshape(tape *tp, tensor *const *in, void *ctx)
{
    int s[2] = {3, 4};
    tensor *y = op_reshape(tp, in[0], 2, s);
    return gradcheck_weighted_sum(tp, op_mul(tp, y, y), LOSS_SEED);
}

static tensor *f_sum(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_sum(tp, op_mul(tp, in[0], in[0])), LOSS_SEED);
}

static tensor *f_mean(tape *tp, tensor *const *in, void *ctx)
{
    return gradcheck_weighted_sum(tp, op_mean(tp, op_mul(tp, in[0], in[0])), LOSS_SEED);
}

START_TEST(test_reshape_sum_mean)
{
    rng r = rng_stream(13, RNG_STREAM_USER);
    int s[2] = {2, 6}, s2[2] = {3, 4};
    tensor *x = rand_tensor(&r, 2, s, -1, 1);
    tape tp;
    tape_init(&tp);
    tensor *y = op_reshape(&tp, x, 2, s2);
    expect_shape(y, 2, s2, "reshape");
    ck_assert_ptr_eq(y->data, x->data);   /* a view, not a copy */
    tensor *sum = op_sum(&tp, x), *mean = op_mean(&tp, x);
    double want = 0;
    for (size_t i = 0; i < x->n; i++)
        want += x->data[i];
    ck_assert_int_eq((int)sum->n, 1);
    ck_assert_int_eq((int)mean->n, 1);
    double scale = 0;
    for (size_t i = 0; i < x->n; i++)
        scale += fabs(x->data[i]);
    expect_close(sum->data, &want, &scale, 1, REF_TOL, "sum");
    want /= (double)x->n;
    scale /= (double)x->n;
    expect_close(mean->data, &want, &scale, 1, REF_TOL, "mean");
    tape_free(&tp);
    expect_gradcheck(f_reshape, &x, 1, NULL, "reshape");
    expect_gradcheck(f_sum, &x, 1, NULL, "sum");
    expect_gradcheck(f_mean, &x, 1, NULL, "mean");
    tensor_free(x);
}
END_TEST

/* ---- dropout ---------------------------------------------------------------------------------- */

#define DROP_P 0.3
#define DROP_SEED 42

static tensor *f_dropout(tape *tp, tensor *const *in, void *ctx)
{
    rng r = rng_stream(DROP_SEED, RNG_STREAM_DROPOUT);   /* the same mask on every call */
    return gradcheck_weighted_sum(tp, op_dropout(tp, in[0], (real)DROP_P, &r), LOSS_SEED);
}

START_TEST(test_dropout)
{
    rng r = rng_stream(14, RNG_STREAM_USER);
    int n = 100000;
    tensor *x = rand_tensor(&r, 1, &n, 0.5, 1.5);
    tensor *w = rand_tensor(&r, 1, &n, 0.5, 1.5);
    tape tp;
    tape_init(&tp);
    rng d1 = rng_stream(DROP_SEED, RNG_STREAM_DROPOUT), d2 = d1;
    tensor *y1 = op_dropout(&tp, x, (real)DROP_P, &d1);
    tensor *y2 = op_dropout(&tp, x, (real)DROP_P, &d2);
    ck_assert_ptr_ne(y1, x);
    ck_assert(memcmp(y1->data, y2->data, x->n * sizeof(real)) == 0);   /* same seed, same mask */
    size_t zeros = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (y1->data[i] == 0) {
            zeros++;
        } else {
            double want = x->data[i] / (1 - DROP_P);
            expect_close(&y1->data[i], &want, NULL, 1, REF_TOL, "dropout kept value");
        }
    }
    double frac = (double)zeros / (double)x->n;   /* binomial sd 0.0015 */
    ck_assert_msg(fabs(frac - DROP_P) < 0.01, "dropout zeroed %.4f, expected %.2f", frac, DROP_P);
    /* gradient = mask * dout, with dout = w */
    memset(x->grad, 0, x->n * sizeof(real));
    tensor *loss = op_sum(&tp, op_mul(&tp, y1, w));
    tape_backward(&tp, loss);
    for (size_t i = 0; i < x->n; i++) {
        double want = y1->data[i] == 0 ? 0 : w->data[i] / (1 - DROP_P);
        expect_close(&x->grad[i], &want, NULL, 1, REF_TOL, "dropout dx");
    }
    /* evaluation and p = 0: x itself */
    ck_assert_ptr_eq(op_dropout(&tp, x, 0, &d1), x);
    tp.training = 0;
    ck_assert_ptr_eq(op_dropout(&tp, x, (real)DROP_P, &d1), x);
    tape_free(&tp);

    int small = 40;
    tensor *xs = rand_tensor(&r, 1, &small, -1, 1);
    expect_gradcheck(f_dropout, &xs, 1, NULL, "dropout");
    tensor_free(xs);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

/* ---- kernel contract: backward accumulates, NULL gradients are skipped ------------------------ */

#define POOL 4096
#define PREFILL 0.25

/* Runs CALL (a backward kernel writing into P) into a zeroed pool and into a pool prefilled with
 * PREFILL; the second must be the first plus PREFILL everywhere. */
#define EXPECT_ACCUMULATES(what, CALL)                                                            \
    do {                                                                                       \
        real *P = g0;                                                                          \
        memset(g0, 0, POOL * sizeof(real));                                                    \
        CALL;                                                                                  \
        P = g1;                                                                                \
        for (size_t i_ = 0; i_ < POOL; i_++)                                                   \
            g1[i_] = (real)PREFILL;                                                            \
        CALL;                                                                                  \
        for (size_t i_ = 0; i_ < POOL; i_++) {                                                 \
            double w_ = g0[i_] + PREFILL;                                                      \
            double s_ = fabs(g0[i_]) + PREFILL;                                                \
            expect_close(&g1[i_], &w_, &s_, 1, REF_TOL, what);                                 \
        }                                                                                      \
    } while (0)

/* ---- gradients written once (core/tape_grad.c) ------------------------------------------------ */

/* A graph that gives the tape every case of a gradient's first write: an input read by two
 * linears (the later one stores, the earlier adds), a weight produced by an op (its gradient is the
 * tape's, and the linear adds into it: not its input 0), a tensor used twice by one add, tensors
 * read by a non-assigning op (mul: zeroed first), gelu / rownorm / exp_scale storing, exp_scale's
 * produced scale (adds), and a node outside the loss (its output's gradient is never written, the
 * scale of it stores zeros into x's gradient first). The double build hands out NaN-filled
 * buffers, so a wrong store or a missed zeroing shows as a NaN or a wrong gradient. */
static tensor *f_written_once(tape *tp, tensor *const *in, void *ctx)
{
    tensor *x = in[0], *p = in[1], *s = in[2];
    tensor *w = op_scale(tp, p, (real)0.5);
    tensor *h1 = op_linear(tp, x, w, NULL), *h2 = op_linear(tp, x, w, NULL);
    tensor *a = op_add(tp, h1, h1);
    tensor *g = op_gelu_erf(tp, op_mul(tp, a, h2));
    tensor *e = op_exp_scale(tp, op_rownorm(tp, g, 3), op_scale(tp, s, 1), (real)5);
    op_scale(tp, x, 3);   /* outside the loss */
    return gradcheck_weighted_sum(tp, e, LOSS_SEED);
}

START_TEST(test_gradients_written_once)
{
    rng r = rng_stream(16, RNG_STREAM_USER);
    int xs[2] = {4, 6}, ws[2] = {6, 6}, ss[1] = {2};
    tensor *in[3] = {rand_tensor(&r, 2, xs, -1, 1), rand_tensor(&r, 2, ws, -1, 1), rand_tensor(&r, 1, ss, -0.5, 0.5)};
    expect_gradcheck(f_written_once, in, 3, NULL, "gradients written once");
    free_all(in, 3);
}
END_TEST

/* Gradients moved instead of copied (grad_move): a residual add whose stream input a node recorded
 * earlier reads too (the move, then that node adds), an add whose first input's gradient already
 * holds values (the move goes to its second), adds and a reshape of leaves (their gradients are the
 * caller's: never moved), and a reshape of a produced tensor. */
static tensor *f_moved(tape *tp, tensor *const *in, void *ctx)
{
    tensor *x = in[0], *w = in[1];
    tensor *h = op_scale(tp, x, 2);
    tensor *r = op_add(tp, h, op_gelu_erf(tp, op_linear(tp, h, w, NULL)));
    tensor *u = op_scale(tp, x, 3), *v = op_scale(tp, x, -1);
    tensor *t = op_add(tp, u, v);
    tensor *z = op_mul(tp, u, t);   /* first in the backward pass: u's gradient holds values at t */
    tensor *l = op_add(tp, x, x);
    tensor *y = op_add(tp, op_reshape(tp, op_add(tp, r, z), 1, (int[]){24}), op_reshape(tp, l, 1, (int[]){24}));
    return gradcheck_weighted_sum(tp, op_add(tp, y, op_reshape(tp, x, 1, (int[]){24})), LOSS_SEED);
}

START_TEST(test_gradients_moved)
{
    rng r = rng_stream(17, RNG_STREAM_USER);
    int xs[2] = {4, 6}, ws[2] = {6, 6};
    tensor *in[2] = {rand_tensor(&r, 2, xs, -1, 1), rand_tensor(&r, 2, ws, -1, 1)};
    expect_gradcheck(f_moved, in, 2, NULL, "gradients moved");
    free_all(in, 2);
}
END_TEST

/* got against want element by element (a gradient stored against the same one added to zeros),
 * each within REF_TOL of |want| + 1. */
static void expect_stored(const real *got, const real *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double w = want[i], s = fabs(want[i]) + 1;
        expect_close(&got[i], &w, &s, 1, REF_TOL, what);
    }
}

START_TEST(test_backward_accumulates)
{
    rng r = rng_stream(15, RNG_STREAM_USER);
    /* one pool of values in [0.5, 1.5] serves as every read-only input: positive rstd, norms and
     * probabilities, and no ReLU kinks */
    real *d = malloc(POOL * sizeof(real)), *g0 = malloc(POOL * sizeof(real)), *g1 = malloc(POOL * sizeof(real));
    ck_assert(d && g0 && g1);
    for (size_t i = 0; i < POOL; i++)
        d[i] = (real)(0.5 + rng_uniform(&r));
    int ids[6] = {2, 0, 2, 1, 3, 2}, targets[6] = {1, IGNORE, 4, 0, 2, 2};
    enum { N = 6, C = 5, OC = 4, G = 2, D = 3 };

    EXPECT_ACCUMULATES("matmul", matmul_backward(P, P + 100, P + 200, d, d + 50, d + 100, N, C, OC, 0));
    /* store_dinp: dinp's old contents are never read (its NaNs reach nothing); dweight, dbias add */
    memset(g0, 0, POOL * sizeof(real));
    matmul_backward(g0, g0 + 100, g0 + 200, d, d + 50, d + 100, N, C, OC, 0);
    memset(g1, 0, POOL * sizeof(real));
    for (int i = 0; i < N * C; i++)
        g1[i] = (real)NAN;
    matmul_backward(g1, g1 + 100, g1 + 200, d, d + 50, d + 100, N, C, OC, 1);
    expect_stored(g1, g0, 300, "matmul store_dinp");
    memset(g0, 0, POOL * sizeof(real));
    gelu_erf_backward(g0, d, d + 50, 30, 0);
    for (int i = 0; i < 30; i++)
        g1[i] = (real)NAN;
    gelu_erf_backward(g1, d, d + 50, 30, 1);
    expect_stored(g1, g0, 30, "gelu_erf store");
    /* the same for rownorm's and exp_scale's dinp (exp_scale's dp still adds) */
    memset(g0, 0, POOL * sizeof(real));
    rownorm_backward(g0, d, d + 50, d + 100, N, C, (real)1e-12, 0);
    exp_scale_backward(g0 + 100, g0 + 200, d, d + 50, d + 100, N, G, D, (real)5, 0);
    memset(g1, 0, POOL * sizeof(real));
    for (int i = 0; i < N * C; i++)
        g1[i] = g1[100 + i] = (real)NAN;
    rownorm_backward(g1, d, d + 50, d + 100, N, C, (real)1e-12, 1);
    exp_scale_backward(g1 + 100, g1 + 200, d, d + 50, d + 100, N, G, D, (real)5, 1);
    expect_stored(g1, g0, 300, "rownorm, exp_scale store");
    real rowdot[N * G];
    memset(g0, 0, POOL * sizeof(real));
    rownorm_scale_backward(g0, g0 + 100, rowdot, d, d + 50, d + 100, d + 150, N, G, D, (real)1e-12, (real)5, 0);
    memset(g1, 0, POOL * sizeof(real));
    for (int i = 0; i < N * G * D; i++)
        g1[i] = (real)NAN;
    rownorm_scale_backward(g1, g1 + 100, rowdot, d, d + 50, d + 100, d + 150, N, G, D, (real)1e-12, (real)5, 1);
    expect_stored(g1, g0, 200, "rownorm_scale store");
    EXPECT_ACCUMULATES("mul", mul_backward(P, P + 100, d, d + 50, d + 100, 30));
    EXPECT_ACCUMULATES("accumulate", accumulate(P, d, (real)-0.5, 30));
    EXPECT_ACCUMULATES("embedding", embedding_backward(P, d, ids, N, C));
    EXPECT_ACCUMULATES("layernorm", layernorm_backward(P, P + 100, P + 200, d, d + 50, d + 100, d + 200,
                                                       d + 300, N, C));
    EXPECT_ACCUMULATES("gelu", gelu_backward(P, d, d + 50, 30));
    EXPECT_ACCUMULATES("gelu_erf", gelu_erf_backward(P, d, d + 50, 30, 0));
    EXPECT_ACCUMULATES("relu", relu_backward(P, d, d + 50, 30));
    EXPECT_ACCUMULATES("tanh", tanh_backward(P, d, d + 50, 30));
    EXPECT_ACCUMULATES("sigmoid", sigmoid_backward(P, d, d + 50, 30));
    EXPECT_ACCUMULATES("softmax", softmax_backward(P, d, d + 50, N, C));
    EXPECT_ACCUMULATES("softmax_xent", softmax_xent_backward(P, d, targets, N, C, IGNORE, 5, (real)1.5));
    EXPECT_ACCUMULATES("mse", mse_backward(P, d, d + 50, 30, 0, (real)1.5));
    EXPECT_ACCUMULATES("mse clipped", mse_backward(P, d, d + 50, 30, (real)0.4, (real)1.5));
    EXPECT_ACCUMULATES("rownorm", rownorm_backward(P, d, d + 50, d + 100, N, C, (real)1e-12, 0));
    EXPECT_ACCUMULATES("exp_scale", exp_scale_backward(P, P + 100, d, d + 50, d + 100, N, G, D, (real)5, 0));
    EXPECT_ACCUMULATES("rownorm_scale", rownorm_scale_backward(P, P + 100, rowdot, d, d + 50, d + 100, d + 150, N,
                                                               G, D, (real)1e-12, (real)5, 0));
    EXPECT_ACCUMULATES("concat", concat_backward(P, P + 100, d, 4, 3, 5));
    EXPECT_ACCUMULATES("slice", slice_backward(P, d, 4, 7, 2, 3));

    /* every gradient pointer NULL: nothing is touched (ASan would see a stray write) */
    matmul_backward(NULL, NULL, NULL, d, d, d, N, C, OC, 0);
    mul_backward(NULL, NULL, d, d, d, 30);
    accumulate(NULL, d, 1, 30);
    embedding_backward(NULL, d, ids, N, C);
    layernorm_backward(NULL, NULL, NULL, d, d, d, d, d, N, C);
    gelu_backward(NULL, d, d, 30);
    gelu_erf_backward(NULL, d, d, 30, 0);
    relu_backward(NULL, d, d, 30);
    tanh_backward(NULL, d, d, 30);
    sigmoid_backward(NULL, d, d, 30);
    softmax_backward(NULL, d, d, N, C);
    softmax_xent_backward(NULL, d, targets, N, C, IGNORE, 5, 1);
    mse_backward(NULL, d, d, 30, 0, 1);
    rownorm_backward(NULL, d, d, d, N, C, (real)1e-12, 0);
    exp_scale_backward(NULL, NULL, d, d, d, N, G, D, 5, 0);
    rownorm_scale_backward(NULL, NULL, NULL, d, d, d, d, N, G, D, (real)1e-12, 5, 0);
    concat_backward(NULL, NULL, d, 4, 3, 5);
    slice_backward(NULL, d, 4, 7, 2, 3);
    free(d);
    free(g0);
    free(g1);
}
END_TEST

/* ---- fatal messages --------------------------------------------------------------------------- */

/* Runs fn in a child process and expects exit status 1 with `expect` in what it wrote on stderr. */
static void expect_fatal(void (*fn)(void), const char *expect)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = 0;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "expected exit 1 for \"%s\"", expect);
    ck_assert_msg(strstr(buf, expect), "stderr \"%s\" lacks \"%s\"", buf, expect);
}

static void add_mismatch(void)
{
    int s1[2] = {2, 3}, s2[2] = {3, 2};
    tensor *a = tensor_alloc(2, s1, 0), *b = tensor_alloc(2, s2, 0);
    tape tp;
    tape_init(&tp);
    op_add(&tp, a, b);
}

static void linear_mismatch(void)
{
    int sx[2] = {2, 3}, sw[2] = {4, 5};
    tensor *x = tensor_alloc(2, sx, 0), *w = tensor_alloc(2, sw, 0);
    tape tp;
    tape_init(&tp);
    op_linear(&tp, x, w, NULL);
}

static void embedding_bad_id(void)
{
    int s[2] = {4, 3};
    tensor *table = tensor_alloc(2, s, 1);
    int ids[2] = {1, 4};
    tape tp;
    tape_init(&tp);
    op_embedding(&tp, ids, 1, 2, table);
}

static void xent_bad_target(void)
{
    int s[2] = {2, 3};
    tensor *logits = tensor_alloc(2, s, 1);
    int targets[2] = {IGNORE, 3};
    tape tp;
    tape_init(&tp);
    op_softmax_xent(&tp, logits, targets, IGNORE);
}

static void head_bad_target(void)
{
    tensor *x = tensor_alloc(2, (int[]){2, 3}, 1), *w = tensor_alloc(2, (int[]){4, 3}, 1);
    int targets[2] = {IGNORE, 4};
    tape tp;
    tape_init(&tp);
    op_linear_xent(&tp, x, w, 1, targets, IGNORE);
}

static void head_mismatch(void)
{
    tensor *x = tensor_alloc(2, (int[]){2, 3}, 1), *w = tensor_alloc(2, (int[]){4, 5}, 1);
    int targets[2] = {0, 1};
    tape tp;
    tape_init(&tp);
    op_linear_xent(&tp, x, w, 1, targets, IGNORE);
}

static void slice_out_of_range(void)
{
    int s[2] = {2, 3};
    tensor *x = tensor_alloc(2, s, 0);
    tape tp;
    tape_init(&tp);
    op_slice(&tp, x, -1, 2, 2);
}

START_TEST(test_fatal_messages)
{
    expect_fatal(add_mismatch, "internal: op_add shapes [2,3] vs [3,2]");
    expect_fatal(linear_mismatch, "op_linear x [2,3] vs w [4,5]");
    expect_fatal(embedding_bad_id, "op_embedding id 4 at position 1");
    expect_fatal(xent_bad_target, "op_softmax_xent target 3 at row 1");
    expect_fatal(head_bad_target, "op_linear_xent target 4 at row 1");
    expect_fatal(head_mismatch, "op_linear_xent x [2,3] vs w [4,5]");
    expect_fatal(slice_out_of_range, "op_slice 2..4 of axis -1 of [2,3]");
}
END_TEST

Suite *suite_grad_dense(void)
{
    Suite *s = suite_create("grad_dense");
    TCase *tc = tcase_create("dense");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_linear_residual);
    tcase_add_test(tc, test_add_scale_mul);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_softmax_xent);
    tcase_add_test(tc, test_linear_xent);
    tcase_add_test(tc, test_mse);
    tcase_add_test(tc, test_rownorm);
    tcase_add_test(tc, test_exp_scale);
    tcase_add_test(tc, test_rownorm_scale);
    tcase_add_test(tc, test_concat);
    tcase_add_test(tc, test_slice);
    tcase_add_test(tc, test_reshape_sum_mean);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_gradients_written_once);
    tcase_add_test(tc, test_gradients_moved);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_fatal_messages);
    suite_add_tcase(s, tc);
    return s;
}
