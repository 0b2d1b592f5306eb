/* SPDX-License-Identifier: MIT */
/* Unit tests for the lease-level greedy (solver/greedy_leases.c) and the
 * task-level greedy's ordering contract (solver/greedy_tasks.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>

#include "greedy.h"
#include "sched_fixture.h"

/* node 0: 2 fast GPUs (type 0), node 1: 2 slow GPUs (type 1, 4x slower). */
static struct sched_cluster c;
static struct sched_gpu gpus[4];

static int setup(void **state)
{
	uint32_t per[2] = { 2, 2 };
	uint16_t types[2] = { 0, 1 };

	(void)state;
	fx_cluster(&c, gpus, 2, per, types, 2);
	return 0;
}

static void test_fast_first_then_wait(void **state)
{
	double compute[2] = { 1.0, 4.0 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 100, .cluster = &c, .njobs = 2, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .wait_for_faster = true,
				       .preempt = true };
	uint32_t order[2] = { 0, 1 }, width[2] = { 2, 2 };
	struct sched_plan plan;

	(void)state;
	fx_job(&jobs[0], 1, 1, 2, 1, compute, 2, 0.1);	/* one round */
	fx_job(&jobs[1], 2, 1, 2, 10, compute, 2, 0.1);
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	/* Job 0 takes both fast GPUs now: 1 s + 0.1 sync. */
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.assigns[0].ngpus, 2);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].type, 0);
	assert_true(fabs(plan.assigns[0].finish_s - 101.1) < 1e-9);
	/* Job 1 finishes earlier waiting for them (101.1 + 10 * 1.1) than on
	 * the slow GPUs now (100 + 10 * 4.1). */
	assert_false(plan.assigns[1].run_now);
	assert_true(fabs(plan.assigns[1].start_s - 101.1) < 1e-9);
	assert_true(fabs(plan.assigns[1].finish_s - 112.1) < 1e-9);
	assert_int_equal(plan.assigns[1].rank, 1);
	/* By default a job that can start now does: slow GPUs, 100 + 10 * 4.1. */
	lo.wait_for_faster = false;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_true(plan.assigns[1].run_now);
	assert_true(fabs(plan.assigns[1].finish_s - 141.0) < 1e-9);
	sched_plan_destroy(&plan);
}

static void test_slow_now_beats_waiting(void **state)
{
	double compute[2] = { 1.0, 1.5 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 2, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .preempt = true };
	uint32_t order[2] = { 0, 1 }, width[2] = { 2, 2 };
	struct sched_plan plan;
	char err[128];

	(void)state;
	fx_job(&jobs[0], 1, 1, 2, 100, compute, 2, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 100, compute, 2, 0.1);
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	assert_int_equal(gpus[plan.gpus[plan.assigns[1].first]].type, 1);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	sched_plan_destroy(&plan);
}

static void test_keep_running_and_strict_order(void **state)
{
	double compute[2] = { 1.0, 1.0 };
	struct sched_job jobs[3];
	struct sched_snapshot snap = { .now_s = 50, .cluster = &c, .njobs = 3, .jobs = jobs };
	struct sched_lease_opts lo = { .keep_running = true, .stop_at_blocked = true };
	uint32_t order[3] = { 0, 1, 2 }, width[3] = { 2, 5, 1 }, held[2] = { 2, 3 };
	uint16_t held_tasks[2] = { 1, 1 };
	struct sched_plan plan;

	(void)state;
	fx_job(&jobs[0], 1, 1, 2, 10, compute, 2, 0.1);
	fx_job(&jobs[1], 2, 1, 5, 10, compute, 2, 0.1);
	fx_job(&jobs[2], 3, 1, 1, 10, compute, 2, 0.1);
	jobs[0].nheld = 2;
	jobs[0].held_gpus = held;
	jobs[0].held_tasks = held_tasks;
	jobs[0].first_start_s = 0;
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 3), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 3, width, &lo, &plan), 0);
	/* The running job keeps GPUs 2 and 3 (moving would cost a restart). */
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.gpus[plan.assigns[0].first], 2);
	/* Job 1 needs 5 GPUs of 4: blocked; strict order holds job 2 back. */
	assert_false(plan.assigns[1].run_now);
	assert_false(plan.assigns[2].run_now);
	assert_int_equal(plan.assigns[2].ngpus, 0);
	/* Without strict order job 2 backfills a free GPU. */
	lo.stop_at_blocked = false;
	assert_int_equal(sched_plan_reset(&plan, 3), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 3, width, &lo, &plan), 0);
	assert_false(plan.assigns[1].run_now);
	assert_true(plan.assigns[2].run_now);
	sched_plan_destroy(&plan);
}

