/* exp_vec(x): e^x for the loops of the numerical core that take one exponential per element (GELU,
 * sigmoid, row softmax, the attention softmax), written so that the compiler vectorises them.
 *
 * Float build: glibc's expf is an opaque scalar call, so a loop that calls it never vectorises, and
 * those loops spend most of their time in it. This one is branch-free arithmetic instead:
 * Cody-Waite reduction x = n ln2 + r with |r| <= ln2 / 2, Cephes' degree-6 polynomial for e^r, and
 * 2^n written into the exponent bits. Accuracy: at most 1.4 ulp from the exact value. Range: results
 * that would be subnormal (x < -87.33) are exactly 0, x > 88.37 gives +inf (a little before the true
 * overflow at 88.72), -inf gives 0, +inf gives +inf, and NaN stays NaN.
 *
 * Double build (-DMEMLAB_DOUBLE, the gradient checks): libm's exp, since accuracy matters there and
 * speed does not. */
#ifndef MEMLAB_FASTEXP_H
#define MEMLAB_FASTEXP_H

#include "core/real.h"

#ifdef MEMLAB_DOUBLE

static inline real exp_vec(real x) { return exp(x); }

#else

#include <stdint.h>
#include <string.h>

#define FASTEXP_LO (-87.33f)
#define FASTEXP_HI 88.37f

static inline float exp_vec(float x)
{
    const float magic = 12582912.0f;   /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x < FASTEXP_LO ? FASTEXP_LO : (x > FASTEXP_HI ? FASTEXP_HI : x);
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t ti, mi;
    memcpy(&ti, &t, sizeof ti);
    memcpy(&mi, &magic, sizeof mi);
    uint32_t bits = (ti - mi + 127u) << 23;   /* n + 127 in 1..254: a normal 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x < FASTEXP_LO ? 0.0f : (x > FASTEXP_HI ? INFINITY : y);
}

#endif

#endif
