/* SPDX-License-Identifier: MIT */
/* The `allox` baseline (Le et al., EuroSys'20): waiting jobs are matched to
 * (GPU type, position from last) slots at minimum total completion time,
 * solved exactly by the Hungarian algorithm, and each type's GPUs go to its
 * matched jobs in execution order. Running jobs are not preempted. */
#include "policy_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Waiting jobs matched per plan, in arrival order; later arrivals queue
 * after the matched ones, each on its fastest type with room. The matching costs
 * O(n^3) time and O(types * n^2) memory. */
#ifndef ALLOX_CAP
#define ALLOX_CAP 200
#endif

/*
 * Hungarian algorithm with potentials (rows n <= columns m), rows added one
 * at a time, each by a shortest augmenting path over reduced costs. Only
 * the columns in cols[] are scanned: all of them for a general matrix; for
 * AlloX's slots (policy_hungarian's stride) the matched columns and, per
 * type, the lowest unmatched position. A higher unmatched position still
 * has potential 0 and costs no less for every row, so a scan would never
 * pick it before that one: leaving it out changes nothing, and a row costs
 * O(n) steps of O(rows so far + types) instead of O(m).
 */
struct hung {
	double *u, *v, *minv;
	uint32_t *p, *way;
	uint8_t *used;
	uint32_t *cols;		/* columns scanned (1-based) */
	uint32_t ncols;
};

static void hung_free(struct hung *h)
{
	free(h->u);
	free(h->v);
	free(h->minv);
	free(h->p);
	free(h->way);
	free(h->used);
	free(h->cols);
}

static int hung_alloc(struct hung *h, uint32_t n, uint32_t m)
{
	h->u = calloc(n + 1, sizeof(double));
	h->v = calloc(m + 1, sizeof(double));
	h->minv = calloc(m + 1, sizeof(double));
	h->p = calloc(m + 1, sizeof(uint32_t));
	h->way = calloc(m + 1, sizeof(uint32_t));
	h->used = calloc(m + 1, 1);
	h->cols = calloc(m + 1, sizeof(uint32_t));
	if (!h->u || !h->v || !h->minv || !h->p || !h->way || !h->used || !h->cols) {
		hung_free(h);
		return -ENOMEM;
	}
	return 0;
}

/* Add row i (1-based) to the matching; rows of the cost matrix are m long.
 * Returns the column that was free before and is matched now. */
static uint32_t hung_row(struct hung *h, const double *cost, uint32_t m, uint32_t i)
{
	uint32_t j0 = 0, jfree;

	h->p[0] = i;
	h->used[0] = 0;
	for (uint32_t k = 0; k < h->ncols; k++) {
		h->minv[h->cols[k]] = INFINITY;
		h->used[h->cols[k]] = 0;
	}
	do {
		uint32_t i0 = h->p[j0], j1 = 0;
		double delta = INFINITY;

		h->used[j0] = 1;
		for (uint32_t k = 0; k < h->ncols; k++) {
			uint32_t j = h->cols[k];
			double cur;

			if (h->used[j])
				continue;
			cur = cost[(size_t)(i0 - 1) * m + (j - 1)] - h->u[i0] - h->v[j];
			if (cur < h->minv[j]) {
				h->minv[j] = cur;
				h->way[j] = j0;
			}
			if (h->minv[j] < delta || (h->minv[j] == delta && j < j1)) {
				delta = h->minv[j];
				j1 = j;
			}
		}
		h->u[h->p[0]] += delta;
		for (uint32_t k = 0; k < h->ncols; k++) {
			uint32_t j = h->cols[k];

			if (h->used[j]) {
				h->u[h->p[j]] += delta;
				h->v[j] -= delta;
			} else {
				h->minv[j] -= delta;
			}
		}
		j0 = j1;
	} while (h->p[j0] != 0);
	jfree = j0;
	do {
		uint32_t j1 = h->way[j0];

		h->p[j0] = h->p[j1];
		j0 = j1;
	} while (j0);
	return jfree;
}

/* Rows in order; with a stride, the scanned set starts at position 1 of
 * every type and a type's next position joins when its last one is taken. */
static void hung_run(struct hung *h, const double *cost, uint32_t n, uint32_t m, uint32_t stride)
{
	uint32_t frontier[SCHED_MAX_TYPES * 4];

	h->ncols = stride ? stride : m;
	for (uint32_t j = 1; j <= h->ncols; j++) {
		h->cols[j - 1] = j;
		if (stride)
			frontier[j - 1] = j - 1;	/* slot in cols[] of type j-1's frontier */
	}
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t j = hung_row(h, cost, m, i), t;

		if (!stride)
			continue;
		t = (j - 1) % stride;
		if (frontier[t] == UINT32_MAX || h->cols[frontier[t]] != j)
			continue;	/* cannot happen: only frontiers are free */
		h->cols[h->ncols] = j;	/* matched: stays scanned */
		if (j + stride <= m) {
			h->cols[frontier[t]] = j + stride;
			h->ncols++;
		} else {
			/* Type t has no position left: its frontier slot keeps j. */
			frontier[t] = UINT32_MAX;
		}
	}
}

