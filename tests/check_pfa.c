/* RegBench data: the automaton generator and minimisation, sequence sampling, true next-token
 * distributions, disjoint and reproducible splits, the metrics and the reference models, each against
 * invariants or hand-computed values. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/ngram.h"
#include "data/pfa.h"
#include "io/json.h"
#include "test_util.h"

/* ck_assert records every call through Check's fork channel, which is slow in loops over millions of
 * positions: these report only failures. */
#define REQUIRE(c) REQUIRE_MSG(c, "%s", #c)
#define REQUIRE_MSG(c, ...)                                                                       \
    do {                                                                                          \
        if (!(c))                                                                                 \
            ck_abort_msg(__VA_ARGS__);                                                            \
    } while (0)
#define REQUIRE_NEAR(a, b, tol) REQUIRE_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.15g, want %.15g", #a, (double)(a), (double)(b))

/* Tokens from a string of letters and '|'. */
static int tokens_of(const char *s, uint8_t *tok)
{
    int n = 0;
    for (; *s; s++)
        tok[n++] = *s == '|' ? PFA_SEP : (uint8_t)(*s - 'a' + 1);
    return n;
}

/* An automaton with n states and no edges yet. */
static pfa blank(int n)
{
    pfa a;
    memset(&a, 0, sizeof a);
    a.n = a.n_generated = (uint8_t)n;
    return a;
}

static void add_edge(pfa *a, int from, char letter, int to)
{
    int e = a->deg[from]++;
    a->sym[from][e] = (uint8_t)(letter - 'a' + 1);
    a->dst[from][e] = (uint8_t)to;
}

/* Whether states p of a and q of b accept the same strings: every pair reachable from (p, q) by a
 * common string must have the same outgoing letters (all states accept). */
static int equivalent(const pfa *a, int p, const pfa *b, int q)
{
    int seen[PFA_MAX_STATES][PFA_MAX_STATES] = {{0}}, stack[PFA_MAX_STATES * PFA_MAX_STATES][2], top = 0;
    stack[top][0] = p, stack[top][1] = q, top++;
    seen[p][q] = 1;
    while (top > 0) {
        top--;
        int x = stack[top][0], y = stack[top][1];
        if (a->deg[x] != b->deg[y])
            return 0;
        for (int e = 0; e < a->deg[x]; e++) {
            int y2 = pfa_step(b, y, a->sym[x][e]);
            if (y2 < 0)
                return 0;
            int x2 = a->dst[x][e];
            if (!seen[x2][y2]) {
                seen[x2][y2] = 1;
                stack[top][0] = x2, stack[top][1] = y2, top++;
            }
        }
    }
    return 1;
}

START_TEST(test_generator_ranges)
{
    rng r = rng_stream(11, RNG_STREAM_USER);
    int states_seen[PFA_MAX_STATES + 1] = {0}, alpha_seen[PFA_LETTERS + 1] = {0}, deg_seen[PFA_MAX_OUT + 1] = {0};
    for (int i = 0; i < 3000; i++) {
        pfa a;
        pfa_generate_raw(&a, &r);
        REQUIRE(a.n >= PFA_MIN_STATES && a.n <= PFA_MAX_STATES && a.n == a.n_generated);
        REQUIRE(a.alphabet >= PFA_MIN_ALPHABET && a.alphabet <= PFA_LETTERS);
        states_seen[a.n]++;
        alpha_seen[a.alphabet]++;
        int used[PFA_VOCAB] = {0}, letters = 0;
        for (int q = 0; q < a.n; q++) {
            REQUIRE(a.deg[q] >= 1 && a.deg[q] <= PFA_MAX_OUT);
            deg_seen[a.deg[q]]++;
            for (int e = 0; e < a.deg[q]; e++) {
                REQUIRE(a.sym[q][e] >= 1 && a.sym[q][e] <= PFA_LETTERS);
                REQUIRE(a.dst[q][e] < a.n && a.dst[q][e] != q); /* no self-loops before minimisation */
                if (e > 0)
                    REQUIRE(a.sym[q][e - 1] < a.sym[q][e]); /* distinct, in letter order */
                for (int f = 0; f < e; f++)
                    REQUIRE(a.dst[q][f] != a.dst[q][e]); /* distinct targets */
                letters += !used[a.sym[q][e]]++;
            }
        }
        ck_assert_int_le(letters, a.alphabet);
    }
    for (int n = PFA_MIN_STATES; n <= PFA_MAX_STATES; n++)
        REQUIRE_MSG(states_seen[n] > 3000 / 9 / 2, "%d states drawn %d times", n, states_seen[n]);
    for (int k = PFA_MIN_ALPHABET; k <= PFA_LETTERS; k++)
        REQUIRE_MSG(alpha_seen[k] > 3000 / 15 / 2, "alphabet %d drawn %d times", k, alpha_seen[k]);
    for (int d = 1; d <= PFA_MAX_OUT; d++)
        REQUIRE(deg_seen[d] > 0);
}
END_TEST

