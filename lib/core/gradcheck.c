#include "core/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

/* One evaluation without gradients, on a tape reused across the many evaluations. */
static double loss_value(tape *tp, gradcheck_fn f, tensor *const *inputs, void *ctx)
{
    tp->grad_enabled = 0;
    tensor *loss = f(tp, inputs, ctx);
    double v = loss->data[0];
    tape_reset(tp);
    return v;
}

gradcheck_result gradcheck_run(gradcheck_fn f, tensor *const *inputs, int n_inputs, void *ctx, double h)
{
    gradcheck_result res = {0};
    real **analytic = xcalloc((size_t)n_inputs, sizeof *analytic);
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]->grad)
            fatal("internal: gradcheck input %d has no gradient buffer", i);
        memset(inputs[i]->grad, 0, inputs[i]->n * sizeof(real));
    }
    tape tp;
    tape_init(&tp);
    tensor *loss = f(&tp, inputs, ctx);
    tape_backward(&tp, loss);
    tape_reset(&tp);
    for (int i = 0; i < n_inputs; i++) {
        analytic[i] = xmalloc(inputs[i]->n * sizeof(real));
        memcpy(analytic[i], inputs[i]->grad, inputs[i]->n * sizeof(real));
    }
    for (int i = 0; i < n_inputs; i++) {
        tensor *x = inputs[i];
        for (size_t j = 0; j < x->n; j++) {
            real saved = x->data[j];
            x->data[j] = saved + (real)h;
            double up = loss_value(&tp, f, inputs, ctx);
            x->data[j] = saved - (real)h;
            double down = loss_value(&tp, f, inputs, ctx);
            x->data[j] = saved;
            double num = (up - down) / (2 * h);
            double ana = analytic[i][j];
            double scale = fmax(fmax(fabs(ana), fabs(num)), GRADCHECK_FLOOR);
            double err = fabs(ana - num) / scale;
            if (err > res.max_rel_err || (i == 0 && j == 0)) {
                res.max_rel_err = err;
                res.worst_input = i;
                res.worst_index = j;
                res.analytic = ana;
                res.numeric = num;
            }
        }
    }
    tape_free(&tp);
    for (int i = 0; i < n_inputs; i++)
        free(analytic[i]);
    free(analytic);
    return res;
}

tensor *gradcheck_weighted_sum(tape *tp, tensor *x, unsigned seed)
{
    tensor *w = tape_tensor(tp, x->ndim, x->shape);
    rng r = rng_stream(seed, RNG_STREAM_USER);
    for (size_t i = 0; i < w->n; i++)
        w->data[i] = (real)(0.5 + rng_uniform(&r));
    return op_sum(tp, op_mul(tp, x, w));
}
