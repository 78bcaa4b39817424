/* The CUDA twins of the time-mixing kernels (core/kernels_time.c: leaky average, look-ahead mix),
 * RoPE (core/kernels_rope.c) and the row kernels rownorm and exp_scale (core/kernels_norm.c).
 * docs/gpu_kernels.md, "Sequence kernels", explains each.
 *
 * Per-head parameter gradients (dtheta, dc, dp) are sums over millions of terms: each is reduced in
 * two fixed stages (blocks write double partials, then one thread a head adds them in order), never
 * with atomics, so the bits do not depend on scheduling. Temporaries come from the stream-ordered
 * allocator on stream 0 (cudaMallocAsync), which recycles them without a device synchronisation. */
#include <math.h>

#include "cuda/launch.cuh"
#include "cuda/seq_common.cuh"

extern "C" {
#include "cuda/kernels_seq_cuda.h"
}

#define SEQ_THREADS 256
/* Blocks per head of a stage-1 reduction: enough to fill the card for a dozen heads. */
#define RED_CHUNKS 64

static unsigned blocks_for(size_t n) { return (unsigned)((n + SEQ_THREADS - 1) / SEQ_THREADS); }

static void *tmp_alloc(size_t bytes)
{
    /* The pool keeps what is freed: by default (a release threshold of 0) it hands its memory back
     * at every synchronisation, and the next step maps it again. */
    static bool kept;   /* set once: a process opens one device (cuda_ctx_open) */
    if (!kept) {
        int dev = 0;
        cudaMemPool_t pool;
        uint64_t all = ~(uint64_t)0;   /* cuuint64_t */
        SEQ_CHECK(cudaGetDevice(&dev));
        SEQ_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
        SEQ_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &all));
        kept = true;
    }
    void *p = NULL;
    SEQ_CHECK(cudaMallocAsync(&p, bytes ? bytes : 1, 0));
    return p;
}
static void tmp_free(void *p) { SEQ_CHECK(cudaFreeAsync(p, 0)); }

/* Sum of a block's values (blockDim.x = SEQ_THREADS); the result is valid in thread 0. */
__device__ double block_sum(double x)
{
    __shared__ double warp_part[SEQ_THREADS / 32];
    for (int o = 16; o; o >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, o);
    if ((threadIdx.x & 31) == 0)
        warp_part[threadIdx.x / 32] = x;
    __syncthreads();
    double s = 0;
    if (threadIdx.x == 0)
        for (int w = 0; w < SEQ_THREADS / 32; w++)
            s += warp_part[w];
    return s;
}

/* What multiplies a head's summed partials before it is added to its gradient. */
enum head_factor { FACTOR_ONE, FACTOR_LEAK, FACTOR_EXP_CAP };

/* Stage 2: dst[h] += factor(h) * sum of part[h * n .. h * n + n - 1], in order. */
__global__ void head_finish(float *dst, const double *part, int n, const float *param, int H, int kind, float cap)
{
    const int h = blockIdx.x * blockDim.x + threadIdx.x;
    if (h >= H)
        return;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += part[(size_t)h * n + i];
    double f = 1;
    if (kind == FACTOR_LEAK) {   /* d a / d theta = -a sign(theta); sign(0) = 0 */
        const float th = param[h];
        f = -(double)expf(-fabsf(th)) * (double)((th > 0) - (th < 0));
    } else if (kind == FACTOR_EXP_CAP) {   /* above the cap the scale is constant */
        f = param[h] < cap ? (double)expf(fminf(param[h], cap)) : 0.0;
    }
    dst[h] += (float)(s * f);
}

/* Stage 1b: block (h, chunk) adds its stripe of head h's n values, element i of head h at
 * src[h * sh + i * si], in double and in a fixed order, into out[h * RED_CHUNKS + chunk]. For a long
 * list of partials (the leaky average's B hs a head: sh n, si 1; one thread a head adding thousands
 * waited on each load in turn, benchmarks/NOTES.md §23) and for per-row dots (rows of G groups:
 * sh 1, si G). */
