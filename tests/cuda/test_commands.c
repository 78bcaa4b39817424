/* Every command that trains or runs a language model, run on the CPU and with --device cuda (fp32,
 * then bf16), short runs of the same seed: the same CSV columns and rows, text fields equal, numbers
 * within a stated tolerance. memlab is found beside this program's directory (build/memlab for
 * build/cuda-tests/, DIR/memlab in a device pack); the runs go to a temporary directory.
 *
 * Tolerances, |gpu - cpu| <= atol + rtol |cpu| per number (columns of wall-clock time skipped):
 * - fp32: losses, probabilities and attention weights 1e-4 + 1e-4 relative (a 20-step training
 *   curve measured within 1e-5 on the H100, docs/gpu.md; the GPU sums in other orders). Accuracies
 *   (argmax counts) 0.02: one flip between near-tied logits among a few hundred tokens.
 *   Greedy text (generate, compare) must be equal.
 * - bf16: 5e-2 + 5e-2 relative on losses and weights, accuracies 0.1 (products of 8-bit mantissas:
 *   the smoke runs measured 6e-4 relative on the loss, test_lm_step states 1% on a step); text
 *   is not compared (a near tie may go either way), only that the command succeeds.
 * A checkpoint written on the GPU is scored on the CPU and on the GPU: the fp32 tolerance. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char memlab[4200], dir[4096];

/* The stdout of a shell command line (malloc'd), or NULL when it failed (a FAIL line printed). */
static char *run(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *run(const char *name, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(cmd, sizeof cmd, "cd %s && %s ", dir, memlab);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " --quiet --threads 8");
    FILE *p = popen(cmd, "r");
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    for (size_t got; p && (got = fread(out + len, 1, cap - len - 1, p)) > 0;)
        if ((len += got) + 1 == cap)
            out = realloc(out, cap *= 2);
    out[len] = '\0';
    int status = p ? pclose(p) : -1;
    if (status != 0) {
        char what[300];
        snprintf(what, sizeof what, "%s: exit status (command: %.200s)", name, cmd);
        th_check_scalar(what, status, 0, 0, 0);
        free(out);
        return NULL;
    }
    return out;
}

/* Splits s in place at sep; returns the number of pieces (at most max). */
static int split(char *s, char sep, char **piece, int max)
{
    int n = 0;
    while (n < max) {
        piece[n++] = s;
        char *c = strchr(s, sep);
        if (!c)
            break;
        *c = '\0';
        s = c + 1;
    }
    return n;
}

static int skipped(const char *col) { return strstr(col, "seconds") || strstr(col, "per_s"); }
static int accuracy(const char *col) { return strstr(col, "acc") != NULL; }

/* Two CSV tables (header first): same shape and text, numbers within (atol, rtol), accuracies
 * within acc_tol; text compared only when text_equal. One line for the numbers, one for the text. */
static void compare_csv(const char *name, char *gpu, char *cpu, double tol, double acc_tol, int text_equal)
{
    enum { MAXL = 100000, MAXF = 64 };
    static char *lg[MAXL], *lc[MAXL];
    if (!gpu || !cpu)
        return;
    int ng = split(gpu, '\n', lg, MAXL), nc = split(cpu, '\n', lc, MAXL);
    char line[300];
    snprintf(line, sizeof line, "%s: rows", name);
    if (!th_check_scalar(line, ng, nc, 0, 0))
        return;
    char *hdr[MAXF], *fg[MAXF], *fc[MAXF];
    int text_diff = strcmp(lg[0], lc[0]) != 0;   /* the header (generate: the text itself) */
    int ncol = split(lc[0], ',', hdr, MAXF);
    size_t cap = (size_t)ng * ncol + 1, nnum = 0, nacc = 0;
    real *got = malloc(cap * sizeof *got), *want = malloc(cap * sizeof *want);
    real *agot = malloc(cap * sizeof *agot), *awant = malloc(cap * sizeof *awant);
    for (int i = 1; i < ng; i++) {
        /* a quoted field with commas (compare's text) splits the same way on both sides */
        int a = split(lg[i], ',', fg, MAXF), b = split(lc[i], ',', fc, MAXF);
        if (a != b) {
            text_diff++;
            continue;
        }
        for (int k = 0; k < a; k++) {
            char *end_g, *end_c;
            double x = strtod(fg[k], &end_g), y = strtod(fc[k], &end_c);
            const int numeric = *fg[k] && *fc[k] && !*end_g && !*end_c;
            const char *col = k < ncol ? hdr[k] : "";
            if (numeric && skipped(col))
                continue;
            if (numeric && accuracy(col)) {
                agot[nacc] = (real)x, awant[nacc++] = (real)y;
            } else if (numeric) {
                got[nnum] = (real)x, want[nnum++] = (real)y;
            } else if (text_equal && strcmp(fg[k], fc[k]) != 0) {
                text_diff++;
            }
        }
    }
    snprintf(line, sizeof line, "%s: numbers", name);
    th_check(line, got, want, nnum, tol, tol);
    if (nacc) {
        snprintf(line, sizeof line, "%s: accuracies", name);
        th_check(line, agot, awant, nacc, acc_tol, 0);
    }
    if (text_equal) {
        snprintf(line, sizeof line, "%s: text fields that differ", name);
        th_check_scalar(line, text_diff, 0, 0, 0);
    }
    free(got), free(want), free(agot), free(awant);
}

