/* The CUDA time-mixing kernels alone (lib/cuda/seq.cu) at the mosaic's GPT-2-small shape
 * (B 32, T 512, 12 heads of 64), timed with CUDA events: leaky average, look-ahead mix, RoPE, and
 * the mosaic's key and value scaling (rownorm over each head's 64 columns, exp_scale by a per-head
 * factor, and the two fused as the model runs them), forward and backward (with the per-head parameter gradients). Median of 50 calls.
 * Then LayerNorm (lib/cuda/norm_act.cu) over the B T rows of C = H hs = 768, backward with the weight
 * and bias gradients: its float4 path, and as layernorm_fallback the block-per-row kernels it falls
 * back to (forced by an input one float off a 16-byte boundary), for a comparison on the same card.
 * Output: CSV kernel,B,T,H,hs,fwd_ms,bwd_ms,fwd_GBps,bwd_GBps (bytes read + written by the forward;
 * bwd_GBps, LayerNorm's alone: its backward's least traffic, x and dy read, dx read and written).
 * Usage: seq_cuda [B, default 32] */
#include <math.h>

#include "cuda_timing.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
#include "cuda/kernels_seq_cuda.h"
}

static float *dev_fill(size_t n, float val)
{
    std::vector<float> h(n, val);
    float *d;
    CK(cudaMalloc(&d, n * sizeof(float)));
    CK(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

int main(int argc, char **argv)
{
    const int B = argc > 1 ? atoi(argv[1]) : 32, T = 512, H = 12, hs = 64;
    const size_t n = (size_t)B * T * H * hs;
    float *x = dev_fill(n, 0.5f), *y = dev_fill(n, 0.f), *dy = dev_fill(n, 0.1f), *dx = dev_fill(n, 0.f);
    float *p = dev_fill(H, 0.3f), *dp = dev_fill(H, 0.f);
    const double gb = 2.0 * n * sizeof(float) / 1e9;
    printf("kernel,B,T,H,hs,fwd_ms,bwd_ms,fwd_GBps,bwd_GBps\n");
    double f = time_ms([&] { cuda_leaky_avg_forward(y, x, p, B, T, H, hs); }, 50);
    double g = time_ms([&] { cuda_leaky_avg_backward(dx, dp, dy, y, p, B, T, H, hs, 0); }, 50);
    printf("leaky_avg,%d,%d,%d,%d,%.4f,%.4f,%.0f,\n", B, T, H, hs, f, g, gb / (f / 1e3));
    f = time_ms([&] { cuda_lookahead_mix_forward(y, x, p, B, T, H, hs); }, 50);
    g = time_ms([&] { cuda_lookahead_mix_backward(dx, dp, dy, x, p, B, T, H, hs, 0); }, 50);
    printf("lookahead_mix,%d,%d,%d,%d,%.4f,%.4f,%.0f,\n", B, T, H, hs, f, g, gb / (f / 1e3));
    f = time_ms([&] { cuda_rope_forward(y, x, B, T, H, hs, 0); }, 50);
    g = time_ms([&] { cuda_rope_backward(dx, dy, B, T, H, hs, 0); }, 50);
    printf("rope,%d,%d,%d,%d,%.4f,%.4f,%.0f,\n", B, T, H, hs, f, g, gb / (f / 1e3));
    float *nrm = dev_fill((size_t)B * T * H, 0.f);
    f = time_ms([&] { cuda_rownorm_forward(y, nrm, x, B * T * H, hs, 1e-6f); }, 50);
    g = time_ms([&] { cuda_rownorm_backward(dx, dy, y, nrm, B * T * H, hs, 1e-6f, 0); }, 50);
    printf("rownorm,%d,%d,%d,%d,%.4f,%.4f,%.0f,\n", B, T, H, hs, f, g, gb / (f / 1e3));
    float *rowdot = dev_fill((size_t)B * T * H, 0.f);
    f = time_ms([&] { cuda_rownorm_scale_forward(y, nrm, x, p, B * T, H, hs, 1e-6f, INFINITY); }, 50);
    g = time_ms([&] { cuda_rownorm_scale_backward(dx, dp, rowdot, dy, y, nrm, p, B * T, H, hs, 1e-6f, INFINITY, 0); },
                50);
    printf("rownorm_scale,%d,%d,%d,%d,%.4f,%.4f,%.0f,\n", B, T, H, hs, f, g, gb / (f / 1e3));
    f = time_ms([&] { cuda_exp_scale_forward(y, x, p, B * T, H, hs, INFINITY); }, 50);
    g = time_ms([&] { cuda_exp_scale_backward(dx, dp, dy, x, p, B * T, H, hs, INFINITY, 0); }, 50);
    printf("exp_scale,%d,%d,%d,%d,%.4f,%.4f,%.0f,\n", B, T, H, hs, f, g, gb / (f / 1e3));
    const int N = B * T, C = H * hs;
    float *w = dev_fill(C, 1.f), *bias = dev_fill(C, 0.f), *dw = dev_fill(C, 0.f), *db = dev_fill(C, 0.f);
    float *mean = dev_fill(N, 0.f), *rstd = dev_fill(N, 0.f);
    f = time_ms([&] { cuda_layernorm_forward(y, mean, rstd, x, w, bias, N, C, 1e-5f); }, 50);
    g = time_ms([&] { cuda_layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, C); }, 50);
    printf("layernorm,%d,%d,%d,%d,%.4f,%.4f,%.0f,%.0f\n", B, T, H, hs, f, g, gb / (f / 1e3), 2 * gb / (g / 1e3));
    float *off = dev_fill(n + 1, 0.5f);
    f = time_ms([&] { cuda_layernorm_forward(y, mean, rstd, off + 1, w, bias, N, C, 1e-5f); }, 50);
    g = time_ms([&] { cuda_layernorm_backward(dx, dw, db, dy, off + 1, w, mean, rstd, N, C); }, 50);
    printf("layernorm_fallback,%d,%d,%d,%d,%.4f,%.4f,%.0f,%.0f\n", B, T, H, hs, f, g, gb / (f / 1e3),
           2 * gb / (g / 1e3));
    for (float *q : {x, y, dy, dx, p, dp, nrm, rowdot, w, bias, dw, db, mean, rstd, off})
        CK(cudaFree(q));
    return 0;
}
