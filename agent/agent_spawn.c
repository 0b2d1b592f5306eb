/* SPDX-License-Identifier: MIT */
/* Starting one worker: check the TaskStart, make its report FIFO in the work
 * directory, build argv (hare-worker flags, or /bin/sh -c for a job's own
 * command) and the HARE_* environment, and uv_spawn it in its own session. */
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
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* The worker's report fd: after stdin, stdout and stderr. */
#define AGENT_REPORT_FD 3

static bool agent_num_ok(protobuf_c_boolean has, double v)
{
	return !has || (isfinite(v) && v >= 0);
}

void agent_spawn_check(const struct agent *a, const Hare__TaskStart *m, char *why, size_t len)
{
	const struct agent_gpu *g = m->gpu_index < a->cfg.ngpus ? &a->cfg.gpus[m->gpu_index] : NULL;
	bool has_cmd = m->command && m->command[0];

	if (!g)
		snprintf(why, len, "GPU %u is not on node %s (%u GPUs)", m->gpu_index, a->cfg.node,
			 a->cfg.ngpus);
	else if (m->world_size == 0 || m->rank >= m->world_size)
		snprintf(why, len, "rank %u outside world size %u", m->rank, m->world_size);
	else if (m->tasks == 0 || m->tasks > m->job_tasks)
		snprintf(why, len, "tasks %u must be between 1 and job tasks %u", m->tasks, m->job_tasks);
	else if (!m->model[0] || strlen(m->model) >= AGENT_NAME_MAX)
		snprintf(why, len, "model name must be 1 to %d characters", AGENT_NAME_MAX - 1);
	else if (m->has_time_scale && !(isfinite(m->time_scale) && m->time_scale > 0))
		snprintf(why, len, "time_scale must be above 0, got %g", m->time_scale);
	else if (!agent_num_ok(m->has_round_s, m->round_s) ||
		 !agent_num_ok(m->has_compute_s, m->compute_s) ||
		 !agent_num_ok(m->has_restart_s, m->restart_s) ||
		 !agent_num_ok(m->has_noise_cv, m->noise_cv))
		snprintf(why, len, "round_s, compute_s, restart_s and noise_cv must be finite and >= 0");
	else if (g->emulated && !a->cfg.worker_cpu && !has_cmd && !(m->has_round_s && m->round_s > 0))
		snprintf(why, len, "an emulated GPU needs round_s above 0");
	else if ((m->master_addr && strlen(m->master_addr) > 255) ||
		 (m->checkpoint_dir && strlen(m->checkpoint_dir) >= AGENT_PATH_MAX) ||
		 (m->gpu_type && strlen(m->gpu_type) >= AGENT_NAME_MAX) ||
		 (m->command && strlen(m->command) > 65536) ||
		 (m->proxy && strlen(m->proxy) > 255))
		snprintf(why, len, "master_addr, checkpoint_dir, gpu_type, command or proxy too long");
}

void agent_strv_add(struct agent_strv *s, const char *fmt, ...)
{
	va_list ap;
	char *str;

	if (s->failed)
		return;
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v) {
			s->failed = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&str, fmt, ap) < 0) {
		s->failed = true;
	} else {
		s->v[s->n++] = str;
		s->v[s->n] = NULL;
	}
	va_end(ap);
}

void agent_strv_free(struct agent_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* hare-worker's flags: emulated (sleeps), or real training (on the CPU
 * engine for an emulated GPU with worker_engine = cpu). */
