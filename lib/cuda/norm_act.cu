/* LayerNorm, activations and softmax on the GPU: one block per row for the row-wise kernels, grid-
 * stride loops for the elementwise ones. Reductions run in a fixed order (launch shape only). */
#include "cuda/launch.cuh"

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

__global__ static void k_ln_bwd_wb_sum(real *dw, real *db, const float *pw, const float *pb, int chunks, int C)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C)
        return;
    float sw = 0, sb = 0;
    for (int c = 0; c < chunks; c++) {
        sw += pw[(size_t)c * C + j];
        sb += pb[(size_t)c * C + j];
    }
    if (dw)
        dw[j] += sw;
    if (db)
        db[j] += sb;
}

extern "C" void cuda_layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight,
                                       const real *bias, int N, int C, real eps)
{
    k_ln_fwd<<<N, ROW_THREADS>>>(out, mean, rstd, inp, weight, bias, C, eps);
    CUDA_LAUNCHED();
}

extern "C" void cuda_layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                                        const real *weight, const real *mean, const real *rstd, int N, int C)
{
    if (dinp) {
        k_ln_bwd_x<<<N, ROW_THREADS>>>(dinp, dout, inp, weight, mean, rstd, C);
        CUDA_LAUNCHED();
    }
    if (!dweight && !dbias)
        return;
    int chunks = (N + LN_CHUNK - 1) / LN_CHUNK;
    float *pw = (float *)cuda_scratch(2 * (size_t)chunks * C * sizeof(float)), *pb = pw + (size_t)chunks * C;
    k_ln_bwd_wb_part<<<dim3((C + 63) / 64, chunks), 64>>>(pw, pb, dout, inp, mean, rstd, N, C);
    CUDA_LAUNCHED();
    k_ln_bwd_wb_sum<<<(C + 127) / 128, 128>>>(dweight, dbias, pw, pb, chunks, C);
    CUDA_LAUNCHED();
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

/* exact form: x Phi(x); d/dx = Phi(x) + x phi(x). */
__global__ static void k_gelu_erf(real *out, const real *inp, size_t n)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i];
        out[i] = 0.5f * x * (1.f + erff(x * INV_SQRT2));
    }
}

/* store: dinp is written, its old contents never read (a gradient written first) */
__global__ static void k_gelu_erf_bwd(real *dinp, const real *dout, const real *inp, size_t n, int store)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i];
        float cdf = 0.5f * (1.f + erff(x * INV_SQRT2)), pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
        const float g = dout[i] * (cdf + x * pdf);
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
extern "C" void cuda_gelu_erf_forward(real *out, const real *inp, size_t n) { LAUNCH(k_gelu_erf, n, out, inp, n); }
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
