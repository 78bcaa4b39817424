#include "nn/lm_flops.h"

lm_flops lm_flops_per_token(const lm_config *c)
{
    const double L = c->layers, V = c->vocab;
    const lm_block_macs b = lm_arch_table(c->arch)->macs(c, c->ctx);
    lm_flops f = {0};
    f.dense = 2 * (L * b.dense + V * c->d);
    f.attention = 2 * L * b.attention;
    f.memory = 2 * L * (b.memory + b.scan);
    f.forward = f.dense + f.attention + f.memory;
    f.train = 3 * f.forward;
    return f;
}
