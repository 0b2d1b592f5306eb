/* SPDX-License-Identifier: MIT */
/* Fuzz target for hare-agent's side of the protocol: the frames hared sends
 * (Challenge, Welcome, TaskStart, TaskStop, Rendezvous, ProfileRequest,
 * ProfileCancel, LogFetch, Error) and the task
 * state files a restarted agent adopts. The first byte picks where the
 * session starts and what the work directory holds; the rest is a frame
 * stream fed to a real agent whose link has no socket and whose workers
 * (hare-worker --profile included) are not processes (the test seams in
 * agent_impl.h). Nothing may crash, every
 * frame the agent sends must be a valid ToDaemon, and the properties below
 * must hold. FZ_LOG=debug in the environment shows what the agent did. */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_impl.h"
#include "auth_hmac.h"
#include "frame.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first byte of an input. */
enum {
	FZ_START = 3,		/* 0 Hello sent, 1 Auth sent, 2 and 3 registered */
	FZ_ADOPT = 4,		/* bytes 1-2 (big-endian) give a length N; the next N
				 * bytes are task state files, split at '\f' */
	FZ_PIPES = 8,		/* adopted tasks 1.1.0 and 1.1.1 have live report pipes */
	FZ_EXIT = 16,		/* after the stream, started workers exit and the
				 * adopted ones close their pipes; measurements
				 * exit one after the other */
	FZ_LINES = 32,		/* started workers write round, rendezvous, done
				 * lines; measurements print their rows */
	FZ_CPU = 64,		/* worker_engine = cpu, profile_unknown = yes */
	FZ_SMALL_FRAMES = 128,	/* max_frame 4096; measurements print a bad row */
};

#define FZ_NODE "fuzz-node"
#define FZ_WORKER "/nonexistent/hare-worker"
#define FZ_STATE_FILES 8
#define FZ_KEYS_MAX 4096

static const uint8_t fz_key[] = "fuzz-cluster-key-0123456789abcdef";
static const char *const fz_pipes[] = { "1.1.0", "1.1.1" };

struct fz_key3 {
	uint64_t job, lease;
	uint32_t rank;
};

static struct {
	bool ready;
	uv_loop_t loop;
	struct agent_config cfg;
	char dir[160];
	char tasks[176];
	uint8_t mode;
	struct agent *agent;
	bool closed;
	int pipe_fd[2];
	uint64_t spawned;
	/* what the stream holds, read on its own */
	struct fz_key3 starts[FZ_KEYS_MAX], stops[FZ_KEYS_MAX];
	size_t nstarts, nstops;
	/* TaskExits sent */
	struct fz_key3 exits[FZ_KEYS_MAX];
	size_t nexits;
	/* ProfileRequest types in the stream (as the agent keeps them) */
	char types[FZ_KEYS_MAX][AGENT_NAME_MAX];
	size_t ntypes;
	uint64_t profiled;	/* hare-worker --profile "processes" started */
	bool profiling;		/* one of them has not exited yet */
	uint64_t seq_out;	/* the agent's tagged frames this session */
} fz;

/* A property the agent promised does not hold: make the fuzzer report it. */
static void fz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

static bool fz_key_in(const struct fz_key3 *v, size_t n, uint64_t job, uint64_t lease,
		      const uint32_t *rank)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].job == job && v[i].lease == lease && (!rank || v[i].rank == *rank))
			return true;
	}
	return false;
}

static void fz_key_add(struct fz_key3 *v, size_t *n, uint64_t job, uint64_t lease, uint32_t rank)
{
	if (*n < FZ_KEYS_MAX)
		v[(*n)++] = (struct fz_key3){ job, lease, rank };
}

