/* SPDX-License-Identifier: MIT */
/* The agent's unit tests' harness (agent_fake.h): a fake hared on loopback
 * that authenticates an agent as hared does (its tags and TLS checked with
 * OpenSSL directly), records what it hears and sends what a test asks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "err.h"

/* A fresh directory under $TMPDIR (or /tmp) into buf. */
void temp_dir(char *buf, size_t len, const char *what)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, len, "%s/hare-test-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", what);
	assert_non_null(mkdtemp(buf));
}

double now_s(void)
{
	return (double)uv_hrtime() * 1e-9;
}

void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* The whole (small) file into buf; "" when missing. */
void read_text(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, len - 1, fp) : 0;

	buf[n] = '\0';
	if (fp)
		fclose(fp);
}

/* The state letter of /proc/PID/stat ('Z' for a zombie), or 0. */
pid_t session_sleep(unsigned secs)
{
	char arg[16], path[64], comm[64] = "";
	double deadline = now_s() + 5;
	pid_t pid;

	snprintf(arg, sizeof(arg), "%u", secs);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setsid();
		execlp("sleep", "sleep", arg, (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	while (read_text(path, comm, sizeof(comm)), strcmp(comm, "sleep\n") != 0) {
		if (now_s() > deadline)
			fail_msg("pid %d did not run sleep within 5 s", (int)pid);
		usleep(10000);
	}
	return pid;
}

char proc_state(int pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static void fake_on_written(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
	free(req);
}

void fake_send(struct fake *f, const Hare__FromDaemon *m)
{
	uv_write_t *req = malloc(sizeof(*req));
	uint8_t *buf;
	size_t len;
	uv_buf_t b;

	assert_non_null(req);
	assert_int_equal(wire_encode_from_daemon(m, 0, &buf, &len), 0);
	if (!f->client_open) {
		free(buf);
		free(req);
		return;
	}
	if (f->sign) {
		/* HMAC(session, seq big-endian || payload) appended, by OpenSSL
		 * directly; the header counts it */
		size_t plen = len - WIRE_HEADER_LEN;
		uint8_t *msg = malloc(8 + plen), *out = realloc(buf, len + 32);
		unsigned int tl = 0;

		assert_non_null(msg);
		assert_non_null(out);
		buf = out;
		for (int i = 0; i < 8; i++)
			msg[i] = (uint8_t)(f->seq >> (56 - 8 * i));
		memcpy(msg + 8, buf + WIRE_HEADER_LEN, plen);
		HMAC(EVP_sha256(), f->session, 32, msg, 8 + plen, buf + len, &tl);
		free(msg);
		f->seq++;
		if (f->bad_tag)
			buf[len + 5] ^= 1;
		len += 32;
		plen += 32;
		buf[0] = (uint8_t)(plen >> 24);
		buf[1] = (uint8_t)(plen >> 16);
		buf[2] = (uint8_t)(plen >> 8);
		buf[3] = (uint8_t)plen;
	}
	if (f->tls) {
		assert_int_equal(tls_link_write(f->tls, buf, len), 0);
		free(buf);
		len = tls_link_pending(f->tls);
		buf = malloc(len);
		assert_non_null(buf);
		assert_int_equal(tls_link_take(f->tls, buf, len), len);
	}
	req->data = buf;
	b = uv_buf_init((char *)buf, (unsigned int)len);
	assert_int_equal(uv_write(req, (uv_stream_t *)&f->client, &b, 1, fake_on_written), 0);
}

/* What the TLS session has for the agent (its handshake, an alert). */
static void fake_tls_flush(struct fake *f)
{
	size_t len = tls_link_pending(f->tls);
	uv_write_t *req;
	uint8_t *buf;
	uv_buf_t b;

	if (len == 0)
		return;
	req = malloc(sizeof(*req));
	buf = malloc(len);
	assert_non_null(req);
	assert_non_null(buf);
	assert_int_equal(tls_link_take(f->tls, buf, len), len);
	req->data = buf;
	b = uv_buf_init((char *)buf, (unsigned int)len);
	assert_int_equal(uv_write(req, (uv_stream_t *)&f->client, &b, 1, fake_on_written), 0);
}

/* The fake's key for the node (tls_psk_find_cb). */
static int fake_tls_psk(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN])
{
	struct fake *f = user;

	assert_string_equal(identity, "test-node");
	return tls_psk_derive((const uint8_t *)f->key, strlen(f->key), identity, psk);
}

static void fake_on_client_closed(uv_handle_t *h)
{
	struct fake *f = h->data;

	f->client_open = false;
	wire_reader_destroy(&f->reader);
	tls_link_free(f->tls);
	f->tls = NULL;
}

void fake_drop(struct fake *f)
{
	if (f->client_open && !uv_is_closing((uv_handle_t *)&f->client))
		uv_close((uv_handle_t *)&f->client, fake_on_client_closed);
}

/* HMAC-SHA256(the fake's key, label NUL || agent_nonce || the fake's
 * nonce || "test-node"), as hared makes its proof and session keys, by
 * OpenSSL directly. */
static void fake_hmac(struct fake *f, const char *label, const uint8_t *agent_nonce,
		      uint8_t out[32])
{
	uint8_t msg[16 + 64 + 9];
	size_t ll = strlen(label) + 1;
	unsigned int len = 0;

	assert_true(ll <= 16);
	memcpy(msg, label, ll);
	memcpy(msg + ll, agent_nonce, 32);
	memcpy(msg + ll + 32, f->nonce, 32);
	memcpy(msg + ll + 64, "test-node", 9);
	assert_non_null(HMAC(EVP_sha256(), f->key, (int)strlen(f->key), msg, ll + 64 + 9, out, &len));
}

static void fake_on_hello(struct fake *f, const Hare__Hello *h)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Challenge c = HARE__CHALLENGE__INIT;
	uint8_t proof[32];

	assert_int_equal(h->version, HARE__VERSION__PROTOCOL_VERSION);
	assert_int_equal(h->role, HARE__ROLE__ROLE_AGENT);
	assert_string_equal(h->node, "test-node");
	assert_true(h->has_agent_nonce && h->agent_nonce.len == 32);
	assert_true(h->has_tags && h->tags);
	f->hellos++;
	f->sign = false;
	f->check = false;
	if (f->mute)
		return;
	for (size_t i = 0; i < sizeof(f->nonce); i++)
		f->nonce[i] = (uint8_t)(i * 7 + f->hellos);
	c.nonce.data = f->nonce;
	c.nonce.len = sizeof(f->nonce);
	/* hared's proof, with the fake's key, by OpenSSL directly; the
	 * session's key, for hared's frames after this one, and the agent's,
	 * for its frames */
	fake_hmac(f, f->untagged_proof ? "hared" : "hared+tags", h->agent_nonce.data, proof);
	fake_hmac(f, "session", h->agent_nonce.data, f->session);
	fake_hmac(f, "agent-session", h->agent_nonce.data, f->session_in);
	c.has_proof = !f->no_proof;
	c.proof.data = proof;
	c.proof.len = sizeof(proof);
	m.msg_case = HARE__FROM_DAEMON__MSG_CHALLENGE;
	m.challenge = &c;
	fake_send(f, &m);
	f->sign = c.has_proof;
	f->seq = 0;
	f->check = c.has_proof;
	f->seq_in = 0;
}

/* Checked with OpenSSL directly, not with the agent's own function. */
static void fake_on_auth(struct fake *f, const Hare__Auth *a)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Welcome w = HARE__WELCOME__INIT;
	Hare__Error e = HARE__ERROR__INIT;
	uint8_t msg[64], want[32];
	unsigned int len = 0;

	f->auths++;
	memcpy(msg, f->nonce, 32);
	memcpy(msg + 32, "test-node", 9);
	HMAC(EVP_sha256(), f->key, (int)strlen(f->key), msg, 41, want, &len);
	if (a->mac.len != 32 || memcmp(a->mac.data, want, 32) != 0) {
		f->auths_bad++;
		e.code = ERR_PROTO;
		e.message = "authentication failed";
		m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
		m.error = &e;
		fake_send(f, &m);
		fake_drop(f);
		return;
	}
	w.version = HARE__VERSION__PROTOCOL_VERSION;
	w.has_agent_id = true;
	w.agent_id = 7;
	m.msg_case = HARE__FROM_DAEMON__MSG_WELCOME;
	m.welcome = &w;
	fake_send(f, &m);
}

