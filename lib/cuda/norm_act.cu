/* LayerNorm, activations and softmax on the GPU: one block per row for the row-wise kernels (one warp
 * per row for LayerNorm's float4 path), grid-stride loops for the elementwise ones. Reductions run in
 * a fixed order (launch shape only). */
#include <stdint.h>

#include "cuda/launch.cuh"
#include "cuda/cuda_ctx.h"

extern "C" {
#include "cuda/kernels_cuda.h"
}

#define ROW_THREADS 128

/* ---- layernorm ---------------------------------------------------------------------------------- */

__global__ static void k_ln_fwd(real *out, real *mean, real *rstd, const real *inp, const real *w, const real *b,
                                int C, real eps)
{
    const real *x = inp + (size_t)blockIdx.x * C;
    real *y = out + (size_t)blockIdx.x * C;
    float s = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        s += x[i];
    float m = block_sum(s) / C;
    /* Two passes as on the CPU: the variance of centred values does not cancel. */
    float v = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float d = x[i] - m;
        v += d * d;
    }
    float r = rsqrtf(block_sum(v) / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        y[i] = (x[i] - m) * r * w[i] + (b ? b[i] : 0.f);
    if (threadIdx.x == 0) {
        if (mean)
            mean[blockIdx.x] = m;
        if (rstd)
            rstd[blockIdx.x] = r;
    }
}

__global__ static void k_ln_bwd_x(real *dinp, const real *dout, const real *inp, const real *w, const real *mean,
                                  const real *rstd, int C)
{
    size_t off = (size_t)blockIdx.x * C;
    const real *x = inp + off, *dy = dout + off;
    real *dx = dinp + off;
    float m = mean[blockIdx.x], r = rstd[blockIdx.x];
    float sg = 0, sgx = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float g = w[i] * dy[i];
        sg += g;
        sgx += g * ((x[i] - m) * r);
    }
    sg = block_sum(sg) / C;
    sgx = block_sum(sgx) / C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float xhat = (x[i] - m) * r;
        dx[i] += (w[i] * dy[i] - sg - xhat * sgx) * r;
    }
}

/* Weight and bias gradients are column sums over rows: per chunk of LN_CHUNK rows a partial sum
 * (rows in order within a column), then the chunks in order. Deterministic, no atomics. */
#define LN_CHUNK 128
__global__ static void k_ln_bwd_wb_part(float *pw, float *pb, const real *dout, const real *inp, const real *mean,
                                        const real *rstd, int N, int C)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (j >= C)
        return;
    int n0 = chunk * LN_CHUNK, n1 = min(N, n0 + LN_CHUNK);
    float sw = 0, sb = 0;
    for (int n = n0; n < n1; n++) {
        float dy = dout[(size_t)n * C + j];
        sw += dy * ((inp[(size_t)n * C + j] - mean[n]) * rstd[n]);
        sb += dy;
    }
    pw[(size_t)chunk * C + j] = sw;
    pb[(size_t)chunk * C + j] = sb;
}

/* Adds the chunk partials [chunks][C] into dw, db. A block is 32 columns x LN_SUM_Y threads: thread
 * (x, y) sums chunks y, y + LN_SUM_Y, ... of its column in order, then thread y = 0 adds the LN_SUM_Y
 * sums in order. One thread walking all the chunks (256 of them at N = 16384 on the fast path) would
 * leave a few hundred threads waiting on a chain of L2 loads. The order is fixed by the launch shape. */
#define LN_SUM_Y 16
__global__ static void k_ln_bwd_wb_sum(real *dw, real *db, const float *pw, const float *pb, int chunks, int C)
{
    __shared__ float sw_y[LN_SUM_Y][32], sb_y[LN_SUM_Y][32];
    int j = blockIdx.x * 32 + threadIdx.x, y = threadIdx.y;
    float sw = 0, sb = 0;
    if (j < C)
        for (int c = y; c < chunks; c += LN_SUM_Y) {
            sw += pw[(size_t)c * C + j];
            sb += pb[(size_t)c * C + j];
        }
    sw_y[y][threadIdx.x] = sw;
    sb_y[y][threadIdx.x] = sb;
    __syncthreads();
    if (y != 0 || j >= C)
        return;
    sw = sb = 0;
    for (int k = 0; k < LN_SUM_Y; k++) {
        sw += sw_y[k][threadIdx.x];
        sb += sb_y[k][threadIdx.x];
    }
    if (dw)
        dw[j] += sw;
    if (db)
        db[j] += sb;
}

