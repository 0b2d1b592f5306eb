/* SPDX-License-Identifier: MIT */
/* Discrete-event engine: virtual clock, event heap, one plan call per event
 * time, jobs that run after others, state samples and progress reports (the
 * leases, and progress in closed form per lease: engine_lease.c). */
#include "engine_impl.h"

#include "err.h"
#include "fairness.h"
#include "heap.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double eng_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Two times closer than this are the same instant (rounding of sums). */
double eng_eps(double t)
{
	return 1e-9 * fmax(1.0, fabs(t));
}

int eng_fail(struct eng *e, double t, const char *what, const char *why)
{
	snprintf(e->errbuf, e->errlen, "policy %s: %s at t=%.3f s%s%s", sched_policy_name(e->p),
		 what, t, why[0] ? ": " : "", why);
	return -EINVAL;
}

static int eng_alloc(struct eng *e)
{
	const struct sim_workload *w = e->w;
	struct sim_result *r = e->r;
	size_t pool = 1, n = w->njobs + 1, g = e->c->ngpus + 1;

	for (size_t i = 0; i < w->njobs; i++)
		pool += w->jobs[i].spec.max_gpus;
	r->start_s = malloc(n * sizeof(double));
	r->finish_s = malloc(n * sizeof(double));
	r->failed_s = malloc(n * sizeof(double));
	r->restarts = calloc(n, sizeof(uint32_t));
	r->gpu_s = calloc(n * (e->c->ntypes ? e->c->ntypes : 1), sizeof(double));
	e->act_buf = calloc(n, sizeof(*e->act_buf));
	e->act = e->act_buf;
	e->run_buf = calloc(n, 1);
	e->run = e->run_buf;
	e->arrivals = calloc(n, sizeof(uint32_t));
	e->st = calloc(n, sizeof(*e->st));
	e->mark = calloc(n, sizeof(bool));
	e->pool_gpus = calloc(pool, sizeof(uint32_t));
	e->pool_tasks = calloc(pool, sizeof(uint16_t));
	e->gpu_owner = malloc(g * sizeof(uint32_t));
	e->gpu_tasks = calloc(g, sizeof(uint16_t));
	e->gpu_stamp = calloc(g, sizeof(uint32_t));
	if (e->opts && e->opts->quarantine_jobs > 0) {
		size_t nn = e->c->nnodes ? e->c->nnodes : 1;

		e->qgpus = malloc(g * sizeof(*e->qgpus));
		e->qfail_t = calloc(nn * SIM_QUARANTINE_FAILS, sizeof(double));
		e->qfail_job = calloc(nn * SIM_QUARANTINE_FAILS, sizeof(uint32_t));
		e->qfail_next = calloc(nn, sizeof(uint32_t));
		if (!e->qgpus || !e->qfail_t || !e->qfail_job || !e->qfail_next)
			return -ENOMEM;
		memcpy(e->qgpus, e->c->gpus, e->c->ngpus * sizeof(*e->qgpus));
		e->qc = *e->c;
		e->qc.gpus = e->qgpus;
		e->c = &e->qc;
		for (size_t i = 0; i < nn * SIM_QUARANTINE_FAILS; i++)
			e->qfail_t[i] = -INFINITY;
	}
	if (!r->start_s || !r->finish_s || !r->failed_s || !r->restarts || !r->gpu_s || !e->act || !e->run || !e->arrivals || !e->st ||
	    !e->mark || !e->pool_gpus || !e->pool_tasks || !e->gpu_owner || !e->gpu_tasks ||
	    !e->gpu_stamp)
		return -ENOMEM;
	pool = 0;
	for (size_t i = 0; i < w->njobs; i++) {
		r->start_s[i] = -1;
		r->finish_s[i] = -1;
		r->failed_s[i] = -1;
		e->st[i].held_gpus = e->pool_gpus + pool;
		e->st[i].held_tasks = e->pool_tasks + pool;
		pool += w->jobs[i].spec.max_gpus;
	}
	for (size_t i = 0; i < g; i++)
		e->gpu_owner[i] = ENG_NO_JOB;
	return 0;
}

/* The jobs after each job, and the buffers of the plan weights: only when
 * some job runs after another. 0, -ENOMEM or -EINVAL (a job after a later
 * one, or after more than SIM_MAX_AFTER). */
