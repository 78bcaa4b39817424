/* The optimiser's loops over the whole parameter store on the GPU: fused AdamW (one kernel for every
 * tensor, decay flags from a per-element mask built once), the global gradient norm and clipping,
 * all without the host reading a value. */
#include "cuda/reduce.cuh"

extern "C" {
#include "cuda/kernels_cuda.h"
}

/* As adamw_step on the CPU (core/optim.c), in double per element. cs multiplies the gradient in
 * real as it is read: the value k_scale_inplace would have stored (adamw_step_clipped). */
__device__ __forceinline__ static void adamw_one(real &p, real g, real &m, real &v, unsigned char decay, double lr,
                                                 double b1, double b2, double eps, double wd, double bc1, double bc2,
                                                 real cs)
{
    double gj = (double)(g * cs);
    double mj = b1 * m + (1.0 - b1) * gj;
    double vj = b2 * v + (1.0 - b2) * gj * gj;
    m = (real)mj;
    v = (real)vj;
    double update = (mj / bc1) / (sqrt(vj / bc2) + eps);
    double dec = decay ? lr * wd : 0.0;
    p = (real)(p - dec * p - lr * update);
}

__global__ static void k_adamw(real *p, const real *g, real *m, real *v, const unsigned char *decay, size_t n,
                               double lr, double b1, double b2, double eps, double wd, double bc1, double bc2,
                               const real *clip_scale)
{
    const real cs = clip_scale ? *clip_scale : (real)1;
    GRID_STRIDE(j, n) adamw_one(p[j], g[j], m[j], v[j], decay[j], lr, b1, b2, eps, wd, bc1, bc2, cs);
}

/* Four elements a thread with 16-byte loads and stores (the step moves 29 bytes a parameter: 3.6 GB
 * at GPT-2-small, where the one-element kernel ran at about 70% of the memory's speed); the same
 * arithmetic element by element. */
__global__ static void k_adamw_4(float4 *p, const float4 *g, float4 *m, float4 *v, const uchar4 *decay, size_t n4,
                                 double lr, double b1, double b2, double eps, double wd, double bc1, double bc2,
                                 const real *clip_scale)
{
    const real cs = clip_scale ? *clip_scale : (real)1;
    GRID_STRIDE(j, n4)
    {
        float4 pj = p[j], mj = m[j], vj = v[j];
        const float4 gj = g[j];
        const uchar4 dj = decay[j];
        adamw_one(pj.x, gj.x, mj.x, vj.x, dj.x, lr, b1, b2, eps, wd, bc1, bc2, cs);
        adamw_one(pj.y, gj.y, mj.y, vj.y, dj.y, lr, b1, b2, eps, wd, bc1, bc2, cs);
        adamw_one(pj.z, gj.z, mj.z, vj.z, dj.z, lr, b1, b2, eps, wd, bc1, bc2, cs);
        adamw_one(pj.w, gj.w, mj.w, vj.w, dj.w, lr, b1, b2, eps, wd, bc1, bc2, cs);
        p[j] = pj;
        m[j] = mj;
        v[j] = vj;
    }
}

extern "C" void cuda_adamw_step(real *p, const real *g, real *m, real *v, const unsigned char *decay_mask, size_t n,
                                double lr, double b1, double b2, double eps, double wd, double bc1, double bc2,
                                const real *clip_scale)
{
    if (n % 4 == 0 && aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v) && ((uintptr_t)decay_mask & 3) == 0)
        LAUNCH(k_adamw_4, n / 4, (float4 *)p, (const float4 *)g, (float4 *)m, (float4 *)v, (const uchar4 *)decay_mask,
               n / 4, lr, b1, b2, eps, wd, bc1, bc2, clip_scale);
    else
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
