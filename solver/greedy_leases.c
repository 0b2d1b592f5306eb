/* SPDX-License-Identifier: MIT */
/* Hare's greedy at lease granularity, for the online planner: jobs in priority order,
 * each given the placement on which its remaining rounds finish earliest, given when
 * every GPU frees up in the plan so far (greedy_lease_pool.c); one placement per job. */
#include "greedy.h"
#include "greedy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_EPS 1e-9

struct lease_cand {
	double finish, start, round;
	int kind;		/* 0 none, 1 node, 2 spread-in-type, 3 mixed, 4 future, 5 keep, 6 listed */
	uint32_t type, k, node;
};

static void lease_consider(struct lease_cand *best, const struct lease_cand *c)
{
	if (c->finish < best->finish - LEASE_EPS ||
	    (fabs(c->finish - best->finish) <= LEASE_EPS && c->k < best->k))
		*best = *c;
}

struct lease_job {
	const struct sched_job *j;
	uint32_t kmin, kmax;
	double rounds, restart;
};

/* Placements of one type starting now: best-fit node, else spread. */
static void lease_eval_type(const struct lease_ctx *x, const struct lease_job *lj, uint32_t t,
			    struct lease_cand *best)
{
	const struct sched_job *j = lj->j;

	for (uint32_t k = lj->kmin; k <= lj->kmax && k <= x->type_free[t]; k++) {
		int32_t node = lease_best_fit(x, t, k);
		double per = ceil((double)j->tasks / k) * j->perf.compute_s[t];
		struct lease_cand c = { .type = t, .k = k, .start = x->now };

		c.kind = node >= 0 ? 1 : 2;
		c.node = node >= 0 ? (uint32_t)node : 0;
		c.round = per + sched_sync_time(&j->perf, k, node < 0);
		c.finish = x->now + lj->restart + lj->rounds * c.round;
		lease_consider(best, &c);
	}
}

/* A mix of types starting now, fastest types first. */
static void lease_eval_mixed(const struct lease_ctx *x, const struct lease_job *lj,
			     struct lease_cand *best)
{
	const struct sched_job *j = lj->j;
	uint32_t order[SCHED_MAX_TYPES], no = 0, n[SCHED_MAX_TYPES + 1] = { 0 };

	for (uint32_t t = 0; t + 1 < x->nt; t++)
		if (j->perf.compute_s[t] > 0 && x->type_free[t] > 0)
			order[no++] = t;
	if (no < 2)
		return;
	for (uint32_t a = 1; a < no; a++)
		for (uint32_t b = a; b > 0 && j->perf.compute_s[order[b]] < j->perf.compute_s[order[b - 1]]; b--) {
			uint32_t tmp = order[b];

			order[b] = order[b - 1];
			order[b - 1] = tmp;
		}
	for (uint32_t k = 0, i = 0; k < lj->kmax && i < no; k++) {
		struct lease_cand c = { .kind = 3, .start = x->now };

		while (i < no && n[order[i]] >= x->type_free[order[i]])
			i++;
		if (i >= no)
			break;
		n[order[i]]++;
		if (k + 1 < lj->kmin || i == 0)
			continue;
		c.k = k + 1;
		c.round = sched_split_compute(j, n, x->nt - 1) + sched_sync_time(&j->perf, k + 1, true);
		c.finish = x->now + lj->restart + lj->rounds * c.round;
		lease_consider(best, &c);
	}
}


/* Placements that start when enough GPUs free up later (kind 4). For a
 * type-blind job the busiest GPU is the slowest type among those chosen. */
static void lease_eval_future(struct lease_ctx *x, const struct lease_job *lj, uint32_t t,
			      struct lease_cand *best, uint32_t *fut)
{
	const struct sched_job *j = lj->j;
	uint32_t *cand = x->pick + x->c->ngpus + 1;
	uint32_t n = lease_earliest(x, j, t, lj->kmax, cand);
	double slowest = 0;

