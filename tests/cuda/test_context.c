/* The CUDA context and the memory seam: a round trip host -> device -> pinned -> host keeps every
 * bit, zeroing zeroes, and the core's device_open agrees with the context. */
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "cuda/cuda_ctx.h"
#include "harness.h"

int main(void)
{
    th_open("test_context");
    err_t e;
    th_check_scalar("device_open(cuda)", device_open(DEV_CUDA, &e), 0, 0, 0);
    rng r = rng_stream(1, RNG_STREAM_USER);
    size_t n = 100003;
    real *host = th_random(n, &r, -3, 3);
    real *dev = mem_alloc(MEM_DEVICE, n * sizeof(real));
    real *pin = mem_alloc(MEM_PINNED, n * sizeof(real));
    mem_copy(dev, MEM_DEVICE, host, MEM_HOST, n * sizeof(real));
    mem_copy(pin, MEM_PINNED, dev, MEM_DEVICE, n * sizeof(real));
    th_check("host->device->pinned round trip", pin, host, n, 0, 0);
    mem_zero(MEM_DEVICE, dev, n * sizeof(real));
    real *zeros = calloc(n, sizeof(real));
    th_check_dev("mem_zero on the device", dev, zeros, n, 0, 0);
    mem_free(MEM_DEVICE, dev);
    mem_free(MEM_PINNED, pin);
    free(host);
    free(zeros);
    return th_finish();
}