/* A job first in the order that must take running jobs' GPUs (4 alike on
 * one node, all held) takes those of the running job planned last: the
 * one planned before it keeps its own. Taking GPUs in index order took the
 * first job's and moved both (a restart each). */
static void test_takes_last_planned_holder(void **state)
{
	double compute[1] = { 1.0 };
	struct sched_cluster one;
	struct sched_gpu g4[4];
	uint32_t per[1] = { 4 };
	uint16_t types[1] = { 0 }, ones[2] = { 1, 1 };
	struct sched_job jobs[3];
	struct sched_snapshot snap = { .now_s = 100, .cluster = &one, .njobs = 3, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .preempt = true };
	uint32_t order[3] = { 0, 1, 2 }, width[3] = { 2, 2, 2 }, b_gpus[2] = { 0, 1 },
		 a_gpus[2] = { 2, 3 };
	struct sched_plan plan;

	(void)state;
	fx_cluster(&one, g4, 1, per, types, 1);
	fx_job(&jobs[0], 1, 1, 2, 10, compute, 1, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 1000, compute, 1, 0.1);
	fx_job(&jobs[2], 3, 1, 2, 1000, compute, 1, 0.1);
	jobs[1].nheld = jobs[2].nheld = 2;
	jobs[1].held_gpus = b_gpus;
	jobs[2].held_gpus = a_gpus;
	jobs[1].held_tasks = jobs[2].held_tasks = ones;
	jobs[1].first_start_s = jobs[2].first_start_s = 0;
	jobs[1].lease_start_s = jobs[2].lease_start_s = 0;
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 3), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 3, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.assigns[0].ngpus, 2);
	assert_int_equal(plan.gpus[plan.assigns[0].first], 2);
	assert_int_equal(plan.gpus[plan.assigns[0].first + 1], 3);
	assert_true(plan.assigns[1].run_now);	/* keeps GPUs 0 and 1 */
	assert_int_equal(plan.gpus[plan.assigns[1].first], 0);
	assert_int_equal(plan.gpus[plan.assigns[1].first + 1], 1);
	assert_false(plan.assigns[2].run_now);
	sched_plan_destroy(&plan);
}

/* Two running jobs: the first in order would finish sooner on the second's
 * fast GPUs. Without preemption it must not take them. */
static void test_running_gpus_protected(void **state)
{
	double compute[2] = { 1.0, 4.0 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 2, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true };
	uint32_t order[2] = { 0, 1 }, width[2] = { 2, 2 }, slow[2] = { 2, 3 }, fast[2] = { 0, 1 };
	uint16_t one[2] = { 1, 1 };
	struct sched_plan plan;

	(void)state;
	fx_job(&jobs[0], 1, 8, 2, 1000, compute, 2, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 1000, compute, 2, 0.1);
	jobs[0].nheld = 2, jobs[0].held_gpus = slow, jobs[0].held_tasks = one, jobs[0].first_start_s = 0;
	jobs[1].nheld = 2, jobs[1].held_gpus = fast, jobs[1].held_tasks = one, jobs[1].first_start_s = 0;
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_int_equal(plan.gpus[plan.assigns[0].first], 2);
	assert_int_equal(plan.gpus[plan.assigns[1].first], 0);
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	/* With preemption the first job moves onto the fast GPUs. */
	lo.preempt = true;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].type, 0);
	sched_plan_destroy(&plan);
}

