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
} token_corpus;

typedef struct {
    const char *data;          /* NULL: the generator */
    long long stories, val_stories;
    double val_fraction;
    const char *tokenizer;     /* "train", "gpt2" or a file */
    int vocab_size;
    const char *vocab_dir;
    long long seed;
    const char *out_dir;       /* a trained tokenizer is saved here as tokenizer.json */
    int quiet;
    const char *command;       /* the command named in log lines; NULL: "memlab" */
} token_corpus_opts;

int token_corpus_load(token_corpus *bd, const token_corpus_opts *op, err_t *e);
void token_corpus_free(token_corpus *bd);
/* The validation stream alone, encoded with a given tokenizer (a checkpoint's); op->tokenizer and
 * op->out_dir are not used. 0, or -1 with a message. */
int token_corpus_val(const token_corpus_opts *op, bpe *tok, token_stream *val, err_t *e);

/* token_corpus_load, except that with a checkpoint (ckpt not NULL) and op->tokenizer "train" the
 * checkpoint's own tokenizer is used (tokenizer_for_ckpt), saved first as save_as so that the
 * results record it. */
int token_corpus_load_for_ckpt(token_corpus *bd, const token_corpus_opts *op, const char *ckpt, const char *save_as, err_t *e);

/* 0 when both splits hold an input of n tokens and its next token; otherwise -1 with "the corpus is
 * too small for inputs of n tokens (...)". */
int token_corpus_check_len(const token_corpus *bd, size_t n, err_t *e);

/* B windows of T inputs and their T next-token targets, starting uniformly over the stream. */
void token_stream_windows(const token_stream *s, rng *r, int B, int T, int *ids, int *targets);

/* The tokenizer a checkpoint was trained with: "gpt2" (needs vocab_dir) or its file, looked up as
 * recorded and then beside the checkpoint. */
bpe *tokenizer_for_ckpt(const char *ckpt, const char *vocab_dir, err_t *e);

/* The first n generated training stories in the TinyStories format. */
void token_corpus_dump_stories(uint64_t n, FILE *f);

#endif
