/* SPDX-License-Identifier: MIT */
/* Unit tests for hared's decode + dispatch layer on connections without a
 * socket (conn_fake_new): session order, errors that close only the bad
 * session, the queue reply's plan statistics, and an agent session that
 * ends while its workers keep their lease, and a cancel and a lease start
 * that are on disk before they are acknowledged or sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "auth_hmac.h"
#include "clients.h"
#include "conn.h"
#include "dispatch.h"
#include "driver.h"
#include "err.h"
#include "frame.h"
#include "hared.h"
#include "log.h"
#include "logs.h"
#include "measure.h"
#include "metrics.h"
#include "profile.h"

#define SENT_MAX 64

struct sent {
	uint32_t n;
	Hare__FromDaemon *msg[SENT_MAX];
	char db[160];		/* set: record what is committed at each TaskStart */
	int start_state;	/* the state of the last TaskStart's job, on disk */
};

struct fx {
	uv_loop_t loop;
	char dir[64];
	struct hared d;
	struct sent out;
};

/* The state of job id as another process reads the database now: only
 * what is committed (-1: no such row). */
/* The first column of sql's first row in the database at path, as another
 * process sees it (committed writes only); -1 when there is no row. */
static int db_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int committed_state_at(const char *path, uint64_t id)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %" PRIu64, id);
	return db_int(path, sql);
}

static void sink(void *user, const uint8_t *payload, size_t len)
{
	struct sent *s = user;

	assert_true(s->n < SENT_MAX);
	assert_int_equal(wire_decode_from_daemon(payload, len, &s->msg[s->n]), 0);
	if (s->db[0] && s->msg[s->n]->msg_case == HARE__FROM_DAEMON__MSG_TASK_START)
		s->start_state = committed_state_at(s->db, s->msg[s->n]->task_start->job_id);
	s->n++;
}

static void sent_clear(struct sent *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		hare__from_daemon__free_unpacked(s->msg[i], NULL);
	s->n = 0;
}

static const Hare__FromDaemon *last(const struct fx *f)
{
	assert_true(f->out.n > 0);
	return f->out.msg[f->out.n - 1];
}

static int fx_setup(void **state)
{
	struct driver_opts o = { .policy = "hare", .time_scale = 1000, .replan_debounce_ms = 10,
				 .reconnect_grace_s = 5, .stop_grace_s = 1, .max_retries = 1,
				 .finish_grace_s = 60 };
	struct fx *f = calloc(1, sizeof(*f));
	char err[256], path[128];

	assert_non_null(f);
	log_level_set("warn");
	assert_int_equal(uv_loop_init(&f->loop), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/hare-test-dispatch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/hare.db", f->dir);
	f->d.loop = &f->loop;
	hared_config_defaults(&f->d.cfg);
	snprintf(f->d.cfg.state_dir, sizeof(f->d.cfg.state_dir), "%s", f->dir);
	snprintf(f->d.cfg.profiles, sizeof(f->d.cfg.profiles), "%s",
		 HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR);
	assert_int_equal(profile_load(HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR, &f->d.prof, err,
				      sizeof(err)), 0);
	assert_int_equal(store_open(path, &f->d.store, err, sizeof(err)), 0);
	assert_int_equal(clients_pending_init(&f->d), 0);
	assert_int_equal(driver_new(&f->loop, &o, f->d.prof, f->d.store, conn_agent_send, &f->d,
				    &f->d.drv, err, sizeof(err)), 0);
	assert_int_equal(measure_new(&f->d, &f->d.measure, err, sizeof(err)), 0);
	driver_start(f->d.drv);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	f->d.stopping = true;
	driver_close(f->d.drv);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	measure_free(f->d.measure);
	driver_free(f->d.drv);
	store_close(f->d.store);
	profile_free(f->d.prof);
	clients_pending_free(&f->d);
	free(f->d.conn_slots);
	free(f->d.agent_conn);
	free(f->d.users);
	free(f->d.user_tls_ids);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	sent_clear(&f->out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Pack m and hand it to the dispatcher as one frame on c. */
static void frame(struct conn *c, const Hare__ToDaemon *m)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(wire_encode_to_daemon(m, 0, &buf, &len), 0);
	dispatch_frame(c, buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN);
	free(buf);
}

static struct conn *client(struct fx *f)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;
	struct conn *c;

	assert_int_equal(conn_fake_new(&f->d, CONN_CLIENT_UNIX, sink, &f->out, &c), 0);
	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_CLIENT;
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	assert_int_equal(last(f)->welcome->n_features, 4);
	assert_string_equal(last(f)->welcome->features[0], "after");
	assert_string_equal(last(f)->welcome->features[1], "after-kinds");
	assert_string_equal(last(f)->welcome->features[2], "check");
	assert_string_equal(last(f)->welcome->features[3], "node-history");
	assert_int_equal(c->state, CONN_CLIENT);
	return c;
}

static const Hare__QueueReply *queue(struct fx *f, struct conn *c)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;

	m.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	m.queue = &q;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_QUEUE_REPLY);
	return last(f)->queue_reply;
}

/* Submit a resnet50 job and commit it; its id. */
/* Submit spec on c and commit it; the reply. */
/* Submit j on c, committed; the reply (a SubmitReply or an Error). */
static const Hare__FromDaemon *submit_frame(struct fx *f, struct conn *c, Hare__JobSpec *j)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Submit s = HARE__SUBMIT__INIT;

	s.spec = j;
	m.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	m.submit = &s;
	frame(c, &m);
	clients_commit(&f->d);
	return last(f);
}

static const Hare__SubmitReply *submit_spec(struct fx *f, struct conn *c, Hare__JobSpec *j)
{
	assert_int_equal(submit_frame(f, c, j)->msg_case, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY);
	return last(f)->submit_reply;
}

static uint64_t submit_rounds(struct fx *f, struct conn *c, uint32_t gpus, uint64_t rounds)
{
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;

	j.model = "resnet50";
	j.tasks = gpus;
	j.rounds = rounds;
	return submit_spec(f, c, &j)->job_id;
}

static void submit(struct fx *f, struct conn *c, uint32_t gpus)
{
	submit_rounds(f, c, gpus, 100000);
}

static void plan_now(struct fx *f)
{
	struct driver_snapshot *s;

	assert_int_equal(driver_snapshot_take(f->d.drv, &s), 0);
	assert_int_equal(driver_snapshot_plan_run(f->d.drv, s), 0);
	assert_int_equal(driver_plan_apply(f->d.drv, s), 0);
	driver_snapshot_free(s);
}

/* An agent session past authentication (as dispatch_auth leaves it),
 * whose frames go to out. */
static struct conn *agent_to(struct fx *f, const char *node, struct sent *out)
{
	struct conn *c;
	int id = driver_agent_attach(f->d.drv, node, "127.0.0.1");

	assert_true(id > 0);
	assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, out, &c), 0);
	assert_int_equal(conn_agent_bind(&f->d, c, (uint32_t)id), 0);
	snprintf(c->node, sizeof(c->node), "%s", node);
	c->state = CONN_AUTHED;
	return c;
}

static struct conn *agent(struct fx *f, const char *node)
{
	return agent_to(f, node, &f->out);
}

/* The health the next registrations say (NULL: none). */
static Hare__NodeHealth *reg_health;

/* Register GPUs 0..ngpus-1 of the given types, as an agent that measures
 * GPU types and measures (or has results for) those of measuring[]. */
/* cancels: the agent takes ProfileCancel (Register.profile_cancel) */
static void agent_register_ex(struct conn *c, const char *const *types, uint32_t ngpus,
			      bool measures, bool cancels, const char *const *measuring,
			      size_t nmeasuring)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Register r = HARE__REGISTER__INIT;
	Hare__GpuInfo g[64], *gp[64];

	assert_true(ngpus <= 64);
	r.has_measures = true;
	r.measures = measures;
	r.has_profile_cancel = cancels;
	r.profile_cancel = cancels;
	r.n_measuring = nmeasuring;
	r.measuring = (char **)measuring;
	for (uint32_t i = 0; i < ngpus; i++) {
		hare__gpu_info__init(&g[i]);
		g[i].index = i;
		g[i].type = (char *)types[i];
		gp[i] = &g[i];
	}
	r.n_gpus = ngpus;
	r.gpus = gp;
	r.health = reg_health;
	m.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	m.register_ = &r;
	frame(c, &m);
	assert_int_equal(c->state, CONN_READY);
}

static void agent_register_full(struct conn *c, const char *const *types, uint32_t ngpus,
				bool measures, const char *const *measuring, size_t nmeasuring)
{
	agent_register_ex(c, types, ngpus, measures, false, measuring, nmeasuring);
}

static void agent_register_types(struct conn *c, const char *const *types, uint32_t ngpus)
{
	agent_register_full(c, types, ngpus, true, NULL, 0);
}

static void agent_register(struct conn *c, uint32_t ngpus)
{
	static const char *const v100[8] = { "V100", "V100", "V100", "V100",
					     "V100", "V100", "V100", "V100" };

	agent_register_types(c, v100, ngpus);
}

/* The queue reply carries the plan count and decision latency. */
static void test_queue_stats(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");
	const Hare__QueueReply *q;

	agent_register(a, 4);
	q = queue(f, c);
	assert_true(q->has_plans);
	assert_int_equal(q->plans, 0);
	assert_false(q->has_plan_p50_ms || q->has_plan_p99_ms || q->has_lp_bound_s);
	submit(f, c, 2);
	plan_now(f);
	plan_now(f);
	q = queue(f, c);
	assert_int_equal(q->plans, 2);
	assert_true(q->has_plan_p50_ms && q->has_plan_p99_ms);
	assert_true(q->plan_p50_ms >= 0 && q->plan_p99_ms >= q->plan_p50_ms);
	assert_int_equal(q->n_jobs, 1);
	assert_int_equal(q->jobs[0]->state, HARE__JOB_STATE__RUNNING);
	conn_fake_free(a);
	conn_fake_free(c);
}

static const Hare__FromDaemon *drain(struct fx *f, struct conn *c, const char *node, bool on,
				     const char *reason)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__DrainRequest d = HARE__DRAIN_REQUEST__INIT;

	d.node = (char *)node;
	d.drain = on;
	d.reason = (char *)reason;
	m.msg_case = HARE__TO_DAEMON__MSG_DRAIN;
	m.drain = &d;
	frame(c, &m);
	return last(f);
}

/* A reload applies a new agent_keys_dir that is a folder, and keeps the
 * one in use when the new one is no folder (every node would take the
 * cluster key) or is none while hared has no cluster key. */
static void test_reload_keys_dir(void **state)
{
	struct fx *f = *state;
	struct hared_config next = f->d.cfg;
	char a[200], b[200];

	snprintf(a, sizeof(a), "%s/keys-a", f->dir);
	snprintf(b, sizeof(b), "%s/keys-b", f->dir);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	snprintf(f->d.cfg.agent_keys_dir, sizeof(f->d.cfg.agent_keys_dir), "%s", a);
	f->d.keylen = 0;	/* started with cluster_key_file empty */
	snprintf(next.agent_keys_dir, sizeof(next.agent_keys_dir), "%s/typo", f->dir);
	hared_reload(&f->d, &next);
	assert_string_equal(f->d.cfg.agent_keys_dir, a);
	next.agent_keys_dir[0] = '\0';
	hared_reload(&f->d, &next);
	assert_string_equal(f->d.cfg.agent_keys_dir, a);
	snprintf(next.agent_keys_dir, sizeof(next.agent_keys_dir), "%s", b);
	hared_reload(&f->d, &next);
	assert_string_equal(f->d.cfg.agent_keys_dir, b);
	/* with a cluster key, none is fine: every node takes it */
	memcpy(f->d.key, "0123456789abcdef-cluster", 24);
	f->d.keylen = 24;
	next.agent_keys_dir[0] = '\0';
	hared_reload(&f->d, &next);
	assert_string_equal(f->d.cfg.agent_keys_dir, "");
}

/* A reload hands each key hared reads as it goes to the driver (every one
 * a value of its own, so that a swapped key shows), clips the wait for the
 * next metrics write, and keeps the policy and the time scale the driver
 * was made with. */
static void test_reload_applies(void **state)
{
	struct fx *f = *state;
	struct hared_config next = f->d.cfg;
	struct driver_opts o;

	next.replan_debounce_ms = 11;
	next.reconnect_grace_s = 12;
	next.stop_grace_s = 13;
	next.max_retries = 14;
	next.finish_grace_s = 15;
	next.failed_node_avoid_s = 16;
	next.retry_backoff_s = 17;
	next.quarantine_jobs = 18;
	next.quarantine_users = 19;
	next.quarantine_max_nodes = 20;
	next.noise_cv = 0.21;
	next.metrics_interval_s = 5;
	next.heartbeat_timeout_s = 23;
	snprintf(next.policy, sizeof(next.policy), "fifo");
	next.time_scale = 5;
	snprintf(next.log_level, sizeof(next.log_level), "warn");
	f->d.metrics_due = 100;
	assert_int_equal(hared_reload(&f->d, &next), 16);
	driver_opts_get(f->d.drv, &o);
	assert_int_equal(o.replan_debounce_ms, 11);
	assert_true(o.reconnect_grace_s == 12);
	assert_true(o.stop_grace_s == 13);
	assert_int_equal(o.max_retries, 14);
	assert_true(o.finish_grace_s == 15);
	assert_true(o.failed_node_avoid_s == 16);
	assert_true(o.retry_backoff_s == 17);
	assert_int_equal(o.quarantine_jobs, 18);
	assert_int_equal(o.quarantine_users, 19);
	assert_int_equal(o.quarantine_max_nodes, 20);
	assert_true(o.noise_cv == 0.21);
	assert_true(f->d.cfg.heartbeat_timeout_s == 23);
	assert_int_equal(f->d.metrics_due, 5);
	assert_string_equal(o.policy, "hare");
	assert_true(o.time_scale == 1000);
	assert_string_equal(f->d.cfg.policy, "hare");
	assert_true(f->d.cfg.time_scale == 1);
	assert_int_equal(f->d.reloads, 1);
	/* while hared stops, nothing changes */
	next.max_retries = 99;
	f->d.stopping = true;
	assert_int_equal(hared_reload(&f->d, &next), 0);
	f->d.stopping = false;
	driver_opts_get(f->d.drv, &o);
	assert_int_equal(o.max_retries, 14);
	log_level_set("warn");
}

static const Hare__FromDaemon *forget(struct fx *f, struct conn *c, const char *node)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ForgetRequest fr = HARE__FORGET_REQUEST__INIT;

	fr.node = (char *)node;
	m.msg_case = HARE__TO_DAEMON__MSG_FORGET;
	m.forget = &fr;
	frame(c, &m);
	return last(f);
}

static const Hare__FromDaemon *usage(struct fx *f, struct conn *c, double since, double until,
				     const char *user)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__UsageRequest u = HARE__USAGE_REQUEST__INIT;
	uint32_t sent;

	u.has_since = !(since < 0);	/* NAN is sent */
	u.since = since;
	u.has_until = until >= 0;
	u.until = until;
	u.user = (char *)user;
	m.msg_case = HARE__TO_DAEMON__MSG_USAGE;
	m.usage = &u;
	sent = f->out.n;
	frame(c, &m);
	while (f->out.n == sent)	/* the sum runs on the thread pool */
		uv_run(&f->loop, UV_RUN_ONCE);
	return last(f);
}

/* harectl usage over a client session (the sums on the thread pool, with
 * what the session's store had not committed yet): the last 7 days by
 * default, by user and type; one user; a window in the wrong order is
 * refused and the session goes on, as is a sum while enough are running; a
 * reply too big for half a frame drops the last users and says so; show
 * gives the job's own GPU time. */
static void test_usage(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f);
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ShowRequest sr = HARE__SHOW_REQUEST__INIT;
	struct store_job rec;
	const Hare__FromDaemon *r;
	const Hare__UsageReply *u;
	double now = driver_now();
	uint64_t id = submit_rounds(f, c, 2, 1000);

	assert_int_equal(store_job_get(f->d.store, id, &rec), 0);
	snprintf(rec.user, sizeof(rec.user), "zed");
	assert_int_equal(store_job_insert(f->d.store, &rec), 0);
	assert_int_equal(store_usage_start(f->d.store, id, 1, "V100", 2, now - 3600), 0);
	assert_int_equal(store_usage_until(f->d.store, id, 1, now - 1800), 0);
	assert_int_equal(store_usage_start(f->d.store, id, 2, "T4", 1, now - 8 * 86400), 0);
	assert_int_equal(store_usage_until(f->d.store, id, 2, now - 7 * 86400 + 100), 0);
	assert_int_equal(store_usage_start(f->d.store, rec.id, 3, "T4", 4, now - 100), 0);
	assert_int_equal(store_usage_until(f->d.store, rec.id, 3, now - 50), 0);
	r = usage(f, c, -1, -1, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_USAGE_REPLY);
	u = r->usage_reply;
	assert_true(u->until >= now && u->until - u->since == 7 * 86400.0);
	assert_int_equal(u->n_users, 2);
	assert_string_equal(u->users[0]->user, c->user);
	assert_int_equal(u->users[0]->jobs, 1);
	assert_int_equal(u->users[0]->n_types, 2);
	assert_string_equal(u->users[0]->types[0]->gpu_type, "T4");
	assert_true(u->users[0]->types[0]->gpu_s <= 100 && u->users[0]->types[0]->gpu_s > 99);
	assert_string_equal(u->users[0]->types[1]->gpu_type, "V100");
	assert_true(u->users[0]->types[1]->gpu_s == 3600);
	assert_string_equal(u->users[1]->user, "zed");
	assert_true(u->users[1]->gpu_s == 200 && u->users[1]->n_types == 1);
	assert_false(u->has_cut && u->cut);
	r = usage(f, c, now - 2000, now - 1900, "zed");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_USAGE_REPLY);
	assert_int_equal(r->usage_reply->n_users, 0);
	r = usage(f, c, 0, now, "zed");
	assert_int_equal(r->usage_reply->n_users, 1);
	r = usage(f, c, now, now - 10, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, ERR_BAD_SPEC);
	assert_non_null(strstr(r->error->message, "the window must have since before until"));
	r = usage(f, c, NAN, -1, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	/* one sum per user, two in all */
	snprintf(f->d.usage_users[1], sizeof(f->d.usage_users[1]), "%s", c->user);
	r = usage(f, c, -1, -1, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EBUSY);
	assert_string_equal(r->error->message, "your last usage sum is still in progress; try again "
			    "in a moment");
	snprintf(f->d.usage_users[0], sizeof(f->d.usage_users[0]), "mallory");
	snprintf(f->d.usage_users[1], sizeof(f->d.usage_users[1]), "trudy");
	r = usage(f, c, -1, -1, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EBUSY);
	assert_string_equal(r->error->message, "2 usage sums are in progress; try again in a moment");
	f->d.usage_users[1][0] = '\0';	/* one of theirs ends: room for c's */
	r = usage(f, c, 0, now, "zed");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_USAGE_REPLY);
	assert_string_equal(f->d.usage_users[0], "mallory");
	assert_string_equal(f->d.usage_users[1], "");
	f->d.usage_users[0][0] = '\0';
	assert_int_equal(c->state, CONN_CLIENT);
	f->d.cfg.max_frame = 160;	/* half: room for one user */
	r = usage(f, c, 0, now, NULL);
	f->d.cfg.max_frame = WIRE_FRAME_MAX_DEFAULT;
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_USAGE_REPLY);
	assert_int_equal(r->usage_reply->n_users, 1);
	assert_true(r->usage_reply->has_cut && r->usage_reply->cut);
	sr.job_id = id;
	m.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	m.show = &sr;
	frame(c, &m);
	r = last(f);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_SHOW_REPLY);
	assert_int_equal(r->show_reply->job->n_gpu_time, 2);
	assert_string_equal(r->show_reply->job->gpu_time[1]->gpu_type, "V100");
	assert_true(r->show_reply->job->gpu_time[1]->gpu_s == 3600);
	assert_true(fabs(r->show_reply->job->gpu_time[0]->gpu_s - 86500) < 1e-3);	/* all of it */
	conn_fake_free(c);
}

