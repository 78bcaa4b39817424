/* A deterministic two-stage sum over a flat array (in double): a fixed grid of blocks each sums a
 * fixed stripe, then one block adds the partial sums in order. The launch shape depends on n
 * alone, so the bits do not depend on scheduling. */
#ifndef MEMLAB_CUDA_REDUCE_CUH
#define MEMLAB_CUDA_REDUCE_CUH

#include "cuda/launch.cuh"

#define REDUCE_BLOCKS 1024
#define REDUCE_THREADS 256

struct reduce_id { __device__ double operator()(float x) const { return x; } };
struct reduce_sq { __device__ double operator()(float x) const { return (double)x * x; } };

template <typename F> __global__ void k_reduce_part(double *part, const real *x, size_t n, F f)
{
    double s = 0;
    GRID_STRIDE(i, n) s += f(x[i]);
    s = block_sum(s);
    if (threadIdx.x == 0)
        part[blockIdx.x] = s;
}

/* Leaves the sum in part[0] (device); nb is the number of partial sums. */
__global__ static void k_reduce_final(double *part, int nb)
{
    double s = 0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x)
        s += part[i];
    s = block_sum(s);
    if (threadIdx.x == 0)
        part[0] = s;
}

/* Queues the sum of f(x[i]) into *(double *)scratch; returns that pointer. */
template <typename F> static double *reduce_sum(const real *x, size_t n, F f)
{
    double *part = (double *)cuda_scratch(REDUCE_BLOCKS * sizeof(double));
    int nb = (int)((n + REDUCE_THREADS * 4 - 1) / (REDUCE_THREADS * 4));
    nb = nb < 1 ? 1 : nb > REDUCE_BLOCKS ? REDUCE_BLOCKS : nb;
    k_reduce_part<<<nb, REDUCE_THREADS>>>(part, x, n, f);
    CUDA_LAUNCHED();
    k_reduce_final<<<1, REDUCE_THREADS>>>(part, nb);
    CUDA_LAUNCHED();
    return part;
}

#endif
