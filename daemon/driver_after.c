/* SPDX-License-Identifier: MIT */
/* Job dependencies (JobSpec.after, after_any, after_notok): a job is kept
 * out of plans until each job it runs after has ended as it needs (DONE;
 * however; CANCELLED or FAILED), and is cancelled when one of them ends
 * otherwise, its own dependents in turn. */
#include "driver_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

/* uthash exits on a failed allocation unless told otherwise */
static int after_oom;
#define uthash_nonfatal_oom(obj) (after_oom = 1)
#include <uthash.h>

static const char *after_state_name(enum store_job_state s)
{
	switch (s) {
	case STORE_QUEUED: return "QUEUED";
	case STORE_RUNNING: return "RUNNING";
	case STORE_DONE: return "DONE";
	case STORE_CANCELLED: return "CANCELLED";
	case STORE_FAILED: return "FAILED";
	default: return "unknown";
	}
}

/* The state of job id: an active job's, else the store's (a batched end
 * included: the store's connection reads its own open batch). 0, -ENOENT
 * for a job neither knows, or the store's error. */
static int after_state(struct driver *d, uint64_t id, enum store_job_state *state)
{
	const struct drv_job *k = driver_job_get(d, id);
	struct store_job rec;
	int rc;

	if (k) {
		*state = k->rec.state;
		return 0;
	}
	if (!d->st || id > INT64_MAX)
		return -ENOENT;
	rc = store_job_get(d->st, id, &rec);
	if (rc == 0)
		*state = rec.state;
	return rc;
}

/* Whether a job it runs after with kind, ended in state, lets it run. */
static bool after_satisfied(uint8_t kind, enum store_job_state state)
{
	switch (kind) {
	case STORE_AFTER_ANY: return true;
	case STORE_AFTER_NOTOK: return state != STORE_DONE;
	default: return state == STORE_DONE;
	}
}

static bool after_ended(enum store_job_state state)
{
	return state == STORE_DONE || state == STORE_CANCELLED || state == STORE_FAILED;
}

/* The kind j runs after job id with (STORE_AFTER_OK if not listed). */
static uint8_t after_kind_of(const struct drv_job *j, uint64_t id)
{
	for (uint32_t i = 0; i < j->rec.nafter && i < STORE_MAX_AFTER; i++)
		if (j->rec.after[i] == id)
			return j->rec.after_kind[i];
	return STORE_AFTER_OK;
}

int driver_after_check(struct driver *d, const uint64_t *after, const uint8_t *kinds, size_t n,
		       char *errbuf, size_t errlen)
{
	enum store_job_state state;
	int rc;

	if (n > STORE_MAX_AFTER) {
		snprintf(errbuf, errlen, "after lists %zu jobs; at most %d", n, STORE_MAX_AFTER);
		return ERR_BAD_SPEC;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t kind = kinds ? kinds[i] : STORE_AFTER_OK;

		for (size_t k = 0; k < i; k++) {
			if (after[k] == after[i]) {
				snprintf(errbuf, errlen, "after lists job %" PRIu64 " twice", after[i]);
				return ERR_BAD_SPEC;
			}
		}
		rc = after[i] ? after_state(d, after[i], &state) : -ENOENT;
		if (rc == -ENOENT) {
			snprintf(errbuf, errlen, "after: no job %" PRIu64, after[i]);
			return ERR_BAD_SPEC;
		}
		if (rc < 0) {
			snprintf(errbuf, errlen, "after: job %" PRIu64 " cannot be read from the store: %s",
				 after[i], err_str(rc));
			return rc;
		}
		if (after_ended(state) && !after_satisfied(kind, state)) {
			snprintf(errbuf, errlen, "after: job %" PRIu64 " is %s%s, so this job would never run",
				 after[i], after_state_name(state),
				 kind == STORE_AFTER_NOTOK ? " and this job runs after it only if it fails" :
				 "");
			return ERR_BAD_SPEC;
		}
	}
	return 0;
}

/* The jobs after one job: uthash's entry. */
struct drv_after_dep {
	uint64_t dep;
	uint64_t *jobs;
	uint32_t n, cap;
	UT_hash_handle hh;
};

/* Append id to a growing array of *n ids (*cap allocated); false when
 * memory ran out. */
static bool after_ids_push(uint64_t **ids, uint32_t *n, uint32_t *cap, uint64_t id)
{
	if (*n == *cap) {
		uint32_t grown = *cap ? *cap * 2 : 4;
		uint64_t *a = realloc(*ids, grown * sizeof(*a));

		if (!a)
			return false;
		*ids = a;
		*cap = grown;
	}
	(*ids)[(*n)++] = id;
	return true;
}

/* Note that job runs after dep; false when memory ran out (ends then look
 * at every job: after_scan). */
