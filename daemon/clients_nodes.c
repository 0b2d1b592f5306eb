/* SPDX-License-Identifier: MIT */
/* Client requests about nodes (nodes, drain, forget) and harectl history: a
 * job's or a node's events read from the store. */
#include "clients_impl.h"

#include "conn.h"
#include "driver.h"
#include "err.h"
#include "hared.h"
#include "log.h"
#include "measure.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- history ---- */

struct history {
	Hare__JobEvent *ev;
	Hare__JobEvent **ptrs;
	char **texts;			/* kind and detail copies, 2 per event */
	uint32_t n, cap;
};

static int history_add(void *user, double time, const char *kind, const char *detail)
{
	struct history *h = user;
	Hare__JobEvent *e;

	if (h->n == h->cap)
		return -E2BIG;
	e = &h->ev[h->n];
	hare__job_event__init(e);
	e->time = time;
	h->texts[2 * h->n] = strdup(kind);
	h->texts[2 * h->n + 1] = strdup(detail);
	if (!h->texts[2 * h->n] || !h->texts[2 * h->n + 1])
		return -ENOMEM;
	e->kind = h->texts[2 * h->n];
	e->detail = h->texts[2 * h->n + 1];
	h->ptrs[h->n++] = e;
	return 0;
}

static void history_free(struct history *h)
{
	for (uint32_t i = 0; i < 2 * h->cap && h->texts; i++)
		free(h->texts[i]);
	free(h->texts);
	free(h->ev);
	free(h->ptrs);
}

/* Send a history reply: h's newest events (max at most) that fit in half
 * a frame, oldest first; job (0) or node says whose. */
static void history_reply(struct conn *c, struct history *h, uint32_t max, uint64_t job,
			  const char *node)
{
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__HistoryReply r = HARE__HISTORY_REPLY__INIT;

	r.job_id = job;
	r.node = (char *)node;
	r.has_cut = true;
	r.cut = h->n > max;
	r.events = h->ptrs + (r.cut ? 1 : 0);
	r.n_events = r.cut ? max : h->n;
	out.msg_case = HARE__FROM_DAEMON__MSG_HISTORY_REPLY;
	out.history_reply = &r;
	for (size_t total = hare__from_daemon__get_packed_size(&out);
	     r.n_events > 1 && total > c->d->cfg.max_frame / 2; r.events++, r.n_events--) {
		total -= clients_field_size(hare__job_event__get_packed_size(r.events[0]));
		r.cut = true;
	}
	clients_reply(c, &out, "history");
}

/* history of a node (HistoryRequest.node, job_id 0): its node-* events, for
 * anyone (harectl nodes shows the same nodes to all). */
static void clients_node_history(struct conn *c, const char *node, uint32_t max)
{
	struct history h = { 0 };
	int rc;

	if (!driver_node_name_ok(node)) {
		conn_send_error(c, ERR_BAD_SPEC, "not a node name (letters, digits, '.', '-', '_'; "
				"at most 63 bytes)");
		return;
	}
	h.cap = max + 1;
	h.ev = calloc(h.cap, sizeof(*h.ev));
	h.ptrs = calloc(h.cap, sizeof(*h.ptrs));
	h.texts = calloc(2 * (size_t)h.cap, sizeof(*h.texts));
	rc = h.ev && h.ptrs && h.texts ? store_node_events(c->d->store, node, h.cap, history_add, &h)
				       : -ENOMEM;
	if (rc < 0)
		conn_send_error(c, rc, "cannot read the events of node %s: %s", node, err_str(rc));
	else if (h.n == 0 && driver_node_is_drained(c->d->drv, node) < 0 &&
		 store_node_known(c->d->store, node) != 1)
		conn_send_error(c, -ENOENT, "unknown node '%s' (harectl nodes lists them)", node);
	else
		history_reply(c, &h, max, 0, node);
	history_free(&h);
}

