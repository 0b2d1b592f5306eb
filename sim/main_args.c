/* SPDX-License-Identifier: MIT */
/* hare-sim's command line: the --help text, the options and the checks of
 * their values and of their combinations, into struct sim_args. */
#include "main_impl.h"

#include "err.h"
#include "fileio.h"
#include "profile.h"
#include "sched.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HARE_PROFILE_DIR
#define HARE_PROFILE_DIR PROFILE_DEFAULT_DIR
#endif
#ifndef HARE_PROFILE_INSTALLED
#define HARE_PROFILE_INSTALLED HARE_PROFILE_DIR
#endif

/* The default --profiles: share/hare/profiles beside the bin/ hare-sim runs
 * from (an installed hare-sim, whatever cmake --install --prefix said, as
 * hared finds them), else the source tree's (a build run from it), else
 * the installed copy under the configured prefix. */
static const char *sim_profiles_default(void)
{
	static char dir[PATH_MAX];

	if (dir[0] || file_beside_exe("../share/hare/profiles", "models.csv", dir, sizeof(dir)))
		return dir;
	return access(HARE_PROFILE_DIR "/models.csv", R_OK) == 0 ? HARE_PROFILE_DIR
								  : HARE_PROFILE_INSTALLED;
}

static const char usage[] =
	"Usage: hare-sim --cluster FILE (--generate SPEC | --trace FILE) [options]\n"
	"\n"
	"Replays a workload on a simulated GPU cluster under each policy and reports\n"
	"weighted, average, median and p99 JCT, queueing delay, finish-time fairness,\n"
	"makespan, utilisation, GPU-hours per type and the LP lower bound.\n"
	"\n"
	"  --cluster FILE     cluster INI file: one [section] per node group with\n"
	"                     type = V100, nodes = 4, gpus_per_node = 8 (see sim/README.md)\n"
	"  --generate SPEC    synthetic workload: jobs=N (1..1000000), seed=S (whole number),\n"
	"                     load=L (offered load as a fraction of the cluster's V100\n"
	"                     capacity, default 1.0), pipeline=P (the fraction of jobs\n"
	"                     that run after one of the 8 before them, as with harectl\n"
	"                     submit --after; default 0); Poisson arrivals, Philly-like sizes\n"
	"  --trace FILE       replay a trace: philly (Pollux's philly.csv), gavel (Gavel's\n"
	"                     per-VC .trace TSV) or hare (CSV, header arrival_s,model,tasks,...)\n"
	"  --policies LIST    comma-separated policies to compare (default: hare);\n"
	"                     known: %s\n"
	"  --profiles DIR     throughput profile directory (default: %s)\n"
	"  --measured FILE    also the GPU types a cluster measured (hared's\n"
	"                     state_dir/measured-throughput.csv), for clusters of them\n"
	"  --out DIR          write DIR/summary.json and DIR/<policy>/{jobs,utilisation}.csv\n"
	"  --json             print the summary JSON on stdout instead of the tables\n"
	"  --no-bound         skip the offline LP lower bound (O(jobs^2) time; skipped\n"
	"                     anyway above 50000 jobs)\n"
	"  --window FIRST:LAST  metrics over jobs FIRST..LAST-1 in arrival order (0-based;\n"
	"                     FIRST: = to the end); the run still simulates every job\n"
	"  --util-step S      seconds per row of utilisation.csv (default: <= 2000 rows;\n"
	"                     a step giving more than 1000000 rows is refused)\n"
	"  --min-lease S      seconds a running job keeps its GPUs before jobs ranked\n"
	"                     above it may take them (hare; default %.0f, 0: free\n"
	"                     preemption)\n"
	"  --type-slack F     a job may take a slower GPU type when it finishes within\n"
	"                     F (a fraction) of its earliest finish (hare; default %.2g,\n"
	"                     0: earliest finish)\n"
	"  --bad-nodes LIST   failure model: comma-separated node indices (0-based, in\n"
	"                     the cluster file's order); a lease with a GPU there fails\n"
	"                     --fail-after seconds after it starts, its job keeps its\n"
	"                     rounds and is planned again, avoiding the node (as hared\n"
	"                     does after a worker failure)\n"
	"  --fail-after S     seconds before such a lease fails (default 1800)\n"
	"  --own-weights      plan jobs that others wait for (pipeline=P) with their\n"
	"                     own weight only, not theirs too as hared does, for comparison\n"
	"  --no-avoid         the failed job does not avoid the node (hared with\n"
	"                     failed_node_avoid_s = 0), for comparison\n"
	"  --max-retries N    failures a job survives; one more and it FAILED, never\n"
	"                     completes and is left out of the JCTs (default 3, as hared)\n"
	"  --quarantine K     a bad node where leases of K distinct jobs failed within\n"
	"                     an hour goes out of service, its leases planned again\n"
	"                     (hared's quarantine_jobs; default 0: off)\n"
	"  --quarantine-max N  nodes it takes out at most (default 1, as hared)\n"
	"  --quiet            no progress line or import note on stderr\n"
	"  --help             show this help\n"
	"  --version          print the version\n"
	"\n"
	"Trace options (with --trace only):\n"
	"  --format NAME      philly, gavel or hare (default: told from the first line)\n"
	"  --skip-bad         skip malformed rows (counted on stderr) instead of failing\n"
	"  --seed N           seed of the per-job draws: model and weight (philly),\n"
	"                     weight (gavel), --thin (default 1)\n"
	"  --load L           rescale arrival times so the offered load is L: V100\n"
	"                     GPU-seconds per cluster GPU-second (default %.1f for philly\n"
	"                     and gavel; hare traces keep their times)\n"
	"  --arrival-scale F  multiply arrival times by F instead (1 = the trace's own)\n"
	"  --thin P           keep each job with probability P, in (0, 1]\n"
	"  --max-jobs N       keep the first N jobs by arrival\n"
	"  --max-tasks N      cap philly/gavel jobs at N tasks (default: the cluster's GPUs)\n"
	"\n"
	"Examples:\n"
	"  hare-sim --cluster deploy/clusters/paper-200.ini --generate jobs=300,seed=1 \\\n"
	"           --policies hare,optimus,fifo,srtf --out results --json\n"
	"  hare-sim --cluster deploy/clusters/paper-200.ini \\\n"
	"           --trace workloads/traces/philly.csv --max-jobs 5000 \\\n"
	"           --policies hare,fifo --out results\n"
	"\n"
	"Exit status: 0 done, 1 a policy or output failed, 2 bad usage or input.\n";

