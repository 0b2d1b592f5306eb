/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent measuring GPU types hared lacks (hare-worker
 * --profile) against a fake hared: rows, failures, refusals, duplicates,
 * results across a reconnect, the agent's close, and ProfileCancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "log.h"

/* ---- measuring GPU types the daemon lacks ---- */

static void fake_profile_request(struct fake *f, const char *type, const char *const *models,
				 size_t n)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__ProfileRequest r = HARE__PROFILE_REQUEST__INIT;

	r.gpu_type = (char *)type;
	r.models = (char **)models;
	r.n_models = n;
	m.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_REQUEST;
	m.profile_request = &r;
	fake_send(f, &m);
}

/* The ProfileResults the daemon heard for type (NULL: any): how many, the
 * last, and where it is among all messages. */
static const Hare__ProfileResult *fake_profile_result(const struct fake *f, const char *type,
						      int *n, size_t *at)
{
	const Hare__ProfileResult *last = NULL;

	*n = 0;
	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__ProfileResult *r = f->msgs[i]->profile_result;

		if (f->msgs[i]->msg_case != HARE__TO_DAEMON__MSG_PROFILE_RESULT ||
		    (type && strcmp(r->gpu_type, type) != 0))
			continue;
		last = r;
		(*n)++;
		if (at)
			*at = i;
	}
	return last;
}

static bool fake_has_profile(const struct fake *f, const char *type)
{
	int n;

	return fake_profile_result(f, type, &n, NULL) != NULL;
}

/* The i-th ProfileResult heard (of any type). */
static const Hare__ProfileResult *fake_profile_nth(const struct fake *f, int i)
{
	for (size_t k = 0; k < f->nmsgs; k++) {
		if (f->msgs[k]->msg_case == HARE__TO_DAEMON__MSG_PROFILE_RESULT && i-- == 0)
			return f->msgs[k]->profile_result;
	}
	return NULL;
}

/* A stand-in for hare-worker --profile as the agent's worker: it logs its
 * flags, GPUs and environment to DIR/argv.txt, then acts by model name;
 * any other model prints comments and the 16 rows of a (model, type), as
 * the real one does. */
static void profile_worker(struct fake *f)
{
	char path[256], text[4096], err[256];
	int n;

	snprintf(path, sizeof(path), "%s/worker.sh", f->dir);
	n = snprintf(text, sizeof(text),
		"#!/bin/sh\n"
		"d=%s\n"
		"for a; do case \"$a\" in --model=*) model=${a#--model=};; "
		"--gpu-type=*) type=${a#--gpu-type=};; esac; done\n"
		"echo \"start $type $model: $* [$CUDA_VISIBLE_DEVICES] $CUDA_DEVICE_ORDER "
		"${HARE_LEAK-none} $(pwd)\" >> $d/argv.txt\n"
		"rows() { for w in 1 2 4 8 16 32 64 128; do for p in consolidated spread; do\n"
		"  echo \"$model,$type,$w,$p,0.5,0.0$w,measured/nccl\"; done; done; }\n"
		"case $model in\n"
		"bad) printf '%%s,%%s,0,spread,1,1,x\\001y\\n' $model $type;;\n"
		"exit3) rows; exit 3;;\n"
		"slow) echo $$ > $d/slow.pid; exec sleep 5;;\n"
		"nap) sleep 0.3; rows;;\n"
		"long) head -c 5000 /dev/zero | tr '\\0' a; echo;;\n"
		"many) rows; rows; rows; rows; rows;;\n"
		"partial) rows; printf '%%s' \"$model,$type,1,spread\";;\n"
		"none) echo '# nothing measured';;\n"
		"term) echo $$ > $d/term.pid; exec sleep 30;;\n"
		"*) echo \"# hare-worker --profile: model $model\"; echo; rows;;\n"
		"esac\n"
		"echo \"end $type $model\" >> $d/argv.txt\n", f->dir);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	write_file(path, text, 0755);
	assert_int_equal(agent_config_set(&f->cfg, "worker", path, err, sizeof(err)), 0);
}

/* A fake daemon and an agent (not started) with GPUs gpus that measures
 * them (profile_unknown = yes) with the stand-in worker above. */
static struct fake *profile_fake(const char *gpus)
{
	struct fake *f = fake_new(TEST_KEY, gpus);

	profile_worker(f);
	fake_set(f, "profile_unknown", "yes");
	return f;
}

