/* SPDX-License-Identifier: MIT */
/* GLPK reference solver of the LP of lp.h: release and chain rows, then
 * parallel rows added lazily from exact separation, re-solved warm with the
 * dual simplex. (lp_general_solve, the general LP of lp.h, is in
 * lp_general.c.)
 *
 * - Start: with weights >= 0 the cut-free optimum is lb, the earliest
 *   completions along the chains, so the first simplex runs with cuts:
 *   the rows tight at the optimum of the chain-free relaxation (below),
 *   which settle inputs without chains in one round. (GLPK cannot be
 *   interrupted inside a factorisation, so with thousands of items a
 *   budget can be overrun by that much.)
 * - Cuts: prefixes of the order by C - span/2 that end a tie group, the
 *   local maxima of the relative violation first, topped up with violated
 *   prefixes spread over the order; a set already in the LP (64-bit hash of
 *   its members) is never added twice.
 * - In-out separation: besides the most violated prefixes at the LP
 *   solution, cuts are looked for at a point between it and a centre that
 *   meets every row (the exact optimum of the chain-free relaxation
 *   C_i >= lb_i, lifted onto the chains). Those are violated by the LP
 *   solution too and deeper: several times less time on chained inputs.
 *   The answer is still certified by separating at the LP solution itself.
 * - Slack cuts are removed every few rounds, less often without progress.
 * - Scaling: GLPK's column j is C_j over a power of two near C_j's size (its
 *   value at the centre), so its absolute tolerances act relatively on every
 *   item; every row is scaled to a largest coefficient in [0.5, 1). With raw
 *   seconds GLPK fails numerically. Dual tolerance 1e-9 (weights may span
 *   many orders); the primal one is tightened when GLPK's default leaves a
 *   row that is already in the LP violated beyond the requested tolerance.
 * - The budget is the only clock read here (CLOCK_MONOTONIC).
 */
#include "lp.h"

#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

#define LP_INOUT_TRIES 30	/* moves of the centre towards the LP point per round */
#define LP_INOUT_ALPHA 0.3	/* weight of the LP solution in the separated point */
#define LP_PRUNE_EVERY 5	/* rounds between removals of slack cut rows */
#define LP_PRUNE_GAIN 1e-6	/* relative objective rise that counts as progress */
#define LP_SEED_SLACK 1e-9	/* relative slack of a row tight at the centre */
#define LP_TOL_DJ 1e-9		/* GLPK's dual feasibility tolerance */
#define LP_TOL_BND 1e-7		/* GLPK's primal tolerance to start with ... */
#define LP_TOL_BND_MIN 1e-12	/* ... and the tightest it is taken to */

/* A prefix of the separation order proposed as a cut. */
struct lp_cand {
	double viol;		/* relative violation */
	uint32_t len;		/* prefix length */
	bool peak;		/* local maximum over the prefixes that end a tie group */
	bool pick;		/* chosen for this round */
};

/* Open-addressing set of the 64-bit hashes of the sets already cut. */
struct lp_hset {
	uint64_t *slot;		/* 0 marks an empty slot */
	size_t cap, used;
};

struct lp_glpk {
	const struct lp_input *in;
	const struct lp_options *opt;
	glp_prob *lp;
	double *cs;		/* GLPK's column j is C_j / cs[j-1] */
	double *lb;		/* earliest completion along the chains */
	double *sol;		/* current C, in seconds */
	double *feas;		/* a C meeting every row: the in-out centre */
	double *mid;		/* between sol and feas */
	const double *pt;	/* the point being separated: sol or mid */
	uint32_t *order;	/* separation order */
	double *viol;		/* viol[k]: relative violation of prefix k+1 */
	uint64_t *key;		/* per-item random key; a set hashes to the sum */
	uint64_t *phash;	/* phash[k]: hash of prefix k+1 */
	struct lp_cand *cand;
	int *ind;		/* 1-based row buffer for GLPK */
	double *val;
	struct lp_hset cuts;	/* hashes of the cut rows now in the LP */
	uint64_t *row_hash;	/* row_hash[r]: hash of cut row nchain + 1 + r */
	size_t nrow_hash, row_hash_cap;
	int nchain;		/* chain rows come first */
	bool inout;		/* feas holds a centre */
	double pruned_obj;	/* GLPK objective at the last removal of cuts */
	uint32_t pruned_round;	/* round of the last removal */
	uint32_t prune_wait;	/* rounds from one removal to the next */
	struct timespec t0;
	struct lp_stats st;
};

