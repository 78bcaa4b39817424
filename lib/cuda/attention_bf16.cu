/* Attention with bf16 operands on the tensor cores (docs/gpu_kernels.md, "bf16 attention"): the
 * same algorithm as attention.cu (online-softmax forward keeping lse; backward in a key-tile kernel
 * for dK, dV and a query-tile kernel for dQ, no atomics), with every product a warp-level
 * mma.sync m16n8k16 (bf16 in, fp32 accumulate). Probabilities and dS are rounded to bf16 only as
 * operands of the next product; the softmax statistics, out, lse and the gradients stay fp32.
 *
 * A block is 4 warps; each warp owns 16 rows of the 64-row tile (queries in the forward and in dQ,
 * keys in dK/dV). Fragment layouts of m16n8k16 (PTX ISA), with g = lane / 4 and t = lane % 4:
 *   A (16 x 16, row-major): {row g, cols 2t, 2t+1}, {row g+8, same}, {row g, cols 2t+8, 2t+9}, {row g+8, same}
 *   B (16 x 8):             {k 2t, 2t+1; n g}, {k 2t+8, 2t+9; n g}
 *   C (16 x 8, fp32):       row g cols 2t, 2t+1; row g+8 cols 2t, 2t+1
 * So the C fragments of two neighbouring 8-column tiles are exactly the A fragment of a 16-column
 * slice: P (or dS) goes from one product into the next without touching shared memory.
 *
 * Every tile sits in shared memory row-major, as it is in global memory ([64 rows][HSP + 8], rows
 * padded by 16 bytes so that the 8 rows an ldmatrix phase reads fall in 8 different 16-byte bank
 * groups). Fragments come from ldmatrix: .x4 gives a whole A fragment, or the B fragments of two
 * neighbouring 8-column tiles; a B operand whose reduction index runs along the tile's rows (v in
 * P v, q and dout in the dK/dV products, k in dS k) comes from ldmatrix .trans of the same tile, so
 * no transposed copy is kept. Tiles arrive by cp.async (16 bytes a thread, zero-filled past the
 * rows or the head's columns) one tile ahead of the one being computed (double buffering); heads
 * whose rows are not 16-byte aligned (hs or a row stride not a multiple of 8) are copied element by
 * element instead. Exponentials are exp2 of log2(e)-scaled differences.
 *
 * Needs sm_80 or newer (bf16 mma, cp.async); older targets compile a trap. */
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>

#include "cuda/attention_common.cuh"

typedef unsigned short bf16_t;

#define TC_THREADS 128
/* Blocks per multiprocessor the compiler must leave room for (register cap 65536 / (128 x this)).
 * Four for the backward kernels: at head size 64 the dK/dV kernel's six double-buffered tiles and
 * row statistics (57,344 bytes, plus the 1 KiB the driver keeps per block) fill an H100 SM's 228 KiB
 * exactly four times, and since the clean tiles it fits 128 registers with little spilling (4 blocks
 * against 3: the persistent memory's backward 2.25 against 2.38 ms, benchmarks/NOTES.md §20; again
 * 0.535 against 0.559 ms a gpt layer, §26). dQ's six tiles fit 4 too. Three for the forward: at 128
 * registers it spilled (56 / 92 bytes at head size 64), at 168 it does not, and the H100 timed it
 * 2-4% faster (gpt 0.110 against 0.113 ms a layer, the persistent memory 0.646 against 0.676; §26).
 * Set at build time to compare. */
#ifndef TC_MIN_BLOCKS_FWD
#define TC_MIN_BLOCKS_FWD 3
#endif
#ifndef TC_MIN_BLOCKS_KV
#define TC_MIN_BLOCKS_KV 4
#endif
#ifndef TC_MIN_BLOCKS_Q
#define TC_MIN_BLOCKS_Q 4
#endif
#define TC_LOG2E 1.4426950408889634f

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define TC_UNSUPPORTED 1
#endif

__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
#ifndef TC_UNSUPPORTED
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();
#endif
}

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* Four 8 x 8 bf16 matrices whose rows the lanes name (lanes 8i..8i+7: matrix i's rows); lane l gets
 * row l / 4, columns 2 (l % 4) and + 1 of each (with trans: of its transpose). */
template <bool trans>
__device__ __forceinline__ void ldsm4(uint32_t r[4], const bf16_t *p)
{
#ifndef TC_UNSUPPORTED
    if (trans)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(smem_addr(p)));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(smem_addr(p)));
#else
    __trap();
#endif
}

/* The A fragment of rows r0..r0+15, columns c0..c0+15 of a row-major tile (rows ld apart). */
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16_t *X, int ld, int r0, int c0, int lane)
{
    ldsm4<false>(a, X + (r0 + (lane & 15)) * ld + c0 + (lane >> 4) * 8);
}

