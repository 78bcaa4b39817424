/* The memory-mosaic block (docs/models.md#mosaic-the-memory-mosaic-network): x += CtxMem(LN1 x); x += PMem(LN2 x).
 *
 * Contextual memory, per head: keys k = s * leaky(W_k x) / |.|, used as queries too; values
 * v = alpha * (c v~_t + (1 - c) v~_{t+1}) / |.| with v~ = W_v x; attention over earlier positions
 * only (strict mask: v_u peeks at x_{u+1}), logits k_t . k_u (no further scale), output projection.
 * Persistent memory, per head: keys extracted the same way with scale s^2, attention over a learned
 * table of P key/value pairs, outputs scaled by alpha, output projection.
 *
 * The per-head scalars are stored divided by 10 and multiplied by 10 in the forward pass, as in the
 * Memory Mosaics library (its `exp_param_scale`): the same optimiser then moves them 10x faster
 * than the matrices. So a stored leaky rate 0.05 means lambda = 0.5, a = e^-0.5.
 *
 * --mosaic-variant nano follows nanoMosaics instead: other key-scale caps and initialisation (and, in
 * lm.c, no logit scale); docs/fidelity.md compares both with the public code term by term. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "nn/arch_ops.h"
#include "nn/layers.h"

#define MOSAIC_PARAM_SCALE 10.0
/* Key-scale caps. The library: s = exp(min(10 kappa, 5)), squared for the persistent memory (cap 10
 * on the exponent), so logits stay below e^10. nanoMosaics: the exponent (10 kappa, or 20 kappa for
 * the persistent memory) capped at ln 65535, for both memories ("fits in fp16"). */
#define MOSAIC_KEY_SCALE_CAP 5.0
#define MOSAIC_NANO_KEY_SCALE_CAP 11.090339630053647   /* ln 65535 */

typedef struct {
    int ln1_w, ln1_b, ln2_w, ln2_b;
    /* contextual memory */
    int ck_w, ck_b, cv_w, cv_b, c_proj_w, c_proj_b, c_leak, c_kscale, c_vmix, c_vscale;
    /* persistent memory */
    int pk_w, pk_b, p_keys, p_values, p_proj_w, p_proj_b, p_leak, p_kscale, p_vscale;
} mosaic_block;

/* What the contextual memory has stored: the keys (leaky averages are a recurrence, so each block
 * keeps the running average of both its contextual and its persistent-memory keys) and the values,
 * completed one step late: v_u mixes W_v x_u with W_v x_{u+1}, so the value of the previous position
 * is written when the next token arrives, before the current position reads it (the strict mask
 * never reads v_t at t). */
typedef struct {
    real *k, *v;              /* [cap, d] */
    real *vraw;               /* W_v x of the last position [d], its value still to complete */
    real *leak_ctx, *leak_pm; /* running leaky averages of the two key streams [d] */
    device_kind dev;          /* where the rows live: the model's device */
} mosaic_cache;

static int mosaic_resolve(lm_config *c, err_t *e)
{
    if (c->pmem <= 0)
        c->pmem = (int)lround(3.5 * c->d);
    return 0;
}

static int declare_head_scalar(param_store *ps, int layer, const char *name, int H)
{
    char p[PARAM_NAME_MAX];
    snprintf(p, sizeof p, "h.%d.%s", layer, name);
    return params_declare_auto(ps, p, 1, (int[]){H});
}

