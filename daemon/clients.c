/* SPDX-License-Identifier: MIT */
/* Client requests: job specs validated against the profile and committed
 * before the reply; queue, show, cancel and update in clients_jobs.c,
 * history and the node requests in clients_nodes.c. */
#include "clients_impl.h"

#include "conn.h"
#include "driver.h"
#include "err.h"
#include "hared.h"
#include "log.h"
#include "measure.h"
#include "profile.h"
#include "proxy.h"
#include "utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct clients_item {
	uint64_t conn_id;
	int rc;			/* of store_job_add */
	uint64_t batch;		/* store_batch_id it was staged in */
	struct store_job job;
};

struct clients_pending {
	uint32_t n, cap;
	struct clients_item *items;
};

void clients_reply(struct conn *c, const Hare__FromDaemon *m, const char *what)
{
	int rc = conn_send(c, m);

	if (rc == ERR_FRAME_TOO_BIG)
		conn_send_error(c, rc, "the %s does not fit in one reply of %u bytes", what,
				c->d->cfg.max_frame);
	else if (rc < 0 && rc != -EPIPE)
		conn_send_error(c, rc, "cannot send the %s: %s", what, err_str(rc));
}

size_t clients_field_size(size_t size)
{
	size_t n = 2 + size;	/* tag, length's first byte */

	for (size_t v = size; v >= 0x80; v >>= 7)
		n++;
	return n;
}

/* ---- validation ---- */

int clients_spec_text(const char *what, const char *text, size_t cap, char *errbuf, size_t errlen)
{
	size_t len = text ? strlen(text) : 0;

	if (len >= cap) {
		snprintf(errbuf, errlen, "%s is longer than %zu bytes", what, cap - 1);
		return ERR_BAD_SPEC;
	}
	if (text && utf8_has_c0(text)) {
		snprintf(errbuf, errlen, "%s contains control characters", what);
		return ERR_BAD_SPEC;
	}
	/* protobuf strings are UTF-8; a terminal would act on a C1 control */
	if (text && !utf8_valid(text)) {
		snprintf(errbuf, errlen, "%s is not valid UTF-8", what);
		return ERR_BAD_SPEC;
	}
	if (text && utf8_has_c1(text)) {
		snprintf(errbuf, errlen, "%s contains control characters", what);
		return ERR_BAD_SPEC;
	}
	if (text && utf8_has_bidi(text)) {
		snprintf(errbuf, errlen, "%s contains bidirectional control characters (U+202A..U+202E, "
			 "U+2066..U+2069: it would display as another text)", what);
		return ERR_BAD_SPEC;
	}
	return 0;
}

/* A job's weight (submit, update): 0 or ERR_BAD_SPEC. */
int clients_spec_weight(double w, char *errbuf, size_t errlen)
{
	if (!isfinite(w) || w <= 0 || w > CLIENTS_MAX_WEIGHT) {
		snprintf(errbuf, errlen, "weight must be a number above 0 and at most %g, got %g",
			 CLIENTS_MAX_WEIGHT, w);
		return ERR_BAD_SPEC;
	}
	return 0;
}

static int spec_sizes(const Hare__JobSpec *s, struct store_job *out, char *errbuf, size_t errlen)
{
	out->tasks = s->tasks;
	out->min_gpus = s->has_min_gpus ? s->min_gpus : 1;
	out->max_gpus = s->has_max_gpus ? s->max_gpus : s->tasks;
	if (s->tasks < 1 || s->tasks > DRIVER_MAX_GPUS) {
		snprintf(errbuf, errlen, "gpus must be between 1 and %d, got %u", DRIVER_MAX_GPUS,
			 s->tasks);
		return ERR_BAD_SPEC;
	}
	if (out->min_gpus < 1 || out->min_gpus > out->max_gpus) {
		snprintf(errbuf, errlen, "min_gpus must be between 1 and max_gpus (%u), got %u",
			 out->max_gpus, out->min_gpus);
		return ERR_BAD_SPEC;
	}
	if (out->max_gpus > s->tasks) {
		snprintf(errbuf, errlen, "max_gpus must be between min_gpus (%u) and gpus (%u), got %u",
			 out->min_gpus, s->tasks, out->max_gpus);
		return ERR_BAD_SPEC;
	}
	if (s->rounds < 1 || s->rounds > CLIENTS_MAX_ROUNDS) {
		snprintf(errbuf, errlen, "rounds must be between 1 and %llu, got %" PRIu64,
			 CLIENTS_MAX_ROUNDS, s->rounds);
		return ERR_BAD_SPEC;
	}
	out->rounds_total = s->rounds;
	out->weight = s->has_weight ? s->weight : 1.0;
	return clients_spec_weight(out->weight, errbuf, errlen);
}