START_TEST(test_minimize_hand_made)
{
    /* 1 and 2 both read only 'c' into 3: they merge; 4 is unreachable: it goes. */
    pfa a = blank(5);
    a.alphabet = 3;
    add_edge(&a, 0, 'a', 1);
    add_edge(&a, 0, 'b', 2);
    add_edge(&a, 1, 'c', 3);
    add_edge(&a, 2, 'c', 3);
    add_edge(&a, 3, 'a', 0);
    add_edge(&a, 4, 'a', 0);
    pfa m = a;
    pfa_minimize(&m);
    ck_assert_int_eq(m.n, 3);
    ck_assert_int_eq(m.n_generated, 5);
    ck_assert_int_eq(m.deg[0], 2);
    ck_assert_int_eq(pfa_step(&m, 0, 1), 1);
    ck_assert_int_eq(pfa_step(&m, 0, 2), 1);
    ck_assert_int_eq(m.deg[1], 1);
    ck_assert_int_eq(pfa_step(&m, 1, 3), 2);
    ck_assert_int_eq(m.deg[2], 1);
    ck_assert_int_eq(pfa_step(&m, 2, 1), 0);
    REQUIRE(equivalent(&a, 0, &m, 0));
    /* a two-state cycle on 'a' is one state with a self-loop (merging creates self-loops) */
    pfa c = blank(2);
    add_edge(&c, 0, 'a', 1);
    add_edge(&c, 1, 'a', 0);
    pfa_minimize(&c);
    ck_assert_int_eq(c.n, 1);
    ck_assert_int_eq(pfa_step(&c, 0, 1), 0);
    /* a different letter tells two states apart */
    pfa d = blank(2);
    add_edge(&d, 0, 'a', 1);
    add_edge(&d, 1, 'b', 0);
    pfa_minimize(&d);
    ck_assert_int_eq(d.n, 2);
}
END_TEST

START_TEST(test_minimized_automata)
{
    rng r = rng_stream(12, RNG_STREAM_USER);
    int shrank = 0;
    for (int i = 0; i < 2000; i++) {
        pfa raw, a;
        pfa_generate_raw(&raw, &r);
        a = raw;
        pfa_minimize(&a);
        shrank += a.n < raw.n;
        REQUIRE(a.n >= 1 && a.n <= raw.n);
        /* the same language as the automaton drawn */
        REQUIRE(equivalent(&raw, 0, &a, 0));
        /* no two equivalent states */
        for (int p = 0; p < a.n; p++)
            for (int q = p + 1; q < a.n; q++)
                REQUIRE_MSG(!equivalent(&a, p, &a, q), "automaton %d: states %d and %d are equivalent", i, p, q);
        /* every state reachable from the start, numbered breadth-first in letter order */
        int num[PFA_MAX_STATES], order[PFA_MAX_STATES], head = 0, tail = 0;
        for (int q = 0; q < a.n; q++)
            num[q] = -1;
        num[0] = 0;
        order[tail++] = 0;
        while (head < tail) {
            int q = order[head++];
            REQUIRE(a.deg[q] >= 1); /* no dead ends */
            for (int e = 0; e < a.deg[q]; e++) {
                if (e > 0)
                    REQUIRE(a.sym[q][e - 1] < a.sym[q][e]);
                if (num[a.dst[q][e]] < 0) {
                    num[a.dst[q][e]] = tail;
                    order[tail++] = a.dst[q][e];
                }
            }
        }
        ck_assert_int_eq(tail, a.n);
        for (int q = 0; q < a.n; q++)
            ck_assert_int_eq(num[q], q);
        /* minimising again changes nothing */
        pfa b = a;
        pfa_minimize(&b);
        REQUIRE(pfa_same_language(&a, &b));
    }
    REQUIRE(shrank > 100); /* minimisation does something */
}
END_TEST

