/* SPDX-License-Identifier: MIT */
/* Tests of harectl's library: argument and job-file parsing with their exact
 * messages, table/JSON output, the JSON escaper, and whole commands against a
 * small fake hared served by a thread on a unix socket or TCP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "format.h"
#include "frame.h"
#include "job.h"

/* 2023-11-14T22:13:20Z: every relative time below is against this. */
#define NOW 1700000000.0

/* "$TMPDIR/NAME-XXXXXX" (P_tmpdir when TMPDIR is unset or too long for a
 * unix socket path under it). */
static void tmp_template(char *buf, size_t len, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !tmp[0] || strlen(tmp) > 40)
		tmp = P_tmpdir;
	snprintf(buf, len, "%s/%s-XXXXXX", tmp, name);
}

/* ---- argument parsing ---- */

#define ARGV(...) ((char *const[]){ "harectl", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "harectl", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(a, msg, ...) cli_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (msg), sizeof(msg))

static void test_args_submit_flags(void **state)
{
	static struct cli_args a;
	char msg[256];

	(void)state;
	assert_int_equal(PARSE(&a, msg, "submit", "--model", "resnet50", "--gpus=8", "--min-gpus", "2",
			       "--max-gpus", "6", "--rounds", "5000", "--weight", "2.5", "--gpu-types",
			       "V100, T4", "--name", "sweep 1", "--command", "python train.py"), 0);
	assert_int_equal(a.cmd, CLI_CMD_SUBMIT);
	assert_string_equal(a.job.model, "resnet50");
	assert_int_equal(a.job.gpus, 8);
	assert_int_equal(a.job.min_gpus, 2);
	assert_int_equal(a.job.max_gpus, 6);
	assert_int_equal(a.job.rounds, 5000);
	assert_true(a.job.weight == 2.5);
	assert_int_equal(a.job.ntypes, 2);
	assert_string_equal(a.job.types[1], "T4");
	assert_string_equal(a.job.name, "sweep 1");
	assert_string_equal(a.job.command, "python train.py");
	assert_true(a.job_flags);
	assert_null(a.file);
}

/* --after: job ids, spaces around them allowed, in the order given. */
static void test_args_after(void **state)
{
	static struct cli_args a;
	char msg[256];
	struct cli_spec_refs refs;
	Hare__JobSpec spec;

	(void)state;
	assert_int_equal(PARSE(&a, msg, "submit", "--model", "m", "--gpus", "1", "--rounds", "1", "--after",
			       " 42, 7 ,18446744073709551615"), 0);
	assert_true(cli_job_has(&a.job, CLI_KEY_AFTER));
	assert_int_equal(a.job.nafter, 3);
	assert_int_equal(a.job.after[0], 42);
	assert_int_equal(a.job.after[1], 7);
	assert_true(a.job.after[2] == UINT64_MAX);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(a.job.after_ref[i], -1);
	cli_job_to_spec(&a.job, NULL, &spec, &refs);
	assert_int_equal(spec.n_after, 3);
	assert_int_equal(spec.after[0], 42);
	assert_int_equal(spec.after[1], 7);
	/* kinds: each kind's ids go in their own list, in the order given */
	assert_int_equal(PARSE(&a, msg, "submit", "--model", "m", "--gpus", "1", "--rounds", "1", "--after",
			       "notok:5,41,any:42, any:3,ok:44"), 0);
	assert_int_equal(a.job.nafter, 5);
	assert_int_equal(a.job.after_kind[0], CLI_AFTER_NOTOK);
	assert_int_equal(a.job.after_kind[4], CLI_AFTER_OK);
	cli_job_to_spec(&a.job, NULL, &spec, &refs);
	assert_int_equal(spec.n_after, 2);
	assert_true(spec.after[0] == 41 && spec.after[1] == 44);
	assert_int_equal(spec.n_after_any, 2);
	assert_true(spec.after_any[0] == 42 && spec.after_any[1] == 3);
	assert_int_equal(spec.n_after_notok, 1);
	assert_int_equal(spec.after_notok[0], 5);
	/* 16 is the most; no --after: none sent */
	assert_int_equal(PARSE(&a, msg, "submit", "--model", "m", "--gpus", "1", "--rounds", "1", "--after=1,2,3,4,"
			       "5,6,7,8,9,10,11,12,13,14,15,16"), 0);
	assert_int_equal(a.job.nafter, CLI_JOB_AFTER_MAX);
	assert_int_equal(PARSE(&a, msg, "submit", "--model", "m", "--gpus", "1", "--rounds", "1"), 0);
	cli_job_to_spec(&a.job, NULL, &spec, &refs);
	assert_int_equal(spec.n_after, 0);
	assert_null(spec.after);
	assert_int_equal(spec.n_after_any, 0);
	assert_null(spec.after_any);
	assert_int_equal(spec.n_after_notok, 0);
	assert_null(spec.after_notok);
}

static void test_args_update(void **state)
{
	static struct cli_args a;
	char msg[256];

	(void)state;
	assert_int_equal(PARSE(&a, msg, "update", "4", "5", "--weight", "2.5", "--max-gpus=3"), 0);
	assert_int_equal(a.cmd, CLI_CMD_UPDATE);
	assert_int_equal(a.nids, 2);
	assert_int_equal(a.ids[1], 5);
	assert_true(a.job.weight == 2.5 && cli_job_has(&a.job, CLI_KEY_WEIGHT));
	assert_int_equal(a.job.max_gpus, 3);
	assert_false(cli_job_has(&a.job, CLI_KEY_MIN_GPUS));
	assert_false(cli_job_has(&a.job, CLI_KEY_NAME));
	assert_int_equal(PARSE(&a, msg, "hold", "7", "8"), 0);
	assert_int_equal(a.cmd, CLI_CMD_HOLD);
	assert_int_equal(a.nids, 2);
	assert_int_equal(PARSE(&a, msg, "release", "7"), 0);
	assert_int_equal(a.cmd, CLI_CMD_RELEASE);
	/* A repeated id is asked for, and answered, once. */
	assert_int_equal(PARSE(&a, msg, "cancel", "7", "8", "7", "8", "9"), 0);
	assert_int_equal(a.nids, 3);
	assert_int_equal(a.ids[2], 9);
	/* A value that starts with -- but is no option of harectl's is a value. */
	assert_int_equal(PARSE(&a, msg, "update", "4", "--name", "--x"), 0);
	assert_string_equal(a.job.name, "--x");
	assert_int_equal(PARSE(&a, msg, "update", "4", "--name", "-x"), 0);
	assert_string_equal(a.job.name, "-x");
	assert_int_equal(PARSE(&a, msg, "update", "4", "--name=--weight"), 0);
	assert_string_equal(a.job.name, "--weight");
}

static void test_args_globals_anywhere(void **state)
{
	static struct cli_args a;
	char msg[256];

	(void)state;
	assert_int_equal(PARSE(&a, msg, "-o", "json", "queue", "--socket", "/tmp/h.sock", "-a", "--timeout",
			       "2.5"), 0);
	assert_int_equal(a.cmd, CLI_CMD_QUEUE);
	assert_true(a.json);
	assert_true(a.all);
	assert_string_equal(a.socket_path, "/tmp/h.sock");
	assert_int_equal(a.timeout_ms, 2500);

	assert_int_equal(PARSE(&a, msg, "--host", "[::1]:7100", "--token-file", "tok", "cancel", "4", "5", "6"), 0);
	assert_int_equal(a.cmd, CLI_CMD_CANCEL);
	assert_string_equal(a.host, "[::1]:7100");
	assert_string_equal(a.token_file, "tok");
	assert_int_equal(a.nids, 3);
	assert_int_equal(a.ids[2], 6);

	assert_int_equal(PARSE(&a, msg, "show", "-ojson", "17"), 0);
	assert_true(a.json);
	assert_int_equal(a.ids[0], 17);

	assert_int_equal(PARSE(&a, msg, "submit", "-f", "jobs.ini"), 0);
	assert_string_equal(a.file, "jobs.ini");
	/* before the command word too */
	assert_int_equal(PARSE(&a, msg, "-f", "logs", "12"), 0);
	assert_true(a.cmd == CLI_CMD_LOGS && a.follow && a.nids == 1 && a.ids[0] == 12);
	assert_int_equal(PARSE(&a, msg, "-f", "jobs.ini", "submit"), 0);
	assert_true(a.cmd == CLI_CMD_SUBMIT && strcmp(a.file, "jobs.ini") == 0);
}

static void test_args_help_version(void **state)
{
	static struct cli_args a;
	char msg[256];

	(void)state;
	assert_int_equal(PARSE(&a, msg, "--help"), 0);
	assert_true(a.help);
	assert_int_equal(a.cmd, CLI_CMD_NONE);
	/* --help wins over mistakes in the rest of the line. */
	assert_int_equal(PARSE(&a, msg, "submit", "--gpus", "0", "-h"), 0);
	assert_true(a.help);
	assert_int_equal(a.cmd, CLI_CMD_SUBMIT);
	assert_int_equal(PARSE(&a, msg, "help", "nodes"), 0);
	assert_true(a.help);
	assert_int_equal(a.cmd, CLI_CMD_NODES);
	assert_int_equal(PARSE(&a, msg, "--version"), 0);
	assert_true(a.version);
	assert_non_null(strstr(cli_help_text(CLI_CMD_SUBMIT), "harectl submit --file jobs.ini"));
	assert_non_null(strstr(cli_help_text(CLI_CMD_NONE), "Exit status"));
}

struct bad_args {
	int argc;
	char *argv[12];
	const char *msg;
};

/* harectl wait: job ids, --max-wait as seconds or with a unit; submit
 * --wait with --max-wait; what each refuses. */
static void test_args_wait(void **state)
{
	static const struct bad_args cases[] = {
		{ 2, { "harectl", "wait" }, "harectl wait: missing job id (see harectl wait --help)" },
		{ 4, { "harectl", "wait", "4", "--max-wait=-1" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '-1'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=5x" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '5x'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=367d" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '367d'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=1hh" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '1hh'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=0x10" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '0x10'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=1e3" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '1e3'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=5." },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '5.'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=.5" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '.5'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=5H" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got '5H'" },
		{ 4, { "harectl", "wait", "4", "--max-wait=nan" },
		  "harectl wait: --max-wait wants seconds, or a number followed by s, m, h or d (90, 30m, 1.5h), at most 366 days, got 'nan'" },
		{ 4, { "harectl", "wait", "4", "--wait" }, "harectl wait: --wait is not an option of wait (see harectl wait --help)" },
		{ 3, { "harectl", "queue", "--wait" }, "harectl queue: --wait is not an option of queue (see harectl queue --help)" },
		{ 5, { "harectl", "history", "4", "--node", "n1" }, "harectl history: a job id or --node NODE, not both" },
		{ 4, { "harectl", "history", "--node", "n 1" },
		  "harectl history: --node wants a node name (letters, digits, '.', '-', '_'; at most 63 bytes), got 'n 1'" },
		{ 4, { "harectl", "queue", "--node", "n1" }, "harectl queue: --node is not an option of queue (see harectl queue --help)" },
		{ 6, { "harectl", "submit", "--file", "x.ini", "--check", "--wait" },
		  "harectl submit: --check submits nothing to wait for: not with --wait" },
		{ 10, { "harectl", "submit", "--model", "m", "--gpus", "1", "--rounds", "5", "--max-wait", "5" },
		  "harectl submit: --max-wait goes with --wait (see harectl submit --help)" },
	};
	static struct cli_args a;
	char msg[256];

	(void)state;
	assert_int_equal(PARSE(&a, msg, "wait", "42", "43", "42", "--max-wait", "1.5h", "-o", "json"), 0);
	assert_int_equal(a.cmd, CLI_CMD_WAIT);
	assert_int_equal(a.nids, 2);
	assert_true(a.ids[0] == 42 && a.ids[1] == 43);
	assert_true(a.has_max_wait && a.max_wait_s == 5400);
	assert_string_equal(a.max_wait_text, "1.5h");
	assert_true(a.json);
	assert_int_equal(PARSE(&a, msg, "history", "--node", "gpu-07", "-n", "5"), 0);
	assert_true(a.cmd == CLI_CMD_HISTORY && a.nids == 0 && a.lines == 5);
	assert_string_equal(a.node, "gpu-07");
	assert_int_equal(PARSE(&a, msg, "wait", "7"), 0);
	assert_false(a.has_max_wait);
	assert_int_equal(PARSE(&a, msg, "wait", "7", "--max-wait", "0"), 0);
	assert_true(a.has_max_wait && a.max_wait_s == 0);
	assert_int_equal(PARSE(&a, msg, "wait", "7", "--max-wait", "90"), 0);
	assert_true(a.max_wait_s == 90);
	assert_int_equal(PARSE(&a, msg, "wait", "7", "--max-wait", "30m"), 0);
	assert_true(a.max_wait_s == 1800);
	assert_int_equal(PARSE(&a, msg, "wait", "7", "--max-wait", "2d"), 0);
	assert_true(a.max_wait_s == 172800);
	assert_int_equal(PARSE(&a, msg, "submit", "--model", "m", "--gpus", "1", "--rounds", "5", "--wait",
			       "--max-wait", "12s"), 0);
	assert_true(a.wait && a.has_max_wait && a.max_wait_s == 12);
	assert_int_equal(PARSE(&a, msg, "submit", "--file", "jobs.ini", "--wait"), 0);
	assert_true(a.wait && !a.has_max_wait);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(cli_args_parse(cases[i].argc, (char *const *)cases[i].argv, &a, msg, sizeof(msg)) < 0);
		assert_string_equal(msg, cases[i].msg);
	}
}

/* submit --array: index lists, ranges and steps in the order given, and
 * what is refused; each job of the array named and its command prefixed
 * with its index, and what no longer fits. */