static void fz_clean_one(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* The task state files and the workers' output files (work_dir/logs). */
static void fz_clean_dir(void)
{
	char logs[200];

	snprintf(logs, sizeof(logs), "%s/logs", fz.dir);
	fz_clean_one(fz.tasks);
	fz_clean_one(logs);
}

static void fz_cleanup(void)
{
	char logs[200], lock[200];

	snprintf(logs, sizeof(logs), "%s/logs", fz.dir);
	snprintf(lock, sizeof(lock), "%s/agent.lock", fz.dir);
	fz_clean_dir();
	rmdir(fz.tasks);
	rmdir(logs);
	unlink(lock);	/* the agent's work_dir lock, left as any agent leaves it */
	rmdir(fz.dir);
	uv_loop_close(&fz.loop);
}

static void fz_set(const char *key, const char *value)
{
	char err[256];

	fz_check(agent_config_set(&fz.cfg, key, value, err, sizeof(err)) == 0);
}

/* Once per process: a loop, a work directory, the configuration. */
static void fz_init(void)
{
	char err[256];

	if (fz.ready)
		return;
	log_level_set(getenv("FZ_LOG") ? getenv("FZ_LOG") : "error");
	signal(SIGPIPE, SIG_IGN);
	fz_check(uv_loop_init(&fz.loop) == 0);
	snprintf(fz.dir, sizeof(fz.dir), "%s/hare-fuzz-agentmsg-XXXXXX",
		 getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
	fz_check(mkdtemp(fz.dir) != NULL);
	snprintf(fz.tasks, sizeof(fz.tasks), "%s/tasks", fz.dir);
	agent_config_defaults(&fz.cfg);
	/* never contacted: the link has no socket */
	fz_set("daemon", "127.0.0.1:1");
	fz_set("node", FZ_NODE);
	fz_set("cluster_key_file", "/nonexistent/cluster.key");
	fz_set("gpus", "V100:2,T4:1");
	fz_set("worker", FZ_WORKER);
	fz_set("work_dir", fz.dir);
	fz_set("stop_grace_ms", "100");
	fz_set("profile_iters", "2");
	/* as root, TaskStart.user would start workers as real accounts */
	fz_set("run_as_owner", "no");
	/* no cgroup for each run (a folder and a probe process per input):
	 * adopted tasks' cgroup= lines are read and checked all the same */
	fz_set("cgroup", "no");
	fz_check(agent_config_finish(&fz.cfg, NULL, err, sizeof(err)) == 0);
	atexit(fz_cleanup);
	fz.ready = true;
}

static const struct agent_task *fz_task_find(uint64_t job, uint64_t lease, uint32_t rank)
{
	for (const struct agent_task *t = fz.agent->tasks; t; t = t->next) {
		if (t->job_id == job && t->lease_id == lease && t->rank == rank &&
		    t->phase != TASK_GONE)
			return t;
	}
	return NULL;
}

static void fz_check_exit(const Hare__TaskExit *e)
{
	fz_check(e->status == HARE__TASK_STATUS__TASK_OK ||
		 e->status == HARE__TASK_STATUS__TASK_FAILED ||
		 e->status == HARE__TASK_STATUS__TASK_STOPPED);
	fz_check(e->message != NULL);
	/* one exit per task, and only for a task the agent held */
	fz_check(!fz_key_in(fz.exits, fz.nexits, e->job_id, e->lease_id, &e->rank));
	fz_check(fz_task_find(e->job_id, e->lease_id, e->rank) != NULL);
	fz_key_add(fz.exits, &fz.nexits, e->job_id, e->lease_id, e->rank);
}

static bool fz_type_requested(const char *type)
{
	for (size_t i = 0; i < fz.ntypes; i++) {
		if (strcmp(fz.types[i], type) == 0)
			return true;
	}
	return false;
}

static bool fz_type_on_node(const char *type)
{
	for (uint32_t i = 0; i < fz.cfg.ngpus; i++) {
		if (strcmp(fz.cfg.gpus[i].type, type) == 0)
			return true;
	}
	return false;
}

/* A result answers a request of the stream; rows only with ok, measured
 * only where measuring is on (the fuzzer's GPUs are emulated). */
static void fz_check_profile(const Hare__ProfileResult *r)
{
	fz_check(strlen(r->gpu_type) < AGENT_NAME_MAX && fz_type_requested(r->gpu_type));
	if (!r->ok) {
		fz_check(r->n_rows == 0 && r->message && r->message[0]);
		return;
	}
	fz_check((fz.mode & FZ_CPU) && fz_type_on_node(r->gpu_type));
	fz_check(r->n_rows > 0 && !r->message);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *w = r->rows[i];

		fz_check(w->model[0] && strlen(w->model) < AGENT_NAME_MAX);
		fz_check(w->workers >= 1 && w->workers <= 128);
		fz_check(strcmp(w->placement, "consolidated") == 0 ||
			 strcmp(w->placement, "spread") == 0);
		fz_check(isfinite(w->compute_s) && w->compute_s > 0);
		fz_check(isfinite(w->sync_s) && w->sync_s >= 0);
		fz_check(w->source && strlen(w->source) < AGENT_NAME_MAX);
	}
}

static void fz_check_register(const Hare__Register *r)
{
	fz_check(r->n_gpus == fz.cfg.ngpus);
	fz_check(r->n_running == agent_tasks_live(fz.agent));
	for (size_t i = 0; i < r->n_running; i++)
		fz_check(fz_task_find(r->running[i]->job_id, r->running[i]->lease_id,
				      r->running[i]->rank) != NULL);
}

/* Every frame the agent sends must be one whole, valid ToDaemon. */
static void fz_sink(void *user, const uint8_t *frame, size_t len)
{
	Hare__ToDaemon *m = NULL;
	size_t n;

	(void)user;
	fz_check(fz.agent != NULL);	/* nothing is sent once the agent closed */
	fz_check(len >= WIRE_HEADER_LEN);
	n = (size_t)frame[0] << 24 | (size_t)frame[1] << 16 | (size_t)frame[2] << 8 | frame[3];
	fz_check(n == len - WIRE_HEADER_LEN);
	/* after the Challenge each ends with the agent's tag, counted from 0 */
	if (fz.agent->signed_out) {
		uint8_t want[AUTH_HMAC_LEN];

		fz_check(n >= AUTH_HMAC_LEN);
		n -= AUTH_HMAC_LEN;
		fz_check(auth_hmac_frame(fz.agent->mac_out, fz.seq_out++, frame + WIRE_HEADER_LEN,
					 n, want) == 0);
		fz_check(memcmp(want, frame + WIRE_HEADER_LEN + n, AUTH_HMAC_LEN) == 0);
	} else {
		fz.seq_out = 0;
	}
	fz_check(wire_decode_to_daemon(frame + WIRE_HEADER_LEN, n, &m) == 0);
	switch (m->msg_case) {
	case HARE__TO_DAEMON__MSG_HELLO:
		fz_check(strcmp(m->hello->node, FZ_NODE) == 0);
		break;
	case HARE__TO_DAEMON__MSG_AUTH:
		fz_check(m->auth->mac.len == AGENT_MAC_LEN);
		break;
	case HARE__TO_DAEMON__MSG_REGISTER:
		fz_check_register(m->register_);
		break;
	case HARE__TO_DAEMON__MSG_ROUND_REPORT:
		fz_check(m->round_report->round_count > 0);
		break;
	case HARE__TO_DAEMON__MSG_TASK_EXIT:
		fz_check_exit(m->task_exit);
		break;
	case HARE__TO_DAEMON__MSG_RENDEZVOUS:
		fz_check(m->rendezvous->data.len >= 1 && m->rendezvous->data.len <= RDV_DATA_MAX);
		break;
	case HARE__TO_DAEMON__MSG_PROFILE_RESULT:
		fz_check_profile(m->profile_result);
		break;
	case HARE__TO_DAEMON__MSG_HEARTBEAT:
		break;
	case HARE__TO_DAEMON__MSG_LOG_DATA:
		/* the end of a file of this node, never more than 1 MiB of it */
		if (m->log_data->part) {
			const Hare__LogPart *p = m->log_data->part;

			fz_check(strcmp(p->node, FZ_NODE) == 0);
			fz_check(p->data.len <= (1u << 20) && p->data.len <= p->size);
		}
		break;
	default:
		fz_check(0);	/* nothing a client would send */
	}
	hare__to_daemon__free_unpacked(m, NULL);
}

/* A started worker's lines, written before the agent reads its pipe: two
 * rounds, rank 0's rendezvous in a lease of several ranks, done. */
static void fz_worker_lines(const struct agent_task *t, int fd)
{
	struct report_line l[3] = {
		{ .kind = REPORT_ROUND, .first = t->round_first, .count = 2, .compute_s = 0.5,
		  .sync_s = 0.1, .loss = 1.5 },
		{ .kind = REPORT_RENDEZVOUS, .rdv_len = 16 },
		{ .kind = REPORT_DONE, .rounds = 2 },
	};
	char buf[3 * REPORT_LINE_MAX];
	size_t n = 0;

	memcpy(l[1].rdv, &t->job_id, 8);
	memcpy(l[1].rdv + 8, &t->lease_id, 8);
	for (int i = 0; i < 3; i++) {
		int k;

		if (i == 1 && (t->world_size < 2 || t->rank != 0))
			continue;
		k = report_line_format(&l[i], buf + n, sizeof(buf) - n);
		if (k > 0)	/* a round line past the last round number is not */
			n += (size_t)k;
	}
	fz_check(write(fd, buf, n) == (ssize_t)n);	/* far below the pipe's buffer */
}

static bool fz_env_has(char **env, const char *prefix)
{
	for (; *env; env++) {
		if (strncmp(*env, prefix, strlen(prefix)) == 0)
			return true;
	}
	return false;
}

/* Instead of uv_spawn: what would run must be a checked TaskStart's worker. */
static int fz_spawn(struct agent_task *t, const uv_process_options_t *o)
{
	char job[64];

	fz_check(t->gpu_index < fz.cfg.ngpus);
	fz_check(t->world_size > 0 && t->rank < t->world_size && t->tasks > 0);
	fz_check(fz_key_in(fz.starts, fz.nstarts, t->job_id, t->lease_id, &t->rank));
	fz_check(o->file && o->args && o->args[0] && strcmp(o->file, o->args[0]) == 0);
	fz_check(strcmp(o->file, FZ_WORKER) == 0 || strcmp(o->file, "/bin/sh") == 0);
	fz_check(strcmp(o->cwd, fz.cfg.work_dir) == 0);
	fz_check(o->stdio_count == 4 && o->stdio[3].flags == UV_INHERIT_FD);
	snprintf(job, sizeof(job), "HARE_JOB_ID=%llu", (unsigned long long)t->job_id);
	fz_check(fz_env_has(o->env, job));
	if (fz.mode & FZ_LINES)
		fz_worker_lines(t, o->stdio[3].data.fd);
	fz.spawned++;
	return 0;
}

static const char *fz_arg(char **args, const char *prefix)
{
	for (; *args; args++) {
		if (strncmp(*args, prefix, strlen(prefix)) == 0)
			return *args + strlen(prefix);
	}
	return NULL;
}

/* What hare-worker --profile prints for a model: a comment, its 16 rows
 * (one of them bad with FZ_SMALL_FRAMES). */
static void fz_profile_rows(const char *model, const char *type, int fd)
{
	char buf[16 * 200 + 64];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "# fuzz\n\n");

	for (int i = 0; i < 16; i++) {
		int w = (fz.mode & FZ_SMALL_FRAMES) && i == 2 ? 0 : 1 << (i / 2);

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s,%s,%d,%s,%g,%g,measured/nccl\n",
				      model, type, w, i % 2 ? "spread" : "consolidated",
				      0.25 / (i + 1), 0.01 * i);
	}
	fz_check(write(fd, buf, n) == (ssize_t)n);	/* far below the pipe's buffer */
}

