#include "nn/lm_flops.h"

/* The keys one query sees on average over the T positions of a window: t + 1 under the causal mask
 * (sum (T + 1) / 2), t under the mosaic's strict mask ((T - 1) / 2), all T when bidirectional. */
static double mean_keys(int T, int strict, int bidirectional)
{
    if (bidirectional)
        return T;
    return strict ? (T - 1) / 2.0 : (T + 1) / 2.0;
}

lm_flops lm_flops_per_token(const lm_config *c)
{
    const double d = c->d, L = c->layers, V = c->vocab;
    lm_flops f = {0};
    double block_macs = 0, att_macs = 0, mem_macs = 0;
    switch (c->arch) {
    case LM_GPT:
        /* c_attn 3d^2, attn.c_proj d^2, mlp.c_fc 4d^2, mlp.c_proj 4d^2 */
        block_macs = 12 * d * d;
        /* every head: hs per score and hs per value row, over its keys: d * keys each */
        att_macs = 2 * d * mean_keys(c->ctx, 0, c->bidirectional);
        break;
    case LM_MOSAIC:
        /* ctx.W_k, ctx.W_v, ctx.c_proj, pmem.W_k, pmem.c_proj */
        block_macs = 5 * d * d;
        /* contextual memory: keys are their own queries, strict mask */
        att_macs = 2 * d * mean_keys(c->ctx, 1, c->bidirectional);
        /* persistent memory: every query against P key and P value slots per head (d * P each);
         * two leaky averages (contextual and persistent keys): one multiply-add per element */
        mem_macs = 2 * d * c->pmem + 2 * d;
        break;
    case LM_LSTM:
        /* input and recurrent products of the four gates; the recurrence has no attention */
        block_macs = 8 * d * d;
        break;
    }
    f.dense = 2 * (L * block_macs + V * d);
    f.attention = 2 * L * att_macs;
    f.memory = 2 * L * mem_macs;
    f.forward = f.dense + f.attention + f.memory;
    f.train = 3 * f.forward;
    return f;
}
