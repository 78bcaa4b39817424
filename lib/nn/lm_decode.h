/* Incremental decoding of a gpt or mosaic language model: one token at a time against a cache, so
 * that generating n tokens costs O(n) block passes of one row instead of re-running the window.
 *
 * Each layer keeps the cache its architecture defines (nn/arch.h: cache_new): gpt its keys and
 * values (a KV cache), the mosaic what its contextual memory has stored (nn/mosaic.c). The logits
 * equal those of lm_forward over the same tokens (tests/check_decode.c).
 *
 * Decoding runs without gradients; one sequence per cache; up to `cap` tokens (at most cfg.ctx with
 * learned positions; causal models only). The caches live where the model's parameters are
 * (lm_place): on the GPU every step's rows stay there and only the logits come back. */
#ifndef MEMLAB_NN_LM_DECODE_H
#define MEMLAB_NN_LM_DECODE_H

#include "nn/lm.h"

typedef struct {
    int len, cap;            /* tokens fed so far, and the most the cache holds */
    int nlayers;
    const lm_arch_ops *ops;
    void **layers;           /* each layer's cache (ops->cache_new) */
    tape tp;
} lm_decoder;

/* A cache for up to cap tokens of m (fatal for an architecture without cached decoding, a
 * bidirectional model, or cap beyond a learned position table: callers check lm_max_len). */
void lm_decoder_init(lm_decoder *dc, const lm *m, int cap);
void lm_decoder_free(lm_decoder *dc);
/* Forget every token (the memory is kept). */
void lm_decoder_reset(lm_decoder *dc);
/* Feeds one token at position dc->len and writes the next-token logits [vocab]; fatal when full. */
void lm_decode_step(lm *m, lm_decoder *dc, int token, real *logits);

#endif
