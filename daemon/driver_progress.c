/* SPDX-License-Identifier: MIT */
/* What agents report about work: round reports (progress = the lease's
 * slowest rank, loss, speed learning), worker exits (done, stopped, failed,
 * retries), rendezvous relay, and progress handed to the store in batches. */
#include "driver_impl.h"

#include "log.h"
#include "profile.h"
#include "report.h"
#include "utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cap on the rounds behind a learned ratio, so it keeps adapting. */
#define DRV_RATIO_MEMORY 10000.0

/* The rank behind a report, if the report is for j's current lease and
 * comes from the agent that runs that rank. */
static struct drv_rank *drv_rank_of(struct driver *d, struct drv_job *j, uint32_t agent_id,
				    uint64_t lease, uint32_t rank)
{
	struct drv_rank *r;

	if (!j || j->lease.id != lease || rank >= j->lease.nranks)
		return NULL;
	r = &j->lease.ranks[rank];
	if (r->node >= d->nnodes || d->nodes[r->node].agent_id != agent_id)
		return NULL;
	return r;
}

static void drv_dirty_mark(struct driver *d, struct drv_job *j)
{
	if (j->progress_dirty)
		return;
	if (d->ndirty == d->dirty_cap) {
		uint32_t cap = d->dirty_cap ? d->dirty_cap * 2 : 64;
		uint64_t *a = realloc(d->dirty, cap * sizeof(*a));

		if (!a)
			return;	/* progress reaches the store with the next state change */
		d->dirty = a;
		d->dirty_cap = cap;
	}
	d->dirty[d->ndirty++] = j->rec.id;
	j->progress_dirty = true;
}

bool driver_progress_update(struct driver *d, struct drv_job *j)
{
	uint64_t low = UINT64_MAX;

	for (uint32_t i = 0; i < j->lease.nranks; i++)
		if (j->lease.ranks[i].round_end < low)
			low = j->lease.ranks[i].round_end;
	if (j->lease.nranks == 0 || low <= j->rec.rounds_done)
		return false;
	j->lease.progress_at = driver_now();
	j->rec.rounds_done = low < j->rec.rounds_total ? low : j->rec.rounds_total;
	drv_dirty_mark(d, j);
	if (j->rec.rounds_done < j->rec.rounds_total)
		return false;
	driver_job_finish(d, j, STORE_DONE, "all rounds done");
	return true;
}

/* Learn from rank 0's measured round time (profile seconds): the job's
 * speed model (wall seconds, as plans use) and, on a one-type lease of a job
 * of the model's default sizes, the (model, type) ratio measured / profiled
 * that new jobs start from. */
static void drv_speed_learn(struct driver *d, struct drv_job *j, const Hare__RoundReport *r)
{
	double measured = (r->compute_s + r->sync_s) / r->round_count, busiest = 0, obs;
	int32_t type = -1;
	bool spread = false, one_type = true;
	size_t k;

	if (!(measured > 0) || !isfinite(measured) || j->lease.guessed || !(j->lease.round_s > 0))
		return;
	for (uint32_t i = 0; i < j->lease.nranks; i++) {
		const struct drv_rank *rk = &j->lease.ranks[i];
		int32_t t = d->nodes[rk->node].gpus[rk->slot].type;

		busiest = fmax(busiest, rk->tasks * j->perf.compute_s[t]);
		spread |= rk->node != j->lease.ranks[0].node;
		one_type &= type < 0 || t == type;
		type = t;
	}
	speed_model_observe(&j->speed, busiest, sched_sync_time(&j->perf, j->lease.nranks, spread),
			    j->lease.nranks, measured / d->o.time_scale, r->round_count);
	obs = measured / j->lease.round_s;
	/* a job of its own proxy sizes says nothing of its model's speed, nor
	 * a user's own program, which reports what it likes: the ratios new
	 * jobs of every user start from learn from the built-in worker (and
	 * root's programs) only */
	if (!one_type || type < 0 || !(obs > 0.1 && obs < 10) || j->rec.proxy[0] ||
	    (j->rec.command[0] && strcmp(j->rec.user, "root") != 0))
		return;
	k = (size_t)j->model * d->ntypes + (size_t)type;
	d->ratio[k] = (d->ratio[k] * d->ratio_rounds[k] + obs * r->round_count) /
		      (d->ratio_rounds[k] + r->round_count);
	d->ratio_rounds[k] = fmin(d->ratio_rounds[k] + r->round_count, DRV_RATIO_MEMORY);
	d->ratio_dirty[k] = true;
}

void driver_round_report(struct driver *d, uint32_t agent_id, const Hare__RoundReport *r)
{
	struct drv_job *j = driver_job_get(d, r->job_id);
	struct drv_rank *rk = drv_rank_of(d, j, agent_id, r->lease_id, r->rank);
	uint64_t end;

	if (!rk && driver_adopt_report(d, j, agent_id - 1, r))
		return;		/* accounted once the lease is adopted */
	if (!rk || r->round_count == 0) {
		d->reports_ignored++;
		log_debug("round report job=%" PRIu64 " lease=%" PRIu64 " rank=%u: no such lease, "
			  "ignored", r->job_id, r->lease_id, r->rank);
		return;
	}
	d->reports++;
	end = r->round_first + r->round_count;
	if (end > j->rec.rounds_total)
		end = j->rec.rounds_total;
	if (end > rk->round_end)
		rk->round_end = end;
	if (r->rank == 0) {
		if (r->has_loss)
			j->rec.loss = r->loss;
		drv_speed_learn(d, j, r);
	}
	driver_progress_update(d, j);
}