static void mosaic_declare(void *block, param_store *ps, const lm_config *c, int layer)
{
    mosaic_block *b = block;
    char p[PARAM_NAME_MAX];
    const int d = c->d, H = c->heads;
    snprintf(p, sizeof p, "h.%d.ln_1", layer);
    layers_declare_layernorm(ps, p, d, c->bias, &b->ln1_w, &b->ln1_b);
    snprintf(p, sizeof p, "h.%d.ctx.W_k", layer);
    layers_declare_linear(ps, p, d, d, c->bias, &b->ck_w, &b->ck_b);
    snprintf(p, sizeof p, "h.%d.ctx.W_v", layer);
    layers_declare_linear(ps, p, d, d, c->bias, &b->cv_w, &b->cv_b);
    snprintf(p, sizeof p, "h.%d.ctx.c_proj", layer);
    layers_declare_linear(ps, p, d, d, c->bias, &b->c_proj_w, &b->c_proj_b);
    b->c_leak = declare_head_scalar(ps, layer, "ctx.leaky_key_beta", H);
    b->c_kscale = declare_head_scalar(ps, layer, "ctx.kernel_beta", H);
    b->c_vmix = declare_head_scalar(ps, layer, "ctx.value_coef", H);
    b->c_vscale = declare_head_scalar(ps, layer, "ctx.value_beta", H);

    snprintf(p, sizeof p, "h.%d.ln_2", layer);
    layers_declare_layernorm(ps, p, d, c->bias, &b->ln2_w, &b->ln2_b);
    snprintf(p, sizeof p, "h.%d.pmem.W_k", layer);
    layers_declare_linear(ps, p, d, d, c->bias, &b->pk_w, &b->pk_b);
    /* Tables [P, d]: head h's slot j is row j, columns h*hs .. h*hs+hs-1. */
    snprintf(p, sizeof p, "h.%d.pmem.M_k", layer);
    b->p_keys = params_declare_auto(ps, p, 2, (int[]){c->pmem, d});
    snprintf(p, sizeof p, "h.%d.pmem.M_v", layer);
    b->p_values = params_declare_auto(ps, p, 2, (int[]){c->pmem, d});
    snprintf(p, sizeof p, "h.%d.pmem.c_proj", layer);
    layers_declare_linear(ps, p, d, d, c->bias, &b->p_proj_w, &b->p_proj_b);
    b->p_leak = declare_head_scalar(ps, layer, "pmem.leaky_key_beta", H);
    b->p_kscale = declare_head_scalar(ps, layer, "pmem.kernel_beta", H);
    b->p_vscale = declare_head_scalar(ps, layer, "pmem.value_beta", H);
}

/* Leaky rates lambda evenly spaced over 0.5 .. 5 across heads (stored / 10). */
static void init_leak(param_store *ps, int idx, int H)
{
    real *t = params_tensor(ps, idx)->data;
    for (int h = 0; h < H; h++)
        t[h] = (real)((H == 1 ? 0.5 : 0.5 + 4.5 * h / (H - 1)) / MOSAIC_PARAM_SCALE);
}

static void mosaic_init(const void *block, param_store *ps, const lm_config *c, rng *r)
{
    const mosaic_block *b = block;
    const int d = c->d, H = c->heads;
    /* The library: linear layers N(0, 1/fan_in), output projections / sqrt(L); nanoMosaics keeps
     * nanoGPT's N(0, 0.02) and 0.02 / sqrt(2L). */
    const int nano = c->mosaic_variant == MOSAIC_NANO;
    const double std = nano ? 0.02 : 1 / sqrt(d);
    const double proj_std = nano ? 0.02 / sqrt(2.0 * c->layers) : std / sqrt(c->layers);
    params_fill(ps, b->ln1_w, 1);
    params_fill(ps, b->ln2_w, 1);
    layers_fill_if(ps, b->ln1_b, 0);
    layers_fill_if(ps, b->ln2_b, 0);
    params_init_normal(ps, b->ck_w, std, r);
    params_init_normal(ps, b->cv_w, std, r);
    params_init_normal(ps, b->c_proj_w, proj_std, r);
    params_init_normal(ps, b->pk_w, std, r);
    params_init_normal(ps, b->p_keys, 1 / sqrt(d / H), r);
    params_init_normal(ps, b->p_values, 1 / sqrt(d / H), r);
    params_init_normal(ps, b->p_proj_w, proj_std, r);
    layers_fill_if(ps, b->ck_b, 0);
    layers_fill_if(ps, b->cv_b, 0);
    layers_fill_if(ps, b->c_proj_b, 0);
    layers_fill_if(ps, b->pk_b, 0);
    layers_fill_if(ps, b->p_proj_b, 0);
    init_leak(ps, b->c_leak, H);
    init_leak(ps, b->p_leak, H);
    params_fill(ps, b->c_kscale, 1 / MOSAIC_PARAM_SCALE);    /* s = e */
    params_fill(ps, b->p_kscale, 1 / MOSAIC_PARAM_SCALE);
    params_init_uniform(ps, b->c_vmix, 0, 1, r);
    params_fill(ps, b->c_vscale, -0.5 / MOSAIC_PARAM_SCALE);  /* alpha = e^-0.5 */
    params_fill(ps, b->p_vscale, -0.5 / MOSAIC_PARAM_SCALE);
}

static tensor *scaled(tape *tp, param_store *ps, int idx, double factor)
{
    return op_scale(tp, params_tensor(ps, idx), (real)(MOSAIC_PARAM_SCALE * factor));
}

/* One step of the leaky average y_t = x_t + a y_{t-1} at position pos for x [1, 1, d], carrying y
 * in state (y_0 = x_0): the window's own leaky-average op over the two rows [y_{pos-1}, x_pos], so
 * that a decoded key is the window's on either device. */
