/* SPDX-License-Identifier: MIT */
/* Nodes and their agents: attach on authentication, GPUs on Register, down
 * on disconnect; what agents list as running keeps leases going, becomes
 * adoption candidates after a restart, or is stopped. */
#include "driver_impl.h"

#include "err.h"
#include "log.h"
#include "profile.h"
#include "utf8.h"

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
	return i < d->nnodes && d->nodes[i].name[0] ? &d->nodes[i] : NULL;
}

const char *driver_type_name(const struct driver *d, int32_t type)
{
	return type >= 0 && (uint32_t)type < d->ntypes ? d->type_names[type] : "?";
}

/* "4xV100 2xT4": the GPUs up by type, into buf. */
static const char *have_text(const struct driver *d, const uint32_t *up, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (uint32_t t = 0; t < d->ntypes && n < len; t++) {
		int w;

		if (!up[t])
			continue;
		w = snprintf(buf + n, len - n, "%s%ux%s", n ? " " : "", up[t], d->type_names[t]);
		n += w > 0 ? (size_t)w : 0;
	}
	return buf;
}

/* What a job could use on the nodes now: the GPUs up by type (neither
 * drained nor unhealthy), and how many of those, of the drained and of the
 * unhealthy ones its model has times for. */
struct drv_fit {
	uint32_t usable, drained, sick, up[SCHED_MAX_TYPES];
};

/* Whether job j is held or waits to be retried: if so, why, and true. */
static bool drv_fit_blocked(const struct drv_job *j, char *why, size_t len)
{
	if (j->rec.held) {
		snprintf(why, len, "held by %s; harectl release %" PRIu64 " lets it run",
			 j->rec.held == STORE_HELD_ADMIN ? "root" : "its owner", j->rec.id);
		return true;
	}
	if (j->retry_at > driver_now()) {
		snprintf(why, len, "it failed %u time%s; retried in %.0f s", j->failures,
			 j->failures == 1 ? "" : "s", ceil(j->retry_at - driver_now()));
		return true;
	}
	return false;
}

/* Adds to f the GPUs of up node nd, as job j could use them. */
static void drv_fit_node(const struct drv_node *nd, const struct drv_job *j, struct drv_fit *f)
{
	for (uint32_t g = 0; g < nd->ngpus; g++) {
		int32_t t = nd->gpus[g].type;

		/* unknown types and GPUs being measured are not planned on */
		if (t < 0 || nd->gpus[g].measuring)
			continue;
		if (nd->drained) {
			f->drained += j->perf.compute_s[t] > 0;
			continue;
		}
		if (nd->unhealthy) {
			f->sick += j->perf.compute_s[t] > 0;
			continue;
		}
		f->up[t]++;
		f->usable += j->perf.compute_s[t] > 0;
	}
}

/* Enough GPUs job j can use are up: whether the policy may run it on them,
 * since gavel and allox run a job on GPUs of one type (need of one type,
 * then); when not, why. */
static bool drv_fit_one_type(const struct driver *d, const struct drv_job *j,
			     const struct drv_fit *f, uint32_t need, char *why, size_t len)
{
	uint32_t most = 0, most_t = 0;
	char have[256] = "";

	if (!sched_policy_one_type(d->policy))
		return true;
	for (uint32_t t = 0; t < d->ntypes && t < SCHED_MAX_TYPES; t++) {
		if (j->perf.compute_s[t] > 0 && f->up[t] > most) {
			most = f->up[t];
			most_t = t;
		}
	}
	if (most >= need)
		return true;
	snprintf(why, len, "policy %s runs a job on GPUs of one type only, and it needs %u "
		 "at once; the most of one type it can use up now are %u %s (up: %s); it "
		 "waits until enough are", d->policy_name, need, most, d->type_names[most_t],
		 have_text(d, f->up, have, sizeof(have)));
	return false;
}

/* "V100,T4": the GPU types job j may use, into buf ("" for any). */
static const char *drv_fit_types(const struct drv_job *j, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = '\0';
	for (uint32_t t = 0; t < j->rec.ntypes && k < len; t++) {
		int w = snprintf(buf + k, len - k, "%s%s", t ? "," : "", j->rec.types[t]);

		k += w > 0 ? (size_t)w : 0;
	}
	return buf;
}

