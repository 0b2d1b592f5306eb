/* SPDX-License-Identifier: MIT */
/* An operator's program the agent runs as itself (root): the node's health
 * check and a task's prolog and epilog. One run at a time per script: the
 * program's path is checked (agent_health_check_ok) and it runs with its
 * stdout and stderr in a pipe, of which the last AGENT_SCRIPT_TAIL bytes
 * are kept, in a process group of its own with / as its folder. At its
 * timeout the group is killed; when the run's process has exited, what it
 * left in its group is killed too. The owner hears of the run's end, once
 * the process exited and its output closed, through on_end (never from
 * within agent_script_run), and of its timeout through on_timeout. */
#include "agent_impl.h"

#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bytes of a line of the program's output shown as the reason, at most. */
#define SCRIPT_LINE_MAX 180

void agent_script_init(struct agent_script *s, struct agent *a, const char *what, void *data,
		       agent_script_fn on_end, agent_script_fn on_closed)
{
	memset(s, 0, sizeof(*s));
	s->agent = a;
	s->what = what;
	s->data = data;
	s->on_end = on_end;
	s->on_closed = on_closed;
	uv_timer_init(a->loop, &s->timer);
	s->timer.data = s;
	s->handles = 1;
	s->timer_open = true;
}

/* Whether buf[from, to) holds more than blanks. */
static bool script_has_text(const char *buf, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r')
			return true;
	return false;
}

/* The last line of the run's output that is not blank, cleaned ("" if
 * none). The tail holds the output's end; when the output was longer, its
 * first line is cut: it is the last line only when no other line is (a
 * line longer than the tail), shown as "..." and its end. */
void agent_script_last_line(struct agent_script *s, char *out, size_t len)
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
		if (script_has_text(buf, linestart, linelen)) {
			char end = buf[linelen];

			buf[linelen] = '\0';
			memcpy(out, "...", 3);
			utf8_text_clean(buf + linestart, linelen - linestart, out + 3, len - 3);
			buf[linelen] = end;
		}
	}
	for (size_t i = start; i <= n; i++) {
		if (i < n && buf[i] != '\n')
			continue;
		if (script_has_text(buf, start, i)) {
			linestart = start;
			linelen = i - start;
			found = true;
		}
		start = i + 1;
	}
	if (found)
		utf8_text_clean(buf + linestart, linelen, out, len);
}

bool agent_script_outcome(struct agent_script *s, char *out, size_t len)
{
	char line[SCRIPT_LINE_MAX + 1];
	const char *sep;

	agent_script_last_line(s, line, sizeof(line));
	sep = line[0] ? ": " : "";
	if (s->start_failed)
		snprintf(out, len, "%s not run: %s", s->what, s->why);
	else if (s->timed_out)
		snprintf(out, len, "%s did not end within %u s (killed)%s%s", s->what, s->timeout_s,
			 sep, line);
	else if (!s->exited)
		snprintf(out, len, "%s %s%s%s", s->what, s->stopped ? "killed" : "still runs", sep,
			 line);
	else if (s->term_signal)
		snprintf(out, len, "%s killed by signal %d (%s)%s%s", s->what, s->term_signal,
			 strsignal(s->term_signal), sep, line);
	else if (s->exit_status != 0)
		snprintf(out, len, "%s exited with status %lld%s%s", s->what,
			 (long long)s->exit_status, sep, line);
	else
		snprintf(out, len, "%s passed", s->what);
	return s->exited && !s->start_failed && !s->timed_out && !s->term_signal &&
	       s->exit_status == 0;
}

/* A run is over once its process has exited and its output is closed (and
 * both handles with it): its owner hears of it. */
static void script_step(struct agent_script *s)
{
	if (!s->running || !s->exited || s->proc_open || s->pipe_open || s->handles > 1 ||
	    s->agent->closing)
		return;
	s->running = false;
	uv_timer_stop(&s->timer);
	if (s->on_end)
		s->on_end(s);
}

static void on_script_closed(uv_handle_t *h)
{
	struct agent_script *s = h->data;

	s->handles--;
	script_step(s);
	if (s->on_closed)
		s->on_closed(s);	/* may free what holds s: s is not used after */
}

static void script_close(struct agent_script *s, uv_handle_t *h, bool *open)
{
	if (*open) {
		*open = false;
		uv_close(h, on_script_closed);
	}
}

