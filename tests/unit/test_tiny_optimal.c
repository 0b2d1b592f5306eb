/* SPDX-License-Identifier: MIT */
/* Hare's scheduling core against a brute-force optimum on tiny random
 * instances: both LP relaxations must bound the optimum from below, and every
 * greedy schedule must be feasible (checked here, independently of the
 * solver) and no better than the optimum. Prints how far each lies off. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "greedy.h"
#include "lp.h"
#include "sched.h"

#include "tiny_model.h"

#define TINY_COUNT 1000		/* random instances, instance i from seed TINY_SEED + i */
#define TINY_EXHAUSTIVE 6	/* cross-check the pruned search up to this many tasks */
#define TINY_REL 1e-6		/* relative slack of the bound comparisons */

/* Dump the instance and fail the test with a message naming it. */
#define TINY_FAIL(in, ...)                                                                         \
	do {                                                                                       \
		tiny_print(in);                                                                    \
		fail_msg(__VA_ARGS__);                                                             \
	} while (0)

/* a <= b up to TINY_REL relative to their size. */
static bool tiny_leq(double a, double b)
{
	return a <= b + TINY_REL * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* ---- LP bounds --------------------------------------------------------- */

struct tiny_lp {
	double lb_job;			/* LB1: job-level LP (exact solver) */
	double lb_round;		/* LB2: per-round LP (GLPK) */
	double c_job[TINY_JOBS];	/* LP completion of each job's last task */
	double c_round[TINY_ITEMS];	/* per round, index job * TINY_ROUNDS + round */
};

/* sum w (Ts - a): turns sum w C_i (C_i = last task's end) into sum w (C - a). */
static double tiny_lb_offset(const struct tiny *in)
{
	double off = 0;

	for (uint32_t j = 0; j < in->njobs; j++)
		off += in->jobs[j].weight * (in->sync_s[j] - in->jobs[j].arrival_s);
	return off;
}

/* One item per job: all its rounds, spanning R p plus the syncs between. */
static size_t tiny_lp_jobs(const struct tiny *in, struct lp_item *items)
{
	for (uint32_t j = 0; j < in->njobs; j++) {
		const struct sched_job *job = &in->jobs[j];
		double r = (double)job->rounds_total, p = in->fast_s[j];

		items[j] = (struct lp_item){
			.work = job->tasks * r * p, .span_s = r * p + (r - 1) * in->sync_s[j],
			.release_s = job->arrival_s, .gap_s = 0, .weight = job->weight, .prev = -1,
		};
	}
	return in->njobs;
}

/* One item per round, chained by the sync; only the last round is weighted.
 * round_of[i] gets job * TINY_ROUNDS + round of item i. */
static size_t tiny_lp_rounds(const struct tiny *in, struct lp_item *items, uint32_t *round_of)
{
	size_t n = 0;

	for (uint32_t j = 0; j < in->njobs; j++) {
		const struct sched_job *job = &in->jobs[j];

		for (uint32_t r = 0; r < job->rounds_total; r++, n++) {
			items[n] = (struct lp_item){
				.work = job->tasks * in->fast_s[j], .span_s = in->fast_s[j],
				.release_s = job->arrival_s, .gap_s = in->sync_s[j],
				.weight = r + 1 == job->rounds_total ? job->weight : 0,
				.prev = r ? (int32_t)n - 1 : -1,
			};
			round_of[n] = j * TINY_ROUNDS + r;
		}
	}
	return n;
}

/* The solution must satisfy the LP's own rows and match its objective. */
static void tiny_lp_verify(const struct tiny *in, const struct lp_input *lp, const double *c,
			   double obj, const char *what)
{
	double sum = 0, viol;

	for (size_t i = 0; i < lp->n; i++) {
		const struct lp_item *it = &lp->items[i];
		double lo = (it->prev < 0 ? it->release_s : c[it->prev] + it->gap_s) + it->span_s;

		if (!tiny_leq(lo, c[i]))
			TINY_FAIL(in, "instance %u: %s LP: item %zu has C = %.9g below its %s row %.9g",
				  in->id, what, i, c[i], it->prev < 0 ? "release" : "chain", lo);
		sum += it->weight * c[i];
	}
	if (!tiny_leq(sum, obj) || !tiny_leq(obj, sum))
		TINY_FAIL(in, "instance %u: %s LP: objective %.9g but sum w C = %.9g", in->id, what,
			  obj, sum);
	viol = lp_separate(lp, c, NULL, NULL);
	if (viol > TINY_REL)
		TINY_FAIL(in, "instance %u: %s LP: parallel row violated by %.3g (relative)", in->id,
			  what, viol);
}

/* Solve one LP with one solver; fails the test on an error. */
static double tiny_lp_run(const struct tiny *in, const struct lp_input *lp, bool exact, double *c,
			  const char *what)
{
	struct lp_options opt;
	char err[256] = "";
	double obj = 0;
	int rc;

	if (lp_input_check(lp, err, sizeof(err)))
		TINY_FAIL(in, "instance %u: %s LP input rejected: %s", in->id, what, err);
	lp_options_default(&opt);
	rc = exact ? lp_solve_exact(lp, c, &obj) : lp_solve_glpk(lp, &opt, c, &obj, NULL);
	if (rc)
		TINY_FAIL(in, "instance %u: %s LP: %s failed: %s (%d)", in->id, what,
			  exact ? "lp_solve_exact" : "lp_solve_glpk", err_name(rc), rc);
	tiny_lp_verify(in, lp, c, obj, what);
	return obj;
}

/* LB1 (exact, cross-checked by GLPK on the same items) and LB2. */
static void tiny_lp_bounds(const struct tiny *in, struct tiny_lp *out)
{
	struct lp_item items[TINY_ITEMS];
	struct lp_input lp = { .items = items, .machines = in->cluster.ngpus };
	double c[TINY_ITEMS], glpk, off = tiny_lb_offset(in);
	uint32_t round_of[TINY_ITEMS];

	lp.n = tiny_lp_jobs(in, items);
	out->lb_job = tiny_lp_run(in, &lp, true, out->c_job, "job-level (exact)");
	glpk = tiny_lp_run(in, &lp, false, c, "job-level (GLPK)");
	if (!tiny_leq(out->lb_job, glpk) || !tiny_leq(glpk, out->lb_job))
		TINY_FAIL(in, "instance %u: job-level LP: exact objective %.9g, GLPK %.9g", in->id,
			  out->lb_job, glpk);
	out->lb_job += off;
	lp.n = tiny_lp_rounds(in, items, round_of);
	out->lb_round = tiny_lp_run(in, &lp, false, c, "per-round (GLPK)") + off;
	for (size_t i = 0; i < lp.n; i++)
		out->c_round[round_of[i]] = c[i];
}

/* ---- Hare's orders ----------------------------------------------------- */

struct tiny_key {
	double c, w, a;
	uint32_t job, round;
};

/* LP completion, then higher weight, earlier arrival, job, round. */
static int tiny_key_cmp(const struct tiny_key *x, const struct tiny_key *y)
{
	double tol = 1e-9 * fmax(1.0, fmax(fabs(x->c), fabs(y->c)));

	if (fabs(x->c - y->c) > tol)
		return x->c < y->c ? -1 : 1;
	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->job != y->job)
		return x->job < y->job ? -1 : 1;
	return (x->round > y->round) - (x->round < y->round);
}

