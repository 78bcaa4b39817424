/* The built-in story generator (stories.h).
 *
 * A story is planned, then told. The plan fixes the cast (the main character, a friend, a parent),
 * the props (an object, a place, an animal, a food, an activity), where the prompt's required words
 * go, and one of six arcs (a lost object, sharing, learning a skill, rescuing an animal, making a
 * gift, exploring). The telling walks the arc beat by beat; each beat picks among sentence templates
 * whose slots name the plan's parts, so the same people and things come back, with pronouns that
 * agree and names where a pronoun would be unclear. The features switch beats on and off or pick
 * their variants. A told story is checked (required words present, 6-15 sentences, 500-1200
 * characters, quotes exactly when dialogue is asked for) and told again from the next stream when it
 * fails, so every story satisfies its prompt; the prompt itself comes from a stream of its own.
 *
 * Template language: text is copied; [a|b|c] picks one alternative (nested allowed); {slot} inserts
 * a part of the plan ({^slot} capitalised). Sentences are capitalised, quotes open with a capital, and
 * every "a" before a vowel sound becomes "an" in a last pass, so templates always write "a". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/stories.h"

#define SEED_TAG 0x53544f5249455331ULL /* "STORIES1": the generator's streams stay apart from the run's */
#define STREAMS_PER_STORY 64            /* stream 0: the prompt; 1..63: attempts at telling it */
#define MIN_CHARS 500
#define MAX_CHARS 1200
#define MIN_SENTENCES 6
#define MAX_SENTENCES 15
#define TERSE_AFTER 8                   /* attempts before a story drops its optional beats */

/* ---- growing text buffer --------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->n + n + 1 > cap)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* ---- the plan ---------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int female;
    const char *kind;            /* "girl", "boy" or an animal */
    const char *trait, *joy, *woe;
    char desc[64];               /* "kind little girl": how the story first describes them */
    int introduced;
} character;

enum { ARC_LOST, ARC_SHARE, ARC_LEARN, ARC_RESCUE, ARC_MAKE, ARC_EXPLORE, N_ARCS };

/* Where the required adjective goes. */
enum { ROLE_OBJECT, ROLE_PLACE, ROLE_ANIMAL, ROLE_FOOD, ROLE_DAY, ROLE_TRAIT, ROLE_JOY, ROLE_WOE,
       N_ROLES };

/* Props that have been named, so that a missing required word can be added before the end. */
enum { USED_O = 1, USED_P = 2, USED_C = 4, USED_D = 8, USED_V = 16 };

typedef struct {
    rng r;
    sbuf b;
    int para_pending;            /* the next sentence opens a paragraph */
    int join;                    /* the next sentence may join the last one with ", and" */
    size_t sentence_at;          /* where the last sentence began */
    int joined;                  /* expanding a joined sentence: its subject is a pronoun */
    int last_subject;            /* the last sentence opened with its subject */
    int terse;                   /* a later attempt at a story that came out too long: no extras */
    const char *join_with;       /* the joint, if not ", and " */
    int last;                    /* character last named: 0 none, 1 main, 2 friend */
    unsigned used;
    character m, f;
    const char *adult;           /* "mom", "dad", "grandma", "grandpa" */
    int adult_female;
    const story_noun *o, *p, *c, *d, *x;   /* object, place, animal, food, the verb's own object */
    const char *oadj, *padj, *cadj, *dadj, *day;
    int padj_always;
    const story_verb *v;         /* an activity (SV_ACT) */
    const story_verb *t;         /* the required verb with an object, or NULL */
    char t_role;                 /* its object: 'o', 'c', 'd', 'p', 'f' or 'x' */
    const story_noun *req_noun;
    const char *req_adj;
    int adj_role;
    unsigned feat;
    int talk, bad, arc;
    const story_opening *opening;
    const char *lesson;          /* template of the moral, for {L} */
    const char *gift, *gift_make;   /* ARC_MAKE: "cake", "bake a cake" (templates) */
    int foreshadow;              /* which set-up was planted, for its payoff */
} gen;

/* ---- picking words ------------------------------------------------------------------------------------ */

static int takes(const story_verb *v, const story_noun *n);

static int pick(gen *g, int n) { return (int)rng_below(&g->r, (uint64_t)n); }
static int chance(gen *g, double p) { return rng_uniform(&g->r) < p; }

/* A beat the story can do without: less likely the more features already add beats of their own. */
static int optional(gen *g, double p)
{
    int n = __builtin_popcount(g->feat);
    return !g->terse && chance(g, p * (1.0 - 0.18 * n));
}

static const char *adj_with(rng *r, unsigned tag)
{
    const story_words *w = stories_words();
    int count = 0;
    for (int i = 0; i < w->n_adjectives; i++)
        count += (w->adjectives[i].tags & tag) != 0;
    int k = (int)rng_below(r, (uint64_t)count);
    for (int i = 0; i < w->n_adjectives; i++)
        if ((w->adjectives[i].tags & tag) && k-- == 0)
            return w->adjectives[i].word;
    return "";
}

/* A noun with all of `all` and none of `none`, other than `avoid`. */
static const story_noun *noun_with(rng *r, unsigned all, unsigned none, const story_noun *avoid)
{
    const story_words *w = stories_words();
    int count = 0;
    for (int i = 0; i < w->n_nouns; i++) {
        const story_noun *n = &w->nouns[i];
        count += (n->tags & all) == all && !(n->tags & none) && n != avoid;
    }
    int k = (int)rng_below(r, (uint64_t)count);
    for (int i = 0; i < w->n_nouns; i++) {
        const story_noun *n = &w->nouns[i];
        if ((n->tags & all) == all && !(n->tags & none) && n != avoid && k-- == 0)
            return n;
    }
    return &w->nouns[0];
}

/* A noun the verb can take as its object (every verb in the list takes some noun, or the friend). */
static const story_noun *noun_taken_by(rng *r, const story_verb *v)
{
    const story_words *w = stories_words();
    int count = 0;
    for (int i = 0; i < w->n_nouns; i++)
        count += takes(v, &w->nouns[i]);
    if (count == 0)
        fatal("internal: story verb '%s' takes no noun", v->base);
    int k = (int)rng_below(r, (uint64_t)count);
    for (int i = 0; i < w->n_nouns; i++)
        if (takes(v, &w->nouns[i]) && k-- == 0)
            return &w->nouns[i];
    return &w->nouns[0];
}

static const story_verb *verb_with(rng *r, unsigned all, unsigned none)
{
    const story_words *w = stories_words();
    int count = 0;
    for (int i = 0; i < w->n_verbs; i++)
        count += (w->verbs[i].tags & all) == all && !(w->verbs[i].tags & none);
    int k = (int)rng_below(r, (uint64_t)count);
    for (int i = 0; i < w->n_verbs; i++)
        if ((w->verbs[i].tags & all) == all && !(w->verbs[i].tags & none) && k-- == 0)
            return &w->verbs[i];
    return &w->verbs[0];
}

static int takes(const story_verb *v, const story_noun *n)
{
    return (v->tags & n->tags & ~(unsigned)(SV_ACT | SV_SKILL | SV_OOPS)) != 0;
}

/* ---- the template expander ---------------------------------------------------------------------------- */

static void expand(gen *g, const char *s, const char *end);

static void expand_str(gen *g, const char *s) { expand(g, s, s + strlen(s)); }

static const char *const he[2] = {"he", "she"}, *const him[2] = {"him", "her"},
                         *const his[2] = {"his", "her"}, *const hers[2] = {"his", "hers"},
                         *const self[2] = {"himself", "herself"};

/* A character's slot: name, subject (name or pronoun), pronouns, descriptions. */
static void slot_character(gen *g, character *ch, int who, const char *field)
{
    int fe = ch->female;
    if (!*field) {
        sb_puts(&g->b, ch->name);
        g->last = who;
    } else if (!strcmp(field, "S")) {
        /* A pronoun only right after the same character, and not always, so the name recurs. */
        int pronoun = g->last == who && (g->joined || !chance(g, 0.4));
        g->joined = 0;
        sb_puts(&g->b, pronoun ? he[fe] : ch->name);
        g->last = who;
    } else if (!strcmp(field, "he")) {
        sb_puts(&g->b, he[fe]);
        g->last = who;
    } else if (!strcmp(field, "him"))
        sb_puts(&g->b, him[fe]);
    else if (!strcmp(field, "his"))
        sb_puts(&g->b, his[fe]);
    else if (!strcmp(field, "hers"))
        sb_puts(&g->b, hers[fe]);
    else if (!strcmp(field, "self"))
        sb_puts(&g->b, self[fe]);
    else if (!strcmp(field, "kid"))
        sb_puts(&g->b, ch->kind);
    else if (!strcmp(field, "desc"))
        sb_puts(&g->b, ch->desc);
    else if (!strcmp(field, "trait"))
        sb_puts(&g->b, ch->trait);
    else if (!strcmp(field, "joy"))
        sb_puts(&g->b, ch->joy);
    else if (!strcmp(field, "woe"))
        sb_puts(&g->b, ch->woe);
    else
        fatal("internal: story slot '%s'", field);
}

