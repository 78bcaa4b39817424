/* The nanoGPT block: x += proj(attention(LN1 x)); x += fc_proj(gelu(fc(LN2 x))). Causal attention
 * with learned W_q, W_k, W_v in one [3d, d] matrix (as nanoGPT's c_attn), logits scaled 1/sqrt(hs),
 * a 4d MLP with nanoGPT's exact GELU (or GPT-2's tanh approximation: --gelu tanh). Relative
 * positions live here: RoPE rotates q and k, ALiBi biases the logits (learned absolute positions are added to the embedding in lm.c). Dropout on the
 * residual branches; attention-probability dropout is not implemented (the attention kernel keeps
 * no mask for it). Decoding keeps each block's keys and values (a KV cache). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "nn/arch_ops.h"
#include "nn/layers.h"

typedef struct {
    int ln1_w, ln1_b, ln2_w, ln2_b;
    int attn_w, attn_b, attn_proj_w, attn_proj_b, fc_w, fc_b, fc_proj_w, fc_proj_b;
} gpt_block;

typedef struct {
    real *k, *v;   /* [cap, d]: the keys and values of the positions so far */
    device_kind dev;
} gpt_cache;

static int gpt_resolve(lm_config *c, err_t *e)
{
    if (c->pos == POS_ROPE && (c->d / c->heads) % 2 != 0)
        return err_set(e, "--pos rope needs an even head size (--d %d / --heads %d = %d)", c->d, c->heads,
                       c->d / c->heads);
    return 0;
}

static void gpt_declare(void *block, param_store *ps, const lm_config *c, int layer)
{
    gpt_block *b = block;
    char p[PARAM_NAME_MAX];
    const int d = c->d;
    snprintf(p, sizeof p, "h.%d.ln_1", layer);
    layers_declare_layernorm(ps, p, d, c->bias, &b->ln1_w, &b->ln1_b);
    snprintf(p, sizeof p, "h.%d.attn.c_attn", layer);
    layers_declare_linear(ps, p, 3 * d, d, c->bias, &b->attn_w, &b->attn_b);
    snprintf(p, sizeof p, "h.%d.attn.c_proj", layer);
    layers_declare_linear(ps, p, d, d, c->bias, &b->attn_proj_w, &b->attn_proj_b);
    snprintf(p, sizeof p, "h.%d.ln_2", layer);
    layers_declare_layernorm(ps, p, d, c->bias, &b->ln2_w, &b->ln2_b);
    snprintf(p, sizeof p, "h.%d.mlp.c_fc", layer);
    layers_declare_linear(ps, p, 4 * d, d, c->bias, &b->fc_w, &b->fc_b);
    snprintf(p, sizeof p, "h.%d.mlp.c_proj", layer);
    layers_declare_linear(ps, p, d, 4 * d, c->bias, &b->fc_proj_w, &b->fc_proj_b);
}

static void gpt_init(const void *block, param_store *ps, const lm_config *c, rng *r)
{
    const gpt_block *b = block;
    const double proj_std = 0.02 / sqrt(2.0 * c->layers);
    params_fill(ps, b->ln1_w, 1);
    params_fill(ps, b->ln2_w, 1);
    layers_fill_if(ps, b->ln1_b, 0);
    layers_fill_if(ps, b->ln2_b, 0);
    params_init_normal(ps, b->attn_w, 0.02, r);
    params_init_normal(ps, b->attn_proj_w, proj_std, r);
    params_init_normal(ps, b->fc_w, 0.02, r);
    params_init_normal(ps, b->fc_proj_w, proj_std, r);
    layers_fill_if(ps, b->attn_b, 0);
    layers_fill_if(ps, b->attn_proj_b, 0);
    layers_fill_if(ps, b->fc_b, 0);
    layers_fill_if(ps, b->fc_proj_b, 0);
}

/* The whole window (cache NULL), or one token at position pos against the cache: its key and value
 * are appended and its query reads every cached position (the causal mask puts a single query row
 * at the last key). */
