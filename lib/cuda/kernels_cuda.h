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
                          const real *weight, int N, int C, int OC, int store_dinp);
void cuda_add_forward(real *out, const real *a, const real *b, size_t n);
void cuda_scale_forward(real *out, const real *a, real s, size_t n);
void cuda_accumulate(real *dst, const real *src, real alpha, size_t n);
/* dst += *alpha src, alpha a DEVICE pointer (a loss's gradient). */
void cuda_accumulate_dev(real *dst, const real *src, const real *alpha, size_t n);
void cuda_mul_forward(real *out, const real *a, const real *b, size_t n);
void cuda_mul_backward(real *da, real *db, const real *dout, const real *a, const real *b, size_t n);
/* ids is a DEVICE copy of the ids (checked on the host by the op). The backward adds rows in a
 * fixed order per column (a row-sorted pass, no atomics), so repeated ids sum deterministically. */
void cuda_embedding_forward(real *out, const int *ids, const real *table, int N, int C);
void cuda_embedding_backward(real *dtable, const real *dout, const int *ids, int N, int C);
/* The same backward from the ids grouped by value (core/ops_dense.c sorts them on the host, where
 * they arrive): positions order[seg_begin[s] .. seg_begin[s+1]) hold id seg_id[s], in increasing
 * order. One block per (id, column tile) sums its rows in order and adds once: parallel over every
 * id and column, deterministic, no atomics. All arrays on the device. */
void cuda_embedding_backward_grouped(real *dtable, const real *dout, const int *order, const int *seg_begin,
                                     const int *seg_id, int nseg, int C);
/* dst[i] += v for i < n: seeds a loss gradient and fills the backward of sum and mean, where v
 * comes from device memory (*scale * mult) so that the host never reads it. */
void cuda_fill_add(real *dst, const real *scale, real mult, size_t n);
/* dst[0] += v: seeds the loss's gradient. */
void cuda_add_scalar(real *dst, real v);

/* The --dtype bf16 linears: bf16 operands on the tensor cores, fp32 accumulation, fp32 out and
 * gradients, fp32 master weights. The forward converts inp and weight into xb[N*C] and wb[OC*C]
 * (bf16 bits; scratch the op keeps for the backward pass), or takes xb as it is when inp is NULL
 * (the input's producer wrote its bf16 copy); the backward converts dout into doutb[N*OC]. The bias
 * and its gradient stay fp32. */
void cuda_matmul_forward_bf16(real *out, uint16_t *xb, uint16_t *wb, const real *inp, const real *weight,
                              const real *bias, int N, int C, int OC);
/* The same product plus res[N*OC] (NULL: none) in its epilogue, into out, res left as it was
 * (op_linear_residual: the residual stream's update). */
void cuda_matmul_forward_bf16_res(real *out, uint16_t *xb, uint16_t *wb, const real *inp, const real *weight,
                                  const real *bias, const real *res, int N, int C, int OC);
/* The same product written in bf16 only: out16[N*OC] (op_linear_gelu_erf's pre-activation, bias
 * NULL; op_linear_bf16_out's output, the bias added in the epilogue in fp32 before the rounding). */
void cuda_matmul_forward_bf16_out16(uint16_t *out16, uint16_t *xb, uint16_t *wb, const real *inp,
                                    const real *weight, const real *bias, int N, int C, int OC);
/* dout NULL: doutb already holds it in bf16 (its reader's backward wrote it so), and dbias, when
 * given, sums those bf16 values. */
void cuda_matmul_backward_bf16(real *dinp, real *dweight, real *dbias, uint16_t *doutb, const real *dout,
                               const uint16_t *xb, const uint16_t *wb, int N, int C, int OC, int store_dinp);
/* The same with the input's gradient stored in bf16 only, dinp16[N*C] (its producer reads it so:
 * grad16_first_write, core/tape.h). */
void cuda_matmul_backward_bf16_dx16(uint16_t *dinp16, real *dweight, real *dbias, uint16_t *doutb, const real *dout,
                                    const uint16_t *xb, const uint16_t *wb, int N, int C, int OC);
/* fp32 -> bf16 bits, round to nearest even; and back (exact). */
void cuda_to_bf16(uint16_t *dst, const real *src, size_t n);
void cuda_from_bf16(real *dst, const uint16_t *src, size_t n);

/* Batched products for attention-like code: C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] in
 * row-major terms (ta/tb transpose A/B), strided batches. */
void cuda_bmm(real *c, const real *a, const real *b, int batch, int M, int N, int K, int ta, int tb,
              long long sa, long long sb, long long sc, real alpha, real beta);