	for (uint32_t k = 1; k <= n; k++) {
		struct lease_cand c = { .kind = 4, .type = t, .k = k };

		slowest = fmax(slowest, j->perf.compute_s[x->c->gpus[cand[k - 1]].type]);
		if (k < lj->kmin)
			continue;
		c.start = x->gpu_free[cand[k - 1]];
		if (c.start <= x->now + LEASE_EPS || !isfinite(c.start))
			continue;
		c.round = ceil((double)j->tasks / k) * slowest + sched_sync_time(&j->perf, k, true);
		c.finish = c.start + lj->restart + lj->rounds * c.round;
		if (c.finish < best->finish - LEASE_EPS) {
			*best = c;
			memcpy(fut, cand, k * sizeof(*fut));
		}
	}
}

/* Keep a running job where it is if all its GPUs are still free (kind 5). */
static void lease_eval_keep(const struct lease_ctx *x, const struct lease_job *lj,
			    struct lease_cand *best)
{
	const struct sched_job *j = lj->j;
	struct lease_cand c = { .kind = 5, .start = x->now, .k = j->nheld };

	for (uint32_t i = 0; i < j->nheld; i++)
		if (j->held_gpus[i] >= x->c->ngpus || !x->free_now[j->held_gpus[i]])
			return;
	c.round = sched_round_time(x->c, j, j->held_gpus, j->held_tasks, j->nheld);
	c.finish = x->now + lj->rounds * c.round;
	/* Staying put wins ties: moving costs a restart the estimate may miss. */
	if (c.finish <= best->finish + LEASE_EPS)
		*best = c;
}

/* Even split for type-blind policies: every GPU gets ceil or floor of K/k. */
static void lease_split_even(uint32_t tasks, uint32_t k, uint16_t *out)
{
	for (uint32_t i = 0; i < k; i++)
		out[i] = (uint16_t)(tasks / k + (i < tasks % k));
}

/* Turn the chosen candidate into concrete GPUs in x->pick; returns count. */
static uint32_t lease_materialise(struct lease_ctx *x, const struct lease_job *lj,
				  const struct lease_cand *b, const uint32_t *fut)
{
	const struct sched_job *j = lj->j;
	uint32_t n = 0;

	x->stamp_now++;
	switch (b->kind) {
	case 1: {
		int32_t node = lease_node_for(x, j, b->type, b->k);

		x->stamp_now++;
		return lease_pick_node(x, j, node >= 0 ? (uint32_t)node : b->node, b->type, b->k, x->pick, 0);
	}
	case 2:
		return lease_pick_spread(x, j, b->type, b->k, x->pick, 0);
	case 3:
		for (uint32_t pass = 0; pass < 1; pass++) {
			uint32_t order[SCHED_MAX_TYPES], no = 0;

			for (uint32_t t = 0; t + 1 < x->nt; t++)
				if (j->perf.compute_s[t] > 0 && x->type_free[t] > 0)
					order[no++] = t;
			for (uint32_t a = 1; a < no; a++)
				for (uint32_t c = a; c > 0 && j->perf.compute_s[order[c]] <
							  j->perf.compute_s[order[c - 1]]; c--) {
					uint32_t tmp = order[c];

					order[c] = order[c - 1];
					order[c - 1] = tmp;
				}
			for (uint32_t i = 0; i < no && n < b->k; i++)
				n = lease_pick_spread(x, j, order[i], b->k, x->pick, n);
		}
		return n;
	case 4:
	case 6:
		memcpy(x->pick, fut, b->k * sizeof(*fut));
		return b->k;
	case 5:
		memcpy(x->pick, j->held_gpus, j->nheld * sizeof(*x->pick));
		return j->nheld;
	default:
		return 0;
	}
}

/* Type-blind placement of exactly kmax GPUs from pool t, starting now:
 * best-fit node, else fullest nodes first; the slowest GPU sets the pace. */
static void lease_eval_blind(struct lease_ctx *x, const struct lease_job *lj, uint32_t t,
			     struct lease_cand *best, uint32_t *fut)
{
	const struct sched_job *j = lj->j;
	uint32_t k = lj->kmax, n, *cand = x->pick + x->c->ngpus + 1;
	int32_t node;
	double slowest = 0;
	struct lease_cand c = { .kind = 6, .type = t, .k = k, .start = x->now };

