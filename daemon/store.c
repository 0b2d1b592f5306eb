/* SPDX-License-Identifier: MIT */
/* hared's durable state in one SQLite database (WAL, synchronous=FULL): its
 * opening, schema and batched writes, which run inside one open transaction
 * that store_flush or the next store_job_insert commits. */
#include "store_impl.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_SCHEMA_VERSION 6
#define STORE_STR(x) #x
#define STORE_XSTR(x) STORE_STR(x)	/* the version as text, for the SQL below */
#define STORE_BUSY_TIMEOUT_MS 2000

/* Version 6 of the schema. Times are unix seconds (0 = not yet); a NULL loss
 * is "none reported"; events.job_id is NULL for cluster-wide events;
 * jobs.held is 0 (not held), 1 (by its owner) or 2 (by root); jobs.after
 * the ids of the jobs it runs after, comma-joined ('' = none), each prefixed
 * "any:" or "notok:" unless it must be DONE ("41,any:42"). usage: the
 * GPUs of each type a lease held, from its start to end_time (the lease's
 * end, or while it runs the last time hared wrote it down). */
#define STORE_USAGE_SQL \
	"CREATE TABLE usage (job_id INTEGER NOT NULL REFERENCES jobs(id)," \
	" lease_id INTEGER NOT NULL, gpu_type TEXT NOT NULL, gpus INTEGER NOT NULL," \
	" start_time REAL NOT NULL, end_time REAL NOT NULL," \
	" PRIMARY KEY (job_id, lease_id, gpu_type));" \
	"CREATE INDEX usage_end ON usage(end_time);"

static const char store_schema_sql[] =
	"CREATE TABLE jobs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" user TEXT NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL,"
	" tasks INTEGER NOT NULL, min_gpus INTEGER NOT NULL, max_gpus INTEGER NOT NULL,"
	" rounds_total INTEGER NOT NULL, rounds_done INTEGER NOT NULL,"
	" weight REAL NOT NULL,"
	" types TEXT NOT NULL,"	/* allowed GPU types, comma-joined; '' = any */
	" command TEXT NOT NULL,"
	" state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),"
	" submit_time REAL NOT NULL, start_time REAL NOT NULL, finish_time REAL NOT NULL,"
	" restarts INTEGER NOT NULL, loss REAL,"
	" proxy TEXT NOT NULL DEFAULT '',"
	" held INTEGER NOT NULL DEFAULT 0 CHECK (held BETWEEN 0 AND 2),"
	" after TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX jobs_state ON jobs(state);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY, time REAL NOT NULL,"
	" job_id INTEGER REFERENCES jobs(id), kind TEXT NOT NULL, detail TEXT NOT NULL);"
	"CREATE INDEX events_job ON events(job_id);"
	"CREATE TABLE nodes (name TEXT PRIMARY KEY, gpus TEXT NOT NULL, last_seen REAL NOT NULL,"
	" drained INTEGER NOT NULL DEFAULT 0, drain_reason TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE speeds (model TEXT NOT NULL, gpu_type TEXT NOT NULL,"
	" ratio REAL NOT NULL, rounds REAL NOT NULL, PRIMARY KEY (model, gpu_type));"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	STORE_USAGE_SQL
	"INSERT INTO meta (key, value) VALUES ('application', 'hared'),"
	" ('schema', '" STORE_XSTR(STORE_SCHEMA_VERSION) "');"
	"PRAGMA user_version = " STORE_XSTR(STORE_SCHEMA_VERSION) ";";

/* From version 1 (hared before job proxy sizes and node drains):
 * jobs.proxy, '' for every job already there, and nodes.drained and
 * drain_reason (none drained). Runs in the schema transaction. */
static const char store_migrate_1_sql[] =
	"ALTER TABLE jobs ADD COLUMN proxy TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE nodes ADD COLUMN drained INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE nodes ADD COLUMN drain_reason TEXT NOT NULL DEFAULT '';"
	"UPDATE meta SET value = '2' WHERE key = 'schema';"
	"PRAGMA user_version = 2;";

/* From version 2 (hared before harectl hold): jobs.held, none held. */
static const char store_migrate_2_sql[] =
	"ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held BETWEEN 0 AND 2);"
	"UPDATE meta SET value = '3' WHERE key = 'schema';"
	"PRAGMA user_version = 3;";

/* From version 3 (hared before GPU-time accounting): the usage table, empty
 * (leases before it are not counted). */