/* Insertion sort: stable, and well defined with the tolerant comparison. */
static void tiny_key_sort(struct tiny_key *k, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct tiny_key x = k[i];
		size_t m = i;

		for (; m > 0 && tiny_key_cmp(&k[m - 1], &x) > 0; m--)
			k[m] = k[m - 1];
		k[m] = x;
	}
}

/* Jobs by their job-level LP completion, each job's rounds together. */
static size_t tiny_order_jobs(const struct tiny *in, const struct tiny_lp *lp,
			      struct sched_round_ref *order)
{
	struct tiny_key k[TINY_JOBS];
	size_t n = 0;

	for (uint32_t j = 0; j < in->njobs; j++)
		k[j] = (struct tiny_key){ lp->c_job[j], in->jobs[j].weight, in->jobs[j].arrival_s,
					  j, 0 };
	tiny_key_sort(k, in->njobs);
	for (uint32_t i = 0; i < in->njobs; i++)
		for (uint32_t r = 0; r < in->jobs[k[i].job].rounds_total; r++)
			order[n++] = (struct sched_round_ref){ k[i].job, r };
	return n;
}

/* Rounds by their per-round LP completion (a job's rounds keep their order:
 * each round's key is the largest C among it and its predecessors). */
static size_t tiny_order_rounds(const struct tiny *in, const struct tiny_lp *lp,
				struct sched_round_ref *order)
{
	struct tiny_key k[TINY_ITEMS];
	size_t n = 0;

