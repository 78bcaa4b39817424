/* The one random number generator: xoshiro256** (Blackman & Vigna, 2018), seeded through
 * splitmix64. Each use (data, init, dropout, ...) gets its own stream derived from the run's seed
 * and a stream id, so changing how much one use draws never shifts the others. */
#ifndef MEMLAB_RNG_H
#define MEMLAB_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng;

/* Stream ids in use; new uses take new numbers, never reuse one. */
enum { RNG_STREAM_DATA = 1, RNG_STREAM_INIT = 2, RNG_STREAM_DROPOUT = 3, RNG_STREAM_EVAL = 4,
       RNG_STREAM_SAMPLE = 5, RNG_STREAM_USER = 100 };

void rng_seed(rng *r, uint64_t seed);
/* The generator for (seed, stream): independent of every other stream of the same seed. */
rng rng_stream(uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);
/* Uniform integer in [0, n), unbiased (Lemire's method); n >= 1. */
uint64_t rng_below(rng *r, uint64_t n);
/* Uniform integer in [lo, hi], both ends included. */
long long rng_range(rng *r, long long lo, long long hi);
/* Standard normal (Box-Muller, one value per call, no cached state). */
double rng_normal(rng *r);
/* Index drawn with probability w[i] / sum(w); weights >= 0 with a positive sum. */
int rng_categorical(rng *r, const double *w, int n);
void rng_shuffle(rng *r, int *a, int n);

#endif
