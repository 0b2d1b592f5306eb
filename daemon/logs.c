/* SPDX-License-Identifier: MIT */
/* harectl logs: relay a client's LogsRequest to the nodes and their
 * answers back as one LogsReply. A job may have run on several nodes (each
 * lease appends to the rank's file on the node it ran on), so every node up
 * is asked; the parts come back oldest first, cut to the request's size
 * from the oldest end. */
#include "logs.h"

#include "clients.h"
#include "conn.h"
#include "driver.h"
#include "err.h"
#include "hared.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGS_WHY_LEN 256
/* Nodes named in a reply's missing list; the rest are counted in one line. */
#define LOGS_MISSING_MAX 32

struct logs_ask {
	uint32_t agent_id;
	char node[DRIVER_NODE_NAME];
	bool answered;
	bool found;
	char path[1024];
	uint8_t *data;
	size_t len;
	uint64_t size;
	double mtime;
	char why[LOGS_WHY_LEN];	/* "": none */
};

struct logs_req {
	struct logs_req *next;
	uint64_t id;
	uint64_t conn_id;
	char user[64];		/* who asked */
	uint64_t job_id;
	uint32_t rank;
	uint32_t max_bytes;
	uint64_t deadline_ms;	/* uv_now */
	uint32_t nask, nwait;
	struct logs_ask *ask;
	uint32_t nmissing;
	char (*missing)[DRIVER_NODE_NAME + LOGS_WHY_LEN];
};

static void logs_req_free(struct logs_req *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nask; i++)
		free(r->ask[i].data);
	free(r->ask);
	free(r->missing);
	free(r);
}

static void logs_unlink(struct hared *d, struct logs_req *r)
{
	for (struct logs_req **p = &d->logs; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			d->nlogs--;
			return;
		}
	}
}

__attribute__((format(printf, 3, 4)))
static void logs_missing(struct logs_req *r, const char *node, const char *fmt, ...)
{
	char *m = r->missing[r->nmissing++];
	size_t cap = sizeof(r->missing[0]);
	int n = snprintf(m, cap, "%s: ", node);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
}

static int logs_by_mtime(const void *a, const void *b)
{
	const struct logs_ask *x = *(const struct logs_ask *const *)a;
	const struct logs_ask *y = *(const struct logs_ask *const *)b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime ? 1 : strcmp(x->node, y->node);
}

/* What the reply lists as missing, into missing: the nodes not asked and the
 * asked ones that could not say, up to LOGS_MISSING_MAX and then one line in
 * more_text counting the rest. Returns how many. */
static size_t logs_reply_missing(struct logs_req *r, char **missing, char *more_text,
				 size_t len)
{
	size_t n = 0;
	uint32_t more = 0;

	for (uint32_t i = 0; i < r->nmissing; i++) {
		if (n < LOGS_MISSING_MAX)
			missing[n++] = r->missing[i];
		else
			more++;
	}
	for (uint32_t i = 0; i < r->nask; i++) {
		struct logs_ask *a = &r->ask[i];

		if (a->found)
			continue;
		if (a->why[0] && n < LOGS_MISSING_MAX)
			missing[n++] = a->why;
		else if (a->why[0])
			more++;
	}
	if (more) {
		snprintf(more_text, len, "%u more node%s", more, more == 1 ? "" : "s");
		missing[n++] = more_text;
	}
	return n;
}

/* Fills parts[k] from found[k] (oldest first), the newest kept whole within
 * budget bytes and older ones losing their beginning; a part left out has
 * no node. Returns the bytes cut. */
