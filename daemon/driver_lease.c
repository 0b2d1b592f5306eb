/* SPDX-License-Identifier: MIT */
/* Leases: started with TaskStart (committed first, sent in a batch) and
 * stopped with TaskStop, their GPUs released or kept until their workers
 * exit, their GPU time in the store, and jobs queued again. */
#include "driver_impl.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int driver_send_stop(struct driver *d, uint32_t node, uint64_t job, uint64_t lease,
		     const char *reason)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__TaskStop ts = HARE__TASK_STOP__INIT;

	if (node >= d->nnodes || !d->nodes[node].attached)
		return -ENOTCONN;
	ts.job_id = job;
	ts.lease_id = lease;
	ts.reason = (char *)reason;
	m.msg_case = HARE__FROM_DAEMON__MSG_TASK_STOP;
	m.task_stop = &ts;
	return d->send(d->send_user, d->nodes[node].agent_id, &m);
}

/* "node/index*tasks,..." for logs and events. */
void driver_rank_to_text(const struct driver *d, const struct drv_job *j, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < j->lease.nranks && off < len; i++) {
		const struct drv_rank *r = &j->lease.ranks[i];
		const struct drv_node *n = &d->nodes[r->node];

		off += (size_t)snprintf(buf + off, len - off, "%s%s/%u*%u", i ? "," : "", n->name,
					r->slot < n->ngpus ? n->gpus[r->slot].index : 0, r->tasks);
	}
}

void driver_usage_open(struct driver *d, const struct drv_job *j, double start)
{
	const char *type[DRIVER_MAX_GPUS];
	uint32_t count[DRIVER_MAX_GPUS], ntypes = 0;

	if (!d->st)
		return;
	for (uint32_t i = 0; i < j->lease.nranks && i < DRIVER_MAX_GPUS; i++) {
		const struct drv_rank *r = &j->lease.ranks[i];
		const char *name = "unknown";
		uint32_t k = 0;

		/* the profile's name: one row per type, however agents spell it */
		if (r->type >= 0 && (uint32_t)r->type < d->ntypes)
			name = d->type_names[r->type];
		else if (r->node < d->nnodes && r->slot < d->nodes[r->node].ngpus)
			name = d->nodes[r->node].gpus[r->slot].type_name;
		while (k < ntypes && strcmp(type[k], name) != 0)
			k++;
		if (k == ntypes) {
			type[ntypes] = name;
			count[ntypes++] = 0;
		}
		count[k]++;
	}
	for (uint32_t k = 0; k < ntypes; k++)
		store_usage_start(d->st, j->rec.id, j->lease.id, type[k], count[k], start);
}

static int drv_attained_add(void *user, const char *gpu_type, double gpu_s)
{
	struct drv_job *j = user;

	(void)gpu_type;
	if (gpu_s > 0)
		j->attained_gpu_s += gpu_s;
	return 0;
}

void driver_attained_load(struct driver *d, struct drv_job *j, uint64_t except_lease)
{
	j->attained_gpu_s = 0;
	if (d->st)
		store_usage_job(d->st, j->rec.id, except_lease, drv_attained_add, j);
}

void driver_usage_sync(struct driver *d)
{
	double now = driver_now();

	d->usage_synced = now;
	for (uint32_t k = 0; d->st && k < d->njobs; k++) {
		const struct drv_job *j = d->jobs[k];

		if (j->lease.id && !j->lease.unsent)
			store_usage_until(d->st, j->rec.id, j->lease.id, now);
	}
}

void driver_lease_gpu_s(const struct driver *d, const struct drv_job *j, double now, double *gpu_s)
{
	/* since the driver started: an adopted lease began before */
	double held = now - fmax(j->lease.start, d->started_at);

	for (uint32_t i = 0; i < j->lease.nranks && held > 0; i++) {
		int32_t t = j->lease.ranks[i].type;	/* as it began: a node may register again */

		if (t >= 0 && (uint32_t)t < d->ntypes)
			gpu_s[t] += held;
	}
}

/* Release the GPUs a lease holds and account its GPU time; no messages. */
void drv_lease_release(struct driver *d, struct drv_job *j)
{
	double now = driver_now();

	if (j->lease.id)
		driver_lease_gpu_s(d, j, now, d->gpu_s_ended);

	if (j->lease.id && !j->lease.unsent && d->st)	/* unsent: held nothing */
		store_usage_until(d->st, j->rec.id, j->lease.id, now);

	for (uint32_t i = 0; i < j->lease.nranks; i++) {
		const struct drv_rank *r = &j->lease.ranks[i];

		if (r->node < d->nnodes && r->slot < d->nodes[r->node].ngpus &&
		    d->nodes[r->node].gpus[r->slot].job_id == j->rec.id)
			d->nodes[r->node].gpus[r->slot].job_id = 0;
	}
	if (j->lease.id && now > j->lease.start)
		j->attained_gpu_s += (now - j->lease.start) * j->lease.nranks;
	if (j->lease.id)
		j->last_run = now;
	free(j->lease.ranks);
	memset(&j->lease, 0, sizeof(j->lease));
}

