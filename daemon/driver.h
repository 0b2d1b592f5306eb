/* SPDX-License-Identifier: MIT */
/* hared's scheduling driver: active jobs, the cluster built from registered
 * agents, debounced re-plans with the policy off the loop thread, plans
 * applied as leases (TaskStart/TaskStop to agents), progress from round
 * reports, speed learning, completion, and adoption after a restart. */
#ifndef HARE_DAEMON_DRIVER_H
#define HARE_DAEMON_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hare.pb-c.h"
#include "rendezvous.h"
#include "sched.h"
#include "speed.h"
#include "store.h"

struct profile;
struct driver;
struct driver_snapshot;

#define DRIVER_MAX_GPUS 64		/* tasks (and so GPUs) of one job */
/* How often running leases' GPU time is written down: what a crash of
 * hared can lose of a lease that is not adopted after it. */
#define DRIVER_USAGE_SYNC_S 30
#define DRIVER_MAX_NODES 4096
#define DRIVER_MAX_NODE_GPUS 128
#define DRIVER_DRAIN_REASON 128		/* bytes of a drain's reason, with its NUL */
#define DRIVER_NODE_NAME 64
#define DRIVER_HEALTH_REASON 256	/* bytes of a health check's reason, with its NUL */
/* A stopped worker's GPU waits for its TaskExit at most the agents' stop
 * grace (SIGTERM to SIGKILL) plus this margin. */
#define DRIVER_STOP_MARGIN_S 5.0
/* The longest a failed job waits before its next lease. */
#define DRIVER_RETRY_MAX_S 600.0

/* Deliver msg to the agent with this id (its current connection). Runs on
 * the loop thread; msg is borrowed. 0, or a negative code (agent gone). */
typedef int (*driver_send_cb)(void *user, uint32_t agent_id, const Hare__FromDaemon *msg);

struct driver_opts {
	const char *policy;		/* solver policy name */
	double time_scale;		/* profile seconds per wall second, > 0 */
	double noise_cv;		/* emulated straggler noise sent in TaskStart */
	uint32_t replan_debounce_ms;
	double reconnect_grace_s;	/* wait for agents after a restart or a disconnect */
	double type_slack;		/* hare's type slack (negative: the default) */
	double min_lease_s;		/* profile seconds before a lease may be displaced
					 * (negative: the solver's default) */
	double stop_grace_s;		/* SIGTERM to SIGKILL grace of agents that do not say theirs */
	uint32_t max_retries;		/* worker failures before FAILED */
	double finish_grace_s;		/* a DONE job's workers end on their own within this */
	double retry_backoff_s;		/* a failed job waits this long before its next lease,
					 * doubled each failure up to DRIVER_RETRY_MAX_S (0: none) */
	double failed_node_avoid_s;	/* a job is not started on a node where its worker
					 * failed for this long (0: it may be at once) */
	uint32_t quarantine_jobs;	/* drain a node once workers of this many jobs
					 * failed there within DRIVER_FAIL_WINDOW_S (0: never) */
	uint32_t quarantine_users;	/* ... jobs of at least this many users */
	uint32_t quarantine_max_nodes;	/* ... while fewer nodes than this are so drained */
	uint32_t quarantine_health_fails;	/* drain a node whose health check turned failing
					 * this many times within DRIVER_FAIL_WINDOW_S (0:
					 * never; at most DRIVER_HEALTH_FAILS), while fewer
					 * than quarantine_max_nodes are so drained */
	double max_user_weight;		/* > 0: the most weight a job of a user (not root)
					 * is planned with, the jobs after it included */
	double stall_timeout_s;		/* a running lease with no round reported for this
					 * long (wall seconds; at least DRIVER_STALL_ROUNDS
					 * of its rounds) is a failure: hung workers (0: never) */
	const char *remote_owner;	/* the owner name of remote clients' jobs (NULL: none) */
	char remote_user[32];		/* the account their workers run as (TaskStart.user);
					 * every other job's runs as its owner */
};

#define DRIVER_STALL_ROUNDS 20.0	/* rounds' time a stalled lease is given at least */

