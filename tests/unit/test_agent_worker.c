/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-worker --emulate on its own (flags, rounds and noise,
 * progress lines, SIGTERM, an orphaned worker, --parent-pid), and the worker
 * settings hare-agent passes it. */
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_fake.h"
#include "log.h"
#include "spawn_stdout.h"
#include "workloads/report.h"

/* ---- hare-worker on its own ---- */

struct worker_out {
	int rounds_lines;
	uint64_t rounds, next;
	double compute, sync, times[64];
	bool contiguous;
	struct report_line end;
	bool has_end;
};

static int run_worker(const char *args, struct worker_out *o, double *wall)
{
	char cmd[1024], line[REPORT_LINE_MAX + 2], err[160];
	struct report_line l;
	double t0 = now_s();
	FILE *p;

	memset(o, 0, sizeof(*o));
	o->contiguous = true;
	snprintf(cmd, sizeof(cmd), "%s %s", WORKER_BIN, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (report_line_parse(line, strlen(line), &l, err, sizeof(err)) < 0)
			fail_msg("worker wrote a bad line '%s': %s", line, err);
		if (l.kind != REPORT_ROUND) {
			o->end = l;
			o->has_end = true;
			continue;
		}
		o->contiguous &= o->rounds_lines == 0 || l.first == o->next;
		if (o->rounds_lines < 64)
			o->times[o->rounds_lines] = l.compute_s + l.sync_s;
		o->rounds_lines++;
		o->next = l.first + l.count;
		o->rounds += l.count;
		o->compute += l.compute_s;
		o->sync += l.sync_s;
	}
	if (wall)
		*wall = now_s() - t0;
	return pclose(p);
}

static void test_worker_flags(void **state)
{
	static const char *const bad[] = {
		"--emulate --bogus", "--emulate --job 1", "--emulate --job 1 --lease 1 --rank 2 --world-size 2 --round-count 1 --round-s 1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1",
		"--emulate --job x --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s -1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 --tasks 3 --job-tasks 2",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 --time-scale 0",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 --report-fd 99",
		"--job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 extra",
	};
	char cmd[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st;

		snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", WORKER_BIN, bad[i]);
		st = system(cmd);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
			fail_msg("'%s' exited %d, want 2", bad[i], WEXITSTATUS(st));
	}
	snprintf(cmd, sizeof(cmd), "%s --help >/dev/null", WORKER_BIN);
	assert_int_equal(system(cmd), 0);
}

static void test_worker_emulate(void **state)
{
	struct worker_out r0, r1, other;
	double wall;
	const char *common = "--emulate --job 3 --lease 4 --world-size 2 --round-first 100 "
			     "--round-count 50 --round-s 2 --compute-s 0.5 --tasks 2 --job-tasks 3 "
			     "--noise-cv 0.2 --report-ms 0 --restart-s 1000 --time-scale 10000";
	char args[512];

	(void)state;
	snprintf(args, sizeof(args), "%s --rank 0 --seed 9", common);
	assert_int_equal(run_worker(args, &r0, &wall), 0);
	/* one line per round (report-ms 0), contiguous from round_first, then done */
	assert_int_equal(r0.rounds_lines, 50);
	assert_int_equal(r0.rounds, 50);
	assert_true(r0.contiguous && r0.next == 150);
	assert_true(r0.has_end && r0.end.kind == REPORT_DONE && r0.end.rounds == 50);
	/* compute share = tasks * compute_s / round_s, noise scales both */
	assert_true(fabs(r0.compute / (r0.compute + r0.sync) - 0.5) < 1e-6);
	for (int i = 0; i < 50; i++)
		assert_true(r0.times[i] >= 1.0 - 1e-6 && r0.times[i] <= 6.0 + 1e-6);
	/* restart 1000 s / 10000 = 0.1 s, rounds 50 * ~0.2 ms */
	assert_true(wall >= 0.1 && wall < 2.0);
	/* the other rank of the lease draws the same noise; another seed not */
	snprintf(args, sizeof(args), "%s --rank 1 --seed 9", common);
	assert_int_equal(run_worker(args, &r1, NULL), 0);
	assert_memory_equal(r0.times, r1.times, sizeof(r0.times));
	snprintf(args, sizeof(args), "%s --rank 0 --seed 10", common);
	assert_int_equal(run_worker(args, &other, NULL), 0);
	assert_true(memcmp(r0.times, other.times, sizeof(r0.times)) != 0);
	/* fast rounds are batched: 20000 rounds of 5 us in a few lines */
	assert_int_equal(run_worker("--emulate --job 1 --lease 1 --rank 0 --world-size 1 "
				    "--round-count 20000 --round-s 1 --time-scale 200000", &r0, &wall), 0);
	assert_int_equal(r0.rounds, 20000);
	assert_true(r0.contiguous);
	assert_true(r0.rounds_lines >= 1 && r0.rounds_lines <= 3 + (int)(wall * 10));
	print_message("worker: 20000 rounds of 5 us in %.3f s, %d lines\n", wall, r0.rounds_lines);
}

