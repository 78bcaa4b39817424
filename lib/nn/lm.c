#include "nn/lm.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/ops.h"

static const char *const arch_names[] = {"gpt", "mosaic", "lstm"};
static const char *const pos_names[] = {"learned", "none", "rope", "alibi"};
static const char *const gelu_names[] = {"erf", "tanh"};
static const char *const variant_names[] = {"library", "nano"};

const char *lm_arch_name(lm_arch a) { return arch_names[a]; }
const char *lm_pos_name(lm_pos p) { return pos_names[p]; }
const char *lm_gelu_name(lm_gelu g) { return gelu_names[g]; }
const char *lm_mosaic_variant_name(lm_mosaic_variant v) { return variant_names[v]; }

/* Index of s in names[n], or -1. */
static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int lm_gelu_parse(const char *s, lm_gelu *g)
{
    int i = name_index(s, gelu_names, 2);
    if (i >= 0)
        *g = (lm_gelu)i;
    return i >= 0 ? 0 : -1;
}

int lm_mosaic_variant_parse(const char *s, lm_mosaic_variant *v)
{
    int i = name_index(s, variant_names, 2);
    if (i >= 0)
        *v = (lm_mosaic_variant)i;
    return i >= 0 ? 0 : -1;
}

int lm_arch_parse(const char *s, lm_arch *a)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, arch_names[i]) == 0) {
            *a = (lm_arch)i;
            return 0;
        }
    return -1;
}

int lm_pos_parse(const char *s, lm_pos *p)
{
    for (int i = 0; i < (int)(sizeof pos_names / sizeof pos_names[0]); i++)
        if (strcmp(s, pos_names[i]) == 0) {
            *p = (lm_pos)i;
            return 0;
        }
    return -1;
}

int lm_config_resolve(lm_config *c, err_t *e)
{
    if (c->vocab < 2)
        return err_set(e, "vocabulary of %d tokens (need at least 2)", c->vocab);
    if (c->d < 1 || c->layers < 1 || c->heads < 1 || c->ctx < 1)
        return err_set(e, "--d, --layers, --heads and --ctx must be positive");
    if (c->d % c->heads != 0)
        return err_set(e, "--d %d is not divisible by --heads %d", c->d, c->heads);
    if (c->arch == LM_GPT && c->pos == POS_ROPE && (c->d / c->heads) % 2 != 0)
        return err_set(e, "--pos rope needs an even head size (--d %d / --heads %d = %d)", c->d, c->heads,
                       c->d / c->heads);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return err_set(e, "--dropout %g outside [0, 1)", c->dropout);
    if (c->arch == LM_MOSAIC && c->pmem <= 0)
        c->pmem = (int)lround(3.5 * c->d);
    return 0;
}

void lm_declare_linear(param_store *ps, const char *prefix, int out, int in, int bias, int *w, int *b)
{
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w = params_declare_auto(ps, name, 2, (int[]){out, in});
    *b = -1;
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        *b = params_declare_auto(ps, name, 1, (int[]){out});
    }
}

void lm_declare_layernorm(param_store *ps, const char *prefix, int d, int bias, int *w, int *b)
{
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w = params_declare_auto(ps, name, 1, (int[]){d});
    *b = -1;
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        *b = params_declare_auto(ps, name, 1, (int[]){d});
    }
}

tensor *lm_param(param_store *ps, int idx) { return idx < 0 ? NULL : params_tensor(ps, idx); }

void lm_build(lm *m, const lm_config *c)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    params_init(&m->ps);
    m->wte = params_declare_auto(&m->ps, "wte", 2, (int[]){c->vocab, c->d});
    m->wpe = -1;
    if (c->arch == LM_GPT && c->pos == POS_LEARNED)
        m->wpe = params_declare_auto(&m->ps, "wpe", 2, (int[]){c->ctx, c->d});
    m->blocks = xcalloc((size_t)c->layers, sizeof *m->blocks);
    for (int l = 0; l < c->layers; l++) {
        memset(&m->blocks[l], 0xff, sizeof m->blocks[l]);   /* every index -1 */
        if (c->arch == LM_GPT)
            gpt_block_declare(&m->blocks[l], &m->ps, c, l);
        else if (c->arch == LM_MOSAIC)
            mosaic_block_declare(&m->blocks[l], &m->ps, c, l);
        else
            lstm_layer_declare(&m->blocks[l], &m->ps, c, l);
    }
    lm_declare_layernorm(&m->ps, "ln_f", c->d, c->bias, &m->lnf_w, &m->lnf_b);
    params_alloc(&m->ps);
}