START_TEST(test_sampled_sequences)
{
    rng r = rng_stream(13, RNG_STREAM_USER);
    uint8_t tok[PFA_MAX_TOKENS];
    long total = 0, strings_total = 0;
    for (int i = 0; i < 400; i++) {
        pfa a;
        pfa_generate(&a, &r);
        int len = pfa_sample(&a, &r, tok);
        REQUIRE(len >= PFA_MIN_STRINGS && len <= PFA_MAX_TOKENS);
        REQUIRE(tok[0] != PFA_SEP && tok[len - 1] != PFA_SEP);
        int strings = 0, q = 0, run = 0;
        for (int t = 0; t <= len; t++) {
            if (t == len || tok[t] == PFA_SEP) {
                REQUIRE(run >= 1 && run <= PFA_MAX_STRING_LEN);
                strings++;
                q = 0;
                run = 0;
                continue;
            }
            REQUIRE(tok[t] >= 1 && tok[t] <= PFA_LETTERS);
            q = pfa_step(&a, q, tok[t]);
            REQUIRE_MSG(q >= 0, "automaton %d rejects its own string at token %d", i, t);
            run++;
        }
        REQUIRE(strings >= PFA_MIN_STRINGS && strings <= PFA_MAX_STRINGS);
        total += len;
        strings_total += strings;
    }
    /* about 14.5 strings of mean length 25: ~376 tokens */
    ck_assert_double_eq_tol((double)strings_total / 400, 14.5, 0.5);
    ck_assert_double_eq_tol((double)total / 400, 376, 25);
}
END_TEST

START_TEST(test_true_distribution)
{
    rng r = rng_stream(14, RNG_STREAM_USER);
    uint8_t tok[PFA_MAX_TOKENS];
    double *p = malloc(sizeof(double) * PFA_MAX_TOKENS * PFA_VOCAB);
    for (int k = 0; k < 4; k++) {
        pfa a;
        do
            pfa_generate(&a, &r);
        while (a.n < 3);
        long count[PFA_MAX_STATES][PFA_VOCAB] = {{0}}, visits[PFA_MAX_STATES] = {0};
        for (int s = 0; s < 1500; s++) {
            int len = pfa_sample(&a, &r, tok), q = 0;
            pfa_true_dist(&a, tok, len, p);
            for (int t = 0; t + 1 < len; t++) {
                q = tok[t] == PFA_SEP ? 0 : pfa_step(&a, q, tok[t]);
                const double *row = p + (size_t)t * PFA_VOCAB;
                double sum = 0;
                for (int v = 0; v < PFA_VOCAB; v++)
                    sum += row[v];
                REQUIRE_NEAR(sum, 1, 1e-12);
                REQUIRE(row[PFA_SEP] == 0 && row[PFA_PAD] == 0);
                for (int e = 0; e < a.deg[q]; e++) /* the walked state's letters, uniformly */
                    REQUIRE_NEAR(row[a.sym[q][e]], 1.0 / a.deg[q], 1e-15);
                if (tok[t + 1] != PFA_SEP) {
                    REQUIRE(row[tok[t + 1]] > 0); /* every observed letter is possible */
                    count[q][tok[t + 1]]++;
                    visits[q]++;
                }
            }
        }
        /* empirical next-letter frequencies in each state match 1/deg within 5 standard errors */
        for (int q = 0; q < a.n; q++) {
            if (visits[q] < 500)
                continue;
            for (int e = 0; e < a.deg[q]; e++) {
                double f = (double)count[q][a.sym[q][e]] / visits[q], want = 1.0 / a.deg[q];
                double se = sqrt(want * (1 - want) / visits[q]);
                REQUIRE_MSG(fabs(f - want) <= 5 * se + 1e-12, "state %d letter %d: %g vs %g", q, a.sym[q][e], f, want);
            }
        }
    }
    /* hand-made: 0 -a-> 1, 0 -b-> 0, 1 -c-> 0; after 'a' only 'c', elsewhere 'a' or 'b' */
    pfa h = blank(2);
    add_edge(&h, 0, 'a', 1);
    add_edge(&h, 0, 'b', 0);
    add_edge(&h, 1, 'c', 0);
    int len = tokens_of("acb|ba", tok);
    pfa_true_dist(&h, tok, len, p);
    const double want[5][3] = {{0, 0, 1}, {.5, .5, 0}, {.5, .5, 0}, {.5, .5, 0}, {.5, .5, 0}};
    for (int t = 0; t < 5; t++)
        for (int v = 0; v < 3; v++)
            ck_assert_double_eq_tol(p[t * PFA_VOCAB + 1 + v], want[t][v], 1e-15);
    free(p);
}
END_TEST

