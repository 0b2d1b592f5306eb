/* SPDX-License-Identifier: MIT */
/* Running a measurement: hare-worker --profile for each model of the running
 * request, one process at a time, its output read and parsed into rows, its
 * exit judged, and the process killed on a failure, a cancel or agent close. */
#include "agent_impl.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void agent_profile_step(struct agent *a);

/* ---- the worker's output ---- */

/* A number of the worker's output: decimal, no sign or blank, finite. */
static bool agent_profile_num(const char *s, double *v)
{
	char *end;

	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return false;
	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*v);
}

static bool agent_profile_source_ok(const char *s)
{
	if (strlen(s) >= AGENT_NAME_MAX)
		return false;
	for (; *s; s++) {
		if (*s <= ' ' || *s >= 0x7f)
			return false;
	}
	return true;
}

/* Split line (modified) at commas into f; the number of fields, up to max + 1. */
static int agent_profile_split(char *line, char **f, int max)
{
	int n = 0;

	for (char *s = line; n <= max; n++) {
		char *comma = strchr(s, ',');

		if (n < max)
			f[n] = s;
		if (!comma)
			return n + 1;
		*comma = '\0';
		s = comma + 1;
	}
	return n;
}

/* One row "model,gpu_type,workers,placement,compute_s,sync_s,source" of the
 * model and type asked for (the worker's profile_print). 0 or -EINVAL with
 * why. */
static int agent_profile_row_parse(char *line, const char *model, const char *type,
				   struct agent_profile_row *row, char *why, size_t len)
{
	char *f[7];
	int n = agent_profile_split(line, f, 7);
	unsigned long w = 0;

	if (n != 7)
		snprintf(why, len, "expected 7 fields model,gpu_type,workers,placement,compute_s,"
			 "sync_s,source");
	else if (strcmp(f[0], model) != 0)
		snprintf(why, len, "not a row of model %s", model);
	else if (strcmp(f[1], type) != 0)
		snprintf(why, len, "not a row of GPU type %s", type);
	else if (strspn(f[2], "0123456789") != strlen(f[2]) || strlen(f[2]) < 1 ||
		 strlen(f[2]) > 3 || (w = strtoul(f[2], NULL, 10)) < 1 || w > 128)
		snprintf(why, len, "workers must be 1 to 128");
	else if (strcmp(f[3], "consolidated") != 0 && strcmp(f[3], "spread") != 0)
		snprintf(why, len, "placement must be consolidated or spread");
	else if (!agent_profile_num(f[4], &row->compute_s) || row->compute_s <= 0)
		snprintf(why, len, "compute_s must be a number above 0");
	else if (!agent_profile_num(f[5], &row->sync_s))
		snprintf(why, len, "sync_s must be a number of at least 0");
	else if (!agent_profile_source_ok(f[6]))
		snprintf(why, len, "source must be up to %d printable characters without blanks",
			 AGENT_NAME_MAX - 1);
	else
		why[0] = '\0';
	if (why[0])
		return -EINVAL;
	snprintf(row->model, sizeof(row->model), "%s", model);
	row->workers = (uint32_t)w;
	row->spread = strcmp(f[3], "spread") == 0;
	snprintf(row->source, sizeof(row->source), "%s", f[6]);
	return 0;
}

static void agent_profile_signal(struct agent *a, int sig)
{
	struct agent_profile_run *r = &a->prof;

	/* not its own group: the process only; never pid 0 or 1 (no process) */
	if (r->pid > 1 && !r->exited)
		agent_kill(a, r->pid, sig);
}

static void on_profile_pipe_closed(uv_handle_t *h);
static void on_profile_proc_closed(uv_handle_t *h);

static void agent_profile_pipe_close(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;

	if (!r->pipe_open)
		return;
	r->pipe_open = false;
	uv_close((uv_handle_t *)&r->pipe, on_profile_pipe_closed);
}

/* The running model failed (the first reason counts): its output is of no
 * use any more, nor is the process. */
__attribute__((format(printf, 2, 3)))
void agent_profile_fail(struct agent *a, const char *fmt, ...)
{
	struct agent_profile_run *r = &a->prof;
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->p->message, sizeof(r->p->message), fmt, ap);
	va_end(ap);
	agent_profile_pipe_close(a);
	agent_profile_signal(a, SIGKILL);
}

