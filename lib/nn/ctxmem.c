#include "nn/ctxmem.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/fastexp.h"
#include "core/ops.h"

static int declare_matrix(ctxmem *m, param_store *ps, const char *name, int rows, int cols)
{
    if (m->complex_param)
        return params_declare(ps, name, 3, (int[]){2, rows / 2, cols / 2}, 0);
    return params_declare(ps, name, 2, (int[]){rows, cols}, 0);
}

void ctxmem_declare(ctxmem *m, param_store *ps, int in, int heads, int head_dim, int complex_param, double beta)
{
    int E = heads * head_dim;
    if (complex_param && (in % 2 || head_dim % 2))
        fatal("internal: complex context memory needs even widths (in %d, head %d)", in, head_dim);
    m->in = in;
    m->heads = heads;
    m->head_dim = head_dim;
    m->complex_param = complex_param;
    m->beta = beta;
    /* No weight decay in the toy (the paper trains with decay 0); flags off for clarity. */
    m->wphi = declare_matrix(m, ps, "ctxmem.w_phi", E, in);
    m->wpsi = declare_matrix(m, ps, "ctxmem.w_psi", E, in);
    m->wz = declare_matrix(m, ps, "ctxmem.w_z", in, E);
}

/* A linear layer's default initialisation, uniform in +-bound, of the real rows x cols matrix; a
 * complex-structured matrix takes the projection of that real draw onto the [[a, -b], [b, a]] form,
 * a = (w00 + w11) / 2, b = (w10 - w01) / 2 per 2x2 block: the public code builds its complex
 * layers that way, so each complex entry is the mean of two uniform draws (a triangular
 * distribution, sqrt 2 narrower than one draw). */
static void init_matrix(const ctxmem *m, param_store *ps, int idx, double bound, rng *r)
{
    tensor *t = params_tensor(ps, idx);
    if (!m->complex_param) {
        params_init_uniform(ps, idx, -bound, bound, r);
        return;
    }
    const int rows = t->shape[1], cols = t->shape[2];
    const size_t nn = (size_t)rows * cols;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) { /* block (i, j) of the real matrix, drawn block by block */
            double w00 = -bound + 2 * bound * rng_uniform(r), w01 = -bound + 2 * bound * rng_uniform(r);
            double w10 = -bound + 2 * bound * rng_uniform(r), w11 = -bound + 2 * bound * rng_uniform(r);
            t->data[(size_t)i * cols + j] = (real)((w00 + w11) / 2);
            t->data[nn + (size_t)i * cols + j] = (real)((w10 - w01) / 2);
        }
}

void ctxmem_init(const ctxmem *m, param_store *ps, rng *r)
{
    double bound = 1.0 / sqrt((double)m->in);
    init_matrix(m, ps, m->wphi, bound, r);
    init_matrix(m, ps, m->wpsi, bound, r);
    init_matrix(m, ps, m->wz, bound, r);
}

static tensor *matrix(const ctxmem *m, param_store *ps, tape *tp, int idx)
{
    tensor *p = params_tensor(ps, idx);
    return m->complex_param ? op_complex_matrix(tp, p) : p;
}

void ctxmem_matrices(const ctxmem *m, param_store *ps, tape *tp, tensor **wphi, tensor **wpsi, tensor **wz)
{
    *wphi = matrix(m, ps, tp, m->wphi);
    *wpsi = matrix(m, ps, tp, m->wpsi);
    *wz = matrix(m, ps, tp, m->wz);
}

tensor *ctxmem_forward(const ctxmem *m, param_store *ps, tape *tp, tensor *x)
{
    tensor *wphi, *wpsi, *wz;
    ctxmem_matrices(m, ps, tp, &wphi, &wpsi, &wz);
    tensor *k = op_linear(tp, x, wphi, NULL);
    /* v_t = W_psi x_{t+1}: the value peeks one step ahead, so position t may only read u < t. */
    tensor *v = op_linear(tp, op_time_shift(tp, x, 1), wpsi, NULL);
    att_mask strict = {.kind = ATT_STRICT};
    tensor *mem = op_attention(tp, k, k, v, m->heads, strict, (real)m->beta);
    return op_linear(tp, mem, wz, NULL);
}

