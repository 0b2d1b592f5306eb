/* SPDX-License-Identifier: MIT */
/* Unit tests for the evaluation baselines (solver/policy_tiresias.c,
 * policy_gavel.c, policy_allox.c, policy_gandiva.c, and fifo-backfill of
 * policy_baselines.c): each one's defining
 * rule on a hand-checked case, AlloX's matching against brute force, and
 * valid plans over random re-planned snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_impl.h"
#include "sched.h"
#include "sched_fixture.h"

static const char *const baseline_names[] = { "tiresias", "gavel", "gavel-tput", "allox", "gandiva",
					       "fifo-backfill" };
#define NBASELINES (sizeof(baseline_names) / sizeof(baseline_names[0]))

/* Per-job lease storage for the tests' little driver. */
struct lease_store {
	uint32_t gpus[64][8];
	uint16_t tasks[64][8];
};

/* Apply a plan as the simulator would: run_now jobs hold their placement. */
static void apply_plan(struct sched_job *jobs, uint32_t n, const struct sched_plan *plan,
		       struct lease_store *ls, double now)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct sched_assign *a = &plan->assigns[i];
		bool same = a->run_now && a->ngpus == jobs[i].nheld;

		for (uint32_t g = 0; same && g < a->ngpus; g++)
			same = plan->gpus[a->first + g] == jobs[i].held_gpus[g] &&
			       plan->tasks[a->first + g] == jobs[i].held_tasks[g];
		jobs[i].held_gpus = ls->gpus[i];
		jobs[i].held_tasks = ls->tasks[i];
		jobs[i].nheld = a->run_now ? a->ngpus : 0;
		for (uint32_t g = 0; g < jobs[i].nheld; g++) {
			ls->gpus[i][g] = plan->gpus[a->first + g];
			ls->tasks[i][g] = plan->tasks[a->first + g];
		}
		if (a->run_now && !same)
			jobs[i].lease_start_s = now;
		if (a->run_now && jobs[i].first_start_s < 0)
			jobs[i].first_start_s = now;
	}
}

/* Advance running jobs' service to `now` (GPUs x time, as the driver does). */
static void advance(struct sched_job *jobs, uint32_t n, double from, double now)
{
	for (uint32_t i = 0; i < n; i++)
		if (jobs[i].nheld) {
			jobs[i].attained_gpu_s += jobs[i].nheld * (now - from);
			jobs[i].last_run_s = now;
		}
}

static void run_job(struct sched_job *j, uint32_t *gpus, uint16_t *tasks, uint32_t n, double start)
{
	j->held_gpus = gpus;
	j->held_tasks = tasks;
	j->nheld = n;
	j->first_start_s = start;
	j->lease_start_s = start;
	j->last_run_s = start;
}

static void plan_ok(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *plan)
{
	char err[256];

	assert_int_equal(sched_policy_plan(p, snap, plan), 0);
	if (sched_plan_check(snap, plan, err, sizeof(err)))
		fail_msg("%s: %s", sched_policy_name(p), err);
}

static uint32_t first_gpu(const struct sched_plan *plan, uint32_t i)
{
	return plan->gpus[plan->assigns[i].first];
}

/* Two nodes of one GPU each: a V100 (type 0, GPU 0) and a K80 (type 1,
 * GPU 1). */
static void vk_cluster(struct sched_cluster *cl, struct sched_gpu *gpus)
{
	static const uint32_t per[2] = { 1, 1 };
	static const uint16_t types[2] = { 0, 1 };

	fx_cluster(cl, gpus, 2, per, types, 2);
}

/* ---- tiresias ---- */