/* r holds the 16 rows of profile_worker for each of models, in order. */
static void assert_profile_rows(const Hare__ProfileResult *r, const char *type,
				const char *const *models, size_t n)
{
	assert_non_null(r);
	assert_true(r->ok);
	assert_string_equal(r->gpu_type, type);
	assert_int_equal(r->n_rows, 16 * n);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *w = r->rows[i];
		uint32_t workers = 1u << (i % 16 / 2);
		char sync[16];

		snprintf(sync, sizeof(sync), "0.0%u", workers);
		assert_string_equal(w->model, models[i / 16]);
		assert_int_equal(w->workers, workers);
		assert_string_equal(w->placement, i % 2 ? "spread" : "consolidated");
		assert_true(w->compute_s == 0.5);
		assert_true(w->sync_s == strtod(sync, NULL));
		assert_string_equal(w->source, "measured/nccl");
	}
}

/* Two types measured one after the other: real T4s (auto measures them) on
 * their CUDA ordinals, emulated V100s (profile_unknown = yes) on the CPU
 * engine; rows of each model in order, flags and environment as documented. */
static void test_profile_rows(void **state)
{
	static const char *const models[] = { "ncf", "resnet50" };
	struct fake *f = profile_fake("V100:1,T4:2");
	char path[300], work[300], want[2048], got[2048];
	const Hare__ProfileResult *r;
	struct agent_stats st;
	int n;

	(void)state;
	fake_set(f, "profile_proxy", "batch=8,mlp=4-2");
	fake_set(f, "profile_iters", "3");
	/* the T4s as NVML would have found them */
	f->cfg.gpus[1].emulated = f->cfg.gpus[2].emulated = false;
	setenv("HARE_LEAK", "1", 1);
	setenv("CUDA_VISIBLE_DEVICES", "7", 1);
	fake_agent_registered(f);
	fake_profile_request(f, "T4", models, 2);
	fake_profile_request(f, "V100", models, 1);
	RUN_UNTIL(f, fake_has_profile(f, "T4") && fake_has_profile(f, "V100"), 10);
	unsetenv("HARE_LEAK");
	unsetenv("CUDA_VISIBLE_DEVICES");
	r = fake_profile_result(f, "T4", &n, NULL);
	assert_int_equal(n, 1);
	assert_profile_rows(r, "T4", models, 2);
	assert_null(r->message);
	r = fake_profile_result(f, "V100", &n, NULL);
	assert_int_equal(n, 1);
	assert_profile_rows(r, "V100", models, 1);
	/* in request order, one process at a time, in work_dir */
	snprintf(path, sizeof(path), "%s/work", f->dir);
	assert_non_null(realpath(path, work));
	snprintf(want, sizeof(want),
		 "start T4 ncf: --profile --model=ncf --gpu-type=T4 --proxy=batch=8,mlp=4-2 "
		 "--profile-iters=3 --parent-pid=%d [1,2] PCI_BUS_ID none %s\nend T4 ncf\n"
		 "start T4 resnet50: --profile --model=resnet50 --gpu-type=T4 "
		 "--proxy=batch=8,mlp=4-2 --profile-iters=3 --parent-pid=%d [1,2] PCI_BUS_ID none "
		 "%s\nend T4 resnet50\n"
		 "start V100 ncf: --profile --model=ncf --gpu-type=V100 --engine=cpu "
		 "--proxy=batch=8,mlp=4-2 --profile-iters=3 --parent-pid=%d [] PCI_BUS_ID none "
		 "%s\nend V100 ncf\n",
		 (int)getpid(), work, (int)getpid(), work, (int)getpid(), work);
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	read_text(path, got, sizeof(got));
	assert_string_equal(got, want);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 3);
	assert_int_equal(st.profile_results, 2);
	fake_free(f);
}

/* The real hare-worker --profile on the CPU engine (tiny sizes): its output
 * as it prints it goes through, 16 rows a model. */
static void test_profile_real_worker(void **state)
{
	static const char *const models[] = { "ncf", "recommendation" };
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	const Hare__ProfileResult *r;
	int n;

	(void)state;
	fake_set(f, "worker", WORKER_BIN);
	fake_set(f, "profile_unknown", "yes");
	fake_set(f, "profile_proxy", "batch=8,dim=8,rows=100,mlp=4-2");
	fake_set(f, "profile_iters", "1");
	fake_agent_registered(f);
	fake_profile_request(f, "V100", models, 2);
	RUN_UNTIL(f, fake_has_profile(f, "V100"), 20);
	r = fake_profile_result(f, "V100", &n, NULL);
	if (!r->ok)
		fail_msg("%s", r->message);
	assert_int_equal(r->n_rows, 32);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *w = r->rows[i];

		assert_string_equal(w->model, models[i / 16]);
		assert_int_equal(w->workers, 1u << (i % 16 / 2));
		assert_string_equal(w->placement, i % 2 ? "spread" : "consolidated");
		assert_true(w->compute_s > 0 && w->compute_s == r->rows[i / 16 * 16]->compute_s);
		assert_true(w->workers == 1 ? w->sync_s == 0 : w->sync_s > 0);
		assert_non_null(strstr(w->source, "measured/"));
	}
	fake_free(f);
}

