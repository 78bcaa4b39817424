/* Per-step bump allocator for activations and saved values. It grows by adding blocks (pointers
 * already handed out never move) and, on reset, folds everything into one block of the peak size,
 * so after the first step a training loop allocates nothing. The memory may be the GPU's: the
 * arena then hands out device pointers that only kernels may touch. */
#ifndef MEMLAB_ARENA_H
#define MEMLAB_ARENA_H

#include <stddef.h>

#include "core/device.h"

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    unsigned char *mem;
} arena_block;

typedef struct {
    arena_block *blocks;   /* newest first */
    size_t peak;           /* largest total use seen in one step */
    mem_kind kind;         /* host, device or pinned memory (the block headers stay on the host) */
} arena;

void arena_init(arena *a);
/* An arena of device or pinned memory (arena_init: host). */
void arena_init_kind(arena *a, mem_kind kind);
/* 64-byte aligned, uninitialised; never NULL (out of memory is fatal). */
void *arena_alloc(arena *a, size_t bytes);
void *arena_zalloc(arena *a, size_t bytes);
size_t arena_used(const arena *a);
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
