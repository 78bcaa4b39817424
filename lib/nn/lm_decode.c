#include "nn/lm_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"

void lm_decoder_init(lm_decoder *dc, const lm *m, int cap)
{
    const lm_config *c = &m->cfg;
    if (c->arch == LM_LSTM || c->bidirectional)
        fatal("internal: lm_decoder for a %s model", c->bidirectional ? "bidirectional" : "lstm");
    if (cap < 1 || (lm_max_len(m) > 0 && cap > lm_max_len(m)))
        fatal("internal: lm_decoder of %d tokens (the model takes %d)", cap, lm_max_len(m));
    memset(dc, 0, sizeof *dc);
    dc->cap = cap;
    dc->nlayers = c->layers;
    dc->layers = xcalloc((size_t)c->layers, sizeof *dc->layers);
    const size_t rows = (size_t)cap * c->d * sizeof(real), row = (size_t)c->d * sizeof(real);
    for (int l = 0; l < c->layers; l++) {
        lm_layer_cache *kc = &dc->layers[l];
        kc->k = xaligned_zeroed(rows);
        kc->v = xaligned_zeroed(rows);
        if (c->arch == LM_MOSAIC) {
            kc->vraw = xaligned_zeroed(row);
            kc->leak_ctx = xaligned_zeroed(row);
            kc->leak_pm = xaligned_zeroed(row);
        }
    }
    tape_init(&dc->tp);
    dc->tp.grad_enabled = 0;
    dc->tp.training = 0;
}

void lm_decoder_free(lm_decoder *dc)
{
    for (int l = 0; l < dc->nlayers; l++) {
        lm_layer_cache *kc = &dc->layers[l];
        free(kc->k), free(kc->v), free(kc->vraw), free(kc->leak_ctx), free(kc->leak_pm);
    }
    free(dc->layers);
    dc->layers = NULL;
    dc->nlayers = 0;
    tape_free(&dc->tp);
}

void lm_decoder_reset(lm_decoder *dc) { dc->len = 0; }

tensor *lm_cache_view(tape *tp, real *buf, int n, int d)
{
    tensor *t = tape_alloc(tp, sizeof *t);
    memset(t, 0, sizeof *t);
    t->data = buf;
    tensor_set_shape(t, 3, (int[]){1, n, d});
    return t;
}

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
    for (int l = 0; l < c->layers; l++)
        x = c->arch == LM_GPT ? gpt_block_decode(&m->blocks[l], &m->ps, c, tp, x, &dc->layers[l], pos)
                              : mosaic_block_decode(&m->blocks[l], &m->ps, c, tp, x, &dc->layers[l], pos);
    x = op_layernorm(tp, x, params_tensor(&m->ps, m->lnf_w), lm_param(&m->ps, m->lnf_b), (real)1e-5);
    tensor *z = lm_logits(m, tp, x);
    memcpy(logits, z->data, (size_t)c->vocab * sizeof *logits);
    dc->len++;
    tape_reset(tp);
}