static int spec_texts(const Hare__JobSpec *s, struct store_job *out, char *errbuf, size_t errlen)
{
	int rc = clients_spec_text("name", s->name, sizeof(out->name), errbuf, errlen);

	if (rc == 0)
		rc = clients_spec_text("model", s->model, sizeof(out->model), errbuf, errlen);
	if (rc == 0)
		rc = clients_spec_text("command", s->command, sizeof(out->command), errbuf, errlen);
	if (rc == 0)
		rc = clients_spec_text("proxy", s->proxy, sizeof(out->proxy), errbuf, errlen);
	if (rc < 0)
		return rc;
	if (!s->model[0]) {
		snprintf(errbuf, errlen, "model is missing");
		return ERR_BAD_SPEC;
	}
	if (s->n_gpu_types > STORE_MAX_TYPES) {
		snprintf(errbuf, errlen, "at most %d GPU types may be listed, got %zu", STORE_MAX_TYPES,
			 s->n_gpu_types);
		return ERR_BAD_SPEC;
	}
	for (size_t i = 0; i < s->n_gpu_types; i++) {
		rc = clients_spec_text("GPU type", s->gpu_types[i], sizeof(out->types[0]), errbuf, errlen);
		if (rc < 0)
			return rc;
		snprintf(out->types[i], sizeof(out->types[i]), "%s", s->gpu_types[i]);
	}
	out->ntypes = (uint32_t)s->n_gpu_types;
	snprintf(out->model, sizeof(out->model), "%s", s->model);
	snprintf(out->name, sizeof(out->name), "%s", s->name && s->name[0] ? s->name : s->model);
	snprintf(out->command, sizeof(out->command), "%s", s->command ? s->command : "");
	snprintf(out->proxy, sizeof(out->proxy), "%s", s->proxy ? s->proxy : "");
	return 0;
}

/* The jobs it runs after: how many, each once, none 0 (that they exist is
 * the driver's to say: driver_after_check), in the job's list by kind
 * (after, then after_any, then after_notok: info_add relies on it). */
static int spec_after(const Hare__JobSpec *s, struct store_job *out, char *errbuf, size_t errlen)
{
	const struct {
		size_t n;
		const uint64_t *ids;
	} lists[] = {
		[STORE_AFTER_OK] = { s->n_after, s->after },
		[STORE_AFTER_ANY] = { s->n_after_any, s->after_any },
		[STORE_AFTER_NOTOK] = { s->n_after_notok, s->after_notok },
	};
	size_t total = s->n_after + s->n_after_any + s->n_after_notok;

	if (total > STORE_MAX_AFTER) {
		snprintf(errbuf, errlen, "after lists %zu jobs; at most %d", total, STORE_MAX_AFTER);
		return ERR_BAD_SPEC;
	}
	out->nafter = 0;
	for (uint8_t kind = STORE_AFTER_OK; kind <= STORE_AFTER_NOTOK; kind++) {
		for (size_t i = 0; i < lists[kind].n; i++) {
			uint64_t id = lists[kind].ids[i];

			if (id == 0 || id > INT64_MAX) {
				snprintf(errbuf, errlen, "after: no job %" PRIu64, id);
				return ERR_BAD_SPEC;
			}
			for (uint32_t k = 0; k < out->nafter; k++) {
				if (out->after[k] == id) {
					snprintf(errbuf, errlen, "after lists job %" PRIu64 " twice", id);
					return ERR_BAD_SPEC;
				}
			}
			out->after_kind[out->nafter] = kind;
			out->after[out->nafter++] = id;
		}
	}
	return 0;
}

/* Proxy sizes are hare-worker's --proxy for the job's model: checked here
 * as the worker will, so a bad key fails the submit, not every worker. */
static int spec_proxy(const struct store_job *j, char *errbuf, size_t errlen)
{
	struct proxy_spec ps;
	char why[200];

	if (!j->proxy[0])
		return 0;
	if (j->command[0]) {
		snprintf(errbuf, errlen, "proxy sizes are for hare-worker's proxy models;"
			 " a job with its own command cannot set them");
		return ERR_BAD_SPEC;
	}
	if (proxy_spec_default(j->model, &ps, why, sizeof(why)) < 0 ||
	    proxy_spec_apply(&ps, j->proxy, why, sizeof(why)) < 0 ||
	    proxy_spec_check(&ps, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "proxy: %s", why);
		return ERR_BAD_SPEC;
	}
	return 0;
}

/* The model and GPU types as the profile spells them ("ResNet-50" and
 * "v100" become "resnet50" and "V100"), so jobs group by them; a job
 * without a name is named after the model so spelled. */
