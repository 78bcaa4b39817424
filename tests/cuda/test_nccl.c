/* NCCL for data-parallel GPU ranks (cuda/cuda_nccl.h) with the one GPU a test machine has: NCCL
 * loads at run time, a communicator of one rank forms from a unique id, and its mean of a device
 * buffer is that buffer, bit for bit, on the CUDA context's stream (the gradients it follows). Two
 * ranks need two GPUs: scripts/device_check_nccl.sh. Without libnccl.so.2 the program says so and
 * passes (NCCL is optional; only a multi-rank GPU run asks for it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_ctx.h"
#include "cuda/cuda_nccl.h"
#include "harness.h"

int main(void)
{
    th_open("test_nccl");
    char msg[512];
    if (cuda_nccl_load(msg, sizeof msg) != 0) {
        printf("# skipped: %s\n", msg);
        return th_finish();
    }
    unsigned char id[CUDA_NCCL_ID_BYTES];
    th_check_scalar("unique id made", cuda_nccl_unique_id(id, msg, sizeof msg), 0, 0, 0);
    int rc = cuda_nccl_open(id, 0, 1, msg, sizeof msg);
    if (rc != 0)
        printf("# %s\n", msg);
    th_check_scalar("one-rank communicator joined", rc, 0, 0, 0);
    th_check_scalar("version reported", strlen(cuda_nccl_version()) > 0, 1, 0, 0);
    printf("# NCCL %s\n", cuda_nccl_version());
    rng r = rng_stream(7, 0);
    const size_t n = (size_t)3 << 20;   /* more than one of NCCL's chunks */
    real *want = th_random(n, &r, -3, 3);
    real *dev = th_upload(want, n);
    cuda_nccl_mean(dev, n);
    th_check_dev("mean over one rank is the buffer", dev, want, n, 0, 0);
    th_free_dev(dev);
    free(want);
    return th_finish();
}