void driver_job_avoid_add(struct driver *d, struct drv_job *j, uint32_t node, double until)
{
	uint32_t k = 0;

	if (!(d->o.failed_node_avoid_s > 0))
		return;
	while (k < j->navoid && j->avoid[k].node != node)
		k++;
	if (k == j->navoid && j->navoid < DRIVER_AVOID_MAX)
		j->navoid++;
	else if (k == j->navoid)
		for (uint32_t i = k = 0; i < j->navoid; i++)
			if (j->avoid[i].until < j->avoid[k].until)
				k = i;
	j->avoid[k] = (struct drv_avoid){ .node = node, .until = until };
}

bool driver_job_avoid_spare(struct driver *d, struct drv_job *j, uint32_t node, double until)
{
	double now = driver_now();
	uint32_t k = 0;

	if (!(d->o.failed_node_avoid_s > 0))
		return false;
	for (uint32_t a = 0; a < j->navoid; a++)
		if (j->avoid[a].node == node && j->avoid[a].until > now)
			return false;	/* avoided already, on its own account */
	while (k < j->navoid && j->avoid[k].until > now)
		k++;
	if (k == j->navoid) {
		if (j->navoid == DRIVER_AVOID_MAX)
			return false;	/* no room but what real failures hold */
		j->navoid++;
	}
	j->avoid[k] = (struct drv_avoid){ .node = node, .until = until };
	return true;
}

uint32_t driver_node_failures(const struct driver *d, uint32_t i)
{
	double since = driver_now() - DRIVER_FAIL_WINDOW_S;
	uint32_t n = 0, idx[DRIVER_NODE_SUSPECTS];

	for (uint32_t k = 0; i < d->nnodes && k < DRIVER_NODE_FAILS; k++)
		n += d->nodes[i].fail_at[k] > 0 && d->nodes[i].fail_at[k] >= since;
	return n + (i < d->nnodes ? driver_node_singled(d, i, idx) : 0);
}

uint32_t driver_job_avoids(const struct driver *d, const struct drv_job *j, uint32_t *out)
{
	double now = driver_now();
	uint32_t n = 0, usable = 0;

	for (uint32_t k = 0; k < j->navoid; k++)
		if (j->avoid[k].until > now && j->avoid[k].node < d->nnodes &&
		    d->nodes[j->avoid[k].node].name[0])
			out[n++] = j->avoid[k].node;
	/* GPUs it may use off those nodes: fewer than its min_gpus, and it
	 * goes where it can rather than wait for GPUs that are not there */
	for (uint32_t i = 0; i < d->nnodes && n > 0; i++) {
		const struct drv_node *nd = &d->nodes[i];
		bool avoided = false;

		for (uint32_t k = 0; k < n && !avoided; k++)
			avoided = out[k] == i;
		if (avoided || !nd->up || nd->drained || nd->unhealthy)
			continue;
		for (uint32_t g = 0; g < nd->ngpus; g++)
			usable += nd->gpus[g].type >= 0 && !nd->gpus[g].measuring &&
				  j->perf.compute_s[nd->gpus[g].type] > 0;
	}
	return n > 0 && usable >= (j->rec.min_gpus ? j->rec.min_gpus : 1) ? n : 0;
}

/* Rank rk of j's lease failed because a peer rank or the network did (its
 * exit code says so), or for a reason nobody knows (no exit code: a worker
 * an agent adopted), and the lease has a rank on another node to blame; on
 * its node alone, its node is the one to charge all the same. */
static bool drv_exit_peer(const struct drv_job *j, const struct drv_rank *rk,
			  const Hare__TaskExit *x)
{
	if (x->has_exit_code && x->exit_code != REPORT_EXIT_PEER)
		return false;
	for (uint32_t i = 0; i < j->lease.nranks; i++)
		if (j->lease.ranks[i].node != rk->node)
			return true;
	return false;
}

/* A worker of job (j, NULL once the job ended) of user failed on node by
 * itself: the job avoids the node, the node's failure ring counts it, and
 * the quarantine may drain the node. */
static void drv_node_charge(struct driver *d, struct drv_job *j, uint32_t node, uint64_t job,
			    const char *user)
{
	if (j)
		driver_job_avoid_add(d, j, node, driver_now() + d->o.failed_node_avoid_s);
	if (node < d->nnodes) {
		driver_node_fail_note(&d->nodes[node], driver_now(), job, user);
		driver_node_quarantine(d, node);
	}
}

/* Append " A, B, C", the names of node[0..n) (forgotten ones left out), to
 * buf of len bytes, used of them so far; the new length, which may reach
 * len (the text cut short). */
static size_t drv_node_names(const struct driver *d, const uint32_t *node, uint32_t n, char *buf,
			     size_t len, size_t used)
{
	bool first = true;

	for (uint32_t i = 0; i < n && used < len; i++) {
		if (node[i] >= d->nnodes || !d->nodes[node[i]].name[0])
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s %s", first ? "" : ",",
					 d->nodes[node[i]].name);
		first = false;
	}
	return used;
}