static uint64_t lp_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double lp_pow2(double v)
{
	int e;

	if (!(v > 0.0))
		return 1.0;
	frexp(v, &e);
	return ldexp(1.0, e);
}

static bool lp_hset_has(const struct lp_hset *h, uint64_t k)
{
	for (size_t i = k & (h->cap - 1); h->slot[i]; i = (i + 1) & (h->cap - 1))
		if (h->slot[i] == k)
			return true;
	return false;
}

static void lp_hset_put_raw(struct lp_hset *h, uint64_t k)
{
	size_t i = k & (h->cap - 1);

	while (h->slot[i] && h->slot[i] != k)
		i = (i + 1) & (h->cap - 1);
	if (!h->slot[i])
		h->used++;
	h->slot[i] = k;
}

/* Insert k (never 0); doubles the table at half load. */
static int lp_hset_put(struct lp_hset *h, uint64_t k)
{
	if (2 * (h->used + 1) > h->cap) {
		struct lp_hset g = { calloc(2 * h->cap, sizeof(uint64_t)), 2 * h->cap, 0 };

		if (!g.slot)
			return -ENOMEM;
		for (size_t i = 0; i < h->cap; i++)
			if (h->slot[i])
				lp_hset_put_raw(&g, h->slot[i]);
		free(h->slot);
		*h = g;
	}
	lp_hset_put_raw(h, k);
	return 0;
}

static double lp_elapsed_ms(const struct lp_glpk *g)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - g->t0.tv_sec) * 1e3 + (double)(t.tv_nsec - g->t0.tv_nsec) / 1e6;
}

static int lp_glpk_alloc(struct lp_glpk *g)
{
	size_t n = g->in->n;

	g->lb = malloc(n * sizeof(*g->lb));
	g->sol = malloc(n * sizeof(*g->sol));
	g->cs = malloc(n * sizeof(*g->cs));
	g->feas = malloc(n * sizeof(*g->feas));
	g->mid = malloc(n * sizeof(*g->mid));
	g->order = malloc(n * sizeof(*g->order));
	g->viol = malloc(n * sizeof(*g->viol));
	g->key = malloc(n * sizeof(*g->key));
	g->phash = malloc(n * sizeof(*g->phash));
	g->cand = malloc(n * sizeof(*g->cand));
	g->ind = malloc((n + 1) * sizeof(*g->ind));
	g->val = malloc((n + 1) * sizeof(*g->val));
	g->cuts.cap = 64;
	g->cuts.slot = calloc(g->cuts.cap, sizeof(uint64_t));
	if (!g->lb || !g->sol || !g->cs || !g->feas || !g->mid || !g->order || !g->viol || !g->key || !g->phash || !g->cand ||
	    !g->ind || !g->val || !g->cuts.slot)
		return -ENOMEM;
	return 0;
}

static void lp_glpk_free(struct lp_glpk *g)
{
	if (g->lp)
		glp_delete_prob(g->lp);
	free(g->lb);
	free(g->sol);
	free(g->cs);
	free(g->feas);
	free(g->mid);
	free(g->order);
	free(g->viol);
	free(g->key);
	free(g->phash);
	free(g->cand);
	free(g->ind);
	free(g->val);
	free(g->cuts.slot);
	free(g->row_hash);
}

/* Earliest completions along the chains: the cut-free optimum, since
 * weights are >= 0. */
static void lp_glpk_bounds(struct lp_glpk *g)
{
	const struct lp_input *in = g->in;

	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];

		if (it->prev < 0)
			g->lb[i] = it->release_s + it->span_s;
		else
			g->lb[i] = g->lb[it->prev] + it->gap_s + it->span_s;
		g->sol[i] = g->lb[i];
		g->key[i] = lp_mix64(i) | 1;
	}
}

/*
 * Column scales: a power of two near each C_i's size (its value at the
 * centre, else a lower bound), so that GLPK's absolute tolerances act as
 * relative ones on every item, small or large. Without this, a short item
 * next to long ones keeps a large relative violation GLPK cannot see.
 */
