/* Rotary position embedding (Su et al.), GPT-NeoX / LLaMA convention: the pair (i, i + hs/2) of each
 * head turns by the angle p * ROPE_BASE^(-2i/hs) at position p. The angles' cosines and sines are
 * computed once per call in double (positions reach thousands of radians, where float angles would
 * already be off in the third digit) into a [T][hs/2] table that every batch row and head reads. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/kernels.h"
#include "core/kernels_par.h"

/* cs[(t * half + i) * 2] = cos, [.. + 1] = sin of (pos0 + t) * ROPE_BASE^(-2i/hs). */
static real *rope_table(int T, int hs, int pos0)
{
    const int half = hs / 2;
    real *cs = xmalloc((size_t)T * half * 2 * sizeof(real));
    for (int i = 0; i < half; i++) {
        const double freq = pow(ROPE_BASE, -2.0 * i / hs);
        for (int t = 0; t < T; t++) {
            const double a = (double)(pos0 + t) * freq;
            cs[((size_t)t * half + i) * 2] = (real)cos(a);
            cs[((size_t)t * half + i) * 2 + 1] = (real)sin(a);
        }
    }
    return cs;
}

/* Every head of every row: (x_i, x_{i+half}) -> (c x_i - s x_{i+half}, s x_i + c x_{i+half}) with
 * s = dir * sin: dir = 1 turns forward, -1 back. The backward pass accumulates (+=). */
typedef struct {
    real *out;
    const real *inp, *cs;
    int T, H, hs, acc;
    real dir;
} rope_args;

static void rope_rows(void *arg, size_t lo, size_t hi)
{
    const rope_args *g = arg;
    const real *inp = g->inp, *cs = g->cs;
    real *out = g->out;
    const int T = g->T, H = g->H, hs = g->hs, acc = g->acc, half = hs / 2, C = H * hs;
    const real dir = g->dir;
    for (size_t r = lo; r < hi; r++) {
        const real *tab = cs + (size_t)(r % T) * half * 2;
        const real *x = inp + (size_t)r * C;
        real *y = out + (size_t)r * C;
        for (int h = 0; h < H; h++) {
            const real *xa = x + h * hs, *xb = xa + half;
            real *ya = y + h * hs, *yb = ya + half;
            for (int i = 0; i < half; i++) {
                const real c = tab[2 * i], s = dir * tab[2 * i + 1];
                const real a = c * xa[i] - s * xb[i], b = s * xa[i] + c * xb[i];
                if (acc) {
                    ya[i] += a;
                    yb[i] += b;
                } else {
                    ya[i] = a;
                    yb[i] = b;
                }
            }
        }
    }
}

static void rope_apply(real *out, const real *inp, int B, int T, int H, int hs, int pos0, real dir, int acc)
{
    real *cs = rope_table(T, hs, pos0);
    /* threaded only above 2^15 elements: a cached decoding step's single row is not worth a loop */
    pool_for((size_t)B * (size_t)T, (size_t)B * T * H * hs >= ((size_t)1 << 15), rope_rows,
             &(rope_args){.out = out, .inp = inp, .cs = cs, .T = T, .H = H, .hs = hs, .acc = acc, .dir = dir});
    free(cs);
}

void rope_forward(real *out, const real *inp, int B, int T, int H, int hs, int pos0)
{
    rope_apply(out, inp, B, T, H, hs, pos0, 1, 0);
}

void rope_backward(real *dinp, const real *dout, int B, int T, int H, int hs, int pos0)
{
    if (dinp)
        rope_apply(dinp, dout, B, T, H, hs, pos0, -1, 1);
}
