/* SPDX-License-Identifier: MIT */
/* The `gavel` and `gavel-tput` baselines (Narayanan et al., OSDI'20): an LP
 * over the jobs x GPU-types time-fraction matrix X (max-min fairness or
 * max-sum-throughput), turned into leases by rounds: each round the
 * (job, type) pairs with the largest X / (share of type time received) get
 * their width of GPUs of that type, and an unchanged lease simply goes on.
 * The shares are Gavel's (scheduler.py, _reset_time_run_so_far and
 * _update_priorities): when the allocation is recomputed every job is
 * credited half a round on every type, and a job's share of a type is its
 * time there over all the jobs' time there. */
#include "policy_impl.h"

#include "err.h"
#include "lp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GAVEL_ROUND_S 360.0	/* lease length (Gavel's default round) */
#define GAVEL_FIRST 1e9		/* priority factor of a pair never served yet */
#define GAVEL_Z_SLACK 1e-6	/* max-min second stage keeps z >= (1 - slack) z* */
#define GAVEL_X_MIN 1e-6	/* smaller time fractions are taken as 0 */

enum gavel_goal { GAVEL_MAXMIN, GAVEL_TPUT };

struct gavel_job {
	double x[SCHED_MAX_TYPES];	/* time fractions of the last allocation */
	double got_s[SCHED_MAX_TYPES];	/* time served per type since the allocation
					 * (from half a round) */
};

/* A (job, type) pair with its sort key. */
struct gavel_pair {
	double prio, arrival;
	uint32_t id, pair;
	bool on;		/* extends the job's running lease */
};

struct gavel_state {
	enum gavel_goal goal;
	struct policy_ids *ids;
	uint64_t sig;		/* job set and capacities of the last allocation */
	double type_s[SCHED_MAX_TYPES];	/* all jobs' got_s per type */
	double last_plan_s;
	double next_round_s;
	bool have_plan;
	/* Scratch, sized for the jobs and types of one plan. */
	double *thr;		/* [job * ntypes + t] rounds per second at its width */
	uint32_t *type;		/* chosen type per job (POLICY_ANY_TYPE: none) */
	uint32_t *admitted;
	uint32_t *pair;		/* scratch (job indices for grouping) */
	struct gavel_job **rec;	/* each snapshot job's record, this plan */
	struct gavel_pair *sortv;	/* pairs with their sort keys */
	/* Job classes: jobs with the same width, weight and throughputs share
	 * one row of the LP (a symmetric optimum gives them the same X). */
	uint32_t *cls;		/* class of each job */
	uint32_t *rep;		/* a job of each class */
	double *mult;		/* jobs in each class */
	uint32_t ncls;
	uint32_t cap;
};

static int gavel_init_goal(struct sched_policy *p, enum gavel_goal goal)
{
	struct gavel_state *st = calloc(1, sizeof(*st));

	if (!st || policy_ids_new(sizeof(struct gavel_job), &st->ids) < 0) {
		free(st);
		return -ENOMEM;
	}
	st->goal = goal;
	p->state = st;
	return 0;
}

static int gavel_init(struct sched_policy *p)
{
	return gavel_init_goal(p, GAVEL_MAXMIN);
}

static int gavel_tput_init(struct sched_policy *p)
{
	return gavel_init_goal(p, GAVEL_TPUT);
}

static void gavel_destroy(struct sched_policy *p)
{
	struct gavel_state *st = p->state;

	policy_ids_free(st->ids);
	free(st->thr);
	free(st->type);
	free(st->admitted);
	free(st->pair);
	free(st->sortv);
	free(st->rec);
	free(st->cls);
	free(st->rep);
	free(st->mult);
	free(st);
}

static void gavel_forget(struct sched_policy *p, uint32_t job_id)
{
	struct gavel_state *st = p->state;

	policy_ids_drop(st->ids, job_id);
}

