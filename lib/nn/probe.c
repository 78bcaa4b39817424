#include "nn/probe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/ops.h"
#include "nn/layers.h"

static const char *const feed_names[] = {"unrolled", "repeated"};

const char *probe_feed_name(probe_feed f) { return feed_names[f]; }

int probe_feed_parse(const char *s, probe_feed *f)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(s, feed_names[i]) == 0) {
            *f = (probe_feed)i;
            return 0;
        }
    return -1;
}

int probe_feed_width(probe_feed f, int d_in) { return f == FEED_UNROLLED ? d_in / 2 : d_in; }

int probe_feed_stride(int d_in, int n) { return n < d_in ? d_in / n : 1; }

void probe_feed_index(probe_feed f, int d_in, int n, int *idx)
{
    const int w = probe_feed_width(f, d_in), stride = probe_feed_stride(d_in, n);
    for (int p = 0; p < n; p++)
        for (int j = 0; j < w; j++)
            idx[(size_t)p * w + j] = f == FEED_UNROLLED ? (int)(((long long)p * stride + j) % d_in) : j;
}

int probe_config_check(probe_config *c, err_t *e)
{
    if (!lm_arch_table(c->arch)->attends)
        return err_set(e, "--probe-arch '%s': expected gpt or mosaic", lm_arch_name(c->arch));
    if (c->d_in < 2)
        return err_set(e, "an embedding of %d elements (the probe needs at least 2)", c->d_in);
    if (c->n < 1 || c->d < 1 || c->layers < 1 || c->heads < 1)
        return err_set(e, "--probe-d, --probe-layers and --probe-heads must be positive");
    if (c->d % c->heads != 0)
        return err_set(e, "--probe-d %d is not divisible by --probe-heads %d", c->d, c->heads);
    if (c->vocab < 2)
        return err_set(e, "vocabulary of %d tokens (need at least 2)", c->vocab);
    return 0;
}

void probe_build(probe *p, const probe_config *c)
{
    memset(p, 0, sizeof *p);
    p->cfg = *c;
    /* Positions are the probe's own (added after the feed), so the stack itself has none. */
    p->blocks_cfg = (lm_config){.arch = c->arch, .vocab = c->vocab, .ctx = c->n, .d = c->d, .layers = c->layers,
                                .heads = c->heads, .pmem = c->pmem, .bias = c->bias, .pos = POS_NONE,
                                .bidirectional = 1};
    err_t e;
    if (lm_config_resolve(&p->blocks_cfg, &e) != 0)
        fatal("internal: probe stack: %s", e.msg);
    const int w = probe_feed_width(c->feed, c->d_in);
    p->window = xmalloc((size_t)c->n * w * sizeof *p->window);
    probe_feed_index(c->feed, c->d_in, c->n, p->window);
    params_init(&p->ps);
    layers_declare_linear(&p->ps, "feed", c->d, w, c->bias, &p->feed_w, &p->feed_b);
    p->wpe = params_declare_auto(&p->ps, "wpe", 2, (int[]){c->n, c->d});
    lm_stack_declare(&p->stack, &p->ps, &p->blocks_cfg);
    layers_declare_layernorm(&p->ps, "ln_f", c->d, c->bias, &p->lnf_w, &p->lnf_b);
    layers_declare_linear(&p->ps, "head", c->vocab, c->d, c->bias, &p->head_w, &p->head_b);
    params_alloc(&p->ps);
}

void probe_init_weights(probe *p, rng *r)
{
    const probe_config *c = &p->cfg;
    params_init_normal(&p->ps, p->feed_w, 1 / sqrt(probe_feed_width(c->feed, c->d_in)), r);
    params_init_normal(&p->ps, p->wpe, 1, r);
    lm_stack_init(&p->stack, &p->ps, &p->blocks_cfg, r);
    params_fill(&p->ps, p->lnf_w, 1);
    params_init_normal(&p->ps, p->head_w, 0.02, r);
    /* Biases (feed, final LayerNorm, head) start at zero as allocated. */
}

void probe_free(probe *p)
{
    params_free(&p->ps);
    lm_stack_free(&p->stack);
    free(p->window);
    p->window = NULL;
}