/* A free (or expired and noted) entry of d->unblamed, or NULL. */
static struct drv_unblamed *drv_unblamed_free(struct driver *d)
{
	for (uint32_t k = 0; k < DRIVER_UNBLAMED_MAX; k++)
		if (!(d->unblamed[k].until > 0))
			return &d->unblamed[k];
	return NULL;
}

/* Fill u: job's lease on node[0..nnode) (0: not known) failed at failed_at;
 * it waits for its culprit until failed_at + DRIVER_BLAME_WAIT_S, and the
 * job (j, when active) keeps off those nodes meanwhile, where it has room. */
static void drv_unblamed_set(struct driver *d, struct drv_unblamed *u, struct drv_job *j,
			     uint64_t job, uint64_t lease, const uint32_t *node, uint32_t nnode,
			     double failed_at, const char *user)
{
	*u = (struct drv_unblamed){ .job = job, .lease = lease, .nodes = nnode ? 0 : UINT64_MAX,
				    .nnode = nnode <= DRIVER_SUSPECT_NODES ? nnode : 0,
				    .until = failed_at + DRIVER_BLAME_WAIT_S };
	snprintf(u->user, sizeof(u->user), "%s", user);
	for (uint32_t k = 0; k < nnode; k++)
		u->nodes |= 1ull << (node[k] % 64);
	/* the culprit is among them: keep off all until it is known */
	for (uint32_t k = 0; k < u->nnode; k++) {
		u->node[k] = node[k];
		if (j && driver_job_avoid_spare(d, j, node[k], failed_at + d->o.failed_node_avoid_s))
			u->avoided |= 1u << k;
	}
	driver_deadline_arm(d, u->until);
}

/* A failure of job's lease that charged no node: the first rank of it that
 * then fails by itself, on one of its nodes (nnode of node[]; 0: any node),
 * is charged (drv_late_blame). Meanwhile the job avoids all of them, when
 * they are at most DRIVER_SUSPECT_NODES (driver_job_avoid_spare). A free
 * or expired entry is taken first; the oldest one waiting gives way, with a
 * warning, when all are waiting. */
static void drv_unblamed_add(struct driver *d, struct drv_job *j, uint64_t lease,
			     const uint32_t *node, uint32_t nnode)
{
	double now = driver_now();
	struct drv_unblamed *u;

	driver_unblamed_expire(d, now);
	u = drv_unblamed_free(d);
	if (!u) {
		u = &d->unblamed[d->unblamed_next];
		d->unblamed_next = (d->unblamed_next + 1) % DRIVER_UNBLAMED_MAX;
		log_warn("job=%" PRIu64 " lease=%" PRIu64 ": more than %d peer failures wait for the "
			 "rank that failed by itself; that lease's culprit will not be charged",
			 u->job, u->lease, DRIVER_UNBLAMED_MAX);
	}
	drv_unblamed_set(d, u, j, j->rec.id, lease, node, nnode, now, j->rec.user);
	d->peer_failures++;
}

void driver_unblamed_restore(struct driver *d, uint64_t job, uint64_t lease, const uint32_t *node,
			     uint32_t nnode, double failed_at, const char *user)
{
	struct drv_unblamed *u = drv_unblamed_free(d);

	if (u && nnode >= 2 && nnode <= DRIVER_SUSPECT_NODES)
		drv_unblamed_set(d, u, driver_job_get(d, job), job, lease, node, nnode, failed_at,
				 user);
}

/* The leases of unblamed entries past their wait: each node of one
 * (when known) notes a suspect failure with the others as its peers, and
 * the job's history says so ("unexplained", read back at a restart). */
double driver_unblamed_expire(struct driver *d, double now)
{
	double next = INFINITY;

	for (uint32_t k = 0; k < DRIVER_UNBLAMED_MAX; k++) {
		struct drv_unblamed *u = &d->unblamed[k];
		char why[1024];	/* 8 names of up to 63 bytes fit */
		double failed_at;
		size_t len;

		if (!(u->until > 0))
			continue;
		if (u->until > now) {
			next = fmin(next, u->until);
			continue;
		}
		failed_at = u->until - DRIVER_BLAME_WAIT_S;
		u->until = 0;
		if (u->nnode < 2) {
			log_debug("job=%" PRIu64 " lease=%" PRIu64 ": no rank failed by itself after "
				  "its peer failure; its nodes are not known", u->job, u->lease);
			continue;
		}
		d->unexplained++;
		len = (size_t)snprintf(why, sizeof(why), "no culprit: lease %" PRIu64 " on nodes",
				       u->lease);
		len = drv_node_names(d, u->node, u->nnode, why, sizeof(why), len);
		for (uint32_t i = 0; i < u->nnode; i++) {
			uint32_t peer[DRIVER_SUSPECT_NODES], np = 0;

			for (uint32_t p = 0; p < u->nnode; p++)
				if (p != i)
					peer[np++] = u->node[p];
			if (u->node[i] < d->nnodes && d->nodes[u->node[i]].name[0])
				driver_node_suspect_note(&d->nodes[u->node[i]], failed_at, u->job,
							 u->user, peer, np);
		}
		if (len < sizeof(why))
			snprintf(why + len, sizeof(why) - len, " ended in a peer failure, and no rank "
				 "of it failed by itself within %.0f s", DRIVER_BLAME_WAIT_S);
		if (d->st)
			store_event(d->st, now, u->job, "unexplained", why);
		log_warn("job=%" PRIu64 ": %s; its nodes note a suspect failure (charged to the "
			 "one node such failures have in common)", u->job, why);
		for (uint32_t i = 0; i < u->nnode; i++)
			driver_node_quarantine(d, u->node[i]);
	}
	return next;
}

