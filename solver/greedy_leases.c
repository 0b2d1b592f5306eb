/* SPDX-License-Identifier: MIT */
/* Hare's greedy at lease granularity, for the online planner: jobs in
 * priority order, each given the placement on which its remaining rounds
 * finish earliest, given when every GPU frees up in the plan so far. One
 * placement per job (no event or variable per round). Free GPUs are indexed
 * by (node, type) count buckets so a best-fit node is found in O(1) per
 * candidate, and per-type heaps give the earliest future starts. */
#include "greedy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_EPS 1e-9

struct lease_heap_item {
	double key;
	uint32_t gpu;
};

struct lease_heap {
	struct lease_heap_item *v;
	uint32_t n, cap;
};

struct lease_ctx {
	const struct sched_snapshot *snap;
	const struct sched_cluster *c;
	const struct sched_lease_opts *opts;
	uint32_t nt;		/* types + 1 (index nt-1: any type) */
	uint32_t maxc;		/* largest per-node count + 1 */
	double now;
	double *gpu_free;
	uint8_t *free_now;
	uint32_t *node_first, *node_n;
	uint32_t *cnt;		/* [node * nt + t] free-now GPUs */
	int32_t *bk_head;	/* [t * maxc + count] first node in bucket */
	int32_t *bk_next, *bk_prev;	/* [node * nt + t] */
	uint32_t *type_free;	/* [t] */
	uint32_t type_up[SCHED_MAX_TYPES];	/* up GPUs of each type */
	struct lease_heap *heaps;	/* [t] */
	uint32_t *stamp;	/* per GPU, query marks */
	uint32_t stamp_now;
	uint32_t *owner;	/* per GPU: protected for this job index + 1, 0 none */
	uint32_t *holder;	/* per GPU: running job index + 1 holding it and not
				 * yet planned (0 none); such GPUs are taken last */
	uint32_t *place;	/* per job index: its place in the order (UINT32_MAX:
				 * not in it); of held GPUs, those of the job
				 * planned last are taken first */
	uint32_t placing;	/* job index + 1 being placed */
	double *hidden_free;	/* per GPU: gpu_free while hidden (lease_hide) */
	uint8_t *hidden;	/* per GPU: 0, or 1 + free_now while hidden */
	/* backfill: once the first job that cannot start now (the head) is
	 * planned, later jobs start now or not at all (now_only); the head's
	 * GPUs that are free now (lent[0..nlent)) may carry a job that ends
	 * by its start, shadow_s */
	bool backfill;		/* opts backfill and stop_at_blocked */
	bool now_only;
	double shadow_s, head_finish_s;
	uint32_t *lent, nlent;	/* also the head's GPUs held by a job that moves */
	uint8_t *resv;		/* per GPU: in the head's placement */
	uint32_t *pick;		/* scratch: chosen GPUs */
	uint32_t *skip;		/* scratch: heap entries put back (lease_earliest) */
	uint16_t *ptasks;
};

struct lease_cand {
	double finish, start, round;
	int kind;		/* 0 none, 1 node, 2 spread-in-type, 3 mixed, 4 future, 5 keep, 6 listed */
	uint32_t type, k, node;
};

static int heap_push(struct lease_heap *h, double key, uint32_t gpu)
{
	uint32_t i;

	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct lease_heap_item *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0 && h->v[(i - 1) / 2].key > key) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = (struct lease_heap_item){ key, gpu };
	return 0;
}

static struct lease_heap_item heap_pop(struct lease_heap *h)
{
	struct lease_heap_item top = h->v[0], last = h->v[--h->n];
	uint32_t i = 0;

