/* SPDX-License-Identifier: MIT */
/* The `tiresias` baseline (Gu et al., NSDI'19): discretised 2D-LAS with a
 * starvation guard, type-blind, consolidated placement preferred. */
#include "policy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Queue limits in attained GPU-seconds: a job is in queue q while its
 * service is below limit q. Tiresias' simulator has num_queue = 3 with
 * queue_limit = [3250, 7200, 18000] and demotes only below its last queue,
 * so its third limit is never used: three queues. */
static const double tiresias_limits[] = { 3250, 7200 };
#define TIRESIAS_QUEUES (sizeof(tiresias_limits) / sizeof(tiresias_limits[0]) + 1)
/* Starvation knob: a job in a lower queue that has waited knob x its
 * executed time since it last ran goes back to queue 0. */
#define TIRESIAS_KNOB 2.0
/* Re-plan this long after a projected crossing, so the driver's service
 * count is past the limit when the plan runs. */
#define TIRESIAS_MARGIN_S 1e-3

/* ---- tiresias ---- */

struct tiresias_job {
	double base_gpu_s;	/* service when the job last entered queue 0 */
	double run_from_s;	/* when it first ran since then; < 0: not yet */
	uint32_t seq;		/* place in its queue's list (smaller first) */
	uint32_t q;		/* its queue at the last plan */
	uint64_t plan;		/* the last plan it was in (tiresias_state.plans) */
};

struct tiresias_state {
	struct policy_ids *ids;
	uint32_t *type;		/* all POLICY_ANY_TYPE: type-blind */
	uint32_t *admitted;
	uint32_t *fresh;	/* jobs new to a queue this plan */
	uint32_t next_seq;	/* seq of the next job appended to a queue */
	uint64_t plans;		/* plans made, this one included */
	uint32_t cap;
};

static int tiresias_init(struct sched_policy *p)
{
	struct tiresias_state *st = calloc(1, sizeof(*st));

	if (!st || policy_ids_new(sizeof(struct tiresias_job), &st->ids) < 0) {
		free(st);
		return -ENOMEM;
	}
	p->state = st;
	return 0;
}

static void tiresias_destroy(struct sched_policy *p)
{
	struct tiresias_state *st = p->state;

	policy_ids_free(st->ids);
	free(st->type);
	free(st->admitted);
	free(st->fresh);
	free(st);
}

static void tiresias_forget(struct sched_policy *p, uint32_t job_id)
{
	struct tiresias_state *st = p->state;

	policy_ids_drop(st->ids, job_id);
}

static int tiresias_grow(struct tiresias_state *st, uint32_t n)
{
	uint32_t *a, *b, *c;

	if (n <= st->cap)
		return 0;
	a = realloc(st->type, n * sizeof(*a));
	if (a)
		st->type = a;
	b = realloc(st->admitted, n * sizeof(*b));
	if (b)
		st->admitted = b;
	c = realloc(st->fresh, n * sizeof(*c));
	if (c)
		st->fresh = c;
	if (!a || !b || !c)
		return -ENOMEM;
	st->cap = n;
	return 0;
}

static uint32_t tiresias_queue(double service_gpu_s)
{
	uint32_t q = 0;

	while (q + 1 < TIRESIAS_QUEUES && service_gpu_s >= tiresias_limits[q])
		q++;
	return q;
}

/* Job j's service since it last entered queue 0, and its executed time
 * (service / width). */
static double tiresias_service(const struct tiresias_job *r, const struct sched_job *j, double *exec_s)
{
	double service = fmax(0.0, j->attained_gpu_s - r->base_gpu_s);

	*exec_s = service / policy_requested_width(j);
	return service;
}

/* Job j's queue at now (its record updated); the starvation guard may send
 * it back to queue 0. As in Tiresias' simulator, a job of a lower queue is
 * promoted when its pending time since it entered queue 0, counted from its
 * first run after that, reaches knob x its executed time since then
 * (service / width): the time since that first run, less the executed
 * time. */
static uint32_t tiresias_job_queue(struct tiresias_job *r, const struct sched_job *j, double now)
{
	double exec_s, service = tiresias_service(r, j, &exec_s);
	uint32_t q = tiresias_queue(service);

	if (r->run_from_s < 0 && sched_job_is_running(j))
		r->run_from_s = j->lease_start_s;
	else if (r->run_from_s < 0 && service > 0)
		r->run_from_s = j->last_run_s - exec_s;	/* ran between two plans */
	if (sched_job_is_running(j) || q == 0 || TIRESIAS_KNOB <= 0 || r->run_from_s < 0)
		return q;
	if (now - r->run_from_s - exec_s >= TIRESIAS_KNOB * exec_s) {
		r->base_gpu_s = j->attained_gpu_s;
		r->run_from_s = -1;
		return 0;
	}
	return q;
}

/* The next time a job changes queue on its own under the plan just made: a
 * job the plan runs crosses its queue's limit (service grows by its
 * placement's GPUs per second; a start's restart makes it later, and the
 * re-plan then just sets the next wake), a waiting one is promoted by the
 * starvation guard. From the plan, not from what ran before it: a job it
 * starts would otherwise get no crossing, a job it stops a stale one. */