/* Root forgets a node once its agent is gone: refused while it is
 * attached, and to others; afterwards the node list no longer has it, and
 * a bad request leaves the session going. */
static void test_forget(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1"), *b = agent(f, "n2");
	const Hare__FromDaemon *r;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__NodesRequest nr = HARE__NODES_REQUEST__INIT;

	agent_register(a, 2);
	agent_register(b, 2);
	r = forget(f, c, "n1");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EBUSY);
	assert_string_equal(r->error->message, "node n1 is not forgotten: its agent is connected; "
			    "stop hare-agent there first");
	conn_fake_free(a);	/* its agent goes away */
	c->admin = false;
	r = forget(f, c, "n1");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EACCES);
	assert_string_equal(r->error->message, "only root on the local socket may forget a node");
	c->admin = true;
	r = forget(f, c, "n\tx");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_string_equal(r->error->message, "node contains control characters");
	r = forget(f, c, "n1");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_FORGET_REPLY);
	assert_string_equal(r->forget_reply->node, "n1");
	assert_true(r->forget_reply->has_was_drained && !r->forget_reply->was_drained);
	assert_true(r->forget_reply->has_recent_failures && r->forget_reply->recent_failures == 0);
	m.msg_case = HARE__TO_DAEMON__MSG_NODES;
	m.nodes = &nr;
	frame(c, &m);
	r = last(f);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_NODES_REPLY);
	assert_int_equal(r->nodes_reply->n_nodes, 1);
	assert_string_equal(r->nodes_reply->nodes[0]->name, "n2");
	r = forget(f, c, "n1");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -ENOENT);
	assert_string_equal(r->error->message, "unknown node 'n1' (known: n2)");
	assert_int_equal(c->state, CONN_CLIENT);
	conn_fake_free(b);
	conn_fake_free(c);
}

static uint32_t out_count(const struct sent *o, int msg_case)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < o->n; i++)
		n += (int)o->msg[i]->msg_case == msg_case;
	return n;
}

static uint32_t sent_count(const struct fx *f, int msg_case)
{
	return out_count(&f->out, msg_case);
}

/* Root drains a node: the reply counts its jobs, the node list shows it,
 * the next plan stops the job there; others are refused; a bad request
 * gets an Error and the session goes on. */
static void test_drain(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");
	const Hare__FromDaemon *r;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__NodesRequest nr = HARE__NODES_REQUEST__INIT;
	char long_reason[200];

	agent_register(a, 2);
	submit(f, c, 2);
	plan_now(f);
	assert_int_equal(queue(f, c)->jobs[0]->state, HARE__JOB_STATE__RUNNING);
	r = drain(f, c, "n1", true, "new PSU");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_DRAIN_REPLY);
	assert_string_equal(r->drain_reply->node, "n1");
	assert_true(r->drain_reply->drained);
	assert_int_equal(r->drain_reply->jobs_moved, 1);
	assert_true(r->drain_reply->has_was_drained && !r->drain_reply->was_drained);
	m.msg_case = HARE__TO_DAEMON__MSG_NODES;
	m.nodes = &nr;
	frame(c, &m);
	r = last(f);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_NODES_REPLY);
	assert_true(r->nodes_reply->nodes[0]->drained);
	assert_string_equal(r->nodes_reply->nodes[0]->drain_reason, "new PSU");
	sent_clear(&f->out);
	plan_now(f);
	assert_int_equal(sent_count(f, HARE__FROM_DAEMON__MSG_TASK_STOP), 1);	/* one per agent and lease */
	assert_int_equal(sent_count(f, HARE__FROM_DAEMON__MSG_TASK_START), 0);
	assert_int_equal(queue(f, c)->jobs[0]->state, HARE__JOB_STATE__QUEUED);
	/* its workers are stopping: the node is draining, not yet empty */
	frame(c, &m);
	r = last(f);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_NODES_REPLY);
	assert_false(r->nodes_reply->nodes[0]->gpus[0]->has_job_id && r->nodes_reply->nodes[0]->gpus[0]->job_id);
	assert_true(r->nodes_reply->nodes[0]->gpus[0]->stopping);
	assert_true(r->nodes_reply->nodes[0]->gpus[1]->stopping);

	r = drain(f, c, "n7", true, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_string_equal(r->error->message, "unknown node 'n7' (known: n1)");
	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	r = drain(f, c, "n1", true, long_reason);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_non_null(strstr(r->error->message, "reason is longer than 127 bytes"));
	c->admin = false;
	r = drain(f, c, "n1", false, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EACCES);
	assert_string_equal(r->error->message, "only root on the local socket may undrain a node");
	assert_int_equal(c->state, CONN_CLIENT);	/* the session goes on */
	c->admin = true;
	r = drain(f, c, "n1", true, "again");	/* drained already: says so */
	assert_true(r->drain_reply->drained && r->drain_reply->was_drained);
	r = drain(f, c, "n1", false, NULL);
	assert_false(r->drain_reply->drained);
	assert_true(r->drain_reply->was_drained);
	r = drain(f, c, "n1", false, NULL);	/* not drained: says so */
	assert_false(r->drain_reply->drained || r->drain_reply->was_drained);
	assert_true(r->drain_reply->has_was_drained);
	conn_fake_free(a);
	conn_fake_free(c);
}

/* One user holds at most 64 client sessions at once (a 65th is refused
 * with -EUSERS, and one comes free when another closes); root is not
 * limited. */
static void test_user_session_cap(void **state)
{
	struct fx *f = *state;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;
	struct conn *c[66], *root;

	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_CLIENT;
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	for (int i = 0; i < 66; i++) {
		assert_int_equal(conn_fake_new(&f->d, CONN_CLIENT_UNIX, sink, &f->out, &c[i]), 0);
		snprintf(c[i]->user, sizeof(c[i]->user), "alice");
		c[i]->admin = false;
		if (i == 65)
			conn_fake_free(c[0]);	/* one of hers closes */
		sent_clear(&f->out);
		frame(c[i], &m);
		if (i == 64) {
			assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
			assert_int_equal(last(f)->error->code, -EUSERS);
			assert_non_null(strstr(last(f)->error->message, "user alice already has"));
		} else {
			assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
		}
	}
	root = client(f);	/* root: not limited */
	conn_fake_free(root);
	for (int i = 1; i < 66; i++)
		conn_fake_free(c[i]);
}

/* Bad input closes the session it came on, after an Error, and nothing
 * else: messages out of order, undecodable bytes, an empty envelope. */
static void test_bad_input(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1"), *c2;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__RoundReport r = HARE__ROUND_REPORT__INIT;

	m.msg_case = HARE__TO_DAEMON__MSG_ROUND_REPORT;
	m.round_report = &r;
	frame(a, &m);		/* before Register */
	assert_int_equal(a->state, CONN_CLOSING);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_non_null(strstr(last(f)->error->message, "unexpected RoundReport before register"));
	frame(c, &m);		/* from a client */
	assert_int_equal(c->state, CONN_CLOSING);
	assert_non_null(strstr(last(f)->error->message, "in a client session"));
	c2 = client(f);
	dispatch_frame(c2, (const uint8_t *)"\xff\xff\xff", 3);
	assert_int_equal(c2->state, CONN_CLOSING);
	assert_int_equal(last(f)->error->code, ERR_PROTO);
	conn_fake_free(c2);
	c2 = client(f);
	dispatch_frame(c2, (const uint8_t *)"", 0);
	assert_int_equal(c2->state, CONN_CLOSING);
	assert_int_equal(last(f)->error->code, ERR_PROTO);
	conn_fake_free(c2);
	conn_fake_free(a);
	conn_fake_free(c);
	c = client(f);		/* the daemon goes on serving */
	assert_int_equal(queue(f, c)->n_jobs, 0);
	conn_fake_free(c);
}

/* Local user names that are other sessions' names are not taken as such. */
static void test_reserved_user_names(void **state)
{
	(void)state;
	assert_true(conn_name_reserved("remote"));
	assert_true(conn_name_reserved("uid4242"));
	assert_true(conn_name_reserved("uid0"));
	assert_false(conn_name_reserved("uid"));
	assert_false(conn_name_reserved("uid42x"));
	assert_false(conn_name_reserved("remote2"));
	assert_false(conn_name_reserved("alice"));
	assert_false(conn_name_reserved("root"));
}

/* A peer of kind from source that has not said hello yet, as conn_accept
 * leaves it. */
static struct conn *waiting(struct fx *f, enum conn_kind kind, const char *source)
{
	struct conn *c;

	assert_int_equal(conn_fake_new(&f->d, kind, sink, &f->out, &c), 0);
	c->admin = false;
	snprintf(c->source, sizeof(c->source), "%s", source);
	c->pending = true;
	f->d.npending[kind]++;
	return c;
}

/* Whether a new peer of kind from source would be let in to say hello;
 * why not in *why. */
static bool let_in(struct fx *f, enum conn_kind kind, const char *source, bool admin,
		   const char **why)
{
	struct conn *c;

	assert_int_equal(conn_fake_new(&f->d, kind, sink, &f->out, &c), 0);
	c->admin = admin;
	snprintf(c->source, sizeof(c->source), "%s", source);
	*why = conn_pending_refusal(&f->d, c);
	conn_fake_free(c);
	return *why == NULL;
}

/* Peers waiting for their hello: 8 of one uid on the unix socket, 16 from
 * one address on a TCP port, 256 in all on each listener; one user or
 * address past its share is refused while the others still get in, and
 * root on the unix socket always; a peer that says hello, or goes, leaves
 * room. */
static void test_pending_caps(void **state)
{
	struct fx *f = *state;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;
	struct conn *mine[8], *agents[16], *all[256];
	const char *why;
	char src[32];

	for (int i = 0; i < 8; i++)
		mine[i] = waiting(f, CONN_CLIENT_UNIX, "uid 1000");
	assert_false(let_in(f, CONN_CLIENT_UNIX, "uid 1000", false, &why));
	assert_string_equal(why, "too many of your connections to hared (8 per user) are waiting "
			    "to say hello; close some and try again");
	assert_true(let_in(f, CONN_CLIENT_UNIX, "uid 1001", false, &why));
	assert_true(let_in(f, CONN_CLIENT_UNIX, "uid 0", true, &why));
	/* the client port counts addresses, and apart from the unix socket */
	assert_true(let_in(f, CONN_CLIENT_TCP, "uid 1000", false, &why));
	for (int i = 0; i < 16; i++)
		agents[i] = waiting(f, CONN_AGENT, "192.0.2.7");
	assert_false(let_in(f, CONN_AGENT, "192.0.2.7", false, &why));
	assert_string_equal(why, "too many connections to hared from your address (16) are "
			    "waiting to say hello; close some and try again");
	assert_true(let_in(f, CONN_AGENT, "192.0.2.8", false, &why));
	assert_true(let_in(f, CONN_CLIENT_TCP, "192.0.2.7", false, &why));
	/* one that says hello waits no more; one that goes leaves too */
	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_CLIENT;
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	snprintf(mine[0]->user, sizeof(mine[0]->user), "alice");
	frame(mine[0], &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	assert_false(mine[0]->pending);
	assert_true(let_in(f, CONN_CLIENT_UNIX, "uid 1000", false, &why));
	conn_fake_free(agents[0]);
	assert_true(let_in(f, CONN_AGENT, "192.0.2.7", false, &why));
	/* the listener's own cap: 256 waiting of many users shut out a new
	 * user, not root */
	for (int i = 0; i < 256 - 7; i++) {
		snprintf(src, sizeof(src), "uid %d", 2000 + i / 8);
		all[i] = waiting(f, CONN_CLIENT_UNIX, src);
	}
	assert_int_equal(f->d.npending[CONN_CLIENT_UNIX], 256);
	assert_false(let_in(f, CONN_CLIENT_UNIX, "uid 3000", false, &why));
	assert_string_equal(why, "too many connections to hared are waiting to say hello; try "
			    "again later");
	assert_true(let_in(f, CONN_CLIENT_UNIX, "uid 0", true, &why));
	assert_true(let_in(f, CONN_AGENT, "192.0.2.9", false, &why));
	conn_fake_free(all[0]);
	assert_true(let_in(f, CONN_CLIENT_UNIX, "uid 3000", false, &why));
	for (int i = 1; i < 256 - 7; i++)
		conn_fake_free(all[i]);
	for (int i = 0; i < 8; i++)
		conn_fake_free(mine[i]);
	for (int i = 1; i < 16; i++)
		conn_fake_free(agents[i]);
	assert_int_equal(f->d.npending[CONN_CLIENT_UNIX], 0);
	assert_int_equal(f->d.npending[CONN_AGENT], 0);
}

/* A peer has 10 s to say hello, an agent to authenticate too; past that it
 * is told why and closed. */
static void test_pending_expires(void **state)
{
	struct fx *f = *state;
	struct conn *c = waiting(f, CONN_CLIENT_UNIX, "uid 1000");
	struct conn *a = waiting(f, CONN_AGENT, "192.0.2.7");

	a->state = CONN_CHALLENGED;
	c->opened_ms = a->opened_ms = c->last_seen_ms = a->last_seen_ms = 1000;
	conn_expire_at(&f->d, 1000 + 9000);
	assert_int_equal(c->state, CONN_NEW);
	assert_int_equal(a->state, CONN_CHALLENGED);
	log_level_set("error");
	conn_expire_at(&f->d, 1000 + 10001);
	log_level_set("warn");
	assert_int_equal(c->state, CONN_CLOSING);
	assert_int_equal(a->state, CONN_CLOSING);
	assert_int_equal(f->out.n, 2);
	assert_int_equal(f->out.msg[0]->error->code, -ETIMEDOUT);
	assert_int_equal(f->out.msg[1]->error->code, -ETIMEDOUT);
	assert_true((strcmp(f->out.msg[0]->error->message, "no hello within 10 s") == 0 &&
		     strcmp(f->out.msg[1]->error->message, "no authentication within 10 s") == 0) ||
		    (strcmp(f->out.msg[1]->error->message, "no hello within 10 s") == 0 &&
		     strcmp(f->out.msg[0]->error->message, "no authentication within 10 s") == 0));
	conn_fake_free(c);
	conn_fake_free(a);
}

/* m as an agent that tags its frames sends it: the payload, then
 * HMAC(session, seq || payload). */
static void frame_tagged(struct conn *c, const Hare__ToDaemon *m, const uint8_t *session,
			 uint64_t seq)
{
	struct auth_hmac_key *k;
	uint8_t *buf, *b;
	size_t len;

	assert_int_equal(auth_hmac_key_new(session, &k), 0);
	assert_int_equal(wire_encode_to_daemon(m, 0, &buf, &len), 0);
	b = realloc(buf, len + AUTH_HMAC_LEN);
	assert_non_null(b);
	assert_int_equal(auth_hmac_frame(k, seq, b + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN,
					 b + len), 0);
	dispatch_frame(c, b + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN + AUTH_HMAC_LEN);
	free(b);
	auth_hmac_key_free(k);
}

/* The Hello of node's agent with its nonce (an), tags or not; what hared
 * sent back (a Challenge, or an Error) is last(f). */
static struct conn *agent_hello_of(struct fx *f, const char *node, const uint8_t *an, bool tags)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;
	struct conn *c;

	assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, &f->out, &c), 0);
	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_AGENT;
	h.node = (char *)node;
	h.has_agent_nonce = true;
	h.agent_nonce.data = (uint8_t *)an;
	h.agent_nonce.len = AUTH_HMAC_NONCE;
	h.has_tags = tags;
	h.tags = tags;
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	log_level_set("error");		/* an untagged agent is warned of */
	frame(c, &m);
	log_level_set("warn");
	return c;
}

/* ... answered by a Challenge whose proof is right for it with key;
 * hared's nonce in nonce. */
static struct conn *agent_hello_key(struct fx *f, const char *node, const char *key,
				    const uint8_t *an, bool tags, uint8_t *nonce)
{
	uint8_t want[AUTH_HMAC_LEN];
	struct conn *c = agent_hello_of(f, node, an, tags);

	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_CHALLENGE);
	assert_int_equal(last(f)->challenge->nonce.len, AUTH_HMAC_NONCE);
	memcpy(nonce, last(f)->challenge->nonce.data, AUTH_HMAC_NONCE);
	assert_int_equal(auth_hmac_proof((const uint8_t *)key, strlen(key), an, nonce, node, tags,
					 want), 0);
	assert_true(last(f)->challenge->has_proof);
	assert_memory_equal(last(f)->challenge->proof.data, want, AUTH_HMAC_LEN);
	assert_int_equal(c->check, tags);
	return c;
}

/* ... node n9, the cluster key (f->d.key) */
static struct conn *agent_hello(struct fx *f, const uint8_t *an, bool tags, uint8_t *nonce)
{
	char key[AUTH_SECRET_MAX + 1];

	memcpy(key, f->d.key, f->d.keylen);
	key[f->d.keylen] = '\0';
	return agent_hello_key(f, "n9", key, an, tags, nonce);
}

/* node's Auth with key's answer to nonce (mac holds it). */
static void agent_auth_key(const char *node, const char *key, const uint8_t *nonce,
			   Hare__ToDaemon *m, Hare__Auth *a, uint8_t *mac)
{
	assert_int_equal(auth_mac_compute((const uint8_t *)key, strlen(key), nonce,
					  AUTH_HMAC_NONCE, node, mac), 0);
	a->mac.data = mac;
	a->mac.len = AUTH_HMAC_LEN;
	m->msg_case = HARE__TO_DAEMON__MSG_AUTH;
	m->auth = a;
}

static void agent_auth_msg(struct fx *f, const uint8_t *nonce, Hare__ToDaemon *m,
			   Hare__Auth *a, uint8_t *mac)
{
	char key[AUTH_SECRET_MAX + 1];

	memcpy(key, f->d.key, f->d.keylen);
	key[f->d.keylen] = '\0';
	agent_auth_key("n9", key, nonce, m, a, mac);
}

enum auth_tag_how { AUTH_UNTAGGED, AUTH_ALTERED, AUTH_HAREDS };

/* n9's Auth with the cluster key's answer sent untagged, with a tag one
 * bit off, or tagged with hared's session key: refused as a wrong key. */
