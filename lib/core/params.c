#include "core/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define PARAM_ALIGN_ELEMS (64 / sizeof(real))

void params_init(param_store *ps) { memset(ps, 0, sizeof *ps); }

void params_free(param_store *ps)
{
    free(ps->data);
    free(ps->grad);
    free(ps->m);
    free(ps->v);
    free(ps->entries);
    memset(ps, 0, sizeof *ps);
}

int params_declare(param_store *ps, const char *name, int ndim, const int *shape, int decay)
{
    if (ps->allocated)
        fatal("internal: parameter '%s' declared after allocation", name);
    if (strlen(name) >= PARAM_NAME_MAX)
        fatal("internal: parameter name too long: '%s'", name);
    if (params_find(ps, name) >= 0)
        fatal("internal: parameter '%s' declared twice", name);
    if (ps->count == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 32;
        ps->entries = xrealloc(ps->entries, (size_t)ps->cap * sizeof *ps->entries);
    }
    param_entry *e = &ps->entries[ps->count];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    tensor_set_shape(&e->t, ndim, shape);
    e->ndim = ndim;
    memcpy(e->shape, e->t.shape, sizeof e->shape);
    e->n = e->t.n;
    e->decay = decay;
    e->offset = ps->total;
    ps->total += (e->n + PARAM_ALIGN_ELEMS - 1) / PARAM_ALIGN_ELEMS * PARAM_ALIGN_ELEMS;
    return ps->count++;
}

int params_declare_auto(param_store *ps, const char *name, int ndim, const int *shape)
{
    return params_declare(ps, name, ndim, shape, ndim >= 2);
}

void params_alloc(param_store *ps)
{
    if (ps->allocated)
        fatal("internal: parameter store allocated twice");
    size_t bytes = ps->total * sizeof(real);
    ps->data = xaligned_zeroed(bytes);
    ps->grad = xaligned_zeroed(bytes);
    ps->m = xaligned_zeroed(bytes);
    ps->v = xaligned_zeroed(bytes);
    for (int i = 0; i < ps->count; i++) {
        param_entry *e = &ps->entries[i];
        e->t.data = ps->data + e->offset;
        e->t.grad = ps->grad + e->offset;
        e->t.requires_grad = 1;
    }
    ps->allocated = 1;
}

tensor *params_tensor(param_store *ps, int idx)
{
    if (idx < 0 || idx >= ps->count || !ps->allocated)
        fatal("internal: parameter %d of %d (allocated %d)", idx, ps->count, ps->allocated);
    return &ps->entries[idx].t;
}

int params_find(const param_store *ps, const char *name)
{
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->entries[i].name, name) == 0)
            return i;
    return -1;
}

size_t params_numel(const param_store *ps)
{
    size_t n = 0;
    for (int i = 0; i < ps->count; i++)
        n += ps->entries[i].n;
    return n;
}

void params_zero_grad(param_store *ps) { memset(ps->grad, 0, ps->total * sizeof(real)); }

void params_zero_moments(param_store *ps)
{
    if (!ps->m || ps->total == 0)   /* an empty store (e.g. no encoder) */
        return;
    memset(ps->m, 0, ps->total * sizeof(real));
    memset(ps->v, 0, ps->total * sizeof(real));
}

void params_scale_grad(param_store *ps, real factor)
{
    for (size_t i = 0; i < ps->total; i++)
        ps->grad[i] *= factor;
}

void params_init_normal(param_store *ps, int idx, double std, rng *r)
{
    tensor *t = params_tensor(ps, idx);
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)(std * rng_normal(r));
}

void params_init_uniform(param_store *ps, int idx, double lo, double hi, rng *r)
{
    tensor *t = params_tensor(ps, idx);
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)(lo + (hi - lo) * rng_uniform(r));
}

void params_fill(param_store *ps, int idx, double value)
{
    tensor *t = params_tensor(ps, idx);
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)value;
}

void params_copy(param_store *dst, const param_store *src, int with_optim)
{
    if (dst->total != src->total || dst->count != src->count)
        fatal("internal: copying between parameter stores of different layouts");
    size_t bytes = src->total * sizeof(real);
    memcpy(dst->data, src->data, bytes);
    if (with_optim) {
        memcpy(dst->m, src->m, bytes);
        memcpy(dst->v, src->v, bytes);
    }
}
