/* SPDX-License-Identifier: MIT */
/* Unit tests for daemon/store.c: job round trips, durability of inserts and
 * batches (seen through a second SQLite connection), reopen, and refusal of
 * newer, corrupt or unreachable databases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/hare-store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/hare.db", f->dir);
	if (store_open(f->path, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char file[160];
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };

	store_close(f->s);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", f->path, suffix[i]);
		unlink(file);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Close and reopen the fixture's store. */
static void reopen(struct fixture *f)
{
	char err[256] = "";

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static struct store_job sample_job(const char *name)
{
	struct store_job j;

	memset(&j, 0, sizeof(j));
	snprintf(j.user, sizeof(j.user), "alice");
	snprintf(j.name, sizeof(j.name), "%s", name);
	snprintf(j.model, sizeof(j.model), "resnet50");
	j.tasks = 8;
	j.min_gpus = 2;
	j.max_gpus = 8;
	j.rounds_total = 5000;
	j.weight = 1.0;
	j.state = STORE_QUEUED;
	j.submit_time = 1700000000.25;
	j.loss = NAN;
	return j;
}

/* A value read through a second connection, as another process would. */
static int64_t peek_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_job_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("bert-finetune"), got;

	j.rounds_done = 17;
	j.weight = 2.5;
	j.ntypes = 3;
	snprintf(j.types[0], sizeof(j.types[0]), "V100");
	snprintf(j.types[1], sizeof(j.types[1]), "T4");
	snprintf(j.types[2], sizeof(j.types[2]), "abcdefghijklmno");	/* 15 chars: the limit */
	memset(j.command, 'x', sizeof(j.command) - 1);
	memcpy(j.command, "python train.py --lr 'a b' \"c\"", 31);
	memset(j.proxy, 'p', sizeof(j.proxy) - 1);
	memcpy(j.proxy, "batch=4,width=8", 15);
	j.state = STORE_RUNNING;
	j.start_time = 1700000100.5;
	j.finish_time = 0;
	j.restarts = 3;
	j.loss = NAN;
	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_true(j.id > 0);

	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(store_job_get(f->s, j.id, &got), 0);
		assert_int_equal(got.id, j.id);
		assert_string_equal(got.user, "alice");
		assert_string_equal(got.name, "bert-finetune");
		assert_string_equal(got.model, "resnet50");
		assert_int_equal(got.tasks, 8);
		assert_int_equal(got.min_gpus, 2);
		assert_int_equal(got.max_gpus, 8);
		assert_int_equal(got.rounds_total, 5000);
		assert_int_equal(got.rounds_done, 17);
		assert_true(got.weight == 2.5);
		assert_int_equal(got.ntypes, 3);
		assert_string_equal(got.types[0], "V100");
		assert_string_equal(got.types[1], "T4");
		assert_string_equal(got.types[2], "abcdefghijklmno");
		assert_string_equal(got.command, j.command);
		assert_string_equal(got.proxy, j.proxy);
		assert_int_equal(got.state, STORE_RUNNING);
		assert_true(got.submit_time == 1700000000.25);
		assert_true(got.start_time == 1700000100.5);
		assert_true(got.finish_time == 0);
		assert_int_equal(got.restarts, 3);
		assert_true(isnan(got.loss));
		reopen(f);
	}
	assert_int_equal(store_job_get(f->s, j.id + 1000, &got), -ENOENT);
}

static void test_job_no_types_and_loss(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("any-gpu"), got;

	j.loss = 0.125;
	j.rounds_total = UINT64_C(1) << 40;
	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.ntypes, 0);
	assert_true(got.loss == 0.125);
	assert_true(got.rounds_total == (UINT64_C(1) << 40));
	assert_string_equal(got.command, "");
	assert_string_equal(got.proxy, "");
}

static void test_job_insert_rejects_bad_fields(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("bad");

	j.ntypes = STORE_MAX_TYPES + 1;
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j.ntypes = 1;
	snprintf(j.types[0], sizeof(j.types[0]), "V100,T4");
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j.types[0][0] = '\0';
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j.ntypes = 0;
	memset(j.name, 'n', sizeof(j.name));	/* no terminating NUL */
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j = sample_job("bad-state");
	j.state = (enum store_job_state)9;
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j = sample_job("nan-weight");
	j.weight = NAN;
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 0);
	/* The store is still usable afterwards. */
	j = sample_job("good");
	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 1);
}

static void test_ids_increase(void **state)
{
	struct fixture *f = *state;
	uint64_t last = 0;

	for (int i = 0; i < 20; i++) {
		struct store_job j = sample_job("seq");

		assert_int_equal(store_job_insert(f->s, &j), 0);
		assert_true(j.id > last);
		last = j.id;
		if (i == 9)
			reopen(f);
	}
}

/* An insert is durable before store_job_insert returns: another connection
 * sees it at once. */
static void test_insert_is_committed(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("durable");

	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 1);
}

static void test_batch_visible_after_flush(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("batched"), got;
	char sql[128];

	assert_int_equal(store_job_insert(f->s, &j), 0);
	snprintf(sql, sizeof(sql), "SELECT rounds_done FROM jobs WHERE id = %llu",
		 (unsigned long long)j.id);
	for (uint64_t r = 1; r <= 100; r++)
		assert_int_equal(store_job_progress(f->s, j.id, r, 2.0 / (double)r), 0);
	assert_int_equal(store_job_state(f->s, j.id, STORE_RUNNING, 50.0), 0);
	assert_int_equal(store_event(f->s, 50.0, j.id, "start", "lease=1"), 0);
	/* Not committed yet: another process still sees the old row... */
	assert_int_equal(peek_int(f->path, sql), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM events"), 0);
	/* ...while this connection sees its own writes. */
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.rounds_done, 100);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(peek_int(f->path, sql), 100);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM events"), 1);
	assert_int_equal(store_flush(f->s), 0);	/* nothing pending */
}

/* Group commit: staged jobs get ids at once, become visible to others only
 * after the flush, and all of them are durable after it. */
static void test_job_add_group_commit(void **state)
{
	struct fixture *f = *state;
	struct store_job a = sample_job("g1"), b = sample_job("g2"), c = sample_job("g3");

	assert_int_equal(store_job_add(f->s, &a), 0);
	assert_int_equal(store_job_add(f->s, &b), 0);
	assert_int_equal(store_job_add(f->s, &c), 0);
	assert_true(a.id > 0 && b.id > a.id && c.id > b.id);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 3);
	reopen(f);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs WHERE name = 'g3'"), 1);
}

