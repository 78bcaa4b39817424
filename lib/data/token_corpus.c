#include "data/token_corpus.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/stories.h"
#include "io/atomic.h"
#include "io/ckpt.h"
#include "io/progress.h"
#include "io/sha256.h"

static void tokens_push(token_stream *s, size_t *cap, const int *ids, size_t n)
{
    if (s->n + n > *cap) {
        *cap = (s->n + n) * 2;
        s->ids = xrealloc(s->ids, *cap * sizeof *s->ids);
    }
    memcpy(s->ids + s->n, ids, n * sizeof *ids);
    s->n += n;
}

/* The training stories that a trained tokenizer learns from, as one text separated by <|endoftext|>. */
static char *tokenizer_text(const story_set *set, const size_t *idx, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += set->len[idx ? idx[i] : i] + sizeof STORIES_EOT + 1;
    char *text = xmalloc(total + 1), *at = text;
    for (size_t i = 0; i < n; i++) {
        size_t k = idx ? idx[i] : i;
        memcpy(at, set->text[k], set->len[k]);
        at += set->len[k];
        at += sprintf(at, "\n%s\n", STORIES_EOT);
    }
    *len = (size_t)(at - text);
    return text;
}

static void bpe_progress(void *ctx, int merges_done, int merges_max)
{
    progress *p = ctx;
    p->total = merges_max;
    progress_update(p, merges_done, 0, 0);
}

static bpe *make_tokenizer(const token_corpus_opts *op, token_corpus *bd, const story_set *set, const size_t *idx,
                           size_t n_train, err_t *e)
{
    if (strcmp(op->tokenizer, "gpt2") == 0) {
        if (!op->vocab_dir) {
            err_set(e, "--tokenizer gpt2 needs --vocab-dir DIR holding encoder.json and vocab.bpe");
            return NULL;
        }
        snprintf(bd->tokenizer_ref, sizeof bd->tokenizer_ref, "gpt2");
        return bpe_load_gpt2(op->vocab_dir, e);
    }
    if (strcmp(op->tokenizer, "train") != 0) {
        snprintf(bd->tokenizer_ref, sizeof bd->tokenizer_ref, "%s", op->tokenizer);
        return bpe_load(op->tokenizer, e);
    }
    size_t n = n_train < CORPUS_TOKENIZER_STORIES ? n_train : CORPUS_TOKENIZER_STORIES, len;
    char *text = tokenizer_text(set, idx, n, &len);
    log_info(op->quiet, "%s: training a %d-token BPE on %zu stories", op->command ? op->command : "memlab",
             op->vocab_size, n);
    char label[96];
    progress p;
    snprintf(label, sizeof label, "%s: BPE", op->command ? op->command : "memlab");
    progress_start_items(&p, label, "merge", 0, op->quiet);
    bpe *tok = bpe_train(text, len, op->vocab_size, bpe_progress, &p);
    progress_end(&p);
    free(text);
    /* saved in --out-dir by corpus_build once the streams passed their checks */
    snprintf(bd->tokenizer_ref, sizeof bd->tokenizer_ref, "%s/tokenizer.json", op->out_dir);
    return tok;
}

/* Stories idx[0..n) (idx NULL: 0..n-1), each followed by <|endoftext|>, as one token stream. */
static void encode_stories(bpe *tok, const story_set *set, const size_t *idx, size_t n, token_stream *s)
{
    size_t cap = 0;
    bpe_ids scratch = {0};
    int eot = bpe_eot(tok);
    for (size_t i = 0; i < n; i++) {
        size_t k = idx ? idx[i] : i;
        scratch.n = 0;
        bpe_encode_ordinary(tok, set->text[k], set->len[k], &scratch);
        tokens_push(s, &cap, scratch.ids, scratch.n);
        tokens_push(s, &cap, &eot, 1);
    }
    free(scratch.ids);
}

/* The stories of both splits: a --data corpus split by story (the validation stories are indices
 * into the same set), or the generator's two sets. */
typedef struct {
    story_set train, val;
    story_split split;
    const size_t *tr_idx, *va_idx;   /* NULL: every story of the set in order */
    size_t n_tr, n_va;
    const story_set *va_set;
} corpus;

