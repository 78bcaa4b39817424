/* The kernel seam: every forward/backward pair of the numerical core, as pure functions over flat
 * buffers with explicit dimensions, outputs first. Backward kernels ACCUMULATE (+=) into gradient
 * buffers, and skip any gradient pointer that is NULL. A future GPU backend replaces this file's
 * implementations, not the models.
 *
 * Threading: kernels run their loops over independent outputs on the core's pool (core/pool.h,
 * docs/threads.md; OpenMP only for `simd`), and never reduce floating-point values across chunks
 * in an order that depends on scheduling: the same thread count gives the same bits. A BLAS call
 * inside a pool loop runs on that loop's thread. */
#ifndef MEMLAB_KERNELS_H
#define MEMLAB_KERNELS_H

#include <stddef.h>

#include "core/real.h"
#include "core/rng.h"

/* ---- dense (kernels_dense.c, kernels_act.c, kernels_loss.c, kernels_shape.c) ------------------ */

/* out[N,OC] = inp[N,C] . weight[OC,C]^T + bias[OC] (bias may be NULL). PyTorch's layout. */
void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC);
/* dinp += dout . weight (store_dinp: dinp = dout . weight, its old contents never read: a gradient
 * written first, core/tape.h's grad_first_write); dweight += dout^T . inp; dbias += column sums. */
void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC, int store_dinp);

void add_forward(real *out, const real *a, const real *b, size_t n);
void scale_forward(real *out, const real *a, real s, size_t n);
/* dst += alpha * src: the backward of add and scale. */
void accumulate(real *dst, const real *src, real alpha, size_t n);
void mul_forward(real *out, const real *a, const real *b, size_t n);
void mul_backward(real *da, real *db, const real *dout, const real *a, const real *b, size_t n);

/* out[i,:] = table[ids[i],:]; ids must be in range (checked by the op). */
void embedding_forward(real *out, const int *ids, const real *table, int N, int C);
void embedding_backward(real *dtable, const real *dout, const int *ids, int N, int C);

/* Per row of C: (x - mean) * rstd * weight + bias (bias may be NULL: LayerNorm without bias;
 * mean and rstd may be NULL when no backward pass will need them). */
void layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                       const real *bias, int N, int C, real eps);
void layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                        const real *weight, const real *mean, const real *rstd, int N, int C);

/* GELU with the tanh approximation (GPT-2's). */
void gelu_forward(real *out, const real *inp, size_t n);
void gelu_backward(real *dinp, const real *dout, const real *inp, size_t n);
/* GELU, exact: x Phi(x) with the normal CDF through erfc (PyTorch's nn.GELU(), nanoGPT's). */
void gelu_erf_forward(real *out, const real *inp, size_t n);
/* store: dinp = rather than += (a gradient written first, core/tape.h's grad_first_write) */
void gelu_erf_backward(real *dinp, const real *dout, const real *inp, size_t n, int store);
void relu_forward(real *out, const real *inp, size_t n);
void relu_backward(real *dinp, const real *dout, const real *out, size_t n);
void tanh_forward(real *out, const real *inp, size_t n);
void tanh_backward(real *dinp, const real *dout, const real *out, size_t n);
void sigmoid_forward(real *out, const real *inp, size_t n);
void sigmoid_backward(real *dinp, const real *dout, const real *out, size_t n);

/* Softmax over each row of C (max-subtracted). */
void softmax_forward(real *out, const real *inp, int N, int C);
void softmax_backward(real *dinp, const real *dout, const real *out, int N, int C);

/* Mean over rows whose target != ignore of -log softmax(logits)[target]; probs[N,V] is kept for the
 * backward pass; *count receives the number of rows counted. Returns 0 when count is 0. */
double softmax_xent_forward(real *probs, const real *logits, const int *targets, int N, int V,
                            int ignore, int *count);
/* dlogits += dloss / count * (probs - onehot(target)) for counted rows. */
void softmax_xent_backward(real *dlogits, const real *probs, const int *targets, int N, int V,
                           int ignore, int count, real dloss);

/* The language model's head and its loss in one pass over chunks of R rows, in order, so that the
 * [N, V] logits, probabilities and their gradient are never held whole (docs/design.md, "The head
 * and its loss"): the loss of softmax_xent_forward(scale x w^T) (x[N,C], w[V,C]), with its gradient
 * for a loss gradient of 1 written (not added) into dx[N,C] and dw[V,C] when they are not NULL: the
 * backward pass scales them by the loss's gradient. *count gets the rows counted. work holds 2 R V
 * reals. linear_xent_chunk_rows is the op's R. */
int linear_xent_chunk_rows(int N, int V);
double linear_xent_forward(real *dx, real *dw, const real *x, const real *w, real scale, const int *targets,
                           int N, int C, int V, int ignore, int *count, int R, real *work);

/* Mean over n of clip(pred - target, -clip, clip)^2; clip <= 0 means no clipping. Errors beyond
 * the clip give zero gradient. */
