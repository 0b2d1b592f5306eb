/* SPDX-License-Identifier: MIT */
/* hared's durable state in one SQLite database (WAL, synchronous=FULL):
 * jobs, events, nodes and learned speeds. Batched writes run inside one open
 * transaction that store_flush or the next store_job_insert commits. */
#include "store.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define STORE_SCHEMA_VERSION 6
#define STORE_STR(x) #x
#define STORE_XSTR(x) STORE_STR(x)	/* the version as text, for the SQL below */
#define STORE_BUSY_TIMEOUT_MS 2000
#define STORE_TYPES_LEN (STORE_MAX_TYPES * 16)
#define STORE_AFTER_LEN (STORE_MAX_AFTER * 27)	/* "notok:", 20 digits and a comma each */

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
static int store_rc(sqlite3 *db, int rc)
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
static int store_step(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_rc(s->db, rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

/* Open the batch transaction if none is open. */
static int store_batch_begin(struct store *s)
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
static int store_batch_end(struct store *s, int rc)
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
static int store_batch_step(struct store *s, sqlite3_stmt *st, bool must_change)
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
static int store_commit(struct store *s)
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
static void store_rollback(struct store *s)
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

static int store_job_state_write(struct store *s, uint64_t id, int state, double when);

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

/* Length of a fixed-size string field, or -1 if it has no terminating NUL. */
static int store_field_len(const char *field, size_t size)
{
	size_t n = strnlen(field, size);

	return n < size ? (int)n : -1;
}

/* Bind a fixed-size string field; -EINVAL if it is not NUL-terminated. */
static int store_bind_field(sqlite3_stmt *st, int idx, const char *field, size_t size)
{
	int n = store_field_len(field, size);

	if (n < 0)
		return -EINVAL;
	return sqlite3_bind_text(st, idx, field, n, SQLITE_STATIC) == SQLITE_OK ? 0 : -ENOMEM;
}

/* Join the allowed GPU types with commas; -EINVAL for a bad list. */
static int store_types_join(const struct store_job *job, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (job->ntypes > STORE_MAX_TYPES)
		return -EINVAL;
	for (uint32_t i = 0; i < job->ntypes; i++) {
		int n = store_field_len(job->types[i], sizeof(job->types[i]));

		if (n <= 0 || strchr(job->types[i], ','))
			return -EINVAL;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
					 job->types[i]);
	}
	return 0;
}

/* The prefix of an after item of kind k ("" for STORE_AFTER_OK). */
static const char *const store_after_prefix[] = { "", "any:", "notok:" };

/* Join the ids of the jobs it runs after with commas, each with its kind's
 * prefix; -EINVAL for a bad list. */
static int store_after_join(const struct store_job *job, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (job->nafter > STORE_MAX_AFTER)
		return -EINVAL;
	for (uint32_t i = 0; i < job->nafter; i++) {
		if (job->after[i] == 0 || job->after[i] > INT64_MAX ||
		    job->after_kind[i] > STORE_AFTER_NOTOK)
			return -EINVAL;
		used += (size_t)snprintf(buf + used, len - used, "%s%s%" PRIu64, i ? "," : "",
					 store_after_prefix[job->after_kind[i]], job->after[i]);
	}
	return 0;
}

/* Bind every field of a new job to the insert statement. */
static int store_job_bind(sqlite3_stmt *st, const struct store_job *job, const char *types,
			  const char *after)
{
	int err = store_bind_field(st, 1, job->user, sizeof(job->user));

	if (!err)
		err = store_bind_field(st, 2, job->name, sizeof(job->name));
	if (!err)
		err = store_bind_field(st, 3, job->model, sizeof(job->model));
	if (!err)
		err = store_bind_field(st, 11, job->command, sizeof(job->command));
	if (!err)
		err = store_bind_field(st, 18, job->proxy, sizeof(job->proxy));
	if (err)
		return err;
	sqlite3_bind_int64(st, 4, job->tasks);
	sqlite3_bind_int64(st, 5, job->min_gpus);
	sqlite3_bind_int64(st, 6, job->max_gpus);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)job->rounds_total);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)job->rounds_done);
	sqlite3_bind_double(st, 9, job->weight);
	sqlite3_bind_text(st, 10, types, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 12, (int)job->state);
	sqlite3_bind_double(st, 13, job->submit_time);
	sqlite3_bind_double(st, 14, job->start_time);
	sqlite3_bind_double(st, 15, job->finish_time);
	sqlite3_bind_int64(st, 16, job->restarts);
	/* SQLite stores a NaN as NULL, which reads back as NAN. */
	sqlite3_bind_double(st, 17, job->loss);
	sqlite3_bind_int(st, 19, job->held);
	sqlite3_bind_text(st, 20, after, -1, SQLITE_STATIC);
	return 0;
}