static void auth_tag_refused(struct fx *f, const uint8_t *an, enum auth_tag_how how)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Auth a = HARE__AUTH__INIT;
	uint8_t nonce[AUTH_HMAC_NONCE], mac[AUTH_HMAC_LEN], as[AUTH_HMAC_LEN];
	struct conn *c = agent_hello(f, an, true, nonce);

	if (how == AUTH_HAREDS)
		assert_int_equal(auth_hmac_session(f->d.key, f->d.keylen, an, nonce, "n9", as), 0);
	else
		assert_int_equal(auth_hmac_agent_session(f->d.key, f->d.keylen, an, nonce, "n9", as),
				 0);
	as[3] ^= how == AUTH_ALTERED;
	agent_auth_msg(f, nonce, &m, &a, mac);
	log_level_set("error");
	if (how == AUTH_UNTAGGED)
		frame(c, &m);
	else
		frame_tagged(c, &m, as, 0);
	log_level_set("warn");
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "authentication failed for node n9 (a wrong "
			    "key? hared's log says which it holds)");
	conn_fake_free(c);
}

/* An agent that says it tags its frames (Hello.tags) gets the proof for
 * one that does, and hared reads none of its frames after the Challenge
 * without its tag: a right one is read, a frame replayed (an earlier
 * sequence number), an untagged or altered one closes the session. An
 * older agent (no tags) is served untagged as before; tags without a
 * nonce are refused. */
static void test_agent_tags(void **state)
{
	struct fx *f = *state;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT, hb = HARE__TO_DAEMON__INIT;
	Hare__Auth a = HARE__AUTH__INIT;
	Hare__Register r = HARE__REGISTER__INIT;
	Hare__GpuInfo g = HARE__GPU_INFO__INIT, *gp = &g;
	uint8_t an[AUTH_HMAC_NONCE] = { 4, 5, 6 }, nonce[AUTH_HMAC_NONCE], mac[AUTH_HMAC_LEN];
	uint8_t as[AUTH_HMAC_LEN];
	struct conn *c;

	memcpy(f->d.key, "0123456789abcdef-cluster", 24);
	f->d.keylen = 24;
	g.type = "V100";
	r.n_gpus = 1;
	r.gpus = &gp;
	hb.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	hb.register_ = &r;
	/* tagged: Auth (seq 0), a Register (1); the Register again as seq 1 */
	c = agent_hello(f, an, true, nonce);
	assert_int_equal(auth_hmac_agent_session(f->d.key, f->d.keylen, an, nonce, "n9", as), 0);
	agent_auth_msg(f, nonce, &m, &a, mac);
	frame_tagged(c, &m, as, 0);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	assert_int_equal(c->state, CONN_AUTHED);
	frame_tagged(c, &hb, as, 1);
	assert_int_equal(c->state, CONN_READY);
	log_level_set("error");
	frame_tagged(c, &hb, as, 1);
	log_level_set("warn");
	assert_int_equal(c->state, CONN_CLOSING);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_string_equal(last(f)->error->message, "a frame without this session's tag");
	conn_fake_free(c);
	/* an Auth without its tag is not read, nor one altered on the way (a
	 * bit of its tag), nor one tagged with hared's own session key (a
	 * frame of hared's sent back): its tag is made with the agent's key,
	 * so each is a key refusal */
	auth_tag_refused(f, an, AUTH_UNTAGGED);
	auth_tag_refused(f, an, AUTH_ALTERED);
	auth_tag_refused(f, an, AUTH_HAREDS);
	assert_int_equal(f->d.agent_refused_tag, 1);	/* the replayed Register */
	assert_int_equal(f->d.agent_refused_key, 3);	/* Auths untagged, altered, hared's */
	/* a tagging agent that leaves at hared's proof holds another key */
	c = agent_hello(f, an, true, nonce);
	dispatch_agent_left_at_proof(c);
	assert_int_equal(f->d.agent_refused_key, 4);
	conn_fake_free(c);
	/* an older agent: untagged frames, read */
	c = agent_hello(f, an, false, nonce);
	agent_auth_msg(f, nonce, &m, &a, mac);
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	frame(c, &hb);
	assert_int_equal(c->state, CONN_READY);
	conn_fake_free(c);
	/* tags without a nonce */
	{
		Hare__Hello hl = HARE__HELLO__INIT;

		assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, &f->out, &c), 0);
		hl.version = HARE__VERSION__PROTOCOL_VERSION;
		hl.role = HARE__ROLE__ROLE_AGENT;
		hl.node = "n9";
		hl.has_tags = hl.tags = true;
		m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
		m.hello = &hl;
		log_level_set("error");
		frame(c, &m);
		log_level_set("warn");
		assert_int_equal(c->state, CONN_CLOSING);
		assert_string_equal(last(f)->error->message, "agent hello: tags needs an agent_nonce");
		conn_fake_free(c);
	}
}

/* With agent_keys_dir, a node with a file NODE.key there is challenged
 * with that key, its own: the cluster key does not answer for it; a node
 * without one uses the cluster key, or is refused when there is none; an
 * unusable key file (too short, a FIFO) refuses the node without
 * blocking; a node name that is no file name is refused at its Hello. */
/* The cluster key, and f->dir/keys (dir) holding n9.key, mode 0600, as
 * agent_keys_dir. */
static void keys_dir_n9(struct fx *f, const char *cluster, const char *n9key, char *dir,
			size_t dirlen)
{
	char path[240];
	FILE *fp;

	memcpy(f->d.key, cluster, strlen(cluster));
	f->d.keylen = strlen(cluster);
	snprintf(dir, dirlen, "%s/keys", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/n9.key", dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "%s\n", n9key);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(f->d.cfg.agent_keys_dir, sizeof(f->d.cfg.agent_keys_dir), "%s", dir);
}

/* Run a TLS handshake by hand between a client end for identity (keyed
 * with key) and a server end asking dispatch_tls_psk of c; the server end
 * becomes c's session when it is done. Whether it is. */
static bool tls_pair(struct conn *c, const char *identity, const uint8_t *key, size_t keylen)
{
	uint8_t psk[TLS_PSK_LEN], buf[4096];
	struct tls_link *cl, *sv;
	size_t n;

	assert_int_equal(tls_psk_derive(key, keylen, identity, psk), 0);
	assert_int_equal(tls_link_client(identity, psk, &cl), 0);
	assert_int_equal(tls_link_server(dispatch_tls_psk, c, &sv), 0);
	for (int i = 0; i < 4 && !(tls_link_ready(cl) && tls_link_ready(sv)); i++) {
		(void)tls_link_read(cl, NULL, 0);
		while ((n = tls_link_take(cl, buf, sizeof(buf))) > 0)
			assert_int_equal(tls_link_feed(sv, buf, n), 0);
		(void)tls_link_read(sv, NULL, 0);
		while ((n = tls_link_take(sv, buf, sizeof(buf))) > 0)
			assert_int_equal(tls_link_feed(cl, buf, n), 0);
	}
	tls_link_free(cl);
	if (!tls_link_ready(sv)) {
		tls_link_free(sv);
		return false;
	}
	c->tls = sv;
	return true;
}

/* TLS keys by identity (dispatch_tls_psk): an agent's node with its own key
 * or the cluster key, never a name that is no node's nor a node without a
 * key (counted); a remote client's token by its identity, whose user the
 * session is. The Hello inside must be the identity's. */
static void test_tls_psk(void **state)
{
	struct fx *f = *state;
	static const char cluster[] = "0123456789abcdef-cluster", n9key[] = "n9-own-key-0123456789";
	static const char alice[] = "alice-token-0123456789", shared[] = "shared-token-0123456789";
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;
	uint8_t psk[TLS_PSK_LEN], want[TLS_PSK_LEN];
	char dir[200], id[TLS_IDENTITY_MAX], longname[80];
	struct conn *c;

	keys_dir_n9(f, cluster, n9key, dir, sizeof(dir));

	/* agents: the node's own key, else the cluster's */
	assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, &f->out, &c), 0);
	assert_int_equal(dispatch_tls_psk(c, "n9", psk), 0);
	assert_int_equal(tls_psk_derive((const uint8_t *)n9key, strlen(n9key), "n9", want), 0);
	assert_memory_equal(psk, want, sizeof(psk));
	assert_true(c->own_key);
	assert_int_equal(dispatch_tls_psk(c, "n1", psk), 0);
	assert_int_equal(tls_psk_derive((const uint8_t *)cluster, strlen(cluster), "n1", want), 0);
	assert_memory_equal(psk, want, sizeof(psk));
	assert_false(c->own_key);
	assert_int_equal(dispatch_tls_psk(c, "../n9", psk), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(dispatch_tls_psk(c, longname, psk), -EINVAL);
	f->d.keylen = 0;	/* no cluster key: n1 has no key at all */
	assert_int_equal(dispatch_tls_psk(c, "n1", psk), -EACCES);
	assert_int_equal(f->d.agent_refused_nokey, 1);
	f->d.keylen = sizeof(cluster) - 1;
	conn_fake_free(c);

	/* an agent in TLS as n9 says Hello as n8: refused */
	assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, &f->out, &c), 0);
	assert_true(tls_pair(c, "n9", (const uint8_t *)n9key, strlen(n9key)));
	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_AGENT;
	h.node = "n8";
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	frame(c, &m);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "agent hello names node n8, but its TLS "
			    "session is node n9's");
	conn_fake_free(c);
	/* ... as n9: challenged */
	assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, &f->out, &c), 0);
	assert_true(tls_pair(c, "n9", (const uint8_t *)n9key, strlen(n9key)));
	h.node = "n9";
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_CHALLENGE);
	conn_fake_free(c);
	/* the cluster key does not make a session for n9 */
	assert_int_equal(conn_fake_new(&f->d, CONN_AGENT, sink, &f->out, &c), 0);
	assert_false(tls_pair(c, "n9", (const uint8_t *)cluster, strlen(cluster)));
	conn_fake_free(c);

	/* remote clients: the token the identity names */
	f->d.users = calloc(1, sizeof(*f->d.users));
	f->d.user_tls_ids = calloc(1, sizeof(*f->d.user_tls_ids));
	assert_non_null(f->d.users);
	assert_non_null(f->d.user_tls_ids);
	f->d.nusers = 1;
	snprintf(f->d.users[0].name, sizeof(f->d.users[0].name), "alice");
	memcpy(f->d.users[0].token, alice, sizeof(alice) - 1);
	f->d.users[0].len = sizeof(alice) - 1;
	assert_int_equal(tls_token_identity((const uint8_t *)alice, sizeof(alice) - 1,
					    f->d.user_tls_ids[0]), 0);
	memcpy(f->d.token, shared, sizeof(shared) - 1);
	f->d.tokenlen = sizeof(shared) - 1;
	assert_int_equal(tls_token_identity(f->d.token, f->d.tokenlen, f->d.token_tls_id), 0);
	assert_int_equal(conn_fake_new(&f->d, CONN_CLIENT_TCP, sink, &f->out, &c), 0);
	assert_int_equal(dispatch_tls_psk(c, f->d.user_tls_ids[0], psk), 0);
	assert_string_equal(c->tls_user, "alice");
	assert_int_equal(tls_psk_derive((const uint8_t *)alice, strlen(alice), f->d.user_tls_ids[0],
					want), 0);
	assert_memory_equal(psk, want, sizeof(psk));
	assert_int_equal(dispatch_tls_psk(c, f->d.token_tls_id, psk), 0);
	assert_string_equal(c->tls_user, "remote");
	assert_int_equal(dispatch_tls_psk(c, "t-0000000000000000", psk), -ENOENT);
	conn_fake_free(c);
	/* in alice's session, the shared token's Hello is refused; hers is welcome */
	assert_int_equal(tls_token_identity((const uint8_t *)alice, strlen(alice), id), 0);
	assert_int_equal(conn_fake_new(&f->d, CONN_CLIENT_TCP, sink, &f->out, &c), 0);
	assert_true(tls_pair(c, id, (const uint8_t *)alice, strlen(alice)));
	h.role = HARE__ROLE__ROLE_CLIENT;
	h.node = NULL;
	h.token = (char *)shared;
	frame(c, &m);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "the client token in Hello is not the one "
			    "this TLS session was made with");
	conn_fake_free(c);
	assert_int_equal(conn_fake_new(&f->d, CONN_CLIENT_TCP, sink, &f->out, &c), 0);
	assert_true(tls_pair(c, id, (const uint8_t *)alice, strlen(alice)));
	h.token = (char *)alice;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	assert_string_equal(c->user, "alice");
	conn_fake_free(c);
}

static void test_agent_own_keys(void **state)
{
	struct fx *f = *state;
	static const char cluster[] = "0123456789abcdef-cluster", n9key[] = "n9-own-key-0123456789";
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Auth a = HARE__AUTH__INIT;
	uint8_t an[AUTH_HMAC_NONCE] = { 7 }, nonce[AUTH_HMAC_NONCE], mac[AUTH_HMAC_LEN];
	uint8_t as[AUTH_HMAC_LEN];
	char dir[200], path[240];
	struct conn *c;
	FILE *fp;

	keys_dir_n9(f, cluster, n9key, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/n7.key", dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "short\n");
	fclose(fp);
	snprintf(path, sizeof(path), "%s/n6.key", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* n9: its own key, tags and all */
	c = agent_hello_key(f, "n9", n9key, an, true, nonce);
	assert_int_equal(auth_hmac_agent_session((const uint8_t *)n9key, strlen(n9key), an, nonce,
						 "n9", as), 0);
	agent_auth_key("n9", n9key, nonce, &m, &a, mac);
	frame_tagged(c, &m, as, 0);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	/* registered: harectl nodes says how it came in */
	{
		Hare__ToDaemon rm = HARE__TO_DAEMON__INIT, nm = HARE__TO_DAEMON__INIT;
		Hare__Register r = HARE__REGISTER__INIT;
		Hare__NodesRequest nr = HARE__NODES_REQUEST__INIT;
		struct conn *cl = client(f);
		const Hare__NodeInfo *ni = NULL;

		rm.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
		rm.register_ = &r;
		frame_tagged(c, &rm, as, 1);
		assert_int_equal(c->state, CONN_READY);
		nm.msg_case = HARE__TO_DAEMON__MSG_NODES;
		nm.nodes = &nr;
		frame(cl, &nm);
		assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_NODES_REPLY);
		for (size_t i = 0; i < last(f)->nodes_reply->n_nodes; i++)
			if (strcmp(last(f)->nodes_reply->nodes[i]->name, "n9") == 0)
				ni = last(f)->nodes_reply->nodes[i];
		assert_non_null(ni);
		assert_true(ni->up && ni->has_own_key && ni->own_key && ni->has_tagged && ni->tagged);
		conn_fake_free(cl);
	}
	conn_fake_free(c);
	/* ... the cluster key does not answer for n9 (an older agent, untagged) */
	c = agent_hello_key(f, "n9", n9key, an, false, nonce);
	agent_auth_key("n9", cluster, nonce, &m, &a, mac);
	frame(c, &m);
	assert_int_equal(c->state, CONN_CLOSING);
	/* in the same words as for a node of the cluster key */
	assert_string_equal(last(f)->error->message, "authentication failed for node n9 (a wrong "
			    "key? hared's log says which it holds)");
	/* ... and harectl nodes says so of n9, down now, with where from */
	{
		Hare__ToDaemon nm = HARE__TO_DAEMON__INIT;
		Hare__NodesRequest nr = HARE__NODES_REQUEST__INIT;
		struct conn *cl = client(f);
		const Hare__NodeInfo *ni = NULL;
		const Hare__FromDaemon *r;

		nm.msg_case = HARE__TO_DAEMON__MSG_NODES;
		nm.nodes = &nr;
		frame(cl, &nm);
		r = last(f);
		for (size_t i = 0; i < r->nodes_reply->n_nodes; i++)
			if (strcmp(r->nodes_reply->nodes[i]->name, "n9") == 0)
				ni = r->nodes_reply->nodes[i];
		assert_non_null(ni);
		assert_false(ni->up);
		assert_string_equal(ni->refused, "from fake: a wrong key");
		assert_true(ni->has_refused_at && ni->refused_at > 0);
		conn_fake_free(cl);
	}
	conn_fake_free(c);
	/* n8 has none: the cluster key */
	c = agent_hello_key(f, "n8", cluster, an, false, nonce);
	agent_auth_key("n8", cluster, nonce, &m, &a, mac);
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_WELCOME);
	conn_fake_free(c);
	/* unusable key files, a name that is no file's, and no cluster key */
	log_level_set("error");
	c = agent_hello_of(f, "n7", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "hared has no usable key for node n7 (its "
			    "log says why)");
	conn_fake_free(c);
	c = agent_hello_of(f, "n6", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "hared has no usable key for node n6 (its "
			    "log says why)");
	conn_fake_free(c);
	c = agent_hello_of(f, "../n9", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "node name '../n9' must be letters, digits, "
			    "'.', '_' or '-'");
	conn_fake_free(c);
	f->d.keylen = 0;
	memset(f->d.key, 0, sizeof(f->d.key));
	c = agent_hello_of(f, "n8", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "hared has no usable key for node n8 (its "
			    "log says why)");
	conn_fake_free(c);
	log_level_set("warn");
	c = agent_hello_key(f, "n9", n9key, an, true, nonce);	/* n9 still comes in */
	conn_fake_free(c);
	/* the folder gone (renamed, mistyped): no node falls back to the
	 * cluster key, n9 least of all */
	memcpy(f->d.key, cluster, sizeof(cluster) - 1);
	f->d.keylen = sizeof(cluster) - 1;
	snprintf(path, sizeof(path), "%s.old", dir);
	assert_int_equal(rename(dir, path), 0);
	log_level_set("error");
	c = agent_hello_of(f, "n9", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	conn_fake_free(c);
	c = agent_hello_of(f, "n8", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	conn_fake_free(c);
	log_level_set("warn");
	assert_int_equal(rename(path, dir), 0);
	/* a link to the cluster key is not n5's own key, nor a way to it */
	snprintf(path, sizeof(path), "%s/n5.key", dir);
	{
		char target[240];

		snprintf(target, sizeof(target), "%s/cluster.key", f->dir);
		assert_non_null(fp = fopen(target, "w"));
		fprintf(fp, "%s\n", cluster);
		fclose(fp);
		assert_int_equal(symlink(target, path), 0);
	}
	log_level_set("error");
	c = agent_hello_of(f, "n5", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_string_equal(last(f)->error->message, "hared has no usable key for node n5 (its "
			    "log says why)");
	conn_fake_free(c);
	/* ... nor a hard link to it */
	{
		char target[240];

		snprintf(target, sizeof(target), "%s/cluster.key", f->dir);
		snprintf(path, sizeof(path), "%s/n4.key", dir);
		assert_int_equal(link(target, path), 0);
	}
	c = agent_hello_of(f, "n4", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	conn_fake_free(c);
	/* no key at all (what a reload could once leave): nobody */
	f->d.cfg.agent_keys_dir[0] = '\0';
	f->d.keylen = 0;
	memset(f->d.key, 0, sizeof(f->d.key));
	c = agent_hello_of(f, "n8", an, true);
	assert_int_equal(c->state, CONN_CLOSING);
	conn_fake_free(c);
	log_level_set("warn");
	assert_int_equal(f->d.agent_refused_key, 1);	/* the cluster key for n9 */
	/* n7, n6, n8 without a cluster key; n9, n8 without the folder; n5's
	 * and n4's links; n8 without any key */
	assert_int_equal(f->d.agent_refused_nokey, 8);
	assert_int_equal(f->d.agent_refused_tag, 0);
}

/* A frame that stays incomplete (most of a large frame sent, then silence)
 * closes its session after 2 minutes, so its buffer is not held for as
 * long as the peer stays connected; whole frames in the meantime are fine. */
static void test_partial_frame_expires(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f);
	uint8_t part[14] = { 0, 0, 0, 100 };	/* header: 100 bytes; then 10 */
	uint64_t t0;

	conn_fake_feed(c, part, sizeof(part));
	assert_int_equal(c->state, CONN_CLIENT);
	assert_true(c->partial_ms > 0);
	t0 = c->partial_ms;
	conn_expire_at(&f->d, t0 + 60000);
	assert_int_equal(c->state, CONN_CLIENT);
	log_level_set("error");
	conn_expire_at(&f->d, t0 + 121000);
	log_level_set("warn");
	assert_int_equal(c->state, CONN_CLOSING);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, -ETIMEDOUT);
	assert_non_null(strstr(last(f)->error->message, "a frame begun 120 s ago is still not whole "
						       "(14 bytes)"));
	conn_fake_free(c);
	/* the frame's remainder makes it whole: nothing partial is left */
	c = client(f);
	conn_fake_feed(c, part, sizeof(part));
	assert_true(c->partial_ms > 0);
	conn_fake_feed(c, (const uint8_t[90]){ 0 }, 90);
	assert_int_equal(c->partial_ms, 0);
	conn_fake_free(c);
}

/* An agent whose session ends keeps its leases for reconnect_grace_s: the
 * job stays RUNNING on its GPUs (no TaskStop), and a new session that lists
 * the workers keeps them going. */
static void test_agent_session_ends(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Register r = HARE__REGISTER__INIT;
	Hare__GpuInfo g = HARE__GPU_INFO__INIT, *gp[1] = { &g };
	Hare__RunningTask t = HARE__RUNNING_TASK__INIT, *tp[1] = { &t };
	const Hare__QueueReply *q;
	uint64_t lease;
	uint32_t stops = 0;

	agent_register(a, 1);
	submit(f, c, 1);
	plan_now(f);
	lease = driver_job_at(f->d.drv, 0)->lease.id;
	assert_true(lease > 0);
	sent_clear(&f->out);
	conn_fake_free(a);
	q = queue(f, c);
	assert_int_equal(q->jobs[0]->state, HARE__JOB_STATE__RUNNING);
	assert_int_equal(q->jobs[0]->n_placement, 1);
	a = agent(f, "n1");
	g.index = 0;
	g.type = "V100";
	t.job_id = q->jobs[0]->job_id;
	t.lease_id = lease;
	t.has_gpu_index = t.has_tasks = t.has_world_size = t.has_round_first = true;
	t.tasks = t.world_size = 1;
	r.n_gpus = 1;
	r.gpus = gp;
	r.n_running = 1;
	r.running = tp;
	m.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	m.register_ = &r;
	frame(a, &m);
	assert_int_equal(a->state, CONN_READY);
	assert_int_equal(driver_job_at(f->d.drv, 0)->lease.id, lease);
	assert_int_equal(driver_job_at(f->d.drv, 0)->lease.hold_until, 0);
	for (uint32_t i = 0; i < f->out.n; i++)
		stops += f->out.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP;
	assert_int_equal(stops, 0);
	conn_fake_free(a);
	conn_fake_free(c);
}

static int committed_state(const struct fx *f, uint64_t id)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/hare.db", f->dir);
	return committed_state_at(path, id);
}

/* A lease's start is committed before its TaskStart leaves: hared killed
 * right after must not find the job QUEUED while its workers run. */
static void test_start_committed(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");

	agent_register(a, 4);
	snprintf(f->out.db, sizeof(f->out.db), "%s/hare.db", f->dir);
	f->out.start_state = -1;
	submit(f, c, 2);
	plan_now(f);
	assert_int_equal(sent_count(f, HARE__FROM_DAEMON__MSG_TASK_START), 2);
	assert_int_equal(f->out.start_state, 2);	/* RUNNING, on disk */
	f->out.db[0] = '\0';
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A job's end is committed in the loop iteration of the report that ended
 * it: hared killed right after must not find it RUNNING (and run its last
 * rounds again). */
static void test_end_committed(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__RoundReport r = HARE__ROUND_REPORT__INIT;
	const struct drv_job *dj;
	uint64_t id;

	agent_register(a, 1);
	id = submit_rounds(f, c, 1, 10);
	plan_now(f);
	dj = driver_job_find(f->d.drv, id);
	assert_non_null(dj);
	assert_int_equal(committed_state(f, id), 2);	/* RUNNING */
	r.job_id = id;
	r.lease_id = dj->lease.id;
	r.rank = 0;
	r.round_first = 0;
	r.round_count = 10;
	r.compute_s = 1;
	r.sync_s = 0;
	m.msg_case = HARE__TO_DAEMON__MSG_ROUND_REPORT;
	m.round_report = &r;
	frame(a, &m);
	assert_null(driver_job_find(f->d.drv, id));
	driver_ends_commit(f->d.drv);	/* what the loop does after the frame */
	assert_int_equal(committed_state(f, id), 3);	/* DONE, on disk */
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A client session and a registered 4-GPU agent, with one 2-task job
 * submitted and started; its id in *id. */
static void one_running_job(struct fx *f, struct conn **c, struct conn **a, uint64_t *id)
{
	*c = client(f);
	*a = agent(f, "n1");
	agent_register(*a, 4);
	submit(f, *c, 2);
	plan_now(f);
	*id = queue(f, *c)->jobs[0]->job_id;
}

/* Cancel ids on c; the reply. */
static const Hare__CancelReply *cancel(struct fx *f, struct conn *c, uint64_t *ids, size_t n)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__CancelRequest cr = HARE__CANCEL_REQUEST__INIT;

	cr.n_job_ids = n;
	cr.job_ids = ids;
	m.msg_case = HARE__TO_DAEMON__MSG_CANCEL;
	m.cancel = &cr;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_CANCEL_REPLY);
	assert_int_equal(last(f)->cancel_reply->n_results, n);
	return last(f)->cancel_reply;
}


static const Hare__QueueReply *queue_all(struct fx *f, struct conn *c)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;

	q.has_all = q.all = true;
	m.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	m.queue = &q;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_QUEUE_REPLY);
	return last(f)->queue_reply;
}

