/* Entry points of the subcommands: each takes argv with argv[0] = the command name and returns
 * the process exit status (0 ok, 1 run-time failure, 2 usage error). */
#ifndef MEMLAB_EXPERIMENTS_COMMANDS_H
#define MEMLAB_EXPERIMENTS_COMMANDS_H

int cmd_xor(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_three_moons(int argc, char **argv);
int cmd_regbench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_babistories(int argc, char **argv);
int cmd_memory_inversion(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_blank_copy(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
