/* SPDX-License-Identifier: MIT */
/* Exact combinatorial solver of the chain-free LP of lp.h: a greedy over a
 * contra-polymatroid, O(n^2) time and O(n) memory.
 *
 * Derivation. Put M_i = C_i - span_i/2 and x_i = W_i M_i. The rows become
 *   x(S) >= f(S) = W(S)^2 / (2m)   for every set S       (parallel)
 *   x_i  >= l_i  = W_i (release_i + span_i/2)            (release)
 * and the objective is sum c_i x_i + sum weight_i span_i / 2 with
 * c_i = weight_i / W_i >= 0. f is supermodular with f(empty) = 0. The set
 * above equals {x : x(S) >= f'(S) for all S} with
 *   f'(S) = max over T subset of S of f(T) + l(S \ T)
 * (each such row is a sum of valid rows; conversely f' >= f and
 * f'({i}) >= l_i). f' is supermodular (for maximisers T_A, T_B of A and B,
 * T_A u T_B and T_A n T_B are candidates for A u B and A n B and f - l is
 * supermodular) and monotone (l >= 0), so by Edmonds' theorem the minimum of
 * c x with c >= 0 is reached by the greedy: take the items by c descending
 * (ties by index), S_k the first k of them, x_pi(k) = f'(S_k) - f'(S_k-1).
 * Then C_i = x_i / W_i + span_i / 2.
 *
 * Evaluating f': f'(S) = l(S) + max(0, max over T subset S of
 * [W(T)^2/(2m) - l(T)]), and a maximising T is a prefix of S in ascending
 * rho_i = l_i / W_i = release_i + span_i/2: if b is in T*, a is not and
 * rho_a <= rho_b, optimality of T* against removing b gives
 * (2 W(T*) - W_b)/(2m) >= rho_b, so adding a gains
 * W_a [(2 W(T*) + W_a)/(2m) - rho_a] > 0, a contradiction. So S_k is kept
 * sorted by rho (one insertion per step) and the max is a scan of its
 * prefixes: O(k) per step at most. The largest maximising prefix only grows
 * from one step to the next (see lp_exact_excess), so the scan starts at its
 * end; that often leaves little to scan. Items of weight 0 come last and
 * get a valid C.
 *
 * Numerics: times and work are rescaled by powers of two (exact) to a unit
 * near the largest completion time, and sums are long double, because each
 * x_i is a difference of two values of the size of f'(N).
 */
#include "lp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct lp_exact_item {
	long double w;		/* scaled work */
	long double l;		/* scaled l_i = W_i (release_i + span_i/2) */
	long double rho;	/* scaled release_i + span_i/2 */
	double cost;		/* c_i = weight_i / W_i (scale-free order key) */
	uint32_t idx;
};

struct lp_exact {
	struct lp_exact_item *items;	/* sorted by cost descending */
	uint32_t *by_rho;		/* inserted items, rho ascending */
	long double m;			/* scaled machine count */
	size_t t_len;			/* T: the largest maximising rho-prefix, */
	long double t_w, t_l;		/* its W(T) and l(T) */
};

static int lp_exact_cost_cmp(const void *pa, const void *pb)
{
	const struct lp_exact_item *a = pa, *b = pb;

	if (a->cost != b->cost)
		return a->cost > b->cost ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Power of two near v (1 for v <= 0): rescaling by it is exact. */
static double lp_exact_pow2(double v)
{
	int e;

	if (!(v > 0.0))
		return 1.0;
	frexp(v, &e);
	return ldexp(1.0, e);
}

/* Time unit ~ the largest plausible completion time; work unit ~ max W. */
static void lp_exact_units(const struct lp_input *in, double *tu, double *wu)
{
	double wsum = 0.0, wmax = 0.0, tmax = 0.0;

	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];

		wsum += it->work;
		wmax = fmax(wmax, it->work);
		tmax = fmax(tmax, it->release_s + it->span_s);
	}
	*tu = lp_exact_pow2(fmax(tmax, wsum / in->machines));
	*wu = lp_exact_pow2(wmax);
}

static void lp_exact_load(struct lp_exact *ex, const struct lp_input *in)
{
	double tu, wu;

	lp_exact_units(in, &tu, &wu);
	/* W(S)^2/(2m) in units wu*tu: m scales by tu/wu. */
	ex->m = (long double)in->machines * tu / wu;
	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];
		struct lp_exact_item *e = &ex->items[i];
		long double rho = ((long double)it->release_s + it->span_s / 2.0L) / tu;

		e->w = it->work / wu;
		e->l = e->w * rho;
		e->rho = rho;
		e->cost = it->weight / it->work;
		e->idx = (uint32_t)i;
	}
	qsort(ex->items, in->n, sizeof(*ex->items), lp_exact_cost_cmp);
}