static void test_array(void **state)
{
	static const char *const bad[] = { "", "-1", "5-", "3-1", "1,,2", "1,", "0-9:0", "0-9:", "1:2",
					   "a", "1000000", "0-1000000", "1,1", "0-4,2", "0-1000", "1 ",
					   "0x10", "1e3" };
	static uint32_t idx[CLI_ARRAY_MAX];
	static struct cli_args a;
	struct cli_job j, *out;
	uint32_t n;
	char err[256];

	(void)state;
	assert_int_equal(cli_array_parse("0-3", idx, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_true(idx[0] == 0 && idx[3] == 3);
	assert_int_equal(cli_array_parse("7,1,10-20:5", idx, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	assert_true(idx[0] == 7 && idx[1] == 1 && idx[2] == 10 && idx[3] == 15 && idx[4] == 20);
	assert_int_equal(cli_array_parse("0-999", idx, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(cli_array_parse("999999", idx, &n, err, sizeof(err)), 0);
	assert_true(n == 1 && idx[0] == 999999);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cli_array_parse(bad[i], idx, &n, err, sizeof(err)), ERR_BAD_SPEC);
		assert_true(strncmp(err, "--array", 7) == 0);
	}
	cli_array_parse("1,1", idx, &n, err, sizeof(err));
	assert_string_equal(err, "--array: index 1 given twice");
	cli_array_parse("0-1000", idx, &n, err, sizeof(err));
	assert_string_equal(err, "--array: more than 1000 jobs");
	cli_array_parse("1,3-2,5", idx, &n, err, sizeof(err));
	assert_string_equal(err, "--array wants indices from 0 to 999999 as N, A-B or A-B:STEP, "
			    "comma-separated (0-9, 1,3,8-12, 0-99:10), got '3-2' in the list");
	cli_array_parse("x", idx, &n, err, sizeof(err));
	assert_string_equal(err, "--array wants indices from 0 to 999999 as N, A-B or A-B:STEP, "
			    "comma-separated (0-9, 1,3,8-12, 0-99:10), got 'x'");

	/* from the command line */
	assert_int_equal(PARSE(&a, err, "submit", "--model", "bert", "--gpus", "1", "--rounds", "5",
			       "--array", "2,4", "--name", "lr-%a-x", "--command", "python3 t.py"), 0);
	assert_int_equal(a.narray, 2);
	assert_int_equal(cli_array_expand(&a.job, a.array, a.narray, &out, err, sizeof(err)), 0);
	assert_string_equal(out[0].name, "lr-2-x");
	assert_string_equal(out[1].name, "lr-4-x");
	assert_string_equal(out[1].command, "HARE_ARRAY_INDEX=4 HARE_ARRAY_COUNT=2; export HARE_ARRAY_INDEX "
			    "HARE_ARRAY_COUNT; python3 t.py");
	assert_int_equal(out[1].rounds, 5);
	free(out);
	/* no %a: -INDEX added; no command: none made */
	cli_job_init(&j);
	assert_int_equal(cli_job_set(&j, "--name", "sweep", err, sizeof(err)), 0);
	idx[0] = 12;
	assert_int_equal(cli_array_expand(&j, idx, 1, &out, err, sizeof(err)), 0);
	assert_string_equal(out[0].name, "sweep-12");
	assert_string_equal(out[0].command, "");
	free(out);
	/* no name: MODEL-INDEX */
	cli_job_init(&j);
	assert_int_equal(cli_job_set(&j, "--model", "resnet50", err, sizeof(err)), 0);
	assert_int_equal(cli_array_expand(&j, idx, 1, &out, err, sizeof(err)), 0);
	assert_string_equal(out[0].name, "resnet50-12");
	assert_true(cli_job_has(&out[0], CLI_KEY_NAME));
	free(out);
	cli_job_init(&j);
	assert_int_equal(cli_job_set(&j, "--name", "sweep", err, sizeof(err)), 0);
	/* too long once expanded */
	memset(j.name, 'n', CLI_JOB_NAME_MAX - 2);
	j.name[CLI_JOB_NAME_MAX - 2] = '\0';
	assert_int_equal(cli_array_expand(&j, idx, 1, &out, err, sizeof(err)), ERR_BAD_SPEC);
	assert_string_equal(err, "--name with array index 12 is longer than 63 bytes");
	cli_job_init(&j);
	memset(j.command, 'c', 500);
	j.command[500] = '\0';
	j.set |= 1u << CLI_KEY_COMMAND;
	assert_int_equal(cli_array_expand(&j, idx, 1, &out, err, sizeof(err)), ERR_BAD_SPEC);
	assert_non_null(strstr(err, "is longer than 511 bytes"));
	/* refused with --file, and twice */
	assert_true(PARSE(&a, err, "submit", "--file", "x.ini", "--array", "0-1") < 0);
	assert_string_equal(err, "harectl submit: --array goes with job options, not --file (a job file lists its jobs)");
	assert_true(PARSE(&a, err, "submit", "--array", "0-1", "--array", "3") < 0);
	assert_string_equal(err, "harectl submit: --array given twice");
}

static void test_args_errors(void **state)
{
	static const struct bad_args cases[] = {
		{ 1, { "harectl" }, "harectl: no command given (see harectl --help)" },
		{ 2, { "harectl", "sumbit" }, "harectl: unknown command 'sumbit' (did you mean submit? see harectl --help)" },
		{ 2, { "harectl", "frobnicate" }, "harectl: unknown command 'frobnicate' (see harectl --help)" },
		{ 3, { "harectl", "submit", "--gpu" },
		  "harectl submit: unknown option '--gpu' (did you mean --gpus? see harectl submit --help)" },
		{ 3, { "harectl", "queue", "--zzz=1" }, "harectl queue: unknown option '--zzz' (see harectl queue --help)" },
		{ 3, { "harectl", "queue", "-x" }, "harectl queue: unknown option '-x' (see harectl queue --help)" },
		{ 3, { "harectl", "submit", "--all" }, "harectl submit: --all is not an option of submit (see harectl submit --help)" },
		{ 3, { "harectl", "queue", "--all=yes" }, "harectl queue: --all takes no value" },
		{ 3, { "harectl", "queue", "-o" }, "harectl queue: -o needs a value (see harectl queue --help)" },
		{ 4, { "harectl", "queue", "-o", "xml" }, "harectl queue: -o wants table or json, got 'xml'" },
		{ 4, { "harectl", "queue", "--timeout", "0" }, "harectl queue: --timeout must be between 0.1 and 3600, got 0" },
		{ 4, { "harectl", "queue", "--timeout", "soon" }, "harectl queue: --timeout expected a number, got 'soon'" },
		{ 3, { "harectl", "queue", "extra" }, "harectl queue: unexpected argument 'extra' (see harectl queue --help)" },
		{ 2, { "harectl", "show" }, "harectl show: missing job id (see harectl show --help)" },
		{ 4, { "harectl", "show", "1", "2" }, "harectl show: one job id at a time, got 2" },
		{ 3, { "harectl", "cancel", "0" }, "harectl cancel: bad job id '0' (want a number like 42)" },
		{ 3, { "harectl", "cancel", "12x" }, "harectl cancel: bad job id '12x' (want a number like 42)" },
		{ 2, { "harectl", "cancel" }, "harectl cancel: missing job id (see harectl cancel --help)" },
		{ 2, { "harectl", "logs" }, "harectl logs: missing job id (see harectl logs --help)" },
		{ 2, { "harectl", "hold" }, "harectl hold: missing job id (see harectl hold --help)" },
		{ 2, { "harectl", "history" }, "harectl history: missing job id, or --node NODE (see harectl history --help)" },
		{ 5, { "harectl", "history", "4", "-n", "1001" }, "harectl history: -n must be between 1 and 1000, got 1001" },
		{ 5, { "harectl", "history", "4", "-n", "0" }, "harectl history: -n must be between 1 and 1000, got 0" },
		{ 4, { "harectl", "history", "4", "5" }, "harectl history: one job id at a time, got 2" },
		{ 4, { "harectl", "queue", "--state", "runing" }, "harectl queue: --state wants states among queued, waiting, held, running, done, cancelled, failed (comma-separated), got 'runing'" },
		{ 4, { "harectl", "show", "-u", "x" }, "harectl show: -u is not an option of show (see harectl show --help)" },
		{ 4, { "harectl", "release", "1", "--weight=2" }, "harectl release: --weight is not an option of release (see harectl release --help)" },
		{ 3, { "harectl", "update", "4" }, "harectl update: nothing to change: give --weight, --min-gpus, --max-gpus or --name (see harectl update --help)" },
		{ 4, { "harectl", "update", "--weight", "2" }, "harectl update: missing job id (see harectl update --help)" },
		{ 5, { "harectl", "update", "4", "--weight", "0" }, "harectl update: --weight must be greater than 0 and at most 1e+06, got 0" },
		{ 5, { "harectl", "update", "4", "--rounds", "9" }, "harectl update: --rounds is not an option of update (see harectl update --help)" },
		{ 7, { "harectl", "update", "4", "--min-gpus", "3", "--max-gpus", "2" }, "harectl update: --min-gpus (3) is above --max-gpus (2)" },
		{ 4, { "harectl", "update", "4", "--name=" }, "harectl update: --name is empty" },
		{ 6, { "harectl", "update", "4", "--name", "--weight", "2" },
		  "harectl update: --name needs a value, got the option '--weight' (write --name=VALUE for a value that starts with -)" },
		{ 5, { "harectl", "logs", "4", "-n", "--follow" },
		  "harectl logs: -n needs a value, got the option '--follow' (write --lines=VALUE for a value that starts with -)" },
		{ 6, { "harectl", "update", "5", "--name", "-o", "json" },
		  "harectl update: --name needs a value, got the option '-o' (write --name=VALUE for a value that starts with -)" },
		{ 4, { "harectl", "submit", "--model", "--gpus=2" },
		  "harectl submit: --model needs a value, got the option '--gpus=2' (write --model=VALUE for a value that starts with -)" },
		{ 4, { "harectl", "logs", "1", "2" }, "harectl logs: one job id at a time, got 2" },
		{ 4, { "harectl", "logs", "1", "--bytes=0" }, "harectl logs: --bytes must be between 1 and 1048576, got 0" },
		{ 5, { "harectl", "logs", "1", "-n", "x" }, "harectl logs: -n expected a whole number, got 'x'" },
		{ 5, { "harectl", "logs", "1", "--rank", "-1" }, "harectl logs: --rank must be between 0 and 4095, got -1" },
		{ 5, { "harectl", "show", "1", "--lines", "3" }, "harectl show: --lines is not an option of show (see harectl show --help)" },
		{ 6, { "harectl", "--socket", "/a", "--host", "h:1", "nodes" }, "harectl nodes: --socket and --host cannot be used together" },
		{ 4, { "harectl", "--host", "nohost", "nodes" }, "harectl nodes: --host wants HOST:PORT ([::1]:PORT for IPv6), got 'nohost'" },
		{ 4, { "harectl", "--token-file", "t", "nodes" }, "harectl nodes: --token-file goes with --host (the local socket needs no token)" },
		{ 3, { "harectl", "--no-tls", "nodes" }, "harectl nodes: --no-tls goes with --host (the local socket is not encrypted: it never leaves the host)" },
		{ 2, { "harectl", "submit" }, "harectl submit: missing --model (see harectl submit --help)" },
		{ 6, { "harectl", "submit", "--model", "m", "--gpus", "4" }, "harectl submit: missing --rounds (see harectl submit --help)" },
		{ 4, { "harectl", "submit", "--gpus", "0" }, "harectl submit: --gpus must be between 1 and 64, got 0" },
		{ 4, { "harectl", "submit", "--gpus", "65" }, "harectl submit: --gpus must be between 1 and 64, got 65" },
		{ 4, { "harectl", "submit", "--gpus", "four" }, "harectl submit: --gpus: expected a whole number, got 'four'" },
		{ 4, { "harectl", "submit", "--rounds", "0" }, "harectl submit: --rounds must be between 1 and 1000000000000, got 0" },
		{ 4, { "harectl", "submit", "--rounds", "-3" }, "harectl submit: --rounds must be between 1 and 1000000000000, got -3" },
		{ 4, { "harectl", "submit", "--rounds", "1e3" }, "harectl submit: --rounds: expected a whole number, got '1e3'" },
		{ 4, { "harectl", "submit", "--weight", "0" }, "harectl submit: --weight must be greater than 0 and at most 1e+06, got 0" },
		{ 4, { "harectl", "submit", "--weight", "nan" }, "harectl submit: --weight: expected a number, got 'nan'" },
		{ 4, { "harectl", "submit", "--weight", "-1" }, "harectl submit: --weight must be greater than 0 and at most 1e+06, got -1" },
		{ 4, { "harectl", "submit", "--weight", "2e6" }, "harectl submit: --weight must be greater than 0 and at most 1e+06, got 2e6" },
		{ 4, { "harectl", "submit", "--model", "res net" },
		  "harectl submit: --model must be 1 to 31 letters, digits, '.', '-' or '_', got 'res net'" },
		{ 4, { "harectl", "submit", "--gpu-types", "V100,,T4" },
		  "harectl submit: --gpu-types: '' is not a GPU type name (1 to 15 letters, digits, '.', '-', '_')" },
		{ 4, { "harectl", "submit", "--gpu-types", "V100,v100" }, "harectl submit: --gpu-types lists v100 twice" },
		{ 4, { "harectl", "submit", "--name", "" }, "harectl submit: --name is empty" },
		{ 4, { "harectl", "submit", "--name", "a\tb" }, "harectl submit: --name has a control character" },
		{ 4, { "harectl", "submit", "--command", "caf\xe9" }, "harectl submit: --command is not valid UTF-8" },
		{ 6, { "harectl", "submit", "--gpus", "2", "--gpus", "3" }, "harectl submit: --gpus given twice" },
		{ 8, { "harectl", "submit", "--model", "m", "--gpus", "4", "--rounds", "9" }, NULL },
		{ 10, { "harectl", "submit", "--model", "m", "--gpus", "4", "--rounds", "9", "--max-gpus", "5" },
		  "harectl submit: --max-gpus (5) is greater than --gpus (4)" },
		{ 12, { "harectl", "submit", "--model", "m", "--gpus", "4", "--rounds", "9", "--proxy", "batch=2",
			"--command", "./train" },
		  "harectl submit: --proxy sizes are for the built-in worker: not with --command" },
		{ 4, { "harectl", "submit", "--proxy", "" }, "harectl submit: --proxy is empty" },
		{ 4, { "harectl", "usage", "--since", "3x" }, "harectl usage: --since wants now, a span before now (30m, 12h, 7d, 2w), a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, got '3x'" },
		{ 4, { "harectl", "usage", "--until", "2026-13-01" }, "harectl usage: --until wants now, a span before now (30m, 12h, 7d, 2w), a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, got '2026-13-01'" },
		{ 4, { "harectl", "usage", "--since", "2026-02-30" }, "harectl usage: --since wants now, a span before now (30m, 12h, 7d, 2w), a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, got '2026-02-30'" },
		{ 4, { "harectl", "usage", "--until", "2026-01-01T24:30" }, "harectl usage: --until wants now, a span before now (30m, 12h, 7d, 2w), a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, got '2026-01-01T24:30'" },
		{ 4, { "harectl", "usage", "--since", "7" }, "harectl usage: --since wants now, a span before now (30m, 12h, 7d, 2w), a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, got '7'" },
		{ 4, { "harectl", "usage", "--since", "@1e20" }, "harectl usage: --since wants now, a span before now (30m, 12h, 7d, 2w), a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, got '@1e20'" },
		{ 6, { "harectl", "usage", "--since", "1d", "--until", "2d" }, "harectl usage: --since must be before --until" },
		{ 6, { "harectl", "usage", "--since", "2026-02-01", "--until", "2026-01-31T23:00" }, "harectl usage: --since must be before --until" },
		{ 3, { "harectl", "usage", "5" }, "harectl usage: unexpected argument '5' (see harectl usage --help)" },
		{ 3, { "harectl", "usage", "-a" }, "harectl usage: -a is not an option of usage (see harectl usage --help)" },
		{ 4, { "harectl", "queue", "--since", "1d" }, "harectl queue: --since is not an option of queue (see harectl queue --help)" },
		{ 2, { "harectl", "drain" }, "harectl drain: missing node name (see harectl drain --help)" },
		{ 2, { "harectl", "forget" }, "harectl forget: missing node name (see harectl forget --help)" },
		{ 4, { "harectl", "forget", "n1", "n2" }, "harectl forget: unexpected argument 'n2' (see harectl forget --help)" },
		{ 5, { "harectl", "forget", "n1", "--reason", "x" }, "harectl forget: --reason is not an option of forget (see harectl forget --help)" },
		{ 4, { "harectl", "undrain", "n1", "n2" }, "harectl undrain: unexpected argument 'n2' (see harectl undrain --help)" },
		{ 5, { "harectl", "undrain", "n1", "--reason", "x" }, "harectl undrain: --reason is not an option of undrain (see harectl undrain --help)" },
		{ 5, { "harectl", "drain", "n1", "--reason", "fan\nbroken" }, "harectl drain: --reason contains control characters (a newline, a tab ...): one line of text" },
		{ 10, { "harectl", "submit", "--model", "m", "--gpus", "4", "--rounds", "9", "--min-gpus", "5" },
		  "harectl submit: --min-gpus (5) is greater than --gpus (4)" },
		{ 5, { "harectl", "submit", "-f", "j.ini", "--model=m" },
		  "harectl submit: --file cannot be combined with job options such as --model" },
		{ 4, { "harectl", "submit", "--after", "41, 42,41" }, "harectl submit: --after lists job 41 twice" },
		{ 4, { "harectl", "submit", "--after", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17" },
		  "harectl submit: --after lists more than 16 jobs" },
		{ 4, { "harectl", "submit", "--after", "0" }, "harectl submit: --after: '0' is not a job id (want a number like 42)" },
		{ 4, { "harectl", "submit", "--after", "-3" }, "harectl submit: --after: '-3' is not a job id (want a number like 42)" },
		{ 4, { "harectl", "submit", "--after", "4 1" }, "harectl submit: --after: '4 1' is not a job id (want a number like 42)" },
		{ 4, { "harectl", "submit", "--after", "18446744073709551616" },
		  "harectl submit: --after: '18446744073709551616' is not a job id (want a number like 42)" },
		{ 4, { "harectl", "submit", "--after", "41,prep" },
		  "harectl submit: --after: 'prep' is not a job id (names of earlier [job] sections are for job files)" },
		{ 4, { "harectl", "submit", "--after", "41,,42" }, "harectl submit: --after has an empty item" },
		{ 4, { "harectl", "submit", "--after", "41,any:" },
		  "harectl submit: --after: a kind ('any:' or 'notok:') wants a job after it" },
		{ 4, { "harectl", "submit", "--after", "anyy:41" },
		  "harectl submit: --after: 'anyy:41' is not a job id (the kinds are any:ID and notok:ID)" },
		{ 4, { "harectl", "submit", "--after", "any:41,notok:41" }, "harectl submit: --after lists job 41 twice" },
		{ 4, { "harectl", "submit", "--after", "any:x" },
		  "harectl submit: --after: 'x' is not a job id (names of earlier [job] sections are for job files)" },
		{ 3, { "harectl", "submit", "--after=" }, "harectl submit: --after is empty" },
		{ 6, { "harectl", "submit", "--after", "4", "--after", "5" }, "harectl submit: --after given twice" },
		{ 5, { "harectl", "update", "4", "--after", "3" },
		  "harectl update: --after is not an option of update (see harectl update --help)" },
		{ 4, { "harectl", "queue", "--state", "waiting,wait" }, "harectl queue: --state wants states among queued, waiting, held, running, done, cancelled, failed (comma-separated), got 'waiting,wait'" },
	};
	static struct cli_args a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[256] = "";
		int rc = cli_args_parse(cases[i].argc, cases[i].argv, &a, msg, sizeof(msg));

		if (!cases[i].msg) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc == 0 || strcmp(msg, cases[i].msg) != 0)
			print_error("case %zu: rc %d, message '%s'\n  want '%s'\n", i, rc, msg, cases[i].msg);
		assert_true(rc < 0);
		assert_string_equal(msg, cases[i].msg);
	}
}

/* ---- job files ---- */

static const char good_jobfile[] =
	"\xef\xbb\xbf; two jobs\r\n"
	"\r\n"
	"[job]\r\n"
	"name = sweep-1\r\n"
	"model = resnet50\r\n"
	"gpus = 8\r\n"
	"min_gpus = 2\r\n"
	"max-gpus = 6   ; inline comment\r\n"
	"rounds = 20000\r\n"
	"gpu-types = V100,T4\r\n"
	"command = python train.py;x\r\n"
	"\r\n"
	"[job]\r\n"
	"  # the second\r\n"
	"proxy = layers=2,seq=16\r\n"
	"model = bert\r\n"
	"gpus = 4\r\n"
	"rounds = 5000\r\n"
	"weight = 2\r\n";

static void test_jobfile_good(void **state)
{
	struct cli_job *jobs = NULL;
	uint32_t n = 0;
	char err[256] = "";
	struct cli_spec_refs refs;
	Hare__JobSpec spec;

	(void)state;
	assert_int_equal(cli_jobfile_parse("jobs.ini", good_jobfile, &jobs, &n, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(n, 2);
	assert_string_equal(jobs[0].name, "sweep-1");
	assert_int_equal(jobs[0].min_gpus, 2);
	assert_int_equal(jobs[0].max_gpus, 6);
	assert_int_equal(jobs[0].rounds, 20000);
	assert_string_equal(jobs[0].command, "python train.py;x");
	assert_int_equal(jobs[0].line, 3);
	assert_int_equal(jobs[1].line, 13);
	assert_string_equal(jobs[1].proxy, "layers=2,seq=16");
	assert_string_equal(jobs[1].model, "bert");
	assert_true(jobs[1].weight == 2);

	cli_job_to_spec(&jobs[0], NULL, &spec, &refs);
	assert_string_equal(spec.name, "sweep-1");
	assert_int_equal(spec.tasks, 8);
	assert_true(spec.has_min_gpus && spec.has_max_gpus);
	assert_false(spec.has_weight);
	assert_int_equal(spec.n_gpu_types, 2);
	assert_string_equal(spec.gpu_types[0], "V100");
	assert_null(spec.proxy);
	cli_job_to_spec(&jobs[1], NULL, &spec, &refs);
	assert_null(spec.name);
	assert_null(spec.command);
	assert_string_equal(spec.proxy, "layers=2,seq=16");
	assert_false(spec.has_min_gpus);
	assert_true(spec.has_weight && spec.weight == 2);
	assert_int_equal(spec.n_gpu_types, 0);
	free(jobs);
}

struct bad_file {
	const char *text;
	const char *msg;
};

static void test_jobfile_errors(void **state)
{
	static char long_line[1200], long_command[600];
	const struct bad_file cases[] = {
		{ "", "j.ini: no [job] section" },
		{ "; only a comment\n", "j.ini: no [job] section" },
		{ "model = x\n[job]\n", "j.ini:1: key 'model' outside a [job] section" },
		{ "[job]\nmodel = m\ngpus = 2\n\n[job]\nmodel = m\nrounds = 1\n", "j.ini:1: missing rounds" },
		{ "  [job]\nmodel = m\ngpus = 2\nrounds = 3\n\n  [job]\n", "j.ini:6: indented line would continue the "
		  "previous value; start each key in the first column" },
		{ "[job]\nmodel = m\ngpus = 2\nrounds = 3\n\n[job]\nmodel = m\nrounds = 1\n", "j.ini:6: missing gpus" },
		{ "[job]\nmodel = m\ngpus = 0\n", "j.ini:3: gpus must be between 1 and 64, got 0" },
		{ "[job]\nmodel = m\n\ngpus = 2\nrounds = 3\n[job]\nmodel = m\ngpus = x\n",
		  "j.ini:8: gpus: expected a whole number, got 'x'" },
		{ "[job]\nmodel = m\ngpu = 2\n", "j.ini:3: unknown key 'gpu' (known: name, model, gpus, min-gpus, "
		  "max-gpus, rounds, weight, gpu-types, command, proxy, after)" },
		{ "[job]\nmodel = m\nmodel = n\n", "j.ini:3: model given twice" },
		{ "[jobs]\nmodel = m\n", "j.ini:1: unknown section [jobs] (expected [job])" },
		{ "[job]\nmodel=m\ngpus=1\nrounds=1\n[other]\n", "j.ini:5: unknown section [other] (expected [job])" },
		{ "[job]\nmodel = m\n  gpus = 2\n", "j.ini:3: indented line would continue the previous value; "
		  "start each key in the first column" },
		{ "[job]\nmodel = m\ngpus = 2\nrounds = 3\n\n[job]\nmodel = m\nthis is not a key\n",
		  "j.ini:8: syntax error (expected [section] or key = value)" },
		{ "[job\nmodel = m\n", "j.ini:1: section header without ']'" },
		{ "[job]\nmodel = m\ngpus = 4\nrounds = 9\nmin-gpus = 3\nmax-gpus = 2\n",
		  "j.ini:5: min-gpus (3) is greater than max-gpus (2)" },
		/* a conflict names the line of the key its message names first */
		{ "[job]\nmax-gpus = 8\nmodel = m\ngpus = 4\nrounds = 9\n",
		  "j.ini:2: max-gpus (8) is greater than gpus (4)" },
		{ "[job]\nmodel = m\ngpus = 4\nrounds = 9\ncommand = ./t\nproxy = layers=2\n",
		  "j.ini:6: proxy sizes are for the built-in worker: not with command" },
		{ long_line, "j.ini:2: line too long (at most 1024 bytes)" },
		{ long_command, "j.ini:5: command is longer than 511 bytes" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nname ;x = y\n",
		  "j.ini:5: syntax error (expected [section] or key = value)" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\ncommand = echo a ; echo b\n",
		  "j.ini:5: command: \" ;\" starts a comment here, so the command would end before "
		  "it; put the commands in a script, or write ';' with no space before it" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\ncommand = echo a\t; echo b\n",
		  "j.ini:5: command: \" ;\" starts a comment here, so the command would end before "
		  "it; put the commands in a script, or write ';' with no space before it" },
		/* after: names of earlier [job]s, errors at the job's after line */
		{ "[job]\nname = prep\nmodel = m\ngpus = 1\nrounds = 1\n\n[job]\nmodel = m\ngpus = 1\n"
		  "rounds = 1\nafter = prepp\n", "j.ini:11: after: no earlier [job] is named 'prepp'" },
		{ "[job]\nname = prep\nmodel = m\ngpus = 1\nrounds = 1\n[job]\nname = prep\nmodel = m\n"
		  "gpus = 1\nrounds = 1\n[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = 3, prep\n",
		  "j.ini:15: after: 2 earlier [job] sections are named 'prep'" },
		{ "[job]\nname = self\nmodel = m\ngpus = 1\nrounds = 1\nafter = self\n",
		  "j.ini:6: after: no earlier [job] is named 'self'" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = later\n[job]\nname = later\nmodel = m\n"
		  "gpus = 1\nrounds = 1\n", "j.ini:5: after: no earlier [job] is named 'later'" },
		{ "[job]\nname = prep\nmodel = m\ngpus = 1\nrounds = 1\n[job]\nmodel = m\ngpus = 1\n"
		  "rounds = 1\nafter = prep, 4, prep\n", "j.ini:10: after lists 'prep' twice" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = 4, 4\n", "j.ini:5: after lists job 4 twice" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = 4, notok:4\n", "j.ini:5: after lists job 4 twice" },
		{ "[job]\nname = prep\nmodel = m\ngpus = 1\nrounds = 1\n[job]\nmodel = m\ngpus = 1\n"
		  "rounds = 1\nafter = any:prep, notok:prep\n", "j.ini:10: after lists 'prep' twice" },
		{ "[job]\nname = prep\nmodel = m\ngpus = 1\nrounds = 1\n[job]\nmodel = m\ngpus = 1\n"
		  "rounds = 1\nafter = nay:prep\n",
		  "j.ini:10: after: no earlier [job] is named 'nay:prep' (the kinds are any: and notok:)" },
		/* digits are a job id: an earlier [job] named so is refused */
		{ "[job]\nname = 1\nmodel = m\ngpus = 1\nrounds = 1\n[job]\nmodel = m\ngpus = 1\n"
		  "rounds = 1\nafter = 1\n", "j.ini:10: after: '1' is a job id, and also the name of an "
		  "earlier [job]: rename that [job] to run after it" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = 0\n",
		  "j.ini:5: after: '0' is not a job id (want a number like 42)" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = 4,\n", "j.ini:5: after has an empty item" },
		{ "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter =\n", "j.ini:5: after is empty" },
	};

	(void)state;
	snprintf(long_line, sizeof(long_line), "[job]\ncommand = %01015d\n", 7);
	snprintf(long_command, sizeof(long_command), "[job]\nmodel = m\ngpus = 1\nrounds = 1\n"
		 "command = %0512d\n", 7);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cli_job *jobs = NULL;
		uint32_t n = 0;
		char err[256] = "";
		int rc = cli_jobfile_parse("j.ini", cases[i].text, &jobs, &n, err, sizeof(err));

		if (rc == 0 || strcmp(err, cases[i].msg) != 0)
			print_error("case %zu: rc %d, message '%s'\n  want '%s'\n", i, rc, err, cases[i].msg);
		assert_int_equal(rc, ERR_BAD_SPEC);
		assert_null(jobs);
		assert_string_equal(err, cases[i].msg);
	}
}

/* Lines are read here, not by inih (whose lines are at most 199 bytes): a
 * command of 511 bytes fits, and so does a line of 1024 bytes, with the
 * INI rules for what is key, value and comment. */
static void test_jobfile_long_lines(void **state)
{
	static char text[4096], command[CLI_JOB_COMMAND_MAX + 1], name[CLI_JOB_NAME_MAX + 1];
	struct cli_job *jobs = NULL;
	uint32_t n = 0;
	char err[256] = "";
	int len;

	(void)state;
	for (size_t i = 0; i < CLI_JOB_COMMAND_MAX; i++)
		command[i] = "python train.py --lr=0.1;x "[i % 27];
	command[CLI_JOB_COMMAND_MAX - 1] = 'z';
	memset(name, 'n', CLI_JOB_NAME_MAX);
	len = snprintf(text, sizeof(text), "[job]\r\nmodel = m\r\ngpus = 1\r\nrounds = 1\r\n"
		       "command  =\t%s%*s\r\n"
		       "[job]\nmodel: m\ngpus = 1\nrounds = 1\nname = %s   ; a comment%*s\ncommand =%s\n",
		       command, 1024 - (int)strlen("command  =\t") - CLI_JOB_COMMAND_MAX, "", name,
		       1024 - (int)strlen("name =    ; a comment") - CLI_JOB_NAME_MAX, "", command);
	assert_true(len > 0 && (size_t)len < sizeof(text));
	if (cli_jobfile_parse("long.ini", text, &jobs, &n, err, sizeof(err)) != 0)
		fail_msg("a job file with lines of 1024 bytes: '%s'", err);
	assert_int_equal(n, 2);
	assert_int_equal(strlen(jobs[0].command), CLI_JOB_COMMAND_MAX);
	assert_string_equal(jobs[0].command, command);
	assert_string_equal(jobs[1].name, name);
	assert_string_equal(jobs[1].command, command);
	assert_string_equal(jobs[1].model, "m");
	assert_int_equal(jobs[1].line, 6);
	free(jobs);
}

/* A pipeline: after names earlier [job]s; digits are always an id (a
 * [job] named 8 is no [job] named 7); the spec sends the ids hared gave
 * the jobs named. */
static const char after_jobfile[] =
	"[job]\n"
	"name = prep\n"
	"model = m\n"
	"gpus = 1\n"
	"rounds = 1\n"
	"\n"
	"[job]\n"
	"name = 8\n"
	"model = m\n"
	"gpus = 1\n"
	"rounds = 1\n"
	"after = 41\n"
	"\n"
	"[job]\n"
	"name = train run\n"
	"model = m\n"
	"gpus = 2\n"
	"rounds = 9\n"
	"after =  prep , 7\n"
	"\n"
	"[job]\n"
	"model = m\n"
	"gpus = 1\n"
	"rounds = 1\n"
	"after = train run,any:prep,notok:41\n";

static void test_jobfile_after(void **state)
{
	static const uint64_t ids[] = { 101, 102, 103, 104 };
	struct cli_job *jobs = NULL;
	uint32_t n = 0;
	char err[256] = "";
	struct cli_spec_refs refs;
	Hare__JobSpec spec;

	(void)state;
	assert_int_equal(cli_jobfile_parse("jobs.ini", after_jobfile, &jobs, &n, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(n, 4);
	assert_int_equal(jobs[0].nafter, 0);
	/* "41" is job 41 */
	assert_int_equal(jobs[1].nafter, 1);
	assert_int_equal(jobs[1].after[0], 41);
	assert_int_equal(jobs[1].after_ref[0], -1);
	/* by name, and "7" is job 7 */
	assert_int_equal(jobs[2].nafter, 2);
	assert_int_equal(jobs[2].after_ref[0], 0);
	assert_int_equal(jobs[2].after_ref[1], -1);
	assert_int_equal(jobs[2].after[1], 7);
	assert_int_equal(jobs[3].nafter, 3);
	assert_int_equal(jobs[3].after_ref[0], 2);
	assert_int_equal(jobs[3].after_ref[1], 0);
	assert_int_equal(jobs[3].after_ref[2], -1);

	cli_job_to_spec(&jobs[2], ids, &spec, &refs);
	assert_int_equal(spec.n_after, 2);
	assert_int_equal(spec.after[0], 101);
	assert_int_equal(spec.after[1], 7);
	cli_job_to_spec(&jobs[3], ids, &spec, &refs);
	assert_int_equal(spec.n_after, 1);
	assert_int_equal(spec.after[0], 103);
	assert_int_equal(spec.n_after_any, 1);
	assert_int_equal(spec.after_any[0], 101);
	assert_int_equal(spec.n_after_notok, 1);
	assert_int_equal(spec.after_notok[0], 41);
	cli_job_to_spec(&jobs[0], ids, &spec, &refs);
	assert_int_equal(spec.n_after, 0);
	assert_null(spec.after);
	free(jobs);
}

static void test_jobfile_load(void **state)
{
	char path[80];
	int fd;
	struct cli_job *jobs = NULL;
	uint32_t n = 0;
	char err[512];

	(void)state;
	tmp_template(path, sizeof(path), "hare-test-jobfile");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good_jobfile, strlen(good_jobfile)), (ssize_t)strlen(good_jobfile));
	close(fd);
	assert_int_equal(cli_jobfile_load(path, &jobs, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	free(jobs);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "\0", 1), 1);
	close(fd);
	assert_int_equal(cli_jobfile_load(path, &jobs, &n, err, sizeof(err)), ERR_BAD_SPEC);
	assert_non_null(strstr(err, "not a text file (has a NUL byte)"));
	unlink(path);
	assert_int_equal(cli_jobfile_load(path, &jobs, &n, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, ": No such file or directory"));
}

/* ---- formatting ---- */

static void test_json_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "a\"b\\c/d", "a\\\"b\\\\c/d" },
		{ "\n\t\r\b\f", "\\n\\t\\r\\b\\f" },
		{ "\x01\x1f\x7f", "\\u0001\\u001f\\u007f" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\xff", "\\ufffd" },
		{ "a\xc3", "a\\ufffd" },
		{ "\xc0\xaf", "\\ufffd\\ufffd" },
		{ "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd" },
		{ "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },
		{ "\xe2\x82", "\\ufffd\\ufffd" },
		{ "\xe0\x80\x80", "\\ufffd\\ufffd\\ufffd" },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cli_json_escape(cases[i].in, buf, sizeof(buf));

		assert_string_equal(buf, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* Truncated like snprintf: returns what it needs. */
	assert_int_equal(cli_json_escape("abcdefgh", buf, 5), 8);
	assert_string_equal(buf, "abcd");
	assert_int_equal(cli_json_escape("\n", NULL, 0), 2);
	assert_true(cli_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80"));
	{
		/* a cell shows bytes that start no valid character as '?' */
		char cell[32] = "a\xff\xfe\xc3\xa9" "b\xe6\x97";

		cli_controls_mask(cell, sizeof(cell), false);
		assert_string_equal(cell, "a??\xc3\xa9" "b??");
	}
	{
		/* and a bidirectional override (stored by an older hared) */
		char cell[32] = "ab\xe2\x80\xae" "cd\xe2\x80\x94";

		cli_controls_mask(cell, sizeof(cell), false);
		assert_string_equal(cell, "ab???cd\xe2\x80\x94");
	}
	assert_false(cli_utf8_valid("caf\xe9"));
	assert_false(cli_utf8_valid("\xed\xa0\x80"));
}

static void test_time_format(void **state)
{
	char b[64];

	(void)state;
	cli_time_format(NOW + 0.4, NOW, false, b, sizeof(b));
	assert_string_equal(b, "now");
	cli_time_format(NOW + 45, NOW, false, b, sizeof(b));
	assert_string_equal(b, "in 45s");
	cli_time_format(NOW - 150, NOW, false, b, sizeof(b));
	assert_string_equal(b, "2m30s ago");
	cli_time_format(NOW + 110, NOW, true, b, sizeof(b));	/* not "1m": 50 s more */
	assert_string_equal(b, "~in 1m50s");
	cli_time_format(NOW + 1710, NOW, true, b, sizeof(b));	/* 28.5 min: the nearest */
	assert_string_equal(b, "~in 29m");
	cli_time_format(NOW + 3590, NOW, true, b, sizeof(b));
	assert_string_equal(b, "~in 1h00m");
	cli_time_format(NOW + 180, NOW, true, b, sizeof(b));
	assert_string_equal(b, "~in 3m");
	cli_time_format(NOW - 600, NOW, true, b, sizeof(b));
	assert_string_equal(b, "~now");
	cli_time_format(NOW + 2 * 3600 + 5 * 60 + 10, NOW, false, b, sizeof(b));
	assert_string_equal(b, "in 2h05m");
	cli_time_format(NOW + 2 * 86400, NOW, true, b, sizeof(b));
	assert_string_equal(b, "~2023-11-16T22:13");
	cli_time_format(NOW - 86400, NOW, false, b, sizeof(b));
	assert_string_equal(b, "2023-11-13T22:13");
	/* no time_t holds these (found by fuzz_clireply) */
	cli_time_format(1e300, NOW, false, b, sizeof(b));
	assert_string_equal(b, "-");
	cli_time_format(-9.3e18, NOW, false, b, sizeof(b));
	assert_string_equal(b, "-");
	cli_progress_format(1234, 5000, b, sizeof(b));
	assert_string_equal(b, "1234/5000 (24.7%)");
	cli_progress_format(0, 0, b, sizeof(b));
	assert_string_equal(b, "0/0");
}

/* A hand-made reply: a running job on mixed GPUs, a queued one with a name
 * that has a newline, a finished one. */
static Hare__JobPlacement p0 = { PROTOBUF_C_MESSAGE_INIT(&hare__job_placement__descriptor), "n1", 0, "V100", 2 };
static Hare__JobPlacement p1 = { PROTOBUF_C_MESSAGE_INIT(&hare__job_placement__descriptor), "n1", 1, "V100", 1 };
static Hare__JobPlacement p2 = { PROTOBUF_C_MESSAGE_INIT(&hare__job_placement__descriptor), "n2", 0, "T4", 1 };
static Hare__JobPlacement *places[] = { &p0, &p1, &p2 };
static char *types13[] = { "V100", "T4" };
static Hare__JobInfo j12 = HARE__JOB_INFO__INIT, j13 = HARE__JOB_INFO__INIT, j9 = HARE__JOB_INFO__INIT;
static Hare__JobInfo *jobs3[] = { &j12, &j13, &j9 };
static Hare__QueueReply queue3 = HARE__QUEUE_REPLY__INIT;

static Hare__NodeGpu g0 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_gpu__descriptor), 0, "V100", 1, 12, 1, 1, 0, 0, 0, 0, 0, 0 };
static Hare__NodeGpu g1 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_gpu__descriptor), 1, "V100", 0, 0, 1, 1, 1, 1, 0, 0, 0, 0 };	/* stopping */
static Hare__NodeGpu g2 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_gpu__descriptor), 2, "T4", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
static Hare__NodeGpu *n1gpus[] = { &g0, &g1, &g2 };
static Hare__NodeGpu *n2gpus[] = { &g2 };
static Hare__NodeInfo node1 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_info__descriptor), "n1", 1, 3, n1gpus, 1, NOW,
				 0, 0, NULL, 1, 3, 0, 0, 0, 0, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, 0 };