/* The next insert commits earlier batched writes with it. */
static void test_insert_commits_batch(void **state)
{
	struct fixture *f = *state;
	struct store_job a = sample_job("a"), b = sample_job("b");

	assert_int_equal(store_job_insert(f->s, &a), 0);
	assert_int_equal(store_job_progress(f->s, a.id, 42, 1.5), 0);
	assert_int_equal(store_node(f->s, "node1", "V100:4,T4:4", 10.0), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM nodes"), 0);
	assert_int_equal(store_job_insert(f->s, &b), 0);
	assert_int_equal(peek_int(f->path, "SELECT max(rounds_done) FROM jobs"), 42);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM nodes"), 1);
}

/* Batched writes survive close and reopen (close commits them). */
static void test_close_keeps_batch(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("kept"), got;

	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(store_job_progress(f->s, j.id, 1234, 0.75), 0);
	assert_int_equal(store_job_restarted(f->s, j.id, 2), 0);
	assert_int_equal(store_job_state(f->s, j.id, STORE_RUNNING, 100.0), 0);
	assert_int_equal(store_job_state(f->s, j.id, STORE_QUEUED, 150.0), 0);
	assert_int_equal(store_job_state(f->s, j.id, STORE_RUNNING, 200.0), 0);
	assert_int_equal(store_job_state(f->s, j.id, STORE_DONE, 300.0), 0);
	assert_int_equal(store_node(f->s, "node1", "V100:4", 1.0), 0);
	assert_int_equal(store_node(f->s, "node1", "V100:4,K80:2", 2.0), 0);
	reopen(f);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.rounds_done, 1234);
	assert_true(got.loss == 0.75);
	assert_int_equal(got.restarts, 2);
	assert_int_equal(got.state, STORE_DONE);
	assert_true(got.start_time == 100.0);	/* the first start */
	assert_true(got.finish_time == 300.0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM nodes"), 1);
	assert_int_equal(peek_int(f->path, "SELECT last_seen FROM nodes WHERE gpus = 'V100:4,K80:2'"),
			 2);
}

static void test_batched_unknown_job(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_job_progress(f->s, 999, 1, 1.0), -ENOENT);
	assert_int_equal(store_job_state(f->s, 999, STORE_DONE, 1.0), -ENOENT);
	assert_int_equal(store_job_restarted(f->s, 999, 1), -ENOENT);
	assert_int_equal(store_event(f->s, 1.0, 999, "start", ""), -ENOENT);
	assert_int_equal(store_job_state(f->s, 1, (enum store_job_state)0, 1.0), -EINVAL);
	/* Cluster events carry no job. */
	assert_int_equal(store_event(f->s, 1.0, 0, "node-up", "node1"), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM events WHERE job_id IS NULL"), 1);
}

/* A batched write that never reached a transaction (the database was
 * locked by another process past the busy timeout) is lost: it is counted
 * by store_write_failures, while what came after it commits. */
static void test_batch_error_reported(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("locked");
	char sql[128];
	sqlite3 *other;
	int err = 0;

	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_write_failures(f->s, NULL), 0);
	assert_true(store_job_state(f->s, j.id, STORE_RUNNING, 5.0) < 0);	/* busy */
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(store_event(f->s, 6.0, j.id, "note", "after the lock"), 0);
	assert_int_equal(store_flush(f->s), 0);	/* what came after commits */
	assert_int_equal(store_write_failures(f->s, &err), 1);
	assert_true(err < 0);
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %llu", (unsigned long long)j.id);
	assert_int_equal(peek_int(f->path, sql), STORE_QUEUED);	/* the lost write */
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM events"), 1);
}

/* store_flush of a batch too large for the file to grow by (RLIMIT_FSIZE
 * at the WAL's size: a full disk): its commit fails. 2000 usage rows of
 * job_id make the batch large. The flush's result. */