static tensor *leaky_step(tape *tp, tensor *x, tensor *theta, real *state, int pos)
{
    const int d = x->shape[2];
    if (pos > 0) {
        tensor *pair = tape_tensor(tp, 3, (int[]){1, 2, d});
        layers_buffer_copy(tp, pair->data, state, (size_t)d);
        layers_buffer_copy(tp, pair->data + d, x->data, (size_t)d);
        x = op_slice(tp, op_leaky_avg(tp, pair, theta), 1, 1, 1);
    }
    layers_buffer_copy(tp, state, x->data, (size_t)d);
    return x;
}

/* The cap on the key scale's exponent power * 10 kappa. */
static real key_scale_cap(const lm_config *c, double power)
{
    return (real)(c->mosaic_variant == MOSAIC_NANO ? MOSAIC_NANO_KEY_SCALE_CAP : MOSAIC_KEY_SCALE_CAP * power);
}

/* Normalised leaky-averaged keys with scale exp(min(power * 10 kappa, cap)), per head; one token at
 * position pos carrying the running average in state, or (state NULL) the whole window. */
static tensor *mosaic_keys(tape *tp, param_store *ps, tensor *x, int w, int bias, int leak, int kscale,
                           double power, real cap, real *state, int pos)
{
    tensor *k = layers_linear(tp, ps, x, w, bias);
    tensor *theta = scaled(tp, ps, leak, 1);
    if (state)
        k = leaky_step(tp, k, theta, state, pos);
    else
        k = op_leaky_avg(tp, k, theta);
    return op_rownorm_scale(tp, k, scaled(tp, ps, kscale, power), cap);
}

/* Values alpha (c v~_t + (1 - c) v~_{t+1}) / |.| from v~ = W_v x [B, T, d]. */
static tensor *mosaic_values(tape *tp, param_store *ps, const mosaic_block *b, tensor *v)
{
    v = op_lookahead_mix(tp, v, params_tensor(ps, b->c_vmix));
    return op_rownorm_scale(tp, v, scaled(tp, ps, b->c_vscale, 1), (real)INFINITY);
}

/* The cached contextual memory at position pos: completes the value of pos - 1 now that W_v x_pos is
 * known (the same mix as the window's, on the two rows), stores key pos, and reads keys 0..pos-1. */
static tensor *mosaic_ctx_decode(tape *tp, param_store *ps, const mosaic_block *b, const lm_config *c, tensor *k,
                                 tensor *v, mosaic_cache *kc, int pos)
{
    const int d = c->d;
    if (pos > 0) {
        tensor *pair = tape_tensor(tp, 3, (int[]){1, 2, d});
        layers_buffer_copy(tp, pair->data, kc->vraw, (size_t)d);
        layers_buffer_copy(tp, pair->data + d, v->data, (size_t)d);
        layers_buffer_copy(tp, kc->v + (size_t)(pos - 1) * d, mosaic_values(tp, ps, b, pair)->data, (size_t)d);
    }
    layers_buffer_copy(tp, kc->vraw, v->data, (size_t)d);
    layers_buffer_copy(tp, kc->k + (size_t)pos * d, k->data, (size_t)d);
    /* kc->v row pos is never read (the strict mask stops at pos - 1): left as allocated, zero */
    return op_attention(tp, k, layers_buffer_view(tp, kc->k, pos + 1, d), layers_buffer_view(tp, kc->v, pos + 1, d),
                        c->heads, (att_mask){ATT_STRICT, 0}, 1);
}

/* The whole window (cache NULL), or one token at position pos against the cache. */
static tensor *mosaic_forward(const void *block, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                              void *cache, int pos)
{
    const mosaic_block *b = block;
    mosaic_cache *kc = cache;
    const int d = c->d, H = c->heads;
    const int B = x->shape[0], T = x->shape[1];
    const real p = (real)c->dropout;

    /* Contextual memory. */
    tensor *h = layers_layernorm(tp, ps, x, b->ln1_w, b->ln1_b);
    tensor *k = mosaic_keys(tp, ps, h, b->ck_w, b->ck_b, b->c_leak, b->c_kscale, 1, key_scale_cap(c, 1),
                            kc ? kc->leak_ctx : NULL, pos);
    tensor *v = layers_linear(tp, ps, h, b->cv_w, b->cv_b);
    tensor *y = kc ? mosaic_ctx_decode(tp, ps, b, c, k, v, kc, pos)
                   : op_attention(tp, k, k, mosaic_values(tp, ps, b, v), H,
                                  (att_mask){c->bidirectional ? ATT_FULL : ATT_STRICT, 0}, 1);
    x = layers_residual_linear(tp, ps, x, y, b->c_proj_w, b->c_proj_b, p, drop);

    /* Persistent memory: every position of every sequence queries the same table, so the batch is
     * one long row of queries (one sgemm per head instead of one per sequence). */
    h = layers_layernorm(tp, ps, x, b->ln2_w, b->ln2_b);
    k = mosaic_keys(tp, ps, h, b->pk_w, b->pk_b, b->p_leak, b->p_kscale, 2, key_scale_cap(c, 2),
                    kc ? kc->leak_pm : NULL, pos);
    k = op_reshape(tp, k, 3, (int[]){1, B * T, d});
    y = op_attention(tp, k, params_tensor(ps, b->p_keys), params_tensor(ps, b->p_values), H,
                     (att_mask){ATT_FULL, 0}, 1);
    y = op_reshape(tp, y, 3, (int[]){B, T, d});
    y = op_exp_scale(tp, y, scaled(tp, ps, b->p_vscale, 1), (real)INFINITY);
    return layers_residual_linear(tp, ps, x, y, b->p_proj_w, b->p_proj_b, p, drop);
}