double mse_forward(const real *pred, const real *target, size_t n, real clip);
void mse_backward(real *dpred, const real *pred, const real *target, size_t n, real clip, real dloss);

/* Per row of C: out = x / max(||x||, eps) (as torch.nn.functional.normalize); norm[N] is kept. */
void rownorm_forward(real *out, real *norm, const real *inp, int N, int C, real eps);
/* store: dinp = rather than += (a gradient written first, core/tape.h), as for exp_scale's dinp */
void rownorm_backward(real *dinp, const real *dout, const real *out, const real *norm, int N, int C,
                      real eps, int store);

/* out[n,g,:] = exp(min(p[g], cap)) * inp[n,g,:] for N rows of G groups of D: a learned per-group
 * scale kept positive (e.g. the memory-mosaic key scale with cap 5). */
void exp_scale_forward(real *out, const real *inp, const real *p, int N, int G, int D, real cap);
void exp_scale_backward(real *dinp, real *dp, const real *dout, const real *inp, const real *p,
                        int N, int G, int D, real cap, int store);

/* rownorm then exp_scale in one pass (the memory mosaic's keys and values): out[n,g,:] =
 * exp(min(p[g], cap)) inp[n,g,:] / max(||inp[n,g,:]||, eps) for N rows of G groups of D, with the
 * N G norms kept. The backward reads dout and out once: dinp (= when store, else +=) and dp +=
 * exp(min(p, cap)) sum over rows of dout . inp / ||inp|| (nothing above the cap); rowdot, N G reals
 * of scratch, holds the rows' dots between the pass and the groups' sums (in row order). */
void rownorm_scale_forward(real *out, real *norm, const real *inp, const real *p, int N, int G, int D, real eps,
                           real cap);
void rownorm_scale_backward(real *dinp, real *dp, real *rowdot, const real *dout, const real *out, const real *norm,
                            const real *p, int N, int G, int D, real eps, real cap, int store);

/* Inverted dropout: mask[i] = 0 with probability p, else 1 / (1 - p); out = inp * mask. */
void dropout_forward(real *out, real *mask, const real *inp, size_t n, real p, rng *r);

/* Concatenation along one axis: each tensor seen as [outer, inner], inner_a + inner_b columns out.
 * Features: outer = rows, inner = channels. Time: outer = batch, inner = T * C. */
void concat_forward(real *out, const real *a, const real *b, size_t outer, size_t inner_a, size_t inner_b);
void concat_backward(real *da, real *db, const real *dout, size_t outer, size_t inner_a, size_t inner_b);
/* out[o, 0:len] = inp[o, start:start+len] with inp seen as [outer, inner]. */
void slice_forward(real *out, const real *inp, size_t outer, size_t inner, size_t start, size_t len);
void slice_backward(real *dinp, const real *dout, size_t outer, size_t inner, size_t start, size_t len);

/* ---- sequence (kernels_attention.c, kernels_rope.c, kernels_time.c, kernels_complex.c) --------- */

/* Which keys u a query at position t sees. Queries are the LAST Tq of Tk positions, so query row i
 * sits at position t = i + Tk - Tq (this is what a cached generation step needs). */
typedef enum {
    ATT_CAUSAL,  /* u <= t */
    ATT_STRICT,  /* u < t: the memory-mosaic mask; a row without keys outputs zero, passes zero grad */
    ATT_FULL,    /* every u */
    ATT_BLOCK    /* u <= t and u, t in the same block of `block` positions: independent segments
                    packed into one sequence (e.g. chunks encoded in one pass) */
} att_mask_kind;

typedef struct {
    att_mask_kind kind;
    int block;   /* ATT_BLOCK only */
} att_mask;

static inline int att_allowed(att_mask m, int t, int u)
{
    switch (m.kind) {
    case ATT_CAUSAL: return u <= t;
    case ATT_STRICT: return u < t;
    case ATT_FULL: return 1;
    case ATT_BLOCK: return u <= t && u / m.block == t / m.block;
    }
    return 0;
}

typedef struct {
    int B, Tq, Tk, H, hs;        /* batch, query and key lengths, heads, head size */
    int ldq, ldk, ldv, ldo;      /* row strides in elements (>= H * hs) */
    size_t bsq, bsk, bsv, bso;   /* batch strides in elements; 0 for k/v shared by the batch */
    att_mask mask;
    real scale;                  /* logits are scale * q . k */
    const real *alibi;           /* NULL, or H slopes m_h: logits of head h get -m_h (t - u) added
                                    (ALiBi, Press et al.; a constant: the backward pass is unchanged) */
} att_dims;

/* Per (batch b, head h), with head h at columns h*hs .. h*hs+hs-1 of every row:
 * out = softmax(scale * q k^T [- m_h (t - u)], masked) v. att[B,H,Tq,Tk] receives the probabilities
 * (0 where masked). */
