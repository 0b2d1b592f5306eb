/* SPDX-License-Identifier: MIT */
/* The engine's private state, shared by engine.c (setup, the event loop,
 * plan calls, jobs that run after others) and engine_lease.c (leases). */
#ifndef HARE_SIM_ENGINE_IMPL_H
#define HARE_SIM_ENGINE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "heap.h"
#include "sched.h"

#define ENG_NO_JOB UINT32_MAX
#define DRIVER_AVOID_SIM 8	/* nodes one job avoids, as in hared */

/* Engine-private state of one job, indexed by job id. */
struct eng_job {
	uint32_t *held_gpus;	/* max_gpus slots, pointed to by sched_job.held_gpus */
	uint16_t *held_tasks;
	uint64_t gen;		/* bumped when a lease ends: stale finish events */
	double round_s;		/* round time on the current lease */
	double delay_s;		/* restart cost paid at the lease's start */
	double finish_at;	/* when the current lease completes the job */
	double attained_at_start;
	uint64_t rounds_at_start;
	uint32_t avoid[DRIVER_AVOID_SIM];	/* nodes it avoids (failure model) */
	uint32_t navoid;
	uint32_t fails;
	bool fail_pending;	/* its lease fails at the current event time */
	bool waiting;		/* arrived, waits for jobs it runs after */
	uint32_t waits;		/* ... how many of them have not completed */
};

struct eng {
	const struct sched_cluster *c;	/* the run's cluster, or qc */
	struct sched_cluster qc;	/* quarantine: a copy whose GPUs go down */
	struct sched_gpu *qgpus;
	double *qfail_t;		/* [node * SIM_QUARANTINE_FAILS + k]: failures there */
	uint32_t *qfail_job;		/* ... of which jobs */
	uint32_t *qfail_next;		/* [node]: ring position */
	const struct sim_workload *w;
	struct sched_policy *p;
	struct sim_result *r;
	struct sim_heap heap;	/* lease completions and replan requests */
	uint32_t *arrivals;	/* job ids by (arrival, id): arrivals stay out of the heap */
	uint32_t next_arrival;
	struct sched_job *act_buf;	/* njobs + 1 slots */
	struct sched_job *act;	/* active jobs in arrival order: the snapshot, in act_buf */
	uint8_t *run_buf;	/* parallel to act_buf */
	uint8_t *run;		/* per active index: holds GPUs (no need to touch the job) */
	uint32_t nact;
	struct eng_job *st;
	uint32_t *pool_gpus;
	uint16_t *pool_tasks;
	uint32_t *gpu_owner;	/* job id holding the GPU, or ENG_NO_JOB */
	uint16_t *gpu_tasks;	/* tasks per round it runs there */
	uint32_t *gpu_stamp;	/* duplicate detection in placement compares */
	uint32_t stamp;
	bool *mark;		/* per active index: completed (advance), lease kept (plan) */
	struct sched_plan plan;
	uint64_t replan_gen;
	size_t decision_cap;
	uint32_t busy[SCHED_MAX_TYPES];	/* GPUs held, per type */
	uint32_t nrunning;		/* jobs holding GPUs */
	uint32_t fails_pending;		/* jobs with fail_pending set */
	size_t sample_cap;
	/* Jobs that run after others: the jobs after each job (offsets by id,
	 * NULL when no job waits), those released to be admitted, and the
	 * plan weights (sched_after_weights over every job id). */
	uint32_t *dep_from, *dep_list;
	uint32_t *release, nrelease;
	uint32_t nwaiting;		/* arrived jobs that wait */
	bool weights_changed;		/* some act[].weight is not the job's own */
	double *aw;
	uint32_t *aw_from, *aw_idx;
	const struct sim_engine_opts *opts;
	double wall0_s;
	double next_progress_s;
	uint32_t since_clock;		/* loop turns since the clock was read */
	char *errbuf;
	size_t errlen;
};

/* engine.c */

/* Two times closer than this are the same instant (rounding of sums). */
double eng_eps(double t);
/* Say in errbuf that the policy did wrong (what, why) at t; -EINVAL. */
int eng_fail(struct eng *e, double t, const char *what, const char *why);
/* Job id has completed (ok) or FAILED at t: the jobs waiting for it. */
void eng_after_end(struct eng *e, uint32_t id, bool ok, double t);

/* engine_lease.c */

/* The leases whose failure events fired at t end now (after eng_advance
 * credited their rounds); with avoid_bad their jobs avoid those nodes. */
void eng_failures(struct eng *e, double t);
/* Bring every running job to time t; completed jobs leave the active set. */
void eng_advance(struct eng *e, double t);
/* Apply a checked plan: keep unchanged leases, stop the others, then start
 * the new placements. 0, or < 0 with the reason in errbuf. */
int eng_plan_apply(struct eng *e, double t);

#endif