/* Instead of uv_spawn of hare-worker --profile: one at a time, for a type
 * of this node where measuring is on, with the flags and environment
 * documented. */
static int fz_profile_spawn(struct agent *a, const uv_process_options_t *o)
{
	const char *model = fz_arg(o->args, "--model="), *type = fz_arg(o->args, "--gpu-type=");

	fz_check(a == fz.agent && !fz.profiling);
	fz_check(fz.mode & FZ_CPU);
	fz_check(strcmp(o->file, FZ_WORKER) == 0 && strcmp(o->args[0], FZ_WORKER) == 0);
	fz_check(strcmp(o->args[1], "--profile") == 0);
	fz_check(model && model[0] && type && fz_type_on_node(type) && fz_type_requested(type));
	fz_check(fz_arg(o->args, "--engine=cpu") && fz_arg(o->args, "--profile-iters=2"));
	fz_check(!(o->flags & UV_PROCESS_DETACHED));
	fz_check(strcmp(o->cwd, fz.cfg.work_dir) == 0);
	fz_check(o->stdio_count == 3 && o->stdio[1].flags == UV_INHERIT_FD);
	fz_check(fz_env_has(o->env, "CUDA_DEVICE_ORDER=PCI_BUS_ID"));
	fz_check(fz_arg(o->env, "CUDA_VISIBLE_DEVICES=") && !fz_arg(o->env, "CUDA_VISIBLE_DEVICES=")[0]);
	fz_check(!fz_env_has(o->env, "HARE_"));
	if (fz.mode & FZ_LINES)
		fz_profile_rows(model, type, o->stdio[1].data.fd);
	fz.profiling = true;
	fz.profiled++;
	return 0;
}

