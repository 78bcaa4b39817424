/* The LSTM recurrence (PyTorch's nn.LSTM, gate order i, f, g, o) over an input projection computed
 * beforehand for every step: per step one product h_{t-1} W_hh^T through blas_gemm, then the gates
 * and the cell update elementwise. Buffers are [B, T, width] with the batch outermost, so step t of
 * every sequence is a strided matrix of B rows that BLAS reads in place.
 *
 * Threads: only the products use them (through OpenBLAS). The elementwise loops of a step stay on
 * one thread and vectorised: a parallel region per step, between two BLAS calls whose threads spin
 * for work, made forward + backward twice as slow on 2 threads (measured at B=32, T=400, H=128 and
 * B=64, T=50, H=512), and a step's loops take microseconds. So the bits depend on the thread count
 * only through OpenBLAS. */
#include "core/kernels.h"

#include <string.h>
#include <tgmath.h>

#include "core/blas.h"
#include "core/fastexp.h"

/* e^-|x| never overflows: 1 / (1 + e) for x >= 0, e / (1 + e) below (as sigmoid_forward). */
static inline real sigm(real x)
{
    real e = exp_vec(x < 0 ? x : -x);
    real s = 1 / (1 + e);
    return x >= 0 ? s : e * s;
}

#ifdef MEMLAB_DOUBLE
static inline real tanh_v(real x) { return tanh(x); }
#else
/* tanh that vectorises (libm's tanhf is an opaque call, and the recurrence takes 3 per hidden unit
 * and step): (1 - e) / (1 + e) with e = e^-2|x| where that has no cancellation, the Taylor series
 * to x^11 for |x| < 0.35. At most 2.1 ulp from tanh over every float in [-12, 12] (libm's tanhf:
 * 2.2), odd, +-1 from |x| > 8.67 on (as tanhf) and at +-inf, NaN stays NaN. */
static inline float tanh_v(float x)
{
    const float ax = fabsf(x), x2 = x * x;
    const float e = exp_vec(-2 * ax);
    const float far = copysignf((1 - e) / (1 + e), x);
    const float near = x + x * x2 * (-1.f / 3 + x2 * (2.f / 15 + x2 * (-17.f / 315 + x2 * (62.f / 2835 +
                                                                                x2 * (-1382.f / 155925)))));
    return ax < 0.35f ? near : far;
}
#endif

/* gates_act[b,t] holds (i, f, g, o) after their activations; c[b,t] the cell state. */
void lstm_forward(real *h, real *c, real *gates_act, const real *xproj, const real *w_hh, int B, int T, int H)
{
    const size_t G = 4 * (size_t)H, ldg = (size_t)T * G, ldh = (size_t)T * H;
    memcpy(gates_act, xproj, (size_t)B * ldg * sizeof(real));
    for (int t = 0; t < T; t++) {
        real *gt = gates_act + (size_t)t * G;
        if (t > 0) /* gates_t += h_{t-1} W_hh^T: [B,4H] += [B,H] . [4H,H]^T */
            blas_gemm(0, 1, B, (int)G, H, 1, h + (size_t)(t - 1) * H, (int)ldh, w_hh, H, 1, gt, (int)ldg);
        for (int b = 0; b < B; b++) {
            real *restrict a = gt + (size_t)b * ldg;
            real *restrict ct = c + (size_t)b * ldh + (size_t)t * H;
            real *restrict ht = h + (size_t)b * ldh + (size_t)t * H;
            const real *cp = t > 0 ? ct - H : NULL;
#pragma omp simd
            for (int j = 0; j < 2 * H; j++) /* i and f */
                a[j] = sigm(a[j]);
#pragma omp simd
            for (int j = 3 * H; j < 4 * H; j++) /* o */
                a[j] = sigm(a[j]);
#pragma omp simd
            for (int j = 2 * H; j < 3 * H; j++) /* g */
                a[j] = tanh_v(a[j]);
#pragma omp simd
            for (int j = 0; j < H; j++) {
                const real i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                const real cj = (cp ? f * cp[j] : 0) + i * g;
                ct[j] = cj;
                ht[j] = o * tanh_v(cj);
            }
        }
    }
}

/* Reverse time with carries dh_rec = dgates_{t+1} W_hh and dc (scratch: B*T*4H + 2*B*H reals; the
 * first B*T*4H hold the gate gradients dgates, which are also d(xproj)). Per step, with
 * tc = tanh(c_t) and dh = dh_t + dh_rec:
 *   do = dh tc;  dc += dh o (1 - tc^2);  di = dc g;  dg = dc i;  df = dc c_{t-1};  dc <- dc f
 * and each gate's derivative through its activation. dW_hh += sum_t dgates_t^T h_{t-1} is one product
 * at the end over all rows (b, t >= 1): with the rows of t = 0 zeroed (h_{-1} = 0), row r of dgates
 * pairs with row r - 1 of h across batch boundaries too. */
void lstm_backward(real *dxproj, real *dw_hh, real *scratch, const real *dh, const real *h, const real *c,
                   const real *gates_act, const real *w_hh, int B, int T, int H)
{
    if (!dxproj && !dw_hh)
        return;
    const size_t G = 4 * (size_t)H, ldg = (size_t)T * G, ldh = (size_t)T * H;
    real *dgates = scratch;
    real *dh_rec = dgates + (size_t)B * ldg;
    real *dc = dh_rec + (size_t)B * H;
    memset(dh_rec, 0, 2 * (size_t)B * H * sizeof(real));
    for (int t = T - 1; t >= 0; t--) {
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)b * ldh + (size_t)t * H;
            const real *restrict a = gates_act + (size_t)b * ldg + (size_t)t * G;
            real *restrict dg = dgates + (size_t)b * ldg + (size_t)t * G;
            const real *dht = dh + row, *ct = c + row, *cp = t > 0 ? c + row - H : NULL;
            real *restrict dhr = dh_rec + (size_t)b * H, *restrict dcb = dc + (size_t)b * H;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                const real i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                const real tc = tanh_v(ct[j]);
                const real dhj = dht[j] + dhr[j];
                const real dcj = dcb[j] + dhj * o * (1 - tc * tc);
                dg[j] = dcj * g * i * (1 - i);
                dg[H + j] = cp ? dcj * cp[j] * f * (1 - f) : 0;
                dg[2 * H + j] = dcj * i * (1 - g * g);
                dg[3 * H + j] = dhj * tc * o * (1 - o);
                dcb[j] = dcj * f;
            }
        }
        if (t > 0) /* dh_rec = dgates_t W_hh: [B,H] = [B,4H] . [4H,H] */
            blas_gemm(0, 0, B, H, (int)G, 1, dgates + (size_t)t * G, (int)ldg, w_hh, H, 0, dh_rec, H);
    }
    if (dxproj)
        accumulate(dxproj, dgates, 1, (size_t)B * ldg);
    if (dw_hh && T > 1) {
        for (int b = 0; b < B; b++)
            memset(dgates + (size_t)b * ldg, 0, G * sizeof(real));
        /* [4H,H] += dgates[1:]^T . h[:-1], rows (b, t) flattened */
        blas_gemm(1, 0, (int)G, H, B * T - 1, 1, dgates + G, (int)G, h, H, 1, dw_hh, H);
    }
}
