/* SPDX-License-Identifier: MIT */
/* The wait, at a task's end, for what was left of it to be gone. The
 * SIGKILL at the end (agent_task_end) reaches every process of the worker's
 * cgroup and of its process group; most die at once. One stuck in the
 * kernel (state D: a hung NFS read, a GPU driver call that does not return)
 * does not, and may hold the GPU the next lease gets. So the task's exit
 * waits until they are gone, sending SIGKILL again now and then; after
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
#include <time.h>
#include <unistd.h>

#define REAP_NAMED 4		/* processes named in the text, at most */
#define REAP_TEXT 160		/* ... in so many bytes */
#define REAP_PIDS 256		/* processes told apart (counted once each) */
#define REAP_SLOW_MS 500	/* how often it looks after the first second */

/* Milliseconds since boot: the same clock for a restarted agent, which
 * waits only for what is left of the time. */
static uint64_t reap_boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether t's process group may be looked at and signalled: its id is the
 * worker's while the group has members (an adopted worker's only when it
 * was the same process at adoption, as in agent_task_end). */
static bool reap_group_ours(const struct agent_task *t)
{
	return t->pid > 1 && (!t->adopted || (t->pid_start && !t->adopted_dead)) &&
	       kill(-t->pid, 0) == 0;
}

/* The state letter of a live thread of pid, or 0 when every one has exited
 * (a process whose first thread exited shows Z while others run on). */
static char reap_threads(int pid)
{
	char path[64], buf[256], *close, st = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!st && (e = readdir(d))) {
		FILE *f;
		size_t n;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat", pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		close = strrchr(buf, ')');
		if (close && close[1] == ' ' && close[2] != 'Z' && close[2] != 'X' && close[2])
			st = close[2];
	}
	closedir(d);
	return st;
}

/* pid's command name, state and process group from /proc/PID/stat; false
 * when it is gone, or a zombie with no thread left (which holds nothing:
 * its parent only has to reap it). */
static bool reap_proc(int pid, char *comm, size_t len, char *state, int *pgrp)
{
	char buf[512];
	const char *open, *rest;
	size_t n;

	if (!agent_proc_stat(pid, buf, sizeof(buf), &rest))
		return false;
	open = strchr(buf, '(');
	if (!open || open > rest - 2 || sscanf(rest, "%c %*d %d", state, pgrp) != 2)
		return false;
	/* a command name is the program's: kept printable for the text */
	n = (size_t)(rest - 2 - open - 1);
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		comm[i] = isprint((unsigned char)open[1 + i]) ? open[1 + i] : '?';
	comm[n] = '\0';
	if (*state == 'Z' || *state == 'X')
		*state = reap_threads(pid);
	return *state != 0;
}

struct reap_found {
	int n;
	int pids[REAP_PIDS];	/* the first ones found, to count each once */
	char *out;
	size_t len, used;
};

static void reap_name(struct reap_found *f, int pid, const char *comm, char state)
{
	int k;

	for (int i = 0; i < f->n && i < REAP_PIDS; i++)
		if (f->pids[i] == pid)
			return;
	if (f->n < REAP_PIDS)
		f->pids[f->n] = pid;
	if (++f->n > REAP_NAMED || f->len == 0)
		return;
	k = snprintf(f->out + f->used, f->len - f->used, "%s%d %s (%c)", f->n > 1 ? ", " : "",
		     pid, comm, state);
	if (k > 0)
		f->used = f->used + (size_t)k < f->len ? f->used + (size_t)k : f->len - 1;
}

/* The live processes of the cgroup at dir; a cgroup still populated with
 * none of them seen (gone between the two reads) counts as one. */
static void reap_cgroup(const char *dir, struct reap_found *f)
{
	char path[AGENT_CGROUP_MAX + 32], comm[32], state;
	int pid, pgrp, before = f->n;
	FILE *fp;

	if (agent_cgroup_populated(dir) != 1)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fp = fopen(path, "r");
	if (fp) {
		while (fscanf(fp, "%d", &pid) == 1)
			if (reap_proc(pid, comm, sizeof(comm), &state, &pgrp))
				reap_name(f, pid, comm, state);
		fclose(fp);
	}
	if (f->n == before && agent_cgroup_populated(dir) == 1)
		f->n++;
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
	/* the cgroup has all that joined it; the group what a worker that
	 * could not join started (each counted once) */
	if (t->cgroup[0])
		reap_cgroup(t->cgroup, &f);
	if (reap_group_ours(t))
		reap_group(t->pid, &f);
	if (f.n > REAP_NAMED && len > f.used)
		snprintf(out + f.used, len - f.used, " and %d more", f.n - REAP_NAMED);
	return f.n;
}