	for (uint32_t j = 0; j < in->njobs; j++) {
		double c = -INFINITY;

		for (uint32_t r = 0; r < in->jobs[j].rounds_total; r++) {
			c = fmax(c, lp->c_round[j * TINY_ROUNDS + r]);
			k[n++] = (struct tiny_key){ c, in->jobs[j].weight, in->jobs[j].arrival_s,
						    j, r };
		}
	}
	tiny_key_sort(k, n);
	for (size_t i = 0; i < n; i++)
		order[i] = (struct sched_round_ref){ k[i].job, k[i].round };
	return n;
}

/* Run the task-level greedy on an order and check its schedule; returns its
 * objective sum w (C - a). */
static double tiny_hare(const struct tiny *in, const struct sched_round_ref *order, size_t n,
			bool holds, const char *label)
{
	struct sched_task_slot slots[TINY_TASKS];
	double comp[TINY_JOBS], obj = 0;
	char why[256];
	int rc;

	rc = sched_greedy_tasks(&in->cluster, in->jobs, in->njobs, order, n, 0.0, holds, slots,
				comp);
	if (rc)
		TINY_FAIL(in, "instance %u: greedy (%s) returned %s (%d)", in->id, label,
			  err_name(rc), rc);
	if (tiny_check(in, slots, in->ntasks, comp, holds, &obj, why, sizeof(why))) {
		tiny_print_slots(slots, in->ntasks, comp, in->njobs);
		TINY_FAIL(in, "instance %u: greedy (%s) infeasible: %s", in->id, label, why);
	}
	return obj;
}

/* ---- Statistics -------------------------------------------------------- */

struct tiny_stat {
	double sum, max;
	unsigned n;
};

static void tiny_stat_add(struct tiny_stat *s, double v)
{
	s->sum += v;
	s->max = s->n ? fmax(s->max, v) : v;
	s->n++;
}

enum { TINY_VARIANTS = 4 };

static const char *const tiny_variant_names[TINY_VARIANTS] = {
	"job LP order, sync holds GPU", "job LP order, sync frees GPU",
	"round LP order, sync holds GPU", "round LP order, sync frees GPU",
};

struct tiny_stats {
	unsigned instances, max_tasks;
	uint64_t nodes;
	struct tiny_stat opt_lb1, opt_lb2, alpha;
	struct tiny_stat hare_opt[TINY_VARIANTS];
	struct tiny_stat hare_lb[TINY_VARIANTS];	/* LB = max(LB1, LB2) */
	struct tiny_stat hare_lb_bound[TINY_VARIANTS];	/* (hare / LB) / (alpha (2 + alpha)) */
	unsigned over_lb[TINY_VARIANTS];		/* hare / LB > alpha (2 + alpha) */
	unsigned over_opt[TINY_VARIANTS];		/* hare / OPT > alpha (2 + alpha) */
	unsigned worst_id[TINY_VARIANTS];		/* instance of the largest hare / LB bound ratio */
};

static void tiny_stats_print(const struct tiny_stats *st)
{
	printf("tiny: %u instances (up to %u tasks), %llu brute-force nodes\n", st->instances,
	       st->max_tasks, (unsigned long long)st->nodes);
	printf("tiny: alpha mean %.3f max %.3f\n", st->alpha.sum / st->alpha.n, st->alpha.max);
	printf("tiny: OPT/LB1 (job LP, exact) mean %.4f max %.4f\n",
	       st->opt_lb1.sum / st->opt_lb1.n, st->opt_lb1.max);
	printf("tiny: OPT/LB2 (round LP, GLPK) mean %.4f max %.4f\n",
	       st->opt_lb2.sum / st->opt_lb2.n, st->opt_lb2.max);
	for (int v = 0; v < TINY_VARIANTS; v++) {
		printf("tiny: hare (%s): hare/OPT mean %.4f max %.4f, hare/LB mean %.4f max %.4f\n",
		       tiny_variant_names[v], st->hare_opt[v].sum / st->hare_opt[v].n,
		       st->hare_opt[v].max, st->hare_lb[v].sum / st->hare_lb[v].n,
		       st->hare_lb[v].max);
		printf("tiny:   (hare/LB) / (alpha (2 + alpha)) max %.4f (instance %u); "
		       "hare/LB over alpha (2 + alpha) on %u, hare/OPT on %u of %u\n",
		       st->hare_lb_bound[v].max, st->worst_id[v], st->over_lb[v], st->over_opt[v],
		       st->instances);
	}
}