static void lp_glpk_scales(struct lp_glpk *g)
{
	const struct lp_input *in = g->in;

	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];
		double size = fmax(g->lb[i], it->work / (2.0 * in->machines) + it->span_s / 2.0);

		g->cs[i] = lp_pow2(g->inout ? fmax(g->feas[i], size) : size);
	}
}

/* Chain row C_i - C_prev >= gap_i + span_i, scaled like the columns. */
static void lp_glpk_chain_row(struct lp_glpk *g, int col, const struct lp_item *it)
{
	int r = glp_add_rows(g->lp, 1);
	double a = g->cs[col - 1], b = g->cs[it->prev], s = lp_pow2(fmax(a, b));

	g->ind[1] = col;
	g->val[1] = a / s;
	g->ind[2] = it->prev + 1;
	g->val[2] = -b / s;
	glp_set_mat_row(g->lp, r, 2, g->ind, g->val);
	glp_set_row_bnds(g->lp, r, GLP_LO, (it->gap_s + it->span_s) / s, 0.0);
	g->nchain = r;
}

/* Columns C_i >= lb_i (which implies the release rows), objective scaled
 * to a largest coefficient near 1, one row per chain link, all rows basic. */
static void lp_glpk_build(struct lp_glpk *g)
{
	const struct lp_input *in = g->in;
	double wmax = 0.0;
	int ncol = (int)in->n;

	for (size_t i = 0; i < in->n; i++)
		wmax = fmax(wmax, in->items[i].weight * g->cs[i]);
	wmax = wmax > 0.0 ? lp_pow2(wmax) : 1.0;
	glp_set_obj_dir(g->lp, GLP_MIN);
	glp_add_cols(g->lp, ncol);
	for (int j = 1; j <= ncol; j++) {
		const struct lp_item *it = &in->items[j - 1];

		glp_set_col_bnds(g->lp, j, GLP_LO, g->lb[j - 1] / g->cs[j - 1], 0.0);
		glp_set_obj_coef(g->lp, j, it->weight * g->cs[j - 1] / wmax);
		if (it->prev >= 0)
			lp_glpk_chain_row(g, j, it);
	}
	glp_std_basis(g->lp);
}

/* Relative violation and set hash of every prefix of g->order at g->pt. */
static void lp_glpk_prefixes(struct lp_glpk *g)
{
	const struct lp_input *in = g->in;
	double wtot = 0.0;
	long double w = 0.0L, lhs = 0.0L;
	uint64_t h = 0;

	for (size_t i = 0; i < in->n; i++)
		wtot += in->items[i].work;
	for (size_t k = 0; k < in->n; k++) {
		const struct lp_item *it = &in->items[g->order[k]];
		double wk = it->work / wtot;
		long double rhs;

		w += wk;
		lhs += (long double)wk * (g->pt[g->order[k]] - it->span_s / 2.0);
		rhs = w * w * wtot / (2.0L * in->machines);
		g->viol[k] = rhs > 0.0L ? (double)((rhs - lhs) / rhs) : 0.0;
		h += g->key[g->order[k]];
		g->phash[k] = h ? h : 1;
	}
}

static double lp_glpk_mval(const struct lp_glpk *g, size_t k)
{
	return g->pt[g->order[k]] - g->in->items[g->order[k]].span_s / 2.0;
}

/* The prefix lengths that end a group of equal M (the most violated set holds
 * whole tie groups), each marked if it is a local maximum of the violation
 * among them; then only the violated ones not cut yet are kept. */
static size_t lp_glpk_candidates(struct lp_glpk *g, double tol)
{
	size_t n = g->in->n, ne = 0, nc = 0;

	for (size_t k = 0; k < n; k++) {
		if (k + 1 < n && lp_glpk_mval(g, k + 1) == lp_glpk_mval(g, k))
			continue;
		g->cand[ne].viol = g->viol[k];
		g->cand[ne].len = (uint32_t)(k + 1);
		g->cand[ne].pick = false;
		ne++;
	}
	for (size_t e = 0; e < ne; e++) {
		double left = e > 0 ? g->cand[e - 1].viol : -INFINITY;
		double right = e + 1 < ne ? g->cand[e + 1].viol : -INFINITY;

		g->cand[e].peak = g->cand[e].viol >= left && g->cand[e].viol >= right;
	}
	for (size_t e = 0; e < ne; e++)
		if (g->cand[e].viol > tol && !lp_hset_has(&g->cuts, g->phash[g->cand[e].len - 1]))
			g->cand[nc++] = g->cand[e];
	return nc;
}

