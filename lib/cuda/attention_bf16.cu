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
 * slice: P (or dS) goes from one product into the next without touching shared memory. A B operand
 * is read as 32-bit pairs along k, so a matrix used as B with k along its rows is kept transposed in
 * shared memory (v in the forward, q and dout in dK/dV, k in dQ). Shared rows are padded by 8 bf16
 * (16 bytes): the 8 rows x 4 pairs a fragment load touches then fall in 32 different banks.
 *
 * Needs sm_80 or newer (bf16 mma); older targets compile a trap. */
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>

#include "cuda/attention_common.cuh"

typedef unsigned short bf16_t;

#define TC_THREADS 128
/* Blocks per multiprocessor the compiler must leave room for (register cap 65536 / (128 x this)):
 * 4 and 4 measured fastest (benchmarks/NOTES.md section 10, item 6); set at build time to compare. */
#ifndef TC_MIN_BLOCKS_FWD
#define TC_MIN_BLOCKS_FWD 4
#endif
#ifndef TC_MIN_BLOCKS_BWD
#define TC_MIN_BLOCKS_BWD 4
#endif
/* 1: a tile that is also stored transposed is read column group by column group (see load_bf16)
 * in the backward kernels too; 0: row by row there (measured faster with 4 blocks per SM, NOTES
 * section 10 item 5). The forward always reads its v column group by column group. */
#ifndef TC_TMAP_BWD
#define TC_TMAP_BWD 0
#endif
#define TC_LDT (ATT_BC + 8)   /* row length of a transposed [hs][64] tile */

__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();
#endif
}

