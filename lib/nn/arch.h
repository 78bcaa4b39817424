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

#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/tape.h"
#include "nn/lm_config.h"

/* Matrix-product work of one block per token of a window of T, in multiply-adds (nn/lm_flops.h says
 * what is counted). */
typedef struct {
    double dense;       /* the block's linear layers */
    double attention;   /* scores and value sums over the keys a query sees on average */
    double memory;      /* reads of learned memory tables */
    double scan;        /* leaky-average scans: one multiply-add per element */
} lm_block_macs;

typedef struct lm_arch_ops {
    const char *name;        /* as --arch and checkpoints spell it */
    int attends;             /* blocks attend over positions: usable bidirectionally (probe), as a
                              * memory model's stack, by cached decoding and attention analyses */
    int takes_positions;     /* --pos applies (absolute, rotary or ALiBi positions) */
    int nearest_key;         /* the nearest key a query reads: 0 itself (causal), 1 the previous
                              * position (strict mask) */
    /* The token embedding's initial standard deviation. */
    double (*embed_std)(const lm_config *c);
    int embed_dropout;       /* dropout on the embedding as well as on the residual branches */
    size_t block_size;       /* bytes of one layer's parameter-index struct */

    /* Architecture-specific checks and defaults after the shared ones: 0, or -1 with a message
     * naming the option. */
    int (*resolve)(lm_config *c, err_t *e);
    void (*declare)(void *block, param_store *ps, const lm_config *c, int layer);
    void (*init)(const void *block, param_store *ps, const lm_config *c, rng *r);
    /* The whole window x [B, T, d] (cache NULL), or one token x [1, 1, d] at position pos against
     * the layer's decoding cache, which it extends. */
    tensor *(*forward)(const void *block, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                       void *cache, int pos);
    /* A layer's decoding cache for up to cap tokens, and its release; NULL when the architecture
     * does not decode incrementally. */
    void *(*cache_new)(const lm_config *c, int cap);
    void (*cache_free)(void *cache);
    /* The scale of the tied head's logits (1 unless the architecture scales them). */
    double (*logit_scale)(const lm_config *c);
    lm_block_macs (*macs)(const lm_config *c, int T);
    /* Head h's leaky-average coefficient lambda of its contextual keys; NULL without. */
    double (*head_leak)(const void *block, param_store *ps, int h);
    /* The architecture's own option that a checkpoint records under variant_key (gpt: "gelu", the
     * mosaic: "mosaic_variant"; NULL: none): its value's name, and its parse from a value, or from
     * NULL when a checkpoint lacks the key (what checkpoints held before the key existed). 0 or -1. */
    const char *variant_key;
    const char *(*variant_name)(const lm_config *c);
    int (*variant_parse)(lm_config *c, const char *value);
} lm_arch_ops;

const lm_arch_ops *lm_arch_table(lm_arch a);
/* Registered architectures, in lm_arch order. */
int lm_arch_count(void);
const char *lm_arch_name(lm_arch a);
int lm_arch_parse(const char *s, lm_arch *a);     /* 0 or -1 */
const char *lm_pos_name(lm_pos p);
int lm_pos_parse(const char *s, lm_pos *p);
const char *lm_gelu_name(lm_gelu g);
int lm_gelu_parse(const char *s, lm_gelu *g);
const char *lm_mosaic_variant_name(lm_mosaic_variant v);
int lm_mosaic_variant_parse(const char *s, lm_mosaic_variant *v);

/* Fills defaults and checks the shape: d divisible by heads, sizes positive, then the
 * architecture's own (an even head size for gpt with RoPE, the mosaic's pmem). 0 or -1 with a message
 * naming the option at fault ("--d 100 is not divisible by --heads 3"). */
int lm_config_resolve(lm_config *c, err_t *e);
/* The longest input a configuration accepts: ctx with learned positions, else unbounded (0). */
int lm_config_max_len(const lm_config *c);
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