static int flush_disk_full(struct fixture *f, uint64_t job_id)
{
	struct rlimit old, lim;
	char wal[300];
	struct stat sb;
	int rc;

	for (int i = 0; i < 2000; i++)
		assert_int_equal(store_usage_start(f->s, job_id, (uint64_t)i + 1, "V100", 1, i), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = store_flush(f->s);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	return rc;
}

/* A job's end written while another process holds the database's lock is
 * kept: reads show it, a load of active jobs skips the job, and the next
 * flush after the lock writes it (before, it was lost and the job stayed
 * RUNNING on disk while hared had dropped it). Writes after the first busy
 * one fail at once; a commit restores the wait. An end lost to a failed
 * commit is written again too. */
static void test_end_kept_until_committed(void **state)
{
	struct fixture *f = *state;
	struct store_job a = sample_job("a"), b = sample_job("b"), got;
	uint64_t failed;
	char sql[128];
	sqlite3 *other;

	assert_int_equal(store_job_insert(f->s, &a), 0);
	assert_int_equal(store_job_insert(f->s, &b), 0);
	assert_int_equal(store_job_state(f->s, a.id, STORE_RUNNING, 2.0), 0);
	assert_int_equal(store_job_state(f->s, b.id, STORE_RUNNING, 2.0), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_false(store_busy(f->s));
	assert_int_equal(store_job_state(f->s, a.id, STORE_CANCELLED, 7.0), -EBUSY);
	assert_true(store_busy(f->s));	/* the next writes fail at once */
	assert_int_equal(store_job_progress(f->s, b.id, 3, 0.5), -EBUSY);
	failed = store_write_failures(f->s, NULL);
	assert_int_not_equal(store_flush_since(f->s, failed), 0);	/* its retry failed too */
	assert_int_equal(store_job_get(f->s, a.id, &got), 0);
	assert_int_equal(got.state, STORE_CANCELLED);
	assert_true(fabs(got.finish_time - 7.0) < 1e-9);
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %llu", (unsigned long long)a.id);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(peek_int(f->path, sql), STORE_RUNNING);	/* not on disk yet */
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(peek_int(f->path, sql), STORE_CANCELLED);
	assert_false(store_busy(f->s));
	sqlite3_close(other);
	/* A commit that fails (the file may not grow: a full disk) loses the
	 * batch, the end with it; the next flush writes the end again. */
	assert_int_equal(store_job_state(f->s, b.id, STORE_DONE, 9.0), 0);
	assert_true(flush_disk_full(f, b.id) < 0);
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %llu", (unsigned long long)b.id);
	assert_int_equal(peek_int(f->path, sql), STORE_RUNNING);
	assert_int_equal(store_job_get(f->s, b.id, &got), 0);
	assert_int_equal(got.state, STORE_DONE);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(peek_int(f->path, sql), STORE_DONE);
	reopen(f);
	assert_int_equal(store_job_get(f->s, a.id, &got), 0);
	assert_int_equal(got.state, STORE_CANCELLED);
	assert_int_equal(store_job_get(f->s, b.id, &got), 0);
	assert_int_equal(got.state, STORE_DONE);
}

/* The edges of kept ends: an end of a job whose insert was undone with it
 * goes (its id is given again, and the new job is not ended); an end whose
 * job has no row does not hold up the others; a commit of submissions only
 * ends the busy mode; a transaction SQLite undid makes the flush fail, so
 * staged submissions are not acknowledged; store_close makes a last try. */
static void test_end_kept_edges(void **state)
{
	struct fixture *f = *state;
	struct store_job a = sample_job("a"), x = sample_job("x"), y = sample_job("y"), z, got;
	struct store_job w = sample_job("w");
	uint64_t bx;
	char sql[128];
	sqlite3 *other;

	assert_int_equal(store_job_insert(f->s, &a), 0);
	assert_int_equal(store_job_state(f->s, a.id, STORE_RUNNING, 2.0), 0);
	assert_int_equal(store_flush(f->s), 0);
	/* x staged and ended in one batch whose commit fails */
	assert_int_equal(store_job_add(f->s, &x), 0);
	bx = store_batch_id(f->s);
	assert_int_equal(store_job_state(f->s, x.id, STORE_DONE, 3.0), 0);
	assert_true(flush_disk_full(f, a.id) < 0);
	assert_false(store_batch_committed(f->s, bx));	/* x is not to be acknowledged */
	assert_int_equal(store_job_get(f->s, x.id, &got), -ENOENT);
	assert_int_equal(store_job_insert(f->s, &y), 0);
	assert_int_equal(y.id, x.id);	/* the id comes back */
	assert_int_equal(store_job_get(f->s, y.id, &got), 0);
	assert_int_equal(got.state, STORE_QUEUED);	/* not x's end */
	assert_int_equal(store_flush(f->s), 0);
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %llu", (unsigned long long)y.id);
	assert_int_equal(peek_int(f->path, sql), STORE_QUEUED);
	assert_int_equal(store_job_add(f->s, &w), 0);
	bx = store_batch_id(f->s);
	assert_int_equal(store_flush(f->s), 0);
	assert_true(store_batch_committed(f->s, bx));
	/* a's end lost to a lock, then the lock goes: an insert-only commit
	 * ends the busy mode, and the next flush writes a's end */
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_job_state(f->s, a.id, STORE_FAILED, 4.0), -EBUSY);
	assert_true(store_busy(f->s));
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	z = sample_job("z");
	assert_int_equal(store_job_insert(f->s, &z), 0);
	assert_false(store_busy(f->s));
	assert_int_equal(store_flush(f->s), 0);
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %llu", (unsigned long long)a.id);
	assert_int_equal(peek_int(f->path, sql), STORE_FAILED);
	/* an end kept at close is written by store_close */
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_job_state(f->s, z.id, STORE_CANCELLED, 5.0), -EBUSY);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	reopen(f);
	assert_int_equal(store_job_get(f->s, z.id, &got), 0);
	assert_int_equal(got.state, STORE_CANCELLED);
}

struct load_seen {
	int n;
	uint64_t ids[16];
	struct store *s;
	int stop_after;
};

static int on_job(void *user, const struct store_job *job)
{
	struct load_seen *seen = user;

	if (seen->n < 16)
		seen->ids[seen->n] = job->id;
	seen->n++;
	/* A restart turns RUNNING jobs back to QUEUED while loading. */
	if (seen->s && job->state == STORE_RUNNING)
		assert_int_equal(store_job_state(seen->s, job->id, STORE_QUEUED, 5.0), 0);
	return seen->stop_after && seen->n == seen->stop_after ? 7 : 0;
}

