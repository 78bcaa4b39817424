/* Flash-style attention on the GPU (docs/gpu_kernels.md, "Attention"): the CUDA twin of
 * core/kernels_attention.c that never holds a Tq x Tk matrix in device memory.
 *
 * Every kernel works on 64 x 64 tiles of the logit matrix with 256 threads seen as 16 x 16: thread
 * (ty, tx) owns rows ty + 16a and columns tx + 16j (a, j < 4) of a tile, so one row's 16 owners are
 * the 16 lanes of one half-warp and a row reduction is four shuffles. Operand tiles sit in shared
 * memory with rows padded to an odd stride (HSP + 1) so that the 16 rows a half-warp reads in one
 * step fall in 16 different banks. The head size is a template parameter HSP (16, 32, 64 or 128,
 * the smallest that holds hs): columns past hs are loaded as zeros and change no dot product.
 *
 *   forward:  per query tile, an online softmax over the key tiles it may see; keeps the row's
 *             log-sum-exp (lse) for the backward pass.
 *   backward: D_i = dout_i . out_i (one warp a row); then one kernel per KEY tile that recomputes
 *             P from lse and adds dK and dV (no atomics: a block owns its key rows, and loops over
 *             the batch itself when k / v are shared); then one kernel per QUERY tile that adds dQ.
 *             Two kernels in turn on stream 0 also make dq and dk one buffer safe (q = k).
 *   probs:    the observer's path, writes P itself.
 *
 * Masks follow row_keys of the CPU kernel: every row's keys are one interval [lo, hi), so a tile
 * visits only key tiles that intersect the union of its rows' intervals. */
#include <math.h>
#include <stdint.h>

#include "cuda/attention_common.cuh"

/* rows [r0, r0 + 64) of a head into s[64][HSP + 1] (zeros past n rows or hs columns). fp32 rows
 * whose hs and ld are multiples of 4 from a 16-byte aligned start are read 4 floats a load (the odd
 * shared row length then takes them one by one); others, and bf16, one element at a time. */
__device__ __forceinline__ bool rows_vec4(const float *x, size_t ld, int hs)
{
    return hs % 4 == 0 && ld % 4 == 0 && ((uintptr_t)x & 15) == 0;
}

template <int HSP, typename E>
__device__ __forceinline__ void load_tile(float *s, const E *x, size_t ld, int r0, int n, int hs)
{
    if constexpr (sizeof(E) == sizeof(float)) {
        if (rows_vec4((const float *)x, ld, hs)) {
            for (int e = threadIdx.x; e < ATT_BR * HSP / 4; e += ATT_THREADS) {
                const int r = e / (HSP / 4), c = e % (HSP / 4) * 4;
                float4 val = make_float4(0.f, 0.f, 0.f, 0.f);
                if (r0 + r < n && c < hs)
                    val = *reinterpret_cast<const float4 *>((const float *)x + (size_t)(r0 + r) * ld + c);
                float *dst = s + r * (HSP + 1) + c;
                dst[0] = val.x, dst[1] = val.y, dst[2] = val.z, dst[3] = val.w;
            }
            return;
        }
    }
    for (int e = threadIdx.x; e < ATT_BR * HSP; e += ATT_THREADS) {
        int r = e / HSP, c = e % HSP;
        float val = 0.f;
        if (r0 + r < n && c < hs)
            val = ld_f(x + (size_t)(r0 + r) * ld + c);
        s[r * (HSP + 1) + c] = val;
    }
}

/* s[a][j] = sum_kk A[ty + 16a][kk] B[tx + 16j][kk] over HSP columns of two padded tiles. */
template <int HSP>
__device__ __forceinline__ void tile_dots(float s[4][4], const float *A, const float *Bm, int ty, int tx)
{
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            s[a][j] = 0.f;
#pragma unroll 8
    for (int kk = 0; kk < HSP; kk++) {
        float x[4], y[4];
#pragma unroll
        for (int a = 0; a < 4; a++)
            x[a] = A[(ty + 16 * a) * (HSP + 1) + kk];
#pragma unroll
        for (int j = 0; j < 4; j++)
            y[j] = Bm[(tx + 16 * j) * (HSP + 1) + kk];
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int j = 0; j < 4; j++)
                s[a][j] = fmaf(x[a], y[j], s[a][j]);
    }
}

