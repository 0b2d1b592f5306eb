/* SPDX-License-Identifier: MIT */
/* hare-worker's real mode run as a program with the CPU engine: a job
 * checkpointed, stopped and resumed (also from an older checkpoint, by
 * replaying rounds) reports the same losses as an uninterrupted run; SIGTERM
 * stops after a whole round with a checkpoint; rendezvous and engine errors
 * are clear. The CUDA engine runs the same loop (tests/gpu). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "workloads/checkpoint.h"
#include "workloads/report.h"
#include "spawn_stdout.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKER HARE_BINARY_DIR "/workloads/hare-worker"
#define TINY "--model lm --engine cpu --proxy batch=4,vocab=16,seq=5,hidden=8,classes=16 " \
	     "--seed 11 --report-ms 0 --job 5 --lease 1 --world-size 1 --rank 0"
/* TINY as argv words, without --lease (for spawn_stdout) */
#define TINY_ARGV "--model", "lm", "--engine", "cpu", "--proxy", \
	"batch=4,vocab=16,seq=5,hidden=8,classes=16", "--seed", "11", "--report-ms", "0", "--job", \
	"5", "--world-size", "1", "--rank", "0"
#define MAXR 64

struct run {
	char loss[MAXR][32];	/* formatted as written, per absolute round */
	int first, rounds;
	struct report_line end;
	int status;
	char err[4096];
};

/* A fresh directory under $TMPDIR (or /tmp) into buf. */
static void temp_dir(char *buf, size_t len, const char *what)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, len, "%s/hare-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", what);
	assert_non_null(mkdtemp(buf));
}

/* Run the worker with args; collect its round lines and stderr. */
static void run_worker(const char *args, struct run *r)
{
	char cmd[2048], line[REPORT_LINE_MAX + 2], err[160], errpath[] = "/tmp/hare-wr-XXXXXX";
	int fd = mkstemp(errpath);
	FILE *p;

	memset(r, 0, sizeof(*r));
	r->first = -1;
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s %s 2>%s", WORKER, args, errpath);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		struct report_line l;

		if (report_line_parse(line, strlen(line), &l, err, sizeof(err)) < 0)
			fail_msg("bad line '%s': %s", line, err);
		if (l.kind != REPORT_ROUND) {
			r->end = l;
			continue;
		}
		assert_int_equal(l.count, 1);
		assert_true(l.first < MAXR);
		if (r->first < 0)
			r->first = (int)l.first;
		sscanf(strrchr(line, ' ') + 1, "%31s", r->loss[l.first]);
		r->rounds++;
	}
	r->status = pclose(p);
	p = fopen(errpath, "r");
	r->err[fread(r->err, 1, sizeof(r->err) - 1, p)] = '\0';
	fclose(p);
	unlink(errpath);
}

static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void assert_same_losses(const struct run *a, const struct run *b, int from, int to)
{
	for (int i = from; i < to; i++)
		if (strcmp(a->loss[i], b->loss[i]) != 0)
			fail_msg("round %d: loss %s uninterrupted, %s resumed", i, a->loss[i], b->loss[i]);
}

