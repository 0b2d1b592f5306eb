/* SPDX-License-Identifier: MIT */
/* Time averages over the engine's state samples: busy GPU-seconds in an
 * interval and the fixed-step utilisation.csv. */
#include "timeline.h"

#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Running sums of one output row. */
struct tl_row {
	double busy[SCHED_MAX_TYPES];
	double running;
	double active;
};

double sim_timeline_busy_gpu_s(const struct sim_result *r, uint32_t ntypes, double t0_s,
			       double t1_s)
{
	double sum = 0;

	for (size_t i = 0; i < r->nsamples; i++) {
		double a = fmax(r->sample_t[i], t0_s);
		double b = i + 1 < r->nsamples ? fmin(r->sample_t[i + 1], t1_s) : t1_s;
		uint32_t busy = 0;

		for (uint32_t t = 0; t < ntypes; t++)
			busy += r->sample_busy[i * ntypes + t];
		if (b > a && busy > 0)
			sum += busy * (b - a);
	}
	return sum;
}

double sim_timeline_step(double span_s)
{
	static const double steps[] = { 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
					43200, 86400, 172800, 604800, 1209600, 2592000 };
	double want = span_s / SIM_TIMELINE_MAX_ROWS;
	size_t n = sizeof(steps) / sizeof(steps[0]);

	for (size_t i = 0; i < n; i++)
		if (steps[i] >= want)
			return steps[i];
	return ceil(want / steps[n - 1]) * steps[n - 1];
}

/* Add sample i's state, held for dt seconds, to the row. */
static void tl_row_add(struct tl_row *row, const struct sim_result *r, uint32_t nt, size_t i,
		       double dt)
{
	for (uint32_t t = 0; t < nt; t++)
		row->busy[t] += r->sample_busy[i * nt + t] * dt;
	row->running += r->sample_running[i] * dt;
	row->active += r->sample_active[i] * dt;
}

static void tl_row_write(FILE *f, const struct tl_row *row, uint32_t nt, uint32_t ngpus,
			 double t, double len)
{
	double busy = 0;

	fprintf(f, "%.0f", t);
	for (uint32_t k = 0; k < nt; k++) {
		fprintf(f, ",%.3f", row->busy[k] / len);
		busy += row->busy[k] / len;
	}
	fprintf(f, ",%.3f,%.5f,%.3f,%.3f\n", busy, ngpus ? busy / ngpus : 0.0, row->running / len,
		(row->active - row->running) / len);
}

/* One row per step from t0 to the last sample. */
static void tl_rows_write(FILE *f, const struct sched_cluster *c, const struct sim_result *r,
			  double t0, double step)
{
	double end = r->sample_t[r->nsamples - 1];
	uint32_t nt = c->ntypes;
	size_t i = 0;

	for (double t = t0; t < end || t == t0; t += step) {
		double t1 = fmin(t + step, fmax(end, t0 + step));
		struct tl_row row;

		memset(&row, 0, sizeof(row));
		for (; i < r->nsamples; i++) {
			double a = fmax(r->sample_t[i], t);
			double b = i + 1 < r->nsamples ? fmin(r->sample_t[i + 1], t1) : t1;

			if (b > a)
				tl_row_add(&row, r, nt, i, b - a);
			if (i + 1 >= r->nsamples || r->sample_t[i + 1] > t1)
				break;
		}
		tl_row_write(f, &row, nt, c->ngpus, t, t1 - t);
	}
}

int sim_report_util_csv(const char *path, const struct sched_cluster *c,
			const struct sim_result *r, double step_s, char *errbuf, size_t errlen)
{
	double span = r->nsamples > 0 ? r->sample_t[r->nsamples - 1] - r->sample_t[0] : 0;
	FILE *f;
	int rc;

	/* a step far too fine for the run would fill the disk */
	if (step_s > 0 && span / step_s + 2 > SIM_UTIL_MAX_ROWS) {
		double least = span / (SIM_UTIL_MAX_ROWS - 2);
		double unit = pow(10, floor(log10(least)) - 2);	/* 3 digits, rounded up */

		snprintf(errbuf, errlen, "%s: --util-step %g s would write %.0f rows over the %.0f s "
			 "simulated (at most %d): use --util-step %g or more", path, step_s,
			 floor(span / step_s) + 2, span, SIM_UTIL_MAX_ROWS,
			 ceil(least / unit * (1 + 1e-12)) * unit);
		return -EFBIG;
	}
	f = fopen(path, "w");
	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	fputs("time_s", f);
	for (uint32_t t = 0; t < c->ntypes; t++)
		fprintf(f, ",busy_%s", c->type_names[t]);
	fputs(",busy,util,running_jobs,queued_jobs\n", f);
	if (r->nsamples > 0) {
		double step = step_s > 0 ? step_s : sim_timeline_step(span);

		tl_rows_write(f, c, r, floor(r->sample_t[0] / step) * step, step);
	}
	rc = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		snprintf(errbuf, errlen, "%s: write failed: %s", path, strerror(-rc));
	return rc;
}
