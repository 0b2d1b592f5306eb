/* SPDX-License-Identifier: MIT */
/* The scheduling core's data model and policy interface. Pure: no clock, no
 * I/O, no sockets. The daemon and the simulator both drive it with snapshots
 * and apply the plans it returns. */
#ifndef HARE_SCHED_H
#define HARE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_MAX_TYPES 16
#define SCHED_TYPE_NAME 16
#define SCHED_NAME_LEN 64
/* Sync-time table points: 1, 2, 4, ..., 128 GPUs (index = log2 of the count). */
#define SCHED_SYNC_POINTS 8

enum { SCHED_CONSOLIDATED = 0, SCHED_SPREAD = 1 };

/*
 * How fast one job runs on each GPU type of the cluster. Filled from the
 * throughput profile (workloads/profile.h) and refined by the speed model.
 * Times are seconds of wall clock.
 */
struct sched_perf {
	/* One task (one micro-batch of the job's fixed global batch) on one GPU
	 * of cluster type t; 0 means the job cannot run on that type (model not
	 * profiled there, or excluded by the user). */
	double compute_s[SCHED_MAX_TYPES];
	/* Gradient synchronisation closing a round on 2^i GPUs, all on one node
	 * ([i][SCHED_CONSOLIDATED]) or over several nodes ([i][SCHED_SPREAD]).
	 * [0][*] is the 1-GPU case (no all-reduce; may be small but >= 0). */
	double sync_s[SCHED_SYNC_POINTS][2];
	/* Checkpoint + restore cost paid when the job's placement changes. */
	double restart_s;
};

/* Sync time for ngpus GPUs (>= 1), interpolated linearly in log2(ngpus)
 * between table points and held flat past the last one. */
double sched_sync_time(const struct sched_perf *perf, uint32_t ngpus, bool spread);

/* Fastest per-task compute time over the types the job may use; 0 if none. */
double sched_perf_fastest(const struct sched_perf *perf, uint32_t ntypes);

struct sched_cluster;
struct sched_job;

/*
 * Effective machine count for the LP relaxation: the sum over up GPUs of the
 * largest speed any of the jobs has there relative to its own fastest type
 * (p_j / compute_s[type], at most 1). Work measured in fastest-GPU seconds
 * is never done faster than this in total, so the LP stays a valid bound
 * and is tighter than with the plain GPU count. 0 when no job can run.
 */
double sched_effective_gpus(const struct sched_cluster *c, const struct sched_job *jobs, uint32_t njobs);

struct sched_gpu {
	uint16_t type;	/* index into sched_cluster.type_names */
	uint32_t node;	/* index of the node that holds it */
	bool up;	/* false: down or drained; never planned on */
};

struct sched_cluster {
	uint32_t ntypes;
	char type_names[SCHED_MAX_TYPES][SCHED_TYPE_NAME];
	uint32_t nnodes;
	uint32_t ngpus;
	struct sched_gpu *gpus;	/* ngpus entries, grouped by node */
};

/*
 * An active job (arrived, not finished). The driver owns it; policies only
 * read it. A round runs `tasks` micro-batches spread over the GPUs of the
 * job's placement (a GPU may run several back to back, accumulating
 * gradients), then all-reduces; the job is done after rounds_total rounds.
 */
struct speed_model;

struct sched_job {
	uint32_t id;		/* stable id (the daemon's job id) */
	char name[SCHED_NAME_LEN];
	double weight;		/* > 0 */
	double arrival_s;
	uint32_t tasks;		/* K: tasks per round, >= 1 */
	uint32_t min_gpus;	/* 1 <= min_gpus <= max_gpus <= tasks */
	uint32_t max_gpus;
	uint64_t rounds_total;
	uint64_t rounds_done;	/* completed and synchronised rounds */
	struct sched_perf perf;
	/* Online correction of perf fitted to reported round times (solver/speed.h);
	 * NULL: use perf as profiled. Owned by the driver. */
	const struct speed_model *speed;

	/* State kept by the driver, read by policies. */
	double attained_gpu_s;	/* GPU-seconds of service received (LAS) */
	double first_start_s;	/* < 0 until the job first ran */
	double last_run_s;	/* when it last held GPUs (starvation guards) */
	uint32_t restarts;

	/* Current lease, if running: held GPU indices and tasks per GPU. */
	uint32_t nheld;
	const uint32_t *held_gpus;
	const uint16_t *held_tasks;
	double lease_start_s;

	/* Nodes (cluster node indices) the job is not started on: its workers
	 * failed there. The driver leaves out nodes it cannot avoid. NULL: none. */
	uint32_t navoid;
	const uint32_t *avoid_nodes;
};

/* Order among equally good nodes (the lease greedy, the baselines'
 * placement): a fixed pseudo-random order of the node indices (splitmix64),
 * not the order the cluster lists them, so a type-blind policy gets the
 * types in proportion to what is free rather than the types listed first.
 * Smaller goes first. */
