/* The call check every lib/cuda file uses. A failing CUDA or cuBLAS call is an internal error (no
 * user input causes one once the context is open), so it ends the process through fatal() with
 * the call, the file, the line and the library's own words. */
#ifndef MEMLAB_CUDA_CHECK_CUH
#define MEMLAB_CUDA_CHECK_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "core/error.h"
}

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            fatal("cuda: %s failed at %s:%d: %s", #call, __FILE__, __LINE__, cudaGetErrorString(err_)); \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            fatal("cublas: %s failed at %s:%d: %s", #call, __FILE__, __LINE__,                     \
                  cublasGetStatusString(st_));                                                     \
    } while (0)

/* After a launch: a bad configuration shows up here, not in the launch itself. */
#define CUDA_LAUNCHED() CUDA_CHECK(cudaGetLastError())

/* Grid size for a grid-stride loop over n elements: enough blocks to fill the card, no more. */
static inline unsigned cuda_blocks(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    if (b > 65535u * 4u)
        b = 65535u * 4u;
    return b ? (unsigned)b : 1u;
}

/* The context's handles (context.cu); valid after cuda_ctx_open. */
cublasHandle_t cuda_cublas(void);
cublasLtHandle_t cuda_cublaslt(void);
/* A device workspace for cublasLt, CUDA_LT_WORKSPACE bytes. */
#define CUDA_LT_WORKSPACE ((size_t)32 << 20)
void *cuda_lt_workspace(void);
/* A device scratch buffer of at least `bytes`, shared by every kernel that needs temporary space
 * between two of its launches (partial sums). Stream order keeps users apart: a later call may
 * reuse it as soon as it is queued. Growing it waits for the device. */
void *cuda_scratch(size_t bytes);

#endif