/* A queue that does not fit in half a frame is cut to what does, in the
 * list's order (the newest active jobs left out), and says how many it
 * left out (a queue of 100000 jobs got an Error instead); with finished
 * jobs (--all) those are left out first, the oldest first. The reply
 * decodes (the sink decodes every frame). */
static void test_queue_cut(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f);
	const Hare__QueueReply *q;
	uint64_t ids[12];
	size_t one;

	for (int i = 0; i < 12; i++)
		ids[i] = submit_rounds(f, c, 1, 1000);
	q = queue(f, c);
	assert_int_equal(q->n_jobs, 12);
	assert_true(q->has_cut_jobs);
	assert_int_equal(q->cut_jobs, 0);
	/* half a frame holds about 5 of them */
	one = clients_field_size(hare__job_info__get_packed_size(q->jobs[11]));
	f->d.cfg.max_frame = (uint32_t)(2 * (5 * one + 30));
	q = queue(f, c);
	assert_true(q->n_jobs >= 3 && q->n_jobs <= 6);
	assert_int_equal(q->cut_jobs, 12 - q->n_jobs);
	for (size_t i = 0; i < q->n_jobs; i++)
		assert_int_equal(q->jobs[i]->job_id, ids[i]);	/* the head is kept */
	assert_true(hare__queue_reply__get_packed_size(q) <= f->d.cfg.max_frame / 2);
	/* the 4 oldest end: with --all they are left out before any active one */
	f->d.cfg.max_frame = WIRE_FRAME_MAX_DEFAULT;
	cancel(f, c, ids, 4);
	clients_commit(&f->d);
	assert_int_equal(queue_all(f, c)->n_jobs, 12);
	f->d.cfg.max_frame = (uint32_t)(2 * (5 * one + 30));
	q = queue_all(f, c);
	assert_true(q->n_jobs >= 3 && q->n_jobs <= 6);
	assert_int_equal(q->cut_jobs, 12 - q->n_jobs);
	for (size_t i = 0; i < q->n_jobs; i++) {
		assert_int_equal(q->jobs[i]->job_id, ids[4 + i]);
		assert_int_equal(q->jobs[i]->state, HARE__JOB_STATE__QUEUED);
	}
	/* 9 of 12 ended: the 3 active ones stay, and the newest ended ones
	 * that fit before them */
	f->d.cfg.max_frame = WIRE_FRAME_MAX_DEFAULT;
	cancel(f, c, ids + 4, 5);
	clients_commit(&f->d);
	f->d.cfg.max_frame = (uint32_t)(2 * (5 * one + 30));
	q = queue_all(f, c);
	f->d.cfg.max_frame = WIRE_FRAME_MAX_DEFAULT;
	assert_true(q->n_jobs >= 3 && q->n_jobs <= 6);
	assert_int_equal(q->cut_jobs, 12 - q->n_jobs);
	for (size_t i = 0; i < q->n_jobs; i++)
		assert_int_equal(q->jobs[i]->job_id, ids[12 - q->n_jobs + i]);
	assert_int_equal(q->jobs[q->n_jobs - 3]->state, HARE__JOB_STATE__QUEUED);
	if (q->n_jobs > 3)
		assert_int_equal(q->jobs[q->n_jobs - 4]->state, HARE__JOB_STATE__CANCELLED);
	conn_fake_free(c);
}
/* QueueRequest.user: hared reads only that user's jobs, active and (with
 * all) finished, so a cut never hides theirs behind others'. */
static void test_queue_user(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f);
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;
	const Hare__QueueReply *r;
	uint64_t ids[6];

	for (int i = 0; i < 6; i++) {
		snprintf(c->user, sizeof(c->user), "%s", i % 2 ? "bob" : "alice");
		ids[i] = submit_rounds(f, c, 1, 1000);
	}
	snprintf(c->user, sizeof(c->user), "root");
	cancel(f, c, ids, 2);	/* alice's first and bob's first end */
	clients_commit(&f->d);
	q.user = "bob";
	m.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	m.queue = &q;
	frame(c, &m);
	r = last(f)->queue_reply;
	assert_int_equal(r->n_jobs, 2);		/* bob's active ones */
	assert_int_equal(r->jobs[0]->job_id, ids[3]);
	assert_int_equal(r->jobs[1]->job_id, ids[5]);
	q.has_all = q.all = true;
	frame(c, &m);
	r = last(f)->queue_reply;
	assert_int_equal(r->n_jobs, 3);		/* and his ended one */
	assert_int_equal(r->jobs[0]->job_id, ids[1]);
	assert_int_equal(r->jobs[0]->state, HARE__JOB_STATE__CANCELLED);
	for (size_t i = 0; i < r->n_jobs; i++)
		assert_string_equal(r->jobs[i]->user, "bob");
	assert_int_equal(r->cut_jobs, 0);
	q.user = "nobody-here";
	frame(c, &m);
	assert_int_equal(last(f)->queue_reply->n_jobs, 0);
	assert_int_equal(queue_all(f, c)->n_jobs, 6);	/* no user: everyone's */
	conn_fake_free(c);
}

/* A cancel is committed before its reply, as a submission is: hared
 * killed right after "cancelled" must not run the job again. */
static void test_cancel_durable(void **state)
{
	struct fx *f = *state;
	struct conn *c, *a;
	const Hare__CancelReply *r;
	uint64_t ids[2];

	one_running_job(f, &c, &a, &ids[0]);
	assert_int_equal(committed_state(f, ids[0]), 2);	/* RUNNING: the start commit */
	ids[1] = ids[0] + 100;
	r = cancel(f, c, ids, 2);
	assert_true(r->results[0]->ok);
	assert_false(r->results[1]->ok);
	assert_string_equal(r->results[1]->message, "job 101 does not exist");
	assert_int_equal(committed_state(f, ids[0]), 4);	/* CANCELLED, on disk */
	conn_fake_free(a);
	conn_fake_free(c);
}

static const Hare__JobInfo *show(struct fx *f, struct conn *c, uint64_t id)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ShowRequest r = HARE__SHOW_REQUEST__INIT;

	r.job_id = id;
	m.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	m.show = &r;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_SHOW_REPLY);
	return last(f)->show_reply->job;
}

/* A request as a frame on c; what hared answered. */
static const Hare__FromDaemon *ask(struct fx *f, struct conn *c, Hare__ToDaemon *m)
{
	frame(c, m);
	return last(f);
}

/* private_data = jobs,usage: a user other than root lists, shows and sums
 * only their own (asking for another's is refused, not answered empty);
 * root sees everyone's; without it users see each other's. */
static void test_private_data(void **state)
{
	struct fx *f = *state;
	struct conn *alice = client(f), *bob = client(f), *root = client(f);
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;
	Hare__ShowRequest sr = HARE__SHOW_REQUEST__INIT;
	const Hare__FromDaemon *r;
	uint64_t a, b;

	snprintf(alice->user, sizeof(alice->user), "alice");
	snprintf(bob->user, sizeof(bob->user), "bob");
	alice->admin = bob->admin = false;
	root->admin = true;
	a = submit_rounds(f, alice, 1, 1000);
	b = submit_rounds(f, bob, 1, 1000);
	snprintf(f->d.cfg.private_data, sizeof(f->d.cfg.private_data), "jobs, usage");
	m.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	m.queue = &q;
	q.has_all = q.all = true;
	r = ask(f, bob, &m);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_QUEUE_REPLY);
	assert_int_equal(r->queue_reply->n_jobs, 1);
	assert_int_equal(r->queue_reply->jobs[0]->job_id, b);
	assert_int_equal(ask(f, root, &m)->queue_reply->n_jobs, 2);
	q.user = "alice";
	r = ask(f, bob, &m);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EPERM);
	assert_string_equal(r->error->message, "only your own jobs are listed to you "
			    "(private_data = jobs in hared's configuration)");
	assert_int_equal(ask(f, alice, &m)->queue_reply->n_jobs, 1);
	assert_int_equal(ask(f, root, &m)->queue_reply->jobs[0]->job_id, a);
	m.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	m.show = &sr;
	sr.job_id = a;
	r = ask(f, bob, &m);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -ENOENT);
	assert_string_equal(r->error->message, "no job 1 of yours");
	/* a job no one has answers alike */
	sr.job_id = 999;
	assert_string_equal(ask(f, bob, &m)->error->message, "no job 999 of yours");
	/* nor do history, logs and cancel name alice, or say how it is */
	{
		Hare__ToDaemon hm = HARE__TO_DAEMON__INIT;
		Hare__HistoryRequest hr = HARE__HISTORY_REQUEST__INIT;
		Hare__LogsRequest lr = HARE__LOGS_REQUEST__INIT;
		Hare__CancelRequest cr = HARE__CANCEL_REQUEST__INIT;
		uint64_t ids[1] = { a };

		hr.job_id = lr.job_id = a;
		hm.msg_case = HARE__TO_DAEMON__MSG_HISTORY;
		hm.history = &hr;
		assert_string_equal(ask(f, bob, &hm)->error->message, "no job 1 of yours");
		hm.msg_case = HARE__TO_DAEMON__MSG_LOGS;
		hm.logs = &lr;
		r = ask(f, bob, &hm);
		assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
		assert_string_equal(r->error->message, "no job 1 of yours");
		cr.n_job_ids = 1;
		cr.job_ids = ids;
		hm.msg_case = HARE__TO_DAEMON__MSG_CANCEL;
		hm.cancel = &cr;
		frame(bob, &hm);
		clients_commit(&f->d);
		r = last(f);
		assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_CANCEL_REPLY);
		assert_false(r->cancel_reply->results[0]->ok);
		assert_string_equal(r->cancel_reply->results[0]->message, "no job 1 of yours");
	}
	assert_int_equal(show(f, alice, a)->job_id, a);
	assert_int_equal(show(f, root, a)->job_id, a);
	/* usage: bob's own only; alice's refused; root's everyone's */
	r = usage(f, bob, -1, -1, "alice");
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, -EPERM);
	r = usage(f, bob, 0, -1, NULL);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_USAGE_REPLY);
	for (size_t i = 0; i < r->usage_reply->n_users; i++)
		assert_string_equal(r->usage_reply->users[i]->user, "bob");
	/* only jobs private: usage is everyone's again, and the other way */
	snprintf(f->d.cfg.private_data, sizeof(f->d.cfg.private_data), "jobs");
	assert_int_equal(usage(f, bob, 0, -1, "alice")->msg_case,
			 HARE__FROM_DAEMON__MSG_USAGE_REPLY);
	snprintf(f->d.cfg.private_data, sizeof(f->d.cfg.private_data), "usage");
	assert_int_equal(show(f, bob, a)->job_id, a);
	m.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	q.user = NULL;
	assert_int_equal(ask(f, bob, &m)->queue_reply->n_jobs, 2);
	conn_fake_free(alice);
	conn_fake_free(bob);
	conn_fake_free(root);
}

/* A cancel that cannot be committed (another process holds the database
 * past the busy timeout) is not reported as cancelled: the reply says the
 * job stopped but the cancel was not saved;
 * show says CANCELLED meanwhile, and the next flush after the lock goes
 * writes it. */
static void test_cancel_not_saved(void **state)
{
	struct fx *f = *state;
	struct conn *c, *a;
	const Hare__CancelReply *r;
	char path[128];
	uint64_t id;
	sqlite3 *other;

	one_running_job(f, &c, &a, &id);
	assert_int_equal(store_flush(f->d.store), 0);
	snprintf(path, sizeof(path), "%s/hare.db", f->dir);
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	log_level_set("error");	/* the lost write is logged */
	r = cancel(f, c, &id, 1);
	log_level_set("warn");
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_false(r->results[0]->ok);
	assert_non_null(strstr(r->results[0]->message, "the cancel was not saved (the database is "
						       "locked by another process)"));
	assert_int_equal(committed_state(f, id), 2);	/* still RUNNING on disk */
	assert_int_equal(show(f, c, id)->state, HARE__JOB_STATE__CANCELLED);	/* kept */
	hared_flush(&f->d);	/* the lock is gone: written again */
	assert_int_equal(committed_state(f, id), 4);
	conn_fake_free(a);
	conn_fake_free(c);
}

/* show gives a job's command to its owner and root, not to other users. */
static void test_show_command(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f);
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;
	uint64_t id;

	j.model = "resnet50";
	j.tasks = 1;
	j.rounds = 10;
	j.command = "python3 train.py --lr 0.1";
	id = submit_spec(f, c, &j)->job_id;
	assert_string_equal(show(f, c, id)->command, "python3 train.py --lr 0.1");
	c->admin = false;
	snprintf(c->user, sizeof(c->user), "mallory");
	assert_null(show(f, c, id)->command);
	snprintf(c->user, sizeof(c->user), "root");	/* its owner, by name */
	assert_non_null(show(f, c, id)->command);
	conn_fake_free(c);
}

/* One UpdateRequest on c (hold: 1 hold, 0 release, -1 none; weight 0:
 * none); the reply. */
