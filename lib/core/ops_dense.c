/* Dense ops: shape checks, arena outputs and tape nodes over the dense kernels. Each backward
 * function hands the kernel the gradient buffers of the inputs that need one and NULL for the
 * others. Every op runs on its inputs' device (core/dispatch.h): KERNEL(dev, k) is the CPU kernel
 * k or its CUDA twin; the few whose twins differ (host ids, losses read by the host, dropout's
 * generator) say so where they branch. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/dispatch.h"
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

/* A scalar result the host may read (a loss): pinned memory on the GPU. */
static tensor *scalar_out(tape *tp) { return tape_scalar(tp); }

#define DEV(op, ...) op_device(op, tp->device, sizeof((tensor *[]){__VA_ARGS__}) / sizeof(tensor *), \
                               (tensor *[]){__VA_ARGS__})

/* A device copy of n host ints (ids, targets) in the tape's data arena; the host array itself on
 * the CPU, copied into the host arena when the node keeps it. */
static int *ints_on(tape *tp, const int *host, size_t n)
{
    int *copy = tape_alloc_data(tp, n * sizeof *copy);
    mem_copy(copy, device_mem(tp->device), host, MEM_HOST, n * sizeof *copy);
    return copy;
}

/* ---- linear ---------------------------------------------------------------------------------- */

#if HAVE_CUDA
static void linear_products16(tape *tp, tape_node *nd, tensor *x, tensor *w, tensor *b);
#endif

/* A linear node's products from out's gradient: x's, w's and b's gradients (the dimensions in iarg,
 * the bf16 operands in saved[0..1] under --dtype bf16: linear_products16). The input's gradient is
 * stored by the product when this is its first writer (the node assigns): at GPT-2-small that skips
 * a zeroing and a read of [N, C] floats per linear. */
static void linear_products(tape *tp, tape_node *nd, tensor *x, tensor *w, tensor *b)
{
#if HAVE_CUDA
    if (nd->saved[0]) {   /* bf16: the forward's converted operands */
        linear_products16(tp, nd, x, w, b);
        return;
    }
#endif
    KERNEL(nd->out->device, matmul_backward)(grad_of(x), grad_of(w), grad_of(b), nd->out->grad, x->data, w->data,
                                             (int)nd->iarg[0], (int)nd->iarg[1], (int)nd->iarg[2],
                                             grad_first_write(x));
}

static void linear_backward(tape *tp, tape_node *nd) { linear_products(tp, nd, nd->in[0], nd->in[1], nd->in[2]); }

/* A linear's shapes checked (x [..., C], w [OC, C], b [OC] or NULL; op names the caller) and its
 * output [..., OC] made, in bf16 only when only16 (tape_tensor16): *N gets x's rows. */
static tensor *linear_out_as(const char *op, tape *tp, tensor *x, tensor *w, tensor *b, int *N, int only16)
{
    char sx[SHAPE_STR], sw[SHAPE_STR], sb[SHAPE_STR];
    if (w->ndim != 2 || tensor_cols(x) != w->shape[1])
        fatal("internal: %s x %s vs w %s", op, tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(w, sw, sizeof sw));
    const int OC = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != OC))
        fatal("internal: %s w %s vs b %s", op, tensor_shape_str(w, sw, sizeof sw), tensor_shape_str(b, sb, sizeof sb));
    *N = as_int(op, tensor_rows(x));
    int shape[TENSOR_MAX_DIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = OC;
    return only16 ? tape_tensor16(tp, x->ndim, shape) : tape_tensor(tp, x->ndim, shape);
}

static tensor *linear_out(const char *op, tape *tp, tensor *x, tensor *w, tensor *b, int *N)
{
    return linear_out_as(op, tp, x, w, b, N, 0);
}

/* A linear's node: x's (and, in `assigns`, other inputs') gradient stored when first written, the
 * bf16 operands (NULL in fp32) and the dimensions for its backward. */
static void linear_node_keep(tape_node *nd, unsigned char assigns, uint16_t *xb, uint16_t *wb, int N, int C, int OC)
{
    if (!nd)
        return;
    nd->assigns = assigns;
    nd->saved[0] = xb;
    nd->saved[1] = wb;
    nd->iarg[0] = N;
    nd->iarg[1] = C;
    nd->iarg[2] = OC;
}

#if HAVE_CUDA
/* A bf16 linear node's products from the gradient g of the product's output (doutb: g in bf16, or
 * room to convert dout, its fp32 form, into) and the forward's bf16 operands (saved[0], saved[1]):
 * x's gradient stored in bf16 when x's producer reads it so and this is its first write
 * (grad16_first_write: GELU's output under op_linear_gelu_erf), else in fp32, stored when first
 * written; w's added, and b's column sums into db. */
static void products16(const tape_node *nd, tensor *x, tensor *w, real *db, uint16_t *doutb, const real *dout)
{
    const int N = (int)nd->iarg[0], C = (int)nd->iarg[1], OC = (int)nd->iarg[2];
    uint16_t *dx16 = needs_grad(x) ? grad16_first_write(x) : NULL;
    if (dx16)
        cuda_matmul_backward_bf16_dx16(dx16, grad_of(w), db, doutb, dout, nd->saved[0], nd->saved[1], N, C, OC);
    else
        cuda_matmul_backward_bf16(grad_of(x), grad_of(w), db, doutb, dout, nd->saved[0], nd->saved[1], N, C, OC,
                                  grad_first_write(x));
}