static Hare__NodeInfo node2 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_info__descriptor), "n2", 0, 1, n2gpus, 0, 0,
				 1, 1, "fan noise", 0, 0, 0, 0, 0, 0, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, 0 };
static Hare__NodeInfo *nodes2[] = { &node1, &node2 };
static Hare__NodesReply nodes_reply = HARE__NODES_REPLY__INIT;

static void fixtures_fill(void)
{
	j12.job_id = 12;
	j12.user = "alice";
	j12.name = "resnet-a";
	j12.model = "resnet50";
	j12.state = HARE__JOB_STATE__RUNNING;
	j12.tasks = 4;
	j12.rounds_total = 5000;
	j12.rounds_done = 1234;
	j12.weight = 1;
	j12.n_placement = 3;
	j12.placement = places;
	j12.has_order = 1;
	j12.order = 0;
	j12.has_submit_time = 1;
	j12.submit_time = NOW - 300;
	j12.has_start_time = 1;
	j12.start_time = NOW - 120;
	j12.has_est_finish = 1;
	j12.est_finish = NOW + 180;
	j12.has_loss = 1;
	j12.loss = 0.5;

	j13.job_id = 13;
	j13.user = "bob";
	j13.name = "sweep\n1";
	j13.model = "bert";
	j13.state = HARE__JOB_STATE__QUEUED;
	j13.tasks = 8;
	j13.has_min_gpus = 1;
	j13.min_gpus = 2;
	j13.rounds_total = 100;
	j13.weight = 0.1;
	j13.has_order = 1;
	j13.order = 1;
	j13.has_est_start = 1;
	j13.est_start = NOW + 2 * 3600 + 300;
	j13.has_est_finish = 1;
	j13.est_finish = NOW + 2 * 86400;
	j13.n_gpu_types = 2;
	j13.gpu_types = types13;

	j9.job_id = 9;
	j9.user = "carol";
	j9.name = "";
	j9.model = "lm";
	j9.state = HARE__JOB_STATE__DONE;
	j9.tasks = 1;
	j9.rounds_total = 10;
	j9.rounds_done = 10;
	j9.weight = 3;
	j9.has_start_time = 1;
	j9.start_time = NOW - 7200;
	j9.has_finish_time = 1;
	j9.finish_time = NOW - 45;
	j9.has_restarts = 1;
	j9.restarts = 2;

	queue3.n_jobs = 3;
	queue3.jobs = jobs3;
	queue3.has_lp_bound_s = 1;
	queue3.lp_bound_s = 1234.5;
	nodes_reply.n_nodes = 2;
	nodes_reply.nodes = nodes2;
}

static void test_queue_table(void **state)
{
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_queue_print(f, &queue3, NOW), 0);
	fclose(f);
	assert_string_equal(buf,
		"JOBID  USER   NAME      STATE    GPUS  TYPES        PROGRESS           ORDER  START      FINISH\n"
		"12     alice  resnet-a  RUNNING  3     2xV100+1xT4  1234/5000 (24.7%)  1      2m ago     ~in 3m\n"
		"13     bob    sweep?1   QUEUED   2-8   V100,T4      0/100 (0.0%)       2      ~in 2h05m  ~2023-11-16T22:13\n"
		"9      carol  -         DONE     1     any          10/10 (100.0%)     -      2h00m ago  45s ago\n");
	free(buf);
}

/* A name of wide characters (CJK, 2 columns each) pads by display width,
 * so the next column lines up (harectl's main sets LC_CTYPE to C.UTF-8). */
static void test_queue_table_wide(void **state)
{
	char *old = j12.name;
	char *saved = strdup(setlocale(LC_CTYPE, NULL));
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	if (!setlocale(LC_CTYPE, "C.UTF-8") && !setlocale(LC_CTYPE, "C.utf8")) {
		free(saved);
		skip();
	}
	j12.name = (char *)"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";	/* 3 CJK characters, 6 columns */
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_queue_print(f, &queue3, NOW), 0);
	fclose(f);
	j12.name = old;
	setlocale(LC_CTYPE, saved);
	free(saved);
	/* NAME is 7 columns wide (sweep?1) */
	assert_non_null(strstr(buf, "JOBID  USER   NAME     STATE"));
	assert_non_null(strstr(buf, "12     alice  \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e   RUNNING"));
	assert_non_null(strstr(buf, "13     bob    sweep?1  QUEUED"));
	free(buf);
}

static void test_queue_json(void **state)
{
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	f = open_memstream(&buf, &len);
	cli_queue_print_json(f, &queue3);
	fclose(f);
	assert_string_equal(buf,
		"{\"jobs\":[\n"
		"  {\"job_id\":12,\"user\":\"alice\",\"name\":\"resnet-a\",\"model\":\"resnet50\",\"state\":\"RUNNING\","
		"\"tasks\":4,\"rounds_total\":5000,\"rounds_done\":1234,\"weight\":1,\"placement\":["
		"{\"node\":\"n1\",\"gpu_index\":0,\"gpu_type\":\"V100\",\"tasks\":2},"
		"{\"node\":\"n1\",\"gpu_index\":1,\"gpu_type\":\"V100\",\"tasks\":1},"
		"{\"node\":\"n2\",\"gpu_index\":0,\"gpu_type\":\"T4\",\"tasks\":1}],\"order\":0,"
		"\"submit_time\":1699999700,\"start_time\":1699999880,\"est_finish\":1700000180,\"gpu_types\":[],"
		"\"loss\":0.5},\n"
		"  {\"job_id\":13,\"user\":\"bob\",\"name\":\"sweep\\n1\",\"model\":\"bert\",\"state\":\"QUEUED\","
		"\"tasks\":8,\"min_gpus\":2,\"rounds_total\":100,\"rounds_done\":0,\"weight\":0.1,\"placement\":[],"
		"\"order\":1,\"est_start\":1700007500,\"est_finish\":1700172800,\"gpu_types\":[\"V100\",\"T4\"]},\n"
		"  {\"job_id\":9,\"user\":\"carol\",\"name\":\"\",\"model\":\"lm\",\"state\":\"DONE\",\"tasks\":1,"
		"\"rounds_total\":10,\"rounds_done\":10,\"weight\":3,\"placement\":[],\"start_time\":1699992800,"
		"\"finish_time\":1699999955,\"restarts\":2,\"gpu_types\":[]}\n"
		"],\"lp_bound_s\":1234.5}\n");
	free(buf);

	/* An empty queue is still a document. */
	{
		Hare__QueueReply empty = HARE__QUEUE_REPLY__INIT;

		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_queue_print_json(f, &empty);
		fclose(f);
		assert_string_equal(buf, "{\"jobs\":[]}\n");
		free(buf);
	}
}

