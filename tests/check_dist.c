/* Data-parallel training over MPI (core/dist.h) through the real binary: 2 ranks on however many
 * cores (oversubscribed) follow the single process's loss curve and end at its weights within float
 * tolerance, in babistories and in every other command that trains; a batch the ranks cannot share
 * is refused; a rank that fails stops both with one line and no hang; a regbench sweep's points
 * shared by 2 ranks give the single process's table. Skipped, with a message, when
 * mpirun is missing or memlab was built without MPI. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "nn/lm_ckpt.h"
#include "test_util.h"

/* Open MPI refuses root without these; oversubscribe: 2 ranks on a machine of any size. The bound
 * turns a hang in a collective into a failure. */
#define MPIRUN "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun --oversubscribe -np 2 "

static int have_mpi(void)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "command -v mpirun >/dev/null && %s version", test_memlab_bin());
    int ok = test_run(cmd, &out, NULL) == 0 && strstr(out, "transport: mpi") != NULL;
    free(out);
    if (!ok)
        fprintf(stderr, "check_dist: skipped (no mpirun, or memlab built without MPI: apt-get install "
                        "libopenmpi-dev openmpi-bin, then make clean && make)\n");
    return ok;
}

/* The training run's CSV (stdout) of babistories' smoke preset, gpt, no dropout (whose masks differ
 * by rank), with or without mpirun. */
static int train(const char *launcher, const char *dir, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s%s babistories --preset smoke --arch gpt --dropout 0 --threads 1 --quiet --force --out-dir %s",
             launcher, test_memlab_bin(), dir);
    return test_run(cmd, out, err);
}

/* Column c (0-based) of every data row of a CSV text, into v; returns the rows. */
static int column(const char *csv, int c, double *v, int max)
{
    int n = 0;
    for (const char *line = strchr(csv, '\n'); line && line[1] && n < max; line = strchr(line + 1, '\n')) {
        const char *f = line + 1;
        for (int i = 0; i < c; i++)
            f = strchr(f, ',') + 1;
        v[n++] = strtod(f, NULL);
    }
    return n;
}