static void ln_wb_sum(real *dweight, real *dbias, const float *pw, const float *pb, int chunks, int C)
{
    k_ln_bwd_wb_sum<<<(C + 31) / 32, dim3(32, LN_SUM_Y)>>>(dweight, dbias, pw, pb, chunks, C);
    CUDA_LAUNCHED();
}

/* The fast path: one warp per row, the row in registers as float4, lane l holding float4 columns
 * l, l + 32, ..., l + 32 (V - 1) (C <= 128 V; a bounds test covers C not a multiple of 128). The
 * fallback's block per row reads the row three times (forward) and meets at __syncthreads for every
 * sum; a warp reads it once and sums with shuffles alone. Needs C % 4 == 0, C <= 128 LN_MAX_V and
 * 16-byte aligned rows; float only (float4): the CUDA objects are only built with real = float (the
 * Makefile keeps them out of the double library); MEMLAB_DOUBLE would build the fallback alone. */
#define LN_MAX_V 8
#define LN_FWD_WARPS 8   /* forward: rows a block, one a warp */
#define LN_BWD_WARPS 8   /* backward: warps a block */
#define LN_BWD_ROWS 64   /* backward: rows a block, 8 a warp; 256 blocks at N = 16384 */

#ifndef MEMLAB_DOUBLE
__device__ __forceinline__ static float sum4(float4 a) { return (a.x + a.y) + (a.z + a.w); }

template <int V>
__global__ static void __launch_bounds__(LN_FWD_WARPS * 32)
    k_ln_fwd_vec(float *out, uint2 *out16, float *mean, float *rstd, const float *inp, const float *w,
                 const float *b, int N, int C, float eps)
{
    const int row = blockIdx.x * LN_FWD_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31, C4 = C >> 2;
    if (row >= N)
        return;
    const float4 *x4 = (const float4 *)(inp + (size_t)row * C), *w4 = (const float4 *)w, *b4 = (const float4 *)b;
    float4 *y4 = out ? (float4 *)(out + (size_t)row * C) : NULL;   /* NULL: bf16 alone */
    float4 x[V];
    float s = 0;
#pragma unroll
    for (int k = 0; k < V; k++) {
        const int i = lane + 32 * k;
        x[k] = i < C4 ? x4[i] : make_float4(0.f, 0.f, 0.f, 0.f);
        s += sum4(x[k]);
    }
    const float m = warp_sum(s) / C;
    /* Two passes over the registers, as on the CPU: the variance of centred values does not cancel. */
    float v = 0;
#pragma unroll
    for (int k = 0; k < V; k++)
        if (lane + 32 * k < C4) {
            const float4 d = make_float4(x[k].x - m, x[k].y - m, x[k].z - m, x[k].w - m);
            v += (d.x * d.x + d.y * d.y) + (d.z * d.z + d.w * d.w);
        }
    const float r = rsqrtf(warp_sum(v) / C + eps);
#pragma unroll
    for (int k = 0; k < V; k++) {
        const int i = lane + 32 * k;
        if (i < C4) {
            const float4 g = w4[i], c = b ? b4[i] : make_float4(0.f, 0.f, 0.f, 0.f);
            const float4 y = make_float4((x[k].x - m) * r * g.x + c.x, (x[k].y - m) * r * g.y + c.y,
                                         (x[k].z - m) * r * g.z + c.z, (x[k].w - m) * r * g.w + c.w);
            if (y4)
                y4[i] = y;
            if (out16)
                out16[(size_t)row * C4 + i] = bf16x4(y);
        }
    }
    if (lane == 0) {
        if (mean)
            mean[row] = m;
        if (rstd)
            rstd[row] = r;
    }
}