/* acc[a][jj] += sum_kk P[ty + 16a][kk] X[kk][tx + 16jj] with P a [64][PS_LD] tile and X a padded
 * [64][HSP + 1] operand tile. */
template <int HSP>
__device__ __forceinline__ void tile_pv(float acc[4][HSP / 16], const float *P, const float *X, int ty, int tx)
{
#pragma unroll 4
    for (int kk = 0; kk < ATT_BC; kk++) {
        float p[4];
#pragma unroll
        for (int a = 0; a < 4; a++)
            p[a] = P[(ty + 16 * a) * PS_LD + kk];
#pragma unroll
        for (int jj = 0; jj < HSP / 16; jj++) {
            float x = X[kk * (HSP + 1) + tx + 16 * jj];
#pragma unroll
            for (int a = 0; a < 4; a++)
                acc[a][jj] = fmaf(p[a], x, acc[a][jj]);
        }
    }
}

/* Sum / max over the 16 lanes of a half-warp (one row's owners). */
__device__ __forceinline__ float half_sum(float x)
{
    for (int o = 8; o; o >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float half_max(float x)
{
    for (int o = 8; o; o >>= 1)
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

template <int HSP>
constexpr size_t fwd_smem() { return (3 * ATT_BR * (HSP + 1) + ATT_BR * PS_LD) * sizeof(float); }

/* ---- forward -------------------------------------------------------------------------------- */

template <int HSP, typename E>
__global__ void __launch_bounds__(ATT_THREADS)
att_forward(float *out, float *lse, const E *q, const E *k, const E *v, att_dims d)
{
    extern __shared__ float sm[];
    float *Qs = sm, *Ks = Qs + ATT_BR * (HSP + 1), *Vs = Ks + ATT_BC * (HSP + 1), *Ps = Vs + ATT_BC * (HSP + 1);
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const E *qb = q + (size_t)b * d.bsq + (size_t)h * hs;
    const E *kb = k + (size_t)b * d.bsk + (size_t)h * hs;
    const E *vb = v + (size_t)b * d.bsv + (size_t)h * hs;

    load_tile<HSP>(Qs, qb + (size_t)i0 * d.ldq, d.ldq, 0, d.Tq - i0, hs);
    int lo[4], hi[4];
    float m[4], l[4], o[4][HSP / 16];
#pragma unroll
    for (int a = 0; a < 4; a++) {
        row_keys_or_none(d, i0 + ty + 16 * a, &lo[a], &hi[a]);
        m[a] = -INFINITY;
        l[a] = 0.f;
#pragma unroll
        for (int jj = 0; jj < HSP / 16; jj++)
            o[a][jj] = 0.f;
    }
    int c0, c1;
    tile_keys(d, i0, &c0, &c1);
    for (int j0 = c0; j0 < c1; j0 += ATT_BC) {
        __syncthreads();   /* the last tile's readers are done */
        load_tile<HSP>(Ks, kb + (size_t)j0 * d.ldk, d.ldk, 0, d.Tk - j0, hs);
        load_tile<HSP>(Vs, vb + (size_t)j0 * d.ldv, d.ldv, 0, d.Tk - j0, hs);
        __syncthreads();
        float s[4][4];
        tile_dots<HSP>(s, Qs, Ks, ty, tx);
#pragma unroll
        for (int a = 0; a < 4; a++) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int u = j0 + tx + 16 * j;
                s[a][j] = u >= lo[a] && u < hi[a] ? logit(d, s[a][j], slope, i0 + ty + 16 * a, u) : -INFINITY;
                mx = fmaxf(mx, s[a][j]);
            }
            const float mnew = fmaxf(m[a], half_max(mx));
            /* exp(-inf - -inf) would be NaN: a row with no key yet keeps p = 0, nothing to rescale */
            const float base = mnew == -INFINITY ? 0.f : mnew;
            float sum = 0.f;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float p = expf(s[a][j] - base);   /* exp(-inf) = 0 for masked keys */
                Ps[(ty + 16 * a) * PS_LD + tx + 16 * j] = p;
                sum += p;
            }
            const float corr = expf(m[a] - base);
            l[a] = l[a] * corr + half_sum(sum);
            m[a] = mnew;
#pragma unroll
            for (int jj = 0; jj < HSP / 16; jj++)
                o[a][jj] *= corr;
        }
        __syncthreads();
        tile_pv<HSP>(o, Ps, Vs, ty, tx);
    }
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int i = i0 + ty + 16 * a;
        if (i >= d.Tq)
            continue;
        const float inv = l[a] > 0.f ? 1.f / l[a] : 0.f;   /* a row without keys outputs zero */
        float *ob = out + (size_t)b * d.bso + (size_t)i * d.ldo + (size_t)h * hs;
#pragma unroll
        for (int jj = 0; jj < HSP / 16; jj++) {
            int c = tx + 16 * jj;
            if (c < hs)
                ob[c] = o[a][jj] * inv;
        }
        if (lse && tx == 0)
            lse[((size_t)b * d.H + h) * d.Tq + i] = l[a] > 0.f ? m[a] + logf(l[a]) : -INFINITY;
    }
}

