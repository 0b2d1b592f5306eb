/* SPDX-License-Identifier: MIT */
/* lp_general_solve, the small general LP of lp.h (policies such as Gavel's
 * allocation): checked, then loaded into GLPK and solved by its simplex. */
#include "lp.h"

#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdlib.h>

#include "err.h"

static int lp_general_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* glp_load_matrix aborts on a repeated (row, column) entry: refuse them. */
static int lp_general_dups(const struct lp_general *lp)
{
	uint64_t *key;
	int rc = 0;

	if (lp->nnz < 2)
		return 0;
	key = malloc(lp->nnz * sizeof(*key));
	if (!key)
		return -ENOMEM;
	for (size_t k = 0; k < lp->nnz; k++)
		key[k] = (uint64_t)(uint32_t)lp->ia[k] << 32 | (uint32_t)lp->ja[k];
	qsort(key, lp->nnz, sizeof(*key), lp_general_cmp);
	for (size_t k = 1; k < lp->nnz && rc == 0; k++)
		if (key[k] == key[k - 1])
			rc = -EINVAL;
	free(key);
	return rc;
}

/* Check a general LP before GLPK sees it (GLPK aborts on misuse). */
static int lp_general_check(const struct lp_general *lp)
{
	if (!lp || lp->nrows < 0 || lp->ncols < 1 || !lp->obj || !lp->col_lo || !lp->col_hi ||
	    (lp->nrows > 0 && (!lp->row_lo || !lp->row_hi)) || (lp->nnz && (!lp->ia || !lp->ja || !lp->ar)))
		return -EINVAL;
	for (int j = 0; j < lp->ncols; j++)
		if (!isfinite(lp->obj[j]) || isnan(lp->col_lo[j]) || isnan(lp->col_hi[j]) ||
		    lp->col_lo[j] > lp->col_hi[j] || lp->col_lo[j] == INFINITY || lp->col_hi[j] == -INFINITY)
			return -EINVAL;
	for (int i = 0; i < lp->nrows; i++)
		if (isnan(lp->row_lo[i]) || isnan(lp->row_hi[i]) || lp->row_lo[i] > lp->row_hi[i] ||
		    lp->row_lo[i] == INFINITY || lp->row_hi[i] == -INFINITY)
			return -EINVAL;
	for (size_t k = 0; k < lp->nnz; k++)
		if (lp->ia[k] < 0 || lp->ia[k] >= lp->nrows || lp->ja[k] < 0 || lp->ja[k] >= lp->ncols ||
		    !isfinite(lp->ar[k]))
			return -EINVAL;
	if (lp->obj2) {
		if (lp->keep_col < 0 || lp->keep_col >= lp->ncols || !(lp->keep_slack >= 0))
			return -EINVAL;
		for (int j = 0; j < lp->ncols; j++)
			if (!isfinite(lp->obj2[j]))
				return -EINVAL;
	}
	return lp_general_dups(lp);
}

/* GLPK bound kind for [lo, hi] with infinities. */
static int lp_general_kind(double lo, double hi)
{
	if (isinf(lo) && isinf(hi))
		return GLP_FR;
	if (isinf(hi))
		return GLP_LO;
	if (isinf(lo))
		return GLP_UP;
	return lo == hi ? GLP_FX : GLP_DB;
}

