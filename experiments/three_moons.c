/* memlab three-moons: the Memory Mosaics toy (Figs 3-6). A one-layer network of contextual memory
 * units learns to predict three moons circling a planet; with three heads it disentangles the
 * moons and predicts well once the context holds one period of the slowest moon, long before the
 * whole system repeats; with one head it must wait for the system period (the LCM). */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dist.h"
#include "core/ops.h"
#include "core/optim.h"
#include "core/pool.h"
#include "data/moons.h"
#include "commands.h"
#include "driver.h"
#include "lm_opts.h"
#include "io/ckpt.h"
#include "io/progress.h"
#include "io/spawn.h"
#include "nn/ctxmem.h"
#include "nn/loss_step.h"
#include "nn/train_loop.h"

/* --train-rollout: rollouts per sequence and iteration, their context lengths one in each of this
 * many equal slices of the sequence (every band of context length, every iteration). */
#define THREE_MOONS_ROLLOUT_STARTS 4
#define THREE_MOONS_ROLLOUT_STARTS_TEXT "4"

typedef struct {
    long long heads, iters, batch, eval_seqs, ctx_step, seeds, seq_len, rollout, train_rollout;
    double beta, lr, lr_end, clip, threshold, ideal, start_ideal;
    char *param, *eval_triple;
    int no_clip, list_periods, bias_correction;
} three_moons_opts;

static three_moons_opts opts;

static const opt_spec three_moons_options[] = {
    {"heads", 0, OPT_INT, &opts.heads, "3", "contextual memory units: 3 (1-dim complex heads) or 1 (one 3-dim complex head)", NULL, 1, 3, "N"},
    {"beta", 0, OPT_DOUBLE, &opts.beta, "50", "attention sharpness: logits are beta * k_t . k_u", NULL, 1e-6, 1e6, "B"},
    {"param", 0, OPT_STRING, &opts.param, "complex", "W_phi, W_psi, W_z as 3x3 complex (18 parameters) or 6x6 real (36)", "complex|real", 0, -1, "P"},
    {"iters", 0, OPT_INT, &opts.iters, "500", "training iterations", NULL, 1, 1e8, "N"},
    {"batch", 0, OPT_INT, &opts.batch, "64", "sequences per iteration (each from a random training triple)", NULL, 1, 1e6, "N"},
    {"lr", 0, OPT_DOUBLE, &opts.lr, "1e-2", "AdamW learning rate at the first iteration", NULL, 1e-12, 10, "LR"},
    {"lr-end", 0, OPT_DOUBLE, &opts.lr_end, "5e-6", "learning rate at the last iteration (linear schedule)", NULL, 0, 10, "LR"},
    {"clip", 0, OPT_DOUBLE, &opts.clip, "0.5", "errors are clipped to +-clip in the loss (no gradient beyond)", NULL, 1e-9, 1e9, "C"},
    {"no-clip", 0, OPT_FLAG, &opts.no_clip, NULL, "plain mean squared error (the paper's ablation)", NULL, 0, -1, NULL},
    {"bias-correction", 0, OPT_FLAG, &opts.bias_correction, NULL, "Adam's 1/(1-beta^t) moment corrections (the paper's code trains with MLX's AdamW, which has none: its steps are 1.6-6.6 times larger over 500 iterations)", NULL, 0, -1, NULL},
    {"train-rollout", 0, OPT_INT, &opts.train_rollout, "0", "train also through K-step free rollouts: per iteration " THREE_MOONS_ROLLOUT_STARTS_TEXT " rollouts of every sequence, from context lengths spread over it, their clipped loss summed over the K predicted steps, back-propagated through them and added to the paper's one-step loss; 0: the paper's loss alone", NULL, 0, 10000, "K"},
    {"seq-len", 0, OPT_INT, &opts.seq_len, "800", "observations per training sequence", NULL, 64, 100000, "T"},
    {"eval-triple", 0, OPT_STRING, &opts.eval_triple, "0.5/1/2.5", "the training triple to evaluate (as --list-periods names it)", NULL, 0, -1, "P1/P2/P3"},
    {"eval-seqs", 0, OPT_INT, &opts.eval_seqs, "512", "evaluation sequences per triple", NULL, 1, 1e6, "N"},
    {"rollout", 0, OPT_INT, &opts.rollout, "25", "autoregressive prediction steps per context length", NULL, 1, 10000, "N"},
    {"ctx-step", 0, OPT_INT, &opts.ctx_step, "1", "evaluate every N-th context length", NULL, 1, 100000, "N"},
    {"seeds", 0, OPT_INT, &opts.seeds, "1", "train and evaluate K seeds (--seed, --seed + 1, ...); reports how many disentangle", NULL, 1, 10000, "K"},
    {"threshold", 0, OPT_DOUBLE, &opts.threshold, "0.2", "a seed has converged when its validation rollout error between max(p) and lcm(p) is below this (disentangled seeds reach 0.09-0.11, others 0.25-0.30)", NULL, 0, 1e9, "E"},
    {"ideal", 0, OPT_DOUBLE, &opts.ideal, "0", "skip training and evaluate the hand-built ideal memory instead: W_phi = G I, W_psi = W_z = I (each head keys on its own moons and returns what followed the match); 0 trains as usual", NULL, 0, 1e3, "G"},
    {"start-ideal", 0, OPT_DOUBLE, &opts.start_ideal, "0", "train from the hand-built ideal memory with key gain G instead of the random initialisation (does training keep it?); 0: random", NULL, 0, 1e3, "G"},
    {"list-periods", 0, OPT_FLAG, &opts.list_periods, NULL, "print the 35 period triples, their LCM, max period and split, as CSV, and exit", NULL, 0, -1, NULL},
};

