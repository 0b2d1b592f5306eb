/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's rendezvous relay against a fake hared: rank 0's
 * line to hared and to a rank on the same node, hared's data to the lease's
 * file, and real CPU-engine workers given --nccl-id-file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_fake.h"
#include "log.h"
#include "workloads/rendezvous.h"

/* ---- the rendezvous relay ---- */

/* The Rendezvous messages the daemon heard for a lease: how many, the last. */
static const Hare__Rendezvous *fake_rdv(const struct fake *f, uint64_t job, uint64_t lease, int *n)
{
	const Hare__Rendezvous *last = NULL;

	*n = 0;
	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__Rendezvous *r = f->msgs[i]->rendezvous;

		if (f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_RENDEZVOUS && r->job_id == job &&
		    r->lease_id == lease) {
			last = r;
			(*n)++;
		}
	}
	return last;
}

/* Rank 0's line reaches the daemon once, and rank 1 on the same node at
 * once, without waiting for the daemon's echo; the file goes with the lease. */
static void test_rendezvous_local(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:3");
	char cmd0[1024], cmd1[1024], out[256], got[512], path[300], want[300];
	struct start_args r0 = { .job = 10, .lease = 3, .world = 2, .command = cmd0 };
	struct start_args r1 = { .job = 10, .lease = 3, .world = 2, .rank = 1, .gpu = 1,
				 .command = cmd1 };
	struct start_args single = { .job = 12, .lease = 1, .gpu = 2, .command =
		"printf 'rendezvous AQIDBAUG\\ndone 0\\n' >&$HARE_REPORT_FD" };
	const Hare__Rendezvous *r;
	struct agent_stats st;
	int n;

	(void)state;
	snprintf(out, sizeof(out), "%s/r1", f->dir);
	/* twice the same line: one message; then wait for rank 1 to have it */
	snprintf(cmd0, sizeof(cmd0),
		 "printf 'rendezvous AQIDBAUG\\nrendezvous AQIDBAUG\\n' >&$HARE_REPORT_FD; i=0; "
		 "while [ ! -e %s ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; "
		 "printf 'done 0\\n' >&$HARE_REPORT_FD", out);
	rdv_reader_cmd(cmd1, sizeof(cmd1), out);
	fake_agent_registered(f);
	fake_task_start(f, &r0);
	fake_task_start(f, &r1);
	fake_task_start(f, &single);
	RUN_UNTIL(f, fake_exit(f, 10, 3, 0) && fake_exit(f, 10, 3, 1) && fake_exit(f, 12, 1, 0), 10);
	assert_int_equal(fake_exit(f, 10, 3, 0)->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(fake_exit(f, 10, 3, 1)->status, HARE__TASK_STATUS__TASK_OK);
	r = fake_rdv(f, 10, 3, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r->data.len, 6);
	assert_memory_equal(r->data.data, "\1\2\3\4\5\6", 6);
	read_text(out, got, sizeof(got));
	assert_string_equal(got, "rendezvous AQIDBAUG\n");
	snprintf(want, sizeof(want), "%s/work/tasks/10.3.rdv\n", f->dir);
	snprintf(path, sizeof(path), "%s.path", out);
	read_text(path, got, sizeof(got));
	assert_string_equal(got, want);
	/* a single-rank lease has nobody to meet: not relayed */
	fake_rdv(f, 12, 1, &n);
	assert_int_equal(n, 0);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.rendezvous_sent, 1);
	assert_int_equal(st.rendezvous_written, 1);
	assert_int_equal(st.rendezvous_ignored, 1);
	assert_int_equal(st.bad_lines, 0);
	/* the lease is over here: its file is gone */
	want[strlen(want) - 1] = '\0';
	assert_false(file_exists(want));
	fake_free(f);
}

/* The daemon's Rendezvous lands in the lease's file; bogus ones (unknown
 * lease, no data, too much data) are ignored; a restarted agent removes the
 * files of leases it has no task of. */
