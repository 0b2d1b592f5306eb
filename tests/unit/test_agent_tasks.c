/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's tasks against a fake hared: the relay of two
 * ranks' reports, stop and kill, a researcher's command, failures, workers'
 * output files and LogFetch, their pruning, and the relay's throughput. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "log.h"
#include "workloads/report.h"

static void test_relay_two_ranks(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2,T4:1");
	struct start_args s = { .job = 1, .lease = 1, .world = 2, .first = 1000, .count = 400,
				.round_s = 1, .scale = 1000 };
	struct relayed r0, r1;
	const Hare__TaskExit *e;

	(void)state;
	fake_agent_registered(f);
	assert_int_equal(f->reg_gpus, 3);
	assert_string_equal(f->reg_type0, "V100");
	assert_int_equal(f->reg_running, 0);
	fake_task_start(f, &s);
	s.rank = 1;
	s.gpu = 1;
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 1, 1, 0) && fake_exit(f, 1, 1, 1), 20);
	r0 = fake_relayed(f, 1, 1, 0);
	r1 = fake_relayed(f, 1, 1, 1);
	print_message("relay: 400 rounds of ~1 ms per rank in %d and %d RoundReports\n",
		      r0.reports, r1.reports);
	assert_int_equal(r0.rounds, 400);
	assert_int_equal(r1.rounds, 400);
	assert_true(r0.contiguous && r1.contiguous && r0.exit_after_reports && r1.exit_after_reports);
	assert_int_equal(r0.next, 1400);
	/* batched: about one report per 50 ms, not one per round */
	assert_true(r0.reports >= 2 && r0.reports <= 60);
	/* the same noise on both ranks, compute share 0.4 of each round */
	assert_true(fabs(r0.compute - r1.compute) < 1e-6 && fabs(r0.sync - r1.sync) < 1e-6);
	assert_true(fabs(r0.compute / (r0.compute + r0.sync) - 0.4) < 1e-6);
	assert_true(r0.compute + r0.sync > 0.5 * 400 && r0.compute + r0.sync < 3.0 * 400);
	assert_true(r0.loss > 0.1 && r0.loss < 2.6);
	e = fake_exit(f, 1, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_true(e->has_exit_code && e->exit_code == 0);
	assert_true(e->has_rounds_done && e->rounds_done == 400);
	assert_true(fake_heartbeats_running(f) >= 1);
	fake_free(f);
}

static void test_stop_and_kill(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 2, .lease = 5, .count = 100000, .round_s = 1, .scale = 100 };
	struct start_args k = { .job = 3, .lease = 6, .gpu = 1, .command =
		"trap '' TERM; printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; "
		"while :; do sleep 0.05; done" };
	const Hare__TaskExit *e;
	struct relayed r;
	double t0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	fake_task_start(f, &k);
	RUN_UNTIL(f, fake_relayed(f, 2, 5, 0).reports >= 1 && fake_relayed(f, 3, 6, 0).reports >= 1, 10);
	t0 = now_s();
	fake_task_stop(f, 2, 5);
	fake_task_stop(f, 3, 6);
	fake_task_stop(f, 99, 99);	/* nothing of that runs here: ignored */
	RUN_UNTIL(f, fake_exit(f, 2, 5, 0), 5);
	print_message("stop: TaskExit %.0f ms after TaskStop\n", (now_s() - t0) * 1000);
	e = fake_exit(f, 2, 5, 0);
	r = fake_relayed(f, 2, 5, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(e->exit_code, 0);
	assert_true(r.rounds > 0 && e->rounds_done == r.rounds && r.exit_after_reports);
	assert_non_null(strstr(e->message, "stopped after "));
	assert_true(now_s() - t0 < 1.0);
	/* the worker that ignores SIGTERM is killed after the 300 ms grace */
	RUN_UNTIL(f, fake_exit(f, 3, 6, 0), 5);
	e = fake_exit(f, 3, 6, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(e->exit_code, 128 + SIGKILL);
	assert_string_equal(e->message, "killed by signal 9 after the 300 ms grace period");
	assert_true(now_s() - t0 >= 0.3);
	fake_free(f);
}

/* A worker that failed by itself before its stop came (a child of it still
 * holds the report pipe) is reported FAILED with its exit code, not
 * STOPPED: hared charges the node of the rank that failed by itself; the
 * child is ended. */
static void test_stop_after_exit(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 4, .lease = 2, .command =
		"sleep 30 & printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; exit 3" };
	const Hare__TaskExit *e;
	double t0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 4, 2, 0).reports >= 1, 5);
	t0 = now_s();
	RUN_UNTIL(f, now_s() - t0 > 0.3, 2);	/* exited; the pipe held open */
	assert_null(fake_exit(f, 4, 2, 0));
	fake_task_stop(f, 4, 2);
	RUN_UNTIL(f, fake_exit(f, 4, 2, 0), 5);
	e = fake_exit(f, 4, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(e->exit_code, 3);
	assert_string_equal(e->message, "exited with code 3");
	assert_true(now_s() - t0 < 0.9);	/* before the 1 s wait for EOF: the child was ended */
	fake_free(f);
}