static bool after_index_add(struct driver *d, uint64_t dep, uint64_t job)
{
	struct drv_after_dep *e;

	HASH_FIND(hh, d->after_deps, &dep, sizeof(dep), e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return false;
		e->dep = dep;
		after_oom = 0;
		HASH_ADD(hh, d->after_deps, dep, sizeof(e->dep), e);
		if (after_oom) {
			free(e);
			return false;
		}
	}
	return after_ids_push(&e->jobs, &e->n, &e->cap, job);
}

static void after_broken_set(struct driver *d, struct drv_job *j, uint64_t id,
			     enum store_job_state state)
{
	if (j->after_broken)
		return;
	j->after_broken = id;
	j->after_broken_state = state;
	d->after_nbroken++;
}

/* Note DONE job id as one whose workers may still run (once); false when
 * memory ran out (the jobs after it then wait no more for its workers than
 * for it). */
static bool after_done_add(struct driver *d, uint64_t id)
{
	for (uint32_t i = 0; i < d->nafter_done; i++)
		if (d->after_done[i] == id)
			return true;
	return after_ids_push(&d->after_done, &d->nafter_done, &d->after_done_cap, id);
}

void driver_after_resolve(struct driver *d, struct drv_job *j, bool stored)
{
	enum store_job_state state;

	j->nafter_wait = 0;
	for (uint32_t i = 0; i < j->rec.nafter && i < STORE_MAX_AFTER; i++) {
		uint64_t id = j->rec.after[i];
		/* hared took only jobs that existed, so smaller ids: in a
		 * store edited by hand another might never end before it */
		int rc = id < j->rec.id || !stored ? after_state(d, id, &state) : -ENOENT;

		if (rc == -ENOENT) {
			state = (enum store_job_state)0;
		} else if (rc < 0) {
			/* a job that is not active will not end: waiting, the
			 * next start of hared reads it again */
			log_error("job=%" PRIu64 ": job %" PRIu64 ", which it runs after, cannot be read "
				  "from the store (%s); it waits until hared starts again", j->rec.id, id,
				  err_str(rc));
			j->after_wait[j->nafter_wait++] = id;
			continue;
		}
		if (rc == 0 && after_ended(state) && !after_satisfied(j->rec.after_kind[i], state)) {
			after_broken_set(d, j, id, state);
			continue;
		}
		/* DONE, but its workers may still run (saving what this one
		 * reads): waited for as the jobs after it already are */
		if (state == STORE_DONE && !(driver_job_vacating(d, id) && after_done_add(d, id)))
			continue;
		if (state == STORE_CANCELLED || state == STORE_FAILED)
			continue;	/* as this one needs */
		if (state != STORE_QUEUED && state != STORE_RUNNING && state != STORE_DONE) {
			after_broken_set(d, j, id, state);	/* unknown */
			continue;
		}
		j->after_wait[j->nafter_wait++] = id;
		if (!d->after_scan && !after_index_add(d, id, j->rec.id)) {
			log_error("out of memory for the jobs after job %" PRIu64 "; every job's end "
				  "now looks at every job", id);
			d->after_scan = true;
		}
	}
}

/* Job id ended in state: j waits for it no more. */
static void after_job_ended(struct driver *d, struct drv_job *j, uint64_t id,
			    enum store_job_state state)
{
	for (uint32_t k = 0; k < j->nafter_wait; k++) {
		if (j->after_wait[k] != id)
			continue;
		j->after_wait[k] = j->after_wait[--j->nafter_wait];
		if (!after_satisfied(after_kind_of(j, id), state))
			after_broken_set(d, j, id, state);
		else if (j->nafter_wait == 0)
			log_info("job=%" PRIu64 " may run: the jobs it runs after have ended as it needs",
				 j->rec.id);
		return;
	}
}

void driver_after_ended(struct driver *d, uint64_t id, enum store_job_state state)
{
	struct drv_after_dep *e;

	if (d->after_scan) {
		for (uint32_t i = 0; i < d->njobs; i++)
			after_job_ended(d, d->jobs[i], id, state);
		return;
	}
	HASH_FIND(hh, d->after_deps, &id, sizeof(id), e);
	if (!e)
		return;
	HASH_DEL(d->after_deps, e);
	for (uint32_t i = 0; i < e->n; i++) {
		struct drv_job *j = driver_job_get(d, e->jobs[i]);

		if (j)		/* NULL: it ended meanwhile */
			after_job_ended(d, j, id, state);
	}
	free(e->jobs);
	free(e);
}

void driver_after_done(struct driver *d, uint64_t id)
{
	struct drv_after_dep *e = NULL;

	if (!d->after_scan)
		HASH_FIND(hh, d->after_deps, &id, sizeof(id), e);
	if ((!e && !d->after_scan) || !driver_job_vacating(d, id) || !after_done_add(d, id)) {
		driver_after_ended(d, id, STORE_DONE);
		return;
	}
	log_debug("job=%" PRIu64 " DONE: the jobs after it wait for its workers to exit", id);
}