static void fake_on_register(struct fake *f, const Hare__Register *r)
{
	f->registers++;
	f->reg_msgs = f->nmsgs;
	f->reg_gpus = (uint32_t)r->n_gpus;
	/* hared waits this long for a stopped worker's exit */
	assert_true(r->has_stop_grace_ms);
	assert_int_equal(r->stop_grace_ms, f->cfg.stop_grace_ms);
	/* ... and this much longer for its processes to die of SIGKILL */
	assert_int_equal(r->has_unkillable_ms, f->cfg.unkillable_timeout_s > 0);
	assert_int_equal(r->unkillable_ms, f->cfg.unkillable_timeout_s * 1000);
	snprintf(f->reg_type0, sizeof(f->reg_type0), "%s", r->n_gpus ? r->gpus[0]->type : "");
	if (r->n_gpus)
		assert_true(r->gpus[0]->has_emulated && r->gpus[0]->emulated);
	assert_true(r->has_measures && r->measures);
	assert_true(r->has_profile_cancel && r->profile_cancel);
	f->reg_logs = r->has_logs && r->logs;
	f->reg_health = r->health ? r->health->ok : -1;
	snprintf(f->reg_reason, sizeof(f->reg_reason), "%s",
		 r->health && r->health->reason ? r->health->reason : "");
	f->reg_measuring[0] = '\0';
	for (size_t i = 0; i < r->n_measuring; i++)
		snprintf(f->reg_measuring + strlen(f->reg_measuring),
			 sizeof(f->reg_measuring) - strlen(f->reg_measuring), "%s%s", i ? "," : "",
			 r->measuring[i]);
	f->reg_running = r->n_running;
	f->reg_running_job = r->n_running ? r->running[0]->job_id : 0;
	if (r->n_running)
		f->reg_task0 = *r->running[0];
}

