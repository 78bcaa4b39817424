/* The architecture interface's types: the table of functions and properties each architecture
 * (nn/gpt.c, nn/mosaic.c, nn/lstm.c) fills in. Types only, so that an architecture depends on this
 * header and on nn/layers.h, never on the registry (nn/arch.h) that lists it. */
#ifndef MEMLAB_NN_ARCH_OPS_H
#define MEMLAB_NN_ARCH_OPS_H

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
    int cpu_only;            /* no GPU kernels: trains and predicts on the CPU only */
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
    /* A layer's decoding cache for up to cap tokens in the memory of device dev (where the model's
     * parameters are), and its release; NULL when the architecture does not decode incrementally. */
    void *(*cache_new)(const lm_config *c, int cap, device_kind dev);
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

#endif
