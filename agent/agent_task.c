/* SPDX-License-Identifier: MIT */
/* Worker supervision: one task per (job, lease, rank) started here; its
 * report lines become batched RoundReports, its end a TaskExit; TaskStop is
 * SIGTERM, then SIGKILL after the grace period. */
#include "agent_impl.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bad lines logged per task before going quiet (then one in 1000). */
#define AGENT_BAD_LINES_LOGGED 5

struct agent_task *agent_task_alloc(struct agent *a, uint64_t job, uint64_t lease, uint32_t rank)
{
	struct agent_task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->agent = a;
	t->job_id = job;
	t->lease_id = lease;
	t->rank = rank;
	t->phase = TASK_RUNNING;
	t->log_off = -1;
	t->run_uid = t->run_gid = -1;
	report_reader_init(&t->reader);
	snprintf(t->base, sizeof(t->base), "%s/tasks/%llu.%llu.%u", a->cfg.work_dir,
		 (unsigned long long)job, (unsigned long long)lease, rank);
	uv_timer_init(a->loop, &t->timer);
	t->timer.data = t;
	t->handles = 1;
	agent_prolog_init(t);
	t->next = a->tasks;
	a->tasks = t;
	a->ntasks++;
	return t;
}

static struct agent_task *agent_task_find(struct agent *a, uint64_t job, uint64_t lease,
					  uint32_t rank)
{
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id == job && t->lease_id == lease && t->rank == rank)
			return t;
	}
	return NULL;
}

static void agent_task_unlink(struct agent_task *t)
{
	struct agent *a = t->agent;

	for (struct agent_task **p = &a->tasks; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			a->ntasks--;
			return;
		}
	}
}

/* Free once no handle is open and the task is finished with (or the agent
 * is going away). */
static void agent_task_maybe_free(struct agent_task *t)
{
	struct agent *a = t->agent;

	if (t->handles > 0 || t->script.handles > 0 || (t->phase != TASK_GONE && !a->closing))
		return;
	agent_task_unlink(t);
	agent_prolog_free(t);
	free(t);
	if (!a->closing)
		agent_cgroup_sweep(a, false);	/* its cgroups, once empty */
	agent_maybe_done(a);
}

void agent_task_on_handle_closed(uv_handle_t *h)
{
	struct agent_task *t = h->data;

	t->handles--;
	agent_task_maybe_free(t);
}

void agent_task_handle_gone(struct agent_task *t)
{
	agent_task_maybe_free(t);
}

static void agent_task_close_handle(struct agent_task *t, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, agent_task_on_handle_closed);
}

int agent_kill(const struct agent *a, pid_t pid, int sig)
{
	return a->kill_hook ? a->kill_hook(pid, sig) : kill(pid, sig);
}

/* Signal the worker's process group (it runs in its own session), so a
 * researcher's shell and its children are reached too. A group id is not
 * reused while the group has members; a bare pid after its exit could be.
 * A pid of 0 or 1 is never a worker of ours (only a damaged state file can
 * say so) and would reach the agent's own group or, as kill(-1), every
 * process the agent may signal. */
void agent_task_signal(struct agent_task *t, int sig)
{
	/* what left the group is in the worker's cgroup (a worker running
	 * as root could move a stranger in: only root's jobs can) */
	if (sig == SIGKILL)
		agent_cgroup_kill(t->agent, t->cgroup);
	else if (t->pid > 1)
		agent_cgroup_signal(t->agent, t->cgroup, sig, t->pid);
	if (t->pid <= 1)
		return;
	/* an adopted worker that is gone may have left its pid to another
	 * process: never signal that one */
	if (t->adopted && (t->adopted_dead || !agent_pid_alive(t->pid, t->pid_start)))
		return;
	if (agent_kill(t->agent, -t->pid, sig) < 0 && errno == ESRCH && !t->exited)
		agent_kill(t->agent, t->pid, sig);
}