static void fake_on_message(struct fake *f, Hare__ToDaemon *m)
{
	switch (m->msg_case) {
	case HARE__TO_DAEMON__MSG_HELLO:
		fake_on_hello(f, m->hello);
		break;
	case HARE__TO_DAEMON__MSG_AUTH:
		fake_on_auth(f, m->auth);
		break;
	case HARE__TO_DAEMON__MSG_REGISTER:
		fake_on_register(f, m->register_);
		break;
	default:
		if (f->nmsgs < FAKE_MSGS_MAX) {
			f->msgs[f->nmsgs++] = m;
			return;
		}
		break;
	}
	hare__to_daemon__free_unpacked(m, NULL);
}

static void fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(suggested);
	buf->len = suggested;
}

static void fake_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fake *f = s->data;
	const uint8_t *p;
	size_t len;

	if (nread < 0) {
		fake_drop(f);
	} else if (nread > 0 && f->tls_start && (uint8_t)buf->base[0] == TLS_LINK_FIRST_BYTE &&
		   f->old_hared) {
		/* an older hared reads a TLS record as a frame far too large */
		static const Hare__Error e = { PROTOBUF_C_MESSAGE_INIT(&hare__error__descriptor),
					       ERR_FRAME_TOO_BIG, "frame larger than 65536 bytes" };
		Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;

		m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
		m.error = (Hare__Error *)&e;
		fake_send(f, &m);
		f->tls_failed++;
		fake_drop(f);
	} else if (nread > 0) {
		if (f->tls_start && (uint8_t)buf->base[0] == TLS_LINK_FIRST_BYTE)
			assert_int_equal(tls_link_server(fake_tls_psk, f, &f->tls), 0);
		f->tls_start = false;
		if (f->tls) {
			uint8_t plain[16384];
			bool was = tls_link_ready(f->tls);
			ssize_t r;

			assert_int_equal(tls_link_feed(f->tls, buf->base, (size_t)nread), 0);
			while ((r = tls_link_read(f->tls, plain, sizeof(plain))) > 0)
				assert_int_equal(wire_reader_feed(&f->reader, plain, (size_t)r), 0);
			f->tls_ok += !was && tls_link_ready(f->tls);
			fake_tls_flush(f);
			if (r == TLS_LINK_FAILED) {
				f->tls_failed++;
				fake_drop(f);
				free(buf->base);
				return;
			}
		} else {
			assert_int_equal(wire_reader_feed(&f->reader, buf->base, (size_t)nread), 0);
		}
		while (wire_reader_next(&f->reader, &p, &len) == 1) {
			Hare__ToDaemon *m = NULL;

			/* HMAC(agent's session, seq big-endian || payload) at its
			 * end, checked with OpenSSL directly */
			if (f->check) {
				uint8_t *msg = malloc(8 + len), want[32];
				unsigned int tl = 0;

				assert_non_null(msg);
				assert_true(len >= 32);
				len -= 32;
				for (int i = 0; i < 8; i++)
					msg[i] = (uint8_t)(f->seq_in >> (56 - 8 * i));
				memcpy(msg + 8, p, len);
				HMAC(EVP_sha256(), f->session_in, 32, msg, 8 + len, want, &tl);
				free(msg);
				assert_memory_equal(want, p + len, 32);
				f->seq_in++;
				f->tagged++;
			}
			assert_int_equal(wire_decode_to_daemon(p, len, &m), 0);
			fake_on_message(f, m);
		}
	}
	free(buf->base);
}

