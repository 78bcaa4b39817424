/* The shape and options of a language model, as plain data: what a command's options, a checkpoint's
 * metadata and a memory model's two stacks describe, and the names of its enumerations. Resolving
 * a configuration (defaults, checks) needs the architecture table: nn/arch.h. */
#ifndef MEMLAB_NN_LM_CONFIG_H
#define MEMLAB_NN_LM_CONFIG_H

/* One value per entry of the architecture table (nn/arch.c): the order there follows this one. */
typedef enum { LM_GPT, LM_MOSAIC, LM_LSTM } lm_arch;
/* gpt positions: a learned absolute table, none, rotary q and k (RoPE), or linear biases of the
 * attention logits (ALiBi). */
typedef enum { POS_LEARNED, POS_NONE, POS_ROPE, POS_ALIBI } lm_pos;
/* gpt MLP activation: the exact erf GELU (nanoGPT's nn.GELU(), the default, 0 so that a zeroed
 * config gets it) or GPT-2's tanh approximation (memlab's only form before; what a checkpoint
 * without the key was trained with). */
typedef enum { GELU_ERF, GELU_TANH } lm_gelu;
/* The mosaic as the Memory Mosaics library (default) or as its nanoMosaics variant: no 1/sqrt(d)
 * on the output logits, key scales capped at ln 65535 in both memories, nanoGPT's N(0, 0.02)
 * initialisation of the embedding and linear layers (docs/fidelity.md). */
typedef enum { MOSAIC_LIBRARY, MOSAIC_NANO } lm_mosaic_variant;

typedef struct {
    lm_arch arch;
    int vocab;       /* token ids 0 .. vocab-1 */
    int ctx;         /* training context; the learned position table has this many rows */
    int d, layers, heads;
    int pmem;        /* mosaic: persistent key/value slots per head (0: 3.5 d rounded) */
    int bias;        /* biases in linears and LayerNorms */
    lm_pos pos;      /* architectures that take positions (gpt) */
    lm_gelu gelu;    /* gpt only */
    lm_mosaic_variant mosaic_variant; /* mosaic only */
    double dropout;  /* residual dropout (and, for gpt, on the embedding) */
    int bidirectional; /* attention over every position (gpt: full mask; mosaic: contextual memory
                        * over every position, itself included) for decoders that read all positions
                        * at once (nn/probe.c); 0 (causal) in every language model */
} lm_config;

/* Names as the options and checkpoints spell them ("learned", "erf", "nano"); parse: 0 or -1. */
const char *lm_pos_name(lm_pos p);
int lm_pos_parse(const char *s, lm_pos *p);
const char *lm_gelu_name(lm_gelu g);
int lm_gelu_parse(const char *s, lm_gelu *g);
const char *lm_mosaic_variant_name(lm_mosaic_variant v);
int lm_mosaic_variant_parse(const char *s, lm_mosaic_variant *v);

#endif
