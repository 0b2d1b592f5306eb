/* SPDX-License-Identifier: MIT */
/* Re-plans: debounced requests, the policy run off the loop on a snapshot
 * (one plan at a time), the plan applied as lease stops and starts, the
 * start-up sequence, and plan latency statistics. */
#include "driver_impl.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Worker thread: the policy on the snapshot; nothing else is touched. */
static void drv_on_work(uv_work_t *w)
{
	struct driver_snapshot *s = w->data;

	driver_snapshot_plan_run(s->d, s);
}

/* Loop thread: apply the plan (unless shutting down), then run what waited
 * for it: forgotten jobs, and another plan if events came meanwhile. */
static void drv_on_after_work(uv_work_t *w, int status)
{
	struct driver_snapshot *s = w->data;
	struct driver *d = s->d;

	d->inflight = NULL;
	if (!d->closing && status == 0)
		driver_plan_apply(d, s);
	driver_snapshot_free(s);
	for (uint32_t i = 0; i < d->nforget; i++)
		sched_policy_forget(d->policy, d->forget[i]);
	d->nforget = 0;
	if (!d->closing && d->want_plan)
		driver_replan_request(d);
}

/* Snapshot the state and hand it to the thread pool, unless a plan is in
 * flight, the adoption grace period runs, or there is nothing to plan. */
static void drv_plan_start(struct driver *d)
{
	struct driver_snapshot *s;
	int rc;

	if (d->closing || d->inflight || d->grace || !d->started)
		return;
	d->want_plan = false;
	if (d->njobs == 0)
		return;
	rc = driver_snapshot_take(d, &s);
	if (rc < 0) {
		log_error("re-plan: cannot take a snapshot: %s", err_str(rc));
		return;
	}
	if (s->snap.njobs == 0) {
		driver_snapshot_free(s);	/* every job waits for an agent */
		return;
	}
	s->work.data = s;
	d->inflight = s;
	rc = uv_queue_work(d->loop, &s->work, drv_on_work, drv_on_after_work);
	if (rc < 0) {
		log_error("re-plan: uv_queue_work: %s", uv_strerror(rc));
		d->inflight = NULL;
		driver_snapshot_free(s);
	}
}

static void drv_on_debounce(uv_timer_t *t)
{
	drv_plan_start(t->data);
}

void driver_replan_request(struct driver *d)
{
	d->want_plan = true;
	if (d->closing || d->grace || !d->started || d->inflight)
		return;
	if (uv_is_active((uv_handle_t *)&d->debounce))
		return;
	uv_timer_start(&d->debounce, drv_on_debounce, d->o.replan_debounce_ms, 0);
}

static void drv_on_replan_at(uv_timer_t *t)
{
	driver_replan_request(t->data);
}

static void drv_on_grace(uv_timer_t *t)
{
	driver_grace_end(t->data);
}

void driver_start(struct driver *d)
{
	double now = driver_now(), first = now;
	bool adopt = false;

	/* a job it runs after ended CANCELLED or FAILED while it was stored
	 * (hared stopped before it cancelled this one) */
	driver_after_cancel(d);
	for (uint32_t i = 0; i < d->njobs; i++) {
		first = fmin(first, d->jobs[i]->rec.submit_time > 0 ? d->jobs[i]->rec.submit_time : now);
		adopt |= d->jobs[i]->adopt_wait;
	}
	d->epoch = floor(first) - 1;
	d->started = true;
	if (adopt && d->o.reconnect_grace_s > 0) {
		d->grace = true;
		uv_timer_start(&d->grace_timer, drv_on_grace,
			       (uint64_t)(d->o.reconnect_grace_s * 1000), 0);
		log_info("waiting %.1f s for agents to report running jobs", d->o.reconnect_grace_s);
	} else if (adopt) {
		driver_grace_end(d);
	}
	driver_replan_request(d);
}