static void fake_on_connection(uv_stream_t *server, int status)
{
	struct fake *f = server->data;

	assert_int_equal(status, 0);
	assert_false(f->client_open);
	uv_tcp_init(&f->loop, &f->client);
	f->client.data = f;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&f->client), 0);
	f->client_open = true;
	f->check = false;	/* a new session: its Hello is not tagged */
	f->tls_start = true;
	wire_reader_init(&f->reader, 0);
	uv_read_start((uv_stream_t *)&f->client, fake_alloc, fake_on_read);
}

static void fake_on_tick(uv_timer_t *t)
{
	(void)t;
}

static void fake_on_agent_closed(void *user)
{
	struct fake *f = user;

	f->agent = NULL;
	f->closed = true;
}

void fake_agent_start(struct fake *f)
{
	uint8_t key[AGENT_KEY_MAX];
	size_t keylen;
	bool loose;
	char err[512], path[256];

	snprintf(path, sizeof(path), "%s/cluster.key", f->dir);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &keylen, &loose, err, sizeof(err)), 0);
	f->closed = false;
	assert_int_equal(agent_new(&f->loop, &f->cfg, key, keylen, &f->agent), 0);
	if (f->kill_hook)
		f->agent->kill_hook = f->kill_hook;
	assert_int_equal(agent_start(f->agent, err, sizeof(err)), 0);
}

/* Start the agent and wait for its first Register; its Auth and Register
 * carried its tags. */
void fake_agent_registered(struct fake *f)
{
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 1, 5);
	assert_true(f->tagged >= 2);
	/* in TLS, unless the test turned it off */
	assert_int_equal(f->tls_ok >= 1, f->cfg.tls);
	assert_int_equal(f->tls != NULL, f->cfg.tls);
}

void fake_agent_stop(struct fake *f)
{
	if (f->agent)
		agent_close(f->agent, fake_on_agent_closed, f);
	RUN_UNTIL(f, f->closed, 5);
}

struct fake *fake_new(const char *daemon_key, const char *gpus)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in addr;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char path[256], v[256], err[512];

	assert_non_null(f);
	temp_dir(f->dir, sizeof(f->dir), "agent");
	snprintf(path, sizeof(path), "%s/cluster.key", f->dir);
	write_file(path, TEST_KEY "\n", 0600);
	f->key = daemon_key;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_tcp_init(&f->loop, &f->server);
	f->server.data = f;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	assert_int_equal(uv_tcp_bind(&f->server, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->server, 8, fake_on_connection), 0);
	uv_tcp_getsockname(&f->server, (struct sockaddr *)&ss, &sslen);
	f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, fake_on_tick, 5, 5);

	agent_config_defaults(&f->cfg);
	snprintf(v, sizeof(v), "127.0.0.1:%u", f->port);
	assert_int_equal(agent_config_set(&f->cfg, "daemon", v, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "node", "test-node", err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "cluster_key_file", path, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "gpus", gpus, err, sizeof(err)), 0);
	snprintf(v, sizeof(v), "%s/work", f->dir);
	assert_int_equal(agent_config_set(&f->cfg, "work_dir", v, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "report_interval_ms", "50", err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "heartbeat_ms", "100", err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "stop_grace_ms", "300", err, sizeof(err)), 0);
	/* process groups only, unless a test asks for cgroups */
	assert_int_equal(agent_config_set(&f->cfg, "cgroup", "no", err, sizeof(err)), 0);
	assert_int_equal(agent_config_finish(&f->cfg, AGENT_BIN, err, sizeof(err)), 0);
	return f;
}

