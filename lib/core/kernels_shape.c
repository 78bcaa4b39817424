/* Shape kernels: concatenation and slicing along one axis, each tensor seen as [outer, inner]. */
#include "core/kernels.h"

#include <string.h>

/* Below this many elements a loop stays on one thread (a parallel region costs microseconds). */
#define PAR_MIN ((size_t)1 << 16)

void concat_forward(real *out, const real *a, const real *b, size_t outer, size_t inner_a, size_t inner_b)
{
    size_t w = inner_a + inner_b;
#pragma omp parallel for schedule(static) if (outer * w >= PAR_MIN)
    for (size_t o = 0; o < outer; o++) {
        memcpy(out + o * w, a + o * inner_a, inner_a * sizeof(real));
        memcpy(out + o * w + inner_a, b + o * inner_b, inner_b * sizeof(real));
    }
}

void concat_backward(real *da, real *db, const real *dout, size_t outer, size_t inner_a, size_t inner_b)
{
    size_t w = inner_a + inner_b;
#pragma omp parallel for schedule(static) if (outer * w >= PAR_MIN)
    for (size_t o = 0; o < outer; o++) {
        const real *src = dout + o * w;
        if (da) {
            real *restrict dst = da + o * inner_a;
#pragma omp simd
            for (size_t i = 0; i < inner_a; i++)
                dst[i] += src[i];
        }
        if (db) {
            real *restrict dst = db + o * inner_b;
#pragma omp simd
            for (size_t i = 0; i < inner_b; i++)
                dst[i] += src[inner_a + i];
        }
    }
}

void slice_forward(real *out, const real *inp, size_t outer, size_t inner, size_t start, size_t len)
{
#pragma omp parallel for schedule(static) if (outer * len >= PAR_MIN)
    for (size_t o = 0; o < outer; o++)
        memcpy(out + o * len, inp + o * inner + start, len * sizeof(real));
}

void slice_backward(real *dinp, const real *dout, size_t outer, size_t inner, size_t start, size_t len)
{
    if (!dinp)
        return;
#pragma omp parallel for schedule(static) if (outer * len >= PAR_MIN)
    for (size_t o = 0; o < outer; o++) {
        real *restrict dst = dinp + o * inner + start;
        const real *restrict src = dout + o * len;
#pragma omp simd
        for (size_t i = 0; i < len; i++)
            dst[i] += src[i];
    }
}
