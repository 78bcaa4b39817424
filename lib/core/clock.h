/* Seconds on the monotonic clock, for the core's own timings (the op profiler, the sgemm rate);
 * code above the core reads it through progress_now (io/progress.h). */
#ifndef MEMLAB_CLOCK_H
#define MEMLAB_CLOCK_H

#include <time.h>

static inline double clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
