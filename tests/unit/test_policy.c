/* SPDX-License-Identifier: MIT */
/* Unit tests for the policies (solver/policy*.c): registry, valid plans on
 * random snapshots (including re-plans with running jobs), and each
 * policy's defining choice on a hand-checked case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "sched.h"
#include "sched_fixture.h"

static void test_registry(void **state)
{
	const char *const *names = sched_policy_names();
	struct sched_policy *p;
	int n = 0;

	(void)state;
	for (; names[n]; n++) {
		assert_int_equal(sched_policy_new(names[n], NULL, &p), 0);
		assert_string_equal(sched_policy_name(p), names[n]);
		sched_policy_free(p);
	}
	assert_true(n >= 4);
	assert_int_equal(sched_policy_new("nope", NULL, &p), ERR_UNKNOWN_POLICY);
	assert_null(p);
}

/* One plan of `name` on a single GPU of each of 2 types for two jobs. */
static void plan_two(const char *name, struct sched_job *jobs, struct sched_plan *plan,
		     uint32_t ngpu_per_node)
{
	static struct sched_cluster c;
	static struct sched_gpu gpus[16];
	uint32_t per[2] = { ngpu_per_node, ngpu_per_node };
	uint16_t types[2] = { 0, 1 };
	struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	char err[256];

	fx_cluster(&c, gpus, 2, per, types, 2);
	assert_int_equal(sched_policy_new(name, NULL, &p), 0);
	assert_int_equal(sched_policy_plan(p, &snap, plan), 0);
	assert_int_equal(sched_plan_check(&snap, plan, err, sizeof(err)), 0);
	sched_policy_free(p);
}

static void test_hare_weight_and_type(void **state)
{
	/* Job 1 gains 10x on type 0, job 2 only 1.1x; weights equal. */
	double c1[2] = { 1.0, 10.0 }, c2[2] = { 1.0, 1.1 };
	struct sched_job jobs[2];
	struct sched_plan plan;

	(void)state;
	sched_plan_init(&plan);
	fx_job(&jobs[0], 1, 1, 1, 100, c1, 2, 0);
	fx_job(&jobs[1], 2, 1, 1, 100, c2, 2, 0);
	plan_two("hare", jobs, &plan, 1);
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	assert_int_equal(plan.gpus[plan.assigns[0].first], 0);	/* fast GPU to the job that gains */
	assert_int_equal(plan.gpus[plan.assigns[1].first], 1);
	assert_int_equal(plan.lp_path, SCHED_LP_EXACT);
	assert_true(plan.lp_bound > 0);
	/* Same jobs, weight 8 on the second: it now goes first in the order. */
	jobs[1].weight = 8;
	plan_two("hare", jobs, &plan, 1);
	assert_int_equal(plan.assigns[1].rank, 0);
	sched_plan_destroy(&plan);
}

/* A job that may use fewer GPUs than it has tasks runs its rounds' tasks
 * back to back: the LP's span counts them (8 tasks on at most 1 GPU: 8x the
 * one-task round), so it no longer looks shorter than a job of half its
 * real length. 8 GPUs, the parallel rows slack: the order is the spans'. */
static void test_hare_span_width_cap(void **state)
{
	double c[2] = { 1.0, 1.0 };
	struct sched_job jobs[2];
	struct sched_plan plan;

	(void)state;
	sched_plan_init(&plan);
	fx_job(&jobs[0], 1, 1, 8, 100, c, 2, 0);
	jobs[0].max_gpus = 1;
	fx_job(&jobs[1], 2, 1, 1, 400, c, 2, 0);
	plan_two("hare", jobs, &plan, 4);
	assert_int_equal(plan.lp_path, SCHED_LP_EXACT);
	assert_true(fabs(plan.assigns[0].lp_completion_s - 800) < 1e-6);
	assert_true(fabs(plan.assigns[1].lp_completion_s - 400) < 1e-6);
	assert_int_equal(plan.assigns[1].rank, 0);
	assert_int_equal(plan.assigns[0].rank, 1);
	/* Allowed all 8 GPUs it is the shorter one again. */
	jobs[0].max_gpus = 8;
	plan_two("hare", jobs, &plan, 4);
	assert_true(fabs(plan.assigns[0].lp_completion_s - 100) < 1e-6);
	assert_int_equal(plan.assigns[0].rank, 0);
	sched_plan_destroy(&plan);
}

