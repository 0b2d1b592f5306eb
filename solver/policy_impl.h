/* SPDX-License-Identifier: MIT */
/* Private: how a policy plugs into the registry (solver/policy.c). */
#ifndef HARE_POLICY_IMPL_H
#define HARE_POLICY_IMPL_H

#include "sched.h"

struct sched_policy;

struct sched_policy_ops {
	const char *name;
	const char *summary;	/* one line for --help */
	bool requested_width;	/* runs every job at min(max_gpus, tasks) GPUs */
	bool one_type;		/* runs every job on GPUs of one type */
	int (*init)(struct sched_policy *p);
	int (*plan)(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out);
	void (*forget)(struct sched_policy *p, uint32_t job_id);
	void (*destroy)(struct sched_policy *p);
};

struct sched_policy {
	const struct sched_policy_ops *ops;
	struct sched_options opt;
	void *state;
	/* Scratch reused between plans. */
	uint32_t *order;
	uint32_t *width;
	double *key;
	uint32_t cap;
};

/* Grow the scratch arrays to n jobs; -ENOMEM. */
int policy_scratch(struct sched_policy *p, uint32_t n);

/* Sort idx[0..n) by key ascending; ties: higher weight, earlier arrival,
 * lower id (deterministic). */
void policy_sort_by_key(const struct sched_snapshot *snap, uint32_t *idx, uint32_t n,
			const double *key);

extern const struct sched_policy_ops policy_hare_ops;
extern const struct sched_policy_ops policy_hare_smith_ops;
extern const struct sched_policy_ops policy_fifo_ops;
extern const struct sched_policy_ops policy_fifo_backfill_ops;
extern const struct sched_policy_ops policy_srtf_ops;
extern const struct sched_policy_ops policy_optimus_ops;
extern const struct sched_policy_ops policy_tiresias_ops;
extern const struct sched_policy_ops policy_gavel_ops;
extern const struct sched_policy_ops policy_gavel_tput_ops;
extern const struct sched_policy_ops policy_allox_ops;
extern const struct sched_policy_ops policy_gandiva_ops;

/*
 * Helpers the baselines share (tiresias, gavel, allox, gandiva), defined in
 * policy_tiresias.c. Every baseline runs a job at its requested width.
 */

/* "Any type the job may use", where a placement type is asked for. */
#define POLICY_ANY_TYPE UINT32_MAX

/* A baseline's width for job j: min(max_gpus, tasks). */
uint32_t policy_requested_width(const struct sched_job *j);

/* Per-job records keyed by job id (open addressing), for policy state that
 * outlives one plan; records of rec_size bytes start zeroed. */
struct policy_ids;
int policy_ids_new(size_t rec_size, struct policy_ids **out);
void policy_ids_free(struct policy_ids *m);
/* The record of id, created (zeroed, *created true) when missing; NULL on
 * -ENOMEM. The pointer is valid until the next creating call. */
void *policy_ids_get(struct policy_ids *m, uint32_t id, bool *created);
/* The record of id or NULL; never creates. */
void *policy_ids_find(const struct policy_ids *m, uint32_t id);
void policy_ids_drop(struct policy_ids *m, uint32_t id);

/* Choose n GPUs marked in avail[] (of type `type`, or POLICY_ANY_TYPE: any
 * type job j may use) on as few nodes as possible: the best-fitting node
 * (fewest free GPUs that still hold n), else the fullest nodes first.
 * node_cnt is scratch of cluster->nnodes entries. Writes out[n] and returns
 * n, or 0 when fewer than n such GPUs are free (avail[] is not changed). */
uint32_t policy_pick_gpus(const struct sched_cluster *c, const struct sched_job *j,
			  const uint8_t *avail, uint32_t type, uint32_t n, uint32_t *node_cnt,
			  uint32_t *out);

/* True when running job j can keep its lease: every held GPU is up, marked
 * in avail[] and of type `type` (or POLICY_ANY_TYPE: a type it may use). */
bool policy_can_keep(const struct sched_cluster *c, const struct sched_job *j, const uint8_t *avail,
		     uint32_t type);

/* Run job ji on gpus[n] from now: its held tasks when keep (the lease goes
 * on, no restart), else the tasks split evenly. Fills the assign's
 * projections (start now, round time, finish with the restart cost of a
 * moved job) and clears the GPUs in avail[]. 0 or -ENOMEM. */
int policy_place_now(const struct sched_snapshot *snap, struct sched_plan *plan, uint32_t ji,
		     const uint32_t *gpus, uint32_t n, bool keep, uint8_t *avail);

/* Up GPUs of each type of the cluster, count[SCHED_MAX_TYPES]. */
void policy_type_counts(const struct sched_cluster *c, uint32_t *count);

/* Width of job j for a policy that runs it on one type: its requested
 * width, lowered to the largest up count of a type it may use; 0 when that
 * is below min_gpus (it cannot run on one type). */
uint32_t policy_typed_width(const struct sched_job *j, const uint32_t *count, uint32_t ntypes);

/* Admission: visit order[n] (job indices) and admit each job whose width
 * (width[ji], or its requested width when width is NULL; 0: skip) of type
 * type[ji] (POLICY_ANY_TYPE allowed) still fits, as placed by
 * policy_pick_gpus on what the earlier admitted jobs left; a running job
 * that can keep its lease takes its own GPUs. Writes the admitted jobs, in
 * order, to admitted[] and their count to *nadm. 0 or -ENOMEM. */
int policy_admit(const struct sched_snapshot *snap, const uint32_t *order, uint32_t n,
		 const uint32_t *type, const uint32_t *width, uint32_t *admitted, uint32_t *nadm);

/* Place admitted[n] (job indices, priority order) now: first every running
 * job that can keep its lease keeps it, then the others go where
 * policy_pick_gpus puts them (type[ji], width as in policy_admit); so
 * admission never moves a running job that keeps its turn. 0 or -ENOMEM. */
int policy_place_admitted(const struct sched_snapshot *snap, const uint32_t *admitted, uint32_t n,
			  const uint32_t *type, const uint32_t *width, struct sched_plan *plan);

/* Test hook: job job_id's row of the time-fraction matrix X of a gavel or
 * gavel-tput policy's last allocation (x[ntypes]), 0 or -ENOENT. */
int policy_gavel_share(const struct sched_policy *p, uint32_t job_id, double *x, uint32_t ntypes);

/* AlloX's solver (policy_allox.c): min-cost assignment of n rows to distinct
 * columns of the n x m (n <= m) row-major matrix of finite costs; writes
 * col_of[n] and *total. stride > 0 declares columns in groups of `stride`
 * with every cost no lower than the one `stride` columns before (positions
 * of AlloX's slots), so that the rows can be matched one group at a time.
 * 0, -EINVAL (malformed or not so ordered) or -ENOMEM. */
int policy_hungarian(const double *cost, uint32_t n, uint32_t m, uint32_t stride, uint32_t *col_of,
		     double *total);

/* Node a before node b: fewer free GPUs (cnt) first, or more when !fewer;
 * among equals, sched_node_tiebreak's order (not the cluster file's, which
 * would hand a type-blind policy the types listed first). */
static inline bool policy_node_before(const uint32_t *cnt, uint32_t a, uint32_t b, bool fewer)
{
	if (cnt[a] != cnt[b])
		return fewer ? cnt[a] < cnt[b] : cnt[a] > cnt[b];
	return sched_node_tiebreak(a) < sched_node_tiebreak(b);
}

#endif