static void test_jobs_load(void **state)
{
	struct fixture *f = *state;
	static const enum store_job_state states[] = { STORE_QUEUED, STORE_DONE, STORE_RUNNING,
		STORE_CANCELLED, STORE_FAILED, STORE_QUEUED };
	uint64_t ids[6];
	struct load_seen seen = { 0 };

	for (int i = 0; i < 6; i++) {
		struct store_job j = sample_job("load");

		assert_int_equal(store_job_insert(f->s, &j), 0);
		ids[i] = j.id;
		if (states[i] != STORE_QUEUED)
			assert_int_equal(store_job_state(f->s, j.id, states[i], 1.0), 0);
	}
	assert_int_equal(store_flush(f->s), 0);
	reopen(f);
	assert_int_equal(store_jobs_load(f->s, true, on_job, &seen), 0);
	assert_int_equal(seen.n, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(seen.ids[i], ids[i]);

	/* the newest 3 (ids[3..5]) in id order; older ended ones: DONE (1) */
	{
		uint64_t older = 99;

		memset(&seen, 0, sizeof(seen));
		assert_int_equal(store_jobs_load_newest(f->s, 3, on_job, &seen, &older), 0);
		assert_int_equal(seen.n, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(seen.ids[i], ids[3 + i]);
		assert_int_equal(older, 1);
		memset(&seen, 0, sizeof(seen));
		assert_int_equal(store_jobs_load_newest(f->s, 100, on_job, &seen, &older), 0);
		assert_int_equal(seen.n, 6);
		assert_int_equal(older, 0);
	}

	memset(&seen, 0, sizeof(seen));
	seen.s = f->s;
	assert_int_equal(store_jobs_load(f->s, false, on_job, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.ids[0], ids[0]);
	assert_int_equal(seen.ids[1], ids[2]);
	assert_int_equal(seen.ids[2], ids[5]);

	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 2;
	assert_int_equal(store_jobs_load(f->s, false, on_job, &seen), 7);
	assert_int_equal(seen.n, 2);
	reopen(f);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs WHERE state = 2"), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs WHERE state = 1"), 3);
}

struct speed_seen {
	int n;
	char model[4][32];
	char type[4][16];
	double ratio[4], rounds[4];
};

static int on_speed(void *user, const char *model, const char *gpu_type, double ratio,
		    double rounds)
{
	struct speed_seen *seen = user;

	if (seen->n < 4) {
		snprintf(seen->model[seen->n], sizeof(seen->model[0]), "%s", model);
		snprintf(seen->type[seen->n], sizeof(seen->type[0]), "%s", gpu_type);
		seen->ratio[seen->n] = ratio;
		seen->rounds[seen->n] = rounds;
	}
	seen->n++;
	return 0;
}

static void test_speeds_round_trip(void **state)
{
	struct fixture *f = *state;
	struct speed_seen seen = { 0 };

	assert_int_equal(store_speed(f->s, "resnet50", "V100", 1.5, 10), 0);
	assert_int_equal(store_speed(f->s, "bert", "T4", 0.9, 200), 0);
	assert_int_equal(store_speed(f->s, "resnet50", "V100", 1.25, 40), 0);	/* update */
	assert_int_equal(store_speed(f->s, "resnet50", "K80", 1.0, 0.5), 0);
	reopen(f);
	assert_int_equal(store_speeds_load(f->s, on_speed, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.model[0], "bert");
	assert_string_equal(seen.type[0], "T4");
	assert_true(seen.ratio[0] == 0.9 && seen.rounds[0] == 200);
	assert_string_equal(seen.model[1], "resnet50");
	assert_string_equal(seen.type[1], "K80");
	assert_true(seen.ratio[1] == 1.0 && seen.rounds[1] == 0.5);
	assert_string_equal(seen.type[2], "V100");
	assert_true(seen.ratio[2] == 1.25 && seen.rounds[2] == 40);
	assert_int_equal(store_speed(f->s, "resnet50", "V100", NAN, 1), -EINVAL);
}

static void test_pragmas_and_schema(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
				  " AND name IN ('jobs', 'events', 'nodes', 'speeds', 'meta', 'usage')"), 6);
	assert_int_equal(peek_int(f->path, "SELECT value FROM meta WHERE key = 'schema'"), 6);
	/* WAL mode is stored in the file header. */
	assert_int_equal(peek_int(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}

struct drains {
	uint32_t n;
	char names[4][32], reasons[4][64], gpus[4][32];
	double seen[4];
};

static int drain_seen(void *user, const char *name, bool drained, const char *reason,
		      double last_seen, const char *gpus)
{
	struct drains *d = user;

	assert_true(d->n < 4);
	snprintf(d->names[d->n], sizeof(d->names[0]), "%s%s", drained ? "" : "up:", name);
	snprintf(d->reasons[d->n], sizeof(d->reasons[0]), "%s", reason);
	snprintf(d->gpus[d->n], sizeof(d->gpus[0]), "%s", gpus);
	d->seen[d->n++] = last_seen;
	return 0;
}

/* Drains survive a reopen, store_node leaves them alone, an undrain clears
 * the reason, and a node never seen may be drained; every node is read
 * back, drained ones first, then the most lately seen ("up:": not
 * drained). */
static void test_node_drain(void **state)
{
	struct fixture *f = *state;
	struct drains d = { 0 };

	assert_int_equal(store_node(f->s, "n1", "V100:2", 10), 0);
	assert_int_equal(store_node(f->s, "n2", "T4:4", 10), 0);
	assert_int_equal(store_node_drain(f->s, "n2", true, "fans"), 0);
	assert_int_equal(store_node_drain(f->s, "n3", true, ""), 0);
	assert_int_equal(store_node(f->s, "n2", "T4:4", 20), 0);
	assert_int_equal(store_flush(f->s), 0);
	reopen(f);
	assert_int_equal(store_nodes_load(f->s, drain_seen, &d), 0);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.names[0], "n2");
	assert_string_equal(d.reasons[0], "fans");
	assert_true(d.seen[0] == 20);
	assert_string_equal(d.names[1], "n3");
	assert_true(d.seen[1] == 0);
	assert_string_equal(d.names[2], "up:n1");
	assert_true(d.seen[2] == 10);
	assert_string_equal(d.gpus[0], "T4:4");
	assert_string_equal(d.gpus[1], "");	/* drained, never registered */
	assert_string_equal(d.gpus[2], "V100:2");
	assert_int_equal(peek_int(f->path, "SELECT last_seen FROM nodes WHERE name = 'n2'"), 20);
	assert_int_equal(store_node_drain(f->s, "n2", false, "ignored"), 0);
	assert_int_equal(store_flush(f->s), 0);
	d.n = 0;
	assert_int_equal(store_nodes_load(f->s, drain_seen, &d), 0);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.names[0], "n3");
	assert_string_equal(d.names[1], "up:n2");	/* seen at 20 */
	assert_string_equal(d.names[2], "up:n1");
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM nodes WHERE name = 'n2'"
				  " AND drain_reason = ''"), 1);
}

/* A version 1 database (before job proxy sizes) is upgraded in place: its
 * jobs keep every field and get no proxy sizes; new jobs store theirs. */
static void test_version_1_upgraded(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("old"), got;
	char err[256] = "";

	j.rounds_done = 42;
	snprintf(j.command, sizeof(j.command), "python old.py");
	assert_int_equal(store_job_insert(f->s, &j), 0);
	store_close(f->s);
	f->s = NULL;
	/* what hared of schema 1 left behind */
	exec_sql(f->path, "DROP TABLE usage; ALTER TABLE jobs DROP COLUMN proxy; ALTER TABLE jobs DROP COLUMN held;"
			  "ALTER TABLE jobs DROP COLUMN after;"
			  "ALTER TABLE nodes DROP COLUMN drained; ALTER TABLE nodes DROP COLUMN drain_reason;"
			  "INSERT INTO nodes (name, gpus, last_seen) VALUES ('n1', 'V100:2', 5);"
			  "UPDATE meta SET value = '1' WHERE key = 'schema'; PRAGMA user_version = 1;");
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM pragma_table_info('jobs')"
				  " WHERE name = 'proxy'"), 0);
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(peek_int(f->path, "SELECT value FROM meta WHERE key = 'schema'"), 6);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.held, STORE_HELD_NONE);
	assert_string_equal(got.name, "old");
	assert_string_equal(got.command, "python old.py");
	assert_int_equal(got.rounds_done, 42);
	assert_string_equal(got.proxy, "");
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM nodes WHERE name = 'n1' AND drained = 0"
				  " AND drain_reason = ''"), 1);
	j = sample_job("new");
	snprintf(j.proxy, sizeof(j.proxy), "batch=2");
	assert_int_equal(store_job_insert(f->s, &j), 0);
	reopen(f);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_string_equal(got.proxy, "batch=2");
}