/* Keep the output's last AGENT_SCRIPT_TAIL bytes. */
static void on_script_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct agent_script *s = st->data;
	size_t n = nread > 0 ? (size_t)nread : 0;
	const char *p = buf->base;

	if (nread < 0) {
		script_close(s, (uv_handle_t *)&s->pipe, &s->pipe_open);
		return;
	}
	if (n >= AGENT_SCRIPT_TAIL) {
		p += n - AGENT_SCRIPT_TAIL;
		s->tail_cut |= s->ntail > 0 || n > AGENT_SCRIPT_TAIL;
		n = AGENT_SCRIPT_TAIL;
		s->ntail = 0;
	} else if (s->ntail + n > AGENT_SCRIPT_TAIL) {
		size_t drop = s->ntail + n - AGENT_SCRIPT_TAIL;

		memmove(s->tail, s->tail + drop, s->ntail - drop);
		s->ntail -= drop;
		s->tail_cut = true;
	}
	memcpy(s->tail + s->ntail, p, n);
	s->ntail += n;
}

static void on_script_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct agent_script *s = h->data;

	(void)suggested;
	*buf = uv_buf_init(s->agent->rbuf, sizeof(s->agent->rbuf));
}

void agent_script_kill(struct agent_script *s)
{
	/* the group stays while any of it lives, so its id is not another's
	 * yet; once the run's process is reaped it may be (on_script_exit
	 * kills what is left then) */
	if (s->running && !s->exited && s->pid > 0)
		agent_kill(s->agent, -s->pid, SIGKILL);
	if (s->running)
		agent_cgroup_kill(s->agent, s->cgroup);
}

static void on_script_stuck(uv_timer_t *t);

void agent_script_stop(struct agent_script *s)
{
	if (!s->running || s->exited)
		return;
	agent_script_kill(s);
	s->stopped = true;
	if (s->on_stuck && !s->timed_out)
		uv_timer_start(&s->timer, on_script_stuck, AGENT_SCRIPT_STUCK_MS, 0);
}

/* Its output is still open a while after its exit: something of it the
 * SIGKILL did not end (stuck in the kernel) holds it. */
static void on_script_eof_wait(uv_timer_t *t)
{
	struct agent_script *s = t->data;

	log_warn("node=%s %s pid=%d: its output is still open %d ms after its exit; closing it",
		 s->agent->cfg.node, s->what, s->pid, AGENT_EOF_WAIT_MS);
	script_close(s, (uv_handle_t *)&s->pipe, &s->pipe_open);
}

static void on_script_exit(uv_process_t *proc, int64_t status, int sig)
{
	struct agent_script *s = proc->data;

	s->exited = true;
	s->exit_status = status;
	s->term_signal = sig;
	/* whatever it started and left running, in its group or its cgroup */
	if (s->pid > 0)
		agent_kill(s->agent, -s->pid, SIGKILL);
	agent_cgroup_kill(s->agent, s->cgroup);
	script_close(s, (uv_handle_t *)&s->proc, &s->proc_open);
	if (s->agent->closing)
		return;
	if (s->timed_out)
		log_info("node=%s %s pid=%d that outlasted its time has ended", s->agent->cfg.node,
			 s->what, s->pid);
	uv_timer_stop(&s->timer);
	if (s->pipe_open)
		uv_timer_start(&s->timer, on_script_eof_wait, AGENT_EOF_WAIT_MS, 0);
}

/* The run does not end AGENT_SCRIPT_STUCK_MS after its timeout's or its
 * stop's SIGKILL. */
static void on_script_stuck(uv_timer_t *t)
{
	struct agent_script *s = t->data;

	if (s->running && !s->exited && s->on_stuck)
		s->on_stuck(s);
}

/* The run outlasted its time: its group is killed, and its owner told now,
 * whether or not the SIGKILL ends it (a process stuck in the kernel ignores
 * it); on_end still waits for its exit. */
static void on_script_timeout(uv_timer_t *t)
{
	struct agent_script *s = t->data;

	if (!s->running || s->exited)
		return;
	log_warn("node=%s %s pid=%d still running after %u s; SIGKILL to its process group",
		 s->agent->cfg.node, s->what, s->pid, s->timeout_s);
	agent_script_kill(s);
	s->timed_out = true;
	if (s->on_stuck)
		uv_timer_start(&s->timer, on_script_stuck, AGENT_SCRIPT_STUCK_MS, 0);
	if (s->on_timeout)
		s->on_timeout(s);
}