static int eng_after_alloc(struct eng *e)
{
	const struct sim_workload *w = e->w;
	uint32_t n = w->njobs, edges = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct sim_job *j = &w->jobs[i];

		if (j->nafter > SIM_MAX_AFTER) {
			snprintf(e->errbuf, e->errlen, "workload: job %u runs after %u jobs (at most %d)",
				 i, j->nafter, SIM_MAX_AFTER);
			return -EINVAL;
		}
		for (uint32_t k = 0; k < j->nafter; k++) {
			if (j->after[k] >= i) {
				snprintf(e->errbuf, e->errlen, "workload: job %u runs after job %u, "
					 "not an earlier one", i, j->after[k]);
				return -EINVAL;
			}
		}
		edges += j->nafter;
	}
	if (edges == 0)
		return 0;
	e->dep_from = calloc(n + 1, sizeof(uint32_t));
	e->dep_list = malloc(edges * sizeof(uint32_t));
	e->release = malloc(n * sizeof(uint32_t));
	e->aw = malloc(n * sizeof(double));
	e->aw_from = malloc((n + 1) * sizeof(uint32_t));
	e->aw_idx = malloc(edges * sizeof(uint32_t));
	if (!e->dep_from || !e->dep_list || !e->release || !e->aw || !e->aw_from || !e->aw_idx)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < w->jobs[i].nafter; k++)
			e->dep_from[w->jobs[i].after[k] + 1]++;
	for (uint32_t i = 0; i < n; i++)
		e->dep_from[i + 1] += e->dep_from[i];
	for (uint32_t i = 0, *at = e->aw_from; i < n; i++)	/* aw_from: a cursor for now */
		at[i] = e->dep_from[i];
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < w->jobs[i].nafter; k++)
			e->dep_list[e->aw_from[w->jobs[i].after[k]]++] = i;
	return 0;
}

static void eng_free(struct eng *e)
{
	free(e->dep_from);
	free(e->dep_list);
	free(e->release);
	free(e->aw);
	free(e->aw_from);
	free(e->aw_idx);
	free(e->act_buf);
	free(e->run_buf);
	free(e->arrivals);
	free(e->st);
	free(e->mark);
	free(e->pool_gpus);
	free(e->pool_tasks);
	free(e->gpu_owner);
	free(e->gpu_tasks);
	free(e->gpu_stamp);
	free(e->qgpus);
	free(e->qfail_t);
	free(e->qfail_job);
	free(e->qfail_next);
	sim_heap_destroy(&e->heap);
	sched_plan_destroy(&e->plan);
}

/* Job id joins the active set (it arrived, or what it waited for has
 * completed). */
static void eng_admit(struct eng *e, uint32_t id)
{
	struct sched_job *j;

	/* The window only drifts right by completions, so it always fits;
	 * this only guards the invariant. */
	if (e->act + e->nact >= e->act_buf + e->w->njobs + 1) {
		memmove(e->act_buf, e->act, e->nact * sizeof(*e->act));
		memmove(e->run_buf, e->run, e->nact);
		e->act = e->act_buf;
		e->run = e->run_buf;
	}
	e->run[e->nact] = 0;
	j = &e->act[e->nact++];
	*j = e->w->jobs[id].spec;
	j->held_gpus = e->st[id].held_gpus;
	j->held_tasks = e->st[id].held_tasks;
	j->nheld = 0;
	j->avoid_nodes = e->st[id].avoid;
	j->navoid = 0;
}

/* A job that a job waiting for it needs has FAILED at t: so does the
 * waiting one, and the jobs waiting for it in turn (hared cancels them;
 * here they end FAILED, left out of the JCTs as FAILED jobs are). */
static void eng_after_fail(struct eng *e, uint32_t id, double t)
{
	uint32_t *stack = e->release + e->nrelease, n = 0;

	/* the release list's free end holds the stack: no job is on both */
	stack[n++] = id;
	while (n > 0) {
		uint32_t f = stack[--n];

		for (uint32_t k = e->dep_from[f]; k < e->dep_from[f + 1]; k++) {
			uint32_t d = e->dep_list[k];

			if (!e->st[d].waiting)
				continue;	/* not arrived: it sees the failure then */
			e->st[d].waiting = false;
			e->nwaiting--;
			e->r->failed++;
			e->r->failed_s[d] = t;
			stack[n++] = d;
		}
	}
}

