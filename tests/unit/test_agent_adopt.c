/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's tasks across a lost link and an agent restart:
 * reports kept over a reconnect, workers adopted from their state files (one
 * that died, a pid reused, damaged files, an unwritable state). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

static void test_reconnect_keeps_reports(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "T4:1");
	struct start_args s = { .job = 6, .lease = 2, .count = 1500, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	struct relayed r;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 6, 2, 0).reports >= 1, 5);
	fake_drop(f);
	/* the agent comes back (0.1 - 0.2 s back-off) and lists the running task
	 * with all a daemon needs to book it where it runs */
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->hellos, 2);
	assert_int_equal(f->reg_running, 1);
	assert_int_equal(f->reg_running_job, 6);
	assert_true(f->reg_task0.has_gpu_index && f->reg_task0.has_world_size &&
		    f->reg_task0.has_tasks && f->reg_task0.has_round_first);
	assert_int_equal(f->reg_task0.gpu_index, 0);
	assert_int_equal(f->reg_task0.world_size, 1);
	assert_int_equal(f->reg_task0.tasks, 1);
	assert_int_equal(f->reg_task0.round_first, 0);
	assert_true(f->reg_task0.has_rounds_done && f->reg_task0.rounds_done >= 1);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 10);
	e = fake_exit(f, 6, 2, 0);
	r = fake_relayed(f, 6, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(r.rounds, 1500);
	assert_true(r.contiguous && r.exit_after_reports);
	fake_free(f);
}

static void test_adopt_after_agent_restart(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 7, .lease = 3, .rank = 1, .world = 2, .gpu = 1, .first = 500,
				.count = 1500, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	struct relayed r;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 7, 3, 1).reports >= 1, 5);
	/* the agent goes away; its worker does not */
	fake_agent_stop(f);
	RUN_UNTIL(f, !f->client_open, 5);
	assert_null(fake_exit(f, 7, 3, 1));
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 1);
	assert_int_equal(f->reg_running_job, 7);
	/* what the new agent read back from the task's state file */
	assert_int_equal(f->reg_task0.rank, 1);
	assert_int_equal(f->reg_task0.gpu_index, 1);
	assert_int_equal(f->reg_task0.world_size, 2);
	assert_int_equal(f->reg_task0.tasks, 1);
	assert_int_equal(f->reg_task0.round_first, 500);
	assert_true(!f->reg_task0.has_rounds_done || f->reg_task0.rounds_done <= 1500);
	RUN_UNTIL(f, fake_exit(f, 7, 3, 1), 10);
	e = fake_exit(f, 7, 3, 1);
	r = fake_relayed(f, 7, 3, 1);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_false(e->has_exit_code);	/* not the new agent's child */
	assert_int_equal(e->rounds_done, 1500);
	assert_int_equal(r.rounds, 1500);
	assert_true(r.contiguous);
	fake_free(f);
}

/* A worker that died while its agent was away (a zombie here, as under a
 * parent that reaps late) ends when the next agent adopts it: FAILED, not
 * "running" for good (its report FIFO then has no writer, and a FIFO
 * opened without one shows no hang-up by itself). */
static void test_adopt_worker_died_while_away(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 8, .lease = 4, .rank = 0, .world = 1, .gpu = 0, .first = 0,
				.count = 100000, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	char path[512], line[256];
	FILE *fp;
	int pid = 0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 8, 4, 0).reports >= 1, 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/8.4.0.task", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "pid=%d", &pid) == 1)
			break;
	fclose(fp);
	assert_true(pid > 1);
	/* killed, and left unreaped: a zombie still answers kill(pid, 0) */
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (int i = 0; i < 500 && proc_state(pid) != 'Z'; i++)
		usleep(10000);
	assert_int_equal(proc_state(pid), 'Z');
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	RUN_UNTIL(f, fake_exit(f, 8, 4, 0), 5);
	e = fake_exit(f, 8, 4, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "worker ended without a done line while the agent was away");
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	fake_free(f);
}

static pid_t reused_pid;

static int reused_kills;

static int reused_kill(pid_t pid, int sig)
{
	if (pid == reused_pid || pid == -reused_pid)
		reused_kills++;
	return kill(pid, sig);
}

/* The pid of a worker that ended while the agent was away now belongs to
 * another process (a reboot, a long outage): its start time differs from
 * the one in the task state, so the agent does not adopt it as the worker,
 * never signals it (not at the stop, not at the end), and reports the task
 * ended. Before, it adopted the stranger and killed it at the stop. */
