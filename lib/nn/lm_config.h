/* The shape and options of a language model, as plain data: what a command's options, a checkpoint's
 * metadata and a memory model's two stacks describe. The functions that read it (names, parsing,
 * resolving defaults) live with the architecture table (nn/arch.h). */
#ifndef MEMLAB_NN_LM_CONFIG_H
#define MEMLAB_NN_LM_CONFIG_H

/* One value per entry of the architecture table (nn/arch.c): the order there follows this one. */
typedef enum { LM_GPT, LM_MOSAIC, LM_LSTM } lm_arch;
/* gpt positions: a learned absolute table, none, rotary q and k (RoPE), or linear biases of the
 * attention logits (ALiBi). */
typedef enum { POS_LEARNED, POS_NONE, POS_ROPE, POS_ALIBI } lm_pos;

typedef struct {
    lm_arch arch;
    int vocab;       /* token ids 0 .. vocab-1 */
    int ctx;         /* training context; the learned position table has this many rows */
    int d, layers, heads;
    int pmem;        /* mosaic: persistent key/value slots per head (0: 3.5 d rounded) */
    int bias;        /* biases in linears and LayerNorms */
    lm_pos pos;      /* architectures that take positions (gpt) */
    double dropout;  /* residual dropout (and, for gpt, on the embedding) */
    int bidirectional; /* attention over every position (gpt: full mask; mosaic: contextual memory
                        * over every position, itself included) for decoders that read all positions
                        * at once (nn/probe.c); 0 (causal) in every language model */
} lm_config;

#endif