static bool agent_task_send_report(struct agent_task *t)
{
	struct agent *a = t->agent;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__RoundReport r = HARE__ROUND_REPORT__INIT;

	if (t->pend.count == 0)
		return true;
	if (!agent_link_is_ready(a) || agent_link_queued(a) > AGENT_WRITE_QUEUE_MAX)
		return false;
	r.job_id = t->job_id;
	r.lease_id = t->lease_id;
	r.rank = t->rank;
	r.round_first = t->pend.first;
	r.round_count = t->pend.count;
	r.compute_s = t->pend.compute_s;
	r.sync_s = t->pend.sync_s;
	r.has_loss = !isnan(t->pend.loss);
	r.loss = t->pend.loss;
	m.msg_case = HARE__TO_DAEMON__MSG_ROUND_REPORT;
	m.round_report = &r;
	if (agent_link_send(a, &m) < 0)
		return false;
	a->stats.reports_sent++;
	a->stats.rounds_relayed += t->pend.count;
	t->pend.count = 0;
	t->last_sent_ms = agent_now_ms(a);
	return true;
}

bool agent_tasks_flush(struct agent *a, bool force)
{
	uint64_t now = agent_now_ms(a);
	bool left = false;

	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->pend.count == 0)
			continue;
		if (force || now - t->last_sent_ms >= a->cfg.report_interval_ms)
			agent_task_send_report(t);
		left |= t->pend.count > 0;
	}
	return left;
}

/* Fold one round line into the pending report; a line that does not
 * continue it pushes the pending one out first. */
static void agent_task_on_round(struct agent_task *t, const struct report_line *l)
{
	struct agent *a = t->agent;
	struct report_line *p = &t->pend;

	if (l->first != t->next_first && t->rounds_reported > 0)
		log_warn("task job=%llu lease=%llu rank=%u reports rounds from %llu, expected %llu",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
			 (unsigned long long)l->first, (unsigned long long)t->next_first);
	if (p->count > 0 && (l->first != p->first + p->count || p->count > UINT32_MAX - l->count) &&
	    !agent_task_send_report(t)) {
		log_warn("task job=%llu lease=%llu rank=%u drops rounds %llu+%u (not contiguous, daemon unreachable)",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
			 (unsigned long long)p->first, p->count);
		p->count = 0;
	}
	if (p->count == 0) {
		*p = *l;
	} else {
		p->count += l->count;
		p->compute_s += l->compute_s;
		p->sync_s += l->sync_s;
		p->loss = l->loss;
	}
	t->rounds_reported += l->count;
	t->next_first = l->first + l->count;
	if (agent_now_ms(a) - t->last_sent_ms >= a->cfg.report_interval_ms)
		agent_task_send_report(t);
	if (p->count > 0)
		agent_flush_timer_arm(a);
}

static void agent_task_on_line(void *user, int rc, const struct report_line *l, const char *err)
{
	struct agent_task *t = user;
	struct agent *a = t->agent;

	a->stats.report_lines++;
	if (rc < 0) {
		t->bad_lines++;
		a->stats.bad_lines++;
		if (t->bad_lines <= AGENT_BAD_LINES_LOGGED || t->bad_lines % 1000 == 0)
			log_warn("task job=%llu lease=%llu rank=%u bad report line (%llu so far): %s",
				 (unsigned long long)t->job_id, (unsigned long long)t->lease_id,
				 t->rank, (unsigned long long)t->bad_lines, err);
		return;
	}
	if (l->kind == REPORT_ROUND) {
		agent_task_on_round(t, l);
		return;
	}
	if (l->kind == REPORT_RENDEZVOUS) {
		agent_rdv_on_line(t, l);
		return;
	}
	t->saw_end = true;
	t->end = *l;
}

static void on_pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct agent_task *t = h->data;

	(void)suggested;
	*buf = uv_buf_init(t->agent->rbuf, sizeof(t->agent->rbuf));
}

static void agent_task_pipe_close(struct agent_task *t)
{
	if (!t->pipe_open)
		return;
	t->pipe_open = false;
	agent_task_close_handle(t, (uv_handle_t *)&t->pipe);
}