/* ---- Per instance ------------------------------------------------------ */

/* The optimum by the pruned search; its schedule must pass the checker. */
static double tiny_optimum(const struct tiny *in, struct tiny_stats *st)
{
	struct tiny_bf bf;
	double obj = 0;
	char why[256];

	tiny_bf_init(&bf, in, true);
	tiny_bf_dfs(&bf, 0, 0);
	st->nodes += bf.nodes;
	if (!isfinite(bf.best))
		TINY_FAIL(in, "instance %u: brute force found no schedule", in->id);
	if (tiny_check(in, bf.best_path, in->ntasks, NULL, false, &obj, why, sizeof(why)))
		TINY_FAIL(in, "instance %u: brute-force optimum infeasible: %s", in->id, why);
	if (fabs(obj - bf.best) > 1e-9)
		TINY_FAIL(in, "instance %u: brute-force optimum costs %.9g, search said %.9g",
			  in->id, obj, bf.best);
	return bf.best;
}

/* The model's sync time is the one the greedy charges. */
static void tiny_sync_verify(const struct tiny *in)
{
	for (uint32_t j = 0; j < in->njobs; j++) {
		double ts = sched_greedy_sync_s(&in->jobs[j]);

		if (fabs(ts - in->sync_s[j]) > 1e-9)
			TINY_FAIL(in, "instance %u: job %u: sched_greedy_sync_s = %.9g, want %.9g",
				  in->id, j, ts, in->sync_s[j]);
	}
}

/* Record one greedy schedule's ratios against OPT and LB. */
static void tiny_hare_record(struct tiny_stats *st, const struct tiny *in, int v, double hare,
			     double opt, double lb)
{
	double bound = in->alpha * (2 + in->alpha);

	if (!tiny_leq(opt, hare))
		TINY_FAIL(in, "instance %u: greedy (%s) costs %.9g, below the optimum %.9g",
			  in->id, tiny_variant_names[v], hare, opt);
	tiny_stat_add(&st->hare_opt[v], hare / opt);
	tiny_stat_add(&st->hare_lb[v], hare / lb);
	if (hare / lb / bound > st->hare_lb_bound[v].max || !st->hare_lb_bound[v].n)
		st->worst_id[v] = in->id;
	tiny_stat_add(&st->hare_lb_bound[v], hare / lb / bound);
	st->over_lb[v] += hare > lb * bound * (1 + TINY_REL);
	st->over_opt[v] += hare > opt * bound * (1 + TINY_REL);
}

static void tiny_run(const struct tiny *in, struct tiny_stats *st)
{
	struct sched_round_ref by_job[TINY_ITEMS], by_round[TINY_ITEMS];
	struct tiny_lp lp;
	double opt, lb, hare[TINY_VARIANTS];
	size_t n;

	tiny_sync_verify(in);
	opt = tiny_optimum(in, st);
	tiny_lp_bounds(in, &lp);
	if (!tiny_leq(lp.lb_job, opt))
		TINY_FAIL(in, "instance %u: job-level LP bound %.9g above the optimum %.9g", in->id,
			  lp.lb_job, opt);
	if (!tiny_leq(lp.lb_round, opt))
		TINY_FAIL(in, "instance %u: per-round LP bound %.9g above the optimum %.9g", in->id,
			  lp.lb_round, opt);
	n = tiny_order_jobs(in, &lp, by_job);
	hare[0] = tiny_hare(in, by_job, n, true, tiny_variant_names[0]);
	hare[1] = tiny_hare(in, by_job, n, false, tiny_variant_names[1]);
	n = tiny_order_rounds(in, &lp, by_round);
	hare[2] = tiny_hare(in, by_round, n, true, tiny_variant_names[2]);
	hare[3] = tiny_hare(in, by_round, n, false, tiny_variant_names[3]);

	lb = fmax(lp.lb_job, lp.lb_round);
	st->instances++;
	st->max_tasks = in->ntasks > st->max_tasks ? in->ntasks : st->max_tasks;
	tiny_stat_add(&st->alpha, in->alpha);
	tiny_stat_add(&st->opt_lb1, opt / lp.lb_job);
	tiny_stat_add(&st->opt_lb2, opt / lp.lb_round);
	for (int v = 0; v < TINY_VARIANTS; v++)
		tiny_hare_record(st, in, v, hare[v], opt, lb);
}

