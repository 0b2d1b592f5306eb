/* SPDX-License-Identifier: MIT */
/* The store's jobs: a new job's insert (committed before its ack, or staged
 * in the batch), its progress, state and settings, and the jobs read back
 * with their ends not committed yet. */
#include "store_impl.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_TYPES_LEN (STORE_MAX_TYPES * 16)
#define STORE_AFTER_LEN (STORE_MAX_AFTER * 27)	/* "notok:", 20 digits and a comma each */

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

int store_job_state_write(struct store *s, uint64_t id, int state, double when)
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
