/* Dropout from a counter-based generator: Philox-4x32-10 (Salmon et al., SC'11), the generator of
 * cuRAND and of PyTorch's CUDA dropout. Element i of a call keyed by k draws philox(counter = i,
 * key = k): any thread may compute any element, so the mask depends on (key, element) alone. */
#include "cuda/launch.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
}

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The first 32-bit word of Philox-4x32-10 for counter (i_lo, i_hi, 0, 0) and key (k_lo, k_hi). */
__host__ __device__ static inline uint32_t philox_word(uint64_t key, uint64_t i)
{
    uint32_t c0 = (uint32_t)i, c1 = (uint32_t)(i >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return c0;
}

/* Dropped when the word, as a fraction of 2^32, is below p. */
__host__ __device__ static inline int keep_elem(uint64_t key, uint64_t i, float p)
{
    return (double)philox_word(key, i) * (1.0 / 4294967296.0) >= (double)p;
}

__global__ static void k_dropout(real *out, real *mask, const real *inp, size_t n, real p, uint64_t key)
{
    real keep = 1.f / (1.f - p);
    GRID_STRIDE(i, n)
    {
        real m = keep_elem(key, i, p) ? keep : 0.f;
        mask[i] = m;
        out[i] = inp[i] * m;
    }
}

extern "C" void cuda_dropout_forward(real *out, real *mask, const real *inp, size_t n, real p, uint64_t key)
{
    LAUNCH(k_dropout, n, out, mask, inp, n, p, key);
}

extern "C" int dropout_keep_host(uint64_t key, uint64_t i, real p) { return keep_elem(key, i, p); }
