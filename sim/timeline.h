/* SPDX-License-Identifier: MIT */
/* The cluster's state over a run's time (the engine's samples): busy GPUs
 * over an interval, and DIR/<policy>/utilisation.csv. */
#ifndef HARE_SIM_TIMELINE_H
#define HARE_SIM_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "sched.h"

struct sim_result;

/* Most rows utilisation.csv has (the step grows with the run's length). */
#define SIM_TIMELINE_MAX_ROWS 2000

/* GPU-seconds held by jobs (all types) over [t0_s, t1_s] of run r. */
double sim_timeline_busy_gpu_s(const struct sim_result *r, uint32_t ntypes, double t0_s,
			       double t1_s);

/* The sampling step for a run spanning span_s seconds: the smallest of
 * 60 s, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1, 2, 7, 14, 30 days, ...
 * that keeps the rows within SIM_TIMELINE_MAX_ROWS. */
double sim_timeline_step(double span_s);

#define SIM_UTIL_MAX_ROWS 1000000	/* rows of utilisation.csv at most */

/*
 * Write r's timeline to path: header time_s,busy_<type>...,busy,util,
 * running_jobs,queued_jobs; one row per step_s (<= 0: sim_timeline_step)
 * from the first sample, each value the time average over
 * [time_s, time_s + step_s). 0, or -errno with "path: reason" in errbuf
 * (-EFBIG, nothing written: step_s would give more than SIM_UTIL_MAX_ROWS).
 */
int sim_report_util_csv(const char *path, const struct sched_cluster *c,
			const struct sim_result *r, double step_s, char *errbuf, size_t errlen);

#endif
