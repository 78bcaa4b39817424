/* Dense ops: shape checks, arena outputs and tape nodes over the dense kernels. Each backward
 * function hands the kernel the gradient buffers of the inputs that need one and NULL for the
 * others. */
#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"

#define SHAPE_STR 64

/* The gradient buffer of an input, or NULL when it needs none. */
static real *grad_of(tensor *t) { return needs_grad(t) ? t->grad : NULL; }

static void check_same_shape(const char *op, const tensor *a, const tensor *b)
{
    if (!tensor_same_shape(a, b)) {
        char sa[SHAPE_STR], sb[SHAPE_STR];
        fatal("internal: %s shapes %s vs %s", op, tensor_shape_str(a, sa, sizeof sa),
              tensor_shape_str(b, sb, sizeof sb));
    }
}

/* Kernels take int dimensions; a tensor whose rows do not fit is a bug somewhere upstream. */
static int as_int(const char *op, size_t v)
{
    if (v > (size_t)INT_MAX)
        fatal("internal: %s dimension %zu too large", op, v);
    return (int)v;
}

static tensor *scalar_out(tape *tp)
{
    int one = 1;
    return tape_tensor(tp, 1, &one);
}

/* ---- linear ---------------------------------------------------------------------------------- */

static void linear_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    matmul_backward(grad_of(x), grad_of(w), grad_of(b), nd->out->grad, x->data, w->data,
                    (int)nd->iarg[0], (int)nd->iarg[1], (int)nd->iarg[2]);
}

tensor *op_linear(tape *tp, tensor *x, tensor *w, tensor *b)
{
    char sx[SHAPE_STR], sw[SHAPE_STR], sb[SHAPE_STR];
    if (w->ndim != 2 || tensor_cols(x) != w->shape[1])
        fatal("internal: op_linear x %s vs w %s", tensor_shape_str(x, sx, sizeof sx),
              tensor_shape_str(w, sw, sizeof sw));
    int C = w->shape[1], OC = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != OC))
        fatal("internal: op_linear w %s vs b %s", tensor_shape_str(w, sw, sizeof sw),
              tensor_shape_str(b, sb, sizeof sb));
    int N = as_int("op_linear", tensor_rows(x));
    int shape[TENSOR_MAX_DIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = OC;
    tensor *out = tape_tensor(tp, x->ndim, shape);
    matmul_forward(out->data, x->data, w->data, b ? b->data : NULL, N, C, OC);
    tensor *in[3] = {x, w, b};
    tape_node *nd = tape_record(tp, linear_backward, out, 3, in);
    if (nd) {
        nd->iarg[0] = N;
        nd->iarg[1] = C;
        nd->iarg[2] = OC;
    }
    return out;
}

/* ---- elementwise arithmetic ------------------------------------------------------------------ */

static void add_backward(tape *tp, tape_node *nd)
{
    accumulate(grad_of(nd->in[0]), nd->out->grad, 1, nd->out->n);
    accumulate(grad_of(nd->in[1]), nd->out->grad, 1, nd->out->n);
}

tensor *op_add(tape *tp, tensor *a, tensor *b)
{
    check_same_shape("op_add", a, b);
    tensor *out = tape_tensor(tp, a->ndim, a->shape);
    add_forward(out->data, a->data, b->data, a->n);
    tensor *in[2] = {a, b};
    tape_record(tp, add_backward, out, 2, in);
    return out;
}

static void scale_backward(tape *tp, tape_node *nd)
{
    accumulate(grad_of(nd->in[0]), nd->out->grad, (real)nd->farg[0], nd->out->n);
}

tensor *op_scale(tape *tp, tensor *x, real s)
{
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    scale_forward(out->data, x->data, s, x->n);
    tape_node *nd = tape_record(tp, scale_backward, out, 1, &x);
    if (nd)
        nd->farg[0] = s;
    return out;
}

static void mul_op_backward(tape *tp, tape_node *nd)
{
    tensor *a = nd->in[0], *b = nd->in[1];
    mul_backward(grad_of(a), grad_of(b), nd->out->grad, a->data, b->data, nd->out->n);
}

tensor *op_mul(tape *tp, tensor *a, tensor *b)
{
    check_same_shape("op_mul", a, b);
    tensor *out = tape_tensor(tp, a->ndim, a->shape);
    mul_forward(out->data, a->data, b->data, a->n);
    tensor *in[2] = {a, b};
    tape_record(tp, mul_op_backward, out, 2, in);
    return out;
}