/* Keep the plan's order and projections on each job it names; a job it
 * does not name (held for its agent, changed since the snapshot) has no
 * place in it, rather than its place in an older plan, which the new one
 * may give to another job. */
static void drv_plan_note(struct driver *d, struct driver_snapshot *s, struct drv_job **cur)
{
	for (uint32_t i = 0; i < d->njobs; i++) {
		d->jobs[i]->order = UINT32_MAX;
		d->jobs[i]->est_start = d->jobs[i]->est_finish = 0;
	}
	for (uint32_t i = 0; i < s->snap.njobs; i++) {
		const struct sched_assign *a = &s->plan.assigns[i];

		if (!cur[i])
			continue;
		cur[i]->order = a->rank;
		cur[i]->est_start = isfinite(a->start_s) ? a->start_s + d->epoch : 0;
		cur[i]->est_finish = isfinite(a->finish_s) ? a->finish_s + d->epoch : 0;
	}
}

/* Was the job held (harectl hold) or its GPU range changed (harectl
 * update) since the snapshot? Then the plan does not apply to it. */
static bool drv_plan_current(const struct drv_job *j, const struct sched_job *sj)
{
	return !j->rec.held && j->rec.min_gpus == sj->min_gpus && j->rec.max_gpus == sj->max_gpus;
}

/* Is the plan's placement for snapshot job i exactly ranks[0..n)? */
static bool drv_same_place(const struct driver_snapshot *s, uint32_t i, const struct drv_rank *ranks,
			   uint32_t n)
{
	const struct sched_assign *a = &s->plan.assigns[i];
	uint32_t used = 0;

	for (uint32_t k = 0; k < a->ngpus; k++) {
		uint32_t g = s->plan.gpus[a->first + k];
		uint16_t t = s->plan.tasks[a->first + k];
		bool found = false;

		if (t == 0)
			continue;
		used++;
		for (uint32_t r = 0; r < n && !found; r++)
			found = ranks[r].node == s->gpu_node[g] && ranks[r].slot == s->gpu_slot[g] &&
				ranks[r].tasks == t;
		if (!found)
			return false;
	}
	return used == n;
}

/* Ranks for the plan's placement of snapshot job i (id job), if every GPU
 * is still there, up and free (or booked for job). Returns the count, 0 if
 * the placement is stale; *waits when a stopped worker is still on some
 * GPU (the lease must wait for it). */
static uint32_t drv_plan_ranks(const struct driver *d, const struct driver_snapshot *s, uint32_t i,
			       uint64_t job, struct drv_rank *out, bool *waits)
{
	const struct sched_assign *a = &s->plan.assigns[i];
	uint32_t n = 0;

	*waits = false;
	for (uint32_t k = 0; k < a->ngpus; k++) {
		uint32_t g = s->plan.gpus[a->first + k];
		uint16_t t = s->plan.tasks[a->first + k];
		const struct drv_node *node;

		if (t == 0)
			continue;
		if (n == DRIVER_MAX_GPUS || s->gpu_node[g] >= d->nnodes)
			return 0;
		node = &d->nodes[s->gpu_node[g]];
		if (!node->up || node->drained || node->unhealthy || s->gpu_slot[g] >= node->ngpus ||
		    (node->gpus[s->gpu_slot[g]].job_id && node->gpus[s->gpu_slot[g]].job_id != job) ||
		    node->gpus[s->gpu_slot[g]].type != s->cluster.gpus[g].type)
			return 0;
		*waits |= node->gpus[s->gpu_slot[g]].vacate_lease != 0;
		out[n++] = (struct drv_rank){ .node = s->gpu_node[g], .slot = s->gpu_slot[g],
					      .tasks = t };
	}
	return n;
}