static int agent_profile_row_add(struct agent_profile *p, const struct agent_profile_row *row)
{
	if (p->nrows == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 64;
		struct agent_profile_row *v = realloc(p->rows, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->rows = v;
		p->cap = cap;
	}
	p->rows[p->nrows++] = *row;
	return 0;
}

/* One whole line of output (without its newline): comments and blank lines
 * are skipped, every other line must be a row. */
static void agent_profile_line(struct agent *a, const char *line, size_t len)
{
	struct agent_profile_run *r = &a->prof;
	struct agent_profile *p = r->p;
	const char *model = p->models[r->model];
	struct agent_profile_row row;
	char copy[AGENT_PROFILE_LINE_MAX + 1], why[160], q[AGENT_PROFILE_QUOTE + 4];

	if (len == 0 || line[0] == '#')
		return;
	agent_profile_quote(line, len, AGENT_PROFILE_QUOTE, q, sizeof(q));
	if (r->rows >= AGENT_PROFILE_ROWS_MAX) {
		agent_profile_fail(a, "hare-worker --profile --model %s printed more than %d rows",
				   model, AGENT_PROFILE_ROWS_MAX);
		return;
	}
	memcpy(copy, line, len);
	copy[len] = '\0';
	if (memchr(line, '\0', len))
		snprintf(why, sizeof(why), "a NUL byte");
	else if (agent_profile_row_parse(copy, model, p->type, &row, why, sizeof(why)) == 0)
		why[0] = '\0';
	if (why[0]) {
		agent_profile_fail(a, "hare-worker --profile --model %s printed a bad line '%s': %s",
				   model, q, why);
		return;
	}
	if (agent_profile_row_add(p, &row) < 0) {
		agent_profile_fail(a, "out of memory");
		return;
	}
	r->rows++;
}

/* Bytes of output, split into lines as they come. */
static void agent_profile_feed(struct agent *a, const char *buf, size_t n)
{
	struct agent_profile_run *r = &a->prof;

	while (n > 0 && !r->failed) {
		const char *nl = memchr(buf, '\n', n);
		size_t k = nl ? (size_t)(nl - buf) : n;
		char q[AGENT_PROFILE_QUOTE + 4];

		if (r->linelen + k > AGENT_PROFILE_LINE_MAX) {
			memcpy(r->line + r->linelen, buf, AGENT_PROFILE_LINE_MAX - r->linelen);
			agent_profile_quote(r->line, AGENT_PROFILE_LINE_MAX, AGENT_PROFILE_QUOTE, q,
					    sizeof(q));
			agent_profile_fail(a, "hare-worker --profile --model %s printed a line over %d "
					   "bytes: '%s'", r->p->models[r->model],
					   AGENT_PROFILE_LINE_MAX, q);
			return;
		}
		memcpy(r->line + r->linelen, buf, k);
		r->linelen += k;
		if (!nl)
			return;
		agent_profile_line(a, r->line, r->linelen);
		r->linelen = 0;
		buf += k + 1;
		n -= k + 1;
	}
}

static void on_profile_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct agent *a = s->data;
	struct agent_profile_run *r = &a->prof;
	char q[AGENT_PROFILE_QUOTE + 4];

	if (nread > 0) {
		agent_profile_feed(a, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF) {
		agent_profile_fail(a, "reading hare-worker --profile --model %s: %s",
				   r->p->models[r->model], uv_strerror((int)nread));
	} else if (r->linelen > 0) {
		agent_profile_quote(r->line, r->linelen, AGENT_PROFILE_QUOTE, q, sizeof(q));
		agent_profile_fail(a, "hare-worker --profile --model %s ended its output in the "
				   "middle of a line: '%s'", r->p->models[r->model], q);
	}
	agent_profile_pipe_close(a);
}

/* ---- the process ---- */

static void on_profile_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct agent_profile_run *r = &a->prof;

	if (!r->p || r->exited)
		return;
	log_warn("profile type=%s model=%s pid=%d still running after %u s; SIGKILL", r->p->type,
		 r->p->models[r->model], r->pid, a->cfg.profile_timeout_s);
	agent_profile_fail(a, "hare-worker --profile --model %s took over %u s",
			   r->p->models[r->model], a->cfg.profile_timeout_s);
}

