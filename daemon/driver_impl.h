/* SPDX-License-Identifier: MIT */
/* The driver's private state, shared by driver.c (jobs), driver_lease.c
 * (leases), driver_plan.c (plans), driver_agents.c (agents), driver_nodes.c
 * (the node table), driver_failures.c (nodes' failures, quarantine),
 * driver_adopt.c (adoption after a restart), driver_hold.c (absent agents,
 * GPUs being vacated by stopped workers), driver_progress.c (reports) and
 * driver_blame.c (failed workers). */
#ifndef HARE_DAEMON_DRIVER_IMPL_H
#define HARE_DAEMON_DRIVER_IMPL_H

#include "driver.h"

#define DRIVER_PLAN_WINDOW 256	/* plan latencies kept for percentiles */
#define DRIVER_NO_NODE UINT32_MAX
/* In a suspect failure's peers: a node forgotten since (this bit and a
 * number of its own, driver.gone_next), equal to no node index. */
#define DRIVER_NODE_GONE 0x80000000u

struct drv_after_dep;

struct driver {
	uv_loop_t *loop;
	struct driver_opts o;
	char policy_name[32];
	const struct profile *prof;
	struct store *st;
	driver_send_cb send;
	void *send_user;
	struct sched_policy *policy;

	/* The cluster's GPU types are the profile's, in profile order. */
	uint32_t ntypes;
	char type_names[SCHED_MAX_TYPES][SCHED_TYPE_NAME];

	struct drv_job **jobs;		/* active jobs, ascending id */
	uint32_t njobs, jobs_cap;
	struct drv_node *nodes;		/* by agent id - 1 (name "": a forgotten
					 * node's slot, free for the next new node) */
	uint32_t nnodes, nodes_cap;
	uint32_t nfree;			/* such slots */
	uint64_t nodes_forgotten;	/* since start: by harectl forget, or to make room */
	uint32_t gone_next;		/* next DRIVER_NODE_GONE marker */
	double started_at;		/* unix, driver_new: nodes not seen since are
					 * down at least since then */
	bool loading;			/* reading the store at start: no node is
					 * evicted (the loaders hold indices) */

	uint64_t next_lease;
	double usage_synced;		/* unix: running leases' GPU time last written */
	bool starts_unsent;		/* some lease has TaskStarts to send */
	uint64_t starts_failures;	/* store_write_failures before their writes */
	/* Jobs that run after others (driver_after.c): by the job they wait
	 * for, the ids of the jobs after it (some may have ended since). */
	struct drv_after_dep *after_deps;
	bool after_scan;		/* an entry could not be made: ends look at every job */
	uint32_t after_nbroken;		/* active jobs with after_broken set */
	uint32_t after_cursor;		/* where driver_after_cancel looks first */
	uint64_t *after_done;		/* DONE jobs with jobs after them whose workers
					 * may still run (finish_grace_s) */
	uint32_t nafter_done, after_done_cap;
	bool after_cancelling;		/* driver_after_cancel is at work */
	bool ends_unsaved;		/* a job ended since driver_ends_commit */
	uint64_t ends_failures;		/* store_write_failures before its writes */
	double epoch;			/* unix time of the plans' t = 0 */
	bool started, grace, closing, want_plan;
	struct driver_snapshot *inflight;
	uv_timer_t debounce, replan_at, grace_timer, deadline_timer;
	double deadline_at;		/* when deadline_timer fires (unix), 0: idle */

	uint32_t *forget;		/* job ids to drop from the policy after the plan in flight */
	uint32_t nforget, forget_cap;

	/* Learned per (model, type) ratio measured / profiled round time. */
	uint32_t nmodels;
	double *ratio, *ratio_rounds;
	bool *ratio_dirty;

	uint64_t *dirty;		/* ids of jobs with progress_dirty */
	uint32_t ndirty, dirty_cap;

