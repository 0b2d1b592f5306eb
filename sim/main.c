/* SPDX-License-Identifier: MIT */
/* hare-sim: replay a generated workload or an imported trace on a simulated
 * cluster under one or more scheduling policies and report weighted JCT,
 * fairness and utilisation against the LP bound. The command line is
 * main_args.c's. */
#include "main_impl.h"

#include "bound.h"
#include "cluster.h"
#include "engine.h"
#include "err.h"
#include "profile.h"
#include "summary.h"
#include "timeline.h"
#include "trace.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The LP bound takes O(jobs^2) time: past this many jobs it is skipped. */
#define SIM_BOUND_MAX_JOBS 50000
#define EXIT_USAGE 2
#define EXIT_RUN 1

/* Everything main owns, released in one place. */
struct sim_run {
	struct profile *prof;
	struct sim_cluster cluster;
	struct sim_workload work;
	struct sched_policy *pol[SIM_MAX_POLICIES];
	struct sim_summary sum[SIM_MAX_POLICIES];
	struct sim_trace_info trace;
	bool has_bound;
	double bound_s;
	bool progress_shown;	/* a progress line ended in \r */
};

/* Create every policy up front so an unknown name fails before any work. */
static int sim_policies_new(const struct sim_args *a, struct sim_run *run, char *errbuf,
			    size_t errlen)
{
	struct sched_options opt;

	sched_options_default(&opt);
	if (a->min_lease_s >= 0)
		opt.min_lease_s = a->min_lease_s;
	if (a->type_slack >= 0)
		opt.type_slack = a->type_slack;
	for (uint32_t i = 0; i < a->npolicies; i++) {
		int rc = sched_policy_new(a->policy[i], &opt, &run->pol[i]);

		if (rc == ERR_UNKNOWN_POLICY) {
			snprintf(errbuf, errlen, "--policies: unknown policy '%s' (see --help)", a->policy[i]);
			return rc;
		}
		if (rc < 0) {
			snprintf(errbuf, errlen, "policy %s: %s", a->policy[i], err_str(rc));
			return rc;
		}
	}
	return 0;
}

/* mkdir -p for the output directory and its per-policy folders. */
static int sim_mkdir_p(const char *path, char *errbuf, size_t errlen)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		snprintf(errbuf, errlen, "--out: bad directory name");
		return -EINVAL;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
			int rc = -errno;

			snprintf(errbuf, errlen, "%s: %s", buf, strerror(errno));
			return rc;
		}
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/* "82,247": a count with thousands separators. */
static const char *sim_count_fmt(uint32_t v, char *buf, size_t len)
{
	char digits[16];
	int n = snprintf(digits, sizeof(digits), "%u", v), k = 0;

	for (int i = 0; i < n && (size_t)k + 2 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[k++] = ',';
		buf[k++] = digits[i];
	}
	buf[k] = '\0';
	return buf;
}

/* "35.2 d", "7.5 h" or "42 s". */
static void sim_time_fmt(double s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%.1f d", s / 86400);
	else if (s >= 3600)
		snprintf(buf, len, "%.1f h", s / 3600);
	else
		snprintf(buf, len, "%.0f s", s);
}

/* The progress line: rewritten in place on a terminal, one line per call
 * otherwise (logs). */
static void sim_progress_print(const struct sim_progress *p, void *arg)
{
	struct sim_run *run = arg;
	char done[16], total[16], t[32];
	bool tty = isatty(STDERR_FILENO);

	sim_time_fmt(p->now_s, t, sizeof(t));
	fprintf(stderr, "hare-sim: %s %s/%s jobs done, t=%s%s", p->policy,
		sim_count_fmt(p->done, done, sizeof(done)), sim_count_fmt(p->total, total, sizeof(total)),
		t, tty ? "   \r" : "\n");
	fflush(stderr);
	run->progress_shown = tty;
}

static int sim_policy_outputs(const struct sim_args *a, struct sim_run *run, uint32_t i,
			      const struct sim_result *res, char *errbuf, size_t errlen)
{
	const struct sim_window *win = a->has_window ? &a->window : NULL;
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", a->out_dir, a->policy[i]);
	rc = sim_mkdir_p(path, errbuf, errlen);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/%s/jobs.csv", a->out_dir, a->policy[i]);
		rc = sim_report_jobs_csv(path, &run->cluster.sched, &run->work, res, win, errbuf,
					 errlen);
	}
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/%s/utilisation.csv", a->out_dir, a->policy[i]);
		rc = sim_report_util_csv(path, &run->cluster.sched, res, a->util_step_s, errbuf, errlen);
	}
	return rc;
}