/* j's lease failed (why says how): FAILED after max_retries failures, else
 * queued again, after the backoff. */
static void drv_fail_requeue(struct driver *d, struct drv_job *j, const char *why)
{
	if (j->failures > d->o.max_retries) {
		char final[1200];

		snprintf(final, sizeof(final), "%s; %u failure%s, giving up", why, j->failures,
			 j->failures == 1 ? "" : "s");
		driver_job_finish(d, j, STORE_FAILED, final);
		return;
	}
	if (d->o.retry_backoff_s > 0) {
		/* a broken node or a passing fault: wait before the next lease
		 * (10, 20, 40 ... s) instead of spending every retry at once,
		 * perhaps on the same GPU; others may take it meanwhile */
		double wait = fmin(d->o.retry_backoff_s * ldexp(1.0, (int)fmin(j->failures - 1, 30)),
				   DRIVER_RETRY_MAX_S);

		j->retry_at = driver_now() + wait;
		driver_deadline_arm(d, j->retry_at);
	}
	driver_job_requeue(d, j, "fail", why);
}

/* An exit that shows its worker failed by itself: a failure with an exit
 * code other than REPORT_EXIT_PEER, or a stopped worker that crashed (a
 * signal no stop sends) while its stop was under way. */
static bool drv_exit_own_failure(const Hare__TaskExit *x)
{
	int sig = x->exit_code - 128;

	if (!x->has_exit_code || x->exit_code == REPORT_EXIT_PEER)
		return false;
	if (x->status == HARE__TASK_STATUS__TASK_FAILED)
		return true;
	return x->status == HARE__TASK_STATUS__TASK_STOPPED &&
	       (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE);
}

/* Another failed lease of job waits for its culprit with the job kept off
 * node on its account. */
static bool drv_unblamed_holds(const struct driver *d, uint64_t job, uint32_t node)
{
	for (uint32_t k = 0; k < DRIVER_UNBLAMED_MAX; k++) {
		const struct drv_unblamed *w = &d->unblamed[k];

		if (!(w->until > 0) || w->job != job)
			continue;
		for (uint32_t i = 0; i < w->nnode; i++)
			if (w->node[i] == node && (w->avoided & (1u << i)))
				return true;
	}
	return false;
}

/* "exit code E" and the agent's message, without saying the code twice:
 * "exit code 3; last output: X" for "exited with code 3; last output: X",
 * "exit code 75: a peer rank or the network failed" for "exited with code
 * 75 (a peer rank or the network failed)", else "exit code E: MESSAGE". */
static void drv_exit_words(const Hare__TaskExit *x, char *buf, size_t len)
{
	const char *m = x->message ? x->message : "", *close;
	char said[40];
	size_t n;

	if (!x->has_exit_code) {
		snprintf(buf, len, "no exit code%s%.420s", m[0] ? ": " : "", m);
		return;
	}
	n = (size_t)snprintf(said, sizeof(said), "exited with code %d", x->exit_code);
	close = strncmp(m, said, n) == 0 && m[n] == ' ' && m[n + 1] == '(' ? strchr(m + n, ')') : NULL;
	if (strncmp(m, said, n) == 0 && (m[n] == '\0' || m[n] == ';'))
		snprintf(buf, len, "exit code %d%.420s", x->exit_code, m + n);
	else if (close)	/* "exited with code 75 (why)..." */
		snprintf(buf, len, "exit code %d: %.*s%.420s", x->exit_code,
			 (int)(close - (m + n + 2)), m + n + 2, close + 1);
	else
		snprintf(buf, len, "exit code %d%s%.420s", x->exit_code, m[0] ? ": " : "", m);
}

/* An exit of a lease that is no longer current, from the agent of node:
 * when a peer failure ended that lease without charging a node
 * (d->unblamed) and this rank failed by itself, its node is charged now,
 * and a next lease of the job waiting to start there is planned again.
 * True when it was. */
static bool drv_late_blame(struct driver *d, struct drv_job *j, uint32_t node,
			   const Hare__TaskExit *x)
{
	double now = driver_now();
	struct drv_unblamed *u = NULL;
	char why[640], code[480];

	if (!drv_exit_own_failure(x) || node >= d->nnodes)
		return false;
	for (uint32_t k = 0; k < DRIVER_UNBLAMED_MAX && !u; k++)
		if (d->unblamed[k].until > now && d->unblamed[k].job == x->job_id &&
		    d->unblamed[k].lease == x->lease_id &&
		    (d->unblamed[k].nodes & (1ull << (node % 64))))
			u = &d->unblamed[k];
	if (!u)
		return false;
	u->until = 0;	/* one node per failure, as when it reports first */
	d->late_blames++;
	/* the others were not the cause: the job may use them again, unless
	 * another of its failed leases still waits for its culprit there */
	for (uint32_t k = 0; j && k < u->nnode; k++) {
		if (!(u->avoided & (1u << k)) || u->node[k] == node ||
		    drv_unblamed_holds(d, j->rec.id, u->node[k]))
			continue;
		for (uint32_t a = 0; a < j->navoid; a++)
			if (j->avoid[a].node == u->node[k])
				j->avoid[a].until = 0;
	}
	drv_node_charge(d, j, node, u->job, u->user);
	for (uint32_t k = 0; j && j->pend && k < j->npend; k++) {
		if (j->pend[k].node == node) {
			driver_pend_drop(d, j);
			driver_replan_request(d);
			break;
		}
	}
	drv_exit_words(x, code, sizeof(code));
	snprintf(why, sizeof(why), "rank %u on node %s failed (%s) after a peer's failure had ended "
		 "the lease", x->rank, d->nodes[node].name, code);
	if (d->st)
		store_event(d->st, now, x->job_id, "blame", why);
	log_warn("job=%" PRIu64 " lease=%" PRIu64 ": %s; node %s charged", x->job_id, x->lease_id,
		 why, d->nodes[node].name);
	return true;
}

