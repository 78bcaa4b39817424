/* Byte-level BPE identical to GPT-2's: the GPT-2 pre-tokenisation pattern (written by hand, with
 * Unicode 17 letter and number tables), the byte-to-unicode mapping of encoder.json and vocab.bpe,
 * merges applied by rank, and `<|endoftext|>` recognised as a special token in the text. Also a
 * trainer that learns merges on a corpus, so that a trained tokenizer works exactly like GPT-2's.
 *
 * Every token is a byte string, so decoding the encoding of any bytes (invalid UTF-8 included)
 * gives them back. The pre-tokeniser follows the Python `regex` module that GPT-2 used (\s is
 * Unicode White_Space); it differs from it only on bytes that are not UTF-8, which Python cannot
 * hold: each such byte counts as one character that is neither a letter, a number nor a space.
 *
 * A tokenizer caches the tokens of every word it encoded: encoding is not thread-safe. */
#ifndef MEMLAB_DATA_BPE_H
#define MEMLAB_DATA_BPE_H

#include <stddef.h>

#include "core/error.h"

typedef struct bpe bpe;

/* The only special token, and the text that stands for it. */
#define BPE_EOT_TEXT "<|endoftext|>"

/* GPT-2's files: DIR/encoder.json (token -> id) and DIR/vocab.bpe (merges, best first). Both loaders
 * refuse a file above LIMIT_TOKENIZER_BYTES (limits.h), and a vocabulary that gives a token, or
 * <|endoftext|>, two ids. */
bpe *bpe_load_gpt2(const char *dir, err_t *e);
/* A tokenizer saved by bpe_save (format in docs/tokenize.md). */
bpe *bpe_load(const char *path, err_t *e);
/* "gpt2" loads from vocab_dir (which must then be given); anything else is a bpe_save file. */
bpe *bpe_open(const char *name, const char *vocab_dir, err_t *e);
/* One JSON file: {"format": "memlab-bpe", "version": 1, "pretokenizer": "gpt2",
 * "vocab": {encoder.json's content}, "merges": [vocab.bpe's lines]}. Written atomically;
 * path "-" is stdout. */
int bpe_save(const bpe *t, const char *path, err_t *e);
/* What bpe_save writes, as a malloc'd NUL-terminated string (*len excludes the NUL): a checkpoint
 * carries its tokenizer in this form (docs/babistories.md, "Checkpoints"). */
char *bpe_to_json(const bpe *t, size_t *len);
/* bpe_load of a document held in memory (at most LIMIT_TOKENIZER_BYTES); `what` names it in
 * messages. */
bpe *bpe_from_json(const char *text, size_t len, const char *what, err_t *e);
void bpe_free(bpe *t);

int bpe_vocab_size(const bpe *t);
/* The id of <|endoftext|>. */
int bpe_eot(const bpe *t);
int bpe_merge_count(const bpe *t);
/* The bytes of token id (not NUL-terminated; <|endoftext|> for the eot), NULL when out of range. */
const char *bpe_token_bytes(const bpe *t, int id, size_t *len);

/* A growable array of token ids that the encoder appends to; free ids with free(). */
typedef struct {
    int *ids;
    size_t n, cap;
} bpe_ids;

void bpe_ids_push(bpe_ids *ids, int id);

/* Appends the tokens of text[0, len) to out; every "<|endoftext|>" in the text becomes the eot. */
void bpe_encode(bpe *t, const char *text, size_t len, bpe_ids *out);
/* The same without special tokens: "<|endoftext|>" is ordinary text. */
void bpe_encode_ordinary(bpe *t, const char *text, size_t len, bpe_ids *out);
/* The bytes of ids[0, n), malloc'd and NUL-terminated (*len excludes the NUL). NULL with e filled
 * ("token id 50257 is out of range (vocabulary of 50257)") for an id outside the vocabulary. */
char *bpe_decode(const bpe *t, const int *ids, size_t n, size_t *len, err_t *e);

/* Length in bytes (> 0) of the first pre-token of s[0, len), len > 0: GPT-2's pattern
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
size_t bpe_pretoken_len(const char *s, size_t len);

/* Called now and then while training: merges learned so far, and the most there can be. */
typedef void (*bpe_progress_fn)(void *ctx, int merges_done, int merges_max);

/* Learns a tokenizer of vocab_size ids (256 bytes + merges + <|endoftext|>, vocab_size >= 257) on
 * text: words are counted once (GPT-2 pre-tokenisation; "<|endoftext|>" separates documents and is
 * not counted), then the most frequent adjacent pair is merged, again and again, with pair counts
 * updated incrementally. Ties go to the pair whose left token's bytes, then right token's bytes,
 * come first in byte order. Stops early when no pair is left (the vocabulary is then smaller).
 * Byte tokens have GPT-2's ids; each new token takes the next id; the eot is the last id.
 * progress may be NULL. */
bpe *bpe_train(const char *text, size_t len, int vocab_size, bpe_progress_fn progress, void *ctx);

#endif
