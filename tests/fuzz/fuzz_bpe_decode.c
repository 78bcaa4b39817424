/* Decoding arbitrary ids (4 bytes each, any int) with a trained tokenizer: an id outside the
 * vocabulary is an error naming it; otherwise the bytes are those of the tokens, in order. */
#include <stdlib.h>
#include <string.h>

#include "bpe_check.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bpe *t = bpe_check_tokenizer();
    size_t n = size / 4;
    int *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return 0;
    int valid = 1;
    size_t want = 0, tl;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, data + 4 * i, 4);
        /* mostly ids near the vocabulary, sometimes any int */
        ids[i] = u >> 31 ? (int)u : (int)(u % 520) - 60;
        if (ids[i] < 0 || ids[i] >= bpe_vocab_size(t))
            valid = 0;
        else
            want += (bpe_token_bytes(t, ids[i], &tl), tl);
    }
    size_t len;
    err_t e;
    char *text = bpe_decode(t, ids, n, &len, &e);
    if (!text != !valid)
        fuzz_fail("decode %s ids %s", valid ? "valid" : "invalid", text ? "succeeded" : "failed");
    if (text) {
        if (len != want)
            fuzz_fail("decoded %zu bytes, the tokens hold %zu", len, want);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const char *s = bpe_token_bytes(t, ids[i], &tl);
            if (memcmp(text + k, s, tl))
                fuzz_fail("token %zu (id %d) decoded wrong", i, ids[i]);
            k += tl;
        }
        free(text);
    } else if (!strstr(e.msg, "out of range")) {
        fuzz_fail("message '%s'", e.msg);
    }
    free(ids);
    return 0;
}