/* B fragments of the 8-column tiles n0 and n0 + 8 over k0..k0+15, B[k][n] = Y[n][k] (Y row-major,
 * its rows are B's columns: k in q k^T): b[0], b[1] for n0; b[2], b[3] for n0 + 8. */
__device__ __forceinline__ void frag_b_rows(uint32_t b[4], const bf16_t *Y, int ld, int n0, int k0, int lane)
{
    ldsm4<false>(b, Y + (n0 + (lane & 7) + (lane >> 4) * 8) * ld + k0 + ((lane >> 3) & 1) * 8);
}

/* The same with B[k][n] = X[k][n] (X row-major along B's rows: v in P v), through .trans. */
__device__ __forceinline__ void frag_b_cols(uint32_t b[4], const bf16_t *X, int ld, int k0, int n0, int lane)
{
    ldsm4<true>(b, X + (k0 + (lane & 15)) * ld + n0 + (lane >> 4) * 8);
}

/* Two floats as a bf16 pair, the first in the low half (the lower column index). */
__device__ __forceinline__ uint32_t pack2(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* 2^x in one MUFU instruction, flushing subnormal results to zero (the probabilities become bf16
 * operands; exp2f adds a range fix-up around the same instruction). */
__device__ __forceinline__ float ex2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* The A fragment of 16-column slice m of a C-fragment row block c[nt][4] (nt = 2m, 2m + 1). */
__device__ __forceinline__ void c_to_a(uint32_t a[4], const float c0[4], const float c1[4])
{
    a[0] = pack2(c0[0], c0[1]);
    a[1] = pack2(c0[2], c0[3]);
    a[2] = pack2(c1[0], c1[1]);
    a[3] = pack2(c1[2], c1[3]);
}

/* ---- asynchronous copies --------------------------------------------------------------------- */

/* bytes (16 or 0: zero fill) from global src to shared dst, without waiting. */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes)
{
#ifndef TC_UNSUPPORTED
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(bytes));
#endif
}

__device__ __forceinline__ void cp_async4(void *dst, const void *src, int bytes)
{
#ifndef TC_UNSUPPORTED
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(bytes));
#endif
}

