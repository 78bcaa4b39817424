/* What every loaded tokenizer must do, whatever file it came from: give each id its bytes, and
 * decode the encoding of any text back to that text. Shared by the BPE harnesses. */
#ifndef MEMLAB_FUZZ_BPE_CHECK_H
#define MEMLAB_FUZZ_BPE_CHECK_H

#include <stddef.h>

#include "data/bpe.h"

/* A small English text with a few thousand words, to train the harnesses' tokenizers on. */
extern const char bpe_check_corpus[];
/* A tokenizer of 500 ids trained on it (once, kept). */
bpe *bpe_check_tokenizer(void);

/* Every id's bytes, then the round trip of text[0, len) with and without special tokens. */
void bpe_check(bpe *t, const char *text, size_t len);

#endif