void sim_usage_print(void)
{
	const char *const *names = sched_policy_names();
	char known[256] = "";

	for (size_t i = 0; names && names[i]; i++) {
		size_t len = strlen(known);

		snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", names[i]);
	}
	printf(usage, known, sim_profiles_default(), SCHED_MIN_LEASE_S, SCHED_TYPE_SLACK, SIM_TRACE_DEFAULT_LOAD);
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

/* A number option: finite, in (lo, hi] (lo_open) or [lo, hi]. */
static int sim_opt_num(const char *opt, const char *val, double lo, bool lo_open, double hi,
		       double *out, char *errbuf, size_t errlen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(val, &end);
	if (end == val || *end != '\0' || errno || !isfinite(v) || v < lo || (lo_open && v == lo) ||
	    v > hi) {
		snprintf(errbuf, errlen, "%s: expected a number %s %g and <= %g, got '%.40s'", opt,
			 lo_open ? ">" : ">=", lo, hi, val);
		return ERR_BAD_SPEC;
	}
	*out = v;
	return 0;
}

/* A whole-number option in [lo, hi]. */
static int sim_opt_whole(const char *opt, const char *val, uint64_t lo, uint64_t hi,
			 uint64_t *out, char *errbuf, size_t errlen)
{
	char *end = NULL;
	unsigned long long v = 0;
	bool digit = val[0] >= '0' && val[0] <= '9';

	errno = 0;
	if (digit)
		v = strtoull(val, &end, 10);
	if (!digit || errno || *end != '\0' || v < lo || v > hi) {
		snprintf(errbuf, errlen, "%s: expected a whole number between %llu and %llu, got "
			 "'%.40s'", opt, (unsigned long long)lo, (unsigned long long)hi, val);
		return ERR_BAD_SPEC;
	}
	*out = v;
	return 0;
}

/* --window FIRST:LAST or FIRST: (to the end). */
static int sim_opt_window(const char *val, struct sim_window *w, char *errbuf, size_t errlen)
{
	const char *colon = strchr(val, ':');
	char first[32];
	uint64_t a, b = UINT32_MAX;

	if (!colon || (size_t)(colon - val) >= sizeof(first))
		goto bad;
	snprintf(first, sizeof(first), "%.*s", (int)(colon - val), val);
	if (sim_opt_whole("--window", first, 0, UINT32_MAX - 1, &a, errbuf, errlen) < 0 ||
	    (colon[1] && sim_opt_whole("--window", colon + 1, 1, UINT32_MAX, &b, errbuf, errlen) < 0) ||
	    a >= b)
		goto bad;
	*w = (struct sim_window){ (uint32_t)a, (uint32_t)b };
	return 0;
bad:
	snprintf(errbuf, errlen, "--window: expected FIRST:LAST or FIRST: (job indices by arrival, "
		 "FIRST < LAST), got '%.40s'", val);
	return ERR_BAD_SPEC;
}

/* The options that only a trace takes; name is "--<option>". */
static int sim_opt_trace(struct sim_args *a, int opt, const char *name, const char *val,
			 char *errbuf, size_t errlen)
{
	struct sim_trace_opts *t = &a->topt;
	uint64_t v = 0;
	int rc;

	switch (opt) {
	case 'F':
		rc = sim_trace_format_parse(val, &t->format);
		if (rc < 0)
			snprintf(errbuf, errlen, "--format: expected philly, gavel, hare or auto, got "
				 "'%.40s'", val);
		return rc;
	case 'S': t->skip_bad = true; return 0;
	case 's': return sim_opt_whole(name, val, 0, UINT64_MAX, &t->seed, errbuf, errlen);
	case 'L': return sim_opt_num(name, val, 0, true, SIM_TRACE_MAX_LOAD, &t->load, errbuf, errlen);
	case 'A': return sim_opt_num(name, val, 0, true, 1e6, &t->arrival_scale, errbuf, errlen);
	case 'T': return sim_opt_num(name, val, 0, true, 1, &t->thin, errbuf, errlen);
	case 'M':
		rc = sim_opt_whole(name, val, 1, SIM_TRACE_MAX_JOBS, &v, errbuf, errlen);
		t->max_jobs = (uint32_t)v;
		return rc;
	default:
		rc = sim_opt_whole(name, val, 1, SIM_TRACE_MAX_TASKS, &v, errbuf, errlen);
		t->max_tasks = (uint32_t)v;
		return rc;
	}
}

/* Cross-option checks once every option is read. */
static int sim_args_check(struct sim_args *a, char *errbuf, size_t errlen)
{
	char why[256];

	if (!a->cluster || (!a->generate && !a->trace)) {
		snprintf(errbuf, errlen, "%s is required (see --help)", !a->cluster ? "--cluster" :
			 "--generate or --trace");
		return ERR_BAD_SPEC;
	}
	if (a->generate && a->trace) {
		snprintf(errbuf, errlen, "--generate and --trace: give one of them");
		return ERR_BAD_SPEC;
	}
	if (a->generate && a->trace_only[0]) {
		snprintf(errbuf, errlen, "%s applies to --trace only (see --help)", a->trace_only);
		return ERR_BAD_SPEC;
	}
	if (a->topt.load > 0 && a->topt.arrival_scale > 0) {
		snprintf(errbuf, errlen, "--load and --arrival-scale: give one of them");
		return ERR_BAD_SPEC;
	}
	if (a->nbad == 0 && a->failure_opt[0]) {
		snprintf(errbuf, errlen, "%s applies with --bad-nodes only (see --help)", a->failure_opt);
		return ERR_BAD_SPEC;
	}
	if (a->generate && sim_gen_spec_parse(a->generate, &a->spec, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "--generate: %s", why);
		return ERR_BAD_SPEC;
	}
	return sim_policies_split(a, errbuf, errlen);
}

/* --bad-nodes 0,3,7: node indices, checked against the cluster later. */
static int sim_opt_bad_nodes(struct sim_args *a, const char *v, char *errbuf, size_t errlen)
{
	const char *p = v;

	a->nbad = 0;
	while (*p) {
		char *end;
		unsigned long n;

		errno = 0;
		n = strtoul(p, &end, 10);
		if (end == p || *p == '-' || *p == '+' || errno || n > UINT32_MAX - 1 ||
		    (*end && *end != ',') || a->nbad == SIM_BAD_NODES_MAX) {
			snprintf(errbuf, errlen, "--bad-nodes wants up to %d node indices like 0,3, got "
				 "'%.60s'", SIM_BAD_NODES_MAX, v);
			return ERR_BAD_SPEC;
		}
		a->bad[a->nbad++] = (uint32_t)n;
		p = *end ? end + 1 : end;
		if (*end == ',' && !*p) {
			snprintf(errbuf, errlen, "--bad-nodes ends with a comma: '%.60s'", v);
			return ERR_BAD_SPEC;
		}
	}
	if (a->nbad == 0) {
		snprintf(errbuf, errlen, "--bad-nodes needs node indices like 0,3");
		return ERR_BAD_SPEC;
	}
	return 0;
}

/* --fail-after, --no-avoid, --max-retries, --quarantine, --quarantine-max
 * (the first is remembered: they need --bad-nodes). */
static int sim_opt_failure(struct sim_args *a, int opt, const char *name, char *errbuf,
			   size_t errlen)
{
	double v;
	int rc;

	if (!a->failure_opt[0])
		snprintf(a->failure_opt, sizeof(a->failure_opt), "%s", name);
	if (opt == 'f')
		return sim_opt_num(name, optarg, 0, true, 1e9, &a->fail_after_s, errbuf, errlen);
	if (opt == 'N') {
		a->no_avoid = true;
		return 0;
	}
	rc = sim_opt_num(name, optarg, opt == 'Z' ? 1 : 0, false, opt == 'Q' ? 64 : 1e6, &v,
			 errbuf, errlen);
	if (rc == 0 && v != floor(v)) {
		snprintf(errbuf, errlen, "%s wants a whole number, got '%.40s'", name, optarg);
		rc = ERR_BAD_SPEC;
	}
	if (rc == 0)
		*(opt == 'Q' ? &a->quarantine : opt == 'Z' ? &a->quarantine_max : &a->max_retries) =
			(uint32_t)v;
	return rc;
}

/* One option of getopt_long; 0 or ERR_BAD_SPEC with errbuf set. */
static int sim_opt_apply(struct sim_args *a, int opt, const char *name, char *errbuf,
			 size_t errlen)
{
	switch (opt) {
	case 'c': a->cluster = optarg; return 0;
	case 'g': a->generate = optarg; return 0;
	case 't': a->trace = optarg; return 0;
	case 'p': a->policies = optarg; return 0;
	case 'P': a->profiles = optarg; return 0;
	case 'D': a->measured = optarg; return 0;
	case 'o': a->out_dir = optarg; return 0;
	case 'j': a->json = true; return 0;
	case 'B': a->bound = false; return 0;
	case 'q': a->quiet = true; return 0;
	case 'W': a->own_weights = true; return 0;
	case 'h': a->help = true; return 0;
	case 'V': printf("hare-sim %s\n", HARE_VERSION); exit(0);
	case 'w':
		a->has_window = true;
		return sim_opt_window(optarg, &a->window, errbuf, errlen);
	case 'u':
		return sim_opt_num(name, optarg, 0, true, 1e9, &a->util_step_s, errbuf, errlen);
	case 'm':
		return sim_opt_num(name, optarg, 0, false, 1e9, &a->min_lease_s, errbuf, errlen);
	case 'k':
		return sim_opt_num(name, optarg, 0, false, 10, &a->type_slack, errbuf, errlen);
	case 'b':
		return sim_opt_bad_nodes(a, optarg, errbuf, errlen);
	case 'f':
	case 'N':
	case 'R':
	case 'Q':
	case 'Z':
		return sim_opt_failure(a, opt, name, errbuf, errlen);
	default:
		if (!a->trace_only[0])
			snprintf(a->trace_only, sizeof(a->trace_only), "%s", name);
		return sim_opt_trace(a, opt, name, optarg, errbuf, errlen);
	}
}

int sim_args_parse(int argc, char **argv, struct sim_args *a, char *errbuf, size_t errlen)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'c' }, { "generate", required_argument, NULL, 'g' },
		{ "trace", required_argument, NULL, 't' }, { "policies", required_argument, NULL, 'p' },
		{ "profiles", required_argument, NULL, 'P' }, { "out", required_argument, NULL, 'o' },
		{ "measured", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' }, { "no-bound", no_argument, NULL, 'B' },
		{ "window", required_argument, NULL, 'w' }, { "util-step", required_argument, NULL, 'u' },
		{ "min-lease", required_argument, NULL, 'm' }, { "type-slack", required_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "format", required_argument, NULL, 'F' }, { "skip-bad", no_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' }, { "load", required_argument, NULL, 'L' },
		{ "arrival-scale", required_argument, NULL, 'A' },
		{ "thin", required_argument, NULL, 'T' }, { "max-jobs", required_argument, NULL, 'M' },
		{ "max-tasks", required_argument, NULL, 'X' },
		{ "bad-nodes", required_argument, NULL, 'b' }, { "fail-after", required_argument, NULL, 'f' },
		{ "no-avoid", no_argument, NULL, 'N' }, { "max-retries", required_argument, NULL, 'R' },
		{ "quarantine", required_argument, NULL, 'Q' },
		{ "quarantine-max", required_argument, NULL, 'Z' },
		{ "own-weights", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	char name[40];
	int opt, idx;

	*a = (struct sim_args){ .policies = "hare", .profiles = sim_profiles_default(), .bound = true,
				.min_lease_s = -1, .type_slack = -1, .fail_after_s = 1800,
				.max_retries = 3, .quarantine_max = 1 };
	sim_trace_opts_default(&a->topt);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
		if (opt == ':' || opt == '?')
			return sim_option_bad(argv[optind - 1], opt, errbuf, errlen);
		snprintf(name, sizeof(name), "--%s", opt == 'h' ? "help" : opts[idx].name);
		if (sim_opt_apply(a, opt, name, errbuf, errlen) < 0)
			return ERR_BAD_SPEC;
		if (a->help)
			return 0;
	}
	if (optind < argc) {
		snprintf(errbuf, errlen, "unexpected argument '%.60s' (see --help)", argv[optind]);
		return ERR_BAD_SPEC;
	}
	return sim_args_check(a, errbuf, errlen);
}

