/* SPDX-License-Identifier: MIT */
/* Optimus-style speed model: a job's round time as a non-negative
 * combination of the profile's predicted compute and sync time and two
 * overhead terms, fitted online (NNLS) to the round times actually seen.
 *
 *   t(k) = th0 * compute_pred + th1 * sync_pred(k) + th2 + th3 * k
 *
 * compute_pred is the profile's busiest-GPU compute for the placement and
 * sync_pred the profile's all-reduce time for k GPUs, so th = (1,1,0,0) when
 * the profile is exact. The fit is pulled toward that prior by a few pseudo
 * observations, so one or two reports cannot swing it, while many reports
 * from a slower-than-profiled job move th0/th1 where the data says. */
#ifndef HARE_SPEED_H
#define HARE_SPEED_H

#include <stdbool.h>
#include <stdint.h>

#define SPEED_NPARAM 4

struct speed_model {
	double theta[SPEED_NPARAM];
	/* Normal equations of the weighted observations so far. */
	double ata[SPEED_NPARAM][SPEED_NPARAM];
	double atb[SPEED_NPARAM];
	double weight_sum;	/* rounds observed */
	double prior_weight;	/* pseudo-rounds pulling toward (1,1,0,0) */
	bool dirty;		/* observations since the last fit */
};

/* Start from the prior; prior_weight <= 0 picks the default (20 rounds). */
void speed_model_init(struct speed_model *m, double prior_weight);

/* Record `rounds` rounds that took round_s each on k GPUs where the profile
 * predicted compute_pred_s and sync_pred_s. Ignores non-finite or
 * non-positive inputs. */
void speed_model_observe(struct speed_model *m, double compute_pred_s, double sync_pred_s,
			 uint32_t k, double round_s, double rounds);

/* Re-fit theta by exact non-negative least squares (all 2^4 active sets of
 * the 4-parameter problem, best feasible one). Returns 0, or -EDOM if the
 * system is degenerate (theta unchanged). */
int speed_model_fit(struct speed_model *m);

/* Predicted round time; fits first if observations are pending (const
 * callers get the last fit). */
double speed_model_predict(const struct speed_model *m, double compute_pred_s, double sync_pred_s,
			   uint32_t k);

/* Exact NNLS on normal equations: minimise |A x - b|^2, x >= 0, given
 * AtA (n x n, row-major) and Atb, n <= 4. Writes x; returns 0 or -EDOM. */
int speed_nnls_normal(const double *ata, const double *atb, int n, double *x);

#endif
