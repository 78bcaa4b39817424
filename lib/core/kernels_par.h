/* What the core's kernels share to run their loops on the pool (core/pool.h, docs/threads.md): one
 * argument record for the elementwise and row loops. Each kernel file keeps its own PAR_MIN, the
 * size below which its loops stay on the calling thread. Internal to lib/core's kernel files. */
#ifndef MEMLAB_KERNELS_PAR_H
#define MEMLAB_KERNELS_PAR_H

#include <stddef.h>

#include "core/pool.h"
#include "core/real.h"

/* The operands of one loop: outputs, inputs, a scalar and a row length, as each kernel names them
 * in its own comment. */
typedef struct {
    real *out, *out2;
    const real *a, *b, *c;
    const int *ids;
    real s;
    int N, C;
    int store;   /* a backward loop stores its gradient rather than adding it (core/tape.h) */
} par_args;

#endif
