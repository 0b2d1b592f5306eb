/* SPDX-License-Identifier: MIT */
/* The store's events (a job's or a node's history, recent failures, lease
 * starts) and the GPU time of leases (usage). */
#include "store_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int store_event(struct store *s, double when, uint64_t job_id, const char *kind, const char *detail)
{
	sqlite3_stmt *st;

	if (!s || !kind)
		return -EINVAL;
	st = s->st[ST_EVENT];
	sqlite3_bind_double(st, 1, when);
	if (job_id)
		sqlite3_bind_int64(st, 2, (sqlite3_int64)job_id);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
	return store_batch_step(s, st, false);
}

int store_job_failures(struct store *s, uint64_t id, uint32_t *count)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !count)
		return -EINVAL;
	st = s->st[ST_JOB_FAILURES];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = (uint32_t)sqlite3_column_int64(st, 0);
	else
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

/* The rows of one of the event queries (bound by the caller), to cb. */
static int store_events_read(struct store *s, sqlite3_stmt *st, store_event_cb cb, void *user)
{
	int rc, err = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW && err == 0) {
		const unsigned char *kind = sqlite3_column_text(st, 1);
		const unsigned char *detail = sqlite3_column_text(st, 2);

		err = cb(user, sqlite3_column_double(st, 0), kind ? (const char *)kind : "",
			 detail ? (const char *)detail : "");
	}
	if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

int store_job_events(struct store *s, uint64_t id, uint32_t max, store_event_cb cb, void *user)
{
	sqlite3_stmt *st;

	if (!s || !cb)
		return -EINVAL;
	st = s->st[ST_JOB_EVENTS];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(st, 2, max);
	return store_events_read(s, st, cb, user);
}

int store_node_events(struct store *s, const char *node, uint32_t max, store_event_cb cb, void *user)
{
	sqlite3_stmt *st;

	if (!s || !cb || !node)
		return -EINVAL;
	st = s->st[ST_NODE_EVENTS];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, max);
	return store_events_read(s, st, cb, user);
}

int store_failures_load(struct store *s, double since, store_failure_cb cb, void *user)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !cb)
		return -EINVAL;
	st = s->st[ST_RECENT_EVENTS];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	/* rows are appended in time order: stop at the first one before since,
	 * so only the recent end of the table is read */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && err == 0) {
		const char *kind = (const char *)sqlite3_column_text(st, 2);
		const char *detail = (const char *)sqlite3_column_text(st, 3);
		const char *who = (const char *)sqlite3_column_text(st, 4);
		double t = sqlite3_column_double(st, 0);

		if (t < since)
			break;
		if (!kind || (strcmp(kind, "fail") != 0 && strcmp(kind, "blame") != 0 &&
			      strcmp(kind, "unexplained") != 0 && strcmp(kind, "node-undrain") != 0 &&
			      strcmp(kind, "node-forget") != 0 && strcmp(kind, "node-unhealthy") != 0 &&
			      strcmp(kind, "node-healthy") != 0))
			continue;
		err = cb(user, t, (uint64_t)sqlite3_column_int64(st, 1), kind, detail ? detail : "",
			 who ? who : "");
	}
	if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

int store_lease_start(struct store *s, uint64_t job_id, uint64_t lease_id, double *when)
{
	char prefix[40];
	sqlite3_stmt *st;
	int rc, err;

	if (!s || !when)
		return -EINVAL;
	st = s->st[ST_LEASE_START];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	snprintf(prefix, sizeof(prefix), "lease=%" PRIu64 " ", lease_id);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*when = sqlite3_column_double(st, 0);
		err = 0;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : store_rc(s->db, rc);
	}
	sqlite3_reset(st);
	return err;
}

int store_job_last_lease(struct store *s, uint64_t job_id, uint64_t *lease_id)
{
	sqlite3_stmt *st;
	int rc, err = -ENOENT;

	if (!s || !lease_id)
		return -EINVAL;
	st = s->st[ST_LAST_LEASE];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(st, 0);

		if (detail && sscanf(detail, "lease=%" SCNu64, lease_id) == 1 && *lease_id > 0)
			err = 0;
	} else if (rc != SQLITE_DONE) {
		err = store_rc(s->db, rc);
	}
	sqlite3_reset(st);
	return err;
}

