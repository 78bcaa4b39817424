/* The inversion probe (docs/memory-inversion.md#what-the-paper-specifies): a decoder that
 * regenerates all n tokens of a sequence in one forward pass from a single embedding vector, with
 * no token input at all. Position p reads the embedding through the feed, plus a learned position
 * vector; a stack of gpt or mosaic blocks of its own width and depth mixes the positions
 * (bidirectionally: every position is decoded at once); a final LayerNorm and an output head over
 * the vocabulary give the logits.
 *
 * Feeds: `unrolled` gives position p the window of d/2 consecutive embedding elements starting at
 * p mod d (wrapping), `repeated` the whole embedding at every position; either way through one
 * linear map shared by all positions. The paper's decoders read n >= d positions, where the
 * unrolled windows reach every element; for shorter inputs the starts are spread out, p * floor(d/n)
 * mod d, so that they still do (with starts p alone, n positions would reach only n - 1 + d/2 of the
 * d elements).
 *
 * The same module is the decoder half of the autoencoder (nn/autoencoder.h), and lm_optim steps
 * train it. */
#ifndef MEMLAB_NN_PROBE_H
#define MEMLAB_NN_PROBE_H

#include "nn/lm.h"
#include "nn/lm_train.h"

typedef enum { FEED_UNROLLED, FEED_REPEATED } probe_feed;

typedef struct {
    lm_arch arch;       /* gpt or mosaic blocks */
    int vocab;          /* output tokens */
    int n;              /* positions decoded: the input length */
    int d_in;           /* width of the embedding it reads */
    int d, layers, heads, pmem, bias;   /* its own stack (pmem: mosaic, 0 = 3.5 d) */
    probe_feed feed;
} probe_config;

typedef struct {
    probe_config cfg;
    lm_config blocks_cfg;   /* the block stack's shape, bidirectional */
    param_store ps;
    int feed_w, feed_b, wpe, lnf_w, lnf_b, head_w, head_b;
    lm_stack stack;
    int *window;            /* [n * feed width]: the embedding element each feed input reads */
} probe;

const char *probe_feed_name(probe_feed f);
int probe_feed_parse(const char *s, probe_feed *f);   /* 0 or -1 */
/* Elements each position reads: d_in / 2 (unrolled) or d_in (repeated). */
int probe_feed_width(probe_feed f, int d_in);
/* The step between the unrolled windows' starts: 1 when n >= d_in, else floor(d_in / n). */
int probe_feed_stride(int d_in, int n);
/* idx[p * w + j] = the embedding element that input j of position p reads (w = probe_feed_width):
 * (p * stride + j) mod d_in unrolled, j repeated. */
void probe_feed_index(probe_feed f, int d_in, int n, int *idx);

/* Checks the shape (an arch other than gpt/mosaic, d not divisible by heads, d_in < 2, ...): 0 or
 * -1 with a message naming the option ("--probe-d 100 is not divisible by --probe-heads 3"). */
int probe_config_check(probe_config *c, err_t *e);
void probe_build(probe *p, const probe_config *c);
/* Blocks as their lm initialisation; the feed N(0, 1/sqrt(width)) and positions N(0, 1), so that
 * both reach the stack at unit scale; the head N(0, 0.02). */
void probe_init_weights(probe *p, rng *r);
void probe_free(probe *p);
/* The probe's parameters on device d (after probe_init_weights); it then runs on a tape of that
 * device (the encoder's: lm_tape_init), reading embeddings from the host. */
void probe_place(probe *p, device_kind d);

/* emb [B, d_in] (gradients flow back into it when it requires them) -> logits [B, n, vocab]. */
tensor *probe_forward(probe *p, tape *tp, tensor *emb);

/* One training step of the probe alone on fixed embeddings emb[B * d_in] (copied: nothing flows
 * back to whatever made them) and their tokens[B * n]; the mean loss, NaN without a step when it is
 * not finite. */
double probe_train_step(probe *p, tape *tp, const real *emb, const int *tokens, int B, const lm_optim *o,
                        long long step);
/* Evaluation mode: logits[B * n * vocab] for emb[B * d_in] (caller's buffer); leaves the tape
 * reset, recording off. */
void probe_logits(probe *p, tape *tp, const real *emb, int B, real *logits);

/* Backward from a scalar loss and one AdamW step over several param stores, the gradient norm
 * clipped over all of them together. Returns the loss; NaN (no step) when the loss or the gradient
 * is not finite. */
double optim_step_stores(tape *tp, tensor *loss, param_store *const *stores, int n, const lm_optim *o,
                         long long step);

/* ---- metrics (docs/memory-inversion.md#what-the-paper-specifies) ----------------------------- */

typedef struct {
    long long correct, count;   /* argmax equal to the target, among targets other than ignore */
    double ce_sum;              /* summed cross-entropy (nats) over the same targets */
} probe_score;

/* Adds N rows of logits[N * V] against targets[N]; rows whose target is `ignore` (pads) are left
 * out. Ties in the argmax go to the lowest id. */
void probe_score_add(probe_score *s, const real *logits, const int *targets, long long N, int V, int ignore);

typedef struct {
    double token_acc;       /* 1 - normalised Hamming distance over non-pad tokens */
    double ce;              /* mean cross-entropy, nats per token */
    double entropy_ratio;   /* ce / ln V */
    double retained;        /* 1 - ce / ln V */
    double bits_per_token;  /* (ln V - ce) / ln 2 */
} probe_metrics;

probe_metrics probe_metrics_of(const probe_score *s, int V);

#endif