__device__ __forceinline__ void cp_async_commit()
{
#ifndef TC_UNSUPPORTED
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

/* Waits until at most n of this thread's committed groups are still in flight. */
template <int n>
__device__ __forceinline__ void cp_async_wait()
{
#ifndef TC_UNSUPPORTED
    asm volatile("cp.async.wait_group %0;\n" ::"n"(n));
#endif
}

/* rows [0, 64) of a head's tile starting at x (n of them exist, hs columns) into the row-major
 * [64][HSP + 8] tile X, zeros past n rows or hs columns; head is a valid address of the same head
 * (what a zero-filling copy names). Asynchronous when rows are 16-byte aligned (hs and ld multiples
 * of 8, an aligned start: uniform over the block), else element by element. */
template <int HSP>
__device__ __forceinline__ void load_tile(bf16_t *X, const bf16_t *x, const bf16_t *head, size_t ld, int n, int hs)
{
    static_assert(64 * HSP / 8 % TC_THREADS == 0, "a tile's 16-byte chunks divide evenly among the threads");
    if (hs % 8 == 0 && ld % 8 == 0 && ((uintptr_t)x & 15) == 0) {
        /* a fixed count a thread, so that the loop unrolls (it runs once per tile in every kernel's
         * inner loop) */
#pragma unroll
        for (int it = 0; it < 64 * HSP / 8 / TC_THREADS; it++) {
            const int e = threadIdx.x + it * TC_THREADS;
            const int r = e / (HSP / 8), c = e % (HSP / 8) * 8;
            const bool in = r < n && c < hs;
            cp_async16(X + r * (HSP + 8) + c, in ? x + (size_t)r * ld + c : head, in ? 16 : 0);
        }
        return;
    }
    for (int e = threadIdx.x; e < 64 * HSP; e += TC_THREADS) {
        const int r = e / HSP, c = e % HSP;
        X[r * (HSP + 8) + c] = r < n && c < hs ? x[(size_t)r * ld + c] : (bf16_t)0;
    }
}

/* Tiles of [64][HSP + 8] bf16 in shared memory. */
template <int HSP>
constexpr size_t tile_bytes() { return 64 * (HSP + 8) * sizeof(bf16_t); }

/* ---- forward -------------------------------------------------------------------------------- */

/* q tile, then k and v twice (the tile computed on and the next one arriving). */
template <int HSP>
constexpr size_t tc_fwd_smem() { return 5 * tile_bytes<HSP>(); }

template <int HSP>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS_FWD)
attb_forward(float *out, bf16_t *out16, float *lse, const bf16_t *q, const bf16_t *k, const bf16_t *v, att_dims d)
{
    extern __shared__ uint4 sm_raw[];
    constexpr int LD = HSP + 8, TILE = 64 * LD;
    bf16_t *Qs = reinterpret_cast<bf16_t *>(sm_raw), *Kb = Qs + TILE, *Vb = Kb + 2 * TILE;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const bf16_t *qh = q + (size_t)b * d.bsq + (size_t)h * hs, *kh = k + (size_t)b * d.bsk + (size_t)h * hs,
                 *vh = v + (size_t)b * d.bsv + (size_t)h * hs;

    int c0, c1;
    tile_keys(d, i0, &c0, &c1);
    load_tile<HSP>(Qs, qh + (size_t)i0 * d.ldq, qh, d.ldq, d.Tq - i0, hs);
    if (c0 < c1) {
        load_tile<HSP>(Kb, kh + (size_t)c0 * d.ldk, kh, d.ldk, d.Tk - c0, hs);
        load_tile<HSP>(Vb, vh + (size_t)c0 * d.ldv, vh, d.ldv, d.Tk - c0, hs);
    }
    cp_async_commit();

    const int ri[2] = {i0 + warp * 16 + g, i0 + warp * 16 + g + 8};   /* this thread's two rows */
    int lo[2], hi[2];
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, o[HSP / 8][4];
    for (int r = 0; r < 2; r++)
        row_keys_or_none(d, ri[r], &lo[r], &hi[r]);
#pragma unroll
    for (int n = 0; n < HSP / 8; n++)
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    uint32_t qa[HSP / 16][4];

    for (int j0 = c0, buf = 0; j0 < c1; j0 += ATT_BC, buf ^= 1) {
        if (j0 + ATT_BC < c1) {   /* the next tile into the other buffer (free since the last barrier) */
            const int jn = j0 + ATT_BC;
            load_tile<HSP>(Kb + (buf ^ 1) * TILE, kh + (size_t)jn * d.ldk, kh, d.ldk, d.Tk - jn, hs);
            load_tile<HSP>(Vb + (buf ^ 1) * TILE, vh + (size_t)jn * d.ldv, vh, d.ldv, d.Tk - jn, hs);
        }
        cp_async_commit();
        cp_async_wait<1>();   /* everything but the tile just asked for */
        __syncthreads();
        if (j0 == c0) {
#pragma unroll
            for (int ks = 0; ks < HSP / 16; ks++)
                frag_a(qa[ks], Qs, LD, warp * 16, ks * 16, lane);
        }
        const bf16_t *Ks = Kb + buf * TILE, *Vs = Vb + buf * TILE;
        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
        for (int np = 0; np < 4; np++)
#pragma unroll
            for (int ks = 0; ks < HSP / 16; ks++) {
                uint32_t kb[4];
                frag_b_rows(kb, Ks, LD, np * 16, ks * 16, lane);
                mma_bf16(s[2 * np], qa[ks], kb[0], kb[1]);
                mma_bf16(s[2 * np + 1], qa[ks], kb[2], kb[3]);
            }
        /* The online softmax of the thread's two rows (4 lanes a row). A clean tile (every key seen,
         * no bias) takes the row maximum of the raw products and one multiply-add per exponent;
         * others apply the mask, the scale and ALiBi to each logit first. */
        const bool clean = tile_clean(d, i0, j0);
        float mx[2] = {-INFINITY, -INFINITY};
        if (clean) {
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    mx[e >> 1] = fmaxf(mx[e >> 1], s[nt][e]);
        } else {
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int r = e >> 1, u = j0 + nt * 8 + 2 * t + (e & 1);
                    s[nt][e] = u >= lo[r] && u < hi[r] ? logit(d, s[nt][e], slope, ri[r], u) : -INFINITY;
                    mx[r] = fmaxf(mx[r], s[nt][e]);
                }
        }
        float nbase[2], corr[2], sum[2] = {0.f, 0.f};
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            if (clean)
                mx[r] *= d.scale;   /* the scale is positive: the maximum of the logits */
            const float mnew = fmaxf(m[r], mx[r]);
            const float base = mnew == -INFINITY ? 0.f : mnew;   /* no key yet: p = 0, nothing to rescale */
            corr[r] = ex2((m[r] - base) * TC_LOG2E);
            nbase[r] = -base * TC_LOG2E;
            m[r] = mnew;
        }
        const float sl2 = clean ? d.scale * TC_LOG2E : TC_LOG2E;   /* the logit's factor in log2 units */
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[nt][e] = ex2(fmaf(s[nt][e], sl2, nbase[e >> 1]));
                sum[e >> 1] += s[nt][e];
            }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 1);
            sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 2);
            l[r] = l[r] * corr[r] + sum[r];
        }
#pragma unroll
        for (int n = 0; n < HSP / 8; n++) {
            o[n][0] *= corr[0], o[n][1] *= corr[0];
            o[n][2] *= corr[1], o[n][3] *= corr[1];
        }
