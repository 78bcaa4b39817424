#include "nn/loss_step.h"

#include <math.h>

#include "core/dist.h"

double loss_step(tape *tp, tensor *loss, param_store *ps, const adamw_cfg *cfg, double lr, long long t)
{
    double l = loss->data[0];
    /* Data-parallel ranks (core/dist.h), each on an equal share of the batch: the mean loss, so that
     * all skip a non-finite one together, and the mean gradient, as lm_train_step. */
    dist_mean_double(&l, 1);
    if (isfinite(l)) {
        params_zero_grad(ps);
        tape_backward(tp, loss);
        dist_mean_on(ps->device, ps->grad, ps->total);
        adamw_step(ps, cfg, lr, t);
    }
    tape_reset(tp);
    return l;
}