static int lp_cand_cmp(const void *pa, const void *pb)
{
	const struct lp_cand *a = pa, *b = pb;

	if (a->pick != b->pick)
		return a->pick ? -1 : 1;
	if (a->viol != b->viol)
		return a->viol > b->viol ? -1 : 1;
	return (a->len > b->len) - (a->len < b->len);
}

/* Choose at most q candidates: the local maxima, most violated first (the
 * global maximum is one), topped up with violated prefixes spread evenly
 * over the order. Moves the chosen ones to the front; returns their count. */
static size_t lp_glpk_select(struct lp_cand *c, size_t nc, size_t q)
{
	size_t np = 0, rest, want, seen = 0, j = 0;

	for (size_t e = 0; e < nc; e++) {
		c[e].pick = c[e].peak;
		np += c[e].peak;
	}
	rest = nc - np;
	want = np < q ? q - np : 0;
	want = want < rest ? want : rest;
	for (size_t e = 0; e < nc && j < want; e++) {
		if (c[e].peak)
			continue;
		if (seen == (size_t)(((double)j + 0.5) * (double)rest / (double)want)) {
			c[e].pick = true;
			j++;
		}
		seen++;
	}
	qsort(c, nc, sizeof(*c), lp_cand_cmp);
	return np + want < q ? np + want : q;
}

