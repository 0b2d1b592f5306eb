/* SPDX-License-Identifier: MIT */
/* Measuring GPU types the daemon's profile lacks: ProfileRequests checked and
 * queued, ProfileCancels, and the ProfileResults (a throughput.csv row per
 * model and placement) kept until sent; agent_profile_run.c runs them. */
#include "agent_impl.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests and results ---- */

void agent_profile_free(struct agent_profile *p)
{
	free(p->rows);
	free(p);
}

static void agent_profile_unlink(struct agent *a, struct agent_profile *p)
{
	for (struct agent_profile **pp = &a->profiles; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void agent_profile_append(struct agent *a, struct agent_profile *p)
{
	struct agent_profile **pp = &a->profiles;

	while (*pp)
		pp = &(*pp)->next;
	p->next = NULL;
	*pp = p;
}

/* Text of an untrusted string for a message or the log: at most max
 * characters, control and non-ASCII bytes as '?', "..." when cut. */
void agent_profile_quote(const char *s, size_t len, size_t max, char *out, size_t outlen)
{
	size_t n = len < max ? len : max, i;

	if (outlen < 4) {
		out[0] = '\0';
		return;
	}
	if (n > outlen - 4)
		n = outlen - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	out[i] = '\0';
	if (n < len)
		strcat(out, "...");
}

static int agent_profile_send(struct agent *a, const struct agent_profile *p)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__ProfileResult res = HARE__PROFILE_RESULT__INIT;
	Hare__ProfileRow *rows = calloc(p->nrows + 1, sizeof(*rows));
	Hare__ProfileRow **rp = calloc(p->nrows + 1, sizeof(*rp));
	int rc = -ENOMEM;

	if (!rows || !rp)
		goto out;
	for (uint32_t i = 0; i < p->nrows; i++) {
		const struct agent_profile_row *r = &p->rows[i];

		hare__profile_row__init(&rows[i]);
		rows[i].model = (char *)r->model;
		rows[i].workers = r->workers;
		rows[i].placement = r->spread ? "spread" : "consolidated";
		rows[i].compute_s = r->compute_s;
		rows[i].sync_s = r->sync_s;
		rows[i].source = (char *)r->source;
		rp[i] = &rows[i];
	}
	res.gpu_type = (char *)p->type;
	res.ok = p->ok;
	res.n_rows = p->nrows;
	res.rows = rp;
	res.message = p->message[0] ? (char *)p->message : NULL;
	res.has_cancelled = res.cancelled = p->cancelled;
	m.msg_case = HARE__TO_DAEMON__MSG_PROFILE_RESULT;
	m.profile_result = &res;
	rc = agent_link_send(a, &m);
out:
	free(rows);
	free(rp);
	return rc;
}

void agent_profile_send_pending(struct agent *a)
{
	struct agent_profile *p = a->profiles, *next;

	for (; p; p = next) {
		next = p->next;
		if (p->phase != PROFILE_DONE || agent_profile_send(a, p) < 0)
			continue;
		a->stats.profile_results++;
		agent_profile_unlink(a, p);
		agent_profile_free(p);
	}
}

int agent_profile_measuring(struct agent *a, char ***types, size_t *n)
{
	size_t k = 0;

	*types = NULL;
	*n = 0;
	for (const struct agent_profile *p = a->profiles; p; p = p->next)
		k++;
	if (k == 0)
		return 0;
	*types = calloc(k, sizeof(**types));
	if (!*types)
		return -ENOMEM;
	for (struct agent_profile *p = a->profiles; p; p = p->next) {
		bool seen = false;

		/* refusals answer a request; they measure nothing (a cancelled
		 * measurement is listed until its result is sent: the daemon
		 * keeps its GPUs unused until then) */
		if (p->phase == PROFILE_DONE && !p->ok && p->nmodels == 0)
			continue;
		for (size_t i = 0; i < *n; i++)
			seen |= strcmp((*types)[i], p->type) == 0;
		if (!seen)
			(*types)[(*n)++] = p->type;
	}
	return 0;
}

/* p is done: an older result for its type not sent yet is replaced by it
 * (one pending result per type), then it goes out if the link is up. */
void agent_profile_done(struct agent *a, struct agent_profile *p)
{
	struct agent_profile *q = a->profiles, *next;

	for (; q; q = next) {
		next = q->next;
		if (q != p && q->phase == PROFILE_DONE && strcmp(q->type, p->type) == 0) {
			agent_profile_unlink(a, q);
			agent_profile_free(q);
		}
	}
	p->phase = PROFILE_DONE;
	agent_profile_send_pending(a);
}

/* Answer m with ok=false and why, without running anything; a bad request
 * is logged as a warning, measuring turned off as information. */
static void agent_profile_refuse(struct agent *a, const Hare__ProfileRequest *m, const char *why,
				 bool bad)
{
	struct agent_profile *p = calloc(1, sizeof(*p));
	char type[AGENT_NAME_MAX];

	agent_profile_quote(m->gpu_type, strlen(m->gpu_type), sizeof(type) - 4, type, sizeof(type));
	if (bad)
		log_warn("profile refuse type=%s: %s", type, why);
	else
		log_info("profile refuse type=%s: %s", type, why);
	if (!p)
		return;
	/* echoed as sent; a name this long is no GPU type of any node */
	snprintf(p->type, sizeof(p->type), "%s", m->gpu_type);
	snprintf(p->message, sizeof(p->message), "%s", why);
	agent_profile_append(a, p);
	agent_profile_done(a, p);
}

/* ---- checking a request ---- */

static bool agent_profile_model_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= AGENT_NAME_MAX)
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-' || *s == '+'))
			return false;
	}
	return true;
}