/* A worker that hangs (killed after profile_timeout_s), prints a bad row,
 * exits 3, prints an overlong line, too many rows, half a line, no rows:
 * each fails its request (no rows) with the reason, and a failing model
 * ends its request. */
static void test_profile_failures(void **state)
{
	static const struct {
		const char *type, *model, *message;
	} cases[] = {
		{ "V100", "bad", "hare-worker --profile --model bad printed a bad line "
		  "'bad,V100,0,spread,1,1,x?y': workers must be 1 to 128" },
		{ "T4", "exit3", "hare-worker --profile --model exit3 exited with status 3" },
		{ "P100", "long", "hare-worker --profile --model long printed a line over 4096 "
		  "bytes: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'" },
		{ "A100", "many", "hare-worker --profile --model many printed more than 64 rows" },
		{ "H100", "partial", "hare-worker --profile --model partial ended its output in the "
		  "middle of a line: 'partial,H100,1,spread'" },
		{ "L4", "none", "hare-worker --profile --model none printed no rows" },
	};
	struct fake *f = profile_fake("K80:1,V100:1,T4:1,P100:1,A100:1,H100:1,L4:1");
	const char *slow[] = { "slow" }, *two[] = { NULL, "ncf" };
	const Hare__ProfileResult *r;
	char path[300], got[4096];
	double t0, dt;
	int n, pid;

	(void)state;
	fake_set(f, "profile_timeout_s", "1");
	fake_agent_registered(f);
	t0 = now_s();
	fake_profile_request(f, "K80", slow, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		two[0] = cases[i].model;
		fake_profile_request(f, cases[i].type, two, 2);
	}
	RUN_UNTIL(f, fake_has_profile(f, "K80"), 5);
	dt = now_s() - t0;
	print_message("profile: a hung worker's request failed after %.2f s (timeout 1 s)\n", dt);
	assert_true(dt >= 0.95 && dt < 2.5);
	r = fake_profile_result(f, "K80", &n, NULL);
	assert_false(r->ok);
	assert_int_equal(r->n_rows, 0);
	assert_string_equal(r->message, "hare-worker --profile --model slow took over 1 s");
	/* killed, and reaped */
	snprintf(path, sizeof(path), "%s/slow.pid", f->dir);
	read_text(path, got, sizeof(got));
	pid = atoi(got);
	assert_true(pid > 1);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		RUN_UNTIL(f, fake_has_profile(f, cases[i].type), 5);
		r = fake_profile_result(f, cases[i].type, &n, NULL);
		assert_int_equal(n, 1);
		assert_false(r->ok);
		assert_int_equal(r->n_rows, 0);
		if (strcmp(r->message, cases[i].message) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].type, r->message, cases[i].message);
	}
	/* the model after a failing one never ran */
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	read_text(path, got, sizeof(got));
	assert_null(strstr(got, " ncf:"));
	fake_free(f);
}

/* Requests refused at once, without a worker: emulated GPUs under auto, a
 * type the node does not have, bad model lists; profile_unknown = no. */
