/* Losses on the GPU: fused softmax + cross-entropy, (clipped) MSE, and the sum behind op_sum and
 * op_mean. Each writes its scalar to memory the caller names (device or pinned), never returning it:
 * the host reads the loss once, when it logs it. */
#include "cuda/cuda_ctx.h"
#include "cuda/reduce.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
}

#define ROW_THREADS 256

/* One block per row, one pass over its logits: each thread keeps a running max and the sum of
 * exponentials below it (rescaled when the max moves), the block combines them; the row's
 * log-sum-exp goes to lse (the backward pass recomputes the probabilities from it and the logits,
 * so no [N, V] probabilities are stored: 3.3 GB at vocabulary 50,304 and 16,384 rows) and its loss
 * lse - x[target] (0 for an ignored row) to rowloss, in double as the CPU sums it. */
__global__ static void k_xent_rows(double *rowloss, real *lse, const real *logits, const int *targets, int V,
                                   int ignore)
{
    const real *x = logits + (size_t)blockIdx.x * V;
    float m = -INFINITY, s = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const float xi = x[i];
        if (xi > m) {
            s = s * expf(m - xi) + 1;   /* expf(-inf) = 0 for the first element */
            m = xi;
        } else {
            s += expf(xi - m);
        }
    }
    const float mx = block_max(m);
    const float sum = block_sum(s > 0 ? s * expf(m - mx) : 0.f);
    if (threadIdx.x == 0) {
        const int t = targets[blockIdx.x];
        const double l = (double)mx + log((double)sum);
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
