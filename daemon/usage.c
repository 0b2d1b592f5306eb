/* SPDX-License-Identifier: MIT */
/* harectl usage: a client's UsageRequest is summed from the store's usage
 * table on libuv's thread pool, with a read-only connection of its own,
 * and answered with GPU-seconds by user and GPU type. */
#include "usage.h"

#include "clients.h"
#include "conn.h"
#include "driver.h"
#include "err.h"
#include "hared.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS_USAGE_DAYS 7		/* the window when since is not given */
/* Sums running at once (more are told to wait): one, so that plans, on the
 * same thread pool (4 threads), never wait for them. */
#define CLIENTS_USAGE_MAX_S 60		/* a longer sum is given up */

/* The users (ST_USAGE_USERS order), then their types' rows, in the same
 * user order, one run per user. */
struct usage {
	Hare__UserUsage *users;
	Hare__UserUsage **ptrs;
	uint32_t n, cap;
	Hare__GpuTime *types;
	Hare__GpuTime **tptrs;
	uint32_t ntypes, tcap;
	uint32_t at;			/* the user the type rows have reached */
	int err;
};

/* Grow an array of size-byte items to hold one more than *cap items. */
static void *usage_grow(void *p, uint32_t *cap, size_t size)
{
	uint32_t want = *cap ? 2 * *cap : 16;
	void *q = want > *cap ? realloc(p, (size_t)want * size) : NULL;

	if (q)
		*cap = want;
	return q;
}

static int usage_user_row(void *user, const char *name, uint32_t jobs, double gpu_s)
{
	struct usage *u = user;
	Hare__UserUsage *r;

	if (u->n == u->cap) {
		uint32_t cap = u->cap;
		void *p = usage_grow(u->users, &cap, sizeof(*u->users));

		if (!p)
			return -ENOMEM;
		u->users = p;
		u->cap = cap;
	}
	r = &u->users[u->n];
	hare__user_usage__init(r);
	r->user = strdup(name);
	if (!r->user)
		return -ENOMEM;
	r->jobs = jobs;
	r->gpu_s = fmax(0, gpu_s);
	u->n++;
	return 0;
}

static int usage_type_row(void *user, const char *name, const char *type, double gpu_s)
{
	struct usage *u = user;
	Hare__GpuTime *t;

	uint32_t at = u->at;

	/* by name, as the users came (one snapshot: every user is there) */
	while (at < u->n && strcmp(u->users[at].user, name) != 0)
		at++;
	if (at == u->n)
		return 0;
	u->at = at;
	if (u->ntypes == u->tcap) {
		uint32_t cap = u->tcap;
		void *p = usage_grow(u->types, &cap, sizeof(*u->types));

		if (!p)
			return -ENOMEM;
		u->types = p;
		u->tcap = cap;
	}
	t = &u->types[u->ntypes];
	hare__gpu_time__init(t);
	t->gpu_type = strdup(type);
	if (!t->gpu_type)
		return -ENOMEM;
	t->gpu_s = fmax(0, gpu_s);
	u->users[u->at].n_types++;	/* its run; usage_link points at it */
	u->ntypes++;
	return 0;
}

/* Pointer arrays for the reply: users, and each user's run of types. */
static int usage_link(struct usage *u)
{
	uint32_t next = 0;

	u->ptrs = calloc(u->n ? u->n : 1, sizeof(*u->ptrs));
	u->tptrs = calloc(u->ntypes ? u->ntypes : 1, sizeof(*u->tptrs));
	if (!u->ptrs || !u->tptrs)
		return -ENOMEM;
	for (uint32_t k = 0; k < u->ntypes; k++)
		u->tptrs[k] = &u->types[k];
	for (uint32_t i = 0; i < u->n; i++) {
		u->ptrs[i] = &u->users[i];
		u->users[i].types = u->users[i].n_types ? &u->tptrs[next] : NULL;
		next += (uint32_t)u->users[i].n_types;
	}
	return 0;
}

