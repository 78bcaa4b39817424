/* The three-moons data (Memory Mosaics §3): three moons circle a planet with periods p1, p2, p3
 * (time units); an observation is the three unit complex numbers e^{i theta_k}, theta_k(t) =
 * 2 pi t / p_k + 0.3, as six reals (cos, sin interleaved). Period triples are every 3-subset of
 * {0.5, 1, ..., 3.5} in itertools.combinations order, sorted by the LCM of the triple as the public
 * code sorts them (NumPy's default argsort, whose ties fall as its introsort leaves them); the first
 * MOONS_KEPT are used, the last of those for validation. */
#ifndef MEMLAB_DATA_MOONS_H
#define MEMLAB_DATA_MOONS_H

#include "core/real.h"
#include "core/rng.h"

#define MOONS_DIM 6          /* 3 complex numbers as (re, im) pairs */
#define MOONS_TRIPLES 35
#define MOONS_KEPT 9         /* 8 train + 1 validation */
#define MOONS_OFFSETS 10000  /* sequences start at a uniform integer step in [0, MOONS_OFFSETS) */

typedef struct {
    double p[3];       /* periods in time units, ascending */
    double lcm;        /* the system period lcm(p1, p2, p3), time units */
} moon_triple;

typedef struct {
    moon_triple all[MOONS_TRIPLES];   /* sorted as documented above */
    double steps_per_unit;            /* seq_len / (largest LCM among the kept) / 3 */
    int seq_len;                      /* model inputs per sequence (targets are one step ahead) */
} moons;

/* seq_len: 800 in the paper (so a sequence holds three cycles of the slowest kept system). */
void moons_init(moons *m, int seq_len);
/* Kept triple i (0..MOONS_KEPT-1); MOONS_KEPT - 1 is the validation triple. */
const moon_triple *moons_kept(const moons *m, int i);
static inline int moons_is_validation(int kept_index) { return kept_index == MOONS_KEPT - 1; }
/* Periods in steps. */
double moons_max_period_steps(const moons *m, const moon_triple *t);
double moons_lcm_steps(const moons *m, const moon_triple *t);
/* "0.5/1/2.5": the name used in CSV columns and options. */
void moons_triple_name(const moon_triple *t, char *buf, int len);
/* Index of the kept triple with that name (as moons_triple_name writes it, or with commas), or -1. */
int moons_find(const moons *m, const char *name);

/* n consecutive observations from step `start`: out[n][MOONS_DIM]. */
void moons_observe(const moons *m, const moon_triple *t, long start, int n, real *out);
/* One training/evaluation sequence of seq_len + 1 observations (inputs and one-step-ahead
 * targets) from a uniformly random start. */
void moons_sequence(const moons *m, const moon_triple *t, rng *r, real *out);

#endif
