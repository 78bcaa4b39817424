/* Concatenation and slicing on the GPU: index arithmetic over the [outer, inner] views the CPU
 * kernels use. */
#include "cuda/launch.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
}

__global__ static void k_concat(real *out, const real *a, const real *b, size_t outer, size_t ia, size_t ib)
{
    size_t w = ia + ib, total = outer * w;
    GRID_STRIDE(i, total)
    {
        size_t o = i / w, j = i - o * w;
        out[i] = j < ia ? a[o * ia + j] : b[o * ib + (j - ia)];
    }
}

__global__ static void k_concat_bwd(real *da, real *db, const real *dout, size_t outer, size_t ia, size_t ib)
{
    size_t w = ia + ib, total = outer * w;
    GRID_STRIDE(i, total)
    {
        size_t o = i / w, j = i - o * w;
        if (j < ia) {
            if (da)
                da[o * ia + j] += dout[i];
        } else if (db) {
            db[o * ib + (j - ia)] += dout[i];
        }
    }
}

__global__ static void k_slice(real *out, const real *inp, size_t outer, size_t inner, size_t start, size_t len)
{
    size_t total = outer * len;
    GRID_STRIDE(i, total)
    {
        size_t o = i / len, j = i - o * len;
        out[i] = inp[o * inner + start + j];
    }
}

__global__ static void k_slice_bwd(real *dinp, const real *dout, size_t outer, size_t inner, size_t start, size_t len)
{
    size_t total = outer * len;
    GRID_STRIDE(i, total)
    {
        size_t o = i / len, j = i - o * len;
        dinp[o * inner + start + j] += dout[i];
    }
}

extern "C" void cuda_concat_forward(real *out, const real *a, const real *b, size_t outer, size_t inner_a,
                                    size_t inner_b)
{
    LAUNCH(k_concat, outer * (inner_a + inner_b), out, a, b, outer, inner_a, inner_b);
}

extern "C" void cuda_concat_backward(real *da, real *db, const real *dout, size_t outer, size_t inner_a,
                                     size_t inner_b)
{
    if (da || db)
        LAUNCH(k_concat_bwd, outer * (inner_a + inner_b), da, db, dout, outer, inner_a, inner_b);
}

extern "C" void cuda_slice_forward(real *out, const real *inp, size_t outer, size_t inner, size_t start, size_t len)
{
    LAUNCH(k_slice, outer * len, out, inp, outer, inner, start, len);
}

extern "C" void cuda_slice_backward(real *dinp, const real *dout, size_t outer, size_t inner, size_t start,
                                    size_t len)
{
    if (dinp)
        LAUNCH(k_slice_bwd, outer * len, dinp, dout, outer, inner, start, len);
}