/* dx and the weight and bias partials in one pass over x and dy. Block b owns rows [64 b, 64 b + 64);
 * warp k of it does rows k, k + 8, ... of them, one at a time: x and dy in registers (read once), the
 * two row sums by shuffles, dx += ..., and each lane keeps its columns' running dw (dy xhat) and db
 * (dy) in registers across its rows. w sits in shared memory, loaded once a block: held in registers
 * as well it took V = 6 (C = 768) to 165 registers a thread, and 128 is the most that lets two blocks
 * of 8 warps share an SM: N = 16384's 256 blocks then run in one wave, 16 warps an SM (V = 7, 8 need
 * more: one block an SM). At the end the warps' partials meet in shared memory and are added in warp
 * order (0, 1, 2, ...) into the block's row of pw, pb ([gridDim.x][C]): the bits depend on the launch
 * shape alone. dinp NULL: no dx; pw NULL: no partials. */
template <int V>
__global__ static void __launch_bounds__(LN_BWD_WARPS * 32, V <= 6 ? 2 : 1)
    k_ln_bwd_vec(float *dinp, float *pw, float *pb, const float *dout, const uint2 *dout16, const float *inp,
                 const float *w, const float *mean, const float *rstd, int N, int C)
{
    __shared__ float4 part[LN_BWD_WARPS][32 * V], ws[32 * V];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, C4 = C >> 2;
    const int n1 = min(N, (int)(blockIdx.x + 1) * LN_BWD_ROWS);
    const float4 *w4 = (const float4 *)w;
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    float4 aw[V], ab[V];
    for (int i = threadIdx.x; i < 32 * V; i += blockDim.x)
        ws[i] = i < C4 ? w4[i] : zero;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < V; k++)
        aw[k] = ab[k] = zero;
    for (int n = blockIdx.x * LN_BWD_ROWS + warp; n < n1; n += LN_BWD_WARPS) {
        const size_t off = (size_t)n * C;
        const float4 *x4 = (const float4 *)(inp + off), *dy4 = dout ? (const float4 *)(dout + off) : NULL;
        const uint2 *dy16 = dout ? NULL : dout16 + off / 4;   /* dout NULL: dy in bf16 */
        const float m = mean[n], r = rstd[n];
        float4 xh[V], g[V];   /* x, then xhat; dy, then w dy */
        float sg = 0, sgx = 0;
#pragma unroll
        for (int k = 0; k < V; k++) {
            const int i = lane + 32 * k;
            const bool in = i < C4;   /* padding: zeros, which add nothing below */
            xh[k] = in ? x4[i] : zero;
            g[k] = !in ? zero : dy4 ? dy4[i] : bf16x4_value(dy16[i]);
        }
#pragma unroll
        for (int k = 0; k < V; k++) {
            const float4 dy = g[k], wk = ws[lane + 32 * k];
            /* padding: xhat 0 too, so that no 0 * inf can reach the sums */
            xh[k] = lane + 32 * k < C4
                        ? make_float4((xh[k].x - m) * r, (xh[k].y - m) * r, (xh[k].z - m) * r, (xh[k].w - m) * r)
                        : zero;
            g[k] = make_float4(wk.x * dy.x, wk.y * dy.y, wk.z * dy.z, wk.w * dy.w);
            sg += sum4(g[k]);
            sgx += (g[k].x * xh[k].x + g[k].y * xh[k].y) + (g[k].z * xh[k].z + g[k].w * xh[k].w);
            aw[k] = make_float4(aw[k].x + dy.x * xh[k].x, aw[k].y + dy.y * xh[k].y, aw[k].z + dy.z * xh[k].z,
                                aw[k].w + dy.w * xh[k].w);
            ab[k] = make_float4(ab[k].x + dy.x, ab[k].y + dy.y, ab[k].z + dy.z, ab[k].w + dy.w);
        }
        if (!dinp)
            continue;
        sg = warp_sum(sg) / C;
        sgx = warp_sum(sgx) / C;
        float4 *dx4 = (float4 *)(dinp + off);
#pragma unroll
        for (int k = 0; k < V; k++) {
            const int i = lane + 32 * k;
            if (i < C4) {
                float4 d = dx4[i];
                d.x += (g[k].x - sg - xh[k].x * sgx) * r;
                d.y += (g[k].y - sg - xh[k].y * sgx) * r;
                d.z += (g[k].z - sg - xh[k].z * sgx) * r;
                d.w += (g[k].w - sg - xh[k].w * sgx) * r;
                dx4[i] = d;
            }
        }
    }
    if (!pw)
        return;   /* uniform over the block: no __syncthreads is skipped by part of it */
    /* The warps' partials in warp order; dw first, then db through the same shared buffer. */
    float4 *pw4 = (float4 *)(pw + (size_t)blockIdx.x * C), *pb4 = (float4 *)(pb + (size_t)blockIdx.x * C);
    for (int pass = 0; pass < 2; pass++) {
#pragma unroll
        for (int k = 0; k < V; k++)
            part[warp][lane + 32 * k] = pass ? ab[k] : aw[k];
        __syncthreads();
        for (int i = threadIdx.x; i < C4; i += LN_BWD_WARPS * 32) {
            float4 s = part[0][i];
#pragma unroll
            for (int q = 1; q < LN_BWD_WARPS; q++)
                s = make_float4(s.x + part[q][i].x, s.y + part[q][i].y, s.z + part[q][i].z, s.w + part[q][i].w);
            (pass ? pb4 : pw4)[i] = s;
        }
        __syncthreads();
    }
}