	double plan_ms[DRIVER_PLAN_WINDOW];
	double plan_ms_sum;		/* every plan's policy time since the start */
	uint32_t nplan_ms;
	uint64_t plans;
	double lp_bound;
	uint64_t reports, reports_ignored;
	uint64_t ended[3];		/* jobs DONE, CANCELLED, FAILED since start */
	uint64_t worker_failures;	/* failed workers (each re-queued or ended its job) */
	uint64_t preemptions;		/* leases a plan stopped to run others */
	uint64_t quarantines;		/* nodes driver_node_quarantine drained */
	uint64_t health_fails;		/* nodes that turned unhealthy */
	uint64_t node_faults;		/* prologs and epilogs that failed */
	uint64_t peer_failures, late_blames, unexplained;	/* see struct driver_stats */
	double gpu_s_ended[SCHED_MAX_TYPES];	/* GPU-seconds of leases ended since the start */

	/* Leases of several nodes that a rank's peer failure ended (exit code
	 * REPORT_EXIT_PEER) without charging its node: the first rank of the
	 * lease that then reports a failure of its own, within
	 * DRIVER_BLAME_WAIT_S, charges its node (a ring; until 0: free). When
	 * none does, each node of the lease notes it as a suspect failure
	 * (driver_unblamed_expire). */
	struct drv_unblamed {
		uint64_t job, lease;
		uint64_t nodes;		/* bit node % 64 of each node of the lease
					 * (UINT64_MAX: not known) */
		uint32_t node[DRIVER_SUSPECT_NODES];	/* its nodes, when it had at most so many */
		uint32_t nnode;		/* 0: not known, or too many */
		uint32_t avoided;	/* bit k: the job began avoiding node[k] for this */
		double until;
		char user[64];
	} unblamed[DRIVER_UNBLAMED_MAX];
	uint32_t unblamed_next;
};

struct driver_snapshot {
	uv_work_t work;
	struct driver *d;
	struct sched_snapshot snap;
	struct sched_cluster cluster;
	struct sched_job *jobs;
	uint64_t *job_ids;		/* per job: its id (sched_job.id is 32 bits) */
	uint64_t *lease_ids;		/* per job: its lease id when taken */
	uint32_t *held;			/* pool for held_gpus */
	uint16_t *held_tasks;
	struct speed_model *speeds;
	uint32_t *gpu_node, *gpu_slot;	/* cluster GPU -> node, slot */
	uint32_t *node_first;		/* node -> its first cluster GPU */
	uint32_t *avoid;		/* per job DRIVER_AVOID_MAX: pool for avoid_nodes */
	struct sched_plan plan;
	int rc;
	double plan_ms;
};

/* driver.c */
int driver_job_index(const struct driver *d, uint64_t id);
struct drv_job *driver_job_get(struct driver *d, uint64_t id);
/* Active job id if user may verb it ("cancel", "change": its owner, or
 * root); else NULL with *rc -ENOENT or -EPERM and why in msg. */
struct drv_job *driver_job_mine(struct driver *d, uint64_t id, const char *user, bool admin,
				const char *verb, int *rc, char *msg, size_t msglen);
void driver_job_finish(struct driver *d, struct drv_job *j, enum store_job_state state,
		       const char *why);
void driver_job_perf_scale(struct driver *d, struct drv_job *j);

/* driver_lease.c */
void driver_lease_stop(struct driver *d, struct drv_job *j, const char *reason);
/* Start a lease of j on ranks (their GPUs checked free by the caller); its
 * TaskStarts leave with the next driver_starts_send. */
int driver_lease_start(struct driver *d, struct drv_job *j, const struct drv_rank *ranks,
		       uint32_t n);
/* Commit the leases started since the last call (one transaction), then
 * send their TaskStarts. Called after a plan is applied and after pending
 * leases start. */
