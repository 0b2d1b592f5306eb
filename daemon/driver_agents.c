/* SPDX-License-Identifier: MIT */
/* Nodes and their agents: attach on authentication, GPUs on Register, down
 * on disconnect; workers of stale leases stopped; after a daemon restart,
 * running leases adopted from what agents report within the grace period. */
#include "driver_impl.h"

#include "err.h"
#include "log.h"
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t driver_node_count(const struct driver *d)
{
	return d->nnodes;
}

const struct drv_node *driver_node_at(const struct driver *d, uint32_t i)
{
	return i < d->nnodes ? &d->nodes[i] : NULL;
}

const char *driver_type_name(const struct driver *d, int32_t type)
{
	return type >= 0 && (uint32_t)type < d->ntypes ? d->type_names[type] : "?";
}

static struct drv_node *drv_node_get(struct driver *d, uint32_t agent_id)
{
	if (agent_id == 0 || agent_id > d->nnodes)
		return NULL;
	return &d->nodes[agent_id - 1];
}

static bool drv_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= DRIVER_NODE_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

static int drv_node_add(struct driver *d, const char *name)
{
	struct drv_node *n;

	if (d->nnodes == DRIVER_MAX_NODES)
		return -E2BIG;
	if (d->nnodes == d->nodes_cap) {
		uint32_t cap = d->nodes_cap ? d->nodes_cap * 2 : 16;
		struct drv_node *a = realloc(d->nodes, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		d->nodes = a;
		d->nodes_cap = cap;
	}
	n = &d->nodes[d->nnodes];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->agent_id = ++d->nnodes;
	return (int)n->agent_id;
}

int driver_agent_attach(struct driver *d, const char *node, const char *addr)
{
	struct drv_node *n = NULL;
	int id = -1;

	if (!drv_name_ok(node))
		return -EINVAL;
	for (uint32_t i = 0; i < d->nnodes && id < 0; i++)
		if (strcmp(d->nodes[i].name, node) == 0)
			id = (int)d->nodes[i].agent_id;
	if (id < 0)
		id = drv_node_add(d, node);
	if (id < 0)
		return id;
	n = drv_node_get(d, (uint32_t)id);
	if (n->attached)
		driver_agent_detach(d, (uint32_t)id);
	n->attached = true;
	n->up = false;
	n->last_seen = driver_now();
	snprintf(n->addr, sizeof(n->addr), "%s", addr ? addr : "");
	return id;
}

/* ---- adoption (restart) ---- */

static void drv_adopt_release(struct driver *d, struct drv_job *j, uint32_t only_node)
{
	if (!j->adopt)
		return;
	for (uint32_t r = 0; r < DRIVER_MAX_GPUS; r++) {
		struct drv_rank *a = &j->adopt[r];

		if (a->node == DRIVER_NO_NODE || (only_node != DRIVER_NO_NODE && a->node != only_node))
			continue;
		if (a->node < d->nnodes && a->slot < d->nodes[a->node].ngpus &&
		    d->nodes[a->node].gpus[a->slot].job_id == j->rec.id)
			d->nodes[a->node].gpus[a->slot].job_id = 0;
		a->node = DRIVER_NO_NODE;
	}
}

void driver_adopt_drop(struct driver *d, struct drv_job *j)
{
	drv_adopt_release(d, j, DRIVER_NO_NODE);
	free(j->adopt);
	j->adopt = NULL;
}

/* Is this running task already an adoption candidate of j on node? */
static bool drv_adopt_has(const struct drv_job *j, uint32_t node, const Hare__RunningTask *t)
{
	return j->adopt && t->lease_id == j->adopt_lease && t->rank < DRIVER_MAX_GPUS &&
	       j->adopt[t->rank].node == node;
}

/* Record a worker of j's previous lease that an agent still runs; it takes
 * the node's first free GPU of a type the job can use (RunningTask does not
 * say which GPU). False: not adoptable (stop it). */
static bool drv_adopt_add(struct driver *d, struct drv_job *j, uint32_t node,
			  const Hare__RunningTask *t)
{
	struct drv_node *n = &d->nodes[node];

	if (t->rank >= DRIVER_MAX_GPUS || t->rank >= j->rec.tasks)
		return false;
	if (!j->adopt) {
		j->adopt = malloc(DRIVER_MAX_GPUS * sizeof(*j->adopt));
		if (!j->adopt)
			return false;
		for (uint32_t r = 0; r < DRIVER_MAX_GPUS; r++)
			j->adopt[r] = (struct drv_rank){ .node = DRIVER_NO_NODE };
		j->adopt_lease = t->lease_id;
	}
	if (t->lease_id != j->adopt_lease || j->adopt[t->rank].node != DRIVER_NO_NODE)
		return drv_adopt_has(j, node, t);
	for (uint32_t k = 0; k < n->ngpus; k++) {
		struct drv_gpu *g = &n->gpus[k];

		if (g->job_id || g->type < 0 || !(j->perf.compute_s[g->type] > 0))
			continue;
		g->job_id = j->rec.id;
		j->adopt[t->rank] = (struct drv_rank){ .node = node, .slot = k };
		return true;
	}
	return false;
}

/* Tasks per rank of an adopted lease: the heterogeneity-aware split. */
static void drv_adopt_split(struct driver *d, struct drv_job *j, struct drv_rank *ranks,
			    uint32_t n)
{
	struct sched_gpu gpus[DRIVER_MAX_GPUS];
	uint32_t idx[DRIVER_MAX_GPUS] = { 0 };
	uint16_t tasks[DRIVER_MAX_GPUS];
	struct sched_cluster c = { .ntypes = d->ntypes, .nnodes = d->nnodes, .ngpus = n, .gpus = gpus };
	struct sched_job sj = { .tasks = j->rec.tasks, .min_gpus = n, .max_gpus = n, .perf = j->perf };
	uint32_t sum = 0, big = 0;

	for (uint32_t i = 0; i < n; i++) {
		gpus[i] = (struct sched_gpu){ .type = (uint16_t)d->nodes[ranks[i].node].gpus[ranks[i].slot].type,
					      .node = ranks[i].node, .up = true };
		idx[i] = i;
	}
	sched_split_tasks(&c, &sj, idx, n, tasks);
	for (uint32_t i = 0; i < n; i++) {
		if (tasks[i] == 0)
			tasks[i] = 1;
		sum += tasks[i];
		big = tasks[i] > tasks[big] ? i : big;
	}
	while (sum > j->rec.tasks && tasks[big] > 1) {
		tasks[big]--;
		sum--;
	}
	for (uint32_t i = 0; i < n; i++)
		ranks[i].tasks = tasks[i];
}

/* Make j's candidates its lease if they are ranks 0..n-1 with no gap. */
static bool drv_adopt_lease(struct driver *d, struct drv_job *j)
{
	uint32_t n = 0, present = 0;
	struct drv_rank *r;

	for (uint32_t k = 0; j->adopt && k < DRIVER_MAX_GPUS; k++) {
		if (j->adopt[k].node == DRIVER_NO_NODE)
			continue;
		present++;
		if (k == n)
			n++;
	}
	if (n == 0 || n != present || n < j->rec.min_gpus || n > j->rec.max_gpus)
		return false;
	r = calloc(n, sizeof(*r));
	if (!r)
		return false;
	memcpy(r, j->adopt, n * sizeof(*r));
	drv_adopt_split(d, j, r, n);
	j->lease = (struct drv_lease){ .id = j->adopt_lease, .round_first = j->rec.rounds_done,
				       .nranks = n, .ranks = r, .start = driver_now(),
				       .adopted = true };
	j->lease.round_s = 0;
	for (uint32_t i = 0; i < n; i++) {
		double t = r[i].tasks * j->perf_prof.compute_s[d->nodes[r[i].node].gpus[r[i].slot].type];

		j->lease.round_s = fmax(j->lease.round_s, t);
	}
	j->lease.round_s += sched_sync_time(&j->perf_prof, n, false);
	if (j->adopt_lease >= d->next_lease)
		d->next_lease = j->adopt_lease + 1;
	free(j->adopt);
	j->adopt = NULL;
	return true;
}

/* Stop the workers of candidates that are not adopted: one TaskStop per
 * agent covers every rank of the lease it runs. */
static void drv_adopt_stop(struct driver *d, struct drv_job *j)
{
	for (uint32_t r = 0; j->adopt && r < DRIVER_MAX_GPUS; r++) {
		uint32_t node = j->adopt[r].node;
		bool dup = false;

		for (uint32_t k = 0; k < r && !dup; k++)
			dup = j->adopt[k].node == node;
		if (node != DRIVER_NO_NODE && !dup)
			driver_send_stop(d, node, j->rec.id, j->adopt_lease, "lease not adopted");
	}
}

void driver_grace_end(struct driver *d)
{
	double now = driver_now();

	d->grace = false;
	if (!d->closing)
		uv_timer_stop(&d->grace_timer);
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];

		if (!j->adopt_wait)
			continue;
		j->adopt_wait = false;
		if (drv_adopt_lease(d, j)) {
			j->last_run = now;
			if (d->st)
				store_event(d->st, now, j->rec.id, "adopt", "lease kept across restart");
			log_info("job=%" PRIu64 " lease=%" PRIu64 " adopted ranks=%u", j->rec.id,
				 j->lease.id, j->lease.nranks);
			continue;
		}
		drv_adopt_stop(d, j);
		driver_adopt_drop(d, j);
		driver_job_requeue(d, j, "requeue", "not running on any agent after restart");
	}
	driver_replan_request(d);
}

