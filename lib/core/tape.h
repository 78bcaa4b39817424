/* The eager tape. An op computes its output at once and, when gradients are on and an input needs
 * one, records a node {backward, inputs, output, saved values}; tape_backward(loss) walks the nodes
 * in reverse. Models are written forward-only and get their backward pass from the recorded nodes.
 * All op outputs and saved values live in the tape's arenas and die at tape_reset().
 *
 * A tape has a device (tape_set_device): its tensors' numbers live there, in the `data` arena (the
 * GPU's memory for DEV_CUDA), while the tensor structs, the nodes and everything tape_alloc hands
 * out stay on the host. On the CPU both are the one host arena `mem`. */
#ifndef MEMLAB_TAPE_H
#define MEMLAB_TAPE_H

#include <stddef.h>

#include "core/arena.h"
#include "core/tensor.h"

#define TAPE_MAX_IN 4

typedef struct tape tape;
typedef struct tape_node tape_node;
typedef void (*tape_backward_fn)(tape *tp, tape_node *node);
/* Sees the probabilities att[B,H,Tq,Tk] of every attention op as it runs (analyses such as
 * attention maps read them without the models knowing); per_sequence_keys is 0 when the keys are a
 * table shared by the whole batch (the mosaic's persistent memory). */
typedef void (*tape_attention_observer)(void *ctx, const real *att, int B, int H, int Tq, int Tk,
                                        int per_sequence_keys);

struct tape_node {
    tape_backward_fn backward;
    const char *name;          /* the backward function's name (tape_record) */
    tensor *out;
    tensor *in[TAPE_MAX_IN];   /* NULL entries allowed (optional inputs such as a bias) */
    int n_in;
    void *saved[4];            /* arena buffers the op keeps for its backward pass */
    long long iarg[8];         /* integer arguments (dimensions, flags) */
    double farg[4];            /* scalar arguments */
    unsigned char assigns;     /* bit j: the backward may store into input j's gradient when it is
                                  marked grad_unset (grad_first_write); the tape zeroes every other
                                  unset input gradient before the backward runs */
};

struct tape {
    arena mem;          /* host: tensor structs, tape_alloc, and on the CPU the numbers too */
    arena data;         /* DEV_CUDA: the numbers (device memory) */
    arena pinned;       /* DEV_CUDA: scalar outputs the host reads (losses), pinned and mapped */
    device_kind device;
    int bf16;           /* DEV_CUDA: linears in bf16 (tape_set_bf16) */
    tape_node *nodes;
    int n, cap;
    int grad_enabled;   /* record nodes at all (off for evaluation) */
    int training;       /* dropout active */
    tape_attention_observer att_observer;   /* NULL: none */
    struct tape_spare *spare;   /* tape_backward: dead gradient blocks for reuse (tape_grad.c) */
    int n_spare, cap_spare;
    void *att_observer_ctx;
};

void tape_init(tape *tp);
void tape_free(tape *tp);
/* Forget every node and every arena tensor (keeps the memory for the next step). */
void tape_reset(tape *tp);

/* Puts the tape's numbers on a device (an empty tape only; device_open first). */
void tape_set_device(tape *tp, device_kind d);

/* --dtype bf16: the tape's linears take bf16 operands on the tensor cores with fp32 accumulation;
 * values, gradients and master weights stay fp32. A GPU mode: fatal on a CPU tape. */
void tape_set_bf16(tape *tp, int on);

/* tape_init, then (on the GPU) tape_set_device and tape_set_bf16: a tape for a command's --device
 * and --dtype. */
void tape_init_on(tape *tp, device_kind d, int bf16);

/* Room on the tape for out's bf16 copy when its producer should write one (on the GPU under --dtype
 * bf16: the outputs of layernorm, GELU and attention, which bf16 linears read; tensor.bf16), else
 * NULL. The copy costs the producer a 2-byte store an element and saves the linear a 4-byte load
 * and a launch (docs/gpu.md). */
unsigned short *tape_bf16_copy(tape *tp, const tensor *out);

/* Host arena memory (dimension structs, copies of ids, anything the host reads). */
void *tape_alloc(tape *tp, size_t bytes);
/* Arena memory on the tape's device: op outputs' numbers and saved values kernels read. */
void *tape_alloc_data(tape *tp, size_t bytes);
/* A one-element tensor the host can read after device_sync (pinned on the GPU): a loss. */
tensor *tape_scalar(tape *tp);
/* A new arena tensor with uninitialised / zeroed data, no gradient. */
tensor *tape_tensor(tape *tp, int ndim, const int *shape);
/* A tensor of the tape held in bf16 only (tensor.bf16; data NULL): the output of a GPU op under
 * --dtype bf16 whose every reader takes bf16 (op_linear_bf16_out, op_linear_gelu_erf,
 * op_layernorm_bf16_out). */
