/* CUDA twins of the dense kernels of core/kernels.h, plus the optimiser's flat loops. Same names
 * with a cuda_ prefix and, wherever the CPU kernel returns nothing, the very same arguments, as
 * DEVICE pointers: the ops pick one of the two with the same call (core/ops_dense.c). Backward
 * kernels ACCUMULATE (+=) into gradients and skip NULL ones, as on the CPU. Every launch goes to
 * the legacy default stream 0 (cuda/cuda_ctx.h). fp32 (`real` is float; never built with
 * -DMEMLAB_DOUBLE).
 *
 * Where the CPU kernel returns a value to the host (the losses) or draws from the host RNG
 * (dropout), the twin differs, and says how: a step must not wait for the GPU except for the loss
 * it logs. */
#ifndef MEMLAB_KERNELS_CUDA_H
#define MEMLAB_KERNELS_CUDA_H

#include <stdint.h>

#include "core/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dense.cu: cuBLAS linears, elementwise arithmetic, embedding ------------------------------ */
void cuda_matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC);
void cuda_matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                          const real *weight, int N, int C, int OC);
void cuda_add_forward(real *out, const real *a, const real *b, size_t n);
void cuda_scale_forward(real *out, const real *a, real s, size_t n);
void cuda_accumulate(real *dst, const real *src, real alpha, size_t n);
void cuda_mul_forward(real *out, const real *a, const real *b, size_t n);
void cuda_mul_backward(real *da, real *db, const real *dout, const real *a, const real *b, size_t n);
/* ids is a DEVICE copy of the ids (checked on the host by the op). The backward adds rows in a
 * fixed order per column (a row-sorted pass, no atomics), so repeated ids sum deterministically. */
void cuda_embedding_forward(real *out, const int *ids, const real *table, int N, int C);
void cuda_embedding_backward(real *dtable, const real *dout, const int *ids, int N, int C);
/* dst[i] += v for i < n: seeds a loss gradient and fills the backward of sum and mean, where v
 * comes from device memory (*scale * mult) so that the host never reads it. */
void cuda_fill_add(real *dst, const real *scale, real mult, size_t n);
/* dst[0] += v: seeds the loss's gradient. */
void cuda_add_scalar(real *dst, real v);

/* Batched products for attention-like code: C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] in
 * row-major terms (ta/tb transpose A/B), strided batches. */
void cuda_bmm(real *c, const real *a, const real *b, int batch, int M, int N, int K, int ta, int tb,
              long long sa, long long sb, long long sc, real alpha, real beta);

/* ---- norm_act.cu: layernorm, activations, softmax ------------------------------------------- */
void cuda_layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                            const real *bias, int N, int C, real eps);
void cuda_layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                             const real *weight, const real *mean, const real *rstd, int N, int C);
/* GELU, tanh approximation (GPT-2's) and exact (erf) forms. */
void cuda_gelu_forward(real *out, const real *inp, size_t n);
void cuda_gelu_backward(real *dinp, const real *dout, const real *inp, size_t n);
void cuda_gelu_erf_forward(real *out, const real *inp, size_t n);
void cuda_gelu_erf_backward(real *dinp, const real *dout, const real *inp, size_t n);
void cuda_relu_forward(real *out, const real *inp, size_t n);
void cuda_relu_backward(real *dinp, const real *dout, const real *out, size_t n);
void cuda_tanh_forward(real *out, const real *inp, size_t n);
void cuda_tanh_backward(real *dinp, const real *dout, const real *out, size_t n);
void cuda_sigmoid_forward(real *out, const real *inp, size_t n);
void cuda_sigmoid_backward(real *dinp, const real *dout, const real *out, size_t n);
void cuda_softmax_forward(real *out, const real *inp, int N, int C);
void cuda_softmax_backward(real *dinp, const real *dout, const real *out, int N, int C);

/* ---- loss.cu: fused softmax + cross-entropy, MSE, sums --------------------------------------- */
/* As softmax_xent_forward, fused in one pass per row, except that the host counts the rows
 * (count, from its own copy of the targets) and the mean loss is written to *loss (device or
 * pinned memory) instead of being returned. targets is a DEVICE copy. Rows are summed in order
 * (deterministic). */
void cuda_softmax_xent_forward(real *loss, real *probs, const real *logits, const int *targets, int N,
                               int V, int ignore, int count);
/* dloss is a DEVICE pointer to the loss's gradient. */
void cuda_softmax_xent_backward(real *dlogits, const real *probs, const int *targets, int N, int V,
                                int ignore, int count, const real *dloss);
void cuda_mse_forward(real *loss, const real *pred, const real *target, size_t n, real clip);
void cuda_mse_backward(real *dpred, const real *pred, const real *target, size_t n, real clip,
                       const real *dloss);
/* *out = sum of x (in double, in a fixed order). */
void cuda_sum(real *out, const real *x, size_t n, double mult);

/* ---- shape.cu, dropout.cu -------------------------------------------------------------------- */
void cuda_concat_forward(real *out, const real *a, const real *b, size_t outer, size_t inner_a, size_t inner_b);
void cuda_concat_backward(real *da, real *db, const real *dout, size_t outer, size_t inner_a, size_t inner_b);
void cuda_slice_forward(real *out, const real *inp, size_t outer, size_t inner, size_t start, size_t len);
void cuda_slice_backward(real *dinp, const real *dout, size_t outer, size_t inner, size_t start, size_t len);
/* Inverted dropout from a counter-based generator (Philox-4x32-10): element i of a call keyed by
 * `key` is dropped when philox(key, i) / 2^32 < p. The op draws the key from its RNG stream, one
 * draw per call, so the mask is a function of (seed, step, tensor, element) and not of how threads
 * are scheduled. */
void cuda_dropout_forward(real *out, real *mask, const real *inp, size_t n, real p, uint64_t key);
/* The same generator on the host, for tests: the keep/drop decision of element i. */
int dropout_keep_host(uint64_t key, uint64_t i, real p);

/* ---- optim.cu: the param store's flat loops -------------------------------------------------- */
/* One fused AdamW step over the whole store (entries' decay flags in a device table built once).
 * clip_scale (device, may be NULL) multiplies every gradient as it is read: global-norm clipping
 * without a separate pass. */
void cuda_adamw_step(real *p, const real *g, real *m, real *v, const unsigned char *decay_mask, size_t n,
                     double lr, double b1, double b2, double eps, double wd, double bc1, double bc2,
                     const real *clip_scale);
/* *norm = ||g||_2 (in double, fixed order); *scale = min(1, max_norm / norm) (1 when max_norm <= 0
 * or the norm is 0 or not finite). Both device/pinned pointers. */
void cuda_grad_norm(double *norm, real *scale, const real *g, size_t n, double max_norm);
void cuda_scale_inplace(real *x, size_t n, const real *scale, real mult);

#ifdef __cplusplus
}
#endif

#endif
