/* Analyses of trained language models (Memory Mosaics Figs 10, 12, 13, 15): the mean loss at each
 * position of a token stream cut into windows, and the attention of a window's last position over
 * every earlier position. Functions of a model and tokens only, so that tests run them on
 * hand-made models. */
#ifndef MEMLAB_EXPERIMENTS_BABISTORIES_ANALYSES_H
#define MEMLAB_EXPERIMENTS_BABISTORIES_ANALYSES_H

#include <stddef.h>

#include "nn/lm.h"

/* mean[T]: the loss at position p (predicting token p + 1 from tokens 0..p of its window),
 * averaged over the windows of T + 1 tokens of ids[n] starting every `stride` tokens (stride T:
 * non-overlapping; a smaller stride puts every token at many positions, which averages out how
 * hard the text happens to be at a given offset). Returns the number of windows (0: fewer than
 * T + 1 tokens; mean untouched). */
size_t babistories_position_loss(lm *m, const int *ids, size_t n, int T, int stride, double *mean);

/* The first position from which a loss curve stays within tol (relative) of its final value, set
 * in *final (the mean of the curve's last 1/16). The curve is compared after a centred moving
 * average over `width` positions: one position's mean is noisy, and with windows every s tokens
 * position p averages the text's tokens p mod s, so a width that is a multiple of s covers every
 * token alike. */
int babistories_settle_position(const double *curve, int T, double tol, int width, double *final);

/* The last position of a window of T tokens reads key positions 0..T-1 (the mosaic's strict mask:
 * 0..T-2). weight[(layer * heads + head) * T + pos] is its attention probability on pos, averaged
 * over the windows read. */
typedef struct {
    int layers, heads, T;
    int nearest;          /* the last key position it can read: T-1 (gpt), T-2 (mosaic) */
    long long windows;
    double *weight;
} babistories_attention;

/* Reads up to max_windows non-overlapping windows of T tokens from the start of ids[n] (at least
 * one must fit). The model must have attention (gpt, mosaic) and accept T positions. 0, or -1 with
 * a message. */
int babistories_attention_measure(lm *m, const int *ids, size_t n, int T, int max_windows, babistories_attention *a,
                                  err_t *e);
void babistories_attention_free(babistories_attention *a);
/* Attention mass of (layer, head) on key positions [from, to); head -1: the mean over heads. */
double babistories_attention_share(const babistories_attention *a, int layer, int head, int from, int to);
/* Width of the recent-token peak of (layer, head) at half height: the distance from the nearest key
 * position back to where the weight falls below half-way between the flat level (the median weight
 * over every readable position) and the peak (the largest weight among the 64 nearest), the
 * crossing interpolated linearly between positions. A peak on the nearest position alone has width
 * 0.5; 0 when the nearest position is not above half height. */
double babistories_attention_peak_width(const babistories_attention *a, int layer, int head);

#endif
