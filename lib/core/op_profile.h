/* Where a step's time goes, op by op (docs/profiling.md). With MEMLAB_PROFILE=1 in the environment,
 * the tape marks the clock as each op is recorded (the forward time since the previous mark is that
 * op's) and after each node's backward; on the GPU the marks are CUDA events on stream 0, so the
 * times are the device's, gaps where it waited for the host included. memlab's main prints the
 * table on stderr before it exits. Without the variable every call is one test of a flag. */
#ifndef MEMLAB_OP_PROFILE_H
#define MEMLAB_OP_PROFILE_H

#include "core/device.h"

enum { PROF_FWD, PROF_BWD, PROF_OUTSIDE };

/* 1 when MEMLAB_PROFILE is set to anything but "" or "0" (read once). */
int op_profile_on(void);

/* The time since the previous mark was spent on `name` in `pass`. PROF_OUTSIDE marks the tape's
 * resets: the time up to one is work outside the tape (optimizer, clipping, data, evaluation's
 * unrecorded tail). Only the first thread that marks is profiled. */
void op_profile_mark(device_kind dev, const char *name, int pass);

/* Forgets what was measured so far (warm-up steps: the first touches every page). */
void op_profile_restart(void);

/* Prints the table (op, pass, calls, ms, share of the total, largest first) on stderr and starts
 * again; nothing when profiling is off or nothing was marked. */
void op_profile_report(void);

#endif