/* With preemption, a job ranked before a running one takes free GPUs that
 * nobody holds over equally good GPUs the running job holds: node 0 has 2
 * GPUs, both held by running job 2, node 1 has 4 idle ones (one type); job
 * 1, first in the order, needs 2. Best fit alone would pick node 0 and move
 * job 2 for nothing. */
static void test_avoids_running_jobs_gpus(void **state)
{
	struct sched_cluster c2;
	struct sched_gpu g2[6];
	uint32_t per[2] = { 2, 4 }, held[2] = { 0, 1 }, order[2] = { 0, 1 }, width[2] = { 2, 2 };
	uint16_t types[2] = { 0, 0 }, tasks[2] = { 1, 1 };
	double compute[1] = { 1.0 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 50, .cluster = &c2, .njobs = 2, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .consolidate = true,
				       .preempt = true };
	struct sched_plan plan;

	(void)state;
	fx_cluster(&c2, g2, 2, per, types, 1);
	fx_job(&jobs[0], 1, 1, 2, 10, compute, 1, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 10, compute, 1, 0.1);
	jobs[1].nheld = 2, jobs[1].held_gpus = held, jobs[1].held_tasks = tasks;
	jobs[1].first_start_s = 0, jobs[1].lease_start_s = 0;
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_true(plan.assigns[1].run_now);
	assert_int_equal(plan.assigns[1].ngpus, 2);
	/* Job 2 keeps GPUs 0 and 1; job 1 got two GPUs nobody held. */
	assert_int_equal(plan.gpus[plan.assigns[1].first], 0);
	assert_int_equal(plan.gpus[plan.assigns[1].first + 1], 1);
	for (uint32_t i = 0; i < plan.assigns[0].ngpus; i++)
		assert_true(plan.gpus[plan.assigns[0].first + i] >= 2);
	/* Both on one node each (consolidated). */
	assert_int_equal(g2[plan.gpus[plan.assigns[0].first]].node,
			 g2[plan.gpus[plan.assigns[0].first + 1]].node);
	sched_plan_destroy(&plan);
}


/* Type slack: a job that would finish at most type_slack later on a slower
 * type takes it, leaving the fast GPUs; a much slower type is not taken. */
static void test_type_slack(void **state)
{
	double near[2] = { 1.0, 1.2 }, far[2] = { 1.0, 2.0 };
	struct sched_job jobs[1];
	struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 1, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .preempt = true,
				       .type_slack = 0.3 };
	uint32_t order[1] = { 0 }, width[1] = { 1 };
	struct sched_plan plan;

	(void)state;
	sched_plan_init(&plan);
	fx_job(&jobs[0], 1, 1, 1, 10, near, 2, 0.1);
	assert_int_equal(sched_plan_reset(&plan, 1), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 1, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].type, 1);	/* 12 s vs 10 s */
	assert_true(fabs(plan.assigns[0].finish_s - 12.0) < 1e-9);
	lo.type_slack = 0;
	assert_int_equal(sched_plan_reset(&plan, 1), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 1, width, &lo, &plan), 0);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].type, 0);
	lo.type_slack = 0.3;
	fx_job(&jobs[0], 1, 1, 1, 10, far, 2, 0.1);	/* 20 s vs 10 s: too slow */
	assert_int_equal(sched_plan_reset(&plan, 1), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 1, width, &lo, &plan), 0);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].type, 0);
	sched_plan_destroy(&plan);
}

/* Minimum lease: a job ranked above a young lease waits for its GPUs, and
 * the plan asks to be re-run when the protection ends, where the waiting
 * job takes them; nothing asks for it when no job ranked above it waits. */