static void spec_canonical(const struct profile *prof, const Hare__JobSpec *spec, uint32_t model,
			   struct store_job *out)
{
	const char *name = profile_model_name(prof, model);

	if (name)
		snprintf(out->model, sizeof(out->model), "%s", name);
	if (name && !(spec->name && spec->name[0]))
		snprintf(out->name, sizeof(out->name), "%s", name);
	for (uint32_t i = 0; i < out->ntypes; i++) {
		int t = profile_gpu_type_find(prof, out->types[i]);
		const char *type = t >= 0 ? profile_gpu_type_name(prof, (uint32_t)t) : NULL;

		if (type)
			snprintf(out->types[i], sizeof(out->types[i]), "%s", type);
	}
}

int clients_spec_check(const struct profile *prof, const Hare__JobSpec *spec, const char *user,
		       struct store_job *out, char *errbuf, size_t errlen)
{
	struct sched_perf perf;
	uint32_t model;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = spec_texts(spec, out, errbuf, errlen);
	if (rc == 0)
		rc = spec_sizes(spec, out, errbuf, errlen);
	if (rc == 0)
		rc = spec_after(spec, out, errbuf, errlen);
	if (rc == 0)
		rc = driver_perf_fill(prof, out, &model, &perf, errbuf, errlen);
	if (rc == 0)
		spec_canonical(prof, spec, model, out);
	if (rc == 0)
		rc = spec_proxy(out, errbuf, errlen);
	if (rc < 0)
		return rc;
	snprintf(out->user, sizeof(out->user), "%s", user);
	out->state = STORE_QUEUED;
	out->submit_time = driver_now();
	out->loss = NAN;
	return 0;
}

/* ---- submit: validate now, commit after this loop iteration's I/O ---- */

/* max_user_weight: a weight above it is root's to give. 0, or ERR_BAD_SPEC. */
int clients_weight_allowed(const struct conn *c, double weight, char *errbuf,
				  size_t errlen)
{
	double max = c->d->cfg.max_user_weight;

	if (c->admin || max <= 0 || weight <= max)
		return 0;
	snprintf(errbuf, errlen, "weight %g is above max_user_weight (%g); only root may give a "
		 "job more", weight, max);
	return ERR_BAD_SPEC;
}

/* max_user_jobs: c's user's active jobs, those submitted in this loop
 * iteration included, are fewer. 0, or -EDQUOT with the reason. */
static int clients_jobs_allowed(const struct conn *c, char *errbuf, size_t errlen)
{
	const struct clients_pending *p = c->d->pending;
	uint32_t max = c->d->cfg.max_user_jobs, n = 0;

	if (c->admin || max == 0)
		return 0;
	for (uint32_t i = 0; i < driver_job_count(c->d->drv); i++)
		n += strcmp(driver_job_at(c->d->drv, i)->rec.user, c->user) == 0;
	for (uint32_t i = 0; i < p->n; i++)
		n += strcmp(p->items[i].job.user, c->user) == 0;
	if (n < max)
		return 0;
	snprintf(errbuf, errlen, "user %s has %u active jobs (queued or running), the most "
		 "max_user_jobs allows; submit more as these end", c->user, n);
	return -EDQUOT;
}

/* A GPU type the profile lacks but a node registered (harectl nodes: not
 * profiled): say so, instead of "unknown GPU type". */
static void clients_unprofiled_why(struct hared *d, const Hare__JobSpec *spec, char *why,
				   size_t len)
{
	for (size_t i = 0; i < spec->n_gpu_types; i++) {
		const char *type = spec->gpu_types[i];

		if (profile_gpu_type_find(d->prof, type) >= 0)
			continue;
		for (uint32_t n = 0; n < driver_node_count(d->drv); n++) {
			const struct drv_node *nd = driver_node_at(d->drv, n);

			for (uint32_t g = 0; nd && g < nd->ngpus; g++) {
				char st[200];
				const char *how;

				if (nd->gpus[g].type >= 0 || strcasecmp(nd->gpus[g].type_name, type) != 0)
					continue;
				how = !d->cfg.measure_gpus ? "measure_gpus is off in hared.conf"
				    : measure_status(d->measure, type, st, sizeof(st));
				snprintf(why, len, "GPU type '%s' is not profiled yet: node %s has it, and "
					 "jobs may ask for it once its speeds are measured (%s; harectl "
					 "nodes shows it)", type, nd->name,
					 how ? how : "hared has its agents measure it");
				return;
			}
		}
	}
}

