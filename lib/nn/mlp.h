/* A two-layer perceptron, in -> hidden (tanh) -> out: the smallest model that exercises the whole
 * core (params, tape, linear, activation, loss, AdamW) end to end. */
#ifndef MEMLAB_NN_MLP_H
#define MEMLAB_NN_MLP_H

#include "core/params.h"
#include "core/tape.h"

typedef struct {
    int in, hidden, out;
    int w1, b1, w2, b2;   /* param store indices */
} mlp;

void mlp_declare(mlp *m, param_store *ps, const char *prefix, int in, int hidden, int out);
/* Weights N(0, 1/fan_in), biases zero (the papers' linear initialisation). */
void mlp_init(const mlp *m, param_store *ps, rng *r);
/* x[..., in] -> [..., out] */
tensor *mlp_forward(const mlp *m, param_store *ps, tape *tp, tensor *x);

#endif