/* The daemon's plan count and decision latency: a footer line in the
 * table, fields in JSON; absent when an older daemon did not send them. */
static void test_queue_plans(void **state)
{
	Hare__QueueReply q = HARE__QUEUE_REPLY__INIT;
	Hare__JobInfo *one[] = { &j9 };
	char *buf = NULL;
	size_t len;
	FILE *f;

	(void)state;
	q.n_jobs = 1;
	q.jobs = one;
	q.has_plans = q.has_plan_p50_ms = q.has_plan_p99_ms = 1;
	q.plans = 42;
	q.plan_p50_ms = 1.25;
	q.plan_p99_ms = 17.5;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_queue_print(f, &q, NOW), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\nplans: 42  decision latency p50 1.25 ms, p99 17.5 ms\n"));
	assert_true(buf[len - 1] == '\n' && strstr(buf, "p99 17.5 ms\n") == buf + len - 12);
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_queue_print_json(f, &q);
	fclose(f);
	assert_non_null(strstr(buf, "],\"plans\":42,\"plan_p50_ms\":1.25,\"plan_p99_ms\":17.5}\n"));
	free(buf);
	/* No plan yet: the count only. */
	q.has_plan_p50_ms = q.has_plan_p99_ms = 0;
	q.plans = 0;
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_queue_print(f, &q, NOW), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\nplans: 0\n"));
	assert_null(strstr(buf, "latency"));
	free(buf);
}

static void test_show(void **state)
{
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	f = open_memstream(&buf, &len);
	cli_job_print(f, &j12, NOW);
	fclose(f);
	assert_string_equal(buf,
		"job_id:      12\n"
		"name:        resnet-a\n"
		"user:        alice\n"
		"model:       resnet50\n"
		"state:       RUNNING\n"
		"tasks:       4\n"
		"min_gpus:    1 (default)\n"
		"max_gpus:    4 (default)\n"
		"gpu_types:   any\n"
		"weight:      1\n"
		"rounds:      1234/5000 (24.7%)\n"
		"loss:        0.5\n"
		"order:       1\n"
		"placement:   n1/0 V100 x2, n1/1 V100 x1, n2/0 T4 x1\n"
		"submit_time: 2023-11-14T22:08:20+0000 (5m ago)\n"
		"start_time:  2023-11-14T22:11:20+0000 (2m ago)\n"
		"finish_time: -\n"
		"est_start:   -\n"
		"est_finish:  2023-11-14T22:16:20+0000 (~in 3m)\n"
		"gpu_hours:   -\n"
		"restarts:    0\n");
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_job_print_json(f, &j9);
	fclose(f);
	assert_string_equal(buf,
		"{\"job_id\":9,\"user\":\"carol\",\"name\":\"\",\"model\":\"lm\",\"state\":\"DONE\",\"tasks\":1,"
		"\"rounds_total\":10,\"rounds_done\":10,\"weight\":3,\"placement\":[],\"start_time\":1699992800,"
		"\"finish_time\":1699999955,\"restarts\":2,\"gpu_types\":[]}\n");
	free(buf);

	/* its command, when hared gives it (its owner, root) */
	{
		Hare__JobInfo cmd = j13;

		cmd.command = "python3 train.py --lr 0.1";
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print(f, &cmd, NOW);
		cli_job_print_json(f, &cmd);
		fclose(f);
		assert_non_null(strstr(buf, "\ncommand:     python3 train.py --lr 0.1\nstate:"));
		assert_non_null(strstr(buf, ",\"command\":\"python3 train.py --lr 0.1\","));
		free(buf);
	}

	/* a job held by root: show says so, queue shows HELD, JSON "held" */
	{
		Hare__JobInfo held = j13;
		Hare__JobInfo *one[] = { &held };
		Hare__QueueReply q = HARE__QUEUE_REPLY__INIT;

		held.has_held = true;
		held.held = HARE__JOB_HELD__JOB_HELD_ADMIN;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print(f, &held, NOW);
		fclose(f);
		assert_non_null(strstr(buf, "state:       QUEUED\n"
					"held:        yes, by root, who alone may release it (harectl release 13)\n"));
		free(buf);
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print_json(f, &held);
		fclose(f);
		assert_non_null(strstr(buf, ",\"held\":\"root\""));
		free(buf);
		/* cancelled while held (an older hared still sends the hold): not held */
		held.state = HARE__JOB_STATE__CANCELLED;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print_json(f, &held);
		cli_job_print(f, &held, NOW);
		fclose(f);
		assert_null(strstr(buf, "held"));
		free(buf);
		held.state = HARE__JOB_STATE__QUEUED;
		q.n_jobs = 1;
		q.jobs = one;
		buf = NULL;
		f = open_memstream(&buf, &len);
		assert_int_equal(cli_queue_print(f, &q, NOW), 0);
		fclose(f);
		assert_non_null(strstr(buf, "\n13     bob   sweep?1  HELD "));
		free(buf);
		{
			char *nodes[2] = { "n1", "n3" };

			held.n_avoided_nodes = 2;
			held.avoided_nodes = nodes;
			buf = NULL;
			f = open_memstream(&buf, &len);
			cli_job_print(f, &held, NOW);
			fclose(f);
			assert_non_null(strstr(buf, "\navoiding:    n1, n3 (its workers failed there)\n"));
			free(buf);
			buf = NULL;
			f = open_memstream(&buf, &len);
			cli_job_print_json(f, &held);
			fclose(f);
			assert_non_null(strstr(buf, ",\"avoided_nodes\":[\"n1\",\"n3\"]"));
			free(buf);
			held.n_avoided_nodes = 0;
			held.avoided_nodes = NULL;
		}
		held.held = HARE__JOB_HELD__JOB_HELD_OWNER;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print(f, &held, NOW);
		fclose(f);
		assert_non_null(strstr(buf, "held:        yes, by its owner (harectl release 13)\n"));
		free(buf);
	}

	/* a failed lease's reason, in both forms */
	{
		Hare__JobInfo failed = j9;

		failed.state = HARE__JOB_STATE__FAILED;
		failed.waiting = "no GPU it can use is up now";
		failed.last_error = "rank 0 on node n1 GPU 2 failed (exit code 3: \"x\")";
		failed.has_last_error_time = true;
		failed.last_error_time = NOW - 60;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print(f, &failed, NOW);
		fclose(f);
		assert_non_null(strstr(buf, "\nwaiting:     no GPU it can use is up now\n"));
		assert_non_null(strstr(buf, "restarts:    2\n"
					"last_error:  rank 0 on node n1 GPU 2 failed (exit code 3: \"x\")\n"
					"error_time:  2023-11-14T22:12:20+0000 (1m ago)\n"));
		free(buf);
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print_json(f, &failed);
		fclose(f);
		assert_non_null(strstr(buf, ",\"last_error\":\"rank 0 on node n1 GPU 2 failed (exit code "
					"3: \\\"x\\\")\",\"last_error_time\":1699999940}"));
		free(buf);
	}
}

/* Print q as harectl queue with the given arguments: the exit status, the
 * output in *buf (free()). */
static int queue_print_args(const Hare__QueueReply *q, char **buf, int argc, char *const *argv)
{
	static struct cli_args a;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	char msg[256];
	size_t len;
	FILE *f;
	int rc;

	assert_int_equal(cli_args_parse(argc, argv, &a, msg, sizeof(msg)), 0);
	m.msg_case = HARE__FROM_DAEMON__MSG_QUEUE_REPLY;
	m.queue_reply = (Hare__QueueReply *)q;
	*buf = NULL;
	f = open_memstream(buf, &len);
	rc = cli_reply_print(&a, &m, f, stderr, NOW);
	fclose(f);
	return rc;
}

#define QUEUE_PRINT(q, buf, ...) queue_print_args((q), (buf), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

/* Jobs that run after others: WAITING in queue's table (HELD wins), the
 * waiting bit of --state (not in queued), show's after line, JSON. */
static void test_after_output(void **state)
{
	static uint64_t after[] = { 41, 42 }, pending[] = { 42 };
	Hare__JobInfo waiting = j13, held = j13, plain = j13, done = j9;
	Hare__JobInfo *jobs[] = { &waiting, &held, &plain, &done };
	Hare__QueueReply q = HARE__QUEUE_REPLY__INIT;
	char *buf = NULL, *line;
	size_t len;
	FILE *f;

	(void)state;
	waiting.job_id = 20;
	waiting.name = "train";
	waiting.n_after = 2;
	waiting.after = after;
	waiting.n_after_pending = 1;
	waiting.after_pending = pending;
	held = waiting;
	held.job_id = 21;
	held.name = "held";
	held.has_held = true;
	held.held = HARE__JOB_HELD__JOB_HELD_OWNER;
	plain.job_id = 22;
	plain.name = "plain";
	done.job_id = 23;
	done.n_after = 2;
	done.after = after;
	q.n_jobs = 4;
	q.jobs = jobs;

	assert_int_equal(QUEUE_PRINT(&q, &buf, "queue"), CLI_EXIT_OK);
	assert_non_null(strstr(buf, "\n20     bob    train  WAITING  "));
	/* START: no estimate, the job it waits for */
	line = strstr(buf, "\n20 ");
	assert_true(strstr(line, "  after 42  ") && strstr(line, "  after 42  ") < strchr(line + 1, '\n'));
	assert_non_null(strstr(buf, "\n21     bob    held   HELD     "));
	assert_non_null(strstr(buf, "\n22     bob    plain  QUEUED   "));
	assert_non_null(strstr(buf, "\n23     carol  -      DONE     "));
	free(buf);
	assert_int_equal(QUEUE_PRINT(&q, &buf, "queue", "--state", "waiting"), CLI_EXIT_OK);
	assert_non_null(strstr(buf, "\n20 "));
	assert_null(strstr(buf, "\n21 "));
	assert_null(strstr(buf, "\n22 "));
	assert_null(strstr(buf, "\n23 "));
	free(buf);
	assert_int_equal(QUEUE_PRINT(&q, &buf, "queue", "-s", "queued"), CLI_EXIT_OK);
	assert_null(strstr(buf, "\n20 "));
	assert_null(strstr(buf, "\n21 "));
	assert_non_null(strstr(buf, "\n22 "));
	free(buf);
	assert_int_equal(QUEUE_PRINT(&q, &buf, "queue", "-s", "held,WAITING"), CLI_EXIT_OK);
	assert_non_null(strstr(buf, "\n20 "));
	assert_non_null(strstr(buf, "\n21 "));
	assert_null(strstr(buf, "\n22 "));
	free(buf);
	assert_int_equal(QUEUE_PRINT(&q, &buf, "queue", "-s", "waiting", "-o", "json"), CLI_EXIT_OK);
	assert_true(strncmp(buf, "{\"jobs\":[\n  {\"job_id\":20,", 25) == 0);
	assert_non_null(strstr(buf, ",\"after\":[41,42],\"after_pending\":[42]"));
	assert_null(strstr(buf, "\"job_id\":21"));
	free(buf);

	/* show: after the state (and held) lines */
	f = open_memstream(&buf, &len);
	cli_job_print(f, &waiting, NOW);
	fclose(f);
	assert_non_null(strstr(buf, "\nstate:       QUEUED\nafter:       41 (done), 42 (waiting)\ntasks:"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_job_print(f, &held, NOW);
	fclose(f);
	assert_non_null(strstr(buf, "(harectl release 21)\nafter:       41 (done), 42 (waiting)\ntasks:"));
	free(buf);
	/* cancelled: bare ids (hared does not say which were done) */
	held.state = HARE__JOB_STATE__CANCELLED;
	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_job_print(f, &held, NOW);
	fclose(f);
	assert_non_null(strstr(buf, "\nstate:       CANCELLED\nafter:       41, 42\ntasks:"));
	free(buf);
	/* kinds: prefixed, and how a job no longer waited for ended */
	{
		static uint64_t all[] = { 41, 42, 43, 44 }, any[] = { 42, 43 }, notok[] = { 44 };
		static uint64_t still[] = { 43, 44 };

		held = waiting;
		held.n_after = 4;
		held.after = all;
		held.n_after_any = 2;
		held.after_any = any;
		held.n_after_notok = 1;
		held.after_notok = notok;
		held.n_after_pending = 2;
		held.after_pending = still;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print(f, &held, NOW);
		fclose(f);
		assert_non_null(strstr(buf, "\nafter:       41 (done), any:42 (ended), any:43 (waiting), "
				       "notok:44 (waiting)\n"));
		free(buf);
		held.n_after_pending = 0;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print(f, &held, NOW);
		fclose(f);
		assert_non_null(strstr(buf, "notok:44 (ended, not DONE)\n"));
		free(buf);
		held.n_after_pending = 2;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_job_print_json(f, &held);
		fclose(f);
		assert_non_null(strstr(buf, "\"after\":[41,42,43,44],\"after_pending\":[43,44],"
				       "\"after_any\":[42,43],\"after_notok\":[44]"));
		free(buf);
	}
	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_job_print(f, &done, NOW);
	cli_job_print(f, &plain, NOW);
	fclose(f);
	assert_non_null(strstr(buf, "\nafter:       41 (done), 42 (done)\n"));
	assert_null(strstr(strstr(buf, "job_id:      22"), "after:"));
	free(buf);

	/* JSON: both lists when not empty, none without them */
	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_job_print_json(f, &done);
	cli_job_print_json(f, &plain);
	fclose(f);
	assert_non_null(strstr(buf, "\"restarts\":2,\"gpu_types\":[],\"after\":[41,42]}\n"));
	assert_null(strstr(buf, "after_pending"));
	assert_null(strstr(strchr(buf, '\n'), "after"));
	free(buf);
}

/* cli_reply_print: what harectl prints for each reply, and a reply of the
 * wrong kind or with times no time_t holds (found by fuzz_clireply). */
static void test_reply_print(void **state)
{
	Hare__ShowReply show = HARE__SHOW_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__JobInfo far = j12;
	struct cli_args a = { .cmd = CLI_CMD_SHOW };
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	far.start_time = 1e300;
	far.est_finish = 9.3e18;
	show.job = &far;
	m.msg_case = HARE__FROM_DAEMON__MSG_SHOW_REPLY;
	m.show_reply = &show;
	assert_int_equal(cli_reply_case(CLI_CMD_UNDRAIN), HARE__FROM_DAEMON__MSG_DRAIN_REPLY);
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	a.cmd = CLI_CMD_QUEUE;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_FAIL);
	fclose(f);
	assert_non_null(strstr(buf, "\nstart_time:  -\n"));
	assert_non_null(strstr(buf, "\nest_finish:  -\n"));
	assert_non_null(strstr(buf, "\nsubmit_time: 2023-11-14T22:08:20+0000 (5m ago)\n"));
	free(buf);
}

/* wait's line for a job that ended, and its exit status: DONE 0, else 1;
 * why it ended as show has it, control characters masked; -o json. */
static void test_wait_print(void **state)
{
	Hare__ShowReply show = HARE__SHOW_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__JobInfo j = j12;
	struct cli_args a = { .cmd = CLI_CMD_WAIT };
	char *buf = NULL;
	size_t len;
	FILE *f;

	(void)state;
	show.job = &j;
	m.msg_case = HARE__FROM_DAEMON__MSG_SHOW_REPLY;
	m.show_reply = &show;
	assert_int_equal(cli_reply_case(CLI_CMD_WAIT), HARE__FROM_DAEMON__MSG_SHOW_REPLY);
	f = open_memstream(&buf, &len);
	j.state = HARE__JOB_STATE__DONE;
	j.last_error = "an earlier lease failed";	/* not why a DONE job ended */
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	j.state = HARE__JOB_STATE__FAILED;
	j.last_error = "rank 0 on node n1 GPU 0 failed (exit code 3; last output: \033[31mboom)";
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_FAIL);
	j.state = HARE__JOB_STATE__CANCELLED;
	j.end_reason = "cancelled by alice";
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_FAIL);
	j.end_reason = NULL;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_FAIL);
	a.json = true;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_FAIL);
	fclose(f);
	assert_non_null(strstr(buf, "job 12: DONE\n"
				    "job 12: FAILED: rank 0 on node n1 GPU 0 failed (exit code 3; last output: ?[31mboom)\n"
				    "job 12: CANCELLED: cancelled by alice\n"
				    "job 12: CANCELLED\n"
				    "{\"job_id\":12,"));
	assert_non_null(strstr(buf, "\"state\":\"CANCELLED\""));
	free(buf);
}

/* A queue hared cut (QueueReply.cut_jobs): the jobs it sent, and a line on
 * stderr saying how many it left out, which, and what helps: --user and
 * --state choose among the jobs sent; without --all only active jobs are
 * sent. JSON has the count. */
static void test_reply_queue_cut(void **state)
{
	Hare__QueueReply q = HARE__QUEUE_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__JobInfo *two[] = { &j12, &j13 };
	struct cli_args a = { .cmd = CLI_CMD_QUEUE };
	char *out = NULL, *err = NULL;
	size_t olen, elen;
	FILE *fo, *fe;

	(void)state;
	q.n_jobs = 2;
	q.jobs = two;
	q.has_cut_jobs = 1;
	q.cut_jobs = 99998;
	m.msg_case = HARE__FROM_DAEMON__MSG_QUEUE_REPLY;
	m.queue_reply = &q;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_non_null(strstr(out, "\n12 "));
	assert_non_null(strstr(out, "\n13 "));
	assert_string_equal(err, "harectl: 99998 more jobs not shown (the newest): the queue is more "
			    "than one reply of hared holds; harectl show JOBID shows any job\n");
	free(out);
	free(err);
	/* --user is hared's to apply (an older hared sends all: harectl still
	 * keeps bob's only); --state chooses among the jobs sent */
	a.user = "bob";
	a.states = ~0u & ~(uint32_t)CLI_STATES_FINAL;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_null(strstr(out, "\n12 "));
	assert_non_null(strstr(out, "\n13 "));
	assert_string_equal(err, "harectl: 99998 more jobs not shown (the newest): the queue is more "
			    "than one reply of hared holds; --state chooses among the jobs sent, so some "
			    "left out may match too; harectl show JOBID shows any job\n");
	free(out);
	free(err);
	a.states = 0;
	/* --all: finished jobs went first */
	a.user = NULL;
	a.all = true;
	q.cut_jobs = 1;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_string_equal(err, "harectl: 1 more job not shown (finished ones first, the oldest "
			    "first, then the newest active ones): the queue is more than one reply "
			    "of hared holds; without --all (and finished states in --state) hared "
			    "sends active jobs only\n");
	free(out);
	free(err);
	/* JSON: the count, nothing on stderr */
	a.json = true;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_non_null(strstr(out, "],\"cut_jobs\":1}\n"));
	assert_string_equal(err, "");
	free(out);
	free(err);
	/* not cut: no line (an older hared sends no count) */
	a.json = false;
	q.cut_jobs = 0;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_string_equal(err, "");
	free(out);
	free(err);
}

/* A submission accepted with a warning: the id on stdout, the warning on
 * stderr (control characters masked), exit 0. */
static void test_reply_submit_warning(void **state)
{
	Hare__SubmitReply r = HARE__SUBMIT_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	struct cli_args a = { .cmd = CLI_CMD_SUBMIT };
	char *out = NULL, *err = NULL;
	size_t olen, elen;
	FILE *fo, *fe;

	(void)state;
	r.job_id = 7;
	r.warning = "no GPU it can use is up now\x1b[2J";
	m.msg_case = HARE__FROM_DAEMON__MSG_SUBMIT_REPLY;
	m.submit_reply = &r;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_string_equal(out, "7\n");
	assert_string_equal(err, "harectl: warning: job 7: no GPU it can use is up now?[2J\n");
	free(out);
	free(err);
}

/* harectl logs: parsing; parts oldest first under headers when there are
 * several, control characters masked (a lone CR as a line break), --lines
 * across parts, notes on stderr; no part is exit 1. */
