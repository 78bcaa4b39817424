/* Atomic file writes: data goes to a temporary file beside the target and is renamed onto it only
 * once everything was written and synced, so a crash or a failed run never leaves a half-written
 * file and never destroys what an earlier run wrote. */
#ifndef MEMLAB_IO_ATOMIC_H
#define MEMLAB_IO_ATOMIC_H

#include <stdio.h>

#include "core/error.h"

typedef struct atomic_file atomic_file;

/* Creates "path.tmp.XXXXXX" in the directory of path. NULL (and e filled) when it cannot. */
atomic_file *atomic_open(const char *path, err_t *e);
/* The stream to write to; valid until commit or abort. */
FILE *atomic_fp(atomic_file *a);
/* The final path, for messages. */
const char *atomic_path(const atomic_file *a);
/* Flushes and syncs what was written, without giving the file its name: 0, or -1 with e naming
 * the path (a full disk, an I/O error); the file stays pending either way (commit or abort it).
 * Several files that must appear together are all synced before any is committed. */
int atomic_sync(atomic_file *a, err_t *e);
/* Flushes, syncs, closes and renames onto the target; releases a in every case. On failure the
 * temporary file is removed, the target is left as it was, and e names the path. */
int atomic_commit(atomic_file *a, err_t *e);
/* Closes and removes the temporary file; the target is untouched. NULL is allowed. */
void atomic_abort(atomic_file *a);

/* Creates dir and its missing parents (like mkdir -p); an existing directory is fine. */
/* Makes SIGINT, SIGTERM, SIGHUP and SIGPIPE remove every temporary file not yet committed before
 * the process dies of the signal as usual (so `memlab ... | head` leaves nothing behind). */
void atomic_cleanup_on_signals(void);

int mkdir_p(const char *dir, err_t *e);

#endif
