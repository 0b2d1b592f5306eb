/* SPDX-License-Identifier: MIT */
/* Client requests: job specs validated against the profile and committed
 * before the reply; queue/show/cancel/nodes answered from the driver (and
 * the store for finished jobs). */
#include "clients.h"

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

static int spec_text(const char *what, const char *text, size_t cap, char *errbuf, size_t errlen)
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
static int spec_weight(double w, char *errbuf, size_t errlen)
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
	return spec_weight(out->weight, errbuf, errlen);
}

static int spec_texts(const Hare__JobSpec *s, struct store_job *out, char *errbuf, size_t errlen)
{
	int rc = spec_text("name", s->name, sizeof(out->name), errbuf, errlen);

	if (rc == 0)
		rc = spec_text("model", s->model, sizeof(out->model), errbuf, errlen);
	if (rc == 0)
		rc = spec_text("command", s->command, sizeof(out->command), errbuf, errlen);
	if (rc == 0)
		rc = spec_text("proxy", s->proxy, sizeof(out->proxy), errbuf, errlen);
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
		rc = spec_text("GPU type", s->gpu_types[i], sizeof(out->types[0]), errbuf, errlen);
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
static int clients_weight_allowed(const struct conn *c, double weight, char *errbuf,
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

/* ---- job info ---- */

static Hare__JobState clients_state(enum store_job_state s)
{
	switch (s) {
	case STORE_QUEUED: return HARE__JOB_STATE__QUEUED;
	case STORE_RUNNING: return HARE__JOB_STATE__RUNNING;
	case STORE_DONE: return HARE__JOB_STATE__DONE;
	case STORE_CANCELLED: return HARE__JOB_STATE__CANCELLED;
	case STORE_FAILED: return HARE__JOB_STATE__FAILED;
	default: return HARE__JOB_STATE__JOB_STATE_UNSPECIFIED;
	}
}

/* Storage for one reply's JobInfos; strings point into the records. */
struct info_set {
	uint32_t n, cap;
	Hare__JobInfo *info;
	Hare__JobInfo **ptrs;
	Hare__JobPlacement *pl;
	Hare__JobPlacement **plp;
	uint32_t npl, plcap;
	char **types;
	uint32_t ntypes, typecap;
};

static int info_set_init(struct info_set *s, uint32_t jobs, uint32_t ranks, uint32_t types)
{
	memset(s, 0, sizeof(*s));
	s->cap = jobs;
	s->plcap = ranks;
	s->typecap = types;
	s->info = calloc(jobs ? jobs : 1, sizeof(*s->info));
	s->ptrs = calloc(jobs ? jobs : 1, sizeof(*s->ptrs));
	s->pl = calloc(ranks ? ranks : 1, sizeof(*s->pl));
	s->plp = calloc(ranks ? ranks : 1, sizeof(*s->plp));
	s->types = calloc(types ? types : 1, sizeof(*s->types));
	return s->info && s->ptrs && s->pl && s->plp && s->types ? 0 : -ENOMEM;
}

static void info_set_destroy(struct info_set *s)
{
	free(s->info);
	free(s->ptrs);
	free(s->pl);
	free(s->plp);
	free(s->types);
}

static void info_placement(struct hared *d, const struct drv_job *j, struct info_set *s,
			   Hare__JobInfo *in)
{
	in->placement = s->plp + s->npl;
	for (uint32_t r = 0; r < j->lease.nranks && s->npl < s->plcap; r++) {
		const struct drv_rank *rk = &j->lease.ranks[r];
		const struct drv_node *node = driver_node_at(d->drv, rk->node);
		Hare__JobPlacement *p = &s->pl[s->npl];

		if (!node || rk->slot >= node->ngpus)
			continue;	/* not expected: a lease keeps its nodes */
		hare__job_placement__init(p);
		p->node = (char *)node->name;
		p->gpu_index = node->gpus[rk->slot].index;
		p->gpu_type = (char *)driver_type_name(d->drv, node->gpus[rk->slot].type);
		p->tasks = rk->tasks;
		s->plp[s->npl++] = p;
		in->n_placement++;
	}
}

/* The nodes the job avoids now, by name (strings in the set's pool). */
static void info_avoided(struct hared *d, const struct drv_job *j, struct info_set *s,
			 Hare__JobInfo *in)
{
	uint32_t nodes[DRIVER_AVOID_MAX], n = driver_job_avoids(d->drv, j, nodes);

	in->avoided_nodes = s->types + s->ntypes;
	/* driver_job_avoids names no forgotten node */
	for (uint32_t k = 0; k < n && s->ntypes < s->typecap; k++, in->n_avoided_nodes++)
		s->types[s->ntypes++] = (char *)driver_node_at(d->drv, nodes[k])->name;
}

static void info_add(struct hared *d, struct info_set *s, const struct store_job *rec,
		     const struct drv_job *j)
{
	Hare__JobInfo *in = &s->info[s->n];

	hare__job_info__init(in);
	in->job_id = rec->id;
	in->user = (char *)rec->user;
	in->name = (char *)rec->name;
	in->model = (char *)rec->model;
	in->state = clients_state(rec->state);
	in->tasks = rec->tasks;
	in->has_min_gpus = in->has_max_gpus = true;
	in->min_gpus = rec->min_gpus;
	in->max_gpus = rec->max_gpus;
	in->rounds_total = rec->rounds_total;
	in->rounds_done = rec->rounds_done;
	in->weight = rec->weight;
	in->has_submit_time = in->has_restarts = true;
	in->submit_time = rec->submit_time;
	in->restarts = rec->restarts;
	in->has_start_time = rec->start_time > 0;
	in->start_time = rec->start_time;
	in->has_finish_time = rec->finish_time > 0;
	in->finish_time = rec->finish_time;
	in->has_loss = isfinite(rec->loss);
	in->loss = rec->loss;
	in->proxy = rec->proxy[0] ? (char *)rec->proxy : NULL;
	/* an ended job is held no more (a hold before its cancel stays stored) */
	in->has_held = rec->held != STORE_HELD_NONE &&
		       (rec->state == STORE_QUEUED || rec->state == STORE_RUNNING);
	in->held = rec->held == STORE_HELD_ADMIN ? HARE__JOB_HELD__JOB_HELD_ADMIN :
		   rec->held == STORE_HELD_OWNER ? HARE__JOB_HELD__JOB_HELD_OWNER :
		   HARE__JOB_HELD__JOB_HELD_NONE;
	in->gpu_types = s->types + s->ntypes;
	for (uint32_t t = 0; t < rec->ntypes && s->ntypes < s->typecap; t++, in->n_gpu_types++)
		s->types[s->ntypes++] = (char *)rec->types[t];
	in->n_after = rec->nafter;
	in->after = (uint64_t *)rec->after;
	/* the list is by kind (spec_after, store_job_get): each kind's ids
	 * follow the previous kind's */
	for (uint32_t i = 0; i < rec->nafter; i++) {
		if (rec->after_kind[i] == STORE_AFTER_ANY && in->n_after_any++ == 0)
			in->after_any = (uint64_t *)&rec->after[i];
		else if (rec->after_kind[i] == STORE_AFTER_NOTOK && in->n_after_notok++ == 0)
			in->after_notok = (uint64_t *)&rec->after[i];
	}
	if (j) {
		in->n_after_pending = j->nafter_wait;
		in->after_pending = (uint64_t *)j->after_wait;
		in->has_order = j->order != UINT32_MAX;
		in->order = j->order;
		in->has_est_start = j->est_start > 0;
		in->est_start = j->est_start;
		in->has_est_finish = j->est_finish > 0;
		in->est_finish = j->est_finish;
		info_placement(d, j, s, in);
		info_avoided(d, j, s, in);
	}
	s->ptrs[s->n++] = in;
}

/* ---- queue ---- */

struct finals {
	struct hared *d;
	uint32_t n, cap;
	struct store_job *jobs;
};

static int finals_add(void *user, const struct store_job *job)
{
	struct finals *f = user;

	if (job->state == STORE_QUEUED || job->state == STORE_RUNNING)
		return 0;	/* active jobs come from the driver */
	if (f->n == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 256;
		struct store_job *a = realloc(f->jobs, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		f->jobs = a;
		f->cap = cap;
	}
	f->jobs[f->n++] = *job;
	return 0;
}

static bool queue_job_active(const Hare__JobInfo *in)
{
	return in->state == HARE__JOB_STATE__QUEUED || in->state == HARE__JOB_STATE__RUNNING;
}

/* Leave jobs out of r until the reply m is at most half a frame (total
 * bytes now): finished jobs first, the oldest first, then active ones from
 * the end of the list (the newest), so what is left reads as the queue's
 * head. The rest keep their order; r->cut_jobs counts those left out. */
static int queue_cut(Hare__QueueReply *r, size_t total, size_t max)
{
	bool *out;
	size_t k = 0;

	if (total <= max) {
		r->cut_jobs = 0;
		return 0;
	}
	out = calloc(r->n_jobs, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_jobs && total > max; i++) {
		if (queue_job_active(r->jobs[i]))
			continue;
		out[i] = true;
		total -= clients_field_size(hare__job_info__get_packed_size(r->jobs[i]));
	}
	for (size_t i = r->n_jobs; i-- > 0 && total > max;) {
		if (out[i])
			continue;
		out[i] = true;
		total -= clients_field_size(hare__job_info__get_packed_size(r->jobs[i]));
	}
	for (size_t i = 0; i < r->n_jobs; i++)
		if (!out[i])
			r->jobs[k++] = r->jobs[i];
	r->cut_jobs = (uint32_t)(r->n_jobs - k);
	r->n_jobs = k;
	free(out);
	return 0;
}

static void queue_reply(struct conn *c, struct info_set *s, uint64_t older)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__QueueReply r = HARE__QUEUE_REPLY__INIT;
	struct driver_stats st;
	char what[48];

	driver_stats_get(c->d->drv, &st);
	r.n_jobs = s->n;
	r.jobs = s->ptrs;
	r.has_lp_bound_s = st.plans > 0;
	r.lp_bound_s = st.lp_bound_s;
	r.has_plans = true;
	r.plans = st.plans;
	r.has_plan_p50_ms = r.has_plan_p99_ms = st.plans > 0;
	r.plan_p50_ms = st.plan_p50_ms;
	r.plan_p99_ms = st.plan_p99_ms;
	/* sized with the largest cut_jobs can be */
	r.has_cut_jobs = true;
	r.cut_jobs = s->n;
	m.msg_case = HARE__FROM_DAEMON__MSG_QUEUE_REPLY;
	m.queue_reply = &r;
	if (queue_cut(&r, hare__from_daemon__get_packed_size(&m), c->d->cfg.max_frame / 2) < 0) {
		conn_send_error(c, -ENOMEM, "out of memory");
		return;
	}
	/* finished jobs older than those read count as left out */
	r.cut_jobs = (uint32_t)fmin((double)r.cut_jobs + (double)older, (double)UINT32_MAX);
	snprintf(what, sizeof(what), "queue (%u jobs)", s->n);
	clients_reply(c, &m, what);
}

void clients_queue(struct conn *c, const Hare__QueueRequest *m)
{
	struct hared *d = c->d;
	struct finals f = { .d = d };
	struct info_set s;
	uint32_t nact = driver_job_count(d->drv), ranks = 0, types = 0, a = 0, k = 0;
	uint64_t older = 0;
	/* one user's jobs only: read so from the store, not cut from all */
	const char *owner = m->user && m->user[0] ? m->user : NULL;

	/* private_data = jobs: a user's own, whatever was asked */
	if (!c->admin && hared_private(&d->cfg, "jobs")) {
		if (owner && strcmp(owner, c->user) != 0) {
			conn_send_error(c, -EPERM, "only your own jobs are listed to you (private_data "
					"= jobs in hared's configuration)");
			return;
		}
		owner = c->user;
	}

	/* Finished jobs come from the store; its connection sees its own
	 * batched, not yet committed writes, so no commit is needed here. Only
	 * the newest are read: all of them would cost memory and time in
	 * proportion to every job ever run (200,000: 380 MB, half a second),
	 * for a reply that holds a few tens of thousands at most. */
	if (m->has_all && m->all) {
		if ((owner ? store_jobs_load_newest_of(d->store, owner, CLIENTS_QUEUE_FINALS_MAX + nact,
						       finals_add, &f, &older)
			   : store_jobs_load_newest(d->store, CLIENTS_QUEUE_FINALS_MAX + nact, finals_add,
						    &f, &older)) < 0) {
			free(f.jobs);
			conn_send_error(c, -EIO, "cannot read finished jobs from the store");
			return;
		}
	}
	for (uint32_t i = 0; i < nact; i++) {
		ranks += driver_job_at(d->drv, i)->lease.nranks;
		types += driver_job_at(d->drv, i)->rec.ntypes + DRIVER_AVOID_MAX;
	}
	for (uint32_t i = 0; i < f.n; i++)
		types += f.jobs[i].ntypes;
	if (info_set_init(&s, nact + f.n, ranks, types) < 0) {
		conn_send_error(c, -ENOMEM, "out of memory");
	} else {
		/* Merge the two id-ordered lists. */
		while (a < nact || k < f.n) {
			const struct drv_job *j = a < nact ? driver_job_at(d->drv, a) : NULL;

			if (j && (k == f.n || j->rec.id < f.jobs[k].id)) {
				if (!owner || strcmp(j->rec.user, owner) == 0)
					info_add(d, &s, &j->rec, j);
				a++;
			} else {
				info_add(d, &s, &f.jobs[k++], NULL);
			}
		}
		queue_reply(c, &s, older);
	}
	info_set_destroy(&s);
	free(f.jobs);
}

/* ---- show, cancel, nodes ---- */

/* show: a job's GPU time by type (the first SHOW_TYPES_MAX type names). */
#define SHOW_TYPES_MAX 32
struct show_times {
	Hare__GpuTime t[SHOW_TYPES_MAX];
	Hare__GpuTime *ptrs[SHOW_TYPES_MAX];
	char names[SHOW_TYPES_MAX][64];
	uint32_t n;
};

static int show_gpu_time(void *user, const char *gpu_type, double gpu_s)
{
	struct show_times *g = user;

	if (g->n == SHOW_TYPES_MAX)
		return 0;
	hare__gpu_time__init(&g->t[g->n]);
	snprintf(g->names[g->n], sizeof(g->names[0]), "%s", gpu_type);
	g->t[g->n].gpu_type = g->names[g->n];
	g->t[g->n].gpu_s = fmax(0, gpu_s);
	g->ptrs[g->n] = &g->t[g->n];
	g->n++;
	return 0;
}

/* show: what a waiting job waits for: "it runs after jobs 41, 42, not DONE
 * yet", or with other kinds "it waits for job 41 to be DONE, job 43 to
 * end, job 44 to fail". */
static void show_after_waiting(struct hared *d, const struct drv_job *j, char *buf, size_t len)
{
	static const char *const need[] = { [STORE_AFTER_OK] = "be DONE",
					     [STORE_AFTER_ANY] = "end",
					     [STORE_AFTER_NOTOK] = "fail" };
	uint8_t kinds[STORE_MAX_AFTER];
	bool all_ok = true;
	size_t off;

	for (uint32_t i = 0; i < j->nafter_wait; i++) {
		kinds[i] = STORE_AFTER_OK;
		for (uint32_t k = 0; k < j->rec.nafter && k < STORE_MAX_AFTER; k++)
			if (j->rec.after[k] == j->after_wait[i] && j->rec.after_kind[k] <= STORE_AFTER_NOTOK)
				kinds[i] = j->rec.after_kind[k];
		all_ok = all_ok && kinds[i] == STORE_AFTER_OK;
	}
	off = (size_t)snprintf(buf, len, all_ok ? "it runs after job%s " : "it waits for",
			       j->nafter_wait > 1 ? "s" : "");
	/* one that is not active is DONE, its workers still exiting */
	for (uint32_t i = 0; i < j->nafter_wait && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s%" PRIu64 "%s%s%s",
					i ? ", " : all_ok ? "" : " ", all_ok ? "" : "job ", j->after_wait[i],
					driver_job_find(d->drv, j->after_wait[i]) ? "" :
					" (DONE, its workers still exiting)",
					all_ok ? "" : " to ", all_ok ? "" : need[kinds[i]]);
	if (all_ok && off < len)
		snprintf(buf + off, len - off, ", not DONE yet");
}

/* A failure's text for another user: the worker's last output line (the
 * agent's "; last output: ..." inside "(exit code 3: ...)"), which harectl
 * logs gives its owner and root only, is left out; what hared wrote after
 * the parenthesis ("; 2 failures, giving up") stays. */
static void show_output_hide(char *text, size_t len)
{
	char *cut = strstr(text, "; last output: "), *close, tail[128];
	static const char hidden[] = "; its output is for its owner and root";

	if (!cut)
		return;
	close = strrchr(cut, ')');
	snprintf(tail, sizeof(tail), "%s", close ? close : "");
	snprintf(cut, len - (size_t)(cut - text), "%s%s", hidden, tail);
}

bool clients_job_hidden(struct conn *c, uint64_t id)
{
	const struct drv_job *j;
	struct store_job rec;

	if (c->admin || !hared_private(&c->d->cfg, "jobs"))
		return false;
	j = driver_job_find(c->d->drv, id);
	if (j)
		return strcmp(j->rec.user, c->user) != 0;
	return store_job_get(c->d->store, id, &rec) < 0 || strcmp(rec.user, c->user) != 0;
}

void clients_show(struct conn *c, const Hare__ShowRequest *m)
{
	struct hared *d = c->d;
	const struct drv_job *j = driver_job_find(d->drv, m->job_id);
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__ShowReply r = HARE__SHOW_REPLY__INIT;
	struct store_job rec;
	struct info_set s;
	struct show_times gt = { 0 };
	char last_error[768], waiting[400], end_reason[400];
	bool mine;

	if (clients_job_hidden(c, m->job_id)) {
		conn_send_error(c, -ENOENT, "no job %" PRIu64 " of yours", m->job_id);
		return;
	}
	if (!j) {
		if (store_job_get(d->store, m->job_id, &rec) < 0) {
			conn_send_error(c, -ENOENT, "no job %" PRIu64, m->job_id);
			return;
		}
	}
	if (info_set_init(&s, 1, j ? j->lease.nranks : 0, STORE_MAX_TYPES + DRIVER_AVOID_MAX) < 0) {
		info_set_destroy(&s);
		conn_send_error(c, -ENOMEM, "out of memory");
		return;
	}
	info_add(d, &s, j ? &j->rec : &rec, j);
	r.job = s.ptrs[0];
	/* what runs for it, as submitted, and what it printed: its owner's
	 * and root's business */
	{
		const struct store_job *jr = j ? &j->rec : &rec;

		mine = c->admin || strcmp(c->user, jr->user) == 0;
		if (jr->command[0] && mine)
			r.job->command = (char *)jr->command;
	}
	if (j && j->rec.state == STORE_QUEUED && j->nafter_wait && !j->rec.held) {
		show_after_waiting(d, j, waiting, sizeof(waiting));
		r.job->waiting = waiting;
	} else if (j && j->rec.state == STORE_QUEUED &&
		   !driver_job_fit(d->drv, m->job_id, waiting, sizeof(waiting))) {
		r.job->waiting = waiting;
	}
	if (r.job->state == HARE__JOB_STATE__CANCELLED &&
	    store_job_cancel_reason(d->store, m->job_id, end_reason, sizeof(end_reason), NULL) == 0)
		r.job->end_reason = end_reason;
	if (store_job_last_failure(d->store, m->job_id, last_error, sizeof(last_error),
				   &r.job->last_error_time) == 0) {
		if (!mine)
			show_output_hide(last_error, sizeof(last_error));
		r.job->last_error = last_error;
		r.job->has_last_error_time = true;
	}
	if (j && j->lease.id && !j->lease.unsent)	/* its running lease until now */
		store_usage_until(d->store, j->rec.id, j->lease.id, driver_now());
	if (store_usage_job(d->store, m->job_id, 0, show_gpu_time, &gt) == 0 && gt.n > 0) {
		r.job->gpu_time = gt.ptrs;
		r.job->n_gpu_time = gt.n;
	}
	out.msg_case = HARE__FROM_DAEMON__MSG_SHOW_REPLY;
	out.show_reply = &r;
	clients_reply(c, &out, "job");
	info_set_destroy(&s);
}

static const char *clients_state_name(enum store_job_state s)
{
	static const char *const names[] = { "?", "QUEUED", "RUNNING", "DONE", "CANCELLED", "FAILED" };

	return (int)s >= 1 && (int)s <= 5 ? names[s] : "?";
}

/* Why job id, not active, cannot be changed: it ended, or never was. */
static void clients_not_active(struct hared *d, uint64_t id, char *msg, size_t msglen)
{
	struct store_job rec;

	if (store_job_get(d->store, id, &rec) == 0)
		snprintf(msg, msglen, "job %" PRIu64 " is already %s", id,
			 clients_state_name(rec.state));
	else
		snprintf(msg, msglen, "job %" PRIu64 " does not exist", id);
}

#define CLIENTS_CANCEL_MAX 4096
#define CLIENTS_MSG_LEN 256

/* What the per-job requests (cancel, update) do to one job: 0, or a
 * negative code with why in msg (-ENOENT: not active). */
typedef int (*clients_job_fn)(struct conn *c, uint64_t id, const void *arg, char *msg, size_t len);

/* How a per-job request reports a change it could not commit. */
struct clients_job_words {
	const char *request;	/* "cancel" (in messages: "cancel needs 1 to ...") */
	const char *done;	/* "stopped": what happened to the job anyway */
	const char *noun;	/* "cancel": what was not saved */
	const char *then;	/* what that means: "it may run again if hared restarts" */
};

/* A request's job id and its place in the request. */
struct clients_id {
	uint64_t id;
	size_t at;
};

/* Largest id first; ties in request order. */
static int clients_id_newer(const void *a, const void *b)
{
	const struct clients_id *x = a, *y = b;

	if (x->id != y->id)
		return x->id > y->id ? -1 : 1;
	return (x->at > y->at) - (x->at < y->at);
}

/* Run fn on each of ids and reply with a CancelResult per job, in a
 * CancelReply or (update) an UpdateReply. An acknowledged change must
 * survive a crash, as a submission does: what fn changed is committed
 * before the reply, and when that fails each changed job is answered as
 * not changed. */
static void clients_per_job(struct conn *c, const uint64_t *ids, size_t n, clients_job_fn fn,
			    const void *arg, const struct clients_job_words *w, bool update)
{
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__CancelReply cr = HARE__CANCEL_REPLY__INIT;
	Hare__UpdateReply ur = HARE__UPDATE_REPLY__INIT;
	Hare__CancelResult *res, **ptrs;
	struct clients_id *order;
	char *msgs, what[48];
	size_t done = 0;
	uint64_t failures;
	int rc;

	if (n == 0 || n > CLIENTS_CANCEL_MAX) {
		conn_send_error(c, ERR_BAD_SPEC, "%s needs 1 to %d job ids, got %zu", w->request,
				CLIENTS_CANCEL_MAX, n);
		return;
	}
	res = calloc(n, sizeof(*res));
	ptrs = calloc(n, sizeof(*ptrs));
	msgs = calloc(n, CLIENTS_MSG_LEN);
	order = calloc(n, sizeof(*order));
	if (!res || !ptrs || !msgs || !order) {
		conn_send_error(c, -ENOMEM, "out of memory");
		goto out;
	}
	failures = store_write_failures(c->d->store, NULL);
	/* a cancel newest first: a job after another (a larger id) is
	 * cancelled as asked, not found gone with the one it ran after */
	for (size_t k = 0; k < n; k++)
		order[k] = (struct clients_id){ ids[k], k };
	if (!update)
		qsort(order, n, sizeof(*order), clients_id_newer);
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k].at;
		char *msg = msgs + i * CLIENTS_MSG_LEN;

		hare__cancel_result__init(&res[i]);
		res[i].job_id = ids[i];
		res[i].message = msg;
		if (clients_job_hidden(c, ids[i])) {
			snprintf(msg, CLIENTS_MSG_LEN, "no job %" PRIu64 " of yours", ids[i]);
			rc = -ENOENT;
		} else {
			rc = fn(c, ids[i], arg, msg, CLIENTS_MSG_LEN);
			if (rc == -ENOENT)
				clients_not_active(c->d, ids[i], msg, CLIENTS_MSG_LEN);
		}
		res[i].ok = rc == 0;
		done += res[i].ok;
		ptrs[i] = &res[i];
	}
	rc = done ? store_flush_since(c->d->store, failures) : 0;
	if (rc < 0) {
		log_error("cannot store %zu %s(s): %s; %s", done, w->noun, store_err_str(rc), w->then);
		for (size_t i = 0; i < n; i++) {
			if (!res[i].ok)
				continue;
			res[i].ok = false;
			snprintf(res[i].message, CLIENTS_MSG_LEN, "job %" PRIu64 " %s, but the %s was "
				 "not saved (%s): %s", res[i].job_id, w->done, w->noun, store_err_str(rc),
				 w->then);
		}
	}
	if (update) {
		ur.n_results = n;
		ur.results = ptrs;
		out.msg_case = HARE__FROM_DAEMON__MSG_UPDATE_REPLY;
		out.update_reply = &ur;
	} else {
		cr.n_results = n;
		cr.results = ptrs;
		out.msg_case = HARE__FROM_DAEMON__MSG_CANCEL_REPLY;
		out.cancel_reply = &cr;
	}
	snprintf(what, sizeof(what), "%s results", w->request);
	clients_reply(c, &out, what);
out:
	free(res);
	free(ptrs);
	free(msgs);
	free(order);
}

