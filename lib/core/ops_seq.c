/* Sequence ops: attention, the leaky average, the look-ahead mix, the time shift and the
 * complex-structured matrix, each a shape check, a forward kernel and a recorded backward. On the
 * GPU (core/dispatch.h) attention is the fused kernel, which keeps each row's log-sum-exp for its
 * backward pass in place of the probabilities; time shift and the complex matrix are CPU-only. */
#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops.h"

__attribute__((noreturn)) static void shape_fatal(const char *op, const char *what, const tensor *a, const tensor *b)
{
    char sa[64], sb[64];
    if (b)
        fatal("internal: %s: %s (%s and %s)", op, what, tensor_shape_str(a, sa, sizeof sa),
              tensor_shape_str(b, sb, sizeof sb));
    fatal("internal: %s: %s (%s)", op, what, tensor_shape_str(a, sa, sizeof sa));
}

static real *grad_of(tensor *t) { return needs_grad(t) ? t->grad : NULL; }

/* ---- attention ------------------------------------------------------------------------------ */

/* Where an attention op's q, k, v are (indices 0, 1, 2): a tensor each, or one fused [B, T, 3C]
 * tensor for all three (op_attention_qkv), at column offsets. Nodes on either device keep it:
 * the tensors in in[0..2] (in[0] alone when fused), iarg[0] = fused, iarg[1..3] the offsets. */
typedef struct {
    tensor *t[3];
    size_t off[3];
    int fused;
} att_operands;

static att_operands att_operands_of(tensor *const *in, int n_in, size_t oq, size_t ok, size_t ov)
{
    const int fused = n_in == 1;
    return (att_operands){{in[0], fused ? in[0] : in[1], fused ? in[0] : in[2]}, {oq, ok, ov}, fused};
}

static att_operands att_node_operands(const tape_node *node)
{
    return att_operands_of(node->in, node->iarg[0] ? 1 : 3, (size_t)node->iarg[1], (size_t)node->iarg[2],
                           (size_t)node->iarg[3]);
}

static void att_node_keep(tape_node *node, const att_operands *o)
{
    node->iarg[0] = o->fused;
    for (int i = 0; i < 3; i++)
        node->iarg[1 + i] = (long long)o->off[i];
}

/* The node's name in MEMLAB_PROFILE's table (docs/profiling.md): the mosaic's two memories apart
 * ("attention_shared": a table shared by the batch, its persistent memory; "attention_strict": its
 * context memory) and apart from the gpt's self-attention ("attention"). */
static const char *attention_profile_name(const att_dims *d)
{
    if (d->bsk == 0)
        return "attention_shared_bwd";
    return d->mask.kind == ATT_STRICT ? "attention_strict_bwd" : "attention_bwd";
}

static real *att_data(const att_operands *o, int i) { return o->t[i]->data + o->off[i]; }

static real *att_grad(const att_operands *o, int i)
{
    real *g = grad_of(o->t[i]);
    return g ? g + o->off[i] : NULL;
}

/* The CPU node keeps, from the stored-probabilities kernel, the probabilities in saved[0]; the
 * flash kernel keeps nothing (saved[0] NULL). */
static void attention_bwd_cpu(tape *tp, tape_node *node)
{
    const att_dims *d = node->saved[1];
    const att_operands o = att_node_operands(node);
    real *dq = att_grad(&o, 0), *dk = att_grad(&o, 1), *dv = att_grad(&o, 2);
    const real *qd = att_data(&o, 0), *kd = att_data(&o, 1), *vd = att_data(&o, 2);
    if (!node->saved[0]) {
        attention_backward_flash(dq, dk, dv, node->out->grad, qd, kd, vd, d);
        return;
    }
    real *scratch = tape_alloc(tp, attention_scratch_size(d) * sizeof(real));
    attention_backward(dq, dk, dv, scratch, node->out->grad, qd, kd, vd, node->saved[0], d);
}

