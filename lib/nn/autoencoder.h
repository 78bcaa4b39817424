/* Sequence embeddings and the autoencoder (docs/memory-inversion.md#what-the-paper-specifies). The
 * embedding of a token sequence is an encoder's final hidden state at its last token. The
 * autoencoder is a language-model stack (nn/lm.h) as encoder and a probe-shaped decoder
 * (nn/probe.h) trained together to regenerate the encoder's input from that embedding alone, the
 * gradient flowing through the embedding into the encoder. */
#ifndef MEMLAB_NN_AUTOENCODER_H
#define MEMLAB_NN_AUTOENCODER_H

#include "nn/lm.h"
#include "nn/lm_train.h"
#include "nn/probe.h"

/* ids[B*T] -> the last position's final hidden state [B, d] (recorded on the tape like any op). */
tensor *lm_embedding(lm *m, tape *tp, const int *ids, int B, int T, rng *drop);
/* Evaluation mode: the embeddings into emb[B * d]; leaves the tape reset, recording off (every
 * training step turns it back on). */
void lm_embed(lm *m, tape *tp, const int *ids, int B, int T, real *emb);

typedef struct {
    lm enc;
    probe dec;   /* dec.cfg.n tokens from an embedding of enc.cfg.d */
} autoencoder;

/* The decoder reads the encoder's width and regenerates `dec->n` tokens of the encoder's vocabulary
 * (dec->d_in and dec->vocab are set from enc). Both configurations already checked. */
void autoencoder_build(autoencoder *a, const lm_config *enc, const probe_config *dec);
void autoencoder_init_weights(autoencoder *a, rng *r);
void autoencoder_free(autoencoder *a);
/* Rank 0's weights of both parts on every data-parallel rank (core/dist.h), before
 * autoencoder_place: the ranks start alike. */
void autoencoder_broadcast(autoencoder *a);
/* Both parts on device d (lm_place, probe_place); its tape: lm_tape_init(tp, &a->enc). */
void autoencoder_place(autoencoder *a, device_kind d, int bf16);

/* One step on ids[B * n] (inputs and targets alike): cross-entropy of the regenerated tokens,
 * backward through decoder and encoder, one AdamW step on both (clipped together). The mean loss,
 * or NaN (no step) when it is not finite. Data-parallel ranks (core/dist.h) pass equal shares of
 * the batch's rows: the loss and gradients are their means over the ranks, the whole batch's. */
double autoencoder_train_step(autoencoder *a, tape *tp, const int *ids, int B, const lm_optim *o, long long step,
                              rng *drop);

#endif
