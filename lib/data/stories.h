/* Story corpora for the BabiStories experiment (Memory Mosaics §5).
 *
 * Two sources behind one type, story_set:
 *
 * - A built-in generator of simple English children's stories, made the way BabiStories' prompts ask
 *   for them: a named main character, a required noun, verb and adjective, a few story features
 *   (dialogue, plot twist, moral, bad ending, conflict, foreshadowing) and opening words. Story i of a
 *   seed is a pure function of (seed, i): random access by index, no state kept between stories.
 *   The text is grammatical plain ASCII (a/an, capitals, double-quoted dialogue, paragraphs separated
 *   by a blank line); the same characters and objects recur across the story, so that predicting
 *   them needs the context. It stands in for BabiStories where the real corpus is not at hand.
 * - A reader of real corpora: TinyStories/BabiStories plain text (stories separated by lines holding
 *   <|endoftext|>), JSON lines, or a JSON array; gzip read through zlib.
 *
 * Validation split: story i of a corpus is held out when a hash of (seed, i) falls below the
 * validation fraction (stories_is_validation), so the split is deterministic, needs no shuffling and
 * keeps each story's side when more stories are appended. */
#ifndef MEMLAB_DATA_STORIES_H
#define MEMLAB_DATA_STORIES_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/progress.h"

/* The end-of-text marker that separates stories (GPT-2's <|endoftext|>, as TinyStories writes it). */
#define STORIES_EOT "<|endoftext|>"

/* ---- the generator ---------------------------------------------------------------------------- */

/* Story features, as bits (TinyStories' names: Dialogue, Twist, MoralValue, BadEnding, Conflict,
 * Foreshadowing). Each shapes the text: dialogue gives at least two quoted lines (without it a story
 * has no quotes), a twist an unexpected turn, a moral a closing lesson, a bad ending a sad outcome,
 * a conflict an argument or refusal, foreshadowing an early hint that pays off later. */
enum {
    STORY_DIALOGUE = 1 << 0,
    STORY_TWIST = 1 << 1,
    STORY_MORAL = 1 << 2,
    STORY_BAD_ENDING = 1 << 3,
    STORY_CONFLICT = 1 << 4,
    STORY_FORESHADOWING = 1 << 5,
};
#define STORY_N_FEATURES 6
/* "Dialogue", "Twist", "MoralValue", "BadEnding", "Conflict", "Foreshadowing" for bit 0..5. */
const char *story_feature_name(int bit);

/* The prompt of a generated story: what BabiStories' prompt would have named. The pointers are into
 * the static word lists. Every story opens with `opening`, names `name` at least once (nearly always
 * twice or more), and holds the noun (or its plural), the verb (in some form) and the adjective as
 * whole words. */
typedef struct {
    const char *name;        /* the main character's first name */
    int female;              /* the main character's pronouns: she/her (1) or he/him (0) */
    const char *friend_name; /* a second character (not in BabiStories' prompts; recurs in the story) */
    const char *noun;        /* required noun, singular (the story may use its plural) */
    char noun_plural[40];
    const char *verb;        /* required verb, base form (the story may use any form below) */
    const char *verb_past;
    const char *verb_ing;
    const char *adjective;   /* required adjective */
    unsigned features;       /* STORY_* bits */
    const char *opening;     /* the story's first words */
} story_prompt;

void stories_prompt(uint64_t seed, uint64_t index, story_prompt *p);

/* Story `index` of `seed`, written like snprintf: at most cap - 1 characters and a NUL (buf may be
 * NULL when cap is 0); returns the story's full length. Stories are 6-15 sentences
 * (stories_count_sentences) and 500-1200 characters, about 700 on average; none is longer than
 * STORIES_MAX_LEN. (A story is told again from a fresh stream, with fewer optional sentences after a
 * few tries, until it meets these bounds and its prompt; in 10^6 stories none needed more than 40
 * tries. Past 63 the last telling is kept as it is.) About 60 000 stories a second on one core. */
#define STORIES_MAX_LEN 2048
size_t stories_generate(uint64_t seed, uint64_t index, char *buf, size_t cap);

