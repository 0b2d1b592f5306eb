/* SPDX-License-Identifier: MIT */
/* The `tiresias` baseline (Gu et al., NSDI'19): discretised 2D-LAS with a
 * starvation guard, type-blind, consolidated placement preferred. Also the
 * helpers every baseline shares (per-job state by id, GPU picking,
 * admission, stable placement), declared in policy_impl.h. */
#include "policy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Queue limits in attained GPU-seconds (Tiresias' simulator defaults): a
 * job is in queue q while its service is below limit q. */
static const double tiresias_limits[] = { 3250, 7200, 18000 };
#define TIRESIAS_QUEUES (sizeof(tiresias_limits) / sizeof(tiresias_limits[0]) + 1)
/* Starvation knob: a job in a lower queue that has waited knob x its
 * executed time since it last ran goes back to queue 0. */
#define TIRESIAS_KNOB 2.0
/* Re-plan this long after a projected crossing, so the driver's service
 * count is past the limit when the plan runs. */
#define TIRESIAS_MARGIN_S 1e-3

/* ---- per-job records by id ---- */

enum { IDS_EMPTY = 0, IDS_LIVE = 1, IDS_GONE = 2 };

struct policy_ids {
	size_t rec_size;
	uint32_t cap;		/* slots, a power of two */
	uint32_t used;		/* live + gone */
	uint32_t *keys;
	uint8_t *tag;
	unsigned char *recs;
};

static uint32_t ids_hash(uint32_t id)
{
	id ^= id >> 16;
	id *= 0x7feb352dU;
	id ^= id >> 15;
	id *= 0x846ca68bU;
	return id ^ (id >> 16);
}

static int ids_alloc(struct policy_ids *m, uint32_t cap)
{
	m->keys = calloc(cap, sizeof(*m->keys));
	m->tag = calloc(cap, 1);
	m->recs = calloc(cap, m->rec_size);
	if (!m->keys || !m->tag || !m->recs) {
		free(m->keys);
		free(m->tag);
		free(m->recs);
		return -ENOMEM;
	}
	m->cap = cap;
	m->used = 0;
	return 0;
}