static void test_adopt_pid_reused(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 8, .lease = 5, .rank = 0, .world = 1, .gpu = 0, .first = 0,
				.count = 100000, .round_s = 1, .scale = 1000 };
	char path[512], line[256], text[2048] = "";
	size_t used = 0;
	FILE *fp;
	int pid = 0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 8, 5, 0).reports >= 1, 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/8.5.0.task", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "pid=%d", &pid) == 1)
			continue;	/* written again below, as the stranger's */
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s", line);
	}
	fclose(fp);
	assert_true(pid > 1);
	assert_non_null(strstr(text, "pid_start="));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	reused_pid = fork();
	assert_true(reused_pid >= 0);
	if (reused_pid == 0) {
		setsid();
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%spid=%d\n", text, (int)reused_pid);
	fclose(fp);
	reused_kills = 0;
	fake_agent_start(f);
	f->agent->kill_hook = reused_kill;
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 0);	/* not counted as running */
	fake_task_stop(f, 8, 5);
	RUN_UNTIL(f, fake_exit(f, 8, 5, 0), 5);
	assert_int_equal(reused_kills, 0);
	assert_int_equal(kill(reused_pid, 0), 0);	/* the stranger runs on */
	kill(reused_pid, SIGKILL);
	waitpid(reused_pid, NULL, 0);
	fake_free(f);
}

/* A task state written before a reboot (another boot_id): its pids, and
 * start times, may be any process's now; a process that matches both is
 * not signalled (not as its prolog either), and the task ends. */
static void test_adopt_other_boot(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char path[300], text[600];
	const Hare__TaskExit *e;
	pid_t other;

	(void)state;
	other = session_sleep(30);
	snprintf(path, sizeof(path), "%s/work", f->dir);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/work/tasks", f->dir);
	mkdir(path, 0700);
	snprintf(text, sizeof(text), "job=21\nlease=1\nrank=0\ngpu=0\npid=%d\npid_start=%llu\n"
		 "boot_id=00000000-0000-0000-0000-000000000000\nscript_pid=%d\nscript_start=%llu\n"
		 "prolog=running\n", (int)other, (unsigned long long)agent_pid_start(other),
		 (int)other, (unsigned long long)agent_pid_start(other));
	snprintf(path, sizeof(path), "%s/work/tasks/21.1.0.task", f->dir);
	write_file(path, text, 0600);
	fake_agent_registered(f);
	RUN_UNTIL(f, fake_exit(f, 21, 1, 0), 5);
	e = fake_exit(f, 21, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_true(e->prolog_failed);
	assert_int_equal(kill(other, 0), 0);	/* not signalled */
	assert_int_equal(proc_state(other) != 'Z', 1);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	fake_free(f);
}

/* A task whose state file cannot be written (a full disk; here a folder in
 * the way of its temporary file) is stopped and reported FAILED: a
 * restarted agent could not adopt it, and it would run on unseen. */
static void test_task_state_unwritable(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 8, .lease = 6, .rank = 0, .world = 1, .gpu = 0, .first = 0,
				.count = 100000, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	char path[512];

	(void)state;
	fake_agent_registered(f);
	snprintf(path, sizeof(path), "%s/work/tasks/8.6.0.task.tmp", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 6, 0), 5);
	e = fake_exit(f, 8, 6, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_non_null(strstr(e->message, "cannot write its task state in "));
	assert_non_null(strstr(e->message, "stopped, since an agent restart could not adopt it"));
	rmdir(path);
	fake_free(f);
}

/* An adopted worker is watched as a child would be: one that closed its
 * report pipe but still runs stays running until it exits; one that died
 * while a child of it holds the pipe ends about a second later. */
static void test_adopt_watch(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	char closed[512], held[512], path[300], line[32];
	struct start_args a = { .job = 9, .lease = 1, .command = closed },
			  b = { .job = 9, .lease = 2, .gpu = 1, .command = held };
	const Hare__TaskExit *e;
	double t0;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/child.pid", f->dir);
	snprintf(closed, sizeof(closed), "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; "
		 "eval \"exec $HARE_REPORT_FD>&-\"; sleep 2; exit 4");
	snprintf(held, sizeof(held), "sleep 30 & echo $! > %s; printf 'round 0 1 1 1 1\\n' "
		 ">&$HARE_REPORT_FD; sleep 1; exit 3", path);
	fake_agent_registered(f);
	fake_task_start(f, &a);
	fake_task_start(f, &b);
	RUN_UNTIL(f, fake_relayed(f, 9, 1, 0).reports >= 1 && fake_relayed(f, 9, 2, 0).reports >= 1, 5);
	fake_agent_stop(f);
	t0 = now_s();
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 2);
	/* b's worker exits at about 1 s; its child holds the pipe */
	RUN_UNTIL(f, fake_exit(f, 9, 2, 0), 5);
	print_message("adopted worker with a child on its pipe: TaskExit %.0f ms after the restart\n",
		      (now_s() - t0) * 1000);
	e = fake_exit(f, 9, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "adopted worker ended without a done line (its exit code is "
			    "unknown)");
	/* a's worker closed its pipe but ran on until about 2 s */
	RUN_UNTIL(f, fake_exit(f, 9, 1, 0), 5);
	assert_true(now_s() - t0 > 1.5);
	e = fake_exit(f, 9, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	fp = fopen(path, "r");
	if (fp && fgets(line, sizeof(line), fp) && atoi(line) > 1)
		kill(atoi(line), SIGKILL);
	if (fp)
		fclose(fp);
	fake_free(f);
}

static int damaged_kills;

static int damaged_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	damaged_kills++;
	return 0;
}