#if HAVE_CUDA_SEQ
/* --dtype bf16 converts the operand tensors whole, in their own layout, one after another into one
 * buffer (a fused tensor once): where operand i's tensor starts in it, and operand i itself. */
static size_t att_bf16_start(const att_operands *o, int i)
{
    size_t at = 0;
    for (int j = 0; !o->fused && j < i; j++)
        at += o->t[j]->n;
    return at;
}

static const unsigned short *att_bf16(const att_operands *o, const unsigned short *buf, int i)
{
    return buf + att_bf16_start(o, i) + o->off[i];
}
#endif

static void attention_bwd(tape *tp, tape_node *node)
{
#if HAVE_CUDA_SEQ
    if (node->in[0]->device == DEV_CUDA) {   /* lse in saved[0], the bf16 operands in saved[2] */
        const att_dims *d = node->saved[1];
        const att_operands o = att_node_operands(node);
        real *dq = att_grad(&o, 0), *dk = att_grad(&o, 1), *dv = att_grad(&o, 2);
        real *scr = tape_alloc_data(tp, cuda_attention_scratch_size(d) * sizeof(real));
        if (node->saved[2]) {
            const unsigned short *b = node->saved[2];
            const tensor *out = node->out;
            const unsigned short *doutb = (const unsigned short *)out->grad;   /* the next linear wrote it in bf16 */
            if (!out->grad_is16) {
                unsigned short *conv = tape_alloc_data(tp, out->n * sizeof *conv);
                cuda_to_bf16(conv, out->grad, out->n);
                doutb = conv;
            }
            /* q|k|v's producer reads their gradient in bf16: stored so, each element once */
            unsigned short *g16 = o.fused ? grad16_first_write(o.t[0]) : NULL;
            if (g16) {
                cuda_attention_backward_bf16_g16(g16 + o.off[0], g16 + o.off[1], g16 + o.off[2], scr, doutb,
                                                 att_bf16(&o, b, 0), att_bf16(&o, b, 1), att_bf16(&o, b, 2),
                                                 out->data, out->bf16, node->saved[0], d);
                return;
            }
            if (!out->data) {   /* the bf16 output alone: q|k|v's gradient is wanted in bf16 or not at all */
                if (dq || dk || dv)
                    fatal("internal: attention's bf16-only output with its q|k|v gradient wanted in fp32");
                return;
            }
            cuda_attention_backward_bf16(dq, dk, dv, scr, doutb, att_bf16(&o, b, 0), att_bf16(&o, b, 1),
                                         att_bf16(&o, b, 2), out->data, node->saved[0], d);
            return;
        }
        cuda_attention_backward(dq, dk, dv, scr, node->out->grad, att_data(&o, 0), att_data(&o, 1),
                                att_data(&o, 2), node->out->data, node->saved[0], d);
        return;
    }
#endif
    attention_bwd_cpu(tp, node);
}

#if HAVE_CUDA_SEQ
static tensor *attention_cuda(tape *tp, tensor *const *in, int n_in, size_t oq, size_t ok, size_t ov,
                              const att_dims *d);
#endif

/* The kernel that keeps no probabilities serves every CPU call it supports (per-sequence keys, head
 * sizes of the products path) except where the probabilities are wanted (an attention observer)
 * and the mosaic's strict mask, whose context memory keeps the stored-probabilities kernel
 * (docs/models.md, "Attention kernels"). */
static int attention_flash(const tape *tp, const att_dims *d)
{
    return !tp->att_observer && d->mask.kind != ATT_STRICT && attention_flash_supports(d);
}

/* The mosaic's persistent memory comes as one long sequence per head (the batch as one row of
 * queries against the shared table, lib/nn/mosaic.c): as such its H units, run one after another
 * with each product tiled over the pool, leave most of 16 cores waiting between products
 * (benchmarks/NOTES.md §22). Under a full mask without ALiBi the rows are independent, so the CPU
 * kernels see it as ATT_ROW_SPLITS sequences of equal length (the same memory: the queries' and the
 * outputs' batch strides are one part's rows), whose (sequence, head) units run in parallel and
 * whose table gradients go through the batch ranges' partial tables. A fixed number, so the bits do
 * not depend on the threads; not where an observer reads the probabilities as [1, H, Tq, Tk]. */
