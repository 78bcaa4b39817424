/* The core's own thread pool: parallel loops that finish without waiting for a thread the operating
 * system has not scheduled (docs/threads.md).
 *
 * A loop [0, n) is cut into chunks; the calling thread and the pool's workers claim chunks from one
 * counter until none is left, and the call returns once every claimed chunk is done. A worker that
 * is descheduled (another process holds its core) claims nothing and is not waited for, where an
 * OpenMP team's barrier waits for every member at the end of every region. Chunk boundaries depend
 * only on n and the pool's size, never on which thread ran what, so results do not depend on
 * timing. A loop started from inside a chunk runs inline on that thread. */
#ifndef MEMLAB_POOL_H
#define MEMLAB_POOL_H

#include <stddef.h>

/* One chunk: the indices [lo, hi) of the loop, with the caller's argument. */
typedef void (*pool_fn)(void *arg, size_t lo, size_t hi);

/* Runs fn over [0, n): on the calling thread alone when parallel is 0 (the caller's "is it worth
 * it" test, like OpenMP's if clause), when the pool has one participant, or when called from
 * inside a chunk; else split among the participants. */
void pool_for(size_t n, int parallel, pool_fn fn, void *arg);

/* Participants (the caller plus the workers), and the index in [0, pool_size()) of the calling
 * participant while it runs a chunk (0 outside the pool): per-participant scratch buffers. */
int pool_size(void);
int pool_participant(void);

/* 1 while the calling thread runs a chunk (a loop it starts now runs inline). */
int pool_in_loop(void);

/* threads >= 1 participants; workers start at the first parallel loop. */
void pool_resize(int threads);

#endif
