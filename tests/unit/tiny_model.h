/* SPDX-License-Identifier: MIT */
/* Tiny scheduling instances for test_tiny_optimal.c: a seeded generator, an
 * independent feasibility checker of task schedules, and a brute-force
 * search for the optimum. Included by that one test only (static functions). */
#ifndef HARE_TINY_MODEL_H
#define HARE_TINY_MODEL_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "greedy.h"
#include "sched.h"

#define TINY_SEED 20240611u
#define TINY_JOBS 6
#define TINY_GPUS 3
#define TINY_TYPES 3
#define TINY_ROUNDS 3
#define TINY_K 3		/* tasks per round, at most (the generator draws 1-2) */
#define TINY_TASKS 10		/* tasks of an instance, all rounds of all jobs */
#define TINY_ITEMS (TINY_JOBS * TINY_ROUNDS)
#define TINY_ABS 1e-7		/* slack on times in the checker */

/*
 * One instance in Hare's types plus the model's view of it. Every time is an
 * integer number of seconds, so every sum the search and the greedy form is
 * exact and ties are real ties. cluster.gpus points into gpus: do not copy.
 */
struct tiny {
	unsigned id;
	struct sched_cluster cluster;
	struct sched_gpu gpus[TINY_GPUS];
	uint32_t njobs;
	struct sched_job jobs[TINY_JOBS];
	double sync_s[TINY_JOBS];	/* Ts */
	double fast_s[TINY_JOBS];	/* p: fastest task time over usable types */
	uint32_t ntasks;
	double alpha;			/* max over jobs of slowest / fastest task time */
};

static inline double tiny_tc(const struct tiny *in, uint32_t j, uint32_t g)
{
	return in->jobs[j].perf.compute_s[in->gpus[g].type];
}

/* ---- Building instances ------------------------------------------------ */

/* Empty instance: ngpus GPUs of type 0 on node 0, ntypes types. */
static void tiny_init(struct tiny *in, unsigned id, uint32_t ngpus, uint32_t ntypes)
{
	memset(in, 0, sizeof(*in));
	in->id = id;
	in->cluster.ntypes = ntypes;
	in->cluster.nnodes = 1;
	in->cluster.ngpus = ngpus;
	in->cluster.gpus = in->gpus;
	for (uint32_t ty = 0; ty < ntypes; ty++)
		snprintf(in->cluster.type_names[ty], SCHED_TYPE_NAME, "type%u", ty);
	for (uint32_t g = 0; g < ngpus; g++)
		in->gpus[g].up = true;
	in->alpha = 1;
}

/* Job idx with everything but its task times (all types excluded). */
static void tiny_job_init(struct tiny *in, uint32_t idx, double weight, double arrival_s,
			  uint32_t rounds, uint32_t tasks, double sync_s)
{
	struct sched_job *j = &in->jobs[idx];

	memset(j, 0, sizeof(*j));
	j->id = idx + 1;
	snprintf(j->name, SCHED_NAME_LEN, "job%u", idx);
	j->weight = weight;
	j->arrival_s = arrival_s;
	j->tasks = tasks;
	j->min_gpus = 1;
	j->max_gpus = tasks;
	j->rounds_total = rounds;
	j->first_start_s = -1;
	for (int i = 0; i < SCHED_SYNC_POINTS; i++)
		j->perf.sync_s[i][SCHED_CONSOLIDATED] = j->perf.sync_s[i][SCHED_SPREAD] = sync_s;
	in->sync_s[idx] = sync_s;
	if (in->njobs <= idx)
		in->njobs = idx + 1;
}

/* After the task times are set: p, alpha and the task count. */
static void tiny_job_finish(struct tiny *in, uint32_t idx)
{
	const struct sched_job *j = &in->jobs[idx];
	double lo = INFINITY, hi = 0;

	for (uint32_t ty = 0; ty < in->cluster.ntypes; ty++) {
		if (j->perf.compute_s[ty] <= 0)
			continue;
		lo = fmin(lo, j->perf.compute_s[ty]);
		hi = fmax(hi, j->perf.compute_s[ty]);
	}
	in->fast_s[idx] = lo;
	in->alpha = fmax(in->alpha, hi / lo);
	in->ntasks += (uint32_t)j->rounds_total * j->tasks;
}