/* What a task leaves in its process group (here a child that ignores
 * SIGTERM, after a stop) is killed when the task ends; and a researcher's
 * command runs with SIGPIPE ignored, so it survives writing a report while
 * no agent reads. */
static void test_task_group_killed(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], path[300], line[64];
	struct start_args s = { .job = 4, .lease = 3, .command = cmd };
	const Hare__TaskExit *e;
	FILE *fp;
	int pid = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/left.pid", f->dir);
	snprintf(cmd, sizeof(cmd), "sh -c 'trap \"\" TERM; exec sleep 60' & echo $! > %s; "
		 "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; "
		 "m=$(awk '/^SigIgn/ { print $2 }' /proc/$$/status); [ $((0x$m & 0x1000)) -ne 0 ] || exit 9; "
		 "while :; do sleep 0.05; done", path);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 4, 3, 0).reports >= 1, 5);
	fake_task_stop(f, 4, 3);
	RUN_UNTIL(f, fake_exit(f, 4, 3, 0), 5);
	e = fake_exit(f, 4, 3, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);	/* not exit 9: PIPE ignored */
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	pid = atoi(line);
	assert_true(pid > 1);
	for (int i = 0; i < 200 && agent_pid_alive(pid, 0); i++)
		usleep(10000);
	if (agent_pid_alive(pid, 0))
		fail_msg("the child that ignores SIGTERM (pid %d) still runs: state %c", pid,
			 proc_state(pid));
	fake_free(f);
}

static void test_command_env_and_garbage(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], path[256], got[256] = "";
	struct start_args s = { .job = 4, .lease = 9, .world = 3, .rank = 2, .first = 7, .count = 4,
				.command = cmd };
	struct agent_stats st;
	const Hare__TaskExit *e;
	struct relayed r;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/env.txt", f->dir);
	snprintf(cmd, sizeof(cmd),
		 "echo \"$HARE_JOB_ID $HARE_LEASE_ID $HARE_RANK $HARE_WORLD_SIZE $HARE_MASTER_ADDR "
		 "$HARE_MASTER_PORT [$CUDA_VISIBLE_DEVICES] $HARE_REPORT_FD $HARE_ROUND_FIRST\" > %s; "
		 "printf 'round 7 2 1 1 2.5\\ngarbage here\\n' >&$HARE_REPORT_FD; sleep 0.1; "
		 "printf 'rou' >&$HARE_REPORT_FD; sleep 0.1; "
		 "printf 'nd 9 1 0.5 0.5 nan\\nround 10 1 0.5 0.5 2.25\\ndone 4\\n' >&$HARE_REPORT_FD",
		 path);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 4, 9, 2), 10);
	e = fake_exit(f, 4, 9, 2);
	r = fake_relayed(f, 4, 9, 2);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(e->rounds_done, 4);
	assert_int_equal(r.rounds, 4);
	assert_true(r.contiguous && r.next == 11);
	assert_true(r.loss == 2.25);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.bad_lines, 1);
	assert_int_equal(st.report_lines, 5);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(got, sizeof(got), fp));
	fclose(fp);
	assert_string_equal(got, "4 9 2 3 10.0.0.1 29500 [] 3 7\n");
	fake_free(f);
}