/* Job id (just arrived at t) waits for jobs it runs after: true when it
 * does, or when one of them FAILED (then so has it). */
static bool eng_after_waits(struct eng *e, uint32_t id, double t)
{
	const struct sim_job *j = &e->w->jobs[id];
	uint32_t waits = 0;

	for (uint32_t k = 0; k < j->nafter; k++) {
		if (e->r->failed_s[j->after[k]] >= 0) {
			e->r->failed++;
			e->r->failed_s[id] = t;
			eng_after_fail(e, id, t);
			return true;
		}
		waits += e->r->finish_s[j->after[k]] < 0;
	}
	if (waits == 0)
		return false;
	e->st[id].waiting = true;
	e->st[id].waits = waits;
	e->nwaiting++;
	return true;
}

/* Job id has completed (ok) or FAILED at t: the jobs waiting for it. */
void eng_after_end(struct eng *e, uint32_t id, bool ok, double t)
{
	if (!e->dep_from)
		return;
	if (!ok) {
		eng_after_fail(e, id, t);
		return;
	}
	for (uint32_t k = e->dep_from[id]; k < e->dep_from[id + 1]; k++) {
		uint32_t d = e->dep_list[k];

		if (!e->st[d].waiting || --e->st[d].waits > 0)
			continue;
		e->st[d].waiting = false;
		e->nwaiting--;
		e->release[e->nrelease++] = d;
	}
}

/* Admit the jobs released since the last call. */
static void eng_after_admit(struct eng *e)
{
	for (uint32_t i = 0; i < e->nrelease; i++)
		eng_admit(e, e->release[i]);
	e->nrelease = 0;
}

/* The active jobs' plan weights: their own, plus, while jobs wait, those of
 * the jobs waiting for them (sched_after_weights over every job id). */
static void eng_after_weights(struct eng *e)
{
	const struct sim_workload *w = e->w;
	uint32_t n = 0;

	if (e->nwaiting == 0 || (e->opts && e->opts->own_weights)) {
		if (e->weights_changed)
			for (uint32_t i = 0; i < e->nact; i++)
				e->act[i].weight = w->jobs[e->act[i].id].spec.weight;
		e->weights_changed = false;
		return;
	}
	for (uint32_t i = 0; i < w->njobs; i++) {
		e->aw[i] = w->jobs[i].spec.weight;
		e->aw_from[i] = n;
		if (!e->st[i].waiting)
			continue;
		for (uint32_t k = 0; k < w->jobs[i].nafter; k++)
			if (e->r->finish_s[w->jobs[i].after[k]] < 0)
				e->aw_idx[n++] = w->jobs[i].after[k];
	}
	e->aw_from[w->njobs] = n;
	sched_after_weights(w->njobs, e->aw, e->aw_from, e->aw_idx);
	for (uint32_t i = 0; i < e->nact; i++)
		e->act[i].weight = e->aw[e->act[i].id];
	e->weights_changed = true;
}

/* Handle one popped event; true if it is still current (worth a plan). */
static bool eng_event(struct eng *e, const struct sim_event *ev)
{
	switch (ev->kind) {
	case SIM_EV_ARRIVAL:
		if (eng_after_waits(e, ev->job, ev->t))
			return false;
		eng_admit(e, ev->job);
		return true;
	case SIM_EV_FINISH:
		return ev->gen == e->st[ev->job].gen;
	case SIM_EV_FAIL:
		if (ev->gen != e->st[ev->job].gen)
			return false;
		if (!e->st[ev->job].fail_pending)
			e->fails_pending++;
		e->st[ev->job].fail_pending = true;
		return true;
	default:
		return ev->gen == e->replan_gen;
	}
}

static int eng_decision_record(struct eng *e, double ms)
{
	struct sim_result *r = e->r;

	if (r->plans == e->decision_cap) {
		size_t cap = e->decision_cap ? e->decision_cap * 2 : 256;
		double *d = realloc(r->decision_ms, cap * sizeof(double));

		if (!d)
			return -ENOMEM;
		r->decision_ms = d;
		e->decision_cap = cap;
	}
	r->decision_ms[r->plans++] = ms;
	return 0;
}