static int cancel_one(struct conn *c, uint64_t id, const void *arg, char *msg, size_t len)
{
	int rc = driver_job_cancel(c->d->drv, id, c->user, c->admin, msg, len);

	(void)arg;
	if (rc == 0)
		log_info("job=%" PRIu64 " cancelled by user=%s", id, c->user);
	return rc;
}

void clients_cancel(struct conn *c, const Hare__CancelRequest *m)
{
	static const struct clients_job_words w = { "cancel", "stopped", "cancel",
						    "hared writes it again at each commit; the job "
						    "runs again only if hared restarts before one "
						    "succeeds" };

	clients_per_job(c, m->job_ids, m->n_job_ids, cancel_one, NULL, &w, false);
}

/* The request's changes, checked as a submission's are (a GPU range is
 * checked per job, against its gpus). 0, or ERR_BAD_SPEC with the reason. */
static int update_parse(const Hare__UpdateRequest *m, struct driver_update *u, char *msg,
			size_t msglen)
{
	int rc;

	*u = (struct driver_update){ .hold = m->has_hold ? m->hold : -1 };
	if (m->has_weight && (rc = spec_weight(m->weight, msg, msglen)) < 0)
		return rc;
	u->has_weight = m->has_weight;
	u->weight = m->weight;
	u->has_min_gpus = m->has_min_gpus;
	u->min_gpus = m->min_gpus;
	u->has_max_gpus = m->has_max_gpus;
	u->max_gpus = m->max_gpus;
	if (m->name) {
		rc = spec_text("name", m->name, sizeof(((struct store_job *)0)->name), msg, msglen);
		if (rc < 0)
			return rc;
		if (!m->name[0]) {
			snprintf(msg, msglen, "name is empty");
			return ERR_BAD_SPEC;
		}
		u->name = m->name;
	}
	return 0;
}

