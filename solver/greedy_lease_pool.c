/* SPDX-License-Identifier: MIT */
/* The lease greedy's GPU pool (for greedy_leases.c): when each GPU frees up, free-now
 * GPUs in (node, type) count buckets so a best-fit node is found in O(1) per candidate,
 * per-type heaps of the earliest future starts, and picking GPUs from them. */
#include "greedy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lease_heap_item {
	double key;
	uint32_t gpu;
};

struct lease_heap {
	struct lease_heap_item *v;
	uint32_t n, cap;
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
void lease_free_set(struct lease_ctx *x, uint32_t g, uint8_t free)
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

void lease_take_gpu(struct lease_ctx *x, uint32_t g, double until)
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
void lease_release_gpu(struct lease_ctx *x, uint32_t g)
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
double lease_protected_until(const struct lease_ctx *x, const struct sched_job *j)
{
	double until = j->lease_start_s + x->opts->min_lease_s;

	return sched_job_is_running(j) && x->now < until - 1e-9 * fmax(1.0, fabs(until)) ?
	       until : -INFINITY;
}

/* Without preemption, running jobs' GPUs are kept from everyone else until
 * their own job is planned; they are projected busy until its finish. With
 * preemption, only those of leases younger than min_lease_s are. */
void lease_protect_running(struct lease_ctx *x)
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

void lease_ctx_free(struct lease_ctx *x)
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

int lease_ctx_init(struct lease_ctx *x)
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

bool lease_type_ok(const struct lease_ctx *x, const struct sched_job *j, uint32_t t)
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
bool lease_blind_pooled(const struct lease_ctx *x, const struct sched_job *j, uint32_t k)
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
uint32_t lease_pool_free(const struct lease_ctx *x, const struct sched_job *j, uint32_t t)
{
	uint32_t n = 0;

	if (t != x->nt - 1 || lease_job_any_type(x, j))
		return x->type_free[t];
	for (uint32_t u = 0; u + 1 < x->nt; u++)
		if (j->perf.compute_s[u] > 0)
			n += x->type_free[u];
	return n;
}

int32_t lease_best_fit(const struct lease_ctx *x, uint32_t t, uint32_t k)
{
	for (uint32_t c = k; c < x->maxc; c++)
		if (x->bk_head[t * x->maxc + c] >= 0)
			return (int32_t)bk_node(x, x->bk_head[t * x->maxc + c]);
	return -1;
}

/* lease_best_fit for job j from pool t: the pool of every type counts a
 * node's free GPUs of all types, so when j may not use every type the node
 * with the fewest free GPUs of its types that still hold k is searched. */
int32_t lease_best_fit_for(const struct lease_ctx *x, const struct sched_job *j, uint32_t t,
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
uint32_t lease_pick_node(const struct lease_ctx *x, const struct sched_job *j, uint32_t node,
			 uint32_t t, uint32_t k, uint32_t *out, uint32_t nout)
{
	for (unsigned cls = 0; cls <= 2 && nout < k; cls++)
		nout = lease_pick_node_cls(x, j, node, t, k, cls, out, nout);
	return nout;
}

/* k free-now GPUs of type t over as few nodes as possible (fullest first),
 * in passes: the job's own GPUs, then nobody's, then other running jobs'. */
uint32_t lease_pick_spread(const struct lease_ctx *x, const struct sched_job *j, uint32_t t,
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
int32_t lease_node_for(struct lease_ctx *x, const struct sched_job *j, uint32_t t, uint32_t k)
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

/* The kmax earliest-free GPUs of type t (any type: nt-1) that job j may
 * use, by popping the heap and pushing back; writes them in free-time
 * order, returns count. */
uint32_t lease_earliest(struct lease_ctx *x, const struct sched_job *j, uint32_t t,
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

/* Hide (on) or show again the GPUs of the nodes job j avoids, for its own
 * placement: hidden ones are neither free now nor ever free (their heap
 * entries go stale and are pushed again when shown). */
void lease_hide(struct lease_ctx *x, const struct sched_job *j, bool on)
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