/* Something the worker started still holds its output open. */
static void on_profile_eof_wait(uv_timer_t *t)
{
	struct agent *a = t->data;

	log_warn("profile type=%s output still open %d ms after the worker's exit; closing it",
		 a->prof.p ? a->prof.p->type : "-", AGENT_EOF_WAIT_MS);
	agent_profile_pipe_close(a);
}

/* Closing: the measurement did not end on SIGTERM; nor, the second time,
 * on SIGKILL (stuck in the kernel): stop waiting for it. */
static void on_profile_kill(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct agent_profile_run *r = &a->prof;

	if (!r->killed) {
		log_warn("profile pid=%d still running %d ms after SIGTERM; SIGKILL", r->pid,
			 AGENT_PROFILE_KILL_MS);
		r->killed = true;
		agent_profile_signal(a, SIGKILL);
		uv_timer_start(&r->timer, on_profile_kill, AGENT_PROFILE_KILL_MS, 0);
	} else if (r->proc_open) {
		log_warn("profile pid=%d still running %d ms after SIGKILL; not waiting for it",
			 r->pid, AGENT_PROFILE_KILL_MS);
		r->proc_open = false;
		uv_close((uv_handle_t *)&r->proc, on_profile_proc_closed);
	}
}

/* A handle of the run closed: the next step may wait for no more. */
static void agent_profile_handle_closed(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;

	r->handles--;
	if (!a->closing) {
		agent_profile_step(a);
		return;
	}
	if (r->handles == 0 && !uv_is_closing((uv_handle_t *)&r->timer))
		uv_close((uv_handle_t *)&r->timer, agent_on_handle_closed);
	agent_maybe_done(a);
}

static void on_profile_pipe_closed(uv_handle_t *h)
{
	agent_profile_handle_closed(h->data);
}

static void on_profile_proc_closed(uv_handle_t *h)
{
	agent_profile_handle_closed(h->data);
}

void agent_profile_on_exit(struct agent *a, int64_t status, int sig)
{
	struct agent_profile_run *r = &a->prof;

	r->exited = true;
	r->exit_status = status;
	r->term_signal = sig;
	log_debug("profile exit pid=%d status=%lld signal=%d", r->pid, (long long)status, sig);
	if (r->proc_open) {
		r->proc_open = false;
		uv_close((uv_handle_t *)&r->proc, on_profile_proc_closed);
	}
	if (a->closing) {
		uv_timer_stop(&r->timer);
		return;
	}
	uv_timer_stop(&r->timer);
	if (r->pipe_open)
		uv_timer_start(&r->timer, on_profile_eof_wait, AGENT_EOF_WAIT_MS, 0);
	agent_profile_step(a);
}

static void on_profile_exit(uv_process_t *proc, int64_t status, int sig)
{
	agent_profile_on_exit(proc->data, status, sig);
}

/* hare-worker --profile's flags for the running model. */
static void agent_profile_argv(struct agent_strv *av, const struct agent *a, bool emulated)
{
	const struct agent_profile_run *r = &a->prof;

	agent_strv_add(av, "%s", a->cfg.worker);
	agent_strv_add(av, "--profile");
	agent_strv_add(av, "--model=%s", r->p->models[r->model]);
	agent_strv_add(av, "--gpu-type=%s", r->p->type);
	if (emulated)
		agent_strv_add(av, "--engine=cpu");
	if (a->cfg.profile_proxy[0])
		agent_strv_add(av, "--proxy=%s", a->cfg.profile_proxy);
	if (a->cfg.profile_iters)
		agent_strv_add(av, "--profile-iters=%u", a->cfg.profile_iters);
	/* it ends with the agent, even a SIGKILLed one: a measurement nobody
	 * reads would hold the GPUs the next agent measures on (an agent that
	 * is pid 1 takes its whole pid namespace with it anyway) */
	if (getpid() > 1)
		agent_strv_add(av, "--parent-pid=%d", (int)getpid());
}

/* The agent's environment with the type's GPUs (none when emulated), in
 * NVML's order. */