static void test_profile_refused(void **state)
{
	static const char *const ncf[] = { "ncf" }, *const twice[] = { "ncf", "ncf" };
	static const char *const badname[] = { "ncf", "res net" };
	const char *many[33];
	static const char *const want[] = {
		("measuring is off on node test-node (profile_unknown = auto and its V100 GPUs are "
		 "emulated)"),
		"GPU type 'A100' is not on node test-node",
		"a request names 1 to 32 models, got 0",
		"a request names 1 to 32 models, got 33",
		"model name 'res net' must be 1 to 63 of A-Z a-z 0-9 . _ + -",
		"model 'ncf' is listed twice",
		"measuring is off on node test-node (profile_unknown = no)",
	};
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	const Hare__ProfileResult *r;
	struct agent_stats st;
	int n;

	(void)state;
	for (size_t i = 0; i < 33; i++)
		many[i] = "ncf";
	profile_worker(f);
	fake_agent_registered(f);
	fake_profile_request(f, "V100", ncf, 1);
	fake_profile_request(f, "A100", ncf, 1);
	fake_profile_request(f, "V100", ncf, 0);
	fake_profile_request(f, "V100", many, 33);
	fake_profile_request(f, "V100", badname, 2);
	fake_profile_request(f, "V100", twice, 2);
	RUN_UNTIL(f, fake_profile_nth(f, 5), 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 0);
	/* the link stays up: the next agent's request is answered too */
	fake_agent_stop(f);
	fake_set(f, "profile_unknown", "no");
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	fake_profile_request(f, "V100", ncf, 1);
	RUN_UNTIL(f, fake_profile_nth(f, 6), 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 0);
	for (int i = 0; i < 7; i++) {
		r = fake_profile_nth(f, i);
		assert_false(r->ok);
		assert_int_equal(r->n_rows, 0);
		if (strcmp(r->message, want[i]) != 0)
			fail_msg("result %d: got '%s', want '%s'", i, r->message, want[i]);
	}
	fake_profile_result(f, NULL, &n, NULL);
	assert_int_equal(n, 7);
	assert_int_equal(f->hellos, 2);	/* no refusal dropped the link */
	fake_free(f);
}

/* A request for a type already running or queued is ignored: one worker
 * and one result per type. */
static void test_profile_duplicate(void **state)
{
	static const char *const nap[] = { "nap" }, *const ncf[] = { "ncf" };
	struct fake *f = profile_fake("V100:1,T4:1");
	struct agent_stats st;
	double t0;
	int n;

	(void)state;
	fake_agent_registered(f);
	fake_profile_request(f, "V100", nap, 1);
	fake_profile_request(f, "T4", nap, 1);
	fake_profile_request(f, "V100", ncf, 1);	/* running */
	fake_profile_request(f, "T4", ncf, 1);		/* queued */
	RUN_UNTIL(f, fake_has_profile(f, "V100") && fake_has_profile(f, "T4"), 5);
	t0 = now_s();
	RUN_UNTIL(f, now_s() > t0 + 0.2, 2);
	assert_profile_rows(fake_profile_result(f, "V100", &n, NULL), "V100", nap, 1);
	assert_int_equal(n, 1);
	assert_profile_rows(fake_profile_result(f, "T4", &n, NULL), "T4", nap, 1);
	assert_int_equal(n, 1);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 2);
	fake_free(f);
}

/* Register lists the types the agent measures (queued or running) or has
 * a result for that follows, so hared waits instead of asking again; a
 * refusal is no measurement; a new request after the result measures anew. */
static void test_profile_register_lists(void **state)
{
	static const char *const slow[] = { "slow" }, *const nap[] = { "nap" };
	struct fake *f = profile_fake("V100:1,T4:1,K80:1");
	struct agent_stats st;
	int n;

	(void)state;
	fake_set(f, "profile_timeout_s", "2");
	fake_agent_registered(f);
	assert_string_equal(f->reg_measuring, "");
	f->mute = true;
	fake_profile_request(f, "V100", slow, 1);	/* running */
	fake_profile_request(f, "T4", nap, 1);		/* queued */
	fake_profile_request(f, "A100", nap, 1);	/* refused: not on the node */
	fake_drop(f);
	f->mute = false;
	fake_drop(f);
	RUN_UNTIL(f, f->registers == 2, 10);
	assert_string_equal(f->reg_measuring, "V100,T4");
	RUN_UNTIL(f, fake_has_profile(f, "T4"), 10);
	fake_profile_request(f, "T4", nap, 1);
	RUN_UNTIL(f, (fake_profile_result(f, "T4", &n, NULL), n == 2), 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 3);	/* slow, nap, nap again */
	fake_free(f);
}

/* A result made while the link is down goes out right after the next
 * Register. */
static void test_profile_after_reconnect(void **state)
{
	static const char *const nap[] = { "nap" };
	struct fake *f = profile_fake("T4:1");
	char path[300];
	size_t at = 0;
	int n;

	(void)state;
	fake_agent_registered(f);
	f->mute = true;		/* the agent's next session stops at Hello */
	fake_profile_request(f, "T4", nap, 1);
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	RUN_UNTIL(f, file_exists(path), 5);
	fake_drop(f);
	RUN_UNTIL(f, f->agent->profiles && f->agent->profiles->phase == PROFILE_DONE, 5);
	assert_true(f->hellos >= 2);
	assert_false(fake_has_profile(f, "T4"));
	f->mute = false;
	fake_drop(f);
	RUN_UNTIL(f, f->registers == 2 && fake_has_profile(f, "T4"), 10);
	assert_profile_rows(fake_profile_result(f, "T4", &n, &at), "T4", nap, 1);
	assert_int_equal(n, 1);
	assert_int_equal(at, f->reg_msgs);	/* the first message after Register */
	fake_free(f);
}