static void reap_kill(struct agent_task *t)
{
	struct agent *a = t->agent;

	if (t->cgroup[0])
		agent_cgroup_kill(a, t->cgroup);
	/* only while it has members: an empty group's id may be another's */
	if (reap_group_ours(t))
		agent_kill(a, -t->pid, SIGKILL);
}

static uint32_t reap_waited_s(const struct agent_task *t)
{
	return (uint32_t)((reap_boot_ms() - t->reap_since_ms + 500) / 1000);
}

/* The wait is over: they are gone, or the time is up (a node fault). */
static void reap_done(struct agent_task *t, const char *left, int n)
{
	uv_timer_stop(&t->timer);
	if (n > 0) {
		/* short: hared's drain reason is 128 bytes with the task's ids */
		snprintf(t->node_fault, sizeof(t->node_fault), "processes alive %u s after SIGKILL: %s",
			 reap_waited_s(t), left);
		log_error("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: %s (%d in all); the exit "
			  "goes with a node fault (hared drains the node)", t->job_id, t->lease_id,
			  t->rank, t->node_fault, n);
		agent_task_message_add(t, t->node_fault);
	} else if (t->reap_told) {
		log_info("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: what was left of it is gone "
			 "after %u s", t->job_id, t->lease_id, t->rank, reap_waited_s(t));
	}
	agent_task_finish(t);
}

static void on_reap_timer(uv_timer_t *timer)
{
	struct agent_task *t = timer->data;
	struct agent *a = t->agent;
	uint64_t waited;
	char left[REAP_TEXT];
	int n;

	if (t->phase != TASK_REAPING)
		return;
	n = agent_reap_survivors(t, left, sizeof(left));
	waited = reap_boot_ms() - t->reap_since_ms;
	if (n == 0 || waited >= (uint64_t)a->cfg.unkillable_timeout_s * 1000) {
		reap_done(t, left, n);
		return;
	}
	if (waited < t->reap_kill_ms)
		return;
	/* a second on: said once, looked at less often, killed again */
	if (!t->reap_told) {
		t->reap_told = true;
		log_warn("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: %d process%s alive %u s "
			 "after SIGKILL: %s; waiting up to %u s", t->job_id, t->lease_id, t->rank, n,
			 n == 1 ? "" : "es", reap_waited_s(t), left, a->cfg.unkillable_timeout_s);
		uv_timer_set_repeat(&t->timer, REAP_SLOW_MS);
	}
	reap_kill(t);
	t->reap_kill_ms = waited + AGENT_REAP_KILL_MS;
}

/* since: when the wait began (reap_boot_ms). */
static void reap_begin(struct agent_task *t, uint64_t since)
{
	t->phase = TASK_REAPING;
	t->reap_since_ms = since;
	t->reap_kill_ms = AGENT_REAP_KILL_MS;
	t->reap_told = false;
	agent_state_write(t);	/* reap=pending: a restart waits for the rest */
	uv_timer_start(&t->timer, on_reap_timer, AGENT_REAP_POLL_MS, AGENT_REAP_POLL_MS);
}

bool agent_reap_start(struct agent_task *t)
{
	char left[REAP_TEXT];

	if (t->agent->cfg.unkillable_timeout_s == 0 || t->agent->closing ||
	    agent_reap_survivors(t, left, sizeof(left)) == 0)
		return false;
	reap_begin(t, reap_boot_ms());
	return true;
}

bool agent_reap_resume(struct agent_task *t, uint64_t since)
{
	uint64_t now = reap_boot_ms();
	char left[REAP_TEXT];

	/* an adopted task's group id may be another's by now: only its
	 * cgroup can tell */
	if (!t->cgroup[0] || t->agent->cfg.unkillable_timeout_s == 0)
		return false;
	agent_cgroup_kill(t->agent, t->cgroup);
	if (agent_reap_survivors(t, left, sizeof(left)) == 0)
		return false;
	/* the time already waited counts (none from a file that says a later
	 * time than now: another boot's) */
	reap_begin(t, since && since <= now ? since : now);
	return true;
}
