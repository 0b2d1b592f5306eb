/* SPDX-License-Identifier: MIT */
/* Leases in the engine: start, keep or end them as a plan says, bring running
 * jobs to an event time in closed form, and end the leases that fail (the
 * failure model: nodes to avoid, quarantine, retries). */
#include "engine_impl.h"

#include "heap.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* End job j's lease at tend: account its GPU time, free its GPUs. */
static void eng_lease_end(struct eng *e, struct sched_job *j, double tend)
{
	struct eng_job *s = &e->st[j->id];
	double dur = fmax(0.0, tend - j->lease_start_s);

	for (uint32_t k = 0; k < j->nheld; k++) {
		uint32_t g = s->held_gpus[k];

		e->r->gpu_s[(size_t)j->id * e->c->ntypes + e->c->gpus[g].type] += dur;
		e->gpu_owner[g] = ENG_NO_JOB;
		e->busy[e->c->gpus[g].type]--;
	}
	if (j->nheld > 0)
		e->nrunning--;
	e->r->busy_gpu_s += j->nheld * dur;
	e->run[j - e->act] = 0;
	j->attained_gpu_s = s->attained_at_start + j->nheld * dur;
	j->last_run_s = tend;
	j->nheld = 0;
	s->gen++;
}

/* Drop the jobs marked in e->mark from the active set, keeping arrival
 * order. The front half closes its gaps by moving right (the window's start
 * advances), the back half by moving left, so a completion near either end
 * moves few jobs: FIFO-like policies finish the oldest jobs, near the front
 * of a long queue. */
static void eng_compact(struct eng *e)
{
	uint32_t n = e->nact, mid = n / 2, lo = mid, hi = mid;

	for (uint32_t i = mid; i-- > 0;) {
		if (e->mark[i])
			continue;
		if (--lo != i) {
			e->act[lo] = e->act[i];
			e->run[lo] = e->run[i];
		}
	}
	for (uint32_t i = mid; i < n; i++) {
		if (e->mark[i])
			continue;
		if (hi != i) {
			e->act[hi] = e->act[i];
			e->run[hi] = e->run[i];
		}
		hi++;
	}
	e->act += lo;
	e->run += lo;
	e->nact = hi - lo;
}

static bool eng_node_bad(const struct eng *e, uint32_t node)
{
	for (uint32_t i = 0; e->opts && i < e->opts->nbad; i++)
		if (e->opts->bad_nodes[i] == node)
			return true;
	return false;
}

/* A lease of job id failed at t on node: remember it. */
static void eng_quarantine_note(struct eng *e, uint32_t node, uint32_t id, double t)
{
	size_t at = (size_t)node * SIM_QUARANTINE_FAILS + e->qfail_next[node];

	e->qfail_t[at] = t;
	e->qfail_job[at] = id;
	e->qfail_next[node] = (e->qfail_next[node] + 1) % SIM_QUARANTINE_FAILS;
}

/* Take node out of service at t when the quarantine says so (hared's
 * driver_node_quarantine, without its users guard: the simulator has no
 * users). The leases there end at t (a failure of theirs at t is still
 * counted by eng_failures); the caller re-plans. */
static void eng_quarantine(struct eng *e, uint32_t node, double t)
{
	double *ft = e->qfail_t + (size_t)node * SIM_QUARANTINE_FAILS;
	uint32_t *fj = e->qfail_job + (size_t)node * SIM_QUARANTINE_FAILS, jobs = 0;

	if (e->r->quarantined >= e->opts->quarantine_max_nodes)
		return;
	for (uint32_t k = 0; k < SIM_QUARANTINE_FAILS; k++) {
		bool seen = false;

		if (!(ft[k] >= t - SIM_QUARANTINE_WINDOW_S))
			continue;
		for (uint32_t q = 0; q < k && !seen; q++)
			seen = ft[q] >= t - SIM_QUARANTINE_WINDOW_S && fj[q] == fj[k];
		jobs += !seen;
	}
	if (jobs < e->opts->quarantine_jobs)
		return;
	e->r->quarantined++;
	for (uint32_t g = 0; g < e->qc.ngpus; g++) {
		if (e->qgpus[g].node != node || !e->qgpus[g].up)
			continue;
		e->qgpus[g].up = false;
		for (uint32_t i = 0; i < e->nact && e->gpu_owner[g] != ENG_NO_JOB; i++)
			if (e->run[i] && e->act[i].id == e->gpu_owner[g])
				eng_lease_end(e, &e->act[i], t);
	}
	for (uint32_t k = 0; k < SIM_QUARANTINE_FAILS; k++)
		ft[k] = -INFINITY;
}

/* For each distinct bad node still in service among the first n GPUs of
 * s's lease: note job id's failure there, or (note false) quarantine it if
 * due. held_gpus keeps its entries after the lease ends. */
