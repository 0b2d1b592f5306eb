/* SPDX-License-Identifier: MIT */
/* The discrete-event engine: replays a workload on a cluster under one
 * policy with a virtual clock, applying each plan's leases and computing
 * progress in closed form between events. */
#ifndef HARE_SIM_ENGINE_H
#define HARE_SIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "sched.h"

struct sim_workload;

/* What one run produced; arrays are indexed by job id. */
struct sim_result {
	uint32_t njobs;
	uint32_t ntypes;
	double *start_s;	/* first start, < 0 if never started */
	double *finish_s;	/* completion (last round synchronised), < 0 if not */
	double *failed_s;	/* when it ended FAILED (failure model), < 0 if not */
	uint32_t *restarts;	/* placement changes paid with restart_s */
	double *gpu_s;		/* [job * ntypes + type]: GPU-seconds held per type */
	double busy_gpu_s;	/* GPU-seconds held by any job (restarts included) */
	uint64_t plans;		/* policy calls */
	double *decision_ms;	/* wall time of each policy call, plans entries */
	uint64_t restarts_total;
	uint64_t failures_total;	/* leases ended by the failure model */
	uint32_t failed;		/* jobs it ended FAILED (max_retries) */
	uint32_t quarantined;		/* nodes the quarantine took out of service */
	uint32_t stranded;		/* jobs that could never run once the quarantine
					 * took GPUs away (none of theirs left): the run
					 * ends without them, as with a FAILED job */
	uint32_t completed;
	/* Cluster state over time: a sample at every handled event time where
	 * it changed; each holds until the next sample's time. */
	size_t nsamples;
	double *sample_t;
	uint32_t *sample_busy;		/* [sample * ntypes + type]: GPUs held */
	uint32_t *sample_running;	/* jobs holding GPUs */
	uint32_t *sample_active;	/* jobs arrived and not completed */
	double wall_s;			/* wall time of the run */
	/* Finish-time fairness (sim/fairness.h), NaN where a job did not
	 * complete: its time alone on its share, and JCT over that. */
	double *alone_s;
	double *rho;
};

/* Where a run stands, for a progress line. */
struct sim_progress {
	const char *policy;
	uint32_t done;		/* jobs completed */
	uint32_t total;
	double now_s;		/* simulated time */
	double wall_s;		/* wall time since the run started */
};

typedef void (*sim_progress_cb)(const struct sim_progress *p, void *arg);

struct sim_engine_opts {
	sim_progress_cb progress;	/* NULL: none */
	void *progress_arg;
	double progress_every_s;	/* wall seconds between calls (default 1) */
	/* Failure model: a lease with a GPU on one of these nodes fails
	 * fail_after_s after it starts (unless it ends first). The job keeps
	 * the rounds it finished and is planned again; with avoid_bad it then
	 * avoids the node (sched_job.avoid_nodes), as hared does. */
	uint32_t nbad;
	const uint32_t *bad_nodes;	/* node indices */
	double fail_after_s;		/* > 0 */
	bool avoid_bad;
	uint32_t max_retries;		/* failures a job survives; one more and it
					 * FAILED (never completes), as in hared */
	/* Quarantine, as hared's quarantine_jobs (0: off): a bad node where
	 * leases of this many distinct jobs failed within SIM_QUARANTINE_WINDOW_S
	 * goes out of service (its GPUs down, the leases there end and are
	 * planned again), while fewer than quarantine_max_nodes nodes are. */
	uint32_t quarantine_jobs;
	uint32_t quarantine_max_nodes;
	/* Jobs that run after others (sim_job.after) are planned once those
	 * have completed; the jobs they wait for are planned with their
	 * weight too (sched_after_weights, as hared). own_weights: with each
	 * job's own weight only, for comparison. */
	bool own_weights;
};

#define SIM_QUARANTINE_WINDOW_S 3600.0	/* hared's FAILS window */
#define SIM_QUARANTINE_FAILS 64		/* failures remembered per node, as hared */


/*
 * Whether policy p can run every job of w on cluster c (all its GPUs up):
 * a job needs at least min_gpus GPUs of the types it may use at once; a
 * policy that runs a job at its requested width (sched_policy_requested_width)
 * needs min(max_gpus, tasks) of them; one that runs a job on GPUs of one
 * type (sched_policy_one_type: gavel, gavel-tput, allox) needs min_gpus of
 * a single type. Returns 0, or ERR_BAD_SPEC with a line naming the job and
 * the policy in errbuf ("job 3 (name) needs 5 GPUs at once and policy allox
 * runs a job on GPUs of one type only; the largest type it may use here,
 * K80, has 4"). sim_engine_run checks it before running, so a job the policy
 * could never run is refused up front, not left waiting.
 */
int sim_engine_check(const struct sched_cluster *c, const struct sim_workload *w,
		     const struct sched_policy *p, char *errbuf, size_t errlen);

/*
 * Run workload w on cluster c under policy p, from time 0 until every job
 * has completed. Events (arrivals, lease completions, the policy's
 * replan_at_s) at the same time are handled together with one plan call;
 * every plan is checked with sched_plan_check. Returns 0 with *out filled
 * (free with sim_result_destroy), -ENOMEM, or -EINVAL when the policy fails,
 * returns an invalid plan, or leaves jobs waiting with nothing left to wake
 * it; ERR_BAD_SPEC when sim_engine_check refuses a job; errbuf says which
 * and when.
 */
int sim_engine_run(const struct sched_cluster *c, const struct sim_workload *w,
		   struct sched_policy *p, struct sim_result *out, char *errbuf, size_t errlen);

/* The same with options (opts may be NULL): a progress callback, called on
 * the caller's thread from inside the run about every progress_every_s wall
 * seconds (never for a run shorter than that). */
int sim_engine_run_opts(const struct sched_cluster *c, const struct sim_workload *w,
			struct sched_policy *p, const struct sim_engine_opts *opts,
			struct sim_result *out, char *errbuf, size_t errlen);

/* Free a result; safe on a zeroed one. */
void sim_result_destroy(struct sim_result *r);

#endif
