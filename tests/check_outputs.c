/* Runs that never lose work (docs/outputs.md): a run folder is never written over without --force,
 * every check comes before any output, no temporary file survives, tables are valid UTF-8, options
 * that make no sense together are refused, and every run folder records its command line in
 * config.yaml and what stderr showed in run.log. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/csv.h"
#include "io/progress.h"
#include "io/runlog.h"
#include "io/utf8.h"
#include "test_util.h"

static char *out, *err;

/* "<memlab> <args>" with %s filled by dir (up to three times); the exit status. */
static int run(const char *fmt, const char *dir)
{
    char cmd[4096], tail[3072];
    snprintf(tail, sizeof tail, fmt, dir, dir, dir);
    snprintf(cmd, sizeof cmd, "%s %s", test_memlab_bin(), tail);
    free(out);
    free(err);
    out = err = NULL;
    return test_run(cmd, &out, &err);
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static int exists(const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    struct stat st;
    int ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static int one_line(const char *s) { return *s && strchr(s, '\n') == s + strlen(s) - 1; }

/* Whether the folder holds a file whose name contains ".tmp." (a temporary file left behind). */
static int holds_tmp(const char *dir)
{
    DIR *dp = opendir(dir);
    int found = 0;
    for (struct dirent *de; dp && (de = readdir(dp));)
        found |= strstr(de->d_name, ".tmp.") != NULL;
    if (dp)
        closedir(dp);
    return found;
}

static int valid_utf8(const char *s)
{
    size_t len = strlen(s), n;
    for (size_t i = 0; i < len; i += n)
        if (utf8_next((const unsigned char *)s + i, len - i, &n) == UTF8_INVALID)
            return 0;
    return 1;
}

START_TEST(test_out_dir_never_clobbered)
{
    char *dir = test_tmpdir();
    ck_assert_int_eq(run("xor --preset smoke --quiet --out-dir %s/run", dir), 0);
    char *csv = path_in(dir, "run/xor.csv"), *before = test_slurp(csv);
    /* a second run into the same folder is refused before it trains, and leaves the first's files */
    ck_assert_int_eq(run("xor --preset smoke --quiet --seed 7 --out-dir %s/run", dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "already holds files"));
    ck_assert_ptr_nonnull(strstr(err, "--force"));
    ck_assert(one_line(err));
    ck_assert_str_eq(out, "");
    char *after = test_slurp(csv);
    ck_assert_str_eq(before, after);
    free(after);
    /* --force writes over it */
    ck_assert_int_eq(run("xor --preset smoke --quiet --seed 7 --force --out-dir %s/run", dir), 0);
    after = test_slurp(csv);
    ck_assert_str_ne(before, after);
    free(after);
    free(before);
    free(csv);
    /* an empty folder is a fresh one */
    char *empty = path_in(dir, "empty");
    ck_assert_int_eq(mkdir(empty, 0777), 0);
    ck_assert_int_eq(run("xor --preset smoke --quiet --out-dir %s/empty", dir), 0);
    free(empty);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_outputs_checked_first)
{
    char *dir = test_tmpdir();
    char *afile = path_in(dir, "afile");
    FILE *f = fopen(afile, "w");
    fputs("x\n", f);
    fclose(f);
    bad_input_case cases[] = {
        {"", 2, "is a folder, not a file"},
        {"", 2, "no folder"},
        {"", 2, "exists and is not a folder"},
        {"", 2, "exists and is not a folder"},
        {"", 2, "is not divisible by --heads 3"},
    };
    snprintf(cases[0].args, sizeof cases[0].args, "xor --preset smoke -o %s --out-dir %s/o0", dir, dir);
    snprintf(cases[1].args, sizeof cases[1].args, "xor --preset smoke -o %s/nowhere/t.csv --out-dir %s/o1", dir, dir);
    snprintf(cases[2].args, sizeof cases[2].args, "regbench --sweep --preset smoke --out-dir %s", afile);
    snprintf(cases[3].args, sizeof cases[3].args, "babistories --preset smoke --out-dir %s", afile);
    snprintf(cases[4].args, sizeof cases[4].args, "babistories --preset smoke --heads 3 --d 64 --out-dir %s/o4", dir);
    expect_bad_inputs("", cases, sizeof cases / sizeof *cases);
    /* nothing was written: no run folder, so no tokenizer.json trained for the bad shape */
    ck_assert(!exists(dir, "o0") && !exists(dir, "o1") && !exists(dir, "o4"));
    free(afile);
    test_rmdir(dir);
}
END_TEST

/* Data that fail to read: an error, no CSV header on stdout. */
START_TEST(test_bad_data_no_header)
{
    char *dir = test_tmpdir();
    char *bin = path_in(dir, "binary.dat"), *gz = path_in(dir, "corrupt.gz");
    FILE *f = fopen(bin, "wb");
    for (int i = 0; i < 3000; i++)
        fputc((i * 131) & 0xff, f);
    fclose(f);
    f = fopen(gz, "wb");
    fputs("\x1f\x8b\x08" "garbage that is no deflate stream", f);
    fclose(f);
    ck_assert_int_eq(run("memory-inversion --preset smoke --quiet --threads 1 --data %s/binary.dat --out-dir %s/inv", dir), 1);
    ck_assert_str_eq(out, "");
    ck_assert(one_line(err));
    ck_assert_int_eq(run("copy --preset smoke --quiet --threads 1 --data %s/corrupt.gz --out-dir %s/copy", dir), 1);
    ck_assert_str_eq(out, "");
    ck_assert(one_line(err));
    ck_assert_ptr_nonnull(strstr(err, "corrupt.gz"));
    ck_assert(!exists(dir, "copy"));   /* it failed reading: no run folder */
    /* a corpus too small for --ctx: found before the trained tokenizer is saved, so no run folder */
    char *tiny = path_in(dir, "tiny.txt");
    f = fopen(tiny, "w");
    for (int i = 0; i < 40; i++)
        fputs("Tom went to the park. He saw a dog. The dog was happy.\n", f);
    fclose(f);
    ck_assert_int_eq(run("babistories --preset smoke --quiet --threads 1 --data %s/tiny.txt --ctx 512 --out-dir %s/bs", dir), 1);
    ck_assert_str_eq(out, "");
    ck_assert(one_line(err));
    ck_assert_ptr_nonnull(strstr(err, "too small for inputs of 512 tokens"));
    ck_assert(!exists(dir, "bs"));
    free(tiny);
    free(bin);
    free(gz);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_no_tmp_file_after_out_of_memory)
{
    char *dir = test_tmpdir();
    /* an activation arena of 4.2 GB under a 3 GB address-space limit: the run ends in fatal() after
     * its tables were opened */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ulimit -v 3000000; %s copy --preset smoke --quiet --threads 1 --batch 1000000 --out-dir %s/lim",
             test_memlab_bin(), dir);
    free(out);
    free(err);
    ck_assert_int_eq(test_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "out of memory"));
    char *lim = path_in(dir, "lim");
    ck_assert(exists(dir, "lim/run.log"));
    ck_assert(!holds_tmp(lim));
    free(lim);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_csv_valid_utf8)
{
    char *dir = test_tmpdir(), *path = path_in(dir, "t.csv");
    err_t e;
    static const char *const cols[] = {"a", "b"};
    csv_writer *w = csv_open(path, cols, 2, &e);
    ck_assert_ptr_nonnull(w);
    csv_str(w, "caf\xC3\xA9 \xE2\x82");   /* a euro sign cut after two of its three bytes */
    csv_str(w, "q\"\xC3");
    csv_end_row(w);
    ck_assert_ptr_nonnull(strstr(csv_last_row(w), "a=caf"));
    ck_assert_int_eq(csv_close(w, &e), 0);
    char *text = test_slurp(path);
    ck_assert(valid_utf8(text));
    ck_assert_str_eq(text, "a,b\ncaf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD,\"q\"\"\xEF\xBF\xBD\"\n");
    free(text);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_nonsense_combinations)
{
    char *dir = test_tmpdir();
    bad_input_case cases[] = {
        {"", 2, "--ctx-step 500 is larger than the longest context"},
        {"", 2, "--no-clip"},
        {"", 2, "--warmup 30 is longer than the training (--steps 20)"},
        {"", 2, "--stop-at 30 is after the last step (--steps 20)"},
        {"", 2, "--lr-end 0.01 is above --lr 0.001"},
        {"", 2, "--lr-end 0.5 is above --lr 0.1"},
        {"", 2, "--warmup 50 is longer than the training (--steps 6)"},
        {"", 2, "--warmup 50 is longer than the training (--encoder-steps 10)"},
    };
    const char *args[] = {"three-moons --preset smoke --ctx-step 500", "three-moons --preset smoke --no-clip --clip 0.3",
                          "babistories --preset smoke --warmup 30", "babistories --preset smoke --stop-at 30",
                          "babistories --preset smoke --lr 1e-3 --lr-end 1e-2", "xor --lr 0.1 --lr-end 0.5",
                          "copy --preset smoke --warmup 50", "memory-inversion --preset smoke --warmup 50"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        snprintf(cases[i].args, sizeof cases[i].args, "%s --out-dir %s/o%zu", args[i], dir, i);
    expect_bad_inputs("", cases, sizeof cases / sizeof *cases);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%zu", i);
        ck_assert_msg(!exists(dir, name), "%s wrote its folder", args[i]);
    }
    /* --no-clip alone, and --clip alone, are fine */
    ck_assert_int_eq(run("three-moons --preset smoke --quiet --iters 2 --eval-seqs 1 --no-clip -o /dev/null --out-dir %s/nc", dir), 0);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_config_and_run_log)
{
    char *dir = test_tmpdir();
    ck_assert_int_eq(run("xor --preset smoke --out-dir %s/run -o /dev/null", dir), 0);
    char *cfg = path_in(dir, "run/config.yaml"), *log = path_in(dir, "run/run.log");
    char *text = test_slurp(cfg);
    ck_assert_ptr_nonnull(strstr(text, "\ncommand: xor\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nmemlab_version: "));
    ck_assert_ptr_nonnull(strstr(text, "\ngit_commit: "));
    ck_assert_ptr_nonnull(strstr(text, "\ncommand_line: memlab xor --preset smoke --out-dir "));
    free(text);
    /* run.log: what stderr showed, ending with the final line */
    text = test_slurp(log);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "memlab: xor: step 1/300"));
    const char *last = strstr(text, "memlab: xor: done after ");
    ck_assert_ptr_nonnull(last);
    ck_assert_ptr_nonnull(strstr(last, "; final: seed=1 hidden=8 step=300 loss="));
    ck_assert_ptr_eq(strchr(last, '\n'), last + strlen(last) - 1);   /* the last line */
    ck_assert_ptr_null(strchr(text, '\r'));
    free(text);
    /* the config replays, and a config of another command is refused */
    char args[4096];
    snprintf(args, sizeof args, "xor --config %s --quiet --out-dir %s/replay -o /dev/null", cfg, dir);
    ck_assert_int_eq(run(args, NULL), 0);
    snprintf(args, sizeof args, "three-moons --config %s --out-dir %s/other", cfg, dir);
    ck_assert_int_eq(run(args, NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "this configuration is for memlab xor, not three-moons"));
    /* --quiet: stderr is silent, run.log holds the final line alone */
    ck_assert_int_eq(run("xor --preset smoke --quiet --out-dir %s/q -o /dev/null", dir), 0);
    ck_assert_str_eq(err, "");
    char *qlog = path_in(dir, "q/run.log");
    text = test_slurp(qlog);
    ck_assert_ptr_nonnull(text);
    ck_assert(one_line(text));
    ck_assert_ptr_nonnull(strstr(text, "memlab: xor: done after "));
    free(text);
    free(qlog);
    free(cfg);
    free(log);
    test_rmdir(dir);
}
END_TEST