/* Two floats as a bf16 pair, the first in the low half (the lower column index). */
__device__ __forceinline__ uint32_t pack2(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ uint32_t ld32(const bf16_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

/* A fragment of rows r0.., columns c0.. of a row-major tile with rows ld apart. */
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16_t *X, int ld, int r0, int c0, int g, int t)
{
    a[0] = ld32(X + (r0 + g) * ld + c0 + 2 * t);
    a[1] = ld32(X + (r0 + g + 8) * ld + c0 + 2 * t);
    a[2] = ld32(X + (r0 + g) * ld + c0 + 8 + 2 * t);
    a[3] = ld32(X + (r0 + g + 8) * ld + c0 + 8 + 2 * t);
}

/* c += A . Y^T[k0.., n0..n0+7] where Y holds B's columns as rows (Y[n][k]). */
__device__ __forceinline__ void mma_rows(float c[4], const uint32_t a[4], const bf16_t *Y, int ld, int n0, int k0,
                                         int g, int t)
{
    const bf16_t *y = Y + (n0 + g) * ld + k0 + 2 * t;
    mma_bf16(c, a, ld32(y), ld32(y + 8));
}

/* The A fragment of 16-column slice m of a C-fragment row block c[nt][4] (nt = 2m, 2m + 1). */
__device__ __forceinline__ void c_to_a(uint32_t a[4], const float c0[4], const float c1[4])
{
    a[0] = pack2(c0[0], c0[1]);
    a[1] = pack2(c0[2], c0[3]);
    a[2] = pack2(c1[0], c1[1]);
    a[3] = pack2(c1[2], c1[3]);
}

/* rows [r0, r0 + 64) of a head, hs columns (zeros past n rows or hs), into a [64][HSP + 8] tile and,
 * when Xt is set, transposed into Xt[HSP][TC_LDT]. When the rows allow it (hs and ld multiples of 8,
 * a 16-byte aligned start: the gpt's heads of 64 in a fused qkv) each thread moves 8 bf16 with one
 * 16-byte load; otherwise one element at a time. The test is uniform over the block. */
template <int HSP, bool TMAP = true>
__device__ __forceinline__ void load_bf16(bf16_t *X, bf16_t *Xt, const bf16_t *x, size_t ld, int n, int hs)
{
    if (hs % 8 == 0 && ld % 8 == 0 && ((uintptr_t)x & 15) == 0) {
        for (int e = threadIdx.x; e < 64 * HSP / 8; e += TC_THREADS) {
            /* Transposing, a warp takes 32 rows of one 8-column group: its 16-bit stores to Xt then
             * go to 32 neighbouring elements (no bank conflict) where 32 groups of one row would hit
             * one bank 8 times; the 16-byte reads of the rows' halves meet in L1. */
            const bool cols = TMAP && Xt;
            const int r = cols ? e % 64 : e / (HSP / 8), c = cols ? e / 64 * 8 : e % (HSP / 8) * 8;
            uint4 val = make_uint4(0, 0, 0, 0);
            if (r < n && c < hs)
                val = *reinterpret_cast<const uint4 *>(x + (size_t)r * ld + c);
            if (X)
                *reinterpret_cast<uint4 *>(X + r * (HSP + 8) + c) = val;
            if (Xt) {
                const bf16_t *p = reinterpret_cast<const bf16_t *>(&val);
#pragma unroll
                for (int j = 0; j < 8; j++)
                    Xt[(c + j) * TC_LDT + r] = p[j];
            }
        }
        return;
    }
    for (int e = threadIdx.x; e < 64 * HSP; e += TC_THREADS) {
        const int r = e / HSP, c = e % HSP;
        const bf16_t val = r < n && c < hs ? x[(size_t)r * ld + c] : (bf16_t)0;
        if (X)
            X[r * (HSP + 8) + c] = val;
        if (Xt)
            Xt[c * TC_LDT + r] = val;
    }
}

/* ---- forward -------------------------------------------------------------------------------- */

template <int HSP>
constexpr size_t tc_fwd_smem() { return (2 * 64 * (HSP + 8) + HSP * TC_LDT) * sizeof(bf16_t); }

template <int HSP>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS_FWD)
attb_forward(float *out, float *lse, const bf16_t *q, const bf16_t *k, const bf16_t *v, att_dims d)
{
    extern __shared__ uint4 sm_raw[];
    bf16_t *Qs = reinterpret_cast<bf16_t *>(sm_raw), *Ks = Qs + 64 * (HSP + 8), *Vt = Ks + 64 * (HSP + 8);
    const int LD = HSP + 8, warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const bf16_t *kb = k + (size_t)b * d.bsk + (size_t)h * hs, *vb = v + (size_t)b * d.bsv + (size_t)h * hs;

    load_bf16<HSP>(Qs, NULL, q + (size_t)b * d.bsq + (size_t)h * hs + (size_t)i0 * d.ldq, d.ldq, d.Tq - i0, hs);
    const int ri[2] = {i0 + warp * 16 + g, i0 + warp * 16 + g + 8};   /* this thread's two rows */
    int lo[2], hi[2];
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, o[HSP / 8][4];
    for (int r = 0; r < 2; r++)
        row_keys_or_none(d, ri[r], &lo[r], &hi[r]);
#pragma unroll
    for (int n = 0; n < HSP / 8; n++)
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    __syncthreads();
    uint32_t qa[HSP / 16][4];
#pragma unroll
    for (int ks = 0; ks < HSP / 16; ks++)
        frag_a(qa[ks], Qs, LD, warp * 16, ks * 16, g, t);

    int c0, c1;
    tile_keys(d, i0, &c0, &c1);
    for (int j0 = c0; j0 < c1; j0 += ATT_BC) {
        __syncthreads();
        load_bf16<HSP>(Ks, NULL, kb + (size_t)j0 * d.ldk, d.ldk, d.Tk - j0, hs);
        load_bf16<HSP>(NULL, Vt, vb + (size_t)j0 * d.ldv, d.ldv, d.Tk - j0, hs);
        __syncthreads();
        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < HSP / 16; ks++)
                mma_rows(s[nt], qa[ks], Ks, LD, nt * 8, ks * 16, g, t);
        }
        /* mask, scale, bias; then the online softmax of the thread's two rows (4 lanes a row) */
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = e >> 1, u = j0 + nt * 8 + 2 * t + (e & 1);
                s[nt][e] = u >= lo[r] && u < hi[r] ? logit(d, s[nt][e], slope, ri[r], u) : -INFINITY;
                mx[r] = fmaxf(mx[r], s[nt][e]);
            }
        float base[2], corr[2], sum[2] = {0.f, 0.f};
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float mnew = fmaxf(m[r], mx[r]);
            base[r] = mnew == -INFINITY ? 0.f : mnew;   /* no key yet: p = 0, nothing to rescale */
            corr[r] = expf(m[r] - base[r]);
            m[r] = mnew;
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[nt][e] = expf(s[nt][e] - base[e >> 1]);
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
            for (int n = 0; n < HSP / 8; n++)
                mma_rows(o[n], pa, Vt, TC_LDT, n * 8, mm * 16, g, t);
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (ri[r] >= d.Tq)
            continue;
        const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;   /* a row without keys outputs zero */
        float *ob = out + (size_t)b * d.bso + (size_t)ri[r] * d.ldo + (size_t)h * hs;