static uint64_t logs_reply_parts(struct logs_ask *const *found, uint32_t nf, uint64_t budget,
				 Hare__LogPart *parts)
{
	uint64_t cut = 0;

	for (uint32_t k = nf; k-- > 0;) {
		struct logs_ask *a = found[k];
		size_t keep = a->len < budget ? a->len : (size_t)budget;

		cut += a->len - keep;
		budget -= keep;
		if (keep == 0)
			continue;
		a->node[sizeof(a->node) - 1] = '\0';
		hare__log_part__init(&parts[k]);
		parts[k].node = a->node;
		parts[k].path = a->path;
		parts[k].data.data = a->data + (a->len - keep);
		parts[k].data.len = keep;
		parts[k].size = a->size;
		parts[k].has_mtime = true;
		parts[k].mtime = a->mtime;
	}
	return cut;
}

/* Sends rep to client c, or why it does not fit in one frame. */
static void logs_reply_send(struct hared *d, struct conn *c, const struct logs_req *r,
			    Hare__LogsReply *rep)
{
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	int rc;

	out.msg_case = HARE__FROM_DAEMON__MSG_LOGS_REPLY;
	out.logs_reply = rep;
	rc = conn_send(c, &out);
	if (rc == ERR_FRAME_TOO_BIG)
		conn_send_error(c, rc, "the output does not fit in one reply of %u bytes; ask for "
				"fewer bytes", d->cfg.max_frame);
	log_debug("logs job=%" PRIu64 " rank=%u conn=%" PRIu64 ": %zu part(s), %zu missing",
		  r->job_id, r->rank, r->conn_id, rep->n_parts, rep->n_missing);
}

/* The reply: found parts oldest first; the newest output is kept whole up
 * to max_bytes, older parts lose their beginning (or are left out). Frees r. */
static void logs_finish(struct hared *d, struct logs_req *r)
{
	Hare__LogsReply rep = HARE__LOGS_REPLY__INIT;
	struct conn *c = conn_find(d, r->conn_id);
	struct logs_ask **found = calloc(r->nask ? r->nask : 1, sizeof(*found));
	Hare__LogPart *parts = calloc(r->nask ? r->nask : 1, sizeof(*parts));
	Hare__LogPart **pp = calloc(r->nask ? r->nask : 1, sizeof(*pp));
	char **missing = calloc(r->nmissing + r->nask + 1, sizeof(*missing));
	uint32_t nf = 0, np = 0;
	char more_text[64];

	logs_unlink(d, r);
	if (!c)
		goto out;
	if (!found || !parts || !pp || !missing) {
		conn_send_error(c, -ENOMEM, "out of memory");
		goto out;
	}
	rep.n_missing = logs_reply_missing(r, missing, more_text, sizeof(more_text));
	for (uint32_t i = 0; i < r->nask; i++) {
		if (r->ask[i].found)
			found[nf++] = &r->ask[i];
	}
	qsort(found, nf, sizeof(*found), logs_by_mtime);
	rep.cut_bytes = logs_reply_parts(found, nf, r->max_bytes, parts);
	rep.has_cut_bytes = rep.cut_bytes > 0;
	for (uint32_t k = 0; k < nf; k++) {
		if (parts[k].node)
			pp[np++] = &parts[k];
	}
	rep.job_id = r->job_id;
	rep.rank = r->rank;
	rep.parts = pp;
	rep.n_parts = np;
	rep.missing = missing;
	logs_reply_send(d, c, r, &rep);
out:
	free(found);
	free(parts);
	free(pp);
	free(missing);
	logs_req_free(r);
}

static bool logs_agent_keeps(struct hared *d, uint32_t agent_id)
{
	struct conn *a;

	if (agent_id >= d->agent_conn_cap || !d->agent_conn[agent_id])
		return false;
	a = conn_find(d, d->agent_conn[agent_id]);
	return a && a->state == CONN_READY && a->logs;
}