/* The V that holds C (C <= 128 V), from 1 to LN_MAX_V: one template instance each. */
#define LN_DISPATCH(V, launch)                                                                    \
    switch (V) {                                                                                  \
    case 1: launch(1); break;                                                                     \
    case 2: launch(2); break;                                                                     \
    case 3: launch(3); break;                                                                     \
    case 4: launch(4); break;                                                                     \
    case 5: launch(5); break;                                                                     \
    case 6: launch(6); break;                                                                     \
    case 7: launch(7); break;                                                                     \
    default: launch(8); break;                                                                    \
    }

/* Whether the float4 path takes this shape: every row 16-byte aligned (C % 4 == 0 and aligned bases;
 * NULL counts as aligned), and C within the registers' LN_MAX_V float4 a lane. */
static bool ln_fast(int N, int C, const void *a, const void *b, const void *c, const void *d)
{
    return N > 0 && C > 0 && C % 4 == 0 && C <= 128 * LN_MAX_V && aligned16(a) && aligned16(b) && aligned16(c) &&
           aligned16(d);
}
#endif

extern "C" void cuda_layernorm_forward_copy16(real *out, uint16_t *out16, real *mean, real *rstd, const real *inp,
                                              const real *weight, const real *bias, int N, int C, real eps)
{
#ifndef MEMLAB_DOUBLE
    if (ln_fast(N, C, out, inp, weight, bias) && ((uintptr_t)out16 & 7) == 0) {
        const int V = (C + 127) / 128, blocks = (N + LN_FWD_WARPS - 1) / LN_FWD_WARPS;
#define LN_FWD(v)                                                                                                  \
    k_ln_fwd_vec<v><<<blocks, LN_FWD_WARPS * 32>>>(out, (uint2 *)out16, mean, rstd, inp, weight, bias, N, C, eps)
        LN_DISPATCH(V, LN_FWD);
#undef LN_FWD
        CUDA_LAUNCHED();
        return;
    }
#endif
    /* out NULL (bf16 alone) off the fast path: through an fp32 buffer of its own (rare: C % 4 != 0,
     * C > 1024 or misaligned rows; cudaFree waits for the kernels) */
    real *y = out ? out : (real *)cuda_dev_alloc((size_t)N * C * sizeof(real));
    k_ln_fwd<<<N, ROW_THREADS>>>(y, mean, rstd, inp, weight, bias, C, eps);
    CUDA_LAUNCHED();
    if (out16)
        cuda_to_bf16(out16, y, (size_t)N * C);
    if (!out)
        cuda_dev_free(y);
}