int policy_hungarian(const double *cost, uint32_t n, uint32_t m, uint32_t stride, uint32_t *col_of,
		     double *total)
{
	struct hung h;
	int rc;

	if (n > m || stride > SCHED_MAX_TYPES * 4 || (stride && m % stride))
		return -EINVAL;
	for (size_t k = 0; k < (size_t)n * m; k++)
		if (!isfinite(cost[k]) || (stride && k % m >= stride && cost[k] < cost[k - stride]))
			return -EINVAL;
	rc = hung_alloc(&h, n, m);
	if (rc)
		return rc;
	hung_run(&h, cost, n, m, stride);
	*total = 0;
	for (uint32_t j = 1; j <= m; j++)
		if (h.p[j]) {
			col_of[h.p[j] - 1] = j - 1;
			*total += cost[(size_t)(h.p[j] - 1) * m + (j - 1)];
		}
	hung_free(&h);
	return 0;
}

struct allox_state {
	uint32_t *wait;		/* waiting job indices, arrival order */
	uint32_t *type;		/* matched type per job index */
	uint32_t *slot;		/* position from last per job index */
	uint32_t *order;	/* admission order */
	uint32_t *admitted;
	uint32_t *col_of;
	double *cost;
	size_t cost_cap;
	uint32_t cap;
};

static int allox_init(struct sched_policy *p)
{
	p->state = calloc(1, sizeof(struct allox_state));
	return p->state ? 0 : -ENOMEM;
}

static void allox_destroy(struct sched_policy *p)
{
	struct allox_state *st = p->state;

	free(st->wait);
	free(st->type);
	free(st->slot);
	free(st->order);
	free(st->admitted);
	free(st->col_of);
	free(st->cost);
	free(st);
}

static int allox_grow(struct allox_state *st, uint32_t n)
{
	uint32_t **arr[] = { &st->wait, &st->type, &st->slot, &st->order, &st->admitted, &st->col_of };
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

/* Remaining time of job j on nt-type pools at width w (0: cannot run). */
static double allox_remaining(const struct sched_job *j, uint32_t t, uint32_t w, const uint32_t *count)
{
	double c = j->perf.compute_s[t];

	if (c <= 0 || w == 0 || count[t] < w)
		return 0;
	return (double)sched_job_rounds_left(j) *
	       (ceil((double)j->tasks / w) * c + sched_sync_time(&j->perf, w, false));
}

/*
 * Cost matrix: row i = waiting job, column (q - 1) * types + t = position q
 * from last on type t (position-major, so the matching may grow a position
 * at a time: policy_hungarian's stride). Each type's pool of count_t free
 * GPUs (count: those no running job holds) is one machine of speed
 * count_t, on which job i takes w_i * p(i, t) / count_t; the jobs on one
 * machine add q x their time to the total completion time. Types a job
 * cannot use, or whose free GPUs are fewer than its width, cost more than
 * any feasible matching.
 */
static int allox_costs(struct allox_state *st, const struct sched_snapshot *snap, uint32_t n,
		       const uint32_t *width, const uint32_t *count)
{
	uint32_t nt = snap->cluster->ntypes;
	size_t need = (size_t)n * nt * n;
	double big = 0;

	if (need > st->cost_cap) {
		double *c = realloc(st->cost, need * sizeof(*c));

		if (!c)
			return -ENOMEM;
		st->cost = c;
		st->cost_cap = need;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct sched_job *j = &snap->jobs[st->wait[i]];
		uint32_t w = width[st->wait[i]];

		for (uint32_t t = 0; t < nt; t++) {
			double p = allox_remaining(j, t, w, count) * w / (count[t] ? count[t] : 1);

			for (uint32_t q = 1; q <= n; q++)
				st->cost[(size_t)i * nt * n + (size_t)(q - 1) * nt + t] = p > 0 ? q * p : -1;
			big = fmax(big, n * p);
		}
	}
	big = (big + 1) * (n + 1);
	for (size_t k = 0; k < need; k++)
		if (st->cost[k] < 0)
			st->cost[k] = big;
	return 0;
}

/* Fastest type where job j fits at width w, by remaining time. */
static uint32_t allox_fastest(const struct sched_job *j, uint32_t w, const uint32_t *count, uint32_t nt)
{
	uint32_t best = POLICY_ANY_TYPE;
	double bp = INFINITY;

	for (uint32_t t = 0; t < nt; t++) {
		double p = allox_remaining(j, t, w, count);

		if (p > 0 && p < bp) {
			bp = p;
			best = t;
		}
	}
	return best;
}

/* qsort context: execution order = by type, then position from last
 * descending (the job q-th from last runs before the (q-1)-th). */
static _Thread_local const struct allox_state *allox_sort_st;

static int allox_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	const struct allox_state *st = allox_sort_st;

	if (st->type[a] != st->type[b])
		return st->type[a] < st->type[b] ? -1 : 1;
	if (st->slot[a] != st->slot[b])
		return st->slot[a] > st->slot[b] ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Match the first nm waiting jobs; the rest go to their fastest type, after
 * the matched ones. Writes st->type/slot for every waiting job. */
static int allox_match(struct allox_state *st, const struct sched_snapshot *snap, uint32_t nw,
		       const uint32_t *width, const uint32_t *count)
{
	uint32_t nt = snap->cluster->ntypes, nm = nw < ALLOX_CAP ? nw : ALLOX_CAP;
	double total;
	int rc = 0;

	if (nm > 0)
		rc = allox_costs(st, snap, nm, width, count);
	if (rc == 0 && nm > 0)
		rc = policy_hungarian(st->cost, nm, nt * nm, nt, st->col_of, &total);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < nw; i++) {
		uint32_t ji = st->wait[i];

		if (i < nm) {
			st->type[ji] = st->col_of[i] % nt;
			st->slot[ji] = st->col_of[i] / nt + 1;
		} else {
			st->type[ji] = allox_fastest(&snap->jobs[ji], width[ji], count, nt);
			st->slot[ji] = 0;	/* after every matched job of its type */
		}
		if (st->type[ji] >= nt || allox_remaining(&snap->jobs[ji], st->type[ji], width[ji], count) <= 0)
			st->type[ji] = POLICY_ANY_TYPE;	/* cannot run on one type */
	}
	return 0;
}