/* --progress-s: a line on stderr every so often with the round reached, the
 * loss and the mean round time; none with 0. */
static void test_worker_progress(void **state)
{
	char cmd[1024], text[8192];
	char path[256];
	const char *p;
	int lines = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/hare-progress-%d.txt", P_tmpdir, (int)getpid());
	/* 40 rounds of 10 ms (emulated 2 s at time scale 200), a line each 0.1 s */
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 7 --lease 2 --rank 0 --world-size 1 "
		 "--round-first 10 --round-count 40 --round-s 2 --compute-s 1.5 --time-scale 200 "
		 "--progress-s 0.1 --report-fd 1 >/dev/null 2>%s", WORKER_BIN, path);
	assert_int_equal(system(cmd), 0);
	read_text(path, text, sizeof(text));
	for (p = text; (p = strstr(p, "worker job=7 lease=2 rank=0: round ")); p++) {
		unsigned long long round, end, n;
		double loss, secs, per, compute, sync;

		if (sscanf(p, "worker job=7 lease=2 rank=0: round %llu of %llu, loss %lf; %llu rounds in "
			   "%lf s, %lf s a round (compute %lf s, sync %lf s)", &round, &end, &loss, &n,
			   &secs, &per, &compute, &sync) != 8)
			fail_msg("bad progress line: %.200s", p);
		assert_true(round > 10 && round <= 50 && end == 50);
		assert_true(loss > 0 && n >= 1 && secs >= 0.1);
		assert_true(fabs(per - 2) < 1e-9 && fabs(compute - 1.5) < 1e-9 && fabs(sync - 0.5) < 1e-9);
		lines++;
	}
	/* about 0.4 s of rounds: 2 to 4 lines */
	if (lines < 2 || lines > 4)
		fail_msg("%d progress lines:\n%s", lines, text);
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 7 --lease 2 --rank 0 --world-size 1 "
		 "--round-count 20 --round-s 2 --time-scale 200 --progress-s 0 --report-fd 1 "
		 ">/dev/null 2>%s", WORKER_BIN, path);
	assert_int_equal(system(cmd), 0);
	read_text(path, text, sizeof(text));
	assert_null(strstr(text, ": round "));
	unlink(path);
}

