/* SPDX-License-Identifier: MIT */
/* Plans: storage, validation, and the round-time arithmetic every policy and
 * driver shares (sync interpolation, task split over a placement). */
#include "sched.h"

#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double sched_sync_time(const struct sched_perf *perf, uint32_t ngpus, bool spread)
{
	int col = spread ? SCHED_SPREAD : SCHED_CONSOLIDATED;
	double x, frac;
	int lo;

	if (ngpus <= 1)
		return perf->sync_s[0][col];
	x = log2((double)ngpus);
	if (x >= SCHED_SYNC_POINTS - 1)
		return perf->sync_s[SCHED_SYNC_POINTS - 1][col];
	lo = (int)x;
	frac = x - lo;
	return perf->sync_s[lo][col] * (1.0 - frac) + perf->sync_s[lo + 1][col] * frac;
}

double sched_perf_fastest(const struct sched_perf *perf, uint32_t ntypes)
{
	double best = 0;

	for (uint32_t t = 0; t < ntypes && t < SCHED_MAX_TYPES; t++)
		if (perf->compute_s[t] > 0 && (best == 0 || perf->compute_s[t] < best))
			best = perf->compute_s[t];
	return best;
}

double sched_effective_gpus(const struct sched_cluster *c, const struct sched_job *jobs, uint32_t njobs)
{
	double speed[SCHED_MAX_TYPES] = { 0 }, m = 0;

	for (uint32_t i = 0; i < njobs; i++) {
		double p = sched_perf_fastest(&jobs[i].perf, c->ntypes);

		for (uint32_t t = 0; t < c->ntypes && p > 0; t++)
			if (jobs[i].perf.compute_s[t] > 0)
				speed[t] = fmax(speed[t], p / jobs[i].perf.compute_s[t]);
	}
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].up && c->gpus[g].type < SCHED_MAX_TYPES)
			m += speed[c->gpus[g].type];
	return m;
}

void sched_options_default(struct sched_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->lp_solver = SCHED_LP_EXACT;
	opt->lp_stages = 1;
	opt->lp_budget_ms = 200;
	opt->sync_holds_gpu = true;
	opt->preempt = true;
	opt->min_lease_s = SCHED_MIN_LEASE_S;
	opt->type_slack = SCHED_TYPE_SLACK;
}

void sched_plan_init(struct sched_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->replan_at_s = INFINITY;
}

void sched_plan_destroy(struct sched_plan *plan)
{
	free(plan->assigns);
	free(plan->gpus);
	free(plan->tasks);
	sched_plan_init(plan);
}

