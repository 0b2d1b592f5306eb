/* SPDX-License-Identifier: MIT */
/* Unit tests of the LP relaxation: hand-checked optima, input validation,
 * separation, and the exact solver against GLPK on random instances. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "lp.h"

#define MAX_ITEMS 160

static uint64_t rng_state;

static double rng_uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static size_t rng_below(size_t n)
{
	return (size_t)(rng_uniform() * (double)n) % n;
}

static struct lp_item item_make(double work, double span, double release, double weight)
{
	return (struct lp_item){ .work = work, .span_s = span, .release_s = release,
				 .weight = weight, .prev = -1 };
}

/* Largest relative shortfall of a release or chain row at C (0 if none). */
static double rows_violation(const struct lp_input *in, const double *c)
{
	double worst = 0.0;

	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];
		double need = it->prev < 0 ? it->release_s + it->span_s
					   : c[it->prev] + it->gap_s + it->span_s;

		if (need > 0.0)
			worst = fmax(worst, (need - c[i]) / need);
	}
	return worst;
}

static void assert_rel_close(double a, double b, double rel)
{
	double scale = fmax(fmax(fabs(a), fabs(b)), 1e-300);

	if (fabs(a - b) > rel * scale)
		fail_msg("%.17g and %.17g differ by more than %g relative", a, b, rel);
}

static void test_options_default(void **state)
{
	struct lp_options opt;

	(void)state;
	memset(&opt, 0xff, sizeof(opt));
	lp_options_default(&opt);
	assert_true(opt.time_limit_ms == 0.0);
	assert_true(opt.tolerance == 1e-9);
	assert_int_equal(opt.max_rounds, 0);
	assert_int_equal(opt.cuts_per_round, 32);
}

/* Apply one corruption to a copy of a valid two-item input and expect -EINVAL. */
static void check_rejected(void (*corrupt)(struct lp_item *items, struct lp_input *in))
{
	struct lp_item items[2] = { item_make(1, 1, 0, 1), item_make(2, 1, 0, 1) };
	struct lp_input in = { .n = 2, .items = items, .machines = 1 };
	char err[160] = "";
	double c[2], obj;

	corrupt(items, &in);
	assert_int_equal(lp_input_check(&in, err, sizeof(err)), -EINVAL);
	assert_true(strlen(err) > 0);
	assert_int_equal(lp_solve_exact(&in, c, &obj), -EINVAL);
	assert_int_equal(lp_solve_glpk(&in, NULL, c, &obj, NULL), -EINVAL);
}

static void bad_nan_work(struct lp_item *it, struct lp_input *in) { (void)in; it[1].work = NAN; }
static void bad_zero_work(struct lp_item *it, struct lp_input *in) { (void)in; it[0].work = 0; }
static void bad_neg_span(struct lp_item *it, struct lp_input *in) { (void)in; it[1].span_s = -1; }
static void bad_inf_release(struct lp_item *it, struct lp_input *in) { (void)in; it[0].release_s = INFINITY; }
static void bad_neg_release(struct lp_item *it, struct lp_input *in) { (void)in; it[0].release_s = -2; }
static void bad_neg_gap(struct lp_item *it, struct lp_input *in) { (void)in; it[1].gap_s = -1e-3; }
static void bad_neg_weight(struct lp_item *it, struct lp_input *in) { (void)in; it[1].weight = -1; }
static void bad_nan_weight(struct lp_item *it, struct lp_input *in) { (void)in; it[0].weight = NAN; }
static void bad_huge_work(struct lp_item *it, struct lp_input *in) { (void)in; it[0].work = 1e300; }
static void bad_prev_self(struct lp_item *it, struct lp_input *in) { (void)in; it[1].prev = 1; }
static void bad_prev_later(struct lp_item *it, struct lp_input *in) { (void)in; it[0].prev = 1; }
static void bad_prev_neg(struct lp_item *it, struct lp_input *in) { (void)in; it[1].prev = -2; }
static void bad_zero_m(struct lp_item *it, struct lp_input *in) { (void)it; in->machines = 0; }
static void bad_nan_m(struct lp_item *it, struct lp_input *in) { (void)it; in->machines = NAN; }
static void bad_null_items(struct lp_item *it, struct lp_input *in) { (void)it; in->items = NULL; }