/* A bf16 linear's backward products from out's gradient as its reader wrote it: in bf16
 * (grad_is16), which the products take as it is, or in fp32, which they convert into doutb. */
static void linear_products16(tape *tp, tape_node *nd, tensor *x, tensor *w, tensor *b)
{
    const tensor *out = nd->out;
    const size_t n = (size_t)nd->iarg[0] * (size_t)nd->iarg[2];
    uint16_t *doutb = out->grad_is16 ? (uint16_t *)out->grad : tape_alloc_data(tp, n * sizeof *doutb);
    products16(nd, x, w, grad_of(b), doutb, out->grad_is16 ? NULL : out->grad);
}

/* The bf16 operands' room on the tape: x's copy from its producer or room to convert it into, and
 * the weight's. Returns what the product converts x from (NULL: the producer's copy). */
static const real *linear_operands16(tape *tp, tensor *x, int N, int OC, uint16_t **xb, uint16_t **wb)
{
    const int C = tensor_cols(x);
    *xb = x->bf16 ? x->bf16 : tape_alloc_data(tp, (size_t)N * C * sizeof **xb);
    *wb = tape_alloc_data(tp, (size_t)OC * C * sizeof **wb);
    return x->bf16 ? NULL : x->data;
}
#endif

tensor *op_linear(tape *tp, tensor *x, tensor *w, tensor *b)
{
    int N;
    tensor *out = linear_out("op_linear", tp, x, w, b, &N);
    const int C = w->shape[1], OC = w->shape[0];
    device_kind dev = DEV("op_linear", x, w, b);
    uint16_t *xb = NULL, *wb = NULL;
#if HAVE_CUDA
    if (dev == DEV_CUDA && tp->bf16) {
        const real *from = linear_operands16(tp, x, N, OC, &xb, &wb);
        cuda_matmul_forward_bf16(out->data, xb, wb, from, w->data, b ? b->data : NULL, N, C, OC);
    }
#endif
    if (!xb)
        KERNEL(dev, matmul_forward)(out->data, x->data, w->data, b ? b->data : NULL, N, C, OC);
    tensor *in[3] = {x, w, b};
    linear_node_keep(tape_record(tp, linear_backward, out, 3, in), 1, xb, wb, N, C, OC);   /* w's and b's add */
    return out;
}

/* ---- a linear whose only reader takes bf16 -------------------------------------------------- */

/* On the GPU under --dtype bf16 the product is written in bf16 only (tensor.bf16) and the output has
 * no fp32 numbers at all (data NULL): for a caller whose every reader of the output takes its bf16
 * copy (op_attention_qkv in bf16), which then neither reads 4 bytes an element nor converts them
 * (GPT-2-small: the qkv output, [16,384, 2,304] a layer). Its gradient stays fp32, as every
 * gradient. Elsewhere op_linear. */
tensor *op_linear_bf16_out(tape *tp, tensor *x, tensor *w, tensor *b)
{
#if HAVE_CUDA
    if (tp->bf16 && x->device == DEV_CUDA) {
        int N;
        tensor *out = linear_out_as("op_linear_bf16_out", tp, x, w, b, &N, 1);
        const int C = w->shape[1], OC = w->shape[0];
        DEV("op_linear_bf16_out", x, w, b);
        uint16_t *xb, *wb;
        const real *from = linear_operands16(tp, x, N, OC, &xb, &wb);
        cuda_matmul_forward_bf16_out16(out->bf16, xb, wb, from, w->data, b ? b->data : NULL, N, C, OC);
        out->takes_grad16 = 1;   /* its one reader may write the gradient in bf16 */
        tensor *in[3] = {x, w, b};
        linear_node_keep(tape_record(tp, linear_backward, out, 3, in), 1, xb, wb, N, C, OC);
        return out;
    }
#endif
    return op_linear(tp, x, w, b);
}

/* ---- the residual stream's update: res + linear(x) -------------------------------------------- */

static void grad_add_scaled(tensor *t, const real *src, real alpha, size_t n, device_kind dev);

/* The product's gradients from out's, which then moves whole into res's (or is added to it). */
static void linear_residual_backward(tape *tp, tape_node *nd)
{
    tensor *res = nd->in[0];
    linear_products(tp, nd, nd->in[1], nd->in[2], nd->in[3]);
    if (!grad_move(res, nd->out))
        grad_add_scaled(res, nd->out->grad, 1, nd->out->n, nd->out->device);
}

/* One op for res + x w^T + b, the product's output not a tensor of its own and, in the backward,
 * out's gradient serving the product as it is and moving into res's, where op_add copied it for
 * the product (on the CPU a copy on one thread: 2.9 ms a residual at 512 x 4 x 512, batch 16, on
 * the 16-core Xeon, benchmarks/NOTES.md §26). On the GPU under --dtype bf16 one cuBLASLt product
 * whose epilogue adds res (and the bias): the product's output is not stored, read back and added
 * (GPT-2-small: 24 residual adds a step; docs/gpu.md). On the CPU the product, then res added in
 * place: the same sum, the same bits as op_add(res, op_linear(x, w, b)), which the GPU in fp32
 * still runs. */