/* hare-smith: Smith's order (work over weight), hare's LP still solved for
 * its bound and completion times. On 8 GPUs the LP's rows are slack, so
 * hare goes by span (job 1, 100 s, first); Smith's rule puts job 2 (400
 * s of work, weight 8: 50 per unit of weight, against 100) first. */
static void test_hare_smith_order(void **state)
{
	double c[2] = { 1.0, 1.0 };
	struct sched_job jobs[2];
	struct sched_plan plan;
	double lp[2], bound;

	(void)state;
	sched_plan_init(&plan);
	fx_job(&jobs[0], 1, 1, 1, 100, c, 2, 0);
	fx_job(&jobs[1], 2, 8, 1, 400, c, 2, 0);
	plan_two("hare", jobs, &plan, 4);
	assert_int_equal(plan.assigns[0].rank, 0);
	lp[0] = plan.assigns[0].lp_completion_s;
	lp[1] = plan.assigns[1].lp_completion_s;
	bound = plan.lp_bound;
	plan_two("hare-smith", jobs, &plan, 4);
	assert_int_equal(plan.assigns[1].rank, 0);
	assert_int_equal(plan.assigns[0].rank, 1);
	assert_int_equal(plan.lp_path, SCHED_LP_EXACT);
	assert_true(fabs(plan.assigns[0].lp_completion_s - lp[0]) < 1e-9);
	assert_true(fabs(plan.assigns[1].lp_completion_s - lp[1]) < 1e-9);
	assert_true(fabs(plan.lp_bound - bound) < 1e-9);
	sched_plan_destroy(&plan);
}

static void test_fifo_and_srtf_order(void **state)
{
	double c[2] = { 1.0, 1.0 };
	struct sched_job jobs[2];
	struct sched_plan plan;

	(void)state;
	sched_plan_init(&plan);
	fx_job(&jobs[0], 1, 1, 1, 1000, c, 2, 0);	/* long, first */
	fx_job(&jobs[1], 2, 1, 1, 10, c, 2, 0);	/* short, second */
	jobs[1].arrival_s = 5;
	plan_two("fifo", jobs, &plan, 1);
	assert_int_equal(plan.assigns[0].rank, 0);
	plan_two("srtf", jobs, &plan, 1);
	assert_int_equal(plan.assigns[1].rank, 0);
	plan_two("optimus", jobs, &plan, 1);
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	sched_plan_destroy(&plan);
}

/* Random snapshots, re-planned after running the first plan's leases: every
 * policy's plans must pass sched_plan_check. */
static void test_random_replans_valid(void **state)
{
	const char *const *names = sched_policy_names();
	struct sched_cluster c;
	struct sched_gpu gpus[40];
	uint32_t per[6] = { 8, 8, 4, 4, 8, 8 };
	uint16_t types[6] = { 0, 1, 2, 3, 0, 2 };
	struct sched_job jobs[30];
	uint32_t held[30][8];
	uint16_t held_tasks[30][8];
	struct sched_plan plan;
	char err[256];

	(void)state;
	srand(7);
	fx_cluster(&c, gpus, 6, per, types, 4);
	sched_plan_init(&plan);
	for (int iter = 0; iter < 40; iter++) {
		uint32_t n = 1 + rand() % 30;
		struct sched_snapshot snap = { .now_s = iter * 10.0, .cluster = &c, .njobs = n, .jobs = jobs };

		for (uint32_t i = 0; i < n; i++) {
			double comp[4];
			uint32_t k = 1u << (rand() % 4);

			for (int t = 0; t < 4; t++)
				comp[t] = (rand() % 10 == 0) ? 0 : 0.1 + (rand() % 100) / 50.0;
			comp[0] = 0.1;
			fx_job(&jobs[i], i + 1, 1 << (rand() % 4), k, 1 + rand() % 1000, comp, 4, 0.05);
			jobs[i].arrival_s = rand() % 100;
		}
		for (const char *const *nm = names; *nm; nm++) {
			struct sched_policy *p;

			assert_int_equal(sched_policy_new(*nm, NULL, &p), 0);
			for (int round = 0; round < 2; round++) {
				assert_int_equal(sched_policy_plan(p, &snap, &plan), 0);
				if (sched_plan_check(&snap, &plan, err, sizeof(err)))
					fail_msg("%s iter %d round %d: %s", *nm, iter, round, err);
				/* Run the plan: jobs with run_now hold those GPUs. */
				for (uint32_t i = 0; i < n; i++) {
					const struct sched_assign *a = &plan.assigns[i];

					jobs[i].nheld = a->run_now ? a->ngpus : 0;
					for (uint32_t g = 0; g < jobs[i].nheld; g++) {
						held[i][g] = plan.gpus[a->first + g];
						held_tasks[i][g] = plan.tasks[a->first + g];
					}
					jobs[i].held_gpus = held[i];
					jobs[i].held_tasks = held_tasks[i];
					if (a->run_now)
						jobs[i].first_start_s = snap.now_s;
				}
			}
			sched_policy_free(p);
			for (uint32_t i = 0; i < n; i++)
				jobs[i].nheld = 0;
		}
	}
	sched_plan_destroy(&plan);
}

