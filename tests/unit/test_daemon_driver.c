/* SPDX-License-Identifier: MIT */
/* Unit tests for hared's scheduling driver, fed a fake cluster (agents
 * registered by hand), jobs and hand-made plans: the TaskStart/TaskStop
 * outbox and lease bookkeeping, progress as the minimum over ranks,
 * failures and retries, node loss, and adoption after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "err.h"
#include "log.h"
#include "profile.h"
#include "report.h"

#define OUTBOX_MAX 512

struct outbox {
	uint32_t n;
	uint32_t agent[OUTBOX_MAX];
	Hare__FromDaemon *msg[OUTBOX_MAX];
};

struct fx {
	uv_loop_t loop;
	struct profile *prof;
	struct driver *d;
	struct outbox ob;
};

/* driver_send_cb: keep a decoded copy of every message. */
static int ob_send(void *user, uint32_t agent_id, const Hare__FromDaemon *m)
{
	struct outbox *ob = user;
	size_t len = hare__from_daemon__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);

	assert_non_null(buf);
	assert_true(ob->n < OUTBOX_MAX);
	hare__from_daemon__pack(m, buf);
	ob->msg[ob->n] = hare__from_daemon__unpack(NULL, len, buf);
	assert_non_null(ob->msg[ob->n]);
	ob->agent[ob->n++] = agent_id;
	free(buf);
	return 0;
}

/* The reason of the last TaskStop sent to agent (NULL: none). */
static const char *ob_stop_reason(const struct outbox *ob, uint32_t agent)
{
	const char *reason = NULL;

	for (uint32_t i = 0; i < ob->n; i++)
		if (ob->agent[i] == agent && ob->msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP)
			reason = ob->msg[i]->task_stop->reason;
	return reason;
}

static void ob_clear(struct outbox *ob)
{
	for (uint32_t i = 0; i < ob->n; i++)
		hare__from_daemon__free_unpacked(ob->msg[i], NULL);
	ob->n = 0;
}

/* Messages of a case sent to agent (0: any) about job (0: any). */
static uint32_t ob_count(const struct outbox *ob, int msg_case, uint32_t agent, uint64_t job)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ob->n; i++) {
		const Hare__FromDaemon *m = ob->msg[i];
		uint64_t id = m->msg_case == HARE__FROM_DAEMON__MSG_TASK_START ? m->task_start->job_id :
			      m->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP ? m->task_stop->job_id : 0;

		if ((int)m->msg_case == msg_case && (!agent || ob->agent[i] == agent) &&
		    (!job || id == job))
			n++;
	}
	return n;
}

static struct driver_opts fx_opts(double grace_s, double finish_s, double retry_s, double avoid_s)
{
	struct driver_opts o = { .policy = "hare", .time_scale = 1000, .replan_debounce_ms = 10,
				 .reconnect_grace_s = grace_s, .stop_grace_s = 2,
				 .max_retries = retry_s > 0 || avoid_s > 0 ? 3 : 1, .finish_grace_s = finish_s,
				 .retry_backoff_s = retry_s, .failed_node_avoid_s = avoid_s };

	return o;
}

static int fx_setup_o(void **state, const struct driver_opts *o)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	log_level_set("warn");	/* the driver logs every start and stop at info */
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(profile_load(HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR, &f->prof, err,
				      sizeof(err)), 0);
	assert_int_equal(driver_new(&f->loop, o, f->prof, NULL, ob_send, &f->ob, &f->d, err,
				    sizeof(err)), 0);
	*state = f;
	return 0;
}

static int fx_setup_opts4(void **state, double grace_s, double finish_s, double retry_s,
			  double avoid_s)
{
	struct driver_opts o = fx_opts(grace_s, finish_s, retry_s, avoid_s);

	return fx_setup_o(state, &o);
}

/* A node is quarantined once workers of 3 jobs of 2 users failed there,
 * one node at most; a failure ends a job (max_retries 0). */
static int fx_setup_quarantine(void **state)
{
	struct driver_opts o = fx_opts(0, 0, 0, 0);

	o.max_retries = 0;
	o.quarantine_jobs = 3;
	o.quarantine_users = 2;
	o.quarantine_max_nodes = 1;
	return fx_setup_o(state, &o);
}

/* A node whose health check turned failing 3 times within the hour is
 * quarantined, one node at most. */
static int fx_setup_health_quarantine(void **state)
{
	struct driver_opts o = fx_opts(0, 0, 0, 0);

	o.quarantine_health_fails = 3;
	o.quarantine_max_nodes = 1;
	return fx_setup_o(state, &o);
}

/* A failed job avoids the node charged for 600 s, and is retried 3 times. */
static int fx_setup_blame(void **state)
{
	struct driver_opts o = fx_opts(0, 0, 0, 600);

	return fx_setup_o(state, &o);
}

/* Leases are protected for 300 profile seconds: 0.3 s of wall time. */
static int fx_setup_lease(void **state)
{
	struct driver_opts o = fx_opts(0, 0, 0, 0);

	o.min_lease_s = 300;
	return fx_setup_o(state, &o);
}

static int fx_setup_opts3(void **state, double grace_s, double finish_s, double retry_s)
{
	return fx_setup_opts4(state, grace_s, finish_s, retry_s, 0);
}

static int fx_setup_avoid(void **state)
{
	return fx_setup_opts4(state, 0, 0, 0, 0.3);
}

static int fx_setup_opts(void **state, double grace_s)
{
	return fx_setup_opts3(state, grace_s, 0, 0);
}

static int fx_setup_retry(void **state)
{
	return fx_setup_opts3(state, 0, 0, 0.2);
}

static int fx_setup(void **state)
{
	return fx_setup_opts(state, 0);
}

static int fx_setup_finish(void **state)
{
	return fx_setup_opts3(state, 0, 60, 0);
}

static int fx_setup_grace(void **state)
{
	return fx_setup_opts(state, 5);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	driver_close(f->d);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	driver_free(f->d);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	profile_free(f->prof);
	ob_clear(&f->ob);
	free(f);
	return 0;
}

/* Register.unkillable_ms of the next agent_up_grace (0: none), then 0. */
static uint32_t next_unkillable_ms;

/* Attach and register an agent with n GPUs of one type and running tasks. */
/* An agent registers; grace_ms < 0: without a stop_grace_ms (older agents). */
static uint32_t agent_up_grace(struct fx *f, const char *node, const char *type, uint32_t n,
			       Hare__RunningTask **running, size_t nrunning, int64_t grace_ms)
{
	Hare__GpuInfo g[16], *gp[16];
	Hare__Register reg = HARE__REGISTER__INIT;
	char err[256];
	int id = driver_agent_attach(f->d, node, "127.0.0.1");

	assert_true(id > 0);
	for (uint32_t i = 0; i < n; i++) {
		hare__gpu_info__init(&g[i]);
		g[i].index = i;
		g[i].type = (char *)type;
		gp[i] = &g[i];
	}
	reg.n_gpus = n;
	reg.gpus = gp;
	reg.n_running = nrunning;
	reg.running = running;
	reg.has_stop_grace_ms = grace_ms >= 0;
	reg.stop_grace_ms = grace_ms >= 0 ? (uint32_t)grace_ms : 0;
	reg.has_unkillable_ms = next_unkillable_ms > 0;
	reg.unkillable_ms = next_unkillable_ms;
	next_unkillable_ms = 0;
	assert_int_equal(driver_agent_register(f->d, (uint32_t)id, &reg, err, sizeof(err)), 0);
	return (uint32_t)id;
}

static uint32_t agent_up(struct fx *f, const char *node, const char *type, uint32_t n,
			 Hare__RunningTask **running, size_t nrunning)
{
	return agent_up_grace(f, node, type, n, running, nrunning, -1);
}

static struct store_job job_rec(uint64_t id, const char *model, uint32_t tasks, uint64_t rounds)
{
	struct store_job j;

	memset(&j, 0, sizeof(j));
	j.id = id;
	snprintf(j.user, sizeof(j.user), "alice");
	snprintf(j.name, sizeof(j.name), "job%llu", (unsigned long long)id);
	snprintf(j.model, sizeof(j.model), "%s", model);
	j.tasks = tasks;
	j.min_gpus = 1;
	j.max_gpus = tasks;
	j.rounds_total = rounds;
	j.weight = 1;
	j.state = STORE_QUEUED;
	j.submit_time = driver_now();
	j.loss = NAN;
	return j;
}

static void job_add(struct fx *f, uint64_t id, const char *model, uint32_t tasks, uint64_t rounds)
{
	struct store_job j = job_rec(id, model, tasks, rounds);
	char err[256];

	assert_int_equal(driver_job_add(f->d, &j, err, sizeof(err)), 0);
}

/* Apply a plan made by hand: per job index, GPUs and tasks (0 GPUs: not run). */
struct hand {
	uint32_t n;
	uint32_t gpus[12];
	uint16_t tasks[12];
};

/* A snapshot taken now with that plan made by hand in it, to apply (it
 * may be applied later, after the cluster changed). */
static struct driver_snapshot *plan_by_hand(struct fx *f, const struct hand *h, uint32_t njobs)
{
	struct driver_snapshot *s;
	struct sched_plan *p;

	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	assert_int_equal(driver_snapshot_view(s)->njobs, njobs);
	p = driver_snapshot_plan(s);
	assert_int_equal(sched_plan_reset(p, njobs), 0);
	for (uint32_t i = 0; i < njobs; i++) {
		p->assigns[i].rank = i;
		if (h[i].n == 0)
			continue;
		assert_int_equal(sched_plan_place(p, i, h[i].gpus, h[i].tasks, h[i].n), 0);
		p->assigns[i].run_now = true;
		p->assigns[i].start_s = driver_snapshot_view(s)->now_s;
	}
	return s;
}

/* ... and return driver_plan_apply's result. */
static int plan_apply_rc(struct fx *f, const struct hand *h, uint32_t njobs)
{
	struct driver_snapshot *s = plan_by_hand(f, h, njobs);
	int rc;

	rc = driver_plan_apply(f->d, s);
	driver_snapshot_free(s);
	return rc;
}

static void plan_apply(struct fx *f, const struct hand *h, uint32_t njobs)
{
	assert_int_equal(plan_apply_rc(f, h, njobs), 0);
}

static void report(struct fx *f, uint32_t agent, uint64_t job, uint64_t lease, uint32_t rank,
		   uint64_t first, uint32_t count)
{
	Hare__RoundReport r = HARE__ROUND_REPORT__INIT;

	r.job_id = job;
	r.lease_id = lease;
	r.rank = rank;
	r.round_first = first;
	r.round_count = count;
	r.compute_s = 0.1 * count;
	r.sync_s = 0.01 * count;
	r.has_loss = true;
	r.loss = 2.0 - (double)first / 1000;
	driver_round_report(f->d, agent, &r);
}

/* A TaskExit; rounds >= 0 is its rounds_done, < 0 none; code INT32_MIN:
 * no exit code. */
static void task_exit_full(struct fx *f, uint32_t agent, uint64_t job, uint64_t lease,
			   uint32_t rank, Hare__TaskStatus status, int64_t rounds, int32_t code)
{
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;

	x.job_id = job;
	x.lease_id = lease;
	x.rank = rank;
	x.status = status;
	x.has_rounds_done = rounds >= 0;
	x.rounds_done = rounds >= 0 ? (uint64_t)rounds : 0;
	x.has_exit_code = code != INT32_MIN;
	x.exit_code = code != INT32_MIN ? code : 0;
	driver_task_exit(f->d, agent, &x);
}

static void task_exit_rounds(struct fx *f, uint32_t agent, uint64_t job, uint64_t lease,
			     uint32_t rank, Hare__TaskStatus status, int64_t rounds)
{
	task_exit_full(f, agent, job, lease, rank, status, rounds, INT32_MIN);
}

/* A TaskExit with an exit code. */
static void task_exit_code(struct fx *f, uint32_t agent, uint64_t job, uint64_t lease,
			   uint32_t rank, Hare__TaskStatus status, int32_t code)
{
	task_exit_full(f, agent, job, lease, rank, status, -1, code);
}

/* A failed TaskExit with an exit code (REPORT_EXIT_PEER: a peer failed). */
static void task_fail_code(struct fx *f, uint32_t agent, uint64_t job, uint64_t lease,
			   uint32_t rank, int32_t code)
{
	task_exit_code(f, agent, job, lease, rank, HARE__TASK_STATUS__TASK_FAILED, code);
}

static void task_exit(struct fx *f, uint32_t agent, uint64_t job, uint64_t lease, uint32_t rank,
		      Hare__TaskStatus status)
{
	task_exit_rounds(f, agent, job, lease, rank, status, -1);
}

/* Every TaskStop in the outbox answered with the TaskExits of the ranks
 * (0 .. nranks-1) the agent runs, as an agent would. */
static void stops_exit(struct fx *f, uint32_t nranks)
{
	for (uint32_t i = 0; i < f->ob.n; i++) {
		const Hare__FromDaemon *m = f->ob.msg[i];

		if (m->msg_case != HARE__FROM_DAEMON__MSG_TASK_STOP)
			continue;
		for (uint32_t r = 0; r < nranks; r++)
			task_exit(f, f->ob.agent[i], m->task_stop->job_id, m->task_stop->lease_id, r,
				  HARE__TASK_STATUS__TASK_STOPPED);
	}
}

static const struct drv_gpu *gpu_of(struct fx *f, uint32_t node, uint32_t slot)
{
	return &driver_node_at(f->d, node)->gpus[slot];
}

/* TaskStart.user: the job's owner; a remote client's job (owner "remote"),
 * hared's remote_user, set by a reload too. */
static void test_task_start_user(void **state)
{
	struct fx *f = *state;
	struct hand h[2] = { { 1, { 0 }, { 1 } }, { 1, { 1 }, { 1 } } };
	struct store_job j = job_rec(2, "lm", 1, 100);
	struct driver_opts o;
	char err[256];

	driver_opts_get(f->d, &o);
	o.remote_owner = "remote";
	snprintf(o.remote_user, sizeof(o.remote_user), "research");
	driver_opts_set(f->d, &o);
	agent_up(f, "n1", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 1, 100);
	snprintf(j.user, sizeof(j.user), "remote");
	assert_int_equal(driver_job_add(f->d, &j, err, sizeof(err)), 0);
	driver_start(f->d);
	plan_apply(f, h, 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 2);
	for (uint32_t i = 0; i < f->ob.n; i++) {
		const Hare__TaskStart *ts = f->ob.msg[i]->task_start;

		if (f->ob.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_START)
			assert_string_equal(ts->user, ts->job_id == 1 ? "alice" : "research");
	}
}

/* TaskStart.node_gpus: the lease's GPUs on the rank's own node (an agent
 * that isolates GPUs lets its workers there open these): a lease on GPUs
 * 1 and 3 of n1 and GPU 2 of n2. */
static void test_task_start_node_gpus(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 3, { 1, 3, 6 }, { 1, 1, 1 } } };
	uint32_t a1, a2, seen = 0;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 3, 100);
	driver_start(f->d);
	plan_apply(f, h, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 1), 3);
	for (uint32_t i = 0; i < f->ob.n; i++) {
		const Hare__TaskStart *ts = f->ob.msg[i]->task_start;
		uint32_t mask = 0;

		if (f->ob.msg[i]->msg_case != HARE__FROM_DAEMON__MSG_TASK_START)
			continue;
		for (size_t k = 0; k < ts->n_node_gpus; k++)
			mask |= 1u << ts->node_gpus[k];
		assert_int_equal(ts->n_node_gpus, f->ob.agent[i] == a1 ? 2 : 1);
		assert_int_equal(mask, f->ob.agent[i] == a1 ? 0xa : 0x4);
		assert_true(mask >> ts->gpu_index & 1);
		assert_true(f->ob.agent[i] == a1 || f->ob.agent[i] == a2);
		seen |= 1u << ts->rank;
	}
	assert_int_equal(seen, 0x7);
}

/* Two nodes (V100 x4, T4 x4), two jobs placed by hand, then moved. */
static void test_plan_apply(void **state)
{
	struct fx *f = *state;
	struct hand h1[2] = { { 4, { 0, 1, 2, 3 }, { 1, 1, 1, 1 } }, { 2, { 4, 5 }, { 1, 1 } } };
	struct hand h2[2] = { { 2, { 0, 1 }, { 2, 2 } }, { 0 } };
	const struct drv_job *j1, *j2;
	uint64_t lease1;
	uint32_t a1, a2, ranks = 0;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "T4", 4, NULL, 0);
	job_add(f, 1, "resnet50", 4, 1000);
	job_add(f, 2, "lm", 2, 500);
	driver_start(f->d);
	plan_apply(f, h1, 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 1), 4);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a2, 2), 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
	for (uint32_t i = 0; i < f->ob.n; i++) {
		const Hare__TaskStart *ts = f->ob.msg[i]->task_start;

		if (ts->job_id != 1)
			continue;
		ranks |= 1u << ts->rank;
		assert_int_equal(ts->world_size, 4);
		assert_int_equal(ts->tasks, 1);
		assert_int_equal(ts->job_tasks, 4);
		assert_int_equal(ts->round_first, 0);
		assert_int_equal(ts->round_count, 1000);
		assert_string_equal(ts->gpu_type, "V100");
		assert_true(ts->time_scale == 1000);
		assert_true(ts->round_s > ts->compute_s && ts->compute_s > 0);
		assert_true(ts->restart_s == 0);
		assert_string_equal(ts->model, "resnet50");
	}
	assert_int_equal(ranks, 0xf);
	j1 = driver_job_find(f->d, 1);
	assert_int_equal(j1->rec.state, STORE_RUNNING);
	assert_int_equal(j1->lease.nranks, 4);
	lease1 = j1->lease.id;
	for (uint32_t g = 0; g < 4; g++)
		assert_int_equal(gpu_of(f, 0, g)->job_id, 1);
	assert_int_equal(gpu_of(f, 1, 0)->job_id, 2);
	assert_int_equal(gpu_of(f, 1, 2)->job_id, 0);

	/* Progress, then a plan that narrows job 1 and preempts job 2: the
	 * old workers are stopped, and the new lease, booked on GPUs they
	 * still hold, starts once they have exited. */
	for (uint32_t r = 0; r < 4; r++)
		report(f, a1, 1, lease1, r, 0, 100);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 100);
	ob_clear(&f->ob);
	plan_apply(f, h2, 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a2, 2), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(driver_job_find(f->d, 1)->npend, 2);
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 0)));
	assert_int_equal(gpu_of(f, 0, 0)->job_id, 1);		/* booked */
	assert_int_equal(gpu_of(f, 0, 0)->vacate_lease, lease1);
	assert_int_equal(gpu_of(f, 0, 2)->job_id, 0);
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 2)));	/* being vacated */
	/* The same plan again changes nothing while it waits. */
	plan_apply(f, h2, 2);
	assert_int_equal(driver_job_find(f->d, 1)->npend, 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	stops_exit(f, 4);
	for (uint32_t g = 0; g < 4; g++)
		assert_int_equal(gpu_of(f, 0, g)->vacate_lease + gpu_of(f, 1, g)->vacate_lease, 0);
	assert_null(driver_job_find(f->d, 1)->pend);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 1), 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 2), 0);
	for (uint32_t i = 0; i < f->ob.n; i++) {
		const Hare__FromDaemon *m = f->ob.msg[i];

		if (m->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP && m->task_stop->job_id == 1)
			assert_int_equal(m->task_stop->lease_id, lease1);
		if (m->msg_case != HARE__FROM_DAEMON__MSG_TASK_START)
			continue;
		assert_int_equal(m->task_start->tasks, 2);
		assert_int_equal(m->task_start->round_first, 100);
		assert_int_equal(m->task_start->round_count, 900);
		assert_true(m->task_start->restart_s > 0);	/* it ran before */
		assert_true(m->task_start->lease_id != lease1);
	}
	j1 = driver_job_find(f->d, 1);
	j2 = driver_job_find(f->d, 2);
	assert_int_equal(j1->lease.nranks, 2);
	assert_int_equal(j1->rec.restarts, 1);
	assert_int_equal(j2->rec.state, STORE_QUEUED);
	assert_int_equal(j2->lease.id, 0);
	assert_int_equal(gpu_of(f, 0, 2)->job_id, 0);
	assert_int_equal(gpu_of(f, 1, 0)->job_id, 0);

	/* The same placement again keeps the lease: no messages. */
	ob_clear(&f->ob);
	lease1 = j1->lease.id;
	plan_apply(f, h2, 2);
	assert_int_equal(f->ob.n, 0);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, lease1);
}

/* A job moved to other GPUs waits for its stopped workers: its new lease
 * starts once rank 0 has exited, from the round rank 0 reached (its last
 * checkpoint), not from the last report; rounds past the reports are not
 * redone. A lease stopped on the job's last rounds finishes the job. */
static void test_move_waits_and_credits(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 2, { 0, 1 }, { 1, 1 } } };
	struct hand h2[1] = { { 2, { 4, 5 }, { 1, 1 } } };
	uint64_t lease1;
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h1, 1);
	lease1 = driver_job_find(f->d, 1)->lease.id;
	report(f, a1, 1, lease1, 0, 0, 100);
	report(f, a1, 1, lease1, 1, 0, 100);
	ob_clear(&f->ob);
	plan_apply(f, h2, 1);
	/* Stopped on n1; nothing starts on the idle n2 GPUs yet, but they are booked. */
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 0), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(driver_job_find(f->d, 1)->npend, 2);
	assert_int_equal(gpu_of(f, 1, 0)->job_id, 1);
	/* Rank 1 exits first: still waiting for rank 0. */
	task_exit(f, a1, 1, lease1, 1, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	/* Rank 0 finished 120 rounds (20 past the last report) before it stopped. */
	task_exit_rounds(f, a1, 1, lease1, 0, HARE__TASK_STATUS__TASK_STOPPED, 120);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 120);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a2, 1), 2);
	for (uint32_t i = 0; i < f->ob.n; i++)
		if (f->ob.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_START) {
			assert_int_equal(f->ob.msg[i]->task_start->round_first, 120);
			assert_int_equal(f->ob.msg[i]->task_start->round_count, 880);
		}
	/* A late or repeated exit of the old lease changes nothing now. */
	task_exit_rounds(f, a1, 1, lease1, 0, HARE__TASK_STATUS__TASK_STOPPED, 500);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 120);

	/* Moved back while on its last rounds: rank 0 stops having done them all. */
	lease1 = driver_job_find(f->d, 1)->lease.id;
	report(f, a2, 1, lease1, 0, 120, 870);
	report(f, a2, 1, lease1, 1, 120, 870);
	ob_clear(&f->ob);
	plan_apply(f, h1, 1);
	task_exit_rounds(f, a2, 1, lease1, 0, HARE__TASK_STATUS__TASK_STOPPED, 880);
	assert_null(driver_job_find(f->d, 1));	/* DONE */
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	task_exit(f, a2, 1, lease1, 1, HARE__TASK_STATUS__TASK_STOPPED);
	for (uint32_t g = 0; g < 4; g++)
		assert_true(driver_gpu_is_free(gpu_of(f, 0, g)) && driver_gpu_is_free(gpu_of(f, 1, g)));
}

/* A plan is stale for jobs that ended and GPUs that went away meanwhile. */
static void test_plan_stale(void **state)
{
	struct fx *f = *state;
	struct hand h[2] = { { 2, { 0, 1 }, { 1, 1 } }, { 2, { 4, 5 }, { 1, 1 } } };
	struct driver_snapshot *s;
	struct sched_plan *p;
	char msg[128];
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	agent_up(f, "n2", "T4", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	job_add(f, 2, "resnet50", 2, 1000);
	driver_start(f->d);
	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	p = driver_snapshot_plan(s);
	assert_int_equal(sched_plan_reset(p, 2), 0);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(sched_plan_place(p, i, h[i].gpus, h[i].tasks, h[i].n), 0);
		p->assigns[i].run_now = true;
	}
	/* Job 1 is cancelled and node n2 goes down before the plan lands. */
	assert_int_equal(driver_job_cancel(f->d, 1, "bob", false, msg, sizeof(msg)), -EPERM);
	assert_int_equal(driver_job_cancel(f->d, 1, "alice", false, msg, sizeof(msg)), 0);
	driver_agent_detach(f->d, 2);
	assert_int_equal(driver_plan_apply(f->d, s), 0);
	driver_snapshot_free(s);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_null(driver_job_find(f->d, 1));
	assert_int_equal(driver_job_find(f->d, 2)->lease.id, 0);
	assert_false(driver_node_at(f->d, 1)->up);
	(void)a1;
}

/* The real policy on the fake cluster runs every job that fits. */
static void test_policy_plan(void **state)
{
	struct fx *f = *state;
	struct driver_snapshot *s;

	agent_up(f, "n1", "V100", 4, NULL, 0);
	agent_up(f, "n2", "T4", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	job_add(f, 2, "lm", 2, 1000);
	job_add(f, 3, "transformer", 4, 1000);
	driver_start(f->d);
	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	assert_int_equal(driver_snapshot_plan_run(f->d, s), 0);
	assert_int_equal(driver_plan_apply(f->d, s), 0);
	driver_snapshot_free(s);
	for (uint64_t id = 1; id <= 3; id++) {
		const struct drv_job *j = driver_job_find(f->d, id);
		uint32_t tasks = 0;

		assert_int_equal(j->rec.state, STORE_RUNNING);
		for (uint32_t r = 0; r < j->lease.nranks; r++)
			tasks += j->lease.ranks[r].tasks;
		assert_int_equal(tasks, j->rec.tasks);
		assert_true(j->order != UINT32_MAX);
		assert_true(j->est_finish > j->est_start && j->est_start > 0);
	}
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0),
			 driver_job_find(f->d, 1)->lease.nranks + driver_job_find(f->d, 2)->lease.nranks +
			 driver_job_find(f->d, 3)->lease.nranks);
}

