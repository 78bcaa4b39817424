/* One LSTM layer of the RegBench baseline: x -> LSTM(x) (torch.nn.LSTM's gates i, f, g, o, zero
 * initial state), dropout on its output. No residual: a plain stacked LSTM as in RegBench's
 * baselines. Weights uniform in +-1/sqrt(d) as PyTorch initialises nn.LSTM; one bias (PyTorch's
 * b_ih + b_hh are redundant). */
#include <math.h>
#include <stdio.h>

#include "core/ops.h"
#include "nn/lm.h"

void lstm_layer_declare(lm_block *b, param_store *ps, const lm_config *c, int layer)
{
    char p[PARAM_NAME_MAX];
    snprintf(p, sizeof p, "h.%d.lstm.ih", layer);
    lm_declare_linear(ps, p, 4 * c->d, c->d, 1, &b->ih_w, &b->ih_b);
    snprintf(p, sizeof p, "h.%d.lstm.hh.weight", layer);
    b->hh_w = params_declare_auto(ps, p, 2, (int[]){4 * c->d, c->d});
}

void lstm_layer_init(const lm_block *b, param_store *ps, const lm_config *c, rng *r)
{
    const double k = 1 / sqrt(c->d);
    params_init_uniform(ps, b->ih_w, -k, k, r);
    params_init_uniform(ps, b->ih_b, -k, k, r);
    params_init_uniform(ps, b->hh_w, -k, k, r);
}

tensor *lstm_layer_forward(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop)
{
    tensor *xp = op_linear(tp, x, params_tensor(ps, b->ih_w), params_tensor(ps, b->ih_b));
    tensor *h = op_lstm(tp, xp, params_tensor(ps, b->hh_w));
    return op_dropout(tp, h, (real)c->dropout, drop);
}
