/* Dense CUDA kernels: cuBLAS linears and batched products, elementwise arithmetic, embedding. */
#include "cuda/launch.cuh"
#include "cuda/cuda_ctx.h"

extern "C" {
#include "cuda/kernels_cuda.h"
}

/* ---- linear ------------------------------------------------------------------------------------ */

/* out[n, :] = bias, the starting value cuBLAS accumulates onto (beta = 1). */
__global__ static void rows_fill(real *out, const real *bias, size_t N, int OC)
{
    size_t total = N * (size_t)OC;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = bias[i % OC];
}

/* Row-major out[N,OC] = inp[N,C] . weight[OC,C]^T is column-major out^T = weight^T' . inp^T: with
 * cuBLAS's column-major view of the same buffers, weight is op T of a [C,OC] matrix and inp a
 * [C,N] matrix. */
extern "C" void cuda_matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N,
                                    int C, int OC)
{
    const float one = 1, zero = 0;
    if (bias) {
        rows_fill<<<cuda_blocks((size_t)N * OC, THREADS), THREADS>>>(out, bias, (size_t)N, OC);
        CUDA_LAUNCHED();
    }
    CUBLAS_CHECK(cublasSgemm(cuda_cublas(), CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one, weight, C, inp, C,
                             bias ? &one : &zero, out, OC));
}

/* Column sums of dout[N,OC] into dbias, in a fixed order: each thread owns a column and adds rows
 * in order, as the CPU does (the bias gradient is small; its cost is N*OC reads). */
__global__ static void col_sums(real *dbias, const real *dout, int N, int OC)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= OC)
        return;
    float s = 0;
    for (int n = 0; n < N; n++)
        s += dout[(size_t)n * OC + j];
    dbias[j] += s;
}

extern "C" void cuda_matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                                     const real *weight, int N, int C, int OC)
{
    const float one = 1;
    cublasHandle_t h = cuda_cublas();
    if (dinp) /* dinp^T[C,N] += weight^T[C,OC] . dout^T[OC,N] */
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, weight, C, dout, OC, &one, dinp, C));
    if (dweight) /* dweight^T[C,OC] += inp^T[C,N] . dout[N,OC] */
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C, dout, OC, &one, dweight, C));
    if (dbias) {
        col_sums<<<(OC + THREADS - 1) / THREADS, THREADS>>>(dbias, dout, N, OC);
        CUDA_LAUNCHED();
    }
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands. */
extern "C" void cuda_bmm(real *c, const real *a, const real *b, int batch, int M, int N, int K, int ta, int tb,
                         long long sa, long long sb, long long sc, real alpha, real beta)
{
    int lda = ta ? M : K, ldb = tb ? K : N;
    CUBLAS_CHECK(cublasSgemmStridedBatched(cuda_cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                           ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, b, ldb, sb, a, lda,
                                           sa, &beta, c, N, sc, batch));
}

/* ---- elementwise ------------------------------------------------------------------------------- */

__global__ static void k_add(real *out, const real *a, const real *b, size_t n) { GRID_STRIDE(i, n) out[i] = a[i] + b[i]; }
__global__ static void k_scale(real *out, const real *a, real s, size_t n) { GRID_STRIDE(i, n) out[i] = a[i] * s; }
__global__ static void k_acc(real *dst, const real *src, real alpha, size_t n) { GRID_STRIDE(i, n) dst[i] += alpha * src[i]; }
__global__ static void k_mul(real *out, const real *a, const real *b, size_t n) { GRID_STRIDE(i, n) out[i] = a[i] * b[i]; }
__global__ static void k_mul_bwd(real *da, real *db, const real *dout, const real *a, const real *b, size_t n)
{
    GRID_STRIDE(i, n)
    {
        if (da)
            da[i] += dout[i] * b[i];
        if (db)
            db[i] += dout[i] * a[i];
    }
}
__global__ static void k_fill_add(real *dst, const real *scale, real mult, size_t n)
{
    real v = *scale * mult;
    GRID_STRIDE(i, n) dst[i] += v;
}

extern "C" void cuda_add_forward(real *out, const real *a, const real *b, size_t n) { LAUNCH(k_add, n, out, a, b, n); }
extern "C" void cuda_scale_forward(real *out, const real *a, real s, size_t n) { LAUNCH(k_scale, n, out, a, s, n); }
extern "C" void cuda_accumulate(real *dst, const real *src, real alpha, size_t n)
{
    if (dst)
        LAUNCH(k_acc, n, dst, src, alpha, n);
}
extern "C" void cuda_mul_forward(real *out, const real *a, const real *b, size_t n) { LAUNCH(k_mul, n, out, a, b, n); }
extern "C" void cuda_mul_backward(real *da, real *db, const real *dout, const real *a, const real *b, size_t n)
{
    if (da || db)
        LAUNCH(k_mul_bwd, n, da, db, dout, a, b, n);
}
extern "C" void cuda_fill_add(real *dst, const real *scale, real mult, size_t n)
{
    if (dst)
        LAUNCH(k_fill_add, n, dst, scale, mult, n);
}

__global__ static void k_add_scalar(real *dst, real v) { dst[0] += v; }

extern "C" void cuda_add_scalar(real *dst, real v)
{
    k_add_scalar<<<1, 1>>>(dst, v);
    CUDA_LAUNCHED();
}

/* ---- embedding ---------------------------------------------------------------------------------- */

__global__ static void k_embed(real *out, const int *ids, const real *table, int N, int C)
{
    size_t total = (size_t)N * C;
    GRID_STRIDE(i, total) out[i] = table[(size_t)ids[i / C] * C + i % C];
}

/* One thread per column, rows in order: repeated ids add in the CPU's order without atomics. */
__global__ static void k_embed_bwd(real *dtable, const real *dout, const int *ids, int N, int C)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C)
        return;
    for (int n = 0; n < N; n++)
        dtable[(size_t)ids[n] * C + j] += dout[(size_t)n * C + j];
}

extern "C" void cuda_embedding_forward(real *out, const int *ids, const real *table, int N, int C)
{
    LAUNCH(k_embed, (size_t)N * C, out, ids, table, N, C);
}

extern "C" void cuda_embedding_backward(real *dtable, const real *dout, const int *ids, int N, int C)
{
    if (!dtable)
        return;
    k_embed_bwd<<<(C + 63) / 64, 64>>>(dtable, dout, ids, N, C);
    CUDA_LAUNCHED();
}
