/* SPDX-License-Identifier: MIT */
/* Load on hared over loopback: fake agents (raw protocol) flood round
 * reports for the leases the daemon gives them, while a client measures
 * request latency, as older agents (frames untagged, in the clear), as
 * agents that tag their frames (each checked by hared) in the clear, and
 * as agents of this version (tagged, in TLS), each against a hared of its
 * own; then concurrent clients submit jobs (each acknowledged only once
 * durable). Prints a table of rates and latency percentiles. */
#include <sys/random.h>
#include "auth.h"
#include "auth_hmac.h"
#include "client.h"
#include "err.h"
#include "frame.h"
#include "tls_link.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_GPUS 64
#define BENCH_BATCH 256		/* reports written per send() */

struct bench_opts {
	const char *hared;
	const char *log_level;	/* hared's */
	bool keep;		/* keep the temp dir (config, hared.log) */
	uint32_t clients, agents, gpus;
	double seconds;
};

struct bench {
	struct bench_opts o;
	char dir[64], sock[128];
	int agent_port;
	pid_t pid;
	uint8_t key[AUTH_SECRET_MAX];
	size_t keylen;
};

/* Latencies of one thread (milliseconds). */
struct lat {
	double *v;
	size_t n, cap;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		double *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double lat_pct(struct lat *l, double p)
{
	if (l->n == 0)
		return NAN;
	qsort(l->v, l->n, sizeof(double), cmp_double);
	return l->v[(size_t)ceil(p * (double)l->n) - (p > 0)];
}

static void lat_merge(struct lat *into, const struct lat *from)
{
	for (size_t i = 0; i < from->n; i++)
		lat_add(into, from->v[i]);
}

/* ---- the daemon under test ---- */

static int bench_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static int bench_config(struct bench *b)
{
	char path[128], text[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/key", b->dir);
	fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, b->key, 32) != 32)
		return -EIO;
	close(fd);
	for (int i = 0; i < 32; i++)
		b->key[i] = (uint8_t)("abcdefghijklmnopqrstuvwxyz012345"[b->key[i] % 32]);
	b->keylen = 32;
	b->key[32] = '\0';
	if (bench_write(path, (char *)b->key) < 0)
		return -EIO;
	snprintf(b->sock, sizeof(b->sock), "%s/hared.sock", b->dir);
	snprintf(text, sizeof(text),
		 "[daemon]\nagent_listen = 127.0.0.1:0\nclient_socket = %s\nstate_dir = %s/state\n"
		 "cluster_key_file = %s/key\nprofiles = %s/workloads/profiles\nport_file = %s/ports\n"
		 "log_level = %s\nheartbeat_timeout_s = 600\n",
		 b->sock, b->dir, b->dir, HARE_SOURCE_DIR, b->dir, b->o.log_level);
	snprintf(path, sizeof(path), "%s/hared.conf", b->dir);
	return bench_write(path, text);
}

static int bench_port_read(struct bench *b)
{
	char path[128];
	FILE *f;
	int port = -1;

	snprintf(path, sizeof(path), "%s/ports", b->dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "agent_port=%d", &port) != 1)
		port = -1;
	fclose(f);
	return port;
}