/* A plan of the 8 jobs of test_hare_fallback_order by path: the first 6
 * in their earlier ranks, then the heavy new job, then the light one. */
static void fallback_check(struct sched_policy *p, const struct sched_snapshot *s,
			   struct sched_plan *plan, enum sched_lp_path path, const uint32_t *rank1)
{
	assert_int_equal(sched_policy_plan(p, s, plan), 0);
	assert_int_equal(plan->lp_path, path);
	for (int i = 0; i < 6; i++)
		assert_int_equal(plan->assigns[i].rank, rank1[i]);
	assert_int_equal(plan->assigns[7].rank, 6);
	assert_int_equal(plan->assigns[6].rank, 7);
}

/* When the LP cannot be had (its budget spent), hare keeps its previous
 * order and puts new jobs after it, by Smith's rule, however small their
 * keys; with no GPU up (no LP at all) the order is the previous one too. */
static void test_hare_fallback_order(void **state)
{
	struct sched_cluster c;
	struct sched_gpu g[1];
	uint32_t per[1] = { 1 };
	uint16_t ty[1] = { 0 };
	struct sched_job j[8];
	double comp[1] = { 0.05 };
	struct sched_options o;
	struct sched_policy *p = NULL;
	struct sched_plan plan;
	struct sched_snapshot s = { .now_s = 0, .cluster = &c, .njobs = 6, .jobs = j };
	uint32_t rank1[6];

	(void)state;
	fx_cluster(&c, g, 1, per, ty, 1);
	for (int i = 0; i < 8; i++)
		fx_job(&j[i], 100 + (uint32_t)i, 1.0 + i, 1, 10, comp, 1, 0.0);
	sched_options_default(&o);
	o.lp_solver = SCHED_LP_GLPK;
	o.lp_budget_ms = 1e-6;	/* spent before GLPK starts */
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("hare", &o, &p), 0);
	assert_int_equal(sched_policy_plan(p, &s, &plan), 0);
	assert_int_equal(plan.lp_path, SCHED_LP_WSPT);
	for (int i = 0; i < 6; i++) {
		rank1[i] = plan.assigns[i].rank;
		assert_int_equal(rank1[i], 5 - i);	/* heavier first */
	}
	/* two new jobs: a light one and one heavier than all (the smallest key) */
	j[6].weight = 0.5;
	j[7].weight = 100;
	s.njobs = 8;
	fallback_check(p, &s, &plan, SCHED_LP_PREVIOUS, rank1);
	/* the GPU goes down: no LP; the order stays */
	g[0].up = false;
	fallback_check(p, &s, &plan, SCHED_LP_NONE, rank1);
	fallback_check(p, &s, &plan, SCHED_LP_NONE, rank1);
	sched_plan_destroy(&plan);
	sched_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_hare_weight_and_type),
		cmocka_unit_test(test_hare_span_width_cap),
		cmocka_unit_test(test_hare_smith_order),
		cmocka_unit_test(test_fifo_and_srtf_order),
		cmocka_unit_test(test_random_replans_valid),
		cmocka_unit_test(test_hare_fallback_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