/* ---- embedding ------------------------------------------------------------------------------- */

static void embedding_op_backward(tape *tp, tape_node *nd)
{
    tensor *table = nd->in[0];
    embedding_backward(grad_of(table), nd->out->grad, nd->saved[0], (int)nd->iarg[0], (int)nd->iarg[1]);
}

tensor *op_embedding(tape *tp, const int *ids, int B, int T, tensor *table)
{
    char st[SHAPE_STR];
    if (table->ndim != 2)
        fatal("internal: op_embedding table %s is not [V, C]", tensor_shape_str(table, st, sizeof st));
    if (B < 1 || T < 1)
        fatal("internal: op_embedding of B=%d, T=%d ids", B, T);
    int V = table->shape[0], C = table->shape[1];
    int N = as_int("op_embedding", (size_t)B * (size_t)T);
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= V)
            fatal("internal: op_embedding id %d at position %d outside the table's rows 0..%d", ids[i],
                  i, V - 1);
    int shape[3] = {B, T, C};
    tensor *out = tape_tensor(tp, 3, shape);
    embedding_forward(out->data, ids, table->data, N, C);
    tape_node *nd = tape_record(tp, embedding_op_backward, out, 1, &table);
    if (nd) {
        int *copy = tape_alloc(tp, (size_t)N * sizeof *copy);
        memcpy(copy, ids, (size_t)N * sizeof *copy);
        nd->saved[0] = copy;
        nd->iarg[0] = N;
        nd->iarg[1] = C;
    }
    return out;
}

/* ---- layernorm ------------------------------------------------------------------------------- */

static void layernorm_op_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    layernorm_backward(grad_of(x), grad_of(w), grad_of(b), nd->out->grad, x->data, w->data,
                       nd->saved[0], nd->saved[1], (int)nd->iarg[0], (int)nd->iarg[1]);
}

tensor *op_layernorm(tape *tp, tensor *x, tensor *w, tensor *b, real eps)
{
    char sx[SHAPE_STR], sw[SHAPE_STR];
    int C = tensor_cols(x);
    if (w->ndim != 1 || w->shape[0] != C)
        fatal("internal: op_layernorm x %s vs w %s", tensor_shape_str(x, sx, sizeof sx),
              tensor_shape_str(w, sw, sizeof sw));
    if (b && (b->ndim != 1 || b->shape[0] != C))
        fatal("internal: op_layernorm x %s vs b %s", tensor_shape_str(x, sx, sizeof sx),
              tensor_shape_str(b, sw, sizeof sw));
    int N = as_int("op_layernorm", tensor_rows(x));
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    tensor *in[3] = {x, w, b};
    tape_node *nd = tape_record(tp, layernorm_op_backward, out, 3, in);
    real *mean = NULL, *rstd = NULL;
    if (nd) {
        mean = tape_alloc(tp, (size_t)N * sizeof *mean);
        rstd = tape_alloc(tp, (size_t)N * sizeof *rstd);
        nd->saved[0] = mean;
        nd->saved[1] = rstd;
        nd->iarg[0] = N;
        nd->iarg[1] = C;
    }
    layernorm_forward(out->data, mean, rstd, x->data, w->data, b ? b->data : NULL, N, C, eps);
    return out;
}

/* ---- activations ----------------------------------------------------------------------------- */

static void gelu_op_backward(tape *tp, tape_node *nd)
{
    gelu_backward(grad_of(nd->in[0]), nd->out->grad, nd->in[0]->data, nd->out->n);
}

tensor *op_gelu(tape *tp, tensor *x)
{
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    gelu_forward(out->data, x->data, x->n);
    tape_record(tp, gelu_op_backward, out, 1, &x);
    return out;
}

static void gelu_erf_op_backward(tape *tp, tape_node *nd)
{
    gelu_erf_backward(grad_of(nd->in[0]), nd->out->grad, nd->in[0]->data, nd->out->n);
}

tensor *op_gelu_erf(tape *tp, tensor *x)
{
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    gelu_erf_forward(out->data, x->data, x->n);
    tape_record(tp, gelu_erf_op_backward, out, 1, &x);
    return out;
}

static void relu_op_backward(tape *tp, tape_node *nd)
{
    relu_backward(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->out->n);
}