void attention_forward(real *out, real *att, const real *q, const real *k, const real *v, const att_dims *d);
/* scratch holds attention_scratch_size(d) reals (a Tq x Tk block per thread, and for k / v shared
 * by a batch of two or more their gradients' partial tables). dk / dv of a shared (batch stride 0)
 * k / v sum over the batch. */
void attention_backward(real *dq, real *dk, real *dv, real *scratch, const real *dout, const real *q,
                        const real *k, const real *v, const real *att, const att_dims *d);
size_t attention_scratch_size(const att_dims *d);
/* The same attention without the probabilities (flash-style; kernels_attention.c): the forward
 * pass keeps nothing but out, the backward pass recomputes each tile of probabilities from q and k
 * (docs/models.md, "Attention kernels"). Same bits as attention_forward / attention_backward, except
 * when dq and dk are one buffer and under ATT_FULL with Tq > 64 (rounding: other product sizes). For the products path with per-sequence keys only
 * (attention_flash_supports: head size above the direct path's, k and v not shared by the batch);
 * each call allocates and frees 2 x 64 x Tk reals per thread. */
int attention_flash_supports(const att_dims *d);
void attention_forward_flash(real *out, const real *q, const real *k, const real *v, const att_dims *d);
void attention_backward_flash(real *dq, real *dk, real *dv, const real *dout, const real *q, const real *k,
                              const real *v, const att_dims *d);
/* The ALiBi paper's head slopes (its get_slopes): m_h = 2^(-8(h+1)/H) when H is a power of two;
 * otherwise the slopes of the power of two p just below H, then every other slope of 2p (the 1st,
 * 3rd, ...) until there are H. */
void alibi_slopes(real *m, int H);

/* Rotary position embedding (kernels_rope.c; GPT-NeoX / LLaMA convention): in every head of hs
 * (even) columns of inp[B,T,H*hs], the pair (i, i + hs/2) of the row at position p = pos0 + t is
 * rotated by the angle p * ROPE_BASE^(-2i/hs). The backward pass is the inverse rotation. */
#define ROPE_BASE 10000.0
void rope_forward(real *out, const real *inp, int B, int T, int H, int hs, int pos0);
void rope_backward(real *dinp, const real *dout, int B, int T, int H, int hs, int pos0);

/* Leaky average over time per head, an O(T) scan: out_t = inp_t + a_h * out_{t-1} with
 * a_h = exp(-|theta_h|); inp/out [B,T,H*hs]. theta -> infinity gives the identity. */
void leaky_avg_forward(real *out, const real *inp, const real *theta, int B, int T, int H, int hs);
/* store: dinp = rather than += (a gradient written first, core/tape.h) */
void leaky_avg_backward(real *dinp, real *dtheta, const real *dout, const real *out, const real *theta,
                        int B, int T, int H, int hs, int store);

/* One-step look-ahead convolution per head (memory-mosaic value extraction):
 * out_t = c_h * inp_t + (1 - c_h) * inp_{t+1}, inp beyond the last position is zero. */
void lookahead_mix_forward(real *out, const real *inp, const real *c, int B, int T, int H, int hs);
/* store: dinp = rather than += (a gradient written first, core/tape.h) */
void lookahead_mix_backward(real *dinp, real *dc, const real *dout, const real *inp, const real *c,
                            int B, int T, int H, int hs, int store);

/* Time shift: out_t = inp_{t+k} (zero outside 0..T-1); k may be negative. [B,T,C]. */
void time_shift_forward(real *out, const real *inp, int B, int T, int C, int k);
void time_shift_backward(real *dinp, const real *dout, int B, int T, int C, int k);

/* Complex-structured matrix: p[2][n][n] holds real parts a and imaginary parts b of an n x n complex
 * matrix; W[2n][2n] gets 2x2 blocks [[a, -b], [b, a]] so that W acts on interleaved (re, im) pairs. */
void complex_expand_forward(real *W, const real *p, int n);
void complex_expand_backward(real *dp, const real *dW, int n);

/* LSTM recurrence (kernels_lstm.c), PyTorch's gate order i, f, g, o, from h_{-1} = c_{-1} = 0:
 * gates = xproj_t + h_{t-1} w_hh^T; c_t = f c_{t-1} + i g; h_t = o tanh(c_t). xproj[B,T,4H] is the
 * input projection of every step, w_hh[4H,H]; h and c [B,T,H]; gates_act[B,T,4H] receives the gates
 * after their activations (kept, with c, for the backward pass). */
void lstm_forward(real *h, real *c, real *gates_act, const real *xproj, const real *w_hh, int B, int T, int H);
/* scratch holds B*T*4H + 2*B*H reals. */
void lstm_backward(real *dxproj, real *dw_hh, real *scratch, const real *dh, const real *h, const real *c,
                   const real *gates_act, const real *w_hh, int B, int T, int H);

#endif