/* Check the request and say why it cannot be served (0: it can). */
static int logs_check(struct conn *c, const Hare__LogsRequest *m, uint32_t *max_bytes,
		      char *why, size_t len)
{
	struct hared *d = c->d;
	const struct drv_job *j = driver_job_find(d->drv, m->job_id);
	struct store_job rec;
	const struct store_job *job = j ? &j->rec : NULL;
	uint32_t mine = 0;

	if (clients_job_hidden(c, m->job_id)) {
		snprintf(why, len, "no job %" PRIu64 " of yours", m->job_id);
		return -ENOENT;
	}
	if (!job) {
		if (store_job_get(d->store, m->job_id, &rec) < 0) {
			snprintf(why, len, "no job %" PRIu64, m->job_id);
			return -ENOENT;
		}
		job = &rec;
	}
	if (!c->admin && strcmp(job->user, c->user) != 0) {
		snprintf(why, len, "job %" PRIu64 " belongs to %s; only its owner or root may read "
			 "its output", m->job_id, job->user);
		return -EPERM;
	}
	if (m->has_rank && m->rank >= job->max_gpus) {
		if (job->max_gpus == 1)
			snprintf(why, len, "job %" PRIu64 " has only rank 0; there is no rank %u",
				 m->job_id, m->rank);
		else
			snprintf(why, len, "job %" PRIu64 " has ranks 0..%u; there is no rank %u",
				 m->job_id, job->max_gpus - 1, m->rank);
		return ERR_BAD_SPEC;
	}
	*max_bytes = m->has_max_bytes ? m->max_bytes : LOGS_DEFAULT_BYTES;
	if (*max_bytes < 1 || *max_bytes > LOGS_MAX_BYTES) {
		snprintf(why, len, "max_bytes must be between 1 and %u, got %u", LOGS_MAX_BYTES,
			 *max_bytes);
		return ERR_BAD_SPEC;
	}
	/* leave room for the reply's other fields in one frame */
	if (*max_bytes > d->cfg.max_frame / 2)
		*max_bytes = d->cfg.max_frame / 2;
	if (d->nlogs >= LOGS_PENDING_MAX) {
		snprintf(why, len, "%u requests for output are waiting for nodes already; try again "
			 "in a few seconds", d->nlogs);
		return -EBUSY;
	}
	for (const struct logs_req *r = d->logs; r; r = r->next)
		mine += strcmp(r->user, c->user) == 0;
	if (mine >= LOGS_PENDING_USER) {
		snprintf(why, len, "%u of your requests for output are waiting for nodes already; "
			 "try again in a few seconds", mine);
		return -EBUSY;
	}
	return 0;
}

void logs_request(struct conn *c, const Hare__LogsRequest *m)
{
	struct hared *d = c->d;
	uint32_t nn = driver_node_count(d->drv), max_bytes = 0;
	struct logs_req *r;
	char why[256];
	int rc = logs_check(c, m, &max_bytes, why, sizeof(why));

	if (rc < 0) {
		conn_send_error(c, rc, "%s", why);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r) {
		r->ask = calloc(nn ? nn : 1, sizeof(*r->ask));
		r->missing = calloc(nn ? nn : 1, sizeof(*r->missing));
	}
	if (!r || !r->ask || !r->missing) {
		logs_req_free(r);
		conn_send_error(c, -ENOMEM, "out of memory");
		return;
	}
	r->id = ++d->next_log_id;
	r->conn_id = c->id;
	snprintf(r->user, sizeof(r->user), "%s", c->user);
	r->job_id = m->job_id;
	r->rank = m->has_rank ? m->rank : 0;
	r->max_bytes = max_bytes;
	r->deadline_ms = uv_now(d->loop) + LOGS_TIMEOUT_MS;
	r->next = d->logs;
	d->logs = r;
	d->nlogs++;
	for (uint32_t i = 0; i < nn; i++) {
		const struct drv_node *n = driver_node_at(d->drv, i);
		Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
		Hare__LogFetch f = HARE__LOG_FETCH__INIT;
		struct logs_ask *a;

		if (!n)
			continue;	/* forgotten */
		if (!n->up) {
			logs_missing(r, n->name, "down");
			continue;
		}
		if (!logs_agent_keeps(d, n->agent_id)) {
			logs_missing(r, n->name, "its agent keeps no output files (task_logs = none, "
				     "or an older hare-agent)");
			continue;
		}
		f.request_id = r->id;
		f.job_id = r->job_id;
		f.rank = r->rank;
		f.max_bytes = r->max_bytes;
		out.msg_case = HARE__FROM_DAEMON__MSG_LOG_FETCH;
		out.log_fetch = &f;
		if (conn_agent_send(d, n->agent_id, &out) < 0) {
			logs_missing(r, n->name, "cannot be asked (disconnecting)");
			continue;
		}
		a = &r->ask[r->nask++];
		a->agent_id = n->agent_id;
		snprintf(a->node, sizeof(a->node), "%s", n->name);
		r->nwait++;
	}
	log_debug("logs job=%" PRIu64 " rank=%u user=%s: %u node(s) asked", r->job_id, r->rank,
		  c->user, r->nask);
	if (r->nwait == 0)
		logs_finish(d, r);
}

