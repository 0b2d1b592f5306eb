/* SPDX-License-Identifier: MIT */
/* hare-sim: replay a generated workload on a simulated cluster under one or
 * more scheduling policies and report weighted JCT against the LP bound. */
#include "bound.h"
#include "cluster.h"
#include "engine.h"
#include "err.h"
#include "profile.h"
#include "summary.h"
#include "workload.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifndef HARE_PROFILE_DIR
#define HARE_PROFILE_DIR PROFILE_DEFAULT_DIR
#endif

#define SIM_MAX_POLICIES 16
/* The LP bound takes O(jobs^2) time: past this many jobs it is skipped. */
#define SIM_BOUND_MAX_JOBS 50000
#define EXIT_USAGE 2
#define EXIT_RUN 1

struct sim_args {
	const char *cluster;
	const char *generate;
	const char *policies;
	const char *profiles;
	const char *out_dir;
	bool json;
	bool bound;
	bool help;
	struct sim_gen_spec spec;
	uint32_t npolicies;
	char policy[SIM_MAX_POLICIES][SIM_POLICY_NAME_LEN];
};

/* Everything main owns, released in one place. */
struct sim_run {
	struct profile *prof;
	struct sim_cluster cluster;
	struct sim_workload work;
	struct sched_policy *pol[SIM_MAX_POLICIES];
	struct sim_summary sum[SIM_MAX_POLICIES];
	bool has_bound;
	double bound_s;
};

static const char usage[] =
	"Usage: hare-sim --cluster FILE --generate jobs=N,seed=S[,load=L] [options]\n"
	"\n"
	"Replays a workload on a simulated GPU cluster under each policy and reports\n"
	"weighted JCT, average and p99 JCT, makespan, utilisation and the LP lower bound.\n"
	"\n"
	"  --cluster FILE     cluster INI file: one [section] per node group with\n"
	"                     type = V100, nodes = 4, gpus_per_node = 8 (see sim/README.md)\n"
	"  --generate SPEC    synthetic workload: jobs=N (1..1000000), seed=S (whole number),\n"
	"                     load=L (offered load as a fraction of the cluster's V100\n"
	"                     capacity, default 1.0); Poisson arrivals, Philly-like sizes\n"
	"  --policies LIST    comma-separated policies to compare (default: hare);\n"
	"                     known: %s\n"
	"  --profiles DIR     throughput profile directory (default: %s)\n"
	"  --out DIR          write DIR/<policy>/jobs.csv and DIR/summary.json\n"
	"  --json             print the summary JSON on stdout instead of the table\n"
	"  --no-bound         skip the offline LP lower bound (O(jobs^2) time; skipped\n"
	"                     anyway above 50000 jobs)\n"
	"  --help             show this help\n"
	"\n"
	"Example:\n"
	"  hare-sim --cluster deploy/clusters/paper-200.ini --generate jobs=300,seed=1 \\\n"
	"           --policies hare,optimus,fifo,srtf --out results --json\n"
	"\n"
	"Exit status: 0 done, 1 a policy or output failed, 2 bad usage or input.\n";

static void sim_usage_print(void)
{
	const char *const *names = sched_policy_names();
	char known[256] = "";

	for (size_t i = 0; names && names[i]; i++) {
		size_t len = strlen(known);

		snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", names[i]);
	}
	printf(usage, known, HARE_PROFILE_DIR);
}

static int sim_policies_split(struct sim_args *a, char *errbuf, size_t errlen)
{
	const char *p = a->policies;

	for (a->npolicies = 0;; a->npolicies++) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len >= SIM_POLICY_NAME_LEN || a->npolicies == SIM_MAX_POLICIES) {
			snprintf(errbuf, errlen, "--policies: %s in '%.60s'", len == 0 ? "empty name" :
				 len >= SIM_POLICY_NAME_LEN ? "name too long" : "too many policies",
				 a->policies);
			return ERR_BAD_SPEC;
		}
		memcpy(a->policy[a->npolicies], p, len);
		a->policy[a->npolicies][len] = '\0';
		for (uint32_t k = 0; k < a->npolicies; k++)
			if (strcmp(a->policy[k], a->policy[a->npolicies]) == 0) {
				snprintf(errbuf, errlen, "--policies: '%s' given twice", a->policy[k]);
				return ERR_BAD_SPEC;
			}
		if (!comma)
			break;
		p = comma + 1;
	}
	a->npolicies++;
	return 0;
}

static int sim_option_bad(const char *arg, int opt, char *errbuf, size_t errlen)
{
	char shortopt[3] = { '-', (char)optopt, '\0' };

	/* Only long options take values. An unknown short option sets optopt,
	 * and optind may not have moved past it. */
	if (opt != ':' && optopt > 0 && optopt < 128 && strncmp(arg, "--", 2) != 0)
		arg = shortopt;
	if (opt == ':')
		snprintf(errbuf, errlen, "%.60s needs a value (see --help)", arg);
	else
		snprintf(errbuf, errlen, "unknown option '%.60s' (see --help)", arg);
	return ERR_BAD_SPEC;
}