static void test_resume_same_trajectory(void **state)
{
	char dir[512], args[1024], path[600];
	struct run full, part, resumed;

	(void)state;
	temp_dir(dir, sizeof(dir), "ckdir");
	run_worker(TINY " --round-count 40", &full);
	assert_int_equal(full.status, 0);
	assert_int_equal(full.rounds, 40);
	assert_true(full.end.kind == REPORT_DONE && full.end.rounds == 40);
	assert_true(strtod(full.loss[39], NULL) < strtod(full.loss[0], NULL));
	/* a progress line per round when asked that often, with the loss reported */
	run_worker(TINY " --round-count 5 --progress-s 1e-9", &part);
	assert_int_equal(part.status, 0);
	for (int i = 0; i < 5; i++) {
		char want[160];

		snprintf(want, sizeof(want), ": round %d of 5, loss %.4g; 1 rounds in ", i + 1,
			 strtod(full.loss[i], NULL));
		if (!strstr(part.err, want))
			fail_msg("'%s' not in the worker's stderr:\n%s", want, part.err);
	}

	/* 25 rounds, a checkpoint every 10 and at the end; the newest 2 kept */
	snprintf(args, sizeof(args), TINY " --round-count 25 --checkpoint-dir %s --checkpoint-every 10", dir);
	run_worker(args, &part);
	assert_int_equal(part.status, 0);
	assert_same_losses(&full, &part, 0, 25);
	assert_int_equal(files_in(dir), 2);
	snprintf(path, sizeof(path), "%s/round-00000000000000000025.hckpt", dir);
	assert_int_equal(access(path, R_OK), 0);

	/* the daemon's progress is behind the newest checkpoint: round 22 uses
	 * round 20's and replays 20 and 21 without reporting them */
	snprintf(args, sizeof(args), TINY " --round-first 22 --round-count 5 --checkpoint-dir %s "
		 "--checkpoint-s 0", dir);
	run_worker(args, &resumed);
	assert_int_equal(resumed.first, 22);
	assert_int_equal(resumed.rounds, 5);
	assert_same_losses(&full, &resumed, 22, 27);
	assert_non_null(strstr(resumed.err, "replaying up to round_first"));

	/* resume at the next round (25; the 27 just written is newer) */
	snprintf(args, sizeof(args), TINY " --round-first 25 --round-count 15 --checkpoint-dir %s", dir);
	run_worker(args, &resumed);
	assert_int_equal(resumed.status, 0);
	assert_int_equal(resumed.first, 25);
	assert_int_equal(resumed.rounds, 15);
	assert_same_losses(&full, &resumed, 25, 40);
	assert_non_null(strstr(resumed.err, "restored"));

	/* a corrupt newest file is skipped for the one before */
	snprintf(path, sizeof(path), "%s/round-00000000000000000040.hckpt", dir);
	assert_int_equal(access(path, R_OK), 0);	/* the end of the resumed run */
	assert_int_equal(truncate(path, 300), 0);
	snprintf(args, sizeof(args), TINY " --round-first 40 --round-count 0 --checkpoint-dir %s", dir);
	run_worker(args, &resumed);
	assert_int_equal(resumed.status, 0);
	assert_non_null(strstr(resumed.err, "skipping checkpoint"));
	assert_non_null(strstr(resumed.err, "truncated"));
	assert_non_null(strstr(resumed.err, "replaying"));
	rm_dir(dir);
}

