/* SPDX-License-Identifier: MIT */
/* Summary statistics of a simulation run and its three outputs: jobs.csv,
 * the summary JSON and the human-readable table. */
#include "summary.h"

#include "engine.h"
#include "timeline.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
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

/* JCT-derived fields over the window's completed jobs. */
static int summary_jct(const struct sim_workload *w, const struct sim_result *r,
		       const struct sim_window *win, struct sim_summary *out)
{
	size_t n0 = (size_t)(win->last - win->first) + 1;
	double *jct = malloc(n0 * sizeof(double)), *queue = malloc(n0 * sizeof(double));
	double sum_wjct = 0, sum_w = 0, sum_jct = 0, sum_queue = 0;
	double first_arrival = INFINITY, last_finish = 0;
	uint32_t n = 0;

	if (!jct || !queue) {
		free(jct);
		free(queue);
		return -ENOMEM;
	}
	for (uint32_t i = win->first; i < win->last; i++) {
		const struct sched_job *j = &w->jobs[i].spec;

		first_arrival = fmin(first_arrival, j->arrival_s);
		if (r->finish_s[i] < 0)
			continue;
		jct[n] = r->finish_s[i] - j->arrival_s;
		queue[n] = r->start_s[i] - j->arrival_s;
		sum_wjct += j->weight * jct[n];
		sum_w += j->weight;
		sum_jct += jct[n];
		sum_queue += queue[n];
		last_finish = fmax(last_finish, r->finish_s[i]);
		n++;
	}
	out->jobs_completed = n;
	/* no job completed (the failure model can do that): no value, not 0 */
	out->weighted_jct_s = sum_w > 0 ? sum_wjct / sum_w : n ? 0 : NAN;
	out->avg_jct_s = n ? sum_jct / n : NAN;
	out->avg_queue_s = n ? sum_queue / n : NAN;
	out->p50_jct_s = n ? sim_percentile(jct, n, 0.50) : NAN;
	out->p99_jct_s = n ? sim_percentile(jct, n, 0.99) : NAN;
	out->p99_queue_s = n ? sim_percentile(queue, n, 0.99) : NAN;
	out->makespan_s = n ? last_finish - first_arrival : NAN;
	free(jct);
	free(queue);
	return 0;
}

/* rho statistics, restarts and GPU-hours over the window's jobs. */
static void summary_jobs(const struct sched_cluster *c, const struct sim_result *r,
			 const struct sim_window *win, struct sim_summary *out)
{
	double sum = 0, max = 0;
	uint32_t n = 0, le1 = 0;
	uint64_t restarts = 0;

	for (uint32_t i = win->first; i < win->last; i++) {
		double rho = r->rho ? r->rho[i] : NAN;

		restarts += r->restarts[i];
		for (uint32_t t = 0; t < c->ntypes && t < SCHED_MAX_TYPES; t++)
			out->gpu_hours[t] += r->gpu_s[(size_t)i * c->ntypes + t] / 3600.0;
		if (!isfinite(rho))
			continue;
		sum += rho;
		max = fmax(max, rho);
		le1 += rho <= 1.0 + 1e-9;	/* exactly its fair share, up to rounding */
		n++;
	}
	out->rho_mean = n ? sum / n : NAN;
	out->rho_max = n ? max : NAN;
	out->rho_le1_frac = n ? (double)le1 / n : NAN;
	out->restarts_per_job = win->last > win->first ? (double)restarts / (win->last - win->first) : 0;
	out->ntypes = c->ntypes < SCHED_MAX_TYPES ? c->ntypes : SCHED_MAX_TYPES;
	for (uint32_t t = 0; t < out->ntypes; t++)
		snprintf(out->type_names[t], SCHED_TYPE_NAME, "%s", c->type_names[t]);
}

static int summary_decisions(const struct sim_result *r, struct sim_summary *out)
{
	double *dec = malloc((r->plans + 1) * sizeof(double));

	if (!dec)
		return -ENOMEM;
	if (r->plans)
		memcpy(dec, r->decision_ms, r->plans * sizeof(double));
	for (uint64_t i = 0; i < r->plans; i++)
		out->decision_s_total += dec[i] / 1000.0;
	out->decision_ms_p50 = sim_percentile(dec, r->plans, 0.50);
	out->decision_ms_p99 = sim_percentile(dec, r->plans, 0.99);
	free(dec);
	return 0;
}

