/* The optimiser step of the hand-built models (xor's MLP, three-moons' contextual memory) once their
 * step function has the loss on the tape: gradients, AdamW, a fresh tape. A non-finite loss skips
 * the update, so that the training loop stops with the weights of the step before. */
#ifndef MEMLAB_NN_LOSS_STEP_H
#define MEMLAB_NN_LOSS_STEP_H

#include "core/optim.h"
#include "core/tape.h"

/* Backward from the scalar loss and one AdamW step (t = 1, 2, ...: the moment-correction count) at
 * learning rate lr; resets the tape either way. Returns the loss. Data-parallel ranks (core/dist.h)
 * each pass the loss of an equal share of the batch (a mean over the same number of terms): the loss
 * returned and the gradients stepped are their means over the ranks. */
double loss_step(tape *tp, tensor *loss, param_store *ps, const adamw_cfg *cfg, double lr, long long t);

#endif
