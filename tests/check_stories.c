/* lib/data/stories: the built-in story generator (determinism, variety, prompts obeyed, shape of
 * the text), the reader of real corpora (plain, JSON lines, JSON arrays, gzip, errors) and the
 * validation split. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "data/stories.h"
#include "test_util.h"

#define SEED 20240601ULL

/* ---- helpers ---------------------------------------------------------------------------------- */

static char *story(uint64_t seed, uint64_t i)
{
    size_t n = stories_generate(seed, i, NULL, 0);
    char *s = xmalloc(n + 1);
    ck_assert_uint_eq(stories_generate(seed, i, s, n + 1), n);
    return s;
}

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Occurrences of w as a whole word (also capitalised, as at the start of a sentence). */
static int word_count(const char *text, const char *w)
{
    size_t n = strlen(w);
    int k = 0;
    for (const char *s = text; (s = strcasestr(s, w)); s++)
        if ((s == text || !is_letter(s[-1])) && !is_letter(s[n]) && !strncmp(s + 1, w + 1, n - 1))
            k++;
    return k;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *path_in(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(len);
    snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

static void write_gz(const char *path, const char *text)
{
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

/* Reads text written to a fresh file and checks the stories against want[0..n). */
static void expect_read(const char *text, int gz, const char *const *want, size_t n)
{
    char *dir = test_tmpdir();
    char *path = path_in(dir, gz ? "corpus.txt.gz" : "corpus.txt");
    if (gz)
        write_gz(path, text);
    else
        write_text(path, text);
    story_set s;
    err_t e = {{0}};
    ck_assert_msg(stories_read(path, &s, NULL, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(s.n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(s.text[i], want[i]);
        ck_assert_uint_eq(s.len[i], strlen(want[i]));
    }
    story_set_free(&s);
    free(path);
    test_rmdir(dir);
}

/* stories_read must fail with a message holding `needle` (and the file name). */
static void expect_read_error(const char *path, const char *needle)
{
    story_set s;
    err_t e = {{0}};
    ck_assert_int_eq(stories_read(path, &s, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message '%s' lacks the path", e.msg);
    ck_assert_uint_eq(s.n, 0);
}

/* ---- word lists -------------------------------------------------------------------------------- */

START_TEST(test_word_lists)
{
    const story_words *w = stories_words();
    ck_assert_int_ge(w->n_names, 300);
    ck_assert_int_ge(w->n_nouns, 250);
    ck_assert_int_ge(w->n_verbs, 150);
    ck_assert_int_ge(w->n_adjectives, 200);
    ck_assert_int_ge(w->n_openings, 80);
    int girls = 0;
    for (int i = 0; i < w->n_names; i++) {
        girls += w->names[i].female;
        ck_assert(w->names[i].name[0] >= 'A' && w->names[i].name[0] <= 'Z');
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(w->names[i].name, w->names[j].name), "name %s twice", w->names[i].name);
    }
    ck_assert_int_ge(girls, w->n_names / 3);
    ck_assert_int_ge(w->n_names - girls, w->n_names / 3);
    for (int i = 0; i < w->n_nouns; i++) {
        unsigned kind = w->nouns[i].tags & SN_KINDS;
        ck_assert_msg(kind && !(kind & (kind - 1)), "noun %s has not exactly one kind", w->nouns[i].sg);
        ck_assert_msg(!(kind == SN_PLACE) == !w->nouns[i].prep, "noun %s: a preposition iff a place",
                      w->nouns[i].sg);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(w->nouns[i].sg, w->nouns[j].sg), "noun %s twice", w->nouns[i].sg);
    }
    for (int i = 0; i < w->n_verbs; i++) {
        const story_verb *v = &w->verbs[i];
        int takes_some = (v->tags & SN_PERSON) != 0;
        for (int j = 0; j < w->n_nouns && !takes_some; j++)
            takes_some = (v->tags & w->nouns[j].tags & ~(unsigned)(SV_ACT | SV_SKILL | SV_OOPS)) != 0;
        ck_assert_msg(takes_some || (v->tags & SV_ACT), "verb %s: not an activity, takes no noun", v->base);
        ck_assert_msg(!(v->tags & SV_SKILL) || (v->tags & SV_ACT), "skill %s is not an activity", v->base);
        size_t ing = strlen(v->ing);
        ck_assert_msg(ing > strlen(v->base) && !strcmp(v->ing + ing - 3, "ing"), "%s", v->ing);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(v->base, w->verbs[j].base), "verb %s twice", v->base);
    }
    for (int i = 0; i < w->n_adjectives; i++) {
        ck_assert_msg(w->adjectives[i].tags != 0, "adjective %s fits no role", w->adjectives[i].word);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(w->adjectives[i].word, w->adjectives[j].word), "adjective %s twice",
                          w->adjectives[i].word);
    }
    for (int i = 0; i < w->n_openings; i++) {
        const char *t = w->openings[i].text;
        ck_assert_msg(t[strlen(t) - 1] == ',', "opening '%s' must end with a comma", t);
    }
}
END_TEST

START_TEST(test_inflections)
{
    ck_assert_int_eq(stories_count_sentences("\"Hi!\" said Tom. \"Let's go.\" They went.\n\nThe end!"), 4);
    ck_assert_int_eq(stories_count_sentences("One. Two? Three"), 2);
    static const struct { const char *sg, *pl; } cases[] = {
        {"ball", "balls"}, {"puppy", "puppies"}, {"monkey", "monkeys"}, {"box", "boxes"},
        {"peach", "peaches"}, {"dress", "dresses"}, {"teddy bear", "teddy bears"},
        {"paintbrush", "paintbrushes"}, {"bus", "buses"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        story_noun n = {cases[i].sg, NULL, SN_THING, NULL};
        stories_plural(&n, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].pl);
    }
    story_noun mice = {"mouse", "mice", SN_ANIMAL, NULL}, milk = {"milk", NULL, SN_FOOD | SN_MASS, NULL};
    stories_plural(&mice, buf, sizeof buf);
    ck_assert_str_eq(buf, "mice");
    stories_plural(&milk, buf, sizeof buf);
    ck_assert_str_eq(buf, "milk");
    static const char *const an[] = {"apple", "elephant", "igloo", "orange",
                                     "umbrella", "hour", "honest", "Amy"};
    static const char *const a[] = {"ball", "unicorn", "useful", "one-eyed", "house", "European", "yellow"};
    for (size_t i = 0; i < sizeof an / sizeof *an; i++)
        ck_assert_msg(stories_takes_an(an[i]), "an %s", an[i]);
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        ck_assert_msg(!stories_takes_an(a[i]), "a %s", a[i]);
    ck_assert_str_eq(story_feature_name(0), "Dialogue");
    ck_assert_str_eq(story_feature_name(5), "Foreshadowing");
}
END_TEST

/* ---- the generator ----------------------------------------------------------------------------- */

START_TEST(test_generator_deterministic)
{
    /* a pure function of (seed, index): any order, any repetition */
    char *s7 = story(SEED, 7), *s3 = story(SEED, 3), *s7b = story(SEED, 7);
    ck_assert_str_eq(s7, s7b);
    ck_assert_str_ne(s7, s3);
    char *other = story(SEED + 1, 7);
    ck_assert_str_ne(s7, other);
    char *far = story(SEED, 123456789012ULL);
    ck_assert_uint_ge(strlen(far), 500);

    story_prompt p, q;
    stories_prompt(SEED, 7, &p);
    stories_prompt(SEED, 7, &q);
    ck_assert_str_eq(p.name, q.name);
    ck_assert_str_eq(p.noun, q.noun);
    ck_assert_uint_eq(p.features, q.features);

    /* snprintf-like truncation */
    char small[16];
    size_t n = stories_generate(SEED, 7, small, sizeof small);
    ck_assert_uint_eq(n, strlen(s7));
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert(!strncmp(small, s7, sizeof small - 1));

    /* the corpus text and the set hold the same stories */
    size_t len;
    char *corpus = stories_corpus(SEED, 3, 5, &len);
    ck_assert_uint_eq(len, strlen(corpus));
    story_set set;
    stories_generate_set(SEED, 3, 5, &set, NULL);
    ck_assert_uint_eq(set.n, 5);
    const char *c = corpus;
    for (int i = 0; i < 5; i++) {
        char *s = story(SEED, 3 + (uint64_t)i);
        ck_assert_str_eq(set.text[i], s);
        ck_assert_uint_eq(set.len[i], strlen(s));
        ck_assert(!strncmp(c, s, strlen(s)));
        c += strlen(s);
        ck_assert(!strncmp(c, "\n" STORIES_EOT "\n", strlen(STORIES_EOT) + 2));
        c += strlen(STORIES_EOT) + 2;
        free(s);
    }
    ck_assert_int_eq(*c, '\0');
    story_set_free(&set);
    free(corpus);
    free(s7);
    free(s3);
    free(s7b);
    free(other);
    free(far);
}
END_TEST

START_TEST(test_generator_distinct)
{
    enum { N = 10000 };
    char **all = xmalloc(N * sizeof *all);
    for (int i = 0; i < N; i++)
        all[i] = story(SEED, (uint64_t)i);
    qsort(all, N, sizeof *all, cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_msg(strcmp(all[i], all[i - 1]), "two stories are the same:\n%s", all[i]);
    /* not one template either: first sentences vary a lot */
    int distinct_first = 0;
    for (int i = 0; i < N; i++) {
        const char *dot = strchr(all[i], '.');
        size_t n = dot ? (size_t)(dot - all[i]) : strlen(all[i]);
        all[i][n] = '\0';
    }
    qsort(all, N, sizeof *all, cmp_str);
    for (int i = 0; i < N; i++)
        distinct_first += i == 0 || strcmp(all[i], all[i - 1]);
    ck_assert_int_ge(distinct_first, N * 9 / 10);
    for (int i = 0; i < N; i++)
        free(all[i]);
    free(all);
}
END_TEST

START_TEST(test_generator_prompt_obeyed)
{
    enum { N = 3000 };
    int name_twice = 0, friend_twice = 0, noun_twice = 0;
    for (int i = 0; i < N; i++) {
        story_prompt p;
        stories_prompt(SEED, (uint64_t)i, &p);
        char *s = story(SEED, (uint64_t)i);
        ck_assert_msg(word_count(s, p.name) >= 1, "no %s in:\n%s", p.name, s);
        ck_assert_msg(word_count(s, p.noun) + word_count(s, p.noun_plural) >= 1, "no %s in:\n%s", p.noun, s);
        ck_assert_msg(word_count(s, p.verb) + word_count(s, p.verb_past) + word_count(s, p.verb_ing) >= 1,
                      "no %s in:\n%s", p.verb, s);
        ck_assert_msg(word_count(s, p.adjective) >= 1, "no %s in:\n%s", p.adjective, s);
        ck_assert_msg(!strncmp(s, p.opening, strlen(p.opening)), "not opening with '%s':\n%s", p.opening, s);
        ck_assert_str_ne(p.name, p.friend_name);
        /* the same people and things come back */
        name_twice += word_count(s, p.name) >= 2;
        friend_twice += word_count(s, p.friend_name) >= 2;
        noun_twice += word_count(s, p.noun) + word_count(s, p.noun_plural) >= 2;
        free(s);
    }
    ck_assert_int_ge(name_twice, N * 95 / 100);
    ck_assert_int_ge(friend_twice, N * 70 / 100);
    ck_assert_int_ge(noun_twice, N * 40 / 100);
}
END_TEST

START_TEST(test_generator_features)
{
    enum { N = 3000 };
    int with[STORY_N_FEATURES] = {0};
    for (int i = 0; i < N; i++) {
        story_prompt p;
        stories_prompt(SEED, (uint64_t)i, &p);
        char *s = story(SEED, (uint64_t)i);
        int quotes = 0;
        for (const char *q = s; (q = strchr(q, '"')); q++)
            quotes++;
        if (p.features & STORY_DIALOGUE)
            ck_assert_msg(quotes >= 4, "dialogue without two quoted lines:\n%s", s);
        else
            ck_assert_msg(quotes == 0, "quotes without dialogue:\n%s", s);
        ck_assert_int_eq(quotes % 2, 0);
        if (p.features & STORY_TWIST)
            ck_assert_msg(strstr(s, "surpris") || strstr(s, "unexpected") || strstr(s, "turned out"),
                          "twist without a turn:\n%s", s);
        if (p.features & STORY_MORAL)
            ck_assert_msg(strstr(s, "learned") || strstr(s, "knew that") || strstr(s, "remember that"),
                          "moral without a lesson:\n%s", s);
        if (p.features & STORY_BAD_ENDING)
            ck_assert_msg(!strstr(s, "happily ever after") && !strstr(s, "best day ever"),
                          "bad ending ends well:\n%s", s);
        for (int b = 0; b < STORY_N_FEATURES; b++)
            with[b] += (p.features >> b) & 1;
        free(s);
    }
    for (int b = 0; b < STORY_N_FEATURES; b++)
        ck_assert_msg(with[b] > N / 8 && with[b] < N / 2, "feature %s in %d of %d prompts",
                      story_feature_name(b), with[b], N);
}
END_TEST

START_TEST(test_generator_text_shape)
{
    enum { N = 3000 };
    double chars = 0;
    for (int i = 0; i < N; i++) {
        char *s = story(SEED, (uint64_t)i);
        size_t n = strlen(s);
        chars += (double)n;
        ck_assert_msg(n >= 500 && n <= 1200 && n < STORIES_MAX_LEN, "%zu characters:\n%s", n, s);
        int sentences = stories_count_sentences(s);
        ck_assert_msg(sentences >= 6 && sentences <= 15, "%d sentences:\n%s", sentences, s);
        ck_assert_msg(s[0] >= 'A' && s[0] <= 'Z', "%s", s);
        char last = s[n - 1];
        ck_assert_msg(last == '.' || last == '!' || last == '"', "ends with '%c'", last);
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)s[k];
            ck_assert_msg((c >= 32 && c < 127) || c == '\n', "byte %u in:\n%s", c, s);
        }
        ck_assert_msg(!strstr(s, "  ") && !strstr(s, " ,") && !strstr(s, " .") && !strstr(s, "..") &&
                          !strstr(s, "\n\n\n") && !strstr(s, "<|") && !strstr(s, ", and They"),
                      "bad spacing or punctuation:\n%s", s);
        /* a capital after every sentence end that starts a new sentence */
        for (const char *q = s; (q = strstr(q, ". ")); q++)
            ck_assert_msg(!(q[2] >= 'a' && q[2] <= 'z'), "lower case after a full stop:\n%s", s);
        /* articles agree with the next word's sound */
        for (const char *q = s; *q; q++) {
            if (q > s && is_letter(q[-1]))
                continue;
            if ((q[0] == 'a' || q[0] == 'A') && q[1] == ' ' && is_letter(q[2]))
                ck_assert_msg(!stories_takes_an(q + 2), "'a %.12s' in:\n%s", q + 2, s);
            if ((q[0] == 'a' || q[0] == 'A') && q[1] == 'n' && q[2] == ' ' && is_letter(q[3]))
                ck_assert_msg(stories_takes_an(q + 3), "'an %.12s' in:\n%s", q + 3, s);
        }
        free(s);
    }
    chars /= N;
    ck_assert_msg(chars > 600 && chars < 1000, "mean %g characters", chars);
}
END_TEST

START_TEST(test_generator_pronouns)
{
    /* When both characters share pronouns, the other set never appears (nobody else is "he"). */
    int checked = 0;
    for (int i = 0; i < 3000; i++) {
        story_prompt p;
        stories_prompt(SEED, (uint64_t)i, &p);
        const story_words *w = stories_words();
        int friend_female = -1;
        for (int k = 0; k < w->n_names; k++)
            if (!strcmp(w->names[k].name, p.friend_name))
                friend_female = w->names[k].female;
        if (friend_female != p.female)
            continue;
        char *s = story(SEED, (uint64_t)i);
        static const char *const male[] = {"he", "him", "his", "himself"};
        static const char *const female[] = {"she", "her", "hers", "herself"};
        const char *const *wrong = p.female ? male : female, *const *right = p.female ? female : male;
        int right_seen = 0;
        for (int k = 0; k < 4; k++) {
            ck_assert_msg(word_count(s, wrong[k]) == 0, "'%s' in a story of %s and %s:\n%s", wrong[k], p.name,
                          p.friend_name, s);
            right_seen += word_count(s, right[k]);
        }
        ck_assert_msg(right_seen > 0, "no pronoun for %s:\n%s", p.name, s);
        checked++;
        free(s);
    }
    ck_assert_int_ge(checked, 1000);
}
END_TEST

/* ---- the reader -------------------------------------------------------------------------------- */

START_TEST(test_read_plain)
{
    /* leading blank lines, CRLF, a marker inside a line, blank stories, no marker at the end */
    const char *text = "\n\nOnce upon a time, Tom ran.\r\nHe was happy.\r\n<|endoftext|>\r\n"
                       "  Mia had a cat.  \n\nThe cat was red.\n<|endoftext|>\n<|endoftext|>\n   \n"
                       "Sam sang.<|endoftext|>Ana danced.\nThe end came.\n";
    static const char *const want[] = {"Once upon a time, Tom ran.\nHe was happy.",
                                       "Mia had a cat.  \n\nThe cat was red.", "Sam sang.",
                                       "Ana danced.\nThe end came."};
    expect_read(text, 0, want, 4);
    expect_read(text, 1, want, 4);
    /* no marker at all: one story */
    static const char *const one[] = {"Just one story.\nWith two lines."};
    expect_read("Just one story.\nWith two lines.\n", 0, one, 1);
}
END_TEST

START_TEST(test_read_json_lines)
{
    /* "text" fields, "story" fields, bare strings (BabiStories' own format), escapes, blank lines */
    const char *text = "{\"text\": \"Tom ran.\\nHe was \\\"happy\\\".\", \"id\": 1}\n"
                       "\n"
                       "{\"story\": \"Mia had a cat.\", \"summary\": \"a cat\"}\r\n"
                       "\"Sam sang a song \\u00e9.\"\n"
                       "   {\"text\": \"  \", \"story\": \"ignored\"}\n"
                       "{\"text\": 5, \"story\": \"Number text, story used.\"}\n";
    static const char *const want[] = {"Tom ran.\nHe was \"happy\".", "Mia had a cat.",
                                       "Sam sang a song \xc3\xa9.", "Number text, story used."};
    expect_read(text, 0, want, 4);
    expect_read(text, 1, want, 4);
}
END_TEST

START_TEST(test_read_json_array)
{
    const char *text = "  [\n {\"story\": \"One.\", \"instruction\": {\"words\": [\"a\"]}},\n"
                       " \"Two.\",\n {\"text\": \"Three.\"}\n]\n";
    static const char *const want[] = {"One.", "Two.", "Three."};
    expect_read(text, 0, want, 3);
    expect_read(text, 1, want, 3);
}
END_TEST

START_TEST(test_read_generated_corpus)
{
    /* what stories_corpus writes, stories_read gives back */
    char *dir = test_tmpdir();
    char *path = path_in(dir, "gen.txt.gz");
    char *corpus = stories_corpus(SEED, 0, 50, NULL);
    write_gz(path, corpus);
    story_set s, g;
    err_t e = {{0}};
    ck_assert_msg(stories_read(path, &s, NULL, &e) == 0, "%s", e.msg);
    stories_generate_set(SEED, 0, 50, &g, NULL);
    ck_assert_uint_eq(s.n, 50);
    for (size_t i = 0; i < 50; i++)
        ck_assert_str_eq(s.text[i], g.text[i]);
    story_set_free(&s);
    story_set_free(&g);
    free(corpus);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* Fuzz finding: NUL bytes in a plain-text corpus stayed inside a story, which then ended at the NUL
 * with a trailing space ("a \0"), or was empty ("\0"), against the promise of stories.h. A NUL is
 * read as a space, which can neither join two halves of a marker nor survive at a story's end. */
START_TEST(test_read_nul_bytes)
{
    static const char text[] = "a \0\n<|endoftext|>\n\0\n<|endoftext|>\n \0 b\0 \r\0\n<|endoftext|>\nc\0d\r\0\ne"
                               "<|endoftext|>x<|endof\0text|>y\0";
    static const char *const want[] = {"a", "b", "c d\n \ne", "x<|endof text|>y"};
    char *dir = test_tmpdir(), *path = path_in(dir, "nul.txt");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    ck_assert_int_eq(fclose(f), 0);
    story_set s;
    err_t e = {{0}};
    ck_assert_msg(stories_read(path, &s, NULL, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(s.n, 4);
    for (size_t i = 0; i < s.n; i++) {
        ck_assert_str_eq(s.text[i], want[i]);
        ck_assert_uint_eq(s.len[i], strlen(want[i]));
    }
    story_set_free(&s);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(test_read_errors)
{
    char *dir = test_tmpdir();
    char *missing = path_in(dir, "missing.txt");
    expect_read_error(missing, "cannot open");
    expect_read_error(dir, "is a directory");

    /* empty corpora and malformed JSON: the message names the file (and the line or item) */
    static const struct { const char *name, *text; int gz; const char *needle; } cases[] = {
        {"empty.txt", "", 0, "no stories"},
        {"blank.txt", "\n  \n<|endoftext|>\n\n<|endoftext|>\n", 0, "no stories"},
        {"empty.txt.gz", "", 1, "no stories"},
        {"cut.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"broken\n", 0, "cut.jsonl:2: "},
        {"notext.jsonl", "{\"text\": \"fine\"}\n\n{\"title\": \"x\"}\n", 0, ":3: expected a JSON string"},
        {"item.json", "[{\"text\": \"a\"}, 3]", 0, "item 1"},
        {"open.json", "[{\"text\": \"a\"}", 0, "open.json: "},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *path = path_in(dir, cases[k].name);
        if (cases[k].gz)
            write_gz(path, cases[k].text);
        else
            write_text(path, cases[k].text);
        expect_read_error(path, cases[k].needle);
        free(path);
    }

    /* a gzip file cut short */
    char *gz = path_in(dir, "cut.txt.gz");
    char *corpus = stories_corpus(SEED, 0, 20, NULL);
    write_gz(gz, corpus);
    struct stat st;
    ck_assert_int_eq(stat(gz, &st), 0);
    ck_assert_int_eq(truncate(gz, st.st_size / 2), 0);
    expect_read_error(gz, "gzip");
    /* an endless line: refused at the line limit instead of filling the memory */
    expect_read_error("/dev/zero", "/dev/zero:1: longer than 64 MiB, the limit for a line of a story corpus");

    free(corpus);
    free(gz);
    free(missing);
    test_rmdir(dir);
}
END_TEST

/* ---- the split --------------------------------------------------------------------------------- */

START_TEST(test_split)
{
    enum { N = 100000 };
    story_split a, b, c;
    err_t e = {{0}};
    ck_assert_int_eq(stories_split(N, 7, 0.01, &a, &e), 0);
    ck_assert_int_eq(stories_split(N, 7, 0.01, &b, &e), 0);
    ck_assert_int_eq(stories_split(N, 8, 0.01, &c, &e), 0);
    ck_assert_uint_eq(a.n_train + a.n_val, N);
    ck_assert_msg(a.n_val > 850 && a.n_val < 1150, "%zu validation stories of %d", a.n_val, N);
    /* deterministic, ascending, disjoint, covering, and what stories_is_validation says */
    ck_assert_uint_eq(a.n_val, b.n_val);
    ck_assert(!memcmp(a.val, b.val, a.n_val * sizeof *a.val));
    char *seen = xcalloc(N, 1);
    for (size_t i = 0; i < a.n_val; i++) {
        ck_assert(i == 0 || a.val[i] > a.val[i - 1]);
        ck_assert(stories_is_validation(7, a.val[i], 0.01));
        seen[a.val[i]]++;
    }
    for (size_t i = 0; i < a.n_train; i++) {
        ck_assert(i == 0 || a.train[i] > a.train[i - 1]);
        ck_assert(!stories_is_validation(7, a.train[i], 0.01));
        seen[a.train[i]]++;
    }
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    /* another seed, another split */
    size_t same = 0;
    for (size_t i = 0; i < c.n_val; i++)
        same += stories_is_validation(7, c.val[i], 0.01);
    ck_assert_uint_lt(same, c.n_val / 5);
    /* a story keeps its side when the corpus grows */
    story_split small;
    ck_assert_int_eq(stories_split(N / 2, 7, 0.01, &small, &e), 0);
    for (size_t i = 0; i < small.n_val; i++)
        ck_assert(stories_is_validation(7, small.val[i], 0.01));
    story_split_free(&small);
    free(seen);
    story_split_free(&a);
    story_split_free(&b);
    story_split_free(&c);

    /* tiny corpora keep both sides; no validation at 0 */
    static const struct { size_t n; double frac; size_t val_lo, val_hi; } sizes[] = {
        {2, 0.01, 1, 1}, {3, 0.999, 1, 2}, {1000, 0, 0, 0}, {0, 0.5, 0, 0}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        ck_assert_int_eq(stories_split(sizes[k].n, 7, sizes[k].frac, &a, &e), 0);
        ck_assert_uint_eq(a.n_train + a.n_val, sizes[k].n);
        ck_assert_msg(a.n_val >= sizes[k].val_lo && a.n_val <= sizes[k].val_hi, "%zu of %zu at %g", a.n_val,
                      sizes[k].n, sizes[k].frac);
        story_split_free(&a);
    }
    /* bad fractions refused */
    ck_assert_int_eq(stories_split(10, 7, 1.0, &a, &e), -1);
    ck_assert_str_eq(e.msg, "validation fraction 1 is not in [0, 1)");
    ck_assert_int_eq(stories_split(10, 7, -0.5, &a, &e), -1);
    ck_assert_int_eq(stories_split(10, 7, NAN, &a, &e), -1);
}
END_TEST

Suite *suite_stories(void)
{
    Suite *s = suite_create("stories");
    TCase *tc = tcase_create("words");
    tcase_add_test(tc, test_word_lists);
    tcase_add_test(tc, test_inflections);
    suite_add_tcase(s, tc);
    tc = tcase_create("generator");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_generator_deterministic);
    tcase_add_test(tc, test_generator_distinct);
    tcase_add_test(tc, test_generator_prompt_obeyed);
    tcase_add_test(tc, test_generator_features);
    tcase_add_test(tc, test_generator_text_shape);
    tcase_add_test(tc, test_generator_pronouns);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_test(tc, test_read_plain);
    tcase_add_test(tc, test_read_json_lines);
    tcase_add_test(tc, test_read_json_array);
    tcase_add_test(tc, test_read_generated_corpus);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_read_nul_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("split");
    tcase_add_test(tc, test_split);
    suite_add_tcase(s, tc);
    return s;
}