/* The newest event of statement which (ST_JOB_LAST_FAIL, _CANCEL) of job id. */
static int store_job_last_event(struct store *s, int which, uint64_t id, char *detail, size_t len,
				double *when)
{
	sqlite3_stmt *st;
	int rc, err;

	if (!s || !detail || len == 0)
		return -EINVAL;
	st = s->st[which];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 1);

		snprintf(detail, len, "%s", t ? (const char *)t : "");
		if (when)
			*when = sqlite3_column_double(st, 0);
		err = 0;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : store_rc(s->db, rc);
	}
	sqlite3_reset(st);
	return err;
}

int store_job_last_failure(struct store *s, uint64_t id, char *detail, size_t len, double *when)
{
	return store_job_last_event(s, ST_JOB_LAST_FAIL, id, detail, len, when);
}

int store_job_cancel_reason(struct store *s, uint64_t id, char *detail, size_t len, double *when)
{
	return store_job_last_event(s, ST_JOB_LAST_CANCEL, id, detail, len, when);
}

int store_usage_start(struct store *s, uint64_t job_id, uint64_t lease_id, const char *gpu_type,
		      uint32_t gpus, double start)
{
	sqlite3_stmt *st;

	if (!s || !gpu_type || gpus == 0)
		return -EINVAL;
	st = s->st[ST_USAGE_START];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)lease_id);
	sqlite3_bind_text(st, 3, gpu_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, gpus);
	sqlite3_bind_double(st, 5, start);
	return store_batch_step(s, st, false);
}

int store_usage_until(struct store *s, uint64_t job_id, uint64_t lease_id, double until)
{
	sqlite3_stmt *st;

	if (!s)
		return -EINVAL;
	st = s->st[ST_USAGE_UNTIL];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)lease_id);
	sqlite3_bind_double(st, 3, until);
	return store_batch_step(s, st, false);
}

int store_usage_job(struct store *s, uint64_t job_id, uint64_t except_lease,
		    store_usage_type_cb cb, void *user)
{
	char type[64];
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !cb)
		return -EINVAL;
	st = s->st[ST_USAGE_JOB];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)except_lease);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = store_col_text(st, 0, type, sizeof(type));
		if (!err)
			err = cb(user, type, sqlite3_column_double(st, 1));
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

/* Bind the window and the user (NULL: everyone) of a usage sum. */
static void store_usage_bind(sqlite3_stmt *st, double since, double until, const char *user)
{
	sqlite3_bind_double(st, 1, since);
	sqlite3_bind_double(st, 2, until);
	if (user)
		sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
}

/* store_usage_sum's two queries. */
static int store_usage_rows(struct store *s, double since, double until, const char *user,
			    store_usage_user_cb user_cb, store_usage_user_type_cb type_cb, void *cb_user)
{
	char name[64], type[64];
	sqlite3_stmt *st = s->st[ST_USAGE_USERS];
	int rc, err = 0;

	store_usage_bind(st, since, until, user);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = store_col_text(st, 0, name, sizeof(name));
		if (!err)
			err = user_cb(cb_user, name, (uint32_t)sqlite3_column_int64(st, 1),
				      sqlite3_column_double(st, 2));
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	if (err)
		return err;
	st = s->st[ST_USAGE_TYPES];
	store_usage_bind(st, since, until, user);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = store_col_text(st, 0, name, sizeof(name));
		if (!err)
			err = store_col_text(st, 1, type, sizeof(type));
		if (!err)
			err = type_cb(cb_user, name, type, sqlite3_column_double(st, 2));
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

int store_usage_sum(struct store *s, double since, double until, const char *user,
		    store_usage_user_cb user_cb, store_usage_user_type_cb type_cb, void *cb_user)
{
	sqlite3_stmt *st;
	bool snap;
	int rc, err;

	if (!s || !user_cb || !type_cb || !(since < until))
		return -EINVAL;
	st = s->st[ST_USAGE_USERS];
	if (sqlite3_stmt_busy(st) || sqlite3_stmt_busy(s->st[ST_USAGE_TYPES]))
		return -EBUSY;
	/* both queries read one snapshot (a reader's commit may come between
	 * them); a connection inside its batch reads that already */
	snap = sqlite3_get_autocommit(s->db);
	if (snap && (rc = sqlite3_exec(s->db, "BEGIN DEFERRED", NULL, NULL, NULL)) != SQLITE_OK)
		return store_rc(s->db, rc);
	err = store_usage_rows(s, since, until, user, user_cb, type_cb, cb_user);
	if (snap)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return err;
}