static void test_las_preempts_most_attained(void **state)
{
	double c[1] = { 1.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	uint32_t per[1] = { 2 }, ga = 0, gb = 1;
	uint16_t types[1] = { 0 }, one = 1;
	struct sched_job jobs[3];
	struct sched_snapshot snap = { .now_s = 100, .cluster = &cl, .njobs = 3, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;

	(void)state;
	fx_cluster(&cl, gpus, 1, per, types, 1);
	fx_job(&jobs[0], 1, 1, 1, 1000000, c, 1, 0);
	fx_job(&jobs[1], 2, 1, 1, 1000000, c, 1, 0);
	fx_job(&jobs[2], 3, 1, 1, 1000000, c, 1, 0);
	jobs[1].arrival_s = 10;
	jobs[2].arrival_s = 50;
	run_job(&jobs[0], &ga, &one, 1, 0);
	run_job(&jobs[1], &gb, &one, 1, 10);
	jobs[0].attained_gpu_s = 20000;	/* lowest queue */
	jobs[1].attained_gpu_s = 90;	/* queue 0 */
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("tiresias", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_false(plan.assigns[0].run_now);	/* most service: preempted */
	assert_true(plan.assigns[1].run_now);
	assert_int_equal(first_gpu(&plan, 1), 1);	/* keeps its GPU */
	assert_true(plan.assigns[2].run_now);
	assert_int_equal(first_gpu(&plan, 2), 0);
	assert_int_equal(plan.assigns[2].rank, 1);
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* The frame of the 2D-LAS tests: one GPU, jobs 1 and 2 of one task each (1
 * s a round, rounds rounds) under tiresias at now. */
struct las {
	double c[1];
	struct sched_cluster cl;
	struct sched_gpu gpus[1];
	uint32_t per[1];
	uint16_t types[1];
	struct sched_job jobs[2];
	struct lease_store ls;
	struct sched_snapshot snap;
	struct sched_policy *p;
	struct sched_plan plan;
};

static void las_init(struct las *t, double now, uint64_t rounds)
{
	memset(t, 0, sizeof(*t));
	t->c[0] = 1.0;
	t->per[0] = 1;
	fx_cluster(&t->cl, t->gpus, 1, t->per, t->types, 1);
	fx_job(&t->jobs[0], 1, 1, 1, rounds, t->c, 1, 0);
	fx_job(&t->jobs[1], 2, 1, 1, rounds, t->c, 1, 0);
	t->snap = (struct sched_snapshot){ .now_s = now, .cluster = &t->cl, .njobs = 2,
					   .jobs = t->jobs };
	sched_plan_init(&t->plan);
	assert_int_equal(sched_policy_new("tiresias", NULL, &t->p), 0);
}

/* Job i holds the GPU since start. */
static void las_running(struct las *t, uint32_t i, double start)
{
	t->ls.gpus[i][0] = 0;
	t->ls.tasks[i][0] = 1;
	run_job(&t->jobs[i], t->ls.gpus[i], t->ls.tasks[i], 1, start);
}

/* The last plan's leases run until to; then the next plan. */
static void las_step(struct las *t, double to)
{
	apply_plan(t->jobs, t->snap.njobs, &t->plan, &t->ls, t->snap.now_s);
	advance(t->jobs, t->snap.njobs, t->snap.now_s, to);
	t->snap.now_s = to;
	plan_ok(t->p, &t->snap, &t->plan);
}

static void las_free(struct las *t)
{
	sched_policy_free(t->p);
	sched_plan_destroy(&t->plan);
}

/* The last plan runs job 0 or job 1 (which), and asks to be re-run at
 * wake (just after it: the crossing's margin). */
static void las_expect(const struct las *t, int which, double wake)
{
	assert_true(t->plan.assigns[which].run_now);
	assert_false(t->plan.assigns[1 - which].run_now);
	assert_true(t->plan.replan_at_s > wake - 1e-6 && t->plan.replan_at_s < wake + 0.1);
}

static void test_las_threshold_demotes(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 3000, 1000000);
	t.jobs[1].arrival_s = 5;
	las_running(&t, 0, 0);
	t.jobs[0].attained_gpu_s = 3000;
	plan_ok(t.p, &t.snap, &t.plan);
	/* Both in queue 0: arrival order; the runner crosses 3,250 in 250 s. */
	las_expect(&t, 0, 3250);
	las_step(&t, t.plan.replan_at_s);
	assert_false(t.plan.assigns[0].run_now);	/* demoted to queue 1 */
	assert_true(t.plan.assigns[1].run_now);
	assert_int_equal(t.plan.assigns[1].rank, 0);
	las_free(&t);
}

/* The next crossing comes from the plan just made, not from what ran before
 * it: job 1 (4,000 s of service, queue 1) is preempted at 4,000 by job 2
 * (queue 0); at 7,250 job 2 drops to queue 1 behind job 1, which resumes
 * and reaches 7,200 s (queue 2) at 10,450, where job 2 takes over. Before,
 * the plan at 7,250 woke at job 2's stale crossing (7,250 + 7,200 - 3,250 =
 * 11,200) and job 1 ran 750 s too long. */
static void test_las_wake_from_plan(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 4000, 10000000);
	t.jobs[1].arrival_s = 4000;
	las_running(&t, 0, 0);
	t.jobs[0].attained_gpu_s = 4000;
	plan_ok(t.p, &t.snap, &t.plan);
	las_expect(&t, 1, 7250);
	las_step(&t, t.plan.replan_at_s);
	las_expect(&t, 0, 10450);
	las_step(&t, t.plan.replan_at_s);
	assert_false(t.plan.assigns[0].run_now);	/* queue 2 */
	assert_true(t.plan.assigns[1].run_now);
	las_free(&t);
}

/* Tiresias counts a waiting job's pending time since it entered queue 0
 * (from its first run after that), not since it last ran: job 2 ran 20,000
 * s from t = 100 with a wait in between and last ran at 40,100, so at
 * 50,100 it has waited 30,000 s and is promoted at 100 + 20,000 + 2 x
 * 20,000 = 60,100 (before: 40,100 + 40,000 = 80,100). */
static void test_las_starvation_cumulative(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 50100, 10000000);
	t.jobs[1].arrival_s = 100;
	t.jobs[1].first_start_s = 100;
	t.jobs[1].last_run_s = 40100;
	t.jobs[1].attained_gpu_s = 20000;
	las_running(&t, 0, 0);
	t.jobs[0].attained_gpu_s = 30000;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_true(t.plan.assigns[0].run_now);
	assert_false(t.plan.assigns[1].run_now);
	assert_true(fabs(t.plan.replan_at_s - 60100) < 0.1);
	las_step(&t, t.plan.replan_at_s);
	assert_true(t.plan.assigns[1].run_now);	/* promoted to queue 0 */
	assert_false(t.plan.assigns[0].run_now);
	las_free(&t);
}

/* A job that leaves Tiresias' snapshot (held, or waiting out a retry
 * back-off in hared) and comes back is appended at the end of its queue,
 * as a new one: job 2 ran first, is held while job 1 takes the GPU, and on
 * its return waits behind job 1 (before: it kept its old place, ahead of
 * job 1, and preempted it). */
static void test_las_returning_job_last(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 1000, 10000000);
	t.jobs[0].arrival_s = 100;
	t.jobs[1].arrival_s = 50;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_false(t.plan.assigns[0].run_now);
	assert_true(t.plan.assigns[1].run_now);
	apply_plan(t.jobs, 2, &t.plan, &t.ls, t.snap.now_s);
	advance(t.jobs, 2, t.snap.now_s, t.snap.now_s + 10);
	t.snap.now_s += 10;
	/* job 2 held: out of the snapshot, its lease stopped */
	t.jobs[1].nheld = 0;
	t.snap.njobs = 1;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_true(t.plan.assigns[0].run_now);
	las_step(&t, t.snap.now_s + 10);
	/* back: behind job 1, which runs on */
	t.snap.njobs = 2;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_true(t.plan.assigns[0].run_now);
	assert_false(t.plan.assigns[1].run_now);
	las_free(&t);
}

/* Tiresias appends a promoted job at the end of queue 0 and keeps a
 * queue's running jobs ahead of its waiting ones: job 1 (the earlier
 * arrival) is promoted at 60,100 while job 2 runs in queue 0, and waits
 * until job 2 is demoted at 3,250 GPU-s, at 61,250 (before: the promoted
 * job went by arrival and preempted job 2 at once). */
static void test_las_promoted_queues_last(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 59000, 10000000);
	t.jobs[0].first_start_s = 100;
	t.jobs[0].last_run_s = 20100;
	t.jobs[0].attained_gpu_s = 20000;
	t.jobs[1].arrival_s = 50;
	las_running(&t, 1, 58000);
	t.jobs[1].attained_gpu_s = 1000;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_false(t.plan.assigns[0].run_now);
	assert_true(t.plan.assigns[1].run_now);
	assert_true(fabs(t.plan.replan_at_s - 60100) < 0.1);
	las_step(&t, t.plan.replan_at_s);
	assert_false(t.plan.assigns[0].run_now);	/* promoted, behind job 2 */
	assert_true(t.plan.assigns[1].run_now);
	assert_true(fabs(t.plan.replan_at_s - 61250) < 0.1);
	las_step(&t, t.plan.replan_at_s);
	assert_true(t.plan.assigns[0].run_now);
	assert_false(t.plan.assigns[1].run_now);	/* demoted to queue 1 */
	las_free(&t);
}

/* Tiresias' simulator has three queues (num_queue = 3): the limits 3,250
 * and 7,200 GPU-s; its third limit, 18,000, is never used, so 10,000 and
 * 20,000 GPU-s are both in the last queue, where the earlier arrival goes
 * first (with a fourth queue the later job, at 10,000, went first). */
static void test_las_three_queues(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 40000, 10000000);
	t.jobs[1].arrival_s = 10;
	t.jobs[0].first_start_s = t.jobs[1].first_start_s = 20000;
	t.jobs[0].last_run_s = t.jobs[1].last_run_s = 39990;
	t.jobs[0].attained_gpu_s = 20000;
	t.jobs[1].attained_gpu_s = 10000;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_true(t.plan.assigns[0].run_now);
	assert_false(t.plan.assigns[1].run_now);
	las_free(&t);
}