/* Too few GPUs job j can use are up (need at once, whole: at its requested
 * width): why, with what is up and what drained or unhealthy nodes hold. */
static void drv_fit_explain(const struct driver *d, const struct drv_job *j,
			    const struct drv_fit *f, uint32_t need, bool whole, char *why,
			    size_t len)
{
	char have[256] = "", more[192] = "";

	if (f->drained)
		snprintf(more, sizeof(more), "; %u more on drained nodes (harectl undrain gives "
			 "them back)", f->drained);
	if (f->sick)
		snprintf(more + strlen(more), sizeof(more) - strlen(more), "; %u more on unhealthy "
			 "nodes (their health check fails)", f->sick);
	have_text(d, f->up, have, sizeof(have));
	if (f->usable == 0) {
		char types[STORE_MAX_TYPES * 17];

		drv_fit_types(j, types, sizeof(types));
		snprintf(why, len, "no GPU it can use is up now (its types: %s; up: %s%s); it "
			 "waits until one is", types[0] ? types : "any its model is profiled on",
			 have[0] ? have : "none", more);
	} else if (whole) {
		snprintf(why, len, "policy %s runs it on %u GPUs at once (min(max_gpus, tasks)) and "
			 "%u it can use are up now (up: %s%s); it waits until enough are, or "
			 "harectl update --max-gpus lowers it", d->policy_name, need, f->usable,
			 have, more);
	} else {
		snprintf(why, len, "it needs at least %u GPUs and %u it can use are up now (up: "
			 "%s%s); it waits until enough are", need, f->usable, have, more);
	}
}

/* Whether job id could run on the nodes up now, and when not why (see
 * driver.h): held or retried later, else counts the GPUs it could use. */
bool driver_job_fit(const struct driver *d, uint64_t id, char *why, size_t len)
{
	const struct drv_job *j = driver_job_find(d, id);
	struct drv_fit f = { 0 };
	bool whole = sched_policy_requested_width(d->policy);
	uint32_t need;

	why[0] = '\0';
	if (!j)
		return true;
	if (drv_fit_blocked(j, why, len))
		return false;
	/* the baselines run a job at its requested width, hare and optimus
	 * from min_gpus up */
	need = whole ? (j->rec.max_gpus < j->rec.tasks ? j->rec.max_gpus : j->rec.tasks)
		     : j->rec.min_gpus;
	need = need ? need : 1;
	for (uint32_t i = 0; i < d->nnodes; i++)
		if (d->nodes[i].up)
			drv_fit_node(&d->nodes[i], j, &f);
	if (f.usable >= need)
		return drv_fit_one_type(d, j, &f, need, why, len);
	drv_fit_explain(d, j, &f, need, whole, why, len);
	return false;
}

int driver_slot_find(const struct driver *d, uint32_t node, uint32_t index)
{
	const struct drv_node *n = &d->nodes[node];

	for (uint32_t k = 0; k < n->ngpus; k++)
		if (n->gpus[k].index == index)
			return (int)k;
	return -1;
}

static struct drv_node *drv_node_get(struct driver *d, uint32_t agent_id)
{
	if (agent_id == 0 || agent_id > d->nnodes)
		return NULL;
	return &d->nodes[agent_id - 1];
}

static void drv_agent_detach(struct driver *d, uint32_t agent_id, bool replaced);

int driver_agent_attach(struct driver *d, const char *node, const char *addr)
{
	struct drv_node *n = NULL;
	int id = -1;

	if (!driver_node_name_ok(node))
		return -EINVAL;
	for (uint32_t i = 0; i < d->nnodes && id < 0; i++)
		if (strcmp(d->nodes[i].name, node) == 0)
			id = (int)d->nodes[i].agent_id;
	if (id < 0)
		id = driver_node_add(d, node);
	if (id < 0)
		return id;
	n = drv_node_get(d, (uint32_t)id);
	if (n->attached)
		drv_agent_detach(d, (uint32_t)id, true);
	n->attached = true;
	n->up = false;
	n->last_seen = driver_now();
	n->refused[0] = '\0';	/* its agent is in */
	snprintf(n->addr, sizeof(n->addr), "%s", addr ? addr : "");
	return id;
}

/* ---- agents' reports of what runs ---- */