/* Remember the set hash of a new cut row. */
static int lp_glpk_hash_push(struct lp_glpk *g, uint64_t h)
{
	if (g->nrow_hash == g->row_hash_cap) {
		size_t cap = g->row_hash_cap ? 2 * g->row_hash_cap : 256;
		uint64_t *p = realloc(g->row_hash, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		g->row_hash = p;
		g->row_hash_cap = cap;
	}
	g->row_hash[g->nrow_hash++] = h;
	return lp_hset_put(&g->cuts, h);
}

/*
 * Drop the cut rows that are basic with real slack. Deleting basic rows
 * keeps the basis valid, so the next solve stays warm. Done every few
 * rounds while the objective rises; the dropped sets may be cut again
 * later, so when it has not risen since the last removal the wait before
 * the next one doubles, and cuts cannot come and go forever.
 */
static int lp_glpk_prune(struct lp_glpk *g)
{
	double obj = glp_get_obj_val(g->lp);
	int nrows = glp_get_num_rows(g->lp), ndel = 0;
	int *num;
	size_t keep = 0;

	if (g->st.rounds - g->pruned_round < g->prune_wait)
		return 0;
	if (obj > g->pruned_obj + LP_PRUNE_GAIN * fabs(obj))
		g->prune_wait = LP_PRUNE_EVERY;
	else if (g->prune_wait < UINT32_MAX / 2)
		g->prune_wait *= 2;
	g->pruned_obj = obj;
	g->pruned_round = g->st.rounds;
	num = malloc(((size_t)nrows + 1) * sizeof(*num));
	if (!num)
		return -ENOMEM;
	for (int r = g->nchain + 1; r <= nrows; r++) {
		double lo = glp_get_row_lb(g->lp, r);
		bool slack = glp_get_row_stat(g->lp, r) == GLP_BS &&
			     glp_get_row_prim(g->lp, r) > lo + 1e-6 * (1.0 + fabs(lo));

		if (slack)
			num[++ndel] = r;
		else
			g->row_hash[keep++] = g->row_hash[r - g->nchain - 1];
	}
	if (ndel > 0)
		glp_del_rows(g->lp, ndel, num);
	free(num);
	g->nrow_hash = keep;
	memset(g->cuts.slot, 0, g->cuts.cap * sizeof(uint64_t));
	g->cuts.used = 0;
	for (size_t i = 0; i < keep; i++)
		lp_hset_put_raw(&g->cuts, g->row_hash[i]);
	return 0;
}

/* Parallel row of the first len items of g->order, in GLPK's columns and
 * scaled so its largest coefficient is in [0.5, 1). */
static int lp_glpk_add_row(struct lp_glpk *g, uint32_t len)
{
	const struct lp_input *in = g->in;
	long double work = 0.0L, half_span = 0.0L, rhs;
	double amax = 0.0, s;
	int r;

	for (uint32_t k = 0; k < len; k++) {
		uint32_t i = g->order[k];
		const struct lp_item *it = &in->items[i];
		double a = it->work * g->cs[i];

		g->ind[k + 1] = (int)i + 1;
		g->val[k + 1] = a;
		work += it->work;
		half_span += (long double)it->work * it->span_s / 2.0L;
		amax = fmax(amax, a);
	}
	rhs = work * work / (2.0L * in->machines) + half_span;
	s = lp_pow2(amax);
	for (uint32_t k = 1; k <= len; k++)
		g->val[k] /= s;
	r = glp_add_rows(g->lp, 1);
	glp_set_mat_row(g->lp, r, (int)len, g->ind, g->val);
	glp_set_row_bnds(g->lp, r, GLP_LO, (double)(rhs / s), 0.0);
	g->st.cuts++;
	return lp_glpk_hash_push(g, g->phash[len - 1]);
}

/* Milliseconds GLPK may still use (INT32_MAX without a budget), <= 0 when spent. */
static int lp_glpk_tm_lim(const struct lp_glpk *g)
{
	double left;

	if (!(g->opt->time_limit_ms > 0.0))
		return INT32_MAX;
	left = g->opt->time_limit_ms - lp_elapsed_ms(g);
	if (left <= 0.0)
		return 0;
	return left >= INT32_MAX ? INT32_MAX : (int)ceil(left);
}

/* One simplex run; 0 if optimal, 1 if it failed, ERR_LP_TIMEOUT. */
static int lp_glpk_run(struct lp_glpk *g, int meth, double tol_bnd)
{
	glp_smcp parm;
	int rc;

	glp_init_smcp(&parm);
	parm.msg_lev = GLP_MSG_OFF;
	parm.meth = meth;
	parm.presolve = GLP_OFF;
	parm.tol_bnd = tol_bnd;
	parm.tol_dj = LP_TOL_DJ;
	parm.tm_lim = lp_glpk_tm_lim(g);
	if (parm.tm_lim <= 0)
		return ERR_LP_TIMEOUT;
	rc = glp_simplex(g->lp, &parm);
	g->st.simplex_iters = (uint32_t)glp_get_it_cnt(g->lp);
	if (rc == GLP_ETMLIM)
		return ERR_LP_TIMEOUT;
	if (rc == 0 && glp_get_status(g->lp) == GLP_OPT)
		return 0;
	return 1;
}

/* Warm dual simplex; on failure once more from an advanced basis with the
 * primal simplex. */
static int lp_glpk_simplex(struct lp_glpk *g, double tol_bnd)
{
	int rc = lp_glpk_run(g, GLP_DUALP, tol_bnd), term;

	if (rc <= 0)
		return rc;
	term = glp_term_out(GLP_OFF);
	glp_adv_basis(g->lp, 0);
	glp_term_out(term);
	rc = lp_glpk_run(g, GLP_PRIMAL, tol_bnd);
	return rc <= 0 ? rc : ERR_LP_FAILED;
}

/* Read C back in seconds, lifting each value onto its release and chain rows
 * exactly (GLPK meets them only within its tolerance); raising C never
 * breaks a parallel row. */
static void lp_glpk_read(struct lp_glpk *g)
{
	const struct lp_input *in = g->in;

	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];
		double c = glp_get_col_prim(g->lp, (int)i + 1) * g->cs[i];

		if (it->prev >= 0)
			c = fmax(c, g->sol[it->prev] + it->gap_s + it->span_s);
		g->sol[i] = fmax(c, g->lb[i]);
	}
}

/* Every violated prefix is already a row: GLPK met it only within its
 * primal tolerance. Tighten that and re-solve; 1 once it cannot go lower. */
static int lp_glpk_stalled(struct lp_glpk *g, double *tol_bnd)
{
	int rc;

	if (*tol_bnd <= LP_TOL_BND_MIN)
		return 1;
	*tol_bnd = fmax(*tol_bnd / 100.0, LP_TOL_BND_MIN);
	rc = lp_glpk_simplex(g, *tol_bnd);
	if (rc)
		return rc;
	lp_glpk_read(g);
	return 0;
}

