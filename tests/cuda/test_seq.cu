/* The CUDA sequence kernels of lib/cuda/seq.cu against their CPU twins (core/kernels_time.c,
 * kernels_rope.c, kernels_norm.c) on random inputs, forward and backward, odd shapes included.
 * Gradients start from random values (accumulation is checked) and parameter gradients from a
 * random value too.
 *
 * Tolerances (fp32; error = max |gpu - cpu| / max |cpu| over a tensor): 1e-5 everywhere. The
 * elementwise kernels and the scans do the CPU's arithmetic in the CPU's order (up to fused
 * multiply-adds); the parameter gradients are double sums in another order, rounded to float once. */
#include "seq_test.h"

extern "C" {
#include "core/kernels.h"
#include "cuda/kernels_seq_cuda.h"
}

#define TOL 1e-5

/* Per-head parameters with the awkward values in front: theta 0 (no derivative, zero subgradient),
 * a negative theta, then random ones. */
static std::vector<float> leak_params(int H)
{
    std::vector<float> th = rand_vec(H, -2.f, 2.f);
    th[0] = 0.f;
    if (H > 1)
        th[1] = -0.7f;
    return th;
}

/* A backward that stores its gradient (written first, core/tape.h) on the CPU and on the GPU, each
 * into n NaNs that must never be read, the results against each other. cpu(dst) and gpu(dst) call
 * the two kernels with the store flag set. */
template <class Cpu, class Gpu>
static void check_store(const char *name, size_t n, Cpu cpu, Gpu gpu)
{
    std::vector<float> want(n, NAN);
    float *got = dup(want);
    cpu(want.data());
    gpu(got);
    check_vec(name, back(got, n), want, TOL);
    dfree(got);
}

