#include "core/rng.h"

#include <math.h>

#include "core/error.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

rng rng_stream(uint64_t seed, uint64_t stream)
{
    /* Mix the stream id through splitmix so that nearby (seed, stream) pairs are far apart. */
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    x = stream ^ 0x6a09e667f3bcc909ULL;
    uint64_t b = splitmix64(&x);
    rng r;
    rng_seed(&r, a ^ rotl(b, 17));
    return r;
}

uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t rng_below(rng *r, uint64_t n)
{
    if (n == 0)
        fatal("internal: rng_below(0)");
    unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)rng_next(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

long long rng_range(rng *r, long long lo, long long hi)
{
    if (hi < lo)
        fatal("internal: rng_range(%lld, %lld)", lo, hi);
    return lo + (long long)rng_below(r, (uint64_t)(hi - lo) + 1);
}

double rng_normal(rng *r)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int rng_categorical(rng *r, const double *w, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    if (!(total > 0))
        fatal("internal: categorical over %d weights summing to %g", n, total);
    double u = rng_uniform(r) * total, acc = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (w[i] <= 0)
            continue;
        acc += w[i];
        last = i;
        if (u < acc)
            return i;
    }
    return last; /* rounding left u just above the sum: the last positive weight */
}

void rng_shuffle(rng *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
