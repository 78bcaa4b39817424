/* YAML config files (lib/io/config.c) on arbitrary bytes, and the writer's promise: whatever was
 * read, config_write_yaml writes a file that reads back as the same entries. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "io/config.h"

static void expect_same(const config_entry *a, int na, const config_entry *b, int nb, const char *path)
{
    if (na != nb)
        fuzz_fail("%d entries written, %d read back from %s", na, nb, path);
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) || strcmp(a[i].value, b[i].value) || a[i].is_seq != b[i].is_seq ||
            a[i].is_null != b[i].is_null)
            fuzz_fail("entry %d: '%s' = '%s' (seq %d, null %d) read back as '%s' = '%s' (seq %d, null %d)", i,
                      a[i].key, a[i].value, a[i].is_seq, a[i].is_null, b[i].key, b[i].value, b[i].is_seq,
                      b[i].is_null);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("c.yaml", data, size);
    config_entry *c, *back;
    int n, nback;
    err_t e;
    if (config_load(path, &c, &n, &e) != 0) {
        if (!e.msg[0] || strchr(e.msg, '\n'))
            fuzz_fail("bad message '%s'", e.msg);
        return 0;
    }
    char out[600];
    snprintf(out, sizeof out, "%s/w.yaml", fuzz_dir());
    FILE *f = fopen(out, "w");
    if (!f || config_write_yaml(f, c, n) != 0 || fclose(f) != 0)
        fuzz_fail("cannot write %s", out);
    if (config_load(out, &back, &nback, &e) != 0)
        fuzz_fail("the written config does not load: %s", e.msg);
    expect_same(c, n, back, nback, out);
    config_free(back, nback);
    config_free(c, n);
    remove(out);
    return 0;
}