static const char *const smoke_kv[] = {"iters", "30", "batch", "8", "seq-len", "200", "eval-seqs", "8", "ctx-step", "10", NULL};
static const char *const paper_kv[] = {NULL};
static const preset_def three_moons_presets[] = {{"smoke", smoke_kv}, {"default", NULL}, {"paper", paper_kv}};

/* --list-periods prints a table and writes no run folder. */
static int three_moons_out_dir_use(const common_opts *c)
{
    (void)c;
    return opts.list_periods ? OUT_DIR_NONE : OUT_DIR_NEW;
}

static const cmd_spec three_moons_spec = {
    .command = "three-moons",
    .summary = "prediction disentanglement on three moons (Memory Mosaics Figs 3-6)",
    .usage = "memlab three-moons [options]",
    .description =
        "Trains one layer of contextual memory units (keys W_phi x_t, values W_psi x_{t+1}, strict mask,\n"
        "beta-sharp attention, output W_z) on the three-moons data and measures the error of 25-step\n"
        "autoregressive predictions against context length, on a training triple and on the held-out\n"
        "validation triple. Primary CSV (one row per context length):\n"
        "  heads,seed,split,periods,context_len,mad,max_period_steps,lcm_steps,param,clip,mad_step1\n"
        "(mad: over the whole rollout; mad_step1: the first predicted step alone).\n"
        "--out-dir gets summary.csv (errors before max(p), between max(p) and lcm(p), after lcm(p), and\n"
        "the diagonal-mass disentanglement score), weights.csv, train_loss.csv, the checkpoint\n"
        "three_moons_seedN.safetensors, curves.csv (a copy of the primary table), landmarks.csv (the\n"
        "periods and LCM in steps), rollout.csv (the error of each rollout step, by band of context\n"
        "length) and the figures three_moons.png and three_moons_rollout.png (experiments/plots/).\n"
        "summary.csv also gives train_objective, the clipped training loss of the final weights on a\n"
        "fixed batch of training sequences; weights.csv also gives the product W_z W_psi.\n"
        "--ideal G evaluates the hand-built ideal memory (no training) under the same measures.",
    .opts = three_moons_options,
    .nopts = sizeof three_moons_options / sizeof three_moons_options[0],
    .presets = three_moons_presets,
    .npresets = 3,
    .out_dir_use = three_moons_out_dir_use,
};

/* ---- the disentanglement score ----------------------------------------------------------------- */

/* Magnitude of the 2x2 block (i, j) of a real matrix with `cols` columns: |z| for a complex-structured
 * block [[a, -b], [b, a]], the same norm (Frobenius / sqrt 2) for any other. */
static double block_abs(const real *W, int cols, int i, int j)
{
    double s = 0;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) {
            double w = W[(size_t)(2 * i + r) * cols + 2 * j + c];
            s += w * w;
        }
    return sqrt(s / 2);
}

/* The complex entry a + ib of block (i, i), as write_weights projects it: its argument. */
static double block_phase(const real *W, int cols, int i)
{
    const real *p = W + (size_t)(2 * i) * cols + 2 * i;
    return atan2((p[cols] - p[1]) / 2, (p[0] + p[cols + 1]) / 2);
}

typedef struct {
    double phi, psi, z, mean;
} diag_score;

/* The fraction of |W| mass on the diagonal after the best permutation sigma of the three complex
 * head dimensions (head h reads moon sigma(h), and W_z writes head h to moon sigma(h)). */
static diag_score disentanglement(const real *wphi, const real *wpsi, const real *wz)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    double tphi = 0, tpsi = 0, tz = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            tphi += block_abs(wphi, 6, i, j);
            tpsi += block_abs(wpsi, 6, i, j);
            tz += block_abs(wz, 6, i, j);
        }
    diag_score best = {0};
    for (int p = 0; p < 6; p++) {
        diag_score s = {0};
        for (int h = 0; h < 3; h++) {
            s.phi += block_abs(wphi, 6, h, perms[p][h]) / tphi;
            s.psi += block_abs(wpsi, 6, h, perms[p][h]) / tpsi;
            s.z += block_abs(wz, 6, perms[p][h], h) / tz;
        }
        s.mean = (s.phi + s.psi + s.z) / 3;
        if (s.mean > best.mean)
            best = s;
    }
    return best;
}

/* ---- training and evaluation ------------------------------------------------------------------- */

typedef struct {
    driver *d;
    const moons *data;
    ctxmem net;
    param_store ps;
    long long seed;
    csv_writer *loss_csv;
} run;

/* The clip of the loss: 0 (none) under --no-clip. */
static real loss_clip(void) { return opts.no_clip ? 0 : (real)opts.clip; }

/* Draws one sequence of triple t into obs (T + 1 observations) and puts its inputs x_1..x_T and
 * targets x_2..x_{T+1} in row b of x and y ([B, T, MOONS_DIM] each). */
static void draw_pair(const moons *m, const moon_triple *t, rng *g, real *obs, real *x, real *y, int b, int T)
{
    moons_sequence(m, t, g, obs);
    memcpy(x + (size_t)b * T * MOONS_DIM, obs, (size_t)T * MOONS_DIM * sizeof(real));
    memcpy(y + (size_t)b * T * MOONS_DIM, obs + MOONS_DIM, (size_t)T * MOONS_DIM * sizeof(real));
}

