#include "io/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tee's state: one per process, as stderr is. The mutex guards the copy (file or memory) that
 * the thread appends to and runlog_attach moves to the file. */
static struct {
    int active;
    int real_fd;          /* the original stderr */
    int pipe_rd;
    pthread_t thread;
    pthread_mutex_t lock;
    FILE *file;           /* once attached */
    char *held;           /* the copy before attaching */
    size_t held_len, held_cap;
    char line[4096];      /* the line being built (its last redraw) */
    size_t line_len;
    int esc;              /* 0 text, 1 after ESC, 2 inside an ESC [ ... sequence */
    int registered;       /* the atexit handler */
} rl = {.real_fd = -1, .pipe_rd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;   /* the terminal went away: nothing to tell it */
        p += w;
        n -= (size_t)w;
    }
}

/* Appends to the copy (the caller holds the lock). */
static void copy_append(const char *p, size_t n)
{
    if (rl.file) {
        fwrite(p, 1, n, rl.file);
        fflush(rl.file);   /* a run killed later still leaves its log so far */
        return;
    }
    if (rl.held_len + n > rl.held_cap) {
        rl.held_cap = (rl.held_len + n) * 2 + 256;
        rl.held = xrealloc(rl.held, rl.held_cap);
    }
    memcpy(rl.held + rl.held_len, p, n);
    rl.held_len += n;
}

static void line_end(void)
{
    rl.line[rl.line_len++] = '\n';
    copy_append(rl.line, rl.line_len);
    rl.line_len = 0;
}

/* The redraw filter: '\r' starts the line over, escape sequences vanish, '\n' keeps the line. */
static void filter(const char *p, size_t n)
{
    pthread_mutex_lock(&rl.lock);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (rl.esc == 1) {
            rl.esc = c == '[' ? 2 : 0;
            continue;
        }
        if (rl.esc == 2) {
            if (c >= 0x40 && c <= 0x7e)
                rl.esc = 0;
            continue;
        }
        if (c == '\033')
            rl.esc = 1;
        else if (c == '\r')
            rl.line_len = 0;
        else if (c == '\n')
            line_end();
        else {
            if (rl.line_len + 2 > sizeof rl.line)   /* a very long line is kept in pieces */
                line_end();
            rl.line[rl.line_len++] = c;
        }
    }
    pthread_mutex_unlock(&rl.lock);
}

static void *tee_thread(void *arg)
{
    (void)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(rl.pipe_rd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        write_all(rl.real_fd, buf, (size_t)n);
        filter(buf, (size_t)n);
    }
    pthread_mutex_lock(&rl.lock);
    if (rl.line_len > 0)
        line_end();
    pthread_mutex_unlock(&rl.lock);
    return NULL;
}

static void finish_at_exit(void) { runlog_finish(NULL); }

int runlog_start(void)
{
    if (rl.active)
        return 0;
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0)
        return -1;
    fflush(stderr);
    rl.real_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (rl.real_fd < 0 || dup2(fd[1], STDERR_FILENO) < 0) {
        if (rl.real_fd >= 0)
            close(rl.real_fd);
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    close(fd[1]);   /* fd 2 is the write end now (without close-on-exec: children write to it too) */
    rl.pipe_rd = fd[0];
    rl.line_len = 0;
    rl.esc = 0;
    if (pthread_create(&rl.thread, NULL, tee_thread, NULL) != 0) {
        dup2(rl.real_fd, STDERR_FILENO);
        close(rl.real_fd);
        close(rl.pipe_rd);
        return -1;
    }
    rl.active = 1;
    if (!rl.registered)
        rl.registered = atexit(finish_at_exit) == 0;
    return 0;
}

int runlog_attach(const char *path, int append, err_t *e)
{
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f)
        return err_set(e, "%s: cannot create: %s", path, strerror(errno));
    pthread_mutex_lock(&rl.lock);
    if (rl.file)
        fclose(rl.file);
    rl.file = f;
    if (rl.held_len)
        copy_append(rl.held, rl.held_len);
    free(rl.held);
    rl.held = NULL;
    rl.held_len = rl.held_cap = 0;
    pthread_mutex_unlock(&rl.lock);
    return 0;
}

void runlog_finish(const char *extra_line)
{
    if (!rl.active)
        return;
    rl.active = 0;
    fflush(stderr);
    /* Closing fd 2's pipe end gives the thread its end of file once the pipe is drained (a child
     * still holding it would delay that: children are waited for before a run ends). */
    dup2(rl.real_fd, STDERR_FILENO);
    pthread_join(rl.thread, NULL);
    close(rl.real_fd);
    rl.real_fd = -1;
    close(rl.pipe_rd);
    rl.pipe_rd = -1;
    pthread_mutex_lock(&rl.lock);
    if (rl.file) {
        if (extra_line)
            fprintf(rl.file, "%s\n", extra_line);
        fclose(rl.file);
        rl.file = NULL;
    }
    free(rl.held);
    rl.held = NULL;
    rl.held_len = rl.held_cap = 0;
    pthread_mutex_unlock(&rl.lock);
}

int runlog_stderr_isatty(void) { return isatty(rl.active ? rl.real_fd : STDERR_FILENO); }