static double tiresias_wake(const struct tiresias_state *st, const struct sched_snapshot *snap,
			    const struct sched_plan *out)
{
	double wake = INFINITY;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		const struct tiresias_job *r = policy_ids_find(st->ids, j->id);
		double exec_s, service = tiresias_service(r, j, &exec_s);
		uint32_t q = tiresias_queue(service);

		if (out->assigns[i].run_now && out->assigns[i].ngpus) {
			if (q + 1 < TIRESIAS_QUEUES)
				wake = fmin(wake, snap->now_s + (tiresias_limits[q] - service) /
							   out->assigns[i].ngpus + TIRESIAS_MARGIN_S);
		} else if (q > 0 && TIRESIAS_KNOB > 0 && r->run_from_s >= 0) {
			wake = fmin(wake, r->run_from_s + (1 + TIRESIAS_KNOB) * exec_s +
						  TIRESIAS_MARGIN_S);
		}
	}
	return wake;
}

/*
 * Order inside a queue, as Tiresias' simulator keeps its queue lists: a job
 * is appended at the end of its queue when it arrives, is demoted or is
 * promoted, and after every plan the jobs that do not run move behind those
 * that do (a stable partition), so a waiting job never overtakes a running
 * job of its own queue. A job that was not in the last plan (held, or
 * waiting out a retry back-off in hared) comes back at the end of its
 * queue, as a new one. Key: queue, then the job's place in the list.
 */
static int tiresias_keys(struct sched_policy *p, const struct sched_snapshot *snap)
{
	struct tiresias_state *st = p->state;
	uint32_t *q = p->width, nfresh = 0;

	st->plans++;
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		bool created;
		struct tiresias_job *r = policy_ids_get(st->ids, j->id, &created);

		if (!r)
			return -ENOMEM;
		if (created)	/* new to the policy: in queue 0 since it first ran */
			r->run_from_s = j->first_start_s;
		q[i] = tiresias_job_queue(r, j, snap->now_s);
		if (created || r->q != q[i] || r->plan + 1 != st->plans) {
			r->q = q[i];
			st->fresh[nfresh++] = i;
		}
		r->plan = st->plans;
		p->order[i] = i;
		st->type[i] = POLICY_ANY_TYPE;
	}
	/* Appended in arrival order. */
	for (uint32_t k = 0; k < nfresh; k++)
		p->key[st->fresh[k]] = snap->jobs[st->fresh[k]].arrival_s;
	policy_sort_by_key(snap, st->fresh, nfresh, p->key);
	for (uint32_t k = 0; k < nfresh; k++)
		((struct tiresias_job *)policy_ids_find(st->ids, snap->jobs[st->fresh[k]].id))->seq =
			st->next_seq++;
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct tiresias_job *r = policy_ids_find(st->ids, snap->jobs[i].id);

		p->key[i] = (double)q[i] * st->next_seq + r->seq;
	}
	return 0;
}

/* After a plan: every queue's list with its running jobs first, each part
 * in its old order; seqs renumbered from 0. */
static void tiresias_requeue(struct sched_policy *p, const struct sched_snapshot *snap,
			     const struct sched_plan *out)
{
	struct tiresias_state *st = p->state;
	double span = st->next_seq;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct tiresias_job *r = policy_ids_find(st->ids, snap->jobs[i].id);

		p->order[i] = i;
		p->key[i] = (2.0 * p->width[i] + (out->assigns[i].run_now ? 0 : 1)) * span + r->seq;
	}
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	for (uint32_t k = 0; k < snap->njobs; k++)
		((struct tiresias_job *)policy_ids_find(st->ids, snap->jobs[p->order[k]].id))->seq = k;
	st->next_seq = snap->njobs;
}

static int tiresias_plan(struct sched_policy *p, const struct sched_snapshot *snap,
			 struct sched_plan *out)
{
	struct tiresias_state *st = p->state;
	uint32_t nadm;
	int rc = tiresias_grow(st, snap->njobs + 1);

	if (rc == 0)
		rc = tiresias_keys(p, snap);
	if (rc)
		return rc;
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	for (uint32_t r = 0; r < snap->njobs; r++)
		out->assigns[p->order[r]].rank = r;
	rc = policy_admit(snap, p->order, snap->njobs, st->type, NULL, st->admitted, &nadm);
	if (rc == 0)
		rc = policy_place_admitted(snap, st->admitted, nadm, st->type, NULL, out);
	if (rc == 0) {
		tiresias_requeue(p, snap, out);
		out->replan_at_s = fmin(out->replan_at_s, tiresias_wake(st, snap, out));
	}
	return rc;
}

const struct sched_policy_ops policy_tiresias_ops = {
	.name = "tiresias",
	.requested_width = true,
	.summary = "Tiresias discretised 2D-LAS, starvation guard, requested width, type-blind",
	.init = tiresias_init,
	.plan = tiresias_plan,
	.forget = tiresias_forget,
	.destroy = tiresias_destroy,
};
