/* Training a neural model (gpt, mosaic, lstm) on RegBench sequences, and its predictions in the
 * evaluation's form: the next-token distribution at every input position of a sequence. */
#ifndef MEMLAB_EXPERIMENTS_REGBENCH_TRAIN_H
#define MEMLAB_EXPERIMENTS_REGBENCH_TRAIN_H

#include "data/pfa.h"
#include "nn/lm.h"

typedef struct {
    lm_config cfg;            /* vocab PFA_VOCAB, ctx PFA_MAX_TOKENS */
    long long epochs, batch;
    double lr, wd, clip;
    double warmup_frac;       /* share of the steps spent warming up (the paper: 10%) */
    double lr_min_frac;       /* cosine floor as a fraction of lr (the paper: 0.1) */
    long long seed;
    int quiet;
    device_kind device;       /* where the model trains and predicts (--device, --dtype) */
    int bf16;
} regbench_train_cfg;

typedef struct {
    lm m;
    tape tp;
    int *ids;
} regbench_model;

/* Builds, initialises and trains the model; 0, or -1 with e filled (a non-finite loss names the step). */
int regbench_train(regbench_model *rm, const regbench_train_cfg *c, const pfa_split *train, err_t *e);
/* The evaluation's predictor callback: probs[t * PFA_VOCAB + v] for t = 0 .. len-2. */
void regbench_predict(void *self, const uint8_t *tok, int len, double *probs);
void regbench_model_free(regbench_model *rm);

#endif