static bool store_state_valid(int state)
{
	return state >= STORE_QUEUED && state <= STORE_FAILED;
}

/* Insert a job into the open batch; the id is known at once, durability
 * comes with the batch's commit. */
static int store_job_stage(struct store *s, struct store_job *job)
{
	sqlite3_stmt *st;
	char types[STORE_TYPES_LEN], after[STORE_AFTER_LEN];
	int err;

	if (!s || !job || !store_state_valid((int)job->state))
		return -EINVAL;
	st = s->st[ST_JOB_INSERT];
	err = store_types_join(job, types, sizeof(types));
	if (!err)
		err = store_after_join(job, after, sizeof(after));
	if (!err)
		err = store_job_bind(st, job, types, after);
	if (!err)
		err = store_batch_begin(s);
	if (err) {
		sqlite3_clear_bindings(st);
		return err;
	}
	err = store_batch_end(s, store_step(s, st));
	sqlite3_clear_bindings(st);
	if (err)
		return err;
	job->id = (uint64_t)sqlite3_last_insert_rowid(s->db);
	s->txn_writes++;
	if (!s->txn_first_id)
		s->txn_first_id = job->id;
	return 0;
}

int store_job_insert(struct store *s, struct store_job *job)
{
	int err = store_job_stage(s, job);

	if (err)
		return err;
	/* The submitter is told only after this commit: if it fails, roll back
	 * so the job cannot become durable later without having been acked. */
	err = store_commit(s);
	if (err) {
		store_rollback(s);
		job->id = 0;
		return err;
	}
	return 0;
}

int store_job_add(struct store *s, struct store_job *job)
{
	return store_job_stage(s, job);
}

int store_job_progress(struct store *s, uint64_t id, uint64_t rounds_done, double loss)
{
	sqlite3_stmt *st;

	if (!s)
		return -EINVAL;
	st = s->st[ST_JOB_PROGRESS];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rounds_done);
	sqlite3_bind_double(st, 3, loss);
	return store_batch_step(s, st, true);
}

/* The kept end of job id, or NULL. */
static struct store_end *store_end_find(const struct store *s, uint64_t id)
{
	for (size_t i = 0; i < s->nends; i++)
		if (s->ends[i].id == id)
			return &s->ends[i];
	return NULL;
}

static int store_job_state_write(struct store *s, uint64_t id, int state, double when)
{
	sqlite3_stmt *st = s->st[ST_JOB_STATE];

	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	sqlite3_bind_int(st, 2, state);
	sqlite3_bind_double(st, 3, when);
	return store_batch_step(s, st, true);
}

int store_job_state(struct store *s, uint64_t id, enum store_job_state state, double when)
{
	struct store_end *e;
	int rc;

	if (!s || !store_state_valid((int)state))
		return -EINVAL;
	e = store_end_find(s, id);
	if (e && state < STORE_DONE) {	/* not ended after all: forget the end */
		*e = s->ends[--s->nends];
		e = NULL;
	} else if (state >= STORE_DONE && !e) {
		if (s->nends == s->ends_cap) {
			size_t cap = s->ends_cap ? 2 * s->ends_cap : 16;
			struct store_end *v = realloc(s->ends, cap * sizeof(*v));

			if (v) {
				s->ends = v;
				s->ends_cap = cap;
			}
		}
		if (s->nends < s->ends_cap)
			e = &s->ends[s->nends++];
		else
			log_warn("store: out of memory keeping the end of job %" PRIu64 "; it is not "
				 "written again if this write fails", id);
	}
	if (e)
		*e = (struct store_end){ .id = id, .state = (int)state, .when = when };
	rc = store_job_state_write(s, id, (int)state, when);
	if (e && rc == 0)
		e->staged = true;
	else if (e && rc == -ENOENT)	/* no such job: nothing to keep */
		*e = s->ends[--s->nends];
	return rc;
}

int store_job_restarted(struct store *s, uint64_t id, uint32_t restarts)
{
	sqlite3_stmt *st;

	if (!s)
		return -EINVAL;
	st = s->st[ST_JOB_RESTARTED];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(st, 2, restarts);
	return store_batch_step(s, st, true);
}