/* One policy call at time t: plan, time it, check it, apply it, and note
 * when the policy wants to be called again. */
static int eng_plan(struct eng *e, double t)
{
	struct sched_snapshot snap = { .now_s = t, .cluster = e->c, .njobs = e->nact, .jobs = e->act };
	struct timespec t0, t1;
	char why[256] = "";
	int rc;

	eng_after_weights(e);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sched_policy_plan(e->p, &snap, &e->plan);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (eng_decision_record(e, (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) < 0)
		return -ENOMEM;
	if (rc < 0)
		return eng_fail(e, t, "plan failed", err_str(rc));
	if (e->plan.njobs != e->nact)
		return eng_fail(e, t, "plan has the wrong number of jobs", "");
	rc = sched_plan_check(&snap, &e->plan, why, sizeof(why));
	if (rc < 0)
		return eng_fail(e, t, "invalid plan", why);
	rc = eng_plan_apply(e, t);
	if (rc < 0)
		return rc;
	e->replan_gen++;
	if (isfinite(e->plan.replan_at_s) && e->plan.replan_at_s > t + eng_eps(t)) {
		struct sim_event ev = { .t = e->plan.replan_at_s, .kind = SIM_EV_REPLAN,
					.gen = e->replan_gen };

		return sim_heap_push(&e->heap, &ev);
	}
	return 0;
}

static int eng_arrival_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sim_workload *w = arg;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	double ta = w->jobs[a].spec.arrival_s, tb = w->jobs[b].spec.arrival_s;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return (a > b) - (a < b);
}

/* Check the jobs and order them by (arrival, id), the order in which the
 * heap would have handed them out. */
static int eng_arrivals_sort(struct eng *e)
{
	bool sorted = true;

	for (uint32_t i = 0; i < e->w->njobs; i++) {
		const struct sched_job *j = &e->w->jobs[i].spec;

		if (j->id != i || !isfinite(j->arrival_s) || j->max_gpus == 0) {
			snprintf(e->errbuf, e->errlen, "workload: job %u is malformed", i);
			return -EINVAL;
		}
		e->arrivals[i] = i;
		if (i > 0 && j->arrival_s < e->w->jobs[i - 1].spec.arrival_s)
			sorted = false;
	}
	if (!sorted)
		qsort_r(e->arrivals, e->w->njobs, sizeof(uint32_t), eng_arrival_cmp, (void *)e->w);
	return 0;
}

/* Time of the next event of either source, INFINITY if none. */
static double eng_peek_t(const struct eng *e)
{
	const struct sim_event *top = sim_heap_peek(&e->heap);
	double t = top ? top->t : INFINITY;

	if (e->next_arrival < e->w->njobs)
		t = fmin(t, e->w->jobs[e->arrivals[e->next_arrival]].spec.arrival_s);
	return t;
}

/* The next event: the next arrival or the heap's top, arrivals first at
 * equal times (as the heap orders kinds). */
static bool eng_next(struct eng *e, struct sim_event *ev)
{
	const struct sim_event *top = sim_heap_peek(&e->heap);

	if (e->next_arrival < e->w->njobs) {
		uint32_t id = e->arrivals[e->next_arrival];
		double a = e->w->jobs[id].spec.arrival_s;

		if (!top || a <= top->t) {
			*ev = (struct sim_event){ .t = a, .kind = SIM_EV_ARRIVAL, .job = id };
			e->next_arrival++;
			return true;
		}
	}
	return sim_heap_pop(&e->heap, ev);
}

static bool eng_event_live(const struct sim_event *ev, void *arg)
{
	const struct eng *e = arg;

	if (ev->kind == SIM_EV_FINISH || ev->kind == SIM_EV_FAIL)
		return ev->gen == e->st[ev->job].gen;
	return ev->kind != SIM_EV_REPLAN || ev->gen == e->replan_gen;
}

/* Replaced leases and replan requests leave stale events behind; drop them
 * once they outnumber the live ones (at most two per running job, its end
 * and its failure, and one replan), so the heap stays small. */
static void eng_heap_trim(struct eng *e)
{
	if (e->heap.n > 4 * (size_t)e->nrunning + 64)
		sim_heap_filter(&e->heap, eng_event_live, e);
}

