#include "nn/memmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/ops.h"
#include "nn/autoencoder.h"
#include "nn/layers.h"

static int uses_encoder(const memmodel_config *c) { return !c->no_memory && !c->full; }

int memmodel_config_check(const memmodel_config *c, err_t *e)
{
    if (c->chunks < 1)
        return err_set(e, "--chunks %d: need at least one chunk", c->chunks);
    if (c->chunk_len < 1)
        return err_set(e, "--chunk-len %d: need at least one token per chunk", c->chunk_len);
    if (!lm_arch_table(c->dec.arch)->attends || (uses_encoder(c) && !lm_arch_table(c->enc.arch)->attends))
        return err_set(e, "--encoder-arch/--decoder-arch: the memory model takes gpt or mosaic stacks");
    const int dec_len = c->full ? c->chunks * c->chunk_len : c->chunks + c->chunk_len;
    if (lm_config_max_len(&c->dec) > 0 && c->dec.ctx < dec_len)
        return err_set(e, "the decoder's learned positions cover %d inputs, fewer than the %d it reads (%s)", c->dec.ctx,
                       dec_len, c->full ? "--chunks x --chunk-len" : "--chunks slots + --chunk-len tokens");
    if (!uses_encoder(c))
        return 0;
    if (c->enc.vocab != c->dec.vocab)
        return err_set(e, "the encoder reads %d tokens, the decoder %d", c->enc.vocab, c->dec.vocab);
    if (lm_config_max_len(&c->enc) > 0 && c->enc.ctx < c->chunk_len)
        return err_set(e, "the encoder's learned positions cover %d tokens, fewer than --chunk-len %d", c->enc.ctx,
                       c->chunk_len);
    if (!c->map && c->enc.d != c->dec.d)
        return err_set(e, "an encoder of width %d and a decoder of width %d need the linear map between them", c->enc.d,
                       c->dec.d);
    return 0;
}

void memmodel_build(memmodel *m, const memmodel_config *c)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->map_w = m->map_b = m->slots = -1;
    lm_build(&m->dec, &c->dec);
    if (uses_encoder(c))
        lm_build(&m->enc, &c->enc);
    params_init(&m->ps);
    if (uses_encoder(c) && c->map)
        layers_declare_linear(&m->ps, "map", c->dec.d, c->enc.d, 1, &m->map_w, &m->map_b);
    if (!c->full)
        m->slots = params_declare_auto(&m->ps, "placeholders", 2, (int[]){c->chunks, c->dec.d});
    params_alloc(&m->ps);
}

void memmodel_init_weights(memmodel *m, rng *r)
{
    lm_init_weights(&m->dec, r);
    if (uses_encoder(&m->cfg))
        lm_init_weights(&m->enc, r);
    /* Memories (LayerNorm outputs, unit scale) enter through the map at the scale of the decoder's
     * token embeddings, so that a gpt decoder's positions still tell its slots apart. */
    const double emb = m->dec.ops->embed_std(&m->cfg.dec);
    if (m->map_w >= 0)
        params_init_normal(&m->ps, m->map_w, emb / sqrt(m->cfg.enc.d), r);
    if (m->slots >= 0)
        params_init_normal(&m->ps, m->slots, emb, r);
}

void memmodel_free(memmodel *m)
{
    lm_free(&m->dec);
    if (uses_encoder(&m->cfg))
        lm_free(&m->enc);
    params_free(&m->ps);
}

void memmodel_slot_rows(int B, int C, int memory, int *rows)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int j = 0; j < C; j++)
                rows[((size_t)b * C + c) * C + j] = memory && j < c ? b * C + j : B * C + j;
}

/* The B * C memories [B * C, d_dec]: one encoder pass over every chunk, then the map. A frozen
 * encoder runs with recording off and its output is copied in as a constant. */
static tensor *memories(memmodel *m, tape *tp, const int *ids, int B, rng *drop)
{
    const memmodel_config *c = &m->cfg;
    const int N = B * c->chunks;
    tensor *mem;
    if (c->frozen) {
        const int grad = tp->grad_enabled, training = tp->training;
        tp->grad_enabled = tp->training = 0;
        tensor *e = lm_embedding(&m->enc, tp, ids, N, c->chunk_len, NULL);
        tp->grad_enabled = grad;
        tp->training = training;
        mem = tape_view(tp, e, 2, (int[]){N, c->enc.d});   /* no node: a constant on either device */
    } else {
        mem = lm_embedding(&m->enc, tp, ids, N, c->chunk_len, drop);
    }
    if (m->map_w >= 0)
        mem = layers_linear(tp, &m->ps, mem, m->map_w, m->map_b);
    return mem;
}

/* The decoder's final hidden states at the scored positions, [B, C L, d] (full) or [B C, L, d] (the
 * token positions after each chunk's slots): the same rows, in the same order, as the targets. */