	if (lease_pool_free(x, j, t) < k)
		return;
	node = lease_best_fit_for(x, j, t, k);
	x->stamp_now++;
	n = node >= 0 ? lease_pick_node(x, j, (uint32_t)node, t, k, cand, 0)
		      : lease_pick_spread(x, j, t, k, cand, 0);
	if (n < k)
		return;
	for (uint32_t i = 0; i < n; i++)
		slowest = fmax(slowest, j->perf.compute_s[x->c->gpus[cand[i]].type]);
	c.round = ceil((double)j->tasks / k) * slowest + sched_sync_time(&j->perf, k, node < 0);
	c.finish = x->now + lj->restart + lj->rounds * c.round;
	if (c.finish < best->finish - LEASE_EPS) {
		*best = c;
		memcpy(fut, cand, k * sizeof(*fut));
	}
}

static void lease_eval_all(struct lease_ctx *x, const struct lease_job *lj, struct lease_cand *best,
			   uint32_t *fut)
{
	const struct sched_job *j = lj->j;
	bool any = !x->opts->hetero && lease_blind_pooled(x, j, lj->kmax);

	for (uint32_t t = any ? x->nt - 1 : 0; t < (any ? x->nt : x->nt - 1); t++) {
		if (!lease_type_ok(x, j, t))
			continue;
		if (x->opts->hetero)
			lease_eval_type(x, lj, t, best);
		else
			lease_eval_blind(x, lj, t, best, fut);
	}
	if (x->opts->hetero)
		lease_eval_mixed(x, lj, best);
	if (x->opts->keep_running && sched_job_is_running(j))
		lease_eval_keep(x, lj, best);
	/* A job that can start now does not wait for better GPUs unless asked:
	 * the wait would hold the GPUs it reserves idle until then, which in the
	 * simulator cost 20-25% weighted JCT on the paper-200 workloads. */
	if ((best->kind != 0 && !x->opts->wait_for_faster) || x->now_only)
		return;
	for (uint32_t t = any ? x->nt - 1 : 0; t < (any ? x->nt : x->nt - 1); t++)
		if (lease_type_ok(x, j, t))
			lease_eval_future(x, lj, t, best, fut);
}

/* Type thrift: a job starting now on one type (or a mix) takes instead the
 * slowest type on which it still finishes within type_slack of that finish
 * (relative to now), leaving the faster GPUs to jobs later in the order,
 * which may gain more from them. */
static void lease_thrift(struct lease_ctx *x, const struct lease_job *lj, struct lease_cand *best)
{
	const struct sched_job *j = lj->j;
	double lim = x->now + (best->finish - x->now) * (1 + x->opts->type_slack);
	double pace = best->kind == 3 ? 0 : j->perf.compute_s[best->type];
	struct lease_cand pick = *best;

	if (!x->opts->hetero || !(x->opts->type_slack > 0) ||
	    (best->kind != 1 && best->kind != 2 && best->kind != 3))
		return;
	for (uint32_t t = 0; t + 1 < x->nt; t++) {
		struct lease_cand c = { .finish = INFINITY };

		if (!lease_type_ok(x, j, t) || !(j->perf.compute_s[t] > pace))
			continue;
		lease_eval_type(x, lj, t, &c);
		if (c.kind != 0 && c.finish <= lim) {
			pick = c;
			pace = j->perf.compute_s[t];
		}
	}
	*best = pick;
}


/* Whether job lj has, off the nodes it avoids, enough up GPUs of types it
 * may use for its fewest GPUs (on an idle cluster; types pooled). */
static bool lease_fits_unavoided(const struct lease_ctx *x, const struct lease_job *lj)
{
	uint32_t have = 0;

	for (uint32_t g = 0; g < x->c->ngpus; g++) {
		const struct sched_gpu *gpu = &x->c->gpus[g];

		have += gpu->up && !sched_job_avoids(lj->j, gpu->node) && lease_type_ok(x, lj->j, gpu->type);
	}
	return have >= lj->kmin;
}

/* The best placement for job j, materialised in x->pick (count in *n);
 * best->kind 0: none. */
