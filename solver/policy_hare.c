/* SPDX-License-Identifier: MIT */
/* The `hare` policy (Chen et al., HPDC'22): order jobs by the completion
 * times of the relaxed LP (lp.h), size them with Optimus-style weighted
 * marginal gains (alloc.h), and give each, in that order, the placement on
 * which it finishes earliest (greedy.h, heterogeneity-aware task split).
 *
 * Each re-plan relaxes the current jobs from `now`: a job's remaining rounds
 * form one LP group (or lp_stages chained groups with GLPK) whose work is
 * tasks * rounds * p (p = its fastest per-task time) and whose span is
 * rounds * p * tasks / w + (rounds - 1) * s (w = the most GPUs it may use,
 * min(max_gpus, tasks); s = its smallest possible sync). With one
 * group per job the LP is solved exactly by lp_solve_exact; GLPK runs within
 * a time budget, and when it fails or times out the previous plan's order is
 * reused (new jobs after it by Smith's rule), or Smith's rule alone. */
#include "policy_impl.h"

#include "alloc.h"
#include "err.h"
#include "greedy.h"
#include "lp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hare_state {
	struct lp_item *items;
	double *completion;
	uint32_t *item_job;	/* item -> job index */
	uint32_t cap;
	/* Previous order, as job id -> rank, for the budget fallback. */
	uint32_t *prev_ids;
	uint32_t nprev;
	bool smith;		/* hare-smith: jobs in Smith's order, not the LP's */
};

static int hare_init(struct sched_policy *p)
{
	p->state = calloc(1, sizeof(struct hare_state));
	return p->state ? 0 : -ENOMEM;
}

static int hare_smith_init(struct sched_policy *p)
{
	int rc = hare_init(p);

	if (rc == 0)
		((struct hare_state *)p->state)->smith = true;
	return rc;
}

static void hare_destroy(struct sched_policy *p)
{
	struct hare_state *st = p->state;

	free(st->items);
	free(st->completion);
	free(st->item_job);
	free(st->prev_ids);
	free(st);
}

static int hare_grow(struct hare_state *st, uint32_t n)
{
	void *a, *b, *c;

	if (n <= st->cap)
		return 0;
	a = realloc(st->items, n * sizeof(*st->items));
	if (a)
		st->items = a;
	b = realloc(st->completion, n * sizeof(*st->completion));
	if (b)
		st->completion = b;
	c = realloc(st->item_job, n * sizeof(*st->item_job));
	if (c)
		st->item_job = c;
	if (!a || !b || !c)
		return -ENOMEM;
	st->cap = n;
	return 0;
}

/* Smallest sync the job can have at a width it may use. */
static double hare_min_sync(const struct sched_job *j)
{
	uint32_t lo = j->min_gpus ? j->min_gpus : 1, hi = j->max_gpus < j->tasks ? j->max_gpus : j->tasks;
	double best = INFINITY;

	for (uint32_t k = lo; k <= hi; k++)
		best = fmin(best, sched_sync_time(&j->perf, k, false));
	return isfinite(best) && best > 0 ? best : 0;
}

/* Fill LP groups for every job: `stages` chained groups per job. */
static uint32_t hare_items(const struct sched_snapshot *snap, struct hare_state *st, uint32_t stages)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		double p = sched_perf_fastest(&j->perf, snap->cluster->ntypes), s = hare_min_sync(j);
		double per_round;
		uint64_t left = sched_job_rounds_left(j), done = 0;
		uint32_t ng = stages < left ? stages : (uint32_t)(left ? left : 1);

		if (p <= 0)
			p = 1e9;	/* cannot run here: push it last */
		per_round = p * sched_job_round_factor(j);
		for (uint32_t g = 0; g < ng; g++) {
			uint64_t r = left ? (left - done) / (ng - g) : 1;

			done += r;
			st->items[n] = (struct lp_item){
				.work = (double)j->tasks * (double)r * p,
				.span_s = (double)r * per_round + (double)(r - 1) * s,
				.release_s = snap->now_s,
				.gap_s = s,
				.weight = g + 1 == ng ? j->weight : 0,
				.prev = g ? (int32_t)n - 1 : -1,
			};
			st->item_job[n++] = i;
		}
	}
	return n;
}

/* Smith's rule key: remaining fastest work over weight (smaller first). */
static void hare_wspt_keys(const struct sched_snapshot *snap, double *key)
{
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		double p = sched_perf_fastest(&j->perf, snap->cluster->ntypes);

		key[i] = (double)j->tasks * (double)sched_job_rounds_left(j) * (p > 0 ? p : 1e9) / j->weight;
	}
}

/* Budget fallback: previous order first (by its rank), new jobs after it by
 * Smith's rule (with no previous order: Smith's rule alone). */
static void hare_previous_keys(const struct sched_snapshot *snap, const struct hare_state *st,
			       double *key)
{
	hare_wspt_keys(snap, key);
	for (uint32_t i = 0; i < snap->njobs; i++) {
		key[i] += st->nprev;	/* Smith's keys are >= 0: after every rank */
		for (uint32_t r = 0; r < st->nprev; r++)
			if (st->prev_ids[r] == snap->jobs[i].id) {
				key[i] = r;
				break;
			}
	}
}