static void test_las_starvation_guard(void **state)
{
	struct las t;

	(void)state;
	las_init(&t, 20100, 10000000);
	/* Job 1 is in the last queue and runs; job 2 (later) ran 20,000 s and
	 * waits in the last queue too: promotion after 2 x 20,000 s of waiting. */
	t.jobs[1].arrival_s = 100;
	t.jobs[1].first_start_s = 100;
	t.jobs[1].last_run_s = 20100;
	t.jobs[1].attained_gpu_s = 20000;
	las_running(&t, 0, 0);
	t.jobs[0].attained_gpu_s = 30000;
	plan_ok(t.p, &t.snap, &t.plan);
	assert_true(t.plan.assigns[0].run_now);
	assert_false(t.plan.assigns[1].run_now);
	assert_true(fabs(t.plan.replan_at_s - 60100) < 0.1);
	/* Half-way: still waiting. */
	las_step(&t, 40000);
	assert_false(t.plan.assigns[1].run_now);
	las_step(&t, t.plan.replan_at_s);
	assert_true(t.plan.assigns[1].run_now);	/* promoted to queue 0 */
	assert_false(t.plan.assigns[0].run_now);
	las_free(&t);
}

/* ---- gavel ---- */

/* One V100 (type 0) and one K80 (type 1); job 1 is as fast on the K80,
 * job 2 is 4x slower there. */
static void gavel_pair(struct sched_cluster *cl, struct sched_gpu *gpus, struct sched_job *jobs)
{
	double c1[2] = { 1.0, 1.0 }, c2[2] = { 1.0, 4.0 };

	vk_cluster(cl, gpus);
	fx_job(&jobs[0], 1, 1, 1, 1000000, c1, 2, 0);
	fx_job(&jobs[1], 2, 1, 1, 1000000, c2, 2, 0);
	jobs[1].arrival_s = 1;
}

static void test_gavel_maxmin_types(void **state)
{
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 10, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;
	double x1[2], x2[2];

	(void)state;
	gavel_pair(&cl, gpus, jobs);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gavel", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_int_equal(policy_gavel_share(p, 1, x1, 2), 0);
	assert_int_equal(policy_gavel_share(p, 2, x2, 2), 0);
	assert_true(x1[1] > 1 - 1e-6 && x1[0] < 1e-6);	/* the K80 to the job it does not slow */
	assert_true(x2[0] > 1 - 1e-6 && x2[1] < 1e-6);	/* the V100 to the job that gains 4x */
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	assert_int_equal(first_gpu(&plan, 0), 1);
	assert_int_equal(first_gpu(&plan, 1), 0);
	assert_true(fabs(plan.replan_at_s - (10 + 360)) < 1e-6);
	assert_int_equal(policy_gavel_share(p, 99, x1, 2), -ENOENT);
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* Gavel multiplies a job's max-min coefficients by its scale factor (its
 * width), so equal throughputs give equal GPU time, not equal time
 * fractions: on 2 GPUs a 1-GPU job gets X = 1 and a 2-GPU job X = 1/2 (z =
 * 1); without the factor both would get 2/3. */
