#include "data/pfa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

char pfa_token_char(int token)
{
    if (token == PFA_PAD)
        return '.';
    if (token == PFA_SEP)
        return '|';
    if (token >= 1 && token <= PFA_LETTERS)
        return (char)('a' + token - 1);
    return '?';
}

/* The first m entries of a[0..n) become a uniform random m-subset in random order. */
static void partial_shuffle(rng *r, int *a, int n, int m)
{
    for (int i = 0; i < m; i++) {
        int j = i + (int)rng_below(r, (uint64_t)(n - i));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void sort_edges(pfa *a, int q)
{
    for (int i = 1; i < a->deg[q]; i++)
        for (int j = i; j > 0 && a->sym[q][j - 1] > a->sym[q][j]; j--) {
            uint8_t s = a->sym[q][j], d = a->dst[q][j];
            a->sym[q][j] = a->sym[q][j - 1];
            a->dst[q][j] = a->dst[q][j - 1];
            a->sym[q][j - 1] = s;
            a->dst[q][j - 1] = d;
        }
}

void pfa_generate_raw(pfa *a, rng *r)
{
    memset(a, 0, sizeof *a);
    int n = (int)rng_range(r, PFA_MIN_STATES, PFA_MAX_STATES);
    int k = (int)rng_range(r, PFA_MIN_ALPHABET, PFA_LETTERS);
    int alphabet[PFA_LETTERS];
    for (int i = 0; i < PFA_LETTERS; i++)
        alphabet[i] = i + 1;
    partial_shuffle(r, alphabet, PFA_LETTERS, k);
    a->n = a->n_generated = (uint8_t)n;
    a->alphabet = (uint8_t)k;
    for (int q = 0; q < n; q++) {
        int m = (int)rng_range(r, 1, PFA_MAX_OUT);
        int syms[PFA_LETTERS], others[PFA_MAX_STATES], c = 0;
        memcpy(syms, alphabet, sizeof syms);
        partial_shuffle(r, syms, k, m);
        for (int s = 0; s < n; s++)
            if (s != q)
                others[c++] = s;
        partial_shuffle(r, others, c, m);
        a->deg[q] = (uint8_t)m;
        for (int e = 0; e < m; e++) {
            a->sym[q][e] = (uint8_t)syms[e];
            a->dst[q][e] = (uint8_t)others[e];
        }
        sort_edges(a, q);
    }
}

int pfa_step(const pfa *a, int state, int token)
{
    for (int e = 0; e < a->deg[state]; e++)
        if (a->sym[state][e] == token)
            return a->dst[state][e];
    return -1;
}

void pfa_minimize(pfa *a)
{
    enum { S = PFA_MAX_STATES + 1, L = PFA_LETTERS };
    const int n = a->n, dead = n;
    int delta[S][L], block[S], sig[S][L + 1];
    for (int q = 0; q <= n; q++)
        for (int l = 0; l < L; l++)
            delta[q][l] = dead;
    for (int q = 0; q < n; q++)
        for (int e = 0; e < a->deg[q]; e++)
            delta[q][a->sym[q][e] - 1] = a->dst[q][e];
    /* Moore: start from {accepting = all real states, dead}, split blocks by the blocks their
     * successors fall in, until the number of blocks stops growing. */
    for (int q = 0; q <= n; q++)
        block[q] = q == dead;
    int nblocks = 2;
    for (;;) {
        for (int q = 0; q <= n; q++) {
            sig[q][0] = block[q];
            for (int l = 0; l < L; l++)
                sig[q][l + 1] = block[delta[q][l]];
        }
        int next[S], count = 0;
        for (int q = 0; q <= n; q++) {
            next[q] = -1;
            for (int p = 0; p < q && next[q] < 0; p++)
                if (memcmp(sig[p], sig[q], sizeof sig[q]) == 0)
                    next[q] = next[p];
            if (next[q] < 0)
                next[q] = count++;
        }
        memcpy(block, next, sizeof block);
        if (count == nblocks)
            break;
        nblocks = count;
    }
    /* Trim and renumber: breadth-first from the start's block, edges in letter order. */
    int rep[S], num[S], order[S], head = 0, tail = 0;
    for (int b = 0; b < nblocks; b++)
        rep[b] = -1, num[b] = -1;
    for (int q = n; q >= 0; q--)
        rep[block[q]] = q;
    num[block[0]] = tail;
    order[tail++] = block[0];
    while (head < tail) {
        int q = rep[order[head++]];
        for (int e = 0; e < a->deg[q]; e++) {
            int b = block[a->dst[q][e]];
            if (num[b] < 0) {
                num[b] = tail;
                order[tail++] = b;
            }
        }
    }
    pfa m;
    memset(&m, 0, sizeof m);
    m.n = (uint8_t)tail;
    m.n_generated = a->n_generated;
    m.alphabet = a->alphabet;
    for (int i = 0; i < tail; i++) {
        int q = rep[order[i]];
        m.deg[i] = a->deg[q];
        for (int e = 0; e < a->deg[q]; e++) {
            m.sym[i][e] = a->sym[q][e];
            m.dst[i][e] = (uint8_t)num[block[a->dst[q][e]]];
        }
    }
    *a = m;
}

void pfa_generate(pfa *a, rng *r)
{
    pfa_generate_raw(a, r);
    pfa_minimize(a);
}

int pfa_same_language(const pfa *a, const pfa *b)
{
    if (a->n != b->n)
        return 0;
    for (int q = 0; q < a->n; q++) {
        if (a->deg[q] != b->deg[q])
            return 0;
        for (int e = 0; e < a->deg[q]; e++)
            if (a->sym[q][e] != b->sym[q][e] || a->dst[q][e] != b->dst[q][e])
                return 0;
    }
    return 1;
}

int pfa_sample(const pfa *a, rng *r, uint8_t *tok)
{
    int len = 0, strings = (int)rng_range(r, PFA_MIN_STRINGS, PFA_MAX_STRINGS);
    for (int s = 0; s < strings; s++) {
        if (s > 0)
            tok[len++] = PFA_SEP;
        int L = (int)rng_range(r, 1, PFA_MAX_STRING_LEN), q = 0;
        for (int j = 0; j < L; j++) {
            if (a->deg[q] == 0)
                fatal("internal: automaton state %d has no outgoing edge", q);
            int e = (int)rng_below(r, a->deg[q]);
            tok[len++] = a->sym[q][e];
            q = a->dst[q][e];
        }
    }
    return len;
}

void pfa_true_dist(const pfa *a, const uint8_t *tok, int len, double *p_true)
{
    int q = 0;
    for (int t = 0; t + 1 < len; t++) {
        if (tok[t] == PFA_SEP)
            q = 0;
        else if ((q = pfa_step(a, q, tok[t])) < 0)
            fatal("internal: token '%c' at position %d is not accepted by its automaton", pfa_token_char(tok[t]), t);
        double *row = p_true + (size_t)t * PFA_VOCAB;
        memset(row, 0, PFA_VOCAB * sizeof *row);
        for (int e = 0; e < a->deg[q]; e++)
            row[a->sym[q][e]] = 1.0 / a->deg[q];
    }
}

/* ---- data sets ---------------------------------------------------------------------------------- */

const uint8_t *pfa_split_seq(const pfa_split *s, int i, int *len)
{
    *len = (int)(s->start[i + 1] - s->start[i]);
    return s->tokens + s->start[i];
}

/* The canonical forms drawn so far: open addressing over pointers into the splits' arrays. */
typedef struct {
    const pfa **slot;
    size_t cap;
} pfa_set;

static uint64_t pfa_hash(const pfa *a)
{
    uint64_t h = 0xcbf29ce484222325ULL;
#define MIX(x) (h = (h ^ (uint64_t)(x)) * 0x100000001b3ULL)
    MIX(a->n);
    for (int q = 0; q < a->n; q++) {
        MIX(a->deg[q]);
        for (int e = 0; e < a->deg[q]; e++) {
            MIX(a->sym[q][e]);
            MIX(a->dst[q][e]);
        }
    }
#undef MIX
    return h ^ (h >> 29);
}

/* 1 when a was new (and is now in the set), 0 when an automaton of the same language is there. */
static int set_insert(pfa_set *s, const pfa *a)
{
    size_t i = (size_t)pfa_hash(a) & (s->cap - 1);
    for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
        if (pfa_same_language(s->slot[i], a))
            return 0;
    s->slot[i] = a;
    return 1;
}

static void split_generate(pfa_split *s, int count, rng *r, pfa_set *seen)
{
    s->count = count;
    s->automata = xcalloc((size_t)count + 1, sizeof *s->automata);
    s->start = xcalloc((size_t)count + 1, sizeof *s->start);
    size_t cap = (size_t)count * 400 + PFA_MAX_TOKENS;
    s->tokens = xmalloc(cap);
    long long tries = 0, limit = 1000LL * count + 1000000;
    for (int i = 0; i < count; i++) {
        do {
            if (++tries > limit)
                fatal("could not draw %d distinct automata", count);
            pfa_generate(&s->automata[i], r);
        } while (!set_insert(seen, &s->automata[i]));
        if (s->start[i] + PFA_MAX_TOKENS > cap)
            s->tokens = xrealloc(s->tokens, cap *= 2);
        s->start[i + 1] = s->start[i] + (size_t)pfa_sample(&s->automata[i], r, s->tokens + s->start[i]);
    }
}

void pfa_dataset_generate(pfa_dataset *d, uint64_t seed, int n_train, int n_val, int n_test)
{
    if (n_train < 0 || n_val < 0 || n_test < 0)
        fatal("internal: pfa_dataset_generate(%d, %d, %d)", n_train, n_val, n_test);
    rng root = rng_stream(seed, RNG_STREAM_DATA);
    uint64_t s_test = rng_next(&root), s_val = rng_next(&root), s_train = rng_next(&root);
    rng r_test = rng_stream(s_test, RNG_STREAM_DATA), r_val = rng_stream(s_val, RNG_STREAM_DATA),
        r_train = rng_stream(s_train, RNG_STREAM_DATA);
    pfa_set seen = {.cap = 16};
    size_t total = (size_t)n_train + n_val + n_test;
    while (seen.cap < 2 * total)
        seen.cap *= 2;
    seen.slot = xcalloc(seen.cap, sizeof *seen.slot);
    split_generate(&d->test, n_test, &r_test, &seen);
    split_generate(&d->val, n_val, &r_val, &seen);
    split_generate(&d->train, n_train, &r_train, &seen);
    free(seen.slot);
}

static void split_free(pfa_split *s)
{
    free(s->automata);
    free(s->tokens);
    free(s->start);
    memset(s, 0, sizeof *s);
}

void pfa_dataset_free(pfa_dataset *d)
{
    split_free(&d->train);
    split_free(&d->val);
    split_free(&d->test);
}

/* ---- metrics ------------------------------------------------------------------------------------ */

int pfa_argmax_valid(const double *p_model, const double *p_true)
{
    int best = 0;
    for (int v = 1; v < PFA_VOCAB; v++)
        if (p_model[v] > p_model[best])
            best = v;
    return p_true[best] > 0;
}

double pfa_tvd(const double *p_model, const double *p_true)
{
    double s = 0;
    for (int v = 0; v < PFA_VOCAB; v++)
        s += fabs(p_model[v] - p_true[v]);
    return 0.5 * s;
}

void pfa_score_add(pfa_score *s, const double *p_model, const double *p_true, int target)
{
    s->correct += pfa_argmax_valid(p_model, p_true);
    s->tvd += pfa_tvd(p_model, p_true);
    s->positions++;
    if (target != PFA_SEP && target != PFA_PAD) {
        s->nll -= log(fmax(p_model[target], PFA_PROB_FLOOR));
        s->nll_positions++;
    }
}

void pfa_score_sequence(pfa_score *s, const double *p_model, const double *p_true, const uint8_t *tok, int len)
{
    for (int t = 0; t + 1 < len; t++)
        pfa_score_add(s, p_model + (size_t)t * PFA_VOCAB, p_true + (size_t)t * PFA_VOCAB, tok[t + 1]);
}

double pfa_score_accuracy(const pfa_score *s) { return s->positions ? s->correct / s->positions : NAN; }
double pfa_score_tvd(const pfa_score *s) { return s->positions ? s->tvd / s->positions : NAN; }
double pfa_score_loss(const pfa_score *s) { return s->nll_positions ? s->nll / s->nll_positions : NAN; }

/* ---- description and export --------------------------------------------------------------------- */

static void tally(pfa_tally *t, long v)
{
    if (t->n == 0 || v < t->min)
        t->min = v;
    if (t->n == 0 || v > t->max)
        t->max = v;
    t->sum += (double)v;
    t->n++;
}

void pfa_describe(const pfa_split *s, pfa_stats *st)
{
    memset(st, 0, sizeof *st);
    st->count = s->count;
    for (int i = 0; i < s->count; i++) {
        const pfa *a = &s->automata[i];
        tally(&st->states, a->n);
        tally(&st->states_generated, a->n_generated);
        tally(&st->alphabet, a->alphabet);
        int used[PFA_VOCAB] = {0}, letters = 0;
        for (int q = 0; q < a->n; q++) {
            tally(&st->out_degree, a->deg[q]);
            st->degree_hist[a->deg[q]]++;
            for (int e = 0; e < a->deg[q]; e++)
                letters += !used[a->sym[q][e]]++;
        }
        tally(&st->letters_used, letters);
        int len, strings = 1, run = 0;
        const uint8_t *tok = pfa_split_seq(s, i, &len);
        tally(&st->tokens, len);
        for (int t = 0; t <= len; t++) {
            if (t == len || tok[t] == PFA_SEP) {
                tally(&st->string_len, run);
                run = 0;
                strings += t < len;
            } else {
                run++;
            }
        }
        tally(&st->strings, strings);
    }
}

int pfa_write_sequences(FILE *f, const pfa_split *s)
{
    for (int i = 0; i < s->count; i++) {
        int len;
        const uint8_t *tok = pfa_split_seq(s, i, &len);
        for (int t = 0; t < len; t++)
            putc(pfa_token_char(tok[t]), f);
        putc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

int pfa_write_automata(FILE *f, const pfa_split *s, const char *split)
{
    for (int i = 0; i < s->count; i++) {
        const pfa *a = &s->automata[i];
        fprintf(f, "{\"split\":\"%s\",\"index\":%d,\"states\":%d,\"states_generated\":%d,\"alphabet\":%d,\"start\":0,\"edges\":[",
                split, i, a->n, a->n_generated, a->alphabet);
        const char *sep = "";
        for (int q = 0; q < a->n; q++)
            for (int e = 0; e < a->deg[q]; e++) {
                fprintf(f, "%s[%d,\"%c\",%d]", sep, q, pfa_token_char(a->sym[q][e]), a->dst[q][e]);
                sep = ",";
            }
        fputs("]}\n", f);
    }
    return ferror(f) ? -1 : 0;
}
