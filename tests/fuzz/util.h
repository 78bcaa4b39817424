/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c, built by `make fuzz`): the readers under
 * test take paths, so each input is written to a file first. A harness reports a broken promise
 * (a round trip that does not hold) through fuzz_fail, which aborts: libFuzzer then saves the
 * input as a crash like any sanitizer finding. */
#ifndef MEMLAB_FUZZ_UTIL_H
#define MEMLAB_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A private folder for this process's files (in /dev/shm when it exists), made on first use. */
const char *fuzz_dir(void);
/* Writes data to fuzz_dir()/name and returns that path (valid until the next call). */
const char *fuzz_file(const char *name, const void *data, size_t size);
/* Prints "fuzz: <message>" on stderr and aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
