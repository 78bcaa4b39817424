/* Dense CUDA kernels: cuBLAS linears and batched products, elementwise arithmetic, embedding. */
#include <cuda_bf16.h>

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

/* Column sums of dout[N,OC] into dbias in a fixed order: partial sums over chunks of COL_CHUNK rows
 * (rows in order), then the chunks in order. Parallel over rows and columns, no atomics. With bf16,
 * dout's bf16 copy is written in the same read: the bf16 linear's backward needs both, and apart the
 * bias gradient read every linear's output gradient a second time (5.4 GB a step at GPT-2-small,
 * batch 32 x 512). */
#define COL_CHUNK 128
__device__ __forceinline__ float col_value(const real *p, size_t i) { return p[i]; }
__device__ __forceinline__ float col_value(const uint16_t *p, size_t i) { return bf16_value(p[i]); }

/* E: float, or uint16_t for a gradient its reader wrote in bf16 (bf16 then NULL) */
template <typename E> __global__ static void k_col_part(float *part, uint16_t *bf16, const E *dout, int N, int OC)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
    if (j >= OC)
        return;
    int n1 = min(N, (c + 1) * COL_CHUNK);
    float s = 0;
#pragma unroll 8
    for (int n = c * COL_CHUNK; n < n1; n++) {
        const float x = col_value(dout, (size_t)n * OC + j);
        if (bf16)
            bf16[(size_t)n * OC + j] = __bfloat16_as_ushort(__float2bfloat16_rn(x));
        s += x;
    }
    part[(size_t)c * OC + j] = s;
}

__global__ static void k_col_final(real *dbias, const float *part, int chunks, int OC)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= OC)
        return;
    float s = 0;
    for (int c = 0; c < chunks; c++)
        s += part[(size_t)c * OC + j];
    dbias[j] += s;
}

/* bf16: NULL, or dout's bf16 copy [N, OC] to fill on the way (E float only). */
template <typename E> static void col_sums(real *dbias, const E *dout, int N, int OC, uint16_t *bf16)
{
    int chunks = (N + COL_CHUNK - 1) / COL_CHUNK;
    float *part = (float *)cuda_scratch((size_t)chunks * OC * sizeof(float));
    k_col_part<<<dim3((OC + 127) / 128, chunks), 128>>>(part, bf16, dout, N, OC);
    CUDA_LAUNCHED();
    k_col_final<<<(OC + 127) / 128, 128>>>(dbias, part, chunks, OC);
    CUDA_LAUNCHED();
}

extern "C" void cuda_matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                                     const real *weight, int N, int C, int OC, int store_dinp)
{
    const float one = 1, beta_dinp = store_dinp ? 0.f : 1.f;
    cublasHandle_t h = cuda_cublas();
    if (dinp) /* dinp^T[C,N] (+)= weight^T[C,OC] . dout^T[OC,N] */
        CUBLAS_CHECK(
            cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, weight, C, dout, OC, &beta_dinp, dinp, C));
    if (dweight) /* dweight^T[C,OC] += inp^T[C,N] . dout[N,OC] */
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C, dout, OC, &one, dweight, C));
    if (dbias)
        col_sums(dbias, dout, N, OC, NULL);
}

/* ---- bf16 linears ------------------------------------------------------------------------------ */

__global__ static void k_to_bf16(uint16_t *dst, const real *src, size_t n)
{
    GRID_STRIDE(i, n) dst[i] = __bfloat16_as_ushort(__float2bfloat16_rn(src[i]));
}

/* Four at a time: a 16-byte load and an 8-byte store a thread where the scalar kernel moved 4 and 2
 * (every bf16 linear converts its input, the gradient of its output and its weight each step).
 * The same rounding, element by element. */
__global__ static void k_to_bf16_4(uint2 *dst, const float4 *src, size_t n4)
{
    GRID_STRIDE(i, n4) dst[i] = bf16x4(src[i]);
}

