/* SPDX-License-Identifier: MIT */
/* The node's health check: an operator's program (agent.conf health_check)
 * run at start and then health_check_interval_s after each run ends, killed
 * (with its process group) after health_check_timeout_s. Exit status 0 is
 * healthy; anything else makes the node unhealthy, with the last line the
 * program wrote as the reason. The agent registers once the first run has
 * ended, and tells hared of every change at once (a Heartbeat) and in every
 * Heartbeat and Register after: hared plans nothing on an unhealthy node. */
#include "agent_impl.h"

#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bytes of the check's output read for its reason (its start). */
#define HEALTH_OUT_MAX 4096

static void agent_health_schedule(struct agent *a);

bool agent_health_on(const struct agent *a)
{
	return a->cfg.health_check[0] != '\0';
}

bool agent_health_ready(const struct agent *a)
{
	return !agent_health_on(a) || a->health.first_done;
}

bool agent_health_fill(const struct agent *a, Hare__NodeHealth *h)
{
	const struct agent_health *s = &a->health;

	if (!agent_health_on(a) || !s->first_done)
		return false;
	hare__node_health__init(h);
	h->ok = s->ok;
	h->reason = s->ok ? NULL : (char *)s->reason;
	h->has_since = true;
	h->since = (double)(agent_now_ms(a) - s->since_ms) / 1000.0;
	return true;
}

/* One line of text fit for hared's log and harectl's tables: valid UTF-8
 * without control, C1 or bidirectional formatting characters (each
 * replaced by '?'), blanks at either end dropped, at most len - 1 bytes. */
static void agent_health_clean(const char *in, size_t n, char *out, size_t len)
{
	size_t o = 0, i = 0;

	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\r'))
		n--;
	while (i < n && (in[i] == ' ' || in[i] == '\t'))
		i++;
	while (i < n && o + 1 < len) {
		const unsigned char *p = (const unsigned char *)in + i;
		size_t k = p[0] ? utf8_seq_len(p) : 0;
		bool c1 = k == 2 && p[0] == 0xC2 && p[1] < 0xA0;

		if (k == 0 || i + k > n || c1 || utf8_bidi_len(p) || p[0] < 0x20 || p[0] == 0x7F) {
			out[o++] = '?';
			i += k ? k : 1;
			continue;
		}
		if (o + k + 1 > len)
			break;
		memcpy(out + o, p, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
}

/* The last line of the check's output that is not blank, cleaned ("" if
 * none or unreadable). */
static void agent_health_output(const struct agent *a, char *out, size_t len)
{
	char path[AGENT_PATH_MAX + 32], buf[HEALTH_OUT_MAX];
	const char *line = NULL;
	size_t n = 0, linelen = 0, start = 0;
	ssize_t r;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/health-check.out", a->cfg.work_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && buf[i] != '\n')
			continue;
		for (size_t k = start; k < i; k++) {
			if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r') {
				line = buf + start;
				linelen = i - start;
				break;
			}
		}
		start = i + 1;
	}
	if (line)
		agent_health_clean(line, linelen, out, len);
}

/* A run ended with this outcome: keep it, say a change, tell hared. */
__attribute__((format(printf, 3, 4)))
static void agent_health_result(struct agent *a, bool ok, const char *fmt, ...)
{
	struct agent_health *s = &a->health;
	char reason[sizeof(s->reason)] = "";
	bool first = !s->first_done;
	va_list ap;

	if (!ok) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		s->failures++;
	}
	s->runs++;
	if (first || ok != s->ok || strcmp(reason, s->reason) != 0) {
		if (!ok)
			log_warn("node=%s unhealthy: %s; hared plans nothing here until the check "
				 "passes", a->cfg.node, reason);
		else if (!first)
			log_info("node=%s healthy again: the health check passes (it failed for "
				 "%.0f s)", a->cfg.node,
				 (double)(agent_now_ms(a) - s->since_ms) / 1000.0);
		else
			log_info("node=%s healthy: the health check passes", a->cfg.node);
		if (first || ok != s->ok)
			s->since_ms = agent_now_ms(a);
		s->ok = ok;
		snprintf(s->reason, sizeof(s->reason), "%s", reason);
		s->first_done = true;
		if (first && !a->closing)
			agent_link_connect(a);	/* it waited for this */
		else if (agent_link_is_ready(a))
			agent_link_heartbeat(a);
	}
	agent_health_schedule(a);
}

static void on_health_proc_closed(uv_handle_t *h)
{
	struct agent *a = h->data;

	a->health.handles--;
	agent_maybe_done(a);
}

static void agent_health_proc_close(struct agent *a)
{
	struct agent_health *s = &a->health;

	if (s->proc_open) {
		s->proc_open = false;
		uv_close((uv_handle_t *)&s->proc, on_health_proc_closed);
	}
}

static void on_health_exit(uv_process_t *proc, int64_t status, int sig)
{
	struct agent *a = proc->data;
	struct agent_health *s = &a->health;
	uint32_t limit = a->cfg.health_check_timeout_s;
	char line[sizeof(s->reason)];

	s->running = false;
	uv_timer_stop(&s->timer);
	agent_health_proc_close(a);
	if (a->closing)
		return;
	agent_health_output(a, line, sizeof(line));
	if (s->timed_out)
		agent_health_result(a, false, "health check did not end within %u s (killed)%s%.160s",
				    limit, line[0] ? ": " : "", line);
	else if (sig)
		agent_health_result(a, false, "health check killed by signal %d (%s)%s%.160s", sig,
				    strsignal(sig), line[0] ? ": " : "", line);
	else if (status != 0)
		agent_health_result(a, false, "health check exited with status %lld%s%.180s",
				    (long long)status, line[0] ? ": " : "", line);
	else
		agent_health_result(a, true, "%s", "");
}

