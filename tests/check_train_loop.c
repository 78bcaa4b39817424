/* The training loop (nn/train_loop.c) with a fake step function: when its hooks run (evaluation
 * and checkpoint cadence, the last step, --stop-at, Ctrl-C), a non-finite loss stopping the run with
 * its step number, a resumed start, and an open-ended run ended by `done`. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "nn/train_loop.h"
#include "test_util.h"

typedef struct {
    long long steps_run;
    long long nan_at;              /* the step (1-based) whose loss is NaN; 0: none */
    long long interrupt_at;        /* the step (1-based) during which SIGINT arrives; 0: none */
    long long evals[64], ckpts[64];
    int nevals, nckpts;
    long long done_after;          /* `done` ends the run once this many steps are done */
    int fail_ckpt;
} fake;

static double fake_step(void *ctx, long long step, long long *tokens)
{
    fake *f = ctx;
    f->steps_run++;
    *tokens += 10;
    if (step + 1 == f->interrupt_at)
        raise(SIGINT);
    return step + 1 == f->nan_at ? NAN : 1.0 / (double)(step + 1);
}

static int fake_eval(void *ctx, const train_state *st)
{
    fake *f = ctx;
    f->evals[f->nevals++] = st->step;
    return 0;
}

static int fake_ckpt(void *ctx, const train_state *st)
{
    fake *f = ctx;
    f->ckpts[f->nckpts++] = st->step;
    return f->fail_ckpt ? -1 : 0;
}

static int fake_done(void *ctx, const train_state *st) { return st->step >= ((fake *)ctx)->done_after; }

static train_loop loop_of(fake *f, long long first, long long end)
{
    return (train_loop){.label = "fake", .hint = "try a lower --lr", .quiet = 1, .first = first, .end = end, .ctx = f,
                        .step = fake_step, .eval_every = 4, .eval = fake_eval, .ckpt_every = 5, .ckpt = fake_ckpt};
}

static void expect_list(const long long *got, int n, const long long *want, int nwant)
{
    ck_assert_int_eq(n, nwant);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(got[i], want[i]);
}

START_TEST(test_cadence)
{
    fake f = {0};
    train_loop c = loop_of(&f, 0, 10);
    train_state st;
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, &st, &e), TRAIN_DONE);
    ck_assert_int_eq(f.steps_run, 10);
    ck_assert_int_eq(st.step, 10);
    ck_assert_int_eq(st.tokens, 100);
    ck_assert_rel(st.loss, 0.1, 1e-12);
    expect_list(f.evals, f.nevals, (long long[]){4, 8, 10}, 3);   /* every 4 and the last */
    expect_list(f.ckpts, f.nckpts, (long long[]){5, 10}, 2);
}
END_TEST

/* Resumed at step 6: steps 6..9 run, the cadence counts from step 0. */
START_TEST(test_resume)
{
    fake f = {0};
    train_loop c = loop_of(&f, 6, 10);
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, NULL, &e), TRAIN_DONE);
    ck_assert_int_eq(f.steps_run, 4);
    expect_list(f.evals, f.nevals, (long long[]){8, 10}, 2);
    expect_list(f.ckpts, f.nckpts, (long long[]){10}, 1);
    fake g = {0};
    c = loop_of(&g, 10, 10);   /* nothing left to do */
    ck_assert_int_eq(train_loop_run(&c, NULL, &e), TRAIN_DONE);
    ck_assert_int_eq(g.steps_run + g.nevals + g.nckpts, 0);
}
END_TEST

START_TEST(test_nan_stops)
{
    fake f = {.nan_at = 7};
    train_loop c = loop_of(&f, 0, 10);
    train_state st;
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, &st, &e), TRAIN_DIVERGED);
    ck_assert_str_eq(e.msg, "fake: the loss became nan at step 7 (try a lower --lr)");
    ck_assert_int_eq(f.steps_run, 7);
    ck_assert_int_eq(st.step, 6);   /* the last good step */
    expect_list(f.evals, f.nevals, (long long[]){4}, 1);   /* no hook for the diverged step */
    expect_list(f.ckpts, f.nckpts, (long long[]){5}, 1);
}
END_TEST

START_TEST(test_stop_at)
{
    fake f = {0};
    train_loop c = loop_of(&f, 0, 10);
    c.stop_at = 7;
    train_state st;
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, &st, &e), TRAIN_STOPPED);
    ck_assert_int_eq(st.step, 7);
    ck_assert_int_eq(f.steps_run, 7);
    expect_list(f.evals, f.nevals, (long long[]){4}, 1);
    expect_list(f.ckpts, f.nckpts, (long long[]){5, 7}, 2);   /* the stop writes the checkpoint */
}
END_TEST

START_TEST(test_interrupt)
{
    fake f = {.interrupt_at = 3};
    train_loop c = loop_of(&f, 0, 10);
    struct sigaction before;
    sigaction(SIGINT, NULL, &before);
    train_state st;
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, &st, &e), TRAIN_INTERRUPTED);
    ck_assert_int_eq(st.step, 3);   /* the step in flight finished */
    expect_list(f.ckpts, f.nckpts, (long long[]){3}, 1);
    /* the handler is gone afterwards: the loop restored the previous one */
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)before.sa_handler);
}
END_TEST

START_TEST(test_hook_fails)
{
    fake f = {.fail_ckpt = 1};
    train_loop c = loop_of(&f, 0, 10);
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, NULL, &e), TRAIN_FAILED);
    ck_assert_int_eq(f.steps_run, 5);
}
END_TEST

/* No last step: `done` ends the run; evaluation only by its cadence. */
START_TEST(test_open_ended)
{
    fake f = {.done_after = 9};
    train_loop c = loop_of(&f, 0, 0);
    c.done = fake_done;
    c.ckpt = NULL;
    train_state st;
    err_t e;
    ck_assert_int_eq(train_loop_run(&c, &st, &e), TRAIN_DONE);
    ck_assert_int_eq(st.step, 9);
    expect_list(f.evals, f.nevals, (long long[]){4, 8}, 2);
    fake g = {0};
    c = loop_of(&g, 0, 0);   /* no steps and no `done`: nothing runs */
    ck_assert_int_eq(train_loop_run(&c, NULL, &e), TRAIN_DONE);
    ck_assert_int_eq(g.steps_run + g.nevals + g.nckpts, 0);
}
END_TEST

Suite *suite_train_loop(void)
{
    Suite *s = suite_create("train_loop");
    TCase *tc = tcase_create("hooks");
    tcase_add_test(tc, test_cadence);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_nan_stops);
    tcase_add_test(tc, test_stop_at);
    tcase_add_test(tc, test_interrupt);
    tcase_add_test(tc, test_hook_fails);
    tcase_add_test(tc, test_open_ended);
    suite_add_tcase(s, tc);
    return s;
}