/* A run that could not start ends at the loop's next turn. */
static void on_script_failed_start(uv_timer_t *t)
{
	script_step(t->data);
}

static void script_fail_start(struct agent_script *s, const char *fmt, const char *a1,
			      const char *a2)
{
	snprintf(s->why, sizeof(s->why), fmt, a1, a2);
	s->start_failed = s->exited = true;
	script_close(s, (uv_handle_t *)&s->pipe, &s->pipe_open);
	if (!s->pid)
		script_close(s, (uv_handle_t *)&s->proc, &s->proc_open);	/* no exit will come */
	uv_timer_start(&s->timer, on_script_failed_start, 0, 0);
}

/* Spawn the program (the file real; argv[0] the path as configured) with
 * its stdout and stderr on out_fd. */
static int script_spawn(struct agent_script *s, const char *real, const char *path, char **env,
			int out_fd)
{
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;
	char *args[2] = { (char *)path, NULL };
	/* in its cgroup: hare-agent --exec-in puts it there, then runs the
	 * real file with the path as configured as its $0 */
	char *shim[7] = { "/proc/self/exe", "--exec-in", s->cgroup, "--argv0", (char *)path,
			  (char *)real, NULL };
	int rc;

	memset(&o, 0, sizeof(o));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = out_fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = out_fd;
	o.file = s->cgroup[0] ? shim[0] : real;
	o.args = s->cgroup[0] ? shim : args;
	o.env = env;
	o.cwd = "/";
	/* a process group of its own: the timeout, and its end, kill what it started */
	o.flags = UV_PROCESS_DETACHED;
	o.exit_cb = on_script_exit;
	o.stdio = stdio;
	o.stdio_count = 3;
	s->proc.data = s;
	rc = uv_spawn(s->agent->loop, &s->proc, &o);
	s->proc_open = true;	/* initialised even when the spawn failed */
	s->handles++;
	if (rc == 0)
		s->pid = s->proc.pid;
	return rc;
}

void agent_script_run(struct agent_script *s, const char *path, char **env, uint32_t timeout_s)
{
	char real[PATH_MAX], why[1024];
	int fds[2], rc;

	s->running = true;
	s->exited = s->timed_out = s->stopped = s->start_failed = s->tail_cut = false;
	s->ntail = 0;
	s->exit_status = 0;
	s->term_signal = 0;
	s->pid = 0;
	s->why[0] = s->cgroup[0] = '\0';
	s->timeout_s = timeout_s;
	if (agent_health_check_ok(path, real, sizeof(real), why, sizeof(why)) < 0) {
		script_fail_start(s, "%s%s", why, "");
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		script_fail_start(s, "pipe: %s%s", strerror(errno), "");
		return;
	}
	if (s->cg_name[0])
		agent_cgroup_make(s->agent, s->cg_name, s->cgroup, sizeof(s->cgroup));
	uv_pipe_init(s->agent->loop, &s->pipe, 0);
	s->pipe.data = s;
	s->pipe_open = true;
	s->handles++;
	rc = uv_pipe_open(&s->pipe, fds[0]);
	if (rc < 0)
		close(fds[0]);
	else
		rc = uv_read_start((uv_stream_t *)&s->pipe, on_script_alloc, on_script_read);
	if (rc < 0) {
		close(fds[1]);
		script_fail_start(s, "reading its output: %s%s", uv_strerror(rc), "");
		return;
	}
	rc = script_spawn(s, real, path, env, fds[1]);
	close(fds[1]);	/* the program's now, or nobody's */
	if (rc < 0) {
		script_fail_start(s, "cannot start %.600s: %s", path, uv_strerror(rc));
		return;
	}
	log_debug("node=%s %s pid=%d started", s->agent->cfg.node, s->what, s->pid);
	uv_timer_start(&s->timer, on_script_timeout, (uint64_t)timeout_s * 1000, 0);
}

void agent_script_close(struct agent_script *s)
{
	if (s->running && !s->exited && s->pid > 0) {
		log_info("node=%s %s pid=%d stopped: the agent is closing", s->agent->cfg.node,
			 s->what, s->pid);
		agent_script_kill(s);
	}
	script_close(s, (uv_handle_t *)&s->pipe, &s->pipe_open);
	script_close(s, (uv_handle_t *)&s->proc, &s->proc_open);
	script_close(s, (uv_handle_t *)&s->timer, &s->timer_open);
}