static int gavel_grow(struct gavel_state *st, uint32_t njobs)
{
	size_t n = (size_t)njobs * SCHED_MAX_TYPES;
	void **arr[] = { (void **)&st->thr, (void **)&st->sortv, (void **)&st->pair, (void **)&st->type,
			 (void **)&st->admitted, (void **)&st->cls, (void **)&st->rep, (void **)&st->mult,
			 (void **)&st->rec };
	size_t size[] = { n * sizeof(double), n * sizeof(struct gavel_pair), n * sizeof(uint32_t),
			  njobs * sizeof(uint32_t), njobs * sizeof(uint32_t), njobs * sizeof(uint32_t),
			  njobs * sizeof(uint32_t), njobs * sizeof(double), njobs * sizeof(struct gavel_job *) };
	int rc = 0;

	if (njobs <= st->cap)
		return 0;
	for (size_t k = 0; k < sizeof(arr) / sizeof(arr[0]); k++) {
		void *a = realloc(*arr[k], size[k]);

		if (a)
			*arr[k] = a;
		else
			rc = -ENOMEM;
	}
	if (rc == 0)
		st->cap = njobs;
	return rc;
}

/* The largest node of each type (whether a width fits on one node). */
static void gavel_node_max(const struct sched_cluster *c, uint32_t *node_max)
{
	uint32_t run = 0;

	memset(node_max, 0, SCHED_MAX_TYPES * sizeof(*node_max));
	for (uint32_t g = 0; g < c->ngpus; g++) {
		uint16_t t = c->gpus[g].type;

		if (g == 0 || c->gpus[g - 1].node != c->gpus[g].node || c->gpus[g - 1].type != t)
			run = 0;
		if (!c->gpus[g].up || t >= SCHED_MAX_TYPES)
			continue;
		if (++run > node_max[t])
			node_max[t] = run;
	}
}

/* Widths (one type per lease) and throughputs T[j][t] (rounds/s) of every
 * job at its width on each type where that width fits. */
static void gavel_throughputs(const struct sched_snapshot *snap, const uint32_t *count,
			      uint32_t *width, double *thr)
{
	uint32_t nt = snap->cluster->ntypes, node_max[SCHED_MAX_TYPES];

	gavel_node_max(snap->cluster, node_max);
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		uint32_t w = policy_typed_width(j, count, nt);

		width[i] = w;
		for (uint32_t t = 0; t < nt; t++) {
			double c = j->perf.compute_s[t], round;

			thr[i * nt + t] = 0;
			if (c <= 0 || w == 0 || count[t] < w)
				continue;
			round = ceil((double)j->tasks / w) * c + sched_sync_time(&j->perf, w, w > node_max[t]);
			thr[i * nt + t] = round > 0 ? 1.0 / round : 0;
		}
	}
}

/* A hash of the job ids and the capacity: the allocation is recomputed when
 * it changes (arrivals, completions, GPUs up or down). */
static uint64_t gavel_signature(const struct sched_snapshot *snap, const uint32_t *count)
{
	uint64_t h = snap->njobs * 0x9e3779b97f4a7c15ULL, sum = 0;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		uint64_t x = snap->jobs[i].id + 0x9e3779b97f4a7c15ULL;

		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
		sum += x ^ (x >> 31);
	}
	for (uint32_t t = 0; t < snap->cluster->ntypes; t++)
		h = (h ^ (uint64_t)count[t]) * 0x100000001b3ULL;
	return h ^ sum;
}

/* qsort context for grouping jobs into classes. */
static _Thread_local const struct sched_snapshot *gavel_cls_snap;
static _Thread_local const double *gavel_cls_thr;
static _Thread_local const uint32_t *gavel_cls_width;

