/* Model FLOPs of a language model per token: the work the model needs, counted from its shape, not
 * from what a kernel happens to execute, so that memlab and its PyTorch twins are measured against
 * the same number (benchmarks/NOTES.md §3 gives the formula with a worked example).
 *
 * A multiply-add counts 2 FLOPs. Counted: every matrix product (the linears, the tied output head),
 * the attention terms (scores q.k and the weighted sum of values, over the keys each query may see
 * under its mask, averaged over the T = cfg.ctx positions of a window), the mosaic's memory terms
 * (its persistent-memory reads over P slots, and its two leaky-average scans, one multiply-add per
 * element). Not counted: LayerNorm, GELU, softmax, the key and value normalisations, biases,
 * embedding lookups, the loss and the optimiser: elementwise work of O(d) per token that the usual
 * 6N rule leaves out as well.
 *
 * Training = 3 x forward: the backward pass of a product costs two products (the gradient of each
 * operand); the same factor is applied to the attention and memory terms. */
#ifndef MEMLAB_NN_LM_FLOPS_H
#define MEMLAB_NN_LM_FLOPS_H

#include "nn/lm.h"

typedef struct {
    double dense;      /* forward: the linears of every block and the output head (2 x matmul params) */
    double attention;  /* forward: scores and value sums (gpt attention, mosaic contextual memory) */
    double memory;     /* forward: mosaic persistent-memory reads and leaky averages; 0 for gpt */
    double forward;    /* dense + attention + memory */
    double train;      /* 3 x forward: one training step's FLOPs per token */
} lm_flops;

/* Per token of a window of cfg.ctx tokens, for a resolved configuration (pmem filled in). */
lm_flops lm_flops_per_token(const lm_config *c);

#endif
