#include "core/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dispatch.h"
#include "core/error.h"

#define PARAM_ALIGN_ELEMS (64 / sizeof(real))

void params_init(param_store *ps) { memset(ps, 0, sizeof *ps); }

void params_free(param_store *ps)
{
    mem_kind k = device_mem(ps->device);
    mem_free(k, ps->data);
    mem_free(k, ps->grad);
    mem_free(k, ps->m);
    mem_free(k, ps->v);
    mem_free(k, ps->decay_mask);
    mem_free(MEM_PINNED, ps->scalars);
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

/* The initialisers write host memory: a store on the GPU is initialised before params_move. */
static tensor *host_tensor(param_store *ps, int idx, const char *fn)
{
    if (ps->device != DEV_CPU)
        fatal("internal: %s on a parameter store on the %s (initialise, then params_move)", fn,
              device_name(ps->device));
    return params_tensor(ps, idx);
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


void params_zero_moments(param_store *ps)
{
    if (!ps->m || ps->total == 0)   /* an empty store (e.g. no encoder) */
        return;
    mem_zero(device_mem(ps->device), ps->m, ps->total * sizeof(real));
    mem_zero(device_mem(ps->device), ps->v, ps->total * sizeof(real));
}

void params_init_normal(param_store *ps, int idx, double std, rng *r)
{
    tensor *t = host_tensor(ps, idx, "params_init_normal");
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)(std * rng_normal(r));
}

void params_init_uniform(param_store *ps, int idx, double lo, double hi, rng *r)
{
    tensor *t = host_tensor(ps, idx, "params_init_uniform");
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)(lo + (hi - lo) * rng_uniform(r));
}

void params_fill(param_store *ps, int idx, double value)
{
    tensor *t = host_tensor(ps, idx, "params_fill");
    for (size_t i = 0; i < t->n; i++)
        t->data[i] = (real)value;
}

void params_copy(param_store *dst, const param_store *src, int with_optim)
{
    if (dst->total != src->total || dst->count != src->count)
        fatal("internal: copying between parameter stores of different layouts");
    size_t bytes = src->total * sizeof(real);
    mem_kind dk = device_mem(dst->device), sk = device_mem(src->device);
    mem_copy(dst->data, dk, src->data, sk, bytes);
    if (with_optim) {
        mem_copy(dst->m, dk, src->m, sk, bytes);
        mem_copy(dst->v, dk, src->v, sk, bytes);
    }
}

/* A buffer of the store moved to another kind of memory (the old one freed). */
static real *buffer_move(real *old, mem_kind from, mem_kind to, size_t bytes)
{
    real *p = mem_alloc(to, bytes);
    mem_copy(p, to, old, from, bytes);
    mem_free(from, old);
    return p;
}

void params_move(param_store *ps, device_kind d)
{
    if (!ps->allocated)
        fatal("internal: params_move before params_alloc");
    if (ps->device == d)
        return;
    mem_kind from = device_mem(ps->device), to = device_mem(d);
    size_t bytes = ps->total * sizeof(real);
    ps->data = buffer_move(ps->data, from, to, bytes);
    ps->grad = buffer_move(ps->grad, from, to, bytes);
    ps->m = buffer_move(ps->m, from, to, bytes);
    ps->v = buffer_move(ps->v, from, to, bytes);
    mem_free(from, ps->decay_mask);
    mem_free(MEM_PINNED, ps->scalars);
    ps->decay_mask = NULL;
    ps->scalars = NULL;
    if (d != DEV_CPU) {
        /* The fused AdamW reads the decay flag per element (padding: no decay; it stays zero). */
        unsigned char *mask = xcalloc(ps->total ? ps->total : 1, 1);
        for (int i = 0; i < ps->count; i++)
            if (ps->entries[i].decay)
                memset(mask + ps->entries[i].offset, 1, ps->entries[i].n);
        ps->decay_mask = mem_alloc(to, ps->total ? ps->total : 1);
        mem_copy(ps->decay_mask, to, mask, MEM_HOST, ps->total);
        free(mask);
        ps->scalars = mem_alloc(MEM_PINNED, 64);
    }
    ps->device = d;
    for (int i = 0; i < ps->count; i++) {
        param_entry *e = &ps->entries[i];
        e->t.data = ps->data + e->offset;
        e->t.grad = ps->grad + e->offset;
        e->t.device = d;
    }
}
