/* The parameter store: every parameter of a model in one contiguous 64-byte aligned buffer, with a
 * table of named tensors. Gradients and the AdamW moments share the layout, so the optimiser,
 * clipping and checkpoint I/O are flat loops. Declare every tensor, then allocate once.
 *
 * A store is allocated and initialised on the host; params_move then puts all four buffers on
 * the GPU (or back), so that a model is built and seeded the same way on either device. On the GPU
 * the initialisers are fatal (a bug: initialise, then move); copies, zeroing and scaling work. */
#ifndef MEMLAB_PARAMS_H
#define MEMLAB_PARAMS_H

#include <stddef.h>

#include "core/rng.h"
#include "core/tensor.h"

#define PARAM_NAME_MAX 64

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int shape[TENSOR_MAX_DIM];
    size_t offset;   /* element offset into the buffers, a multiple of 16 (64 bytes) */
    size_t n;        /* number of elements */
    int decay;       /* weight decay applies */
    tensor t;        /* view on data/grad, valid once allocated */
} param_entry;

typedef struct param_store {
    real *data, *grad, *m, *v;   /* values, gradients, AdamW first and second moments */
    device_kind device;          /* where the four buffers live (params_move) */
    unsigned char *decay_mask;   /* DEV_CUDA: per element, 1 where weight decay applies */
    void *scalars;               /* DEV_CUDA: pinned scratch for the gradient norm and clip factor */
    size_t total;                /* elements in each buffer, including alignment padding */
    param_entry *entries;
    int count, cap;
    int allocated;
} param_store;

void params_init(param_store *ps);
void params_free(param_store *ps);
/* Declares a tensor (before params_alloc); returns its index. A duplicate name is fatal (a bug). */
int params_declare(param_store *ps, const char *name, int ndim, const int *shape, int decay);
/* Weight decay on tensors of two or more dimensions only: the convention of both papers. */
int params_declare_auto(param_store *ps, const char *name, int ndim, const int *shape);
/* Allocates the zeroed buffers and points every entry's tensor at them. */
void params_alloc(param_store *ps);
tensor *params_tensor(param_store *ps, int idx);
int params_find(const param_store *ps, const char *name);
/* Elements in all tensors (without padding): the model's parameter count. */
size_t params_numel(const param_store *ps);
/* Zeroes every gradient (on the host in parallel; core/optim.c, which links the thread pool). */
void params_zero_grad(param_store *ps);
/* Forgets the AdamW moments (a fresh optimiser over the same values). */
void params_zero_moments(param_store *ps);

void params_init_normal(param_store *ps, int idx, double std, rng *r);
void params_init_uniform(param_store *ps, int idx, double lo, double hi, rng *r);
void params_fill(param_store *ps, int idx, double value);
/* Moves values, gradients and moments to device d (a no-op when already there); every entry's
 * tensor follows. device_open(d) first. */
void params_move(param_store *ps, device_kind d);
/* Copies all values (and optionally moments) from a store of identical layout, on any devices. */
void params_copy(param_store *dst, const param_store *src, int with_optim);

#endif