	for (;;) {
		uint32_t l = 2 * i + 1, m = i;

		if (l >= h->n)
			break;
		m = (l + 1 < h->n && h->v[l + 1].key < h->v[l].key) ? l + 1 : l;
		if (h->v[m].key >= last.key)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

static void bk_unlink(struct lease_ctx *x, uint32_t node, uint32_t t)
{
	uint32_t s = node * x->nt + t, c = x->cnt[s];

	if (x->bk_prev[s] >= 0)
		x->bk_next[x->bk_prev[s]] = x->bk_next[s];
	else
		x->bk_head[t * x->maxc + c] = x->bk_next[s];
	if (x->bk_next[s] >= 0)
		x->bk_prev[x->bk_next[s]] = x->bk_prev[s];
}

static void bk_link(struct lease_ctx *x, uint32_t node, uint32_t t)
{
	uint32_t s = node * x->nt + t;
	int32_t *head = &x->bk_head[t * x->maxc + x->cnt[s]];

	x->bk_prev[s] = -1;
	x->bk_next[s] = *head;
	if (*head >= 0)
		x->bk_prev[*head] = (int32_t)s;
	*head = (int32_t)s;
}

/* Slot index s = node * nt + t back to the node. */
static uint32_t bk_node(const struct lease_ctx *x, int32_t s)
{
	return (uint32_t)s / x->nt;
}

/* GPU g joins (free 1) or leaves (0) the free-now pool: its node's
 * buckets for its type and for any type, and the type counts. */
static void lease_free_set(struct lease_ctx *x, uint32_t g, uint8_t free)
{
	const struct sched_gpu *gpu = &x->c->gpus[g];
	uint32_t tl[2] = { gpu->type, x->nt - 1 };

	x->free_now[g] = free;
	for (int i = 0; i < 2; i++) {
		bk_unlink(x, gpu->node, tl[i]);
		if (free)
			x->cnt[gpu->node * x->nt + tl[i]]++;
		else
			x->cnt[gpu->node * x->nt + tl[i]]--;
		bk_link(x, gpu->node, tl[i]);
		if (free)
			x->type_free[tl[i]]++;
		else
			x->type_free[tl[i]]--;
	}
}

static void lease_take_gpu(struct lease_ctx *x, uint32_t g, double until)
{
	const struct sched_gpu *gpu = &x->c->gpus[g];
	uint32_t tl[2] = { gpu->type, x->nt - 1 };

	if (x->free_now[g])
		lease_free_set(x, g, 0);
	x->gpu_free[g] = until;
	heap_push(&x->heaps[tl[0]], until, g);
	heap_push(&x->heaps[tl[1]], until, g);
}

/* Give a protected GPU back to the free pool (its owner is being planned). */
static void lease_release_gpu(struct lease_ctx *x, uint32_t g)
{
	const struct sched_gpu *gpu = &x->c->gpus[g];
	uint32_t tl[2] = { gpu->type, x->nt - 1 };

	if (x->free_now[g] || !gpu->up)
		return;
	lease_free_set(x, g, 1);
	x->gpu_free[g] = x->now;
	heap_push(&x->heaps[tl[0]], x->now, g);
	heap_push(&x->heaps[tl[1]], x->now, g);
}

/* With preemption, the time a running job's lease stops being protected by
 * min_lease_s; -inf when it is not protected now. A re-plan at that time,
 * or a rounding error before it (a simulator batches events that close),
 * finds the lease unprotected. */
static double lease_protected_until(const struct lease_ctx *x, const struct sched_job *j)
{
	double until = j->lease_start_s + x->opts->min_lease_s;

	return sched_job_is_running(j) && x->now < until - 1e-9 * fmax(1.0, fabs(until)) ?
	       until : -INFINITY;
}

/* Without preemption, running jobs' GPUs are kept from everyone else until
 * their own job is planned; they are projected busy until its finish. With
 * preemption, only those of leases younger than min_lease_s are. */
static void lease_protect_running(struct lease_ctx *x)
{
	for (uint32_t i = 0; i < x->snap->njobs; i++) {
		const struct sched_job *j = &x->snap->jobs[i];
		double until;

		if (!sched_job_is_running(j))
			continue;
		if (x->opts->preempt && lease_protected_until(x, j) == -INFINITY)
			continue;
		until = x->now + (double)sched_job_rounds_left(j) *
				 sched_round_time(x->c, j, j->held_gpus, j->held_tasks, j->nheld);
		for (uint32_t k = 0; k < j->nheld; k++) {
			uint32_t g = j->held_gpus[k];

			if (g >= x->c->ngpus || !x->free_now[g])
				continue;
			x->owner[g] = i + 1;
			lease_take_gpu(x, g, isfinite(until) ? until : x->now);
		}
	}
}

static void lease_ctx_free(struct lease_ctx *x)
{
	free(x->gpu_free);
	free(x->free_now);
	free(x->node_first);
	free(x->node_n);
	free(x->cnt);
	free(x->bk_head);
	free(x->bk_next);
	free(x->bk_prev);
	free(x->type_free);
	if (x->heaps)
		for (uint32_t t = 0; t < x->nt; t++)
			free(x->heaps[t].v);
	free(x->heaps);
	free(x->stamp);
	free(x->pick);
	free(x->skip);
	free(x->ptasks);
	free(x->owner);
	free(x->holder);
	free(x->place);
	free(x->hidden_free);
	free(x->hidden);
	free(x->lent);
	free(x->resv);
}

static int lease_ctx_alloc(struct lease_ctx *x)
{
	const struct sched_cluster *c = x->c;
	uint32_t nn = c->nnodes ? c->nnodes : 1, ng = c->ngpus + 1;

	x->nt = c->ntypes + 1;
	x->gpu_free = calloc(ng, sizeof(double));
	x->free_now = calloc(ng, 1);
	x->node_first = calloc(nn, sizeof(uint32_t));
	x->node_n = calloc(nn, sizeof(uint32_t));
	x->cnt = calloc((size_t)nn * x->nt, sizeof(uint32_t));
	x->bk_next = malloc((size_t)nn * x->nt * sizeof(int32_t));
	x->bk_prev = malloc((size_t)nn * x->nt * sizeof(int32_t));
	x->type_free = calloc(x->nt, sizeof(uint32_t));
	x->heaps = calloc(x->nt, sizeof(struct lease_heap));
	x->stamp = calloc(ng, sizeof(uint32_t));
	x->pick = calloc(3 * (size_t)ng, sizeof(uint32_t));
	x->skip = calloc(ng, sizeof(uint32_t));
	x->owner = calloc(ng, sizeof(uint32_t));
	x->holder = calloc(ng, sizeof(uint32_t));
	x->place = malloc((x->snap->njobs + 1) * sizeof(uint32_t));
	x->ptasks = calloc(ng, sizeof(uint16_t));
	x->hidden_free = calloc(ng, sizeof(double));
	x->hidden = calloc(ng, 1);
	x->lent = calloc(ng, sizeof(uint32_t));
	x->resv = calloc(ng, 1);
	if (!x->lent || !x->resv || !x->gpu_free || !x->free_now || !x->node_first || !x->node_n || !x->cnt ||
	    !x->bk_next || !x->bk_prev || !x->type_free || !x->heaps || !x->stamp || !x->pick ||
	    !x->skip || !x->ptasks || !x->owner || !x->holder || !x->place || !x->hidden_free ||
	    !x->hidden)
		return -ENOMEM;
	for (uint32_t i = 0; i <= x->snap->njobs; i++)
		x->place[i] = UINT32_MAX;
	return 0;
}

struct lease_node_key {
	uint64_t key;
	uint32_t node;
};

static int lease_node_key_cmp(const void *pa, const void *pb)
{
	const struct lease_node_key *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->node > b->node) - (a->node < b->node);
}

/* Fill the free-count buckets. Equally free nodes are taken in the order of
 * sched_node_tiebreak, not in the order the cluster lists them: a type-blind
 * policy, whose pool mixes the types, then gets them in proportion to what
 * is free instead of always the types listed last (each link went first). */
static int lease_link_nodes(struct lease_ctx *x)
{
	uint32_t nn = x->c->nnodes;
	struct lease_node_key *k = malloc((nn ? nn : 1) * sizeof(*k));

	if (!k)
		return -ENOMEM;
	for (uint32_t n = 0; n < nn; n++)
		k[n] = (struct lease_node_key){ .key = sched_node_tiebreak(n), .node = n };
	qsort(k, nn, sizeof(*k), lease_node_key_cmp);
	/* each link goes first in its bucket: link the first in order last */
	for (uint32_t i = nn; i-- > 0;)
		for (uint32_t t = 0; t < x->nt; t++)
			bk_link(x, k[i].node, t);
	free(k);
	return 0;
}

static int lease_ctx_init(struct lease_ctx *x)
{
	const struct sched_cluster *c = x->c;
	int rc = lease_ctx_alloc(x);

	if (rc)
		return rc;
	for (uint32_t g = c->ngpus; g-- > 0;) {
		x->node_first[c->gpus[g].node] = g;
		x->node_n[c->gpus[g].node]++;
	}
	x->maxc = 1;
	for (uint32_t n = 0; n < c->nnodes; n++)
		if (x->node_n[n] + 1 > x->maxc)
			x->maxc = x->node_n[n] + 1;
	x->bk_head = malloc((size_t)x->nt * x->maxc * sizeof(int32_t));
	if (!x->bk_head)
		return -ENOMEM;
	memset(x->bk_head, 0xff, (size_t)x->nt * x->maxc * sizeof(int32_t));
	for (uint32_t g = 0; g < c->ngpus; g++) {
		x->gpu_free[g] = c->gpus[g].up ? x->now : INFINITY;
		x->free_now[g] = c->gpus[g].up;
		if (!c->gpus[g].up)
			continue;
		x->cnt[c->gpus[g].node * x->nt + c->gpus[g].type]++;
		x->cnt[c->gpus[g].node * x->nt + x->nt - 1]++;
		x->type_free[c->gpus[g].type]++;
		x->type_free[x->nt - 1]++;
		if (c->gpus[g].type < SCHED_MAX_TYPES)
			x->type_up[c->gpus[g].type]++;
		if (heap_push(&x->heaps[c->gpus[g].type], x->now, g) ||
		    heap_push(&x->heaps[x->nt - 1], x->now, g))
			return -ENOMEM;
	}
	rc = lease_link_nodes(x);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < x->snap->njobs; i++) {
		const struct sched_job *j = &x->snap->jobs[i];

		if (!sched_job_is_running(j))
			continue;
		for (uint32_t k = 0; k < j->nheld; k++)
			if (j->held_gpus[k] < c->ngpus)
				x->holder[j->held_gpus[k]] = i + 1;
	}
	return 0;
}

