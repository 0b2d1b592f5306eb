/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's wait, at a task's end, for its processes to be
 * gone (agent_reap.c): the exit waits for them, and goes with a node fault
 * naming them after unkillable_timeout_s. A process that survives SIGKILL
 * (state D) cannot be made on purpose: the agent's kill_hook drops the
 * SIGKILLs meant for one, for as long as a test says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "log.h"

/* SIGKILLs to held_pid, or to its group with held_group, are dropped while
 * held is set: the process "survives" them. */
static bool held;
static int held_pid;
static bool held_group;
static int held_drops;

static int reap_kill(pid_t pid, int sig)
{
	if (held && sig == SIGKILL && (pid == held_pid || (held_group && pid < 0))) {
		held_drops++;
		return 0;
	}
	return kill(pid, sig);
}

/* The pid f->dir/NAME holds, once written (within 5 s). */
static int read_pid(struct fake *f, const char *name)
{
	char path[300], got[32] = "";

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	return atoi(got);
}

static bool gone(int pid)
{
	char st = proc_state(pid);

	return st == 0 || st == 'Z';
}

/* A worker that starts a process ignoring SIGTERM, in its own process group
 * (or, with escape, in a session of its own), which writes its pid to
 * f->dir/kid (and does not hold the report pipe); it reports a round and
 * runs on until stopped. */
static void kid_command(struct fake *f, bool escape, char *cmd, size_t len)
{
	snprintf(cmd, len, "%s sh -c 'eval \"exec $HARE_REPORT_FD>&-\"; trap \"\" TERM; "
		 "echo $$ >%s/kid.t; mv %s/kid.t %s/kid; exec sleep 60' </dev/null >/dev/null 2>&1 & "
		 "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; while :; do sleep 0.05; done",
		 escape ? "setsid" : "", f->dir, f->dir, f->dir);
}

static void reap_setup(struct fake *f, const char *timeout_s)
{
	fake_set(f, "unkillable_timeout_s", timeout_s);
	held = false;
	held_pid = 0;
	held_group = false;
	held_drops = 0;
	f->kill_hook = reap_kill;
}

/* A task JOB.LEASE of the kid_command (escape: out of the worker's
 * session) whose kid's SIGKILLs are dropped, stopped; the kid's pid. */
static int kid_stopped_held(struct fake *f, uint64_t job, uint64_t lease, bool escape)
{
	char cmd[1024], path[300];
	struct start_args s = { .job = job, .lease = lease, .command = cmd };
	int kid;

	snprintf(path, sizeof(path), "%s/kid", f->dir);
	unlink(path);
	kid_command(f, escape, cmd, sizeof(cmd));
	fake_task_start(f, &s);
	kid = read_pid(f, "kid");
	RUN_UNTIL(f, fake_relayed(f, job, lease, 0).reports >= 1, 5);
	if (escape)
		held_pid = kid;	/* its cgroup's kill reaches it one by one */
	else
		held_group = true;
	held = true;
	fake_task_stop(f, job, lease);
	return kid;
}

/* The exit waits while a process of the worker's group outlives its
 * SIGKILL, sent again each second; it goes, without a fault, once the
 * process is gone. */