int sim_summary_compute_window(const char *policy, const struct sched_cluster *c,
			       const struct sim_workload *w, const struct sim_result *r,
			       const struct sim_window *win, bool has_bound, double lp_bound_s,
			       struct sim_summary *out)
{
	struct sim_window all = { 0, w->njobs };
	double first_arrival;

	memset(out, 0, sizeof(*out));
	if (win) {
		out->has_window = true;
		all.last = win->last < w->njobs ? win->last : w->njobs;
		all.first = win->first < all.last ? win->first : all.last;
	}
	out->window = all;
	snprintf(out->name, sizeof(out->name), "%s", policy);
	out->jobs = all.last - all.first;
	out->jobs_total = w->njobs;
	out->plans = r->plans;
	out->restarts = r->restarts_total;
	out->sim_wall_s = r->wall_s;
	out->jobs_per_s = r->wall_s > 0 ? w->njobs / r->wall_s : NAN;
	if (summary_jct(w, r, &all, out) < 0)
		return -ENOMEM;
	summary_jobs(c, r, &all, out);
	first_arrival = INFINITY;
	for (uint32_t i = all.first; i < all.last; i++)
		first_arrival = fmin(first_arrival, w->jobs[i].spec.arrival_s);
	out->utilisation = out->jobs_completed ? 0 : NAN;
	if (out->makespan_s > 0 && c->ngpus > 0)
		out->utilisation = (win ? sim_timeline_busy_gpu_s(r, c->ntypes, first_arrival,
								   first_arrival + out->makespan_s) :
				   r->busy_gpu_s) / ((double)c->ngpus * out->makespan_s);
	out->has_bound = has_bound;
	out->lp_bound_s = has_bound ? lp_bound_s : NAN;
	/* the bound covers every counted job, the weighted JCT the completed
	 * ones: with some failed or left waiting, their ratio means nothing */
	out->ratio_to_bound = has_bound && lp_bound_s > 0 && out->jobs_completed == out->jobs
				      ? out->weighted_jct_s / lp_bound_s : NAN;
	return summary_decisions(r, out);
}

int sim_summary_compute(const char *policy, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r, bool has_bound,
			double lp_bound_s, struct sim_summary *out)
{
	return sim_summary_compute_window(policy, c, w, r, NULL, has_bound, lp_bound_s, out);
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

/* A CSV number, empty where there is none. */
static void report_csv_num(FILE *f, double v, int prec)
{
	fputc(',', f);
	if (isfinite(v))
		fprintf(f, "%.*f", prec, v);
}

static void report_csv_row(FILE *f, const struct sched_cluster *c, const struct sim_workload *w,
			   const struct sim_result *r, const struct sim_window *win, uint32_t i)
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
	fprintf(f, ",%u", r->restarts[i]);
	report_csv_num(f, r->start_s[i] >= 0 ? r->start_s[i] - j->arrival_s : NAN, 3);
	report_csv_num(f, r->alone_s ? r->alone_s[i] : NAN, 3);
	report_csv_num(f, r->rho ? r->rho[i] : NAN, 6);
	fprintf(f, ",%d\n", !win || (i >= win->first && i < win->last));
}

int sim_report_jobs_csv(const char *path, const struct sched_cluster *c,
			const struct sim_workload *w, const struct sim_result *r,
			const struct sim_window *win, char *errbuf, size_t errlen)
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
	fputs(",restarts,queue_s,alone_s,rho,in_window\n", f);
	for (uint32_t i = 0; i < w->njobs; i++)
		report_csv_row(f, c, w, r, win, i);
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
		fprintf(f, "\"%s\":%.*f", key, prec, v == 0 ? 0.0 : v);
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

