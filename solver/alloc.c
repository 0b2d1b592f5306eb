/* SPDX-License-Identifier: MIT */
/* Optimus marginal-gain allocation (Peng et al., EuroSys'18), adapted to
 * all-reduce jobs with a fixed number of tasks per round: with k GPUs a
 * round costs ceil(K/k) task times plus the sync for k GPUs, so a job gains
 * from another GPU only while that shortens its busiest GPU more than it
 * lengthens the sync. The gain is the drop in remaining time,
 * rounds_left * (t(k) - t(k+1)), per GPU added (times the weight for hare,
 * whose objective is weighted). Ties go to the earlier job in the order. */
#include "alloc.h"

#include "speed.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The up GPUs of each type: how many, and the most on one node. */
struct alloc_shape {
	uint32_t count[SCHED_MAX_TYPES];
	uint32_t node_max[SCHED_MAX_TYPES];
};

static void alloc_shape_of(const struct sched_cluster *c, struct alloc_shape *s)
{
	uint32_t cur[SCHED_MAX_TYPES] = { 0 }, node = UINT32_MAX;

	memset(s, 0, sizeof(*s));
	for (uint32_t g = 0; g < c->ngpus; g++) {
		uint32_t t = c->gpus[g].type;

		if (c->gpus[g].node != node) {
			node = c->gpus[g].node;
			memset(cur, 0, sizeof(cur));
		}
		if (!c->gpus[g].up || t >= SCHED_MAX_TYPES)
			continue;
		s->count[t]++;
		if (++cur[t] > s->node_max[t])
			s->node_max[t] = cur[t];
	}
}

/* Busiest-GPU compute of j's tasks on the k fastest up GPUs of any type
 * (fastest types first, as the lease greedy builds a mix), split as the
 * placement splits them (sched_split_compute: at most ceil(tasks /
 * min_gpus) per GPU, min_gpus of them used); INFINITY when there are
 * fewer than k. */
static double alloc_mixed_compute(const struct sched_cluster *c, const struct alloc_shape *s,
				  const struct sched_job *j, uint32_t k)
{
	uint32_t n[SCHED_MAX_TYPES] = { 0 }, nt = c->ntypes < SCHED_MAX_TYPES ? c->ntypes : SCHED_MAX_TYPES;

	for (uint32_t left = k; left > 0;) {
		uint32_t bt = UINT32_MAX, take;

		for (uint32_t t = 0; t < nt; t++)
			if (j->perf.compute_s[t] > 0 && n[t] < s->count[t] &&
			    (bt == UINT32_MAX || j->perf.compute_s[t] < j->perf.compute_s[bt]))
				bt = t;
		if (bt == UINT32_MAX)
			return INFINITY;
		take = s->count[bt] - n[bt] < left ? s->count[bt] - n[bt] : left;
		n[bt] += take;
		left -= take;
	}
	return sched_split_compute(j, n, nt);
}

static double alloc_estimate(const struct sched_cluster *c, const struct alloc_shape *s,
			     const struct sched_job *j, uint32_t k)
{
	double best = INFINITY, comp;

	if (k == 0)
		return INFINITY;
	for (uint32_t t = 0; t < c->ntypes && t < SCHED_MAX_TYPES; t++) {
		double tc = j->perf.compute_s[t], sync, r;

		if (tc <= 0 || s->count[t] < k)
			continue;
		comp = ceil((double)j->tasks / k) * tc;
		sync = sched_sync_time(&j->perf, k, k > s->node_max[t]);
		r = j->speed ? speed_model_predict(j->speed, comp, sync, k) : comp + sync;
		if (r < best)
			best = r;
	}
	/* no type has k GPUs, or a mix beats those that do: across nodes */
	comp = alloc_mixed_compute(c, s, j, k);
	if (isfinite(comp)) {
		double sync = sched_sync_time(&j->perf, k, true);
		double r = j->speed ? speed_model_predict(j->speed, comp, sync, k) : comp + sync;

		if (r < best)
			best = r;
	}
	return best;
}

