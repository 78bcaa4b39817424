#include "data/moons.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int triple_cmp(const void *pa, const void *pb)
{
    const moon_triple *a = pa, *b = pb;
    if (a->lcm != b->lcm)
        return a->lcm < b->lcm ? -1 : 1;
    for (int k = 2; k >= 0; k--) /* largest period first, then the others */
        if (a->p[k] != b->p[k])
            return a->p[k] < b->p[k] ? -1 : 1;
    return 0;
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
    qsort(m->all, MOONS_TRIPLES, sizeof m->all[0], triple_cmp);
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
