/* SPDX-License-Identifier: MIT */
/* The `gandiva` baseline (Xiao et al., OSDI'18), without packing: type-blind,
 * requested width, placement on nodes whose jobs have the same GPU count
 * (affinity) first, and time-slicing when jobs outnumber GPUs: quanta of
 * 60 s handed round-robin among waiting and running jobs, so jobs suspend
 * and resume (a resume on other GPUs pays the job's restart cost). */
#include "policy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GANDIVA_QUANTUM_S 60.0
/* A quantum is at least this many times a job's restart plus one round,
 * so that a resumed job always makes progress. */
#define GANDIVA_QUANTUM_MIN_FACTOR 2.0

struct gandiva_job {
	uint64_t stamp;		/* place in the round-robin queue, smaller first */
};

struct gandiva_state {
	struct policy_ids *ids;
	uint64_t counter;	/* last stamp handed out */
	double next_slice_s;	/* next quantum boundary (0: none pending) */
	uint32_t *type;		/* all POLICY_ANY_TYPE */
	uint32_t *admitted;
	uint32_t *fresh;	/* jobs seen for the first time */
	uint32_t cap;
};

static int gandiva_init(struct sched_policy *p)
{
	struct gandiva_state *st = calloc(1, sizeof(*st));

	if (!st || policy_ids_new(sizeof(struct gandiva_job), &st->ids) < 0) {
		free(st);
		return -ENOMEM;
	}
	p->state = st;
	return 0;
}

static void gandiva_destroy(struct sched_policy *p)
{
	struct gandiva_state *st = p->state;

	policy_ids_free(st->ids);
	free(st->type);
	free(st->admitted);
	free(st->fresh);
	free(st);
}

static void gandiva_forget(struct sched_policy *p, uint32_t job_id)
{
	struct gandiva_state *st = p->state;

	policy_ids_drop(st->ids, job_id);
}

static int gandiva_grow(struct gandiva_state *st, uint32_t n)
{
	uint32_t **arr[] = { &st->type, &st->admitted, &st->fresh };
	int rc = 0;

	if (n <= st->cap)
		return 0;
	for (size_t k = 0; k < sizeof(arr) / sizeof(arr[0]); k++) {
		uint32_t *a = realloc(*arr[k], n * sizeof(uint32_t));

		if (a)
			*arr[k] = a;
		else
			rc = -ENOMEM;
	}
	if (rc == 0)
		st->cap = n;
	return rc;
}

/* Jobs seen for the first time join the back of the queue by arrival. */
static int gandiva_stamp_new(struct sched_policy *p, const struct sched_snapshot *snap)
{
	struct gandiva_state *st = p->state;
	uint32_t nf = 0;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		bool created;
		struct gandiva_job *r = policy_ids_get(st->ids, snap->jobs[i].id, &created);

		if (!r)
			return -ENOMEM;
		if (created) {
			st->fresh[nf++] = i;
			p->key[i] = snap->jobs[i].arrival_s;
		}
	}
	policy_sort_by_key(snap, st->fresh, nf, p->key);
	for (uint32_t k = 0; k < nf; k++) {
		struct gandiva_job *r = policy_ids_find(st->ids, snap->jobs[st->fresh[k]].id);

		r->stamp = ++st->counter;
	}
	return 0;
}

/* The quantum for this snapshot: 60 s, or longer when a job's restart and
 * one round would not fit in half of it. */
static double gandiva_quantum(const struct sched_snapshot *snap)
{
	double q = GANDIVA_QUANTUM_S;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		uint32_t w = policy_requested_width(j);
		double slowest = 0;

		for (uint32_t t = 0; t < snap->cluster->ntypes && t < SCHED_MAX_TYPES; t++)
			slowest = fmax(slowest, j->perf.compute_s[t]);
		q = fmax(q, GANDIVA_QUANTUM_MIN_FACTOR *
				    (j->perf.restart_s + ceil((double)j->tasks / w) * slowest +
				     sched_sync_time(&j->perf, w, true)));
	}
	return q;
}

/* Affinity pick: a node that holds n free GPUs the job may use, preferring
 * one whose jobs have width n, then an empty node, then any (fewest free
 * GPUs within a class); else the fewest nodes (policy_pick_gpus). */
static uint32_t gandiva_pick(const struct sched_cluster *c, const struct sched_job *j, const uint8_t *avail,
			     const uint32_t *node_width, uint32_t n, uint32_t *node_cnt, uint32_t *out)
{
	uint32_t best = UINT32_MAX, best_class = 3, have = 0;

	memset(node_cnt, 0, c->nnodes * sizeof(*node_cnt));
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (avail[g] && c->gpus[g].up && c->gpus[g].node < c->nnodes &&
		    c->gpus[g].type < SCHED_MAX_TYPES && j->perf.compute_s[c->gpus[g].type] > 0)
			node_cnt[c->gpus[g].node]++;
	for (uint32_t nd = 0; nd < c->nnodes; nd++) {
		uint32_t cls = node_width[nd] == n ? 0 : node_width[nd] == 0 ? 1 : 2;

		if (node_cnt[nd] < n)
			continue;
		if (cls < best_class ||
		    (cls == best_class && policy_node_before(node_cnt, nd, best, true))) {
			best = nd;
			best_class = cls;
		}
	}
	if (best == UINT32_MAX)
		return policy_pick_gpus(c, j, avail, POLICY_ANY_TYPE, n, node_cnt, out);
	for (uint32_t g = 0; g < c->ngpus && have < n; g++)
		if (c->gpus[g].node == best && avail[g] && c->gpus[g].up &&
		    c->gpus[g].type < SCHED_MAX_TYPES && j->perf.compute_s[c->gpus[g].type] > 0)
			out[have++] = g;
	return have;
}