void driver_after_vacated(struct driver *d)
{
	bool released = false;

	for (uint32_t i = 0; i < d->nafter_done;) {
		uint64_t id = d->after_done[i];

		if (driver_job_vacating(d, id)) {
			i++;
			continue;
		}
		d->after_done[i] = d->after_done[--d->nafter_done];
		driver_after_ended(d, id, STORE_DONE);
		released = true;
	}
	if (released) {
		driver_after_cancel(d);		/* the jobs after it only if it failed */
		driver_replan_request(d);
	}
}

double *driver_after_weights(const struct driver *d)
{
	uint32_t i, n = 0, *from, *idx;
	double *w;

	for (i = 0; i < d->njobs; i++)
		n += d->jobs[i]->rec.held ? 0 : d->jobs[i]->nafter_wait;
	if (n == 0)
		return NULL;	/* none waits (but held ones): their own weights */
	w = malloc(d->njobs * sizeof(*w));
	from = malloc((d->njobs + 1) * sizeof(*from));
	idx = malloc(n * sizeof(*idx));
	if (!w || !from || !idx) {	/* no memory: their own weights */
		free(w);
		free(from);
		free(idx);
		return NULL;
	}
	n = 0;
	for (i = 0; i < d->njobs; i++) {
		const struct drv_job *j = d->jobs[i];

		w[i] = j->rec.weight;
		from[i] = n;
		/* a held job will not run soon: it lends no weight */
		for (uint32_t k = 0; k < j->nafter_wait && !j->rec.held; k++) {
			int at = driver_job_index(d, j->after_wait[k]);

			/* shares go to active jobs only (one DONE whose workers
			 * are exiting, or unreadable, takes none), and not to
			 * one this job runs after only if it fails */
			if (at >= 0 && after_kind_of(j, j->after_wait[k]) != STORE_AFTER_NOTOK)
				idx[n++] = (uint32_t)at;
		}
	}
	from[d->njobs] = n;
	sched_after_weights(d->njobs, w, from, idx);
	/* max_user_weight bounds what a user's job is planned with too: jobs
	 * after it (a user's own, held or tiny ones) must not lift it past */
	for (i = 0; d->o.max_user_weight > 0 && i < d->njobs; i++)
		if (strcmp(d->jobs[i]->rec.user, "root") != 0)
			w[i] = fmin(w[i], fmax(d->jobs[i]->rec.weight, d->o.max_user_weight));
	free(from);
	free(idx);
	return w;
}

void driver_after_forget(struct driver *d, const struct drv_job *j)
{
	int i = driver_job_index(d, j->rec.id);

	if (j->after_broken && d->after_nbroken > 0)
		d->after_nbroken--;
	/* the jobs after it come after it (larger ids): look there first */
	if (i >= 0)
		d->after_cursor = (uint32_t)i;
}

void driver_after_free(struct driver *d)
{
	struct drv_after_dep *e, *tmp;

	free(d->after_done);
	HASH_ITER(hh, d->after_deps, e, tmp) {
		HASH_DEL(d->after_deps, e);
		free(e->jobs);
		free(e);
	}
}

/* A job to cancel, looking from after_cursor on (then from the start). */
static struct drv_job *after_next_broken(struct driver *d)
{
	uint32_t from = d->after_cursor < d->njobs ? d->after_cursor : 0;

	if (d->after_nbroken == 0)
		return NULL;
	for (uint32_t k = 0; k < d->njobs; k++) {
		struct drv_job *j = d->jobs[(from + k) % d->njobs];

		if (j->after_broken)
			return j;
	}
	return NULL;
}

void driver_after_cancel(struct driver *d)
{
	struct drv_job *j;

	/* driver_job_finish calls back here: the outer loop takes the jobs
	 * each end marks, so a long chain does not nest */
	if (d->after_cancelling)
		return;
	d->after_cancelling = true;
	while ((j = after_next_broken(d))) {
		char why[160];

		if (d->st && !d->ends_unsaved) {
			d->ends_failures = store_write_failures(d->st, NULL);
			d->ends_unsaved = true;
		}
		if (j->after_broken_state)
			snprintf(why, sizeof(why), "job %" PRIu64 ", which it runs after%s, ended %s",
				 j->after_broken,
				 after_kind_of(j, j->after_broken) == STORE_AFTER_NOTOK ?
				 " only if it fails" : "",
				 after_state_name(j->after_broken_state));
		else
			snprintf(why, sizeof(why), "job %" PRIu64 ", which it runs after, is unknown",
				 j->after_broken);
		driver_job_finish(d, j, STORE_CANCELLED, why);
	}
	d->after_cancelling = false;
}