/* The lm checkpoint `name` that two runs wrote into their folders: every weight within 1e-4. */
static void same_weights(const char *one, const char *two, const char *name)
{
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/%s", one, name);
    snprintf(p2, sizeof p2, "%s/%s", two, name);
    lm m1, m2;
    err_t e;
    ck_assert_msg(lm_ckpt_open(p1, &m1, 0, &e) == 0, "%s", e.msg);
    ck_assert_msg(lm_ckpt_open(p2, &m2, 0, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(m1.ps.total, m2.ps.total);
    double worst = 0;
    for (size_t i = 0; i < m1.ps.total; i++)
        worst = fmax(worst, fabs((double)m1.ps.data[i] - m2.ps.data[i]));
    ck_assert_msg(worst < 1e-4, "%s: weights differ by %g", name, worst);
    lm_free(&m1);
    lm_free(&m2);
}

START_TEST(test_two_ranks_follow_one)
{
    if (!have_mpi())
        return;
    char *one = test_tmpdir(), *two = test_tmpdir(), *out1, *out2, *err;
    ck_assert_int_eq(train("", one, &out1, &err), 0);
    free(err);
    ck_assert_msg(train(MPIRUN, two, &out2, &err) == 0, "%s", err);
    free(err);
    /* the same rows, steps and token counts; losses within float tolerance */
    double a[8], b[8];
    for (int c = 5; c <= 9; c++) {
        int n = column(out1, c, a, 8);
        ck_assert_int_eq(column(out2, c, b, 8), n);
        ck_assert_int_eq(n, 2);
        for (int i = 0; i < n; i++)
            ck_assert_msg(fabs(a[i] - b[i]) <= 1e-4 * fabs(a[i]), "column %d row %d: %g vs %g", c, i, a[i], b[i]);
    }
    /* rank 0's checkpoint: the single process's weights within tolerance; nothing from rank 1 */
    same_weights(one, two, "babistories_gpt.safetensors");
    free(out1);
    free(out2);
    test_rmdir(one);
    test_rmdir(two);
}
END_TEST

/* The 0-based index of column `name` in a CSV text's header, or -1. */
static int column_index(const char *csv, const char *name)
{
    const size_t len = strlen(name);
    int c = 0;
    for (const char *f = csv; *f && *f != '\n'; c++) {
        if (!strncmp(f, name, len) && (f[len] == ',' || f[len] == '\n'))
            return c;
        while (*f && *f != ',' && *f != '\n')
            f++;
        if (*f == ',')
            f++;
    }
    return -1;
}

/* Two tables of the same rows: every cell of the named columns (a NULL-ended list) within 1e-4
 * relative. */
static void same_columns(const char *one, const char *two, const char *const *names)
{
    ck_assert_int_eq(strcmp(one, "") != 0, 1);
    for (int k = 0; names[k]; k++) {
        const int c = column_index(one, names[k]);
        ck_assert_msg(c >= 0, "no column %s in %s", names[k], one);
        double a[256], b[256];
        const int n = column(one, c, a, 256);
        ck_assert_int_eq(column(two, c, b, 256), n);
        ck_assert_int_gt(n, 0);
        for (int i = 0; i < n; i++)
            ck_assert_msg(fabs(a[i] - b[i]) <= 1e-4 * fabs(a[i]), "%s row %d: %.9g vs %.9g", names[k], i, a[i], b[i]);
    }
}

/* A command's run (args after the binary) into dir, with or without mpirun: its table (stdout). */
static char *run_in(const char *launcher, const char *args, const char *dir)
{
    char cmd[8192], *out, *err;
    snprintf(cmd, sizeof cmd, "%s%s %s --threads 1 --quiet --force --out-dir %s", launcher, test_memlab_bin(), args, dir);
    int rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err);
    free(err);
    return out;
}

/* The other commands' training loops (docs/distributed.md): 2 ranks against 1 process on each smoke
 * preset without dropout; the columns that follow the training (losses, errors: not the
 * accuracies, which a flipped argmax moves by a whole step) within 1e-4 relative, and where the
 * command saves a model, its weights within 1e-4. `file` (may be NULL): a table of the run folder
 * compared as well, on `file_cols`. */
static void two_ranks_like_one(const char *args, const char *const *cols, const char *ckpt, const char *file,
                               const char *const *file_cols)
{
    char *one = test_tmpdir(), *two = test_tmpdir();
    char *t1 = run_in("", args, one), *t2 = run_in(MPIRUN, args, two);
    same_columns(t1, t2, cols);
    if (ckpt)
        same_weights(one, two, ckpt);
    if (file) {
        char p1[4096], p2[4096];
        snprintf(p1, sizeof p1, "%s/%s", one, file);
        snprintf(p2, sizeof p2, "%s/%s", two, file);
        char *f1 = test_slurp(p1), *f2 = test_slurp(p2);
        ck_assert_msg(f1 && f2, "%s missing", file);
        same_columns(f1, f2, file_cols);
        free(f1);
        free(f2);
    }
    free(t1);
    free(t2);
    test_rmdir(one);
    test_rmdir(two);
}

/* regbench's gpt, mosaic and lstm: 17 training sequences in batches of 8 leave a last batch of one
 * row, which rank 1 trains alone (rank 0 has none): the ranks' losses are weighted by their targets. */
START_TEST(test_regbench_ranks)
{
    if (!have_mpi())
        return;
    static const char *const cols[] = {"val_loss", "val_tvd", "test_tvd", NULL};
    static const char *const models[] = {"gpt", "mosaic", "lstm"};
    for (int i = 0; i < 3; i++) {
        char args[256];
        snprintf(args, sizeof args, "regbench --preset smoke --model %s --train-size 17 --lr 1e-2 --dropout 0", models[i]);
        two_ranks_like_one(args, cols, NULL, NULL, NULL);
    }
}
END_TEST

/* copy (the memory model, trainable encoder) and blank-copy with the frozen encoder (its autoencoder
 * trained first). */
START_TEST(test_copy_ranks)
{
    if (!have_mpi())
        return;
    static const char *const cols[] = {"causal_ce", NULL};
    two_ranks_like_one("copy --preset smoke --dropout 0", cols, "decoder.safetensors", NULL, NULL);
    two_ranks_like_one("blank-copy --preset smoke --dropout 0 --encoder frozen", cols, "autoencoder_encoder.safetensors",
                       NULL, NULL);
}
END_TEST

/* memory-inversion: the causal encoder, the autoencoder, the joint memory model and every probe. */
START_TEST(test_inversion_ranks)
{
    if (!have_mpi())
        return;
    static const char *const cols[] = {"ce", "entropy_ratio", "bits_per_token", NULL};
    two_ranks_like_one("memory-inversion --preset smoke --dropout 0 --encoder untrained,causal,autoencoder,frozen,joint",
                       cols, "autoencoder_encoder_ctx16.safetensors", NULL, NULL);
}
END_TEST

/* three-moons with its rollout term: the curves and every iteration's loss (train_loss.csv). */
START_TEST(test_three_moons_ranks)
{
    if (!have_mpi())
        return;
    static const char *const cols[] = {"mad", "mad_step1", NULL}, *const loss[] = {"loss", NULL};
    two_ranks_like_one("three-moons --preset smoke --train-rollout 3", cols, NULL, "train_loss.csv", loss);
}
END_TEST

/* Rank 0 cannot write the checkpoint `blocked` (a folder stands at its name); rank 1 could. Both
 * stop there with exit 1 and memlab's one line naming it (124: a hang in a collective). */
static void stops_when_blocked(const char *args, const char *blocked)
{
    char *dir = test_tmpdir(), cmd[8192], *out, *err;
    snprintf(cmd, sizeof cmd, "mkdir -p %s/%s", dir, blocked);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, MPIRUN "%s %s --threads 1 --quiet --force --out-dir %s", test_memlab_bin(), args, dir);
    int rc = test_run(cmd, &out, &err);
    ck_assert_msg(rc == 1, "%s: exit %d (124: a hang); stderr: %s", args, rc, err);
    int lines = 0;
    for (const char *s = strstr(err, "memlab: "); s; s = strstr(s + 1, "memlab: "))
        lines++;
    ck_assert_msg(lines == 1, "%d lines from memlab: %s", lines, err);
    ck_assert_ptr_nonnull(strstr(err, blocked));
    free(out);
    free(err);
    test_rmdir(dir);
}

