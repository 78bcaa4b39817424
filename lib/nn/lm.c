#include "nn/lm.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "nn/layers.h"

void lm_build(lm *m, const lm_config *c)
{
    lm_declare(m, c);
    params_alloc(&m->ps);
}

void lm_declare(lm *m, const lm_config *c)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->ops = lm_arch_table(c->arch);
    params_init(&m->ps);
    m->wte = params_declare_auto(&m->ps, "wte", 2, (int[]){c->vocab, c->d});
    m->wpe = -1;
    if (lm_config_max_len(c) > 0)
        m->wpe = params_declare_auto(&m->ps, "wpe", 2, (int[]){c->ctx, c->d});
    lm_stack_declare(&m->stack, &m->ps, c);
    layers_declare_layernorm(&m->ps, "ln_f", c->d, c->bias, &m->lnf_w, &m->lnf_b);
}

void lm_init_weights(lm *m, rng *r)
{
    const lm_config *c = &m->cfg;
    /* nanoGPT: position embeddings N(0, 0.02); the token embedding as its architecture says. */
    params_init_normal(&m->ps, m->wte, m->ops->embed_std(c), r);
    if (m->wpe >= 0)
        params_init_normal(&m->ps, m->wpe, 0.02, r);
    lm_stack_init(&m->stack, &m->ps, c, r);
    params_fill(&m->ps, m->lnf_w, 1);
    layers_fill_if(&m->ps, m->lnf_b, 0);
}

void lm_free(lm *m)
{
    params_free(&m->ps);
    lm_stack_free(&m->stack);
}

void lm_place(lm *m, device_kind d, int bf16)
{
    params_move(&m->ps, d);
    m->bf16 = d == DEV_CUDA && bf16;
}

void lm_tape_init(tape *tp, const lm *m)
{
    tape_init_on(tp, m->ps.device, m->bf16);
}

int lm_max_len(const lm *m) { return lm_config_max_len(&m->cfg); }

tensor *lm_hidden(lm *m, tape *tp, const int *ids, int B, int T, rng *drop)
{
    return lm_hidden_from(m, tp, op_embedding(tp, ids, B, T, params_tensor(&m->ps, m->wte)), drop);
}

tensor *lm_hidden_from(lm *m, tape *tp, tensor *x, rng *drop)
{
    const lm_config *c = &m->cfg;
    if (x->ndim != 3 || x->shape[2] != c->d)
        fatal("internal: an lm of width %d fed inputs of %d dimensions", c->d, x->shape[x->ndim - 1]);
    const int B = x->shape[0], T = x->shape[1];
    if (m->wpe >= 0) {
        if (T > c->ctx)
            fatal("internal: %d positions through a learned table of %d", T, c->ctx);
        /* Position ids t for every row of the batch: one lookup, gradients summed by the op. */
        int *pos = xmalloc((size_t)B * T * sizeof *pos);
        for (int i = 0; i < B * T; i++)
            pos[i] = i % T;
        tensor *pb = op_embedding(tp, pos, B, T, params_tensor(&m->ps, m->wpe));
        free(pos);
        x = op_add(tp, x, pb);
    }
    if (m->ops->embed_dropout)
        x = op_dropout(tp, x, (real)c->dropout, drop);
    x = lm_stack_forward(&m->stack, &m->ps, c, tp, x, drop, NULL, 0);
    return layers_layernorm(tp, &m->ps, x, m->lnf_w, m->lnf_b);
}

tensor *lm_logits(lm *m, tape *tp, tensor *h)
{
    tensor *logits = op_linear(tp, h, params_tensor(&m->ps, m->wte), NULL);
    const double scale = m->ops->logit_scale(&m->cfg);
    return scale == 1 ? logits : op_scale(tp, logits, (real)scale);
}

tensor *lm_head_loss(lm *m, tape *tp, tensor *h, const int *targets, int ignore)
{
    return op_linear_xent(tp, h, params_tensor(&m->ps, m->wte), (real)m->ops->logit_scale(&m->cfg), targets, ignore);
}

tensor *lm_forward(lm *m, tape *tp, const int *ids, int B, int T, rng *drop)
{
    return lm_logits(m, tp, lm_hidden(m, tp, ids, B, T, drop));
}

double lm_head_leak(lm *m, int l, int h)
{
    return m->ops->head_leak ? m->ops->head_leak(lm_stack_block(&m->stack, l), &m->ps, h) : NAN;
}
