/* SPDX-License-Identifier: MIT */
/* Unit tests for trace import (sim/trace.c): the philly, gavel and hare
 * formats parsed to exact values, every kind of bad row reported as
 * file:line, --skip-bad counts, thinning, truncation and arrival scaling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster.h"
#include "err.h"
#include "profile.h"
#include "sched.h"
#include "trace.h"
#include "workload.h"

#define TRACES HARE_SOURCE_DIR "/tests/fixtures/traces/"
#define CLUSTERS HARE_SOURCE_DIR "/deploy/clusters/"

static struct profile *prof;
static struct sim_cluster tiny;	/* tiny-8: 4 V100 on one node, 2 x 2 K80 */

static int group_setup(void **state)
{
	char err[256];

	(void)state;
	if (profile_load(HARE_SOURCE_DIR "/workloads/profiles", &prof, err, sizeof(err)) != 0 ||
	    sim_cluster_load(CLUSTERS "tiny-8.ini", prof, &tiny, err, sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sim_cluster_destroy(&tiny);
	profile_free(prof);
	return 0;
}

static int type_index(const char *name)
{
	for (uint32_t t = 0; t < tiny.sched.ntypes; t++)
		if (strcasecmp(tiny.sched.type_names[t], name) == 0)
			return (int)t;
	fail_msg("type %s not in tiny-8", name);
	return -1;
}

/* Rounds a duration (seconds at gpus reference GPUs) becomes at `tasks`. */
static uint64_t expect_rounds(uint32_t model, double seconds, uint32_t gpus, uint32_t tasks)
{
	const char *ref = profile_reference_type(prof);
	struct sched_perf p;
	char err[128];
	double per, r;

	assert_int_equal(profile_perf_fill(prof, model, &ref, 1, &p, err, sizeof(err)), 0);
	per = p.compute_s[0] + sched_sync_time(&p, tasks, false);
	r = floor(seconds * gpus / tasks / per + 0.5);
	return r >= 1 ? (uint64_t)r : 1;
}

static void load_ok(const char *file, const struct sim_trace_opts *o, struct sim_workload *w,
		    struct sim_trace_info *info)
{
	char err[512];

	if (sim_trace_load(file, o, prof, &tiny, w, info, err, sizeof(err)) != 0)
		fail_msg("%s: %s", file, err);
}

/* Fields every imported job has, whatever the format. */
static void check_common(const struct sim_workload *w)
{
	for (uint32_t i = 0; i < w->njobs; i++) {
		const struct sched_job *j = &w->jobs[i].spec;

		assert_int_equal(j->id, i);
		assert_true(j->min_gpus >= 1 && j->min_gpus <= j->max_gpus && j->max_gpus <= j->tasks);
		assert_true(j->rounds_total >= 1);
		assert_true(j->first_start_s < 0 && j->last_run_s < 0);
		assert_true(j->nheld == 0 && j->rounds_done == 0);
		assert_true(sched_perf_fastest(&j->perf, tiny.sched.ntypes) > 0);
		if (i > 0)
			assert_true(j->arrival_s >= w->jobs[i - 1].spec.arrival_s);
	}
}

/* ------------------------------------------------------------- philly -- */

static void test_philly_exact(void **state)
{
	/* Sorted by timestamp: lines 4, 3, 5, 6 (tie: file order), 2. */
	static const double arrival[] = { 0, 713583, 713616, 713616, 716515 };
	static const char *const names[] = { "philly-4", "philly-3", "philly-5", "philly-6",
					      "philly-2" };
	static const uint32_t gpus[] = { 16, 1, 4, 2, 1 }, tasks[] = { 8, 1, 4, 2, 1 };
	static const double dur[] = { 3600, 2951, 2759, 120, 66 };
	struct sim_trace_opts o;
	struct sim_trace_info info;
	struct sim_workload w;
	char err[128];

	(void)state;
	sim_trace_opts_default(&o);
	o.arrival_scale = 1;
	load_ok(TRACES "philly_small.csv", &o, &w, &info);
	assert_int_equal(info.format, SIM_TRACE_PHILLY);
	assert_int_equal(w.njobs, 5);
	assert_int_equal(info.rows, 5);
	assert_int_equal(info.capped, 1);	/* 16 GPUs on an 8-GPU cluster */
	assert_int_equal(info.max_tasks, 8);
	assert_true(info.arrival_scale == 1.0);
	check_common(&w);
	for (uint32_t i = 0; i < 5; i++) {
		const struct sched_job *j = &w.jobs[i].spec;
		struct sched_perf p;
		const char *tn[SCHED_MAX_TYPES];

		assert_true(j->arrival_s == arrival[i]);
		assert_string_equal(j->name, names[i]);
		assert_int_equal(j->tasks, tasks[i]);
		assert_int_equal(j->min_gpus, 1);
		assert_int_equal(j->max_gpus, tasks[i]);
		assert_true(j->weight == 1 || j->weight == 2 || j->weight == 4 || j->weight == 8);
		/* Capped jobs keep their GPU-seconds: 3600 s x 16 GPUs over 8 tasks. */
		assert_true(j->rounds_total == expect_rounds(w.jobs[i].model, dur[i], gpus[i], tasks[i]));
		for (uint32_t t = 0; t < tiny.sched.ntypes; t++)
			tn[t] = tiny.sched.type_names[t];
		assert_int_equal(profile_perf_fill(prof, w.jobs[i].model, tn, tiny.sched.ntypes, &p, err,
						   sizeof(err)), 0);
		assert_memory_equal(&p, &j->perf, sizeof(p));
	}
	sim_workload_destroy(&w);
}

/* Model and weight draws depend on the seed and the row only. */
static void test_philly_draws(void **state)
{
	struct sim_trace_opts o;
	struct sim_workload a, b, c;
	bool differ = false;

	(void)state;
	sim_trace_opts_default(&o);
	load_ok(TRACES "philly_small.csv", &o, &a, NULL);
	load_ok(TRACES "philly_small.csv", &o, &b, NULL);
	o.seed = 2;
	load_ok(TRACES "philly_small.csv", &o, &c, NULL);
	for (uint32_t i = 0; i < a.njobs; i++) {
		assert_int_equal(a.jobs[i].model, b.jobs[i].model);
		assert_true(a.jobs[i].spec.weight == b.jobs[i].spec.weight);
		differ |= a.jobs[i].model != c.jobs[i].model ||
			  a.jobs[i].spec.weight != c.jobs[i].spec.weight;
	}
	assert_true(differ);
	sim_workload_destroy(&a);
	sim_workload_destroy(&b);
	sim_workload_destroy(&c);
}

/* Without options a philly trace is rescaled to the default offered load. */
static void test_philly_default_load(void **state)
{
	struct sim_trace_opts o;
	struct sim_trace_info info;
	struct sim_workload w;
	double work = 0, span;

	(void)state;
	sim_trace_opts_default(&o);
	load_ok(TRACES "philly_small.csv", &o, &w, &info);
	span = 716515.0;
	for (uint32_t i = 0; i < w.njobs; i++) {
		const struct sched_job *j = &w.jobs[i].spec;
		const char *ref = profile_reference_type(prof);
		struct sched_perf p;
		char err[128];

		assert_int_equal(profile_perf_fill(prof, w.jobs[i].model, &ref, 1, &p, err, sizeof(err)),
				 0);
		work += j->tasks * (double)j->rounds_total *
			(p.compute_s[0] + sched_sync_time(&p, j->tasks, false));
	}
	assert_true(fabs(info.source_load - work / (8.0 * span)) < 1e-9 * info.source_load);
	assert_true(fabs(info.offered_load - SIM_TRACE_DEFAULT_LOAD) < 1e-12);
	assert_true(fabs(info.arrival_scale - info.source_load / SIM_TRACE_DEFAULT_LOAD) < 1e-12);
	assert_true(fabs(w.jobs[4].spec.arrival_s - span * info.arrival_scale) < 1e-6);
	assert_true(w.jobs[0].spec.arrival_s == 0);
	sim_workload_destroy(&w);

	o.load = 2.0;
	load_ok(TRACES "philly_small.csv", &o, &w, &info);
	assert_true(fabs(info.offered_load - 2.0) < 1e-12);
	sim_workload_destroy(&w);
}

static void test_thin_and_max_jobs(void **state)
{
	struct sim_trace_opts o;
	struct sim_trace_info info, info2;
	struct sim_workload w, w2;

	(void)state;
	sim_trace_opts_default(&o);
	o.arrival_scale = 1;
	o.max_jobs = 2;
	load_ok(TRACES "philly_small.csv", &o, &w, &info);
	assert_int_equal(w.njobs, 2);
	assert_int_equal(info.truncated, 3);
	assert_true(w.jobs[0].spec.arrival_s == 0 && w.jobs[1].spec.arrival_s == 713583);
	sim_workload_destroy(&w);

	/* Thinning keeps a row when its own draw is below P: the same rows
	 * for a seed, and every row kept at 0.5 is kept at 0.9. */
	o.max_jobs = 0;
	o.thin = 0.5;
	load_ok(TRACES "philly_small.csv", &o, &w, &info);
	load_ok(TRACES "philly_small.csv", &o, &w2, &info2);
	assert_int_equal(w.njobs + info.thinned, 5);
	assert_true(w.njobs > 0 && info.thinned > 0);
	assert_int_equal(w.njobs, w2.njobs);
	for (uint32_t i = 0; i < w.njobs; i++)
		assert_string_equal(w.jobs[i].spec.name, w2.jobs[i].spec.name);
	sim_workload_destroy(&w2);
	o.thin = 0.9;
	load_ok(TRACES "philly_small.csv", &o, &w2, &info2);
	assert_true(w2.njobs >= w.njobs);
	for (uint32_t i = 0, k = 0; i < w.njobs; i++, k++) {
		while (k < w2.njobs && strcmp(w2.jobs[k].spec.name, w.jobs[i].spec.name) != 0)
			k++;
		assert_true(k < w2.njobs);
	}
	sim_workload_destroy(&w);
	sim_workload_destroy(&w2);
}

/* -------------------------------------------------------------- gavel -- */

static void test_gavel_exact(void **state)
{
	static const char *const models[] = { "resnet50", "transformer", "lm" };
	static const double arrival[] = { 0, 10.5, 100 };
	static const uint32_t tasks[] = { 1, 2, 4 };
	/* total_steps / scale_factor: Gavel counts steps over all workers. */
	static const uint64_t rounds[] = { 1000, 10426, 250 };
	struct sim_trace_opts o;
	struct sim_trace_info info;
	struct sim_workload w;

	(void)state;
	sim_trace_opts_default(&o);
	o.arrival_scale = 1;
	load_ok(TRACES "gavel_small.trace", &o, &w, &info);
	assert_int_equal(info.format, SIM_TRACE_GAVEL);
	assert_int_equal(w.njobs, 3);
	check_common(&w);
	for (uint32_t i = 0; i < 3; i++) {
		const struct sched_job *j = &w.jobs[i].spec;
		char name[16];

		assert_string_equal(sim_workload_model_name(&w, i), models[i]);
		assert_true(j->arrival_s == arrival[i]);
		assert_int_equal(j->tasks, tasks[i]);
		assert_int_equal(j->max_gpus, tasks[i]);
		assert_true(j->rounds_total == rounds[i]);
		snprintf(name, sizeof(name), "gavel-%u", i + 1);
		assert_string_equal(j->name, name);
	}
	sim_workload_destroy(&w);
}

/* --------------------------------------------------------------- hare -- */

static void test_hare_exact(void **state)
{
	struct sim_trace_opts o;
	struct sim_trace_info info;
	struct sim_workload w;
	const struct sched_job *j;
	int v100 = type_index("V100"), k80 = type_index("K80");

	(void)state;
	sim_trace_opts_default(&o);
	load_ok(TRACES "hare_good.csv", &o, &w, &info);
	assert_int_equal(info.format, SIM_TRACE_HARE);
	assert_true(info.arrival_scale == 1.0);	/* hare traces keep their times */
	assert_int_equal(w.njobs, 3);
	check_common(&w);

	j = &w.jobs[0].spec;
	assert_string_equal(j->name, "alpha");
	assert_string_equal(sim_workload_model_name(&w, 0), "resnet50");
	assert_true(j->arrival_s == 0 && j->weight == 2);
	assert_int_equal(j->tasks, 4);
	assert_int_equal(j->min_gpus, 1);
	assert_int_equal(j->max_gpus, 4);
	assert_true(j->rounds_total == 500);
	assert_true(j->perf.compute_s[v100] > 0 && j->perf.compute_s[k80] > 0);

	j = &w.jobs[1].spec;
	assert_string_equal(j->name, "job1");
	assert_string_equal(sim_workload_model_name(&w, 1), "resnet18");	/* alias ResNet-18 */
	assert_true(j->arrival_s == 10.5 && j->weight == 1);
	assert_int_equal(j->tasks, 2);
	assert_int_equal(j->min_gpus, 1);
	assert_int_equal(j->max_gpus, 2);
	assert_true(j->rounds_total == expect_rounds(w.jobs[1].model, 3600, 2, 2));
	assert_true(j->perf.compute_s[v100] > 0 && j->perf.compute_s[k80] == 0);

	j = &w.jobs[2].spec;
	assert_string_equal(j->name, "gamma");
	assert_string_equal(sim_workload_model_name(&w, 2), "bert");
	assert_true(j->weight == 8 && j->rounds_total == 100);
	assert_int_equal(j->min_gpus, 2);
	assert_int_equal(j->max_gpus, 2);
	/* K80;T4: T4 is not in tiny-8, so K80 only. */
	assert_true(j->perf.compute_s[v100] == 0 && j->perf.compute_s[k80] > 0);
	sim_workload_destroy(&w);
}

/* ---------------------------------------------------------- bad input -- */

static void expect_bad(const char *file, enum sim_trace_format f, const char *where,
		       const char *what)
{
	struct sim_trace_opts o;
	struct sim_workload w;
	char path[512], want[600], err[512];

	sim_trace_opts_default(&o);
	o.format = f;
	snprintf(path, sizeof(path), "%s%s", TRACES, file);
	assert_int_equal(sim_trace_load(path, &o, prof, &tiny, &w, NULL, err, sizeof(err)),
			 ERR_BAD_TRACE);
	snprintf(want, sizeof(want), "%s%s: ", TRACES, where);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, what) || strchr(err, '\n'))
		fail_msg("%s: got '%s', want '%s' ... '%s'", file, err, want, what);
	assert_null(w.jobs);
	assert_int_equal(w.njobs, 0);
}