/* ---- agents' reports of what runs ---- */

static bool drv_task_current(const struct driver *d, const struct drv_job *j, uint32_t node,
			     const Hare__RunningTask *t)
{
	(void)d;
	return j && j->lease.id == t->lease_id && t->rank < j->lease.nranks &&
	       j->lease.ranks[t->rank].node == node;
}

/* Stop workers of leases that are not current; during the grace period
 * collect adoption candidates instead. */
static void drv_running_check(struct driver *d, uint32_t node, Hare__RunningTask **tasks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const Hare__RunningTask *t = tasks[i];
		struct drv_job *j = driver_job_get(d, t->job_id);

		if (drv_task_current(d, j, node, t))
			continue;
		if (j && j->adopt_wait && d->grace && drv_adopt_add(d, j, node, t))
			continue;
		log_debug("node=%s job=%" PRIu64 " lease=%" PRIu64 " rank=%u: not current, stopping",
			  d->nodes[node].name, t->job_id, t->lease_id, t->rank);
		driver_send_stop(d, node, t->job_id, t->lease_id, "not a current lease");
	}
}

/* Requeue every job with a rank (or an adoption candidate) on node. */
static void drv_node_clear(struct driver *d, uint32_t node, const char *kind, const char *why)
{
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		bool uses = false;

		drv_adopt_release(d, j, node);
		for (uint32_t r = 0; r < j->lease.nranks && !uses; r++)
			uses = j->lease.ranks[r].node == node;
		if (uses)
			driver_job_requeue(d, j, kind, why);
	}
}