static void lease_choose(struct lease_ctx *x, const struct lease_job *lj, struct lease_cand *best,
			 uint32_t *fut, uint32_t *n)
{
	const struct sched_job *j = lj->j;

	*n = 0;
	/* a lease it holds on a node it avoids may stay (hidden, it could not) */
	if ((x->opts->pin_running || (x->opts->keep_running && j->navoid)) &&
	    sched_job_is_running(j))
		lease_eval_keep(x, lj, best);
	if (best->kind == 0 || (!x->opts->pin_running && j->navoid)) {
		lease_hide(x, j, true);
		lease_eval_all(x, lj, best, fut);
		lease_thrift(x, lj, best);
		if (best->kind != 0)
			*n = lease_materialise(x, lj, best, fut);
		lease_hide(x, j, false);
		if (best->kind != 0 || j->navoid == 0)
			return;
		/* backfilling, nothing is planned later: that it fits nowhere
		 * else now does not mean it never will */
		if (x->now_only && lease_fits_unavoided(x, lj))
			return;
		/* it fits nowhere else (a blind policy's fixed width): there */
		lease_eval_all(x, lj, best, fut);
		lease_thrift(x, lj, best);
		if (best->kind == 0)
			return;
	}
	*n = lease_materialise(x, lj, best, fut);
}

/* Backfill: lend the head's GPUs that are still free now (on), or take
 * back those no job took (off: busy again until the head's finish). */
static void lease_lend(struct lease_ctx *x, bool on)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < x->nlent; i++) {
		uint32_t g = x->lent[i];

		if (on) {
			lease_free_set(x, g, 1);
			x->gpu_free[g] = x->now;
			continue;
		}
		if (!x->free_now[g])
			continue;	/* taken by a job that ends by shadow_s */
		lease_free_set(x, g, 0);
		x->gpu_free[g] = x->head_finish_s;
		x->lent[k++] = g;
	}
	if (!on)
		x->nlent = k;
}

/* The head of a backfilled plan (its first job that cannot start now but
 * can be planned later: one that cannot be planned at all keeps nothing)
 * has just been planned on x->pick[0..n): its GPUs free now are lent
 * later. */
static void lease_reserve_head(struct lease_ctx *x, const struct sched_assign *a, uint32_t n)
{
	x->now_only = true;
	x->shadow_s = a->start_s;
	x->head_finish_s = a->finish_s;
	x->nlent = 0;
	for (uint32_t i = 0; i < n; i++) {
		x->resv[x->pick[i]] = 1;
		if (x->free_now[x->pick[i]])
			x->lent[x->nlent++] = x->pick[i];
	}
}

/* Job ji's held GPUs protected for it go back to the free pool, as it is
 * being planned; backfilling, a GPU of the head's is the head's from its
 * start, lent until then (to this job too). */
static void lease_release_held(struct lease_ctx *x, const struct sched_job *j, uint32_t ji)
{
	for (uint32_t k = 0; k < j->nheld; k++) {
		uint32_t g = j->held_gpus[k];

		if (g >= x->c->ngpus || x->owner[g] != ji + 1)
			continue;
		x->owner[g] = 0;
		if (!x->now_only || !x->resv[g])
			lease_release_gpu(x, g);
		else if (x->c->gpus[g].up && !x->free_now[g] && !x->hidden[g])
			x->lent[x->nlent++] = g;
	}
}

/* Choose lj's placement into x->pick (*n GPUs), split its tasks and time
 * it in *best (kind 0: none). Backfilling, when nothing else is free now,
 * on the head's lent GPUs if it ends by the head's start: *lent says they
 * are lent now (lease_lend(x, false) once the job has taken its own). */