/* ---- probabilities (evaluation path) --------------------------------------------------------- */

template <int HSP>
__global__ void __launch_bounds__(ATT_THREADS)
att_probs(float *att, const float *q, const float *k, const float *lse, att_dims d)
{
    extern __shared__ float sm[];
    float *Qs = sm, *Ks = Qs + ATT_BR * (HSP + 1);
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    load_tile<HSP>(Qs, q + (size_t)b * d.bsq + (size_t)h * hs + (size_t)i0 * d.ldq, d.ldq, 0, d.Tq - i0, hs);
    int lo[4], hi[4];
    float L[4];
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int i = i0 + ty + 16 * a;
        row_keys_or_none(d, i, &lo[a], &hi[a]);
        L[a] = i < d.Tq ? lse[((size_t)b * d.H + h) * d.Tq + i] : 0.f;
    }
    for (int j0 = 0; j0 < d.Tk; j0 += ATT_BC) {
        __syncthreads();
        load_tile<HSP>(Ks, k + (size_t)b * d.bsk + (size_t)h * hs + (size_t)j0 * d.ldk, d.ldk, 0, d.Tk - j0, hs);
        __syncthreads();
        float s[4][4];
        tile_dots<HSP>(s, Qs, Ks, ty, tx);
#pragma unroll
        for (int a = 0; a < 4; a++) {
            const int i = i0 + ty + 16 * a;
            if (i >= d.Tq)
                continue;
            float *row = att + (((size_t)b * d.H + h) * d.Tq + i) * d.Tk;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int u = j0 + tx + 16 * j;
                if (u < d.Tk)
                    row[u] = u >= lo[a] && u < hi[a] ? expf(logit(d, s[a][j], slope, i, u) - L[a]) : 0.f;
            }
        }
    }
}

/* ---- backward -------------------------------------------------------------------------------- */

template <int HSP>
constexpr size_t dkv_smem() { return (4 * ATT_BR * (HSP + 1) + 2 * ATT_BC * PS_LD + 2 * ATT_BR) * sizeof(float); }

/* dst[rows r0.., head columns] += acc (rows owned as in tile_pv), rows past n skipped. */
template <int HSP>
__device__ __forceinline__ void flush_rows(float *dst, size_t ld, int r0, int n, int hs, float acc[4][HSP / 16],
                                           int ty, int tx)
{
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int r = r0 + ty + 16 * a;
        if (r >= n)
            continue;
#pragma unroll
        for (int jj = 0; jj < HSP / 16; jj++) {
            const int c = tx + 16 * jj;
            if (c < hs)
                dst[(size_t)r * ld + c] += acc[a][jj];
            acc[a][jj] = 0.f;
        }
    }
}

/* One block per (key tile, head, batch) — or per (key tile, head) looping over the batch in order
 * when k or v is shared by it. Tiles are transposed: rows are keys (ty + 16a), columns queries
 * (tx + 16j), so that P^T and dS^T land in shared memory in the layout dV += P^T dout and
 * dK += dS^T q read as tile_pv. */