double alloc_round_estimate(const struct sched_cluster *c, const struct sched_job *j, uint32_t k)
{
	struct alloc_shape s;

	alloc_shape_of(c, &s);
	return alloc_estimate(c, &s, j, k);
}

struct alloc_item {
	double gain;
	uint32_t job, rank, step;
};

static bool alloc_better(const struct alloc_item *a, const struct alloc_item *b)
{
	return a->gain > b->gain || (a->gain == b->gain && a->rank < b->rank);
}

static void alloc_sift_up(struct alloc_item *h, uint32_t i)
{
	struct alloc_item it = h[i];

	while (i > 0 && alloc_better(&it, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = it;
}

static void alloc_sift_down(struct alloc_item *h, uint32_t n, uint32_t i)
{
	struct alloc_item it = h[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m;

		if (l >= n)
			break;
		m = (l + 1 < n && alloc_better(&h[l + 1], &h[l])) ? l + 1 : l;
		if (!alloc_better(&h[m], &it))
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = it;
}

/*
 * Next useful step for a job at width k: the smallest k' > k at which a GPU
 * runs fewer tasks per round (between such widths only the sync changes, so
 * single steps would see no gain and stop early). The gain is per GPU added.
 */
static struct alloc_item alloc_next(const struct sched_snapshot *snap, const struct alloc_shape *s,
				    uint32_t ji, uint32_t rank, uint32_t k, bool weighted)
{
	const struct sched_job *j = &snap->jobs[ji];
	uint32_t cap = j->max_gpus < j->tasks ? j->max_gpus : j->tasks;
	struct alloc_item it = { .gain = -INFINITY, .job = ji, .rank = rank };
	uint32_t per = (j->tasks + k - 1) / k, next;
	double now, then;

	if (k >= cap || per <= 1)
		return it;
	next = (j->tasks + per - 2) / (per - 1);	/* smallest k' with ceil(K/k') <= per - 1 */
	if (next > cap)
		next = cap;
	now = alloc_estimate(snap->cluster, s, j, k);
	then = alloc_estimate(snap->cluster, s, j, next);
	it.step = next - k;
	if (!isfinite(now) || !isfinite(then))
		return it;	/* more GPUs than it can use */
	it.gain = (weighted ? j->weight : 1.0) * (double)sched_job_rounds_left(j) * (now - then) / it.step;
	return it;
}

int alloc_optimus(const struct sched_snapshot *snap, const uint32_t *order, uint32_t norder,
		  const struct alloc_opts *opts, uint32_t *width)
{
	uint32_t free_gpus = opts->gpus, admitted = 0, nh = 0;
	struct alloc_item *heap;
	struct alloc_shape shape;

	if (!free_gpus)
		for (uint32_t g = 0; g < snap->cluster->ngpus; g++)
			free_gpus += snap->cluster->gpus[g].up;
	for (uint32_t i = 0; i < snap->njobs; i++)
		width[i] = 0;
	alloc_shape_of(snap->cluster, &shape);
	heap = malloc((norder ? norder : 1) * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	for (uint32_t r = 0; r < norder; r++) {
		const struct sched_job *j = &snap->jobs[order[r]];
		uint32_t m = j->min_gpus ? j->min_gpus : 1;

		if (m > free_gpus)
			break;
		free_gpus -= m;
		width[order[r]] = m;
		heap[nh++] = alloc_next(snap, &shape, order[r], r, m, opts->weighted);
		alloc_sift_up(heap, nh - 1);
		admitted++;
	}
	while (free_gpus > 0 && nh > 0 && heap[0].gain > 0) {
		struct alloc_item top = heap[0];

		if (top.step <= free_gpus) {
			width[top.job] += top.step;
			free_gpus -= top.step;
			heap[0] = alloc_next(snap, &shape, top.job, top.rank, width[top.job],
						     opts->weighted);
		} else {
			heap[0].gain = -INFINITY;	/* the step no longer fits */
		}
		alloc_sift_down(heap, nh, 0);
	}
	free(heap);
	return (int)admitted;
}