static void put_plural(gen *g, const story_noun *n)
{
    char buf[64];
    stories_plural(n, buf, sizeof buf);
    sb_puts(&g->b, buf);
}

/* A noun's slot: {o} the noun, {o.pl} its plural, {o.adj} its adjective; {d.a} "a cookie" or "some
 * bread"; {p.in} the preposition of a place; {p.the} "the park" or "the quiet park". */
static void slot_noun(gen *g, const story_noun *n, const char *adj, unsigned used, const char *field)
{
    g->used |= used;
    if (!*field)
        sb_puts(&g->b, n->sg);
    else if (!strcmp(field, "pl"))
        put_plural(g, n);
    else if (!strcmp(field, "adj"))
        sb_puts(&g->b, adj);
    else if (!strcmp(field, "a")) {
        sb_puts(&g->b, n->tags & SN_MASS ? "some " : "a ");
        if (g->adj_role == ROLE_FOOD) {
            sb_puts(&g->b, adj);
            sb_puts(&g->b, " ");
        }
        sb_puts(&g->b, n->sg);
    } else if (!strcmp(field, "in"))
        sb_puts(&g->b, n->prep ? n->prep : "in");
    else if (!strcmp(field, "the")) {
        sb_puts(&g->b, "the ");
        if (g->padj_always || chance(g, 0.4)) {
            sb_puts(&g->b, adj);
            sb_puts(&g->b, " ");
        }
        sb_puts(&g->b, n->sg);
    } else
        fatal("internal: story slot '%s'", field);
}

/* The required verb with its object: {t} "feed the duck", {t.past}, {t.ing}; {t.hab} the habit
 * "feed ducks", "kick her ball". */
static void slot_transitive(gen *g, const char *field)
{
    const story_verb *t = g->t;
    int hab = !strcmp(field, "hab");
    sb_puts(&g->b, !strcmp(field, "past") ? t->past : !strcmp(field, "ing") ? t->ing : t->base);
    sb_puts(&g->b, " ");
    switch (g->t_role) {
    case 'o': expand_str(g, hab ? "{m.his} {o}" : "the {o}"); break;
    case 'c': expand_str(g, hab ? "{c.pl}" : "the {c}"); break;
    case 'd': expand_str(g, hab ? "{d.pl}" : "the {d}"); break;
    case 'p': expand_str(g, "the {p}"); break;
    case 'f': expand_str(g, "{f}"); break;
    default:
        if (hab)
            put_plural(g, g->x);
        else {
            sb_puts(&g->b, g->x->tags & SN_MASS ? "some " : "a ");
            sb_puts(&g->b, g->x->sg);
        }
    }
}

static void slot(gen *g, const char *s, size_t len)
{
    char name[32];
    if (len >= sizeof name)
        fatal("internal: story slot too long");
    memcpy(name, s, len);
    name[len] = '\0';
    int cap = name[0] == '^';
    const char *id = name + cap;
    size_t at = g->b.n;
    const char *dot = strchr(id, '.');
    const char *field = dot ? dot + 1 : "";
    if (field[0] >= 'A' && field[0] <= 'Z' && strcmp(field, "S")) {   /* {m.His}: capitalised */
        cap = 1;
        name[field - name] += 32;
    }
    size_t head = dot ? (size_t)(dot - id) : strlen(id);
#define IS(word) (head == strlen(word) && !strncmp(id, word, head))
    if (IS("m"))
        slot_character(g, &g->m, 1, field);
    else if (IS("f"))
        slot_character(g, &g->f, 2, field);
    else if (IS("a")) {
        int fe = g->adult_female;
        sb_puts(&g->b, !*field ? g->adult : !strcmp(field, "he") ? he[fe]
                                          : !strcmp(field, "him") ? him[fe] : his[fe]);
    } else if (IS("o"))
        slot_noun(g, g->o, g->oadj, USED_O, field);
    else if (IS("p"))
        slot_noun(g, g->p, g->padj, USED_P, field);
    else if (IS("c"))
        slot_noun(g, g->c, g->cadj, USED_C, field);
    else if (IS("d"))
        slot_noun(g, g->d, g->dadj, USED_D, field);
    else if (IS("v") || IS("fun")) {
        /* {fun}: the activity once the story has named it, else just playing */
        static const story_verb play = {"play", "played", "playing", SV_ACT};
        const story_verb *v = IS("v") || (g->used & USED_V) ? g->v : &play;
        g->used |= IS("v") ? USED_V : 0;
        sb_puts(&g->b, !strcmp(field, "past") ? v->past : !strcmp(field, "ing") ? v->ing : v->base);
    }
    else if (IS("t"))
        slot_transitive(g, field);
    else if (IS("day"))
        sb_puts(&g->b, g->day);
    else if (IS("open"))
        sb_puts(&g->b, g->opening->text);
    else if (IS("L"))
        expand_str(g, g->lesson);
    else if (IS("gift"))
        expand_str(g, !*field ? g->gift : g->gift_make);
    else if (IS("then"))
        expand_str(g, g->opening->kind == 1
                          ? "[That afternoon|Later that day|After a while|Soon|Later that morning],"
                          : "[One day|One morning|One afternoon|One bright day|One Saturday],");
    else if (IS("once"))   /* "there once lived", unless the opening said "once" already */
        sb_puts(&g->b, strstr(g->opening->text, "nce") ? "" : " once");
    else if (IS("spot") || IS("spots") || IS("ground")) {
        static const char *const where[2][3] = {
            {"[under a bush|behind a big rock|behind a tree|under a bench]",
             "[under the bushes|behind the trees|in the tall grass]", "[on the grass|in the sun]"},
            {"[under a chair|behind the door|under a table|behind a big box]",
             "[under the tables|behind every door|in every corner]", "[on the floor|by the window]"}};
        expand_str(g, where[(g->p->tags & SN_INDOOR) != 0][IS("spot") ? 0 : IS("spots") ? 1 : 2]);
    } else if (IS("thing"))
        sb_puts(&g->b, noun_with(&g->r, SN_THING, 0, g->o)->sg);
    else
        fatal("internal: story slot '%s'", name);
#undef IS
    if (cap && at < g->b.n && g->b.p[at] >= 'a' && g->b.p[at] <= 'z')
        g->b.p[at] -= 32;
}

/* The end of the alternative or group that starts at s: the matching ']' or the next '|' at the same
 * depth (or end). */
static const char *alt_end(const char *s, const char *end)
{
    int depth = 0;
    for (; s < end; s++) {
        if (*s == '[')
            depth++;
        else if (*s == ']') {
            if (depth == 0)
                return s;
            depth--;
        } else if (*s == '|' && depth == 0)
            return s;
    }
    return end;
}

static void expand(gen *g, const char *s, const char *end)
{
    while (s < end) {
        if (*s == '[') {
            const char *opt[16];
            int n = 0;
            const char *q = s + 1;
            for (;;) {
                if (n == 16)
                    fatal("internal: too many story alternatives");
                opt[n++] = q;
                q = alt_end(q, end);
                if (q >= end || *q == ']')
                    break;
                q++;
            }
            if (q >= end)
                fatal("internal: unbalanced story template");
            int k = pick(g, n);
            expand(g, opt[k], alt_end(opt[k], q + 1));
            s = q + 1;
        } else if (*s == '{') {
            const char *close = memchr(s, '}', (size_t)(end - s));
            if (!close)
                fatal("internal: unbalanced story slot");
            slot(g, s + 1, (size_t)(close - s - 1));
            s = close + 1;
        } else {
            const char *q = s;
            while (q < end && *q != '[' && *q != '{')
                q++;
            sb_put(&g->b, s, (size_t)(q - s));
            s = q;
        }
    }
}

/* ---- sentences ---------------------------------------------------------------------------------------- */

/* Joins onto a short last sentence that ends in a plain full stop ("She was sad." + "She cried." ->
 * "She was sad, and she cried."). */
static int join_last(gen *g, const char *tmpl)
{
    const char *with = g->join_with ? g->join_with : ", and ";
    int and = !g->join_with;
    const char *prev = g->b.p + g->sentence_at;
    size_t last = g->b.n - g->sentence_at;
    g->join_with = NULL;
    if (!g->join || g->para_pending || g->sentence_at == 0 || g->b.p[g->b.n - 1] != '.' || last > 90)
        return 0;
    if (memchr(prev, '"', last) || strchr(tmpl, '"'))
        return 0;
    /* no "and ... and" or "but ..., and" chains */
    if (and && (last > 70 || strstr(tmpl, " and ") || strstr(tmpl, " but ") || memmem(prev, last, " and ", 5) ||
                memmem(prev, last, " but ", 5)))
        return 0;
    g->b.n--;
    sb_puts(&g->b, with);
    return 1;
}

