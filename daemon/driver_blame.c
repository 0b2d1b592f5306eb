/* SPDX-License-Identifier: MIT */
/* Failed workers: which node is to blame (charged, kept off by the job, or
 * waited for when a peer failure hides the culprit), failure texts, retries
 * with backoff, and leases that stall. */
#include "driver_impl.h"

#include "log.h"
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

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
bool drv_late_blame(struct driver *d, struct drv_job *j, uint32_t node,
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

void drv_exit_failed(struct driver *d, struct drv_job *j, const struct drv_rank *rk,
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
void drv_exit_idle(struct driver *d, struct drv_job *j, const struct drv_rank *rk,
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
void drv_adopt_failed(struct driver *d, struct drv_job *j, uint32_t node,
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
