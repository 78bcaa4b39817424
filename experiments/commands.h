/* The subcommands: each experiment file exports one `command` (its option spec, which holds the
 * name and the one-line summary, its aliases and its entry point); cmd/memlab.c lists them. An entry
 * point takes argv with argv[0] = the command name and returns the process exit status (0 ok, 1
 * run-time failure, 2 usage error). */
#ifndef MEMLAB_EXPERIMENTS_COMMANDS_H
#define MEMLAB_EXPERIMENTS_COMMANDS_H

#include "io/args.h"

typedef struct {
    const cmd_spec *spec;      /* name (spec->command), summary, options */
    const char *aliases;       /* space-separated, or NULL */
    int (*run)(int argc, char **argv);
    int experiment;            /* listed under experiments (1) or utilities (0) */
} command;

extern const command three_moons_command, regbench_command, babistories_command, memory_inversion_command,
    copy_command, blank_copy_command, bench_command, info_command, tokenize_command, xor_command;

/* Every command above, in the order `memlab help` lists them (experiments/commands.c): cmd/memlab.c
 * dispatches to them, and the tests walk them (every command's printed config replays). */
extern const command *const memlab_commands[];
extern const int memlab_ncommands;

#endif