/* rho_a < rho_b (ties: index). */
static int lp_exact_rho_less(const struct lp_exact_item *a, const struct lp_exact_item *b)
{
	if (a->rho != b->rho)
		return a->rho < b->rho;
	return a->idx < b->idx;
}

/* Insert the k-th item (position in ex->items) into by_rho[0..k); a new
 * item before the end of T joins T. */
static void lp_exact_insert(struct lp_exact *ex, size_t k)
{
	const struct lp_exact_item *e = &ex->items[k];
	size_t lo = 0, hi = k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (lp_exact_rho_less(&ex->items[ex->by_rho[mid]], e))
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&ex->by_rho[lo + 1], &ex->by_rho[lo], (k - lo) * sizeof(*ex->by_rho));
	ex->by_rho[lo] = (uint32_t)k;
	if (lo < ex->t_len) {
		ex->t_len++;
		ex->t_w += e->w;
		ex->t_l += e->l;
	}
}

/*
 * max(0, max over rho-prefixes T of the first len items of
 * W(T)^2/(2m) - l(T)), and T becomes the largest maximiser. Only prefixes
 * that contain the previous T are scanned: g(T) = W(T)^2/(2m) - l(T) is
 * supermodular, so if A is the largest maximiser over subsets of S and B
 * the largest over subsets of S' (S inside S'), g(A u B) + g(A n B) >=
 * g(A) + g(B) and g(A n B) <= g(A) make A u B a maximiser: A is inside B.
 */
static long double lp_exact_excess(struct lp_exact *ex, size_t len)
{
	long double half_inv_m = 0.5L / ex->m;
	long double w = ex->t_w, l = ex->t_l, best = w * w * half_inv_m - l;

	for (size_t p = ex->t_len; p < len; p++) {
		const struct lp_exact_item *e = &ex->items[ex->by_rho[p]];
		long double v;

		w += e->w;
		l += e->l;
		v = w * w * half_inv_m - l;
		if (v >= best) {
			best = v;
			ex->t_len = p + 1;
			ex->t_w = w;
			ex->t_l = l;
		}
	}
	return best > 0.0L ? best : 0.0L;
}

/* Greedy: x of the k-th cheapest-last item is l_k plus the growth of the excess. */
static void lp_exact_greedy(struct lp_exact *ex, const struct lp_input *in, double *completion)
{
	double tu, wu;
	long double prev = 0.0L;

	lp_exact_units(in, &tu, &wu);
	for (size_t k = 0; k < in->n; k++) {
		const struct lp_exact_item *e = &ex->items[k];
		const struct lp_item *it = &in->items[e->idx];
		long double excess, x;

		lp_exact_insert(ex, k);
		excess = lp_exact_excess(ex, k + 1);
		x = e->l + (excess - prev);
		prev = excess;
		completion[e->idx] = (double)(x / e->w * tu) + it->span_s / 2.0;
	}
}

int lp_solve_exact(const struct lp_input *in, double *completion, double *objective)
{
	struct lp_exact ex = { 0 };
	struct lp_input sh;
	struct lp_item *copy = NULL;
	long double obj = 0.0L;
	double r0;
	int rc = lp_input_check(in, NULL, 0);

	if (rc)
		return rc;
	for (size_t i = 0; i < in->n; i++)
		if (in->items[i].prev >= 0)
			return ERR_LP_UNSUPPORTED;
	if (in->n == 0)
		goto out_objective;
	/* solved from the earliest release (lp.h), then moved back */
	r0 = lp_origin(in);
	rc = lp_shift(in, r0, &sh, &copy);
	if (rc)
		return rc;
	ex.items = malloc(in->n * sizeof(*ex.items));
	ex.by_rho = malloc(in->n * sizeof(*ex.by_rho));
	if (!ex.items || !ex.by_rho) {
		rc = -ENOMEM;
		goto out_free;
	}
	lp_exact_load(&ex, &sh);
	lp_exact_greedy(&ex, &sh, completion);
	for (size_t i = 0; i < in->n; i++) {
		completion[i] += r0;
		obj += (long double)in->items[i].weight * completion[i];
	}
out_objective:
	if (objective)
		*objective = (double)obj;
out_free:
	free(copy);
	free(ex.items);
	free(ex.by_rho);
	return rc;
}
