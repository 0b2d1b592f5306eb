/* SPDX-License-Identifier: MIT */
/* Worker failures charged to nodes: their rings, the quarantine that drains
 * a node they (or its health check) single out, and the rings read back
 * from the store's events after a restart. */
#include "driver_impl.h"

#include "err.h"
#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void driver_node_health_quarantine(struct driver *d, struct drv_node *n)
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
		i = u >= 0 ? -1 : driver_node_find(l->d, name);
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

/* A failure of job on node name at t, as read back: charged to the node
 * (avoid_only: only kept off by the job). 0 or -ENOMEM. */
static int drv_fail_row_add(struct drv_fail_load *l, double t, uint64_t job, const char *name,
			    const char *job_user, bool avoid_only)
{
	int i;

	if (t < l->now - DRIVER_FAIL_WINDOW_S && !driver_job_get(l->d, job))
		return 0;
	i = driver_node_find(l->d, name);	/* driver_nodes_load knows the store's */
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
		int i = driver_node_find(d, r->name);
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

/* store_failures_load's callback, newest first: a worker failure charged to
 * a node ("rank R on node N GPU G failed ...", or a "blame" event's "rank R
 * on node N failed ... after a peer's failure"), kept if it still counts for
 * something (FAILS, or its active job's avoided nodes) and is not older than
 * the node's last undrain. */
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
