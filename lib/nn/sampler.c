#include "nn/sampler.h"

#include <math.h>
#include <stdlib.h>

#include "core/ops.h"

static int argmax(const real *z, int V)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (z[v] > z[best])
            best = v;
    return best;
}

static int by_weight_desc(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Zeroes every weight below the k-th largest (ties with it stay). */
static void keep_top_k(double *w, int V, int k)
{
    double *sorted = xmalloc((size_t)V * sizeof *sorted);
    for (int v = 0; v < V; v++)
        sorted[v] = w[v];
    qsort(sorted, (size_t)V, sizeof *sorted, by_weight_desc);
    const double kth = sorted[k - 1];
    free(sorted);
    for (int v = 0; v < V; v++)
        if (w[v] < kth)
            w[v] = 0;
}

int sample_pick(const sample_cfg *c, const real *z, int V, double *p, double *w, rng *r)
{
    /* Greedy on the logits: the softmax keeps their order, so this is the argmax of p too. */
    if (c->temperature == 0)
        return argmax(z, V);
    double mx = z[0], s = 0;
    for (int v = 1; v < V; v++)
        mx = fmax(mx, z[v]);
    for (int v = 0; v < V; v++)
        s += p[v] = exp(z[v] - mx);
    for (int v = 0; v < V; v++)
        p[v] /= s;
    /* p^(1/T) rather than softmax(z / T): the same distribution, and the one memlab always drew */
    for (int v = 0; v < V; v++)
        w[v] = pow(p[v], 1.0 / c->temperature);
    if (c->top_k > 0 && c->top_k < V)
        keep_top_k(w, V, (int)c->top_k);
    return rng_categorical(r, w, V);
}

void sampler_init(sampler *s, lm *m, const sample_cfg *c, int max_len, sample_mode mode)
{
    const int V = m->cfg.vocab;
    *s = (sampler){.m = m, .cfg = *c};
    s->cached = mode == SAMPLE_CACHED || (mode == SAMPLE_AUTO && max_len <= m->cfg.ctx);
    if (s->cached)
        lm_decoder_init(&s->dc, m, max_len);
    lm_tape_init(&s->tp, m);
    s->tp.grad_enabled = 0;
    s->tp.training = 0;
    s->z = xmalloc((size_t)V * sizeof *s->z);
    s->p = xmalloc((size_t)V * sizeof *s->p);
    s->w = xmalloc((size_t)V * sizeof *s->w);
}

void sampler_free(sampler *s)
{
    if (s->cached)
        lm_decoder_free(&s->dc);
    tape_free(&s->tp);
    free(s->z);
    free(s->p);
    free(s->w);
}

void sampler_feed(sampler *s, const int *seq, int len)
{
    if (s->cached)
        while (s->dc.len < len)
            lm_decode_step(s->m, &s->dc, seq[s->dc.len], s->z);
}

/* The window's logits of the last position: the whole window runs through the blocks, only its last
 * row through the output layer. */
static void window_logits(sampler *s, const int *seq, int len)
{
    lm *m = s->m;
    const int T = len < m->cfg.ctx ? len : m->cfg.ctx;
    tape_reset(&s->tp);
    tensor *h = lm_hidden(m, &s->tp, seq + len - T, 1, T, NULL);
    const real *z = tape_to_host(&s->tp, lm_logits(m, &s->tp, op_slice(&s->tp, h, 1, T - 1, 1)))->data;
    for (int v = 0; v < m->cfg.vocab; v++)
        s->z[v] = z[v];
}

int sampler_next(sampler *s, const int *seq, int len, rng *r)
{
    if (s->cached)
        sampler_feed(s, seq, len);
    else
        window_logits(s, seq, len);
    return sample_pick(&s->cfg, s->z, s->m->cfg.vocab, s->p, s->w, r);
}

int sampler_extend(sampler *s, int *seq, int len, int max_new, int stop, rng *r)
{
    for (int i = 0; i < max_new; i++) {
        const int t = sampler_next(s, seq, len, r);
        if (t == stop)
            break;
        seq[len++] = t;
    }
    return len;
}
