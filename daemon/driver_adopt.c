/* SPDX-License-Identifier: MIT */
/* Adoption after a daemon restart: the workers agents list while the grace
 * period runs become candidates of their job's lease, booked on the GPUs
 * they run on; reports and exits meanwhile are held for them; at the end a
 * lease with all its ranks back is the job's lease again, others stop. */
#include "driver_impl.h"

#include "log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void driver_adopt_release(struct driver *d, struct drv_job *j, uint32_t only_node)
{
	if (!j->adopt)
		return;
	for (uint32_t r = 0; r < DRIVER_MAX_GPUS; r++) {
		struct drv_rank *a = &j->adopt[r];

		if (a->node == DRIVER_NO_NODE || (only_node != DRIVER_NO_NODE && a->node != only_node))
			continue;
		if (a->node < d->nnodes && a->slot < d->nodes[a->node].ngpus &&
		    d->nodes[a->node].gpus[a->slot].job_id == j->rec.id)
			d->nodes[a->node].gpus[a->slot].job_id = 0;
		a->node = DRIVER_NO_NODE;
	}
}

void driver_adopt_drop(struct driver *d, struct drv_job *j)
{
	driver_adopt_release(d, j, DRIVER_NO_NODE);
	free(j->adopt);
	j->adopt = NULL;
}

void driver_adopt_stop(struct driver *d, struct drv_job *j, const char *why)
{
	for (uint32_t r = 0; j->adopt && r < DRIVER_MAX_GPUS; r++) {
		const struct drv_rank *a = &j->adopt[r];
		bool dup = false;

		if (a->node == DRIVER_NO_NODE || a->exited)
			continue;
		if (a->node < d->nnodes && a->slot < d->nodes[a->node].ngpus)
			driver_gpu_vacate(d, a->node, a->slot, j->rec.id, j->adopt_lease, r, 0);
		for (uint32_t k = 0; k < r && !dup; k++)
			dup = j->adopt[k].node == a->node && !j->adopt[k].exited;
		if (!dup)
			driver_send_stop(d, a->node, j->rec.id, j->adopt_lease, why);
	}
}

/* Start collecting candidates of lease (newer than any so far). */
static bool drv_adopt_reset(struct driver *d, struct drv_job *j, uint64_t lease)
{
	if (!j->adopt) {
		j->adopt = malloc(DRIVER_MAX_GPUS * sizeof(*j->adopt));
		if (!j->adopt)
			return false;
	} else {
		driver_adopt_stop(d, j, "an older lease");
		driver_adopt_release(d, j, DRIVER_NO_NODE);
		d->reports_ignored += j->adopt_reports;
	}
	for (uint32_t r = 0; r < DRIVER_MAX_GPUS; r++)
		j->adopt[r] = (struct drv_rank){ .node = DRIVER_NO_NODE };
	j->adopt_lease = lease;
	j->adopt_world = 0;
	j->adopt_first = UINT64_MAX;
	j->adopt_exact = true;
	j->adopt_loss = NAN;
	j->adopt_reports = 0;
	return true;
}

/* Does the task fit the job, and what the other candidates of its lease
 * said (world size, first round; 0 and UINT64_MAX: nothing yet)? */
static bool drv_adopt_fits(const struct drv_job *j, const Hare__RunningTask *t, uint32_t world,
			   uint64_t first)
{
	if (t->rank >= DRIVER_MAX_GPUS || t->rank >= j->rec.tasks)
		return false;
	if (t->has_world_size && (t->rank >= t->world_size || t->world_size > j->rec.tasks ||
				  (world && t->world_size != world)))
		return false;
	if (t->has_tasks && (t->tasks == 0 || t->tasks > j->rec.tasks))
		return false;
	if (t->has_round_first && (t->round_first > j->rec.rounds_total ||
				   (first != UINT64_MAX && t->round_first != first)))
		return false;
	return true;
}

static bool drv_gpu_usable(const struct drv_job *j, const struct drv_gpu *g)
{
	return driver_gpu_is_free(g) && g->type >= 0 && j->perf_prof.compute_s[g->type] > 0;
}

/* The slot the task runs on: the GPU it names, or (from an agent that does
 * not say) the node's first free GPU the job can use. -1: none. */
