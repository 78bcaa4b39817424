/* memlab xor: a two-layer network learns XOR through the core (parameters, tape, AdamW). The
 * smallest end-to-end run of everything the experiments stand on; `make demo` uses it as a check. */
#include <math.h>
#include <stdio.h>

#include "core/ops.h"
#include "core/optim.h"
#include "core/params.h"
#include "core/rng.h"
#include "commands.h"
#include "driver.h"
#include "lm_opts.h"
#include "io/ckpt.h"
#include "nn/loss_step.h"
#include "nn/mlp.h"
#include "nn/train_loop.h"

typedef struct {
    long long steps, hidden, log_every;
    double lr, lr_end;
} xor_opts;

static xor_opts opts;

static const opt_spec xor_options[] = {
    {"steps", 0, OPT_INT, &opts.steps, "2000", "training steps (full batch of the 4 XOR points)", NULL, 1, 1e9, "N"},
    {"hidden", 0, OPT_INT, &opts.hidden, "8", "hidden units (tanh)", NULL, 1, 4096, "N"},
    {"lr", 0, OPT_DOUBLE, &opts.lr, "0.05", "AdamW learning rate at the first step", NULL, 1e-9, 10, "LR"},
    {"lr-end", 0, OPT_DOUBLE, &opts.lr_end, "1e-4", "learning rate at the last step (linear decay)", NULL, 0, 10, "LR"},
    {"log-every", 0, OPT_INT, &opts.log_every, "100", "write a CSV row every N steps (and at the last)", NULL, 1, 1e9, "N"},
};

static const char *const smoke_kv[] = {"steps", "300", "log-every", "50", NULL};
static const preset_def xor_presets[] = {{"smoke", smoke_kv}, {"default", NULL}};

static const cmd_spec xor_spec = {
    .command = "xor",
    .summary = "train a 2-layer network on XOR: an end-to-end check of the numerical core",
    .usage = "memlab xor [options]",
    .description = "Trains in -> hidden (tanh) -> 1 with mean squared error and AdamW on the four XOR\n"
                   "points, the learning rate falling linearly from --lr to --lr-end.\n"
                   "Primary CSV: seed,hidden,step,loss. --out-dir gets the same table as xor.csv\n"
                   "(`make figures` draws it as xor.png), the trained weights (xor.safetensors) and\n"
                   "config.yaml.",
    .opts = xor_options,
    .nopts = sizeof xor_options / sizeof xor_options[0],
    .presets = xor_presets,
    .npresets = 2,
};

/* One training run: the network, its optimiser, the tape, and where the rows go. */
typedef struct {
    driver *d;
    param_store ps;
    mlp net;
    adamw_cfg adamw;
    schedule sched;
    tape tp;
} xor_run;

static double xor_step(void *ctx, long long step, long long *tokens)
{
    static const real xs[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    static const real ys[4] = {0, 1, 1, 0};
    xor_run *r = ctx;
    tensor *x = tape_input(&r->tp, 2, (int[]){4, 2}, xs);
    tensor *y = tape_input(&r->tp, 2, (int[]){4, 1}, ys);
    tensor *loss = op_mse(&r->tp, mlp_forward(&r->net, &r->ps, &r->tp, x), y, 0);
    *tokens += 4;
    return loss_step(&r->tp, loss, &r->ps, &r->adamw, schedule_lr(&r->sched, step), step + 1);
}

static int xor_row(void *ctx, const train_state *st)
{
    xor_run *r = ctx;
    csv_row(r->d->csv, cell_int(r->d->opt.seed), cell_int(opts.hidden), cell_int(st->step), cell_num(st->loss));
    return 0;
}

static int xor_save(xor_run *r)
{
    char path[4096], hidden[32];
    err_t e;
    snprintf(hidden, sizeof hidden, "%lld", opts.hidden);
    const char *meta[] = {"model", "mlp", "hidden", hidden, "task", "xor", NULL};
    if (ckpt_save(driver_out_path(r->d, "xor.safetensors", path, sizeof path), &r->ps, meta, 0, &e) != 0) {
        driver_error(r->d, "%s", e.msg);
        return -1;
    }
    return 0;
}

int cmd_xor(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &xor_spec, argc, argv, &code) != 0)
        return code;
    err_t e;
    const schedule_opts sch = {.steps_name = "--steps", .steps = opts.steps, .lr_name = "--lr", .lr = opts.lr,
                               .lr_end_name = "--lr-end", .lr_end = opts.lr_end};
    if (schedule_opts_check(&sch, &e) != 0)
        return driver_usage_error(&d, "%s", e.msg);
    static const char *const cols[] = {"seed", "hidden", "step", "loss"};
    static const table_spec primary = TABLE_SPEC("xor.csv", cols);   /* the copy `make figures` draws (xor.gp) */
    if (driver_open_csv(&d, &primary) != 0)
        return driver_end(&d, 0);

    xor_run r = {.d = &d,
                 .adamw = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0},
                 .sched = {.kind = SCHED_LINEAR, .lr = opts.lr, .lr_end = opts.lr_end, .total = opts.steps}};
    params_init(&r.ps);
    mlp_declare(&r.net, &r.ps, "xor", 2, (int)opts.hidden, 1);
    params_alloc(&r.ps);
    rng init = rng_stream((uint64_t)d.opt.seed, RNG_STREAM_INIT);
    mlp_init(&r.net, &r.ps, &init);
    tape_init(&r.tp);
    train_loop loop = {.label = "xor", .quiet = d.opt.quiet, .end = opts.steps, .ctx = &r, .step = xor_step,
                       .eval_every = opts.log_every, .eval = xor_row};
    int ok = train_loop_run(&loop, NULL, &e) == TRAIN_DONE;
    if (!ok)
        driver_error(&d, "%s", e.msg);
    ok = ok && xor_save(&r) == 0;
    tape_free(&r.tp);
    params_free(&r.ps);
    return driver_end(&d, ok);
}

const command xor_command = {&xor_spec, NULL, cmd_xor, 0};