/* Progress is the slowest rank's; bad reports are ignored; done frees all. */
static void test_progress(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 4, { 0, 1, 2, 3 }, { 1, 1, 1, 1 } } };
	struct driver_stats st;
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	uint64_t lease;
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "T4", 4, NULL, 0);
	job_add(f, 1, "resnet50", 4, 200);
	driver_start(f->d);
	plan_apply(f, h, 1);
	lease = driver_job_find(f->d, 1)->lease.id;
	for (uint32_t r = 0; r < 3; r++)
		report(f, a1, 1, lease, r, 0, 50);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 0);
	report(f, a1, 1, lease, 3, 0, 30);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 30);
	report(f, a1, 1, lease, 3, 30, 40);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 50);
	assert_true(fabs(driver_job_find(f->d, 1)->rec.loss - 2.0) < 1e-9);
	/* Wrong lease, wrong agent, unknown job, rank out of range. */
	report(f, a1, 1, lease + 1, 0, 50, 100);
	report(f, a2, 1, lease, 0, 50, 100);
	report(f, a1, 99, lease, 0, 50, 100);
	report(f, a1, 1, lease, 7, 50, 100);
	driver_stats_get(f->d, &st);
	assert_int_equal(st.reports, 5);
	assert_int_equal(st.reports_ignored, 4);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 50);
	ob_clear(&f->ob);
	for (uint32_t r = 0; r < 4; r++)
		report(f, a1, 1, lease, r, 50, 500);	/* past the end: capped */
	assert_null(driver_job_find(f->d, 1));
	for (uint32_t g = 0; g < 4; g++)
		assert_int_equal(gpu_of(f, 0, g)->job_id, 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
	/* A late exit of the finished job is ignored. */
	x.job_id = 1;
	x.lease_id = lease;
	x.status = HARE__TASK_STATUS__TASK_OK;
	driver_task_exit(f->d, a1, &x);
	assert_null(driver_job_find(f->d, 1));
}

/* A failed worker requeues the job (other ranks stopped); past
 * max_retries (1 here) the job is FAILED. */
static void test_failure(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	x.job_id = 1;
	x.lease_id = driver_job_find(f->d, 1)->lease.id;
	x.rank = 1;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.has_exit_code = true;
	x.exit_code = 3;
	driver_task_exit(f->d, a2, &x);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a2, 1), 0);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 1)->failures, 1);
	/* The failed rank's GPU is free; the stopped one's waits for its exit. */
	assert_true(driver_gpu_is_free(gpu_of(f, 1, 0)));
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 0)));
	task_exit(f, a1, 1, x.lease_id, 0, HARE__TASK_STATUS__TASK_STOPPED);
	assert_true(driver_gpu_is_free(gpu_of(f, 0, 0)));
	plan_apply(f, h, 1);
	x.lease_id = driver_job_find(f->d, 1)->lease.id;
	driver_task_exit(f->d, a2, &x);
	assert_null(driver_job_find(f->d, 1));
	assert_int_equal(gpu_of(f, 0, 0)->job_id, 0);
}

/* A worker not started because its job's owner has no account on the
 * node: the job is queued again and keeps off that node, which is not
 * charged (no failure on its ring, so no quarantine), and the event says
 * so without "rank R on node N" (which a restarted hared would charge). */
static void test_failure_no_account(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	const struct drv_job *j;
	const char *reason = NULL;
	struct driver_opts o;
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	driver_opts_get(f->d, &o);
	o.failed_node_avoid_s = 3600;
	o.retry_backoff_s = 0;
	driver_opts_set(f->d, &o);
	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	j = driver_job_find(f->d, 1);
	x.job_id = 1;
	x.lease_id = j->lease.id;
	x.rank = 0;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.message = "user 'opuser' has no account on this node";
	x.has_no_account = x.no_account = true;
	driver_task_exit(f->d, a1, &x);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 1);
	assert_int_equal(driver_node_failures(f->d, 0), 0);	/* not charged */
	assert_int_equal(j->navoid, 1);
	assert_int_equal(j->avoid[0].node, 0);
	assert_true(j->avoid[0].until > driver_now());
	/* the other rank is stopped, told why */
	reason = ob_stop_reason(&f->ob, a2);
	assert_non_null(reason);
	assert_string_equal(reason, "not started on node n1 (rank 0): user 'opuser' has no account "
			    "on this node; its node is not charged");
	task_exit(f, a2, 1, x.lease_id, 1, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	/* a worker that ran (an exit code) is charged, whatever the flag says */
	{
		struct hand h2[1] = { { 2, { 4, 5 }, { 1, 1 } } };	/* both on n2 */

		plan_apply(f, h2, 1);
		x.lease_id = j->lease.id;
		x.has_exit_code = true;
		x.exit_code = 3;
		driver_task_exit(f->d, a2, &x);
		assert_int_equal(driver_node_failures(f->d, 1), 1);
	}
}

/* A prolog that failed (TaskExit.node_fault, no worker ran): its node is
 * drained with the agent's text, the job queued again without a failure
 * counted and its node not charged; an epilog's failure on an exit of a
 * lease that is no longer current drains its node too; a node drained
 * already keeps its reason; text that is not fit to show is not shown. */
static void test_node_fault(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	const struct drv_node *n1, *n2;
	const struct drv_job *j;
	struct driver_stats st;
	const char *reason = NULL;
	uint64_t lease;
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	n1 = driver_node_at(f->d, 0);
	n2 = driver_node_at(f->d, 1);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	j = driver_job_find(f->d, 1);
	lease = j->lease.id;
	x.job_id = 1;
	x.lease_id = lease;
	x.rank = 0;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.has_rounds_done = true;
	x.message = "prolog exited with status 2: GPU 0 holds 3 processes";
	x.node_fault = x.message;
	x.has_prolog_failed = x.prolog_failed = true;
	driver_task_exit(f->d, a1, &x);
	assert_true(n1->drained);
	assert_string_equal(n1->drain_reason, "prolog exited with status 2: GPU 0 holds 3 processes "
			    "(job 1 rank 0)");
	assert_false(n2->drained);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 0);
	assert_int_equal(driver_node_failures(f->d, 0), 0);
	reason = ob_stop_reason(&f->ob, a2);
	assert_non_null(reason);
	assert_string_equal(reason, "not run on node n1 (rank 0): prolog exited with status 2: GPU 0 "
			    "holds 3 processes; the node is drained, the job is not charged");
	/* rank 1, stopped, says its epilog failed: n2 is drained too */
	x.has_prolog_failed = x.prolog_failed = false;
	x.rank = 1;
	x.status = HARE__TASK_STATUS__TASK_STOPPED;
	x.has_exit_code = true;
	x.exit_code = 0;
	x.message = "stopped after 0 rounds (exit code 0); epilog exited with status 1: scratch left";
	x.node_fault = "epilog exited with status 1: scratch left";
	driver_task_exit(f->d, a2, &x);
	assert_true(n2->drained);
	assert_string_equal(n2->drain_reason, "epilog exited with status 1: scratch left (job 1 rank 1)");
	assert_int_equal(j->failures, 0);
	/* drained already: its reason stays; text with control characters */
	x.rank = 0;
	x.node_fault = "epilog \033[2J failed";
	driver_task_exit(f->d, a1, &x);
	assert_string_equal(n1->drain_reason, "prolog exited with status 2: GPU 0 holds 3 processes "
			    "(job 1 rank 0)");
	{
		uint32_t moved;
		char msg[256];

		assert_int_equal(driver_node_drain(f->d, "n1", false, NULL, &moved, msg, sizeof(msg)), 0);
	}
	driver_task_exit(f->d, a1, &x);
	assert_string_equal(n1->drain_reason, "the agent reported a fault of the node (its text "
			    "is not shown: control characters or not UTF-8) (job 1 rank 0)");
	driver_stats_get(f->d, &st);
	assert_int_equal(st.node_faults, 4);
	/* a prolog cut short by the agent's stop (prolog_failed, no
	 * node_fault): queued again, uncharged, and no node drained */
	{
		struct hand h3[1] = { { 2, { 0, 4 }, { 1, 1 } } };
		uint32_t moved;
		char msg[256];

		assert_int_equal(driver_node_drain(f->d, "n1", false, NULL, &moved, msg, sizeof(msg)), 0);
		assert_int_equal(driver_node_drain(f->d, "n2", false, NULL, &moved, msg, sizeof(msg)), 0);
		plan_apply(f, h3, 1);
		assert_int_equal(j->rec.state, STORE_RUNNING);
		ob_clear(&f->ob);
		x.lease_id = j->lease.id;
		x.rank = 1;
		x.status = HARE__TASK_STATUS__TASK_FAILED;
		x.message = "prolog cut short: the agent stopped while it ran, so no worker ran";
		x.node_fault = NULL;
		x.has_prolog_failed = x.prolog_failed = true;
		x.has_exit_code = false;
		driver_task_exit(f->d, a2, &x);
		assert_false(n1->drained || n2->drained);
		assert_int_equal(j->rec.state, STORE_QUEUED);
		assert_int_equal(j->failures, 0);
		reason = ob_stop_reason(&f->ob, a1);
		assert_non_null(reason);
		assert_string_equal(reason, "not run on node n2 (rank 1): prolog cut short: the agent "
				    "stopped while it ran, so no worker ran; the job is not charged");
		/* rank 0, stopped, ends the old lease */
		task_exit(f, a1, 1, x.lease_id, 0, HARE__TASK_STATUS__TASK_STOPPED);
		driver_stats_get(f->d, &st);
		assert_int_equal(st.node_faults, 4);	/* none more */
		assert_int_equal(driver_node_drain(f->d, "n2", true, "again", &moved, msg, sizeof(msg)), 0);
	}
	/* a worker that failed with no exit code (an adopted one) whose
	 * epilog failed too is a failure like any other: charged */
	{
		struct hand h2[1] = { { 2, { 4, 5 }, { 1, 1 } } };	/* both on n2 */
		uint32_t moved;
		char msg[256];

		assert_int_equal(driver_node_drain(f->d, "n2", false, NULL, &moved, msg, sizeof(msg)), 0);
		plan_apply(f, h2, 1);
		x.lease_id = j->lease.id;
		x.rank = 0;
		x.status = HARE__TASK_STATUS__TASK_FAILED;
		x.has_exit_code = false;
		x.has_prolog_failed = x.prolog_failed = false;
		x.message = "adopted worker ended without a done line; epilog exited with status 1: x";
		x.node_fault = "epilog exited with status 1: x";
		driver_task_exit(f->d, a2, &x);
		assert_true(n2->drained);
		assert_int_equal(j->failures, 1);
	}
}

/* An agent's TaskExit.message with terminal escapes, a C1 control or
 * bytes that are not UTF-8 is kept and relayed as one clean line: each
 * such character a '?' (here in the stop reason to the other rank). */
static void test_exit_text_clean(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	const struct drv_job *j;
	const char *reason = NULL;
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	j = driver_job_find(f->d, 1);
	x.job_id = 1;
	x.lease_id = j->lease.id;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.has_exit_code = true;
	x.exit_code = 3;
	x.message = "exited with code 3; last output: \033[2J\033]0;pwned\a \xc2\x9b boom \xff";
	driver_task_exit(f->d, a1, &x);
	reason = ob_stop_reason(&f->ob, a2);
	assert_non_null(reason);
	assert_non_null(strstr(reason, "(exit code 3; last output: ?[2J?]0;pwned? ? boom ?)"));
}

/* A lease that reports no new round for stall_timeout_s (and 20 of its
 * rounds, and before its first round the longest prolog of its nodes) is
 * a failure: its workers are stopped (hung, say an all-reduce
 * waiting for a rank that hangs), the job is queued again, charged to no
 * node; a round reported in time keeps it going. */
static void test_stall(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	struct driver_opts o;
	const struct drv_job *j;
	uint32_t a1, a2;
	uint64_t lease;
	double t0;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	{
		/* n2's agent runs a prolog of up to 100 s before each worker */
		Hare__GpuInfo g[4], *gp[4];
		Hare__Register reg = HARE__REGISTER__INIT;
		char err[256];
		int id = driver_agent_attach(f->d, "n2", "127.0.0.1");

		assert_true(id > 0);
		for (uint32_t i = 0; i < 4; i++) {
			hare__gpu_info__init(&g[i]);
			g[i].index = i;
			g[i].type = "V100";
			gp[i] = &g[i];
		}
		reg.n_gpus = 4;
		reg.gpus = gp;
		reg.has_prolog_ms = true;
		reg.prolog_ms = 100000;
		assert_int_equal(driver_agent_register(f->d, (uint32_t)id, &reg, err, sizeof(err)), 0);
		a2 = (uint32_t)id;
	}
	job_add(f, 1, "resnet50", 2, 100000);
	driver_start(f->d);
	driver_opts_get(f->d, &o);
	o.stall_timeout_s = 60;
	driver_opts_set(f->d, &o);
	plan_apply(f, h, 1);
	j = driver_job_find(f->d, 1);
	lease = j->lease.id;
	t0 = j->lease.progress_at;
	assert_true(t0 > 0);
	driver_stall_check(f->d, t0 + 50);	/* within the timeout */
	assert_int_equal(j->rec.state, STORE_RUNNING);
	/* before its first round, n2's prolog time is allowed too */
	driver_stall_check(f->d, t0 + 150);
	assert_int_equal(j->rec.state, STORE_RUNNING);
	report(f, a1, 1, lease, 0, 0, 10);
	report(f, a2, 1, lease, 1, 0, 10);
	assert_int_equal(j->rec.rounds_done, 10);
	assert_true(j->lease.progress_at >= t0);
	ob_clear(&f->ob);
	driver_stall_check(f->d, j->lease.progress_at + 61);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a2, 1), 1);
	assert_int_equal(driver_node_failures(f->d, 0), 0);	/* no node charged */
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	/* off: never */
	o.stall_timeout_s = 0;
	driver_opts_set(f->d, &o);
	driver_stall_check(f->d, t0 + 1e6);
}

/* A node that goes down takes its leases with it; the rest are stopped. */
static void test_node_down(void **state)
{
	struct fx *f = *state;
	struct hand h[2] = { { 2, { 0, 4 }, { 1, 1 } }, { 1, { 1 }, { 1 } } };
	uint32_t a1, a2;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	job_add(f, 2, "resnet50", 1, 1000);
	driver_start(f->d);
	plan_apply(f, h, 2);
	ob_clear(&f->ob);
	driver_agent_detach(f->d, a2);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 2)->rec.state, STORE_RUNNING);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a2, 0), 0);
	/* It comes back under the same name and keeps its agent id. */
	assert_int_equal(agent_up(f, "n2", "V100", 4, NULL, 0), a2);
	assert_true(driver_node_at(f->d, a2 - 1)->up);
}

/* A GPU type name goes to logs, the store and harectl nodes: a registration
 * naming one with characters no type has (a terminal's escape sequence) is
 * refused, without repeating the name; a long name of those characters is
 * taken (not planned on), as hare-agent sends for a GPU it does not know. */
static void test_register_type_chars(void **state)
{
	static const char *const bad[] = { "V100\033]0;pwned\007", "T4\r", "A 100", "V100;",
					   "H100\xc2\x9b" };
	struct fx *f = *state;
	Hare__GpuInfo g = HARE__GPU_INFO__INIT, *gp = &g;
	Hare__Register reg = HARE__REGISTER__INIT;
	const struct drv_node *n;
	char err[256];
	int id = driver_agent_attach(f->d, "n1", "127.0.0.1");

	assert_true(id > 0);
	reg.n_gpus = 1;
	reg.gpus = &gp;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		g.type = (char *)bad[i];
		err[0] = '\0';
		assert_int_equal(driver_agent_register(f->d, (uint32_t)id, &reg, err, sizeof(err)),
				 ERR_PROTO);
		assert_string_equal(err, "GPU 0: its type name may hold only A-Z a-z 0-9 . _ + - "
				    "(hare-agent names GPUs so; set gpus = TYPE:COUNT in its config)");
		assert_false(driver_node_at(f->d, (uint32_t)id - 1)->up);
	}
	g.type = "NVIDIA-GeForce-RTX-4090";
	assert_int_equal(driver_agent_register(f->d, (uint32_t)id, &reg, err, sizeof(err)), 0);
	n = driver_node_at(f->d, (uint32_t)id - 1);
	assert_true(n->up);
	assert_int_equal(n->ngpus, 1);
	assert_true(n->gpus[0].type < 0 && n->gpus[0].type_cut);
	g.type = "V100";
	assert_int_equal(driver_agent_register(f->d, (uint32_t)id, &reg, err, sizeof(err)), 0);
	assert_string_equal(driver_node_at(f->d, (uint32_t)id - 1)->gpus[0].type_name, "V100");
}

/* Rank 0's round times teach the job's speed model and the (model, type)
 * ratio that new jobs of the model start from. */
static void test_speed_learning(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 1, { 0 }, { 1 } } };
	const struct drv_job *j;
	uint32_t a1, v100 = (uint32_t)profile_gpu_type_find(f->prof, "V100");
	double ratio;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 1, 100000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	j = driver_job_find(f->d, 1);
	/* report() says a round took 0.11 s; the profile says lease.round_s. */
	ratio = 0.11 / j->lease.round_s;
	report(f, a1, 1, j->lease.id, 0, 0, 100);
	j = driver_job_find(f->d, 1);
	assert_true(j->speed.weight_sum == 100);
	assert_true(j->speed.dirty);
	job_add(f, 2, "resnet50", 1, 1000);
	j = driver_job_find(f->d, 2);
	assert_true(fabs(j->perf.compute_s[v100] - j->perf_prof.compute_s[v100] * ratio / 1000) <
		    1e-12);
	/* Other models keep their profile. */
	job_add(f, 3, "lm", 1, 1000);
	j = driver_job_find(f->d, 3);
	assert_true(fabs(j->perf.compute_s[v100] - j->perf_prof.compute_s[v100] / 1000) < 1e-15);
}

/* Up flags of the next plan's cluster: bit i for GPU i. */
static uint32_t snap_up_bits(struct fx *f)
{
	struct driver_snapshot *s;
	const struct sched_snapshot *v;
	uint32_t bits = 0;

	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	v = driver_snapshot_view(s);
	for (uint32_t g = 0; g < v->cluster->ngpus && g < 32; g++)
		bits |= v->cluster->gpus[g].up ? 1u << g : 0;
	driver_snapshot_free(s);
	return bits;
}

/* Every TaskStop in the outbox gives its workers this reason. */
static void stops_say(const struct fx *f, const char *reason)
{
	for (uint32_t i = 0; i < f->ob.n; i++)
		if (f->ob.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP)
			assert_string_equal(f->ob.msg[i]->task_stop->reason, reason);
}

/* A drained node's GPUs leave the plans (a plan there starts nothing) and
 * its jobs are counted; undrain gives them back. */
static void test_drain(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 1, { 0 }, { 1 } } }, h2[2] = { { 1, { 0 }, { 1 } }, { 1, { 1 }, { 1 } } },
		    h3[2] = { { 1, { 2 }, { 1 } }, { 0 } };
	struct driver_snapshot *s;
	char msg[300];
	uint32_t moved, a1;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	agent_up(f, "n2", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 1, 100000);
	driver_start(f->d);
	plan_apply(f, h1, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 1), 1);
	assert_int_equal(driver_node_drain(f->d, "n9", true, NULL, &moved, msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg, "unknown node 'n9' (known: n1 n2)");
	assert_int_equal(snap_up_bits(f), 0xf);
	/* a plan made before the drain that puts a new job on n1 starts nothing */
	job_add(f, 2, "resnet50", 1, 1000);
	s = plan_by_hand(f, h2, 2);
	assert_int_equal(driver_node_drain(f->d, "n1", true, "fan", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(moved, 1);
	assert_true(driver_node_at(f->d, 0)->drained);
	assert_string_equal(driver_node_at(f->d, 0)->drain_reason, "fan");
	/* drained again without a reason: "fan" stays; with one, it changes */
	assert_int_equal(driver_node_drain(f->d, "n1", true, NULL, &moved, msg, sizeof(msg)), 0);
	assert_string_equal(driver_node_at(f->d, 0)->drain_reason, "fan");
	assert_int_equal(driver_node_drain(f->d, "n1", true, "", &moved, msg, sizeof(msg)), 0);
	assert_string_equal(driver_node_at(f->d, 0)->drain_reason, "fan");
	assert_int_equal(driver_node_drain(f->d, "n1", true, "fan", &moved, msg, sizeof(msg)), 0);
	ob_clear(&f->ob);
	assert_int_equal(driver_plan_apply(f->d, s), 0);
	driver_snapshot_free(s);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 2), 0);
	assert_int_equal(snap_up_bits(f), 0xc);
	/* the plan that moves job 1 off n1 tells its workers why */
	ob_clear(&f->ob);
	plan_apply(f, h3, 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	stops_say(f, "moved off node n1, drained (fan)");
	assert_int_equal(driver_node_drain(f->d, "n1", false, "ignored", &moved, msg, sizeof(msg)), 0);
	assert_false(driver_node_at(f->d, 0)->drained);
	assert_string_equal(driver_node_at(f->d, 0)->drain_reason, "");
	assert_int_equal(snap_up_bits(f), 0xf);
}

/* A heartbeat with the node's health (NULL: none, an agent without a check). */
static void heartbeat_health(struct fx *f, uint32_t agent, const Hare__NodeHealth *h)
{
	Hare__Heartbeat hb = HARE__HEARTBEAT__INIT;

	hb.health = (Hare__NodeHealth *)h;
	driver_agent_heartbeat(f->d, agent, &hb);
}

/* An unhealthy node's GPUs leave the plans (a plan there starts nothing),
 * the plan that moves its jobs off says why, and a heartbeat that says it
 * passes again, or one from an agent without a check, gives them back; a
 * reason that is not clean text is not kept; a node that registers says
 * its health anew. */
static void test_node_health(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 1, { 0 }, { 1 } } }, h2[2] = { { 1, { 0 }, { 1 } }, { 1, { 1 }, { 1 } } },
		    h3[3] = { { 1, { 2 }, { 1 } }, { 0 }, { 0 } };
	struct driver_snapshot *s;
	struct store_job wide = job_rec(2, "resnet50", 4, 1000);
	Hare__NodeHealth bad = HARE__NODE_HEALTH__INIT, good = HARE__NODE_HEALTH__INIT;
	const struct drv_node *n1;
	struct driver_stats st;
	char why[512];
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	agent_up(f, "n2", "V100", 2, NULL, 0);
	n1 = driver_node_at(f->d, 0);
	job_add(f, 1, "resnet50", 1, 100000);
	driver_start(f->d);
	plan_apply(f, h1, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 1), 1);
	bad.ok = false;
	bad.reason = "health check exited with status 1: GPU 0: ECC errors";
	bad.has_since = true;
	bad.since = 30;
	good.ok = true;
	heartbeat_health(f, a1, &good);
	assert_false(n1->unhealthy);
	/* a plan made before the check failed that puts job 3 on n1 starts nothing */
	job_add(f, 3, "resnet50", 1, 1000);
	s = plan_by_hand(f, h2, 2);
	heartbeat_health(f, a1, &bad);
	assert_true(n1->unhealthy);
	assert_string_equal(n1->health_reason, bad.reason);
	assert_true(fabs(n1->unhealthy_since - (driver_now() - 30)) < 2);
	ob_clear(&f->ob);
	assert_int_equal(driver_plan_apply(f->d, s), 0);
	driver_snapshot_free(s);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 3), 0);
	assert_int_equal(snap_up_bits(f), 0xc);
	/* a job too wide for n2 says why it waits */
	wide.min_gpus = 4;
	assert_int_equal(driver_job_add(f->d, &wide, why, sizeof(why)), 0);
	assert_false(driver_job_fit(f->d, 2, why, sizeof(why)));
	assert_non_null(strstr(why, "2 more on unhealthy nodes (their health check fails)"));
	/* the plan that moves job 1 off n1 tells its workers why */
	ob_clear(&f->ob);
	plan_apply(f, h3, 3);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	stops_say(f, "moved off node n1, unhealthy (health check exited with status 1: GPU 0: "
		  "ECC errors)");
	/* the same again changes nothing; another reason is kept, still one failure */
	heartbeat_health(f, a1, &bad);
	bad.reason = "health check exited with status 1: disk full";
	heartbeat_health(f, a1, &bad);
	assert_string_equal(n1->health_reason, "health check exited with status 1: disk full");
	driver_stats_get(f->d, &st);
	assert_int_equal(st.health_fails, 1);
	/* text that could fool a terminal is not kept */
	bad.reason = "\x1b[2J gone";
	heartbeat_health(f, a1, &bad);
	assert_string_equal(n1->health_reason, "its health check fails (its text is not shown: "
			    "control characters or not UTF-8)");
	bad.reason = "caf\xe9";
	heartbeat_health(f, a1, &bad);
	assert_string_equal(n1->health_reason, "its health check fails (its text is not shown: "
			    "control characters or not UTF-8)");
	bad.reason = NULL;
	heartbeat_health(f, a1, &bad);
	assert_string_equal(n1->health_reason, "its health check fails");
	/* pending (an agent that registered before its first check ended):
	 * what hared knew stands, unhealthy or healthy */
	{
		Hare__NodeHealth pend = HARE__NODE_HEALTH__INIT;

		pend.has_pending = pend.pending = true;
		pend.reason = "its first health check has not ended";
		heartbeat_health(f, a1, &pend);
		assert_true(n1->unhealthy);
		assert_string_equal(n1->health_reason, "its health check fails");
		heartbeat_health(f, a1, &good);
		heartbeat_health(f, a1, &pend);
		assert_false(n1->unhealthy);
	}
	/* healthy again */
	heartbeat_health(f, a1, &good);
	assert_false(n1->unhealthy);
	assert_int_equal(snap_up_bits(f), 0xf);
	/* unhealthy, then an agent without a check: healthy */
	heartbeat_health(f, a1, &bad);
	assert_int_equal(snap_up_bits(f), 0xc);
	heartbeat_health(f, a1, NULL);
	assert_int_equal(snap_up_bits(f), 0xf);
	driver_stats_get(f->d, &st);
	assert_int_equal(st.health_fails, 2);
	/* down and back: the Register says the health anew */
	heartbeat_health(f, a1, &bad);
	driver_agent_detach(f->d, a1);
	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	assert_false(driver_node_at(f->d, 0)->unhealthy);
	assert_int_equal(snap_up_bits(f), 0xf);
}

/* A flapping health check: the third time within the hour n1 turns
 * unhealthy it is drained (quarantined), its reason saying so with the
 * last failure's text cut to fit; turns older than the hour do not count;
 * n2 flapping as much is only warned about (quarantine_max_nodes 1); after
 * an undrain n1's old turns no longer count. */
