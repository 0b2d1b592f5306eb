/* SPDX-License-Identifier: MIT */
/* The driver's node table: new nodes, the nodes the store knows restored at
 * a start, operators' drains, and nodes forgotten (by harectl forget, or to
 * make room). */
#include "driver_impl.h"

#include "log.h"
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
int driver_node_add(struct driver *d, const char *name)
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
int driver_node_find(const struct driver *d, const char *name)
{
	for (uint32_t i = 0; i < d->nnodes && name[0]; i++)
		if (strcmp(d->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

void driver_node_refused(struct driver *d, const char *name, const char *why)
{
	int i = driver_node_find(d, name);

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
	int i = driver_node_find(d, name);

	if (i < 0 && driver_node_name_ok(name))
		i = driver_node_add(d, name) - 1;
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
	int i = driver_node_find(d, node);

	return i < 0 ? -1 : d->nodes[i].drained;
}

/* How many jobs hold GPUs of node n (each counted once). */
uint32_t driver_node_jobs(const struct drv_node *n)
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
void driver_node_event_text(const char *node, const char *why, char *buf, size_t len)
{
	if (why && why[0])
		snprintf(buf, len, "%s: %s", node, why);
	else
		snprintf(buf, len, "%s", node);
}

int driver_node_drain(struct driver *d, const char *node, bool drain, const char *reason,
		      uint32_t *moved, char *msg, size_t msglen)
{
	int i = driver_node_find(d, node);
	uint32_t nseen;
	bool saved = true;
	struct drv_node *n;
	char detail[DRIVER_NODE_NAME + DRIVER_DRAIN_REASON + 2];

	*moved = 0;
	if (i < 0 && d->st && driver_node_name_ok(node) && store_node_known(d->st, node) == 1)
		i = driver_node_add(d, node) - 1;	/* down since the restart */
	if (i < 0) {
		drv_nodes_known(d, msg, msglen, node);
		return -ENOENT;
	}
	if (reason && strlen(reason) >= DRIVER_DRAIN_REASON) {
		snprintf(msg, msglen, "reason is longer than %d bytes", DRIVER_DRAIN_REASON - 1);
		return -EINVAL;
	}
	n = &d->nodes[i];
	nseen = drain ? driver_node_jobs(n) : 0;
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
	driver_node_event_text(n->name, drain ? n->drain_reason : "", detail, sizeof(detail));
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
	int i = driver_node_find(d, node);
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