template <int HSP, typename E>
__global__ void __launch_bounds__(ATT_THREADS)
att_backward_kv(float *dk, float *dv, const E *dout, const E *q, const E *k, const E *v, const float *lse,
                const float *D, float *parts, att_dims d)
{
    extern __shared__ float sm[];
    float *Ks = sm, *Vs = Ks + ATT_BC * (HSP + 1), *Qs = Vs + ATT_BC * (HSP + 1), *Os = Qs + ATT_BR * (HSP + 1);
    float *Pt = Os + ATT_BR * (HSP + 1), *St = Pt + ATT_BC * PS_LD, *Ls = St + ATT_BC * PS_LD, *Ds = Ls + ATT_BR;
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int j0 = blockIdx.x * ATT_BC, h = blockIdx.y, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const int shared_k = d.bsk == 0 && d.B > 1, shared_v = d.bsv == 0 && d.B > 1;
    int b_first, b_end;
    att_kv_batches(d, shared_k || shared_v, &b_first, &b_end);

    float dK[4][HSP / 16], dV[4][HSP / 16];
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int jj = 0; jj < HSP / 16; jj++)
            dK[a][jj] = dV[a][jj] = 0.f;

    for (int b = b_first; b < b_end; b++) {
        const E *kb = k + (size_t)b * d.bsk + (size_t)h * hs, *vb = v + (size_t)b * d.bsv + (size_t)h * hs;
        const E *qb = q + (size_t)b * d.bsq + (size_t)h * hs, *ob = dout + (size_t)b * d.bso + (size_t)h * hs;
        const float *lb = lse + ((size_t)b * d.H + h) * d.Tq, *db = D + ((size_t)b * d.H + h) * d.Tq;
        __syncthreads();
        load_tile<HSP>(Ks, kb + (size_t)j0 * d.ldk, d.ldk, 0, d.Tk - j0, hs);
        load_tile<HSP>(Vs, vb + (size_t)j0 * d.ldv, d.ldv, 0, d.Tk - j0, hs);
        for (int i0 = 0; i0 < d.Tq; i0 += ATT_BR) {
            int c0, c1;
            tile_keys(d, i0, &c0, &c1);
            if (c1 <= j0 || c0 >= j0 + ATT_BC || c1 <= c0)
                continue;   /* no row of this query tile sees these keys (uniform over the block) */
            __syncthreads();
            load_tile<HSP>(Qs, qb + (size_t)i0 * d.ldq, d.ldq, 0, d.Tq - i0, hs);
            load_tile<HSP>(Os, ob + (size_t)i0 * d.ldo, d.ldo, 0, d.Tq - i0, hs);
            if (threadIdx.x < ATT_BR) {
                const int i = i0 + threadIdx.x;
                Ls[threadIdx.x] = i < d.Tq ? lb[i] : 0.f;
                Ds[threadIdx.x] = i < d.Tq ? db[i] : 0.f;
            }
            __syncthreads();
            float s[4][4], g[4][4];
            tile_dots<HSP>(s, Ks, Qs, ty, tx);   /* s[a][j]: key ty + 16a, query tx + 16j */
            tile_dots<HSP>(g, Vs, Os, ty, tx);   /* dP^T */
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int qi = tx + 16 * j, i = i0 + qi;
                int lo, hi;
                row_keys_or_none(d, i, &lo, &hi);
#pragma unroll
                for (int a = 0; a < 4; a++) {
                    const int u = j0 + ty + 16 * a;
                    float p = 0.f;
                    if (u >= lo && u < hi)
                        p = expf(logit(d, s[a][j], slope, i, u) - Ls[qi]);
                    Pt[(ty + 16 * a) * PS_LD + qi] = p;
                    St[(ty + 16 * a) * PS_LD + qi] = d.scale * p * (g[a][j] - Ds[qi]);
                }
            }
            __syncthreads();
            tile_pv<HSP>(dV, Pt, Os, ty, tx);
            tile_pv<HSP>(dK, St, Qs, ty, tx);
        }
        if (dk && !shared_k)
            flush_rows<HSP>(dk + (size_t)b * d.bsk + (size_t)h * hs, d.ldk, j0, d.Tk, hs, dK, ty, tx);
        if (dv && !shared_v)
            flush_rows<HSP>(dv + (size_t)b * d.bsv + (size_t)h * hs, d.ldv, j0, d.Tk, hs, dV, ty, tx);
    }
    size_t ld;
    if (dk && shared_k) {
        float *part = att_kv_part(parts, d, 0, &ld);
        flush_rows<HSP>(part + (size_t)h * hs, ld, j0, d.Tk, hs, dK, ty, tx);
    }
    if (dv && shared_v) {
        float *part = att_kv_part(parts, d, 1, &ld);
        flush_rows<HSP>(part + (size_t)h * hs, ld, j0, d.Tk, hs, dV, ty, tx);
    }
}

