/* SPDX-License-Identifier: MIT */
/* Online NNLS fit of a job's round time (Optimus' speed model adapted to
 * all-reduce rounds on typed GPUs). */
#include "speed.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const double speed_prior[SPEED_NPARAM] = { 1.0, 1.0, 0.0, 0.0 };

void speed_model_init(struct speed_model *m, double prior_weight)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->theta, speed_prior, sizeof(speed_prior));
	m->prior_weight = prior_weight > 0 ? prior_weight : 20.0;
}

void speed_model_observe(struct speed_model *m, double compute_pred_s, double sync_pred_s,
			 uint32_t k, double round_s, double rounds)
{
	double x[SPEED_NPARAM] = { compute_pred_s, sync_pred_s, 1.0, (double)k };

	if (!(compute_pred_s > 0) || !(sync_pred_s >= 0) || !(round_s > 0) || !(rounds > 0) ||
	    !isfinite(compute_pred_s + sync_pred_s + round_s + rounds) || k == 0)
		return;
	for (int i = 0; i < SPEED_NPARAM; i++) {
		for (int j = 0; j < SPEED_NPARAM; j++)
			m->ata[i][j] += rounds * x[i] * x[j];
		m->atb[i] += rounds * x[i] * round_s;
	}
	m->weight_sum += rounds;
	m->dirty = true;
}

/* Solve the n x n system a x = b in place by Gaussian elimination with
 * partial pivoting; -EDOM when singular. */
static int speed_solve(double a[SPEED_NPARAM][SPEED_NPARAM], double *b, int n, double *x)
{
	for (int c = 0; c < n; c++) {
		int piv = c;

		for (int r = c + 1; r < n; r++)
			if (fabs(a[r][c]) > fabs(a[piv][c]))
				piv = r;
		if (fabs(a[piv][c]) < 1e-12)
			return -EDOM;
		if (piv != c) {
			for (int k = 0; k < n; k++) {
				double t = a[c][k];

				a[c][k] = a[piv][k];
				a[piv][k] = t;
			}
			double t = b[c];

			b[c] = b[piv];
			b[piv] = t;
		}
		for (int r = c + 1; r < n; r++) {
			double f = a[r][c] / a[c][c];

			for (int k = c; k < n; k++)
				a[r][k] -= f * a[c][k];
			b[r] -= f * b[c];
		}
	}
	for (int r = n - 1; r >= 0; r--) {
		double s = b[r];

		for (int k = r + 1; k < n; k++)
			s -= a[r][k] * x[k];
		x[r] = s / a[r][r];
	}
	return 0;
}

/* Objective |Ax-b|^2 up to the constant b'b: x'AtAx - 2 x'Atb. */
static double speed_objective(const double *ata, const double *atb, int n, const double *x)
{
	double v = 0;

	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++)
			v += x[i] * ata[i * n + j] * x[j];
		v -= 2 * x[i] * atb[i];
	}
	return v;
}

/* Least squares restricted to the variables in mask (others 0). */
static int speed_solve_subset(const double *ata, const double *atb, int n, unsigned mask, double *x)
{
	double a[SPEED_NPARAM][SPEED_NPARAM], b[SPEED_NPARAM], y[SPEED_NPARAM];
	int idx[SPEED_NPARAM], k = 0;

	for (int i = 0; i < n; i++)
		if (mask & (1u << i))
			idx[k++] = i;
	for (int r = 0; r < k; r++) {
		for (int c = 0; c < k; c++)
			a[r][c] = ata[idx[r] * n + idx[c]];
		b[r] = atb[idx[r]];
	}
	if (k && speed_solve(a, b, k, y))
		return -EDOM;
	for (int i = 0; i < n; i++)
		x[i] = 0;
	for (int r = 0; r < k; r++)
		x[idx[r]] = y[r];
	return 0;
}

int speed_nnls_normal(const double *ata, const double *atb, int n, double *x)
{
	double best = INFINITY, cand[SPEED_NPARAM];
	bool found = false;

	if (n < 1 || n > SPEED_NPARAM)
		return -EDOM;
	for (unsigned mask = 0; mask < (1u << n); mask++) {
		bool ok = true;
		double v;

		if (speed_solve_subset(ata, atb, n, mask, cand))
			continue;
		for (int i = 0; i < n; i++)
			ok = ok && cand[i] >= -1e-12;
		if (!ok)
			continue;
		v = speed_objective(ata, atb, n, cand);
		if (v < best - 1e-15) {
			best = v;
			found = true;
			for (int i = 0; i < n; i++)
				x[i] = cand[i] > 0 ? cand[i] : 0;
		}
	}
	return found ? 0 : -EDOM;
}

int speed_model_fit(struct speed_model *m)
{
	double ata[SPEED_NPARAM * SPEED_NPARAM], atb[SPEED_NPARAM], x[SPEED_NPARAM];
	double scale = 0;
	int rc;

	/* The prior as pseudo-observations theta_i = prior_i, each scaled to the
	 * observations' magnitude so it neither dominates nor vanishes. */
	for (int i = 0; i < SPEED_NPARAM; i++)
		scale += m->ata[i][i];
	scale = m->weight_sum > 0 ? scale / (SPEED_NPARAM * m->weight_sum) : 1.0;
	if (!(scale > 0))
		scale = 1.0;
	for (int i = 0; i < SPEED_NPARAM; i++) {
		for (int j = 0; j < SPEED_NPARAM; j++)
			ata[i * SPEED_NPARAM + j] = m->ata[i][j];
		ata[i * SPEED_NPARAM + i] += m->prior_weight * scale;
		atb[i] = m->atb[i] + m->prior_weight * scale * speed_prior[i];
	}
	rc = speed_nnls_normal(ata, atb, SPEED_NPARAM, x);
	if (rc)
		return rc;
	memcpy(m->theta, x, sizeof(x));
	m->dirty = false;
	return 0;
}

double speed_model_predict(const struct speed_model *m, double compute_pred_s, double sync_pred_s,
			   uint32_t k)
{
	const double *th = m->theta;

	return th[0] * compute_pred_s + th[1] * sync_pred_s + th[2] + th[3] * (double)k;
}
