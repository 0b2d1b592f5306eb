/* SPDX-License-Identifier: MIT */
/* What the driver waits for: leases whose agent went away (kept out of plans
 * for reconnect_grace_s, then requeued), and GPUs of stopped workers (no
 * lease starts there until the worker's TaskExit or the stop timeout: a
 * lease planned on them waits, booked, and starts then). */
#include "driver_impl.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool driver_gpu_is_free(const struct drv_gpu *g)
{
	return g->job_id == 0 && g->vacate_lease == 0 && !g->measuring;
}

static void drv_on_deadline(uv_timer_t *t)
{
	struct driver *d = t->data;

	d->deadline_at = 0;
	driver_deadlines_run(d, driver_now());
}

void driver_deadline_arm(struct driver *d, double when)
{
	double in_ms;

	if (d->closing || (d->deadline_at > 0 && d->deadline_at <= when))
		return;
	in_ms = (when - driver_now()) * 1000;
	d->deadline_at = when;
	uv_timer_start(&d->deadline_timer, drv_on_deadline,
		       in_ms > 0 ? (uint64_t)ceil(in_ms) + 1 : 0, 0);
}

void driver_gpu_vacate(struct driver *d, uint32_t node, uint32_t slot, uint64_t job,
		      uint64_t lease, uint32_t rank, double finish_until)
{
	struct drv_gpu *g = &d->nodes[node].gpus[slot];
	double until = fmax(driver_now(), finish_until) + d->nodes[node].stop_grace_s +
		       DRIVER_STOP_MARGIN_S;

	/* whoever holds or has booked it: only new starts wait for it to be vacated */
	if (g->vacate_lease && (g->vacate_job != job || g->vacate_lease != lease ||
			       g->vacate_rank != rank)) {
		/* another stopped worker is still on it: wait for the later */
		g->vacate_until = fmax(g->vacate_until, until);
		return;
	}
	if (g->vacate_lease)
		return;		/* already waiting for this worker */
	g->vacate_job = job;
	g->vacate_lease = lease;
	g->vacate_rank = rank;
	g->vacate_until = until;
	g->finish_until = finish_until;
	driver_deadline_arm(d, until);
}

static void drv_vacate_end(struct drv_gpu *g)
{
	g->vacate_job = g->vacate_lease = 0;
	g->vacate_rank = 0;
	g->vacate_until = 0;
	g->finish_until = 0;
}

/* ---- leases waiting for their GPUs ---- */

int driver_pend_set(struct driver *d, struct drv_job *j, const struct drv_rank *ranks, uint32_t n)
{
	struct drv_rank *p = calloc(n, sizeof(*p));

	if (!p)
		return -ENOMEM;
	memcpy(p, ranks, n * sizeof(*p));
	driver_pend_drop(d, j);
	j->pend = p;
	j->npend = n;
	for (uint32_t i = 0; i < n; i++)
		d->nodes[p[i].node].gpus[p[i].slot].job_id = j->rec.id;
	log_debug("job=%" PRIu64 " waits for stopped workers to leave its GPUs", j->rec.id);
	return 0;
}

void driver_pend_drop(struct driver *d, struct drv_job *j)
{
	for (uint32_t i = 0; i < j->npend; i++) {
		const struct drv_rank *r = &j->pend[i];

		if (r->node < d->nnodes && r->slot < d->nodes[r->node].ngpus &&
		    d->nodes[r->node].gpus[r->slot].job_id == j->rec.id)
			d->nodes[r->node].gpus[r->slot].job_id = 0;
	}
	free(j->pend);
	j->pend = NULL;
	j->npend = 0;
}

bool driver_job_vacating(const struct driver *d, uint64_t job)
{
	for (uint32_t n = 0; n < d->nnodes; n++)
		for (uint32_t k = 0; k < d->nodes[n].ngpus; k++)
			if (d->nodes[n].gpus[k].vacate_lease && d->nodes[n].gpus[k].vacate_job == job)
				return true;
	return false;
}

/* 1: every GPU of j's waiting lease is free now and none of j's stopped
 * workers is left; 0: some GPU is still being vacated; -1: some went away (node down,
 * drained or unhealthy meanwhile: a worker's exit with a node fault drains its
 * node as it frees the GPU; GPU gone or taken). */
static int drv_pend_ready(const struct driver *d, const struct drv_job *j)
{
	int ready = driver_job_vacating(d, j->rec.id) ? 0 : 1;

	for (uint32_t i = 0; i < j->npend; i++) {
		const struct drv_rank *r = &j->pend[i];
		const struct drv_gpu *g;

		if (r->node >= d->nnodes || !d->nodes[r->node].up || d->nodes[r->node].drained ||
		    d->nodes[r->node].unhealthy || r->slot >= d->nodes[r->node].ngpus)
			return -1;
		g = &d->nodes[r->node].gpus[r->slot];
		if (g->job_id != j->rec.id)
			return -1;
		if (g->vacate_lease)
			ready = 0;
	}
	return ready;
}

void driver_pend_try(struct driver *d)
{
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		struct drv_rank *p = j->pend;
		uint32_t n = j->npend;
		int ready;

		if (!p)
			continue;
		ready = drv_pend_ready(d, j);
		if (ready == 0)
			continue;
		if (ready < 0 || j->lease.id) {
			driver_pend_drop(d, j);
			driver_replan_request(d);
			continue;
		}
		j->pend = NULL;
		j->npend = 0;
		if (driver_lease_start(d, j, p, n) < 0) {
			j->pend = p;
			j->npend = n;
			driver_pend_drop(d, j);
			driver_replan_request(d);
			continue;
		}
		free(p);
	}
	driver_starts_send(d);
}

