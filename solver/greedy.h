/* SPDX-License-Identifier: MIT */
/* Hare's greedy assignment: work taken in priority order, each piece put on
 * the GPU where it finishes earliest. Two granularities share the rule:
 * - tasks: every task of every round explicitly (small instances, tests,
 *   and the reference the lease planner is checked against);
 * - leases: a job's remaining rounds as one block on one placement (the
 *   online planner: no event or variable per round). */
#ifndef HARE_GREEDY_H
#define HARE_GREEDY_H

#include "sched.h"

/* One round of one job, as an entry of a task-level priority order. */
struct sched_round_ref {
	uint32_t job;	/* index into the jobs array */
	uint32_t round;	/* 0-based, counted from the job's rounds_done */
};

/* One task placed by the task-level greedy. */
struct sched_task_slot {
	uint32_t job, round, task;
	uint32_t gpu;		/* index into cluster->gpus */
	double start_s, end_s;	/* compute only; the round syncs after its last task */
};

/*
 * Task-level greedy. order lists every remaining round of every job exactly
 * once, each job's rounds in increasing order (else -EINVAL). For each round
 * in turn, its tasks go one by one to the GPU (of a type the job may use)
 * minimising max(gpu free, round ready) + compute; round ready is the job's
 * arrival (first round) or the previous round's last task end + its sync.
 * With sync_holds_gpu, every GPU used by a round stays busy until the round
 * has synchronised. Writes nslots = sum over jobs of rounds left * tasks
 * entries into slots (caller-allocated) and each job's completion (last
 * round end + sync) into completion_s[njobs]. -EINVAL if a job has no usable
 * GPU type, 0 otherwise.
 */
int sched_greedy_tasks(const struct sched_cluster *c, const struct sched_job *jobs, uint32_t njobs,
		       const struct sched_round_ref *order, size_t norder, double now_s,
		       bool sync_holds_gpu, struct sched_task_slot *slots, double *completion_s);

/* Sync time the task-level greedy charges job j: its table value for its
 * task count, consolidated (the tiny-instance model). */
double sched_greedy_sync_s(const struct sched_job *j);

/*
 * Lease-level greedy used by the online policies. Jobs are visited in
 * `order` (indices into snap->jobs); job i may use at most width[i] GPUs
 * (0: skip it). For each, choose the placement (at most width GPUs, at
 * least its min_gpus, each GPU at most ceil(tasks/min_gpus) tasks) that
 * minimises its projected completion given when each GPU frees up in the
 * plan so far (among placements that start now when there are any, unless
 * wait_for_faster); tasks are split over the chosen GPUs by sched_split_tasks.
 * A running job may keep its current placement (no restart cost) when that
 * finishes no later than moving. Placements that start at now_s are marked
 * run_now. GPUs of a placement are busy until the job's projected finish.
 * With hetero_split false the tasks are split evenly regardless of type and
 * the GPU choice ignores types (baselines).
 */
struct sched_lease_opts {
	bool hetero;		/* type-aware choice and split (hare) */
	bool keep_running;	/* prefer running jobs' current placement */
	bool consolidate;	/* prefer fewest nodes among equal choices */
	bool stop_at_blocked;	/* strict order: once a job cannot start now,
				 * later jobs are not placed (FIFO's head of line) */
	bool backfill;		/* with stop_at_blocked (alone it does nothing):
				 * EASY backfilling instead. The first job that
				 * cannot start now but can be planned later (the
				 * head) keeps its projected start and GPUs (its
				 * reservation); a later job may start now, and
				 * only now, on GPUs free now that the reservation
				 * leaves, for any time, or on GPUs of the
				 * reservation free before its start, if it
				 * finishes by then */
	bool preempt;		/* a job may take GPUs held by running jobs later
				 * in the order (off: held GPUs are only ever
				 * reused by their own job) */
	bool pin_running;	/* a running job whose GPUs are all still free
				 * keeps them without looking for better ones */
	double type_slack;	/* hetero: a job starting now takes the slowest
				 * type on which it finishes within this fraction
				 * of its earliest finish (0: earliest finish) */
	double min_lease_s;	/* with preempt: running jobs whose lease started
				 * less than this ago keep their GPUs from jobs
				 * earlier in the order (0: none do); while one of
				 * those jobs waits, plan->replan_at_s is when the
				 * first such protection ends */
	bool wait_for_faster;	/* a job that could start now may instead wait
				 * for GPUs that free up later if it would finish
				 * earlier there (pure earliest finish); off: later
				 * starts are only planned for jobs that cannot
				 * start now */
};

int sched_greedy_leases(const struct sched_snapshot *snap, const uint32_t *order, uint32_t norder,
			const uint32_t *width, const struct sched_lease_opts *opts, struct sched_plan *plan);

#endif