static void test_min_lease_replan_at_expiry(void **state)
{
	struct sched_cluster c2;
	struct sched_gpu g2[2];
	uint32_t per[1] = { 2 }, held[2] = { 0, 1 }, order[2] = { 0, 1 }, width[2] = { 2, 2 };
	uint16_t types[1] = { 0 }, tasks[2] = { 1, 1 };
	double compute[1] = { 1.0 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 100, .cluster = &c2, .njobs = 2, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .consolidate = true,
				       .preempt = true, .min_lease_s = 600 };
	struct sched_plan plan;
	char err[128];

	(void)state;
	fx_cluster(&c2, g2, 1, per, types, 1);
	fx_job(&jobs[0], 1, 8, 2, 1000, compute, 1, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 1000, compute, 1, 0.1);
	jobs[1].nheld = 2, jobs[1].held_gpus = held, jobs[1].held_tasks = tasks;
	jobs[1].first_start_s = 50, jobs[1].lease_start_s = 50;
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_false(plan.assigns[0].run_now);
	assert_true(plan.assigns[1].run_now);
	assert_true(plan.replan_at_s == 650.0);
	/* its estimate: from then, not from job 2's finish */
	assert_true(plan.assigns[0].start_s == 650.0);
	assert_true(fabs(plan.assigns[0].finish_s - (650.0 + 1000 * plan.assigns[0].round_s)) < 1e-6);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	/* At 650 the lease is no longer protected: job 1 takes the GPUs. */
	snap.now_s = plan.replan_at_s;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.assigns[0].ngpus, 2);
	assert_false(plan.assigns[1].run_now);
	assert_true(isinf(plan.replan_at_s));
	/* Job 2 ranked first: the waiting job could not take its GPUs anyway. */
	snap.now_s = 100;
	order[0] = 1, order[1] = 0;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_false(plan.assigns[0].run_now);
	assert_true(isinf(plan.replan_at_s));
	/* Free preemption (0): job 1 takes them at once, nothing to wait for. */
	order[0] = 0, order[1] = 1;
	lo.min_lease_s = 0;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_true(isinf(plan.replan_at_s));
	sched_plan_destroy(&plan);
}


/* Nodes a job avoids (its workers failed there): it is not placed on them
 * now nor projected there later; the jobs after it still use them. */