static void test_node_health_flaps(void **state)
{
	struct fx *f = *state;
	Hare__NodeHealth bad = HARE__NODE_HEALTH__INIT, good = HARE__NODE_HEALTH__INIT;
	struct drv_node *n1, *n2;
	struct driver_stats st;
	char msg[256];
	uint32_t a1, a2, moved;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	n1 = (struct drv_node *)driver_node_at(f->d, 0);
	n2 = (struct drv_node *)driver_node_at(f->d, 1);
	driver_start(f->d);
	bad.ok = false;
	bad.reason = "health check exited with status 1: GPU 1 is missing from nvidia-smi; "
		     "GPU 3: 2 uncorrectable ECC errors";
	good.ok = true;
	/* two turns, then a third an hour and more after the first */
	heartbeat_health(f, a1, &bad);
	heartbeat_health(f, a1, &good);
	heartbeat_health(f, a1, &bad);
	heartbeat_health(f, a1, &good);
	assert_false(n1->drained);
	n1->health_fail_at[0] -= 3700;
	heartbeat_health(f, a1, &bad);
	assert_false(n1->drained);
	heartbeat_health(f, a1, &good);
	/* the third within the hour: drained, the reason cut at 127 bytes */
	heartbeat_health(f, a1, &bad);
	assert_true(n1->drained && n1->unhealthy);
	assert_string_equal(n1->drain_reason, "quarantined by hared: health check failed 3 times within "
			    "the hour (last: exited with status 1: GPU 1 is missing from nvidia...)");
	assert_true(strlen(n1->drain_reason) < DRIVER_DRAIN_REASON);
	driver_stats_get(f->d, &st);
	assert_int_equal(st.quarantines, 1);
	assert_int_equal(st.health_fails, 4);
	/* n2 as much: left in service, n1 being quarantined already */
	for (int k = 0; k < 3; k++) {
		heartbeat_health(f, a2, &bad);
		heartbeat_health(f, a2, &good);
	}
	assert_false(n2->drained);
	driver_stats_get(f->d, &st);
	assert_int_equal(st.quarantines, 1);
	/* given back: its old turns are forgotten */
	heartbeat_health(f, a1, &good);
	assert_int_equal(driver_node_drain(f->d, "n1", false, NULL, &moved, msg, sizeof(msg)), 0);
	heartbeat_health(f, a1, &bad);
	heartbeat_health(f, a1, &good);
	assert_false(n1->drained);
	/* a short reason is kept whole */
	bad.reason = "disk full";
	heartbeat_health(f, a1, &bad);
	heartbeat_health(f, a1, &good);
	heartbeat_health(f, a1, &bad);
	assert_true(n1->drained);
	assert_string_equal(n1->drain_reason, "quarantined by hared: health check failed 3 times within "
			    "the hour (last: disk full)");
	/* a text of 2-byte characters is cut between two of them */
	{
		char wide[160] = "health check ";

		for (int k = 0; k < 60; k++)
			strcat(wide, "\xc3\xa9");	/* é */
		bad.reason = wide;
		heartbeat_health(f, a1, &good);
		assert_int_equal(driver_node_drain(f->d, "n1", false, NULL, &moved, msg, sizeof(msg)), 0);
		for (int k = 0; k < 3; k++) {
			heartbeat_health(f, a1, &bad);
			heartbeat_health(f, a1, &good);
		}
		assert_true(n1->drained);
		assert_true(strlen(n1->drain_reason) <= DRIVER_DRAIN_REASON - 1);
		assert_non_null(strstr(n1->drain_reason, "(last: \xc3\xa9"));
		assert_int_equal(strlen(strstr(n1->drain_reason, "(last: ")), 7 + 50 + 4);
		assert_string_equal(n1->drain_reason + strlen(n1->drain_reason) - 6, "\xc3\xa9...)");
	}
}

/* A drain of an unknown node names the known ones by name, as harectl
 * nodes lists them, not in the order they came. */
static void test_unknown_node_sorted(void **state)
{
	struct fx *f = *state;
	uint32_t moved;
	char msg[300];

	agent_up(f, "node10", "V100", 1, NULL, 0);
	agent_up(f, "node2", "V100", 1, NULL, 0);
	agent_up(f, "gpu-a", "V100", 1, NULL, 0);
	assert_int_equal(driver_node_drain(f->d, "x", true, NULL, &moved, msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg, "unknown node 'x' (known: gpu-a node2 node10)");
}

/* A store in a fresh temporary folder dir (of 256 bytes). */
static struct store *tmp_store(char *dir, const char *name)
{
	char path[300], err[256];
	struct store *st = NULL;

	snprintf(dir, 256, "%s/hare-%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hare.db", dir);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	return st;
}

/* Close a second driver and its store, and remove the store's folder. */
static void tmp_driver_free(struct fx *f, struct driver *d2, struct store *st, const char *dir)
{
	char cmd[300];

	driver_close(d2);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	driver_free(d2);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A drain is kept in the store: a new driver knows the node as drained
 * before its agent attaches, and keeps it so after. */
static void test_drain_persists(void **state)
{
	struct fx *f = *state;
	struct driver_opts o = { .policy = "hare", .time_scale = 1000, .replan_debounce_ms = 10,
				 .stop_grace_s = 2, .max_retries = 1 };
	char dir[256], path[300], err[256], msg[300];
	struct store *st = NULL;
	struct driver *d2 = NULL;
	uint32_t moved;

	snprintf(dir, sizeof(dir), "%s/hare-drain.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hare.db", dir);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_true(driver_agent_attach(d2, "n1", "127.0.0.1") > 0);
	assert_int_equal(driver_node_drain(d2, "n1", true, "disk", &moved, msg, sizeof(msg)), 0);
	driver_close(d2);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	driver_free(d2);
	store_close(st);

	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_node_count(d2), 1);
	assert_true(driver_node_at(d2, 0)->drained);
	assert_string_equal(driver_node_at(d2, 0)->drain_reason, "disk");
	assert_false(driver_node_at(d2, 0)->up);
	assert_int_equal(driver_agent_attach(d2, "n1", "127.0.0.1"), 1);
	assert_true(driver_node_at(d2, 0)->drained);
	assert_int_equal(driver_node_drain(d2, "n1", false, NULL, &moved, msg, sizeof(msg)), 0);
	driver_close(d2);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	driver_free(d2);
	store_close(st);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	/* undrained: down, not drained, until its agent is back */
	assert_int_equal(driver_node_count(d2), 1);
	assert_false(driver_node_at(d2, 0)->drained);
	/* a node the store knows can be drained before its agent is back */
	assert_int_equal(driver_node_drain(d2, "n9", true, NULL, &moved, msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg, "unknown node 'n9' (known: n1)");
	assert_int_equal(driver_node_drain(d2, "n1", true, "rack move", &moved, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "node n1 drained");
	assert_int_equal(driver_node_count(d2), 1);
	assert_false(driver_node_at(d2, 0)->up);
	tmp_driver_free(f, d2, st, dir);
}

/* A job of its own proxy sizes: its workers get them (--proxy), its speed
 * model learns its rounds, but the model's shared ratio does not. */
static void test_speed_learning_proxy(void **state)
{
	struct fx *f = *state;
	struct hand h[2] = { { 1, { 0 }, { 1 } }, { 0 } };
	struct store_job rec = job_rec(1, "resnet50", 1, 100000);
	const struct drv_job *j;
	uint32_t a1, v100 = (uint32_t)profile_gpu_type_find(f->prof, "V100"), starts = 0;
	char err[256];

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	snprintf(rec.proxy, sizeof(rec.proxy), "batch=8");
	assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
	job_add(f, 2, "resnet50", 1, 1000);	/* of default sizes, not started */
	driver_start(f->d);
	ob_clear(&f->ob);
	plan_apply(f, h, 2);
	for (uint32_t i = 0; i < f->ob.n; i++) {
		const Hare__FromDaemon *m = f->ob.msg[i];

		if (m->msg_case != HARE__FROM_DAEMON__MSG_TASK_START)
			continue;
		starts++;
		assert_int_equal(m->task_start->job_id, 1);
		assert_string_equal(m->task_start->proxy, "batch=8");
	}
	assert_int_equal(starts, 1);
	j = driver_job_find(f->d, 1);
	report(f, a1, 1, j->lease.id, 0, 0, 100);
	assert_true(driver_job_find(f->d, 1)->speed.weight_sum == 100);
	job_add(f, 3, "resnet50", 1, 1000);
	j = driver_job_find(f->d, 3);
	assert_true(fabs(j->perf.compute_s[v100] - j->perf_prof.compute_s[v100] / 1000) < 1e-15);
}

/* A user's own program reports what it likes: its job's speed model learns
 * its rounds, the model's shared ratio does not; root's program's does. */
static void speed_learning_command(struct fx *f, const char *owner, bool shared)
{
	struct hand h[1] = { { 1, { 0 }, { 1 } } };
	struct store_job rec = job_rec(1, "resnet50", 1, 100000);
	uint32_t a1, v100 = (uint32_t)profile_gpu_type_find(f->prof, "V100");
	const struct drv_job *j;
	char err[256];

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	snprintf(rec.user, sizeof(rec.user), "%s", owner);
	snprintf(rec.command, sizeof(rec.command), "python3 /shared/train.py");
	assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
	driver_start(f->d);
	plan_apply(f, h, 1);
	j = driver_job_find(f->d, 1);
	report(f, a1, 1, j->lease.id, 0, 0, 100);
	assert_true(driver_job_find(f->d, 1)->speed.weight_sum == 100);
	job_add(f, 2, "resnet50", 1, 1000);	/* a new job of the model */
	j = driver_job_find(f->d, 2);
	assert_int_equal(fabs(j->perf.compute_s[v100] - j->perf_prof.compute_s[v100] / 1000) > 1e-15,
			 shared);
}

static void test_speed_learning_command(void **state)
{
	speed_learning_command(*state, "alice", false);
}

static void test_speed_learning_command_root(void **state)
{
	speed_learning_command(*state, "root", true);
}

/* Rendezvous data goes to every agent of the lease, and only from one. */
static void test_rendezvous(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 2 }, { 1, 1 } } };
	Hare__Rendezvous r = HARE__RENDEZVOUS__INIT;
	uint32_t a1, a2, a3;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	a3 = agent_up(f, "n3", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	r.job_id = 1;
	r.lease_id = driver_job_find(f->d, 1)->lease.id;
	r.data.data = (uint8_t *)"nccl-id";
	r.data.len = 7;
	driver_rendezvous(f->d, a3, &r);	/* not in the lease */
	assert_int_equal(f->ob.n, 0);
	driver_rendezvous(f->d, a1, &r);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a1, 0), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a2, 0), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a3, 0), 0);
	assert_memory_equal(f->ob.msg[0]->rendezvous->data.data, "nccl-id", 7);

	/* what no agent accepts is neither relayed nor kept for resending */
	ob_clear(&f->ob);
	r.data.len = 0;
	driver_rendezvous(f->d, a1, &r);
	r.data.data = (uint8_t[DRIVER_RDV_MAX + 1]){ 0 };
	r.data.len = DRIVER_RDV_MAX + 1;
	driver_rendezvous(f->d, a1, &r);
	assert_int_equal(f->ob.n, 0);
	assert_int_equal(driver_job_find(f->d, 1)->lease.rdv_len, 7);
	r.data.len = DRIVER_RDV_MAX;
	driver_rendezvous(f->d, a1, &r);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a2, 0), 1);
	assert_int_equal(driver_job_find(f->d, 1)->lease.rdv_len, DRIVER_RDV_MAX);
}

static Hare__RunningTask rt(uint64_t job, uint64_t lease, uint32_t rank)
{
	Hare__RunningTask t = HARE__RUNNING_TASK__INIT;

	t.job_id = job;
	t.lease_id = lease;
	t.rank = rank;
	return t;
}

/* After a restart: contiguous ranks are adopted, gaps and queued or
 * unknown jobs are stopped. */
static void test_adoption(void **state)
{
	struct fx *f = *state;
	struct store_job j5 = job_rec(5, "resnet50", 2, 1000), j6 = job_rec(6, "resnet50", 4, 1000);
	struct store_job j7 = job_rec(7, "lm", 1, 1000);
	const uint64_t big = 9000000000000000ull;
	Hare__RunningTask t[6] = { rt(5, big, 0), rt(5, big, 1), rt(6, 88, 0), rt(6, 88, 2),
				   rt(7, 99, 0), rt(42, 1, 0) };
	Hare__RunningTask *tp[6];
	const struct drv_job *j;
	struct hand h[3] = { { 2, { 0, 1 }, { 1, 1 } }, { 0 }, { 1, { 6 }, { 1 } } };
	uint32_t a1, busy = 0, tasks = 0;

	j5.state = j6.state = STORE_RUNNING;
	j5.rounds_done = 100;
	j5.start_time = j6.start_time = driver_now() - 10;
	assert_int_equal(driver_job_load(f->d, &j5), 0);
	assert_int_equal(driver_job_load(f->d, &j6), 0);
	assert_int_equal(driver_job_load(f->d, &j7), 0);
	driver_start(f->d);
	for (int i = 0; i < 6; i++)
		tp[i] = &t[i];
	a1 = agent_up(f, "n1", "V100", 8, tp, 6);
	/* Queued job 7 and unknown job 42 are stopped at once. */
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 7), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 42), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 0), 2);
	ob_clear(&f->ob);
	driver_grace_end(f->d);
	j = driver_job_find(f->d, 5);
	assert_int_equal(j->lease.id, big);
	assert_true(j->lease.adopted);
	assert_int_equal(j->lease.nranks, 2);
	for (uint32_t r = 0; r < 2; r++)
		tasks += j->lease.ranks[r].tasks;
	assert_int_equal(tasks, 2);
	assert_int_equal(j->rec.state, STORE_RUNNING);
	/* Job 6 had ranks 0 and 2 only: stopped and queued. */
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 6), 1);
	assert_int_equal(driver_job_find(f->d, 6)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 6)->lease.id, 0);
	for (uint32_t g = 0; g < 8; g++)
		busy += gpu_of(f, 0, g)->job_id == 5;
	assert_int_equal(busy, 2);
	assert_int_equal(gpu_of(f, 0, 6)->job_id, 0);
	/* Progress on the adopted lease comes from absolute round numbers. */
	report(f, a1, 5, big, 0, 100, 10);
	assert_int_equal(driver_job_find(f->d, 5)->rec.rounds_done, 100);
	report(f, a1, 5, big, 1, 100, 5);
	assert_int_equal(driver_job_find(f->d, 5)->rec.rounds_done, 105);
	/* A plan that keeps the adopted placement keeps the lease; new leases
	 * are numbered after the adopted one. */
	ob_clear(&f->ob);
	plan_apply(f, h, 3);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 7), 1);
	assert_true(driver_job_find(f->d, 7)->lease.id > big);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, big);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 5), 0);
}

/* A worker as an agent that says everything lists it. */
static Hare__RunningTask rt_full(uint64_t job, uint64_t lease, uint32_t rank, uint32_t gpu,
				 uint32_t tasks, uint32_t world, uint64_t first)
{
	Hare__RunningTask t = rt(job, lease, rank);

	t.has_gpu_index = t.has_tasks = t.has_world_size = t.has_round_first = true;
	t.gpu_index = gpu;
	t.tasks = tasks;
	t.world_size = world;
	t.round_first = first;
	return t;
}

static void load_running(struct fx *f, uint64_t id, uint32_t tasks, uint64_t rounds_done)
{
	struct store_job j = job_rec(id, "resnet50", tasks, 1000);

	j.state = STORE_RUNNING;
	j.rounds_done = rounds_done;
	j.start_time = driver_now() - 10;
	assert_int_equal(driver_job_load(f->d, &j), 0);
}

/* Is cluster GPU g up in a snapshot taken now (and how many jobs are in it)? */
static bool snap_gpu_up(struct fx *f, uint32_t g, uint32_t *njobs)
{
	struct driver_snapshot *s;
	bool up;

	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	up = driver_snapshot_view(s)->cluster->gpus[g].up;
	if (njobs)
		*njobs = driver_snapshot_view(s)->njobs;
	driver_snapshot_free(s);
	return up;
}

/* Agents that say each worker's GPU, tasks, world size and first round:
 * the lease is adopted exactly, as soon as its last rank is back, and the
 * reports of the grace period count. */
/* An adopted lease keeps the start its store event gives (so a restart of
 * hared does not renew its min_lease_s protection); without one, now. */
static void test_adopt_keeps_lease_start(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 0);
	struct store_job rec = job_rec(0, "resnet50", 1, 100000);
	Hare__RunningTask t[1];
	Hare__RunningTask *pt[1] = { &t[0] };
	char dir[256], err[256];
	struct store *st = NULL;
	double t0 = driver_now();

	st = tmp_store(dir, "adopt");
	rec.state = STORE_RUNNING;
	rec.start_time = t0 - 9000;
	assert_int_equal(store_job_insert(st, &rec), 0);
	assert_int_equal(store_event(st, t0 - 9000, rec.id, "start", "lease=77 gpus=n1:1"), 0);
	assert_int_equal(store_event(st, t0 - 5000, rec.id, "restart", "lease=777 gpus=n1:0"), 0);
	assert_int_equal(store_event(st, t0 - 4000, rec.id, "preempt", "lease=777 stopped"), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &rec), 0);
	f->d = d2;
	driver_start(d2);
	t[0] = rt_full(rec.id, 777, 0, 0, 1, 1, 0);
	agent_up(f, "n1", "V100", 2, pt, 1);
	assert_int_equal(driver_job_find(d2, rec.id)->lease.id, 777);
	assert_true(fabs(driver_job_find(d2, rec.id)->lease.start - (t0 - 5000)) < 1e-3);
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* A lease's GPU time in the store: gpus of type from start to end. */
static void lease_row(struct store *st, uint64_t job, uint64_t lease, const char *type,
		      uint32_t gpus, double start, double end)
{
	assert_int_equal(store_usage_start(st, job, lease, type, gpus, start), 0);
	assert_int_equal(store_usage_until(st, job, lease, end), 0);
}

struct gpu_secs {
	uint32_t n;
	char type[4][16];
	double s[4];
};

static int gpu_secs_add(void *user, const char *type, double gpu_s)
{
	struct gpu_secs *g = user;

	assert_true(g->n < 4);
	snprintf(g->type[g->n], sizeof(g->type[0]), "%s", type);
	g->s[g->n++] = gpu_s;
	return 0;
}

static struct gpu_secs gpu_secs_of(struct store *st, uint64_t id, uint64_t except)
{
	struct gpu_secs g = { 0 };

	assert_int_equal(store_usage_job(st, id, except, gpu_secs_add, &g), 0);
	return g;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* GPU time: a lease's GPUs by type from its start; driver_usage_sync
 * writes a running lease's time until now, its end stops it. */
static void test_usage_lease(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 0);
	struct store_job rec = job_rec(0, "resnet50", 3, 100000);
	struct hand h[1] = { { 3, { 0, 1, 4 }, { 1, 1, 1 } } };
	struct gpu_secs g;
	char dir[256], err[256], msg[256];
	struct store *st = tmp_store(dir, "usage");
	double t0, t1, ran;

	assert_int_equal(store_job_insert(st, &rec), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	f->d = d2;
	agent_up(f, "n1", "V100", 4, NULL, 0);
	agent_up(f, "n2", "t4", 4, NULL, 0);	/* written as the profile names it */
	assert_int_equal(driver_job_add(d2, &rec, err, sizeof(err)), 0);
	driver_start(d2);
	t0 = driver_now();
	plan_apply(f, h, 1);
	t1 = driver_now();
	assert_int_equal(gpu_secs_of(st, rec.id, 0).n, 0);	/* no time yet */
	sleep_ms(60);
	driver_usage_sync(d2);
	ran = driver_now() - t0;
	g = gpu_secs_of(st, rec.id, 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.type[0], "T4");
	assert_string_equal(g.type[1], "V100");
	assert_true(g.s[0] >= 0.05 && g.s[0] <= ran);
	assert_true(fabs(g.s[1] - 2 * g.s[0]) < 1e-9);
	/* only its own lease: another lease number of the job has none */
	assert_int_equal(gpu_secs_of(st, rec.id, driver_job_find(d2, rec.id)->lease.id).n, 0);
	sleep_ms(40);
	assert_int_equal(driver_job_cancel(d2, rec.id, "alice", false, msg, sizeof(msg)), 0);
	ran = driver_now() - t1;
	g = gpu_secs_of(st, rec.id, 0);
	sleep_ms(20);
	driver_usage_sync(d2);
	assert_true(gpu_secs_of(st, rec.id, 0).s[0] == g.s[0]);	/* ended: no more */
	assert_true(g.s[0] >= 0.1 && g.s[0] <= ran + (t1 - t0));
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* A restart: a job's attained GPU time (the LAS policies' service) is what
 * the store has of its leases but the one it may adopt; an adopted lease's
 * time runs on from its first start, hared's down time included. */
static void test_usage_restart(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 0);
	struct store_job run = job_rec(0, "resnet50", 1, 100000), wait = job_rec(0, "lm", 2, 1000);
	struct store_job lost = job_rec(0, "lm", 1, 1000), half = job_rec(0, "lm", 2, 1000);
	Hare__RunningTask t[2];
	Hare__RunningTask *pt[2] = { &t[0], &t[1] };
	struct gpu_secs g;
	char dir[256], err[256];
	struct store *st = tmp_store(dir, "usage-restart");
	double t0 = driver_now();

	run.state = STORE_RUNNING;
	run.start_time = t0 - 9000;
	assert_int_equal(store_job_insert(st, &run), 0);
	assert_int_equal(store_job_insert(st, &wait), 0);
	/* run: an old lease (50 GPU-s) and lease 7, written down until 1000 s
	 * after its start; wait: 120 GPU-s in lease 5 */
	lease_row(st, run.id, 3, "T4", 1, t0 - 9500, t0 - 9450);
	assert_int_equal(store_event(st, t0 - 9000, run.id, "restart", "lease=7 gpus=n1/0*1"), 0);
	lease_row(st, run.id, 7, "V100", 1, t0 - 9000, t0 - 8000);
	lease_row(st, wait.id, 5, "V100", 2, t0 - 200, t0 - 140);
	/* lost: lease 9 (30 GPU-s), which no agent has any more */
	lost.state = STORE_RUNNING;
	lost.start_time = t0 - 100;
	assert_int_equal(store_job_insert(st, &lost), 0);
	assert_int_equal(store_event(st, t0 - 100, lost.id, "start", "lease=9 gpus=n2/0*1"), 0);
	lease_row(st, lost.id, 9, "T4", 1, t0 - 100, t0 - 70);
	/* half: lease 11 on 2 GPUs (600 s, written until 100 s after its
	 * start), of whose workers only rank 0 comes back */
	half.state = STORE_RUNNING;
	half.start_time = t0 - 600;
	assert_int_equal(store_job_insert(st, &half), 0);
	assert_int_equal(store_event(st, t0 - 600, half.id, "start", "lease=11 gpus=n1/1*1,n2/0*1"), 0);
	lease_row(st, half.id, 11, "V100", 2, t0 - 600, t0 - 500);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &run), 0);
	assert_int_equal(driver_job_load(d2, &wait), 0);
	assert_int_equal(driver_job_load(d2, &lost), 0);
	assert_int_equal(driver_job_load(d2, &half), 0);
	assert_true(driver_job_find(d2, run.id)->attained_gpu_s == 50);
	assert_true(driver_job_find(d2, wait.id)->attained_gpu_s == 120);
	assert_true(driver_job_find(d2, lost.id)->attained_gpu_s == 0);
	f->d = d2;
	driver_start(d2);
	t[0] = rt_full(run.id, 7, 0, 0, 1, 1, 0);
	t[1] = rt_full(half.id, 11, 0, 1, 1, 2, 0);
	agent_up(f, "n1", "V100", 2, pt, 2);
	driver_grace_end(d2);	/* lost's lease is not back, half's is not whole */
	assert_int_equal(driver_job_find(d2, run.id)->lease.id, 7);
	assert_true(driver_job_find(d2, run.id)->attained_gpu_s == 50);
	/* lease 7 ran all along: 9000 s, not the 1000 written before */
	g = gpu_secs_of(st, run.id, 3);
	assert_int_equal(g.n, 1);
	assert_true(g.s[0] >= 9000 && g.s[0] < 9000 + (driver_now() - t0) + 1e-6);
	/* lost is not adopted: its lease ended as the store has it */
	assert_int_equal(driver_job_find(d2, lost.id)->rec.state, STORE_QUEUED);
	assert_true(driver_job_find(d2, lost.id)->attained_gpu_s == 30);
	assert_true(gpu_secs_of(st, lost.id, 0).s[0] == 30);
	/* half's rank 0 ran until hared stopped it at the grace's end */
	assert_int_equal(driver_job_find(d2, half.id)->rec.state, STORE_QUEUED);
	g = gpu_secs_of(st, half.id, 0);
	assert_true(g.s[0] >= 2 * 600 && g.s[0] < 2 * (600 + driver_now() - t0) + 1e-6);
	assert_true(driver_job_find(d2, half.id)->attained_gpu_s == g.s[0]);
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* ---- jobs that run after others ---- */

/* A driver over a store of its own in dir (tmp_driver_free ends both). */
static struct driver *after_driver(struct fx *f, const struct driver_opts *o, char *dir,
				   struct store **st)
{
	struct driver *d2 = NULL;
	char err[256];

	*st = tmp_store(dir, "after");
	assert_int_equal(driver_new(&f->loop, o, f->prof, *st, ob_send, &f->ob, &d2, err,
				    sizeof(err)), 0);
	return d2;
}