static void *mosaic_cache_new(const lm_config *c, int cap, device_kind dev)
{
    mosaic_cache *kc = xcalloc(1, sizeof *kc);
    const size_t rows = (size_t)cap * c->d, row = (size_t)c->d;
    kc->k = layers_buffer_new(rows, dev);
    kc->v = layers_buffer_new(rows, dev);
    kc->vraw = layers_buffer_new(row, dev);
    kc->leak_ctx = layers_buffer_new(row, dev);
    kc->leak_pm = layers_buffer_new(row, dev);
    kc->dev = dev;
    return kc;
}

static void mosaic_cache_free(void *cache)
{
    mosaic_cache *kc = cache;
    real *bufs[] = {kc->k, kc->v, kc->vraw, kc->leak_ctx, kc->leak_pm};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        layers_buffer_free(bufs[i], kc->dev);
    free(kc);
}

/* The Memory Mosaics library multiplies the tied head's logits by 1/sqrt(d); nanoMosaics does not. */
static double mosaic_logit_scale(const lm_config *c) { return c->mosaic_variant == MOSAIC_NANO ? 1 : 1.0 / sqrt(c->d); }

/* The library: N(0, 1), which its logit scale 1/sqrt(d) brings back to unit-size logits;
 * nanoMosaics: nanoGPT's N(0, 0.02). */
static double mosaic_embed_std(const lm_config *c) { return c->mosaic_variant == MOSAIC_NANO ? 0.02 : 1.0; }

/* ctx.W_k, ctx.W_v, ctx.c_proj, pmem.W_k, pmem.c_proj; the contextual memory's keys are their own
 * queries under the strict mask (t earlier keys); the persistent memory reads P key and P value
 * slots per head; two leaky averages (contextual and persistent keys). */
static lm_block_macs mosaic_macs(const lm_config *c, int T)
{
    const double d = c->d;
    return (lm_block_macs){.dense = 5 * d * d,
                           .attention = 2 * d * (c->bidirectional ? T : (T - 1) / 2.0),
                           .memory = 2 * d * c->pmem,
                           .scan = 2 * d};
}

/* lambda = |10 theta| (the stored value is divided by MOSAIC_PARAM_SCALE). */
static double mosaic_head_leak(const void *block, param_store *ps, int h)
{
    const mosaic_block *b = block;
    real theta;   /* one number, read from the GPU when the store is there */
    mem_copy(&theta, MEM_HOST, params_tensor(ps, b->c_leak)->data + h, device_mem(ps->device), sizeof theta);
    return fabs(MOSAIC_PARAM_SCALE * theta);
}

static const char *mosaic_variant_name(const lm_config *c) { return lm_mosaic_variant_name(c->mosaic_variant); }

/* A checkpoint without "mosaic_variant" holds the library's mosaic, memlab's only one before. */
static int mosaic_variant_parse(lm_config *c, const char *value)
{
    if (!value) {
        c->mosaic_variant = MOSAIC_LIBRARY;
        return 0;
    }
    return lm_mosaic_variant_parse(value, &c->mosaic_variant);
}

const lm_arch_ops mosaic_arch = {
    .name = "mosaic",
    .attends = 1,
    .takes_positions = 0,
    .nearest_key = 1,
    .embed_std = mosaic_embed_std,
    .embed_dropout = 0,
    .block_size = sizeof(mosaic_block),
    .resolve = mosaic_resolve,
    .declare = mosaic_declare,
    .init = mosaic_init,
    .forward = mosaic_forward,
    .cache_new = mosaic_cache_new,
    .cache_free = mosaic_cache_free,
    .logit_scale = mosaic_logit_scale,
    .macs = mosaic_macs,
    .head_leak = mosaic_head_leak,
    .variant_key = "mosaic_variant",
    .variant_name = mosaic_variant_name,
    .variant_parse = mosaic_variant_parse,
};