static const Hare__UpdateReply *update(struct fx *f, struct conn *c, uint64_t id, int hold,
				       double weight)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__UpdateRequest u = HARE__UPDATE_REQUEST__INIT;

	u.n_job_ids = 1;
	u.job_ids = &id;
	u.has_hold = hold >= 0;
	u.hold = hold == 1;
	u.has_weight = weight != 0;
	u.weight = weight;
	m.msg_case = HARE__TO_DAEMON__MSG_UPDATE;
	m.update = &u;
	frame(c, &m);
	if (last(f)->msg_case != HARE__FROM_DAEMON__MSG_UPDATE_REPLY)
		return NULL;
	assert_int_equal(last(f)->update_reply->n_results, 1);
	return last(f)->update_reply;
}

static int committed_int(struct fx *f, const char *sql)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/hare.db", f->dir);
	return db_int(path, sql);
}

/* max_user_jobs and max_user_weight hold users back, not root; a reload
 * changes them at once. Jobs of one loop iteration count before their
 * commit; a refused submission stores nothing. */
static void test_user_limits(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *r = client(f);
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Submit sub = HARE__SUBMIT__INIT;
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;
	struct hared_config next = f->d.cfg;
	const Hare__UpdateReply *u;
	uint64_t id;

	c->admin = false;
	snprintf(c->user, sizeof(c->user), "alice");
	next.max_user_jobs = 2;
	next.max_user_weight = 10;
	hared_reload(&f->d, &next);
	j.model = "resnet50";
	j.tasks = 1;
	j.rounds = 100;
	j.has_weight = true;
	j.weight = 10;
	id = submit_spec(f, c, &j)->job_id;
	j.weight = 10.5;
	sub.spec = &j;
	m.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	m.submit = &sub;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, ERR_BAD_SPEC);
	assert_string_equal(last(f)->error->message,
			    "weight 10.5 is above max_user_weight (10); only root may give a job more");
	j.weight = 1;
	frame(c, &m);		/* two in one loop iteration: the second is one too many */
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, -EDQUOT);
	assert_string_equal(last(f)->error->message, "user alice has 2 active jobs (queued or "
			    "running), the most max_user_jobs allows; submit more as these end");
	clients_commit(&f->d);
	assert_int_equal(committed_int(f, "SELECT count(*) FROM jobs"), 2);
	/* root is held to neither */
	j.weight = 1000;
	assert_true(submit_spec(f, r, &j)->job_id > 0);
	/* an update of a weight: the same limit */
	u = update(f, c, id, -1, 5);
	assert_true(u->results[0]->ok);
	assert_null(update(f, c, id, -1, 11));
	assert_int_equal(last(f)->error->code, ERR_BAD_SPEC);
	assert_true(update(f, r, id, -1, 11)->results[0]->ok);
	assert_true(show(f, c, id)->weight == 11);
	/* a cancel makes room; a reload lifts the limits */
	assert_true(cancel(f, c, &id, 1)->results[0]->ok);
	j.weight = 1;
	assert_true(submit_spec(f, c, &j)->job_id > 0);
	next.max_user_jobs = 0;
	next.max_user_weight = 0;
	hared_reload(&f->d, &next);
	j.weight = 1e6;
	assert_true(submit_spec(f, c, &j)->job_id > 0);
	conn_fake_free(r);
	conn_fake_free(c);
}

/* Submit a resnet50 job on c after jobs of each kind: lists[k] of n[k]
 * ids, k an enum store_after_kind; the reply (a SubmitReply or an Error),
 * the submission committed. */
static const Hare__FromDaemon *submit_after_kinds(struct fx *f, struct conn *c, uint64_t *lists[3],
						  const size_t n[3])
{
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;

	j.model = "resnet50";
	j.tasks = 1;
	j.rounds = 100000;
	j.n_after = n[STORE_AFTER_OK];
	j.after = lists[STORE_AFTER_OK];
	j.n_after_any = n[STORE_AFTER_ANY];
	j.after_any = lists[STORE_AFTER_ANY];
	j.n_after_notok = n[STORE_AFTER_NOTOK];
	j.after_notok = lists[STORE_AFTER_NOTOK];
	return submit_frame(f, c, &j);
}

/* ... after the jobs in after[0..n), each to be DONE. */
static const Hare__FromDaemon *submit_after(struct fx *f, struct conn *c, uint64_t *after, size_t n)
{
	uint64_t *lists[3] = { after, NULL, NULL };
	const size_t counts[3] = { n, 0, 0 };

	return submit_after_kinds(f, c, lists, counts);
}

/* A job after another waits (show and queue list what it waits for, the
 * metrics count it), is cancelled with it, on disk with the cancel's
 * commit; a submission after an unknown or cancelled job, or after one
 * job twice, is refused and nothing is stored. */
static void test_after(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");
	const Hare__FromDaemon *r;
	const Hare__JobInfo *in;
	struct metrics_sample ms;
	const Hare__CancelReply *cr;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Submit sub = HARE__SUBMIT__INIT;
	Hare__JobSpec spec = HARE__JOB_SPEC__INIT;
	uint64_t first, after[2], id, ids[2];
	char want[160];

	agent_register(a, 4);
	first = submit_rounds(f, c, 1, 100000);
	after[0] = first;
	r = submit_after(f, c, after, 1);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY);
	id = r->submit_reply->job_id;
	plan_now(f);
	in = show(f, c, id);
	assert_int_equal(in->state, HARE__JOB_STATE__QUEUED);
	assert_int_equal(in->n_after, 1);
	assert_int_equal(in->after[0], first);
	assert_int_equal(in->n_after_pending, 1);
	assert_int_equal(in->after_pending[0], first);
	assert_false(in->has_order);
	snprintf(want, sizeof(want), "it runs after job %llu, not DONE yet", (unsigned long long)first);
	assert_string_equal(in->waiting, want);
	assert_int_equal(queue(f, c)->jobs[1]->n_after_pending, 1);
	assert_int_equal(show(f, c, first)->state, HARE__JOB_STATE__RUNNING);
	metrics_gather(&f->d, &ms);
	assert_int_equal(ms.jobs_waiting, 1);
	assert_int_equal(ms.jobs_running, 1);
	after[1] = 999;
	r = submit_after(f, c, after, 2);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, ERR_BAD_SPEC);
	assert_string_equal(r->error->message, "after: no job 999");
	after[1] = first;
	r = submit_after(f, c, after, 2);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	snprintf(want, sizeof(want), "after lists job %llu twice", (unsigned long long)first);
	assert_string_equal(r->error->message, want);
	assert_int_equal(committed_int(f, "SELECT count(*) FROM jobs"), 2);
	/* the first is cancelled: the one after it too, both on disk */
	cr = cancel(f, c, &first, 1);
	assert_true(cr->results[0]->ok);
	snprintf(want, sizeof(want), "job %llu cancelled, and 1 job after it", (unsigned long long)first);
	assert_string_equal(cr->results[0]->message, want);
	assert_int_equal(committed_state(f, first), 4);
	assert_int_equal(committed_state(f, id), 4);
	in = show(f, c, id);
	assert_int_equal(in->state, HARE__JOB_STATE__CANCELLED);
	assert_int_equal(in->n_after, 1);
	assert_int_equal(in->after[0], first);
	assert_int_equal(in->n_after_pending, 0);
	r = submit_after(f, c, &id, 1);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	snprintf(want, sizeof(want), "after: job %llu is CANCELLED, so this job would never run",
		 (unsigned long long)id);
	assert_string_equal(r->error->message, want);
	assert_int_equal(committed_int(f, "SELECT count(*) FROM jobs"), 2);
	/* both asked for, the one after first: each answered as cancelled */
	ids[0] = submit_rounds(f, c, 1, 100000);
	ids[1] = submit_after(f, c, ids, 1)->submit_reply->job_id;
	cr = cancel(f, c, ids, 2);
	assert_true(cr->results[0]->ok && cr->results[1]->ok);
	assert_int_equal(cr->results[0]->job_id, ids[0]);
	snprintf(want, sizeof(want), "job %llu cancelled", (unsigned long long)ids[0]);
	assert_string_equal(cr->results[0]->message, want);
	/* the job waited for is cancelled between the submit's check and
	 * its commit: the reply says it went at once */
	ids[0] = submit_rounds(f, c, 1, 100000);
	sub.spec = &spec;
	spec.model = "resnet50";
	spec.tasks = 1;
	spec.rounds = 10;
	spec.n_after = 1;
	spec.after = ids;
	m.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	m.submit = &sub;
	frame(c, &m);
	assert_true(cancel(f, c, ids, 1)->results[0]->ok);
	clients_commit(&f->d);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY);
	id = last(f)->submit_reply->job_id;
	assert_non_null(strstr(last(f)->submit_reply->warning, "cancelled at once"));
	driver_ends_commit(f->d.drv);	/* hared's, at the end of the loop iteration */
	assert_int_equal(committed_state(f, id), 4);
	conn_fake_free(a);
	conn_fake_free(c);
}

/* Kinds: a job after_any one job and after_notok another waits until the
 * first ends however and the second fails; show and queue say which ids
 * are of which kind, in the order by kind; an id in two lists, or more
 * than 16 in all, is refused. */
static void test_after_kinds(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n1");
	const Hare__JobInfo *in;
	const Hare__FromDaemon *r;
	uint64_t first, second, id, many[17], *lists[3];
	size_t n[3];
	char want[160];

	agent_register(a, 4);
	first = submit_rounds(f, c, 1, 100000);
	second = submit_rounds(f, c, 1, 100000);
	lists[STORE_AFTER_OK] = NULL;
	lists[STORE_AFTER_ANY] = &first;
	lists[STORE_AFTER_NOTOK] = &second;
	n[0] = 0, n[1] = 1, n[2] = 1;
	r = submit_after_kinds(f, c, lists, n);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY);
	id = r->submit_reply->job_id;
	plan_now(f);
	in = show(f, c, id);
	assert_int_equal(in->n_after, 2);
	assert_true(in->after[0] == first && in->after[1] == second);
	assert_int_equal(in->n_after_any, 1);
	assert_int_equal(in->after_any[0], first);
	assert_int_equal(in->n_after_notok, 1);
	assert_int_equal(in->after_notok[0], second);
	assert_int_equal(in->n_after_pending, 2);
	snprintf(want, sizeof(want), "it waits for job %llu to end, job %llu to fail",
		 (unsigned long long)first, (unsigned long long)second);
	assert_string_equal(in->waiting, want);
	/* first is cancelled: still waiting for second to fail */
	assert_true(cancel(f, c, &first, 1)->results[0]->ok);
	assert_string_equal(show(f, c, first)->end_reason, "cancelled by root");	/* and why */
	in = show(f, c, id);
	assert_null(in->end_reason);
	assert_int_equal(in->state, HARE__JOB_STATE__QUEUED);
	assert_int_equal(in->n_after_pending, 1);
	snprintf(want, sizeof(want), "it waits for job %llu to fail", (unsigned long long)second);
	assert_string_equal(in->waiting, want);
	/* second is cancelled: it may run */
	assert_true(cancel(f, c, &second, 1)->results[0]->ok);
	in = show(f, c, id);
	assert_int_equal(in->state, HARE__JOB_STATE__QUEUED);
	assert_int_equal(in->n_after_pending, 0);
	assert_int_equal(queue(f, c)->n_jobs, 1);
	/* refusals: one id in two lists; 17 in all */
	lists[STORE_AFTER_OK] = &id;
	lists[STORE_AFTER_ANY] = &id;
	n[0] = 1, n[1] = 1, n[2] = 0;
	r = submit_after_kinds(f, c, lists, n);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	snprintf(want, sizeof(want), "after lists job %llu twice", (unsigned long long)id);
	assert_string_equal(r->error->message, want);
	for (uint64_t k = 0; k < 17; k++)
		many[k] = k + 1;
	lists[STORE_AFTER_OK] = many;
	lists[STORE_AFTER_ANY] = many + 8;
	lists[STORE_AFTER_NOTOK] = many + 16;
	n[0] = 8, n[1] = 8, n[2] = 1;
	r = submit_after_kinds(f, c, lists, n);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_string_equal(r->error->message, "after lists 17 jobs; at most 16");
	/* after_notok a CANCELLED job: it may run at once (after_notok a
	 * DONE job is refused: test_after_kinds of the driver) */
	lists[STORE_AFTER_NOTOK] = &first;
	n[0] = 0, n[1] = 0, n[2] = 1;
	r = submit_after_kinds(f, c, lists, n);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY);
	assert_int_equal(show(f, c, r->submit_reply->job_id)->n_after_pending, 0);
	assert_int_equal(committed_int(f, "SELECT count(*) FROM jobs WHERE after LIKE 'notok:%'"), 1);
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A hold is on disk (held, QUEUED) before its reply; show and queue say
 * the job is held; a bad weight is refused with an Error; another user's
 * job is not changed; release clears it on disk. */
static void test_update_hold_durable(void **state)
{
	struct fx *f = *state;
	struct conn *c, *a;
	const Hare__UpdateReply *r;
	const Hare__JobInfo *j;
	uint64_t id;

	one_running_job(f, &c, &a, &id);
	c->admin = false;
	r = update(f, c, id, 1, 0);
	assert_true(r->results[0]->ok);
	assert_string_equal(r->results[0]->message, "job 1: held");
	assert_int_equal(committed_state(f, id), 1);	/* QUEUED, on disk */
	assert_int_equal(committed_int(f, "SELECT held FROM jobs WHERE id = 1"), 1);
	j = show(f, c, id);
	assert_true(j->has_held && j->held == HARE__JOB_HELD__JOB_HELD_OWNER);
	assert_non_null(strstr(j->waiting, "held by its owner"));
	assert_int_equal(j->state, HARE__JOB_STATE__QUEUED);
	assert_true(queue(f, c)->jobs[0]->has_held);
	assert_null(update(f, c, id, -1, -2));
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_non_null(strstr(last(f)->error->message, "weight must be a number above 0"));
	r = update(f, c, id, -1, 2.5);
	assert_true(r->results[0]->ok);
	assert_int_equal(committed_int(f, "SELECT weight * 10 FROM jobs WHERE id = 1"), 25);
	snprintf(c->user, sizeof(c->user), "mallory");
	r = update(f, c, id, 0, 0);
	assert_false(r->results[0]->ok);
	assert_non_null(strstr(r->results[0]->message, "only its owner or root may change it"));
	assert_int_equal(committed_int(f, "SELECT held FROM jobs WHERE id = 1"), 1);
	c->admin = true;
	r = update(f, c, id, 0, 0);
	assert_true(r->results[0]->ok);
	assert_int_equal(committed_int(f, "SELECT held FROM jobs WHERE id = 1"), 0);
	r = update(f, c, id + 7, 1, 0);
	assert_false(r->results[0]->ok);
	assert_string_equal(r->results[0]->message, "job 8 does not exist");
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A job DONE in the store (hared restarted since) whose worker an agent
 * still runs: left to finish within finish_grace_s of the job's end, its
 * GPU not planned on meanwhile; one that ended longer ago, or a cancelled
 * job's, is stopped. */
static void test_done_worker_after_restart(void **state)
{
	struct fx *f = *state;
	struct store_job rec;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Register r = HARE__REGISTER__INIT;
	Hare__GpuInfo g[3], *gp[3];
	Hare__RunningTask t[3], *tp[3];
	const int states[3] = { STORE_DONE, STORE_DONE, STORE_CANCELLED };
	const double ago[3] = { 5, 1000, 5 };
	uint64_t ids[3];
	struct conn *a;
	const struct drv_node *n;

	for (int i = 0; i < 3; i++) {
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.user, sizeof(rec.user), "alice");
		snprintf(rec.name, sizeof(rec.name), "saver");
		snprintf(rec.model, sizeof(rec.model), "resnet50");
		rec.tasks = rec.min_gpus = rec.max_gpus = 1;
		rec.rounds_total = rec.rounds_done = 10;
		rec.weight = 1;
		rec.state = (enum store_job_state)states[i];
		rec.submit_time = driver_now() - 2000;
		rec.start_time = driver_now() - 1500;
		rec.finish_time = driver_now() - ago[i];
		rec.loss = NAN;
		assert_int_equal(store_job_insert(f->d.store, &rec), 0);
		ids[i] = rec.id;
		hare__gpu_info__init(&g[i]);
		g[i].index = (uint32_t)i;
		g[i].type = "V100";
		gp[i] = &g[i];
		hare__running_task__init(&t[i]);
		t[i].job_id = ids[i];
		t[i].lease_id = 77 + (uint64_t)i;
		t[i].has_gpu_index = true;
		t[i].gpu_index = (uint32_t)i;
		tp[i] = &t[i];
	}
	a = agent(f, "n1");
	r.n_gpus = r.n_running = 3;
	r.gpus = gp;
	r.running = tp;
	m.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	m.register_ = &r;
	sent_clear(&f->out);
	frame(a, &m);
	assert_int_equal(a->state, CONN_READY);
	assert_int_equal(sent_count(f, HARE__FROM_DAEMON__MSG_TASK_STOP), 2);
	for (uint32_t i = 0; i < f->out.n; i++)
		if (f->out.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP)
			assert_int_not_equal(f->out.msg[i]->task_stop->job_id, ids[0]);
	n = driver_node_at(f->d.drv, 0);
	assert_int_equal(n->gpus[0].vacate_job, ids[0]);
	assert_true(n->gpus[0].finish_until > driver_now() + 50);
	assert_false(driver_gpu_is_free(&n->gpus[0]));
	/* the agent reconnects: the GPU is still finishing, no stop, no
	 * store lookup needed */
	conn_fake_free(a);
	a = agent(f, "n1");
	sent_clear(&f->out);
	frame(a, &m);
	assert_int_equal(sent_count(f, HARE__FROM_DAEMON__MSG_TASK_STOP), 2);
	n = driver_node_at(f->d.drv, 0);
	assert_true(n->gpus[0].finish_until > driver_now() + 50);
	/* a worker of the DONE job on a GPU another stopped worker holds is
	 * stopped as before */
	t[0].gpu_index = 1;
	sent_clear(&f->out);
	frame(a, &m);
	assert_int_equal(sent_count(f, HARE__FROM_DAEMON__MSG_TASK_STOP), 3);
	conn_fake_free(a);
}

/* A HistoryRequest (max 0: none) and its answer. */
static const Hare__FromDaemon *history_ask(struct fx *f, struct conn *c, uint64_t id, const char *node,
					   uint32_t max)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__HistoryRequest h = HARE__HISTORY_REQUEST__INIT;

	h.job_id = id;
	h.node = (char *)node;
	h.has_max = max > 0;
	h.max = max;
	m.msg_case = HARE__TO_DAEMON__MSG_HISTORY;
	m.history = &h;
	frame(c, &m);
	return last(f);
}

static const Hare__FromDaemon *history(struct fx *f, struct conn *c, uint64_t id, uint32_t max)
{
	return history_ask(f, c, id, NULL, max);
}

/* harectl history: a job's events, oldest first, for its owner or root;
 * the newest max (cut says older ones were left out); the newest that
 * fit in half a frame; bad requests get an Error. */
