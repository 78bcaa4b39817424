#include "corpus_opts.h"

token_corpus_opts corpus_opts_for(const corpus_opts *o, const driver *d)
{
    return (token_corpus_opts){.data = o->data, .stories = o->stories, .val_stories = o->val_stories,
                               .val_fraction = o->val_fraction, .tokenizer = o->tokenizer,
                               .vocab_size = (int)o->vocab_size, .vocab_dir = o->vocab_dir, .seed = d->opt.seed,
                               .out_dir = d->opt.out_dir, .quiet = d->opt.quiet, .command = d->spec->command};
}