bool agent_proc_stat(int pid, char *buf, size_t len, const char **rest)
{
	char path[64], *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return false;
	*rest = p + 2;
	return true;
}

uint64_t agent_pid_start(int pid)
{
	char buf[1024];
	const char *p;
	unsigned long long start;

	if (pid <= 1 || !agent_proc_stat(pid, buf, sizeof(buf), &p))
		return 0;
	/* field 22, starttime; p is at field 3 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p && sscanf(p, "%llu", &start) == 1 ? (uint64_t)start : 0;
}

bool agent_pid_alive(int pid, uint64_t start)
{
	char buf[1024];
	const char *p;

	if (pid <= 1 || (kill(pid, 0) < 0 && errno != EPERM))
		return false;
	if (!agent_proc_stat(pid, buf, sizeof(buf), &p))
		return true;	/* no procfs: kill says it is there */
	if (p[0] == 'Z' || p[0] == 'X')
		return false;
	return start == 0 || agent_pid_start(pid) == start;
}

/* A task ends when its worker has exited and its pipe is closed; an
 * adopted worker, not our child, when it is gone (agent_task_watch). */
static void agent_task_maybe_end(struct agent_task *t)
{
	if (t->phase == TASK_RUNNING && !t->pipe_open &&
	    (t->exited || (t->adopted && !agent_pid_alive(t->pid, t->pid_start))))
		agent_task_end(t);
}

static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct agent_task *t = s->data;

	if (nread > 0) {
		report_reader_feed(&t->reader, buf->base, (size_t)nread, agent_task_on_line, t);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF)
		log_warn("task job=%llu lease=%llu rank=%u report pipe: %s",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
			 uv_strerror((int)nread));
	if (report_reader_has_partial(&t->reader))
		log_warn("task job=%llu lease=%llu rank=%u report pipe closed in the middle of a line",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank);
	agent_task_pipe_close(t);
	agent_task_maybe_end(t);
}

int agent_task_pipe_attach(struct agent_task *t, int fd)
{
	struct agent *a = t->agent;
	int rc;

	uv_pipe_init(a->loop, &t->pipe, 0);
	t->pipe.data = t;
	t->handles++;
	t->pipe_open = true;
	rc = uv_pipe_open(&t->pipe, fd);
	if (rc < 0)
		close(fd);	/* not the handle's yet */
	else
		rc = uv_read_start((uv_stream_t *)&t->pipe, on_pipe_alloc, on_pipe_read);
	if (rc < 0)
		agent_task_pipe_close(t);
	return rc;
}

static void on_task_timer(uv_timer_t *timer)
{
	struct agent_task *t = timer->data;

	if (t->phase != TASK_RUNNING)
		return;
	if (t->adopted && !t->exited && !agent_pid_alive(t->pid, t->pid_start)) {
		/* the adopted worker is gone (its exit status is not ours to
		 * know): as after a child's exit, wait a moment for the pipe */
		t->exited = true;
		uv_timer_stop(&t->timer);
		if (t->pipe_open)
			uv_timer_start(&t->timer, on_task_timer, AGENT_EOF_WAIT_MS, 0);
		agent_task_maybe_end(t);
		return;
	}
	if (t->adopted && !t->exited && (!t->stop_requested || t->killed))
		return;	/* alive: agent_task_watch's timer looks again */
	if (t->exited) {
		/* the worker is gone but something it started holds the pipe */
		log_warn("task job=%llu lease=%llu rank=%u report pipe still open %d ms after exit; closing it",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
			 AGENT_EOF_WAIT_MS);
		agent_task_pipe_close(t);
		agent_task_maybe_end(t);
		return;
	}
	log_warn("task job=%llu lease=%llu rank=%u pid=%d still running %u ms after SIGTERM; SIGKILL",
		 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank, t->pid,
		 t->agent->cfg.stop_grace_ms);
	t->killed = true;
	agent_task_signal(t, SIGKILL);
	if (t->adopted)
		agent_task_watch(t);
}

void agent_task_watch(struct agent_task *t)
{
	uv_timer_start(&t->timer, on_task_timer, AGENT_ADOPT_WATCH_MS, AGENT_ADOPT_WATCH_MS);
}

