/* Every dense CUDA kernel against its CPU kernel on random inputs, forward and backward. Backward
 * kernels start from nonzero gradients, so that accumulation (+=) is checked too.
 *
 * Tolerances (|gpu - cpu| <= atol + rtol |cpu|): elementwise kernels 1e-6 / 1e-5 (float rounding
 * and the GPU's own exp/erf/tanh); reductions over rows or columns (layernorm, softmax, losses,
 * linears, embedding sums) 1e-5 / 1e-4: the GPU adds in another order than the CPU. The bf16
 * linears (bf16 operands, fp32 accumulation) against the fp32 CPU: within 1% of the result's
 * largest magnitude (bf16 keeps 8 significant bits: 0.4% per operand). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "cuda/cuda_ctx.h"
#include "cuda/kernels_cuda.h"
#include "harness.h"

#define EW_ATOL 1e-6
#define EW_RTOL 1e-5
#define RED_ATOL 1e-5
#define RED_RTOL 1e-4

static rng R;

/* A random host buffer and its device copy. */
typedef struct {
    real *h, *d;
    size_t n;
} buf;

static buf rnd(size_t n, double lo, double hi)
{
    buf b = {th_random(n, &R, lo, hi), NULL, n};
    b.d = th_upload(b.h, n);
    return b;
}

static void buf_free(buf *b)
{
    free(b->h);
    th_free_dev(b->d);
}

static int check(const char *name, buf *b, double atol, double rtol)
{
    return th_check_dev(name, b->d, b->h, b->n, atol, rtol);
}

/* n NaNs on the host (the caller frees them). */
static real *nan_filled(size_t n)
{
    real *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = (real)NAN;
    return h;
}