struct driver;
/* Fail the running leases that reported no new round for longer than
 * stall_timeout_s (and DRIVER_STALL_ROUNDS of their rounds, plus their
 * restore) at unix time now: their workers are stopped and the job retried
 * as after a worker failure, charged to no node. hared calls it once a
 * second. */
void driver_stall_check(struct driver *d, double now);

#define DRIVER_AVOID_MAX 8		/* nodes one job avoids at a time */
#define DRIVER_NODE_FAILS 64		/* worker failures remembered per node */
#define DRIVER_HEALTH_FAILS 16		/* times a node's health check turned failing,
					 * remembered per node */
#define DRIVER_FAIL_WINDOW_S 3600.0	/* ... counted by driver_node_failures */
#define DRIVER_UNBLAMED_MAX 32		/* leases a peer failure ended, waiting for the
					 * exit of the rank that failed by itself */
#define DRIVER_BLAME_WAIT_S 120.0	/* ... for this long (unix seconds) */
#define DRIVER_SUSPECT_NODES 8		/* nodes of a lease whose failure nobody was
					 * blamed for that a node remembers (more: not kept) */
#define DRIVER_NODE_SUSPECTS 16		/* such failures remembered per node */

/* A lease of several nodes that failed on a node with no rank to blame:
 * every rank lost a peer, or the culprit never said so within
 * DRIVER_BLAME_WAIT_S (a bad network link, a hung rank). */
struct drv_suspect {
	double at;			/* unix; 0: none */
	uint64_t job;
	char user[64];
	uint32_t peer[DRIVER_SUSPECT_NODES - 1];	/* the lease's other nodes */
	uint32_t npeer;
};

/* A node a job avoids: its worker failed there. */
struct drv_avoid {
	uint32_t node;			/* agent id - 1 */
	double until;			/* unix */
};

/* A GPU of a node, as its agent registered it. */
struct drv_gpu {
	uint32_t index;			/* on the node */
	int32_t type;			/* profile GPU type index, -1: unknown type (never used) */
	char type_name[16];		/* as the agent registered it */
	bool type_cut;			/* ... cut short: no profile type is named so */
	bool measuring;			/* hare-worker --profile runs on it (measure.h) */
	bool emulated;
	uint64_t memory_mib;
	uint64_t job_id;		/* job holding it (or about to), 0: free */
	/* A stopped worker that may still hold the GPU (memory on a real
	 * one): no lease starts on it until that worker's TaskExit arrives
	 * or vacate_until (unix) passes. vacate_lease 0: none. Plans do not
	 * see this: a lease planned here waits (drv_job.pend). */
	uint64_t vacate_job, vacate_lease;
	uint32_t vacate_rank;
	double vacate_until;
	/* The worker is of a job that is DONE: it may finish on its own (save
	 * a model, print, exit) until this unix time, and is stopped after. */
	double finish_until;
};

/* A node: one agent, known by name; its id is stable for the daemon's life. */
struct drv_node {
	char name[DRIVER_NODE_NAME];
	char addr[64];			/* agent's peer address (rendezvous) */
	uint32_t agent_id;		/* index + 1 */
	bool attached;			/* an authenticated session exists */
	bool up;			/* registered: its GPUs can be planned on */
	double last_seen;		/* unix seconds */
	double seen_stored;		/* the last_seen written to the store last */
	double stop_grace_s;		/* its agent's stop grace (Register), or stop_grace_s, and
				 * its prolog's and epilog's (Register.script_grace_ms):
				 * how long an exit may take after a stop */
	double prolog_s;		/* how long its prolog may hold a worker's start
					 * (Register.prolog_ms; 0: none) */
	bool gpus_isolated;		/* a worker may open its own GPU only (Register) */
	bool drained;			/* out of planning (operator's drain; kept in the store) */
	char drain_reason[DRIVER_DRAIN_REASON];
	/* its agent's health check fails (Register and Heartbeat say): out of
	 * planning until it passes; not kept in the store (the agent says
	 * again at each Register) */
	bool unhealthy;
	char health_reason[DRIVER_HEALTH_REASON];
	double unhealthy_since;		/* unix seconds */
	double health_fail_at[DRIVER_HEALTH_FAILS];	/* when it turned unhealthy, ring
							 * from health_fail_next (0: none) */
	uint32_t health_fail_next;
	bool health_restored_bad;	/* unhealthy when hared stopped (its newest health
					 * event), until its agent first says how it is */
	uint32_t ngpus;
	struct drv_gpu *gpus;
	double fail_at[DRIVER_NODE_FAILS];	/* when its workers failed, newest last
						 * (ring from fail_next; 0: none) */
	uint64_t fail_job[DRIVER_NODE_FAILS];	/* ... whose jobs */
	char fail_user[DRIVER_NODE_FAILS][64];	/* ... of which users */
	uint32_t fail_next;
	struct drv_suspect sus[DRIVER_NODE_SUSPECTS];	/* ring from sus_next */
	uint32_t sus_next;
	bool quarantine_held;		/* quarantine was due but the cap held it back (said
					 * once while it stays due) */
	char refused[96];		/* while down: why an agent under its name was
					 * refused last ("" none; driver_node_refused) */
	double refused_at;		/* unix seconds */
};

