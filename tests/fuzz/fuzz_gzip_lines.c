/* The two readers of possibly gzip-compressed files (lib/io/gzfile.c) on arbitrary bytes: reading
 * whole and reading by lines must agree (the same bytes, or both failing). */
#include <stdlib.h>
#include <string.h>

#include "io/gzfile.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("f.gz", data, size);
    err_t e;
    size_t len;
    char *all = file_read_all(path, &len, &e);
    line_reader *r = lines_open(path, &e);
    if (!r)
        fuzz_fail("lines_open: %s", e.msg);
    size_t at = 0, n;
    long long lines = 0;
    for (const char *line; (line = lines_next(r, &n));) {
        lines++;
        if (lines_lineno(r) != lines)
            fuzz_fail("line %lld numbered %lld", lines, lines_lineno(r));
        if (strlen(line) > n)
            fuzz_fail("line %lld: not terminated at its length", lines);
        if (all && (at + n > len || memcmp(all + at, line, n)))
            fuzz_fail("line %lld differs from the whole file at byte %zu", lines, at);
        at += n;
        if (all && at < len && all[at] == '\n')
            at++;
    }
    int failed = lines_close(r, &e) != 0;
    if (failed != !all)
        fuzz_fail("reading whole %s, by lines %s", all ? "worked" : "failed", failed ? "failed" : "worked");
    if (all && at != len)
        fuzz_fail("the lines hold %zu of the %zu bytes", at, len);
    free(all);
    return 0;
}