static tensor *memmodel_hidden(memmodel *m, tape *tp, const int *ids, int B, rng *drop)
{
    const memmodel_config *c = &m->cfg;
    const int C = c->chunks, L = c->chunk_len, N = B * C, d = c->dec.d;
    if (c->full)
        return lm_hidden(&m->dec, tp, ids, B, C * L, drop);
    /* The slot table: memories (when there are any) then placeholders; one lookup lays out every
     * chunk's slots, and the gradient of each slot flows back to its memory or placeholder. */
    tensor *table = params_tensor(&m->ps, m->slots);
    if (!c->no_memory)
        table = op_concat(tp, memories(m, tp, ids, B, drop), table, 0);
    else
        table = op_concat(tp, tape_tensor_zeros(tp, 2, (int[]){N, d}), table, 0);
    int *rows = xmalloc((size_t)N * C * sizeof *rows);
    memmodel_slot_rows(B, C, !c->no_memory, rows);
    tensor *slots = op_embedding(tp, rows, N, C, table);
    free(rows);
    tensor *tok = op_embedding(tp, ids, N, L, params_tensor(&m->dec.ps, m->dec.wte));
    tensor *h = lm_hidden_from(&m->dec, tp, op_concat(tp, slots, tok, 1), drop);
    return op_slice(tp, h, 1, C, L);
}

tensor *memmodel_forward(memmodel *m, tape *tp, const int *ids, int B, rng *drop)
{
    const memmodel_config *c = &m->cfg;
    tensor *logits = lm_logits(&m->dec, tp, memmodel_hidden(m, tp, ids, B, drop));
    return c->full ? logits : op_reshape(tp, logits, 3, (int[]){B, c->chunks * c->chunk_len, c->dec.vocab});
}

double memmodel_train_step(memmodel *m, tape *tp, const memmodel_batch *batches, int nb, int B, const lm_optim *o,
                           long long step, rng *drop)
{
    tape_reset(tp);
    tp->grad_enabled = 1;
    tp->training = 1;
    tensor *loss = NULL;
    for (int i = 0; i < nb; i++) {
        tensor *l = lm_head_loss(&m->dec, tp, memmodel_hidden(m, tp, batches[i].ids, B, drop), batches[i].targets, -1);
        loss = loss ? op_add(tp, loss, l) : l;
    }
    param_store *stores[3] = {&m->dec.ps, &m->ps, &m->enc.ps};
    const int n = uses_encoder(&m->cfg) && !m->cfg.frozen ? 3 : 2;
    return optim_step_stores(tp, loss, stores, n, o, step);
}

void memmodel_broadcast(memmodel *m)
{
    param_store *stores[3] = {&m->enc.ps, &m->dec.ps, &m->ps};
    for (int i = 0; i < 3; i++)
        dist_broadcast_real(stores[i]->data, stores[i]->total);
}

void memmodel_place(memmodel *m, device_kind d, int bf16)
{
    if (uses_encoder(&m->cfg))
        lm_place(&m->enc, d, bf16);
    lm_place(&m->dec, d, bf16);
    params_move(&m->ps, d);
}

void memmodel_reset_optimizer(memmodel *m)
{
    params_zero_moments(&m->dec.ps);
    params_zero_moments(&m->ps);
    params_zero_moments(&m->enc.ps);
}

void memmodel_score(memmodel *m, tape *tp, const memmodel_batch *batch, int B, probe_score *s)
{
    tape_reset(tp);
    tp->grad_enabled = tp->training = 0;
    tensor *logits = tape_to_host(tp, memmodel_forward(m, tp, batch->ids, B, NULL));
    probe_score_add(s, logits->data, batch->targets, (long long)B * m->cfg.chunks * m->cfg.chunk_len,
                    m->cfg.dec.vocab, -1);
    tape_reset(tp);
}

/* ---- cost ------------------------------------------------------------------------------------------ */

/* Per position of a sequence of T through the stack (no head), 2 FLOPs per multiply-add: linear
 * layers, attention over the keys each query may read on average, persistent-memory tables. The
 * leaky-average scans are left out here (lm_flops_per_token counts them: 4d per layer, under 0.1%
 * at the memory models' shapes). */
static double stack_flops(const lm_config *c, int T)
{
    const lm_block_macs b = lm_arch_table(c->arch)->macs(c, T);
    return c->layers * (2 * b.dense + 2 * b.attention + 2 * b.memory);
}

double memmodel_flops_per_token(const memmodel_config *c)
{
    const double C = c->chunks, L = c->chunk_len, head = 2.0 * c->dec.d * c->dec.vocab;
    if (c->full)
        return stack_flops(&c->dec, c->chunks * c->chunk_len) + head;
    /* per chunk: the decoder's C + L positions, the encoder's L (none without memory), the map */
    double chunk = (C + L) * stack_flops(&c->dec, c->chunks + c->chunk_len) + L * head;
    if (uses_encoder(c))
        chunk += L * stack_flops(&c->enc, c->chunk_len) + (c->map ? 2.0 * c->enc.d * c->dec.d : 0);
    return chunk / L;
}