#pragma unroll
        for (int mm = 0; mm < 4; mm++) {
            uint32_t pa[4];
            c_to_a(pa, s[2 * mm], s[2 * mm + 1]);
#pragma unroll
            for (int np = 0; np < HSP / 16; np++) {
                uint32_t vb[4];
                frag_b_cols(vb, Vs, LD, mm * 16, np * 16, lane);
                mma_bf16(o[2 * np], pa, vb[0], vb[1]);
                mma_bf16(o[2 * np + 1], pa, vb[2], vb[3]);
            }
        }
        __syncthreads();   /* this buffer is refilled two tiles on */
    }
    cp_async_wait<0>();   /* nothing left in flight (a tile without keys loaded q alone) */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (ri[r] >= d.Tq)
            continue;
        const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;   /* a row without keys outputs zero */
        const size_t at = (size_t)b * d.bso + (size_t)ri[r] * d.ldo + (size_t)h * hs;
        float *ob = out ? out + at : NULL;   /* NULL: the bf16 output alone */
        bf16_t *ob16 = out16 ? out16 + at : NULL;
#pragma unroll
        for (int n = 0; n < HSP / 8; n++) {
            const int c = n * 8 + 2 * t;
            const float y0 = o[n][2 * r] * inv, y1 = o[n][2 * r + 1] * inv;
            if (ob && c < hs)
                ob[c] = y0;
            if (ob && c + 1 < hs)
                ob[c + 1] = y1;
            if (ob16) {   /* the output's bf16 copy, for the linear that reads it */
                if (c < hs)
                    ob16[c] = __bfloat16_as_ushort(__float2bfloat16_rn(y0));
                if (c + 1 < hs)
                    ob16[c + 1] = __bfloat16_as_ushort(__float2bfloat16_rn(y1));
            }
        }
        if (lse && t == 0)
            lse[((size_t)b * d.H + h) * d.Tq + ri[r]] = l[r] > 0.f ? m[r] + logf(l[r]) : -INFINITY;
    }
}

/* ---- backward -------------------------------------------------------------------------------- */

/* One gradient element: added to an fp32 gradient, stored rounded to a bf16 one (the gradient's
 * only writer: cuda_attention_backward_bf16_g16). */
__device__ __forceinline__ void grad_put(float *p, float x) { *p += x; }
__device__ __forceinline__ void grad_put(bf16_t *p, float x) { *p = __bfloat16_as_ushort(__float2bfloat16_rn(x)); }

/* dst[rows r0 + warp*16 + g (+8), head columns] += mul acc (C fragments), or = for bf16 (grad_put),
 * rows past n skipped; acc is zeroed. */
template <int HSP, typename G>
__device__ __forceinline__ void flush_c(G *dst, size_t ld, int r0, int n, int hs, float acc[HSP / 8][4], float mul,
                                        int g, int t)
{
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = r0 + g + 8 * r;
        if (row >= n)
            continue;
#pragma unroll
        for (int nn = 0; nn < HSP / 8; nn++) {
            const int c = nn * 8 + 2 * t;
            if (c < hs)
                grad_put(dst + (size_t)row * ld + c, mul * acc[nn][2 * r]);
            if (c + 1 < hs)
                grad_put(dst + (size_t)row * ld + c + 1, mul * acc[nn][2 * r + 1]);
        }
    }
#pragma unroll
    for (int nn = 0; nn < HSP / 8; nn++)
        acc[nn][0] = acc[nn][1] = acc[nn][2] = acc[nn][3] = 0.f;
}

/* The backward's two products over the 16 rows from row0 and the 32 columns from col0, as C
 * fragments: s = X1 Y1^T and gp = X2 Y2^T, all four row-major tiles (S and dP, or their
 * transposes, reduced over the head's columns). */