static void expect_same_split(const pfa_split *a, const pfa_split *b, int n)
{
    REQUIRE(a->count >= n && b->count >= n);
    for (int i = 0; i < n; i++) {
        REQUIRE(pfa_same_language(&a->automata[i], &b->automata[i]));
        int la, lb;
        const uint8_t *ta = pfa_split_seq(a, i, &la), *tb = pfa_split_seq(b, i, &lb);
        ck_assert_int_eq(la, lb);
        REQUIRE(memcmp(ta, tb, (size_t)la) == 0);
    }
}

START_TEST(test_splits)
{
    pfa_dataset d, same, smaller, other;
    pfa_dataset_generate(&d, 7, 400, 100, 200);
    ck_assert_int_eq(d.train.count, 400);
    ck_assert_int_eq(d.val.count, 100);
    ck_assert_int_eq(d.test.count, 200);
    /* no automaton (language) twice in the whole data set */
    const pfa_split *s[3] = {&d.train, &d.val, &d.test};
    for (int i = 0; i < 3; i++)
        for (int j = i; j < 3; j++)
            for (int x = 0; x < s[i]->count; x++)
                for (int y = i == j ? x + 1 : 0; y < s[j]->count; y++)
                    REQUIRE(!pfa_same_language(&s[i]->automata[x], &s[j]->automata[y]));
    /* same seed, same data */
    pfa_dataset_generate(&same, 7, 400, 100, 200);
    expect_same_split(&d.train, &same.train, 400);
    expect_same_split(&d.val, &same.val, 100);
    expect_same_split(&d.test, &same.test, 200);
    /* the training size moves neither held-out set; a smaller training set is a prefix */
    pfa_dataset_generate(&smaller, 7, 50, 100, 200);
    expect_same_split(&d.test, &smaller.test, 200);
    expect_same_split(&d.val, &smaller.val, 100);
    expect_same_split(&d.train, &smaller.train, 50);
    /* another seed, other automata */
    pfa_dataset_generate(&other, 8, 0, 100, 200);
    ck_assert_int_eq(other.train.count, 0);
    int differ = 0;
    for (int i = 0; i < 200; i++)
        differ += !pfa_same_language(&d.test.automata[i], &other.test.automata[i]);
    REQUIRE(differ > 150);
    pfa_dataset_free(&d);
    pfa_dataset_free(&same);
    pfa_dataset_free(&smaller);
    pfa_dataset_free(&other);
}
END_TEST

