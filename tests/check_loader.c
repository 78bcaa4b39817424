/* The Python loader (python/memlab_torch.py) against the binary: for smoke checkpoints of every
 * option a checkpoint can hold (gpt positions learned, none, rope, alibi; bias; both GELUs; both
 * mosaic variants), the loader and `memlab babistories score` tokenize the same text to the same
 * ids and give every token the same loss within 1e-4 nats; and the loader's forward matches the
 * twin fixtures. Skipped with a message when /usr/bin/python3 lacks torch. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define LOADER_TOL 1e-4

static int have_torch(void)
{
    if (test_run("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1", NULL, NULL) == 0)
        return 1;
    fprintf(stderr, "check_loader: /usr/bin/python3 lacks torch or numpy: skipping the Python loader's test\n");
    return 0;
}

/* A text of a few hundred tokens, longer than the smoke context (64): several windows, with
 * contractions, digits, runs of spaces and tabs, non-ASCII letters and the special token. */
static void write_text(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 6; i++)
        fprintf(f, "Lily had a red ball. She liked the ball.\nOnce upon a time, there was a girl named Mia. "
                   "She'd play outside %d times!<|endoftext|> Tom's dog   ran... \"Wow,\" said Ben. "
                   "Caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\t\ttabs  \n\n  end ",
                i * 7);
    fclose(f);
}

/* The next line of a CSV text (advances *at); NULL at the end. */
static char *next_line(char **at)
{
    if (!**at)
        return NULL;
    char *line = *at, *nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    *at = nl + 1;
    return line;
}

/* Trains a smoke checkpoint with `opts` into dir/name and compares the two scores of text. */
static void compare(const char *dir, const char *name, const char *arch, const char *opts, const char *text)
{
    char cmd[8192], ckpt[4200], *mem, *py, *err;
    snprintf(cmd, sizeof cmd, "%s babistories --threads 1 --quiet --preset smoke --steps 10 --eval-every 10 --arch %s "
                              "%s --out-dir %s/%s >/dev/null", test_memlab_bin(), arch, opts, dir, name);
    ck_assert_msg(test_run(cmd, NULL, &err) == 0, "%s: %s", cmd, err);
    free(err);
    snprintf(ckpt, sizeof ckpt, "%s/%s/babistories_%s.safetensors", dir, name, arch);
    snprintf(cmd, sizeof cmd, "%s babistories score --threads 1 --quiet --ckpt %s --text %s", test_memlab_bin(), ckpt,
             text);
    ck_assert_msg(test_run(cmd, &mem, &err) == 0, "%s: %s", cmd, err);
    free(err);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 python/memlab_torch.py score %s %s", ckpt, text);
    ck_assert_msg(test_run(cmd, &py, &err) == 0, "%s: %s", cmd, err);
    free(err);
    char *a = mem, *b = py, *la, *lb;
    int rows = 0;
    double worst = 0;
    ck_assert_str_eq(next_line(&a), "position,token,loss");
    ck_assert_str_eq(next_line(&b), "position,token,loss");
    while ((la = next_line(&a)) && (lb = next_line(&b))) {
        long pa, ta, pb, tb;
        double xa, xb;
        ck_assert_int_eq(sscanf(la, "%ld,%ld,%lf", &pa, &ta, &xa), 3);
        ck_assert_int_eq(sscanf(lb, "%ld,%ld,%lf", &pb, &tb, &xb), 3);
        ck_assert_msg(pa == pb && ta == tb, "%s: memlab row '%s', loader row '%s'", name, la, lb);
        ck_assert_msg(fabs(xa - xb) <= LOADER_TOL, "%s: position %ld: memlab %.9g, loader %.9g", name, pa, xa, xb);
        worst = fmax(worst, fabs(xa - xb));
        rows++;
    }
    ck_assert_msg(!la && !next_line(&b), "%s: the two scores have different lengths", name);
    ck_assert_msg(rows > 300, "%s: only %d tokens scored", name, rows);
    fprintf(stderr, "check_loader: %s: %d tokens, largest difference %.2g nats\n", name, rows, worst);
    free(mem);
    free(py);
}

START_TEST(test_loader_matches_memlab)
{
    if (!have_torch())
        return;
    char *dir = test_tmpdir(), text[4200];
    snprintf(text, sizeof text, "%s/text.txt", dir);
    write_text(text);
    compare(dir, "gpt", "gpt", "", text);
    compare(dir, "gpt_rope_tanh_bias", "gpt", "--pos rope --gelu tanh --bias on", text);
    compare(dir, "gpt_alibi", "gpt", "--pos alibi", text);
    compare(dir, "gpt_none", "gpt", "--pos none", text);
    compare(dir, "mosaic", "mosaic", "", text);
    compare(dir, "mosaic_nano_bias", "mosaic", "--mosaic-variant nano --bias on", text);

    /* decode(encode(bytes)) gives the bytes back, invalid UTF-8 included */
    char cmd[8192], *out, *err;
    FILE *f = fopen(text, "ab");
    fputs("\xff\xfe broken \xc3 bytes", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import sys; sys.path.insert(0, 'python'); import memlab_torch as m; "
             "t = m.load('%s/gpt/babistories_gpt.safetensors').tokenizer; s = open('%s', 'rb').read(); "
             "assert t.decode_bytes(t.encode(s)) == s; print(len(t.encode(s)))\"",
             dir, text);
    ck_assert_msg(test_run(cmd, &out, &err) == 0, "%s: %s", cmd, err);
    ck_assert_int_gt(atoi(out), 300);
    free(out);
    free(err);
    /* the loader uses the tokenizer the checkpoint carries, with the run's configuration beside it, and
     * refuses it when it does not match its recorded sha256 (one hex digit changed) */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import sys; sys.path.insert(0, 'python'); import memlab_torch as m\n"
             "p = '%s/gpt/babistories_gpt.safetensors'; model = m.load(p); assert 'steps: 10' in model.run_config\n"
             "raw = open(p, 'rb').read(); h = m.read_safetensors(p)[1]['tokenizer_sha256'].encode()\n"
             "bad = raw.replace(h, (b'1' if h[:1] == b'0' else b'0') + h[1:]); open(p + '.bad', 'wb').write(bad)\n"
             "try:\n m.load(p + '.bad')\nexcept ValueError as e:\n print(e)\"",
             dir);
    ck_assert_msg(test_run(cmd, &out, &err) == 0, "%s: %s", cmd, err);
    ck_assert_msg(strstr(out, "does not match the sha256 it records") != NULL, "%s", out);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* The loader's forward against the twin fixtures, with the power to tell the GELUs and mosaic
 * variants apart (tests/reference/loader_vs_twin.py). */
START_TEST(test_loader_matches_twin)
{
    if (!have_torch())
        return;
    char *out, *err;
    int rc = test_run("/usr/bin/python3 tests/reference/loader_vs_twin.py", &out, &err);
    ck_assert_msg(rc == 0, "loader_vs_twin.py:\n%s%s", out, err);
    ck_assert_msg(strstr(out, "lm_gpt_tanh.safetensors.gz logits") && strstr(out, "capped.logits"), "%s", out);
    free(out);
    free(err);
}
END_TEST

Suite *suite_loader(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("python");
    tcase_set_timeout(tc, 300);   /* six trainings, twelve scores, seven Python starts (torch's import) */
    tcase_add_test(tc, test_loader_matches_memlab);
    tcase_add_test(tc, test_loader_matches_twin);
    suite_add_tcase(s, tc);
    return s;
}
