/* SPDX-License-Identifier: MIT */
/* Job dependencies (JobSpec.after): a job is kept out of plans until each
 * job it runs after is DONE, and is cancelled when one of them is
 * cancelled or fails, its own dependents in turn. */
#include "driver_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "log.h"

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
 * included: the store's connection reads its own open batch). 0, or
 * -ENOENT for a job neither knows. */
static int after_state(struct driver *d, uint64_t id, enum store_job_state *state)
{
	const struct drv_job *k = driver_job_get(d, id);
	struct store_job rec;

	if (k) {
		*state = k->rec.state;
		return 0;
	}
	if (!d->st || id > INT64_MAX || store_job_get(d->st, id, &rec) < 0)
		return -ENOENT;
	*state = rec.state;
	return 0;
}

int driver_after_check(struct driver *d, const uint64_t *after, size_t n, char *errbuf,
		       size_t errlen)
{
	enum store_job_state state;

	if (n > STORE_MAX_AFTER) {
		snprintf(errbuf, errlen, "after lists %zu jobs; at most %d", n, STORE_MAX_AFTER);
		return ERR_BAD_SPEC;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < i; k++) {
			if (after[k] == after[i]) {
				snprintf(errbuf, errlen, "after lists job %" PRIu64 " twice", after[i]);
				return ERR_BAD_SPEC;
			}
		}
		if (after[i] == 0 || after_state(d, after[i], &state) < 0) {
			snprintf(errbuf, errlen, "after: no job %" PRIu64, after[i]);
			return ERR_BAD_SPEC;
		}
		if (state == STORE_CANCELLED || state == STORE_FAILED) {
			snprintf(errbuf, errlen, "after: job %" PRIu64 " is %s, so this job would never run",
				 after[i], after_state_name(state));
			return ERR_BAD_SPEC;
		}
	}
	return 0;
}

void driver_after_resolve(struct driver *d, struct drv_job *j)
{
	enum store_job_state state;

	j->nafter_wait = 0;
	for (uint32_t i = 0; i < j->rec.nafter && i < STORE_MAX_AFTER; i++) {
		uint64_t id = j->rec.after[i];

		if (after_state(d, id, &state) < 0)
			state = (enum store_job_state)0;
		if (state == STORE_DONE)
			continue;
		if (state == STORE_QUEUED || state == STORE_RUNNING) {
			j->after_wait[j->nafter_wait++] = id;
		} else if (!j->after_broken) {
			j->after_broken = id;
			j->after_broken_state = state;
		}
	}
}

void driver_after_ended(struct driver *d, uint64_t id, enum store_job_state state)
{
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];

		for (uint32_t k = 0; k < j->nafter_wait; k++) {
			if (j->after_wait[k] != id)
				continue;
			j->after_wait[k] = j->after_wait[--j->nafter_wait];
			if (state != STORE_DONE && !j->after_broken) {
				j->after_broken = id;
				j->after_broken_state = state;
			} else if (state == STORE_DONE && j->nafter_wait == 0) {
				log_info("job=%" PRIu64 " may run: the jobs it runs after are DONE",
					 j->rec.id);
			}
			break;
		}
	}
}

static struct drv_job *after_next_broken(struct driver *d)
{
	for (uint32_t i = 0; i < d->njobs; i++)
		if (d->jobs[i]->after_broken)
			return d->jobs[i];
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
			snprintf(why, sizeof(why), "job %" PRIu64 ", which it runs after, ended %s",
				 j->after_broken, after_state_name(j->after_broken_state));
		else
			snprintf(why, sizeof(why), "job %" PRIu64 ", which it runs after, is unknown",
				 j->after_broken);
		driver_job_finish(d, j, STORE_CANCELLED, why);
	}
	d->after_cancelling = false;
}