/* Task state files no agent wrote that way: a copy under another name (or
 * a file named for another task), an unknown status, a worker pid of 1.
 * Files not named for the task they describe are ignored, the
 * status goes out as FAILED, and the stop signals nobody (kill(-1) would
 * reach every process; kill_hook records instead). */
static void test_adopt_damaged_state(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	const char *ended = "job=21\nlease=1\nrank=0\npid=0\nstatus=99\nmessage=damaged\n";
	const Hare__TaskExit *e;
	char dir[256], path[320];
	double t0;
	int fd, exits = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/work", f->dir);
	assert_int_equal(mkdir(dir, 0750), 0);
	snprintf(dir, sizeof(dir), "%s/work/tasks", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/21.1.0.task", dir);
	write_file(path, ended, 0600);
	snprintf(path, sizeof(path), "%s/copy.task", dir);
	write_file(path, ended, 0600);
	snprintf(path, sizeof(path), "%s/23.1.0.task.orig", dir);	/* not a .task */
	write_file(path, "job=23\nlease=1\nrank=0\npid=0\nstatus=1\n", 0600);
	snprintf(path, sizeof(path), "%s/24.1.1.task", dir);	/* names another task */
	write_file(path, "job=24\nlease=1\nrank=0\npid=0\nstatus=1\n", 0600);
	snprintf(path, sizeof(path), "%s/22.1.0.task", dir);
	write_file(path, "job=22\nlease=1\nrank=0\npid=1\n", 0600);
	/* a live worker's report pipe: held open for writing */
	snprintf(path, sizeof(path), "%s/22.1.0.fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	fd = open(path, O_RDWR | O_NONBLOCK);
	assert_true(fd >= 0);
	damaged_kills = 0;
	fake_agent_start(f);
	f->agent->kill_hook = damaged_kill;
	RUN_UNTIL(f, f->registers == 1 && fake_exit(f, 21, 1, 0), 5);
	assert_int_equal(f->reg_running, 1);
	assert_int_equal(f->reg_running_job, 22);
	fake_task_stop(f, 22, 1);
	/* past the 300 ms grace, when SIGKILL would follow SIGTERM */
	t0 = now_s();
	RUN_UNTIL(f, now_s() > t0 + 0.6, 2);
	assert_int_equal(damaged_kills, 0);
	close(fd);
	RUN_UNTIL(f, fake_exit(f, 22, 1, 0), 5);
	assert_int_equal(fake_exit(f, 22, 1, 0)->status, HARE__TASK_STATUS__TASK_STOPPED);
	e = fake_exit(f, 21, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "damaged");
	for (size_t i = 0; i < f->nmsgs; i++)
		exits += f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_TASK_EXIT &&
			 f->msgs[i]->task_exit->job_id == 21;
	assert_int_equal(exits, 1);
	assert_null(fake_exit(f, 23, 1, 0));
	assert_null(fake_exit(f, 24, 1, 0));
	/* the files not adopted are set aside once, kept for the operator */
	snprintf(path, sizeof(path), "%s/copy.task.ignored", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/24.1.1.task.ignored", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/24.1.1.task", dir);
	assert_int_equal(access(path, F_OK), -1);
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reconnect_keeps_reports),
		cmocka_unit_test(test_adopt_after_agent_restart),
		cmocka_unit_test(test_adopt_damaged_state),
		cmocka_unit_test(test_adopt_worker_died_while_away),
		cmocka_unit_test(test_adopt_pid_reused),
		cmocka_unit_test(test_adopt_other_boot),
		cmocka_unit_test(test_task_state_unwritable),
		cmocka_unit_test(test_adopt_watch),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
