#include "data/ngram.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Symbols of the padded strings: 0 is the begin mark '_', 1..18 the letters. An n-gram is the
 * base-NG_BASE number of its symbols, first symbol most significant. */
#define NG_BASE (PFA_LETTERS + 1)

struct ngram_model {
    int order;
    int *count[NGRAM_MAX_ORDER + 1];   /* count[n][code] for n = 1..order */
    long size[NGRAM_MAX_ORDER + 1];
    int hist[NGRAM_MAX_ORDER];         /* the last order-1 symbols of the padded current string */
    long letter_total;
    int in_vocab[PFA_VOCAB];
};

ngram_model *ngram_new(int order)
{
    if (order < 1 || order > NGRAM_MAX_ORDER)
        fatal("internal: n-gram order %d", order);
    ngram_model *m = xcalloc(1, sizeof *m);
    m->order = order;
    long size = 1;
    for (int n = 1; n <= order; n++) {
        size *= NG_BASE;
        m->size[n] = size;
        m->count[n] = xcalloc((size_t)size, sizeof(int));
    }
    return m;
}

void ngram_free(ngram_model *m)
{
    if (!m)
        return;
    for (int n = 1; n <= m->order; n++)
        free(m->count[n]);
    free(m);
}

/* A new string: its order-1 begin marks are text too, so every n-gram made only of marks counts
 * (order - n times for n < order). */
static void begin_string(ngram_model *m)
{
    for (int i = 0; i < m->order - 1; i++)
        m->hist[i] = 0;
    for (int n = 1; n < m->order; n++)
        m->count[n][0] += m->order - n;
}

/* Appends a letter to the current string: one more n-gram of each order ends there. */
static void add_letter(ngram_model *m, int letter)
{
    const int k = m->order - 1;
    long code = letter, scale = NG_BASE;
    m->count[1][letter]++;
    for (int n = 2; n <= m->order; n++) {
        code += (long)m->hist[k - n + 1] * scale;
        scale *= NG_BASE;
        m->count[n][code]++;
    }
    for (int i = 0; i + 1 < k; i++)
        m->hist[i] = m->hist[i + 1];
    if (k > 0)
        m->hist[k - 1] = letter;
    m->letter_total++;
    m->in_vocab[letter] = 1;
}

/* P_n(. | the last n-1 symbols of hist) over the vocabulary, into p[1..PFA_LETTERS] (0 elsewhere). */
static void backoff(const ngram_model *m, int n, double *p)
{
    memset(p, 0, PFA_VOCAB * sizeof *p);
    if (n == 1) {
        for (int w = 1; w <= PFA_LETTERS; w++)
            if (m->in_vocab[w])
                p[w] = (double)m->count[1][w] / (double)m->letter_total;
        return;
    }
    const int k = m->order - 1;
    long h = 0;
    for (int i = k - (n - 1); i < k; i++)
        h = h * NG_BASE + m->hist[i];
    const double ctx = m->count[n - 1][h];
    double seen = 0;
    int unseen = 0;
    for (int w = 1; w <= PFA_LETTERS; w++) {
        if (!m->in_vocab[w])
            continue;
        int c = m->count[n][h * NG_BASE + w];
        if (c > 0) {
            p[w] = c / ctx;
            seen += p[w];
        } else {
            unseen++;
        }
    }
    if (unseen == 0) { /* nothing to give the escape mass to: renormalise (see ngram.h) */
        for (int w = 1; w <= PFA_LETTERS; w++)
            p[w] /= seen;
        return;
    }
    double lower[PFA_VOCAB], mass = 0;
    backoff(m, n - 1, lower);
    for (int w = 1; w <= PFA_LETTERS; w++)
        if (m->in_vocab[w] && p[w] == 0)
            mass += lower[w];
    const double beta = 1 - seen;
    for (int w = 1; w <= PFA_LETTERS; w++)
        if (m->in_vocab[w] && p[w] == 0)
            p[w] = beta * lower[w] / mass;
}

void ngram_predict(ngram_model *m, const uint8_t *tok, int len, double *probs)
{
    for (int n = 1; n <= m->order; n++)
        memset(m->count[n], 0, (size_t)m->size[n] * sizeof(int));
    memset(m->in_vocab, 0, sizeof m->in_vocab);
    m->letter_total = 0;
    begin_string(m);
    for (int t = 0; t + 1 < len; t++) {
        if (tok[t] == PFA_SEP)
            begin_string(m);
        else if (tok[t] >= 1 && tok[t] <= PFA_LETTERS)
            add_letter(m, tok[t]);
        else
            fatal("internal: n-gram input token %d at position %d", tok[t], t);
        if (m->letter_total == 0) /* no letter seen yet (a sequence opening with '|'): no vocabulary */
            uniform_predict(NULL, 2, probs + (size_t)t * PFA_VOCAB);
        else
            backoff(m, m->order, probs + (size_t)t * PFA_VOCAB);
    }
}

void uniform_predict(const uint8_t *tok, int len, double *probs)
{
    (void)tok;
    for (int t = 0; t + 1 < len; t++) {
        double *row = probs + (size_t)t * PFA_VOCAB;
        memset(row, 0, PFA_VOCAB * sizeof *row);
        for (int w = 1; w <= PFA_LETTERS; w++)
            row[w] = 1.0 / PFA_LETTERS;
    }
}