/* The --train-rollout term: THREE_MOONS_ROLLOUT_STARTS rollouts of K steps through obs[B, T + 1, dim], from
 * context lengths c drawn one in each slice of [2, T + 1 - K] (shared by the batch), each the clipped
 * loss summed over its K steps (K times the mean over steps); their mean. target: B * K * dim reals
 * of scratch. */
static tensor *rollout_loss(run *r, tape *tp, const real *obs, int B, int T, rng *g, real *target)
{
    const int K = (int)opts.train_rollout, D = MOONS_DIM, lo = 2, span = T + 1 - K - lo + 1;
    tensor *x = tape_input(tp, 3, (int[]){B, T + 1, D}, obs), *loss = NULL;
    for (int s = 0; s < THREE_MOONS_ROLLOUT_STARTS; s++) {
        int c = lo + (int)((s * (double)span + (double)rng_below(g, (uint64_t)span)) / THREE_MOONS_ROLLOUT_STARTS);
        for (int b = 0; b < B; b++)
            memcpy(target + (size_t)b * K * D, obs + ((size_t)b * (T + 1) + c) * D, (size_t)K * D * sizeof(real));
        tensor *pred = ctxmem_rollout_tape(&r->net, &r->ps, tp, x, c, K);
        tensor *l = op_scale(tp, op_mse(tp, pred, tape_input(tp, 3, (int[]){B, K, D}, target), loss_clip()), (real)K);
        loss = loss ? op_add(tp, loss, l) : l;
    }
    return op_scale(tp, loss, (real)(1.0 / THREE_MOONS_ROLLOUT_STARTS));
}

/* One seed's training: the batch buffers, the data stream and the optimiser its steps share. */
typedef struct {
    run *r;
    int B, T;
    real *obs, *x, *y;
    real *whole, *target;   /* --train-rollout: every sequence whole (T + 1 observations), targets */
    rng data;
    adamw_cfg adamw;
    schedule sched;
    tape tp;
} three_moons_train;

static double three_moons_step(void *ctx, long long it, long long *tokens)
{
    three_moons_train *t = ctx;
    run *r = t->r;
    const int B = t->B, T = t->T;
    for (int b = 0; b < B; b++) {
        draw_pair(r->data, moons_kept(r->data, (int)rng_below(&t->data, MOONS_KEPT - 1)), &t->data, t->obs, t->x, t->y,
                  b, T);
        if (t->whole)
            memcpy(t->whole + (size_t)b * (T + 1) * MOONS_DIM, t->obs, (size_t)(T + 1) * MOONS_DIM * sizeof(real));
    }
    /* Data-parallel ranks (core/dist.h) draw the whole batch, as the stream goes on from it, and
     * each trains on its own rows: equal shares, so the mean of their losses is the batch's. */
    int first;
    const int rows = dist_rows(B, &first);
    const size_t at = (size_t)first * T * MOONS_DIM;
    const int shape[3] = {rows, T, MOONS_DIM};
    tensor *xt = tape_input(&t->tp, 3, shape, t->x + at), *yt = tape_input(&t->tp, 3, shape, t->y + at);
    tensor *loss = op_mse(&t->tp, ctxmem_forward(&r->net, &r->ps, &t->tp, xt), yt, loss_clip());
    /* --train-rollout adds the rollouts' loss to the paper's: alone, from the random start, it does
     * not train (at K = 25 nearly every late step's error is past the clip, which passes no
     * gradient; measured flat at 4.4-5.5 over 200 iterations) */
    if (t->whole)
        loss = op_add(&t->tp, loss, rollout_loss(r, &t->tp, t->whole + (size_t)first * (T + 1) * MOONS_DIM, rows, T,
                                                 &t->data, t->target));
    *tokens += (long long)B * T;
    return loss_step(&t->tp, loss, &r->ps, &t->adamw, schedule_lr(&t->sched, it), it + 1);
}

/* train_loss.csv: every iteration's learning rate and loss. */
static int three_moons_loss_row(void *ctx, const train_state *st)
{
    three_moons_train *t = ctx;
    csv_row(t->r->loss_csv, cell_int(opts.heads), cell_int(t->r->seed), cell_str(opts.param), cell_num(loss_clip()),
            cell_int(st->step), cell_num(schedule_lr(&t->sched, st->step - 1)), cell_num(st->loss));
    return 0;
}

static int train(run *r)
{
    three_moons_train t = {.r = r, .B = (int)opts.batch, .T = (int)opts.seq_len,
                           .data = rng_stream((uint64_t)r->seed, RNG_STREAM_DATA),
                           .adamw = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0,
                                     .no_bias_correction = !opts.bias_correction},
                           .sched = {.kind = SCHED_LINEAR, .lr = opts.lr, .lr_end = opts.lr_end, .total = opts.iters}};
    t.obs = xmalloc((size_t)(t.T + 1) * MOONS_DIM * sizeof(real));
    t.x = xmalloc((size_t)t.B * t.T * MOONS_DIM * sizeof(real));
    t.y = xmalloc((size_t)t.B * t.T * MOONS_DIM * sizeof(real));
    if (opts.train_rollout) {
        t.whole = xmalloc((size_t)t.B * (t.T + 1) * MOONS_DIM * sizeof(real));
        t.target = xmalloc((size_t)t.B * opts.train_rollout * MOONS_DIM * sizeof(real));
    }
    tape_init(&t.tp);
    char label[64];
    snprintf(label, sizeof label, "three-moons seed %lld", r->seed);
    train_loop loop = {.label = label, .quiet = r->d->opt.quiet, .end = opts.iters, .ctx = &t, .step = three_moons_step,
                       .eval_every = 1, .eval = three_moons_loss_row};
    err_t e;
    const int ok = train_loop_run(&loop, NULL, &e) == TRAIN_DONE;
    if (!ok)
        driver_error(r->d, "%s", e.msg);
    tape_free(&t.tp);
    free(t.obs);
    free(t.x);
    free(t.y);
    free(t.whole);
    free(t.target);
    return ok ? 0 : -1;
}

