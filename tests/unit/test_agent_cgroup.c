/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's cgroups (as root, where cgroup v2 is writable):
 * what escapes a worker's or a prolog's process group is killed with it,
 * adopted cgroups, leftovers swept, and the paths an agent refuses to adopt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "log.h"

/* ---- each task's processes in a cgroup of its own ---- */

/* f's agent with cgroup = auto, registered; false (the agent stopped) where
 * this host gives it no cgroup v2 (then the test skips). */
static bool cg_agent_registered(struct fake *f)
{
	char err[256];

	assert_int_equal(agent_config_set(&f->cfg, "cgroup", "auto", err, sizeof(err)), 0);
	fake_agent_registered(f);
	if (agent_cgroup_on(f->agent))
		return true;
	print_message("no cgroup v2 the agent may write here: skipped\n");
	return false;
}

/* The pid f->dir/NAME holds, once written (within 5 s). */
static int cg_read_pid(struct fake *f, const char *name)
{
	char path[300], got[32] = "";

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	return atoi(got);
}

/* Whether pid's cgroup (v2) ends with /name. */
static bool cg_pid_in(int pid, const char *name)
{
	char path[64], line[1200];
	bool in = false;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		size_t n = strcspn(line, "\n"), k = strlen(name);

		line[n] = '\0';
		if (strncmp(line, "0::", 3) == 0 && n > k && line[n - k - 1] == '/' &&
		    strcmp(line + n - k, name) == 0)
			in = true;
	}
	fclose(fp);
	return in;
}

/* Wait up to 2 s for pid to be gone (a zombie is). */
static bool cg_pid_gone(int pid)
{
	for (int i = 0; i < 200 && agent_pid_alive(pid, 0); i++)
		usleep(10000);
	return !agent_pid_alive(pid, 0);
}

/* A worker's command that starts two processes in sessions of their own
 * (out of its process group: the group's signals miss them), each writing
 * its pid to f->dir/NAME.N: the first ignores SIGTERM, the second writes
 * f->dir/NAME.term when it gets one and exits. It reports a round and runs
 * on. */
static void cg_escaping_command(struct fake *f, const char *name, char *cmd, size_t len)
{
	const char *d = f->dir;

	snprintf(cmd, len, "setsid sh -c 'trap \"\" TERM; echo $$ >%s/%s.t1; mv %s/%s.t1 %s/%s.1; "
		 "exec sleep 60' </dev/null >/dev/null 2>&1 & "
		 "setsid sh -c 'trap \"echo got >%s/%s.term; exit 0\" TERM; echo $$ >%s/%s.t2; "
		 "mv %s/%s.t2 %s/%s.2; while :; do sleep 0.05; done' </dev/null >/dev/null 2>&1 & "
		 "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; while :; do sleep 0.05; done",
		 d, name, d, name, d, name, d, name, d, name, d, name, d, name);
}

/* What escaped a worker's process group is killed with the task; with
 * cgroup = no it is not (what the cgroup is for). The agent's folder is
 * gone once it closed with nothing left in it. */
static void test_cgroup_worker_escapee(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[2048], base[AGENT_CGROUP_BASE_MAX], err[256], path[AGENT_CGROUP_MAX];
	struct start_args s = { .job = 4, .lease = 3, .command = cmd };
	int pid, pid2;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	snprintf(base, sizeof(base), "%s", f->agent->cg_base);
	cg_escaping_command(f, "esc1", cmd, sizeof(cmd));
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc1.1");
	pid2 = cg_read_pid(f, "esc1.2");
	assert_true(cg_pid_in(pid, "worker.4.3.0") && cg_pid_in(pid2, "worker.4.3.0"));
	fake_task_stop(f, 4, 3);
	RUN_UNTIL(f, fake_exit(f, 4, 3, 0), 5);
	assert_int_equal(fake_exit(f, 4, 3, 0)->status, HARE__TASK_STATUS__TASK_STOPPED);
	if (!cg_pid_gone(pid))
		fail_msg("the process that left the worker's group (pid %d) still runs", pid);
	assert_true(cg_pid_gone(pid2));
	/* ... the one that heeds SIGTERM was asked first, as the worker was */
	snprintf(path, sizeof(path), "%s/esc1.term", f->dir);
	assert_true(file_exists(path));
	/* the ended task's cgroup goes once empty (a heartbeat's sweep at the
	 * latest), while the agent runs on */
	snprintf(path, sizeof(path), "%s/worker.4.3.0", base);
	RUN_UNTIL(f, !file_exists(path), 5);
	fake_agent_stop(f);
	assert_false(file_exists(base));
	/* the same without a cgroup: the group kill alone misses it */
	assert_int_equal(agent_config_set(&f->cfg, "cgroup", "no", err, sizeof(err)), 0);
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	cg_escaping_command(f, "esc2", cmd, sizeof(cmd));
	s.lease = 4;
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc2.1");
	pid2 = cg_read_pid(f, "esc2.2");
	fake_task_stop(f, 4, 4);
	RUN_UNTIL(f, fake_exit(f, 4, 4, 0), 5);
	usleep(200000);
	assert_true(agent_pid_alive(pid, 0) && agent_pid_alive(pid2, 0));
	kill(pid, SIGKILL);
	kill(pid2, SIGKILL);
	fake_free(f);
}