void clients_submit(struct conn *c, const Hare__Submit *m)
{
	struct hared *d = c->d;
	struct clients_pending *p = d->pending;
	char why[512];
	int rc;

	if (p->n == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 64;
		struct clients_item *a = realloc(p->items, cap * sizeof(*a));

		if (!a) {
			conn_send_error(c, -ENOMEM, "out of memory");
			return;
		}
		p->items = a;
		p->cap = cap;
	}
	rc = clients_spec_check(d->prof, m->spec, c->user, &p->items[p->n].job, why, sizeof(why));
	if (rc == ERR_UNKNOWN_GPU)
		clients_unprofiled_why(d, m->spec, why, sizeof(why));
	if (rc == 0)
		rc = clients_weight_allowed(c, p->items[p->n].job.weight, why, sizeof(why));
	if (rc == 0)
		rc = clients_jobs_allowed(c, why, sizeof(why));
	if (rc == 0)
		rc = driver_after_check(d->drv, p->items[p->n].job.after, p->items[p->n].job.after_kind,
					p->items[p->n].job.nafter, why, sizeof(why));
	if (rc < 0) {
		log_info("conn=%" PRIu64 " user=%s submit refused: %s", c->id, c->user, why);
		conn_send_error(c, rc, "%s", why);
		return;
	}
	if (m->has_check_only && m->check_only) {	/* a submission would be taken */
		Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
		Hare__SubmitReply r = HARE__SUBMIT_REPLY__INIT;

		out.msg_case = HARE__FROM_DAEMON__MSG_SUBMIT_REPLY;
		out.submit_reply = &r;
		conn_send(c, &out);
		return;
	}
	p->items[p->n++].conn_id = c->id;
}

static void clients_reply_id(struct hared *d, uint64_t conn_id, uint64_t job_id)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__SubmitReply r = HARE__SUBMIT_REPLY__INIT;
	struct conn *c = conn_find(d, conn_id);
	char warning[400];

	if (!c)
		return;
	r.job_id = job_id;
	if (!driver_job_find(d->drv, job_id)) {
		struct store_job rec;

		/* a job it runs after ended meanwhile so that it never runs */
		if (store_job_get(d->store, job_id, &rec) == 0 && rec.state == STORE_CANCELLED)
			snprintf(warning, sizeof(warning), "cancelled at once: a job it runs after "
				 "ended, since it was checked, so that this one would never run "
				 "(harectl history %" PRIu64 ")", job_id);
		else
			snprintf(warning, sizeof(warning), "it is no longer queued (harectl history %"
				 PRIu64 ")", job_id);
		r.warning = warning;
	} else if (!driver_job_fit(d->drv, job_id, warning, sizeof(warning))) {
		r.warning = warning;
	}
	m.msg_case = HARE__FROM_DAEMON__MSG_SUBMIT_REPLY;
	m.submit_reply = &r;
	conn_send(c, &m);
}

/* Group commit: every submission of this loop iteration goes into one
 * transaction, one commit (one fsync) makes them all durable, and only
 * then are they scheduled and acknowledged. */
void clients_commit(struct hared *d)
{
	struct clients_pending *p = d->pending;
	char why[512];
	int rc;

	if (p->n == 0)
		return;
	for (uint32_t i = 0; i < p->n; i++) {
		p->items[i].rc = store_job_add(d->store, &p->items[i].job);
		p->items[i].batch = store_batch_id(d->store);
	}
	rc = store_flush(d->store);
	if (rc < 0)
		log_error("cannot store %u submitted jobs: %s", p->n, store_err_str(rc));
	for (uint32_t i = 0; i < p->n; i++) {
		struct clients_item *it = &p->items[i];
		struct conn *c = conn_find(d, it->conn_id);
		/* staged in a transaction SQLite undid later (a full disk): gone */
		int err = rc < 0 ? rc : it->rc < 0 ? it->rc
			: !store_batch_committed(d->store, it->batch) ? -EIO : 0;

		if (err < 0) {
			if (c)
				conn_send_error(c, err, "cannot store the job: %s", store_err_str(err));
			continue;
		}
		d->submits++;
		err = driver_job_add(d->drv, &it->job, why, sizeof(why));
		if (err < 0) {
			log_error("job=%" PRIu64 " stored but not scheduled: %s; marked FAILED", it->job.id,
				  why);
			if (c)
				conn_send_error(c, err, "job %" PRIu64 " was stored, but hared could not "
						"schedule it (%s); it is marked FAILED", it->job.id, why);
			continue;
		}
		clients_reply_id(d, it->conn_id, it->job.id);
	}
	p->n = 0;
}

int clients_pending_init(struct hared *d)
{
	d->pending = calloc(1, sizeof(*d->pending));
	return d->pending ? 0 : -ENOMEM;
}

void clients_pending_free(struct hared *d)
{
	if (!d->pending)
		return;
	free(d->pending->items);
	free(d->pending);
	d->pending = NULL;
}
