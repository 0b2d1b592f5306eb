/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-worker's flags (emulated, real and --profile, with the
 * environment fallbacks), the rendezvous line and file, and the real mode's
 * report writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "workloads/rendezvous.h"
#include "workloads/report.h"
#include "workloads/worker.h"
#include "workloads/worker_engine.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parse a space-separated command line (no quoting). */
static int parse(const char *line, struct worker_opts *o, char *err, size_t errlen)
{
	char buf[1024], *argv[64], *save = NULL;
	int argc = 0;

	snprintf(buf, sizeof(buf), "hare-worker %s", line);
	for (char *t = strtok_r(buf, " ", &save); t && argc < 63; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	return worker_opts_parse(argc, argv, o, err, errlen);
}

#define BASE "--job 7 --lease 3 --rank 0 --world-size 2 --round-count 10 "

static void clear_env(void)
{
	unsetenv("HARE_CHECKPOINT_DIR");
	unsetenv("HARE_NCCL_ID_FILE");
	unsetenv("HARE_JOB_ID");
	unsetenv("HARE_WORKER_CUDA_LIB");
}

static void test_emulated_unchanged(void **state)
{
	struct worker_opts o;
	char err[256];

	(void)state;
	clear_env();
	assert_int_equal(parse(BASE "--emulate --round-s 2 --tasks 2 --job-tasks 3", &o, err,
			       sizeof(err)), 0);
	assert_true(o.emulate);
	assert_int_equal(o.tasks, 2);
	assert_int_equal(o.job_tasks, 3);
	assert_true(o.round_s == 2);
	/* an emulated worker needs no model and gets no checkpoint directory */
	setenv("HARE_JOB_ID", "7", 1);
	assert_int_equal(parse(BASE "--emulate --round-s 2", &o, err, sizeof(err)), 0);
	assert_string_equal(o.checkpoint_dir, "");
	clear_env();
	assert_int_equal(parse(BASE "--emulate", &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--round-s must be given"));
}

static void test_real_flags(void **state)
{
	struct worker_opts o;
	char err[256];

	(void)state;
	clear_env();
	assert_int_equal(parse(BASE "--model resnet18", &o, err, sizeof(err)), 0);
	assert_false(o.emulate);
	assert_string_equal(o.engine, "cuda");
	assert_true(o.checkpoint_s == 300);
	assert_int_equal(o.checkpoint_keep, 2);
	assert_string_equal(o.checkpoint_dir, "");
	assert_int_equal(parse(BASE "--model lm --engine cpu --proxy hidden=8,layers=1 --device 3 "
			       "--checkpoint-dir /ck --checkpoint-every 50 --checkpoint-s 0 "
			       "--checkpoint-keep 4 --nccl-id-file /ids/x --rendezvous-timeout-s 5",
			       &o, err, sizeof(err)), 0);
	assert_string_equal(o.engine, "cpu");
	assert_string_equal(o.proxy, "hidden=8,layers=1");
	assert_int_equal(o.device, 3);
	assert_string_equal(o.checkpoint_dir, "/ck");
	assert_int_equal(o.checkpoint_every, 50);
	assert_true(o.checkpoint_s == 0);
	assert_int_equal(o.checkpoint_keep, 4);
	assert_string_equal(o.nccl_id_file, "/ids/x");

	static const struct { const char *args, *want; } bad[] = {
		{ BASE, "--model is required without --emulate" },
		{ BASE "--model alexnet", "--model: unknown model 'alexnet'" },
		{ BASE "--model lm --proxy width=3", "--proxy: unknown key 'width' for a lstm model" },
		{ BASE "--model bert --proxy heads=5", "--proxy: dim 768 must be a multiple of heads 5" },
		{ BASE "--model lm --engine tpu", "--engine: expected cuda or cpu" },
		{ BASE "--model lm --checkpoint-keep 0", "--checkpoint-keep: expected a whole number" },
		{ "--profile --emulate --model lm", "cannot go with --emulate" },
		{ "--profile", "--model is required" },
		{ "--profile --model lm --profile-batches 8,,16", "--profile-batches: expected whole numbers" },
		{ "--profile --model lm --profile-workers 0", "--profile-workers: expected whole numbers" },
		{ "--profile --model lm --parent-pid 1", "--parent-pid: expected a whole number between 2 and" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].args, &o, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("'%s': got '%s', want '%s'", bad[i].args, err, bad[i].want);
	}
	/* --profile needs no job flags */
	assert_int_equal(parse("--profile --model resnet50 --gpu-type H100 --profile-batches 16,32 "
			       "--profile-workers 1,2 --profile-iters 5 --parent-pid 4321", &o, err,
			       sizeof(err)), 0);
	assert_true(o.profile);
	assert_int_equal(o.parent_pid, 4321);
	assert_string_equal(o.gpu_type, "H100");
	assert_string_equal(o.profile_batches, "16,32");
	assert_int_equal(o.profile_iters, 5);
}

static void test_env_fallbacks(void **state)
{
	struct worker_opts o;
	char err[256];

	(void)state;
	clear_env();
	setenv("HARE_CHECKPOINT_DIR", "/shared/ckpt/7", 1);
	setenv("HARE_NCCL_ID_FILE", "/shared/ids/7.3", 1);
	setenv("HARE_WORKER_CUDA_LIB", "/opt/lib/x.so", 1);
	assert_int_equal(parse(BASE "--model lm", &o, err, sizeof(err)), 0);
	assert_string_equal(o.checkpoint_dir, "/shared/ckpt/7");
	assert_false(o.checkpoint_dir_default);
	assert_string_equal(o.nccl_id_file, "/shared/ids/7.3");
	assert_string_equal(o.lib, "/opt/lib/x.so");
	/* flags win */
	assert_int_equal(parse(BASE "--model lm --checkpoint-dir here --nccl-id-file there --lib l.so",
			       &o, err, sizeof(err)), 0);
	assert_string_equal(o.checkpoint_dir, "here");
	assert_string_equal(o.nccl_id_file, "there");
	assert_string_equal(o.lib, "l.so");
	/* under an agent without a directory: the job's own one in the work dir */
	clear_env();
	setenv("HARE_JOB_ID", "7", 1);
	assert_int_equal(parse(BASE "--model lm", &o, err, sizeof(err)), 0);
	assert_string_equal(o.checkpoint_dir, "checkpoints/7");
	assert_true(o.checkpoint_dir_default);
	clear_env();
}

static void test_list_parse(void **state)
{
	uint32_t v[4];

	(void)state;
	assert_int_equal(worker_list_parse("1,2,4", 8, v, 4), 3);
	assert_int_equal(v[2], 4);
	assert_int_equal(worker_list_parse("9", 8, v, 4), -EINVAL);
	assert_int_equal(worker_list_parse("1,2,3,4,5", 8, v, 4), -EINVAL);
	assert_int_equal(worker_list_parse("", 8, v, 4), -EINVAL);
	assert_int_equal(worker_list_parse("1,", 8, v, 4), -EINVAL);
	assert_int_equal(worker_list_parse("-1", 8, v, 4), -EINVAL);
}

static void test_rendezvous_line(void **state)
{
	static const size_t lens[] = { 1, 2, 3, 4, 128, 144, RDV_DATA_MAX };
	uint8_t data[RDV_DATA_MAX + 1], back[RDV_DATA_MAX + 8];
	char line[RDV_LINE_MAX], err[160];
	struct report_line rl;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37 + 11);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int len = rdv_line_format(data, lens[i], line, sizeof(line));

		assert_true(len > 0 && len < REPORT_LINE_MAX);
		assert_int_equal(line[len - 1], '\n');
		assert_int_equal(rdv_line_parse(line, (size_t)len, back, sizeof(back), &n, err,
						sizeof(err)), 0);
		assert_int_equal(n, lens[i]);
		assert_memory_equal(back, data, n);
		/* the report parser (the agent's) reads the same bytes */
		assert_int_equal(report_line_parse(line, (size_t)len, &rl, err, sizeof(err)), 0);
		assert_int_equal(rl.kind, REPORT_RENDEZVOUS);
		assert_int_equal(rl.rdv_len, lens[i]);
		assert_memory_equal(rl.rdv, data, lens[i]);
	}
	assert_int_equal(rdv_line_format(data, 3, line, sizeof(line)), 16);
	assert_string_equal(line, "rendezvous CzBV\n");
	assert_int_equal(rdv_line_format(data, 1, line, sizeof(line)), 16);
	assert_string_equal(line, "rendezvous Cw==\n");
	assert_int_equal(rdv_line_format(data, RDV_DATA_MAX + 1, line, sizeof(line)), -EINVAL);
	assert_int_equal(rdv_line_format(data, 0, line, sizeof(line)), -EINVAL);
	assert_int_equal(rdv_line_format(data, 128, line, 100), -ENOSPC);

	static const struct { const char *line, *want; } bad[] = {
		{ "round 1 1 0 0 1\n", "not a rendezvous line" },
		{ "rendezvous\n", "not a rendezvous line" },
		{ "rendezvous Cw=\n", "groups of 4" },
		{ "rendezvous C*==\n", "bad base64" },
		{ "rendezvous Cw==CzBV\n", "bad base64" },
		{ "rendezvous C===\n", "bad base64" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rdv_line_parse(bad[i].line, strlen(bad[i].line), back, sizeof(back), &n,
						err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("'%s': got '%s', want '%s'", bad[i].line, err, bad[i].want);
	}
	assert_int_equal(rdv_line_parse("rendezvous CzBV\r\n", 17, back, 2, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 2 bytes"));
}

static void test_rendezvous_file(void **state)
{
	char dir[] = "/tmp/hare-rdv-XXXXXX", path[64], err[256];
	uint8_t data[144], back[144];
	volatile sig_atomic_t stop = 0;
	size_t n;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/id", dir);
	memset(data, 0xa5, sizeof(data));
	assert_int_equal(rdv_file_wait(path, 0.1, &stop, back, sizeof(back), &n, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_non_null(strstr(err, "no rendezvous from rank 0 within 0.1 s"));
	stop = 1;
	assert_int_equal(rdv_file_wait(path, 10, &stop, back, sizeof(back), &n, err, sizeof(err)), -EINTR);
	stop = 0;
	assert_int_equal(rdv_file_write(path, data, sizeof(data), err, sizeof(err)), 0);
	assert_int_equal(rdv_file_wait(path, 1, &stop, back, sizeof(back), &n, err, sizeof(err)), 0);
	assert_int_equal(n, sizeof(data));
	assert_memory_equal(back, data, n);
	f = fopen(path, "w");
	fputs("garbage\n", f);
	fclose(f);
	assert_int_equal(rdv_file_wait(path, 1, &stop, back, sizeof(back), &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a rendezvous line"));
	unlink(path);
	rmdir(dir);
}

static void test_report_writer(void **state)
{
	struct worker_out w;
	char buf[4096], err[160];
	struct report_line l;
	int fds[2];
	ssize_t n;
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	/* report-ms 0: every round on its own line */
	worker_out_init(&w, fds[1], 0, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(worker_out_round(&w, 10 + i, 0.5, 0.25, 2.0 - i, worker_now_s()), 0);
	/* a long interval: rounds are batched until the flush */
	w.batch_s = 3600;
	for (int i = 3; i < 6; i++)
		assert_int_equal(worker_out_round(&w, 10 + i, 0.5, 0.25, 2.0 - i, worker_now_s()), 0);
	assert_int_equal(worker_out_finish(&w, true, NULL), 0);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		assert_int_equal(report_line_parse(line, strlen(line), &l, err, sizeof(err)), 0);
		if (lines < 3) {
			assert_int_equal(l.first, 10 + lines);
			assert_int_equal(l.count, 1);
		} else if (lines == 3) {
			assert_int_equal(l.first, 13);
			assert_int_equal(l.count, 3);
			assert_true(l.compute_s == 1.5 && l.sync_s == 0.75 && l.loss == -3);
		} else {
			assert_int_equal(l.kind, REPORT_DONE);
			assert_int_equal(l.rounds, 6);
		}
	}
	assert_int_equal(lines, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emulated_unchanged),
		cmocka_unit_test(test_real_flags),
		cmocka_unit_test(test_env_fallbacks),
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_rendezvous_line),
		cmocka_unit_test(test_rendezvous_file),
		cmocka_unit_test(test_report_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