static void test_bad_traces(void **state)
{
	(void)state;
	expect_bad("hare_missing_column.csv", SIM_TRACE_AUTO, "hare_missing_column.csv:1",
		   "missing column 'tasks'");
	expect_bad("hare_negative_duration.csv", SIM_TRACE_AUTO, "hare_negative_duration.csv:3",
		   "duration_s: must be > 0");
	expect_bad("hare_unknown_model.csv", SIM_TRACE_AUTO, "hare_unknown_model.csv:2",
		   "unknown model 'resnet9000'");
	expect_bad("hare_unsorted.csv", SIM_TRACE_AUTO, "hare_unsorted.csv:3",
		   "arrival 5 is before the previous row's 10");
	expect_bad("hare_bad_number.csv", SIM_TRACE_AUTO, "hare_bad_number.csv:2",
		   "tasks: expected a whole number, got '4x'");
	expect_bad("philly_bad_number.csv", SIM_TRACE_AUTO, "philly_bad_number.csv:2",
		   "num_gpus: expected a whole number, got 'two'");
	expect_bad("philly_negative_duration.csv", SIM_TRACE_AUTO,
		   "philly_negative_duration.csv:2", "duration: must be > 0");
	expect_bad("gavel_unknown_model.trace", SIM_TRACE_AUTO, "gavel_unknown_model.trace:2",
		   "unknown model 'A3C'");
	expect_bad("unknown_format.csv", SIM_TRACE_AUTO, "unknown_format.csv:1", "use --format");
	expect_bad("philly_small.csv", SIM_TRACE_GAVEL, "philly_small.csv:1",
		   "expected 7 tab-separated fields");
	expect_bad("gavel_small.trace", SIM_TRACE_HARE, "gavel_small.trace:1", "unknown column");
	expect_bad("hare_some_bad.csv", SIM_TRACE_AUTO, "hare_some_bad.csv:3",
		   "tasks: must be between 1 and");
}