static void test_rendezvous_from_daemon(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], out[256], got[512], line[RDV_LINE_MAX], path[256], stale[300], keep[300];
	struct start_args r1 = { .job = 11, .lease = 4, .world = 2, .rank = 1, .command = cmd };
	uint8_t data[RDV_DATA_MAX + 1];
	struct agent_stats st;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	snprintf(path, sizeof(path), "%s/work/tasks", f->dir);
	assert_int_equal(system(strcat(strcpy(got, "mkdir -p "), path)), 0);
	snprintf(stale, sizeof(stale), "%s/99.9.rdv", path);
	write_file(stale, "rendezvous AQID\n", 0644);
	snprintf(keep, sizeof(keep), "%s/99.9.rdv.tmp.123", path);
	write_file(keep, "x", 0644);
	snprintf(out, sizeof(out), "%s/r1", f->dir);
	rdv_reader_cmd(cmd, sizeof(cmd), out);
	fake_agent_start(f);
	assert_false(file_exists(stale));
	assert_false(file_exists(keep));
	RUN_UNTIL(f, f->registers == 1, 5);
	fake_task_start(f, &r1);
	fake_send_rdv(f, 11, 5, data, 144);		/* not a lease of this node */
	fake_send_rdv(f, 11, 4, data, 0);
	fake_send_rdv(f, 11, 4, data, RDV_DATA_MAX + 1);
	fake_send_rdv(f, 11, 4, data, 144);
	fake_send_rdv(f, 11, 4, data, 144);		/* again: written once */
	RUN_UNTIL(f, fake_exit(f, 11, 4, 1), 10);
	assert_int_equal(fake_exit(f, 11, 4, 1)->status, HARE__TASK_STATUS__TASK_OK);
	read_text(out, got, sizeof(got));
	assert_int_equal(rdv_line_format(data, 144, line, sizeof(line)), 204);
	assert_string_equal(got, line);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.rendezvous_written, 1);
	assert_int_equal(st.rendezvous_ignored, 3);
	assert_int_equal(st.rendezvous_sent, 0);
	fake_rdv(f, 11, 4, &n);
	assert_int_equal(n, 0);
	snprintf(path, sizeof(path), "%s/work/tasks/11.4.rdv", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* Real workers (worker_engine = cpu) get --nccl-id-file: rank 0's id
 * reaches the daemon, rank 1 reads it and then fails on the one-rank
 * engine, not on the rendezvous (it would wait 600 s for it). */
static void test_rendezvous_cpu_workers(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args r0 = { .job = 13, .lease = 2, .world = 2, .count = 5, .model = "ncf",
				 .proxy = "batch=8,mlp=4-2" };
	struct start_args r1 = r0;
	const Hare__Rendezvous *r;
	char err[512], path[300], got[4096], wrap[300], text[600], want[400];
	int n;

	(void)state;
	/* hare-worker behind a wrapper that records its flags */
	snprintf(wrap, sizeof(wrap), "%s/worker.sh", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$*\" >> %s/argv.txt\nexec %s \"$@\"\n",
		 f->dir, WORKER_BIN);
	write_file(wrap, text, 0755);
	assert_int_equal(agent_config_set(&f->cfg, "worker", wrap, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "worker_engine", "cpu", err, sizeof(err)), 0);
	r1.rank = r1.gpu = 1;
	fake_agent_registered(f);
	fake_task_start(f, &r0);
	fake_task_start(f, &r1);
	/* generous: two real workers start under a loaded machine too */
	RUN_UNTIL(f, fake_exit(f, 13, 2, 0) && fake_exit(f, 13, 2, 1), 60);
	r = fake_rdv(f, 13, 2, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r->data.len, 16 + 128);
	assert_true(r->data.data[0] == 13 && r->data.data[8] == 2);	/* job, lease (LE) */
	for (int rank = 0; rank < 2; rank++) {
		const Hare__TaskExit *e = fake_exit(f, 13, 2, (uint32_t)rank);

		assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
		assert_int_equal(e->exit_code, 1);
		snprintf(want, sizeof(want), "job 13 rank %d: the cpu engine runs a single rank, not 2",
			 rank);
		/* each rank's output is in its own file, and the exit quotes it */
		snprintf(path, sizeof(path), "%s/work/logs/job-13.rank-%d.log", f->dir, rank);
		read_text(path, got, sizeof(got));
		if (!strstr(got, want))
			fail_msg("'%s' not in the worker's output:\n%s", want, got);
		if (!strstr(e->message, want))
			fail_msg("'%s' not in the exit's message '%s'", want, e->message);
	}
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	read_text(path, got, sizeof(got));
	snprintf(want, sizeof(want), "--engine=cpu --nccl-id-file=%s/work/tasks/13.2.rdv"
		 " --proxy=batch=8,mlp=4-2 --job=13 ", f->dir);
	assert_non_null(strstr(got, want));
	assert_null(strstr(got, "--emulate"));
	/* the worker settings are the worker's own unless set */
	assert_null(strstr(got, "--orphan-timeout-s"));
	assert_null(strstr(got, "--progress-s"));
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rendezvous_local),
		cmocka_unit_test(test_rendezvous_from_daemon),
		cmocka_unit_test(test_rendezvous_cpu_workers),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