static void check_time(int B, int T, int H, int hs)
{
    char name[120];
    const size_t n = (size_t)B * T * H * hs;
    std::vector<float> x = rand_vec(n), dy = rand_vec(n), dx0 = rand_vec(n), th = leak_params(H);
    std::vector<float> dth0 = rand_vec(H), c = rand_vec(H, 0.f, 1.f), dc0 = rand_vec(H);

    /* leaky average */
    std::vector<float> y(n), dx = dx0, dth = dth0;
    leaky_avg_forward(y.data(), x.data(), th.data(), B, T, H, hs);
    leaky_avg_backward(dx.data(), dth.data(), dy.data(), y.data(), th.data(), B, T, H, hs, 0);
    float *x_ = dup(x), *dy_ = dup(dy), *th_ = dup(th), *y_ = dup(std::vector<float>(n, NAN));
    float *dx_ = dup(dx0), *dth_ = dup(dth0);
    cuda_leaky_avg_forward(y_, x_, th_, B, T, H, hs);
    cuda_leaky_avg_backward(dx_, dth_, dy_, y_, th_, B, T, H, hs, 0);
    snprintf(name, sizeof name, "leaky_avg B%d T%d H%d hs%d forward", B, T, H, hs);
    check_vec(name, back(y_, n), y, TOL);
    snprintf(name, sizeof name, "leaky_avg B%d T%d H%d hs%d dinp", B, T, H, hs);
    check_vec(name, back(dx_, n), dx, TOL);
    snprintf(name, sizeof name, "leaky_avg B%d T%d H%d hs%d dtheta", B, T, H, hs);
    check_vec(name, back(dth_, H), dth, TOL);

    /* look-ahead mix */
    std::vector<float> z(n), dx2 = dx0, dc = dc0;
    lookahead_mix_forward(z.data(), x.data(), c.data(), B, T, H, hs);
    lookahead_mix_backward(dx2.data(), dc.data(), dy.data(), x.data(), c.data(), B, T, H, hs, 0);
    float *c_ = dup(c), *z_ = dup(std::vector<float>(n, NAN)), *dx2_ = dup(dx0), *dc_ = dup(dc0);
    cuda_lookahead_mix_forward(z_, x_, c_, B, T, H, hs);
    cuda_lookahead_mix_backward(dx2_, dc_, dy_, x_, c_, B, T, H, hs, 0);
    snprintf(name, sizeof name, "lookahead_mix B%d T%d H%d hs%d forward", B, T, H, hs);
    check_vec(name, back(z_, n), z, TOL);
    snprintf(name, sizeof name, "lookahead_mix B%d T%d H%d hs%d dinp", B, T, H, hs);
    check_vec(name, back(dx2_, n), dx2, TOL);
    snprintf(name, sizeof name, "lookahead_mix B%d T%d H%d hs%d dc", B, T, H, hs);
    check_vec(name, back(dc_, H), dc, TOL);

    /* the NULL gradients are skipped: dtheta alone, dinp alone */
    std::vector<float> dth2 = dth0;
    leaky_avg_backward(NULL, dth2.data(), dy.data(), y.data(), th.data(), B, T, H, hs, 0);
    float *dth2_ = dup(dth0);
    cuda_leaky_avg_backward(NULL, dth2_, dy_, y_, th_, B, T, H, hs, 0);
    cuda_lookahead_mix_backward(NULL, NULL, dy_, x_, c_, B, T, H, hs, 0);
    snprintf(name, sizeof name, "leaky_avg B%d T%d H%d hs%d dtheta without dinp", B, T, H, hs);
    check_vec(name, back(dth2_, H), dth2, TOL);
    std::vector<float> dc2 = dc0;
    lookahead_mix_backward(NULL, dc2.data(), dy.data(), x.data(), c.data(), B, T, H, hs, 0);
    float *dc2_ = dup(dc0);
    cuda_lookahead_mix_backward(NULL, dc2_, dy_, x_, c_, B, T, H, hs, 0);
    snprintf(name, sizeof name, "lookahead_mix B%d T%d H%d hs%d dc without dinp", B, T, H, hs);
    check_vec(name, back(dc2_, H), dc2, TOL);

    snprintf(name, sizeof name, "leaky_avg B%d T%d H%d hs%d dinp store", B, T, H, hs);
    check_store(
        name, n, [&](float *d) { leaky_avg_backward(d, NULL, dy.data(), y.data(), th.data(), B, T, H, hs, 1); },
        [&](float *d) { cuda_leaky_avg_backward(d, NULL, dy_, y_, th_, B, T, H, hs, 1); });
    snprintf(name, sizeof name, "lookahead_mix B%d T%d H%d hs%d dinp store", B, T, H, hs);
    check_store(
        name, n, [&](float *d) { lookahead_mix_backward(d, NULL, dy.data(), x.data(), c.data(), B, T, H, hs, 1); },
        [&](float *d) { cuda_lookahead_mix_backward(d, NULL, dy_, x_, c_, B, T, H, hs, 1); });

    for (float *p : {x_, dy_, th_, y_, dx_, dth_, c_, z_, dx2_, dc_, dth2_, dc2_})
        dfree(p);
}

static void check_rope(int B, int T, int H, int hs, int pos0)
{
    char name[120];
    const size_t n = (size_t)B * T * H * hs;
    std::vector<float> x = rand_vec(n), dy = rand_vec(n), dx0 = rand_vec(n), y(n), dx = dx0;
    rope_forward(y.data(), x.data(), B, T, H, hs, pos0);
    rope_backward(dx.data(), dy.data(), B, T, H, hs, pos0);
    float *x_ = dup(x), *dy_ = dup(dy), *y_ = dup(std::vector<float>(n, NAN)), *dx_ = dup(dx0);
    cuda_rope_forward(y_, x_, B, T, H, hs, pos0);
    cuda_rope_backward(dx_, dy_, B, T, H, hs, pos0);
    snprintf(name, sizeof name, "rope B%d T%d H%d hs%d pos0 %d forward", B, T, H, hs, pos0);
    check_vec(name, back(y_, n), y, TOL);
    snprintf(name, sizeof name, "rope B%d T%d H%d hs%d pos0 %d dinp", B, T, H, hs, pos0);
    check_vec(name, back(dx_, n), dx, TOL);
    for (float *p : {x_, dy_, y_, dx_})
        dfree(p);
}

/* tiny: row 1 is below eps (the constant-denominator branch); its gradient, dy / eps, then
 * dominates the tensor's scale, so the other shapes leave it out to hold the ordinary rows to TOL. */
