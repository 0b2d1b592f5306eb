/* SPDX-License-Identifier: MIT */
/* hared's durable state in SQLite (WAL): jobs and their state transitions,
 * progress in rounds, nodes, events, learned speeds. A job is acknowledged
 * to its submitter only after store_job_insert has committed it. All calls
 * run on the daemon's loop thread; writes that can wait are batched into
 * one transaction by store_flush (group commit). */
#ifndef HARE_STORE_H
#define HARE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum store_job_state {
	STORE_QUEUED = 1,
	STORE_RUNNING = 2,
	STORE_DONE = 3,
	STORE_CANCELLED = 4,
	STORE_FAILED = 5,
};

#define STORE_MAX_TYPES 16
#define STORE_MAX_AFTER 16		/* jobs one job runs after */

/* Who holds a job back from planning (harectl hold): its owner may release
 * only its own hold; root releases either. */
enum store_held {
	STORE_HELD_NONE = 0,
	STORE_HELD_OWNER = 1,
	STORE_HELD_ADMIN = 2,
};

/* How a job it runs after must end for it to run. */
enum store_after_kind {
	STORE_AFTER_OK = 0,	/* DONE (JobSpec.after) */
	STORE_AFTER_ANY = 1,	/* however (JobSpec.after_any) */
	STORE_AFTER_NOTOK = 2,	/* CANCELLED or FAILED (JobSpec.after_notok) */
};

struct store_job {
	uint64_t id;
	char user[64];
	char name[64];
	char model[32];
	uint32_t tasks, min_gpus, max_gpus;
	uint64_t rounds_total, rounds_done;
	double weight;
	uint32_t ntypes;		/* allowed GPU types; 0 = any */
	char types[STORE_MAX_TYPES][16];
	char command[512];
	char proxy[256];		/* hare-worker --proxy sizes; '' = the model's defaults */
	enum store_job_state state;
	double submit_time, start_time, finish_time;	/* unix seconds; 0 = not yet */
	uint32_t restarts;
	double loss;			/* last reported; NAN if none */
	enum store_held held;
	uint32_t nafter;		/* jobs it runs after (JobSpec.after, after_any, after_notok) */
	uint64_t after[STORE_MAX_AFTER];
	uint8_t after_kind[STORE_MAX_AFTER];	/* enum store_after_kind, per after[i] */
};

/* Open (creating if needed) the database at path, in WAL mode with
 * synchronous=FULL, and create or check the schema (a schema version in
 * PRAGMA user_version; a newer one is refused). 0, or a negative code with
 * the reason in errbuf. */
int store_open(const char *path, struct store **out, char *errbuf, size_t errlen);

/* The database file's path ("" for none). */
const char *store_path(const struct store *s);
/* Another, read-only connection to the database at path (store_path), of
 * this schema version, for use by one thread: long reads off the daemon's
 * loop, which see what was committed. store_close closes it. 0, or a
 * negative code with the reason in errbuf. */
int store_open_reader(const char *path, struct store **out, char *errbuf, size_t errlen);
/* Commit pending batched writes, then close. NULL is a no-op. */
void store_close(struct store *s);

/* Insert a new job (id assigned here, written back into job->id) and commit
 * at once, together with any batched writes. */
int store_job_insert(struct store *s, struct store_job *job);

/* Group commit: insert a job into the current batch (id assigned at once,
 * written back into job->id). It becomes durable with the next successful
 * store_flush (or store_job_insert); acknowledge it only then. If that
 * flush fails the whole batch, this job included, is rolled back. */
int store_job_add(struct store *s, struct store_job *job);

/* Batched (committed by the next store_flush or immediate write):
 * progress, state changes, restarts, loss, times. */
int store_job_progress(struct store *s, uint64_t id, uint64_t rounds_done, double loss);
int store_job_state(struct store *s, uint64_t id, enum store_job_state state, double when);
int store_job_restarted(struct store *s, uint64_t id, uint32_t restarts);

/* Batched: the settings harectl update and hold change (name, weight,
 * min_gpus, max_gpus, held) from job, by job->id. */
int store_job_settings(struct store *s, const struct store_job *job);

/* Append an event (kind: "submit", "start", "preempt", "done", "cancel",
 * "node-up", "node-down", ...) with a short detail; batched. */
