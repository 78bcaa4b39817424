/* Shape kernels: concatenation and slicing along one axis, each tensor seen as [outer, inner]. */
#include "core/kernels.h"

#include <string.h>

#include "core/kernels_par.h"

/* Below this many elements a loop stays on one thread (a pool round trip costs microseconds). */
#define PAR_MIN ((size_t)1 << 16)

/* One concatenation or slice: the two parts' (or the slice's) widths and the slice's start. */
typedef struct {
    real *out, *out2;
    const real *a, *b;
    size_t inner_a, inner_b, start;
} shape_args;

static void concat_forward_rows(void *arg, size_t lo, size_t hi)
{
    const shape_args *s = arg;
    const size_t ia = s->inner_a, ib = s->inner_b, w = ia + ib;
    for (size_t o = lo; o < hi; o++) {
        memcpy(s->out + o * w, s->a + o * ia, ia * sizeof(real));
        memcpy(s->out + o * w + ia, s->b + o * ib, ib * sizeof(real));
    }
}

void concat_forward(real *out, const real *a, const real *b, size_t outer, size_t inner_a, size_t inner_b)
{
    pool_for(outer, outer * (inner_a + inner_b) >= PAR_MIN, concat_forward_rows,
             &(shape_args){.out = out, .a = a, .b = b, .inner_a = inner_a, .inner_b = inner_b});
}

static void concat_backward_rows(void *arg, size_t lo, size_t hi)
{
    const shape_args *s = arg;
    real *da = s->out, *db = s->out2;
    const size_t inner_a = s->inner_a, inner_b = s->inner_b, w = inner_a + inner_b;
    for (size_t o = lo; o < hi; o++) {
        const real *src = s->a + o * w;
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

void concat_backward(real *da, real *db, const real *dout, size_t outer, size_t inner_a, size_t inner_b)
{
    pool_for(outer, outer * (inner_a + inner_b) >= PAR_MIN, concat_backward_rows,
             &(shape_args){.out = da, .out2 = db, .a = dout, .inner_a = inner_a, .inner_b = inner_b});
}

/* inner_a: the sliced tensor's row length, inner_b: the slice's. */
static void slice_forward_rows(void *arg, size_t lo, size_t hi)
{
    const shape_args *s = arg;
    const size_t inner = s->inner_a, len = s->inner_b;
    for (size_t o = lo; o < hi; o++)
        memcpy(s->out + o * len, s->a + o * inner + s->start, len * sizeof(real));
}

void slice_forward(real *out, const real *inp, size_t outer, size_t inner, size_t start, size_t len)
{
    pool_for(outer, outer * len >= PAR_MIN, slice_forward_rows,
             &(shape_args){.out = out, .a = inp, .inner_a = inner, .inner_b = len, .start = start});
}

static void slice_backward_rows(void *arg, size_t lo, size_t hi)
{
    const shape_args *s = arg;
    const size_t inner = s->inner_a, len = s->inner_b;
    for (size_t o = lo; o < hi; o++) {
        real *restrict dst = s->out + o * inner + s->start;
        const real *restrict src = s->a + o * len;
#pragma omp simd
        for (size_t i = 0; i < len; i++)
            dst[i] += src[i];
    }
}

void slice_backward(real *dinp, const real *dout, size_t outer, size_t inner, size_t start, size_t len)
{
    if (dinp)
        pool_for(outer, outer * len >= PAR_MIN, slice_backward_rows,
                 &(shape_args){.out = dinp, .a = dout, .inner_a = inner, .inner_b = len, .start = start});
}
