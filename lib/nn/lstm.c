/* One LSTM layer of the RegBench baseline: x -> LSTM(x) (torch.nn.LSTM's gates i, f, g, o, zero
 * initial state), dropout on its output. No residual: a plain stacked LSTM as in RegBench's
 * baselines. Weights uniform in +-1/sqrt(d) as PyTorch initialises nn.LSTM; one bias (PyTorch's
 * b_ih + b_hh are redundant). No positions, no heads, no cached decoding. */
#include <math.h>
#include <stdio.h>

#include "core/ops.h"
#include "nn/arch_ops.h"
#include "nn/layers.h"

typedef struct {
    int ih_w, ih_b, hh_w;
} lstm_layer;

static void lstm_layer_declare(void *block, param_store *ps, const lm_config *c, int layer)
{
    lstm_layer *b = block;
    char p[PARAM_NAME_MAX];
    snprintf(p, sizeof p, "h.%d.lstm.ih", layer);
    layers_declare_linear(ps, p, 4 * c->d, c->d, 1, &b->ih_w, &b->ih_b);
    snprintf(p, sizeof p, "h.%d.lstm.hh.weight", layer);
    b->hh_w = params_declare_auto(ps, p, 2, (int[]){4 * c->d, c->d});
}

static void lstm_layer_init(const void *block, param_store *ps, const lm_config *c, rng *r)
{
    const lstm_layer *b = block;
    const double k = 1 / sqrt(c->d);
    params_init_uniform(ps, b->ih_w, -k, k, r);
    params_init_uniform(ps, b->ih_b, -k, k, r);
    params_init_uniform(ps, b->hh_w, -k, k, r);
}

static tensor *lstm_layer_forward(const void *block, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                            void *cache, int pos)
{
    const lstm_layer *b = block;
    if (cache)
        fatal("internal: the lstm has no cached decoding");
    tensor *h = op_lstm(tp, layers_linear(tp, ps, x, b->ih_w, b->ih_b), params_tensor(ps, b->hh_w));
    return op_dropout(tp, h, (real)c->dropout, drop);
}

static double lstm_layer_logit_scale(const lm_config *c) { return 1; }

static double lstm_layer_embed_std(const lm_config *c) { return 0.02; }

/* input and recurrent products of the four gates; the recurrence has no attention */
static lm_block_macs lstm_layer_macs(const lm_config *c, int T) { return (lm_block_macs){.dense = 8.0 * c->d * c->d}; }

const lm_arch_ops lstm_arch = {
    .name = "lstm",
    .attends = 0,
    .takes_positions = 0,
    .cpu_only = 1,
    .embed_std = lstm_layer_embed_std,
    .embed_dropout = 0,
    .block_size = sizeof(lstm_layer),
    .declare = lstm_layer_declare,
    .init = lstm_layer_init,
    .forward = lstm_layer_forward,
    .logit_scale = lstm_layer_logit_scale,
    .macs = lstm_layer_macs,
};