static void test_reap_group_waits(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	const Hare__TaskExit *e;
	double t0;
	int kid;

	(void)state;
	reap_setup(f, "10");
	fake_agent_registered(f);
	kid = kid_stopped_held(f, 3, 1, false);
	t0 = now_s();
	RUN_UNTIL(f, now_s() - t0 > 0.6, 2);
	assert_null(fake_exit(f, 3, 1, 0));
	assert_false(gone(kid));
	assert_true(held_drops >= 1);
	held = false;	/* the next SIGKILL (within a second) gets through */
	RUN_UNTIL(f, fake_exit(f, 3, 1, 0), 3);
	assert_true(gone(kid));
	e = fake_exit(f, 3, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_null(e->node_fault);
	assert_null(strstr(e->message, "SIGKILL"));
	RUN_UNTIL(f, f->agent->ntasks == 0, 5);
	fake_free(f);
}

/* A process of the worker's group that does not die of SIGKILL: the exit
 * goes after unkillable_timeout_s with a node fault naming it; with
 * unkillable_timeout_s = 0 the exit does not wait. */
static void test_reap_group_timeout(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char want[256];
	const Hare__TaskExit *e;
	double t0;
	int kid;

	(void)state;
	reap_setup(f, "1");
	fake_agent_registered(f);
	kid = kid_stopped_held(f, 4, 1, false);
	t0 = now_s();
	RUN_UNTIL(f, fake_exit(f, 4, 1, 0), 5);
	assert_true(now_s() - t0 >= 0.95);
	e = fake_exit(f, 4, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	snprintf(want, sizeof(want), "processes alive 1 s after SIGKILL: %d sleep (S)", kid);
	assert_non_null(e->node_fault);
	assert_string_equal(e->node_fault, want);
	assert_non_null(strstr(e->message, want));	/* harectl show says it too */
	assert_false(gone(kid));
	held = false;
	kill(kid, SIGKILL);
	fake_agent_stop(f);
	/* no wait */
	fake_set(f, "unkillable_timeout_s", "0");
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	kid = kid_stopped_held(f, 4, 2, false);
	RUN_UNTIL(f, fake_exit(f, 4, 2, 0), 5);
	assert_null(fake_exit(f, 4, 2, 0)->node_fault);
	assert_false(gone(kid));
	held = false;
	kill(kid, SIGKILL);
	fake_free(f);
}

/* test_agent_reap --thread-left PIDFILE: a process whose first thread
 * exits while another runs on (its /proc/PID/stat says Z), ignoring
 * SIGTERM, as a program with a thread stuck in a driver call may be. */
static void *thread_sleep(void *arg)
{
	(void)arg;
	sleep(60);
	return NULL;
}

static int thread_left(const char *pidfile)
{
	pthread_t th;
	char tmp[300];
	FILE *fp;

	signal(SIGTERM, SIG_IGN);
	if (pthread_create(&th, NULL, thread_sleep, NULL) != 0)
		return 1;
	snprintf(tmp, sizeof(tmp), "%s.t", pidfile);
	fp = fopen(tmp, "w");
	if (!fp)
		return 1;
	fprintf(fp, "%d\n", (int)getpid());
	fclose(fp);
	rename(tmp, pidfile);
	pthread_exit(NULL);
}

/* A process whose first thread has exited but another lives is not gone:
 * the exit waits for it, and names it. */
static void test_reap_thread_left(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], self[256], want[256];
	struct start_args s = { .job = 7, .lease = 1, .command = cmd };
	const Hare__TaskExit *e;
	ssize_t n;
	int kid;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	reap_setup(f, "1");
	snprintf(cmd, sizeof(cmd), "%s --thread-left %s/kid </dev/null >/dev/null 2>&1 & "
		 "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; while :; do sleep 0.05; done",
		 self, f->dir);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	kid = read_pid(f, "kid");
	RUN_UNTIL(f, proc_state(kid) == 'Z', 5);	/* its first thread is gone */
	RUN_UNTIL(f, fake_relayed(f, 7, 1, 0).reports >= 1, 5);
	held = held_group = true;
	fake_task_stop(f, 7, 1);
	RUN_UNTIL(f, fake_exit(f, 7, 1, 0), 5);
	e = fake_exit(f, 7, 1, 0);
	snprintf(want, sizeof(want), "processes alive 1 s after SIGKILL: %d test_agent_reap (S)",
		 kid);
	assert_non_null(e->node_fault);
	assert_string_equal(e->node_fault, want);
	held = false;
	kill(kid, SIGKILL);
	fake_free(f);
}

/* f's agent with cgroup = auto, registered; false where this host gives it
 * no cgroup v2 it may write (the test skips). */
static bool cg_registered(struct fake *f)
{
	if (geteuid() != 0)
		return false;
	fake_set(f, "cgroup", "auto");
	fake_agent_registered(f);
	if (agent_cgroup_on(f->agent))
		return true;
	print_message("no cgroup v2 the agent may write here: skipped\n");
	return false;
}

/* A fake hared and its agent with cgroups and unkillable_timeout_s, or
 * NULL where the host gives the agent no cgroup (the test skips). */
static struct fake *cg_reap_fake(const char *timeout_s)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");

	reap_setup(f, timeout_s);
	if (cg_registered(f))
		return f;
	fake_free(f);
	return NULL;
}