static int drv_adopt_slot(const struct driver *d, const struct drv_job *j, uint32_t node,
			  const Hare__RunningTask *t)
{
	const struct drv_node *n = &d->nodes[node];
	int slot;

	if (t->has_gpu_index) {
		slot = driver_slot_find(d, node, t->gpu_index);
		return slot >= 0 && drv_gpu_usable(j, &n->gpus[slot]) ? slot : -1;
	}
	for (uint32_t k = 0; k < n->ngpus; k++)
		if (drv_gpu_usable(j, &n->gpus[k]))
			return (int)k;
	return -1;
}

bool driver_adopt_add(struct driver *d, struct drv_job *j, uint32_t node,
		      const Hare__RunningTask *t)
{
	bool newer = !j->adopt || t->lease_id > j->adopt_lease;
	struct drv_rank *a;
	int slot;

	if (!newer && t->lease_id < j->adopt_lease)
		return false;	/* a lease older than one already seen */
	if (!drv_adopt_fits(j, t, newer ? 0 : j->adopt_world, newer ? UINT64_MAX : j->adopt_first))
		return false;
	if (newer && !drv_adopt_reset(d, j, t->lease_id))
		return false;
	a = &j->adopt[t->rank];
	if (a->node != DRIVER_NO_NODE)
		return a->node == node;	/* listed again (heartbeat): keep it */
	slot = drv_adopt_slot(d, j, node, t);
	if (slot < 0)
		return false;
	d->nodes[node].gpus[slot].job_id = j->rec.id;
	*a = (struct drv_rank){ .node = node, .slot = (uint32_t)slot,
				.tasks = t->has_tasks ? (uint16_t)t->tasks : 0 };
	if (t->has_world_size)
		j->adopt_world = t->world_size;
	if (t->has_round_first)
		j->adopt_first = t->round_first;
	if (t->has_round_first && t->has_rounds_done &&
	    t->rounds_done <= j->rec.rounds_total - t->round_first)
		a->round_end = t->round_first + t->rounds_done;
	j->adopt_exact &= t->has_gpu_index && t->has_tasks && t->has_world_size &&
			  t->has_round_first;
	return true;
}

/* Every rank of the candidates' lease is back, each having said all. */
static bool drv_adopt_complete(const struct drv_job *j)
{
	if (!j->adopt || !j->adopt_exact || j->adopt_world == 0)
		return false;
	for (uint32_t r = 0; r < j->adopt_world; r++)
		if (j->adopt[r].node == DRIVER_NO_NODE)
			return false;
	return true;
}

void driver_adopt_maybe_done(struct driver *d)
{
	if (!d->grace)
		return;
	for (uint32_t i = 0; i < d->njobs; i++)
		if (d->jobs[i]->adopt_wait && !drv_adopt_complete(d->jobs[i]))
			return;
	log_info("every running lease is back; the grace period ends early");
	driver_grace_end(d);
}

/* The candidate rank behind a report or exit from node, or NULL. */
static struct drv_rank *drv_adopt_rank(struct driver *d, struct drv_job *j, uint32_t node,
				       uint64_t lease, uint32_t rank)
{
	if (!d->grace || !j || !j->adopt_wait || !j->adopt || node >= d->nnodes ||
	    lease != j->adopt_lease ||
	    rank >= DRIVER_MAX_GPUS || j->adopt[rank].node != node)
		return NULL;
	return &j->adopt[rank];
}

bool driver_adopt_report(struct driver *d, struct drv_job *j, uint32_t node,
			 const Hare__RoundReport *r)
{
	struct drv_rank *a = drv_adopt_rank(d, j, node, r->lease_id, r->rank);
	uint64_t end;

	if (!a || r->round_count == 0)
		return false;
	end = r->round_first + r->round_count;
	if (end > j->rec.rounds_total)
		end = j->rec.rounds_total;
	if (end > a->round_end)
		a->round_end = end;
	if (r->rank == 0 && r->has_loss)
		j->adopt_loss = r->loss;
	j->adopt_reports++;
	return true;
}