void lm_init_weights(lm *m, rng *r)
{
    const lm_config *c = &m->cfg;
    /* nanoGPT (and the lstm, and nanoMosaics): every embedding N(0, 0.02); the mosaic library: the
     * (tied) embedding N(0, 1), which its logit scale 1/sqrt(d) brings back to unit-size logits. */
    const int library = c->arch == LM_MOSAIC && c->mosaic_variant == MOSAIC_LIBRARY;
    params_init_normal(&m->ps, m->wte, library ? 1.0 : 0.02, r);
    if (m->wpe >= 0)
        params_init_normal(&m->ps, m->wpe, 0.02, r);
    for (int l = 0; l < c->layers; l++) {
        if (c->arch == LM_GPT)
            gpt_block_init(&m->blocks[l], &m->ps, c, r);
        else if (c->arch == LM_MOSAIC)
            mosaic_block_init(&m->blocks[l], &m->ps, c, r);
        else
            lstm_layer_init(&m->blocks[l], &m->ps, c, r);
    }
    params_fill(&m->ps, m->lnf_w, 1);
    if (m->lnf_b >= 0)
        params_fill(&m->ps, m->lnf_b, 0);
}

void lm_free(lm *m)
{
    params_free(&m->ps);
    free(m->blocks);
    m->blocks = NULL;
}

int lm_max_len(const lm *m) { return m->wpe >= 0 ? m->cfg.ctx : 0; }

tensor *lm_hidden(lm *m, tape *tp, const int *ids, int B, int T, rng *drop)
{
    return lm_hidden_from(m, tp, op_embedding(tp, ids, B, T, params_tensor(&m->ps, m->wte)), drop);
}

tensor *lm_hidden_from(lm *m, tape *tp, tensor *x, rng *drop)
{
    const lm_config *c = &m->cfg;
    if (x->ndim != 3 || x->shape[2] != c->d)
        fatal("internal: an lm of width %d fed inputs of %d dimensions", c->d, x->shape[x->ndim - 1]);
    const int B = x->shape[0], T = x->shape[1];
    if (m->wpe >= 0) {
        if (T > c->ctx)
            fatal("internal: %d positions through a learned table of %d", T, c->ctx);
        /* Position ids t for every row of the batch: one lookup, gradients summed by the op. */
        int *pos = xmalloc((size_t)B * T * sizeof *pos);
        for (int i = 0; i < B * T; i++)
            pos[i] = i % T;
        tensor *pb = op_embedding(tp, pos, B, T, params_tensor(&m->ps, m->wpe));
        free(pos);
        x = op_add(tp, x, pb);
    }
    if (c->arch == LM_GPT)
        x = op_dropout(tp, x, (real)c->dropout, drop);
    for (int l = 0; l < c->layers; l++) {
        const lm_block *b = &m->blocks[l];
        x = c->arch == LM_GPT      ? gpt_block_forward(b, &m->ps, c, tp, x, drop)
            : c->arch == LM_MOSAIC ? mosaic_block_forward(b, &m->ps, c, tp, x, drop)
                                   : lstm_layer_forward(b, &m->ps, c, tp, x, drop);
    }
    return op_layernorm(tp, x, params_tensor(&m->ps, m->lnf_w), lm_param(&m->ps, m->lnf_b), (real)1e-5);
}

tensor *lm_logits(lm *m, tape *tp, tensor *h)
{
    tensor *logits = op_linear(tp, h, params_tensor(&m->ps, m->wte), NULL);
    if (m->cfg.arch == LM_MOSAIC && m->cfg.mosaic_variant == MOSAIC_LIBRARY)
        logits = op_scale(tp, logits, (real)(1.0 / sqrt(m->cfg.d)));
    return logits;
}

tensor *lm_forward(lm *m, tape *tp, const int *ids, int B, int T, rng *drop)
{
    return lm_logits(m, tp, lm_hidden(m, tp, ids, B, T, drop));
}