/* Workers of the lease that have not exited may still hold their GPUs
 * (memory on a real one): keep those out of new leases until they exit.
 * Ranks on an agent that is gone are skipped (its GPUs are down).
 * finish_until: a DONE job's, which end on their own until then (0: the
 * lease is stopped). */
void drv_lease_vacate(struct driver *d, struct drv_job *j, double finish_until)
{
	if (j->lease.unsent)
		return;		/* its workers were never told to start */
	for (uint32_t i = 0; i < j->lease.nranks; i++) {
		const struct drv_rank *r = &j->lease.ranks[i];

		if (r->exited || r->node >= d->nnodes || !d->nodes[r->node].attached ||
		    r->slot >= d->nodes[r->node].ngpus)
			continue;
		driver_gpu_vacate(d, r->node, r->slot, j->rec.id, j->lease.id, i, finish_until);
	}
}

void driver_lease_stop(struct driver *d, struct drv_job *j, const char *reason)
{
	j->prev_lease = j->lease.id;
	j->prev_first = j->lease.round_first;
	if (j->lease.unsent) {
		/* no worker was ever told: nothing to stop or wait for */
		drv_lease_release(d, j);
		return;
	}
	drv_lease_vacate(d, j, 0);
	for (uint32_t i = 0; i < j->lease.nranks; i++) {
		const struct drv_rank *r = &j->lease.ranks[i];
		bool dup = false;

		if (r->exited)
			continue;
		/* One TaskStop per agent: it stops every rank of the lease it runs. */
		for (uint32_t k = 0; k < i && !dup; k++)
			dup = j->lease.ranks[k].node == r->node && !j->lease.ranks[k].exited;
		if (!dup)
			driver_send_stop(d, r->node, j->rec.id, j->lease.id, reason);
	}
	drv_lease_release(d, j);
}

double driver_round_s(const struct driver *d, const struct drv_job *j,
		      const struct drv_rank *ranks, uint32_t n, double *sync_s)
{
	double busiest = 0;
	bool spread = false;

	for (uint32_t i = 0; i < n; i++) {
		const struct drv_node *node = &d->nodes[ranks[i].node];
		int32_t type = ranks[i].slot < node->ngpus ? node->gpus[ranks[i].slot].type : -1;
		double t = type < 0 ? 0 : ranks[i].tasks * j->perf_prof.compute_s[type];

		busiest = fmax(busiest, t);
		spread |= ranks[i].node != ranks[0].node;
	}
	*sync_s = sched_sync_time(&j->perf_prof, n, spread);
	return busiest + *sync_s;
}

static void drv_send_start(struct driver *d, const struct drv_job *j, uint32_t rank,
			   double sync_s, double restart_s)
{
	const struct drv_rank *r = &j->lease.ranks[rank];
	const struct drv_node *n = &d->nodes[r->node];
	const struct drv_gpu *g = &n->gpus[r->slot];
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__TaskStart ts = HARE__TASK_START__INIT;
	uint32_t node_gpus[DRIVER_MAX_GPUS];

	ts.job_id = j->rec.id;
	ts.lease_id = j->lease.id;
	ts.model = (char *)j->rec.model;
	ts.rank = rank;
	ts.world_size = j->lease.nranks;
	ts.gpu_index = g->index;
	ts.tasks = r->tasks;
	ts.job_tasks = j->rec.tasks;
	ts.round_first = j->lease.round_first;
	ts.round_count = j->rec.rounds_total - j->lease.round_first;
	ts.has_time_scale = ts.has_seed = ts.has_compute_s = ts.has_sync_s = true;
	ts.time_scale = d->o.time_scale;
	ts.master_addr = (char *)d->nodes[j->lease.ranks[0].node].addr;
	ts.has_master_port = true;
	ts.master_port = 20000 + (uint32_t)(j->lease.id % 20000);
	ts.seed = j->rec.id;
	ts.command = j->rec.command[0] ? (char *)j->rec.command : NULL;
	ts.proxy = j->rec.proxy[0] ? (char *)j->rec.proxy : NULL;
	ts.user = d->o.remote_owner && strcmp(j->rec.user, d->o.remote_owner) == 0 ?
			  d->o.remote_user : (char *)j->rec.user;
	ts.compute_s = j->perf_prof.compute_s[g->type];
	ts.sync_s = sync_s;
	ts.has_noise_cv = ts.has_round_s = ts.has_restart_s = true;
	ts.noise_cv = d->o.noise_cv;
	ts.gpu_type = (char *)d->type_names[g->type];
	ts.round_s = j->lease.round_s;
	ts.restart_s = restart_s;
	/* the lease's GPUs on this node: its workers there may open them */
	for (uint32_t i = 0; i < j->lease.nranks && ts.n_node_gpus < DRIVER_MAX_GPUS; i++) {
		const struct drv_rank *o = &j->lease.ranks[i];

		if (o->node == r->node)
			node_gpus[ts.n_node_gpus++] = n->gpus[o->slot].index;
	}
	ts.node_gpus = node_gpus;
	m.msg_case = HARE__FROM_DAEMON__MSG_TASK_START;
	m.task_start = &ts;
	if (d->send(d->send_user, n->agent_id, &m) < 0)
		log_warn("job=%" PRIu64 " lease=%" PRIu64 " rank=%u: TaskStart to node %s failed",
			 j->rec.id, j->lease.id, rank, n->name);
}

