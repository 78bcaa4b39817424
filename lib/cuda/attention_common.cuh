/* What the fp32 attention (attention.cu) and the bf16 tensor-core attention (attention_bf16.cu)
 * share: tile sizes, the mask intervals, the logit, the backward's D = rowsum(dout * out), and the
 * host-side checks and launch helpers. */
#ifndef MEMLAB_ATTENTION_COMMON_CUH
#define MEMLAB_ATTENTION_COMMON_CUH

#include "cuda/cuda_check.cuh"   /* cuda_scratch */
#include "cuda/seq_common.cuh"

extern "C" {
#include "cuda/kernels_seq_cuda.h"
}

#define ATT_BR 64      /* query rows of a tile */
#define ATT_BC 64      /* key columns of a tile */
#define ATT_THREADS 256
#define PS_LD (ATT_BC + 1)

/* The keys [lo, hi) of query row i: core/kernels_attention.c's row_keys, line for line. */
__device__ __forceinline__ void row_keys(const att_dims &d, int i, int *lo, int *hi)
{
    int t = i + d.Tk - d.Tq;
    int a = 0, b = 0;
    switch (d.mask.kind) {
    case ATT_CAUSAL: b = t + 1; break;
    case ATT_STRICT: b = t; break;
    case ATT_FULL: b = d.Tk; break;
    case ATT_BLOCK:
        b = t + 1;
        a = t >= 0 ? t / d.mask.block * d.mask.block : 0;
        break;
    }
    if (b > d.Tk)
        b = d.Tk;
    if (b < 0)
        b = 0;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

/* Rows past Tq see nothing. */
__device__ __forceinline__ void row_keys_or_none(const att_dims &d, int i, int *lo, int *hi)
{
    if (i < d.Tq) {
        row_keys(d, i, lo, hi);
    } else {
        *lo = 0;
        *hi = 0;
    }
}

/* Keys [c0, c1) that some row of the query tile at i0 may see (both interval ends never decrease
 * from row to row). */
__device__ __forceinline__ void tile_keys(const att_dims &d, int i0, int *c0, int *c1)
{
    int last = min(i0 + ATT_BR, d.Tq) - 1, unused;
    row_keys(d, i0, c0, &unused);
    row_keys(d, last, &unused, c1);
}

/* Whether every row of the query tile at i0 sees every key of the key tile at j0, both tiles whole,
 * with no ALiBi and a positive scale: then the bf16 kernels take their lean element loop (no mask
 * tests, the scale folded into one multiply-add before exp2; docs/gpu_kernels.md, "Clean tiles").
 * Row intervals only move right from row to row, so the first row's end and the last row's start
 * decide it. */
__device__ __forceinline__ bool tile_clean(const att_dims &d, int i0, int j0)
{
    if (d.alibi || !(d.scale > 0.f) || i0 + ATT_BR > d.Tq || j0 + ATT_BC > d.Tk)
        return false;
    int lo_first, hi_first, lo_last, hi_last;
    row_keys(d, i0, &lo_first, &hi_first);
    row_keys(d, i0 + ATT_BR - 1, &lo_last, &hi_last);
    return lo_last <= j0 && hi_first >= j0 + ATT_BC;
}

/* The logit of query position t and key u: scale q.k plus ALiBi's -m (t - u). */
__device__ __forceinline__ float logit(const att_dims &d, float dot, float slope, int i, int u)
{
    float x = d.scale * dot;
    if (d.alibi)
        x += -(slope * (float)(i + d.Tk - d.Tq - u));
    return x;
}

/* D[b,h,i] = dout_i . out_i over the head's columns: one warp a row (out in fp32, or its bf16 form). */
template <typename E, typename F>
__global__ void att_delta(float *D, const E *dout, const F *out, att_dims d)
{
    const long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= (long)d.B * d.H * d.Tq)
        return;
    const int i = (int)(row % d.Tq), h = (int)(row / d.Tq % d.H), b = (int)(row / d.Tq / d.H);
    const size_t off = (size_t)b * d.bso + (size_t)i * d.ldo + (size_t)h * d.hs;
    float s = 0.f;
    for (int c = lane; c < d.hs; c += 32)
        s += ld_f(dout + off + c) * ld_f(out + off + c);
    for (int o = 16; o; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0)
        D[row] = s;
}

/* The head-size bucket: the smallest HSP that holds hs. */
static inline int att_bucket(const att_dims *d, const char *who)
{
    if (d->hs < 1 || d->hs > CUDA_ATT_MAX_HS)
        fatal("internal: %s: head size %d outside 1..%d", who, d->hs, CUDA_ATT_MAX_HS);
    if (d->B > 65535 || d->H > 65535)
        fatal("internal: %s: %d batch rows and %d heads exceed the grid", who, d->B, d->H);
    return d->hs <= 16 ? 16 : d->hs <= 32 ? 32 : d->hs <= 64 ? 64 : 128;
}

