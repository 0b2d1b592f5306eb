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
};

/* Summarise run r of workload w on cluster c. has_bound false leaves the
 * bound fields empty (null in JSON). Returns 0 or -ENOMEM. */
int sim_summary_compute(const char *policy, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r, bool has_bound,
			double lp_bound_s, struct sim_summary *out);

/* Nearest-rank percentile q in [0, 1] of v[n] (sorted in place); 0 if n = 0. */
double sim_percentile(double *v, size_t n, double q);

/* Write one row per job (header: id,name,model,arrival_s,start_s,finish_s,
 * jct_s,weight,tasks,gpu_s_<type>...,restarts) to path. 0, or -errno with
 * "path: reason" in errbuf. */
int sim_report_jobs_csv(const char *path, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r, char *errbuf,
			size_t errlen);

/* Write {"policies":[...],"wall_s":...} to f. */
void sim_report_json(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s);

/* Write the human table (times in hours) to f. */
void sim_report_table(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s);

#endif