static void test_matmul(int N, int C, int OC, int with_bias)
{
    char name[96];
    buf x = rnd((size_t)N * C, -1, 1), w = rnd((size_t)OC * C, -0.5, 0.5), b = rnd(OC, -1, 1);
    buf out = rnd((size_t)N * OC, 0, 0), dout = rnd((size_t)N * OC, -1, 1);
    buf dx = rnd(x.n, -1, 1), dw = rnd(w.n, -1, 1), db = rnd(OC, -1, 1);
    matmul_forward(out.h, x.h, w.h, with_bias ? b.h : NULL, N, C, OC);
    cuda_matmul_forward(out.d, x.d, w.d, with_bias ? b.d : NULL, N, C, OC);
    snprintf(name, sizeof name, "matmul_forward N=%d C=%d OC=%d bias=%d", N, C, OC, with_bias);
    check(name, &out, RED_ATOL, RED_RTOL);
    matmul_backward(dx.h, dw.h, with_bias ? db.h : NULL, dout.h, x.h, w.h, N, C, OC, 0);
    cuda_matmul_backward(dx.d, dw.d, with_bias ? db.d : NULL, dout.d, x.d, w.d, N, C, OC, 0);
    snprintf(name, sizeof name, "matmul_backward dinp N=%d C=%d OC=%d", N, C, OC);
    check(name, &dx, RED_ATOL, RED_RTOL);
    snprintf(name, sizeof name, "matmul_backward dweight N=%d C=%d OC=%d", N, C, OC);
    check(name, &dw, RED_ATOL * 10, RED_RTOL);
    if (with_bias) {
        snprintf(name, sizeof name, "matmul_backward dbias N=%d OC=%d", N, OC);
        check(name, &db, RED_ATOL * 10, RED_RTOL);
    }
    /* store_dinp (a gradient written first): the starting NaNs are never read */
    real *want = nan_filled(x.n), *got = th_upload(want, x.n);
    matmul_backward(want, NULL, NULL, dout.h, x.h, w.h, N, C, OC, 1);
    cuda_matmul_backward(got, NULL, NULL, dout.d, x.d, w.d, N, C, OC, 1);
    snprintf(name, sizeof name, "matmul_backward store_dinp N=%d C=%d OC=%d", N, C, OC);
    th_check_dev(name, got, want, x.n, RED_ATOL, RED_RTOL);
    free(want);
    th_free_dev(got);
    buf *all[] = {&x, &w, &b, &out, &dout, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

static double max_abs(const real *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

static void test_matmul_bf16(int N, int C, int OC)
{
    char name[96];
    buf x = rnd((size_t)N * C, -1, 1), w = rnd((size_t)OC * C, -0.5, 0.5), b = rnd(OC, -1, 1);
    buf out = rnd((size_t)N * OC, 0, 0), dout = rnd((size_t)N * OC, -1, 1);
    buf dx = rnd(x.n, -1, 1), dw = rnd(w.n, -1, 1), db = rnd(OC, -1, 1);
    uint16_t *xb = cuda_dev_alloc(x.n * 2), *wb = cuda_dev_alloc(w.n * 2), *ob = cuda_dev_alloc(out.n * 2);
    matmul_forward(out.h, x.h, w.h, b.h, N, C, OC);
    cuda_matmul_forward_bf16(out.d, xb, wb, x.d, w.d, b.d, N, C, OC);
    snprintf(name, sizeof name, "matmul_forward_bf16 N=%d C=%d OC=%d (vs fp32 cpu)", N, C, OC);
    check(name, &out, 1e-2 * max_abs(out.h, out.n), 0);
    real *dx0 = th_download(dx.d, dx.n), *dw0 = th_download(dw.d, dw.n);
    matmul_backward(dx.h, dw.h, db.h, dout.h, x.h, w.h, N, C, OC, 0);
    cuda_matmul_backward_bf16(dx.d, dw.d, db.d, ob, dout.d, xb, wb, N, C, OC, 0);
    /* the scale of the added gradient, not of the starting values */
    for (size_t i = 0; i < dx.n; i++)
        dx0[i] = dx.h[i] - dx0[i];
    for (size_t i = 0; i < dw.n; i++)
        dw0[i] = dw.h[i] - dw0[i];
    check("matmul_backward_bf16 dinp", &dx, 1e-2 * max_abs(dx0, dx.n), 0);
    check("matmul_backward_bf16 dweight", &dw, 1e-2 * max_abs(dw0, dw.n), 0);
    check("matmul_backward_bf16 dbias (fp32)", &db, RED_ATOL * 10, RED_RTOL);
    /* store_dinp: the starting NaNs are never read */
    real *want = nan_filled(x.n), *got = th_upload(want, x.n);
    matmul_backward(want, NULL, NULL, dout.h, x.h, w.h, N, C, OC, 1);
    cuda_matmul_backward_bf16(got, NULL, NULL, ob, dout.d, xb, wb, N, C, OC, 1);
    th_check_dev("matmul_backward_bf16 store_dinp", got, want, x.n, 1e-2 * max_abs(want, x.n), 0);
    free(want);
    th_free_dev(got);
    free(dx0);
    free(dw0);
    cuda_dev_free(xb);
    cuda_dev_free(wb);
    cuda_dev_free(ob);
    buf *all[] = {&x, &w, &b, &out, &dout, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

/* The product with the residual added in its epilogue (op_linear_residual): as the product and a
 * separate add, within fp32 rounding (the epilogue adds res to the accumulator before the bias), and
 * res left as it was. With and without a bias. */
static void test_matmul_bf16_res(int N, int C, int OC, int with_bias)
{
    char name[128];
    buf x = rnd((size_t)N * C, -1, 1), w = rnd((size_t)OC * C, -0.5, 0.5), b = rnd(OC, -1, 1);
    buf res = rnd((size_t)N * OC, -2, 2), out = rnd((size_t)N * OC, 0, 0), plain = rnd((size_t)N * OC, 0, 0);
    uint16_t *xb = cuda_dev_alloc(x.n * 2), *wb = cuda_dev_alloc(w.n * 2);
    const real *bias = with_bias ? b.d : NULL;
    cuda_matmul_forward_bf16(plain.d, xb, wb, x.d, w.d, bias, N, C, OC);
    cuda_add_forward(plain.d, plain.d, res.d, plain.n);
    cuda_memcopy(out.h, plain.d, out.n * sizeof *out.h);
    cuda_matmul_forward_bf16_res(out.d, xb, wb, x.d, w.d, bias, res.d, N, C, OC);
    snprintf(name, sizeof name, "matmul_forward_bf16_res N=%d C=%d OC=%d bias=%d", N, C, OC, with_bias);
    check(name, &out, 1e-5, 1e-5);
    check("matmul_forward_bf16_res: res unchanged", &res, 0, 0);
    cuda_dev_free(xb);
    cuda_dev_free(wb);
    buf *all[] = {&x, &w, &b, &res, &out, &plain};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

/* The bf16 conversion, bit for bit against round-to-nearest-even on the host: the float4 kernel (n a
 * multiple of 4, aligned), and the scalar one (n not, and a source one float off 16 bytes). */
static void test_to_bf16(size_t n, size_t off)
{
    char name[96];
    real *h = th_random(n + off, &R, -3e4, 3e4);
    h[off] = 0.f;   /* and a few values at the rounding's edges */
    if (n > 3) {
        h[off + 1] = -0.f;
        h[off + 2] = 1.00390625f;   /* 1 + 2^-8: a tie, to even (1.0) */
        h[off + 3] = 1.01171875f;   /* 1 + 3 2^-8: a tie, to even (1 + 2^-6) */
    }
    real *d = th_upload(h, n + off);
    uint16_t *db = cuda_dev_alloc((n + 1) * sizeof *db);
    cuda_to_bf16(db, d + off, n);
    uint16_t *got = malloc(n * sizeof *got);
    cuda_memcopy(got, db, n * sizeof *got);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &h[off + i], 4);
        const uint16_t want = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        bad += got[i] != want;
    }
    snprintf(name, sizeof name, "to_bf16 n=%zu offset %zu: elements off", n, off);
    th_check_scalar(name, (double)bad, 0, 0, 0);
    free(got);
    free(h);
    cuda_dev_free(db);
    th_free_dev(d);
}

static void test_bmm(void)
{
    /* batch of row-major products in all four transpose combinations against a naive loop */
    const int batch = 3, M = 17, N = 23, K = 19;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            buf a = rnd((size_t)batch * M * K, -1, 1), b = rnd((size_t)batch * K * N, -1, 1);
            buf c = rnd((size_t)batch * M * N, -1, 1);
            for (int p = 0; p < batch; p++)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            double av = ta ? a.h[(size_t)p * M * K + (size_t)k * M + i] : a.h[(size_t)p * M * K + (size_t)i * K + k];
                            double bv = tb ? b.h[(size_t)p * K * N + (size_t)j * K + k] : b.h[(size_t)p * K * N + (size_t)k * N + j];
                            s += av * bv;
                        }
                        real *cv = &c.h[(size_t)p * M * N + (size_t)i * N + j];
                        *cv = (real)(0.5 * s + 2.0 * *cv);
                    }
            cuda_bmm(c.d, a.d, b.d, batch, M, N, K, ta, tb, (long long)M * K, (long long)K * N, (long long)M * N,
                     0.5f, 2.0f);
            char name[64];
            snprintf(name, sizeof name, "bmm ta=%d tb=%d", ta, tb);
            check(name, &c, RED_ATOL, RED_RTOL);
            buf_free(&a);
            buf_free(&b);
            buf_free(&c);
        }
}

static void test_elementwise(void)
{
    const size_t n = 100000;
    buf a = rnd(n, -3, 3), b = rnd(n, -3, 3), out = rnd(n, 0, 0), da = rnd(n, -1, 1), db = rnd(n, -1, 1);
    buf dout = rnd(n, -1, 1);
    add_forward(out.h, a.h, b.h, n);
    cuda_add_forward(out.d, a.d, b.d, n);
    check("add_forward", &out, 0, 0);
    scale_forward(out.h, a.h, 0.37f, n);
    cuda_scale_forward(out.d, a.d, 0.37f, n);
    check("scale_forward", &out, 0, 0);
    accumulate(da.h, b.h, -1.5f, n);
    cuda_accumulate(da.d, b.d, -1.5f, n);
    check("accumulate", &da, EW_ATOL, EW_RTOL);
    /* the one-element path: n % 4 != 0, and an input one float off 16 bytes (a view) */
    for (int k = 0; k < 2; k++) {
        const size_t m = k ? n - 4 : 1003, o = (size_t)k;
        char name[64];
        add_forward(out.h, a.h + o, b.h, m);
        cuda_add_forward(out.d, a.d + o, b.d, m);
        snprintf(name, sizeof name, "add_forward n=%zu offset %zu", m, o);
        th_check_dev(name, out.d, out.h, m, 0, 0);
        scale_forward(out.h, a.h + o, 0.37f, m);
        cuda_scale_forward(out.d, a.d + o, 0.37f, m);
        snprintf(name, sizeof name, "scale_forward n=%zu offset %zu", m, o);
        th_check_dev(name, out.d, out.h, m, 0, 0);
        accumulate(da.h, b.h + o, 0.75f, m);
        cuda_accumulate(da.d, b.d + o, 0.75f, m);
        snprintf(name, sizeof name, "accumulate n=%zu offset %zu", m, o);
        th_check_dev(name, da.d, da.h, m, EW_ATOL, EW_RTOL);
    }
    mul_forward(out.h, a.h, b.h, n);
    cuda_mul_forward(out.d, a.d, b.d, n);
    check("mul_forward", &out, 0, 0);
    mul_backward(da.h, db.h, dout.h, a.h, b.h, n);
    cuda_mul_backward(da.d, db.d, dout.d, a.d, b.d, n);
    check("mul_backward da", &da, EW_ATOL, EW_RTOL);
    check("mul_backward db", &db, EW_ATOL, EW_RTOL);

    /* activations: forward, then backward accumulating onto da */
    struct {
        const char *name;
        void (*cf)(real *, const real *, size_t), (*gf)(real *, const real *, size_t);
        void (*cb)(real *, const real *, const real *, size_t), (*gb)(real *, const real *, const real *, size_t);
        int bwd_from_out;   /* the backward reads the output (relu, tanh, sigmoid), else the input */
    } acts[] = {
        {"gelu", gelu_forward, cuda_gelu_forward, gelu_backward, cuda_gelu_backward, 0},
        {"relu", relu_forward, cuda_relu_forward, relu_backward, cuda_relu_backward, 1},
        {"tanh", tanh_forward, cuda_tanh_forward, tanh_backward, cuda_tanh_backward, 1},
        {"sigmoid", sigmoid_forward, cuda_sigmoid_forward, sigmoid_backward, cuda_sigmoid_backward, 1},
    };
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        char name[64];
        acts[i].cf(out.h, a.h, n);
        acts[i].gf(out.d, a.d, n);
        snprintf(name, sizeof name, "%s_forward", acts[i].name);
        check(name, &out, EW_ATOL, EW_RTOL);
        const buf *src = acts[i].bwd_from_out ? &out : &a;
        acts[i].cb(da.h, dout.h, src->h, n);
        acts[i].gb(da.d, dout.d, src->d, n);
        snprintf(name, sizeof name, "%s_backward", acts[i].name);
        check(name, &da, EW_ATOL, EW_RTOL);
    }
    /* the exact GELU against erf in double */
    for (size_t i = 0; i < n; i++) {
        double x = a.h[i];
        out.h[i] = (real)(0.5 * x * (1 + erf(x / sqrt(2.0))));
        da.h[i] += (real)(dout.h[i] * (0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI)));
    }
    cuda_gelu_erf_forward(out.d, a.d, n);
    check("gelu_erf_forward (vs double erf)", &out, EW_ATOL, EW_RTOL);
    cuda_gelu_erf_backward(da.d, dout.d, a.d, n, 0);
    check("gelu_erf_backward (vs double erf)", &da, EW_ATOL, EW_RTOL);
    /* store: the starting NaNs are never read */
    real *want = nan_filled(n), *got = th_upload(want, n);
    gelu_erf_backward(want, dout.h, a.h, n, 1);
    cuda_gelu_erf_backward(got, dout.d, a.d, n, 1);
    th_check_dev("gelu_erf_backward store", got, want, n, EW_ATOL, EW_RTOL);
    free(want);
    th_free_dev(got);
    buf *all[] = {&a, &b, &out, &da, &db, &dout};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

