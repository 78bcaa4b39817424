/* Where a tensor's numbers live. Every tensor, arena and param store carries a device; an op runs
 * the CPU kernel (core/kernels.h) when its inputs are on the CPU and the CUDA twin of the same
 * kernel (cuda/kernels_cuda.h) when they are on the GPU. Mixing devices in one op is a bug.
 *
 * Memory comes in three kinds: host, device, and pinned host memory that kernels can write and the
 * host can read (a training step's loss). The CPU build, and the double-precision build, have only
 * host memory: opening CUDA there fails with one line. */
#ifndef MEMLAB_DEVICE_H
#define MEMLAB_DEVICE_H

#include <stddef.h>

#include "core/error.h"

typedef enum { DEV_CPU = 0, DEV_CUDA = 1 } device_kind;
typedef enum { MEM_HOST = 0, MEM_DEVICE = 1, MEM_PINNED = 2 } mem_kind;

const char *device_name(device_kind d);
/* "cpu" | "cuda"; 0 or -1 with a message naming --device. */
int device_parse(const char *s, device_kind *d, err_t *e);
/* Makes the device usable (CUDA: opens the context once). -1 with one line when this build has no
 * CUDA or no GPU is usable. The CPU always opens. */
int device_open(device_kind d, err_t *e);
/* 1 when this build carries the CUDA kernels. */
int device_cuda_built(void);

/* The memory an arena of this device holds tensors in. */
static inline mem_kind device_mem(device_kind d) { return d == DEV_CUDA ? MEM_DEVICE : MEM_HOST; }

/* Allocation, 64-byte aligned at least, never NULL (out of memory is fatal). Host memory is
 * zeroed; device memory is not. */
void *mem_alloc(mem_kind k, size_t bytes);
void mem_free(mem_kind k, void *p);
/* Zeroes bytes (queued on the GPU's stream for device memory). */
void mem_zero(mem_kind k, void *p, size_t bytes);
/* Copies bytes between any two kinds; returns once dst may be read by the host (host or pinned
 * destination) or src may be reused (host source). Host to host never touches the GPU. */
void mem_copy(void *dst, mem_kind dk, const void *src, mem_kind sk, size_t bytes);
/* Waits until every queued GPU operation is done (no-op on the CPU). */
void device_sync(device_kind d);

#endif
