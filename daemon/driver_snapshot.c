/* SPDX-License-Identifier: MIT */
/* Snapshots for the planner: a deep copy of the cluster (from the nodes'
 * GPUs) and of the active jobs, which a worker thread may read while the
 * loop goes on changing the driver. Jobs waiting for an absent agent are
 * left out, and their GPUs are down. GPUs of stopping workers look free: a
 * lease planned there waits for them (driver_pend_set). */
#include "driver_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void driver_snapshot_free(struct driver_snapshot *s)
{
	if (!s)
		return;
	free(s->cluster.gpus);
	free(s->jobs);
	free(s->job_ids);
	free(s->lease_ids);
	free(s->held);
	free(s->held_tasks);
	free(s->speeds);
	free(s->gpu_node);
	free(s->gpu_slot);
	free(s->node_first);
	free(s->avoid);
	sched_plan_destroy(&s->plan);
	free(s);
}

const struct sched_snapshot *driver_snapshot_view(const struct driver_snapshot *s)
{
	return &s->snap;
}

struct sched_plan *driver_snapshot_plan(struct driver_snapshot *s)
{
	return &s->plan;
}

static int snap_alloc(struct driver_snapshot *s, uint32_t ngpus, uint32_t nnodes, uint32_t njobs,
		      uint32_t nheld)
{
	size_t g = ngpus ? ngpus : 1, n = nnodes ? nnodes : 1, j = njobs ? njobs : 1;
	size_t h = nheld ? nheld : 1;

	s->cluster.gpus = calloc(g, sizeof(*s->cluster.gpus));
	s->gpu_node = calloc(g, sizeof(uint32_t));
	s->gpu_slot = calloc(g, sizeof(uint32_t));
	s->node_first = calloc(n, sizeof(uint32_t));
	s->jobs = calloc(j, sizeof(*s->jobs));
	s->job_ids = calloc(j, sizeof(uint64_t));
	s->lease_ids = calloc(j, sizeof(uint64_t));
	s->speeds = calloc(j, sizeof(*s->speeds));
	s->held = calloc(h, sizeof(uint32_t));
	s->held_tasks = calloc(h, sizeof(uint16_t));
	s->avoid = calloc(j * DRIVER_AVOID_MAX, sizeof(uint32_t));
	if (!s->cluster.gpus || !s->gpu_node || !s->gpu_slot || !s->node_first || !s->jobs ||
	    !s->job_ids || !s->lease_ids || !s->speeds || !s->held || !s->held_tasks || !s->avoid)
		return -ENOMEM;
	return 0;
}

/* Cluster GPUs grouped by node; a GPU of an unknown type, being measured,
 * or of a drained or unhealthy node is never up. */
static void snap_cluster_fill(const struct driver *d, struct driver_snapshot *s)
{
	struct sched_cluster *c = &s->cluster;
	uint32_t g = 0;

	c->ntypes = d->ntypes;
	memcpy(c->type_names, d->type_names, sizeof(c->type_names));
	c->nnodes = d->nnodes;
	for (uint32_t n = 0; n < d->nnodes; n++) {
		const struct drv_node *node = &d->nodes[n];

		s->node_first[n] = g;
		for (uint32_t k = 0; k < node->ngpus; k++, g++) {
			c->gpus[g].type = (uint16_t)(node->gpus[k].type >= 0 ? node->gpus[k].type : 0);
			c->gpus[g].node = n;
			c->gpus[g].up = node->up && !node->drained && !node->unhealthy &&
					node->gpus[k].type >= 0 &&
					!node->gpus[k].measuring;
			s->gpu_node[g] = n;
			s->gpu_slot[g] = k;
		}
	}
	c->ngpus = g;
}

/* A held lease's GPUs are nobody's to plan on while it waits. */
static void snap_held_down(const struct driver *d, struct driver_snapshot *s, const struct drv_job *j)
{
	for (uint32_t r = 0; r < j->lease.nranks; r++) {
		const struct drv_rank *rk = &j->lease.ranks[r];

		if (rk->node < d->nnodes && rk->slot < d->nodes[rk->node].ngpus)
			s->cluster.gpus[s->node_first[rk->node] + rk->slot].up = false;
	}
}