/* Sentences that open with their subject may always join: "{m.S} ...", "{f} ...", "They ...". */
static int opens_with_subject(const char *tmpl)
{
    return !strncmp(tmpl, "{m.S} ", 6) || !strncmp(tmpl, "{f} ", 4) || !strncmp(tmpl, "They ", 5);
}

static void say(gen *g, const char *tmpl)
{
    int subject = opens_with_subject(tmpl);
    if (!g->join && subject && g->last_subject)
        g->join = chance(g, g->terse ? 0.9 : 0.5);
    g->last_subject = subject;
    int joined = join_last(g, tmpl);
    g->join = 0;
    if (joined) {
        g->joined = 1;
        size_t at = g->b.n;
        expand_str(g, tmpl);
        if (!strncmp(g->b.p + at, "They ", 5))
            g->b.p[at] = 't';
        g->joined = 0;
        return;
    }
    if (g->b.n)
        sb_puts(&g->b, g->para_pending ? "\n\n" : " ");
    g->para_pending = 0;
    size_t at = g->b.n;
    g->sentence_at = at;
    expand_str(g, tmpl);
    while (at < g->b.n && g->b.p[at] == '"')
        at++;
    if (at < g->b.n && g->b.p[at] >= 'a' && g->b.p[at] <= 'z')
        g->b.p[at] -= 32;
}

static void say_any(gen *g, const char *const *tmpl, int n) { say(g, tmpl[pick(g, n)]); }