void driver_starts_send(struct driver *d);
/* Stop j's lease and put it back in the queue, without asking for a plan. */
void driver_job_requeue_only(struct driver *d, struct drv_job *j, const char *kind,
			     const char *why);
void driver_job_requeue(struct driver *d, struct drv_job *j, const char *kind, const char *why);
int driver_send_stop(struct driver *d, uint32_t node, uint64_t job, uint64_t lease,
		     const char *reason);
void driver_rank_to_text(const struct driver *d, const struct drv_job *j, char *buf, size_t len);
/* Add the GPU-seconds j's lease has held since the driver started, until
 * now, to gpu_s (by profile type). */
void driver_lease_gpu_s(const struct driver *d, const struct drv_job *j, double now, double *gpu_s);
/* GPU time in the store: the GPUs of each type j's lease holds from start
 * (a lease adopted after a restart keeps the rows it has). */
void driver_usage_open(struct driver *d, const struct drv_job *j, double start);
/* j's attained GPU-seconds (the LAS policies' service) from the store: every
 * lease but except_lease (0: none), which is running and counted when it
 * ends. */
void driver_attained_load(struct driver *d, struct drv_job *j, uint64_t except_lease);
/* Profile-second round time of a lease on ranks, and its sync part. */
double driver_round_s(const struct driver *d, const struct drv_job *j,
		      const struct drv_rank *ranks, uint32_t n, double *sync_s);
/* Release the GPUs j's lease holds and account its GPU time; no messages. */
void drv_lease_release(struct driver *d, struct drv_job *j);
/* Keep the GPUs of j's workers that have not exited out of new leases until
 * they do (finish_until: a DONE job's, which end on their own until then;
 * 0: the lease is stopped). */
void drv_lease_vacate(struct driver *d, struct drv_job *j, double finish_until);

/* driver_agents.c */
/* A TaskExit from node i says its prolog or epilog failed (node_fault):
 * the node is drained with that reason, as Slurm does, unless it is
 * drained already (its reason stays). */
void driver_node_fault(struct driver *d, uint32_t i, const Hare__TaskExit *x);
/* Slot of the GPU with this index on node, or -1. */
int driver_slot_find(const struct driver *d, uint32_t node, uint32_t index);

/* driver_adopt.c */
/* Release j's candidates (their GPUs) on node (DRIVER_NO_NODE: all). */
void driver_adopt_release(struct driver *d, struct drv_job *j, uint32_t node);
void driver_adopt_drop(struct driver *d, struct drv_job *j);
/* Stop the candidates' workers (one TaskStop per agent covers every rank of
 * the lease it runs) and keep their GPUs until they exit. */
void driver_adopt_stop(struct driver *d, struct drv_job *j, const char *why);
/* A worker an agent lists during the grace period: true when it is kept
 * as a candidate of j's lease, false when it should be stopped. */
bool driver_adopt_add(struct driver *d, struct drv_job *j, uint32_t node,
		      const Hare__RunningTask *t);
/* End the grace period early once every job waiting has its whole lease. */
void driver_adopt_maybe_done(struct driver *d);
/* A report or exit of a candidate (held until the lease is adopted): true
 * when it was one. */
bool driver_adopt_report(struct driver *d, struct drv_job *j, uint32_t node,
			 const Hare__RoundReport *r);
bool driver_adopt_exit(struct driver *d, struct drv_job *j, uint32_t node,
		       const Hare__TaskExit *x);

/* driver_nodes.c */
/* The nodes the store knows (drained ones first, then the most lately
 * seen), down until their agents attach; no eviction meanwhile. */
void driver_nodes_load(struct driver *d);
/* Index of the node called name, or -1. */
int driver_node_find(const struct driver *d, const char *name);
/* A new node called name: a forgotten node's slot, a new one, or (the
 * table full) the slot of a node long gone. Its agent id, or -E2BIG /
 * -ENOMEM. */