static void test_failures(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 5, .lease = 1, .command = "exit 3" };
	const Hare__TaskExit *e;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	s.lease = 2;
	s.command = "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; kill -SEGV $$";
	fake_task_start(f, &s);
	s.lease = 3;
	s.command = "true";
	fake_task_start(f, &s);
	s.lease = 4;
	s.gpu = 9;
	fake_task_start(f, &s);
	s.lease = 5;
	s.gpu = 0;
	s.command = NULL;	/* an emulated worker without round_s */
	fake_task_start(f, &s);
	s.lease = 6;		/* stopped on its own, cleanly (an orphan's stop) */
	s.command = "printf 'round 0 2 1 1 1\nstopped 2\n' >&$HARE_REPORT_FD";
	fake_task_start(f, &s);
	s.lease = 7;		/* a peer failed (REPORT_EXIT_PEER) */
	s.command = "exit 75";
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 5, 1, 0) && fake_exit(f, 5, 2, 0) && fake_exit(f, 5, 3, 0) &&
		  fake_exit(f, 5, 4, 0) && fake_exit(f, 5, 5, 0) && fake_exit(f, 5, 6, 0) &&
		  fake_exit(f, 5, 7, 0), 10);
	e = fake_exit(f, 5, 7, 0);
	assert_true(e->status == HARE__TASK_STATUS__TASK_FAILED && e->exit_code == REPORT_EXIT_PEER);
	assert_string_equal(e->message, "exited with code 75 (a peer rank or the network failed)");
	e = fake_exit(f, 5, 6, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(e->rounds_done, 2);
	e = fake_exit(f, 5, 1, 0);
	assert_true(e->status == HARE__TASK_STATUS__TASK_FAILED && e->exit_code == 3);
	assert_string_equal(e->message, "exited with code 3");
	e = fake_exit(f, 5, 2, 0);
	assert_true(e->status == HARE__TASK_STATUS__TASK_FAILED && e->exit_code == 128 + SIGSEGV);
	assert_int_equal(e->rounds_done, 1);
	assert_non_null(strstr(e->message, "terminated by signal 11"));
	e = fake_exit(f, 5, 3, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "exited with code 0 without a done line");
	e = fake_exit(f, 5, 4, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "GPU 9 is not on node test-node (1 GPUs)");
	e = fake_exit(f, 5, 5, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_non_null(strstr(e->message, "needs round_s"));
	fake_free(f);
}

static void fake_log_fetch(struct fake *f, uint64_t req, uint64_t job, uint32_t rank,
			   uint32_t max_bytes)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__LogFetch q = HARE__LOG_FETCH__INIT;

	q.request_id = req;
	q.job_id = job;
	q.rank = rank;
	q.max_bytes = max_bytes;
	m.msg_case = HARE__FROM_DAEMON__MSG_LOG_FETCH;
	m.log_fetch = &q;
	fake_send(f, &m);
}

static const Hare__LogData *fake_log_data(const struct fake *f, uint64_t req)
{
	for (size_t i = 0; i < f->nmsgs; i++) {
		if (f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_LOG_DATA &&
		    f->msgs[i]->log_data->request_id == req)
			return f->msgs[i]->log_data;
	}
	return NULL;
}

/* A worker's stdout and stderr go to its rank's file, between the agent's
 * lines on the lease; a failure quotes the last line; LogFetch sends the
 * file's end (none for a job without one); task_logs = none keeps no file
 * and tells the daemon so. */
