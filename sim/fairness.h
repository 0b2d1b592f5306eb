/* SPDX-License-Identifier: MIT */
/* Finish-time fairness (Themis' rho) of a simulated run: each job's JCT over
 * the time it would take alone on its share of the cluster. */
#ifndef HARE_SIM_FAIRNESS_H
#define HARE_SIM_FAIRNESS_H

#include <stddef.h>
#include <stdint.h>

#include "sched.h"

struct sim_workload;
struct sim_result;

/*
 * Time-averaged number of active jobs (arrived, not completed) over
 * [from_s, to_s] of a run whose jobs arrive at arrival_s[i] and complete at
 * finish_s[i] (< 0: never). Fills avg[i] for each completed job over its own
 * [arrival, finish] (NaN for the others). Returns 0 or -ENOMEM.
 */
int sim_fairness_active(const double *arrival_s, const double *finish_s, uint32_t n, double *avg);

/*
 * Seconds job j needs alone on `gpus` GPUs of the cluster, without restarts:
 * over every type it may use, width w = min(gpus, GPUs of that type) clamped
 * to [min_gpus, max_gpus] (a type with fewer than min_gpus GPUs is skipped),
 * on the most consolidated w GPUs of that type (largest nodes first), rounds
 * x sched_round_time; the fastest type wins. INFINITY if it fits no type.
 */
double sim_fairness_alone_s(const struct sched_cluster *c, const struct sched_job *j,
			    uint32_t gpus);

/*
 * Fill r->alone_s and r->rho for run r of workload w on cluster c: for each
 * completed job, n = its time-averaged active count (sim_fairness_active),
 * alone_s = sim_fairness_alone_s at floor(G / n) GPUs, rho = JCT / alone_s;
 * NaN for jobs that did not complete. Returns 0 or -ENOMEM.
 */
int sim_fairness_compute(const struct sched_cluster *c, const struct sim_workload *w,
			 struct sim_result *r);

#endif