/* A version 2 database (before harectl hold) gets jobs.held, none held;
 * then settings (name, weight, GPU range, hold) survive a reopen and
 * write nothing else. */
static void test_version_2_upgraded_and_settings(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("two"), got;
	char err[256] = "";

	j.rounds_done = 7;
	assert_int_equal(store_job_insert(f->s, &j), 0);
	store_close(f->s);
	f->s = NULL;
	exec_sql(f->path, "DROP TABLE usage; ALTER TABLE jobs DROP COLUMN held; ALTER TABLE jobs DROP COLUMN after;"
			  "UPDATE meta SET value = '2' WHERE key = 'schema'; PRAGMA user_version = 2;");
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.held, STORE_HELD_NONE);
	assert_int_equal(got.rounds_done, 7);
	snprintf(got.name, sizeof(got.name), "renamed");
	got.weight = 4.5;
	got.min_gpus = 2;
	got.max_gpus = 3;
	got.held = STORE_HELD_ADMIN;
	got.rounds_done = 999;	/* not a setting: left as stored */
	assert_int_equal(store_job_settings(f->s, &got), 0);
	got.id = 12345;
	assert_int_equal(store_job_settings(f->s, &got), -ENOENT);
	got.id = j.id;
	got.held = (enum store_held)7;
	assert_int_equal(store_job_settings(f->s, &got), -EINVAL);
	assert_int_equal(store_flush(f->s), 0);
	reopen(f);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_string_equal(got.name, "renamed");
	assert_true(got.weight == 4.5);
	assert_int_equal(got.min_gpus, 2);
	assert_int_equal(got.max_gpus, 3);
	assert_int_equal(got.held, STORE_HELD_ADMIN);
	assert_int_equal(got.rounds_done, 7);
	/* a held value no hared writes is refused on load */
	store_close(f->s);
	f->s = NULL;
	exec_sql(f->path, "PRAGMA ignore_check_constraints = 1; UPDATE jobs SET held = 9;");
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(store_job_get(f->s, j.id, &got), -EIO);
}

/* A lease's GPU time in the store: gpus of type from start to end. */
static void lease_row(struct store *st, uint64_t job, uint64_t lease, const char *type,
		      uint32_t gpus, double start, double end)
{
	assert_int_equal(store_usage_start(st, job, lease, type, gpus, start), 0);
	assert_int_equal(store_usage_until(st, job, lease, end), 0);
}

struct usage_seen {
	uint32_t nusers, ntypes;
	char user[4][16], tuser[8][16], type[8][16];
	uint32_t jobs[4];
	double user_s[4], type_s[8];
};

static int usage_user(void *u, const char *user, uint32_t jobs, double gpu_s)
{
	struct usage_seen *s = u;

	assert_true(s->nusers < 4);
	snprintf(s->user[s->nusers], sizeof(s->user[0]), "%s", user);
	s->jobs[s->nusers] = jobs;
	s->user_s[s->nusers++] = gpu_s;
	return 0;
}

static int usage_type(void *u, const char *user, const char *type, double gpu_s)
{
	struct usage_seen *s = u;

	assert_true(s->ntypes < 8);
	snprintf(s->tuser[s->ntypes], sizeof(s->tuser[0]), "%s", user);
	snprintf(s->type[s->ntypes], sizeof(s->type[0]), "%s", type);
	s->type_s[s->ntypes++] = gpu_s;
	return 0;
}

static int usage_job_type(void *u, const char *type, double gpu_s)
{
	return usage_type(u, "", type, gpu_s);
}

static struct usage_seen usage_sum(struct store *st, double since, double until, const char *user)
{
	struct usage_seen s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(store_usage_sum(st, since, until, user, usage_user, usage_type, &s), 0);
	return s;
}

/* Three leases of two users: each lease's GPUs by type, from its start to
 * its last end written (which only grows; an adopted lease's second start
 * changes nothing); sums over a window take the part of each lease inside
 * it, by user and by user and type; one job's sum leaves a lease out. */
static void test_usage_windows(void **state)
{
	struct fixture *f = *state;
	struct store_job a1 = sample_job("a1"), a2 = sample_job("a2"), b1 = sample_job("b1");
	struct usage_seen s;

	snprintf(b1.user, sizeof(b1.user), "bob");
	assert_int_equal(store_job_insert(f->s, &a1), 0);
	assert_int_equal(store_job_insert(f->s, &a2), 0);
	assert_int_equal(store_job_insert(f->s, &b1), 0);
	assert_int_equal(store_usage_start(f->s, a1.id, 1, "V100", 2, 100), 0);
	assert_int_equal(store_usage_start(f->s, a1.id, 1, "T4", 1, 100), 0);
	assert_int_equal(store_usage_start(f->s, a1.id, 1, "V100", 5, 150), 0);	/* adopted: kept */
	assert_int_equal(store_usage_until(f->s, a1.id, 1, 200), 0);
	assert_int_equal(store_usage_until(f->s, a1.id, 1, 150), 0);		/* never shrinks */
	lease_row(f->s, a2.id, 2, "V100", 1, 150, 400);
	lease_row(f->s, b1.id, 3, "T4", 4, 300, 350);
	assert_int_equal(store_usage_start(f->s, b1.id, 4, "T4", 0, 300), -EINVAL);
	/* before the commit (the same connection reads its own writes) */
	s = usage_sum(f->s, 0, 1000, NULL);
	assert_int_equal(s.nusers, 2);
	assert_int_equal(store_flush(f->s), 0);
	reopen(f);
	s = usage_sum(f->s, 0, 1000, NULL);
	assert_int_equal(s.nusers, 2);
	assert_string_equal(s.user[0], "alice");
	assert_int_equal(s.jobs[0], 2);
	assert_true(s.user_s[0] == 550);
	assert_string_equal(s.user[1], "bob");
	assert_int_equal(s.jobs[1], 1);
	assert_true(s.user_s[1] == 200);
	assert_int_equal(s.ntypes, 3);
	assert_string_equal(s.tuser[0], "alice");
	assert_string_equal(s.type[0], "T4");
	assert_true(s.type_s[0] == 100);
	assert_string_equal(s.type[1], "V100");
	assert_true(s.type_s[1] == 450);
	assert_string_equal(s.tuser[2], "bob");
	assert_true(s.type_s[2] == 200);
	/* the parts inside [180, 320) */
	s = usage_sum(f->s, 180, 320, NULL);
	assert_int_equal(s.nusers, 2);
	assert_true(s.user_s[0] == 40 + 20 + 140);
	assert_true(s.user_s[1] == 80);
	assert_true(s.type_s[0] == 20 && s.type_s[1] == 180);
	/* one user; a window where nothing ran; a lease that ended at since */
	s = usage_sum(f->s, 0, 1000, "bob");
	assert_int_equal(s.nusers, 1);
	assert_string_equal(s.user[0], "bob");
	assert_int_equal(s.ntypes, 1);
	s = usage_sum(f->s, 500, 600, NULL);
	assert_int_equal(s.nusers + s.ntypes, 0);
	s = usage_sum(f->s, 400, 600, NULL);
	assert_int_equal(s.nusers, 0);
	assert_int_equal(store_usage_sum(f->s, 10, 10, NULL, usage_user, usage_type, &s), -EINVAL);
	/* one job, all its leases or all but one */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_usage_job(f->s, a1.id, 0, usage_job_type, &s), 0);
	assert_int_equal(s.ntypes, 2);
	assert_string_equal(s.type[0], "T4");
	assert_true(s.type_s[0] == 100 && s.type_s[1] == 200);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_usage_job(f->s, a1.id, 1, usage_job_type, &s), 0);
	assert_int_equal(s.ntypes, 0);
}