#pragma unroll
        for (int n = 0; n < HSP / 8; n++) {
            const int c = n * 8 + 2 * t;
            if (c < hs)
                ob[c] = o[n][2 * r] * inv;
            if (c + 1 < hs)
                ob[c + 1] = o[n][2 * r + 1] * inv;
        }
        if (lse && t == 0)
            lse[((size_t)b * d.H + h) * d.Tq + ri[r]] = l[r] > 0.f ? m[r] + logf(l[r]) : -INFINITY;
    }
}

/* ---- backward -------------------------------------------------------------------------------- */

/* dst[rows r0 + warp*16 + g (+8), head columns] += acc (C fragments), rows past n skipped. */
template <int HSP>
__device__ __forceinline__ void flush_c(float *dst, size_t ld, int r0, int n, int hs, float acc[HSP / 8][4], int g,
                                        int t)
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
                dst[(size_t)row * ld + c] += acc[nn][2 * r];
            if (c + 1 < hs)
                dst[(size_t)row * ld + c + 1] += acc[nn][2 * r + 1];
        }
    }
#pragma unroll
    for (int nn = 0; nn < HSP / 8; nn++)
        acc[nn][0] = acc[nn][1] = acc[nn][2] = acc[nn][3] = 0.f;
}

/* The backward's two products over 16 rows (from row0) and 32 columns (from col0), as C fragments:
 * s = X1 Y1^T and gp = X2 Y2^T, all four [64][HSP + 8] tiles (S and dP, or their transposes). */
template <int HSP>
__device__ __forceinline__ void two_products(float s[4][4], float gp[4][4], const bf16_t *X1, const bf16_t *Y1,
                                             const bf16_t *X2, const bf16_t *Y2, int row0, int col0, int g, int t)
{
#pragma unroll
    for (int nt = 0; nt < 4; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            s[nt][e] = gp[nt][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < HSP / 16; ks++) {
        uint32_t a1[4], a2[4];
        frag_a(a1, X1, HSP + 8, row0, ks * 16, g, t);
        frag_a(a2, X2, HSP + 8, row0, ks * 16, g, t);
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
            mma_rows(s[nt], a1, Y1, HSP + 8, col0 + nt * 8, ks * 16, g, t);
            mma_rows(gp[nt], a2, Y2, HSP + 8, col0 + nt * 8, ks * 16, g, t);
        }
    }
}

template <int HSP>
constexpr size_t tc_kv_smem()
{
    return (4 * 64 * (HSP + 8) + 2 * HSP * TC_LDT) * sizeof(bf16_t) + 4 * 64 * sizeof(float);
}

/* One block per (key tile, head, batch), or per (key tile, head) over the whole batch in order when
 * k or v is shared by it. Warp w owns keys w*16 .. w*16+15 of the tile: S^T = k q^T and
 * dP^T = v dout^T for 32 queries at a time (two halves of the query tile, to hold fewer registers),
 * then dV += P^T dout and dK += scale dS^T q. */