/* The three real matrices of the trained network, copied out (36 reals each). */
static void real_matrices(run *r, real *wphi, real *wpsi, real *wz)
{
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    tensor *a, *b, *c;
    ctxmem_matrices(&r->net, &r->ps, &tp, &a, &b, &c);
    memcpy(wphi, a->data, a->n * sizeof(real));
    memcpy(wpsi, b->data, b->n * sizeof(real));
    memcpy(wz, c->data, c->n * sizeof(real));
    tape_free(&tp);
}

typedef struct {
    double before, between, after;
} window_means;

enum { BAND_BEFORE_MAX, BAND_BETWEEN, BAND_AFTER_LCM, NBANDS };
static const char *const band_names[NBANDS] = {"before_max", "between", "after_lcm"};

/* The band of a context length: up to max(p), up to lcm(p), beyond. */
static int band_of(double T, double maxp, double lcm) { return T <= maxp ? BAND_BEFORE_MAX : T <= lcm ? BAND_BETWEEN : BAND_AFTER_LCM; }

static window_means windows(const double *mad, int nctx, double maxp, double lcm)
{
    double sum[NBANDS] = {0}, n[NBANDS] = {0};
    for (int i = 0; i < nctx; i++) {
        int w = band_of(1 + i * (double)opts.ctx_step, maxp, lcm);
        sum[w] += mad[i];
        n[w]++;
    }
    window_means m = {n[0] ? sum[0] / n[0] : NAN, n[1] ? sum[1] / n[1] : NAN, n[2] ? sum[2] / n[2] : NAN};
    return m;
}

/* Mean absolute deviation of `rollout`-step predictions for every evaluated context length:
 * mad[i] for context length 1 + i * ctx_step, and mad1[i] of the first predicted step alone (pure
 * memory retrieval, before errors compound along the rollout); by_step[band * rollout + j], the error
 * of the (j+1)-th predicted step averaged over the context lengths of a band (NAN for an empty band):
 * how the error grows along the rollout. Sequences are independent (one per OpenMP iteration); the
 * per-sequence errors are summed in sequence order, so the result does not depend on the thread
 * count. */
/* evaluate()'s sequences [lo, hi) on the pool (core/pool.h): every sequence writes its own rows of
 * the error tables; work and pred hold one buffer per pool participant. */
typedef struct {
    run *r;
    const real *wphi, *wpsi, *wz, *seqs;
    double *err, *err1, *err_step;
    int nctx, L, steps;
    double maxp, lcm;
    size_t work_len;
    real *work, *pred;
    progress *prog;        /* drawn by the calling thread alone (participant 0) */
    _Atomic long long *done;
} eval_args;

static void evaluate_seqs(void *arg, size_t lo, size_t hi)
{
    const eval_args *a = arg;
    run *r = a->r;
    const real *wphi = a->wphi, *wpsi = a->wpsi, *wz = a->wz, *seqs = a->seqs;
    double *err = a->err, *err1 = a->err1, *err_step = a->err_step;
    const int nctx = a->nctx, L = a->L, steps = a->steps;
    const double maxp = a->maxp, lcm = a->lcm;
    real *work = a->work + (size_t)pool_participant() * a->work_len;
    real *pred = a->pred + (size_t)pool_participant() * steps * MOONS_DIM;
    for (int s = (int)lo; s < (int)hi; s++) {
        const real *x = seqs + (size_t)s * L * MOONS_DIM;
        for (int i = 0; i < nctx; i++) {
            int T = 1 + i * (int)opts.ctx_step;
            double *es = err_step + ((size_t)s * NBANDS + band_of(T, maxp, lcm)) * steps;
            ctxmem_rollout(&r->net, wphi, wpsi, wz, x, T, steps, pred, work);
            double e = 0;
            for (int j = 0; j < steps; j++) {
                double ej = 0;
                for (int c = 0; c < MOONS_DIM; c++)
                    ej += fabs((double)pred[j * MOONS_DIM + c] - x[(size_t)(T + j) * MOONS_DIM + c]);
                es[j] += ej / MOONS_DIM;
                e += ej;
                if (j == 0)
                    err1[(size_t)s * nctx + i] = ej / MOONS_DIM;
            }
            err[(size_t)s * nctx + i] = e / (steps * MOONS_DIM);
        }
        const long long done = atomic_fetch_add(a->done, 1) + 1;
        if (pool_participant() == 0)
            progress_update(a->prog, done, 0, 0);
    }
}