/* Preference of a free GPU for the job being placed: 0 its own, 1 nobody's,
 * 2 held by a running job planned later (taking it would move that job). */
static unsigned lease_gpu_class(const struct lease_ctx *x, uint32_t g)
{
	if (x->holder[g] == 0)
		return 1;
	return x->holder[g] == x->placing ? 0 : 2;
}

static bool lease_type_ok(const struct lease_ctx *x, const struct sched_job *j, uint32_t t)
{
	if (t == x->nt - 1)
		return true;
	return j->perf.compute_s[t] > 0;
}

/* True when the job may run on every type (blind policies then see one pool). */
static bool lease_job_any_type(const struct lease_ctx *x, const struct sched_job *j)
{
	for (uint32_t t = 0; t + 1 < x->nt; t++)
		if (j->perf.compute_s[t] <= 0)
			return false;
	return true;
}

/* Whether a type-blind policy places job j from one pool of the types it
 * may use (index nt-1) rather than from each type alone: when it may use
 * every type, or when no type it may use has the k GPUs it runs on (a
 * type-blind scheduler would mix them; the job could never run on one).
 * Where one type has enough, its placements stay within a type. */
static bool lease_blind_pooled(const struct lease_ctx *x, const struct sched_job *j, uint32_t k)
{
	if (lease_job_any_type(x, j))
		return true;
	for (uint32_t t = 0; t + 1 < x->nt; t++)
		if (j->perf.compute_s[t] > 0 && x->type_up[t] >= k)
			return false;
	return true;
}

