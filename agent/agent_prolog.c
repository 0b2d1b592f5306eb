/* SPDX-License-Identifier: MIT */
/* A task's prolog and epilog: operator's programs (agent.conf prolog and
 * epilog) run as the agent, as Slurm's Prolog and Epilog, to ready a GPU
 * for a job and to clean up after it (scratch space, stray processes, GPU
 * state). The prolog runs before the worker starts, and the worker starts
 * only once it passed (exit status 0); one that fails or outlasts
 * prolog_timeout_s fails the task without a worker. The epilog runs once
 * the task's outcome is known, whatever it is (a failed prolog included),
 * and its TaskExit waits for it; the node stays busy meanwhile, as a Slurm
 * node that is completing. A failed prolog or epilog is the node's fault
 * (TaskExit.node_fault; prolog_failed for a prolog): hared drains the node
 * with it. One killed at its timeout that does not end (stuck in the
 * kernel) is given up AGENT_SCRIPT_STUCK_MS later. An epilog under
 * way when the agent stops runs again when it starts (the task's state
 * file says so): an epilog should bear running twice. */
#include "agent_impl.h"

#include "log.h"
#include "utf8.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool agent_prolog_on(const struct agent *a)
{
	return a->cfg.prolog[0] || a->cfg.epilog[0];
}

uint32_t agent_prolog_grace_ms(const struct agent *a)
{
	uint32_t ms = AGENT_EOF_WAIT_MS;

	/* a killed prolog given up as stuck; an epilog to its timeout, then so */
	if (a->cfg.prolog[0])
		ms += AGENT_SCRIPT_STUCK_MS;
	if (a->cfg.epilog[0])
		ms += a->cfg.epilog_timeout_s * 1000 + AGENT_SCRIPT_STUCK_MS;
	return ms;
}

static const char *agent_task_status_word(int status)
{
	return status == HARE__TASK_STATUS__TASK_OK ? "DONE" :
	       status == HARE__TASK_STATUS__TASK_STOPPED ? "STOPPED" : "FAILED";
}

/* The node's environment (agent_script_env_node) and the task's: its job,
 * lease, rank, world size, GPU (CUDA ordinal and type) and owner; for an
 * epilog, how the task ended too. */
static void agent_prolog_env(struct agent_strv *env, const struct agent_task *t)
{
	const struct agent *a = t->agent;

	agent_script_env_node(env, a);
	agent_strv_add(env, "HARE_JOB_ID=%" PRIu64, t->job_id);
	agent_strv_add(env, "HARE_LEASE_ID=%" PRIu64, t->lease_id);
	agent_strv_add(env, "HARE_RANK=%u", t->rank);
	if (t->world_size)
		agent_strv_add(env, "HARE_WORLD_SIZE=%u", t->world_size);
	if (t->gpu_index < a->cfg.ngpus) {
		agent_strv_add(env, "HARE_GPU_INDEX=%u", a->cfg.gpus[t->gpu_index].index);
		agent_strv_add(env, "HARE_GPU_TYPE=%s", a->cfg.gpus[t->gpu_index].type);
	}
	if (t->user[0])
		agent_strv_add(env, "HARE_USER=%s", t->user);
	if (t->phase != TASK_EPILOG)
		return;
	agent_strv_add(env, "HARE_TASK_STATUS=%s", agent_task_status_word(t->status));
	agent_strv_add(env, "HARE_ROUNDS_DONE=%" PRIu64, t->rounds_done);
	if (t->has_exit_code)
		agent_strv_add(env, "HARE_EXIT_CODE=%d", t->exit_code);
}

/* Run t's prolog or epilog (as its phase says); false when it cannot be
 * (out of memory), and then nothing runs. */
static bool agent_prolog_run(struct agent_task *t)
{
	struct agent *a = t->agent;
	bool epilog = t->phase == TASK_EPILOG;
	struct agent_strv env = { 0 };
	bool ok;

	t->script.what = epilog ? "epilog" : "prolog";
	snprintf(t->script.cg_name, sizeof(t->script.cg_name), "%s.%" PRIu64 ".%" PRIu64 ".%u",
		 t->script.what, t->job_id, t->lease_id, t->rank);
	agent_prolog_env(&env, t);
	ok = !env.failed;
	if (ok)
		agent_script_run(&t->script, epilog ? a->cfg.epilog : a->cfg.prolog, env.v,
				 epilog ? a->cfg.epilog_timeout_s : a->cfg.prolog_timeout_s);
	agent_strv_free(&env);
	return ok;
}

