/* The safetensors header reader (lib/io/ckpt.c) on arbitrary files: the metadata, and loads into a
 * small parameter store with and without the optimizer's moments. A failed load must leave the
 * store as it was. */
#include <string.h>

#include "core/params.h"
#include "util.h"
#include "io/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static param_store ps;
    static int ready;
    if (!ready) {
        params_init(&ps);
        params_declare(&ps, "embed.w", 2, (int[]){2, 3}, 1);
        params_declare(&ps, "b", 1, (int[]){2}, 0);
        params_alloc(&ps);
        ready = 1;
    }
    const char *path = fuzz_file("h.safetensors", data, size);
    err_t e;
    ckpt_meta *m = ckpt_meta_read(path, &e);
    if (m) {
        for (int i = 0; i < m->n; i++)
            if (!ckpt_meta_get(m, m->keys[i]))
                fuzz_fail("metadata key '%s' not found", m->keys[i]);
        ckpt_meta_free(m);
    }
    for (int with_optim = 0; with_optim < 2; with_optim++) {
        for (size_t i = 0; i < ps.total; i++)
            ps.data[i] = ps.m[i] = ps.v[i] = 7;
        if (ckpt_load(path, &ps, with_optim, &e) != 0)
            for (size_t i = 0; i < ps.total; i++)
                if (ps.data[i] != 7 || ps.m[i] != 7 || ps.v[i] != 7)
                    fuzz_fail("a failed load changed the store (%s)", e.msg);
    }
    return 0;
}
