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
    char *tmp;   /* NULL when writing straight to a device or pipe */
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

static void cleanup_and_reraise(int sig)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (pending[i])
            unlink(pending[i]); /* async-signal-safe */
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
    pending_remove(a->tmp);
    free(a->path);
    free(a->tmp);
    free(a);
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
    a->tmp = xmalloc(n + sizeof TMP_SUFFIX);
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, TMP_SUFFIX, sizeof TMP_SUFFIX);

    int fd = mkstemp(a->tmp);
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
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int atomic_commit(atomic_file *a, err_t *e)
{
    int rc = 0;
    /* Any earlier fwrite failure leaves the error flag set, but errno may have changed since, so
     * only a failing fflush gives a trustworthy reason. */
    if (fflush(a->fp) != 0)
        rc = err_set(e, "%s: write failed: %s", a->path, strerror(errno));
    else if (ferror(a->fp))
        rc = err_set(e, "%s: write failed (disk full or I/O error)", a->path);
    else if (a->tmp && fsync(fileno(a->fp)) != 0)
        rc = err_set(e, "%s: write failed: %s", a->path, strerror(errno));
    if (fclose(a->fp) != 0 && rc == 0)
        rc = err_set(e, "%s: write failed: %s", a->path, strerror(errno));
    a->fp = NULL;
    if (!a->tmp) {   /* a device or pipe: nothing to rename */
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
