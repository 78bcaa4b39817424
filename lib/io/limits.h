/* The largest inputs memlab accepts, in one place (docs/fuzzing.md lists them for users).
 *
 * Every file that is read whole into memory has a ceiling, checked while reading (gzip files are
 * measured decompressed), so that a wrong path (/dev/zero, a disk image, a gzip bomb) ends in a
 * one-line error naming the file and the limit instead of exhausting memory. Each limit is far
 * above what a real input of its kind needs; all are whole MiB, as the messages print them. */
#ifndef MEMLAB_IO_LIMITS_H
#define MEMLAB_IO_LIMITS_H

#include <stddef.h>

#define LIMIT_MIB ((size_t)1 << 20)

/* --config and --grid files (flat YAML mappings of a few hundred bytes). */
#define LIMIT_CONFIG_BYTES (1 * LIMIT_MIB)
/* One key of a --config or --grid file. Keys are option names; the bound also keeps every key the
 * writer double-quotes (at most 4 characters a byte, \xNN, and 2 quotes) inside YAML's 1024-character
 * limit on a key written as `key: value`, past which it no longer reads as a key (a fuzz finding). */
#define LIMIT_CONFIG_KEY_BYTES 200
/* Tokenizer files: a memlab tokenizer JSON, GPT-2's encoder.json and vocab.bpe (about 1 MB each
 * for a 50k vocabulary). */
#define LIMIT_TOKENIZER_BYTES (64 * LIMIT_MIB)
/* The JSON header of a safetensors checkpoint (the reference implementation's own limit). */
#define LIMIT_CKPT_HEADER_BYTES (100 * LIMIT_MIB)
/* A --data corpus (TinyStories' largest file is 2.2 GB), and any other file read whole. */
#define LIMIT_DATA_BYTES (8192 * LIMIT_MIB)
/* One line of a line-oriented corpus (a plain-text line or one JSON line: one story). */
#define LIMIT_LINE_BYTES (64 * LIMIT_MIB)

/* Points of one RegBench sweep (models x training sizes x grid): each is a training run. */
#define LIMIT_SWEEP_POINTS 100000

#endif