/* One command line on the CPU, on the GPU in fp32 and in bf16, compared; `text`: greedy output
 * that fp32 must reproduce. The three runs share the command's --out-dir (--force: only their
 * stdout is compared). */
static void three_ways(const char *name, const char *args, int text)
{
    char label[200];
    char *cpu = run(name, "%s --device cpu --force", args);
    char *cpu2 = cpu ? strdup(cpu) : NULL;
    char *f32 = run(name, "%s --device cuda --force", args), *b16 = run(name, "%s --device cuda --dtype bf16 --force", args);
    snprintf(label, sizeof label, "%s, cuda fp32 vs cpu", name);
    compare_csv(label, f32, cpu, 1e-4, 0.02, text);
    snprintf(label, sizeof label, "%s, cuda bf16 vs cpu", name);
    compare_csv(label, b16, cpu2, 5e-2, 0.1, 0);
    free(cpu), free(cpu2), free(f32), free(b16);
}

/* The command lines run three ways (on the CPU's smoke checkpoints in cpu/), and whether their
 * greedy text must be equal in fp32. */
static const struct {
    const char *name, *args;
    int text;
} cases[] = {
    {"babistories score gpt", "babistories score --ckpt cpu/babistories_gpt.safetensors --text story.txt", 0},
    {"babistories score mosaic", "babistories score --ckpt cpu/babistories_mosaic.safetensors --text story.txt", 0},
    {"babistories ood", "babistories ood --ckpt cpu/babistories_gpt.safetensors,cpu/babistories_mosaic.safetensors --text story.txt", 0},
    {"babistories attention", "babistories attention --ckpt cpu/babistories_gpt.safetensors,cpu/babistories_mosaic.safetensors --windows 8 --out-dir att --stories 300 --val-stories 20 --vocab-size 300", 0},
    {"babistories generate gpt", "babistories generate --ckpt cpu/babistories_gpt.safetensors --temperature 0 --max-tokens 24", 1},
    {"babistories generate mosaic", "babistories generate --ckpt cpu/babistories_mosaic.safetensors --temperature 0 --max-tokens 24", 1},
    {"babistories generate mosaic, past the context (window)", "babistories generate --ckpt cpu/babistories_mosaic.safetensors --temperature 0 --max-tokens 80", 1},
    {"babistories compare", "babistories compare --ckpt cpu/babistories_gpt.safetensors,cpu/babistories_mosaic.safetensors --prompts prompts.txt --format csv --temperature 0 --max-tokens 16", 1},
    {"regbench gpt", "regbench --preset smoke --model gpt", 1},
    {"regbench mosaic", "regbench --preset smoke --model mosaic", 1},
    {"copy", "copy --preset smoke --out-dir copy", 1},
    {"copy mosaic, frozen encoder", "copy --preset smoke --encoder frozen --ae-steps 5 --encoder-arch mosaic --decoder-arch mosaic --out-dir copyf", 1},
    {"blank-copy", "blank-copy --preset smoke --out-dir blank", 1},
    {"memory-inversion", "memory-inversion --preset smoke --encoder untrained,causal,autoencoder,frozen,joint --out-dir inv", 1},
};

int main(void)
{
    th_open("test_commands");
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    *strrchr(self, '/') = '\0';   /* .../cuda-tests */
    *strrchr(self, '/') = '\0';
    snprintf(memlab, sizeof memlab, "%s/memlab", self);
    snprintf(dir, sizeof dir, "/tmp/memlab_test_commands_XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL cannot make a temporary directory\n");
        return 1;
    }
    /* babistories: training (both architectures, no dropout: the GPU's masks are not the CPU's) */
    const char *train = "babistories --preset smoke --steps 20 --dropout 0";
    char *cpu = run("train cpu", "%s --out-dir cpu", train), *cpu2 = cpu ? strdup(cpu) : NULL;
    char *f32 = run("train cuda", "%s --out-dir cuda --device cuda", train);
    char *b16 = run("train cuda bf16", "%s --out-dir bf16 --device cuda --dtype bf16", train);
    compare_csv("babistories train, cuda fp32 vs cpu", f32, cpu, 1e-4, 0.02, 1);
    compare_csv("babistories train, cuda bf16 vs cpu", b16, cpu2, 5e-2, 0.1, 0);
    free(cpu), free(cpu2), free(f32), free(b16);
    char *story = run("a text", "babistories --dump-corpus 4");
    char path[4200];
    snprintf(path, sizeof path, "%s/story.txt", dir);
    FILE *f = fopen(path, "w");
    fputs(story ? story : "", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/prompts.txt", dir);
    f = fopen(path, "w");
    fputs("Once upon a time\nThe cat\n", f);
    fclose(f);
    free(story);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        three_ways(cases[i].name, cases[i].args, cases[i].text);
    /* a checkpoint the GPU wrote, read on either device */
    cpu = run("score a GPU checkpoint on the cpu", "babistories score --ckpt cuda/babistories_mosaic.safetensors --text story.txt");
    f32 = run("score a GPU checkpoint on the gpu", "babistories score --ckpt cuda/babistories_mosaic.safetensors --text story.txt --device cuda");
    compare_csv("GPU-written checkpoint scored, cuda vs cpu", f32, cpu, 1e-4, 0.02, 1);
    free(cpu), free(f32);

    char rm[4200];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        printf("# could not remove %s\n", dir);
    return th_finish();
}
