#include "nn/loss_step.h"

#include <math.h>

double loss_step(tape *tp, tensor *loss, param_store *ps, const adamw_cfg *cfg, double lr, long long t)
{
    const double l = loss->data[0];
    if (isfinite(l)) {
        params_zero_grad(ps);
        tape_backward(tp, loss);
        adamw_step(ps, cfg, lr, t);
    }
    tape_reset(tp);
    return l;
}