#define ATT_ROW_SPLITS 8

static const att_dims *attention_cpu_dims(tape *tp, const att_dims *d)
{
    if (tp->att_observer || d->B != 1 || d->bsk != 0 || d->bsv != 0 || d->mask.kind != ATT_FULL || d->alibi ||
        d->Tq % ATT_ROW_SPLITS != 0 || d->Tq / ATT_ROW_SPLITS < 64)
        return d;
    att_dims *s = tape_alloc(tp, sizeof *s);
    *s = *d;
    s->B = ATT_ROW_SPLITS;
    s->Tq = d->Tq / ATT_ROW_SPLITS;
    s->bsq = (size_t)s->Tq * d->ldq;
    s->bso = (size_t)s->Tq * d->ldo;
    return s;
}

/* The CPU forward pass on q, k, v at column offsets oq, ok, ov of the input tensors in[0..n_in)
 * (one fused tensor or three). */
static tensor *attention_cpu(tape *tp, tensor *const *in, int n_in, size_t oq, size_t ok, size_t ov,
                             const att_dims *d)
{
    tensor *out = tape_tensor(tp, 3, (int[]){d->B, d->Tq, d->H * d->hs});
    d = attention_cpu_dims(tp, d);
    const int B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk;
    const att_operands o = att_operands_of(in, n_in, oq, ok, ov);
    const real *q = att_data(&o, 0), *k = att_data(&o, 1), *v = att_data(&o, 2);
    real *att = NULL;
    if (attention_flash(tp, d)) {
        attention_forward_flash(out->data, q, k, v, d);
    } else {
        att = tape_alloc(tp, (size_t)B * H * Tq * Tk * sizeof(real));
        attention_forward(out->data, att, q, k, v, d);
        if (tp->att_observer)
            tp->att_observer(tp->att_observer_ctx, att, B, H, Tq, Tk, d->bsk != 0);
    }
    tape_node *node = tape_record_op(tp, attention_bwd, attention_profile_name(d), out, n_in, in);
    if (node) {
        node->saved[0] = att;
        node->saved[1] = (void *)d;
        att_node_keep(node, &o);
    }
    return out;
}

/* The dimensions of H heads over [B, Tq, C] queries and Tk keys (shared: one table for the batch),
 * every operand with row stride ld; ALiBi's slopes when asked for, on the device dev. */
static att_dims *attention_dims(tape *tp, device_kind dev, int B, int Tq, int Tk, int C, int ld, int H, int shared,
                                att_mask mask, real scale, int alibi)
{
    att_dims *d = tape_alloc(tp, sizeof *d);
    *d = (att_dims){
        .B = B, .Tq = Tq, .Tk = Tk, .H = H, .hs = C / H,
        .ldq = ld, .ldk = ld, .ldv = ld, .ldo = C,
        .bsq = (size_t)Tq * ld, .bsk = shared ? 0 : (size_t)Tk * ld,
        .bsv = shared ? 0 : (size_t)Tk * ld, .bso = (size_t)Tq * C,
        .mask = mask, .scale = scale,
    };
    if (alibi) {
        real *slopes = tape_alloc(tp, (size_t)H * sizeof(real));
        alibi_slopes(slopes, H);
        d->alibi = slopes;
        if (dev != DEV_CPU) {   /* the kernel reads them on the device */
            real *ds = tape_alloc_data(tp, (size_t)H * sizeof(real));
            mem_copy(ds, device_mem(dev), slopes, MEM_HOST, (size_t)H * sizeof(real));
            d->alibi = ds;
        }
    }
    return d;
}

