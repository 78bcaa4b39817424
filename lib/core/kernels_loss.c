/* Loss kernels: softmax cross-entropy with ignored rows, and (clipped) mean squared error. */
#include "core/kernels.h"

#include <tgmath.h>

#include "core/kernels_par.h"

/* Below this much work a loop stays on one thread (a parallel region costs microseconds). */
#define PAR_MIN ((size_t)1 << 13)

/* Probabilities at least this large are normal floats with full relative precision, so that
 * -log(p) is as accurate as the log-sum-exp form. */
#define XENT_P_MIN 1e-30

/* log-sum-exp of a row minus its entry t, in double: the loss of a row whose target probability
 * underflowed. */
static double row_lse_loss(const real *x, int V, int t)
{
    double mx = x[0];
    for (int i = 1; i < V; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += exp((double)x[i] - mx);
    return mx + log(sum) - (double)x[t];
}

double softmax_xent_forward(real *probs, const real *logits, const int *targets, int N, int V,
                            int ignore, int *count)
{
    softmax_forward(probs, logits, N, V);
    /* Serial over rows, one log each: the same sum for any thread count. */
    double total = 0;
    int counted = 0;
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == ignore)
            continue;
        const real *x = logits + (size_t)n * (size_t)V;
        double p = probs[(size_t)n * (size_t)V + (size_t)t];
        /* p can round a hair above 1 for a certain row; the loss itself is never negative */
        total += p >= XENT_P_MIN ? fmax(-log(p), 0.0) : row_lse_loss(x, V, t);
        counted++;
    }
    if (count)
        *count = counted;
    return counted ? total / counted : 0;
}

/* dlogits += s (probs - onehot(target)) per row of C = V; rows whose target is N (the ignored id)
 * get nothing. */
static void xent_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *a = arg;
    const int V = a->C, ignore = a->N;
    const real s = a->s;
    for (size_t n = lo; n < hi; n++) {
        int t = a->ids[n];
        if (t == ignore)
            continue;
        const real *restrict pr = a->a + n * (size_t)V;
        real *restrict dx = a->out + n * (size_t)V;
#pragma omp simd
        for (int i = 0; i < V; i++)
            dx[i] += s * pr[i];
        dx[t] -= s;
    }
}

void softmax_xent_backward(real *dlogits, const real *probs, const int *targets, int N, int V,
                           int ignore, int count, real dloss)
{
    if (!dlogits || count <= 0)
        return;
    real s = dloss / (real)count;
    pool_for((size_t)N, (size_t)N * (size_t)V >= PAR_MIN, xent_backward_rows,
             &(par_args){.out = dlogits, .a = probs, .ids = targets, .s = s, .N = ignore, .C = V});
}

double mse_forward(const real *pred, const real *target, size_t n, real clip)
{
    if (n == 0)
        return 0;
    /* Serial, summed in double: the same bits for any thread count. The error itself is taken
     * in `real`, exactly as mse_backward takes it, so both agree on which errors are clipped. */
    double sum = 0;
    if (clip > 0) {
        double c2 = (double)clip * (double)clip;
#pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) {
            real e = pred[i] - target[i];
            sum += fabs(e) < clip ? (double)e * (double)e : c2;
        }
    } else {
#pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) {
            real e = pred[i] - target[i];
            sum += (double)e * (double)e;
        }
    }
    return sum / (double)n;
}

/* dpred += s (pred - target); with a clip (c points at it), |e| >= clip is clipped: the loss is the
 * constant clip^2 there. */
static void mse_backward_rows(void *arg, size_t lo, size_t hi)
{
    const par_args *a = arg;
    real *dpred = a->out;
    const real *pred = a->a, *target = a->b;
    const real s = a->s;
    if (a->c) {
        const real clip = *a->c;
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            real e = pred[i] - target[i];
            dpred[i] += fabs(e) < clip ? s * e : 0;
        }
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dpred[i] += s * (pred[i] - target[i]);
    }
}

void mse_backward(real *dpred, const real *pred, const real *target, size_t n, real clip, real dloss)
{
    if (!dpred || n == 0)
        return;
    pool_for(n, n >= PAR_MIN * 8, mse_backward_rows,
             &(par_args){.out = dpred, .a = pred, .b = target, .s = 2 * dloss / (real)n, .c = clip > 0 ? &clip : NULL});
}