/* One rank (GPU) of a lease. */
struct drv_rank {
	uint32_t node;			/* node index */
	uint32_t slot;			/* GPU slot on the node */
	uint16_t tasks;			/* micro-batches per round (adoption candidates: 0 unknown) */
	bool exited;
	bool missing;			/* its agent went away and has not listed it since */
	uint8_t status;			/* Hare__TaskStatus once exited (adoption candidates) */
	int32_t type;			/* its GPU's profile type when the lease began (-1: none) */
	uint64_t round_end;		/* absolute round after its last report */
};

#define DRIVER_MAX_STOP_GRACE_S 3600.0	/* most of an agent's stop grace believed */
#define DRIVER_SEEN_WRITE_S 60.0	/* how often a node's last_seen goes to the store */

/* largest rendezvous relayed and kept for resending: what agents accept */
#define DRIVER_RDV_MAX RDV_DATA_MAX

/* A placement of a job, running rounds from round_first. */
struct drv_lease {
	uint64_t id;			/* 0: not running */
	uint64_t round_first;
	uint32_t nranks;
	struct drv_rank *ranks;
	double start;			/* unix seconds */
	double progress_at;		/* unix: its start, adoption or last new round (0:
					 * unknown); driver_stall_check measures from it */
	double round_s;			/* profile seconds per round as profiled */
	bool adopted;			/* taken over after a restart */
	bool guessed;			/* adopted from agents that did not say their GPU,
					 * tasks, world size or first round */
	double hold_until;		/* ranks missing: kept out of plans until they are
					 * back, requeued at this unix time; 0: none */
	uint8_t rdv[DRIVER_RDV_MAX];	/* last rendezvous relayed (resent to an agent
					 * that registers again); rdv_len 0: none */
	uint16_t rdv_len;
	/* Started, TaskStarts not sent yet: they leave only once the start is
	 * committed (driver_starts_send), so a daemon that crashes never has
	 * workers running for a job its store calls QUEUED. */
	bool unsent;
	double sync_s, restart_s;	/* for those TaskStarts */
};