/* The fields added with trace replay, after the original ones. */
static void report_json_added(FILE *f, const struct sim_summary *s)
{
	static const struct { const char *key; size_t off; int prec; } nums[] = {
		{ "p50_jct_s", offsetof(struct sim_summary, p50_jct_s), 3 },
		{ "p99_queue_s", offsetof(struct sim_summary, p99_queue_s), 3 },
		{ "rho_mean", offsetof(struct sim_summary, rho_mean), 6 },
		{ "rho_max", offsetof(struct sim_summary, rho_max), 6 },
		{ "rho_le1_frac", offsetof(struct sim_summary, rho_le1_frac), 6 },
		{ "restarts_per_job", offsetof(struct sim_summary, restarts_per_job), 6 },
		{ "decision_s_total", offsetof(struct sim_summary, decision_s_total), 3 },
		{ "sim_wall_s", offsetof(struct sim_summary, sim_wall_s), 3 },
		{ "jobs_per_s", offsetof(struct sim_summary, jobs_per_s), 1 },
	};

	for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		fputc(',', f);
		report_json_num(f, nums[k].key, *(const double *)((const char *)s + nums[k].off),
				nums[k].prec);
	}
	fputs(",\"gpu_hours\":{", f);
	for (uint32_t t = 0; t < s->ntypes; t++) {
		fputs(t ? "," : "", f);
		report_json_str(f, s->type_names[t]);
		fprintf(f, ":%.3f", s->gpu_hours[t]);
	}
	fprintf(f, "},\"jobs_total\":%u,", s->jobs_total);
	if (s->has_failures)
		fprintf(f, "\"failures\":%llu,", (unsigned long long)s->failures);
	if (s->has_quarantine)
		fprintf(f, "\"quarantined_nodes\":%u,\"stranded_jobs\":%u,", s->quarantined,
			s->stranded);
	if (s->has_window)
		fprintf(f, "\"window\":[%u,%u]", s->window.first, s->window.last);
	else
		fputs("\"window\":null", f);
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
	fprintf(f, ",\"plans\":%llu,\"restarts\":%llu", (unsigned long long)s->plans,
		(unsigned long long)s->restarts);
	report_json_added(f, s);
	fputc('}', f);
}

/* "workload":{...}: what was replayed. */
static void report_json_info(FILE *f, const struct sim_run_info *in)
{
	fputs(",\"workload\":{\"source\":", f);
	report_json_str(f, in->source ? in->source : "");
	fputs(",\"format\":", f);
	if (in->format)
		report_json_str(f, in->format);
	else
		fputs("null", f);
	fprintf(f, ",\"jobs\":%u,\"rows\":%u,\"skipped\":%u,\"capped\":%u,\"max_tasks\":%u,"
		"\"thinned\":%u,\"truncated\":%u,\"after_dropped\":%u,\"seed\":%llu,", in->jobs,
		in->rows, in->skipped, in->capped, in->max_tasks, in->thinned, in->truncated,
		in->after_dropped, (unsigned long long)in->seed);
	report_json_num(f, "source_load", in->source_load, 6);
	fputc(',', f);
	/* a factor: its significant digits, however small (2.09e-10) */
	if (isfinite(in->arrival_scale))
		fprintf(f, "\"arrival_scale\":%.9g", in->arrival_scale);
	else
		fputs("\"arrival_scale\":null", f);
	fputc(',', f);
	report_json_num(f, "offered_load", in->offered_load, 6);
	if (in->has_window)
		fprintf(f, ",\"window\":[%u,%u]}", in->window.first, in->window.last);
	else
		fputs(",\"window\":null}", f);
}

void sim_report_json(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s)
{
	sim_report_json_info(f, s, n, wall_s, NULL);
}

void sim_report_json_info(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s,
			  const struct sim_run_info *info)
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
	if (info)
		report_json_info(f, info);
	fputs("}\n", f);
}

static void report_table_hours(FILE *f, double s, int width)
{
	if (isfinite(s))
		fprintf(f, " %*.2f", width, s / 3600.0);
	else
		fprintf(f, " %*s", width, "-");
}

/* Width of the first column: the longest policy name, 10 at least. */
static int report_name_width(const struct sim_summary *s, uint32_t n)
{
	size_t w = 10;

	for (uint32_t i = 0; i < n; i++)
		if (strlen(s[i].name) > w)
			w = strlen(s[i].name);
	return (int)w;
}

static void report_table_main(FILE *f, const struct sim_summary *s, uint32_t n)
{
	int nw = report_name_width(s, n);

	fprintf(f, "%-*s %10s %10s %10s %10s %6s %10s %7s %11s\n", nw, "policy", "wJCT(h)", "avgJCT(h)",
		"p99JCT(h)", "makespan", "util", "LPbound(h)", "ratio", "jobs done");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%-*s", nw, s[i].name);
		report_table_hours(f, s[i].weighted_jct_s, 10);
		report_table_hours(f, s[i].avg_jct_s, 10);
		report_table_hours(f, s[i].p99_jct_s, 10);
		report_table_hours(f, s[i].makespan_s, 10);
		if (isfinite(s[i].utilisation))
			fprintf(f, " %5.1f%%", 100.0 * s[i].utilisation);
		else
			fprintf(f, " %6s", "-");
		report_table_hours(f, s[i].lp_bound_s, 10);
		if (isfinite(s[i].ratio_to_bound))
			fprintf(f, " %7.3f", s[i].ratio_to_bound);
		else
			fprintf(f, " %7s", "-");
		fprintf(f, " %5u/%-5u\n", s[i].jobs_completed, s[i].jobs);
	}
}