static int bench_start(struct bench *b)
{
	char conf[128], log[128];

	snprintf(b->dir, sizeof(b->dir), "/tmp/hare-bench-XXXXXX");
	if (!mkdtemp(b->dir) || bench_config(b) < 0)
		return -EIO;
	snprintf(conf, sizeof(conf), "%s/hared.conf", b->dir);
	snprintf(log, sizeof(log), "%s/hared.log", b->dir);
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (b->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(b->o.hared, "hared", "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		b->agent_port = bench_port_read(b);
		if (b->agent_port > 0)
			return 0;
		usleep(20000);
	}
	return -ETIMEDOUT;
}

static void bench_stop(struct bench *b)
{
	char cmd[160];
	int status;

	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		if (waitpid(b->pid, &status, 0) == b->pid &&
		    (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
			fprintf(stderr, "daemon_load: hared did not exit cleanly (status %#x); "
				"its log:\n", status);
			snprintf(cmd, sizeof(cmd), "tail -20 '%s/hared.log' >&2", b->dir);
			if (system(cmd) != 0)
				fprintf(stderr, "daemon_load: no log\n");
		}
		b->pid = 0;	/* a second stop signals nothing */
	}
	if (b->o.keep) {
		printf("kept %s\n", b->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "daemon_load: could not remove %s\n", b->dir);
}

/* ---- clients ---- */

static struct cli_conn *client_open(const struct bench *b)
{
	struct cli_target t = { .socket_path = b->sock, .timeout_ms = 10000 };
	struct cli_conn *c = NULL;
	char err[256];

	if (cli_client_connect(&t, &c, err, sizeof(err)) < 0)
		fprintf(stderr, "daemon_load: %s\n", err);
	return c;
}

/* Submit one job; its id in *id. */
static int client_submit(struct cli_conn *fd, const char *model, uint32_t tasks, uint64_t rounds, uint64_t *id)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Submit s = HARE__SUBMIT__INIT;
	Hare__JobSpec spec = HARE__JOB_SPEC__INIT;
	Hare__FromDaemon *r = NULL;
	char err[256];
	int rc;

	spec.model = (char *)model;
	spec.tasks = tasks;
	spec.rounds = rounds;
	s.spec = &spec;
	m.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	m.submit = &s;
	rc = cli_client_request(fd, &m, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY, 30000, &r, err,
				sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "daemon_load: submit: %s\n", err);
		return rc;
	}
	*id = r->submit_reply->job_id;
	hare__from_daemon__free_unpacked(r, NULL);
	return 0;
}

/* Sum of rounds_done over jobs with id >= first (a QueueRequest). */
static int client_rounds(struct cli_conn *fd, uint64_t first, uint64_t *sum)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;
	Hare__FromDaemon *r = NULL;
	char err[256];
	int rc;

	m.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	m.queue = &q;
	rc = cli_client_request(fd, &m, HARE__FROM_DAEMON__MSG_QUEUE_REPLY, 30000, &r, err,
				sizeof(err));
	if (rc < 0)
		return rc;
	*sum = 0;
	for (size_t i = 0; i < r->queue_reply->n_jobs; i++)
		if (r->queue_reply->jobs[i]->job_id >= first)
			*sum += r->queue_reply->jobs[i]->rounds_done;
	hare__from_daemon__free_unpacked(r, NULL);
	return 0;
}

static int client_show(struct cli_conn *fd, uint64_t id)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ShowRequest s = HARE__SHOW_REQUEST__INIT;
	Hare__FromDaemon *r = NULL;
	char err[256];
	int rc;

	s.job_id = id;
	m.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	m.show = &s;
	rc = cli_client_request(fd, &m, HARE__FROM_DAEMON__MSG_SHOW_REPLY, 30000, &r, err,
				sizeof(err));
	if (rc == 0)
		hare__from_daemon__free_unpacked(r, NULL);
	return rc;
}

/* ---- fake agents ---- */

struct lease {
	uint64_t job, lease, next;
};

struct agent {
	pthread_t th;
	const struct bench *b;
	uint32_t idx;
	int fd;
	struct wire_reader rd;
	uint32_t nleases;
	struct lease leases[BENCH_MAX_GPUS];
	atomic_bool *go;
	double until;
	uint64_t sent;
	int rc;
	bool tags;			/* tags its frames (Hello.tags), as hare-agent does */
	bool tls;			/* in TLS, as hare-agent is */
	struct tls_link *link;
	char node[32];
	uint8_t wire[16384];		/* ciphertext on its way out or in */
	bool tagging;			/* past the Challenge: frames tagged both ways */
	struct auth_hmac_key *key_in, *key_out;
	uint64_t seq_in, seq_out;
};

/* The tag of a frame (header and payload at buf, payload n bytes) after
 * it, the header counting it; the frame's new length. */