static struct logs_ask *logs_ask_of(struct logs_req *r, uint32_t agent_id)
{
	for (uint32_t i = 0; i < r->nask; i++) {
		if (r->ask[i].agent_id == agent_id && !r->ask[i].answered)
			return &r->ask[i];
	}
	return NULL;
}

static void logs_answered(struct hared *d, struct logs_req *r, struct logs_ask *a)
{
	a->answered = true;
	if (--r->nwait == 0)
		logs_finish(d, r);
}

void logs_on_data(struct hared *d, uint32_t agent_id, const Hare__LogData *m)
{
	struct logs_req *r = d->logs;
	struct logs_ask *a = NULL;

	while (r && r->id != m->request_id)
		r = r->next;
	if (r)
		a = logs_ask_of(r, agent_id);
	if (!a) {
		log_debug("log data request=%" PRIu64 " from agent %u: not waited for, ignored",
			  m->request_id, agent_id);
		return;
	}
	if (m->part) {
		size_t len = m->part->data.len < r->max_bytes ? m->part->data.len : r->max_bytes;

		a->data = malloc(len ? len : 1);
		if (!a->data) {
			snprintf(a->why, sizeof(a->why), "%s: out of memory", a->node);
		} else {
			memcpy(a->data, m->part->data.data + (m->part->data.len - len), len);
			a->len = len;
			a->found = true;
			snprintf(a->path, sizeof(a->path), "%s", m->part->path);
			a->size = m->part->size;
			a->mtime = m->part->has_mtime ? m->part->mtime : 0;
		}
	} else if (m->message) {
		snprintf(a->why, sizeof(a->why), "%s: %.120s", a->node, m->message);
	}
	logs_answered(d, r, a);
}

void logs_on_detach(struct hared *d, uint32_t agent_id)
{
	struct logs_req *r = d->logs, *next;

	for (; r; r = next) {
		struct logs_ask *a = logs_ask_of(r, agent_id);

		next = r->next;	/* r may be answered and freed */
		if (!a)
			continue;
		snprintf(a->why, sizeof(a->why), "%s: disconnected before answering", a->node);
		logs_answered(d, r, a);
	}
}

void logs_expire(struct hared *d)
{
	uint64_t now = uv_now(d->loop);
	struct logs_req *r = d->logs, *next;

	for (; r; r = next) {
		next = r->next;
		if (now < r->deadline_ms)
			continue;
		for (uint32_t i = 0; i < r->nask; i++) {
			struct logs_ask *a = &r->ask[i];

			if (!a->answered)
				snprintf(a->why, sizeof(a->why), "%s: no answer within %u s", a->node,
					 LOGS_TIMEOUT_MS / 1000);
		}
		logs_finish(d, r);
	}
}

void logs_free_all(struct hared *d)
{
	while (d->logs) {
		struct logs_req *r = d->logs;

		d->logs = r->next;
		logs_req_free(r);
	}
	d->nlogs = 0;
}