static void check_rownorm(int N, int C, int tiny)
{
    char name[120];
    const float eps = 1e-6f;
    const size_t n = (size_t)N * C;
    std::vector<float> x = rand_vec(n), dy = rand_vec(n), dx0 = rand_vec(n), y(n), nrm(N), dx = dx0;
    for (int i = 0; i < C; i++)
        if (tiny && N > 1)
            x[(size_t)C + i] = 1e-9f;
    rownorm_forward(y.data(), nrm.data(), x.data(), N, C, eps);
    rownorm_backward(dx.data(), dy.data(), y.data(), nrm.data(), N, C, eps, 0);
    float *x_ = dup(x), *dy_ = dup(dy), *y_ = dup(std::vector<float>(n, NAN)), *nrm_ = dup(std::vector<float>(N));
    float *dx_ = dup(dx0);
    cuda_rownorm_forward(y_, nrm_, x_, N, C, eps);
    cuda_rownorm_backward(dx_, dy_, y_, nrm_, N, C, eps, 0);
    snprintf(name, sizeof name, "rownorm N%d C%d%s forward", N, C, tiny ? " tiny row" : "");
    check_vec(name, back(y_, n), y, TOL);
    snprintf(name, sizeof name, "rownorm N%d C%d%s norms", N, C, tiny ? " tiny row" : "");
    check_vec(name, back(nrm_, N), nrm, TOL);
    snprintf(name, sizeof name, "rownorm N%d C%d%s dinp", N, C, tiny ? " tiny row" : "");
    check_vec(name, back(dx_, n), dx, TOL);
    snprintf(name, sizeof name, "rownorm N%d C%d%s dinp store", N, C, tiny ? " tiny row" : "");
    check_store(
        name, n, [&](float *d) { rownorm_backward(d, dy.data(), y.data(), nrm.data(), N, C, eps, 1); },
        [&](float *d) { cuda_rownorm_backward(d, dy_, y_, nrm_, N, C, eps, 1); });
    for (float *p : {x_, dy_, y_, nrm_, dx_})
        dfree(p);
}

static void check_exp_scale(int N, int G, int D)
{
    char name[120];
    const float cap = 5.f;
    const size_t n = (size_t)N * G * D;
    std::vector<float> x = rand_vec(n), dy = rand_vec(n), dx0 = rand_vec(n), y(n), dx = dx0;
    std::vector<float> p = rand_vec(G, -1.f, 3.f), dp0 = rand_vec(G), dp = dp0;
    p[0] = 6.f;   /* above the cap: constant scale, no gradient */
    if (G > 1)
        p[1] = cap;   /* at the cap: p < cap is false, as on the CPU */
    exp_scale_forward(y.data(), x.data(), p.data(), N, G, D, cap);
    exp_scale_backward(dx.data(), dp.data(), dy.data(), x.data(), p.data(), N, G, D, cap, 0);
    float *x_ = dup(x), *dy_ = dup(dy), *y_ = dup(std::vector<float>(n, NAN)), *p_ = dup(p), *dx_ = dup(dx0);
    float *dp_ = dup(dp0);
    cuda_exp_scale_forward(y_, x_, p_, N, G, D, cap);
    cuda_exp_scale_backward(dx_, dp_, dy_, x_, p_, N, G, D, cap, 0);
    snprintf(name, sizeof name, "exp_scale N%d G%d D%d forward", N, G, D);
    check_vec(name, back(y_, n), y, TOL);
    snprintf(name, sizeof name, "exp_scale N%d G%d D%d dinp", N, G, D);
    check_vec(name, back(dx_, n), dx, TOL);
    snprintf(name, sizeof name, "exp_scale N%d G%d D%d dp", N, G, D);
    check_vec(name, back(dp_, G), dp, TOL);
    snprintf(name, sizeof name, "exp_scale N%d G%d D%d dp without dinp", N, G, D);
    float *dp2_ = dup(dp0);
    cuda_exp_scale_backward(NULL, dp2_, dy_, x_, p_, N, G, D, cap, 0);
    check_vec(name, back(dp2_, G), dp, TOL);
    dfree(dp2_);
    snprintf(name, sizeof name, "exp_scale N%d G%d D%d dinp store", N, G, D);
    check_store(
        name, n, [&](float *d) { exp_scale_backward(d, NULL, dy.data(), x.data(), p.data(), N, G, D, cap, 1); },
        [&](float *d) { cuda_exp_scale_backward(d, NULL, dy_, x_, p_, N, G, D, cap, 1); });
    for (float *q : {x_, dy_, y_, p_, dx_, dp_})
        dfree(q);
}

