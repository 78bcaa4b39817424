/* Names of the configuration's enumerations, as options and checkpoints spell them. */
#include "nn/lm_config.h"

#include <string.h>

static const char *const pos_names[] = {"learned", "none", "rope", "alibi"};
static const char *const gelu_names[] = {"erf", "tanh"};
static const char *const variant_names[] = {"library", "nano"};

/* Index of s in names[n], or -1. */
static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *lm_pos_name(lm_pos p) { return pos_names[p]; }
const char *lm_gelu_name(lm_gelu g) { return gelu_names[g]; }
const char *lm_mosaic_variant_name(lm_mosaic_variant v) { return variant_names[v]; }

int lm_pos_parse(const char *s, lm_pos *p)
{
    int i = name_index(s, pos_names, (int)(sizeof pos_names / sizeof pos_names[0]));
    if (i >= 0)
        *p = (lm_pos)i;
    return i >= 0 ? 0 : -1;
}

int lm_gelu_parse(const char *s, lm_gelu *g)
{
    int i = name_index(s, gelu_names, 2);
    if (i >= 0)
        *g = (lm_gelu)i;
    return i >= 0 ? 0 : -1;
}

int lm_mosaic_variant_parse(const char *s, lm_mosaic_variant *v)
{
    int i = name_index(s, variant_names, 2);
    if (i >= 0)
        *v = (lm_mosaic_variant)i;
    return i >= 0 ? 0 : -1;
}
