/* Encoding arbitrary bytes with a trained tokenizer: the pre-tokens cover the text, and decoding
 * gives the bytes back (invalid UTF-8 and "<|endoftext|>" included). */
#include <stdlib.h>
#include <string.h>

#include "bpe_check.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t covered = 0;
    while (covered < size) {
        size_t n = bpe_pretoken_len(text + covered, size - covered);
        if (n == 0 || n > size - covered)
            fuzz_fail("pre-token of %zu bytes at %zu of %zu", n, covered, size);
        covered += n;
    }
    bpe_check(bpe_check_tokenizer(), text, size);
    return 0;
}
