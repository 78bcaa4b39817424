/* What every GPU test program shares (tests/cuda/test_*.c): opening the device, random inputs,
 * copies to and from the device, and the comparison that prints one line per check.
 *
 * A check passes when every element satisfies |got - want| <= atol + rtol * |want|; its line gives
 * the worst absolute and relative errors and the tolerances, so a failure reads as a measurement. */
#ifndef MEMLAB_TESTS_CUDA_HARNESS_H
#define MEMLAB_TESTS_CUDA_HARNESS_H

#include <stddef.h>

#include "core/real.h"
#include "core/rng.h"

/* Opens the CUDA context; without a usable GPU prints one FAIL line and exits 1. */
void th_open(const char *program);
/* Uniform values in [lo, hi). */
void th_fill(real *x, size_t n, rng *r, double lo, double hi);
/* A host buffer of n reals, uniform in [lo, hi) (free with free()). */
real *th_random(size_t n, rng *r, double lo, double hi);
/* A device copy of n host reals / ints; th_free_dev releases it. */
real *th_upload(const real *host, size_t n);
int *th_upload_ints(const int *host, size_t n);
/* A zeroed device buffer of n reals. */
real *th_dev_zeros(size_t n);
void th_free_dev(void *dev);
/* A host copy of n device reals (free with free()). */
real *th_download(const real *dev, size_t n);
/* Compares a device buffer with a host reference; prints the check's line; returns 1 when it passed. */
int th_check_dev(const char *name, const real *dev, const real *want, size_t n, double atol, double rtol);
/* The same for two host buffers. */
int th_check(const char *name, const real *got, const real *want, size_t n, double atol, double rtol);
/* A scalar check. */
int th_check_scalar(const char *name, double got, double want, double atol, double rtol);
/* Prints the summary line; the exit status for main (0: every check passed). */
int th_finish(void);

#endif
