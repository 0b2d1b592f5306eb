/* SPDX-License-Identifier: MIT */
/* Task state in the work directory, so workers outlive the agent: each task
 * has work_dir/tasks/JOB.LEASE.RANK.fifo (its report pipe) and .task (who it
 * is, and its outcome once ended); a starting agent adopts them. */
#include "agent_impl.h"

#include "fileio.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *agent_boot_id(void)
{
	static char id[40];
	static bool read_once;
	FILE *f;

	if (!read_once) {
		read_once = true;
		f = fopen("/proc/sys/kernel/random/boot_id", "r");
		if (f) {
			if (!fgets(id, sizeof(id), f))
				id[0] = '\0';
			id[strcspn(id, "\n")] = '\0';
			fclose(f);
		}
	}
	return id;
}

static int agent_mkdir_p(const char *path, mode_t mode)
{
	char buf[AGENT_PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int agent_state_dir_make(struct agent *a, char *err, size_t errlen)
{
	char tasks[AGENT_PATH_MAX + 8], logs[AGENT_PATH_MAX + 8];
	int rc;

	snprintf(tasks, sizeof(tasks), "%s/tasks", a->cfg.work_dir);
	rc = agent_mkdir_p(a->cfg.work_dir, 0750);
	if (rc == 0)
		rc = agent_mkdir_p(tasks, 0700);
	if (rc < 0) {
		snprintf(err, errlen, "work_dir %s: %s", a->cfg.work_dir, strerror(-rc));
		return rc;
	}
	if (agent_log_dir(a, logs, sizeof(logs))) {
		rc = agent_mkdir_p(logs, 0750);
		if (rc < 0)
			snprintf(err, errlen, "task_logs %s: %s", logs, strerror(-rc));
	}
	return rc;
}

/* One agent per work_dir: a second one would adopt the first one's workers
 * and read their report pipes with it (each getting half the lines), or
 * stop them as leases it does not know. The lock (flock on
 * work_dir/agent.lock, close-on-exec so workers never hold it) goes with
 * the agent however it ends, and holds its pid for the message. */
int agent_state_lock(struct agent *a, char *err, size_t errlen)
{
	char path[AGENT_PATH_MAX + 16], pid[32];
	int rc;

	snprintf(path, sizeof(path), "%s/agent.lock", a->cfg.work_dir);
	rc = file_lock_pid(path, &a->lock_fd, pid, sizeof(pid));
	if (rc == -EBUSY)
		snprintf(err, errlen, "work_dir %s is in use by another hare-agent%s%s%s: stop it first "
			 "(systemctl stop hare-agent), or give this one a work_dir of its own",
			 a->cfg.work_dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
	else if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	else if (rc > 0)
		log_warn("%s: cannot write the pid: %s", path, strerror(errno));
	return rc < 0 ? rc : 0;
}

/* Small and rare (task start and end): written in place on the loop. */
int agent_state_write(const struct agent_task *t)
{
	char path[AGENT_FILE_MAX], tmp[AGENT_FILE_MAX];
	FILE *f;
	int ok, fd;

	snprintf(path, sizeof(path), "%s.task", t->base);
	snprintf(tmp, sizeof(tmp), "%s.task.tmp", t->base);
	/* the agent's only (tasks/ lets workers of other accounts through to
	 * their id files): a state holds the worker's last output line */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	if (t->pid_start)
		fprintf(f, "pid_start=%" PRIu64 "\n", t->pid_start);
	/* pids and start times are of this boot only */
	if (agent_boot_id()[0])
		fprintf(f, "boot_id=%s\n", agent_boot_id());
	fprintf(f, "job=%" PRIu64 "\nlease=%" PRIu64 "\nrank=%u\ngpu=%u\npid=%d\n", t->job_id,
		t->lease_id, t->rank, t->gpu_index, t->pid);
	fprintf(f, "round_first=%" PRIu64 "\nround_count=%" PRIu64 "\n", t->round_first,
		t->round_count);
	fprintf(f, "world_size=%u\ntasks=%u\n", t->world_size, t->tasks);
	if (t->log_off >= 0)
		fprintf(f, "log_offset=%" PRId64 "\n", t->log_off);
	if (t->user[0])
		fprintf(f, "user=%s\n", t->user);
	if (t->cgroup[0])
		fprintf(f, "cgroup=%s\n", t->cgroup);
	if (t->phase == TASK_PROLOG)
		fprintf(f, "prolog=running\n");
	/* its prolog or epilog, for an agent killed outright: the next one
	 * kills it (without a cgroup nothing else would) */
	if ((t->phase == TASK_PROLOG || t->phase == TASK_EPILOG) && t->script.running &&
	    t->script.pid > 1)
		fprintf(f, "script_pid=%d\nscript_start=%" PRIu64 "\n", t->script.pid,
			agent_pid_start(t->script.pid));
	if (t->phase == TASK_ENDED || t->phase == TASK_EPILOG || t->phase == TASK_REAPING) {
		fprintf(f, "status=%d\nrounds_done=%" PRIu64 "\n", t->status, t->rounds_done);
		if (t->has_exit_code)
			fprintf(f, "exit_code=%d\n", t->exit_code);
		fprintf(f, "message=%s\n", t->message);
		if (t->node_fault[0])
			fprintf(f, "node_fault=%s\n", t->node_fault);
		if (t->prolog_failed)
			fprintf(f, "prolog_failed=1\n");
		if (t->phase == TASK_EPILOG)
			fprintf(f, "epilog=pending\n");
		if (t->phase == TASK_REAPING)
			fprintf(f, "reap=pending\nreap_since=%" PRIu64 "\n", t->reap_since_ms);
	}
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	log_warn("task job=%llu lease=%llu rank=%u cannot write %s: %s",
		 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank, path,
		 strerror(errno));
	unlink(tmp);
	return -errno;
}

void agent_state_remove(const struct agent_task *t)
{
	char path[AGENT_FILE_MAX];

	snprintf(path, sizeof(path), "%s.task", t->base);
	unlink(path);
	snprintf(path, sizeof(path), "%s.fifo", t->base);
	unlink(path);
}

struct agent_saved {
	uint64_t job, lease, first, count, rounds_done;
	uint32_t rank, gpu, world_size, tasks;
	int pid, status, exit_code;
	uint64_t pid_start;
	bool has_status, has_exit_code;
	bool epilog_pending;	/* its epilog had not ended */
	bool reap_pending;	/* the wait for its processes' end had not ended */
	uint64_t reap_since;	/* ... begun then (ms since boot) */
	bool prolog_running;	/* its prolog had not ended: no worker ran */
	bool prolog_failed;
	int script_pid;		/* its prolog or epilog (0: none running) */
	char boot_id[40];	/* the boot its pids are of ("": not said) */
	uint64_t script_start;	/* ... its start time */
	int64_t log_off;
	char message[400];
	char node_fault[256];
	char user[64];
	char cgroup[AGENT_CGROUP_MAX];
	int fields;		/* of job, lease, rank, pid seen */
};

static void agent_saved_line(struct agent_saved *s, const char *line)
{
	const char *v = strchr(line, '=');
	size_t k = v ? (size_t)(v - line) : 0;

	if (!v)
		return;
	v++;
#define KEY(name) (k == sizeof(name) - 1 && strncmp(line, name, k) == 0)
	if (KEY("job"))
		s->fields += sscanf(v, "%" SCNu64, &s->job) == 1;
	else if (KEY("lease"))
		s->fields += sscanf(v, "%" SCNu64, &s->lease) == 1;
	else if (KEY("rank"))
		s->fields += sscanf(v, "%u", &s->rank) == 1;
	else if (KEY("pid"))
		s->fields += sscanf(v, "%d", &s->pid) == 1;
	else if (KEY("pid_start"))
		sscanf(v, "%" SCNu64, &s->pid_start);
	else if (KEY("script_pid"))
		sscanf(v, "%d", &s->script_pid);
	else if (KEY("boot_id"))
		snprintf(s->boot_id, sizeof(s->boot_id), "%.*s", (int)strcspn(v, "\n"), v);
	else if (KEY("script_start"))
		sscanf(v, "%" SCNu64, &s->script_start);
	else if (KEY("gpu"))
		sscanf(v, "%u", &s->gpu);
	else if (KEY("world_size"))
		sscanf(v, "%u", &s->world_size);
	else if (KEY("tasks"))
		sscanf(v, "%u", &s->tasks);
	else if (KEY("round_first"))
		sscanf(v, "%" SCNu64, &s->first);
	else if (KEY("round_count"))
		sscanf(v, "%" SCNu64, &s->count);
	else if (KEY("log_offset"))
		sscanf(v, "%" SCNd64, &s->log_off);
	else if (KEY("rounds_done"))
		sscanf(v, "%" SCNu64, &s->rounds_done);
	else if (KEY("status"))
		s->has_status = sscanf(v, "%d", &s->status) == 1;
	else if (KEY("exit_code"))
		s->has_exit_code = sscanf(v, "%d", &s->exit_code) == 1;
	else if (KEY("message"))
		snprintf(s->message, sizeof(s->message), "%.*s", (int)strcspn(v, "\n"), v);
	else if (KEY("node_fault"))
		snprintf(s->node_fault, sizeof(s->node_fault), "%.*s", (int)strcspn(v, "\n"), v);
	else if (KEY("user"))
		snprintf(s->user, sizeof(s->user), "%.*s", (int)strcspn(v, "\n"), v);
	else if (KEY("cgroup"))
		snprintf(s->cgroup, sizeof(s->cgroup), "%.*s", (int)strcspn(v, "\n"), v);
	else if (KEY("prolog_failed"))
		s->prolog_failed = v[0] == '1';
	else if (KEY("prolog"))
		s->prolog_running = strncmp(v, "running", 7) == 0;
	else if (KEY("epilog"))
		s->epilog_pending = strncmp(v, "pending", 7) == 0;
	else if (KEY("reap"))
		s->reap_pending = strncmp(v, "pending", 7) == 0;
	else if (KEY("reap_since"))
		sscanf(v, "%" SCNu64, &s->reap_since);
#undef KEY
}

static int agent_saved_read(const char *path, struct agent_saved *s)
{
	char line[AGENT_CGROUP_MAX + 16];
	FILE *f = fopen(path, "r");

	memset(s, 0, sizeof(*s));
	s->log_off = -1;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		agent_saved_line(s, line);
	fclose(f);
	return s->fields == 4 ? 0 : -EINVAL;
}

static bool agent_status_known(int status)
{
	return status == HARE__TASK_STATUS__TASK_OK || status == HARE__TASK_STATUS__TASK_FAILED ||
	       status == HARE__TASK_STATUS__TASK_STOPPED;
}

/* The worker's cgroup, as the state file names it: only a cgroup v2
 * folder named for this very task (the agent writes into it). */
static void agent_adopt_cgroup(struct agent_task *t, const char *path)
{
	char name[80];

	if (!path[0] || access(path, F_OK) < 0)
		return;	/* none, or gone (a reboot) */
	snprintf(name, sizeof(name), "worker.%llu.%llu.%u", (unsigned long long)t->job_id,
		 (unsigned long long)t->lease_id, t->rank);
	if (agent_cgroup_adoptable(path, name))
		snprintf(t->cgroup, sizeof(t->cgroup), "%s", path);
	else
		log_warn("task job=%llu lease=%llu rank=%u: its state names cgroup %s, which is "
			 "not this task's: tracked by its process group only",
			 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
			 path);
}

/* A task whose processes the previous agent waited for: they are waited
 * for the rest of the time (its cgroup tells), or, where nothing can tell
 * (no cgroup: the worker's group id may be another's by now), its epilog
 * and its exit go now. */
static void agent_adopt_reaping(struct agent_task *t, uint64_t since)
{
	if (agent_reap_resume(t, since)) {
		log_info("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: the wait for its processes "
			 "to be gone goes on", t->job_id, t->lease_id, t->rank);
		return;
	}
	if (!t->cgroup[0])
		log_warn("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: the previous agent waited "
			 "for its processes to be gone; without its cgroup this agent cannot tell "
			 "whether they are", t->job_id, t->lease_id, t->rank);
	agent_task_finish(t);
}

/* The prolog or epilog a previous agent ran for the task, if it still
 * runs: that agent was killed outright (a stop kills it), and this one
 * runs the epilog again or ends the task. Its group is killed; its
 * cgroup, if any, the start's sweep empties. Only the very process (its
 * start time matches) is ever signalled. */
static void agent_adopt_script_kill(struct agent *a, const struct agent_saved *s)
{
	char buf[512];
	const char *rest;
	int pgrp = 0, sid = 0, pid = s->script_pid;

	if (pid <= 1 || s->script_start == 0 || !agent_pid_alive(pid, s->script_start) ||
	    !agent_proc_stat(pid, buf, sizeof(buf), &rest) ||
	    sscanf(rest, "%*c %*d %d %d", &pgrp, &sid) != 2)
		return;
	/* its group while it leads the session the agent made for it, else
	 * the process alone */
	if (agent_kill(a, pgrp == pid && sid == pid ? -pid : pid, SIGKILL) == 0)
		log_warn("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: its %s (pid %d) still ran, "
			 "left by an agent that did not stop cleanly; killed", s->job, s->lease,
			 s->rank, s->prolog_running ? "prolog" : "epilog", s->script_pid);
}

/* An ended task (its outcome in the file): its exit goes to hared, after
 * the wait for its processes or its epilog if the agent stopped during
 * either. */
static void agent_adopt_ended(struct agent_task *t, const struct agent_saved *s,
			      const char *fifo)
{
	/* a damaged file must not put an unknown status on the wire */
	t->status = agent_status_known(s->status) ? s->status : HARE__TASK_STATUS__TASK_FAILED;
	t->has_exit_code = s->has_exit_code;
	t->exit_code = s->exit_code;
	t->rounds_done = s->rounds_done;
	/* texts for hared, clean whatever the file holds */
	utf8_text_clean(s->message[0] ? s->message : "ended",
			 s->message[0] ? strlen(s->message) : 5, t->message, sizeof(t->message));
	utf8_text_clean(s->node_fault, strlen(s->node_fault), t->node_fault,
			 sizeof(t->node_fault));
	t->prolog_failed = s->prolog_failed;
	t->phase = TASK_ENDED;
	/* its worker has ended: its pid and group id are nobody's to us */
	t->adopted_dead = true;
	unlink(fifo);
	/* the agent stopped while it waited for the task's processes to
	 * be gone: the wait begins anew (its epilog has not run) */
	if (s->reap_pending) {
		agent_adopt_reaping(t, s->reap_since);
		return;
	}
	/* its epilog was cut short by the agent's stop: run again */
	if (s->epilog_pending && agent_epilog_start(t))
		log_info("task job=%llu lease=%llu rank=%u: its epilog runs again (it had not "
			 "ended when the agent stopped)", (unsigned long long)s->job,
			 (unsigned long long)s->lease, s->rank);
}

/* The agent stopped during its prolog, which it killed (or which died
 * with it): no worker ran. Not the node's fault, nor the job's: hared
 * queues the job again, uncharged; the epilog runs as after any failed
 * prolog. A pid the file names is none of ours (a prolog's state has
 * pid=0): never signalled. */
static void agent_adopt_prolog_cut(struct agent_task *t, const struct agent_saved *s)
{
	t->pid = 0;
	t->pid_start = 0;
	t->status = HARE__TASK_STATUS__TASK_FAILED;
	t->prolog_failed = true;
	snprintf(t->message, sizeof(t->message), "prolog cut short: the agent stopped while "
		 "it ran, so no worker ran");
	log_info("task job=%llu lease=%llu rank=%u: its prolog was cut short by the agent's "
		 "stop; the task ends without a worker", (unsigned long long)s->job,
		 (unsigned long long)s->lease, s->rank);
	agent_task_end(t);
}

/* A task whose worker ran when the agent stopped: its report pipe is read
 * again (EOF there means the worker is gone). */
static void agent_adopt_live(struct agent_task *t, const struct agent_saved *s, const char *fifo)
{
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0) {
		/* A FIFO opened for reading without a writer shows no hang-up
		 * until a writer has come and gone: a worker that died while the
		 * agent was away would stay "running" for good. Be that writer
		 * for a moment; a live worker still holds its own write end. */
		int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

		if (w >= 0)
			close(w);
	}
	if (fd < 0 || agent_task_pipe_attach(t, fd) < 0) {
		/* its reports cannot be read: a worker still running (the same
		 * process: its start time matches) is stopped, not left on a GPU
		 * hared gives to others */
		bool alive = t->pid_start && agent_pid_alive(t->pid, t->pid_start);

		if (alive)
			agent_kill(t->agent, -t->pid, SIGKILL);
		/* not alive: its pid (and group id) may be another's by now,
		 * which agent_task_end must not kill either */
		t->adopted_dead = !alive;
		t->status = HARE__TASK_STATUS__TASK_FAILED;
		snprintf(t->message, sizeof(t->message), "report pipe of the adopted worker is gone%s",
			 alive ? "; the worker was killed" : "");
		agent_task_end(t);
		return;
	}
	agent_task_watch(t);
	t->adopted_dead = !agent_pid_alive(s->pid, s->pid_start);
	log_info("task adopt job=%llu lease=%llu rank=%u pid=%d alive=%s",
		 (unsigned long long)s->job, (unsigned long long)s->lease, s->rank, s->pid,
		 t->adopted_dead ? "no" : "yes");
}

/* Take over one task a previous agent left: its outcome if it ended, else
 * its report pipe (EOF there means the worker is gone). */
static void agent_adopt_one(struct agent *a, const struct agent_saved *s)
{
	struct agent_saved now;
	struct agent_task *t;
	char fifo[AGENT_FILE_MAX];

	/* one task per (job, lease, rank): agent_state_adopt_all adopts only
	 * the file named for its task, and names are unique */
	if (s->boot_id[0] && agent_boot_id()[0] && strcmp(s->boot_id, agent_boot_id()) != 0) {
		/* written before a reboot: its processes are gone, and its pids
		 * (and start times) may be any process's now */
		memcpy(&now, s, sizeof(now));
		now.pid = now.script_pid = 0;
		now.pid_start = now.script_start = 0;
		s = &now;
		log_info("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: its state is from before a "
			 "reboot", s->job, s->lease, s->rank);
	}
	agent_adopt_script_kill(a, s);
	t = agent_task_alloc(a, s->job, s->lease, s->rank);
	if (!t)
		return;
	t->adopted = true;
	t->pid = s->pid;
	t->pid_start = s->pid_start;
	t->gpu_index = s->gpu;
	t->world_size = s->world_size;
	t->tasks = s->tasks;
	t->round_first = s->first;
	t->round_count = s->count;
	t->log_off = s->log_off;
	t->next_first = s->first;
	t->last_sent_ms = agent_now_ms(a);
	utf8_text_clean(s->user, strlen(s->user), t->user, sizeof(t->user));
	agent_adopt_cgroup(t, s->cgroup);
	snprintf(fifo, sizeof(fifo), "%s.fifo", t->base);
	if (s->has_status)
		agent_adopt_ended(t, s, fifo);
	else if (s->prolog_running)
		agent_adopt_prolog_cut(t, s);
	else
		agent_adopt_live(t, s, fifo);
}

/* A task state file the agent will not adopt: renamed to PATH.ignored (kept
 * for the operator, no longer a .task), so it is reported once, not at
 * every start. */
static void agent_state_set_aside(const char *path, const char *why)
{
	char aside[AGENT_PATH_MAX + 320];

	snprintf(aside, sizeof(aside), "%s.ignored", path);
	if (rename(path, aside) == 0)
		log_warn("agent ignores task state %s (%s); moved to %s", path, why, aside);
	else
		log_warn("agent ignores task state %s (%s)", path, why);
}

void agent_state_adopt_all(struct agent *a)
{
	char dir[AGENT_PATH_MAX + 8], path[AGENT_PATH_MAX + 300], want[80], why[120];
	struct agent_saved s;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tasks", a->cfg.work_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n < 6 || strcmp(e->d_name + n - 5, ".task") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (agent_saved_read(path, &s) < 0) {
			agent_state_set_aside(path, "it is unreadable");
			continue;
		}
		/* the agent names each file after its task; a file under another
		 * name (a copy, a damaged one) is not ours to adopt: it would make
		 * a second task with the same ids, whose exit hared would hear
		 * twice, and would outlive the task, as only its own name is
		 * removed */
		snprintf(want, sizeof(want), "%llu.%llu.%u.task", (unsigned long long)s.job,
			 (unsigned long long)s.lease, s.rank);
		if (strcmp(e->d_name, want) != 0) {
			snprintf(why, sizeof(why), "it describes task %s", want);
			agent_state_set_aside(path, why);
			continue;
		}
		agent_adopt_one(a, &s);
	}
	closedir(d);
}