START_TEST(test_metrics_hand_computed)
{
    double truth[PFA_VOCAB] = {0}, model[PFA_VOCAB] = {0};
    truth[1] = truth[2] = 0.5; /* 'a' or 'b' */
    /* the perfect model */
    ck_assert_int_eq(pfa_argmax_valid(truth, truth), 1);
    ck_assert_double_eq(pfa_tvd(truth, truth), 0);
    /* uniform over all 20 tokens: 1/2 (|1/20 - 1/2| * 2 + 18 / 20) = 0.45 + 0.45 = 0.9; its argmax
     * (ties: the lowest token) is the pad '.', never valid */
    for (int v = 0; v < PFA_VOCAB; v++)
        model[v] = 1.0 / PFA_VOCAB;
    ck_assert_double_eq_tol(pfa_tvd(model, truth), 0.9, 1e-15);
    ck_assert_int_eq(pfa_argmax_valid(model, truth), 0);
    /* 0.7 on 'a', 0.3 on '|': 1/2 (0.2 + 0.5 + 0.3) = 0.5, argmax 'a' valid */
    memset(model, 0, sizeof model);
    model[1] = 0.7;
    model[PFA_SEP] = 0.3;
    ck_assert_double_eq_tol(pfa_tvd(model, truth), 0.5, 1e-15);
    ck_assert_int_eq(pfa_argmax_valid(model, truth), 1);
    /* most mass on '|': wrong */
    model[1] = 0.3;
    model[PFA_SEP] = 0.7;
    ck_assert_int_eq(pfa_argmax_valid(model, truth), 0);
    /* the accumulator: three positions with targets 'a', '|' (no loss), 'b' (probability 0: floored) */
    pfa_score sc = {0};
    pfa_score_add(&sc, truth, truth, 1);
    pfa_score_add(&sc, model, truth, PFA_SEP);
    pfa_score_add(&sc, model, truth, 2);
    ck_assert_int_eq(sc.positions, 3);
    ck_assert_int_eq(sc.nll_positions, 2);
    ck_assert_double_eq_tol(pfa_score_accuracy(&sc), 1.0 / 3, 1e-15);
    ck_assert_double_eq_tol(pfa_score_tvd(&sc), (0 + 0.7 + 0.7) / 3, 1e-15); /* 1/2 (0.2 + 0.5 + 0.7) */
    ck_assert_double_eq_tol(pfa_score_loss(&sc), (-log(0.5) - log(PFA_PROB_FLOOR)) / 2, 1e-12);
    pfa_score empty = {0};
    REQUIRE(isnan(pfa_score_accuracy(&empty)));
}
END_TEST

/* Expected letter probabilities at position t: want[0] for 'a', want[1] for 'b', ... */
static void expect_row(const double *p, int t, const double *want, int nletters)
{
    const double *row = p + (size_t)t * PFA_VOCAB;
    double sum = 0;
    for (int v = 0; v < PFA_VOCAB; v++) {
        double w = v >= 1 && v <= nletters ? want[v - 1] : 0;
        REQUIRE_MSG(fabs(row[v] - w) < 1e-12, "position %d token %d: %.12g, want %.12g", t, v, row[v], w);
        sum += row[v];
    }
    REQUIRE_NEAR(sum, 1, 1e-12);
}

START_TEST(test_ngram_hand_computed)
{
    uint8_t tok[32];
    double p[32 * PFA_VOCAB];
    /* Order 3 on "ab|ac|a": strings padded "__ab", "__ac", "__a" (the counts include the partial
     * string up to the current input). */
    ngram_model *m = ngram_new(3);
    int len = tokens_of("ab|ac|a|", tok);
    ngram_predict(m, tok, len, p);
    /* t=0 after "a": vocabulary {a}; nothing ever followed "_a" nor "a": back off to the unigram */
    expect_row(p, 0, (double[]){1}, 1);
    /* t=1 after "ab": no trigram "ab?", no bigram "b?": unigram over {a, b} = 1/2, 1/2 */
    expect_row(p, 1, (double[]){.5, .5}, 2);
    /* t=2 after '|': context "__", c(__) = 2 (both strings), c(__a) = 1: P(a) = 1/2; the escape
     * mass 1/2 goes to b (the only unseen letter) */
    expect_row(p, 2, (double[]){.5, .5}, 2);
    /* t=3 after "a": context "_a", c(_a) = 2, c(_ab) = 1: P(b) = 1/2, P(a) = 1/2 */
    expect_row(p, 3, (double[]){.5, .5}, 2);
    /* t=4 after "ac": "ac?" and "c?" never seen: unigram a 2, b 1, c 1 */
    expect_row(p, 4, (double[]){.5, .25, .25}, 3);
    /* t=5 after '|': c(__) = 3, c(__a) = 2: P(a) = 2/3, escape 1/3 split over {b, c} by the bigram
     * level after "_": c(_) = 6, c(_a) = 2: P2(a) = 1/3; its escape 2/3 goes by unigram counts b 1,
     * c 1: P2(b) = P2(c) = 1/3; renormalised over {b, c}: 1/2 each: P(b) = P(c) = 1/6 */
    expect_row(p, 5, (double[]){2.0 / 3, 1.0 / 6, 1.0 / 6}, 3);
    /* t=6 after "a": c(_a) = 3, c(_ab) = c(_ac) = 1: P(b) = P(c) = 1/3, the escape 1/3 to a */
    expect_row(p, 6, (double[]){1.0 / 3, 1.0 / 3, 1.0 / 3}, 3);
    ngram_free(m);

    /* Order 2 on "ab|ab|a": after the last "a", c(a) = 3, c(ab) = 2: P(b) = 2/3, P(a) = 1/3 */
    m = ngram_new(2);
    len = tokens_of("ab|ab|ab", tok);
    ngram_predict(m, tok, len, p);
    expect_row(p, 6, (double[]){1.0 / 3, 2.0 / 3}, 2);
    /* after the second '|': c(_) = 3, c(_a) = 2: P(a) = 2/3, escape 1/3 to b */
    expect_row(p, 5, (double[]){2.0 / 3, 1.0 / 3}, 2);
    /* after the second "b": "b" was never followed by a letter, and all of {a, b} is unseen there:
     * unigram a 2, b 2 */
    expect_row(p, 4, (double[]){.5, .5}, 2);
    ngram_free(m);

    /* Order 2 on "ab|aab", where at last every letter has been seen after the context */
    m = ngram_new(2);
    len = tokens_of("ab|aab", tok);
    ngram_predict(m, tok, len, p);
    /* t=3 after "|a": c(a) = 2, c(ab) = 1: P(b) = 1/2, escape 1/2 to a */
    expect_row(p, 3, (double[]){.5, .5}, 2);
    /* t=4 after "|aa": c(a) = 3, c(ab) = 1, c(aa) = 1: both letters seen, escape 1/3 has nowhere to
     * go: renormalised, 1/2 each */
    expect_row(p, 4, (double[]){.5, .5}, 2);
    ngram_free(m);

    /* Order 1: the letter frequencies so far, whatever the strings */
    m = ngram_new(1);
    len = tokens_of("ab|ac|a|", tok);
    ngram_predict(m, tok, len, p);
    expect_row(p, 6, (double[]){.6, .2, .2}, 3);
    expect_row(p, 2, (double[]){.5, .5}, 2);
    ngram_free(m);

    /* uniform: 1/18 on each letter */
    uniform_predict(tok, len, p);
    for (int t = 0; t + 1 < len; t++)
        for (int v = 0; v < PFA_VOCAB; v++)
            REQUIRE_NEAR(p[t * PFA_VOCAB + v], v >= 1 && v <= PFA_LETTERS ? 1.0 / 18 : 0, 1e-15);
}
END_TEST