extern "C" void cuda_layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                                       const real *bias, int N, int C, real eps)
{
    cuda_layernorm_forward_copy16(out, NULL, mean, rstd, inp, weight, bias, N, C, eps);
}

/* dout NULL: dout16, the output's gradient in bf16 (its reader wrote it so). */
static void layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const uint16_t *dout16,
                               const real *inp, const real *weight, const real *mean, const real *rstd, int N, int C)
{
    const bool wb = dweight || dbias;
#ifndef MEMLAB_DOUBLE
    if ((dinp || wb) && ln_fast(N, C, dinp, dout, inp, weight) && ((uintptr_t)dout16 & 7) == 0) {
        const int V = (C + 127) / 128, blocks = (N + LN_BWD_ROWS - 1) / LN_BWD_ROWS;
        float *pw = NULL, *pb = NULL;
        if (wb) {
            pw = (float *)cuda_scratch(2 * (size_t)blocks * C * sizeof(float));
            pb = pw + (size_t)blocks * C;
        }
#define LN_BWD(v)                                                                                               \
    k_ln_bwd_vec<v><<<blocks, LN_BWD_WARPS * 32>>>(dinp, pw, pb, dout, (const uint2 *)dout16, inp, weight, mean, rstd, \
                                                   N, C)
        LN_DISPATCH(V, LN_BWD);
#undef LN_BWD
        CUDA_LAUNCHED();
        if (wb)
            ln_wb_sum(dweight, dbias, pw, pb, blocks, C);
        return;
    }
#endif
    if (!dout) {   /* bf16 off the fast path (rare): through an fp32 copy of its own */
        real *dy = (real *)cuda_dev_alloc((size_t)N * C * sizeof(real));
        cuda_from_bf16(dy, dout16, (size_t)N * C);
        layernorm_backward(dinp, dweight, dbias, dy, NULL, inp, weight, mean, rstd, N, C);
        cuda_dev_free(dy);
        return;
    }
    if (dinp) {
        k_ln_bwd_x<<<N, ROW_THREADS>>>(dinp, dout, inp, weight, mean, rstd, C);
        CUDA_LAUNCHED();
    }
    if (!wb)
        return;
    int chunks = (N + LN_CHUNK - 1) / LN_CHUNK;
    float *pw = (float *)cuda_scratch(2 * (size_t)chunks * C * sizeof(float)), *pb = pw + (size_t)chunks * C;
    k_ln_bwd_wb_part<<<dim3((C + 63) / 64, chunks), 64>>>(pw, pb, dout, inp, mean, rstd, N, C);
    CUDA_LAUNCHED();
    ln_wb_sum(dweight, dbias, pw, pb, chunks, C);
}

extern "C" void cuda_layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                                        const real *weight, const real *mean, const real *rstd, int N, int C)
{
    layernorm_backward(dinp, dweight, dbias, dout, NULL, inp, weight, mean, rstd, N, C);
}

extern "C" void cuda_layernorm_backward16(real *dinp, real *dweight, real *dbias, const uint16_t *dout16,
                                          const real *inp, const real *weight, const real *mean, const real *rstd,
                                          int N, int C)
{
    layernorm_backward(dinp, dweight, dbias, NULL, dout16, inp, weight, mean, rstd, N, C);
}

/* ---- activations ------------------------------------------------------------------------------ */

#define GELU_BETA 0.7978845608028654f   /* sqrt(2 / pi) */
#define GELU_KAPPA 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

/* tanh form: x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), as the CPU writes it. */
__global__ static void k_gelu(real *out, const real *inp, size_t n)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i], u = GELU_BETA * (x + GELU_KAPPA * x * x * x);
        out[i] = x / (1.f + expf(-2.f * u));
    }
}