static void test_avoid_nodes(void **state)
{
	double compute[2] = { 1.0, 4.0 };
	struct sched_job jobs[3];
	struct sched_snapshot snap = { .now_s = 100, .cluster = &c, .njobs = 3, .jobs = jobs };
	struct sched_lease_opts lo = { .hetero = true, .keep_running = true, .wait_for_faster = true,
				       .preempt = true };
	uint32_t order[3] = { 0, 1, 2 }, width[3] = { 2, 2, 2 }, node0 = 0, node1 = 1;
	struct sched_plan plan;
	char err[128];

	(void)state;
	/* job 1 avoids the fast node: the slow one now, though waiting for the
	 * fast one would pay; job 2 takes the fast node */
	fx_job(&jobs[0], 1, 1, 2, 10, compute, 2, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 10, compute, 2, 0.1);
	snap.njobs = 2;
	jobs[0].navoid = 1;
	jobs[0].avoid_nodes = &node0;
	sched_plan_init(&plan);
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 2, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.assigns[0].ngpus, 2);
	for (uint32_t i = 0; i < 2; i++)
		assert_int_equal(gpus[plan.gpus[plan.assigns[0].first + i]].node, 1);
	assert_true(plan.assigns[1].run_now);
	assert_int_equal(gpus[plan.gpus[plan.assigns[1].first]].node, 0);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);

	/* job 1 takes the fast node; job 2 avoids the slow one, so it waits for
	 * the fast one (not projected on the slow one); job 3 gets the slow one */
	fx_job(&jobs[2], 3, 1, 2, 10, compute, 2, 0.1);
	snap.njobs = 3;
	jobs[0].navoid = 0;
	jobs[1].navoid = 1;
	jobs[1].avoid_nodes = &node1;
	lo.wait_for_faster = false;
	assert_int_equal(sched_plan_reset(&plan, 3), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 3, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].node, 0);
	assert_false(plan.assigns[1].run_now);
	assert_true(fabs(plan.assigns[1].start_s - plan.assigns[0].finish_s) < 1e-9);
	for (uint32_t i = 0; i < plan.assigns[1].ngpus; i++)
		assert_int_equal(gpus[plan.gpus[plan.assigns[1].first + i]].node, 0);
	assert_true(plan.assigns[2].run_now);
	assert_int_equal(gpus[plan.gpus[plan.assigns[2].first]].node, 1);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);

	/* a blind policy's fixed width (2 GPUs of one pool) that only the
	 * avoided node has: it goes there rather than wait for ever */
	lo = (struct sched_lease_opts){ .preempt = true };
	compute[1] = 1.0;
	snap.njobs = 1;
	jobs[0].navoid = 1;
	jobs[0].avoid_nodes = &node0;
	fx_job(&jobs[0], 1, 1, 2, 10, compute, 2, 0.1);
	jobs[0].navoid = 1;
	jobs[0].avoid_nodes = &node0;
	width[0] = 2;
	gpus[2].up = false;
	assert_int_equal(sched_plan_reset(&plan, 1), 0);
	assert_int_equal(sched_greedy_leases(&snap, order, 1, width, &lo, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(gpus[plan.gpus[plan.assigns[0].first]].node, 0);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	gpus[2].up = true;

	/* a lease it already holds there is kept (hare: keep_running) */
	{
		uint32_t held[2] = { 0, 1 };
		uint16_t held_t[2] = { 1, 1 };

		lo = (struct sched_lease_opts){ .hetero = true, .keep_running = true };
		jobs[0].nheld = 2;
		jobs[0].held_gpus = held;
		jobs[0].held_tasks = held_t;
		jobs[0].first_start_s = 50;
		jobs[0].lease_start_s = 50;
		assert_int_equal(sched_plan_reset(&plan, 1), 0);
		assert_int_equal(sched_greedy_leases(&snap, order, 1, width, &lo, &plan), 0);
		assert_true(plan.assigns[0].run_now);
		assert_true(sched_plan_keeps(&jobs[0], &plan, 0));
		assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	}
	sched_plan_destroy(&plan);
}

/* sched_plan_avoid, for policies that place jobs their own way: GPUs on an
 * avoided node are swapped for free ones of the same type elsewhere; with
 * none free the job does not start now; a kept lease is left alone. */
static void test_plan_avoid_fix(void **state)
{
	static struct sched_cluster c2;
	static struct sched_gpu g2[6];
	uint32_t per[3] = { 2, 2, 2 };
	uint16_t types[3] = { 0, 0, 1 };
	double compute[2] = { 1.0, 2.0 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 0, .cluster = &c2, .njobs = 2, .jobs = jobs };
	uint32_t avoid = 0, a0[2] = { 0, 2 }, a1[2] = { 3, 4 }, held[2] = { 0, 1 };
	uint16_t t11[2] = { 1, 1 }, held_t[2] = { 1, 1 };
	struct sched_plan plan;
	char err[128];

	(void)state;
	fx_cluster(&c2, g2, 3, per, types, 2);
	fx_job(&jobs[0], 1, 1, 2, 10, compute, 2, 0.1);
	fx_job(&jobs[1], 2, 1, 2, 10, compute, 2, 0.1);
	jobs[0].navoid = 1;
	jobs[0].avoid_nodes = &avoid;
	sched_plan_init(&plan);
	/* job 1 on GPU 0 (node 0, avoided) and 2; job 2 on 3 and 4: GPU 1 is on
	 * node 0 too, so only a node-1 V100 would do, and 3 is taken: none */
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 0, a0, t11, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 1, a1, t11, 2), 0);
	plan.assigns[0].run_now = plan.assigns[1].run_now = true;
	assert_int_equal(sched_plan_avoid(&snap, &plan), 0);
	assert_false(plan.assigns[0].run_now);
	assert_true(isinf(plan.assigns[0].start_s));
	assert_int_equal(plan.gpus[plan.assigns[0].first], 0);	/* undone */
	assert_true(plan.assigns[1].run_now);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);

	/* job 2 on GPUs 4 (T4) and 5: GPU 3 (node 1, V100) is free for job 1 */
	a1[0] = 5;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 0, a0, t11, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 1, a1, t11, 2), 0);
	plan.assigns[0].run_now = plan.assigns[1].run_now = true;
	plan.assigns[0].start_s = 0;
	assert_int_equal(sched_plan_avoid(&snap, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.gpus[plan.assigns[0].first], 3);
	assert_int_equal(plan.gpus[plan.assigns[0].first + 1], 2);
	assert_true(fabs(plan.assigns[0].round_s - (1.0 + 0.1)) < 1e-9);
	assert_true(fabs(plan.assigns[0].finish_s - 10 * 1.1) < 1e-9);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);

	/* the check refuses a new placement on node 0 while node 1 has the
	 * V100s for it, and accepts it (as sched_plan_avoid leaves it) when
	 * node 1 is down */
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 0, held, held_t, 2), 0);
	plan.assigns[0].run_now = true;
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "job 1: started on node 0, which it avoids");
	g2[2].up = g2[3].up = false;
	assert_int_equal(sched_plan_avoid(&snap, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	g2[2].up = g2[3].up = true;

	/* running on the avoided node and kept there: left alone */
	jobs[0].nheld = 2;
	jobs[0].held_gpus = held;
	jobs[0].held_tasks = held_t;
	assert_int_equal(sched_plan_reset(&plan, 2), 0);
	assert_int_equal(sched_plan_place(&plan, 0, held, held_t, 2), 0);
	plan.assigns[0].run_now = true;
	assert_int_equal(sched_plan_avoid(&snap, &plan), 0);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(plan.gpus[plan.assigns[0].first], 0);
	assert_int_equal(sched_plan_check(&snap, &plan, err, sizeof(err)), 0);
	sched_plan_destroy(&plan);
}

static void test_tasks_order_contract(void **state)
{
	double compute[2] = { 1.0, 2.0 };
	struct sched_job jobs[1];
	struct sched_round_ref bad[2] = { { 0, 1 }, { 0, 0 } }, good[2] = { { 0, 0 }, { 0, 1 } };
	struct sched_task_slot slots[4];
	double done[1];

	(void)state;
	fx_job(&jobs[0], 1, 1, 2, 2, compute, 2, 0.5);
	assert_int_equal(sched_greedy_tasks(&c, jobs, 1, bad, 2, 0, true, slots, done), -EINVAL);
	assert_int_equal(sched_greedy_tasks(&c, jobs, 1, good, 2, 0, true, slots, done), 0);
	/* Each round: both tasks on the two fast GPUs (1 s), then 0.5 s sync. */
	assert_true(fabs(done[0] - 3.0) < 1e-12);
	assert_int_equal(gpus[slots[0].gpu].type, 0);
	assert_int_equal(gpus[slots[1].gpu].type, 0);
	assert_true(fabs(slots[2].start_s - 1.5) < 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_fast_first_then_wait, setup),
		cmocka_unit_test_setup(test_slow_now_beats_waiting, setup),
		cmocka_unit_test_setup(test_keep_running_and_strict_order, setup),
		cmocka_unit_test_setup(test_running_gpus_protected, setup),
		cmocka_unit_test(test_takes_last_planned_holder),
		cmocka_unit_test_setup(test_avoids_running_jobs_gpus, setup),
		cmocka_unit_test_setup(test_type_slack, setup),
		cmocka_unit_test(test_min_lease_replan_at_expiry),
		cmocka_unit_test_setup(test_avoid_nodes, setup),
		cmocka_unit_test(test_plan_avoid_fix),
		cmocka_unit_test_setup(test_tasks_order_contract, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