static void usage_free(struct usage *u)
{
	for (uint32_t i = 0; i < u->n; i++)
		free(u->users[i].user);
	for (uint32_t k = 0; k < u->ntypes; k++)
		free(u->types[k].gpu_type);
	free(u->users);
	free(u->ptrs);
	free(u->types);
	free(u->tptrs);
}


/* A usage sum on libuv's thread pool, with its own read-only connection:
 * a window over a long history must not hold up the loop. */
struct usage_work {
	uv_work_t work;
	struct hared *d;
	uint64_t conn_id;
	uint32_t slot;		/* in d->usage_users */
	char *path, *user;
	double since, until;
	struct usage u;
	const atomic_bool *stop;	/* hared stops */
	uint64_t deadline_ns;		/* uv_hrtime: the sum gives up then */
	bool late;
	int rc;
	char err[256];
};

/* The reading thread's check, now and then: give up when hared stops or
 * the sum takes too long. */
static int usage_stop(void *user)
{
	struct usage_work *x = user;

	x->late = uv_hrtime() > x->deadline_ns;
	return atomic_load(x->stop) || x->late;
}

static void usage_on_work(uv_work_t *w)
{
	struct usage_work *x = w->data;
	struct store *st;

	x->rc = store_open_reader(x->path, &st, x->err, sizeof(x->err));
	if (x->rc < 0)
		return;
	store_interrupt_set(st, usage_stop, x);
	x->rc = store_usage_sum(st, x->since, x->until, x->user, usage_user_row, usage_type_row,
				&x->u);
	store_close(st);
	if (x->rc == 0)
		x->rc = usage_link(&x->u);
	if (x->rc == -ECANCELED && x->late)
		snprintf(x->err, sizeof(x->err), "it took over %d s; ask for a shorter window or one "
			 "--user", CLIENTS_USAGE_MAX_S);
}

static void usage_work_free(struct usage_work *x)
{
	usage_free(&x->u);
	free(x->path);
	free(x->user);
	free(x);
}

static void usage_on_after_work(uv_work_t *w, int status)
{
	struct usage_work *x = w->data;
	struct conn *c = conn_find(x->d, x->conn_id);
	Hare__FromDaemon out = HARE__FROM_DAEMON__INIT;
	Hare__UsageReply r = HARE__USAGE_REPLY__INIT;

	x->d->usage_inflight--;
	x->d->usage_users[x->slot][0] = '\0';
	if (!c || status < 0) {
		usage_work_free(x);	/* the client left, or hared stops */
		return;
	}
	if (x->rc < 0) {	/* the reader's own reason, else the code's (strerror: here) */
		conn_send_error(c, x->rc, "cannot read GPU time from the store: %s",
				x->err[0] ? x->err : err_str(x->rc));
		usage_work_free(x);
		return;
	}
	r.since = x->since;
	r.until = x->until;
	r.users = x->u.ptrs;
	r.n_users = x->u.n;
	out.msg_case = HARE__FROM_DAEMON__MSG_USAGE_REPLY;
	out.usage_reply = &r;
	/* the first users (by name) that fit in half a frame */
	for (size_t total = hare__from_daemon__get_packed_size(&out);
	     r.n_users > 0 && total > x->d->cfg.max_frame / 2; r.n_users--) {
		total -= clients_field_size(hare__user_usage__get_packed_size(r.users[r.n_users - 1]));
		r.has_cut = r.cut = true;
	}
	clients_reply(c, &out, "usage");
	usage_work_free(x);
}

/* Whose usage c may have summed and over which window: with private_data =
 * usage, a user's own whatever was asked (*user is set to it); the window
 * must be numbers, since before until. 0, or -1 with the error sent. */