static void test_input_check(void **state)
{
	struct lp_item items[2] = { item_make(1, 1, 0, 1), item_make(2, 1, 0, 0) };
	struct lp_input in = { .n = 2, .items = items, .machines = 3 };
	char err[160];

	(void)state;
	assert_int_equal(lp_input_check(&in, err, sizeof(err)), 0);
	items[1].prev = 0;
	assert_int_equal(lp_input_check(&in, err, sizeof(err)), 0);
	assert_int_equal(lp_input_check(NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(lp_input_check(NULL, NULL, 0), -EINVAL);
	check_rejected(bad_nan_work);
	check_rejected(bad_zero_work);
	check_rejected(bad_neg_span);
	check_rejected(bad_inf_release);
	check_rejected(bad_neg_release);
	check_rejected(bad_neg_gap);
	check_rejected(bad_neg_weight);
	check_rejected(bad_nan_weight);
	check_rejected(bad_huge_work);
	check_rejected(bad_prev_self);
	check_rejected(bad_prev_later);
	check_rejected(bad_prev_neg);
	check_rejected(bad_zero_m);
	check_rejected(bad_nan_m);
	check_rejected(bad_null_items);
}

/* Solve with both solvers and check both against the expected C. */
static void check_both(const struct lp_input *in, const double *want_c, double want_obj)
{
	double c[8], obj = -1.0;
	struct lp_stats st;

	assert_int_equal(lp_solve_exact(in, c, &obj), 0);
	for (size_t i = 0; i < in->n; i++)
		assert_rel_close(c[i], want_c[i], 1e-12);
	assert_rel_close(obj, want_obj, 1e-12);
	assert_int_equal(lp_solve_glpk(in, NULL, c, &obj, &st), 0);
	for (size_t i = 0; i < in->n; i++)
		assert_rel_close(c[i], want_c[i], 1e-7);
	assert_rel_close(obj, want_obj, 1e-7);
	assert_true(st.max_violation <= 1e-9);
}

static void test_one_item(void **state)
{
	/* Release binds: C = 3 + 1; f = W^2/(2m) = 0.5 < l = 2 * 3.5. */
	struct lp_item a = item_make(2, 1, 3, 1);
	/* Parallel row binds: W (C - 0.05) >= 100 / 2, so C = 5.05. */
	struct lp_item b = item_make(10, 0.1, 0, 2);
	struct lp_input in = { .n = 1, .items = &a, .machines = 4 };
	double ca = 4.0, cb = 5.05;

	(void)state;
	check_both(&in, &ca, 4.0);
	in.items = &b;
	in.machines = 1;
	check_both(&in, &cb, 10.1);
}

static void test_single_machine_wspt(void **state)
{
	/* m = 1, span = W: the LP optimum is the WSPT schedule. */
	struct lp_item two[2] = { item_make(1, 1, 0, 1), item_make(2, 2, 0, 1) };
	struct lp_item rev[2] = { item_make(2, 2, 0, 1), item_make(1, 1, 0, 1) };
	struct lp_item three[3] = { item_make(3, 3, 0, 1), item_make(1, 1, 0, 1),
				    item_make(2, 2, 0, 1) };
	struct lp_input in = { .n = 2, .items = two, .machines = 1 };
	double c2[2] = { 1, 3 }, cr[2] = { 3, 1 }, c3[3] = { 6, 1, 3 };

	(void)state;
	check_both(&in, c2, 4.0);
	in.items = rev;
	check_both(&in, cr, 4.0);
	in.n = 3;
	in.items = three;
	check_both(&in, c3, 10.0);
}

static void test_release_dominates(void **state)
{
	/* The late release keeps the second item apart: C = (1, 11). */
	struct lp_item items[2] = { item_make(1, 1, 0, 1), item_make(1, 1, 10, 1) };
	struct lp_input in = { .n = 2, .items = items, .machines = 1 };
	double want[2] = { 1, 11 };

	(void)state;
	check_both(&in, want, 12.0);
}

static void test_exact_rejects_chains(void **state)
{
	struct lp_item items[2] = { item_make(1, 1, 0, 1), item_make(1, 1, 0, 1) };
	struct lp_input in = { .n = 2, .items = items, .machines = 1 };
	double c[2], obj;

	(void)state;
	items[1].prev = 0;
	assert_int_equal(lp_solve_exact(&in, c, &obj), ERR_LP_UNSUPPORTED);
}

static void test_empty(void **state)
{
	struct lp_input in = { .n = 0, .items = NULL, .machines = 2 };
	struct lp_stats st;
	double obj = -1;

	(void)state;
	assert_int_equal(lp_solve_exact(&in, NULL, &obj), 0);
	assert_true(obj == 0.0);
	obj = -1;
	assert_int_equal(lp_solve_glpk(&in, NULL, NULL, &obj, &st), 0);
	assert_true(obj == 0.0);
	assert_int_equal(st.cuts, 0);
	assert_true(lp_separate(&in, NULL, NULL, NULL) == 0.0);
}

static void test_separate_hand(void **state)
{
	/* m = 1, W = 1, span 0: {0,1} at C = 0.5 has lhs 1, rhs 2. */
	struct lp_item items[3] = { item_make(1, 0, 0, 1), item_make(1, 0, 0, 1),
				    item_make(1, 0, 0, 1) };
	struct lp_input in = { .n = 2, .items = items, .machines = 1 };
	double c[3] = { 0.5, 0.5, 10 };
	uint32_t order[3];
	size_t len = 99;

	(void)state;
	assert_rel_close(lp_separate(&in, c, order, &len), 0.5, 1e-15);
	assert_int_equal(len, 2);
	assert_true((order[0] == 0 && order[1] == 1) || (order[0] == 1 && order[1] == 0));
	/* A third, late item: still the tie group {0,1}; order puts it last. */
	in.n = 3;
	assert_rel_close(lp_separate(&in, c, order, &len), 0.5, 1e-15);
	assert_int_equal(len, 2);
	assert_int_equal(order[2], 2);
	/* A point with slack in every row. */
	c[1] = 1.6;
	c[2] = 2.7;
	assert_true(lp_separate(&in, c, NULL, &len) == 0.0);
	assert_int_equal(len, 0);
	/* Ties: only the whole group {1,2} at M = 1 is violated (by 0.2). */
	c[0] = 10;
	c[1] = 1;
	c[2] = 1;
	in.machines = 0.8;
	assert_rel_close(lp_separate(&in, c, order, &len), 0.2, 1e-15);
	assert_int_equal(len, 2);
	assert_int_equal(order[2], 0);
}

/* A random chain-free instance with ties in weight/work and zero weights. */
static void random_flat(struct lp_item *items, size_t n, double *machines)
{
	static const double ratios[3] = { 0.5, 1.0, 3.0 };
	double tscale = pow(10.0, 4.0 * rng_uniform() - 1.0);

	*machines = 0.5 + 20.0 * rng_uniform() * rng_uniform();
	for (size_t i = 0; i < n; i++) {
		double w = tscale * pow(100.0, rng_uniform());
		double span = rng_below(5) == 0 ? 0.0 : w / (double)(1 + rng_below(8));
		double rel = rng_below(2) ? 0.0 : tscale * 10.0 * rng_uniform();
		double wt;

		switch (rng_below(4)) {
		case 0: wt = 0.0; break;
		case 1: wt = ratios[rng_below(3)] * w / tscale; break;
		default: wt = 1.0 + (double)rng_below(4); break;
		}
		items[i] = item_make(w, span, rel, wt);
	}
}

/* The rows are measured from the earliest release (lp_origin): released
 * later by T, every completion is later by T. Two jobs released at 1000 on
 * one machine are in WSPT order (weight 8 and work 2 first), as at 0; with
 * the parallel rows measured from 0 they were slack, and the order went by
 * span (the shorter first). */
static void test_translation(void **state)
{
	struct lp_item two[2] = { item_make(2, 2, 1000, 8), item_make(1, 1, 1000, 1) };
	struct lp_input in = { .n = 2, .items = two, .machines = 1 };
	double want[2] = { 1002, 1003 };
	struct lp_item items[40], moved[40];
	double c[40], cm[40], obj, objm;
	struct lp_stats st;

	(void)state;
	check_both(&in, want, 8 * 1002 + 1003);
	rng_state = 0x5eed5eed5eed5eedULL;
	for (int t = 0; t < 100; t++) {
		struct lp_input a = { .n = 1 + rng_below(40), .items = items };
		struct lp_input b;
		double shift = pow(10.0, 7.0 * rng_uniform());

		random_flat(items, a.n, &a.machines);
		b = a;
		b.items = moved;
		for (size_t i = 0; i < a.n; i++) {
			moved[i] = items[i];
			moved[i].release_s += shift;
		}
		assert_int_equal(lp_solve_exact(&a, c, &obj), 0);
		assert_int_equal(lp_solve_exact(&b, cm, &objm), 0);
		for (size_t i = 0; i < a.n; i++)
			assert_true(fabs(cm[i] - shift - c[i]) <= 1e-9 * (cm[i] + 1.0));
		assert_true(lp_separate(&b, cm, NULL, NULL) <= 1e-9);
		if (t % 10 == 0) {
			/* GLPK's optimum (the objective; its C may be another) */
			long double wsum = 0.0L;

			for (size_t i = 0; i < a.n; i++)
				wsum += a.items[i].weight;
			assert_int_equal(lp_solve_glpk(&b, NULL, cm, &objm, &st), 0);
			assert_true(fabs(objm - (double)(shift * wsum) - obj) <= 1e-6 * (objm + 1.0));
		}
	}
}

static void test_exact_vs_glpk_random(void **state)
{
	struct lp_item items[40];
	double ce[40], cg[40], oe, og;
	struct lp_stats st;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int t = 0; t < 250; t++) {
		struct lp_input in = { .n = 1 + rng_below(40), .items = items };

		random_flat(items, in.n, &in.machines);
		assert_int_equal(lp_solve_exact(&in, ce, &oe), 0);
		assert_true(lp_separate(&in, ce, NULL, NULL) <= 1e-9);
		assert_true(rows_violation(&in, ce) <= 1e-12);
		assert_int_equal(lp_solve_glpk(&in, NULL, cg, &og, &st), 0);
		assert_true(st.max_violation <= 1e-9);
		assert_true(lp_separate(&in, cg, NULL, NULL) <= 1e-9);
		assert_true(rows_violation(&in, cg) <= 1e-12);
		if (oe == 0.0)
			assert_true(og == 0.0);
		else
			assert_rel_close(oe, og, 1e-6);
	}
}

/*
 * A random instance of `jobs` jobs of 2..4 chained groups, with the job's
 * weight on its last group. Also builds the merged instance (one item per
 * job) whose LP is a relaxation of the chained one: W = sum W_g, span' =
 * 2 sum_g W_g (D_after(g) + s_g/2) / W, release' = r + D - span', with D
 * the job's chain length and D_after(g) the part of it after group g. Any
 * chained solution, read at the last groups, is feasible for the merged LP
 * with the same objective, so the chained optimum is >= the merged one.
 */
static size_t random_chains(struct lp_item *items, struct lp_item *merged, size_t jobs)
{
	size_t n = 0;

	for (size_t j = 0; j < jobs; j++) {
		size_t groups = 2 + rng_below(3), first = n;
		double tasks = (double)(1 + rng_below(8)), d = 0.0, wsum = 0.0, acc = 0.0;
		double weight = rng_below(5) ? 1.0 + (double)rng_below(3) : 0.0;

		for (size_t g = 0; g < groups; g++, n++) {
			double w = pow(50.0, rng_uniform());

			items[n] = item_make(w, w / tasks, 0.0, g + 1 == groups ? weight : 0.0);
			if (g > 0) {
				items[n].prev = (int32_t)(n - 1);
				items[n].gap_s = 0.1 * rng_uniform();
			}
			d += items[n].gap_s + items[n].span_s;
			wsum += w;
		}
		items[first].release_s = d * (1.0 + rng_uniform());
		for (size_t g = first; g < n; g++) {
			double d_after = 0.0;

			for (size_t h = g + 1; h < n; h++)
				d_after += items[h].gap_s + items[h].span_s;
			acc += items[g].work * (d_after + items[g].span_s / 2.0);
		}
		merged[j] = item_make(wsum, 2.0 * acc / wsum, 0.0, weight);
		merged[j].release_s = items[first].release_s + d - merged[j].span_s;
	}
	return n;
}

static void test_glpk_chains(void **state)
{
	struct lp_item items[MAX_ITEMS], merged[40];
	double c[MAX_ITEMS], cm[40], obj, objm;
	struct lp_stats st;

	(void)state;
	rng_state = 0x1234567887654321ULL;
	for (int t = 0; t < 60; t++) {
		size_t jobs = 1 + rng_below(30);
		struct lp_input in = { .items = items, .machines = 0.5 + 6.0 * rng_uniform() };
		struct lp_input min = { .n = jobs, .items = merged, .machines = in.machines };

		in.n = random_chains(items, merged, jobs);
		/* the same origin for both (lp_origin): the merged groups'
		 * releases are later than the chains' first ones */
		items[in.n++] = item_make(1.0, 0.0, 0.0, 0.0);
		merged[min.n++] = item_make(1.0, 0.0, 0.0, 0.0);
		assert_int_equal(lp_solve_glpk(&in, NULL, c, &obj, &st), 0);
		assert_true(st.max_violation <= 1e-9);
		assert_true(lp_separate(&in, c, NULL, NULL) <= 1e-9);
		assert_true(rows_violation(&in, c) <= 1e-12);
		assert_int_equal(lp_solve_exact(&min, cm, &objm), 0);
		assert_true(obj >= objm * (1.0 - 1e-7));
	}
}

static void test_glpk_chains_all_weights(void **state)
{
	struct lp_item items[MAX_ITEMS], merged[40];
	double c[MAX_ITEMS], c2[MAX_ITEMS], obj, obj2;
	struct lp_options opt;
	struct lp_stats st;

	(void)state;
	rng_state = 0x0ddba11cafef00dULL;
	lp_options_default(&opt);
	for (int t = 0; t < 30; t++) {
		struct lp_input in = { .items = items, .machines = 0.5 + 4.0 * rng_uniform() };

		in.n = random_chains(items, merged, 1 + rng_below(40));
		for (size_t i = 0; i < in.n; i++)
			items[i].weight = rng_below(3) ? rng_uniform() : 0.0;
		opt.cuts_per_round = 32;
		assert_int_equal(lp_solve_glpk(&in, &opt, c, &obj, &st), 0);
		assert_true(lp_separate(&in, c, NULL, NULL) <= 1e-9);
		assert_true(rows_violation(&in, c) <= 1e-12);
		/* Another cut schedule reaches the same optimum. */
		opt.cuts_per_round = 3;
		assert_int_equal(lp_solve_glpk(&in, &opt, c2, &obj2, &st), 0);
		assert_rel_close(obj, obj2, 1e-6);
	}
}

static void test_glpk_budget(void **state)
{
	struct lp_item items[MAX_ITEMS], merged[40];
	double c[MAX_ITEMS], full;
	struct lp_input in = { .items = items, .machines = 1.0 };
	struct lp_options opt;
	struct lp_stats st;
	double obj;

	(void)state;
	rng_state = 0xfeedfacecafebeefULL;
	in.n = random_chains(items, merged, 40);
	assert_int_equal(lp_solve_glpk(&in, NULL, c, &full, &st), 0);
	assert_true(st.rounds > 1);
	lp_options_default(&opt);
	opt.max_rounds = 1;
	opt.cuts_per_round = 1;
	assert_int_equal(lp_solve_glpk(&in, &opt, c, &obj, &st), ERR_LP_TIMEOUT);
	assert_int_equal(st.rounds, 1);
	assert_true(st.max_violation > 1e-9);
	/* A relaxation's optimum: release and chain rows hold, and the
	 * objective is a lower bound on the LP's. */
	assert_true(rows_violation(&in, c) <= 1e-12);
	assert_true(obj <= full * (1.0 + 1e-9));
	opt.max_rounds = 0;
	opt.time_limit_ms = 1e-3;
	assert_int_equal(lp_solve_glpk(&in, &opt, c, &obj, &st), ERR_LP_TIMEOUT);
	assert_true(rows_violation(&in, c) <= 1e-12);
	assert_true(obj <= full * (1.0 + 1e-9));
}

/* Without chains the rows tight at the exact optimum seed the LP, so one
 * round certifies it when that optimum is unique (positive weights, no ties
 * in weight / work). */
static void test_glpk_flat_one_round(void **state)
{
	struct lp_item items[MAX_ITEMS];
	double ce[MAX_ITEMS], cg[MAX_ITEMS], oe, og;
	struct lp_input in = { .n = MAX_ITEMS, .items = items };
	struct lp_options opt;
	struct lp_stats st;

	(void)state;
	rng_state = 0xfeedfacecafebeefULL;
	random_flat(items, in.n, &in.machines);
	in.machines = 2.0;
	for (size_t i = 0; i < in.n; i++)
		items[i].weight = 1.0 + rng_uniform();
	assert_int_equal(lp_solve_exact(&in, ce, &oe), 0);
	lp_options_default(&opt);
	opt.max_rounds = 1;
	assert_int_equal(lp_solve_glpk(&in, &opt, cg, &og, &st), 0);
	assert_true(st.rounds <= 1);
	assert_true(st.max_violation <= 1e-9);
	assert_rel_close(oe, og, 1e-6);
}

static void test_zero_weights(void **state)
{
	struct lp_item items[5];
	struct lp_input in = { .n = 5, .items = items, .machines = 1.5 };
	double c[5], obj;

	(void)state;
	for (size_t i = 0; i < 5; i++)
		items[i] = item_make(1.0 + (double)i, 0.5, (double)(i % 2), i == 2 ? 1.0 : 0.0);
	assert_int_equal(lp_solve_exact(&in, c, &obj), 0);
	for (size_t i = 0; i < 5; i++)
		assert_true(isfinite(c[i]));
	assert_true(lp_separate(&in, c, NULL, NULL) <= 1e-12);
	assert_true(rows_violation(&in, c) <= 1e-12);
	/* The weighted item goes first: alone, W^2/(2m) = 3 gives C = 1 + 0.25. */
	assert_rel_close(obj, 3.0 / 3.0 + 0.25, 1e-12);
}

/* The general LP: a hand-solved 2-variable problem, then bad inputs. */
static void test_general_lp(void **state)
{
	/* max x + y s.t. x + 2y <= 4, 3x + y <= 6, x, y >= 0: (1.6, 1.2), 2.8. */
	double obj[2] = { 1, 1 }, clo[2] = { 0, 0 }, chi[2] = { INFINITY, INFINITY };
	double rlo[2] = { -INFINITY, -INFINITY }, rhi[2] = { 4, 6 }, ar[4] = { 1, 2, 3, 1 };
	int ia[4] = { 0, 0, 1, 1 }, ja[4] = { 0, 1, 0, 1 };
	struct lp_general lp = { .nrows = 2, .ncols = 2, .maximise = true, .obj = obj, .col_lo = clo,
				 .col_hi = chi, .row_lo = rlo, .row_hi = rhi, .nnz = 4, .ia = ia,
				 .ja = ja, .ar = ar };
	double x[2], v;

	(void)state;
	assert_int_equal(lp_general_solve(&lp, x, &v), 0);
	assert_true(fabs(x[0] - 1.6) < 1e-9 && fabs(x[1] - 1.2) < 1e-9 && fabs(v - 2.8) < 1e-9);
	/* x + 2y >= 5 as well as 3x + y <= 6 and x + 2y <= 4: infeasible. */
	rlo[0] = 5;
	assert_int_equal(lp_general_solve(&lp, x, &v), -EINVAL);	/* lo > hi */
	rlo[0] = 4.5, rhi[0] = INFINITY, rhi[1] = 1, clo[0] = 0, chi[0] = 0.1, chi[1] = 0.1;
	assert_int_equal(lp_general_solve(&lp, x, &v), ERR_LP_INFEASIBLE);
	/* A repeated (row, column) entry would make GLPK abort: refused. */
	ja[1] = 0;
	assert_int_equal(lp_general_solve(&lp, x, &v), -EINVAL);
	ja[1] = 1;
	ia[3] = 2;	/* row out of range */
	assert_int_equal(lp_general_solve(&lp, x, &v), -EINVAL);
}

/* The lexicographic second stage: max z with z <= x, x <= 1, y <= 1 has
 * optimum z = 1 whatever y is; the second stage (max x + y with z kept
 * within 1e-6 of 1) must push y to 1, and report the first optimum. */
static void test_general_lp_second_stage(void **state)
{
	/* columns x, y, z; row: z - x <= 0 */
	double obj[3] = { 0, 0, 1 }, obj2[3] = { 1, 1, 0 }, clo[3] = { 0, 0, 0 };
	double chi[3] = { 1, 1, INFINITY }, rlo[1] = { -INFINITY }, rhi[1] = { 0 }, ar[2] = { 1, -1 };
	int ia[2] = { 0, 0 }, ja[2] = { 2, 0 };
	struct lp_general lp = { .nrows = 1, .ncols = 3, .maximise = true, .obj = obj, .col_lo = clo,
				 .col_hi = chi, .row_lo = rlo, .row_hi = rhi, .nnz = 2, .ia = ia,
				 .ja = ja, .ar = ar, .obj2 = obj2, .keep_col = 2, .keep_slack = 1e-6 };
	double x[3], v;

	(void)state;
	assert_int_equal(lp_general_solve(&lp, x, &v), 0);
	assert_true(fabs(v - 1) < 1e-9);
	assert_true(x[2] >= 1 - 1e-6 - 1e-9 && x[2] <= 1 + 1e-9);
	assert_true(fabs(x[0] - 1) < 1e-9 && fabs(x[1] - 1) < 1e-9);
	/* Minimising -z is the same problem: z must still be kept near 1. */
	lp.maximise = false;
	obj[2] = -1, obj2[0] = -1, obj2[1] = -1;
	assert_int_equal(lp_general_solve(&lp, x, &v), 0);
	assert_true(fabs(v + 1) < 1e-9 && fabs(x[1] - 1) < 1e-9);
	assert_true(x[2] >= 1 - 1e-6 - 1e-9);
	/* The second stage pulls against the first (min x - y): z holds x up. */
	obj2[0] = 1, obj2[1] = -1;
	assert_int_equal(lp_general_solve(&lp, x, &v), 0);
	assert_true(x[0] >= 1 - 1e-6 - 1e-9 && x[2] >= 1 - 1e-6 - 1e-9 && fabs(x[1] - 1) < 1e-9);
	lp.keep_col = 3;	/* out of range */
	assert_int_equal(lp_general_solve(&lp, x, &v), -EINVAL);
	lp.keep_col = 2, obj2[1] = NAN;
	assert_int_equal(lp_general_solve(&lp, x, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_default),
		cmocka_unit_test(test_input_check),
		cmocka_unit_test(test_one_item),
		cmocka_unit_test(test_single_machine_wspt),
		cmocka_unit_test(test_release_dominates),
		cmocka_unit_test(test_exact_rejects_chains),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_separate_hand),
		cmocka_unit_test(test_zero_weights),
		cmocka_unit_test(test_translation),
		cmocka_unit_test(test_exact_vs_glpk_random),
		cmocka_unit_test(test_glpk_chains),
		cmocka_unit_test(test_glpk_chains_all_weights),
		cmocka_unit_test(test_glpk_budget),
		cmocka_unit_test(test_glpk_flat_one_round),
		cmocka_unit_test(test_general_lp),
		cmocka_unit_test(test_general_lp_second_stage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