/* The log keeps a redrawn line's last state, without the escape sequences. */
START_TEST(test_runlog_drops_redraws)
{
    char *dir = test_tmpdir(), *path = path_in(dir, "run.log");
    err_t e;
    ck_assert_int_eq(runlog_start(), 0);
    fputs("before\n", stderr);   /* held until the file is named */
    ck_assert_int_eq(runlog_attach(path, 0, &e), 0);
    fputs("\rstep 1\033[K\rstep 2\033[K\n", stderr);
    runlog_finish("extra");
    char *text = test_slurp(path);
    ck_assert_str_eq(text, "before\nstep 2\nextra\n");
    free(text);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* A phase that counts items says nothing when it is short, its progress when it is not. */
START_TEST(test_progress_items)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    progress p;
    progress_start_items(&p, "t: generating stories", "story", 10, 0);
    p.out = f;
    p.tty = 0;
    progress_update(&p, 3, 0, 0);
    progress_end(&p);
    fflush(f);
    ck_assert_int_eq(len, 0);
    progress_start_items(&p, "t: generating stories", "story", 10, 0);
    p.out = f;
    p.tty = 0;
    p.t_start -= 2;   /* two seconds in */
    progress_update(&p, 3, 0, 0);
    progress_update(&p, 10, 0, 0);
    progress_end(&p);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "memlab: t: generating stories: story 3/10"));
    ck_assert_ptr_nonnull(strstr(buf, "memlab: t: generating stories: story 10/10"));
    ck_assert_ptr_null(strstr(buf, "loss"));
    free(buf);
}
END_TEST

