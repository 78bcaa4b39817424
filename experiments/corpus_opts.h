/* The token-corpus options shared by every command that trains a language model on stories
 * (babistories, copy, blank-copy, memory-inversion): one struct, one macro for the option-table
 * rows, one conversion to the corpus loader's options (data/token_corpus.h). */
#ifndef MEMLAB_EXPERIMENTS_CORPUS_OPTS_H
#define MEMLAB_EXPERIMENTS_CORPUS_OPTS_H

#include "data/token_corpus.h"
#include "driver.h"

typedef struct {
    char *data, *tokenizer, *vocab_dir;
    long long stories, val_stories, vocab_size;
    double val_fraction;
} corpus_opts;

/* Rows for an opt_spec table; `o` is a corpus_opts lvalue. The commands differ only in what
 * --tokenizer train means to them (TOKENIZER_HELP) and in the size of a trained BPE. */
#define CORPUS_OPTION_ROWS(o, TOKENIZER_HELP, VOCAB_SIZE, VOCAB_SIZE_HELP)                                          \
    {"data", 0, OPT_STRING, &(o).data, NULL, "story corpus: TinyStories/BabiStories text (stories separated by <|endoftext|> lines) or JSON lines with a text/story field, .gz allowed (default: memlab's story generator)", NULL, 0, -1, "PATH"}, \
    {"stories", 0, OPT_INT, &(o).stories, "20000", "generated training stories (without --data)", NULL, 1, 1e9, "N"}, \
    {"val-stories", 0, OPT_INT, &(o).val_stories, "500", "generated validation stories (without --data)", NULL, 1, 1e8, "N"}, \
    {"val-fraction", 0, OPT_DOUBLE, &(o).val_fraction, "0.01", "share of a --data corpus held out for validation (by story)", NULL, 1e-6, 0.5, "F"}, \
    {"tokenizer", 0, OPT_STRING, &(o).tokenizer, "train", TOKENIZER_HELP, NULL, 0, -1, "T"},                        \
    {"vocab-size", 0, OPT_INT, &(o).vocab_size, VOCAB_SIZE, VOCAB_SIZE_HELP, NULL, 257, 1 << 20, "N"},               \
    {"vocab-dir", 0, OPT_STRING, &(o).vocab_dir, NULL, "folder holding GPT-2's encoder.json and vocab.bpe (--tokenizer gpt2)", NULL, 0, -1, "DIR"}

/* The loader's options for the driver's run: its seed, --out-dir (a trained tokenizer is saved
 * there), --quiet and command name. */
token_corpus_opts corpus_opts_for(const corpus_opts *o, const driver *d);

#endif