bool driver_vacate_clear(struct driver *d, uint32_t node, uint64_t job, uint64_t lease,
			uint32_t rank)
{
	bool freed = false;

	if (node >= d->nnodes)
		return false;
	for (uint32_t k = 0; k < d->nodes[node].ngpus; k++) {
		struct drv_gpu *g = &d->nodes[node].gpus[k];

		if (g->vacate_lease != lease || g->vacate_job != job || g->vacate_rank != rank)
			continue;
		drv_vacate_end(g);
		freed = true;
		log_debug("node=%s gpu=%u free: job=%" PRIu64 " lease=%" PRIu64 " rank=%u exited",
			  d->nodes[node].name, g->index, job, lease, rank);
	}
	return freed;
}

/* ---- leases whose agents went away ---- */

void driver_node_hold(struct driver *d, uint32_t node)
{
	double until = driver_now() + d->o.reconnect_grace_s;

	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		bool uses = false;

		driver_adopt_release(d, j, node);
		for (uint32_t r = 0; r < j->npend && !uses; r++)
			uses = j->pend[r].node == node;
		if (uses) {
			driver_pend_drop(d, j);	/* planned on GPUs that are gone */
			driver_replan_request(d);
			uses = false;
		}
		for (uint32_t r = 0; r < j->lease.nranks; r++) {
			struct drv_rank *rk = &j->lease.ranks[r];

			if (rk->node != node || rk->exited)
				continue;
			rk->missing = true;
			uses = true;
		}
		if (!uses)
			continue;
		if (!(d->o.reconnect_grace_s > 0)) {
			driver_job_requeue(d, j, "node-down", "its node went down");
			continue;
		}
		if (j->lease.hold_until == 0) {
			j->lease.hold_until = until;
			log_info("job=%" PRIu64 " lease=%" PRIu64 " waits up to %.1f s for node %s",
				 j->rec.id, j->lease.id, d->o.reconnect_grace_s, d->nodes[node].name);
		}
		driver_deadline_arm(d, j->lease.hold_until);
	}
}

void driver_hold_check(struct driver *d, struct drv_job *j)
{
	if (j->lease.hold_until == 0)
		return;
	for (uint32_t r = 0; r < j->lease.nranks; r++)
		if (j->lease.ranks[r].missing && !j->lease.ranks[r].exited)
			return;
	j->lease.hold_until = 0;
	log_info("job=%" PRIu64 " lease=%" PRIu64 " goes on: its workers are back", j->rec.id,
		 j->lease.id);
	if (d->st)
		store_event(d->st, driver_now(), j->rec.id, "reattach", "workers kept across an agent restart");
	driver_replan_request(d);
}

/* ---- deadlines ---- */

static double drv_vacates_expire(struct driver *d, double now, bool *freed)
{
	double next = INFINITY;

	for (uint32_t n = 0; n < d->nnodes; n++) {
		for (uint32_t k = 0; k < d->nodes[n].ngpus; k++) {
			struct drv_gpu *g = &d->nodes[n].gpus[k];

			if (!g->vacate_lease)
				continue;
			if (g->vacate_until > now) {
				next = fmin(next, g->vacate_until);
				continue;
			}
			log_warn("node=%s gpu=%u: no exit from job=%" PRIu64 " lease=%" PRIu64
				 " rank=%u within %.0f s of its stop; the GPU is used again",
				 d->nodes[n].name, g->index, g->vacate_job, g->vacate_lease, g->vacate_rank,
				 d->nodes[n].stop_grace_s + DRIVER_STOP_MARGIN_S);
			drv_vacate_end(g);
			*freed = true;
		}
	}
	return next;
}

static double drv_holds_expire(struct driver *d, double now)
{
	double next = INFINITY;

	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		char why[160];

		if (j->lease.hold_until == 0)
			continue;
		if (j->lease.hold_until > now) {
			next = fmin(next, j->lease.hold_until);
			continue;
		}
		snprintf(why, sizeof(why), "its workers' agent did not come back within %.1f s",
			 d->o.reconnect_grace_s);
		j->lease.hold_until = 0;
		driver_job_requeue(d, j, "node-down", why);
	}
	return next;
}

/* Failed jobs whose wait is over go back into plans. */
static double drv_retries_expire(struct driver *d, double now)
{
	double next = INFINITY;
	bool due = false;

	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];

		if (j->retry_at == 0)
			continue;
		if (j->retry_at > now) {
			next = fmin(next, j->retry_at);
			continue;
		}
		j->retry_at = 0;
		due = true;
		log_debug("job=%" PRIu64 ": retried after its failure %u", j->rec.id, j->failures);
	}
	if (due)
		driver_replan_request(d);
	return next;
}

void driver_deadlines_run(struct driver *d, double now)
{
	bool freed = false;
	/* holds first: requeueing a lease vacates its other GPUs */
	double next = drv_holds_expire(d, now);

	next = fmin(next, drv_retries_expire(d, now));
	next = fmin(next, driver_unblamed_expire(d, now));
	next = fmin(next, drv_vacates_expire(d, now, &freed));
	if (freed)
		driver_pend_try(d);
	/* GPUs freed here, or dropped when a node registered other GPUs */
	driver_after_vacated(d);
	if (isfinite(next)) {
		d->deadline_at = 0;
		driver_deadline_arm(d, next);
	}
}