/* ---- Tests ------------------------------------------------------------- */

/* Is variant v the relaxed model's greedy (a GPU is free right after its
 * task)? Only there do OPT and the LP bound describe the same model. */
static bool tiny_variant_relaxed(int v)
{
	return v == 1 || v == 3;
}

/*
 * Every check on every instance; prints the statistics. Hare's claimed
 * alpha (2 + alpha) ratio is asserted against the LP bound (hence against
 * the optimum) for the relaxed greedy, where it held on every instance. With
 * sync holding the GPU it is only reported: the bounds ignore that a GPU
 * idles through every sync, so the ratio grows with Ts and the job count.
 */
static void test_tiny_optimal(void **state)
{
	static struct tiny_stats st;
	struct tiny in;

	(void)state;
	memset(&st, 0, sizeof(st));
	for (unsigned i = 0; i < TINY_COUNT; i++) {
		tiny_make(&in, i);
		tiny_run(&in, &st);
	}
	tiny_stats_print(&st);
	assert_int_equal(st.instances, TINY_COUNT);
	for (int v = 0; v < TINY_VARIANTS; v++) {
		if (tiny_variant_relaxed(v) && st.over_lb[v])
			fail_msg("greedy (%s) exceeded alpha (2 + alpha) times the LP bound on %u "
				 "instances (worst: instance %u)",
				 tiny_variant_names[v], st.over_lb[v], st.worst_id[v]);
	}
}

/* The pruned search (start-time order, twin GPUs, bound) finds the same
 * optimum as plain enumeration of every task order and GPU choice. */
static void test_tiny_brute_force_exhaustive(void **state)
{
	unsigned checked = 0;
	struct tiny in;

	(void)state;
	for (unsigned i = 0; i < TINY_COUNT; i++) {
		struct tiny_bf pruned, plain;

		tiny_make(&in, i);
		if (in.ntasks > TINY_EXHAUSTIVE)
			continue;
		tiny_bf_init(&pruned, &in, true);
		tiny_bf_dfs(&pruned, 0, 0);
		tiny_bf_init(&plain, &in, false);
		tiny_bf_dfs(&plain, 0, 0);
		if (fabs(pruned.best - plain.best) > 1e-9)
			TINY_FAIL(&in, "instance %u: pruned search %.9g, exhaustive %.9g", in.id,
				  pruned.best, plain.best);
		checked++;
	}
	printf("tiny: pruned search = exhaustive enumeration on %u instances of <= %d tasks\n",
	       checked, TINY_EXHAUSTIVE);
	assert_true(checked >= TINY_COUNT / 5);
}

#define SLOT(j, r, k, g, s, e)                                                                     \
	{ .job = (j), .round = (r), .task = (k), .gpu = (g), .start_s = (s), .end_s = (e) }

/* A fixed two-job instance: job 0 (w 1, a 0, 2 rounds of 2 tasks, 2 s on
 * type 0, 4 s on type 1, sync 1 s), job 1 (w 2, a 1, 1 task, 3 s on type 0,
 * cannot run on type 1, no sync); one GPU of each type. */
static void tiny_make_fixed(struct tiny *in)
{
	tiny_init(in, 1000000, 2, 2);
	in->gpus[1].type = 1;
	tiny_job_init(in, 0, 1, 0, 2, 2, 1);
	in->jobs[0].perf.compute_s[0] = 2;
	in->jobs[0].perf.compute_s[1] = 4;
	tiny_job_finish(in, 0);
	tiny_job_init(in, 1, 2, 1, 1, 1, 0);
	in->jobs[1].perf.compute_s[0] = 3;
	tiny_job_finish(in, 1);
}

