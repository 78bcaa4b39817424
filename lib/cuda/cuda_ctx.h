/* memlab's CUDA context, callable from C: one GPU per process, the legacy default stream (stream 0) for every
 * launch and copy, one cuBLAS and one cublasLt handle bound to it, and the memory primitives the
 * core's device seam (core/device.h) calls. Every kernel of lib/cuda (the sequence kernels
 * included) is queued on stream 0, so calls are ordered without events and the host only waits
 * where it reads a value back.
 *
 * The context is process-wide state (a CUDA context is per process anyway); it is opened once,
 * by device_open(DEV_CUDA), and lives until exit. */
#ifndef MEMLAB_CUDA_CTX_H
#define MEMLAB_CUDA_CTX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when a GPU is usable (opening it on first call), else -1 with one line in msg (no device, a
 * driver too old for this build, ...). Safe to call again (the first call chose the GPU). The GPU
 * is number `ordinal` modulo the visible count: 0 for a single process, a data-parallel rank's
 * rank on its host (dist_local_rank) so that the ranks of one host take one GPU each. */
int cuda_ctx_open(int ordinal, char *msg, size_t len);
/* "NVIDIA H100 80GB HBM3, sm_90, 79 GiB": for logs. */
const char *cuda_ctx_describe(void);

/* Device memory (fatal when out of memory, naming the size). */
void *cuda_dev_alloc(size_t bytes);
void cuda_dev_free(void *p);
/* Pinned host memory mapped into the device's address space: kernels write it, the host reads it
 * after cuda_sync() (the one scalar a training step reads back, its loss). */
void *cuda_pinned_alloc(size_t bytes);
void cuda_pinned_free(void *p);
/* Zero bytes of device memory, queued on stream 0. */
void cuda_memzero(void *p, size_t bytes);
/* Copies between any two of host, pinned and device memory (unified addressing tells which);
 * returns when the copy is done, so a host source may be reused at once. */
void cuda_memcopy(void *dst, const void *src, size_t bytes);
/* Waits for everything queued on stream 0. */
void cuda_sync(void);
/* Bytes of device memory at the high-water mark since the context opened (cuda_dev_alloc only). */
size_t cuda_peak_bytes(void);
/* Starts a new high-water mark at the bytes allocated now. */
void cuda_peak_reset(void);
/* Timing events on stream 0 (the op profiler, core/op_profile.h): a new event, recording it where
 * the stream has got to, waiting for it, and the milliseconds between two recorded events. */
void *cuda_event_new(void);
void cuda_event_record(void *ev);
void cuda_event_wait(void *ev);
float cuda_event_ms(void *from, void *to);

#ifdef __cplusplus
}
#endif

#endif
