/* SPDX-License-Identifier: MIT */
/* Benchmark: wall time of one full re-plan of the `hare` policy (and the
 * baselines side by side) for clusters and queues of growing size. Jobs
 * get the shipped profile's timings; half the cluster is busy with running
 * leases from a previous plan, as in steady operation. "hare+avoid" is hare
 * with every tenth job avoiding one node (as after worker failures), for
 * the cost of sched_job.avoid_nodes. Prints a table, or JSON with --json. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "profile.h"
#include "sched.h"

struct bench_case {
	uint32_t jobs, gpus;
};

static uint64_t bench_rng = 88172645463325252ull;

static uint32_t bench_rand(uint32_t n)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return (uint32_t)(bench_rng % n);
}

static double bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Four types in equal shares, 8-GPU nodes. */
static int bench_cluster(const struct profile *prof, uint32_t ngpus, struct sched_cluster *c)
{
	static const char *types[] = { "V100", "P100", "T4", "K80" };

	memset(c, 0, sizeof(*c));
	c->ntypes = 4;
	for (int t = 0; t < 4; t++) {
		if (profile_gpu_type_find(prof, types[t]) < 0)
			return ERR_UNKNOWN_GPU;
		snprintf(c->type_names[t], SCHED_TYPE_NAME, "%s", types[t]);
	}
	c->gpus = calloc(ngpus, sizeof(*c->gpus));
	if (!c->gpus)
		return -ENOMEM;
	c->ngpus = ngpus;
	for (uint32_t g = 0; g < ngpus; g++) {
		c->gpus[g].node = g / 8;
		c->gpus[g].type = (uint16_t)((g / 8) % 4);
		c->gpus[g].up = true;
	}
	c->nnodes = (ngpus + 7) / 8;
	return 0;
}

static int bench_jobs(const struct profile *prof, const struct sched_cluster *c, uint32_t n,
		      struct sched_job *jobs)
{
	const char *names[SCHED_MAX_TYPES];
	char err[256];

	for (uint32_t t = 0; t < c->ntypes; t++)
		names[t] = c->type_names[t];
	for (uint32_t i = 0; i < n; i++) {
		struct sched_job *j = &jobs[i];
		uint32_t r = bench_rand(100);
		int rc;

		memset(j, 0, sizeof(*j));
		j->id = i + 1;
		j->weight = 1u << bench_rand(4);
		j->arrival_s = bench_rand(3600);
		j->tasks = r < 70 ? 1 : r < 80 ? 2 : r < 95 ? 4 : 8;
		j->min_gpus = 1;
		j->max_gpus = j->tasks;
		j->rounds_total = 100 + bench_rand(100000);
		j->first_start_s = -1;
		rc = profile_perf_fill(prof, bench_rand(profile_model_count(prof)), names, c->ntypes,
				       &j->perf, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "plan_latency: %s\n", err);
			return rc;
		}
	}
	return 0;
}

/* Apply a plan's run_now leases as the jobs' current leases. */
static void bench_hold(struct sched_job *jobs, uint32_t n, const struct sched_plan *plan, double now)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct sched_assign *a = &plan->assigns[i];

		jobs[i].nheld = a->run_now ? a->ngpus : 0;
		jobs[i].held_gpus = plan->gpus + a->first;
		jobs[i].held_tasks = plan->tasks + a->first;
		if (a->run_now) {
			jobs[i].first_start_s = now;
			jobs[i].lease_start_s = now;
		}
	}
}

/* Every tenth job avoids one node (nodes holds one entry per job). */
static void bench_avoid(struct sched_job *jobs, uint32_t n, const struct sched_cluster *c,
			uint32_t *nodes)
{
	for (uint32_t i = 0; i < n; i += 10) {
		nodes[i] = bench_rand(c->nnodes);
		jobs[i].navoid = 1;
		jobs[i].avoid_nodes = &nodes[i];
	}
}