template <int HSP>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS_BWD)
attb_backward_kv(float *dk, float *dv, const bf16_t *dout, const bf16_t *q, const bf16_t *k, const bf16_t *v,
                 const float *lse, const float *D, float *parts, att_dims d)
{
    extern __shared__ uint4 sm_raw[];
    const int LD = HSP + 8;
    bf16_t *Ks = reinterpret_cast<bf16_t *>(sm_raw), *Vs = Ks + 64 * LD, *Qs = Vs + 64 * LD, *Os = Qs + 64 * LD;
    bf16_t *Qt = Os + 64 * LD, *Ot = Qt + HSP * TC_LDT;
    float *Ls = reinterpret_cast<float *>(Ot + HSP * TC_LDT), *Ds = Ls + 64;
    int *Lo = reinterpret_cast<int *>(Ds + 64), *Hi = Lo + 64;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int j0 = blockIdx.x * ATT_BC, h = blockIdx.y, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const int shared_k = d.bsk == 0 && d.B > 1, shared_v = d.bsv == 0 && d.B > 1;
    int b_first, b_end;
    att_kv_batches(d, shared_k || shared_v, &b_first, &b_end);
    const int u_row[2] = {j0 + warp * 16 + g, j0 + warp * 16 + g + 8};   /* this thread's two keys */

    float dK[HSP / 8][4], dV[HSP / 8][4];
#pragma unroll
    for (int n = 0; n < HSP / 8; n++)
        for (int e = 0; e < 4; e++)
            dK[n][e] = dV[n][e] = 0.f;

    for (int b = b_first; b < b_end; b++) {
        const bf16_t *qb = q + (size_t)b * d.bsq + (size_t)h * hs, *ob = dout + (size_t)b * d.bso + (size_t)h * hs;
        const float *lb = lse + ((size_t)b * d.H + h) * d.Tq, *db = D + ((size_t)b * d.H + h) * d.Tq;
        __syncthreads();
        load_bf16<HSP>(Ks, NULL, k + (size_t)b * d.bsk + (size_t)h * hs + (size_t)j0 * d.ldk, d.ldk, d.Tk - j0, hs);
        load_bf16<HSP>(Vs, NULL, v + (size_t)b * d.bsv + (size_t)h * hs + (size_t)j0 * d.ldv, d.ldv, d.Tk - j0, hs);
        for (int i0 = 0; i0 < d.Tq; i0 += ATT_BR) {
            int c0, c1;
            tile_keys(d, i0, &c0, &c1);
            if (c1 <= j0 || c0 >= j0 + ATT_BC || c1 <= c0)
                continue;   /* no row of this query tile sees these keys (uniform over the block) */
            __syncthreads();
            load_bf16<HSP, TC_TMAP_BWD>(Qs, Qt, qb + (size_t)i0 * d.ldq, d.ldq, d.Tq - i0, hs);
            load_bf16<HSP, TC_TMAP_BWD>(Os, Ot, ob + (size_t)i0 * d.ldo, d.ldo, d.Tq - i0, hs);
            if (threadIdx.x < 64) {
                const int i = i0 + threadIdx.x;
                Ls[threadIdx.x] = i < d.Tq ? lb[i] : 0.f;
                Ds[threadIdx.x] = i < d.Tq ? db[i] : 0.f;
                row_keys_or_none(d, i, &Lo[threadIdx.x], &Hi[threadIdx.x]);
            }
            __syncthreads();
#pragma unroll
            for (int half = 0; half < 2; half++) {
                float s[4][4], gp[4][4];
                two_products<HSP>(s, gp, Ks, Qs, Vs, Os, warp * 16, half * 32, g, t);
#pragma unroll
                for (int nt = 0; nt < 4; nt++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int qi = half * 32 + nt * 8 + 2 * t + (e & 1), u = u_row[e >> 1];
                        float p = 0.f;
                        if (u >= Lo[qi] && u < Hi[qi])
                            p = expf(logit(d, s[nt][e], slope, i0 + qi, u) - Ls[qi]);
                        s[nt][e] = p;
                        gp[nt][e] = d.scale * p * (gp[nt][e] - Ds[qi]);
                    }
#pragma unroll
                for (int mm = 0; mm < 2; mm++) {
                    uint32_t pa[4], sa[4];
                    c_to_a(pa, s[2 * mm], s[2 * mm + 1]);
                    c_to_a(sa, gp[2 * mm], gp[2 * mm + 1]);
#pragma unroll
                    for (int n = 0; n < HSP / 8; n++) {
                        mma_rows(dV[n], pa, Ot, TC_LDT, n * 8, half * 32 + mm * 16, g, t);
                        mma_rows(dK[n], sa, Qt, TC_LDT, n * 8, half * 32 + mm * 16, g, t);
                    }
                }
            }
        }
        if (dk && !shared_k)
            flush_c<HSP>(dk + (size_t)b * d.bsk + (size_t)h * hs, d.ldk, j0 + warp * 16, d.Tk, hs, dK, g, t);
        if (dv && !shared_v)
            flush_c<HSP>(dv + (size_t)b * d.bsv + (size_t)h * hs, d.ldv, j0 + warp * 16, d.Tk, hs, dV, g, t);
    }
    size_t ld;
    if (dk && shared_k) {
        float *part = att_kv_part(parts, d, 0, &ld);
        flush_c<HSP>(part + (size_t)h * hs, ld, j0 + warp * 16, d.Tk, hs, dK, g, t);
    }
    if (dv && shared_v) {
        float *part = att_kv_part(parts, d, 1, &ld);
        flush_c<HSP>(part + (size_t)h * hs, ld, j0 + warp * 16, d.Tk, hs, dV, g, t);
    }
}

