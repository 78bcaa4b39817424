/* The nanoGPT block: x += proj(attention(LN1 x)); x += fc_proj(gelu(fc(LN2 x))). Causal attention
 * with learned W_q, W_k, W_v in one [3d, d] matrix (as nanoGPT's c_attn), logits scaled 1/sqrt(hs),
 * a 4d MLP with nanoGPT's exact GELU (or GPT-2's tanh approximation: --gelu tanh). Relative positions live here: RoPE rotates q and k, ALiBi biases
 * the logits (learned absolute positions are added to the embedding in lm.c). Dropout on the
 * residual branches; attention-probability dropout is not implemented (the attention kernel keeps
 * no mask for it). */
#include <math.h>
#include <stdio.h>

#include <string.h>

#include "core/ops.h"
#include "nn/lm.h"
#include "nn/lm_decode.h"

void gpt_block_declare(lm_block *b, param_store *ps, const lm_config *c, int layer)
{
    char p[PARAM_NAME_MAX];
    const int d = c->d;
    snprintf(p, sizeof p, "h.%d.ln_1", layer);
    lm_declare_layernorm(ps, p, d, c->bias, &b->ln1_w, &b->ln1_b);
    snprintf(p, sizeof p, "h.%d.attn.c_attn", layer);
    lm_declare_linear(ps, p, 3 * d, d, c->bias, &b->attn_w, &b->attn_b);
    snprintf(p, sizeof p, "h.%d.attn.c_proj", layer);
    lm_declare_linear(ps, p, d, d, c->bias, &b->attn_proj_w, &b->attn_proj_b);
    snprintf(p, sizeof p, "h.%d.ln_2", layer);
    lm_declare_layernorm(ps, p, d, c->bias, &b->ln2_w, &b->ln2_b);
    snprintf(p, sizeof p, "h.%d.mlp.c_fc", layer);
    lm_declare_linear(ps, p, 4 * d, d, c->bias, &b->fc_w, &b->fc_b);
    snprintf(p, sizeof p, "h.%d.mlp.c_proj", layer);
    lm_declare_linear(ps, p, d, 4 * d, c->bias, &b->fc_proj_w, &b->fc_proj_b);
}

static void zero_if(param_store *ps, int idx)
{
    if (idx >= 0)
        params_fill(ps, idx, 0);
}

void gpt_block_init(const lm_block *b, param_store *ps, const lm_config *c, rng *r)
{
    const double proj_std = 0.02 / sqrt(2.0 * c->layers);
    params_fill(ps, b->ln1_w, 1);
    params_fill(ps, b->ln2_w, 1);
    zero_if(ps, b->ln1_b);
    zero_if(ps, b->ln2_b);
    params_init_normal(ps, b->attn_w, 0.02, r);
    params_init_normal(ps, b->attn_proj_w, proj_std, r);
    params_init_normal(ps, b->fc_w, 0.02, r);
    params_init_normal(ps, b->fc_proj_w, proj_std, r);
    zero_if(ps, b->attn_b);
    zero_if(ps, b->attn_proj_b);
    zero_if(ps, b->fc_b);
    zero_if(ps, b->fc_proj_b);
}

/* The whole window (kc NULL), or one token at position pos against the cache kc: its key and value
 * are appended to the cache and its query reads every cached position (the causal mask puts a
 * single query row at the last key). */
static tensor *gpt_block(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                         lm_layer_cache *kc, int pos)
{
    const int d = c->d, hs = d / c->heads;
    const real eps = (real)1e-5, p = (real)c->dropout;
    tensor *h = op_layernorm(tp, x, params_tensor(ps, b->ln1_w), lm_param(ps, b->ln1_b), eps);
    tensor *qkv = op_linear(tp, h, params_tensor(ps, b->attn_w), lm_param(ps, b->attn_b));
    tensor *q = op_slice(tp, qkv, -1, 0, d);
    tensor *k = op_slice(tp, qkv, -1, d, d);
    tensor *v = op_slice(tp, qkv, -1, 2 * d, d);
    if (c->pos == POS_ROPE) {
        q = op_rope(tp, q, c->heads, pos);
        k = op_rope(tp, k, c->heads, pos);
    }
    if (kc) {
        memcpy(kc->k + (size_t)pos * d, k->data, (size_t)d * sizeof(real));
        memcpy(kc->v + (size_t)pos * d, v->data, (size_t)d * sizeof(real));
        k = lm_cache_view(tp, kc->k, pos + 1, d);
        v = lm_cache_view(tp, kc->v, pos + 1, d);
    }
    const att_mask mask = {c->bidirectional ? ATT_FULL : ATT_CAUSAL, 0};
    const real scale = (real)(1.0 / sqrt(hs));
    tensor *a = c->pos == POS_ALIBI ? op_attention_alibi(tp, q, k, v, c->heads, mask, scale)
                                    : op_attention(tp, q, k, v, c->heads, mask, scale);
    a = op_linear(tp, a, params_tensor(ps, b->attn_proj_w), lm_param(ps, b->attn_proj_b));
    x = op_add(tp, x, op_dropout(tp, a, p, drop));

    h = op_layernorm(tp, x, params_tensor(ps, b->ln2_w), lm_param(ps, b->ln2_b), eps);
    h = op_linear(tp, h, params_tensor(ps, b->fc_w), lm_param(ps, b->fc_b));
    h = c->gelu == GELU_TANH ? op_gelu(tp, h) : op_gelu_erf(tp, h);
    h = op_linear(tp, h, params_tensor(ps, b->fc_proj_w), lm_param(ps, b->fc_proj_b));
    return op_add(tp, x, op_dropout(tp, h, p, drop));
}

tensor *gpt_block_forward(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop)
{
    return gpt_block(b, ps, c, tp, x, drop, NULL, 0);
}

tensor *gpt_block_decode(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x,
                         lm_layer_cache *kc, int pos)
{
    return gpt_block(b, ps, c, tp, x, NULL, kc, pos);
}