static int eng_sample_grow(struct eng *e)
{
	struct sim_result *r = e->r;
	size_t cap = e->sample_cap ? e->sample_cap * 2 : 1024, nt = e->c->ntypes ? e->c->ntypes : 1;
	double *t = realloc(r->sample_t, cap * sizeof(*t));
	uint32_t *busy, *run, *act;

	if (t)
		r->sample_t = t;
	busy = t ? realloc(r->sample_busy, cap * nt * sizeof(*busy)) : NULL;
	if (busy)
		r->sample_busy = busy;
	run = busy ? realloc(r->sample_running, cap * sizeof(*run)) : NULL;
	if (run)
		r->sample_running = run;
	act = run ? realloc(r->sample_active, cap * sizeof(*act)) : NULL;
	if (!act)
		return -ENOMEM;
	r->sample_active = act;
	e->sample_cap = cap;
	return 0;
}

/* Record the cluster's state at t if it changed since the last sample. */
static int eng_sample(struct eng *e, double t)
{
	struct sim_result *r = e->r;
	uint32_t nt = e->c->ntypes;
	size_t i = r->nsamples;

	if (i > 0 && r->sample_running[i - 1] == e->nrunning && r->sample_active[i - 1] == e->nact &&
	    memcmp(&r->sample_busy[(i - 1) * nt], e->busy, nt * sizeof(uint32_t)) == 0)
		return 0;
	if (i > 0 && r->sample_t[i - 1] >= t)
		i--;	/* same instant: the later state wins */
	else if (i == e->sample_cap && eng_sample_grow(e) < 0)
		return -ENOMEM;
	r->sample_t[i] = t;
	memcpy(&r->sample_busy[i * nt], e->busy, nt * sizeof(uint32_t));
	r->sample_running[i] = e->nrunning;
	r->sample_active[i] = e->nact;
	r->nsamples = i + 1;
	return 0;
}

/* Call the progress callback about every progress_every_s wall seconds;
 * the clock is read every 64 loop turns only. */
static void eng_progress(struct eng *e, double t)
{
	const struct sim_engine_opts *o = e->opts;
	struct sim_progress pr;
	double now;

	if (!o || !o->progress || ++e->since_clock < 64)
		return;
	e->since_clock = 0;
	now = eng_wall_s();
	if (now < e->next_progress_s)
		return;
	e->next_progress_s = now + (o->progress_every_s > 0 ? o->progress_every_s : 1.0);
	pr = (struct sim_progress){ .policy = sched_policy_name(e->p),
				    .done = e->r->completed + e->r->failed,
				    .total = e->w->njobs, .now_s = t, .wall_s = now - e->wall0_s };
	o->progress(&pr, o->progress_arg);
}

/* The event loop: pop all events of the earliest time, advance, plan. */
static int eng_loop(struct eng *e)
{
	struct sim_event ev;
	int rc;

	while (e->r->completed + e->r->failed < e->w->njobs) {
		if (!eng_next(e, &ev)) {
			if (e->r->quarantined > 0) {
				/* the GPUs these jobs could use went out of service
				 * (a baseline runs a job at its requested width, too
				 * wide for what is left): they never run */
				e->r->stranded = e->nact + e->nwaiting;
				return 0;
			}
			snprintf(e->errbuf, e->errlen, "policy %s: %u jobs left waiting with no event "
				 "to wake them", sched_policy_name(e->p), e->nact + e->nwaiting);
			return -EINVAL;
		}
		double t = ev.t;
		bool current = eng_event(e, &ev);

		while (eng_peek_t(e) <= t + eng_eps(t)) {
			eng_next(e, &ev);
			current |= eng_event(e, &ev);
		}
		if (!current)
			continue;
		eng_advance(e, t);
		eng_failures(e, t);
		eng_after_admit(e);
		if (e->nact > 0 && (rc = eng_plan(e, t)) < 0)
			return rc;
		if (eng_sample(e, t) < 0)
			return -ENOMEM;
		eng_heap_trim(e);
		eng_progress(e, t);
	}
	return 0;
}