/* "V100:4,T4:4" for the store and logs. */
static void drv_gpus_text(const struct driver *d, const struct drv_node *n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (uint32_t k = 0; k < n->ngpus && off < len;) {
		uint32_t e = k;

		while (e < n->ngpus && strcmp(n->gpus[e].type_name, n->gpus[k].type_name) == 0)
			e++;
		off += (size_t)snprintf(buf + off, len - off, "%s%s:%u", off ? "," : "",
					n->gpus[k].type_name, e - k);
		k = e;
	}
}

static int drv_gpus_parse(struct driver *d, const Hare__Register *reg, struct drv_gpu **out,
			  char *errbuf, size_t errlen)
{
	struct drv_gpu *g = calloc(reg->n_gpus ? reg->n_gpus : 1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < reg->n_gpus; i++) {
		const Hare__GpuInfo *in = reg->gpus[i];
		int t = profile_gpu_type_find(d->prof, in->type);

		for (size_t k = 0; k < i; k++) {
			if (g[k].index == in->index) {
				snprintf(errbuf, errlen, "GPU index %u registered twice", in->index);
				free(g);
				return ERR_PROTO;
			}
		}
		g[i] = (struct drv_gpu){ .index = in->index, .type = t >= 0 && (uint32_t)t < d->ntypes ? t : -1,
					 .emulated = in->has_emulated && in->emulated,
					 .memory_mib = in->has_memory_mib ? in->memory_mib : 0 };
		snprintf(g[i].type_name, sizeof(g[i].type_name), "%s",
			 g[i].type >= 0 ? d->type_names[g[i].type] : in->type);
		if (g[i].type < 0)
			log_warn("GPU %u of type '%s' is not in the profile; it will not be used",
				 in->index, in->type);
	}
	*out = g;
	return 0;
}