bool driver_adopt_exit(struct driver *d, struct drv_job *j, uint32_t node,
		       const Hare__TaskExit *x)
{
	struct drv_rank *a = drv_adopt_rank(d, j, node, x->lease_id, x->rank);

	if (!a)
		return false;
	a->exited = true;
	a->status = (uint8_t)x->status;
	/* adopt_first <= rounds_total (drv_adopt_fits) */
	if (x->has_rounds_done && j->adopt_first != UINT64_MAX &&
	    x->rounds_done <= j->rec.rounds_total - j->adopt_first &&
	    j->adopt_first + x->rounds_done > a->round_end)
		a->round_end = j->adopt_first + x->rounds_done;
	return true;
}

/* Tasks per rank when the agents did not say: the heterogeneity-aware split. */
static void drv_adopt_split(struct driver *d, struct drv_job *j, struct drv_rank *ranks,
			    uint32_t n)
{
	struct sched_gpu gpus[DRIVER_MAX_GPUS];
	uint32_t idx[DRIVER_MAX_GPUS] = { 0 };
	uint16_t tasks[DRIVER_MAX_GPUS];
	struct sched_cluster c = { .ntypes = d->ntypes, .nnodes = d->nnodes, .ngpus = n, .gpus = gpus };
	struct sched_job sj = { .tasks = j->rec.tasks, .min_gpus = n, .max_gpus = n, .perf = j->perf };
	uint32_t sum = 0, big = 0;

	for (uint32_t i = 0; i < n; i++) {
		gpus[i] = (struct sched_gpu){ .type = (uint16_t)d->nodes[ranks[i].node].gpus[ranks[i].slot].type,
					      .node = ranks[i].node, .up = true };
		idx[i] = i;
	}
	sched_split_tasks(&c, &sj, idx, n, tasks);
	for (uint32_t i = 0; i < n; i++) {
		if (tasks[i] == 0)
			tasks[i] = 1;
		sum += tasks[i];
		big = tasks[i] > tasks[big] ? i : big;
	}
	while (sum > j->rec.tasks && tasks[big] > 1) {
		tasks[big]--;
		sum--;
	}
	for (uint32_t i = 0; i < n; i++)
		ranks[i].tasks = tasks[i];
}

/* How many ranks the candidates make up, 0 when they cannot be the lease:
 * ranks 0..n-1 without a gap, all of the world size when it is known,
 * within the job's GPU range, and no rank that ended before the last round. */
static uint32_t drv_adopt_count(const struct drv_job *j, const char **why)
{
	uint32_t n = 0, present = 0;

	for (uint32_t k = 0; j->adopt && k < DRIVER_MAX_GPUS; k++) {
		const struct drv_rank *a = &j->adopt[k];

		if (a->node == DRIVER_NO_NODE)
			continue;
		present++;
		n += k == n;
		if (a->exited && (a->status != HARE__TASK_STATUS__TASK_OK ||
				  a->round_end < j->rec.rounds_total)) {
			*why = "a worker of its lease ended while the daemon was away";
			return 0;
		}
	}
	*why = "not running on any agent after the restart";
	if (present == 0)
		return 0;
	/* rank 0 among those missing: n is 0, but the others came back */
	*why = "some workers of its lease did not come back after the restart";
	if (n == 0 || n != present || (j->adopt_world && n != j->adopt_world))
		return 0;
	*why = "its lease does not fit the job's GPU range";
	return n >= j->rec.min_gpus && n <= j->rec.max_gpus ? n : 0;
}

/* Tasks as the workers said when they add up to the job's; else split. */
static bool drv_adopt_tasks(struct driver *d, struct drv_job *j, struct drv_rank *r, uint32_t n)
{
	uint32_t sum = 0;
	bool known = true;

	for (uint32_t i = 0; i < n; i++) {
		known &= r[i].tasks > 0;
		sum += r[i].tasks;
	}
	if (known && sum == j->rec.tasks)
		return true;
	drv_adopt_split(d, j, r, n);
	return false;
}

/* Make j's candidates its lease. False (why set) when they cannot be. */
/* When the adopted lease began (its start event in the store), so that its
 * min_lease_s protection, and the job's attained service, go on from there
 * instead of starting again at each restart of hared; now if unknown. */
static double drv_adopt_start(struct driver *d, const struct drv_job *j)
{
	double now = driver_now(), when;

	if (d->st && store_lease_start(d->st, j->rec.id, j->adopt_lease, &when) == 0 &&
	    when > 0 && when <= now)
		return when;
	return now;
}

