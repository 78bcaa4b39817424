/* The LSTM kernels in the float build: the forward pass (hidden states, cell states and activated
 * gates) against a naive reference in double written from the PyTorch definition, and the same bits
 * from one thread and from two. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "core/rng.h"
#include "core/threads.h"
#include "test_util.h"

_Static_assert(sizeof(real) == sizeof(float), "check_lstm_float tests the float build");

/* n reals uniform in [-a, a). */
static real *uniform_buf(size_t n, double a, uint64_t seed)
{
    real *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    rng r = rng_stream(seed, RNG_STREAM_USER + 13);
    for (size_t i = 0; i < n; i++)
        p[i] = (real)(a * (2 * rng_uniform(&r) - 1));
    return p;
}

static real *zero_buf(size_t n)
{
    real *p = calloc(n, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }

/* torch.nn.LSTM, one sequence and one step at a time: h, c [B,T,H], act [B,T,4H]. */
static void lstm_naive(double *h, double *c, double *act, const real *xproj, const real *w, int B, int T, int H)
{
    double *hp = dalloc((size_t)H), *cp = dalloc((size_t)H), *z = dalloc(4 * (size_t)H);
    for (int b = 0; b < B; b++) {
        memset(hp, 0, (size_t)H * sizeof *hp);
        memset(cp, 0, (size_t)H * sizeof *cp);
        for (int t = 0; t < T; t++) {
            const size_t bt = (size_t)b * T + t;
            for (int k = 0; k < 4 * H; k++) {
                z[k] = xproj[bt * 4 * H + k];
                for (int j = 0; j < H; j++)
                    z[k] += (double)w[(size_t)k * H + j] * hp[j];
            }
            for (int j = 0; j < H; j++) {
                const double i = sigmoid_ref(z[j]), f = sigmoid_ref(z[H + j]), g = tanh(z[2 * H + j]),
                             o = sigmoid_ref(z[3 * H + j]);
                cp[j] = f * cp[j] + i * g;
                hp[j] = o * tanh(cp[j]);
                h[bt * H + j] = hp[j];
                c[bt * H + j] = cp[j];
                double *a = act + bt * 4 * H;
                a[j] = i, a[H + j] = f, a[2 * H + j] = g, a[3 * H + j] = o;
            }
        }
    }
    free(hp), free(cp), free(z);
}

typedef struct {
    int B, T, H;
} lstm_shape;

static const lstm_shape SHAPES[] = {{1, 1, 1}, {1, 6, 1}, {3, 1, 7}, {2, 6, 7}, {4, 20, 16}, {3, 9, 33}};

START_TEST(test_lstm_forward_matches_naive)
{
    const lstm_shape s = SHAPES[_i];
    const size_t nh = (size_t)s.B * s.T * s.H, ng = 4 * nh;
    /* xproj up to +-3 reaches the flat parts of the activations; w_hh beyond PyTorch's 1/sqrt(H)
     * init makes the recurrence matter */
    real *xproj = uniform_buf(ng, 3, 10 + (uint64_t)_i);
    real *w = uniform_buf(4 * (size_t)s.H * s.H, 1.5 / sqrt(s.H), 20 + (uint64_t)_i);
    real *h = zero_buf(nh), *c = zero_buf(nh), *act = zero_buf(ng);
    double *hr = dalloc(nh), *cr = dalloc(nh), *ar = dalloc(ng);
    lstm_forward(h, c, act, xproj, w, s.B, s.T, s.H);
    lstm_naive(hr, cr, ar, xproj, w, s.B, s.T, s.H);
    double *unit = dalloc(ng);
    for (size_t i = 0; i < ng; i++)
        unit[i] = 1;
    /* float round-off carried through up to 20 steps: the worst seen is below 3e-7 */
    expect_close(h, hr, unit, nh, 2e-6, "lstm h");
    expect_close(c, cr, unit, nh, 2e-6, "lstm c");
    expect_close(act, ar, unit, ng, 2e-6, "lstm gates");
    free(xproj), free(w), free(h), free(c), free(act), free(hr), free(cr), free(ar), free(unit);
}
END_TEST

/* Forward and backward with n threads, every output in one block: h, c, gates, dxproj, then dw_hh. */
enum { DB = 32, DT = 8, DH = 32 };
#define DET_NH ((size_t)DB * DT * DH)
#define DET_NW (4 * (size_t)DH * DH)
#define DET_N (DET_NH * 10 + DET_NW)

static real *det_run(int threads)
{
    threads_set(threads);
    real *xproj = uniform_buf(4 * DET_NH, 2, 31), *w = uniform_buf(DET_NW, 0.3, 32);
    real *dh = uniform_buf(DET_NH, 1, 33);
    real *res = zero_buf(DET_N);
    real *h = res, *c = h + DET_NH, *act = c + DET_NH, *dx = act + 4 * DET_NH, *dw = dx + 4 * DET_NH;
    real *scratch = zero_buf(4 * DET_NH + 2 * (size_t)DB * DH);
    lstm_forward(h, c, act, xproj, w, DB, DT, DH);
    lstm_backward(dx, dw, scratch, dh, h, c, act, w, DB, DT, DH);
    free(xproj), free(w), free(dh), free(scratch);
    return res;
}

/* The per-step products (B x 4H x H) stay below the size at which OpenBLAS splits one between
 * threads, so everything up to dxproj must be the same bits; dw_hh is one product over all B*T
 * rows, which OpenBLAS may split: the same bits for the same thread count, round-off across counts. */
START_TEST(test_lstm_deterministic_across_threads)
{
    const int saved = threads_get();
    real *one = det_run(1), *two = det_run(2), *again = det_run(2);
    threads_set(saved);
    const size_t nw = DET_N - DET_NW;
    for (size_t i = 0; i < DET_N; i++)
        ck_assert_msg(memcmp(&two[i], &again[i], sizeof(real)) == 0, "element %zu differs on 2 threads", i);
    for (size_t i = 0; i < nw; i++)
        ck_assert_msg(memcmp(&one[i], &two[i], sizeof(real)) == 0, "element %zu: %.9g (1 thread) vs %.9g (2)", i,
                      one[i], two[i]);
    for (size_t i = nw; i < DET_N; i++)
        ck_assert_msg(fabs((double)one[i] - two[i]) <= 1e-5 * fmax(fabs(one[i]), 1.0),
                      "dw_hh element %zu: %.9g (1 thread) vs %.9g (2)", i - nw, one[i], two[i]);
    free(one), free(two), free(again);
}
END_TEST

Suite *suite_lstm_float(void)
{
    Suite *s = suite_create("lstm_float");
    TCase *tc = tcase_create("float");
    tcase_add_loop_test(tc, test_lstm_forward_matches_naive, 0, (int)(sizeof SHAPES / sizeof SHAPES[0]));
    tcase_add_test(tc, test_lstm_deterministic_across_threads);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