/*
 * Separate at *pt (g->sol or g->mid): add up to q of its violated prefixes
 * not cut yet, counting them in *added; the largest violation at *pt goes
 * to *viol. 0 or -ENOMEM.
 */
static int lp_glpk_cuts_at(struct lp_glpk *g, const double *pt, double tol, size_t q,
			   size_t *added, double *viol)
{
	size_t nc, pick;

	g->pt = pt;
	*viol = lp_separate(g->in, pt, g->order, NULL);
	if (isnan(*viol))
		return -ENOMEM;
	if (*viol <= tol || q == 0)
		return 0;
	lp_glpk_prefixes(g);
	nc = lp_glpk_candidates(g, tol);
	pick = lp_glpk_select(g->cand, nc, q);
	for (size_t e = 0; e < pick; e++) {
		int rc = lp_glpk_add_row(g, g->cand[e].len);

		if (rc)
			return rc;
		(*added)++;
	}
	return 0;
}

/*
 * In-out separation: look for cuts at a point between the LP solution and
 * the centre (a point meeting every row). Such cuts are violated by the LP
 * solution too, and deeper than the ones found at it. When that point meets
 * every row it becomes the centre and the search moves closer.
 */
static int lp_glpk_inout(struct lp_glpk *g, double tol, size_t q, size_t *added)
{
	size_t n = g->in->n;

	for (int t = 0; t < LP_INOUT_TRIES && q > 0; t++) {
		size_t before = *added;
		double v;
		int rc;

		for (size_t i = 0; i < n; i++)
			g->mid[i] = LP_INOUT_ALPHA * g->sol[i] + (1.0 - LP_INOUT_ALPHA) * g->feas[i];
		rc = lp_glpk_cuts_at(g, g->mid, tol, q, added, &v);
		if (rc || *added > before || v > tol)
			return rc;
		memcpy(g->feas, g->mid, n * sizeof(*g->feas));
	}
	return 0;
}

/* One separation round: 1 when no row is violated beyond tol (or nothing
 * more can be done), 0 after adding cuts and re-solving, or an error. The
 * most violated prefixes at the LP solution itself always take part, so its
 * worst violations cannot linger while the in-out cuts make progress
 * elsewhere. */
static int lp_glpk_round(struct lp_glpk *g, double tol, double *tol_bnd)
{
	size_t q = g->opt->cuts_per_round ? g->opt->cuts_per_round : 32, added = 0;
	size_t q_sol = g->inout ? (q + 3) / 4 : q;
	double v = lp_separate(g->in, g->sol, NULL, NULL);
	int rc;

	if (isnan(v))
		return -ENOMEM;
	g->st.max_violation = v;
	if (v <= tol)
		return 1;
	if (g->opt->max_rounds && g->st.rounds >= g->opt->max_rounds)
		return ERR_LP_TIMEOUT;
	if (lp_glpk_tm_lim(g) <= 0)
		return ERR_LP_TIMEOUT;
	rc = lp_glpk_prune(g);
	if (!rc)
		rc = lp_glpk_cuts_at(g, g->sol, tol, q_sol, &added, &v);
	if (!rc && g->inout)
		rc = lp_glpk_inout(g, tol, q - added, &added);
	if (rc)
		return rc;
	if (added == 0)
		return lp_glpk_stalled(g, tol_bnd);
	g->st.rounds++;
	rc = lp_glpk_simplex(g, *tol_bnd);
	if (rc)
		return rc;
	lp_glpk_read(g);
	return 0;
}

/*
 * The in-out centre: the exact optimum of the chain-free relaxation in which
 * each item only keeps C_i >= lb_i, lifted onto the chain rows. It meets
 * every parallel row (lifting only raises C) and every release and chain row.
 */