void agent_task_on_exit(struct agent_task *t, int64_t status, int sig)
{
	t->exited = true;
	t->exit_status = status;
	t->term_signal = sig;
	log_info("task exit job=%llu lease=%llu rank=%u pid=%d status=%lld signal=%d rounds=%llu",
		 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank, t->pid,
		 (long long)status, sig, (unsigned long long)t->rounds_reported);
	uv_timer_stop(&t->timer);
	if (t->pipe_open)
		uv_timer_start(&t->timer, on_task_timer, AGENT_EOF_WAIT_MS, 0);
	agent_task_maybe_end(t);
}

void agent_task_stop(struct agent *a, uint64_t job_id, uint64_t lease_id, const char *reason)
{
	int n = 0;

	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id != job_id || t->lease_id != lease_id || t->phase > TASK_EPILOG)
			continue;
		n++;
		if (t->stop_requested || t->phase == TASK_EPILOG || t->phase == TASK_REAPING)
			continue;	/* the task has ended: its exit follows */
		if (t->phase == TASK_PROLOG) {
			log_info("task stop job=%llu lease=%llu rank=%u during its prolog: the prolog "
				 "is killed, the worker not started", (unsigned long long)job_id,
				 (unsigned long long)lease_id, t->rank);
			snprintf(t->stop_reason, sizeof(t->stop_reason), "%s", reason ? reason : "");
			agent_prolog_stop(t);
			continue;
		}
		if (t->exited) {
			/* it ended on its own before the stop came (a child of it
			 * still holds the pipe): its exit says how, a failure stays
			 * one (hared blames the node of a rank that failed by
			 * itself); the child goes */
			log_info("task stop job=%llu lease=%llu rank=%u: the worker had exited already "
				 "(status %lld signal %d)", (unsigned long long)job_id,
				 (unsigned long long)lease_id, t->rank, (long long)t->exit_status,
				 t->term_signal);
			agent_task_signal(t, SIGTERM);
			continue;
		}
		t->stop_requested = true;
		snprintf(t->stop_reason, sizeof(t->stop_reason), "%s", reason ? reason : "");
		log_info("task stop job=%llu lease=%llu rank=%u pid=%d reason=%s",
			 (unsigned long long)job_id, (unsigned long long)lease_id, t->rank, t->pid,
			 reason ? reason : "-");
		agent_task_signal(t, SIGTERM);
		if (!t->exited)
			uv_timer_start(&t->timer, on_task_timer, a->cfg.stop_grace_ms, 0);
	}
	if (n == 0)
		log_info("task stop job=%llu lease=%llu: no such task running here",
			 (unsigned long long)job_id, (unsigned long long)lease_id);
}

/* Why a stopped or failed task ended, in words. */
static void agent_task_explain(struct agent_task *t)
{
	char *m = t->message;
	size_t n = sizeof(t->message);
	int sig = t->term_signal;

	if (t->adopted)
		snprintf(m, n, "%s", t->stop_requested ? "stopped" : t->adopted_dead ?
			 "worker ended without a done line while the agent was away" :
			 "adopted worker ended without a done line (its exit code is unknown)");
	else if (sig && t->killed)
		snprintf(m, n, "killed by signal %d after the %u ms grace period", sig,
			 t->agent->cfg.stop_grace_ms);
	else if (sig)
		snprintf(m, n, "%s by signal %d (%s)", t->stop_requested ? "stopped" : "terminated",
			 sig, strsignal(sig));
	else if (t->stop_requested)
		snprintf(m, n, "stopped after %llu rounds (exit code %lld)",
			 (unsigned long long)t->rounds_done, (long long)t->exit_status);
	else if (t->exit_status == REPORT_EXIT_PEER)
		snprintf(m, n, "exited with code %d (a peer rank or the network failed)",
			 REPORT_EXIT_PEER);
	else if (t->exit_status != 0)
		snprintf(m, n, "exited with code %lld", (long long)t->exit_status);
	else
		snprintf(m, n, "exited with code 0 %s", t->saw_end ?
			 "after a stopped line, unasked" : "without a done line");
}