static void test_logs_output(void **state)
{
	Hare__LogPart lp1 = HARE__LOG_PART__INIT, lp2 = HARE__LOG_PART__INIT, *pp[2] = { &lp1, &lp2 };
	Hare__LogsReply r = HARE__LOGS_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	char *missing[] = { "n3: down\x1b[2J" };
	struct cli_args a;
	char msg[256], *out = NULL, *err = NULL;
	size_t olen, elen;
	FILE *fo, *fe;

	(void)state;
	assert_int_equal(PARSE(&a, msg, "logs", "12", "-r", "3", "-n", "5", "--bytes", "100"), 0);
	assert_true(a.cmd == CLI_CMD_LOGS && a.nids == 1 && a.ids[0] == 12);
	assert_true(a.has_rank && a.rank == 3 && a.lines == 5 && a.max_bytes == 100);
	assert_int_equal(PARSE(&a, msg, "logs", "12"), 0);
	assert_true(!a.has_rank && a.lines == 0 && a.max_bytes == 0);
	assert_non_null(strstr(cli_help_text(CLI_CMD_LOGS), "Usage: harectl logs JOBID"));
	assert_non_null(strstr(cli_help_text(CLI_CMD_NONE), "  logs      "));

	lp1.node = "n1";
	lp1.path = "/w/logs/job-12.rank-0.log";
	lp1.data.data = (uint8_t *)"old 1\nold 2";	/* no newline at its end */
	lp1.data.len = 11;
	lp1.size = 11;
	lp2.node = "n2";
	lp2.path = "/w/logs/job-12.rank-0.log";
	lp2.data.data = (uint8_t *)"new\x1b[31m 1\r\nbar 10%\rbar 20%\n\0x\n";
	lp2.data.len = 31;
	lp2.size = 31;
	r.job_id = 12;
	r.parts = pp;
	r.n_parts = 2;
	r.missing = missing;
	r.n_missing = 1;
	m.msg_case = HARE__FROM_DAEMON__MSG_LOGS_REPLY;
	m.logs_reply = &r;
	memset(&a, 0, sizeof(a));
	a.cmd = CLI_CMD_LOGS;
	for (int lines = 0; lines <= 6; lines++) {
		static const char *const want[] = {
			"==> node n1: /w/logs/job-12.rank-0.log <==\nold 1\nold 2\n\n"
			"==> node n2: /w/logs/job-12.rank-0.log <==\nnew?[31m 1\nbar 10%\nbar 20%\n?x\n",
			"?x\n",
			"bar 20%\n?x\n",
			"bar 10%\nbar 20%\n?x\n",
			"new?[31m 1\nbar 10%\nbar 20%\n?x\n",
			"==> node n1: /w/logs/job-12.rank-0.log <==\nold 2\n\n"
			"==> node n2: /w/logs/job-12.rank-0.log <==\nnew?[31m 1\nbar 10%\nbar 20%\n?x\n",
			"==> node n1: /w/logs/job-12.rank-0.log <==\nold 1\nold 2\n\n"
			"==> node n2: /w/logs/job-12.rank-0.log <==\nnew?[31m 1\nbar 10%\nbar 20%\n?x\n",
		};

		a.lines = (uint32_t)lines;
		fo = open_memstream(&out, &olen);
		fe = open_memstream(&err, &elen);
		assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
		fclose(fo);
		fclose(fe);
		if (strcmp(out, want[lines]) != 0)
			fail_msg("-n %d printed:\n%s\nwanted:\n%s", lines, out, want[lines]);
		assert_string_equal(err, "harectl: not read: n3: down?[2J\n");
		free(out);
		free(err);
	}
	/* one part: no header; older output left out is said (not with -n) */
	r.parts = &pp[1];
	r.n_parts = 1;
	r.n_missing = 0;
	lp2.size = 1000;
	a.lines = 0;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_string_equal(out, "new?[31m 1\nbar 10%\nbar 20%\n?x\n");
	assert_string_equal(err, "harectl: older output not shown (--bytes N, up to 1048576, shows "
			    "more)\n");
	free(out);
	free(err);
	/* nothing anywhere */
	r.n_parts = 0;
	r.rank = 2;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_FAIL);
	fclose(fo);
	fclose(fe);
	assert_string_equal(out, "");
	assert_non_null(strstr(err, "harectl: no output of job 12 rank 2 on the nodes up"));
	free(out);
	free(err);
}

/* One LogsReply of parts (node, data, size, mtime) for the follow tests. */
struct follow_part {
	const char *node, *data;
	uint64_t size;
	double mtime;
};

/* What cli_logs_follow_print adds for the reply of parts[0..n). */
static void follow_step(struct cli_logs_follow *f, const struct follow_part *parts, size_t n,
			const char *want_out, const char *want_err)
{
	Hare__LogPart p[4], *pp[4];
	Hare__LogsReply r = HARE__LOGS_REPLY__INIT;
	char *out = NULL, *err = NULL;
	size_t olen, elen;
	FILE *fo = open_memstream(&out, &olen), *fe = open_memstream(&err, &elen);

	for (size_t i = 0; i < n; i++) {
		hare__log_part__init(&p[i]);
		p[i].node = (char *)parts[i].node;
		p[i].path = "/l/job-5.rank-0.log";
		p[i].data.data = (uint8_t *)parts[i].data;
		p[i].data.len = strlen(parts[i].data);
		p[i].size = parts[i].size;
		p[i].has_mtime = true;
		p[i].mtime = parts[i].mtime;
		pp[i] = &p[i];
	}
	r.job_id = 5;
	r.parts = pp;
	r.n_parts = n;
	if (want_out)
		cli_logs_follow_print(f, &r, fo, fe);
	else
		cli_logs_follow_init(f, &r);
	fclose(fo);
	fclose(fe);
	if (want_out && strcmp(out, want_out) != 0)
		fail_msg("printed '%s', wanted '%s'", out, want_out);
	if (want_err && strcmp(err, want_err) != 0)
		fail_msg("said '%s', wanted '%s'", err, want_err);
	free(out);
	free(err);
}

/* --follow: the rest of the same file; a newer file (the job moved) under
 * its header; a node that went down adds nothing; more than a poll's bytes
 * and a file cut short are said on stderr; -f is --follow for logs and
 * --file for submit. */
static void test_logs_follow(void **state)
{
	struct cli_logs_follow f;
	struct cli_args a;
	char msg[256];

	(void)state;
	assert_int_equal(PARSE(&a, msg, "logs", "-f", "12"), 0);
	assert_true(a.follow && a.ids[0] == 12);
	assert_int_equal(PARSE(&a, msg, "submit", "-f", "jobs.ini"), 0);
	assert_string_equal(a.file, "jobs.ini");
	follow_step(&f, (struct follow_part[]){ { "n1", "a\n", 2, 10 } }, 1, NULL, NULL);
	assert_true(f.n == 1 && f.current == 0 && f.printed && f.seen[0].size == 2);
	follow_step(&f, (struct follow_part[]){ { "n1", "a\n", 2, 10 } }, 1, "", "");
	follow_step(&f, (struct follow_part[]){ { "n1", "a\nb\n", 4, 11 } }, 1, "b\n", "");
	follow_step(&f, (struct follow_part[]){ { "n1", "a\nb\n", 4, 11 }, { "n2", "c\n", 2, 20 } },
		    2, "\n==> node n2: /l/job-5.rank-0.log <==\nc\n", "");
	follow_step(&f, (struct follow_part[]){ { "n1", "a\nb\n", 4, 11 } }, 1, "", "");
	follow_step(&f, (struct follow_part[]){ { "n2", "xyz", 10, 21 } }, 1, "xyz",
		    "harectl: 5 bytes of output on node n2 not shown (more than --bytes came "
		    "within a poll)\n");
	follow_step(&f, (struct follow_part[]){ { "n2", "q\n", 2, 22 } }, 1, "q\n",
		    "harectl: the output file on node n2 was cut short; from its end again\n");
	/* back on n1: only what is new there, under its header again */
	follow_step(&f, (struct follow_part[]){ { "n2", "q\n", 2, 22 }, { "n1", "a\nb\nd\n", 6, 30 } },
		    2, "\n==> node n1: /l/job-5.rank-0.log <==\nd\n", "");
	/* a new node whose clock is behind sorts first: still printed */
	follow_step(&f, (struct follow_part[]){ { "n3", "e\n", 2, 5 }, { "n1", "a\nb\nd\n", 6, 30 } },
		    2, "\n==> node n3: /l/job-5.rank-0.log <==\ne\n", "");
	/* nothing printed before: every part, each under its header */
	memset(&f, 0, sizeof(f));
	f.current = -1;
	follow_step(&f, (struct follow_part[]){ { "n1", "a\n", 2, 10 }, { "n2", "c", 1, 20 } }, 2,
		    "==> node n1: /l/job-5.rank-0.log <==\na\n\n"
		    "==> node n2: /l/job-5.rank-0.log <==\nc", "");
}

/* The agent's line on a lease's end closes a rank's output; its start line
 * or a worker's line does not. */
static void test_logs_lease_ended(void **state)
{
	Hare__LogPart p = HARE__LOG_PART__INIT, *pp = &p;
	Hare__LogsReply r = HARE__LOGS_REPLY__INIT;
	static const struct {
		const char *data;
		uint32_t rank;
		bool ended;
	} cases[] = {
		{ "x\nhare-agent 2026-12-06T10:29:07Z: job 5 lease 3 rank 0 done: done after 10 rounds\n", 0, true },
		{ "hare-agent 2026-12-06T10:29:07Z: job 5 lease 3 rank 2 stopped (preempted by the plan): "
		  "stopped by signal 15 (Terminated)\n", 2, true },
		{ "hare-agent T: job 5 lease 3 rank 1 failed: exited with code 1\r\n\n", 1, true },
		{ "hare-agent T: job 5 lease 3 rank 1 failed: exited with code 1\n", 0, false },
		{ "hare-agent T: job 5 lease 3 rank 0/1 on node n1 GPU 0 (V100), rounds 0..10\n", 0, false },
		{ "hare-agent T: job 5 lease 3 rank 0 done: done after 10 rounds\nmore\n", 0, false },
		{ "", 0, false },
	};

	(void)state;
	p.node = "n1";
	p.path = "/l/job-5.rank-0.log";
	r.parts = &pp;
	r.n_parts = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p.data.data = (uint8_t *)cases[i].data;
		p.data.len = strlen(cases[i].data);
		if (cli_logs_lease_ended(&r, cases[i].rank) != cases[i].ended)
			fail_msg("case %zu: '%s' rank %u", i, cases[i].data, cases[i].rank);
	}
	r.n_parts = 0;
	assert_false(cli_logs_lease_ended(&r, 0));
}

/* drain/undrain of a node already in that state says so. */
static void test_reply_drain_state(void **state)
{
	Hare__DrainReply r = HARE__DRAIN_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	struct cli_args a = { .cmd = CLI_CMD_DRAIN };
	char *out = NULL;
	size_t len;
	FILE *f;

	(void)state;
	r.node = "n2";
	r.has_was_drained = true;
	m.msg_case = HARE__FROM_DAEMON__MSG_DRAIN_REPLY;
	m.drain_reply = &r;
	f = open_memstream(&out, &len);
	r.drained = r.was_drained = true;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	a.reason = "fans";
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	a.reason = NULL;
	r.drained = r.was_drained = false;
	a.cmd = CLI_CMD_UNDRAIN;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	r.was_drained = true;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	fclose(f);
	assert_string_equal(out, "node n2 was drained already (reason kept)\n"
			    "node n2 was drained already (reason updated)\n"
			    "node n2 was not drained\n"
			    "node n2 undrained\n");
	free(out);
}

/* A down node's REASON says when its agent was last seen. */
static void test_nodes_down_seen(void **state)
{
	Hare__NodeInfo a = HARE__NODE_INFO__INIT, b = HARE__NODE_INFO__INIT, c = HARE__NODE_INFO__INIT;
	Hare__NodeInfo d = HARE__NODE_INFO__INIT, e = HARE__NODE_INFO__INIT;
	Hare__NodeInfo *np[5] = { &a, &b, &c, &d, &e };
	Hare__NodesReply r = HARE__NODES_REPLY__INIT;
	char *buf = NULL;
	size_t len;
	FILE *f;

	(void)state;
	a.name = "a";
	a.has_last_seen = true;
	a.last_seen = NOW - 7500;
	b.name = "b";		/* down since before hared's restart */
	c.name = "c";
	c.has_last_seen = true;
	c.last_seen = NOW - 3 * 86400;
	d.name = "d";		/* drained, then its agent stopped */
	d.has_drained = d.drained = true;
	d.drain_reason = "psu";
	d.has_last_seen = true;
	d.last_seen = NOW - 7500;
	e.name = "e";		/* hared's clock ahead of this one */
	e.has_last_seen = true;
	e.last_seen = NOW + 200;
	r.n_nodes = 5;
	r.nodes = np;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_nodes_print(f, &r, NOW), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\nd     drained  -     0     0     -      psu; down, last seen 2h05m ago\n"));
	assert_non_null(strstr(buf, "\ne     down     -     0     0     -      last seen now\n"));
	assert_non_null(strstr(buf, "\na     down     -     0     0     -      last seen 2h05m ago\n"));
	assert_non_null(strstr(buf, "\nb     down     -     0     0     -      not back since hared started\n"));
	assert_non_null(strstr(buf, "\nc     down     -     0     0     -      last seen 2023-"));
	free(buf);
}

/* An unhealthy node: its STATE, no FREE GPU, its check's reason and since
 * when in REASON and in JSON; a drain's reason goes first. */