/* A reader (another connection, read-only) sees what was committed, not
 * the batch; it cannot write; a database of another schema version or no
 * path is refused. */
static void test_reader(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("r");
	struct store *r = NULL;
	struct usage_seen s;
	char err[256] = "";

	assert_int_equal(store_job_insert(f->s, &j), 0);
	lease_row(f->s, j.id, 1, "V100", 1, 10, 20);
	assert_string_equal(store_path(f->s), f->path);
	assert_int_equal(store_open_reader(store_path(f->s), &r, err, sizeof(err)), 0);
	s = usage_sum(r, 0, 100, NULL);
	assert_int_equal(s.nusers, 0);		/* batched, not committed */
	assert_int_equal(store_flush(f->s), 0);
	s = usage_sum(r, 0, 100, NULL);
	assert_int_equal(s.nusers, 1);
	assert_true(s.user_s[0] == 10);
	assert_int_equal(store_usage_until(r, j.id, 1, 50), -EROFS);
	store_close(r);
	assert_int_equal(store_open_reader("", &r, err, sizeof(err)), -EINVAL);
	exec_sql(f->path, "PRAGMA user_version = 4");
	assert_true(store_open_reader(f->path, &r, err, sizeof(err)) < 0);
	assert_null(r);
	assert_non_null(strstr(err, "schema changed"));
	exec_sql(f->path, "PRAGMA user_version = 6");
}

/* While a reader sums, the writer commits a new user's lease between the
 * users query and the types query: one snapshot, so neither sees it. */
struct usage_race {
	struct store *w;
	uint64_t job;
	bool done;
	struct usage_seen seen;
};

static int race_user(void *u, const char *user, uint32_t jobs, double gpu_s)
{
	struct usage_race *r = u;

	if (!r->done) {
		r->done = true;
		assert_int_equal(store_usage_start(r->w, r->job, 99, "K80", 1, 10), 0);
		assert_int_equal(store_usage_until(r->w, r->job, 99, 30), 0);
		assert_int_equal(store_flush(r->w), 0);
	}
	return usage_user(&r->seen, user, jobs, gpu_s);
}

static int race_type(void *u, const char *user, const char *type, double gpu_s)
{
	return usage_type(&((struct usage_race *)u)->seen, user, type, gpu_s);
}

static int stop_now(void *user)
{
	(*(int *)user)++;
	return 1;
}

