#include "core/threads.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

int threads_set(int n)
{
    if (n < 1)
        n = 1;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
    return n;
}

int threads_get(void) { return omp_get_max_threads(); }

int threads_available(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