static void report_table_num(FILE *f, double v, int width, int prec)
{
	if (isfinite(v))
		fprintf(f, " %*.*f", width, prec, v);
	else
		fprintf(f, " %*s", width, "-");
}

/* Second table: median JCT, queueing, fairness, restarts, latency, speed. */
static void report_table_more(FILE *f, const struct sim_summary *s, uint32_t n)
{
	int nw = report_name_width(s, n);

	fprintf(f, "%-*s %10s %9s %9s %8s %8s %6s %9s %8s %8s %9s\n", nw, "policy", "medJCT(h)",
		"avgQ(h)", "p99Q(h)", "rho avg", "rho max", "rho<=1", "restarts/j", "dec p50",
		"dec p99", "jobs/s");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%-*s", nw, s[i].name);
		report_table_hours(f, s[i].p50_jct_s, 10);
		report_table_hours(f, s[i].avg_queue_s, 9);
		report_table_hours(f, s[i].p99_queue_s, 9);
		report_table_num(f, s[i].rho_mean, 8, 2);
		report_table_num(f, s[i].rho_max, 8, 1);
		report_table_num(f, 100.0 * s[i].rho_le1_frac, 5, 1);
		fputc('%', f);
		report_table_num(f, s[i].restarts_per_job, 10, 2);
		report_table_num(f, s[i].decision_ms_p50, 8, 3);
		report_table_num(f, s[i].decision_ms_p99, 8, 3);
		report_table_num(f, s[i].jobs_per_s, 9, 0);
		fputc('\n', f);
	}
}

/* Third table: GPU-hours held per type. */
static void report_table_gpu_hours(FILE *f, const struct sim_summary *s, uint32_t n)
{
	int nw = report_name_width(s, n);

	if (n == 0 || s[0].ntypes == 0)
		return;
	fprintf(f, "%-*s", nw, "GPU-hours");
	for (uint32_t t = 0; t < s[0].ntypes; t++)
		fprintf(f, " %10s", s[0].type_names[t]);
	fputc('\n', f);
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%-*s", nw, s[i].name);
		for (uint32_t t = 0; t < s[i].ntypes; t++)
			fprintf(f, " %10.0f", s[i].gpu_hours[t]);
		fputc('\n', f);
	}
}

void sim_report_table(FILE *f, const struct sim_summary *s, uint32_t n, double wall_s)
{
	report_table_main(f, s, n);
	fputc('\n', f);
	report_table_more(f, s, n);
	fputc('\n', f);
	report_table_gpu_hours(f, s, n);
	if (n > 0 && s[0].has_failures) {
		fputs("lease failures on the bad nodes:", f);
		for (uint32_t i = 0; i < n; i++)
			fprintf(f, "%s %s %llu", i ? "," : "", s[i].name, (unsigned long long)s[i].failures);
		fputc('\n', f);
	}
	if (n > 0 && s[0].has_quarantine) {
		fputs("nodes quarantined:", f);
		for (uint32_t i = 0; i < n; i++)
			fprintf(f, "%s %s %u", i ? "," : "", s[i].name, s[i].quarantined);
		fputc('\n', f);
		fputs("jobs that could never run after it (no GPUs left they can use):", f);
		for (uint32_t i = 0; i < n; i++)
			fprintf(f, "%s %s %u", i ? "," : "", s[i].name, s[i].stranded);
		fputc('\n', f);
	}
	if (n > 0 && s[0].has_window)
		fprintf(f, "(window: jobs %u to %u of %u, by arrival)\n", s[0].window.first,
			s[0].window.last, s[0].jobs_total);
	fprintf(f, "(makespan in hours; weighted JCT = sum w*JCT / sum w; queueing delay = first "
		"start - arrival; rho = JCT / time alone on 1/n of the cluster; decision latency in "
		"ms; simulated in %.2f s)\n", wall_s);
}