/* At a step's checkpoint (babistories), and at one written between two trainings (blank-copy's
 * autoencoder encoder, before the memory model trains). */
START_TEST(test_failing_rank_stops_all)
{
    if (!have_mpi())
        return;
    stops_when_blocked("babistories --preset smoke --arch gpt --dropout 0", "babistories_gpt.safetensors");
    stops_when_blocked("blank-copy --preset smoke --encoder frozen", "autoencoder_encoder.safetensors");
}
END_TEST

/* A batch the ranks cannot share is refused before any work, by rank 0 alone, exit 2: by every
 * command that trains. */
START_TEST(test_indivisible_batch)
{
    if (!have_mpi())
        return;
    static const char *const commands[] = {"babistories", "regbench --model gpt", "copy", "blank-copy",
                                           "memory-inversion", "three-moons"};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        char *dir = test_tmpdir(), cmd[8192], *out, *err, line[256];
        snprintf(cmd, sizeof cmd, MPIRUN "%s %s --preset smoke --batch 3 --threads 1 --out-dir %s/run",
                 test_memlab_bin(), commands[i], dir);
        ck_assert_int_eq(test_run(cmd, &out, &err), 2);
        ck_assert_str_eq(out, "");
        snprintf(line, sizeof line, "memlab: %.*s: --batch 3 is not divisible by the 2 data-parallel ranks\n",
                 (int)strcspn(commands[i], " "), commands[i]);
        ck_assert_msg(strstr(err, line) != NULL, "%s: %s", commands[i], err);
        ck_assert_ptr_null(strstr(strstr(err, "ranks\n") + 1, "memlab: "));
        snprintf(cmd, sizeof cmd, "test -e %s/run", dir);
        ck_assert_int_ne(test_run(cmd, NULL, NULL), 0);
        free(out);
        free(err);
        test_rmdir(dir);
    }
}
END_TEST

