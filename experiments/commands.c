#include "commands.h"

/* The order `memlab help` lists them in. */
const command *const memlab_commands[] = {
    &three_moons_command, &regbench_command, &babistories_command, &memory_inversion_command, &copy_command,
    &blank_copy_command,  &bench_command,    &info_command,        &tokenize_command,         &xor_command,
};
const int memlab_ncommands = sizeof memlab_commands / sizeof memlab_commands[0];