static void test_nodes_unhealthy(void **state)
{
	Hare__NodeGpu g = HARE__NODE_GPU__INIT;
	Hare__NodeGpu *gp[1] = { &g };
	Hare__NodeInfo a = HARE__NODE_INFO__INIT, b = HARE__NODE_INFO__INIT;
	Hare__NodeInfo *np[2] = { &a, &b };
	Hare__NodesReply r = HARE__NODES_REPLY__INIT;
	char *buf = NULL;
	size_t len;
	FILE *f;

	(void)state;
	g.type = "V100";
	a.name = "a";
	a.up = true;
	a.n_gpus = 1;
	a.gpus = gp;
	a.unhealthy = "health check exited with status 1: GPU 0: ECC errors";
	a.has_unhealthy_since = true;
	a.unhealthy_since = NOW - 300;
	b = a;
	b.name = "b";
	b.has_drained = b.drained = true;
	b.drain_reason = "psu";
	r.n_nodes = 2;
	r.nodes = np;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_nodes_print(f, &r, NOW), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\na     unhealthy  1xV100  0     0     -      health check exited "
				    "with status 1: GPU 0: ECC errors (since 5m ago)\n"));
	assert_non_null(strstr(buf, "\nb     drained    1xV100  0     0     -      psu\n"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_nodes_print_json(f, &r);
	fclose(f);
	assert_non_null(strstr(buf, "\"name\":\"a\",\"up\":true,\"drained\":false,\"unhealthy\":"
				    "\"health check exited with status 1: GPU 0: ECC errors\","
				    "\"unhealthy_since\":"));
	free(buf);
}

/* history --node: the table leaves out the node's name before each why
 * ("-" when there is none), cuts nothing of a 127-byte why; JSON has the
 * node and each detail whole; an empty reply says the node has none. */
static void test_history_node_output(void **state)
{
	static const char quarantine[] = "quarantined by hared: health check failed 3 times within the hour "
					 "(last: exited with status 1: GPU 3: 3 uncorrectable ECC e...)";
	Hare__JobEvent e[3] = { HARE__JOB_EVENT__INIT, HARE__JOB_EVENT__INIT, HARE__JOB_EVENT__INIT };
	Hare__JobEvent *ev[3] = { &e[0], &e[1], &e[2] };
	Hare__HistoryReply h = HARE__HISTORY_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	struct cli_args a = { .cmd = CLI_CMD_HISTORY };
	char drain[200], *out = NULL, *err = NULL;
	size_t olen, elen;
	FILE *fo, *fe;

	(void)state;
	snprintf(drain, sizeof(drain), "gpu-07: %s", quarantine);
	e[0].time = NOW - 60;
	e[0].kind = "node-up";
	e[0].detail = "gpu-07";
	e[1].time = NOW - 30;
	e[1].kind = "node-drain";
	e[1].detail = drain;
	e[2].time = NOW;
	e[2].kind = "node-unhealthy";
	e[2].detail = "gpu-070: not this node's name";
	h.node = "gpu-07";
	h.events = ev;
	h.n_events = 3;
	m.msg_case = HARE__FROM_DAEMON__MSG_HISTORY_REPLY;
	m.history_reply = &h;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	a.json = true;
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	h.n_events = 0;
	a.json = false;
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_non_null(strstr(out, "node-up         -\n"));
	assert_non_null(strstr(out, "node-drain      quarantined by hared: "));
	assert_non_null(strstr(out, quarantine));
	assert_non_null(strstr(out, "node-unhealthy  gpu-070: not this node's name\n"));
	assert_non_null(strstr(out, "{\"node\":\"gpu-07\",\"events\":[{\"time\":"));
	assert_non_null(strstr(out, "\"detail\":\"gpu-07: quarantined by hared"));
	assert_string_equal(err, "harectl: node gpu-07 has no events\n");
	free(out);
	free(err);
}

/* forget says what went with the node. */
static void test_reply_forget(void **state)
{
	Hare__ForgetReply r = HARE__FORGET_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	struct cli_args a = { .cmd = CLI_CMD_FORGET };
	char *out = NULL;
	size_t len;
	FILE *f;

	(void)state;
	r.node = "n\0339";
	m.msg_case = HARE__FROM_DAEMON__MSG_FORGET_REPLY;
	m.forget_reply = &r;
	f = open_memstream(&out, &len);
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	r.has_was_drained = r.was_drained = true;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	r.has_recent_failures = true;
	r.recent_failures = 1;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	r.was_drained = false;
	r.recent_failures = 3;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	fclose(f);
	assert_string_equal(out, "node n?9 forgotten\n"
			    "node n?9 forgotten (with its drain)\n"
			    "node n?9 forgotten (with its drain and 1 failure of the last hour)\n"
			    "node n?9 forgotten (with 3 failures of the last hour)\n");
	free(out);
}

/* harectl usage OPT WHEN, with no hared there: refused before it is asked
 * (exit 2), with message want on stderr. */
static void usage_refused(const char *opt, const char *when, const char *want)
{
	char *const argv[] = { "harectl", "--socket", "/nonexistent/h.sock", "usage", (char *)opt,
			       (char *)when };
	char *out = NULL, *errs = NULL;
	size_t olen = 0, elen = 0;
	FILE *fo = open_memstream(&out, &olen), *fe = open_memstream(&errs, &elen);

	assert_int_equal(cli_main(6, (char **)argv, fo, fe), CLI_EXIT_USAGE);
	fclose(fo);
	fclose(fe);
	assert_string_equal(errs, want);
	free(out);
	free(errs);
}

/* usage's window: spans before now, unix seconds and local dates (TZ=UTC
 * here), now; --user and -o json. A --since in the future, an --until
 * before 1970, are refused before hared is asked. */
static void test_usage_args(void **state)
{
	char *const v1[] = { "harectl", "usage", "--since", "90m", "--until=now", "-u", "bob", "-o", "json" };
	char *const v2[] = { "harectl", "usage", "--since", "2023-11-14", "--until", "2023-11-14T22:13:20" };
	char *const v3[] = { "harectl", "usage", "--since", "@1700000000.5", "--until", "2023-11-15 01:02" };
	char *const v4[] = { "harectl", "usage", "--since", "2w" };
	static struct cli_args a;
	char msg[256];

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(cli_args_parse(9, v1, &a, msg, sizeof(msg)), 0);
	assert_int_equal(a.cmd, CLI_CMD_USAGE);
	assert_true(a.since.set && a.since.ago && a.since.value == 5400);
	assert_true(a.until.set && a.until.ago && a.until.value == 0);
	assert_string_equal(a.user, "bob");
	assert_true(a.json);
	assert_int_equal(cli_args_parse(6, v2, &a, msg, sizeof(msg)), 0);
	assert_true(a.since.set && !a.since.ago && a.since.value == 1699920000);
	assert_true(a.until.set && !a.until.ago && a.until.value == NOW);
	assert_int_equal(cli_args_parse(6, v3, &a, msg, sizeof(msg)), 0);
	assert_true(!a.since.ago && a.since.value == NOW + 0.5);
	assert_true(!a.until.ago && a.until.value == 1700010120);
	assert_int_equal(cli_args_parse(4, v4, &a, msg, sizeof(msg)), 0);
	assert_true(a.since.ago && a.since.value == 14 * 86400.0);
	assert_false(a.until.set);
	usage_refused("--since", "@9999999999", "harectl usage: --since is not in the past\n");
	usage_refused("--until", "10000w", "harectl usage: --until is not after 1970\n");
}

/* usage's table: one column per type by name, '-' where a user held none,
 * a TOTAL row; thirteen types or more put the rest in OTHER; no users, a
 * cut reply; JSON. */
static void test_usage_output(void **state)
{
	Hare__GpuTime t[16];
	Hare__GpuTime *ta[2] = { &t[0], &t[1] }, *tb[1] = { &t[2] }, *tc[14];
	Hare__UserUsage u[3] = { HARE__USER_USAGE__INIT, HARE__USER_USAGE__INIT, HARE__USER_USAGE__INIT };
	Hare__UserUsage *up[3] = { &u[0], &u[1], &u[2] };
	Hare__UsageReply r = HARE__USAGE_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	struct cli_args a = { .cmd = CLI_CMD_USAGE };
	static char names[14][8];
	char *out = NULL, *err = NULL;
	size_t olen = 0, elen = 0;
	FILE *fo, *fe;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	for (int i = 0; i < 16; i++)
		hare__gpu_time__init(&t[i]);
	t[0].gpu_type = "V100";
	t[0].gpu_s = 7200;
	t[1].gpu_type = "T4";
	t[1].gpu_s = 1800;
	t[2].gpu_type = "V100";
	t[2].gpu_s = 36;
	u[0].user = "alice";
	u[0].jobs = 3;
	u[0].gpu_s = 9000;
	u[0].n_types = 2;
	u[0].types = ta;
	u[1].user = "b\033ob";
	u[1].jobs = 1;
	u[1].gpu_s = 36;
	u[1].n_types = 1;
	u[1].types = tb;
	r.since = NOW - 86400;
	r.until = NOW;
	r.n_users = 2;
	r.users = up;
	m.msg_case = HARE__FROM_DAEMON__MSG_USAGE_REPLY;
	m.usage_reply = &r;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_string_equal(out, "GPU time from 2023-11-13T22:13:20+0000 to 2023-11-14T22:13:20+0000\n"
				 "USER   JOBS  GPU-HOURS  T4    V100\n"
				 "alice  3     2.50       0.50  2.00\n"
				 "b?ob   1     0.01       -     0.01\n"
				 "TOTAL  4     2.51       0.50  2.01\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
	/* one user: no TOTAL; 14 types: 12 columns and OTHER; cut */
	for (int i = 0; i < 14; i++) {
		snprintf(names[i], sizeof(names[i]), "G%02d", 13 - i);
		t[i].gpu_type = names[i];
		t[i].gpu_s = 3600;
		tc[i] = &t[i];
	}
	u[2].user = "carol";
	u[2].jobs = 2;
	u[2].gpu_s = 14 * 3600;
	u[2].n_types = 14;
	u[2].types = tc;
	r.users = &up[2];
	r.n_users = 1;
	r.has_cut = r.cut = true;
	out = err = NULL;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_reply_print(&a, &m, fo, fe, NOW), CLI_EXIT_OK);
	fclose(fo);
	fclose(fe);
	assert_non_null(strstr(out, "USER   JOBS  GPU-HOURS  G00   G01   G02   G03   G04   G05   G06   G07"
				    "   G08   G09   G10   G11   OTHER\n"
				    "carol  2     14.00      1.00  1.00  1.00  1.00  1.00  1.00  1.00  1.00"
				    "  1.00  1.00  1.00  1.00  2.00\n"));
	assert_null(strstr(out, "TOTAL"));
	assert_string_equal(err, "harectl: more users than one reply holds; the rest are not shown "
				 "and not in TOTAL (--user NAME gives one)\n");
	free(out);
	free(err);
	/* nobody */
	r.n_users = 0;
	r.has_cut = r.cut = false;
	out = NULL;
	fo = open_memstream(&out, &olen);
	assert_int_equal(cli_reply_print(&a, &m, fo, stderr, NOW), CLI_EXIT_OK);
	fclose(fo);
	assert_string_equal(out, "GPU time from 2023-11-13T22:13:20+0000 to 2023-11-14T22:13:20+0000\n"
				 "no job held a GPU then\n");
	free(out);
	/* a type name is a header: masked as cells are */
	t[0].gpu_type = "X\033[2J";
	r.users = up;
	r.n_users = 1;
	u[0].n_types = 1;
	out = NULL;
	fo = open_memstream(&out, &olen);
	assert_int_equal(cli_reply_print(&a, &m, fo, stderr, NOW), CLI_EXIT_OK);
	fclose(fo);
	assert_non_null(strstr(out, "\nUSER   JOBS  GPU-HOURS  X?[2J\n"));
	free(out);
	u[0].n_types = 2;
	/* JSON */
	t[0].gpu_type = "V100";
	t[0].gpu_s = 7200;
	t[1].gpu_type = "T4";
	t[1].gpu_s = 1800.5;
	u[0].gpu_s = 9000.5;
	r.users = up;
	r.n_users = 1;
	a.json = true;
	out = NULL;
	fo = open_memstream(&out, &olen);
	assert_int_equal(cli_reply_print(&a, &m, fo, stderr, NOW), CLI_EXIT_OK);
	fclose(fo);
	assert_string_equal(out, "{\"since\":1699913600,\"until\":1700000000,\"users\":[\n"
				 "  {\"user\":\"alice\",\"jobs\":3,\"gpu_seconds\":9000.5,"
				 "\"types\":{\"V100\":7200,\"T4\":1800.5}}\n],\"cut\":false}\n");
	free(out);
}

/* show: gpu_hours, total and by type; '-' with none; JSON gpu_seconds. */
static void test_show_gpu_hours(void **state)
{
	Hare__GpuTime t[2] = { HARE__GPU_TIME__INIT, HARE__GPU_TIME__INIT };
	Hare__GpuTime *tp[2] = { &t[0], &t[1] };
	Hare__JobInfo j = HARE__JOB_INFO__INIT;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	j.job_id = 4;
	j.user = "alice";
	j.name = "n";
	j.model = "lm";
	j.tasks = 2;
	j.rounds_total = 10;
	j.weight = 1;
	f = open_memstream(&out, &len);
	cli_job_print(f, &j, NOW);
	t[0].gpu_type = "T4";
	t[0].gpu_s = 900;
	t[1].gpu_type = "V100";
	t[1].gpu_s = 5400;
	j.gpu_time = tp;
	j.n_gpu_time = 2;
	cli_job_print(f, &j, NOW);
	cli_job_print_json(f, &j);
	fclose(f);
	assert_non_null(strstr(out, "\ngpu_hours:   -\n"));
	assert_non_null(strstr(out, "\ngpu_hours:   1.75 (T4 0.25, V100 1.50)\n"));
	assert_non_null(strstr(out, ",\"gpu_seconds\":{\"T4\":900,\"V100\":5400}}\n"));
	free(out);
}

/* harectl nodes lists nodes by name, numbers in names compared as numbers,
 * in the table and in JSON. */
static void test_nodes_sorted(void **state)
{
	Hare__NodeInfo n[3] = { HARE__NODE_INFO__INIT, HARE__NODE_INFO__INIT, HARE__NODE_INFO__INIT };
	Hare__NodeInfo *np[3] = { &n[0], &n[1], &n[2] };
	Hare__NodesReply r = HARE__NODES_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	struct cli_args a = { .cmd = CLI_CMD_NODES };
	char *buf = NULL, *at10, *at2, *atg;
	size_t len;
	FILE *f;

	(void)state;
	n[0].name = "node10";
	n[1].name = "node2";
	n[2].name = "gpu-a";
	r.n_nodes = 3;
	r.nodes = np;
	m.msg_case = HARE__FROM_DAEMON__MSG_NODES_REPLY;
	m.nodes_reply = &r;
	for (int json = 0; json < 2; json++) {
		a.json = json;
		f = open_memstream(&buf, &len);
		assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
		fclose(f);
		atg = strstr(buf, "gpu-a");
		at2 = strstr(buf, "node2");
		at10 = strstr(buf, "node10");
		assert_true(atg && at2 && at10 && atg < at2 && at2 < at10);
		free(buf);
		buf = NULL;
	}
}

/* Texts from hared reach the terminal with their control characters as
 * '?': show, cancel messages, drained node names. */
static void test_reply_control_chars(void **state)
{
	Hare__ShowReply show = HARE__SHOW_REPLY__INIT;
	Hare__CancelReply cancel = HARE__CANCEL_REPLY__INIT;
	Hare__CancelResult res = HARE__CANCEL_RESULT__INIT, *resp = &res;
	Hare__DrainReply drain = HARE__DRAIN_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__JobInfo job = j12;
	struct cli_args a = { .cmd = CLI_CMD_SHOW, .ids = { 12 }, .nids = 1 };
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	job.name = "a\x1b[2Jb\xc2\x9b" "1m\xc3\xa9";	/* ESC, C1 CSI in UTF-8, e acute */
	show.job = &job;
	m.msg_case = HARE__FROM_DAEMON__MSG_SHOW_REPLY;
	m.show_reply = &show;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	res.job_id = 12;
	res.message = "job 12 \x1b]0;title\x07 is gone";
	cancel.n_results = 1;
	cancel.results = &resp;
	a.cmd = CLI_CMD_CANCEL;
	m.msg_case = HARE__FROM_DAEMON__MSG_CANCEL_REPLY;
	m.cancel_reply = &cancel;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_FAIL);
	drain.node = "n\r1";
	drain.drained = true;
	a.cmd = CLI_CMD_DRAIN;
	m.msg_case = HARE__FROM_DAEMON__MSG_DRAIN_REPLY;
	m.drain_reply = &drain;
	assert_int_equal(cli_reply_print(&a, &m, f, stderr, NOW), CLI_EXIT_OK);
	fclose(f);
	assert_non_null(strstr(buf, "\nname:        a?[2Jb??" "1m\xc3\xa9\n"));
	assert_non_null(strstr(buf, "\njob 12 ?]0;title? is gone\n"));
	assert_non_null(strstr(buf, "\nnode n?1 drained (0 jobs moved)\n"));
	assert_null(strchr(buf, 0x1b));
	assert_null(strchr(buf, '\r'));
	free(buf);
}

/* nodes_reply as harectl nodes prints it (json: -o json) holds want. */
static void nodes_text_expect(bool json, const char *want)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		cli_nodes_print_json(f, &nodes_reply);
	else
		assert_int_equal(cli_nodes_print(f, &nodes_reply, NOW), 0);
	fclose(f);
	if (!strstr(buf, want))
		fail_msg("nodes output lacks '%s':\n%s", want, buf);
	free(buf);
}

static void test_nodes_output(void **state)
{
	FILE *f;
	size_t len;
	char *buf = NULL;

	(void)state;
	f = open_memstream(&buf, &len);
	assert_int_equal(cli_nodes_print(f, &nodes_reply, NOW), 0);
	fclose(f);
	assert_string_equal(buf,
		"NODE  STATE    GPUS         BUSY  FREE  FAILS  REASON\n"
		"n1    up       2xV100+1xT4  2     1     3      -\n"
		"n2    drained  1xT4         0     0     -      fan noise; down, not back since hared started\n");
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	cli_nodes_print_json(f, &nodes_reply);
	fclose(f);
	assert_string_equal(buf,
		"{\"nodes\":[\n"
		"  {\"name\":\"n1\",\"up\":true,\"drained\":false,\"last_seen\":1700000000,\"recent_failures\":3,\"gpus\":["
		"{\"index\":0,\"type\":\"V100\",\"job_id\":12,\"emulated\":true,\"stopping\":false,\"unprofiled\":false,\"measuring\":false},"
		"{\"index\":1,\"type\":\"V100\",\"job_id\":0,\"emulated\":true,\"stopping\":true,\"unprofiled\":false,\"measuring\":false},"
		"{\"index\":2,\"type\":\"T4\",\"job_id\":0,\"emulated\":false,\"stopping\":false,\"unprofiled\":false,\"measuring\":false}]},\n"
		"  {\"name\":\"n2\",\"up\":false,\"drained\":true,\"drain_reason\":\"fan noise\",\"gpus\":[{\"index\":2,\"type\":\"T4\",\"job_id\":0,\"emulated\":false,\"stopping\":false,\"unprofiled\":false,\"measuring\":false}]}\n"
		"]}\n");
	free(buf);
	/* an up node's agent: its own key, and not tagging (older than hared) */
	node1.has_own_key = node1.own_key = node1.has_tagged = true;
	node1.tagged = false;
	nodes_text_expect(false, "n1    up       2xV100+1xT4  2     1     3      agent older than "
			  "hared: its frames are not tagged\n");
	nodes_text_expect(true, "\"recent_failures\":3,\"own_key\":true,\"tagged\":false,\"gpus\":[");
	/* one that tags but is not in TLS (tls = no) */
	node1.tagged = node1.has_tls = true;
	node1.tls = false;
	nodes_text_expect(false, "n1    up       2xV100+1xT4  2     1     3      its link is not in TLS "
			  "(an older agent, or its tls = no)\n");
	nodes_text_expect(true, "\"own_key\":true,\"tagged\":true,\"tls\":false,\"gpus\":[");
	node1.tls = true;
	nodes_text_expect(false, "n1    up       2xV100+1xT4  2     1     3      -\n");
	/* an agent that does not isolate its GPUs: said where one is real
	 * (the T4), not where all are emulated */
	node1.has_gpus_isolated = true;
	nodes_text_expect(false, "n1    up       2xV100+1xT4  2     1     3      GPUs not isolated: "
			  "a worker may open any of them (the agent's log says why)\n");
	nodes_text_expect(true, "\"tls\":true,\"gpus_isolated\":false,\"gpus\":[");
	g2.emulated = true;
	nodes_text_expect(false, "n1    up       2xV100+1xT4  2     1     3      -\n");
	g2.emulated = false;
	node1.gpus_isolated = true;
	nodes_text_expect(false, "n1    up       2xV100+1xT4  2     1     3      -\n");
	nodes_text_expect(true, "\"tls\":true,\"gpus_isolated\":true,\"gpus\":[");
	node1.has_gpus_isolated = node1.gpus_isolated = false;
	node1.has_own_key = node1.own_key = node1.has_tagged = node1.tagged = node1.has_tls = false;
	node1.tls = false;
	/* a down node whose agent was refused: why, and when */
	node2.refused = "from 10.0.0.7:41234: a wrong key";
	node2.has_refused_at = true;
	node2.refused_at = NOW - 5;
	nodes_text_expect(false, "fan noise; down, not back since hared started; refused 5s ago "
			  "from 10.0.0.7:41234: a wrong key\n");
	nodes_text_expect(true, "\"refused\":\"from 10.0.0.7:41234: a wrong key\",\"refused_at\":"
			  "1699999995");
	node2.refused = NULL;
	node2.has_refused_at = false;
	/* GPUs of a type the daemon has no profile for are not free; the
	 * reason says whether the node measures it */
	{
		Hare__NodeGpu h[3] = { HARE__NODE_GPU__INIT, HARE__NODE_GPU__INIT, HARE__NODE_GPU__INIT };
		Hare__NodeGpu *hp[3] = { &h[0], &h[1], &h[2] };
		Hare__NodeInfo n3 = HARE__NODE_INFO__INIT, n4 = HARE__NODE_INFO__INIT;
		Hare__NodeInfo *np[2] = { &n3, &n4 };
		Hare__NodesReply r = HARE__NODES_REPLY__INIT;

		for (uint32_t i = 0; i < 3; i++) {
			h[i].index = i;
			h[i].type = i ? "H100" : "V100";
			h[i].has_unprofiled = h[i].unprofiled = i > 0;
		}
		h[1].has_measuring = h[1].measuring = true;
		n3.name = "n3";
		n3.up = true;
		n3.n_gpus = 3;
		n3.gpus = hp;
		n4.name = "n4";
		n4.up = true;
		n4.n_gpus = 1;
		n4.gpus = hp + 2;
		r.n_nodes = 2;
		r.nodes = np;
		buf = NULL;
		f = open_memstream(&buf, &len);
		assert_int_equal(cli_nodes_print(f, &r, NOW), 0);
		fclose(f);
		assert_string_equal(buf,
			"NODE  STATE  GPUS           BUSY  FREE  FAILS  REASON\n"
			"n3    up     1xV100+2xH100  0     1     -      measuring H100\n"
			"n4    up     1xH100         0     0     -      not profiled: H100\n");
		free(buf);
		/* every type not profiled is named: n3 also has a V10O now */
		h[0].type = "V10O";
		h[0].unprofiled = true;
		buf = NULL;
		f = open_memstream(&buf, &len);
		assert_int_equal(cli_nodes_print(f, &r, NOW), 0);
		fclose(f);
		assert_non_null(strstr(buf, "measuring H100; not profiled: V10O\n"));
		free(buf);
		h[0].type = "V100";
		h[0].unprofiled = false;
		buf = NULL;
		f = open_memstream(&buf, &len);
		cli_nodes_print_json(f, &r);
		fclose(f);
		assert_non_null(strstr(buf, "{\"index\":1,\"type\":\"H100\",\"job_id\":0,\"emulated\":false,"
					    "\"stopping\":false,\"unprofiled\":true,\"measuring\":true}"));
		free(buf);
	}
}

/* ---- a fake hared ---- */

enum fake_mode {
	FAKE_NORMAL,
	FAKE_REFUSE_HELLO,	/* Error instead of Welcome, then close */
	FAKE_SILENT,		/* never answer requests */
	FAKE_CLOSE,		/* close after the handshake */
	FAKE_OLD,		/* a hared older than JobSpec.after: no features */
	FAKE_NO_KINDS,		/* one older than after_any and after_notok */
	FAKE_CHECK,		/* one that checks submissions (Submit.check_only) */
	FAKE_BUSY,		/* Error at once, in the clear, then close (too many waiting) */
};

struct fake {
	int lfd;
	char dir[80];
	char path[100];
	char host[64];
	pthread_t thread;
	enum fake_mode mode;
	const char *want_token;		/* refuse Hello without it */
	int submit_fail_at;		/* 1-based submit to refuse; 0 none */
	int check_fail_at;		/* 1-based check to refuse; 0 none */
	int nchecks;
	/* What it saw. */
	int nmsgs;
	int kinds[16];
	char token[64];
	uint32_t role, version;
	int nsubmits;
	char models[4][32];
	uint32_t tasks[4], min_gpus[4], ntypes[4];
	bool has_min[4], has_weight[4];
	double weight[4];
	uint32_t nafter[4];
	uint64_t after[4][CLI_JOB_AFTER_MAX];
	uint32_t nafter_any[4], nafter_notok[4];
	bool queue_all;
	char queue_user[64];		/* the last QueueRequest's user */
	int nqueues;
	uint64_t show_id;
	size_t ncancel;
	Hare__UpdateRequest update;	/* the last UpdateRequest's fields (no ids) */
	char drain_reason[160];		/* the last DrainRequest's reason */
};

static int fake_send(int fd, Hare__FromDaemon *m)
{
	uint8_t *buf;
	size_t len;
	int rc = wire_encode_from_daemon(m, 0, &buf, &len);

	if (rc < 0)
		return rc;
	rc = send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -EIO;
	free(buf);
	return rc;
}

static int fake_send_error(int fd, int code, const char *message)
{
	Hare__Error e = HARE__ERROR__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;

	e.code = code;
	e.message = (char *)message;
	m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
	m.error = &e;
	return fake_send(fd, &m);
}

static void fake_record_submit(struct fake *f, const Hare__JobSpec *s)
{
	int i = f->nsubmits++;

	if (i >= 4)
		return;
	snprintf(f->models[i], sizeof(f->models[i]), "%s", s->model);
	f->tasks[i] = s->tasks;
	f->has_min[i] = s->has_min_gpus;
	f->min_gpus[i] = s->min_gpus;
	f->has_weight[i] = s->has_weight;
	f->weight[i] = s->weight;
	f->ntypes[i] = (uint32_t)s->n_gpu_types;
	f->nafter[i] = (uint32_t)s->n_after;
	for (size_t k = 0; k < s->n_after && k < CLI_JOB_AFTER_MAX; k++)
		f->after[i][k] = s->after[k];
	f->nafter_any[i] = (uint32_t)s->n_after_any;
	f->nafter_notok[i] = (uint32_t)s->n_after_notok;
}