static void eng_bad_nodes_each(struct eng *e, const struct eng_job *s, uint32_t n, uint32_t id,
			       double t, bool note)
{
	for (uint32_t k = 0; k < n; k++) {
		uint32_t node = e->c->gpus[s->held_gpus[k]].node;
		bool dup = false;

		for (uint32_t q = 0; q < k && !dup; q++)
			dup = e->c->gpus[s->held_gpus[q]].node == node;
		if (dup || !eng_node_bad(e, node) || !e->c->gpus[s->held_gpus[k]].up)
			continue;
		if (note)
			eng_quarantine_note(e, node, id, t);
		else
			eng_quarantine(e, node, t);
	}
}

/* The leases whose failure events fired at t end now (after eng_advance
 * credited their rounds); with avoid_bad their jobs avoid those nodes. */
void eng_failures(struct eng *e, double t)
{
	bool any_failed = false;

	if (e->fails_pending == 0)
		return;
	memset(e->mark, 0, e->nact * sizeof(*e->mark));
	for (uint32_t i = 0; i < e->nact && e->fails_pending > 0; i++) {
		struct sched_job *j = &e->act[i];
		struct eng_job *s = &e->st[j->id];

		/* not running: a quarantine at t ended its lease (below) */
		if (!s->fail_pending)
			continue;
		s->fail_pending = false;
		e->fails_pending--;
		for (uint32_t k = 0; e->opts->avoid_bad && k < j->nheld; k++) {
			uint32_t node = e->c->gpus[s->held_gpus[k]].node;
			bool dup = false;

			for (uint32_t a = 0; a < s->navoid && !dup; a++)
				dup = s->avoid[a] == node;
			if (dup || !eng_node_bad(e, node))
				continue;
			if (s->navoid == DRIVER_AVOID_SIM) {	/* the oldest gives way */
				memmove(s->avoid, s->avoid + 1, (DRIVER_AVOID_SIM - 1) * sizeof(*s->avoid));
				s->navoid--;
			}
			s->avoid[s->navoid++] = node;
		}
		j->navoid = s->navoid;
		if (e->opts->quarantine_jobs > 0) {
			uint32_t n = j->nheld;

			/* every bad node of the lease first: a quarantine ends it */
			eng_bad_nodes_each(e, s, n, j->id, t, true);
			eng_bad_nodes_each(e, s, n, j->id, t, false);
		}
		if (j->nheld > 0)
			eng_lease_end(e, j, t);
		s->fails++;
		e->r->failures_total++;
		if (s->fails > e->opts->max_retries) {
			/* FAILED: it leaves without completing (finish_s stays < 0) */
			e->r->failed++;
			e->r->failed_s[j->id] = t;
			sched_policy_forget(e->p, j->id);
			eng_after_end(e, j->id, false, t);
			e->mark[i] = any_failed = true;
		}
	}
	if (any_failed)
		eng_compact(e);
}

/* Bring every running job to time t; completed jobs leave the active set. */
void eng_advance(struct eng *e, double t)
{
	bool any_done = false;

	memset(e->mark, 0, e->nact * sizeof(*e->mark));
	for (uint32_t i = 0; i < e->nact; i++) {
		struct sched_job *j = &e->act[i];
		struct eng_job *s;

		if (!e->run[i])
			continue;
		s = &e->st[j->id];
		if (s->finish_at <= t + eng_eps(t)) {
			eng_lease_end(e, j, s->finish_at);
			j->rounds_done = j->rounds_total;
			e->r->finish_s[j->id] = s->finish_at;
			e->r->completed++;
			sched_policy_forget(e->p, j->id);
			eng_after_end(e, j->id, true, t);
			e->mark[i] = any_done = true;
			continue;
		}
		double run = t - j->lease_start_s - s->delay_s;
		uint64_t done = s->rounds_at_start;

		if (run > 0)
			done += (uint64_t)floor(run / s->round_s + 1e-9);
		j->rounds_done = done < j->rounds_total ? done : j->rounds_total - 1;
		j->attained_gpu_s = s->attained_at_start + j->nheld * (t - j->lease_start_s);
		j->last_run_s = t;
	}
	if (any_done)
		eng_compact(e);
}

/* Is (gpus, tasks) exactly job j's current lease, in any order? GPUs given
 * no task are not part of a lease. */
static bool eng_same_lease(struct eng *e, const struct sched_job *j, const uint32_t *gpus,
			   const uint16_t *tasks, uint32_t n)
{
	uint32_t used = 0;

	if (++e->stamp == 0) {
		memset(e->gpu_stamp, 0, e->c->ngpus * sizeof(uint32_t));
		e->stamp = 1;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t g = gpus[k];

		if (tasks[k] == 0)
			continue;
		if (g >= e->c->ngpus || e->gpu_owner[g] != j->id || e->gpu_tasks[g] != tasks[k] ||
		    e->gpu_stamp[g] == e->stamp)
			return false;
		e->gpu_stamp[g] = e->stamp;
		used++;
	}
	return used == j->nheld;
}