static void lease_choose_timed(struct lease_ctx *x, const struct lease_job *lj, struct lease_cand *best,
			       uint32_t *n, bool *lent)
{
	const struct sched_job *j = lj->j;
	uint32_t *fut = x->pick + 2 * ((size_t)x->c->ngpus + 1);

	*lent = false;
	lease_choose(x, lj, best, fut, n);
	if (best->kind == 0 && x->now_only && x->nlent > 0) {
		*lent = true;
		lease_lend(x, true);
		lease_choose(x, lj, best, fut, n);
	}
	if (best->kind == 0)
		return;
	if (best->kind == 5)
		memcpy(x->ptasks, j->held_tasks, *n * sizeof(*x->ptasks));
	else if (x->opts->hetero)
		sched_split_tasks(x->c, j, x->pick, *n, x->ptasks);
	else
		lease_split_even(j->tasks, *n, x->ptasks);
	if (best->kind != 5)
		best->round = sched_round_time(x->c, j, x->pick, x->ptasks, *n);
	best->finish = best->start + (best->kind == 5 ? 0 : lj->restart) + lj->rounds * best->round;
	if (*lent && best->finish > x->shadow_s + LEASE_EPS * fmax(1.0, fabs(x->shadow_s)))
		best->kind = 0;
}

/* Plan one job: evaluate candidates, materialise the best, book its GPUs. */
static int lease_place_job(struct lease_ctx *x, uint32_t ji, uint32_t width, uint32_t rank,
			   struct sched_plan *plan)
{
	const struct sched_job *j = &x->snap->jobs[ji];
	struct sched_assign *a = &plan->assigns[ji];
	struct lease_job lj = { .j = j, .rounds = (double)sched_job_rounds_left(j) };
	struct lease_cand best = { .finish = INFINITY };
	uint32_t n;
	bool lent;
	int rc;

	a->rank = rank;
	lj.kmax = width < j->max_gpus ? width : j->max_gpus;
	if (lj.kmax > j->tasks)
		lj.kmax = j->tasks;
	lj.kmin = j->min_gpus ? j->min_gpus : 1;
	if (!x->opts->hetero)
		lj.kmin = lj.kmax;	/* blind policies run at the width they chose */
	if (lj.kmax < lj.kmin || lj.rounds <= 0)
		return 0;
	lj.restart = j->first_start_s >= 0 ? j->perf.restart_s : 0;
	x->placing = ji + 1;
	lease_release_held(x, j, ji);
	lease_choose_timed(x, &lj, &best, &n, &lent);
	rc = best.kind != 0 ? sched_plan_place(plan, ji, x->pick, x->ptasks, n) : 0;
	if (best.kind == 0 || rc) {
		if (lent)
			lease_lend(x, false);
		return rc;
	}
	a->start_s = best.start;
	a->round_s = best.round;
	a->finish_s = best.finish;
	a->run_now = best.start <= x->now + LEASE_EPS;
	if (x->backfill && !x->now_only && !a->run_now)
		lease_reserve_head(x, a, n);
	for (uint32_t i = 0; i < n; i++)
		lease_take_gpu(x, x->pick[i], best.finish);
	if (lent)
		lease_lend(x, false);
	return 0;
}

/* Job ji has been planned: its old GPUs no longer belong to a later job. */
static void lease_unhold(struct lease_ctx *x, uint32_t ji)
{
	const struct sched_job *j = &x->snap->jobs[ji];

	for (uint32_t k = 0; k < j->nheld; k++)
		if (j->held_gpus[k] < x->c->ngpus && x->holder[j->held_gpus[k]] == ji + 1)
			x->holder[j->held_gpus[k]] = 0;
}

/* A waiting job projected onto GPUs that protected leases of jobs ranked
 * after it hold now starts, in fact, when the last of those protections
 * ends (the re-plan then gives it the GPUs), not when those jobs finish:
 * its estimated start and finish say so. Estimates only: nothing is
 * booked differently. */