static void test_history(void **state)
{
	struct fx *f = *state;
	const Hare__FromDaemon *r;
	struct conn *c, *a;
	uint64_t id;

	one_running_job(f, &c, &a, &id);
	assert_non_null(update(f, c, id, 1, 0));
	r = history(f, c, id, 0);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_HISTORY_REPLY);
	assert_int_equal(r->history_reply->n_events, 4);
	assert_string_equal(r->history_reply->events[0]->kind, "submit");
	assert_string_equal(r->history_reply->events[1]->kind, "start");
	assert_non_null(strstr(r->history_reply->events[1]->detail, "gpus=n1/"));
	assert_string_equal(r->history_reply->events[2]->kind, "update");
	assert_string_equal(r->history_reply->events[3]->kind, "hold");
	assert_false(r->history_reply->cut);
	r = history(f, c, id, 2);
	assert_int_equal(r->history_reply->n_events, 2);
	assert_string_equal(r->history_reply->events[0]->kind, "update");
	assert_true(r->history_reply->cut);
	r = history(f, c, id, 4);
	assert_int_equal(r->history_reply->n_events, 4);
	assert_false(r->history_reply->cut);
	f->d.cfg.max_frame = 200;	/* half: room for the newest one or two */
	r = history(f, c, id, 10);
	f->d.cfg.max_frame = WIRE_FRAME_MAX_DEFAULT;
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_HISTORY_REPLY);
	assert_true(r->history_reply->n_events >= 1 && r->history_reply->n_events < 4);
	assert_true(r->history_reply->cut);
	assert_true(hare__history_reply__get_packed_size(r->history_reply) <= 100);
	r = history(f, c, id, 1001);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_string_equal(r->error->message, "max must be between 1 and 1000, got 1001");
	r = history(f, c, id + 50, 0);
	assert_string_equal(r->error->message, "no job 51");
	c->admin = false;
	snprintf(c->user, sizeof(c->user), "mallory");
	r = history(f, c, id, 0);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_non_null(strstr(r->error->message, "only its owner or root may read its history"));
	conn_fake_free(a);
	conn_fake_free(c);
}

static const Hare__FromDaemon *node_history(struct fx *f, struct conn *c, const char *node,
					     uint32_t max)
{
	return history_ask(f, c, 0, node, max);
}

/* harectl history --node: a node's events, oldest first, a drain's with
 * its reason, for anyone (private_data = jobs too); not another node's
 * whose name it starts; an unknown node, a bad name and a bad max get an
 * Error. */
static void test_node_history(void **state)
{
	struct fx *f = *state;
	const Hare__FromDaemon *r;
	struct conn *c, *a;
	uint64_t id;
	uint32_t moved;
	char msg[256];

	one_running_job(f, &c, &a, &id);
	assert_int_equal(driver_node_drain(f->d.drv, "n1", true, "new DIMMs", &moved, msg, sizeof(msg)), 0);
	assert_int_equal(store_event(f->d.store, driver_now(), 0, "node-up", "n10"), 0);
	snprintf(f->d.cfg.private_data, sizeof(f->d.cfg.private_data), "jobs");
	c->admin = false;
	snprintf(c->user, sizeof(c->user), "mallory");
	r = node_history(f, c, "n1", 0);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_HISTORY_REPLY);
	assert_string_equal(r->history_reply->node, "n1");
	assert_int_equal(r->history_reply->job_id, 0);
	assert_int_equal(r->history_reply->n_events, 2);
	assert_string_equal(r->history_reply->events[0]->kind, "node-up");
	assert_string_equal(r->history_reply->events[0]->detail, "n1");
	assert_string_equal(r->history_reply->events[1]->kind, "node-drain");
	assert_string_equal(r->history_reply->events[1]->detail, "n1: new DIMMs");
	assert_false(r->history_reply->cut);
	r = node_history(f, c, "n1", 1);
	assert_int_equal(r->history_reply->n_events, 1);
	assert_true(r->history_reply->cut);
	r = node_history(f, c, "n9", 0);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_string_equal(r->error->message, "unknown node 'n9' (harectl nodes lists them)");
	r = node_history(f, c, "a b", 0);
	assert_int_equal(r->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(r->error->code, ERR_BAD_SPEC);
	r = node_history(f, c, "n1", 1001);
	assert_string_equal(r->error->message, "max must be between 1 and 1000, got 1001");
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A job loaded after a restart keeps its failures against max_retries
 * (its "fail" events), rather than starting again from none. */
static void test_failures_kept_across_restart(void **state)
{
	struct fx *f = *state;
	struct store_job rec;
	uint32_t n = 9;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.user, sizeof(rec.user), "alice");
	snprintf(rec.name, sizeof(rec.name), "flaky");
	snprintf(rec.model, sizeof(rec.model), "resnet50");
	rec.tasks = rec.min_gpus = rec.max_gpus = 1;
	rec.rounds_total = 10;
	rec.weight = 1;
	rec.state = STORE_QUEUED;
	rec.submit_time = driver_now();
	rec.loss = NAN;
	assert_int_equal(store_job_insert(f->d.store, &rec), 0);
	assert_int_equal(store_job_failures(f->d.store, rec.id, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_event(f->d.store, 1, rec.id, "fail", "rank 0 on node n1 GPU 0 failed"), 0);
	assert_int_equal(store_event(f->d.store, 2, rec.id, "requeue", "a worker was stopped"), 0);
	assert_int_equal(store_event(f->d.store, 3, rec.id, "fail", "rank 0 on node n2 GPU 0 failed"), 0);
	assert_int_equal(store_flush(f->d.store), 0);
	assert_int_equal(driver_job_load(f->d.drv, &rec), 0);
	assert_int_equal(driver_job_find(f->d.drv, rec.id)->failures, 2);
}

/* The metrics file's text: jobs by state (one running, one held, one
 * queued), GPUs by type and state, sessions, GPU-seconds by type (the
 * running lease's until now, an ended one's as it ended); written whole by
 * metrics_write, and an error naming the file when it cannot be. */
static void test_metrics(void **state)
{
	struct fx *f = *state;
	struct metrics_sample m;
	struct conn *c, *a;
	char *text = NULL, path[200], err[300];
	size_t len = 0;
	uint64_t id;
	FILE *mf;

	one_running_job(f, &c, &a, &id);
	submit(f, c, 2);
	submit(f, c, 4);
	assert_non_null(update(f, c, id + 1, 1, 0));
	f->d.agent_refused_tag = 2;	/* as dispatch counts them */
	f->d.agent_refused_nokey = 1;
	metrics_gather(&f->d, &m);
	mf = open_memstream(&text, &len);
	assert_int_equal(metrics_format(&m, mf), 0);
	fclose(mf);
	assert_non_null(strstr(text, "\nhare_up 1\n"));
	assert_non_null(strstr(text, "\nhare_jobs{state=\"queued\"} 1\nhare_jobs{state=\"backoff\"} 0\n"
				"hare_jobs{state=\"held\"} 1\nhare_jobs{state=\"waiting\"} 0\n"
				"hare_jobs{state=\"running\"} 1\n"));
	assert_non_null(strstr(text, "\nhare_gpus{type=\"V100\",state=\"busy\"} 2\n"
				"hare_gpus{type=\"V100\",state=\"free\"} 2\n"
				"hare_gpus{type=\"V100\",state=\"unavailable\"} 0\n"));
	assert_non_null(strstr(text, "\nhare_nodes{state=\"up\"} 1\n"));
	assert_non_null(strstr(text, "\nhare_connections{role=\"agent\"} 1\n"
				"hare_connections{role=\"client\"} 1\n"));
	assert_non_null(strstr(text, "\nhare_agent_refusals_total{reason=\"key\"} 0\n"
				"hare_agent_refusals_total{reason=\"tag\"} 2\n"
				"hare_agent_refusals_total{reason=\"no_key\"} 1\n"));
	assert_non_null(strstr(text, "\n# TYPE hare_jobs_ended_total counter\n"));
	/* A summary: quantiles, then the sum and count of every plan. */
	assert_true(m.drv.plans > 0 && m.drv.plan_ms_sum > 0);
	assert_non_null(strstr(text, "\n# TYPE hare_plan_latency_milliseconds summary\n"
				"hare_plan_latency_milliseconds{quantile=\"0.5\"} "));
	snprintf(path, sizeof(path), "\nhare_plan_latency_milliseconds_sum %.3f\n"
		 "hare_plan_latency_milliseconds_count %llu\n", m.drv.plan_ms_sum,
		 (unsigned long long)m.drv.plans);
	assert_non_null(strstr(text, path));
	free(text);
	/* GPU time: the running job's two V100s, until now; after its end, no
	 * more */
	{
		int v = -1;
		double t0, g0, g1;

		for (uint32_t t = 0; t < m.drv.ntypes; t++)
			if (strcmp(m.type_names[t], "V100") == 0)
				v = (int)t;
		assert_true(v >= 0);
		/* gathered again from now on: the bound below counts from t0 */
		t0 = driver_now();
		metrics_gather(&f->d, &m);
		g0 = m.drv.gpu_s[v];
		assert_true(g0 >= 0);
		for (uint32_t t = 0; t < m.drv.ntypes; t++)
			assert_true(t == (uint32_t)v || m.drv.gpu_s[t] == 0);
		usleep(20000);
		cancel(f, c, &id, 1);
		metrics_gather(&f->d, &m);
		g1 = m.drv.gpu_s[v];
		assert_true(g1 >= g0 + 2 * 0.02 && g1 <= g0 + 2 * (driver_now() - t0) + 1e-6);
		usleep(20000);
		metrics_gather(&f->d, &m);
		assert_true(m.drv.gpu_s[v] == g1);
		mf = open_memstream(&text, &len);
		assert_int_equal(metrics_format(&m, mf), 0);
		fclose(mf);
		snprintf(path, sizeof(path), "\n# TYPE hare_gpu_seconds_total counter\n"
			 "hare_gpu_seconds_total{type=\"%s\"} %.3f\n", m.type_names[0], m.drv.gpu_s[0]);
		assert_non_null(strstr(text, path));
		snprintf(path, sizeof(path), "\nhare_gpu_seconds_total{type=\"V100\"} %.3f\n", g1);
		assert_non_null(strstr(text, path));
		free(text);
	}

	snprintf(f->d.cfg.metrics_file, sizeof(f->d.cfg.metrics_file), "%s/hare.prom", f->dir);
	assert_int_equal(metrics_write(&f->d, 0, err, sizeof(err)), 0);
	mf = fopen(f->d.cfg.metrics_file, "r");
	assert_non_null(mf);
	text = calloc(1, 65536);
	len = fread(text, 1, 65535, mf);
	fclose(mf);
	assert_true(len > 0 && strncmp(text, "# HELP hare_up ", 15) == 0);
	assert_non_null(strstr(text, "\nhare_up 0\n"));
	assert_non_null(strstr(text, "\nhare_jobs{state=\"held\"} 1\n"));
	free(text);
	snprintf(path, sizeof(path), "%s/hare.prom.tmp", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	unlink(f->d.cfg.metrics_file);
	snprintf(f->d.cfg.metrics_file, sizeof(f->d.cfg.metrics_file), "%s/no/such/dir/m.prom", f->dir);
	assert_int_equal(metrics_write(&f->d, 1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no/such/dir/m.prom.tmp: No such file or directory"));
	f->d.cfg.metrics_file[0] = '\0';
	conn_fake_free(a);
	conn_fake_free(c);
}

/* Label values are escaped, bytes other than printable ASCII are '_';
 * GPU types past METRICS_TYPES_MAX (an agent may register any names) are
 * counted as "other". */
static void test_metrics_labels(void **state)
{
	struct fx *f = *state;
	static char names[40][8];
	const char *types[40];
	struct metrics_sample m;
	struct conn *a;
	char *text = NULL;
	size_t len = 0;
	FILE *mf;

	memset(&m, 0, sizeof(m));
	m.ntypes = 1;
	snprintf(m.gpus[0].type, sizeof(m.gpus[0].type), "A\"1\\x\xc3\n");
	m.gpus[0].free = 3;
	mf = open_memstream(&text, &len);
	assert_int_equal(metrics_format(&m, mf), 0);
	fclose(mf);
	assert_non_null(strstr(text, "\nhare_gpus{type=\"A\\\"1\\\\x__\",state=\"free\"} 3\n"));
	/* no plan yet: no quantiles */
	assert_non_null(strstr(text, "\nhare_plan_latency_milliseconds{quantile=\"0.5\"} NaN\n"
				"hare_plan_latency_milliseconds{quantile=\"0.99\"} NaN\n"
				"hare_plan_latency_milliseconds_sum 0.000\n"
				"hare_plan_latency_milliseconds_count 0\n"));
	free(text);

	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "Y%d", i);
		types[i] = names[i];
	}
	a = agent(f, "many");
	log_level_set("error");	/* 40 types the profile lacks */
	agent_register_types(a, types, 40);
	log_level_set("warn");
	metrics_gather(&f->d, &m);
	assert_int_equal(m.ntypes, METRICS_TYPES_MAX + 1);
	assert_string_equal(m.gpus[METRICS_TYPES_MAX - 1].type, "Y31");
	assert_string_equal(m.gpus[METRICS_TYPES_MAX].type, "other");
	assert_int_equal(m.gpus[METRICS_TYPES_MAX].unavailable, 8);
	conn_fake_free(a);
}

/* The metrics file's temporary is made anew: a FIFO or a link left at
 * its name is removed, not opened (it would block hared, or overwrite
 * the linked file). */
static void test_metrics_tmp_replaced(void **state)
{
	struct fx *f = *state;
	char tmp[300], other[300], err[300], buf[16] = "";
	FILE *o;

	snprintf(f->d.cfg.metrics_file, sizeof(f->d.cfg.metrics_file), "%s/m.prom", f->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->d.cfg.metrics_file);
	assert_int_equal(mkfifo(tmp, 0600), 0);
	assert_int_equal(metrics_write(&f->d, 1, err, sizeof(err)), 0);
	snprintf(other, sizeof(other), "%s/precious", f->dir);
	o = fopen(other, "w");
	assert_non_null(o);
	fputs("keep me", o);
	fclose(o);
	assert_int_equal(link(other, tmp), 0);
	assert_int_equal(metrics_write(&f->d, 1, err, sizeof(err)), 0);
	o = fopen(other, "r");
	assert_non_null(fgets(buf, sizeof(buf), o));
	fclose(o);
	assert_string_equal(buf, "keep me");
	assert_int_equal(access(tmp, F_OK), -1);
	unlink(other);
	unlink(f->d.cfg.metrics_file);
	f->d.cfg.metrics_file[0] = '\0';
}

/* Submit a job (min_gpus given, types "" = any); the reply's warning. */
static const char *submit_warning(struct fx *f, struct conn *c, uint32_t gpus, uint32_t min,
				  const char *type)
{
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;
	char *types[1] = { (char *)type };

	j.model = "resnet50";
	j.tasks = gpus;
	j.rounds = 100;
	j.has_min_gpus = true;
	j.min_gpus = min;
	j.gpu_types = types;
	j.n_gpu_types = type[0] ? 1 : 0;
	return submit_spec(f, c, &j)->warning;
}

/* Submit.check_only: a job a submission would take gets SubmitReply{0}
 * and nothing is stored; one it would refuse gets the same Error. */
static void test_submit_check_only(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f);
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Submit s = HARE__SUBMIT__INIT;
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;

	j.model = "resnet50";
	j.tasks = 1;
	j.rounds = 100;
	s.spec = &j;
	s.has_check_only = s.check_only = true;
	m.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	m.submit = &s;
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY);
	assert_int_equal(last(f)->submit_reply->job_id, 0);
	clients_commit(&f->d);
	assert_int_equal(queue(f, c)->n_jobs, 0);	/* nothing stored */
	j.model = "resnt50";
	frame(c, &m);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, ERR_UNKNOWN_MODEL);
	assert_non_null(strstr(last(f)->error->message, "did you mean resnet50?"));
	assert_int_equal(c->state, CONN_CLIENT);	/* the session goes on */
	conn_fake_free(c);
}

/* A GPU type the profile lacks: unknown, unless a node has it (not
 * profiled yet), which the refusal says. */