static int gavel_cls_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb, nt = gavel_cls_snap->cluster->ntypes;
	double wa = gavel_cls_snap->jobs[a].weight, wb = gavel_cls_snap->jobs[b].weight;

	if (gavel_cls_width[a] != gavel_cls_width[b])
		return gavel_cls_width[a] < gavel_cls_width[b] ? -1 : 1;
	if (wa != wb)
		return wa < wb ? -1 : 1;
	for (uint32_t t = 0; t < nt; t++) {
		double x = gavel_cls_thr[(size_t)a * nt + t], y = gavel_cls_thr[(size_t)b * nt + t];

		if (x != y)
			return x < y ? -1 : 1;
	}
	return a < b ? -1 : a > b;
}

/* Group the jobs into classes of identical width, weight and throughputs
 * (st->cls, st->rep, st->mult, st->ncls); st->pair is scratch. */
static void gavel_classes(struct gavel_state *st, const struct sched_snapshot *snap, const uint32_t *width)
{
	uint32_t *idx = st->pair, nt = snap->cluster->ntypes;

	for (uint32_t i = 0; i < snap->njobs; i++)
		idx[i] = i;
	gavel_cls_snap = snap;
	gavel_cls_thr = st->thr;
	gavel_cls_width = width;
	qsort(idx, snap->njobs, sizeof(*idx), gavel_cls_cmp);
	st->ncls = 0;
	for (uint32_t k = 0; k < snap->njobs; k++) {
		uint32_t i = idx[k], prev = k ? idx[k - 1] : 0;

		if (k == 0 || width[prev] != width[i] || snap->jobs[prev].weight != snap->jobs[i].weight ||
		    memcmp(st->thr + (size_t)prev * nt, st->thr + (size_t)i * nt, nt * sizeof(double))) {
			st->rep[st->ncls] = i;
			st->mult[st->ncls++] = 0;
		}
		st->cls[i] = st->ncls - 1;
		st->mult[st->ncls - 1]++;
	}
	gavel_cls_snap = NULL;
	gavel_cls_thr = NULL;
	gavel_cls_width = NULL;
}

/* Throughput under Gavel's equal share X_equal (its ProportionalPolicy):
 * count_t / J of each type, every row divided by the largest row sum, which
 * leaves count_t / (sum_k count_k) whatever J. Types where the job cannot
 * run count in the sum, as there. */
static double gavel_equal_thr(const double *thr_row, const uint32_t *count, uint32_t nt)
{
	double total = 0, eq = 0;

	for (uint32_t t = 0; t < nt; t++) {
		total += count[t];
		eq += thr_row[t] * count[t];
	}
	return total > 0 ? eq / total : 0;
}

/* The LP, built once per allocation over the job classes. Columns:
 * X[c][t] (c * nt + t), then z for max-min. Rows: one "sum_t X <= 1" per
 * class, one capacity row per type (sum_c jobs_c width_c X[c][t] <=
 * count_t), then (max-min) one "z <= norm_c . X_c" per class. */
struct gavel_lp {
	struct lp_general g;
	double *obj, *obj2, *clo, *chi, *rlo, *rhi, *ar, *x, *norm;
	int *ia, *ja;
};

static void gavel_lp_free(struct gavel_lp *l)
{
	free(l->obj);
	free(l->obj2);
	free(l->clo);
	free(l->chi);
	free(l->rlo);
	free(l->rhi);
	free(l->ar);
	free(l->x);
	free(l->norm);
	free(l->ia);
	free(l->ja);
}

static int gavel_lp_alloc(struct gavel_lp *l, uint32_t nj, uint32_t nt)
{
	size_t cols = (size_t)nj * nt + 1, rows = 2 * (size_t)nj + nt, nnz = 3 * (size_t)nj * nt + nj;

	memset(l, 0, sizeof(*l));
	l->obj = calloc(cols, sizeof(double));
	l->obj2 = calloc(cols, sizeof(double));
	l->clo = calloc(cols, sizeof(double));
	l->chi = calloc(cols, sizeof(double));
	l->x = calloc(cols, sizeof(double));
	l->rlo = calloc(rows, sizeof(double));
	l->rhi = calloc(rows, sizeof(double));
	l->norm = calloc((size_t)nj * nt + 1, sizeof(double));
	l->ar = calloc(nnz, sizeof(double));
	l->ia = calloc(nnz, sizeof(int));
	l->ja = calloc(nnz, sizeof(int));
	if (!l->obj || !l->obj2 || !l->clo || !l->chi || !l->x || !l->rlo || !l->rhi || !l->norm || !l->ar ||
	    !l->ia || !l->ja) {
		gavel_lp_free(l);
		return -ENOMEM;
	}
	return 0;
}