START_TEST(test_ngram_on_sampled_data)
{
    /* every order: proper distributions over the letters seen so far, and higher orders beat
     * the unigram on accuracy */
    pfa_dataset d;
    pfa_dataset_generate(&d, 5, 0, 1, 60);
    double *p = malloc(sizeof(double) * PFA_MAX_TOKENS * PFA_VOCAB);
    double *q = malloc(sizeof(double) * PFA_MAX_TOKENS * PFA_VOCAB);
    double acc[NGRAM_MAX_ORDER + 1];
    for (int order = 1; order <= NGRAM_MAX_ORDER; order++) {
        ngram_model *m = ngram_new(order);
        pfa_score sc = {0};
        for (int i = 0; i < d.test.count; i++) {
            int len;
            const uint8_t *tok = pfa_split_seq(&d.test, i, &len);
            ngram_predict(m, tok, len, p);
            pfa_true_dist(&d.test.automata[i], tok, len, q);
            int seen[PFA_VOCAB] = {0};
            for (int t = 0; t + 1 < len; t++) {
                seen[tok[t]] = 1;
                double sum = 0;
                for (int v = 0; v < PFA_VOCAB; v++) {
                    double x = p[t * PFA_VOCAB + v];
                    REQUIRE(x >= 0 && x <= 1);
                    if (v == PFA_SEP || v == PFA_PAD || !seen[v])
                        REQUIRE(x == 0);
                    else
                        REQUIRE(x > 0);
                    sum += x;
                }
                REQUIRE_NEAR(sum, 1, 1e-12);
            }
            pfa_score_sequence(&sc, p, q, tok, len);
        }
        acc[order] = pfa_score_accuracy(&sc);
        ngram_free(m);
    }
    REQUIRE(acc[3] > acc[1] + 0.2);
    REQUIRE(acc[3] > 0.85);
    free(p);
    free(q);
    pfa_dataset_free(&d);
}
END_TEST

