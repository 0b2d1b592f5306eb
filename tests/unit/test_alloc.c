/* SPDX-License-Identifier: MIT */
/* Unit tests for solver/alloc.c: Optimus marginal-gain widths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "alloc.h"
#include "sched_fixture.h"
#include "speed.h"

static struct sched_cluster c;
static struct sched_gpu gpus[8];

static int setup(void **state)
{
	uint32_t per[1] = { 8 };
	uint16_t types[1] = { 0 };

	(void)state;
	fx_cluster(&c, gpus, 1, per, types, 1);
	return 0;
}

static void test_gain_stops_when_sync_dominates(void **state)
{
	double compute[1] = { 1.0 };
	struct sched_job jobs[1];
	struct sched_snapshot snap = { .cluster = &c, .njobs = 1, .jobs = jobs };
	struct alloc_opts ao = { .weighted = false };
	uint32_t order[1] = { 0 }, width[1];

	(void)state;
	/* 4 tasks: 1 GPU 4 s; 2 GPUs 2 + 0.1; 3 GPUs 2 + s (no gain); 4 GPUs 1 + s. */
	fx_job(&jobs[0], 1, 1, 4, 100, compute, 1, 0.1);
	assert_int_equal(alloc_optimus(&snap, order, 1, &ao, width), 1);
	assert_int_equal(width[0], 4);
	/* A sync of 3 s makes a second GPU a loss: 4 s vs 2 + 3 s. */
	fx_job(&jobs[0], 1, 1, 4, 100, compute, 1, 3.0);
	assert_int_equal(alloc_optimus(&snap, order, 1, &ao, width), 1);
	assert_int_equal(width[0], 1);
	assert_true(fabs(alloc_round_estimate(&c, &jobs[0], 2) - 5.0) < 1e-12);
}

static void test_weight_and_admission(void **state)
{
	double compute[1] = { 1.0 };
	struct sched_job jobs[3];
	struct sched_snapshot snap = { .cluster = &c, .njobs = 3, .jobs = jobs };
	struct alloc_opts ao = { .weighted = true };
	uint32_t order[3] = { 0, 1, 2 }, width[3];

	(void)state;
	fx_job(&jobs[0], 1, 1, 8, 100, compute, 1, 0.01);
	fx_job(&jobs[1], 2, 8, 8, 100, compute, 1, 0.01);
	fx_job(&jobs[2], 3, 1, 8, 100, compute, 1, 0.01);
	jobs[2].min_gpus = 7;	/* does not fit after the first two: not admitted */
	assert_int_equal(alloc_optimus(&snap, order, 3, &ao, width), 2);
	assert_int_equal(width[2], 0);
	assert_int_equal(width[0] + width[1], 8);
	/* The heavier job is served first: it is never narrower. */
	assert_true(width[1] >= width[0]);
	assert_true(width[1] >= 4);
}

static void test_speed_model_changes_estimate(void **state)
{
	double compute[1] = { 1.0 };
	struct sched_job j;
	struct speed_model m;

	(void)state;
	fx_job(&j, 1, 1, 4, 100, compute, 1, 0.1);
	speed_model_init(&m, 1);
	for (uint32_t k = 1; k <= 4; k++)
		speed_model_observe(&m, 4.0 / k, k > 1 ? 0.1 : 0, k, 2 * (4.0 / k) + (k > 1 ? 0.1 : 0), 1000);
	assert_int_equal(speed_model_fit(&m), 0);
	j.speed = &m;
	assert_true(fabs(alloc_round_estimate(&c, &j, 1) - 8.0) < 0.1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_gain_stops_when_sync_dominates, setup),
		cmocka_unit_test_setup(test_weight_and_admission, setup),
		cmocka_unit_test_setup(test_speed_model_changes_estimate, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