template <int HSP>
constexpr size_t tc_q_smem() { return (4 * 64 * (HSP + 8) + HSP * TC_LDT) * sizeof(bf16_t); }

/* One block per (query tile, head, batch); warp w owns queries w*16 .. w*16+15:
 * dQ += scale dS k over the key tiles the rows see. */
template <int HSP>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS_BWD)
attb_backward_q(float *dq, const bf16_t *dout, const bf16_t *q, const bf16_t *k, const bf16_t *v,
                const float *lse, const float *D, att_dims d)
{
    extern __shared__ uint4 sm_raw[];
    const int LD = HSP + 8;
    bf16_t *Qs = reinterpret_cast<bf16_t *>(sm_raw), *Os = Qs + 64 * LD, *Ks = Os + 64 * LD, *Vs = Ks + 64 * LD;
    bf16_t *Kt = Vs + 64 * LD;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const bf16_t *kb = k + (size_t)b * d.bsk + (size_t)h * hs, *vb = v + (size_t)b * d.bsv + (size_t)h * hs;
    load_bf16<HSP>(Qs, NULL, q + (size_t)b * d.bsq + (size_t)h * hs + (size_t)i0 * d.ldq, d.ldq, d.Tq - i0, hs);
    load_bf16<HSP>(Os, NULL, dout + (size_t)b * d.bso + (size_t)h * hs + (size_t)i0 * d.ldo, d.ldo, d.Tq - i0, hs);
    const int ri[2] = {i0 + warp * 16 + g, i0 + warp * 16 + g + 8};
    int lo[2], hi[2];
    float L[2], Di[2], acc[HSP / 8][4];
    for (int r = 0; r < 2; r++) {
        row_keys_or_none(d, ri[r], &lo[r], &hi[r]);
        const size_t row = ((size_t)b * d.H + h) * d.Tq + ri[r];
        L[r] = ri[r] < d.Tq ? lse[row] : 0.f;
        Di[r] = ri[r] < d.Tq ? D[row] : 0.f;
    }
#pragma unroll
    for (int n = 0; n < HSP / 8; n++)
        acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    int c0, c1;
    tile_keys(d, i0, &c0, &c1);
    for (int j0 = c0; j0 < c1; j0 += ATT_BC) {
        __syncthreads();
        load_bf16<HSP, TC_TMAP_BWD>(Ks, Kt, kb + (size_t)j0 * d.ldk, d.ldk, d.Tk - j0, hs);
        load_bf16<HSP>(Vs, NULL, vb + (size_t)j0 * d.ldv, d.ldv, d.Tk - j0, hs);
        __syncthreads();
#pragma unroll
        for (int half = 0; half < 2; half++) {
            float s[4][4], gp[4][4];
            two_products<HSP>(s, gp, Qs, Ks, Os, Vs, warp * 16, half * 32, g, t);
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int r = e >> 1, u = j0 + half * 32 + nt * 8 + 2 * t + (e & 1);
                    float ds = 0.f;
                    if (u >= lo[r] && u < hi[r])
                        ds = d.scale * expf(logit(d, s[nt][e], slope, ri[r], u) - L[r]) * (gp[nt][e] - Di[r]);
                    s[nt][e] = ds;
                }
#pragma unroll
            for (int mm = 0; mm < 2; mm++) {
                uint32_t sa[4];
                c_to_a(sa, s[2 * mm], s[2 * mm + 1]);
#pragma unroll
                for (int n = 0; n < HSP / 8; n++)
                    mma_rows(acc[n], sa, Kt, TC_LDT, n * 8, half * 32 + mm * 16, g, t);
            }
        }
    }
    flush_c<HSP>(dq + (size_t)b * d.bsq + (size_t)h * hs, d.ldq, i0 + warp * 16, d.Tq, hs, acc, g, t);
}

