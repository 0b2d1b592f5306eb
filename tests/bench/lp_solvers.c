/* SPDX-License-Identifier: MIT */
/* Benchmark of the two LP solvers on online re-plan snapshots: exact
 * combinatorial vs GLPK with lazy cuts, time and objective gap per size;
 * then GLPK alone on the same jobs cut into 3 chained groups each. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "lp.h"

#define BENCH_GLPK_LIMIT_MS 30000.0

struct bench_row {
	size_t n;
	bool chained;		/* 3 groups per job: GLPK only */
	double machines;
	double exact_ms, exact_obj;
	int exact_rc;
	bool glpk_run;		/* false: skipped (a smaller size ran past the limit) */
	int glpk_rc;
	double glpk_ms, glpk_obj;
	struct lp_stats st;
};

static uint64_t bench_rng = 0x2545f4914f6cdd1dULL;

static double bench_uniform(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return (double)(bench_rng >> 11) / 9007199254740992.0;
}

static double bench_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A snapshot like the scheduler's at a re-plan: every job released (0), work
 * log-uniform over three orders of magnitude, 1..64 tasks per round (span =
 * work / tasks plus up to 30% sync), weights 1..4, m log-uniform 200..16000. */
static void bench_instance(struct lp_item *items, size_t n, double *machines)
{
	*machines = floor(200.0 * pow(80.0, bench_uniform()));
	for (size_t i = 0; i < n; i++) {
		double work = 3600.0 * pow(1000.0, bench_uniform());
		double tasks = pow(2.0, floor(7.0 * bench_uniform()));

		items[i] = (struct lp_item){
			.work = work,
			.span_s = work / tasks * (1.0 + 0.3 * bench_uniform()),
			.release_s = 0.0,
			.gap_s = 0.0,
			.weight = 1.0 + floor(4.0 * bench_uniform()),
			.prev = -1,
		};
	}
}

/* The same kind of snapshot with n/3 jobs of 3 chained groups each (a third
 * of the work and span each, 1% sync between them, the weight on the last). */
static void bench_instance_chained(struct lp_item *items, size_t n, double *machines)
{
	size_t jobs = n / 3;

	bench_instance(items, jobs, machines);
	for (size_t j = jobs; j-- > 0;) {
		struct lp_item job = items[j];

		for (size_t g = 0; g < 3; g++) {
			struct lp_item *it = &items[3 * j + g];

			*it = job;
			it->work = job.work / 3.0;
			it->span_s = job.span_s / 3.0;
			it->gap_s = g ? job.span_s * 0.01 : 0.0;
			it->weight = g == 2 ? job.weight : 0.0;
			it->prev = g ? (int32_t)(3 * j + g - 1) : -1;
		}
	}
}

static void bench_run(struct bench_row *r, const struct lp_input *in, double *c, bool glpk)
{
	struct lp_options opt;
	double t;

	if (!r->chained) {
		t = bench_now_ms();
		r->exact_rc = lp_solve_exact(in, c, &r->exact_obj);
		r->exact_ms = bench_now_ms() - t;
	}
	r->glpk_run = glpk;
	if (!glpk)
		return;
	lp_options_default(&opt);
	opt.time_limit_ms = BENCH_GLPK_LIMIT_MS;
	t = bench_now_ms();
	r->glpk_rc = lp_solve_glpk(in, &opt, c, &r->glpk_obj, &r->st);
	r->glpk_ms = bench_now_ms() - t;
}

static void bench_print_table(const struct bench_row *rows, size_t nrows)
{
	printf("%-7s %6s %7s %10s %10s %7s %7s %9s %12s  %s\n", "kind", "n", "m", "exact_ms",
	       "glpk_ms", "rounds", "cuts", "iters", "rel_gap", "note");
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		char exact[32] = "-", gap[32] = "-";

		if (!r->chained)
			snprintf(exact, sizeof(exact), "%.2f", r->exact_ms);
		if (!r->glpk_run) {
			printf("%-7s %6zu %7.0f %10s %10s %7s %7s %9s %12s  %s\n",
			       r->chained ? "chained" : "flat", r->n, r->machines, exact, "-", "-",
			       "-", "-", "-", "glpk skipped: a smaller size ran past 30 s");
			continue;
		}
		if (!r->chained)
			snprintf(gap, sizeof(gap), "%.3e", (r->glpk_obj - r->exact_obj) / r->exact_obj);
		printf("%-7s %6zu %7.0f %10s %10.1f %7u %7u %9u %12s  %s\n",
		       r->chained ? "chained" : "flat", r->n, r->machines, exact, r->glpk_ms,
		       r->st.rounds, r->st.cuts, r->st.simplex_iters, gap,
		       r->glpk_rc ? err_name(r->glpk_rc) : "ok");
	}
}