tensor *op_linear_residual(tape *tp, tensor *res, tensor *x, tensor *w, tensor *b)
{
    if (!(x->device == DEV_CPU || (tp->bf16 && x->device == DEV_CUDA)))
        return op_add(tp, res, op_linear(tp, x, w, b));
    int N;
    tensor *out = linear_out("op_linear_residual", tp, x, w, b, &N);
    const int C = w->shape[1], OC = w->shape[0];
    char sr[SHAPE_STR], so[SHAPE_STR];
    if (res->n != out->n || tensor_cols(res) != OC)
        fatal("internal: op_linear_residual res %s vs the product's %s", tensor_shape_str(res, sr, sizeof sr),
              tensor_shape_str(out, so, sizeof so));
    device_kind dev = DEV("op_linear_residual", res, x, w, b);
    uint16_t *xb = NULL, *wb = NULL;
    if (dev == DEV_CPU) {
        matmul_forward(out->data, x->data, w->data, b ? b->data : NULL, N, C, OC);
        accumulate(out->data, res->data, 1, out->n);
    }
#if HAVE_CUDA
    else {
        const real *from = linear_operands16(tp, x, N, OC, &xb, &wb);
        cuda_matmul_forward_bf16_res(out->data, xb, wb, from, w->data, b ? b->data : NULL, res->data, N, C, OC);
    }
#endif
    tensor *in[4] = {res, x, w, b};
    linear_node_keep(tape_record(tp, linear_residual_backward, out, 4, in), 3, xb, wb, N, C, OC);
    return out;
}

/* ---- linear then exact GELU ------------------------------------------------------------------ */

#if HAVE_CUDA
/* The fused backward: the pre-activation's gradient dh = dout gelu'(h + b), then the linear's
 * products over it. dout is read in bf16 where the next linear's backward wrote it so (as autocast
 * keeps it), else in fp32. Without a bias gradient dh is written in bf16 only, which is all the
 * products read; with one it is written in fp32 and the bias's column sums convert it as they pass. */
static void linear_gelu_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    const int N = (int)nd->iarg[0], OC = (int)nd->iarg[2];
    const size_t n = (size_t)N * OC;
    const uint16_t *h16 = nd->saved[2];
    uint16_t *dh16 = tape_alloc_data(tp, n * sizeof *dh16);
    real *db = grad_of(b), *dh = db ? tape_alloc_data(tp, n * sizeof *dh) : NULL;
    const tensor *out = nd->out;   /* its gradient in bf16 when the next linear wrote it so */
    cuda_gelu_erf_backward_h16(dh, dh16, out->grad_is16 ? NULL : out->grad,
                               out->grad_is16 ? (const uint16_t *)out->grad : NULL, h16, b ? b->data : NULL, OC, n);
    products16(nd, x, w, db, dh16, dh);
}
#endif

/* Under --dtype bf16 on the GPU, one op: the product writes the pre-activation h in bf16 only (as
 * PyTorch's autocast does; the bias is added as the GELU reads it), the GELU writes its output in
 * bf16 only (tape_tensor16: data NULL), which is all the next linear reads, and the backward writes
 * h's gradient in bf16 only: the fp32 pre-activation, the fp32 output, h's fp32 gradient and their
 * conversions are never made (GPT-2-small: 0.9 GB a layer a step; docs/gpu.md). So every reader of
 * the output must take bf16: the caller's next op is a linear. Everywhere else
 * op_gelu_erf(op_linear(x, w, b)). */
tensor *op_linear_gelu_erf(tape *tp, tensor *x, tensor *w, tensor *b)
{
#if HAVE_CUDA
    if (tp->bf16 && x->device == DEV_CUDA) {
        int N;
        tensor *out = linear_out_as("op_linear_gelu_erf", tp, x, w, b, &N, 1);
        const int C = w->shape[1], OC = w->shape[0];
        DEV("op_linear_gelu_erf", x, w, b);
        uint16_t *xb, *wb, *h16 = tape_alloc_data(tp, out->n * sizeof *h16);
        const real *from = linear_operands16(tp, x, N, OC, &xb, &wb);
        cuda_matmul_forward_bf16_out16(h16, xb, wb, from, w->data, NULL, N, C, OC);
        cuda_gelu_erf_forward_h16(NULL, out->bf16, h16, b ? b->data : NULL, OC, out->n);
        out->takes_grad16 = 1;   /* the next linear may write the gradient in bf16 */
        tensor *in[3] = {x, w, b};
        tape_node *nd = tape_record(tp, linear_gelu_backward, out, 3, in);
        linear_node_keep(nd, 1, xb, wb, N, C, OC);
        if (nd)
            nd->saved[2] = h16;
        return out;
    }
#endif
    return op_gelu_erf(tp, op_linear(tp, x, w, b));
}

/* ---- elementwise arithmetic ------------------------------------------------------------------ */

/* dst (+)= alpha src for the gradient of input t: a store (alpha 1: a copy) when this is its first
 * writer, the node assigning. */
static void grad_add_scaled(tensor *t, const real *src, real alpha, size_t n, device_kind dev)
{
    real *dst = grad_of(t);
    if (!dst)
        return;
    if (!grad_first_write(t))
        KERNEL(dev, accumulate)(dst, src, alpha, n);
    else if (alpha == 1)
        mem_copy(dst, device_mem(dev), src, device_mem(dev), n * sizeof(real));
    else
        KERNEL(dev, scale_forward)(dst, src, alpha, n);
}

/* out's gradient moves whole into an input whose gradient holds nothing yet (grad_move), after
 * the other input got its copy or sum of it; in a residual stream that is the stream's input, whose
 * other readers run later in the backward pass. */
static void add_backward(tape *tp, tape_node *nd)
{
    device_kind dev = nd->out->device;
    tensor *a = nd->in[0], *b = nd->in[1];
    if (b->grad_unset && !a->grad_unset) {   /* move into b instead (op_add has both inputs) */
        tensor *t = a;
        a = b;
        b = t;
    }
    grad_add_scaled(b, nd->out->grad, 1, nd->out->n, dev);
    if (!grad_move(a, nd->out))
        grad_add_scaled(a, nd->out->grad, 1, nd->out->n, dev);
}

