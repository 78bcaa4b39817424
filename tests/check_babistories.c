/* babistories through the real binary: a smoke training run of both architectures, exact resume,
 * generate and score from its checkpoints, the corpus dump, and bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int bs_run(const char *args, char **out, char **err)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s babistories --threads 1 --quiet %s", test_memlab_bin(), args);
    return test_run(cmd, out, err);
}

static const char *const header = "arch,layers,d,heads,params,step,tokens,lr,train_loss,val_loss\n";

/* The last line of a CSV text (modifies it). */
static char *last_row(char *csv)
{
    size_t n = strlen(csv);
    ck_assert(n > 0 && csv[n - 1] == '\n');
    csv[n - 1] = 0;
    char *nl = strrchr(csv, '\n');
    return nl ? nl + 1 : csv;
}

START_TEST(test_train_generate_score)
{
    char *dir = test_tmpdir(), args[2048], *out, *err;
    snprintf(args, sizeof args, "--preset smoke --out-dir %s", dir);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(strncmp(out, header, strlen(header)), 0);
    /* smoke: 20 steps, evaluated every 10: two rows per architecture, gpt first */
    int rows = 0;
    for (char *line = strchr(out, '\n') + 1; *line; line = strchr(line, '\n') + 1, rows++) {
        const char *want = rows < 2 ? "gpt,1,32,2," : "mosaic,1,32,2,";
        ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "row %d: %s", rows, line);
        const char *tl = line;
        for (int c = 0; c < 8; c++)
            tl = strchr(tl, ',') + 1;
        double train = strtod(tl, NULL), val = strtod(strchr(tl, ',') + 1, NULL);
        ck_assert_msg(isfinite(train) && isfinite(val) && train > 0 && val > 0 && val < log(300) + 3, "%s", line);
    }
    ck_assert_int_eq(rows, 4);
    free(out);
    free(err);

    snprintf(args, sizeof args, "generate --ckpt %s/babistories_mosaic.safetensors --prompt 'Once upon' --max-tokens 5", dir);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "Once upon", 9), 0);
    free(out);
    free(err);

    char text[1100];
    snprintf(text, sizeof text, "%s/t.txt", dir);
    FILE *f = fopen(text, "w");
    fputs("Lily had a red ball. She liked the ball.\n", f);
    fclose(f);
    snprintf(args, sizeof args, "score --ckpt %s/babistories_gpt.safetensors --text %s", dir, text);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "position,token,loss\n1,", 22), 0);
    double loss = strtod(strrchr(last_row(out), ',') + 1, NULL);
    ck_assert(isfinite(loss) && loss > 0);
    free(out);
    free(err);

    /* ood: both checkpoints on a text of several windows (ctx 64): 64 positions each */
    f = fopen(text, "w");
    for (int i = 0; i < 60; i++)
        fprintf(f, "Section %d. The licensee shall convey the covered work under these terms.\n", i);
    fclose(f);
    snprintf(args, sizeof args, "ood --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors --text %s",
             dir, dir, text);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "arch,checkpoint,position,mean_loss,n\ngpt,", 41), 0);
    int n = 0;
    for (char *line = strchr(out, '\n') + 1; *line; line = strchr(line, '\n') + 1, n++) {
        double l = strtod(strchr(strchr(strchr(line, ',') + 1, ',') + 1, ',') + 1, NULL);
        ck_assert_msg(isfinite(l) && l > 0, "%s", line);
    }
    ck_assert_int_eq(n, 2 * 64);
    free(out);
    free(err);
    ck_assert_int_eq(bs_run("ood", NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--ckpt"));
    free(err);

    /* attention: both checkpoints, 64 positions x 2 heads each, the heads table beside it */
    snprintf(args, sizeof args, "attention --preset smoke --windows 3 --out-dir %s/att --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors",
             dir, dir, dir);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "arch,pos,layer,head,offset,weight,ctx,positions,checkpoint\ngpt,0,0,0,63,", 72), 0);
    n = 0;
    for (char *line = strchr(out, '\n') + 1; *line; line = strchr(line, '\n') + 1)
        n++;
    ck_assert_int_eq(n, 2 * 2 * 64);
    free(out);
    free(err);
    snprintf(text, sizeof text, "%s/att/attention_heads.csv", dir);
    char *heads = test_slurp(text);
    ck_assert_ptr_nonnull(heads);
    ck_assert_ptr_nonnull(strstr(heads, "leaky_coef,peak_width,share_pos0,share_last8\ngpt,learned,64,"));
    ck_assert_ptr_nonnull(strstr(heads, "\nmosaic,none,64,"));
    free(heads);
    /* 3x the context: the mosaic reads 192 positions; the learned-position gpt refuses */
    snprintf(args, sizeof args, "attention --preset smoke --windows 2 --ctx-mult 3 --out-dir %s/att3 --ckpt %s/babistories_mosaic.safetensors",
             dir, dir);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\nmosaic,191,0,0,0,0,192,none,"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "attention --preset smoke --ctx-mult 3 --out-dir %s/att3b --ckpt %s/babistories_gpt.safetensors",
             dir, dir);
    ck_assert_int_eq(bs_run(args, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "learned positions for 64 tokens and cannot read 192"));
    free(err);

    /* compare: two prompts from a file, side by side */
    snprintf(text, sizeof text, "%s/prompts.txt", dir);
    f = fopen(text, "w");
    fputs("Once upon a time\n\nTom had a | dog\n", f);
    fclose(f);
    snprintf(args, sizeof args, "compare --prompts %s --max-tokens 4 --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors",
             text, dir, dir);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "| # | prompt | gpt (", 20), 0);
    ck_assert_ptr_nonnull(strstr(out, "\n| 1 | Once upon a time | ..."));
    ck_assert_ptr_nonnull(strstr(out, "\n| 2 | Tom had a \\| dog | ..."));
    free(out);
    free(err);
    snprintf(args, sizeof args, "compare --format csv --prompts %s --max-tokens 4 --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors",
             text, dir, dir);
    ck_assert_int_eq(bs_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "prompt_id,prompt,arch,checkpoint,continuation\n1,Once upon a time,gpt,", 69), 0);
    free(out);
    free(err);
    snprintf(args, sizeof args, "compare --ckpt %s/babistories_gpt.safetensors", dir);
    ck_assert_int_eq(bs_run(args, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "exactly two checkpoints"));
    free(err);
    test_rmdir(dir);
}
END_TEST