/* A worker failure in words: "rank R on node N GPU G failed (exit code E:
 * MESSAGE)" (gpu < 0: no GPU; when after "failed"), or, when no node is
 * charged (peer), "peer failure: rank ... lost a peer (...); its node is not
 * charged" or "failure of unknown cause: rank ... ended (no exit code ...)".
 * Only a charged failure's text starts "rank R on node N": a restarted
 * hared counts those (drv_fail_loaded). */
static void drv_fail_text(const struct driver *d, uint32_t node, int gpu, const char *when,
			  bool peer, const Hare__TaskExit *x, char *why, size_t len)
{
	char code[480], at[24] = "";

	drv_exit_words(x, code, sizeof(code));
	if (gpu >= 0)
		snprintf(at, sizeof(at), " GPU %d", gpu);
	snprintf(why, len, "%srank %u on node %s%s %s%s (%s)%s",
		 !peer ? "" : x->has_exit_code ? "peer failure: " : "failure of unknown cause: ",
		 x->rank, d->nodes[node].name, at,
		 !peer ? "failed" : x->has_exit_code ? "lost a peer" : "ended", when, code,
		 peer ? "; its node is not charged" : "");
}

/* The task's prolog failed (TaskExit.prolog_failed): no worker ran. */
static bool drv_exit_prolog_failed(const Hare__TaskExit *x)
{
	return x->has_prolog_failed && x->prolog_failed && x->status == HARE__TASK_STATUS__TASK_FAILED;
}

/* j's lease ends, its worker on node never having run: its prolog failed,
 * the node's fault (with node_fault: driver_node_fault drained it), or was
 * cut short by the agent's stop; not the job's. The job is queued again, no
 * failure counted, no backoff. */
static void drv_prolog_requeue(struct driver *d, struct drv_job *j, uint32_t node,
			       const Hare__TaskExit *x)
{
	char why[600];

	snprintf(why, sizeof(why), "not run on node %s (rank %u): %.400s; %sthe job is not charged",
		 d->nodes[node].name, x->rank,
		 x->message && x->message[0] ? x->message : "its prolog failed",
		 x->node_fault && x->node_fault[0] ? "the node is drained, " : "");
	driver_job_requeue(d, j, "requeue", why);
}

static void drv_exit_failed(struct driver *d, struct drv_job *j, const struct drv_rank *rk,
			    const Hare__TaskExit *x)
{
	bool peer = drv_exit_peer(j, rk, x);
	char why[1100];
	uint32_t n = 0, nodes[DRIVER_MAX_GPUS] = { 0 };	/* a lease has at most so many ranks */

	if (drv_exit_prolog_failed(x)) {
		drv_prolog_requeue(d, j, rk->node, x);
		return;
	}
	j->failures++;
	d->worker_failures++;
	/* believed of a worker that never ran: no exit code, no round */
	if (x->has_no_account && x->no_account && !x->has_exit_code &&
	    !(x->has_rounds_done && x->rounds_done > 0)) {
		/* its owner has no account there: the job's matter, not the
		 * node's; the job keeps off it a while, the node is not charged
		 * (no text "rank R on node N": not after a restart either) */
		driver_job_avoid_add(d, j, rk->node, driver_now() + d->o.failed_node_avoid_s);
		snprintf(why, sizeof(why), "not started on node %s (rank %u): %.400s; its node is not "
			 "charged", d->nodes[rk->node].name, x->rank,
			 x->message && x->message[0] ? x->message : "its owner has no account there");
		drv_fail_requeue(d, j, why);
		return;
	}
	if (peer) {
		/* the rank that failed by itself, when it reports, is charged
		 * (drv_late_blame); a partition charges nobody */
		for (uint32_t i = 0; i < j->lease.nranks && i < DRIVER_MAX_GPUS; i++) {
			uint32_t k = 0;

			while (k < n && nodes[k] != j->lease.ranks[i].node)
				k++;
			if (k == n)
				nodes[n++] = j->lease.ranks[i].node;
		}
		drv_unblamed_add(d, j, j->lease.id, nodes, n);
	} else {
		drv_node_charge(d, j, rk->node, j->rec.id, j->rec.user);
	}
	drv_fail_text(d, rk->node, (int)d->nodes[rk->node].gpus[rk->slot].index, "", peer, x, why,
		      sizeof(why));
	if (n >= 2 && n <= DRIVER_SUSPECT_NODES) {
		/* the lease's nodes: a restarted hared waits for its culprit
		 * (driver_unblamed_restore) */
		size_t len = strlen(why);

		len += (size_t)snprintf(why + len, sizeof(why) - len, " (lease %" PRIu64 " on nodes",
					j->lease.id);
		len = drv_node_names(d, nodes, n, why, sizeof(why), len);
		if (len < sizeof(why))
			snprintf(why + len, sizeof(why) - len, ")");
	}
	drv_fail_requeue(d, j, why);
}