static const char store_migrate_3_sql[] =
	STORE_USAGE_SQL
	"UPDATE meta SET value = '4' WHERE key = 'schema';"
	"PRAGMA user_version = 4;";

/* From version 4 (hared before job dependencies): jobs.after, none. */
static const char store_migrate_4_sql[] =
	"ALTER TABLE jobs ADD COLUMN after TEXT NOT NULL DEFAULT '';"
	"UPDATE meta SET value = '5' WHERE key = 'schema';"
	"PRAGMA user_version = 5;";

/* From version 5 (hared before dependency kinds): the same tables; a
 * jobs.after item may now carry a kind, which an older hared could not
 * read, so the version says so. */
static const char store_migrate_5_sql[] =
	"UPDATE meta SET value = '6' WHERE key = 'schema';"
	"PRAGMA user_version = 6;";

/* The upgrades, from version 1 on: store_migrations[v - 1] takes v to v + 1. */
static const struct store_migration {
	const char *sql;
	const char *what;	/* for the log */
} store_migrations[] = {
	{ store_migrate_1_sql, "job proxy sizes, node drains" },
	{ store_migrate_2_sql, "held jobs" },
	{ store_migrate_3_sql, "GPU time of each lease" },
	{ store_migrate_4_sql, "job dependencies" },
	{ store_migrate_5_sql, "kinds of job dependencies" },
};
_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) == STORE_SCHEMA_VERSION - 1,
	       "one upgrade per schema version");

#define STORE_JOB_COLS \
	"id, user, name, model, tasks, min_gpus, max_gpus, rounds_total, rounds_done," \
	" weight, types, command, state, submit_time, start_time, finish_time, restarts, loss," \
	" proxy, held, after"

