/* SPDX-License-Identifier: MIT */
/* The node's health check: an operator's program (agent.conf health_check)
 * run at start and then health_check_interval_s after each run ends. Exit
 * status 0 is healthy; anything else makes the node unhealthy, with the
 * last line the program wrote as the reason. A run that outlasts
 * health_check_timeout_s is unhealthy at once, and killed with its process
 * group; whatever a run leaves behind is killed when it ends. Before each
 * run the program, and every folder above it, must be root's (or the
 * agent's) and writable by no one else: it runs as root, so anyone who can
 * change it could run anything as root; one that is not so is not run (the
 * node is unhealthy, and says why).
 *
 * The agent registers once the first run has ended, unless it adopted
 * workers at start (a restart): those connect at once, since hared gives
 * their leases up after its reconnect_grace_s. It tells hared of every
 * change at once (a Heartbeat) and in every Heartbeat and Register after. */
#include "agent_impl.h"

#include "err.h"
#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of a line of the check's output shown as the reason, at most. */
#define HEALTH_LINE_MAX 180

static void agent_health_schedule(struct agent *a, uint64_t ms);
static void agent_health_step(struct agent *a);

bool agent_health_on(const struct agent *a)
{
	return a->cfg.health_check[0] != '\0';
}

bool agent_health_fill(const struct agent *a, Hare__NodeHealth *h)
{
	const struct agent_health *s = &a->health;

	if (!agent_health_on(a))
		return false;
	hare__node_health__init(h);
	if (!s->first_done) {
		h->has_pending = h->pending = true;
		h->reason = (char *)"its first health check has not ended";
		return true;
	}
	h->ok = s->ok;
	h->reason = s->ok ? NULL : (char *)s->reason;
	h->has_since = true;
	h->since = (double)(agent_now_ms(a) - s->since_ms) / 1000.0;
	return true;
}

/* One path's owner and mode are fit for a program run as the agent. */
static int agent_health_path_ok(const char *path, const struct stat *st, bool dir, char *err,
				size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "uid %u, neither root nor the agent's, owns %s%.600s: the check "
			 "runs as the agent", (unsigned)st->st_uid, dir ? "its folder " : "", path);
		return ERR_BAD_CONFIG;
	}
	/* a folder with the sticky bit (/tmp) lets no one else rename or
	 * remove what is root's in it; what may sit in one, the caller says */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(dir && (st->st_mode & S_ISVTX))) {
		snprintf(err, errlen, "mode %03o lets others change %s%.600s (chmod go-w it): the check "
			 "runs as the agent", (unsigned)(st->st_mode & 0777), dir ? "its folder " : "",
			 path);
		return ERR_BAD_CONFIG;
	}
	return 0;
}

static int agent_health_errno(char *err, size_t errlen, const char *path, int e)
{
	snprintf(err, errlen, "%.900s: %s", path, strerror(e));
	return -e;
}

/* The folder the walk is in (dir: "" for /). */
static int agent_health_dir_stat(const char *dir, struct stat *st, char *err, size_t errlen)
{
	return stat(dir[0] ? dir : "/", st) < 0 ? agent_health_errno(err, errlen, dir[0] ? dir : "/",
								     errno) : 0;
}

/* Walk path as the kernel would, one name at a time, from /: every folder
 * entered must pass agent_health_path_ok, every link passed must be root's
 * or the agent's, and so must the file it ends at. A link or the file may
 * not sit in a folder others may write to, even a sticky one (another
 * account could move a root-owned program or link there, at a name that is
 * missing), and a folder entered from such a folder must be on its device
 * (no mount). What the walk ends at is then only root's (or the agent's) to
 * change, and that file is what runs. */
