/* Central-difference gradient checking of anything built on the tape. Meant for the double build
 * (-DMEMLAB_DOUBLE), where the analytic and numeric gradients agree to ~1e-9. */
#ifndef MEMLAB_GRADCHECK_H
#define MEMLAB_GRADCHECK_H

#include <stddef.h>

#include "core/tape.h"

/* Builds the graph from the inputs and returns a one-element loss. Called many times; must be
 * deterministic (dropout with a fixed fresh RNG each call, etc.). */
typedef tensor *(*gradcheck_fn)(tape *tp, tensor *const *inputs, void *ctx);

typedef struct {
    double max_rel_err;   /* max over all elements of |a - n| / max(|a|, |n|, GRADCHECK_FLOOR) */
    int worst_input;
    size_t worst_index;
    double analytic, numeric;   /* at the worst element */
} gradcheck_result;

/* Below this magnitude the error is measured absolutely: a gradient that should be 0 is not
 * failed for round-off of 1e-12. */
#define GRADCHECK_FLOOR 1e-2

/* inputs: heap tensors with gradient buffers (tensor_alloc(..., 1)) or parameters; every element of
 * every input is perturbed by +-h. */
gradcheck_result gradcheck_run(gradcheck_fn f, tensor *const *inputs, int n_inputs, void *ctx, double h);

/* A loss that weighs every output element differently (sum of x * w), so that a backward pass that
 * mixes up elements cannot pass; w is filled deterministically from `seed`. */
tensor *gradcheck_weighted_sum(tape *tp, tensor *x, unsigned seed);

#endif