static void test_worker_sigterm(void **state)
{
	static const char *const argv[] = {
		WORKER_BIN, "--emulate", "--job", "1", "--lease", "1", "--rank", "0", "--world-size",
		"1", "--round-count", "1000000", "--round-s", "0.02", "--report-ms", "0", NULL
	};
	char line[REPORT_LINE_MAX + 2], err[160];
	struct report_line l;
	uint64_t rounds = 0;
	int st;
	FILE *f;
	pid_t pid;

	(void)state;
	f = spawn_stdout(argv, &pid);
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	kill(pid, SIGTERM);
	do {
		assert_int_equal(report_line_parse(line, strlen(line), &l, err, sizeof(err)), 0);
		if (l.kind == REPORT_ROUND)
			rounds += l.count;
	} while (fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(l.kind, REPORT_STOPPED);
	assert_int_equal(l.rounds, rounds);
	assert_true(rounds >= 1 && rounds < 20);
}

/* Whether child pid ends within secs (its wait status in *st); one that
 * does not is SIGKILLed and reaped. */
static bool child_ends(pid_t pid, double secs, int *st)
{
	for (int i = 0; i < (int)(secs * 100); i++) {
		if (waitpid(pid, st, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, st, 0);
	return false;
}

/* A worker whose reports nobody reads any more (its agent is gone, and no
 * new one adopted it) stops after --orphan-timeout-s; one whose reader
 * comes back in time goes on, though it batches rounds for longer. */
static void test_worker_orphan(void **state)
{
	static const char *const argv[] = {
		WORKER_BIN, "--emulate", "--job", "1", "--lease", "1", "--rank", "0", "--world-size",
		"1", "--round-count", "1000000", "--round-s", "0.02", "--report-ms", "0",
		"--orphan-timeout-s", "0.5", "--report-wait-s", "0.2", NULL
	};
	char line[REPORT_LINE_MAX + 2];
	int st;
	double t0;
	FILE *f;
	pid_t pid;

	(void)state;
	f = spawn_stdout(argv, &pid);
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));	/* it runs and reports */
	fclose(f);					/* its agent is gone */
	t0 = now_s();
	if (!child_ends(pid, 5.0, &st))
		fail_msg("an orphaned worker still ran 5 s after its reader went");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(now_s() - t0 >= 0.4);
	print_message("orphaned worker stopped %.2f s after its reader went\n", now_s() - t0);

	/* a new reader (an agent that adopts it) within the timeout, even with
	 * rounds batched for longer than it: it goes on, and reports to it */
	{
		char fifo[600], dir[512];
		int rfd, wfd;

		temp_dir(dir, sizeof(dir), "orphan");
		snprintf(fifo, sizeof(fifo), "%s/report.fifo", dir);
		assert_int_equal(mkfifo(fifo, 0600), 0);
		rfd = open(fifo, O_RDONLY | O_NONBLOCK);
		wfd = open(fifo, O_WRONLY | O_NONBLOCK);
		assert_true(rfd >= 0 && wfd >= 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(wfd, 1);
			close(rfd);
			close(wfd);
			execl(WORKER_BIN, WORKER_BIN, "--emulate", "--job", "1", "--lease", "1",
			      "--rank", "0", "--world-size", "1", "--round-count", "1000000",
			      "--round-s", "0.02", "--report-ms", "2000", "--orphan-timeout-s", "1",
			      (char *)NULL);
			_exit(127);
		}
		close(wfd);
		close(rfd);			/* the agent goes: the flush at 2 s fails */
		usleep(2400000);
		rfd = open(fifo, O_RDONLY | O_NONBLOCK);	/* a new one adopts it */
		assert_true(rfd >= 0);
		usleep(1100000);		/* past the timeout, before the next batch */
		assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
		assert_true(read(rfd, line, sizeof(line)) > 0);	/* its reports come */
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(rfd);
		unlink(fifo);
		rmdir(dir);
	}
}

/* The scene of test_worker_parent_pid, in a child of the test (a subreaper
 * there, so that the orphaned worker is its child to wait for): a middle
 * process starts a long worker with --parent-pid, waits for its first
 * report line, and dies by SIGKILL. Returns 0, or which step failed. */
static int parent_pid_scene(void)
{
	int out[2], ids[2], st;
	pid_t mid, w = 0;
	char line[256];

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || pipe(out) < 0 || pipe(ids) < 0)
		return 10;
	mid = fork();
	if (mid < 0)
		return 11;
	if (mid == 0) {
		pid_t c = fork();
		FILE *f;

		if (c == 0) {
			char pp[16];

			snprintf(pp, sizeof(pp), "%d", (int)getppid());
			dup2(out[1], 1);
			execl(WORKER_BIN, WORKER_BIN, "--emulate", "--job", "1", "--lease", "1",
			      "--rank", "0", "--world-size", "1", "--round-count", "1000000",
			      "--round-s", "0.02", "--report-ms", "0", "--parent-pid", pp, (char *)NULL);
			_exit(127);
		}
		close(out[1]);
		f = fdopen(out[0], "r");
		if (c < 0 || !f || !fgets(line, sizeof(line), f))
			_exit(12);
		if (write(ids[1], &c, sizeof(c)) != sizeof(c))
			_exit(13);
		raise(SIGKILL);
	}
	close(out[0]);
	close(out[1]);
	if (waitpid(mid, &st, 0) != mid || !WIFSIGNALED(st) || read(ids[0], &w, sizeof(w)) != sizeof(w))
		return 14;
	/* the worker is gone within 5 s, by the kernel's SIGKILL */
	if (!child_ends(w, 5.0, &st))
		return 16;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 15;
}