static void agent_argv_worker(struct agent_strv *av, const struct agent *a,
			      const Hare__TaskStart *m, bool emulated, uint64_t seed, const char *rdv)
{
	bool sleeps = emulated && !a->cfg.worker_cpu;

	agent_strv_add(av, "%s", a->cfg.worker);
	if (sleeps)
		agent_strv_add(av, "--emulate");
	else if (emulated)
		agent_strv_add(av, "--engine=cpu");
	if (rdv && !sleeps)
		agent_strv_add(av, "--nccl-id-file=%s", rdv);
	if (m->proxy && m->proxy[0] && !sleeps)
		agent_strv_add(av, "--proxy=%s", m->proxy);
	agent_strv_add(av, "--job=%llu", (unsigned long long)m->job_id);
	agent_strv_add(av, "--lease=%llu", (unsigned long long)m->lease_id);
	agent_strv_add(av, "--rank=%u", m->rank);
	agent_strv_add(av, "--world-size=%u", m->world_size);
	agent_strv_add(av, "--model=%s", m->model);
	agent_strv_add(av, "--gpu-type=%s", a->cfg.gpus[m->gpu_index].type);
	agent_strv_add(av, "--tasks=%u", m->tasks);
	agent_strv_add(av, "--job-tasks=%u", m->job_tasks);
	agent_strv_add(av, "--round-first=%llu", (unsigned long long)m->round_first);
	agent_strv_add(av, "--round-count=%llu", (unsigned long long)m->round_count);
	if (m->has_round_s)
		agent_strv_add(av, "--round-s=%.17g", m->round_s);
	if (m->has_compute_s)
		agent_strv_add(av, "--compute-s=%.17g", m->compute_s);
	if (m->has_restart_s)
		agent_strv_add(av, "--restart-s=%.17g", m->restart_s);
	agent_strv_add(av, "--time-scale=%.17g", m->has_time_scale ? m->time_scale : 1.0);
	if (m->has_noise_cv)
		agent_strv_add(av, "--noise-cv=%.17g", m->noise_cv);
	agent_strv_add(av, "--seed=%llu", (unsigned long long)seed);
	agent_strv_add(av, "--report-fd=%d", AGENT_REPORT_FD);
	agent_strv_add(av, "--report-ms=%u", a->cfg.report_interval_ms);
	if (a->cfg.worker_orphan_timeout_s != AGENT_UNSET)
		agent_strv_add(av, "--orphan-timeout-s=%u", a->cfg.worker_orphan_timeout_s);
	if (a->cfg.worker_progress_s != AGENT_UNSET)
		agent_strv_add(av, "--progress-s=%u", a->cfg.worker_progress_s);
}

static bool agent_env_ours(const char *e)
{
	return strncmp(e, "HARE_", 5) == 0 || strncmp(e, "CUDA_VISIBLE_DEVICES=", 21) == 0 ||
	       strncmp(e, "CUDA_DEVICE_ORDER=", 18) == 0 || strncmp(e, "NOTIFY_SOCKET=", 14) == 0;
}

/* The account's own, for a worker that runs as another account. */
static bool agent_env_account(const char *e)
{
	return strncmp(e, "HOME=", 5) == 0 || strncmp(e, "USER=", 5) == 0 ||
	       strncmp(e, "LOGNAME=", 8) == 0 || strncmp(e, "MAIL=", 5) == 0;
}

/* What the agent's children share of its environment: not what the agent
 * sets for each of them. */
void agent_env_inherit(struct agent_strv *env)
{
	for (char **e = environ; e && *e; e++) {
		if (!agent_env_ours(*e))
			agent_strv_add(env, "%s", *e);
	}
}

/* CUDA_VISIBLE_DEVICES for a worker on real GPU g. Where GPUs are isolated,
 * CUDA numbers only the devices the process may open (from 0, as in a
 * container), so the node's index would name no device: the GPU's UUID
 * names it whichever way CUDA counts ("0" where NVML gave none). */
static void agent_env_cuda_device(struct agent_strv *env, const struct agent *a,
				  const struct agent_gpu *g)
{
	if (!agent_devices_on(a))
		agent_strv_add(env, "CUDA_VISIBLE_DEVICES=%u", g->index);
	else if (g->uuid[0])
		agent_strv_add(env, "CUDA_VISIBLE_DEVICES=%s", g->uuid);
	else
		agent_strv_add(env, "CUDA_VISIBLE_DEVICES=0");
}

/* The agent's environment without HARE_* / CUDA_*, plus the task's; a
 * worker of another account (acc) gets its HOME, USER and LOGNAME. */
