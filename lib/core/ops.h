/* Ops: the tape-recording layer over kernels.h. Each op checks its shapes (a mismatch is a bug:
 * fatal with both shapes), computes its output in the tape's arena, and records a node whose
 * backward calls the kernel's backward. Models are written with these calls only. */
#ifndef MEMLAB_OPS_H
#define MEMLAB_OPS_H

#include "core/kernels.h"
#include "core/rng.h"
#include "core/tape.h"

/* ---- dense: ops_dense.c ----------------------------------------------------------------------- */
/* x[..., C] . w[OC, C]^T + b[OC] -> [..., OC]; b may be NULL. */
tensor *op_linear(tape *tp, tensor *x, tensor *w, tensor *b);
/* op_linear; on the GPU under --dtype bf16 the output is written in bf16 only (tensor.bf16, data
 * NULL), and its gradient read in bf16 where its reader writes it so: for an output with one reader,
 * which takes that copy (op_attention_qkv; ops_dense.c). */
tensor *op_linear_bf16_out(tape *tp, tensor *x, tensor *w, tensor *b);
tensor *op_add(tape *tp, tensor *a, tensor *b);          /* same shape */
/* op_add(res, op_linear(x, w, b)), res [..., OC] with x's rows, with the same bits; one op on the CPU
 * (no copy of the gradient) and on the GPU under --dtype bf16 (one product that adds res in its
 * epilogue); ops_dense.c. */
tensor *op_linear_residual(tape *tp, tensor *res, tensor *x, tensor *w, tensor *b);
tensor *op_scale(tape *tp, tensor *x, real s);
tensor *op_mul(tape *tp, tensor *a, tensor *b);          /* elementwise, same shape */
/* ids[N] (N = B*T, copied) rows of table[V, C] -> [B, T, C]; an id outside 0..V-1 is fatal. */
tensor *op_embedding(tape *tp, const int *ids, int B, int T, tensor *table);
/* LayerNorm over the last dim; b may be NULL (weight-only LayerNorm). */
tensor *op_layernorm(tape *tp, tensor *x, tensor *w, tensor *b, real eps);
/* op_layernorm; on the GPU under --dtype bf16 the output in bf16 only (data NULL) and its gradient
 * read in bf16 where its reader writes it so: the output must have one reader, a linear. */
tensor *op_layernorm_bf16_out(tape *tp, tensor *x, tensor *w, tensor *b, real eps);
tensor *op_gelu(tape *tp, tensor *x);                    /* tanh approximation (GPT-2) */
tensor *op_gelu_erf(tape *tp, tensor *x);                /* exact, x Phi(x) (nn.GELU()) */
/* op_gelu_erf(op_linear(x, w, b)); on the GPU under --dtype bf16 one op that keeps the pre-activation,
 * the output and both their gradients in bf16 only (ops_dense.c): its output must have one reader, a
 * linear. */
tensor *op_linear_gelu_erf(tape *tp, tensor *x, tensor *w, tensor *b);
tensor *op_relu(tape *tp, tensor *x);
tensor *op_tanh(tape *tp, tensor *x);
tensor *op_sigmoid(tape *tp, tensor *x);
tensor *op_softmax(tape *tp, tensor *x);                 /* over the last dim */
/* Scalar mean cross-entropy of logits[..., V] against targets (one per row, copied); rows whose
 * target is `ignore` are left out; a target outside 0..V-1 (other than ignore) is fatal. */
tensor *op_softmax_xent(tape *tp, tensor *logits, const int *targets, int ignore);
/* op_softmax_xent(scale * op_linear(x, w, no bias)) in one op that never holds the [N, V] logits: the
 * language model's head and its training loss (kernels.h linear_xent_forward; on the GPU in chunks
 * too). Its gradients are computed in the forward pass, for the inputs that need one. */
tensor *op_linear_xent(tape *tp, tensor *x, tensor *w, real scale, const int *targets, int ignore);
/* Scalar mean of clip(pred - target)^2 (clip <= 0: plain MSE); target receives no gradient. */
tensor *op_mse(tape *tp, tensor *pred, tensor *target, real clip);
/* Each consecutive group of `group` elements divided by its norm (max(||x||, 1e-12)):
 * group = head size normalises per head. */