/* The nodes job j (snapshot index i) avoids (driver_job_avoids). */
static void snap_job_avoid(const struct driver *d, struct driver_snapshot *s, const struct drv_job *j,
			   uint32_t i)
{
	struct sched_job *sj = &s->jobs[i];
	uint32_t *nodes = s->avoid + (size_t)i * DRIVER_AVOID_MAX;

	sj->navoid = driver_job_avoids(d, j, nodes);
	sj->avoid_nodes = sj->navoid ? nodes : NULL;
}

static void snap_job_fill(struct driver *d, struct driver_snapshot *s, struct drv_job *j,
			  uint32_t i, uint32_t *held, double now, double weight)
{
	struct sched_job *sj = &s->jobs[i];
	double now_s = now - d->epoch;

	sj->id = (uint32_t)j->rec.id;
	snprintf(sj->name, sizeof(sj->name), "%.*s", (int)sizeof(sj->name) - 1,
		 j->rec.name[0] ? j->rec.name : "job");
	sj->weight = weight;
	sj->arrival_s = j->rec.submit_time > 0 ? j->rec.submit_time - d->epoch : now_s;
	sj->tasks = j->rec.tasks;
	sj->min_gpus = j->rec.min_gpus;
	sj->max_gpus = j->rec.max_gpus;
	sj->rounds_total = j->rec.rounds_total;
	sj->rounds_done = j->rec.rounds_done;
	sj->perf = j->perf;
	if (j->speed.weight_sum > 0) {
		if (j->speed.dirty)
			speed_model_fit(&j->speed);
		s->speeds[i] = j->speed;
		sj->speed = &s->speeds[i];
	}
	sj->attained_gpu_s = j->attained_gpu_s;
	sj->first_start_s = j->rec.start_time > 0 ? j->rec.start_time - d->epoch : -1;
	sj->last_run_s = j->last_run > 0 ? j->last_run - d->epoch : -1;
	sj->restarts = j->rec.restarts;
	s->job_ids[i] = j->rec.id;
	s->lease_ids[i] = j->lease.id;
	snap_job_avoid(d, s, j, i);
	if (!j->lease.id)
		return;
	sj->attained_gpu_s += fmax(0, now - j->lease.start) * j->lease.nranks;
	sj->last_run_s = now_s;
	sj->lease_start_s = j->lease.start - d->epoch;
	sj->nheld = j->lease.nranks;
	sj->held_gpus = s->held + *held;
	sj->held_tasks = s->held_tasks + *held;
	for (uint32_t r = 0; r < j->lease.nranks; r++, (*held)++) {
		s->held[*held] = s->node_first[j->lease.ranks[r].node] + j->lease.ranks[r].slot;
		s->held_tasks[*held] = j->lease.ranks[r].tasks;
	}
}

int driver_snapshot_take(struct driver *d, struct driver_snapshot **out)
{
	struct driver_snapshot *s = calloc(1, sizeof(*s));
	uint32_t ngpus = 0, nheld = 0, held = 0, njobs = 0;
	double now = driver_now(), *weights;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->d = d;
	sched_plan_init(&s->plan);
	for (uint32_t n = 0; n < d->nnodes; n++)
		ngpus += d->nodes[n].ngpus;
	for (uint32_t i = 0; i < d->njobs; i++)
		nheld += d->jobs[i]->lease.nranks;
	if (snap_alloc(s, ngpus, d->nnodes, d->njobs, nheld) < 0) {
		driver_snapshot_free(s);
		return -ENOMEM;
	}
	snap_cluster_fill(d, s);
	weights = driver_after_weights(d);
	for (uint32_t i = 0; i < d->njobs; i++) {
		if (d->jobs[i]->lease.hold_until > 0)
			snap_held_down(d, s, d->jobs[i]);
		else if (d->jobs[i]->retry_at > now && !d->jobs[i]->lease.id)
			continue;	/* failed: waits before its next lease */
		else if (d->jobs[i]->rec.held && !d->jobs[i]->lease.id)
			continue;	/* harectl hold */
		else if (d->jobs[i]->nafter_wait && !d->jobs[i]->lease.id)
			continue;	/* waits for the jobs it runs after */
		else
			snap_job_fill(d, s, d->jobs[i], njobs++, &held, now,
				      weights ? weights[i] : d->jobs[i]->rec.weight);
	}
	free(weights);
	s->snap.now_s = now - d->epoch;
	s->snap.cluster = &s->cluster;
	s->snap.njobs = njobs;
	s->snap.jobs = s->jobs;
	*out = s;
	return 0;
}