/* Put the fixture's driver back and end the one after_driver made. */
static void after_driver_free(struct fx *f, struct driver *keep, struct store *st, const char *dir)
{
	struct driver *d2 = f->d;

	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* Commit a job as hared does (the store gives its id), then add it; after
 * the jobs it runs after (0 ends the list). */
static uint64_t after_submit(struct fx *f, struct store *st, uint32_t tasks, uint64_t rounds,
			     const uint64_t *after)
{
	struct store_job j = job_rec(0, "resnet50", tasks, rounds);
	char err[256];

	while (after && after[j.nafter])
		j.after[j.nafter] = after[j.nafter], j.nafter++;
	assert_int_equal(store_job_insert(st, &j), 0);
	assert_int_equal(driver_job_add(f->d, &j, err, sizeof(err)), 0);
	return j.id;
}

/* ... a one-task job of 100 rounds after one job, of a kind. */
static uint64_t after_submit_kind(struct fx *f, struct store *st, uint64_t after, uint8_t kind)
{
	struct store_job j = job_rec(0, "resnet50", 1, 100);
	char err[256];

	j.nafter = 1;
	j.after[0] = after;
	j.after_kind[0] = kind;
	assert_int_equal(store_job_insert(st, &j), 0);
	assert_int_equal(driver_job_add(f->d, &j, err, sizeof(err)), 0);
	return j.id;
}

/* A driver over a store of its own with one V100 (node n1, its agent
 * id in *n1), job *x running on it and job *y after it. */
static struct driver *after_pair(struct fx *f, const struct driver_opts *o, char *dir,
				 struct store **st, uint32_t *n1, uint64_t *x, uint64_t *y)
{
	struct hand h[1] = { { 1, { 0 }, { 1 } } };

	f->d = after_driver(f, o, dir, st);
	*n1 = agent_up(f, "n1", "V100", 1, NULL, 0);
	*x = after_submit(f, *st, 1, 100, NULL);
	*y = after_submit(f, *st, 1, 100, (uint64_t[]){ *x, 0 });
	driver_start(f->d);
	plan_apply(f, h, 1);
	return f->d;
}

static int after_event(void *user, double time, const char *kind, const char *detail)
{
	(void)time;
	snprintf(user, 200, "%s: %s", kind, detail);
	return 0;
}

/* The job's state in the store and its newest event. */
static enum store_job_state after_stored(struct store *st, uint64_t id, char *event)
{
	struct store_job rec;

	assert_int_equal(store_job_get(st, id, &rec), 0);
	assert_int_equal(store_job_events(st, id, 1, after_event, event), 0);
	return rec.state;
}

static uint32_t snap_njobs(struct driver *d)
{
	struct driver_snapshot *s;
	uint32_t n;

	assert_int_equal(driver_snapshot_take(d, &s), 0);
	n = driver_snapshot_view(s)->njobs;
	driver_snapshot_free(s);
	return n;
}

/* A job waits out of the plans until the jobs it runs after are DONE; a
 * cancel of one cancels the jobs after it, theirs in turn; the submit's
 * check refuses unknown, ended-badly and repeated jobs. */
static void test_after_waits(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct hand h[2] = { { 1, { 0 }, { 1 } }, { 0 } };
	struct driver_stats ds;
	struct store *st;
	char dir[256], err[256], ev[200];
	uint64_t a, b, c, d, e, g, list[3], lease;
	uint32_t n1;

	f->d = after_driver(f, &o, dir, &st);
	n1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	a = after_submit(f, st, 1, 100, NULL);
	b = after_submit(f, st, 1, 100, (uint64_t[]){ a, 0 });
	c = after_submit(f, st, 1, 100, (uint64_t[]){ b, 0 });
	d = after_submit(f, st, 1, 100, (uint64_t[]){ a, b, 0 });
	e = after_submit(f, st, 1, 100, NULL);
	driver_start(f->d);
	assert_int_equal(snap_njobs(f->d), 2);		/* a and e */
	assert_int_equal(driver_job_find(f->d, b)->nafter_wait, 1);
	assert_int_equal(driver_job_find(f->d, b)->after_wait[0], a);
	assert_int_equal(driver_job_find(f->d, d)->nafter_wait, 2);
	list[0] = a;
	list[1] = e;
	assert_int_equal(driver_after_check(f->d, list, NULL, 2, err, sizeof(err)), 0);
	list[1] = a;
	assert_int_equal(driver_after_check(f->d, list, NULL, 2, err, sizeof(err)), ERR_BAD_SPEC);
	assert_string_equal(err, "after lists job 1 twice");
	list[1] = 999;
	assert_int_equal(driver_after_check(f->d, list, NULL, 2, err, sizeof(err)), ERR_BAD_SPEC);
	assert_string_equal(err, "after: no job 999");
	/* a runs to its end: b and d wait no more for it once its worker
	 * has exited (it may save its model within finish_grace_s) */
	plan_apply(f, h, 2);
	lease = driver_job_find(f->d, a)->lease.id;
	for (uint32_t k = 0; k < 2; k++)
		report(f, n1, a, lease, 0, 50 * k, 50);
	assert_null(driver_job_find(f->d, a));
	assert_int_equal(driver_job_find(f->d, b)->nafter_wait, 1);
	assert_int_equal(snap_njobs(f->d), 1);		/* e */
	task_exit(f, n1, a, lease, 0, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(driver_job_find(f->d, b)->nafter_wait, 0);
	assert_int_equal(driver_job_find(f->d, d)->nafter_wait, 1);
	assert_int_equal(driver_job_find(f->d, d)->after_wait[0], b);
	assert_int_equal(driver_job_find(f->d, c)->nafter_wait, 1);
	assert_int_equal(snap_njobs(f->d), 2);		/* b and e */
	assert_int_equal(driver_after_check(f->d, &a, NULL, 1, err, sizeof(err)), 0);	/* DONE */
	/* b is cancelled: c and d after it go too, e stays */
	assert_int_equal(driver_job_cancel(f->d, b, "alice", false, err, sizeof(err)), 0);
	assert_int_equal(store_flush(st), 0);
	assert_null(driver_job_find(f->d, c));
	assert_null(driver_job_find(f->d, d));
	assert_non_null(driver_job_find(f->d, e));
	assert_int_equal(after_stored(st, c, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after, ended CANCELLED",
		 (unsigned long long)b);
	assert_string_equal(ev, err);
	assert_int_equal(after_stored(st, d, ev), STORE_CANCELLED);
	assert_string_equal(ev, err);
	driver_stats_get(f->d, &ds);
	assert_int_equal(ds.cancelled, 3);
	assert_int_equal(ds.done, 1);
	assert_int_equal(driver_after_check(f->d, &c, NULL, 1, err, sizeof(err)), ERR_BAD_SPEC);
	snprintf(ev, sizeof(ev), "after: job %llu is CANCELLED, so this job would never run",
		 (unsigned long long)c);
	assert_string_equal(err, ev);
	/* c ended between a submit's check and its commit: the job is
	 * cancelled as it is added */
	g = after_submit(f, st, 1, 100, (uint64_t[]){ e, c, 0 });
	assert_null(driver_job_find(f->d, g));
	assert_int_equal(after_stored(st, g, ev), STORE_CANCELLED);
	after_driver_free(f, keep, st, dir);
}

/* A job that FAILED cancels the jobs after it; a chain of 2000 jobs each
 * after the one before is cancelled whole by a cancel of its first. */
static void test_after_failed_chain(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct store *st;
	char dir[256], err[256], ev[200];
	uint64_t x, y, first, prev;
	uint32_t n1;

	o.max_retries = 0;
	after_pair(f, &o, dir, &st, &n1, &x, &y);
	task_fail_code(f, n1, x, driver_job_find(f->d, x)->lease.id, 0, 1);
	assert_null(driver_job_find(f->d, x));
	assert_null(driver_job_find(f->d, y));
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(after_stored(st, x, ev), STORE_FAILED);
	assert_int_equal(after_stored(st, y, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after, ended FAILED",
		 (unsigned long long)x);
	assert_string_equal(ev, err);
	first = prev = after_submit(f, st, 1, 100, NULL);
	for (uint32_t i = 1; i < 2000; i++)
		prev = after_submit(f, st, 1, 100, (uint64_t[]){ prev, 0 });
	assert_int_equal(driver_job_count(f->d), 2000);
	assert_int_equal(driver_job_cancel(f->d, first, "root", true, err, sizeof(err)), 0);
	assert_int_equal(driver_job_count(f->d), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(after_stored(st, prev, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after, ended CANCELLED",
		 (unsigned long long)prev - 1);
	assert_string_equal(ev, err);
	after_driver_free(f, keep, st, dir);
}

/* The weight job id is planned with now (0: not in a plan). */
static double after_weight_of(struct fx *f, uint64_t id)
{
	struct driver_snapshot *s;
	const struct sched_snapshot *v;
	double w = 0;

	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	v = driver_snapshot_view(s);
	for (uint32_t i = 0; i < v->njobs; i++)
		if (v->jobs[i].id == id)
			w = v->jobs[i].weight;
	driver_snapshot_free(s);
	return w;
}

/* A job others wait for is planned with their weight too, shared among
 * the jobs each waits for, down the chains: of two jobs alike, the one a
 * chain waits for goes first. The jobs keep their own weights. */
static void test_after_weights(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct driver_snapshot *s;
	const struct sched_snapshot *v;
	struct driver_update hold = { .hold = 1 };
	struct store *st;
	char dir[256], msg[200];
	uint64_t a, b, c, e;
	uint32_t ia = 0, ib = 0;

	f->d = after_driver(f, &o, dir, &st);
	agent_up(f, "n1", "V100", 1, NULL, 0);
	a = after_submit(f, st, 1, 1000, NULL);
	b = after_submit(f, st, 1, 1000, NULL);
	c = after_submit(f, st, 1, 1000, (uint64_t[]){ b, 0 });
	after_submit(f, st, 1, 1000, (uint64_t[]){ c, 0 });	/* d: c 2, b 3 */
	e = after_submit(f, st, 1, 1000, (uint64_t[]){ a, b, 0 });	/* a, b 0.5 each */
	driver_start(f->d);
	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	v = driver_snapshot_view(s);
	assert_int_equal(v->njobs, 2);
	for (uint32_t i = 0; i < 2; i++) {
		if (v->jobs[i].id == a)
			ia = i;
		else
			ib = i;
	}
	assert_int_equal(v->jobs[ia].id, a);
	assert_int_equal(v->jobs[ib].id, b);
	assert_true(fabs(v->jobs[ia].weight - 1.5) < 1e-12);
	assert_true(fabs(v->jobs[ib].weight - 3.5) < 1e-12);
	assert_int_equal(driver_snapshot_plan_run(f->d, s), 0);
	assert_int_equal(driver_plan_apply(f->d, s), 0);
	driver_snapshot_free(s);
	assert_true(driver_job_find(f->d, b)->order < driver_job_find(f->d, a)->order);
	assert_int_equal(driver_job_find(f->d, b)->rec.state, STORE_RUNNING);
	assert_true(driver_job_find(f->d, b)->rec.weight == 1);
	/* a held job lends no weight: a 1, b 3 (c and d); max_user_weight
	 * bounds a user's job (not root's) however many jobs are after it */
	assert_int_equal(driver_job_update(f->d, e, "alice", false, &hold, msg, sizeof(msg)), 0);
	assert_true(after_weight_of(f, a) == 1 && after_weight_of(f, b) == 3);
	o.max_user_weight = 2;
	driver_opts_set(f->d, &o);
	assert_true(after_weight_of(f, a) == 1 && after_weight_of(f, b) == 2);
	after_driver_free(f, keep, st, dir);
}

static int seen_cb(void *user, const char *name, bool drained, const char *reason,
		   double last_seen, const char *gpus)
{
	(void)drained;
	(void)reason;
	(void)gpus;
	if (strcmp(name, "n1") == 0)
		*(double *)user = last_seen;
	return 0;
}

/* A node's last_seen reaches the store when it registers, with a
 * heartbeat DRIVER_SEEN_WRITE_S after the last write (so after a crash of
 * hared it is that close), and for every node up when hared stops
 * (driver_nodes_sync). */
static void test_node_seen_stored(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	Hare__Heartbeat hb = HARE__HEARTBEAT__INIT;
	struct drv_node *n;
	struct store *st;
	char dir[256];
	double seen = 0, t0;
	uint32_t a1;

	f->d = after_driver(f, &o, dir, &st);
	a1 = agent_up(f, "n1", "V100", 1, NULL, 0);
	assert_int_equal(store_nodes_load(st, seen_cb, &seen), 0);
	t0 = seen;
	assert_true(t0 > 0);
	n = (struct drv_node *)driver_node_at(f->d, 0);
	/* a heartbeat soon after: not written */
	n->seen_stored = t0;
	driver_agent_heartbeat(f->d, a1, &hb);
	assert_int_equal(store_nodes_load(st, seen_cb, &seen), 0);
	assert_true(seen == t0);
	/* a minute after the last write: written */
	n->seen_stored = t0 - DRIVER_SEEN_WRITE_S;
	driver_agent_heartbeat(f->d, a1, &hb);
	assert_int_equal(store_nodes_load(st, seen_cb, &seen), 0);
	assert_true(seen >= t0 && seen == n->last_seen);
	/* hared stops: seen now */
	t0 = driver_now();
	driver_nodes_sync(f->d);
	assert_int_equal(store_nodes_load(st, seen_cb, &seen), 0);
	assert_true(seen >= t0);
	after_driver_free(f, keep, st, dir);
}

/* A committed job the driver cannot take (its model's profile gone
 * between the submit's check and its commit) is marked FAILED with the
 * reason, on disk with the ends' commit, so a job after it is refused. */
static void test_job_add_fails(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct store_job j = job_rec(0, "nosuchmodel", 1, 10);
	struct store *st;
	char dir[256], err[256], ev[200];

	f->d = after_driver(f, &o, dir, &st);
	assert_int_equal(store_job_insert(st, &j), 0);
	assert_true(driver_job_add(f->d, &j, err, sizeof(err)) < 0);
	assert_null(driver_job_find(f->d, j.id));
	driver_ends_commit(f->d);
	assert_int_equal(after_stored(st, j.id, ev), STORE_FAILED);
	assert_non_null(strstr(ev, "fail: hared could not schedule it: "));
	assert_int_equal(driver_after_check(f->d, &j.id, NULL, 1, err, sizeof(err)), ERR_BAD_SPEC);
	after_driver_free(f, keep, st, dir);
}

/* The kinds of dependency: a job after_any runs however the job before it
 * ends, one after_notok only if it fails (cancelled when it is DONE, once
 * its workers have exited), and lends it no planning weight; the submit's
 * check refuses only what could never run. */
static void test_after_kinds(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct hand h[1] = { { 1, { 0 }, { 1 } } };
	struct store *st;
	char dir[256], err[256], ev[200];
	uint64_t x, ok, any, notok, x2, any2, notok2, lease;
	uint8_t kind;
	uint32_t n1;

	o.max_retries = 0;
	f->d = after_driver(f, &o, dir, &st);
	n1 = agent_up(f, "n1", "V100", 1, NULL, 0);
	x = after_submit(f, st, 1, 100, NULL);
	ok = after_submit_kind(f, st, x, STORE_AFTER_OK);
	any = after_submit_kind(f, st, x, STORE_AFTER_ANY);
	notok = after_submit_kind(f, st, x, STORE_AFTER_NOTOK);
	driver_start(f->d);
	plan_apply(f, h, 1);
	assert_int_equal(snap_njobs(f->d), 1);
	/* planned with ok's and any's weight, not notok's */
	assert_true(after_weight_of(f, x) == 3);
	/* x fails: ok is cancelled, any and notok may run */
	task_fail_code(f, n1, x, driver_job_find(f->d, x)->lease.id, 0, 1);
	assert_null(driver_job_find(f->d, x));
	assert_null(driver_job_find(f->d, ok));
	assert_int_equal(driver_job_find(f->d, any)->nafter_wait, 0);
	assert_int_equal(driver_job_find(f->d, notok)->nafter_wait, 0);
	assert_int_equal(snap_njobs(f->d), 2);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(after_stored(st, ok, ev), STORE_CANCELLED);
	/* the submit's check: after_any a FAILED job, after_notok one, fine;
	 * after_notok a DONE job never runs */
	kind = STORE_AFTER_ANY;
	assert_int_equal(driver_after_check(f->d, &x, &kind, 1, err, sizeof(err)), 0);
	kind = STORE_AFTER_NOTOK;
	assert_int_equal(driver_after_check(f->d, &x, &kind, 1, err, sizeof(err)), 0);
	kind = STORE_AFTER_OK;
	assert_int_equal(driver_after_check(f->d, &x, &kind, 1, err, sizeof(err)), ERR_BAD_SPEC);
	/* a job runs to DONE: the one after_notok it is cancelled, the one
	 * after_any runs, both once its worker has exited */
	assert_int_equal(driver_job_cancel(f->d, notok, "root", true, err, sizeof(err)), 0);
	assert_int_equal(driver_job_cancel(f->d, any, "root", true, err, sizeof(err)), 0);
	x2 = after_submit(f, st, 1, 100, NULL);
	any2 = after_submit_kind(f, st, x2, STORE_AFTER_ANY);
	notok2 = after_submit_kind(f, st, x2, STORE_AFTER_NOTOK);
	plan_apply(f, h, 1);
	lease = driver_job_find(f->d, x2)->lease.id;
	for (uint32_t k = 0; k < 2; k++)
		report(f, n1, x2, lease, 0, 50 * k, 50);
	assert_null(driver_job_find(f->d, x2));
	assert_int_equal(driver_job_find(f->d, any2)->nafter_wait, 1);
	assert_int_equal(driver_job_find(f->d, notok2)->nafter_wait, 1);
	task_exit(f, n1, x2, lease, 0, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(driver_job_find(f->d, any2)->nafter_wait, 0);
	assert_null(driver_job_find(f->d, notok2));
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(after_stored(st, notok2, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after only if it fails, ended DONE",
		 (unsigned long long)x2);
	assert_string_equal(ev, err);
	kind = STORE_AFTER_NOTOK;
	assert_int_equal(driver_after_check(f->d, &x2, &kind, 1, err, sizeof(err)), ERR_BAD_SPEC);
	snprintf(ev, sizeof(ev), "after: job %llu is DONE and this job runs after it only if it "
		 "fails, so this job would never run", (unsigned long long)x2);
	assert_string_equal(err, ev);
	after_driver_free(f, keep, st, dir);
}

/* A job after one DONE whose worker has not exited waits for that exit as
 * the jobs already after it do; a worker whose GPU is gone when its node
 * registers again (another type) is waited for no more. */
static void test_after_done_exiting(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 60, 0, 0);
	struct store *st;
	char dir[256];
	uint64_t x, y, z;
	uint32_t n1;

	after_pair(f, &o, dir, &st, &n1, &x, &y);
	agent_up(f, "n2", "V100", 1, NULL, 0);
	report(f, n1, x, driver_job_find(f->d, x)->lease.id, 0, 0, 100);
	assert_null(driver_job_find(f->d, x));
	z = after_submit(f, st, 1, 100, (uint64_t[]){ x, 0 });
	assert_int_equal(driver_job_find(f->d, y)->nafter_wait, 1);
	assert_int_equal(driver_job_find(f->d, z)->nafter_wait, 1);
	assert_int_equal(snap_njobs(f->d), 0);
	agent_up(f, "n1", "K80", 1, NULL, 0);		/* the same node, another GPU */
	assert_int_equal(driver_job_find(f->d, y)->nafter_wait, 0);
	assert_int_equal(driver_job_find(f->d, z)->nafter_wait, 0);
	assert_int_equal(snap_njobs(f->d), 2);
	after_driver_free(f, keep, st, dir);
}

/* A DONE job whose worker never exits: the job after it waits as long as
 * its GPU does (finish_grace_s, 60 s here, and a stop's grace), then runs. */
static void test_after_done_worker_stuck(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 60, 0, 0);
	struct store *st;
	char dir[256];
	uint64_t x, y, lease;
	uint32_t n1;
	double now;

	after_pair(f, &o, dir, &st, &n1, &x, &y);
	lease = driver_job_find(f->d, x)->lease.id;
	report(f, n1, x, lease, 0, 0, 100);
	assert_null(driver_job_find(f->d, x));
	now = driver_now();
	driver_deadlines_run(f->d, now + 30);
	assert_int_equal(driver_job_find(f->d, y)->nafter_wait, 1);
	/* the GPU waits for the worker's exit finish_grace_s, then its
	 * agent's stop grace (2 s) and DRIVER_STOP_MARGIN_S */
	driver_deadlines_run(f->d, now + 61);
	assert_int_equal(driver_job_find(f->d, y)->nafter_wait, 1);
	driver_deadlines_run(f->d, now + 68);
	assert_int_equal(driver_job_find(f->d, y)->nafter_wait, 0);
	assert_int_equal(snap_njobs(f->d), 1);
	after_driver_free(f, keep, st, dir);
}

/* After a restart: a job after one DONE may run, one after a FAILED one
 * (hared stopped before it cancelled it) is cancelled at the start, one
 * after a job still queued waits for it, and one after a larger id (not
 * written by hared) is cancelled as after an unknown job. */
static void test_after_restart(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct store_job done = job_rec(0, "resnet50", 1, 10), failed = job_rec(0, "resnet50", 1, 10);
	struct store_job ok = job_rec(0, "resnet50", 1, 10), broken = job_rec(0, "resnet50", 1, 10);
	struct store_job later = job_rec(0, "resnet50", 1, 10), forward = job_rec(0, "resnet50", 1, 10);
	struct store_job target = job_rec(0, "resnet50", 1, 10);
	struct store_job any = job_rec(0, "resnet50", 1, 10), notok = job_rec(0, "resnet50", 1, 10);
	struct store *st;
	char dir[256], err[256], ev[200];

	f->d = after_driver(f, &o, dir, &st);
	done.state = STORE_DONE;
	failed.state = STORE_FAILED;
	assert_int_equal(store_job_insert(st, &done), 0);
	assert_int_equal(store_job_insert(st, &failed), 0);
	/* any: after a FAILED job, however it ended; notok: after a DONE
	 * job, only if it failed */
	any.nafter = notok.nafter = 1;
	any.after[0] = failed.id;
	any.after_kind[0] = STORE_AFTER_ANY;
	notok.after[0] = done.id;
	notok.after_kind[0] = STORE_AFTER_NOTOK;
	assert_int_equal(store_job_insert(st, &any), 0);
	assert_int_equal(store_job_insert(st, &notok), 0);
	assert_int_equal(driver_job_load(f->d, &any), 0);
	assert_int_equal(driver_job_load(f->d, &notok), 0);
	ok.nafter = broken.nafter = later.nafter = 1;
	ok.after[0] = done.id;
	broken.after[0] = failed.id;
	assert_int_equal(store_job_insert(st, &ok), 0);
	assert_int_equal(store_job_insert(st, &broken), 0);
	later.after[0] = ok.id;
	assert_int_equal(store_job_insert(st, &later), 0);
	/* forward: after a job with a larger id (hared never writes one) */
	forward.nafter = 1;
	forward.after[0] = later.id + 2;
	assert_int_equal(store_job_insert(st, &forward), 0);
	assert_int_equal(store_job_insert(st, &target), 0);
	assert_int_equal(target.id, later.id + 2);
	assert_int_equal(driver_job_load(f->d, &ok), 0);
	assert_int_equal(driver_job_load(f->d, &broken), 0);
	assert_int_equal(driver_job_load(f->d, &later), 0);
	assert_int_equal(driver_job_load(f->d, &forward), 0);
	assert_int_equal(driver_job_load(f->d, &target), 0);
	driver_start(f->d);
	driver_ends_commit(f->d);
	assert_int_equal(driver_job_find(f->d, ok.id)->nafter_wait, 0);
	assert_null(driver_job_find(f->d, broken.id));
	assert_int_equal(after_stored(st, broken.id, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after, ended FAILED",
		 (unsigned long long)failed.id);
	assert_string_equal(ev, err);
	assert_int_equal(driver_job_find(f->d, later.id)->nafter_wait, 1);
	assert_int_equal(driver_job_find(f->d, later.id)->after_wait[0], ok.id);
	assert_null(driver_job_find(f->d, forward.id));
	assert_int_equal(after_stored(st, forward.id, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after, is unknown",
		 (unsigned long long)target.id);
	assert_string_equal(ev, err);
	assert_int_equal(driver_job_find(f->d, any.id)->nafter_wait, 0);
	assert_null(driver_job_find(f->d, notok.id));
	assert_int_equal(after_stored(st, notok.id, ev), STORE_CANCELLED);
	snprintf(err, sizeof(err), "cancel: job %llu, which it runs after only if it fails, ended DONE",
		 (unsigned long long)done.id);
	assert_string_equal(ev, err);
	assert_int_equal(snap_njobs(f->d), 3);		/* any, ok and target */
	after_driver_free(f, keep, st, dir);
}

/* After a restart: a lease whose worker fails before it is adopted counts
 * until then (its other worker was back), and the job's attained service
 * takes it in; a lease adopted that the store has no start event of (so
 * the load could not leave it out) is not counted twice. */
static void test_usage_adopt_failed(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 0);
	struct store_job fl = job_rec(0, "resnet50", 2, 100000), nev = job_rec(0, "lm", 1, 100000);
	Hare__RunningTask t[2];
	Hare__RunningTask *pt[2] = { &t[0], &t[1] };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	const struct drv_job *j;
	char dir[256], err[256];
	struct store *st = tmp_store(dir, "usage-adoptfail");
	double t0 = driver_now(), got;
	uint32_t a1;

	fl.state = nev.state = STORE_RUNNING;
	assert_int_equal(store_job_insert(st, &fl), 0);
	assert_int_equal(store_job_insert(st, &nev), 0);
	assert_int_equal(store_event(st, t0 - 60, fl.id, "restart", "lease=77 gpus=n1/0*1,n1/1*1"), 0);
	lease_row(st, fl.id, 76, "T4", 1, t0 - 100, t0 - 80);
	lease_row(st, fl.id, 77, "V100", 2, t0 - 60, t0 - 50);
	/* nev: rows of leases 5 and 9, no start event */
	lease_row(st, nev.id, 5, "V100", 1, t0 - 500, t0 - 470);
	lease_row(st, nev.id, 9, "V100", 1, t0 - 100, t0 - 90);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &fl), 0);
	assert_int_equal(driver_job_load(d2, &nev), 0);
	assert_true(driver_job_find(d2, fl.id)->attained_gpu_s == 20);
	assert_true(driver_job_find(d2, nev.id)->attained_gpu_s == 40);	/* no lease to leave out */
	f->d = d2;
	driver_start(d2);
	t[0] = rt_full(fl.id, 77, 0, 0, 1, 2, 0);
	t[1] = rt_full(nev.id, 9, 0, 2, 1, 1, 0);
	a1 = agent_up(f, "n1", "V100", 4, pt, 2);
	j = driver_job_find(d2, fl.id);
	assert_true(j->adopt_wait);
	x.job_id = fl.id;
	x.lease_id = 77;
	x.rank = 1;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.has_exit_code = true;
	x.exit_code = 3;
	driver_task_exit(d2, a1, &x);
	assert_false(j->adopt_wait);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	got = gpu_secs_of(st, fl.id, 76).s[0];
	assert_true(got >= 2 * 60 && got < 2 * (60 + driver_now() - t0) + 1e-6);
	assert_true(j->attained_gpu_s == 20 + got);
	/* nobody waits for more: nev's lease is adopted */
	j = driver_job_find(d2, nev.id);
	assert_int_equal(j->lease.id, 9);
	assert_true(j->attained_gpu_s == 30);	/* lease 9 counts when it ends */
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* A worker of a lease that ran before a restart fails before the agent
 * lists it (hared was away when it ended): a failure of the job, with an
 * event, its node charged, and the job queued again at once; an exit of
 * an older lease of the job is ignored. */
static void test_adopt_failed_unlisted(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 600);
	struct store_job rec = job_rec(0, "resnet50", 1, 100000);
	const struct drv_job *j;
	char dir[256], err[256], detail[512];
	struct store *st = NULL;
	double t0 = driver_now(), when;
	uint32_t a1, nodes[DRIVER_AVOID_MAX];
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;

	st = tmp_store(dir, "adoptfail");
	rec.state = STORE_RUNNING;
	assert_int_equal(store_job_insert(st, &rec), 0);
	assert_int_equal(store_event(st, t0 - 90, rec.id, "start", "lease=76 gpus=n1:1"), 0);
	assert_int_equal(store_event(st, t0 - 60, rec.id, "restart", "lease=77 gpus=n1:0"), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &rec), 0);
	f->d = d2;
	driver_start(d2);
	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	j = driver_job_find(d2, rec.id);
	assert_int_equal(j->run_lease, 77);
	task_exit_code(f, a1, rec.id, 76, 0, HARE__TASK_STATUS__TASK_FAILED, 3);	/* older */
	assert_true(j->adopt_wait);
	assert_int_equal(j->failures, 0);
	x.job_id = rec.id;
	x.lease_id = 77;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.has_exit_code = true;
	x.exit_code = 3;
	x.message = "exited with code 3; last output: CUDA error: uncorrectable ECC error";
	driver_task_exit(d2, a1, &x);
	assert_false(j->adopt_wait);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 1);
	assert_int_equal(driver_node_failures(d2, 0), 1);
	assert_int_equal(driver_job_avoids(d2, j, nodes), 0);	/* n1 is all there is */
	assert_int_equal(j->navoid, 1);
	assert_int_equal(store_job_last_failure(st, rec.id, detail, sizeof(detail), &when), 0);
	assert_string_equal(detail, "rank 0 on node n1 failed while hared restarted (exit code 3; "
			    "last output: CUDA error: uncorrectable ECC error)");
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* A worker of a lease that ran before a restart ended while hared was
 * away (its agent lists no task): rank 0's exit says from which round it
 * counted, so what it finished counts; at the last round the job is DONE,
 * not run again; short of it (stopped), the next lease starts there; an
 * exit without round_first (an older agent) or of another rank credits
 * nothing. */
static void test_adopt_ended_meanwhile(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 600);
	struct store_job rec = job_rec(0, "resnet50", 2, 3000), rec2 = job_rec(0, "resnet50", 1, 3000);
	struct store_job got;
	const struct drv_job *j;
	char dir[256], err[256], ev[200];
	struct store *st = NULL;
	double t0 = driver_now();
	uint32_t a1;
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;

	st = tmp_store(dir, "adoptended");
	rec.state = rec2.state = STORE_RUNNING;
	rec.rounds_done = 736;
	rec2.rounds_done = 100;
	assert_int_equal(store_job_insert(st, &rec), 0);
	assert_int_equal(store_job_insert(st, &rec2), 0);
	assert_int_equal(store_event(st, t0 - 60, rec.id, "start", "lease=77 gpus=n1:0,n1:1"), 0);
	assert_int_equal(store_event(st, t0 - 60, rec2.id, "restart", "lease=78 gpus=n1:2"), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &rec), 0);
	assert_int_equal(driver_job_load(d2, &rec2), 0);
	f->d = d2;
	driver_start(d2);
	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	x.job_id = rec.id;
	x.lease_id = 77;
	x.status = HARE__TASK_STATUS__TASK_OK;
	x.has_rounds_done = true;
	x.rounds_done = 3000;
	/* rank 1, or rank 0 of an older agent: nothing credited */
	x.rank = 1;
	x.has_round_first = true;
	driver_task_exit(d2, a1, &x);
	x.rank = 0;
	x.has_round_first = false;
	driver_task_exit(d2, a1, &x);
	j = driver_job_find(d2, rec.id);
	assert_non_null(j);
	assert_int_equal(j->rec.rounds_done, 736);
	/* rank 0 ran the lease from round 0 to the end */
	x.has_round_first = true;
	x.round_first = 0;
	driver_task_exit(d2, a1, &x);
	assert_null(driver_job_find(d2, rec.id));
	driver_ends_commit(d2);
	assert_int_equal(store_job_get(st, rec.id, &got), 0);
	assert_int_equal(got.state, STORE_DONE);
	assert_int_equal(got.rounds_done, 3000);
	assert_int_equal(got.restarts, 0);
	assert_int_equal(store_job_events(st, rec.id, 1, after_event, ev), 0);
	assert_string_equal(ev, "done: all rounds done (its worker ended while hared restarted)");
	/* rec2's worker was stopped at round 100 + 900: the next lease
	 * starts there */
	x.job_id = rec2.id;
	x.lease_id = 78;
	x.status = HARE__TASK_STATUS__TASK_STOPPED;
	x.round_first = 100;
	x.rounds_done = 900;
	driver_task_exit(d2, a1, &x);
	j = driver_job_find(d2, rec2.id);
	assert_int_equal(j->rec.rounds_done, 1000);
	driver_grace_end(d2);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->rec.rounds_done, 1000);
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

static void test_adopt_exact(void **state)
{
	struct fx *f = *state;
	const uint64_t L = 8000000000000000ull;
	Hare__RunningTask t1[2] = { rt_full(5, L, 0, 2, 2, 3, 90), rt_full(5, L, 1, 3, 1, 3, 90) };
	Hare__RunningTask t2[1] = { rt_full(5, L, 2, 1, 1, 3, 90) };
	Hare__RunningTask *p1[2] = { &t1[0], &t1[1] }, *p2[1] = { &t2[0] };
	const struct drv_job *j;
	struct driver_stats st;
	uint32_t a1, a2;

	load_running(f, 5, 4, 100);
	driver_start(f->d);
	t1[0].has_rounds_done = true;
	t1[0].rounds_done = 15;		/* round 105 */
	t2[0].has_rounds_done = true;
	t2[0].rounds_done = 30;		/* round 120 */
	a1 = agent_up(f, "n1", "V100", 4, p1, 2);
	a2 = agent_up(f, "n2", "T4", 4, NULL, 0);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, 0);	/* rank 2 is not back */
	report(f, a1, 5, L, 0, 105, 10);	/* held for the candidate */
	driver_stats_get(f->d, &st);
	assert_int_equal(st.reports + st.reports_ignored, 0);
	/* n2 comes back with rank 2: the grace period ends at once. */
	driver_agent_detach(f->d, a2);
	assert_int_equal(agent_up(f, "n2", "T4", 4, p2, 1), a2);
	j = driver_job_find(f->d, 5);
	assert_int_equal(j->lease.id, L);
	assert_true(j->lease.adopted && !j->lease.guessed);
	assert_int_equal(j->lease.nranks, 3);
	assert_int_equal(j->lease.round_first, 90);
	assert_int_equal(j->lease.ranks[0].node, 0);
	assert_int_equal(j->lease.ranks[0].slot, 2);
	assert_int_equal(j->lease.ranks[0].tasks, 2);
	assert_int_equal(j->lease.ranks[1].slot, 3);
	assert_int_equal(j->lease.ranks[1].tasks, 1);
	assert_int_equal(j->lease.ranks[2].node, 1);
	assert_int_equal(j->lease.ranks[2].slot, 1);
	assert_int_equal(gpu_of(f, 0, 2)->job_id, 5);
	assert_int_equal(gpu_of(f, 0, 0)->job_id, 0);
	assert_int_equal(gpu_of(f, 1, 1)->job_id, 5);
	assert_true(j->lease.round_s > 0);
	/* Rank 1 said nothing of its rounds: progress waits for it. */
	assert_int_equal(j->rec.rounds_done, 100);
	assert_true(fabs(j->rec.loss - (2.0 - 0.105)) < 1e-9);
	report(f, a1, 5, L, 1, 100, 20);
	assert_int_equal(driver_job_find(f->d, 5)->rec.rounds_done, 115);
	driver_stats_get(f->d, &st);
	assert_int_equal(st.reports, 2);
	assert_int_equal(st.reports_ignored, 0);
	assert_int_equal(driver_job_find(f->d, 5)->rec.restarts, 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
}

/* A lease whose ranks do not all come back is not adopted in part: at the
 * end of the grace period its workers are stopped and the job requeued;
 * their GPUs wait for the exits. */
static void test_adopt_partial(void **state)
{
	struct fx *f = *state;
	const uint64_t L = 8000000000000000ull;
	Hare__RunningTask t[2] = { rt_full(5, L, 0, 0, 2, 3, 0), rt_full(5, L, 1, 1, 1, 3, 0) };
	Hare__RunningTask *p[2] = { &t[0], &t[1] };
	uint32_t a1;

	load_running(f, 5, 4, 100);
	driver_start(f->d);
	a1 = agent_up(f, "n1", "V100", 4, p, 2);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, 0);
	driver_grace_end(f->d);
	assert_int_equal(driver_job_find(f->d, 5)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 5), 1);
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 0)));
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 1)));
	assert_true(driver_gpu_is_free(gpu_of(f, 0, 2)));
	assert_true(snap_gpu_up(f, 0, NULL));	/* plans see it; a lease there would wait */
	task_exit(f, a1, 5, L, 0, HARE__TASK_STATUS__TASK_STOPPED);
	task_exit(f, a1, 5, L, 1, HARE__TASK_STATUS__TASK_STOPPED);
	assert_true(driver_gpu_is_free(gpu_of(f, 0, 0)) && driver_gpu_is_free(gpu_of(f, 0, 1)));
}