template <int HSP>
constexpr size_t dq_smem() { return (4 * ATT_BR * (HSP + 1) + ATT_BR * PS_LD) * sizeof(float); }

/* One block per (query tile, head, batch): dq_i += scale sum_u dS_iu k_u over the key tiles the rows
 * see, dS recomputed as in att_backward_kv. */
template <int HSP, typename E>
__global__ void __launch_bounds__(ATT_THREADS)
att_backward_q(float *dq, const E *dout, const E *q, const E *k, const E *v, const float *lse, const float *D,
               att_dims d)
{
    extern __shared__ float sm[];
    float *Qs = sm, *Os = Qs + ATT_BR * (HSP + 1), *Ks = Os + ATT_BR * (HSP + 1), *Vs = Ks + ATT_BC * (HSP + 1);
    float *Ss = Vs + ATT_BC * (HSP + 1);
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int i0 = blockIdx.x * ATT_BR, h = blockIdx.y, b = blockIdx.z, hs = d.hs;
    const float slope = d.alibi ? d.alibi[h] : 0.f;
    const E *kb = k + (size_t)b * d.bsk + (size_t)h * hs, *vb = v + (size_t)b * d.bsv + (size_t)h * hs;
    load_tile<HSP>(Qs, q + (size_t)b * d.bsq + (size_t)h * hs + (size_t)i0 * d.ldq, d.ldq, 0, d.Tq - i0, hs);
    load_tile<HSP>(Os, dout + (size_t)b * d.bso + (size_t)h * hs + (size_t)i0 * d.ldo, d.ldo, 0, d.Tq - i0, hs);
    int lo[4], hi[4];
    float L[4], Di[4], acc[4][HSP / 16];
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int i = i0 + ty + 16 * a;
        row_keys_or_none(d, i, &lo[a], &hi[a]);
        const size_t r = ((size_t)b * d.H + h) * d.Tq + i;
        L[a] = i < d.Tq ? lse[r] : 0.f;
        Di[a] = i < d.Tq ? D[r] : 0.f;
#pragma unroll
        for (int jj = 0; jj < HSP / 16; jj++)
            acc[a][jj] = 0.f;
    }
    int c0, c1;
    tile_keys(d, i0, &c0, &c1);
    for (int j0 = c0; j0 < c1; j0 += ATT_BC) {
        __syncthreads();
        load_tile<HSP>(Ks, kb + (size_t)j0 * d.ldk, d.ldk, 0, d.Tk - j0, hs);
        load_tile<HSP>(Vs, vb + (size_t)j0 * d.ldv, d.ldv, 0, d.Tk - j0, hs);
        __syncthreads();
        float s[4][4], g[4][4];
        tile_dots<HSP>(s, Qs, Ks, ty, tx);
        tile_dots<HSP>(g, Os, Vs, ty, tx);
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int u = j0 + tx + 16 * j, i = i0 + ty + 16 * a;
                float ds = 0.f;
                if (u >= lo[a] && u < hi[a])
                    ds = d.scale * expf(logit(d, s[a][j], slope, i, u) - L[a]) * (g[a][j] - Di[a]);
                Ss[(ty + 16 * a) * PS_LD + tx + 16 * j] = ds;
            }
        __syncthreads();
        tile_pv<HSP>(acc, Ss, Ks, ty, tx);
    }
    flush_rows<HSP>(dq + (size_t)b * d.bsq + (size_t)h * hs, d.ldq, i0, d.Tq, hs, acc, ty, tx);
}

/* ---- host side ------------------------------------------------------------------------------- */

template <int HSP, typename E>
static void forward_hsp(float *out, float *lse, const E *q, const E *k, const E *v, const att_dims *d)
{
    static bool opted;
    const size_t smem = fwd_smem<HSP>();
    dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
    opt_in_smem(att_forward<HSP, E>, smem, &opted);
    att_forward<HSP, E><<<grid, ATT_THREADS, smem>>>(out, lse, q, k, v, *d);
    SEQ_LAUNCHED();
}