#define SAY(g, ...)                                                                                  \
    say_any(g, (const char *const[]){__VA_ARGS__},                                                   \
            (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* SAY that joins the last sentence half of the time. */
#define JOIN(g, ...)                                                                                 \
    do {                                                                                             \
        (g)->join = chance(g, (g)->terse ? 1.0 : 0.6);                                               \
        SAY(g, __VA_ARGS__);                                                                         \
    } while (0)

/* The first template when the story must be short, else any of them. */
#define SAY_TERSE(g, short_one, ...)                                                                 \
    do {                                                                                             \
        if ((g)->terse)                                                                              \
            say(g, short_one);                                                                       \
        else                                                                                         \
            SAY(g, short_one, __VA_ARGS__);                                                          \
    } while (0)

static void paragraph(gen *g)
{
    g->para_pending = 1;
    g->last = 0;
}

/* ---- beats shared by the arcs ------------------------------------------------------------------------- */

static int ends_with_place(const gen *g)
{
    size_t n = strlen(g->p->sg);
    return g->b.n > n + 1 && g->b.p[g->b.n - 1] == '.' && !memcmp(g->b.p + g->b.n - 1 - n, g->p->sg, n);
}

static void introduce_friend(gen *g)
{
    if (g->f.introduced) {
        SAY(g, "{f} was there too.", "There, {m.he} met {m.his} friend {f}.",
            "{m.His} friend {f} came along too.");
    } else if (ends_with_place(g) && chance(g, 0.7)) {   /* "... to the park, where she met Sam." */
        g->join = 1;
        g->join_with = ", where ";
        SAY(g, "{m.he} met a {f.desc} named {f}.",
               "{m.he} saw a {f.desc} named {f}[ sitting all alone| playing by {f.self}].");
    } else {
        SAY(g, "There, {m.he} met a {f.desc} named {f}.",
            "There, {m.he} saw a {f.desc} named {f}[ sitting all alone| playing by {f.self}].");
    }
    g->f.introduced = 1;
}

static void feel_bad(gen *g)
{
    if (g->talk && (g->terse || chance(g, 0.5)))
        SAY(g, "\"Oh no!\" said {m}, feeling very {m.woe}.");
    else if (g->talk && chance(g, 0.5))
        SAY(g, "{m.S} felt {m.woe}. \"What do I do now?\" {m.he} [asked|said].");
    else
        JOIN(g, "{m.S} felt {m.woe}.",
                "{m.S} was so {m.woe} that {m.he} [began to cry|sat down on the ground|could not say a word].",
             "{m.S} felt very {m.woe}[ and did not know what to do| and wanted to go home|].");
}

static void feel_good(gen *g)
{
    if (g->terse && g->adj_role != ROLE_JOY)
        return;
    JOIN(g, "{m.S} felt so {m.joy}[ that {m.he} jumped up and down| that {m.he} could not stop smiling|].",
            "{m.S} felt {m.joy}[ inside| all day long].",
         "{m.S} was very {m.joy}[, and so was {f}|].",
         "{m.S} smiled[ from ear to ear|], because {m.he} felt so {m.joy}.");
}

/* ---- the opening paragraph ---------------------------------------------------------------------------- */

/* 1 when the intro also said what the main character loves to do. */
static int intro(gen *g)
{
    int oops = g->t && (g->t->tags & SV_OOPS);
    if (g->opening->kind == 0 && !oops && g->adj_role != ROLE_JOY && chance(g, 0.35)) {
        if (g->t)
            SAY(g, "{open} there [was|lived] a {m.desc} named {m} who loved to {t.hab}[ more than anything|].");
        else
            SAY(g, "{open} there [was|lived] a {m.desc} named {m} who loved to {v}[ more than anything| "
                   "every day|].");
        g->m.introduced = 1;
        return 1;
    }
    if (g->opening->kind == 0)
        SAY(g, "{open} there [was a {m.desc} named {m}[ who lived in a "
               "[small|little|cozy|yellow|blue|white] house [near {p.the}|by a big tree|at the end of the "
               "street]| who lived with {m.his} {a}|]|lived a {m.desc} named {m}].",
               "{open} there{once} lived a {m.desc} called {m}.",
            "{open} a {m.desc} named {m} lived with {m.his} {a}.",
            "{open} there was a {m.desc}. {^m.his} name was {m}.");
    else if (g->adj_role == ROLE_JOY && chance(g, 0.5))
        SAY(g, "{open} {m}, a {m.desc}, woke up feeling {m.joy}.");
    else
        SAY(g, "{open} a {m.desc} named {m} [went outside to play|woke up early and jumped out of "
               "bed|looked out of the window at the sky|ran into the kitchen for breakfast|was playing in "
               "{m.his} room].",
            "{open} {m}, a {m.desc}, [woke up with a big smile|ran outside to see the sky|sat with {m.his} "
            "{a}].");
    g->m.introduced = 1;
    return 0;
}

static void activity(gen *g)
{
    int joy = g->adj_role == ROLE_JOY && (g->bad || chance(g, 0.5));
    if (g->t && (g->t->tags & SV_OOPS)) {
        SAY(g, "{m.S} was always careful not to {t.hab}.",
            "{m.His} {a} always told {m.him} to be careful not to {t.hab}.");
        if (joy)
            SAY(g, "{m.S} felt {m.joy} whenever {m.he} could {v}.");
        return;
    }
    if (g->t && joy)
        SAY(g, "{m.S} felt {m.joy} whenever {m.he} could {t.hab}.");
    else if (g->t) {
        SAY(g, "{m.S} loved to {t.hab}[, and {m.he} did it every day|].",
               "More than anything, {m} liked to {t.hab}.",
            "Every day, {m.S} would {t.hab}[ with {m.his} {a}|].",
            "{m.His} favorite thing to do was to {t.hab}.");
        if (optional(g, 0.5))
            SAY(g, "{m.S} also liked to {v}.", "{m.S} was good at {v.ing}, too.");
    }
    else if (joy)
        SAY(g, "{m.S} felt {m.joy} whenever {m.he} could {v}.");
    else
        SAY(g, "{m.S} loved to {v}[, and {m.he} did it every day| more than anything else in the world| "
               "with all {m.his} heart|].",
            "More than anything, {m} loved to {v}.",
            "{m.S} liked to {v} [every day|with {m.his} {a}|whenever {m.he} could|after breakfast].",
            "Every day, {m.S} would {v} [for hours|until the sun went down|with a big smile on {m.his} face].",
            "{m.His} favorite thing to do was to {v}.", "{m.S} was very good at {v.ing}.");
}

static void object(gen *g)
{
    SAY(g, "{m.S} had a {o.adj} {o} that {m.he} loved very much[, and {m.he} never went anywhere without "
           "it|].",
        "{m.His} favorite thing in the world was a {o.adj} {o}[ that {m.his} {a} had found at the market|].",
        "{m.His} {a} had given {m.him} a {o.adj} {o}[ for {m.his} birthday| last summer| when {m.he} was "
        "very little|].",
        "{m.S} [took|carried] {m.his} {o.adj} {o} everywhere {m.he} went.",
        "{m.S} had a {o.adj} {o}, and {m.he} [took good care of it|kept it by {m.his} bed|showed it to "
        "everyone].");
}

static void friend(gen *g)
{
    SAY(g, "{m.His} best friend was a {f.desc} named {f}[ who always made {m.him} laugh| who had a big, "
           "happy smile|].",
        "{m.S} had a good friend named {f}[ who lived next door| who lived just down the road|].",
        "{m.S} often played with {m.his} friend {f}, a {f.desc}[ from down the street|].",
        "{f}, a {f.desc} from next door, was {m.his} best friend.");
    g->f.introduced = 1;
}

static void weather(gen *g)
{
    SAY(g, "It was a {day} day[, and the air smelled fresh|].",
           "The day was {day}[, just the way {m} liked it|].",
        "Outside, the weather was {day}.");
}

/* Foreshadowing: a hint planted in the opening paragraph that the arc pays off. */
static void foreshadow(gen *g)
{
    switch (g->arc) {
    case ARC_LOST:
        g->foreshadow = pick(g, 2);
        if (g->foreshadow == 0)
            SAY(g, "{m.S} noticed a small hole in {m.his} bag, but {m.he} did not think much of it.");
        else if (g->talk)
            SAY(g, "{m.His} {a} said, \"Hold on tight to your {o}. Do not put it down.\"");
        else
            SAY(g, "{m.His} {a} told {m.him} to hold on tight to the {o} and never put it down.");
        break;
    case ARC_SHARE:
        SAY(g, "{m.S} never let anyone else touch the {o}.", "{m.S} kept the {o} all to {m.self}.");
        break;
    case ARC_LEARN:
        if (g->talk)
            SAY(g, "{m.His} {a} always said, \"Little steps make big things.\"");
        else
            SAY(g, "{m.His} {a} always said that practice makes hard things easy.");
        break;
    case ARC_RESCUE:
        SAY(g, "Every night, {m} heard a soft little sound [outside {m.his} window|near the garden].",
            "Lately, {m} had seen tiny footprints [near the garden|by the door], but {m.he} did not know "
            "whose they were.");
        break;
    case ARC_MAKE:
        SAY(g, "A naughty {c} lived near {m.his} house, and it liked to knock things over.");
        break;
    default:
        if (g->talk)
            SAY(g, "{m.His} {a} said, \"Stay on the path, and come home before dark.\"");
        else
            SAY(g, "{m.His} {a} told {m.him} to stay on the path and to come home before dark.");
    }
}

static void setup(gen *g)
{
    int loves = intro(g);
    int weather_first = !g->opening->weather && (g->adj_role == ROLE_DAY || optional(g, 0.3));
    if (weather_first && chance(g, 0.5)) {
        weather(g);
        weather_first = 0;
    }
    int with_friend = optional(g, 0.6);
    if (with_friend && chance(g, 0.35)) {
        SAY(g, "{m.S} had a {o.adj} {o} and a best friend named {f}[ who lived next door| who always made "
               "{m.him} laugh|].");
        g->f.introduced = 1;
        if (!loves)
            activity(g);
    } else if (loves) {
        object(g);
    } else if (chance(g, 0.5) && !(g->t && g->t_role == 'o')) {
        activity(g);
        object(g);
    } else {
        object(g);
        activity(g);
    }
    if (with_friend && !g->f.introduced)
        friend(g);
    if (weather_first)
        weather(g);
    if (g->feat & STORY_FORESHADOWING)
        foreshadow(g);
    else if (g->req_noun == g->d && g->arc != ARC_MAKE && chance(g, 0.6))
        SAY(g, "{m.His} {a} [packed|made] {d.a} for {m.him}[ to eat later|].");
    paragraph(g);
}

/* ---- the arcs ----------------------------------------------------------------------------------------- */

static void go_out(gen *g)
{
    if (g->f.introduced)
        SAY(g, "{then} {m} and {f} [went|walked] to {p.the}[ to play| to spend the day together| to have "
               "some fun|].",
            "{then} {m} took {m.his} {o} to {p.the} to play with {f}.",
            "{then} {m} and {f} decided to play {p.in} {p.the}.");
    else {
        SAY(g, "{then} {m} [went|walked] to {p.the}[ to play| all by {m.self}| with a happy little song|].",
               "{then} {m} took {m.his} {o} to {p.the}.");
        introduce_friend(g);
    }
}

static void arc_lost(gen *g)
{
    go_out(g);
    if (g->talk && chance(g, 0.4))
        SAY(g, "They played with the {o}. \"This is so much fun!\" [said|shouted] {f}.");
    else
        SAY(g, "They played with the {o} [for a long time|all morning|until lunch][ and laughed a lot| and "
               "had so much fun|].",
            "They took turns with the {o} and laughed {ground}[ for a long time| until their tummies hurt|].");
    if (g->feat & STORY_FORESHADOWING) {
        if (g->foreshadow == 0)
            SAY(g, "When {m} looked in {m.his} bag, the {o} was gone! It had fallen out through the hole.");
        else
            SAY(g, "But {m} forgot what {m.his} {a} had said and put the {o} down {ground}. When {m.he} "
                   "looked again, it was gone!");
    } else
        SAY(g, "[Suddenly|After a while|Then], {m.S} looked around, and the {o} was gone!",
            "When it was time to go home, {m} could not find the {o}[ anywhere| in the place where {m.he} "
            "had left it|].",
            "{m.S} put the {o} down {spot} and ran off to {v}. When {m.he} came back, the {o} was gone!");
    if (g->adj_role == ROLE_WOE || optional(g, 0.7))
        feel_bad(g);
    if (g->feat & STORY_CONFLICT) {
        if (g->talk)
            SAY_TERSE(g, "\"You took my {o}!\" [shouted|yelled] {m}, but {f} had not taken it.",
                      "\"You took my {o}!\" [shouted|yelled] {m} at {f}. \"I did not!\" said {f}.");
        else
            SAY(g, "{m.S} said that {f} had taken it, and the two friends began to argue.");
        if (!g->bad)
            SAY(g, "After a while, {m} said sorry, and they [started|decided] to look together.");
        else
            SAY(g, "{f} went home, and {m} had to look all alone.");
    } else if (g->talk && !g->terse)
        SAY(g, "\"Don't worry,\" said {f}. \"[Let's look together.|I will help you find it.]\"");
    if (optional(g, 0.8))
        SAY(g, "They looked [{spots}|everywhere|high and low][, but the {o} was nowhere to be seen|].",
               "{m} and {f} searched all over {p.the}.");
    paragraph(g);
    if (g->feat & STORY_TWIST) {
        if (g->bad)
            SAY(g, "When they finally found the {o}, they got a big surprise: a {c} had chewed it to pieces.");
        else
            SAY(g, "Then something unexpected happened. A {c.adj} {c} came out from {spot} with the {o}!",
                "To {m.his} surprise, the {o} had been in {m.his} bag the whole time!",
                "It turned out that a little {c} had taken the {o} to its home, and it gave it back.");
    } else if (!g->bad)
        SAY(g, "At last, {f} found the {o} {spot}.",
            "At last, {m.S} saw the {o} {spot}.");
    if (g->bad) {
        if (!(g->feat & STORY_TWIST))
            SAY(g, "They looked until it was dark, but they never found the {o}.",
                   "The {o} was gone forever.");
        SAY(g, "{m.S} went home feeling {m.woe}[, and {m.he} did not want to play for the rest of the day|].",
               "{m.S} cried all the way home.");
        g->lesson = "[you should always take care of your things|being careless can make you lose what you "
                    "love]";
    } else {
        if (g->talk && chance(g, 0.6))
            SAY(g, "\"Thank you, {f}!\" said {m}. \"You are the best friend ever!\"");
        else
            SAY(g, "{m.S} hugged the {o} and felt {m.joy}.", "{m.S} gave {f} a big hug and felt {m.joy}.");
        if (optional(g, 0.6))
            SAY(g, "From then on, {m} [always kept the {o} close|held on tight to {m.his} {o}].",
            "After that, they {fun.past} together until it was time to go home.");
        g->lesson = g->feat & STORY_CONFLICT ? "[you should not blame others without a reason|it is better "
                                               "to ask than to blame]"
                                            : "[it is important to take care of the things you love|a good "
                                              "friend will always help you|you should not give up when "
                                              "things go wrong]";
    }
}

static void arc_share(gen *g)
{
    SAY(g, "{then} {m} [took|brought] {m.his} {o} to {p.the}.",
           "{then} {m} was playing with {m.his} {o} {p.in} {p.the}.");
    introduce_friend(g);
    if (g->talk)
        SAY(g, "\"Can I play with your {o}?\" asked {f}.",
               "\"What a {o.adj} {o}! Can I have a turn?\" asked {f}.");
    else
        SAY(g, "{f} [looked at|saw] the {o} and wanted to play with it too[, because it looked like so much "
               "fun|].");
    int fight = (g->feat & (STORY_CONFLICT | STORY_FORESHADOWING)) || (g->bad && chance(g, 0.5));
    if (fight) {
        if (g->talk)
            SAY(g, "\"No! It is mine!\" said {m}, holding the {o} tight.");
        else
            SAY(g, "But {m} did not want to share, and {m.he} held the {o} tight.");
        SAY(g, "{f} [grabbed|pulled] the {o}, and they both pulled hard.",
               "They began to fight over the {o}.");
    }
    paragraph(g);
    if (g->bad) {
        if (g->feat & STORY_TWIST)
            SAY(g, "Then something unexpected happened: a {c} ran by, grabbed the {o} and carried it away!");
        else if (fight)
            SAY(g, "Then the {o} broke [into pieces|in two].", "Then the {o} fell to the ground and broke.");
        else
            SAY(g, "{m.S} let {f} play with it, but {f} dropped the {o}, and it broke.");
        SAY(g, "{m.S} felt {m.woe}, and {f} started to cry.", "Both friends went home feeling {m.woe}.");
        g->lesson = g->feat & STORY_TWIST ? "[it is better to share than to fight|you never know what will "
                                            "happen, so be kind while you can]" : fight ? "fighting over "
                                            "things only makes them break" : "[some things are too special "
                                            "to play rough with|we should be careful with other people's "
                                            "things]";
        return;
    }
    if (fight)
        SAY(g, "Then {m} saw that {f} looked sad, and {m.he} let go.",
               "After a while, {m} stopped and thought about it.");
    if (g->talk)
        SAY_TERSE(g, "\"Let's play with it together,\" said {m}.",
                     "\"Here, you can have a turn,\" said {m}. {f} smiled. \"Thank you!\"");
    else
        SAY(g, "{m.S} [gave|handed] the {o} to {f}[ with a smile|].",
               "{m.S} decided to share the {o} with {f}.");
    if (g->feat & STORY_TWIST)
        SAY(g, "Then something surprising happened. {f} [reached into {f.his} bag|ran home] and came back "
               "with {d.a} to share!",
            "To {m.his} surprise, {f} knew a new game they could play with the {o}.");
    SAY(g, "They took turns[ with the {o}|] until the sun went down.",
           "They {fun.past} together [all afternoon|until dinner].");
    feel_good(g);
    g->lesson = fight ? "[friends are more important than things|it is better to share than to fight]"
                      : "[sharing makes everyone happy|it is kind to share with others|playing together is "
                        "more fun than playing alone]";
}

static void arc_learn(gen *g)
{
    if (g->f.introduced)
        SAY(g, "{then} {m} saw {f} {v.ing} {p.in} {p.the}.");
    else {
        SAY(g, "{then} {m} went to {p.the}.");
        introduce_friend(g);
        SAY(g, "{f} was {v.ing}[ and having fun|].");
    }
    SAY(g, "{m.S} wanted to {v} too, but {m.he} did not know how.", "{m.S} wanted to {v} just like {f}.");
    SAY(g, "{m.S} tried, but it was harder than it looked[, and {m.he} got it all wrong|].",
           "The first time {m.he} tried, {m.he} fell down.");
    feel_bad(g);
    if (g->feat & STORY_CONFLICT) {
        if (g->talk)
            SAY(g, "\"You can't even {v}!\" laughed {f}.");
        else
            SAY(g, "{f} laughed at {m.him}, and that made {m} even more {m.woe}.");
        if (!g->bad)
            SAY(g, "Later, {f} said sorry and offered to help.");
    }
    paragraph(g);
    if (g->bad) {
        SAY(g, "{m.S} tried again, but {m.he} fell and hurt {m.his} knee.",
               "{m.S} tried one more time, but {m.he} got tired and gave up.");
        if (g->feat & STORY_TWIST)
            SAY(g, "To {m.his} surprise, even {f} could not {v} that day, and both of them went home.");
        SAY(g, "{m.S} never tried to {v} again.", "After that day, {m} did not want to {v} anymore.");
        g->lesson = g->feat & STORY_CONFLICT ? "it is not nice to laugh at others" : "[it is best to go "
                                               "slowly when you learn|you should ask for help before you "
                                               "get hurt]";
        return;
    }
    if (g->feat & STORY_FORESHADOWING)
        SAY(g, "{m.S} remembered what {m.his} {a} always said, and {m.he} practiced a little every day.");
    else if (g->talk)
        SAY(g, "\"Don't give up,\" said {m.his} {a}. \"Just try again.\"", "\"I can show you,\" said {f}.");
    else
        SAY(g, "{m.His} {a} showed {m.him} how to {v}, step by step.", "{f} showed {m.him} how to do it.");
    if (optional(g, 0.8))
        SAY(g, "{m.S} practiced [every day|again and again|all week].");
    if (g->feat & STORY_TWIST)
        SAY(g, "Then something surprising happened: {m} was even better at it than {f}!",
            "To everyone's surprise, a {c.adj} {c} came to watch, as if it wanted to {v} too.");
    SAY(g, "At last, {m.S} could {v} all by {m.self}[, and everyone clapped| without falling even once|].");
    if (g->talk && optional(g, 0.6))
        SAY(g, "\"I did it!\" [shouted|cried] {m}.");
    feel_good(g);
    g->lesson = g->feat & STORY_CONFLICT ? "[it is not nice to laugh at others|everyone has to start "
                                           "somewhere]"
                                        : "[practice helps you get better|you should never give up|it is "
                                          "okay to make mistakes when you learn]";
}

static void arc_rescue(gen *g)
{
    if (g->f.introduced)
        SAY(g, "{then} {m} and {f} [went|walked] to {p.the}.",
               "{then} {m} was playing {p.in} {p.the} with {f}.");
    else {
        SAY(g, "{then} {m} [went|walked] to {p.the}.");
        introduce_friend(g);
    }
    SAY(g, "[Soon|After a while|Not far away], they [saw|found] a {c.adj} {c}[ sitting all by itself| that "
           "could not move|].",
        "Suddenly, they heard a [small|soft|sad] sound {spot}. It was a {c.adj} {c}!");
    if (g->talk)
        SAY(g, "\"Look, the poor {c} is stuck!\" said {m}.", "\"I think the {c} is lost,\" said {m}.");
    else
        SAY(g, "The {c} was stuck [in a hole|{spot}].",
               "The {c} looked [hungry|lost|cold] and [scared|all alone][, and it was shaking a little| and "
               "made a tiny, sad sound|].");
    if (g->feat & STORY_FORESHADOWING)
        SAY(g, "Now {m} knew where the little sounds and tracks had come from.");
    if (g->feat & STORY_CONFLICT) {
        if (g->talk)
            SAY_TERSE(g, "\"Let's leave it,\" said {f}, but {m} did not want to leave the {c} alone.",
                      "\"Let's leave it,\" said {f}. \"It might bite.\" \"No, it needs our help!\" said {m}.");
        else
            SAY(g, "{f} wanted to go home, but {m} did not want to leave the {c} alone. They argued for a "
                   "while.");
    }
    paragraph(g);
    if (g->bad) {
        SAY(g, "{m.S} reached for the {c}, but it was too scared and ran away.",
               "Before they could help, the {c} ran away and hid {spot}.");
        if (g->feat & STORY_TWIST)
            SAY(g, "It turned out that the {c} had a home of its own and did not want to be picked up at all.");
        SAY(g, "{m.S} never saw the {c} again, and {m.he} felt {m.woe}.",
               "{m.S} looked for it every day, but it never came back.");
        g->lesson = "[wild animals are best helped by grown-ups|sometimes we cannot fix everything, even "
                    "when we try]";
        return;
    }
    SAY(g, "{m.S} gently picked up the {c}[ and held it close to keep it warm| and carried it to a safe "
           "place|].",
           "{m.S} used {m.his} {o} to help the {c}.", "{m.S} gave the {c} {d.a} from {m.his} bag.");
    if (g->feat & STORY_TWIST)
        SAY(g, "Then, to their surprise, [two|three] baby {c.pl} came out to see them.",
            "It turned out that the {c} belonged to a kind old lady who had been looking for it all day.");
    if (g->talk && optional(g, 0.6))
        SAY(g, "\"We did it!\" said {f}.");
    SAY(g, "The {c} was safe at last.", "The {c} looked up at {m} and seemed to smile.");
    feel_good(g);
    if (optional(g, 0.8))
        SAY(g, "After that, the {c} came to visit {m} every day.",
               "From that day on, {m}, {f} and the {c} were the best of friends[, and they played together "
               "every day|].");
    g->lesson = g->feat & STORY_CONFLICT ? "[helping others is always the right thing to do|being brave can "
                                           "mean being kind]"
                                        : "[we should always be kind to animals|even small creatures need "
                                          "our help|helping others makes your heart happy]";
}

static void arc_make(gen *g)
{
    if (g->d->tags & SN_BAKE) {
        g->gift = "{d}";
        g->gift_make = "bake {d.a}";
    } else if (g->d->tags & SN_COOK) {
        g->gift = "{d}";
        g->gift_make = "make {d.a}";
    } else if (chance(g, 0.5)) {
        g->gift = "picture";
        g->gift_make = "draw a picture of a {c}";
    } else {
        g->gift = "card";
        g->gift_make = "make a card with a {o} on it";
    }
    if (!g->f.introduced)
        friend(g);
    SAY(g, "{then} {m} found out that it was {f}'s birthday[ soon|].",
           "{then} {m} wanted to make something special for {f}.");
    if (g->talk)
        SAY(g, "\"I know! I will {gift.make}!\" said {m}.");
    else
        SAY(g, "{m.S} decided to {gift.make}[ and make it the best one ever| as a surprise|].");
    SAY(g, "{m.S} worked hard all morning {p.in} {p.the}[ with {m.his} {a}|].",
        "{m.S} worked [slowly|carefully] {p.in} {p.the}, and {m.his} {a} helped a little.");
    if (g->feat & STORY_FORESHADOWING)
        SAY(g, "Just then, the naughty {c} ran in and knocked the {gift} to the floor!");
    else
        SAY(g, "But the {gift} fell on the floor[ and got all dirty|].",
               "But {m.he} spilled water on the {gift}.", "But the {gift} did not look right at all.");
    feel_bad(g);
    if (g->feat & STORY_CONFLICT) {
        if (g->talk)
            SAY_TERSE(g, "\"Let me do it my way!\" said {m.his} little cousin, but {m} wanted to do it alone.",
                      "\"Let me do it my way!\" said {m.his} little cousin. \"No, my way is better!\" said "
                      "{m}.");
        else
            SAY(g, "{m.His} {a} wanted to help, but {m} wanted to do it all alone, and they argued.");
    }
    paragraph(g);
    if (g->bad) {
        SAY(g, "There was no time to make another one.", "{m.S} tried to fix it, but it was ruined.");
        if (g->feat & STORY_TWIST)
            SAY(g, "To {m.his} surprise, {f} had already been given the very same gift by someone else.");
        SAY(g, "When {m} gave {f} the gift, it did not look special at all, and {m.he} felt {m.woe}.",
            "{m.S} went to the party with nothing in {m.his} hands and felt {m.woe}.");
        g->lesson = "[it is better to be careful with special things|you should not leave things to the "
                    "last minute]";
        return;
    }
    SAY(g, "{m.S} did not give up and started again.", "{m.His} {a} helped {m.him} fix it.");
    if (g->feat & STORY_TWIST)
        SAY(g, "When {m} gave the {gift} to {f}, {f} laughed and, to {m}'s surprise, gave {m.him} a gift "
               "too. It was a {o.adj} {o}, just like {m.hers}!");
    else if (g->talk)
        SAY(g, "\"Thank you! This is the best gift ever!\" said {f}.");
    else
        SAY(g, "{f} loved the {gift}.", "When {f} saw the {gift}, {f.he} gave {m} a big hug.");
    feel_good(g);
    g->lesson = g->feat & STORY_CONFLICT ? "[working together makes things easier|it is good to accept help]"
                                        : "[a gift made with love is the best gift|mistakes can be fixed if "
                                          "you keep trying]";
}

static void arc_explore(gen *g)
{
    if (!g->f.introduced)
        friend(g);
    SAY(g, "{then} {m} and {f} went to explore {p.the}.",
           "{then} {m} wanted to see what was behind {p.the}, so {m.he} asked {f} to come along.");
    if (g->feat & STORY_FORESHADOWING)
        SAY(g, "But they forgot what {m.his} {a} had said and left the path.");
    SAY(g, "They walked for a long time, looking at [the flowers|the trees|everything][ and talking about "
           "all the things they saw|].",
           "{m.S} carried {m.his} {o} along in {m.his} bag.");
    SAY(g, "Suddenly, they heard a [loud|strange|funny] noise[ that made them stop and listen| coming from "
           "somewhere close by|].");
    if (g->talk)
        SAY(g, "\"What was that?\" whispered {f}.");
    SAY(g, "{m.S} felt a little {m.woe}.");
    if (g->feat & STORY_CONFLICT) {
        if (g->talk)
            SAY_TERSE(g, "\"Let's go back,\" said {f}, but {m} wanted to see what it was.",
                      "\"Let's go back,\" said {f}. \"No, I want to see what it is!\" said {m}.");
        else
            SAY(g, "{f} wanted to go home, but {m} wanted to keep going, and they argued about it.");
    }
    paragraph(g);
    if (g->feat & STORY_TWIST)
        SAY(g, "They peeked {spot}. To their surprise, it was only a {c.adj} {c}!",
            "To their surprise, the noise was not a monster at all. It was a little {c} playing with a "
            "{thing}.");
    else
        SAY(g, "They followed the sound and found a {c.adj} {c}[ hiding {spot}| looking right back at them|].",
               "It was a {c.adj} {c} looking for food.");
    if (g->bad) {
        SAY(g, "Then it started to rain, and they could not find the way back.");
        SAY(g, "They got home late, wet and {m.woe}.",
               "When they got home, {m.his} {a} was very upset with them.");
        g->lesson = "[you should always listen to your {a}|it is not safe to go too far from home]";
        return;
    }
    if (g->talk && optional(g, 0.6))
        SAY(g, "\"It is just a little {c}!\" laughed {m}.");
    SAY(g, "The {c} became their friend, and they played {p.in} the {p} until it was time to go home.",
        "They found their way home just before dark.");
    feel_good(g);
    g->lesson = g->feat & STORY_FORESHADOWING ? "you should always listen to your {a}"
                                              : "[it is good to be brave|things are not always as scary as "
                                                "they seem|it is fun to explore with a friend]";
}

static int has_word(const char *text, const char *w);

/* A sentence that names the required adjective in its role, after a happy [0] or a bad [1] ending,
 * for the stories whose arc did not. */
static const char *const adj_cover[N_ROLES][2] = {
    [ROLE_OBJECT] = {"{m.S} held {m.his} {o.adj} {o} close.", "{m.S} held {m.his} {o.adj} {o} close."},
    [ROLE_PLACE] = {"It had been a long day at {p.the}.", "It had been a long day at {p.the}."},
    [ROLE_ANIMAL] = {"On the way home, they saw a {c.adj} {c}[ sitting on a fence| by the road].",
                     "On the way home, even a {c.adj} {c} by the road looked sad."},
    [ROLE_FOOD] = {"Later, they shared some {d.adj} {d.pl}.",
                   "Not even some {d.adj} {d.pl} could cheer {m.him} up."},
    [ROLE_DAY] = {"Outside, the day was still {day}.", "Outside, the day was still {day}."},
    [ROLE_TRAIT] = {"{m.S} was a very {m.trait} {m.kid}.", "{m.S} was a very {m.trait} {m.kid}."},
    [ROLE_JOY] = {"{m.S} felt {m.joy}.", "{m.S} did not feel {m.joy} anymore."},
    [ROLE_WOE] = {"{m.S} was not {m.woe} anymore.", "{m.S} felt {m.woe}."},
};

/* A sentence for each required word the arc did not name, then the moral and a last word. */
static void ending(gen *g)
{
    if (g->req_noun == g->c && !(g->used & USED_C))
        SAY(g, g->bad ? "Even the {c} [by the road|in the tree] looked {m.woe}." : "On the way home, they "
                        "saw a {c.adj} {c} and waved to it.");
    if (g->req_noun == g->d && !(g->used & USED_D))
        SAY(g, g->bad ? "Not even {d.a} could cheer {m.him} up." : "Later, they shared {d.a}[ under a tree| "
                        "at home|].");
    if (g->req_noun == g->o && !(g->used & USED_O))
        SAY(g, "{m.S} held {m.his} {o.adj} {o} close.");
    if (g->req_noun == g->p && !(g->used & USED_P))
        SAY(g, "It had been a long day at the {p}.");
    if (!has_word(g->b.p, g->req_adj))
        say(g, adj_cover[g->adj_role][g->bad]);
    if (g->t && !(g->t->tags & SV_OOPS) && !g->bad && optional(g, 0.6)) {
        static const struct { char role; unsigned used; } seen[] = {
            {'o', USED_O}, {'c', USED_C}, {'d', USED_D}, {'p', USED_P}};
        int named = 0;   /* "could not wait to feed the duck again" needs the duck in the story */
        for (size_t i = 0; i < sizeof seen / sizeof *seen; i++)
            named |= g->t_role == seen[i].role && (g->used & seen[i].used);
        if (!named)
            SAY(g, "Before bed, {m} thought about how much {m.he} loved to {t.hab}.");
        else
            SAY(g, "The next day, {m} could not wait to {t} again.");
    }
    if (g->feat & STORY_MORAL)
        SAY(g, "{m} learned that {L}.", "From that day on, {m} knew that {L}.",
               "That day, {m} and {f} learned that {L}.",
            "And so, {m} learned an important lesson: {L}.", "{m} would always remember that {L}.");
    else if (!g->bad && optional(g, 0.3))
        SAY(g, "It was the best day ever.", "And they lived happily ever after.",
               "It was a day {m} would never forget.");
}

/* ---- planning ----------------------------------------------------------------------------------------- */

typedef struct {
    int name, friend, noun, verb, adjective, opening;
    unsigned features;
} picks;

static rng story_stream(uint64_t seed, uint64_t index, int k)
{
    return rng_stream(seed ^ SEED_TAG, index * STREAMS_PER_STORY + (uint64_t)k);
}

static void picks_draw(uint64_t seed, uint64_t index, picks *k)
{
    const story_words *w = stories_words();
    rng r = story_stream(seed, index, 0);
    k->name = (int)rng_below(&r, (uint64_t)w->n_names);
    do
        k->friend = (int)rng_below(&r, (uint64_t)w->n_names);
    while (k->friend == k->name);
    k->noun = (int)rng_below(&r, (uint64_t)w->n_nouns);
    k->verb = (int)rng_below(&r, (uint64_t)w->n_verbs);
    k->adjective = (int)rng_below(&r, (uint64_t)w->n_adjectives);
    k->features = 0;
    static const double p[STORY_N_FEATURES] = {0.35, 0.3, 0.35, 0.2, 0.3, 0.25};
    for (int i = 0; i < STORY_N_FEATURES; i++)
        if (rng_uniform(&r) < p[i])
            k->features |= 1u << i;
    /* An adjective that can only be the weather needs an opening that leaves the weather open. */
    int day_only = w->adjectives[k->adjective].tags == SA_DAY;
    do
        k->opening = (int)rng_below(&r, (uint64_t)w->n_openings);
    while (day_only && w->openings[k->opening].weather);
}

/* How a character is first described: "little girl", "kind little girl", "young fox"; the friend
 * may also be just "boy". */
static void describe(gen *g, character *ch, int force_trait, int plain_ok)
{
    const char *kind = ch->kind;
    if (force_trait || chance(g, 0.35))
        snprintf(ch->desc, sizeof ch->desc, "%s%s%s", ch->trait,
                 strcmp(ch->trait, "little") && chance(g, 0.3) ? " little " : " ", kind);
    else
        snprintf(ch->desc, sizeof ch->desc, "%s%s",
                 plain_ok && pick(g, 3) == 0 ? "" : pick(g, 2) ? "little " : "young ", kind);
}

static void cast(gen *g, character *ch, const story_name *nm, const char *animal)
{
    ch->name = nm->name;
    ch->female = nm->female;
    ch->kind = animal ? animal : nm->female ? "girl" : "boy";
    ch->trait = adj_with(&g->r, SA_TRAIT);
    ch->joy = adj_with(&g->r, SA_POS);
    /* feelings that fit any trouble (the required adjective may still be "hungry" or "dizzy") */
    static const char *const woes[] = {"sad", "scared", "worried", "upset", "afraid", "nervous", "unhappy",
                                       "frightened", "lonely", "miserable", "confused", "gloomy"};
    ch->woe = woes[pick(g, (int)(sizeof woes / sizeof *woes))];
    ch->introduced = 0;
}

static void plan(gen *g, const picks *k)
{
    const story_words *w = stories_words();
    const story_noun *rn = &w->nouns[k->noun];
    const story_verb *rv = &w->verbs[k->verb];
    const story_adjective *ra = &w->adjectives[k->adjective];
    g->feat = k->features;
    g->talk = (k->features & STORY_DIALOGUE) != 0;
    g->bad = (k->features & STORY_BAD_ENDING) != 0;
    g->opening = &w->openings[k->opening];
    g->req_noun = rn;
    g->req_adj = ra->word;

    /* props: the required noun takes the role of its kind */
    g->o = rn->tags & SN_THING ? rn : noun_with(&g->r, SN_THING, 0, NULL);
    g->p = rn->tags & SN_PLACE ? rn : noun_with(&g->r, SN_PLACE, 0, NULL);
    g->c = rn->tags & SN_ANIMAL ? rn : noun_with(&g->r, SN_ANIMAL, SN_EXOTIC, NULL);
    g->d = rn->tags & SN_FOOD ? rn : noun_with(&g->r, SN_FOOD, 0, NULL);

    /* cast: sometimes the main character is an animal (the required one, if it is an animal) */
    const char *m_animal = NULL;
    if ((rn->tags & SN_ANIMAL) ? chance(g, 0.25) : chance(g, 0.12)) {
        const story_noun *a = g->c;
        if (chance(g, 0.5) && !(rn->tags & SN_ANIMAL))
            a = noun_with(&g->r, SN_ANIMAL, SN_EXOTIC, g->c);
        m_animal = a->sg;
        if (a == g->c)
            g->c = noun_with(&g->r, SN_ANIMAL, SN_EXOTIC, a);
    }
    cast(g, &g->m, &w->names[k->name], m_animal);
    const char *f_animal = NULL;
    if (m_animal ? chance(g, 0.6) : chance(g, 0.1))
        f_animal = noun_with(&g->r, SN_ANIMAL, SN_EXOTIC, g->c)->sg;
    cast(g, &g->f, &w->names[k->friend], f_animal);
    static const char *const adults[4] = {"mom", "dad", "grandma", "grandpa"};
    int a = pick(g, 4);
    g->adult = adults[a];
    g->adult_female = a % 2 == 0;

    /* everyday descriptions; the required adjective may still be an odd one ("an open bike") */
    static const char *const looks[] = {"red", "blue", "green", "yellow", "pink", "purple", "orange", "brown",
                                        "white", "shiny", "sparkly", "little", "big", "new", "old", "pretty",
                                        "special", "colorful", "beautiful", "tiny", "lovely", "bright",
                                        "golden",
                                        "silver", "striped", "spotted", "fancy", "soft", "small", "warm"};
    static const char *const outdoors[] = {"big", "quiet", "sunny", "pretty", "green", "beautiful", "lovely",
                                           "peaceful", "wild", "shady", "old", "little", "busy", "windy"};
    static const char *const indoors[] = {"big", "quiet", "busy", "cozy", "old", "little", "bright", "warm",
                                          "tidy"};
    g->oadj = looks[pick(g, (int)(sizeof looks / sizeof *looks))];
    g->padj = g->p->tags & SN_INDOOR ? indoors[pick(g, (int)(sizeof indoors / sizeof *indoors))]
                                     : outdoors[pick(g, (int)(sizeof outdoors / sizeof *outdoors))];
    g->cadj = adj_with(&g->r, SA_FUR);
    g->dadj = adj_with(&g->r, SA_TASTE);
    g->day = adj_with(&g->r, SA_DAY);
    g->padj_always = 0;

    /* the required adjective: one of the roles its tags allow */
    static const unsigned role_tag[N_ROLES] = {SA_LOOK, SA_PLACE, SA_FUR, SA_TASTE,
                                               SA_DAY, SA_TRAIT, SA_POS, SA_NEG};
    int roles[N_ROLES], n_roles = 0;
    for (int i = 0; i < N_ROLES; i++)
        if ((ra->tags & role_tag[i]) && !(i == ROLE_DAY && g->opening->weather))
            roles[n_roles++] = i;
    if (n_roles == 0)
        roles[n_roles++] = ROLE_OBJECT;
    g->adj_role = roles[pick(g, n_roles)];
    switch (g->adj_role) {
    case ROLE_OBJECT: g->oadj = ra->word; break;
    case ROLE_PLACE: g->padj = ra->word; g->padj_always = 1; break;
    case ROLE_ANIMAL: g->cadj = ra->word; break;
    case ROLE_FOOD: g->dadj = ra->word; break;
    case ROLE_DAY: g->day = ra->word; break;
    case ROLE_TRAIT: g->m.trait = ra->word; break;
    case ROLE_JOY: g->m.joy = ra->word; break;
    default: g->m.woe = ra->word;
    }
    describe(g, &g->m, g->adj_role == ROLE_TRAIT, 0);
    describe(g, &g->f, 0, 1);

    /* the required verb: an activity of its own, or with an object from the story */
    g->t = NULL;
    g->x = NULL;
    if (!(rv->tags & SV_ACT) || ((rv->tags & ~(unsigned)(SV_ACT | SV_SKILL)) && chance(g, 0.5))) {
        g->t = rv;
        char cand[5];
        int n = 0;
        if (takes(rv, g->o)) cand[n++] = 'o';
        if (takes(rv, g->c)) cand[n++] = 'c';
        if (takes(rv, g->d)) cand[n++] = 'd';
        if (takes(rv, g->p)) cand[n++] = 'p';
        if (rv->tags & SN_PERSON) cand[n++] = 'f';
        char prefer = rn->tags & SN_THING ? 'o' : rn->tags & SN_ANIMAL ? 'c' : rn->tags & SN_FOOD ? 'd' : 'p';
        g->t_role = n ? cand[pick(g, n)] : 'x';
        for (int i = 0; i < n; i++)
            if (cand[i] == prefer)
                g->t_role = prefer;
        if (g->t_role == 'x')
            g->x = noun_taken_by(&g->r, rv);
        g->v = verb_with(&g->r, SV_ACT | SV_SKILL, 0);
    } else
        g->v = rv;

    /* the arc: learning needs a skill; an animal or a food word pulls towards arcs that use it */
    int w_arc[N_ARCS] = {3, 3, (g->v->tags & SV_SKILL) ? 3 : 0, 3, 3, (g->p->tags & SN_INDOOR) ? 0 : 3};
    if (rn->tags & SN_ANIMAL)
        w_arc[ARC_RESCUE] = 6;
    if (rn->tags & SN_FOOD)
        w_arc[ARC_MAKE] = 6;
    if (rn->tags & SN_THING)
        w_arc[ARC_LOST] = w_arc[ARC_SHARE] = 5;
    int total = 0;
    for (int i = 0; i < N_ARCS; i++)
        total += w_arc[i];
    int r = pick(g, total);
    for (g->arc = 0; r >= w_arc[g->arc]; g->arc++)
        r -= w_arc[g->arc];
}

/* ---- finishing touches and checks --------------------------------------------------------------------- */

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* "a" -> "an" before a vowel sound; a capital after every opening quote. */
static void polish(sbuf *b, sbuf *out)
{
    out->n = 0;
    int inside = 0;
    for (size_t i = 0; i < b->n; i++) {
        char c = b->p[i];
        if (c == '"') {
            inside = !inside;
            sb_put(out, &c, 1);
            if (inside && i + 1 < b->n && b->p[i + 1] >= 'a' && b->p[i + 1] <= 'z')
                b->p[i + 1] -= 32;
            continue;
        }
        sb_put(out, &c, 1);
        if ((c == 'a' || c == 'A') && (i == 0 || !is_alpha(b->p[i - 1])) && i + 2 < b->n &&
            b->p[i + 1] == ' ' && is_alpha(b->p[i + 2]) && stories_takes_an(b->p + i + 2))
            sb_put(out, "n", 1);
    }
}

/* Whole-word occurrence of w, also with a capital first letter. */
static int has_word(const char *text, const char *w)
{
    size_t n = strlen(w);
    for (const char *s = text; (s = strcasestr(s, w)); s++) {
        if ((s == text || !is_alpha(s[-1])) && !is_alpha(s[n]) && !strncmp(s + 1, w + 1, n - 1))
            return 1;
    }
    return 0;
}

/* Sentence ends: . ! or ? (a closing quote may follow) before the end or a capital or an opening
 * quote, so that "Hi!" said Tom. is one sentence. */
int stories_count_sentences(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        if (*s != '.' && *s != '!' && *s != '?')
            continue;
        const char *q = s + 1;
        if (*q == '"')
            q++;
        if (!*q) {
            n++;
            break;
        }
        if (*q != ' ' && *q != '\n')
            continue;
        while (*q == ' ' || *q == '\n')
            q++;
        if ((*q >= 'A' && *q <= 'Z') || *q == '"')
            n++;
    }
    return n;
}

static int acceptable(const char *s, size_t len, const story_prompt *pr)
{
    if (len < MIN_CHARS || len > MAX_CHARS)
        return 0;
    int sentences = stories_count_sentences(s);
    if (sentences < MIN_SENTENCES || sentences > MAX_SENTENCES)
        return 0;
    int quotes = 0;
    for (const char *q = s; (q = strchr(q, '"')); q++)
        quotes++;
    if ((pr->features & STORY_DIALOGUE) ? quotes < 4 : quotes > 0)
        return 0;
    if (!has_word(s, pr->name) || !has_word(s, pr->adjective))
        return 0;
    if (!has_word(s, pr->noun) && !has_word(s, pr->noun_plural))
        return 0;
    return has_word(s, pr->verb) || has_word(s, pr->verb_past) || has_word(s, pr->verb_ing);
}

static void tell(uint64_t seed, uint64_t index, int attempt, const picks *k, sbuf *raw, sbuf *out)
{
    gen g;
    memset(&g, 0, sizeof g);
    g.r = story_stream(seed, index, 1 + attempt);
    g.terse = attempt >= TERSE_AFTER;
    g.b = *raw;
    g.b.n = 0;
    plan(&g, k);
    setup(&g);
    switch (g.arc) {
    case ARC_LOST: arc_lost(&g); break;
    case ARC_SHARE: arc_share(&g); break;
    case ARC_LEARN: arc_learn(&g); break;
    case ARC_RESCUE: arc_rescue(&g); break;
    case ARC_MAKE: arc_make(&g); break;
    default: arc_explore(&g);
    }
    ending(&g);
    *raw = g.b;
    polish(raw, out);
}

/* ---- the API ------------------------------------------------------------------------------------------ */

const char *story_feature_name(int bit)
{
    static const char *const names[STORY_N_FEATURES] = {"Dialogue", "Twist", "MoralValue",
                                                        "BadEnding", "Conflict", "Foreshadowing"};
    return bit >= 0 && bit < STORY_N_FEATURES ? names[bit] : "?";
}

static void prompt_fill(const picks *k, story_prompt *p)
{
    const story_words *w = stories_words();
    const story_noun *n = &w->nouns[k->noun];
    const story_verb *v = &w->verbs[k->verb];
    p->name = w->names[k->name].name;
    p->female = w->names[k->name].female;
    p->friend_name = w->names[k->friend].name;
    p->noun = n->sg;
    stories_plural(n, p->noun_plural, sizeof p->noun_plural);
    p->verb = v->base;
    p->verb_past = v->past;
    p->verb_ing = v->ing;
    p->adjective = w->adjectives[k->adjective].word;
    p->features = k->features;
    p->opening = w->openings[k->opening].text;
}

void stories_prompt(uint64_t seed, uint64_t index, story_prompt *p)
{
    picks k;
    picks_draw(seed, index, &k);
    prompt_fill(&k, p);
}

/* The story into out (reusing raw as scratch): the first attempt that passes the checks, or, if none
 * does (never seen in practice), the last one. */
static void story_into(uint64_t seed, uint64_t index, sbuf *raw, sbuf *out)
{
    picks k;
    story_prompt pr;
    picks_draw(seed, index, &k);
    prompt_fill(&k, &pr);
    for (int attempt = 0; attempt < STREAMS_PER_STORY - 1; attempt++) {
        tell(seed, index, attempt, &k, raw, out);
        if (acceptable(out->p, out->n, &pr))
            return;
    }
    if (out->n > STORIES_MAX_LEN - 1) {
        out->n = STORIES_MAX_LEN - 1;
        out->p[out->n] = '\0';
    }
}

size_t stories_generate(uint64_t seed, uint64_t index, char *buf, size_t cap)
{
    sbuf raw = {0}, out = {0};
    story_into(seed, index, &raw, &out);
    size_t n = out.n;
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(buf, out.p, k);
        buf[k] = '\0';
    }
    free(raw.p);
    free(out.p);
    return n;
}