static void agent_env_build(struct agent_strv *env, const struct agent *a,
			    const Hare__TaskStart *m, bool emulated, uint64_t seed, const char *rdv,
			    const struct agent_account *acc)
{
	for (char **e = environ; e && *e; e++) {
		if (!agent_env_ours(*e) && !(acc && agent_env_account(*e)))
			agent_strv_add(env, "%s", *e);
	}
	if (acc) {
		agent_strv_add(env, "HOME=%s", acc->home);
		agent_strv_add(env, "USER=%s", acc->name);
		agent_strv_add(env, "LOGNAME=%s", acc->name);
	}
	agent_strv_add(env, "HARE_JOB_ID=%llu", (unsigned long long)m->job_id);
	agent_strv_add(env, "HARE_LEASE_ID=%llu", (unsigned long long)m->lease_id);
	agent_strv_add(env, "HARE_RANK=%u", m->rank);
	agent_strv_add(env, "HARE_WORLD_SIZE=%u", m->world_size);
	agent_strv_add(env, "HARE_TASKS=%u", m->tasks);
	agent_strv_add(env, "HARE_JOB_TASKS=%u", m->job_tasks);
	agent_strv_add(env, "HARE_ROUND_FIRST=%llu", (unsigned long long)m->round_first);
	agent_strv_add(env, "HARE_ROUND_COUNT=%llu", (unsigned long long)m->round_count);
	agent_strv_add(env, "HARE_MODEL=%s", m->model);
	agent_strv_add(env, "HARE_GPU_TYPE=%s", a->cfg.gpus[m->gpu_index].type);
	agent_strv_add(env, "HARE_SEED=%llu", (unsigned long long)seed);
	agent_strv_add(env, "HARE_REPORT_FD=%d", AGENT_REPORT_FD);
	agent_strv_add(env, "HARE_EMULATED=%d", emulated ? 1 : 0);
	if (m->master_addr && m->master_addr[0])
		agent_strv_add(env, "HARE_MASTER_ADDR=%s", m->master_addr);
	if (m->has_master_port)
		agent_strv_add(env, "HARE_MASTER_PORT=%u", m->master_port);
	if (m->checkpoint_dir && m->checkpoint_dir[0])
		agent_strv_add(env, "HARE_CHECKPOINT_DIR=%s", m->checkpoint_dir);
	if (rdv)
		agent_strv_add(env, "HARE_NCCL_ID_FILE=%s", rdv);
	/* CUDA ordinals in NVML's (PCI bus) order; none for an emulated GPU */
	agent_strv_add(env, "CUDA_DEVICE_ORDER=PCI_BUS_ID");
	if (emulated)
		agent_strv_add(env, "CUDA_VISIBLE_DEVICES=");
	else
		agent_env_cuda_device(env, a, &a->cfg.gpus[m->gpu_index]);
}

/* The report FIFO: read end for the agent (non-blocking), write end for the
 * worker (blocking, so a full pipe slows the worker instead of losing lines). */
static int agent_fifo_open(const char *path, int *rfd, int *wfd, char *why, size_t len)
{
	int fl;

	unlink(path);
	if (mkfifo(path, 0600) < 0)
		goto fail;
	*rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (*rfd < 0)
		goto fail;
	*wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (*wfd < 0) {
		close(*rfd);
		goto fail;
	}
	fl = fcntl(*wfd, F_GETFL);
	fcntl(*wfd, F_SETFL, fl & ~O_NONBLOCK);
	return 0;
fail:
	fl = errno ? errno : EIO;
	snprintf(why, len, "report pipe %.150s: %s", path, strerror(fl));
	unlink(path);
	return -fl;
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
	struct agent_task *t = p->data;

	t->proc_open = false;
	uv_close((uv_handle_t *)p, agent_task_on_handle_closed);
	agent_task_on_exit(t, status, sig);
}

/* stdin /dev/null, stdout and stderr to the rank's output file (logfd;
 * -1: the agent's own stderr), reports on fd 3; its own session, so it
 * survives the agent and is one group to signal. */
