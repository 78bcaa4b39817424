#include "nn/autoencoder.h"

#include <string.h>

#include "core/dist.h"
#include "core/ops.h"

tensor *lm_embedding(lm *m, tape *tp, const int *ids, int B, int T, rng *drop)
{
    tensor *h = op_slice(tp, lm_hidden(m, tp, ids, B, T, drop), 1, T - 1, 1);
    return op_reshape(tp, h, 2, (int[]){B, m->cfg.d});
}

void lm_embed(lm *m, tape *tp, const int *ids, int B, int T, real *emb)
{
    tape_reset(tp);
    tp->grad_enabled = tp->training = 0;
    tensor *e = tape_to_host(tp, lm_embedding(m, tp, ids, B, T, NULL));   /* on the GPU: a copy */
    memcpy(emb, e->data, e->n * sizeof *emb);
    tape_reset(tp);
}

void autoencoder_build(autoencoder *a, const lm_config *enc, const probe_config *dec)
{
    lm_build(&a->enc, enc);
    probe_config dc = *dec;
    dc.d_in = enc->d;
    dc.vocab = enc->vocab;
    probe_build(&a->dec, &dc);
}

void autoencoder_init_weights(autoencoder *a, rng *r)
{
    lm_init_weights(&a->enc, r);
    probe_init_weights(&a->dec, r);
}

void autoencoder_broadcast(autoencoder *a)
{
    dist_broadcast_real(a->enc.ps.data, a->enc.ps.total);
    dist_broadcast_real(a->dec.ps.data, a->dec.ps.total);
}

void autoencoder_place(autoencoder *a, device_kind d, int bf16)
{
    lm_place(&a->enc, d, bf16);
    probe_place(&a->dec, d);
}

void autoencoder_free(autoencoder *a)
{
    lm_free(&a->enc);
    probe_free(&a->dec);
}

double autoencoder_train_step(autoencoder *a, tape *tp, const int *ids, int B, const lm_optim *o, long long step,
                              rng *drop)
{
    tape_reset(tp);
    tp->grad_enabled = 1;
    tp->training = 1;
    tensor *emb = lm_embedding(&a->enc, tp, ids, B, a->dec.cfg.n, drop);
    tensor *loss = op_softmax_xent(tp, probe_forward(&a->dec, tp, emb), ids, -1);
    param_store *stores[2] = {&a->enc.ps, &a->dec.ps};
    return optim_step_stores(tp, loss, stores, 2, o, step);
}
