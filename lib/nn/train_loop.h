/* The one training loop every command runs: a step function the caller writes (draw a batch, take
 * one optimiser step, return the loss) and hooks around it: evaluation every N steps, checkpoints
 * every N steps, --stop-at, Ctrl-C, a stop on a non-finite loss that names the step, the progress
 * line. The loop never touches tensor data (only the step function and the hooks do), so that it
 * serves any device.
 *
 * After step s (0-based; done = s + 1), in this order:
 *   - a non-finite loss ends the run (TRAIN_DIVERGED; no hook runs for that step);
 *   - the progress line;
 *   - eval, when done is a multiple of eval_every or the last step;
 *   - ckpt, when done is a multiple of ckpt_every, the last step, stop_at, or Ctrl-C came;
 *   - the run ends at stop_at (TRAIN_STOPPED), after Ctrl-C (TRAIN_INTERRUPTED), or when `done`
 *     says so (TRAIN_DONE). */
#ifndef MEMLAB_NN_TRAIN_LOOP_H
#define MEMLAB_NN_TRAIN_LOOP_H

#include "core/error.h"

typedef struct {
    long long step;     /* steps done (the last one taken is step - 1, 0-based) */
    double loss;        /* the last step's loss */
    long long tokens;   /* tokens the steps of this run processed */
} train_state;

typedef enum {
    TRAIN_DONE,         /* ran to the last step, or `done` ended it */
    TRAIN_STOPPED,      /* stop_at reached (checkpoint written) */
    TRAIN_INTERRUPTED,  /* Ctrl-C: the step in flight finished and the checkpoint was written */
    TRAIN_DIVERGED,     /* a non-finite loss: e names the step */
    TRAIN_FAILED,       /* a hook returned -1 (its message is the hook's to give) */
} train_end;

typedef struct {
    const char *label;   /* the progress line's label and the divergence message's prefix */
    const char *hint;    /* appended to the divergence message, e.g. "try a lower --lr"; NULL: none */
    int quiet;           /* no progress line */
    long long first;     /* the first step (0-based): 0, a resumed checkpoint's step, a stage's offset */
    long long end;       /* steps first .. end - 1; <= 0: none, or with `done` no last step */
    void *ctx;           /* passed to the step function and every hook */
    /* One step: returns its loss and adds the tokens it processed to *tokens. A non-finite loss must
     * leave the weights as they were (lm_train_step does), so that the checkpoint stays usable. */
    double (*step)(void *ctx, long long step, long long *tokens);
    long long eval_every;                              /* 0: only at the last step */
    int (*eval)(void *ctx, const train_state *st);     /* optional; 0 or -1 */
    long long ckpt_every;                              /* 0: only at the end, stop_at and Ctrl-C */
    int (*ckpt)(void *ctx, const train_state *st);     /* optional; given one, Ctrl-C is caught */
    long long stop_at;                                 /* > 0: checkpoint and stop after this step */
    int (*done)(void *ctx, const train_state *st);     /* optional; 1 ends the run after this step */
} train_loop;

/* Runs the loop; *st (may be NULL) gets the state after the last step taken. On TRAIN_DIVERGED e
 * gets "<label>: the loss became <loss> at step <n> (<hint>)". */
train_end train_loop_run(const train_loop *c, train_state *st, err_t *e);

#endif
