#include "core/threads.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include "core/pool.h"

int threads_set(int n)
{
    if (n < 1)
        n = 1;
    pool_resize(n);
    /* The pool splits products itself (core/blas.c). OpenBLAS's OpenMP build takes its thread
     * count from the calling thread's OpenMP count, so both are 1 (blas.c does the same on every
     * pool worker). */
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    return n;
}

int threads_get(void) { return pool_size(); }

int threads_available(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