static void test_submit_unprofiled_type(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a = agent(f, "n3");
	static const char *const gpus[] = { "H100", "H100" };
	Hare__JobSpec j = HARE__JOB_SPEC__INIT;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ProfileResult pr = HARE__PROFILE_RESULT__INIT;
	char *types[1] = { "B200" };

	j.model = "resnet50";
	j.tasks = 1;
	j.rounds = 100;
	j.gpu_types = types;
	j.n_gpu_types = 1;
	assert_int_equal(submit_frame(f, c, &j)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, ERR_UNKNOWN_GPU);
	assert_non_null(strstr(last(f)->error->message, "unknown GPU type 'B200'"));
	agent_register_types(a, gpus, 2);
	types[0] = "h100";
	assert_int_equal(submit_frame(f, c, &j)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, ERR_UNKNOWN_GPU);
	assert_string_equal(last(f)->error->message, "GPU type 'h100' is not profiled yet: node n3 has "
			    "it, and jobs may ask for it once its speeds are measured (node n3 "
			    "measures it now; harectl nodes shows it)");
	/* n3 fails at it and no other node has it: the refusal says so, not
	 * that hared has it measured */
	pr.gpu_type = "H100";
	pr.ok = false;
	pr.message = "no GPU";
	m.msg_case = HARE__TO_DAEMON__MSG_PROFILE_RESULT;
	m.profile_result = &pr;
	log_level_set("error");
	frame(a, &m);
	log_level_set("warn");
	assert_int_equal(submit_frame(f, c, &j)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_non_null(strstr(last(f)->error->message, "(no node can measure it now (each that has it "
							"failed; see hared's log): add rows for it"));
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A job that cannot run on the nodes up now is accepted with a warning
 * that says why; one that can gets none. */
static void test_submit_warning(void **state)
{
	struct fx *f = *state;
	struct conn *c = client(f), *a;
	const char *w;

	w = submit_warning(f, c, 2, 1, "");
	assert_non_null(w);
	assert_string_equal(w, "no GPU it can use is up now (its types: any its model is profiled "
			    "on; up: none); it waits until one is");
	a = agent(f, "n1");
	agent_register(a, 4);
	assert_null(submit_warning(f, c, 2, 1, ""));
	assert_null(submit_warning(f, c, 4, 4, ""));
	w = submit_warning(f, c, 8, 8, "");
	assert_non_null(w);
	assert_string_equal(w, "it needs at least 8 GPUs and 4 it can use are up now (up: 4xV100); "
			    "it waits until enough are");
	w = submit_warning(f, c, 1, 1, "K80");
	assert_non_null(w);
	assert_string_equal(w, "no GPU it can use is up now (its types: K80; up: 4xV100); it waits "
			    "until one is");
	/* show says the same of it while it waits; a job that can run has none */
	{
		uint64_t id = last(f)->submit_reply->job_id;

		assert_non_null(show(f, c, id)->waiting);
		assert_string_equal(show(f, c, id)->waiting, "no GPU it can use is up now (its types: "
				    "K80; up: 4xV100); it waits until one is");
		assert_non_null(strstr(show(f, c, id - 1)->waiting, "it needs at least 8 GPUs"));
		assert_null(show(f, c, id - 2)->waiting);	/* 4 GPUs of 4 up */
	}
	conn_fake_free(a);
	conn_fake_free(c);
}

/* A task of the job ended: TaskExit from its agent. */
static void task_ended(struct conn *a, uint64_t job, uint64_t lease, uint32_t rank,
		       Hare__TaskStatus status, int code, const char *message)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__TaskExit x = HARE__TASK_EXIT__INIT;

	x.job_id = job;
	x.lease_id = lease;
	x.rank = rank;
	x.status = status;
	x.has_exit_code = true;
	x.exit_code = code;
	x.message = (char *)message;
	m.msg_case = HARE__TO_DAEMON__MSG_TASK_EXIT;
	m.task_exit = &x;
	frame(a, &m);
}


/* The newest TaskStart the fixture's sink heard for job: its lease. */
static uint64_t started_lease(const struct fx *f, uint64_t job)
{
	for (uint32_t i = f->out.n; i-- > 0;)
		if (f->out.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_START &&
		    f->out.msg[i]->task_start->job_id == job)
			return f->out.msg[i]->task_start->lease_id;
	fail();
	return 0;
}

/* Why a lease failed (node, rank, GPU, the agent's message) is in show's
 * last_error, while the job is retried and once it FAILED for good; a job
 * that never failed has none; another user does not see the worker's last
 * output in it. */
static void test_show_last_error(void **state)
{
	struct fx *f = *state;
	struct conn *c, *a;
	const Hare__JobInfo *j;
	uint64_t id, lease;

	one_running_job(f, &c, &a, &id);
	assert_null(show(f, c, id)->last_error);
	log_level_set("error");	/* failures are logged as warnings */
	lease = started_lease(f, id);
	task_ended(a, id, lease, 0, HARE__TASK_STATUS__TASK_FAILED, 127,
		   "cannot start /opt/x/hare-worker: no such file");
	task_ended(a, id, lease, 1, HARE__TASK_STATUS__TASK_STOPPED, 0, NULL);
	j = show(f, c, id);
	assert_int_equal(j->state, HARE__JOB_STATE__QUEUED);
	assert_non_null(j->last_error);
	assert_non_null(strstr(j->last_error, "rank 0 on node n1 GPU "));
	assert_non_null(strstr(j->last_error, "failed (exit code 127: cannot start /opt/x/hare-worker: "
				"no such file)"));
	assert_true(j->has_last_error_time && j->last_error_time > 0);
	/* max_retries 1: the second failure is the last */
	plan_now(f);
	assert_int_not_equal(started_lease(f, id), lease);
	task_ended(a, id, started_lease(f, id), 1, HARE__TASK_STATUS__TASK_FAILED, 3,
		   "exited with code 3; last output: key=s3cr3t (bad shape)");
	log_level_set("warn");
	j = show(f, c, id);
	assert_int_equal(j->state, HARE__JOB_STATE__FAILED);
	assert_non_null(strstr(j->last_error, "failed (exit code 3; last output: "
				"key=s3cr3t (bad shape)); 2 failures, giving up"));
	/* another user: not the worker's output */
	c->admin = false;
	snprintf(c->user, sizeof(c->user), "mallory");
	j = show(f, c, id);
	assert_null(strstr(j->last_error, "s3cr3t"));
	assert_non_null(strstr(j->last_error, "failed (exit code 3; its output is "
				"for its owner and root); 2 failures, giving up"));
	conn_fake_free(a);
	conn_fake_free(c);
}

/* ---- harectl logs ---- */

/* An agent session registered with one V100 that keeps workers' output
 * (Register.logs) or not. */
static struct conn *logs_agent(struct fx *f, const char *node, struct sent *out, bool logs)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Register r = HARE__REGISTER__INIT;
	Hare__GpuInfo g = HARE__GPU_INFO__INIT, *gp = &g;
	struct conn *c = agent_to(f, node, out);

	g.type = "V100";
	r.n_gpus = 1;
	r.gpus = &gp;
	r.has_logs = true;
	r.logs = logs;
	m.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	m.register_ = &r;
	frame(c, &m);
	assert_int_equal(c->state, CONN_READY);
	return c;
}

static void logs_ask(struct conn *c, uint64_t job, int rank, int max_bytes)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__LogsRequest r = HARE__LOGS_REQUEST__INIT;

	r.job_id = job;
	r.has_rank = rank >= 0;
	r.rank = rank >= 0 ? (uint32_t)rank : 0;
	r.has_max_bytes = max_bytes >= 0;
	r.max_bytes = max_bytes >= 0 ? (uint32_t)max_bytes : 0;
	m.msg_case = HARE__TO_DAEMON__MSG_LOGS;
	m.logs = &r;
	frame(c, &m);
}

/* The LogFetch an agent got last (its request id). */
static const Hare__LogFetch *fetched(const struct sent *s)
{
	assert_true(s->n > 0);
	assert_int_equal(s->msg[s->n - 1]->msg_case, HARE__FROM_DAEMON__MSG_LOG_FETCH);
	return s->msg[s->n - 1]->log_fetch;
}

/* Agent c answers request req with a part (data NULL: no part; message:
 * why it could not read). */
static void logs_answer(struct conn *c, uint64_t req, const char *data, uint64_t size,
			double mtime, const char *message)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__LogData d = HARE__LOG_DATA__INIT;
	Hare__LogPart p = HARE__LOG_PART__INIT;

	d.request_id = req;
	d.message = (char *)message;
	if (data) {
		p.node = "ignored";
		p.path = "/var/lib/hare-agent/logs/job-1.rank-1.log";
		p.data.data = (uint8_t *)data;
		p.data.len = strlen(data);
		p.size = size;
		p.has_mtime = true;
		p.mtime = mtime;
		d.part = &p;
	}
	m.msg_case = HARE__TO_DAEMON__MSG_LOG_DATA;
	m.log_data = &d;
	frame(c, &m);
}

static void assert_error(const struct fx *f, int code, const char *text)
{
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_ERROR);
	assert_int_equal(last(f)->error->code, code);
	if (!strstr(last(f)->error->message, text))
		fail_msg("'%s' not in '%s'", text, last(f)->error->message);
}

/* A client's LogsRequest goes to every node up whose agent keeps output;
 * the answers make one reply, oldest part first, the newest output kept
 * within max_bytes; nodes that are down, keep no files, cannot read or
 * disconnect are named. Bad requests get an error at once. */
static void test_logs_relay(void **state)
{
	struct fx *f = *state;
	struct sent o1 = { 0 }, o2 = { 0 }, o3 = { 0 }, o4 = { 0 };
	struct conn *c = client(f);
	struct conn *a1 = logs_agent(f, "n1", &o1, true), *a2 = logs_agent(f, "n2", &o2, false);
	struct conn *a3 = logs_agent(f, "n3", &o3, true), *a4 = logs_agent(f, "n4", &o4, true);
	const Hare__LogsReply *r;
	uint64_t id, req;
	uint32_t before;

	id = submit_rounds(f, c, 2, 100);
	conn_fake_free(a3);	/* n3 is down */

	/* rank 1, 8 bytes: n1's newer part keeps its last 8 bytes, n4's is left out */
	logs_ask(c, id, 1, 8);
	assert_int_equal(o2.n, 0);
	req = fetched(&o1)->request_id;
	assert_int_equal(fetched(&o4)->request_id, req);
	assert_int_equal(fetched(&o1)->job_id, id);
	assert_int_equal(fetched(&o1)->rank, 1);
	assert_int_equal(fetched(&o1)->max_bytes, 8);
	before = f->out.n;
	logs_answer(a1, req, "0123456789ABCDEF", 100, 200, NULL);
	logs_answer(a1, req, "again", 5, 300, NULL);	/* answered already: ignored */
	logs_answer(a4, req + 1000, "no such request", 15, 1, NULL);
	assert_int_equal(f->out.n, before);
	logs_answer(a4, req, "abcdef", 6, 100, NULL);
	assert_int_equal(last(f)->msg_case, HARE__FROM_DAEMON__MSG_LOGS_REPLY);
	r = last(f)->logs_reply;
	assert_int_equal(r->job_id, id);
	assert_int_equal(r->rank, 1);
	assert_int_equal(r->n_parts, 1);
	assert_string_equal(r->parts[0]->node, "n1");
	assert_memory_equal(r->parts[0]->data.data, "89ABCDEF", 8);
	assert_int_equal(r->parts[0]->data.len, 8);
	assert_int_equal(r->parts[0]->size, 100);
	assert_true(r->has_cut_bytes);
	assert_int_equal(r->cut_bytes, 6);	/* n4's; n1 sent more than asked: clipped */
	assert_int_equal(r->n_missing, 2);
	assert_string_equal(r->missing[0], "n2: its agent keeps no output files (task_logs = none, "
			    "or an older hare-agent)");
	assert_string_equal(r->missing[1], "n3: down");
	assert_int_equal(f->d.nlogs, 0);

	/* whole parts oldest first; a node that cannot read, one without a
	 * file, one that disconnects */
	logs_ask(c, id, -1, -1);
	req = fetched(&o1)->request_id;
	assert_int_equal(fetched(&o1)->rank, 0);
	assert_int_equal(fetched(&o1)->max_bytes, LOGS_DEFAULT_BYTES);
	logs_answer(a1, req, "newer\n", 6, 50, NULL);
	logs_answer(a4, req, "older\n", 6, 40, NULL);
	r = last(f)->logs_reply;
	assert_int_equal(r->n_parts, 2);
	assert_string_equal(r->parts[0]->node, "n4");
	assert_string_equal(r->parts[1]->node, "n1");
	assert_false(r->has_cut_bytes);
	logs_ask(c, id, 0, 100);
	req = fetched(&o1)->request_id;
	logs_answer(a1, req, NULL, 0, 0, "cannot open /x/job-1.rank-0.log: Permission denied");
	assert_int_equal(f->d.nlogs, 1);
	conn_fake_free(a4);
	r = last(f)->logs_reply;
	assert_int_equal(r->n_parts, 0);
	assert_int_equal(r->n_missing, 4);
	assert_string_equal(r->missing[2], "n1: cannot open /x/job-1.rank-0.log: Permission denied");
	assert_string_equal(r->missing[3], "n4: disconnected before answering");
	/* n1 connects again while asked: its old session answers no more */
	{
		struct sent o5 = { 0 };
		struct conn *a5;

		logs_ask(c, id, 0, 100);
		assert_int_equal(f->d.nlogs, 1);
		a5 = agent_to(f, "n1", &o5);
		assert_int_equal(f->d.nlogs, 0);
		r = last(f)->logs_reply;
		assert_string_equal(r->missing[r->n_missing - 1], "n1: disconnected before answering");
		conn_fake_free(a5);
		conn_fake_free(a1);
		sent_clear(&o5);
	}
	a1 = logs_agent(f, "n1", &o1, true);
	logs_ask(c, id, 0, 100);	/* n1 has no file: no part, not missing */
	logs_answer(a1, fetched(&o1)->request_id, NULL, 0, 0, NULL);
	r = last(f)->logs_reply;
	assert_int_equal(r->n_parts, 0);
	assert_int_equal(r->n_missing, 3);
	assert_int_equal(f->d.nlogs, 0);

	/* a client that left before the answer: nothing sent, nothing kept */
	{
		struct sent oc = { 0 };
		struct conn *gone;

		assert_int_equal(conn_fake_new(&f->d, CONN_CLIENT_UNIX, sink, &oc, &gone), 0);
		gone->state = CONN_CLIENT;
		logs_ask(gone, id, 0, 100);
		req = fetched(&o1)->request_id;
		conn_fake_free(gone);
		logs_answer(a1, req, "late", 4, 1, NULL);
		assert_int_equal(oc.n, 0);
		assert_int_equal(f->d.nlogs, 0);
	}

	/* one user has at most LOGS_PENDING_USER requests waiting */
	for (uint32_t k = 0; k < LOGS_PENDING_USER; k++)
		logs_ask(c, id, 0, 10);
	assert_int_equal(f->d.nlogs, LOGS_PENDING_USER);
	logs_ask(c, id, 0, 10);
	assert_error(f, -EBUSY, "8 of your requests for output are waiting for nodes already");
	logs_free_all(&f->d);

	/* refused at once */
	before = o1.n;
	logs_ask(c, id + 50, 0, -1);
	assert_error(f, -ENOENT, "no job");
	logs_ask(c, id, 2, -1);
	assert_error(f, ERR_BAD_SPEC, "has ranks 0..1; there is no rank 2");
	logs_ask(c, id, 0, 0);
	assert_error(f, ERR_BAD_SPEC, "max_bytes must be between 1 and 1048576, got 0");
	logs_ask(c, id, 0, LOGS_MAX_BYTES + 1);
	assert_error(f, ERR_BAD_SPEC, "max_bytes must be between");
	snprintf(c->user, sizeof(c->user), "mallory");
	c->admin = false;
	logs_ask(c, id, 0, -1);
	assert_error(f, -EPERM, "belongs to root; only its owner or root may read its output");
	assert_int_equal(o1.n, before);
	assert_int_equal(c->state, CONN_CLIENT);	/* errors leave the session open */

	logs_free_all(&f->d);
	sent_clear(&o1);
	sent_clear(&o2);
	sent_clear(&o3);
	sent_clear(&o4);
	conn_fake_free(a1);
	conn_fake_free(a2);
	conn_fake_free(c);
}

/* ---- measuring GPU types the profile lacks ---- */

static const Hare__ProfileRequest *out_request(const struct sent *o)
{
	for (uint32_t i = o->n; i-- > 0;)
		if (o->msg[i]->msg_case == HARE__FROM_DAEMON__MSG_PROFILE_REQUEST)
			return o->msg[i]->profile_request;
	fail();
	return NULL;
}

/* A ProfileResult for type: ok with the 16 rows of resnet50 (nrows fewer
 * than 16 leaves a hole; sync_s given for 128 workers spread), or a failure. */
static void profile_result_sync(struct conn *a, const char *type, bool ok, uint32_t nrows,
				double sync_last)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ProfileResult r = HARE__PROFILE_RESULT__INIT;
	Hare__ProfileRow rows[16], *rp[16];

	for (uint32_t i = 0; i < nrows && i < 16; i++) {
		hare__profile_row__init(&rows[i]);
		rows[i].model = "resnet50";
		rows[i].workers = 1u << (i / 2);
		rows[i].placement = i % 2 ? "spread" : "consolidated";
		rows[i].compute_s = 0.03;
		rows[i].sync_s = i < 2 ? 0 : i == 15 ? sync_last : 0.001 * (i / 2) * (1 + i % 2);
		rows[i].source = i < 2 ? "measured/none" : "measured/nccl\nforged";
		rp[i] = &rows[i];
	}
	r.gpu_type = (char *)type;
	r.ok = ok;
	r.message = ok ? NULL : "hare-worker --profile --model resnet50 exited with status 1";
	r.n_rows = ok ? nrows : 0;
	r.rows = rp;
	m.msg_case = HARE__TO_DAEMON__MSG_PROFILE_RESULT;
	m.profile_result = &r;
	frame(a, &m);
}

static void profile_result(struct conn *a, const char *type, bool ok, uint32_t nrows)
{
	profile_result_sync(a, type, ok, nrows, 0.014);
}

static bool measured_file(const struct fx *f, char *text, size_t len)
{
	char path[128];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->dir, MEASURE_FILE);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	n = fread(text, 1, len - 1, fp);
	text[n] = '\0';
	fclose(fp);
	return true;
}

static const struct drv_gpu *gpu_of(const struct fx *f, const struct conn *a, uint32_t slot)
{
	const struct drv_node *n = driver_node_at(f->d.drv, a->agent_id - 1);

	assert_non_null(n);
	assert_true(slot < n->ngpus);
	return &n->gpus[slot];
}

static void heartbeat_health(struct conn *a, Hare__NodeHealth *h)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Heartbeat hb = HARE__HEARTBEAT__INIT;

	hb.health = h;
	m.msg_case = HARE__TO_DAEMON__MSG_HEARTBEAT;
	m.heartbeat = &hb;
	frame(a, &m);
}

/* A node whose health check fails, or that is drained, is not asked to
 * measure a type the profile lacks (its numbers would be kept for good);
 * once healthy and undrained, it is; rows it sends after it turned
 * unhealthy are not kept, and it is asked again once healthy. */
static void test_measure_node_fit(void **state)
{
	static const char *const h100[1] = { "H100" };
	struct fx *f = *state;
	struct sent o1 = { 0 };
	struct conn *c = client(f), *a1 = agent_to(f, "n1", &o1);
	Hare__NodeHealth bad = HARE__NODE_HEALTH__INIT, good = HARE__NODE_HEALTH__INIT;

	bad.reason = "health check exited with status 1: GPU 0: ECC errors";
	good.ok = true;
	reg_health = &bad;
	agent_register_types(a1, h100, 1);
	reg_health = NULL;
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	assert_true(driver_node_at(f->d.drv, 0)->unhealthy);
	/* drained too: healthy again, still not asked */
	assert_int_equal(drain(f, c, "n1", true, "fans")->msg_case, HARE__FROM_DAEMON__MSG_DRAIN_REPLY);
	heartbeat_health(a1, &good);
	assert_false(driver_node_at(f->d.drv, 0)->unhealthy);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	/* undrained: asked */
	assert_int_equal(drain(f, c, "n1", false, NULL)->msg_case, HARE__FROM_DAEMON__MSG_DRAIN_REPLY);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_string_equal(out_request(&o1)->gpu_type, "H100");
	{
		char text[4096];

		heartbeat_health(a1, &bad);
		profile_result(a1, "H100", true, 16);
		assert_false(measured_file(f, text, sizeof(text)));
		assert_int_equal(profile_gpu_type_find(f->d.prof, "H100"), ERR_UNKNOWN_GPU);
		assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
		heartbeat_health(a1, &good);
		assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 2);
		profile_result(a1, "H100", true, 16);
		assert_true(measured_file(f, text, sizeof(text)));
	}
	conn_fake_free(a1);
	conn_fake_free(c);
	sent_clear(&o1);
}

/* A node with GPUs of a type the profile lacks is asked to measure it (one
 * node per type; those GPUs are kept out of plans); a failure moves the
 * request to another node; rows with a hole or absurd times are refused;
 * good rows are saved and the GPUs are planned on at once, and a restarted
 * daemon loads them. */
