/* SPDX-License-Identifier: MIT */
/* Summary statistics of a simulation run and its three outputs: jobs.csv,
 * the summary JSON and the human-readable table. */
#include "summary.h"

#include "engine.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int report_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double sim_percentile(double *v, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), report_cmp_double);
	rank = (size_t)ceil(q * (double)n);
	return v[rank > 0 ? rank - 1 : 0];
}

/* JCT-derived fields over the completed jobs. */
static int summary_jct(const struct sim_workload *w, const struct sim_result *r,
		       struct sim_summary *out)
{
	double *jct = malloc((w->njobs + 1) * sizeof(double));
	double sum_wjct = 0, sum_w = 0, sum_jct = 0, sum_queue = 0;
	double first_arrival = INFINITY, last_finish = 0;
	uint32_t n = 0;

	if (!jct)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->njobs; i++) {
		const struct sched_job *j = &w->jobs[i].spec;

		first_arrival = fmin(first_arrival, j->arrival_s);
		if (r->finish_s[i] < 0)
			continue;
		jct[n] = r->finish_s[i] - j->arrival_s;
		sum_wjct += j->weight * jct[n];
		sum_w += j->weight;
		sum_jct += jct[n];
		sum_queue += r->start_s[i] - j->arrival_s;
		last_finish = fmax(last_finish, r->finish_s[i]);
		n++;
	}
	out->jobs_completed = n;
	out->weighted_jct_s = sum_w > 0 ? sum_wjct / sum_w : 0;
	out->avg_jct_s = n ? sum_jct / n : 0;
	out->avg_queue_s = n ? sum_queue / n : 0;
	out->p99_jct_s = sim_percentile(jct, n, 0.99);
	out->makespan_s = n ? last_finish - first_arrival : 0;
	free(jct);
	return 0;
}

int sim_summary_compute(const char *policy, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r, bool has_bound,
			double lp_bound_s, struct sim_summary *out)
{
	double *dec;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", policy);
	out->jobs = w->njobs;
	out->plans = r->plans;
	out->restarts = r->restarts_total;
	if (summary_jct(w, r, out) < 0)
		return -ENOMEM;
	if (out->makespan_s > 0 && c->ngpus > 0)
		out->utilisation = r->busy_gpu_s / ((double)c->ngpus * out->makespan_s);
	out->has_bound = has_bound;
	out->lp_bound_s = has_bound ? lp_bound_s : NAN;
	out->ratio_to_bound = has_bound && lp_bound_s > 0 ? out->weighted_jct_s / lp_bound_s : NAN;
	dec = malloc((r->plans + 1) * sizeof(double));
	if (!dec)
		return -ENOMEM;
	if (r->plans)
		memcpy(dec, r->decision_ms, r->plans * sizeof(double));
	out->decision_ms_p50 = sim_percentile(dec, r->plans, 0.50);
	out->decision_ms_p99 = sim_percentile(dec, r->plans, 0.99);
	free(dec);
	return 0;
}

/* A CSV field: policy and job names are plain, model names might not be. */
static void report_csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void report_csv_row(FILE *f, const struct sched_cluster *c, const struct sim_workload *w,
			   const struct sim_result *r, uint32_t i)
{
	const struct sched_job *j = &w->jobs[i].spec;
	bool done = r->finish_s[i] >= 0;

	fprintf(f, "%u,", j->id);
	report_csv_str(f, j->name);
	fputc(',', f);
	report_csv_str(f, sim_workload_model_name(w, i));
	fprintf(f, ",%.3f,", j->arrival_s);
	if (r->start_s[i] >= 0)
		fprintf(f, "%.3f", r->start_s[i]);
	fputc(',', f);
	if (done)
		fprintf(f, "%.3f,%.3f", r->finish_s[i], r->finish_s[i] - j->arrival_s);
	else
		fputc(',', f);
	fprintf(f, ",%g,%u", j->weight, j->tasks);
	for (uint32_t t = 0; t < c->ntypes; t++)
		fprintf(f, ",%.3f", r->gpu_s[(size_t)i * c->ntypes + t]);
	fprintf(f, ",%u\n", r->restarts[i]);
}