static void test_task_output(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 6, .lease = 1, .count = 5,
				.command = "echo out1; printf 'err: bad\tthing\n\n' >&2; exit 4" };
	char path[300], text[2048], want[600];
	const Hare__TaskExit *e;
	const Hare__LogData *d;
	const char *p;

	(void)state;
	fake_agent_registered(f);
	assert_true(f->reg_logs);
	fake_task_start(f, &s);
	s.lease = 2;
	s.command = "echo second lease; exit 5";
	RUN_UNTIL(f, fake_exit(f, 6, 1, 0), 10);
	fake_task_start(f, &s);
	s.job = 7;
	s.lease = 3;
	s.gpu = 1;
	s.command = "echo x; sleep 30";
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 10);
	e = fake_exit(f, 6, 1, 0);
	assert_string_equal(e->message, "exited with code 4; last output: err: bad thing");
	e = fake_exit(f, 6, 2, 0);
	assert_string_equal(e->message, "exited with code 5; last output: second lease");
	snprintf(path, sizeof(path), "%s/work/logs/job-6.rank-0.log", f->dir);
	read_text(path, text, sizeof(text));
	p = strstr(text, ": job 6 lease 1 rank 0/1 on node test-node GPU 0 (V100), rounds 0..5\n"
		   "out1\nerr: bad\tthing\n\nhare-agent ");
	assert_non_null(p);
	p = strstr(p, ": job 6 lease 1 rank 0 failed: exited with code 4\nhare-agent ");
	assert_non_null(p);
	p = strstr(p, ": job 6 lease 2 rank 0/1 on node test-node GPU 0 (V100), rounds 0..5\n"
		   "second lease\nhare-agent ");
	assert_non_null(p);
	assert_non_null(strstr(p, ": job 6 lease 2 rank 0 failed: exited with code 5\n"));
	assert_int_equal(text[strlen(text) - 1], '\n');

	/* the end of the file, and of a file that does not exist */
	fake_log_fetch(f, 41, 6, 0, 20);
	fake_log_fetch(f, 42, 6, 0, 1000000);
	fake_log_fetch(f, 43, 6, 1, 100);
	RUN_UNTIL(f, fake_log_data(f, 41) && fake_log_data(f, 42) && fake_log_data(f, 43), 5);
	d = fake_log_data(f, 41);
	assert_non_null(d->part);
	assert_string_equal(d->part->node, "test-node");
	assert_string_equal(d->part->path, path);
	assert_int_equal(d->part->size, strlen(text));
	assert_int_equal(d->part->data.len, 20);
	assert_memory_equal(d->part->data.data, text + strlen(text) - 20, 20);
	assert_true(d->part->has_mtime && d->part->mtime > 1e9);
	d = fake_log_data(f, 42);
	assert_int_equal(d->part->data.len, strlen(text));
	assert_memory_equal(d->part->data.data, text, strlen(text));
	d = fake_log_data(f, 43);
	assert_null(d->part);
	assert_null(d->message);

	/* something else planted under a file's name: a FIFO is neither waited
	 * on nor written (the worker's output goes to the agent's stderr), a
	 * symlink is not followed; a C1 control in the quoted line is masked */
	snprintf(path, sizeof(path), "%s/work/logs/job-9.rank-0.log", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/work/logs/job-9.rank-1.log", f->dir);
	snprintf(want, sizeof(want), "%s/elsewhere", f->dir);
	assert_int_equal(symlink(want, path), 0);
	s.job = 9;
	s.lease = 5;
	s.command = "printf 'x\\302\\2332Jboom\\n'; exit 2";
	fake_task_start(f, &s);
	s.rank = 1;
	s.gpu = 1;
	s.world = 2;
	fake_task_start(f, &s);
	s.job = 10;
	s.rank = 0;
	s.world = 1;
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 9, 5, 0) && fake_exit(f, 9, 5, 1) && fake_exit(f, 10, 5, 0), 10);
	assert_string_equal(fake_exit(f, 9, 5, 0)->message, "exited with code 2");
	assert_string_equal(fake_exit(f, 9, 5, 1)->message, "exited with code 2");
	assert_string_equal(fake_exit(f, 10, 5, 0)->message, "exited with code 2; last output: x?2Jboom");
	assert_false(file_exists(want));
	fake_log_fetch(f, 44, 9, 0, 100);
	fake_log_fetch(f, 45, 9, 1, 100);
	RUN_UNTIL(f, fake_log_data(f, 44) && fake_log_data(f, 45), 5);
	assert_null(fake_log_data(f, 44)->part);
	assert_non_null(strstr(fake_log_data(f, 44)->message, "job-9.rank-0.log: not a regular file"));
	assert_non_null(strstr(fake_log_data(f, 45)->message, "job-9.rank-1.log: not a regular file"));
	s.gpu = 0;

	/* a stopped task's end line has the daemon's reason */
	RUN_UNTIL(f, (snprintf(path, sizeof(path), "%s/work/logs/job-7.rank-0.log", f->dir),
		      read_text(path, text, sizeof(text)), strstr(text, "\nx\n")), 5);
	fake_task_stop(f, 7, 3);
	RUN_UNTIL(f, fake_exit(f, 7, 3, 0), 10);
	read_text(path, text, sizeof(text));
	snprintf(want, sizeof(want), ": job 7 lease 3 rank 0 stopped (preempted): stopped by "
		 "signal %d (%s)\n", SIGTERM, strsignal(SIGTERM));
	assert_non_null(strstr(text, want));
	fake_free(f);

	/* none: output to the agent's stderr, no file, Register says so */
	f = fake_new(TEST_KEY, "V100:1");
	fake_set(f, "task_logs", "none");
	fake_agent_registered(f);
	assert_false(f->reg_logs);
	s.job = 8;
	s.lease = 4;
	s.gpu = 0;
	s.command = "echo to the agent; exit 6";
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 4, 0), 10);
	assert_string_equal(fake_exit(f, 8, 4, 0)->message, "exited with code 6");
	snprintf(path, sizeof(path), "%s/work/logs", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* An output file of age_days in the agent's log folder. */
static void old_file(const struct fake *f, const char *name, double age_days)
{
	char path[400];
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/work/logs/%s", f->dir, name);
	write_file(path, "x\n", 0640);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= (time_t)(age_days * 86400);
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool log_exists(const struct fake *f, const char *name)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/work/logs/%s", f->dir, name);
	return file_exists(path);
}

/* Output files unchanged for task_log_keep_days go, unless a worker of
 * their job is here; other files stay; 0 keeps everything. */
static void test_task_output_prune(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 21, .lease = 1, .count = 5, .command = "sleep 30" };
	static const char *const ckpts[] = { "30", "31", "21", "x1" };
	char path[400];

	(void)state;
	fake_set(f, "task_log_keep_days", "7");
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, log_exists(f, "job-21.rank-0.log"), 5);
	old_file(f, "job-20.rank-0.log", 8);
	old_file(f, "job-20.rank-3.log", 30);
	old_file(f, "job-21.rank-0.log", 8);	/* its worker runs */
	old_file(f, "job-22.rank-0.log", 6);
	old_file(f, "notes.txt", 100);
	old_file(f, "job-23.rank-0.log.1", 100);
	old_file(f, "job- 5.rank-0.log", 100);
	old_file(f, "job-+5.rank-0.log", 100);
	old_file(f, "job-05.rank-0.log", 100);
	/* checkpoint folders: an empty one of a job not here goes, one with
	 * files or of a job running here stays, other names stay */
	snprintf(path, sizeof(path), "%s/work/checkpoints", f->dir);
	mkdir(path, 0711);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/work/checkpoints/%s", f->dir, ckpts[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	snprintf(path, sizeof(path), "%s/work/checkpoints/31/ckpt-1", f->dir);
	write_file(path, "x", 0600);
	assert_int_equal(agent_log_prune(f->agent, time(NULL)), 2);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/work/checkpoints/%s", f->dir, ckpts[i]);
		assert_int_equal(file_exists(path), i != 0);
	}
	assert_false(log_exists(f, "job-20.rank-0.log") || log_exists(f, "job-20.rank-3.log"));
	assert_true(log_exists(f, "job-21.rank-0.log") && log_exists(f, "job-22.rank-0.log"));
	assert_true(log_exists(f, "notes.txt") && log_exists(f, "job-23.rank-0.log.1"));
	assert_true(log_exists(f, "job- 5.rank-0.log") && log_exists(f, "job-+5.rank-0.log") &&
		    log_exists(f, "job-05.rank-0.log"));
	assert_int_equal(agent_log_prune(f->agent, time(NULL) + 2 * 86400), 1);	/* job-22 */
	/* agent_log_prune_due: not again within AGENT_LOG_PRUNE_MS, then yes */
	old_file(f, "job-25.rank-0.log", 8);
	agent_log_prune_due(f->agent);
	assert_true(log_exists(f, "job-25.rank-0.log"));
	f->agent->pruned_ms = agent_now_ms(f->agent) - AGENT_LOG_PRUNE_MS - 1;
	agent_log_prune_due(f->agent);
	assert_false(log_exists(f, "job-25.rank-0.log"));
	old_file(f, "job-24.rank-0.log", 1000);
	f->agent->cfg.task_log_keep_days = 0;
	assert_int_equal(agent_log_prune(f->agent, time(NULL)), 0);
	assert_true(log_exists(f, "job-24.rank-0.log"));
	fake_task_stop(f, 21, 1);
	RUN_UNTIL(f, fake_exit(f, 21, 1, 0), 10);
	fake_free(f);
}