/* RUNNING sets start_time the first time only; a final state sets finish_time. */
static const char *const store_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_JOB_INSERT] = "INSERT INTO jobs (user, name, model, tasks, min_gpus, max_gpus,"
		" rounds_total, rounds_done, weight, types, command, state, submit_time,"
		" start_time, finish_time, restarts, loss, proxy, held, after)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
		" ?18, ?19, ?20)",
	[ST_JOB_PROGRESS] = "UPDATE jobs SET rounds_done = ?2, loss = ?3 WHERE id = ?1",
	[ST_JOB_STATE] = "UPDATE jobs SET state = ?2,"
		" start_time = CASE WHEN ?2 = 2 AND start_time = 0 THEN ?3 ELSE start_time END,"
		" finish_time = CASE WHEN ?2 >= 3 THEN ?3 ELSE finish_time END WHERE id = ?1",
	[ST_JOB_RESTARTED] = "UPDATE jobs SET restarts = ?2 WHERE id = ?1",
	[ST_EVENT] = "INSERT INTO events (time, job_id, kind, detail) VALUES (?1, ?2, ?3, ?4)",
	[ST_NODE] = "INSERT INTO nodes (name, gpus, last_seen) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (name) DO UPDATE SET gpus = excluded.gpus,"
		" last_seen = excluded.last_seen",
	[ST_SPEED] = "INSERT INTO speeds (model, gpu_type, ratio, rounds) VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (model, gpu_type) DO UPDATE SET ratio = excluded.ratio,"
		" rounds = excluded.rounds",
	[ST_JOBS_ACTIVE] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE state IN (1, 2) ORDER BY id",
	[ST_JOBS_ALL] = "SELECT " STORE_JOB_COLS " FROM jobs ORDER BY id",
	[ST_JOBS_NEWEST] = "SELECT * FROM (SELECT " STORE_JOB_COLS " FROM jobs ORDER BY id DESC"
		" LIMIT ?1) ORDER BY id",
	[ST_JOBS_OLDER_FINAL] = "SELECT COUNT(*) FROM jobs WHERE id < ?1 AND state NOT IN (1, 2)",
	[ST_JOBS_NEWEST_OF] = "SELECT * FROM (SELECT " STORE_JOB_COLS " FROM jobs WHERE user = ?2"
		" ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[ST_JOBS_OLDER_FINAL_OF] = "SELECT COUNT(*) FROM jobs WHERE id < ?1 AND state NOT IN (1, 2)"
		" AND user = ?2",
	[ST_JOB_GET] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE id = ?1",
	[ST_SPEEDS] = "SELECT model, gpu_type, ratio, rounds FROM speeds ORDER BY model, gpu_type",
	[ST_NODE_DRAIN] = "INSERT INTO nodes (name, gpus, last_seen, drained, drain_reason)"
		" VALUES (?1, '', 0, ?2, ?3) ON CONFLICT (name) DO UPDATE SET"
		" drained = excluded.drained, drain_reason = excluded.drain_reason",
	[ST_NODES_LOAD] = "SELECT name, drained, drain_reason, last_seen, gpus FROM nodes"
		" ORDER BY drained DESC, last_seen DESC, name",
	[ST_NODE_KNOWN] = "SELECT 1 FROM nodes WHERE name = ?1",
	[ST_NODE_FORGET] = "DELETE FROM nodes WHERE name = ?1",
	[ST_JOB_LAST_FAIL] = "SELECT time, detail FROM events WHERE job_id = ?1"
		" AND kind IN ('fail', 'blame') ORDER BY id DESC LIMIT 1",
	[ST_JOB_LAST_CANCEL] = "SELECT time, detail FROM events WHERE job_id = ?1"
		" AND kind = 'cancel' ORDER BY id DESC LIMIT 1",
	[ST_JOB_SETTINGS] = "UPDATE jobs SET name = ?2, weight = ?3, min_gpus = ?4, max_gpus = ?5,"
		" held = ?6 WHERE id = ?1",
	/* the newest ?2, oldest first */
	[ST_JOB_FAILURES] = "SELECT count(*) FROM events WHERE job_id = ?1 AND kind = 'fail'",
	[ST_JOB_EVENTS] = "SELECT time, kind, detail FROM (SELECT id, time, kind, detail FROM events"
		" WHERE job_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
	/* a node's events: detail is its name, or its name, ": " and more */
	[ST_NODE_EVENTS] = "SELECT time, kind, detail FROM (SELECT id, time, kind, detail FROM events"
		" WHERE job_id IS NULL AND kind LIKE 'node-%' AND (detail = ?1 OR"
		" substr(detail, 1, length(?1) + 2) = ?1 || ': ') ORDER BY id DESC LIMIT ?2) ORDER BY id",
	/* newest first, read back from the end of the table (see store_failures_load) */
	[ST_RECENT_EVENTS] = "SELECT e.time, e.job_id, e.kind, e.detail, coalesce(j.user, '')"
		" FROM events e LEFT JOIN jobs j ON j.id = e.job_id ORDER BY e.id DESC",
	[ST_LEASE_START] = "SELECT time FROM events WHERE job_id = ?1 AND kind IN ('start', 'restart')"
		" AND substr(detail, 1, length(?2)) = ?2 ORDER BY id DESC LIMIT 1",
	[ST_LAST_LEASE] = "SELECT detail FROM events WHERE job_id = ?1 AND kind IN ('start', 'restart')"
		" ORDER BY id DESC LIMIT 1",
	/* a lease adopted after a restart already has its rows */
	[ST_USAGE_START] = "INSERT INTO usage (job_id, lease_id, gpu_type, gpus, start_time, end_time)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
	[ST_USAGE_UNTIL] = "UPDATE usage SET end_time = max(end_time, ?3)"
		" WHERE job_id = ?1 AND lease_id = ?2",
	[ST_USAGE_JOB] = "SELECT gpu_type, sum(gpus * (end_time - start_time)) FROM usage"
		" WHERE job_id = ?1 AND lease_id != ?2 AND end_time > start_time"
		" GROUP BY gpu_type ORDER BY gpu_type",
	/* the part of each lease inside [?1, ?2], by user (?3: one user) */
	[ST_USAGE_USERS] = "SELECT j.user, count(DISTINCT u.job_id),"
		" sum(u.gpus * (min(u.end_time, ?2) - max(u.start_time, ?1)))"
		" FROM usage u JOIN jobs j ON j.id = u.job_id"
		" WHERE u.end_time > ?1 AND u.start_time < ?2 AND u.end_time > u.start_time"
		" AND (?3 IS NULL OR j.user = ?3) GROUP BY j.user ORDER BY j.user",
	[ST_USAGE_TYPES] = "SELECT j.user, u.gpu_type,"
		" sum(u.gpus * (min(u.end_time, ?2) - max(u.start_time, ?1)))"
		" FROM usage u JOIN jobs j ON j.id = u.job_id"
		" WHERE u.end_time > ?1 AND u.start_time < ?2 AND u.end_time > u.start_time"
		" AND (?3 IS NULL OR j.user = ?3)"
		" GROUP BY j.user, u.gpu_type ORDER BY j.user, u.gpu_type",
};