/* An active (QUEUED or RUNNING) job. Read-only outside the driver. */
struct drv_job {
	struct store_job rec;		/* the durable record, kept current */
	uint32_t model;			/* profile model index */
	struct sched_perf perf_prof;	/* profile seconds, as profiled (for workers) */
	struct sched_perf perf;		/* wall seconds, learned speeds applied (for plans) */
	struct speed_model speed;	/* fitted to this job's rounds */
	struct drv_lease lease;
	double attained_gpu_s;
	double last_run;		/* unix, 0: never ran */
	uint32_t failures;
	struct drv_avoid avoid[DRIVER_AVOID_MAX];
	uint32_t navoid;
	double retry_at;		/* unix: failed, kept out of plans until then; 0: not */
	uint32_t order;			/* position in the last plan, UINT32_MAX: none */
	double est_start, est_finish;	/* unix, projected by the last plan; 0: unknown */
	bool progress_dirty;		/* progress not yet handed to the store */
	bool adopt_wait;		/* was RUNNING at start-up: may be adopted */
	uint64_t run_lease;		/* ... its lease then, from the store (0: unknown) */
	struct drv_rank *adopt;		/* adoption candidates by rank (node UINT32_MAX: none) */
	uint64_t adopt_lease;		/* their lease (the newest one reported) */
	uint32_t adopt_world;		/* world size they report, 0: unknown */
	uint64_t adopt_first;		/* round_first they report, UINT64_MAX: unknown */
	bool adopt_exact;		/* each said its GPU, tasks, world size and first round */
	double adopt_loss;		/* rank 0's loss reported meanwhile, NAN: none */
	uint64_t adopt_reports;		/* round reports held for the candidates */
	struct drv_rank *pend;		/* a planned lease waiting for stopped workers to
					 * leave its GPUs, or for the job's own stopped
					 * workers to exit (booked for it); NULL: none */
	uint64_t prev_lease;		/* the job's last stopped lease (0: none): rank 0's
					 * exit from it credits the rounds it finished */
	uint64_t prev_first;		/* that lease's round_first */
	uint32_t npend;
	/* Jobs it runs after (rec.after) that have not ended as it needs yet:
	 * while any is left it is kept out of plans (harectl shows WAITING). */
	uint64_t after_wait[STORE_MAX_AFTER];
	uint32_t nafter_wait;
	/* One of them ended so that this job can never run (CANCELLED or FAILED
	 * where it must be DONE, DONE where it must not be), or is unknown: this
	 * job is cancelled (driver_after_cancel). after_broken: its id, 0: none. */
	uint64_t after_broken;
	enum store_job_state after_broken_state;	/* ... how it ended (0: unknown) */
};

struct driver_stats {
	uint64_t plans;			/* plans applied */
	double plan_p50_ms, plan_p99_ms;	/* over the last plans */
	double plan_ms_sum;		/* over every plan applied */
	double lp_bound_s;		/* last plan's LP bound */
	uint64_t reports;		/* round reports accepted */
	uint64_t reports_ignored;	/* for unknown jobs or leases */
	uint64_t done, cancelled, failed;	/* jobs ended so, since the driver started */
	uint64_t worker_failures;	/* leases ended by a failed worker */
	uint64_t preemptions;		/* leases stopped by a plan to run other jobs */
	uint64_t quarantines;		/* nodes drained by the quarantine */
	uint64_t health_fails;		/* nodes that turned unhealthy (their health check) */
	uint64_t node_faults;		/* prologs and epilogs that failed (TaskExit.node_fault) */
	uint64_t peer_failures;		/* of worker_failures: a peer or the network failed,
					 * the reporting node not charged */
	uint64_t late_blames;		/* nodes charged after such a failure, when the
					 * rank that failed by itself reported */
	uint64_t unexplained;		/* such failures whose culprit never reported: their
					 * nodes noted a suspect failure */
	uint64_t nodes_forgotten;	/* by operators, or to make room for new nodes */
	uint32_t ntypes;		/* the profile's GPU types */
	double gpu_s[SCHED_MAX_TYPES];	/* GPU-seconds leases held since the driver started,
					 * by profile type (running ones until now) */
};

/* Create a driver over the loop; prof and st are borrowed for its life (st
 * may be NULL: nothing is persisted). Learned speeds are read from st.
 * 0, ERR_UNKNOWN_POLICY or -ENOMEM with the reason in errbuf. */
int driver_new(uv_loop_t *loop, const struct driver_opts *o, const struct profile *prof,
	       struct store *st, driver_send_cb send, void *send_user, struct driver **out,
	       char *errbuf, size_t errlen);

/* The options in use; set: a reload's (hared_reload). Those read when
 * used change at once: replan_debounce_ms, reconnect_grace_s, stop_grace_s
 * (of agents that register from now on without their own), max_retries,
 * finish_grace_s, failed_node_avoid_s (failures from now on),
 * retry_backoff_s, the quarantine's (checked at the next failure) and
 * noise_cv (leases started from now on); policy, time_scale, type_slack
 * and min_lease_s are kept as they were (the policy and the jobs' speeds
 * were made with them). */
void driver_opts_get(const struct driver *d, struct driver_opts *o);
void driver_opts_set(struct driver *d, const struct driver_opts *o);

/* Stop timers and drop a plan in flight (its result is discarded); the
 * handles finish closing on the loop. */
