/* CUDA twins of the sequence kernels of core/kernels.h: attention (flash style), the leaky average,
 * the look-ahead mix, RoPE, rownorm and exp_scale. Same arguments as the CPU kernels, as DEVICE
 * pointers; every dimension struct (att_dims) lives in host memory. Launches go to the legacy
 * default stream 0, so calls are ordered with each other and with cuBLAS on stream 0. Backward
 * kernels ACCUMULATE (+=) into gradients and skip NULL ones, as on the CPU. fp32 only (`real` is
 * float; these files are never built with -DMEMLAB_DOUBLE). docs/gpu_kernels.md explains each.
 *
 * Errors: a failed launch or an unsupported shape (head size above 128) is reported through
 * fatal() on the host, like the CPU core's internal errors. */
#ifndef MEMLAB_KERNELS_SEQ_CUDA_H
#define MEMLAB_KERNELS_SEQ_CUDA_H

#include "core/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- attention (lib/cuda/attention.cu) ------------------------------------------------------- */

/* Largest head size of the fused kernels. */
#define CUDA_ATT_MAX_HS 128

/* out as attention_forward; lse[B,H,Tq] receives each row's log-sum-exp of its (scaled, biased,
 * masked) logits, -INFINITY for a row without keys, instead of the probabilities. lse may be NULL
 * when no backward pass follows. d->alibi, if set, is a DEVICE pointer to H slopes. */
void cuda_attention_forward(real *out, real *lse, const real *q, const real *k, const real *v,
                            const att_dims *d);
/* The probabilities att[B,H,Tq,Tk] (0 where masked) from q, k and the forward's lse: the attention
 * observer's evaluation path; training never materialises them. */
void cuda_attention_probs(real *att, const real *q, const real *k, const real *lse, const att_dims *d);
/* Recomputes the probabilities tile by tile from q, k and lse. scratch holds
 * cuda_attention_scratch_size(d) reals (one float per query row). dq and dk may be the same buffer
 * (q = k, the mosaic's context memory): the two gradients are added by two kernels in turn. dk / dv
 * of a k / v shared by the batch (batch stride 0) sum over the batch, in batch order. */
void cuda_attention_backward(real *dq, real *dk, real *dv, real *scratch, const real *dout, const real *q,
                             const real *k, const real *v, const real *out, const real *lse,
                             const att_dims *d);
size_t cuda_attention_scratch_size(const att_dims *d);

/* bf16 operands (q, k, v, dout stored as bf16 bits, uint16_t) on the tensor cores (sm_80 or newer),
 * fp32 accumulation, fp32 out / lse and fp32 gradients: the --dtype bf16 variant
 * (lib/cuda/attention_bf16.cu). Same rules as the fp32 calls. out16 (NULL: none) gets out's bf16
 * copy in out's layout, written with it (the next linear's operand, tensor.bf16); out NULL: that
 * bf16 output alone. */
void cuda_attention_forward_bf16(real *out, unsigned short *out16, real *lse, const unsigned short *q,
                                 const unsigned short *k, const unsigned short *v, const att_dims *d);
void cuda_attention_backward_bf16(real *dq, real *dk, real *dv, real *scratch, const unsigned short *dout,
                                  const unsigned short *q, const unsigned short *k, const unsigned short *v,
                                  const real *out, const real *lse, const att_dims *d);
/* The same with the gradients stored in bf16 (rounded once from the fp32 sums the other form adds),
 * each element written once: per-sequence keys and three distinct buffers only (the gpt's fused
 * q|k|v, whose producer reads its gradient in bf16: grad16_first_write, core/tape.h). out NULL: the
 * output is read in its bf16 form out16 (the forward wrote that alone). */
void cuda_attention_backward_bf16_g16(unsigned short *dq, unsigned short *dk, unsigned short *dv, real *scratch,
                                      const unsigned short *dout, const unsigned short *q, const unsigned short *k,
                                      const unsigned short *v, const real *out, const unsigned short *out16,
                                      const real *lse, const att_dims *d);

/* ---- time mixing, RoPE, row norms (lib/cuda/seq.cu) ------------------------------------------- */

void cuda_leaky_avg_forward(real *out, const real *inp, const real *theta, int B, int T, int H, int hs);
void cuda_leaky_avg_backward(real *dinp, real *dtheta, const real *dout, const real *out, const real *theta,
                             int B, int T, int H, int hs, int store);
void cuda_lookahead_mix_forward(real *out, const real *inp, const real *c, int B, int T, int H, int hs);
void cuda_lookahead_mix_backward(real *dinp, real *dc, const real *dout, const real *inp, const real *c,
                                 int B, int T, int H, int hs, int store);
void cuda_rope_forward(real *out, const real *inp, int B, int T, int H, int hs, int pos0);
void cuda_rope_backward(real *dinp, const real *dout, int B, int T, int H, int hs, int pos0);
void cuda_rownorm_forward(real *out, real *norm, const real *inp, int N, int C, real eps);
void cuda_rownorm_backward(real *dinp, const real *dout, const real *out, const real *norm, int N, int C,
                           real eps, int store);
void cuda_exp_scale_forward(real *out, const real *inp, const real *p, int N, int G, int D, real cap);
void cuda_exp_scale_backward(real *dinp, real *dp, const real *dout, const real *inp, const real *p,
                             int N, int G, int D, real cap, int store);
void cuda_rownorm_scale_forward(real *out, real *norm, const real *inp, const real *p, int N, int G, int D, real eps,
                                real cap);
void cuda_rownorm_scale_backward(real *dinp, real *dp, real *rowdot, const real *dout, const real *out,
                                 const real *norm, const real *p, int N, int G, int D, real eps, real cap, int store);

#ifdef __cplusplus
}
#endif

#endif