/* Start a lease of j on ranks (nodes and slots checked free by the caller). */
int driver_lease_start(struct driver *d, struct drv_job *j, const struct drv_rank *ranks,
		       uint32_t n)
{
	double now = driver_now(), sync_s, restart_s = 0;
	struct drv_rank *r = calloc(n, sizeof(*r));
	char where[512];

	if (!r)
		return -ENOMEM;
	memcpy(r, ranks, n * sizeof(*r));
	j->lease = (struct drv_lease){ .id = d->next_lease++, .round_first = j->rec.rounds_done,
				       .nranks = n, .ranks = r, .start = now, .progress_at = now };
	for (uint32_t i = 0; i < n; i++) {
		r[i].round_end = j->rec.rounds_done;
		r[i].exited = false;
		r[i].type = d->nodes[r[i].node].gpus[r[i].slot].type;
		d->nodes[r[i].node].gpus[r[i].slot].job_id = j->rec.id;
	}
	j->lease.round_s = driver_round_s(d, j, r, n, &sync_s);
	if (j->rec.start_time > 0) {
		restart_s = j->perf_prof.restart_s;
		j->rec.restarts++;
		if (d->st)
			store_job_restarted(d->st, j->rec.id, j->rec.restarts);
	} else {
		j->rec.start_time = now;
	}
	j->rec.state = STORE_RUNNING;
	j->last_run = now;
	driver_rank_to_text(d, j, where, sizeof(where));
	if (d->st) {
		char detail[600];

		snprintf(detail, sizeof(detail), "lease=%" PRIu64 " gpus=%s", j->lease.id, where);
		store_job_state(d->st, j->rec.id, STORE_RUNNING, now);
		store_event(d->st, now, j->rec.id, j->rec.restarts ? "restart" : "start", detail);
		driver_usage_open(d, j, now);
	}
	log_info("job=%" PRIu64 " lease=%" PRIu64 " start gpus=%s round_first=%" PRIu64
		 " round_s=%.4f restarts=%u", j->rec.id, j->lease.id, where, j->lease.round_first,
		 j->lease.round_s, j->rec.restarts);
	j->lease.unsent = true;
	j->lease.sync_s = sync_s;
	j->lease.restart_s = restart_s;
	if (!d->starts_unsent && d->st)
		d->starts_failures = store_write_failures(d->st, NULL);
	d->starts_unsent = true;
	return 0;
}

void driver_starts_send(struct driver *d)
{
	int rc;

	if (!d->starts_unsent)
		return;
	d->starts_unsent = false;
	/* one commit for every lease started since the last call */
	rc = d->st ? store_flush_since(d->st, d->starts_failures) : 0;
	if (rc < 0)
		log_error("cannot store lease starts: %s; starting them anyway (after a daemon "
			  "crash their jobs would start again)", err_str(rc));
	for (uint32_t k = 0; k < d->njobs; k++) {
		struct drv_job *j = d->jobs[k];

		if (!j->lease.unsent)
			continue;
		j->lease.unsent = false;
		for (uint32_t i = 0; i < j->lease.nranks; i++)
			drv_send_start(d, j, i, j->lease.sync_s, j->lease.restart_s);
	}
}

void driver_job_requeue_only(struct driver *d, struct drv_job *j, const char *kind, const char *why)
{
	double now = driver_now();
	uint64_t lease = j->lease.id;

	driver_lease_stop(d, j, why);
	j->rec.state = STORE_QUEUED;
	if (d->st) {
		store_job_state(d->st, j->rec.id, STORE_QUEUED, now);
		store_event(d->st, now, j->rec.id, kind, why);
	}
	/* a failure is an operator's business (a bad node, a bad program) */
	log_at(strcmp(kind, "fail") == 0 ? LOG_LVL_WARN : LOG_LVL_INFO,
	       "job=%" PRIu64 " lease=%" PRIu64 " %s: %s", j->rec.id, lease, kind, why);
}

void driver_job_requeue(struct driver *d, struct drv_job *j, const char *kind, const char *why)
{
	driver_job_requeue_only(d, j, kind, why);
	driver_replan_request(d);
}
