#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char names[8][64];   /* the files made, removed at exit */
static int nnames;

static void cleanup(void)
{
    char path[512];
    for (int i = 0; i < nnames; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

const char *fuzz_dir(void)
{
    if (!dir[0]) {
        struct stat st;
        /* tmpfs when there is one: the harnesses rewrite a file on every execution */
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/memlab-fuzz-%ld", base, (long)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0)
            fuzz_fail("cannot make %s", dir);
        atexit(cleanup);
    }
    return dir;
}

const char *fuzz_file(const char *name, const void *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    int known = 0;
    for (int i = 0; i < nnames; i++)
        known |= !strcmp(names[i], name);
    if (!known && nnames < 8)
        snprintf(names[nnames++], sizeof names[0], "%s", name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        fuzz_fail("cannot write %s", path);
    return path;
}

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