void driver_close(struct driver *d);
/* Free the driver once driver_close's handles have closed (uv_run has
 * returned). NULL is a no-op. */
void driver_free(struct driver *d);

/* Add a QUEUED or RUNNING job read back from the store at start-up (before
 * driver_start). RUNNING jobs wait reconnect_grace_s for their agents. */
int driver_job_load(struct driver *d, const struct store_job *job);

/* Begin scheduling: after the loaded jobs, start the adoption grace period
 * (if some job was RUNNING) or plan at once. */
void driver_start(struct driver *d);

/* End the adoption grace period now. Its timer does this after
 * reconnect_grace_s, and so does the Register or Heartbeat that completes
 * the last lease waiting (every rank back, each saying its GPU, tasks,
 * world size and first round). A lease whose ranks 0..world_size-1 are all
 * back becomes its job's lease again, booked on the GPUs and with the
 * tasks its workers report, with the rounds and loss they reported
 * meanwhile; any other job is queued again and its workers stopped. */
void driver_grace_end(struct driver *d);

/* Act on deadlines due by now (unix seconds): leases whose agents did not
 * come back within reconnect_grace_s are stopped and requeued, and GPUs of
 * stopped workers whose TaskExit did not come are freed (warning). A timer
 * calls this; tests call it with a time of their choice. */
void driver_deadlines_run(struct driver *d, double now);

/* Whether a GPU may be given to a new lease: no job holds it, no stopped
 * worker may still be on it, and it is not being measured. */
bool driver_gpu_is_free(const struct drv_gpu *g);

/* Fill a job's perf for the profile, the cluster's types and its allowed
 * types (profile seconds), for validation and for driver_job_add. 0,
 * ERR_UNKNOWN_MODEL, ERR_UNKNOWN_GPU, or ERR_NO_CAPACITY (no allowed type
 * profiled for the model), with the reason in errbuf. */
int driver_perf_fill(const struct profile *prof, const struct store_job *job, uint32_t *model,
		     struct sched_perf *perf, char *errbuf, size_t errlen);

/*
 * Whether prof can replace the current profile: the same models and GPU
 * types, plus new types after them (measured ones), at most
 * SCHED_MAX_TYPES. 0, or -E2BIG / -ESTALE with the reason in errbuf.
 */
int driver_profile_check(const struct driver *d, const struct profile *prof, char *errbuf,
			 size_t errlen);

/*
 * Use prof (driver_profile_check passed) from now on: jobs get times for the
 * new types, GPUs of those types become plannable, and a re-plan is asked
 * for. The caller keeps prof alive (and the old one until this returns).
 * 0, or an error of driver_profile_check, or -ENOMEM (nothing changed).
 */
int driver_profile_set(struct driver *d, const struct profile *prof, char *errbuf, size_t errlen);

/* hare-worker --profile runs (on) or no longer runs on the node's GPUs of
 * type (by name, any case): they are kept out of plans meanwhile. */
void driver_node_measuring(struct driver *d, uint32_t agent_id, const char *type, bool on);

/* Commit the ends (DONE, FAILED) of jobs since the last call, in one
 * transaction; hared calls it once per loop iteration. */
void driver_ends_commit(struct driver *d);

/* Add a newly committed job (QUEUED) and schedule a re-plan. On an error
 * (its model's profile is gone, no memory) the stored job is marked FAILED
 * with the reason, committed with the ends (driver_ends_commit). */
int driver_job_add(struct driver *d, const struct store_job *job, char *errbuf, size_t errlen);

/* The nodes job j avoids now (its workers failed there within
 * failed_node_avoid_s), as node indices into out (DRIVER_AVOID_MAX);
 * returns how many: none when the GPUs it may use on the other nodes (up,
 * not drained, of its types) are fewer than its min_gpus. */
uint32_t driver_job_avoids(const struct driver *d, const struct drv_job *j, uint32_t *out);

/* At submit: whether a job may run after these jobs, of these kinds (enum
 * store_after_kind per job; NULL: each must be DONE): each exists (in the
 * driver or the store) and has not ended so that this job could never run
 * (CANCELLED or FAILED where it must be DONE, DONE where it must not be),
 * none twice, at most STORE_MAX_AFTER. 0, or ERR_BAD_SPEC with the reason in
 * errbuf. */
