/* The core's thread pool under ThreadSanitizer (`make check` builds it with -fsanitize=thread):
 * loops of every size on 1 to 4 participants (more than this machine's cores, so that workers
 * sleep, wake late and are descheduled mid-chunk), resizes between them, and loops started from
 * inside chunks. Each index is written by the chunk that owns it, so any report is the pool's own
 * race; a wrong count is a lost or repeated chunk. Exit 0 when every count is right. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/pool.h"

enum { N = 1000 };
static int cells[N];
static _Atomic long total;

static void add_one(void *arg, size_t lo, size_t hi)
{
    int *c = arg;
    for (size_t i = lo; i < hi; i++)
        c[i]++;
    atomic_fetch_add(&total, (long)(hi - lo));
}

/* Each outer index owns ten cells and fills them with a loop of its own, which runs inline. */
static void outer(void *arg, size_t lo, size_t hi)
{
    int *c = arg;
    for (size_t i = lo; i < hi; i++)
        pool_for(10, 1, add_one, c + 10 * i);
}

int main(void)
{
    long want = 0;
    for (int round = 0; round < 8; round++) {
        pool_resize(1 + round % 4);
        for (int k = 0; k < 2000; k++) {
            size_t n = (size_t)(1 + (k * 37) % N);
            pool_for(n, 1, add_one, cells);
            want += (long)n;
        }
        pool_for(N / 10, 1, outer, cells);
        want += N;
    }
    long in_cells = 0;
    for (int i = 0; i < N; i++)
        in_cells += cells[i];
    if (in_cells != want || total != want) {
        fprintf(stderr, "pool_stress: %ld indices ran, %ld counted, %ld expected\n", in_cells, (long)total, want);
        return 1;
    }
    printf("pool: %ld indices over 8 sizes of pool under ThreadSanitizer, no race reported\n", want);
    return 0;
}
