#include "core/device.h"

#include "core/dist.h"

#include <stdlib.h>
#include <string.h>

/* The CUDA side exists only in the float build of a CUDA-enabled make; everything else sees a
 * CPU-only core. */
#if defined(MEMLAB_CUDA) && !defined(MEMLAB_DOUBLE)
#define HAVE_CUDA 1
#include "cuda/cuda_ctx.h"
#else
#define HAVE_CUDA 0
#endif

const char *device_name(device_kind d) { return d == DEV_CUDA ? "cuda" : "cpu"; }

int device_parse(const char *s, device_kind *d, err_t *e)
{
    if (strcmp(s, "cpu") == 0)
        *d = DEV_CPU;
    else if (strcmp(s, "cuda") == 0)
        *d = DEV_CUDA;
    else
        return err_set(e, "--device %s: expected cpu or cuda", s);
    return 0;
}

int device_cuda_built(void) { return HAVE_CUDA; }

int device_open(device_kind d, err_t *e)
{
    if (d == DEV_CPU)
        return 0;
#if HAVE_CUDA
    char msg[ERR_MAX - 16];
    if (cuda_ctx_open(dist_local_rank(), msg, sizeof msg) != 0)
        return err_set(e, "%s", msg);
    return 0;
#else
    return err_set(e, "--device cuda: this memlab was built without CUDA (no nvcc at build time)");
#endif
}

/* Reaching the GPU side in a build without it is a bug: device_open refuses first. */
#if !HAVE_CUDA
__attribute__((noreturn)) static void no_cuda(const char *what)
{
    fatal("internal: %s on the GPU in a build without CUDA", what);
}
#endif

void *mem_alloc(mem_kind k, size_t bytes)
{
    if (k == MEM_HOST)
        return xaligned_zeroed(bytes ? bytes : 1);
#if HAVE_CUDA
    return k == MEM_DEVICE ? cuda_dev_alloc(bytes) : cuda_pinned_alloc(bytes);
#else
    no_cuda("mem_alloc");
#endif
}

void mem_free(mem_kind k, void *p)
{
    if (k == MEM_HOST) {
        free(p);
        return;
    }
#if HAVE_CUDA
    if (k == MEM_DEVICE)
        cuda_dev_free(p);
    else
        cuda_pinned_free(p);
#else
    if (p)
        no_cuda("mem_free");
#endif
}

void mem_zero(mem_kind k, void *p, size_t bytes)
{
    if (k == MEM_DEVICE) {
#if HAVE_CUDA
        cuda_memzero(p, bytes);
        return;
#else
        no_cuda("mem_zero");
#endif
    }
#if HAVE_CUDA
    /* pinned memory may still be written by queued kernels */
    if (k == MEM_PINNED)
        cuda_sync();
#endif
    memset(p, 0, bytes);
}

void mem_copy(void *dst, mem_kind dk, const void *src, mem_kind sk, size_t bytes)
{
    if (dk == MEM_HOST && sk == MEM_HOST) {
        memcpy(dst, src, bytes);
        return;
    }
#if HAVE_CUDA
    cuda_memcopy(dst, src, bytes);
#else
    no_cuda("mem_copy");
#endif
}

void device_sync(device_kind d)
{
#if HAVE_CUDA
    if (d == DEV_CUDA)
        cuda_sync();
#endif
}