/* Before Linux 5.14 (no cgroup.kill) the cgroup is frozen while each of
 * its processes is killed: the same outcome. */
static void test_cgroup_freeze_kill(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[2048];
	struct start_args s = { .job = 4, .lease = 5, .command = cmd };
	int pid, pid2;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	f->agent->cg_freeze_kill = true;
	cg_escaping_command(f, "esc", cmd, sizeof(cmd));
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc.1");
	pid2 = cg_read_pid(f, "esc.2");
	fake_task_stop(f, 4, 5);
	RUN_UNTIL(f, fake_exit(f, 4, 5, 0), 5);
	if (!cg_pid_gone(pid) || !cg_pid_gone(pid2))
		fail_msg("processes that left the worker's group (pids %d %d) still run", pid, pid2);
	fake_free(f);
}

/* What a prolog leaves running out of its group is killed once it exits,
 * before the worker starts. Through the shim as without it, the real file
 * runs: a script's $0 is that file (the kernel's), not the link
 * configured. */
static void test_cgroup_prolog_escapee(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], path[300], text[1200], err[256], link[300];
	struct start_args s = { .job = 5, .lease = 1, .count = 1, .command = cmd };
	int pid;

	(void)state;
	if (geteuid() != 0) {
		fake_free(f);
		skip();
	}
	snprintf(path, sizeof(path), "%s/prolog", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$0\" >%s/pro.argv0\n"
		 "setsid sleep 60 </dev/null >/dev/null 2>&1 &\n"
		 "echo $! >%s/pro.tmp; mv %s/pro.tmp %s/pro.pid\n", f->dir, f->dir, f->dir, f->dir);
	assert_true(strlen(text) < sizeof(text) - 1);
	write_file(path, text, 0755);
	snprintf(link, sizeof(link), "%s/prolog-link", f->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(agent_config_set(&f->cfg, "prolog", link, err, sizeof(err)), 0);
	/* the worker fails unless the prolog's escapee is gone when it starts */
	snprintf(cmd, sizeof(cmd), "p=$(cat %s/pro.pid); for i in $(seq 100); do "
		 "kill -0 $p 2>/dev/null || break; sleep 0.02; done; kill -0 $p 2>/dev/null && exit 9; "
		 "printf 'round 0 1 1 1 1\\ndone 1\\n' >&$HARE_REPORT_FD", f->dir);
	if (!cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 5, 1, 0), 10);
	assert_int_equal(fake_exit(f, 5, 1, 0)->status, HARE__TASK_STATUS__TASK_OK);
	pid = cg_read_pid(f, "pro.pid");
	assert_true(cg_pid_gone(pid));
	snprintf(path, sizeof(path), "%s/pro.argv0", f->dir);
	read_text(path, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/prolog\n", f->dir);
	assert_string_equal(text, path);
	fake_free(f);
}

/* A restarted agent adopts the worker's cgroup from its state file: the
 * stop kills what escaped, as the first agent would have. */
static void test_cgroup_adopt(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[2048], path[300], st[2048];
	struct start_args s = { .job = 6, .lease = 2, .command = cmd };
	int pid;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	cg_escaping_command(f, "esc", cmd, sizeof(cmd));
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc.1");	/* the one that ignores SIGTERM */
	RUN_UNTIL(f, fake_relayed(f, 6, 2, 0).reports >= 1, 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/6.2.0.task", f->dir);
	read_text(path, st, sizeof(st));
	assert_non_null(strstr(st, "/worker.6.2.0\n"));
	assert_true(agent_pid_alive(pid, 0));	/* the agent's stop leaves the task running */
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 1);
	fake_task_stop(f, 6, 2);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 5);
	if (!cg_pid_gone(pid))
		fail_msg("the adopted task's escaped process (pid %d) still runs", pid);
	fake_free(f);
}

/* A cgroup of no task here (an agent killed while a prolog ran, say) is
 * emptied and removed when the agent starts. */