tensor *op_add(tape *tp, tensor *a, tensor *b)
{
    check_same_shape("op_add", a, b);
    device_kind dev = DEV("op_add", a, b);
    tensor *out = tape_tensor(tp, a->ndim, a->shape);
    KERNEL(dev, add_forward)(out->data, a->data, b->data, a->n);
    tensor *in[2] = {a, b};
    tape_node *nd = tape_record(tp, add_backward, out, 2, in);
    if (nd)
        nd->assigns = 3;
    return out;
}

static void scale_backward(tape *tp, tape_node *nd)
{
    grad_add_scaled(nd->in[0], nd->out->grad, (real)nd->farg[0], nd->out->n, nd->out->device);
}

tensor *op_scale(tape *tp, tensor *x, real s)
{
    device_kind dev = DEV("op_scale", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL(dev, scale_forward)(out->data, x->data, s, x->n);
    tape_node *nd = tape_record(tp, scale_backward, out, 1, &x);
    if (nd) {
        nd->assigns = 1;
        nd->farg[0] = s;
    }
    return out;
}

static void mul_op_backward(tape *tp, tape_node *nd)
{
    tensor *a = nd->in[0], *b = nd->in[1];
    KERNEL(nd->out->device, mul_backward)(grad_of(a), grad_of(b), nd->out->grad, a->data, b->data, nd->out->n);
}

tensor *op_mul(tape *tp, tensor *a, tensor *b)
{
    check_same_shape("op_mul", a, b);
    device_kind dev = DEV("op_mul", a, b);
    tensor *out = tape_tensor(tp, a->ndim, a->shape);
    KERNEL(dev, mul_forward)(out->data, a->data, b->data, a->n);
    tensor *in[2] = {a, b};
    tape_record(tp, mul_op_backward, out, 2, in);
    return out;
}

/* ---- embedding ------------------------------------------------------------------------------- */

#if HAVE_CUDA
/* The GPU backward wants the positions grouped by id (cuda_embedding_backward_grouped): a counting
 * sort here, where the ids already are, into one device buffer {order[N], seg_begin[nseg+1],
 * seg_id[nseg]}; returns it, *nseg the number of distinct ids. */
static int *embedding_groups(tape *tp, const int *ids, int N, int V, int *nseg)
{
    int *start = tape_alloc(tp, ((size_t)V + 1) * sizeof *start);
    memset(start, 0, ((size_t)V + 1) * sizeof *start);
    for (int i = 0; i < N; i++)
        start[ids[i] + 1]++;
    int n = 0;
    for (int v = 0; v < V; v++) {
        n += start[v + 1] > 0;
        start[v + 1] += start[v];
    }
    int *host = tape_alloc(tp, ((size_t)N + 2 * (size_t)n + 1) * sizeof *host);
    int *order = host, *seg_begin = host + N, *seg_id = seg_begin + n + 1;
    for (int v = 0, s = 0; v < V; v++)
        if (start[v + 1] > start[v]) {
            seg_begin[s] = start[v];
            seg_id[s++] = v;
        }
    seg_begin[n] = N;
    for (int i = 0; i < N; i++)   /* stable: positions of an id stay in increasing order */
        order[start[ids[i]]++] = i;
    *nseg = n;
    return ints_on(tp, host, (size_t)N + 2 * (size_t)n + 1);
}
#endif

static void embedding_op_backward(tape *tp, tape_node *nd)
{
    tensor *table = nd->in[0];
#if HAVE_CUDA
    if (table->device == DEV_CUDA) {
        int N = (int)nd->iarg[0], nseg = (int)nd->iarg[2];
        const int *g = nd->saved[1];
        cuda_embedding_backward_grouped(grad_of(table), nd->out->grad, g, g + N, g + N + nseg + 1, nseg,
                                        (int)nd->iarg[1]);
        return;
    }
#endif
    KERNEL(table->device, embedding_backward)(grad_of(table), nd->out->grad, nd->saved[0], (int)nd->iarg[0], (int)nd->iarg[1]);
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
    device_kind dev = DEV("op_embedding", table);
    tensor *out = tape_tensor(tp, 3, shape);
    /* the kernels read the ids where they run: a copy on the GPU, the caller's array on the CPU */
    const int *kid = dev == DEV_CPU ? ids : ints_on(tp, ids, (size_t)N);
    KERNEL(dev, embedding_forward)(out->data, kid, table->data, N, C);
    tape_node *nd = tape_record(tp, embedding_op_backward, out, 1, &table);
    if (nd) {
        nd->saved[0] = dev == DEV_CPU ? ints_on(tp, ids, (size_t)N) : (int *)kid;
#if HAVE_CUDA
        if (dev == DEV_CUDA) {
            int nseg = 0;
            nd->saved[1] = embedding_groups(tp, ids, N, V, &nseg);
            nd->iarg[2] = nseg;
        }
#endif
        nd->iarg[0] = N;
        nd->iarg[1] = C;
    }
    return out;
}

/* ---- layernorm ------------------------------------------------------------------------------- */

static void layernorm_op_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
#if HAVE_CUDA
    if (nd->out->grad_is16) {   /* its reader, a bf16 linear, wrote the gradient in bf16 */
        cuda_layernorm_backward16(grad_of(x), grad_of(w), grad_of(b), (const uint16_t *)nd->out->grad, x->data,
                                  w->data, nd->saved[0], nd->saved[1], (int)nd->iarg[0], (int)nd->iarg[1]);
        return;
    }
#endif
    KERNEL(x->device, layernorm_backward)(grad_of(x), grad_of(w), grad_of(b), nd->out->grad, x->data, w->data,
                       nd->saved[0], nd->saved[1], (int)nd->iarg[0], (int)nd->iarg[1]);
}

