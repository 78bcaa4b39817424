/* YAML configuration files: a flat mapping of key -> scalar or key -> list of scalars, read with
 * libyaml, and the writer for the resolved configuration saved beside every run's results. */
#ifndef MEMLAB_IO_CONFIG_H
#define MEMLAB_IO_CONFIG_H

#include <stdio.h>

#include "core/error.h"

typedef struct {
    char *key;
    char *value;   /* a list is joined with ',' ("[100, 500]" -> "100,500") */
    int line;      /* 1-based line of the key */
    int is_seq;    /* the value was a list */
    int is_null;   /* a plain null: "key:", "key: ~", "key: null" (value is then "") */
    int bare;      /* writing only: the value is a YAML boolean (true/false) meant as one, so it is
                      not quoted like the string "true" would be */
} config_entry;

/* Reads path (gzip allowed; at most LIMIT_CONFIG_BYTES, limits.h). An empty file has no entries.
 * Errors name the file and line:
 * "config.yaml:3: YAML syntax error: ...", "config.yaml:5: key 'x' must be a scalar or a list of
 * scalars", "config.yaml:4: duplicate key 'x' (first on line 2)". */
int config_load(const char *path, config_entry **out, int *n, err_t *e);
/* config_load of a text held in memory (a checkpoint's recorded configuration); `what` names it in
 * messages as the path would. */
int config_parse_text(const char *what, const char *text, size_t len, config_entry **out, int *n, err_t *e);
void config_free(config_entry *entries, int n);

/* Writes a flat YAML mapping, double-quoting every scalar that a YAML reader could misread (empty,
 * "yes", "null", leading indicators, ": ", " #", control characters, the line breaks U+0085, U+2028
 * and U+2029, the byte-order mark), so that every entry read by config_load is read back the same
 * (checked by the `config` fuzz harness). A NULL value or is_null is
 * written as null; is_seq values as a flow list; bare values are not quoted for being reserved
 * words. -1 if the stream reports a write error. */
int config_write_yaml(FILE *f, const config_entry *entries, int n);

#endif