template <int HSP>
__device__ __forceinline__ void two_products(float s[4][4], float gp[4][4], const bf16_t *X1, const bf16_t *Y1,
                                             const bf16_t *X2, const bf16_t *Y2, int row0, int col0, int lane)
{
    constexpr int LD = HSP + 8;
#pragma unroll
    for (int nt = 0; nt < 4; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            s[nt][e] = gp[nt][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < HSP / 16; ks++) {
        uint32_t a1[4], a2[4];
        frag_a(a1, X1, LD, row0, ks * 16, lane);
        frag_a(a2, X2, LD, row0, ks * 16, lane);
#pragma unroll
        for (int np = 0; np < 2; np++) {
            uint32_t y1[4], y2[4];
            frag_b_rows(y1, Y1, LD, col0 + np * 16, ks * 16, lane);
            frag_b_rows(y2, Y2, LD, col0 + np * 16, ks * 16, lane);
            mma_bf16(s[2 * np], a1, y1[0], y1[1]);
            mma_bf16(s[2 * np + 1], a1, y1[2], y1[3]);
            mma_bf16(gp[2 * np], a2, y2[0], y2[1]);
            mma_bf16(gp[2 * np + 1], a2, y2[2], y2[3]);
        }
    }
}

/* k and v tiles, then q and dout twice; per query row of each of the two: lse, D, lo, hi. */
template <int HSP>
constexpr size_t tc_kv_smem() { return 6 * tile_bytes<HSP>() + 2 * 4 * 64 * sizeof(float); }

/* The first query tile from i0 on (a multiple of 64) whose rows see some key of the tile at j0, or
 * Tq (the rows that see a key tile are one interval, for every mask). */
__device__ __forceinline__ int next_query_tile(const att_dims &d, int i0, int j0)
{
    for (; i0 < d.Tq; i0 += ATT_BR) {
        int c0, c1;
        tile_keys(d, i0, &c0, &c1);
        if (c1 > j0 && c0 < j0 + ATT_BC && c1 > c0)
            return i0;
    }
    return d.Tq;
}

/* One block per (key tile, head, batch), or per (key tile, head, range of the batch) when k or v is
 * shared by the batch. Warp w owns keys w*16 .. w*16+15 of the tile: S^T = k q^T and
 * dP^T = v dout^T for 32 queries at a time (two halves of the query tile, to hold fewer registers),
 * then dV += P^T dout and dK += scale dS^T q. The query tiles of a sequence stream through two
 * buffers. */
template <int HSP, typename G>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS_KV)
attb_backward_kv(G *dk, G *dv, const bf16_t *dout, const bf16_t *q, const bf16_t *k, const bf16_t *v,
                 const float *lse, const float *D, float *parts, att_dims d)
{
    extern __shared__ uint4 sm_raw[];
    constexpr int LD = HSP + 8, TILE = 64 * LD;
    bf16_t *Ks = reinterpret_cast<bf16_t *>(sm_raw), *Vs = Ks + TILE, *Qb = Vs + TILE, *Ob = Qb + 2 * TILE;
    float *Lb = reinterpret_cast<float *>(Ob + 2 * TILE), *Db = Lb + 2 * 64;
    int *Lob = reinterpret_cast<int *>(Db + 2 * 64), *Hib = Lob + 2 * 64;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int j0 = blockIdx.x * ATT_BC, h = blockIdx.y, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const int shared_k = d.bsk == 0 && d.B > 1, shared_v = d.bsv == 0 && d.B > 1;
    int b_first, b_end;
    att_kv_batches(d, shared_k || shared_v, &b_first, &b_end);
    const int u_row[2] = {j0 + warp * 16 + g, j0 + warp * 16 + g + 8};   /* this thread's two keys */
    const float sl2 = d.scale * TC_LOG2E;

    float dK[HSP / 8][4], dV[HSP / 8][4];
#pragma unroll
    for (int n = 0; n < HSP / 8; n++)
        for (int e = 0; e < 4; e++)
            dK[n][e] = dV[n][e] = 0.f;

    for (int b = b_first; b < b_end; b++) {
        const bf16_t *qh = q + (size_t)b * d.bsq + (size_t)h * hs, *oh = dout + (size_t)b * d.bso + (size_t)h * hs;
        const float *lb = lse + ((size_t)b * d.H + h) * d.Tq, *db = D + ((size_t)b * d.H + h) * d.Tq;
        /* the query tile at i0 into buffer buf: q, dout, and each row's lse, D and key interval */
        auto stage = [&](int i0, int buf) {
            load_tile<HSP>(Qb + buf * TILE, qh + (size_t)i0 * d.ldq, qh, d.ldq, d.Tq - i0, hs);
            load_tile<HSP>(Ob + buf * TILE, oh + (size_t)i0 * d.ldo, oh, d.ldo, d.Tq - i0, hs);
            if (threadIdx.x < 64) {
                const int i = i0 + threadIdx.x, in = i < d.Tq;
                cp_async4(Lb + buf * 64 + threadIdx.x, in ? lb + i : lb, in ? 4 : 0);
                cp_async4(Db + buf * 64 + threadIdx.x, in ? db + i : db, in ? 4 : 0);
                row_keys_or_none(d, i, &Lob[buf * 64 + threadIdx.x], &Hib[buf * 64 + threadIdx.x]);
            }
        };
        int i0 = next_query_tile(d, 0, j0);
        __syncthreads();   /* the previous sequence's last tiles are no longer read */
        if (b == b_first || !(shared_k && shared_v)) {
            load_tile<HSP>(Ks, k + (size_t)b * d.bsk + (size_t)h * hs + (size_t)j0 * d.ldk, k + (size_t)h * hs, d.ldk,
                           d.Tk - j0, hs);
            load_tile<HSP>(Vs, v + (size_t)b * d.bsv + (size_t)h * hs + (size_t)j0 * d.ldv, v + (size_t)h * hs, d.ldv,
                           d.Tk - j0, hs);
        }
        if (i0 < d.Tq)
            stage(i0, 0);
        cp_async_commit();
        for (int buf = 0; i0 < d.Tq; buf ^= 1) {
            const int inext = next_query_tile(d, i0 + ATT_BR, j0);
            if (inext < d.Tq)
                stage(inext, buf ^ 1);
            cp_async_commit();
            cp_async_wait<1>();
            __syncthreads();
            const bf16_t *Qs = Qb + buf * TILE, *Os = Ob + buf * TILE;
            const float *Ls = Lb + buf * 64, *Ds = Db + buf * 64;
            const int *Lo = Lob + buf * 64, *Hi = Hib + buf * 64;
            const bool clean = tile_clean(d, i0, j0);
#pragma unroll
            for (int half = 0; half < 2; half++) {
                float s[4][4], gp[4][4];
                two_products<HSP>(s, gp, Ks, Qs, Vs, Os, warp * 16, half * 32, lane);
                /* P^T and dS^T / scale (the scale is applied to dK when it is flushed). A clean tile
                 * reads each query column's lse and D once, as pairs, and needs no mask test. */
                if (clean) {
#pragma unroll
                    for (int nt = 0; nt < 4; nt++) {
                        const int qi = half * 32 + nt * 8 + 2 * t;
                        const float2 L2 = *reinterpret_cast<const float2 *>(Ls + qi);
                        const float2 D2 = *reinterpret_cast<const float2 *>(Ds + qi);
                        const float nl[2] = {-L2.x * TC_LOG2E, -L2.y * TC_LOG2E}, dd[2] = {D2.x, D2.y};
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            const float p = ex2(fmaf(s[nt][e], sl2, nl[e & 1]));
                            s[nt][e] = p;
                            gp[nt][e] = p * (gp[nt][e] - dd[e & 1]);
                        }
                    }
                } else {
#pragma unroll
                    for (int nt = 0; nt < 4; nt++)
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            const int qi = half * 32 + nt * 8 + 2 * t + (e & 1), u = u_row[e >> 1];
                            float p = 0.f;
                            if (u >= Lo[qi] && u < Hi[qi])
                                p = ex2((logit(d, s[nt][e], slope, i0 + qi, u) - Ls[qi]) * TC_LOG2E);
                            s[nt][e] = p;
                            gp[nt][e] = p * (gp[nt][e] - Ds[qi]);
                        }
                }
#pragma unroll
                for (int mm = 0; mm < 2; mm++) {
                    uint32_t pa[4], sa[4];
                    c_to_a(pa, s[2 * mm], s[2 * mm + 1]);
                    c_to_a(sa, gp[2 * mm], gp[2 * mm + 1]);
#pragma unroll
                    for (int np = 0; np < HSP / 16; np++) {
                        uint32_t ob[4], qb[4];
                        frag_b_cols(ob, Os, LD, half * 32 + mm * 16, np * 16, lane);
                        frag_b_cols(qb, Qs, LD, half * 32 + mm * 16, np * 16, lane);
                        mma_bf16(dV[2 * np], pa, ob[0], ob[1]);
                        mma_bf16(dV[2 * np + 1], pa, ob[2], ob[3]);
                        mma_bf16(dK[2 * np], sa, qb[0], qb[1]);
                        mma_bf16(dK[2 * np + 1], sa, qb[2], qb[3]);
                    }
                }
            }
            __syncthreads();   /* this buffer is refilled two tiles on */
            i0 = inext;
        }
        cp_async_wait<0>();   /* k and v of a sequence without query tiles */
        if (dk && !shared_k)
            flush_c<HSP>(dk + (size_t)b * d.bsk + (size_t)h * hs, d.ldk, j0 + warp * 16, d.Tk, hs, dK, d.scale, g, t);
        if (dv && !shared_v)
            flush_c<HSP>(dv + (size_t)b * d.bsv + (size_t)h * hs, d.ldv, j0 + warp * 16, d.Tk, hs, dV, 1.f, g, t);
    }
    size_t ld;
    if (dk && shared_k) {
        float *part = att_kv_part(parts, d, 0, &ld);
        flush_c<HSP>(part + (size_t)h * hs, ld, j0 + warp * 16, d.Tk, hs, dK, d.scale, g, t);
    }
    if (dv && shared_v) {
        float *part = att_kv_part(parts, d, 1, &ld);
        flush_c<HSP>(part + (size_t)h * hs, ld, j0 + warp * 16, d.Tk, hs, dV, 1.f, g, t);
    }
}

