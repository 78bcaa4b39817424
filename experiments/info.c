/* memlab info: the parameter count of a model shape, per tensor, per block and in total, without
 * building anything else, so that shapes can be matched before a run (docs/models.md#parameter-count:
 * a mosaic block and a GPT-2 block of the same width differ by a few dozen scalars). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "driver.h"
#include "lm_opts.h"

static lm_opts model_opts;
static long long info_vocab;

static const opt_spec info_options[] = {
    LM_OPTION_ROWS(model_opts, "gpt", "gpt|mosaic|lstm", "model: gpt (nanoGPT transformer), mosaic (memory mosaic) or lstm (LSTM layers)", "12", "768", "12", "512", "0"),
    {"vocab", 0, OPT_INT, &info_vocab, "50304", "vocabulary size (GPT-2's 50257 padded to 50304)", NULL, 2, 1 << 24, "V"},
};

static const cmd_spec info_spec = {
    .command = "info",
    .summary = "parameter count of a gpt, mosaic or lstm shape, per tensor, per block and in total",
    .usage = "memlab info [--arch gpt|mosaic|lstm] [--layers L --d D --heads H --vocab V --ctx T --pmem P]",
    .description = "Primary CSV: arch,scope,name,shape,params with one row per tensor (scope tensor), one\n"
                   "per block (scope block, name h.L) and the total (scope total). The defaults are\n"
                   "GPT-2 small's shape. Writes no files.",
    .opts = info_options,
    .nopts = sizeof info_options / sizeof info_options[0],
    .unused_common = "seed|threads|out-dir",
};

static void shape_text(const param_entry *pe, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < pe->ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, i ? "x%d" : "%d", pe->shape[i]);
}

int cmd_info(int argc, char **argv)
{
    driver d;
    int code;
    if (driver_begin(&d, &info_spec, argc, argv, &code) != 0)
        return code;
    lm_config cfg;
    err_t e;
    if (lm_opts_config(&model_opts, (int)info_vocab, &cfg, &e) != 0)
        return driver_usage_error(&d, "%s", e.msg);
    static const char *const cols[] = {"arch", "scope", "name", "shape", "params"};
    static const table_spec primary = TABLE_SPEC(NULL, cols);
    if (driver_open_csv(&d, &primary) != 0)
        return driver_end(&d, 0);
    lm m;
    lm_declare(&m, &cfg);   /* counted, never allocated: any shape fits in memory */
    const char *arch = lm_arch_name(cfg.arch);
    char shape[64], block[32];
    for (int i = 0; i < m.ps.count; i++) {
        const param_entry *pe = &m.ps.entries[i];
        shape_text(pe, shape, sizeof shape);
        csv_row(d.csv, cell_str(arch), cell_str("tensor"), cell_str(pe->name), cell_str(shape),
                cell_int((long long)pe->n));
    }
    for (int l = 0; l < cfg.layers; l++) {
        snprintf(block, sizeof block, "h.%d.", l);
        long long n = 0;
        for (int i = 0; i < m.ps.count; i++)
            if (strncmp(m.ps.entries[i].name, block, strlen(block)) == 0)
                n += (long long)m.ps.entries[i].n;
        block[strlen(block) - 1] = 0;
        csv_row(d.csv, cell_str(arch), cell_str("block"), cell_str(block), cell_str(""), cell_int(n));
    }
    csv_row(d.csv, cell_str(arch), cell_str("total"), cell_str(""), cell_str(""),
            cell_int((long long)params_numel(&m.ps)));
    lm_free(&m);
    return driver_end(&d, 1);
}

const command info_command = {&info_spec, NULL, cmd_info, 0};
