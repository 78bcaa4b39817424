/* One layer of contextual memory units with linear key/value extraction (the Memory Mosaics toy
 * network): per head, keys k_t = W_phi x_t, values v_t = W_psi x_{t+1}, the key doubling as the
 * query, position t reading only u < t with weights softmax_u(beta k_t . k_u), heads concatenated and
 * mapped back by W_z. No normalisation, no biases. The matrices are either complex-structured
 * (n/2 x n/2 complex entries acting on interleaved (re, im) pairs) or plain real. */
#ifndef MEMLAB_NN_CTXMEM_H
#define MEMLAB_NN_CTXMEM_H

#include "core/params.h"
#include "core/tape.h"

typedef struct {
    int in;          /* observation width (even when complex) */
    int heads;
    int head_dim;    /* real width of one head's keys and values */
    int complex_param;
    double beta;     /* fixed attention sharpness */
    int wphi, wpsi, wz;
} ctxmem;

void ctxmem_declare(ctxmem *m, param_store *ps, int in, int heads, int head_dim, int complex_param, double beta);
/* A linear layer's default initialisation, uniform in +-1/sqrt(in), of each real matrix; complex
 * matrices take its projection onto the complex form (each entry the mean of two such draws). */
void ctxmem_init(const ctxmem *m, param_store *ps, rng *r);
/* The three real matrices (W_phi [E, in], W_psi [E, in], W_z [in, E], E = heads * head_dim) on tp. */
void ctxmem_matrices(const ctxmem *m, param_store *ps, tape *tp, tensor **wphi, tensor **wpsi, tensor **wz);
/* x[B, T, in] -> predictions of x_{t+1} for every t, [B, T, in]. */
tensor *ctxmem_forward(const ctxmem *m, param_store *ps, tape *tp, tensor *x);

/* Autoregressive rollout with a memory cache, no tape. x: T_ctx observations [T_ctx, in]. The memory
 * holds (k_u, v_u = W_psi x_{u+1}) for u < T_ctx - 1; x_{T_ctx} is predicted from the last observation;
 * every prediction is then treated as a real observation: the value of the position before it is
 * W_psi of the prediction, and its key queries the memory for the next step. Writes `steps`
 * predictions [steps, in] (of x_{T_ctx+1} ... in 1-based terms). The three real matrices are given
 * (from ctxmem_matrices) so that many rollouts share one expansion. work: at least
 * ctxmem_rollout_work(m, T_ctx + steps) reals. */
/* The same rollout on the tape, for training through it: x[B, L, in] observations (the batch shares
 * the context length), the first c (c >= 2) read as context, then `steps` free predictions, each fed
 * back as ctxmem_rollout does; returns the predictions [B, steps, in] of x_c .. x_{c+steps-1}
 * (0-based rows of x), differentiable in the weights through every step. */
tensor *ctxmem_rollout_tape(const ctxmem *m, param_store *ps, tape *tp, tensor *x, int c, int steps);
size_t ctxmem_rollout_work(const ctxmem *m, int max_len);
void ctxmem_rollout(const ctxmem *m, const real *wphi, const real *wpsi, const real *wz, const real *x,
                    int T_ctx, int steps, real *pred, real *work);

#endif
