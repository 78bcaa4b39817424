/* One thread count for the core: the size of its pool (core/pool.h), which runs every kernel loop
 * and splits large products into single-threaded BLAS calls (core/blas.c). OpenBLAS and OpenMP
 * run on one thread each (OpenMP serves only `simd`). docs/threads.md. */
#ifndef MEMLAB_THREADS_H
#define MEMLAB_THREADS_H

/* n >= 1 threads for both; returns n. */
int threads_set(int n);
int threads_get(void);
/* Cores online (the default for --threads). */
int threads_available(void);

#endif