extern "C" void cuda_to_bf16(uint16_t *dst, const real *src, size_t n)
{
    if (n % 4 == 0 && aligned16(src) && ((uintptr_t)dst & 7) == 0)
        LAUNCH(k_to_bf16_4, n / 4, (uint2 *)dst, (const float4 *)src, n / 4);
    else
        LAUNCH(k_to_bf16, n, dst, src, n);
}

__global__ static void k_from_bf16(real *dst, const uint16_t *src, size_t n)
{
    GRID_STRIDE(i, n) dst[i] = bf16_value(src[i]);
}

extern "C" void cuda_from_bf16(real *dst, const uint16_t *src, size_t n) { LAUNCH(k_from_bf16, n, dst, src, n); }

/* C (column-major m x n, of c_type: fp32, or bf16 rounded from the fp32 accumulator) = op(A) op(B) +
 * beta C with bf16 A and B, fp32 accumulation. */
static void gemm_bf16_into(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const uint16_t *a,
                           int lda, const uint16_t *b, int ldb, float beta, void *c, cudaDataType_t c_type, int ldc)
{
    const float one = 1;
    CUBLAS_CHECK(cublasGemmEx(cuda_cublas(), ta, tb, m, n, k, &one, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb,
                              &beta, c, c_type, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* The same into an fp32 C. */
static void gemm_bf16(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const uint16_t *a, int lda,
                      const uint16_t *b, int ldb, float beta, real *c, int ldc)
{
    gemm_bf16_into(ta, tb, m, n, k, a, lda, b, ldb, beta, c, CUDA_R_32F, ldc);
}

/* out^T[OC,N] = weight^T' . x^T (+ bias) (+ res^T) in one cublasLt call, the bias and the residual added by
 * the product's epilogue (res is its C operand, read beside out, its D: res stays as it was): filling
 * the output with the bias first and accumulating onto it (beta 1) writes and reads every output once
 * more (5.4 GB a step at GPT-2-small, batch 32 x 512), and a separate residual add reads two outputs
 * and writes one. Returns 0 when cublasLt does not run it (no kernel for an operand's alignment, say),
 * for the caller's two-pass path. */
static int lt_linear_bf16(void *out, int out16, const uint16_t *wb, const uint16_t *xb, const real *bias,
                          const real *res, int N, int C, int OC)
{
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cublasLtEpilogue_t ep = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    const cudaDataType_t bias_type = CUDA_R_32F;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
    if (bias) {
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                    sizeof bias_type));
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, C, OC, C));   /* weight^T, taken transposed */
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, C, N, C));    /* x^T */
    /* out^T and res^T (res only with an fp32 out) */
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, out16 ? CUDA_R_16BF : CUDA_R_32F, OC, N, OC));
    const float one = 1, beta = res ? 1.f : 0.f;
    const cublasStatus_t st = cublasLtMatmul(cuda_cublaslt(), op, &one, wb, la, xb, lb, &beta,
                                             res ? (const void *)res : out, lc, out, lc, NULL, cuda_lt_workspace(),
                                             CUDA_LT_WORKSPACE, 0);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatmulDescDestroy(op);
    return st == CUBLAS_STATUS_SUCCESS;   /* a real fault shows again in the two-pass path's cuBLAS call */
}

/* The bf16 operands of a linear: x's (unless inp is NULL: xb holds its producer's copy) and the weight's. */
static void linear_operands_bf16(uint16_t *xb, uint16_t *wb, const real *inp, const real *weight, int N, int C,
                                 int OC)
{
    if (inp)
        cuda_to_bf16(xb, inp, (size_t)N * C);
    cuda_to_bf16(wb, weight, (size_t)OC * C);
}

/* out = xb . wb^T (+ bias) (+ res) in fp32 from operands already in bf16: one cublasLt call, or the
 * bias's fill, a cuBLAS product and the residual's add where cublasLt declines. */