/* Why a lease was not adopted, as its requeue event says: none of its
 * workers back; some back, rank 0 among the missing too (its others did
 * come back, so "not running on any agent" would be wrong). */
static void test_adopt_reason(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 600);
	struct store_job a = job_rec(0, "resnet50", 3, 3000), b = job_rec(0, "resnet50", 1, 3000);
	char dir[256], err[256], ev[200];
	struct store *st = tmp_store(dir, "adoptwhy");
	Hare__RunningTask t[2], *p[2] = { &t[0], &t[1] };

	a.state = b.state = STORE_RUNNING;
	assert_int_equal(store_job_insert(st, &a), 0);
	assert_int_equal(store_job_insert(st, &b), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &a), 0);
	assert_int_equal(driver_job_load(d2, &b), 0);
	f->d = d2;
	driver_start(d2);
	/* ranks 1 and 2 of a's 3 come back; nothing of b's */
	t[0] = rt_full(a.id, 77, 1, 1, 1, 3, 0);
	t[1] = rt_full(a.id, 77, 2, 2, 1, 3, 0);
	agent_up(f, "n1", "V100", 4, p, 2);
	driver_grace_end(d2);
	assert_int_equal(after_stored(st, a.id, ev), STORE_QUEUED);
	assert_string_equal(ev, "requeue: some workers of its lease did not come back after the restart");
	assert_int_equal(after_stored(st, b.id, ev), STORE_QUEUED);
	assert_string_equal(ev, "requeue: not running on any agent after the restart");
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* A prolog that fails while hared waits, after its restart, to adopt the
 * lease (the agent listed the task, in its prolog, as running): the job
 * is queued again uncharged, and the node drained. */
static void test_node_fault_adopting(void **state)
{
	struct fx *f = *state;
	const uint64_t L = 8000000000000000ull;
	Hare__RunningTask t[2] = { rt_full(5, L, 0, 0, 1, 2, 0), rt(5, L, 1) };
	Hare__RunningTask *p[2] = { &t[0], &t[1] };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	uint32_t a1;

	load_running(f, 5, 2, 100);
	driver_start(f->d);
	a1 = agent_up(f, "n1", "V100", 4, p, 2);
	x.job_id = 5;
	x.lease_id = L;
	x.rank = 1;
	x.status = HARE__TASK_STATUS__TASK_FAILED;
	x.has_rounds_done = true;
	x.message = "prolog exited with status 2: no scratch";
	x.node_fault = x.message;
	x.has_prolog_failed = x.prolog_failed = true;
	driver_task_exit(f->d, a1, &x);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, 0);
	assert_int_equal(driver_job_find(f->d, 5)->failures, 0);
	assert_int_equal(driver_job_find(f->d, 5)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 5)->retry_at, 0);
	assert_true(driver_node_at(f->d, 0)->drained);
	assert_int_equal(driver_node_failures(f->d, 0), 0);
}

/* A worker that ends during the grace period (not at the last round) keeps
 * its lease from being adopted. */
static void test_adopt_exit_meanwhile(void **state)
{
	struct fx *f = *state;
	const uint64_t L = 8000000000000000ull;
	Hare__RunningTask t[2] = { rt_full(5, L, 0, 0, 1, 2, 0), rt(5, L, 1) };
	Hare__RunningTask *p[2] = { &t[0], &t[1] };
	uint32_t a1;

	load_running(f, 5, 2, 100);
	driver_start(f->d);
	a1 = agent_up(f, "n1", "V100", 4, p, 2);	/* rank 1 from an older agent: no early end */
	task_exit(f, a1, 5, L, 1, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, 0);
	/* a failure, counted at once (an adopted worker's: no exit code, so
	 * no node charged), and its job queued again */
	assert_int_equal(driver_job_find(f->d, 5)->failures, 1);
	assert_int_equal(driver_job_find(f->d, 5)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_node_failures(f->d, 0), 0);
	driver_grace_end(f->d);
	assert_int_equal(driver_job_find(f->d, 5)->rec.state, STORE_QUEUED);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 5), 1);
}

/* Workers of two leases of one job: the newer lease is the one adopted,
 * the older one's workers are stopped, now and when listed again. */
static void test_adopt_newer_lease(void **state)
{
	struct fx *f = *state;
	const uint64_t L = 8000000000000000ull;
	Hare__RunningTask old[1] = { rt_full(5, L, 0, 0, 2, 1, 0) };
	Hare__RunningTask cur[1] = { rt_full(5, L + 7, 0, 3, 2, 1, 50) };
	Hare__RunningTask *po[1] = { &old[0] }, *pc[1] = { &cur[0] };
	Hare__Heartbeat hb = HARE__HEARTBEAT__INIT;
	struct store_job q = job_rec(6, "lm", 1, 1000);
	uint32_t a1, a2;

	load_running(f, 5, 2, 60);
	assert_int_equal(driver_job_load(f->d, &q), 0);	/* keeps the grace period going */
	load_running(f, 7, 1, 0);
	driver_start(f->d);
	a1 = agent_up(f, "n1", "V100", 4, po, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
	a2 = agent_up(f, "n2", "V100", 4, pc, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 5), 1);
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 0)));	/* until the old worker exits */
	hb.n_running = 1;
	hb.running = po;
	driver_agent_heartbeat(f->d, a1, &hb);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 5), 2);
	driver_grace_end(f->d);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, L + 7);
	assert_int_equal(driver_job_find(f->d, 5)->lease.ranks[0].node, a2 - 1);
	assert_int_equal(driver_job_find(f->d, 5)->lease.ranks[0].slot, 3);
	assert_int_equal(driver_job_find(f->d, 5)->lease.round_first, 50);
	assert_int_equal(driver_job_find(f->d, 5)->rec.rounds_done, 60);
	/* Job 7 was not running anywhere. */
	assert_int_equal(driver_job_find(f->d, 7)->rec.state, STORE_QUEUED);
}

/* Two ranks on two nodes; one node's agent goes away and comes back. */
static uint64_t away_setup(struct fx *f, uint32_t *a1, uint32_t *a2)
{
	struct hand h[1] = { { 2, { 0, 4 }, { 1, 1 } } };

	*a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	*a2 = agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	return driver_job_find(f->d, 1)->lease.id;
}

/* An agent that restarts within reconnect_grace_s and lists its workers
 * keeps their lease: nothing is stopped or started, progress goes on, and
 * meanwhile the lease is out of the plans. */
static void test_agent_away_keeps_lease(void **state)
{
	struct fx *f = *state;
	uint32_t a1, a2, njobs;
	uint64_t lease = away_setup(f, &a1, &a2);
	Hare__RunningTask t[1] = { rt_full(1, lease, 1, 0, 1, 2, 0) };
	Hare__RunningTask *p[1] = { &t[0] };
	const struct drv_job *j;

	report(f, a1, 1, lease, 0, 0, 50);
	report(f, a2, 1, lease, 1, 0, 40);
	driver_agent_detach(f->d, a2);
	j = driver_job_find(f->d, 1);
	assert_int_equal(j->rec.state, STORE_RUNNING);
	assert_int_equal(j->lease.id, lease);
	assert_true(j->lease.hold_until > driver_now());
	assert_true(j->lease.ranks[1].missing);
	assert_int_equal(f->ob.n, 0);
	assert_false(snap_gpu_up(f, 0, &njobs));	/* its GPU on n1 is not planned */
	assert_int_equal(njobs, 0);
	report(f, a1, 1, lease, 0, 50, 50);
	/* The agent is back and lists rank 1. */
	assert_int_equal(agent_up(f, "n2", "V100", 4, p, 1), a2);
	j = driver_job_find(f->d, 1);
	assert_int_equal(j->lease.hold_until, 0);
	assert_false(j->lease.ranks[1].missing);
	assert_int_equal(gpu_of(f, 1, 0)->job_id, 1);
	assert_int_equal(f->ob.n, 0);
	assert_true(snap_gpu_up(f, 0, &njobs));
	assert_int_equal(njobs, 1);
	report(f, a2, 1, lease, 1, 40, 60);
	j = driver_job_find(f->d, 1);
	assert_int_equal(j->rec.rounds_done, 100);
	assert_int_equal(j->rec.restarts, 0);
	assert_int_equal(j->lease.id, lease);
	/* Nothing waits any more: deadlines change nothing. */
	driver_deadlines_run(f->d, driver_now() + 3600);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, lease);
}

/* An agent that was away when rank 0's rendezvous was relayed gets it
 * again when it registers with the lease's rank still running. */
static void test_rendezvous_resend(void **state)
{
	struct fx *f = *state;
	uint32_t a1, a2;
	uint64_t lease = away_setup(f, &a1, &a2);
	Hare__RunningTask t[1] = { rt_full(1, lease, 1, 0, 1, 2, 0) };
	Hare__RunningTask *p[1] = { &t[0] };
	Hare__Rendezvous r = HARE__RENDEZVOUS__INIT;

	driver_agent_detach(f->d, a2);
	ob_clear(&f->ob);
	r.job_id = 1;
	r.lease_id = lease;
	r.data.data = (uint8_t *)"rank0-id";
	r.data.len = 8;
	driver_rendezvous(f->d, a1, &r);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a1, 0), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a2, 0), 0);
	ob_clear(&f->ob);
	assert_int_equal(agent_up(f, "n2", "V100", 4, p, 1), a2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a2, 0), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_RENDEZVOUS, a1, 0), 0);
	for (uint32_t i = 0; i < f->ob.n; i++)
		if (f->ob.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_RENDEZVOUS) {
			assert_int_equal(f->ob.msg[i]->rendezvous->lease_id, lease);
			assert_int_equal(f->ob.msg[i]->rendezvous->data.len, 8);
			assert_memory_equal(f->ob.msg[i]->rendezvous->data.data, "rank0-id", 8);
		}
}

/* A lease held for its agent is out of the plans, and so out of their
 * order: a plan made meanwhile gives its place to another job, and the
 * held job shows none rather than a place another job has. */
static void test_held_job_no_order(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 1, { 1 }, { 1 } } };
	uint32_t a1, a2;
	uint64_t lease = away_setup(f, &a1, &a2);

	assert_int_equal(driver_job_find(f->d, 1)->order, 0);
	report(f, a1, 1, lease, 0, 0, 50);
	report(f, a2, 1, lease, 1, 0, 40);
	driver_agent_detach(f->d, a2);
	assert_true(driver_job_find(f->d, 1)->lease.hold_until > 0);
	job_add(f, 2, "resnet50", 1, 1000);
	plan_apply(f, h, 1);		/* job 2 only: job 1 is held */
	assert_int_equal(driver_job_find(f->d, 2)->order, 0);
	assert_int_equal(driver_job_find(f->d, 1)->order, UINT32_MAX);
}

/* An agent that does not come back (or comes back without the workers)
 * within the grace period: the lease is stopped and requeued then. */
static void test_agent_away_timeout(void **state)
{
	struct fx *f = *state;
	uint32_t a1, a2;
	uint64_t lease = away_setup(f, &a1, &a2);

	driver_agent_detach(f->d, a2);
	assert_int_equal(agent_up(f, "n2", "V100", 4, NULL, 0), a2);	/* lists nothing */
	assert_true(driver_job_find(f->d, 1)->lease.hold_until > 0);
	driver_deadlines_run(f->d, driver_now() + 1);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, lease);
	driver_deadlines_run(f->d, driver_now() + 6);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a2, 1), 1);
	/* The stopped workers' GPUs wait for their exits, or the timeout. */
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 0)));
	assert_false(driver_gpu_is_free(gpu_of(f, 1, 0)));
	task_exit(f, a1, 1, lease, 0, HARE__TASK_STATUS__TASK_STOPPED);
	assert_true(driver_gpu_is_free(gpu_of(f, 0, 0)));
	driver_deadlines_run(f->d, driver_now() + 2 + DRIVER_STOP_MARGIN_S + 1);
	assert_true(driver_gpu_is_free(gpu_of(f, 1, 0)));
}

/* A job finished by its reports: its GPUs wait for the workers' exits. */
static void test_done_vacates(void **state)
{
	struct fx *f = *state;
	uint32_t a1, a2;
	uint64_t lease = away_setup(f, &a1, &a2);

	report(f, a1, 1, lease, 0, 0, 1000);
	task_exit(f, a1, 1, lease, 0, HARE__TASK_STATUS__TASK_OK);
	report(f, a2, 1, lease, 1, 0, 1000);
	assert_null(driver_job_find(f->d, 1));
	assert_true(driver_gpu_is_free(gpu_of(f, 0, 0)));	/* it had exited */
	assert_false(driver_gpu_is_free(gpu_of(f, 1, 0)));
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
	task_exit(f, a2, 1, lease, 1, HARE__TASK_STATUS__TASK_OK);
	assert_true(driver_gpu_is_free(gpu_of(f, 1, 0)));
}

static double now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t snap_jobs(struct fx *f)
{
	struct driver_snapshot *s;
	uint32_t n;

	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	n = driver_snapshot_view(s)->njobs;
	driver_snapshot_free(s);
	return n;
}

/* A failed job is kept out of plans for retry_backoff_s (0.2 s here),
 * doubled at each failure, and says so in show's waiting; then it is
 * planned again. */
static void test_failure_backoff(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 1, { 0 }, { 1 } } };
	char why[200];
	double t0;
	uint32_t a1;
	const struct drv_job *j;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 1, 1000);
	driver_start(f->d);
	assert_int_equal(snap_jobs(f), 1);
	for (uint32_t k = 1; k <= 2; k++) {
		plan_apply(f, h, 1);
		j = driver_job_find(f->d, 1);
		t0 = now_wall();
		task_exit(f, a1, 1, j->lease.id, 0, HARE__TASK_STATUS__TASK_FAILED);
		j = driver_job_find(f->d, 1);
		assert_int_equal(j->failures, k);
		assert_true(fabs(j->retry_at - t0 - 0.2 * k) < 0.05);
		assert_int_equal(snap_jobs(f), 0);
		assert_false(driver_job_fit(f->d, 1, why, sizeof(why)));
		assert_non_null(strstr(why, k == 1 ? "it failed 1 time; retried in 1 s" :
				       "it failed 2 times; retried in 1 s"));
		while (driver_job_find(f->d, 1)->retry_at > 0 && now_wall() - t0 < 2)
			uv_run(&f->loop, UV_RUN_ONCE);
		assert_true(driver_job_find(f->d, 1)->retry_at == 0);
		assert_true(now_wall() - t0 >= 0.2 * k - 0.01);
		assert_int_equal(snap_jobs(f), 1);
		assert_true(driver_job_fit(f->d, 1, why, sizeof(why)));
	}
}

/* Index of node name in d, or -1. */
static int node_index(const struct driver *d, const char *name)
{
	for (uint32_t i = 0; i < driver_node_count(d); i++)
		if (driver_node_at(d, i) && strcmp(driver_node_at(d, i)->name, name) == 0)
			return (int)i;
	return -1;
}

/* After a restart, the store's recent worker failures come back: the
 * nodes' FAILS counts (last hour) and the active jobs' avoided nodes
 * (failed_node_avoid_s), but not those from before a node's undrain, nor
 * failures that are no worker's; a worker not started for want of its
 * owner's account keeps its job off the node without charging it. */
