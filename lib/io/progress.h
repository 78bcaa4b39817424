/* The progress line of a training loop and log messages, on stderr (stdout carries only CSV). On a
 * terminal the line redraws in place at most ~10 times a second; otherwise (a log file, CI) a plain
 * line is printed at most every 5 seconds, plus the first and the last step. */
#ifndef MEMLAB_IO_PROGRESS_H
#define MEMLAB_IO_PROGRESS_H

#include <stdio.h>

typedef struct {
    char label[64];
    long long total;        /* steps; <= 0 when unknown (no ETA) */
    int quiet;
    int tty;                /* redraw in place */
    FILE *out;              /* stderr (a test may point it elsewhere after progress_start) */
    double t_start;         /* seconds, CLOCK_MONOTONIC */
    double t_printed;       /* when the line was last shown */
    long long step;         /* the last update */
    double loss;
    long long tokens;
    long long step_printed; /* the step last shown, -1 before any */
    int line_open;          /* a redrawn line is on screen without its newline */
    const char *unit;       /* progress_start_items: what is counted ("story"); NULL: training steps */
    double delay;           /* seconds before the first line (items: a short phase stays silent) */
} progress;

void progress_start(progress *p, const char *label, long long total_steps, int quiet);
/* A phase that counts items (stories generated or read, BPE merges, evaluated sequences): lines
 * "memlab: <label>: <unit> 120/1000  ETA 5s" as progress_update is called (its loss is not shown),
 * nothing at all for a phase that ends within a second. total <= 0: unknown. */
void progress_start_items(progress *p, const char *label, const char *unit, long long total, int quiet);
/* tokens_done: tokens processed since the start (0 if not meaningful: no tokens/s shown). */
void progress_update(progress *p, long long step, double loss, long long tokens_done);
/* The final line, with the total time. */
void progress_end(progress *p);

/* Seconds on the monotonic clock (for rates such as tokens/s). */
double progress_now(void);

/* "memlab: <message>" on stderr unless quiet. */
void log_info(int quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
