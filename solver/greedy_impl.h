/* SPDX-License-Identifier: MIT */
/* Private to the lease-level greedy: its planning state, shared by the planner
 * (greedy_leases.c) and the GPU pool it draws from (greedy_lease_pool.c). */
#ifndef HARE_GREEDY_IMPL_H
#define HARE_GREEDY_IMPL_H

#include "greedy.h"

struct lease_heap;

struct lease_ctx {
	const struct sched_snapshot *snap;
	const struct sched_cluster *c;
	const struct sched_lease_opts *opts;
	uint32_t nt;		/* types + 1 (index nt-1: any type) */
	uint32_t maxc;		/* largest per-node count + 1 */
	double now;
	double *gpu_free;
	uint8_t *free_now;
	uint32_t *node_first, *node_n;
	uint32_t *cnt;		/* [node * nt + t] free-now GPUs */
	int32_t *bk_head;	/* [t * maxc + count] first node in bucket */
	int32_t *bk_next, *bk_prev;	/* [node * nt + t] */
	uint32_t *type_free;	/* [t] */
	uint32_t type_up[SCHED_MAX_TYPES];	/* up GPUs of each type */
	struct lease_heap *heaps;	/* [t] */
	uint32_t *stamp;	/* per GPU, query marks */
	uint32_t stamp_now;
	uint32_t *owner;	/* per GPU: protected for this job index + 1, 0 none */
	uint32_t *holder;	/* per GPU: running job index + 1 holding it and not
				 * yet planned (0 none); such GPUs are taken last */
	uint32_t *place;	/* per job index: its place in the order (UINT32_MAX:
				 * not in it); of held GPUs, those of the job
				 * planned last are taken first */
	uint32_t placing;	/* job index + 1 being placed */
	double *hidden_free;	/* per GPU: gpu_free while hidden (lease_hide) */
	uint8_t *hidden;	/* per GPU: 0, or 1 + free_now while hidden */
	/* backfill: once the first job that cannot start now (the head) is
	 * planned, later jobs start now or not at all (now_only); the head's
	 * GPUs that are free now (lent[0..nlent)) may carry a job that ends
	 * by its start, shadow_s */
	bool backfill;		/* opts backfill and stop_at_blocked */
	bool now_only;
	double shadow_s, head_finish_s;
	uint32_t *lent, nlent;	/* also the head's GPUs held by a job that moves */
	uint8_t *resv;		/* per GPU: in the head's placement */
	uint32_t *pick;		/* scratch: chosen GPUs */
	uint32_t *skip;		/* scratch: heap entries put back (lease_earliest) */
	uint16_t *ptasks;
};

/* greedy_lease_pool.c */
int lease_ctx_init(struct lease_ctx *x);
void lease_ctx_free(struct lease_ctx *x);
void lease_free_set(struct lease_ctx *x, uint32_t g, uint8_t free);
void lease_take_gpu(struct lease_ctx *x, uint32_t g, double until);
void lease_release_gpu(struct lease_ctx *x, uint32_t g);
double lease_protected_until(const struct lease_ctx *x, const struct sched_job *j);
void lease_protect_running(struct lease_ctx *x);
void lease_hide(struct lease_ctx *x, const struct sched_job *j, bool on);
bool lease_type_ok(const struct lease_ctx *x, const struct sched_job *j, uint32_t t);
bool lease_blind_pooled(const struct lease_ctx *x, const struct sched_job *j, uint32_t k);
uint32_t lease_pool_free(const struct lease_ctx *x, const struct sched_job *j, uint32_t t);
int32_t lease_best_fit(const struct lease_ctx *x, uint32_t t, uint32_t k);
int32_t lease_best_fit_for(const struct lease_ctx *x, const struct sched_job *j, uint32_t t,
			   uint32_t k);
uint32_t lease_pick_node(const struct lease_ctx *x, const struct sched_job *j, uint32_t node,
			 uint32_t t, uint32_t k, uint32_t *out, uint32_t nout);
uint32_t lease_pick_spread(const struct lease_ctx *x, const struct sched_job *j, uint32_t t,
			   uint32_t k, uint32_t *out, uint32_t nout);
int32_t lease_node_for(struct lease_ctx *x, const struct sched_job *j, uint32_t t, uint32_t k);
uint32_t lease_earliest(struct lease_ctx *x, const struct sched_job *j, uint32_t t,
			uint32_t kmax, uint32_t *out);

#endif
