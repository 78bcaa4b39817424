#include "core/dispatch.h"

device_kind op_device(const char *op, device_kind tape_dev, int n, tensor *const *in)
{
    for (int i = 0; i < n; i++)
        if (in[i] && in[i]->device != tape_dev)
            fatal("internal: %s: input %d is on the %s, the tape on the %s", op, i, device_name(in[i]->device),
                  device_name(tape_dev));
    return tape_dev;
}

void op_cpu_only(const char *op, device_kind dev)
{
    if (dev != DEV_CPU)
        fatal("%s has no GPU kernel yet: run this model with --device cpu", op);
}

void tensor_seed_grad(tensor *loss)
{
#if HAVE_CUDA
    if (loss->device == DEV_CUDA) {
        cuda_add_scalar(loss->grad, 1);
        return;
    }
#endif
    loss->grad[0] += 1;
}