static void check_heads_and_mask(const char *op, int C, int H, att_mask mask)
{
    if (H < 1 || C % H != 0)
        fatal("internal: %s: width %d is not divisible into %d heads", op, C, H);
    if (mask.kind != ATT_CAUSAL && mask.kind != ATT_STRICT && mask.kind != ATT_FULL && mask.kind != ATT_BLOCK)
        fatal("internal: %s: unknown mask kind %d", op, (int)mask.kind);
    if (mask.kind == ATT_BLOCK && mask.block < 1)
        fatal("internal: %s: block mask of %d positions", op, mask.block);
}

static tensor *attention_op(const char *op, tape *tp, tensor *q, tensor *k, tensor *v, int H, att_mask mask,
                            real scale, int alibi)
{
    if (q->ndim != 3)
        shape_fatal(op, "q must be [B,Tq,C]", q, NULL);
    if (k->ndim != 3 && k->ndim != 2)
        shape_fatal(op, "k must be [B,Tk,C] or [Tk,C]", k, NULL);
    if (!tensor_same_shape(k, v))
        shape_fatal(op, "k and v differ", k, v);
    const int B = q->shape[0], Tq = q->shape[1], C = q->shape[2];
    const int shared = k->ndim == 2;
    const int Tk = k->shape[k->ndim - 2];
    if (k->shape[k->ndim - 1] != C || (!shared && k->shape[0] != B))
        shape_fatal(op, "q and k do not match", q, k);
    check_heads_and_mask(op, C, H, mask);
    device_kind dev = op_device(op, tp->device, 3, (tensor *[]){q, k, v});
    att_dims *d = attention_dims(tp, dev, B, Tq, Tk, C, C, H, shared, mask, scale, alibi);
#if HAVE_CUDA_SEQ
    if (dev == DEV_CUDA)
        return attention_cuda(tp, (tensor *[]){q, k, v}, 3, 0, 0, 0, d);
#endif
    op_cpu_only(op, dev);
    return attention_cpu(tp, (tensor *[]){q, k, v}, 3, 0, 0, 0, d);
}

#if HAVE_CUDA_SEQ
/* The GPU forward pass on the same layout as attention_cpu (q, k, v at column offsets of one fused
 * tensor or of three): the fused kernel saves lse[B,H,Tq]; the attention observer, when set, gets
 * probabilities that an extra kernel recomputes from it and that are copied to the host. In bf16
 * the operand tensors are converted whole, in their own layout, so the offsets and strides hold. */
