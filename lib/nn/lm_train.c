#include "nn/lm_train.h"

#include <math.h>

#include "core/dist.h"
#include "core/ops.h"

lm_optim lm_optim_cosine(double lr, double lr_end, long long warmup, long long total, double wd, double clip)
{
    return (lm_optim){
        .adamw = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = wd},
        .sched = {.kind = SCHED_COSINE, .lr = lr, .lr_end = lr_end, .warmup = warmup, .total = total},
        .clip = clip,
    };
}

/* This rank's weight in the mean over data-parallel ranks (core/dist.h): its targets that are not
 * `ignore` against every rank's. */
static double targets_weight(const int *targets, size_t n, int ignore)
{
    if (dist_size() == 1)
        return 1;
    double count = 0;
    for (size_t i = 0; i < n; i++)
        count += targets[i] != ignore;
    return dist_weight(count);
}

double lm_train_step(lm *m, tape *tp, const int *ids, const int *targets, int B, int T, int ignore,
                     const lm_optim *o, long long step, rng *drop, double *gnorm)
{
    tape_reset(tp);
    tp->grad_enabled = 1;
    tp->training = 1;
    /* Data-parallel ranks (core/dist.h) each hold a share of the batch; one may hold no rows (a short
     * last batch of an epoch) and still joins every collective. Each rank's mean loss and gradients
     * are weighted by its share of the targets (their counts differ where targets are ignored), so
     * that their mean over the ranks is the loss over the whole batch: every rank sees it, so that
     * all stop together on a non-finite one, and steps with the whole batch's gradient. */
    tensor *loss = B > 0 ? lm_head_loss(m, tp, lm_hidden(m, tp, ids, B, T, drop), targets, ignore) : NULL;
    const double w = targets_weight(targets, (size_t)B * T, ignore);
    double l = loss ? loss->data[0] * w : 0;
    dist_mean_double(&l, 1);
    if (gnorm)
        *gnorm = NAN;
    if (!isfinite(l))
        return l;
    params_zero_grad(&m->ps);
    if (loss)
        tape_backward(tp, loss);
    tape_reset(tp);
    if (w != 1)
        params_scale_grad(&m->ps, (real)w);
    dist_mean_on(m->ps.device, m->ps.grad, m->ps.total);
    double norm = adamw_step_clipped(&m->ps, &o->adamw, schedule_lr(&o->sched, step), step + 1, o->clip);
    if (gnorm)
        *gnorm = norm;
    return isfinite(norm) ? l : NAN;
}

/* Evaluation mode (no tape, no dropout): the logits of ids, valid until the tape is reset. *was
 * gets the tape's gradient switch for eval_end to restore. */
static tensor *eval_logits(lm *m, tape *tp, const int *ids, int B, int T, int *was)
{
    tape_reset(tp);
    *was = tp->grad_enabled;
    tp->grad_enabled = 0;
    tp->training = 0;
    return tape_to_host(tp, lm_forward(m, tp, ids, B, T, NULL));   /* logits on the GPU: copied */
}

static void eval_end(tape *tp, int was)
{
    tape_reset(tp);
    tp->grad_enabled = was;
}

/* The largest logit of a row (subtracted before exp for stability). */
static double row_max(const real *z, int V)
{
    double mx = z[0];
    for (int v = 1; v < V; v++)
        mx = fmax(mx, z[v]);
    return mx;
}

/* -log softmax(z)[target] */
static double row_loss(const real *z, int V, int target)
{
    double mx = row_max(z, V), s = 0;
    for (int v = 0; v < V; v++)
        s += exp(z[v] - mx);
    return mx + log(s) - z[target];
}

double lm_eval_sum(lm *m, tape *tp, const int *ids, const int *targets, int B, int T, int ignore,
                   long long *count)
{
    int was;
    tensor *logits = eval_logits(m, tp, ids, B, T, &was);
    const int V = m->cfg.vocab;
    double sum = 0;
    long long n = 0;
    for (int i = 0; i < B * T; i++) {
        if (targets[i] == ignore)
            continue;
        sum += row_loss(logits->data + (size_t)i * V, V, targets[i]);
        n++;
    }
    eval_end(tp, was);
    *count += n;
    return sum;
}

void lm_eval_losses(lm *m, tape *tp, const int *ids, const int *targets, int B, int T, double *loss)
{
    int was;
    tensor *logits = eval_logits(m, tp, ids, B, T, &was);
    const int V = m->cfg.vocab;
    for (int i = 0; i < B * T; i++)
        loss[i] = row_loss(logits->data + (size_t)i * V, V, targets[i]);
    eval_end(tp, was);
}

void lm_next_probs(lm *m, tape *tp, const int *ids, int B, int T, double *probs)
{
    int was;
    tensor *logits = eval_logits(m, tp, ids, B, T, &was);
    const int V = m->cfg.vocab;
    for (int i = 0; i < B * T; i++) {
        const real *z = logits->data + (size_t)i * V;
        double *p = probs + (size_t)i * V, mx = row_max(z, V), s = 0;
        for (int v = 0; v < V; v++)
            s += p[v] = exp(z[v] - mx);
        for (int v = 0; v < V; v++)
            p[v] /= s;
    }
    eval_end(tp, was);
}