static void test_failures_restored(void **state)
{
	struct fx *f = *state;
	struct driver_opts o = fx_opts(0, 0, 0, 1800);
	struct store_job a = job_rec(0, "resnet50", 1, 1000), b = job_rec(0, "resnet50", 1, 1000);
	struct store_job c = job_rec(0, "resnet50", 1, 1000);
	char dir[256], err[256];
	struct store *st = NULL;
	struct driver *d2 = NULL;
	const struct drv_job *ja, *jb, *jc;
	double t0 = driver_now();
	int n1, n2;

	o.quarantine_jobs = 2;
	o.quarantine_users = 1;
	o.quarantine_max_nodes = 1;
	st = tmp_store(dir, "fails");
	snprintf(b.user, sizeof(b.user), "bob");
	assert_int_equal(store_job_insert(st, &a), 0);
	assert_int_equal(store_job_insert(st, &b), 0);
	assert_int_equal(store_job_insert(st, &c), 0);
	assert_int_equal(store_node_drain(st, "n1", false, ""), 0);
	assert_int_equal(store_node_drain(st, "n2", false, ""), 0);
	/* too old for both */
	assert_int_equal(store_event(st, t0 - 7200, a.id, "fail", "rank 0 on node n2 GPU 0 failed (exit code 3)"), 0);
	/* older than the hour, but a avoids n2 for 1800 s */
	assert_int_equal(store_event(st, t0 - 1500, a.id, "fail", "rank 0 on node n2 GPU 1 failed (exit code 3)"), 0);
	assert_int_equal(store_event(st, t0 - 1400, 0, "node-undrain", "n2"), 0);
	assert_int_equal(store_event(st, t0 - 100, a.id, "fail", "rank 1 on node n1 GPU 0 failed (exit code 3)"), 0);
	assert_int_equal(store_event(st, t0 - 90, a.id, "requeue", "rank 0 on node n1 GPU 0 stopped"), 0);
	assert_int_equal(store_event(st, t0 - 85, a.id, "fail", "peer failure: rank 1 on node n1 GPU 0 "
				     "lost a peer (exit code 75); its node is not charged"), 0);
	assert_int_equal(store_event(st, t0 - 84, a.id, "blame", "rank 0 on node n1 failed (exit "
				     "code 1) after a peer's failure had ended the lease"), 0);
	assert_int_equal(store_event(st, t0 - 80, b.id, "fail", "model gone from the profile"), 0);
	assert_int_equal(store_event(st, t0 - 60, b.id, "fail", "rank 0 on node n1 GPU 1 failed "
				     "(exit code 1); 4 failures, giving up"), 0);
	/* c's owner had no account on n2: c keeps off it, n2 is not charged */
	assert_int_equal(store_event(st, t0 - 50, c.id, "fail", "not started on node n2 (rank 0): "
				     "user 'x' has no account on this node; its node is not charged"), 0);
	assert_int_equal(store_flush(st), 0);

	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	assert_int_equal(driver_job_load(d2, &a), 0);
	assert_int_equal(driver_job_load(d2, &b), 0);
	assert_int_equal(driver_job_load(d2, &c), 0);
	driver_failures_load(d2);
	n1 = node_index(d2, "n1");
	n2 = node_index(d2, "n2");
	assert_true(n1 >= 0);
	assert_int_equal(driver_node_failures(d2, (uint32_t)n1), 3);	/* the blame, not the peer's */
	assert_true(n2 >= 0);	/* down, as the store knows it */
	assert_int_equal(driver_node_failures(d2, (uint32_t)n2), 0);	/* undrained since */
	assert_false(driver_node_at(d2, (uint32_t)n2)->drained);
	assert_false(driver_node_at(d2, (uint32_t)n1)->drained);	/* loading quarantines nothing */
	ja = driver_job_find(d2, a.id);
	jb = driver_job_find(d2, b.id);
	assert_int_equal(ja->navoid, 1);
	assert_int_equal(ja->avoid[0].node, (uint32_t)n1);
	assert_int_equal(driver_node_count(d2), 2);	/* n1 and n2, down */
	assert_true(fabs(ja->avoid[0].until - (t0 - 84 + 1800)) < 1e-3);
	assert_int_equal(ja->failures, 4);	/* its "fail" events, peer failure included */
	assert_int_equal(jb->navoid, 1);
	assert_int_equal(jb->failures, 2);
	jc = driver_job_find(d2, c.id);
	assert_int_equal(jc->navoid, 1);
	assert_int_equal(jc->avoid[0].node, (uint32_t)n2);
	assert_true(fabs(jc->avoid[0].until - (t0 - 50 + 1800)) < 1e-3);
	assert_int_equal(jc->failures, 1);
	tmp_driver_free(f, d2, st, dir);
}

/* Health checks' failures of the hour come back after a restart of hared
 * (the quarantine counts them): not those older than the hour nor those
 * before an undrain; a node unhealthy when hared stopped does not count its
 * failure again when its agent says it, but a later one. */
static void test_health_failures_restored(void **state)
{
	struct fx *f = *state;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	Hare__NodeHealth bad = HARE__NODE_HEALTH__INIT, good = HARE__NODE_HEALTH__INIT;
	char dir[256], err[256];
	struct store *st = NULL;
	struct driver *d2 = NULL;
	const struct drv_node *n1, *n2;
	double t0 = driver_now();
	uint32_t c1 = 0, c2 = 0, a1;
	struct drv_node *n;

	o.quarantine_health_fails = 3;
	o.quarantine_max_nodes = 1;
	st = tmp_store(dir, "health");
	assert_int_equal(store_node_drain(st, "n1", false, ""), 0);
	assert_int_equal(store_node_drain(st, "n2", false, ""), 0);
	assert_int_equal(store_event(st, t0 - 7000, 0, "node-unhealthy", "n1: too old"), 0);
	assert_int_equal(store_event(st, t0 - 1000, 0, "node-unhealthy", "n1: x"), 0);
	assert_int_equal(store_event(st, t0 - 900, 0, "node-healthy", "n1"), 0);
	assert_int_equal(store_event(st, t0 - 600, 0, "node-unhealthy", "n2: before the undrain"), 0);
	assert_int_equal(store_event(st, t0 - 550, 0, "node-undrain", "n2"), 0);
	assert_int_equal(store_event(st, t0 - 500, 0, "node-unhealthy", "n1"), 0);	/* an older hared's */
	assert_int_equal(store_event(st, t0 - 400, 0, "node-healthy", "n1"), 0);
	assert_int_equal(store_event(st, t0 - 300, 0, "node-unhealthy", "n2: z"), 0);
	/* details no node has: left alone */
	assert_int_equal(store_event(st, t0 - 200, 0, "node-unhealthy", ""), 0);
	assert_int_equal(store_event(st, t0 - 199, 0, "node-unhealthy", ": no name"), 0);
	assert_int_equal(store_event(st, t0 - 198, 0, "node-healthy", "a-name-longer-than-any-node-may-have-"
				     "which-is-sixty-three-bytes-at-most"), 0);
	assert_int_equal(store_event(st, t0 - 197, 0, "node-unhealthy", "n9: a node never seen"), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	driver_failures_load(d2);
	n1 = driver_node_at(d2, (uint32_t)node_index(d2, "n1"));
	n2 = driver_node_at(d2, (uint32_t)node_index(d2, "n2"));
	for (uint32_t k = 0; k < DRIVER_HEALTH_FAILS; k++) {
		c1 += n1->health_fail_at[k] > 0;
		c2 += n2->health_fail_at[k] > 0;
	}
	assert_int_equal(c1, 2);
	assert_int_equal(c2, 1);
	assert_false(n1->health_restored_bad);
	assert_true(n2->health_restored_bad);
	assert_false(n1->drained || n2->drained);	/* loading quarantines nothing */
	tmp_driver_free(f, d2, st, dir);

	/* the failure a node had when hared stopped is not a new one */
	a1 = agent_up(f, "n1", "V100", 1, NULL, 0);
	n = (struct drv_node *)driver_node_at(f->d, 0);
	n->health_restored_bad = true;
	bad.ok = false;
	bad.reason = "disk full";
	good.ok = true;
	heartbeat_health(f, a1, &bad);
	assert_true(n->unhealthy);
	assert_int_equal(n->health_fail_next, 0);
	assert_false(n->health_restored_bad);
	heartbeat_health(f, a1, &good);
	heartbeat_health(f, a1, &bad);
	assert_int_equal(n->health_fail_next, 1);
}

/* Run the loop until job id has a message of msg_case in the outbox, or
 * limit_s pass; the time it took, or -1. */
static double run_until_msg(struct fx *f, int msg_case, uint64_t id, double limit_s)
{
	double t0 = now_wall();

	while (now_wall() - t0 < limit_s) {
		if (ob_count(&f->ob, msg_case, 0, id))
			return now_wall() - t0;
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	return -1;
}

/* min_lease_s: a job ranked above a young lease waits for its GPU, and hared
 * re-plans when the protection ends, without waiting for another event, and
 * the waiting job takes the GPU then. */
static void test_min_lease_expiry_replans(void **state)
{
	struct fx *f = *state;
	struct store_job hi = job_rec(2, "resnet50", 1, 100000);
	double started, waited;
	char err[256];

	agent_up(f, "n1", "V100", 1, NULL, 0);
	job_add(f, 1, "resnet50", 1, 100000);
	driver_start(f->d);
	assert_true(run_until_msg(f, HARE__FROM_DAEMON__MSG_TASK_START, 1, 2) >= 0);
	started = now_wall();
	hi.weight = 10;
	assert_int_equal(driver_job_add(f->d, &hi, err, sizeof(err)), 0);
	while (driver_job_find(f->d, 2)->est_start == 0 && now_wall() - started < 0.2) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	/* estimated to start when the protection ends, not when job 1 ends */
	assert_true(fabs(driver_job_find(f->d, 2)->est_start - (started + 0.3)) < 0.05);
	waited = run_until_msg(f, HARE__FROM_DAEMON__MSG_TASK_STOP, 1, 3);
	assert_true(waited >= 0);
	assert_true(now_wall() - started >= 0.3 - 0.02);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 2), 0);
	stops_exit(f, 1);
	assert_true(run_until_msg(f, HARE__FROM_DAEMON__MSG_TASK_START, 2, 2) >= 0);
	assert_int_equal(driver_job_find(f->d, 2)->rec.state, STORE_RUNNING);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
}

/* Job id of user's, alone in the queue, is started on GPU gpu (of agent)
 * and its worker fails there. */
static void fail_on(struct fx *f, uint64_t id, const char *user, uint32_t gpu, uint32_t agent)
{
	struct store_job rec = job_rec(id, "resnet50", 1, 1000);
	struct hand h[1] = { { 1, { gpu }, { 1 } } };
	char err[256];

	snprintf(rec.user, sizeof(rec.user), "%s", user);
	assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
	plan_apply(f, h, 1);
	task_exit(f, agent, id, driver_job_find(f->d, id)->lease.id, 0, HARE__TASK_STATUS__TASK_FAILED);
	assert_null(driver_job_find(f->d, id));	/* FAILED */
}

/* quarantine_jobs: a node where workers of 3 jobs of 2 users failed within
 * the hour is drained, with a reason that says so; one user's failing jobs
 * alone do not drain it; past quarantine_max_nodes the next node is left
 * in service; an undrain forgets the node's failures, and frees the cap. */
static void test_quarantine(void **state)
{
	struct fx *f = *state;
	const struct drv_node *n1, *n2;
	struct driver_stats st;
	char msg[300];
	uint32_t a1, a2, moved;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	agent_up(f, "n3", "V100", 2, NULL, 0);
	driver_start(f->d);
	n1 = driver_node_at(f->d, 0);
	n2 = driver_node_at(f->d, 1);
	fail_on(f, 1, "alice", 0, a1);
	fail_on(f, 2, "alice", 1, a1);
	fail_on(f, 2, "alice", 0, a1);	/* the same job id again: still 2 jobs */
	fail_on(f, 3, "alice", 1, a1);
	assert_false(n1->drained);	/* 3 jobs, but all alice's */
	assert_int_equal(driver_node_failures(f->d, 0), 4);
	fail_on(f, 4, "bob", 0, a1);
	assert_true(n1->drained);
	assert_string_equal(n1->drain_reason, "quarantined by hared: workers of 4 jobs of 2 users "
			    "failed here within the hour");
	assert_int_equal(driver_node_is_drained(f->d, "n1"), 1);
	driver_stats_get(f->d, &st);
	assert_true(st.quarantines == 1);
	/* n2 qualifies too, but one node is quarantined already */
	fail_on(f, 5, "alice", 2, a2);
	fail_on(f, 6, "bob", 3, a2);
	fail_on(f, 7, "carol", 2, a2);
	assert_false(n2->drained);
	/* an operator's drain does not count against the cap */
	assert_int_equal(driver_node_drain(f->d, "n3", true, "fan", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(driver_node_drain(f->d, "n1", false, NULL, &moved, msg, sizeof(msg)), 0);
	assert_int_equal(driver_node_failures(f->d, 0), 0);
	fail_on(f, 8, "bob", 0, a1);
	assert_false(n1->drained);	/* its old failures are forgotten */
	fail_on(f, 9, "dave", 3, a2);
	assert_true(n2->drained);
	assert_string_equal(n2->drain_reason, "quarantined by hared: workers of 4 jobs of 4 users "
			    "failed here within the hour");
}

/* A rank of a lease across nodes that exits REPORT_EXIT_PEER re-queues its
 * job and counts a failure, but charges no node; the first rank of that
 * lease that then fails by itself charges its node (once); when every rank
 * lost a peer, nobody is charged; a lease on one node is charged to it
 * whatever the exit code. */
static void test_peer_failure_blame(void **state)
{
	struct fx *f = *state;
	struct hand across[1] = { { 2, { 0, 2 }, { 1, 1 } } }, off_n1[1] = { { 2, { 2, 4 }, { 1, 1 } } },
		    one[1] = { { 2, { 4, 5 }, { 1, 1 } } }, pend_n1[1] = { { 2, { 0, 2 }, { 1, 1 } } };
	uint32_t a1, a2, a3, nodes[DRIVER_AVOID_MAX], moved;
	char msg[256];
	struct driver_stats st;
	const struct drv_job *j;
	uint64_t lease;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	a3 = agent_up(f, "n3", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, across, 1);
	j = driver_job_find(f->d, 1);
	lease = j->lease.id;
	/* rank 1 on n2 reports first: its peer on n1 died */
	task_fail_code(f, a2, 1, lease, 1, REPORT_EXIT_PEER);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 1);
	assert_int_equal(driver_node_failures(f->d, 0), 0);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	/* the culprit is one of the lease's nodes: the job keeps off both */
	assert_int_equal(driver_job_avoids(f->d, j, nodes), 2);
	/* an exit of that lease from a node it did not run on charges nobody */
	task_fail_code(f, a3, 1, lease, 0, 1);
	assert_int_equal(driver_node_failures(f->d, 2), 0);
	/* with n3 drained, it can only go back there (avoidance gives way);
	 * the next lease, planned at once (no backoff) on n1 and n2, waits
	 * for the GPU rank 0 of the failed lease still holds on n1 */
	assert_int_equal(driver_node_drain(f->d, "n3", true, NULL, &moved, msg, sizeof(msg)), 0);
	assert_int_equal(driver_job_avoids(f->d, j, nodes), 0);
	plan_apply(f, pend_n1, 1);
	assert_non_null(j->pend);
	ob_clear(&f->ob);
	/* then rank 0 on n1, which failed by itself: n1 is charged, and the
	 * waiting lease does not start there */
	task_fail_code(f, a1, 1, lease, 0, 134);
	assert_null(j->pend);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 1), 0);
	assert_int_equal(driver_node_drain(f->d, "n3", false, NULL, &moved, msg, sizeof(msg)), 0);
	assert_int_equal(j->failures, 1);	/* one failure of the job, not two */
	assert_int_equal(driver_node_failures(f->d, 0), 1);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	assert_int_equal(driver_job_avoids(f->d, j, nodes), 1);	/* n2 is free again */
	assert_int_equal(nodes[0], 0);
	/* one node per failure: a third exit of the lease charges nobody */
	task_fail_code(f, a2, 1, lease, 1, 1);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	driver_stats_get(f->d, &st);
	assert_true(st.worker_failures == 1 && st.peer_failures == 1 && st.late_blames == 1);

	/* a partition: both ranks lost a peer (n2 and n3: the job avoids n1) */
	plan_apply(f, off_n1, 1);
	lease = j->lease.id;
	task_fail_code(f, a2, 1, lease, 0, REPORT_EXIT_PEER);
	task_fail_code(f, a3, 1, lease, 1, REPORT_EXIT_PEER);
	/* a later exit that says nothing of its cause (no exit code: an
	 * adopted worker) charges nobody either */
	task_exit(f, a2, 1, lease, 0, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(j->failures, 2);
	assert_int_equal(driver_node_failures(f->d, 0), 1);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	assert_int_equal(driver_node_failures(f->d, 2), 0);

	/* a rank whose cause is unknown (no exit code) charges nobody at once;
	 * a rank that crashed while being stopped (SIGSEGV) is charged */
	plan_apply(f, off_n1, 1);
	lease = j->lease.id;
	task_exit(f, a3, 1, lease, 1, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(j->failures, 3);
	assert_int_equal(driver_node_failures(f->d, 2), 0);
	task_exit(f, a2, 1, lease, 0, HARE__TASK_STATUS__TASK_STOPPED);	/* stopped cleanly */
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	task_exit_code(f, a2, 1, lease, 0, HARE__TASK_STATUS__TASK_STOPPED, 128 + SIGTERM);
	assert_int_equal(driver_node_failures(f->d, 1), 0);	/* ended by the stop */
	task_exit_code(f, a2, 1, lease, 0, HARE__TASK_STATUS__TASK_STOPPED, 128 + SIGSEGV);
	assert_int_equal(driver_node_failures(f->d, 1), 1);

	/* on one node: charged to it */
	plan_apply(f, one, 1);
	task_fail_code(f, a3, 1, j->lease.id, 0, REPORT_EXIT_PEER);
	assert_null(driver_job_find(f->d, 1));	/* its 4th failure: past max_retries 3 */
	assert_int_equal(driver_node_failures(f->d, 2), 1);
	driver_stats_get(f->d, &st);
	assert_true(st.worker_failures == 4 && st.peer_failures == 3 && st.late_blames == 2);
}

/* While a peer failure waits for its culprit, the job keeps off the lease's
 * nodes only where that takes no room from a node it avoids for a failure of
 * its own (8 at most), and not at all for a lease of more than 8 nodes;
 * the late blame lifts only what the peer failure added. 11 nodes of 1 GPU:
 * n1 = GPU 0 ... n11 = GPU 10. */
static void test_peer_failure_avoids(void **state)
{
	struct fx *f = *state;
	struct hand own[1] = { { 1, { 8 }, { 9 } } },
		    eight[1] = { { 8, { 0, 1, 2, 3, 4, 5, 6, 7 }, { 2, 1, 1, 1, 1, 1, 1, 1 } } },
		    nine[1] = { { 9, { 0, 1, 2, 3, 4, 5, 6, 7, 9 }, { 1, 1, 1, 1, 1, 1, 1, 1, 1 } } };
	uint32_t a[11], nodes[DRIVER_AVOID_MAX], n, moved;
	char name[8], msg[256];
	const struct drv_job *j;
	uint64_t lease;
	bool n9;

	for (int i = 0; i < 11; i++) {
		snprintf(name, sizeof(name), "n%d", i + 1);
		a[i] = agent_up(f, name, "V100", 1, NULL, 0);
	}
	job_add(f, 1, "resnet50", 9, 1000);
	driver_start(f->d);
	j = driver_job_find(f->d, 1);
	plan_apply(f, own, 1);
	task_fail_code(f, a[8], 1, j->lease.id, 0, 3);		/* its own failure on n9 */
	assert_int_equal(driver_job_avoids(f->d, j, nodes), 1);
	plan_apply(f, eight, 1);
	lease = j->lease.id;
	task_fail_code(f, a[1], 1, lease, 1, REPORT_EXIT_PEER);
	n = driver_job_avoids(f->d, j, nodes);
	assert_int_equal(n, 8);		/* n9 and 7 of the lease's nodes */
	n9 = false;
	for (uint32_t k = 0; k < n; k++)
		n9 |= nodes[k] == 8;
	assert_true(n9);
	task_fail_code(f, a[0], 1, lease, 0, 3);		/* the culprit, n1 */
	n = driver_job_avoids(f->d, j, nodes);
	assert_int_equal(n, 2);
	assert_true((nodes[0] == 8 && nodes[1] == 0) || (nodes[0] == 0 && nodes[1] == 8));
	/* 9 nodes (n11 drained: no room to avoid them all, so the lease is
	 * possible): no node added, and the culprit is still charged */
	for (uint32_t r = 2; r < 8; r++)	/* the rest of that lease ends */
		task_exit(f, a[r], 1, lease, r, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(driver_node_drain(f->d, "n11", true, NULL, &moved, msg, sizeof(msg)), 0);
	plan_apply(f, nine, 1);
	assert_null(j->pend);
	lease = j->lease.id;
	task_fail_code(f, a[1], 1, lease, 1, REPORT_EXIT_PEER);
	assert_int_equal(j->navoid, 8);
	for (uint32_t k = 0; k < j->navoid; k++)
		assert_true(j->avoid[k].node == 0 || j->avoid[k].node == 8 ||
			    !(j->avoid[k].until > driver_now()));
	task_fail_code(f, a[9], 1, lease, 8, 3);		/* the culprit, n10 */
	assert_int_equal(driver_node_failures(f->d, 9), 1);
}

/* The rank that failed by itself charges its node also when the peer
 * failure ended the job (max_retries 0), and then counts for the
 * quarantine (3 jobs of 2 users) as any failure does. */
static void test_peer_failure_job_ended(void **state)
{
	struct fx *f = *state;
	struct hand across[1] = { { 2, { 0, 2 }, { 1, 1 } } };
	const char *users[3] = { "alice", "bob", "alice" };
	uint32_t a1, a2;
	char err[256];

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	driver_start(f->d);
	for (uint64_t id = 1; id <= 3; id++) {
		struct store_job rec = job_rec(id, "resnet50", 2, 1000);
		uint64_t lease;

		snprintf(rec.user, sizeof(rec.user), "%s", users[id - 1]);
		assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
		plan_apply(f, across, 1);
		lease = driver_job_find(f->d, id)->lease.id;
		task_fail_code(f, a2, id, lease, 1, REPORT_EXIT_PEER);
		assert_null(driver_job_find(f->d, id));	/* FAILED */
		assert_int_equal(driver_node_failures(f->d, 0), id - 1);
		task_fail_code(f, a1, id, lease, 0, 3);
		assert_int_equal(driver_node_failures(f->d, 0), id);
	}
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	assert_true(driver_node_at(f->d, 0)->drained);
	assert_false(driver_node_at(f->d, 1)->drained);
}

/* A plan that places a waiting job wrongly (2 tasks placed of 3) still
 * starts the others; one that places a running job wrongly, or that drops
 * a wrong placement and stops a running job, is not used. */
static void test_plan_partly_invalid(void **state)
{
	struct fx *f = *state;
	struct hand bad_new[2] = { { 1, { 0 }, { 2 } }, { 1, { 1 }, { 1 } } },
		    bad_running[2] = { { 0, { 0 }, { 0 } }, { 1, { 1 }, { 2 } } },
		    bad_and_stop[2] = { { 1, { 1 }, { 2 } }, { 0, { 0 }, { 0 } } };
	const struct drv_job *j1, *j2;
	uint64_t lease2;

	agent_up(f, "n1", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 3, 1000);
	job_add(f, 2, "resnet50", 1, 1000);
	driver_start(f->d);
	j1 = driver_job_find(f->d, 1);
	j2 = driver_job_find(f->d, 2);
	assert_int_equal(plan_apply_rc(f, bad_new, 2), 0);
	assert_int_equal(j1->rec.state, STORE_QUEUED);
	assert_int_equal(j2->rec.state, STORE_RUNNING);
	lease2 = j2->lease.id;
	assert_int_equal(plan_apply_rc(f, bad_running, 2), -EINVAL);
	assert_int_equal(j2->rec.state, STORE_RUNNING);
	assert_int_equal(j2->lease.id, lease2);
	assert_int_equal(plan_apply_rc(f, bad_and_stop, 2), -EINVAL);
	assert_int_equal(j2->rec.state, STORE_RUNNING);
	assert_int_equal(j2->lease.id, lease2);
	assert_int_equal(j1->rec.state, STORE_QUEUED);
}

/* Leases whose ranks all lost a peer (a bad link, a hung rank) charge no
 * node at once; once the wait for a culprit is over, each of their nodes
 * notes a suspect failure. A node is charged for them (FAILS, quarantine:
 * 3 jobs of 2 users here) only when they single it out: no other node was
 * in all of those leases. n1 is in each (with n2, n3, n2); n2 is always
 * with n1, n3 once. */
static void test_unexplained_singled(void **state)
{
	struct fx *f = *state;
	struct hand with_n2[1] = { { 2, { 0, 2 }, { 1, 1 } } }, with_n3[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	const struct hand *h[3] = { with_n2, with_n3, with_n2 };
	const char *users[3] = { "alice", "bob", "alice" };
	uint32_t a[3], moved;
	uint64_t leases[3];
	struct driver_stats st;
	char err[256];

	a[0] = agent_up(f, "n1", "V100", 2, NULL, 0);
	a[1] = agent_up(f, "n2", "V100", 2, NULL, 0);
	a[2] = agent_up(f, "n3", "V100", 2, NULL, 0);
	driver_start(f->d);
	for (uint64_t id = 1; id <= 3; id++) {
		struct store_job rec = job_rec(id, "resnet50", 2, 1000);
		uint32_t other = h[id - 1] == with_n2 ? 1 : 2;
		uint64_t lease;

		snprintf(rec.user, sizeof(rec.user), "%s", users[id - 1]);
		assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
		plan_apply(f, h[id - 1], 1);
		lease = leases[id - 1] = driver_job_find(f->d, id)->lease.id;
		task_fail_code(f, a[other], id, lease, 1, REPORT_EXIT_PEER);
		task_fail_code(f, a[0], id, lease, 0, REPORT_EXIT_PEER);
		assert_null(driver_job_find(f->d, id));	/* FAILED (max_retries 0) */
		/* nothing is noted while a culprit may still report */
		driver_deadlines_run(f->d, driver_now() + DRIVER_BLAME_WAIT_S - 5);
		assert_int_equal(driver_node_failures(f->d, 0), id < 3 ? 0 : 2);
		driver_deadlines_run(f->d, driver_now() + DRIVER_BLAME_WAIT_S + 1);
		if (id == 1) {
			/* one lease: n1 and n2 are as likely */
			assert_int_equal(driver_node_failures(f->d, 0), 0);
			assert_int_equal(driver_node_failures(f->d, 1), 0);
		}
	}
	driver_stats_get(f->d, &st);
	assert_true(st.peer_failures == 3 && st.unexplained == 3 && st.late_blames == 0);
	assert_int_equal(driver_node_failures(f->d, 0), 3);
	assert_int_equal(driver_node_failures(f->d, 1), 0);	/* n1 was in all of its leases */
	assert_int_equal(driver_node_failures(f->d, 2), 0);	/* one lease */
	assert_true(driver_node_at(f->d, 0)->drained);
	assert_string_equal(driver_node_at(f->d, 0)->drain_reason,
			    "quarantined by hared: workers of 3 jobs of 2 users failed here within "
			    "the hour (3 of them leases with no culprit)");
	assert_false(driver_node_at(f->d, 1)->drained);
	/* a culprit that reports after the wait charges nobody */
	task_fail_code(f, a[1], 3, leases[2], 1, 1);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	/* undrained after repair: its suspect failures count no more */
	assert_int_equal(driver_node_drain(f->d, "n1", false, NULL, &moved, err, sizeof(err)), 0);
	assert_int_equal(driver_node_failures(f->d, 0), 0);
}

/* Flush st, close and free d2 (hared stops), and a new driver on st (it
 * starts again; nothing loaded yet). */
static struct driver *driver_restart(struct fx *f, struct driver *d2, struct store *st,
				     const struct driver_opts *o)
{
	struct driver *d3 = NULL;
	char err[256];

	assert_int_equal(store_flush(st), 0);
	driver_close(d2);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	driver_free(d2);
	assert_int_equal(driver_new(&f->loop, o, f->prof, st, ob_send, &f->ob, &d3, err, sizeof(err)), 0);
	return d3;
}

/* A driver on st in place of f->d (kept by the caller) with n1, n2 and n3
 * up (2 V100 each; agent ids in a), started. */
static struct driver *driver_three_nodes(struct fx *f, const struct driver_opts *o,
					 struct store *st, uint32_t *a)
{
	struct driver *d2 = NULL;
	char err[256];

	assert_int_equal(driver_new(&f->loop, o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	f->d = d2;
	a[0] = agent_up(f, "n1", "V100", 2, NULL, 0);
	a[1] = agent_up(f, "n2", "V100", 2, NULL, 0);
	a[2] = agent_up(f, "n3", "V100", 2, NULL, 0);
	driver_start(d2);
	return d2;
}

/* A new job (written to st, into *rec), the n-th active one, leased on
 * the two GPUs of h (the jobs before it placed nowhere); rank 1 (on agent
 * r1), then rank 0 (on r0) end in a peer failure. */
static void peer_failed_job(struct fx *f, struct store *st, struct store_job *rec, uint32_t n,
			    const struct hand *h, uint32_t r0, uint32_t r1)
{
	struct hand hs[8] = { { 0, { 0 }, { 0 } } };
	char err[256];
	uint64_t lease;

	assert_true(n >= 1 && n <= 8);
	*rec = job_rec(0, "resnet50", 2, 1000);
	assert_int_equal(store_job_insert(st, rec), 0);
	assert_int_equal(driver_job_add(f->d, rec, err, sizeof(err)), 0);
	hs[n - 1] = *h;
	plan_apply(f, hs, n);
	lease = driver_job_find(f->d, rec->id)->lease.id;
	task_fail_code(f, r1, rec->id, lease, 1, REPORT_EXIT_PEER);
	task_fail_code(f, r0, rec->id, lease, 0, REPORT_EXIT_PEER);
}

/* The suspect failures are read back at a restart from the "unexplained"
 * events the first driver wrote: n1 is singled out again, and each job
 * avoids its failed lease's nodes again. An event naming a node the store
 * does not know, or cut short, is left out. */
static void test_unexplained_restored(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL, *d3 = NULL;
	struct driver_opts o = fx_opts(0, 0, 0, 1800);
	struct hand with_n2[1] = { { 2, { 0, 2 }, { 1, 1 } } }, with_n3[1] = { { 2, { 0, 4 }, { 1, 1 } } };
	char dir[256];
	struct store *st = tmp_store(dir, "unexplained");
	struct store_job recs[2];
	uint32_t a[3], nodes[DRIVER_AVOID_MAX];
	int n1, n2, n3;

	d2 = driver_three_nodes(f, &o, st, a);
	for (uint32_t id = 1; id <= 2; id++) {
		peer_failed_job(f, st, &recs[id - 1], id, id == 1 ? with_n2 : with_n3, a[0], a[id]);
		driver_deadlines_run(d2, driver_now() + DRIVER_BLAME_WAIT_S + 1);
	}
	assert_int_equal(driver_node_failures(d2, 0), 2);
	/* n9 is not known to the store; the last one is cut short */
	assert_int_equal(store_event(st, driver_now(), 1, "unexplained", "no culprit: lease 9 on nodes "
				     "n2, n9 ended in a peer failure, and no rank of it failed by "
				     "itself within 120 s"), 0);
	assert_int_equal(store_event(st, driver_now(), 1, "unexplained", "no culprit: lease 10 on "
				     "nodes n2, n3"), 0);
	f->d = keep;
	d3 = driver_restart(f, d2, st, &o);
	assert_int_equal(driver_job_load(d3, &recs[0]), 0);
	assert_int_equal(driver_job_load(d3, &recs[1]), 0);
	driver_failures_load(d3);
	n1 = node_index(d3, "n1");
	n2 = node_index(d3, "n2");
	n3 = node_index(d3, "n3");
	assert_true(n1 >= 0 && n2 >= 0 && n3 >= 0);
	assert_int_equal(driver_node_failures(d3, (uint32_t)n1), 2);
	assert_int_equal(driver_node_failures(d3, (uint32_t)n2), 0);
	assert_int_equal(driver_node_failures(d3, (uint32_t)n3), 0);
	assert_int_equal(node_index(d3, "n9"), -1);
	/* the jobs kept off their failed leases' nodes (the nodes are down
	 * after the restart: the list itself, not driver_job_avoids) */
	{
		const struct drv_job *j1 = driver_job_find(d3, recs[0].id);
		const struct drv_job *j2 = driver_job_find(d3, recs[1].id);

		assert_int_equal(j1->navoid, 2);
		assert_int_equal(j2->navoid, 2);
		nodes[0] = j2->avoid[0].node;
		nodes[1] = j2->avoid[1].node;
		assert_true((nodes[0] == (uint32_t)n1 && nodes[1] == (uint32_t)n3) ||
			    (nodes[0] == (uint32_t)n3 && nodes[1] == (uint32_t)n1));
		assert_true(j1->avoid[0].until > driver_now() + 1500);
	}
	tmp_driver_free(f, d3, st, dir);
}

/* An operator forgets a node gone for good: refused while its agent is
 * attached and while a lease waits there for it; then its drain, failures
 * and the jobs' avoidance of it go, the store forgets it (a restart neither
 * brings back its drain nor counts its failures for a new node of the same
 * name), other nodes' suspect failures single out as before (also after a
 * restart), and a new node takes its slot. */
static void test_node_forget(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL, *d3 = NULL;
	struct driver_opts o = fx_opts(5, 0, 0, 1800);
	struct hand on_n1[1] = { { 2, { 0, 1 }, { 1, 1 } } };
	struct hand with_n1[1] = { { 2, { 0, 2 }, { 1, 1 } } }, with_n3[1] = { { 2, { 2, 4 }, { 1, 1 } } };
	char dir[256], err[400];
	struct store *st = tmp_store(dir, "forget");
	struct store_job recs[5];
	uint32_t a[3], fails, moved;
	bool drained;
	int n1, n2;

	d2 = driver_three_nodes(f, &o, st, a);
	/* jobs 1 and 2: leases n1+n2 and n2+n3 end in peer failures nobody
	 * owns (n2 is singled out: 2 FAILS); job 1 avoids n1 and n2 */
	for (uint32_t id = 1; id <= 2; id++) {
		peer_failed_job(f, st, &recs[id - 1], id, id == 1 ? with_n1 : with_n3,
				a[id - 1], a[id]);
		if (id == 1) {
			/* the wait for a culprit holds n1, also once its agent is gone */
			driver_agent_detach(d2, a[0]);
			assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err,
							    sizeof(err)), -EBUSY);
			assert_non_null(strstr(err, "a peer failure of job 1 may still be charged"));
			assert_int_equal(agent_up(f, "n1", "V100", 2, NULL, 0), a[0]);
		}
		driver_deadlines_run(d2, driver_now() + DRIVER_BLAME_WAIT_S + 1);
	}
	assert_int_equal(driver_node_failures(d2, 1), 2);
	assert_int_equal(driver_job_find(d2, recs[0].id)->navoid, 2);
	/* job 3 fails on n1 by itself (n1 charged); job 4 runs on n1 */
	for (uint32_t k = 2; k < 4; k++) {
		struct hand none = { 0, { 0 }, { 0 } }, h[4] = { none, none, none, none };

		recs[k] = job_rec(0, "resnet50", 2, 1000);
		assert_int_equal(store_job_insert(st, &recs[k]), 0);
		assert_int_equal(driver_job_add(d2, &recs[k], err, sizeof(err)), 0);
		h[k] = on_n1[0];
		plan_apply(f, h, k + 1);
		assert_true(driver_job_find(d2, recs[k].id)->lease.id > 0);
		if (k == 2) {
			uint64_t lease = driver_job_find(d2, recs[k].id)->lease.id;

			task_fail_code(f, a[0], recs[k].id, lease, 0, 1);
			task_exit(f, a[0], recs[k].id, lease, 1, HARE__TASK_STATUS__TASK_STOPPED);
		}
	}
	assert_int_equal(driver_node_failures(d2, 0), 1);
	assert_int_equal(driver_node_drain(d2, "n1", true, "dead PSU", &moved, err, sizeof(err)), 0);
	assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err, sizeof(err)), -EBUSY);
	assert_string_equal(err, "node n1 is not forgotten: its agent is connected; stop hare-agent "
				 "there first");
	assert_int_equal(driver_node_forget(d2, "n9", &drained, &fails, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "unknown node 'n9' (known: n1 n2 n3)");
	/* gone: job 4's lease waits reconnect_grace_s for it */
	driver_agent_detach(d2, a[0]);
	assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "job 4 has a worker there"));
	driver_deadlines_run(d2, driver_now() + 6);
	assert_int_equal(driver_job_find(d2, recs[3].id)->lease.id, 0);
	{
		const struct drv_node *nd = driver_node_at(d2, 1);
		uint32_t peers_n1 = 0;

		for (uint32_t k = 0; k < DRIVER_NODE_SUSPECTS; k++)
			for (uint32_t p = 0; nd->sus[k].at > 0 && p < nd->sus[k].npeer; p++)
				peers_n1 += nd->sus[k].peer[p] == 0;
		assert_int_equal(peers_n1, 1);
	}
	assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err, sizeof(err)), 0);
	assert_string_equal(err, "node n1 forgotten");
	assert_true(drained);
	assert_int_equal(fails, 1);
	assert_null(driver_node_at(d2, 0));
	assert_int_equal(store_node_known(st, "n1"), 0);
	assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "unknown node 'n1' (known: n2 n3)");
	assert_int_equal(driver_node_drain(d2, "n1", true, NULL, &moved, err, sizeof(err)), -ENOENT);
	assert_int_equal(driver_node_is_drained(d2, ""), -1);	/* the free slot is no node */
	/* job 1 avoids n2 only; n2 is still singled out, its lease with n1
	 * now with a peer that is no node */
	assert_int_equal(driver_job_avoids(d2, driver_job_find(d2, recs[0].id),
					   (uint32_t[DRIVER_AVOID_MAX]){ 0 }), 1);
	assert_int_equal(driver_node_failures(d2, 1), 2);
	for (uint32_t k = 0; k < DRIVER_NODE_SUSPECTS; k++)
		for (uint32_t p = 0; p < driver_node_at(d2, 1)->sus[k].npeer; p++)
			assert_int_not_equal(driver_node_at(d2, 1)->sus[k].peer[p], 0);
	/* a new node of the same name takes the slot: not the old n1 */
	assert_int_equal(agent_up(f, "n1", "V100", 2, NULL, 0), a[0]);
	assert_int_equal(driver_node_failures(d2, 0), 0);
	assert_false(driver_node_at(d2, 0)->drained);
	/* job 5 on it, cancelled: its stopped workers may hold its GPUs */
	recs[4] = job_rec(0, "resnet50", 2, 1000);
	assert_int_equal(store_job_insert(st, &recs[4]), 0);
	assert_int_equal(driver_job_add(d2, &recs[4], err, sizeof(err)), 0);
	{
		struct hand none = { 0, { 0 }, { 0 } }, h[5] = { none, none, none, none, on_n1[0] };

		plan_apply(f, h, 5);
	}
	assert_true(driver_job_find(d2, recs[4].id)->lease.id > 0);
	assert_int_equal(driver_job_cancel(d2, recs[4].id, "root", true, err, sizeof(err)), 0);
	driver_agent_detach(d2, a[0]);
	assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "a stopped worker of job 5 may still hold its GPU"));
	/* n8, forgotten before this restart, in a third such lease of n2 */
	assert_int_equal(store_event(st, driver_now(), recs[1].id, "unexplained", "no culprit: lease "
				     "77 on nodes n2, n8 ended in a peer failure, and no rank of it "
				     "failed by itself within 120 s"), 0);
	assert_int_equal(store_event(st, driver_now(), 0, "node-forget", "n8"), 0);
	f->d = keep;
	d3 = driver_restart(f, d2, st, &o);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(driver_job_load(d3, &recs[i]), 0);
	driver_failures_load(d3);
	/* the new n1 is neither drained nor charged with the old one's failure */
	n1 = node_index(d3, "n1");
	assert_true(n1 >= 0);
	assert_false(driver_node_at(d3, (uint32_t)n1)->drained);
	assert_false(driver_node_at(d3, (uint32_t)n1)->up);
	assert_int_equal(driver_node_failures(d3, (uint32_t)n1), 0);
	/* down since the restart, it may be forgotten too, and counts */
	{
		struct driver_stats stats;

		assert_int_equal(driver_node_forget(d3, "n1", &drained, &fails, err, sizeof(err)), 0);
		assert_int_equal(store_node_known(st, "n1"), 0);
		driver_stats_get(d3, &stats);
		assert_int_equal(stats.nodes_forgotten, 1);
	}
	n2 = node_index(d3, "n2");
	assert_true(n2 >= 0);
	/* its leases' other nodes: the old n1, n3, and n8 (forgotten since) */
	assert_int_equal(driver_node_failures(d3, (uint32_t)n2), 3);
	assert_int_equal(node_index(d3, "n8"), -1);
	assert_int_equal(driver_job_find(d3, recs[0].id)->navoid, 1);
	tmp_driver_free(f, d3, st, dir);
}