static void test_skip_bad(void **state)
{
	struct sim_trace_opts o;
	struct sim_trace_info info;
	struct sim_workload w;

	(void)state;
	sim_trace_opts_default(&o);
	o.skip_bad = true;
	load_ok(TRACES "hare_some_bad.csv", &o, &w, &info);
	/* Lines 3 (tasks 0), 5 (unknown model) and 6 (no rounds) are skipped. */
	assert_int_equal(info.rows, 6);
	assert_int_equal(info.skipped, 3);
	assert_int_equal(w.njobs, 3);
	assert_non_null(strstr(info.first_skipped, "hare_some_bad.csv:3: tasks"));
	assert_true(w.jobs[0].spec.arrival_s == 0 && w.jobs[1].spec.arrival_s == 2 &&
		    w.jobs[2].spec.arrival_s == 5);
	assert_string_equal(sim_workload_model_name(&w, 2), "ncf");
	sim_workload_destroy(&w);

	/* An unknown Gavel model is a skippable row too. */
	load_ok(TRACES "gavel_unknown_model.trace", &o, &w, &info);
	assert_int_equal(w.njobs, 1);
	assert_int_equal(info.skipped, 1);
	sim_workload_destroy(&w);

	/* A header error is never skipped. */
	expect_bad("hare_missing_column.csv", SIM_TRACE_AUTO, "hare_missing_column.csv:1", "tasks");
}

