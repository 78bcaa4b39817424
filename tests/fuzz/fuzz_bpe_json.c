/* Tokenizer files as bpe_save writes them (bpe_load) on arbitrary bytes: an error, or a tokenizer
 * that passes bpe_check and saves to a file that loads again with the same vocabulary and merges. */
#include <stdio.h>
#include <string.h>

#include "bpe_check.h"
#include "util.h"

static const char sample[] = "Once upon a time, Tom's cat ran 42 km.<|endoftext|>\xff\xfe \xc3\xa9t\xc3\xa9!\n\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("tok.json", data, size);
    err_t e;
    bpe *t = bpe_load(path, &e);
    if (!t)
        return 0;
    bpe_check(t, sample, sizeof sample - 1);
    char out[600];
    snprintf(out, sizeof out, "%s/saved.json", fuzz_dir());
    if (bpe_save(t, out, &e) != 0)
        fuzz_fail("%s", e.msg);
    bpe *back = bpe_load(out, &e);
    if (!back)
        fuzz_fail("a saved tokenizer does not load: %s", e.msg);
    if (bpe_vocab_size(back) != bpe_vocab_size(t) || bpe_merge_count(back) != bpe_merge_count(t) ||
        bpe_eot(back) != bpe_eot(t))
        fuzz_fail("a saved tokenizer loads with another vocabulary");
    bpe_free(back);
    bpe_free(t);
    remove(out);
    return 0;
}