/* A node forgotten twice and back again under its name: the suspect
 * failures of its two former selves stay two different peers of n2, also
 * when a restart reads them back (n2 singled out before and after), and
 * are not the node of that name now. */
static void test_forget_twice_restart(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2, *d3;
	struct driver_opts o = fx_opts(0, 0, 0, 1800);
	struct hand with_n1[1] = { { 2, { 0, 2 }, { 1, 1 } } };
	char dir[256], err[400];
	struct store *st = tmp_store(dir, "forget2");
	struct store_job recs[2];
	uint32_t a[3], fails;
	bool drained;
	int n1, n2;

	d2 = driver_three_nodes(f, &o, st, a);
	for (uint32_t k = 0; k < 2; k++) {
		peer_failed_job(f, st, &recs[k], k + 1, with_n1, a[0], a[1]);
		driver_deadlines_run(d2, driver_now() + DRIVER_BLAME_WAIT_S + 1);
		driver_agent_detach(d2, a[0]);
		assert_int_equal(driver_node_forget(d2, "n1", &drained, &fails, err, sizeof(err)), 0);
		assert_int_equal(agent_up(f, "n1", "V100", 2, NULL, 0), a[0]);	/* its slot */
	}
	assert_int_equal(driver_node_failures(d2, 1), 2);
	assert_int_equal(driver_node_failures(d2, 0), 0);
	f->d = keep;
	d3 = driver_restart(f, d2, st, &o);
	for (uint32_t k = 0; k < 2; k++)
		assert_int_equal(driver_job_load(d3, &recs[k]), 0);
	driver_failures_load(d3);
	/* the n1 of now is none of the two: nothing is charged to it */
	n1 = node_index(d3, "n1");
	n2 = node_index(d3, "n2");
	assert_true(n1 >= 0 && n2 >= 0);
	assert_int_equal(driver_node_failures(d3, (uint32_t)n1), 0);
	assert_int_equal(driver_node_failures(d3, (uint32_t)n2), 2);
	tmp_driver_free(f, d3, st, dir);
}

/* A driver under policy with two nodes of 4 GPUs, n1 V100 and n2 of
 * type2; it is f->d until fit_driver_free puts keep back. */
static struct driver *fit_driver(struct fx *f, struct driver_opts *o, const char *policy,
				 const char *type2)
{
	struct driver *d2 = NULL;
	char err[256];

	o->policy = policy;
	assert_int_equal(driver_new(&f->loop, o, f->prof, NULL, ob_send, &f->ob, &d2, err,
				    sizeof(err)), 0);
	f->d = d2;
	agent_up(f, "n1", "V100", 4, NULL, 0);
	agent_up(f, "n2", type2, 4, NULL, 0);
	return d2;
}

static void fit_driver_free(struct fx *f, struct driver *keep, struct driver *d2)
{
	f->d = keep;
	driver_close(d2);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	driver_free(d2);
}

/* Why a job cannot run: GPUs on drained nodes are named as such; under a
 * policy that runs every job at its requested width (tiresias), a job wider
 * than the GPUs up waits, and says so (hare would run it narrower). */
static void test_job_fit_width(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	struct store_job rec = job_rec(1, "resnet50", 16, 100);
	char why[400], err[256];
	uint32_t moved;

	agent_up(f, "n1", "V100", 4, NULL, 0);
	agent_up(f, "n2", "V100", 4, NULL, 0);
	assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
	assert_true(driver_job_fit(f->d, 1, why, sizeof(why)));	/* hare: 1 to 16 GPUs */
	assert_int_equal(driver_node_drain(f->d, "n2", true, NULL, &moved, err, sizeof(err)), 0);
	rec = job_rec(2, "resnet50", 8, 100);
	rec.min_gpus = 8;
	assert_int_equal(driver_job_add(f->d, &rec, err, sizeof(err)), 0);
	assert_false(driver_job_fit(f->d, 2, why, sizeof(why)));
	assert_string_equal(why, "it needs at least 8 GPUs and 4 it can use are up now (up: 4xV100; "
			    "4 more on drained nodes (harectl undrain gives them back)); it waits "
			    "until enough are");
	d2 = fit_driver(f, &o, "tiresias", "V100");
	rec = job_rec(1, "resnet50", 16, 100);
	assert_int_equal(driver_job_add(d2, &rec, err, sizeof(err)), 0);
	assert_false(driver_job_fit(d2, 1, why, sizeof(why)));
	assert_string_equal(why, "policy tiresias runs it on 16 GPUs at once (min(max_gpus, tasks)) "
			    "and 8 it can use are up now (up: 8xV100); it waits until enough are, "
			    "or harectl update --max-gpus lowers it");
	rec = job_rec(2, "resnet50", 16, 100);
	rec.max_gpus = 8;
	assert_int_equal(driver_job_add(d2, &rec, err, sizeof(err)), 0);
	assert_true(driver_job_fit(d2, 2, why, sizeof(why)));
	fit_driver_free(f, keep, d2);
	/* gavel runs a job on one type: 6 GPUs, 4 V100 and 4 T4 up */
	d2 = fit_driver(f, &o, "gavel", "T4");
	rec = job_rec(1, "resnet50", 6, 100);
	rec.min_gpus = 6;
	assert_int_equal(driver_job_add(d2, &rec, err, sizeof(err)), 0);
	assert_false(driver_job_fit(d2, 1, why, sizeof(why)));
	assert_string_equal(why, "policy gavel runs a job on GPUs of one type only, and it needs 6 at "
			    "once; the most of one type it can use up now are 4 T4 (up: 4xT4 "
			    "4xV100); it waits until enough are");
	rec = job_rec(2, "resnet50", 4, 100);
	assert_int_equal(driver_job_add(d2, &rec, err, sizeof(err)), 0);
	assert_true(driver_job_fit(d2, 2, why, sizeof(why)));
	fit_driver_free(f, keep, d2);
}

/* At start every node of the store is listed down, with its last-seen
 * time and its GPUs as the table has them (a text not of that form gives
 * none); its agent's Register replaces them. */
static void test_nodes_restored(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL;
	struct driver_opts o = fx_opts(0, 0, 0, 0);
	char dir[256], err[256];
	struct store *st = tmp_store(dir, "restored");
	double now = driver_now();
	const struct drv_node *n;
	int a, b, c;

	assert_int_equal(store_node(st, "a", "V100:2,X9:1", now - 100), 0);
	assert_int_equal(store_node(st, "b", "bogus", now - 50), 0);
	assert_int_equal(store_node(st, "c", "V100:999", now - 10), 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	f->d = d2;
	a = node_index(d2, "a");
	b = node_index(d2, "b");
	c = node_index(d2, "c");
	assert_true(a >= 0 && b >= 0 && c >= 0);
	assert_true(c < b && b < a);	/* the most lately seen first */
	n = driver_node_at(d2, (uint32_t)a);
	assert_false(n->up);
	assert_true(fabs(n->last_seen - (now - 100)) < 1e-3);
	assert_int_equal(n->ngpus, 3);
	assert_string_equal(n->gpus[1].type_name, "V100");
	assert_true(n->gpus[1].type >= 0);
	assert_int_equal(n->gpus[2].index, 2);
	assert_string_equal(n->gpus[2].type_name, "X9");
	assert_int_equal(n->gpus[2].type, -1);
	assert_int_equal(driver_node_at(d2, (uint32_t)b)->ngpus, 0);
	assert_int_equal(driver_node_at(d2, (uint32_t)c)->ngpus, 0);
	assert_int_equal(agent_up(f, "a", "T4", 1, NULL, 0), a + 1);
	assert_int_equal(driver_node_at(d2, (uint32_t)a)->ngpus, 1);
	assert_true(driver_node_at(d2, (uint32_t)a)->up);
	f->d = keep;
	tmp_driver_free(f, d2, st, dir);
}

/* The node table full, a new node takes the place of the node down
 * longest, once it has been down an hour, and neither drained nor failed
 * within the hour; else it is refused. */
static void test_node_table_full(void **state)
{
	struct fx *f = *state;
	double now = driver_now();
	char name[32], err[256];
	uint32_t moved;
	int id;

	for (uint32_t i = 0; i < DRIVER_MAX_NODES; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		id = driver_agent_attach(f->d, name, "127.0.0.1");
		assert_int_equal(id, (int)i + 1);
		driver_agent_detach(f->d, (uint32_t)id);
	}
	assert_int_equal(driver_agent_attach(f->d, "new1", "127.0.0.1"), -E2BIG);
	/* the test reaches into the nodes for what only hours would do */
	((struct drv_node *)driver_node_at(f->d, 3))->last_seen = now - 3000;	/* not an hour */
	((struct drv_node *)driver_node_at(f->d, 5))->last_seen = now - 7200;
	((struct drv_node *)driver_node_at(f->d, 7))->last_seen = now - 9000;
	((struct drv_node *)driver_node_at(f->d, 9))->last_seen = now - 8000;
	((struct drv_node *)driver_node_at(f->d, 9))->fail_at[0] = now - 60;
	/* not seen since hared started (read from the store): down since then */
	((struct drv_node *)driver_node_at(f->d, 11))->last_seen = 0;
	assert_int_equal(driver_node_drain(f->d, "g7", true, NULL, &moved, err, sizeof(err)), 0);
	assert_int_equal(driver_agent_attach(f->d, "new1", "127.0.0.1"), 6);
	assert_string_equal(driver_node_at(f->d, 5)->name, "new1");
	assert_int_equal(node_index(f->d, "g5"), -1);
	assert_int_equal(driver_agent_attach(f->d, "new2", "127.0.0.1"), -E2BIG);
	{
		struct driver_stats st;

		driver_stats_get(f->d, &st);
		assert_int_equal(st.nodes_forgotten, 1);
	}
}

/* A peer failure that still waited for its culprit when hared stopped
 * waits again after the restart (its "fail" event names the lease's nodes):
 * the culprit's exit then charges its node, and the job, which avoided both
 * nodes meanwhile, may use the other again. A second one whose culprit
 * never comes ends as "unexplained". A third, settled before the restart
 * (its culprit blamed), does not wait again. */
static void test_peer_failure_restored(void **state)
{
	struct fx *f = *state;
	struct driver *keep = f->d, *d2 = NULL, *d3 = NULL;
	struct driver_opts o = fx_opts(0, 0, 0, 1800);
	struct hand h[3] = { { 2, { 0, 3 }, { 1, 1 } }, { 2, { 1, 4 }, { 1, 1 } },
			     { 2, { 2, 5 }, { 1, 1 } } };
	char dir[256], err[256], detail[1024];
	struct store *st = tmp_store(dir, "peerwait");
	struct store_job recs[3];
	uint64_t lease[3];
	uint32_t a[2], nodes[DRIVER_AVOID_MAX];
	const struct drv_job *j;
	struct driver_stats stats;
	double when;

	assert_int_equal(driver_new(&f->loop, &o, f->prof, st, ob_send, &f->ob, &d2, err, sizeof(err)), 0);
	f->d = d2;
	a[0] = agent_up(f, "n1", "V100", 3, NULL, 0);
	a[1] = agent_up(f, "n2", "V100", 3, NULL, 0);
	driver_start(d2);
	for (int i = 0; i < 3; i++) {
		recs[i] = job_rec(0, "resnet50", 2, 1000);
		assert_int_equal(store_job_insert(st, &recs[i]), 0);
		assert_int_equal(driver_job_add(d2, &recs[i], err, sizeof(err)), 0);
	}
	plan_apply(f, h, 3);
	for (int i = 0; i < 3; i++)
		lease[i] = driver_job_find(d2, recs[i].id)->lease.id;
	for (int i = 0; i < 3; i++)
		task_fail_code(f, a[1], recs[i].id, lease[i], 1, REPORT_EXIT_PEER);
	task_fail_code(f, a[0], recs[2].id, lease[2], 0, 3);	/* job 3's culprit, before */
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(store_job_last_failure(st, recs[0].id, detail, sizeof(detail), &when), 0);
	assert_non_null(strstr(detail, "its node is not charged (lease "));
	assert_non_null(strstr(detail, " on nodes n1, n2)"));
	recs[0].state = recs[1].state = recs[2].state = STORE_QUEUED;
	f->d = keep;
	d3 = driver_restart(f, d2, st, &o);
	for (int i = 0; i < 3; i++)
		assert_int_equal(driver_job_load(d3, &recs[i]), 0);
	driver_failures_load(d3);
	f->d = d3;
	a[0] = agent_up(f, "n1", "V100", 3, NULL, 0);
	a[1] = agent_up(f, "n2", "V100", 3, NULL, 0);
	j = driver_job_find(d3, recs[0].id);
	assert_int_equal(j->navoid, 2);
	assert_int_equal(driver_node_failures(d3, a[0] - 1), 1);	/* job 3's blame */
	task_fail_code(f, a[0], recs[0].id, lease[0], 0, 3);	/* job 1's culprit, on n1 */
	assert_int_equal(driver_node_failures(d3, a[0] - 1), 2);
	assert_int_equal(driver_node_failures(d3, a[1] - 1), 0);
	task_fail_code(f, a[1], recs[2].id, lease[2], 1, 3);	/* settled: charges nobody */
	assert_int_equal(driver_node_failures(d3, a[1] - 1), 0);
	assert_int_equal(driver_job_avoids(d3, j, nodes), 1);
	assert_int_equal(nodes[0], a[0] - 1);
	driver_deadlines_run(d3, driver_now() + DRIVER_BLAME_WAIT_S + 1);	/* job 2's never came */
	driver_stats_get(d3, &stats);
	assert_true(stats.late_blames == 1 && stats.unexplained == 1);
	f->d = keep;
	tmp_driver_free(f, d3, st, dir);
}

/* A worker that ends cleanly before the last round (done too early, or
 * stopped though nobody asked) without progress in its lease counts as a
 * failure (max_retries 1 here: the second one ends the job), charged to no
 * node; with progress it is only queued again. */
static void test_idle_exit_counts(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 1, { 0 }, { 1 } } };
	const struct drv_job *j;
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 1, NULL, 0);
	job_add(f, 1, "resnet50", 1, 1000);
	driver_start(f->d);
	j = driver_job_find(f->d, 1);
	plan_apply(f, h, 1);
	report(f, a1, 1, j->lease.id, 0, 0, 10);
	task_exit_rounds(f, a1, 1, j->lease.id, 0, HARE__TASK_STATUS__TASK_STOPPED, 10);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 0);	/* 10 rounds done: only queued again */
	plan_apply(f, h, 1);
	task_exit_rounds(f, a1, 1, j->lease.id, 0, HARE__TASK_STATUS__TASK_OK, 0);
	assert_int_equal(j->rec.state, STORE_QUEUED);
	assert_int_equal(j->failures, 1);
	assert_true(j->retry_at == 0);	/* no backoff configured */
	assert_int_equal(driver_node_failures(f->d, 0), 0);
	plan_apply(f, h, 1);
	task_exit_rounds(f, a1, 1, j->lease.id, 0, HARE__TASK_STATUS__TASK_STOPPED, 0);
	assert_null(driver_job_find(f->d, 1));	/* FAILED after 2 */
	assert_int_equal(driver_node_failures(f->d, 0), 0);
}

