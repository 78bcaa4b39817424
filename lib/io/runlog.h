/* run.log: a copy of what stderr showed during a run, kept in its run folder (docs/outputs.md).
 *
 * Everything written to file descriptor 2 (memlab's messages, progress lines, a library's or a child
 * process's messages, the last words of fatal()) goes through a pipe to a thread that passes it on
 * unchanged to the real stderr and keeps a copy without the redraws of a progress line: of a line
 * redrawn with '\r' only its last state is kept, and terminal escape sequences are dropped.
 * The copy is held in memory until runlog_attach names the file (once the run folder exists, after
 * every check passed), so that a run refused at its checks writes nothing.
 *
 * One log per process. An exit() before runlog_finish (fatal(), out of memory) finishes it from an
 * atexit handler, so that the message reaches both the terminal and the log. */
#ifndef MEMLAB_IO_RUNLOG_H
#define MEMLAB_IO_RUNLOG_H

#include "core/error.h"

/* Starts teeing stderr; 0, or -1 (stderr left as it was) when no pipe or thread can be made. */
int runlog_start(void);
/* Writes the copy so far to path (appended when append is set) and every later line as it comes;
 * 0, or -1 with e set (the tee goes on without a file). */
int runlog_attach(const char *path, int append, err_t *e);
/* Restores stderr and waits until everything written before was passed on; then appends
 * extra_line (if not NULL: a line that the log gets but stderr did not show) and closes the file.
 * Without a file the copy is dropped. Safe to call when not started. */
void runlog_finish(const char *extra_line);
/* Whether stderr as the user sees it is a terminal (fd 2 itself is the pipe while teeing). */
int runlog_stderr_isatty(void);

#endif