static int usage_check(struct conn *c, double since, double until, const char **user)
{
	if (!c->admin && hared_private(&c->d->cfg, "usage")) {
		if (*user && (*user)[0] && strcmp(*user, c->user) != 0) {
			conn_send_error(c, -EPERM, "only your own usage is summed for you (private_data "
					"= usage in hared's configuration)");
			return -1;
		}
		*user = c->user;
	}
	if (!isfinite(since) || !isfinite(until)) {
		conn_send_error(c, ERR_BAD_SPEC, "the window's since and until must be numbers (unix "
				"seconds)");
		return -1;
	}
	if (since < 0 || !(since < until)) {
		conn_send_error(c, ERR_BAD_SPEC, "the window must have since before until (unix seconds"
				" >= 0), got %.0f to %.0f", since, until);
		return -1;
	}
	return 0;
}

/* A free slot in d->usage_users for c's sum: one sum per user at a time, and
 * a few in all, so that a user asking again and again cannot keep the
 * others' out. The slot, or -1 with the error sent. */
static int usage_slot(struct conn *c)
{
	struct hared *d = c->d;
	uint32_t slot;

	for (slot = 0; slot < HARED_USAGE_INFLIGHT; slot++) {
		if (strcmp(d->usage_users[slot], c->user) == 0) {
			conn_send_error(c, -EBUSY, "your last usage sum is still in progress; try again "
					"in a moment");
			return -1;
		}
	}
	for (slot = 0; slot < HARED_USAGE_INFLIGHT && d->usage_users[slot][0]; slot++)
		;
	if (slot == HARED_USAGE_INFLIGHT || d->usage_inflight >= HARED_USAGE_INFLIGHT) {
		conn_send_error(c, -EBUSY, "%d usage sums are in progress; try again in a moment",
				HARED_USAGE_INFLIGHT);
		return -1;
	}
	return (int)slot;
}

/* The work of summing user's usage (NULL: everyone's) over since..until for
 * c, with copies of the store's path and user; NULL when out of memory. */
static struct usage_work *usage_work_new(struct conn *c, const char *user, double since,
					 double until)
{
	struct hared *d = c->d;
	struct usage_work *x = calloc(1, sizeof(*x));

	if (x) {
		x->path = strdup(store_path(d->store));
		x->user = user ? strdup(user) : NULL;
	}
	if (!x || !x->path || (user && !x->user)) {
		if (x)
			usage_work_free(x);
		return NULL;
	}
	x->work.data = x;
	x->d = d;
	x->conn_id = c->id;
	x->since = since;
	x->until = until;
	x->stop = &d->usage_stop;
	x->deadline_ns = uv_hrtime() + (uint64_t)CLIENTS_USAGE_MAX_S * 1000000000u;
	return x;
}

/* A UsageRequest (see usage.h): checked, then summed on the thread pool
 * once the store's batched writes are committed. */
void usage_request(struct conn *c, const Hare__UsageRequest *m)
{
	struct hared *d = c->d;
	double now = driver_now();
	double until = m->has_until ? m->until : now;
	double since = m->has_since ? m->since : fmax(0, until - CLIENTS_USAGE_DAYS * 86400.0);
	const char *user = m->user;
	struct usage_work *x;
	int slot, rc;

	if (usage_check(c, since, until, &user) < 0)
		return;
	slot = usage_slot(c);
	if (slot < 0)
		return;
	x = usage_work_new(c, user, since, until);
	if (!x) {
		conn_send_error(c, -ENOMEM, "out of memory");
		return;
	}
	/* what the other connection reads is committed: the running leases'
	 * time until now with it */
	driver_usage_sync(d->drv);
	rc = store_flush(d->store);
	if (rc < 0)	/* counted lost: a job end among them is not reported saved */
		log_error("store: cannot commit batched writes before a usage sum: %s",
			  err_str(rc));
	rc = uv_queue_work(d->loop, &x->work, usage_on_work, usage_on_after_work);
	if (rc < 0) {
		conn_send_error(c, rc, "cannot sum GPU time: %s", uv_strerror(rc));
		usage_work_free(x);
		return;
	}
	d->usage_inflight++;
	x->slot = (uint32_t)slot;
	snprintf(d->usage_users[slot], sizeof(d->usage_users[slot]), "%s", c->user);
}