static int fake_hello(struct fake *f, int fd, const Hare__Hello *h)
{
	Hare__Welcome w = HARE__WELCOME__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;

	f->role = h->role;
	f->version = h->version;
	snprintf(f->token, sizeof(f->token), "%s", h->token ? h->token : "");
	if (f->mode == FAKE_REFUSE_HELLO || (f->want_token && strcmp(f->token, f->want_token) != 0)) {
		fake_send_error(fd, ERR_PROTO, "bad client token");
		return -1;
	}
	static char *features[] = { "after", "after-kinds", "check" };

	w.version = HARE__VERSION__PROTOCOL_VERSION;
	if (f->mode != FAKE_OLD) {
		w.n_features = f->mode == FAKE_NO_KINDS ? 1 : f->mode == FAKE_CHECK ? 3 : 2;
		w.features = features;
	}
	m.msg_case = HARE__FROM_DAEMON__MSG_WELCOME;
	m.welcome = &w;
	fake_send(fd, &m);
	return f->mode == FAKE_CLOSE ? -1 : 0;
}

static int fake_cancel(int fd, const Hare__CancelRequest *c)
{
	Hare__CancelResult res[8], *ptrs[8];
	Hare__CancelReply reply = HARE__CANCEL_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	size_t n = c->n_job_ids < 8 ? c->n_job_ids : 8;

	/* Odd ids are ours (5: the jobs after it went too); even ones
	 * someone else's; 99 gets no result. */
	for (size_t i = 0; i < n; i++) {
		hare__cancel_result__init(&res[i]);
		res[i].job_id = c->job_ids[i];
		res[i].ok = c->job_ids[i] % 2;
		res[i].message = !res[i].ok ? "not your job" : c->job_ids[i] == 5 ?
				 "job 5 cancelled, and 2 jobs after it" : NULL;
		ptrs[i] = &res[i];
	}
	reply.n_results = n;
	reply.results = ptrs;
	if (n > 0 && c->job_ids[n - 1] == 99)
		reply.n_results--;
	m.msg_case = HARE__FROM_DAEMON__MSG_CANCEL_REPLY;
	m.cancel_reply = &reply;
	return fake_send(fd, &m);
}

/* Odd ids: changed (hared's message); even: refused; 99: no result. */
static int fake_update(struct fake *f, int fd, const Hare__UpdateRequest *u)
{
	Hare__CancelResult res[8], *ptrs[8];
	Hare__UpdateReply reply = HARE__UPDATE_REPLY__INIT;
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	size_t n = u->n_job_ids < 8 ? u->n_job_ids : 8;
	char msgs[8][64];

	f->update = *u;
	f->update.name = NULL;
	for (size_t i = 0; i < n; i++) {
		hare__cancel_result__init(&res[i]);
		res[i].job_id = u->job_ids[i];
		res[i].ok = u->job_ids[i] % 2;
		snprintf(msgs[i], sizeof(msgs[i]), "job %llu: %s", (unsigned long long)u->job_ids[i],
			 u->has_hold ? (u->hold ? "held" : "released") : "weight 1 -> 2");
		res[i].message = res[i].ok ? msgs[i] : "job belongs to bob";
		ptrs[i] = &res[i];
	}
	reply.n_results = n;
	reply.results = ptrs;
	if (n > 0 && u->job_ids[n - 1] == 99)
		reply.n_results--;
	m.msg_case = HARE__FROM_DAEMON__MSG_UPDATE_REPLY;
	m.update_reply = &reply;
	return fake_send(fd, &m);
}

static int fake_drain(struct fake *f, int fd, const Hare__DrainRequest *d)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__DrainReply r = HARE__DRAIN_REPLY__INIT;

	snprintf(f->drain_reason, sizeof(f->drain_reason), "%s", d->reason ? d->reason : "(none)");
	if (strcmp(d->node, "n1") != 0)
		return fake_send_error(fd, -ENOENT, "unknown node 'n9' (known: n1 n2)");
	r.node = d->node;
	r.drained = d->drain;
	r.has_jobs_moved = d->drain;
	r.jobs_moved = 1;
	m.msg_case = HARE__FROM_DAEMON__MSG_DRAIN_REPLY;
	m.drain_reply = &r;
	return fake_send(fd, &m);
}

static int fake_request(struct fake *f, int fd, const Hare__ToDaemon *req)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__SubmitReply sr = HARE__SUBMIT_REPLY__INIT;
	Hare__ShowReply show = HARE__SHOW_REPLY__INIT;

	switch (req->msg_case) {
	case HARE__TO_DAEMON__MSG_SUBMIT:
		if (req->submit->has_check_only && req->submit->check_only) {
			if (++f->nchecks == f->check_fail_at)
				return fake_send_error(fd, ERR_UNKNOWN_MODEL, "unknown model 'nosuch' "
						       "(known: resnet50, bert)");
			m.msg_case = HARE__FROM_DAEMON__MSG_SUBMIT_REPLY;
			m.submit_reply = &sr;	/* job_id 0 */
			return fake_send(fd, &m);
		}
		fake_record_submit(f, req->submit->spec);
		if (f->nsubmits == f->submit_fail_at)
			return fake_send_error(fd, ERR_UNKNOWN_MODEL, "unknown model 'nosuch' (known: resnet50, bert)");
		sr.job_id = 100 + (uint64_t)f->nsubmits;
		m.msg_case = HARE__FROM_DAEMON__MSG_SUBMIT_REPLY;
		m.submit_reply = &sr;
		return fake_send(fd, &m);
	case HARE__TO_DAEMON__MSG_QUEUE:
		f->queue_all = req->queue->has_all && req->queue->all;
		snprintf(f->queue_user, sizeof(f->queue_user), "%s", req->queue->user ? req->queue->user : "");
		f->nqueues++;
		m.msg_case = HARE__FROM_DAEMON__MSG_QUEUE_REPLY;
		m.queue_reply = &queue3;
		return fake_send(fd, &m);
	case HARE__TO_DAEMON__MSG_SHOW:
		f->show_id = req->show->job_id;
		if (f->show_id != 12)
			return fake_send_error(fd, ERR_BAD_SPEC, "no job 77");
		show.job = &j12;
		m.msg_case = HARE__FROM_DAEMON__MSG_SHOW_REPLY;
		m.show_reply = &show;
		return fake_send(fd, &m);
	case HARE__TO_DAEMON__MSG_CANCEL:
		f->ncancel = req->cancel->n_job_ids;
		return fake_cancel(fd, req->cancel);
	case HARE__TO_DAEMON__MSG_NODES:
		m.msg_case = HARE__FROM_DAEMON__MSG_NODES_REPLY;
		m.nodes_reply = &nodes_reply;
		return fake_send(fd, &m);
	case HARE__TO_DAEMON__MSG_DRAIN:
		return fake_drain(f, fd, req->drain);
	case HARE__TO_DAEMON__MSG_UPDATE:
		return fake_update(f, fd, req->update);
	default:
		return fake_send_error(fd, ERR_PROTO, "unexpected message");
	}
}

/* Handle every whole frame buffered; -1 once the session should end. */
static int fake_frames(struct fake *f, int fd, struct wire_reader *r)
{
	const uint8_t *p;
	size_t n;

	while (wire_reader_next(r, &p, &n) == 1) {
		Hare__ToDaemon *m = NULL;
		int rc = 0;

		if (wire_decode_to_daemon(p, n, &m) < 0)
			return -1;
		if (f->nmsgs < 16)
			f->kinds[f->nmsgs] = m->msg_case;
		f->nmsgs++;
		if (m->msg_case == HARE__TO_DAEMON__MSG_HELLO)
			rc = fake_hello(f, fd, m->hello);
		else if (f->mode != FAKE_SILENT)
			rc = fake_request(f, fd, m);
		hare__to_daemon__free_unpacked(m, NULL);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Serve one connection until the client closes it (or 10 s pass). */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };
	struct wire_reader r;
	uint8_t buf[4096];
	int fd;

	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (f->mode == FAKE_BUSY) {
		fake_send_error(fd, -EBUSY, "too many connections to hared from your address (16) "
				"are waiting to say hello; close some and try again");
		close(fd);
		return NULL;
	}
	wire_reader_init(&r, 0);
	pfd.fd = fd;
	while (poll(&pfd, 1, 10000) == 1) {
		ssize_t got = read(fd, buf, sizeof(buf));
		int rc = got > 0 ? wire_reader_feed(&r, buf, (size_t)got) : -1;

		/* as hared before TLS: a frame too large before Hello is said in
		 * the clear (a ClientHello reads as one) */
		if (rc == ERR_FRAME_TOO_BIG)
			fake_send_error(fd, ERR_FRAME_TOO_BIG, "frame larger than 65536 bytes before "
					"hello");
		if (rc < 0 || fake_frames(f, fd, &r) < 0)
			break;
	}
	wire_reader_destroy(&r);
	close(fd);
	return NULL;
}

static struct fake *fake_start_unix(enum fake_mode mode)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_non_null(f);
	f->mode = mode;
	tmp_template(f->dir, sizeof(f->dir), "hare-test-cli");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/hared.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	return f;
}

static struct fake *fake_start_tcp(const char *want_token)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	assert_non_null(f);
	f->want_token = want_token;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(f->host, sizeof(f->host), "127.0.0.1:%u", ntohs(sa.sin_port));
	return f;
}

static void fake_run(struct fake *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* Wait for the session to end and stop listening; what the fake saw stays
 * readable until fake_free. */
static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	if (f->path[0]) {
		unlink(f->path);
		rmdir(f->dir);
	}
}

static void fake_free(struct fake *f)
{
	free(f);
}

/* Run harectl with the given arguments; out/err hold what it printed. */
static int run_cli(char **out, char **err, int argc, char **argv)
{
	size_t olen, elen;
	FILE *fo, *fe;
	int status;

	*out = *err = NULL;
	fo = open_memstream(out, &olen);
	fe = open_memstream(err, &elen);
	assert_non_null(fo);
	assert_non_null(fe);
	status = cli_main(argc, argv, fo, fe);
	fclose(fo);
	fclose(fe);
	return status;
}

#define RUN(out, err, ...) run_cli((out), (err), ARGC(__VA_ARGS__), (char **)ARGV(__VA_ARGS__))

/* One harectl run (argv[0] "harectl", then --socket PATH, then the rest)
 * served by a fake hared of this mode, started and stopped here: the exit
 * status, the fake (the caller frees it) in *fp. */
static int fake_cli(enum fake_mode mode, struct fake **fp, char **out, char **err, int argc,
		    char **argv)
{
	struct fake *f = fake_start_unix(mode);
	char *full[40];
	int status;

	assert_true(argc + 2 <= (int)(sizeof(full) / sizeof(full[0])));
	full[0] = argv[0];
	full[1] = "--socket";
	full[2] = f->path;
	memcpy(full + 3, argv + 1, (size_t)(argc - 1) * sizeof(*full));
	fake_run(f);
	status = run_cli(out, err, argc + 2, full);
	fake_stop(f);
	*fp = f;
	return status;
}

#define FAKE_RUN(mode, fp, out, err, ...) \
	fake_cli((mode), (fp), (out), (err), ARGC(__VA_ARGS__), (char **)ARGV(__VA_ARGS__))

static void test_cmd_submit(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "--socket", f->path, "submit", "--model", "resnet50", "--gpus", "4",
			     "--min-gpus", "2", "--rounds", "100", "--gpu-types", "V100,T4", "--weight", "3"), 0);
	fake_stop(f);
	assert_string_equal(out, "101\n");
	assert_string_equal(err, "");
	assert_int_equal(f->nmsgs, 2);
	assert_int_equal(f->kinds[0], HARE__TO_DAEMON__MSG_HELLO);
	assert_int_equal(f->kinds[1], HARE__TO_DAEMON__MSG_SUBMIT);
	assert_int_equal(f->role, HARE__ROLE__ROLE_CLIENT);
	assert_int_equal(f->version, HARE__VERSION__PROTOCOL_VERSION);
	assert_string_equal(f->token, "");
	assert_string_equal(f->models[0], "resnet50");
	assert_int_equal(f->tasks[0], 4);
	assert_true(f->has_min[0]);
	assert_int_equal(f->min_gpus[0], 2);
	assert_true(f->has_weight[0] && f->weight[0] == 3);
	assert_int_equal(f->ntypes[0], 2);
	fake_free(f);
	free(out);
	free(err);
}

/* wait against the fake: job 12 RUNNING is looked at, then the queue
 * polled (only its owner's jobs asked for) until --max-wait runs out
 * (exit 3, the job named); a job that does not exist stops the wait. */
static void test_cmd_wait(void **state)
{
	struct fake *f;
	char *out, *err;

	(void)state;
	assert_int_equal(FAKE_RUN(FAKE_NORMAL, &f, &out, &err, "wait", "12", "--max-wait", "1.2"),
			 CLI_EXIT_WAITED);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: 1 job not ended after --max-wait 1.2: job 12 (RUNNING, "
			    "1234/5000 rounds)\n");
	assert_int_equal(f->show_id, 12);
	assert_int_equal(f->nqueues, 2);	/* after 1 s, and at 1.2 s */
	assert_false(f->queue_all);
	assert_string_equal(f->queue_user, "alice");
	fake_free(f);
	free(out);
	free(err);

	assert_int_equal(FAKE_RUN(FAKE_NORMAL, &f, &out, &err, "wait", "12", "77"), CLI_EXIT_FAIL);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: no job 77\n");
	assert_int_equal(f->nqueues, 0);
	fake_free(f);
	free(out);
	free(err);
}

static void test_cmd_submit_refused(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	f->submit_fail_at = 1;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--model", "nosuch", "--gpus", "1",
			     "--rounds", "1"), 1);
	fake_stop(f);
	assert_int_equal(f->nsubmits, 1);
	fake_free(f);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: unknown model 'nosuch' (known: resnet50, bert)\n");
	free(out);
	free(err);
}

static void test_cmd_submit_file(void **state)
{
	char path[80];
	int fd;
	static const char text[] = "[job]\nmodel = resnet50\ngpus = 2\nrounds = 10\n\n"
				   "[job]\nmodel = bert\ngpus = 1\nrounds = 5\nweight = 2\n\n"
				   "[job]\nmodel = nosuch\ngpus = 1\nrounds = 5\n";
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err, want[256];

	(void)state;
	tmp_template(path, sizeof(path), "hare-test-jobs");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	f->submit_fail_at = 3;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--file", path), 1);
	fake_stop(f);
	assert_int_equal(f->nsubmits, 3);
	assert_true(f->has_weight[1] && f->weight[1] == 2);
	assert_false(f->has_weight[0]);
	fake_free(f);
	assert_string_equal(out, "101\n102\n");
	snprintf(want, sizeof(want), "harectl: %s:12: unknown model 'nosuch' (known: resnet50, bert)\n"
		 "harectl: the 2 jobs before it stay submitted\n", path);
	assert_string_equal(err, want);
	free(out);
	free(err);

	/* A hared that checks: the file's jobs are checked first, and one it
	 * refuses leaves none submitted */
	f = fake_start_unix(FAKE_CHECK);
	f->check_fail_at = 3;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--file", path), 1);
	fake_stop(f);
	assert_int_equal(f->nchecks, 3);
	assert_int_equal(f->nsubmits, 0);
	fake_free(f);
	assert_string_equal(out, "");
	snprintf(want, sizeof(want), "harectl: %s:12: unknown model 'nosuch' (known: resnet50, bert)\n"
		 "harectl: nothing was submitted\n", path);
	assert_string_equal(err, want);
	free(out);
	free(err);
	/* ... and one it takes: checked, then submitted */
	f = fake_start_unix(FAKE_CHECK);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--file", path), 0);
	fake_stop(f);
	assert_int_equal(f->nchecks, 3);
	assert_int_equal(f->nsubmits, 3);
	fake_free(f);
	assert_string_equal(out, "101\n102\n103\n");
	free(out);
	free(err);
	/* --check: checked only, nothing submitted; a refusal says why */
	f = fake_start_unix(FAKE_CHECK);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--file", path, "--check"), 0);
	fake_stop(f);
	assert_int_equal(f->nchecks, 3);
	assert_int_equal(f->nsubmits, 0);
	fake_free(f);
	assert_string_equal(out, "ok: hared would accept all 3 jobs (nothing was submitted)\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
	f = fake_start_unix(FAKE_CHECK);
	f->check_fail_at = 1;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--check", "--model", "nosuch",
			     "--gpus", "1", "--rounds", "5"), 1);
	fake_stop(f);
	assert_int_equal(f->nchecks, 1);
	assert_int_equal(f->nsubmits, 0);
	fake_free(f);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: unknown model 'nosuch' (known: resnet50, bert)\n"
			    "harectl: nothing was submitted\n");
	free(out);
	free(err);
	f = fake_start_unix(FAKE_CHECK);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--check", "--model", "bert",
			     "--gpus", "1", "--rounds", "5"), 0);
	fake_stop(f);
	assert_int_equal(f->nsubmits, 0);
	fake_free(f);
	assert_string_equal(out, "ok: hared would accept the job (nothing was submitted)\n");
	free(out);
	free(err);
	/* an older hared cannot check: nothing is sent */
	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", f->path, "--check", "--model", "bert",
			     "--gpus", "1", "--rounds", "5"), 1);
	fake_stop(f);
	assert_int_equal(f->nsubmits + f->nchecks, 0);
	fake_free(f);
	assert_string_equal(err, "harectl: this hared cannot check jobs without submitting them (it is "
			    "older than harectl); nothing was sent\n");
	free(out);
	free(err);

	/* A bad file is refused before anything is sent: no daemon needed. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "[job]\nmodel = m\ngpus = 99\n", 26), 26);
	close(fd);
	assert_int_equal(RUN(&out, &err, "submit", "--socket", "/nonexistent/sock", "--file", path), 2);
	snprintf(want, sizeof(want), "harectl: %s:3: gpus must be between 1 and 64, got 99\n", path);
	assert_string_equal(err, want);
	free(out);
	free(err);
	unlink(path);
}

/* A job file's after names go out as the ids hared gave those jobs; --after
 * ids as given. */
