/* The token corpus of the language-model commands (babistories, copy, blank-copy,
 * memory-inversion): stories (a real corpus or memlab's generator) -> tokenizer (trained, GPT-2's or
 * saved) -> one token stream per split, each story followed by <|endoftext|>, as the Memory Mosaics
 * code prepares BabiStories; training windows are random crops of the stream that may cross story
 * boundaries. */
#ifndef MEMLAB_DATA_TOKEN_CORPUS_H
#define MEMLAB_DATA_TOKEN_CORPUS_H

#include <stdio.h>

#include "core/rng.h"
#include "data/bpe.h"
#include "io/sha256.h"

/* memlab's generated corpus is the same whatever --seed (which varies initialisation and order). */
#define CORPUS_SEED 1
/* Generated validation stories are taken far from the training indices. */
#define CORPUS_VAL_FIRST (1ULL << 40)
/* A trained tokenizer learns its merges on at most this many training stories. */
#define CORPUS_TOKENIZER_STORIES 5000

typedef struct {
    int *ids;
    size_t n;
} token_stream;

typedef struct {
    token_stream train, val;
    int vocab;
    bpe *tok;
    char tokenizer_ref[4096];   /* "gpt2" or the tokenizer file, recorded in checkpoints */
    char *tokenizer_json;       /* the tokenizer as bpe_save writes it: checkpoints carry it */
    char tokenizer_sha256[SHA256_HEX_LEN + 1];   /* sha256 of tokenizer_json (what sha256sum prints for tokenizer.json) */
} token_corpus;

/* The checkpoint metadata that carries the corpus's tokenizer, for an initialiser of key, value
 * pairs (nn/lm_ckpt.h's `extra`): its name (informative), the tokenizer itself and its hash, which
 * every reader checks (tokenizer_for_ckpt; docs/babistories.md, "Checkpoints"). */
#define TOKEN_CORPUS_CKPT_META(bd)                                                                   \
    "tokenizer", (bd)->tokenizer_ref, CKPT_TOKENIZER_JSON, (bd)->tokenizer_json, CKPT_TOKENIZER_SHA256, \
        (bd)->tokenizer_sha256
#define CKPT_TOKENIZER_JSON "tokenizer_json"
#define CKPT_TOKENIZER_SHA256 "tokenizer_sha256"

typedef struct {
    const char *data;          /* NULL: the generator */
    long long stories, val_stories;
    double val_fraction;
    const char *tokenizer;     /* "train", "gpt2" or a file */
    int vocab_size;
    const char *vocab_dir;
    long long seed;
    const char *out_dir;       /* a trained tokenizer is saved here as tokenizer.json */
    size_t window;             /* both splits must hold an input of this many tokens and its next
                                  one, checked before anything is written (0: any length) */
    int quiet;
    const char *command;       /* the command named in log lines; NULL: "memlab" */
} token_corpus_opts;

/* The two streams; a tokenizer trained here is saved in op->out_dir once they passed op->window's
 * check ("the corpus is too small for inputs of N tokens (...)"), so a failed load writes nothing.
 * 0, or -1 with a message. */
int token_corpus_load(token_corpus *bd, const token_corpus_opts *op, err_t *e);
void token_corpus_free(token_corpus *bd);
/* The validation stream alone, encoded with a given tokenizer (a checkpoint's); op->tokenizer and
 * op->out_dir are not used. 0, or -1 with a message. */
int token_corpus_val(const token_corpus_opts *op, bpe *tok, token_stream *val, err_t *e);

/* token_corpus_load, except that with a checkpoint (ckpt not NULL) and op->tokenizer "train" the
 * checkpoint's own tokenizer is used (tokenizer_for_ckpt), saved as save_as (once the streams
 * passed op->window's check) so that the results record it; with another --tokenizer, it must be the checkpoint's (the same sha256):
 * "--tokenizer X is not the tokenizer CKPT was trained with". */
int token_corpus_load_for_ckpt(token_corpus *bd, const token_corpus_opts *op, const char *ckpt, const char *save_as, err_t *e);


/* B windows of T inputs and their T next-token targets, starting uniformly over the stream. */
void token_stream_windows(const token_stream *s, rng *r, int B, int T, int *ids, int *targets);

/* The tokenizer a checkpoint was trained with: the one it carries, checked against the sha256 it
 * records ("CKPT: its tokenizer does not match the sha256 it records"). A checkpoint written before
 * checkpoints carried their tokenizer names it instead: "gpt2" (needs vocab_dir) or a file, looked
 * up as recorded and then beside the checkpoint, with a note on stderr (unless quiet) that it is
 * unchecked. */
bpe *tokenizer_for_ckpt(const char *ckpt, const char *vocab_dir, int quiet, err_t *e);

/* The first n generated training stories in the TinyStories format. */
void token_corpus_dump_stories(uint64_t n, FILE *f);

#endif