/* Solve the LP and turn it into per-job keys; returns the path taken. */
static enum sched_lp_path hare_solve(struct sched_policy *p, const struct sched_snapshot *snap,
				     double *key, double *bound)
{
	struct hare_state *st = p->state;
	uint32_t stages = p->opt.lp_solver == SCHED_LP_GLPK && p->opt.lp_stages > 1 ? p->opt.lp_stages : 1;
	uint32_t n = hare_items(snap, st, stages);
	struct lp_input in = { .n = n, .items = st->items, .machines = 0 };
	struct lp_options lo;
	double obj = 0;
	int rc;

	in.machines = sched_effective_gpus(snap->cluster, snap->jobs, snap->njobs);
	if (in.machines <= 0 || n == 0) {
		/* nothing can run now (no GPU up): an order all the same */
		hare_previous_keys(snap, st, key);
		return SCHED_LP_NONE;
	}
	lp_options_default(&lo);
	lo.time_limit_ms = p->opt.lp_budget_ms;
	if (p->opt.lp_solver == SCHED_LP_GLPK)
		rc = lp_solve_glpk(&in, &lo, st->completion, &obj, NULL);
	else
		rc = lp_solve_exact(&in, st->completion, &obj);
	if (rc) {
		hare_previous_keys(snap, st, key);
		return st->nprev ? SCHED_LP_PREVIOUS : SCHED_LP_WSPT;
	}
	*bound = obj;
	for (uint32_t i = 0; i < n; i++)
		if (st->items[i].weight > 0 || i + 1 == n || st->item_job[i + 1] != st->item_job[i])
			key[st->item_job[i]] = st->completion[i];
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];

		*bound += j->weight * (hare_min_sync(j) - j->arrival_s);
	}
	return p->opt.lp_solver == SCHED_LP_GLPK ? SCHED_LP_GLPK : SCHED_LP_EXACT;
}

static int hare_remember(struct hare_state *st, const struct sched_snapshot *snap, const uint32_t *order)
{
	uint32_t *ids = realloc(st->prev_ids, (snap->njobs ? snap->njobs : 1) * sizeof(*ids));

	if (!ids)
		return -ENOMEM;
	st->prev_ids = ids;
	for (uint32_t r = 0; r < snap->njobs; r++)
		ids[r] = snap->jobs[order[r]].id;
	st->nprev = snap->njobs;
	return 0;
}

static int hare_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	struct hare_state *st = p->state;
	struct alloc_opts ao = { .weighted = true };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .consolidate = true,
				       .preempt = p->opt.preempt, .min_lease_s = p->opt.min_lease_s,
				       .type_slack = p->opt.type_slack };
	double bound = 0;
	int rc;

	rc = hare_grow(st, snap->njobs * (p->opt.lp_stages > 1 ? p->opt.lp_stages : 1) + 1);
	if (rc)
		return rc;
	out->lp_path = hare_solve(p, snap, p->key, &bound);
	out->lp_bound = bound;
	for (uint32_t i = 0; i < snap->njobs; i++) {
		p->order[i] = i;
		out->assigns[i].lp_completion_s = out->lp_path == SCHED_LP_EXACT ||
			out->lp_path == SCHED_LP_GLPK ? p->key[i] : 0;
	}
	/* hare-smith: Smith's order, the LP kept for its bound and times */
	if (st->smith)
		hare_wspt_keys(snap, p->key);
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	if (!p->opt.preempt)
		for (uint32_t i = 0; i < snap->njobs; i++)
			p->key[i] = sched_job_is_running(&snap->jobs[i]) ? 0 : 1;
	if (!p->opt.preempt) {
		/* Stable partition: running jobs keep their GPUs first. */
		uint32_t w = 0;

		for (uint32_t pass = 0; pass < 2; pass++)
			for (uint32_t r = 0; r < snap->njobs; r++)
				if ((p->key[p->order[r]] == 0) == (pass == 0))
					p->width[w++] = p->order[r];
		memcpy(p->order, p->width, snap->njobs * sizeof(*p->order));
	}
	rc = hare_remember(st, snap, p->order);
	if (rc < 0)
		return rc;
	rc = alloc_optimus(snap, p->order, snap->njobs, &ao, p->width);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < snap->njobs; i++)
		if (p->width[i] == 0)
			p->width[i] = snap->jobs[i].min_gpus ? snap->jobs[i].min_gpus : 1;
	return sched_greedy_leases(snap, p->order, snap->njobs, p->width, &lo, out);
}

static void hare_forget(struct sched_policy *p, uint32_t job_id)
{
	(void)p;
	(void)job_id;	/* the previous order is rebuilt on every plan */
}

const struct sched_policy_ops policy_hare_ops = {
	.name = "hare",
	.summary = "relaxed-LP order, weighted marginal-gain widths, earliest-finish placement",
	.init = hare_init,
	.plan = hare_plan,
	.forget = hare_forget,
	.destroy = hare_destroy,
};

/* hare with Smith's rule (remaining fastest work over weight) for its order
 * and everything else hare's; docs/scheduling.md has the comparison. */
const struct sched_policy_ops policy_hare_smith_ops = {
	.name = "hare-smith",
	.summary = "hare with Smith's-rule order (work over weight) instead of the LP's",
	.init = hare_smith_init,
	.plan = hare_plan,
	.forget = hare_forget,
	.destroy = hare_destroy,
};