static void drv_plan_stats(struct driver *d, const struct driver_snapshot *s)
{
	d->plan_ms[d->plans % DRIVER_PLAN_WINDOW] = s->plan_ms;
	d->plans++;
	d->plan_ms_sum += s->plan_ms;
	d->lp_bound = s->plan.lp_bound;
	log_debug("plan jobs=%u gpus=%u ms=%.3f lp_bound=%.1f path=%d", s->snap.njobs,
		  s->cluster.ngpus, s->plan_ms, s->plan.lp_bound, (int)s->plan.lp_path);
}

/* Why the plan stops j's lease, for its history and its workers' output: a
 * move off a drained node (by an operator or the quarantine) or off an
 * unhealthy one says so. */
static void drv_preempt_why(const struct driver *d, const struct drv_job *j, char *why, size_t len)
{
	for (uint32_t k = 0; k < j->lease.nranks; k++) {
		const struct drv_node *n = &d->nodes[j->lease.ranks[k].node];

		if (j->lease.ranks[k].node < d->nnodes && n->drained) {
			snprintf(why, len, "moved off node %s, drained%s%.200s%s", n->name,
				 n->drain_reason[0] ? " (" : "", n->drain_reason,
				 n->drain_reason[0] ? ")" : "");
			return;
		}
		if (j->lease.ranks[k].node < d->nnodes && n->unhealthy) {
			snprintf(why, len, "moved off node %s, unhealthy (%.200s)", n->name,
				 n->health_reason);
			return;
		}
	}
	snprintf(why, len, "preempted by the plan");
}

/* Stop what the plan no longer runs there, then start the new placements
 * (stops first, so freed GPUs can be reused in the same plan). */
static int drv_plan_leases(struct driver *d, struct driver_snapshot *s, struct drv_job **cur)
{
	struct drv_rank ranks[DRIVER_MAX_GPUS];
	bool stale = false;
	int rc = 0;

	for (uint32_t i = 0; i < s->snap.njobs; i++) {
		const struct sched_assign *a = &s->plan.assigns[i];
		struct drv_job *j = cur[i];
		bool keep;

		if (!j || (!j->lease.id && !j->pend))
			continue;
		keep = a->run_now && a->ngpus > 0 &&
		       (j->lease.id ? drv_same_place(s, i, j->lease.ranks, j->lease.nranks) :
			drv_same_place(s, i, j->pend, j->npend));
		if (keep)
			continue;
		if (j->lease.id) {
			char why[320];

			drv_preempt_why(d, j, why, sizeof(why));
			d->preemptions++;
			driver_job_requeue_only(d, j, "preempt", why);
		}
		else
			driver_pend_drop(d, j);
	}
	for (uint32_t i = 0; i < s->snap.njobs && rc == 0; i++) {
		const struct sched_assign *a = &s->plan.assigns[i];
		bool waits;
		uint32_t n;

		if (!cur[i] || cur[i]->lease.id || cur[i]->pend || !a->run_now || a->ngpus == 0)
			continue;
		n = drv_plan_ranks(d, s, i, cur[i]->rec.id, ranks, &waits);
		if (n == 0) {
			stale = true;
			continue;
		}
		/* on GPUs a stopped worker still holds, or while the job's own
		 * stopped workers write their last checkpoint, it starts once
		 * they exit (from the round they reached) */
		waits |= driver_job_vacating(d, cur[i]->rec.id);
		rc = waits ? driver_pend_set(d, cur[i], ranks, n) : driver_lease_start(d, cur[i], ranks, n);
	}
	if (stale)
		driver_replan_request(d);
	return rc;
}