void clients_history(struct conn *c, const Hare__HistoryRequest *m)
{
	const struct drv_job *j = driver_job_find(c->d->drv, m->job_id);
	uint32_t max = m->has_max ? m->max : CLIENTS_HISTORY_DEFAULT;
	struct history h = { 0 };
	struct store_job rec;
	const char *user;
	int rc;

	if (m->job_id == 0 && m->node && m->node[0]) {
		if (max < 1 || max > CLIENTS_HISTORY_MAX)
			conn_send_error(c, ERR_BAD_SPEC, "max must be between 1 and %d, got %u",
					CLIENTS_HISTORY_MAX, max);
		else
			clients_node_history(c, m->node, max);
		return;
	}
	if (clients_job_hidden(c, m->job_id)) {
		conn_send_error(c, -ENOENT, "no job %" PRIu64 " of yours", m->job_id);
		return;
	}
	if (max < 1 || max > CLIENTS_HISTORY_MAX) {
		conn_send_error(c, ERR_BAD_SPEC, "max must be between 1 and %d, got %u",
				CLIENTS_HISTORY_MAX, max);
		return;
	}
	if (j) {
		user = j->rec.user;
	} else if (store_job_get(c->d->store, m->job_id, &rec) == 0) {
		user = rec.user;
	} else {
		conn_send_error(c, -ENOENT, "no job %" PRIu64, m->job_id);
		return;
	}
	if (!c->admin && strcmp(user, c->user) != 0) {
		conn_send_error(c, -EPERM, "job %" PRIu64 " belongs to %s; only its owner or root "
				"may read its history", m->job_id, user);
		return;
	}
	/* one more than asked for, to know whether older ones were left out */
	h.cap = max + 1;
	h.ev = calloc(h.cap, sizeof(*h.ev));
	h.ptrs = calloc(h.cap, sizeof(*h.ptrs));
	h.texts = calloc(2 * (size_t)h.cap, sizeof(*h.texts));
	rc = h.ev && h.ptrs && h.texts ? store_job_events(c->d->store, m->job_id, h.cap, history_add,
							  &h) : -ENOMEM;
	if (rc < 0) {
		conn_send_error(c, rc, "cannot read the events of job %" PRIu64 ": %s", m->job_id,
				err_str(rc));
		history_free(&h);
		return;
	}
	history_reply(c, &h, max, m->job_id, NULL);
	history_free(&h);
}

void clients_drain(struct conn *c, const Hare__DrainRequest *m)
{
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__DrainReply r = HARE__DRAIN_REPLY__INIT;
	char msg[400];
	uint32_t moved;
	int rc, was;

	if (!c->admin) {
		conn_send_error(c, -EACCES, "only root on the local socket may %s a node",
				m->drain ? "drain" : "undrain");
		return;
	}
	rc = clients_spec_text("reason", m->reason, DRIVER_DRAIN_REASON, msg, sizeof(msg));
	was = driver_node_is_drained(c->d->drv, m->node);
	if (rc == 0)
		rc = driver_node_drain(c->d->drv, m->node, m->drain, m->reason, &moved, msg,
				       sizeof(msg));
	if (rc < 0) {
		conn_send_error(c, rc, "%s", msg);
		return;
	}
	log_info("conn=%" PRIu64 " user=%s: %s", c->id, c->user, msg);
	if (!m->drain && c->d->measure)
		measure_on_node_fit(c->d->measure);
	else if (m->drain)
		measure_on_node_unfit(c->d->measure);
	r.node = m->node;
	r.drained = m->drain;
	r.has_jobs_moved = m->drain;
	r.jobs_moved = moved;
	/* a node known only to the store (down since the restart) was looked
	 * up by the drain itself */
	r.has_was_drained = true;
	r.was_drained = was >= 0 ? was == 1 : false;
	out.msg_case = HARE__FROM_DAEMON__MSG_DRAIN_REPLY;
	out.drain_reply = &r;
	clients_reply(c, &out, "drain reply");
}

void clients_forget(struct conn *c, const Hare__ForgetRequest *m)
{
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__ForgetReply r = HARE__FORGET_REPLY__INIT;
	char msg[400];
	uint32_t fails;
	bool drained;
	int rc;

	if (!c->admin) {
		conn_send_error(c, -EACCES, "only root on the local socket may forget a node");
		return;
	}
	rc = clients_spec_text("node", m->node, DRIVER_NODE_NAME, msg, sizeof(msg));
	if (rc == 0)
		rc = driver_node_forget(c->d->drv, m->node, &drained, &fails, msg, sizeof(msg));
	if (rc < 0) {
		conn_send_error(c, rc, "%s", msg);
		return;
	}
	log_info("conn=%" PRIu64 " user=%s: %s", c->id, c->user, msg);
	r.node = m->node;
	r.has_was_drained = true;
	r.was_drained = drained;
	r.has_recent_failures = true;
	r.recent_failures = fails;
	out.msg_case = HARE__FROM_DAEMON__MSG_FORGET_REPLY;
	out.forget_reply = &r;
	clients_reply(c, &out, "forget reply");
}

/* How node i's agent came in (node i is agent i + 1): own key, tagged
 * frames, TLS; said only for a node up with its agent connected. */
