/* SPDX-License-Identifier: MIT */
/* Optimus-style allocation: how many GPUs each job should use. Every job of
 * the admitted head of the order starts at its minimum; then one GPU at a
 * time goes to the job whose estimated remaining time drops the most for it
 * (the marginal gain), until GPUs run out or no gain is positive. */
#ifndef HARE_ALLOC_H
#define HARE_ALLOC_H

#include "sched.h"

struct alloc_opts {
	bool weighted;		/* gain times the job's weight (hare); plain (optimus) */
	uint32_t gpus;		/* GPUs to share out (0: every up GPU of the cluster) */
};

/*
 * Estimated round time of job j on k up GPUs: the best of one type that has
 * k (consolidated when k fits on one of its nodes) and of the k fastest
 * GPUs of any type (across nodes, the tasks split as the placement splits
 * them: sched_split_compute), corrected by the job's speed model when it
 * has one. INFINITY when the cluster has fewer than k it can use.
 */
double alloc_round_estimate(const struct sched_cluster *c, const struct sched_job *j, uint32_t k);

/*
 * Fill width[i] for every job index i in snap->jobs. Jobs are admitted in
 * `order` while their minimum widths fit (the rest get width 0), then gains
 * decide the extra GPUs, each job capped at min(max_gpus, tasks). Returns
 * the number of admitted jobs, or -ENOMEM.
 */
int alloc_optimus(const struct sched_snapshot *snap, const uint32_t *order, uint32_t norder,
		  const struct alloc_opts *opts, uint32_t *width);

#endif