static void evaluate(run *r, const moon_triple *t, const real *wphi, const real *wpsi, const real *wz,
                     int nctx, double *mad, double *mad1, double *by_step)
{
    const int S = (int)opts.eval_seqs, L = (int)opts.seq_len + 1, steps = (int)opts.rollout;
    const double maxp = moons_max_period_steps(r->data, t), lcm = moons_lcm_steps(r->data, t);
    real *seqs = xmalloc((size_t)S * L * MOONS_DIM * sizeof(real));
    rng ev = rng_stream((uint64_t)r->seed, RNG_STREAM_EVAL);
    for (int s = 0; s < S; s++)
        moons_sequence(r->data, t, &ev, seqs + (size_t)s * L * MOONS_DIM);
    double *err = xcalloc((size_t)S * nctx, sizeof *err), *err1 = xcalloc((size_t)S * nctx, sizeof *err1);
    double *err_step = xcalloc((size_t)S * NBANDS * steps, sizeof *err_step);
    char name[64], label[128];
    moons_triple_name(t, name, sizeof name);
    snprintf(label, sizeof label, "three-moons: seed %lld: evaluating %s", (long long)r->seed, name);
    progress prog;
    progress_start_items(&prog, label, "sequence", S, r->d->opt.quiet);
    _Atomic long long done = 0;
    eval_args ea = {r, wphi, wpsi, wz, seqs, err, err1, err_step, nctx, L, steps, maxp, lcm,
                    ctxmem_rollout_work(&r->net, L), NULL, NULL, &prog, &done};
    ea.work = xmalloc((size_t)pool_size() * ea.work_len * sizeof(real));
    ea.pred = xmalloc((size_t)pool_size() * steps * MOONS_DIM * sizeof(real));
    pool_for((size_t)S, 1, evaluate_seqs, &ea);
    free(ea.work);
    free(ea.pred);
    progress_end(&prog);
    for (int i = 0; i < nctx; i++) {
        double sum = 0, sum1 = 0;
        for (int s = 0; s < S; s++) {
            sum += err[(size_t)s * nctx + i];
            sum1 += err1[(size_t)s * nctx + i];
        }
        mad[i] = sum / S;
        mad1[i] = sum1 / S;
    }
    int in_band[NBANDS] = {0};
    for (int i = 0; i < nctx; i++)
        in_band[band_of(1 + i * (double)opts.ctx_step, maxp, lcm)]++;
    for (int w = 0; w < NBANDS; w++)
        for (int j = 0; j < steps; j++) {
            double sum = 0;
            for (int s = 0; s < S; s++)
                sum += err_step[((size_t)s * NBANDS + w) * steps + j];
            by_step[w * steps + j] = in_band[w] ? sum / ((double)S * in_band[w]) : NAN;
        }
    free(err);
    free(err1);
    free(err_step);
    free(seqs);
}

/* The training objective (the clipped loss the network is trained on) of the current weights, on a
 * fixed batch of 8 sequences of each training triple: so that a trained network and the hand-built
 * ideal one (--ideal) can be compared on what training optimises, not only on rollouts. */
static double train_objective(run *r)
{
    enum { PER_TRIPLE = 8, THREE_MOONS_STREAM_OBJECTIVE = RNG_STREAM_USER };
    const int B = PER_TRIPLE * (MOONS_KEPT - 1), T = (int)opts.seq_len;
    real *obs = xmalloc((size_t)(T + 1) * MOONS_DIM * sizeof(real));
    real *x = xmalloc((size_t)B * T * MOONS_DIM * sizeof(real)), *y = xmalloc((size_t)B * T * MOONS_DIM * sizeof(real));
    rng g = rng_stream((uint64_t)r->seed, THREE_MOONS_STREAM_OBJECTIVE);
    for (int b = 0; b < B; b++)
        draw_pair(r->data, moons_kept(r->data, b / PER_TRIPLE), &g, obs, x, y, b, T);
    tape tp;
    tape_init(&tp);
    tp.grad_enabled = 0;
    const int shape[3] = {B, T, MOONS_DIM};
    tensor *xt = tape_input(&tp, 3, shape, x), *yt = tape_input(&tp, 3, shape, y);
    double l = op_mse(&tp, ctxmem_forward(&r->net, &r->ps, &tp, xt), yt, loss_clip())->data[0];
    tape_free(&tp);
    free(obs);
    free(x);
    free(y);
    return l;
}

/* The hand-built ideal memory: W_phi = G I, W_psi = W_z = I. Every head (1 or 3) keys on its own
 * moons' positions and returns the next observation exactly; the larger G, the sharper its reads.
 * What a perfect memory of this architecture achieves under the same rollout evaluation. */
static void set_ideal(run *r, double gain)
{
    const int mats[3] = {r->net.wphi, r->net.wpsi, r->net.wz};
    for (int m = 0; m < 3; m++) {
        tensor *t = params_tensor(&r->ps, mats[m]);
        memset(t->data, 0, t->n * sizeof(real));
        /* complex [2, 3, 3] (real parts first) or real [6, 6]: the diagonal of the first block */
        const int n = r->net.complex_param ? 3 : 6;
        for (int i = 0; i < n; i++)
            t->data[(size_t)i * n + i] = (real)(m == 0 ? gain : 1);
    }
}

/* ---- the plan: every check before any output ----------------------------------------------------- */

typedef struct {
    moons data;
    int splits[2];   /* the evaluated triples among the kept ones: --eval-triple's, then the validation one */
    int nctx;        /* context lengths evaluated: 1, 1 + ctx_step, ..., up to seq_len - rollout - 1 */
} three_moons_plan;