/* Job j against policy p: see sim_engine_check; count[t] up GPUs of type t. */
static int eng_check_job(const struct sched_cluster *c, const struct sched_job *j, uint32_t id,
			 const struct sched_policy *p, const uint32_t *count, char *errbuf,
			 size_t errlen)
{
	const char *name = sched_policy_name(p);
	uint32_t usable = 0, most = 0, most_t = 0, need = j->min_gpus ? j->min_gpus : 1;
	uint32_t width = j->max_gpus < j->tasks ? j->max_gpus : j->tasks;

	for (uint32_t t = 0; t < c->ntypes && t < SCHED_MAX_TYPES; t++) {
		if (!(j->perf.compute_s[t] > 0))
			continue;
		usable += count[t];
		if (count[t] > most) {
			most = count[t];
			most_t = t;
		}
	}
	if (usable == 0)
		snprintf(errbuf, errlen, "job %u (%s) runs on no GPU type of the cluster", id, j->name);
	else if (need > usable)
		snprintf(errbuf, errlen, "job %u (%s) needs %u GPUs at once, but the cluster has %u "
			 "it may use", id, j->name, need, usable);
	else if (sched_policy_requested_width(p) && !sched_policy_one_type(p) && width > usable)
		snprintf(errbuf, errlen, "job %u (%s) runs on %u GPUs at once under policy %s (its "
			 "requested width, min(max_gpus, tasks)), but the cluster has %u it may use",
			 id, j->name, width, name, usable);
	else if (sched_policy_one_type(p) && need > most)
		snprintf(errbuf, errlen, "job %u (%s) needs %u GPUs at once and policy %s runs a job "
			 "on GPUs of one type only; the largest type it may use here, %s, has %u", id,
			 j->name, need, name, c->type_names[most_t], most);
	else
		return 0;
	return ERR_BAD_SPEC;
}

int sim_engine_check(const struct sched_cluster *c, const struct sim_workload *w,
		     const struct sched_policy *p, char *errbuf, size_t errlen)
{
	uint32_t count[SCHED_MAX_TYPES] = { 0 };
	int rc = 0;

	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].up && c->gpus[g].type < SCHED_MAX_TYPES)
			count[c->gpus[g].type]++;
	for (uint32_t i = 0; i < w->njobs && rc == 0; i++)
		rc = eng_check_job(c, &w->jobs[i].spec, i, p, count, errbuf, errlen);
	return rc;
}

int sim_engine_run(const struct sched_cluster *c, const struct sim_workload *w,
		   struct sched_policy *p, struct sim_result *out, char *errbuf, size_t errlen)
{
	return sim_engine_run_opts(c, w, p, NULL, out, errbuf, errlen);
}

int sim_engine_run_opts(const struct sched_cluster *c, const struct sim_workload *w,
			struct sched_policy *p, const struct sim_engine_opts *opts,
			struct sim_result *out, char *errbuf, size_t errlen)
{
	struct eng e = { .c = c, .w = w, .p = p, .r = out, .opts = opts, .errbuf = errbuf,
			 .errlen = errlen };
	int rc;

	memset(out, 0, sizeof(*out));
	out->njobs = w->njobs;
	out->ntypes = c->ntypes;
	sim_heap_init(&e.heap);
	sched_plan_init(&e.plan);
	rc = sim_engine_check(c, w, p, errbuf, errlen);
	if (rc == 0)
		rc = eng_alloc(&e);
	if (rc == 0)
		rc = eng_arrivals_sort(&e);
	if (rc == 0)
		rc = eng_after_alloc(&e);
	e.wall0_s = eng_wall_s();
	e.next_progress_s = e.wall0_s + (opts && opts->progress_every_s > 0 ? opts->progress_every_s :
					 1.0);
	if (rc == 0)
		rc = eng_loop(&e);
	if (rc == 0)
		rc = sim_fairness_compute(c, w, out);
	out->wall_s = eng_wall_s() - e.wall0_s;
	if (rc == -ENOMEM)
		snprintf(errbuf, errlen, "simulator: out of memory");
	eng_free(&e);
	if (rc < 0)
		sim_result_destroy(out);
	return rc;
}

void sim_result_destroy(struct sim_result *r)
{
	free(r->start_s);
	free(r->finish_s);
	free(r->failed_s);
	free(r->restarts);
	free(r->gpu_s);
	free(r->decision_ms);
	free(r->sample_t);
	free(r->sample_busy);
	free(r->sample_running);
	free(r->sample_active);
	free(r->alone_s);
	free(r->rho);
	memset(r, 0, sizeof(*r));
}