static bool drv_task_current(const struct drv_job *j, uint32_t node, const Hare__RunningTask *t)
{
	return j && j->lease.id == t->lease_id && t->rank < j->lease.nranks &&
	       j->lease.ranks[t->rank].node == node;
}

/* A worker of a job that is no longer active: if the store says the job
 * ended DONE less than finish_grace_s ago (hared restarted while its
 * program saved its model, say), its GPU is marked as finishing until
 * then, as it was before the restart, and true is returned. */
static bool drv_task_done_lately(struct driver *d, uint32_t node, int slot,
				 const Hare__RunningTask *t)
{
	const struct drv_gpu *g = slot >= 0 ? &d->nodes[node].gpus[slot] : NULL;
	struct store_job rec;
	double until;

	/* only on a GPU no lease has and no other stopped worker holds */
	if (!d->st || !g || !(d->o.finish_grace_s > 0) || g->job_id ||
	    (g->vacate_lease && (g->vacate_job != t->job_id || g->vacate_lease != t->lease_id ||
				 g->vacate_rank != t->rank)) ||
	    store_job_get(d->st, t->job_id, &rec) < 0 || rec.state != STORE_DONE)
		return false;
	until = rec.finish_time + d->o.finish_grace_s;
	if (until <= driver_now())
		return false;
	driver_gpu_vacate(d, node, (uint32_t)slot, t->job_id, t->lease_id, t->rank, until);
	log_info("node=%s job=%" PRIu64 " lease=%" PRIu64 " rank=%u: the job is done; its worker "
		 "finishes on its own (%.0f s left of finish_grace_s)", d->nodes[node].name,
		 t->job_id, t->lease_id, t->rank, until - driver_now());
	return true;
}

/* Stop a worker that is not part of a current lease and keep its GPU (if
 * the agent says which) from new leases until it exits. */
static void drv_task_stop(struct driver *d, uint32_t node, const Hare__RunningTask *t)
{
	int slot = t->has_gpu_index ? driver_slot_find(d, node, t->gpu_index) : -1;
	const struct drv_gpu *g = slot >= 0 ? &d->nodes[node].gpus[slot] : NULL;
	bool finishing = g && g->finish_until > 0 && g->vacate_job == t->job_id &&
			 g->vacate_lease == t->lease_id && g->vacate_rank == t->rank;

	if (!finishing && !driver_job_find(d, t->job_id) && drv_task_done_lately(d, node, slot, t))
		return;

	if (finishing && g->finish_until > driver_now()) {
		log_debug("node=%s job=%" PRIu64 " lease=%" PRIu64 " rank=%u: the job is done; its "
			  "worker finishes on its own", d->nodes[node].name, t->job_id, t->lease_id,
			  t->rank);
		return;
	}
	log_debug("node=%s job=%" PRIu64 " lease=%" PRIu64 " rank=%u: not current, stopping",
		  d->nodes[node].name, t->job_id, t->lease_id, t->rank);
	if (slot >= 0)
		driver_gpu_vacate(d, node, (uint32_t)slot, t->job_id, t->lease_id, t->rank, 0);
	driver_send_stop(d, node, t->job_id, t->lease_id, finishing ?
			 "the job is done and its worker still ran after finish_grace_s" :
			 "not a current lease");
}

/* What an agent runs: ranks of current leases are back (a lease waiting for
 * its agent goes on once all are), candidates are collected during the
 * adoption grace period, anything else is stopped. */
