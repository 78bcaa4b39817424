#include "bpe_check.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

const char bpe_check_corpus[] =
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her red ball.\n"
    "One day, Lily saw a big dog. \"Hello, dog!\" she said. The dog wagged its tail and ran to her.\n"
    "<|endoftext|>\n"
    "Tom and Sam were friends. They liked to build towers with blocks. Tom's tower was tall; Sam's was taller.\n"
    "\"Let's share,\" said Tom. They shared the blocks and built 3 towers, 42 cm high. The end.\n"
    "<|endoftext|>\n"
    "A cat sat on a mat. The cat was happy. It purred and purred until the sun went down, and then it slept.\n";

bpe *bpe_check_tokenizer(void)
{
    static bpe *t;
    if (!t)
        t = bpe_train(bpe_check_corpus, strlen(bpe_check_corpus), 500, NULL, NULL);
    return t;
}

static void round_trip(bpe *t, const char *text, size_t len, int special)
{
    bpe_ids ids = {0};
    if (special)
        bpe_encode(t, text, len, &ids);
    else
        bpe_encode_ordinary(t, text, len, &ids);
    size_t back_len;
    err_t e;
    char *back = bpe_decode(t, ids.ids, ids.n, &back_len, &e);
    if (!back)
        fuzz_fail("decoding an encoding failed: %s", e.msg);
    if (back_len != len || memcmp(back, text, len))
        fuzz_fail("%zu bytes encoded (special %d) decode to %zu other bytes", len, special, back_len);
    free(back);
    free(ids.ids);
}

void bpe_check(bpe *t, const char *text, size_t len)
{
    int n = bpe_vocab_size(t);
    for (int id = 0; id < n; id++) {
        size_t tl;
        const char *s = bpe_token_bytes(t, id, &tl);
        if (!s || tl == 0)
            fuzz_fail("token %d of %d has no bytes", id, n);
        volatile char first = s[0], last = s[tl - 1];
        (void)first, (void)last;
    }
    round_trip(t, text, len, 1);
    round_trip(t, text, len, 0);
}