static void bench_print_json(const struct bench_row *rows, size_t nrows)
{
	printf("[\n");
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];

		printf("  {\"kind\": \"%s\", \"n\": %zu, \"machines\": %.0f",
		       r->chained ? "chained" : "flat", r->n, r->machines);
		if (!r->chained)
			printf(", \"exact_ms\": %.3f, \"exact_objective\": %.17g", r->exact_ms,
			       r->exact_obj);
		if (r->glpk_run && r->chained)
			printf(", \"glpk_ms\": %.3f, \"glpk_rounds\": %u, \"glpk_cuts\": %u, "
			       "\"glpk_iters\": %u, \"glpk_max_violation\": %.3e, "
			       "\"glpk_objective\": %.17g, \"glpk_status\": \"%s\"}",
			       r->glpk_ms, r->st.rounds, r->st.cuts, r->st.simplex_iters,
			       r->st.max_violation, r->glpk_obj, r->glpk_rc ? err_name(r->glpk_rc) : "ok");
		else if (r->glpk_run)
			printf(", \"glpk_ms\": %.3f, \"glpk_rounds\": %u, \"glpk_cuts\": %u, "
			       "\"glpk_iters\": %u, \"glpk_max_violation\": %.3e, "
			       "\"glpk_objective\": %.17g, \"rel_gap\": %.3e, \"glpk_status\": \"%s\"}",
			       r->glpk_ms, r->st.rounds, r->st.cuts, r->st.simplex_iters,
			       r->st.max_violation, r->glpk_obj,
			       (r->glpk_obj - r->exact_obj) / r->exact_obj,
			       r->glpk_rc ? err_name(r->glpk_rc) : "ok");
		else
			printf(", \"glpk_skipped\": true}");
		printf("%s\n", i + 1 < nrows ? "," : "");
	}
	printf("]\n");
}

/* Build and solve one instance of n items into *r; -ENOMEM or 0. */
static int bench_size(struct bench_row *r, size_t n, bool chained, bool glpk)
{
	struct lp_item *items = malloc(n * sizeof(*items));
	double *c = malloc(n * sizeof(*c));
	struct lp_input in = { .n = n, .items = items };

	if (!items || !c) {
		free(items);
		free(c);
		return -ENOMEM;
	}
	if (chained)
		bench_instance_chained(items, n, &in.machines);
	else
		bench_instance(items, n, &in.machines);
	r->n = n;
	r->chained = chained;
	r->machines = in.machines;
	bench_run(r, &in, c, glpk);
	free(items);
	free(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 100, 300, 1000, 4000 };
	enum { NSIZES = sizeof(sizes) / sizeof(sizes[0]) };
	struct bench_row rows[2 * NSIZES] = { 0 };
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	int rc = 0;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: %s [--json]\n", argv[0]);
		return 2;
	}
	for (int kind = 0; kind < 2; kind++) {
		bool glpk = true;

		for (size_t s = 0; s < NSIZES; s++) {
			struct bench_row *r = &rows[kind * NSIZES + s];

			if (bench_size(r, kind ? sizes[s] / 3 * 3 : sizes[s], kind, glpk)) {
				fprintf(stderr, "lp_solvers: out of memory\n");
				return 1;
			}
			if (r->exact_rc || (glpk && r->glpk_rc && r->glpk_rc != ERR_LP_TIMEOUT))
				rc = 1;
			if (glpk && (r->glpk_rc == ERR_LP_TIMEOUT || r->glpk_ms > BENCH_GLPK_LIMIT_MS))
				glpk = false;
		}
	}
	if (json)
		bench_print_json(rows, 2 * NSIZES);
	else
		bench_print_table(rows, 2 * NSIZES);
	return rc;
}
