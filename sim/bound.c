/* SPDX-License-Identifier: MIT */
/* Builds the one-item-per-job LP relaxation of a whole workload and turns
 * its optimum into a lower bound on the weighted mean JCT. */
#include "bound.h"

#include "err.h"
#include "lp.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Smallest sync time the job can have on any width it may use. */
static double bound_min_sync(const struct sched_job *j)
{
	double best = INFINITY;

	for (uint32_t g = 1; g <= j->tasks; g++) {
		best = fmin(best, sched_sync_time(&j->perf, g, false));
		best = fmin(best, sched_sync_time(&j->perf, g, true));
	}
	return isfinite(best) && best > 0 ? best : 0;
}

/* Effective machines (see sched_effective_gpus): per GPU, the largest
 * speed any job of the workload has there relative to its fastest type. */
static double bound_machines(const struct sched_cluster *c, const struct sim_workload *w,
			     uint32_t first, uint32_t last)
{
	double speed[SCHED_MAX_TYPES] = { 0 }, m = 0;

	for (uint32_t i = first; i < last; i++) {
		const struct sched_perf *perf = &w->jobs[i].spec.perf;
		double p = sched_perf_fastest(perf, c->ntypes);

		for (uint32_t t = 0; t < c->ntypes && p > 0; t++)
			if (perf->compute_s[t] > 0)
				speed[t] = fmax(speed[t], p / perf->compute_s[t]);
	}
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].up)
			m += speed[c->gpus[g].type];
	return m;
}

int sim_bound_compute(const struct sched_cluster *c, const struct sim_workload *w,
		      double *bound_s, char *errbuf, size_t errlen)
{
	return sim_bound_compute_window(c, w, 0, w->njobs, bound_s, errbuf, errlen);
}

int sim_bound_compute_window(const struct sched_cluster *c, const struct sim_workload *w,
			     uint32_t first, uint32_t last, double *bound_s, char *errbuf,
			     size_t errlen)
{
	uint32_t end = last < w->njobs ? last : w->njobs;
	uint32_t n = end > first ? end - first : 0;
	struct lp_item *items = calloc(n + 1, sizeof(*items));
	double *completion = calloc(n + 1, sizeof(*completion));
	struct lp_input in = { .n = n, .items = items,
			       .machines = bound_machines(c, w, first, first + n) };
	double sum_w = 0, extra = 0, objective = 0;
	int rc = 0;

	if (!items || !completion) {
		snprintf(errbuf, errlen, "LP bound: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		const struct sched_job *j = &w->jobs[first + i].spec;
		double p = sched_perf_fastest(&j->perf, c->ntypes);
		double s = bound_min_sync(j), rounds = (double)j->rounds_total;

		if (!(p > 0)) {
			snprintf(errbuf, errlen, "LP bound: %s runs on no GPU type of the cluster", j->name);
			rc = ERR_NO_CAPACITY;
			break;
		}
		items[i] = (struct lp_item){ .work = j->tasks * rounds * p,
					     .span_s = rounds * p * sched_job_round_factor(j) +
						       (rounds - 1) * s,
					     .release_s = j->arrival_s, .weight = j->weight,
					     .prev = -1 };
		sum_w += j->weight;
		/* The job completes after its last round's sync, >= s after C_j. */
		extra += j->weight * (s - j->arrival_s);
	}
	if (rc == 0)
		rc = lp_input_check(&in, errbuf, errlen);
	if (rc == 0) {
		rc = lp_solve_exact(&in, completion, &objective);
		if (rc < 0)
			snprintf(errbuf, errlen, "LP bound: %s", err_str(rc));
	}
	if (rc == 0)
		*bound_s = sum_w > 0 ? (objective + extra) / sum_w : 0;
out:
	free(items);
	free(completion);
	return rc;
}