static void agent_spawn_options(uv_process_options_t *o, uv_stdio_container_t *stdio,
				const struct agent_strv *av, const struct agent_strv *env,
				const char *cwd, int wfd, int logfd)
{
	memset(o, 0, sizeof(*o));
	memset(stdio, 0, (AGENT_REPORT_FD + 1) * sizeof(*stdio));
	stdio[0].flags = UV_IGNORE;
	for (int i = 1; i <= 2; i++) {
		stdio[i].flags = UV_INHERIT_FD;
		stdio[i].data.fd = logfd >= 0 ? logfd : STDERR_FILENO;
	}
	stdio[AGENT_REPORT_FD].flags = UV_INHERIT_FD;
	stdio[AGENT_REPORT_FD].data.fd = wfd;
	o->file = av->v[0];
	o->args = av->v;
	o->env = env->v;
	o->cwd = cwd;
	o->flags = UV_PROCESS_DETACHED;
	o->exit_cb = on_proc_exit;
	o->stdio = stdio;
	o->stdio_count = AGENT_REPORT_FD + 1;
}

/* The shims before the worker's program in av: hare-agent --exec-in puts
 * the child in the worker's cgroup (with its device rule, where GPUs are
 * isolated), --exec-as drops root for the job's owner (as > 0: acc). 0, or
 * -errno with why said. */
static int agent_spawn_shims(struct agent_task *t, const Hare__TaskStart *m,
			     const struct agent_account *acc, int as, struct agent_strv *av,
			     char *why, size_t len)
{
	struct agent *a = t->agent;
	char name[80];
	int rc;

	snprintf(name, sizeof(name), "worker.%llu.%llu.%u", (unsigned long long)m->job_id,
		 (unsigned long long)m->lease_id, m->rank);
	if (!a->spawn_hook && agent_cgroup_make(a, name, t->cgroup, sizeof(t->cgroup)))
		agent_cgroup_argv(av, t->cgroup, agent_devices_on(a));
	/* its lease's GPUs alone, before it joins the cgroup; a node that cannot is
	 * drained rather than run a worker that may use others' GPUs (no
	 * worker ran: the job is queued again uncharged, as after a prolog) */
	if (!a->spawn_hook && agent_devices_on(a)) {
		rc = agent_devices_limit(a, t->cgroup, m->gpu_index, m->node_gpus, m->n_node_gpus,
					 why, len);
		if (rc < 0) {
			snprintf(t->node_fault, sizeof(t->node_fault), "%s", why);
			t->prolog_failed = true;
			return rc;
		}
	}
	if (as > 0) {
		/* hare-agent --exec-as drops root in the child, then execs */
		t->run_uid = acc->uid;
		t->run_gid = acc->gid;
		if (!t->cgroup[0])
			agent_strv_add(av, "/proc/self/exe");
		agent_strv_add(av, "--exec-as");
		agent_strv_add(av, "%s", acc->name);
		agent_strv_add(av, "%u", (unsigned)acc->uid);
		agent_strv_add(av, "%u", (unsigned)acc->gid);
	}
	return 0;
}

/* Start the worker per o (prog: its program's name, for messages). */
static int agent_spawn_run(struct agent_task *t, uv_process_options_t *o, const char *prog,
			   char *why, size_t len)
{
	struct agent *a = t->agent;
	int rc;

	if (a->spawn_hook) {
		/* test seam: no process and no handle; the worker's pid stays 0 */
		rc = a->spawn_hook(t, o);
		if (rc < 0)
			snprintf(why, len, "cannot start %.200s: %s", prog, uv_strerror(rc));
		return rc;
	}
	t->proc.data = t;
	rc = uv_spawn(a->loop, &t->proc, o);
	t->handles++;	/* initialised even when the spawn failed */
	if (rc < 0) {
		snprintf(why, len, "cannot start %.200s: %s", prog, uv_strerror(rc));
		uv_close((uv_handle_t *)&t->proc, agent_task_on_handle_closed);
	} else {
		t->proc_open = true;
		t->pid = t->proc.pid;
		t->pid_start = agent_pid_start(t->pid);
	}
	return rc;
}

