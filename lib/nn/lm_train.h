/* Training and evaluation of an lm on token batches: the loop body every language-model experiment
 * shares (forward, cross-entropy, backward, clipping, AdamW; evaluation without a tape). */
#ifndef MEMLAB_NN_LM_TRAIN_H
#define MEMLAB_NN_LM_TRAIN_H

#include "core/optim.h"
#include "nn/lm.h"

typedef struct {
    adamw_cfg adamw;
    schedule sched;
    double clip;   /* global gradient-norm bound; 0: none */
} lm_optim;

/* The language models' recipe (the papers' nanoGPT-style training): AdamW (0.9, 0.95, eps 1e-8),
 * weight decay wd on matrices, linear warm-up then cosine from lr to lr_end over total steps,
 * global-norm clip (0: none). */
lm_optim lm_optim_cosine(double lr, double lr_end, long long warmup, long long total, double wd, double clip);

/* One optimiser step (step = 0, 1, ... indexes the schedule) on ids/targets [B*T]; targets equal to
 * `ignore` carry no loss. Returns the mean loss before the step; *gnorm (may be NULL) gets the
 * gradient norm before clipping. A non-finite loss or gradient is returned without stepping, so
 * that the caller stops with the step number and the weights stay finite. Data-parallel ranks
 * (core/dist.h) pass their own rows (B may be 0 on some): the loss and the step are then the whole
 * batch's, its mean over every rank's targets. */
double lm_train_step(lm *m, tape *tp, const int *ids, const int *targets, int B, int T, int ignore,
                     const lm_optim *o, long long step, rng *drop, double *gnorm);

/* Evaluation mode (no dropout, no tape): the summed loss over targets that are not `ignore`; their
 * number is added to *count. */
double lm_eval_sum(lm *m, tape *tp, const int *ids, const int *targets, int B, int T, int ignore,
                   long long *count);

/* Evaluation mode: the loss of every position, loss[B*T] = -log p(targets[i]). */
void lm_eval_losses(lm *m, tape *tp, const int *ids, const int *targets, int B, int T, double *loss);

/* Evaluation mode: next-token probabilities probs[B*T*vocab] (softmax of the logits, in double). */
void lm_next_probs(lm *m, tape *tp, const int *ids, int B, int T, double *probs);

#endif