static int sim_policy_run(const struct sim_args *a, struct sim_run *run, uint32_t i,
			  char *errbuf, size_t errlen)
{
	struct sim_engine_opts eo = { .progress = a->quiet ? NULL : sim_progress_print,
				      .progress_arg = run, .progress_every_s = 1.0, .nbad = a->nbad,
				      .bad_nodes = a->bad, .fail_after_s = a->fail_after_s,
				      .avoid_bad = !a->no_avoid, .max_retries = a->max_retries,
				      .quarantine_jobs = a->quarantine,
				      .quarantine_max_nodes = a->quarantine_max,
				      .own_weights = a->own_weights };
	struct sim_result res;
	int rc;

	rc = sim_engine_run_opts(&run->cluster.sched, &run->work, run->pol[i], &eo, &res, errbuf,
				 errlen);
	if (run->progress_shown) {
		fputc('\n', stderr);
		run->progress_shown = false;
	}
	if (rc < 0)
		return rc;
	rc = sim_summary_compute_window(a->policy[i], &run->cluster.sched, &run->work, &res,
					a->has_window ? &a->window : NULL, run->has_bound,
					run->bound_s, &run->sum[i]);
	if (rc < 0)
		snprintf(errbuf, errlen, "summary: out of memory");
	run->sum[i].has_failures = a->nbad > 0;
	run->sum[i].failures = res.failures_total;
	run->sum[i].has_quarantine = a->quarantine > 0;
	run->sum[i].quarantined = res.quarantined;
	run->sum[i].stranded = res.stranded;
	if (rc == 0 && a->out_dir)
		rc = sim_policy_outputs(a, run, i, &res, errbuf, errlen);
	sim_result_destroy(&res);
	return rc;
}

static double sim_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the JSON's "workload" object says about the replayed jobs. */
static void sim_run_info_fill(const struct sim_args *a, const struct sim_run *run,
			      struct sim_run_info *in)
{
	const struct sim_trace_info *t = &run->trace;

	*in = (struct sim_run_info){ .source = a->trace ? "trace" : "generate",
				     .jobs = run->work.njobs, .source_load = NAN,
				     .arrival_scale = NAN, .offered_load = NAN,
				     .has_window = a->has_window, .window = a->window };
	if (a->has_window && in->window.last > run->work.njobs)
		in->window.last = run->work.njobs;
	if (!a->trace) {
		in->seed = a->spec.seed;
		in->offered_load = a->spec.load;
		return;
	}
	in->format = sim_trace_format_name(t->format);
	in->rows = t->rows;
	in->skipped = t->skipped;
	in->capped = t->capped;
	in->max_tasks = t->max_tasks;
	in->thinned = t->thinned;
	in->truncated = t->truncated;
	in->after_dropped = t->after_dropped;
	in->seed = a->topt.seed;
	in->source_load = t->source_load;
	in->arrival_scale = t->arrival_scale;
	in->offered_load = t->offered_load;
}

static int sim_summary_write(const struct sim_args *a, const struct sim_run *run, double wall_s,
			     char *errbuf, size_t errlen)
{
	struct sim_run_info info;
	char path[4096];
	FILE *f;
	int rc;

	sim_run_info_fill(a, run, &info);
	if (a->out_dir) {
		snprintf(path, sizeof(path), "%s/summary.json", a->out_dir);
		f = fopen(path, "w");
		if (!f) {
			rc = -errno;
			snprintf(errbuf, errlen, "%.300s: %s", path, strerror(errno));
			return rc;
		}
		sim_report_json_info(f, run->sum, a->npolicies, wall_s, &info);
		if (fclose(f) != 0) {
			snprintf(errbuf, errlen, "%.300s: write failed", path);
			return -EIO;
		}
	}
	errno = 0;
	if (a->json)
		sim_report_json_info(stdout, run->sum, a->npolicies, wall_s, &info);
	else
		sim_report_table(stdout, run->sum, a->npolicies, wall_s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		snprintf(errbuf, errlen, "standard output: %s", errno ? strerror(errno) : "write failed");
		return -EIO;
	}
	return 0;
}

/* One line on stderr about the import: how many rows, what was skipped,
 * capped or dropped, and how arrivals were scaled. */
static void sim_trace_note(const struct sim_args *a, const struct sim_run *run)
{
	const struct sim_trace_info *t = &run->trace;
	char jobs[16], rows[16], load[96];

	if (t->skipped > 0)
		fprintf(stderr, "hare-sim: %s: skipped %u malformed row%s of %u (first: %s)\n", a->trace,
			t->skipped, t->skipped == 1 ? "" : "s", t->rows, t->first_skipped);
	if (a->quiet)
		return;
	if (isfinite(t->source_load))
		snprintf(load, sizeof(load), "offered load %.3g (trace's own %.3g)", t->offered_load,
			 t->source_load);
	else
		snprintf(load, sizeof(load), "offered load n/a (arrivals span no time)");
	fprintf(stderr, "hare-sim: %s: %s jobs of %s rows (%s); %u capped at %u tasks, %u thinned, "
		"%u beyond --max-jobs; arrivals x%.4g, %s\n", a->trace,
		sim_count_fmt(run->work.njobs, jobs, sizeof(jobs)),
		sim_count_fmt(t->rows, rows, sizeof(rows)), sim_trace_format_name(t->format),
		t->capped, t->max_tasks, t->thinned, t->truncated, t->arrival_scale, load);
	if (t->after_dropped)
		fprintf(stderr, "hare-sim: %s: %u dependenc%s (after) on rows dropped by --thin or "
			"--max-jobs left out; those jobs run without them\n", a->trace, t->after_dropped,
			t->after_dropped == 1 ? "y" : "ies");
}