static void drv_running_check(struct driver *d, uint32_t node, Hare__RunningTask **tasks, size_t n)
{
	bool back = false;

	for (size_t i = 0; i < n; i++) {
		const Hare__RunningTask *t = tasks[i];
		struct drv_job *j = driver_job_get(d, t->job_id);

		if (drv_task_current(j, node, t)) {
			back |= j->lease.ranks[t->rank].missing;
			j->lease.ranks[t->rank].missing = false;
			continue;
		}
		if (j && j->adopt_wait && d->grace && driver_adopt_add(d, j, node, t))
			continue;
		drv_task_stop(d, node, t);
	}
	for (uint32_t i = 0; back && i < d->njobs; i++)
		driver_hold_check(d, d->jobs[i]);
	driver_adopt_maybe_done(d);
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

		/* an agent numbers its GPUs 0, 1, ... (CUDA order) */
		if (in->index >= DRIVER_MAX_NODE_GPUS || !in->type || !in->type[0]) {
			snprintf(errbuf, errlen, in->index >= DRIVER_MAX_NODE_GPUS
				 ? "GPU index %u: a node's GPUs are numbered below %d"
				 : "GPU %u has no type", in->index, DRIVER_MAX_NODE_GPUS);
			free(g);
			return ERR_PROTO;
		}
		/* The name goes to logs, the store and harectl nodes: one with
		 * other characters (a terminal's escape sequences) is not taken,
		 * nor repeated here. hare-agent names every GPU so. */
		if (!profile_type_chars_ok(in->type)) {
			snprintf(errbuf, errlen, "GPU %u: its type name may hold only A-Z a-z 0-9 . _ + - "
				 "(hare-agent names GPUs so; set gpus = TYPE:COUNT in its config)",
				 in->index);
			free(g);
			return ERR_PROTO;
		}
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
		g[i].type_cut = strlen(in->type) >= sizeof(g[i].type_name);
		if (g[i].type < 0)
			log_warn("GPU %u of type '%s' is not in the profile; it is not planned on",
				 in->index, in->type);
	}
	*out = g;
	return 0;
}

/* Where rank r of a lease on node now is among gpus (the same index and
 * type, booked for job), or UINT32_MAX. */
static uint32_t drv_rank_slot(const struct drv_node *nd, const struct drv_rank *r,
			      const struct drv_gpu *gpus, uint32_t n, uint64_t job)
{
	if (r->slot >= nd->ngpus)
		return UINT32_MAX;
	for (uint32_t k = 0; k < n; k++)
		if (gpus[k].index == nd->gpus[r->slot].index && gpus[k].job_id == job)
			return k;
	return UINT32_MAX;
}

/* The node registers (again) with gpus (taken): each GPU keeps its booking
 * and drain by index and type, and lease ranks follow their GPU. A job whose
 * GPU is gone is requeued. */
static void drv_gpus_replace(struct driver *d, uint32_t node, struct drv_gpu *gpus, uint32_t n)
{
	struct drv_node *nd = &d->nodes[node];

	for (uint32_t k = 0; k < n; k++) {
		for (uint32_t o = 0; o < nd->ngpus; o++) {
			const struct drv_gpu *old = &nd->gpus[o];

			if (old->index != gpus[k].index || old->type != gpus[k].type)
				continue;
			gpus[k].job_id = old->job_id;
			gpus[k].vacate_job = old->vacate_job;
			gpus[k].vacate_lease = old->vacate_lease;
			gpus[k].vacate_rank = old->vacate_rank;
			gpus[k].vacate_until = old->vacate_until;
			gpus[k].finish_until = old->finish_until;
		}
	}
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_lease *l = &d->jobs[i]->lease;

		for (uint32_t r = 0; r < l->nranks; r++)
			if (l->ranks[r].node == node)
				l->ranks[r].slot = drv_rank_slot(nd, &l->ranks[r], gpus, n,
								 d->jobs[i]->rec.id);
	}
	free(nd->gpus);
	nd->gpus = gpus;
	nd->ngpus = n;
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		bool gone = false;

		for (uint32_t r = 0; r < j->lease.nranks; r++)
			gone |= j->lease.ranks[r].node == node && j->lease.ranks[r].slot == UINT32_MAX;
		if (gone)
			driver_job_requeue(d, j, "requeue", "its GPU is no longer on the node");
	}
}

/* An agent's text (a failing check's reason, a prolog's failure) as hared
 * keeps it: the agent's, cut to fit at a character's start, or fallback
 * for one that is missing, not UTF-8, or holds control, C1 or
 * bidirectional formatting characters. */
static void drv_agent_text(const char *text, const char *fallback, char *out, size_t len)
{
	if (text && text[0] && utf8_valid(text) && !utf8_has_c0(text) && !utf8_has_c1(text) &&
	    !utf8_has_bidi(text)) {
		size_t n = utf8_cut_len(text, len - 1);

		memcpy(out, text, n);
		out[n] = '\0';
		return;
	}
	snprintf(out, len, "%s%s", fallback, text && text[0] ? " (its text is not shown: "
		 "control characters or not UTF-8)" : "");
}

