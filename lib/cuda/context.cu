/* The CUDA context: opening the device, the cuBLAS handles and the memory primitives. */
#include <stdio.h>
#include <string.h>

#include "cuda/cuda_check.cuh"
#include "cuda/cuda_ctx.h"

static int ctx_open;   /* 1 once the device and the handles are ready */
static cublasHandle_t blas;
static cublasLtHandle_t blaslt;
static void *lt_workspace;
static char ctx_desc[256];
static size_t bytes_now, bytes_peak;

extern "C" int cuda_ctx_open(int ordinal, char *msg, size_t len)
{
    if (ctx_open)
        return 0;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        snprintf(msg, len, "--device cuda: no usable GPU (%s)",
                 err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device found");
        return -1;
    }
    const int dev = (ordinal < 0 ? 0 : ordinal) % n;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    CUDA_CHECK(cudaSetDevice(dev));
    /* The core's tensors are float throughout; TF32 would not match the CPU within the tests'
     * tolerances, so cuBLAS keeps full fp32 (the bf16 mode is a separate path). */
    CUBLAS_CHECK(cublasCreate(&blas));
    CUBLAS_CHECK(cublasSetStream(blas, 0));
    CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasLtCreate(&blaslt));
    CUDA_CHECK(cudaMalloc(&lt_workspace, CUDA_LT_WORKSPACE));
    snprintf(ctx_desc, sizeof ctx_desc, "%.200s (GPU %d of %d), sm_%d%d, %.0f GiB", prop.name, dev, n, prop.major,
             prop.minor, (double)prop.totalGlobalMem / (1 << 30));
    ctx_open = 1;
    return 0;
}

extern "C" const char *cuda_ctx_describe(void) { return ctx_open ? ctx_desc : "(CUDA not opened)"; }

cublasHandle_t cuda_cublas(void)
{
    if (!ctx_open)
        fatal("internal: cuBLAS used before the CUDA context was opened");
    return blas;
}

cublasLtHandle_t cuda_cublaslt(void)
{
    if (!ctx_open)
        fatal("internal: cublasLt used before the CUDA context was opened");
    return blaslt;
}

void *cuda_lt_workspace(void) { return lt_workspace; }

static void *scratch;
static size_t scratch_bytes;

void *cuda_scratch(size_t bytes)
{
    if (bytes > scratch_bytes) {
        CUDA_CHECK(cudaStreamSynchronize(0));   /* queued kernels may still read the old one */
        cuda_dev_free(scratch);
        scratch_bytes = bytes < ((size_t)1 << 20) ? (size_t)1 << 20 : bytes * 2;
        scratch = cuda_dev_alloc(scratch_bytes);
    }
    return scratch;
}

/* Sizes travel in a header before the block so that free can keep the peak count honest. */
#define CUDA_ALLOC_HEADER 256

extern "C" void *cuda_dev_alloc(size_t bytes)
{
    unsigned char *p = NULL;
    cudaError_t err = cudaMalloc((void **)&p, bytes + CUDA_ALLOC_HEADER);
    if (err != cudaSuccess)
        fatal("cuda: out of device memory allocating %zu bytes (%s)", bytes, cudaGetErrorString(err));
    size_t rec = bytes;
    CUDA_CHECK(cudaMemcpy(p, &rec, sizeof rec, cudaMemcpyHostToDevice));
    bytes_now += bytes;
    if (bytes_now > bytes_peak)
        bytes_peak = bytes_now;
    return p + CUDA_ALLOC_HEADER;
}

extern "C" void cuda_dev_free(void *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - CUDA_ALLOC_HEADER;
    size_t rec = 0;
    CUDA_CHECK(cudaMemcpy(&rec, base, sizeof rec, cudaMemcpyDeviceToHost));
    bytes_now -= rec;
    CUDA_CHECK(cudaFree(base));
}

extern "C" void *cuda_pinned_alloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocMapped);
    if (err != cudaSuccess)
        fatal("cuda: cannot pin %zu bytes of host memory (%s)", bytes, cudaGetErrorString(err));
    memset(p, 0, bytes);
    return p;
}

extern "C" void cuda_pinned_free(void *p)
{
    if (p)
        CUDA_CHECK(cudaFreeHost(p));
}

extern "C" void cuda_memzero(void *p, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
}

extern "C" void cuda_memcopy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

extern "C" void cuda_sync(void) { CUDA_CHECK(cudaStreamSynchronize(0)); }

extern "C" size_t cuda_peak_bytes(void) { return bytes_peak; }

extern "C" void cuda_peak_reset(void) { bytes_peak = bytes_now; }

extern "C" void *cuda_event_new(void)
{
    cudaEvent_t ev;
    CUDA_CHECK(cudaEventCreate(&ev));
    return ev;
}

extern "C" void cuda_event_record(void *ev) { CUDA_CHECK(cudaEventRecord((cudaEvent_t)ev, 0)); }

extern "C" void cuda_event_wait(void *ev) { CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)ev)); }

extern "C" float cuda_event_ms(void *from, void *to)
{
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)from, (cudaEvent_t)to));
    return ms;
}