/* Stopping after step 7 and resuming gives the uninterrupted run's losses (dropout on: its masks
 * and the data windows are functions of the step). */
START_TEST(test_resume_is_exact)
{
    char *dir = test_tmpdir(), args[2048], *full, *part, *resumed;
    snprintf(args, sizeof args, "--preset smoke --arch mosaic --dropout 0.1 --out-dir %s/a", dir);
    ck_assert_int_eq(bs_run(args, &full, NULL), 0);
    snprintf(args, sizeof args, "--preset smoke --arch mosaic --dropout 0.1 --out-dir %s/b --stop-at 7", dir);
    ck_assert_int_eq(bs_run(args, &part, NULL), 0);
    ck_assert_str_eq(part, header);
    snprintf(args, sizeof args, "--preset smoke --arch mosaic --dropout 0.1 --out-dir %s/b --resume %s/b/babistories_mosaic.safetensors",
             dir, dir);
    ck_assert_int_eq(bs_run(args, &resumed, NULL), 0);
    ck_assert_str_eq(full, resumed);
    /* the checkpoint is a mosaic of d 32: resuming it as a gpt, or wider, is refused */
    char *err;
    snprintf(args, sizeof args, "--preset smoke --arch gpt --out-dir %s/b --resume %s/b/babistories_mosaic.safetensors", dir, dir);
    ck_assert_int_eq(bs_run(args, NULL, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "another architecture"));
    free(err);
    snprintf(args, sizeof args, "--preset smoke --d 64 --out-dir %s/b --resume %s/b/babistories_mosaic.safetensors", dir, dir);
    ck_assert_int_eq(bs_run(args, NULL, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "shape differs"));
    free(err);
    free(full);
    free(part);
    free(resumed);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_dump_corpus)
{
    char *out, *err;
    ck_assert_int_eq(bs_run("--dump-corpus 3", &out, &err), 0);
    int n = 0;
    for (char *p = out; (p = strstr(p, "\n<|endoftext|>\n")); p++)
        n++;
    ck_assert_int_eq(n, 3);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_bad_input)
{
    char *dir = test_tmpdir(), *mlp = test_fixture("mlp.safetensors.gz"), empty[1100];
    snprintf(empty, sizeof empty, "%s/empty.txt", dir);
    fclose(fopen(empty, "w"));
    bad_input_case cases[] = {
        {"generate --ckpt /nonexistent.safetensors", 1, "/nonexistent.safetensors"},
        {"", 1, "not a memlab language-model checkpoint"},
        {"", 1, "empty.txt"},
        {"--d 100 --heads 3 --preset smoke", 2, "--d 100 is not divisible by --heads 3"},
        {"generate", 2, "--ckpt"},
        {"fly", 2, "unknown action 'fly'"},
        {"--preset smoke --dtype bf16", 2, "--dtype bf16 needs --device cuda"},
        {"--preset smoke --device tpu", 2, "--device"},
    };
    snprintf(cases[1].args, sizeof cases[1].args, "generate --ckpt %s", mlp);
    snprintf(cases[2].args, sizeof cases[2].args, "--preset smoke --data %s --out-dir %s/out", empty, dir);
    expect_bad_inputs("babistories --threads 1 --quiet", cases, sizeof cases / sizeof *cases);
    test_fixture_done(mlp);
    test_rmdir(dir);
}
END_TEST

/* --device cuda where no GPU can be used (hidden here, so that a machine with one tests the same
 * path): one line, exit 2, before anything is written (a build without CUDA says so instead). */
START_TEST(test_device_unavailable)
{
    char *dir = test_tmpdir(), cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, "CUDA_VISIBLE_DEVICES= %s babistories --preset smoke --device cuda --quiet --out-dir %s/run",
             test_memlab_bin(), dir);
    ck_assert_int_eq(test_run(cmd, &out, &err), 2);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strncmp(err, "memlab: babistories: --device cuda: ", 36) == 0 && strchr(err, '\n') == err + strlen(err) - 1,
                  "%s", err);
    ck_assert_msg(strstr(err, "built without CUDA") || strstr(err, "no usable GPU"), "%s", err);
    snprintf(cmd, sizeof cmd, "test -e %s/run", dir);
    ck_assert_int_ne(test_run(cmd, NULL, NULL), 0);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

Suite *suite_babistories(void)
{
    Suite *s = suite_create("babistories");
    TCase *tc = tcase_create("command");
    tcase_add_test(tc, test_train_generate_score);
    tcase_add_test(tc, test_resume_is_exact);
    tcase_add_test(tc, test_dump_corpus);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_device_unavailable);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