static void gavel_lp_entry(struct gavel_lp *l, int row, int col, double v)
{
	l->ia[l->g.nnz] = row;
	l->ja[l->g.nnz] = col;
	l->ar[l->g.nnz++] = v;
}

/* Fill the rows and the per-column "normalised throughput" norm[] (the
 * max-min rows' coefficients: width * T / (weight * T_equal), the width
 * being Gavel's scale factor, so that equal throughputs get equal GPU time
 * rather than equal time fractions; for max-sum throughput: T / the job's
 * best T). The objective is z (max-min) or the sum over jobs of their
 * normalised throughput (max-sum). */
static void gavel_lp_build(struct gavel_lp *l, const struct gavel_state *st, const struct sched_snapshot *snap,
			   const uint32_t *count, const uint32_t *width)
{
	uint32_t nc = st->ncls, nt = snap->cluster->ntypes;
	int zc = (int)(nc * nt);
	bool maxmin = st->goal == GAVEL_MAXMIN;

	l->g = (struct lp_general){ .nrows = (int)(nc + nt + (maxmin ? nc : 0)), .ncols = zc + maxmin,
				    .maximise = true, .obj = l->obj, .col_lo = l->clo, .col_hi = l->chi,
				    .row_lo = l->rlo, .row_hi = l->rhi, .ia = l->ia, .ja = l->ja, .ar = l->ar };
	for (uint32_t c = 0; c < nc; c++) {
		uint32_t i = st->rep[c];
		const double *row = st->thr + (size_t)i * nt;
		double best = 0, eq = gavel_equal_thr(row, count, nt);

		for (uint32_t t = 0; t < nt; t++)
			best = fmax(best, row[t]);
		l->rlo[c] = -INFINITY;
		l->rhi[c] = 1;
		for (uint32_t t = 0; t < nt; t++) {
			int col = (int)(c * nt + t);

			l->chi[col] = row[t] > 0 ? 1 : 0;
			if (maxmin)
				l->norm[col] = eq > 0 ? width[i] * row[t] / (snap->jobs[i].weight * eq) : 0;
			else
				l->norm[col] = best > 0 ? row[t] / best : 0;
			l->obj[col] = maxmin ? 0 : st->mult[c] * l->norm[col];
			gavel_lp_entry(l, (int)c, col, 1);
			gavel_lp_entry(l, (int)(nc + t), col, st->mult[c] * width[i]);
			if (maxmin && eq > 0)
				gavel_lp_entry(l, (int)(nc + nt + c), col, -l->norm[col]);
		}
		if (maxmin) {
			/* A class that can run nowhere gets no fairness row. */
			l->rlo[nc + nt + c] = -INFINITY;
			l->rhi[nc + nt + c] = eq > 0 ? 0 : INFINITY;
			gavel_lp_entry(l, (int)(nc + nt + c), zc, 1);
		}
	}
	for (uint32_t t = 0; t < nt; t++) {
		l->rlo[nc + t] = -INFINITY;
		l->rhi[nc + t] = count[t];
	}
	if (maxmin) {
		l->obj[zc] = 1;
		l->chi[zc] = INFINITY;
	}
}

/* Equal shares when the LP fails: X[i][t] = count_t / J scaled to <= 1,
 * on the types the job can use. */