int store_job_settings(struct store *s, const struct store_job *job)
{
	sqlite3_stmt *st;

	if (!s || !job || job->held > STORE_HELD_ADMIN)
		return -EINVAL;
	st = s->st[ST_JOB_SETTINGS];
	if (store_bind_field(st, 2, job->name, sizeof(job->name)) < 0) {
		sqlite3_clear_bindings(st);
		return -EINVAL;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job->id);
	sqlite3_bind_double(st, 3, job->weight);
	sqlite3_bind_int64(st, 4, job->min_gpus);
	sqlite3_bind_int64(st, 5, job->max_gpus);
	sqlite3_bind_int(st, 6, job->held);
	return store_batch_step(s, st, true);
}

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
static int store_col_text(sqlite3_stmt *st, int col, char *dst, size_t size)
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

/* Split the comma-joined GPU types back into the job; -EIO if the stored
 * list cannot have been written by store_job_insert. */
static int store_types_split(const char *joined, struct store_job *job)
{
	const char *p = joined;

	job->ntypes = 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (job->ntypes == STORE_MAX_TYPES || n == 0 || n >= sizeof(job->types[0]))
			return -EIO;
		memcpy(job->types[job->ntypes], p, n);
		job->types[job->ntypes++][n] = '\0';
		p += n;
		if (*p == ',' && *++p == '\0')
			return -EIO;
	}
	return 0;
}

/* Split the comma-joined ids of the jobs it runs after back into the job;
 * -EIO if store_job_insert cannot have written the list. */
static int store_after_split(const char *joined, struct store_job *job)
{
	const char *p = joined;

	job->nafter = 0;
	while (*p) {
		char *end;
		unsigned long long v;
		uint8_t kind = STORE_AFTER_OK;
		uint32_t n;

		for (uint8_t k = STORE_AFTER_ANY; k <= STORE_AFTER_NOTOK; k++) {
			size_t len = strlen(store_after_prefix[k]);

			if (strncmp(p, store_after_prefix[k], len) == 0) {
				kind = k;
				p += len;
				break;
			}
		}
		if (job->nafter == STORE_MAX_AFTER || *p < '1' || *p > '9')
			return -EIO;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || v > INT64_MAX || (*end && *end != ','))
			return -EIO;
		/* kept by kind, in the order given within a kind (JobInfo's
		 * after_any and after_notok are runs of the list) */
		n = job->nafter++;
		for (; n > 0 && job->after_kind[n - 1] > kind; n--) {
			job->after[n] = job->after[n - 1];
			job->after_kind[n] = job->after_kind[n - 1];
		}
		job->after_kind[n] = kind;
		job->after[n] = v;
		p = end;
		if (*p == ',' && *++p == '\0')
			return -EIO;
	}
	return 0;
}

/* The text columns of a job row. */
static int store_job_texts(sqlite3_stmt *st, struct store_job *job)
{
	char types[STORE_TYPES_LEN + 1], after[STORE_AFTER_LEN + 1];
	int err = store_col_text(st, 1, job->user, sizeof(job->user));

	if (!err)
		err = store_col_text(st, 2, job->name, sizeof(job->name));
	if (!err)
		err = store_col_text(st, 3, job->model, sizeof(job->model));
	if (!err)
		err = store_col_text(st, 11, job->command, sizeof(job->command));
	if (!err)
		err = store_col_text(st, 18, job->proxy, sizeof(job->proxy));
	if (!err)
		err = store_col_text(st, 10, types, sizeof(types));
	if (!err)
		err = store_types_split(types, job);
	if (!err)
		err = store_col_text(st, 20, after, sizeof(after));
	if (!err)
		err = store_after_split(after, job);
	return err;
}

/* Read the current row of a STORE_JOB_COLS query into job, with its end
 * if one is kept (not committed yet). */