static int parse_text(const char *text, size_t len, struct sim_workload *w, char *err, size_t errlen)
{
	struct sim_trace_opts o;

	sim_trace_opts_default(&o);
	return sim_trace_parse("mem.csv", text, len, &o, prof, &tiny, w, NULL, err, errlen);
}

/* In-memory text: CRLF, blank and comment lines, no final newline, NUL. */
static void test_parse_text(void **state)
{
	static const char good[] = "\r\n# c\r\narrival_s,model,tasks,rounds\r\n\r\n1,lm,1,7\r\n2,lm,2,9";
	static const char nul[] = "arrival_s,model,tasks,rounds\n1,lm\0,1,7\n";
	static const char dup[] = "arrival_s,model,tasks,rounds,Tasks\n";
	static const char quoted[] = "arrival_s,model,tasks,rounds\n1,\"lm\",1,7\n";
	static const char both[] = "arrival_s,model,tasks,rounds,duration_s\n1,lm,1,7,60\n";
	static const char wide[] = "arrival_s,model,tasks,rounds,min_gpus\n1,lm,2,7,3\n";
	static const char none[] = "arrival_s,model,tasks,rounds\n";
	static const char k80[] = "arrival_s,model,tasks,rounds,gpu_types\n0,resnet50,8,100,K80\n";
	static const char k80_min[] = "arrival_s,model,tasks,rounds,gpu_types,min_gpus\n"
				      "0,resnet50,8,100,k80,5\n";
	struct sim_workload w;
	char err[512], *long_line;
	size_t n;

	(void)state;
	assert_int_equal(parse_text(good, strlen(good), &w, err, sizeof(err)), 0);
	assert_int_equal(w.njobs, 2);
	assert_true(w.jobs[1].spec.rounds_total == 9 && w.jobs[1].spec.tasks == 2);
	sim_workload_destroy(&w);
	/* Only the first 2 bytes of the last row: "2," is one field short. */
	assert_int_equal(parse_text(good, strlen(good) - 6, &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:6: expected 4 fields"));
	assert_int_equal(parse_text(nul, sizeof(nul) - 1, &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: NUL byte"));
	assert_int_equal(parse_text(dup, strlen(dup), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:1: column 'tasks' given twice"));
	assert_int_equal(parse_text(quoted, strlen(quoted), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: quoted fields"));
	assert_int_equal(parse_text(both, strlen(both), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: give one of rounds and duration_s, not both"));
	{
		static const char hex[] = "arrival_s,model,tasks,rounds\n0x10,lm,1,7\n";

		assert_int_equal(parse_text(hex, strlen(hex), &w, err, sizeof(err)), ERR_BAD_TRACE);
		assert_non_null(strstr(err, "mem.csv:2: arrival_s: expected a number, got '0x10'"));
	}
	assert_int_equal(parse_text(wide, strlen(wide), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: min_gpus: must be between 1 and 2, got 3"));
	/* max_gpus is capped at the GPUs the job can use: tiny-8 has 4 K80s. */
	assert_int_equal(parse_text(k80, strlen(k80), &w, err, sizeof(err)), 0);
	assert_int_equal(w.jobs[0].spec.tasks, 8);
	assert_int_equal(w.jobs[0].spec.max_gpus, 4);
	sim_workload_destroy(&w);
	assert_int_equal(parse_text(k80_min, strlen(k80_min), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: min_gpus: 5 is more than the 4 GPUs"));
	assert_int_equal(parse_text(none, strlen(none), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "no usable rows"));
	long_line = malloc(6000);
	assert_non_null(long_line);
	n = (size_t)snprintf(long_line, 6000, "arrival_s,model,tasks,rounds\n1,lm,1,");
	memset(long_line + n, '7', 5000);
	assert_int_equal(parse_text(long_line, n + 5000, &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: line longer than 4096 bytes"));
	free(long_line);
	assert_int_equal(parse_text("", 0, &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "empty trace"));
}

/* hare's after column: names of earlier rows become job ids; errors name
 * the row; a row dropped by --max-jobs or --thin leaves its dependents'
 * lists (counted), a skipped bad row cannot be named. */
static void test_after(void **state)
{
	static const char good[] = "arrival_s,name,model,tasks,rounds,after\n"
				   "0,prep,lm,1,10,\n"
				   "0,train,lm,1,10,prep\n"
				   "5,,lm,1,10, train ; prep \n"
				   "6,x,lm,1,10,\n";
	static const char *const bad[][2] = {
		{ "0,a,lm,1,10,b\n1,b,lm,1,10,\n", "mem.csv:2: after: no earlier row is named 'b'" },
		{ "0,a,lm,1,10,a\n", "mem.csv:2: after: no earlier row is named 'a'" },
		{ "0,a,lm,1,10,\n1,a,lm,1,10,\n2,c,lm,1,10,a\n",
		  "mem.csv:4: after: 2 earlier rows are named 'a'" },
		{ "0,a,lm,1,10,\n1,c,lm,1,10,a;a\n", "mem.csv:3: after: 'a' given twice" },
		{ "0,a,lm,1,10,\n1,c,lm,1,10,a;;a\n", "mem.csv:3: after: empty name in 'a;;a'" },
		{ "0,a,lm,1,10,\n0,b,lm,1,10,\n0,c,lm,1,10,\n0,d,lm,1,10,\n0,e,lm,1,10,\n"
		  "1,f,lm,1,10,a;b;c;d;e\n", "mem.csv:7: after: more than 4 jobs" },
	};
	struct sim_trace_opts o;
	struct sim_trace_info info = { 0 };
	struct sim_workload w;
	char err[512], text[512];

	(void)state;
	assert_int_equal(parse_text(good, strlen(good), &w, err, sizeof(err)), 0);
	assert_int_equal(w.njobs, 4);
	assert_int_equal(w.jobs[0].nafter, 0);
	assert_int_equal(w.jobs[1].nafter, 1);
	assert_int_equal(w.jobs[1].after[0], 0);
	assert_int_equal(w.jobs[2].nafter, 2);
	assert_true(w.jobs[2].after[0] == 1 && w.jobs[2].after[1] == 0);
	sim_workload_destroy(&w);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "arrival_s,name,model,tasks,rounds,after\n%s", bad[i][0]);
		assert_int_equal(parse_text(text, strlen(text), &w, err, sizeof(err)), ERR_BAD_TRACE);
		if (!strstr(err, bad[i][1]))
			fail_msg("case %zu: '%s', want '%s'", i, err, bad[i][1]);
	}
	/* --max-jobs 3 keeps the three rows with the dependencies; --thin
	 * dropping a row leaves it out of its dependents' lists (counted) */
	sim_trace_opts_default(&o);
	o.max_jobs = 3;
	assert_int_equal(sim_trace_parse("mem.csv", good, strlen(good), &o, prof, &tiny, &w, &info,
					 err, sizeof(err)), 0);
	assert_int_equal(w.njobs, 3);
	assert_int_equal(w.jobs[2].nafter, 2);
	assert_int_equal(info.after_dropped, 0);
	sim_workload_destroy(&w);
	{
		static const char mid[] = "arrival_s,name,model,tasks,rounds,after\n"
					  "0,a,lm,1,10,\n1,b,lm,1,10,a\n2,c,lm,1,10,a;b\n";
		uint32_t kept_c = 0;

		/* thin: some seed drops a and keeps c */
		for (uint64_t seed = 1; seed < 200 && !kept_c; seed++) {
			sim_trace_opts_default(&o);
			o.thin = 0.5;
			o.seed = seed;
			memset(&info, 0, sizeof(info));
			assert_int_equal(sim_trace_parse("mem.csv", mid, strlen(mid), &o, prof, &tiny,
							 &w, &info, err, sizeof(err)), 0);
			if (w.njobs >= 1 && strcmp(w.jobs[0].spec.name, "a") != 0 &&
			    strcmp(w.jobs[w.njobs - 1].spec.name, "c") == 0) {
				kept_c = w.njobs;
				assert_true(info.after_dropped >= 1);
				for (uint32_t k = 0; k < w.jobs[w.njobs - 1].nafter; k++)
					assert_true(w.jobs[w.njobs - 1].after[k] < w.njobs - 1);
			}
			sim_workload_destroy(&w);
		}
		assert_true(kept_c > 0);
	}
	/* a skipped bad row cannot be named: its dependents are bad rows too */
	{
		static const char skip[] = "arrival_s,name,model,tasks,rounds,after\n"
					   "0,a,nosuch,1,10,\n1,b,lm,1,10,a\n2,c,lm,1,10,\n";

		sim_trace_opts_default(&o);
		o.skip_bad = true;
		memset(&info, 0, sizeof(info));
		assert_int_equal(sim_trace_parse("mem.csv", skip, strlen(skip), &o, prof, &tiny, &w,
						 &info, err, sizeof(err)), 0);
		assert_int_equal(w.njobs, 1);
		assert_int_equal(info.skipped, 2);
		sim_workload_destroy(&w);
	}
}

/* Rows and options that would take a job past the LP bound's limits
 * (1e15 for any number) are the input's errors naming the field: work
 * over 1e15 GPU-seconds on the job's fastest type, arrivals rescaled past
 * 1e11 s (sim/README.md). Just inside the limits, the import succeeds. */
static void test_limits(void **state)
{
	static const char rounds[] = "arrival_s,model,tasks,rounds\n0,bert,4096,1000000000000\n";
	static const char typed[] = "arrival_s,model,tasks,rounds,gpu_types\n"
				    "0,resnet50,4096,1000000000000,K80\n";
	static const char fits[] = "arrival_s,model,tasks,rounds\n0,resnet50,4096,1000000000000\n";
	static const char two[] = "arrival_s,model,tasks,rounds\n0,resnet50,1,10\n1000000,resnet50,1,10\n";
	static const char philly[] = "timestamp,duration,num_gpus\n2017-10-01 00:00:00,1e11,1000000\n";
	static const char dense[] = "timestamp,duration,num_gpus\n2017-10-01 00:00:00,1e11,8\n"
				    "2017-10-01 00:00:01,1e11,8\n";
	struct sim_trace_opts o;
	struct sim_workload w;
	char err[512];

	(void)state;
	/* bert on a V100 (0.48 s a task): 4096 x 1e12 x 0.48 > 1e15 */
	assert_int_equal(parse_text(rounds, strlen(rounds), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: rounds: 1e+12 rounds of 4096 tasks are 1.97e+15 "
				"GPU-seconds on V100, its fastest GPU type here, more than 1e+15"));
	/* resnet50: 4096 x 1e12 x 0.22 on a V100 fits; on a K80 (1.34 s) not */
	assert_int_equal(parse_text(fits, strlen(fits), &w, err, sizeof(err)), 0);
	sim_workload_destroy(&w);
	assert_int_equal(parse_text(typed, strlen(typed), &w, err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "mem.csv:2: rounds: 1e+12 rounds of 4096 tasks are 5.49e+15 "
				"GPU-seconds on K80"));
	/* philly: seed 6 draws a model whose 1e12 rounds (capped) are too much */
	sim_trace_opts_default(&o);
	o.seed = 6;
	o.max_tasks = 4096;
	assert_int_equal(sim_trace_parse("p.csv", philly, strlen(philly), &o, prof, &tiny, &w, NULL,
					 err, sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "p.csv:2: duration: 1e+12 rounds of 4096 tasks are"));
	/* rescaled arrivals: at most 1e11 s */
	sim_trace_opts_default(&o);
	o.load = 1e-300;
	assert_int_equal(sim_trace_parse("t.csv", two, strlen(two), &o, prof, &tiny, &w, NULL, err,
					 sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "t.csv: --load: 1e-300 stretches the arrivals by "));
	assert_non_null(strstr(err, "past the limit of 1e+11 s; use a larger --load"));
	o.load = 0;
	o.arrival_scale = 1e5;
	assert_int_equal(sim_trace_parse("t.csv", two, strlen(two), &o, prof, &tiny, &w, NULL, err,
					 sizeof(err)), 0);
	assert_true(w.jobs[1].spec.arrival_s == 1e11);
	sim_workload_destroy(&w);
	o.arrival_scale = 1e6;
	assert_int_equal(sim_trace_parse("t.csv", two, strlen(two), &o, prof, &tiny, &w, NULL, err,
					 sizeof(err)), ERR_BAD_TRACE);
	assert_string_equal(err, "t.csv: --arrival-scale: 1e+06 puts the last arrival at 1e+12 s, "
			    "past the limit of 1e+11 s; use a smaller --arrival-scale");
	/* philly's default load 0.5 on arrivals a second apart */
	sim_trace_opts_default(&o);
	assert_int_equal(sim_trace_parse("d.csv", dense, strlen(dense), &o, prof, &tiny, &w, NULL, err,
					 sizeof(err)), ERR_BAD_TRACE);
	assert_non_null(strstr(err, "d.csv: --load: the default 0.5 stretches the arrivals"));
}

static void test_formats_and_files(void **state)
{
	enum sim_trace_format f;
	struct sim_trace_opts o;
	struct sim_workload w;
	char err[512];

	(void)state;
	assert_int_equal(sim_trace_format_parse("PHILLY", &f), 0);
	assert_int_equal(f, SIM_TRACE_PHILLY);
	assert_int_equal(sim_trace_format_parse("gavel", &f), 0);
	assert_int_equal(f, SIM_TRACE_GAVEL);
	assert_int_equal(sim_trace_format_parse("hare", &f), 0);
	assert_int_equal(f, SIM_TRACE_HARE);
	assert_int_equal(sim_trace_format_parse("csv", &f), ERR_BAD_SPEC);
	assert_string_equal(sim_trace_format_name(SIM_TRACE_GAVEL), "gavel");
	sim_trace_opts_default(&o);
	assert_int_equal(sim_trace_load(TRACES "no-such.csv", &o, prof, &tiny, &w, NULL, err,
					sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no-such.csv: "));
}

/* The vendored traces import cleanly (Gavel's file only with --skip-bad:
 * it has A3C and CycleGAN jobs, which the profile lacks). */
static void test_vendored(void **state)
{
	struct sim_trace_opts o;
	struct sim_trace_info info;
	struct sim_workload w;

	(void)state;
	sim_trace_opts_default(&o);
	load_ok(HARE_SOURCE_DIR "/workloads/traces/philly.csv", &o, &w, &info);
	assert_int_equal(w.njobs, 82247);
	assert_int_equal(info.skipped, 0);
	assert_int_equal(info.capped, 289);	/* the jobs of more than 8 GPUs, on tiny-8 */
	check_common(&w);
	sim_workload_destroy(&w);
	o.skip_bad = true;
	load_ok(HARE_SOURCE_DIR "/workloads/traces/gavel-6214e9.trace", &o, &w, &info);
	assert_int_equal(info.rows, 2000);
	assert_int_equal(w.njobs + info.skipped, 2000);
	assert_int_equal(info.skipped, 166);
	sim_workload_destroy(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_philly_exact),
		cmocka_unit_test(test_philly_draws),
		cmocka_unit_test(test_philly_default_load),
		cmocka_unit_test(test_thin_and_max_jobs),
		cmocka_unit_test(test_gavel_exact),
		cmocka_unit_test(test_hare_exact),
		cmocka_unit_test(test_bad_traces),
		cmocka_unit_test(test_skip_bad),
		cmocka_unit_test(test_parse_text),
		cmocka_unit_test(test_after),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_formats_and_files),
		cmocka_unit_test(test_vendored),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