/* Load the inputs; every failure here is the user's input: exit 2. */
static int sim_inputs_load(const struct sim_args *a, struct sim_run *run, char *errbuf,
			   size_t errlen)
{
	int rc = a->measured && access(a->measured, R_OK) < 0 ? -errno : 0;

	if (rc < 0) {
		snprintf(errbuf, errlen, "--measured %s: %s", a->measured, strerror(-rc));
		return rc;
	}
	rc = profile_load_measured(a->profiles, a->measured, &run->prof, errbuf, errlen);

	if (rc == 0)
		rc = sim_cluster_load(a->cluster, run->prof, &run->cluster, errbuf, errlen);
	if (rc == 0 && a->trace)
		rc = sim_trace_load(a->trace, &a->topt, run->prof, &run->cluster, &run->work,
				    &run->trace, errbuf, errlen);
	else if (rc == 0)
		rc = sim_workload_generate(&a->spec, run->prof, &run->cluster, &run->work, errbuf,
					   errlen);
	for (uint32_t k = 0; rc == 0 && k < a->nbad; k++) {
		if (a->bad[k] >= run->cluster.sched.nnodes) {
			snprintf(errbuf, errlen, "--bad-nodes: node %u, but the cluster has nodes 0..%u",
				 a->bad[k], run->cluster.sched.nnodes - 1);
			rc = ERR_BAD_SPEC;
		}
	}
	if (rc == 0 && a->has_window && a->window.first >= run->work.njobs) {
		snprintf(errbuf, errlen, "--window: first job %u, but the workload has %u jobs",
			 a->window.first, run->work.njobs);
		rc = ERR_BAD_SPEC;
	}
	if (rc == 0)
		rc = sim_policies_new(a, run, errbuf, errlen);
	/* a job some policy could never run (gavel or allox: wider than any one
	 * type it may use) is refused before any policy runs */
	for (uint32_t i = 0; rc == 0 && i < a->npolicies; i++)
		rc = sim_engine_check(&run->cluster.sched, &run->work, run->pol[i], errbuf, errlen);
	return rc;
}

/* The LP bound over the jobs the metrics count, if not too many. */
static int sim_bound(const struct sim_args *a, struct sim_run *run, char *errbuf, size_t errlen)
{
	uint32_t first = a->has_window ? a->window.first : 0;
	uint32_t last = a->has_window && a->window.last < run->work.njobs ? a->window.last :
		run->work.njobs;
	int rc;

	if (!a->bound || last - first > SIM_BOUND_MAX_JOBS)
		return 0;
	rc = sim_bound_compute_window(&run->cluster.sched, &run->work, first, last, &run->bound_s,
				      errbuf, errlen);
	if (rc == 0)
		run->has_bound = true;
	return rc;
}

static int sim_main(const struct sim_args *a, struct sim_run *run, double t0, char *errbuf,
		    size_t errlen)
{
	int rc = sim_inputs_load(a, run, errbuf, errlen);

	if (rc < 0)
		return rc == -ENOMEM ? EXIT_RUN : EXIT_USAGE;
	if (a->trace)
		sim_trace_note(a, run);
	if (sim_bound(a, run, errbuf, errlen) < 0)
		return EXIT_RUN;
	if (a->out_dir && sim_mkdir_p(a->out_dir, errbuf, errlen) < 0)
		return EXIT_RUN;
	for (uint32_t i = 0; i < a->npolicies; i++)
		if (sim_policy_run(a, run, i, errbuf, errlen) < 0)
			return EXIT_RUN;
	if (sim_summary_write(a, run, sim_now_s() - t0, errbuf, errlen) < 0)
		return EXIT_RUN;
	return 0;
}

/* Errors are one line on stderr, whatever bytes the input held. */
static void sim_error_print(char *msg)
{
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "hare-sim: %s\n", msg);
}

int main(int argc, char **argv)
{
	static struct sim_args args;
	static struct sim_run run;
	char errbuf[512] = "";
	double t0 = sim_now_s();
	int status;

	if (sim_args_parse(argc, argv, &args, errbuf, sizeof(errbuf)) < 0) {
		sim_error_print(errbuf);
		return EXIT_USAGE;
	}
	if (args.help) {
		sim_usage_print();
		return 0;
	}
	status = sim_main(&args, &run, t0, errbuf, sizeof(errbuf));
	if (status != 0)
		sim_error_print(errbuf);
	for (uint32_t i = 0; i < SIM_MAX_POLICIES; i++)
		if (run.pol[i])
			sched_policy_free(run.pol[i]);
	sim_workload_destroy(&run.work);
	sim_cluster_destroy(&run.cluster);
	if (run.prof)
		profile_free(run.prof);
	return status;
}