/* Instead of kill(2): only workers asked to stop are signalled, never the
 * agent's own group or every process. */
static int fz_kill(pid_t pid, int sig)
{
	pid_t p = pid < 0 ? -pid : pid;
	bool found = false;

	fz_check(pid != 0 && pid != -1 && pid != 1);
	fz_check(sig == SIGTERM || sig == SIGKILL);
	for (const struct agent_task *t = fz.agent->tasks; t; t = t->next)
		found |= t->pid == p && t->stop_requested;
	fz_check(found);
	return 0;
}

/* The stream read on its own: which tasks were started and stopped. */
static void fz_scan(const uint8_t *data, size_t size)
{
	struct wire_reader r;
	const uint8_t *p;
	size_t n;

	fz.nstarts = fz.nstops = fz.ntypes = 0;
	wire_reader_init(&r, fz.cfg.max_frame);
	if (wire_reader_feed(&r, data, size) < 0)
		size = 0;
	while (wire_reader_next(&r, &p, &n) == 1) {
		Hare__FromDaemon *m = NULL;

		if (wire_decode_from_daemon(p, n, &m) < 0)
			break;
		if (m->msg_case == HARE__FROM_DAEMON__MSG_PROFILE_REQUEST && fz.ntypes < FZ_KEYS_MAX)
			snprintf(fz.types[fz.ntypes++], AGENT_NAME_MAX, "%s",
				 m->profile_request->gpu_type);
		if (m->msg_case == HARE__FROM_DAEMON__MSG_TASK_START)
			fz_key_add(fz.starts, &fz.nstarts, m->task_start->job_id,
				   m->task_start->lease_id, m->task_start->rank);
		else if (m->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP)
			fz_key_add(fz.stops, &fz.nstops, m->task_stop->job_id,
				   m->task_stop->lease_id, 0);
		hare__from_daemon__free_unpacked(m, NULL);
	}
	wire_reader_destroy(&r);
}