static void test_sigterm_checkpoint(void **state)
{
	char dir[512], args[1024], line[REPORT_LINE_MAX + 2], err[160];
	struct report_line l = { 0 };
	struct run full, resumed;
	uint64_t stopped_at = 0;
	int st, rounds = 0;
	pid_t pid;
	FILE *f;

	(void)state;
	temp_dir(dir, sizeof(dir), "ckdir");
	f = spawn_stdout((const char *const[]){ WORKER, TINY_ARGV, "--lease", "2", "--round-count",
						"100000000", "--checkpoint-dir", dir, NULL }, &pid);
	assert_non_null(f);
	while (rounds < 5 && fgets(line, sizeof(line), f))
		rounds++;
	kill(pid, SIGTERM);
	while (fgets(line, sizeof(line), f)) {
		assert_int_equal(report_line_parse(line, strlen(line), &l, err, sizeof(err)), 0);
		if (l.kind == REPORT_ROUND)
			rounds++;
		else
			stopped_at = l.rounds;
	}
	fclose(f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(l.kind, REPORT_STOPPED);
	assert_int_equal(stopped_at, (uint64_t)rounds);
	assert_true(stopped_at >= 5 && stopped_at < MAXR - 8);
	/* the checkpoint is at the stop; resuming there continues the trajectory */
	run_worker(TINY " --round-count 60", &full);
	snprintf(args, sizeof(args), TINY " --round-first %llu --round-count 5 --checkpoint-dir %s",
		 (unsigned long long)stopped_at, dir);
	run_worker(args, &resumed);
	assert_int_equal(resumed.rounds, 5);
	assert_null(strstr(resumed.err, "replaying"));
	assert_same_losses(&full, &resumed, (int)stopped_at, (int)stopped_at + 5);
	rm_dir(dir);
}

/* SIGTERM while rank 1 waits for rank 0's rendezvous is a stop like any
 * other: "stopped 0", exit 0 (it was exit 1 without a word). */
static void test_sigterm_in_rendezvous(void **state)
{
	char dir[512], path[600], line[REPORT_LINE_MAX + 2], err[160];
	struct report_line l = { 0 };
	int st;
	pid_t pid;
	FILE *f;

	(void)state;
	temp_dir(dir, sizeof(dir), "rdvstop");
	snprintf(path, sizeof(path), "%s/id", dir);
	f = spawn_stdout((const char *const[]){ WORKER, "--model", "lm", "--engine", "cpu", "--job", "1",
						"--lease", "1", "--rank", "1", "--world-size", "2",
						"--round-count", "3", "--nccl-id-file", path,
						"--rendezvous-timeout-s", "20", NULL }, &pid);
	assert_non_null(f);
	usleep(1000000);	/* waiting for the id file by now */
	kill(pid, SIGTERM);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(report_line_parse(line, strlen(line), &l, err, sizeof(err)), 0);
	assert_int_equal(l.kind, REPORT_STOPPED);
	assert_int_equal(l.rounds, 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	rmdir(dir);
}

/* Orphaned (nobody reads its reports: its agent is gone for good), a real
 * worker stops after --orphan-timeout-s with a checkpoint at the stop, from
 * which the job resumes on its trajectory. */
static void test_orphan_stop(void **state)
{
	char dir[512], line[REPORT_LINE_MAX + 2], path[600];
	uint64_t round = 0;
	int st;
	FILE *f;
	pid_t pid;

	(void)state;
	temp_dir(dir, sizeof(dir), "orphan");
	f = spawn_stdout((const char *const[]){ WORKER, TINY_ARGV, "--lease", "3", "--round-count",
						"100000000", "--checkpoint-dir", dir, "--orphan-timeout-s",
						"0.3", "--report-wait-s", "0.2", NULL }, &pid);
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	for (int i = 0; i < 1000 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(10000);
	if (kill(pid, 0) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("an orphaned real worker still ran 10 s after its reader went");
	}
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* it left a checkpoint where it stopped */
	{
		char err[256];

		assert_int_equal(ckpt_find(dir, UINT64_MAX, path, sizeof(path), &round, err,
					   sizeof(err)), 0);
		assert_true(round >= 1);
	}
	rm_dir(dir);
}

/* Under an agent (HARE_JOB_ID) with no directory: checkpoints/JOB in the
 * working directory, removed when the job's last round is done. */
static void test_default_dir(void **state)
{
	char dir[512], cwd[512], args[512], sub[600];
	struct run r;

	(void)state;
	temp_dir(dir, sizeof(dir), "wd");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	setenv("HARE_JOB_ID", "5", 1);
	snprintf(args, sizeof(args), TINY " --round-count 6 --checkpoint-every 2");
	run_worker(args, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.rounds, 6);
	snprintf(sub, sizeof(sub), "%s/checkpoints/5", dir);
	assert_int_not_equal(access(sub, F_OK), 0);	/* the job ended: emptied and removed */
	unsetenv("HARE_JOB_ID");
	assert_int_equal(chdir(cwd), 0);
	snprintf(sub, sizeof(sub), "%s/checkpoints", dir);
	rmdir(sub);
	rmdir(dir);
}

static void test_errors(void **state)
{
	char dir[512], args[1024], path[600];
	struct run r;
	FILE *f;

	(void)state;
	/* no CUDA engine library: a clear message, exit 1 */
	run_worker("--model lm --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 "
		   "--lib /nonexistent/libhare_worker_cuda.so", &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
	assert_non_null(strstr(r.err, "no CUDA driver/GPU: run with --emulate"));
	/* a second rank without a rendezvous file */
	run_worker("--model lm --engine cpu --job 1 --lease 1 --rank 1 --world-size 2 --round-count 1", &r);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "rank 1 of 2 needs --nccl-id-file"));
	/* ... waiting in vain, and a stale file of another lease */
	temp_dir(dir, sizeof(dir), "rdv");
	snprintf(path, sizeof(path), "%s/id", dir);
	snprintf(args, sizeof(args), "--model lm --engine cpu --job 1 --lease 1 --rank 1 --world-size 2 "
		 "--round-count 1 --nccl-id-file %s --rendezvous-timeout-s 0.3", path);
	run_worker(args, &r);
	/* rank 0 (or its node) failed, not this one: hared charges no node */
	assert_int_equal(WEXITSTATUS(r.status), REPORT_EXIT_PEER);
	assert_int_equal(REPORT_EXIT_PEER, 75);
	assert_non_null(strstr(r.err, "no rendezvous from rank 0 within"));
	assert_non_null(strstr(r.err, "(a peer rank or the network failed)"));
	f = fopen(path, "w");
	/* job 1, lease 9: not ours */
	fputs("rendezvous AQAAAAAAAAAJAAAAAAAAAA==\n", f);
	fclose(f);
	run_worker(args, &r);
	assert_int_equal(WEXITSTATUS(r.status), REPORT_EXIT_PEER);
	assert_non_null(strstr(r.err, "another job's or lease's rendezvous"));
	unlink(path);
	rmdir(dir);
	/* the cpu engine runs one rank; rank 0 still announces an id first */
	run_worker("--model lm --engine cpu --job 1 --lease 1 --rank 0 --world-size 2 --round-count 1", &r);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "the cpu engine runs a single rank, not 2"));
	assert_int_equal(r.end.kind, REPORT_RENDEZVOUS);
	assert_int_equal(r.end.rdv_len, 16 + 128);
	assert_true(r.end.rdv[0] == 1 && r.end.rdv[8] == 1);	/* job 1, lease 1 */
	/* ... and writes it to its id file, where rank 1 takes it (and then
	 * fails to open the engine, not to meet rank 0) */
	temp_dir(dir, sizeof(dir), "rdv");
	snprintf(path, sizeof(path), "%s/id", dir);
	snprintf(args, sizeof(args), "--model lm --engine cpu --job 1 --lease 1 --rank 0 "
		 "--world-size 2 --round-count 1 --nccl-id-file %s", path);
	run_worker(args, &r);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	snprintf(args, sizeof(args), "--model lm --engine cpu --job 1 --lease 1 --rank 1 "
		 "--world-size 2 --round-count 1 --nccl-id-file %s --rendezvous-timeout-s 5", path);
	run_worker(args, &r);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "the cpu engine runs a single rank, not 2"));
	unlink(path);
	rmdir(dir);
}