int sched_plan_reset(struct sched_plan *plan, uint32_t njobs)
{
	struct sched_assign *a;

	a = realloc(plan->assigns, (njobs ? njobs : 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	plan->assigns = a;
	plan->njobs = njobs;
	for (uint32_t i = 0; i < njobs; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].rank = UINT32_MAX;
		a[i].start_s = INFINITY;
		a[i].finish_s = INFINITY;
	}
	plan->nused = 0;
	plan->lp_bound = 0;
	plan->lp_path = SCHED_LP_NONE;
	plan->replan_at_s = INFINITY;
	return 0;
}

static int sched_plan_grow(struct sched_plan *plan, uint32_t need)
{
	uint32_t cap = plan->cap ? plan->cap : 64;
	uint32_t *g;
	uint16_t *t;

	if (need <= plan->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	g = realloc(plan->gpus, cap * sizeof(*g));
	if (!g)
		return -ENOMEM;
	plan->gpus = g;
	t = realloc(plan->tasks, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	plan->tasks = t;
	plan->cap = cap;
	return 0;
}

int sched_plan_place(struct sched_plan *plan, uint32_t j, const uint32_t *gpus,
		     const uint16_t *tasks, uint32_t n)
{
	int rc;

	if (j >= plan->njobs)
		return -EINVAL;
	rc = sched_plan_grow(plan, plan->nused + n);
	if (rc)
		return rc;
	memcpy(plan->gpus + plan->nused, gpus, n * sizeof(*gpus));
	memcpy(plan->tasks + plan->nused, tasks, n * sizeof(*tasks));
	plan->assigns[j].first = plan->nused;
	plan->assigns[j].ngpus = n;
	plan->nused += n;
	return 0;
}

/* True when the GPUs that run tasks sit on more than one node. */
static bool sched_gpus_spread(const struct sched_cluster *c, const uint32_t *gpus,
			      const uint16_t *tasks, uint32_t n)
{
	uint32_t node = UINT32_MAX;

	for (uint32_t i = 0; i < n; i++) {
		if (!tasks[i])
			continue;
		if (node == UINT32_MAX)
			node = c->gpus[gpus[i]].node;
		else if (c->gpus[gpus[i]].node != node)
			return true;
	}
	return false;
}

double sched_job_round_factor(const struct sched_job *j)
{
	uint32_t w = j->max_gpus && j->max_gpus < j->tasks ? j->max_gpus : j->tasks;

	return w ? (double)j->tasks / w : 1;
}

double sched_round_time(const struct sched_cluster *c, const struct sched_job *j,
			const uint32_t *gpus, const uint16_t *tasks, uint32_t n)
{
	double busiest = 0;
	uint32_t used = 0;

	for (uint32_t i = 0; i < n; i++) {
		double t;

		if (!tasks[i])
			continue;
		t = tasks[i] * j->perf.compute_s[c->gpus[gpus[i]].type];
		if (t > busiest)
			busiest = t;
		used++;
	}
	if (used == 0)
		return INFINITY;
	return busiest + sched_sync_time(&j->perf, used, sched_gpus_spread(c, gpus, tasks, n));
}

void sched_split_tasks(const struct sched_cluster *c, const struct sched_job *j,
		       const uint32_t *gpus, uint32_t n, uint16_t *tasks)
{
	uint32_t kmin = j->min_gpus ? j->min_gpus : 1;
	uint32_t cap = (j->tasks + kmin - 1) / kmin, used = 0, usable = 0;

	for (uint32_t i = 0; i < n; i++) {
		tasks[i] = 0;
		usable += j->perf.compute_s[c->gpus[gpus[i]].type] > 0;
	}
	for (uint32_t k = 0; k < j->tasks; k++) {
		/* as many tasks left as GPUs still short of min_gpus: each
		 * goes to a GPU without one (the fastest), or fast GPUs
		 * would take them all and leave the job below its minimum */
		bool fresh = used < kmin && kmin <= usable && j->tasks - k <= kmin - used;
		double best = INFINITY;
		uint32_t bi = UINT32_MAX;

		for (uint32_t i = 0; i < n; i++) {
			double tc = j->perf.compute_s[c->gpus[gpus[i]].type];
			double fin;

			if (tc <= 0 || tasks[i] >= cap || (fresh && tasks[i]))
				continue;
			fin = (tasks[i] + 1) * tc;
			if (fin < best) {
				best = fin;
				bi = i;
			}
		}
		if (bi == UINT32_MAX)
			return;
		used += tasks[bi] == 0;
		tasks[bi]++;
	}
}

double sched_split_compute(const struct sched_job *j, const uint32_t *n, uint32_t ntypes)
{
	uint32_t tasks[SCHED_MAX_TYPES] = { 0 }, kmin = j->min_gpus ? j->min_gpus : 1;
	uint32_t cap = (j->tasks + kmin - 1) / kmin, used = 0, usable = 0;
	double busiest = 0;

	if (ntypes > SCHED_MAX_TYPES)
		ntypes = SCHED_MAX_TYPES;
	for (uint32_t t = 0; t < ntypes; t++)
		usable += j->perf.compute_s[t] > 0 ? n[t] : 0;
	for (uint32_t k = 0; k < j->tasks; k++) {
		/* as in sched_split_tasks; a type's least loaded GPU holds
		 * floor(tasks / n) and has none while tasks < n */
		bool fresh = used < kmin && kmin <= usable && j->tasks - k <= kmin - used;
		double best = INFINITY;
		uint32_t bt = UINT32_MAX;

		for (uint32_t t = 0; t < ntypes; t++) {
			double fin;

			if (!n[t] || j->perf.compute_s[t] <= 0 || tasks[t] / n[t] >= cap ||
			    (fresh && tasks[t] >= n[t]))
				continue;
			fin = ceil((double)(tasks[t] + 1) / n[t]) * j->perf.compute_s[t];
			if (fin < best) {
				best = fin;
				bt = t;
			}
		}
		if (bt == UINT32_MAX)
			return INFINITY;
		used += tasks[bt] < n[bt];
		tasks[bt]++;
		busiest = fmax(busiest, best);
	}
	return busiest;
}

bool sched_plan_keeps(const struct sched_job *j, const struct sched_plan *plan, uint32_t ji)
{
	const struct sched_assign *a = &plan->assigns[ji];
	uint32_t used = 0;

	for (uint32_t i = 0; i < a->ngpus; i++) {
		uint32_t g = plan->gpus[a->first + i];
		uint16_t t = plan->tasks[a->first + i];
		bool held = false;

		if (t == 0)
			continue;
		used++;
		for (uint32_t k = 0; k < j->nheld && !held; k++)
			held = j->held_gpus[k] == g && j->held_tasks[k] == t;
		if (!held)
			return false;
	}
	return used > 0 && used == j->nheld;
}

/* Could job ji's placement be had off the nodes it avoids: for each type
 * it uses, as many GPUs of it up elsewhere? When not, it may go there. */
static bool sched_avoid_possible(const struct sched_cluster *c, const struct sched_job *j,
				 const struct sched_plan *plan, const struct sched_assign *a)
{
	uint32_t need[SCHED_MAX_TYPES] = { 0 }, have[SCHED_MAX_TYPES] = { 0 };

	for (uint32_t i = 0; i < a->ngpus; i++) {
		uint32_t g = plan->gpus[a->first + i];

		if (g < c->ngpus && plan->tasks[a->first + i] && c->gpus[g].type < SCHED_MAX_TYPES)
			need[c->gpus[g].type]++;
	}
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].up && c->gpus[g].type < SCHED_MAX_TYPES &&
		    !sched_job_avoids(j, c->gpus[g].node))
			have[c->gpus[g].type]++;
	for (uint32_t t = 0; t < SCHED_MAX_TYPES; t++)
		if (need[t] > have[t])
			return false;
	return true;
}

/* A free GPU of type for job j to take instead of one on a node it avoids:
 * up, in no run_now placement, not avoided; on a node of the placement
 * first (fewer nodes to synchronise over). UINT32_MAX: none. */
static uint32_t sched_avoid_swap(const struct sched_cluster *c, const struct sched_job *j,
				 const struct sched_plan *plan, const struct sched_assign *a,
				 const uint8_t *used, uint16_t type)
{
	uint32_t other = UINT32_MAX;

	for (uint32_t g = 0; g < c->ngpus; g++) {
		if (used[g] || !c->gpus[g].up || c->gpus[g].type != type ||
		    sched_job_avoids(j, c->gpus[g].node))
			continue;
		for (uint32_t i = 0; i < a->ngpus; i++)
			if (plan->gpus[a->first + i] < c->ngpus &&
			    c->gpus[plan->gpus[a->first + i]].node == c->gpus[g].node)
				return g;
		if (other == UINT32_MAX)
			other = g;
	}
	return other;
}

/* Job ji's run_now placement, with GPUs on nodes it avoids swapped for free
 * ones of the same type; false when some cannot be (used[] unchanged then). */
static bool sched_avoid_fix(const struct sched_snapshot *snap, struct sched_plan *plan, uint32_t ji,
			    uint8_t *used)
{
	const struct sched_cluster *c = snap->cluster;
	const struct sched_job *j = &snap->jobs[ji];
	struct sched_assign *a = &plan->assigns[ji];
	uint32_t from[SCHED_AVOID_SWAPS], to[SCHED_AVOID_SWAPS], n = 0;
	double rounds = (double)sched_job_rounds_left(j), restart;

	for (uint32_t i = 0; i < a->ngpus; i++) {
		uint32_t *g = &plan->gpus[a->first + i], to_g;

		if (*g >= c->ngpus || !sched_job_avoids(j, c->gpus[*g].node))
			continue;
		to_g = n < SCHED_AVOID_SWAPS ? sched_avoid_swap(c, j, plan, a, used, c->gpus[*g].type) :
		       UINT32_MAX;
		if (to_g == UINT32_MAX) {
			while (n-- > 0) {	/* undo */
				for (uint32_t k = 0; k < a->ngpus; k++)
					if (plan->gpus[a->first + k] == to[n])
						plan->gpus[a->first + k] = from[n];
				used[to[n]] = 0;
			}
			return false;
		}
		from[n] = *g;
		to[n++] = to_g;
		used[to_g] = 1;
		*g = to_g;
	}
	for (uint32_t k = 0; k < n; k++)
		used[from[k]] = 0;
	if (n == 0)
		return true;
	restart = j->first_start_s >= 0 ? j->perf.restart_s : 0;
	a->round_s = sched_round_time(c, j, plan->gpus + a->first, plan->tasks + a->first, a->ngpus);
	a->finish_s = a->start_s + restart + rounds * a->round_s;
	return true;
}

int sched_plan_avoid(const struct sched_snapshot *snap, struct sched_plan *plan)
{
	const struct sched_cluster *c = snap->cluster;
	uint8_t *used;
	bool any = false;

	for (uint32_t j = 0; j < snap->njobs && !any; j++)
		any = snap->jobs[j].navoid > 0 && plan->assigns[j].run_now;
	if (!any)
		return 0;
	used = calloc(c->ngpus + 1, 1);
	if (!used)
		return -ENOMEM;
	for (uint32_t j = 0; j < snap->njobs; j++) {
		const struct sched_assign *a = &plan->assigns[j];

		for (uint32_t i = 0; a->run_now && i < a->ngpus; i++)
			if (plan->gpus[a->first + i] < c->ngpus)
				used[plan->gpus[a->first + i]] = 1;
	}
	for (uint32_t j = 0; j < snap->njobs; j++) {
		struct sched_assign *a = &plan->assigns[j];

		if (!a->run_now || snap->jobs[j].navoid == 0 || sched_plan_keeps(&snap->jobs[j], plan, j) ||
		    !sched_avoid_possible(c, &snap->jobs[j], plan, a) || sched_avoid_fix(snap, plan, j, used))
			continue;
		/* it waits for GPUs off those nodes; the ones it was given stay free */
		for (uint32_t i = 0; i < a->ngpus; i++)
			if (plan->gpus[a->first + i] < c->ngpus)
				used[plan->gpus[a->first + i]] = 0;
		a->run_now = false;
		a->start_s = a->finish_s = INFINITY;
	}
	free(used);
	return 0;
}

static int sched_check_one(const struct sched_snapshot *snap, const struct sched_plan *plan,
			   uint32_t j, uint8_t *taken, char *errbuf, size_t errlen)
{
	const struct sched_cluster *c = snap->cluster;
	const struct sched_job *job = &snap->jobs[j];
	const struct sched_assign *a = &plan->assigns[j];
	/* a new placement on nodes it avoids, though the GPUs are there elsewhere */
	bool must_avoid = job->navoid > 0 && !sched_plan_keeps(job, plan, j) &&
			  sched_avoid_possible(c, job, plan, a);
	uint32_t sum = 0, used = 0;

	for (uint32_t i = 0; i < a->ngpus; i++) {
		uint32_t g = plan->gpus[a->first + i];
		uint16_t t = plan->tasks[a->first + i];

		if (g >= c->ngpus || !c->gpus[g].up) {
			snprintf(errbuf, errlen, "job %u: gpu %u does not exist or is down", job->id, g);
			return -EINVAL;
		}
		if (t && job->perf.compute_s[c->gpus[g].type] <= 0) {
			snprintf(errbuf, errlen, "job %u: placed on gpu %u of a type it cannot use",
				 job->id, g);
			return -EINVAL;
		}
		if (taken[g]) {
			snprintf(errbuf, errlen, "job %u: gpu %u given to two jobs", job->id, g);
			return -EINVAL;
		}
		if (t && must_avoid && sched_job_avoids(job, c->gpus[g].node)) {
			snprintf(errbuf, errlen, "job %u: started on node %u, which it avoids", job->id,
				 c->gpus[g].node);
			return -EINVAL;
		}
		taken[g] = 1;
		sum += t;
		used += t > 0;
	}
	if (sum != job->tasks) {
		snprintf(errbuf, errlen, "job %u: %u tasks placed, job has %u", job->id, sum, job->tasks);
		return -EINVAL;
	}
	if (used < job->min_gpus || used > job->max_gpus) {
		snprintf(errbuf, errlen, "job %u: %u GPUs used, allowed %u..%u", job->id, used,
			 job->min_gpus, job->max_gpus);
		return -EINVAL;
	}
	return 0;
}

int sched_plan_drop_invalid(const struct sched_snapshot *snap, struct sched_plan *plan,
			    char *errbuf, size_t errlen)
{
	size_t n = (size_t)snap->cluster->ngpus + 1;
	uint8_t *taken, *was;
	char why[256];
	int dropped = 0;

	if (plan->njobs != snap->njobs) {
		snprintf(errbuf, errlen, "plan has %u jobs, snapshot %u", plan->njobs, snap->njobs);
		return -EINVAL;
	}
	taken = calloc(2 * n, 1);
	if (!taken)
		return -ENOMEM;
	was = taken + n;
	for (uint32_t j = 0; j < snap->njobs; j++) {
		struct sched_assign *a = &plan->assigns[j];

		if (!a->run_now)
			continue;
		memcpy(was, taken, n);
		if (sched_check_one(snap, plan, j, taken, why, sizeof(why)) == 0)
			continue;
		if (dropped == 0 || sched_job_is_running(&snap->jobs[j]))
			snprintf(errbuf, errlen, "%s", why);
		if (sched_job_is_running(&snap->jobs[j])) {
			dropped = -EINVAL;
			break;
		}
		memcpy(taken, was, n);	/* its GPUs stay free for the jobs after it */
		a->run_now = false;
		a->start_s = a->finish_s = INFINITY;
		dropped++;
	}
	free(taken);
	/* a running job stopped or moved may have been for a dropped one: its
	 * GPUs would stand idle, and the same mistake at the next plan would
	 * stop it again */
	for (uint32_t j = 0; dropped > 0 && j < snap->njobs; j++) {
		if (sched_job_is_running(&snap->jobs[j]) &&
		    !(plan->assigns[j].run_now && sched_plan_keeps(&snap->jobs[j], plan, j))) {
			size_t len = strlen(errbuf);

			snprintf(errbuf + len, errlen > len ? errlen - len : 0,
				 "; the plan also stops or moves running job %u", snap->jobs[j].id);
			return -EINVAL;
		}
	}
	return dropped;
}

int sched_plan_check(const struct sched_snapshot *snap, const struct sched_plan *plan,
		     char *errbuf, size_t errlen)
{
	uint8_t *taken;
	int rc = 0;

	if (plan->njobs != snap->njobs) {
		snprintf(errbuf, errlen, "plan has %u jobs, snapshot %u", plan->njobs, snap->njobs);
		return -EINVAL;
	}
	taken = calloc(snap->cluster->ngpus + 1, 1);
	if (!taken)
		return -ENOMEM;
	for (uint32_t j = 0; j < snap->njobs && rc == 0; j++) {
		if (!plan->assigns[j].run_now)
			continue;
		rc = sched_check_one(snap, plan, j, taken, errbuf, errlen);
	}
	free(taken);
	return rc;
}