/* q and dout tiles, then k and v twice. */
template <int HSP>
constexpr size_t tc_q_smem() { return 6 * tile_bytes<HSP>(); }

/* One block per (query tile, head, batch); warp w owns queries w*16 .. w*16+15:
 * dQ += scale dS k over the key tiles the rows see, streamed through two buffers. */
template <int HSP, typename G>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS_Q)
attb_backward_q(G *dq, const bf16_t *dout, const bf16_t *q, const bf16_t *k, const bf16_t *v,
                const float *lse, const float *D, att_dims d)
{
    extern __shared__ uint4 sm_raw[];
    constexpr int LD = HSP + 8, TILE = 64 * LD;
    bf16_t *Qs = reinterpret_cast<bf16_t *>(sm_raw), *Os = Qs + TILE, *Kb = Os + TILE, *Vb = Kb + 2 * TILE;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const bf16_t *qh = q + (size_t)b * d.bsq + (size_t)h * hs, *oh = dout + (size_t)b * d.bso + (size_t)h * hs;
    const bf16_t *kh = k + (size_t)b * d.bsk + (size_t)h * hs, *vh = v + (size_t)b * d.bsv + (size_t)h * hs;
    int c0, c1;
    tile_keys(d, i0, &c0, &c1);
    load_tile<HSP>(Qs, qh + (size_t)i0 * d.ldq, qh, d.ldq, d.Tq - i0, hs);
    load_tile<HSP>(Os, oh + (size_t)i0 * d.ldo, oh, d.ldo, d.Tq - i0, hs);
    if (c0 < c1) {
        load_tile<HSP>(Kb, kh + (size_t)c0 * d.ldk, kh, d.ldk, d.Tk - c0, hs);
        load_tile<HSP>(Vb, vh + (size_t)c0 * d.ldv, vh, d.ldv, d.Tk - c0, hs);
    }
    cp_async_commit();
    const int ri[2] = {i0 + warp * 16 + g, i0 + warp * 16 + g + 8};
    int lo[2], hi[2];
    float L[2], Di[2], nl[2], acc[HSP / 8][4];
    const float sl2 = d.scale * TC_LOG2E;
    for (int r = 0; r < 2; r++) {
        row_keys_or_none(d, ri[r], &lo[r], &hi[r]);
        const size_t row = ((size_t)b * d.H + h) * d.Tq + ri[r];
        L[r] = ri[r] < d.Tq ? lse[row] : 0.f;
        Di[r] = ri[r] < d.Tq ? D[row] : 0.f;
        nl[r] = -L[r] * TC_LOG2E;
    }
#pragma unroll
    for (int n = 0; n < HSP / 8; n++)
        acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    for (int j0 = c0, buf = 0; j0 < c1; j0 += ATT_BC, buf ^= 1) {
        if (j0 + ATT_BC < c1) {
            const int jn = j0 + ATT_BC;
            load_tile<HSP>(Kb + (buf ^ 1) * TILE, kh + (size_t)jn * d.ldk, kh, d.ldk, d.Tk - jn, hs);
            load_tile<HSP>(Vb + (buf ^ 1) * TILE, vh + (size_t)jn * d.ldv, vh, d.ldv, d.Tk - jn, hs);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const bf16_t *Ks = Kb + buf * TILE, *Vs = Vb + buf * TILE;
        const bool clean = tile_clean(d, i0, j0);
#pragma unroll
        for (int half = 0; half < 2; half++) {
            float s[4][4], gp[4][4];
            two_products<HSP>(s, gp, Qs, Ks, Os, Vs, warp * 16, half * 32, lane);
            /* dS / scale (the scale is applied when dQ is flushed) */
            if (clean) {
#pragma unroll
                for (int nt = 0; nt < 4; nt++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        s[nt][e] = ex2(fmaf(s[nt][e], sl2, nl[e >> 1])) * (gp[nt][e] - Di[e >> 1]);
            } else {
#pragma unroll
                for (int nt = 0; nt < 4; nt++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int r = e >> 1, u = j0 + half * 32 + nt * 8 + 2 * t + (e & 1);
                        float ds = 0.f;
                        if (u >= lo[r] && u < hi[r])
                            ds = ex2((logit(d, s[nt][e], slope, ri[r], u) - L[r]) * TC_LOG2E) * (gp[nt][e] - Di[r]);
                        s[nt][e] = ds;
                    }
            }
#pragma unroll
            for (int mm = 0; mm < 2; mm++) {
                uint32_t sa[4];
                c_to_a(sa, s[2 * mm], s[2 * mm + 1]);
#pragma unroll
                for (int np = 0; np < HSP / 16; np++) {
                    uint32_t kb[4];
                    frag_b_cols(kb, Ks, LD, half * 32 + mm * 16, np * 16, lane);
                    mma_bf16(acc[2 * np], sa, kb[0], kb[1]);
                    mma_bf16(acc[2 * np + 1], sa, kb[2], kb[3]);
                }
            }
        }
        __syncthreads();
    }
    cp_async_wait<0>();
    flush_c<HSP>(dq + (size_t)b * d.bsq + (size_t)h * hs, d.ldq, i0 + warp * 16, d.Tq, hs, acc, d.scale, g, t);
}

/* ---- host side ------------------------------------------------------------------------------- */

template <int HSP>
static void tc_forward(float *out, bf16_t *out16, float *lse, const bf16_t *q, const bf16_t *k, const bf16_t *v,
                       const att_dims *d)
{
    static bool opted;
    const size_t smem = tc_fwd_smem<HSP>();
    dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
    opt_in_smem(attb_forward<HSP>, smem, &opted);
    attb_forward<HSP><<<grid, TC_THREADS, smem>>>(out, out16, lse, q, k, v, *d);
    SEQ_LAUNCHED();
}

extern "C" void cuda_attention_forward_bf16(real *out, bf16_t *out16, real *lse, const bf16_t *q, const bf16_t *k,
                                            const bf16_t *v, const att_dims *d)
{
    if (d->B == 0 || d->H == 0 || d->Tq == 0)
        return;
    switch (att_bucket(d, "cuda_attention_forward_bf16")) {
    case 16: tc_forward<16>(out, out16, lse, q, k, v, d); break;
    case 32: tc_forward<32>(out, out16, lse, q, k, v, d); break;
    case 64: tc_forward<64>(out, out16, lse, q, k, v, d); break;
    default: tc_forward<128>(out, out16, lse, q, k, v, d); break;
    }
}

/* The two backward kernels; G: float (gradients added into fp32 buffers) or bf16_t (stored). */
template <int HSP, typename G>
static void tc_backward(G *dq, G *dk, G *dv, const float *D, const bf16_t *dout, const bf16_t *q, const bf16_t *k,
                        const bf16_t *v, const float *lse, const att_dims *d)
{
    if ((dk || dv) && d->Tk > 0) {
        static bool opted;
        const size_t smem = tc_kv_smem<HSP>();
        float *parts = att_kv_parts(d);
        dim3 grid(tiles(d->Tk, ATT_BC), d->H, att_kv_grid_z(d));
        opt_in_smem(attb_backward_kv<HSP, G>, smem, &opted);
        attb_backward_kv<HSP, G><<<grid, TC_THREADS, smem>>>(dk, dv, dout, q, k, v, lse, D, parts, *d);
        SEQ_LAUNCHED();
        if (parts)   /* a shared table: fp32 gradients only (the caller of the bf16 form checks) */
            att_kv_parts_sum((float *)dk, (float *)dv, parts, d);
    }
    /* after the dK kernel on the same stream: dq may be dk's buffer */
    if (dq) {
        static bool opted;
        const size_t smem = tc_q_smem<HSP>();
        dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
        opt_in_smem(attb_backward_q<HSP, G>, smem, &opted);
        attb_backward_q<HSP, G><<<grid, TC_THREADS, smem>>>(dq, dout, q, k, v, lse, D, *d);
        SEQ_LAUNCHED();
    }
}

/* out NULL: D from the output's bf16 form, out16. */
template <typename G>
static void backward_bf16(G *dq, G *dk, G *dv, real *scratch, const bf16_t *dout, const bf16_t *q, const bf16_t *k,
                          const bf16_t *v, const real *out, const bf16_t *out16, const real *lse, const att_dims *d,
                          const char *who)
{
    if ((!dq && !dk && !dv) || d->B == 0 || d->H == 0 || d->Tq == 0)
        return;
    const int hsp = att_bucket(d, who);
    if (out)
        att_delta_run(scratch, dout, out, d);
    else
        att_delta_run(scratch, dout, out16, d);
    switch (hsp) {
    case 16: tc_backward<16, G>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    case 32: tc_backward<32, G>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    case 64: tc_backward<64, G>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    default: tc_backward<128, G>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    }
}

extern "C" void cuda_attention_backward_bf16(real *dq, real *dk, real *dv, real *scratch, const bf16_t *dout,
                                             const bf16_t *q, const bf16_t *k, const bf16_t *v, const real *out,
                                             const real *lse, const att_dims *d)
{
    backward_bf16<float>(dq, dk, dv, scratch, dout, q, k, v, out, NULL, lse, d, "cuda_attention_backward_bf16");
}

extern "C" void cuda_attention_backward_bf16_g16(bf16_t *dq, bf16_t *dk, bf16_t *dv, real *scratch, const bf16_t *dout,
                                                 const bf16_t *q, const bf16_t *k, const bf16_t *v, const real *out,
                                                 const bf16_t *out16, const real *lse, const att_dims *d)
{
    const char *who = "cuda_attention_backward_bf16_g16";
    /* each element written once, by one block: per-sequence keys and three distinct gradients */
    if (att_kv_shared(d) || (dq && (dq == dk || dq == dv)) || (dk && dk == dv))
        fatal("internal: %s needs per-sequence keys and distinct dq, dk, dv", who);
    backward_bf16<bf16_t>(dq, dk, dv, scratch, dout, q, k, v, out, out16, lse, d, who);
}