static void linear_product_bf16(real *out, const uint16_t *xb, const uint16_t *wb, const real *bias, const real *res,
                                int N, int C, int OC)
{
    if ((bias || res) && lt_linear_bf16(out, 0, wb, xb, bias, res, N, C, OC))
        return;
    if (bias) {
        rows_fill<<<cuda_blocks((size_t)N * OC, THREADS), THREADS>>>(out, bias, (size_t)N, OC);
        CUDA_LAUNCHED();
    }
    gemm_bf16(CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, wb, C, xb, C, bias ? 1.f : 0.f, out, OC);
    if (res)
        cuda_add_forward(out, out, res, (size_t)N * OC);
}

extern "C" void cuda_matmul_forward_bf16_out16(uint16_t *out16, uint16_t *xb, uint16_t *wb, const real *inp,
                                               const real *weight, const real *bias, int N, int C, int OC)
{
    linear_operands_bf16(xb, wb, inp, weight, N, C, OC);
    if (bias) {   /* in the epilogue, or else the fp32 product with its bias, converted */
        if (lt_linear_bf16(out16, 1, wb, xb, bias, NULL, N, C, OC))
            return;
        real *tmp = (real *)cuda_scratch((size_t)N * OC * sizeof(real));
        linear_product_bf16(tmp, xb, wb, bias, NULL, N, C, OC);
        cuda_to_bf16(out16, tmp, (size_t)N * OC);
        return;
    }
    gemm_bf16_into(CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, wb, C, xb, C, 0.f, out16, CUDA_R_16BF, OC);
}

extern "C" void cuda_matmul_forward_bf16_res(real *out, uint16_t *xb, uint16_t *wb, const real *inp,
                                             const real *weight, const real *bias, const real *res, int N, int C,
                                             int OC)
{
    linear_operands_bf16(xb, wb, inp, weight, N, C, OC);
    linear_product_bf16(out, xb, wb, bias, res, N, C, OC);
}

extern "C" void cuda_matmul_forward_bf16(real *out, uint16_t *xb, uint16_t *wb, const real *inp, const real *weight,
                                         const real *bias, int N, int C, int OC)
{
    cuda_matmul_forward_bf16_res(out, xb, wb, inp, weight, bias, NULL, N, C, OC);
}

/* dinp16 (when given, in place of dinp): the input's gradient stored in bf16, cuBLAS rounding its
 * fp32 accumulator once. */
static void matmul_backward_bf16(real *dinp, uint16_t *dinp16, real *dweight, real *dbias, uint16_t *doutb,
                                 const real *dout, const uint16_t *xb, const uint16_t *wb, int N, int C, int OC,
                                 int store_dinp)
{
    const int convert = dout && (dinp || dinp16 || dweight);   /* the products take dout in bf16 (dout NULL: given) */
    if (dbias && !dout)   /* the bias's sums over the bf16 values its reader wrote */
        col_sums<uint16_t>(dbias, doutb, N, OC, NULL);
    else if (dbias)
        col_sums(dbias, dout, N, OC, convert ? doutb : NULL);
    else if (convert)
        cuda_to_bf16(doutb, dout, (size_t)N * OC);
    if (dinp)
        gemm_bf16(CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, wb, C, doutb, OC, store_dinp ? 0.f : 1.f, dinp, C);
    if (dinp16)
        gemm_bf16_into(CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, wb, C, doutb, OC, 0.f, dinp16, CUDA_R_16BF, C);
    if (dweight)
        gemm_bf16(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, xb, C, doutb, OC, 1.f, dweight, C);
}

extern "C" void cuda_matmul_backward_bf16(real *dinp, real *dweight, real *dbias, uint16_t *doutb, const real *dout,
                                          const uint16_t *xb, const uint16_t *wb, int N, int C, int OC,
                                          int store_dinp)
{
    matmul_backward_bf16(dinp, NULL, dweight, dbias, doutb, dout, xb, wb, N, C, OC, store_dinp);
}

