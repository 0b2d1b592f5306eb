/* SPDX-License-Identifier: MIT */
/* Fuzz target for hared's decoder and dispatcher: the input's first byte
 * picks a session (agent before Hello, agent authenticated or registered,
 * Unix or TCP client) and daemon state (jobs running before a restart), the
 * rest is a frame stream fed to that session on a connection without a
 * socket; with FZ_THEN_CLIENT an agent's stream is followed by a root Unix
 * client's (the second byte says where the stream splits, and whether the
 * agent's session ends first), so that a client acts on a node an agent
 * made. The store has GPU time of FZ_USERS users for harectl usage, whose
 * sums (on the thread pool) are answered before a session closes.
 * A TCP client's frames, and those of the root client after an agent, are
 * each handled in a loop iteration of their own (submissions committed
 * before the next frame), a Unix client's all in one.
 * Nothing may crash, and every reply must be a valid FromDaemon.
 * FZ_LOG=debug in the environment shows what the daemon did with an input. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clients.h"
#include "conn.h"
#include "dispatch.h"
#include "driver.h"
#include "err.h"
#include "frame.h"
#include "hared.h"
#include "log.h"
#include "measure.h"
#include "profile.h"
#include "store.h"

#include <sqlite3.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first byte of an input. */
enum {
	FZ_KIND = 3,		/* 0 agent, 1 agent authenticated, 2 Unix client, 3 TCP client */
	FZ_REGISTERED = 4,	/* kind 1: already registered with 4 V100; kind 0: keys
				 * of the nodes' own (fz_keys) and no cluster key;
				 * kinds 2, 3: private_data = jobs, usage, and the Unix
				 * client is user07, not root */
	FZ_RESTART = 8,		/* jobs loaded as after a restart: one RUNNING, one QUEUED */
	FZ_GRACE_END = 16,	/* end the adoption grace period after the stream */
	FZ_SMALL_FRAMES = 32,	/* max_frame 1024 */
	FZ_QUARANTINE = 64,	/* a worker failure quarantines its node (quarantine_jobs 1) */
	FZ_THEN_CLIENT = 128,	/* kinds 0, 1: then a root Unix client; the second byte:
				 * bit 7 the agent's session ends first, bits 0-6 the
				 * agent's share of the stream in 127ths */
};

#define FZ_NODE "fuzz-node"
#define FZ_RUNNING_JOB 1000001
#define FZ_QUEUED_JOB 1000002
#define FZ_USERS 40		/* users with GPU time in the store */

static const uint8_t fz_key[] = "fuzz-cluster-key-0123456789abcdef";
static const char fz_token[] = "fuzz-token";

static struct {
	bool ready;
	uv_loop_t loop;
	struct profile *prof;
	struct store *store;
	sqlite3 *db;		/* another connection: puts the store back after each input */
	char dir[64];
} fz;

/* A property the daemon promised does not hold: make the fuzzer report it. */
static void fz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* fz.dir/keys: NODE.key files of every kind auth_node_key_load meets:
 * a good one, one others may read, a link, a second name of another file
 * (hard-target), a folder, one too short; the seeds name them. */
static const char *const fz_key_names[] = { "fuzz-node", "loose-node", "link-node", "hard-node",
					    "dir-node", "short-node" };