static bool drv_adopt_lease(struct driver *d, struct drv_job *j, const char **why)
{
	uint32_t n = drv_adopt_count(j, why);
	bool exact = j->adopt_exact;
	struct drv_rank *r;
	double sync_s;

	if (n == 0)
		return false;
	r = calloc(n, sizeof(*r));
	if (!r) {
		*why = "out of memory";
		return false;
	}
	memcpy(r, j->adopt, n * sizeof(*r));
	exact &= drv_adopt_tasks(d, j, r, n);
	/* The lease began at round_first: the rounds before it were done (the
	 * store may not have had the last of them when the daemon stopped). */
	if (j->adopt_first != UINT64_MAX && j->adopt_first > j->rec.rounds_done)
		j->rec.rounds_done = j->adopt_first;
	for (uint32_t i = 0; i < n; i++) {
		r[i].missing = false;
		r[i].type = r[i].node < d->nnodes && r[i].slot < d->nodes[r[i].node].ngpus ?
			    d->nodes[r[i].node].gpus[r[i].slot].type : -1;
		if (r[i].round_end < j->rec.rounds_done)
			r[i].round_end = j->rec.rounds_done;
	}
	j->lease = (struct drv_lease){ .id = j->adopt_lease, .nranks = n, .ranks = r,
				       .start = drv_adopt_start(d, j), .adopted = true,
				       .guessed = !exact, .progress_at = driver_now() };
	j->lease.round_first = j->adopt_first != UINT64_MAX ? j->adopt_first : j->rec.rounds_done;
	j->lease.round_s = driver_round_s(d, j, r, n, &sync_s);
	if (isfinite(j->adopt_loss))
		j->rec.loss = j->adopt_loss;
	d->reports += j->adopt_reports;
	if (j->adopt_lease >= d->next_lease)
		d->next_lease = j->adopt_lease + 1;
	free(j->adopt);
	j->adopt = NULL;
	return true;
}

/* Adopt one waiting job's lease, or stop its workers and queue it again.
 * Its progress may finish it (then it is gone from the table). */
static void drv_adopt_one(struct driver *d, struct drv_job *j, double now)
{
	const char *why = "";
	char where[512];

	j->adopt_wait = false;
	if (drv_adopt_lease(d, j, &why)) {
		j->last_run = now;
		driver_rank_to_text(d, j, where, sizeof(where));
		if (d->st) {
			store_event(d->st, now, j->rec.id, "adopt", "lease kept across restart");
			/* its rows, if hared had written them, and its time since */
			driver_usage_open(d, j, j->lease.start);
			store_usage_until(d->st, j->rec.id, j->lease.id, now);
		}
		/* all but the lease adopted, which counts when it ends (the load
		 * left out the newest lease of the store; the workers may have
		 * named another, or the store none) */
		driver_attained_load(d, j, j->lease.id);
		log_info("job=%" PRIu64 " lease=%" PRIu64 " adopted ranks=%u gpus=%s%s", j->rec.id,
			 j->lease.id, j->lease.nranks, where, j->lease.guessed ?
			 " (tasks or GPUs guessed: an older agent)" : "");
		if (driver_progress_update(d, j))
			return;
		if (j->rec.held)	/* a held job's lease is never kept */
			driver_job_requeue(d, j, "hold", "held; not adopted");
		return;
	}
	d->reports_ignored += j->adopt ? j->adopt_reports : 0;
	/* workers of it were back: it ran until they are stopped, now */
	if (j->adopt && d->st)
		store_usage_until(d->st, j->rec.id, j->adopt_lease, driver_now());
	driver_adopt_stop(d, j, "lease not adopted");
	driver_adopt_drop(d, j);
	driver_attained_load(d, j, 0);	/* its last lease ended as the store has it */
	driver_job_requeue(d, j, "requeue", why);
}

void driver_grace_end(struct driver *d)
{
	double now = driver_now();
	uint32_t i = 0;

	d->grace = false;
	if (!d->closing)
		uv_timer_stop(&d->grace_timer);
	while (i < d->njobs) {
		struct drv_job *j = d->jobs[i];
		uint64_t id = j->rec.id;

		if (j->adopt_wait)
			drv_adopt_one(d, j, now);
		if (i < d->njobs && d->jobs[i]->rec.id == id)
			i++;
	}
	driver_replan_request(d);
}