int store_event(struct store *s, double when, uint64_t job_id, const char *kind, const char *detail);

/* Remember a node and its GPUs ("V100:4,T4:4"); batched. */
int store_node(struct store *s, const char *name, const char *gpus, double last_seen);

/* A node drained (with a reason) or given back; batched. store_node leaves
 * this alone. */
int store_node_drain(struct store *s, const char *name, bool drained, const char *reason);

/* Has the store a row for node name (registered once, or drained)? 1, 0,
 * or a negative code. */
int store_node_known(struct store *s, const char *name);

/* Forget node name: its row (GPUs, drain) goes; events naming it stay;
 * batched. */
int store_node_forget(struct store *s, const char *name);

/* Learned per (model, GPU type) speed: measured / profiled round-time ratio
 * and the number of rounds behind it; batched. */
int store_speed(struct store *s, const char *model, const char *gpu_type, double ratio, double rounds);

/* Commit every batched write in one transaction. Cheap when nothing is
 * pending. A batched write that failed on its own (the database locked
 * past the busy timeout, a full disk) is not in it: see
 * store_write_failures. A job's end (store_job_state to DONE, CANCELLED or
 * FAILED) that a failed write or commit lost is kept and written again here
 * until a commit has it, and shown by the job reads meanwhile (a retry that
 * fails counts in store_write_failures). 0 when the open transaction, if
 * any, committed. */
int store_flush(struct store *s);

/* The batch (transaction) writes go into now, and whether the last commit
 * made batch id durable. A write staged under an id is durable once
 * store_batch_committed says so after a store_flush; a transaction SQLite
 * undoes on its own (a full disk, an I/O error) or a failed commit ends the
 * batch, and writes staged in it are gone. */
uint64_t store_batch_id(const struct store *s);
bool store_batch_committed(const struct store *s, uint64_t id);

/* Whether a write found the database locked by another process and writes
 * fail at once, without the busy wait, until a commit that wrote. */
bool store_busy(const struct store *s);

/* err_str for a store error, saying what a busy database means ("the
 * database is locked by another process") instead of "Device or resource
 * busy". */
const char *store_err_str(int rc);

/* How many batched writes have failed (their changes are lost) since the
 * store was opened, and the last one's error in *last_error (may be NULL).
 * A caller that acknowledges its writes after a flush compares the count
 * from before them. */
uint64_t store_write_failures(const struct store *s, int *last_error);

/* store_flush for a caller about to acknowledge writes it made after
 * taking failures_before = store_write_failures(s, NULL): 0 only when they
 * are all committed, else the commit's or a lost write's error. */
int store_flush_since(struct store *s, uint64_t failures_before);

/* Load the jobs not in a final state (QUEUED or RUNNING), or every job with
 * include_final, in id order (for a restart): calls cb for each; a non-zero
 * return stops and is returned. */
typedef int (*store_job_cb)(void *user, const struct store_job *job);
int store_jobs_load(struct store *s, bool include_final, store_job_cb cb, void *user);

/* The newest max jobs in the table, in id order, as store_jobs_load with
 * include_final gives them; *older_final (may be NULL) counts the jobs in
 * a final state older than those. 0, a non-zero cb return, or -errno. */
int store_jobs_load_newest(struct store *s, uint32_t max, store_job_cb cb, void *user,
			   uint64_t *older_final);

/* The same, of one owner's jobs only. */
int store_jobs_load_newest_of(struct store *s, const char *owner, uint32_t max, store_job_cb cb,
			      void *user, uint64_t *older_final);

/* One job by id: 0, or -ENOENT. */
int store_job_get(struct store *s, uint64_t id, struct store_job *out);

/* How many worker failures (events of kind "fail") job id has had: 0 or a
 * negative code. */
int store_job_failures(struct store *s, uint64_t id, uint32_t *count);

/* A job's newest max events, oldest first (writes of this connection not
 * committed yet included): cb(user, time, kind, detail); a non-zero return
 * stops and is returned. */
typedef int (*store_event_cb)(void *user, double time, const char *kind, const char *detail);
int store_job_events(struct store *s, uint64_t id, uint32_t max, store_event_cb cb, void *user);
/* The same for a node's events (kind node-*, detail its name, or its name,
 * ": " and why: "n1: quarantined by hared: ..."). */
int store_node_events(struct store *s, const char *node, uint32_t max, store_event_cb cb, void *user);