/* The longest any of the lease's nodes lets a prolog run (0: none). */
static double drv_lease_prolog_s(const struct driver *d, const struct drv_job *j)
{
	double s = 0;

	for (uint32_t i = 0; i < j->lease.nranks; i++)
		if (j->lease.ranks[i].node < d->nnodes)
			s = fmax(s, d->nodes[j->lease.ranks[i].node].prolog_s);
	return s;
}

void driver_stall_check(struct driver *d, double now)
{
	double limit_s = d->o.stall_timeout_s, ts = d->o.time_scale > 0 ? d->o.time_scale : 1;

	uint64_t stalled[64];
	uint32_t n = 0;

	if (!(limit_s > 0))
		return;
	/* ids first: a job that gives up leaves the job table */
	for (uint32_t k = 0; k < d->njobs && n < sizeof(stalled) / sizeof(stalled[0]); k++) {
		const struct drv_job *j = d->jobs[k];
		double allowed;

		if (!j->lease.id || j->lease.unsent || j->adopt_wait || j->pend ||
		    j->rec.state != STORE_RUNNING || !(j->lease.progress_at > 0))
			continue;
		/* at least DRIVER_STALL_ROUNDS of its rounds, and its restore;
		 * before its first round, its nodes' prologs too */
		allowed = fmax(limit_s, DRIVER_STALL_ROUNDS * j->lease.round_s / ts) +
			  j->lease.restart_s / ts;
		if (j->rec.rounds_done <= j->lease.round_first)
			allowed += drv_lease_prolog_s(d, j);
		if (now - j->lease.progress_at > allowed)
			stalled[n++] = j->rec.id;
	}
	for (uint32_t k = 0; k < n; k++) {
		struct drv_job *j = driver_job_get(d, stalled[k]);
		double quiet;
		char why[600];
		size_t len;

		if (!j)
			continue;
		quiet = now - j->lease.progress_at;
		j->failures++;
		d->worker_failures++;
		/* charged to no node: a hang may be the job's own (a deadlock,
		 * an all-reduce waiting for a rank that hung) */
		len = (size_t)snprintf(why, sizeof(why), "no progress: no round for %.0f s after round "
				       "%" PRIu64 " (stall_timeout_s %g) on node", quiet,
				       j->rec.rounds_done, limit_s);
		for (uint32_t i = 0; i < j->lease.nranks && len < sizeof(why); i++) {
			uint32_t node = j->lease.ranks[i].node;
			bool seen = false;

			for (uint32_t q = 0; q < i && !seen; q++)
				seen = j->lease.ranks[q].node == node;
			if (!seen && node < d->nnodes)
				len += (size_t)snprintf(why + len, sizeof(why) - len, "%s %s",
							i ? "," : "", d->nodes[node].name);
		}
		if (len < sizeof(why))
			snprintf(why + len, sizeof(why) - len, "; its workers were stopped (hung?)");
		log_warn("job=%" PRIu64 " lease=%" PRIu64 ": %s", j->rec.id, j->lease.id, why);
		drv_fail_requeue(d, j, why);
	}
}

/* Rank rk of j's current lease ended cleanly (done before the last round,
 * or stopped though nobody asked) without the lease making progress: a
 * program that would end so at every start. It counts as a failure (the
 * backoff, max_retries), charged to no node. */
static void drv_exit_idle(struct driver *d, struct drv_job *j, const struct drv_rank *rk,
			  const Hare__TaskExit *x, const char *how)
{
	char why[600];

	j->failures++;
	d->worker_failures++;
	/* not "rank R on node N ...": no node is charged, now or after a restart */
	snprintf(why, sizeof(why), "no progress: rank %u on node %s GPU %u %s at round %" PRIu64
		 " of %" PRIu64 "%s%.400s", x->rank, d->nodes[rk->node].name,
		 d->nodes[rk->node].gpus[rk->slot].index, how, rk->round_end, j->rec.rounds_total,
		 x->message ? ": " : "", x->message ? x->message : "");
	drv_fail_requeue(d, j, why);
}

/* A worker of the lease job j ran before hared's restart (j->adopt_wait)
 * failed, from node, before the lease could be adopted: the same failure as
 * in a current lease (counted, its node charged unless a peer failed or
 * the cause is unknown, as the lease's nodes are not known yet), and the
 * job stops waiting: its other workers are stopped. */
static void drv_adopt_failed(struct driver *d, struct drv_job *j, uint32_t node,
			     const Hare__TaskExit *x)
{
	bool peer = !x->has_exit_code || x->exit_code == REPORT_EXIT_PEER;
	bool prolog = drv_exit_prolog_failed(x);
	char why[600];

	if (!prolog) {
		j->failures++;
		d->worker_failures++;
	}
	j->adopt_wait = false;
	/* workers of it were back: it ran until they are stopped, now */
	if (j->adopt && d->st)
		store_usage_until(d->st, j->rec.id, j->adopt_lease, driver_now());
	driver_adopt_stop(d, j, "a worker of the lease failed");
	driver_adopt_drop(d, j);
	driver_attained_load(d, j, 0);	/* its last lease ended as the store has it */
	if (prolog) {
		drv_prolog_requeue(d, j, node, x);	/* the node's fault: drained */
	} else {
		if (peer)
			drv_unblamed_add(d, j, x->lease_id, NULL, 0);	/* its nodes are not known */
		else
			drv_node_charge(d, j, node, j->rec.id, j->rec.user);
		drv_fail_text(d, node, -1, " while hared restarted", peer, x, why, sizeof(why));
		drv_fail_requeue(d, j, why);
	}
	driver_adopt_maybe_done(d);
}