static void test_usage_snapshot(void **state)
{
	struct fixture *f = *state;
	struct store_job b = sample_job("b"), a = sample_job("a"), b2 = sample_job("b2");
	struct usage_race r = { .w = f->s };
	struct store *rd = NULL;
	char err[256];
	int asked = 0;

	snprintf(b.user, sizeof(b.user), "bob");
	snprintf(b2.user, sizeof(b2.user), "bob");
	snprintf(a.user, sizeof(a.user), "aaron");	/* before bob by name */
	assert_int_equal(store_job_insert(f->s, &b), 0);
	assert_int_equal(store_job_insert(f->s, &b2), 0);
	assert_int_equal(store_job_insert(f->s, &a), 0);
	r.job = a.id;
	lease_row(f->s, b.id, 1, "V100", 2, 10, 20);
	/* no length: left out of sums and of the job's time */
	assert_int_equal(store_usage_start(f->s, b.id, 2, "T4", 3, 15), 0);
	assert_int_equal(store_usage_start(f->s, b2.id, 3, "T4", 1, 12), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(store_open_reader(f->path, &rd, err, sizeof(err)), 0);
	assert_int_equal(store_usage_sum(rd, 0, 100, NULL, race_user, race_type, &r), 0);
	assert_true(r.done);
	assert_int_equal(r.seen.nusers, 1);
	assert_string_equal(r.seen.user[0], "bob");
	assert_int_equal(r.seen.jobs[0], 1);
	assert_int_equal(r.seen.ntypes, 1);
	assert_string_equal(r.seen.type[0], "V100");
	memset(&r.seen, 0, sizeof(r.seen));
	assert_int_equal(store_usage_sum(rd, 0, 100, NULL, race_user, race_type, &r), 0);
	assert_int_equal(r.seen.nusers, 2);	/* committed before this one */
	memset(&r.seen, 0, sizeof(r.seen));
	assert_int_equal(store_usage_job(rd, b.id, 0, usage_job_type, &r.seen), 0);
	assert_int_equal(r.seen.ntypes, 1);
	/* a reader told to stop gives up */
	for (int i = 0; i < 3000; i++)
		assert_int_equal(store_usage_start(f->s, b.id, 100 + (uint64_t)i, "V100", 1, i), 0);
	assert_int_equal(store_flush(f->s), 0);
	store_interrupt_set(rd, stop_now, &asked);
	memset(&r.seen, 0, sizeof(r.seen));
	assert_int_equal(store_usage_sum(rd, 0, 1e6, NULL, race_user, race_type, &r), -ECANCELED);
	assert_true(asked > 0);
	store_interrupt_set(rd, NULL, NULL);
	memset(&r.seen, 0, sizeof(r.seen));
	assert_int_equal(store_usage_sum(rd, 0, 1e6, NULL, race_user, race_type, &r), 0);
	store_close(rd);
}

/* A commit that fails (here the file size limit stops the WAL growing:
 * SQLite rolls the batch back itself) loses the batch: counted, so that
 * store_flush_since of a caller who wrote into it says so. */
static void test_flush_failure_counted(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("big");
	struct rlimit old, lim;
	char wal[300];
	struct stat sb;
	uint64_t before;
	int rc, last = 0;

	assert_int_equal(store_job_insert(f->s, &j), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	before = store_write_failures(f->s, NULL);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(store_usage_start(f->s, j.id, (uint64_t)i + 1, "V100", 1, i), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = store_flush_since(f->s, before);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_true(rc < 0);
	assert_int_equal(store_write_failures(f->s, &last), before + 1);
	assert_int_equal(last, rc);
	/* the batch is gone, and the store goes on */
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM usage"), 0);
	assert_int_equal(store_usage_start(f->s, j.id, 1, "V100", 1, 0), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM usage"), 1);
}

/* A version 3 database (before GPU-time accounting) gets an empty usage
 * table; its jobs stay. */
static void test_version_3_upgraded(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("three");
	struct usage_seen s;
	char err[256] = "";

	assert_int_equal(store_job_insert(f->s, &j), 0);
	store_close(f->s);
	f->s = NULL;
	exec_sql(f->path, "DROP TABLE usage; ALTER TABLE jobs DROP COLUMN after;"
			  "UPDATE meta SET value = '3' WHERE key = 'schema'; PRAGMA user_version = 3;");
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(peek_int(f->path, "SELECT value FROM meta WHERE key = 'schema'"), 6);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM usage"), 0);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 1);
	lease_row(f->s, j.id, 9, "K80", 3, 10, 20);
	s = usage_sum(f->s, 0, 100, NULL);
	assert_int_equal(s.nusers, 1);
	assert_true(s.user_s[0] == 30);
}

/* A version 4 database (before job dependencies): its jobs run after
 * none, and new jobs keep theirs. */
static void test_version_4_upgraded(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("four"), k = sample_job("after"), got;
	char err[256] = "";

	assert_int_equal(store_job_insert(f->s, &j), 0);
	store_close(f->s);
	f->s = NULL;
	exec_sql(f->path, "ALTER TABLE jobs DROP COLUMN after;"
			  "UPDATE meta SET value = '4' WHERE key = 'schema'; PRAGMA user_version = 4;");
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(peek_int(f->path, "SELECT value FROM meta WHERE key = 'schema'"), 6);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.nafter, 0);
	k.nafter = 1;
	k.after[0] = j.id;
	assert_int_equal(store_job_insert(f->s, &k), 0);
	assert_int_equal(store_job_get(f->s, k.id, &got), 0);
	assert_int_equal(got.nafter, 1);
	assert_int_equal(got.after[0], j.id);
}

/* A version 5 database (dependencies without kinds): its lists read back
 * as jobs that must be DONE. */
static void test_version_5_upgraded(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("five"), k = sample_job("after"), got;
	char err[256] = "";

	assert_int_equal(store_job_insert(f->s, &j), 0);
	k.nafter = 1;
	k.after[0] = j.id;
	assert_int_equal(store_job_insert(f->s, &k), 0);
	store_close(f->s);
	f->s = NULL;
	exec_sql(f->path, "UPDATE meta SET value = '5' WHERE key = 'schema'; PRAGMA user_version = 5;");
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(store_job_get(f->s, k.id, &got), 0);
	assert_int_equal(got.nafter, 1);
	assert_int_equal(got.after[0], j.id);
	assert_int_equal(got.after_kind[0], STORE_AFTER_OK);
}

/* The jobs a job runs after come back in order, the largest id included;
 * a list store_job_insert cannot have written is refused (-EIO), and so
 * is a job with an id 0 or too many of them (-EINVAL, nothing written). */
static void test_job_after_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("after"), got;
	static const char *const bad[] = { "1,", ",1", "0", "1,,2", "x", "1;2", "01",
					   "9223372036854775808", "1 2", "any:", "notok:0", "ok:1",
					   "any:any:1", "any:notok:1", "ANY:1", "any: 1", "1,any" };

	j.nafter = STORE_MAX_AFTER;
	for (uint32_t i = 0; i < STORE_MAX_AFTER; i++) {
		j.after[i] = 100 - i;
		j.after_kind[i] = i < 6 ? STORE_AFTER_OK : i < 11 ? STORE_AFTER_ANY : STORE_AFTER_NOTOK;
	}
	/* the longest item of each kind */
	j.after[0] = INT64_MAX;
	j.after[6] = INT64_MAX - 1;
	j.after[11] = INT64_MAX - 2;
	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.nafter, STORE_MAX_AFTER);
	assert_memory_equal(got.after, j.after, sizeof(j.after));
	assert_memory_equal(got.after_kind, j.after_kind, sizeof(j.after_kind));
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs WHERE after LIKE "
				  "'9223372036854775807,99,%,any:9223372036854775806,any:93,%"
				  "notok:9223372036854775805,notok:88,%'"), 1);
	/* a list by hand, kinds mixed: read back by kind, in order within one */
	exec_sql(f->path, "UPDATE jobs SET after = 'notok:5,3,any:4,2,notok:1'");
	assert_int_equal(store_job_get(f->s, j.id, &got), 0);
	assert_int_equal(got.nafter, 5);
	{
		static const uint64_t ids[] = { 3, 2, 4, 5, 1 };
		static const uint8_t kinds[] = { STORE_AFTER_OK, STORE_AFTER_OK, STORE_AFTER_ANY,
						 STORE_AFTER_NOTOK, STORE_AFTER_NOTOK };

		assert_memory_equal(got.after, ids, sizeof(ids));
		assert_memory_equal(got.after_kind, kinds, sizeof(kinds));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char sql[160];

		snprintf(sql, sizeof(sql), "UPDATE jobs SET after = '%s' WHERE id = %llu", bad[i],
			 (unsigned long long)j.id);
		exec_sql(f->path, sql);
		assert_int_equal(store_job_get(f->s, j.id, &got), -EIO);
	}
	j.after[0] = 0;
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j.after[0] = 7;
	j.after_kind[0] = STORE_AFTER_NOTOK + 1;
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	j.after_kind[0] = STORE_AFTER_OK;
	j.nafter = STORE_MAX_AFTER + 1;
	assert_int_equal(store_job_insert(f->s, &j), -EINVAL);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM jobs"), 1);
}

struct events_seen {
	uint32_t n;
	double time[8];
	char kind[8][16], detail[8][32];
};