int policy_ids_new(size_t rec_size, struct policy_ids **out)
{
	struct policy_ids *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->rec_size = rec_size ? rec_size : 1;
	if (ids_alloc(m, 64) < 0) {
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void policy_ids_free(struct policy_ids *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->tag);
	free(m->recs);
	free(m);
}

/* Slot of id, or the first free slot on its probe path (UINT32_MAX: full). */
static uint32_t ids_slot(const struct policy_ids *m, uint32_t id, bool *found)
{
	uint32_t mask = m->cap - 1, s = ids_hash(id) & mask, first_gone = UINT32_MAX;

	*found = false;
	for (uint32_t n = 0; n < m->cap; n++, s = (s + 1) & mask) {
		if (m->tag[s] == IDS_EMPTY)
			return first_gone != UINT32_MAX ? first_gone : s;
		if (m->tag[s] == IDS_GONE) {
			if (first_gone == UINT32_MAX)
				first_gone = s;
			continue;
		}
		if (m->keys[s] == id) {
			*found = true;
			return s;
		}
	}
	return first_gone;
}

/* Rehash the live records into a table of cap slots. */
static int ids_rehash(struct policy_ids *m, uint32_t cap)
{
	struct policy_ids old = *m;
	bool found;

	if (ids_alloc(m, cap) < 0) {
		*m = old;
		return -ENOMEM;
	}
	for (uint32_t s = 0; s < old.cap; s++) {
		uint32_t d;

		if (old.tag[s] != IDS_LIVE)
			continue;
		d = ids_slot(m, old.keys[s], &found);
		m->keys[d] = old.keys[s];
		m->tag[d] = IDS_LIVE;
		memcpy(m->recs + (size_t)d * m->rec_size, old.recs + (size_t)s * m->rec_size, m->rec_size);
		m->used++;
	}
	free(old.keys);
	free(old.tag);
	free(old.recs);
	return 0;
}

void *policy_ids_get(struct policy_ids *m, uint32_t id, bool *created)
{
	bool found;
	uint32_t s;

	*created = false;
	s = ids_slot(m, id, &found);
	if (found)
		return m->recs + (size_t)s * m->rec_size;
	if ((size_t)(m->used + 1) * 4 > (size_t)m->cap * 3) {
		if (m->cap > UINT32_MAX / 4 || ids_rehash(m, m->cap * 2) < 0)
			return NULL;
		s = ids_slot(m, id, &found);
	}
	if (m->tag[s] == IDS_EMPTY)
		m->used++;
	m->tag[s] = IDS_LIVE;
	m->keys[s] = id;
	memset(m->recs + (size_t)s * m->rec_size, 0, m->rec_size);
	*created = true;
	return m->recs + (size_t)s * m->rec_size;
}

void *policy_ids_find(const struct policy_ids *m, uint32_t id)
{
	bool found;
	uint32_t s = ids_slot(m, id, &found);

	return found ? m->recs + (size_t)s * m->rec_size : NULL;
}

void policy_ids_drop(struct policy_ids *m, uint32_t id)
{
	bool found;
	uint32_t s = ids_slot(m, id, &found);

	if (found)
		m->tag[s] = IDS_GONE;
}

/* ---- placement helpers ---- */

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
	for (uint32_t nd = 0; nd < c->nnodes; nd++)
		if (node_cnt[nd] >= n && (best == UINT32_MAX || node_cnt[nd] < node_cnt[best]))
			best = nd;
	/* GPUs are grouped by node, so one pass in GPU order takes a node's
	 * GPUs together; the fullest node goes first when spreading. */
	while (have < n) {
		uint32_t nd = best;

		if (nd == UINT32_MAX)
			for (uint32_t k = 0; k < c->nnodes; k++)
				if (node_cnt[k] && (nd == UINT32_MAX || node_cnt[k] > node_cnt[nd]))
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

/* ---- tiresias ---- */

struct tiresias_job {
	double base_gpu_s;	/* service when the job last entered queue 0 */
};

struct tiresias_state {
	struct policy_ids *ids;
	uint32_t *type;		/* all POLICY_ANY_TYPE: type-blind */
	uint32_t *admitted;
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
	free(st);
}

static void tiresias_forget(struct sched_policy *p, uint32_t job_id)
{
	struct tiresias_state *st = p->state;

	policy_ids_drop(st->ids, job_id);
}

static int tiresias_grow(struct tiresias_state *st, uint32_t n)
{
	uint32_t *a, *b;

	if (n <= st->cap)
		return 0;
	a = realloc(st->type, n * sizeof(*a));
	if (a)
		st->type = a;
	b = realloc(st->admitted, n * sizeof(*b));
	if (b)
		st->admitted = b;
	if (!a || !b)
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

/* Job j's queue at now (its record updated); the starvation guard may send
 * it back to queue 0: a job of a lower queue that has waited, since it last
 * ran, knob x its executed time (service since it entered queue 0 / width).
 * *wake is lowered to the next time this job changes queue on its own (a
 * crossing while it runs, a promotion while it waits). */
static uint32_t tiresias_job_queue(struct tiresias_job *r, const struct sched_job *j, double now,
				   double *wake)
{
	double service = fmax(0.0, j->attained_gpu_s - r->base_gpu_s);
	double exec_s = service / policy_requested_width(j);
	double waited_since = j->first_start_s >= 0 ? j->last_run_s : j->arrival_s;
	uint32_t q = tiresias_queue(service);

	if (sched_job_is_running(j)) {
		if (q + 1 < TIRESIAS_QUEUES)
			*wake = fmin(*wake, now + (tiresias_limits[q] - service) / j->nheld +
						    TIRESIAS_MARGIN_S);
		return q;
	}
	if (q == 0 || TIRESIAS_KNOB <= 0)
		return q;
	if (now - waited_since >= TIRESIAS_KNOB * exec_s) {
		r->base_gpu_s = j->attained_gpu_s;
		return 0;
	}
	*wake = fmin(*wake, waited_since + TIRESIAS_KNOB * exec_s + TIRESIAS_MARGIN_S);
	return q;
}

/* Sort key: queue, then arrival (FIFO inside a queue). */
static int tiresias_keys(struct sched_policy *p, const struct sched_snapshot *snap, double *wake)
{
	struct tiresias_state *st = p->state;
	double lo = INFINITY, hi = -INFINITY, span;
	uint32_t *q = p->width;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		lo = fmin(lo, snap->jobs[i].arrival_s);
		hi = fmax(hi, snap->jobs[i].arrival_s);
	}
	span = snap->njobs ? hi - lo + 1 : 1;
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		bool created;
		struct tiresias_job *r = policy_ids_get(st->ids, j->id, &created);

		if (!r)
			return -ENOMEM;
		q[i] = tiresias_job_queue(r, j, snap->now_s, wake);
		p->key[i] = (double)q[i] * span + (j->arrival_s - lo);
		p->order[i] = i;
		st->type[i] = POLICY_ANY_TYPE;
	}
	return 0;
}

static int tiresias_plan(struct sched_policy *p, const struct sched_snapshot *snap,
			 struct sched_plan *out)
{
	struct tiresias_state *st = p->state;
	double wake = INFINITY;
	uint32_t nadm;
	int rc = tiresias_grow(st, snap->njobs + 1);

	if (rc == 0)
		rc = tiresias_keys(p, snap, &wake);
	if (rc)
		return rc;
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	for (uint32_t r = 0; r < snap->njobs; r++)
		out->assigns[p->order[r]].rank = r;
	rc = policy_admit(snap, p->order, snap->njobs, st->type, NULL, st->admitted, &nadm);
	if (rc == 0)
		rc = policy_place_admitted(snap, st->admitted, nadm, st->type, NULL, out);
	out->replan_at_s = wake;
	return rc;
}

const struct sched_policy_ops policy_tiresias_ops = {
	.name = "tiresias",
	.summary = "Tiresias discretised 2D-LAS, starvation guard, requested width, type-blind",
	.init = tiresias_init,
	.plan = tiresias_plan,
	.forget = tiresias_forget,
	.destroy = tiresias_destroy,
};