/* A kernel using more than 48 KiB of dynamic shared memory must say so first (once per kernel;
 * the flag is a static of each template instance's launcher). */
template <typename K>
static inline void opt_in_smem(K kernel, size_t smem, bool *opted)
{
    if (!*opted) {
        SEQ_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        *opted = true;
    }
}

static inline unsigned tiles(int n, int t) { return (unsigned)((n + t - 1) / t); }


/* ---- key and value tables shared by the batch (the mosaic's persistent memory) ----------------
 * The dK/dV kernels own a key tile each. With per-sequence keys there is a block per (key tile,
 * head, sequence); a table shared by the batch used to get one block per (key tile, head) looping
 * over the whole batch: 504 blocks of 256 query tiles each at the GPT-2-small shape, too few to
 * keep an H100 busy (benchmarks/NOTES.md §15). Now the batch is cut into ATT_SHARED_SPLITS ranges
 * (grid.z), each block adds its range's gradient into a partial table of its own, and
 * att_shared_sum adds the partials into dk / dv in split order: deterministic, no atomics. */
#define ATT_SHARED_SPLITS 8

static inline int att_kv_shared(const att_dims *d) { return d->B > 1 && (d->bsk == 0 || d->bsv == 0); }

/* grid.z of the dK/dV kernel: the batch, or the splits of a shared table. */
static inline unsigned att_kv_grid_z(const att_dims *d)
{
    return att_kv_shared(d) ? (unsigned)(d->B < ATT_SHARED_SPLITS ? d->B : ATT_SHARED_SPLITS) : (unsigned)d->B;
}

/* The zeroed partial tables [splits][2 (k, v)][Tk][H hs] (cuda_scratch), or NULL without a shared
 * table. */
static inline float *att_kv_parts(const att_dims *d)
{
    if (!att_kv_shared(d))
        return NULL;
    const size_t n = (size_t)att_kv_grid_z(d) * 2 * d->Tk * d->H * d->hs;
    float *p = (float *)cuda_scratch(n * sizeof(float));
    SEQ_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), 0));
    return p;
}

/* The sequences a dK/dV block runs: its own, or its split's range of the batch. */
__device__ __forceinline__ void att_kv_batches(const att_dims &d, int shared, int *b0, int *b1)
{
    if (!shared) {
        *b0 = blockIdx.z;
        *b1 = blockIdx.z + 1;
        return;
    }
    *b0 = (int)((long long)blockIdx.z * d.B / gridDim.z);
    *b1 = (int)((long long)(blockIdx.z + 1) * d.B / gridDim.z);
}

/* Where a block adds the gradient of a shared table (which 0: keys, 1: values): its split's
 * partial table, rows of H hs. */
__device__ __forceinline__ float *att_kv_part(float *parts, const att_dims &d, int which, size_t *ld)
{
    *ld = (size_t)d.H * d.hs;
    return parts + ((size_t)blockIdx.z * 2 + which) * d.Tk * *ld;
}

/* dst[u, c] (row stride ld) += the partials' sum over the splits, in split order. */
__global__ static void att_shared_sum(float *dst, size_t ld, const float *parts, int splits, int which, int Tk,
                                      int C)
{
    const size_t n = (size_t)Tk * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float s = 0.f;
        for (int z = 0; z < splits; z++)
            s += parts[((size_t)z * 2 + which) * n + i];
        dst[i / C * ld + i % C] += s;
    }
}

/* After the dK/dV kernel: the shared tables' gradients from the partials. */
static inline void att_kv_parts_sum(float *dk, float *dv, const float *parts, const att_dims *d)
{
    if (!parts)
        return;
    const int C = d->H * d->hs, splits = (int)att_kv_grid_z(d);
    const size_t n = (size_t)d->Tk * C;
    const unsigned blocks = (unsigned)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
    if (dk && d->bsk == 0) {
        att_shared_sum<<<blocks, 256>>>(dk, d->ldk, parts, splits, 0, d->Tk, C);
        SEQ_LAUNCHED();
    }
    if (dv && d->bsv == 0) {
        att_shared_sum<<<blocks, 256>>>(dv, d->ldv, parts, splits, 1, d->Tk, C);
        SEQ_LAUNCHED();
    }
}

/* D into scratch for the backward kernels. */
template <typename E, typename F>
static inline void att_delta_run(float *D, const E *dout, const F *out, const att_dims *d)
{
    const long rows = (long)d->B * d->H * d->Tq;
    att_delta<E, F><<<(unsigned)((rows + 7) / 8), 256>>>(D, dout, out, *d);
    SEQ_LAUNCHED();
}

#endif