__global__ static void k_gelu_bwd(real *dinp, const real *dout, const real *inp, size_t n)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i], u = GELU_BETA * (x + GELU_KAPPA * x * x * x);
        float e = expf(fminf(-2.f * u, 80.f)), s = 1.f / (1.f + e);
        float du = GELU_BETA * (1.f + 3.f * GELU_KAPPA * x * x);
        dinp[i] += dout[i] * (s + 2.f * x * s * (e * s) * du);
    }
}

/* The exact form x Phi(x) and its slope Phi(x) + x phi(x), written once for every exact-GELU kernel. */
__device__ __forceinline__ float gelu_erf_of(float x) { return 0.5f * x * (1.f + erff(x * INV_SQRT2)); }
__device__ __forceinline__ float gelu_erf_slope(float x)
{
    const float cdf = 0.5f * (1.f + erff(x * INV_SQRT2)), pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
    return cdf + x * pdf;
}

__global__ static void k_gelu_erf(real *out, const real *inp, size_t n)
{
    GRID_STRIDE(i, n) out[i] = gelu_erf_of(inp[i]);
}

/* store: dinp is written, its old contents never read (a gradient written first) */
__global__ static void k_gelu_erf_bwd(real *dinp, const real *dout, const real *inp, size_t n, int store)
{
    GRID_STRIDE(i, n)
    {
        const float g = dout[i] * gelu_erf_slope(inp[i]);
        if (store)
            dinp[i] = g;
        else
            dinp[i] += g;
    }
}

__global__ static void k_relu(real *out, const real *inp, size_t n) { GRID_STRIDE(i, n) out[i] = inp[i] > 0 ? inp[i] : 0; }
__global__ static void k_relu_bwd(real *dinp, const real *dout, const real *out, size_t n)
{
    GRID_STRIDE(i, n) dinp[i] += out[i] > 0 ? dout[i] : 0;
}
__global__ static void k_tanh(real *out, const real *inp, size_t n) { GRID_STRIDE(i, n) out[i] = tanhf(inp[i]); }
__global__ static void k_tanh_bwd(real *dinp, const real *dout, const real *out, size_t n)
{
    GRID_STRIDE(i, n) dinp[i] += dout[i] * (1 - out[i] * out[i]);
}
__global__ static void k_sigmoid(real *out, const real *inp, size_t n)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i], e = expf(-fabsf(x)), s = 1.f / (1.f + e);
        out[i] = x >= 0 ? s : e * s;
    }
}
__global__ static void k_sigmoid_bwd(real *dinp, const real *dout, const real *out, size_t n)
{
    GRID_STRIDE(i, n) dinp[i] += dout[i] * out[i] * (1 - out[i]);
}

extern "C" void cuda_gelu_forward(real *out, const real *inp, size_t n) { LAUNCH(k_gelu, n, out, inp, n); }
extern "C" void cuda_gelu_backward(real *dinp, const real *dout, const real *inp, size_t n)
{
    if (dinp)
        LAUNCH(k_gelu_bwd, n, dinp, dout, inp, n);
}
/* Four at a time, with the bf16 copy beside when out16 is given (--dtype bf16: the next linear's
 * operand). The same arithmetic as k_gelu_erf. */
__global__ static void k_gelu_erf_4(float4 *out, uint2 *out16, const float4 *inp, size_t n4)
{
    GRID_STRIDE(i, n4)
    {
        const float4 x = inp[i];
        const float4 y = make_float4(gelu_erf_of(x.x), gelu_erf_of(x.y), gelu_erf_of(x.z), gelu_erf_of(x.w));
        out[i] = y;
        if (out16)
            out16[i] = bf16x4(y);
    }
}