/* Free-now GPUs of pool t that job j may use: the pool's count, or for the
 * pool of every type, when j may not use every type, those of its types. */
static uint32_t lease_pool_free(const struct lease_ctx *x, const struct sched_job *j, uint32_t t)
{
	uint32_t n = 0;

	if (t != x->nt - 1 || lease_job_any_type(x, j))
		return x->type_free[t];
	for (uint32_t u = 0; u + 1 < x->nt; u++)
		if (j->perf.compute_s[u] > 0)
			n += x->type_free[u];
	return n;
}

static int32_t lease_best_fit(const struct lease_ctx *x, uint32_t t, uint32_t k)
{
	for (uint32_t c = k; c < x->maxc; c++)
		if (x->bk_head[t * x->maxc + c] >= 0)
			return (int32_t)bk_node(x, x->bk_head[t * x->maxc + c]);
	return -1;
}

/* lease_best_fit for job j from pool t: the pool of every type counts a
 * node's free GPUs of all types, so when j may not use every type the node
 * with the fewest free GPUs of its types that still hold k is searched. */
static int32_t lease_best_fit_for(const struct lease_ctx *x, const struct sched_job *j, uint32_t t,
				  uint32_t k)
{
	int32_t best = -1;
	uint32_t best_n = UINT32_MAX;

	if (t != x->nt - 1 || lease_job_any_type(x, j))
		return lease_best_fit(x, t, k);
	for (uint32_t c = k; c < x->maxc && best_n > k; c++)
		for (int32_t s = x->bk_head[t * x->maxc + c]; s >= 0 && best_n > k; s = x->bk_next[s]) {
			uint32_t node = bk_node(x, s), n = 0;

			for (uint32_t u = 0; u + 1 < x->nt; u++)
				if (j->perf.compute_s[u] > 0)
					n += x->cnt[node * x->nt + u];
			if (n >= k && n < best_n) {
				best = (int32_t)node;
				best_n = n;
			}
		}
	return best;
}