template <typename T>
__global__ void stripe_sums(double *out, const T *src, long n, size_t sh, size_t si)
{
    const int h = blockIdx.x;
    const long per = (n + RED_CHUNKS - 1) / RED_CHUNKS, i0 = blockIdx.y * per, i1 = i0 + per < n ? i0 + per : n;
    double acc = 0;
    for (long i = i0 + threadIdx.x; i < i1; i += blockDim.x)
        acc += (double)src[(size_t)h * sh + (size_t)i * si];
    const double s = block_sum(acc);
    if (threadIdx.x == 0)
        out[(size_t)h * RED_CHUNKS + blockIdx.y] = s;
}

static void finish(float *dst, const double *part, long n, const float *param, int H, int kind, float cap)
{
    if (n <= RED_CHUNKS) {
        head_finish<<<(H + 127) / 128, 128>>>(dst, part, (int)n, param, H, kind, cap);
        SEQ_LAUNCHED();
        return;
    }
    double *sums = (double *)tmp_alloc((size_t)H * RED_CHUNKS * sizeof(double));
    stripe_sums<double><<<dim3(H, RED_CHUNKS), SEQ_THREADS>>>(sums, part, n, (size_t)n, 1);
    SEQ_LAUNCHED();
    head_finish<<<(H + 127) / 128, 128>>>(dst, sums, RED_CHUNKS, param, H, kind, cap);
    SEQ_LAUNCHED();
    tmp_free(sums);
}

/* ---- leaky average ---------------------------------------------------------------------------- */

/* One thread per (batch, channel), a sequential scan over t; consecutive threads are consecutive
 * channels, so every step's loads coalesce. The loads of UNROLL steps are issued before their
 * dependent multiply-adds, to keep several in flight. */
#define UNROLL 8

__global__ void leaky_fwd(float *out, const float *inp, const float *theta, int B, int T, int H, int hs)
{
    const int C = H * hs;
    const long id = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long)B * C)
        return;
    const int b = (int)(id / C), c = (int)(id % C);
    const float a = expf(-fabsf(theta[c / hs]));
    const float *x = inp + (size_t)b * T * C + c;
    float *y = out + (size_t)b * T * C + c;
    float prev = 0.f;
    int t = 0;
    for (; t + UNROLL <= T; t += UNROLL) {
        float xs[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
            xs[u] = x[(size_t)(t + u) * C];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            prev = t + u == 0 ? xs[u] : fmaf(a, prev, xs[u]);
            y[(size_t)(t + u) * C] = prev;
        }
    }
    for (; t < T; t++) {
        prev = t == 0 ? x[0] : fmaf(a, prev, x[(size_t)t * C]);
        y[(size_t)t * C] = prev;
    }
}

/* Reverse scan g_t = dout_t + a g_{t+1}; dinp_t += g_t (= when store: a gradient written first, its
 * old contents never read); the thread's part of da is
 * sum_t g_t out_{t-1}, stored at part[h][b * hs + j] for head_finish. As in the forward, the loads
 * of UNROLL steps (dout, out and dinp) are issued together before the dependent arithmetic: the
 * compiler may not move a load above the previous step's store to dinp by itself (the buffers
 * could alias, as far as it knows), which left one memory latency per step: 7x the forward's time
 * before, 2.8x after (benchmarks/NOTES.md section 10). The callers' dinp never aliases dout or out. */
__global__ void leaky_bwd(float *__restrict__ dinp, double *part, const float *__restrict__ dout,
                          const float *__restrict__ out, const float *theta, int B, int T, int H, int hs, int store)
{
    const int C = H * hs;
    const long id = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long)B * C)
        return;
    const int b = (int)(id / C), c = (int)(id % C), h = c / hs, j = c % hs;
    const float a = expf(-fabsf(theta[h]));
    const size_t base = (size_t)b * T * C + c;
    float g = 0.f;
    double acc = 0;
    int t = T - 1;
    for (; t + 1 >= UNROLL; t -= UNROLL) {   /* steps t, t-1, ..., t-UNROLL+1 */
        float dy[UNROLL], yp[UNROLL], dx[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int s = t - u;
            dy[u] = dout[base + (size_t)s * C];
            yp[u] = s > 0 ? out[base + (size_t)(s - 1) * C] : 0.f;
            dx[u] = dinp && !store ? dinp[base + (size_t)s * C] : 0.f;
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            g = fmaf(a, g, dy[u]);
            if (dinp)
                dinp[base + (size_t)(t - u) * C] = dx[u] + g;
            acc += (double)g * yp[u];
        }
    }
    for (; t >= 0; t--) {
        const float dy = dout[base + (size_t)t * C];
        const float yp = t > 0 ? out[base + (size_t)(t - 1) * C] : 0.f;
        g = fmaf(a, g, dy);
        if (dinp)
            dinp[base + (size_t)t * C] = store ? g : dinp[base + (size_t)t * C] + g;
        acc += (double)g * yp;
    }
    if (part)
        part[(size_t)h * B * hs + (size_t)b * hs + j] = acc;
}

