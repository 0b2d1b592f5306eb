/* SPDX-License-Identifier: MIT */
/* What agents report about work: round reports (progress = the lease's
 * slowest rank, loss, speed learning), worker exits (done, stopped; failed
 * ones: driver_blame.c), rendezvous relay, and progress to the store in batches. */
#include "driver_impl.h"

#include "log.h"
#include "profile.h"
#include "utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
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

/* An exit for no current rank of job j (maybe gone) that neither credited
 * nor blamed anything: a failed worker of a lease being adopted after a
 * restart, another exit adoption waits for, or a stray (logged). */
static void drv_exit_not_current(struct driver *d, struct drv_job *j, uint32_t agent_id,
				 const Hare__TaskExit *x)
{
	if (j && j->adopt_wait && x->status == HARE__TASK_STATUS__TASK_FAILED &&
	    agent_id - 1 < d->nnodes &&
	    (x->lease_id == j->run_lease || (j->adopt && x->lease_id == j->adopt_lease))) {
		drv_adopt_failed(d, j, agent_id - 1, x);
		return;
	}
	if (driver_adopt_exit(d, j, agent_id - 1, x))
		return;
	log_debug("task exit job=%" PRIu64 " lease=%" PRIu64 " rank=%u: not current, ignored",
		  x->job_id, x->lease_id, x->rank);
}

/* The rounds rank rk says it finished before it exited count for it. */
static void drv_exit_rounds(const struct drv_job *j, struct drv_rank *rk, const Hare__TaskExit *x)
{
	/* round_first <= rounds_total; a guessed one may be too high */
	if (x->has_rounds_done && !j->lease.guessed) {
		uint64_t left = j->rec.rounds_total - j->lease.round_first;
		uint64_t end = x->rounds_done < left ? j->lease.round_first + x->rounds_done :
			       j->rec.rounds_total;

		if (end > rk->round_end)
			rk->round_end = end;
	}
}

/* Rank rk of job j's current lease exited, the job not finished by it:
 * done with its part, idle, requeued, or failed, by the exit's status. */
static void drv_exit_status(struct driver *d, struct drv_job *j, struct drv_rank *rk,
			    const Hare__TaskExit *x)
{
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

/* A worker's exit (see driver.h): the node's fault record first, then what
 * an earlier lease finished or is blamed for, the GPU it held, and for a
 * current rank its rounds and what becomes of the job. */
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
	if (!rk) {
		drv_exit_not_current(d, j, agent_id, x);
		return;
	}
	rk->exited = true;
	drv_exit_rounds(j, rk, x);
	if (driver_progress_update(d, j))
		return;
	drv_exit_status(d, j, rk, x);
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