/* A regbench sweep's points handed to 2 ranks (points 0, 2 on rank 0; 1 on rank 1): every point's
 * row, and the merged table, as one process gives them, except the time column (the last). */
static char *without_last_column(const char *csv)
{
    char *t = malloc(strlen(csv) + 1), *w = t;
    for (const char *line = csv; *line;) {
        const char *end = strchr(line, '\n'), *stop = end ? end : line + strlen(line);
        const char *comma = stop;
        while (comma > line && *comma != ',')
            comma--;
        if (comma == line)
            comma = stop;
        memcpy(w, line, (size_t)(comma - line));
        w += comma - line;
        *w++ = '\n';
        line = end ? end + 1 : stop;
    }
    *w = 0;
    return t;
}

START_TEST(test_sweep_points_over_ranks)
{
    if (!have_mpi())
        return;
    char *dir = test_tmpdir(), cmd[8192], *one, *two, *err;
    snprintf(cmd, sizeof cmd, "printf 'layers: [1]\\nd: [16]\\nheads: [2]\\nwd: [0.01, 0.1, 0.2]\\n' > %s/grid.yaml", dir);
    ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    const char *sweep = "regbench --preset smoke --seed 1 --threads 1 --quiet --sweep --model gpt";
    snprintf(cmd, sizeof cmd, "%s %s --grid %s/grid.yaml --out-dir %s/one", test_memlab_bin(), sweep, dir, dir);
    ck_assert_int_eq(test_run(cmd, &one, NULL), 0);
    /* without --quiet: rank 0 logs its own points, 2 of the 3 */
    snprintf(cmd, sizeof cmd, MPIRUN "%s %.*s --sweep --model gpt --grid %s/grid.yaml --out-dir %s/two", test_memlab_bin(),
             (int)(strstr(sweep, " --quiet") - sweep), sweep, dir, dir);
    int rc = test_run(cmd, &two, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "point_002 (2/2) done") && !strstr(err, "point_001 ("), "rank 0's points: %s", err);
    char *a = without_last_column(one), *b = without_last_column(two);
    ck_assert_msg(strchr(strchr(a, '\n') + 1, '\n') != NULL, "no rows: %s", one);
    ck_assert_str_eq(a, b);
    for (int i = 0; i < 3; i++) {   /* each point wrote its own table into the shared folder */
        snprintf(cmd, sizeof cmd, "test -s %s/two/point_00%d.csv", dir, i);
        ck_assert_int_eq(test_run(cmd, NULL, NULL), 0);
    }
    free(a);
    free(b);
    free(one);
    free(two);
    free(err);
    test_rmdir(dir);
}
END_TEST

Suite *suite_dist(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_two_ranks_follow_one);
    tcase_add_test(tc, test_regbench_ranks);
    tcase_add_test(tc, test_copy_ranks);
    tcase_add_test(tc, test_inversion_ranks);
    tcase_add_test(tc, test_three_moons_ranks);
    tcase_add_test(tc, test_failing_rank_stops_all);
    tcase_add_test(tc, test_indivisible_batch);
    tcase_add_test(tc, test_sweep_points_over_ranks);
    suite_add_tcase(s, tc);
    return s;
}