tensor *op_relu(tape *tp, tensor *x)
{
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    relu_forward(out->data, x->data, x->n);
    tape_record(tp, relu_op_backward, out, 1, &x);
    return out;
}

static void tanh_op_backward(tape *tp, tape_node *nd)
{
    tanh_backward(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->out->n);
}

tensor *op_tanh(tape *tp, tensor *x)
{
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    tanh_forward(out->data, x->data, x->n);
    tape_record(tp, tanh_op_backward, out, 1, &x);
    return out;
}

static void sigmoid_op_backward(tape *tp, tape_node *nd)
{
    sigmoid_backward(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->out->n);
}

tensor *op_sigmoid(tape *tp, tensor *x)
{
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    sigmoid_forward(out->data, x->data, x->n);
    tape_record(tp, sigmoid_op_backward, out, 1, &x);
    return out;
}

static void softmax_op_backward(tape *tp, tape_node *nd)
{
    softmax_backward(grad_of(nd->in[0]), nd->out->grad, nd->out->data, (int)nd->iarg[0],
                     (int)nd->iarg[1]);
}

tensor *op_softmax(tape *tp, tensor *x)
{
    int C = tensor_cols(x);
    int N = as_int("op_softmax", tensor_rows(x));
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    softmax_forward(out->data, x->data, N, C);
    tape_node *nd = tape_record(tp, softmax_op_backward, out, 1, &x);
    if (nd) {
        nd->iarg[0] = N;
        nd->iarg[1] = C;
    }
    return out;
}

/* ---- losses ---------------------------------------------------------------------------------- */

static void softmax_xent_op_backward(tape *tp, tape_node *nd)
{
    softmax_xent_backward(grad_of(nd->in[0]), nd->saved[0], nd->saved[1], (int)nd->iarg[0],
                          (int)nd->iarg[1], (int)nd->iarg[2], (int)nd->iarg[3], nd->out->grad[0]);
}

tensor *op_softmax_xent(tape *tp, tensor *logits, const int *targets, int ignore)
{
    int V = tensor_cols(logits);
    int N = as_int("op_softmax_xent", tensor_rows(logits));
    for (int i = 0; i < N; i++)
        if (targets[i] != ignore && (targets[i] < 0 || targets[i] >= V))
            fatal("internal: op_softmax_xent target %d at row %d outside the classes 0..%d", targets[i],
                  i, V - 1);
    real *probs = tape_alloc(tp, logits->n * sizeof *probs);
    int count = 0;
    double loss = softmax_xent_forward(probs, logits->data, targets, N, V, ignore, &count);
    tensor *out = scalar_out(tp);
    out->data[0] = (real)loss;
    tape_node *nd = tape_record(tp, softmax_xent_op_backward, out, 1, &logits);
    if (nd) {
        int *copy = tape_alloc(tp, (size_t)N * sizeof *copy);
        memcpy(copy, targets, (size_t)N * sizeof *copy);
        nd->saved[0] = probs;
        nd->saved[1] = copy;
        nd->iarg[0] = N;
        nd->iarg[1] = V;
        nd->iarg[2] = ignore;
        nd->iarg[3] = count;
    }
    return out;
}

static void mse_op_backward(tape *tp, tape_node *nd)
{
    tensor *pred = nd->in[0];
    mse_backward(grad_of(pred), pred->data, nd->saved[0], pred->n, (real)nd->farg[0], nd->out->grad[0]);
}

tensor *op_mse(tape *tp, tensor *pred, tensor *target, real clip)
{
    check_same_shape("op_mse", pred, target);
    tensor *out = scalar_out(tp);
    out->data[0] = (real)mse_forward(pred->data, target->data, pred->n, clip);
    /* Only pred is an input of the node: the target never receives a gradient. */
    tape_node *nd = tape_record(tp, mse_op_backward, out, 1, &pred);
    if (nd) {
        nd->saved[0] = target->data;
        nd->farg[0] = clip;
    }
    return out;
}

/* ---- normalisation and scaling --------------------------------------------------------------- */

/* F.normalize's default eps. */
#define ROWNORM_EPS ((real)1e-12)

static void rownorm_op_backward(tape *tp, tape_node *nd)
{
    rownorm_backward(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->saved[0], (int)nd->iarg[0],
                     (int)nd->iarg[1], ROWNORM_EPS);
}