/* The prolog has ended: the worker starts if it passed and no stop came;
 * else the task ends without one (its epilog runs, unless the prolog does
 * not end). own: it failed by itself, not by a TaskStop's kill: the
 * node's fault. */
static void agent_prolog_ended(struct agent_task *t, bool ok, bool own, const char *how)
{
	struct agent *a = t->agent;
	Hare__TaskStart *m = hare__task_start__unpack(NULL, t->start_len, t->start_msg);

	free(t->start_msg);
	t->start_msg = NULL;
	if (m && ok && !t->stop_requested) {
		t->phase = TASK_RUNNING;
		agent_task_launch(t, m);
		hare__task_start__free_unpacked(m, NULL);
		return;
	}
	if (m) {
		/* its output file (harectl logs) says why no worker ran */
		int fd = t->gpu_index < a->cfg.ngpus ?
			 agent_log_open(t, m, a->cfg.gpus[t->gpu_index].type) : -1;

		if (fd >= 0)
			close(fd);
		hare__task_start__free_unpacked(m, NULL);
	}
	t->phase = TASK_RUNNING;	/* agent_task_end's to end */
	if (own) {
		snprintf(t->node_fault, sizeof(t->node_fault), "%s", how);
		/* the job is not charged (a stopped task is not, anyway) */
		t->prolog_failed = !t->stop_requested;
		log_warn("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: %s; the worker was not "
			 "started (hared drains the node)", t->job_id, t->lease_id, t->rank, how);
	}
	if (t->stop_requested) {
		t->status = HARE__TASK_STATUS__TASK_STOPPED;
		snprintf(t->message, sizeof(t->message), "stopped during its prolog (%s)", how);
	} else {
		t->status = HARE__TASK_STATUS__TASK_FAILED;
		snprintf(t->message, sizeof(t->message), "%s", ok ? "out of memory" : how);
	}
	agent_task_end(t);
}

/* The epilog has ended: the task's exit goes to hared now. */
static void agent_epilog_ended(struct agent_task *t, bool ok, const char *how)
{
	if (!ok) {
		log_warn("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: %s (hared drains the "
			 "node)", t->job_id, t->lease_id, t->rank, how);
		if (!t->node_fault[0])
			snprintf(t->node_fault, sizeof(t->node_fault), "%s", how);
		agent_task_message_add(t, how);
	}
	t->phase = TASK_ENDED;
	agent_state_write(t);	/* the epilog is done: a restart sends the exit only */
	agent_tasks_send_exits(t->agent);
}

/* The run's outcome as one line of clean text (the program's path in it
 * may be anything), at most len - 1 bytes; true when it passed. */
static bool agent_prolog_outcome(struct agent_script *s, const char *more, char *how, size_t len)
{
	char text[2048];
	bool ok = agent_script_outcome(s, text, sizeof(text));
	size_t n = strlen(text);

	snprintf(text + n, sizeof(text) - n, "%s", more);
	utf8_text_clean(text, strlen(text), how, len);
	return ok;
}

/* Its run ended (its phase says which; one that no longer matches is a
 * run given up as stuck, ended since: its script closes now, and the task
 * is freed if it is done with). */
static void on_prolog_end(struct agent_script *s)
{
	struct agent_task *t = s->data;

	if (t->phase == TASK_GONE) {
		agent_script_close(s);
		return;
	}
	char how[sizeof(t->node_fault)];
	bool ok = agent_prolog_outcome(s, "", how, sizeof(how));
	/* failed by itself, not by the kill of a TaskStop */
	bool own = !ok && !(t->stop_requested && s->term_signal == SIGKILL && !s->timed_out);

	if (t->phase == TASK_PROLOG)
		agent_prolog_ended(t, ok, own, how);
	else if (t->phase == TASK_EPILOG)
		agent_epilog_ended(t, ok, how);
}