/* --parent-pid: a worker ends with the process that started it, even when
 * that one is SIGKILLed; a pid that is not its parent is refused. */
static void test_worker_parent_pid(void **state)
{
	char cmd[1024];
	pid_t h;
	int st;

	(void)state;
	h = fork();
	assert_true(h >= 0);
	if (h == 0)
		_exit(parent_pid_scene());
	assert_int_equal(waitpid(h, &st, 0), h);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("parent-pid scene failed at step %d (16: the worker outlived its parent)",
			 WEXITSTATUS(st));
	/* a parent that has ended, also one not reaped yet: the worker ends at
	 * once */
	h = fork();
	assert_true(h >= 0);
	if (h == 0)
		_exit(0);
	{
		siginfo_t si;

		/* a zombie now, until reaped */
		assert_int_equal(waitid(P_PID, (id_t)h, &si, WEXITED | WNOWAIT), 0);
	}
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 1 --lease 1 --rank 0 --world-size 1 "
		 "--round-count 1 --round-s 0.001 --parent-pid %d 2>&1 | grep -q 'process %d has "
		 "ended'", WORKER_BIN, (int)h, (int)h);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(waitpid(h, &st, 0), h);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 1 --lease 1 --rank 0 --world-size 1 "
		 "--round-count 1 --round-s 0.001 --parent-pid %d >/dev/null 2>&1", WORKER_BIN, (int)h);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	/* alive but not its parent (a wrapper in between): it runs, and says so
	 * (grep -q leaves at the line: the worker's last report finds no
	 * reader, and is not waited for) */
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 1 --lease 1 --rank 0 --world-size 1 "
		 "--round-count 1 --round-s 0.001 --report-wait-s 0 --parent-pid %d 2>&1 | grep -q 'is not this "
		 "worker.s parent (a wrapper that does not exec?); this worker ends with its "
		 "parent'", WORKER_BIN, (int)getpid());
	assert_int_equal(system(cmd), 0);
}

/* ---- what hare-agent passes it ---- */

/* worker_orphan_timeout_s and worker_progress_s reach hare-worker. */
static void test_worker_settings(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 30, .lease = 1, .count = 2, .round_s = 0.001 };
	char wrap[300], text[600], got[2048];

	(void)state;
	snprintf(wrap, sizeof(wrap), "%s/worker.sh", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$*\" >> %s/argv.txt\nexec %s \"$@\"\n",
		 f->dir, WORKER_BIN);
	write_file(wrap, text, 0755);
	fake_set(f, "worker", wrap);
	fake_set(f, "worker_orphan_timeout_s", "77");
	fake_set(f, "worker_progress_s", "0");
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 30, 1, 0), 10);
	assert_int_equal(fake_exit(f, 30, 1, 0)->status, HARE__TASK_STATUS__TASK_OK);
	snprintf(text, sizeof(text), "%s/argv.txt", f->dir);
	read_text(text, got, sizeof(got));
	assert_non_null(strstr(got, " --orphan-timeout-s=77 --progress-s=0"));
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_flags),
		cmocka_unit_test(test_worker_emulate),
		cmocka_unit_test(test_worker_progress),
		cmocka_unit_test(test_worker_sigterm),
		cmocka_unit_test(test_worker_parent_pid),
		cmocka_unit_test(test_worker_orphan),
		cmocka_unit_test(test_worker_settings),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