/* The outcome: OK only with a done line and a clean exit; STOPPED when
 * asked to stop; FAILED otherwise. */
static void agent_task_outcome(struct agent_task *t)
{
	bool done = t->saw_end && t->end.kind == REPORT_DONE;
	bool clean = t->adopted || (t->exit_status == 0 && t->term_signal == 0);

	t->has_exit_code = !t->adopted;
	t->exit_code = t->term_signal ? 128 + t->term_signal : (int32_t)t->exit_status;
	t->rounds_done = t->adopted && t->saw_end ? t->end.rounds : agent_task_rounds(t);
	if (done && clean) {
		t->status = HARE__TASK_STATUS__TASK_OK;
		snprintf(t->message, sizeof(t->message), "done after %llu rounds",
			 (unsigned long long)t->rounds_done);
		return;
	}
	/* a worker that stopped cleanly on its own (its reports went unread:
	 * hare-worker --orphan-timeout-s) ended like a stopped one, with a
	 * checkpoint; no failure to count */
	t->status = t->stop_requested || (clean && t->saw_end && t->end.kind == REPORT_STOPPED)
		? HARE__TASK_STATUS__TASK_STOPPED : HARE__TASK_STATUS__TASK_FAILED;
	agent_task_explain(t);
	if (t->status == HARE__TASK_STATUS__TASK_FAILED) {
		/* what the worker said last is usually why (a traceback's end) */
		char last[200];
		size_t n = strlen(t->message);

		agent_log_last_line(t, last, sizeof(last));
		if (last[0])
			snprintf(t->message + n, sizeof(t->message) - n, "; last output: %s", last);
	}
}

void agent_task_message_add(struct agent_task *t, const char *more)
{
	size_t n = strlen(t->message), k;
	char add[sizeof(t->message)];

	/* cut at a character's start */
	snprintf(add, sizeof(add), "; %s", more);
	k = utf8_cut_len(add, sizeof(t->message) - 1 - n);
	memcpy(t->message + n, add, k);
	t->message[n + k] = '\0';
}

void agent_task_end(struct agent_task *t)
{
	struct agent *a = t->agent;

	uv_timer_stop(&t->timer);
	if (t->message[0] == '\0')
		agent_task_outcome(t);
	/* What the worker left in its process group (a child that ignores
	 * SIGTERM, a daemonized data loader) must not hold the GPU the next
	 * lease gets. The group outlives its leader while it has members, so
	 * its id is still ours; an adopted worker's is when its start time
	 * matched at adoption (an older agent's state file has none). */
	if ((!t->adopted || (t->pid_start && !t->adopted_dead)) && t->pid > 1 &&
	    agent_kill(a, -t->pid, SIGKILL) == 0)
		log_info("task end job=%llu lease=%llu rank=%u: killed what was left of its process "
			 "group", (unsigned long long)t->job_id, (unsigned long long)t->lease_id,
			 t->rank);
	/* ... and of its cgroup: what escaped the group (setsid) */
	if (t->cgroup[0] && agent_cgroup_populated(t->cgroup) == 1 &&
	    agent_cgroup_kill(a, t->cgroup) == 0)
		log_info("task end job=%llu lease=%llu rank=%u: killed what was left in its cgroup",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank);
	if (t->status != HARE__TASK_STATUS__TASK_OK)
		log_info("task end job=%llu lease=%llu rank=%u status=%s rounds=%llu: %s",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
			 t->status == HARE__TASK_STATUS__TASK_STOPPED ? "stopped" : "failed",
			 (unsigned long long)t->rounds_done, t->message);
	/* the exit waits for them to be gone: the GPU is not free before */
	if (agent_reap_start(t))
		return;	/* its end finishes the task */
	agent_task_finish(t);
}

