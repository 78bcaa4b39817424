#include "nn/lm_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The architecture keys, then dropout (a training setting that generation must know is off), then
 * the architecture's own option where it has one (nn/arch.h: the gpt's "gelu", the mosaic's
 * "mosaic_variant"). */
#define LM_META_KEYS 12

int lm_ckpt_save(const char *path, const lm *m, const char *const *extra, int with_optim, err_t *e)
{
    const lm_config *c = &m->cfg;
    char num[8][32];
    const int ints[7] = {c->vocab, c->ctx, c->d, c->layers, c->heads, c->pmem, c->bias};
    for (int i = 0; i < 7; i++)
        snprintf(num[i], sizeof num[i], "%d", ints[i]);
    snprintf(num[7], sizeof num[7], "%.17g", c->dropout);
    const char *own[2 * LM_META_KEYS] = {
        "memlab_model", "lm", "arch", lm_arch_name(c->arch), "vocab", num[0], "ctx", num[1],
        "d", num[2], "layers", num[3], "heads", num[4], "pmem", num[5], "bias", num[6],
        "pos", lm_pos_name(c->pos), "dropout", num[7],
        m->ops->variant_key, m->ops->variant_key ? m->ops->variant_name(c) : NULL,
    };
    const int n_own = m->ops->variant_key ? LM_META_KEYS : LM_META_KEYS - 1;
    size_t n_extra = 0;
    while (extra && extra[2 * n_extra])
        n_extra++;
    const char **meta = xcalloc(2 * (n_own + n_extra) + 1, sizeof *meta);
    memcpy(meta, own, 2 * n_own * sizeof *meta);
    for (size_t i = 0; i < 2 * n_extra; i++)
        meta[2 * n_own + i] = extra[i];
    /* A store on the GPU is written from the host: moved there and back (values and moments). */
    param_store *ps = (param_store *)&m->ps;
    const device_kind dev = ps->device;
    params_move(ps, DEV_CPU);
    int rc = ckpt_save(path, ps, meta, with_optim, e);
    params_move(ps, dev);
    free(meta);
    return rc;
}

static int meta_int(const ckpt_meta *md, const char *path, const char *key, int *out, err_t *e)
{
    const char *v = ckpt_meta_get(md, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || end == v)
        return err_set(e, "%s: checkpoint metadata lacks an integer '%s'", path, key);
    *out = (int)x;
    return 0;
}

int lm_ckpt_config(const char *path, lm_config *c, err_t *e)
{
    ckpt_meta *md = ckpt_meta_read(path, e);
    if (!md)
        return -1;
    int rc = -1;
    const char *kind = ckpt_meta_get(md, "memlab_model"), *arch = ckpt_meta_get(md, "arch");
    const char *pos = ckpt_meta_get(md, "pos"), *drop = ckpt_meta_get(md, "dropout");
    memset(c, 0, sizeof *c);
    if (!kind || strcmp(kind, "lm") != 0) {
        err_set(e, "%s: not a memlab language-model checkpoint", path);
        goto out;
    }
    if (!arch || lm_arch_parse(arch, &c->arch) != 0 || !pos || lm_pos_parse(pos, &c->pos) != 0) {
        err_set(e, "%s: unknown architecture '%s' / positions '%s'", path, arch ? arch : "", pos ? pos : "");
        goto out;
    }
    if (meta_int(md, path, "vocab", &c->vocab, e) || meta_int(md, path, "ctx", &c->ctx, e) ||
        meta_int(md, path, "d", &c->d, e) || meta_int(md, path, "layers", &c->layers, e) ||
        meta_int(md, path, "heads", &c->heads, e) || meta_int(md, path, "pmem", &c->pmem, e) ||
        meta_int(md, path, "bias", &c->bias, e))
        goto out;
    c->dropout = drop ? strtod(drop, NULL) : 0;
    /* The architecture's own option; an absent key reads as what checkpoints held before it (a gpt
     * with the tanh GELU, the library mosaic). */
    const lm_arch_ops *ops = lm_arch_table(c->arch);
    const char *variant = ops->variant_key ? ckpt_meta_get(md, ops->variant_key) : NULL;
    if (ops->variant_key && ops->variant_parse(c, variant) != 0) {
        err_set(e, "%s: unknown %s '%s'", path, ops->variant_key, variant);
        goto out;
    }
    err_t e2;
    if (lm_config_resolve(c, &e2) != 0) {
        err_set(e, "%s: %s", path, e2.msg);
        goto out;
    }
    rc = 0;
out:
    ckpt_meta_free(md);
    return rc;
}

int lm_ckpt_open(const char *path, lm *m, int with_optim, err_t *e)
{
    lm_config c;
    if (lm_ckpt_config(path, &c, e) != 0)
        return -1;
    lm_build(m, &c);
    if (ckpt_load(path, &m->ps, with_optim, e) != 0) {
        lm_free(m);
        return -1;
    }
    return 0;
}

char *lm_ckpt_run_config(const char *path, err_t *e)
{
    e->msg[0] = '\0';
    ckpt_meta *md = ckpt_meta_read(path, e);
    if (!md)
        return NULL;
    const char *c = ckpt_meta_get(md, "config");
    char *out = c ? xstrdup(c) : NULL;
    ckpt_meta_free(md);
    return out;
}