tensor *probe_forward(probe *p, tape *tp, tensor *emb)
{
    const probe_config *c = &p->cfg;
    if (emb->ndim != 2 || emb->shape[1] != c->d_in)
        fatal("internal: probe of width %d fed an embedding of %d dimensions", c->d_in, emb->shape[emb->ndim - 1]);
    const int B = emb->shape[0], n = c->n, w = probe_feed_width(c->feed, c->d_in);
    /* The feed gathers single elements: the embedding is a table of B * d_in rows of one value, and
     * feed input j of position p in row b reads row b * d_in + window[p * w + j]. */
    int *ids = xmalloc((size_t)B * n * w * sizeof *ids), *pos = xmalloc((size_t)B * n * sizeof *pos);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n * w; i++)
            ids[(size_t)b * n * w + i] = b * c->d_in + p->window[i];
    for (int i = 0; i < B * n; i++)
        pos[i] = i % n;
    tensor *x = op_embedding(tp, ids, B, n * w, op_reshape(tp, emb, 2, (int[]){B * c->d_in, 1}));
    x = op_reshape(tp, x, 3, (int[]){B, n, w});
    x = layers_linear(tp, &p->ps, x, p->feed_w, p->feed_b);
    x = op_add(tp, x, op_embedding(tp, pos, B, n, params_tensor(&p->ps, p->wpe)));
    free(ids);
    free(pos);
    x = lm_stack_forward(&p->stack, &p->ps, &p->blocks_cfg, tp, x, NULL, NULL, 0);
    x = layers_layernorm(tp, &p->ps, x, p->lnf_w, p->lnf_b);
    return layers_linear(tp, &p->ps, x, p->head_w, p->head_b);
}

void probe_place(probe *p, device_kind d) { params_move(&p->ps, d); }

double optim_step_stores(tape *tp, tensor *loss, param_store *const *stores, int n, const lm_optim *o,
                         long long step)
{
    double l = loss->data[0];
    dist_mean_double(&l, 1);   /* data-parallel ranks: as lm_train_step */
    if (!isfinite(l)) {
        tape_reset(tp);
        return NAN;
    }
    for (int i = 0; i < n; i++)
        params_zero_grad(stores[i]);
    tape_backward(tp, loss);
    tape_reset(tp);
    for (int i = 0; i < n; i++)
        dist_mean_on(stores[i]->device, stores[i]->grad, stores[i]->total);
    double sq = 0;
    for (int i = 0; i < n; i++) {
        double g = grad_norm(stores[i]);
        sq += g * g;
    }
    const double norm = sqrt(sq);
    if (!isfinite(norm))
        return NAN;
    for (int i = 0; i < n; i++) {
        if (o->clip > 0 && norm > o->clip)
            params_scale_grad(stores[i], (real)(o->clip / norm));
        adamw_step(stores[i], &o->adamw, schedule_lr(&o->sched, step), step + 1);
    }
    return l;
}

double probe_train_step(probe *p, tape *tp, const real *emb, const int *tokens, int B, const lm_optim *o,
                        long long step)
{
    tape_reset(tp);
    tp->grad_enabled = 1;
    tp->training = 1;
    tensor *e = tape_input(tp, 2, (int[]){B, p->cfg.d_in}, emb);
    tensor *loss = op_softmax_xent(tp, probe_forward(p, tp, e), tokens, -1);
    param_store *s = &p->ps;
    return optim_step_stores(tp, loss, &s, 1, o, step);
}

void probe_logits(probe *p, tape *tp, const real *emb, int B, real *logits)
{
    tape_reset(tp);
    tp->grad_enabled = tp->training = 0;
    tensor *out = tape_to_host(tp, probe_forward(p, tp, tape_input(tp, 2, (int[]){B, p->cfg.d_in}, emb)));
    memcpy(logits, out->data, out->n * sizeof *logits);
    tape_reset(tp);
}

/* ---- metrics -------------------------------------------------------------------------------------- */

void probe_score_add(probe_score *s, const real *logits, const int *targets, long long N, int V, int ignore)
{
    for (long long i = 0; i < N; i++) {
        if (targets[i] == ignore)
            continue;
        const real *z = logits + (size_t)i * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best])
                best = v;
        double sum = 0;
        for (int v = 0; v < V; v++)
            sum += exp((double)z[v] - z[best]);
        s->ce_sum += z[best] + log(sum) - z[targets[i]];
        s->correct += best == targets[i];
        s->count++;
    }
}

probe_metrics probe_metrics_of(const probe_score *s, int V)
{
    probe_metrics m;
    const double lnv = log((double)V);
    m.token_acc = s->count ? (double)s->correct / s->count : NAN;
    m.ce = s->count ? s->ce_sum / s->count : NAN;
    m.entropy_ratio = m.ce / lnv;
    m.retained = 1 - m.entropy_ratio;
    m.bits_per_token = (lnv - m.ce) / log(2.0);
    return m;
}