/* How many of this node's GPUs are of type, and whether any is emulated. */
uint32_t agent_profile_gpus(const struct agent *a, const char *type, bool *emulated)
{
	uint32_t n = 0;

	*emulated = false;
	for (uint32_t i = 0; i < a->cfg.ngpus; i++) {
		if (strcmp(a->cfg.gpus[i].type, type) != 0)
			continue;
		n++;
		*emulated |= a->cfg.gpus[i].emulated;
	}
	return n;
}

/* Why m is not a request this node can take, into why (empty: it is). */
static void agent_profile_check(const struct agent *a, const Hare__ProfileRequest *m, char *why,
				size_t len)
{
	char q[AGENT_PROFILE_QUOTE + 4];
	bool emulated;

	if (agent_profile_gpus(a, m->gpu_type, &emulated) == 0) {
		agent_profile_quote(m->gpu_type, strlen(m->gpu_type), AGENT_PROFILE_QUOTE, q, sizeof(q));
		snprintf(why, len, "GPU type '%s' is not on node %s", q, a->cfg.node);
		return;
	}
	if (m->n_models == 0 || m->n_models > AGENT_PROFILE_MODELS_MAX) {
		snprintf(why, len, "a request names 1 to %d models, got %zu", AGENT_PROFILE_MODELS_MAX,
			 m->n_models);
		return;
	}
	for (size_t i = 0; i < m->n_models; i++) {
		agent_profile_quote(m->models[i], strlen(m->models[i]), AGENT_PROFILE_QUOTE, q,
				    sizeof(q));
		if (!agent_profile_model_ok(m->models[i])) {
			snprintf(why, len, "model name '%s' must be 1 to %d of A-Z a-z 0-9 . _ + -", q,
				 AGENT_NAME_MAX - 1);
			return;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(m->models[i], m->models[j]) == 0) {
				snprintf(why, len, "model '%s' is listed twice", q);
				return;
			}
		}
	}
}

/* Why this node does not measure type (profile_unknown), or leave why empty. */
static void agent_profile_policy(const struct agent *a, const char *type, char *why, size_t len)
{
	bool emulated;

	agent_profile_gpus(a, type, &emulated);
	if (a->cfg.profile_unknown == AGENT_PROFILE_NO)
		snprintf(why, len, "measuring is off on node %s (profile_unknown = no)", a->cfg.node);
	else if (a->cfg.profile_unknown == AGENT_PROFILE_AUTO && emulated)
		snprintf(why, len, "measuring is off on node %s (profile_unknown = auto and its %s "
			 "GPUs are emulated)", a->cfg.node, type);
}

static struct agent_profile *agent_profile_find_active(struct agent *a, const char *type)
{
	for (struct agent_profile *p = a->profiles; p; p = p->next) {
		/* a cancelled measurement that is still ending does not count */
		if (p->phase != PROFILE_DONE && strcmp(p->type, type) == 0 &&
		    !(p == a->prof.p && a->prof.cancelled))
			return p;
	}
	return NULL;
}

void agent_profile_on_request(struct agent *a, const Hare__ProfileRequest *m)
{
	struct agent_profile *p;
	char why[AGENT_PROFILE_MSG_MAX] = "";

	if (a->closing)
		return;
	agent_profile_check(a, m, why, sizeof(why));
	if (why[0]) {
		agent_profile_refuse(a, m, why, true);
		return;
	}
	if (agent_profile_find_active(a, m->gpu_type)) {
		log_info("profile request type=%s: already queued or running, ignored", m->gpu_type);
		return;
	}
	agent_profile_policy(a, m->gpu_type, why, sizeof(why));
	p = why[0] ? NULL : calloc(1, sizeof(*p));
	if (!p) {
		agent_profile_refuse(a, m, why[0] ? why : "out of memory", !why[0]);
		return;
	}
	snprintf(p->type, sizeof(p->type), "%s", m->gpu_type);
	for (size_t i = 0; i < m->n_models; i++)
		snprintf(p->models[i], sizeof(p->models[i]), "%s", m->models[i]);
	p->nmodels = (uint32_t)m->n_models;
	p->phase = PROFILE_QUEUED;
	agent_profile_append(a, p);
	log_info("profile request type=%s models=%u queued", p->type, p->nmodels);
	agent_profile_next(a);
}

void agent_profile_on_cancel(struct agent *a, const Hare__ProfileCancel *m)
{
	struct agent_profile_run *r = &a->prof;
	struct agent_profile *p, *next;
	char type[AGENT_NAME_MAX];
	uint32_t n = 0;

	if (a->closing)
		return;
	agent_profile_quote(m->gpu_type, strlen(m->gpu_type), sizeof(type) - 4, type, sizeof(type));
	for (p = a->profiles; p; p = next) {
		next = p->next;
		/* a result made already goes out as it is; a cancelled run ends */
		if (strcmp(p->type, m->gpu_type) != 0 || p->phase == PROFILE_DONE ||
		    (p == r->p && r->cancelled))
			continue;
		n++;
		a->stats.profile_cancels++;
		if (p == r->p) {
			/* answered by agent_profile_finish once the worker exited */
			log_info("profile cancel type=%s: stopping pid=%d (model %s)", type, r->pid,
				 p->models[r->model]);
			r->cancelled = true;
			agent_profile_fail(a, "cancelled by the daemon");
			continue;
		}
		log_info("profile cancel type=%s: a queued request, answered as cancelled", type);
		p->cancelled = true;
		snprintf(p->message, sizeof(p->message), "cancelled by the daemon before it started");
		agent_profile_done(a, p);
	}
	if (n == 0)
		log_info("profile cancel type=%s: nothing measures it here now", type);
}
