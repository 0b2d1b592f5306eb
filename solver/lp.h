/* SPDX-License-Identifier: MIT */
/* Hare's LP relaxation over completion times: release and chain rows plus
 * Queyranne/Hall parallel inequalities for m machines, solved exactly by a
 * combinatorial algorithm (one group per job) or by GLPK with lazy cuts.
 *
 * Each item i is a group of a job's work: W_i fastest-GPU seconds of tasks
 * that take at least span_i seconds end to end (the job's rounds in it,
 * including the syncs between them). C_i is when the group's last task ends.
 * Rows (all valid for every feasible schedule, so the optimum is a lower
 * bound on sum weight_i * C_i):
 *   release:  C_i >= release_i + span_i               (first group of a job)
 *   chain:    C_i >= C_prev + gap_i + span_i          (later groups)
 *   parallel: for every set S of items,
 *             sum_S W_i (C_i - r0 - span_i / 2) >= W(S)^2 / (2 m)
 * where r0 is the earliest release of a first group (lp_origin): no work
 * is done before it. The parallel row follows from mean busy times: work
 * is done at rate <= m from r0 on, and a group's work at rate <= its task
 * count inside [C_i - span_i, C_i]. With r0 = 0, span_i = p_i and
 * W_i = n_i p_i it is Hall et al.'s inequality
 * sum n p C >= (sum n p)^2/(2m) + 1/2 sum n p^2. Measured from r0, the
 * rows, and so the solution, move with the releases: releasing every item
 * later by t makes every C_i later by t (with r0 = 0 a late release would
 * leave the parallel rows slack, and the order would follow the spans
 * alone, weights unseen).
 * Times are in any unit; the solvers rescale internally.
 */
#ifndef HARE_LP_H
#define HARE_LP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lp_item {
	double work;		/* W_i > 0, in machine-seconds at full speed */
	double span_s;		/* >= 0 */
	double release_s;	/* used when prev < 0 */
	double gap_s;		/* >= 0, used when prev >= 0 (sync between groups) */
	double weight;		/* >= 0, objective coefficient of C_i */
	int32_t prev;		/* preceding group of the same job, or -1; prev < own index */
};

struct lp_input {
	size_t n;
	const struct lp_item *items;
	double machines;	/* m > 0 */
};

struct lp_options {
	double time_limit_ms;	/* GLPK: wall budget (0: none) */
	double tolerance;	/* GLPK: stop when the max relative violation is below (1e-9) */
	uint32_t max_rounds;	/* GLPK: separation rounds cap (0: none) */
	uint32_t cuts_per_round;/* GLPK: violated prefixes added per round (default 32) */
};

struct lp_stats {
	uint32_t rounds;	/* separation rounds (GLPK) */
	uint32_t cuts;		/* parallel rows added (GLPK) */
	uint32_t simplex_iters;
	double max_violation;	/* relative, at the returned solution */
};

/* The earliest release of a first group (prev < 0), or 0 if there is
 * none: the origin of the parallel rows. */
double lp_origin(const struct lp_input *in);

/* For the solvers: *out is in with its releases measured from origin, its
 * items a copy in *copy (free it), or in's own when origin is 0 (*copy
 * NULL). 0 or -ENOMEM. */
int lp_shift(const struct lp_input *in, double origin, struct lp_input *out,
	     struct lp_item **copy);

/* Default options: no time limit, tolerance 1e-9, 32 cuts per round. */
void lp_options_default(struct lp_options *opt);

/* Validate an input before any solver sees it (GLPK aborts on misuse):
 * finite non-negative numbers, work > 0, m > 0, prev < index. 0 or -EINVAL
 * with the reason in errbuf. */
int lp_input_check(const struct lp_input *in, char *errbuf, size_t errlen);

/*
 * Exact combinatorial solver for inputs without chains (every prev == -1).
 * Writes C_i into completion[n] and the objective sum weight_i C_i into
 * *objective. O(n^2) time, O(n) memory. ERR_LP_UNSUPPORTED if the input has
 * chains, -EINVAL if it fails lp_input_check, -ENOMEM.
 */
int lp_solve_exact(const struct lp_input *in, double *completion, double *objective);

/*
 * GLPK reference: build the release/chain rows, solve with the dual simplex,
 * then repeatedly add the most violated parallel rows (exact separation: sort
 * by C_i - span_i/2 and scan prefixes) and re-solve warm until none is
 * violated by more than the tolerance. On ERR_LP_TIMEOUT the last (feasible
 * for release/chain, possibly violating cuts) solution is still written.
 * stats may be NULL.
 */
int lp_solve_glpk(const struct lp_input *in, const struct lp_options *opt, double *completion,
		  double *objective, struct lp_stats *stats);

/*
 * Most violated parallel inequality at C (from lp_origin): returns the
 * largest relative violation (rhs - lhs) / rhs over all sets (0 if none)
 * and, if prefix_len is not NULL, the size of the violating prefix of the
 * order written to order[n] (items sorted by C_i - span_i/2). order may be
 * NULL.
 */
double lp_separate(const struct lp_input *in, const double *completion, uint32_t *order,
		   size_t *prefix_len);

/*
 * A small general LP, for policies that need one (Gavel's allocation over
 * jobs x GPU types): optimise obj'x subject to row_lo <= A x <= row_hi and
 * col_lo <= x <= col_hi, A given as nnz triplets (row ia[k], column ja[k],
 * value ar[k]; 0-based). Use -INFINITY / INFINITY for a missing bound.
 * Solved by GLPK's simplex (lp_general.c). Writes x[ncols] and *objective.
 * Returns 0, -EINVAL for a malformed problem (checked before GLPK sees it),
 * ERR_LP_INFEASIBLE, ERR_LP_TIMEOUT, ERR_LP_FAILED, -ENOMEM.
 */
struct lp_general {
	int nrows, ncols;
	bool maximise;
	const double *obj;		/* ncols */
	const double *col_lo, *col_hi;	/* ncols */
	const double *row_lo, *row_hi;	/* nrows */
	size_t nnz;
	const int *ia, *ja;
	const double *ar;
	double time_limit_ms;		/* 0: none (per stage) */
	/* Optional second, lexicographic stage: when obj2 is not NULL, after
	 * the first optimum, column keep_col is held within keep_slack
	 * (relative) of its optimal value, on the side that would worsen the
	 * first objective, and obj2 is optimised, starting from the
	 * first stage's basis. x then holds the second stage's solution, or
	 * the first's when the second fails; *objective is the first stage's
	 * optimum. Meant for a first objective that is one column (max-min). */
	const double *obj2;		/* ncols, or NULL */
	int keep_col;
	double keep_slack;
};

int lp_general_solve(const struct lp_general *lp, double *x, double *objective);

#endif