static void clients_node_link(const struct conn *c, uint32_t i, const struct drv_node *n,
			      Hare__NodeInfo *o)
{
	const struct conn *ac = i + 1 < c->d->agent_conn_cap && c->d->agent_conn[i + 1] ?
				conn_find(c->d, c->d->agent_conn[i + 1]) : NULL;

	o->has_own_key = o->has_tagged = o->has_tls = n->up && ac;
	o->own_key = ac && ac->own_key;
	o->tagged = ac && ac->check;
	o->tls = ac && ac->tls;
}

/* Node i's entry in a NodesReply, but for its GPUs; o borrows n's strings. */
static void clients_node_info(const struct conn *c, uint32_t i, const struct drv_node *n,
			      Hare__NodeInfo *o)
{
	hare__node_info__init(o);
	o->name = (char *)n->name;
	o->up = n->up;
	o->has_drained = n->drained;
	o->drained = n->drained;
	o->drain_reason = n->drained && n->drain_reason[0] ? (char *)n->drain_reason : NULL;
	if (n->up && n->unhealthy) {
		o->unhealthy = (char *)n->health_reason;
		o->has_unhealthy_since = true;
		o->unhealthy_since = n->unhealthy_since;
	}
	o->has_recent_failures = true;
	o->recent_failures = driver_node_failures(c->d->drv, i);
	o->has_last_seen = n->last_seen > 0;
	o->last_seen = n->last_seen;
	clients_node_link(c, i, n, o);
	o->has_gpus_isolated = n->up;
	o->gpus_isolated = n->up && n->gpus_isolated;
	if (!n->up && n->refused[0]) {
		o->refused = (char *)n->refused;
		o->has_refused_at = true;
		o->refused_at = n->refused_at;
	}
}

/* Node n's GPUs into gi[0..n->ngpus), with gip[k] pointing at gi[k]; they
 * borrow n's strings. */
static void clients_node_gpus(const struct drv_node *n, Hare__NodeGpu *gi, Hare__NodeGpu **gip)
{
	for (uint32_t k = 0; k < n->ngpus; k++) {
		hare__node_gpu__init(&gi[k]);
		gi[k].index = n->gpus[k].index;
		gi[k].type = (char *)n->gpus[k].type_name;
		gi[k].has_job_id = n->gpus[k].job_id != 0;
		gi[k].job_id = n->gpus[k].job_id;
		gi[k].has_emulated = true;
		gi[k].emulated = n->gpus[k].emulated;
		gi[k].has_stopping = n->gpus[k].vacate_lease != 0;
		gi[k].stopping = n->gpus[k].vacate_lease != 0;
		gi[k].has_unprofiled = gi[k].unprofiled = n->gpus[k].type < 0;
		gi[k].has_measuring = gi[k].measuring = n->gpus[k].measuring;
		gip[k] = &gi[k];
	}
}

/* harectl nodes: every node the driver knows (forgotten ones left out),
 * with its GPUs, in one NodesReply. */
void clients_nodes(struct conn *c)
{
	struct driver *drv = c->d->drv;
	uint32_t nn = driver_node_count(drv), ng = 0, g = 0;
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__NodesReply r = HARE__NODES_REPLY__INIT;
	Hare__NodeInfo *ni = calloc(nn ? nn : 1, sizeof(*ni));
	Hare__NodeInfo **nip = calloc(nn ? nn : 1, sizeof(*nip));
	Hare__NodeGpu *gi, **gip;

	for (uint32_t i = 0; i < nn; i++)
		ng += driver_node_at(drv, i) ? driver_node_at(drv, i)->ngpus : 0;
	gi = calloc(ng ? ng : 1, sizeof(*gi));
	gip = calloc(ng ? ng : 1, sizeof(*gip));
	if (!ni || !nip || !gi || !gip) {
		conn_send_error(c, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < nn; i++) {
		const struct drv_node *n = driver_node_at(drv, i);
		Hare__NodeInfo *o = &ni[r.n_nodes];

		if (!n)
			continue;	/* forgotten */
		clients_node_info(c, i, n, o);
		o->gpus = gip + g;
		o->n_gpus = n->ngpus;
		clients_node_gpus(n, gi + g, gip + g);
		g += n->ngpus;
		nip[r.n_nodes++] = o;
	}
	r.nodes = nip;
	out.msg_case = HARE__FROM_DAEMON__MSG_NODES_REPLY;
	out.nodes_reply = &r;
	clients_reply(c, &out, "node list");
out:
	free(ni);
	free(nip);
	free(gi);
	free(gip);
}