/* splitmix64: small, seedable, the same on every platform. */
static uint64_t tiny_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t tiny_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(tiny_rand(s) % n);
}

/* 1-3 GPUs of 1-3 types (each type present) on one or two nodes. */
static void tiny_make_cluster(struct tiny *in, unsigned id, uint64_t *s)
{
	static const uint32_t ngpus_of[] = { 1, 2, 2, 3, 3, 3 };
	uint32_t ngpus = ngpus_of[tiny_below(s, 6)], split;

	tiny_init(in, id, ngpus, 1 + tiny_below(s, ngpus));
	split = 1 + tiny_below(s, ngpus);	/* GPUs from split on sit on node 1 */
	in->cluster.nnodes = split < ngpus ? 2 : 1;
	for (uint32_t g = 0; g < ngpus; g++) {
		in->gpus[g].type = (uint16_t)(g < in->cluster.ntypes ? g
								: tiny_below(s, in->cluster.ntypes));
		in->gpus[g].node = g >= split;
	}
}

/* Task times: the type's speed factor times a per-job variation, rounded to
 * whole seconds; each type but one may be excluded (time 0). */
static void tiny_make_times(struct tiny *in, uint32_t idx, const double *factor, uint64_t *s)
{
	double base = 2 + tiny_below(s, 9);
	uint32_t keep = tiny_below(s, in->cluster.ntypes);

	for (uint32_t ty = 0; ty < in->cluster.ntypes; ty++) {
		double v = base * factor[ty] * (0.75 + 0.05 * tiny_below(s, 11));

		if (ty == keep || tiny_below(s, 8) != 0)
			in->jobs[idx].perf.compute_s[ty] = fmax(1, round(v));
	}
	tiny_job_finish(in, idx);
}

/* Add job idx with at most `left` tasks (shrinking rounds, then tasks). */
static void tiny_make_job(struct tiny *in, uint32_t idx, const double *factor, uint32_t left,
			  uint64_t *s)
{
	uint32_t rounds = 1 + tiny_below(s, TINY_ROUNDS), tasks = 1 + tiny_below(s, 2);
	double weight = 1u << tiny_below(s, 4);
	double arrival = tiny_below(s, 3) == 0 ? 0 : tiny_below(s, 25);
	double sync = tiny_below(s, 4) == 0 ? 0 : 1 + tiny_below(s, 6);

	while (rounds * tasks > left && rounds > 1)
		rounds--;
	while (rounds * tasks > left && tasks > 1)
		tasks--;
	tiny_job_init(in, idx, weight, arrival, rounds, tasks, sync);
	tiny_make_times(in, idx, factor, s);
}

/* Instance id: deterministic for its id. 1-6 jobs sharing a budget of
 * TINY_TASKS - 4 to TINY_TASKS tasks (each job keeps one for the next). */
static void tiny_make(struct tiny *in, unsigned id)
{
	uint64_t s = (uint64_t)TINY_SEED + id;
	double factor[TINY_TYPES];
	uint32_t budget, want;

	tiny_make_cluster(in, id, &s);
	for (uint32_t ty = 0; ty < TINY_TYPES; ty++)
		factor[ty] = 1 + 0.5 * tiny_below(&s, 6);
	budget = TINY_TASKS - tiny_below(&s, 5);
	want = 1 + tiny_below(&s, TINY_JOBS);
	want = want < budget ? want : budget;
	for (uint32_t j = 0; j < want; j++)
		tiny_make_job(in, j, factor, budget - in->ntasks - (want - 1 - j), &s);
}

static void tiny_print(const struct tiny *in)
{
	printf("instance %u: %u GPUs:", in->id, in->cluster.ngpus);
	for (uint32_t g = 0; g < in->cluster.ngpus; g++)
		printf(" %u=type%u/node%u", g, in->gpus[g].type, in->gpus[g].node);
	printf("\n");
	for (uint32_t j = 0; j < in->njobs; j++) {
		const struct sched_job *job = &in->jobs[j];

		printf("  job %u: w %g a %g R %u K %u Ts %g Tc", j, job->weight, job->arrival_s,
		       (unsigned)job->rounds_total, job->tasks, in->sync_s[j]);
		for (uint32_t ty = 0; ty < in->cluster.ntypes; ty++)
			printf(" %g", job->perf.compute_s[ty]);
		printf("\n");
	}
}