static void fz_keys_make(void)
{
	char path[160], target[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys", fz.dir);
	fz_check(mkdir(path, 0700) == 0);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/keys/%s.key", fz.dir, fz_key_names[i]);
		f = fopen(path, "w");
		fz_check(f != NULL);
		fputs("fuzz-node-own-key-0123456789\n", f);
		fclose(f);
		fz_check(chmod(path, i ? 0644 : 0600) == 0);
	}
	snprintf(target, sizeof(target), "%s/keys/fuzz-node.key", fz.dir);
	snprintf(path, sizeof(path), "%s/keys/link-node.key", fz.dir);
	fz_check(symlink(target, path) == 0);
	snprintf(target, sizeof(target), "%s/keys/hard-target", fz.dir);
	f = fopen(target, "w");
	fz_check(f != NULL);
	fputs("fuzz-node-own-key-0123456789\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/keys/hard-node.key", fz.dir);
	fz_check(link(target, path) == 0);
	snprintf(path, sizeof(path), "%s/keys/dir-node.key", fz.dir);
	fz_check(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/keys/short-node.key", fz.dir);
	f = fopen(path, "w");
	fz_check(f != NULL);
	fputs("short\n", f);
	fclose(f);
}

static void fz_cleanup(void)
{
	char path[128];

	sqlite3_close(fz.db);
	store_close(fz.store);
	profile_free(fz.prof);
	uv_loop_close(&fz.loop);
	for (const char *const *s = (const char *const[]){ "", "-wal", "-shm", NULL }; *s; s++) {
		snprintf(path, sizeof(path), "%s/hare.db%s", fz.dir, *s);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(fz_key_names) / sizeof(fz_key_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/keys/%s.key", fz.dir, fz_key_names[i]);
		if (unlink(path) < 0)
			rmdir(path);
	}
	snprintf(path, sizeof(path), "%s/keys/hard-target", fz.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/keys", fz.dir);
	rmdir(path);
	rmdir(fz.dir);
}

static struct store_job fz_job(uint64_t id, enum store_job_state state);
static void fz_store_fill(const char *path);

/* Once per process: the profile, a store in a temp dir (with GPU time of
 * FZ_USERS users), a loop. */
static void fz_init(void)
{
	char err[256], path[128];

	if (fz.ready)
		return;
	log_level_set(getenv("FZ_LOG") ? getenv("FZ_LOG") : "error");
	fz_check(uv_loop_init(&fz.loop) == 0);
	fz_check(profile_load(HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR, &fz.prof, err,
			      sizeof(err)) == 0);
	snprintf(fz.dir, sizeof(fz.dir), "/tmp/hare-fuzz-dispatch-XXXXXX");
	fz_check(mkdtemp(fz.dir) != NULL);
	snprintf(path, sizeof(path), "%s/hare.db", fz.dir);
	fz_check(store_open(path, &fz.store, err, sizeof(err)) == 0);
	fz_store_fill(path);
	fz_keys_make();
	atexit(fz_cleanup);
	fz.ready = true;
}

/* harectl usage sums run on the thread pool: their replies, to the session
 * that asked, before it closes. */
static void fz_usage_drain(struct hared *d)
{
	while (d->usage_inflight > 0)
		uv_run(&fz.loop, UV_RUN_ONCE);
}

/* The store's GPU time: FZ_USERS users' jobs (ids 1 to FZ_USERS) with
 * leases of V100 and T4 over the last week. */
static void fz_store_fill(const char *path)
{
	double now = driver_now();

	for (int u = 0; u < FZ_USERS; u++) {
		struct store_job j = fz_job(0, STORE_DONE);

		snprintf(j.user, sizeof(j.user), "user%02d", u);
		fz_check(store_job_insert(fz.store, &j) == 0);
		for (uint64_t l = 1; l <= 3; l++) {
			fz_check(store_usage_start(fz.store, j.id, l, l == 2 ? "T4" : "V100",
						   (uint32_t)l, now - 86400.0 * (double)l) == 0);
			fz_check(store_usage_until(fz.store, j.id, l, now - 86400.0 * (double)l +
						   3600.0 * (u + 1)) == 0);
		}
	}
	fz_check(store_flush(fz.store) == 0);
	fz_check(sqlite3_open(path, &fz.db) == SQLITE_OK);
	sqlite3_busy_timeout(fz.db, 5000);
}

/* After an input: the store as fz_store_fill left it (what the input
 * wrote, committed or not, goes; job ids start again after the filled
 * ones), so that an input does the same alone as after others. */
static void fz_store_reset(void)
{
	char sql[400];

	store_flush(fz.store);
	snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; DELETE FROM usage WHERE job_id > %d;"
		 " DELETE FROM events; DELETE FROM jobs WHERE id > %d; DELETE FROM nodes;"
		 " DELETE FROM speeds; UPDATE sqlite_sequence SET seq = %d WHERE name = 'jobs';"
		 " COMMIT;", FZ_USERS, FZ_USERS, FZ_USERS);
	fz_check(sqlite3_exec(fz.db, sql, NULL, NULL, NULL) == SQLITE_OK);
}

/* Every frame the daemon sends must decode to a set envelope. */
static void fz_sink(void *user, const uint8_t *payload, size_t len)
{
	Hare__FromDaemon *m = NULL;

	fz_check(wire_decode_from_daemon(payload, len, &m) == 0);
	fz_check(m->msg_case != HARE__FROM_DAEMON__MSG__NOT_SET);
	hare__from_daemon__free_unpacked(m, NULL);
	(*(uint64_t *)user)++;
}

static struct store_job fz_job(uint64_t id, enum store_job_state state)
{
	struct store_job j;

	memset(&j, 0, sizeof(j));
	j.id = id;
	snprintf(j.user, sizeof(j.user), "root");
	snprintf(j.name, sizeof(j.name), "fuzz%llu", (unsigned long long)id);
	snprintf(j.model, sizeof(j.model), "resnet50");
	j.tasks = 2;
	j.min_gpus = 1;
	j.max_gpus = 2;
	j.rounds_total = 1000;
	j.rounds_done = state == STORE_RUNNING ? 10 : 0;
	j.weight = 1;
	j.state = state;
	j.submit_time = driver_now() - 60;
	j.start_time = state == STORE_RUNNING ? driver_now() - 30 : 0;
	j.loss = 1.0;
	return j;
}

static struct hared *fz_daemon(uint8_t mode)
{
	struct driver_opts o = { .policy = "hare", .time_scale = 1000, .replan_debounce_ms = 10,
				 .reconnect_grace_s = 5, .stop_grace_s = 1, .max_retries = 1 };
	struct hared *d = calloc(1, sizeof(*d));
	char err[256];

	fz_check(d != NULL);
	if (mode & FZ_QUARANTINE) {
		o.quarantine_jobs = 1;
		o.quarantine_users = 1;
		o.quarantine_max_nodes = 1;
	}
	d->loop = &fz.loop;
	hared_config_defaults(&d->cfg);
	if (mode & FZ_SMALL_FRAMES)
		d->cfg.max_frame = 1024;
	snprintf(d->cfg.state_dir, sizeof(d->cfg.state_dir), "%s", fz.dir);
	snprintf(d->cfg.profiles, sizeof(d->cfg.profiles), "%s",
		 HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR);
	d->prof = fz.prof;
	d->store = fz.store;
	memcpy(d->key, fz_key, sizeof(fz_key) - 1);
	d->keylen = sizeof(fz_key) - 1;
	memcpy(d->token, fz_token, sizeof(fz_token) - 1);
	d->tokenlen = sizeof(fz_token) - 1;
	fz_check(clients_pending_init(d) == 0);
	fz_check(driver_new(&fz.loop, &o, fz.prof, fz.store, conn_agent_send, d, &d->drv, err,
			    sizeof(err)) == 0);
	fz_check(measure_new(d, &d->measure, err, sizeof(err)) == 0);
	if (mode & FZ_RESTART) {
		struct store_job run = fz_job(FZ_RUNNING_JOB, STORE_RUNNING);
		struct store_job queued = fz_job(FZ_QUEUED_JOB, STORE_QUEUED);

		fz_check(driver_job_load(d->drv, &run) == 0);
		fz_check(driver_job_load(d->drv, &queued) == 0);
	}
	driver_start(d->drv);
	return d;
}

static void fz_daemon_free(struct hared *d)
{
	d->stopping = true;
	driver_close(d->drv);
	uv_run(&fz.loop, UV_RUN_DEFAULT);
	measure_free(d->measure);
	driver_free(d->drv);
	if (d->prof != fz.prof) {
		/* a measured type was saved and put to use (the shared profile
		 * was freed then): back to the shipped one for the next input */
		char err[256], path[160];

		profile_free(d->prof);
		snprintf(path, sizeof(path), "%s/%s", fz.dir, MEASURE_FILE);
		unlink(path);
		fz_check(profile_load(HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR, &fz.prof, err,
				      sizeof(err)) == 0);
	}
	clients_pending_free(d);
	fz_store_reset();
	free(d->conn_slots);
	free(d->agent_conn);
	free(d->paused);
	free(d);
}

/* An agent session past authentication (and Register with FZ_REGISTERED). */
static void fz_agent_bind(struct hared *d, struct conn *c, uint8_t mode)
{
	Hare__GpuInfo g[4], *gp[4];
	Hare__Register reg = HARE__REGISTER__INIT;
	char err[256];
	int id = driver_agent_attach(d->drv, FZ_NODE, "127.0.0.1");

	fz_check(id > 0);
	fz_check(conn_agent_bind(d, c, (uint32_t)id) == 0);
	snprintf(c->node, sizeof(c->node), FZ_NODE);
	c->state = CONN_AUTHED;
	if (!(mode & FZ_REGISTERED))
		return;
	for (uint32_t i = 0; i < 4; i++) {
		hare__gpu_info__init(&g[i]);
		g[i].index = i;
		g[i].type = i < 2 ? "V100" : "H100";	/* H100: one to measure */
		gp[i] = &g[i];
	}
	reg.n_gpus = 4;
	reg.gpus = gp;
	reg.has_measures = reg.measures = true;
	fz_check(driver_agent_register(d->drv, (uint32_t)id, &reg, err, sizeof(err)) == 0);
	c->state = CONN_READY;
	measure_on_register(d->measure, (uint32_t)id, &reg);
}

/* Feed the stream as the connection's reader would, until it closes.
 * each: every frame in a loop iteration of its own (submissions committed,
 * and the ends they cause, before the next frame: a job after one just
 * submitted, a cancel that takes such jobs along); else all in one. */
static void fz_feed(struct conn *c, const uint8_t *data, size_t size, bool each)
{
	const uint8_t *p;
	size_t n;
	int rc = wire_reader_feed(&c->rd, data, size);

	while (c->state != CONN_CLOSING) {
		int got = wire_reader_next(&c->rd, &p, &n);

		if (got <= 0)
			break;
		fz_check(n <= c->d->cfg.max_frame);
		dispatch_frame(c, p, n);
		if (each) {
			clients_commit(c->d);
			driver_ends_commit(c->d->drv);
		}
	}
	if (rc < 0 && c->state != CONN_CLOSING)
		conn_fail(c, rc, "frame larger than max_frame");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum conn_kind kinds[] = { CONN_AGENT, CONN_AGENT, CONN_CLIENT_UNIX,
						CONN_CLIENT_TCP };
	uint8_t mode = size ? data[0] : 0;
	bool then_client = (mode & FZ_THEN_CLIENT) && (mode & FZ_KIND) <= 1 && size > 2;
	const uint8_t *stream = size > 1 ? data + 1 : data;
	size_t nstream = size > 1 ? size - 1 : 0, split = nstream;
	uint64_t sent = 0;
	struct hared *d;
	struct conn *c;

	fz_init();
	d = fz_daemon(mode);
	fz_check(conn_fake_new(d, kinds[mode & FZ_KIND], fz_sink, &sent, &c) == 0);
	if ((mode & FZ_KIND) == 1)
		fz_agent_bind(d, c, mode);
	if ((mode & FZ_KIND) == 0 && (mode & FZ_REGISTERED)) {
		snprintf(d->cfg.agent_keys_dir, sizeof(d->cfg.agent_keys_dir), "%s/keys", fz.dir);
		d->keylen = 0;
	}
	if ((mode & FZ_KIND) >= 2 && (mode & FZ_REGISTERED)) {
		snprintf(d->cfg.private_data, sizeof(d->cfg.private_data), "jobs, usage");
		if ((mode & FZ_KIND) == 2) {
			snprintf(c->user, sizeof(c->user), "user07");
			c->admin = false;
		}
	}
	if (then_client) {
		stream = data + 2;
		nstream = size - 2;
		split = (size_t)(data[1] & 0x7f) * nstream / 127;
	}
	/* a TCP client's frames each in a loop iteration, a Unix client's
	 * all in one (one group commit) */
	if (split > 0)
		fz_feed(c, stream, split, (mode & FZ_KIND) == 3);
	if (then_client) {
		struct conn *cl;

		clients_commit(d);
		if (data[1] & 0x80) {
			conn_fake_free(c);	/* the agent is gone */
			c = NULL;
		}
		fz_check(conn_fake_new(d, CONN_CLIENT_UNIX, fz_sink, &sent, &cl) == 0);
		if (nstream > split)
			fz_feed(cl, stream + split, nstream - split, true);
		clients_commit(d);
		fz_usage_drain(d);
		conn_fake_free(cl);
	}
	/* What the loop would do next: commit submissions, end the grace
	 * period, let every deadline pass, close the session. */
	clients_commit(d);
	if (mode & FZ_GRACE_END)
		driver_grace_end(d->drv);
	driver_deadlines_run(d->drv, driver_now() + 1e6);
	fz_usage_drain(d);
	if (c)
		conn_fake_free(c);
	driver_deadlines_run(d->drv, driver_now() + 2e6);
	for (uint32_t i = 0; i < driver_job_count(d->drv); i++) {
		const struct drv_job *j = driver_job_at(d->drv, i);

		fz_check(j->rec.rounds_done <= j->rec.rounds_total);
		fz_check(j->lease.hold_until == 0);	/* its agent is gone for good */
	}
	fz_daemon_free(d);
	return 0;
}