/* Whether free-now GPU g may be picked for job j as type t (any usable
 * type for t == nt-1) at preference class <= maxcls (lease_gpu_class). */
static bool lease_pickable(const struct lease_ctx *x, const struct sched_job *j, uint32_t g,
			   uint32_t t, unsigned maxcls)
{
	uint32_t gt = x->c->gpus[g].type;

	if (!x->free_now[g] || x->stamp[g] == x->stamp_now || lease_gpu_class(x, g) > maxcls)
		return false;
	return t == x->nt - 1 ? j->perf.compute_s[gt] > 0 : gt == t;
}

/* Up to k free-now GPUs of type t on node, of preference class <= maxcls,
 * in index order; for hare (hetero), of GPUs of running jobs (class 2)
 * those of the job planned last first: it is the likeliest to be moved
 * anyway, and a job planned before it may then keep its own (taking the
 * first job's GPUs in index order moved both). The type-blind baselines
 * keep index order (their results are the comparison's). */
static uint32_t lease_pick_node_cls(const struct lease_ctx *x, const struct sched_job *j, uint32_t node,
				    uint32_t t, uint32_t k, unsigned maxcls, uint32_t *out, uint32_t nout)
{
	uint32_t first = x->node_first[node], end = first + x->node_n[node];

	while (nout < k) {
		uint32_t best = UINT32_MAX;

		for (uint32_t g = first; g < end; g++) {
			unsigned cg, cb;

			if (!lease_pickable(x, j, g, t, maxcls))
				continue;
			if (best == UINT32_MAX) {
				best = g;
				if (maxcls < 2 || !x->opts->hetero)
					break;	/* index order */
				continue;
			}
			cg = lease_gpu_class(x, g);
			cb = lease_gpu_class(x, best);
			if (cg < cb || (cg == 2 && cb == 2 &&
					x->place[x->holder[g] - 1] > x->place[x->holder[best] - 1]))
				best = g;
		}
		if (best == UINT32_MAX)
			break;
		x->stamp[best] = x->stamp_now;
		out[nout++] = best;
	}
	return nout;
}

/* Up to k free-now GPUs of type t on node: the job's own first, then
 * nobody's, then those of running jobs planned later. */
static uint32_t lease_pick_node(const struct lease_ctx *x, const struct sched_job *j, uint32_t node,
				uint32_t t, uint32_t k, uint32_t *out, uint32_t nout)
{
	for (unsigned cls = 0; cls <= 2 && nout < k; cls++)
		nout = lease_pick_node_cls(x, j, node, t, k, cls, out, nout);
	return nout;
}

/* k free-now GPUs of type t over as few nodes as possible (fullest first),
 * in passes: the job's own GPUs, then nobody's, then other running jobs'. */
static uint32_t lease_pick_spread(const struct lease_ctx *x, const struct sched_job *j, uint32_t t,
				  uint32_t k, uint32_t *out, uint32_t nout)
{
	for (unsigned cls = 0; cls <= 2 && nout < k; cls++)
		for (uint32_t c = x->maxc; c-- > 1 && nout < k;)
			for (int32_t s = x->bk_head[t * x->maxc + c]; s >= 0 && nout < k; s = x->bk_next[s])
				nout = lease_pick_node_cls(x, j, bk_node(x, s), t, k, cls, out, nout);
	return nout;
}