static size_t agent_tag(struct agent *a, uint8_t *buf, size_t n)
{
	size_t tagged = n + AUTH_HMAC_LEN;

	auth_hmac_frame(a->key_out, a->seq_out++, buf + WIRE_HEADER_LEN, n,
			buf + WIRE_HEADER_LEN + n);
	buf[0] = (uint8_t)(tagged >> 24);
	buf[1] = (uint8_t)(tagged >> 16);
	buf[2] = (uint8_t)(tagged >> 8);
	buf[3] = (uint8_t)tagged;
	return WIRE_HEADER_LEN + tagged;
}

static int agent_send_raw(struct agent *a, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(a->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			off += (size_t)n;
	}
	return 0;
}

/* What the TLS session has for hared, sent. */
static int agent_tls_flush(struct agent *a)
{
	size_t n;
	int rc = 0;

	while (rc == 0 && (n = tls_link_take(a->link, a->wire, sizeof(a->wire))) > 0)
		rc = agent_send_raw(a, a->wire, n);
	return rc;
}

/* len bytes of frames to hared: encrypted in TLS. */
static int agent_out(struct agent *a, const uint8_t *buf, size_t len)
{
	if (!a->link)
		return agent_send_raw(a, buf, len);
	if (tls_link_write(a->link, buf, len) < 0)
		return -EIO;
	return agent_tls_flush(a);
}

/* Some bytes from hared (blocking): decrypted in TLS. */
static ssize_t agent_in(struct agent *a, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t n, r;

		if (!a->link) {
			n = recv(a->fd, buf, cap, 0);
			return n < 0 ? -errno : n;
		}
		r = tls_link_read(a->link, buf, cap);
		if (r > 0 || r < 0)
			return r > 0 ? r : -EIO;
		n = recv(a->fd, a->wire, sizeof(a->wire), 0);
		if (n <= 0)
			return n < 0 ? -errno : 0;
		if (tls_link_feed(a->link, a->wire, (size_t)n) < 0)
			return -ENOMEM;
	}
}

/* The TLS handshake, keyed for the node as hare-agent keys it. */
static int agent_tls_begin(struct agent *a)
{
	uint8_t psk[TLS_PSK_LEN];

	if (tls_psk_derive(a->b->key, a->b->keylen, a->node, psk) < 0 ||
	    tls_link_client(a->node, psk, &a->link) < 0)
		return -EIO;
	while (!tls_link_ready(a->link)) {
		ssize_t n;

		if (tls_link_read(a->link, NULL, 0) < 0 || agent_tls_flush(a) < 0)
			return -EIO;
		if (tls_link_ready(a->link))
			break;
		n = recv(a->fd, a->wire, sizeof(a->wire), 0);
		if (n <= 0 || tls_link_feed(a->link, a->wire, (size_t)n) < 0)
			return -ECONNRESET;
	}
	return 0;
}

static int agent_send(struct agent *a, const Hare__ToDaemon *m)
{
	uint8_t *buf = NULL, *t;
	size_t len;
	int rc = wire_encode_to_daemon(m, 0, &buf, &len);

	if (rc == 0 && a->tagging) {
		t = realloc(buf, len + AUTH_HMAC_LEN);
		if (!t) {
			free(buf);
			return -ENOMEM;
		}
		buf = t;
		len = agent_tag(a, buf, len - WIRE_HEADER_LEN);
	}
	if (rc == 0)
		rc = agent_out(a, buf, len);
	free(buf);
	return rc;
}

/* Next envelope from the daemon (blocking). */
static int agent_recv(struct agent *a, Hare__FromDaemon **out)
{
	uint8_t buf[65536];
	const uint8_t *p;
	size_t len;

	for (;;) {
		int rc = wire_reader_next(&a->rd, &p, &len);
		ssize_t n;

		if (rc == 1 && a->tagging) {
			if (!auth_hmac_frame_ok(a->key_in, a->seq_in++, p, len))
				return -EBADMSG;
			len -= AUTH_HMAC_LEN;
		}
		if (rc == 1)
			return wire_decode_from_daemon(p, len, out);
		if (rc < 0)
			return rc;
		n = agent_in(a, buf, sizeof(buf));
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		rc = wire_reader_feed(&a->rd, buf, (size_t)n);
		if (rc < 0)
			return rc;
	}
}