static void test_measure_unknown_type(void **state)
{
	static const char *const n1_gpus[3] = { "V100", "H100", "H100" };
	static const char *const n2_gpus[1] = { "h100" };	/* any case: the same type */
	struct fx *f = *state;
	struct sent o1 = { 0 }, o2 = { 0 };
	struct conn *c = client(f), *a1 = agent_to(f, "n1", &o1), *a2;
	struct profile *p = NULL;
	char text[8192], err[256], path[128];
	uint32_t h100_starts = 0;

	agent_register_types(a1, n1_gpus, 3);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_string_equal(out_request(&o1)->gpu_type, "H100");
	assert_int_equal(out_request(&o1)->n_models, profile_model_count(f->d.prof));
	assert_true(gpu_of(f, a1, 1)->measuring && gpu_of(f, a1, 2)->measuring);
	assert_false(gpu_of(f, a1, 0)->measuring);

	/* unmeasured GPUs are not planned on */
	submit(f, c, 2);
	plan_now(f);
	assert_int_equal(driver_job_at(f->d.drv, 0)->lease.nranks, 1);
	assert_int_equal(driver_job_at(f->d.drv, 0)->lease.ranks[0].slot, 0);

	/* a second node with the type waits while n1 measures */
	a2 = agent_to(f, "n2", &o2);
	agent_register_types(a2, n2_gpus, 1);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	assert_false(gpu_of(f, a2, 0)->measuring);

	/* n1 registers again: saying it still measures, it is not asked again;
	 * not saying so (the request was lost), it is asked again; n2 waits */
	{
		static const char *const h100[1] = { "H100" };

		agent_register_full(a1, n1_gpus, 3, true, h100, 1);
		assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
		assert_true(gpu_of(f, a1, 1)->measuring);
	}
	agent_register_types(a1, n1_gpus, 3);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 2);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);

	/* n1 fails: its GPUs are free of it, n2 is asked */
	profile_result(a1, "H100", false, 0);
	assert_false(gpu_of(f, a1, 1)->measuring);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_string_equal(out_request(&o2)->gpu_type, "h100");	/* as n2 spells it */
	assert_true(gpu_of(f, a2, 0)->measuring);

	/* rows with a hole, or an absurd time, are refused: nothing saved */
	profile_result(a2, "H100", true, 15);
	assert_false(measured_file(f, text, sizeof(text)));
	assert_false(gpu_of(f, a2, 0)->measuring);
	agent_register_types(a2, n2_gpus, 1);	/* registers again: asked again */
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 2);
	profile_result_sync(a2, "H100", true, 16, 1e300);
	assert_false(measured_file(f, text, sizeof(text)));
	assert_int_equal(profile_gpu_type_find(f->d.prof, "H100"), ERR_UNKNOWN_GPU);

	/* rows for a type a node did not register are ignored */
	profile_result(a2, "A100", true, 16);
	assert_false(measured_file(f, text, sizeof(text)));

	/* n1 registers again (its next session): asked again; meanwhile n2
	 * (registering again too) measures as well; n1's rows are saved */
	agent_register_types(a1, n1_gpus, 3);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 3);
	{
		static const char *const h100[1] = { "H100" };

		agent_register_full(a2, n2_gpus, 1, true, h100, 1);
	}
	profile_result(a1, "H100", true, 16);
	assert_true(measured_file(f, text, sizeof(text)));
	assert_non_null(strstr(text, "model,gpu_type,workers,placement,compute_s,sync_s,source\n"));
	assert_non_null(strstr(text, "# GPU type H100 measured by hare-worker --profile on node n1"));
	assert_non_null(strstr(text, "\nresnet50,H100,128,spread,0.03,0.014,measured\n"));
	assert_null(strstr(text, "forged"));	/* a source with a line break is not written */
	assert_true(profile_gpu_type_find(f->d.prof, "H100") >= 0);
	assert_true(gpu_of(f, a1, 1)->type >= 0 && gpu_of(f, a1, 2)->type >= 0);
	assert_string_equal(driver_type_name(f->d.drv, gpu_of(f, a2, 0)->type), "H100");
	assert_false(gpu_of(f, a1, 1)->measuring);

	/* the next plan uses n1's H100s, not n2's, which is still measured */
	sent_clear(&o1);
	sent_clear(&o2);
	submit(f, c, 2);
	plan_now(f);
	for (uint32_t i = 0; i < o1.n; i++)
		h100_starts += o1.msg[i]->msg_case == HARE__FROM_DAEMON__MSG_TASK_START &&
			       strcmp(o1.msg[i]->task_start->gpu_type, "H100") == 0;
	assert_true(h100_starts >= 1);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_TASK_START), 0);
	assert_true(gpu_of(f, a2, 0)->measuring);
	/* n2's late result is ignored and frees its GPU */
	profile_result(a2, "H100", true, 16);
	assert_false(gpu_of(f, a2, 0)->measuring);

	/* what a restarted daemon loads */
	snprintf(path, sizeof(path), "%s/%s", f->dir, MEASURE_FILE);
	assert_int_equal(profile_load_measured(f->d.cfg.profiles, path, &p, err, sizeof(err)), 0);
	assert_true(profile_gpu_type_measured(p, (uint32_t)profile_gpu_type_find(p, "H100")));
	profile_free(p);

	conn_fake_free(a1);
	conn_fake_free(a2);
	conn_fake_free(c);
	sent_clear(&o1);
	sent_clear(&o2);
}

/* An agent that does not say it measures (an older one) is never asked;
 * the request moves on when the measuring node's session ends, and the
 * gone node's GPUs are no longer shown measured. */
static void test_measure_old_agent_and_detach(void **state)
{
	static const char *const gpus[1] = { "H100" };
	struct fx *f = *state;
	struct sent o1 = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct conn *a1 = agent_to(f, "old", &o1), *a2 = agent_to(f, "n2", &o2), *a3;
	uint32_t id2;

	agent_register_full(a1, gpus, 1, false, NULL, 0);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	agent_register_types(a2, gpus, 1);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	a3 = agent_to(f, "n3", &o3);
	agent_register_types(a3, gpus, 1);
	assert_int_equal(out_count(&o3, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	id2 = a2->agent_id;
	assert_true(driver_node_at(f->d.drv, id2 - 1)->gpus[0].measuring);
	conn_fake_free(a2);
	assert_false(driver_node_at(f->d.drv, id2 - 1)->gpus[0].measuring);
	assert_int_equal(out_count(&o3, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	conn_fake_free(a1);
	conn_fake_free(a3);
	sent_clear(&o1);
	sent_clear(&o2);
	sent_clear(&o3);
}

static const char *out_cancel(const struct sent *o)
{
	for (uint32_t i = o->n; i-- > 0;)
		if (o->msg[i]->msg_case == HARE__FROM_DAEMON__MSG_PROFILE_CANCEL)
			return o->msg[i]->profile_cancel->gpu_type;
	return NULL;
}

/* The answer of an agent to a ProfileCancel once its worker exited. */
static void profile_cancelled(struct conn *a, const char *type)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ProfileResult r = HARE__PROFILE_RESULT__INIT;

	r.gpu_type = (char *)type;
	r.ok = false;
	r.message = "cancelled by the daemon";
	r.has_cancelled = r.cancelled = true;
	m.msg_case = HARE__TO_DAEMON__MSG_PROFILE_RESULT;
	m.profile_result = &r;
	frame(a, &m);
}

/* A node drained while it measures is told to stop at once (its rows would
 * not be kept), once however often it is looked at; the type goes to a
 * fit node once it answered, not before (one node per type). A node whose
 * health check fails is told so too. */
static void test_measure_unfit_cancel(void **state)
{
	static const char *const h100[1] = { "H100" };
	struct fx *f = *state;
	struct sent o1 = { 0 }, o2 = { 0 };
	struct conn *c = client(f), *a1 = agent_to(f, "n1", &o1), *a2 = agent_to(f, "n2", &o2);
	Hare__NodeHealth bad = HARE__NODE_HEALTH__INIT, good = HARE__NODE_HEALTH__INIT;

	bad.reason = "health check exited with status 1: GPU 0: fallen off the bus";
	good.ok = true;
	agent_register_ex(a1, h100, 1, true, true, NULL, 0);
	agent_register_ex(a2, h100, 1, true, true, NULL, 0);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	assert_int_equal(drain(f, c, "n1", true, "fans")->msg_case,
			 HARE__FROM_DAEMON__MSG_DRAIN_REPLY);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	assert_string_equal(out_cancel(&o1), "H100");
	heartbeat_health(a1, &good);
	heartbeat_health(a2, &good);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	profile_cancelled(a1, "H100");
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	/* n2's health check fails while it measures: told to stop too */
	heartbeat_health(a2, &bad);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	heartbeat_health(a2, &bad);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	/* healthy again when its rows come (made before the cancel reached
	 * it): they are not kept all the same, and it is asked again */
	heartbeat_health(a2, &good);
	profile_result(a2, "H100", true, 16);
	{
		char text[4096];

		assert_false(measured_file(f, text, sizeof(text)));
	}
	assert_int_equal(profile_gpu_type_find(f->d.prof, "H100"), ERR_UNKNOWN_GPU);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 2);
	conn_fake_free(a1);
	conn_fake_free(a2);
	conn_fake_free(c);
	sent_clear(&o1);
	sent_clear(&o2);
}

/* A node told to stop (here: it registers measuring a type the profile
 * has) is told once, whatever else would tell it (drained meanwhile). */
static void test_measure_cancel_once(void **state)
{
	static const char *const v100[1] = { "V100" };
	struct fx *f = *state;
	struct sent o1 = { 0 };
	struct conn *c = client(f), *a1 = agent_to(f, "n1", &o1);

	agent_register_ex(a1, v100, 1, true, true, v100, 1);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	assert_int_equal(drain(f, c, "n1", true, "fans")->msg_case,
			 HARE__FROM_DAEMON__MSG_DRAIN_REPLY);
	heartbeat_health(a1, NULL);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	conn_fake_free(a1);
	conn_fake_free(c);
	sent_clear(&o1);
}

/* When hared cannot take rows (here its measured file is a directory), the
 * type is not asked again, not even of a node that registers again; nodes
 * that still measure it, or register measuring it, are told to stop. */
static void test_measure_blocked(void **state)
{
	static const char *const gpus[1] = { "H100" };
	struct fx *f = *state;
	struct sent o = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct conn *a = agent_to(f, "n1", &o), *a2 = agent_to(f, "n2", &o2), *a3;
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", f->dir, MEASURE_FILE);
	assert_int_equal(mkdir(path, 0700), 0);
	agent_register_types(a, gpus, 1);
	assert_int_equal(out_count(&o, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	agent_register_ex(a2, gpus, 1, true, true, gpus, 1);	/* measures since before */
	log_level_set("fatal");	/* the failed save is logged */
	profile_result(a, "H100", true, 16);
	log_level_set("warn");
	assert_false(gpu_of(f, a, 0)->measuring);
	assert_int_equal(profile_gpu_type_find(f->d.prof, "H100"), ERR_UNKNOWN_GPU);
	assert_string_equal(out_cancel(&o2), "H100");
	profile_cancelled(a2, "H100");
	assert_false(gpu_of(f, a2, 0)->measuring);
	a3 = agent_to(f, "n3", &o3);
	agent_register_ex(a3, gpus, 1, true, true, gpus, 1);
	assert_string_equal(out_cancel(&o3), "H100");
	agent_register_types(a, gpus, 1);
	conn_fake_free(a);
	a = agent_to(f, "n1", &o);
	agent_register_types(a, gpus, 1);
	assert_int_equal(out_count(&o, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	assert_false(gpu_of(f, a, 0)->measuring);
	conn_fake_free(a);
	conn_fake_free(a2);
	conn_fake_free(a3);
	sent_clear(&o);
	sent_clear(&o2);
	sent_clear(&o3);
	rmdir(path);
}

/* Agents that take ProfileCancel are told to stop measuring a type that
 * needs it no more: once another node's rows are saved, when they register
 * still measuring a known type, and with measure_gpus = no. Their GPUs stay
 * out of plans until they answer (the worker has exited then); a cancelled
 * answer is no failure, and a result sent before the cancel arrived is
 * ignored. An agent that cannot be told is waited for. */
static void test_measure_cancel(void **state)
{
	static const char *const h100[1] = { "H100" }, *const lower[1] = { "h100" };
	static const char *const a100[1] = { "A100" };
	struct fx *f = *state;
	struct sent o1 = { 0 }, o2 = { 0 }, o3 = { 0 }, o4 = { 0 }, o5 = { 0 };
	struct conn *a1 = agent_to(f, "n1", &o1), *a2 = agent_to(f, "n2", &o2), *a3, *a4, *a5;
	char text[8192];
	const char *p;
	int saved = 0;

	/* n1 is asked; n2 measures since an earlier session of hared; old (no
	 * ProfileCancel) too */
	agent_register_ex(a1, h100, 1, true, true, NULL, 0);
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	agent_register_ex(a2, h100, 1, true, true, h100, 1);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	a5 = agent_to(f, "old", &o5);
	agent_register_ex(a5, h100, 1, true, false, h100, 1);
	assert_true(gpu_of(f, a1, 0)->measuring && gpu_of(f, a2, 0)->measuring);
	assert_true(gpu_of(f, a5, 0)->measuring);

	/* n1's rows: n2 is told to stop; its GPU is free once it answered */
	profile_result(a1, "H100", true, 16);
	assert_true(profile_gpu_type_find(f->d.prof, "H100") >= 0);
	assert_false(gpu_of(f, a1, 0)->measuring);
	assert_int_equal(out_count(&o2, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	assert_string_equal(out_cancel(&o2), "H100");
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 0);
	assert_int_equal(out_count(&o5, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 0);
	assert_true(gpu_of(f, a2, 0)->measuring);
	profile_cancelled(a2, "H100");
	assert_false(gpu_of(f, a2, 0)->measuring);
	/* the old agent is waited for; its rows are ignored, nothing saved twice */
	assert_true(gpu_of(f, a5, 0)->measuring);
	profile_result(a5, "H100", true, 16);
	assert_false(gpu_of(f, a5, 0)->measuring);
	assert_true(measured_file(f, text, sizeof(text)));
	for (p = text; (p = strstr(p, "# GPU type H100 measured")); p++)
		saved++;
	assert_int_equal(saved, 1);

	/* n3 registers still measuring the now known type (its spelling): told
	 * to stop, its GPU unused until it answers */
	a3 = agent_to(f, "n3", &o3);
	agent_register_ex(a3, lower, 1, true, true, lower, 1);
	assert_string_equal(out_cancel(&o3), "h100");
	assert_int_equal(out_count(&o3, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	assert_true(gpu_of(f, a3, 0)->measuring);
	/* its real result crossed the cancel: it frees the GPU too */
	profile_result(a3, "h100", true, 16);
	assert_false(gpu_of(f, a3, 0)->measuring);

	/* measure_gpus = no: nobody takes n4's rows for A100; its cancelled
	 * answer is taken quietly */
	f->d.cfg.measure_gpus = false;
	a4 = agent_to(f, "n4", &o4);
	agent_register_ex(a4, a100, 1, true, true, a100, 1);
	assert_string_equal(out_cancel(&o4), "A100");
	assert_int_equal(out_count(&o4, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	profile_cancelled(a4, "A100");
	assert_int_equal(a4->state, CONN_READY);
	f->d.cfg.measure_gpus = true;

	conn_fake_free(a1);
	conn_fake_free(a2);
	conn_fake_free(a3);
	conn_fake_free(a4);
	conn_fake_free(a5);
	sent_clear(&o1);
	sent_clear(&o2);
	sent_clear(&o3);
	sent_clear(&o4);
	sent_clear(&o5);
}

/* A node that registers measuring a type hared cannot take rows for (a
 * name no profile type can have, or one type too many) is told to stop. */
static void test_measure_cancel_untaken(void **state)
{
	/* too long for a profile type (a name with a blank is refused at
	 * registration: test_register_type_chars) */
	static const char *const bad[1] = { "NVIDIA-H100-80GB-HBM3" };
	static const char *const many_a[8] = { "X1", "X2", "X3", "X4", "X5", "X6", "X7", "X8" };
	static const char *const many_b[8] = { "X9", "X10", "X11", "X12", "X13", "X14", "X15", "X16" };
	static const char *const last[1] = { "X16" };
	struct fx *f = *state;
	struct sent o1 = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct conn *a1 = agent_to(f, "n1", &o1), *a2, *a3;
	uint32_t known = profile_gpu_type_count(f->d.prof);

	agent_register_ex(a1, bad, 1, true, true, bad, 1);
	assert_string_equal(out_cancel(&o1), "NVIDIA-H100-80GB-HBM3");
	assert_int_equal(out_count(&o1, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	/* the profile's types and 16 new ones: the last do not fit */
	assert_true(known + 16 > SCHED_MAX_TYPES && known + 8 <= SCHED_MAX_TYPES);
	a2 = agent_to(f, "n2", &o2);
	agent_register_ex(a2, many_a, 8, true, true, NULL, 0);
	a3 = agent_to(f, "n3", &o3);
	agent_register_ex(a3, many_b, 8, true, true, last, 1);
	assert_string_equal(out_cancel(&o3), "X16");
	assert_int_equal(out_count(&o3, HARE__FROM_DAEMON__MSG_PROFILE_CANCEL), 1);
	conn_fake_free(a1);
	conn_fake_free(a2);
	conn_fake_free(a3);
	sent_clear(&o1);
	sent_clear(&o2);
	sent_clear(&o3);
}

/* A cancelled answer for a type still unknown (an agent's own doing) is no
 * failure: the node is asked again, not passed over. */
static void test_measure_cancelled_unknown(void **state)
{
	static const char *const h100[1] = { "H100" };
	struct fx *f = *state;
	struct sent o = { 0 };
	struct conn *a = agent_to(f, "n1", &o);

	agent_register_ex(a, h100, 1, true, true, NULL, 0);
	assert_int_equal(out_count(&o, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 1);
	profile_cancelled(a, "H100");
	assert_int_equal(out_count(&o, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 2);
	assert_true(gpu_of(f, a, 0)->measuring);
	conn_fake_free(a);
	sent_clear(&o);
}

/* measure_models must name profile models; measure_gpus = no asks nothing. */
static void test_measure_config(void **state)
{
	static const char *const gpus[1] = { "H100" };
	struct fx *f = *state;
	struct measure *m = (struct measure *)&m;
	struct sent o = { 0 };
	struct conn *a;
	char err[256];

	snprintf(f->d.cfg.measure_models, sizeof(f->d.cfg.measure_models), "resnet50, nope");
	assert_int_equal(measure_new(&f->d, &m, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "measure_models: unknown model 'nope'"));
	snprintf(f->d.cfg.measure_models, sizeof(f->d.cfg.measure_models), "ResNet-50,lm");
	assert_int_equal(measure_new(&f->d, &m, err, sizeof(err)), 0);
	measure_free(f->d.measure);
	f->d.measure = m;
	a = agent_to(f, "n1", &o);
	agent_register_types(a, gpus, 1);
	assert_int_equal(out_request(&o)->n_models, 2);
	assert_string_equal(out_request(&o)->models[0], "resnet50");
	assert_string_equal(out_request(&o)->models[1], "lm");
	conn_fake_free(a);
	sent_clear(&o);

	f->d.cfg.measure_gpus = false;
	a = agent_to(f, "n2", &o);
	agent_register_types(a, gpus, 1);
	assert_int_equal(out_count(&o, HARE__FROM_DAEMON__MSG_PROFILE_REQUEST), 0);
	conn_fake_free(a);
	sent_clear(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_stats, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_cut, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_user, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_partial_frame_expires, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pending_caps, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pending_expires, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_agent_tags, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_agent_own_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tls_psk, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reload_keys_dir, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_private_data, fx_setup, fx_teardown),
		cmocka_unit_test(test_reserved_user_names),
		cmocka_unit_test_setup_teardown(test_user_session_cap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_drain, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_forget, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_usage, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reload_applies, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_show_command, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after_kinds, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_after, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_user_limits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_agent_session_ends, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_durable, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_start_committed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_end_committed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_not_saved, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_hold_durable, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_metrics, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_node_history, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_history, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failures_kept_across_restart, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_done_worker_after_restart, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_labels, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_tmp_replaced, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_show_last_error, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_logs_relay, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_submit_unprofiled_type, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_submit_check_only, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_submit_warning, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_unknown_type, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_node_fit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_unfit_cancel, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_cancel_once, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_config, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_old_agent_and_detach, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_blocked, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_cancel, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_cancelled_unknown, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_measure_cancel_untaken, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
