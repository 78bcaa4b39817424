/* tape_backward (core/tape.h): the reverse pass, with gradient buffers given when the pass first
 * reaches a tensor and handed back for reuse once it is dead. An op output's gradient is dead
 * after the node that produced it has run, the last one in reverse order to touch it; blocks of
 * the same size (the same shapes repeat layer after layer) then serve the next layers down. The
 * pass holds the gradients of a few layers instead of every op output's at once, which was the
 * largest part of a step's memory after the activations (benchmarks/NOTES.md §13).
 * A buffer is not zeroed when given: it is marked grad_unset, and the first node to write it either
 * stores into it (a node that `assigns`: grad_first_write) or gets it zeroed just before its backward
 * runs; so the largest gradients are written once instead of zeroed, read and written again
 * (docs/design.md, "Gradients written once"). The numbers do not change: a store of x equals 0 + x. */
#include <stdint.h>
#include <string.h>

#include "core/dispatch.h"
#include "core/op_profile.h"
#include "core/error.h"
#include "core/tape.h"

struct tape_spare {
    void *mem;
    size_t bytes;
};

/* What the pass knows of one tensor: the first node (in recording order) that touches it, as
 * input or output; whether a node produced it (leaves keep their gradients: callers read them);
 * whether its buffer came from this pass (parameters' and leaves' own buffers are never taken). */
typedef struct {
    const tensor *t;
    int first;
    unsigned char produced, owned;
} tensor_info;

/* Open addressing on the tensor's address; host memory from the tape's arena (dies at reset). */
typedef struct {
    tensor_info *slot;
    size_t mask;
} tensor_table;

static tensor_info *info_of(tensor_table *tb, const tensor *t)
{
    size_t i = (size_t)(((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull >> 20) & tb->mask;
    while (tb->slot[i].t && tb->slot[i].t != t)
        i = (i + 1) & tb->mask;
    return &tb->slot[i];
}

static void table_build(tape *tp, tensor_table *tb, const tensor *loss)
{
    size_t want = 2 * ((size_t)tp->n * (TAPE_MAX_IN + 1) + 1), cap = 64;
    while (cap < want)
        cap *= 2;
    tb->slot = tape_alloc(tp, cap * sizeof *tb->slot);
    memset(tb->slot, 0, cap * sizeof *tb->slot);
    tb->mask = cap - 1;
    for (int i = 0; i < tp->n; i++) {
        const tape_node *node = &tp->nodes[i];
        for (int j = -1; j < node->n_in; j++) {
            const tensor *t = j < 0 ? node->out : node->in[j];
            tensor_info *f = t ? info_of(tb, t) : NULL;
            if (f && !f->t) {
                f->t = t;
                f->first = i;
            }
            if (f && j < 0)
                f->produced = 1;
        }
    }
    tensor_info *f = info_of(tb, loss);
    if (!f->t) {
        f->t = loss;
        f->first = tp->n;
    }
}

/* A buffer of `bytes` on the tape's device, its contents undefined: a spare block of that size when
 * there is one. The double build (the gradient checks) fills it with NaNs, so that a kernel that
 * adds into a gradient it should have stored shows in every check. */
static real *take(tape *tp, size_t bytes)
{
    arena *a = tape_data_arena(tp);
    void *mem = NULL;
    for (int i = tp->n_spare - 1; i >= 0 && !mem; i--)
        if (tp->spare[i].bytes == bytes) {
            mem = tp->spare[i].mem;
            tp->spare[i] = tp->spare[--tp->n_spare];
        }
    if (!mem)
        mem = arena_alloc(a, bytes);
#ifdef MEMLAB_DOUBLE
    if (a->kind == MEM_HOST)
        memset(mem, 0xff, bytes);
#endif
    return mem;
}

/* Zeroes t's gradient if no node has written it yet. */
static void settle(tape *tp, tensor *t)
{
    if (!t || !t->grad_unset)
        return;
    arena *a = tape_data_arena(tp);
    if (a->kind == MEM_HOST)
        memset(t->grad, 0, t->n * sizeof(real));
    else
        mem_zero(a->kind, t->grad, t->n * sizeof(real));
    t->grad_unset = 0;
}

static void give(tape *tp, void *mem, size_t bytes)
{
    if (tp->n_spare == tp->cap_spare) {
        tp->cap_spare = tp->cap_spare ? 2 * tp->cap_spare : 64;
        tp->spare = xrealloc(tp->spare, (size_t)tp->cap_spare * sizeof *tp->spare);
    }
    tp->spare[tp->n_spare++] = (struct tape_spare){mem, bytes};
}

static void ensure_grad(tape *tp, tensor_table *tb, tensor *t)
{
    if (!t || !t->requires_grad || t->grad)
        return;
    t->grad = take(tp, t->n * sizeof(real));
    t->grad_unset = 1;
    info_of(tb, t)->owned = 1;
}

/* After node i has run: the gradients whose last use it was go back. */
static void release_dead(tape *tp, tensor_table *tb, int i)
{
    tape_node *node = &tp->nodes[i];
    for (int j = -1; j < node->n_in; j++) {
        tensor *t = j < 0 ? node->out : node->in[j];
        tensor_info *f = t ? info_of(tb, t) : NULL;
        if (f && f->first == i && f->produced && f->owned) {
            give(tp, t->grad, t->n * sizeof(real));
            t->grad = NULL;
            f->owned = 0;
        }
    }
}

void tape_backward(tape *tp, tensor *loss)
{
    if (loss->n != 1)
        fatal("internal: backward from a tensor of %zu elements", loss->n);
    if (!loss->requires_grad)
        return;
    tensor_table tb;
    table_build(tp, &tb, loss);
    ensure_grad(tp, &tb, loss);
    settle(tp, loss);   /* the seed adds 1 */
    tensor_seed_grad(loss);
    op_profile_mark(tp->device, "loss read, backward set-up", PROF_BWD);
    for (int i = tp->n - 1; i >= 0; i--) {
        tape_node *node = &tp->nodes[i];
        ensure_grad(tp, &tb, node->out);
        settle(tp, node->out);   /* no later node wrote it: nothing flowed back, a zero gradient */
        for (int j = 0; j < node->n_in; j++) {
            ensure_grad(tp, &tb, node->in[j]);
            if (!(node->assigns >> j & 1))
                settle(tp, node->in[j]);
        }
        node->backward(tp, node);
        for (int j = 0; j < node->n_in; j++)
            settle(tp, node->in[j]);   /* what an assigning backward left unwritten */
        op_profile_mark(tp->device, node->name, PROF_BWD);
        release_dead(tp, &tb, i);
    }
}
