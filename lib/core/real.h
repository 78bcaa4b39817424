/* The scalar type of the numerical core. Training uses float; the gradient checks build the very
 * same kernels with -DMEMLAB_DOUBLE so that central differences can be held to 1e-6 relative. */
#ifndef MEMLAB_REAL_H
#define MEMLAB_REAL_H

#include <math.h>

#ifdef MEMLAB_DOUBLE
typedef double real;
#define REAL_NAME "f64"
#else
typedef float real;
#define REAL_NAME "f32"
#endif

#endif
