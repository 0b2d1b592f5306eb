/* SPDX-License-Identifier: MIT */
/* What both LP solvers share: default options, input validation and the
 * exact O(n log n) separation of the parallel inequalities. */
#include "lp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

/* Largest magnitude accepted for any number: keeps W(S)^2 finite for any n
 * and leaves the solvers' rescaling room. 1e15 s is 30 million years. */
#define LP_VALUE_MAX 1e15

/* Sort key of the separation order: M_i = C_i - span_i / 2, then index. */
struct lp_key {
	double m;
	uint32_t idx;
};

void lp_options_default(struct lp_options *opt)
{
	opt->time_limit_ms = 0.0;
	opt->tolerance = 1e-9;
	opt->max_rounds = 0;
	opt->cuts_per_round = 32;
}

/* 0 if v is finite and in [lo, LP_VALUE_MAX] (strictly above lo if strict). */
static int lp_value_check(double v, double lo, int strict)
{
	if (!isfinite(v) || v > LP_VALUE_MAX)
		return -EINVAL;
	if (strict ? !(v > lo) : !(v >= lo))
		return -EINVAL;
	return 0;
}

static int lp_item_check(const struct lp_item *it, size_t i, char *errbuf, size_t errlen)
{
	const char *what = NULL;

	if (lp_value_check(it->work, 0.0, 1))
		what = "work must be finite, > 0 and <= 1e15";
	else if (lp_value_check(it->span_s, 0.0, 0))
		what = "span_s must be finite, >= 0 and <= 1e15";
	else if (lp_value_check(it->release_s, 0.0, 0))
		what = "release_s must be finite, >= 0 and <= 1e15";
	else if (lp_value_check(it->gap_s, 0.0, 0))
		what = "gap_s must be finite, >= 0 and <= 1e15";
	else if (lp_value_check(it->weight, 0.0, 0))
		what = "weight must be finite, >= 0 and <= 1e15";
	else if (it->prev < -1 || (it->prev >= 0 && (size_t)it->prev >= i))
		what = "prev must be -1 or the index of an earlier item";
	if (!what)
		return 0;
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "LP item %zu: %s", i, what);
	return -EINVAL;
}

int lp_input_check(const struct lp_input *in, char *errbuf, size_t errlen)
{
	const char *what = NULL;

	if (!in)
		what = "no input";
	else if (in->n > 0 && !in->items)
		what = "items is NULL";
	else if (in->n >= (size_t)INT32_MAX)
		what = "too many items";
	else if (lp_value_check(in->machines, 0.0, 1))
		what = "machines must be finite, > 0 and <= 1e15";
	if (what) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "LP: %s", what);
		return -EINVAL;
	}
	for (size_t i = 0; i < in->n; i++) {
		int rc = lp_item_check(&in->items[i], i, errbuf, errlen);

		if (rc)
			return rc;
	}
	return 0;
}

double lp_origin(const struct lp_input *in)
{
	double r0 = INFINITY;

	for (size_t i = 0; i < in->n; i++)
		if (in->items[i].prev < 0)
			r0 = fmin(r0, in->items[i].release_s);
	return isfinite(r0) && r0 > 0.0 ? r0 : 0.0;
}

int lp_shift(const struct lp_input *in, double origin, struct lp_input *out,
	     struct lp_item **copy)
{
	*out = *in;
	*copy = NULL;
	if (!(origin > 0.0) || in->n == 0)
		return 0;
	*copy = malloc(in->n * sizeof(**copy));
	if (!*copy)
		return -ENOMEM;
	for (size_t i = 0; i < in->n; i++) {
		(*copy)[i] = in->items[i];
		/* the smallest is origin itself: none goes below 0 */
		(*copy)[i].release_s = fmax(0.0, in->items[i].release_s - origin);
	}
	out->items = *copy;
	return 0;
}

static int lp_key_cmp(const void *pa, const void *pb)
{
	const struct lp_key *a = pa, *b = pb;

	if (a->m != b->m)
		return a->m < b->m ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/*
 * Scan the prefixes of keys[] (sorted) and return the largest relative
 * violation, with its prefix length in *best_len. Work is normalised by its
 * total so the squares stay finite. Every prefix is a valid set, and every
 * end of a group of equal M is among them, so ties need no special case: the
 * set that maximises the relative violation contains whole tie groups (the
 * exchange argument in lp_separate's comment is strict for equal M).
 */
static double lp_prefix_scan(const struct lp_input *in, const struct lp_key *keys,
			     size_t *best_len)
{
	double wtot = 0.0, best = 0.0;
	long double w = 0.0L, lhs = 0.0L;

	for (size_t i = 0; i < in->n; i++)
		wtot += in->items[i].work;
	*best_len = 0;
	for (size_t k = 0; k < in->n; k++) {
		double wk = in->items[keys[k].idx].work / wtot;
		long double rhs;
		double viol;

		w += wk;
		lhs += (long double)wk * keys[k].m;
		rhs = w * w * wtot / (2.0L * in->machines);
		if (!(rhs > 0.0L))
			continue;
		viol = (double)((rhs - lhs) / rhs);
		if (viol > best) {
			best = viol;
			*best_len = k + 1;
		}
	}
	return best;
}

/*
 * Exchange argument: with M_i = C_i - span_i / 2 and r* the smallest ratio
 * lhs(S) / rhs(S), a minimising S also minimises sum_S W M - r* W(S)^2/(2m);
 * adding item j to S changes that by W_j (M_j - r* (2 W(S) + W_j) / (2m)),
 * increasing in M_j, so S is a prefix of the order by M.
 * Returns NAN if the sort buffer cannot be allocated (lp.h has no error
 * path here; NAN fails every "violation <= tolerance" test).
 */
double lp_separate(const struct lp_input *in, const double *completion, uint32_t *order,
		   size_t *prefix_len)
{
	struct lp_key *keys;
	size_t len = 0;
	double best, r0;

	if (prefix_len)
		*prefix_len = 0;
	if (!in || in->n == 0)
		return 0.0;
	keys = malloc(in->n * sizeof(*keys));
	if (!keys)
		return NAN;
	r0 = lp_origin(in);
	for (size_t i = 0; i < in->n; i++) {
		keys[i].m = completion[i] - r0 - in->items[i].span_s / 2.0;
		keys[i].idx = (uint32_t)i;
	}
	qsort(keys, in->n, sizeof(*keys), lp_key_cmp);
	best = lp_prefix_scan(in, keys, &len);
	if (order)
		for (size_t i = 0; i < in->n; i++)
			order[i] = keys[i].idx;
	if (prefix_len)
		*prefix_len = len;
	free(keys);
	return best;
}
