/* The model-shape options shared by every command that builds a language model (info, babistories,
 * regbench, ...): one struct, one macro for the option-table rows, one conversion to lm_config. */
#ifndef MEMLAB_EXPERIMENTS_LM_OPTS_H
#define MEMLAB_EXPERIMENTS_LM_OPTS_H

#include "core/device.h"
#include "io/args.h"
#include "nn/lm.h"

typedef struct {
    char *arch, *pos, *gelu, *mosaic_variant;
    long long layers, d, heads, pmem, ctx, bias;
    double dropout;
} lm_opts;

/* Rows for an opt_spec table; defaults as strings. `o` is an lm_opts lvalue. LM_SHAPE_ROWS: the
 * shape and the architectures' variants (--gelu, --mosaic-variant) alone (commands that pick the
 * architecture their own way); LM_OPTION_ROWS adds --arch (ARCH_CHOICES e.g. "gpt|mosaic",
 * ARCH_HELP its one-line help), --ctx, --bias and --pos. */
#define LM_SHAPE_ROWS(o, LAYERS, D, HEADS, DROPOUT)                                                               \
    {"layers", 0, OPT_INT, &(o).layers, LAYERS, "blocks", NULL, 1, 1000, "L"},                                    \
    {"d", 0, OPT_INT, &(o).d, D, "model width", NULL, 1, 65536, "D"},                                                   \
    {"heads", 0, OPT_INT, &(o).heads, HEADS, "attention / memory heads (must divide --d)", NULL, 1, 4096, "H"},        \
    {"pmem", 0, OPT_INT, &(o).pmem, "0", "mosaic: persistent-memory slots per head (0: 3.5 d)", NULL, 0, 1 << 24, "P"}, \
    {"dropout", 0, OPT_DOUBLE, &(o).dropout, DROPOUT, "residual dropout probability", NULL, 0, 0.99, "P"},         \
    {"gelu", 0, OPT_STRING, &(o).gelu, "erf", "gpt MLP activation: erf (exact GELU, nanoGPT's nn.GELU()) or tanh (GPT-2's approximation)", "erf|tanh", 0, -1, "G"}, \
    {"mosaic-variant", 0, OPT_STRING, &(o).mosaic_variant, "library", "mosaic: library (Memory Mosaics library) or nano (nanoMosaics: no logit scale, key scales capped at ln 65535, N(0, 0.02) init; docs/fidelity.md)", "library|nano", 0, -1, "V"}

#define LM_OPTION_ROWS(o, ARCH, ARCH_CHOICES, ARCH_HELP, LAYERS, D, HEADS, CTX, DROPOUT)                          \
    {"arch", 0, OPT_STRING, &(o).arch, ARCH, ARCH_HELP, ARCH_CHOICES, 0, -1, "A"},                                 \
    LM_SHAPE_ROWS(o, LAYERS, D, HEADS, DROPOUT),                                                                   \
    {"ctx", 0, OPT_INT, &(o).ctx, CTX, "context length in tokens (rows of gpt's learned position table)", NULL, 2, 1 << 20, "T"}, \
    {"bias", 0, OPT_BOOL, &(o).bias, "off", "biases in linear layers and LayerNorms", NULL, 0, -1, "on|off"},        \
    {"pos", 0, OPT_STRING, &(o).pos, "learned", "gpt positions: learned absolute table (inputs up to --ctx), none, rope (rotary) or alibi (linear biases)", "learned|none|rope|alibi", 0, -1, "P"}

/* --wd and --clip of every command that trains a language model; `o` is a struct lvalue with
 * double fields wd and clip. */
#define LM_DECAY_CLIP_ROWS(o)                                                                                     \
    {"wd", 0, OPT_DOUBLE, &(o).wd, "0.1", "weight decay (matrices only)", NULL, 0, 10, "WD"},                     \
    {"clip", 0, OPT_DOUBLE, &(o).clip, "1", "global gradient-norm clip (0: none)", NULL, 0, 1e9, "C"}

/* Where a command runs its language models (docs/gpu.md): --device cpu|cuda and, on the GPU,
 * --dtype fp32|bf16 (bf16 operands of the matrix products and attention, fp32 accumulation, fp32
 * weights and optimiser state). */
typedef struct {
    char *device, *dtype;
} device_opts;

#define DEVICE_OPTION_ROWS(o)                                                                                     \
    {"device", 0, OPT_STRING, &(o).device, "cpu", "where the language models train and run (cuda: a build with nvcc and a GPU; docs/gpu.md)", "cpu|cuda", 0, -1, "D"}, \
    {"dtype", 0, OPT_STRING, &(o).dtype, "fp32", "--device cuda: fp32 (the reference) or bf16 (bf16 operands, fp32 accumulation and weights)", "fp32|bf16", 0, -1, "T"}

/* Parses and opens the device before a command writes anything: 0; 2 for a bad option ("--dtype
 * bf16 needs --device cuda"); 1 when the device cannot be used ("--device cuda: this memlab was
 * built without CUDA", "... no usable GPU"); one line in e. Opening again is cheap (the CUDA
 * context opens once). Then lm_place (nn/lm.h) puts each model there. */
int device_opts_open(const device_opts *o, device_kind *dev, int *bf16, err_t *e);

/* A training schedule's options, by their names in the command (NULL: the command has none). */
typedef struct {
    const char *steps_name;   /* "--steps", "--iters", "--encoder-steps" */
    long long steps;
    const char *warmup_name;  /* "--warmup" */
    long long warmup;
    const char *stop_name;    /* "--stop-at" (0: not given) */
    long long stop_at;
    const char *lr_name, *lr_end_name;   /* "--lr", "--lr-end" */
    double lr, lr_end;
} schedule_opts;

/* The combinations that make no sense, as one line in e: a warm-up longer than the training, a stop
 * after its end, a final learning rate above the first. 0 or -1. */
int schedule_opts_check(const schedule_opts *s, err_t *e);

/* lm_config from the options and a vocabulary size; 0, or -1 with the message in e. */
int lm_opts_config(const lm_opts *o, int vocab, lm_config *c, err_t *e);

#endif