static void gavel_equal_x(const double *thr_row, const uint32_t *count, uint32_t nt, uint32_t nj,
			  double *x)
{
	double total = 0;

	for (uint32_t t = 0; t < nt; t++)
		total += thr_row[t] > 0 ? (double)count[t] / nj : 0;
	for (uint32_t t = 0; t < nt; t++)
		x[t] = thr_row[t] > 0 ? ((double)count[t] / nj) / fmax(1.0, total) : 0;
}

/* Solve the allocation LP. Max-min's optimum is rarely unique and a simplex
 * vertex may leave GPUs idle, so a second stage keeps z within
 * GAVEL_Z_SLACK of its optimum and maximises the sum of the normalised
 * throughputs (a Pareto-efficient max-min allocation), warm-started from
 * the first stage's basis. 0 or an LP error. */
static int gavel_solve(struct gavel_lp *l, const struct gavel_state *st, uint32_t nt, double budget_ms)
{
	uint32_t ncols_x = st->ncls * nt;
	double obj = 0;

	l->g.time_limit_ms = budget_ms;
	if (st->goal == GAVEL_MAXMIN) {
		for (uint32_t c = 0; c < ncols_x; c++)
			l->obj2[c] = st->mult[c / nt] * l->norm[c];
		l->obj2[ncols_x] = 0;
		l->g.obj2 = l->obj2;
		l->g.keep_col = (int)ncols_x;
		l->g.keep_slack = GAVEL_Z_SLACK;
	}
	return lp_general_solve(&l->g, l->x, &obj);
}

/* Compute X for the snapshot's jobs and store it in their records, with the
 * received-time counters restarted. Falls back to equal shares when the LP
 * fails. */
static int gavel_allocate(struct sched_policy *p, const struct sched_snapshot *snap,
			  const uint32_t *count)
{
	struct gavel_state *st = p->state;
	uint32_t nt = snap->cluster->ntypes;
	struct gavel_lp l;
	int rc;

	gavel_classes(st, snap, p->width);
	rc = gavel_lp_alloc(&l, st->ncls, nt);
	if (rc)
		return rc;
	gavel_lp_build(&l, st, snap, count, p->width);
	rc = gavel_solve(&l, st, nt, p->opt.lp_budget_ms);
	for (uint32_t i = 0; i < snap->njobs; i++) {
		struct gavel_job *r = st->rec[i];

		if (rc == 0)
			for (uint32_t t = 0; t < nt; t++) {
				double x = l.x[st->cls[i] * nt + t];

				/* Simplex round-off would otherwise be a share never
				 * served, which the priority rule puts first. */
				r->x[t] = x < GAVEL_X_MIN ? 0 : fmin(1.0, x);
			}
		else
			gavel_equal_x(st->thr + (size_t)i * nt, count, nt, snap->njobs, r->x);
		for (uint32_t t = 0; t < nt; t++)
			r->got_s[t] = GAVEL_ROUND_S / 2;
	}
	for (uint32_t t = 0; t < nt; t++)
		st->type_s[t] = snap->njobs * (GAVEL_ROUND_S / 2);
	gavel_lp_free(&l);
	return rc == -ENOMEM ? rc : 0;
}

/* Credit every running job with the time since the last plan on the type
 * of its GPUs (Gavel's leases are single-type); create new jobs' records. */
static int gavel_account(struct gavel_state *st, const struct sched_snapshot *snap)
{
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		bool created;
		struct gavel_job *r = policy_ids_get(st->ids, j->id, &created);
		double from;
		uint32_t t;

		if (!r)
			return -ENOMEM;
		st->rec[i] = r;
		(void)created;	/* X 0 until the next allocation credits it */
		if (!sched_job_is_running(j) || !st->have_plan || j->held_gpus[0] >= snap->cluster->ngpus)
			continue;
		from = fmax(st->last_plan_s, j->lease_start_s);
		t = snap->cluster->gpus[j->held_gpus[0]].type;
		r->got_s[t] += fmax(0.0, snap->now_s - from);
		st->type_s[t] += fmax(0.0, snap->now_s - from);
	}
	return 0;
}

