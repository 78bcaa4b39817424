/* Story corpora (stories_read) on arbitrary files: plain text, JSON lines, a JSON array, any of
 * them gzip-compressed. Each story must keep the promise of stories.h: not empty, its length
 * that of the C string, no white space around it. */
#include <string.h>

#include "data/stories.h"
#include "util.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("corpus", data, size);
    story_set s;
    err_t e;
    if (stories_read(path, &s, NULL, &e) != 0) {
        if (!e.msg[0] || strchr(e.msg, '\n'))
            fuzz_fail("bad message '%s'", e.msg);
        return 0;
    }
    if (s.n == 0)
        fuzz_fail("a corpus without stories was accepted");
    for (size_t i = 0; i < s.n; i++) {
        size_t n = s.len[i];
        if (n == 0 || n != strlen(s.text[i]))
            fuzz_fail("story %zu: length %zu, C string of %zu", i, n, strlen(s.text[i]));
        if (is_space(s.text[i][0]) || is_space(s.text[i][n - 1]))
            fuzz_fail("story %zu has white space around it", i);
    }
    story_set_free(&s);
    return 0;
}
