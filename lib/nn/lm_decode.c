#include "nn/lm_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "nn/layers.h"

void lm_decoder_init(lm_decoder *dc, const lm *m, int cap)
{
    const lm_config *c = &m->cfg;
    if (!m->ops->cache_new || c->bidirectional)
        fatal("internal: lm_decoder for a %s %s model", c->bidirectional ? "bidirectional" : "non-decoding",
              m->ops->name);
    if (cap < 1 || (lm_max_len(m) > 0 && cap > lm_max_len(m)))
        fatal("internal: lm_decoder of %d tokens (the model takes %d)", cap, lm_max_len(m));
    memset(dc, 0, sizeof *dc);
    dc->cap = cap;
    dc->nlayers = c->layers;
    dc->ops = m->ops;
    dc->layers = xcalloc((size_t)c->layers, sizeof *dc->layers);
    for (int l = 0; l < c->layers; l++)
        dc->layers[l] = m->ops->cache_new(c, cap, m->ps.device);
    lm_tape_init(&dc->tp, m);
    dc->tp.grad_enabled = 0;
    dc->tp.training = 0;
}

void lm_decoder_free(lm_decoder *dc)
{
    for (int l = 0; l < dc->nlayers; l++)
        dc->ops->cache_free(dc->layers[l]);
    free(dc->layers);
    dc->layers = NULL;
    dc->nlayers = 0;
    tape_free(&dc->tp);
}

void lm_decoder_reset(lm_decoder *dc) { dc->len = 0; }

void lm_decode_step(lm *m, lm_decoder *dc, int token, real *logits)
{
    const lm_config *c = &m->cfg;
    if (dc->len >= dc->cap)
        fatal("internal: lm_decode_step past the cache's %d tokens", dc->cap);
    tape *tp = &dc->tp;
    tape_reset(tp);
    const int pos = dc->len;
    tensor *x = op_embedding(tp, &token, 1, 1, params_tensor(&m->ps, m->wte));
    if (m->wpe >= 0)
        x = op_add(tp, x, op_embedding(tp, &pos, 1, 1, params_tensor(&m->ps, m->wpe)));
    x = lm_stack_forward(&m->stack, &m->ps, c, tp, x, NULL, dc->layers, pos);
    x = layers_layernorm(tp, &m->ps, x, m->lnf_w, m->lnf_b);
    tensor *z = tape_to_host(tp, lm_logits(m, tp, x));   /* on the GPU: a copy */
    memcpy(logits, z->data, (size_t)c->vocab * sizeof *logits);
    dc->len++;
    tape_reset(tp);
}