/* The options that make no sense alone or together; 0, or -1 with the usage error in e. */
static int plan_make(const common_opts *c, three_moons_plan *pl, err_t *e)
{
    if (opts.heads != 1 && opts.heads != 3)
        return err_set(e, "--heads must be 1 or 3 (the three moons are 3 complex numbers), got %lld", opts.heads);
    if (opts.ideal > 0 && opts.start_ideal > 0)
        return err_set(e, "--ideal evaluates the ideal memory without training; --start-ideal trains from it: give one");
    if (opts.ideal > 0 && opts.train_rollout > 0)
        return err_set(e, "--ideal evaluates the ideal memory without training; --train-rollout trains: give one");
    if (opts.train_rollout > opts.seq_len - 1)
        return err_set(e, "--train-rollout %lld: rollouts need at least 2 observations of context within --seq-len %lld",
                       opts.train_rollout, opts.seq_len);
    const int eval_idx = moons_find(&pl->data, opts.eval_triple);
    if (eval_idx < 0 || moons_is_validation(eval_idx))
        return err_set(e, "--eval-triple '%s' is not a training triple (see --list-periods)", opts.eval_triple);
    const int max_ctx = (int)opts.seq_len - (int)opts.rollout - 1;
    if (max_ctx < 1)
        return err_set(e, "--rollout %lld leaves no context in sequences of %lld", opts.rollout, opts.seq_len);
    if (opts.ctx_step > max_ctx)
        return err_set(e, "--ctx-step %lld is larger than the longest context evaluated, %d (--seq-len - --rollout - 1)",
                       opts.ctx_step, max_ctx);
    if (opts.no_clip && args_given(&three_moons_spec, c, "clip"))
        return err_set(e, "--no-clip trains on the plain squared error; --clip %g sets the clip it drops: give one",
                       opts.clip);
    const schedule_opts sch = {.steps_name = "--iters", .steps = opts.iters, .lr_name = "--lr", .lr = opts.lr,
                               .lr_end_name = "--lr-end", .lr_end = opts.lr_end};
    if (schedule_opts_check(&sch, e) != 0)
        return -1;
    pl->splits[0] = eval_idx;
    pl->splits[1] = MOONS_KEPT - 1;
    pl->nctx = (max_ctx - 1) / (int)opts.ctx_step + 1;
    return 0;
}

/* ---- the tables ----------------------------------------------------------------------------------- */

static const char *const curve_columns[] = {"heads", "seed", "split", "periods", "context_len", "mad",
                                            "max_period_steps", "lcm_steps", "param", "clip", "mad_step1"};
static const char *const summary_columns[] = {
    "heads", "seed", "param", "clip", "split", "periods", "max_period_steps", "lcm_steps", "mad_before_max",
    "mad_between", "mad_after_lcm", "step1_before_max", "step1_between", "step1_after_lcm", "diag_phi", "diag_psi",
    "diag_z", "diag", "converged", "train_objective"};
static const char *const weight_columns[] = {"seed", "matrix", "row", "col", "re", "im", "abs"};
static const char *const loss_columns[] = {"heads", "seed", "param", "clip", "iter", "lr", "loss"};
static const char *const landmark_columns[] = {"split", "periods", "landmark", "steps"};
static const char *const rollout_columns[] = {"heads", "seed", "split", "periods", "band", "step", "mad"};
/* The primary table, one row per context length, kept in the run folder as curves.csv. */
static const table_spec curve_table = TABLE_SPEC("curves.csv", curve_columns);
static const table_spec summary_table = TABLE_SPEC("summary.csv", summary_columns);
static const table_spec weight_table = TABLE_SPEC("weights.csv", weight_columns);
static const table_spec loss_table = TABLE_SPEC("train_loss.csv", loss_columns);
static const table_spec landmark_table = TABLE_SPEC("landmarks.csv", landmark_columns);
static const table_spec rollout_table = TABLE_SPEC("rollout.csv", rollout_columns);

typedef struct {
    csv_writer *summary, *weights, *losses, *landmarks, *rollout;
} three_moons_tables;

/* 1 when every table is open (the primary as d->csv). */
static int tables_open(driver *d, three_moons_tables *t)
{
    return driver_open_csv(d, &curve_table) == 0 && (t->summary = driver_table(d, &summary_table)) &&
           (t->weights = driver_table(d, &weight_table)) && (t->losses = driver_table(d, &loss_table)) &&
           (t->landmarks = driver_table(d, &landmark_table)) && (t->rollout = driver_table(d, &rollout_table));
}

/* landmarks.csv: where the figure draws its vertical lines, the periods and LCM of both splits. */
static void write_landmarks(csv_writer *w, const three_moons_plan *pl)
{
    static const char *const labels[4] = {"p1", "p2", "p3", "lcm"};
    for (int s = 0; s < 2; s++) {
        const moon_triple *t = moons_kept(&pl->data, pl->splits[s]);
        char name[64];
        moons_triple_name(t, name, sizeof name);
        for (int k = 0; k < 4; k++)
            csv_row(w, cell_str(s ? "validation" : "train"), cell_str(name), cell_str(labels[k]),
                    cell_num((k < 3 ? t->p[k] : t->lcm) * pl->data.steps_per_unit));
    }
}

/* The network's matrices, and W_z W_psi, which maps an observation to the network's prediction when
 * the memory reads exactly the position whose value it holds: the identity for a pure memory; a
 * phase on its diagonal is a turn the network adds to every predicted step (which compounds along a
 * rollout). */
typedef struct {
    real phi[36], psi[36], z[36], zpsi[36];
} three_moons_weights;

static void weights_of(run *r, three_moons_weights *w)
{
    real_matrices(r, w->phi, w->psi, w->z);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            double acc = 0;
            for (int k = 0; k < 6; k++)
                acc += (double)w->z[i * 6 + k] * w->psi[k * 6 + j];
            w->zpsi[i * 6 + j] = (real)acc;
        }
}

/* weights.csv: every 2x2 block of a 6x6 matrix as the complex entry a + ib of [[a, -b], [b, a]] (for
 * a free block, its projection onto that form) and the block's magnitude. */
static void write_matrix(csv_writer *w, long long seed, const char *name, const real *W)
{
    const int cols = 6;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            const real *p = W + (size_t)(2 * i) * cols + 2 * j;
            csv_row(w, cell_int(seed), cell_str(name), cell_int(i), cell_int(j), cell_num((p[0] + p[cols + 1]) / 2),
                    cell_num((p[cols] - p[1]) / 2), cell_num(block_abs(W, cols, i, j)));
        }
}

