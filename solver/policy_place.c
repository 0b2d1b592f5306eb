/* SPDX-License-Identifier: MIT */
/* Placement helpers the baselines share (declared in policy_impl.h): GPU
 * picking with node affinity, admission in an order, and placement that
 * keeps running jobs where they are. */
#include "policy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t policy_requested_width(const struct sched_job *j)
{
	uint32_t w = j->max_gpus < j->tasks ? j->max_gpus : j->tasks;

	return w ? w : 1;
}

static bool policy_gpu_ok(const struct sched_cluster *c, const struct sched_job *j, uint32_t g,
			  uint32_t type)
{
	uint16_t t = c->gpus[g].type;

	if (!c->gpus[g].up || t >= SCHED_MAX_TYPES || j->perf.compute_s[t] <= 0)
		return false;
	return type == POLICY_ANY_TYPE || t == type;
}

/* Take up to n eligible free GPUs of node `node` into out[have..]. */
static uint32_t policy_take_node(const struct sched_cluster *c, const struct sched_job *j,
				 const uint8_t *avail, uint32_t type, uint32_t node, uint32_t n,
				 uint32_t *out, uint32_t have, uint32_t first)
{
	for (uint32_t g = first; g < c->ngpus && c->gpus[g].node == node && have < n; g++)
		if (avail[g] && policy_gpu_ok(c, j, g, type))
			out[have++] = g;
	return have;
}

uint32_t policy_pick_gpus(const struct sched_cluster *c, const struct sched_job *j,
			  const uint8_t *avail, uint32_t type, uint32_t n, uint32_t *node_cnt,
			  uint32_t *out)
{
	uint32_t total = 0, best = UINT32_MAX, have = 0;

	if (n == 0)
		return 0;
	memset(node_cnt, 0, c->nnodes * sizeof(*node_cnt));
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (avail[g] && c->gpus[g].node < c->nnodes && policy_gpu_ok(c, j, g, type)) {
			node_cnt[c->gpus[g].node]++;
			total++;
		}
	if (total < n)
		return 0;
	/* best fit (policy_node_before breaks ties) */
	for (uint32_t nd = 0; nd < c->nnodes; nd++)
		if (node_cnt[nd] >= n &&
		    (best == UINT32_MAX || policy_node_before(node_cnt, nd, best, true)))
			best = nd;
	/* GPUs are grouped by node, so one pass in GPU order takes a node's
	 * GPUs together; the fullest node goes first when spreading. */
	while (have < n) {
		uint32_t nd = best;

		if (nd == UINT32_MAX)
			for (uint32_t k = 0; k < c->nnodes; k++)
				if (node_cnt[k] && (nd == UINT32_MAX ||
						    policy_node_before(node_cnt, k, nd, false)))
					nd = k;
		for (uint32_t g = 0; g < c->ngpus; g++)
			if (c->gpus[g].node == nd) {
				have = policy_take_node(c, j, avail, type, nd, n, out, have, g);
				break;
			}
		node_cnt[nd] = 0;
		best = UINT32_MAX;
	}
	return n;
}

bool policy_can_keep(const struct sched_cluster *c, const struct sched_job *j, const uint8_t *avail,
		     uint32_t type)
{
	if (!sched_job_is_running(j))
		return false;
	for (uint32_t k = 0; k < j->nheld; k++) {
		uint32_t g = j->held_gpus[k];

		if (g >= c->ngpus || !avail[g] || !policy_gpu_ok(c, j, g, type))
			return false;
	}
	return true;
}

int policy_place_now(const struct sched_snapshot *snap, struct sched_plan *plan, uint32_t ji,
		     const uint32_t *gpus, uint32_t n, bool keep, uint8_t *avail)
{
	const struct sched_job *j = &snap->jobs[ji];
	struct sched_assign *a = &plan->assigns[ji];
	uint16_t *tasks = malloc((n ? n : 1) * sizeof(*tasks));
	double restart;
	int rc;

	if (!tasks)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		tasks[i] = keep ? j->held_tasks[i] : (uint16_t)(j->tasks / n + (i < j->tasks % n));
	rc = sched_plan_place(plan, ji, gpus, tasks, n);
	if (rc == 0) {
		restart = !keep && j->first_start_s >= 0 ? j->perf.restart_s : 0;
		a->run_now = true;
		a->start_s = snap->now_s;
		a->round_s = sched_round_time(snap->cluster, j, gpus, tasks, n);
		a->finish_s = snap->now_s + restart + (double)sched_job_rounds_left(j) * a->round_s;
		for (uint32_t i = 0; i < n; i++)
			avail[gpus[i]] = 0;
	}
	free(tasks);
	return rc;
}