/* The i-th state file's path: named for the task its text describes (the
 * first job=, lease= and rank= lines), as the agent names it and only then
 * adopts it; sI.task, which the agent sets aside, when it names none. */
static void fz_state_name(const uint8_t *p, size_t n, int i, char *path, size_t len)
{
	char text[1024];
	unsigned long long job, lease;
	unsigned rank;
	const char *pj, *pl, *pr;

	snprintf(text, sizeof(text), "\n%.*s", (int)(n < sizeof(text) - 2 ? n : sizeof(text) - 2),
		 (const char *)p);
	pj = strstr(text, "\njob=");
	pl = strstr(text, "\nlease=");
	pr = strstr(text, "\nrank=");
	if (pj && pl && pr && sscanf(pj + 5, "%llu", &job) == 1 &&
	    sscanf(pl + 7, "%llu", &lease) == 1 && sscanf(pr + 6, "%u", &rank) == 1)
		snprintf(path, len, "%s/%llu.%llu.%u.task", fz.tasks, job, lease, rank);
	else
		snprintf(path, len, "%s/s%d.task", fz.tasks, i);
}

/* State files as a previous agent would have left them (or damaged). */
static size_t fz_write_state(const uint8_t *data, size_t size)
{
	size_t len, off = 0;
	char path[256];

	if (size < 2)
		return size;
	len = (size_t)data[0] << 8 | data[1];
	if (len > size - 2)
		len = size - 2;
	for (int i = 0; i < FZ_STATE_FILES && off <= len; i++) {
		const uint8_t *p = data + 2 + off;
		const uint8_t *ff = memchr(p, '\f', len - off);
		size_t n = ff ? (size_t)(ff - p) : len - off;
		FILE *f;

		fz_state_name(p, n, i, path, sizeof(path));
		f = fopen(path, "w");
		fz_check(f != NULL);
		fz_check(fwrite(p, 1, n, f) == n || n == 0);
		fclose(f);
		off += n + 1;
	}
	return 2 + len;
}

