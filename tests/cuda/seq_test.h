/* What the sequence-kernel tests share (tests/cuda/test_seq.cu, test_attention.cu): random
 * host buffers, device copies, and one printed line per check. A check compares a GPU result with
 * the CPU kernel's by the largest absolute difference over the largest |reference| (an error
 * relative to the tensor's scale, so that entries near zero do not dominate); it fails above its
 * stated tolerance. The program's exit status is the number of failed checks (capped). */
#ifndef MEMLAB_SEQ_TEST_H
#define MEMLAB_SEQ_TEST_H

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "cuda/cuda_ctx.h"

static int seq_failures = 0;

#define T_CHECK(call)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "FAIL %s at %s:%d: %s\n", #call, __FILE__, __LINE__, cudaGetErrorString(e_)); \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

/* A fixed-seed generator (xorshift64*), uniform in [lo, hi). */
static unsigned long long seq_rng_state = 0x9E3779B97F4A7C15ull;
static float urand(float lo, float hi)
{
    seq_rng_state ^= seq_rng_state >> 12;
    seq_rng_state ^= seq_rng_state << 25;
    seq_rng_state ^= seq_rng_state >> 27;
    const double u = (double)((seq_rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

static std::vector<float> rand_vec(size_t n, float lo = -1.f, float hi = 1.f)
{
    std::vector<float> v(n);
    for (auto &x : v)
        x = urand(lo, hi);
    return v;
}

/* A device copy of a host vector (freed by dfree). */
static float *dup(const std::vector<float> &h)
{
    float *d = NULL;
    T_CHECK(cudaMalloc(&d, (h.size() ? h.size() : 1) * sizeof(float)));
    if (h.size())
        T_CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static std::vector<float> back(const float *d, size_t n)
{
    std::vector<float> h(n);
    T_CHECK(cudaDeviceSynchronize());
    if (n)
        T_CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

static void dfree(void *d) { T_CHECK(cudaFree(d)); }

/* max |got - want| / max |want| (want all zero: the plain max difference). NaN anywhere fails. */
static double scaled_err(const std::vector<float> &got, const std::vector<float> &want)
{
    double md = 0, mw = 0;
    for (size_t i = 0; i < want.size(); i++) {
        const double dlt = fabs((double)got[i] - want[i]);
        if (!(dlt == dlt))
            return INFINITY;
        md = dlt > md ? dlt : md;
        mw = fabs(want[i]) > mw ? fabs(want[i]) : mw;
    }
    return mw > 0 ? md / mw : md;
}

/* One line: PASS/FAIL, the name, the error and the tolerance. */
static void report(const char *name, double err, double tol)
{
    const int ok = err <= tol;
    printf("%s %-58s err %.3g (tol %.0e)\n", ok ? "PASS" : "FAIL", name, err, tol);
    fflush(stdout);
    if (!ok)
        seq_failures++;
}

static void check_vec(const char *name, const std::vector<float> &got, const std::vector<float> &want, double tol)
{
    report(name, scaled_err(got, want), tol);
}

/* Opens memlab's CUDA context, whose cuBLAS handle the bf16 attention's dQ product uses. */
static void seq_open(void)
{
    char msg[256];
    if (cuda_ctx_open(0, msg, sizeof msg) != 0) {
        printf("FAIL %s\n", msg);
        exit(1);
    }
    printf("# on %s\n", cuda_ctx_describe());
}

static int seq_exit(void)
{
    printf("%s: %d failed\n", seq_failures ? "FAILED" : "OK", seq_failures);
    return seq_failures > 100 ? 100 : seq_failures;
}

#endif
