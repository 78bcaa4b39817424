#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct atomic_file {
    FILE *fp;
    char *path;
    char *tmp;     /* the named temporary file (mkstemp), or NULL */
    int unnamed;   /* an O_TMPFILE file: no name until atomic_commit links it */
};

#define TMP_SUFFIX ".tmp.XXXXXX"

/* mkstemp creates files with mode 0600; the result should get the mode a plain fopen would give.
 * umask can only be read by setting it, so set it back at once. */
static mode_t current_umask(void)
{
    mode_t mask = umask(022);
    umask(mask);
    return mask;
}

/* Temporary files not yet committed or aborted, so that a run killed by a signal (Ctrl-C, a closed
 * pipe, SIGTERM) removes them instead of leaving half-written files. The one piece of global state
 * here: a signal handler can reach nothing else. A slot is cleared before its string is freed. */
#define PENDING_MAX 64
static char *volatile pending[PENDING_MAX];

static void pending_add(char *tmp)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (!pending[i]) {
            pending[i] = tmp;
            return;
        }
}

static void pending_remove(const char *tmp)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (pending[i] == tmp)
            pending[i] = NULL;
}

static void pending_unlink(void)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (pending[i])
            unlink(pending[i]); /* async-signal-safe */
}

static void cleanup_and_reraise(int sig)
{
    pending_unlink();
    signal(sig, SIG_DFL);
    raise(sig);
}

void atomic_cleanup_on_signals(void)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], cleanup_and_reraise);
}

static void atomic_release(atomic_file *a)
{
    if (a->tmp)
        pending_remove(a->tmp);
    free(a->path);
    free(a->tmp);
    free(a);
}

/* "dir" of "dir/name" ("." for a bare name, "/" for "/name"); malloc'd. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
}

/* An unnamed file in path's directory (O_TMPFILE; the mode follows the umask as with O_CREAT), or
 * -1 with errno set: EOPNOTSUPP, EISDIR or EINVAL where the file system or kernel has none. */
