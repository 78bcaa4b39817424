/* GPT-2's two files (bpe_load_gpt2) on arbitrary bytes: the input up to its first NUL is
 * encoder.json (JSON holds no NUL), the rest vocab.bpe. An error, or a tokenizer that passes
 * bpe_check. */
#include <string.h>

#include "bpe_check.h"
#include "util.h"

static const char sample[] = "Hello world! It's 2019.<|endoftext|> \xe4\xb8\xad\xe6\x96\x87\x80";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t first = nul ? (size_t)(nul - data) : size;
    fuzz_file("encoder.json", data, first);
    fuzz_file("vocab.bpe", nul ? nul + 1 : data + size, nul ? size - first - 1 : 0);
    err_t e;
    bpe *t = bpe_load_gpt2(fuzz_dir(), &e);
    if (t) {
        bpe_check(t, sample, sizeof sample - 1);
        bpe_free(t);
    }
    return 0;
}
