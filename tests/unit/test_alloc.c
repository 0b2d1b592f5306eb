/* SPDX-License-Identifier: MIT */
/* Unit tests for solver/alloc.c: Optimus marginal-gain widths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

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

/* On nodes of 4 GPUs, 4 fit on a node (sync 1 s) and 8 do not (2 s),
 * whatever the count; with 4 fast and 4 slow GPUs, 8 GPUs are a mix (no
 * type has 8), and 12 are more than there are. */
static void test_estimate_shape(void **state)
{
	struct sched_cluster c4;
	struct sched_gpu g4[12];
	uint32_t per[3] = { 4, 4, 4 };
	uint16_t one[3] = { 0, 0, 0 }, two[3] = { 0, 1, 1 };
	double compute[2] = { 1.0, 3.0 };
	struct sched_job j;

	(void)state;
	fx_cluster(&c4, g4, 3, per, one, 1);
	fx_job(&j, 1, 1, 8, 100, compute, 1, 1.0);
	assert_true(fabs(alloc_round_estimate(&c4, &j, 4) - (2.0 + 1.0)) < 1e-12);
	assert_true(fabs(alloc_round_estimate(&c4, &j, 8) - (1.0 + 2.0)) < 1e-12);
	/* 4 fast GPUs on node 0, 8 slow ones on nodes 1-2 */
	fx_cluster(&c4, g4, 3, per, two, 2);
	fx_job(&j, 1, 1, 8, 100, compute, 2, 1.0);
	/* 8: 8 slow ones (3 s + 2 s), or 4 fast + 4 slow: the fast take 2
	 * tasks each (2 s), the rest nothing, 2 + 2 s */
	assert_true(fabs(alloc_round_estimate(&c4, &j, 8) - 4.0) < 1e-12);
	/* 12: all of them, the fast ones 2 tasks each (2 s), a slow one none */
	assert_true(fabs(alloc_round_estimate(&c4, &j, 12) - 4.0) < 1e-12);
	assert_true(isinf(alloc_round_estimate(&c4, &j, 13)));
	g4[0].up = false;
	/* 3 fast up: 12 is more than there are */
	assert_true(isinf(alloc_round_estimate(&c4, &j, 12)));
}

/* The round time the placement gets for k GPUs: sched_split_tasks over
 * them, timed by sched_round_time. */
static double placed_round(const struct sched_cluster *cl, const struct sched_job *j, const uint32_t *ids,
			   uint32_t k)
{
	uint16_t tasks[64];

	sched_split_tasks(cl, j, ids, k, tasks);
	return sched_round_time(cl, j, ids, tasks, k);
}

/* A mix is split as the placement splits it: at most ceil(tasks /
 * min_gpus) tasks per GPU, so with min_gpus = 4 over 2 fast and 2 slow
 * GPUs the slow ones take 2 of the 8 tasks each (20 s), not none (4 s). */
static void test_estimate_min_gpus_cap(void **state)
{
	struct sched_cluster c2;
	struct sched_gpu g2[4];
	uint32_t per[2] = { 2, 2 }, ids[4] = { 0, 1, 2, 3 };
	uint16_t types[2] = { 0, 1 };
	double compute[2] = { 1.0, 10.0 };
	struct sched_job j;

	(void)state;
	fx_cluster(&c2, g2, 2, per, types, 2);
	fx_job(&j, 1, 1, 8, 100, compute, 2, 0);
	j.min_gpus = 4;
	assert_true(fabs(placed_round(&c2, &j, ids, 4) - 20.0) < 1e-12);
	assert_true(fabs(alloc_round_estimate(&c2, &j, 4) - 20.0) < 1e-12);
	j.min_gpus = 1;	/* no cap: the fast GPUs take all 8 */
	assert_true(fabs(placed_round(&c2, &j, ids, 4) - 4.0) < 1e-12);
	assert_true(fabs(alloc_round_estimate(&c2, &j, 4) - 4.0) < 1e-12);
}

/* Random clusters and jobs (no sync time): the estimate for k GPUs is the
 * best round the placement gets from k GPUs of one type or from the k
 * fastest of any type, each split by sched_split_tasks. */
static void test_estimate_mirrors_split(void **state)
{
	struct sched_cluster cr;
	struct sched_gpu gr[64];
	uint32_t per[8];
	uint16_t types[8];
	struct sched_job j;

	(void)state;
	srand(7);
	for (int iter = 0; iter < 500; iter++) {
		uint32_t nt = 1 + rand() % 4, nn = 1 + rand() % 8, ids[64], nids = 0;
		uint32_t tasks = 1 + rand() % 24, order[4], no = 0;
		double compute[4];

		for (uint32_t n = 0; n < nn; n++) {
			per[n] = 1 + rand() % 8;
			types[n] = (uint16_t)(rand() % nt);
		}
		fx_cluster(&cr, gr, nn, per, types, nt);
		for (uint32_t t = 0; t < nt; t++)
			compute[t] = rand() % 6 == 0 ? 0 : 0.5 * (1 + rand() % 12);
		fx_job(&j, 1, 1, tasks, 100, compute, nt, 0);
		j.min_gpus = 1 + rand() % tasks;
		/* the types by compute time, fastest first (ties: lower index) */
		for (uint32_t t = 0; t < nt; t++) {
			uint32_t b = no++;

			if (compute[t] <= 0) {
				no--;
				continue;
			}
			for (; b > 0 && compute[order[b - 1]] > compute[t]; b--)
				order[b] = order[b - 1];
			order[b] = t;
		}
		for (uint32_t k = j.min_gpus; k <= tasks; k++) {
			double want = INFINITY;
			uint32_t take[4] = { 0 }, left = k;

			for (uint32_t t = 0; t < nt; t++) {
				nids = 0;
				for (uint32_t g = 0; g < cr.ngpus && nids < k; g++)
					if (gr[g].type == t)
						ids[nids++] = g;
				if (compute[t] > 0 && nids == k)
					want = fmin(want, placed_round(&cr, &j, ids, k));
			}
			for (uint32_t i = 0; i < no && left; i++) {
				uint32_t have = 0;

				for (uint32_t g = 0; g < cr.ngpus; g++)
					have += gr[g].type == order[i];
				take[order[i]] = have < left ? have : left;
				left -= take[order[i]];
			}
			/* the k fastest, listed type by type */
			nids = 0;
			for (uint32_t t = 0; t < nt; t++)
				for (uint32_t g = 0, n = 0; g < cr.ngpus && n < take[t]; g++)
					if (gr[g].type == t) {
						ids[nids++] = g;
						n++;
					}
			if (left == 0)
				want = fmin(want, placed_round(&cr, &j, ids, k));
			assert_true(fabs(alloc_round_estimate(&cr, &j, k) - want) < 1e-9 ||
				    (isinf(want) && isinf(alloc_round_estimate(&cr, &j, k))));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_gain_stops_when_sync_dominates, setup),
		cmocka_unit_test_setup(test_weight_and_admission, setup),
		cmocka_unit_test_setup(test_speed_model_changes_estimate, setup),
		cmocka_unit_test(test_estimate_shape),
		cmocka_unit_test(test_estimate_min_gpus_cap),
		cmocka_unit_test(test_estimate_mirrors_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
