#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK ((size_t)1 << 20)

static arena_block *block_new(mem_kind kind, size_t size)
{
    arena_block *b = xcalloc(1, sizeof *b);
    size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    /* Host blocks are not zeroed (arena_zalloc zeroes what it hands out); GPU memory comes from
     * the device seam, which is fatal on failure. */
    b->mem = kind == MEM_HOST ? aligned_alloc(ARENA_ALIGN, size) : mem_alloc(kind, size);
    if (!b->mem)
        fatal("out of memory (activation arena of %zu bytes)", size);
    b->size = size;
    return b;
}

void arena_init(arena *a) { arena_init_kind(a, MEM_HOST); }

void arena_init_kind(arena *a, mem_kind kind)
{
    a->blocks = NULL;
    a->peak = 0;
    a->kind = kind;
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
        b = block_new(a->kind, need > grow ? need : grow);
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
    if (a->kind == MEM_HOST)
        memset(p, 0, bytes);
    else
        mem_zero(a->kind, p, bytes);
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
        a->blocks = block_new(a->kind, a->peak);
    }
    if (a->blocks)
        a->blocks->used = 0;
}

void arena_free(arena *a)
{
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        if (a->kind == MEM_HOST)
            free(b->mem);
        else
            mem_free(a->kind, b->mem);
        free(b);
        b = next;
    }
    a->blocks = NULL;
}