static int open_unnamed(const char *path)
{
#ifdef O_TMPFILE
    char *dir = parent_of(path);
    if (!dir)
        return -1;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    int err = errno;
    free(dir);
    errno = err;
    return fd;
#else
    (void)path;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* Gives the unnamed file behind fd the name "path.tmp.N" (a fresh N); the name in buf. */
static int link_unnamed(int fd, const char *path, char *buf, size_t len)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    static unsigned counter;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(buf, len, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, buf, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

atomic_file *atomic_open(const char *path, err_t *e)
{
    if (!path || !*path) {
        err_set(e, "empty file name");
        return NULL;
    }
    size_t n = strlen(path);
    if (path[n - 1] == '/') {
        err_set(e, "%s: is a directory name, not a file name", path);
        return NULL;
    }
    atomic_file *a = xcalloc(1, sizeof *a);
    a->path = xstrdup(path);
    /* A device or a pipe (-o /dev/null, -o /dev/stdout, a FIFO) is written in place: renaming a
     * temporary file over it would replace the device node by a regular file. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        if (!(a->fp = fopen(path, "wb"))) {
            err_set(e, "%s: cannot open: %s", path, strerror(errno));
            atomic_release(a);
            return NULL;
        }
        return a;
    }
    /* Where the file system allows, the temporary file has no name until it is complete, so that no
     * way of dying leaves one behind: not fatal() (out of memory), not a signal, not SIGKILL from
     * the kernel's out-of-memory killer. Elsewhere a named one, removed by exit() and by signals. */
    int fd = open_unnamed(path);
    if (fd >= 0) {
        a->unnamed = 1;
        if (!(a->fp = fdopen(fd, "wb"))) {
            err_set(e, "%s: cannot create: %s", path, strerror(errno));
            close(fd);
            atomic_release(a);
            return NULL;
        }
        return a;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        err_set(e, "%s: cannot create: %s", path, strerror(errno));
        atomic_release(a);
        return NULL;
    }
    static int at_exit_registered;
    if (!at_exit_registered)
        at_exit_registered = atexit(pending_unlink) == 0;
    a->tmp = xmalloc(n + sizeof TMP_SUFFIX);
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, TMP_SUFFIX, sizeof TMP_SUFFIX);

    fd = mkstemp(a->tmp);
    if (fd < 0) {
        err_set(e, "%s: cannot create: %s", path, strerror(errno));
        atomic_release(a);
        return NULL;
    }
    if (fchmod(fd, 0666 & ~current_umask()) != 0 || !(a->fp = fdopen(fd, "wb"))) {
        err_set(e, "%s: cannot create: %s", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        atomic_release(a);
        return NULL;
    }
    pending_add(a->tmp);
    return a;
}

FILE *atomic_fp(atomic_file *a) { return a->fp; }

const char *atomic_path(const atomic_file *a) { return a->path; }

/* After the rename, the directory entry itself must reach the disk for the new file to survive a
 * power cut. Some file systems refuse fsync on directories; the data is safe anyway, so ignore. */
static void sync_parent_dir(const char *path)
{
    char *dir = parent_of(path);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int atomic_sync(atomic_file *a, err_t *e)
{
    /* Any earlier fwrite failure leaves the error flag set, but errno may have changed since, so
     * only a failing fflush gives a trustworthy reason. */
    if (fflush(a->fp) != 0)
        return err_set(e, "%s: write failed: %s", a->path, strerror(errno));
    if (ferror(a->fp))
        return err_set(e, "%s: write failed (disk full or I/O error)", a->path);
    if ((a->tmp || a->unnamed) && fsync(fileno(a->fp)) != 0)
        return err_set(e, "%s: write failed: %s", a->path, strerror(errno));
    return 0;
}

int atomic_commit(atomic_file *a, err_t *e)
{
    int rc = atomic_sync(a, e);
    /* An unnamed file gets a temporary name, then the final one by rename (a link cannot replace). */
    char linked[4200];
    if (a->unnamed && rc == 0 && link_unnamed(fileno(a->fp), a->path, linked, sizeof linked) != 0)
        rc = err_set(e, "%s: cannot create: %s", a->path, strerror(errno));
    else if (a->unnamed && rc == 0) {
        a->tmp = xstrdup(linked);
        pending_add(a->tmp);
    }
    if (fclose(a->fp) != 0 && rc == 0)
        rc = err_set(e, "%s: write failed: %s", a->path, strerror(errno));
    a->fp = NULL;
    if (!a->tmp) {   /* a device or pipe, or an unnamed file that failed: nothing to rename */
        atomic_release(a);
        return rc;
    }
    if (rc == 0 && rename(a->tmp, a->path) != 0)
        rc = err_set(e, "%s: cannot replace: %s", a->path, strerror(errno));
    if (rc != 0)
        unlink(a->tmp);
    else
        sync_parent_dir(a->path);
    atomic_release(a);
    return rc;
}

void atomic_abort(atomic_file *a)
{
    if (!a)
        return;
    if (a->fp)
        fclose(a->fp);
    if (a->tmp)
        unlink(a->tmp);
    atomic_release(a);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mkdir_p(const char *dir, err_t *e)
{
    if (!dir || !*dir)
        return err_set(e, "empty directory name");
    char *p = xstrdup(dir);
    int rc = 0;
    /* Walk the components left to right, creating each missing one; a component that exists as
     * something other than a directory is reported by the mkdir of the next one or the check. */
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        int err = mkdir(p, 0777) == 0 ? 0 : errno;
        if (err != 0 && !(err == EEXIST && is_dir(p))) {
            if (err == EEXIST)
                rc = err_set(e, "%s: cannot create directory: exists and is not a directory", p);
            else
                rc = err_set(e, "%s: cannot create directory: %s", p, strerror(err));
            break;
        }
        *s = c;
        if (c == '\0' || s[1] == '\0')
            break;
    }
    free(p);
    return rc;
}
