#include "nn/layers.h"

#include <stdio.h>
#include <string.h>

#include "core/ops.h"

static int declare_optional_bias(param_store *ps, const char *prefix, int n, int bias)
{
    if (!bias)
        return -1;
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.bias", prefix);
    return params_declare_auto(ps, name, 1, (int[]){n});
}

void layers_declare_linear(param_store *ps, const char *prefix, int out, int in, int bias, int *w, int *b)
{
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w = params_declare_auto(ps, name, 2, (int[]){out, in});
    *b = declare_optional_bias(ps, prefix, out, bias);
}

void layers_declare_layernorm(param_store *ps, const char *prefix, int d, int bias, int *w, int *b)
{
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w = params_declare_auto(ps, name, 1, (int[]){d});
    *b = declare_optional_bias(ps, prefix, d, bias);
}

tensor *layers_param(param_store *ps, int idx) { return idx < 0 ? NULL : params_tensor(ps, idx); }

tensor *layers_linear(tape *tp, param_store *ps, tensor *x, int w, int b)
{
    return op_linear(tp, x, params_tensor(ps, w), layers_param(ps, b));
}

tensor *layers_residual_linear(tape *tp, param_store *ps, tensor *res, tensor *x, int w, int b, real p, rng *drop)
{
    if (tp->training && p != 0)
        return op_add(tp, res, op_dropout(tp, layers_linear(tp, ps, x, w, b), p, drop));
    return op_linear_residual(tp, res, x, params_tensor(ps, w), layers_param(ps, b));
}

tensor *layers_layernorm(tape *tp, param_store *ps, tensor *x, int w, int b)
{
    return op_layernorm(tp, x, params_tensor(ps, w), layers_param(ps, b), (real)LAYERS_LN_EPS);
}

tensor *layers_layernorm_to_linear(tape *tp, param_store *ps, tensor *x, int w, int b)
{
    return op_layernorm_bf16_out(tp, x, params_tensor(ps, w), layers_param(ps, b), (real)LAYERS_LN_EPS);
}

void layers_fill_if(param_store *ps, int idx, double v)
{
    if (idx >= 0)
        params_fill(ps, idx, v);
}

tensor *layers_buffer_view(tape *tp, real *buf, int n, int d)
{
    tensor *t = tape_alloc(tp, sizeof *t);
    memset(t, 0, sizeof *t);
    t->data = buf;
    t->device = tp->device;
    tensor_set_shape(t, 3, (int[]){1, n, d});
    return t;
}

real *layers_buffer_new(size_t n, device_kind dev)
{
    real *b = mem_alloc(device_mem(dev), n * sizeof *b);
    mem_zero(device_mem(dev), b, n * sizeof *b);
    return b;
}

void layers_buffer_free(real *buf, device_kind dev) { mem_free(device_mem(dev), buf); }

void layers_buffer_copy(const tape *tp, real *dst, const real *src, size_t n)
{
    const mem_kind k = device_mem(tp->device);
    mem_copy(dst, k, src, k, n * sizeof *dst);
}
