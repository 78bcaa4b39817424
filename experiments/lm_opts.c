#include "lm_opts.h"

#include <string.h>

int lm_opts_config(const lm_opts *o, int vocab, lm_config *c, err_t *e)
{
    *c = (lm_config){.vocab = vocab, .ctx = (int)o->ctx, .d = (int)o->d, .layers = (int)o->layers,
                     .heads = (int)o->heads, .pmem = (int)o->pmem, .bias = o->bias != 0,
                     .dropout = o->dropout};
    if (lm_arch_parse(o->arch, &c->arch) != 0)
        return err_set(e, "--arch '%s': expected gpt, mosaic or lstm", o->arch);
    if (lm_pos_parse(o->pos, &c->pos) != 0)
        return err_set(e, "--pos '%s': expected learned, none, rope or alibi", o->pos);
    if (lm_gelu_parse(o->gelu, &c->gelu) != 0)
        return err_set(e, "--gelu '%s': expected erf or tanh", o->gelu);
    if (lm_mosaic_variant_parse(o->mosaic_variant, &c->mosaic_variant) != 0)
        return err_set(e, "--mosaic-variant '%s': expected library or nano", o->mosaic_variant);
    return lm_config_resolve(c, e);
}

int device_opts_open(const device_opts *o, device_kind *dev, int *bf16, err_t *e)
{
    if (device_parse(o->device, dev, e) != 0)
        return 2;
    *bf16 = strcmp(o->dtype, "bf16") == 0;
    if (!*bf16 && strcmp(o->dtype, "fp32") != 0) {
        err_set(e, "--dtype '%s': expected fp32 or bf16", o->dtype);
        return 2;
    }
    if (*bf16 && *dev != DEV_CUDA) {
        err_set(e, "--dtype bf16 needs --device cuda (the CPU runs in fp32)");
        return 2;
    }
    return device_open(*dev, e) != 0 ? 1 : 0;
}

int schedule_opts_check(const schedule_opts *s, err_t *e)
{
    if (s->warmup_name && s->warmup > s->steps)
        return err_set(e, "%s %lld is longer than the training (%s %lld)", s->warmup_name, s->warmup, s->steps_name,
                       s->steps);
    if (s->stop_name && s->stop_at > s->steps)
        return err_set(e, "%s %lld is after the last step (%s %lld)", s->stop_name, s->stop_at, s->steps_name,
                       s->steps);
    if (s->lr_end_name && s->lr_end > s->lr)
        return err_set(e, "%s %g is above %s %g (the schedule only decays)", s->lr_end_name, s->lr_end, s->lr_name,
                       s->lr);
    return 0;
}