/* Priority of (job, type): X / the job's share of the time served on the
 * type (X x GAVEL_FIRST while the type has served nobody). */
static double gavel_priority(const struct gavel_state *st, const struct gavel_job *r, uint32_t t)
{
	double f;

	if (r->x[t] <= 0)
		return 0;
	f = st->type_s[t] > 0 ? r->got_s[t] / st->type_s[t] : 0;
	return f > 0 ? r->x[t] / f : r->x[t] * GAVEL_FIRST;
}

/* Type of a running job's lease (its first GPU's). */
static uint32_t gavel_held_type(const struct sched_cluster *c, const struct sched_job *j)
{
	return j->held_gpus[0] < c->ngpus ? c->gpus[j->held_gpus[0]].type : POLICY_ANY_TYPE;
}

static bool gavel_on_type(const struct sched_snapshot *snap, const struct sched_job *j, uint32_t t)
{
	return sched_job_is_running(j) && gavel_held_type(snap->cluster, j) == t;
}

static int gavel_pair_cmp(const void *pa, const void *pb)
{
	const struct gavel_pair *a = pa, *b = pb;

	if (a->prio != b->prio)
		return a->prio > b->prio ? -1 : 1;
	/* Equal priority: the pair that extends a running lease first. */
	if (a->on != b->on)
		return a->on ? -1 : 1;
	if (a->arrival != b->arrival)
		return a->arrival < b->arrival ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->pair < b->pair ? -1 : a->pair > b->pair;
}

/* Restore the heap order below v[i] (the pair to serve first on top). */
static void gavel_heap_down(struct gavel_pair *v, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;

		if (l < n && gavel_pair_cmp(&v[l], &v[m]) < 0)
			m = l;
		if (l + 1 < n && gavel_pair_cmp(&v[l + 1], &v[m]) < 0)
			m = l + 1;
		if (m == i)
			return;
		struct gavel_pair tmp = v[i];

		v[i] = v[m];
		v[m] = tmp;
		i = m;
	}
}

/* Collect the (job, type) pairs that could still be served -- the job not
 * yet admitted, its width of type t still free -- into a heap in st->sortv
 * ordered by priority (only as many are taken off as GPUs last, so no full
 * sort). Pairs with X = 0 come last (priority 0), so idle GPUs still go to
 * waiting jobs. Returns the count. */
static uint32_t gavel_pairs(struct gavel_state *st, const struct sched_snapshot *snap,
			    const uint32_t *left, const uint32_t *width)
{
	uint32_t nt = snap->cluster->ntypes, n = 0;
	struct gavel_pair *v = st->sortv;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		const struct gavel_job *r = st->rec[i];

		if (st->type[i] != POLICY_ANY_TYPE || width[i] == 0)
			continue;
		for (uint32_t t = 0; t < nt; t++) {
			if (st->thr[i * nt + t] <= 0 || left[t] < width[i])
				continue;
			v[n++] = (struct gavel_pair){ .prio = gavel_priority(st, r, t),
						      .arrival = j->arrival_s, .id = j->id,
						      .pair = i * nt + t, .on = gavel_on_type(snap, j, t) };
		}
	}
	for (uint32_t k = n / 2; k-- > 0;)
		gavel_heap_down(v, n, k);
	return n;
}

/* Choose who runs on what: mid-round, running jobs keep their leases; then
 * pairs in priority order take their width of free GPUs of their type. */
