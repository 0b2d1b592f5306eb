/* SPDX-License-Identifier: MIT */
/* Finish-time fairness: the time-averaged number of active jobs during each
 * job's life, the job's time alone on its 1/n share, and rho = JCT / that. */
#include "fairness.h"

#include "engine.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per GPU type: its GPUs, those of the fullest nodes first. */
struct fair_types {
	uint32_t ntypes;
	uint32_t count[SCHED_MAX_TYPES];
	uint32_t *gpus[SCHED_MAX_TYPES];	/* into one block of ngpus entries */
	uint32_t *block;
	uint16_t *tasks;			/* scratch, ngpus entries */
};

static int fair_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Integral of the active count from the first breakpoint up to t. */
static double fair_integral(const double *bt, const double *bi, const uint32_t *bn, size_t nb,
			    double t)
{
	size_t lo = 0, hi = nb;

	/* last breakpoint <= t */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (bt[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return bi[lo] + bn[lo] * (t - bt[lo]);
}

/* Breakpoints of the active count: times bt, the count bn after each, and
 * the integral bi up to each. */
static size_t fair_breakpoints(double *arr, double *fin, uint32_t n, uint32_t nfin, double *bt,
			       double *bi, uint32_t *bn)
{
	size_t ia = 0, ifn = 0, nb = 0;
	uint32_t count = 0;

	qsort(arr, n, sizeof(*arr), fair_cmp_double);
	qsort(fin, nfin, sizeof(*fin), fair_cmp_double);
	while (ia < n || ifn < nfin) {
		double t = ia < n && (ifn == nfin || arr[ia] <= fin[ifn]) ? arr[ia] : fin[ifn];

		while (ia < n && arr[ia] == t) {
			count++;
			ia++;
		}
		while (ifn < nfin && fin[ifn] == t) {
			count--;
			ifn++;
		}
		bt[nb] = t;
		bn[nb] = count;
		bi[nb] = nb ? bi[nb - 1] + bn[nb - 1] * (t - bt[nb - 1]) : 0;
		nb++;
	}
	return nb;
}

int sim_fairness_active(const double *arrival_s, const double *finish_s, uint32_t n, double *avg)
{
	size_t m = (size_t)n + 1;
	double *arr = malloc(m * sizeof(double)), *fin = malloc(m * sizeof(double));
	double *bt = malloc(2 * m * sizeof(double)), *bi = malloc(2 * m * sizeof(double));
	uint32_t *bn = malloc(2 * m * sizeof(uint32_t)), nfin = 0;
	size_t nb;
	int rc = -ENOMEM;

	if (!arr || !fin || !bt || !bi || !bn)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		arr[i] = arrival_s[i];
		if (finish_s[i] >= 0)
			fin[nfin++] = finish_s[i];
	}
	nb = fair_breakpoints(arr, fin, n, nfin, bt, bi, bn);
	for (uint32_t i = 0; i < n; i++) {
		double a = arrival_s[i], f = finish_s[i];

		if (f < 0)
			avg[i] = NAN;
		else if (f > a)
			avg[i] = (fair_integral(bt, bi, bn, nb, f) - fair_integral(bt, bi, bn, nb, a)) /
				 (f - a);
		else
			avg[i] = 1;
	}
	rc = 0;
out:
	free(arr);
	free(fin);
	free(bt);
	free(bi);
	free(bn);
	return rc;
}

static void fair_types_destroy(struct fair_types *ft)
{
	free(ft->block);
	free(ft->tasks);
}

/* Nodes by GPUs of the type held (arg: per-node counts), most first, ties
 * by lower index. */
static int fair_cmp_node(const void *a, const void *b, void *arg)
{
	const uint32_t *count = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (count[x] != count[y])
		return count[x] > count[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* Append type t's GPUs to ft, the nodes holding more of them first. */
static void fair_type_order(struct fair_types *ft, const struct sched_cluster *c, uint32_t t,
			    const uint32_t *node_first, uint32_t *count, uint32_t *nodes, uint32_t *k)
{
	uint32_t nn = 0;

	memset(count, 0, c->nnodes * sizeof(uint32_t));
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].type == t && c->gpus[g].up && c->gpus[g].node < c->nnodes &&
		    count[c->gpus[g].node]++ == 0)
			nodes[nn++] = c->gpus[g].node;
	qsort_r(nodes, nn, sizeof(*nodes), fair_cmp_node, count);
	ft->gpus[t] = ft->block + *k;
	for (uint32_t i = 0; i < nn; i++)
		for (uint32_t g = node_first[nodes[i]]; g < c->ngpus && c->gpus[g].node == nodes[i]; g++)
			if (c->gpus[g].type == t && c->gpus[g].up && *k < c->ngpus) {
				ft->gpus[t][ft->count[t]++] = g;
				(*k)++;
			}
}

/* Order each type's GPUs: nodes holding more GPUs of the type first (the
 * cluster's GPUs are grouped by node). */
static int fair_types_init(struct fair_types *ft, const struct sched_cluster *c)
{
	size_t nn = (size_t)c->nnodes + 1;
	uint32_t *first = malloc(nn * sizeof(uint32_t)), *count = malloc(nn * sizeof(uint32_t));
	uint32_t *nodes = malloc(nn * sizeof(uint32_t)), k = 0;
	int rc = -ENOMEM;

	memset(ft, 0, sizeof(*ft));
	ft->ntypes = c->ntypes;
	ft->block = malloc((c->ngpus + 1) * sizeof(uint32_t));
	ft->tasks = malloc((c->ngpus + 1) * sizeof(uint16_t));
	if (!first || !count || !nodes || !ft->block || !ft->tasks) {
		fair_types_destroy(ft);
		goto out;
	}
	for (uint32_t i = 0; i < c->nnodes; i++)
		first[i] = c->ngpus;
	for (uint32_t g = c->ngpus; g-- > 0;)
		if (c->gpus[g].node < c->nnodes)
			first[c->gpus[g].node] = g;
	for (uint32_t t = 0; t < c->ntypes && t < SCHED_MAX_TYPES; t++)
		fair_type_order(ft, c, t, first, count, nodes, &k);
	rc = 0;
out:
	free(first);
	free(count);
	free(nodes);
	return rc;
}

static double fair_alone(const struct fair_types *ft, const struct sched_cluster *c,
			 const struct sched_job *j, uint32_t gpus)
{
	double best = INFINITY;

	for (uint32_t t = 0; t < ft->ntypes; t++) {
		uint32_t w = gpus < ft->count[t] ? gpus : ft->count[t];
		double round_s;

		w = w < j->min_gpus ? j->min_gpus : w > j->max_gpus ? j->max_gpus : w;
		if (!(j->perf.compute_s[t] > 0) || w > ft->count[t] || w == 0)
			continue;
		memset(ft->tasks, 0, w * sizeof(uint16_t));
		sched_split_tasks(c, j, ft->gpus[t], w, ft->tasks);
		round_s = sched_round_time(c, j, ft->gpus[t], ft->tasks, w);
		if (round_s > 0 && isfinite(round_s))
			best = fmin(best, (double)j->rounds_total * round_s);
	}
	return best;
}

double sim_fairness_alone_s(const struct sched_cluster *c, const struct sched_job *j,
			    uint32_t gpus)
{
	struct fair_types ft;
	double s;

	if (fair_types_init(&ft, c) < 0)
		return NAN;
	s = fair_alone(&ft, c, j, gpus);
	fair_types_destroy(&ft);
	return s;
}

int sim_fairness_compute(const struct sched_cluster *c, const struct sim_workload *w,
			 struct sim_result *r)
{
	size_t n = (size_t)w->njobs + 1;
	double *arrival = malloc(n * sizeof(double)), *leave = malloc(n * sizeof(double));
	struct fair_types ft;
	int rc = -ENOMEM;

	free(r->alone_s);
	free(r->rho);
	r->alone_s = malloc(n * sizeof(double));
	r->rho = malloc(n * sizeof(double));
	if (!arrival || !leave || !r->alone_s || !r->rho || fair_types_init(&ft, c) < 0)
		goto out;
	/* a job that ended FAILED (the failure model) is active until then */
	for (uint32_t i = 0; i < w->njobs; i++) {
		arrival[i] = w->jobs[i].spec.arrival_s;
		leave[i] = r->finish_s[i] >= 0 || !r->failed_s ? r->finish_s[i] : r->failed_s[i];
	}
	rc = sim_fairness_active(arrival, leave, w->njobs, r->rho);
	for (uint32_t i = 0; rc == 0 && i < w->njobs; i++) {
		const struct sched_job *j = &w->jobs[i].spec;
		double share = floor((double)c->ngpus / fmax(1.0, r->rho[i]));
		uint32_t gpus = share >= 1 ? (uint32_t)fmin(share, (double)c->ngpus) : 1;

		if (r->finish_s[i] < 0) {
			r->alone_s[i] = r->rho[i] = NAN;
			continue;
		}
		r->alone_s[i] = fair_alone(&ft, c, j, gpus);
		r->rho[i] = isfinite(r->alone_s[i]) && r->alone_s[i] > 0 ?
				    (r->finish_s[i] - j->arrival_s) / r->alone_s[i] : NAN;
	}
	fair_types_destroy(&ft);
out:
	free(arrival);
	free(leave);
	return rc;
}
