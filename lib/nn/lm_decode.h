/* Incremental decoding of a gpt or mosaic language model: one token at a time against a cache, so
 * that generating n tokens costs O(n) block passes of one row instead of re-running the window.
 *
 * gpt caches each block's keys and values (a KV cache). The mosaic caches what its contextual memory
 * has stored: the keys (leaky averages are a recurrence, so each block keeps the running average of
 * both its contextual and its persistent-memory keys) and the values, which are completed one step
 * late: v_u mixes W_v x_u with W_v x_{u+1}, so the value of the previous position is written when the
 * next token arrives, before the current position reads it (the strict mask never reads v_t at t).
 * The logits equal those of lm_forward over the same tokens (tests/check_decode.c).
 *
 * Decoding runs without gradients; one sequence per cache; up to `cap` tokens (at most cfg.ctx with
 * learned positions; causal models only). */
#ifndef MEMLAB_NN_LM_DECODE_H
#define MEMLAB_NN_LM_DECODE_H

#include "nn/lm.h"

typedef struct lm_layer_cache {
    real *k, *v;             /* [cap, d]: keys and values of the positions so far */
    real *vraw;              /* mosaic: W_v x of the last position [d], its value still to complete */
    real *leak_ctx, *leak_pm; /* mosaic: running leaky averages of the two key streams [d] */
} lm_layer_cache;

typedef struct {
    int len, cap;            /* tokens fed so far, and the most the cache holds */
    int nlayers;
    lm_layer_cache *layers;
    tape tp;
} lm_decoder;

/* A cache for up to cap tokens of m (fatal for an lstm, a bidirectional model, or cap beyond a
 * learned position table: callers check lm_max_len). */
void lm_decoder_init(lm_decoder *dc, const lm *m, int cap);
void lm_decoder_free(lm_decoder *dc);
/* Forget every token (the memory is kept). */
void lm_decoder_reset(lm_decoder *dc);
/* Feeds one token at position dc->len and writes the next-token logits [vocab]; fatal when full. */
void lm_decode_step(lm *m, lm_decoder *dc, int token, real *logits);

/* The blocks' cached steps (nn/gpt.c, nn/mosaic.c): x [1, 1, d] at position `pos`. */
tensor *gpt_block_decode(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x,
                         lm_layer_cache *kc, int pos);
tensor *mosaic_block_decode(const lm_block *b, param_store *ps, const lm_config *c, tape *tp, tensor *x,
                            lm_layer_cache *kc, int pos);
/* An arena tensor [1, n, d] over rows 0..n-1 of a cache buffer (no copy, no gradient). */
tensor *lm_cache_view(tape *tp, real *buf, int n, int d);

#endif