static int corpus_load(corpus *c, const token_corpus_opts *op, err_t *e)
{
    memset(c, 0, sizeof *c);
    const char *cmd = op->command ? op->command : "memlab";
    char label[96];
    progress p;
    if (op->data) {
        snprintf(label, sizeof label, "%s: reading %s", cmd, op->data);
        progress_start_items(&p, label, "line", 0, op->quiet);
        int rc = stories_read(op->data, &c->train, &p, e);
        progress_end(&p);
        if (rc != 0)
            return -1;
        if (stories_split(c->train.n, CORPUS_SEED, op->val_fraction, &c->split, e) != 0) {
            story_set_free(&c->train);
            return -1;
        }
        c->tr_idx = c->split.train;
        c->va_idx = c->split.val;
        c->n_tr = c->split.n_train;
        c->n_va = c->split.n_val;
        c->va_set = &c->train;
        log_info(op->quiet, "%s: %s: %zu stories (%zu training, %zu validation)",
                 op->command ? op->command : "memlab", op->data, c->train.n,
                 c->n_tr, c->n_va);
    } else {
        snprintf(label, sizeof label, "%s: generating stories", cmd);
        progress_start_items(&p, label, "story", op->stories, op->quiet);
        stories_generate_set(CORPUS_SEED, 0, (size_t)op->stories, &c->train, &p);
        progress_end(&p);
        stories_generate_set(CORPUS_SEED, CORPUS_VAL_FIRST, (size_t)op->val_stories, &c->val, NULL);
        c->n_tr = c->train.n;
        c->n_va = c->val.n;
        c->va_set = &c->val;
    }
    return 0;
}

static void corpus_free(corpus *c)
{
    story_split_free(&c->split);
    story_set_free(&c->train);
    story_set_free(&c->val);
}

/* Both splits hold an input of n tokens and its next one. */
static int check_window(const token_corpus *bd, size_t n, err_t *e)
{
    if (bd->train.n >= n + 2 && bd->val.n >= n + 2)
        return 0;
    return err_set(e, "the corpus is too small for inputs of %zu tokens (training %zu tokens, validation %zu)", n,
                   bd->train.n, bd->val.n);
}

/* The streams with `given` as the tokenizer (taken over), or with op's (trained, GPT-2's or a file)
 * when NULL. Nothing is written until the streams passed the window check: then a tokenizer trained
 * here goes to op->out_dir/tokenizer.json, a given one to save_as (when not NULL). */
static int corpus_build(token_corpus *bd, const token_corpus_opts *op, bpe *given, const char *save_as, err_t *e)
{
    memset(bd, 0, sizeof *bd);
    corpus c;
    if (corpus_load(&c, op, e) != 0) {
        if (given)
            bpe_free(given);
        return -1;
    }
    int trained = !given && strcmp(op->tokenizer, "train") == 0;
    bd->tok = given ? given : make_tokenizer(op, bd, &c.train, c.tr_idx, c.n_tr, e);
    if (!bd->tok) {
        corpus_free(&c);
        return -1;
    }
    size_t len;
    bd->tokenizer_json = bpe_to_json(bd->tok, &len);
    sha256_hex(bd->tokenizer_json, len, bd->tokenizer_sha256);
    bd->vocab = bpe_vocab_size(bd->tok);
    encode_stories(bd->tok, &c.train, c.tr_idx, c.n_tr, &bd->train);
    encode_stories(bd->tok, c.va_set, c.va_idx, c.n_va, &bd->val);
    corpus_free(&c);
    /* the tokenizer the results record (trained here, or the checkpoint's as save_as) */
    const int save = trained || (given && save_as);
    if (given && save_as)
        snprintf(bd->tokenizer_ref, sizeof bd->tokenizer_ref, "%s", save_as);
    if (check_window(bd, op->window, e) != 0 ||
        (save && (mkdir_p(op->out_dir, e) != 0 || bpe_save(bd->tok, bd->tokenizer_ref, e) != 0))) {
        token_corpus_free(bd);
        return -1;
    }
    return 0;
}

int token_corpus_load(token_corpus *bd, const token_corpus_opts *op, err_t *e)
{
    return corpus_build(bd, op, NULL, NULL, e);
}

int token_corpus_val(const token_corpus_opts *op, bpe *tok, token_stream *val, err_t *e)
{
    memset(val, 0, sizeof *val);
    corpus c;
    if (corpus_load(&c, op, e) != 0)
        return -1;
    encode_stories(tok, c.va_set, c.va_idx, c.n_va, val);
    corpus_free(&c);
    return 0;
}

void token_corpus_free(token_corpus *bd)
{
    free(bd->train.ids);
    free(bd->val.ids);
    if (bd->tok)
        bpe_free(bd->tok);
    free(bd->tokenizer_json);
    memset(bd, 0, sizeof *bd);
}

/* The tokenizer hash a checkpoint records, malloc'd; NULL when it records none (an old checkpoint)
 * or cannot be read (e set). */
static char *ckpt_tokenizer_sha256(const char *ckpt, err_t *e)
{
    ckpt_meta *md = ckpt_meta_read(ckpt, e);
    const char *h = md ? ckpt_meta_get(md, CKPT_TOKENIZER_SHA256) : NULL;
    char *out = h ? xstrdup(h) : NULL;
    ckpt_meta_free(md);
    return out;
}

