/* Reference models for RegBench that need no training: the in-context n-gram model and the uniform
 * guess. Both give, for every input position t of a sequence (tokens as in pfa.h), a distribution
 * over the PFA_VOCAB tokens for token t+1, seen only tokens 0..t.
 *
 * The n-gram model (orders 1..NGRAM_MAX_ORDER) follows the RegBench public baseline (ngram.py,
 * predict_with_n_gram_back_off with its defaults: back-off on, no add-one):
 * - it is refit at every position from the sequence so far; the strings of the sequence are its
 *   training texts (split at '|'), each padded at the front with order-1 begin marks '_', and every
 *   n-gram (n = 1..order) inside a padded string is counted, the current partial string included;
 * - its vocabulary V is the letters seen so far; it never predicts '|' or '.' (the public model has
 *   no end-of-string event either) nor a letter not yet seen;
 * - the context is the last order-1 symbols of the padded current string (right after a '|', only
 *   begin marks: a string's first letter is predicted from string starts);
 * - Katz-style back-off without discounting: with h the context and c(.) the counts,
 *     P_n(w | h) = c(hw) / c(h)                                             if c(hw) > 0,
 *     P_n(w | h) = beta(h) * P_{n-1}(w | h') / sum_{v in V, c(hv) = 0} P_{n-1}(v | h')  otherwise,
 *   with h' = h without its first symbol, beta(h) = 1 - sum_{c(hw) > 0} c(hw) / c(h), and P_1 the
 *   relative letter frequency over V. c(h) counts every occurrence of h, also those followed by no
 *   letter (the end of an earlier string, and the current position itself), so beta(h) >= 1 / c(h) > 0:
 *   that escape mass is the model's only smoothing.
 * One deviation: when every letter of V has been seen after h, the public code loses the escape mass
 * (its distribution sums to less than one); memlab renormalises over the seen continuations, so every
 * distribution sums to one.
 *
 * The uniform model gives 1/18 to each letter (the "uniform guess over the alphabet" baseline). */
#ifndef MEMLAB_DATA_NGRAM_H
#define MEMLAB_DATA_NGRAM_H

#include <stdint.h>

#include "data/pfa.h"

#define NGRAM_MAX_ORDER 4

typedef struct ngram_model ngram_model;

/* order in 1..NGRAM_MAX_ORDER (anything else is fatal). */
ngram_model *ngram_new(int order);
void ngram_free(ngram_model *m);
/* probs[t * PFA_VOCAB + v] for t = 0 .. len-2. */
void ngram_predict(ngram_model *m, const uint8_t *tok, int len, double *probs);

void uniform_predict(const uint8_t *tok, int len, double *probs);

#endif