int driver_after_check(struct driver *d, const uint64_t *after, const uint8_t *kinds, size_t n,
		       char *errbuf, size_t errlen);

/* Active job by id, or NULL. Valid until the next driver call. */
const struct drv_job *driver_job_find(const struct driver *d, uint64_t id);
/* Active jobs in id order: how many, and the i-th (NULL past the end). */
uint32_t driver_job_count(const struct driver *d);
const struct drv_job *driver_job_at(const struct driver *d, uint32_t i);

/* Cancel an active job on behalf of user (admin: any job): stop its
 * workers, mark it CANCELLED. 0, -ENOENT (not active), -EPERM, with a
 * one-line reason in msg. */
int driver_job_cancel(struct driver *d, uint64_t id, const char *user, bool admin, char *msg,
		      size_t msglen);

/* What harectl update, hold and release change in an active job; fields
 * not set are left as they are. */
struct driver_update {
	int hold;			/* 1 hold, 0 release, -1 leave */
	bool has_weight;
	double weight;			/* checked by the caller: > 0 */
	bool has_min_gpus, has_max_gpus;
	uint32_t min_gpus, max_gpus;	/* checked here against each job's tasks */
	const char *name;		/* NULL: leave; checked by the caller */
};

/* Change an active job on behalf of user (admin: any job; a job held by
 * root is released by root only). Holding a job takes it out of plans; a
 * running one is stopped first (its workers checkpoint) and queued again.
 * A running job whose width leaves a new GPU range is queued again too.
 * The change is batched in the store: the caller commits it before it
 * replies. 0 (msg says what changed, or that nothing did), -ENOENT (not
 * active), -EPERM, -EINVAL (a GPU range that does not fit the job). */
int driver_job_update(struct driver *d, uint64_t id, const char *user, bool admin,
		      const struct driver_update *u, char *msg, size_t msglen);

/* Nodes seen, by agent id - 1: how many slots, and the i-th (NULL past
 * the end, and for the free slot of a node forgotten). */
uint32_t driver_node_count(const struct driver *d);
const struct drv_node *driver_node_at(const struct driver *d, uint32_t i);
/* Workers that failed on node i within DRIVER_FAIL_WINDOW_S (at most
 * DRIVER_NODE_FAILS). */
uint32_t driver_node_failures(const struct driver *d, uint32_t i);

/* Profile type name of a GPU type index ("?" for -1). */
const char *driver_type_name(const struct driver *d, int32_t type);

/* Whether active job id could run on the nodes up (and not drained) now:
 * enough GPUs of types it may use and its model has times for. When not,
 * why (for the submitter: such a job waits, it is not refused). */
bool driver_job_fit(const struct driver *d, uint64_t id, char *why, size_t len);

/* An agent saying it is node name, known and not attached, was refused
 * (a wrong key, none): why, for harectl nodes, until an agent attaches. */
void driver_node_refused(struct driver *d, const char *name, const char *why);

/* Whether name may be a node's: 1 to DRIVER_NODE_NAME - 1 letters,
 * digits, '.', '_' or '-'. */
bool driver_node_name_ok(const char *name);

/* An agent for node authenticated (addr: its peer address). Returns its
 * agent id (stable per node name, > 0), or a negative code (too many nodes,
 * bad name). A node that was still attached is detached first. */
int driver_agent_attach(struct driver *d, const char *node, const char *addr);

/* The agent's Register: its GPUs and running workers. Leases it runs that
 * were waiting for it (see driver_agent_detach) go on; workers of other
 * leases are stopped and their GPUs kept free until they exit. 0, or
 * ERR_PROTO / -E2BIG with the reason in errbuf (the session should be
 * refused). */
int driver_agent_register(struct driver *d, uint32_t agent_id, const Hare__Register *reg,
			  char *errbuf, size_t errlen);

/* An operator drains a node (drain: no lease is planned on its GPUs; jobs
 * there are moved elsewhere at the next plan) or gives it back; kept in the
 * store. The node is one attached since start, or one the store knows (so
 * a node still down after a restart can be drained before it returns).
 * *moved: jobs holding its GPUs now. 0, or -ENOENT (unknown node, msg lists
 * the known ones) / -EINVAL (reason of DRIVER_DRAIN_REASON bytes or more;
 * clients check that first). msg: what was done, or why not. */
