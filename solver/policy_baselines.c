/* SPDX-License-Identifier: MIT */
/* Baseline policies whose placement ignores GPU types (they see one pool of
 * GPUs and split a job's tasks evenly, so its slowest GPU sets the pace;
 * srtf ranks and optimus sizes jobs on estimates that do see the types):
 *  fifo     arrival order, the requested width, no preemption, strict head
 *           of line (nothing overtakes a job that cannot start);
 *  fifo-backfill  fifo with EASY backfilling (Lifka, 1995; only the
 *           first job waiting is protected): the first job that cannot start keeps a
 *           reservation (its projected start and GPUs), and a later job
 *           starts now where it does not delay it: on GPUs the reservation
 *           leaves, or on the reservation's free GPUs if it ends by the
 *           reserved start (on the profile's estimate of its rounds);
 *  srtf     shortest remaining time first (estimated on the mean GPU type),
 *           the requested width, preemptive; a job that cannot start does
 *           not stop the jobs after it, but the GPUs free now that its
 *           projected placement needs are kept for it (no backfilling);
 *  optimus  Optimus (EuroSys'18): admission in arrival order at the
 *           minimum width, extra GPUs by unweighted marginal gain of the
 *           speed model, the round time at k GPUs estimated on the fastest
 *           way to get k (alloc.c: one type that has k, or the k fastest
 *           GPUs of any of the job's types), re-sized on every event (a
 *           resize restarts the job), type-blind fewest-nodes placement. */
#include "policy_impl.h"

#include "alloc.h"
#include "greedy.h"

#include <math.h>

static uint32_t base_requested_width(const struct sched_job *j)
{
	return j->max_gpus < j->tasks ? j->max_gpus : j->tasks;
}

static int fifo_plan_with(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out,
			  bool backfill)
{
	struct sched_lease_opts lo = { .keep_running = true, .consolidate = true, .stop_at_blocked = true,
				       .pin_running = true, .backfill = backfill };

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];

		p->order[i] = i;
		/* Running jobs are never preempted: they sort first. */
		p->key[i] = sched_job_is_running(j) ? -INFINITY : j->arrival_s;
		p->width[i] = base_requested_width(j);
	}
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	return sched_greedy_leases(snap, p->order, snap->njobs, p->width, &lo, out);
}

static int fifo_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	return fifo_plan_with(p, snap, out, false);
}

static int fifo_backfill_plan(struct sched_policy *p, const struct sched_snapshot *snap,
			      struct sched_plan *out)
{
	return fifo_plan_with(p, snap, out, true);
}

/* Mean per-task time over the types the job can use (a type-blind guess). */
static double base_mean_compute(const struct sched_snapshot *snap, const struct sched_job *j)
{
	double sum = 0;
	uint32_t n = 0;

	for (uint32_t t = 0; t < snap->cluster->ntypes; t++)
		if (j->perf.compute_s[t] > 0) {
			sum += j->perf.compute_s[t];
			n++;
		}
	return n ? sum / n : INFINITY;
}

static int srtf_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	struct sched_lease_opts lo = { .keep_running = true, .consolidate = true, .preempt = true,
				       .pin_running = true };

	for (uint32_t i = 0; i < snap->njobs; i++) {
		const struct sched_job *j = &snap->jobs[i];
		uint32_t k = base_requested_width(j);
		double round = ceil((double)j->tasks / k) * base_mean_compute(snap, j) +
			       sched_sync_time(&j->perf, k, false);

		p->order[i] = i;
		p->key[i] = (double)sched_job_rounds_left(j) * round;
		p->width[i] = k;
	}
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	return sched_greedy_leases(snap, p->order, snap->njobs, p->width, &lo, out);
}

static int optimus_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	struct sched_lease_opts lo = { .keep_running = true, .consolidate = true };
	struct alloc_opts ao = { .weighted = false };
	int rc;

	for (uint32_t i = 0; i < snap->njobs; i++) {
		p->order[i] = i;
		/* Admission: running jobs first, then by arrival. */
		p->key[i] = sched_job_is_running(&snap->jobs[i]) ? -1e300 + snap->jobs[i].arrival_s
								  : snap->jobs[i].arrival_s;
	}
	policy_sort_by_key(snap, p->order, snap->njobs, p->key);
	rc = alloc_optimus(snap, p->order, snap->njobs, &ao, p->width);
	if (rc < 0)
		return rc;
	return sched_greedy_leases(snap, p->order, snap->njobs, p->width, &lo, out);
}

const struct sched_policy_ops policy_fifo_ops = {
	.name = "fifo",
	.requested_width = true,
	.summary = "first come first served, requested width, no preemption, type-blind",
	.plan = fifo_plan,
};

const struct sched_policy_ops policy_fifo_backfill_ops = {
	.name = "fifo-backfill",
	.requested_width = true,
	.summary = "first come first served with EASY backfilling, requested width, no preemption, "
		   "type-blind",
	.plan = fifo_backfill_plan,
};

const struct sched_policy_ops policy_srtf_ops = {
	.name = "srtf",
	.requested_width = true,
	.summary = "shortest remaining time first, preemptive, type-blind",
	.plan = srtf_plan,
};

const struct sched_policy_ops policy_optimus_ops = {
	.name = "optimus",
	.summary = "Optimus marginal-gain widths sized on the fastest GPUs, arrival-order admission, "
		   "type-blind placement",
	.plan = optimus_plan,
};