/* Lines from a file through cat, so the agent, not the writer, is measured. */
static void test_relay_throughput(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char path[256], cmd[320];
	struct start_args s = { .job = 8, .lease = 1, .command = cmd };
	const int lines = 300000;
	struct agent_stats st;
	const Hare__TaskExit *e;
	struct relayed r;
	double t0, dt;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/lines.txt", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < lines; i++)
		fprintf(fp, "round %d 1 0.25 0.05 %.4f\n", i, 2.5 - i / 1e6);
	fprintf(fp, "done %d\n", lines);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "exec cat %s >&$HARE_REPORT_FD", path);
	fake_agent_registered(f);
	t0 = now_s();
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 60);
	dt = now_s() - t0;
	e = fake_exit(f, 8, 1, 0);
	r = fake_relayed(f, 8, 1, 0);
	agent_stats_get(f->agent, &st);
	print_message("relay: %d report lines in %.3f s = %.0f lines/s, %d RoundReports\n", lines,
		      dt, lines / dt, r.reports);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(r.rounds, lines);
	assert_true(r.contiguous);
	assert_true(fabs(r.compute - 0.25 * lines) < 1e-3);
	assert_int_equal(st.bad_lines, 0);
	assert_true(r.reports <= 10 + (int)(dt / 0.05) * 2);
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_two_ranks),
		cmocka_unit_test(test_stop_and_kill),
		cmocka_unit_test(test_stop_after_exit),
		cmocka_unit_test(test_task_group_killed),
		cmocka_unit_test(test_command_env_and_garbage),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_task_output),
		cmocka_unit_test(test_task_output_prune),
		cmocka_unit_test(test_relay_throughput),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