static tensor *gpt_forward(const void *block, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                           void *cache, int pos)
{
    const gpt_block *b = block;
    gpt_cache *kc = cache;
    const int d = c->d, hs = d / c->heads;
    const real p = (real)c->dropout;
    tensor *h = layers_layernorm_to_linear(tp, ps, x, b->ln1_w, b->ln1_b);   /* read by the q|k|v linear alone */
    /* read only by op_attention_qkv when no cache, rotation or observer wants q and k in fp32: then
     * written in bf16 only under --dtype bf16 (op_linear_bf16_out) */
    const int qkv_fused = !kc && c->pos != POS_ROPE;
    tensor *qkv = qkv_fused && !tp->att_observer
                      ? op_linear_bf16_out(tp, h, params_tensor(ps, b->attn_w), layers_param(ps, b->attn_b))
                      : layers_linear(tp, ps, h, b->attn_w, b->attn_b);
    const att_mask mask = {c->bidirectional ? ATT_FULL : ATT_CAUSAL, 0};
    const real scale = (real)(1.0 / sqrt(hs));
    const int alibi = c->pos == POS_ALIBI;
    tensor *a;
    if (qkv_fused) {
        /* the window's q, k, v are read inside qkv: no copies of them, nor of their gradients */
        a = op_attention_qkv(tp, qkv, c->heads, mask, scale, alibi);
    } else {
        tensor *q = op_slice(tp, qkv, -1, 0, d);
        tensor *k = op_slice(tp, qkv, -1, d, d);
        tensor *v = op_slice(tp, qkv, -1, 2 * d, d);
        if (c->pos == POS_ROPE) {
            q = op_rope(tp, q, c->heads, pos);
            k = op_rope(tp, k, c->heads, pos);
        }
        if (kc) {
            layers_buffer_copy(tp, kc->k + (size_t)pos * d, k->data, (size_t)d);
            layers_buffer_copy(tp, kc->v + (size_t)pos * d, v->data, (size_t)d);
            k = layers_buffer_view(tp, kc->k, pos + 1, d);
            v = layers_buffer_view(tp, kc->v, pos + 1, d);
        }
        a = alibi ? op_attention_alibi(tp, q, k, v, c->heads, mask, scale)
                  : op_attention(tp, q, k, v, c->heads, mask, scale);
    }
    x = layers_residual_linear(tp, ps, x, a, b->attn_proj_w, b->attn_proj_b, p, drop);

    h = layers_layernorm_to_linear(tp, ps, x, b->ln2_w, b->ln2_b);   /* read by the MLP's up-projection alone */
    h = c->gelu == GELU_TANH ? op_gelu(tp, layers_linear(tp, ps, h, b->fc_w, b->fc_b))
                             : op_linear_gelu_erf(tp, h, params_tensor(ps, b->fc_w), layers_param(ps, b->fc_b));
    return layers_residual_linear(tp, ps, x, h, b->fc_proj_w, b->fc_proj_b, p, drop);
}

static void *gpt_cache_new(const lm_config *c, int cap, device_kind dev)
{
    gpt_cache *kc = xcalloc(1, sizeof *kc);
    const size_t rows = (size_t)cap * c->d;
    kc->k = layers_buffer_new(rows, dev);
    kc->v = layers_buffer_new(rows, dev);
    kc->dev = dev;
    return kc;
}

static void gpt_cache_free(void *cache)
{
    gpt_cache *kc = cache;
    layers_buffer_free(kc->k, kc->dev);
    layers_buffer_free(kc->v, kc->dev);
    free(kc);
}

static double gpt_logit_scale(const lm_config *c) { return 1; }

static double gpt_embed_std(const lm_config *c) { return 0.02; }

static const char *gpt_variant_name(const lm_config *c) { return lm_gelu_name(c->gelu); }

/* A checkpoint without "gelu" was trained with the tanh form, memlab's only one before. */
static int gpt_variant_parse(lm_config *c, const char *value)
{
    if (!value) {
        c->gelu = GELU_TANH;
        return 0;
    }
    return lm_gelu_parse(value, &c->gelu);
}

/* c_attn 3d^2, attn.c_proj d^2, mlp.c_fc 4d^2, mlp.c_proj 4d^2; every head: hs per score and hs per
 * value row over its keys (causal: t + 1 of them). */
static lm_block_macs gpt_macs(const lm_config *c, int T)
{
    const double d = c->d;
    return (lm_block_macs){.dense = 12 * d * d,
                           .attention = 2 * d * (c->bidirectional ? T : (T + 1) / 2.0)};
}

const lm_arch_ops gpt_arch = {
    .name = "gpt",
    .attends = 1,
    .takes_positions = 1,
    .nearest_key = 0,
    .embed_std = gpt_embed_std,
    .embed_dropout = 1,
    .block_size = sizeof(gpt_block),
    .resolve = gpt_resolve,
    .declare = gpt_declare,
    .init = gpt_init,
    .forward = gpt_forward,
    .cache_new = gpt_cache_new,
    .cache_free = gpt_cache_free,
    .logit_scale = gpt_logit_scale,
    .macs = gpt_macs,
    .head_leak = NULL,
    .variant_key = "gelu",
    .variant_name = gpt_variant_name,
    .variant_parse = gpt_variant_parse,
};