extern "C" void cuda_leaky_avg_forward(real *out, const real *inp, const real *theta, int B, int T, int H, int hs)
{
    const size_t n = (size_t)B * H * hs;
    if (n == 0 || T == 0)
        return;
    leaky_fwd<<<blocks_for(n), SEQ_THREADS>>>(out, inp, theta, B, T, H, hs);
    SEQ_LAUNCHED();
}

extern "C" void cuda_leaky_avg_backward(real *dinp, real *dtheta, const real *dout, const real *out,
                                        const real *theta, int B, int T, int H, int hs, int store)
{
    const size_t n = (size_t)B * H * hs;
    if ((!dinp && !dtheta) || n == 0 || T == 0)
        return;
    double *part = dtheta ? (double *)tmp_alloc(n * sizeof(double)) : NULL;
    leaky_bwd<<<blocks_for(n), SEQ_THREADS>>>(dinp, part, dout, out, theta, B, T, H, hs, store);
    SEQ_LAUNCHED();
    if (dtheta) {
        finish(dtheta, part, B * hs, theta, H, FACTOR_LEAK, 0.f);
        tmp_free(part);
    }
}

/* Grid-stride launches: at most this many blocks, each thread then loops. */
static unsigned grid_for(size_t n)
{
    const unsigned b = blocks_for(n);
    return b < 4096 ? (b ? b : 1) : 4096;
}

/* ---- RoPE ------------------------------------------------------------------------------------- */

/* cs[(t * half + i) * 2] = cos, + 1 = sin of (pos0 + t) ROPE_BASE^(-2i/hs), in double as the CPU's
 * table, then rounded. */
__global__ void rope_table(float *cs, int T, int hs, int pos0)
{
    const int half = hs / 2;
    const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long)T * half)
        return;
    const int t = (int)(e / half), i = (int)(e % half);
    const double a = (double)(pos0 + t) * pow(ROPE_BASE, -2.0 * i / hs);
    cs[2 * e] = (float)cos(a);
    cs[2 * e + 1] = (float)sin(a);
}

/* One thread per pair (row, head, i): turn by dir * angle; acc adds into out (the backward). */
__global__ void rope_apply(float *out, const float *inp, const float *cs, int B, int T, int H, int hs, float dir,
                           int acc)
{
    const int half = hs / 2, C = H * hs;
    const size_t n = (size_t)B * T * H * half;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(e % half), h = (int)(e / half % H);
        const size_t r = e / half / H;
        const int t = (int)(r % T);
        const float c = cs[((size_t)t * half + i) * 2], s = dir * cs[((size_t)t * half + i) * 2 + 1];
        const size_t ia = r * C + (size_t)h * hs + i, ib = ia + half;
        const float xa = inp[ia], xb = inp[ib];
        const float ya = c * xa - s * xb, yb = s * xa + c * xb;
        if (acc) {
            out[ia] += ya;
            out[ib] += yb;
        } else {
            out[ia] = ya;
            out[ib] = yb;
        }
    }
}

static void rope_run(float *out, const float *inp, int B, int T, int H, int hs, int pos0, float dir, int acc)
{
    const int half = hs / 2;
    const size_t pairs = (size_t)B * T * H * half;
    if (pairs == 0)
        return;
    float *cs = (float *)tmp_alloc((size_t)T * half * 2 * sizeof(float));
    rope_table<<<blocks_for((size_t)T * half), SEQ_THREADS>>>(cs, T, hs, pos0);
    SEQ_LAUNCHED();
    rope_apply<<<grid_for(pairs), SEQ_THREADS>>>(out, inp, cs, B, T, H, hs, dir, acc);
    SEQ_LAUNCHED();
    tmp_free(cs);
}