/* Hello, Challenge, Auth, Welcome, Register. */
static int agent_join(struct agent *a)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;
	Hare__Auth au = HARE__AUTH__INIT;
	Hare__Register reg = HARE__REGISTER__INIT;
	Hare__GpuInfo g[BENCH_MAX_GPUS], *gp[BENCH_MAX_GPUS];
	Hare__FromDaemon *r = NULL;
	uint8_t mac[AUTH_MAC_LEN], an[AUTH_HMAC_NONCE];
	const char *node = a->node;
	int rc;

	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_AGENT;
	h.node = (char *)node;
	if (a->tags) {
		if (getrandom(an, sizeof(an), 0) != (ssize_t)sizeof(an))
			return -EIO;
		h.has_agent_nonce = h.has_tags = h.tags = true;
		h.agent_nonce.data = an;
		h.agent_nonce.len = sizeof(an);
	}
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	rc = agent_send(a, &m);
	if (rc == 0)
		rc = agent_recv(a, &r);
	if (rc < 0 || r->msg_case != HARE__FROM_DAEMON__MSG_CHALLENGE)
		return rc < 0 ? rc : ERR_PROTO;
	auth_mac_compute(a->b->key, a->b->keylen, r->challenge->nonce.data, r->challenge->nonce.len,
			 node, mac);
	/* the session's keys (hared's proof is not checked: a bench) */
	if (a->tags) {
		uint8_t in[AUTH_HMAC_LEN], out[AUTH_HMAC_LEN];

		if (r->challenge->nonce.len != AUTH_HMAC_NONCE ||
		    auth_hmac_session(a->b->key, a->b->keylen, an, r->challenge->nonce.data, node,
				      in) < 0 ||
		    auth_hmac_agent_session(a->b->key, a->b->keylen, an, r->challenge->nonce.data,
					    node, out) < 0 ||
		    auth_hmac_key_new(in, &a->key_in) < 0 || auth_hmac_key_new(out, &a->key_out) < 0) {
			hare__from_daemon__free_unpacked(r, NULL);
			return -EIO;
		}
	}
	a->tagging = a->tags;
	hare__from_daemon__free_unpacked(r, NULL);
	au.mac.data = mac;
	au.mac.len = sizeof(mac);
	m.msg_case = HARE__TO_DAEMON__MSG_AUTH;
	m.auth = &au;
	rc = agent_send(a, &m);
	if (rc == 0)
		rc = agent_recv(a, &r);
	if (rc < 0 || r->msg_case != HARE__FROM_DAEMON__MSG_WELCOME)
		return rc < 0 ? rc : ERR_PROTO;
	hare__from_daemon__free_unpacked(r, NULL);
	for (uint32_t i = 0; i < a->b->o.gpus; i++) {
		hare__gpu_info__init(&g[i]);
		g[i].index = i;
		g[i].type = "V100";
		gp[i] = &g[i];
	}
	reg.n_gpus = a->b->o.gpus;
	reg.gpus = gp;
	m.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	m.register_ = &reg;
	return agent_send(a, &m);
}

/* Wait for one TaskStart per GPU and remember the leases. */
static int agent_leases(struct agent *a)
{
	while (a->nleases < a->b->o.gpus) {
		Hare__FromDaemon *r = NULL;
		int rc = agent_recv(a, &r);

		if (rc < 0)
			return rc;
		if (r->msg_case == HARE__FROM_DAEMON__MSG_TASK_START) {
			struct lease *l = &a->leases[a->nleases++];

			l->job = r->task_start->job_id;
			l->lease = r->task_start->lease_id;
			l->next = r->task_start->round_first;
		}
		hare__from_daemon__free_unpacked(r, NULL);
	}
	return 0;
}

