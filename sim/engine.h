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
	uint32_t *restarts;	/* placement changes paid with restart_s */
	double *gpu_s;		/* [job * ntypes + type]: GPU-seconds held per type */
	double busy_gpu_s;	/* GPU-seconds held by any job (restarts included) */
	uint64_t plans;		/* policy calls */
	double *decision_ms;	/* wall time of each policy call, plans entries */
	uint64_t restarts_total;
	uint32_t completed;
};

/*
 * Run workload w on cluster c under policy p, from time 0 until every job
 * has completed. Events (arrivals, lease completions, the policy's
 * replan_at_s) at the same time are handled together with one plan call;
 * every plan is checked with sched_plan_check. Returns 0 with *out filled
 * (free with sim_result_destroy), -ENOMEM, or -EINVAL when the policy fails,
 * returns an invalid plan, or leaves jobs waiting with nothing left to wake
 * it; errbuf says which and when.
 */
int sim_engine_run(const struct sched_cluster *c, const struct sim_workload *w,
		   struct sched_policy *p, struct sim_result *out, char *errbuf, size_t errlen);

/* Free a result; safe on a zeroed one. */
void sim_result_destroy(struct sim_result *r);

#endif