static void drv_health_reason(const char *text, char *reason, size_t len)
{
	drv_agent_text(text, "its health check fails", reason, len);
}

void driver_node_fault(struct driver *d, uint32_t i, const Hare__TaskExit *x)
{
	struct drv_node *n;
	char reason[DRIVER_DRAIN_REASON], msg[256], tail[48];
	uint32_t moved;
	size_t len;

	if (i >= d->nnodes || !x->node_fault || !x->node_fault[0])
		return;
	n = &d->nodes[i];
	d->node_faults++;
	snprintf(tail, sizeof(tail), " (job %" PRIu64 " rank %u)", x->job_id, x->rank);
	/* the agent's text cut to leave room for the tail */
	drv_agent_text(x->node_fault, "the agent reported a fault of the node", reason,
		       sizeof(reason) - strlen(tail));
	len = strlen(reason);
	memcpy(reason + len, tail, strlen(tail) + 1);
	if (n->drained) {
		log_warn("node=%s: %s; drained already (%s)", n->name, reason, n->drain_reason);
		return;
	}
	if (driver_node_drain(d, n->name, true, reason, &moved, msg, sizeof(msg)) < 0)
		return;
	log_warn("node=%s drained: %s; harectl undrain %s gives it back", n->name, reason, n->name);
}

/* The agent's health check said h (NULL: it runs none, or is older than
 * hared; pending: its first run has not ended, and what hared knew
 * stands): a change takes the node out of planning, or gives it back. True
 * when it gave it back. */
static bool drv_node_health(struct driver *d, struct drv_node *n, const Hare__NodeHealth *h)
{
	bool bad = h && !h->ok;
	char reason[DRIVER_HEALTH_REASON] = "";
	double now = driver_now();
	uint32_t jobs = driver_node_jobs(n);
	bool back, turned, restored = n->health_restored_bad;

	if (h && h->has_pending && h->pending)
		return false;
	n->health_restored_bad = false;
	if (bad)
		drv_health_reason(h->reason, reason, sizeof(reason));
	if (bad == n->unhealthy && (!bad || strcmp(reason, n->health_reason) == 0))
		return false;
	if (bad && !n->unhealthy) {
		/* since when, by the agent's count (a day at most) */
		n->unhealthy_since = now - (h->has_since && h->since > 0 ? fmin(h->since, 86400) : 0);
		/* the failure it had when hared stopped is not a new one */
		if (!restored)
			n->health_fail_at[n->health_fail_next++ % DRIVER_HEALTH_FAILS] = now;
		d->health_fails++;
		log_warn("node=%s unhealthy: %s; nothing is planned there until its health check "
			 "passes (%u job%s there move)", n->name, reason, jobs, jobs == 1 ? "" : "s");
	} else if (bad) {
		log_info("node=%s still unhealthy: %s", n->name, reason);
	} else {
		log_info("node=%s healthy again: its health check passes (unhealthy for %.0f s)",
			 n->name, fmax(0, now - n->unhealthy_since));
	}
	if (d->st && bad != n->unhealthy) {
		char detail[DRIVER_NODE_NAME + DRIVER_HEALTH_REASON + 2];

		driver_node_event_text(n->name, bad ? reason : "", detail, sizeof(detail));
		store_event(d->st, now, 0, bad ? "node-unhealthy" : "node-healthy", detail);
	}
	if (bad != n->unhealthy)
		driver_replan_request(d);
	back = n->unhealthy && !bad;
	turned = bad && !n->unhealthy;
	n->unhealthy = bad;
	snprintf(n->health_reason, sizeof(n->health_reason), "%s", reason);
	if (turned)
		driver_node_health_quarantine(d, n);
	return back;
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
		driver_node_hold(d, agent_id - 1);	/* as if it had reconnected */
	drv_gpus_replace(d, agent_id - 1, gpus, (uint32_t)reg->n_gpus);
	driver_after_vacated(d);	/* a GPU gone: its worker is nobody's wait now */
	n = drv_node_get(d, agent_id);
	n->up = true;
	n->last_seen = driver_now();
	/* the agent's own grace (its config allows at most an hour) */
	n->stop_grace_s = reg->has_stop_grace_ms ? fmin(reg->stop_grace_ms / 1000.0, DRIVER_MAX_STOP_GRACE_S)
						  : d->o.stop_grace_s;
	/* an exit waits for the task's prolog and epilog: the GPU is held that
	 * much longer */
	if (reg->has_script_grace_ms)
		n->stop_grace_s = fmin(n->stop_grace_s + reg->script_grace_ms / 1000.0,
				       2 * DRIVER_MAX_STOP_GRACE_S);
	/* ... and for what was left of it to be gone after its SIGKILL */
	if (reg->has_unkillable_ms)
		n->stop_grace_s = fmin(n->stop_grace_s + reg->unkillable_ms / 1000.0,
				       3 * DRIVER_MAX_STOP_GRACE_S);
	/* ... and a worker's start waits for its prolog (at most two hours) */
	n->prolog_s = reg->has_prolog_ms ? fmin(reg->prolog_ms / 1000.0, 7200) : 0;
	n->gpus_isolated = reg->has_gpus_isolated && reg->gpus_isolated;
	drv_gpus_text(d, n, text, sizeof(text));
	if (d->st) {
		store_node(d->st, n->name, text, n->last_seen);
		store_event(d->st, n->last_seen, 0, "node-up", n->name);
		n->seen_stored = n->last_seen;
	}
	log_info("node=%s agent=%u up gpus=%s running=%zu%s", n->name, agent_id, text, reg->n_running,
		 reg->health ? " health_check=yes" : "");
	drv_node_health(d, n, reg->health);
	drv_running_check(d, agent_id - 1, reg->running, reg->n_running);
	driver_rendezvous_resend(d, agent_id - 1);
	driver_replan_request(d);
	return 0;
}