/* Pack a batch of reports (one round each, in order per lease). */
static size_t agent_batch(struct agent *a, uint8_t *buf, size_t cap)
{
	Hare__RoundReport rr = HARE__ROUND_REPORT__INIT;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	size_t off = 0;

	m.msg_case = HARE__TO_DAEMON__MSG_ROUND_REPORT;
	m.round_report = &rr;
	rr.round_count = 1;
	rr.compute_s = 0.2;
	rr.sync_s = 0.01;
	rr.has_loss = true;
	for (uint32_t i = 0; i < BENCH_BATCH; i++) {
		struct lease *l = &a->leases[i % a->nleases];
		size_t n;

		rr.job_id = l->job;
		rr.lease_id = l->lease;
		rr.round_first = l->next++;
		rr.loss = 1.0 / (double)(rr.round_first + 1);
		n = hare__to_daemon__get_packed_size(&m);
		if (off + WIRE_HEADER_LEN + n + AUTH_HMAC_LEN > cap)
			break;
		buf[off] = (uint8_t)(n >> 24);
		buf[off + 1] = (uint8_t)(n >> 16);
		buf[off + 2] = (uint8_t)(n >> 8);
		buf[off + 3] = (uint8_t)n;
		hare__to_daemon__pack(&m, buf + off + WIRE_HEADER_LEN);
		off += a->tagging ? agent_tag(a, buf + off, n) : WIRE_HEADER_LEN + n;
		a->sent++;
	}
	return off;
}

static int agent_flood(struct agent *a)
{
	uint8_t scratch[4096], buf[BENCH_BATCH * (64 + AUTH_HMAC_LEN)];

	while (!atomic_load(a->go))
		usleep(1000);
	while (now_s() < a->until) {
		size_t len = agent_batch(a, buf, sizeof(buf));
		int rc = agent_out(a, buf, len);

		if (rc < 0)
			return rc;
		/* The daemon sends nothing here; drain whatever it does (in TLS
		 * unread: the session is not read again). */
		while (recv(a->fd, scratch, sizeof(scratch), MSG_DONTWAIT) > 0)
			;
	}
	return 0;
}

static void *agent_main(void *p)
{
	struct agent *a = p;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(a->b->agent_port),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	int one = 1;

	wire_reader_init(&a->rd, 0);
	a->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (a->fd < 0 || connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		a->rc = -errno;
		return NULL;
	}
	setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	snprintf(a->node, sizeof(a->node), "bench%u", a->idx);
	a->rc = a->tls ? agent_tls_begin(a) : 0;
	if (a->rc == 0)
		a->rc = agent_join(a);
	if (a->rc == 0)
		a->rc = agent_leases(a);
	if (a->rc == 0)
		a->rc = agent_flood(a);
	return NULL;
}

/* ---- submit clients ---- */

struct submitter {
	pthread_t th;
	const struct bench *b;
	double until;
	uint64_t done;
	struct lat lat;
	int rc;
};

static void *submitter_main(void *p)
{
	struct submitter *s = p;
	struct cli_conn *fd = client_open(s->b);

	if (!fd) {
		s->rc = -ECONNREFUSED;
		return NULL;
	}
	while (now_s() < s->until) {
		double t0 = now_s();
		uint64_t id;

		s->rc = client_submit(fd, "resnet18", 2, 1000, &id);
		if (s->rc < 0)
			break;
		lat_add(&s->lat, (now_s() - t0) * 1e3);
		s->done++;
	}
	cli_client_close(fd);
	return NULL;
}

/* ---- phases ---- */

/* Jobs for every fake GPU (one task, endless), then the agents that get them. */
/* How the fake agents talk: as older agents, tagging in the clear, or as
 * hare-agent of this version does (tagging, in TLS). */
enum agent_kind { AGENT_UNTAGGED, AGENT_TAGGED, AGENT_TLS };

static int agents_start(struct bench *b, struct cli_conn *fd, struct agent *ag, atomic_bool *go,
			enum agent_kind kind, uint64_t *first)
{
	uint64_t id;
	int rc = 0;