/* --profile prints rows the profile loader accepts: checked by appending
 * them to a copy of the shipped table (tests/unit/test_profile.c covers the
 * loader; here only the 16 rows' shape). */
static void test_profile_rows(void **state)
{
	char cmd[1024], line[512];
	int rows = 0, comments = 0;
	FILE *p;

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s --profile --model ncf --engine cpu --gpu-type H100 "
		 "--proxy rows=100,dim=8 --profile-iters 3 2>/dev/null", WORKER);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char model[32], type[16], placement[16], source[64];
		unsigned workers;
		double compute, sync;

		if (line[0] == '#') {
			comments++;
			continue;
		}
		assert_int_equal(sscanf(line, "%31[^,],%15[^,],%u,%15[^,],%lf,%lf,%63s", model, type,
					&workers, placement, &compute, &sync, source), 7);
		assert_string_equal(model, "ncf");
		assert_string_equal(type, "H100");
		assert_int_equal(workers, 1u << (rows / 2));
		assert_string_equal(placement, rows % 2 ? "spread" : "consolidated");
		assert_true(compute > 0);
		assert_true(workers == 1 ? sync == 0 : sync > 0);
		assert_non_null(strchr(source, '/'));
		rows++;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(rows, 16);
	assert_true(comments >= 5);	/* the header and one per batch size */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_same_trajectory),
		cmocka_unit_test(test_sigterm_checkpoint),
		cmocka_unit_test(test_sigterm_in_rendezvous),
		cmocka_unit_test(test_orphan_stop),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_profile_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