static int event_seen(void *user, double time, const char *kind, const char *detail)
{
	struct events_seen *e = user;

	assert_true(e->n < 8);
	e->time[e->n] = time;
	snprintf(e->kind[e->n], sizeof(e->kind[0]), "%s", kind);
	snprintf(e->detail[e->n++], sizeof(e->detail[0]), "%s", detail);
	return 0;
}

/* A job's newest events, oldest first, its own only, uncommitted ones too. */
static void test_job_events(void **state)
{
	struct fixture *f = *state;
	struct store_job j = sample_job("a"), k = sample_job("b");
	struct events_seen e = { 0 };

	assert_int_equal(store_job_insert(f->s, &j), 0);
	assert_int_equal(store_job_insert(f->s, &k), 0);
	assert_int_equal(store_event(f->s, 10, j.id, "submit", "one"), 0);
	assert_int_equal(store_event(f->s, 11, k.id, "submit", "other job"), 0);
	assert_int_equal(store_event(f->s, 12, j.id, "start", "two"), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(store_event(f->s, 13, j.id, "done", "three"), 0);	/* batched */
	assert_int_equal(store_job_events(f->s, j.id, 10, event_seen, &e), 0);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.kind[0], "submit");
	assert_string_equal(e.detail[2], "three");
	assert_true(e.time[1] == 12);
	e.n = 0;
	assert_int_equal(store_job_events(f->s, j.id, 2, event_seen, &e), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.kind[0], "start");
	assert_string_equal(e.kind[1], "done");
	e.n = 0;
	assert_int_equal(store_job_events(f->s, 999, 5, event_seen, &e), 0);
	assert_int_equal(e.n, 0);
	/* a node's events: its name, or its name and why; not another node
	 * whose name it starts, nor a job's event that names it */
	assert_int_equal(store_event(f->s, 20, 0, "node-up", "n1"), 0);
	assert_int_equal(store_event(f->s, 21, 0, "node-up", "n10"), 0);
	assert_int_equal(store_event(f->s, 22, 0, "node-drain", "n1: new DIMMs"), 0);
	assert_int_equal(store_event(f->s, 23, j.id, "fail", "n1: rank 0 on node n1 failed"), 0);
	assert_int_equal(store_event(f->s, 24, 0, "node-unhealthy", "n10: disk full"), 0);
	assert_int_equal(store_event(f->s, 25, 0, "node-undrain", "n1"), 0);
	e.n = 0;
	assert_int_equal(store_node_events(f->s, "n1", 10, event_seen, &e), 0);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.kind[0], "node-up");
	assert_string_equal(e.detail[1], "n1: new DIMMs");
	assert_string_equal(e.kind[2], "node-undrain");
	e.n = 0;
	assert_int_equal(store_node_events(f->s, "n1", 2, event_seen, &e), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.kind[0], "node-drain");
	e.n = 0;
	assert_int_equal(store_node_events(f->s, "n10", 10, event_seen, &e), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.detail[1], "n10: disk full");
	e.n = 0;
	assert_int_equal(store_node_events(f->s, "n", 10, event_seen, &e), 0);
	assert_int_equal(e.n, 0);
}

static void test_newer_version_refused(void **state)
{
	struct fixture *f = *state;
	struct store *s2 = NULL;
	char err[256] = "";

	store_close(f->s);
	f->s = NULL;
	exec_sql(f->path, "PRAGMA user_version = 99");
	assert_int_equal(store_open(f->path, &s2, err, sizeof(err)), -ENOTSUP);
	assert_null(s2);
	assert_non_null(strstr(err, f->path));
	assert_non_null(strstr(err, "schema version 99 is newer"));
	/* Nothing was changed by the refused open. */
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"), 99);
}

static void test_foreign_database_refused(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256] = "";
	struct store *s2 = NULL;

	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	exec_sql(path, "CREATE TABLE t (x)");
	assert_int_equal(store_open(path, &s2, err, sizeof(err)), -EINVAL);
	assert_null(s2);
	assert_non_null(strstr(err, "not a hare database"));
	unlink(path);
}

static void test_missing_dir_fails(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256] = "";
	struct store *s2 = NULL;

	snprintf(path, sizeof(path), "%s/no/such/dir/hare.db", f->dir);
	assert_int_equal(store_open(path, &s2, err, sizeof(err)), -ENOENT);
	assert_null(s2);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "unable to open"));
	assert_int_equal(store_open(NULL, &s2, err, sizeof(err)), -EINVAL);
	assert_int_equal(store_open(path, &s2, NULL, 0), -ENOENT);
	store_close(NULL);
}

static void test_garbage_file_fails(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256] = "", junk[8192];
	struct store *s2 = NULL;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
	assert_int_equal(store_open(path, &s2, err, sizeof(err)), -EIO);
	assert_null(s2);
	assert_non_null(strstr(err, "not a database"));
	unlink(path);
}

/* A database whose jobs table is damaged after opening: loads fail with
 * -EIO instead of crashing. */
static void test_corrupt_table_fails(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", junk[65536];
	struct load_seen seen = { 0 };
	struct store_job got;
	int64_t page, psize;
	FILE *fp;

	for (int i = 0; i < 50; i++) {
		struct store_job j = sample_job("corrupt-me");

		assert_int_equal(store_job_insert(f->s, &j), 0);
	}
	store_close(f->s);
	f->s = NULL;
	page = peek_int(f->path, "SELECT rootpage FROM sqlite_schema WHERE name = 'jobs'");
	psize = peek_int(f->path, "PRAGMA page_size");
	exec_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
	memset(junk, 0xA5, sizeof(junk));
	fp = fopen(f->path, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, (long)((page - 1) * psize), SEEK_SET), 0);
	assert_true(psize > 0 && (size_t)psize <= sizeof(junk));
	assert_int_equal(fwrite(junk, 1, (size_t)psize, fp), (size_t)psize);
	fclose(fp);
	/* The schema (page 1) is intact, so the open itself succeeds. */
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(store_job_get(f->s, 1, &got), -EIO);
	assert_int_equal(store_jobs_load(f->s, true, on_job, &seen), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_job_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_no_types_and_loss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_insert_rejects_bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_increase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_is_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_visible_after_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_commits_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_add_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_keeps_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batched_unknown_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_error_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_kept_until_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_kept_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_speeds_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pragmas_and_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_2_upgraded_and_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_1_upgraded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_3_upgraded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_5_upgraded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_4_upgraded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_after_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_failure_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_table_fails, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