static void test_gavel_maxmin_scale_factor(void **state)
{
	double c[1] = { 1.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	uint32_t per[1] = { 2 };
	uint16_t types[1] = { 0 };
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;
	double x1[1], x2[1];

	(void)state;
	fx_cluster(&cl, gpus, 1, per, types, 1);
	fx_job(&jobs[0], 1, 1, 1, 1000000, c, 1, 0);
	fx_job(&jobs[1], 2, 1, 2, 1000000, c, 1, 0);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gavel", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_int_equal(policy_gavel_share(p, 1, x1, 1), 0);
	assert_int_equal(policy_gavel_share(p, 2, x2, 1), 0);
	assert_true(fabs(x1[0] - 1.0) < 1e-6);
	assert_true(fabs(x2[0] - 0.5) < 1e-6);
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

static void test_gavel_extends_leases(void **state)
{
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	struct sched_job jobs[2];
	struct lease_store ls;
	struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;
	uint32_t g0, g1;

	(void)state;
	gavel_pair(&cl, gpus, jobs);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gavel", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	g0 = first_gpu(&plan, 0);
	g1 = first_gpu(&plan, 1);
	for (int round = 1; round <= 3; round++) {
		double next = plan.replan_at_s;

		assert_true(fabs(next - 360.0 * round) < 1e-6);
		apply_plan(jobs, 2, &plan, &ls, snap.now_s);
		advance(jobs, 2, snap.now_s, next);
		snap.now_s = next;
		plan_ok(p, &snap, &plan);
		for (uint32_t i = 0; i < 2; i++) {
			assert_true(plan.assigns[i].run_now);
			assert_int_equal(plan.assigns[i].ngpus, 1);
			assert_int_equal(plan.tasks[plan.assigns[i].first], jobs[i].held_tasks[0]);
		}
		assert_int_equal(first_gpu(&plan, 0), g0);	/* same lease: no restart */
		assert_int_equal(first_gpu(&plan, 1), g1);
	}
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* One V100, one K80, jobs as fast as each other (2x slower on the K80),
 * weights 1 and 2: max-min gives the V100 to job 2 and the K80 to job 1,
 * and the simplex leaves each a share of about 1e-6 on the other type.
 * Gavel credits every job half a round on every type at an allocation, so
 * such a share has a priority of about 1e-6 x jobs and the leases go on;
 * before, a share never served ranked first (X x 1e9) and the jobs swapped
 * types every round, a restart each. */
static void test_gavel_roundoff_keeps_leases(void **state)
{
	double c[2] = { 100.0, 200.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	struct sched_job jobs[2];
	struct lease_store ls;
	struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;

	(void)state;
	vk_cluster(&cl, gpus);
	fx_job(&jobs[0], 1, 1, 1, 1000000, c, 2, 0);
	fx_job(&jobs[1], 2, 2, 1, 1000000, c, 2, 0);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gavel", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_int_equal(first_gpu(&plan, 0), 1);	/* K80 */
	assert_int_equal(first_gpu(&plan, 1), 0);	/* V100 to the heavier job */
	for (int round = 1; round <= 4; round++) {
		apply_plan(jobs, 2, &plan, &ls, snap.now_s);
		advance(jobs, 2, snap.now_s, plan.replan_at_s);
		snap.now_s = plan.replan_at_s;
		plan_ok(p, &snap, &plan);
		assert_int_equal(first_gpu(&plan, 0), 1);
		assert_int_equal(first_gpu(&plan, 1), 0);
	}
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* Two jobs, one GPU: the rounds alternate between them. */
static void test_gavel_rounds_share(void **state)
{
	double c[1] = { 1.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[1];
	uint32_t per[1] = { 1 }, ran[2] = { 0, 0 };
	uint16_t types[1] = { 0 };
	struct sched_job jobs[2];
	struct lease_store ls;
	struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;

	(void)state;
	fx_cluster(&cl, gpus, 1, per, types, 1);
	fx_job(&jobs[0], 1, 1, 1, 1000000, c, 1, 0);
	fx_job(&jobs[1], 2, 1, 1, 1000000, c, 1, 0);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gavel", NULL, &p), 0);
	for (int round = 0; round < 6; round++) {
		plan_ok(p, &snap, &plan);
		assert_true(plan.assigns[0].run_now != plan.assigns[1].run_now);
		ran[plan.assigns[0].run_now ? 0 : 1]++;
		apply_plan(jobs, 2, &plan, &ls, snap.now_s);
		advance(jobs, 2, snap.now_s, plan.replan_at_s);
		snap.now_s = plan.replan_at_s;
	}
	assert_int_equal(ran[0], 3);
	assert_int_equal(ran[1], 3);
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* Random clusters and jobs: X >= 0, each row sums to <= 1 and each type's
 * width-weighted column sum stays within its GPU count. */
static void test_gavel_lp_feasible(void **state)
{
	struct sched_cluster cl;
	struct sched_gpu gpus[64];
	uint32_t per[6] = { 8, 8, 4, 4, 8, 8 };
	uint16_t types[6] = { 0, 1, 2, 3, 0, 2 };
	uint32_t count[4] = { 16, 8, 12, 4 };
	struct sched_job jobs[40];

	(void)state;
	srand(11);
	fx_cluster(&cl, gpus, 6, per, types, 4);
	for (int iter = 0; iter < 20; iter++) {
		uint32_t n = 1 + rand() % 40;
		struct sched_snapshot snap = { .now_s = 5, .cluster = &cl, .njobs = n, .jobs = jobs };

		for (uint32_t i = 0; i < n; i++) {
			double comp[4];

			for (int t = 0; t < 4; t++)
				comp[t] = rand() % 8 == 0 ? 0 : 0.05 + (rand() % 100) / 40.0;
			comp[rand() % 4] = 0.5;
			fx_job(&jobs[i], i + 1, 1 << (rand() % 4), 1u << (rand() % 4), 100 + rand() % 1000,
			       comp, 4, 0.02);
		}
		for (int k = 1; k <= 2; k++) {
			struct sched_policy *p;
			struct sched_plan plan;
			double col[4] = { 0 };

			sched_plan_init(&plan);
			assert_int_equal(sched_policy_new(baseline_names[k], NULL, &p), 0);
			plan_ok(p, &snap, &plan);
			for (uint32_t i = 0; i < n; i++) {
				double x[4], row = 0;
				uint32_t w = policy_requested_width(&jobs[i]);

				assert_int_equal(policy_gavel_share(p, jobs[i].id, x, 4), 0);
				for (int t = 0; t < 4; t++) {
					assert_true(x[t] >= 0);
					if (jobs[i].perf.compute_s[t] <= 0 || count[t] < w)
						assert_true(x[t] == 0);
					row += x[t];
					col[t] += w * x[t];
				}
				assert_true(row <= 1 + 1e-6);
			}
			for (int t = 0; t < 4; t++)
				assert_true(col[t] <= count[t] + 1e-6);
			sched_policy_free(p);
			sched_plan_destroy(&plan);
		}
	}
}

/* ---- allox ---- */

static double brute_best;

static void brute(const double *cost, uint32_t n, uint32_t m, uint32_t row, uint8_t *used, double sum)
{
	if (sum >= brute_best)
		return;
	if (row == n) {
		brute_best = sum;
		return;
	}
	for (uint32_t c = 0; c < m; c++) {
		if (used[c])
			continue;
		used[c] = 1;
		brute(cost, n, m, row + 1, used, sum + cost[row * m + c]);
		used[c] = 0;
	}
}

/* AlloX's matrices (2 types, position q from last costs q x time) and plain
 * random ones: the Hungarian optimum equals the brute-force optimum. */
static void test_allox_matching_optimal(void **state)
{
	double cost[6 * 12];
	uint32_t col_of[6];
	uint8_t used[12];

	(void)state;
	srand(3);
	for (int iter = 0; iter < 60; iter++) {
		uint32_t n = 1 + rand() % 6, m = 2 * n;
		double total, check = 0;

		/* Odd: AlloX's form, column (q - 1) * 2 + t, q x time (a type a
		 * job cannot use costs a big constant); even: any costs. */
		for (uint32_t i = 0; i < n; i++) {
			for (uint32_t t = 0; t < 2; t++) {
				double p = rand() % 8 ? 1 + rand() % 50 : -1;

				for (uint32_t q = 1; q <= n; q++)
					cost[i * m + (q - 1) * 2 + t] = iter % 2 ? (p > 0 ? q * p : 1e4)
										 : rand() % 100;
			}
		}
		assert_int_equal(policy_hungarian(cost, n, m, iter % 2 ? 2 : 0, col_of, &total), 0);
		memset(used, 0, sizeof(used));
		for (uint32_t i = 0; i < n; i++) {
			assert_true(col_of[i] < m);
			assert_false(used[col_of[i]]);
			used[col_of[i]] = 1;
			check += cost[i * m + col_of[i]];
		}
		assert_true(fabs(check - total) < 1e-9);
		brute_best = INFINITY;
		memset(used, 0, sizeof(used));
		brute(cost, n, m, 0, used, 0);
		assert_true(fabs(total - brute_best) < 1e-9);
	}
	cost[0] = 2;
	cost[1] = 1;
	cost[2] = 1;
	cost[3] = 5;
	assert_int_equal(policy_hungarian(cost, 2, 2, 0, col_of, &brute_best), 0);
	assert_true(brute_best == 2);
	assert_int_equal(policy_hungarian(cost, 1, 2, 1, col_of, &brute_best), -EINVAL);	/* not ordered */
	cost[0] = INFINITY;
	assert_int_equal(policy_hungarian(cost, 1, 2, 0, col_of, &brute_best), -EINVAL);
	assert_int_equal(policy_hungarian(cost, 3, 2, 0, col_of, &brute_best), -EINVAL);
}

/* Job 1 is 10x slower on the K80, job 2 only 1.5x: the matching sends
 * job 1 to the V100 and job 2 to the K80, both at once; a running job is
 * never preempted. */
static void test_allox_types(void **state)
{
	double c1[2] = { 1.0, 10.0 }, c2[2] = { 1.0, 1.5 };
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	struct sched_job jobs[3];
	struct lease_store ls;
	struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;

	(void)state;
	vk_cluster(&cl, gpus);
	fx_job(&jobs[0], 1, 1, 1, 100, c1, 2, 0);
	fx_job(&jobs[1], 2, 1, 1, 100, c2, 2, 0);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("allox", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	assert_int_equal(first_gpu(&plan, 0), 0);
	assert_int_equal(first_gpu(&plan, 1), 1);
	/* A short job arrives: it waits for a GPU, nobody is preempted. */
	apply_plan(jobs, 2, &plan, &ls, 0);
	fx_job(&jobs[2], 3, 1, 1, 1, c1, 2, 0);
	jobs[2].arrival_s = 5;
	snap.now_s = 5;
	snap.njobs = 3;
	plan_ok(p, &snap, &plan);
	assert_true(plan.assigns[0].run_now && plan.assigns[1].run_now);
	assert_false(plan.assigns[2].run_now);
	assert_int_equal(first_gpu(&plan, 0), 0);
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* AlloX matches the waiting jobs to the free GPUs only (Gavel's AlloX
 * counts a type's workers less those its allocated jobs hold): with the
 * V100 held by a running job, a waiting job twice as slow on the K80
 * starts there now (before: matched to the busy V100's pool, it waited). */
static void test_allox_free_gpus(void **state)
{
	double c[2] = { 1.0, 2.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[2];
	uint32_t g0 = 0;
	uint16_t one = 1;
	struct sched_job jobs[2];
	struct sched_snapshot snap = { .now_s = 10, .cluster = &cl, .njobs = 2, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;

	(void)state;
	vk_cluster(&cl, gpus);
	fx_job(&jobs[0], 1, 1, 1, 100, c, 2, 0);
	fx_job(&jobs[1], 2, 1, 1, 100, c, 2, 0);
	jobs[1].arrival_s = 5;
	run_job(&jobs[0], &g0, &one, 1, 0);
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("allox", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_true(plan.assigns[0].run_now);
	assert_int_equal(first_gpu(&plan, 0), 0);
	assert_true(plan.assigns[1].run_now);
	assert_int_equal(first_gpu(&plan, 1), 1);
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* ---- gandiva ---- */

/* Six 1-GPU jobs on four GPUs: 60 s quanta round-robin, every job runs
 * within two quanta, and a job that keeps its turn keeps its GPU. */
static void test_gandiva_time_slices(void **state)
{
	double c[1] = { 1.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[4];
	uint32_t per[1] = { 4 };
	uint16_t types[1] = { 0 };
	struct sched_job jobs[6];
	struct lease_store ls;
	struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = 6, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;
	uint32_t quanta[6] = { 0 };

	(void)state;
	fx_cluster(&cl, gpus, 1, per, types, 1);
	for (uint32_t i = 0; i < 6; i++) {
		fx_job(&jobs[i], i + 1, 1, 1, 1000000, c, 1, 0);
		jobs[i].arrival_s = i;
	}
	snap.now_s = 10;
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gandiva", NULL, &p), 0);
	for (int q = 0; q < 3; q++) {
		uint32_t running = 0;

		plan_ok(p, &snap, &plan);
		for (uint32_t i = 0; i < 6; i++) {
			if (!plan.assigns[i].run_now)
				continue;
			running++;
			quanta[i]++;
			if (jobs[i].nheld)	/* kept its turn: same GPU */
				assert_int_equal(first_gpu(&plan, i), jobs[i].held_gpus[0]);
		}
		assert_int_equal(running, 4);
		assert_true(fabs(plan.replan_at_s - (snap.now_s + 60)) < 1e-6);
		if (q == 1)
			for (uint32_t i = 0; i < 6; i++)
				assert_true(quanta[i] >= 1);
		apply_plan(jobs, 6, &plan, &ls, snap.now_s);
		advance(jobs, 6, snap.now_s, plan.replan_at_s);
		snap.now_s = plan.replan_at_s;
	}
	for (uint32_t i = 0; i < 6; i++)
		assert_int_equal(quanta[i], 2);	/* 12 turns, 6 jobs */
	/* Fewer jobs than GPUs: nothing to slice, no timer. */
	snap.njobs = 3;
	plan_ok(p, &snap, &plan);
	assert_true(isinf(plan.replan_at_s));
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* A 2-GPU job goes to the node whose job also has 2 GPUs. */
static void test_gandiva_affinity(void **state)
{
	double c[1] = { 1.0 };
	struct sched_cluster cl;
	struct sched_gpu gpus[8];
	uint32_t per[2] = { 4, 4 }, gx[2] = { 0, 1 }, gy[1] = { 4 };
	uint16_t types[2] = { 0, 0 }, tx[2] = { 1, 1 }, ty[1] = { 1 };
	struct sched_job jobs[3];
	struct sched_snapshot snap = { .now_s = 100, .cluster = &cl, .njobs = 3, .jobs = jobs };
	struct sched_policy *p;
	struct sched_plan plan;

	(void)state;
	fx_cluster(&cl, gpus, 2, per, types, 1);
	fx_job(&jobs[0], 1, 1, 2, 1000, c, 1, 0.1);
	fx_job(&jobs[1], 2, 1, 1, 1000, c, 1, 0.1);
	fx_job(&jobs[2], 3, 1, 2, 1000, c, 1, 0.1);
	run_job(&jobs[0], gx, tx, 2, 0);
	run_job(&jobs[1], gy, ty, 1, 0);
	jobs[2].arrival_s = 50;
	sched_plan_init(&plan);
	assert_int_equal(sched_policy_new("gandiva", NULL, &p), 0);
	plan_ok(p, &snap, &plan);
	assert_true(plan.assigns[2].run_now);
	assert_int_equal(plan.assigns[2].ngpus, 2);
	for (uint32_t g = 0; g < 2; g++)
		assert_int_equal(gpus[plan.gpus[plan.assigns[2].first + g]].node, 0);
	assert_true(isinf(plan.replan_at_s));
	sched_policy_free(p);
	sched_plan_destroy(&plan);
}

/* ---- all baselines ---- */

/* Random snapshots re-planned over time (service advancing, a GPU going
 * down, jobs finishing): every plan passes sched_plan_check and every
 * policy keeps some job running while jobs wait. */
static void test_random_replans_valid(void **state)
{
	struct sched_cluster cl;
	struct sched_gpu gpus[40];
	uint32_t per[6] = { 8, 8, 4, 4, 8, 8 };
	uint16_t types[6] = { 0, 1, 2, 3, 0, 2 };
	struct sched_job jobs[40];
	struct lease_store ls;
	struct sched_plan plan;

	(void)state;
	srand(7);
	fx_cluster(&cl, gpus, 6, per, types, 4);
	sched_plan_init(&plan);
	for (int iter = 0; iter < 30; iter++) {
		uint32_t n = 1 + rand() % 40;

		for (size_t k = 0; k < NBASELINES; k++) {
			struct sched_snapshot snap = { .now_s = 0, .cluster = &cl, .njobs = n, .jobs = jobs };
			struct sched_policy *p;

			srand(1000 + iter);
			for (uint32_t i = 0; i < n; i++) {
				double comp[4];

				for (int t = 0; t < 4; t++)
					comp[t] = rand() % 10 == 0 ? 0 : 0.1 + (rand() % 100) / 50.0;
				comp[0] = 0.1;
				fx_job(&jobs[i], i + 1, 1 << (rand() % 4), 1u << (rand() % 4), 1 + rand() % 1000,
				       comp, 4, 0.05);
				jobs[i].arrival_s = rand() % 100;
				jobs[i].min_gpus = 1 + rand() % jobs[i].tasks;
			}
			for (uint32_t g = 0; g < cl.ngpus; g++)
				gpus[g].up = true;
			assert_int_equal(sched_policy_new(baseline_names[k], NULL, &p), 0);
			for (int round = 0; round < 8; round++) {
				double next;
				uint32_t running = 0;

				plan_ok(p, &snap, &plan);
				for (uint32_t i = 0; i < snap.njobs; i++)
					running += plan.assigns[i].run_now;
				assert_true(running > 0);
				apply_plan(jobs, snap.njobs, &plan, &ls, snap.now_s);
				next = snap.now_s + 1 + rand() % 400;
				if (isfinite(plan.replan_at_s) && plan.replan_at_s < next)
					next = plan.replan_at_s;
				assert_true(next > snap.now_s);
				advance(jobs, snap.njobs, snap.now_s, next);
				snap.now_s = next;
				if (round == 3)
					gpus[rand() % cl.ngpus].up = false;
				if (round == 5 && snap.njobs > 1) {
					sched_policy_forget(p, jobs[snap.njobs - 1].id);
					snap.njobs--;
				}
			}
			sched_policy_free(p);
		}
	}
	sched_plan_destroy(&plan);
}

/* ---- fifo-backfill ---- */

/* EASY backfilling on 4 V100s (node 0) and 2 T4s (node 1). A runs on
 * V100s 0-2 until t=100; H, next in line, needs 4 V100s: fifo stops there,
 * fifo-backfill reserves V100s 0-3 for it at t=100. Of the jobs behind H,
 * C (500 s on a V100) may not take the free V100 3 (H would start late)
 * but takes a T4, which H cannot use, for as long as it needs; B (50 s,
 * V100s only) takes V100 3, as it ends before t=100; D (as B) finds
 * nothing left it may take, E (2 V100s) neither. */
static void test_fifo_backfill(void **state)
{
	static const uint32_t per[2] = { 4, 2 };
	static const uint16_t types[2] = { 0, 1 };
	static const double v100[2] = { 1.0, 0 }, any[2] = { 1.0, 2.0 };
	static struct sched_gpu gpus[6];
	uint32_t held[3] = { 0, 1, 2 };
	uint16_t held_tasks[3] = { 1, 1, 1 };
	struct sched_cluster c;
	struct sched_job jobs[6];
	struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 6, .jobs = jobs };
	const char *const names[2] = { "fifo", "fifo-backfill" };

	(void)state;
	fx_cluster(&c, gpus, 2, per, types, 2);
	fx_job(&jobs[0], 1, 1, 3, 100, v100, 2, 0);	/* A */
	run_job(&jobs[0], held, held_tasks, 3, 0);
	fx_job(&jobs[1], 2, 1, 4, 10, v100, 2, 0);	/* H */
	jobs[1].min_gpus = 4;
	jobs[1].arrival_s = 1;
	fx_job(&jobs[2], 3, 1, 1, 500, any, 2, 0);	/* C: 500 s on a V100, 1000 on a T4 */
	jobs[2].arrival_s = 2;
	fx_job(&jobs[3], 4, 1, 1, 50, v100, 2, 0);	/* B: 50 s on a V100 */
	jobs[3].arrival_s = 3;
	fx_job(&jobs[4], 5, 1, 1, 50, v100, 2, 0);	/* D: as B */
	jobs[4].arrival_s = 4;
	fx_job(&jobs[5], 6, 1, 2, 30, v100, 2, 0);	/* E: 2 V100s: none free */
	jobs[5].arrival_s = 5;
	for (int k = 0; k < 2; k++) {
		struct sched_policy *pol = NULL;
		struct sched_plan plan;
		const struct sched_assign *a = plan.assigns;

		sched_plan_init(&plan);
		assert_int_equal(sched_policy_new(names[k], NULL, &pol), 0);
		plan_ok(pol, &snap, &plan);
		a = plan.assigns;
		assert_true(a[0].run_now && a[0].ngpus == 3);
		assert_false(a[1].run_now);
		if (k == 0) {
			/* strict head of line: nothing behind H */
			for (int i = 2; i < 6; i++)
				assert_false(plan.assigns[i].run_now);
		} else {
			assert_int_equal(a[1].ngpus, 4);
			assert_true(fabs(a[1].start_s - 100) < 1e-6);
			for (uint32_t g = 0; g < 4; g++)
				assert_int_equal(gpus[plan.gpus[a[1].first + g]].type, 0);
			assert_true(a[2].run_now && a[2].ngpus == 1);
			assert_int_equal(gpus[first_gpu(&plan, 2)].type, 1);
			assert_true(a[3].run_now && a[3].ngpus == 1);
			assert_int_equal(first_gpu(&plan, 3), 3);
			assert_true(a[3].finish_s <= 100);
			assert_false(a[4].run_now);
			assert_false(a[5].run_now);
		}
		sched_plan_destroy(&plan);
		sched_policy_free(pol);
	}
}

/* fifo-backfill keeps the head's GPUs from long jobs in two harder cases
 * (two nodes of two GPUs: g0, g1 on node 0, g2, g3 on node 1). A: the
 * head H and the jobs behind it avoid node 0; R runs on g2 until t=100, so
 * H is reserved g2 and g3 from t=100: J (500 s) may not take g3, nor go to
 * node 0 (it can run on node 1 once it is free), while K (50 s) takes g3.
 * B: g2 and g3 are down; X runs on g0 until t=50, R1 on g2 (down) is moved
 * and becomes the head, reserved g0 and g1 from t=80, when R2, on g1 and
 * g3 (down), would end: R2's g1 is the head's, lent, not free to all, so
 * J (1000 s) does not start on it. C: a job that can never be planned is
 * not the head; the next one is. */
static void test_fifo_backfill_reserved(void **state)
{
	static const uint32_t per[2] = { 2, 2 };
	static const uint16_t types[2] = { 0, 0 };
	static const double one[1] = { 1.0 };
	static struct sched_gpu gpus[4];
	uint32_t node0 = 0, r_gpu = 2, x_gpu = 0, r1_gpu = 2, r2_gpus[2] = { 1, 3 };
	uint16_t t1 = 1, t2 = 2, r2_tasks[2] = { 1, 1 };
	struct sched_cluster c;
	struct sched_job jobs[4];
	struct sched_policy *pol = NULL;
	struct sched_plan plan;
	const struct sched_assign *a;

	(void)state;
	assert_int_equal(sched_policy_new("fifo-backfill", NULL, &pol), 0);
	/* A */
	fx_cluster(&c, gpus, 2, per, types, 1);
	fx_job(&jobs[0], 1, 1, 1, 100, one, 1, 0);	/* R */
	run_job(&jobs[0], &r_gpu, &t1, 1, 0);
	fx_job(&jobs[1], 2, 1, 2, 10, one, 1, 0);	/* H */
	jobs[1].min_gpus = 2;
	fx_job(&jobs[2], 3, 1, 1, 500, one, 1, 0);	/* J */
	fx_job(&jobs[3], 4, 1, 1, 50, one, 1, 0);	/* K */
	for (int i = 1; i < 4; i++) {
		jobs[i].arrival_s = i;
		jobs[i].navoid = 1;
		jobs[i].avoid_nodes = &node0;
	}
	{
		struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 4, .jobs = jobs };

		sched_plan_init(&plan);
		plan_ok(pol, &snap, &plan);
		a = plan.assigns;
		assert_true(a[0].run_now && !a[1].run_now && a[1].ngpus == 2);
		assert_true(fabs(a[1].start_s - 100) < 1e-6);
		assert_false(a[2].run_now);
		assert_true(a[3].run_now && first_gpu(&plan, 3) == 3 && a[3].finish_s <= 100);
		sched_plan_destroy(&plan);
	}
	/* B */
	gpus[2].up = gpus[3].up = false;
	fx_job(&jobs[0], 1, 1, 1, 50, one, 1, 0);	/* X */
	run_job(&jobs[0], &x_gpu, &t1, 1, 0);
	fx_job(&jobs[1], 2, 1, 2, 100, one, 1, 0);	/* R1 */
	run_job(&jobs[1], &r1_gpu, &t2, 1, 0);
	jobs[1].arrival_s = 1;
	fx_job(&jobs[2], 3, 1, 2, 80, one, 1, 0);	/* R2 */
	jobs[2].min_gpus = 2;
	run_job(&jobs[2], r2_gpus, r2_tasks, 2, 0);
	jobs[2].arrival_s = 2;
	fx_job(&jobs[3], 4, 1, 1, 1000, one, 1, 0);	/* J */
	jobs[3].arrival_s = 3;
	{
		struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 4, .jobs = jobs };

		sched_plan_init(&plan);
		plan_ok(pol, &snap, &plan);
		a = plan.assigns;
		assert_true(a[0].run_now);
		assert_false(a[1].run_now);
		assert_false(a[3].run_now);
		for (uint32_t i = 0; i < 4; i++)
			for (uint32_t k = 0; a[i].run_now && i != 0 && k < a[i].ngpus; k++)
				assert_true(a[i].finish_s <= a[1].start_s + 1e-6);
		sched_plan_destroy(&plan);
	}
	/* C: node 0 only (g2, g3 down). W needs 4 GPUs and can never be
	 * planned; the head is H (2 GPUs), reserved g0 and g1 from t=50, when
	 * X ends: J (1000 s) does not take g1 */
	fx_job(&jobs[1], 2, 1, 4, 10, one, 1, 0);	/* W */
	jobs[1].min_gpus = 4;
	jobs[1].arrival_s = 1;
	fx_job(&jobs[2], 3, 1, 2, 10, one, 1, 0);	/* H */
	jobs[2].min_gpus = 2;
	jobs[2].arrival_s = 2;
	{
		struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 4, .jobs = jobs };

		sched_plan_init(&plan);
		plan_ok(pol, &snap, &plan);
		a = plan.assigns;
		assert_true(a[0].run_now && a[1].ngpus == 0 && !a[2].run_now && a[2].ngpus == 2);
		assert_true(fabs(a[2].start_s - 50) < 1e-6);
		assert_false(a[3].run_now);
		sched_plan_destroy(&plan);
	}
	sched_policy_free(pol);
}

/* fifo-backfill's reservation on 2000 random small clusters (GPUs down,
 * running jobs, some on down GPUs, jobs avoiding a node): every plan is
 * valid, has one waiting job with a projected start at most (the head), and
 * every job that starts now on a GPU of the head's ends by its start. */
static void test_fifo_backfill_random(void **state)
{
	static struct sched_gpu gpus[16];
	static struct sched_job jobs[10];
	static uint32_t held[10][4], avoid[10];
	static uint16_t htasks[10][4];
	struct sched_cluster c;
	struct sched_policy *pol = NULL;
	struct sched_plan plan;
	uint32_t heads = 0, backfilled = 0;

	(void)state;
	srand(11);
	assert_int_equal(sched_policy_new("fifo-backfill", NULL, &pol), 0);
	sched_plan_init(&plan);
	for (int iter = 0; iter < 2000; iter++) {
		uint32_t per[4], nn = 1 + rand() % 4, nj = 2 + rand() % 9;
		uint16_t types[4];
		uint8_t owned[16] = { 0 };
		struct sched_snapshot snap = { .now_s = 100, .cluster = &c, .njobs = nj, .jobs = jobs };
		int head = -1;

		for (uint32_t n = 0; n < nn; n++) {
			per[n] = 1 + rand() % 4;
			types[n] = (uint16_t)(rand() % 2);
		}
		fx_cluster(&c, gpus, nn, per, types, 2);
		for (uint32_t g = 0; g < c.ngpus; g++)
			gpus[g].up = rand() % 8 != 0;
		for (uint32_t i = 0; i < nj; i++) {
			double comp[2] = { rand() % 4 ? 0.5 + rand() % 20 / 4.0 : 0, 0.5 + rand() % 20 / 4.0 };
			struct sched_job *j = &jobs[i];

			fx_job(j, i + 1, 1, 1 + rand() % 6, 1 + rand() % 200, comp, 2, 0.1 * (rand() % 3));
			j->max_gpus = 1 + rand() % j->tasks;
			j->min_gpus = 1 + rand() % j->max_gpus;
			j->arrival_s = rand() % 100;
			if (rand() % 3 == 0) {
				uint32_t want = 1 + rand() % 3, k = 0;

				for (int tries = 0; tries < 40 && k < want; tries++) {
					uint32_t g = rand() % c.ngpus;

					if (!owned[g]) {
						owned[g] = 1;
						held[i][k] = g;
						htasks[i][k++] = 1;
					}
				}
				if (k) {
					j->tasks = j->max_gpus = k;
					j->min_gpus = 1;
					j->perf.compute_s[0] = j->perf.compute_s[1] = 1.0;
					run_job(j, held[i], htasks[i], k, rand() % 100);
					j->rounds_done = rand() % j->rounds_total;
				}
			} else if (rand() % 3 == 0) {
				avoid[i] = rand() % nn;
				j->navoid = 1;
				j->avoid_nodes = &avoid[i];
			}
		}
		plan_ok(pol, &snap, &plan);
		for (uint32_t i = 0; i < nj; i++) {
			const struct sched_assign *a = &plan.assigns[i];

			if (a->ngpus && !a->run_now && isfinite(a->start_s)) {
				if (head >= 0)
					fail_msg("case %d: jobs %d and %u both wait with a start", iter, head, i);
				head = (int)i;
			}
		}
		if (head < 0)
			continue;
		heads++;
		for (uint32_t i = 0; i < nj; i++) {
			const struct sched_assign *a = &plan.assigns[i], *h = &plan.assigns[head];
			bool on_head = false;

			for (uint32_t k = 0; a->run_now && k < a->ngpus; k++)
				for (uint32_t q = 0; q < h->ngpus; q++)
					on_head |= plan.tasks[a->first + k] &&
						   plan.gpus[a->first + k] == plan.gpus[h->first + q];
			if (on_head && a->finish_s > h->start_s + 1e-6 * fmax(1.0, h->start_s))
				fail_msg("case %d: job %u ends at %.3f on a GPU of the head's, reserved "
					 "from %.3f", iter, i, a->finish_s, h->start_s);
			backfilled += on_head;
		}
	}
	/* the check had cases to check */
	assert_true(heads > 200 && backfilled > 20);
	sched_plan_destroy(&plan);
	sched_policy_free(pol);
}

/* Type-blind policies take equally free nodes in sched_node_tiebreak's
 * order, not the cluster's: on 32 V100 nodes listed before 32 K80 nodes
 * (one GPU each), 16 one-GPU jobs land on both types, not all on the
 * types listed first or last. */
static void test_blind_type_mix(void **state)
{
	static const char *const blind[] = { "fifo", "fifo-backfill", "srtf", "optimus", "tiresias",
					     "gandiva" };
	static struct sched_gpu gpus[64];
	struct sched_cluster c;
	struct sched_job jobs[16];
	uint32_t per[64];
	uint16_t types[64];
	double compute[2] = { 1.0, 3.0 };

	(void)state;
	for (uint32_t n = 0; n < 64; n++) {
		per[n] = 1;
		types[n] = n < 32 ? 0 : 1;
	}
	fx_cluster(&c, gpus, 64, per, types, 2);
	for (uint32_t i = 0; i < 16; i++)
		fx_job(&jobs[i], i + 1, 1, 1, 100, compute, 2, 0);
	for (size_t p = 0; p < sizeof(blind) / sizeof(blind[0]); p++) {
		struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 16, .jobs = jobs };
		struct sched_policy *pol = NULL;
		struct sched_plan plan;
		uint32_t fast = 0, placed = 0;

		sched_plan_init(&plan);
		assert_int_equal(sched_policy_new(blind[p], NULL, &pol), 0);
		assert_int_equal(sched_policy_plan(pol, &snap, &plan), 0);
		for (uint32_t i = 0; i < 16; i++) {
			const struct sched_assign *a = &plan.assigns[i];

			for (uint32_t k = 0; a->run_now && k < a->ngpus; k++) {
				placed++;
				fast += gpus[plan.gpus[a->first + k]].type == 0;
			}
		}
		if (placed != 16 || fast < 4 || fast > 12)
			fail_msg("%s: %u of %u jobs on the V100s listed first", blind[p], fast, placed);
		sched_plan_destroy(&plan);
		sched_policy_free(pol);
	}
}

/* A job that may use V100s and K80s and needs 5 GPUs at once, on 2 V100s,
 * 2 T4s and 4 K80s: no type it may use has 5, so the type-blind policies
 * pool its types (never the T4s), now when they are free and later when
 * K80s are held; where one type has its width they keep to one type. The
 * one-type policies (gavel, gavel-tput, allox) say so: they never run it
 * (the simulator refuses such a job up front, sim_engine_check). */
static void test_blind_pooled_types(void **state)
{
	static const char *const blind[] = { "fifo", "fifo-backfill", "srtf", "optimus", "tiresias",
					     "gandiva" };
	static const uint32_t per[4] = { 2, 1, 1, 4 };
	static const uint16_t types[4] = { 0, 1, 1, 2 };
	static const double vk[3] = { 0.2, 0, 1.3 }, k80[3] = { 0, 0, 1.3 };
	static struct sched_gpu gpus[8];
	uint32_t held[4] = { 4, 5, 6, 7 };
	uint16_t held_tasks[4] = { 1, 1, 1, 1 };
	const char *const *names = sched_policy_names();
	struct sched_cluster c;
	struct sched_job jobs[2];

	(void)state;
	fx_cluster(&c, gpus, 4, per, types, 3);
	fx_job(&jobs[0], 1, 1, 5, 100, vk, 3, 0.1);
	jobs[0].min_gpus = 5;
	fx_job(&jobs[1], 2, 1, 4, 1000, k80, 3, 0.1);
	for (size_t p = 0; p < sizeof(blind) / sizeof(blind[0]); p++) {
		struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 1, .jobs = jobs };
		struct sched_policy *pol = NULL;
		struct sched_plan plan;
		const struct sched_assign *a;
		uint32_t ntypes[3] = { 0 };

		sched_plan_init(&plan);
		assert_int_equal(sched_policy_new(blind[p], NULL, &pol), 0);
		plan_ok(pol, &snap, &plan);
		a = &plan.assigns[0];
		for (uint32_t k = 0; k < a->ngpus; k++)
			ntypes[gpus[plan.gpus[a->first + k]].type]++;
		if (!a->run_now || a->ngpus != 5 || ntypes[1] != 0 || ntypes[0] == 0 || ntypes[2] == 0)
			fail_msg("%s: %u GPUs (%u V100, %u T4, %u K80), run_now %d", blind[p], a->ngpus,
				 ntypes[0], ntypes[1], ntypes[2], a->run_now);
		/* the K80s held by a job placed before it: on 5 GPUs or none, never
		 * a T4; fifo projects it onto the K80s when they free up, though
		 * the T4s are free now */
		run_job(&jobs[1], held, held_tasks, 4, 0);
		snap.now_s = 10;
		snap.njobs = 2;
		plan_ok(pol, &snap, &plan);
		a = &plan.assigns[0];
		assert_true(a->ngpus == 0 || a->ngpus == 5);
		for (uint32_t k = 0; k < a->ngpus; k++)
			assert_int_not_equal(gpus[plan.gpus[a->first + k]].type, 1);
		if (strcmp(blind[p], "fifo") == 0)
			assert_true(!a->run_now && a->ngpus == 5 && a->start_s > 10 &&
				    isfinite(a->start_s));
		jobs[1].nheld = 0;
		jobs[1].first_start_s = -1;
		sched_plan_destroy(&plan);
		sched_policy_free(pol);
	}
	/* 2 tasks: the V100s (or K80s) alone hold it, so it keeps to one type */
	jobs[0].tasks = jobs[0].min_gpus = jobs[0].max_gpus = 2;
	for (size_t p = 0; p < sizeof(blind) / sizeof(blind[0]); p++) {
		struct sched_snapshot snap = { .now_s = 0, .cluster = &c, .njobs = 1, .jobs = jobs };
		struct sched_policy *pol = NULL;
		struct sched_plan plan;
		const struct sched_assign *a;

		sched_plan_init(&plan);
		assert_int_equal(sched_policy_new(blind[p], NULL, &pol), 0);
		plan_ok(pol, &snap, &plan);
		a = &plan.assigns[0];
		assert_true(a->run_now && a->ngpus == 2);
		assert_int_equal(gpus[plan.gpus[a->first]].type, gpus[plan.gpus[a->first + 1]].type);
		sched_plan_destroy(&plan);
		sched_policy_free(pol);
	}
	for (size_t i = 0; names[i]; i++) {
		struct sched_policy *pol = NULL;
		bool one = strcmp(names[i], "gavel") == 0 || strcmp(names[i], "gavel-tput") == 0 ||
			   strcmp(names[i], "allox") == 0;

		assert_int_equal(sched_policy_new(names[i], NULL, &pol), 0);
		assert_int_equal(sched_policy_one_type(pol), one);
		sched_policy_free(pol);
	}
}

static void test_registry_names(void **state)
{
	(void)state;
	for (size_t k = 0; k < NBASELINES; k++) {
		struct sched_policy *p;

		assert_int_equal(sched_policy_new(baseline_names[k], NULL, &p), 0);
		assert_string_equal(sched_policy_name(p), baseline_names[k]);
		sched_policy_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_names),
		cmocka_unit_test(test_las_preempts_most_attained),
		cmocka_unit_test(test_las_threshold_demotes),
		cmocka_unit_test(test_las_wake_from_plan),
		cmocka_unit_test(test_las_starvation_guard),
		cmocka_unit_test(test_las_three_queues),
		cmocka_unit_test(test_las_starvation_cumulative),
		cmocka_unit_test(test_las_promoted_queues_last),
		cmocka_unit_test(test_las_returning_job_last),
		cmocka_unit_test(test_gavel_maxmin_types),
		cmocka_unit_test(test_gavel_maxmin_scale_factor),
		cmocka_unit_test(test_gavel_extends_leases),
		cmocka_unit_test(test_gavel_rounds_share),
		cmocka_unit_test(test_gavel_roundoff_keeps_leases),
		cmocka_unit_test(test_gavel_lp_feasible),
		cmocka_unit_test(test_allox_matching_optimal),
		cmocka_unit_test(test_allox_types),
		cmocka_unit_test(test_allox_free_gpus),
		cmocka_unit_test(test_gandiva_time_slices),
		cmocka_unit_test(test_gandiva_affinity),
		cmocka_unit_test(test_fifo_backfill),
		cmocka_unit_test(test_fifo_backfill_reserved),
		cmocka_unit_test(test_fifo_backfill_random),
		cmocka_unit_test(test_random_replans_valid),
		cmocka_unit_test(test_blind_type_mix),
		cmocka_unit_test(test_blind_pooled_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