/* Rank 0 of the job's stopped lease exited after a whole round (a real
 * worker checkpoints it): what it finished counts, so the next lease,
 * which waits for this exit, starts from there instead of redoing it.
 * True when that finished the job (j is freed then). */
static bool drv_prev_credit(struct driver *d, struct drv_job *j, const Hare__TaskExit *x)
{
	uint64_t end;

	if (!j || j->lease.id || x->lease_id != j->prev_lease || x->rank != 0 || !x->has_rounds_done ||
	    (x->status != HARE__TASK_STATUS__TASK_STOPPED && x->status != HARE__TASK_STATUS__TASK_OK))
		return false;
	end = x->rounds_done < j->rec.rounds_total - j->prev_first ? j->prev_first + x->rounds_done :
	      j->rec.rounds_total;
	j->prev_lease = 0;
	if (end <= j->rec.rounds_done)
		return false;
	log_debug("job=%" PRIu64 " lease=%" PRIu64 ": stopped at round %" PRIu64 " (reports had %" PRIu64 ")",
		  j->rec.id, x->lease_id, end, j->rec.rounds_done);
	j->rec.rounds_done = end;
	drv_dirty_mark(d, j);
	if (end < j->rec.rounds_total)
		return false;
	driver_job_finish(d, j, STORE_DONE, "all rounds done (by a stopped lease)");
	return true;
}

/* Rank 0 of the lease job j ran before hared's restart (j->adopt_wait)
 * ended while hared was away, done or stopped after whole rounds, and its
 * agent says from which round it counted (TaskExit.round_first): what it
 * finished counts, as for a stopped lease, so a lease that ran to its last
 * round is not run again. True when that finished the job (j is freed). */
static bool drv_adopt_ended(struct driver *d, struct drv_job *j, const Hare__TaskExit *x)
{
	uint64_t end;

	if (!j || !j->adopt_wait || x->rank != 0 || !x->has_rounds_done || !x->has_round_first ||
	    x->round_first > j->rec.rounds_total ||
	    (x->lease_id != j->run_lease && !(j->adopt && x->lease_id == j->adopt_lease)) ||
	    (x->status != HARE__TASK_STATUS__TASK_STOPPED && x->status != HARE__TASK_STATUS__TASK_OK))
		return false;
	end = x->rounds_done < j->rec.rounds_total - x->round_first ? x->round_first + x->rounds_done :
	      j->rec.rounds_total;
	if (end <= j->rec.rounds_done)
		return false;
	log_info("job=%" PRIu64 " lease=%" PRIu64 ": its worker ended at round %" PRIu64 " while hared "
		 "restarted (stored progress: %" PRIu64 ")", j->rec.id, x->lease_id, end,
		 j->rec.rounds_done);
	j->rec.rounds_done = end;
	drv_dirty_mark(d, j);
	if (end < j->rec.rounds_total)
		return false;
	driver_job_finish(d, j, STORE_DONE, "all rounds done (its worker ended while hared restarted)");
	driver_adopt_maybe_done(d);
	return true;
}

void driver_task_exit(struct driver *d, uint32_t agent_id, const Hare__TaskExit *x)
{
	struct drv_job *j = driver_job_get(d, x->job_id);
	struct drv_rank *rk = drv_rank_of(d, j, agent_id, x->lease_id, x->rank);
	Hare__TaskExit clean;
	char msg[480];
	bool gone;

	/* the agent's text, as hared keeps and relays it (events, show, stop
	 * reasons): one clean line, whatever the agent sent */
	if (x->message) {
		clean = *x;
		utf8_text_clean(x->message, strlen(x->message), msg, sizeof(msg));
		clean.message = msg;
		x = &clean;
	}

	/* first: the requeue below must not plan the job on that node again */
	if (agent_id >= 1)
		driver_node_fault(d, agent_id - 1, x);
	gone = !rk && (drv_prev_credit(d, j, x) || drv_adopt_ended(d, j, x));
	/* before the GPU is cleared: a lease of the job waiting for it must
	 * not start on the node this exit charges */
	bool blamed = !rk && drv_late_blame(d, gone ? NULL : j, agent_id - 1, x);

	if (driver_vacate_clear(d, agent_id - 1, x->job_id, x->lease_id, x->rank)) {
		driver_after_vacated(d);	/* a DONE job's last worker may be gone */
		driver_pend_try(d);		/* a lease may have waited for its GPU */
	}
	if (gone || blamed)
		return;
	if (!rk && j && j->adopt_wait && x->status == HARE__TASK_STATUS__TASK_FAILED &&
	    agent_id - 1 < d->nnodes &&
	    (x->lease_id == j->run_lease || (j->adopt && x->lease_id == j->adopt_lease))) {
		drv_adopt_failed(d, j, agent_id - 1, x);
		return;
	}
	if (!rk && driver_adopt_exit(d, j, agent_id - 1, x))
		return;
	if (!rk) {
		log_debug("task exit job=%" PRIu64 " lease=%" PRIu64 " rank=%u: not current, ignored",
			  x->job_id, x->lease_id, x->rank);
		return;
	}
	rk->exited = true;
	/* round_first <= rounds_total; a guessed one may be too high */
	if (x->has_rounds_done && !j->lease.guessed) {
		uint64_t left = j->rec.rounds_total - j->lease.round_first;
		uint64_t end = x->rounds_done < left ? j->lease.round_first + x->rounds_done :
			       j->rec.rounds_total;

		if (end > rk->round_end)
			rk->round_end = end;
	}
	if (driver_progress_update(d, j))
		return;
	switch (x->status) {
	case HARE__TASK_STATUS__TASK_OK:
		if (rk->round_end >= j->rec.rounds_total) {
			/* its part is done; the other ranks finish the last rounds */
			driver_hold_check(d, j);
			return;
		}
		if (j->rec.rounds_done <= j->lease.round_first) {
			drv_exit_idle(d, j, rk, x, "said it was done");
			return;
		}
		driver_job_requeue(d, j, "requeue", "a worker ended before its last round");
		return;
	case HARE__TASK_STATUS__TASK_STOPPED:
		if (j->rec.rounds_done <= j->lease.round_first) {
			drv_exit_idle(d, j, rk, x, "stopped unasked");
			return;
		}
		driver_job_requeue(d, j, "requeue", "a worker was stopped by its agent");
		return;
	default:
		drv_exit_failed(d, j, rk, x);
		return;
	}
}