static int agent_spawn_proc(struct agent_task *t, const Hare__TaskStart *m, int wfd, char *why,
			    size_t len)
{
	struct agent *a = t->agent;
	const struct agent_gpu *g = &a->cfg.gpus[m->gpu_index];
	uint64_t seed = m->has_seed ? m->seed : m->job_id * 0x9e3779b97f4a7c15ull ^ m->lease_id;
	struct agent_strv av = { 0 }, env = { 0 };
	uv_stdio_container_t stdio[AGENT_REPORT_FD + 1];
	uv_process_options_t o;
	struct agent_account acc;
	char rdv[AGENT_FILE_MAX];
	int rc, logfd = -1, as;
	size_t prog;

	/* the job owner's account (root's too), its checkpoint folder made its
	 * own; the worker drops root unless it is root's */
	as = agent_account_of(a, m, &acc, why, len);
	if (as > 0)
		as = agent_account_ckpt_dir(a, m->job_id, &acc, why, len) < 0 ? -EACCES :
		     agent_account_other(&acc);
	if (as < 0)
		return as;
	rc = agent_spawn_shims(t, m, &acc, as, &av, why, len);
	if (rc < 0)
		goto out;
	prog = av.n;	/* after the shims: the program itself */
	/* where ranks > 0 find rank 0's rendezvous (agent_rdv.c) */
	agent_rdv_path(a, m->job_id, m->lease_id, rdv, sizeof(rdv));
	if (m->command && m->command[0]) {
		/* SIGPIPE ignored (and so for what the shell runs): a report
		 * written while no agent reads (one restarting) fails with EPIPE
		 * instead of killing the program; the next agent adopts it */
		agent_strv_add(&av, "/bin/sh");
		agent_strv_add(&av, "-c");
		agent_strv_add(&av, "trap '' PIPE; %s", m->command);
	} else {
		agent_argv_worker(&av, a, m, g->emulated, seed, m->world_size > 1 ? rdv : NULL);
	}
	agent_env_build(&env, a, m, g->emulated, seed, m->world_size > 1 ? rdv : NULL,
			as > 0 ? &acc : NULL);
	if (av.failed || env.failed) {
		snprintf(why, len, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	logfd = agent_log_open(t, m, g->type);
	agent_spawn_options(&o, stdio, &av, &env, a->cfg.work_dir, wfd, logfd);
	rc = agent_spawn_run(t, &o, av.v[prog], why, len);
out:
	if (logfd >= 0)
		close(logfd);
	agent_strv_free(&av);
	agent_strv_free(&env);
	return rc;
}

int agent_spawn(struct agent_task *t, const Hare__TaskStart *m, char *why, size_t len)
{
	char fifo[AGENT_FILE_MAX];
	int rfd = -1, wfd = -1, rc;

	snprintf(fifo, sizeof(fifo), "%s.fifo", t->base);
	rc = agent_fifo_open(fifo, &rfd, &wfd, why, len);
	if (rc < 0)
		return rc;
	rc = agent_spawn_proc(t, m, wfd, why, len);
	close(wfd);
	if (rc < 0) {
		close(rfd);
		unlink(fifo);
		return rc;
	}
	rc = agent_task_pipe_attach(t, rfd);
	if (rc < 0) {
		/* a worker nobody hears would run for nothing */
		snprintf(t->message, sizeof(t->message), "cannot read the report pipe: %s",
			 uv_strerror(rc));
		t->status = HARE__TASK_STATUS__TASK_FAILED;
		agent_task_signal(t, SIGKILL);
	}
	log_info("task start job=%llu lease=%llu rank=%u/%u gpu=%u pid=%d rounds=%llu+%llu%s",
		 (unsigned long long)m->job_id, (unsigned long long)m->lease_id, m->rank,
		 m->world_size, m->gpu_index, t->pid, (unsigned long long)m->round_first,
		 (unsigned long long)m->round_count, m->command && m->command[0] ? " command" : "");
	return 0;
}
