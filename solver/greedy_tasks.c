/* SPDX-License-Identifier: MIT */
/* Hare's greedy at task granularity: every task of every round, in the
 * priority order, to the GPU where it finishes earliest. Used for small
 * instances and as the reference the lease planner is checked against. */
#include "greedy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

double sched_greedy_sync_s(const struct sched_job *j)
{
	return sched_sync_time(&j->perf, j->tasks, false);
}

/* Validate the order: each job's remaining rounds exactly once, ascending. */
static int greedy_order_check(const struct sched_job *jobs, uint32_t njobs,
			      const struct sched_round_ref *order, size_t norder, uint32_t *next)
{
	size_t want = 0;

	for (uint32_t j = 0; j < njobs; j++) {
		next[j] = 0;
		want += sched_job_rounds_left(&jobs[j]);
	}
	if (norder != want)
		return -EINVAL;
	for (size_t i = 0; i < norder; i++) {
		if (order[i].job >= njobs || order[i].round != next[order[i].job])
			return -EINVAL;
		next[order[i].job]++;
	}
	for (uint32_t j = 0; j < njobs; j++)
		next[j] = 0;
	return 0;
}

/* Place one task of job j, ready at `ready`; returns the GPU or UINT32_MAX. */
static uint32_t greedy_pick_gpu(const struct sched_cluster *c, const struct sched_job *j,
				const double *gpu_free, double ready, double *start)
{
	double best = INFINITY;
	uint32_t bi = UINT32_MAX;

	for (uint32_t g = 0; g < c->ngpus; g++) {
		double tc = j->perf.compute_s[c->gpus[g].type];
		double s;

		if (!c->gpus[g].up || tc <= 0)
			continue;
		s = fmax(gpu_free[g], ready);
		if (s + tc < best) {
			best = s + tc;
			bi = g;
			*start = s;
		}
	}
	return bi;
}

int sched_greedy_tasks(const struct sched_cluster *c, const struct sched_job *jobs, uint32_t njobs,
		       const struct sched_round_ref *order, size_t norder, double now_s,
		       bool sync_holds_gpu, struct sched_task_slot *slots, double *completion_s)
{
	double *gpu_free = calloc(c->ngpus + 1, sizeof(double));
	double *ready = calloc(njobs + 1, sizeof(double));
	uint32_t *next = calloc(njobs + 1, sizeof(uint32_t));
	uint32_t *used = calloc(c->ngpus + 1, sizeof(uint32_t));
	size_t *mark = calloc(c->ngpus + 1, sizeof(size_t));
	size_t ns = 0;
	int rc = -ENOMEM;

	if (!gpu_free || !ready || !next || !used || !mark)
		goto out;
	rc = greedy_order_check(jobs, njobs, order, norder, next);
	if (rc)
		goto out;
	for (uint32_t g = 0; g < c->ngpus; g++)
		gpu_free[g] = now_s;
	for (uint32_t j = 0; j < njobs; j++) {
		ready[j] = fmax(jobs[j].arrival_s, now_s);
		completion_s[j] = ready[j];
	}
	for (size_t i = 0; i < norder; i++) {
		const struct sched_job *j = &jobs[order[i].job];
		double round_end = ready[order[i].job], sync = sched_greedy_sync_s(j);
		uint32_t nused = 0;

		for (uint32_t t = 0; t < j->tasks; t++) {
			double start = 0;
			uint32_t g = greedy_pick_gpu(c, j, gpu_free, ready[order[i].job], &start);

			if (g == UINT32_MAX) {
				rc = -EINVAL;
				goto out;
			}
			slots[ns++] = (struct sched_task_slot){
				.job = order[i].job, .round = order[i].round, .task = t, .gpu = g,
				.start_s = start, .end_s = start + j->perf.compute_s[c->gpus[g].type],
			};
			gpu_free[g] = slots[ns - 1].end_s;
			round_end = fmax(round_end, gpu_free[g]);
			if (mark[g] != i + 1) {	/* each GPU listed once per round */
				mark[g] = i + 1;
				used[nused++] = g;
			}
		}
		if (sync_holds_gpu)
			for (uint32_t u = 0; u < nused; u++)
				gpu_free[used[u]] = fmax(gpu_free[used[u]], round_end + sync);
		ready[order[i].job] = round_end + sync;
		completion_s[order[i].job] = round_end + sync;
	}
	rc = 0;
out:
	free(gpu_free);
	free(ready);
	free(next);
	free(used);
	free(mark);
	return rc;
}
