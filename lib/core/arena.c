#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK ((size_t)1 << 20)

static arena_block *block_new(size_t size)
{
    arena_block *b = xcalloc(1, sizeof *b);
    size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    b->mem = aligned_alloc(ARENA_ALIGN, size);
    if (!b->mem)
        fatal("out of memory (activation arena of %zu bytes)", size);
    b->size = size;
    return b;
}

void arena_init(arena *a)
{
    a->blocks = NULL;
    a->peak = 0;
}

void *arena_alloc(arena *a, size_t bytes)
{
    size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need == 0)
        need = ARENA_ALIGN;
    arena_block *b = a->blocks;
    if (!b || b->size - b->used < need) {
        size_t grow = arena_used(a);  /* double the footprint each time it runs out */
        if (grow < ARENA_MIN_BLOCK)
            grow = ARENA_MIN_BLOCK;
        b = block_new(need > grow ? need : grow);
        b->next = a->blocks;
        a->blocks = b;
    }
    void *p = b->mem + b->used;
    b->used += need;
    return p;
}

void *arena_zalloc(arena *a, size_t bytes)
{
    void *p = arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

size_t arena_used(const arena *a)
{
    size_t used = 0;
    for (const arena_block *b = a->blocks; b; b = b->next)
        used += b->used;
    return used;
}

void arena_reset(arena *a)
{
    size_t used = arena_used(a);
    if (used > a->peak)
        a->peak = used;
    if (a->blocks && a->blocks->next) {
        arena_free(a);
        a->blocks = block_new(a->peak);
    }
    if (a->blocks)
        a->blocks->used = 0;
}

void arena_free(arena *a)
{
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b->mem);
        free(b);
        b = next;
    }
    a->blocks = NULL;
}