void agent_task_finish(struct agent_task *t)
{
	agent_log_end(t);
	if (agent_epilog_start(t))
		return;	/* its end sends the exit */
	t->phase = TASK_ENDED;
	agent_state_write(t);	/* so a restarted agent still sends the exit */
	agent_tasks_send_exits(t->agent);
}

/* TaskExit after the task's last report; false when it has to wait. */
static bool agent_task_send_exit(struct agent_task *t)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__TaskExit e = HARE__TASK_EXIT__INIT;

	if (!agent_task_send_report(t))
		return false;
	e.job_id = t->job_id;
	e.lease_id = t->lease_id;
	e.rank = t->rank;
	e.status = t->status;
	e.has_exit_code = t->has_exit_code;
	e.exit_code = t->exit_code;
	e.has_rounds_done = true;
	e.rounds_done = t->rounds_done;
	e.has_round_first = true;
	e.round_first = t->round_first;
	e.message = t->message;
	e.has_no_account = e.no_account = t->no_account;
	e.node_fault = t->node_fault[0] ? t->node_fault : NULL;
	e.has_prolog_failed = e.prolog_failed = t->prolog_failed;
	m.msg_case = HARE__TO_DAEMON__MSG_TASK_EXIT;
	m.task_exit = &e;
	if (agent_link_send(t->agent, &m) < 0)
		return false;
	t->agent->stats.exits_sent++;
	return true;
}

bool agent_tasks_send_exits(struct agent *a)
{
	struct agent_task *t = a->tasks, *next;
	bool left = false;

	for (; t; t = next) {
		next = t->next;
		if (t->phase != TASK_ENDED)
			continue;
		if (!agent_task_send_exit(t)) {
			left = true;
			continue;
		}
		t->phase = TASK_GONE;
		agent_state_remove(t);
		agent_rdv_release(t);
		/* a run given up as stuck is left to end (and be reaped):
		 * its end closes the script */
		if (t->script.agent && !t->script.running)
			agent_script_close(&t->script);
		agent_task_close_handle(t, (uv_handle_t *)&t->timer);
	}
	/* held back by a full write queue: the batching timer retries */
	if (left && agent_link_is_ready(a))
		agent_flush_timer_arm(a);
	return left;
}

uint64_t agent_task_rounds(const struct agent_task *t)
{
	uint64_t n = t->rounds_reported;

	/* Reports carry absolute round numbers, so an adopted worker's first
	 * report also tells how far it got before the agent restarted. */
	if (t->next_first > t->round_first && t->next_first - t->round_first > n)
		n = t->next_first - t->round_first;
	return n;
}

uint32_t agent_tasks_live(const struct agent *a)
{
	uint32_t n = 0;

	for (const struct agent_task *t = a->tasks; t; t = t->next)
		n += t->phase <= TASK_EPILOG;
	return n;
}

int agent_tasks_running(struct agent *a, Hare__RunningTask ***out, size_t *n)
{
	size_t count = 0, i = 0;
	Hare__RunningTask **v, *r;
	void *mem;

	/* one in its prolog or epilog too: its GPU is not free yet */
	for (struct agent_task *t = a->tasks; t; t = t->next)
		count += t->phase <= TASK_EPILOG;
	mem = calloc(1, count * (sizeof(*v) + sizeof(*r)) + 1);
	if (!mem)
		return -ENOMEM;
	v = mem;
	r = (Hare__RunningTask *)(v + count);
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->phase > TASK_EPILOG)
			continue;
		hare__running_task__init(&r[i]);
		r[i].job_id = t->job_id;
		r[i].lease_id = t->lease_id;
		r[i].rank = t->rank;
		/* an adopted worker that has not reported yet: its rounds are unknown */
		r[i].has_rounds_done = !t->adopted || t->rounds_reported > 0;
		r[i].rounds_done = agent_task_rounds(t);
		r[i].has_gpu_index = r[i].has_round_first = true;
		r[i].gpu_index = t->gpu_index;
		r[i].round_first = t->round_first;
		r[i].has_world_size = t->world_size > 0;
		r[i].world_size = t->world_size;
		r[i].has_tasks = t->tasks > 0;
		r[i].tasks = t->tasks;
		v[i] = &r[i];
		i++;
	}
	*out = v;
	*n = count;
	return 0;
}

