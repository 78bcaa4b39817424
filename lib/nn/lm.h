/* Decoder-only language models over token ids: the nanoGPT-style transformer (`gpt`) and the
 * memory-mosaic network (`mosaic`), with one interface so that every experiment (babistories,
 * regbench, inversion, memory models) trains, evaluates and checkpoints them the same way.
 *
 * Every architecture shares the token embedding (tied to the output head), the stack of its blocks
 * and a final LayerNorm; the blocks are the architecture table's (nn/arch.h: gpt.c, mosaic.c, and the
 * RegBench baseline lstm.c, LSTM layers without residual). docs/models.md gives the formulas;
 * parameter names follow the PyTorch twins in tests/reference/twin_lm.py. */
#ifndef MEMLAB_NN_LM_H
#define MEMLAB_NN_LM_H

#include "core/error.h"
#include "core/params.h"
#include "core/tape.h"
#include "nn/arch.h"
#include "nn/lm_config.h"

typedef struct {
    lm_config cfg;
    const lm_arch_ops *ops;   /* cfg.arch's entry of the architecture table */
    param_store ps;
    int wte, wpe, lnf_w, lnf_b;   /* wpe -1 without learned positions */
    lm_stack stack;
    int bf16;   /* on the GPU: the tapes of lm_tape_init run bf16 products (--dtype bf16) */
} lm;

/* Declares and allocates every parameter (zeroed); then lm_init_weights draws the initial values:
 * gpt as nanoGPT (N(0, 0.02), output projections 0.02/sqrt(2L)); mosaic as the Memory Mosaics
 * library (linear N(0, 1/fan_in), output projections / sqrt(L), embedding N(0, 1), tables
 * N(0, 1/hs), leaky rates 0.5..5 across heads, key scale e, value scale e^-0.5). */
void lm_build(lm *m, const lm_config *c);
/* lm_build without allocating: the parameter table (names, shapes, sizes) alone, so that a shape
 * of any size can be counted (memlab info); lm_free releases it. */
void lm_declare(lm *m, const lm_config *c);
void lm_init_weights(lm *m, rng *r);
void lm_free(lm *m);
/* Puts the parameters on device d (after lm_init_weights or a checkpoint load, so that both
 * devices start from the same weights) and records the dtype its tapes use there (bf16: the GPU
 * only). Every command that runs a model on --device does this once, then makes its tapes with
 * lm_tape_init (docs/gpu.md). */
void lm_place(lm *m, device_kind d, int bf16);
/* tape_init for a tape that runs m: on m's device, in m's dtype. */
void lm_tape_init(tape *tp, const lm *m);

/* ids[B*T] -> final LayerNorm output [B,T,d]. T may exceed cfg.ctx only without learned positions
 * (fatal otherwise: callers check with lm_max_len first). drop: the dropout stream (used only when
 * tp->training and cfg.dropout > 0). */
tensor *lm_hidden(lm *m, tape *tp, const int *ids, int B, int T, rng *drop);
/* The same from input vectors x[B,T,d] in place of the token embeddings (positions, blocks and
 * the final LayerNorm as lm_hidden): for models that feed some positions other vectors than
 * tokens (nn/memmodel.h). Gradients flow back into x. */
tensor *lm_hidden_from(lm *m, tape *tp, tensor *x, rng *drop);
/* Hidden states [..., d] -> logits [..., vocab] through the tied embedding, times the
 * architecture's logit scale (the mosaic's 1/sqrt d). */
tensor *lm_logits(lm *m, tape *tp, tensor *h);
tensor *lm_forward(lm *m, tape *tp, const int *ids, int B, int T, rng *drop);
/* The training loss of hidden states h[..., d]: op_softmax_xent of lm_logits(h) against targets (one
 * per row; `ignore` rows left out), through op_linear_xent, which never holds the [rows, vocab]
 * logits. */
tensor *lm_head_loss(lm *m, tape *tp, tensor *h, const int *targets, int ignore);
/* The longest input the model accepts: cfg.ctx with learned positions, otherwise (none, RoPE,
 * ALiBi, the mosaic, the lstm) unbounded (0). */
int lm_max_len(const lm *m);

/* Head h of layer l: the leaky-average coefficient lambda of its contextual keys; NaN for an
 * architecture without. */
double lm_head_leak(lm *m, int l, int h);

#endif