int agent_health_check_ok(const char *path, char *real, size_t reallen, char *err, size_t errlen)
{
	char done[PATH_MAX] = "", todo[2 * PATH_MAX + 2], next[2 * PATH_MAX + 2], cand[PATH_MAX];
	const char *p = todo;
	unsigned links = 0;
	struct stat st, dirst;
	bool file = false;
	int rc;

	if (path[0] != '/') {
		snprintf(err, errlen, "%.900s is not an absolute path", path);
		return ERR_BAD_CONFIG;
	}
	if (strlen(path) >= PATH_MAX)
		return agent_health_errno(err, errlen, path, ENAMETOOLONG);
	rc = agent_health_dir_stat("", &dirst, err, errlen);
	if (rc < 0)
		return rc;
	if (agent_health_path_ok("/", &dirst, true, err, errlen) < 0)
		return ERR_BAD_CONFIG;
	snprintf(todo, sizeof(todo), "%s", path);
	while (*p) {
		bool open_dir = (dirst.st_mode & (S_IWGRP | S_IWOTH)) != 0;
		size_t len, nd;

		if (file)	/* anything after a file, a '/' too */
			return agent_health_errno(err, errlen, path, ENOTDIR);
		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(done, '/');

			if (slash)
				*slash = '\0';
			p += len;
			rc = agent_health_dir_stat(done, &dirst, err, errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		nd = strlen(done);
		if (nd + 1 + len >= sizeof(cand))
			return agent_health_errno(err, errlen, path, ENAMETOOLONG);
		memcpy(cand, done, nd);
		cand[nd] = '/';
		memcpy(cand + nd + 1, p, len);
		cand[nd + 1 + len] = '\0';
		p += len;
		if (lstat(cand, &st) < 0)
			return agent_health_errno(err, errlen, cand, errno);
		if (!S_ISDIR(st.st_mode) && open_dir) {
			snprintf(err, errlen, "mode %04o lets others put files in %.600s, where %s sits: "
				 "the check, and each link on its path, must be in folders only root may "
				 "write to", (unsigned)(dirst.st_mode & 07777), done[0] ? done : "/",
				 cand + nd + 1);
			return ERR_BAD_CONFIG;
		}
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n;
			int w;

			if (++links > 40)
				return agent_health_errno(err, errlen, path, ELOOP);
			if (st.st_uid != 0 && st.st_uid != geteuid()) {
				snprintf(err, errlen, "uid %u, neither root nor the agent's, owns the link "
					 "%.600s: the check runs as the agent", (unsigned)st.st_uid, cand);
				return ERR_BAD_CONFIG;
			}
			n = readlink(cand, target, sizeof(target) - 1);
			if (n < 0)
				return agent_health_errno(err, errlen, cand, errno);
			target[n] = '\0';
			/* the rest of the path is empty or starts with '/' */
			w = snprintf(next, sizeof(next), "%s%s", target, p);
			if (w < 0 || (size_t)w >= sizeof(next))
				return agent_health_errno(err, errlen, path, ENAMETOOLONG);
			if (target[0] == '/') {
				done[0] = '\0';
				rc = agent_health_dir_stat(done, &dirst, err, errlen);
				if (rc < 0)
					return rc;
			}
			memcpy(todo, next, sizeof(todo));
			p = todo;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (agent_health_path_ok(cand, &st, true, err, errlen) < 0)
				return ERR_BAD_CONFIG;
			if (open_dir && st.st_dev != dirst.st_dev) {
				snprintf(err, errlen, "its folder %.600s is a mount in a folder others may "
					 "write to: the check runs as the agent", cand);
				return ERR_BAD_CONFIG;
			}
			dirst = st;
		} else {
			file = true;
		}
		memcpy(done, cand, sizeof(done));
	}
	if (!file || stat(done, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%.900s is not a file", path);
		return ERR_BAD_CONFIG;
	}
	if (access(done, X_OK) < 0) {
		snprintf(err, errlen, "%.900s is not executable by the agent (chmod +x?)", path);
		return ERR_BAD_CONFIG;
	}
	if (agent_health_path_ok(done, &st, false, err, errlen) < 0)
		return ERR_BAD_CONFIG;
	if (real && (size_t)snprintf(real, reallen, "%s", done) >= reallen)
		return agent_health_errno(err, errlen, path, ENAMETOOLONG);
	return 0;
}

/* One line of text fit for hared's log and harectl's tables: valid UTF-8
 * without control, C1 or bidirectional formatting characters (each
 * replaced by '?'), blanks at either end dropped, whole characters only,
 * at most len - 1 bytes. in[n] must be readable (a NUL or a newline). */
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

		if (k == 0 || i + k > n || c1 || (k == 3 && utf8_bidi_len(p)) || p[0] < 0x20 ||
		    p[0] == 0x7F) {
			out[o++] = '?';
			i += k && i + k <= n ? k : 1;
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

/* The last line of the run's output that is not blank, cleaned ("" if
 * none). The tail holds the output's end; when the output was longer, its
 * first line is cut: it is the last line only when no other line is (a
 * line longer than the tail), shown as "..." and its end. */
static void agent_health_last_line(struct agent_health *s, char *out, size_t len)
{
	char *buf = s->tail;
	size_t n = s->ntail, start = 0, linestart = 0, linelen = 0;
	bool found = false;

	out[0] = '\0';
	buf[n] = '\0';
	if (s->tail_cut) {
		char *nl = memchr(buf, '\n', n);

		start = nl ? (size_t)(nl - buf) + 1 : n;
		/* the cut line, until another is found: its last bytes from a
		 * character's start */
		linelen = nl ? (size_t)(nl - buf) : n;
		linestart = linelen > len - 4 ? linelen - (len - 4) : 0;
		while (linestart < linelen && ((unsigned char)buf[linestart] & 0xC0) == 0x80)
			linestart++;
		for (size_t k = linestart; k < linelen && !found; k++)
			found = buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r';
		if (found) {
			char end = buf[linelen];

			buf[linelen] = '\0';
			memcpy(out, "...", 3);
			agent_health_clean(buf + linestart, linelen - linestart, out + 3, len - 3);
			buf[linelen] = end;
			found = false;
		}
	}
	for (size_t i = start; i <= n; i++) {
		if (i < n && buf[i] != '\n')
			continue;
		for (size_t k = start; k < i; k++) {
			if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r') {
				linestart = start;
				linelen = i - start;
				found = true;
				break;
			}
		}
		start = i + 1;
	}
	if (found)
		agent_health_clean(buf + linestart, linelen, out, len);
}


/* An outcome: keep it, say a change, tell hared. */
__attribute__((format(printf, 3, 4)))
static void agent_health_result(struct agent *a, bool ok, const char *fmt, ...)
{
	struct agent_health *s = &a->health;
	char reason[sizeof(s->reason)] = "", text[2 * sizeof(s->reason)];
	bool first = !s->first_done;
	va_list ap;

	if (!ok) {
		/* clean text cut to whole characters: the names of folders in
		 * it are not */
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
		agent_health_clean(text, strlen(text), reason, sizeof(reason));
	}
	if (!first && ok == s->ok && strcmp(reason, s->reason) == 0)
		return;
	if (!ok)
		log_warn("node=%s unhealthy: %s (hared is told, and plans nothing here until the "
			 "check passes)", a->cfg.node, reason);
	else if (!first)
		log_info("node=%s healthy again: the health check passes (it failed for %.0f s)",
			 a->cfg.node, (double)(agent_now_ms(a) - s->since_ms) / 1000.0);
	else
		log_info("node=%s healthy: the health check passes", a->cfg.node);
	if (first || ok != s->ok)
		s->since_ms = agent_now_ms(a);
	s->ok = ok;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->first_done = true;
	if (first && s->connect_waits && !a->closing)
		agent_link_connect(a);	/* it waited for this */
	else if (agent_link_is_ready(a))
		agent_link_heartbeat(a);
}

static void on_health_closed(uv_handle_t *h)
{
	struct agent *a = h->data;

	a->health.handles--;
	if (a->closing)
		agent_maybe_done(a);
	else
		agent_health_step(a);
}

static void agent_health_pipe_close(struct agent *a)
{
	struct agent_health *s = &a->health;

	if (s->pipe_open) {
		s->pipe_open = false;
		uv_close((uv_handle_t *)&s->pipe, on_health_closed);
	}
}

static void agent_health_proc_close(struct agent *a)
{
	struct agent_health *s = &a->health;

	if (s->proc_open) {
		s->proc_open = false;
		uv_close((uv_handle_t *)&s->proc, on_health_closed);
	}
}

/* Keep the output's last AGENT_HEALTH_TAIL bytes. */
static void on_health_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct agent *a = st->data;
	struct agent_health *s = &a->health;
	size_t n = nread > 0 ? (size_t)nread : 0;
	const char *p = buf->base;

	if (nread < 0) {
		agent_health_pipe_close(a);
		return;
	}
	if (n >= AGENT_HEALTH_TAIL) {
		p += n - AGENT_HEALTH_TAIL;
		s->tail_cut |= s->ntail > 0 || n > AGENT_HEALTH_TAIL;
		n = AGENT_HEALTH_TAIL;
		s->ntail = 0;
	} else if (s->ntail + n > AGENT_HEALTH_TAIL) {
		size_t drop = s->ntail + n - AGENT_HEALTH_TAIL;

		memmove(s->tail, s->tail + drop, s->ntail - drop);
		s->ntail -= drop;
		s->tail_cut = true;
	}
	memcpy(s->tail + s->ntail, p, n);
	s->ntail += n;
}

