/* One thread count for OpenBLAS and the core's own OpenMP loops. They never nest: kernels run
 * OpenMP loops around non-BLAS work, except attention's products path, whose parallel region over
 * (batch, head) calls BLAS on each thread, which OpenBLAS's OpenMP build (the one the Makefile
 * links) then runs on that thread alone. */
#ifndef MEMLAB_THREADS_H
#define MEMLAB_THREADS_H

/* n >= 1 threads for both; returns n. */
int threads_set(int n);
int threads_get(void);
/* Cores online (the default for --threads). */
int threads_available(void);

#endif