	*first = 0;
	for (uint32_t i = 0; i < b->o.agents * b->o.gpus && rc == 0; i++) {
		rc = client_submit(fd, "resnet18", 1, 1000000000000ull, &id);
		*first = *first ? *first : id;
	}
	for (uint32_t i = 0; i < b->o.agents && rc == 0; i++) {
		ag[i] = (struct agent){ .b = b, .idx = i, .go = go, .tags = kind != AGENT_UNTAGGED,
					.tls = kind == AGENT_TLS };
		rc = -pthread_create(&ag[i].th, NULL, agent_main, &ag[i]);
	}
	return rc;
}

/* Join the agents; the reports they sent. Their sessions stay open: a
 * closed one would take its node down and re-plan while reports of other
 * agents are still waiting to be read. */
static uint64_t agents_join(struct bench *b, struct agent *ag)
{
	uint64_t sent = 0;

	for (uint32_t i = 0; i < b->o.agents; i++) {
		pthread_join(ag[i].th, NULL);
		sent += ag[i].sent;
		if (ag[i].rc < 0)
			fprintf(stderr, "daemon_load: agent %u: %s\n", i, err_str(ag[i].rc));
	}
	return sent;
}

static void agents_close(struct bench *b, struct agent *ag)
{
	for (uint32_t i = 0; i < b->o.agents; i++) {
		if (ag[i].fd > 0)
			close(ag[i].fd);
		wire_reader_destroy(&ag[i].rd);
		auth_hmac_key_free(ag[i].key_in);
		auth_hmac_key_free(ag[i].key_out);
		tls_link_free(ag[i].link);
	}
}

/* Agents flood reports; meanwhile one client times ShowRequests. The rate
 * is what the daemon counted (one round per report) over the time it took
 * to count them all. */
static int phase_reports(struct bench *b, enum agent_kind kind, double *rate)
{
	struct agent *ag = calloc(b->o.agents, sizeof(*ag));
	struct lat show = { 0 };
	atomic_bool go = false;
	uint64_t first = 0, sent, seen = 0;
	double t0, t1, deadline;
	struct cli_conn *fd = client_open(b);

	if (!ag || !fd || agents_start(b, fd, ag, &go, kind, &first) < 0)
		return -EIO;
	usleep(500000);	/* registrations, the plan, TaskStarts */
	t0 = now_s();
	for (uint32_t i = 0; i < b->o.agents; i++)
		ag[i].until = t0 + b->o.seconds;
	atomic_store(&go, true);
	while (now_s() < t0 + b->o.seconds) {
		double s0 = now_s();

		if (client_show(fd, first) < 0)
			break;
		lat_add(&show, (now_s() - s0) * 1e3);
		usleep(2000);
	}
	sent = agents_join(b, ag);
	deadline = now_s() + 60;
	while (now_s() < deadline && client_rounds(fd, first, &seen) == 0 && seen < sent)
		usleep(5000);
	t1 = now_s();
	*rate = (double)seen / (t1 - t0);
	printf("%-34s %12.0f  (%llu reports in %.2f s, %llu counted)\n",
	       kind == AGENT_TLS ? "round reports/s, agents in TLS" : kind == AGENT_TAGGED ?
	       "round reports/s, tagged agents" : "round reports/s, untagged agents", *rate,
	       (unsigned long long)sent, t1 - t0, (unsigned long long)seen);
	printf("%-34s %12.3f / %.3f ms  (%zu requests)\n", "show latency p50 / p99 under reports",
	       lat_pct(&show, 0.5), lat_pct(&show, 0.99), show.n);
	agents_close(b, ag);
	free(ag);
	free(show.v);
	cli_client_close(fd);
	return seen == sent ? 0 : -EIO;
}

