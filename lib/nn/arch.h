/* The architecture interface: every block kind a language model can stack (gpt, mosaic, lstm) is one
 * table of functions and properties, registered once in nn/arch.c. Models (nn/lm.c, nn/probe.c,
 * nn/memmodel.c), decoding, FLOP counts and the experiments ask the table; none of them branches on
 * the architecture. Adding an architecture is one new file and one line of the registry.
 *
 * Each architecture keeps its parameter indices in a struct of its own (block_size bytes per
 * layer, filled by declare). */
#ifndef MEMLAB_NN_ARCH_H
#define MEMLAB_NN_ARCH_H

#include <stddef.h>

#include "nn/arch_ops.h"
#include "nn/lm_config.h"


const lm_arch_ops *lm_arch_table(lm_arch a);
/* Registered architectures, in lm_arch order. */
int lm_arch_count(void);
const char *lm_arch_name(lm_arch a);
int lm_arch_parse(const char *s, lm_arch *a);     /* 0 or -1 */

/* Fills defaults and checks the shape: d divisible by heads, sizes positive, then the
 * architecture's own (an even head size for gpt with RoPE, the mosaic's pmem). 0 or -1 with a message
 * naming the option at fault ("--d 100 is not divisible by --heads 3"). */
int lm_config_resolve(lm_config *c, err_t *e);
/* The longest input a configuration accepts: ctx with learned positions, else unbounded (0). */
int lm_config_max_len(const lm_config *c);
/* Whether two configurations describe the same stack: architecture, width and depth (an encoder
 * checkpoint against the options that ask for it). */
int lm_config_same_stack(const lm_config *a, const lm_config *b);
/* Whether two configurations of one architecture agree on its own option (variant_key). */
int lm_config_same_variant(const lm_config *a, const lm_config *b);
/* The positions a model of this configuration uses, as --pos names them ("none" for an
 * architecture without). */
const char *lm_config_pos_name(const lm_config *c);

/* A stack of `layers` blocks of one architecture: what a language model, the inversion probe and a
 * memory model's encoder and decoder are built around. */
typedef struct {
    const lm_arch_ops *ops;
    int layers;
    void *blocks;   /* layers * ops->block_size bytes */
} lm_stack;

void lm_stack_declare(lm_stack *s, param_store *ps, const lm_config *c);
void lm_stack_init(const lm_stack *s, param_store *ps, const lm_config *c, rng *r);
/* Layer l's parameter-index struct. */
const void *lm_stack_block(const lm_stack *s, int l);
/* x [B, T, d] through every block (caches NULL: the whole window), or one token through every
 * block against caches[l]. */
tensor *lm_stack_forward(const lm_stack *s, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                         void *const *caches, int pos);
void lm_stack_free(lm_stack *s);

#endif