/* Elements that differ between two device arrays of n bf16. */
static size_t bf16_diff(const uint16_t *a, const uint16_t *b, size_t n)
{
    uint16_t *ha = malloc(n * sizeof *ha), *hb = malloc(n * sizeof *hb);
    cuda_memcopy(ha, a, n * sizeof *ha);
    cuda_memcopy(hb, b, n * sizeof *hb);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += ha[i] != hb[i];
    free(ha);
    free(hb);
    return bad;
}

/* The producers that write a bf16 copy beside their output (--dtype bf16; the linear that reads it
 * skips its conversion): the output the same bits as without the copy, the copy the same bits as
 * cuda_to_bf16 of the output. LayerNorm's warp path (C % 4 == 0) and its fallback (C 37); GELU's
 * float4 path (n % 4 == 0) and its scalar one. */
static void test_copy16(int N, int C)
{
    char name[128];
    const size_t n = (size_t)N * C;
    buf x = rnd(n, -2, 2), w = rnd(C, 0.5, 1.5), b = rnd(C, -1, 1), out = rnd(n, 0, 0), plain = rnd(n, 0, 0);
    buf mean = rnd(N, 0, 0), rstd = rnd(N, 0, 0);
    uint16_t *c16 = cuda_dev_alloc(n * sizeof *c16), *want16 = cuda_dev_alloc(n * sizeof *want16);
    cuda_layernorm_forward(plain.d, mean.d, rstd.d, x.d, w.d, b.d, N, C, 1e-5f);
    cuda_memcopy(plain.h, plain.d, n * sizeof *plain.h);
    cuda_layernorm_forward_copy16(out.d, c16, mean.d, rstd.d, x.d, w.d, b.d, N, C, 1e-5f);
    snprintf(name, sizeof name, "layernorm_forward with bf16 copy N=%d C=%d: out", N, C);
    th_check_dev(name, out.d, plain.h, n, 0, 0);
    cuda_to_bf16(want16, out.d, n);
    snprintf(name, sizeof name, "layernorm_forward with bf16 copy N=%d C=%d: copy's elements off", N, C);
    th_check_scalar(name, (double)bf16_diff(c16, want16, n), 0, 0, 0);
    {   /* the output in bf16 alone (op_layernorm_bf16_out): the same copy; the backward from a bf16
         * output gradient: the bits of the fp32 backward over the same rounded values, dx added onto
         * the same start */
        uint16_t *only16 = cuda_dev_alloc(n * sizeof *only16), *dy16 = cuda_dev_alloc(n * sizeof *dy16);
        cuda_layernorm_forward_copy16(NULL, only16, mean.d, rstd.d, x.d, w.d, b.d, N, C, 1e-5f);
        snprintf(name, sizeof name, "layernorm_forward bf16 alone N=%d C=%d: elements off the copy", N, C);
        th_check_scalar(name, (double)bf16_diff(only16, c16, n), 0, 0, 0);
        buf dy = rnd(n, -1, 1), dyr = rnd(n, 0, 0), dx1 = rnd(n, -1, 1), dw1 = rnd(C, -1, 1), db1 = rnd(C, -1, 1);
        buf dx2 = rnd(n, 0, 0), dw2 = rnd(C, 0, 0), db2 = rnd(C, 0, 0);
        cuda_memcopy(dx2.d, dx1.d, n * sizeof(real));
        cuda_memcopy(dw2.d, dw1.d, C * sizeof(real));
        cuda_memcopy(db2.d, db1.d, C * sizeof(real));
        cuda_to_bf16(dy16, dy.d, n);
        cuda_from_bf16(dyr.d, dy16, n);
        cuda_layernorm_backward(dx1.d, dw1.d, db1.d, dyr.d, x.d, w.d, mean.d, rstd.d, N, C);
        cuda_layernorm_backward16(dx2.d, dw2.d, db2.d, dy16, x.d, w.d, mean.d, rstd.d, N, C);
        buf *pairs[3][2] = {{&dx1, &dx2}, {&dw1, &dw2}, {&db1, &db2}};
        const char *what[3] = {"dinp", "dweight", "dbias"};
        for (int k = 0; k < 3; k++) {
            cuda_memcopy(pairs[k][0]->h, pairs[k][0]->d, pairs[k][0]->n * sizeof(real));
            snprintf(name, sizeof name, "layernorm_backward16 N=%d C=%d: %s as the fp32 backward's", N, C, what[k]);
            th_check_dev(name, pairs[k][1]->d, pairs[k][0]->h, pairs[k][0]->n, 0, 0);
        }
        buf *tmp[] = {&dy, &dyr, &dx1, &dw1, &db1, &dx2, &dw2, &db2};
        for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++)
            buf_free(tmp[i]);
        cuda_dev_free(only16);
        cuda_dev_free(dy16);
    }
    cuda_gelu_erf_forward(plain.d, x.d, n);
    cuda_memcopy(plain.h, plain.d, n * sizeof *plain.h);
    cuda_gelu_erf_forward_copy16(out.d, c16, x.d, n);
    snprintf(name, sizeof name, "gelu_erf_forward with bf16 copy n=%zu: out", n);
    th_check_dev(name, out.d, plain.h, n, 0, 0);
    cuda_to_bf16(want16, out.d, n);
    snprintf(name, sizeof name, "gelu_erf_forward with bf16 copy n=%zu: copy's elements off", n);
    th_check_scalar(name, (double)bf16_diff(c16, want16, n), 0, 0, 0);
    cuda_dev_free(c16);
    cuda_dev_free(want16);
    buf *all[] = {&x, &w, &b, &out, &plain, &mean, &rstd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

/* bf16 bits on the host as float. */
static float bf16_host(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* op_linear_gelu_erf's pieces under --dtype bf16: the product written in bf16 (against the fp32-output
 * product rounded, within one bf16 step), the GELU over it with the bias added as it reads (against
 * the host's erf on the same bf16 bits, and its copy bit for bit as cuda_to_bf16), the backward in
 * fp32 (against the host) and in bf16 (bit for bit as rounding the fp32 one), and the linear's
 * backward taking its bf16 dout as given (bit for bit as converting it there). OC % 4 == 0 takes the
 * float4 kernels, 37 the scalar ones. */
static void test_linear_gelu_bf16(int N, int C, int OC, int with_bias)
{
    char name[128];
    const size_t n = (size_t)N * OC;
    buf x = rnd((size_t)N * C, -1, 1), w = rnd((size_t)OC * C, -0.2, 0.2), b = rnd(OC, -0.5, 0.5);
    buf out = rnd(n, 0, 0), dout = rnd(n, -1, 1), dh = rnd(n, 0, 0), h32 = rnd(n, 0, 0);
    const real *bias = with_bias ? b.d : NULL;
    uint16_t *xb = cuda_dev_alloc(x.n * 2), *wb = cuda_dev_alloc(w.n * 2), *h16 = cuda_dev_alloc(n * 2);
    uint16_t *want16 = cuda_dev_alloc(n * 2), *c16 = cuda_dev_alloc(n * 2);
    uint16_t *hh = malloc(n * sizeof *hh), *hw = malloc(n * sizeof *hw);
    cuda_matmul_forward_bf16_out16(h16, xb, wb, x.d, w.d, NULL, N, C, OC);
    cuda_matmul_forward_bf16(h32.d, xb, wb, NULL, w.d, NULL, N, C, OC);
    cuda_to_bf16(want16, h32.d, n);
    cuda_memcopy(hh, h16, n * sizeof *hh);
    cuda_memcopy(hw, want16, n * sizeof *hw);
    size_t far = 0;
    for (size_t i = 0; i < n; i++)
        far += fabsf(bf16_host(hh[i]) - bf16_host(hw[i])) > ldexpf(fabsf(bf16_host(hw[i])), -7) + 1e-30f;
    snprintf(name, sizeof name, "matmul_forward_bf16_out16 N=%d C=%d OC=%d: elements past one bf16 step", N, C, OC);
    th_check_scalar(name, (double)far, 0, 0, 0);
    if (with_bias) {   /* op_linear_bf16_out: the bias added before the rounding (epilogue or fallback) */
        uint16_t *b16 = cuda_dev_alloc(n * 2), *hb = malloc(n * sizeof *hb);
        cuda_matmul_forward_bf16_out16(b16, xb, wb, NULL, w.d, b.d, N, C, OC);
        cuda_matmul_forward_bf16(h32.d, xb, wb, NULL, w.d, b.d, N, C, OC);
        cuda_to_bf16(want16, h32.d, n);
        cuda_memcopy(hb, b16, n * sizeof *hb);
        cuda_memcopy(hw, want16, n * sizeof *hw);
        far = 0;
        for (size_t i = 0; i < n; i++)
            far += fabsf(bf16_host(hb[i]) - bf16_host(hw[i])) > ldexpf(fabsf(bf16_host(hw[i])), -7) + 1e-30f;
        snprintf(name, sizeof name, "matmul_forward_bf16_out16 with bias N=%d OC=%d: elements past one bf16 step", N,
                 OC);
        th_check_scalar(name, (double)far, 0, 0, 0);
        free(hb);
        cuda_dev_free(b16);
    }

    for (size_t i = 0; i < n; i++) {
        const double pre = (double)bf16_host(hh[i]) + (with_bias ? b.h[i % OC] : 0);
        const double cdf = 0.5 * (1 + erf(pre / sqrt(2.0)));
        out.h[i] = (real)(pre * cdf);
        dh.h[i] = (real)(dout.h[i] * (cdf + pre * exp(-0.5 * pre * pre) / sqrt(2 * M_PI)));
    }
    cuda_gelu_erf_forward_h16(out.d, c16, h16, bias, OC, n);
    snprintf(name, sizeof name, "gelu_erf_forward_h16 N=%d OC=%d bias=%d", N, OC, with_bias);
    check(name, &out, 1e-6, 1e-5);
    cuda_to_bf16(want16, out.d, n);
    snprintf(name, sizeof name, "gelu_erf_forward_h16 N=%d OC=%d: copy's elements off", N, OC);
    th_check_scalar(name, (double)bf16_diff(c16, want16, n), 0, 0, 0);
    /* the output in bf16 alone (out NULL): the same copy */
    uint16_t *only16 = cuda_dev_alloc(n * 2);
    cuda_gelu_erf_forward_h16(NULL, only16, h16, bias, OC, n);
    snprintf(name, sizeof name, "gelu_erf_forward_h16 N=%d OC=%d: bf16 alone, elements off", N, OC);
    th_check_scalar(name, (double)bf16_diff(only16, c16, n), 0, 0, 0);
    cuda_gelu_erf_backward_h16(dh.d, NULL, dout.d, NULL, h16, bias, OC, n);
    snprintf(name, sizeof name, "gelu_erf_backward_h16 fp32 N=%d OC=%d bias=%d", N, OC, with_bias);
    check(name, &dh, 1e-6, 1e-5);
    cuda_gelu_erf_backward_h16(NULL, c16, dout.d, NULL, h16, bias, OC, n);
    cuda_to_bf16(want16, dh.d, n);
    snprintf(name, sizeof name, "gelu_erf_backward_h16 bf16 N=%d OC=%d: elements off", N, OC);
    th_check_scalar(name, (double)bf16_diff(c16, want16, n), 0, 0, 0);
    {   /* dout given in bf16 (the next linear wrote it so): bit for bit as the fp32 kernel over the
         * same rounded values */
        uint16_t *dout16 = cuda_dev_alloc(n * 2);
        /* got, not dh: dh keeps the fp32 dout's gradient, c16's source, read below */
        buf dr = rnd(n, 0, 0), dg = rnd(n, 0, 0), got = rnd(n, 0, 0);
        cuda_to_bf16(dout16, dout.d, n);
        uint16_t *hd = malloc(n * sizeof *hd);
        cuda_memcopy(hd, dout16, n * sizeof *hd);
        for (size_t i = 0; i < n; i++)
            dr.h[i] = bf16_host(hd[i]);
        cuda_memcopy(dr.d, dr.h, n * sizeof *dr.h);
        cuda_gelu_erf_backward_h16(dg.d, NULL, dr.d, NULL, h16, bias, OC, n);
        cuda_memcopy(dg.h, dg.d, n * sizeof *dg.h);
        cuda_gelu_erf_backward_h16(got.d, NULL, NULL, dout16, h16, bias, OC, n);
        snprintf(name, sizeof name, "gelu_erf_backward_h16 from bf16 dout N=%d OC=%d", N, OC);
        th_check_dev(name, got.d, dg.h, n, 0, 0);
        free(hd);
        cuda_dev_free(dout16);
        buf_free(&dr);
        buf_free(&dg);
        buf_free(&got);
    }
    cuda_dev_free(only16);

    /* the linear's backward with its bf16 dout given: the same bits as converting dh there */
    buf dx = rnd(x.n, 0, 0), dw = rnd(w.n, 0, 0), dx2 = rnd(x.n, 0, 0), dw2 = rnd(w.n, 0, 0);
    cuda_matmul_backward_bf16(dx.d, dw.d, NULL, want16, dh.d, xb, wb, N, C, OC, 1);
    cuda_matmul_backward_bf16(dx2.d, dw2.d, NULL, c16, NULL, xb, wb, N, C, OC, 1);
    cuda_memcopy(dx.h, dx.d, x.n * sizeof *dx.h);
    cuda_memcopy(dw.h, dw.d, w.n * sizeof *dw.h);
    th_check_dev("matmul_backward_bf16 with its bf16 dout given: dinp", dx2.d, dx.h, x.n, 0, 0);
    th_check_dev("matmul_backward_bf16 with its bf16 dout given: dweight", dw2.d, dw.h, w.n, 0, 0);
    {   /* the input's gradient stored in bf16 (grad16_first_write): within one bf16 step of the fp32
         * one (cuBLAS may sum in another order for a bf16 output, so an element whose terms cancel
         * gets a floor of 1e-3 of the largest), the weight's gradient the same bits */
        uint16_t *dx16 = cuda_dev_alloc(x.n * 2), *got = malloc(x.n * sizeof *got);
        buf dw3 = rnd(w.n, 0, 0);
        cuda_matmul_backward_bf16_dx16(dx16, dw3.d, NULL, c16, NULL, xb, wb, N, C, OC);
        cuda_memcopy(got, dx16, x.n * sizeof *got);
        float big = 0;
        for (size_t i = 0; i < x.n; i++)
            big = fmaxf(big, fabsf(dx.h[i]));
        size_t off = 0;
        for (size_t i = 0; i < x.n; i++) {
            const float want = dx.h[i], g = bf16_host(got[i]);
            off += fabsf(g - want) > ldexpf(fabsf(want), -7) + 1e-3f * big;
        }
        snprintf(name, sizeof name, "matmul_backward_bf16_dx16 N=%d C=%d OC=%d: dinp elements past one bf16 step", N,
                 C, OC);
        th_check_scalar(name, (double)off, 0, 0, 0);
        th_check_dev("matmul_backward_bf16_dx16: dweight", dw3.d, dw.h, w.n, 0, 0);
        free(got);
        cuda_dev_free(dx16);
        buf_free(&dw3);
    }
    free(hh);
    free(hw);
    uint16_t *bufs16[] = {xb, wb, h16, want16, c16};
    for (size_t i = 0; i < sizeof bufs16 / sizeof *bufs16; i++)
        cuda_dev_free(bufs16[i]);
    buf *all[] = {&x, &w, &b, &out, &dout, &dh, &h32, &dx, &dw, &dx2, &dw2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

static void test_rows(int N, int C)
{
    char name[96];
    buf x = rnd((size_t)N * C, -2, 2), w = rnd(C, 0.5, 1.5), b = rnd(C, -1, 1), out = rnd(x.n, 0, 0);
    buf mean = rnd(N, 0, 0), rstd = rnd(N, 0, 0), dout = rnd(x.n, -1, 1);
    buf dx = rnd(x.n, -1, 1), dw = rnd(C, -1, 1), db = rnd(C, -1, 1);
    layernorm_forward(out.h, mean.h, rstd.h, x.h, w.h, b.h, N, C, 1e-5f);
    cuda_layernorm_forward(out.d, mean.d, rstd.d, x.d, w.d, b.d, N, C, 1e-5f);
    snprintf(name, sizeof name, "layernorm_forward N=%d C=%d", N, C);
    check(name, &out, RED_ATOL, RED_RTOL);
    check("layernorm_forward mean", &mean, RED_ATOL, RED_RTOL);
    check("layernorm_forward rstd", &rstd, RED_ATOL, RED_RTOL);
    layernorm_backward(dx.h, dw.h, db.h, dout.h, x.h, w.h, mean.h, rstd.h, N, C);
    cuda_layernorm_backward(dx.d, dw.d, db.d, dout.d, x.d, w.d, mean.d, rstd.d, N, C);
    snprintf(name, sizeof name, "layernorm_backward dinp N=%d C=%d", N, C);
    check(name, &dx, RED_ATOL, RED_RTOL);
    check("layernorm_backward dweight", &dw, RED_ATOL * 10, RED_RTOL);
    check("layernorm_backward dbias", &db, RED_ATOL * 10, RED_RTOL);

    softmax_forward(out.h, x.h, N, C);
    cuda_softmax_forward(out.d, x.d, N, C);
    snprintf(name, sizeof name, "softmax_forward N=%d C=%d", N, C);
    check(name, &out, RED_ATOL, RED_RTOL);
    softmax_backward(dx.h, dout.h, out.h, N, C);
    cuda_softmax_backward(dx.d, dout.d, out.d, N, C);
    check("softmax_backward", &dx, RED_ATOL, RED_RTOL);
    buf *all[] = {&x, &w, &b, &out, &mean, &rstd, &dout, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

/* LayerNorm's optional operands: no bias, no mean and rstd, each gradient left out (NULL); then rows
 * that start off a 16-byte boundary (x + 1), which the float4 path leaves to the block-per-row
 * kernels. */
static void test_layernorm_optional(int N, int C)
{
    char name[128];
    const size_t n = (size_t)N * C;
    buf x = rnd(n + 1, -2, 2), w = rnd(C, 0.5, 1.5), out = rnd(n, 0, 0), mean = rnd(N, 0, 0), rstd = rnd(N, 0, 0);
    buf dout = rnd(n, -1, 1), dx = rnd(n, -1, 1), dw = rnd(C, -1, 1), db = rnd(C, -1, 1);
    layernorm_forward(out.h, NULL, NULL, x.h, w.h, NULL, N, C, 1e-5f);
    cuda_layernorm_forward(out.d, NULL, NULL, x.d, w.d, NULL, N, C, 1e-5f);
    snprintf(name, sizeof name, "layernorm_forward no bias, mean, rstd N=%d C=%d", N, C);
    check(name, &out, RED_ATOL, RED_RTOL);
    layernorm_forward(out.h, mean.h, rstd.h, x.h, w.h, NULL, N, C, 1e-5f);
    cuda_layernorm_forward(out.d, mean.d, rstd.d, x.d, w.d, NULL, N, C, 1e-5f);
    check("layernorm_forward no bias mean", &mean, RED_ATOL, RED_RTOL);
    check("layernorm_forward no bias rstd", &rstd, RED_ATOL, RED_RTOL);

    layernorm_backward(NULL, dw.h, db.h, dout.h, x.h, w.h, mean.h, rstd.h, N, C);
    cuda_layernorm_backward(NULL, dw.d, db.d, dout.d, x.d, w.d, mean.d, rstd.d, N, C);
    snprintf(name, sizeof name, "layernorm_backward dinp NULL: dweight N=%d C=%d", N, C);
    check(name, &dw, RED_ATOL * 10, RED_RTOL);
    check("layernorm_backward dinp NULL: dbias", &db, RED_ATOL * 10, RED_RTOL);
    layernorm_backward(dx.h, NULL, db.h, dout.h, x.h, w.h, mean.h, rstd.h, N, C);
    cuda_layernorm_backward(dx.d, NULL, db.d, dout.d, x.d, w.d, mean.d, rstd.d, N, C);
    check("layernorm_backward dweight NULL: dinp", &dx, RED_ATOL, RED_RTOL);
    check("layernorm_backward dweight NULL: dbias", &db, RED_ATOL * 10, RED_RTOL);
    layernorm_backward(dx.h, dw.h, NULL, dout.h, x.h, w.h, mean.h, rstd.h, N, C);
    cuda_layernorm_backward(dx.d, dw.d, NULL, dout.d, x.d, w.d, mean.d, rstd.d, N, C);
    check("layernorm_backward dbias NULL: dinp", &dx, RED_ATOL, RED_RTOL);
    check("layernorm_backward dbias NULL: dweight", &dw, RED_ATOL * 10, RED_RTOL);
    layernorm_backward(dx.h, NULL, NULL, dout.h, x.h, w.h, mean.h, rstd.h, N, C);
    cuda_layernorm_backward(dx.d, NULL, NULL, dout.d, x.d, w.d, mean.d, rstd.d, N, C);
    check("layernorm_backward dweight, dbias NULL: dinp", &dx, RED_ATOL, RED_RTOL);

    layernorm_forward(out.h, mean.h, rstd.h, x.h + 1, w.h, NULL, N, C, 1e-5f);
    cuda_layernorm_forward(out.d, mean.d, rstd.d, x.d + 1, w.d, NULL, N, C, 1e-5f);
    snprintf(name, sizeof name, "layernorm_forward misaligned N=%d C=%d", N, C);
    check(name, &out, RED_ATOL, RED_RTOL);
    check("layernorm_forward misaligned mean", &mean, RED_ATOL, RED_RTOL);
    check("layernorm_forward misaligned rstd", &rstd, RED_ATOL, RED_RTOL);
    layernorm_backward(dx.h, dw.h, db.h, dout.h, x.h + 1, w.h, mean.h, rstd.h, N, C);
    cuda_layernorm_backward(dx.d, dw.d, db.d, dout.d, x.d + 1, w.d, mean.d, rstd.d, N, C);
    check("layernorm_backward misaligned dinp", &dx, RED_ATOL, RED_RTOL);
    check("layernorm_backward misaligned dweight", &dw, RED_ATOL * 10, RED_RTOL);
    check("layernorm_backward misaligned dbias", &db, RED_ATOL * 10, RED_RTOL);
    buf *all[] = {&x, &w, &out, &mean, &rstd, &dout, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

static void test_embedding(void)
{
    const int N = 517, C = 96, V = 40;
    int *ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++)
        ids[i] = (int)rng_below(&R, V);   /* many repeats: the backward must add them all */
    int *dids = th_upload_ints(ids, N);
    buf table = rnd((size_t)V * C, -1, 1), out = rnd((size_t)N * C, 0, 0), dout = rnd(out.n, -1, 1);
    buf dt = rnd(table.n, -1, 1);
    embedding_forward(out.h, ids, table.h, N, C);
    cuda_embedding_forward(out.d, dids, table.d, N, C);
    check("embedding_forward", &out, 0, 0);
    embedding_backward(dt.h, dout.h, ids, N, C);
    cuda_embedding_backward(dt.d, dout.d, dids, N, C);
    check("embedding_backward (repeated ids)", &dt, 0, 0);
    /* grouped by id (the op's GPU path): one sum per id and column, then one add */
    int *order = malloc(N * sizeof *order), *seg = malloc((2 * V + 1) * sizeof *seg), nseg = 0, k = 0;
    for (int v = 0; v < V; v++) {
        int first = k;
        for (int i = 0; i < N; i++)
            if (ids[i] == v)
                order[k++] = i;
        if (k > first) {
            seg[nseg] = first;
            seg[V + 1 + nseg++] = v;
        }
    }
    seg[nseg] = N;
    int *dorder = th_upload_ints(order, N), *dbegin = th_upload_ints(seg, nseg + 1);
    int *dsegid = th_upload_ints(seg + V + 1, nseg);
    embedding_backward(dt.h, dout.h, ids, N, C);
    cuda_embedding_backward_grouped(dt.d, dout.d, dorder, dbegin, dsegid, nseg, C);
    check("embedding_backward_grouped", &dt, RED_ATOL, RED_RTOL);
    th_free_dev(dorder);
    th_free_dev(dbegin);
    th_free_dev(dsegid);
    free(order);
    free(seg);
    th_free_dev(dids);
    free(ids);
    buf_free(&table);
    buf_free(&out);
    buf_free(&dout);
    buf_free(&dt);
}

static void test_xent(int N, int V)
{
    int *tg = malloc(N * sizeof *tg);
    int count = 0;
    for (int i = 0; i < N; i++) {
        tg[i] = i % 7 == 3 ? -1 : (int)rng_below(&R, V);   /* some ignored rows */
        count += tg[i] != -1;
    }
    int *dtg = th_upload_ints(tg, N);
    buf logits = rnd((size_t)N * V, -4, 4), lse = rnd((size_t)N, 0, 0), dl = rnd(logits.n, -1, 1);
    real *probs = malloc(logits.n * sizeof *probs);
    real *loss_d = th_dev_zeros(1), dloss_h = 0.75f;
    real *dloss_d = th_upload(&dloss_h, 1);
    int cnt = 0;
    double loss = softmax_xent_forward(probs, logits.h, tg, N, V, -1, &cnt);
    for (int n = 0; n < N; n++) {   /* the GPU keeps each row's log-sum-exp: here in double */
        const real *x = logits.h + (size_t)n * V;
        double mx = x[0], s = 0;
        for (int i = 1; i < V; i++)
            mx = fmax(mx, x[i]);
        for (int i = 0; i < V; i++)
            s += exp(x[i] - mx);
        lse.h[n] = (real)(mx + log(s));
    }
    cuda_softmax_xent_forward(loss_d, lse.d, logits.d, dtg, N, V, -1, count);
    real *lg = th_download(loss_d, 1);
    char name[96];
    snprintf(name, sizeof name, "softmax_xent_forward loss N=%d V=%d", N, V);
    th_check_scalar(name, lg[0], loss, RED_ATOL, RED_RTOL);
    th_check_scalar("softmax_xent_forward count", count, cnt, 0, 0);
    check("softmax_xent_forward lse", &lse, RED_ATOL, RED_RTOL);
    softmax_xent_backward(dl.h, probs, tg, N, V, -1, cnt, dloss_h);
    cuda_softmax_xent_backward(dl.d, logits.d, lse.d, dtg, N, V, -1, count, dloss_d);
    check("softmax_xent_backward", &dl, RED_ATOL, RED_RTOL);
    free(probs);
    free(lg);
    free(tg);
    th_free_dev(dtg);
    th_free_dev(loss_d);
    th_free_dev(dloss_d);
    buf_free(&logits);
    buf_free(&lse);
    buf_free(&dl);
}

/* The fused head and loss against the CPU kernel's one chunk: fp32 within the reductions' tolerance,
 * bf16 (operands of all three products, and the logits' gradient, in bf16) within 1% of each
 * result's largest magnitude and 1e-2 relative on the loss; chunks of `rows` rows on the GPU. */
static void test_linear_xent(int N, int C, int V, int rows, int bf16)
{
    char name[128];
    int *tg = malloc(N * sizeof *tg);
    int count = 0;
    for (int i = 0; i < N; i++) {
        tg[i] = i % 5 == 2 ? -1 : (int)rng_below(&R, V);
        count += tg[i] != -1;
    }
    int *dtg = th_upload_ints(tg, N);
    const real scale = (real)0.7;
    buf x = rnd((size_t)N * C, -1, 1), w = rnd((size_t)V * C, -0.5, 0.5);
    buf dx = rnd(x.n, 0, 0), dw = rnd(w.n, 0, 0);
    real *work = malloc(2 * (size_t)N * V * sizeof *work);
    int cnt = 0;
    const double loss = linear_xent_forward(dx.h, dw.h, x.h, w.h, scale, tg, N, C, V, -1, &cnt, N, work);
    free(work);
    void *dwork = cuda_dev_alloc(cuda_linear_xent_work(N, C, V, rows, bf16));
    real *loss_d = th_dev_zeros(1);
    cuda_linear_xent_forward(loss_d, dx.d, dw.d, x.d, NULL, w.d, scale, dtg, N, C, V, -1, count, bf16, rows, dwork);
    real *lg = th_download(loss_d, 1);
    snprintf(name, sizeof name, "linear_xent loss N=%d C=%d V=%d R=%d %s", N, C, V, rows, bf16 ? "bf16" : "fp32");
    th_check_scalar(name, lg[0], loss, bf16 ? 0 : RED_ATOL, bf16 ? 1e-2 : RED_RTOL);
    th_check_scalar("linear_xent count", count, cnt, 0, 0);
    /* bf16: the logits themselves are rounded to bf16 (as under PyTorch's autocast), so each
     * probability carries its logit's rounding (up to 0.4% of the logit, here logits up to ~15);
     * emulated on the host (in double, the same roundings) the gradients' largest error is 0.54% of
     * their largest magnitude at 16 rows of 50,304, 1.06% at 128, growing with the rows sampled, where
     * rounding only the gradient gives 0.37%: hence 3% here, against the 1% of the other bf16 checks */
    const double head16 = 3e-2;
    snprintf(name, sizeof name, "linear_xent dx N=%d V=%d R=%d %s", N, V, rows, bf16 ? "bf16" : "fp32");
    check(name, &dx, bf16 ? head16 * max_abs(dx.h, dx.n) : RED_ATOL, bf16 ? 0 : RED_RTOL);
    snprintf(name, sizeof name, "linear_xent dw N=%d V=%d R=%d %s", N, V, rows, bf16 ? "bf16" : "fp32");
    check(name, &dw, bf16 ? head16 * max_abs(dw.h, dw.n) : RED_ATOL * 10, bf16 ? 0 : RED_RTOL);
    /* the loss alone: the same number, no gradient written */
    cuda_linear_xent_forward(loss_d, NULL, NULL, x.d, NULL, w.d, scale, dtg, N, C, V, -1, count, bf16, rows, dwork);
    real *lg2 = th_download(loss_d, 1);
    th_check_scalar("linear_xent loss without gradients", lg2[0], lg[0], 0, 0);
    if (bf16) {   /* x's bf16 copy from its producer: the same bits as converting x here */
        uint16_t *x16 = cuda_dev_alloc(x.n * sizeof *x16);
        cuda_to_bf16(x16, x.d, x.n);
        cuda_linear_xent_forward(loss_d, NULL, NULL, x.d, x16, w.d, scale, dtg, N, C, V, -1, count, bf16, rows,
                                 dwork);
        real *lg3 = th_download(loss_d, 1);
        th_check_scalar("linear_xent loss from x's bf16 copy", lg3[0], lg[0], 0, 0);
        free(lg3);
        cuda_dev_free(x16);
    }
    /* the backward's scaling by the loss's gradient, a device scalar */
    real alpha = (real)0.75;
    real *alpha_d = th_upload(&alpha, 1);
    buf acc = rnd(x.n, -1, 1);
    real *dxd = th_download(dx.d, dx.n);   /* the GPU's own dx, so that only the scaling is checked */
    for (size_t i = 0; i < acc.n; i++)
        acc.h[i] += alpha * dxd[i];
    cuda_accumulate_dev(acc.d, dx.d, alpha_d, acc.n);
    check("accumulate_dev", &acc, EW_ATOL, EW_RTOL);
    free(dxd);
    free(lg);
    free(lg2);
    free(tg);
    th_free_dev(dtg);
    th_free_dev(loss_d);
    th_free_dev(alpha_d);
    cuda_dev_free(dwork);
    buf *all[] = {&x, &w, &dx, &dw, &acc};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

static void test_mse_sum(void)
{
    const size_t n = 30011;
    buf p = rnd(n, -2, 2), t = rnd(n, -2, 2), dp = rnd(n, -1, 1);
    real *loss_d = th_dev_zeros(1), dloss_h = 1.25f, *dloss_d = th_upload(&dloss_h, 1);
    for (int clipped = 0; clipped < 2; clipped++) {
        real clip = clipped ? 1.0f : 0.0f;
        double l = mse_forward(p.h, t.h, n, clip);
        cuda_mse_forward(loss_d, p.d, t.d, n, clip);
        real *lg = th_download(loss_d, 1);
        th_check_scalar(clipped ? "mse_forward clip=1" : "mse_forward", lg[0], l, RED_ATOL, RED_RTOL);
        free(lg);
        mse_backward(dp.h, p.h, t.h, n, clip, dloss_h);
        cuda_mse_backward(dp.d, p.d, t.d, n, clip, dloss_d);
        check(clipped ? "mse_backward clip=1" : "mse_backward", &dp, EW_ATOL, EW_RTOL);
    }
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += p.h[i];
    cuda_sum(loss_d, p.d, n, 1.0 / (double)n);
    real *lg = th_download(loss_d, 1);
    th_check_scalar("sum (mean of 30011)", lg[0], s / (double)n, RED_ATOL, RED_RTOL);
    free(lg);
    th_free_dev(loss_d);
    th_free_dev(dloss_d);
    buf_free(&p);
    buf_free(&t);
    buf_free(&dp);
}

static void test_shape(void)
{
    const size_t outer = 37, ia = 29, ib = 13;
    buf a = rnd(outer * ia, -1, 1), b = rnd(outer * ib, -1, 1), out = rnd(outer * (ia + ib), 0, 0);
    buf dout = rnd(out.n, -1, 1), da = rnd(a.n, -1, 1), db = rnd(b.n, -1, 1);
    concat_forward(out.h, a.h, b.h, outer, ia, ib);
    cuda_concat_forward(out.d, a.d, b.d, outer, ia, ib);
    check("concat_forward", &out, 0, 0);
    concat_backward(da.h, db.h, dout.h, outer, ia, ib);
    cuda_concat_backward(da.d, db.d, dout.d, outer, ia, ib);
    check("concat_backward da", &da, 0, 0);
    check("concat_backward db", &db, 0, 0);
    buf s = rnd(outer * 7, 0, 0), ds = rnd(outer * 7, -1, 1);
    slice_forward(s.h, a.h, outer, ia, 5, 7);
    cuda_slice_forward(s.d, a.d, outer, ia, 5, 7);
    check("slice_forward", &s, 0, 0);
    slice_backward(da.h, ds.h, outer, ia, 5, 7);
    cuda_slice_backward(da.d, ds.d, outer, ia, 5, 7);
    check("slice_backward", &da, 0, 0);
    buf *all[] = {&a, &b, &out, &dout, &da, &db, &s, &ds};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buf_free(all[i]);
}

static void test_dropout(void)
{
    /* Against the same generator on the host: the mask is a function of (key, element) alone. */
    const size_t n = 200000;
    const real p = 0.25f;
    buf x = rnd(n, -1, 1), out = rnd(n, 0, 0), mask = rnd(n, 0, 0);
    uint64_t key = 0x1234abcd5678ef01ull;
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = dropout_keep_host(key, i, p);
        mask.h[i] = keep ? 1 / (1 - p) : 0;
        out.h[i] = x.h[i] * mask.h[i];
        dropped += !keep;
    }
    cuda_dropout_forward(out.d, mask.d, x.d, n, p, key);
    check("dropout_forward mask (host generator)", &mask, 0, 0);
    check("dropout_forward out", &out, 0, 0);
    /* 200000 Bernoulli(0.25) draws: standard deviation 194, so 5 sigma is about 970 */
    th_check_scalar("dropout rate", (double)dropped, p * n, 970, 0);
    buf_free(&x);
    buf_free(&out);
    buf_free(&mask);
}

static void test_optim(void)
{
    const size_t n = 50000;
    buf p = rnd(n, -1, 1), g = rnd(n, -1, 1), m = rnd(n, -0.1, 0.1), v = rnd(n, 0, 0.01);
    unsigned char *mask = malloc(n);
    for (size_t i = 0; i < n; i++)
        mask[i] = i % 3 != 0;
    unsigned char *dmask = cuda_dev_alloc(n);
    cuda_memcopy(dmask, mask, n);
    const double lr = 1e-3, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1, t = 7;
    const double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    /* the CPU loop of core/optim.c, written out (it takes a whole param store) */
    for (size_t j = 0; j < n; j++) {
        double gj = g.h[j], mj = b1 * m.h[j] + (1 - b1) * gj, vj = b2 * v.h[j] + (1 - b2) * gj * gj;
        m.h[j] = (real)mj;
        v.h[j] = (real)vj;
        double dec = mask[j] ? lr * wd : 0;
        p.h[j] = (real)(p.h[j] - dec * p.h[j] - lr * ((mj / bc1) / (sqrt(vj / bc2) + eps)));
    }
    /* the same step on the first n - 1 elements takes the one-element kernel (n - 1 is odd): the same
     * arithmetic as the four-wide kernel (held to the CPU comparison's tolerance, in case the compiler
     * contracts a multiply-add differently in the two) */
    real *one[3];
    const real *from[3] = {p.d, m.d, v.d};
    for (int k = 0; k < 3; k++) {
        one[k] = cuda_dev_alloc(n * sizeof(real));
        cuda_memcopy(one[k], from[k], n * sizeof(real));
    }
    cuda_adamw_step(one[0], g.d, one[1], one[2], dmask, n - 1, lr, b1, b2, eps, wd, bc1, bc2, NULL);
    cuda_adamw_step(p.d, g.d, m.d, v.d, dmask, n, lr, b1, b2, eps, wd, bc1, bc2, NULL);
    check("adamw_step p", &p, 1e-7, 1e-6);
    check("adamw_step m", &m, 1e-7, 1e-6);
    check("adamw_step v", &v, 1e-9, 1e-6);
    {
        const buf *four[3] = {&p, &m, &v};
        const char *what[3] = {"adamw_step one-element kernel: p against the four-wide one's",
                               "adamw_step one-element kernel: m against the four-wide one's",
                               "adamw_step one-element kernel: v against the four-wide one's"};
        real *h = malloc(n * sizeof *h);
        for (int k = 0; k < 3; k++) {
            cuda_memcopy(h, four[k]->d, n * sizeof *h);
            th_check_dev(what[k], one[k], h, n - 1, 1e-9, 1e-6);
            cuda_dev_free(one[k]);
        }
        free(h);
    }

    double *norm = cuda_pinned_alloc(64);
    real *scale = (real *)((char *)norm + 32);
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (double)g.h[j] * g.h[j];
    real *g_unscaled = th_upload(g.h, n);
    cuda_grad_norm(norm, scale, g.d, n, 1.0);
    cuda_scale_inplace(g.d, n, scale, 1);
    cuda_sync();
    th_check_scalar("grad_norm", *norm, sqrt(s), 0, 1e-9);
    real f = (real)(1.0 / sqrt(s));
    for (size_t j = 0; j < n; j++)
        g.h[j] *= f;
    check("clip to norm 1", &g, 1e-7, 1e-6);

    /* adamw_step_clipped's GPU path: the clip factor applied as the step reads each gradient gives
     * the bits of scaling the gradients first and stepping on them */
    real *state[3] = {p.d, m.d, v.d}, *copy[3];
    for (int i = 0; i < 3; i++) {
        real *h = th_download(state[i], n);
        copy[i] = th_upload(h, n);
        free(h);
    }
    cuda_adamw_step(p.d, g.d, m.d, v.d, dmask, n, lr, b1, b2, eps, wd, bc1, bc2, NULL);
    cuda_adamw_step(copy[0], g_unscaled, copy[1], copy[2], dmask, n, lr, b1, b2, eps, wd, bc1, bc2, scale);
    const char *names[3] = {"adamw with the clip factor: p", "adamw with the clip factor: m",
                            "adamw with the clip factor: v"};
    for (int i = 0; i < 3; i++) {
        real *want = th_download(state[i], n);
        th_check_dev(names[i], copy[i], want, n, 0, 0);
        free(want);
        th_free_dev(copy[i]);
    }
    th_free_dev(g_unscaled);
    cuda_pinned_free(norm);
    cuda_dev_free(dmask);
    free(mask);
    buf_free(&p);
    buf_free(&g);
    buf_free(&m);
    buf_free(&v);
}

int main(void)
{
    th_open("test_dense");
    R = rng_stream(19, RNG_STREAM_USER);
    test_matmul(64, 48, 80, 1);
    test_matmul(333, 129, 65, 0);
    test_matmul(1024, 256, 768, 1);
    test_matmul_bf16(333, 128, 72);
    test_matmul_bf16(1024, 768, 2304);
    test_bmm();
    test_to_bf16(4096, 0);
    test_to_bf16(1027, 0);
    test_to_bf16(4096, 1);
    test_elementwise();
    /* LayerNorm's float4 path (C % 4 == 0, C <= 1024) at C a multiple of 128 and not (96, 260, 1000),
     * with N not a multiple of its 64-row blocks; the block-per-row fallback past 1024 and at C % 4 != 0. */
    test_rows(300, 96);
    test_rows(64, 1000);
    test_rows(1000, 768);
    test_rows(1000, 128);
    test_rows(300, 260);
    test_rows(64, 1600);
    test_rows(50, 37);
    test_copy16(300, 768);
    test_copy16(50, 37);
    test_copy16(7, 3);
    test_matmul_bf16_res(300, 96, 384, 1);
    test_matmul_bf16_res(300, 96, 384, 0);
    test_matmul_bf16_res(50, 40, 37, 1);
    test_linear_gelu_bf16(300, 96, 384, 1);
    test_linear_gelu_bf16(300, 96, 384, 0);
    test_linear_gelu_bf16(50, 40, 37, 1);
    test_layernorm_optional(1000, 768);
    test_layernorm_optional(50, 37);
    test_embedding();
    test_xent(257, 1000);
    test_xent(64, 50304);
    test_linear_xent(300, 96, 1000, 300, 0);
    test_linear_xent(300, 96, 1000, 64, 0);
    test_linear_xent(300, 96, 1000, 128, 1);
    test_linear_xent(512, 768, 50304, cuda_linear_xent_chunk_rows(512, 50304), 1);
    test_linear_xent(512, 768, 50304, 200, 1);
    /* rows staged in shared memory (V >= 8,192): fp32's gradient in place of the logits, and a row
     * that is not a whole number of float4s (V % 4 != 0: the scalar copy) */
    test_linear_xent(64, 96, 50304, 64, 0);
    test_linear_xent(100, 96, 9001, 48, 0);
    test_linear_xent(100, 96, 9001, 48, 1);
    test_mse_sum();
    test_shape();
    test_dropout();
    test_optim();
    return th_finish();
}
