/* SPDX-License-Identifier: MIT */
/* Unit tests for solver/plan.c: sync interpolation, task split, round time,
 * plan storage and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#include "sched.h"
#include "sched_fixture.h"

static void test_sync_interp(void **state)
{
	struct sched_perf p = { 0 };

	(void)state;
	for (int i = 0; i < SCHED_SYNC_POINTS; i++) {
		p.sync_s[i][0] = i;	/* 1 GPU: 0, 2: 1, 4: 2, 8: 3 */
		p.sync_s[i][1] = 10 * i;
	}
	assert_true(sched_sync_time(&p, 1, false) == 0);
	assert_true(sched_sync_time(&p, 2, false) == 1);
	assert_true(sched_sync_time(&p, 8, true) == 30);
	assert_true(fabs(sched_sync_time(&p, 3, false) - log2(3.0)) < 1e-12);
	assert_true(sched_sync_time(&p, 100000, false) == SCHED_SYNC_POINTS - 1);
}

static void test_split_and_round(void **state)
{
	struct sched_cluster c;
	struct sched_gpu gpus[4];
	struct sched_job j;
	uint32_t per[2] = { 2, 2 }, ids[4] = { 0, 1, 2, 3 };
	uint16_t types[2] = { 0, 1 }, tasks[4];
	double compute[2] = { 1.0, 3.0 };

	(void)state;
	fx_cluster(&c, gpus, 2, per, types, 2);
	fx_job(&j, 1, 1, 8, 10, compute, 2, 0.5);
	/* 2 fast (1 s) + 2 slow (3 s) GPUs, 8 tasks: fast ones take 3 each, slow 1 each. */
	sched_split_tasks(&c, &j, ids, 4, tasks);
	assert_int_equal(tasks[0] + tasks[1] + tasks[2] + tasks[3], 8);
	assert_int_equal(tasks[0], 3);
	assert_int_equal(tasks[1], 3);
	assert_int_equal(tasks[2], 1);
	assert_int_equal(tasks[3], 1);
	/* busiest: 3 s on fast GPUs; spread over 2 nodes: sync 2 * 0.5 */
	assert_true(fabs(sched_round_time(&c, &j, ids, tasks, 4) - (3.0 + 1.0)) < 1e-12);
	/* On the fast node only: 4 tasks each, consolidated sync 0.5. */
	sched_split_tasks(&c, &j, ids, 2, tasks);
	assert_true(fabs(sched_round_time(&c, &j, ids, tasks, 2) - 4.5) < 1e-12);
	/* min_gpus caps tasks per GPU: ceil(8/4) = 2 each. */
	j.min_gpus = 4;
	sched_split_tasks(&c, &j, ids, 4, tasks);
	assert_int_equal(tasks[0], 2);
	assert_int_equal(tasks[3], 2);
	/* 5 tasks, min_gpus 4 (cap 2): the fast GPUs alone would take 4 and
	 * one slow GPU the fifth, 3 GPUs; the last tasks go to GPUs without
	 * one, so all 4 get work */
	j.tasks = 5;
	compute[1] = 10.0;
	fx_job(&j, 1, 1, 5, 10, compute, 2, 0.5);
	j.min_gpus = 4;
	sched_split_tasks(&c, &j, ids, 4, tasks);
	assert_int_equal(tasks[0], 2);
	assert_int_equal(tasks[1], 1);
	assert_int_equal(tasks[2], 1);
	assert_int_equal(tasks[3], 1);
}

/* Every policy's plan for a job whose min_gpus does not divide its tasks,
 * on a mix of types where no type alone has min_gpus free GPUs, uses at
 * least min_gpus GPUs (sched_plan_check), and its round time is the one
 * of the GPUs it places. */
static void test_min_gpus_mixed(void **state)
{
	struct sched_cluster c;
	struct sched_gpu g[4];
	struct sched_job j;
	uint32_t per[2] = { 2, 2 };
	uint16_t ty[2] = { 0, 1 };
	double comp[2] = { 1.0, 10.0 };
	const char *const *names = sched_policy_names();

	(void)state;
	fx_cluster(&c, g, 2, per, ty, 2);
	fx_job(&j, 1, 1.0, 5, 100, comp, 2, 0.1);
	j.min_gpus = j.max_gpus = 4;
	for (size_t p = 0; names[p]; p++) {
		struct sched_snapshot s = { .now_s = 0, .cluster = &c, .njobs = 1, .jobs = &j };
		struct sched_policy *pol = NULL;
		struct sched_plan plan;
		const struct sched_assign *a;
		char why[256] = "";
		uint32_t used = 0;

		sched_plan_init(&plan);
		assert_int_equal(sched_policy_new(names[p], NULL, &pol), 0);
		assert_int_equal(sched_policy_plan(pol, &s, &plan), 0);
		if (sched_plan_check(&s, &plan, why, sizeof(why)) != 0)
			fail_msg("policy %s: %s", names[p], why);
		a = &plan.assigns[0];
		for (uint32_t i = 0; i < a->ngpus; i++)
			used += plan.tasks[a->first + i] > 0;
		assert_true(used == 0 || used == 4);
		if (used)
			assert_true(fabs(a->round_s - sched_round_time(&c, &j, plan.gpus + a->first,
								       plan.tasks + a->first,
								       a->ngpus)) < 1e-9);
		sched_plan_destroy(&plan);
		sched_policy_free(pol);
	}
}

static void test_plan_check(void **state)
{
	struct sched_cluster c;
	struct sched_gpu gpus[4];
	struct sched_job jobs[2];
	struct sched_plan plan;
	struct sched_snapshot snap = { .cluster = &c, .njobs = 2, .jobs = jobs };
	uint32_t per[1] = { 4 }, g01[2] = { 0, 1 }, g12[2] = { 1, 2 };
	uint16_t types[1] = { 0 }, t11[2] = { 1, 1 };
	double compute[1] = { 1 };
	char err[256];

	(void)state;
	fx_cluster(&c, gpus, 1, per, types, 1);
	fx_job(&jobs[0], 1, 1, 2, 5, compute, 1, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 5, compute, 1, 0.1);
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 0, g01, t11, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 1, g12, t11, 2), 0);
	plan.assigns[0].run_now = true;
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	plan.assigns[1].run_now = true;
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gpu 1 given to two jobs"));
	plan.assigns[1].run_now = false;
	gpus[1].up = false;
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "down"));
	gpus[1].up = true;
	jobs[0].tasks = 3;
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "2 tasks placed, job has 3"));
	sched_plan_destroy(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_interp),
		cmocka_unit_test(test_split_and_round),
		cmocka_unit_test(test_min_gpus_mixed),
		cmocka_unit_test(test_plan_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