/* The nodes of job index 0 in a fresh snapshot, as a bit mask (-1: no job). */
static int snap_avoid_bits(struct fx *f)
{
	struct driver_snapshot *s;
	const struct sched_snapshot *v;
	int bits = -1;

	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	v = driver_snapshot_view(s);
	if (v->njobs > 0) {
		bits = 0;
		for (uint32_t k = 0; k < v->jobs[0].navoid; k++)
			bits |= 1 << v->jobs[0].avoid_nodes[k];
	}
	driver_snapshot_free(s);
	return bits;
}

/* A job whose worker failed on a node avoids it for failed_node_avoid_s
 * (0.3 s here) in the snapshots the policy gets, unless that would leave
 * it fewer GPUs than its min_gpus; an undrained node is no longer avoided. */
static void test_failed_node_avoided(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 1, { 0 }, { 1 } } }, h2[1] = { { 1, { 2 }, { 1 } } };
	uint32_t nodes[DRIVER_AVOID_MAX], moved, a1, a2;
	char msg[128];
	double t0;

	a1 = agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 1, 1000);
	driver_start(f->d);
	assert_int_equal(snap_avoid_bits(f), 0);
	plan_apply(f, h1, 1);
	t0 = now_wall();
	task_exit(f, a1, 1, driver_job_find(f->d, 1)->lease.id, 0, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(driver_job_avoids(f->d, driver_job_find(f->d, 1), nodes), 1);
	assert_int_equal(nodes[0], 0);
	assert_int_equal(snap_avoid_bits(f), 1);
	assert_int_equal(driver_node_failures(f->d, 0), 1);
	assert_int_equal(driver_node_failures(f->d, 1), 0);
	/* n2 drained: nowhere else to go, so n1 is allowed */
	assert_int_equal(driver_node_drain(f->d, "n2", true, "", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(snap_avoid_bits(f), 0);
	assert_int_equal(driver_node_drain(f->d, "n2", false, "", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(snap_avoid_bits(f), 1);
	/* it fails on n2 too: both avoided, so neither is (it must run somewhere) */
	plan_apply(f, h2, 1);
	task_exit(f, a2, 1, driver_job_find(f->d, 1)->lease.id, 0, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(driver_job_avoids(f->d, driver_job_find(f->d, 1), nodes), 0);
	assert_int_equal(snap_avoid_bits(f), 0);
	/* n1 was repaired (drained, undrained): only n2 is avoided now */
	assert_int_equal(driver_node_drain(f->d, "n1", true, "", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(driver_node_drain(f->d, "n1", false, "", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(snap_avoid_bits(f), 2);
	/* and not after failed_node_avoid_s */
	while (now_wall() - t0 < 0.35)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(snap_avoid_bits(f), 0);
	assert_int_equal(driver_job_avoids(f->d, driver_job_find(f->d, 1), nodes), 0);
}

/* The policy itself then places the job off the node it failed on (n2,
 * where it would go again otherwise). */
static void test_failed_node_replanned(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 1, { 2 }, { 2 } } };
	struct driver_snapshot *s;
	const struct sched_plan *p;
	uint32_t a2;

	agent_up(f, "n1", "V100", 2, NULL, 0);
	a2 = agent_up(f, "n2", "V100", 2, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h1, 1);
	task_exit(f, a2, 1, driver_job_find(f->d, 1)->lease.id, 0, HARE__TASK_STATUS__TASK_FAILED);
	stops_exit(f, 1);
	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	assert_int_equal(driver_snapshot_plan_run(f->d, s), 0);
	p = driver_snapshot_plan(s);
	assert_true(p->assigns[0].run_now);
	for (uint32_t i = 0; i < p->assigns[0].ngpus; i++)
		assert_int_equal(driver_snapshot_view(s)->cluster->gpus[p->gpus[p->assigns[0].first + i]].node, 0);
	driver_snapshot_free(s);
}

/* harectl update/hold/release through driver_job_update. */
static int upd(struct fx *f, uint64_t id, const char *user, bool admin, int hold, double weight,
	       uint32_t lo, uint32_t hi, char *msg, size_t len)
{
	struct driver_update u = { .hold = hold, .has_weight = weight > 0, .weight = weight,
				   .has_min_gpus = lo > 0, .min_gpus = lo,
				   .has_max_gpus = hi > 0, .max_gpus = hi };

	return driver_job_update(f->d, id, user, admin, &u, msg, len);
}

/* A queued job held by its owner leaves the plans (show says why) until
 * released; bob may not touch it; a hold by root is released by root only
 * and is not weakened by the owner's. */
static void test_update_hold_queued(void **state)
{
	struct fx *f = *state;
	char msg[256], why[200];

	agent_up(f, "n1", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	assert_int_equal(snap_jobs(f), 1);
	assert_int_equal(upd(f, 1, "bob", false, 1, 0, 0, 0, msg, sizeof(msg)), -EPERM);
	assert_string_equal(msg, "job 1 belongs to alice; only its owner or root may change it");
	assert_int_equal(upd(f, 2, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), -ENOENT);
	/* as a plan would have left it: first, finishing in 100 s */
	((struct drv_job *)driver_job_find(f->d, 1))->order = 0;
	((struct drv_job *)driver_job_find(f->d, 1))->est_finish = driver_now() + 100;
	assert_int_equal(upd(f, 1, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: held");
	assert_int_equal(driver_job_find(f->d, 1)->rec.held, STORE_HELD_OWNER);
	/* out of the order at once, not at the next plan */
	assert_int_equal(driver_job_find(f->d, 1)->order, UINT32_MAX);
	assert_true(driver_job_find(f->d, 1)->est_finish == 0);
	assert_int_equal(snap_jobs(f), 0);
	assert_false(driver_job_fit(f->d, 1, why, sizeof(why)));
	assert_string_equal(why, "held by its owner; harectl release 1 lets it run");
	assert_int_equal(upd(f, 1, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: already held");
	/* root holds it too: now only root releases it */
	assert_int_equal(upd(f, 1, "root", true, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: held by root");
	assert_int_equal(upd(f, 1, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_int_equal(driver_job_find(f->d, 1)->rec.held, STORE_HELD_ADMIN);
	assert_int_equal(upd(f, 1, "alice", false, 0, 0, 0, 0, msg, sizeof(msg)), -EPERM);
	assert_string_equal(msg, "job 1 was held by root; only root may release it");
	assert_int_equal(snap_jobs(f), 0);
	assert_int_equal(upd(f, 1, "root", true, 0, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: released");
	assert_int_equal(snap_jobs(f), 1);
	assert_true(driver_job_fit(f->d, 1, why, sizeof(why)));
	assert_int_equal(upd(f, 1, "alice", false, 0, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: was not held");
}

/* Holding a running job stops its workers and queues it; a plan made
 * before the hold does not start it again; released, it is planned. */
static void test_update_hold_running(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 1 }, { 1, 1 } } };
	struct driver_snapshot *s;
	struct sched_plan *p;
	char msg[256];
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_RUNNING);
	ob_clear(&f->ob);
	assert_int_equal(upd(f, 1, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, 0);
	stops_exit(f, 2);
	assert_int_equal(snap_jobs(f), 0);

	/* released, then held again while a plan is being made */
	assert_int_equal(upd(f, 1, "alice", false, 0, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	assert_int_equal(driver_snapshot_view(s)->njobs, 1);
	p = driver_snapshot_plan(s);
	assert_int_equal(sched_plan_reset(p, 1), 0);
	assert_int_equal(sched_plan_place(p, 0, h[0].gpus, h[0].tasks, h[0].n), 0);
	p->assigns[0].run_now = true;
	assert_int_equal(upd(f, 1, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	ob_clear(&f->ob);
	assert_int_equal(driver_plan_apply(f->d, s), 0);
	driver_snapshot_free(s);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, 0);

	assert_int_equal(upd(f, 1, "alice", false, 0, 0, 0, 0, msg, sizeof(msg)), 0);
	plan_apply(f, h, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 1), 2);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_RUNNING);
}

/* A job moved to other GPUs waits there for its stopped workers to exit;
 * held meanwhile, it lets those GPUs go, starts nothing when the old
 * workers exit, and still gets the rounds they finished. */
static void test_update_hold_pending(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 2, { 0, 1 }, { 1, 1 } } };
	struct hand h2[1] = { { 2, { 4, 5 }, { 1, 1 } } };
	char msg[256];
	uint64_t lease1;
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	agent_up(f, "n2", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 2, 1000);
	driver_start(f->d);
	plan_apply(f, h1, 1);
	lease1 = driver_job_find(f->d, 1)->lease.id;
	report(f, a1, 1, lease1, 0, 0, 100);
	report(f, a1, 1, lease1, 1, 0, 100);
	plan_apply(f, h2, 1);
	assert_int_equal(driver_job_find(f->d, 1)->npend, 2);
	assert_int_equal(gpu_of(f, 1, 0)->job_id, 1);
	assert_int_equal(upd(f, 1, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_int_equal(driver_job_find(f->d, 1)->npend, 0);
	assert_int_equal(gpu_of(f, 1, 0)->job_id, 0);
	ob_clear(&f->ob);
	task_exit(f, a1, 1, lease1, 1, HARE__TASK_STATUS__TASK_STOPPED);
	task_exit_rounds(f, a1, 1, lease1, 0, HARE__TASK_STATUS__TASK_STOPPED, 130);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(driver_job_find(f->d, 1)->rec.rounds_done, 130);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(snap_jobs(f), 0);
}

/* While hared waits for the agents after a restart: a job whose GPU range
 * no longer holds its lease's width is queued again once they are back
 * (its workers stopped), and a job held meanwhile is stopped then, its
 * workers' last rounds counted. */
static void test_update_during_grace(void **state)
{
	struct fx *f = *state;
	const uint64_t L = 8000000000000000ull;
	Hare__RunningTask t1[3] = { rt_full(5, L, 0, 0, 2, 3, 90), rt_full(5, L, 1, 1, 1, 3, 90),
				    rt_full(5, L, 2, 2, 1, 3, 90) };
	Hare__RunningTask t2[1] = { rt_full(6, L + 1, 0, 3, 1, 1, 10) };
	Hare__RunningTask *p1[4] = { &t1[0], &t1[1], &t1[2], &t2[0] };
	char msg[256];
	uint32_t a1;

	load_running(f, 5, 4, 100);
	load_running(f, 6, 1, 10);
	driver_start(f->d);
	assert_int_equal(upd(f, 5, "alice", false, -1, 0, 1, 2, msg, sizeof(msg)), 0);
	assert_int_equal(upd(f, 6, "alice", false, 1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 6: held");
	a1 = agent_up(f, "n1", "V100", 4, p1, 4);
	driver_grace_end(f->d);
	assert_int_equal(driver_job_find(f->d, 5)->lease.id, 0);
	assert_int_equal(driver_job_find(f->d, 5)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 6)->lease.id, 0);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 5), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 6), 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(driver_job_find(f->d, 6)->rec.state, STORE_QUEUED);
	task_exit_rounds(f, a1, 6, L + 1, 0, HARE__TASK_STATUS__TASK_STOPPED, 7);
	assert_int_equal(driver_job_find(f->d, 6)->rec.rounds_done, 17);
	assert_int_equal(snap_jobs(f), 1);	/* job 5 only */
}

/* Weight and GPU range: the snapshot carries them; a range the job does
 * not fit is refused; a running job keeps its GPUs when its width still
 * fits and is queued again (workers stopped) when it does not. */
static void test_update_weight_range(void **state)
{
	struct fx *f = *state;
	struct hand h[1] = { { 2, { 0, 1 }, { 2, 2 } } };
	struct driver_snapshot *s;
	char msg[256];
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 4, NULL, 0);
	job_add(f, 1, "resnet50", 4, 1000);
	driver_start(f->d);
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 0, 5, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "job 1: max_gpus must be between 1 and its gpus (4), got 5");
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 3, 2, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "job 1: min_gpus must be between 1 and max_gpus (2), got 3");
	assert_int_equal(driver_job_find(f->d, 1)->rec.max_gpus, 4);
	/* min 3 set, then max 2 alone: the max is to blame, not the min */
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 3, 0, msg, sizeof(msg)), 0);
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 0, 2, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "job 1: max_gpus 2 is below its min_gpus (3); give min_gpus too "
			    "(harectl update --min-gpus)");
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 1, 0, msg, sizeof(msg)), 0);
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: nothing to change");
	assert_int_equal(upd(f, 1, "alice", false, -1, 3.5, 0, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: weight 1 -> 3.5");
	assert_int_equal(driver_snapshot_take(f->d, &s), 0);
	assert_true(driver_snapshot_view(s)->jobs[0].weight == 3.5);
	driver_snapshot_free(s);

	plan_apply(f, h, 1);
	ob_clear(&f->ob);
	assert_int_equal(upd(f, 1, "alice", false, -1, 0, 1, 3, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: GPUs 1-4 -> 1-3");
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
	assert_int_not_equal(driver_job_find(f->d, 1)->lease.id, 0);
	assert_int_equal(upd(f, 1, "root", true, -1, 2, 3, 0, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "job 1: weight 3.5 -> 2, GPUs 1-3 -> 3-3");
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(driver_job_find(f->d, 1)->lease.id, 0);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(driver_job_find(f->d, 1)->rec.min_gpus, 3);
}

/* A DONE job's worker that still runs (saving a model) is stopped at the
 * agent's next report without finish_grace_s (0 here), and left to end on
 * its own within it (60 s: test_done_finishes). */
static void done_then_heartbeat(struct fx *f, uint32_t *a2, uint64_t *lease)
{
	Hare__RunningTask t[1];
	Hare__RunningTask *pt[1] = { &t[0] };
	Hare__Heartbeat hb = HARE__HEARTBEAT__INIT;
	uint32_t a1;

	*lease = away_setup(f, &a1, a2);
	report(f, a1, 1, *lease, 0, 0, 1000);
	task_exit(f, a1, 1, *lease, 0, HARE__TASK_STATUS__TASK_OK);
	report(f, *a2, 1, *lease, 1, 0, 1000);
	assert_null(driver_job_find(f->d, 1));
	t[0] = rt_full(1, *lease, 1, 0, 1, 2, 0);
	hb.n_running = 1;
	hb.running = pt;
	driver_agent_heartbeat(f->d, *a2, &hb);
}

static void test_done_stopped(void **state)
{
	struct fx *f = *state;
	uint32_t a2;
	uint64_t lease;

	done_then_heartbeat(f, &a2, &lease);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a2, 1), 1);
	assert_false(driver_gpu_is_free(gpu_of(f, 1, 0)));
}

static void test_done_finishes(void **state)
{
	struct fx *f = *state;
	uint32_t a2;
	uint64_t lease;

	done_then_heartbeat(f, &a2, &lease);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, 0, 0), 0);
	assert_false(driver_gpu_is_free(gpu_of(f, 1, 0)));	/* held until it exits */
	assert_true(gpu_of(f, 1, 0)->finish_until > 0);
	assert_true(gpu_of(f, 1, 0)->vacate_until >= gpu_of(f, 1, 0)->finish_until + 2);
	task_exit(f, a2, 1, lease, 1, HARE__TASK_STATUS__TASK_OK);
	assert_true(driver_gpu_is_free(gpu_of(f, 1, 0)));
	assert_true(gpu_of(f, 1, 0)->finish_until == 0);
}

/* A lease waiting for a GPU that a stopped worker holds is not started
 * there when that worker's exit comes with a node fault (its processes
 * outlived SIGKILL): the exit frees the GPU and drains the node at once,
 * and the lease is planned anew. */
static void test_node_fault_pend(void **state)
{
	struct fx *f = *state;
	struct hand h1[1] = { { 1, { 0 }, { 1 } } }, h2[2] = { { 0, { 0 }, { 0 } },
							   { 1, { 0 }, { 1 } } };
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;
	uint32_t a1 = agent_up(f, "n1", "V100", 1, NULL, 0);

	job_add(f, 1, "resnet50", 1, 1000);
	driver_start(f->d);
	plan_apply(f, h1, 1);
	job_add(f, 2, "resnet50", 1, 1000);
	ob_clear(&f->ob);
	plan_apply(f, h2, 2);	/* job 1 stopped, job 2 waits for its GPU */
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
	assert_int_equal(driver_job_find(f->d, 2)->npend, 1);
	x.job_id = 1;
	x.lease_id = gpu_of(f, 0, 0)->vacate_lease;
	x.status = HARE__TASK_STATUS__TASK_STOPPED;
	x.message = "stopped by signal 15 (Terminated); processes alive 60 s after SIGKILL: 4711 "
		    "python3 (D)";
	x.node_fault = "processes alive 60 s after SIGKILL: 4711 python3 (D)";
	driver_task_exit(f->d, a1, &x);
	assert_true(driver_node_at(f->d, 0)->drained);
	assert_string_equal(driver_node_at(f->d, 0)->drain_reason, "processes alive 60 s after "
			    "SIGKILL: 4711 python3 (D) (job 1 rank 0)");
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 2), 0);
	assert_null(driver_job_find(f->d, 2)->pend);
	assert_int_equal(driver_job_find(f->d, 2)->rec.state, STORE_QUEUED);
}

/* A stopped worker's GPU waits for its exit as long as its own agent's stop
 * grace (Register.stop_grace_ms, at most an hour) plus the margin; an agent
 * that does not say gets hared's stop_grace_s (2 s in the fixture). An
 * agent that waits for a task's processes to be gone after their SIGKILL
 * (Register.unkillable_ms) gets that much longer. */
static void test_stop_grace_per_agent(void **state)
{
	struct fx *f = *state;
	Hare__RunningTask t[4] = { rt_full(42, 3, 0, 1, 1, 1, 0), rt_full(43, 4, 0, 1, 1, 1, 0),
				   rt_full(44, 5, 0, 1, 1, 1, 0), rt_full(45, 6, 0, 1, 1, 1, 0) };
	Hare__RunningTask *p[4] = { &t[0], &t[1], &t[2], &t[3] };
	double now = driver_now();

	agent_up_grace(f, "n1", "V100", 2, &p[0], 1, 30000);
	agent_up(f, "n2", "V100", 2, &p[1], 1);
	agent_up_grace(f, "n3", "V100", 2, &p[2], 1, 4000000000ll);
	next_unkillable_ms = 60000;
	agent_up_grace(f, "n4", "V100", 2, &p[3], 1, 30000);
	assert_int_equal(gpu_of(f, 0, 1)->vacate_lease, 3);
	assert_int_equal(gpu_of(f, 1, 1)->vacate_lease, 4);
	assert_int_equal(gpu_of(f, 2, 1)->vacate_lease, 5);
	assert_int_equal(gpu_of(f, 3, 1)->vacate_lease, 6);
	assert_true(fabs(gpu_of(f, 0, 1)->vacate_until - now - 35) < 1);
	assert_true(fabs(gpu_of(f, 1, 1)->vacate_until - now - 7) < 1);
	assert_true(fabs(gpu_of(f, 2, 1)->vacate_until - now - 3605) < 1);
	assert_true(fabs(gpu_of(f, 3, 1)->vacate_until - now - 95) < 1);
}

/* A worker of no current lease is stopped and its GPU kept until it exits
 * (a lease planned there waits, or gives up at the stop timeout); a node
 * that comes back without a lease's GPU requeues that lease. */
static void test_stale_and_gone(void **state)
{
	struct fx *f = *state;
	Hare__RunningTask t[2] = { rt_full(42, 3, 0, 2, 1, 1, 0), rt_full(43, 4, 0, 1, 1, 1, 0) };
	Hare__RunningTask *p[2] = { &t[0], &t[1] };
	struct hand h[1] = { { 1, { 2 }, { 1 } } }, h3[1] = { { 1, { 3 }, { 1 } } };
	uint32_t a1;

	a1 = agent_up(f, "n1", "V100", 4, p, 2);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 42), 1);
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 2)));
	job_add(f, 1, "resnet50", 1, 1000);
	driver_start(f->d);
	plan_apply(f, h, 1);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, 0, 0), 0);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	task_exit(f, a1, 42, 3, 0, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_START, a1, 1), 1);
	assert_int_equal(driver_job_find(f->d, 1)->lease.ranks[0].slot, 2);
	/* Worker 43 never exits: its GPU is used again after the timeout. */
	assert_false(driver_gpu_is_free(gpu_of(f, 0, 1)));
	driver_deadlines_run(f->d, driver_now() + 2 + DRIVER_STOP_MARGIN_S + 1);
	assert_true(driver_gpu_is_free(gpu_of(f, 0, 1)));
	/* Moved to GPU 3. */
	ob_clear(&f->ob);
	plan_apply(f, h3, 1);
	stops_exit(f, 1);
	assert_int_equal(driver_job_find(f->d, 1)->lease.ranks[0].slot, 3);
	ob_clear(&f->ob);
	driver_agent_detach(f->d, a1);
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_RUNNING);
	agent_up(f, "n1", "V100", 2, NULL, 0);	/* GPU 3 is gone */
	assert_int_equal(driver_job_find(f->d, 1)->rec.state, STORE_QUEUED);
	assert_int_equal(ob_count(&f->ob, HARE__FROM_DAEMON__MSG_TASK_STOP, a1, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_task_start_node_gpus, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_task_start_user, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_plan_apply, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_plan_stale, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_policy_plan, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_progress, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failure, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failure_no_account, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_fault, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_fault_adopting, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_fault_pend, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_exit_text_clean, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stall, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_down, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_register_type_chars, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_speed_learning, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_move_waits_and_credits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rendezvous, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rendezvous_resend, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adoption, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_ended_meanwhile, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_exact, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_partial, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_reason, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_exit_meanwhile, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_newer_lease, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_agent_away_keeps_lease, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_held_job_no_order, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_agent_away_timeout, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_done_vacates, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_done_stopped, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failure_backoff, fx_setup_retry, fx_teardown),
		cmocka_unit_test_setup_teardown(test_min_lease_expiry_replans, fx_setup_lease, fx_teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, fx_setup_quarantine, fx_teardown),
		cmocka_unit_test_setup_teardown(test_peer_failure_blame, fx_setup_blame, fx_teardown),
		cmocka_unit_test_setup_teardown(test_idle_exit_counts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_node_sorted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_plan_partly_invalid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_peer_failure_avoids, fx_setup_blame, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unexplained_singled, fx_setup_quarantine,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_unexplained_restored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_peer_failure_restored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_forget, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_table_full, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_forget_twice_restart, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_job_fit_width, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nodes_restored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_peer_failure_job_ended, fx_setup_quarantine,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_failed_unlisted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_keeps_lease_start, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_usage_lease, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_usage_restart, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_waits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_failed_chain, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_kinds, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_job_add_fails, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_seen_stored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_restart, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_done_worker_stuck, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_weights, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_done_exiting, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_usage_adopt_failed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failures_restored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_node_avoided, fx_setup_avoid, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_node_replanned, fx_setup_avoid, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_hold_queued, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_hold_running, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_weight_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_hold_pending, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_during_grace, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_done_finishes, fx_setup_finish, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_gone, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stop_grace_per_agent, fx_setup_grace, fx_teardown),
		cmocka_unit_test_setup_teardown(test_speed_learning_proxy, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_speed_learning_command, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_speed_learning_command_root, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_drain, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_health, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_health_flaps, fx_setup_health_quarantine,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_health_failures_restored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_drain_persists, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
