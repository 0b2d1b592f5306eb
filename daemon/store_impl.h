/* SPDX-License-Identifier: MIT */
/* The store's private state, shared by store.c (opening, the schema, the
 * batch transaction), store_jobs.c (jobs), store_events.c (events, GPU time)
 * and store_nodes.c (nodes, learned speeds). */
#ifndef HARE_DAEMON_STORE_IMPL_H
#define HARE_DAEMON_STORE_IMPL_H

#include "store.h"

#include <sqlite3.h>

enum store_stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_JOB_INSERT,
	ST_JOB_PROGRESS,
	ST_JOB_STATE,
	ST_JOB_RESTARTED,
	ST_EVENT,
	ST_NODE,
	ST_SPEED,
	ST_JOBS_ACTIVE,
	ST_JOBS_ALL,
	ST_JOBS_NEWEST,
	ST_JOBS_OLDER_FINAL,
	ST_JOBS_NEWEST_OF,
	ST_JOBS_OLDER_FINAL_OF,
	ST_JOB_GET,
	ST_SPEEDS,
	ST_NODE_DRAIN,
	ST_NODES_LOAD,
	ST_NODE_KNOWN,
	ST_NODE_FORGET,
	ST_JOB_LAST_FAIL,
	ST_JOB_LAST_CANCEL,
	ST_JOB_SETTINGS,
	ST_JOB_EVENTS,
	ST_NODE_EVENTS,
	ST_JOB_FAILURES,
	ST_RECENT_EVENTS,
	ST_LEASE_START,
	ST_LAST_LEASE,
	ST_USAGE_START,
	ST_USAGE_UNTIL,
	ST_USAGE_JOB,
	ST_USAGE_USERS,
	ST_USAGE_TYPES,
	ST_COUNT
};

/* A job's end (DONE, CANCELLED, FAILED) not known to be committed. */
struct store_end {
	uint64_t id;
	int state;
	double when;
	bool staged;		/* written in the open transaction */
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	bool in_txn;		/* a batch transaction is open */
	/* Batched writes that failed (lost: a write that never reached a
	 * transaction is not in the next commit), and the last one's error. */
	uint64_t write_failures;
	int write_error;
	/* The database was busy (another process holds its lock): writes fail at
	 * once, without the busy timeout, until a commit goes through, so the
	 * loop does not wait out the timeout for every write. */
	bool busy;
	uint32_t txn_writes;	/* writes that went into the open transaction */
	/* The first job id inserted in the open transaction (0: none): a
	 * rollback gives its ids back to later inserts, so kept ends of them
	 * go too. */
	uint64_t txn_first_id;
	/* Counts the transactions that ended (committed or undone): a write
	 * staged under one number is durable only if the commit that ends it
	 * succeeds (store_batch_id). */
	uint64_t txn_gen;
	uint64_t committed_gen;	/* the last transaction a commit made durable */
	/* Ends written since the last commit, or whose write failed: kept, and
	 * written again by store_flush, until a commit has them; the job reads
	 * (store_job_get, store_jobs_load) show them meanwhile. Without this an
	 * end lost to a locked or full database left the job RUNNING on disk
	 * while hared had dropped it. */
	struct store_end *ends;
	size_t nends, ends_cap;
};

/* store.c */
/* SQLite result code to a negative errno. */
int store_rc(sqlite3 *db, int rc);
/* Run a prepared statement that returns no rows, and reset it. */
int store_step(struct store *s, sqlite3_stmt *st);
/* Open the batch transaction if none is open. */
int store_batch_begin(struct store *s);
/* After a batched write (rc its result): notice a transaction SQLite rolled
 * back, count a failed write; returns rc. */
int store_batch_end(struct store *s, int rc);
/* Run a batched statement whose parameters are bound. If must_change, a
 * statement that touched no row (unknown job id) gives -ENOENT. */
int store_batch_step(struct store *s, sqlite3_stmt *st, bool must_change);
/* Commit the open transaction (kept open when busy, cleared when it rolled
 * back). */
int store_commit(struct store *s);
/* Abandon the open transaction (its batched writes are lost). */
void store_rollback(struct store *s);
/* Copy a text column into a fixed-size field (truncating). */
int store_col_text(sqlite3_stmt *st, int col, char *dst, size_t size);

/* store_jobs.c */
/* Write job id's state (a batched write; -ENOENT: no such job). */
int store_job_state_write(struct store *s, uint64_t id, int state, double when);

#endif