/* The "fail", "blame", "unexplained", "node-undrain", "node-forget",
 * "node-unhealthy" and "node-healthy" events since a unix time, newest first (it
 * stops at the first event older than since): cb(user, time, job id (0:
 * none), kind, detail, the job's user ("" if none)); a non-zero return
 * stops and is returned. For hared's start: where workers failed lately. */
typedef int (*store_failure_cb)(void *user, double time, uint64_t job_id, const char *kind,
				const char *detail, const char *job_user);
int store_failures_load(struct store *s, double since, store_failure_cb cb, void *user);

/* When the job's lease lease_id started (its "start" or "restart" event,
 * whose detail begins "lease=ID "): 0, or -ENOENT when none. */
int store_lease_start(struct store *s, uint64_t job_id, uint64_t lease_id, double *when);

/* The job's newest lease (of its newest "start" or "restart" event): 0, or
 * -ENOENT when it has none. */
int store_job_last_lease(struct store *s, uint64_t job_id, uint64_t *lease_id);

/* Why the job's last task failure happened (its newest "fail" event, or the
 * "blame" that named the rank that failed by itself after it; writes
 * of this connection not committed yet included): 0, or -ENOENT when none. */
int store_job_last_failure(struct store *s, uint64_t id, char *detail, size_t len, double *when);

/* The detail and time of job id's last "cancel" event (who cancelled it,
 * or the job it ran after): 0, -ENOENT if none, or a negative code. */
int store_job_cancel_reason(struct store *s, uint64_t id, char *detail, size_t len, double *when);

/* Learned speeds, for start-up: cb(user, model, type, ratio, rounds). */
typedef int (*store_speed_cb)(void *user, const char *model, const char *gpu_type, double ratio,
			      double rounds);
int store_speeds_load(struct store *s, store_speed_cb cb, void *user);

/* Every node, for start-up: cb(user, name, drained, its reason, last seen
 * (unix; 0: never registered), its GPUs as store_node wrote them ("" if
 * none or not readable)), drained ones first, then the most lately seen
 * first. */
typedef int (*store_node_cb)(void *user, const char *name, bool drained, const char *reason,
			     double last_seen, const char *gpus);
int store_nodes_load(struct store *s, store_node_cb cb, void *user);

/* GPU time (harectl usage, show): the GPUs of one type that lease lease_id
 * of job_id holds from start; batched. A lease that has its rows already (one
 * adopted after a restart) keeps them. */
int store_usage_start(struct store *s, uint64_t job_id, uint64_t lease_id, const char *gpu_type,
		      uint32_t gpus, double start);
/* The lease held its GPUs until at least until (its end, or while it runs,
 * now); batched. */
int store_usage_until(struct store *s, uint64_t job_id, uint64_t lease_id, double until);
/* A job's GPU-seconds per GPU type, by type name, leaving out lease
 * except_lease (0: none): cb(user, type, gpu_s); a non-zero return stops
 * and is returned. */
typedef int (*store_usage_type_cb)(void *user, const char *gpu_type, double gpu_s);
int store_usage_job(struct store *s, uint64_t job_id, uint64_t except_lease,
		    store_usage_type_cb cb, void *user);
/* GPU-seconds held inside [since, until) (unix seconds, since < until), by
 * the jobs' users (only user's when not NULL), read from one snapshot
 * (leases of no length left out): first user_cb(cb_user, user,
 * the jobs that held GPUs then, GPU-seconds) for each user by name, then
 * type_cb(cb_user, user, GPU type, GPU-seconds) for each user and type, by
 * user and type name; a non-zero return stops and is returned. */
typedef int (*store_usage_user_cb)(void *cb_user, const char *user, uint32_t jobs, double gpu_s);
typedef int (*store_usage_user_type_cb)(void *cb_user, const char *user, const char *gpu_type,
					double gpu_s);
int store_usage_sum(struct store *s, double since, double until, const char *user,
		    store_usage_user_cb user_cb, store_usage_user_type_cb type_cb, void *cb_user);
/* A long read of s asks stop(user) now and then (from the reading thread);
 * a non-zero answer ends it with -ECANCELED. NULL: never. */
typedef int (*store_stop_cb)(void *user);
void store_interrupt_set(struct store *s, store_stop_cb stop, void *user);
#endif