tensor *op_rownorm(tape *tp, tensor *x, int group)
{
    char sx[SHAPE_STR];
    if (group < 1 || tensor_cols(x) % group != 0)
        fatal("internal: op_rownorm groups of %d in %s", group, tensor_shape_str(x, sx, sizeof sx));
    int N = as_int("op_rownorm", x->n / (size_t)group);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    real *norm = tape_alloc(tp, (size_t)N * sizeof *norm);
    rownorm_forward(out->data, norm, x->data, N, group, ROWNORM_EPS);
    tape_node *nd = tape_record(tp, rownorm_op_backward, out, 1, &x);
    if (nd) {
        nd->saved[0] = norm;
        nd->iarg[0] = N;
        nd->iarg[1] = group;
    }
    return out;
}

static void exp_scale_op_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *p = nd->in[1];
    exp_scale_backward(grad_of(x), grad_of(p), nd->out->grad, x->data, p->data, (int)nd->iarg[0],
                       (int)nd->iarg[1], (int)nd->iarg[2], (real)nd->farg[0]);
}

tensor *op_exp_scale(tape *tp, tensor *x, tensor *p, real cap)
{
    char sx[SHAPE_STR], sp[SHAPE_STR];
    int G = as_int("op_exp_scale", p->n);
    if (tensor_cols(x) % G != 0)
        fatal("internal: op_exp_scale x %s vs p %s", tensor_shape_str(x, sx, sizeof sx),
              tensor_shape_str(p, sp, sizeof sp));
    int D = tensor_cols(x) / G;
    int N = as_int("op_exp_scale", tensor_rows(x));
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    exp_scale_forward(out->data, x->data, p->data, N, G, D, cap);
    tensor *in[2] = {x, p};
    tape_node *nd = tape_record(tp, exp_scale_op_backward, out, 2, in);
    if (nd) {
        nd->iarg[0] = N;
        nd->iarg[1] = G;
        nd->iarg[2] = D;
        nd->farg[0] = cap;
    }
    return out;
}

/* ---- dropout --------------------------------------------------------------------------------- */

static void dropout_op_backward(tape *tp, tape_node *nd)
{
    /* d(x * mask) / dx = mask: mul_backward with the mask as the other factor. */
    tensor *x = nd->in[0];
    mul_backward(grad_of(x), NULL, nd->out->grad, x->data, nd->saved[0], x->n);
}

tensor *op_dropout(tape *tp, tensor *x, real p, rng *r)
{
    if (!tp->training || p == 0)
        return x;
    if (!(p > 0 && p < 1))
        fatal("internal: op_dropout probability %g outside [0, 1)", (double)p);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    real *mask = tape_alloc(tp, x->n * sizeof *mask);
    dropout_forward(out->data, mask, x->data, x->n, p, r);
    tape_node *nd = tape_record(tp, dropout_op_backward, out, 1, &x);
    if (nd)
        nd->saved[0] = mask;
    return out;
}

/* ---- reductions ------------------------------------------------------------------------------ */

/* Serial, in double: the same bits for any thread count. */
static double sum_all(const real *x, size_t n)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

/* dx += g everywhere: the backward of sum (g = dout) and mean (g = dout / n). */
static void fill_add(real *dx, real g, size_t n)
{
    if (!dx)
        return;
    for (size_t i = 0; i < n; i++)
        dx[i] += g;
}

static void sum_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0];
    fill_add(grad_of(x), nd->out->grad[0], x->n);
}

tensor *op_sum(tape *tp, tensor *x)
{
    tensor *out = scalar_out(tp);
    out->data[0] = (real)sum_all(x->data, x->n);
    tape_record(tp, sum_backward, out, 1, &x);
    return out;
}

static void mean_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0];
    fill_add(grad_of(x), nd->out->grad[0] / (real)x->n, x->n);
}

tensor *op_mean(tape *tp, tensor *x)
{
    tensor *out = scalar_out(tp);
    out->data[0] = (real)(sum_all(x->data, x->n) / (double)x->n);
    tape_record(tp, mean_backward, out, 1, &x);
    return out;
}

/* ---- shapes ---------------------------------------------------------------------------------- */

static void reshape_backward(tape *tp, tape_node *nd)
{
    accumulate(grad_of(nd->in[0]), nd->out->grad, 1, nd->out->n);
}