static int store_job_row(const struct store *s, sqlite3_stmt *st, struct store_job *job)
{
	int state = sqlite3_column_int(st, 12), held;
	const struct store_end *e = store_end_find(s, (uint64_t)sqlite3_column_int64(st, 0));

	memset(job, 0, sizeof(*job));
	if (!store_state_valid(state))
		return -EIO;
	job->id = (uint64_t)sqlite3_column_int64(st, 0);
	job->tasks = (uint32_t)sqlite3_column_int64(st, 4);
	job->min_gpus = (uint32_t)sqlite3_column_int64(st, 5);
	job->max_gpus = (uint32_t)sqlite3_column_int64(st, 6);
	job->rounds_total = (uint64_t)sqlite3_column_int64(st, 7);
	job->rounds_done = (uint64_t)sqlite3_column_int64(st, 8);
	job->weight = sqlite3_column_double(st, 9);
	job->state = (enum store_job_state)state;
	job->submit_time = sqlite3_column_double(st, 13);
	job->start_time = sqlite3_column_double(st, 14);
	job->finish_time = sqlite3_column_double(st, 15);
	if (e) {
		job->state = (enum store_job_state)e->state;
		job->finish_time = e->when;
	}
	job->restarts = (uint32_t)sqlite3_column_int64(st, 16);
	job->loss = sqlite3_column_type(st, 17) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 17);
	held = sqlite3_column_int(st, 19);
	if (held < STORE_HELD_NONE || held > STORE_HELD_ADMIN)
		return -EIO;
	job->held = (enum store_held)held;
	return store_job_texts(st, job);
}

/* Each job row of st (bound) to cb, ended ones unless include_final; *first
 * (may be NULL) gets the first id given. */
static int store_jobs_each(struct store *s, sqlite3_stmt *st, bool include_final, store_job_cb cb,
			   void *user, uint64_t *first)
{
	struct store_job job;
	int rc, err = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = store_job_row(s, st, &job);
		if (!err && !include_final && job.state >= STORE_DONE)
			continue;	/* ended, the end not committed yet */
		if (!err && first && *first == 0)
			*first = job.id;
		if (!err)
			err = cb(user, &job);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
}

int store_jobs_load(struct store *s, bool include_final, store_job_cb cb, void *user)
{
	sqlite3_stmt *st;

	if (!s || !cb)
		return -EINVAL;
	st = s->st[include_final ? ST_JOBS_ALL : ST_JOBS_ACTIVE];
	/* A callback that loads again would restart this very statement. */
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	return store_jobs_each(s, st, include_final, cb, user, NULL);
}

/* The newest max jobs (of owner, when not NULL), and the count of the
 * ended ones older than those. */
static int store_jobs_newest(struct store *s, const char *owner, uint32_t max, store_job_cb cb,
			     void *user, uint64_t *older_final)
{
	sqlite3_stmt *st = s->st[owner ? ST_JOBS_NEWEST_OF : ST_JOBS_NEWEST];
	sqlite3_stmt *older = s->st[owner ? ST_JOBS_OLDER_FINAL_OF : ST_JOBS_OLDER_FINAL];
	uint64_t first = 0;
	int rc, err;

	if (sqlite3_stmt_busy(st) || sqlite3_stmt_busy(older))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	if (owner)
		sqlite3_bind_text(st, 2, owner, -1, SQLITE_TRANSIENT);
	err = store_jobs_each(s, st, true, cb, user, &first);
	sqlite3_clear_bindings(st);
	if (err || !older_final)
		return err;
	*older_final = 0;
	if (first == 0)
		return 0;
	sqlite3_bind_int64(older, 1, (sqlite3_int64)first);
	if (owner)
		sqlite3_bind_text(older, 2, owner, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(older);
	if (rc == SQLITE_ROW)
		*older_final = (uint64_t)sqlite3_column_int64(older, 0);
	else
		err = store_rc(s->db, rc);
	sqlite3_reset(older);
	sqlite3_clear_bindings(older);
	return err;
}

int store_jobs_load_newest(struct store *s, uint32_t max, store_job_cb cb, void *user,
			   uint64_t *older_final)
{
	if (!s || !cb)
		return -EINVAL;
	return store_jobs_newest(s, NULL, max, cb, user, older_final);
}

int store_jobs_load_newest_of(struct store *s, const char *owner, uint32_t max, store_job_cb cb,
			      void *user, uint64_t *older_final)
{
	if (!s || !cb || !owner)
		return -EINVAL;
	return store_jobs_newest(s, owner, max, cb, user, older_final);
}

int store_job_get(struct store *s, uint64_t id, struct store_job *out)
{
	sqlite3_stmt *st;
	int rc, err;

	if (!s || !out)
		return -EINVAL;
	st = s->st[ST_JOB_GET];
	if (sqlite3_stmt_busy(st))
		return -EBUSY;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = store_job_row(s, st, out);
	else
		err = rc == SQLITE_DONE ? -ENOENT : store_rc(s->db, rc);
	sqlite3_reset(st);
	return err;
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

void store_interrupt_set(struct store *s, store_stop_cb stop, void *user)
{
	if (s)
		sqlite3_progress_handler(s->db, stop ? 10000 : 0, stop, user);
}