/* The fused rownorm and exp_scale against the CPU's; tiny: row 1 below eps (as check_rownorm). */
static void check_rownorm_scale(int N, int G, int D, int tiny)
{
    char name[120];
    const float cap = 5.f, eps = 1e-6f;
    const size_t rows = (size_t)N * G, n = rows * D;
    std::vector<float> x = rand_vec(n), dy = rand_vec(n), dx0 = rand_vec(n), y(n), nrm(rows), dx = dx0;
    std::vector<float> p = rand_vec(G, -1.f, 3.f), dp0 = rand_vec(G), dp = dp0, rowdot(rows);
    p[0] = 6.f;   /* above the cap: constant scale, no gradient */
    if (G > 1)
        p[1] = cap;   /* at the cap: p < cap is false, as on the CPU */
    for (int i = 0; i < D; i++)
        if (tiny && rows > 1)
            x[(size_t)D + i] = 1e-9f;
    rownorm_scale_forward(y.data(), nrm.data(), x.data(), p.data(), N, G, D, eps, cap);
    rownorm_scale_backward(dx.data(), dp.data(), rowdot.data(), dy.data(), y.data(), nrm.data(), p.data(), N, G, D,
                           eps, cap, 0);
    float *x_ = dup(x), *dy_ = dup(dy), *y_ = dup(std::vector<float>(n, NAN)), *p_ = dup(p), *dx_ = dup(dx0);
    float *dp_ = dup(dp0), *nrm_ = dup(std::vector<float>(rows, NAN)), *rd_ = dup(std::vector<float>(rows, NAN));
    cuda_rownorm_scale_forward(y_, nrm_, x_, p_, N, G, D, eps, cap);
    cuda_rownorm_scale_backward(dx_, dp_, rd_, dy_, y_, nrm_, p_, N, G, D, eps, cap, 0);
    const char *t = tiny ? " tiny row" : "";
    snprintf(name, sizeof name, "rownorm_scale N%d G%d D%d%s forward", N, G, D, t);
    check_vec(name, back(y_, n), y, TOL);
    snprintf(name, sizeof name, "rownorm_scale N%d G%d D%d%s norms", N, G, D, t);
    check_vec(name, back(nrm_, rows), nrm, TOL);
    snprintf(name, sizeof name, "rownorm_scale N%d G%d D%d%s dinp", N, G, D, t);
    check_vec(name, back(dx_, n), dx, TOL);
    snprintf(name, sizeof name, "rownorm_scale N%d G%d D%d%s dp", N, G, D, t);
    check_vec(name, back(dp_, G), dp, TOL);
    snprintf(name, sizeof name, "rownorm_scale N%d G%d D%d%s dinp store (without dp)", N, G, D, t);
    check_store(
        name, n,
        [&](float *d) {
            rownorm_scale_backward(d, NULL, NULL, dy.data(), y.data(), nrm.data(), p.data(), N, G, D, eps, cap, 1);
        },
        [&](float *d) { cuda_rownorm_scale_backward(d, NULL, NULL, dy_, y_, nrm_, p_, N, G, D, eps, cap, 1); });
    for (float *q : {x_, dy_, y_, p_, dx_, dp_, nrm_, rd_})
        dfree(q);
}

/* Rows read and written through pointers one float off a 16-byte boundary (a view at any float):
 * the row kernels' scalar path at a D (64) that otherwise takes float4s, against the CPU. */
