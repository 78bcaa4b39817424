/* Decoder-only language models over token ids: the nanoGPT-style transformer (`gpt`) and the
 * memory-mosaic network (`mosaic`), with one interface so that every experiment (babistories,
 * regbench, inversion, memory models) trains, evaluates and checkpoints them the same way.
 *
 * Both share the token embedding (tied to the output head), pre-LN residual blocks and a final
 * LayerNorm; they differ in their blocks (nn/gpt.c, nn/mosaic.c). The RegBench baseline `lstm`
 * stacks LSTM layers (no residual) between the same embedding and final LayerNorm (nn/lstm.c).
 * docs/models.md gives the formulas; parameter names follow the PyTorch twins in
 * tests/reference/twin_lm.py. */
#ifndef MEMLAB_NN_LM_H
#define MEMLAB_NN_LM_H

#include "core/error.h"
#include "core/params.h"
#include "core/tape.h"

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
    lm_pos pos;      /* gpt only; the mosaic has no positions */
    double dropout;  /* residual dropout (and, for gpt, on the embedding) */
    int bidirectional; /* attention over every position (gpt: full mask; mosaic: contextual memory
                        * over every position, itself included) for decoders that read all positions
                        * at once (nn/probe.c); 0 (causal) in every language model */
} lm_config;

/* Parameter indices of one block; fields unused by an architecture stay -1. */
typedef struct {
    int ln1_w, ln1_b, ln2_w, ln2_b;
    /* gpt */
    int attn_w, attn_b, attn_proj_w, attn_proj_b, fc_w, fc_b, fc_proj_w, fc_proj_b;
    /* mosaic contextual memory */
    int ck_w, ck_b, cv_w, cv_b, c_proj_w, c_proj_b, c_leak, c_kscale, c_vmix, c_vscale;
    /* mosaic persistent memory */
    int pk_w, pk_b, p_keys, p_values, p_proj_w, p_proj_b, p_leak, p_kscale, p_vscale;
    /* lstm */
    int ih_w, ih_b, hh_w;
} lm_block;

typedef struct {
    lm_config cfg;
    param_store ps;
    int wte, wpe, lnf_w, lnf_b;
    lm_block *blocks;
} lm;

const char *lm_arch_name(lm_arch a);
int lm_arch_parse(const char *s, lm_arch *a);     /* 0 or -1 */
const char *lm_pos_name(lm_pos p);
int lm_pos_parse(const char *s, lm_pos *p);

/* Fills defaults (pmem) and checks the shape: d divisible by heads, sizes positive, an even head
 * size for gpt with RoPE. 0 or -1 with a message naming the option at fault ("--d 100 is not
 * divisible by --heads 3"). */
int lm_config_resolve(lm_config *c, err_t *e);

/* Declares and allocates every parameter (zeroed); then lm_init_weights draws the initial values:
 * gpt as nanoGPT (N(0, 0.02), output projections 0.02/sqrt(2L)); mosaic as the Memory Mosaics
 * library (linear N(0, 1/fan_in), output projections / sqrt(L), embedding N(0, 1), tables
 * N(0, 1/hs), leaky rates 0.5..5 across heads, key scale e, value scale e^-0.5). */
void lm_build(lm *m, const lm_config *c);
void lm_init_weights(lm *m, rng *r);
void lm_free(lm *m);

/* ids[B*T] -> final LayerNorm output [B,T,d]. T may exceed cfg.ctx only without learned positions
 * (fatal otherwise: callers check with lm_max_len first). drop: the dropout stream (used only when
 * tp->training and cfg.dropout > 0). */
tensor *lm_hidden(lm *m, tape *tp, const int *ids, int B, int T, rng *drop);
/* The same from input vectors x[B,T,d] in place of the token embeddings (positions, blocks and
 * the final LayerNorm as lm_hidden): for models that feed some positions other vectors than
 * tokens (nn/memmodel.h). Gradients flow back into x. */
tensor *lm_hidden_from(lm *m, tape *tp, tensor *x, rng *drop);
/* Hidden states [..., d] -> logits [..., vocab] through the tied embedding (mosaic: times 1/sqrt d). */
tensor *lm_logits(lm *m, tape *tp, tensor *h);
tensor *lm_forward(lm *m, tape *tp, const int *ids, int B, int T, rng *drop);
/* The longest input the model accepts: cfg.ctx with learned positions, otherwise (none, RoPE,
 * ALiBi, the mosaic, the lstm) unbounded (0). */
int lm_max_len(const lm *m);

/* Blocks (nn/gpt.c, nn/mosaic.c). */
void gpt_block_declare(lm_block *b, param_store *ps, const lm_config *c, int layer);
void gpt_block_init(const lm_block *b, param_store *ps, const lm_config *c, rng *r);
tensor *gpt_block_forward(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop);
void mosaic_block_declare(lm_block *b, param_store *ps, const lm_config *c, int layer);
void mosaic_block_init(const lm_block *b, param_store *ps, const lm_config *c, rng *r);
tensor *mosaic_block_forward(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop);
void lstm_layer_declare(lm_block *b, param_store *ps, const lm_config *c, int layer);
void lstm_layer_init(const lm_block *b, param_store *ps, const lm_config *c, rng *r);
tensor *lstm_layer_forward(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop);

/* Shared by both block kinds: a linear layer's parameters "<prefix>.weight" [out,in] and, with
 * bias, "<prefix>.bias" [out]; *b = -1 without. */
void lm_declare_linear(param_store *ps, const char *prefix, int out, int in, int bias, int *w, int *b);
void lm_declare_layernorm(param_store *ps, const char *prefix, int d, int bias, int *w, int *b);
/* Index -> tensor, or NULL for -1 (an absent bias). */
tensor *lm_param(param_store *ps, int idx);

#endif