extern "C" void cuda_gelu_erf_forward_copy16(real *out, uint16_t *out16, const real *inp, size_t n)
{
    if (n % 4 == 0 && aligned16(out) && aligned16(inp) && ((uintptr_t)out16 & 7) == 0) {
        LAUNCH(k_gelu_erf_4, n / 4, (float4 *)out, (uint2 *)out16, (const float4 *)inp, n / 4);
        return;
    }
    LAUNCH(k_gelu_erf, n, out, inp, n);
    if (out16)
        cuda_to_bf16(out16, out, n);
}

/* ---- GELU after a bf16 product (op_linear_gelu_erf) ------------------------------------------- */

__device__ __forceinline__ float h16_pre(const uint16_t *h16, const real *bias, int OC, size_t i)
{
    return bf16_value(h16[i]) + (bias ? bias[i % OC] : 0.f);
}

/* Four pre-activations, group i of four (OC % 4 == 0, bias 16-byte aligned). */
__device__ __forceinline__ float4 h16x4_pre(uint2 h, const real *bias, int OC, size_t i)
{
    float4 x = bf16x4_value(h);
    if (bias) {
        const float4 b = *(const float4 *)(bias + (i * 4) % OC);
        x = make_float4(x.x + b.x, x.y + b.y, x.z + b.z, x.w + b.w);
    }
    return x;
}

__global__ static void k_gelu_erf_h16(real *out, uint16_t *out16, const uint16_t *h16, const real *bias, int OC,
                                      size_t n)
{
    GRID_STRIDE(i, n)
    {
        const float y = gelu_erf_of(h16_pre(h16, bias, OC, i));
        if (out)
            out[i] = y;
        out16[i] = __bfloat16_as_ushort(__float2bfloat16_rn(y));
    }
}

/* Four at a time (OC % 4 == 0, 16-byte aligned out, 8-byte aligned h16 and out16): the same arithmetic. */
__global__ static void k_gelu_erf_h16_4(float4 *out, uint2 *out16, const uint2 *h16, const real *bias, int OC,
                                        size_t n4)
{
    GRID_STRIDE(i, n4)
    {
        const float4 x = h16x4_pre(h16[i], bias, OC, i);
        const float4 y = make_float4(gelu_erf_of(x.x), gelu_erf_of(x.y), gelu_erf_of(x.z), gelu_erf_of(x.w));
        if (out)
            out[i] = y;
        out16[i] = bf16x4(y);
    }
}

/* out NULL: the bf16 output alone (op_linear_gelu_erf). */
extern "C" void cuda_gelu_erf_forward_h16(real *out, uint16_t *out16, const uint16_t *h16, const real *bias, int OC,
                                          size_t n)
{
    if (OC % 4 == 0 && aligned16(out) && ((uintptr_t)out16 & 7) == 0 && ((uintptr_t)h16 & 7) == 0 &&
        (!bias || aligned16(bias)))
        LAUNCH(k_gelu_erf_h16_4, n / 4, (float4 *)out, (uint2 *)out16, (const uint2 *)h16, bias, OC, n / 4);
    else
        LAUNCH(k_gelu_erf_h16, n, out, out16, h16, bias, OC, n);
}

/* dout NULL: the output's gradient in bf16, dout16. */
__global__ static void k_gelu_erf_bwd_h16(real *dh, uint16_t *dh16, const real *dout, const uint16_t *dout16,
                                          const uint16_t *h16, const real *bias, int OC, size_t n)
{
    GRID_STRIDE(i, n)
    {
        const float g = (dout ? dout[i] : bf16_value(dout16[i])) * gelu_erf_slope(h16_pre(h16, bias, OC, i));
        if (dh)
            dh[i] = g;
        else
            dh16[i] = __bfloat16_as_ushort(__float2bfloat16_rn(g));
    }
}

