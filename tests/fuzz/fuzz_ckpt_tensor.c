/* One tensor out of an arbitrary safetensors file (ckpt_read_tensor): an error, or a tensor whose
 * element count is the product of its shape. */
#include "core/tensor.h"
#include "util.h"
#include "io/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"t", "embed.w", "optim.m.embed.w", "__metadata__"};
    const char *path = fuzz_file("t.safetensors", data, size);
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        err_t e;
        tensor *t = ckpt_read_tensor(path, names[k], &e);
        if (!t)
            continue;
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->shape[d];
        if (n != t->n)
            fuzz_fail("tensor '%s': %zu elements for its shape, %zu held", names[k], n, t->n);
        volatile real last = t->data[t->n - 1];   /* every element readable */
        (void)last;
        tensor_free(t);
    }
    return 0;
}