static void test_cgroup_leftover(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char base[AGENT_CGROUP_BASE_MAX], dir[AGENT_CGROUP_MAX], path[AGENT_CGROUP_MAX + 32];
	char pidtext[32];
	pid_t pid, got = 0;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	snprintf(base, sizeof(base), "%s", f->agent->cg_base);
	fake_agent_stop(f);
	assert_int_equal(mkdir(base, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/prolog.9.1.0", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	pid = fork();
	if (pid == 0) {
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pidtext, sizeof(pidtext), "%d", (int)pid);
	write_file(path, pidtext, 0644);
	assert_true(cg_pid_in(pid, "prolog.9.1.0"));
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	for (int i = 0; i < 200 && (got = waitpid(pid, NULL, WNOHANG)) == 0; i++)
		usleep(10000);
	if (got != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the process left in %s was not killed at the agent's start", dir);
	}
	fake_agent_stop(f);
	assert_false(file_exists(dir));
	fake_free(f);
}

/* A state file's cgroup is adopted only where an agent makes one: not
 * through a link (the agent would write cgroup.kill wherever it leads), nor
 * a path with "..", nor a folder of another's; a refused one is left
 * alone at the task's end. */
static void test_cgroup_adopt_refused(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char base[AGENT_CGROUP_BASE_MAX], victim[AGENT_CGROUP_MAX], dir[AGENT_CGROUP_MAX + 32];
	char path[AGENT_CGROUP_MAX + 64], link[300], text[AGENT_CGROUP_MAX + 200];
	int fds[2];
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	snprintf(base, sizeof(base), "%s", f->agent->cg_base);
	snprintf(victim, sizeof(victim), "%s/victim", base);
	assert_int_equal(mkdir(victim, 0755), 0);
	/* the child holds the agent's lock until its exec: wait for that */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	close(fds[1]);
	while (read(fds[0], text, 1) < 0 && errno == EINTR)
		;
	close(fds[0]);
	snprintf(path, sizeof(path), "%s/cgroup.procs", victim);
	snprintf(text, sizeof(text), "%d", (int)pid);
	write_file(path, text, 0644);
	/* the agent's own */
	snprintf(dir, sizeof(dir), "%s/worker.7.1.0", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_true(agent_cgroup_adoptable(dir, "worker.7.1.0"));
	assert_false(agent_cgroup_adoptable(dir, "worker.7.1.1"));
	snprintf(path, sizeof(path), "%s/../%s/worker.7.1.0", victim, strrchr(base, '/') + 1);
	assert_false(agent_cgroup_adoptable(path, "worker.7.1.0"));
	assert_int_equal(rmdir(dir), 0);
	/* another's folder */
	snprintf(dir, sizeof(dir), "%s/worker.7.1.0", victim);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_false(agent_cgroup_adoptable(dir, "worker.7.1.0"));
	assert_int_equal(rmdir(dir), 0);
	/* a link named for the task, to a cgroup with a process in it */
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(mkdir(link, 0755), 0);
	snprintf(link, sizeof(link), "%s/link/worker.7.1.0", f->dir);
	assert_int_equal(symlink(victim, link), 0);
	assert_false(agent_cgroup_adoptable(link, "worker.7.1.0"));
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/7.1.0.task", f->dir);
	snprintf(text, sizeof(text), "job=7\nlease=1\nrank=0\ngpu=0\npid=999999\ncgroup=%s\n", link);
	write_file(path, text, 0600);
	fake_agent_start(f);
	RUN_UNTIL(f, fake_exit(f, 7, 1, 0), 5);
	usleep(200000);
	if (waitpid(pid, NULL, WNOHANG) == pid)
		fail_msg("the agent killed the cgroup %s that a state file's link led to", victim);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < 200 && rmdir(victim) < 0; i++)
		usleep(10000);
	fake_free(f);
}

/* The agent's cgroup folder, removed by someone while empty, is made again
 * for the next run, which is in its cgroup as before. */
static void test_cgroup_base_made_again(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1000], path[300], got[AGENT_CGROUP_MAX] = "";
	struct start_args s = { .job = 8, .lease = 1, .count = 1, .command = cmd };

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	assert_int_equal(rmdir(f->agent->cg_base), 0);
	snprintf(cmd, sizeof(cmd), "sed -n 's/^0:://p' /proc/self/cgroup >%s/cg.t; mv %s/cg.t %s/cg; "
		 "printf 'round 0 1 1 1 1\\ndone 1\\n' >&$HARE_REPORT_FD", f->dir, f->dir, f->dir);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 5);
	assert_int_equal(fake_exit(f, 8, 1, 0)->status, HARE__TASK_STATUS__TASK_OK);
	snprintf(path, sizeof(path), "%s/cg", f->dir);
	read_text(path, got, sizeof(got));
	got[strcspn(got, "\n")] = '\0';
	assert_true(strlen(got) > 13);
	assert_string_equal(got + strlen(got) - 13, "/worker.8.1.0");
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_worker_escapee),
		cmocka_unit_test(test_cgroup_freeze_kill),
		cmocka_unit_test(test_cgroup_prolog_escapee),
		cmocka_unit_test(test_cgroup_adopt),
		cmocka_unit_test(test_cgroup_leftover),
		cmocka_unit_test(test_cgroup_adopt_refused),
		cmocka_unit_test(test_cgroup_base_made_again),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