static inline uint64_t sched_node_tiebreak(uint32_t node)
{
	uint64_t z = (uint64_t)node + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Whether job j must not be started on node. */
static inline bool sched_job_avoids(const struct sched_job *j, uint32_t node)
{
	for (uint32_t i = 0; i < j->navoid; i++)
		if (j->avoid_nodes[i] == node)
			return true;
	return false;
}

static inline bool sched_job_is_running(const struct sched_job *j)
{
	return j->nheld > 0;
}

static inline uint64_t sched_job_rounds_left(const struct sched_job *j)
{
	return j->rounds_total > j->rounds_done ? j->rounds_total - j->rounds_done : 0;
}

struct sched_snapshot {
	double now_s;
	const struct sched_cluster *cluster;
	uint32_t njobs;
	const struct sched_job *jobs;
};

/* One job's entry in a plan. */
struct sched_assign {
	uint32_t ngpus;		/* GPUs of the placement (0: not placed) */
	uint32_t first;		/* offset into sched_plan.gpus and .tasks */
	uint32_t rank;		/* position in the policy's order, 0 first */
	bool run_now;		/* run (or keep running) this placement now */
	double start_s;		/* projected start of the placement */
	double round_s;		/* projected round time on it (compute + sync) */
	double finish_s;	/* projected completion (inf when not placed) */
	double lp_completion_s;	/* the LP's completion time (0 without LP) */
};

enum sched_lp_path {
	SCHED_LP_NONE = 0,	/* policy has no LP */
	SCHED_LP_EXACT,		/* combinatorial exact solver */
	SCHED_LP_GLPK,		/* GLPK with lazy cuts */
	SCHED_LP_PREVIOUS,	/* budget hit: previous order reused */
	SCHED_LP_WSPT,		/* solver failed: Smith's rule */
};

/*
 * A plan: one sched_assign per snapshot job (same index), placements packed
 * into gpus[]/tasks[]. The GPUs of run_now placements never overlap and sum
 * of tasks of a placement equals the job's tasks.
 */
struct sched_plan {
	uint32_t njobs;
	struct sched_assign *assigns;
	uint32_t *gpus;
	uint16_t *tasks;
	uint32_t nused;
	uint32_t cap;
	double lp_bound;	/* LP objective (sum w (C - a)), 0 if none */
	enum sched_lp_path lp_path;
	double replan_at_s;	/* re-plan at this time even without an event; inf if none */
};

void sched_plan_init(struct sched_plan *plan);
void sched_plan_destroy(struct sched_plan *plan);
/* Size the plan for njobs jobs and clear it; -ENOMEM on failure. */
int sched_plan_reset(struct sched_plan *plan, uint32_t njobs);
/* Append a placement for job index j (replacing nothing: call once per job). */
int sched_plan_place(struct sched_plan *plan, uint32_t j, const uint32_t *gpus,
		     const uint16_t *tasks, uint32_t n);

/*
 * Weights to plan with when jobs wait for others to finish (hared's submit
 * --after): a delay of a job delays the jobs waiting for it, so for the
 * weighted completion time it weighs as much as they do. On entry w[i] is
 * job i's own weight; job i waits for the jobs wait_idx[wait_from[i] ..
 * wait_from[i + 1]) (n + 1 offsets), which must have smaller indices (others
 * are skipped). Each job's weight, its own plus what it received, is added
 * in equal shares to the jobs it waits for, down the chains. In place.
 */
void sched_after_weights(uint32_t n, double *w, const uint32_t *wait_from, const uint32_t *wait_idx);

/* Check a plan against its snapshot: run_now GPUs disjoint and up, tasks sum
 * to the job's tasks, widths within [min,max], types allowed, no new
 * placement on a node the job avoids where the cluster has the GPUs for it
 * elsewhere. Returns 0 or -EINVAL with a reason in errbuf. */
int sched_plan_check(const struct sched_snapshot *snap, const struct sched_plan *plan,
		     char *errbuf, size_t errlen);

/* Take the run_now placements sched_plan_check would refuse off jobs that
 * are not running (they wait for another plan); the first reason goes to
 * errbuf. Returns how many, or -EINVAL (errbuf says why) when a running
 * job's placement is wrong, or when some were taken off and the plan also
 * stops or moves a running job (perhaps for one of them): that plan cannot
 * be used. */
int sched_plan_drop_invalid(const struct sched_snapshot *snap, struct sched_plan *plan,
			    char *errbuf, size_t errlen);

/* Whether plan entry ji keeps job j's current lease (the same GPUs and
 * tasks per GPU). */
bool sched_plan_keeps(const struct sched_job *j, const struct sched_plan *plan, uint32_t ji);

/* Most GPUs of one placement moved off avoided nodes by sched_plan_avoid. */
#define SCHED_AVOID_SWAPS 64

/*
 * Make a policy's plan respect sched_job.avoid_nodes: a new run_now
 * placement with GPUs on nodes its job avoids gets free GPUs of the same
 * types elsewhere instead (its round and finish recomputed), or, when there
 * are none free now, does not start now. A placement the cluster could not
 * give it elsewhere even when idle (too few GPUs of its types up off those
 * nodes) stays: the job would wait for ever. sched_policy_plan runs it
 * after every policy; Hare's greedy never needs it. 0 or -ENOMEM.
 */
int sched_plan_avoid(const struct sched_snapshot *snap, struct sched_plan *plan);

/* tasks / min(max_gpus, tasks): a lower bound on a round's compute time
 * over its fastest per-task time. The job's work is done by at most that
 * many GPUs at once, each no faster than its fastest type, so the LP
 * relaxation's span (and its mean-busy-time rows) may use it. 1 for a job
 * that may take a GPU per task. */
double sched_job_round_factor(const struct sched_job *j);

/* Round time of job j on a placement (compute of the busiest GPU + sync). */
double sched_round_time(const struct sched_cluster *c, const struct sched_job *j,
			const uint32_t *gpus, const uint16_t *tasks, uint32_t n);

/* Split job j's tasks over the given GPUs to minimise the round's compute
 * time (each next task to the GPU where it finishes first), at most
 * ceil(tasks / min_gpus) per GPU, and on at least min_gpus GPUs when n
 * holds that many it can use. Writes tasks[n]; GPUs that get no task keep
 * 0. */
void sched_split_tasks(const struct sched_cluster *c, const struct sched_job *j,
		       const uint32_t *gpus, uint32_t n, uint16_t *tasks);

/* The busiest GPU's compute time when sched_split_tasks splits job j's
 * tasks over n[t] GPUs of each type t < ntypes, listed type by type: a
 * type's GPUs stay balanced, so only the per-type counts are needed. Types
 * the job cannot run on are skipped. INFINITY when the tasks do not fit
 * (fewer usable GPUs than min_gpus) or no GPU is usable. For estimates
 * that must agree with the placement (the lease greedy's mixes, the
 * Optimus widths). */
double sched_split_compute(const struct sched_job *j, const uint32_t *n, uint32_t ntypes);

/* Default minimum lease before a running job can be displaced (hare): one
 * hour of the snapshot's time. Against free preemption it lowered weighted
 * JCT on generated workloads (50-400 GPUs, 100-600 jobs: 1.3% on average,
 * worse in none) and on the Philly trace (2.3%), and cut restarts per job
 * (Philly: 23.8 -> 6.0); docs/scheduling.md. */
#define SCHED_MIN_LEASE_S 3600.0

/* Default type slack (hare): leaving faster GPUs to later jobs when a job
 * loses at most 30% by taking a slower type lowered weighted JCT by 3.1%
 * over generated workloads and 7.3% on the Philly trace (docs/scheduling.md). */
#define SCHED_TYPE_SLACK 0.3

struct sched_options {
	enum sched_lp_path lp_solver;	/* SCHED_LP_EXACT (default) or SCHED_LP_GLPK */
	uint32_t lp_stages;		/* LP groups per job (GLPK only; default 1) */
	double lp_budget_ms;		/* GLPK time budget per plan (default 200) */
	bool sync_holds_gpu;		/* a GPU is busy until its round synced (default on) */
	bool preempt;			/* may stop running jobs for higher-priority ones */
	double type_slack;		/* hare: a job may take a slower GPU type if it
					 * finishes within this fraction of its
					 * earliest finish (default SCHED_TYPE_SLACK,
					 * 0: pure earliest finish) */
	double min_lease_s;		/* with preempt: a running job whose lease is
					 * younger than this keeps its GPUs from jobs
					 * planned before it (hare; default
					 * SCHED_MIN_LEASE_S, 0: off) */
};

void sched_options_default(struct sched_options *opt);

struct sched_policy;

/* Names of the available policies, NULL-terminated. */
const char *const *sched_policy_names(void);

/* Create the policy `name` ("hare", "optimus", "fifo", "srtf", ...).
 * ERR_UNKNOWN_POLICY if there is none of that name, -ENOMEM. */
int sched_policy_new(const char *name, const struct sched_options *opt, struct sched_policy **out);
void sched_policy_free(struct sched_policy *p);
const char *sched_policy_name(const struct sched_policy *p);
/* Whether it runs every job at its requested width, min(max_gpus, tasks)
 * GPUs (the baselines but gavel), rather than choosing a width from
 * min_gpus up. */
bool sched_policy_requested_width(const struct sched_policy *p);
/* Whether it runs every job on GPUs of one type (gavel, gavel-tput and
 * allox, by design): a job whose min_gpus exceed the up GPUs of each type
 * it may use never runs under it. The other policies may mix the types a
 * job may use (hare by choice; the type-blind ones when no one type has
 * the job's width). */
bool sched_policy_one_type(const struct sched_policy *p);

/* Compute a plan for the snapshot. The policy may keep state between calls
 * (previous order, queues) keyed by job id. Returns 0 or a negative error;
 * on error the plan is left empty (nothing runs). */
int sched_policy_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out);

/* Tell the policy a job finished or was cancelled so it can drop its state. */
void sched_policy_forget(struct sched_policy *p, uint32_t job_id);

#endif
