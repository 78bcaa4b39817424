/* One thread count for OpenBLAS and the core's own OpenMP loops. Kernels run OpenMP loops only
 * around non-BLAS work and never call BLAS inside a parallel region, so the two never nest. */
#ifndef MEMLAB_THREADS_H
#define MEMLAB_THREADS_H

/* n >= 1 threads for both; returns n. */
int threads_set(int n);
int threads_get(void);
/* Cores online (the default for --threads). */
int threads_available(void);

#endif
