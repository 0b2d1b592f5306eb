/* SPDX-License-Identifier: MIT */
/* The store's nodes (GPUs, last seen, drains) and the speeds hared learned
 * per model and GPU type. */
#include "store_impl.h"

#include <errno.h>

int store_node(struct store *s, const char *name, const char *gpus, double last_seen)
{
	sqlite3_stmt *st;

	if (!s || !name)
		return -EINVAL;
	st = s->st[ST_NODE];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, gpus ? gpus : "", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, last_seen);
	return store_batch_step(s, st, false);
}

int store_node_drain(struct store *s, const char *name, bool drained, const char *reason)
{
	sqlite3_stmt *st;

	if (!s || !name)
		return -EINVAL;
	st = s->st[ST_NODE_DRAIN];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, drained);
	sqlite3_bind_text(st, 3, drained && reason ? reason : "", -1, SQLITE_STATIC);
	return store_batch_step(s, st, false);
}

int store_node_forget(struct store *s, const char *name)
{
	sqlite3_stmt *st;

	if (!s || !name)
		return -EINVAL;
	st = s->st[ST_NODE_FORGET];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return store_batch_step(s, st, false);
}

int store_speed(struct store *s, const char *model, const char *gpu_type, double ratio,
		double rounds)
{
	sqlite3_stmt *st;

	if (!s || !model || !gpu_type)
		return -EINVAL;
	st = s->st[ST_SPEED];
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, gpu_type, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, ratio);
	sqlite3_bind_double(st, 4, rounds);
	return store_batch_step(s, st, false);
}

int store_speeds_load(struct store *s, store_speed_cb cb, void *user)
{
	char model[256], type[256];
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !cb)
		return -EINVAL;
	st = s->st[ST_SPEEDS];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = store_col_text(st, 0, model, sizeof(model));
		if (!err)
			err = store_col_text(st, 1, type, sizeof(type));
		if (!err)
			err = cb(user, model, type, sqlite3_column_double(st, 2),
				 sqlite3_column_double(st, 3));
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

int store_nodes_load(struct store *s, store_node_cb cb, void *user)
{
	char name[256], reason[256], gpus[512];
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !cb)
		return -EINVAL;
	st = s->st[ST_NODES_LOAD];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = store_col_text(st, 0, name, sizeof(name));
		if (!err)
			err = store_col_text(st, 2, reason, sizeof(reason));
		if (!err && store_col_text(st, 4, gpus, sizeof(gpus)) < 0)
			gpus[0] = '\0';	/* too long to be ours: not shown */
		if (!err)
			err = cb(user, name, sqlite3_column_int(st, 1) != 0, reason,
				 sqlite3_column_double(st, 3), gpus);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

int store_node_known(struct store *s, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !name)
		return -EINVAL;
	st = s->st[ST_NODE_KNOWN];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_rc(s->db, rc);
}