/* Sentences in a text, as the 6-15 bound counts them: a '.', '!' or '?' (a closing quote may follow)
 * at the end of the text or before white space and a capital or an opening quote, so that
 * "Hi!" said Tom. is one sentence. */
int stories_count_sentences(const char *text);

/* Stories first .. first + n - 1 as one corpus text in the TinyStories format: each story, then a
 * line "<|endoftext|>" ("story\n<|endoftext|>\n"). malloc'd, NUL-terminated; *len (if not NULL) its
 * length. */
char *stories_corpus(uint64_t seed, uint64_t first, uint64_t n, size_t *len);

/* ---- word lists (read-only; exposed for tests and reports) ------------------------------------- */

/* Noun tags: exactly one kind, then finer tags that say which verbs and templates fit. A verb's tags
 * name the objects it takes with the same bits (SN_THING: any thing, SN_PERSON: the friend), plus
 * SV_ACT when it is also an activity on its own ("loved to dance"). */
enum {
    SN_THING = 1 << 0, SN_ANIMAL = 1 << 1, SN_PLACE = 1 << 2, SN_FOOD = 1 << 3,
    SN_TOY = 1 << 4,      /* thrown, kicked, caught: ball, balloon, stick */
    SN_CONT = 1 << 5,     /* opened, filled: box, bag, basket */
    SN_WEAR = 1 << 6,     /* worn, tied, folded: hat, scarf, blanket */
    SN_READ = 1 << 7,     /* read, written, opened: book, letter, map */
    SN_SOFT = 1 << 8,     /* hugged, squeezed: teddy bear, pillow */
    SN_RIDE = 1 << 9,     /* ridden: bike, sled, pony */
    SN_MUSIC = 1 << 10,   /* played: drum, flute */
    SN_FLY = 1 << 11,     /* flown: kite, toy plane */
    SN_PLANT = 1 << 12,   /* planted, watered: seed, flower */
    SN_COLLECT = 1 << 13, /* collected: shell, stone, feather */
    SN_MASS = 1 << 14,    /* no article, no plural: bread, milk */
    SN_LIQ = 1 << 15,     /* poured, spilled: milk, juice */
    SN_BAKE = 1 << 16,    /* baked: cake, cookie, bread */
    SN_FRUIT = 1 << 17,   /* picked, peeled, grown: apple, carrot */
    SN_COOK = 1 << 18,    /* cooked: soup, egg, rice */
    SN_CLIMB = 1 << 19,   /* climbed: hill, mountain */
    SN_CROSS = 1 << 20,   /* crossed: bridge, river, street */
    SN_PERSON = 1 << 21,  /* verbs only: takes the friend as object */
    SN_INDOOR = 1 << 22,  /* a place indoors: kitchen, attic (no exploring, no rain) */
    SN_EXOTIC = 1 << 23,  /* an animal one meets in a zoo or the sea: only when the prompt names it */
    SV_SKILL = 1 << 28,   /* verbs only: an activity one learns (dance, swim, knit) */
    SV_OOPS = 1 << 29,    /* verbs only: a mishap nobody loves doing (lose, drop, spill) */
    SV_ACT = 1 << 30,     /* verbs only: an activity without object */
};
#define SN_KINDS (SN_THING | SN_ANIMAL | SN_PLACE | SN_FOOD)

/* Adjective tags: the roles a word can fill. */
enum {
    SA_TRAIT = 1 << 0, /* a character: "a kind girl" */
    SA_POS = 1 << 1,   /* a good feeling: "felt happy" */
    SA_NEG = 1 << 2,   /* a bad feeling: "felt sad" */
    SA_LOOK = 1 << 3,  /* a thing: "a shiny ball" */
    SA_TASTE = 1 << 4, /* a food: "a juicy pear" */
    SA_PLACE = 1 << 5, /* a place: "the quiet park" */
    SA_DAY = 1 << 6,   /* the weather: "a windy day" */
    SA_FUR = 1 << 7,   /* an animal: "a fluffy kitten" */
};