static void test_cmd_submit_after(void **state)
{
	char path[80];
	int fd;
	static const char text[] = "[job]\nname = prep\nmodel = m\ngpus = 1\nrounds = 1\n\n"
				   "[job]\nname = train\nmodel = m\ngpus = 1\nrounds = 1\nafter = prep, 41\n\n"
				   "[job]\nmodel = m\ngpus = 1\nrounds = 1\nafter = 7,train,prep\n";
	struct fake *f;
	char *out, *err;

	(void)state;
	tmp_template(path, sizeof(path), "hare-test-after");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(FAKE_RUN(FAKE_NORMAL, &f, &out, &err, "submit", "--file", path), 0);
	unlink(path);
	assert_string_equal(out, "101\n102\n103\n");
	assert_string_equal(err, "");
	assert_int_equal(f->nsubmits, 3);
	assert_int_equal(f->nafter[0], 0);
	assert_int_equal(f->nafter[1], 2);
	assert_int_equal(f->after[1][0], 101);
	assert_int_equal(f->after[1][1], 41);
	assert_int_equal(f->nafter[2], 3);
	assert_int_equal(f->after[2][0], 7);
	assert_int_equal(f->after[2][1], 102);
	assert_int_equal(f->after[2][2], 101);
	fake_free(f);
	free(out);
	free(err);

	assert_int_equal(FAKE_RUN(FAKE_NORMAL, &f, &out, &err, "submit", "--model", "m", "--gpus", "1",
				  "--rounds", "1", "--after", "9, 8"), 0);
	assert_string_equal(out, "101\n");
	assert_int_equal(f->nafter[0], 2);
	assert_int_equal(f->after[0][0], 9);
	assert_int_equal(f->after[0][1], 8);
	fake_free(f);
	free(out);
	free(err);

	/* a hared that would ignore the list: nothing is sent; a job without
	 * one still goes */
	assert_int_equal(FAKE_RUN(FAKE_OLD, &f, &out, &err, "submit", "--model", "m", "--gpus", "1",
				  "--rounds", "1", "--after", "9"), 1);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: this hared does not run jobs after others (it is older than "
			    "harectl); nothing was submitted\n");
	assert_int_equal(f->nsubmits, 0);
	fake_free(f);
	free(out);
	free(err);
	assert_int_equal(FAKE_RUN(FAKE_OLD, &f, &out, &err, "submit", "--model", "m", "--gpus", "1",
				  "--rounds", "1"), 0);
	assert_int_equal(f->nsubmits, 1);
	assert_int_equal(f->nafter[0], 0);
	fake_free(f);
	free(out);
	free(err);

	/* kinds go in their lists; a hared without them is sent nothing */
	assert_int_equal(FAKE_RUN(FAKE_NORMAL, &f, &out, &err, "submit", "--model", "m", "--gpus", "1",
				  "--rounds", "1", "--after", "9,any:8,notok:7,notok:6"), 0);
	assert_int_equal(f->nafter[0], 1);
	assert_int_equal(f->nafter_any[0], 1);
	assert_int_equal(f->nafter_notok[0], 2);
	fake_free(f);
	free(out);
	free(err);
	assert_int_equal(FAKE_RUN(FAKE_NO_KINDS, &f, &out, &err, "submit", "--model", "m", "--gpus", "1",
				  "--rounds", "1", "--after", "9,any:8"), 1);
	assert_string_equal(err, "harectl: this hared runs jobs only after others that are DONE (it is "
			    "older than harectl): 'any:' and 'notok:' are not known to it; nothing was "
			    "submitted\n");
	assert_int_equal(f->nsubmits, 0);
	fake_free(f);
	free(out);
	free(err);
	assert_int_equal(FAKE_RUN(FAKE_NO_KINDS, &f, &out, &err, "submit", "--model", "m", "--gpus", "1",
				  "--rounds", "1", "--after", "9,ok:8"), 0);
	assert_int_equal(f->nafter[0], 2);
	fake_free(f);
	free(out);
	free(err);

	/* a name from flags is refused before anything is sent */
	assert_int_equal(RUN(&out, &err, "submit", "--socket", "/nonexistent/sock", "--model", "m", "--gpus",
			     "1", "--rounds", "1", "--after", "prep"), 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl submit: --after: 'prep' is not a job id (names of earlier [job] "
			    "sections are for job files)\n");
	free(out);
	free(err);
}

static void test_cmd_queue(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	fake_run(f);
	setenv("HARE_SOCKET", f->path, 1);
	assert_int_equal(RUN(&out, &err, "queue", "--all", "-o", "json"), 0);
	unsetenv("HARE_SOCKET");
	fake_stop(f);
	assert_true(f->queue_all);
	fake_free(f);
	assert_string_equal(err, "");
	assert_true(strncmp(out, "{\"jobs\":[\n  {\"job_id\":12,", 25) == 0);
	assert_non_null(strstr(out, "\"lp_bound_s\":1234.5}\n"));
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "queue", "--socket", f->path), 0);
	fake_stop(f);
	fake_free(f);
	assert_true(strncmp(out, "JOBID  USER   NAME ", 19) == 0);
	assert_non_null(strstr(out, "\n13     bob    sweep?1 "));
	free(out);
	free(err);

	/* --state with a finished state asks for every job; --user and
	 * --state keep only the matching rows, in both forms */
	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "queue", "--socket", f->path, "-s", "done,RUNNING"), 0);
	fake_stop(f);
	assert_true(f->queue_all);
	fake_free(f);
	assert_non_null(strstr(out, "\n12     alice "));
	assert_non_null(strstr(out, "\n9      carol "));
	assert_null(strstr(out, "\n13 "));
	free(out);
	free(err);
	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "queue", "--socket", f->path, "--user", "bob", "-o", "json"), 0);
	fake_stop(f);
	assert_false(f->queue_all);
	fake_free(f);
	assert_true(strncmp(out, "{\"jobs\":[\n  {\"job_id\":13,", 25) == 0);
	assert_null(strstr(out, "\"job_id\":12"));
	free(out);
	free(err);
}

static void test_cmd_show_and_nodes(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "show", "12", "--socket", f->path, "-o", "json"), 0);
	fake_stop(f);
	fake_free(f);
	assert_true(strncmp(out, "{\"job_id\":12,\"user\":\"alice\"", 27) == 0);
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "show", "77", "--socket", f->path), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: no job 77\n");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "nodes", "--socket", f->path), 0);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(out, "NODE  STATE    GPUS         BUSY  FREE  FAILS  REASON\n"
				 "n1    up       2xV100+1xT4  2     1     3      -\n"
				 "n2    drained  1xT4         0     0     -      fan noise; down, not back since hared started\n");
	free(out);
	free(err);
}

static void test_cmd_cancel(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "cancel", "--socket", f->path, "11", "12", "99"), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(out, "cancelled 11\n12: not your job\n99: no answer from hared\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "cancel", "--socket", f->path, "3", "5"), 0);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(out, "cancelled 3\ncancelled 5, and 2 jobs after it\n");
	free(out);
	free(err);
}

static void test_cmd_update(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "hold", "--socket", f->path, "11", "12", "99"), 1);
	fake_stop(f);
	assert_true(f->update.has_hold && f->update.hold && !f->update.has_weight);
	fake_free(f);
	assert_string_equal(out, "job 11: held\n12: job belongs to bob\n99: no answer from hared\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "release", "--socket", f->path, "3"), 0);
	fake_stop(f);
	assert_true(f->update.has_hold && !f->update.hold);
	fake_free(f);
	assert_string_equal(out, "job 3: released\n");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "update", "--socket", f->path, "5", "--weight", "2", "--min-gpus",
			     "2"), 0);
	fake_stop(f);
	assert_false(f->update.has_hold);
	assert_true(f->update.has_weight && f->update.weight == 2);
	assert_true(f->update.has_min_gpus && f->update.min_gpus == 2);
	assert_false(f->update.has_max_gpus);
	fake_free(f);
	assert_string_equal(out, "job 5: weight 1 -> 2\n");
	free(out);
	free(err);
}

/* history: rows with local times, a detail's control characters masked,
 * a note when older events were left out; JSON; an empty history. */
static void test_history_output(void **state)
{
	Hare__JobEvent e[2] = { HARE__JOB_EVENT__INIT, HARE__JOB_EVENT__INIT };
	Hare__JobEvent *ep[2] = { &e[0], &e[1] };
	Hare__HistoryReply h = HARE__HISTORY_REPLY__INIT;
	char *out = NULL, *err = NULL;
	size_t olen = 0, elen = 0;
	FILE *fo, *fe;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	e[0].time = NOW - 60;
	e[0].kind = "submit";
	e[0].detail = "user=alice model=lm";
	e[1].time = NOW;
	e[1].kind = "fail";
	e[1].detail = "rank 0 \033[31mred";
	h.job_id = 7;
	h.n_events = 2;
	h.events = ep;
	h.has_cut = h.cut = true;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_history_print(fo, &h, fe), 0);
	fclose(fo);
	fclose(fe);
	assert_string_equal(out, "TIME                      EVENT   DETAIL\n"
				 "2023-11-14T22:12:20+0000  submit  user=alice model=lm\n"
				 "2023-11-14T22:13:20+0000  fail    rank 0 ?[31mred\n");
	assert_string_equal(err, "harectl: older events of job 7 not shown\n");
	free(out);
	free(err);
	out = NULL;
	fo = open_memstream(&out, &olen);
	cli_history_print_json(fo, &h);
	fclose(fo);
	assert_string_equal(out, "{\"job_id\":7,\"events\":[{\"time\":1699999940,\"kind\":\"submit\","
				 "\"detail\":\"user=alice model=lm\"},{\"time\":1700000000,\"kind\":\"fail\","
				 "\"detail\":\"rank 0 \\u001b[31mred\"}],\"cut\":true}\n");
	free(out);
	h.n_events = 0;
	out = err = NULL;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(cli_history_print(fo, &h, fe), 0);
	fclose(fo);
	fclose(fe);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: job 7 has no events\n");
	free(out);
	free(err);
	/* a detail longer than a cell ends with "...", not in a character */
	{
		char big[300], *nl;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		memcpy(big + 122, "\xc3\xa9\xc3\xa9", 4);	/* two e-acute across the cut */
		e[0].detail = big;
		h.n_events = 1;
		h.has_cut = h.cut = false;
		out = NULL;
		fo = open_memstream(&out, &olen);
		fe = open_memstream(&err, &elen);
		assert_int_equal(cli_history_print(fo, &h, fe), 0);
		fclose(fo);
		fclose(fe);
		nl = strchr(strchr(out, '\n') + 1, '\n');
		assert_non_null(nl);
		assert_memory_equal(nl - 5, "\xc3\xa9...", 5);
		free(out);
		free(err);
	}
}

static void test_cmd_drain(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	char *out, *err;

	(void)state;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "drain", "n1", "--reason", "swap GPU 3", "--socket", f->path), 0);
	fake_stop(f);
	assert_string_equal(f->drain_reason, "swap GPU 3");
	fake_free(f);
	assert_string_equal(out, "node n1 drained (1 job moved)\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "undrain", "--socket", f->path, "n1"), 0);
	fake_stop(f);
	assert_string_equal(f->drain_reason, "(none)");
	fake_free(f);
	assert_string_equal(out, "node n1 undrained\n");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "drain", "--socket", f->path, "n9"), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl: unknown node 'n9' (known: n1 n2)\n");
	free(out);
	free(err);
}

static void test_cmd_failures(void **state)
{
	struct fake *f = fake_start_unix(FAKE_REFUSE_HELLO);
	char *out, *err, want[256], gone[160];

	(void)state;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "nodes", "--socket", f->path), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(err, "harectl: bad client token\n");
	free(out);
	free(err);

	/* no token at all: said before connecting, exit 2 */
	unsetenv("HARE_TOKEN");
	assert_int_equal(RUN(&out, &err, "--host", "127.0.0.1:1", "nodes"), 2);
	assert_string_equal(err, "harectl: --host needs the client token: --token-file FILE or "
			    "$HARE_TOKEN\n");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_SILENT);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "queue", "--socket", f->path, "--timeout", "0.2"), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(err, "harectl: no reply from hared within 0.2 s (see --timeout)\n");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_CLOSE);
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "queue", "--socket", f->path), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(err, "harectl: hared closed the connection\n");
	free(out);
	free(err);

	f = fake_start_unix(FAKE_NORMAL);
	snprintf(gone, sizeof(gone), "%s/none.sock", f->dir);
	assert_int_equal(RUN(&out, &err, "queue", "--socket", gone), 1);
	snprintf(want, sizeof(want), "harectl: cannot connect to %s: No such file or directory (is hared running?)\n",
		 gone);
	assert_string_equal(err, want);
	free(out);
	free(err);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	fake_free(f);
}

static void test_cmd_tcp_token(void **state)
{
	char path[80];
	int fd;
	struct fake *f = fake_start_tcp("s3cret-s3cret-s3cret");
	char *out, *err;

	(void)state;
	tmp_template(path, sizeof(path), "hare-test-token");
	fd = mkstemp(path);
	assert_int_equal(write(fd, "s3cret-s3cret-s3cret \n", 22), 22);
	close(fd);
	/* the fake is a hared older than TLS: in the clear */
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "--host", f->host, "--no-tls", "--token-file", path, "nodes"),
			 0);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(err, "");
	assert_true(strncmp(out, "NODE  STATE", 11) == 0);
	free(out);
	free(err);

	/* ... which harectl in TLS (the default) names as such */
	f = fake_start_tcp("s3cret-s3cret-s3cret");
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "--host", f->host, "--token-file", path, "nodes"), 1);
	fake_stop(f);
	fake_free(f);
	assert_non_null(strstr(err, "harectl: hared at 127.0.0.1:"));
	assert_non_null(strstr(err, " does not speak TLS (it says 'frame larger than 65536 bytes "
			       "before hello'): a hared older than harectl; upgrade it (--no-tls talks "
			       "to it meanwhile, but sends the token in the clear)\n"));
	assert_string_equal(out, "");
	free(out);
	free(err);

	/* one too busy to wait for the first byte says so in the clear: said
	 * as it is, with no advice to leave TLS */
	f = fake_start_tcp("s3cret-s3cret-s3cret");
	f->mode = FAKE_BUSY;
	fake_run(f);
	assert_int_equal(RUN(&out, &err, "--host", f->host, "--token-file", path, "nodes"), 1);
	fake_stop(f);
	fake_free(f);
	assert_string_equal(err, "harectl: too many connections to hared from your address (16) are "
			    "waiting to say hello; close some and try again\n");
	free(out);
	free(err);

	f = fake_start_tcp("s3cret-s3cret-s3cret");
	fake_run(f);
	setenv("HARE_TOKEN", "wrong-wrong-wrong-wrong", 1);
	assert_int_equal(RUN(&out, &err, "--no-tls", "--host", f->host, "nodes"), 1);
	unsetenv("HARE_TOKEN");
	fake_stop(f);
	fake_free(f);
	assert_string_equal(err, "harectl: bad client token\n");
	free(out);
	free(err);

	/* one shorter than hared's can be is refused before anything is sent */
	{
		FILE *tf = fopen(path, "w");

		assert_non_null(tf);
		fputs("short\n", tf);
		fclose(tf);
		assert_int_equal(RUN(&out, &err, "--host", "127.0.0.1:1", "--token-file", path, "nodes"), 2);
		assert_non_null(strstr(err, ": the token is 5 bytes; hared's is at least 16\n"));
		free(out);
		free(err);
		setenv("HARE_TOKEN", "short", 1);
		assert_int_equal(RUN(&out, &err, "--host", "127.0.0.1:1", "nodes"), 2);
		unsetenv("HARE_TOKEN");
		assert_string_equal(err, "harectl: $HARE_TOKEN is 5 bytes; hared's token is at least 16\n");
		free(out);
		free(err);
	}

	/* a token longer than harectl sends is refused, not cut short */
	{
		char big[1100];
		FILE *tf = fopen(path, "w");

		memset(big, 'k', sizeof(big));
		assert_non_null(tf);
		assert_int_equal(fwrite(big, 1, 1025, tf), 1025);
		fclose(tf);
		assert_int_equal(RUN(&out, &err, "--host", "127.0.0.1:1", "--token-file", path, "nodes"), 2);
		assert_non_null(strstr(err, "the token is longer than 1024 bytes"));
		free(out);
		free(err);
	}

	unlink(path);
	assert_int_equal(RUN(&out, &err, "--host", "127.0.0.1:1", "--token-file", path, "nodes"), 2);
	assert_non_null(strstr(err, "cannot read token file"));
	free(out);
	free(err);
}

/* A peer that answers with text (a web server on that port) is named as
 * not hared; a binary frame over the limit is "too large". */
static void test_client_recv_not_hared(void **state)
{
	Hare__FromDaemon *reply = NULL;
	static const uint8_t big[4] = { 0x7f, 0, 0, 0 };
	struct cli_conn c = { .fd = -1 };
	char err[256];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "HTTP/1.1 400 Bad Request\r\n\r\n", 28), 28);
	c.fd = sv[0];
	assert_int_equal(cli_client_recv(&c, 1000, &reply, err, sizeof(err)), ERR_FRAME_TOO_BIG);
	assert_string_equal(err, "the peer answered with text ('HTTP...'), not hared's frames: is that "
			    "address hared's socket or client_listen port?");
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], big, sizeof(big)), 4);
	c.fd = sv[0];
	assert_int_equal(cli_client_recv(&c, 1000, &reply, err, sizeof(err)), ERR_FRAME_TOO_BIG);
	assert_non_null(strstr(err, "reply from hared too large (2130706432 bytes"));
	close(sv[0]);
	close(sv[1]);
}

/* The library on its own, as benchmarks use it. */
static void test_client_api(void **state)
{
	struct fake *f = fake_start_unix(FAKE_NORMAL);
	struct cli_target t = { .timeout_ms = 2000 };
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__NodesRequest nodes = HARE__NODES_REQUEST__INIT;
	Hare__ShowRequest show = HARE__SHOW_REQUEST__INIT;
	Hare__FromDaemon *reply = NULL;
	struct cli_conn *fd = NULL;
	char err[256];

	(void)state;
	t.socket_path = f->path;
	fake_run(f);
	assert_int_equal(cli_client_connect(&t, &fd, err, sizeof(err)), 0);
	assert_non_null(fd);
	req.msg_case = HARE__TO_DAEMON__MSG_NODES;
	req.nodes = &nodes;
	/* Two requests back to back, then both replies: nothing is lost. */
	assert_int_equal(cli_client_send(fd, &req, 1000, err, sizeof(err)), 0);
	assert_int_equal(cli_client_send(fd, &req, 1000, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cli_client_recv(fd, 1000, &reply, err, sizeof(err)), 0);
		assert_int_equal(reply->msg_case, HARE__FROM_DAEMON__MSG_NODES_REPLY);
		assert_int_equal(reply->nodes_reply->n_nodes, 2);
		hare__from_daemon__free_unpacked(reply, NULL);
	}
	show.job_id = 5;
	req.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	req.show = &show;
	reply = NULL;
	assert_int_equal(cli_client_request(fd, &req, HARE__FROM_DAEMON__MSG_SHOW_REPLY, 1000, &reply, err,
					    sizeof(err)), ERR_BAD_SPEC);
	assert_string_equal(err, "no job 77");
	assert_null(reply);
	/* A reply of the wrong kind is a protocol error. */
	req.msg_case = HARE__TO_DAEMON__MSG_NODES;
	req.nodes = &nodes;
	assert_int_equal(cli_client_request(fd, &req, HARE__FROM_DAEMON__MSG_QUEUE_REPLY, 1000, &reply, err,
					    sizeof(err)), ERR_PROTO);
	cli_client_close(fd);
	fake_stop(f);
	fake_free(f);
}

static void test_cli_main_usage(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(RUN(&out, &err, "queue", "--bogus"), 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "harectl queue: unknown option '--bogus' (see harectl queue --help)\n");
	free(out);
	free(err);
	assert_int_equal(RUN(&out, &err, "cancel", "--help"), 0);
	assert_true(strncmp(out, "Usage: harectl cancel JOBID...", 30) == 0);
	free(out);
	free(err);
	assert_int_equal(RUN(&out, &err, "--version"), 0);
	assert_true(strncmp(out, "harectl ", 8) == 0);
	assert_non_null(strstr(out, "(protocol 1)"));
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_submit_flags),
		cmocka_unit_test(test_args_after),
		cmocka_unit_test(test_args_update),
		cmocka_unit_test(test_args_globals_anywhere),
		cmocka_unit_test(test_args_help_version),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_wait),
		cmocka_unit_test(test_array),
		cmocka_unit_test(test_jobfile_good),
		cmocka_unit_test(test_jobfile_errors),
		cmocka_unit_test(test_jobfile_long_lines),
		cmocka_unit_test(test_jobfile_after),
		cmocka_unit_test(test_jobfile_load),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_queue_table),
		cmocka_unit_test(test_queue_table_wide),
		cmocka_unit_test(test_queue_json),
		cmocka_unit_test(test_queue_plans),
		cmocka_unit_test(test_reply_queue_cut),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_after_output),
		cmocka_unit_test(test_reply_print),
		cmocka_unit_test(test_wait_print),
		cmocka_unit_test(test_reply_submit_warning),
		cmocka_unit_test(test_reply_drain_state),
		cmocka_unit_test(test_reply_forget),
		cmocka_unit_test(test_history_node_output),
		cmocka_unit_test(test_usage_args),
		cmocka_unit_test(test_usage_output),
		cmocka_unit_test(test_show_gpu_hours),
		cmocka_unit_test(test_nodes_down_seen),
		cmocka_unit_test(test_nodes_unhealthy),
		cmocka_unit_test(test_logs_output),
		cmocka_unit_test(test_logs_follow),
		cmocka_unit_test(test_logs_lease_ended),
		cmocka_unit_test(test_reply_control_chars),
		cmocka_unit_test(test_nodes_sorted),
		cmocka_unit_test(test_nodes_output),
		cmocka_unit_test(test_cmd_submit),
		cmocka_unit_test(test_cmd_submit_refused),
		cmocka_unit_test(test_cmd_wait),
		cmocka_unit_test(test_cmd_submit_file),
		cmocka_unit_test(test_cmd_submit_after),
		cmocka_unit_test(test_cmd_queue),
		cmocka_unit_test(test_cmd_show_and_nodes),
		cmocka_unit_test(test_cmd_cancel),
		cmocka_unit_test(test_cmd_update),
		cmocka_unit_test(test_history_output),
		cmocka_unit_test(test_cmd_drain),
		cmocka_unit_test(test_cmd_failures),
		cmocka_unit_test(test_cmd_tcp_token),
		cmocka_unit_test(test_client_api),
		cmocka_unit_test(test_client_recv_not_hared),
		cmocka_unit_test(test_cli_main_usage),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	unsetenv("HARE_SOCKET");
	unsetenv("HARE_TOKEN");
	fixtures_fill();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