START_TEST(test_describe_and_export)
{
    pfa_dataset d;
    pfa_dataset_generate(&d, 3, 30, 1, 1);
    pfa_stats st;
    pfa_describe(&d.train, &st);
    ck_assert_int_eq(st.count, 30);
    ck_assert_int_eq(st.tokens.n, 30);
    long tokens = 0, states = 0, hist = 0;
    for (int i = 0; i < 30; i++) {
        int len;
        pfa_split_seq(&d.train, i, &len);
        tokens += len;
        states += d.train.automata[i].n;
    }
    ck_assert_double_eq_tol(pfa_tally_mean(&st.tokens), tokens / 30.0, 1e-9);
    ck_assert_double_eq_tol(pfa_tally_mean(&st.states), states / 30.0, 1e-9);
    for (int k = 1; k <= PFA_MAX_OUT; k++)
        hist += st.degree_hist[k];
    ck_assert_int_eq(hist, states);
    REQUIRE(st.strings.min >= PFA_MIN_STRINGS && st.strings.max <= PFA_MAX_STRINGS);
    REQUIRE(st.string_len.min >= 1 && st.string_len.max <= PFA_MAX_STRING_LEN);
    ck_assert_int_eq(st.string_len.n, (long)st.strings.sum);

    /* sequences: one line each, exactly the tokens */
    char *buf;
    size_t size;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_int_eq(pfa_write_sequences(f, &d.train), 0);
    fclose(f);
    char *line = buf;
    for (int i = 0; i < 30; i++) {
        int len;
        const uint8_t *tok = pfa_split_seq(&d.train, i, &len);
        for (int t = 0; t < len; t++)
            ck_assert_int_eq(line[t], pfa_token_char(tok[t]));
        ck_assert_int_eq(line[len], '\n');
        line += len + 1;
    }
    ck_assert_int_eq(*line, 0);
    free(buf);

    /* automata: one JSON object per line, edges as [from, letter, to] */
    f = open_memstream(&buf, &size);
    ck_assert_int_eq(pfa_write_automata(f, &d.train, "train"), 0);
    fclose(f);
    line = buf;
    for (int i = 0; i < 30; i++) {
        char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        json_value v;
        err_t e;
        REQUIRE_MSG(json_parse(line, (size_t)(end - line), &v, &e) == 0, "%s", e.msg);
        const pfa *a = &d.train.automata[i];
        uint64_t n;
        ck_assert_int_eq(json_uint(json_get(&v, "states"), &n), 0);
        ck_assert_int_eq((int)n, a->n);
        ck_assert_int_eq(json_uint(json_get(&v, "index"), &n), 0);
        ck_assert_int_eq((int)n, i);
        ck_assert_str_eq(json_get(&v, "split")->text, "train");
        const json_value *edges = json_get(&v, "edges");
        int k = 0;
        for (int q = 0; q < a->n; q++)
            for (int e2 = 0; e2 < a->deg[q]; e2++, k++) {
                const json_value *ed = &edges->items[k];
                uint64_t from, to;
                ck_assert_int_eq(json_uint(&ed->items[0], &from), 0);
                ck_assert_int_eq(json_uint(&ed->items[2], &to), 0);
                ck_assert_int_eq((int)from, q);
                ck_assert_int_eq((int)to, a->dst[q][e2]);
                ck_assert_int_eq(ed->items[1].text[0], pfa_token_char(a->sym[q][e2]));
            }
        ck_assert_int_eq(edges->n, k);
        json_free(&v);
        line = end + 1;
    }
    free(buf);
    pfa_dataset_free(&d);
}
END_TEST

Suite *suite_pfa(void)
{
    Suite *s = suite_create("pfa");
    TCase *tc = tcase_create("automata");
    tcase_add_test(tc, test_generator_ranges);
    tcase_add_test(tc, test_minimize_hand_made);
    tcase_add_test(tc, test_minimized_automata);
    tcase_add_test(tc, test_sampled_sequences);
    tcase_add_test(tc, test_true_distribution);
    tcase_add_test(tc, test_splits);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *m = tcase_create("metrics_and_models");
    tcase_add_test(m, test_metrics_hand_computed);
    tcase_add_test(m, test_ngram_hand_computed);
    tcase_add_test(m, test_ngram_on_sampled_data);
    tcase_add_test(m, test_describe_and_export);
    tcase_set_timeout(m, 60);
    suite_add_tcase(s, m);
    return s;
}