static void tiny_print_slots(const struct sched_task_slot *s, size_t n, const double *comp,
			     uint32_t njobs)
{
	for (size_t i = 0; i < n; i++)
		printf("  slot %zu: job %u round %u task %u gpu %u [%g, %g]\n", i, s[i].job,
		       s[i].round, s[i].task, s[i].gpu, s[i].start_s, s[i].end_s);
	for (uint32_t j = 0; comp && j < njobs; j++)
		printf("  completion job %u: %g\n", j, comp[j]);
}

/* ---- Feasibility checker ----------------------------------------------- */

struct tiny_chk {
	const struct tiny *in;
	const struct sched_task_slot *s;
	size_t n;
	double end[TINY_JOBS][TINY_ROUNDS];	/* last task end of each round */
	char *why;
	size_t len;
};

/* Write "slot i (...): <what>" into the reason; returns -1. */
__attribute__((format(printf, 3, 4)))
static int tiny_chk_fail(struct tiny_chk *k, size_t i, const char *fmt, ...)
{
	const struct sched_task_slot *x = &k->s[i];
	int len = snprintf(k->why, k->len, "slot %zu (job %u round %u task %u on gpu %u at [%g, %g]): ",
			   i, x->job, x->round, x->task, x->gpu, x->start_s, x->end_s);
	va_list ap;

	if (len >= 0 && (size_t)len < k->len) {
		va_start(ap, fmt);
		vsnprintf(k->why + len, k->len - (size_t)len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Ids in range, each task once, allowed type, right duration, after arrival. */
static int tiny_check_slot(struct tiny_chk *k, size_t i, bool seen[][TINY_ROUNDS][TINY_K])
{
	const struct sched_task_slot *x = &k->s[i];
	const struct tiny *in = k->in;
	double tc;

	if (x->job >= in->njobs || x->round >= in->jobs[x->job].rounds_total ||
	    x->task >= in->jobs[x->job].tasks)
		return tiny_chk_fail(k, i, "no such task");
	if (x->gpu >= in->cluster.ngpus)
		return tiny_chk_fail(k, i, "no GPU %u", x->gpu);
	if (seen[x->job][x->round][x->task])
		return tiny_chk_fail(k, i, "task placed twice");
	seen[x->job][x->round][x->task] = true;
	tc = tiny_tc(in, x->job, x->gpu);
	if (tc <= 0)
		return tiny_chk_fail(k, i, "job cannot run on type %u", in->gpus[x->gpu].type);
	if (!isfinite(x->start_s) || fabs(x->end_s - x->start_s - tc) > TINY_ABS)
		return tiny_chk_fail(k, i, "duration %g, Tc is %g", x->end_s - x->start_s, tc);
	if (x->start_s < in->jobs[x->job].arrival_s - TINY_ABS)
		return tiny_chk_fail(k, i, "starts before arrival %g", in->jobs[x->job].arrival_s);
	k->end[x->job][x->round] = fmax(k->end[x->job][x->round], x->end_s);
	return 0;
}

/* Round r + 1 starts after round r's last task and its sync. */
static int tiny_check_chain(struct tiny_chk *k)
{
	for (size_t i = 0; i < k->n; i++) {
		const struct sched_task_slot *x = &k->s[i];
		double ready;

		if (x->round == 0)
			continue;
		ready = k->end[x->job][x->round - 1] + k->in->sync_s[x->job];
		if (x->start_s < ready - TINY_ABS)
			return tiny_chk_fail(k, i, "round chain broken, previous round synced at %g",
					     ready);
	}
	return 0;
}

/* One task at a time per GPU; with holds, a GPU used by a round runs no other
 * round's task from the round's first task on it until the round's sync ends. */
static int tiny_check_gpus(struct tiny_chk *k, bool holds)
{
	for (size_t i = 0; i < k->n; i++) {
		const struct sched_task_slot *x = &k->s[i];
		double held = k->end[x->job][x->round] + k->in->sync_s[x->job];

		for (size_t m = 0; m < k->n; m++) {
			const struct sched_task_slot *y = &k->s[m];
			bool same_round = y->job == x->job && y->round == x->round;

			if (m == i || y->gpu != x->gpu)
				continue;
			if (y->start_s < x->end_s - TINY_ABS && x->start_s < y->end_s - TINY_ABS)
				return tiny_chk_fail(k, i, "overlaps slot %zu", m);
			if (holds && !same_round && y->start_s < held - TINY_ABS &&
			    y->end_s > x->start_s + TINY_ABS)
				return tiny_chk_fail(k, i, "gpu held until its round synced at %g, "
						     "but slot %zu runs there at [%g, %g]", held, m,
						     y->start_s, y->end_s);
		}
	}
	return 0;
}

/*
 * Check a schedule of in's tasks in the model (relaxed: the GPU is free after
 * its task; holds: busy until its round synced). completion (may be NULL) must
 * be each job's last task end plus Ts. Writes sum w (C - a) into *objective.
 * 0, or -1 with the first violation found in why.
 */
static int tiny_check(const struct tiny *in, const struct sched_task_slot *s, size_t n,
		      const double *completion, bool holds, double *objective, char *why,
		      size_t len)
{
	struct tiny_chk k = { .in = in, .s = s, .n = n, .why = why, .len = len };
	bool seen[TINY_JOBS][TINY_ROUNDS][TINY_K] = { { { false } } };

	if (n != in->ntasks) {
		snprintf(why, len, "%zu slots for %u tasks", n, in->ntasks);
		return -1;
	}
	for (uint32_t j = 0; j < TINY_JOBS; j++)
		for (uint32_t r = 0; r < TINY_ROUNDS; r++)
			k.end[j][r] = -INFINITY;
	for (size_t i = 0; i < n; i++)
		if (tiny_check_slot(&k, i, seen))
			return -1;
	if (tiny_check_chain(&k) || tiny_check_gpus(&k, holds))
		return -1;
	*objective = 0;
	for (uint32_t j = 0; j < in->njobs; j++) {
		const struct sched_job *job = &in->jobs[j];
		double c = k.end[j][job->rounds_total - 1] + in->sync_s[j];

		if (completion && fabs(completion[j] - c) > TINY_ABS) {
			snprintf(why, len, "job %u: completion %g, its slots say %g", j,
				 completion[j], c);
			return -1;
		}
		*objective += job->weight * (c - job->arrival_s);
	}
	return 0;
}

/* ---- Brute force ------------------------------------------------------- */

/*
 * Depth-first search over the relaxed model's semi-active schedules: pick a
 * job whose current round has tasks left and a GPU, start the next task at
 * max(GPU free, round ready). Every semi-active schedule arises from listing
 * its tasks by (start, job); the pruned search only lists those (starts never
 * decrease, equal starts by job), tries one of several GPUs of a type that
 * are free at the same time, takes a round's interchangeable tasks in index
 * order, and cuts where cost so far plus a per-job bound reaches the best.
 * The plain search (pruned false) tries every order and GPU.
 */
struct tiny_bf {
	const struct tiny *in;
	bool pruned;
	double gpu_free[TINY_GPUS];
	uint32_t round[TINY_JOBS];	/* current round; rounds_total when finished */
	uint32_t placed[TINY_JOBS];	/* tasks of the current round placed */
	double ready[TINY_JOBS];	/* current round may start; C when finished */
	double round_end[TINY_JOBS];	/* last end among the current round's tasks */
	double cost;			/* sum w (C - a) over finished jobs */
	uint32_t n;
	struct sched_task_slot path[TINY_TASKS];
	double best;
	struct sched_task_slot best_path[TINY_TASKS];
	uint64_t nodes;
};

struct tiny_undo {
	double gpu_free, ready, round_end, cost;
	uint32_t round, placed;
};

static void tiny_bf_init(struct tiny_bf *b, const struct tiny *in, bool pruned)
{
	memset(b, 0, sizeof(*b));
	b->in = in;
	b->pruned = pruned;
	b->best = INFINITY;
	for (uint32_t j = 0; j < in->njobs; j++)
		b->ready[j] = in->jobs[j].arrival_s;
}

static void tiny_bf_place(struct tiny_bf *b, uint32_t j, uint32_t g, double start,
			  struct tiny_undo *u)
{
	const struct sched_job *job = &b->in->jobs[j];
	double end = start + tiny_tc(b->in, j, g);

	*u = (struct tiny_undo){ b->gpu_free[g], b->ready[j], b->round_end[j], b->cost,
				 b->round[j], b->placed[j] };
	b->path[b->n++] = (struct sched_task_slot){ .job = j, .round = b->round[j],
						    .task = b->placed[j], .gpu = g,
						    .start_s = start, .end_s = end };
	b->gpu_free[g] = end;
	b->round_end[j] = b->placed[j] ? fmax(b->round_end[j], end) : end;
	if (++b->placed[j] < job->tasks)
		return;
	b->placed[j] = 0;
	b->round[j]++;
	b->ready[j] = b->round_end[j] + b->in->sync_s[j];
	if (b->round[j] == job->rounds_total)
		b->cost += job->weight * (b->ready[j] - job->arrival_s);
}

static void tiny_bf_undo(struct tiny_bf *b, uint32_t j, uint32_t g, const struct tiny_undo *u)
{
	b->gpu_free[g] = u->gpu_free;
	b->ready[j] = u->ready;
	b->round_end[j] = u->round_end;
	b->cost = u->cost;
	b->round[j] = u->round;
	b->placed[j] = u->placed;
	b->n--;
}

/* Cost so far plus, per unfinished job, its current round ending no earlier
 * than its next task could (starting at t0 or later) and each later round
 * taking p + Ts. */
static double tiny_bf_bound(const struct tiny_bf *b, double t0)
{
	const struct tiny *in = b->in;
	double lb = b->cost;

	for (uint32_t j = 0; j < in->njobs; j++) {
		const struct sched_job *job = &in->jobs[j];
		double end = INFINITY;

		if (b->round[j] == job->rounds_total)
			continue;
		for (uint32_t g = 0; g < in->cluster.ngpus; g++)
			if (tiny_tc(in, j, g) > 0)
				end = fmin(end, fmax(fmax(b->gpu_free[g], b->ready[j]), t0) +
							tiny_tc(in, j, g));
		if (b->placed[j])
			end = fmax(end, b->round_end[j]);
		end += (double)(job->rounds_total - 1 - b->round[j]) * (in->fast_s[j] + in->sync_s[j]);
		lb += job->weight * (end + in->sync_s[j] - job->arrival_s);
	}
	return lb;
}

/* An earlier GPU of the same type free at the same time: same subtrees. */
static bool tiny_bf_twin(const struct tiny_bf *b, uint32_t g)
{
	for (uint32_t h = 0; h < g; h++)
		if (b->in->gpus[h].type == b->in->gpus[g].type && b->gpu_free[h] == b->gpu_free[g])
			return true;
	return false;
}

static void tiny_bf_dfs(struct tiny_bf *b, double t0, uint32_t last_job);

static void tiny_bf_try(struct tiny_bf *b, uint32_t j, uint32_t g, double t0, uint32_t last_job)
{
	double start = fmax(b->gpu_free[g], b->ready[j]);
	struct tiny_undo u;

	if (tiny_tc(b->in, j, g) <= 0)
		return;
	if (b->pruned && (start < t0 || (start == t0 && j < last_job) || tiny_bf_twin(b, g)))
		return;
	tiny_bf_place(b, j, g, start, &u);
	tiny_bf_dfs(b, start, j);
	tiny_bf_undo(b, j, g, &u);
}

/* Start with t0 = 0, last_job = 0; the optimum is in b->best, b->best_path. */
static void tiny_bf_dfs(struct tiny_bf *b, double t0, uint32_t last_job)
{
	const struct tiny *in = b->in;

	if (b->n == in->ntasks) {
		if (b->cost < b->best) {
			b->best = b->cost;
			memcpy(b->best_path, b->path, sizeof(b->path));
		}
		return;
	}
	b->nodes++;
	if (b->pruned && tiny_bf_bound(b, t0) >= b->best)
		return;
	for (uint32_t j = 0; j < in->njobs; j++) {
		if (b->round[j] == in->jobs[j].rounds_total)
			continue;
		for (uint32_t g = 0; g < in->cluster.ngpus; g++)
			tiny_bf_try(b, j, g, t0, last_job);
	}
}

#endif