void fake_free(struct fake *f)
{
	char cmd[256];

	fake_agent_stop(f);
	fake_drop(f);
	uv_close((uv_handle_t *)&f->server, NULL);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (size_t i = 0; i < f->nmsgs; i++)
		hare__to_daemon__free_unpacked(f->msgs[i], NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

void fake_task_start(struct fake *f, const struct start_args *s)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__TaskStart t = HARE__TASK_START__INIT;

	t.job_id = s->job;
	t.lease_id = s->lease;
	t.model = (char *)(s->model ? s->model : "resnet50");
	t.rank = s->rank;
	t.world_size = s->world ? s->world : 1;
	t.gpu_index = s->gpu;
	t.tasks = 1;
	t.job_tasks = t.world_size;
	t.round_first = s->first;
	t.round_count = s->count;
	t.has_time_scale = true;
	t.time_scale = s->scale ? s->scale : 1;
	t.master_addr = "10.0.0.1";
	t.has_master_port = true;
	t.master_port = 29500;
	t.has_seed = true;
	t.seed = 42;
	t.command = (char *)s->command;
	t.proxy = (char *)s->proxy;
	t.user = (char *)s->user;
	t.node_gpus = (uint32_t *)s->node_gpus;
	t.n_node_gpus = s->n_node_gpus;
	if (s->round_s > 0) {
		t.has_round_s = t.has_compute_s = t.has_noise_cv = true;
		t.round_s = s->round_s;
		t.compute_s = 0.4 * s->round_s;
		t.noise_cv = 0.1;
	}
	t.has_restart_s = s->restart_s > 0;
	t.restart_s = s->restart_s;
	m.msg_case = HARE__FROM_DAEMON__MSG_TASK_START;
	m.task_start = &t;
	fake_send(f, &m);
}

void fake_task_stop(struct fake *f, uint64_t job, uint64_t lease)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__TaskStop s = HARE__TASK_STOP__INIT;

	s.job_id = job;
	s.lease_id = lease;
	s.reason = "preempted";
	m.msg_case = HARE__FROM_DAEMON__MSG_TASK_STOP;
	m.task_stop = &s;
	fake_send(f, &m);
}

const Hare__TaskExit *fake_exit(const struct fake *f, uint64_t job, uint64_t lease,
				uint32_t rank)
{
	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__TaskExit *e = f->msgs[i]->task_exit;

		if (f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_TASK_EXIT && e->job_id == job &&
		    e->lease_id == lease && e->rank == rank)
			return e;
	}
	return NULL;
}

/* What the daemon heard for one rank; checks that no report follows the exit. */
struct relayed fake_relayed(const struct fake *f, uint64_t job, uint64_t lease, uint32_t rank)
{
	struct relayed r = { .contiguous = true, .exit_after_reports = true, .loss = NAN };
	bool exited = false;

	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__ToDaemon *m = f->msgs[i];

		if (m->msg_case == HARE__TO_DAEMON__MSG_TASK_EXIT && m->task_exit->job_id == job &&
		    m->task_exit->lease_id == lease && m->task_exit->rank == rank)
			exited = true;
		if (m->msg_case != HARE__TO_DAEMON__MSG_ROUND_REPORT)
			continue;
		const Hare__RoundReport *p = m->round_report;

		if (p->job_id != job || p->lease_id != lease || p->rank != rank)
			continue;
		r.exit_after_reports &= !exited;
		r.contiguous &= r.reports == 0 || p->round_first == r.next;
		r.reports++;
		r.next = p->round_first + p->round_count;
		r.rounds += p->round_count;
		r.compute += p->compute_s;
		r.sync += p->sync_s;
		r.loss = p->has_loss ? p->loss : NAN;
	}
	return r;
}

int fake_heartbeats_running(const struct fake *f)
{
	int n = 0;

	for (size_t i = 0; i < f->nmsgs; i++)
		n += f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_HEARTBEAT &&
		     f->msgs[i]->heartbeat->n_running > 0;
	return n;
}

void fake_set(struct fake *f, const char *key, const char *value)
{
	char err[256];

	if (agent_config_set(&f->cfg, key, value, err, sizeof(err)) != 0)
		fail_msg("%s = %s: %s", key, value, err);
}

void fake_send_rdv(struct fake *f, uint64_t job, uint64_t lease, const uint8_t *data,
		   size_t len)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Rendezvous r = HARE__RENDEZVOUS__INIT;

	r.job_id = job;
	r.lease_id = lease;
	r.data.data = (uint8_t *)data;
	r.data.len = len;
	m.msg_case = HARE__FROM_DAEMON__MSG_RENDEZVOUS;
	m.rendezvous = &r;
	fake_send(f, &m);
}

/* A command that waits up to 5 s for the lease's id file, copies it (and its
 * path) to OUT and OUT.path, and ends with a done line. */
void rdv_reader_cmd(char *cmd, size_t len, const char *out)
{
	int n = snprintf(cmd, len,
		 "i=0; while [ ! -s \"$HARE_NCCL_ID_FILE\" ] && [ $i -lt 100 ]; do sleep 0.05; "
		 "i=$((i + 1)); done; echo \"$HARE_NCCL_ID_FILE\" > %s.path; "
		 "cat \"$HARE_NCCL_ID_FILE\" > %s.tmp && mv %s.tmp %s; printf 'done 0\\n' >&$HARE_REPORT_FD",
		 out, out, out, out);

	assert_true(n > 0 && (size_t)n < len);
}
