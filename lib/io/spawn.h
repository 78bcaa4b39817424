/* Child processes: memlab runs itself (a regbench sweep's points, bench's measurements) or another
 * program (bench's PyTorch peer), with its stdout sent to /dev/null or captured through a pipe. One
 * place starts them, waits for them and says how they ended, and one place finds the binary. */
#ifndef MEMLAB_IO_SPAWN_H
#define MEMLAB_IO_SPAWN_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "core/error.h"

/* argv[0] that runs this very binary, even if its file was replaced since it started. */
#define SPAWN_SELF "/proc/self/exe"

typedef enum {
    SPAWN_OUT_INHERIT,   /* the child writes to our stdout */
    SPAWN_OUT_NULL,      /* to /dev/null */
    SPAWN_OUT_PIPE,      /* to a pipe: spawn_read_all reads it */
} spawn_out;

typedef struct {
    pid_t pid;
    int out_fd;          /* SPAWN_OUT_PIPE: the read end; -1 otherwise */
} spawn_child;

/* The path of the running binary (for messages and for files beside it); 0, or -1 with e set. */
int spawn_self_path(char *buf, size_t len, err_t *e);

/* Starts the program at path (SPAWN_SELF: this binary; NULL: argv[0]) with argv (NULL-terminated;
 * argv[0] is the name the child sees); stderr is ours. 0, or -1 with e set ("cannot run ..."). */
int spawn_start(const char *path, char *const *argv, spawn_out out, spawn_child *c, err_t *e);

/* Reads the child's piped stdout to its end: the first len - 1 bytes go to buf (NUL-terminated),
 * the rest is drained, so that a talkative child never blocks on a full pipe. Closes the pipe;
 * returns the bytes kept. */
size_t spawn_read_all(spawn_child *c, char *buf, size_t len);

/* Waits for the child (pid > 0) or for any child (pid -1); returns the pid that ended, with its
 * waitpid status and resource use (ru may be NULL). Retries on EINTR; -1 with e set otherwise. */
pid_t spawn_wait(pid_t pid, int *status, struct rusage *ru, err_t *e);

/* 1 when the status is a clean exit (0). */
int spawn_ok(int status);
/* "exit status N" or "signal N". */
const char *spawn_status_str(int status, char *buf, size_t len);

#endif