static uint32_t gavel_choose(struct gavel_state *st, const struct sched_snapshot *snap, bool round,
			     const uint32_t *count, const uint32_t *width)
{
	uint32_t nt = snap->cluster->ntypes, np, nadm = 0, idle = 0;
	uint32_t left[SCHED_MAX_TYPES];

	memcpy(left, count, sizeof(left));
	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		uint32_t t = sched_job_is_running(j) ? gavel_held_type(snap->cluster, j) : POLICY_ANY_TYPE;

		st->type[i] = POLICY_ANY_TYPE;
		if (round || t == POLICY_ANY_TYPE || left[t] < j->nheld)
			continue;
		st->type[i] = t;
		left[t] -= j->nheld;
		st->admitted[nadm++] = i;
	}
	for (uint32_t t = 0; t < nt; t++)
		idle += left[t];
	np = idle ? gavel_pairs(st, snap, left, width) : 0;
	while (np > 0) {
		uint32_t i = st->sortv[0].pair / nt, t = st->sortv[0].pair % nt, w = width[i];

		if (idle == 0)
			break;
		st->sortv[0] = st->sortv[--np];
		gavel_heap_down(st->sortv, np, 0);
		if (st->type[i] != POLICY_ANY_TYPE || w == 0 || left[t] < w)
			continue;
		st->type[i] = t;
		left[t] -= w;
		idle -= w;
		st->admitted[nadm++] = i;
	}
	return nadm;
}

static int gavel_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	struct gavel_state *st = p->state;
	uint32_t count[SCHED_MAX_TYPES], nadm;
	uint64_t sig;
	bool round;
	int rc = gavel_grow(st, snap->njobs + 1);

	if (rc == 0)
		rc = gavel_account(st, snap);
	if (rc || snap->njobs == 0)
		return rc;
	policy_type_counts(snap->cluster, count);
	gavel_throughputs(snap, count, p->width, st->thr);
	sig = gavel_signature(snap, count);
	round = !st->have_plan || snap->now_s >= st->next_round_s - 1e-9 * fmax(1.0, snap->now_s);
	/* As in Gavel, a changed job set or capacity marks the allocation stale
	 * and it is recomputed at the next round boundary; mid-round arrivals
	 * may only take idle GPUs (their X is 0 until then). */
	if (round && (!st->have_plan || sig != st->sig)) {
		rc = gavel_allocate(p, snap, count);
		if (rc)
			return rc;
		st->sig = sig;
	}
	if (round)
		st->next_round_s = snap->now_s + GAVEL_ROUND_S;
	st->have_plan = true;
	st->last_plan_s = snap->now_s;
	nadm = gavel_choose(st, snap, round, count, p->width);
	for (uint32_t r = 0; r < nadm; r++)
		out->assigns[st->admitted[r]].rank = r;
	rc = policy_place_admitted(snap, st->admitted, nadm, st->type, p->width, out);
	/* Nothing runs: later rounds would choose the same (nobody fits). */
	out->replan_at_s = nadm ? st->next_round_s : INFINITY;
	return rc;
}

int policy_gavel_share(const struct sched_policy *p, uint32_t job_id, double *x, uint32_t ntypes)
{
	const struct gavel_state *st;
	const struct gavel_job *r;

	if (p->ops != &policy_gavel_ops && p->ops != &policy_gavel_tput_ops)
		return -ENOENT;
	st = p->state;
	r = policy_ids_find(st->ids, job_id);
	if (!r)
		return -ENOENT;
	for (uint32_t t = 0; t < ntypes && t < SCHED_MAX_TYPES; t++)
		x[t] = r->x[t];
	return 0;
}

const struct sched_policy_ops policy_gavel_ops = {
	.name = "gavel",
	.one_type = true,
	.summary = "Gavel heterogeneity-aware max-min fairness LP, 360 s round-based leases",
	.init = gavel_init,
	.plan = gavel_plan,
	.forget = gavel_forget,
	.destroy = gavel_destroy,
};

const struct sched_policy_ops policy_gavel_tput_ops = {
	.name = "gavel-tput",
	.one_type = true,
	.summary = "Gavel max-sum-throughput LP, 360 s round-based leases",
	.init = gavel_tput_init,
	.plan = gavel_plan,
	.forget = gavel_forget,
	.destroy = gavel_destroy,
};
