/* Losses on the GPU: fused softmax + cross-entropy, (clipped) MSE, and the sum behind op_sum and
 * op_mean. Each writes its scalar to memory the caller names (device or pinned), never returning it:
 * the host reads the loss once, when it logs it. */
#include <cuda_bf16.h>

#include "cuda/cuda_ctx.h"
#include "cuda/reduce.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
}

#define ROW_THREADS 256

/* A logit as float, and a gradient stored in the logits' own type (bf16: round to nearest even). */
__device__ __forceinline__ float head_load(const float *x, int i) { return x[i]; }
__device__ __forceinline__ float head_load(const uint16_t *x, int i)
{
    return __bfloat162float(__ushort_as_bfloat16(x[i]));
}
__device__ __forceinline__ void head_store(float *x, int i, float v) { x[i] = v; }
__device__ __forceinline__ void head_store(uint16_t *x, int i, float v)
{
    x[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

/* The log-sum-exp of the V logits at x (fp32 or bf16), for the whole block (every thread gets it), in
 * one pass: each thread keeps a running max and the sum of exponentials below it (rescaled when the
 * max moves), the block combines them. */
template <typename E> __device__ static double block_row_lse(const E *x, int V)
{
    float m = -INFINITY, s = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const float xi = head_load(x, i);
        if (xi > m) {
            s = s * expf(m - xi) + 1;   /* expf(-inf) = 0 for the first element */
            m = xi;
        } else {
            s += expf(xi - m);
        }
    }
    const float mx = block_max(m);
    const float sum = block_sum(s > 0 ? s * expf(m - mx) : 0.f);
    return (double)mx + log((double)sum);
}

/* One block per row, one pass over its logits (block_row_lse): the row's
 * log-sum-exp goes to lse (the backward pass recomputes the probabilities from it and the logits,
 * so no [N, V] probabilities are stored: 3.3 GB at vocabulary 50,304 and 16,384 rows) and its loss
 * lse - x[target] (0 for an ignored row) to rowloss, in double as the CPU sums it. */
__global__ static void k_xent_rows(double *rowloss, real *lse, const real *logits, const int *targets, int V,
                                   int ignore)
{
    const real *x = logits + (size_t)blockIdx.x * V;
    const double l = block_row_lse(x, V);
    if (threadIdx.x == 0) {
        const int t = targets[blockIdx.x];
        lse[blockIdx.x] = (real)l;
        rowloss[blockIdx.x] = t == ignore ? 0.0 : l - (double)x[t];
    }
}

/* The mean over counted rows, rows in order within each thread's stripe, stripes in order. */
__global__ static void k_mean_rows(real *loss, const double *rowloss, int N, int count)
{
    double s = 0;
    for (int i = threadIdx.x; i < N; i += blockDim.x)
        s += rowloss[i];
    s = block_sum(s);
    if (threadIdx.x == 0)
        *loss = count > 0 ? (real)(s / count) : 0;
}

extern "C" void cuda_softmax_xent_forward(real *loss, real *lse, const real *logits, const int *targets, int N,
                                          int V, int ignore, int count)
{
    if (N <= 0) {
        cuda_memzero(loss, sizeof *loss);
        return;
    }
    double *rowloss = (double *)cuda_scratch((size_t)N * sizeof(double));
    k_xent_rows<<<N, ROW_THREADS>>>(rowloss, lse, logits, targets, V, ignore);
    CUDA_LAUNCHED();
    k_mean_rows<<<1, 1024>>>(loss, rowloss, N, count);
    CUDA_LAUNCHED();
}

/* One block per row: dlogits += dloss / count (exp(x - lse) - onehot(target)); ignored rows get
 * nothing. */
__global__ static void k_xent_bwd(real *dlogits, const real *logits, const real *lse, const int *targets, int V,
                                  int ignore, int count, const real *dloss)
{
    const int t = targets[blockIdx.x];
    if (t == ignore)
        return;
    const size_t off = (size_t)blockIdx.x * V;
    const real *x = logits + off;
    real *g = dlogits + off;
    const float s = *dloss / (float)count, l = lse[blockIdx.x];
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        g[i] += s * (expf(x[i] - l) - (i == t ? 1.f : 0.f));
}

extern "C" void cuda_softmax_xent_backward(real *dlogits, const real *logits, const real *lse, const int *targets,
                                           int N, int V, int ignore, int count, const real *dloss)
{
    if (!dlogits || count <= 0 || N <= 0)
        return;
    k_xent_bwd<<<N, ROW_THREADS>>>(dlogits, logits, lse, targets, V, ignore, count, dloss);
    CUDA_LAUNCHED();
}

/* ---- the head and its loss, fused (op_linear_xent) --------------------------------------------- */

/* The op's rows per chunk: about 2^27 logits (512 MB in fp32; 2,668 rows at vocabulary 50,304), so that the
 * products over a chunk run at the rate of large ones while the [N, V] logits and their gradient (3.3 +
 * 3.3 GB in fp32 at 16,384 rows of 50,304) are never held whole. */
extern "C" int cuda_linear_xent_chunk_rows(int N, int V)
{
    long long r = ((long long)1 << 27) / (V > 0 ? V : 1);
    r = r < 64 ? 64 : r;
    return N < r ? (N > 0 ? N : 1) : (int)r;
}

#define HEAD_ALIGN ((size_t)256)
static size_t head_align(size_t b) { return (b + HEAD_ALIGN - 1) / HEAD_ALIGN * HEAD_ALIGN; }

/* rowloss [N] doubles, a chunk's logits [R, V] (bf16 under --dtype bf16, their gradient written over
 * them), and in bf16 the weight's copy [V, C] and x's [N, C] (unless its producer wrote one). */
extern "C" size_t cuda_linear_xent_work(int N, int C, int V, int R, int bf16)
{
    size_t b = head_align((size_t)N * sizeof(double)) + head_align((size_t)R * V * (bf16 ? 2 : sizeof(real)));
    if (bf16)
        b += head_align((size_t)N * C * 2) + head_align((size_t)V * C * 2);
    return b;
}

/* One block per row of a chunk: the row's log-sum-exp in one pass (as k_xent_rows), its loss, and,
 * when grad, g = scale (s exp(x - lse) - s onehot(target)) (0 for an ignored row) written over the
 * row's logits in their own type E: fp32, or bf16 under --dtype bf16, where the product wrote the
 * logits in bf16 (as PyTorch's autocast does), half the bytes written, read here and written back.
 * STAGED: the row is first copied into shared memory (V elements, 16 bytes a load when the row
 * allows) and both passes read it there, so the logits come from device memory once instead of twice
 * (the second read of a 201 KB fp32 row missed L2 with 8 rows in flight an SM). */
template <bool STAGED, typename E>
__global__ static void k_head_rows(double *rowloss, E *logits, const int *targets, int V, int ignore, float s,
                                   float scale, int grad)
{
    extern __shared__ float4 stage4[];
    E *x = logits + (size_t)blockIdx.x * V;
    const E *xr = x;
    if (STAGED) {
        E *stage = (E *)stage4;
        const int per16 = 16 / sizeof(E);
        if (V % per16 == 0) {   /* the row starts on 16 bytes: logits are 256-byte aligned */
            const float4 *x4 = (const float4 *)x;
#pragma unroll 4
            for (int j = threadIdx.x; j < V / per16; j += blockDim.x)
                stage4[j] = x4[j];
        } else {
            for (int i = threadIdx.x; i < V; i += blockDim.x)
                stage[i] = x[i];
        }
        __syncthreads();
        xr = stage;
    }
    const int t = targets[blockIdx.x];
    /* read before the reductions' barriers: the gradient overwrites the row after them */
    const float xt = t == ignore ? 0.f : head_load(xr, t);
    const double l = block_row_lse(xr, V);
    if (threadIdx.x == 0)
        rowloss[blockIdx.x] = t == ignore ? 0.0 : l - (double)xt;
    if (!grad)
        return;
    const float lf = (float)l, st = t == ignore ? 0.f : s;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        head_store(x, i, scale * (st * expf(head_load(xr, i) - lf) - (i == t ? st : 0.f)));
}

#define HEAD_STAGED_THREADS 1024
#define HEAD_STAGED_MIN_V 8192   /* shorter rows stay in L1/L2 between the two reads anyway */

/* The shared memory a staged row of V elements of `el` bytes takes, or 0 when the row is short or does
 * not fit this card's shared memory for one block (227 KB on Hopper: up to 58,000-odd fp32 logits).
 * The card's limit is asked once: a process opens one device (cuda_ctx_open). */
static size_t head_staged_bytes(int V, size_t el)
{
    static int optin = -1;
    if (optin < 0) {
        int dev = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    }
    const size_t bytes = (size_t)V * el, statics = 1024;   /* block_max's and block_sum's */
    return V >= HEAD_STAGED_MIN_V && bytes + statics <= (size_t)optin ? bytes : 0;
}

template <typename E>
static void head_rows(int rows, double *rowloss, E *logits, const int *targets, int V, int ignore, float s,
                      float scale, int grad)
{
    static size_t allowed = 0;   /* the dynamic shared memory k_head_rows<true, E> has been allowed so far */
    const size_t bytes = head_staged_bytes(V, sizeof(E));
    if (bytes) {
        if (bytes > allowed) {
            CUDA_CHECK(cudaFuncSetAttribute(k_head_rows<true, E>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)bytes));
            allowed = bytes;
        }
        k_head_rows<true, E><<<rows, HEAD_STAGED_THREADS, bytes>>>(rowloss, logits, targets, V, ignore, s, scale,
                                                                   grad);
    } else {
        k_head_rows<false, E><<<rows, ROW_THREADS>>>(rowloss, logits, targets, V, ignore, s, scale, grad);
    }
    CUDA_LAUNCHED();
}