void driver_rendezvous(struct driver *d, uint32_t agent_id, const Hare__Rendezvous *r)
{
	struct drv_job *j = driver_job_get(d, r->job_id);
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	bool member = false;

	if (!j || j->lease.id != r->lease_id)
		return;
	for (uint32_t i = 0; i < j->lease.nranks; i++)
		member |= d->nodes[j->lease.ranks[i].node].agent_id == agent_id;
	if (!member) {
		log_warn("job=%" PRIu64 " lease=%" PRIu64 ": rendezvous from agent %u, which runs "
			 "no rank of the lease, dropped", r->job_id, r->lease_id, agent_id);
		return;
	}
	/* agents refuse the same; relaying what nobody accepts helps no one */
	if (r->data.len == 0 || r->data.len > sizeof(j->lease.rdv)) {
		log_warn("job=%" PRIu64 " lease=%" PRIu64 ": rendezvous of %zu bytes from agent %u"
			 " dropped (1 to %zu bytes)", r->job_id, r->lease_id, r->data.len, agent_id,
			 sizeof(j->lease.rdv));
		return;
	}
	memcpy(j->lease.rdv, r->data.data, r->data.len);
	j->lease.rdv_len = (uint16_t)r->data.len;
	m.msg_case = HARE__FROM_DAEMON__MSG_RENDEZVOUS;
	m.rendezvous = (Hare__Rendezvous *)r;
	for (uint32_t i = 0; i < j->lease.nranks; i++) {
		uint32_t node = j->lease.ranks[i].node;
		bool dup = false;

		for (uint32_t k = 0; k < i && !dup; k++)
			dup = j->lease.ranks[k].node == node;
		if (!dup && d->nodes[node].attached)
			d->send(d->send_user, d->nodes[node].agent_id, &m);
	}
}

void driver_rendezvous_resend(struct driver *d, uint32_t node)
{
	if (node >= d->nnodes || !d->nodes[node].attached)
		return;
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
		Hare__Rendezvous r = HARE__RENDEZVOUS__INIT;
		bool here = false;

		if (!j->lease.id || !j->lease.rdv_len)
			continue;
		for (uint32_t k = 0; k < j->lease.nranks && !here; k++)
			here = j->lease.ranks[k].node == node && !j->lease.ranks[k].exited;
		if (!here)
			continue;
		r.job_id = j->rec.id;
		r.lease_id = j->lease.id;
		r.data.data = j->lease.rdv;
		r.data.len = j->lease.rdv_len;
		m.msg_case = HARE__FROM_DAEMON__MSG_RENDEZVOUS;
		m.rendezvous = &r;
		d->send(d->send_user, d->nodes[node].agent_id, &m);
	}
}

void driver_store_sync(struct driver *d)
{
	size_t n = (size_t)d->nmodels * d->ntypes;

	if (driver_now() - d->usage_synced >= DRIVER_USAGE_SYNC_S)
		driver_usage_sync(d);
	for (uint32_t i = 0; i < d->ndirty; i++) {
		struct drv_job *j = driver_job_get(d, d->dirty[i]);

		if (!j || !j->progress_dirty)
			continue;
		j->progress_dirty = false;
		if (d->st)
			store_job_progress(d->st, j->rec.id, j->rec.rounds_done, j->rec.loss);
	}
	d->ndirty = 0;
	for (size_t k = 0; k < n; k++) {
		if (!d->ratio_dirty[k])
			continue;
		d->ratio_dirty[k] = false;
		if (d->st)
			store_speed(d->st, profile_model_name(d->prof, (uint32_t)(k / d->ntypes)),
				    d->type_names[k % d->ntypes], d->ratio[k], d->ratio_rounds[k]);
	}
}