static tensor *attention_cuda(tape *tp, tensor *const *in, int n_in, size_t oq, size_t ok, size_t ov,
                              const att_dims *d)
{
    const int B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk;
    const att_operands o = att_operands_of(in, n_in, oq, ok, ov);
    /* op_attention_qkv under --dtype bf16 on q|k|v held in bf16 alone (op_linear_bf16_out): the
     * output in bf16 alone too, read by one linear; the backward's D takes that form (as autocast
     * keeps the output) */
    const int only16 = tp->bf16 && o.fused && o.t[0]->bf16 && !o.t[0]->data;
    tensor *out = only16 ? tape_tensor16(tp, 3, (int[]){B, Tq, H * d->hs}) : tape_tensor(tp, 3, (int[]){B, Tq, H * d->hs});
    real *lse = tape_alloc_data(tp, (size_t)B * H * Tq * sizeof(real));
    unsigned short *opb = NULL;
    if (tp->bf16 && o.fused && o.t[0]->bf16) {   /* q|k|v's producer wrote them in bf16 (op_linear_bf16_out) */
        opb = o.t[0]->bf16;
    } else if (tp->bf16) {   /* --dtype bf16: operands on the tensor cores, converted as att_bf16 reads them */
        const int tensors = o.fused ? 1 : 3;
        opb = tape_alloc_data(tp, (att_bf16_start(&o, tensors - 1) + o.t[tensors - 1]->n) * sizeof *opb);
        for (int i = 0; i < tensors; i++)
            cuda_to_bf16(opb + att_bf16_start(&o, i), o.t[i]->data, o.t[i]->n);
    }
    if (opb) {
        if (!only16)
            out->bf16 = tape_bf16_copy(tp, out);
        cuda_attention_forward_bf16(out->data, out->bf16, lse, att_bf16(&o, opb, 0), att_bf16(&o, opb, 1),
                                    att_bf16(&o, opb, 2), d);
    } else {
        cuda_attention_forward(out->data, lse, att_data(&o, 0), att_data(&o, 1), att_data(&o, 2), d);
    }
    if (tp->att_observer) {   /* reads q and k in fp32: their producer must have written them so */
        if (!o.t[0]->data || !o.t[1]->data)
            fatal("internal: the attention observer needs q and k in fp32 (their producer wrote bf16 only)");
        size_t bytes = (size_t)B * H * Tq * Tk * sizeof(real);
        real *att = tape_alloc_data(tp, bytes), *host = tape_alloc(tp, bytes);
        cuda_attention_probs(att, att_data(&o, 0), att_data(&o, 1), lse, d);
        mem_copy(host, MEM_HOST, att, MEM_DEVICE, bytes);
        tp->att_observer(tp->att_observer_ctx, host, B, H, Tq, Tk, d->bsk != 0);
    }
    /* op_attention_qkv in bf16: its output has one reader, a linear, which may write the gradient
     * in bf16 (grad16_first_write) */
    if (opb && o.fused)
        out->takes_grad16 = 1;
    tape_node *node = tape_record_op(tp, attention_bwd, attention_profile_name(d), out, n_in, in);
    if (node) {
        node->saved[0] = lse;
        node->saved[1] = (void *)d;
        node->saved[2] = opb;
        att_node_keep(node, &o);
        /* q|k|v from op_linear_bf16_out: the backward stores their gradient in bf16, written once */
        node->assigns = opb && o.fused && o.t[0]->takes_grad16;
    }
    return out;
}
#endif

tensor *op_attention(tape *tp, tensor *q, tensor *k, tensor *v, int H, att_mask mask, real scale)
{
    return attention_op("op_attention", tp, q, k, v, H, mask, scale, 0);
}

tensor *op_attention_alibi(tape *tp, tensor *q, tensor *k, tensor *v, int H, att_mask mask, real scale)
{
    return attention_op("op_attention_alibi", tp, q, k, v, H, mask, scale, 1);
}

tensor *op_attention_qkv(tape *tp, tensor *qkv, int H, att_mask mask, real scale, int alibi)
{
    const char *op = "op_attention_qkv";
    if (qkv->ndim != 3 || qkv->shape[2] % 3 != 0)
        shape_fatal(op, "qkv must be [B,T,3C]", qkv, NULL);
    const int B = qkv->shape[0], T = qkv->shape[1], C = qkv->shape[2] / 3;
    check_heads_and_mask(op, C, H, mask);
    device_kind dev = op_device(op, tp->device, 1, &qkv);
    att_dims *d = attention_dims(tp, dev, B, T, T, C, 3 * C, H, 0, mask, scale, alibi);
#if HAVE_CUDA_SEQ
    if (dev == DEV_CUDA)   /* q, k, v read in place, as on the CPU: no slices copied */
        return attention_cuda(tp, &qkv, 1, 0, (size_t)C, (size_t)2 * C, d);
#endif
    op_cpu_only(op, dev);
    return attention_cpu(tp, &qkv, 1, 0, (size_t)C, (size_t)2 * C, d);
}

/* ---- per-head mixing over time -------------------------------------------------------------- */

/* x[B,T,H*hs] with one parameter per head in p (H = p->n). */
static void check_per_head(const char *op, const tensor *x, const tensor *p)
{
    if (x->ndim != 3)
        shape_fatal(op, "input must be [B,T,C]", x, NULL);
    if (x->shape[2] % (int)p->n != 0)
        shape_fatal(op, "width not divisible into one head per parameter", x, p);
}

