/* Language-model checkpoints: the weights (and optionally AdamW moments) as safetensors, with the
 * architecture in __metadata__ so that a checkpoint alone rebuilds its model. */
#ifndef MEMLAB_NN_LM_CKPT_H
#define MEMLAB_NN_LM_CKPT_H

#include "io/ckpt.h"
#include "nn/lm.h"

/* extra: NULL-terminated key, value, ... pairs added to the metadata (the experiment's own: tokenizer,
 * step, ...), or NULL. */
int lm_ckpt_save(const char *path, const lm *m, const char *const *extra, int with_optim, err_t *e);
/* The architecture recorded in a checkpoint. -1 with "FILE: not a memlab language-model checkpoint"
 * or the missing key. */
int lm_ckpt_config(const char *path, lm_config *c, err_t *e);
/* The resolved configuration of the run that wrote a checkpoint (its "config" metadata: the text of
 * that run's config.yaml), malloc'd; NULL with e->msg empty when it carries none (written before
 * checkpoints did), NULL with e set when it cannot be read. */
char *lm_ckpt_run_config(const char *path, err_t *e);
/* Builds the checkpoint's model and loads its weights (and moments with with_optim). */
int lm_ckpt_open(const char *path, lm *m, int with_optim, err_t *e);

#endif