/* FIFOs of two adopted workers, held open for writing as a live worker would. */
static void fz_make_pipes(void)
{
	char path[256];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.fifo", fz.tasks, fz_pipes[i]);
		fz_check(mkfifo(path, 0600) == 0);
		fz.pipe_fd[i] = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		fz_check(fz.pipe_fd[i] >= 0);
	}
}

/* Feed one frame's payload as hared would send it: with the session's tag
 * once the agent expects one. */
static void fz_payload(const uint8_t *p, size_t n)
{
	size_t tag = fz.agent->signed_in ? AUTH_HMAC_LEN : 0, len = WIRE_HEADER_LEN + n + tag;
	uint8_t *buf = malloc(len);

	fz_check(buf != NULL);
	buf[0] = (uint8_t)((n + tag) >> 24);
	buf[1] = (uint8_t)((n + tag) >> 16);
	buf[2] = (uint8_t)((n + tag) >> 8);
	buf[3] = (uint8_t)(n + tag);
	memcpy(buf + WIRE_HEADER_LEN, p, n);
	if (tag)
		fz_check(auth_hmac_frame(fz.agent->mac_in, fz.agent->seq_in, p, n,
					 buf + WIRE_HEADER_LEN + n) == 0);
	agent_link_feed(fz.agent, buf, len);
	free(buf);
}

static void fz_frame(const Hare__FromDaemon *m)
{
	uint8_t *buf;
	size_t len;

	fz_check(wire_encode_from_daemon(m, 0, &buf, &len) == 0);
	fz_payload(buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN);
	free(buf);
}

/* The fuzzer's bytes as frames, each tagged as hared would (so what the
 * agent does with them is what is fuzzed, not the tag check); bytes that
 * do not make a whole frame are fed as they are. */
static void fz_feed(const uint8_t *data, size_t size)
{
	struct wire_reader r;
	const uint8_t *p;
	size_t n, used = 0;

	wire_reader_init(&r, fz.cfg.max_frame);
	if (wire_reader_feed(&r, data, size) < 0) {
		wire_reader_destroy(&r);
		agent_link_feed(fz.agent, data, size);
		return;
	}
	while (fz.agent->state != LINK_CLOSING && fz.agent->state != LINK_IDLE &&
	       wire_reader_next(&r, &p, &n) == 1) {
		used += WIRE_HEADER_LEN + n;
		fz_payload(p, n);
	}
	wire_reader_destroy(&r);
	if (used < size && fz.agent->state != LINK_CLOSING && fz.agent->state != LINK_IDLE)
		agent_link_feed(fz.agent, data + used, size - used);
}