int driver_node_add(struct driver *d, const char *name);
/* How many jobs hold GPUs of node n (each counted once). */
uint32_t driver_node_jobs(const struct drv_node *n);
/* A node event's detail: its name, then ": " and why when there is a why
 * (store_node_events finds the node's events so). */
void driver_node_event_text(const char *node, const char *why, char *buf, size_t len);

/* driver_failures.c */
/* A worker of job (of user) failed on node n at t: its failure ring, the
 * oldest entry giving way. */
void driver_node_fail_note(struct drv_node *n, double t, uint64_t job, const char *user);
/* A lease of job (of user) on node i and peer[0..npeer) failed with no
 * rank to blame: node i's suspect ring, the oldest entry giving way. */
void driver_node_suspect_note(struct drv_node *n, double t, uint64_t job, const char *user,
			      const uint32_t *peer, uint32_t npeer);
/* Node i's suspect failures within DRIVER_FAIL_WINDOW_S when they single it
 * out (at least two, and no other node in all of their leases), as indices
 * into its ring (idx: DRIVER_NODE_SUSPECTS); their number, else 0. */
uint32_t driver_node_singled(const struct driver *d, uint32_t i, uint32_t *idx);
/* A worker failed on node i: drain it when workers of quarantine_jobs jobs
 * of quarantine_users users failed there within DRIVER_FAIL_WINDOW_S, and
 * fewer than quarantine_max_nodes nodes are so drained (otherwise a warning,
 * once). Off when quarantine_jobs is 0. */
void driver_node_quarantine(struct driver *d, uint32_t i);
/* n's health check has just turned failing: n is drained (quarantined)
 * once it did so quarantine_health_fails times within the hour, while
 * fewer than quarantine_max_nodes nodes are quarantined. */
void driver_node_health_quarantine(struct driver *d, struct drv_node *n);

/* driver_after.c */
/* Set j's after_wait from rec.after (the jobs not DONE yet); a job
 * CANCELLED, FAILED or unknown sets after_broken. stored: j was read from
 * the store at start (an id not below its own counts as unknown). */
void driver_after_resolve(struct driver *d, struct drv_job *j, bool stored);
/* Job id ended in state (removed from the jobs): its dependents stop
 * waiting for it (DONE), or are marked to be cancelled. */
void driver_after_ended(struct driver *d, uint64_t id, enum store_job_state state);
/* Cancel the jobs marked so, and theirs in turn; their ends are committed
 * with this loop iteration's (driver_ends_commit). */
void driver_after_cancel(struct driver *d);
/* Job id is DONE (removed from the jobs): the jobs after it wait no more
 * once none of its workers may still run (they may save a model within
 * finish_grace_s); driver_after_vacated looks again as GPUs are freed. */
void driver_after_done(struct driver *d, uint64_t id);
/* GPUs were freed of workers: release the jobs after DONE jobs whose last
 * worker that was. */
void driver_after_vacated(struct driver *d);
/* The weights to plan with, by job index (malloc'd; NULL when no job
 * waits for another: each job's own). A job that others wait for is
 * planned with its weight plus theirs, shared among the jobs each waits
 * for, down the chains: a delay of it delays them. */
double *driver_after_weights(const struct driver *d);
/* j is about to be removed from the jobs (it ended). */
void driver_after_forget(struct driver *d, const struct drv_job *j);
/* Free the index of driver_after_resolve (driver_free). */
void driver_after_free(struct driver *d);

/* driver_hold.c */
/* Keep a stopped worker's GPU (node, slot) out of new leases until its
 * TaskExit (job, lease, rank) or the stop timeout. finish_until > 0: the
 * worker of a DONE job, left to end on its own until then (drv_gpu). */
void driver_gpu_vacate(struct driver *d, uint32_t node, uint32_t slot, uint64_t job,
		      uint64_t lease, uint32_t rank, double finish_until);
