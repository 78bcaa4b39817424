#include "data/moons.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Periods are multiples of 0.5: LCMs are computed exactly in half units. */
static long gcd_l(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static long lcm_l(long a, long b) { return a / gcd_l(a, b) * b; }

/* NumPy's default argsort (kind "quicksort": an introsort, not stable) of n doubles, as NumPy
 * 1.x runs it without SIMD dispatch: median-of-three partitions down to 16 elements, then insertion
 * sort; the larger side of each partition waits on a stack. The public code sorts the 35 LCMs
 * with it and keeps the first 9, so its ties among the five triples of LCM 6 decide which triples
 * are trained on and which one is held out; this reproduces that order. Its heapsort fallback
 * (recursion deeper than 2 log2 n) never triggers on the 35 LCMs, and is fatal if it would. */
static void numpy_argsort(const double *v, int n, int *idx)
{
    enum { SMALL = 15, STACK = 128 };
    int stack[STACK], depths[STACK / 2], sp = 0, dp = 0;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    int pl = 0, pr = n - 1, depth = 0;
    for (int b = n; b > 1; b >>= 1)
        depth += 2; /* 2 * floor(log2 n) */
#define SWAP(a, b_) do { int t_ = idx[a]; idx[a] = idx[b_]; idx[b_] = t_; } while (0)
    for (;;) {
        if (depth < 0)
            fatal("internal: numpy_argsort needs its heapsort fallback");
        while (pr - pl > SMALL) {
            int pm = pl + ((pr - pl) >> 1);
            if (v[idx[pm]] < v[idx[pl]])
                SWAP(pm, pl);
            if (v[idx[pr]] < v[idx[pm]])
                SWAP(pr, pm);
            if (v[idx[pm]] < v[idx[pl]])
                SWAP(pm, pl);
            double vp = v[idx[pm]];
            int pi = pl, pj = pr - 1;
            SWAP(pm, pj);
            for (;;) {
                do
                    pi++;
                while (v[idx[pi]] < vp);
                do
                    pj--;
                while (vp < v[idx[pj]]);
                if (pi >= pj)
                    break;
                SWAP(pi, pj);
            }
            SWAP(pi, pr - 1);
            if (sp + 2 > STACK)
                fatal("internal: numpy_argsort stack");
            if (pi - pl < pr - pi) {
                stack[sp++] = pi + 1;
                stack[sp++] = pr;
                pr = pi - 1;
            } else {
                stack[sp++] = pl;
                stack[sp++] = pi - 1;
                pl = pi + 1;
            }
            depths[dp++] = --depth;
        }
        for (int i = pl + 1; i <= pr; i++) {
            int vi = idx[i], j = i;
            while (j > pl && v[vi] < v[idx[j - 1]]) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = vi;
        }
        if (sp == 0)
            break;
        pr = stack[--sp];
        pl = stack[--sp];
        depth = depths[--dp];
    }
#undef SWAP
}

void moons_init(moons *m, int seq_len)
{
    int n = 0;
    for (int i = 1; i <= 7; i++)
        for (int j = i + 1; j <= 7; j++)
            for (int k = j + 1; k <= 7; k++) {
                moon_triple *t = &m->all[n++];
                t->p[0] = i * 0.5;
                t->p[1] = j * 0.5;
                t->p[2] = k * 0.5;
                t->lcm = lcm_l(lcm_l(i, j), k) * 0.5;
            }
    /* itertools.combinations order (as generated above), then the public code's argsort by LCM */
    double lcms[MOONS_TRIPLES];
    int order[MOONS_TRIPLES];
    moon_triple sorted[MOONS_TRIPLES];
    for (int i = 0; i < MOONS_TRIPLES; i++)
        lcms[i] = m->all[i].lcm;
    numpy_argsort(lcms, MOONS_TRIPLES, order);
    for (int i = 0; i < MOONS_TRIPLES; i++)
        sorted[i] = m->all[order[i]];
    memcpy(m->all, sorted, sizeof sorted);
    double largest = 0;
    for (int i = 0; i < MOONS_KEPT; i++)
        largest = fmax(largest, m->all[i].lcm);
    m->seq_len = seq_len;
    m->steps_per_unit = seq_len / largest / 3.0;
}

const moon_triple *moons_kept(const moons *m, int i) { return &m->all[i]; }

double moons_max_period_steps(const moons *m, const moon_triple *t) { return t->p[2] * m->steps_per_unit; }

double moons_lcm_steps(const moons *m, const moon_triple *t) { return t->lcm * m->steps_per_unit; }

void moons_triple_name(const moon_triple *t, char *buf, int len)
{
    snprintf(buf, (size_t)len, "%g/%g/%g", t->p[0], t->p[1], t->p[2]);
}

int moons_find(const moons *m, const char *name)
{
    char want[64], have[64];
    snprintf(want, sizeof want, "%s", name);
    for (char *c = want; *c; c++)
        if (*c == ',')
            *c = '/';
    for (int i = 0; i < MOONS_KEPT; i++) {
        moons_triple_name(&m->all[i], have, sizeof have);
        if (strcmp(want, have) == 0)
            return i;
    }
    return -1;
}

void moons_observe(const moons *m, const moon_triple *t, long start, int n, real *out)
{
    for (int s = 0; s < n; s++) {
        double time = (double)(start + s) / m->steps_per_unit;
        for (int k = 0; k < 3; k++) {
            double theta = 2 * M_PI * time / t->p[k] + 0.3;
            out[s * MOONS_DIM + 2 * k] = (real)cos(theta);
            out[s * MOONS_DIM + 2 * k + 1] = (real)sin(theta);
        }
    }
}

void moons_sequence(const moons *m, const moon_triple *t, rng *r, real *out)
{
    moons_observe(m, t, (long)rng_below(r, MOONS_OFFSETS), m->seq_len + 1, out);
}
