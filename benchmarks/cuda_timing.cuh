/* What the CUDA benchmarks (benchmarks/NAME_cuda.cu) share: a checked CUDA call and the timing of a
 * call with CUDA events on stream 0 (median of reps calls after two warm-ups). */
#ifndef MEMLAB_CUDA_TIMING_CUH
#define MEMLAB_CUDA_TIMING_CUH

#include <algorithm>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_));                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Median milliseconds of reps calls of f after two warm-ups. */
template <typename F>
static inline double time_ms(F f, int reps)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    f();
    f();
    std::vector<double> t;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(a, 0));
        f();
        CK(cudaEventRecord(b, 0));
        CK(cudaEventSynchronize(b));
        float ms;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

#endif
