#include "babistories_analyses.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lm_train.h"

/* Windows evaluated per forward pass: few enough that the attention probabilities of a long window
 * (B * H * T * T floats) stay within about 256 MB. */
static int windows_per_pass(const lm *m, int T)
{
    double per = (double)m->cfg.heads * T * T * sizeof(real);
    int b = (int)((256.0 * 1024 * 1024) / per);
    return b < 1 ? 1 : b > 8 ? 8 : b;
}

size_t babistories_position_loss(lm *m, const int *ids, size_t n, int T, int stride, double *mean)
{
    const size_t nwin = n > (size_t)T ? (n - 1 - (size_t)T) / (size_t)stride + 1 : 0;
    if (nwin == 0)
        return 0;
    const int per = windows_per_pass(m, T);
    int *in = xmalloc((size_t)per * T * sizeof *in), *tg = xmalloc((size_t)per * T * sizeof *tg);
    double *loss = xmalloc((size_t)per * T * sizeof *loss);
    memset(mean, 0, (size_t)T * sizeof *mean);
    tape tp;
    lm_tape_init(&tp, m);
    for (size_t w0 = 0; w0 < nwin; w0 += (size_t)per) {
        int B = (int)(nwin - w0 < (size_t)per ? nwin - w0 : (size_t)per);
        for (int b = 0; b < B; b++) {
            const int *win = ids + (w0 + (size_t)b) * (size_t)stride;
            memcpy(in + (size_t)b * T, win, (size_t)T * sizeof *in);
            memcpy(tg + (size_t)b * T, win + 1, (size_t)T * sizeof *tg);
        }
        lm_eval_losses(m, &tp, in, tg, B, T, loss);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                mean[t] += loss[(size_t)b * T + t];
    }
    for (int t = 0; t < T; t++)
        mean[t] /= (double)nwin;
    tape_free(&tp);
    free(in);
    free(tg);
    free(loss);
    return nwin;
}

int babistories_settle_position(const double *curve, int T, double tol, int width, double *final)
{
    int tail = T / 16 > 1 ? T / 16 : 1;
    double f = 0;
    for (int t = T - tail; t < T; t++)
        f += curve[t];
    *final = f /= tail;
    int settle = T - 1;
    if (width > T)
        width = T;
    for (int t = T - 1; t >= 0; t--) {
        /* The window around t, slid inside the curve at its ends (never cut: a cut window would
         * weigh the positions of a period unevenly). */
        int from = t - width / 2;
        from = from < 0 ? 0 : from > T - width ? T - width : from;
        double sum = 0;
        int n = width;
        for (int u = from; u < from + width; u++)
            sum += curve[u];
        if (fabs(sum / n - f) > tol * fabs(f))
            break;
        settle = t;
    }
    return settle;
}

/* ---- attention of the last position ------------------------------------------------------------ */

typedef struct {
    babistories_attention *a;
    int calls;   /* sequence-attention ops seen in this forward pass: the layer index */
} observer_state;

static void observe(void *ctx, const real *att, int B, int H, int Tq, int Tk, int per_sequence_keys)
{
    observer_state *s = ctx;
    if (!per_sequence_keys)   /* the mosaic's persistent memory reads a table, not the sequence */
        return;
    babistories_attention *a = s->a;
    const int layer = s->calls++ % a->layers;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const real *row = att + (((size_t)b * H + h) * Tq + (Tq - 1)) * Tk;
            double *w = a->weight + ((size_t)layer * H + h) * a->T;
            for (int u = 0; u < Tk; u++)
                w[u] += row[u];
        }
}

int babistories_attention_measure(lm *m, const int *ids, size_t n, int T, int max_windows, babistories_attention *a,
                                  err_t *e)
{
    memset(a, 0, sizeof *a);
    if (!m->ops->attends) {
        err_set(e, "a %s model has no attention to measure", lm_arch_name(m->cfg.arch));
        return -1;
    }
    if (lm_max_len(m) && T > lm_max_len(m)) {
        err_set(e, "the %s has learned positions for %d tokens and cannot read %d", lm_arch_name(m->cfg.arch),
                lm_max_len(m), T);
        return -1;
    }
    if (T < 2) {
        err_set(e, "windows of %d tokens have no earlier position to attend to", T);
        return -1;
    }
    size_t nwin = n / (size_t)T;
    if (nwin == 0) {
        err_set(e, "%zu tokens: fewer than one window of %d", n, T);
        return -1;
    }
    if (nwin > (size_t)max_windows)
        nwin = (size_t)max_windows;
    *a = (babistories_attention){.layers = m->cfg.layers, .heads = m->cfg.heads, .T = T,
                                 .nearest = T - 1 - m->ops->nearest_key, .windows = (long long)nwin};
    a->weight = xcalloc((size_t)a->layers * a->heads * T, sizeof *a->weight);
    observer_state st = {.a = a};
    tape tp;
    lm_tape_init(&tp, m);
    tp.grad_enabled = 0;
    tp.training = 0;
    tp.att_observer = observe;
    tp.att_observer_ctx = &st;
    const int per = windows_per_pass(m, T);
    for (size_t w0 = 0; w0 < nwin; w0 += (size_t)per) {
        int B = (int)(nwin - w0 < (size_t)per ? nwin - w0 : (size_t)per);
        st.calls = 0;
        lm_hidden(m, &tp, ids + w0 * T, B, T, NULL);
        tape_reset(&tp);
    }
    tape_free(&tp);
    for (size_t i = 0; i < (size_t)a->layers * a->heads * T; i++)
        a->weight[i] /= (double)nwin;
    return 0;
}

void babistories_attention_free(babistories_attention *a)
{
    free(a->weight);
    memset(a, 0, sizeof *a);
}

static const double *head_row(const babistories_attention *a, int layer, int head)
{
    return a->weight + ((size_t)layer * a->heads + head) * a->T;
}

double babistories_attention_share(const babistories_attention *a, int layer, int head, int from, int to)
{
    if (head < 0) {
        double s = 0;
        for (int h = 0; h < a->heads; h++)
            s += babistories_attention_share(a, layer, h, from, to);
        return s / a->heads;
    }
    const double *w = head_row(a, layer, head);
    double s = 0;
    for (int u = from < 0 ? 0 : from; u < to && u < a->T; u++)
        s += w[u];
    return s;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double babistories_attention_peak_width(const babistories_attention *a, int layer, int head)
{
    const double *w = head_row(a, layer, head);
    const int n = a->nearest + 1;
    double *sorted = xmalloc((size_t)n * sizeof *sorted);
    memcpy(sorted, w, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    double flat = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]), peak = 0;
    free(sorted);
    for (int u = a->nearest; u >= 0 && u > a->nearest - 64; u--)
        if (w[u] > peak)
            peak = w[u];
    const double half = flat + 0.5 * (peak - flat);
    int u = a->nearest;
    while (u >= 0 && w[u] > half)
        u--;
    if (u == a->nearest)
        return 0;
    if (u < 0)
        return a->nearest + 1;
    /* u + 1 is the last position above half height, u the first below. */
    return (a->nearest - (u + 1)) + (w[u + 1] - half) / (w[u + 1] - w[u]);
}
