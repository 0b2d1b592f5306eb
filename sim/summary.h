/* SPDX-License-Identifier: MIT */
/* Simulation results: per-policy summary statistics and their outputs
 * (jobs.csv, summary JSON, the human table). */
#ifndef HARE_SIM_SUMMARY_H
#define HARE_SIM_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sched.h"

struct sim_workload;
struct sim_result;

#define SIM_POLICY_NAME_LEN 32

/* Jobs [first, last) in arrival order (ids): the jobs a summary counts. */
struct sim_window {
	uint32_t first;
	uint32_t last;
};

/* What the run replayed, for the JSON's "workload" object. */
struct sim_run_info {
	const char *source;	/* "generate" or "trace" */
	const char *format;	/* trace format name; NULL for generate */
	uint32_t jobs;		/* jobs replayed */
	uint32_t rows;		/* trace rows read */
	uint32_t skipped;	/* malformed rows skipped */
	uint32_t capped;	/* jobs whose tasks were capped */
	uint32_t max_tasks;	/* that cap */
	uint32_t thinned;	/* dropped by --thin */
	uint32_t truncated;	/* dropped by --max-jobs */
	uint32_t after_dropped;	/* hare after: dependencies on dropped rows */
	uint64_t seed;
	double source_load;	/* offered load of the trace's own arrivals (NaN: n/a) */
	double arrival_scale;	/* factor applied to arrival times (NaN: n/a) */
	double offered_load;	/* offered load replayed (NaN: n/a) */
	bool has_window;
	struct sim_window window;
};

struct sim_summary {
	char name[SIM_POLICY_NAME_LEN];
	double weighted_jct_s;	/* sum w (C - a) / sum w over completed jobs */
	double avg_jct_s;
	double p99_jct_s;	/* nearest rank */
	double avg_queue_s;	/* mean of first start - arrival */
	double makespan_s;	/* last completion - first arrival */
	double utilisation;	/* busy GPU-seconds / (GPUs x makespan) */
	bool has_bound;
	double lp_bound_s;	/* LP lower bound on weighted_jct_s */
	double ratio_to_bound;	/* weighted_jct_s / lp_bound_s */
	uint32_t jobs_completed;
	uint32_t jobs;
	double decision_ms_p50;
	double decision_ms_p99;
	uint64_t plans;
	uint64_t restarts;
	/* Added with trace replay; all over the window's jobs. */
	double p50_jct_s;	/* median JCT (nearest rank) */
	double p99_queue_s;	/* 99th percentile of first start - arrival */
	double rho_mean;	/* finish-time fairness (sim/fairness.h): mean */
	double rho_max;
	double rho_le1_frac;	/* fraction of jobs with rho <= 1 */
	double restarts_per_job;
	bool has_failures;	/* the failure model ran (--bad-nodes) */
	uint64_t failures;	/* leases it ended */
	bool has_quarantine;	/* --quarantine ran */
	uint32_t quarantined;	/* nodes it took out of service */
	uint32_t stranded;	/* jobs that could never run after it (sim_result.stranded) */
	uint32_t ntypes;
	char type_names[SCHED_MAX_TYPES][SCHED_TYPE_NAME];
	double gpu_hours[SCHED_MAX_TYPES];	/* GPU-hours held per type */
	uint32_t jobs_total;	/* jobs replayed (window or not) */
	bool has_window;
	struct sim_window window;
	double decision_s_total;	/* wall time of all policy calls */
	double sim_wall_s;	/* wall time of this policy's run */
	double jobs_per_s;	/* jobs_total / sim_wall_s */
};

/* Summarise run r of workload w on cluster c. has_bound false leaves the
 * bound fields empty (null in JSON). Returns 0 or -ENOMEM. */
int sim_summary_compute(const char *policy, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r, bool has_bound,
			double lp_bound_s, struct sim_summary *out);

/* The same over the jobs of window win only (NULL: every job; last is
 * clamped to the workload): JCT, queueing, fairness, GPU-hours, restarts,
 * makespan (last completion - first arrival of the window) and utilisation
 * over that span. The run itself covers every job; lp_bound_s must be the
 * bound of the window's jobs. */
int sim_summary_compute_window(const char *policy, const struct sched_cluster *c,
			       const struct sim_workload *w, const struct sim_result *r,
			       const struct sim_window *win, bool has_bound, double lp_bound_s,
			       struct sim_summary *out);

/* Nearest-rank percentile q in [0, 1] of v[n] (sorted in place); 0 if n = 0. */
double sim_percentile(double *v, size_t n, double q);

/* Write one row per job (header: id,name,model,arrival_s,start_s,finish_s,
 * jct_s,weight,tasks,gpu_s_<type>...,restarts,queue_s,alone_s,rho,in_window)
 * to path; win NULL: every job is in the window. 0, or -errno with
 * "path: reason" in errbuf. */
int sim_report_jobs_csv(const char *path, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r,
			const struct sim_window *win, char *errbuf, size_t errlen);

/* Write {"policies":[...],"wall_s":...} to f. */
void sim_report_json(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s);

/* The same with a "workload" object describing the run (info may be NULL). */
void sim_report_json_info(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s,
			  const struct sim_run_info *info);

/* Write the human tables (times in hours) to f. */
void sim_report_table(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s);

#endif
