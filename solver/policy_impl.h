/* SPDX-License-Identifier: MIT */
/* Private: how a policy plugs into the registry (solver/policy.c). */
#ifndef HARE_POLICY_IMPL_H
#define HARE_POLICY_IMPL_H

#include "sched.h"

struct sched_policy;

struct sched_policy_ops {
	const char *name;
	const char *summary;	/* one line for --help */
	int (*init)(struct sched_policy *p);
	int (*plan)(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out);
	void (*forget)(struct sched_policy *p, uint32_t job_id);
	void (*destroy)(struct sched_policy *p);
};

struct sched_policy {
	const struct sched_policy_ops *ops;
	struct sched_options opt;
	void *state;
	/* Scratch reused between plans. */
	uint32_t *order;
	uint32_t *width;
	double *key;
	uint32_t cap;
};

/* Grow the scratch arrays to n jobs; -ENOMEM. */
int policy_scratch(struct sched_policy *p, uint32_t n);

/* Sort idx[0..n) by key ascending; ties: higher weight, earlier arrival,
 * lower id (deterministic). */
void policy_sort_by_key(const struct sched_snapshot *snap, uint32_t *idx, uint32_t n,
			const double *key);

extern const struct sched_policy_ops policy_hare_ops;
extern const struct sched_policy_ops policy_fifo_ops;
extern const struct sched_policy_ops policy_srtf_ops;
extern const struct sched_policy_ops policy_optimus_ops;

#endif