static int sim_args_parse(int argc, char **argv, struct sim_args *a, char *errbuf, size_t errlen)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'c' }, { "generate", required_argument, NULL, 'g' },
		{ "policies", required_argument, NULL, 'p' }, { "profiles", required_argument, NULL, 'P' },
		{ "out", required_argument, NULL, 'o' }, { "json", no_argument, NULL, 'j' },
		{ "no-bound", no_argument, NULL, 'B' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char why[256];
	int opt;

	*a = (struct sim_args){ .policies = "hare", .profiles = HARE_PROFILE_DIR, .bound = true };
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': a->cluster = optarg; break;
		case 'g': a->generate = optarg; break;
		case 'p': a->policies = optarg; break;
		case 'P': a->profiles = optarg; break;
		case 'o': a->out_dir = optarg; break;
		case 'j': a->json = true; break;
		case 'B': a->bound = false; break;
		case 'h': a->help = true; return 0;
		default: return sim_option_bad(argv[optind - 1], opt, errbuf, errlen);
		}
	}
	if (optind < argc) {
		snprintf(errbuf, errlen, "unexpected argument '%.60s' (see --help)", argv[optind]);
		return ERR_BAD_SPEC;
	}
	if (!a->cluster || !a->generate) {
		snprintf(errbuf, errlen, "%s is required (see --help)", !a->cluster ? "--cluster" :
			 "--generate");
		return ERR_BAD_SPEC;
	}
	if (sim_gen_spec_parse(a->generate, &a->spec, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "--generate: %s", why);
		return ERR_BAD_SPEC;
	}
	return sim_policies_split(a, errbuf, errlen);
}

/* Create every policy up front so an unknown name fails before any work. */
static int sim_policies_new(const struct sim_args *a, struct sim_run *run, char *errbuf,
			    size_t errlen)
{
	struct sched_options opt;

	sched_options_default(&opt);
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

static int sim_policy_run(const struct sim_args *a, struct sim_run *run, uint32_t i,
			  char *errbuf, size_t errlen)
{
	struct sim_result res;
	char path[4096];
	int rc;

	rc = sim_engine_run(&run->cluster.sched, &run->work, run->pol[i], &res, errbuf, errlen);
	if (rc < 0)
		return rc;
	rc = sim_summary_compute(a->policy[i], &run->cluster.sched, &run->work, &res, run->has_bound,
				 run->bound_s, &run->sum[i]);
	if (rc < 0)
		snprintf(errbuf, errlen, "summary: out of memory");
	if (rc == 0 && a->out_dir) {
		snprintf(path, sizeof(path), "%s/%s", a->out_dir, a->policy[i]);
		rc = sim_mkdir_p(path, errbuf, errlen);
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/%s/jobs.csv", a->out_dir, a->policy[i]);
			rc = sim_report_jobs_csv(path, &run->cluster.sched, &run->work, &res, errbuf,
						 errlen);
		}
	}
	sim_result_destroy(&res);
	return rc;
}

static double sim_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sim_summary_write(const struct sim_args *a, const struct sim_run *run, double wall_s,
			     char *errbuf, size_t errlen)
{
	char path[4096];
	FILE *f;
	int rc;

	if (a->out_dir) {
		snprintf(path, sizeof(path), "%s/summary.json", a->out_dir);
		f = fopen(path, "w");
		if (!f) {
			rc = -errno;
			snprintf(errbuf, errlen, "%.300s: %s", path, strerror(errno));
			return rc;
		}
		sim_report_json(f, run->sum, a->npolicies, wall_s);
		if (fclose(f) != 0) {
			snprintf(errbuf, errlen, "%.300s: write failed", path);
			return -EIO;
		}
	}
	if (a->json)
		sim_report_json(stdout, run->sum, a->npolicies, wall_s);
	else
		sim_report_table(stdout, run->sum, a->npolicies, wall_s);
	return 0;
}

/* Load the inputs; every failure here is the user's input: exit 2. */
static int sim_inputs_load(const struct sim_args *a, struct sim_run *run, char *errbuf,
			   size_t errlen)
{
	int rc = profile_load(a->profiles, &run->prof, errbuf, errlen);

	if (rc == 0)
		rc = sim_cluster_load(a->cluster, run->prof, &run->cluster, errbuf, errlen);
	if (rc == 0)
		rc = sim_workload_generate(&a->spec, run->prof, &run->cluster, &run->work, errbuf,
					   errlen);
	if (rc == 0)
		rc = sim_policies_new(a, run, errbuf, errlen);
	return rc;
}

static int sim_main(const struct sim_args *a, struct sim_run *run, double t0, char *errbuf,
		    size_t errlen)
{
	int rc = sim_inputs_load(a, run, errbuf, errlen);

	if (rc < 0)
		return rc == -ENOMEM ? EXIT_RUN : EXIT_USAGE;
	if (a->bound && run->work.njobs <= SIM_BOUND_MAX_JOBS) {
		rc = sim_bound_compute(&run->cluster.sched, &run->work, &run->bound_s, errbuf, errlen);
		if (rc < 0)
			return EXIT_RUN;
		run->has_bound = true;
	}
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
