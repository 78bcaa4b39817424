/* Per-step bump allocator for activations and saved values. It grows by adding blocks (pointers
 * already handed out never move) and, on reset, folds everything into one block of the peak size,
 * so after the first step a training loop allocates nothing. */
#ifndef MEMLAB_ARENA_H
#define MEMLAB_ARENA_H

#include <stddef.h>

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    unsigned char *mem;
} arena_block;

typedef struct {
    arena_block *blocks;   /* newest first */
    size_t peak;           /* largest total use seen in one step */
} arena;

void arena_init(arena *a);
/* 64-byte aligned, uninitialised; never NULL (out of memory is fatal). */
void *arena_alloc(arena *a, size_t bytes);
void *arena_zalloc(arena *a, size_t bytes);
size_t arena_used(const arena *a);
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
