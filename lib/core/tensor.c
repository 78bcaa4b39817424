#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

void tensor_set_shape(tensor *t, int ndim, const int *shape)
{
    if (ndim < 1 || ndim > TENSOR_MAX_DIM)
        fatal("internal: tensor with %d dimensions", ndim);
    t->ndim = ndim;
    t->n = 1;
    for (int i = 0; i < TENSOR_MAX_DIM; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            fatal("internal: tensor extent %d in dimension %d", shape[i], i);
        t->n *= (size_t)shape[i];
    }
}

int tensor_cols(const tensor *t) { return t->shape[t->ndim - 1]; }

size_t tensor_rows(const tensor *t) { return t->n / (size_t)tensor_cols(t); }

int tensor_same_shape(const tensor *a, const tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

const char *tensor_shape_str(const tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, len - used, "[");
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ",%d" : "%d", t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

tensor *tensor_alloc(int ndim, const int *shape, int with_grad)
{
    tensor *t = xcalloc(1, sizeof *t);
    tensor_set_shape(t, ndim, shape);
    t->data = xaligned_zeroed(t->n * sizeof(real));
    if (with_grad) {
        t->grad = xaligned_zeroed(t->n * sizeof(real));
        t->requires_grad = 1;
    }
    return t;
}

void tensor_free(tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t->grad);
    free(t);
}
