/* SPDX-License-Identifier: MIT */
/* The wait, at a task's end, for what was left of it to be gone. The
 * SIGKILL at the end (agent_task_end) reaches every process of the worker's
 * cgroup, or of its process group without one; most die at once. One stuck
 * in the kernel (state D: a hung NFS read, a GPU driver call that does not
 * return) does not, and may hold the GPU the next lease gets. So the task's
 * exit waits until they are gone, sending SIGKILL again now and then; after
 * unkillable_timeout_s it goes with a node fault naming them, and hared
 * drains the node (Slurm's UnkillableStepTimeout). */
#include "agent_impl.h"

#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REAP_NAMED 4	/* processes named in the text, at most */
#define REAP_TEXT 160	/* ... in so many bytes */

/* Whether t's process group may be looked at and signalled: its id is
 * still the worker's (as in agent_task_end). */
static bool reap_group_ours(const struct agent_task *t)
{
	return t->pid > 1 && (!t->adopted || (t->pid_start && !t->adopted_dead));
}

/* pid's command name and state from /proc/PID/stat; false when it is gone
 * or a zombie (which holds nothing: its parent only has to reap it). */
static bool reap_proc(int pid, char *comm, size_t len, char *state, int *pgrp)
{
	char path[64], buf[512], *open, *close;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open || sscanf(close + 1, " %c %*d %d", state, pgrp) != 2)
		return false;
	/* a command name is the program's: kept printable for the text */
	n = (size_t)(close - open - 1);
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		comm[i] = isprint((unsigned char)open[1 + i]) ? open[1 + i] : '?';
	comm[n] = '\0';
	return *state != 'Z' && *state != 'X';
}

struct reap_found {
	int n;
	char *out;
	size_t len, used;
};

static void reap_name(struct reap_found *f, int pid, const char *comm, char state)
{
	int k;

	if (++f->n > REAP_NAMED || f->len == 0)
		return;
	k = snprintf(f->out + f->used, f->len - f->used, "%s%d (%s, state %c)",
		     f->n > 1 ? ", " : "", pid, comm, state);
	if (k > 0)
		f->used = f->used + (size_t)k < f->len ? f->used + (size_t)k : f->len - 1;
}

/* The live processes of the cgroup at dir (zombies are not listed). */
static void reap_cgroup(const char *dir, struct reap_found *f)
{
	char path[AGENT_CGROUP_MAX + 32], comm[32], state;
	int pid, pgrp;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fp = fopen(path, "r");
	if (!fp)
		return;
	while (fscanf(fp, "%d", &pid) == 1) {
		if (reap_proc(pid, comm, sizeof(comm), &state, &pgrp))
			reap_name(f, pid, comm, state);
	}
	fclose(fp);
}

/* The live members of process group pgid: every process's stat is read,
 * as no interface lists a group's members. */
static void reap_group(int pgid, struct reap_found *f)
{
	char comm[32], state;
	struct dirent *e;
	int pid, pgrp;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = atoi(e->d_name);
		if (reap_proc(pid, comm, sizeof(comm), &state, &pgrp) && pgrp == pgid)
			reap_name(f, pid, comm, state);
	}
	closedir(d);
}

int agent_reap_survivors(const struct agent_task *t, char *out, size_t len)
{
	struct reap_found f = { .out = out, .len = len };

	if (len)
		out[0] = '\0';
	if (t->cgroup[0]) {
		/* the cgroup has them all, and only this task's */
		if (agent_cgroup_populated(t->cgroup) == 1)
			reap_cgroup(t->cgroup, &f);
	} else if (reap_group_ours(t)) {
		reap_group(t->pid, &f);
	}
	if (f.n > REAP_NAMED && len > f.used)
		snprintf(out + f.used, len - f.used, " and %d more", f.n - REAP_NAMED);
	return f.n;
}

static void reap_kill(struct agent_task *t)
{
	struct agent *a = t->agent;

	if (t->cgroup[0])
		agent_cgroup_kill(a, t->cgroup);
	/* the group id is the worker's while the group has members */
	if (reap_group_ours(t))
		agent_kill(a, -t->pid, SIGKILL);
	t->reap_kill_ms = agent_now_ms(a) + AGENT_REAP_KILL_MS;
}

/* The wait is over: they are gone, or the time is up (a node fault). */
static void reap_done(struct agent_task *t, const char *left, int n)
{
	struct agent *a = t->agent;

	uv_timer_stop(&t->timer);
	if (n > 0) {
		char more[sizeof(t->message)];
		size_t len = strlen(t->message), k;

		snprintf(t->node_fault, sizeof(t->node_fault), "%d process%s of the task still alive "
			 "%u s after SIGKILL: %s", n, n == 1 ? "" : "es", a->cfg.unkillable_timeout_s,
			 left);
		log_error("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: %s; the exit goes with a "
			  "node fault (hared drains the node)", t->job_id, t->lease_id, t->rank,
			  t->node_fault);
		/* added to the message, cut at a character's start */
		snprintf(more, sizeof(more), "; %s", t->node_fault);
		k = utf8_cut_len(more, sizeof(t->message) - 1 - len);
		memcpy(t->message + len, more, k);
		t->message[len + k] = '\0';
	} else {
		log_info("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: what was left of it is gone",
			 t->job_id, t->lease_id, t->rank);
	}
	agent_task_finish(t);
}

static void on_reap_timer(uv_timer_t *timer)
{
	struct agent_task *t = timer->data;
	uint64_t now = agent_now_ms(t->agent);
	char left[REAP_TEXT];
	int n;

	if (t->phase != TASK_REAPING)
		return;
	n = agent_reap_survivors(t, left, sizeof(left));
	if (n == 0 || now >= t->reap_until_ms) {
		reap_done(t, left, n);
		return;
	}
	if (now >= t->reap_kill_ms)
		reap_kill(t);
}

static bool reap_begin(struct agent_task *t, const char *left, int n)
{
	struct agent *a = t->agent;

	t->phase = TASK_REAPING;
	t->reap_until_ms = agent_now_ms(a) + (uint64_t)a->cfg.unkillable_timeout_s * 1000;
	t->reap_kill_ms = agent_now_ms(a) + AGENT_REAP_KILL_MS;
	agent_state_write(t);	/* reap=pending: a restart waits again */
	log_info("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: waiting up to %u s for %d "
		 "process%s left after SIGKILL: %s", t->job_id, t->lease_id, t->rank,
		 a->cfg.unkillable_timeout_s, n, n == 1 ? "" : "es", left);
	uv_timer_start(&t->timer, on_reap_timer, AGENT_REAP_POLL_MS, AGENT_REAP_POLL_MS);
	return true;
}

bool agent_reap_start(struct agent_task *t)
{
	char left[REAP_TEXT];
	int n;

	if (t->agent->cfg.unkillable_timeout_s == 0 || t->agent->closing)
		return false;
	n = agent_reap_survivors(t, left, sizeof(left));
	return n > 0 && reap_begin(t, left, n);
}

bool agent_reap_resume(struct agent_task *t)
{
	char left[REAP_TEXT];
	int n;

	/* an adopted task's group id may be another's by now: only its
	 * cgroup can tell */
	if (!t->cgroup[0] || t->agent->cfg.unkillable_timeout_s == 0)
		return false;
	agent_cgroup_kill(t->agent, t->cgroup);
	n = agent_reap_survivors(t, left, sizeof(left));
	return n > 0 && reap_begin(t, left, n);
}