typedef struct {
    const char *name;
    int female;
} story_name;

typedef struct {
    const char *sg;
    const char *pl;          /* NULL: the regular plural (stories_plural) */
    unsigned tags;           /* SN_* */
    const char *prep;        /* places: "in", "at", "on" or "by" the place */
} story_noun;

typedef struct {
    const char *base, *past, *ing;
    unsigned tags;           /* SN_* objects it takes, SV_* */
} story_verb;

typedef struct {
    const char *word;
    unsigned tags;           /* SA_* */
} story_adjective;

typedef struct {
    const char *text;
    int kind;                /* 0: a scene ("Once upon a time,"); 1: a time ("One day,") */
    int weather;             /* names the weather or season, so no other weather is added */
} story_opening;

typedef struct {
    const story_name *names;
    int n_names;
    const story_noun *nouns;
    int n_nouns;
    const story_verb *verbs;
    int n_verbs;
    const story_adjective *adjectives;
    int n_adjectives;
    const story_opening *openings;
    int n_openings;
} story_words;

const story_words *stories_words(void);
/* The plural of a noun into buf (cap bytes): the listed one, or the regular English rule applied to
 * the last word (-ies after a consonant + y, -es after s, x, z, ch, sh, -s otherwise). */
void stories_plural(const story_noun *n, char *buf, size_t cap);
/* 1 when a word takes "an" rather than "a" (by sound: "an hour", "an honest", "a unicorn"). */
int stories_takes_an(const char *word);

/* ---- story sets and real corpora ----------------------------------------------------------------- */

typedef struct {
    size_t n;
    char **text;     /* text[i]: story i, NUL-terminated, without surrounding white space */
    size_t *len;     /* strlen(text[i]) */
    char *data;      /* one block holding every text */
} story_set;

/* Reads a corpus. The format is taken from the first non-blank character of the (decompressed)
 * content:
 *   '{'  JSON lines, one object per line with a string field "text" (else "story");
 *   '"'  JSON lines of one string each (BabiStories' released traindataset.txt);
 *   '['  one JSON array of such objects or strings (TinyStories' data*.json);
 *   else plain text, stories separated by "<|endoftext|>" (on a line of its own, or anywhere in a
 *        line); a file without the marker is one story.
 * A NUL byte is read as a space (plain text only: JSON strings cannot hold one); blank stories are
 * skipped; white space around each story is dropped and "\r\n" read as "\n".
 * Gzip is read through zlib (by content, whatever the name). -1 with e filled ("PATH: ...", with the
 * line for a bad JSON line) when the file is missing, unreadable, corrupt, malformed, holds no
 * story, or passes a size limit (limits.h: LIMIT_DATA_BYTES in all, LIMIT_LINE_BYTES a line). */
/* p (NULL: none) is updated with the lines read. */
int stories_read(const char *path, story_set *out, progress *p, err_t *e);

/* Generated stories first .. first + n - 1 as a set (the same texts as stories_generate); p (NULL:
 * none) is updated with the stories made. */
void stories_generate_set(uint64_t seed, uint64_t first, size_t n, story_set *out, progress *p);

void story_set_free(story_set *s);

/* The held-out validation split, by story index: story i is validation when
 * mix(seed ^ mix(i)) / 2^64 < val_frac, mix being splitmix64's step (add 0x9e3779b97f4a7c15, then its
 * output function). Deterministic, independent of the other stories and of the corpus size; about
 * val_frac of a corpus (1% is a good default). */
int stories_is_validation(uint64_t seed, size_t index, double val_frac);

typedef struct {
    size_t *train, *val;      /* ascending story indices */
    size_t n_train, n_val;
} story_split;

/* Splits n stories by stories_is_validation. With n >= 2 and val_frac > 0 both sides are kept
 * non-empty: if the hash rule puts no story on one side, the story whose hash is nearest the
 * threshold moves there. val_frac must lie in [0, 1); -1 with e filled otherwise. */
int stories_split(size_t n, uint64_t seed, double val_frac, story_split *out, err_t *e);
void story_split_free(story_split *s);

#endif