/* Scratch for admission and placement: a free mark per GPU (up ones set),
 * a count per node, and room for one placement. */
struct policy_scratch_place {
	uint8_t *avail;
	uint32_t *node_cnt;
	uint32_t *pick;
};

static void place_scratch_free(struct policy_scratch_place *s)
{
	free(s->avail);
	free(s->node_cnt);
	free(s->pick);
	memset(s, 0, sizeof(*s));
}

static int place_scratch_init(struct policy_scratch_place *s, const struct sched_snapshot *snap)
{
	const struct sched_cluster *c = snap->cluster;
	uint32_t wmax = 1;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		uint32_t w = policy_requested_width(&snap->jobs[i]);

		wmax = w > wmax ? w : wmax;
		wmax = snap->jobs[i].nheld > wmax ? snap->jobs[i].nheld : wmax;
	}
	s->avail = malloc(c->ngpus + 1);
	s->node_cnt = calloc(c->nnodes + 1, sizeof(*s->node_cnt));
	s->pick = malloc(wmax * sizeof(*s->pick));
	if (!s->avail || !s->node_cnt || !s->pick) {
		place_scratch_free(s);
		return -ENOMEM;
	}
	for (uint32_t g = 0; g < c->ngpus; g++)
		s->avail[g] = c->gpus[g].up;
	return 0;
}

void policy_type_counts(const struct sched_cluster *c, uint32_t *count)
{
	memset(count, 0, SCHED_MAX_TYPES * sizeof(*count));
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].up && c->gpus[g].type < SCHED_MAX_TYPES)
			count[c->gpus[g].type]++;
}

uint32_t policy_typed_width(const struct sched_job *j, const uint32_t *count, uint32_t ntypes)
{
	uint32_t w = policy_requested_width(j), most = 0;

	for (uint32_t t = 0; t < ntypes && t < SCHED_MAX_TYPES; t++)
		if (j->perf.compute_s[t] > 0 && count[t] > most)
			most = count[t];
	w = w < most ? w : most;
	return w >= j->min_gpus && w > 0 ? w : 0;
}

static uint32_t policy_width_of(const struct sched_snapshot *snap, const uint32_t *width, uint32_t ji)
{
	return width ? width[ji] : policy_requested_width(&snap->jobs[ji]);
}

int policy_admit(const struct sched_snapshot *snap, const uint32_t *order, uint32_t n,
		 const uint32_t *type, const uint32_t *width, uint32_t *admitted, uint32_t *nadm)
{
	struct policy_scratch_place s;
	int rc = place_scratch_init(&s, snap);

	*nadm = 0;
	if (rc)
		return rc;
	for (uint32_t r = 0; r < n; r++) {
		uint32_t ji = order[r], w = policy_width_of(snap, width, ji);
		const struct sched_job *j = &snap->jobs[ji];

		if (sched_job_rounds_left(j) == 0 || w == 0)
			continue;
		/* A running job that keeps its lease takes exactly its GPUs. */
		if (policy_can_keep(snap->cluster, j, s.avail, type[ji])) {
			for (uint32_t k = 0; k < j->nheld; k++)
				s.avail[j->held_gpus[k]] = 0;
		} else if (policy_pick_gpus(snap->cluster, j, s.avail, type[ji], w, s.node_cnt, s.pick)) {
			for (uint32_t k = 0; k < w; k++)
				s.avail[s.pick[k]] = 0;
		} else {
			continue;
		}
		admitted[(*nadm)++] = ji;
	}
	place_scratch_free(&s);
	return 0;
}

int policy_place_admitted(const struct sched_snapshot *snap, const uint32_t *admitted, uint32_t n,
			  const uint32_t *type, const uint32_t *width, struct sched_plan *plan)
{
	struct policy_scratch_place s;
	int rc = place_scratch_init(&s, snap);

	if (rc)
		return rc;
	for (uint32_t r = 0; rc == 0 && r < n; r++) {
		const struct sched_job *j = &snap->jobs[admitted[r]];

		if (policy_can_keep(snap->cluster, j, s.avail, type[admitted[r]]))
			rc = policy_place_now(snap, plan, admitted[r], j->held_gpus, j->nheld, true, s.avail);
	}
	for (uint32_t r = 0; rc == 0 && r < n; r++) {
		uint32_t ji = admitted[r], w = policy_width_of(snap, width, ji);

		if (plan->assigns[ji].run_now || w == 0)
			continue;
		if (policy_pick_gpus(snap->cluster, &snap->jobs[ji], s.avail, type[ji], w, s.node_cnt, s.pick))
			rc = policy_place_now(snap, plan, ji, s.pick, w, false, s.avail);
	}
	place_scratch_free(&s);
	return rc;
}