int token_corpus_load_for_ckpt(token_corpus *bd, const token_corpus_opts *op, const char *ckpt, const char *save_as, err_t *e)
{
    if (!ckpt)
        return token_corpus_load(bd, op, e);
    if (strcmp(op->tokenizer, "train") != 0) {
        err_t me = {{0}};
        char *want = ckpt_tokenizer_sha256(ckpt, &me);
        if (!want && me.msg[0])
            return err_set(e, "%s", me.msg);
        int rc = token_corpus_load(bd, op, e);
        if (rc == 0 && want && strcmp(want, bd->tokenizer_sha256) != 0) {
            rc = err_set(e, "--tokenizer %s is not the tokenizer %s was trained with (sha256 %.12s..., not %.12s...)",
                         op->tokenizer, ckpt, bd->tokenizer_sha256, want);
            token_corpus_free(bd);
        }
        free(want);
        return rc;
    }
    bpe *tok = tokenizer_for_ckpt(ckpt, op->vocab_dir, op->quiet, e);
    if (!tok)
        return -1;
    return corpus_build(bd, op, tok, save_as, e);
}

void token_stream_windows(const token_stream *s, rng *r, int B, int T, int *ids, int *targets)
{
    for (int b = 0; b < B; b++) {
        size_t at = (size_t)rng_below(r, s->n - (size_t)T);
        memcpy(ids + (size_t)b * T, s->ids + at, (size_t)T * sizeof *ids);
        memcpy(targets + (size_t)b * T, s->ids + at + 1, (size_t)T * sizeof *targets);
    }
}

/* The tokenizer a checkpoint carries, checked against its hash. */
static bpe *carried_tokenizer(const char *ckpt, const char *json, const char *sha, err_t *e)
{
    char have[SHA256_HEX_LEN + 1], what[4200];
    sha256_hex(json, strlen(json), have);
    if (!sha || strcmp(sha, have) != 0) {
        err_set(e, "%s: its tokenizer does not match the sha256 it records (the checkpoint is damaged or was edited)",
                ckpt);
        return NULL;
    }
    snprintf(what, sizeof what, "%s: its tokenizer", ckpt);
    return bpe_from_json(json, strlen(json), what, e);
}

/* A checkpoint from before checkpoints carried their tokenizer: the one it names. */
static bpe *named_tokenizer(const char *ckpt, const char *ref, const char *vocab_dir, int quiet, err_t *e)
{
    bpe *tok = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", ref ? ref : "");
    if (!ref) {
        err_set(e, "%s: the checkpoint records no tokenizer", ckpt);
    } else if (strcmp(ref, "gpt2") == 0) {
        tok = vocab_dir ? bpe_load_gpt2(vocab_dir, e)
                        : (err_set(e, "%s: trained with GPT-2's tokenizer: give --vocab-dir DIR", ckpt), NULL);
    } else if (access(ref, R_OK) == 0) {
        tok = bpe_load(ref, e);
    } else {
        /* The run's folder may have moved: look beside the checkpoint. */
        char *c1 = strdup(ckpt), *c2 = strdup(ref);
        snprintf(path, sizeof path, "%s/%s", dirname(c1), basename(c2));
        tok = bpe_load(path, e);
        if (!tok)
            err_set(e, "%s: its tokenizer %s is missing (also not beside the checkpoint)", ckpt, ref);
        free(c1);
        free(c2);
    }
    if (tok)
        log_info(quiet, "note: %s predates checkpoints that carry their tokenizer: using %s, unchecked",
                 ckpt, strcmp(ref, "gpt2") == 0 ? "GPT-2's from --vocab-dir" : path);
    return tok;
}

bpe *tokenizer_for_ckpt(const char *ckpt, const char *vocab_dir, int quiet, err_t *e)
{
    ckpt_meta *md = ckpt_meta_read(ckpt, e);
    if (!md)
        return NULL;
    const char *json = ckpt_meta_get(md, CKPT_TOKENIZER_JSON);
    bpe *tok = json ? carried_tokenizer(ckpt, json, ckpt_meta_get(md, CKPT_TOKENIZER_SHA256), e)
                    : named_tokenizer(ckpt, ckpt_meta_get(md, "tokenizer"), vocab_dir, quiet, e);
    ckpt_meta_free(md);
    return tok;
}

void token_corpus_dump_stories(uint64_t n, FILE *f)
{
    char buf[STORIES_MAX_LEN + 1];
    for (uint64_t i = 0; i < n; i++) {
        stories_generate(CORPUS_SEED, i, buf, sizeof buf);
        fprintf(f, "%s\n%s\n", buf, STORIES_EOT);
    }
}
