/* SPDX-License-Identifier: MIT */
/* Nodes and their agents: attach on authentication, GPUs on Register, down
 * on disconnect; what agents list as running keeps leases going, becomes
 * adoption candidates after a restart, or is stopped. */
#include "driver_impl.h"

#include "err.h"
#include "log.h"
#include "profile.h"
#include "utf8.h"

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

bool driver_job_fit(const struct driver *d, uint64_t id, char *why, size_t len)
{
	const struct drv_job *j = driver_job_find(d, id);
	uint32_t usable = 0, drained = 0, sick = 0, up[SCHED_MAX_TYPES] = { 0 }, need;
	bool whole = sched_policy_requested_width(d->policy);
	char have[256] = "", more[192] = "";

	why[0] = '\0';
	if (!j)
		return true;
	if (j->rec.held) {
		snprintf(why, len, "held by %s; harectl release %" PRIu64 " lets it run",
			 j->rec.held == STORE_HELD_ADMIN ? "root" : "its owner", j->rec.id);
		return false;
	}
	if (j->retry_at > driver_now()) {
		snprintf(why, len, "it failed %u time%s; retried in %.0f s", j->failures,
			 j->failures == 1 ? "" : "s", ceil(j->retry_at - driver_now()));
		return false;
	}
	/* the baselines run a job at its requested width, hare and optimus
	 * from min_gpus up */
	need = whole ? (j->rec.max_gpus < j->rec.tasks ? j->rec.max_gpus : j->rec.tasks)
		     : j->rec.min_gpus;
	need = need ? need : 1;
	for (uint32_t i = 0; i < d->nnodes; i++) {
		const struct drv_node *nd = &d->nodes[i];

		if (!nd->up)
			continue;
		for (uint32_t g = 0; g < nd->ngpus; g++) {
			int32_t t = nd->gpus[g].type;

			/* unknown types and GPUs being measured are not planned on */
			if (t < 0 || nd->gpus[g].measuring)
				continue;
			if (nd->drained) {
				drained += j->perf.compute_s[t] > 0;
				continue;
			}
			if (nd->unhealthy) {
				sick += j->perf.compute_s[t] > 0;
				continue;
			}
			up[t]++;
			usable += j->perf.compute_s[t] > 0;
		}
	}
	if (usable >= need) {
		/* gavel and allox run a job on GPUs of one type: that many of
		 * one type, then */
		uint32_t most = 0, most_t = 0;

		if (!sched_policy_one_type(d->policy))
			return true;
		for (uint32_t t = 0; t < d->ntypes && t < SCHED_MAX_TYPES; t++) {
			if (j->perf.compute_s[t] > 0 && up[t] > most) {
				most = up[t];
				most_t = t;
			}
		}
		if (most >= need)
			return true;
		snprintf(why, len, "policy %s runs a job on GPUs of one type only, and it needs %u "
			 "at once; the most of one type it can use up now are %u %s (up: %s); it "
			 "waits until enough are", d->policy_name, need, most, d->type_names[most_t],
			 have_text(d, up, have, sizeof(have)));
		return false;
	}
	if (drained)
		snprintf(more, sizeof(more), "; %u more on drained nodes (harectl undrain gives "
			 "them back)", drained);
	if (sick)
		snprintf(more + strlen(more), sizeof(more) - strlen(more), "; %u more on unhealthy "
			 "nodes (their health check fails)", sick);
	have_text(d, up, have, sizeof(have));
	if (usable == 0) {
		char types[STORE_MAX_TYPES * 17] = "";
		size_t k = 0;

		for (uint32_t t = 0; t < j->rec.ntypes && k < sizeof(types); t++) {
			int w = snprintf(types + k, sizeof(types) - k, "%s%s", t ? "," : "",
					 j->rec.types[t]);

			k += w > 0 ? (size_t)w : 0;
		}
		snprintf(why, len, "no GPU it can use is up now (its types: %s; up: %s%s); it "
			 "waits until one is", types[0] ? types : "any its model is profiled on",
			 have[0] ? have : "none", more);
	} else if (whole) {
		snprintf(why, len, "policy %s runs it on %u GPUs at once (min(max_gpus, tasks)) and "
			 "%u it can use are up now (up: %s%s); it waits until enough are, or "
			 "harectl update --max-gpus lowers it", d->policy_name, need, usable, have,
			 more);
	} else {
		snprintf(why, len, "it needs at least %u GPUs and %u it can use are up now (up: "
			 "%s%s); it waits until enough are", need, usable, have, more);
	}
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

bool driver_node_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= DRIVER_NODE_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

static uint32_t drv_node_evict(struct driver *d, const char *name);

/* A new node called name: a forgotten node's slot, a new one, or (the
 * table full) the slot of a node long gone (drv_node_evict). Its agent id,
 * or -E2BIG / -ENOMEM. */
static int drv_node_add(struct driver *d, const char *name)
{
	uint32_t i = d->nnodes;
	struct drv_node *n;

	for (uint32_t k = 0; k < d->nnodes && d->nfree > 0; k++)
		if (!d->nodes[k].name[0]) {
			i = k;
			d->nfree--;
			break;
		}
	if (i == DRIVER_MAX_NODES) {
		i = d->loading ? DRIVER_NO_NODE : drv_node_evict(d, name);
		if (i == DRIVER_NO_NODE)
			return -E2BIG;
		d->nfree--;
	}
	if (i == d->nnodes && d->nnodes == d->nodes_cap) {
		uint32_t cap = d->nodes_cap ? d->nodes_cap * 2 : 16;
		struct drv_node *a = realloc(d->nodes, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		d->nodes = a;
		d->nodes_cap = cap;
	}
	if (i == d->nnodes)
		d->nnodes++;
	n = &d->nodes[i];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->stop_grace_s = d->o.stop_grace_s;
	n->agent_id = i + 1;
	return (int)n->agent_id;
}

/* ---- operators' drains ---- */

/* Index of the node called name, or -1. */
static int drv_node_find(const struct driver *d, const char *name)
{
	for (uint32_t i = 0; i < d->nnodes && name[0]; i++)
		if (strcmp(d->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

void driver_node_refused(struct driver *d, const char *name, const char *why)
{
	int i = drv_node_find(d, name);

	if (i < 0 || d->nodes[i].attached)
		return;
	snprintf(d->nodes[i].refused, sizeof(d->nodes[i].refused), "%s", why);
	d->nodes[i].refused_at = driver_now();
}

/* A down node's GPUs from the store's text ("V100:4,T4:2", drv_gpus_text),
 * numbered 0, 1, ... (its agent's Register replaces them); nothing from a
 * text that is not of that form, or names a type with characters no type
 * has (stored before registrations were checked for them). */
static void drv_gpus_restore(struct driver *d, struct drv_node *n, const char *text)
{
	struct drv_gpu *g = calloc(DRIVER_MAX_NODE_GPUS, sizeof(*g));
	uint32_t ng = 0;

	for (const char *p = text; g && *p;) {
		char type[64];
		unsigned count;
		int used = 0, t;

		if (sscanf(p, "%63[^:,]:%u%n", type, &count, &used) != 2 || count == 0 ||
		    count > DRIVER_MAX_NODE_GPUS - ng || (p[used] && p[used] != ',') ||
		    !profile_type_chars_ok(type)) {
			ng = 0;
			break;
		}
		t = profile_gpu_type_find(d->prof, type);
		for (uint32_t k = 0; k < count; k++, ng++) {
			g[ng] = (struct drv_gpu){ .index = ng,
						  .type = t >= 0 && (uint32_t)t < d->ntypes ? t : -1 };
			/* the table holds type_name, cut short where it was */
			snprintf(g[ng].type_name, sizeof(g[ng].type_name), "%.*s",
				 (int)sizeof(g[ng].type_name) - 1, type);
			g[ng].type_cut = strlen(type) >= sizeof(g[ng].type_name) - 1;
		}
		p += used + (p[used] == ',');
	}
	if (!g || ng == 0) {
		free(g);
		return;
	}
	free(n->gpus);
	n->gpus = g;
	n->ngpus = ng;
}

struct drv_nodes_load {
	struct driver *d;
	uint32_t unloaded;		/* nodes past a full table */
};

/* store_nodes_load's callback: a node the store knows, down until its
 * agent attaches (drained, if so), listed by harectl nodes with its GPUs
 * and counted as down meanwhile. */
static int drv_node_loaded(void *user, const char *name, bool drained, const char *reason,
			   double last_seen, const char *gpus)
{
	struct drv_nodes_load *l = user;
	struct driver *d = l->d;
	int i = drv_node_find(d, name);

	if (i < 0 && driver_node_name_ok(name))
		i = drv_node_add(d, name) - 1;
	if (i < 0) {
		if (drained)
			log_warn("drained node '%.64s' in the store not restored", name);
		else
			l->unloaded++;
		return 0;
	}
	d->nodes[i].last_seen = last_seen;
	drv_gpus_restore(d, &d->nodes[i], gpus);
	if (!drained)
		return 0;
	d->nodes[i].drained = true;
	snprintf(d->nodes[i].drain_reason, sizeof(d->nodes[i].drain_reason), "%s", reason);
	log_info("node=%s drained (from the store): %s", name, reason[0] ? reason : "no reason");
	return 0;
}

void driver_nodes_load(struct driver *d)
{
	struct drv_nodes_load l = { .d = d };

	if (!d->st)
		return;
	d->loading = true;	/* no eviction: the table fills from the most lately seen */
	if (store_nodes_load(d->st, drv_node_loaded, &l) < 0)
		log_warn("cannot read the nodes from the store: nodes that are down are not listed "
			 "until their agents attach");
	d->loading = false;
	if (l.unloaded)
		log_warn("%u nodes of the store not restored: the node table holds %d (harectl "
			 "forget removes nodes gone for good)", l.unloaded, DRIVER_MAX_NODES);
	if (d->nnodes)
		log_info("restored %u nodes from the store (down until their agents attach)",
			 d->nnodes);
}

static int drv_name_cmp(const void *a, const void *b)
{
	return strverscmp(*(const char *const *)a, *(const char *const *)b);
}

/* "unknown node 'x' (known: a b)" for the operator, by name (as harectl
 * nodes lists them). */
static void drv_nodes_known(const struct driver *d, char *msg, size_t msglen, const char *node)
{
	size_t used = (size_t)snprintf(msg, msglen, "unknown node '%.64s' (known:", node);
	const char **names = d->nnodes ? malloc(d->nnodes * sizeof(*names)) : NULL;
	uint32_t n = 0;

	for (uint32_t i = 0; names && i < d->nnodes; i++)
		if (d->nodes[i].name[0])
			names[n++] = d->nodes[i].name;
	if (names)
		qsort(names, n, sizeof(*names), drv_name_cmp);
	for (uint32_t i = 0; names && i < n && used < msglen; i++)
		used += (size_t)snprintf(msg + used, msglen - used, " %s", names[i]);
	if (used < msglen)
		snprintf(msg + used, msglen - used, "%s)", d->nnodes > d->nfree ? "" : " none yet");
	free(names);
}

int driver_node_is_drained(const struct driver *d, const char *node)
{
	int i = drv_node_find(d, node);

	return i < 0 ? -1 : d->nodes[i].drained;
}

/* How many jobs hold GPUs of node n (each counted once). */
static uint32_t drv_node_jobs(const struct drv_node *n)
{
	uint32_t jobs = 0;

	for (uint32_t k = 0; k < n->ngpus; k++) {
		bool dup = false;

		for (uint32_t m = 0; m < k && !dup; m++)
			dup = n->gpus[m].job_id == n->gpus[k].job_id;
		jobs += n->gpus[k].job_id && !dup;
	}
	return jobs;
}

/* A node event's detail: its name, then ": " and why when there is a why
 * (store_node_events finds the node's events so). */
static void drv_node_event_text(const char *node, const char *why, char *buf, size_t len)
{
	if (why && why[0])
		snprintf(buf, len, "%s: %s", node, why);
	else
		snprintf(buf, len, "%s", node);
}

int driver_node_drain(struct driver *d, const char *node, bool drain, const char *reason,
		      uint32_t *moved, char *msg, size_t msglen)
{
	int i = drv_node_find(d, node);
	uint32_t nseen;
	bool saved = true;
	struct drv_node *n;
	char detail[DRIVER_NODE_NAME + DRIVER_DRAIN_REASON + 2];

	*moved = 0;
	if (i < 0 && d->st && driver_node_name_ok(node) && store_node_known(d->st, node) == 1)
		i = drv_node_add(d, node) - 1;	/* down since the restart */
	if (i < 0) {
		drv_nodes_known(d, msg, msglen, node);
		return -ENOENT;
	}
	if (reason && strlen(reason) >= DRIVER_DRAIN_REASON) {
		snprintf(msg, msglen, "reason is longer than %d bytes", DRIVER_DRAIN_REASON - 1);
		return -EINVAL;
	}
	n = &d->nodes[i];
	nseen = drain ? drv_node_jobs(n) : 0;
	*moved = nseen;
	/* drained again without a reason: the one it has stays */
	if (!drain || !n->drained || (reason && reason[0]))
		snprintf(n->drain_reason, sizeof(n->drain_reason), "%s", drain && reason ? reason : "");
	n->drained = drain;
	/* given back after maintenance: jobs that failed there may use it
	 * again, and its old failures no longer count towards a quarantine */
	if (!drain) {
		memset(n->fail_at, 0, sizeof(n->fail_at));
		memset(n->sus, 0, sizeof(n->sus));
		memset(n->health_fail_at, 0, sizeof(n->health_fail_at));
		n->quarantine_held = false;
	}
	for (uint32_t k = 0; k < d->njobs && !drain; k++)
		for (uint32_t a = 0; a < d->jobs[k]->navoid; a++)
			if (d->jobs[k]->avoid[a].node == (uint32_t)i)
				d->jobs[k]->avoid[a].until = 0;
	/* a drain's event says why (harectl history --node); an undrain's is
	 * the name alone, as a restart reads it */
	drv_node_event_text(n->name, drain ? n->drain_reason : "", detail, sizeof(detail));
	if (d->st && (store_node_drain(d->st, n->name, drain, n->drain_reason) < 0 ||
		      store_event(d->st, driver_now(), 0, drain ? "node-drain" : "node-undrain",
				  detail) < 0))
		saved = false;
	log_info("node=%s %s%s%s (%u job%s there)", n->name, drain ? "drained" : "undrained",
		 n->drain_reason[0] ? ": " : "", n->drain_reason, nseen, nseen == 1 ? "" : "s");
	if (!saved)
		log_warn("node=%s: the %s could not be written to the store; a restart forgets it",
			 n->name, drain ? "drain" : "undrain");
	driver_replan_request(d);
	snprintf(msg, msglen, "node %s %s%s", n->name, drain ? "drained" : "undrained",
		 saved ? "" : " (not saved: a restart forgets it)");
	return 0;
}

/* ---- forgetting nodes ---- */

/* Whether node i holds anything that names it by index (false: it may be
 * forgotten); why, for the operator. */
static bool drv_node_busy(const struct driver *d, uint32_t i, char *why, size_t len)
{
	const struct drv_node *n = &d->nodes[i];
	double now = driver_now();

	if (n->attached) {
		snprintf(why, len, "its agent is connected; stop hare-agent there first");
		return true;
	}
	for (uint32_t k = 0; k < n->ngpus; k++) {
		const struct drv_gpu *g = &n->gpus[k];

		if (g->vacate_lease && !g->job_id) {
			snprintf(why, len, "a stopped worker of job %" PRIu64 " may still hold its GPU "
				 "%u (for %.0f s more)", g->vacate_job, g->index,
				 fmax(0, ceil(g->vacate_until - now)));
			return true;
		}
	}
	for (uint32_t k = 0; k < d->njobs; k++) {
		const struct drv_job *j = d->jobs[k];
		bool ranks = false;

		for (uint32_t r = 0; j->lease.id && r < j->lease.nranks; r++)
			ranks |= j->lease.ranks[r].node == i;
		for (uint32_t r = 0; j->pend && r < j->npend; r++)
			ranks |= j->pend[r].node == i;
		for (uint32_t r = 0; j->adopt && r < DRIVER_MAX_GPUS; r++)
			ranks |= j->adopt[r].node == i;
		if (ranks) {
			snprintf(why, len, "job %" PRIu64 " has a worker there (its lease waits for "
				 "the agent; it is requeued after reconnect_grace_s)", j->rec.id);
			return true;
		}
	}
	for (uint32_t k = 0; k < n->ngpus; k++) {
		if (n->gpus[k].job_id) {	/* booked for a lease: not expected here */
			snprintf(why, len, "job %" PRIu64 " holds its GPU %u", n->gpus[k].job_id,
				 n->gpus[k].index);
			return true;
		}
	}
	for (uint32_t k = 0; k < DRIVER_UNBLAMED_MAX; k++) {
		const struct drv_unblamed *u = &d->unblamed[k];
		bool in = u->nnode == 0 && (u->nodes & (1ull << (i % 64)));

		for (uint32_t p = 0; p < u->nnode; p++)
			in |= u->node[p] == i;
		/* also one due but not expired yet: it would note a suspect here */
		if (u->until > 0 && in) {
			snprintf(why, len, "a peer failure of job %" PRIu64 " may still be charged "
				 "to it (for %.0f s more)", u->job, fmax(0, ceil(u->until - now)));
			return true;
		}
	}
	return false;
}

/* Drop node i (not busy): the store's row and a "node-forget" event (its
 * older failures no longer count after a restart either), the jobs'
 * avoidance of it, and its place in other nodes' suspect failures, where it
 * becomes a peer no node is (so they single out as before). Its slot is
 * reused by the next new node. False when the store could not be written. */
static bool drv_node_free(struct driver *d, uint32_t i)
{
	struct drv_node *n = &d->nodes[i];
	uint32_t gone = DRIVER_NODE_GONE | (d->gone_next++ & ~DRIVER_NODE_GONE);
	bool saved = !d->st || (store_node_forget(d->st, n->name) == 0 &&
				store_event(d->st, driver_now(), 0, "node-forget", n->name) == 0);

	for (uint32_t k = 0; k < d->njobs; k++)
		for (uint32_t a = 0; a < d->jobs[k]->navoid; a++)
			if (d->jobs[k]->avoid[a].node == i)
				d->jobs[k]->avoid[a] = (struct drv_avoid){ .node = DRIVER_NO_NODE };
	for (uint32_t k = 0; k < d->nnodes; k++)
		for (uint32_t s = 0; s < DRIVER_NODE_SUSPECTS; s++)
			for (uint32_t p = 0; p < d->nodes[k].sus[s].npeer; p++)
				if (d->nodes[k].sus[s].peer[p] == i)
					d->nodes[k].sus[s].peer[p] = gone;
	free(n->gpus);
	memset(n, 0, sizeof(*n));
	n->agent_id = i + 1;
	d->nfree++;
	d->nodes_forgotten++;
	return saved;
}

/* The table is full: forget the node down longest, once it has been down
 * DRIVER_FAIL_WINDOW_S and is neither drained, nor charged with a failure
 * within it, nor busy. Its index, or DRIVER_NO_NODE. */
static uint32_t drv_node_evict(struct driver *d, const char *name)
{
	double now = driver_now();
	uint32_t best = DRIVER_NO_NODE;
	char why[160], gone[DRIVER_NODE_NAME];
	double since, best_seen = INFINITY;

	for (uint32_t i = 0; i < d->nnodes; i++) {
		const struct drv_node *n = &d->nodes[i];
		/* not seen since the start: down since then at least */
		double seen = n->last_seen > 0 ? n->last_seen : d->started_at;

		if (n->drained || seen > now - DRIVER_FAIL_WINDOW_S || seen >= best_seen ||
		    driver_node_failures(d, i) > 0 || drv_node_busy(d, i, why, sizeof(why)))
			continue;
		best = i;
		best_seen = seen;
	}
	if (best == DRIVER_NO_NODE)
		return best;
	snprintf(gone, sizeof(gone), "%s", d->nodes[best].name);
	since = d->nodes[best].last_seen;
	if (!drv_node_free(d, best))
		log_warn("node=%s: its forgetting could not be written to the store", gone);
	log_warn("node table full (%d nodes): forgot node=%s, down for %.1f h%s, for node=%s",
		 DRIVER_MAX_NODES, gone, (now - best_seen) / 3600,
		 since > 0 ? "" : " (since hared started at least)", name);
	return best;
}

int driver_node_forget(struct driver *d, const char *node, bool *was_drained, uint32_t *fails,
		       char *msg, size_t msglen)
{
	int i = drv_node_find(d, node);
	char why[200];
	bool saved;

	*was_drained = false;
	*fails = 0;
	if (i < 0 && !(d->st && driver_node_name_ok(node) && store_node_known(d->st, node) == 1)) {
		drv_nodes_known(d, msg, msglen, node);
		return -ENOENT;
	}
	if (i >= 0 && drv_node_busy(d, (uint32_t)i, why, sizeof(why))) {
		snprintf(msg, msglen, "node %s is not forgotten: %s", node, why);
		return -EBUSY;
	}
	if (i >= 0) {
		*was_drained = d->nodes[i].drained;
		*fails = driver_node_failures(d, (uint32_t)i);
		saved = drv_node_free(d, (uint32_t)i);
	} else {	/* known only to the store: down since the restart */
		saved = store_node_forget(d->st, node) == 0 &&
			store_event(d->st, driver_now(), 0, "node-forget", node) == 0;
		d->nodes_forgotten++;
	}
	log_info("node=%s forgotten%s (%u failure%s of the last hour with it)", node,
		 *was_drained ? ", and its drain" : "", *fails, *fails == 1 ? "" : "s");
	if (!saved)
		log_warn("node=%s: its forgetting could not be written to the store; a restart "
			 "remembers it", node);
	snprintf(msg, msglen, "node %s forgotten%s", node,
		 saved ? "" : " (not saved: a restart remembers it)");
	return 0;
}

void driver_node_fail_note(struct drv_node *n, double t, uint64_t job, const char *user)
{
	n->fail_at[n->fail_next] = t;
	n->fail_job[n->fail_next] = job;
	snprintf(n->fail_user[n->fail_next], sizeof(n->fail_user[0]), "%s", user);
	n->fail_next = (n->fail_next + 1) % DRIVER_NODE_FAILS;
}

void driver_node_suspect_note(struct drv_node *n, double t, uint64_t job, const char *user,
			      const uint32_t *peer, uint32_t npeer)
{
	struct drv_suspect *s = &n->sus[n->sus_next];

	*s = (struct drv_suspect){ .at = t, .job = job,
				   .npeer = npeer < DRIVER_SUSPECT_NODES ? npeer
									 : DRIVER_SUSPECT_NODES - 1 };
	memcpy(s->peer, peer, s->npeer * sizeof(*peer));
	snprintf(s->user, sizeof(s->user), "%s", user);
	n->sus_next = (n->sus_next + 1) % DRIVER_NODE_SUSPECTS;
}

uint32_t driver_node_singled(const struct driver *d, uint32_t i, uint32_t *idx)
{
	const struct drv_node *n = &d->nodes[i];
	double since = driver_now() - DRIVER_FAIL_WINDOW_S;
	uint32_t m = 0, common[DRIVER_SUSPECT_NODES], ncommon = 0;

	for (uint32_t k = 0; k < DRIVER_NODE_SUSPECTS; k++) {
		const struct drv_suspect *s = &n->sus[k];
		uint32_t keep = 0;

		if (!(s->at > 0 && s->at >= since))
			continue;
		if (m == 0) {
			memcpy(common, s->peer, s->npeer * sizeof(*common));
			ncommon = s->npeer;
		}
		/* the other nodes all of them had: each as likely the cause */
		for (uint32_t c = 0; c < ncommon; c++) {
			bool in = false;

			for (uint32_t p = 0; p < s->npeer && !in; p++)
				in = s->peer[p] == common[c];
			if (in)
				common[keep++] = common[c];
		}
		ncommon = keep;
		idx[m++] = k;
	}
	return m >= 2 && ncommon == 0 ? m : 0;
}

#define DRV_QUARANTINE_PREFIX "quarantined by hared"

/* Drained by driver_node_quarantine (the reason says so, also after a
 * restart). */
static bool drv_node_quarantined(const struct drv_node *n)
{
	return n->drained && strncmp(n->drain_reason, DRV_QUARANTINE_PREFIX,
				     sizeof(DRV_QUARANTINE_PREFIX) - 1) == 0;
}

/* Distinct jobs and users among node i's worker failures of the last
 * DRIVER_FAIL_WINDOW_S: those charged to it, and its suspect ones when they
 * single it out (*singled of them). */
static void drv_node_fail_spread(const struct driver *d, uint32_t i, uint32_t *jobs,
				 uint32_t *users, uint32_t *singled)
{
	const struct drv_node *n = &d->nodes[i];
	double since = driver_now() - DRIVER_FAIL_WINDOW_S;
	uint32_t idx[DRIVER_NODE_SUSPECTS], nseen = 0;
	uint64_t seen_job[DRIVER_NODE_FAILS + DRIVER_NODE_SUSPECTS];
	const char *seen_user[DRIVER_NODE_FAILS + DRIVER_NODE_SUSPECTS];

	*jobs = *users = 0;
	*singled = driver_node_singled(d, i, idx);
	for (uint32_t k = 0; k < DRIVER_NODE_FAILS + *singled; k++) {
		bool new_job = true, new_user = true;
		const struct drv_suspect *s = k < DRIVER_NODE_FAILS ? NULL
								      : &n->sus[idx[k - DRIVER_NODE_FAILS]];
		uint64_t job = s ? s->job : n->fail_job[k];
		const char *user = s ? s->user : n->fail_user[k];

		if (!s && !(n->fail_at[k] > 0 && n->fail_at[k] >= since))
			continue;
		for (uint32_t q = 0; q < nseen; q++) {
			new_job &= seen_job[q] != job;
			new_user &= strcmp(seen_user[q], user) != 0;
		}
		*jobs += new_job;
		*users += new_user;
		seen_job[nseen] = job;
		seen_user[nseen++] = user;
	}
}

/* Nodes quarantined now (either quarantine), against quarantine_max_nodes. */
static uint32_t drv_quarantined_count(const struct driver *d)
{
	uint32_t held = 0;

	for (uint32_t k = 0; k < d->nnodes; k++)
		held += drv_node_quarantined(&d->nodes[k]);
	return held;
}

/* Quarantine n: drained with reason (DRV_QUARANTINE_PREFIX ...), counted,
 * logged. */
static void drv_node_quarantine_drain(struct driver *d, struct drv_node *n, const char *reason)
{
	uint32_t moved;
	char msg[256];

	if (driver_node_drain(d, n->name, true, reason, &moved, msg, sizeof(msg)) < 0)
		return;
	d->quarantines++;
	log_warn("node=%s %s; harectl undrain %s gives it back", n->name, reason, n->name);
}

void driver_node_quarantine(struct driver *d, uint32_t i)
{
	struct drv_node *n = &d->nodes[i];
	uint32_t jobs, users, singled, held;
	char reason[DRIVER_DRAIN_REASON], more[48] = "";

	if (d->o.quarantine_jobs == 0 || i >= d->nnodes || n->drained)
		return;
	drv_node_fail_spread(d, i, &jobs, &users, &singled);
	if (jobs < d->o.quarantine_jobs || users < d->o.quarantine_users) {
		n->quarantine_held = false;	/* a later burst is warned about again */
		return;
	}
	held = drv_quarantined_count(d);
	if (held >= d->o.quarantine_max_nodes) {
		if (!n->quarantine_held)
			log_warn("node=%s: workers of %u job%s of %u user%s failed here within "
				 "the hour; left in service, as %u node%s quarantined already "
				 "(quarantine_max_nodes): check it", n->name, jobs,
				 jobs == 1 ? "" : "s", users, users == 1 ? "" : "s", held,
				 held == 1 ? " is" : "s are");
		n->quarantine_held = true;
		return;
	}
	if (singled)
		snprintf(more, sizeof(more), " (%u of them lease%s with no culprit)", singled,
			 singled == 1 ? "" : "s");
	snprintf(reason, sizeof(reason), DRV_QUARANTINE_PREFIX ": workers of %u job%s of %u user%s "
		 "failed here within the hour%s", jobs, jobs == 1 ? "" : "s", users,
		 users == 1 ? "" : "s", more);
	drv_node_quarantine_drain(d, n, reason);
}

/* n's health check has just turned failing: n is drained (quarantined)
 * once it did so quarantine_health_fails times within the hour (a check
 * that keeps flapping moves its jobs each time), while fewer than
 * quarantine_max_nodes nodes are quarantined. */
static void drv_node_health_quarantine(struct driver *d, struct drv_node *n)
{
	double since = driver_now() - DRIVER_FAIL_WINDOW_S;
	uint32_t fails = 0, held;
	char reason[DRIVER_DRAIN_REASON];
	const char *last;
	size_t room, len;
	bool cut;
	int head;

	if (d->o.quarantine_health_fails == 0 || n->drained)
		return;
	for (uint32_t k = 0; k < DRIVER_HEALTH_FAILS; k++)
		fails += n->health_fail_at[k] > 0 && n->health_fail_at[k] >= since;
	if (fails < d->o.quarantine_health_fails)
		return;
	held = drv_quarantined_count(d);
	if (held >= d->o.quarantine_max_nodes) {
		log_warn("node=%s: its health check failed %u times within the hour; left in service, "
			 "as %u node%s quarantined already (quarantine_max_nodes): check it", n->name,
			 fails, held, held == 1 ? " is" : "s are");
		return;
	}
	head = snprintf(reason, sizeof(reason), DRV_QUARANTINE_PREFIX ": health check failed %u times "
			"within the hour (last: ", fails);
	/* the last failure's text, less the agent's "health check " before
	 * it, cut at a character's start to fit */
	last = n->health_reason;
	if (strncmp(last, "health check ", sizeof("health check ") - 1) == 0)
		last += sizeof("health check ") - 1;
	room = sizeof(reason) - (size_t)head - sizeof(")");
	len = strlen(last);
	cut = len > room;
	if (cut)
		len = utf8_cut_len(last, room - 3);
	memcpy(reason + head, last, len);
	snprintf(reason + (size_t)head + len, sizeof(reason) - (size_t)head - len, "%s)", cut ? "..." : "");
	drv_node_quarantine_drain(d, n, reason);
}

/* ---- worker failures of before a restart ---- */

struct drv_fail_row {
	double t;
	uint64_t job;
	uint32_t node;
	bool avoid_only;	/* "not started on node N": the job keeps off it, the
				 * node is not charged (its owner had no account) */
	char user[64];
};

/* An "unexplained" event: a lease whose ranks all lost a peer; or a peer
 * failure's "fail" event of the last DRIVER_BLAME_WAIT_S: a lease that
 * still waits for its culprit. */
struct drv_sus_row {
	double t;			/* of its failure */
	uint64_t job, lease;
	uint32_t node[DRIVER_SUSPECT_NODES];
	uint32_t nnode;
	uint32_t undrained;		/* bit k: node[k] was undrained since */
	char user[64];
};

struct drv_fail_load {
	struct driver *d;
	double now;
	struct drv_fail_row *rows;	/* newest first */
	size_t n, cap;
	struct drv_sus_row *sus;	/* newest first */
	size_t nsus, capsus;
	struct drv_sus_row *peer;	/* newest first */
	size_t npeer, cappeer;
	/* events of the last DRIVER_BLAME_WAIT_S that settled a peer failure
	 * read before it: "blame" (job; lease 0) and "unexplained" (job, lease) */
	struct drv_settled {
		uint64_t job, lease;
	} *settled;
	size_t nsettled, capsettled;
	char (*undrained)[DRIVER_NODE_NAME];	/* nodes undrained or forgotten since
						 * the rows read */
	size_t nu, capu;
	/* nodes forgotten since the rows read: in them, that name is the node
	 * forgotten last before them, a peer that is no node (its marker, one
	 * per "node-forget" event, as the running hared gave one per forget) */
	struct drv_forgot {
		char name[DRIVER_NODE_NAME];
		uint32_t marker;
	} *forgot;
	size_t nforgot, capforgot;
	uint32_t next_marker;
	/* health checks: each node's newest node-unhealthy or node-healthy
	 * event (the first read), and its turns to unhealthy of the hour not
	 * followed by an undrain or a forget */
	struct drv_health_row {
		char name[DRIVER_NODE_NAME];
		double t;
		bool turn;		/* a turn to unhealthy; else its newest event */
		bool unhealthy;		/* newest: it was unhealthy when hared stopped */
	} *health;
	size_t nhealth, caphealth;
};

/* Room for one more of size bytes at *v (n used of *cap). */
static int drv_grow(void *v, size_t *cap, size_t n, size_t size)
{
	void **p = v, *q;

	if (n < *cap)
		return 0;
	q = realloc(*p, (*cap ? *cap * 2 : 16) * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = *cap ? *cap * 2 : 16;
	return 0;
}

/* Whether node name was undrained or forgotten after the rows read so far
 * (newest first): its place in that list, or -1. */
static int drv_fail_undrained(const struct drv_fail_load *l, const char *name)
{
	for (size_t k = 0; k < l->nu; k++)
		if (strcmp(l->undrained[k], name) == 0)
			return (int)k;
	return -1;
}

/* Node name's entry in the nodes forgotten since the rows read, or -1. */
static int drv_fail_forgot(const struct drv_fail_load *l, const char *name)
{
	for (size_t k = 0; k < l->nforgot; k++)
		if (strcmp(l->forgot[k].name, name) == 0)
			return (int)k;
	return -1;
}

/* A "node-forget" event of name: the rows read from now on (older) name
 * the node then forgotten, a new marker. */
static int drv_fail_forgot_add(struct drv_fail_load *l, const char *name)
{
	int k = drv_fail_forgot(l, name);

	if (strlen(name) >= DRIVER_NODE_NAME)
		return 0;
	if (k < 0) {
		if (drv_grow(&l->forgot, &l->capforgot, l->nforgot, sizeof(*l->forgot)) < 0)
			return -ENOMEM;
		k = (int)l->nforgot++;
		snprintf(l->forgot[k].name, sizeof(l->forgot[k].name), "%s", name);
	}
	l->forgot[k].marker = l->next_marker++ & ~DRIVER_NODE_GONE;
	return 0;
}

/* The node list "A, B, C" at p into r (each a node of the table, which
 * driver_nodes_load filled from the store, or forgotten since:
 * DRIVER_NODE_GONE; at most DRIVER_SUSPECT_NODES); what follows it, or
 * NULL. */
static const char *drv_nodes_parse(struct drv_fail_load *l, const char *p, struct drv_sus_row *r)
{
	for (;; p += 2) {
		char name[DRIVER_NODE_NAME];
		size_t len = strcspn(p, ", )");
		int i, u;

		if (len == 0 || len >= sizeof(name) || r->nnode == DRIVER_SUSPECT_NODES)
			return NULL;
		memcpy(name, p, len);
		name[len] = '\0';
		/* forgotten since: a peer that is no node (a node of that name
		 * now is another one) */
		u = drv_fail_forgot(l, name);
		i = u >= 0 ? -1 : drv_node_find(l->d, name);
		if (i < 0 && u < 0)
			return NULL;	/* its peers would be unknown: no node is singled out */
		/* a node undrained since counts it no more; it stays a peer */
		if (u >= 0 || drv_fail_undrained(l, name) >= 0)
			r->undrained |= 1u << r->nnode;
		r->node[r->nnode++] = i >= 0 ? (uint32_t)i : DRIVER_NODE_GONE | l->forgot[u].marker;
		p += len;
		if (strncmp(p, ", ", 2) != 0)
			return r->nnode >= 2 ? p : NULL;
	}
}

/* Append r, of user, to the rows *v (*n of *cap). */
static int drv_row_push(struct drv_sus_row **v, size_t *n, size_t *cap, struct drv_sus_row *r,
			const char *user)
{
	snprintf(r->user, sizeof(r->user), "%s", user);
	if (drv_grow(v, cap, *n, sizeof(**v)) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = *r;
	return 0;
}

/* An "unexplained" event's detail, "no culprit: lease L on nodes A, B, C
 * ended in a peer failure, ...": its nodes into a row (a detail cut short,
 * or naming a node the store does not know, gives none). */
static int drv_sus_loaded(struct drv_fail_load *l, double t, uint64_t job, const char *detail,
			  const char *job_user)
{
	struct drv_sus_row r = { .t = t - DRIVER_BLAME_WAIT_S, .job = job };
	const char *p;
	int off = -1;

	if (r.t < l->now - fmax(DRIVER_FAIL_WINDOW_S, l->d->o.failed_node_avoid_s))
		return 0;
	if (sscanf(detail, "no culprit: lease %" SCNu64 " on nodes %n", &r.lease, &off) != 1 ||
	    off < 0)
		return 0;
	p = drv_nodes_parse(l, detail + off, &r);
	if (!p || strncmp(p, " ended in a peer failure", 24) != 0)
		return 0;
	return drv_row_push(&l->sus, &l->nsus, &l->capsus, &r, job_user);
}

/* A "fail" event of a peer failure of the last DRIVER_BLAME_WAIT_S, "peer
 * failure: ... (lease L on nodes A, B)" (or "failure of unknown cause:"):
 * a row whose lease waits for its culprit again. */
static int drv_peer_loaded(struct drv_fail_load *l, double t, uint64_t job, const char *detail,
			   const char *job_user)
{
	struct drv_sus_row r = { .t = t, .job = job };
	const char *p, *q = NULL;
	int off = -1;

	if (t + DRIVER_BLAME_WAIT_S <= l->now || (strncmp(detail, "peer failure: ", 14) != 0 &&
						 strncmp(detail, "failure of unknown cause: ", 26) != 0))
		return 0;
	for (p = strstr(detail, " (lease "); p; p = strstr(p + 1, " (lease "))
		q = p;	/* the last one: the worker's own words come before it */
	if (!q || sscanf(q, " (lease %" SCNu64 " on nodes %n", &r.lease, &off) != 1 || off < 0)
		return 0;
	/* a blame of the job since, or the lease's "unexplained": settled */
	for (size_t k = 0; k < l->nsettled; k++)
		if (l->settled[k].job == job && (!l->settled[k].lease || l->settled[k].lease == r.lease))
			return 0;
	p = drv_nodes_parse(l, q + off, &r);
	if (!p || *p != ')')
		return 0;
	for (uint32_t k = 0; k < r.nnode; k++)
		if (r.node[k] & DRIVER_NODE_GONE)
			return 0;	/* forgotten since: nothing to wait for there */
	return drv_row_push(&l->peer, &l->npeer, &l->cappeer, &r, job_user);
}

/* store_failures_load's callback, newest first: a worker failure charged to
 * a node ("rank R on node N GPU G failed ...", or a "blame" event's "rank R
 * on node N failed ... after a peer's failure"), kept if it still counts for
 * something (FAILS, or its active job's avoided nodes) and is not older than
 * the node's last undrain. */
/* A failure of job on node name at t, as read back: charged to the node
 * (avoid_only: only kept off by the job). 0 or -ENOMEM. */
static int drv_fail_row_add(struct drv_fail_load *l, double t, uint64_t job, const char *name,
			    const char *job_user, bool avoid_only)
{
	int i;

	if (t < l->now - DRIVER_FAIL_WINDOW_S && !driver_job_get(l->d, job))
		return 0;
	i = drv_node_find(l->d, name);	/* driver_nodes_load knows the store's */
	if (i < 0)
		return 0;
	if (drv_grow(&l->rows, &l->cap, l->n, sizeof(*l->rows)) < 0)
		return -ENOMEM;
	l->rows[l->n] = (struct drv_fail_row){ .t = t, .job = job, .node = (uint32_t)i,
					       .avoid_only = avoid_only };
	snprintf(l->rows[l->n++].user, sizeof(l->rows[0].user), "%s", job_user);
	return 0;
}

/* A node-unhealthy or node-healthy event ("NODE" or "NODE: why"). */
static int drv_health_loaded(struct drv_fail_load *l, double t, const char *kind, const char *detail)
{
	size_t n = strcspn(detail, ":");
	bool bad = strcmp(kind, "node-unhealthy") == 0, newest = true;
	char name[DRIVER_NODE_NAME];

	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, detail, n);
	name[n] = '\0';
	for (size_t k = 0; k < l->nhealth && newest; k++)
		newest = l->health[k].turn || strcmp(l->health[k].name, name) != 0;
	if (newest) {
		if (drv_grow(&l->health, &l->caphealth, l->nhealth, sizeof(*l->health)) < 0)
			return -ENOMEM;
		l->health[l->nhealth] = (struct drv_health_row){ .t = t, .unhealthy = bad };
		snprintf(l->health[l->nhealth++].name, sizeof(name), "%s", name);
	}
	if (!bad || t < l->now - DRIVER_FAIL_WINDOW_S || drv_fail_undrained(l, name) >= 0)
		return 0;
	if (drv_grow(&l->health, &l->caphealth, l->nhealth, sizeof(*l->health)) < 0)
		return -ENOMEM;
	l->health[l->nhealth] = (struct drv_health_row){ .t = t, .turn = true };
	snprintf(l->health[l->nhealth++].name, sizeof(name), "%s", name);
	return 0;
}

/* The health checks' failures of the hour back on their nodes' rings (the
 * quarantine counts them), oldest first; a node that was unhealthy when
 * hared stopped does not count its Register saying so again as a turn. */
static void drv_health_restore(struct driver *d, const struct drv_fail_load *l)
{
	for (size_t k = l->nhealth; k-- > 0;) {
		const struct drv_health_row *r = &l->health[k];
		int i = drv_node_find(d, r->name);
		struct drv_node *n;

		if (i < 0)
			continue;
		n = &d->nodes[i];
		if (r->turn)
			n->health_fail_at[n->health_fail_next++ % DRIVER_HEALTH_FAILS] = r->t;
		else
			n->health_restored_bad = r->unhealthy;
	}
}

static int drv_fail_loaded(void *user, double t, uint64_t job, const char *kind, const char *detail,
			   const char *job_user)
{
	struct drv_fail_load *l = user;
	char name[DRIVER_NODE_NAME];

	if (strcmp(kind, "node-unhealthy") == 0 || strcmp(kind, "node-healthy") == 0)
		return drv_health_loaded(l, t, kind, detail);

	/* failures before an undrain count no more; nor do those before a
	 * node was forgotten (a node of that name since is another one) */
	if (strcmp(kind, "node-forget") == 0 && drv_fail_forgot_add(l, detail) < 0)
		return -ENOMEM;
	if (strcmp(kind, "node-undrain") == 0 || strcmp(kind, "node-forget") == 0) {
		if (drv_fail_undrained(l, detail) >= 0 || strlen(detail) >= sizeof(name))
			return 0;
		if (drv_grow(&l->undrained, &l->capu, l->nu, sizeof(*l->undrained)) < 0)
			return -ENOMEM;
		snprintf(l->undrained[l->nu++], sizeof(name), "%s", detail);
		return 0;
	}
	if ((strcmp(kind, "unexplained") == 0 || strcmp(kind, "blame") == 0) &&
	    t + 2 * DRIVER_BLAME_WAIT_S > l->now) {
		uint64_t lease = 0;

		if (kind[0] == 'u' && sscanf(detail, "no culprit: lease %" SCNu64, &lease) != 1)
			lease = UINT64_MAX;	/* settles nothing */
		if (drv_grow(&l->settled, &l->capsettled, l->nsettled, sizeof(*l->settled)) < 0)
			return -ENOMEM;
		l->settled[l->nsettled++] = (struct drv_settled){ .job = job, .lease = lease };
	}
	if (strcmp(kind, "unexplained") == 0)
		return drv_sus_loaded(l, t, job, detail, job_user);
	if (strcmp(kind, "fail") == 0 && drv_peer_loaded(l, t, job, detail, job_user) < 0)
		return -ENOMEM;
	if (strcmp(kind, "fail") == 0 && sscanf(detail, "not started on node %63s (rank", name) == 1)
		return drv_fail_row_add(l, t, job, name, job_user, true);
	if (sscanf(detail, "rank %*u on node %63s", name) != 1)
		return 0;	/* not charged to a node (a peer failure, a job the profile lost) */
	if (drv_fail_undrained(l, name) >= 0)
		return 0;
	return drv_fail_row_add(l, t, job, name, job_user, false);
}

void driver_failures_load(struct driver *d)
{
	struct drv_fail_load l = { .d = d, .now = driver_now() };
	uint32_t nodes = 0, avoids = 0, sus = 0;
	int rc;

	if (!d->st)
		return;
	rc = store_failures_load(d->st, l.now - fmax(DRIVER_FAIL_WINDOW_S, d->o.failed_node_avoid_s),
				 drv_fail_loaded, &l);
	if (rc < 0)
		log_warn("cannot read recent worker failures from the store (%s): nodes' FAILS "
			 "counts and jobs' avoided nodes start empty", err_str(rc));
	for (size_t k = rc < 0 ? 0 : l.n; k-- > 0;) {	/* oldest first */
		const struct drv_fail_row *r = &l.rows[k];
		struct drv_job *j = driver_job_get(d, r->job);

		if (r->t >= l.now - DRIVER_FAIL_WINDOW_S && !r->avoid_only) {
			nodes += driver_node_failures(d, r->node) == 0;
			driver_node_fail_note(&d->nodes[r->node], r->t, r->job, r->user);
		}
		if (j && r->t + d->o.failed_node_avoid_s > l.now) {
			driver_job_avoid_add(d, j, r->node, r->t + d->o.failed_node_avoid_s);
			avoids++;
		}
	}
	for (size_t k = rc < 0 ? 0 : l.nsus; k-- > 0;) {	/* oldest first */
		const struct drv_sus_row *r = &l.sus[k];
		struct drv_job *j = driver_job_get(d, r->job);

		for (uint32_t i = 0; i < r->nnode; i++) {
			uint32_t peer[DRIVER_SUSPECT_NODES], np = 0;

			if (r->undrained & (1u << i))
				continue;
			/* its job kept off the lease's nodes, as before the restart */
			if (j && r->t + d->o.failed_node_avoid_s > l.now)
				avoids += driver_job_avoid_spare(d, j, r->node[i],
								 r->t + d->o.failed_node_avoid_s);
			if (r->t < l.now - DRIVER_FAIL_WINDOW_S)
				continue;
			for (uint32_t p = 0; p < r->nnode; p++)
				if (p != i)
					peer[np++] = r->node[p];
			driver_node_suspect_note(&d->nodes[r->node[i]], r->t, r->job, r->user, peer,
						 np);
			sus++;
		}
	}
	d->gone_next = l.next_marker;	/* past the markers drv_nodes_parse gave */
	for (size_t k = rc < 0 ? 0 : l.npeer; k-- > 0;) {	/* oldest first */
		const struct drv_sus_row *r = &l.peer[k];

		driver_unblamed_restore(d, r->job, r->lease, r->node, r->nnode, r->t, r->user);
	}
	if (nodes || avoids || sus || l.npeer)
		log_info("restored from the store: worker failures of the last hour on %u nodes; "
			 "%u failures whose node their job still avoids; %u suspect failures of "
			 "leases with no culprit; %zu peer failures that wait for their culprit",
			 nodes, avoids, sus, rc < 0 ? 0 : l.npeer);
	free(l.rows);
	free(l.sus);
	free(l.peer);
	if (rc >= 0)
		drv_health_restore(d, &l);
	free(l.settled);
	free(l.undrained);
	free(l.forgot);
	free(l.health);
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
		id = drv_node_add(d, node);
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

/* The agent's health check said h (NULL: it runs none, or is older than
 * hared; pending: its first run has not ended, and what hared knew
 * stands): a change takes the node out of planning, or gives it back. True
 * when it gave it back. */
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
	drv_agent_text(x->node_fault, "its prolog or epilog failed", reason,
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

static bool drv_node_health(struct driver *d, struct drv_node *n, const Hare__NodeHealth *h)
{
	bool bad = h && !h->ok;
	char reason[DRIVER_HEALTH_REASON] = "";
	double now = driver_now();
	uint32_t jobs = drv_node_jobs(n);
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

		drv_node_event_text(n->name, bad ? reason : "", detail, sizeof(detail));
		store_event(d->st, now, 0, bad ? "node-unhealthy" : "node-healthy", detail);
	}
	if (bad != n->unhealthy)
		driver_replan_request(d);
	back = n->unhealthy && !bad;
	turned = bad && !n->unhealthy;
	n->unhealthy = bad;
	snprintf(n->health_reason, sizeof(n->health_reason), "%s", reason);
	if (turned)
		drv_node_health_quarantine(d, n);
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
