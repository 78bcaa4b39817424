#include "nn/train_loop.h"

#include <math.h>
#include <signal.h>
#include <stddef.h>

#include "core/dist.h"
#include "io/progress.h"

/* Ctrl-C while a checkpoint hook is set: the handler only records it; the loop finishes the step in
 * flight, writes the checkpoint and returns (a second Ctrl-C is recorded the same way). Without a
 * checkpoint hook SIGINT keeps the process-wide handler (io/atomic.h: remove temp files, exit). */
static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = sig; }

static int every(long long done, long long n) { return n > 0 && done % n == 0; }

/* The hooks after step `done`; returns the run's end, or -1 to go on. Data-parallel ranks
 * (core/dist.h) agree on Ctrl-C before the hooks and on the hooks' success after them, so that they
 * all take the same branch: a rank that stops alone would leave the others waiting in the next
 * step's collective. */
static int after_step(const train_loop *c, const train_state *st)
{
    const long long done = st->step;
    const int last = c->end > 0 && done == c->end, stop = c->stop_at > 0 && done == c->stop_at;
    const int intr = !dist_agree_ok(interrupted == 0);
    int ok = 1;
    if (c->eval && (every(done, c->eval_every) || last))
        ok = c->eval(c->ctx, st) == 0;
    if (ok && c->ckpt && (every(done, c->ckpt_every) || last || stop || intr))
        ok = c->ckpt(c->ctx, st) == 0;
    if (!dist_agree_ok(ok))
        return TRAIN_FAILED;
    if (stop)
        return TRAIN_STOPPED;
    if (intr)
        return TRAIN_INTERRUPTED;
    if (last || (c->done && c->done(c->ctx, st)))
        return TRAIN_DONE;
    return -1;
}

train_end train_loop_run(const train_loop *c, train_state *st_out, err_t *e)
{
    train_state st = {.step = c->first, .loss = NAN, .tokens = 0};
    progress prog;
    progress_start(&prog, c->label, c->end, c->quiet);
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    if (c->ckpt) {
        interrupted = 0;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
    }
    int end = (c->end > 0 ? c->first >= c->end : !c->done) ? TRAIN_DONE : -1;
    for (long long s = c->first; end < 0; s++) {
        st.loss = c->step(c->ctx, s, &st.tokens);
        if (!isfinite(st.loss)) {
            err_set(e, "%s: the loss became %g at step %lld%s%s%s", c->label ? c->label : "training", st.loss, s + 1,
                    c->hint ? " (" : "", c->hint ? c->hint : "", c->hint ? ")" : "");
            end = TRAIN_DIVERGED;
            break;
        }
        st.step = s + 1;
        progress_update(&prog, st.step, st.loss, st.tokens);
        end = after_step(c, &st);
    }
    if (c->ckpt)
        sigaction(SIGINT, &old, NULL);
    progress_end(&prog);
    if (st_out)
        *st_out = st;
    return (train_end)end;
}