/* Wait up to 5 s for the task state of JOB.1.0 to hold text. */
static void reap_state_wait(struct fake *f, uint64_t job, const char *text)
{
	char path[300], st[2048];

	snprintf(path, sizeof(path), "%s/work/tasks/%llu.1.0.task", f->dir, (unsigned long long)job);
	RUN_UNTIL(f, (read_text(path, st, sizeof(st)), strstr(st, text)), 5);
}

/* With a cgroup: what left the worker's session is waited for too, and the
 * wait goes on in a restarted agent (the state file says reap=pending; the
 * task is still listed as running, so hared keeps its GPU). */
static void test_reap_cgroup_restart(void **state)
{
	struct fake *f = cg_reap_fake("30");
	const Hare__TaskExit *e;
	double t0;
	int kid;

	(void)state;
	if (!f)
		skip();
	kid = kid_stopped_held(f, 5, 1, true);
	reap_state_wait(f, 5, "reap=pending\n");
	assert_null(fake_exit(f, 5, 1, 0));
	fake_agent_stop(f);
	held_drops = 0;
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 1);
	assert_true(held_drops >= 1);	/* the new agent killed it again */
	t0 = now_s();
	RUN_UNTIL(f, now_s() - t0 > 0.3, 2);
	assert_null(fake_exit(f, 5, 1, 0));
	assert_false(gone(kid));
	held = false;
	RUN_UNTIL(f, fake_exit(f, 5, 1, 0), 3);
	assert_true(gone(kid));
	e = fake_exit(f, 5, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_null(e->node_fault);
	fake_free(f);
}

/* A restarted agent waits only for the rest of the time: the exit comes
 * unkillable_timeout_s after the first agent's SIGKILL, not after the
 * restart. */
static void test_reap_cgroup_restart_rest(void **state)
{
	struct fake *f = cg_reap_fake("3");
	const Hare__TaskExit *e;
	double t0;
	int kid;

	(void)state;
	if (!f)
		skip();
	kid = kid_stopped_held(f, 8, 1, true);
	t0 = now_s();
	reap_state_wait(f, 8, "\nreap_since=");
	RUN_UNTIL(f, now_s() - t0 > 1.5, 3);
	fake_agent_stop(f);
	fake_agent_start(f);
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 5);
	/* 3 s after the stop, not 3 s after the restart (4.5 s) */
	if (now_s() - t0 > 4.2)
		fail_msg("the exit came %.1f s after the stop", now_s() - t0);
	e = fake_exit(f, 8, 1, 0);
	assert_non_null(e->node_fault);
	assert_non_null(strstr(e->node_fault, "processes alive 3 s after SIGKILL: "));
	held = false;
	kill(kid, SIGKILL);
	RUN_UNTIL(f, gone(kid), 5);
	fake_free(f);
}

/* With a cgroup, one that outlives the wait is named in the node fault. */
static void test_reap_cgroup_timeout(void **state)
{
	struct fake *f = cg_reap_fake("1");
	char want[256];
	const Hare__TaskExit *e;
	int kid;

	(void)state;
	if (!f)
		skip();
	kid = kid_stopped_held(f, 6, 1, true);
	RUN_UNTIL(f, fake_exit(f, 6, 1, 0), 5);
	e = fake_exit(f, 6, 1, 0);
	snprintf(want, sizeof(want), "processes alive 1 s after SIGKILL: %d sleep (S)", kid);
	assert_non_null(e->node_fault);
	assert_string_equal(e->node_fault, want);
	held = false;
	kill(kid, SIGKILL);
	RUN_UNTIL(f, gone(kid), 5);	/* so the agent's close removes its cgroups */
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reap_group_waits),
		cmocka_unit_test(test_reap_group_timeout),
		cmocka_unit_test(test_reap_thread_left),
		cmocka_unit_test(test_reap_cgroup_restart),
		cmocka_unit_test(test_reap_cgroup_restart_rest),
		cmocka_unit_test(test_reap_cgroup_timeout),
	};

	/* a worker put in its cgroup comes back here first (/proc/self/exe
	 * --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);
	if (argc > 2 && strcmp(argv[1], "--thread-left") == 0)
		return thread_left(argv[2]);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