extern "C" void cuda_rope_forward(real *out, const real *inp, int B, int T, int H, int hs, int pos0)
{
    rope_run(out, inp, B, T, H, hs, pos0, 1.f, 0);
}

extern "C" void cuda_rope_backward(real *dinp, const real *dout, int B, int T, int H, int hs, int pos0)
{
    if (dinp)
        rope_run(dinp, dout, B, T, H, hs, pos0, -1.f, 1);
}

/* ---- the row kernels: exp_scale, rownorm, the two fused, the look-ahead mix --------------------- */

/* Rows of D floats (rows r of N G, row r in group r % G) are read as D / VW vectors of VW floats
 * (VW 4, float4 loads, when D % 4 == 0; else VW 1), L lanes a row (the power of two at or above
 * D / VW, at most 32: L 16 at the mosaic's D 64, two rows a warp), lane j taking vectors j, j + L, ...
 * A warp moves 512 bytes a row pair with one load per lane where a warp a row with scalar loads
 * moved 256 bytes with two (benchmarks/NOTES.md §23). Groups of L lanes reduce with xor shuffles
 * inside the group; every lane of the warp runs them (a group past the last row is idle, not gone). */
template <int VW> struct rowvec;
template <> struct rowvec<1> {
    float v[1];
    __device__ void load(const float *p) { v[0] = *p; }
    __device__ void store(float *p) const { *p = v[0]; }
};
template <> struct rowvec<4> {
    float v[4];
    __device__ void load(const float *p)
    {
        const float4 t = *(const float4 *)p;
        v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
    }
    __device__ void store(float *p) const { *(float4 *)p = make_float4(v[0], v[1], v[2], v[3]); }
};