/* Column-major C[m,n] = alpha op(A) op(B) + beta C with fp32 accumulation; A and B bf16 or fp32 (ab16),
 * C bf16 or fp32 (c16). */
static void head_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const void *a,
                      int lda, const void *b, int ldb, float beta, void *c, int ldc, int ab16, int c16)
{
    if (ab16)
        CUBLAS_CHECK(cublasGemmEx(cuda_cublas(), ta, tb, m, n, k, &alpha, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb,
                                  &beta, c, c16 ? CUDA_R_16BF : CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    else
        CUBLAS_CHECK(cublasSgemm(cuda_cublas(), ta, tb, m, n, k, &alpha, (const float *)a, lda, (const float *)b,
                                 ldb, &beta, (float *)c, ldc));
}

extern "C" void cuda_linear_xent_forward(real *loss, real *dx, real *dw, const real *x, const uint16_t *x16,
                                         const real *w, real scale, const int *targets, int N, int C, int V,
                                         int ignore, int count, int bf16, int R, void *work)
{
    if (N <= 0) {
        cuda_memzero(loss, sizeof *loss);
        return;
    }
    unsigned char *p = (unsigned char *)work;
    double *rowloss = (double *)p;
    p += head_align((size_t)N * sizeof(double));
    void *logits = p;   /* a chunk's; its gradient is written over it */
    p += head_align((size_t)R * V * (bf16 ? 2 : sizeof(real)));
    const void *xa = x, *wa = w;
    if (bf16) {
        uint16_t *xb = (uint16_t *)p, *wb = (uint16_t *)(p + head_align((size_t)N * C * 2));
        if (!x16)
            cuda_to_bf16(xb, x, (size_t)N * C);
        cuda_to_bf16(wb, w, (size_t)V * C);
        xa = x16 ? x16 : xb;
        wa = wb;
    }
    const size_t el = bf16 ? 2 : sizeof(real);
    const int grad = dx || dw;
    const float s = count > 0 ? 1.f / (float)count : 0.f;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        const void *xc = (const unsigned char *)xa + (size_t)r0 * C * el;
        /* logits^T[V,rows] = scale w[V,C] . x^T[C,rows] (column-major views of the row-major buffers) */
        head_gemm(CUBLAS_OP_T, CUBLAS_OP_N, V, rows, C, scale, wa, C, xc, C, 0.f, logits, V, bf16, bf16);
        if (bf16)
            head_rows(rows, rowloss + r0, (uint16_t *)logits, targets + r0, V, ignore, s, scale, grad);
        else
            head_rows(rows, rowloss + r0, (real *)logits, targets + r0, V, ignore, s, scale, grad);
        if (dx)   /* dx^T[C,rows] = w^T[C,V] . g^T[V,rows] */
            head_gemm(CUBLAS_OP_N, CUBLAS_OP_N, C, rows, V, 1.f, wa, C, logits, V, 0.f, dx + (size_t)r0 * C, C, bf16,
                      0);
        if (dw)   /* dw^T[C,V] (+)= x^T[C,rows] . g[rows,V] */
            head_gemm(CUBLAS_OP_N, CUBLAS_OP_T, C, V, rows, 1.f, xc, C, logits, V, r0 ? 1.f : 0.f, dw, C, bf16, 0);
    }
    k_mean_rows<<<1, 1024>>>(loss, rowloss, N, count);
    CUDA_LAUNCHED();
}

/* ---- mse and sums ------------------------------------------------------------------------------ */

__global__ static void k_mse_part(double *part, const real *pred, const real *target, size_t n, real clip)
{
    double s = 0;
    GRID_STRIDE(i, n)
    {
        float d = pred[i] - target[i];
        s += clip > 0 && !(fabsf(d) < clip) ? (double)clip * clip : (double)d * d;
    }
    s = block_sum(s);
    if (threadIdx.x == 0)
        part[blockIdx.x] = s;
}

__global__ static void k_store_scaled(real *out, const double *sum, double mult) { *out = (real)(*sum * mult); }

extern "C" void cuda_mse_forward(real *loss, const real *pred, const real *target, size_t n, real clip)
{
    double *part = (double *)cuda_scratch(REDUCE_BLOCKS * sizeof(double));
    int nb = (int)((n + REDUCE_THREADS * 4 - 1) / (REDUCE_THREADS * 4));
    nb = nb < 1 ? 1 : nb > REDUCE_BLOCKS ? REDUCE_BLOCKS : nb;
    k_mse_part<<<nb, REDUCE_THREADS>>>(part, pred, target, n, clip);
    CUDA_LAUNCHED();
    k_reduce_final<<<1, REDUCE_THREADS>>>(part, nb);
    CUDA_LAUNCHED();
    k_store_scaled<<<1, 1>>>(loss, part, 1.0 / (double)n);
    CUDA_LAUNCHED();
}

__global__ static void k_mse_bwd(real *dpred, const real *pred, const real *target, size_t n, real clip,
                                 const real *dloss)
{
    float s = 2.f * *dloss / (float)n;
    GRID_STRIDE(i, n)
    {
        float d = pred[i] - target[i];
        if (clip > 0 && !(fabsf(d) < clip))
            continue;
        dpred[i] += s * d;
    }
}

extern "C" void cuda_mse_backward(real *dpred, const real *pred, const real *target, size_t n, real clip,
                                  const real *dloss)
{
    if (dpred)
        LAUNCH(k_mse_bwd, n, dpred, pred, target, n, clip, dloss);
}

extern "C" void cuda_sum(real *out, const real *x, size_t n, double mult)
{
    double *s = reduce_sum(x, n, reduce_id());
    k_store_scaled<<<1, 1>>>(out, s, mult);
    CUDA_LAUNCHED();
}