static int bench_run(const struct profile *prof, const char *policy, struct bench_case bc, int reps,
		     double *median, double *p99)
{
	bool avoid = strcmp(policy, "hare+avoid") == 0;
	uint32_t *nodes = calloc(bc.jobs, sizeof(uint32_t));
	struct sched_cluster c;
	struct sched_job *jobs = calloc(bc.jobs, sizeof(*jobs));
	struct sched_plan first, plan;
	struct sched_policy *p = NULL;
	double *ms = calloc(reps, sizeof(double));
	int rc = -ENOMEM;

	sched_plan_init(&first);
	sched_plan_init(&plan);
	if (!jobs || !ms || !nodes)
		goto out;
	bench_rng = 88172645463325252ull;
	rc = bench_cluster(prof, bc.gpus, &c);
	if (rc)
		goto out;
	rc = bench_jobs(prof, &c, bc.jobs, jobs);
	if (rc == 0 && avoid)
		bench_avoid(jobs, bc.jobs, &c, nodes);
	if (rc == 0)
		rc = sched_policy_new(avoid ? "hare" : policy, NULL, &p);
	if (rc)
		goto out_cluster;
	struct sched_snapshot snap = { .now_s = 3600, .cluster = &c, .njobs = bc.jobs, .jobs = jobs };

	rc = sched_policy_plan(p, &snap, &first);
	if (rc)
		goto out_cluster;
	bench_hold(jobs, bc.jobs, &first, snap.now_s);
	snap.now_s += 60;
	for (int r = 0; r < reps && rc == 0; r++) {
		double t0 = bench_now_ms();

		rc = sched_policy_plan(p, &snap, &plan);
		ms[r] = bench_now_ms() - t0;
	}
	qsort(ms, reps, sizeof(double), bench_cmp);
	*median = ms[reps / 2];
	*p99 = ms[(int)ceil(0.99 * reps) - 1];
out_cluster:
	free(c.gpus);
out:
	sched_policy_free(p);
	sched_plan_destroy(&first);
	sched_plan_destroy(&plan);
	free(jobs);
	free(ms);
	free(nodes);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = { { 300, 200 }, { 1000, 2000 }, { 4000, 16000 } };
	static const char *policies[] = { "hare", "hare+avoid", "optimus", "fifo", "srtf" };
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	const char *dir = getenv("HARE_PROFILES") ? getenv("HARE_PROFILES")
						 : HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR;
	struct profile *prof;
	char err[512];
	int rc;

	if (argc > 1 && !json) {
		fprintf(stderr, "usage: plan_latency [--json]\n"
				"Times one full re-plan per policy for (jobs, GPUs) = (300, 200), "
				"(1000, 2000), (4000, 16000).\n");
		return 2;
	}
	rc = profile_load(dir, &prof, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "plan_latency: %s\n", err);
		return 2;
	}
	if (json)
		printf("[");
	else
		printf("%-10s %6s %6s %11s %11s\n", "policy", "jobs", "gpus", "median_ms", "p99_ms");
	for (size_t pi = 0; pi < (json ? 1 : 5); pi++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int reps = cases[i].jobs >= 4000 ? 15 : cases[i].jobs >= 1000 ? 40 : 200;
			double med = 0, p99 = 0;

			rc = bench_run(prof, policies[pi], cases[i], reps, &med, &p99);
			if (rc) {
				fprintf(stderr, "plan_latency: %s failed: %d\n", policies[pi], rc);
				profile_free(prof);
				return 1;
			}
			if (json)
				printf("%s{\"jobs\":%u,\"gpus\":%u,\"median_ms\":%.3f,\"p99_ms\":%.3f}",
				       i ? "," : "", cases[i].jobs, cases[i].gpus, med, p99);
			else
				printf("%-10s %6u %6u %11.3f %11.3f\n", policies[pi], cases[i].jobs,
				       cases[i].gpus, med, p99);
			fflush(stdout);
		}
	}
	if (json)
		printf("]\n");
	profile_free(prof);
	return 0;
}
