/* Optimisation over a param store: AdamW with a per-tensor decay flag, learning-rate schedules and
 * global-norm gradient clipping. Gradient accumulation is backward() over several micro-batches
 * (gradients add up) followed by params_scale_grad(ps, 1/k). */
#ifndef MEMLAB_OPTIM_H
#define MEMLAB_OPTIM_H

#include "core/params.h"

typedef struct {
    double beta1, beta2, eps, weight_decay;
    /* 1: use m and v as they are, without the 1/(1-b^t) corrections (MLX's optimizers.Adam and
     * AdamW default, bias_correction=False, which the Memory Mosaics three-moons code trains with).
     * Early steps are then (1-b1^t)/sqrt(1-b2^t) times larger than with the correction: 3.2 at
     * t = 1, 6.5 at t = 10, 3.2 at t = 100, 1.6 at t = 500 for (0.9, 0.999). */
    int no_bias_correction;
} adamw_cfg;

/* One AdamW step (decoupled decay as in torch.optim.AdamW): for step t = 1, 2, ...
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * (wd * p  [decay tensors only]  +  (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps))
 * (without the two (1-b^t) divisions when no_bias_correction is set). */
void adamw_step(param_store *ps, const adamw_cfg *cfg, double lr, long long t);

typedef enum { SCHED_CONSTANT, SCHED_LINEAR, SCHED_COSINE } sched_kind;

typedef struct {
    sched_kind kind;
    double lr;          /* peak learning rate */
    double lr_end;      /* LINEAR: value at the last step; COSINE: the floor */
    long long warmup;   /* steps of linear warm-up from lr/warmup to lr (0: none) */
    long long total;    /* total steps, warm-up included */
} schedule;

/* Learning rate for step s in 0..total-1:
 *   s < warmup:  lr * (s + 1) / warmup
 *   CONSTANT:    lr
 *   LINEAR:      lr + (lr_end - lr) * p,                 p = (s - warmup) / (total - warmup - 1)
 *   COSINE:      lr_end + (lr - lr_end) * (1 + cos(pi p)) / 2
 * so LINEAR and COSINE reach lr_end exactly at the last step; steps past the end stay there. */
double schedule_lr(const schedule *s, long long step);
/* Parses "constant" | "linear" | "cosine"; -1 if unknown. */
int schedule_kind_parse(const char *name);

/* Every gradient times factor (on the store's device). */
void params_scale_grad(param_store *ps, real factor);
/* Global L2 norm of all gradients. */
double grad_norm(const param_store *ps);
/* Scales every gradient so that the global norm is at most max_norm; returns the norm before. */
double clip_grad_norm(param_store *ps, double max_norm);
/* The global norm, then adamw_step on the gradients clipped to max_norm (when max_norm > 0 and the
 * norm exceeds it), unless the norm is not finite (NaN or infinite gradients: the parameters stay as
 * they were). Returns the norm before clipping. The step multiplies each gradient by the clip factor
 * as it reads it, the same float product clip_grad_norm would store, so the update has the same bits;
 * the gradient buffers keep the unclipped values on every device (on the GPU the factor never leaves
 * the device, and the pass that scaled every gradient goes: 0.4 ms a step at GPT-2-small on an H100). */
double adamw_step_clipped(param_store *ps, const adamw_cfg *cfg, double lr, long long t, double max_norm);

#endif