/* The run ended (or outlasted its time, still_running): its outcome. */
static void agent_health_judge(struct agent *a, bool still_running)
{
	struct agent_health *s = &a->health;
	char line[HEALTH_LINE_MAX + 1];

	agent_health_last_line(s, line, sizeof(line));
	if (still_running)
		agent_health_result(a, false, "health check did not end within %u s (killed)%s%s",
				    a->cfg.health_check_timeout_s, line[0] ? ": " : "", line);
	else if (s->term_signal)
		agent_health_result(a, false, "health check killed by signal %d (%s)%s%s",
				    s->term_signal, strsignal(s->term_signal), line[0] ? ": " : "",
				    line);
	else if (s->exit_status != 0)
		agent_health_result(a, false, "health check exited with status %lld%s%s",
				    (long long)s->exit_status, line[0] ? ": " : "", line);
	else
		agent_health_result(a, true, "%s", "");
}

/* A run is over once its process has exited and its output is closed (and
 * both handles with it): judge it, unless its timeout did, and wait for
 * the next. */
static void agent_health_step(struct agent *a)
{
	struct agent_health *s = &a->health;

	if (a->closing || !s->running || !s->exited || s->handles > 0)
		return;
	s->running = false;
	uv_timer_stop(&s->timer);
	if (!s->judged)
		agent_health_judge(a, false);
	agent_health_schedule(a, (uint64_t)a->cfg.health_check_interval_s * 1000);
}

