/* How an op picks its kernel (private to lib/core/ops_*.c, tape.c, params.c and optim.c): the
 * device of its inputs, then KERNEL(dev, name) names the CPU kernel `name` or its CUDA twin
 * `cuda_name`, which takes the very same arguments (as device pointers). Kernels without a twin of
 * the same interface are written out under `#if HAVE_CUDA` in the op. In a build without CUDA, or
 * the double-precision build, only the CPU exists: no tensor can be on the GPU there (device_open
 * refuses), so KERNEL is the CPU kernel. */
#ifndef MEMLAB_DISPATCH_H
#define MEMLAB_DISPATCH_H

#include "core/error.h"
#include "core/kernels.h"
#include "core/tensor.h"

#if defined(MEMLAB_CUDA) && !defined(MEMLAB_DOUBLE)
#define HAVE_CUDA 1
#include "cuda/kernels_cuda.h"
#define KERNEL(dev, fn) ((dev) == DEV_CUDA ? cuda_##fn : fn)
#else
#define HAVE_CUDA 0
#define KERNEL(dev, fn) ((void)(dev), fn)
#endif

/* The sequence kernels' twins (attention, time mixing, RoPE, rownorm, exp_scale) come from
 * lib/cuda/kernels_seq_cuda.h where that part of the GPU backend is present; without it their ops
 * stay CPU-only (fatal on the GPU, naming the kernel). */
#if HAVE_CUDA && defined(__has_include)
#if __has_include("cuda/kernels_seq_cuda.h")
#define HAVE_CUDA_SEQ 1
#include "cuda/kernels_seq_cuda.h"
#endif
#endif
#ifdef HAVE_CUDA_SEQ
#define KERNEL_SEQ(dev, fn) KERNEL(dev, fn)
#else
#define HAVE_CUDA_SEQ 0
#define KERNEL_SEQ(dev, fn) (op_cpu_only(#fn, dev), fn)
#endif

/* The device every non-NULL input is on; inputs on different devices, or on another device than
 * the tape's, are a bug (fatal, naming the op). */
device_kind op_device(const char *op, device_kind tape_dev, int n, tensor *const *in);

/* The op has no GPU twin yet: fatal naming it when dev is the GPU. */
void op_cpu_only(const char *op, device_kind dev);

/* loss->grad[0] += 1 wherever the gradient lives. */
void tensor_seed_grad(tensor *loss);

#endif
