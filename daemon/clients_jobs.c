/* SPDX-License-Identifier: MIT */
/* Client requests about jobs: queue and show, answered from the driver (and
 * the store for finished jobs), and cancel and update, committed before the
 * reply. */
#include "clients_impl.h"

#include "conn.h"
#include "driver.h"
#include "err.h"
#include "hared.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- show, cancel, update ---- */

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

/* Runs fn on job id for c, into res with its message in msg (CLIENTS_MSG_LEN
 * bytes): a job c may not see is not found, and one fn finds not active is
 * said to be ended or never to have been. */
static void clients_job_one(struct conn *c, uint64_t id, clients_job_fn fn, const void *arg,
			    Hare__CancelResult *res, char *msg)
{
	int rc;

	hare__cancel_result__init(res);
	res->job_id = id;
	res->message = msg;
	if (clients_job_hidden(c, id)) {
		snprintf(msg, CLIENTS_MSG_LEN, "no job %" PRIu64 " of yours", id);
		rc = -ENOENT;
	} else {
		rc = fn(c, id, arg, msg, CLIENTS_MSG_LEN);
		if (rc == -ENOENT)
			clients_not_active(c->d, id, msg, CLIENTS_MSG_LEN);
	}
	res->ok = rc == 0;
}

/* The done changes of res[0..n) could not be committed (rc): logged, and
 * each changed job answered as not changed, with why. */
static void clients_per_job_unsaved(Hare__CancelResult *res, size_t n, size_t done, int rc,
				    const struct clients_job_words *w)
{
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

/* Sends the n results in a CancelReply or (update) an UpdateReply. */
static void clients_per_job_reply(struct conn *c, Hare__CancelResult **ptrs, size_t n,
				  const struct clients_job_words *w, bool update)
{
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__CancelReply cr = HARE__CANCEL_REPLY__INIT;
	Hare__UpdateReply ur = HARE__UPDATE_REPLY__INIT;
	char what[48];

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
}

/* Run fn on each of ids and reply with a CancelResult per job, in a
 * CancelReply or (update) an UpdateReply. An acknowledged change must
 * survive a crash, as a submission does: what fn changed is committed
 * before the reply, and when that fails each changed job is answered as
 * not changed. */
static void clients_per_job(struct conn *c, const uint64_t *ids, size_t n, clients_job_fn fn,
			    const void *arg, const struct clients_job_words *w, bool update)
{
	Hare__CancelResult *res, **ptrs;
	struct clients_id *order;
	char *msgs;
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

		clients_job_one(c, ids[i], fn, arg, &res[i], msgs + i * CLIENTS_MSG_LEN);
		done += res[i].ok;
		ptrs[i] = &res[i];
	}
	rc = done ? store_flush_since(c->d->store, failures) : 0;
	if (rc < 0)
		clients_per_job_unsaved(res, n, done, rc, w);
	clients_per_job_reply(c, ptrs, n, w, update);
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
	if (m->has_weight && (rc = clients_spec_weight(m->weight, msg, msglen)) < 0)
		return rc;
	u->has_weight = m->has_weight;
	u->weight = m->weight;
	u->has_min_gpus = m->has_min_gpus;
	u->min_gpus = m->min_gpus;
	u->has_max_gpus = m->has_max_gpus;
	u->max_gpus = m->max_gpus;
	if (m->name) {
		rc = clients_spec_text("name", m->name, sizeof(((struct store_job *)0)->name), msg, msglen);
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