static void check_rows_misaligned(int N, int G, int D)
{
    const float cap = 5.f, eps = 1e-6f;
    const size_t rows = (size_t)N * G, n = rows * D;
    std::vector<float> x = rand_vec(n + 1), dy = rand_vec(n + 1), p = rand_vec(G, -1.f, 3.f);
    std::vector<float> y(n), nrm(rows), rowdot(rows), dx(n), dp(G, 0.f), ye(n), dxe(n), dpe(G, 0.f);
    rownorm_scale_forward(y.data(), nrm.data(), x.data() + 1, p.data(), N, G, D, eps, cap);
    rownorm_scale_backward(dx.data(), dp.data(), rowdot.data(), dy.data() + 1, y.data(), nrm.data(), p.data(), N, G,
                           D, eps, cap, 1);
    exp_scale_forward(ye.data(), x.data() + 1, p.data(), N, G, D, cap);
    exp_scale_backward(dxe.data(), dpe.data(), dy.data() + 1, x.data() + 1, p.data(), N, G, D, cap, 1);
    const std::vector<float> nan1(n + 1, NAN), zeros(G, 0.f);
    float *x_ = dup(x), *dy_ = dup(dy), *p_ = dup(p), *y_ = dup(nan1), *dx_ = dup(nan1), *ye_ = dup(nan1);
    float *dxe_ = dup(nan1), *dp_ = dup(zeros), *dpe_ = dup(zeros), *nrm_ = dup(std::vector<float>(rows, NAN));
    float *rd_ = dup(std::vector<float>(rows, NAN));
    cuda_rownorm_scale_forward(y_ + 1, nrm_, x_ + 1, p_, N, G, D, eps, cap);
    cuda_rownorm_scale_backward(dx_ + 1, dp_, rd_, dy_ + 1, y_ + 1, nrm_, p_, N, G, D, eps, cap, 1);
    cuda_exp_scale_forward(ye_ + 1, x_ + 1, p_, N, G, D, cap);
    cuda_exp_scale_backward(dxe_ + 1, dpe_, dy_ + 1, x_ + 1, p_, N, G, D, cap, 1);
    check_vec("rownorm_scale misaligned forward", back(y_ + 1, n), y, TOL);
    check_vec("rownorm_scale misaligned dinp", back(dx_ + 1, n), dx, TOL);
    check_vec("rownorm_scale misaligned dp", back(dp_, G), dp, TOL);
    check_vec("exp_scale misaligned forward", back(ye_ + 1, n), ye, TOL);
    check_vec("exp_scale misaligned dinp", back(dxe_ + 1, n), dxe, TOL);
    check_vec("exp_scale misaligned dp", back(dpe_, G), dpe, TOL);
    for (float *q : {x_, dy_, p_, y_, dx_, ye_, dxe_, dp_, dpe_, nrm_, rd_})
        dfree(q);
}

int main(void)
{
    seq_open();
    check_time(2, 37, 3, 16);
    check_time(3, 129, 2, 64);
    check_time(4, 513, 5, 7);
    check_time(2, 1000, 12, 64);
    check_time(1, 1, 2, 3);
    check_rope(2, 37, 3, 16, 0);
    check_rope(2, 100, 2, 64, 123);
    check_rope(1, 65, 1, 128, 4000);
    check_rope(3, 9, 5, 2, 7);
    check_rownorm(37, 64, 1);
    check_rownorm(37, 64, 0);
    check_rownorm(100, 3, 0);
    check_rownorm(1000, 768, 0);
    check_exp_scale(50, 6, 7);
    check_exp_scale(4096, 12, 64);
    check_rownorm_scale(50, 6, 7, 0);
    check_rownorm_scale(37, 2, 64, 1);
    check_rownorm_scale(4096, 12, 64, 0);
    /* the float4 row kernels at each lane count: D 4 (1 lane a row), 8 (2, with a tiny row), 12 (4,
     * one lane idle), 256 (32 lanes, two vectors each) */
    check_rownorm_scale(301, 1, 4, 0);
    check_rownorm_scale(300, 3, 8, 1);
    check_exp_scale(300, 5, 12);
    check_rownorm_scale(50, 3, 256, 0);
    check_rows_misaligned(97, 3, 64);
    return seq_exit();
}
