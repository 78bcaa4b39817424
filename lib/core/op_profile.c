/* The op profiler behind MEMLAB_PROFILE (core/op_profile.h, docs/profiling.md). */
#include "core/op_profile.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#if defined(MEMLAB_CUDA) && !defined(MEMLAB_DOUBLE)
#include "cuda/cuda_ctx.h"
#define PROF_CUDA 1
#else
#define PROF_CUDA 0
#endif

typedef struct {
    const char *name;
    int pass;
    double t;   /* CPU: seconds on the monotonic clock */
    void *ev;   /* GPU: the event (kept for reuse across flushes) */
} mark;

typedef struct {
    const char *name;
    int pass;
    long long calls;
    double ms;
} row;

static int on = -1;
static pthread_t owner;
static int owned;
static device_kind mark_dev;
static mark *marks;
static int n_marks, cap_marks;
static row *rows;
static int n_rows, cap_rows;

/* Marks are folded into rows in batches: on the GPU that waits for the events, so not every step. */
#define FLUSH_AT 16384

int op_profile_on(void)
{
    if (on < 0) {
        const char *s = getenv("MEMLAB_PROFILE");
        on = s && *s && strcmp(s, "0") != 0;
    }
    return on;
}

/* "linear_backward", "gelu_erf_op_backward", "attention_bwd": the op's name without the suffix. */
static const char *op_name(const char *fn, char *buf, size_t len)
{
    static const char *const suffix[] = {"_op_backward", "_backward", "_bwd"};
    size_t n = strlen(fn);
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        size_t k = strlen(suffix[i]);
        if (n > k && strcmp(fn + n - k, suffix[i]) == 0) {
            snprintf(buf, len, "%.*s", (int)(n - k), fn);
            return buf;
        }
    }
    return fn;
}

static void add(const char *name, int pass, double ms)
{
    for (int i = 0; i < n_rows; i++)
        if (rows[i].pass == pass && strcmp(rows[i].name, name) == 0) {
            rows[i].calls++;
            rows[i].ms += ms;
            return;
        }
    if (n_rows == cap_rows) {
        cap_rows = cap_rows ? 2 * cap_rows : 64;
        rows = xrealloc(rows, (size_t)cap_rows * sizeof *rows);
    }
    rows[n_rows++] = (row){name, pass, 1, ms};
}

static double between(const mark *a, const mark *b)
{
#if PROF_CUDA
    if (mark_dev == DEV_CUDA)
        return cuda_event_ms(a->ev, b->ev);
#endif
    return 1e3 * (b->t - a->t);
}

/* Folds every mark but the last into rows; the last stays as the start of the next segment. */
static void flush(void)
{
    if (n_marks < 2)
        return;
#if PROF_CUDA
    if (mark_dev == DEV_CUDA)
        cuda_event_wait(marks[n_marks - 1].ev);
#endif
    for (int i = 1; i < n_marks; i++)
        add(marks[i].name, marks[i].pass, between(&marks[i - 1], &marks[i]));
    mark last = marks[n_marks - 1];
    marks[n_marks - 1] = marks[0];   /* keep the events: slot 0's goes to the end, reused later */
    marks[0] = last;
    n_marks = 1;
}

void op_profile_mark(device_kind dev, const char *name, int pass)
{
    if (!op_profile_on())
        return;
    if (!owned) {
        owner = pthread_self();
        owned = 1;
        mark_dev = dev;
    }
    if (!pthread_equal(owner, pthread_self()) || dev != mark_dev)
        return;
    if (n_marks == FLUSH_AT)
        flush();
    if (n_marks == cap_marks) {
        int old = cap_marks;
        cap_marks = cap_marks ? 2 * cap_marks : 1024;
        marks = xrealloc(marks, (size_t)cap_marks * sizeof *marks);
        memset(marks + old, 0, (size_t)(cap_marks - old) * sizeof *marks);
    }
    mark *m = &marks[n_marks++];
    m->name = name;
    m->pass = pass;
#if PROF_CUDA
    if (dev == DEV_CUDA) {
        if (!m->ev)
            m->ev = cuda_event_new();
        cuda_event_record(m->ev);
        return;
    }
#endif
    m->t = clock_seconds();
}

void op_profile_restart(void)
{
    if (!op_profile_on() || !owned)
        return;
    flush();
    n_rows = 0;
}

static int by_ms(const void *a, const void *b)
{
    double x = ((const row *)a)->ms, y = ((const row *)b)->ms;
    return (x < y) - (x > y);
}

void op_profile_report(void)
{
    if (!op_profile_on() || !owned)
        return;
    flush();
    double total = 0;
    for (int i = 0; i < n_rows; i++)
        total += rows[i].ms;
    if (n_rows == 0 || total <= 0)
        return;
    qsort(rows, (size_t)n_rows, sizeof *rows, by_ms);
    static const char *const pass_name[] = {"forward", "backward", "outside"};
    fprintf(stderr, "memlab: profile (%s time, MEMLAB_PROFILE): %.1f ms in all\n",
            mark_dev == DEV_CUDA ? "GPU" : "wall", total);
    fprintf(stderr, "memlab: profile: %-8s %10s %12s %7s  %s\n", "pass", "calls", "ms", "share", "op");
    for (int i = 0; i < n_rows; i++) {
        char buf[64];
        fprintf(stderr, "memlab: profile: %-8s %10lld %12.2f %6.1f%%  %s\n", pass_name[rows[i].pass], rows[i].calls,
                rows[i].ms, 100 * rows[i].ms / total, op_name(rows[i].name, buf, sizeof buf));
    }
    n_rows = 0;
}
