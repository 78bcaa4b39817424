#include "io/progress.h"

#include "core/clock.h"
#include "io/runlog.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define TTY_INTERVAL 0.1
#define PLAIN_INTERVAL 5.0

double progress_now(void) { return clock_seconds(); }

/* "45s", "12m05s", "3h07m": short enough for one line. */
static void format_duration(char *buf, size_t len, double s)
{
    if (!(s >= 0) || s > 1e8)
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.*fs", s < 10 ? 1 : 0, s);
    else if (s < 3600)
        snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static void format_rate(char *buf, size_t len, double r)
{
    if (r >= 1e6)
        snprintf(buf, len, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, len, "%.1fk", r / 1e3);
    else
        snprintf(buf, len, "%.0f", r);
}

void progress_start(progress *p, const char *label, long long total_steps, int quiet)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total_steps;
    p->quiet = quiet;
    p->out = stderr;
    p->tty = runlog_stderr_isatty();   /* fd 2 may be run.log's pipe (io/runlog.h) */
    p->t_start = progress_now();
    p->step_printed = -1;
}

void progress_start_items(progress *p, const char *label, const char *unit, long long total, int quiet)
{
    progress_start(p, label, total, quiet);
    p->unit = unit;
    p->delay = 1.0;
}

/* "memlab: train: step 120/1000  loss 2.346  12.3k tok/s  ETA 1m23s" (or "done in 2m10s"). */
static void progress_print(progress *p, double t, int done)
{
    double elapsed = t - p->t_start;
    char line[256], tmp[32];
    size_t k = 0;
    k += (size_t)snprintf(line + k, sizeof line - k, "memlab: %s%s%s %lld", p->label, *p->label ? ": " : "",
                          p->unit ? p->unit : "step", p->step);
    if (p->total > 0)
        k += (size_t)snprintf(line + k, sizeof line - k, "/%lld", p->total);
    if (p->step > 0 && !p->unit)
        k += (size_t)snprintf(line + k, sizeof line - k, "  loss %.4g", p->loss);
    if (p->tokens > 0 && elapsed > 0) {
        format_rate(tmp, sizeof tmp, (double)p->tokens / elapsed);
        k += (size_t)snprintf(line + k, sizeof line - k, "  %s tok/s", tmp);
    }
    if (done) {
        format_duration(tmp, sizeof tmp, elapsed);
        snprintf(line + k, sizeof line - k, "  done in %s", tmp);
    } else if (p->total > 0 && p->step > 0) {
        format_duration(tmp, sizeof tmp, elapsed / (double)p->step * (double)(p->total - p->step));
        snprintf(line + k, sizeof line - k, "  ETA %s", tmp);
    }
    if (p->tty) {
        /* \033[K clears what a longer previous line left behind */
        fprintf(p->out, "\r%s\033[K%s", line, done ? "\n" : "");
        p->line_open = !done;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->t_printed = t;
    p->step_printed = p->step;
}

void progress_update(progress *p, long long step, double loss, long long tokens_done)
{
    p->step = step;
    p->loss = loss;
    p->tokens = tokens_done;
    if (p->quiet)
        return;
    double t = progress_now();
    if (t - p->t_start < p->delay)
        return;
    int first = p->step_printed < 0, last = p->total > 0 && step >= p->total;
    double interval = p->tty ? TTY_INTERVAL : PLAIN_INTERVAL;
    if (first || last || t - p->t_printed >= interval)
        progress_print(p, t, 0);
}

void progress_end(progress *p)
{
    if (p->quiet || (p->delay > 0 && p->step_printed < 0))   /* a short phase said nothing: nor here */
        return;
    double t = progress_now();
    if (p->tty || p->step_printed != p->step || p->step_printed < 0) {
        progress_print(p, t, 1);
        return;
    }
    /* the last step is already on its own line */
    char tmp[32];
    format_duration(tmp, sizeof tmp, t - p->t_start);
    fprintf(p->out, "memlab: %s%sdone in %s\n", p->label, *p->label ? ": " : "", tmp);
    fflush(p->out);
}

void log_info(int quiet, const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("memlab: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
