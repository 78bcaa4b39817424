/* SHA-256 (FIPS 180-4) of a byte string, as lowercase hex: what `sha256sum` prints and Python's
 * hashlib.sha256(...).hexdigest() gives, so that a checkpoint's recorded tokenizer hash can be
 * checked by memlab, by the Python loader and by hand (docs/babistories.md, "Checkpoints"). */
#ifndef MEMLAB_IO_SHA256_H
#define MEMLAB_IO_SHA256_H

#include <stddef.h>

#define SHA256_HEX_LEN 64

/* hex gets 64 hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

#endif
