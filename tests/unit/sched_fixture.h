/* SPDX-License-Identifier: MIT */
/* Small hand-built clusters and jobs shared by the scheduling-core tests. */
#ifndef HARE_TEST_SCHED_FIXTURE_H
#define HARE_TEST_SCHED_FIXTURE_H

#include <string.h>

#include "sched.h"

/* nodes[i] GPUs of type types[i] on node i. */
static inline void fx_cluster(struct sched_cluster *c, struct sched_gpu *gpus, uint32_t nnodes,
			      const uint32_t *per_node, const uint16_t *types, uint32_t ntypes)
{
	static const char *names[] = { "V100", "T4", "K80", "P100" };
	uint32_t g = 0;

	memset(c, 0, sizeof(*c));
	c->ntypes = ntypes;
	for (uint32_t t = 0; t < ntypes; t++)
		strcpy(c->type_names[t], names[t]);
	for (uint32_t n = 0; n < nnodes; n++)
		for (uint32_t i = 0; i < per_node[n]; i++)
			gpus[g++] = (struct sched_gpu){ .type = types[n], .node = n, .up = true };
	c->nnodes = nnodes;
	c->ngpus = g;
	c->gpus = gpus;
}

/* A job with per-type compute times and a flat sync time. */
static inline void fx_job(struct sched_job *j, uint32_t id, double weight, uint32_t tasks,
			  uint64_t rounds, const double *compute, uint32_t ntypes, double sync)
{
	memset(j, 0, sizeof(*j));
	j->id = id;
	j->weight = weight;
	j->tasks = tasks;
	j->min_gpus = 1;
	j->max_gpus = tasks;
	j->rounds_total = rounds;
	j->first_start_s = -1;
	for (uint32_t t = 0; t < ntypes; t++)
		j->perf.compute_s[t] = compute[t];
	for (int i = 0; i < SCHED_SYNC_POINTS; i++) {
		j->perf.sync_s[i][0] = i ? sync : 0;
		j->perf.sync_s[i][1] = i ? 2 * sync : 0;
	}
	j->perf.restart_s = 10;
}

#endif