/* Four at a time, as k_gelu_erf_h16_4 (dh 16-byte aligned when given, dh16 8-byte aligned). */
__global__ static void k_gelu_erf_bwd_h16_4(float4 *dh, uint2 *dh16, const float4 *dout, const uint2 *dout16,
                                            const uint2 *h16, const real *bias, int OC, size_t n4)
{
    GRID_STRIDE(i, n4)
    {
        const float4 x = h16x4_pre(h16[i], bias, OC, i);
        const float4 d = dout ? dout[i] : bf16x4_value(dout16[i]);
        const float4 g = make_float4(d.x * gelu_erf_slope(x.x), d.y * gelu_erf_slope(x.y), d.z * gelu_erf_slope(x.z),
                                     d.w * gelu_erf_slope(x.w));
        if (dh)
            dh[i] = g;
        else
            dh16[i] = bf16x4(g);
    }
}

extern "C" void cuda_gelu_erf_backward_h16(real *dh, uint16_t *dh16, const real *dout, const uint16_t *dout16,
                                           const uint16_t *h16, const real *bias, int OC, size_t n)
{
    if (OC % 4 == 0 && aligned16(dout) && ((uintptr_t)dout16 & 7) == 0 && ((uintptr_t)h16 & 7) == 0 &&
        (!bias || aligned16(bias)) && (dh ? aligned16(dh) : ((uintptr_t)dh16 & 7) == 0))
        LAUNCH(k_gelu_erf_bwd_h16_4, n / 4, (float4 *)dh, (uint2 *)dh16, (const float4 *)dout, (const uint2 *)dout16,
               (const uint2 *)h16, bias, OC, n / 4);
    else
        LAUNCH(k_gelu_erf_bwd_h16, n, dh, dh16, dout, dout16, h16, bias, OC, n);
}

extern "C" void cuda_gelu_erf_forward(real *out, const real *inp, size_t n)
{
    cuda_gelu_erf_forward_copy16(out, NULL, inp, n);
}
extern "C" void cuda_gelu_erf_backward(real *dinp, const real *dout, const real *inp, size_t n, int store)
{
    if (dinp)
        LAUNCH(k_gelu_erf_bwd, n, dinp, dout, inp, n, store);
}
extern "C" void cuda_relu_forward(real *out, const real *inp, size_t n) { LAUNCH(k_relu, n, out, inp, n); }
extern "C" void cuda_relu_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (dinp)
        LAUNCH(k_relu_bwd, n, dinp, dout, out, n);
}
extern "C" void cuda_tanh_forward(real *out, const real *inp, size_t n) { LAUNCH(k_tanh, n, out, inp, n); }
extern "C" void cuda_tanh_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (dinp)
        LAUNCH(k_tanh_bwd, n, dinp, dout, out, n);
}
extern "C" void cuda_sigmoid_forward(real *out, const real *inp, size_t n) { LAUNCH(k_sigmoid, n, out, inp, n); }
extern "C" void cuda_sigmoid_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (dinp)
        LAUNCH(k_sigmoid_bwd, n, dinp, dout, out, n);
}

/* ---- softmax ------------------------------------------------------------------------------------ */

__global__ static void k_softmax(real *out, const real *inp, int C)
{
    const real *x = inp + (size_t)blockIdx.x * C;
    real *y = out + (size_t)blockIdx.x * C;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        mx = fmaxf(mx, x[i]);
    mx = block_max(mx);
    float s = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        s += expf(x[i] - mx);
    float inv = 1.f / block_sum(s);
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        y[i] = expf(x[i] - mx) * inv;
}

__global__ static void k_softmax_bwd(real *dinp, const real *dout, const real *out, int C)
{
    size_t off = (size_t)blockIdx.x * C;
    const real *y = out + off, *dy = dout + off;
    float dot = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        dot += y[i] * dy[i];
    dot = block_sum(dot);
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        dinp[off + i] += y[i] * (dy[i] - dot);
}

extern "C" void cuda_softmax_forward(real *out, const real *inp, int N, int C)
{
    k_softmax<<<N, ROW_THREADS>>>(out, inp, C);
    CUDA_LAUNCHED();
}

extern "C" void cuda_softmax_backward(real *dinp, const real *dout, const real *out, int N, int C)
{
    if (!dinp)
        return;
    k_softmax_bwd<<<N, ROW_THREADS>>>(dinp, dout, out, C);
    CUDA_LAUNCHED();
}