static int lp_glpk_centre(struct lp_glpk *g)
{
	const struct lp_input *in = g->in;
	struct lp_item *relaxed = malloc(in->n * sizeof(*relaxed));
	struct lp_input rin = { .n = in->n, .items = relaxed, .machines = in->machines };
	double obj;
	int rc;

	if (!relaxed)
		return -ENOMEM;
	for (size_t i = 0; i < in->n; i++) {
		relaxed[i] = in->items[i];
		relaxed[i].prev = -1;
		relaxed[i].release_s = fmax(0.0, g->lb[i] - in->items[i].span_s);
	}
	rc = lp_solve_exact(&rin, g->feas, &obj);
	free(relaxed);
	if (rc)
		return rc;
	memcpy(g->mid, g->feas, in->n * sizeof(*g->mid));
	for (size_t i = 0; i < in->n; i++) {
		const struct lp_item *it = &in->items[i];

		if (it->prev >= 0)
			g->feas[i] = fmax(g->feas[i], g->feas[it->prev] + it->gap_s + it->span_s);
		g->feas[i] = fmax(g->feas[i], g->lb[i]);
	}
	return 0;
}

/*
 * Start from the rows that are tight at the optimum of the chain-free
 * relaxation (left in g->mid by lp_glpk_centre): the prefixes of its order
 * that meet their parallel row with (relative) equality. Every tight set at
 * a point is such a prefix (the separation argument with slack instead of
 * ratio), so on inputs without chains, where that point is the optimum,
 * these rows alone certify it.
 */
static int lp_glpk_seed(struct lp_glpk *g)
{
	size_t nc;

	g->pt = g->mid;
	if (isnan(lp_separate(g->in, g->mid, g->order, NULL)))
		return -ENOMEM;
	lp_glpk_prefixes(g);
	nc = lp_glpk_candidates(g, -LP_SEED_SLACK);
	for (size_t e = 0; e < nc; e++) {
		int rc = lp_glpk_add_row(g, g->cand[e].len);

		if (rc)
			return rc;
	}
	return 0;
}

/* Seed, then separation rounds until done, out of budget or failed. */
static int lp_glpk_loop(struct lp_glpk *g, double tol)
{
	double tol_bnd = LP_TOL_BND;
	int rc = g->inout ? lp_glpk_seed(g) : 0;

	if (rc)
		return rc;
	do
		rc = lp_glpk_round(g, tol, &tol_bnd);
	while (rc == 0);
	return rc == 1 ? 0 : rc;
}

int lp_solve_glpk(const struct lp_input *in, const struct lp_options *opt, double *completion,
		  double *objective, struct lp_stats *stats)
{
	struct lp_glpk g = { .in = in, .opt = opt };
	struct lp_options def;
	struct lp_input sh;
	struct lp_item *copy = NULL;
	long double obj = 0.0L;
	double tol, r0;
	int rc = lp_input_check(in, NULL, 0);

	if (rc)
		return rc;
	/* solved from the earliest release (lp.h), then moved back */
	r0 = lp_origin(in);
	rc = lp_shift(in, r0, &sh, &copy);
	if (rc)
		return rc;
	g.in = &sh;
	clock_gettime(CLOCK_MONOTONIC, &g.t0);
	if (!opt) {
		lp_options_default(&def);
		g.opt = &def;
	}
	tol = isfinite(g.opt->tolerance) && g.opt->tolerance >= 0.0 ? g.opt->tolerance : 1e-9;
	if (in->n == 0)
		goto out_result;
	rc = lp_glpk_alloc(&g);
	if (rc)
		goto out_free;
	lp_glpk_bounds(&g);
	rc = lp_glpk_centre(&g);
	/* Chains so long that lb leaves lp_input_check's range: no centre. */
	if (rc && rc != -EINVAL)
		goto out_free;
	g.inout = rc == 0;
	lp_glpk_scales(&g);
	g.lp = glp_create_prob();
	g.pruned_obj = -INFINITY;
	g.prune_wait = LP_PRUNE_EVERY;
	lp_glpk_build(&g);
	rc = lp_glpk_loop(&g, tol);
	if (rc && rc != ERR_LP_TIMEOUT && rc != ERR_LP_FAILED)
		goto out_free;
	for (size_t i = 0; i < in->n; i++) {
		completion[i] = g.sol[i] + r0;
		obj += (long double)in->items[i].weight * completion[i];
	}
out_result:
	if (objective)
		*objective = (double)obj;
	if (stats)
		*stats = g.st;
out_free:
	lp_glpk_free(&g);
	free(copy);
	return rc;
}