static void write_weights(csv_writer *w, long long seed, const three_moons_weights *m)
{
    write_matrix(w, seed, "w_phi", m->phi);
    write_matrix(w, seed, "w_psi", m->psi);
    write_matrix(w, seed, "w_z", m->z);
    write_matrix(w, seed, "w_z_w_psi", m->zpsi);
}

/* One split's evaluation: what its rows say. */
typedef struct {
    const char *split;   /* "train" or "validation" */
    char name[64];       /* its periods */
    double maxp, lcm;    /* in steps */
    double *mad, *mad1;  /* by context length (evaluate()) */
    double *by_step;     /* by band and rollout step (evaluate()) */
    window_means wm, w1; /* mad and mad1 by band */
} split_eval;

/* rollout.csv: the error of every rollout step, by band of context length (bands with no context
 * length left out). */
static void write_rollout(csv_writer *w, long long seed, const split_eval *v)
{
    for (int b = 0; b < NBANDS; b++)
        for (int j = 0; j < opts.rollout && isfinite(v->by_step[b * opts.rollout]); j++)
            csv_row(w, cell_int(opts.heads), cell_int(seed), cell_str(v->split), cell_str(v->name),
                    cell_str(band_names[b]), cell_int(j + 1), cell_num(v->by_step[b * opts.rollout + j]));
}

/* The primary table: the error against context length. */
static void write_curve(csv_writer *w, long long seed, const split_eval *v, int nctx)
{
    for (int i = 0; i < nctx; i++)
        csv_row(w, cell_int(opts.heads), cell_int(seed), cell_str(v->split), cell_str(v->name),
                cell_int(1 + i * opts.ctx_step), cell_num(v->mad[i]), cell_num(v->maxp), cell_num(v->lcm),
                cell_str(opts.param), cell_num(loss_clip()), cell_num(v->mad1[i]));
}

static void write_summary(csv_writer *w, long long seed, const split_eval *v, diag_score ds, int converged,
                          double objective)
{
    csv_row(w, cell_int(opts.heads), cell_int(seed), cell_str(opts.param), cell_num(loss_clip()), cell_str(v->split),
            cell_str(v->name), cell_num(v->maxp), cell_num(v->lcm), cell_num(v->wm.before), cell_num(v->wm.between),
            cell_num(v->wm.after), cell_num(v->w1.before), cell_num(v->w1.between), cell_num(v->w1.after),
            cell_num(ds.phi), cell_num(ds.psi), cell_num(ds.z), cell_num(ds.mean), cell_int(converged),
            cell_num(objective));
}

static int list_periods(driver *d, const moons *m)
{
    static const char *const cols[] = {"rank", "periods", "lcm", "max_period", "max_period_steps", "lcm_steps", "split"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(d, &primary) != 0)
        return driver_end(d, 0);
    for (int i = 0; i < MOONS_TRIPLES; i++) {
        const moon_triple *t = &m->all[i];
        char name[64];
        moons_triple_name(t, name, sizeof name);
        csv_row(d->csv, cell_int(i + 1), cell_str(name), cell_num(t->lcm), cell_num(t->p[2]),
                cell_num(moons_max_period_steps(m, t)), cell_num(moons_lcm_steps(m, t)),
                cell_str(i >= MOONS_KEPT ? "unused" : moons_is_validation(i) ? "validation" : "train"));
    }
    return driver_end(d, 1);
}

/* Draws `name`.png with experiments/plots/`name`.gp when gnuplot and the script are found (the script
 * is looked up next to the binary's source tree); a missing gnuplot is only a note. */
static void draw_figure(driver *d, const char *name)
{
    char exe[4096], script[4200], cmd[12000];
    if (spawn_self_path(exe, sizeof exe, NULL) != 0)
        return;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0;
    const char *candidates[] = {"%s/experiments/plots/%s.gp", "%s/../experiments/plots/%s.gp",
                                "%s/../../experiments/plots/%s.gp"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        snprintf(script, sizeof script, candidates[i], exe, name);
        if (access(script, R_OK) == 0) {
            snprintf(cmd, sizeof cmd, "gnuplot -e \"dir='%s'\" '%s' 2>/dev/null", d->opt.out_dir, script);
            if (system(cmd) != 0)
                log_info(d->opt.quiet, "three-moons: no %s.png (gnuplot missing or failed; `make figures` draws it)", name);
            return;
        }
    }
}

/* The figures, drawn from the tables once driver_end has committed them. */
static void draw_figures(driver *d)
{
    draw_figure(d, "three_moons");
    draw_figure(d, "three_moons_rollout");
}

/* ---- one seed: make the network, train it, evaluate it, write its rows ------------------------------- */

static void model_make(run *r)
{
    params_init(&r->ps);
    ctxmem_declare(&r->net, &r->ps, MOONS_DIM, (int)opts.heads, MOONS_DIM / (int)opts.heads,
                   strcmp(opts.param, "complex") == 0, opts.beta);
    params_alloc(&r->ps);
    rng init = rng_stream((uint64_t)r->seed, RNG_STREAM_INIT);
    ctxmem_init(&r->net, &r->ps, &init);
    if (opts.ideal > 0 || opts.start_ideal > 0)
        set_ideal(r, opts.ideal > 0 ? opts.ideal : opts.start_ideal);
    dist_broadcast_real(r->ps.data, r->ps.total);   /* data-parallel ranks start from rank 0's weights */
}