/* Mark the nodes of a placement with its width (their affinity), unless
 * they already have one. */
static void gandiva_mark(const struct sched_cluster *c, const uint32_t *gpus, uint32_t n,
			 uint32_t width, uint32_t *node_width)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t nd = c->gpus[gpus[i]].node;

		if (nd < c->nnodes && node_width[nd] == 0)
			node_width[nd] = width;
	}
}

/* Place the admitted jobs: running ones that keep their GPUs first (they
 * give their nodes an affinity), then the others by affinity. */
static int gandiva_place(const struct sched_snapshot *snap, const uint32_t *adm, uint32_t n,
			 struct sched_plan *plan)
{
	const struct sched_cluster *c = snap->cluster;
	uint8_t *avail = malloc(c->ngpus + 1);
	uint32_t *node_width = calloc(c->nnodes + 1, sizeof(uint32_t));
	uint32_t *node_cnt = calloc(c->nnodes + 1, sizeof(uint32_t));
	uint32_t *pick = malloc((c->ngpus + 1) * sizeof(uint32_t));
	int rc = avail && node_width && node_cnt && pick ? 0 : -ENOMEM;

	for (uint32_t g = 0; rc == 0 && g < c->ngpus; g++)
		avail[g] = c->gpus[g].up;
	for (uint32_t r = 0; rc == 0 && r < n; r++) {
		const struct sched_job *j = &snap->jobs[adm[r]];

		if (!policy_can_keep(c, j, avail, POLICY_ANY_TYPE))
			continue;
		gandiva_mark(c, j->held_gpus, j->nheld, j->nheld, node_width);
		rc = policy_place_now(snap, plan, adm[r], j->held_gpus, j->nheld, true, avail);
	}
	for (uint32_t r = 0; rc == 0 && r < n; r++) {
		const struct sched_job *j = &snap->jobs[adm[r]];
		uint32_t w = policy_requested_width(j);

		if (plan->assigns[adm[r]].run_now || !gandiva_pick(c, j, avail, node_width, w, node_cnt, pick))
			continue;
		gandiva_mark(c, pick, w, w, node_width);
		rc = policy_place_now(snap, plan, adm[r], pick, w, false, avail);
	}
	free(avail);
	free(node_width);
	free(node_cnt);
	free(pick);
	return rc;
}

/* Round-robin order: queue stamps, except that between quanta the running
 * jobs keep their turn. */
static void gandiva_order(struct sched_policy *p, const struct sched_snapshot *snap, bool slice)
{
	struct gandiva_state *st = p->state;
	double back = (double)st->counter + 1;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct gandiva_job *r = policy_ids_find(st->ids, snap->jobs[i].id);
		bool keeps = !slice && sched_job_is_running(&snap->jobs[i]);

		p->order[i] = i;
		p->key[i] = (double)r->stamp + (keeps ? 0 : back);
		st->type[i] = POLICY_ANY_TYPE;
	}
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
}

static uint32_t gandiva_unfinished(const struct sched_snapshot *snap)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < snap->njobs; i++)
		n += sched_job_rounds_left(&snap->jobs[i]) > 0;
	return n;
}

static int gandiva_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	struct gandiva_state *st = p->state;
	double now = snap->now_s;
	bool slice = now >= st->next_slice_s - 1e-9 * fmax(1.0, now);
	uint32_t nadm;
	int rc = gandiva_grow(st, snap->njobs + 1);

	if (rc == 0)
		rc = gandiva_stamp_new(p, snap);
	if (rc)
		return rc;
	gandiva_order(p, snap, slice);
	for (uint32_t r = 0; r < snap->njobs; r++)
		out->assigns[p->order[r]].rank = r;
	rc = policy_admit(snap, p->order, snap->njobs, st->type, NULL, st->admitted, &nadm);
	if (rc)
		return rc;
	/* Jobs handed a quantum now go to the back of the queue. */
	for (uint32_t r = 0; r < nadm; r++) {
		const struct sched_job *j = &snap->jobs[st->admitted[r]];

		if (slice || !sched_job_is_running(j))
			((struct gandiva_job *)policy_ids_find(st->ids, j->id))->stamp = ++st->counter;
	}
	rc = gandiva_place(snap, st->admitted, nadm, out);
	if (nadm == gandiva_unfinished(snap) || nadm == 0) {
		/* Everyone runs (or nobody can): no time-slicing to do. */
		st->next_slice_s = 0;
		out->replan_at_s = INFINITY;
	} else {
		if (slice)
			st->next_slice_s = now + gandiva_quantum(snap);
		out->replan_at_s = st->next_slice_s;
	}
	return rc;
}

const struct sched_policy_ops policy_gandiva_ops = {
	.name = "gandiva",
	.requested_width = true,
	.summary = "Gandiva affinity placement and 60 s round-robin time-slicing, type-blind",
	.init = gandiva_init,
	.plan = gandiva_plan,
	.forget = gandiva_forget,
	.destroy = gandiva_destroy,
};