static tensor *layernorm_as(tape *tp, tensor *x, tensor *w, tensor *b, real eps, int only16);

tensor *op_layernorm(tape *tp, tensor *x, tensor *w, tensor *b, real eps) { return layernorm_as(tp, x, w, b, eps, 0); }

/* On the GPU under --dtype bf16 the output in bf16 only (data NULL) and its gradient read in bf16
 * where its reader writes it so: for an output whose one reader is a bf16 linear (the gpt's two
 * layernorms a block). Elsewhere op_layernorm. */
tensor *op_layernorm_bf16_out(tape *tp, tensor *x, tensor *w, tensor *b, real eps)
{
#if HAVE_CUDA
    if (tp->bf16 && x->device == DEV_CUDA)
        return layernorm_as(tp, x, w, b, eps, 1);
#endif
    return op_layernorm(tp, x, w, b, eps);
}

static tensor *layernorm_as(tape *tp, tensor *x, tensor *w, tensor *b, real eps, int only16)
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
    device_kind dev = DEV("op_layernorm", x, w, b);
    tensor *out = only16 ? tape_tensor16(tp, x->ndim, x->shape) : tape_tensor(tp, x->ndim, x->shape);
    tensor *in[3] = {x, w, b};
    real *mean = NULL, *rstd = NULL;
    if (tape_will_record(tp, 3, in)) {
        mean = tape_alloc_data(tp, (size_t)N * sizeof *mean);
        rstd = tape_alloc_data(tp, (size_t)N * sizeof *rstd);
    }
#if HAVE_CUDA
    if (only16) {
        cuda_layernorm_forward_copy16(NULL, out->bf16, mean, rstd, x->data, w->data, b ? b->data : NULL, N, C, eps);
        out->takes_grad16 = 1;   /* its one reader, a linear, may write the gradient in bf16 */
    } else if ((out->bf16 = tape_bf16_copy(tp, out)))
        cuda_layernorm_forward_copy16(out->data, out->bf16, mean, rstd, x->data, w->data, b ? b->data : NULL, N, C,
                                      eps);
    else
#endif
        KERNEL(dev, layernorm_forward)(out->data, mean, rstd, x->data, w->data, b ? b->data : NULL, N, C, eps);
    tape_node *nd = tape_record(tp, layernorm_op_backward, out, 3, in);
    if (nd) {
        nd->saved[0] = mean;
        nd->saved[1] = rstd;
        nd->iarg[0] = N;
        nd->iarg[1] = C;
    }
    return out;
}

/* ---- activations ----------------------------------------------------------------------------- */

static void gelu_op_backward(tape *tp, tape_node *nd)
{
    KERNEL(nd->out->device, gelu_backward)(grad_of(nd->in[0]), nd->out->grad, nd->in[0]->data, nd->out->n);
}

