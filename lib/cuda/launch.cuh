/* Grid-stride loops and their launch, shared by the elementwise kernels of lib/cuda. */
#ifndef MEMLAB_CUDA_LAUNCH_CUH
#define MEMLAB_CUDA_LAUNCH_CUH

#include <cuda_bf16.h>
#include <stdint.h>

#include "cuda/cuda_check.cuh"

extern "C" {
#include "core/real.h"
}

#define THREADS 256
#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)
#define LAUNCH(kernel, n, ...)                                                  \
    do {                                                                        \
        if ((n) > 0) {                                                          \
            kernel<<<cuda_blocks((n), THREADS), THREADS>>>(__VA_ARGS__);        \
            CUDA_LAUNCHED();                                                    \
        }                                                                       \
    } while (0)

/* Whether a float4 path may read or write at p (NULL counts as aligned). */
static inline bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* Four floats as four bf16 (round to nearest even) in 8 bytes, the first in the lowest bits: the
 * layout of four consecutive bf16 in memory. */
__device__ __forceinline__ uint2 bf16x4(float4 v)
{
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    return make_uint2(*reinterpret_cast<const uint32_t *>(&lo), *reinterpret_cast<const uint32_t *>(&hi));
}

/* The inverse: four bf16 (8 bytes, the first in the lowest bits) as four floats, exactly. */
__device__ __forceinline__ float4 bf16x4_value(uint2 h)
{
    return make_float4(__uint_as_float(h.x << 16), __uint_as_float(h.x & 0xffff0000u), __uint_as_float(h.y << 16),
                       __uint_as_float(h.y & 0xffff0000u));
}

/* One bf16 as a float, exactly. */
__device__ __forceinline__ float bf16_value(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

/* Sum over the 32 lanes of a warp (all active); every lane gets it, in an order fixed by the lanes. */
template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets it.
 * The order is fixed by the launch shape, so the bits are too. */
template <typename T> __device__ __forceinline__ T block_sum(T v)
{
    __shared__ T part[32];
    v = warp_sum(v);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : (T)0;
    return warp_sum(v);
}

template <typename T> __device__ __forceinline__ T block_max(T v)
{
    __shared__ T part[32];
    for (int o = 16; o > 0; o >>= 1)
        v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : part[0];
    for (int o = 16; o > 0; o >>= 1)
        v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
