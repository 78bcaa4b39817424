/* RegBench data (Akyürek et al. 2024; Memory Mosaics §5): random probabilistic finite automata,
 * one sequence of strings sampled from each, the true next-token distribution at every position,
 * and the model-agnostic metrics (accuracy, total variation distance, cross-entropy).
 *
 * Tokens: '.' pad = 0, letters 'a'..'r' = 1..18, separator '|' = 19.
 *
 * Automaton: n states in 4..12, an alphabet of k in 4..18 letters (a random k-subset), each state 1..3
 * outgoing edges with distinct letters of the alphabet to distinct other states (no self-loops); state 0
 * is the start; every state accepts; missing transitions are undefined. It is then minimised (Moore's
 * partition refinement, an undefined transition going to an implicit non-accepting dead state),
 * trimmed to the states reachable from the start, and renumbered canonically: breadth-first from the
 * start, edges taken in letter order. Two automata then define the same language if and only if their
 * pfa structs agree on n, deg, sym and dst (pfa_same_language), so the canonical form is the
 * automaton itself. From a state the next letter is uniform over its outgoing letters.
 *
 * Dead ends: every generated state has at least one outgoing edge, and minimisation keeps that (states
 * merge only when they have the same outgoing letters; a letter defined in one and undefined in the
 * other distinguishes them), so a walk never reaches a state without an edge. The public RegBench code
 * relies on the same guarantee (it draws 1..3 edges per state and never checks); pfa_sample treats a
 * dead end as a broken invariant (fatal).
 *
 * Sequence: 10..19 strings, each of length uniform in 1..49 (drawn first, then walked from the start
 * state), joined by '|' with no leading or trailing separator; at most PFA_MAX_TOKENS tokens.
 *
 * True distribution at input position t (predicting token t+1 from tokens 0..t): the state reached by
 * the current string's prefix (restarting at the start state after every '|'; at a '|' input it is the
 * start state) gives each of its outgoing letters 1/deg and every other token, '|' and '.' included,
 * zero. The end of a string is not an event of the automaton: the public code's target distribution
 * (analyze.py get_dfa_probs) is likewise uniform over the state's outgoing letters with no mass on '|';
 * its headline accuracy skips positions whose target is '|', its L1 distance keeps them. memlab scores
 * every position (docs/regbench.md#what-the-paper-specifies: every position of every test sequence);
 * a position whose target is '|' still has the state's letters as its true distribution, so
 * predicting '|' there counts as an error, as it does everywhere. The cross-entropy (a
 * training-style loss) skips targets equal to '|'.
 */
#ifndef MEMLAB_DATA_PFA_H
#define MEMLAB_DATA_PFA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/rng.h"

#define PFA_VOCAB 20
#define PFA_PAD 0
#define PFA_SEP 19
#define PFA_LETTERS 18        /* tokens 1..18 */
#define PFA_MIN_STATES 4
#define PFA_MAX_STATES 12
#define PFA_MIN_ALPHABET 4
#define PFA_MAX_OUT 3         /* edges per state: 1..3 */
#define PFA_MIN_STRINGS 10
#define PFA_MAX_STRINGS 19
#define PFA_MAX_STRING_LEN 49
#define PFA_MAX_TOKENS (PFA_MAX_STRINGS * PFA_MAX_STRING_LEN + PFA_MAX_STRINGS - 1)
/* Probabilities are clamped here before a log: the public code adds 1e-5 in its n-gram loss. */
#define PFA_PROB_FLOOR 1e-5

typedef struct {
    uint8_t n;                                   /* states; 0 is the start */
    uint8_t n_generated;                         /* states before minimisation and trimming */
    uint8_t alphabet;                            /* k, letters drawn (some may be left unused) */
    uint8_t deg[PFA_MAX_STATES];                 /* outgoing edges, 1..PFA_MAX_OUT */
    uint8_t sym[PFA_MAX_STATES][PFA_MAX_OUT];    /* letter tokens, ascending */
    uint8_t dst[PFA_MAX_STATES][PFA_MAX_OUT];
} pfa;

/* '.', 'a'..'r', '|' for tokens 0..19; '?' otherwise. */
char pfa_token_char(int token);

