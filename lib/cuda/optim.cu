/* The optimiser's loops over the whole parameter store on the GPU: fused AdamW (one kernel for every
 * tensor, decay flags from a per-element mask built once), the global gradient norm and clipping,
 * all without the host reading a value. */
#include "cuda/reduce.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
}

/* As adamw_step on the CPU (core/optim.c), in double per element. clip_scale (NULL: none) multiplies
 * each gradient in real as it is read: the value k_scale_inplace would have stored (adamw_step_clipped). */
__global__ static void k_adamw(real *p, const real *g, real *m, real *v, const unsigned char *decay, size_t n,
                               double lr, double b1, double b2, double eps, double wd, double bc1, double bc2,
                               const real *clip_scale)
{
    const real cs = clip_scale ? *clip_scale : (real)1;
    GRID_STRIDE(j, n)
    {
        double gj = (double)(g[j] * cs);
        double mj = b1 * m[j] + (1.0 - b1) * gj;
        double vj = b2 * v[j] + (1.0 - b2) * gj * gj;
        m[j] = (real)mj;
        v[j] = (real)vj;
        double update = (mj / bc1) / (sqrt(vj / bc2) + eps);
        double dec = decay[j] ? lr * wd : 0.0;
        p[j] = (real)(p[j] - dec * p[j] - lr * update);
    }
}

extern "C" void cuda_adamw_step(real *p, const real *g, real *m, real *v, const unsigned char *decay_mask, size_t n,
                                double lr, double b1, double b2, double eps, double wd, double bc1, double bc2,
                                const real *clip_scale)
{
    LAUNCH(k_adamw, n, p, g, m, v, decay_mask, n, lr, b1, b2, eps, wd, bc1, bc2, clip_scale);
}

__global__ static void k_norm_scale(double *norm, real *scale, const double *sumsq, double max_norm)
{
    double nv = sqrt(*sumsq);
    *norm = nv;
    *scale = max_norm > 0 && nv > max_norm && isfinite(nv) ? (real)(max_norm / nv) : (real)1;
}

extern "C" void cuda_grad_norm(double *norm, real *scale, const real *g, size_t n, double max_norm)
{
    double *s = reduce_sum(g, n, reduce_sq());
    k_norm_scale<<<1, 1>>>(norm, scale, s, max_norm);
    CUDA_LAUNCHED();
}

__global__ static void k_scale_inplace(real *x, size_t n, const real *scale, real mult)
{
    real s = *scale * mult;
    if (s == 1)
        return;
    GRID_STRIDE(i, n) x[i] *= s;
}

extern "C" void cuda_scale_inplace(real *x, size_t n, const real *scale, real mult)
{
    LAUNCH(k_scale_inplace, n, x, n, scale, mult);
}