int sim_report_jobs_csv(const char *path, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r, char *errbuf,
			size_t errlen)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	fputs("id,name,model,arrival_s,start_s,finish_s,jct_s,weight,tasks", f);
	for (uint32_t t = 0; t < c->ntypes; t++)
		fprintf(f, ",gpu_s_%s", c->type_names[t]);
	fputs(",restarts\n", f);
	for (uint32_t i = 0; i < w->njobs; i++)
		report_csv_row(f, c, w, r, i);
	rc = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		snprintf(errbuf, errlen, "%s: write failed: %s", path, strerror(-rc));
	return rc;
}

/* A JSON number, or null where there is none (NaN, infinity). */
static void report_json_num(FILE *f, const char *key, double v, int prec)
{
	if (isfinite(v))
		fprintf(f, "\"%s\":%.*f", key, prec, v);
	else
		fprintf(f, "\"%s\":null", key);
}

/* Policy names come from the command line: escape what JSON requires. */
static void report_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void report_json_policy(FILE *f, const struct sim_summary *s)
{
	fputs("{\"name\":", f);
	report_json_str(f, s->name);
	fputc(',', f);
	report_json_num(f, "weighted_jct_s", s->weighted_jct_s, 3);
	fputc(',', f);
	report_json_num(f, "avg_jct_s", s->avg_jct_s, 3);
	fputc(',', f);
	report_json_num(f, "p99_jct_s", s->p99_jct_s, 3);
	fputc(',', f);
	report_json_num(f, "avg_queue_s", s->avg_queue_s, 3);
	fputc(',', f);
	report_json_num(f, "makespan_s", s->makespan_s, 3);
	fputc(',', f);
	report_json_num(f, "utilisation", s->utilisation, 6);
	fputc(',', f);
	report_json_num(f, "lp_lower_bound_s", s->lp_bound_s, 3);
	fputc(',', f);
	report_json_num(f, "ratio_to_bound", s->ratio_to_bound, 6);
	fprintf(f, ",\"jobs_completed\":%u,\"jobs\":%u,", s->jobs_completed, s->jobs);
	report_json_num(f, "decision_ms_p50", s->decision_ms_p50, 4);
	fputc(',', f);
	report_json_num(f, "decision_ms_p99", s->decision_ms_p99, 4);
	fprintf(f, ",\"plans\":%llu,\"restarts\":%llu}", (unsigned long long)s->plans,
		(unsigned long long)s->restarts);
}

void sim_report_json(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s)
{
	fputs("{\"policies\":[", f);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			fputs(",\n", f);
		else
			fputc('\n', f);
		fputs("  ", f);
		report_json_policy(f, &s[i]);
	}
	fputs("\n],", f);
	report_json_num(f, "wall_s", wall_s, 3);
	fputs("}\n", f);
}

static void report_table_hours(FILE *f, double s, int width)
{
	if (isfinite(s))
		fprintf(f, " %*.2f", width, s / 3600.0);
	else
		fprintf(f, " %*s", width, "-");
}

void sim_report_table(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s)
{
	fprintf(f, "%-10s %10s %10s %10s %10s %6s %10s %7s %11s\n", "policy", "wJCT(h)", "avgJCT(h)",
		"p99JCT(h)", "makespan", "util", "LPbound(h)", "ratio", "jobs done");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%-10s", s[i].name);
		report_table_hours(f, s[i].weighted_jct_s, 10);
		report_table_hours(f, s[i].avg_jct_s, 10);
		report_table_hours(f, s[i].p99_jct_s, 10);
		report_table_hours(f, s[i].makespan_s, 10);
		fprintf(f, " %5.1f%%", 100.0 * s[i].utilisation);
		report_table_hours(f, s[i].lp_bound_s, 10);
		if (isfinite(s[i].ratio_to_bound))
			fprintf(f, " %7.3f", s[i].ratio_to_bound);
		else
			fprintf(f, " %7s", "-");
		fprintf(f, " %5u/%-5u\n", s[i].jobs_completed, s[i].jobs);
	}
	fprintf(f, "(makespan in hours; weighted JCT = sum w*JCT / sum w; simulated in %.2f s)\n",
		wall_s);
}
