/* memlab: the command table and dispatch, nothing else. */
#include <stdio.h>
#include <string.h>

#include "../experiments/commands.h"
#include "../experiments/driver.h"
#include "core/blas.h"
#include "core/dist.h"
#include "core/op_profile.h"
#include "io/atomic.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const cmd_spec help_spec = {.command = "help", .summary = "this list; `memlab COMMAND --help` for a command's options"};
static const cmd_spec version_spec = {.command = "version", .summary = "version and git commit"};
static const command help_command = {&help_spec, NULL, cmd_help, 0};
static const command version_command = {&version_spec, NULL, cmd_version, 0};

/* The experiments and utilities (experiments/commands.c), then help and version. */
static const command *const builtins[] = {&help_command, &version_command};
#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

static const command *command_at(int i)
{
    return i < memlab_ncommands ? memlab_commands[i] : builtins[i - memlab_ncommands];
}

static int matches(const command *c, const char *name)
{
    if (strcmp(c->spec->command, name) == 0)
        return 1;
    if (!c->aliases)
        return 0;
    size_t n = strlen(name);
    for (const char *a = c->aliases; *a;) {
        size_t len = strcspn(a, " ");
        if (len == n && strncmp(a, name, n) == 0)
            return 1;
        a += len;
        a += strspn(a, " ");
    }
    return 0;
}

static void list_commands(FILE *f, int experiment)
{
    for (int i = 0; i < memlab_ncommands + NBUILTINS; i++)
        if (command_at(i)->experiment == experiment)
            fprintf(f, "  %-18s %s\n", command_at(i)->spec->command, command_at(i)->spec->summary);
}

static void print_help(FILE *f)
{
    fprintf(f, "memlab %s: experiments on memory in sequence models (Memory Mosaics; LM memory and\n"
           "memory models for language), on one small C numerical core.\n\n"
           "usage: memlab COMMAND [options]      memlab COMMAND --help\n\n",
           MEMLAB_VERSION);
    int any = 0;
    for (int i = 0; i < memlab_ncommands; i++)
        any |= memlab_commands[i]->experiment;
    fprintf(f, "Experiments:\n");
    if (any)
        list_commands(f, 1);
    else
        fprintf(f, "  (none built yet)\n");
    fprintf(f, "\nUtilities:\n");
    list_commands(f, 0);
    fprintf(f, "\nOptions shared by every experiment: --seed N, --threads N, --config FILE.yaml,\n"
           "--preset smoke|default|paper, --print-config, -o FILE, --out-dir DIR, --quiet.\n"
           "CSV goes to stdout (or -o FILE); logs and progress go to stderr.\n");
    if (strcmp(dist_transport(), "none") == 0)
        fprintf(f, "\nData-parallel training (mpirun -np N memlab babistories ...) needs a build with MPI:\n"
                   "apt-get install libopenmpi-dev openmpi-bin, then make clean && make (docs/distributed.md).\n");
    else
        fprintf(f, "\nData-parallel training: mpirun -np N memlab babistories ... (built with %s; docs/distributed.md).\n",
                dist_transport());
}

static const command *find_command(const char *name);

/* `memlab help` lists the commands; `memlab help COMMAND` is `memlab COMMAND --help`. */
static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stdout);
        return 0;
    }
    const command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "memlab: help: unknown command '%s' (see `memlab help`)\n", argv[1]);
        return 2;
    }
    char *args[] = {argv[1], "--help", NULL};
    return c->run(2, args);
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("memlab %s (commit %s, data-parallel transport: %s)\n", MEMLAB_VERSION, memlab_git_commit, dist_transport());
    return 0;
}

static const command *find_command(const char *name)
{
    for (int i = 0; i < memlab_ncommands + NBUILTINS; i++)
        if (matches(command_at(i), name))
            return command_at(i);
    return NULL;
}

int main(int argc, char **argv)
{
    blas_choose_kernels(argv);   /* may start memlab again with OPENBLAS_CORETYPE set */
    dist_init(&argc, &argv);   /* a data-parallel rank when an MPI launcher started us */
    atomic_cleanup_on_signals();
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help(0, NULL);
    if (strcmp(name, "--version") == 0)
        return cmd_version(0, NULL);
    const command *c = find_command(name);
    if (c) {
        int rc = c->run(argc - 1, argv + 1);
        op_profile_report();
        return rc;
    }
    fprintf(stderr, "memlab: unknown command '%s' (see `memlab help`)\n", name);
    return 2;
}