/* Whatever the check started and left running goes with it (the group
 * stays while any of it lives, so its id is not another's yet). */
static void agent_health_kill_group(struct agent_health *s)
{
	if (s->pid > 0)
		kill(-s->pid, SIGKILL);
}

/* Its output is still open a while after its exit: something of it the
 * SIGKILL did not end (stuck in the kernel) holds it. */
static void on_health_eof_wait(uv_timer_t *t)
{
	struct agent *a = t->data;

	log_warn("node=%s health check pid=%d: its output is still open %d ms after its exit; "
		 "closing it", a->cfg.node, a->health.pid, AGENT_EOF_WAIT_MS);
	agent_health_pipe_close(a);
}

static void on_health_exit(uv_process_t *proc, int64_t status, int sig)
{
	struct agent *a = proc->data;
	struct agent_health *s = &a->health;

	s->exited = true;
	s->exit_status = status;
	s->term_signal = sig;
	agent_health_kill_group(s);
	agent_health_proc_close(a);
	if (a->closing)
		return;
	if (s->judged)
		log_info("node=%s health check pid=%d that outlasted its time has ended", a->cfg.node,
			 s->pid);
	uv_timer_stop(&s->timer);
	if (s->pipe_open)
		uv_timer_start(&s->timer, on_health_eof_wait, AGENT_EOF_WAIT_MS, 0);
}

/* The run outlasted health_check_timeout_s: unhealthy now, whether or not
 * the SIGKILL ends it (a process stuck in the kernel ignores it); the next
 * run waits until this one has ended. */
static void on_health_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct agent_health *s = &a->health;

	if (!s->running || s->exited)
		return;
	log_warn("node=%s health check pid=%d still running after %u s; SIGKILL to its process "
		 "group", a->cfg.node, s->pid, a->cfg.health_check_timeout_s);
	agent_health_kill_group(s);
	s->judged = true;
	agent_health_judge(a, true);
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

/* Spawn the check (the file real, as agent_health_check_ok resolved it;
 * its argv[0] the path as configured) with its stdout and stderr on
 * out_fd. 0 or a negative code with the reason in why. */
