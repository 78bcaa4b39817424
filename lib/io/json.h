/* A small JSON reader, just enough for safetensors headers: objects, arrays, strings (with every
 * escape, \uXXXX and surrogate pairs included), numbers, true, false, null. Built for untrusted
 * input: bounded nesting, every byte checked, errors reported with their byte offset. */
#ifndef MEMLAB_IO_JSON_H
#define MEMLAB_IO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int boolean;          /* JSON_BOOL */
    char *text;           /* JSON_STRING: decoded (UTF-8, no NUL inside); JSON_NUMBER: as written */
    json_value *items;    /* JSON_ARRAY elements, JSON_OBJECT values */
    char **keys;          /* JSON_OBJECT keys, parallel to items */
    int n, cap;
};

/* Parses text[0, len) (NULs inside are errors) into *out. -1 with e = "<what> at byte N". */
int json_parse(const char *text, size_t len, json_value *out, err_t *e);
void json_free(json_value *v);
/* The value of key in an object, or NULL (also when v is not an object). */
const json_value *json_get(const json_value *v, const char *key);
/* A number written as a plain non-negative integer that fits in uint64: 0, else -1. */
int json_uint(const json_value *v, uint64_t *out);

#endif