template <int L> __device__ __forceinline__ float group_sum(float v)
{
    for (int o = L / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Writes v at p, or adds it to what p holds (store 0: a gradient that already has a value; store 1:
 * written first, its old contents never read). */
template <int VW> __device__ __forceinline__ void store_or_add(float *p, rowvec<VW> v, int store)
{
    if (!store) {
        rowvec<VW> o;
        o.load(p);
        for (int k = 0; k < VW; k++)
            v.v[k] += o.v[k];
    }
    v.store(p);
}

#define ROW_BLOCK 256

/* The row of this thread's group, and the lane's place in it. */
template <int L> __device__ __forceinline__ long row_of(int *j)
{
    *j = threadIdx.x & (L - 1);
    return ((long)blockIdx.x * ROW_BLOCK + threadIdx.x) / L;
}

/* exp_scale's forward: y = e^min(p, cap) x. */
template <int VW, int L>
__global__ void exp_scale_apply(float *out, const float *inp, const float *p, long rows, int G, int D, float cap)
{
    int j;
    const long r = row_of<L>(&j);
    if (r >= rows)   /* no shuffles here: a group may leave */
        return;
    const float s = expf(fminf(p[r % G], cap));
    const float *x = inp + (size_t)r * D;
    float *y = out + (size_t)r * D;
    for (int i = j * VW; i < D; i += L * VW) {
        rowvec<VW> a;
        a.load(x + i);
        for (int k = 0; k < VW; k++)
            a.v[k] *= s;
        a.store(y + i);
    }
}

/* exp_scale's backward in one pass: dinp = s dout (stored or added) and rowdot[r] = dout . inp, the
 * row's share of dp (summed per group by stripe_sums). */
template <int VW, int L>
__global__ void exp_scale_bwd(float *dinp, float *rowdot, const float *dout, const float *inp, const float *p,
                              long rows, int G, int D, float cap, int store)
{
    int j;
    const long r = row_of<L>(&j);
    const bool live = r < rows;
    const long rr = live ? r : 0;
    const float s = expf(fminf(p[rr % G], cap));
    const float *dy = dout + (size_t)rr * D, *x = inp + (size_t)rr * D;
    float c = 0.f;
    for (int i = j * VW; live && i < D; i += L * VW) {
        rowvec<VW> g, a, o;
        g.load(dy + i);
        if (rowdot) {
            a.load(x + i);
            for (int k = 0; k < VW; k++)
                c += g.v[k] * a.v[k];
        }
        if (dinp) {   /* o + s g as one expression: the multiply-add the accumulating path has always run */
            float *dx = dinp + (size_t)r * D + i;
            if (!store)
                o.load(dx);
            for (int k = 0; k < VW; k++)
                o.v[k] = store ? s * g.v[k] : o.v[k] + s * g.v[k];
            o.store(dx);
        }
    }
    if (rowdot) {
        c = group_sum<L>(c);
        if (live && j == 0)
            rowdot[r] = c;
    }
}

/* rownorm with exp_scale (or without: p NULL, scale 1, the same bits as a normalisation by itself). */
template <int VW, int L>
__global__ void rownorm_scale_fwd(float *out, float *norm, const float *inp, const float *p, long rows, int G, int D,
                                  float eps, float cap)
{
    int j;
    const long r = row_of<L>(&j);
    const bool live = r < rows;
    const float *x = inp + (size_t)(live ? r : 0) * D;
    float ss = 0.f;
    for (int i = j * VW; live && i < D; i += L * VW) {
        rowvec<VW> a;
        a.load(x + i);
        for (int k = 0; k < VW; k++)
            ss += a.v[k] * a.v[k];
    }
    const float nrm = sqrtf(group_sum<L>(ss)), den = nrm > eps ? nrm : eps;
    if (!live)
        return;
    const float s = p ? expf(fminf(p[r % G], cap)) : 1.f;
    for (int i = j * VW; i < D; i += L * VW) {
        rowvec<VW> a;
        a.load(x + i);   /* the row again, from L1 */
        for (int k = 0; k < VW; k++)
            a.v[k] = s * (a.v[k] / den);   /* rownorm's rounding, then exp_scale's */
        a.store(out + (size_t)r * D + i);
    }
    if (j == 0)
        norm[r] = nrm;
}

/* dx = (dy - u c) / (||x|| / s) with u = y / s and c = u . dy (dy / (eps / s) below eps), and
 * rowdot[r] = c when p wants a gradient (the CPU kernel's comment has the algebra). */
template <int VW, int L>
__global__ void rownorm_scale_bwd(float *dinp, float *rowdot, const float *dout, const float *out, const float *norm,
                                  const float *p, long rows, int G, int D, float eps, float cap, int store)
{
    int j;
    const long r = row_of<L>(&j);
    const bool live = r < rows;
    const long rr = live ? r : 0;
    const float *y = out + (size_t)rr * D, *dy = dout + (size_t)rr * D;
    const float s = p ? expf(fminf(p[rr % G], cap)) : 1.f, inv = s > 0.f ? 1.f / s : 0.f, nrm = norm[rr];
    float c = 0.f;
    for (int i = j * VW; live && i < D; i += L * VW) {
        rowvec<VW> a, g;
        a.load(y + i);
        g.load(dy + i);
        for (int k = 0; k < VW; k++)
            c += a.v[k] * inv * g.v[k];
    }
    c = group_sum<L>(c);
    if (!live)
        return;
    if (rowdot && j == 0)
        rowdot[r] = c;
    if (!dinp)
        return;
    const bool scaled = nrm >= eps;   /* the whole group takes the same side: one row */
    const float den = (scaled ? nrm : eps) / s;
    for (int i = j * VW; i < D; i += L * VW) {
        rowvec<VW> a, g, o;
        a.load(y + i);   /* again, from L1 */
        g.load(dy + i);
        for (int k = 0; k < VW; k++)
            o.v[k] = scaled ? (g.v[k] - a.v[k] * inv * c) / den : g.v[k] / den;
        store_or_add(dinp + (size_t)r * D + i, o, store);
    }
}

/* Launches K<VW, L> over rows rows of D floats with VW and L chosen as above; vec: every pointer
 * the kernel takes rows from is 16-byte aligned (a tensor may be a view at any float). */
#define ROW_LAUNCH(K, rows, D, vec, ...)                                                                       \
    do {                                                                                                       \
        const long rows_ = (rows);                                                                             \
        const int d_ = (D), v_ = (vec) && d_ % 4 == 0, q_ = v_ ? d_ / 4 : d_;                                  \
        const int l_ = !v_ ? 32 : q_ > 16 ? 32 : q_ > 8 ? 16 : q_ > 4 ? 8 : q_ > 2 ? 4 : q_ > 1 ? 2 : 1;      \
        const unsigned nb_ = (unsigned)((rows_ * l_ + ROW_BLOCK - 1) / ROW_BLOCK);                             \
        switch (v_ ? l_ : 0) {                                                                                 \
        case 1: K<4, 1><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                               \
        case 2: K<4, 2><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                               \
        case 4: K<4, 4><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                               \
        case 8: K<4, 8><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                               \
        case 16: K<4, 16><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                             \
        case 32: K<4, 32><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                             \
        default: K<1, 32><<<nb_, ROW_BLOCK>>>(__VA_ARGS__); break;                                             \
        }                                                                                                      \
        SEQ_LAUNCHED();                                                                                        \
    } while (0)

/* dst[g] += factor(g) times the sum of group g's row dots (head_finish's factors). */
static void finish_rowdots(real *dst, const real *rowdot, const real *p, int N, int G, int kind, real cap)
{
    double *part = (double *)tmp_alloc((size_t)G * RED_CHUNKS * sizeof(double));
    stripe_sums<float><<<dim3(G, RED_CHUNKS), SEQ_THREADS>>>(part, rowdot, N, 1, (size_t)G);
    SEQ_LAUNCHED();
    finish(dst, part, RED_CHUNKS, p, G, kind, cap);
    tmp_free(part);
}

extern "C" void cuda_exp_scale_forward(real *out, const real *inp, const real *p, int N, int G, int D, real cap)
{
    const long rows = (long)N * G;
    if (rows <= 0 || D <= 0)
        return;
    const int vec = aligned16(out) && aligned16(inp);
    ROW_LAUNCH(exp_scale_apply, rows, D, vec, out, inp, p, rows, G, D, cap);
}

extern "C" void cuda_exp_scale_backward(real *dinp, real *dp, const real *dout, const real *inp, const real *p,
                                        int N, int G, int D, real cap, int store)
{
    const long rows = (long)N * G;
    if (rows <= 0 || D <= 0 || (!dinp && !dp))
        return;
    real *rowdot = dp ? (real *)tmp_alloc((size_t)rows * sizeof(real)) : NULL;
    const int vec = aligned16(dinp) && aligned16(dout) && aligned16(inp);
    ROW_LAUNCH(exp_scale_bwd, rows, D, vec, dinp, rowdot, dout, inp, p, rows, G, D, cap, store);
    if (dp) {
        finish_rowdots(dp, rowdot, p, N, G, FACTOR_EXP_CAP, cap);
        tmp_free(rowdot);
    }
}

extern "C" void cuda_rownorm_scale_forward(real *out, real *norm, const real *inp, const real *p, int N, int G, int D,
                                           real eps, real cap)
{
    const long rows = (long)N * G;
    if (rows <= 0 || D <= 0)
        return;
    const int vec = aligned16(out) && aligned16(inp);
    ROW_LAUNCH(rownorm_scale_fwd, rows, D, vec, out, norm, inp, p, rows, G, D, eps, cap);
}

extern "C" void cuda_rownorm_scale_backward(real *dinp, real *dp, real *rowdot, const real *dout, const real *out,
                                            const real *norm, const real *p, int N, int G, int D, real eps, real cap,
                                            int store)
{
    const long rows = (long)N * G;
    if (rows <= 0 || D <= 0 || (!dinp && !dp))
        return;
    const int vec = aligned16(dinp) && aligned16(dout) && aligned16(out);
    ROW_LAUNCH(rownorm_scale_bwd, rows, D, vec, dinp, dp ? rowdot : NULL, dout, out, norm, p, rows, G, D, eps, cap,
               store);
    if (dp)
        finish_rowdots(dp, rowdot, p, N, G, FACTOR_EXP_CAP, cap);
}

/* The look-ahead mix as row kernels: rows r = (b, t, h) of hs floats (group h = r % H), the next
 * position's row H rows on, the previous one's H rows back. y_t = w x_t + (1 - w) x_{t+1} (x_T = 0). */
template <int VW, int L>
__global__ void lookahead_fwd(float *out, const float *inp, const float *c, long rows, int T, int H, int hs)
{
    int j;
    const long r = row_of<L>(&j);
    if (r >= rows)
        return;
    const int h = (int)(r % H), last = (int)((r / H) % T) + 1 == T;
    const float w = c[h];
    const size_t C = (size_t)H * hs;
    const float *x = inp + (size_t)r * hs;
    for (int i = j * VW; i < hs; i += L * VW) {
        rowvec<VW> a, n;
        a.load(x + i);
        if (!last)
            n.load(x + C + i);
        for (int k = 0; k < VW; k++)
            a.v[k] = w * a.v[k] + (1 - w) * (last ? 0.f : n.v[k]);
        a.store(out + (size_t)r * hs + i);
    }
}

/* The backward in one pass: dx_t = w dy_t + (1 - w) dy_{t-1} (stored or added), and rowdot[r] =
 * dy_t . (x_t - x_{t+1}), the row's share of dc. The neighbours' rows come from L2: each is read
 * from device memory once, by its own group. */
template <int VW, int L>
__global__ void lookahead_bwd(float *dinp, float *rowdot, const float *dout, const float *inp, const float *c,
                              long rows, int T, int H, int hs, int store)
{
    int j;
    const long r = row_of<L>(&j);
    const bool live = r < rows;
    const long rr = live ? r : 0;
    const int h = (int)(rr % H), t = (int)((rr / H) % T), first = t == 0, last = t + 1 == T;
    const float w = c[h];
    const size_t C = (size_t)H * hs;
    const float *dy = dout + (size_t)rr * hs, *x = inp + (size_t)rr * hs;
    float acc = 0.f;
    for (int i = j * VW; live && i < hs; i += L * VW) {
        rowvec<VW> g;
        g.load(dy + i);
        if (rowdot) {
            rowvec<VW> a, n;
            a.load(x + i);
            if (!last)
                n.load(x + C + i);
            for (int k = 0; k < VW; k++)
                acc += g.v[k] * (a.v[k] - (last ? 0.f : n.v[k]));
        }
        if (dinp) {
            rowvec<VW> gp, o;
            if (!first)
                gp.load(dy - C + i);
            for (int k = 0; k < VW; k++)
                o.v[k] = w * g.v[k] + (first ? 0.f : (1 - w) * gp.v[k]);
            store_or_add(dinp + (size_t)r * hs + i, o, store);
        }
    }
    if (rowdot) {
        acc = group_sum<L>(acc);
        if (live && j == 0)
            rowdot[r] = acc;
    }
}

extern "C" void cuda_lookahead_mix_forward(real *out, const real *inp, const real *c, int B, int T, int H, int hs)
{
    const long rows = (long)B * T * H;
    if (rows <= 0 || hs <= 0)
        return;
    const int vec = aligned16(out) && aligned16(inp);
    ROW_LAUNCH(lookahead_fwd, rows, hs, vec, out, inp, c, rows, T, H, hs);
}

extern "C" void cuda_lookahead_mix_backward(real *dinp, real *dc, const real *dout, const real *inp, const real *c,
                                            int B, int T, int H, int hs, int store)
{
    const long rows = (long)B * T * H;
    if (rows <= 0 || hs <= 0 || (!dinp && !dc))
        return;
    real *rowdot = dc ? (real *)tmp_alloc((size_t)rows * sizeof(real)) : NULL;
    const int vec = aligned16(dinp) && aligned16(dout) && aligned16(inp);
    ROW_LAUNCH(lookahead_bwd, rows, hs, vec, dinp, rowdot, dout, inp, c, rows, T, H, hs, store);
    if (dc) {
        finish_rowdots(dc, rowdot, NULL, B * T, H, FACTOR_ONE, 0.f);
        tmp_free(rowdot);
    }
}

extern "C" void cuda_rownorm_forward(real *out, real *norm, const real *inp, int N, int C, real eps)
{
    cuda_rownorm_scale_forward(out, norm, inp, NULL, N, 1, C, eps, 0.f);
}

extern "C" void cuda_rownorm_backward(real *dinp, const real *dout, const real *out, const real *norm, int N, int C,
                                      real eps, int store)
{
    cuda_rownorm_scale_backward(dinp, NULL, NULL, dout, out, norm, NULL, N, 1, C, eps, 0.f, store);
}