static int update_one(struct conn *c, uint64_t id, const void *arg, char *msg, size_t len)
{
	return driver_job_update(c->d->drv, id, c->user, c->admin, arg, msg, len);
}

void clients_update(struct conn *c, const Hare__UpdateRequest *m)
{
	/* a held job must not run again after a restart */
	static const struct clients_job_words w = { "update", "changed", "change",
						    "a restart of hared forgets it" };
	struct driver_update u;
	char err[200];
	int rc = update_parse(m, &u, err, sizeof(err));

	if (rc == 0 && u.has_weight)
		rc = clients_weight_allowed(c, u.weight, err, sizeof(err));
	if (rc < 0) {
		conn_send_error(c, rc, "%s", err);
		return;
	}
	clients_per_job(c, m->job_ids, m->n_job_ids, update_one, &u, &w, true);
}

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
	rc = spec_text("reason", m->reason, DRIVER_DRAIN_REASON, msg, sizeof(msg));
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
	rc = spec_text("node", m->node, DRIVER_NODE_NAME, msg, sizeof(msg));
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
		o->recent_failures = driver_node_failures(drv, i);
		o->has_last_seen = n->last_seen > 0;
		o->last_seen = n->last_seen;
		{
			/* how its agent came in (node i is agent i + 1) */
			const struct conn *ac = i + 1 < c->d->agent_conn_cap && c->d->agent_conn[i + 1] ?
						conn_find(c->d, c->d->agent_conn[i + 1]) : NULL;

			o->has_own_key = o->has_tagged = o->has_tls = n->up && ac;
			o->own_key = ac && ac->own_key;
			o->tagged = ac && ac->check;
			o->tls = ac && ac->tls;
		}
		if (!n->up && n->refused[0]) {
			o->refused = (char *)n->refused;
			o->has_refused_at = true;
			o->refused_at = n->refused_at;
		}
		o->gpus = gip + g;
		o->n_gpus = n->ngpus;
		for (uint32_t k = 0; k < n->ngpus; k++, g++) {
			hare__node_gpu__init(&gi[g]);
			gi[g].index = n->gpus[k].index;
			gi[g].type = (char *)n->gpus[k].type_name;
			gi[g].has_job_id = n->gpus[k].job_id != 0;
			gi[g].job_id = n->gpus[k].job_id;
			gi[g].has_emulated = true;
			gi[g].emulated = n->gpus[k].emulated;
			gi[g].has_stopping = n->gpus[k].vacate_lease != 0;
			gi[g].stopping = n->gpus[k].vacate_lease != 0;
			gi[g].has_unprofiled = gi[g].unprofiled = n->gpus[k].type < 0;
			gi[g].has_measuring = gi[g].measuring = n->gpus[k].measuring;
			gip[g] = &gi[g];
		}
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