/* The checker accepts a valid schedule and names each kind of violation. */
static void test_tiny_checker(void **state)
{
	static const struct sched_task_slot good[] = {
		SLOT(0, 0, 0, 0, 0, 2), SLOT(0, 0, 1, 1, 0, 4), SLOT(1, 0, 0, 0, 5, 8),
		SLOT(0, 1, 0, 1, 5, 9), SLOT(0, 1, 1, 0, 8, 10),
	};
	static const struct {
		size_t slot;			/* slot replaced */
		struct sched_task_slot to;
		bool holds;
		const char *expect;		/* in the checker's reason */
	} bad[] = {
		{ 4, SLOT(0, 1, 0, 0, 8, 10), false, "twice" },
		{ 0, SLOT(0, 0, 0, 2, 0, 2), false, "no GPU" },
		{ 1, SLOT(0, 0, 1, 1, 0, 3), false, "duration" },
		{ 2, SLOT(1, 0, 0, 1, 9, 12), false, "cannot run" },
		{ 2, SLOT(1, 0, 0, 0, 0.5, 3.5), false, "arrival" },
		{ 3, SLOT(0, 1, 0, 1, 4.5, 8.5), false, "chain" },
		{ 2, SLOT(1, 0, 0, 0, 1, 4), false, "overlap" },
		{ 2, SLOT(1, 0, 0, 0, 2, 5), true, "held" },
		{ 2, SLOT(1, 0, 0, 0, 2, 5), false, "completion" },
	};
	const double comp[] = { 11, 8 };
	struct sched_task_slot s[5];
	struct tiny in;
	char why[256];
	double obj = 0;

	(void)state;
	tiny_make_fixed(&in);
	assert_int_equal(tiny_check(&in, good, 5, comp, true, &obj, why, sizeof(why)), 0);
	assert_true(obj == 1 * (11 - 0) + 2 * (8 - 1));
	assert_int_equal(tiny_check(&in, good, 4, comp, false, &obj, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "slots"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(s, good, sizeof(good));
		s[bad[i].slot] = bad[i].to;
		why[0] = 0;
		if (tiny_check(&in, s, 5, comp, bad[i].holds, &obj, why, sizeof(why)) != -1 ||
		    !strstr(why, bad[i].expect))
			fail_msg("checker case %zu: want a reason with \"%s\", got \"%s\"", i,
				 bad[i].expect, why);
	}
}

/* Rounds with more tasks than GPUs (each GPU runs several back to back):
 * the whole pipeline on two fixed instances with 3 tasks per round. */
static void test_tiny_wide_rounds(void **state)
{
	static struct tiny_stats st;
	struct tiny in;

	(void)state;
	memset(&st, 0, sizeof(st));
	tiny_init(&in, 1000001, 1, 1);
	tiny_job_init(&in, 0, 2, 0, 2, 3, 2);
	in.jobs[0].perf.compute_s[0] = 3;
	tiny_job_finish(&in, 0);
	tiny_job_init(&in, 1, 1, 1, 1, 2, 1);
	in.jobs[1].perf.compute_s[0] = 2;
	tiny_job_finish(&in, 1);
	tiny_run(&in, &st);

	tiny_init(&in, 1000002, 2, 2);
	in.gpus[1].type = 1;
	tiny_job_init(&in, 0, 1, 0, 2, 3, 1);
	in.jobs[0].perf.compute_s[0] = 2;
	in.jobs[0].perf.compute_s[1] = 5;
	tiny_job_finish(&in, 0);
	tiny_job_init(&in, 1, 4, 3, 1, 3, 0);
	in.jobs[1].perf.compute_s[0] = 4;
	tiny_job_finish(&in, 1);
	tiny_run(&in, &st);
	assert_int_equal(st.instances, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny_checker),
		cmocka_unit_test(test_tiny_brute_force_exhaustive),
		cmocka_unit_test(test_tiny_optimal),
		cmocka_unit_test(test_tiny_wide_rounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