tensor *op_reshape(tape *tp, tensor *x, int ndim, const int *shape)
{
    tensor probe;
    tensor_set_shape(&probe, ndim, shape);
    if (probe.n != x->n) {
        char sx[SHAPE_STR], sy[SHAPE_STR];
        fatal("internal: op_reshape %s to %s", tensor_shape_str(x, sx, sizeof sx),
              tensor_shape_str(&probe, sy, sizeof sy));
    }
    tensor *out = tape_view(tp, x, ndim, shape);
    tape_record(tp, reshape_backward, out, 1, &x);
    return out;
}

/* Resolves a possibly negative axis, fatal when out of range. */
static int axis_resolve(const char *op, const tensor *t, int axis)
{
    int a = axis < 0 ? axis + t->ndim : axis;
    if (a < 0 || a >= t->ndim) {
        char st[SHAPE_STR];
        fatal("internal: %s axis %d of %s", op, axis, tensor_shape_str(t, st, sizeof st));
    }
    return a;
}

/* Elements in dimensions [from, to) of t. */
static size_t extent_product(const tensor *t, int from, int to)
{
    size_t p = 1;
    for (int i = from; i < to; i++)
        p *= (size_t)t->shape[i];
    return p;
}

static void concat_op_backward(tape *tp, tape_node *nd)
{
    tensor *a = nd->in[0], *b = nd->in[1];
    concat_backward(grad_of(a), grad_of(b), nd->out->grad, (size_t)nd->iarg[0], (size_t)nd->iarg[1],
                    (size_t)nd->iarg[2]);
}

tensor *op_concat(tape *tp, tensor *a, tensor *b, int axis)
{
    int ax = axis_resolve("op_concat", a, axis);
    int ok = a->ndim == b->ndim;
    for (int i = 0; ok && i < a->ndim; i++)
        if (i != ax && a->shape[i] != b->shape[i])
            ok = 0;
    if (!ok) {
        char sa[SHAPE_STR], sb[SHAPE_STR];
        fatal("internal: op_concat shapes %s vs %s along axis %d", tensor_shape_str(a, sa, sizeof sa),
              tensor_shape_str(b, sb, sizeof sb), axis);
    }
    int shape[TENSOR_MAX_DIM];
    memcpy(shape, a->shape, sizeof shape);
    shape[ax] = a->shape[ax] + b->shape[ax];
    size_t outer = extent_product(a, 0, ax);
    size_t inner_a = extent_product(a, ax, a->ndim), inner_b = extent_product(b, ax, b->ndim);
    tensor *out = tape_tensor(tp, a->ndim, shape);
    concat_forward(out->data, a->data, b->data, outer, inner_a, inner_b);
    tensor *in[2] = {a, b};
    tape_node *nd = tape_record(tp, concat_op_backward, out, 2, in);
    if (nd) {
        nd->iarg[0] = (long long)outer;
        nd->iarg[1] = (long long)inner_a;
        nd->iarg[2] = (long long)inner_b;
    }
    return out;
}

static void slice_op_backward(tape *tp, tape_node *nd)
{
    slice_backward(grad_of(nd->in[0]), nd->out->grad, (size_t)nd->iarg[0], (size_t)nd->iarg[1],
                   (size_t)nd->iarg[2], (size_t)nd->iarg[3]);
}

tensor *op_slice(tape *tp, tensor *x, int axis, int start, int len)
{
    int ax = axis_resolve("op_slice", x, axis);
    if (start < 0 || len < 1 || start > x->shape[ax] - len) {
        char sx[SHAPE_STR];
        fatal("internal: op_slice %d..%d of axis %d of %s", start, start + len, axis,
              tensor_shape_str(x, sx, sizeof sx));
    }
    int shape[TENSOR_MAX_DIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[ax] = len;
    /* In elements of the [outer, inner] view: one index of the axis spans `post` elements. */
    size_t post = extent_product(x, ax + 1, x->ndim);
    size_t outer = extent_product(x, 0, ax), inner = extent_product(x, ax, x->ndim);
    size_t el_start = (size_t)start * post, el_len = (size_t)len * post;
    tensor *out = tape_tensor(tp, x->ndim, shape);
    slice_forward(out->data, x->data, outer, inner, el_start, el_len);
    tape_node *nd = tape_record(tp, slice_op_backward, out, 1, &x);
    if (nd) {
        nd->iarg[0] = (long long)outer;
        nd->iarg[1] = (long long)inner;
        nd->iarg[2] = (long long)el_start;
        nd->iarg[3] = (long long)el_len;
    }
    return out;
}