static int phase_submits(struct bench *b)
{
	struct submitter *s = calloc(b->o.clients, sizeof(*s));
	struct lat all = { 0 };
	uint64_t done = 0;
	double t0 = now_s(), t1;
	int rc = 0;

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->o.clients; i++) {
		s[i] = (struct submitter){ .b = b, .until = t0 + b->o.seconds };
		pthread_create(&s[i].th, NULL, submitter_main, &s[i]);
	}
	for (uint32_t i = 0; i < b->o.clients; i++) {
		pthread_join(s[i].th, NULL);
		done += s[i].done;
		lat_merge(&all, &s[i].lat);
		free(s[i].lat.v);
		if (s[i].rc < 0)
			rc = s[i].rc;
	}
	t1 = now_s();
	printf("%-34s %12.0f  (%llu jobs, %u clients, %.2f s)\n", "submits/s (durable)",
	       (double)done / (t1 - t0), (unsigned long long)done, b->o.clients, t1 - t0);
	printf("%-34s %12.3f / %.3f ms\n", "submit latency p50 / p99", lat_pct(&all, 0.5),
	       lat_pct(&all, 0.99));
	free(all.v);
	free(s);
	return rc;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: daemon_load [--hared PATH] [--clients N] [--agents N] [--gpus N]\n"
		   "                   [--seconds S] [--keep] [--log-level LEVEL]\n"
		   "Starts hared in a temp dir and measures round reports/s from N fake agents\n"
		   "(each with --gpus leases), request latency under that load, then durable\n"
		   "submits/s from --clients concurrent clients. Defaults: the hared of this\n"
		   "build tree, 32 clients, 8 agents x 8 GPUs, 3 s per phase.\n");
}

static int opts_parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lo[] = {
		{ "hared", required_argument, NULL, 'd' }, { "clients", required_argument, NULL, 'c' },
		{ "agents", required_argument, NULL, 'a' }, { "gpus", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ "keep", no_argument, NULL, 'k' }, { "log-level", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	static char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 32);
	int c;

	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		strcat(self, "/../../daemon/hared");
	}
	*o = (struct bench_opts){ .hared = self, .log_level = "warn", .clients = 32, .agents = 8,
				  .gpus = 8, .seconds = 3 };
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->hared = optarg; break;
		case 'c': o->clients = (uint32_t)atoi(optarg); break;
		case 'a': o->agents = (uint32_t)atoi(optarg); break;
		case 'g': o->gpus = (uint32_t)atoi(optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'k': o->keep = true; break;
		case 'l': o->log_level = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (o->clients < 1 || o->agents < 1 || o->gpus < 1 || o->gpus > BENCH_MAX_GPUS ||
	    !(o->seconds > 0)) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	double plain = 0, tagged = 0, tls = 0;
	int rc;

	if (opts_parse(argc, argv, &b.o) < 0)
		return 2;
	if (access(b.o.hared, X_OK) < 0) {
		fprintf(stderr, "daemon_load: %s: not found (build hared or pass --hared)\n", b.o.hared);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = bench_start(&b);
	if (rc < 0) {
		fprintf(stderr, "daemon_load: cannot start hared: %s\n", err_str(rc));
		bench_stop(&b);
		return 1;
	}
	printf("hared load on loopback: %u fake agents x %u GPUs, %u submit clients, %.1f s phases\n",
	       b.o.agents, b.o.gpus, b.o.clients, b.o.seconds);
	printf("%-34s %12s\n", "metric", "value");
	/* older agents, agents that tag, and agents in TLS, each with a hared
	 * of its own */
	rc = phase_reports(&b, AGENT_UNTAGGED, &plain);
	bench_stop(&b);
	if (rc == 0)
		rc = bench_start(&b);
	if (rc == 0)
		rc = phase_reports(&b, AGENT_TAGGED, &tagged);
	bench_stop(&b);
	if (rc == 0)
		rc = bench_start(&b);
	if (rc == 0)
		rc = phase_reports(&b, AGENT_TLS, &tls);
	if (rc == 0)
		printf("%-34s %12.3f\n%-34s %12.3f\n", "tagged / untagged reports/s", tagged / plain,
		       "TLS / tagged reports/s", tls / tagged);
	if (rc == 0)
		rc = phase_submits(&b);
	bench_stop(&b);
	if (rc < 0)
		fprintf(stderr, "daemon_load: %s\n", err_str(rc));
	return rc < 0 ? 1 : 0;
}