/* Copy the GPUs of a placement that run tasks into j's lease slots. */
static int eng_lease_copy(struct eng *e, struct sched_job *j, const uint32_t *gpus,
			  const uint16_t *tasks, uint32_t n, double t)
{
	struct eng_job *s = &e->st[j->id];
	uint32_t used = 0;

	for (uint32_t k = 0; k < n; k++) {
		if (tasks[k] == 0)
			continue;
		if (used == j->max_gpus)
			return eng_fail(e, t, "placement wider than max_gpus", j->name);
		if (gpus[k] >= e->c->ngpus || e->gpu_owner[gpus[k]] != ENG_NO_JOB)
			return eng_fail(e, t, "placement on a missing or busy GPU", j->name);
		s->held_gpus[used] = gpus[k];
		s->held_tasks[used++] = tasks[k];
		e->gpu_owner[gpus[k]] = j->id;
		e->gpu_tasks[gpus[k]] = tasks[k];
		e->busy[e->c->gpus[gpus[k]].type]++;
	}
	j->nheld = used;
	if (used > 0) {
		e->nrunning++;
		e->run[j - e->act] = 1;
	}
	if (used == 0)
		return eng_fail(e, t, "placement with no task", j->name);
	return 0;
}

/* Start a lease for j at t on (gpus, tasks); a job that ran before pays its
 * restart cost first. Schedules the lease's completion event. */
static int eng_lease_start(struct eng *e, struct sched_job *j, const uint32_t *gpus,
			   const uint16_t *tasks, uint32_t n, double t)
{
	struct eng_job *s = &e->st[j->id];
	struct sim_event ev = { .kind = SIM_EV_FINISH, .job = j->id };
	char why[96];
	int rc;

	s->round_s = sched_round_time(e->c, j, gpus, tasks, n);
	if (!(s->round_s > 0) || !isfinite(s->round_s)) {
		snprintf(why, sizeof(why), "%s: round time %g", j->name, s->round_s);
		return eng_fail(e, t, "placement the job cannot run on", why);
	}
	rc = eng_lease_copy(e, j, gpus, tasks, n, t);
	if (rc < 0)
		return rc;
	s->delay_s = 0;
	if (j->first_start_s >= 0) {
		s->delay_s = j->perf.restart_s;
		j->restarts++;
		e->r->restarts[j->id]++;
		e->r->restarts_total++;
	} else {
		j->first_start_s = t;
		e->r->start_s[j->id] = t;
	}
	j->lease_start_s = t;
	j->last_run_s = t;
	s->rounds_at_start = j->rounds_done;
	s->attained_at_start = j->attained_gpu_s;
	s->finish_at = t + s->delay_s + (double)sched_job_rounds_left(j) * s->round_s;
	ev.t = s->finish_at;
	ev.gen = ++s->gen;
	rc = sim_heap_push(&e->heap, &ev);
	if (rc == 0 && e->opts && e->opts->nbad > 0 &&
	    t + e->opts->fail_after_s < s->finish_at - eng_eps(s->finish_at)) {
		bool bad = false;

		for (uint32_t k = 0; k < j->nheld && !bad; k++)
			bad = eng_node_bad(e, e->c->gpus[s->held_gpus[k]].node);
		if (bad) {
			ev.kind = SIM_EV_FAIL;
			ev.t = t + e->opts->fail_after_s;
			rc = sim_heap_push(&e->heap, &ev);
		}
	}
	return rc;
}

/* Apply a checked plan: keep unchanged leases, stop the others, then start
 * the new placements (stops first, so freed GPUs can be reused). */
int eng_plan_apply(struct eng *e, double t)
{
	const struct sched_plan *pl = &e->plan;

	memset(e->mark, 0, e->nact * sizeof(*e->mark));
	for (uint32_t i = 0; i < e->nact; i++) {
		const struct sched_assign *a = &pl->assigns[i];
		struct sched_job *j = &e->act[i];
		bool want = a->run_now && a->ngpus > 0;

		if (!e->run[i])
			continue;
		if (want && eng_same_lease(e, j, pl->gpus + a->first, pl->tasks + a->first, a->ngpus))
			e->mark[i] = true;
		else
			eng_lease_end(e, j, t);
	}
	for (uint32_t i = 0; i < e->nact; i++) {
		const struct sched_assign *a = &pl->assigns[i];
		int rc;

		if (!a->run_now || a->ngpus == 0 || e->mark[i])
			continue;
		rc = eng_lease_start(e, &e->act[i], pl->gpus + a->first, pl->tasks + a->first,
				     a->ngpus, t);
		if (rc < 0)
			return rc;
	}
	return 0;
}