tensor *op_gelu(tape *tp, tensor *x)
{
    device_kind dev = DEV("op_gelu", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL(dev, gelu_forward)(out->data, x->data, x->n);
    tape_record(tp, gelu_op_backward, out, 1, &x);
    return out;
}

static void gelu_erf_op_backward(tape *tp, tape_node *nd)
{
    KERNEL(nd->out->device, gelu_erf_backward)(grad_of(nd->in[0]), nd->out->grad, nd->in[0]->data, nd->out->n,
                                               grad_first_write(nd->in[0]));
}

tensor *op_gelu_erf(tape *tp, tensor *x)
{
    device_kind dev = DEV("op_gelu_erf", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
#if HAVE_CUDA
    if ((out->bf16 = tape_bf16_copy(tp, out)))
        cuda_gelu_erf_forward_copy16(out->data, out->bf16, x->data, x->n);
    else
#endif
        KERNEL(dev, gelu_erf_forward)(out->data, x->data, x->n);
    tape_node *nd = tape_record(tp, gelu_erf_op_backward, out, 1, &x);
    if (nd)
        nd->assigns = 1;
    return out;
}

static void relu_op_backward(tape *tp, tape_node *nd)
{
    KERNEL(nd->out->device, relu_backward)(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->out->n);
}

tensor *op_relu(tape *tp, tensor *x)
{
    device_kind dev = DEV("op_relu", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL(dev, relu_forward)(out->data, x->data, x->n);
    tape_record(tp, relu_op_backward, out, 1, &x);
    return out;
}

static void tanh_op_backward(tape *tp, tape_node *nd)
{
    KERNEL(nd->out->device, tanh_backward)(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->out->n);
}

tensor *op_tanh(tape *tp, tensor *x)
{
    device_kind dev = DEV("op_tanh", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL(dev, tanh_forward)(out->data, x->data, x->n);
    tape_record(tp, tanh_op_backward, out, 1, &x);
    return out;
}

static void sigmoid_op_backward(tape *tp, tape_node *nd)
{
    KERNEL(nd->out->device, sigmoid_backward)(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->out->n);
}

tensor *op_sigmoid(tape *tp, tensor *x)
{
    device_kind dev = DEV("op_sigmoid", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL(dev, sigmoid_forward)(out->data, x->data, x->n);
    tape_record(tp, sigmoid_op_backward, out, 1, &x);
    return out;
}

static void softmax_op_backward(tape *tp, tape_node *nd)
{
    KERNEL(nd->out->device, softmax_backward)(grad_of(nd->in[0]), nd->out->grad, nd->out->data, (int)nd->iarg[0],
                     (int)nd->iarg[1]);
}

tensor *op_softmax(tape *tp, tensor *x)
{
    int C = tensor_cols(x);
    int N = as_int("op_softmax", tensor_rows(x));
    device_kind dev = DEV("op_softmax", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL(dev, softmax_forward)(out->data, x->data, N, C);
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
#if HAVE_CUDA
    /* the loss's gradient stays on the device */
    if (nd->out->device == DEV_CUDA) {   /* saved[0]: each row's log-sum-exp */
        cuda_softmax_xent_backward(grad_of(nd->in[0]), nd->in[0]->data, nd->saved[0], nd->saved[1],
                                   (int)nd->iarg[0], (int)nd->iarg[1], (int)nd->iarg[2], (int)nd->iarg[3],
                                   nd->out->grad);
        return;
    }
#endif
    softmax_xent_backward(grad_of(nd->in[0]), nd->saved[0], nd->saved[1], (int)nd->iarg[0],
                          (int)nd->iarg[1], (int)nd->iarg[2], (int)nd->iarg[3], nd->out->grad[0]);
}

/* The losses' targets: each one a class 0..V-1 or `ignore` (anything else is a bug upstream,
 * fatal naming the op); returns how many rows count. */
static int counted_targets(const char *op, const int *targets, int N, int V, int ignore)
{
    int count = 0;
    for (int i = 0; i < N; i++) {
        if (targets[i] == ignore)
            continue;
        if (targets[i] < 0 || targets[i] >= V)
            fatal("internal: %s target %d at row %d outside the classes 0..%d", op, targets[i], i, V - 1);
        count++;
    }
    return count;
}

tensor *op_softmax_xent(tape *tp, tensor *logits, const int *targets, int ignore)
{
    int V = tensor_cols(logits);
    int N = as_int("op_softmax_xent", tensor_rows(logits));
    int count = counted_targets("op_softmax_xent", targets, N, V, ignore);
    device_kind dev = DEV("op_softmax_xent", logits);
    /* saved for the backward pass: the probabilities on the CPU, each row's log-sum-exp on the GPU
     * (which recomputes them from the logits rather than keep [N, V] more numbers) */
    real *kept = tape_alloc_data(tp, (dev == DEV_CPU ? logits->n : (size_t)N) * sizeof *kept);
    tensor *out = scalar_out(tp);
    const int *ktargets = targets;
#if HAVE_CUDA
    if (dev == DEV_CUDA) {
        /* The host counted the rows from its own targets; the GPU writes the loss into pinned
         * memory, and this wait is the one read-back of a training step. */
        ktargets = ints_on(tp, targets, (size_t)N);
        cuda_softmax_xent_forward(out->data, kept, logits->data, ktargets, N, V, ignore, count);
        device_sync(dev);
    }
#endif
    if (dev == DEV_CPU)
        out->data[0] = (real)softmax_xent_forward(kept, logits->data, targets, N, V, ignore, &count);
    tape_node *nd = tape_record(tp, softmax_xent_op_backward, out, 1, &logits);
    if (nd) {
        nd->saved[0] = kept;
        nd->saved[1] = dev == DEV_CPU ? ints_on(tp, targets, (size_t)N) : (int *)ktargets;
        nd->iarg[0] = N;
        nd->iarg[1] = V;
        nd->iarg[2] = ignore;
        nd->iarg[3] = count;
    }
    return out;
}

/* ---- the head and its loss, fused -------------------------------------------------------------- */

/* The forward pass computed the gradients for a loss gradient of 1 (saved[0]: x's, saved[1]: w's);
 * the loss's gradient scales them (1 in a training step: exact). */
static void linear_xent_op_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *w = nd->in[1];
    const real *dloss = nd->out->grad;
#if HAVE_CUDA
    if (nd->out->device == DEV_CUDA) {   /* the loss's gradient stays on the device */
        if (nd->saved[0])
            cuda_accumulate_dev(grad_of(x), nd->saved[0], dloss, x->n);
        if (nd->saved[1])
            cuda_accumulate_dev(grad_of(w), nd->saved[1], dloss, w->n);
        return;
    }
#endif
    if (nd->saved[0])
        accumulate(grad_of(x), nd->saved[0], dloss[0], x->n);
    if (nd->saved[1])
        accumulate(grad_of(w), nd->saved[1], dloss[0], w->n);
}

tensor *op_linear_xent(tape *tp, tensor *x, tensor *w, real scale, const int *targets, int ignore)
{
    char sx[SHAPE_STR], sw[SHAPE_STR];
    if (w->ndim != 2 || tensor_cols(x) != w->shape[1])
        fatal("internal: op_linear_xent x %s vs w %s", tensor_shape_str(x, sx, sizeof sx),
              tensor_shape_str(w, sw, sizeof sw));
    const int C = w->shape[1], V = w->shape[0];
    const int N = as_int("op_linear_xent", tensor_rows(x));
    int count = counted_targets("op_linear_xent", targets, N, V, ignore);
    device_kind dev = DEV("op_linear_xent", x, w);
    tensor *in[2] = {x, w};
    /* the gradients are computed now, chunk by chunk, for the inputs that will want them */
    const int record = tape_will_record(tp, 2, in);
    real *dx = record && x->requires_grad ? tape_alloc_data(tp, x->n * sizeof *dx) : NULL;
    real *dw = record && w->requires_grad ? tape_alloc_data(tp, w->n * sizeof *dw) : NULL;
    tensor *out = scalar_out(tp);
#if HAVE_CUDA
    if (dev == DEV_CUDA) {
        const int *dtargets = ints_on(tp, targets, (size_t)N);
        const int R = cuda_linear_xent_chunk_rows(N, V);
        void *work = tape_alloc_data(tp, cuda_linear_xent_work(N, C, V, R, tp->bf16));
        cuda_linear_xent_forward(out->data, dx, dw, x->data, tp->bf16 ? x->bf16 : NULL, w->data, scale, dtargets,
                                 N, C, V, ignore, count, tp->bf16, R, work);
        device_sync(dev);   /* the host reads the loss: the step's one wait */
    }
#endif
    if (dev == DEV_CPU) {
        const int R = linear_xent_chunk_rows(N, V);
        real *work = tape_alloc_data(tp, 2 * (size_t)R * V * sizeof *work);
        out->data[0] = (real)linear_xent_forward(dx, dw, x->data, w->data, scale, targets, N, C, V, ignore,
                                                 &count, R, work);
    }
    tape_node *nd = tape_record(tp, linear_xent_op_backward, out, 2, in);
    if (nd) {
        nd->saved[0] = dx;
        nd->saved[1] = dw;
    }
    return out;
}

static void mse_op_backward(tape *tp, tape_node *nd)
{
    tensor *pred = nd->in[0];
#if HAVE_CUDA
    if (pred->device == DEV_CUDA) {
        cuda_mse_backward(grad_of(pred), pred->data, nd->saved[0], pred->n, (real)nd->farg[0], nd->out->grad);
        return;
    }
#endif
    mse_backward(grad_of(pred), pred->data, nd->saved[0], pred->n, (real)nd->farg[0], nd->out->grad[0]);
}

tensor *op_mse(tape *tp, tensor *pred, tensor *target, real clip)
{
    check_same_shape("op_mse", pred, target);
    device_kind dev = DEV("op_mse", pred, target);
    tensor *out = scalar_out(tp);
#if HAVE_CUDA
    if (dev == DEV_CUDA) {
        cuda_mse_forward(out->data, pred->data, target->data, pred->n, clip);
        device_sync(dev);   /* the host reads the loss */
    }
#endif
    if (dev == DEV_CPU)
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
    KERNEL_SEQ(nd->out->device, rownorm_backward)(grad_of(nd->in[0]), nd->out->grad, nd->out->data, nd->saved[0],
                                                  (int)nd->iarg[0], (int)nd->iarg[1], ROWNORM_EPS,
                                                  grad_first_write(nd->in[0]));
}

tensor *op_rownorm(tape *tp, tensor *x, int group)
{
    char sx[SHAPE_STR];
    if (group < 1 || tensor_cols(x) % group != 0)
        fatal("internal: op_rownorm groups of %d in %s", group, tensor_shape_str(x, sx, sizeof sx));
    int N = as_int("op_rownorm", x->n / (size_t)group);
    device_kind dev = DEV("op_rownorm", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    real *norm = tape_alloc_data(tp, (size_t)N * sizeof *norm);
    KERNEL_SEQ(dev, rownorm_forward)(out->data, norm, x->data, N, group, ROWNORM_EPS);
    tape_node *nd = tape_record(tp, rownorm_op_backward, out, 1, &x);
    if (nd) {
        nd->assigns = 1;
        nd->saved[0] = norm;
        nd->iarg[0] = N;
        nd->iarg[1] = group;
    }
    return out;
}

static void exp_scale_op_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *p = nd->in[1];
    KERNEL_SEQ(x->device, exp_scale_backward)(grad_of(x), grad_of(p), nd->out->grad, x->data, p->data,
                                              (int)nd->iarg[0], (int)nd->iarg[1], (int)nd->iarg[2], (real)nd->farg[0],
                                              grad_first_write(x));
}

/* x's rows N, each G groups of D columns, one group per element of p (a scale per group). */
static void scale_groups(const char *op, const tensor *x, const tensor *p, int *N, int *G, int *D)
{
    char sx[SHAPE_STR], sp[SHAPE_STR];
    *G = as_int(op, p->n);
    if (*G < 1 || tensor_cols(x) % *G != 0)
        fatal("internal: %s x %s vs p %s", op, tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(p, sp, sizeof sp));
    *D = tensor_cols(x) / *G;
    *N = as_int(op, tensor_rows(x));
}

tensor *op_exp_scale(tape *tp, tensor *x, tensor *p, real cap)
{
    int N, G, D;
    scale_groups("op_exp_scale", x, p, &N, &G, &D);
    device_kind dev = DEV("op_exp_scale", x, p);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    KERNEL_SEQ(dev, exp_scale_forward)(out->data, x->data, p->data, N, G, D, cap);
    tensor *in[2] = {x, p};
    tape_node *nd = tape_record(tp, exp_scale_op_backward, out, 2, in);
    if (nd) {
        nd->assigns = 1;   /* x's gradient; p's adds */
        nd->iarg[0] = N;
        nd->iarg[1] = G;
        nd->iarg[2] = D;
        nd->farg[0] = cap;
    }
    return out;
}

/* saved[0]: the rows' norms; saved[1]: the rows' dots for p's gradient (when p wants one). */
static void rownorm_scale_op_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0], *p = nd->in[1];
    KERNEL_SEQ(x->device, rownorm_scale_backward)(grad_of(x), grad_of(p), nd->saved[1], nd->out->grad,
                                                  nd->out->data, nd->saved[0], p->data, (int)nd->iarg[0],
                                                  (int)nd->iarg[1], (int)nd->iarg[2], ROWNORM_EPS,
                                                  (real)nd->farg[0], grad_first_write(x));
}

tensor *op_rownorm_scale(tape *tp, tensor *x, tensor *p, real cap)
{
    int N, G, D;
    scale_groups("op_rownorm_scale", x, p, &N, &G, &D);
    device_kind dev = DEV("op_rownorm_scale", x, p);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    real *norm = tape_alloc_data(tp, (size_t)N * G * sizeof *norm);
    KERNEL_SEQ(dev, rownorm_scale_forward)(out->data, norm, x->data, p->data, N, G, D, ROWNORM_EPS, cap);
    tensor *in[2] = {x, p};
    tape_node *nd = tape_record(tp, rownorm_scale_op_backward, out, 2, in);
    if (nd) {
        nd->assigns = 1;   /* x's gradient; p's adds */
        nd->saved[0] = norm;
        nd->saved[1] = p->requires_grad ? tape_alloc_data(tp, (size_t)N * G * sizeof(real)) : NULL;
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
    KERNEL(x->device, mul_backward)(grad_of(x), NULL, nd->out->grad, x->data, nd->saved[0], x->n);
}

tensor *op_dropout(tape *tp, tensor *x, real p, rng *r)
{
    if (!tp->training || p == 0)
        return x;
    if (!(p > 0 && p < 1))
        fatal("internal: op_dropout probability %g outside [0, 1)", (double)p);
    device_kind dev = DEV("op_dropout", x);
    tensor *out = tape_tensor(tp, x->ndim, x->shape);
    real *mask = tape_alloc_data(tp, x->n * sizeof *mask);
#if HAVE_CUDA
    /* One draw of the stream keys the whole call: the counter-based mask of element i is then a
     * function of (seed, step, tensor) through the key and of i, whatever the launch order. */
    if (dev == DEV_CUDA)
        cuda_dropout_forward(out->data, mask, x->data, x->n, p, rng_next(r));
#endif
    if (dev == DEV_CPU)
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

/* sum and mean (iarg[0] = 1): dx += dout, or dout / n. */
static void sum_backward(tape *tp, tape_node *nd)
{
    tensor *x = nd->in[0];
    int mean = (int)nd->iarg[0];
#if HAVE_CUDA
    if (x->device == DEV_CUDA) {
        cuda_fill_add(grad_of(x), nd->out->grad, mean ? (real)(1.0 / (double)x->n) : 1, x->n);
        return;
    }
#endif
    fill_add(grad_of(x), mean ? nd->out->grad[0] / (real)x->n : nd->out->grad[0], x->n);
}

static tensor *sum_op(tape *tp, const char *op, tensor *x, int mean)
{
    device_kind dev = DEV(op, x);
    tensor *out = scalar_out(tp);
#if HAVE_CUDA
    if (dev == DEV_CUDA) {
        cuda_sum(out->data, x->data, x->n, mean ? 1.0 / (double)x->n : 1.0);
        device_sync(dev);   /* scalars are read by the host (losses) */
    }
#endif
    if (dev == DEV_CPU)
        out->data[0] = (real)(mean ? sum_all(x->data, x->n) / (double)x->n : sum_all(x->data, x->n));
    tape_node *nd = tape_record(tp, sum_backward, out, 1, &x);
    if (nd)
        nd->iarg[0] = mean;
    return out;
}

tensor *op_sum(tape *tp, tensor *x) { return sum_op(tp, "op_sum", x, 0); }
tensor *op_mean(tape *tp, tensor *x) { return sum_op(tp, "op_mean", x, 1); }

/* ---- shapes ---------------------------------------------------------------------------------- */

static void reshape_backward(tape *tp, tape_node *nd)
{
    if (!grad_move(nd->in[0], nd->out))
        grad_add_scaled(nd->in[0], nd->out->grad, 1, nd->out->n, nd->out->device);
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
    tape_node *nd = tape_record(tp, reshape_backward, out, 1, &x);
    if (nd)
        nd->assigns = 1;
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
    KERNEL(a->device, concat_backward)(grad_of(a), grad_of(b), nd->out->grad, (size_t)nd->iarg[0], (size_t)nd->iarg[1],
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
    device_kind dev = DEV("op_concat", a, b);
    tensor *out = tape_tensor(tp, a->ndim, shape);
    KERNEL(dev, concat_forward)(out->data, a->data, b->data, outer, inner_a, inner_b);
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
    KERNEL(nd->out->device, slice_backward)(grad_of(nd->in[0]), nd->out->grad, (size_t)nd->iarg[0], (size_t)nd->iarg[1],
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
    device_kind dev = DEV("op_slice", x);
    tensor *out = tape_tensor(tp, x->ndim, shape);
    KERNEL(dev, slice_forward)(out->data, x->data, outer, inner, el_start, el_len);
    tape_node *nd = tape_record(tp, slice_op_backward, out, 1, &x);
    if (nd) {
        nd->iarg[0] = (long long)outer;
        nd->iarg[1] = (long long)inner;
        nd->iarg[2] = (long long)el_start;
        nd->iarg[3] = (long long)el_len;
    }
    return out;
}