/* The handshake as hared would answer the Hello, its proof made with the
 * agent's key and nonce. */
static void fz_handshake(uint8_t start)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Challenge c = HARE__CHALLENGE__INIT;
	Hare__Welcome w = HARE__WELCOME__INIT;
	uint8_t nonce[32] = { 1, 2, 3 }, proof[32], msg[11 + 64 + 64];
	size_t nodelen = strlen(FZ_NODE);
	unsigned int len = 0;

	if (start == 0)
		return;
	c.nonce.data = nonce;
	c.nonce.len = sizeof(nonce);
	memcpy(msg, "hared+tags", 11);
	memcpy(msg + 11, fz.agent->hello_nonce, 32);
	memcpy(msg + 43, nonce, 32);
	memcpy(msg + 75, FZ_NODE, nodelen);
	fz_check(HMAC(EVP_sha256(), fz.agent->key, (int)fz.agent->keylen, msg, 75 + nodelen, proof,
		      &len) != NULL);
	c.has_proof = true;
	c.proof.data = proof;
	c.proof.len = sizeof(proof);
	m.msg_case = HARE__FROM_DAEMON__MSG_CHALLENGE;
	m.challenge = &c;
	fz_frame(&m);
	fz_check(fz.agent->state == LINK_AUTH);
	if (start == 1)
		return;
	w.version = HARE__VERSION__PROTOCOL_VERSION;
	w.has_agent_id = true;
	w.agent_id = 7;
	m.msg_case = HARE__FROM_DAEMON__MSG_WELCOME;
	m.welcome = &w;
	fz_frame(&m);
	fz_check(fz.agent->state == LINK_READY);
}

static void fz_run_nowait(void)
{
	for (int i = 0; i < 4; i++)
		uv_run(&fz.loop, UV_RUN_NOWAIT);
}

/* Properties of the agent's tasks once the stream is handled. */
static void fz_check_tasks(void)
{
	uint32_t n = 0, ours = 0;

	for (const struct agent_task *t = fz.agent->tasks; t; t = t->next) {
		n++;
		/* one task per (job, lease, rank) */
		if (t->phase != TASK_GONE)
			fz_check(fz_task_find(t->job_id, t->lease_id, t->rank) == t);
		/* a stop reaches only the lease it names */
		if (t->stop_requested)
			fz_check(fz_key_in(fz.stops, fz.nstops, t->job_id, t->lease_id, NULL));
		if (t->adopted)
			continue;
		/* a task of ours came from a TaskStart, and runs only if it fit */
		fz_check(fz_key_in(fz.starts, fz.nstarts, t->job_id, t->lease_id, &t->rank));
		if (t->phase != TASK_RUNNING)
			continue;
		fz_check(t->gpu_index < fz.cfg.ngpus && t->rank < t->world_size);
		ours++;
	}
	fz_check(n == fz.agent->ntasks);
	fz_check(ours <= fz.spawned);
	fz_check(fz.agent->stats.tasks_started == fz.spawned);
}

/* A lease's id file exists only while a task of that lease is here. */
static void fz_check_rdv_files(void)
{
	DIR *d = opendir(fz.tasks);
	struct dirent *e;

	fz_check(d != NULL);
	while ((e = readdir(d))) {
		unsigned long long job, lease;
		bool held = false;
		int end = 0;

		if (sscanf(e->d_name, "%llu.%llu.rdv%n", &job, &lease, &end) != 2 || end == 0 ||
		    e->d_name[end] != '\0')
			continue;
		for (const struct agent_task *t = fz.agent->tasks; t; t = t->next)
			held |= t->job_id == job && t->lease_id == lease && t->phase != TASK_GONE;
		fz_check(held);
	}
	closedir(d);
}