/* Its run outlasted its timeout and does not end after the SIGKILL (a
 * process stuck in the kernel, as nvidia-smi on a wedged GPU): failed
 * now, the task goes on without it (no epilog after such a prolog). */
static void on_prolog_stuck(struct agent_script *s)
{
	struct agent_task *t = s->data;
	char how[sizeof(t->node_fault)];

	agent_prolog_outcome(s, "; it does not end after SIGKILL", how, sizeof(how));
	if (t->phase == TASK_PROLOG)
		agent_prolog_ended(t, false, true, how);
	else if (t->phase == TASK_EPILOG)
		agent_epilog_ended(t, false, how);
}

static void on_prolog_closed(struct agent_script *s)
{
	agent_task_handle_gone(s->data);
}

void agent_prolog_init(struct agent_task *t)
{
	if (!agent_prolog_on(t->agent))
		return;
	agent_script_init(&t->script, t->agent, "prolog", t, on_prolog_end, on_prolog_closed);
	t->script.on_stuck = on_prolog_stuck;
}

bool agent_prolog_start(struct agent_task *t, const Hare__TaskStart *m)
{
	size_t n;

	if (!t->agent->cfg.prolog[0] || !t->script.agent)
		return false;	/* no prolog */
	n = hare__task_start__get_packed_size(m);
	t->start_msg = malloc(n ? n : 1);
	if (t->start_msg) {
		t->start_len = hare__task_start__pack(m, t->start_msg);
		t->phase = TASK_PROLOG;
	}
	if (!t->start_msg || !agent_prolog_run(t)) {
		/* never a worker without its prolog: the task fails */
		free(t->start_msg);
		t->start_msg = NULL;
		t->phase = TASK_RUNNING;	/* agent_task_end's to end */
		t->status = HARE__TASK_STATUS__TASK_FAILED;
		snprintf(t->message, sizeof(t->message), "its prolog could not be started: out of "
			 "memory");
		agent_task_end(t);
		return true;
	}
	log_info("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: prolog started",
		 t->job_id, t->lease_id, t->rank);
	/* prolog=running: an agent stopped meanwhile ends the task at its
	 * restart (no worker ran), and runs the epilog */
	agent_state_write(t);
	return true;
}

void agent_prolog_stop(struct agent_task *t)
{
	t->stop_requested = true;
	agent_script_stop(&t->script);
}

bool agent_epilog_start(struct agent_task *t)
{
	struct agent *a = t->agent;

	if (!a->cfg.epilog[0] || !t->script.agent || a->closing)
		return false;
	if (t->script.running) {
		/* the prolog, given up as stuck, still holds the script */
		log_warn("task job=%" PRIu64 " lease=%" PRIu64 " rank=%u: its epilog is not run, its "
			 "prolog pid=%d does not end", t->job_id, t->lease_id, t->rank, t->script.pid);
		return false;
	}
	t->phase = TASK_EPILOG;
	if (!agent_prolog_run(t)) {
		t->phase = TASK_ENDED;
		return false;
	}
	agent_state_write(t);	/* epilog=pending: a restart runs it again */
	return true;
}

void agent_prolog_free(struct agent_task *t)
{
	free(t->start_msg);
	t->start_msg = NULL;
}

void agent_prolog_check(const struct agent *a)
{
	const char *paths[2] = { a->cfg.prolog, a->cfg.epilog }, *names[2] = { "prolog", "epilog" };
	char why[1100];

	for (int i = 0; i < 2; i++) {
		if (!paths[i][0])
			continue;
		if (agent_health_check_ok(paths[i], NULL, 0, why, sizeof(why)) < 0)
			log_warn("node=%s %s %s cannot run as it is now: %s (until it can, each task "
				 "here fails and hared drains the node)", a->cfg.node, names[i],
				 paths[i], why);
		else
			log_info("node=%s %s %s (killed after %u s)", a->cfg.node, names[i], paths[i],
				 i == 0 ? a->cfg.prolog_timeout_s : a->cfg.epilog_timeout_s);
	}
}
