/* SPDX-License-Identifier: MIT */
/* Unit tests for the simulator (sim/): cluster files, the --generate spec
 * and generator, the event heap, the engine's closed-form progress, and the
 * LP bound against every policy. */
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
#include <unistd.h>

#include "bound.h"
#include "cluster.h"
#include "engine.h"
#include "err.h"
#include "fairness.h"
#include "heap.h"
#include "policy_impl.h"
#include "profile.h"
#include "summary.h"
#include "sched.h"
#include "timeline.h"
#include "trace.h"
#include "workload.h"

#define FIXTURES HARE_SOURCE_DIR "/tests/fixtures/sim/"
#define CLUSTERS HARE_SOURCE_DIR "/deploy/clusters/"

static struct profile *prof;

static int group_setup(void **state)
{
	char err[256];

	(void)state;
	if (profile_load(HARE_SOURCE_DIR "/workloads/profiles", &prof, err, sizeof(err)) != 0) {
		fprintf(stderr, "profile: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	profile_free(prof);
	return 0;
}

static uint32_t count_type(const struct sched_cluster *c, uint16_t t)
{
	uint32_t n = 0;

	for (uint32_t g = 0; g < c->ngpus; g++)
		n += c->gpus[g].type == t;
	return n;
}

/* ------------------------------------------------------------ clusters -- */

static void test_cluster_good(void **state)
{
	struct sim_cluster c;
	char err[256], name[64];

	(void)state;
	assert_int_equal(sim_cluster_load(FIXTURES "cluster_good.ini", prof, &c, err, sizeof(err)), 0);
	assert_int_equal(c.sched.ntypes, 2);
	assert_string_equal(c.sched.type_names[0], "v100");	/* as first written */
	assert_string_equal(c.sched.type_names[1], "K80");
	assert_int_equal(c.sched.ngpus, 2 * 4 + 8 + 2);
	assert_int_equal(c.sched.nnodes, 4);
	assert_int_equal(count_type(&c.sched, 0), 10);
	assert_int_equal(count_type(&c.sched, 1), 8);
	/* Grouped by node, nodes in file order. */
	for (uint32_t g = 1; g < c.sched.ngpus; g++)
		assert_true(c.sched.gpus[g].node >= c.sched.gpus[g - 1].node);
	assert_int_equal(c.sched.gpus[4].node, 1);
	assert_int_equal(c.sched.gpus[8].type, 1);
	assert_int_equal(c.sched.gpus[17].node, 3);
	assert_true(c.sched.gpus[17].up);
	sim_cluster_node_name(&c, 1, name, sizeof(name));
	assert_string_equal(name, "fast-1");
	sim_cluster_node_name(&c, 2, name, sizeof(name));
	assert_string_equal(name, "slow0");
	sim_cluster_destroy(&c);
}

static void test_cluster_shipped(void **state)
{
	static const char *const types[] = { "V100", "P100", "T4", "K80" };
	struct sim_cluster c;
	char err[256];

	(void)state;
	assert_int_equal(sim_cluster_load(CLUSTERS "paper-200.ini", prof, &c, err, sizeof(err)), 0);
	assert_int_equal(c.sched.ngpus, 200);
	assert_int_equal(c.sched.ntypes, 4);
	for (uint16_t t = 0; t < 4; t++) {
		assert_string_equal(c.sched.type_names[t], types[t]);
		assert_int_equal(count_type(&c.sched, t), 50);
	}
	sim_cluster_destroy(&c);
	assert_int_equal(sim_cluster_load(CLUSTERS "tiny-8.ini", prof, &c, err, sizeof(err)), 0);
	assert_int_equal(c.sched.ngpus, 8);
	sim_cluster_destroy(&c);
}

static void expect_cluster_error(const char *file, const char *where, const char *field)
{
	struct sim_cluster c;
	char path[512], err[256];

	snprintf(path, sizeof(path), "%s%s", FIXTURES, file);
	assert_int_equal(sim_cluster_load(path, prof, &c, err, sizeof(err)), ERR_BAD_CONFIG);
	snprintf(path, sizeof(path), "%s%s: ", FIXTURES, where);
	if (strncmp(err, path, strlen(path)) != 0 || !strstr(err, field) || strchr(err, '\n'))
		fail_msg("%s: got '%s', want '%s' ... '%s'", file, err, path, field);
	assert_null(c.groups);
}

static void test_cluster_bad_files(void **state)
{
	(void)state;
	expect_cluster_error("cluster_unknown_type.ini", "cluster_unknown_type.ini:7", "type");
	expect_cluster_error("cluster_unknown_type.ini", "cluster_unknown_type.ini:7", "Z9000");
	expect_cluster_error("cluster_negative.ini", "cluster_negative.ini:3", "nodes");
	expect_cluster_error("cluster_zero.ini", "cluster_zero.ini:4", "gpus_per_node");
	expect_cluster_error("cluster_missing_key.ini", "cluster_missing_key.ini:6",
			     "gpus_per_node: missing");
	expect_cluster_error("cluster_unknown_key.ini", "cluster_unknown_key.ini:4", "colour");
}

static void expect_parse_error(const char *text, const char *want)
{
	struct sim_cluster c;
	char err[256];
	int rc = sim_cluster_parse("t.ini", text, prof, &c, err, sizeof(err));

	if (rc >= 0 || !strstr(err, want) || strncmp(err, "t.ini", 5) != 0)
		fail_msg("'%s': rc %d err '%s', want '%s'", text, rc, err, want);
}

static void test_cluster_bad_text(void **state)
{
	(void)state;
	expect_parse_error("", "t.ini: no node groups");
	expect_parse_error("# only a comment\n", "no node groups");
	expect_parse_error("type = V100\n", "t.ini:1: key outside");
	expect_parse_error("[a]\ntype=V100\ntype=K80\nnodes=1\ngpus_per_node=1\n",
			   "t.ini:3: type given twice in [a] (also at line 2)");
	expect_parse_error("[a]\ntype=V100\nnodes=1\ngpus_per_node=1\n[b]\n[a]\nnodes=2\n",
			   "t.ini:7: nodes given twice in [a] (also at line 3)");
	expect_parse_error("[a]\ntype=V100\nnodes=1\n  gpus_per_node=1\n",
			   "t.ini:4: an indented line continues the value of nodes (line 3); keys start "
			   "in the first column");
	expect_parse_error("[a]\ntype=V100\nnodes=1\ngpus_per_node=1\n[b]\n", "t.ini:5: [b] type: missing");
	expect_parse_error("[a]\ntype=V100\nnodes=4096\ngpus_per_node=128\n[b]\ntype=K80\n"
			   "nodes=4096\ngpus_per_node=128\n", "larger than 65536 GPUs");
	expect_parse_error("[a]\ntype=V100\nnodes=1x\ngpus_per_node=1\n", "t.ini:3: [a] nodes: expected");
	expect_parse_error("[a]\ntype=V100\nnodes=1\ngpus_per_node=1\nname_prefix=a b\n",
			   "t.ini:5: [a] name_prefix");
	expect_parse_error("[a]\ntype=\nnodes=1\ngpus_per_node=1\n", "t.ini:2: [a] type: empty");
	expect_parse_error("[a]\nthis line has no equals sign\n", "t.ini:2: syntax error");
	expect_parse_error("[abcdefghijklmnopqrstuvwxyz0123456789]\ntype=V100\n", "section name longer");
}

static void test_cluster_no_profile(void **state)
{
	struct sim_cluster c;
	char err[256];

	(void)state;
	/* Syntax-only mode: any type name is accepted. */
	assert_int_equal(sim_cluster_parse("t.ini", "[x]\ntype=Z9000\nnodes=2\ngpus_per_node=3\n", NULL,
					   &c, err, sizeof(err)), 0);
	assert_int_equal(c.sched.ngpus, 6);
	assert_string_equal(c.sched.type_names[0], "Z9000");
	sim_cluster_destroy(&c);
	assert_true(sim_cluster_load(FIXTURES "does-not-exist.ini", NULL, &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "does-not-exist.ini"));
}

/* -------------------------------------------------------- generator spec -- */

static void test_gen_spec_good(void **state)
{
	struct sim_gen_spec s;
	char err[256];

	(void)state;
	assert_int_equal(sim_gen_spec_parse("jobs=300,seed=1", &s, err, sizeof(err)), 0);
	assert_int_equal(s.jobs, 300);
	assert_true(s.seed == 1);
	assert_true(s.load == 1.0);
	assert_int_equal(sim_gen_spec_parse("load=0.5,seed=18446744073709551615,jobs=1", &s, err,
					    sizeof(err)), 0);
	assert_true(s.seed == UINT64_MAX);
	assert_true(s.load == 0.5);
	assert_int_equal(s.jobs, 1);
	assert_true(s.pipeline == 0);
	assert_int_equal(sim_gen_spec_parse("jobs=3,seed=1,pipeline=0.25", &s, err, sizeof(err)), 0);
	assert_true(s.pipeline == 0.25);
}


static void test_gen_spec_bad(void **state)
{
	static const struct { const char *spec, *field; } bad[] = {
		{ "jobs=0,seed=1", "jobs" }, { "jobs=abc,seed=1", "jobs" }, { "jobs=-3,seed=1", "jobs" },
		{ "jobs=1000001,seed=1", "jobs" }, { "jobs=5", "seed: missing" },
		{ "seed=5", "jobs: missing" }, { "jobs=5,seed=x", "seed" },
		{ "jobs=5,seed=18446744073709551616", "seed" }, { "jobs=5,seed=1,load=0", "load" },
		{ "jobs=5,seed=1,load=-1", "load" }, { "jobs=5,seed=1,load=nan", "load" },
		{ "jobs=5,seed=1,load=inf", "load" }, { "jobs=5,seed=1,load=", "load" },
		{ "jobs=5,seed=1,colour=3", "colour" }, { "jobs=5,,seed=1", "empty item" },
		{ "jobs=5,seed=1,", "empty item" }, { "", "empty item" },
		{ "jobs=5,seed=1,jobs=6", "jobs: given twice" }, { "jobs", "expected key=value" },
		{ "jobs=5 ,seed=1", "jobs" }, { "jobs= 5,seed=1", "jobs" },
		{ "jobs=5,seed=1,pipeline=1.5", "pipeline: must be between 0 and 1" },
		{ "jobs=5,seed=1,pipeline=-0.1", "pipeline" }, { "jobs=5,seed=1,pipeline=x", "pipeline" },
		{ "jobs=5,seed=1,pipeline=0,pipeline=1", "pipeline: given twice" },
	};
	struct sim_gen_spec s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sim_gen_spec_parse(bad[i].spec, &s, err, sizeof(err));

		if (rc != ERR_BAD_SPEC || !strstr(err, bad[i].field) || strchr(err, '\n'))
			fail_msg("'%s': rc %d err '%s', want '%s'", bad[i].spec, rc, err, bad[i].field);
	}
}

/* ------------------------------------------------------------ generator -- */

static void generate(const char *cluster, const char *spec, struct sim_cluster *c,
		     struct sim_workload *w)
{
	struct sim_gen_spec s;
	char err[256];

	assert_int_equal(sim_cluster_load(cluster, prof, c, err, sizeof(err)), 0);
	assert_int_equal(sim_gen_spec_parse(spec, &s, err, sizeof(err)), 0);
	if (sim_workload_generate(&s, prof, c, w, err, sizeof(err)) != 0)
		fail_msg("generate: %s", err);
}

static void test_gen_deterministic(void **state)
{
	struct sim_cluster c;
	struct sim_workload a, b, d;

	(void)state;
	generate(CLUSTERS "paper-200.ini", "jobs=500,seed=42", &c, &a);
	sim_cluster_destroy(&c);
	generate(CLUSTERS "paper-200.ini", "jobs=500,seed=42", &c, &b);
	sim_cluster_destroy(&c);
	generate(CLUSTERS "paper-200.ini", "jobs=500,seed=43", &c, &d);
	assert_int_equal(a.njobs, 500);
	uint32_t differ = 0;

	for (uint32_t i = 0; i < a.njobs; i++) {
		const struct sched_job *x = &a.jobs[i].spec, *y = &b.jobs[i].spec;

		assert_int_equal(x->id, i);
		assert_true(x->arrival_s == y->arrival_s);
		assert_true(x->rounds_total == y->rounds_total);
		assert_int_equal(x->tasks, y->tasks);
		assert_true(x->weight == y->weight);
		assert_int_equal(a.jobs[i].model, b.jobs[i].model);
		assert_memory_equal(&x->perf, &y->perf, sizeof(x->perf));
		differ += x->rounds_total != d.jobs[i].spec.rounds_total;
	}
	assert_true(differ > 400);
	sim_workload_destroy(&a);
	sim_workload_destroy(&b);
	sim_workload_destroy(&d);
	sim_cluster_destroy(&c);
}

/* pipeline=P: the same jobs as without it, about P of them (after the
 * first) each after one of the 8 before it; the same for the same seed. */
static void test_gen_pipeline(void **state)
{
	struct sim_cluster c;
	struct sim_workload a, b, d;
	uint32_t after = 0;

	(void)state;
	generate(CLUSTERS "paper-200.ini", "jobs=2000,seed=5", &c, &a);
	sim_cluster_destroy(&c);
	generate(CLUSTERS "paper-200.ini", "jobs=2000,seed=5,pipeline=0.3", &c, &b);
	sim_cluster_destroy(&c);
	generate(CLUSTERS "paper-200.ini", "jobs=2000,seed=5,pipeline=0.3", &c, &d);
	for (uint32_t i = 0; i < a.njobs; i++) {
		assert_int_equal(a.jobs[i].nafter, 0);
		assert_true(a.jobs[i].spec.arrival_s == b.jobs[i].spec.arrival_s);
		assert_true(a.jobs[i].spec.rounds_total == b.jobs[i].spec.rounds_total);
		assert_true(a.jobs[i].spec.weight == b.jobs[i].spec.weight);
		assert_int_equal(b.jobs[i].nafter, d.jobs[i].nafter);
		if (b.jobs[i].nafter == 0)
			continue;
		assert_int_equal(b.jobs[i].nafter, 1);
		assert_int_equal(b.jobs[i].after[0], d.jobs[i].after[0]);
		assert_true(b.jobs[i].after[0] < i && b.jobs[i].after[0] + SIM_GEN_PIPELINE_BACK >= i);
		after++;
	}
	assert_int_equal(b.jobs[0].nafter, 0);
	assert_true(fabs(after / 1999.0 - 0.3) < 0.04);
	sim_workload_destroy(&a);
	sim_workload_destroy(&b);
	sim_workload_destroy(&d);
	sim_cluster_destroy(&c);
}

/* The integer PRNG stream is fixed: seed 1 always draws these first sizes
 * and weights (they depend on nothing but xoshiro256** seeded by splitmix64
 * and the draw order; checked against an independent implementation). */
static void test_gen_golden(void **state)
{
	static const uint32_t tasks[8] = { 2, 1, 4, 4, 1, 1, 1, 1 };
	static const double weight[8] = { 8, 1, 8, 8, 4, 8, 1, 2 };
	struct sim_cluster c;
	struct sim_workload w;

	(void)state;
	generate(CLUSTERS "paper-200.ini", "jobs=8,seed=1", &c, &w);
	for (uint32_t i = 0; i < 8; i++) {
		if (w.jobs[i].spec.tasks != tasks[i] || w.jobs[i].spec.weight != weight[i])
			fail_msg("job %u: tasks %u weight %g", i, w.jobs[i].spec.tasks,
				 w.jobs[i].spec.weight);
	}
	assert_true(w.jobs[0].spec.arrival_s == 0);
	sim_workload_destroy(&w);
	sim_cluster_destroy(&c);
}

/* A load so small that the arrivals would run past 1e11 s (the LP bound
 * takes times up to 1e15, and JCTs would vanish in the arrival times'
 * rounding) is an error naming load, not the LP's internal one. */
static void test_gen_limits(void **state)
{
	struct sim_gen_spec spec;
	struct sim_cluster c;
	struct sim_workload w;
	char err[256];

	(void)state;
	assert_int_equal(sim_cluster_load(CLUSTERS "tiny-8.ini", prof, &c, err, sizeof(err)), 0);
	assert_int_equal(sim_gen_spec_parse("jobs=5,seed=1,load=1e-10", &spec, err, sizeof(err)), 0);
	assert_int_equal(sim_workload_generate(&spec, prof, &c, &w, err, sizeof(err)), ERR_BAD_SPEC);
	if (strncmp(err, "--generate: load: 1e-10 puts the last of 5 arrivals at ", 55) != 0 ||
	    !strstr(err, "past the limit of 1e+11 s; use a larger load"))
		fail_msg("got '%s'", err);
	assert_null(w.jobs);
	assert_int_equal(sim_gen_spec_parse("jobs=5,seed=1,load=1e-300", &spec, err, sizeof(err)), 0);
	assert_int_equal(sim_workload_generate(&spec, prof, &c, &w, err, sizeof(err)), ERR_BAD_SPEC);
	assert_non_null(strstr(err, "load: 1e-300 puts the last of 5 arrivals at 1.13e+305 s"));
	assert_int_equal(sim_gen_spec_parse("jobs=5,seed=1,load=1e-4", &spec, err, sizeof(err)), 0);
	assert_int_equal(sim_workload_generate(&spec, prof, &c, &w, err, sizeof(err)), 0);
	assert_true(w.jobs[4].spec.arrival_s > 1e6 && w.jobs[4].spec.arrival_s <= 1e11);
	sim_workload_destroy(&w);
	sim_cluster_destroy(&c);
}

/* V100 seconds of one round of job j with tasks on tasks V100s. */
static double ref_round(const struct sim_workload *w, uint32_t i)
{
	const char *ref = profile_reference_type(prof);
	struct sched_perf perf;
	char err[128];

	assert_int_equal(profile_perf_fill(prof, w->jobs[i].model, &ref, 1, &perf, err, sizeof(err)), 0);
	return perf.compute_s[0] + sched_sync_time(&perf, w->jobs[i].spec.tasks, false);
}

static void test_gen_distribution(void **state)
{
	const uint32_t n = 10000;
	uint32_t sizes[9] = { 0 }, weights[9] = { 0 }, longs = 0, *models;
	double work = 0, last = 0;
	struct sim_cluster c;
	struct sim_workload w;

	(void)state;
	generate(CLUSTERS "paper-200.ini", "jobs=10000,seed=7,load=0.8", &c, &w);
	models = calloc(w.nmodels, sizeof(*models));
	assert_non_null(models);
	for (uint32_t i = 0; i < n; i++) {
		const struct sched_job *j = &w.jobs[i].spec;
		double round = ref_round(&w, i), minutes = (double)j->rounds_total * round / 60;

		assert_true(j->tasks <= 8 && j->min_gpus == 1 && j->max_gpus == j->tasks);
		sizes[j->tasks]++;
		weights[(int)j->weight]++;
		models[w.jobs[i].model]++;
		/* Durations 10^[1.5,4] minutes, up to half a round of rounding. */
		assert_true(minutes >= pow(10, 1.5) - round / 60 && minutes <= 1e4 + round / 60);
		longs += minutes > 1000;
		assert_true(j->arrival_s >= last);
		last = j->arrival_s;
		work += j->tasks * (double)j->rounds_total * round;
		assert_true(sched_perf_fastest(&j->perf, c.sched.ntypes) > 0);
	}
	assert_true(fabs(sizes[1] / (double)n - 0.70) < 0.02);
	assert_true(fabs(sizes[2] / (double)n - 0.10) < 0.02);
	assert_true(fabs(sizes[4] / (double)n - 0.15) < 0.02);
	assert_true(fabs(sizes[8] / (double)n - 0.05) < 0.02);
	assert_true(fabs(longs / (double)n - 0.20) < 0.02);
	for (int k = 1; k <= 8; k *= 2)
		assert_true(fabs(weights[k] / (double)n - 0.25) < 0.02);
	for (uint32_t m = 0; m < w.nmodels; m++)	/* every model of the table runs here */
		assert_true(fabs(models[m] / (double)n - 1.0 / w.nmodels) < 0.02);
	/* Offered load: V100 GPU-seconds per second of arrivals per GPU. */
	assert_true(fabs(work / (last * c.sched.ngpus) - 0.8) < 0.05);
	free(models);
	sim_workload_destroy(&w);
	sim_cluster_destroy(&c);
}

/* ----------------------------------------------------------------- heap -- */

static void test_heap_order(void **state)
{
	struct sim_heap h;
	struct sim_event e, prev = { .t = -1 };
	uint64_t x = 12345;

	(void)state;
	sim_heap_init(&h);
	for (uint32_t i = 0; i < 5000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		e = (struct sim_event){ .t = (double)(x >> 54), .kind = (uint32_t)(x >> 20) % 3, .job = i };
		assert_int_equal(sim_heap_push(&h, &e), 0);
	}
	for (uint32_t i = 0; i < 5000; i++) {
		assert_true(sim_heap_pop(&h, &e));
		assert_true(e.t > prev.t || (e.t == prev.t && (e.kind > prev.kind ||
				(e.kind == prev.kind && e.job > prev.job))));
		prev = e;
	}
	assert_false(sim_heap_pop(&h, &e));
	assert_null(sim_heap_peek(&h));
	sim_heap_destroy(&h);
}

/* --------------------------------------------------------------- engine -- */

static struct sched_gpu one_gpu[1] = { { .type = 0, .node = 0, .up = true } };
static struct sched_cluster one = { .ntypes = 1, .type_names = { "V100" }, .nnodes = 1,
				    .ngpus = 1, .gpus = one_gpu };
static char one_model[1][SIM_MODEL_NAME_LEN] = { "m" };

static void job_init(struct sim_job *sj, uint32_t id, double arrival, uint64_t rounds,
		     double compute, double sync, double restart)
{
	struct sched_job *j = &sj->spec;

	memset(sj, 0, sizeof(*sj));
	j->id = id;
	snprintf(j->name, sizeof(j->name), "j%u", id);
	j->weight = 1;
	j->arrival_s = arrival;
	j->tasks = j->min_gpus = j->max_gpus = 1;
	j->rounds_total = rounds;
	j->perf.compute_s[0] = compute;
	for (int i = 0; i < SCHED_SYNC_POINTS; i++)
		j->perf.sync_s[i][0] = j->perf.sync_s[i][1] = sync;
	j->perf.restart_s = restart;
	j->first_start_s = -1;
	j->last_run_s = -1;
}

static void run_policy(const char *name, const struct sched_cluster *c, const struct sim_workload *w,
		       struct sim_result *r)
{
	struct sched_policy *p;
	char err[256];

	assert_int_equal(sched_policy_new(name, NULL, &p), 0);
	if (sim_engine_run(c, w, p, r, err, sizeof(err)) != 0)
		fail_msg("%s: %s", name, err);
	sched_policy_free(p);
}

static void test_engine_one_job(void **state)
{
	struct sim_job jobs[1];
	struct sim_workload w = { .njobs = 1, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_result r;

	(void)state;
	job_init(&jobs[0], 0, 3.0, 1000, 2.0, 0.5, 7.0);
	run_policy("fifo", &one, &w, &r);
	assert_int_equal(r.completed, 1);
	/* JCT = rounds x (compute + sync), one plan (at arrival), no per-round events. */
	assert_true(r.start_s[0] == 3.0);
	assert_true(fabs(r.finish_s[0] - (3.0 + 1000 * 2.5)) < 1e-9);
	assert_true(fabs(r.gpu_s[0] - 2500.0) < 1e-9);
	assert_true(fabs(r.busy_gpu_s - 2500.0) < 1e-9);
	assert_int_equal(r.restarts[0], 0);
	assert_true(r.plans == 1);
	sim_result_destroy(&r);
}

static void test_engine_fifo_two_jobs(void **state)
{
	struct sim_job jobs[2];
	struct sim_workload w = { .njobs = 2, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_summary s;
	struct sim_result r;

	(void)state;
	job_init(&jobs[0], 0, 0.0, 100, 2.0, 0.5, 5.0);		/* 250 s */
	job_init(&jobs[1], 1, 10.0, 40, 1.0, 0.5, 5.0);	/* 60 s, waits */
	run_policy("fifo", &one, &w, &r);
	assert_int_equal(r.completed, 2);
	assert_true(fabs(r.finish_s[0] - 250.0) < 1e-9);
	assert_true(fabs(r.start_s[1] - 250.0) < 1e-9);
	assert_true(fabs(r.finish_s[1] - 310.0) < 1e-9);
	assert_true(r.restarts_total == 0);
	assert_int_equal(sim_summary_compute("fifo", &one, &w, &r, false, 0, &s), 0);
	assert_true(fabs(s.weighted_jct_s - (250.0 + 300.0) / 2) < 1e-9);
	assert_true(fabs(s.makespan_s - 310.0) < 1e-9);
	assert_true(fabs(s.utilisation - 1.0) < 1e-9);
	assert_true(fabs(s.avg_queue_s - 120.0) < 1e-9);
	assert_true(isnan(s.lp_bound_s));
	sim_result_destroy(&r);
}

/* Events at one instant make one plan call: two arrivals at 0, and a
 * completion at the same time as an arrival. */
static void test_engine_coalesce(void **state)
{
	struct sim_job jobs[3];
	struct sim_workload w = { .njobs = 3, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_result r;

	(void)state;
	job_init(&jobs[0], 0, 0.0, 10, 1.0, 0.0, 5.0);		/* 0 .. 10 */
	job_init(&jobs[1], 1, 0.0, 10, 1.0, 0.0, 5.0);		/* 10 .. 20 */
	job_init(&jobs[2], 2, 20.0, 5, 1.0, 0.0, 5.0);		/* 20 .. 25 */
	run_policy("fifo", &one, &w, &r);
	assert_int_equal(r.completed, 3);
	assert_true(fabs(r.finish_s[1] - 20.0) < 1e-9);
	assert_true(fabs(r.finish_s[2] - 25.0) < 1e-9);
	/* Plans at 0 (two arrivals), 10 (completion), 20 (completion + arrival);
	 * none at 25, when nothing is left. */
	assert_true(r.plans == 3);
	sim_result_destroy(&r);
}

/* srtf preempts the long job; it loses its partial round and pays restart_s. */
static void test_engine_preempt_restart(void **state)
{
	struct sim_job jobs[2];
	struct sim_workload w = { .njobs = 2, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_result r;

	(void)state;
	job_init(&jobs[0], 0, 0.0, 100, 2.0, 0.5, 5.0);		/* 2.5 s rounds */
	job_init(&jobs[1], 1, 101.0, 20, 1.0, 0.5, 5.0);	/* 30 s */
	run_policy("srtf", &one, &w, &r);
	assert_int_equal(r.completed, 2);
	assert_true(fabs(r.start_s[1] - 101.0) < 1e-9);
	assert_true(fabs(r.finish_s[1] - 131.0) < 1e-9);
	/* 40 rounds done by 101 (the 41st is lost), 60 left after the restart. */
	assert_int_equal(r.restarts[0], 1);
	assert_true(fabs(r.finish_s[0] - (131.0 + 5.0 + 60 * 2.5)) < 1e-9);
	assert_true(fabs(r.busy_gpu_s - (101.0 + 30.0 + 155.0)) < 1e-9);
	sim_result_destroy(&r);
}

/* ------------------------------------------------- scripted test policy -- */

enum script_mode { SCRIPT_LATE, SCRIPT_BAD_GPU, SCRIPT_IDLE, SCRIPT_SWAP, SCRIPT_RESPLIT };

static enum script_mode script_mode;
static uint32_t script_calls;

/* Runs job index 0 on GPUs 0 and 1 (or GPU 0 alone for one task), in a way
 * chosen by script_mode; other jobs wait. */
static int script_plan(struct sched_policy *p, const struct sched_snapshot *snap,
		       struct sched_plan *out)
{
	const struct sched_job *j = &snap->jobs[0];
	uint32_t gpus[2] = { 0, 1 };
	uint16_t tasks[2] = { 1, 1 };
	uint32_t n = j->tasks == 1 ? 1 : 2;
	bool odd = script_calls++ % 2;

	(void)p;
	if (j->tasks == 1)
		tasks[0] = 1;
	else if (j->tasks == 3)
		tasks[odd] = 2;		/* [1,2] then [2,1]: same GPUs, new split */
	if (script_mode == SCRIPT_SWAP && odd) {
		gpus[0] = 1;
		gpus[1] = 0;
	}
	if (script_mode == SCRIPT_BAD_GPU)
		gpus[0] = 7;
	if (script_mode == SCRIPT_IDLE || (script_mode == SCRIPT_LATE && snap->now_s < 50)) {
		out->replan_at_s = script_mode == SCRIPT_LATE ? 50 + 10 * (script_calls == 1) : INFINITY;
		return 0;
	}
	out->assigns[0].run_now = true;
	return sched_plan_place(out, 0, gpus, tasks, n);
}

static const struct sched_policy_ops script_ops = { .name = "script", .plan = script_plan };

static struct sim_cluster two_gpus(void)
{
	struct sim_cluster c;
	char err[256];

	assert_int_equal(sim_cluster_parse("two.ini", "[a]\ntype=V100\nnodes=1\ngpus_per_node=2\n",
					   NULL, &c, err, sizeof(err)), 0);
	return c;
}

/* Run the scripted policy; returns sim_engine_run's code. */
static int script_run(enum script_mode mode, const struct sim_workload *w, struct sim_result *r,
		      char *err, size_t errlen)
{
	struct sim_cluster c = two_gpus();
	struct sched_policy *p = calloc(1, sizeof(*p));
	int rc;

	assert_non_null(p);
	p->ops = &script_ops;
	script_mode = mode;
	script_calls = 0;
	rc = sim_engine_run(&c.sched, w, p, r, err, errlen);
	sched_policy_free(p);
	sim_cluster_destroy(&c);
	return rc;
}

/* replan_at_s wakes the engine with no other event; only the latest
 * request counts (the first call asks for 60, the second for 50). */
static void test_engine_replan_at(void **state)
{
	struct sim_job jobs[2];
	struct sim_workload w = { .njobs = 2, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_result r;
	char err[256];

	(void)state;
	job_init(&jobs[0], 0, 0.0, 100, 1.0, 0.0, 5.0);
	job_init(&jobs[1], 1, 10.0, 10, 1.0, 0.0, 5.0);
	assert_int_equal(script_run(SCRIPT_LATE, &w, &r, err, sizeof(err)), 0);
	assert_true(r.start_s[0] == 50.0);
	assert_true(fabs(r.finish_s[0] - 150.0) < 1e-9);
	assert_true(fabs(r.finish_s[1] - 160.0) < 1e-9);
	assert_true(r.plans == 4);	/* 0, 10, 50, 150 (not the stale 60) */
	sim_result_destroy(&r);
}

static void test_engine_bad_policy(void **state)
{
	struct sim_job jobs[1];
	struct sim_workload w = { .njobs = 1, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_result r;
	char err[256];

	(void)state;
	job_init(&jobs[0], 0, 4.0, 100, 1.0, 0.0, 5.0);
	assert_int_equal(script_run(SCRIPT_BAD_GPU, &w, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "policy script: invalid plan at t=4.000 s"));
	assert_null(r.finish_s);
	assert_int_equal(script_run(SCRIPT_IDLE, &w, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1 jobs left waiting"));
}

/* The same GPUs listed in another order are the same lease; the same GPUs
 * with another task split are a new one (a restart). */
static void test_engine_same_lease(void **state)
{
	struct sim_job jobs[3];
	struct sim_workload w = { .njobs = 3, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_result r;
	char err[256];

	(void)state;
	job_init(&jobs[0], 0, 0.0, 100, 1.0, 0.0, 5.0);
	job_init(&jobs[1], 1, 10.0, 10, 1.0, 0.0, 5.0);
	job_init(&jobs[2], 2, 20.0, 10, 1.0, 0.0, 5.0);
	jobs[0].spec.tasks = jobs[0].spec.max_gpus = 2;
	assert_int_equal(script_run(SCRIPT_SWAP, &w, &r, err, sizeof(err)), 0);
	assert_int_equal(r.restarts[0], 0);
	assert_true(fabs(r.finish_s[0] - 100.0) < 1e-9);
	assert_true(fabs(r.gpu_s[0] - 200.0) < 1e-9);
	sim_result_destroy(&r);

	jobs[0].spec.tasks = 3;		/* 2 s rounds on [2,1] or [1,2] */
	assert_int_equal(script_run(SCRIPT_RESPLIT, &w, &r, err, sizeof(err)), 0);
	assert_int_equal(r.restarts[0], 2);
	/* Re-split at 10 (5 rounds done) and at 20 (5 s restart, 2 rounds, the
	 * third half done and lost): 93 rounds left from 20 + 5. */
	assert_true(fabs(r.finish_s[0] - (25.0 + 93 * 2.0)) < 1e-9);
	sim_result_destroy(&r);
}

/* Every policy completes a small generated workload, deterministically,
 * and never beats the LP lower bound. */
static void test_engine_all_policies(void **state)
{
	const char *const *names = sched_policy_names();
	struct sim_cluster c;
	struct sim_workload w;
	double bound;
	char err[256];

	(void)state;
	generate(CLUSTERS "tiny-8.ini", "jobs=40,seed=3,load=0.7", &c, &w);
	assert_int_equal(sim_bound_compute(&c.sched, &w, &bound, err, sizeof(err)), 0);
	assert_true(bound > 0);
	for (size_t i = 0; names[i]; i++) {
		struct sim_result r, r2;
		struct sim_summary s;

		run_policy(names[i], &c.sched, &w, &r);
		run_policy(names[i], &c.sched, &w, &r2);
		assert_int_equal(r.completed, w.njobs);
		assert_memory_equal(r.finish_s, r2.finish_s, w.njobs * sizeof(double));
		assert_int_equal(sim_summary_compute(names[i], &c.sched, &w, &r, true, bound, &s), 0);
		assert_int_equal(s.jobs_completed, w.njobs);
		if (!(bound <= s.weighted_jct_s * (1 + 1e-9)))
			fail_msg("%s: weighted JCT %f below the LP bound %f", names[i],
				 s.weighted_jct_s, bound);
		assert_true(s.utilisation > 0 && s.utilisation <= 1 + 1e-9);
		for (uint32_t j = 0; j < w.njobs; j++)
			assert_true(r.start_s[j] >= w.jobs[j].spec.arrival_s &&
				    r.finish_s[j] > r.start_s[j]);
		sim_result_destroy(&r);
		sim_result_destroy(&r2);
	}
	sim_workload_destroy(&w);
	sim_cluster_destroy(&c);
}

/* Clusters smaller than the largest job (8 tasks): the generator lowers
 * max_gpus to the GPUs a job's model can use there, as the trace import
 * does, so every policy completes the workload (fifo, srtf, tiresias and
 * gandiva run a job at min(max_gpus, tasks) GPUs and waited for ever). */
static void test_gen_small_cluster(void **state)
{
	static const char *const clusters[] = {
		"[v]\ntype=V100\nnodes=1\ngpus_per_node=1\n",
		"[v]\ntype=V100\nnodes=1\ngpus_per_node=2\n[k]\ntype=K80\nnodes=1\ngpus_per_node=2\n",
	};
	const char *const *names = sched_policy_names();
	struct sim_gen_spec spec;
	char err[256];

	(void)state;
	assert_int_equal(sim_gen_spec_parse("jobs=60,seed=1", &spec, err, sizeof(err)), 0);
	for (size_t k = 0; k < sizeof(clusters) / sizeof(clusters[0]); k++) {
		struct sim_cluster c;
		struct sim_workload w;
		uint32_t wide = 0;

		assert_int_equal(sim_cluster_parse("t.ini", clusters[k], prof, &c, err, sizeof(err)), 0);
		if (sim_workload_generate(&spec, prof, &c, &w, err, sizeof(err)) != 0)
			fail_msg("generate: %s", err);
		for (uint32_t i = 0; i < w.njobs; i++) {
			const struct sched_job *j = &w.jobs[i].spec;
			uint32_t want = j->tasks < c.sched.ngpus ? j->tasks : c.sched.ngpus;

			assert_int_equal(j->min_gpus, 1);
			assert_int_equal(j->max_gpus, want);	/* every model runs on both types */
			wide += j->tasks > c.sched.ngpus;
		}
		assert_true(wide > 0);
		for (size_t i = 0; names[i]; i++) {
			struct sim_result r;

			run_policy(names[i], &c.sched, &w, &r);
			assert_int_equal(r.completed, w.njobs);
			sim_result_destroy(&r);
		}
		sim_workload_destroy(&w);
		sim_cluster_destroy(&c);
	}
}

/* A job the importer accepts that no single GPU type can hold (c3: 5 GPUs
 * of V100 or K80, 2 + 4 of them; c2: 3 GPUs of any type, 2 + 2): every
 * policy that may mix types completes it (the type-blind ones pool the
 * types it may use); gavel, gavel-tput and allox, which run a job on one
 * type, refuse it up front naming the job and the policy, never leaving it
 * waiting. Other jobs around it complete too. */
static void test_engine_no_single_type(void **state)
{
	static const struct { const char *cluster, *trace, *why; } cases[] = {
		{ "[v]\ntype=V100\nnodes=1\ngpus_per_node=2\n[p]\ntype=P100\nnodes=2\n"
		  "gpus_per_node=1\n[k]\ntype=K80\nnodes=1\ngpus_per_node=4\n",
		  "arrival_s,model,min_gpus,max_gpus,tasks,rounds,gpu_types\n0,lm,1,1,1,2000,\n"
		  "0,resnet50,5,5,5,100,V100;K80\n5,resnet18,2,4,4,300,P100;K80\n"
		  "9,bert,1,2,2,50,V100\n",
		  "job 1 (job1) needs 5 GPUs at once and policy %s runs a job on GPUs of one type "
		  "only; the largest type it may use here, K80, has 4" },
		{ "[v]\ntype=V100\nnodes=1\ngpus_per_node=2\n[k]\ntype=K80\nnodes=1\n"
		  "gpus_per_node=2\n",
		  "arrival_s,model,min_gpus,max_gpus,tasks,rounds\n0,resnet50,3,3,3,100\n"
		  "1,lm,1,2,2,500\n",
		  "job 0 (job0) needs 3 GPUs at once and policy %s runs a job on GPUs of one type "
		  "only; the largest type it may use here, V100, has 2" },
	};
	const char *const *names = sched_policy_names();
	char err[512], want[512];

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct sim_trace_opts o;
		struct sim_cluster c;
		struct sim_workload w;

		sim_trace_opts_default(&o);
		assert_int_equal(sim_cluster_parse("t.ini", cases[k].cluster, prof, &c, err, sizeof(err)), 0);
		if (sim_trace_parse("t.csv", cases[k].trace, strlen(cases[k].trace), &o, prof, &c, &w,
				    NULL, err, sizeof(err)) != 0)
			fail_msg("import: %s", err);
		for (size_t i = 0; names[i]; i++) {
			struct sched_policy *p;
			struct sim_result r;

			assert_int_equal(sched_policy_new(names[i], NULL, &p), 0);
			if (!sched_policy_one_type(p)) {
				assert_int_equal(sim_engine_check(&c.sched, &w, p, err, sizeof(err)), 0);
				sched_policy_free(p);
				run_policy(names[i], &c.sched, &w, &r);
				assert_int_equal(r.completed, w.njobs);
				sim_result_destroy(&r);
				continue;
			}
			snprintf(want, sizeof(want), cases[k].why, names[i]);
			assert_int_equal(sim_engine_check(&c.sched, &w, p, err, sizeof(err)), ERR_BAD_SPEC);
			assert_string_equal(err, want);
			err[0] = '\0';
			assert_int_equal(sim_engine_run(&c.sched, &w, p, &r, err, sizeof(err)), ERR_BAD_SPEC);
			assert_string_equal(err, want);
			assert_null(r.finish_s);
			sched_policy_free(p);
		}
		sim_workload_destroy(&w);
		sim_cluster_destroy(&c);
	}
}

/* The failure model on two one-GPU nodes, node 0 bad: a job placed there
 * fails after fail_after_s keeping its rounds; avoiding the node it
 * finishes on node 1; not avoiding it, it fails again until max_retries is
 * spent and is FAILED, never completing. */
static void test_engine_failure_model(void **state)
{
	static struct sched_gpu g2[2] = { { .type = 0, .node = 0, .up = true },
					  { .type = 0, .node = 1, .up = true } };
	static struct sched_cluster two = { .ntypes = 1, .type_names = { "V100" }, .nnodes = 2,
					    .ngpus = 2, .gpus = g2 };
	const uint32_t bad = 0;
	struct sim_job jobs[2];
	struct sim_workload w = { .njobs = 2, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_engine_opts o = { .nbad = 1, .bad_nodes = &bad, .fail_after_s = 50,
				     .avoid_bad = true, .max_retries = 1 };
	struct sched_policy *p;
	struct sim_result r;
	char err[256];

	(void)state;
	/* job 0 takes node 1 (the best fit comes first), job 1 the bad node 0 */
	job_init(&jobs[0], 0, 0.0, 200, 1.0, 0.0, 5.0);	/* node 1 until 200 s */
	job_init(&jobs[1], 1, 0.0, 100, 1.0, 0.0, 5.0);	/* 100 s alone */
	assert_int_equal(sched_policy_new("fifo", NULL, &p), 0);
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 2);
	assert_int_equal(r.failed, 0);
	assert_true(r.failures_total == 1);
	/* 50 rounds on node 0, a failure at 50 s, then node 1 once job 0 is
	 * done: restart 5 s + the other 50 rounds */
	assert_true(fabs(r.finish_s[0] - 200.0) < 1e-9);
	assert_true(fabs(r.finish_s[1] - (200.0 + 5.0 + 50.0)) < 1e-9);
	assert_int_equal(r.restarts[1], 1);
	sim_result_destroy(&r);

	/* not avoiding: back on node 0 at once, fails again at 100 s, FAILED
	 * after max_retries 1 */
	o.avoid_bad = false;
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 1);
	assert_int_equal(r.failed, 1);
	assert_true(r.finish_s[1] < 0);
	assert_true(fabs(r.failed_s[1] - 100.0) < 1e-9);	/* active for fairness until then */
	assert_true(isnan(r.rho[1]) && isfinite(r.rho[0]));
	assert_true(r.failures_total == 2);
	sim_result_destroy(&r);
	sched_policy_free(p);
}

/* Jobs that run after others: job 1 (arriving at once) starts when job 0
 * completes; a job waiting for a job that FAILS (max_retries 0) FAILS with
 * it, and so does one arriving after that. */
static void test_engine_after(void **state)
{
	/* node 0 (bad) has the only GPU of type 0, node 1 of type 1 */
	static struct sched_gpu g2[2] = { { .type = 0, .node = 0, .up = true },
					  { .type = 1, .node = 1, .up = true } };
	static struct sched_cluster two = { .ntypes = 2, .type_names = { "V100", "T4" }, .nnodes = 2,
					    .ngpus = 2, .gpus = g2 };
	struct sim_job jobs[4];
	struct sim_workload w = { .njobs = 2, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	const uint32_t bad = 0;
	struct sim_engine_opts o = { .nbad = 1, .bad_nodes = &bad, .fail_after_s = 50,
				     .avoid_bad = true, .max_retries = 0 };
	struct sched_policy *p;
	struct sim_result r;
	char err[256];

	(void)state;
	job_init(&jobs[0], 0, 0.0, 100, 1.0, 0.0, 5.0);
	job_init(&jobs[1], 1, 0.0, 100, 1.0, 0.0, 5.0);
	jobs[1].nafter = 1;
	jobs[1].after[0] = 0;
	run_policy("fifo", &one, &w, &r);
	assert_int_equal(r.completed, 2);
	assert_true(fabs(r.finish_s[0] - 100.0) < 1e-9);
	assert_true(fabs(r.start_s[1] - 100.0) < 1e-9);
	assert_true(fabs(r.finish_s[1] - 200.0) < 1e-9);
	sim_result_destroy(&r);

	/* job 0 runs only on the bad node's type: it fails at 50 s and 2,
	 * waiting for it, with it; 3 arrives after that, after 1 and 2, and
	 * fails at its arrival; 1 (the other type) completes */
	jobs[1].nafter = 0;
	jobs[1].spec.perf.compute_s[0] = 0;
	jobs[1].spec.perf.compute_s[1] = 1.0;
	job_init(&jobs[2], 2, 0.0, 100, 1.0, 0.0, 5.0);
	jobs[2].nafter = 1;
	jobs[2].after[0] = 0;
	job_init(&jobs[3], 3, 60.0, 100, 1.0, 0.0, 5.0);
	jobs[3].nafter = 2;
	jobs[3].after[0] = 1;
	jobs[3].after[1] = 2;
	w.njobs = 4;
	assert_int_equal(sched_policy_new("fifo", NULL, &p), 0);
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 1);
	assert_int_equal(r.failed, 3);
	assert_true(fabs(r.finish_s[1] - 100.0) < 1e-9);
	assert_true(fabs(r.failed_s[0] - 50.0) < 1e-9);
	assert_true(fabs(r.failed_s[2] - 50.0) < 1e-9);
	assert_true(r.start_s[2] < 0);
	assert_true(fabs(r.failed_s[3] - 60.0) < 1e-9);
	sim_result_destroy(&r);
	/* a job after a later one is refused */
	jobs[2].after[0] = 3;
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "job 2 runs after job 3"));
	sched_policy_free(p);
}

/* With jobs waiting, the jobs they wait for are planned with their weight
 * too: of two jobs alike on one GPU, srtf-like ties aside, hare runs first
 * the one a heavy job waits for; with own_weights the other (its id). */
static void test_engine_after_weights(void **state)
{
	struct sim_job jobs[3];
	struct sim_workload w = { .njobs = 3, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_engine_opts o = { .max_retries = 3 };
	struct sched_policy *p;
	struct sim_result r;
	char err[256];

	(void)state;
	job_init(&jobs[0], 0, 0.0, 100, 1.0, 0.0, 5.0);
	job_init(&jobs[1], 1, 0.0, 100, 1.0, 0.0, 5.0);
	job_init(&jobs[2], 2, 0.0, 100, 1.0, 0.0, 5.0);
	jobs[2].spec.weight = 8;
	jobs[2].nafter = 1;
	jobs[2].after[0] = 1;
	assert_int_equal(sched_policy_new("hare", NULL, &p), 0);
	assert_int_equal(sim_engine_run_opts(&one, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 3);
	assert_true(r.start_s[1] < r.start_s[0]);
	assert_true(r.start_s[2] < r.start_s[0]);
	sim_result_destroy(&r);
	sched_policy_free(p);
	o.own_weights = true;
	assert_int_equal(sched_policy_new("hare", NULL, &p), 0);
	assert_int_equal(sim_engine_run_opts(&one, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 3);
	assert_true(r.start_s[0] < r.start_s[1]);
	sim_result_destroy(&r);
	sched_policy_free(p);
}

/* Quarantine: once leases of 2 distinct jobs failed on the bad node, it
 * goes out of service and no lease fails there again; without it every
 * job that is placed there fails once. */
static void test_engine_quarantine(void **state)
{
	static struct sched_gpu g2[2] = { { .type = 0, .node = 0, .up = true },
					  { .type = 0, .node = 1, .up = true } };
	static struct sched_cluster two = { .ntypes = 1, .type_names = { "V100" }, .nnodes = 2,
					    .ngpus = 2, .gpus = g2 };
	const uint32_t bad = 0;
	struct sim_job jobs[5];
	struct sim_workload w = { .njobs = 5, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	struct sim_engine_opts o = { .nbad = 1, .bad_nodes = &bad, .fail_after_s = 10,
				     .avoid_bad = true, .max_retries = 3, .quarantine_jobs = 2,
				     .quarantine_max_nodes = 1 };
	struct sched_policy *p;
	struct sim_result r;
	char err[256];

	(void)state;
	for (uint32_t i = 0; i < 5; i++)
		job_init(&jobs[i], i, (double)i, 100, 1.0, 0.0, 5.0);
	assert_int_equal(sched_policy_new("fifo", NULL, &p), 0);
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 5);
	assert_int_equal(r.quarantined, 1);
	assert_true(r.failures_total == 2);
	assert_true(g2[0].up);	/* the caller's cluster is left as it was */
	sim_result_destroy(&r);

	o.quarantine_jobs = 0;
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.completed, 5);
	assert_int_equal(r.quarantined, 0);
	assert_true(r.failures_total >= 3);
	sim_result_destroy(&r);

	/* a job of 2 GPUs at its requested width (fifo) has none left once
	 * the bad node goes: it never runs, and the run ends without it */
	jobs[1].spec.tasks = jobs[1].spec.min_gpus = jobs[1].spec.max_gpus = 2;
	w.njobs = 2;
	o.quarantine_jobs = 1;
	assert_int_equal(sim_engine_run_opts(&two, &w, p, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.quarantined, 1);
	assert_int_equal(r.completed, 1);
	assert_int_equal(r.stranded, 1);
	assert_true(r.finish_s[1] < 0 && r.failed_s[1] < 0);
	sim_result_destroy(&r);
	sched_policy_free(p);
}

/* The bound of one job alone on one GPU is its JCT: rounds x (p + s). */
static void test_bound_one_job(void **state)
{
	struct sim_job jobs[1];
	struct sim_workload w = { .njobs = 1, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	double bound;
	char err[256];

	(void)state;
	job_init(&jobs[0], 0, 3.0, 1000, 2.0, 0.5, 7.0);
	assert_int_equal(sim_bound_compute(&one, &w, &bound, err, sizeof(err)), 0);
	assert_true(fabs(bound - 2500.0) < 1e-6);
}

static void test_percentile(void **state)
{
	double v[100];

	(void)state;
	for (int i = 0; i < 100; i++)
		v[i] = 100 - i;
	assert_true(sim_percentile(v, 100, 0.99) == 99);
	assert_true(sim_percentile(v, 100, 0.50) == 50);
	assert_true(sim_percentile(v, 1, 0.99) == 1);
	assert_true(sim_percentile(v, 0, 0.99) == 0);
}


/* ------------------------------------------------------------- metrics -- */

/* Time-averaged active jobs over each job's life. */
static void test_fairness_active(void **state)
{
	static const double arrival[] = { 0, 5, 20, 30 };
	static const double finish[] = { 10, 15, 30, -1 };
	double avg[4];

	(void)state;
	assert_int_equal(sim_fairness_active(arrival, finish, 4, avg), 0);
	/* A: 1 job over [0,5], 2 over [5,10]; B: 2 over [5,10], 1 over [10,15]. */
	assert_true(fabs(avg[0] - 1.5) < 1e-12);
	assert_true(fabs(avg[1] - 1.5) < 1e-12);
	/* C ends at 30 as D arrives: alone all along. */
	assert_true(fabs(avg[2] - 1.0) < 1e-12);
	assert_true(isnan(avg[3]));
}

static struct sim_cluster four_gpus(void)
{
	struct sim_cluster c;
	char err[256];

	assert_int_equal(sim_cluster_parse("four.ini", "[a]\ntype=V100\nnodes=1\ngpus_per_node=4\n",
					   NULL, &c, err, sizeof(err)), 0);
	return c;
}

/* Three 4-task jobs of 100 one-second rounds on 4 GPUs: two share [0, 400],
 * the third runs alone over [1000, 1100]. */
static double hand_start[] = { 0, 0, 1000 }, hand_finish[] = { 400, 400, 1100 };
static double hand_gpu_s[] = { 800, 800, 400 };
static uint32_t hand_restarts[] = { 1, 0, 3 };
static double hand_t[] = { 0, 400, 1000, 1100 };
static uint32_t hand_busy[] = { 4, 0, 4, 0 }, hand_run[] = { 2, 0, 1, 0 }, hand_act[] = { 2, 0, 1, 0 };
static double hand_dec[] = { 1, 2, 3 };

static void hand_workload(struct sim_job *jobs, struct sim_workload *w, struct sim_result *r)
{
	for (uint32_t i = 0; i < 3; i++) {
		job_init(&jobs[i], i, i == 2 ? 1000.0 : 0.0, 100, 1.0, 0.0, 5.0);
		jobs[i].spec.tasks = jobs[i].spec.max_gpus = 4;
	}
	*w = (struct sim_workload){ .njobs = 3, .jobs = jobs, .nmodels = 1, .model_names = one_model };
	*r = (struct sim_result){ .njobs = 3, .ntypes = 1, .start_s = hand_start,
				  .finish_s = hand_finish, .restarts = hand_restarts,
				  .gpu_s = hand_gpu_s, .busy_gpu_s = 2000, .plans = 3,
				  .decision_ms = hand_dec, .restarts_total = 4, .completed = 3,
				  .nsamples = 4, .sample_t = hand_t, .sample_busy = hand_busy,
				  .sample_running = hand_run, .sample_active = hand_act, .wall_s = 0.5 };
}

/* rho = JCT / time alone on floor(G / n) GPUs of the fastest type. */
static void test_fairness_rho(void **state)
{
	struct sim_cluster c = four_gpus();
	struct sim_job jobs[3];
	struct sim_workload w;
	struct sim_result r;

	(void)state;
	hand_workload(jobs, &w, &r);
	assert_int_equal(sim_fairness_compute(&c.sched, &w, &r), 0);
	/* n = 2: 2 GPUs, 2 tasks each, 2 s rounds: 200 s alone, JCT 400. */
	assert_true(fabs(r.alone_s[0] - 200.0) < 1e-9 && fabs(r.rho[0] - 2.0) < 1e-12);
	assert_true(fabs(r.rho[1] - 2.0) < 1e-12);
	/* n = 1: all 4 GPUs, 1 s rounds: 100 s alone, JCT 100. */
	assert_true(fabs(r.alone_s[2] - 100.0) < 1e-9 && fabs(r.rho[2] - 1.0) < 1e-12);
	/* 3 GPUs: tasks 2,1,1, the busiest GPU sets the round: 200 s. */
	assert_true(fabs(sim_fairness_alone_s(&c.sched, &jobs[0].spec, 3) - 200.0) < 1e-9);
	jobs[0].spec.min_gpus = jobs[0].spec.max_gpus = 4;
	assert_true(fabs(sim_fairness_alone_s(&c.sched, &jobs[0].spec, 1) - 100.0) < 1e-9);
	jobs[0].spec.tasks = jobs[0].spec.min_gpus = jobs[0].spec.max_gpus = 5;
	assert_true(isinf(sim_fairness_alone_s(&c.sched, &jobs[0].spec, 8)));
	free(r.alone_s);
	free(r.rho);
	sim_cluster_destroy(&c);
}

/* --window: metrics over jobs [1, 3) only. */
static void test_summary_window(void **state)
{
	struct sim_cluster c = four_gpus();
	struct sim_window win = { 1, 3 }, wide = { 1, 99 };
	struct sim_summary s, s2, all;
	struct sim_job jobs[3];
	struct sim_workload w;
	struct sim_result r;

	(void)state;
	hand_workload(jobs, &w, &r);
	assert_int_equal(sim_fairness_compute(&c.sched, &w, &r), 0);
	assert_int_equal(sim_summary_compute_window("x", &c.sched, &w, &r, &win, true, 50, &s), 0);
	assert_true(s.has_window && s.window.first == 1 && s.window.last == 3);
	assert_int_equal(s.jobs, 2);
	assert_int_equal(s.jobs_total, 3);
	assert_int_equal(s.jobs_completed, 2);
	assert_true(fabs(s.avg_jct_s - 250.0) < 1e-9);		/* (400 + 100) / 2 */
	assert_true(s.p50_jct_s == 100.0 && s.p99_jct_s == 400.0);
	assert_true(s.avg_queue_s == 0 && s.p99_queue_s == 0);
	assert_true(fabs(s.makespan_s - 1100.0) < 1e-9);
	/* 4 GPUs busy over [0, 400] and [1000, 1100] of 1100 s. */
	assert_true(fabs(s.utilisation - 2000.0 / (4 * 1100.0)) < 1e-12);
	assert_true(fabs(s.rho_mean - 1.5) < 1e-12 && fabs(s.rho_max - 2.0) < 1e-12);
	assert_true(fabs(s.rho_le1_frac - 0.5) < 1e-12);
	assert_true(fabs(s.restarts_per_job - 1.5) < 1e-12);	/* (0 + 3) / 2 */
	assert_int_equal(s.ntypes, 1);
	assert_string_equal(s.type_names[0], "V100");
	assert_true(fabs(s.gpu_hours[0] - 1200.0 / 3600) < 1e-12);
	assert_true(fabs(s.ratio_to_bound - s.weighted_jct_s / 50) < 1e-12);
	assert_true(s.decision_ms_p50 == 2 && fabs(s.jobs_per_s - 6.0) < 1e-12);
	/* LAST past the end is clamped; no window counts every job. */
	assert_int_equal(sim_summary_compute_window("x", &c.sched, &w, &r, &wide, false, 0, &s2), 0);
	assert_int_equal(s2.window.last, 3);
	assert_true(s2.avg_jct_s == s.avg_jct_s);
	assert_int_equal(sim_summary_compute("x", &c.sched, &w, &r, false, 0, &all), 0);
	assert_false(all.has_window);
	assert_int_equal(all.jobs, 3);
	assert_true(fabs(all.avg_jct_s - 300.0) < 1e-9);
	assert_true(fabs(all.rho_mean - 5.0 / 3) < 1e-12);
	assert_true(fabs(all.utilisation - 2000.0 / (4 * 1100.0)) < 1e-12);
	/* a rho of exactly its fair share, but for rounding, is <= 1 */
	r.rho[1] = 1.0 + 4e-16;
	assert_int_equal(sim_summary_compute_window("x", &c.sched, &w, &r, &win, true, 50, &s), 0);
	assert_true(s.rho_le1_frac == 1.0);
	/* a job that did not complete: the bound counts it, the weighted JCT
	 * does not, so there is no ratio */
	{
		double fin[3] = { 400, -1, 1100 };

		r.finish_s = fin;
		assert_int_equal(sim_summary_compute_window("x", &c.sched, &w, &r, &win, true, 50,
							    &s), 0);
		r.finish_s = hand_finish;
	}
	assert_int_equal(s.jobs_completed, 1);
	assert_true(isnan(s.ratio_to_bound));
	free(r.alone_s);
	free(r.rho);
	sim_cluster_destroy(&c);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* utilisation.csv: time averages per step (the last row over what is
 * left of the run); jobs.csv: the added columns. */
static void test_report_files(void **state)
{
	struct sim_cluster c = four_gpus();
	struct sim_window win = { 1, 3 };
	struct sim_job jobs[3];
	struct sim_workload w;
	struct sim_result r;
	char path[] = "/tmp/hare-test-sim-XXXXXX", file[64], err[256], *text;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	hand_workload(jobs, &w, &r);
	assert_int_equal(sim_fairness_compute(&c.sched, &w, &r), 0);
	assert_int_equal(sim_report_util_csv(path, &c.sched, &r, 300, err, sizeof(err)), 0);
	text = read_all(path);
	assert_non_null(strstr(text, "time_s,busy_V100,busy,util,running_jobs,queued_jobs\n"
				     "0,4.000,4.000,1.00000,2.000,0.000\n"
				     "300,1.333,1.333,0.33333,0.667,0.000\n"
				     "600,0.000,0.000,0.00000,0.000,0.000\n"
				     "900,2.000,2.000,0.50000,0.500,0.000\n"));	/* [900, 1100) */
	assert_null(strstr(text, "\n1200,"));
	assert_true(sim_timeline_step(1e6) == 600 && sim_timeline_step(100) == 60);
	assert_true(fabs(sim_timeline_busy_gpu_s(&r, 1, 0, 1100) - 2000) < 1e-9);
	assert_true(fabs(sim_timeline_busy_gpu_s(&r, 1, 300, 1050) - 600) < 1e-9);
	assert_int_equal(sim_report_jobs_csv(path, &c.sched, &w, &r, &win, err, sizeof(err)), 0);
	text = read_all(path);
	assert_non_null(strstr(text, "id,name,model,arrival_s,start_s,finish_s,jct_s,weight,tasks,"
				     "gpu_s_V100,restarts,queue_s,alone_s,rho,in_window\n"));
	assert_non_null(strstr(text, "\n0,j0,m,0.000,0.000,400.000,400.000,1,4,800.000,1,0.000,"
				     "200.000,2.000000,0\n"));
	snprintf(file, sizeof(file), "\n2,j2,m,1000.000,");
	assert_non_null(strstr(text, file));
	assert_non_null(strstr(text, ",100.000,1.000000,1\n"));
	unlink(path);
	free(r.alone_s);
	free(r.rho);
	sim_cluster_destroy(&c);
}

/* The engine's samples integrate to the GPU time it accounted, and a run
 * carries rho for every job. */
static void test_engine_samples(void **state)
{
	struct sim_cluster c;
	struct sim_workload w;
	struct sim_result r;

	(void)state;
	generate(CLUSTERS "tiny-8.ini", "jobs=40,seed=3,load=0.7", &c, &w);
	run_policy("fifo", &c.sched, &w, &r);
	assert_true(r.nsamples > 1);
	assert_true(fabs(sim_timeline_busy_gpu_s(&r, c.sched.ntypes, 0, INFINITY) - r.busy_gpu_s) <
		    1e-6 * r.busy_gpu_s);
	assert_int_equal(r.sample_running[r.nsamples - 1], 0);
	assert_int_equal(r.sample_active[r.nsamples - 1], 0);
	for (uint32_t i = 0; i < w.njobs; i++)
		assert_true(isfinite(r.rho[i]) && r.rho[i] > 0 && r.alone_s[i] > 0);
	assert_true(r.wall_s > 0);
	sim_result_destroy(&r);
	sim_workload_destroy(&w);
	sim_cluster_destroy(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_good),
		cmocka_unit_test(test_cluster_shipped),
		cmocka_unit_test(test_cluster_bad_files),
		cmocka_unit_test(test_cluster_bad_text),
		cmocka_unit_test(test_cluster_no_profile),
		cmocka_unit_test(test_gen_spec_good),
		cmocka_unit_test(test_gen_spec_bad),
		cmocka_unit_test(test_gen_deterministic),
		cmocka_unit_test(test_gen_pipeline),
		cmocka_unit_test(test_gen_golden),
		cmocka_unit_test(test_gen_distribution),
		cmocka_unit_test(test_gen_limits),
		cmocka_unit_test(test_heap_order),
		cmocka_unit_test(test_engine_one_job),
		cmocka_unit_test(test_engine_fifo_two_jobs),
		cmocka_unit_test(test_engine_coalesce),
		cmocka_unit_test(test_engine_preempt_restart),
		cmocka_unit_test(test_engine_replan_at),
		cmocka_unit_test(test_engine_bad_policy),
		cmocka_unit_test(test_engine_same_lease),
		cmocka_unit_test(test_engine_all_policies),
		cmocka_unit_test(test_gen_small_cluster),
		cmocka_unit_test(test_engine_no_single_type),
		cmocka_unit_test(test_engine_failure_model),
		cmocka_unit_test(test_engine_after),
		cmocka_unit_test(test_engine_after_weights),
		cmocka_unit_test(test_engine_quarantine),
		cmocka_unit_test(test_bound_one_job),
		cmocka_unit_test(test_percentile),
		cmocka_unit_test(test_fairness_active),
		cmocka_unit_test(test_fairness_rho),
		cmocka_unit_test(test_summary_window),
		cmocka_unit_test(test_report_files),
		cmocka_unit_test(test_engine_samples),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