int driver_plan_apply(struct driver *d, struct driver_snapshot *s)
{
	struct drv_job **cur;
	char why[256] = "";
	int rc;

	if (s->rc < 0) {
		log_warn("plan failed (%s); leases unchanged", err_str(s->rc));
		return s->rc;
	}
	rc = sched_plan_check(&s->snap, &s->plan, why, sizeof(why));
	if (rc == -EINVAL) {
		/* a wrong placement of a job that waits: the others go ahead */
		rc = sched_plan_drop_invalid(&s->snap, &s->plan, why, sizeof(why));
		if (rc > 0 && sched_plan_check(&s->snap, &s->plan, why, sizeof(why)) == 0) {
			log_error("policy %s placed %d waiting job%s wrongly (%s); %s not started, "
				  "the rest of the plan is", d->policy_name, rc, rc == 1 ? "" : "s",
				  why, rc == 1 ? "it is" : "they are");
			rc = 0;
		} else if (rc >= 0) {
			rc = -EINVAL;
		}
	}
	if (rc < 0) {
		log_error("policy %s gave an invalid plan (%s); leases unchanged", d->policy_name, why);
		return rc;
	}
	drv_plan_stats(d, s);
	cur = calloc(s->snap.njobs ? s->snap.njobs : 1, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	/* Jobs that ended, or whose lease changed or lost an agent, since the
	 * snapshot are left alone; the re-plan their event asked for covers
	 * them. */
	for (uint32_t i = 0; i < s->snap.njobs; i++) {
		struct drv_job *j = driver_job_get(d, s->job_ids[i]);

		cur[i] = j && j->lease.id == s->lease_ids[i] && j->lease.hold_until == 0 &&
			 drv_plan_current(j, &s->snap.jobs[i]) ? j : NULL;
	}
	drv_plan_note(d, s, cur);
	rc = drv_plan_leases(d, s, cur);
	free(cur);
	driver_starts_send(d);
	/* a time after the snapshot's that has passed while the plan ran
	 * (a lease protection ending within milliseconds) fires at once */
	if (isfinite(s->plan.replan_at_s) && s->plan.replan_at_s > s->snap.now_s) {
		double in_s = fmax(0.0, s->plan.replan_at_s + d->epoch - driver_now());

		if (!d->closing && in_s < 86400 * 365)
			uv_timer_start(&d->replan_at, drv_on_replan_at, (uint64_t)(in_s * 1000) + 1, 0);
	}
	return rc;
}

int driver_snapshot_plan_run(struct driver *d, struct driver_snapshot *s)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	s->rc = sched_policy_plan(d->policy, &s->snap, &s->plan);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->plan_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return s->rc;
}

static int drv_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void driver_stats_get(const struct driver *d, struct driver_stats *out)
{
	double v[DRIVER_PLAN_WINDOW], now = driver_now();
	uint32_t n = d->plans < DRIVER_PLAN_WINDOW ? (uint32_t)d->plans : DRIVER_PLAN_WINDOW;

	memset(out, 0, sizeof(*out));
	out->plans = d->plans;
	out->plan_ms_sum = d->plan_ms_sum;
	out->lp_bound_s = d->lp_bound;
	out->reports = d->reports;
	out->reports_ignored = d->reports_ignored;
	out->done = d->ended[0];
	out->cancelled = d->ended[1];
	out->failed = d->ended[2];
	out->worker_failures = d->worker_failures;
	out->preemptions = d->preemptions;
	out->quarantines = d->quarantines;
	out->node_faults = d->node_faults;
	out->health_fails = d->health_fails;
	out->peer_failures = d->peer_failures;
	out->late_blames = d->late_blames;
	out->nodes_forgotten = d->nodes_forgotten;
	out->unexplained = d->unexplained;
	out->ntypes = d->ntypes;
	memcpy(out->gpu_s, d->gpu_s_ended, sizeof(out->gpu_s));
	for (uint32_t k = 0; k < d->njobs; k++)
		if (d->jobs[k]->lease.id)
			driver_lease_gpu_s(d, d->jobs[k], now, out->gpu_s);
	if (n == 0)
		return;
	memcpy(v, d->plan_ms, n * sizeof(double));
	qsort(v, n, sizeof(double), drv_cmp_double);
	out->plan_p50_ms = v[(n - 1) / 2];
	out->plan_p99_ms = v[(uint32_t)ceil(0.99 * n) - 1];
}