extern "C" void cuda_matmul_backward_bf16_dx16(uint16_t *dinp16, real *dweight, real *dbias, uint16_t *doutb,
                                               const real *dout, const uint16_t *xb, const uint16_t *wb, int N, int C,
                                               int OC)
{
    matmul_backward_bf16(NULL, dinp16, dweight, dbias, doutb, dout, xb, wb, N, C, OC, 1);
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

/* out = f(a, b) element by element: with float4 loads and stores when n % 4 == 0 and every pointer
 * is 16-byte aligned (the residual adds, the gradients' accumulation and scalings move 50-150 MB a
 * call at GPT-2-small), one element a thread otherwise. The same arithmetic either way. */
template <typename F> __global__ static void k_map2(real *out, const real *a, const real *b, size_t n, F f)
{
    GRID_STRIDE(i, n) out[i] = f(a[i], b[i]);
}
template <typename F> __global__ static void k_map2_4(float4 *out, const float4 *a, const float4 *b, size_t n4, F f)
{
    GRID_STRIDE(i, n4)
    {
        const float4 x = a[i], y = b[i];
        out[i] = make_float4(f(x.x, y.x), f(x.y, y.y), f(x.z, y.z), f(x.w, y.w));
    }
}
template <typename F> static void map2(real *out, const real *a, const real *b, size_t n, F f)
{
    if (n % 4 == 0 && aligned16(out) && aligned16(a) && aligned16(b))
        LAUNCH(k_map2_4, n / 4, (float4 *)out, (const float4 *)a, (const float4 *)b, n / 4, f);
    else
        LAUNCH(k_map2, n, out, a, b, n, f);
}
struct add_op { __device__ float operator()(float x, float y) const { return x + y; } };
struct scale_op {
    float s;
    __device__ float operator()(float x, float) const { return x * s; }
};
struct acc_op {   /* dst + alpha src */
    float alpha;
    __device__ float operator()(float d, float x) const { return d + alpha * x; }
};
__global__ static void k_acc_dev(real *dst, const real *src, const real *alpha, size_t n)
{
    const real a = *alpha;
    GRID_STRIDE(i, n) dst[i] += a * src[i];
}
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

extern "C" void cuda_add_forward(real *out, const real *a, const real *b, size_t n) { map2(out, a, b, n, add_op{}); }
extern "C" void cuda_scale_forward(real *out, const real *a, real s, size_t n) { map2(out, a, a, n, scale_op{s}); }
extern "C" void cuda_accumulate(real *dst, const real *src, real alpha, size_t n)
{
    if (dst)
        map2(dst, dst, src, n, acc_op{alpha});
}
extern "C" void cuda_accumulate_dev(real *dst, const real *src, const real *alpha, size_t n)
{
    if (dst)
        LAUNCH(k_acc_dev, n, dst, src, alpha, n);
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

#define EMB_COLS 128
__global__ static void k_embed_bwd_grouped(real *dtable, const real *dout, const int *order, const int *seg_begin,
                                           const int *seg_id, int C)
{
    int s = blockIdx.x, j = blockIdx.y * EMB_COLS + threadIdx.x;
    if (j >= C)
        return;
    float sum = 0;
    for (int p = seg_begin[s]; p < seg_begin[s + 1]; p++)
        sum += dout[(size_t)order[p] * C + j];
    dtable[(size_t)seg_id[s] * C + j] += sum;
}

extern "C" void cuda_embedding_backward_grouped(real *dtable, const real *dout, const int *order,
                                                const int *seg_begin, const int *seg_id, int nseg, int C)
{
    if (!dtable || nseg == 0)
        return;
    k_embed_bwd_grouped<<<dim3(nseg, (C + EMB_COLS - 1) / EMB_COLS), EMB_COLS>>>(dtable, dout, order, seg_begin,
                                                                               seg_id, C);
    CUDA_LAUNCHED();
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