static void lease_estimate_at_expiry(const struct lease_ctx *x, struct sched_plan *plan)
{
	const struct sched_snapshot *snap = x->snap;
	uint32_t *held_by = calloc((size_t)x->c->ngpus + 1, sizeof(*held_by));

	if (!held_by)
		return;
	for (uint32_t i = 0; i < snap->njobs; i++)
		for (uint32_t k = 0; sched_job_is_running(&snap->jobs[i]) && k < snap->jobs[i].nheld; k++)
			if (snap->jobs[i].held_gpus[k] < x->c->ngpus)
				held_by[snap->jobs[i].held_gpus[k]] = i + 1;
	for (uint32_t i = 0; i < snap->njobs; i++) {
		struct sched_assign *a = &plan->assigns[i];
		double start = -INFINITY, holders_end = -INFINITY;
		bool all = a->ngpus > 0 && !a->run_now && isfinite(a->start_s);

		for (uint32_t k = 0; all && k < a->ngpus; k++) {
			uint32_t h = held_by[plan->gpus[a->first + k]];
			double until = h ? lease_protected_until(x, &snap->jobs[h - 1]) : -INFINITY;

			all = h != i + 1 && until > x->now && plan->assigns[h - 1].rank > a->rank;
			start = fmax(start, until);
			if (all)
				holders_end = fmax(holders_end, plan->assigns[h - 1].finish_s);
		}
		/* it waits for those jobs, not for others planned there before it */
		all = all && start < a->start_s &&
		      a->start_s <= holders_end + LEASE_EPS * fmax(1.0, holders_end);
		if (all) {
			a->finish_s -= a->start_s - start;
			a->start_s = start;
		}
	}
	free(held_by);
}

/* With preemption, a protected lease keeps its GPUs from jobs ranked above
 * it only until its protection ends; if one of those jobs waits, or runs on
 * fewer GPUs than its width, the plan asks to be re-run then, or it would
 * wait for an unrelated event. */
static void lease_replan_at_expiry(const struct lease_ctx *x, const uint32_t *order,
				   uint32_t norder, const uint32_t *width, struct sched_plan *plan)
{
	uint32_t first_short = UINT32_MAX;

	for (uint32_t r = 0; r < norder && first_short == UINT32_MAX; r++) {
		uint32_t ji = order[r], want = width[ji];
		const struct sched_job *j = &x->snap->jobs[ji];
		const struct sched_assign *a = &plan->assigns[ji];

		want = want < j->max_gpus ? want : j->max_gpus;
		want = want < j->tasks ? want : j->tasks;
		if (want && sched_job_rounds_left(j) > 0 && (!a->run_now || a->ngpus < want))
			first_short = r;
	}
	if (first_short == UINT32_MAX)
		return;
	for (uint32_t i = 0; i < x->snap->njobs; i++) {
		double until = lease_protected_until(x, &x->snap->jobs[i]);

		if (until > x->now && plan->assigns[i].rank > first_short && until < plan->replan_at_s)
			plan->replan_at_s = until;
	}
	lease_estimate_at_expiry(x, plan);
}

int sched_greedy_leases(const struct sched_snapshot *snap, const uint32_t *order, uint32_t norder,
			const uint32_t *width, const struct sched_lease_opts *opts, struct sched_plan *plan)
{
	struct lease_ctx x = { .snap = snap, .c = snap->cluster, .opts = opts, .now = snap->now_s,
			       .backfill = opts->backfill && opts->stop_at_blocked };
	int rc = lease_ctx_init(&x);

	for (uint32_t r = 0; rc == 0 && r < norder; r++)
		if (order[r] < snap->njobs)
			x.place[order[r]] = r;

	if (rc == 0 && (!opts->preempt || opts->min_lease_s > 0))
		lease_protect_running(&x);
	for (uint32_t r = 0; rc == 0 && r < norder; r++) {
		uint32_t ji = order[r];

		if (ji >= snap->njobs) {
			rc = -EINVAL;
			break;
		}
		if (width[ji] == 0) {
			plan->assigns[ji].rank = r;
			lease_unhold(&x, ji);
			continue;
		}
		rc = lease_place_job(&x, ji, width[ji], r, plan);
		lease_unhold(&x, ji);
		if (opts->stop_at_blocked && !x.backfill && !plan->assigns[ji].run_now) {
			for (uint32_t q = r + 1; q < norder; q++)
				if (order[q] < snap->njobs)
					plan->assigns[order[q]].rank = q;
			break;
		}
	}
	if (rc == 0 && opts->preempt && opts->min_lease_s > 0)
		lease_replan_at_expiry(&x, order, norder, width, plan);
	lease_ctx_free(&x);
	return rc;
}