static void fz_pipes_close(void)
{
	for (int i = 0; i < 2; i++) {
		if (fz.pipe_fd[i] >= 0)
			close(fz.pipe_fd[i]);
		fz.pipe_fd[i] = -1;
	}
}

/* Workers started from the stream exit (stopped ones by SIGTERM); adopted
 * ones are gone once their pipes close. */
static void fz_workers_exit(void)
{
	struct agent_task *t = fz.agent->tasks, *next;

	fz_pipes_close();
	for (; t; t = next) {
		next = t->next;
		if (t->phase == TASK_RUNNING && !t->adopted && !t->exited)
			agent_task_on_exit(t, 0, t->stop_requested ? SIGTERM : 0);
	}
}

/* Each measurement exits in turn (its successor starts when it is done
 * with), so every request of the stream ends in a result. */
static void fz_profiles_exit(void)
{
	for (int i = 0; i < 8 * AGENT_PROFILE_MODELS_MAX && fz.agent->prof.p; i++) {
		if (fz.profiling) {
			fz.profiling = false;
			agent_profile_on_exit(fz.agent, 0, 0);
		}
		fz_run_nowait();
	}
	fz_check(!fz.agent->prof.p);
	for (const struct agent_profile *p = fz.agent->profiles; p; p = p->next)
		fz_check(p->phase == PROFILE_DONE && !agent_link_is_ready(fz.agent));
}

static void fz_on_closed(void *user)
{
	(void)user;
	fz.closed = true;
	fz.agent = NULL;
}

static void fz_agent_new(void)
{
	struct agent_config cfg = fz.cfg;
	char err[256];

	if (fz.mode & FZ_CPU) {
		cfg.worker_cpu = true;
		cfg.profile_unknown = AGENT_PROFILE_YES;
	}
	if (fz.mode & FZ_SMALL_FRAMES)
		cfg.max_frame = 4096;
	fz_check(agent_new(&fz.loop, &cfg, fz_key, sizeof(fz_key) - 1, &fz.agent) == 0);
	fz.agent->sink = fz_sink;
	fz.agent->spawn_hook = fz_spawn;
	fz.agent->kill_hook = fz_kill;
	fz.agent->profile_hook = fz_profile_spawn;
	/* adopts what the work directory holds, then "connects": Hello */
	fz_check(agent_start(fz.agent, err, sizeof(err)) == 0);
	fz_check(fz.agent->state == LINK_HELLO);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 1;

	fz_init();
	fz.mode = size ? data[0] : 0;
	fz.spawned = fz.nexits = fz.profiled = 0;
	fz.profiling = false;
	fz.pipe_fd[0] = fz.pipe_fd[1] = -1;
	fz.closed = false;
	fz_clean_dir();
	mkdir(fz.tasks, 0700);
	if ((fz.mode & FZ_ADOPT) && size > 1)
		off += fz_write_state(data + 1, size - 1);
	if (fz.mode & FZ_PIPES)
		fz_make_pipes();
	fz_scan(data + off, size > off ? size - off : 0);
	fz_agent_new();
	fz_handshake(fz.mode & FZ_START);
	if (size > off)
		fz_feed(data + off, size - off);
	/* what the loop would do next: read the workers' pipes, then they exit */
	fz_run_nowait();
	fz_check_tasks();
	if (fz.mode & FZ_EXIT) {
		fz_workers_exit();
		fz_run_nowait();
		fz_check_tasks();
		fz_profiles_exit();
	}
	fz_check_rdv_files();
	agent_close(fz.agent, fz_on_closed, NULL);
	uv_run(&fz.loop, UV_RUN_DEFAULT);
	fz_check(fz.closed);
	fz_pipes_close();
	fz_check(!uv_loop_alive(&fz.loop));
	return 0;
}
