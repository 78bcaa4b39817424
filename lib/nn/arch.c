/* The architecture registry (the one place that lists them) and the block stack every model uses. */
#include "nn/arch.h"

#include <stdlib.h>
#include <string.h>

extern const lm_arch_ops gpt_arch, mosaic_arch, lstm_arch;

/* In lm_arch order. */
static const lm_arch_ops *const registry[] = {&gpt_arch, &mosaic_arch, &lstm_arch};
static const int nregistry = sizeof registry / sizeof registry[0];

const lm_arch_ops *lm_arch_table(lm_arch a)
{
    if ((int)a < 0 || (int)a >= nregistry)
        fatal("internal: architecture %d is not registered", (int)a);
    return registry[a];
}

int lm_arch_count(void) { return nregistry; }

const char *lm_arch_name(lm_arch a) { return lm_arch_table(a)->name; }

int lm_arch_parse(const char *s, lm_arch *a)
{
    for (int i = 0; i < nregistry; i++)
        if (strcmp(s, registry[i]->name) == 0) {
            *a = (lm_arch)i;
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
    const lm_arch_ops *ops = lm_arch_table(c->arch);
    if (ops->resolve && ops->resolve(c, e) != 0)
        return -1;
    if (!(c->dropout >= 0 && c->dropout < 1))
        return err_set(e, "--dropout %g outside [0, 1)", c->dropout);
    return 0;
}

int lm_config_max_len(const lm_config *c)
{
    return lm_arch_table(c->arch)->takes_positions && c->pos == POS_LEARNED ? c->ctx : 0;
}

int lm_config_same_stack(const lm_config *a, const lm_config *b)
{
    return a->arch == b->arch && a->d == b->d && a->layers == b->layers;
}

int lm_config_same_variant(const lm_config *a, const lm_config *b)
{
    const lm_arch_ops *ops = lm_arch_table(a->arch);
    return a->arch == b->arch && (!ops->variant_key || strcmp(ops->variant_name(a), ops->variant_name(b)) == 0);
}

const char *lm_config_pos_name(const lm_config *c)
{
    return lm_arch_table(c->arch)->takes_positions ? lm_pos_name(c->pos) : "none";
}

void lm_stack_declare(lm_stack *s, param_store *ps, const lm_config *c)
{
    s->ops = lm_arch_table(c->arch);
    s->layers = c->layers;
    s->blocks = xcalloc((size_t)c->layers, s->ops->block_size);
    for (int l = 0; l < c->layers; l++)
        s->ops->declare((char *)s->blocks + (size_t)l * s->ops->block_size, ps, c, l);
}

const void *lm_stack_block(const lm_stack *s, int l) { return (const char *)s->blocks + (size_t)l * s->ops->block_size; }

void lm_stack_init(const lm_stack *s, param_store *ps, const lm_config *c, rng *r)
{
    for (int l = 0; l < s->layers; l++)
        s->ops->init(lm_stack_block(s, l), ps, c, r);
}

tensor *lm_stack_forward(const lm_stack *s, param_store *ps, const lm_config *c, tape *tp, tensor *x, rng *drop,
                         void *const *caches, int pos)
{
    for (int l = 0; l < s->layers; l++)
        x = s->ops->forward(lm_stack_block(s, l), ps, c, tp, x, drop, caches ? caches[l] : NULL, pos);
    return x;
}

void lm_stack_free(lm_stack *s)
{
    free(s->blocks);
    s->blocks = NULL;
    s->layers = 0;
}