#define LEASE_NODE_SCAN 256	/* nodes examined for a displacement-free fit */

/* The node for k GPUs of type t: of the nodes with k free, the one whose
 * pick moves the fewest other running jobs' GPUs (then: most of the job's
 * own GPUs, then best fit), examining at most LEASE_NODE_SCAN nodes. */
static int32_t lease_node_for(struct lease_ctx *x, const struct sched_job *j, uint32_t t, uint32_t k)
{
	int32_t best = -1;
	long best_cost = 0;
	uint32_t seen = 0, *tmp = x->pick + x->c->ngpus + 1;

	for (uint32_t c = k; c < x->maxc && seen < LEASE_NODE_SCAN; c++)
		for (int32_t s = x->bk_head[t * x->maxc + c]; s >= 0 && seen < LEASE_NODE_SCAN;
		     s = x->bk_next[s], seen++) {
			uint32_t node = bk_node(x, s), n;
			long cost = 0;

			x->stamp_now++;
			n = lease_pick_node(x, j, node, t, k, tmp, 0);
			for (uint32_t i = 0; i < n; i++) {
				unsigned cls = lease_gpu_class(x, tmp[i]);

				cost += cls == 2 ? 1000000 : cls == 0 ? -1 : 0;
			}
			if (n < k || (best >= 0 && cost >= best_cost))
				continue;
			best = (int32_t)node;
			best_cost = cost;
			if (cost <= -(long)k || (cost == 0 && j->nheld == 0))
				return best;	/* cannot do better */
		}
	return best;
}

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

/* The kmax earliest-free GPUs of type t (any type: nt-1) that job j may
 * use, by popping the heap and pushing back; writes them in free-time
 * order, returns count. */
static uint32_t lease_earliest(struct lease_ctx *x, const struct sched_job *j, uint32_t t,
			       uint32_t kmax, uint32_t *out)
{
	struct lease_heap *h = &x->heaps[t];
	uint32_t n = 0, nskip = 0;

	x->stamp_now++;
	while (h->n && n < kmax) {
		struct lease_heap_item it = heap_pop(h);

		if (it.key != x->gpu_free[it.gpu] || x->stamp[it.gpu] == x->stamp_now)
			continue;	/* stale or duplicate entry: drop */
		x->stamp[it.gpu] = x->stamp_now;
		if (j->perf.compute_s[x->c->gpus[it.gpu].type] <= 0)
			x->skip[nskip++] = it.gpu;	/* the pool of every type: not j's type */
		else
			out[n++] = it.gpu;
	}
	for (uint32_t i = 0; i < n; i++)
		heap_push(h, x->gpu_free[out[i]], out[i]);
	for (uint32_t i = 0; i < nskip; i++)
		heap_push(h, x->gpu_free[x->skip[i]], x->skip[i]);
	return n;
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

/* Hide (on) or show again the GPUs of the nodes job j avoids, for its own
 * placement: hidden ones are neither free now nor ever free (their heap
 * entries go stale and are pushed again when shown). */
static void lease_hide(struct lease_ctx *x, const struct sched_job *j, bool on)
{
	for (uint32_t a = 0; a < j->navoid; a++) {
		uint32_t node = j->avoid_nodes[a], first, end;

		if (node >= x->c->nnodes)
			continue;
		first = x->node_first[node];
		end = first + x->node_n[node];
		for (uint32_t g = first; g < end; g++) {
			const struct sched_gpu *gpu = &x->c->gpus[g];

			if (on && !x->hidden[g]) {
				x->hidden[g] = (uint8_t)(1 + x->free_now[g]);
				x->hidden_free[g] = x->gpu_free[g];
				if (x->free_now[g])
					lease_free_set(x, g, 0);
				x->gpu_free[g] = INFINITY;
			} else if (!on && x->hidden[g]) {
				if (x->hidden[g] == 2)
					lease_free_set(x, g, 1);
				x->hidden[g] = 0;
				x->gpu_free[g] = x->hidden_free[g];
				if (gpu->up && isfinite(x->gpu_free[g])) {
					heap_push(&x->heaps[gpu->type], x->gpu_free[g], g);
					heap_push(&x->heaps[x->nt - 1], x->gpu_free[g], g);
				}
			}
		}
	}
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
