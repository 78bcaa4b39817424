/* The layers every architecture builds with: a linear layer's and a LayerNorm's parameters by name,
 * an optional parameter as a tensor, and a view of a cache buffer. Architectures (nn/gpt.c,
 * nn/mosaic.c, nn/lstm.c) and the models around them use this file; it uses none of them. */
#ifndef MEMLAB_NN_LAYERS_H
#define MEMLAB_NN_LAYERS_H

#include "core/params.h"
#include "core/rng.h"
#include "core/tape.h"

/* The LayerNorm epsilon of every model (PyTorch's default). */
#define LAYERS_LN_EPS 1e-5

/* "<prefix>.weight" [out, in] and, with bias, "<prefix>.bias" [out]; *b = -1 without. */
void layers_declare_linear(param_store *ps, const char *prefix, int out, int in, int bias, int *w, int *b);
/* "<prefix>.weight" [d] and, with bias, "<prefix>.bias" [d]; *b = -1 without. */
void layers_declare_layernorm(param_store *ps, const char *prefix, int d, int bias, int *w, int *b);
/* Index -> tensor, or NULL for -1 (an absent bias). */
tensor *layers_param(param_store *ps, int idx);
/* x . W^T + b through the store's parameters (b may be -1). */
tensor *layers_linear(tape *tp, param_store *ps, tensor *x, int w, int b);
/* res + dropout(x . W^T + b): a block's update of the residual stream. Without dropout (p 0, or not
 * training) one op, op_linear_residual (on the GPU under --dtype bf16 res is added in the product). */
tensor *layers_residual_linear(tape *tp, param_store *ps, tensor *res, tensor *x, int w, int b, real p, rng *drop);
/* LayerNorm of x with the store's weight and optional bias, eps LAYERS_LN_EPS. */
tensor *layers_layernorm(tape *tp, param_store *ps, tensor *x, int w, int b);
/* layers_layernorm for an output read by one linear alone: held in bf16 only on the GPU under
 * --dtype bf16 (op_layernorm_bf16_out). */
tensor *layers_layernorm_to_linear(tape *tp, param_store *ps, tensor *x, int w, int b);
/* Fills a parameter with v when it exists (idx >= 0): biases that a configuration may leave out. */
void layers_fill_if(param_store *ps, int idx, double v);
/* An arena tensor [1, n, d] over rows 0..n-1 of a buffer (no copy, no gradient): a decoding cache
 * read as keys or values. */
tensor *layers_buffer_view(tape *tp, real *buf, int n, int d);
/* A zeroed buffer of n reals for a decoding cache on device dev (the model's), and its release. */
real *layers_buffer_new(size_t n, device_kind dev);
void layers_buffer_free(real *buf, device_kind dev);
/* Copies n reals between two buffers on the tape's device (cache rows, op outputs). */
void layers_buffer_copy(const tape *tp, real *dst, const real *src, size_t n);

#endif