/* A trained smoke model serves the analysis actions' checks. */
START_TEST(test_analyses_check_every_ckpt_first)
{
    char *dir = test_tmpdir();
    ck_assert_int_eq(run("babistories --preset smoke --arch gpt --steps 4 --warmup 1 --threads 1 --quiet --out-dir %s/train -o /dev/null", dir), 0);
    char *garbage = path_in(dir, "garbage.safetensors"), *shortt = path_in(dir, "short.txt");
    FILE *f = fopen(garbage, "w");
    fputs("not a checkpoint", f);
    fclose(f);
    f = fopen(shortt, "w");
    fputs("Too short.\n", f);
    fclose(f);
    /* ood: a bad checkpoint second in the list, or a text shorter than a window: no row, no header */
    ck_assert_int_eq(run("babistories ood --quiet --ckpt %s/train/babistories_gpt.safetensors,%s/garbage.safetensors", dir), 1);
    ck_assert_str_eq(out, "");
    ck_assert(one_line(err));
    ck_assert_int_eq(run("babistories ood --quiet --ckpt %s/train/babistories_gpt.safetensors --text %s/short.txt", dir), 1);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "fewer than one window"));
    /* attention: the same for its list, before its folder is made */
    ck_assert_int_eq(run("babistories attention --quiet --windows 2 --ckpt %s/train/babistories_gpt.safetensors,%s/garbage.safetensors --out-dir %s/att", dir), 1);
    ck_assert_str_eq(out, "");
    ck_assert(!exists(dir, "att"));
    /* attention does not write into the training run's folder unless asked, and never replaces its
     * config.yaml */
    char *cfg = path_in(dir, "train/config.yaml"), *before = test_slurp(cfg);
    ck_assert_int_eq(run("babistories attention --quiet --windows 2 --ckpt %s/train/babistories_gpt.safetensors --out-dir %s/train -o /dev/null", dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "already holds files"));
    ck_assert(!exists(dir, "train/attention_heads.csv"));
    ck_assert_int_eq(run("babistories attention --quiet --windows 2 --force --ckpt %s/train/babistories_gpt.safetensors --out-dir %s/train -o /dev/null", dir), 0);
    char *after = test_slurp(cfg);
    ck_assert_str_eq(before, after);
    ck_assert(exists(dir, "train/attention_heads.csv") && exists(dir, "train/config-attention.yaml"));
    char *acfg = path_in(dir, "train/config-attention.yaml"), *atext = test_slurp(acfg);
    ck_assert_ptr_nonnull(strstr(atext, "\naction: attention\n"));
    ck_assert_ptr_nonnull(strstr(before, "\naction: train\n"));
    /* compare's CSV is valid UTF-8 whatever the models sample */
    ck_assert_int_eq(run("babistories compare --quiet --format csv --max-tokens 30 --ckpt %s/train/babistories_gpt.safetensors,%s/train/babistories_gpt.safetensors", dir), 0);
    ck_assert(valid_utf8(out));
    free(atext);
    free(acfg);
    free(before);
    free(after);
    free(cfg);
    free(garbage);
    free(shortt);
    test_rmdir(dir);
}
END_TEST

Suite *suite_outputs(void)
{
    Suite *s = suite_create("outputs");
    TCase *tc = tcase_create("outputs");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_out_dir_never_clobbered);
    tcase_add_test(tc, test_outputs_checked_first);
    tcase_add_test(tc, test_bad_data_no_header);
    tcase_add_test(tc, test_no_tmp_file_after_out_of_memory);
    tcase_add_test(tc, test_csv_valid_utf8);
    tcase_add_test(tc, test_nonsense_combinations);
    tcase_add_test(tc, test_config_and_run_log);
    tcase_add_test(tc, test_runlog_drops_redraws);
    tcase_add_test(tc, test_progress_items);
    tcase_add_test(tc, test_analyses_check_every_ckpt_first);
    suite_add_tcase(s, tc);
    return s;
}