/* SQLite result code to a negative errno. */
int store_rc(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_INTERRUPT:
		return -ECANCELED;
	case SQLITE_CONSTRAINT:
		return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? -ENOENT : -EINVAL;
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
	case SQLITE_MISMATCH:
		return -EINVAL;
	case SQLITE_CANTOPEN:
		/* Say why the file could not be opened (ENOENT, EACCES, ...). */
		if (db && sqlite3_system_errno(db) > 0)
			return -sqlite3_system_errno(db);
		return -EIO;
	default:		/* IOERR, CORRUPT, NOTADB, PROTOCOL, ... */
		return -EIO;
	}
}

/* Run a prepared statement that returns no rows, and reset it. */
int store_step(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_rc(s->db, rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

/* Open the batch transaction if none is open. */
int store_batch_begin(struct store *s)
{
	int rc;

	if (s->in_txn)
		return 0;
	rc = store_step(s, s->st[ST_BEGIN]);
	if (rc == 0)
		s->in_txn = true;
	return rc;
}

/* The open transaction is gone without a commit: its writes are undone, the
 * ends it held are not staged any more, and ends of jobs it inserted are
 * dropped (their ids will be given again). */
static void store_txn_gone(struct store *s)
{
	size_t kept = 0;

	s->in_txn = false;
	s->txn_writes = 0;
	s->txn_gen++;
	for (size_t i = 0; i < s->nends; i++) {
		if (s->txn_first_id && s->ends[i].id >= s->txn_first_id)
			continue;
		s->ends[kept] = s->ends[i];
		s->ends[kept++].staged = false;
	}
	s->nends = kept;
	s->txn_first_id = 0;
}

/* After a batched write: an I/O error, a full disk or out of memory can make
 * SQLite roll the whole transaction back; notice it so the next batched
 * write opens a new one. */
int store_batch_end(struct store *s, int rc)
{
	if (rc && s->in_txn && sqlite3_get_autocommit(s->db))
		store_txn_gone(s);
	if (rc && rc != -ENOENT) {
		s->write_failures++;
		s->write_error = rc;
	}
	if (rc == -EBUSY && !s->busy) {
		s->busy = true;
		sqlite3_busy_timeout(s->db, 0);
	}
	return rc;
}

/* Run a batched statement whose parameters are bound. If must_change, a
 * statement that touched no row (unknown job id) gives -ENOENT. */
int store_batch_step(struct store *s, sqlite3_stmt *st, bool must_change)
{
	int rc = store_batch_begin(s);

	if (rc) {
		sqlite3_reset(st);
		return store_batch_end(s, rc);
	}
	rc = store_step(s, st);
	if (rc == 0 && must_change && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	if (rc == 0)
		s->txn_writes++;
	return store_batch_end(s, rc);
}

/* Commit the open transaction. A failed commit that leaves the transaction
 * open (busy) keeps it for the next try; one that rolled back clears it. */
int store_commit(struct store *s)
{
	size_t kept = 0;
	int rc;

	if (!s->in_txn)
		return 0;
	rc = store_step(s, s->st[ST_COMMIT]);
	if (rc == 0 || sqlite3_get_autocommit(s->db))
		s->in_txn = false;
	if (rc == -EBUSY && !s->busy) {
		s->busy = true;
		sqlite3_busy_timeout(s->db, 0);
	}
	if (rc == 0 && s->busy && s->txn_writes > 0) {	/* it wrote: the lock is gone */
		s->busy = false;
		sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	}
	if (rc != 0 && !s->in_txn) {	/* rolled back */
		store_txn_gone(s);
		return rc;
	}
	if (!s->in_txn) {
		s->txn_writes = 0;
		s->txn_first_id = 0;
		s->committed_gen = s->txn_gen++;
	}
	/* Committed ends are done with; the others are written again. */
	for (size_t i = 0; i < s->nends; i++) {
		if (rc == 0 && s->ends[i].staged)
			continue;
		s->ends[kept++] = s->ends[i];
	}
	s->nends = kept;
	return rc;
}

/* Abandon the open transaction (its batched writes are lost). */
void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		store_step(s, s->st[ST_ROLLBACK]);
	store_txn_gone(s);
}

/* Record the reason of a failed open: "path: what was wrong". */
static int store_open_fail(sqlite3 *db, int rc, const char *path, const char *what, char *errbuf,
			   size_t errlen)
{
	snprintf(errbuf, errlen, "%s: %s%s%s", path, what ? what : "", what ? ": " : "",
		 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return store_rc(db, rc);
}

/* Run one-row PRAGMA (or query) and return its first column as an integer,
 * or its text in buf when buf is given. */
static int store_query_one(sqlite3 *db, const char *sql, int64_t *num, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);

		if (num)
			*num = sqlite3_column_int64(st, 0);
		if (buf)
			snprintf(buf, len, "%s", text ? text : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Connection settings: WAL, synchronous=FULL, foreign keys. The first read
 * of the file happens here, so a file that is not a database fails here. */
static int store_configure(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	char mode[16] = "";
	int rc;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	rc = store_query_one(db, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
	if (rc != SQLITE_OK)
		return store_open_fail(db, rc, path, "cannot open database", errbuf, errlen);
	if (strcmp(mode, "wal") != 0) {
		snprintf(errbuf, errlen, "%s: cannot switch to WAL mode (journal mode is '%s')", path,
			 mode);
		return -EIO;
	}
	rc = sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
			  " PRAGMA journal_size_limit = 67108864;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_open_fail(db, rc, path, "cannot configure database", errbuf, errlen);
	return 0;
}

/* With the write lock held: create the schema in a new database, accept the
 * current version, refuse a newer one or a foreign database. */
static int store_schema_locked(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	int64_t version = 0, objects = 0;
	int rc = store_query_one(db, "PRAGMA user_version", &version, NULL, 0);

	if (rc == SQLITE_OK && version == 0)
		rc = store_query_one(db, "SELECT count(*) FROM sqlite_schema", &objects, NULL, 0);
	if (rc != SQLITE_OK)
		return store_open_fail(db, rc, path, "cannot read schema", errbuf, errlen);
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(errbuf, errlen,
			 "%s: schema version %lld is newer than this hared supports (%d);"
			 " run a newer hared or use another state_dir", path, (long long)version,
			 STORE_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	if (version >= 1) {
		for (; version < STORE_SCHEMA_VERSION; version++) {
			const struct store_migration *m = &store_migrations[version - 1];
			char what[64];

			rc = sqlite3_exec(db, m->sql, NULL, NULL, NULL);
			if (rc != SQLITE_OK) {
				snprintf(what, sizeof(what), "cannot upgrade schema %lld to %lld",
					 (long long)version, (long long)version + 1);
				return store_open_fail(db, rc, path, what, errbuf, errlen);
			}
			log_info("%s: schema upgraded from version %lld to %lld (%s)", path,
				 (long long)version, (long long)version + 1, m->what);
		}
		return 0;
	}
	if (version < 0 || objects > 0) {
		snprintf(errbuf, errlen, "%s: not a hare database (user_version %lld, %lld objects)",
			 path, (long long)version, (long long)objects);
		return -EINVAL;
	}
	rc = sqlite3_exec(db, store_schema_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_open_fail(db, rc, path, "cannot create schema", errbuf, errlen);
	return 0;
}

/* Create or check the schema in one write transaction, so that two
 * processes opening a new file cannot both create it. */
static int store_schema(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	int err;

	if (rc != SQLITE_OK)
		return store_open_fail(db, rc, path, "cannot lock database", errbuf, errlen);
	err = store_schema_locked(db, path, errbuf, errlen);
	if (err) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = store_open_fail(db, rc, path, "cannot commit schema", errbuf, errlen);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return err;
}

/* Prepare every statement for the life of the store. */
static int store_prepare(struct store *s, const char *path, char *errbuf, size_t errlen)
{
	for (int i = 0; i < ST_COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->st[i], NULL);

		if (rc != SQLITE_OK)
			return store_open_fail(s->db, rc, path, "cannot prepare statement", errbuf,
					       errlen);
	}
	return 0;
}

/* Finalize the statements and close the connection. */
static void store_free(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s->ends);
	free(s);
}

const char *store_path(const struct store *s)
{
	const char *path = s ? sqlite3_db_filename(s->db, "main") : NULL;

	return path ? path : "";
}

int store_open_reader(const char *path, struct store **out, char *errbuf, size_t errlen)
{
	struct store *s;
	int64_t version = 0;
	int rc, err = 0;

	*out = NULL;
	if (!path || !path[0]) {
		snprintf(errbuf, errlen, "store: no database file to read");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		err = store_open_fail(s->db, rc, path, "cannot open database", errbuf, errlen);
	if (!err) {
		sqlite3_extended_result_codes(s->db, 1);
		sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
		rc = store_query_one(s->db, "PRAGMA user_version", &version, NULL, 0);
		if (rc != SQLITE_OK)
			err = store_open_fail(s->db, rc, path, "cannot read schema", errbuf, errlen);
		else if (version != STORE_SCHEMA_VERSION)
			err = store_open_fail(s->db, SQLITE_MISMATCH, path, "schema changed", errbuf,
					      errlen);
	}
	if (!err)
		err = store_prepare(s, path, errbuf, errlen);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int store_open(const char *path, struct store **out, char *errbuf, size_t errlen)
{
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	char scratch[1];
	struct store *s;
	int rc, err;

	if (!errbuf || !errlen) {
		errbuf = scratch;
		errlen = sizeof(scratch);
	}
	errbuf[0] = '\0';
	if (!path || !out) {
		snprintf(errbuf, errlen, "store: no database path");
		return -EINVAL;
	}
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK)
		err = store_open_fail(s->db, rc, path, "cannot open database", errbuf, errlen);
	else
		err = store_configure(s->db, path, errbuf, errlen);
	if (!err)
		err = store_schema(s->db, path, errbuf, errlen);
	if (!err)
		err = store_prepare(s, path, errbuf, errlen);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

/* Write the kept ends not in the open transaction again; 0, or the first
 * error (the database still busy or full: the rest wait too). An end whose
 * job has no row any more is dropped. */
static int store_ends_retry(struct store *s, size_t *retried)
{
	for (size_t i = 0; i < s->nends; i++) {
		int rc;

		if (s->ends[i].staged)
			continue;
		rc = store_job_state_write(s, s->ends[i].id, s->ends[i].state, s->ends[i].when);
		if (rc == -ENOENT) {
			s->ends[i--] = s->ends[--s->nends];
			continue;
		}
		if (rc)
			return rc;
		s->ends[i].staged = true;
		(*retried)++;
	}
	return 0;
}

void store_close(struct store *s)
{
	size_t retried = 0;

	if (!s)
		return;
	/* a last try for the kept ends, with the busy wait back */
	if (s->nends) {
		sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
		store_ends_retry(s, &retried);
	}
	if (store_commit(s) != 0)
		store_rollback(s);
	for (size_t i = 0; i < s->nends; i++)
		log_error("store: the end of job %" PRIu64 " (state %d) could not be saved: after a "
			  "restart the job is active again", s->ends[i].id, s->ends[i].state);
	store_free(s);
}

int store_flush(struct store *s)
{
	size_t retried = 0;
	bool open;
	int err, ends;

	if (!s)
		return -EINVAL;
	ends = store_ends_retry(s, &retried);
	open = s->in_txn;
	err = store_commit(s);
	if (err) {
		store_rollback(s);	/* staged jobs must not turn up unacknowledged */
		if (open) {		/* the batch's writes are gone: store_flush_since sees it */
			s->write_failures++;
			s->write_error = err;
		}
	} else if (retried) {
		log_info("store: %zu job end(s) saved after an earlier write failed", retried);
	}
	(void)ends;	/* a failed retry counts in store_write_failures */
	return err;
}

bool store_busy(const struct store *s)
{
	return s && s->busy;
}

uint64_t store_batch_id(const struct store *s)
{
	return s ? s->txn_gen : 0;
}

bool store_batch_committed(const struct store *s, uint64_t id)
{
	return s && s->committed_gen == id && s->txn_gen > id;
}

int store_flush_since(struct store *s, uint64_t failures_before)
{
	int rc = store_flush(s), lost;

	if (rc == 0 && store_write_failures(s, &lost) != failures_before)
		rc = lost;
	return rc;
}

const char *store_err_str(int rc)
{
	return rc == -EBUSY ? "the database is locked by another process" : err_str(rc);
}

uint64_t store_write_failures(const struct store *s, int *last_error)
{
	if (last_error)
		*last_error = s ? s->write_error : 0;
	return s ? s->write_failures : 0;
}

/* Copy a text column into a fixed-size field (truncating). */
int store_col_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const char *text = "";

	if (sqlite3_column_type(st, col) != SQLITE_NULL) {
		text = (const char *)sqlite3_column_text(st, col);
		if (!text)
			return -ENOMEM;
	}
	snprintf(dst, size, "%s", text);
	return 0;
}

void store_interrupt_set(struct store *s, store_stop_cb stop, void *user)
{
	if (s)
		sqlite3_progress_handler(s->db, stop ? 10000 : 0, stop, user);
}
