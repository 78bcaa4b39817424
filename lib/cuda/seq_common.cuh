/* What attention.cu and seq.cu share: the call check and the operand loads.
 *
 * Every CUDA call of lib/cuda is checked: a failure is an internal error (no user input causes
 * one), so it ends the process through fatal() with the call, the file and the line. */
#ifndef MEMLAB_SEQ_COMMON_CUH
#define MEMLAB_SEQ_COMMON_CUH

#include <cuda_runtime.h>

extern "C" {
#include "core/error.h"
}

#define SEQ_CHECK(call)                                                                          \
    do {                                                                                          \
        cudaError_t err_ = (call);                                                                \
        if (err_ != cudaSuccess)                                                                  \
            fatal("cuda: %s failed at %s:%d: %s", #call, __FILE__, __LINE__, cudaGetErrorString(err_)); \
    } while (0)

/* After a launch: a bad configuration shows up here, not in the launch itself. */
#define SEQ_LAUNCHED() SEQ_CHECK(cudaGetLastError())

/* Operands as fp32: float as is, bf16 (its bits in an unsigned short) widened exactly. */
__device__ __forceinline__ float ld_f(const float *p) { return *p; }
__device__ __forceinline__ float ld_f(const unsigned short *p) { return __uint_as_float((unsigned)*p << 16); }

#endif