/* The automaton as drawn, before minimisation (n_generated = n). */
void pfa_generate_raw(pfa *a, rng *r);
/* Minimises, trims and renumbers canonically, in place (edges must be in letter order per state). */
void pfa_minimize(pfa *a);
/* pfa_generate_raw then pfa_minimize. */
void pfa_generate(pfa *a, rng *r);
/* The state reached from `state` by letter `token`, or -1 when undefined. */
int pfa_step(const pfa *a, int state, int token);
/* Same canonical form: the same language (both minimised). */
int pfa_same_language(const pfa *a, const pfa *b);

/* Samples one sequence into tok (room for PFA_MAX_TOKENS); returns its length. */
int pfa_sample(const pfa *a, rng *r, uint8_t *tok);
/* The true next-token distribution for every input position t = 0 .. len-2, into
 * p_true[t * PFA_VOCAB + v]. A letter undefined in the current state is a broken invariant (fatal). */
void pfa_true_dist(const pfa *a, const uint8_t *tok, int len, double *p_true);

/* ---- data sets ---------------------------------------------------------------------------------- */

typedef struct {
    int count;
    pfa *automata;
    uint8_t *tokens;       /* every sequence, one after the other */
    size_t *start;         /* sequence i is tokens[start[i] .. start[i + 1]) */
} pfa_split;

typedef struct {
    pfa_split train, val, test;
} pfa_dataset;

/* The sequence i of a split; *len gets its length. */
const uint8_t *pfa_split_seq(const pfa_split *s, int i, int *len);

/* Draws the three splits from `seed`. No automaton (canonical form) appears twice in the whole data
 * set. Each split has its own random stream, generated in the order test, validation, train, each
 * rejecting what came before: the test set depends only on (seed, n_test), the validation set only on
 * (seed, n_test, n_val), and a training set of N automata is the prefix of any larger one. n_train may
 * be 0 (nothing drawn: reference models need no training data). */
void pfa_dataset_generate(pfa_dataset *d, uint64_t seed, int n_train, int n_val, int n_test);
void pfa_dataset_free(pfa_dataset *d);

/* ---- metrics ------------------------------------------------------------------------------------ */

/* 1 when the model's argmax over all PFA_VOCAB tokens (ties: the lowest token) has non-zero true
 * probability. */
int pfa_argmax_valid(const double *p_model, const double *p_true);
/* Total variation distance 1/2 sum_v |p_model(v) - p_true(v)| over all PFA_VOCAB tokens. */
double pfa_tvd(const double *p_model, const double *p_true);

/* Sums over positions: accuracy and TVD at every position; cross-entropy -log max(p_model(target),
 * PFA_PROB_FLOOR) only where the target is a letter. */
typedef struct {
    double correct, tvd, nll;
    long positions, nll_positions;
} pfa_score;

void pfa_score_add(pfa_score *s, const double *p_model, const double *p_true, int target);
/* A whole sequence: p_model and p_true hold len - 1 rows of PFA_VOCAB; targets are tok[1..len-1]. */
void pfa_score_sequence(pfa_score *s, const double *p_model, const double *p_true, const uint8_t *tok, int len);
double pfa_score_accuracy(const pfa_score *s);
double pfa_score_tvd(const pfa_score *s);
double pfa_score_loss(const pfa_score *s);

/* ---- description and export --------------------------------------------------------------------- */

typedef struct {
    double sum;
    long n;
    long min, max;
} pfa_tally;

static inline double pfa_tally_mean(const pfa_tally *t) { return t->n ? t->sum / t->n : 0; }

typedef struct {
    int count;
    pfa_tally states, states_generated, alphabet, letters_used, out_degree, strings, tokens, string_len;
    long degree_hist[PFA_MAX_OUT + 1];   /* states with 1, 2, 3 outgoing edges (index 0 unused) */
} pfa_stats;

void pfa_describe(const pfa_split *s, pfa_stats *st);

/* One line per sequence, letters and '|'. -1 on a write error. */
int pfa_write_sequences(FILE *f, const pfa_split *s);
/* One JSON object per line per automaton:
 * {"split":"test","index":0,"states":3,"states_generated":7,"alphabet":6,"start":0,
 *  "edges":[[0,"b",1],[0,"k",2],[1,"a",0],...]}
 * edges are [from, letter, to], ordered by state then letter. -1 on a write error. */
int pfa_write_automata(FILE *f, const pfa_split *s, const char *split);

#endif