tensor *tape_tensor16(tape *tp, int ndim, const int *shape);
tensor *tape_tensor_zeros(tape *tp, int ndim, const int *shape);
/* An arena tensor holding a copy of src (n elements per shape, HOST memory) on the tape's device;
 * never requires grad. */
tensor *tape_input(tape *tp, int ndim, const int *shape, const real *src);
/* A tensor sharing x's data with another shape of the same size; no node, so gradients do not flow
 * through it: use op_reshape for that. */
tensor *tape_view(tape *tp, const tensor *x, int ndim, const int *shape);

/* t itself when it is on the CPU; else a copy of its values in host memory of the tape (a tensor
 * on the CPU, no gradient, valid until tape_reset): for host code that reads an op's output, such
 * as evaluation reading logits. It waits for the GPU. */
tensor *tape_to_host(tape *tp, tensor *t);

/* 1 when tape_record would record a node for these inputs: an op that must set buffers aside for
 * its backward before computing asks this first, and records after computing. */
int tape_will_record(const tape *tp, int n_in, tensor *const *in);

/* Records a node for `out` computed from `in` when gradients are on and some input requires one;
 * then marks out->requires_grad. Called once the op has computed `out` (the profiler's forward
 * mark). Returns the node (to fill saved/args) or NULL when nothing was recorded, in which case the
 * op needs to save nothing. */
tape_node *tape_record_op(tape *tp, tape_backward_fn backward, const char *name, tensor *out, int n_in,
                          tensor *const *in);
/* The op's name, for the profiler (core/op_profile.h), is its backward function's. */
#define tape_record(tp, backward, ...) tape_record_op(tp, backward, #backward, __VA_ARGS__)

/* Seeds d(loss)/d(loss) = 1 (loss must have one element) and runs the nodes in reverse. Each
 * tensor on the way gets a zeroed gradient buffer when the pass first reaches it; an op output's
 * buffer goes back for reuse once the last node that touches it has run (its producer), and the
 * output's grad is NULL after the pass. Parameters keep accumulating into the store's buffers and
 * leaves into their own (+=), so calling it for several micro-batches accumulates them.
 * (tape_grad.c; docs/design.md, "The tape".) */
void tape_backward(tape *tp, tensor *loss);
/* The arena that holds the tape's numbers (the host arena on the CPU, device memory on the GPU). */
arena *tape_data_arena(tape *tp);

/* True when an input of a node needs its gradient (backward functions skip the others). */
static inline int needs_grad(const tensor *t) { return t && t->requires_grad && t->grad; }

/* In the backward of a node whose `assigns` has t's bit: whether the next write into t's gradient must
 * store rather than add, the buffer holding no values yet (docs/design.md, "Gradients written
 * once"). The mark goes, so that a second write into the same gradient (an input used twice) adds.
 * A gradient the backward leaves unwritten is zeroed after it. Only a gradient the tape handed out
 * is marked, so this is 0 for an input that needs none (grad_of NULL). */
static inline int grad_first_write(tensor *t)
{
    if (!t || !t->grad_unset)
        return 0;
    t->grad_unset = 0;
    return 1;
}

/* grad_first_write for a reader that can write t's gradient in bf16 (a bf16 product's output): when
 * t's producer takes it so (takes_grad16) and this is the first write, the gradient's own buffer to
 * write n bf16 values into, t marked grad_is16 for its producer's backward; else NULL, and the
 * reader writes fp32 as before (calling grad_first_write itself). The producer promises a single
 * reader, so no second write will add fp32 numbers to the bf16 ones. */
static inline unsigned short *grad16_first_write(tensor *t)
{
    if (!t || !t->takes_grad16 || !t->grad_unset)
        return NULL;
    t->grad_unset = 0;
    t->grad_is16 = 1;
    return (unsigned short *)t->grad;
}

/* In the backward of a node whose `assigns` has dst's bit, for a gradient that passes through
 * unchanged (a reshape, an add): when dst's gradient holds no values yet (marked grad_unset), the
 * node's output gradient src becomes dst's and dst's empty buffer becomes src's, instead of a copy.
 * src is the node's own output: the tape hands both buffers out and gives src's back after this
 * node, so the two simply change owners (docs/design.md, "Gradients written once"). Returns 0 when
 * it cannot (dst's gradient already holds values, or none is wanted): the caller then adds. */
static inline int grad_move(tensor *dst, tensor *src)
{
    if (!dst || !dst->grad_unset || dst == src || !src->grad || dst->n != src->n)
        return 0;
    real *empty = dst->grad;
    dst->grad = src->grad;
    src->grad = empty;
    dst->grad_unset = 0;
    return 1;
}

#endif
