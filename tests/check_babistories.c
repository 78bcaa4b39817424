/* babistories through the real binary: a smoke training run of both architectures, exact resume,
 * generate and score from its checkpoints, the corpus dump, and bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/token_corpus.h"
#include "io/ckpt.h"
#include "io/gzfile.h"
#include "io/sha256.h"
#include "nn/lm_ckpt.h"
#include "test_util.h"

static int babistories_run(const char *args, char **out, char **err)
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
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
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
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "Once upon", 9), 0);
    free(out);
    free(err);

    char text[1100];
    snprintf(text, sizeof text, "%s/t.txt", dir);
    FILE *f = fopen(text, "w");
    fputs("Lily had a red ball. She liked the ball.\n", f);
    fclose(f);
    snprintf(args, sizeof args, "score --ckpt %s/babistories_gpt.safetensors --text %s", dir, text);
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
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
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "arch,checkpoint,position,mean_loss,n\ngpt,", 41), 0);
    int n = 0;
    for (char *line = strchr(out, '\n') + 1; *line; line = strchr(line, '\n') + 1, n++) {
        double l = strtod(strchr(strchr(strchr(line, ',') + 1, ',') + 1, ',') + 1, NULL);
        ck_assert_msg(isfinite(l) && l > 0, "%s", line);
    }
    ck_assert_int_eq(n, 2 * 64);
    free(out);
    free(err);
    ck_assert_int_eq(babistories_run("ood", NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--ckpt"));
    free(err);

    /* attention: both checkpoints, 64 positions x 2 heads each, the heads table beside it */
    snprintf(args, sizeof args, "attention --preset smoke --windows 3 --out-dir %s/att --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors",
             dir, dir, dir);
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
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
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\nmosaic,191,0,0,0,0,192,none,"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "attention --preset smoke --ctx-mult 3 --out-dir %s/att3b --ckpt %s/babistories_gpt.safetensors",
             dir, dir);
    ck_assert_int_eq(babistories_run(args, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "learned positions for 64 tokens and cannot read 192"));
    free(err);

    /* compare: two prompts from a file, side by side */
    snprintf(text, sizeof text, "%s/prompts.txt", dir);
    f = fopen(text, "w");
    fputs("Once upon a time\n\nTom had a | dog\n", f);
    fclose(f);
    snprintf(args, sizeof args, "compare --prompts %s --max-tokens 4 --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors",
             text, dir, dir);
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "| # | prompt | gpt (", 20), 0);
    ck_assert_ptr_nonnull(strstr(out, "\n| 1 | Once upon a time | ..."));
    ck_assert_ptr_nonnull(strstr(out, "\n| 2 | Tom had a \\| dog | ..."));
    free(out);
    free(err);
    snprintf(args, sizeof args, "compare --format csv --prompts %s --max-tokens 4 --ckpt %s/babistories_gpt.safetensors,%s/babistories_mosaic.safetensors",
             text, dir, dir);
    ck_assert_int_eq(babistories_run(args, &out, &err), 0);
    ck_assert_int_eq(strncmp(out, "prompt_id,prompt,arch,checkpoint,continuation\n1,Once upon a time,gpt,", 69), 0);
    free(out);
    free(err);
    snprintf(args, sizeof args, "compare --ckpt %s/babistories_gpt.safetensors", dir);
    ck_assert_int_eq(babistories_run(args, NULL, &err), 2);
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
    ck_assert_int_eq(babistories_run(args, &full, NULL), 0);
    snprintf(args, sizeof args, "--preset smoke --arch mosaic --dropout 0.1 --out-dir %s/b --stop-at 7", dir);
    ck_assert_int_eq(babistories_run(args, &part, NULL), 0);
    ck_assert_str_eq(part, header);
    snprintf(args, sizeof args, "--preset smoke --arch mosaic --dropout 0.1 --out-dir %s/b --resume %s/b/babistories_mosaic.safetensors",
             dir, dir);
    ck_assert_int_eq(babistories_run(args, &resumed, NULL), 0);
    ck_assert_str_eq(full, resumed);
    /* the checkpoint is a mosaic of d 32: resuming it as a gpt, or wider, is refused */
    char *err;
    snprintf(args, sizeof args, "--preset smoke --arch gpt --out-dir %s/b --resume %s/b/babistories_mosaic.safetensors", dir, dir);
    ck_assert_int_eq(babistories_run(args, NULL, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "another architecture"));
    free(err);
    snprintf(args, sizeof args, "--preset smoke --d 64 --out-dir %s/b --resume %s/b/babistories_mosaic.safetensors", dir, dir);
    ck_assert_int_eq(babistories_run(args, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--d 64 contradicts the checkpoint's 32"));
    free(err);
    free(full);
    free(part);
    free(resumed);
    test_rmdir(dir);
}
END_TEST

/* sha256_hex against FIPS 180-4's examples (one block, two blocks) and the empty string. */
START_TEST(test_sha256_known_answers)
{
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

/* A checkpoint stands alone: it carries the run's configuration and its tokenizer (whose sha256 is
 * that of tokenizer.json), so that moved away from its folder, with the folder gone, generate and
 * score still work; a tokenizer that does not match its recorded hash is refused; a checkpoint from
 * before (naming its tokenizer) still loads, with a note. */
START_TEST(test_checkpoint_stands_alone)
{
    char *dir = test_tmpdir(), args[8192], path[600], moved[600], *out, *err;
    snprintf(args, sizeof args, "--preset smoke --arch gpt --steps 10 --out-dir %s/run", dir);
    ck_assert_int_eq(babistories_run(args, NULL, NULL), 0);
    snprintf(path, sizeof path, "%s/run/tokenizer.json", dir);
    char *tok = test_slurp(path), want[SHA256_HEX_LEN + 1];
    ck_assert_ptr_nonnull(tok);
    sha256_hex(tok, strlen(tok), want);
    snprintf(path, sizeof path, "%s/run/babistories_gpt.safetensors", dir);
    err_t e;
    ckpt_meta *md = ckpt_meta_read(path, &e);
    ck_assert_ptr_nonnull(md);
    ck_assert_str_eq(ckpt_meta_get(md, CKPT_TOKENIZER_JSON), tok);
    ck_assert_str_eq(ckpt_meta_get(md, CKPT_TOKENIZER_SHA256), want);
    const char *cfg = ckpt_meta_get(md, "config");
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_nonnull(strstr(cfg, "\nsteps: 10\n"));
    ck_assert_ptr_nonnull(strstr(cfg, "\nd: 32\n"));
    ck_assert_ptr_nonnull(strstr(cfg, "\npreset: smoke\n"));
    ckpt_meta_free(md);
    free(tok);

    /* moved, its folder removed, used from another working directory */
    snprintf(moved, sizeof moved, "%s/elsewhere.safetensors", dir);
    ck_assert_int_eq(rename(path, moved), 0);
    snprintf(args, sizeof args, "rm -r %s/run", dir);
    ck_assert_int_eq(test_run(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "cd / && %s babistories generate --quiet --threads 1 --ckpt %s --prompt 'Once upon' --max-tokens 5",
             test_memlab_bin(), moved);
    ck_assert_msg(test_run(args, &out, &err) == 0, "%s", err);
    ck_assert_int_eq(strncmp(out, "Once upon", 9), 0);
    free(out);
    free(err);

    /* one hex digit of the recorded hash changed: refused by generate and score, in one line */
    char *bytes;
    size_t len;
    bytes = file_read_all(moved, &len, &e);
    ck_assert_ptr_nonnull(bytes);
    char *h = memmem(bytes, len, want, SHA256_HEX_LEN);
    ck_assert_ptr_nonnull(h);
    h[0] = h[0] == '0' ? '1' : '0';
    snprintf(path, sizeof path, "%s/tampered.safetensors", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    free(bytes);
    char text[600];
    snprintf(text, sizeof text, "%s/t.txt", dir);
    f = fopen(text, "w");
    fputs("Lily had a red ball.\n", f);
    fclose(f);
    bad_input_case cases[] = {
        {"", 1, "its tokenizer does not match the sha256 it records"},
        {"", 1, "its tokenizer does not match the sha256 it records"},
    };
    snprintf(cases[0].args, sizeof cases[0].args, "generate --ckpt %s", path);
    snprintf(cases[1].args, sizeof cases[1].args, "score --ckpt %s --text %s", path, text);
    expect_bad_inputs("babistories --threads 1 --quiet", cases, 2);

    /* a checkpoint from before: no tokenizer of its own, its tokenizer named; loads with a note */
    lm m;
    ck_assert_msg(lm_ckpt_open(moved, &m, 0, &e) == 0, "%s", e.msg);
    md = ckpt_meta_read(moved, &e);
    char old_tok[600];
    snprintf(old_tok, sizeof old_tok, "%s/old_tokenizer.json", dir);
    f = fopen(old_tok, "w");
    fputs(ckpt_meta_get(md, CKPT_TOKENIZER_JSON), f);
    fclose(f);
    ckpt_meta_free(md);
    const char *old_meta[] = {"tokenizer", old_tok, NULL};
    snprintf(path, sizeof path, "%s/old.safetensors", dir);
    ck_assert_int_eq(lm_ckpt_save(path, &m, old_meta, 0, &e), 0);
    lm_free(&m);
    snprintf(args, sizeof args, "%s babistories generate --threads 1 --ckpt %s --prompt 'Once upon' --max-tokens 5",
             test_memlab_bin(), path);
    ck_assert_msg(test_run(args, &out, &err) == 0, "%s", err);
    ck_assert_int_eq(strncmp(out, "Once upon", 9), 0);
    ck_assert_ptr_nonnull(strstr(err, "predates checkpoints that carry their tokenizer"));
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* --resume takes every option from the checkpoint: `--resume CKPT` alone continues the run, into
 * the checkpoint's folder, and its curves.csv becomes the uninterrupted run's (the rows evaluated
 * after the checkpoint are not repeated). Options that contradict the checkpoint, and --steps at or
 * below its step, are refused in one line with nothing written. */
START_TEST(test_resume_takes_the_checkpoint_options)
{
    char *dir = test_tmpdir(), args[4096], path[600], *err;
    const char *run = "--preset smoke --arch gpt --eval-every 3 --ckpt-every 6";
    snprintf(args, sizeof args, "%s --out-dir %s/full", run, dir);
    ck_assert_int_eq(babistories_run(args, NULL, NULL), 0);
    /* stopped at 8: the checkpoint is at step 8, the curve holds steps 3 and 6 */
    snprintf(args, sizeof args, "%s --stop-at 8 --out-dir %s/part", run, dir);
    ck_assert_int_eq(babistories_run(args, NULL, NULL), 0);
    snprintf(path, sizeof path, "%s/part/curves.csv", dir);
    char *before = test_slurp(path);
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/part/babistories_gpt.safetensors", dir);

    bad_input_case cases[] = {
        {"", 2, "the checkpoint is at step 8: --steps 8 must be above it"},
        {"", 2, "the checkpoint is at step 8: --steps 5 must be above it"},
        {"", 2, "--lr 0.01 contradicts the checkpoint's 0.005"},
        {"", 2, "--seed 2 contradicts the checkpoint's 1"},
        {"", 2, "--heads 4 contradicts the checkpoint's 2"},
        {"", 2, "--preset default contradicts the checkpoint's smoke"},
        {"", 1, "it holds another architecture than --arch"},
    };
    const char *extra[] = {"--steps 8", "--steps 5", "--lr 0.01", "--seed 2", "--heads 4", "--preset default",
                           "--arch mosaic"};
    for (int i = 0; i < 7; i++)
        snprintf(cases[i].args, sizeof cases[i].args, "--resume %s %s", ckpt, extra[i]);
    expect_bad_inputs("babistories --threads 1 --quiet", cases, 7);
    char *after = test_slurp(path);
    ck_assert_str_eq(before, after);   /* the refusals left the curve alone */
    free(after);

    snprintf(args, sizeof args, "--resume %s --eval-every 3", ckpt);   /* may be given again */
    ck_assert_int_eq(babistories_run(args, NULL, &err), 0);
    ck_assert_str_eq(err, "");
    free(err);
    char *whole = test_slurp(path);
    snprintf(path, sizeof path, "%s/full/curves.csv", dir);
    char *full = test_slurp(path);
    ck_assert_str_eq(whole, full);
    free(whole);
    free(full);
    free(before);
    test_rmdir(dir);
}
END_TEST

/* Ctrl-C: the run ends after the step in flight with its checkpoint, and config.yaml and the curve
 * so far (curves.csv and the -o table, written as the run goes) are on disk, with no temporary file
 * left; the curve then continues with --resume. */
START_TEST(test_interrupt_keeps_the_curve)
{
    char *dir = test_tmpdir(), cmd[8192], path[600], *out, *err;
    snprintf(cmd, sizeof cmd,
             "%s babistories --threads 1 --quiet --preset smoke --arch gpt --steps 1000000 --eval-every 2 "
             "--ckpt-every 1000000 --out-dir %s/run -o %s/table.csv & pid=$!; "
             "for i in $(seq 1200); do [ $(cat %s/run/curves.csv 2>/dev/null | wc -l) -ge 3 ] && break; sleep 0.1; done; "
             "kill -INT $pid; wait $pid; echo $?; ls -a %s/run %s | grep -c '[.]tmp[.]'",
             test_memlab_bin(), dir, dir, dir, dir, dir);
    ck_assert_int_eq(test_run(cmd, &out, &err), 1);   /* grep -c found no temporary file */
    ck_assert_msg(strcmp(out, "1\n0\n") == 0, "exit code, temporary files: %s (%s)", out, err);
    snprintf(path, sizeof path, "%s/run/curves.csv", dir);
    char *curve = test_slurp(path);
    snprintf(path, sizeof path, "%s/table.csv", dir);
    char *table = test_slurp(path);
    ck_assert_ptr_nonnull(curve);
    ck_assert_ptr_nonnull(table);
    ck_assert_str_eq(curve, table);
    ck_assert_int_eq(strncmp(curve, header, strlen(header)), 0);
    ck_assert_ptr_nonnull(strstr(curve, "\ngpt,1,32,2,"));
    snprintf(path, sizeof path, "%s/run/config.yaml", dir);
    char *cfg = test_slurp(path);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_nonnull(strstr(cfg, "\nsteps: 1000000\n"));
    snprintf(path, sizeof path, "%s/run/babistories_gpt.safetensors", dir);
    char *ckpt = test_slurp(path);
    ck_assert_ptr_nonnull(ckpt);
    free(ckpt);
    free(cfg);
    free(curve);
    free(table);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_dump_corpus)
{
    char *out, *err;
    ck_assert_int_eq(babistories_run("--dump-corpus 3", &out, &err), 0);
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

Suite *suite_babistories(void)
{
    Suite *s = suite_create("babistories");
    TCase *tc = tcase_create("command");
    tcase_add_test(tc, test_train_generate_score);
    tcase_add_test(tc, test_resume_is_exact);
    tcase_add_test(tc, test_sha256_known_answers);
    tcase_add_test(tc, test_checkpoint_stands_alone);
    tcase_add_test(tc, test_resume_takes_the_checkpoint_options);
    tcase_add_test(tc, test_interrupt_keeps_the_curve);
    tcase_add_test(tc, test_dump_corpus);
    tcase_add_test(tc, test_bad_input);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
