/* The JSON reader (lib/io/json.c) on arbitrary bytes: a parse either fails with a message or gives
 * a tree whose strings hold no NUL and whose numbers read as json_uint says. */
#include <string.h>

#include "util.h"
#include "io/json.h"

static void walk(const json_value *v, int depth)
{
    if (depth > 64)
        fuzz_fail("nesting of %d levels was accepted", depth);
    uint64_t u;
    switch (v->type) {
    case JSON_STRING:
        (void)strlen(v->text);
        break;
    case JSON_NUMBER:
        if (json_uint(v, &u) == 0 && (v->text[0] == '-' || strpbrk(v->text, ".eE")))
            fuzz_fail("json_uint took '%s'", v->text);
        break;
    case JSON_OBJECT:
        for (int i = 0; i < v->n; i++)
            if (json_get(v, v->keys[i]) == NULL)
                fuzz_fail("key '%s' not found in its object", v->keys[i]);
        /* fall through */
    case JSON_ARRAY:
        for (int i = 0; i < v->n; i++)
            walk(&v->items[i], depth + 1);
        break;
    case JSON_NULL:
    case JSON_BOOL:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_value v;
    err_t e;
    if (json_parse((const char *)data, size, &v, &e) == 0) {
        walk(&v, 0);
        json_free(&v);
    } else if (!e.msg[0] || strchr(e.msg, '\n')) {
        fuzz_fail("bad message '%s'", e.msg);
    }
    return 0;
}