/* Load the problem into a new GLPK object; NULL on allocation failure. */
static glp_prob *lp_general_build(const struct lp_general *lp, int *ia, int *ja, double *ar)
{
	glp_prob *p = glp_create_prob();

	glp_set_obj_dir(p, lp->maximise ? GLP_MAX : GLP_MIN);
	if (lp->nrows)
		glp_add_rows(p, lp->nrows);
	glp_add_cols(p, lp->ncols);
	for (int i = 0; i < lp->nrows; i++)
		glp_set_row_bnds(p, i + 1, lp_general_kind(lp->row_lo[i], lp->row_hi[i]),
				 isinf(lp->row_lo[i]) ? 0 : lp->row_lo[i],
				 isinf(lp->row_hi[i]) ? 0 : lp->row_hi[i]);
	for (int j = 0; j < lp->ncols; j++) {
		glp_set_col_bnds(p, j + 1, lp_general_kind(lp->col_lo[j], lp->col_hi[j]),
				 isinf(lp->col_lo[j]) ? 0 : lp->col_lo[j],
				 isinf(lp->col_hi[j]) ? 0 : lp->col_hi[j]);
		glp_set_obj_coef(p, j + 1, lp->obj[j]);
	}
	for (size_t k = 0; k < lp->nnz; k++) {
		ia[k + 1] = lp->ia[k] + 1;
		ja[k + 1] = lp->ja[k] + 1;
		ar[k + 1] = lp->ar[k];
	}
	if (lp->nnz)
		glp_load_matrix(p, (int)lp->nnz, ia, ja, ar);
	return p;
}

/* The lexicographic second stage on the solved problem p: hold keep_col
 * near its optimum, switch to obj2 and re-optimise from the current basis
 * (no presolve, so the basis is used). x is overwritten only on success. */
static void lp_general_second(const struct lp_general *lp, glp_prob *p, glp_smcp *parm, double *x)
{
	int k = lp->keep_col, st;
	double v = glp_get_col_prim(p, k + 1), band = lp->keep_slack * fabs(v);
	double lo = lp->col_lo[k], hi = lp->col_hi[k];

	/* Keep the column from moving the way that worsens the first objective. */
	if ((lp->obj[k] > 0) == lp->maximise)
		lo = fmax(lo, v - band);
	else
		hi = fmin(hi, v + band);
	glp_set_col_bnds(p, k + 1, lp_general_kind(lo, hi), isinf(lo) ? 0 : lo, isinf(hi) ? 0 : hi);
	for (int j = 0; j < lp->ncols; j++)
		glp_set_obj_coef(p, j + 1, lp->obj2[j]);
	parm->presolve = GLP_OFF;
	st = glp_simplex(p, parm);
	if (st != 0 || glp_get_status(p) != GLP_OPT)
		return;
	for (int j = 0; j < lp->ncols; j++)
		x[j] = glp_get_col_prim(p, j + 1);
}

int lp_general_solve(const struct lp_general *lp, double *x, double *objective)
{
	int *ia = NULL, *ja = NULL, rc = lp_general_check(lp), st;
	double *ar = NULL;
	glp_prob *p;
	glp_smcp parm;

	if (rc)
		return rc;
	ia = malloc((lp->nnz + 1) * sizeof(*ia));
	ja = malloc((lp->nnz + 1) * sizeof(*ja));
	ar = malloc((lp->nnz + 1) * sizeof(*ar));
	if (!ia || !ja || !ar) {
		rc = -ENOMEM;
		goto out;
	}
	p = lp_general_build(lp, ia, ja, ar);
	glp_init_smcp(&parm);
	parm.msg_lev = GLP_MSG_OFF;
	parm.presolve = GLP_ON;
	if (lp->time_limit_ms > 0)
		parm.tm_lim = (int)fmin(lp->time_limit_ms, 1e9);
	st = glp_simplex(p, &parm);
	if (st == GLP_ETMLIM)
		rc = ERR_LP_TIMEOUT;
	else if (st == GLP_ENOPFS || st == GLP_ENODFS || glp_get_status(p) == GLP_NOFEAS)
		rc = ERR_LP_INFEASIBLE;
	else if (st != 0 || glp_get_status(p) != GLP_OPT)
		rc = ERR_LP_FAILED;
	if (rc == 0) {
		for (int j = 0; j < lp->ncols; j++)
			x[j] = glp_get_col_prim(p, j + 1);
		if (objective)
			*objective = glp_get_obj_val(p);
		if (lp->obj2)
			lp_general_second(lp, p, &parm, x);
	}
	glp_delete_prob(p);
out:
	free(ia);
	free(ja);
	free(ar);
	return rc;
}