/* Write n's last_seen (and GPUs) to the store. */
static void drv_node_seen_store(struct driver *d, struct drv_node *n)
{
	char text[256];

	drv_gpus_text(d, n, text, sizeof(text));
	store_node(d->st, n->name, text, n->last_seen);
	n->seen_stored = n->last_seen;
}

bool driver_agent_heartbeat(struct driver *d, uint32_t agent_id, const Hare__Heartbeat *hb)
{
	struct drv_node *n = drv_node_get(d, agent_id);

	if (!n || !n->up)
		return false;
	n->last_seen = driver_now();
	/* now and then in the store too: after a crash of hared, "last seen"
	 * is within DRIVER_SEEN_WRITE_S of the truth */
	if (d->st && n->last_seen - n->seen_stored >= DRIVER_SEEN_WRITE_S)
		drv_node_seen_store(d, n);
	drv_running_check(d, agent_id - 1, hb->running, hb->n_running);
	n = drv_node_get(d, agent_id);
	return n && drv_node_health(d, n, hb->health);
}

void driver_nodes_sync(struct driver *d)
{
	double now = driver_now();

	for (uint32_t i = 0; d->st && i < d->nnodes; i++) {
		if (!d->nodes[i].up)
			continue;
		d->nodes[i].last_seen = now;
		drv_node_seen_store(d, &d->nodes[i]);
	}
}

/* The session of agent_id ends (replaced: by a new session of the node). */
static void drv_agent_detach(struct driver *d, uint32_t agent_id, bool replaced)
{
	struct drv_node *n = drv_node_get(d, agent_id);
	bool was_up;

	if (!n || !n->attached)
		return;
	was_up = n->up;
	n->attached = false;
	n->up = false;
	n->last_seen = driver_now();
	driver_node_hold(d, agent_id - 1);
	if (d->st && was_up) {	/* last seen now: what a restart shows of it */
		char text[256];

		drv_gpus_text(d, n, text, sizeof(text));
		store_node(d->st, n->name, text, n->last_seen);
	}
	if (d->st)
		store_event(d->st, driver_now(), 0, "node-down", n->name);
	if (replaced)
		log_info("node=%s agent=%u: its session %sis replaced by a new one", n->name,
			 agent_id, was_up ? "" : "(not registered yet) ");
	else
		log_info("node=%s agent=%u down", n->name, agent_id);
	if (was_up)
		driver_replan_request(d);
}

void driver_agent_detach(struct driver *d, uint32_t agent_id)
{
	drv_agent_detach(d, agent_id, false);
}