tensor *ctxmem_rollout_tape(const ctxmem *m, param_store *ps, tape *tp, tensor *x, int c, int steps)
{
    const int L = x->shape[1];
    if (c < 2 || c > L)
        fatal("internal: ctxmem_rollout_tape: context %d of a %d-long sequence", c, L);
    tensor *wphi, *wpsi, *wz;
    ctxmem_matrices(m, ps, tp, &wphi, &wpsi, &wz);
    /* The memory: keys of positions 0..c-2 and their values W_psi x_{u+1}; the query is the key of
     * position c-1. Each step reads the memory, predicts, and then the query's position joins the
     * memory (its key, and the prediction's W_psi as its value) and the prediction's key queries. */
    tensor *kmem = op_linear(tp, op_slice(tp, x, 1, 0, c - 1), wphi, NULL);
    tensor *vmem = op_linear(tp, op_slice(tp, x, 1, 1, c - 1), wpsi, NULL);
    tensor *q = op_linear(tp, op_slice(tp, x, 1, c - 1, 1), wphi, NULL);
    const att_mask full = {.kind = ATT_FULL};
    tensor *preds = NULL;
    for (int s = 0; s < steps; s++) {
        tensor *p = op_linear(tp, op_attention(tp, q, kmem, vmem, m->heads, full, (real)m->beta), wz, NULL);
        preds = preds ? op_concat(tp, preds, p, 1) : p;
        if (s + 1 == steps)
            break;
        kmem = op_concat(tp, kmem, q, 1);
        vmem = op_concat(tp, vmem, op_linear(tp, p, wpsi, NULL), 1);
        q = op_linear(tp, p, wphi, NULL);
    }
    return preds;
}

size_t ctxmem_rollout_work(const ctxmem *m, int max_len)
{
    size_t E = (size_t)m->heads * (size_t)m->head_dim;
    /* keys and values of every position, one row of scores, one head output, one input */
    return 2 * (size_t)max_len * E + (size_t)max_len + E + 2 * (size_t)m->in;
}

/* y[rows] = W[rows, cols] x */
static void matvec(real *y, const real *W, const real *x, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        real s = 0;
        for (int c = 0; c < cols; c++)
            s += W[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

/* The memory read of one query against positions 0..n-1, per head; out[E]. */
static void memory_read(const ctxmem *m, const real *q, const real *K, const real *V, int n, real *scores,
                        real *out)
{
    const int E = m->heads * m->head_dim, hs = m->head_dim;
    memset(out, 0, (size_t)E * sizeof(real));
    if (n == 0)
        return; /* an empty memory reads zero, as the strict mask's first row */
    for (int h = 0; h < m->heads; h++) {
        const real *qh = q + h * hs;
        real mx = -INFINITY;
        for (int u = 0; u < n; u++) {
            const real *ku = K + (size_t)u * E + h * hs;
            real dot = 0;
            for (int j = 0; j < hs; j++)
                dot += qh[j] * ku[j];
            scores[u] = (real)m->beta * dot;
            if (scores[u] > mx)
                mx = scores[u];
        }
        real sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int u = 0; u < n; u++) {
            scores[u] = exp_vec(scores[u] - mx);
            sum += scores[u];
        }
        real *oh = out + h * hs;
        for (int u = 0; u < n; u++) {
            const real *vu = V + (size_t)u * E + h * hs;
            real w = scores[u] / sum;
            for (int j = 0; j < hs; j++)
                oh[j] += w * vu[j];
        }
    }
}

void ctxmem_rollout(const ctxmem *m, const real *wphi, const real *wpsi, const real *wz, const real *x,
                    int T_ctx, int steps, real *pred, real *work)
{
    const int E = m->heads * m->head_dim, in = m->in, len = T_ctx + steps;
    real *K = work, *V = K + (size_t)len * E, *scores = V + (size_t)len * E, *mem = scores + len;
    for (int u = 0; u < T_ctx; u++)
        matvec(K + (size_t)u * E, wphi, x + (size_t)u * in, E, in);
    for (int u = 0; u + 1 < T_ctx; u++)
        matvec(V + (size_t)u * E, wpsi, x + (size_t)(u + 1) * in, E, in);
    /* Position t = T_ctx - 1 + s queries positions 0..t-1 and predicts the observation at t + 1. */
    for (int s = 0; s < steps; s++) {
        int t = T_ctx - 1 + s;
        real *p = pred + (size_t)s * in;
        memory_read(m, K + (size_t)t * E, K, V, t, scores, mem);
        matvec(p, wz, mem, in, E);
        /* The prediction becomes the next observation: it completes position t's value and gives
         * the key of position t + 1. */
        matvec(V + (size_t)t * E, wpsi, p, E, in);
        matvec(K + (size_t)(t + 1) * E, wphi, p, E, in);
    }
}