/* The TaskExit of a stopped worker on node: its GPU is free again (true). */
bool driver_vacate_clear(struct driver *d, uint32_t node, uint64_t job, uint64_t lease,
			uint32_t rank);
/* Node's agent is gone (or registers again): ranks there become missing,
 * and their leases wait reconnect_grace_s (or are requeued at once). */
void driver_node_hold(struct driver *d, uint32_t node);
/* A held lease whose ranks are all back (or exited) goes on. */
void driver_hold_check(struct driver *d, struct drv_job *j);
/* Whether a stopped worker of job still holds a GPU (its exit not seen,
 * its stop timeout not passed). */
bool driver_job_vacating(const struct driver *d, uint64_t job);
/* Send the last relayed rendezvous of every lease with a live rank on node
 * (0-based) to its agent, which may have missed it while disconnected. */
void driver_rendezvous_resend(struct driver *d, uint32_t node);
/* Book ranks for j, to start once no stopped worker is left on them (0 or
 * -ENOMEM); drop that (its GPUs unbooked); start every waiting lease whose
 * GPUs are free now (one whose GPUs went away is dropped, and a re-plan
 * asked for). */
int driver_pend_set(struct driver *d, struct drv_job *j, const struct drv_rank *ranks, uint32_t n);
void driver_pend_drop(struct driver *d, struct drv_job *j);
void driver_pend_try(struct driver *d);
/* Arm the deadline timer for when (unix) unless it fires earlier. */
void driver_deadline_arm(struct driver *d, double when);

/* driver_blame.c */
/* j's worker failed on node: keep j off it until then (the entry that ends
 * first gives way when the list is full); nothing with failed_node_avoid_s 0. */
void driver_job_avoid_add(struct driver *d, struct drv_job *j, uint32_t node, double until);
/* ... only where that takes no room from another node it avoids (a free or
 * expired entry), and node is not avoided yet; true when it was added. */
bool driver_job_avoid_spare(struct driver *d, struct drv_job *j, uint32_t node, double until);
/* Leases a peer failure ended whose culprit did not report in time: each
 * of their nodes notes a suspect failure, then the quarantine looks at it.
 * The next such deadline (INFINITY: none). */
double driver_unblamed_expire(struct driver *d, double now);
/* A peer failure of job's lease on node[0..nnode) at failed_at, read back at
 * a restart: it waits for its culprit for the rest of DRIVER_BLAME_WAIT_S
 * (the job, if active, avoiding those nodes meanwhile), as if hared had not
 * stopped. Nothing when every entry is taken. */
void driver_unblamed_restore(struct driver *d, uint64_t job, uint64_t lease, const uint32_t *node,
			     uint32_t nnode, double failed_at, const char *user);
/* An exit of a lease no longer current, from node: charges node when a peer
 * failure ended that lease without charging one and this rank failed by
 * itself (true). */
bool drv_late_blame(struct driver *d, struct drv_job *j, uint32_t node, const Hare__TaskExit *x);
/* Rank rk of j's current lease failed: charge the node (or wait for the
 * culprit of a peer failure), then requeue j or end it FAILED. */
void drv_exit_failed(struct driver *d, struct drv_job *j, const struct drv_rank *rk,
		     const Hare__TaskExit *x);
/* Rank rk of j's current lease ended cleanly without progress (how: in
 * words): a failure charged to no node. */
void drv_exit_idle(struct driver *d, struct drv_job *j, const struct drv_rank *rk,
		   const Hare__TaskExit *x, const char *how);
/* A worker of the lease j waits to adopt failed on node before it could be
 * adopted: the failure is counted and the job stops waiting. */
void drv_adopt_failed(struct driver *d, struct drv_job *j, uint32_t node, const Hare__TaskExit *x);

/* driver_progress.c */
/* Progress = min over ranks; finishes the job when done (then j is freed:
 * returns true). */
bool driver_progress_update(struct driver *d, struct drv_job *j);

#endif
