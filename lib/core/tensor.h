/* A tensor is a view: a shape and pointers to values and (when gradients flow) their gradients,
 * on one device (core/device.h).
 * Tensors made by ops live in the tape's arena until the step ends; parameters point into the
 * param store; tensor_alloc makes a heap tensor that outlives steps (test inputs, caches). */
#ifndef MEMLAB_TENSOR_H
#define MEMLAB_TENSOR_H

#include <stddef.h>

#include "core/device.h"
#include "core/real.h"

#define TENSOR_MAX_DIM 4

typedef struct tensor {
    real *data;        /* NULL only for a GPU tensor held in bf16 alone (tape_tensor16, below) */
    real *grad;        /* NULL until tape_backward needs it; parameters point into the store */
    int ndim;
    int shape[TENSOR_MAX_DIM];
    size_t n;          /* number of elements */
    int requires_grad;
    unsigned char grad_unset;   /* tape_backward: the gradient buffer holds no values yet, and its
                                   first writer stores rather than adds (core/tape_grad.c) */
    unsigned char takes_grad16; /* its producer's backward reads the gradient in bf16 when its one
                                   reader writes it so (grad16_first_write, core/tape.h): on the GPU
                                   under --dtype bf16, the outputs of op_linear_bf16_out,
                                   op_linear_gelu_erf, op_layernorm_bf16_out and op_attention_qkv */
    unsigned char grad_is16;    /* grad's buffer holds the gradient as n bf16 values (in its first
                                   half), written by the reader's backward, not n floats */
    device_kind device; /* where data and grad live (DEV_CPU for every zeroed tensor) */
    unsigned short *bf16; /* NULL, or data's bf16 copy (round to nearest even) that its producer wrote
                             beside it on the GPU under --dtype bf16, so that a bf16 linear reading it
                             skips its conversion (core/ops_dense.c); set only where data is not
                             written again, shared by views. With data NULL the tensor's only
                             numbers: every reader must take bf16 (op_linear_bf16_out's output,
                             read by op_attention_qkv alone; op_linear_gelu_erf's and
                             op_layernorm_bf16_out's, read by a linear alone) */
} tensor;

/* Sets shape and n; ndim in 1..TENSOR_MAX_DIM, every extent >= 1 (fatal otherwise: a bug). */
void tensor_set_shape(tensor *t, int ndim, const int *shape);
/* Last extent and the product of the others: how row-wise kernels see a tensor. */
int tensor_cols(const tensor *t);
size_t tensor_rows(const tensor *t);
int tensor_same_shape(const tensor *a, const tensor *b);
/* "[2,3,4]" into buf, for error messages. */
const char *tensor_shape_str(const tensor *t, char *buf, size_t len);

/* Heap tensor, zeroed; with_grad also allocates a zeroed gradient and sets requires_grad. */
tensor *tensor_alloc(int ndim, const int *shape, int with_grad);
void tensor_free(tensor *t);

#endif
