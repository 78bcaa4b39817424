/* The one sampler of memlab's language models: the next token of a sequence, greedy (temperature 0)
 * or drawn from the softmax at a temperature among the top k, with the logits coming either from an
 * incremental decoder (nn/lm_decode.h: one block pass of one row per token) or from a sliding window
 * (the model re-run over the last context's worth of tokens, which works at any length). */
#ifndef MEMLAB_NN_SAMPLER_H
#define MEMLAB_NN_SAMPLER_H

#include "nn/lm_decode.h"

typedef struct {
    double temperature;   /* 0: greedy (the most likely token, the first of ties) */
    long long top_k;      /* sample among the k most likely tokens; 0: all */
} sample_cfg;

typedef enum {
    SAMPLE_AUTO,     /* cached when the whole sequence fits the model's context, else the window */
    SAMPLE_CACHED,   /* the incremental decoder (the sequence must fit the context) */
    SAMPLE_WINDOW,   /* every token re-runs the model over the last cfg.ctx tokens */
} sample_mode;

typedef struct {
    lm *m;
    sample_cfg cfg;
    int cached;
    lm_decoder dc;   /* cached: the tokens fed so far are dc.len */
    tape tp;         /* window: the forward pass */
    real *z;         /* the next token's logits [vocab] */
    double *p, *w;   /* scratch [vocab]: probabilities, weights */
} sampler;

/* A sampler for sequences of up to max_len tokens. */
void sampler_init(sampler *s, lm *m, const sample_cfg *c, int max_len, sample_mode mode);
void sampler_free(sampler *s);
/* Cached: feeds seq[fed .. len) to the decoder (sampler_next does it too; a caller that times the
 * new tokens alone feeds the prompt first). Window: nothing to do. */
void sampler_feed(sampler *s, const int *seq, int len);
/* The token after seq[0 .. len) (len >= 1). */
int sampler_next(sampler *s, const int *seq, int len, rng *r);
/* Appends up to max_new tokens to seq[0 .. len) (room for len + max_new), stopping before `stop`
 * (-1: never); returns the new length. */
int sampler_extend(sampler *s, int *seq, int len, int max_new, int stop, rng *r);

/* The pick from logits z[V]: argmax at temperature 0, otherwise softmax (in double), the
 * temperature, the top k, then one draw from r; p and w are scratch of V doubles. */
int sample_pick(const sample_cfg *c, const real *z, int V, double *p, double *w, rng *r);

#endif
