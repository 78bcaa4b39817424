/* The thread pool of pool.h; the design and its measurements are in docs/threads.md.
 *
 * One job at a time. The job's chunks are claimed through `ticket`, a 64-bit word holding the job's
 * generation (high half) and the next chunk (low half): a worker that wakes late, after its job is
 * over, sees another generation and claims nothing, so it can never run a chunk of a job it did not
 * read. `limit` carries the generation and the chunk count the same way. The caller waits only for
 * `done` to count every chunk; a claimed chunk is always finished before the next job is published,
 * so a job's description cannot change under a worker that holds one of its chunks.
 *
 * Idle workers spin for a short while (the next loop of a training step usually comes within
 * microseconds), then sleep on a condition variable; the caller signals it only when someone
 * sleeps. */
#include "core/pool.h"

#include "core/error.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spins of an idle worker before it sleeps (~0.2-1 ms with the pause instruction), and of the caller
 * waiting for claimed chunks before it yields its core. */
enum { IDLE_SPINS = 1 << 14, WAIT_SPINS = 1 << 10, CHUNKS_PER_PARTICIPANT = 4 };

static struct {
    int size; /* participants: the caller and size - 1 workers */
    int started;
    pthread_t *workers;
    _Atomic uint64_t ticket;
    _Atomic uint64_t limit;
    _Atomic(pool_fn) fn;
    _Atomic(void *) arg;
    _Atomic size_t n;
    _Atomic uint32_t done;
    _Atomic int sleepers;
    _Atomic int stop;
    atomic_flag busy; /* a job is running: a second caller thread runs its loop inline */
    pthread_mutex_t mu;
    pthread_cond_t wake;
} P = {.size = 1, .busy = ATOMIC_FLAG_INIT, .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local int my_index;
static _Thread_local int in_chunk;

static uint32_t gen_of(uint64_t w) { return (uint32_t)(w >> 32); }

static void run_chunk(uint32_t c, uint32_t chunks)
{
    const size_t n = atomic_load_explicit(&P.n, memory_order_relaxed);
    const size_t lo = n * c / chunks, hi = n * (c + 1) / chunks;
    in_chunk = 1;
    atomic_load_explicit(&P.fn, memory_order_relaxed)(atomic_load_explicit(&P.arg, memory_order_relaxed), lo, hi);
    in_chunk = 0;
    atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
}

/* Claims and runs chunks of job `gen` until none is left or the job is no longer the current one. */
static void claim_chunks(uint32_t gen)
{
    for (;;) {
        uint64_t t = atomic_load_explicit(&P.ticket, memory_order_acquire);
        const uint64_t lim = atomic_load_explicit(&P.limit, memory_order_acquire);
        if (gen_of(t) != gen || gen_of(lim) != gen || (uint32_t)t >= (uint32_t)lim)
            return;
        if (atomic_compare_exchange_weak_explicit(&P.ticket, &t, t + 1, memory_order_acq_rel, memory_order_relaxed))
            run_chunk((uint32_t)t, (uint32_t)lim);
    }
}

static void *worker_main(void *arg)
{
    my_index = (int)(intptr_t)arg;
    uint32_t seen = gen_of(atomic_load(&P.ticket));
    for (;;) {
        uint32_t gen = seen;
        for (int spin = 0; gen == seen; spin++) {
            if (atomic_load_explicit(&P.stop, memory_order_acquire))
                return NULL;
            if (spin < IDLE_SPINS) {
                cpu_relax();
            } else {
                /* sleepers is raised before the generation is read again, and the caller reads it
                 * after publishing a job (both sequentially consistent): either the caller sees a
                 * sleeper and signals, or this thread sees the new job and does not sleep. */
                pthread_mutex_lock(&P.mu);
                atomic_fetch_add(&P.sleepers, 1);
                while (gen_of(atomic_load(&P.ticket)) == seen && !atomic_load(&P.stop))
                    pthread_cond_wait(&P.wake, &P.mu);
                atomic_fetch_sub(&P.sleepers, 1);
                pthread_mutex_unlock(&P.mu);
                spin = 0;
            }
            gen = gen_of(atomic_load_explicit(&P.ticket, memory_order_acquire));
        }
        seen = gen;
        claim_chunks(gen);
    }
}

static void stop_workers(void)
{
    if (!P.started)
        return;
    pthread_mutex_lock(&P.mu);
    atomic_store(&P.stop, 1);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.size; i++)
        pthread_join(P.workers[i - 1], NULL);
    free(P.workers);
    P.workers = NULL;
    P.started = 0;
    atomic_store(&P.stop, 0);
}

static void start_workers(void)
{
    static int registered;
    if (!registered) {
        atexit(stop_workers);
        registered = 1;
    }
    P.workers = xmalloc((size_t)(P.size - 1) * sizeof *P.workers);
    for (int i = 1; i < P.size; i++)
        if (pthread_create(&P.workers[i - 1], NULL, worker_main, (void *)(intptr_t)i) != 0)
            fatal("cannot start worker thread %d of %d", i, P.size - 1);
    P.started = 1;
}

void pool_resize(int threads)
{
    if (threads < 1)
        threads = 1;
    if (threads == P.size)
        return;
    stop_workers();
    P.size = threads;
}

int pool_size(void) { return P.size; }

int pool_participant(void) { return in_chunk ? my_index : 0; }

int pool_in_loop(void) { return in_chunk; }

void pool_for(size_t n, int parallel, pool_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (!parallel || P.size == 1 || n == 1 || in_chunk || atomic_flag_test_and_set(&P.busy)) {
        const int outer = in_chunk;
        in_chunk = 1; /* a loop inside this one runs inline too */
        fn(arg, 0, n);
        in_chunk = outer;
        return;
    }
    if (!P.started)
        start_workers();
    size_t chunks = (size_t)P.size * CHUNKS_PER_PARTICIPANT;
    if (chunks > n)
        chunks = n;
    const uint32_t gen = gen_of(atomic_load_explicit(&P.ticket, memory_order_relaxed)) + 1;
    atomic_store_explicit(&P.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&P.arg, arg, memory_order_relaxed);
    atomic_store_explicit(&P.n, n, memory_order_relaxed);
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    atomic_store_explicit(&P.limit, (uint64_t)gen << 32 | (uint32_t)chunks, memory_order_release);
    atomic_store(&P.ticket, (uint64_t)gen << 32);
    if (atomic_load(&P.sleepers) > 0) {
        pthread_mutex_lock(&P.mu);
        pthread_cond_broadcast(&P.wake);
        pthread_mutex_unlock(&P.mu);
    }
    my_index = 0;
    claim_chunks(gen);
    /* Only chunks that a running worker holds remain. */
    for (int spin = 0; atomic_load_explicit(&P.done, memory_order_acquire) < (uint32_t)chunks; spin++) {
        if (spin < WAIT_SPINS)
            cpu_relax();
        else
            sched_yield();
    }
    atomic_flag_clear(&P.busy);
}