int driver_agent_register(struct driver *d, uint32_t agent_id, const Hare__Register *reg,
			  char *errbuf, size_t errlen)
{
	struct drv_node *n = drv_node_get(d, agent_id);
	struct drv_gpu *gpus = NULL;
	char text[256];
	int rc;

	if (!n || !n->attached) {
		snprintf(errbuf, errlen, "agent %u is not attached", agent_id);
		return -ENOENT;
	}
	if (reg->n_gpus > DRIVER_MAX_NODE_GPUS) {
		snprintf(errbuf, errlen, "node registers %zu GPUs, at most %d", reg->n_gpus,
			 DRIVER_MAX_NODE_GPUS);
		return -E2BIG;
	}
	rc = drv_gpus_parse(d, reg, &gpus, errbuf, errlen);
	if (rc < 0)
		return rc;
	if (n->up)
		drv_node_clear(d, agent_id - 1, "requeue", "node registered again");
	free(n->gpus);
	n = drv_node_get(d, agent_id);
	n->gpus = gpus;
	n->ngpus = (uint32_t)reg->n_gpus;
	n->up = true;
	n->last_seen = driver_now();
	drv_gpus_text(d, n, text, sizeof(text));
	if (d->st) {
		store_node(d->st, n->name, text, n->last_seen);
		store_event(d->st, n->last_seen, 0, "node-up", n->name);
	}
	log_info("node=%s agent=%u up gpus=%s running=%zu", n->name, agent_id, text, reg->n_running);
	drv_running_check(d, agent_id - 1, reg->running, reg->n_running);
	driver_replan_request(d);
	return 0;
}

void driver_agent_heartbeat(struct driver *d, uint32_t agent_id, const Hare__Heartbeat *hb)
{
	struct drv_node *n = drv_node_get(d, agent_id);

	if (!n || !n->up)
		return;
	n->last_seen = driver_now();
	drv_running_check(d, agent_id - 1, hb->running, hb->n_running);
}

void driver_agent_detach(struct driver *d, uint32_t agent_id)
{
	struct drv_node *n = drv_node_get(d, agent_id);
	bool was_up;

	if (!n || !n->attached)
		return;
	was_up = n->up;
	n->attached = false;
	n->up = false;
	drv_node_clear(d, agent_id - 1, "node-down", "its node went down");
	if (d->st)
		store_event(d->st, driver_now(), 0, "node-down", n->name);
	log_info("node=%s agent=%u down", n->name, agent_id);
	if (was_up)
		driver_replan_request(d);
}
