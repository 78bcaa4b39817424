#include "core/tape.h"

#include <stdlib.h>
#include <string.h>

#include "core/dispatch.h"
#include "core/op_profile.h"
#include "core/error.h"

void tape_init(tape *tp)
{
    memset(tp, 0, sizeof *tp);
    arena_init(&tp->mem);
    arena_init(&tp->data);
    arena_init(&tp->pinned);
    tp->device = DEV_CPU;
    tp->grad_enabled = 1;
    tp->training = 1;
}

void tape_free(tape *tp)
{
    arena_free(&tp->mem);
    arena_free(&tp->data);
    arena_free(&tp->pinned);
    free(tp->nodes);
    free(tp->spare);
    memset(tp, 0, sizeof *tp);
}

void tape_reset(tape *tp)
{
    op_profile_mark(tp->device, "outside the tape", PROF_OUTSIDE);
    tp->n = 0;
    tp->n_spare = 0;   /* the spare gradient blocks were arena memory */
    arena_reset(&tp->mem);
    arena_reset(&tp->data);
    arena_reset(&tp->pinned);
}

void tape_set_device(tape *tp, device_kind d)
{
    if (tp->n || tp->mem.blocks || tp->data.blocks)
        fatal("internal: tape_set_device on a tape already in use");
    tp->device = d;
    arena_init_kind(&tp->data, device_mem(d));
    arena_init_kind(&tp->pinned, d == DEV_CUDA ? MEM_PINNED : MEM_HOST);
}

void tape_set_bf16(tape *tp, int on)
{
    if (on && tp->device != DEV_CUDA)
        fatal("internal: bf16 on a tape on the %s (a GPU mode)", device_name(tp->device));
    tp->bf16 = on;
}

unsigned short *tape_bf16_copy(tape *tp, const tensor *out)
{
    if (out->device != DEV_CUDA || !tp->bf16)
        return NULL;
    return tape_alloc_data(tp, out->n * sizeof(unsigned short));
}

void tape_init_on(tape *tp, device_kind d, int bf16)
{
    tape_init(tp);
    if (d != DEV_CPU) {
        tape_set_device(tp, d);
        tape_set_bf16(tp, bf16);
    }
}

void *tape_alloc(tape *tp, size_t bytes) { return arena_alloc(&tp->mem, bytes); }

/* The arena of the tape's numbers: `mem` itself on the CPU, as before devices existed. */
arena *tape_data_arena(tape *tp) { return tp->device == DEV_CPU ? &tp->mem : &tp->data; }

void *tape_alloc_data(tape *tp, size_t bytes) { return arena_alloc(tape_data_arena(tp), bytes); }

static tensor *tensor_struct(tape *tp, int ndim, const int *shape)
{
    tensor *t = arena_zalloc(&tp->mem, sizeof *t);
    tensor_set_shape(t, ndim, shape);
    t->device = tp->device;
    return t;
}

tensor *tape_tensor(tape *tp, int ndim, const int *shape)
{
    tensor *t = tensor_struct(tp, ndim, shape);
    t->data = tape_alloc_data(tp, t->n * sizeof(real));
    return t;
}

tensor *tape_tensor16(tape *tp, int ndim, const int *shape)
{
    tensor *t = tensor_struct(tp, ndim, shape);
    t->bf16 = tape_alloc_data(tp, t->n * sizeof *t->bf16);
    return t;
}

tensor *tape_scalar(tape *tp)
{
    int one = 1;
    tensor *t = tensor_struct(tp, 1, &one);
    t->data = arena_alloc(tp->device == DEV_CPU ? &tp->mem : &tp->pinned, sizeof(real));
    return t;
}

tensor *tape_tensor_zeros(tape *tp, int ndim, const int *shape)
{
    tensor *t = tape_tensor(tp, ndim, shape);
    mem_zero(device_mem(tp->device), t->data, t->n * sizeof(real));
    return t;
}

tensor *tape_input(tape *tp, int ndim, const int *shape, const real *src)
{
    tensor *t = tape_tensor(tp, ndim, shape);
    mem_copy(t->data, device_mem(tp->device), src, MEM_HOST, t->n * sizeof(real));
    return t;
}

tensor *tape_view(tape *tp, const tensor *x, int ndim, const int *shape)
{
    tensor *t = arena_zalloc(&tp->mem, sizeof *t);
    tensor_set_shape(t, ndim, shape);
    if (t->n != x->n)
        fatal("internal: view of %zu elements as %zu", x->n, t->n);
    t->data = x->data;
    t->bf16 = x->bf16;
    t->device = x->device;
    return t;
}

tensor *tape_to_host(tape *tp, tensor *t)
{
    if (t->device == DEV_CPU)
        return t;
    tensor *h = arena_zalloc(&tp->mem, sizeof *h);
    tensor_set_shape(h, t->ndim, t->shape);
    h->data = arena_alloc(&tp->mem, t->n * sizeof(real));
    mem_copy(h->data, MEM_HOST, t->data, device_mem(t->device), t->n * sizeof(real));
    return h;
}

int tape_will_record(const tape *tp, int n_in, tensor *const *in)
{
    if (!tp->grad_enabled)
        return 0;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad)
            return 1;
    return 0;
}

tape_node *tape_record_op(tape *tp, tape_backward_fn backward, const char *name, tensor *out, int n_in,
                          tensor *const *in)
{
    op_profile_mark(tp->device, name, PROF_FWD);
    if (n_in > TAPE_MAX_IN)
        fatal("internal: op with %d inputs", n_in);
    if (!tape_will_record(tp, n_in, in))
        return NULL;
    if (tp->n == tp->cap) {
        tp->cap = tp->cap ? 2 * tp->cap : 256;
        tp->nodes = xrealloc(tp->nodes, (size_t)tp->cap * sizeof *tp->nodes);
    }
    tape_node *node = &tp->nodes[tp->n++];
    memset(node, 0, sizeof *node);
    node->backward = backward;
    node->name = name;
    node->out = out;
    node->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        node->in[i] = in[i];
    out->requires_grad = 1;
    return node;
}
