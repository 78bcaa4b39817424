/* Checkpoints in the safetensors format, readable by PyTorch and NumPy: an 8-byte little-endian
 * header length, a JSON header {"__metadata__": {...}, "name": {"dtype", "shape", "data_offsets"}}
 * padded with spaces to a multiple of 8, then the raw little-endian tensor data. */
#ifndef MEMLAB_IO_CKPT_H
#define MEMLAB_IO_CKPT_H

#include "core/error.h"
#include "core/params.h"

/* Writes every parameter (dtype F32, or F64 in the double build) in store order, atomically.
 * meta: NULL-terminated key, value, key, value, ... for __metadata__ (e.g. the architecture), or
 * NULL. with_optim adds the AdamW moments as optim.m.<name> and optim.v.<name>, for exact resume. */
int ckpt_save(const char *path, const param_store *ps, const char *const *meta, int with_optim, err_t *e);

/* Reads into an allocated store. Tensors may come in any order and as F32, F64, F16 or BF16. Every
 * parameter must be present with the store's shape (and, with_optim, its two moments); a tensor
 * that is no parameter is an error unless its name starts with "optim.". The file is checked
 * completely before the store is written, so a bad file leaves the store as it was. */
int ckpt_load(const char *path, param_store *ps, int with_optim, err_t *e);

/* One named tensor of any safetensors file (float dtypes converted to real) as a new heap tensor
 * (tensor_free it); a scalar comes back with shape [1]. For test fixtures and analysis tools. */
tensor *ckpt_read_tensor(const char *path, const char *name, err_t *e);

/* The __metadata__ of a checkpoint (empty when it has none). */
typedef struct {
    int n;
    char **keys;
    char **values;
} ckpt_meta;

ckpt_meta *ckpt_meta_read(const char *path, err_t *e);
/* The value for key, or NULL. */
const char *ckpt_meta_get(const ckpt_meta *m, const char *key);
void ckpt_meta_free(ckpt_meta *m);

#endif