static void on_health_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct agent_health *s = &a->health;

	if (!s->running)
		return;
	log_warn("node=%s health check pid=%d still running after %u s; SIGKILL to its process "
		 "group", a->cfg.node, s->pid, a->cfg.health_check_timeout_s);
	s->timed_out = true;
	if (s->pid > 0)
		kill(-s->pid, SIGKILL);
}

/* The check's environment: the agent's (less HARE_* and CUDA_*), the
 * node's name, its GPUs (indices and types in the same order; whether they
 * are emulated) and the agent's work_dir. */
static void agent_health_env(struct agent_strv *env, const struct agent *a)
{
	char idx[AGENT_GPUS_MAX * 11 + 1] = "", types[AGENT_GPUS_MAX * (AGENT_NAME_MAX + 1) + 1] = "";
	size_t ni = 0, nt = 0;

	agent_env_inherit(env);
	for (uint32_t i = 0; i < a->cfg.ngpus; i++) {
		ni += (size_t)snprintf(idx + ni, sizeof(idx) - ni, "%s%u", i ? "," : "",
				       a->cfg.gpus[i].index);
		nt += (size_t)snprintf(types + nt, sizeof(types) - nt, "%s%s", i ? "," : "",
				       a->cfg.gpus[i].type);
	}
	agent_strv_add(env, "HARE_NODE=%s", a->cfg.node);
	agent_strv_add(env, "HARE_GPU_INDICES=%s", idx);
	agent_strv_add(env, "HARE_GPU_TYPES=%s", types);
	agent_strv_add(env, "HARE_GPUS_EMULATED=%d", a->cfg.gpus_set ? 1 : 0);
	agent_strv_add(env, "HARE_WORK_DIR=%s", a->cfg.work_dir);
}

/* Start one run; its output goes to work_dir/health-check.out. */
static void agent_health_run(struct agent *a)
{
	struct agent_health *s = &a->health;
	struct agent_strv av = { 0 }, env = { 0 };
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;
	char path[AGENT_PATH_MAX + 32];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/health-check.out", a->cfg.work_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		agent_health_result(a, false, "health check not run: %.200s: %s", path,
				    strerror(errno));
		return;
	}
	agent_strv_add(&av, "%s", a->cfg.health_check);
	agent_health_env(&env, a);
	if (av.failed || env.failed) {
		close(fd);
		agent_strv_free(&av);
		agent_strv_free(&env);
		agent_health_result(a, false, "health check not run: out of memory");
		return;
	}
	memset(&o, 0, sizeof(o));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fd;
	o.file = av.v[0];
	o.args = av.v;
	o.env = env.v;
	o.cwd = "/";
	/* a process group of its own: a timeout kills whatever it started */
	o.flags = UV_PROCESS_DETACHED;
	o.exit_cb = on_health_exit;
	o.stdio = stdio;
	o.stdio_count = 3;
	s->proc.data = a;
	s->timed_out = false;
	s->start_ms = agent_now_ms(a);
	rc = uv_spawn(a->loop, &s->proc, &o);
	s->proc_open = true;	/* initialised even when the spawn failed */
	s->handles++;
	close(fd);
	agent_strv_free(&av);
	agent_strv_free(&env);
	if (rc < 0) {
		agent_health_proc_close(a);
		agent_health_result(a, false, "health check cannot start: %.200s: %s",
				    a->cfg.health_check, uv_strerror(rc));
		return;
	}
	s->running = true;
	s->pid = s->proc.pid;
	log_debug("node=%s health check pid=%d started", a->cfg.node, s->pid);
	uv_timer_start(&s->timer, on_health_timeout, (uint64_t)a->cfg.health_check_timeout_s * 1000,
		       0);
}

static void on_health_due(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->closing || a->health.running)
		return;
	if (a->health.handles == 0)
		agent_health_run(a);
	else	/* the last run's handle is still closing */
		uv_timer_start(&a->health.timer, on_health_due, 100, 0);
}

static void agent_health_schedule(struct agent *a)
{
	if (!a->closing)
		uv_timer_start(&a->health.timer, on_health_due,
			       (uint64_t)a->cfg.health_check_interval_s * 1000, 0);
}

void agent_health_start(struct agent *a)
{
	if (!agent_health_on(a))
		return;
	log_info("node=%s health check %s every %u s (killed after %u s); registering once its "
		 "first run has ended", a->cfg.node, a->cfg.health_check,
		 a->cfg.health_check_interval_s, a->cfg.health_check_timeout_s);
	agent_health_run(a);
}

void agent_health_close(struct agent *a)
{
	struct agent_health *s = &a->health;

	if (s->running && s->pid > 0) {
		log_info("node=%s health check pid=%d stopped: the agent is closing", a->cfg.node,
			 s->pid);
		kill(-s->pid, SIGKILL);
	}
	s->running = false;
	agent_health_proc_close(a);
	uv_close((uv_handle_t *)&s->timer, agent_on_handle_closed);
}