tensor *op_rownorm(tape *tp, tensor *x, int group);
/* x[..., G*D] * exp(min(p[g], cap)) per group g of the last dim; G = p->n. */
tensor *op_exp_scale(tape *tp, tensor *x, tensor *p, real cap);
/* op_exp_scale(op_rownorm(x, D), p, cap) with D = x's columns / p's n, in one op: one pass over
 * memory each way instead of two, and one [rows, cols] tensor kept instead of two. */
tensor *op_rownorm_scale(tape *tp, tensor *x, tensor *p, real cap);
/* Inverted dropout when tp->training and p > 0, else x itself. */
tensor *op_dropout(tape *tp, tensor *x, real p, rng *r);
tensor *op_sum(tape *tp, tensor *x);                     /* scalar */
tensor *op_mean(tape *tp, tensor *x);                    /* scalar */
/* Same data, new shape of the same size; gradient flows back. */
tensor *op_reshape(tape *tp, tensor *x, int ndim, const int *shape);
/* Along `axis` (0-based; negative counts from the end); other extents must agree. */
tensor *op_concat(tape *tp, tensor *a, tensor *b, int axis);
tensor *op_slice(tape *tp, tensor *x, int axis, int start, int len);

/* ---- sequence: ops_seq.c ---------------------------------------------------------------------- */
/* q[B,Tq,C], k/v [B,Tk,C] (or [Tk,C]: shared by the whole batch, e.g. persistent-memory tables),
 * C = H * hs -> [B,Tq,C]. */
tensor *op_attention(tape *tp, tensor *q, tensor *k, tensor *v, int H, att_mask mask, real scale);
/* The same with ALiBi: the logits of head h get -m_h (t - u) added, m_h the paper's slopes
 * (alibi_slopes); queries are the last Tq of Tk positions as for every mask. */
tensor *op_attention_alibi(tape *tp, tensor *q, tensor *k, tensor *v, int H, att_mask mask, real scale);
/* Self-attention of the column thirds q | k | v of qkv[B,T,3C] (a fused projection, as nanoGPT's
 * c_attn), with ALiBi when alibi is 1: op_attention of the three slices, without copying them on the
 * CPU (the kernels read qkv in place and write its gradient). On the GPU under --dtype bf16 the
 * output's gradient is read in bf16 where its reader writes it so: its output must have one reader,
 * a linear (ops_seq.c). */
tensor *op_attention_qkv(tape *tp, tensor *qkv, int H, att_mask mask, real scale, int alibi);
/* Rotary position embedding (ops_rope.c): x[B,T,H*hs] (hs even) at positions pos0 .. pos0+T-1 ->
 * each head's pairs (i, i + hs/2) rotated by position * 10000^(-2i/hs). pos0 > 0 rotates the new
 * tokens of a cached generation step. */
tensor *op_rope(tape *tp, tensor *x, int H, int pos0);
/* x[B,T,H*hs], theta[H] -> leaky average over time. */
tensor *op_leaky_avg(tape *tp, tensor *x, tensor *theta);
/* x[B,T,H*hs], c[H] -> c*x_t + (1-c)*x_{t+1}. */
tensor *op_lookahead_mix(tape *tp, tensor *x, tensor *c);
/* x[B,T,C] -> out_t = x_{t+k}, zero outside. */
tensor *op_time_shift(tape *tp, tensor *x, int k);
/* p[2,n,n] -> W[2n,2n] complex-structured real matrix. */
tensor *op_complex_matrix(tape *tp, tensor *p);
/* LSTM recurrence (ops_lstm.c): xproj[B,T,4H] (x_t W_ih^T + b for every step), w_hh[4H,H] ->
 * h[B,T,H]; gate order i, f, g, o as torch.nn.LSTM, zero initial state. */
tensor *op_lstm(tape *tp, tensor *xproj, tensor *w_hh);

#endif