template <typename E>
static void forward_any(float *out, float *lse, const E *q, const E *k, const E *v, const att_dims *d,
                        const char *who)
{
    if (d->B == 0 || d->H == 0 || d->Tq == 0)
        return;
    switch (att_bucket(d, who)) {
    case 16: forward_hsp<16>(out, lse, q, k, v, d); break;
    case 32: forward_hsp<32>(out, lse, q, k, v, d); break;
    case 64: forward_hsp<64>(out, lse, q, k, v, d); break;
    default: forward_hsp<128>(out, lse, q, k, v, d); break;
    }
}

extern "C" void cuda_attention_forward(real *out, real *lse, const real *q, const real *k, const real *v,
                                       const att_dims *d)
{
    forward_any(out, lse, q, k, v, d, "cuda_attention_forward");
}


template <int HSP>
static void probs_hsp(float *att, const float *q, const float *k, const float *lse, const att_dims *d)
{
    static bool opted;
    const size_t smem = 2 * ATT_BR * (HSP + 1) * sizeof(float);
    dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
    opt_in_smem(att_probs<HSP>, smem, &opted);
    att_probs<HSP><<<grid, ATT_THREADS, smem>>>(att, q, k, lse, *d);
    SEQ_LAUNCHED();
}

extern "C" void cuda_attention_probs(real *att, const real *q, const real *k, const real *lse, const att_dims *d)
{
    if (d->B == 0 || d->H == 0 || d->Tq == 0 || d->Tk == 0)
        return;
    switch (att_bucket(d, "cuda_attention_probs")) {
    case 16: probs_hsp<16>(att, q, k, lse, d); break;
    case 32: probs_hsp<32>(att, q, k, lse, d); break;
    case 64: probs_hsp<64>(att, q, k, lse, d); break;
    default: probs_hsp<128>(att, q, k, lse, d); break;
    }
}

extern "C" size_t cuda_attention_scratch_size(const att_dims *d) { return (size_t)d->B * d->H * d->Tq; }

template <int HSP, typename E>
static void backward_hsp(float *dq, float *dk, float *dv, const float *D, const E *dout, const E *q,
                         const E *k, const E *v, const float *lse, const att_dims *d)
{
    if ((dk || dv) && d->Tk > 0) {
        static bool opted;
        const size_t smem = dkv_smem<HSP>();
        float *parts = att_kv_parts(d);
        dim3 grid(tiles(d->Tk, ATT_BC), d->H, att_kv_grid_z(d));
        opt_in_smem(att_backward_kv<HSP, E>, smem, &opted);
        att_backward_kv<HSP, E><<<grid, ATT_THREADS, smem>>>(dk, dv, dout, q, k, v, lse, D, parts, *d);
        SEQ_LAUNCHED();
        att_kv_parts_sum(dk, dv, parts, d);
    }
    /* after the dK kernel on the same stream: dq may be dk's buffer */
    if (dq) {
        static bool opted;
        const size_t smem = dq_smem<HSP>();
        dim3 grid(tiles(d->Tq, ATT_BR), d->H, d->B);
        opt_in_smem(att_backward_q<HSP, E>, smem, &opted);
        att_backward_q<HSP, E><<<grid, ATT_THREADS, smem>>>(dq, dout, q, k, v, lse, D, *d);
        SEQ_LAUNCHED();
    }
}

template <typename E>
static void backward_any(float *dq, float *dk, float *dv, float *scratch, const E *dout, const E *q,
                         const E *k, const E *v, const float *out, const float *lse, const att_dims *d,
                         const char *who)
{
    if ((!dq && !dk && !dv) || d->B == 0 || d->H == 0 || d->Tq == 0)
        return;
    const int hsp = att_bucket(d, who);
    att_delta_run(scratch, dout, out, d);
    switch (hsp) {
    case 16: backward_hsp<16>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    case 32: backward_hsp<32>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    case 64: backward_hsp<64>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    default: backward_hsp<128>(dq, dk, dv, scratch, dout, q, k, v, lse, d); break;
    }
}

extern "C" void cuda_attention_backward(real *dq, real *dk, real *dv, real *scratch, const real *dout,
                                        const real *q, const real *k, const real *v, const real *out,
                                        const real *lse, const att_dims *d)
{
    backward_any(dq, dk, dv, scratch, dout, q, k, v, out, lse, d, "cuda_attention_backward");
}