/* Evaluates split s (0: --eval-triple's, 1: validation) and writes its rows; whether it converged
 * (its error between max(p) and lcm(p) is below --threshold). */
static int evaluate_split(run *r, const three_moons_plan *pl, const three_moons_tables *tb, int s,
                          const three_moons_weights *w, diag_score ds, double objective)
{
    const moon_triple *t = moons_kept(&pl->data, pl->splits[s]);
    split_eval v = {.split = s ? "validation" : "train", .maxp = moons_max_period_steps(&pl->data, t),
                    .lcm = moons_lcm_steps(&pl->data, t)};
    moons_triple_name(t, v.name, sizeof v.name);
    v.mad = xmalloc((size_t)pl->nctx * sizeof *v.mad);
    v.mad1 = xmalloc((size_t)pl->nctx * sizeof *v.mad1);
    v.by_step = xmalloc((size_t)NBANDS * opts.rollout * sizeof *v.by_step);
    evaluate(r, t, w->phi, w->psi, w->z, pl->nctx, v.mad, v.mad1, v.by_step);
    v.wm = windows(v.mad, pl->nctx, v.maxp, v.lcm);
    v.w1 = windows(v.mad1, pl->nctx, v.maxp, v.lcm);
    const int conv = isfinite(v.wm.between) && v.wm.between < opts.threshold;
    write_rollout(tb->rollout, r->seed, &v);
    write_curve(r->d->csv, r->seed, &v, pl->nctx);
    write_summary(tb->summary, r->seed, &v, ds, conv, objective);
    log_info(r->d->opt.quiet,
             "three-moons: heads %lld seed %lld %s %s: %lld-step error %.3g before max(p) = %.0f steps, "
             "%.3g up to lcm(p) = %.0f, %.3g after (first step: %.3g, %.3g, %.3g); diagonal mass %.3f",
             opts.heads, r->seed, v.split, v.name, opts.rollout, v.wm.before, v.maxp, v.wm.between, v.lcm, v.wm.after,
             v.w1.before, v.w1.between, v.w1.after, ds.mean);
    free(v.mad);
    free(v.mad1);
    free(v.by_step);
    return conv;
}

/* three_moons_seedN.safetensors, with what rebuilds the network. */
static int save_checkpoint(run *r)
{
    char name[64], path[4096], heads[16], beta[32];
    err_t e;
    snprintf(heads, sizeof heads, "%lld", opts.heads);
    snprintf(beta, sizeof beta, "%g", opts.beta);
    snprintf(name, sizeof name, "three_moons_seed%lld.safetensors", r->seed);
    const char *meta[] = {"model", "ctxmem", "heads", heads, "param", opts.param, "beta", beta, NULL};
    /* data-parallel ranks go on to the next seed, or stop, together */
    if (dist_agree_err(ckpt_save(driver_out_path(r->d, name, path, sizeof path), &r->ps, meta, 0, &e), &e) != 0) {
        driver_error(r->d, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* One seed: trains it (unless --ideal), evaluates both splits, writes its rows and its checkpoint;
 * counts it in *converged when the validation split converged. 1 on success. */
static int run_seed(driver *d, const three_moons_plan *pl, const three_moons_tables *tb, long long seed, int *converged)
{
    run r = {.d = d, .data = &pl->data, .seed = seed, .loss_csv = tb->losses};
    model_make(&r);
    int ok = opts.ideal > 0 || train(&r) == 0;
    if (ok) {
        three_moons_weights w;
        weights_of(&r, &w);
        const diag_score ds = disentanglement(w.phi, w.psi, w.z);
        write_weights(tb->weights, r.seed, &w);
        const double objective = train_objective(&r);
        log_info(d->opt.quiet, "three-moons: heads %lld seed %lld: training objective %.4g; W_z W_psi turns the "
                               "moons by %.3f, %.3f, %.3f rad a step", opts.heads, r.seed, objective,
                 block_phase(w.zpsi, 6, 0), block_phase(w.zpsi, 6, 1), block_phase(w.zpsi, 6, 2));
        for (int s = 0; s < 2; s++)
            if (evaluate_split(&r, pl, tb, s, &w, ds, objective) && s == 1)
                (*converged)++;
        ok = save_checkpoint(&r) == 0;
    }
    params_free(&r.ps);
    return ok;
}

int cmd_three_moons(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &three_moons_spec, argc, argv, &code) != 0)
        return code;
    three_moons_plan pl;
    moons_init(&pl.data, (int)opts.seq_len);
    if (opts.list_periods)
        return list_periods(&d, &pl.data);
    err_t e;
    if (plan_make(&d.opt, &pl, &e) != 0)
        return driver_usage_error(&d, "%s", e.msg);
    if (opts.ideal <= 0 && (code = driver_check_batch(&d, opts.batch)) != 0) {   /* trained: data-parallel ranks share --batch */
        driver_end(&d, 0);
        return code;
    }
    three_moons_tables tb;
    int ok = tables_open(&d, &tb), converged = 0;
    if (ok)
        write_landmarks(tb.landmarks, &pl);
    for (long long k = 0; k < opts.seeds && ok; k++)
        ok = run_seed(&d, &pl, &tb, d.opt.seed + k, &converged);
    if (ok)
        log_info(d.opt.quiet, "three-moons: %d of %lld seeds converged (validation error below %g between max(p) "
                              "and lcm(p))", converged, opts.seeds, opts.threshold);
    d.after_commit = draw_figures;
    return driver_end(&d, ok);
}

const command three_moons_command = {&three_moons_spec, NULL, cmd_three_moons, 1};
