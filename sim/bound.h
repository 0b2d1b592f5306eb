/* SPDX-License-Identifier: MIT */
/* The offline LP lower bound on a workload's weighted mean JCT, valid for
 * every schedule on the cluster (see sim/README.md for the argument). */
#ifndef HARE_SIM_BOUND_H
#define HARE_SIM_BOUND_H

#include <stddef.h>

#include "sched.h"

struct sim_workload;

/*
 * Lower bound on sum_j w_j (C_j - a_j) / sum_j w_j for workload w on
 * cluster c: one LP item per job (work tasks x rounds x fastest compute,
 * span rounds x fastest compute + (rounds - 1) x smallest sync, released at
 * arrival) solved by lp_solve_exact, plus each job's last sync. Returns 0
 * with *bound_s set, ERR_NO_CAPACITY if a job runs on no cluster type,
 * -ENOMEM, or the LP solver's error; errbuf says why.
 */
int sim_bound_compute(const struct sched_cluster *c, const struct sim_workload *w,
		      double *bound_s, char *errbuf, size_t errlen);

/*
 * The same bound over jobs [first, last) of w only (last clamped to the
 * workload). It bounds those jobs' weighted mean JCT in any schedule of the
 * whole workload too: the LP's rows hold for every subset of jobs, and the
 * other jobs only take capacity away.
 */
int sim_bound_compute_window(const struct sched_cluster *c, const struct sim_workload *w,
			     uint32_t first, uint32_t last, double *bound_s, char *errbuf,
			     size_t errlen);

#endif