static int agent_health_spawn(struct agent *a, const char *real, int out_fd, char *why, size_t len)
{
	struct agent_health *s = &a->health;
	struct agent_strv av = { 0 }, env = { 0 };
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;
	int rc = -ENOMEM;

	agent_strv_add(&av, "%s", a->cfg.health_check);
	agent_health_env(&env, a);
	if (av.failed || env.failed) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	memset(&o, 0, sizeof(o));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = out_fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = out_fd;
	o.file = real;
	o.args = av.v;
	o.env = env.v;
	o.cwd = "/";
	/* a process group of its own: the timeout, and its end, kill what it started */
	o.flags = UV_PROCESS_DETACHED;
	o.exit_cb = on_health_exit;
	o.stdio = stdio;
	o.stdio_count = 3;
	s->proc.data = a;
	rc = uv_spawn(a->loop, &s->proc, &o);
	s->proc_open = true;	/* initialised even when the spawn failed */
	s->handles++;
	if (rc < 0)
		snprintf(why, len, "cannot start: %.200s: %s", a->cfg.health_check, uv_strerror(rc));
	else
		s->pid = s->proc.pid;
out:
	agent_strv_free(&av);
	agent_strv_free(&env);
	return rc;
}

/* Start one run (the program checked first); its output comes through a
 * pipe, of which the last AGENT_HEALTH_TAIL bytes are kept. */
static void agent_health_run(struct agent *a)
{
	struct agent_health *s = &a->health;
	char why[1024], real[PATH_MAX];
	int fds[2], rc;

	if (agent_health_check_ok(a->cfg.health_check, real, sizeof(real), why, sizeof(why)) < 0) {
		agent_health_result(a, false, "health check not run: %s", why);
		agent_health_schedule(a, (uint64_t)a->cfg.health_check_interval_s * 1000);
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		agent_health_result(a, false, "health check not run: pipe: %s", strerror(errno));
		agent_health_schedule(a, (uint64_t)a->cfg.health_check_interval_s * 1000);
		return;
	}
	s->running = true;
	s->exited = s->judged = s->tail_cut = false;
	s->ntail = 0;
	s->exit_status = 0;
	s->term_signal = 0;
	s->pid = 0;
	uv_pipe_init(a->loop, &s->pipe, 0);
	s->pipe.data = a;
	s->pipe_open = true;
	s->handles++;
	rc = uv_pipe_open(&s->pipe, fds[0]);
	if (rc < 0)
		close(fds[0]);
	else
		rc = uv_read_start((uv_stream_t *)&s->pipe, agent_rbuf_alloc, on_health_read);
	if (rc < 0)
		snprintf(why, sizeof(why), "reading its output: %s", uv_strerror(rc));
	else
		rc = agent_health_spawn(a, real, fds[1], why, sizeof(why));
	close(fds[1]);	/* the check's now, or nobody's */
	if (rc < 0) {
		agent_health_result(a, false, "health check %s", why);
		s->judged = s->exited = true;
		agent_health_pipe_close(a);
		if (!s->pid)
			agent_health_proc_close(a);	/* no exit will come */
		return;	/* agent_health_step schedules the next once both closed */
	}
	log_debug("node=%s health check pid=%d started", a->cfg.node, s->pid);
	uv_timer_start(&s->timer, on_health_timeout, (uint64_t)a->cfg.health_check_timeout_s * 1000,
		       0);
}

static void on_health_due(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (!a->closing && !a->health.running)
		agent_health_run(a);
}

static void agent_health_schedule(struct agent *a, uint64_t ms)
{
	if (!a->closing)
		uv_timer_start(&a->health.timer, on_health_due, ms, 0);
}

bool agent_health_start(struct agent *a)
{
	struct agent_health *s = &a->health;
	uint32_t live = agent_tasks_live(a);

	if (!agent_health_on(a))
		return false;
	/* workers adopted from before a restart: hared keeps their leases for
	 * reconnect_grace_s only, so register now, and say the outcome when
	 * it comes */
	s->connect_waits = live == 0;
	log_info("node=%s health check %s every %u s (killed after %u s); %s", a->cfg.node,
		 a->cfg.health_check, a->cfg.health_check_interval_s,
		 a->cfg.health_check_timeout_s, s->connect_waits ?
		 "registering once its first run has ended" :
		 "registering now (workers run here), its outcome follows");
	agent_health_run(a);
	return s->connect_waits;
}

void agent_health_close(struct agent *a)
{
	struct agent_health *s = &a->health;

	if (s->running && !s->exited && s->pid > 0) {
		log_info("node=%s health check pid=%d stopped: the agent is closing", a->cfg.node,
			 s->pid);
		agent_health_kill_group(s);
	}
	agent_health_pipe_close(a);
	agent_health_proc_close(a);
	uv_close((uv_handle_t *)&s->timer, agent_on_handle_closed);
}