/* Take the GPUs running job j holds out of nfree (per type). */
static void allox_take_held(const struct sched_cluster *c, const struct sched_job *j,
			    uint32_t *nfree)
{
	for (uint32_t k = 0; k < j->nheld; k++) {
		uint32_t g = j->held_gpus[k];

		if (g < c->ngpus && c->gpus[g].up && c->gpus[g].type < SCHED_MAX_TYPES &&
		    nfree[c->gpus[g].type] > 0)
			nfree[c->gpus[g].type]--;
	}
}

static int allox_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	struct allox_state *st = p->state;
	uint32_t count[SCHED_MAX_TYPES], nfree[SCHED_MAX_TYPES], nw = 0, no = 0, nadm;
	int rc = allox_grow(st, snap->njobs + 1);

	if (rc)
		return rc;
	policy_type_counts(snap->cluster, count);
	memcpy(nfree, count, sizeof(nfree));
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];

		p->width[i] = policy_typed_width(j, count, snap->cluster->ntypes);
		st->type[i] = POLICY_ANY_TYPE;
		if (sched_job_is_running(j) && j->held_gpus[0] < snap->cluster->ngpus) {
			/* Not preempted: it keeps its lease (or its type). */
			st->type[i] = snap->cluster->gpus[j->held_gpus[0]].type;
			st->order[no++] = i;
			allox_take_held(snap->cluster, j, nfree);
		}
		else
			st->wait[nw++] = i;
	}
	/* Snapshot jobs are not promised in arrival order: sort the waiting. */
	for (uint32_t i = 0; i < nw; i++)
		p->key[st->wait[i]] = snap->jobs[st->wait[i]].arrival_s;
	policy_sort_by_key(snap, st->wait, nw, p->key);
	/* As AlloX's online matching, over the GPUs free of running jobs. */
	rc = allox_match(st, snap, nw, p->width, nfree);
	if (rc)
		return rc;
	allox_sort_st = st;
	qsort(st->wait, nw, sizeof(*st->wait), allox_cmp);
	allox_sort_st = NULL;
	for (uint32_t i = 0; i < nw; i++)
		if (st->type[st->wait[i]] != POLICY_ANY_TYPE)
			st->order[no++] = st->wait[i];
	for (uint32_t r = 0; r < no; r++)
		out->assigns[st->order[r]].rank = r;
	rc = policy_admit(snap, st->order, no, st->type, p->width, st->admitted, &nadm);
	if (rc == 0)
		rc = policy_place_admitted(snap, st->admitted, nadm, st->type, p->width, out);
	return rc;
}

const struct sched_policy_ops policy_allox_ops = {
	.name = "allox",
	.requested_width = true,
	.one_type = true,
	.summary = "AlloX min-cost matching of jobs to (GPU type, position) slots, non-preemptive",
	.init = allox_init,
	.plan = allox_plan,
	.destroy = allox_destroy,
};