char *stories_corpus(uint64_t seed, uint64_t first, uint64_t n, size_t *len)
{
    sbuf raw = {0}, out = {0}, all = {0};
    sb_put(&all, "", 0);
    for (uint64_t i = 0; i < n; i++) {
        story_into(seed, first + i, &raw, &out);
        sb_put(&all, out.p, out.n);
        sb_puts(&all, "\n" STORIES_EOT "\n");
    }
    free(raw.p);
    free(out.p);
    if (len)
        *len = all.n;
    return all.p;
}

void stories_generate_set(uint64_t seed, uint64_t first, size_t n, story_set *out, progress *p)
{
    sbuf raw = {0}, one = {0}, all = {0};
    size_t *off = xmalloc((n + 1) * sizeof *off);
    sb_put(&all, "", 0);
    for (size_t i = 0; i < n; i++) {
        story_into(seed, first + i, &raw, &one);
        off[i] = all.n;
        sb_put(&all, one.p, one.n + 1);   /* with its NUL */
        if (p)
            progress_update(p, (long long)i + 1, 0, 0);
    }
    off[n] = all.n;
    free(raw.p);
    free(one.p);
    out->n = n;
    out->data = all.p;
    out->text = xmalloc((n ? n : 1) * sizeof *out->text);
    out->len = xmalloc((n ? n : 1) * sizeof *out->len);
    for (size_t i = 0; i < n; i++) {
        out->text[i] = all.p + off[i];
        out->len[i] = off[i + 1] - off[i] - 1;
    }
    free(off);
}
