/* The encoder-decoder memory model (docs/copy.md#what-the-paper-specifies). An input of C chunks of
 * L tokens; the encoder (an lm stack) turns every chunk into one memory, its last-token hidden
 * state, all B * C chunks in one batched pass (they are independent); an optional linear map takes
 * memories from the encoder's width to the decoder's. To predict chunk c the decoder (another lm
 * stack) reads C memory slots at fixed positions, [m_0 .. m_{c-1}, placeholders for slots c ..
 * C-1], followed by chunk c's tokens, causally; the B * C decoder sequences also run as one batch.
 * Placeholders are learned vectors, one per slot.
 *
 * Controls: no_memory (every slot a placeholder; no encoder at all) and full (no encoder and no
 * slots: the decoder reads the whole C * L input as one sequence, the full-context baseline).
 * A frozen encoder computes its memories without recording them: nothing flows back into it. */
#ifndef MEMLAB_NN_MEMMODEL_H
#define MEMLAB_NN_MEMMODEL_H

#include "nn/lm.h"
#include "nn/lm_train.h"
#include "nn/probe.h"

typedef struct {
    lm_config enc, dec;   /* the same vocabulary; enc unused with no_memory or full */
    int chunks, chunk_len;
    int map;              /* a linear map from memories to the decoder's width (required when the widths differ) */
    int no_memory, full, frozen;
} memmodel_config;

typedef struct {
    memmodel_config cfg;
    lm enc, dec;
    param_store ps;   /* the model's own: map and placeholders */
    int map_w, map_b, slots;
} memmodel;

/* Checks the combination (chunks and lengths positive, the vocabularies equal, learned positions
 * long enough: the encoder's cover L, the decoder's C + L, or C * L for full): 0, or -1 with a
 * message naming the option ("--chunks 0: ..."). The two lm_configs must already be resolved. */
int memmodel_config_check(const memmodel_config *c, err_t *e);
/* Builds both stacks and the model's own parameters. */
void memmodel_build(memmodel *m, const memmodel_config *c);
/* Both stacks as their lm initialisation; the placeholders as the decoder's token embedding
 * (N(0, 0.02) gpt, N(0, 1) mosaic) and the map so that its outputs have that scale (N(0, s/sqrt
 * d_enc)). Without the map a gpt decoder's memories (unit scale) drown its position embeddings
 * (0.02): its slots then look alike. */
void memmodel_init_weights(memmodel *m, rng *r);
void memmodel_free(memmodel *m);
/* Rank 0's weights in every store on every data-parallel rank (core/dist.h), before memmodel_place:
 * the ranks start alike. */
void memmodel_broadcast(memmodel *m);
/* lm_place for every store (the encoder, the decoder and the model's own); a tape for the model is
 * lm_tape_init(tp, &m->dec). */
void memmodel_place(memmodel *m, device_kind d, int bf16);

/* The slot layout: rows[(b * C + c) * C + j] is the row of the slot table that slot j of chunk c of
 * batch row b reads, where the table holds the B * C memories (row b * C + j) followed by the C
 * placeholders (row B * C + j): a memory for j < c (with memory), else placeholder j. */
void memmodel_slot_rows(int B, int C, int memory, int *rows);

/* ids[B * C * L] -> logits [B, C * L, V] (the predictions at every token position; slots produce
 * none). drop: the dropout stream, used when tp->training. */
tensor *memmodel_forward(memmodel *m, tape *tp, const int *ids, int B, rng *drop);

typedef struct {
    const int *ids, *targets;   /* B * C * L each; targets COPYTASK_IGNORE (-1) carry no loss */
} memmodel_batch;

/* One training step: the losses of nb batches (objectives) of B rows each summed, backward, one
 * AdamW step over every trained store (clipped together). The summed loss before the step; NaN (no
 * step) when it or the gradient is not finite. Data-parallel ranks (core/dist.h) pass equal shares
 * of the batch's rows: the loss and the gradients are their means over the ranks, the whole
 * batch's, as long as every row of an objective counts the same number of targets (the copy tasks
 * ignore the same positions in every row, data/copytask.h). */
double memmodel_train_step(memmodel *m, tape *tp, const memmodel_batch *batches, int nb, int B, const lm_optim *o,
                           long long step, rng *drop);

/* Forgets every store's AdamW moments: a curriculum stage starts a fresh optimiser (its step count,
 * and so Adam's bias correction, restarts at 1 with its schedule) from the previous stage's weights. */
void memmodel_reset_optimizer(memmodel *m);

/* Evaluation mode: adds the accuracy and cross-entropy of one batch's predictions (targets other
 * than -1) to s. */
void memmodel_score(memmodel *m, tape *tp, const memmodel_batch *batch, int B, probe_score *s);

/* Forward matrix-product FLOPs per input token (2 per multiply-add), counted from the shapes: both
 * stacks' linear layers and attention over their sequences, the map and the output head; the
 * full-context baseline's attention grows with C * L, the memory model's decoder with C + L. */
double memmodel_flops_per_token(const memmodel_config *c);

#endif
