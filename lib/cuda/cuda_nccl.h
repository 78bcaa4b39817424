/* Data-parallel GPU ranks (one process per GPU) average their gradients through NCCL
 * (docs/distributed.md, "GPUs"). NCCL is loaded when first needed (dlopen of libnccl.so.2), not
 * linked: a memlab built with CUDA runs on machines without NCCL, and only a multi-rank GPU run
 * asks for it, with one line when it is missing. The communicator is set up from a unique id
 * that rank 0 makes and the launcher's transport (MPI, core/dist.c) hands to every rank. */
#ifndef MEMLAB_CUDA_NCCL_H
#define MEMLAB_CUDA_NCCL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bytes of an NCCL unique id (NCCL_UNIQUE_ID_BYTES). */
#define CUDA_NCCL_ID_BYTES 128

/* Loads NCCL (every rank, before any of them joins: a rank that cannot would leave the others
 * waiting in cuda_nccl_open). 0, or -1 with one line in msg. */
int cuda_nccl_load(char *msg, size_t len);
/* A fresh unique id, made by rank 0 after cuda_nccl_load. 0, or -1 with one line in msg. */
int cuda_nccl_unique_id(unsigned char id[CUDA_NCCL_ID_BYTES], char *msg, size_t len);
/* Joins the communicator of `size` ranks named by id as `rank`, on the GPU the CUDA context
 * opened (cuda_ctx_open first). Every rank must call it. 0, or -1 with one line in msg. */
int cuda_nccl_open(const unsigned char id[CUDA_NCCL_ID_BYTES], int rank, int size, char *msg, size_t len);
/* In place on the device, queued on stream 0 behind the kernels that wrote it: the mean over the
 * ranks of n floats (NCCL's sum divided by the number of ranks, ncclAvg). Fatal on an NCCL error. */
void cuda_nccl_mean(float *dev, size_t n);
/* The NCCL version loaded, e.g. "2.28.9" (for logs); "" before cuda_nccl_open. */
const char *cuda_nccl_version(void);

#ifdef __cplusplus
}
#endif

#endif