static void fake_profile_cancel(struct fake *f, const char *type)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__ProfileCancel c = HARE__PROFILE_CANCEL__INIT;

	c.gpu_type = (char *)type;
	m.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_CANCEL;
	m.profile_cancel = &c;
	fake_send(f, &m);
}

/* ProfileCancel: the running measurement of the type is killed and
 * answered as cancelled once it exited, a queued one of another type at
 * once; a request of the type made while the killed one still ends runs
 * after it, as usual; a second cancel and one for a type nothing measures
 * get no answer. */
static void test_profile_cancel(void **state)
{
	static const char *const slow[] = { "slow" }, *const nap[] = { "nap" };
	static const char *const two[] = { "nap", "ncf" };
	struct fake *f = profile_fake("V100:1,T4:1");
	char path[300], got[64] = "";
	const Hare__ProfileResult *r;
	struct agent_stats st;
	size_t at_t4 = 0, at_v100 = 0, at_nap = 0;
	int pid, n;

	(void)state;
	fake_agent_registered(f);
	fake_profile_request(f, "T4", slow, 1);		/* runs */
	fake_profile_request(f, "V100", two, 2);	/* queued */
	snprintf(path, sizeof(path), "%s/slow.pid", f->dir);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	pid = atoi(got);
	fake_profile_cancel(f, "A100");			/* nothing to cancel */
	fake_profile_cancel(f, "V100");			/* the queued one */
	fake_profile_cancel(f, "T4");			/* the running one */
	fake_profile_cancel(f, "T4");			/* again: nothing more */
	/* asked again while the cancelled one still ends: queued behind it */
	fake_profile_request(f, "T4", nap, 1);
	RUN_UNTIL(f, fake_has_profile(f, "V100"), 3);
	r = fake_profile_result(f, "V100", &n, &at_v100);
	assert_int_equal(n, 1);
	assert_true(!r->ok && r->has_cancelled && r->cancelled && r->n_rows == 0);
	assert_string_equal(r->message, "cancelled by the daemon before it started");
	/* the killed one's answer comes once it exited: "slow" sleeps 5 s */
	RUN_UNTIL(f, fake_has_profile(f, "T4"), 3);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	r = fake_profile_result(f, "T4", &n, &at_t4);
	assert_true(!r->ok && r->has_cancelled && r->cancelled && r->n_rows == 0);
	assert_string_equal(r->message, "cancelled by the daemon");
	RUN_UNTIL(f, (fake_profile_result(f, "T4", &n, NULL), n == 2), 5);
	r = fake_profile_result(f, "T4", &n, &at_nap);
	assert_profile_rows(r, "T4", nap, 1);
	assert_false(r->has_cancelled && r->cancelled);
	assert_true(at_v100 < at_t4 && at_t4 < at_nap);
	RUN_UNTIL(f, !f->agent->profiles && !f->agent->prof.p, 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_cancels, 2);
	assert_int_equal(st.profile_workers, 2);	/* slow, nap: V100 never ran */
	assert_int_equal(st.profile_results, 3);
	fake_free(f);
}

/* The agent's close ends a measurement (SIGTERM), waits for it, and
 * leaves no handle behind (fake_free closes the loop). */
static void test_profile_close_kills(void **state)
{
	static const char *const term[] = { "term" };
	struct fake *f = profile_fake("T4:1");
	char path[300], got[64] = "";
	double t0;
	int pid;

	(void)state;
	fake_agent_registered(f);
	fake_profile_request(f, "T4", term, 1);
	snprintf(path, sizeof(path), "%s/term.pid", f->dir);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	pid = atoi(got);
	t0 = now_s();
	fake_agent_stop(f);
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_false(fake_has_profile(f, "T4"));
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_rows),
		cmocka_unit_test(test_profile_real_worker),
		cmocka_unit_test(test_profile_failures),
		cmocka_unit_test(test_profile_refused),
		cmocka_unit_test(test_profile_duplicate),
		cmocka_unit_test(test_profile_after_reconnect),
		cmocka_unit_test(test_profile_register_lists),
		cmocka_unit_test(test_profile_close_kills),
		cmocka_unit_test(test_profile_cancel),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