static void leaky_avg_bwd(tape *tp, tape_node *node)
{
    tensor *x = node->in[0], *theta = node->in[1], *out = node->out;
    const int H = (int)theta->n;
    KERNEL_SEQ(x->device, leaky_avg_backward)(grad_of(x), grad_of(theta), out->grad, out->data, theta->data,
                                              x->shape[0], x->shape[1], H, x->shape[2] / H, grad_first_write(x));
}

tensor *op_leaky_avg(tape *tp, tensor *x, tensor *theta)
{
    check_per_head("op_leaky_avg", x, theta);
    const int H = (int)theta->n;
    device_kind dev = op_device("op_leaky_avg", tp->device, 2, (tensor *[]){x, theta});
    tensor *out = tape_tensor(tp, 3, x->shape);
    KERNEL_SEQ(dev, leaky_avg_forward)(out->data, x->data, theta->data, x->shape[0], x->shape[1], H, x->shape[2] / H);
    tape_node *nd = tape_record(tp, leaky_avg_bwd, out, 2, (tensor *[]){x, theta});
    if (nd)
        nd->assigns = 1;   /* x's gradient; theta's adds */
    return out;
}

static void lookahead_mix_bwd(tape *tp, tape_node *node)
{
    tensor *x = node->in[0], *c = node->in[1];
    const int H = (int)c->n;
    KERNEL_SEQ(x->device, lookahead_mix_backward)(grad_of(x), grad_of(c), node->out->grad, x->data, c->data,
                                                  x->shape[0], x->shape[1], H, x->shape[2] / H, grad_first_write(x));
}

tensor *op_lookahead_mix(tape *tp, tensor *x, tensor *c)
{
    check_per_head("op_lookahead_mix", x, c);
    const int H = (int)c->n;
    device_kind dev = op_device("op_lookahead_mix", tp->device, 2, (tensor *[]){x, c});
    tensor *out = tape_tensor(tp, 3, x->shape);
    KERNEL_SEQ(dev, lookahead_mix_forward)(out->data, x->data, c->data, x->shape[0], x->shape[1], H, x->shape[2] / H);
    tape_node *nd = tape_record(tp, lookahead_mix_bwd, out, 2, (tensor *[]){x, c});
    if (nd)
        nd->assigns = 1;   /* x's gradient; c's adds */
    return out;
}

static void time_shift_bwd(tape *tp, tape_node *node)
{
    tensor *x = node->in[0];
    time_shift_backward(grad_of(x), node->out->grad, x->shape[0], x->shape[1], x->shape[2], (int)node->iarg[0]);
}

tensor *op_time_shift(tape *tp, tensor *x, int k)
{
    if (x->ndim != 3)
        shape_fatal("op_time_shift", "input must be [B,T,C]", x, NULL);
    op_cpu_only("op_time_shift", op_device("op_time_shift", tp->device, 1, &x));
    tensor *out = tape_tensor(tp, 3, x->shape);
    time_shift_forward(out->data, x->data, x->shape[0], x->shape[1], x->shape[2], k);
    tape_node *node = tape_record(tp, time_shift_bwd, out, 1, (tensor *[]){x});
    if (node)
        node->iarg[0] = k;
    return out;
}

/* ---- complex-structured matrix -------------------------------------------------------------- */

static void complex_matrix_bwd(tape *tp, tape_node *node)
{
    tensor *p = node->in[0];
    complex_expand_backward(grad_of(p), node->out->grad, p->shape[1]);
}

tensor *op_complex_matrix(tape *tp, tensor *p)
{
    if (p->ndim != 3 || p->shape[0] != 2 || p->shape[1] != p->shape[2])
        shape_fatal("op_complex_matrix", "parameters must be [2,n,n]", p, NULL);
    op_cpu_only("op_complex_matrix", op_device("op_complex_matrix", tp->device, 1, &p));
    const int n = p->shape[1];
    tensor *W = tape_tensor(tp, 2, (int[]){2 * n, 2 * n});
    complex_expand_forward(W->data, p->data, n);
    tape_record(tp, complex_matrix_bwd, W, 1, (tensor *[]){p});
    return W;
}
