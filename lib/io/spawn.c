#include "io/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int spawn_self_path(char *buf, size_t len, err_t *e)
{
    ssize_t n = readlink(SPAWN_SELF, buf, len - 1);
    if (n <= 0)
        return err_set(e, "cannot find the memlab binary (%s): %s", SPAWN_SELF, strerror(errno));
    buf[n] = '\0';
    return 0;
}

int spawn_start(const char *path, char *const *argv, spawn_out out, spawn_child *c, err_t *e)
{
    if (!path)
        path = argv[0];
    int fd[2] = {-1, -1};
    if (out == SPAWN_OUT_PIPE && pipe(fd) != 0)
        return err_set(e, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out == SPAWN_OUT_NULL)
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (out == SPAWN_OUT_PIPE) {
        posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&fa, fd[0]);
        posix_spawn_file_actions_addclose(&fa, fd[1]);
    }
    fflush(NULL);   /* nothing buffered here is written twice or out of order */
    int rc = posix_spawn(&c->pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (out == SPAWN_OUT_PIPE)
        close(fd[1]);
    c->out_fd = fd[0];
    if (rc != 0) {
        if (fd[0] >= 0)
            close(fd[0]);
        c->out_fd = -1;
        return err_set(e, "cannot run %s: %s", argv[0], strerror(rc));
    }
    return 0;
}

size_t spawn_read_all(spawn_child *c, char *buf, size_t len)
{
    char drain[4096];
    size_t kept = 0;
    for (;;) {
        const int room = kept < len - 1;
        ssize_t got = room ? read(c->out_fd, buf + kept, len - 1 - kept) : read(c->out_fd, drain, sizeof drain);
        if (got > 0)
            kept += room ? (size_t)got : 0;
        else if (got == 0 || errno != EINTR)
            break;
    }
    buf[kept] = '\0';
    close(c->out_fd);
    c->out_fd = -1;
    return kept;
}

pid_t spawn_wait(pid_t pid, int *status, struct rusage *ru, err_t *e)
{
    struct rusage ignored;
    for (;;) {
        pid_t p = wait4(pid, status, 0, ru ? ru : &ignored);
        if (p >= 0)
            return p;
        if (errno != EINTR)
            return err_set(e, "waiting for a child process: %s", strerror(errno));
    }
}

int spawn_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

const char *spawn_status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return buf;
}
