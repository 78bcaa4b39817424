#include "nn/mlp.h"

#include <math.h>
#include <stdio.h>

#include "core/ops.h"

void mlp_declare(mlp *m, param_store *ps, const char *prefix, int in, int hidden, int out)
{
    char name[PARAM_NAME_MAX];
    m->in = in;
    m->hidden = hidden;
    m->out = out;
    snprintf(name, sizeof name, "%s.fc1.weight", prefix);
    m->w1 = params_declare_auto(ps, name, 2, (int[]){hidden, in});
    snprintf(name, sizeof name, "%s.fc1.bias", prefix);
    m->b1 = params_declare_auto(ps, name, 1, (int[]){hidden});
    snprintf(name, sizeof name, "%s.fc2.weight", prefix);
    m->w2 = params_declare_auto(ps, name, 2, (int[]){out, hidden});
    snprintf(name, sizeof name, "%s.fc2.bias", prefix);
    m->b2 = params_declare_auto(ps, name, 1, (int[]){out});
}

void mlp_init(const mlp *m, param_store *ps, rng *r)
{
    params_init_normal(ps, m->w1, 1.0 / sqrt(m->in), r);
    params_init_normal(ps, m->w2, 1.0 / sqrt(m->hidden), r);
    params_fill(ps, m->b1, 0);
    params_fill(ps, m->b2, 0);
}

tensor *mlp_forward(const mlp *m, param_store *ps, tape *tp, tensor *x)
{
    tensor *h = op_linear(tp, x, params_tensor(ps, m->w1), params_tensor(ps, m->b1));
    h = op_tanh(tp, h);
    return op_linear(tp, h, params_tensor(ps, m->w2), params_tensor(ps, m->b2));
}
