/* SPDX-License-Identifier: MIT */
/* The policy registry: names to implementations, and helpers they share. */
#include "policy_impl.h"

#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sched_policy_ops *const policy_table[] = {
	&policy_hare_ops,
	&policy_hare_smith_ops,
	&policy_optimus_ops,
	&policy_fifo_ops,
	&policy_fifo_backfill_ops,
	&policy_srtf_ops,
	&policy_tiresias_ops,
	&policy_gavel_ops,
	&policy_gavel_tput_ops,
	&policy_allox_ops,
	&policy_gandiva_ops,
};

#define POLICY_COUNT (sizeof(policy_table) / sizeof(policy_table[0]))

const char *const *sched_policy_names(void)
{
	static const char *names[POLICY_COUNT + 1];

	for (size_t i = 0; i < POLICY_COUNT; i++)
		names[i] = policy_table[i]->name;
	names[POLICY_COUNT] = NULL;
	return names;
}

int sched_policy_new(const char *name, const struct sched_options *opt, struct sched_policy **out)
{
	struct sched_policy *p;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < POLICY_COUNT; i++) {
		if (strcasecmp(name, policy_table[i]->name) != 0)
			continue;
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->ops = policy_table[i];
		if (opt)
			p->opt = *opt;
		else
			sched_options_default(&p->opt);
		rc = p->ops->init ? p->ops->init(p) : 0;
		if (rc) {
			free(p);
			return rc;
		}
		*out = p;
		return 0;
	}
	return ERR_UNKNOWN_POLICY;
}

void sched_policy_free(struct sched_policy *p)
{
	if (!p)
		return;
	if (p->ops->destroy)
		p->ops->destroy(p);
	free(p->order);
	free(p->width);
	free(p->key);
	free(p);
}

const char *sched_policy_name(const struct sched_policy *p)
{
	return p->ops->name;
}

bool sched_policy_requested_width(const struct sched_policy *p)
{
	return p->ops->requested_width;
}

bool sched_policy_one_type(const struct sched_policy *p)
{
	return p->ops->one_type;
}

int sched_policy_plan(struct sched_policy *p, const struct sched_snapshot *snap, struct sched_plan *out)
{
	int rc = sched_plan_reset(out, snap->njobs);

	if (rc)
		return rc;
	rc = policy_scratch(p, snap->njobs);
	if (rc)
		return rc;
	rc = p->ops->plan(p, snap, out);
	if (rc == 0)
		rc = sched_plan_avoid(snap, out);
	if (rc)
		sched_plan_reset(out, snap->njobs);
	return rc;
}

void sched_policy_forget(struct sched_policy *p, uint32_t job_id)
{
	if (p->ops->forget)
		p->ops->forget(p, job_id);
}

int policy_scratch(struct sched_policy *p, uint32_t n)
{
	uint32_t cap = p->cap ? p->cap : 64;
	void *a, *b, *c;

	if (n <= p->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	a = realloc(p->order, cap * sizeof(*p->order));
	if (a)
		p->order = a;
	b = realloc(p->width, cap * sizeof(*p->width));
	if (b)
		p->width = b;
	c = realloc(p->key, cap * sizeof(*p->key));
	if (c)
		p->key = c;
	if (!a || !b || !c)
		return -ENOMEM;
	p->cap = cap;
	return 0;
}

/* qsort has no context argument in C11; the sort context lives here for the
 * duration of one call (plans run one at a time per policy and per thread). */
static _Thread_local const struct sched_snapshot *sort_snap;
static _Thread_local const double *sort_key;

static int policy_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	const struct sched_job *ja = &sort_snap->jobs[a], *jb = &sort_snap->jobs[b];

	if (sort_key[a] != sort_key[b])
		return sort_key[a] < sort_key[b] ? -1 : 1;
	if (ja->weight != jb->weight)
		return ja->weight > jb->weight ? -1 : 1;
	if (ja->arrival_s != jb->arrival_s)
		return ja->arrival_s < jb->arrival_s ? -1 : 1;
	return ja->id < jb->id ? -1 : ja->id > jb->id;
}

void policy_sort_by_key(const struct sched_snapshot *snap, uint32_t *idx, uint32_t n,
			const double *key)
{
	sort_snap = snap;
	sort_key = key;
	qsort(idx, n, sizeof(*idx), policy_cmp);
	sort_snap = NULL;
	sort_key = NULL;
}