/* ---- host side ------------------------------------------------------------------------------- */

template <int HSP>
static void tc_forward(float *out, float *lse, const bf16_t *q, const bf16_t *k, const bf16_t *v, const att_dims *d)
{
    static bool opted;
    const size_t smem = tc_fwd_smem<HSP>();
    dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
    opt_in_smem(attb_forward<HSP>, smem, &opted);
    attb_forward<HSP><<<grid, TC_THREADS, smem>>>(out, lse, q, k, v, *d);
    SEQ_LAUNCHED();
}

extern "C" void cuda_attention_forward_bf16(real *out, real *lse, const bf16_t *q, const bf16_t *k, const bf16_t *v,
                                            const att_dims *d)
{
    if (d->B == 0 || d->H == 0 || d->Tq == 0)
        return;
    switch (att_bucket(d, "cuda_attention_forward_bf16")) {
    case 16: tc_forward<16>(out, lse, q, k, v, d); break;
    case 32: tc_forward<32>(out, lse, q, k, v, d); break;
    case 64: tc_forward<64>(out, lse, q, k, v, d); break;
    default: tc_forward<128>(out, lse, q, k, v, d); break;
    }
}

template <int HSP>
static void tc_backward(float *dq, float *dk, float *dv, const float *D, const bf16_t *dout, const bf16_t *q,
                        const bf16_t *k, const bf16_t *v, const float *lse, const att_dims *d)
{
    if ((dk || dv) && d->Tk > 0) {
        static bool opted;
        const size_t smem = tc_kv_smem<HSP>();
        float *parts = att_kv_parts(d);
        dim3 grid(tiles(d->Tk, ATT_BC), d->H, att_kv_grid_z(d));
        opt_in_smem(attb_backward_kv<HSP>, smem, &opted);
        attb_backward_kv<HSP><<<grid, TC_THREADS, smem>>>(dk, dv, dout, q, k, v, lse, D, parts, *d);
        SEQ_LAUNCHED();
        att_kv_parts_sum(dk, dv, parts, d);
    }
    /* after the dK kernel on the same stream: dq may be dk's buffer */
    if (dq) {
        static bool opted;
        const size_t smem = tc_q_smem<HSP>();
        dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
        opt_in_smem(attb_backward_q<HSP>, smem, &opted);
        attb_backward_q<HSP><<<grid, TC_THREADS, smem>>>(dq, dout, q, k, v, lse, D, *d);
        SEQ_LAUNCHED();
    }
}

extern "C" void cuda_attention_backward_bf16(real *dq, real *dk, real *dv, real *scratch, const bf16_t *dout,
                                             const bf16_t *q, const bf16_t *k, const bf16_t *v, const real *out,
                                             const real *lse, const att_dims *d)
{
    if ((!dq && !dk && !dv) || d->B == 0 || d->H == 0 || d->Tq == 0)
        return;
    const int hsp = att_bucket(d, "cuda_attention_backward_bf16");
    att_delta_run(scratch, dout, out, d);
    switch (hsp) {
    case 16: tc_backward<16>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    case 32: tc_backward<32>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    case 64: tc_backward<64>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    default: tc_backward<128>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    }
}