void agent_tasks_close(struct agent *a)
{
	struct agent_task *t = a->tasks, *next;

	for (; t; t = next) {
		next = t->next;
		t->handles++;	/* hold the task while its handles close */
		if (t->proc_open)
			agent_task_close_handle(t, (uv_handle_t *)&t->proc);
		if (t->script.agent)
			agent_script_close(&t->script);
		agent_task_pipe_close(t);
		agent_task_close_handle(t, (uv_handle_t *)&t->timer);
		t->handles--;
		agent_task_maybe_free(t);
	}
}

/* A TaskStart that cannot run: answer with TaskExit FAILED at once. */
static void agent_task_refuse(struct agent *a, const Hare__TaskStart *m, const char *why)
{
	struct agent_task *t = agent_task_alloc(a, m->job_id, m->lease_id, m->rank);

	log_warn("task refuse job=%llu lease=%llu rank=%u: %s", (unsigned long long)m->job_id,
		 (unsigned long long)m->lease_id, m->rank, why);
	if (!t)
		return;
	t->status = HARE__TASK_STATUS__TASK_FAILED;
	t->round_first = m->round_first;
	snprintf(t->message, sizeof(t->message), "%s", why);
	t->phase = TASK_ENDED;
	agent_tasks_send_exits(a);
}

void agent_task_start(struct agent *a, const Hare__TaskStart *m)
{
	struct agent_task *t;
	char why[200] = "";

	if (agent_task_find(a, m->job_id, m->lease_id, m->rank)) {
		log_warn("task start job=%llu lease=%llu rank=%u: already here, ignored",
			 (unsigned long long)m->job_id, (unsigned long long)m->lease_id, m->rank);
		return;
	}
	if (a->ntasks >= AGENT_TASKS_MAX)
		snprintf(why, sizeof(why), "agent already holds %d tasks", AGENT_TASKS_MAX);
	else
		agent_spawn_check(a, m, why, sizeof(why));
	if (why[0]) {
		agent_task_refuse(a, m, why);
		return;
	}
	t = agent_task_alloc(a, m->job_id, m->lease_id, m->rank);
	if (!t)
		return;
	t->gpu_index = m->gpu_index;
	t->world_size = m->world_size;
	t->tasks = m->tasks;
	t->round_first = m->round_first;
	t->round_count = m->round_count;
	t->next_first = m->round_first;
	t->last_sent_ms = agent_now_ms(a);
	/* into the task state and the prolog's environment: clean text */
	utf8_text_clean(m->user ? m->user : "", m->user ? strlen(m->user) : 0, t->user,
			 sizeof(t->user));
	if (!agent_prolog_start(t, m))
		agent_task_launch(t, m);
}

void agent_task_launch(struct agent_task *t, const Hare__TaskStart *m)
{
	struct agent *a = t->agent;
	char why[200] = "";
	int rc;

	rc = agent_spawn(t, m, why, sizeof(why));
	if (rc < 0) {
		t->status = HARE__TASK_STATUS__TASK_FAILED;
		t->no_account = rc == -ESRCH;
		snprintf(t->message, sizeof(t->message), "%s", why);
		log_warn("task start job=%llu lease=%llu rank=%u failed: %s",
			 (unsigned long long)m->job_id, (unsigned long long)m->lease_id, m->rank, why);
		agent_task_end(t);
		return;
	}
	a->stats.tasks_started++;
	agent_rdv_after_prolog(t);
	if (agent_state_write(t) < 0) {
		/* without its state file a restarted agent could not adopt it: it
		 * would run on unseen while hared gives its GPU to another lease */
		int e = errno;

		t->status = HARE__TASK_STATUS__TASK_FAILED;
		snprintf(t->message, sizeof(t->message), "cannot write its task state in %.200s/tasks "
			 "(%s); stopped, since an agent restart could not adopt it",
			 a->cfg.work_dir, strerror(e));
		agent_task_signal(t, SIGKILL);
	}
}