static void agent_profile_env(struct agent_strv *env, const struct agent *a, bool emulated)
{
	char devs[AGENT_GPUS_MAX * 11 + 1] = "";
	size_t n = 0;

	agent_env_inherit(env);
	agent_strv_add(env, "CUDA_DEVICE_ORDER=PCI_BUS_ID");
	for (uint32_t i = 0; i < a->cfg.ngpus && !emulated; i++) {
		if (strcmp(a->cfg.gpus[i].type, a->prof.p->type) == 0)
			n += (size_t)snprintf(devs + n, sizeof(devs) - n, "%s%u", n ? "," : "",
					      a->cfg.gpus[i].index);
	}
	agent_strv_add(env, "CUDA_VISIBLE_DEVICES=%s", devs);
}

/* stdin /dev/null, stdout out_fd, stderr the agent's log; not detached, so
 * the measurement belongs to the agent (agent_profile_close ends it). */
static void agent_profile_options(struct agent *a, uv_process_options_t *o,
				  uv_stdio_container_t stdio[3], const struct agent_strv *av,
				  const struct agent_strv *env, int out_fd)
{
	memset(o, 0, sizeof(*o));
	memset(stdio, 0, 3 * sizeof(*stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = out_fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = STDERR_FILENO;
	o->file = av->v[0];
	o->args = av->v;
	o->env = env->v;
	o->cwd = a->cfg.work_dir;
	o->exit_cb = on_profile_exit;
	o->stdio = stdio;
	o->stdio_count = 3;
}

static int agent_profile_spawn(struct agent *a, int out_fd, char *why, size_t len)
{
	struct agent_profile_run *r = &a->prof;
	struct agent_strv av = { 0 }, env = { 0 };
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;
	bool emulated;
	int rc = -ENOMEM;

	agent_profile_gpus(a, r->p->type, &emulated);
	agent_profile_argv(&av, a, emulated);
	agent_profile_env(&env, a, emulated);
	if (av.failed || env.failed) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	agent_profile_options(a, &o, stdio, &av, &env, out_fd);
	if (a->profile_hook) {
		/* test seam: no process and no handle; the pid stays 0 */
		rc = a->profile_hook(a, &o);
	} else {
		r->proc.data = a;
		rc = uv_spawn(a->loop, &r->proc, &o);
		r->handles++;	/* initialised even when the spawn failed */
		r->proc_open = true;
		if (rc == 0)
			r->pid = r->proc.pid;
	}
	if (rc < 0)
		snprintf(why, len, "cannot start %.200s: %s", av.v[0], uv_strerror(rc));
out:
	agent_strv_free(&av);
	agent_strv_free(&env);
	return rc;
}

/* Read the worker's output from fd (taken over). */
static int agent_profile_pipe_attach(struct agent *a, int fd)
{
	struct agent_profile_run *r = &a->prof;
	int rc;

	uv_pipe_init(a->loop, &r->pipe, 0);
	r->pipe.data = a;
	r->handles++;
	r->pipe_open = true;
	rc = uv_pipe_open(&r->pipe, fd);
	if (rc < 0)
		close(fd);	/* not the handle's yet */
	else
		rc = uv_read_start((uv_stream_t *)&r->pipe, agent_rbuf_alloc, on_profile_read);
	return rc;
}

/* Start hare-worker --profile for the running request's model r->model. */
static void agent_profile_model_start(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;
	const char *model = r->p->models[r->model];
	char why[300];
	int fds[2], rc;

	r->exited = r->killed = false;
	r->exit_status = 0;
	r->term_signal = r->pid = 0;
	r->rows = 0;
	r->linelen = 0;
	r->start_ms = agent_now_ms(a);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r->exited = true;
		agent_profile_fail(a, "hare-worker --profile --model %s: pipe: %s", model,
				   strerror(errno));
		agent_profile_step(a);
		return;
	}
	rc = agent_profile_pipe_attach(a, fds[0]);
	if (rc == 0)
		rc = agent_profile_spawn(a, fds[1], why, sizeof(why));
	else
		snprintf(why, sizeof(why), "reading its output: %s", uv_strerror(rc));
	close(fds[1]);	/* the worker's now, or nobody's */
	if (rc < 0) {
		log_warn("profile type=%s model=%s: %s", r->p->type, model, why);
		if (r->proc_open && !r->pid) {
			/* uv_spawn failed: no exit will come */
			r->proc_open = false;
			uv_close((uv_handle_t *)&r->proc, on_profile_proc_closed);
		}
		r->exited = true;
		agent_profile_fail(a, "hare-worker --profile --model %s: %s", model, why);
		agent_profile_step(a);
		return;
	}
	a->stats.profile_workers++;
	log_info("profile start type=%s model=%s index=%u/%u pid=%d", r->p->type, model,
		 r->model + 1, r->p->nmodels, r->pid);
	uv_timer_start(&r->timer, on_profile_timeout, (uint64_t)a->cfg.profile_timeout_s * 1000, 0);
}

/* The model's outcome once its process and output are done with. */
static void agent_profile_judge(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;
	const char *model = r->p->models[r->model];
	int sig = r->term_signal;

	if (r->failed)
		return;
	if (sig)
		agent_profile_fail(a, "hare-worker --profile --model %s was killed by signal %d (%s)",
				   model, sig, strsignal(sig));
	else if (r->exit_status != 0)
		agent_profile_fail(a, "hare-worker --profile --model %s exited with status %lld",
				   model, (long long)r->exit_status);
	else if (r->rows == 0)
		agent_profile_fail(a, "hare-worker --profile --model %s printed no rows", model);
	else
		log_info("profile type=%s model=%s rows=%u seconds=%.1f", r->p->type, model, r->rows,
			 (double)(agent_now_ms(a) - r->start_ms) / 1000.0);
}

/* The request is over: its result goes out (or waits for the link). */
static void agent_profile_finish(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;
	struct agent_profile *p = r->p;
	double secs = (double)(agent_now_ms(a) - p->start_ms) / 1000.0;

	r->p = NULL;
	p->cancelled = r->cancelled;
	r->cancelled = false;
	p->ok = !r->failed && !p->cancelled;
	if (p->cancelled) {
		log_info("profile cancelled type=%s seconds=%.1f", p->type, secs);
		free(p->rows);
		p->rows = NULL;
		p->nrows = p->cap = 0;
	} else if (p->ok) {
		log_info("profile done type=%s models=%u rows=%u seconds=%.1f", p->type, p->nmodels,
			 p->nrows, secs);
	} else {
		log_warn("profile failed type=%s seconds=%.1f: %s", p->type, secs, p->message);
		free(p->rows);
		p->rows = NULL;
		p->nrows = p->cap = 0;
	}
	agent_profile_done(a, p);
}

/* The running model is over once its process exited and its output and
 * handles are closed (they are reused for the next model). */
static void agent_profile_step(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;

	if (a->closing || !r->p || !r->exited || r->pipe_open || r->handles > 0)
		return;
	uv_timer_stop(&r->timer);
	agent_profile_judge(a);
	if (!r->failed && r->model + 1 < r->p->nmodels) {
		r->model++;
		agent_profile_model_start(a);
		return;
	}
	agent_profile_finish(a);
	agent_profile_next(a);
}

/* Start the first queued request when nothing runs. */
void agent_profile_next(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;
	struct agent_profile *p;

	if (a->closing || r->p || r->handles > 0)
		return;
	for (p = a->profiles; p && p->phase != PROFILE_QUEUED; p = p->next)
		;
	if (!p)
		return;
	p->phase = PROFILE_RUNNING;
	p->start_ms = agent_now_ms(a);
	r->p = p;
	r->model = 0;
	r->failed = r->cancelled = false;
	agent_profile_model_start(a);
}

void agent_profile_close(struct agent *a)
{
	struct agent_profile_run *r = &a->prof;
	struct agent_profile *p = a->profiles, *next;

	for (; p; p = next) {
		next = p->next;
		agent_profile_free(p);
	}
	a->profiles = NULL;
	r->p = NULL;
	agent_profile_pipe_close(a);
	uv_timer_stop(&r->timer);
	if (r->proc_open && !r->exited) {
		log_info("profile stop pid=%d: the agent is closing", r->pid);
		agent_profile_signal(a, SIGTERM);
		uv_timer_start(&r->timer, on_profile_kill, AGENT_PROFILE_KILL_MS, 0);
	}
	if (r->handles == 0)
		uv_close((uv_handle_t *)&r->timer, agent_on_handle_closed);
}