/* After the jobs are loaded at start: the worker failures the store holds
 * of the last hour (FAILS, quarantine) and of failed_node_avoid_s (the
 * active jobs' avoided nodes), except those before a node's undrain. */
void driver_failures_load(struct driver *d);

/* 1 drained, 0 not, -1 no such node (up or down) in this session yet. */
int driver_node_is_drained(const struct driver *d, const char *node);
int driver_node_drain(struct driver *d, const char *node, bool drain, const char *reason,
		      uint32_t *moved, char *msg, size_t msglen);

/* An operator forgets a node gone for good (driver_node_drain's node):
 * refused (-EBUSY, msg says why) while its agent is connected, any
 * lease, planned lease or adoption candidate has a rank there, a stopped
 * worker may still hold a GPU there, or a peer failure there may still be
 * charged to it. Its drain, failures and suspect
 * failures go, and jobs no longer avoid it; a node that registers with its
 * name later is a new one. *was_drained, *fails (driver_node_failures) as
 * they were. 0, -ENOENT (msg lists the known nodes), -EBUSY. When the
 * table is full, a new node takes the place of the node down longest (for
 * an hour at least, neither drained nor failed within the hour) the same
 * way. */
int driver_node_forget(struct driver *d, const char *node, bool *was_drained, uint32_t *fails,
		       char *msg, size_t msglen);

/* Heartbeat: last seen, and workers of leases no longer current are stopped;
 * the node's health (Heartbeat.health). True when the node is healthy again
 * after its health check failed. */
bool driver_agent_heartbeat(struct driver *d, uint32_t agent_id, const Hare__Heartbeat *hb);

/* The agent's session ended: its GPUs go down. Leases with ranks there are
 * kept for reconnect_grace_s, out of the plans (their other GPUs stay
 * theirs): if the agent registers again and lists those workers, they go
 * on; otherwise they are stopped and requeued when the time is up. */
void driver_agent_detach(struct driver *d, uint32_t agent_id);

/* Work reports from agents (loop thread; messages borrowed): rounds done,
 * a worker's exit, rendezvous data to relay to the lease's agents. Reports
 * for unknown jobs or leases, or from an agent that does not run that rank,
 * are ignored (debug log). */
void driver_round_report(struct driver *d, uint32_t agent_id, const Hare__RoundReport *r);
void driver_task_exit(struct driver *d, uint32_t agent_id, const Hare__TaskExit *x);
void driver_rendezvous(struct driver *d, uint32_t agent_id, const Hare__Rendezvous *r);

/* Ask for a re-plan after the debounce delay (coalesced; one plan at a time). */
void driver_replan_request(struct driver *d);

/* Hand dirty progress and learned speeds to the store (batched writes; the
 * caller's store_flush commits them), and every DRIVER_USAGE_SYNC_S the
 * running leases' GPU time. */
void driver_store_sync(struct driver *d);
/* Write the running leases' GPU time up to now into the store (batched),
 * for a reader of the usage table (harectl usage, show). */
void driver_usage_sync(struct driver *d);
/* Nodes up now were seen now: what a restart shows of them (hared's stop). */
void driver_nodes_sync(struct driver *d);

/* Plan count, plan latency p50/p99 over the last plans, last LP bound,
 * reports accepted and ignored. */
void driver_stats_get(const struct driver *d, struct driver_stats *out);

/* Plan machinery, exposed for tests and for the loop's work callbacks:
 * take a snapshot (a deep copy the loop does not touch), run the policy on
 * it (any thread), apply its plan (loop thread), free it. */
int driver_snapshot_take(struct driver *d, struct driver_snapshot **out);
const struct sched_snapshot *driver_snapshot_view(const struct driver_snapshot *s);
struct sched_plan *driver_snapshot_plan(struct driver_snapshot *s);
int driver_snapshot_plan_run(struct driver *d, struct driver_snapshot *s);
int driver_plan_apply(struct driver *d, struct driver_snapshot *s);
void driver_snapshot_free(struct driver_snapshot *s);

/* Unix time now (seconds). */
double driver_now(void);

#endif