/* ---- norm_act.cu: layernorm, activations, softmax ------------------------------------------- */
void cuda_layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                            const real *bias, int N, int C, real eps);
/* The same, also writing out's bf16 copy to out16 (the bf16 linear that reads it skips its
 * conversion; the same rounding as cuda_to_bf16); out NULL: the bf16 output alone. */
void cuda_layernorm_forward_copy16(real *out, uint16_t *out16, real *mean, real *rstd, const real *inp,
                                   const real *weight, const real *bias, int N, int C, real eps);
void cuda_layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                             const real *weight, const real *mean, const real *rstd, int N, int C);
/* The same from the output's gradient in bf16 (its reader wrote it so: grad16_first_write). */
void cuda_layernorm_backward16(real *dinp, real *dweight, real *dbias, const uint16_t *dout16, const real *inp,
                               const real *weight, const real *mean, const real *rstd, int N, int C);
/* GELU, tanh approximation (GPT-2's) and exact (erf) forms. */
void cuda_gelu_forward(real *out, const real *inp, size_t n);
void cuda_gelu_backward(real *dinp, const real *dout, const real *inp, size_t n);
void cuda_gelu_erf_forward(real *out, const real *inp, size_t n);
void cuda_gelu_erf_forward_copy16(real *out, uint16_t *out16, const real *inp, size_t n);
void cuda_gelu_erf_backward(real *dinp, const real *dout, const real *inp, size_t n, int store);
/* op_linear_gelu_erf under --dtype bf16, over n = rows * OC elements: out = gelu_erf(h + bias[column])
 * from the bf16 product h16 (bias NULL: none), in bf16 to out16 and, unless out is NULL, in fp32; and
 * its backward, dh = dout gelu_erf'(h + bias) from dout in fp32 or, when dout is NULL, in bf16
 * (dout16), written in fp32 to dh, or when dh is NULL in bf16 to dh16. */
void cuda_gelu_erf_forward_h16(real *out, uint16_t *out16, const uint16_t *h16, const real *bias, int OC,
                               size_t n);
void cuda_gelu_erf_backward_h16(real *dh, uint16_t *dh16, const real *dout, const uint16_t *dout16,
                                const uint16_t *h16, const real *bias, int OC, size_t n);
void cuda_relu_forward(real *out, const real *inp, size_t n);
void cuda_relu_backward(real *dinp, const real *dout, const real *out, size_t n);
void cuda_tanh_forward(real *out, const real *inp, size_t n);
void cuda_tanh_backward(real *dinp, const real *dout, const real *out, size_t n);
void cuda_sigmoid_forward(real *out, const real *inp, size_t n);
void cuda_sigmoid_backward(real *dinp, const real *dout, const real *out, size_t n);
void cuda_softmax_forward(real *out, const real *inp, int N, int C);
void cuda_softmax_backward(real *dinp, const real *dout, const real *out, int N, int C);

/* ---- loss.cu: fused softmax + cross-entropy, MSE, sums --------------------------------------- */
/* The loss of softmax_xent_forward in one pass over each row, except that the host counts the
 * rows (count, from its own copy of the targets), the mean loss is written to *loss (device or
 * pinned memory) instead of being returned, and each row's log-sum-exp goes to lse[N] in place of
 * the [N, V] probabilities. targets is a DEVICE copy. Rows are summed in order (deterministic). */
void cuda_softmax_xent_forward(real *loss, real *lse, const real *logits, const int *targets, int N,
                               int V, int ignore, int count);
/* softmax_xent_backward with the probabilities recomputed as exp(logits - lse); dloss is a DEVICE
 * pointer to the loss's gradient. */
void cuda_softmax_xent_backward(real *dlogits, const real *logits, const real *lse, const int *targets, int N,
                                int V, int ignore, int count, const real *dloss);
/* linear_xent_forward (core/kernels.h) on the GPU: chunks of rows through cuBLAS and one block a row
 * for the loss and the logits' gradient (recomputed from the log-sum-exp, as
 * cuda_softmax_xent_backward); the mean loss goes to *loss, the host counts the rows, targets is a
 * DEVICE copy; chunks of R rows (cuda_linear_xent_chunk_rows: the op's). work holds
 * cuda_linear_xent_work bytes of device memory. bf16: bf16 operands with fp32 accumulation, and the
 * logits and their gradient in bf16 (PyTorch's autocast keeps the head's logits in bf16 too); x16 is
 * x's bf16 copy when its producer wrote one (NULL: converted here). */
int cuda_linear_xent_chunk_rows(int N, int V);
size_t cuda_linear_xent_work(int N, int C, int V, int R, int bf16);
void cuda_linear_xent_forward(real *loss, real *dx, real *dw, const real *x, const uint16_t *x16, const real *w,
                              real scale, const int *targets, int N, int C, int V, int ignore, int count, int bf16,
                              int R, void *work);
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
