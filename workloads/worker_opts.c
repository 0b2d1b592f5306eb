/* SPDX-License-Identifier: MIT */
/* hare-worker's command line: flags, defaults, ranges and the usage text. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_JOB = 256, OPT_LEASE, OPT_RANK, OPT_WORLD, OPT_MODEL, OPT_GPU_TYPE, OPT_TASKS,
	OPT_JOB_TASKS, OPT_ROUND_FIRST, OPT_ROUND_COUNT, OPT_ROUND_S, OPT_COMPUTE_S,
	OPT_RESTART_S, OPT_SCALE, OPT_NOISE, OPT_SEED, OPT_REPORT_FD, OPT_REPORT_MS,
	OPT_REPORT_WAIT, OPT_EMULATE, OPT_HELP,
};

static const struct option worker_longopts[] = {
	{ "job", required_argument, NULL, OPT_JOB },
	{ "lease", required_argument, NULL, OPT_LEASE },
	{ "rank", required_argument, NULL, OPT_RANK },
	{ "world-size", required_argument, NULL, OPT_WORLD },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "gpu-type", required_argument, NULL, OPT_GPU_TYPE },
	{ "tasks", required_argument, NULL, OPT_TASKS },
	{ "job-tasks", required_argument, NULL, OPT_JOB_TASKS },
	{ "round-first", required_argument, NULL, OPT_ROUND_FIRST },
	{ "round-count", required_argument, NULL, OPT_ROUND_COUNT },
	{ "round-s", required_argument, NULL, OPT_ROUND_S },
	{ "compute-s", required_argument, NULL, OPT_COMPUTE_S },
	{ "restart-s", required_argument, NULL, OPT_RESTART_S },
	{ "time-scale", required_argument, NULL, OPT_SCALE },
	{ "noise-cv", required_argument, NULL, OPT_NOISE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "report-fd", required_argument, NULL, OPT_REPORT_FD },
	{ "report-ms", required_argument, NULL, OPT_REPORT_MS },
	{ "report-wait-s", required_argument, NULL, OPT_REPORT_WAIT },
	{ "emulate", no_argument, NULL, OPT_EMULATE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char worker_usage[] =
	"usage: hare-worker --emulate --job ID --lease L --rank R --world-size W\n"
	"                   --round-count C --round-s X [options]\n"
	"Runs one rank of a job's lease and writes one report line per round (or per\n"
	"batch of fast rounds) on the report fd: 'round FIRST COUNT COMPUTE_S SYNC_S LOSS',\n"
	"then 'done ROUNDS'; on SIGTERM 'stopped ROUNDS'. Times are profile seconds.\n"
	"  --model M          model name (logs only in emulated mode)\n"
	"  --gpu-type T       GPU type name (logs only in emulated mode)\n"
	"  --tasks N          micro-batches this rank runs per round (default 1)\n"
	"  --job-tasks K      micro-batches per round of the whole job (default N)\n"
	"  --round-first F    absolute index of the first round (default 0)\n"
	"  --round-count C    rounds to run\n"
	"  --round-s X        emulated: the lease's whole round, profile seconds\n"
	"  --compute-s Y      emulated: one task's compute on this GPU (default 0)\n"
	"  --restart-s Z      emulated: restore cost slept before the first round\n"
	"  --time-scale S     emulated: sleep profile seconds / S (default 1)\n"
	"  --noise-cv V       emulated: straggler noise of the round time (default 0)\n"
	"  --seed S           noise seed, the same on every rank of a lease (default 1)\n"
	"  --report-fd FD     where report lines go (default 1)\n"
	"  --report-ms MS     batch rounds faster than this into one line (default 100)\n"
	"  --report-wait-s W  retry the final line this long if nobody reads (default 30)\n"
	"  --emulate          sleep instead of training (the only mode of a build\n"
	"                     without CUDA)\n";

static int worker_bad(char *err, size_t errlen, const char *flag, const char *why, const char *v)
{
	snprintf(err, errlen, "--%s: %s, got '%.64s'", flag, why, v);
	return -EINVAL;
}

static int worker_u64(const char *flag, const char *v, uint64_t min, uint64_t max, uint64_t *out,
		      char *err, size_t errlen)
{
	unsigned long long x;
	char *end;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno || x < min || x > max) {
		char why[96];

		snprintf(why, sizeof(why), "expected a whole number between %llu and %llu",
			 (unsigned long long)min, (unsigned long long)max);
		return worker_bad(err, errlen, flag, why, v);
	}
	*out = x;
	return 0;
}

static int worker_u32(const char *flag, const char *v, uint32_t min, uint32_t max, uint32_t *out,
		      char *err, size_t errlen)
{
	uint64_t x;
	int rc = worker_u64(flag, v, min, max, &x, err, errlen);

	if (rc == 0)
		*out = (uint32_t)x;
	return rc;
}

static int worker_dbl(const char *flag, const char *v, double min, double max, double *out,
		      char *err, size_t errlen)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (end == v || *end != '\0' || errno || !isfinite(x) || x < min || x > max) {
		char why[96];

		snprintf(why, sizeof(why), "expected a number between %g and %g", min, max);
		return worker_bad(err, errlen, flag, why, v);
	}
	*out = x;
	return 0;
}

static int worker_name(const char *flag, const char *v, char *out, char *err, size_t errlen)
{
	if (v[0] == '\0' || strlen(v) >= WORKER_NAME_MAX)
		return worker_bad(err, errlen, flag, "expected 1 to 63 characters", v);
	strcpy(out, v);
	return 0;
}

/* One flag with its value; `seen` marks the required ones. */
static int worker_opt_set(struct worker_opts *o, int c, const char *v, uint32_t *seen, char *err,
			  size_t errlen)
{
	const char *flag = worker_longopts[c - OPT_JOB].name;

	*seen |= 1u << (c - OPT_JOB);
	switch (c) {
	case OPT_JOB: return worker_u64(flag, v, 0, UINT64_MAX, &o->job_id, err, errlen);
	case OPT_LEASE: return worker_u64(flag, v, 0, UINT64_MAX, &o->lease_id, err, errlen);
	case OPT_RANK: return worker_u32(flag, v, 0, 65535, &o->rank, err, errlen);
	case OPT_WORLD: return worker_u32(flag, v, 1, 65536, &o->world_size, err, errlen);
	case OPT_MODEL: return worker_name(flag, v, o->model, err, errlen);
	case OPT_GPU_TYPE: return worker_name(flag, v, o->gpu_type, err, errlen);
	case OPT_TASKS: return worker_u32(flag, v, 1, 65536, &o->tasks, err, errlen);
	case OPT_JOB_TASKS: return worker_u32(flag, v, 1, 65536, &o->job_tasks, err, errlen);
	case OPT_ROUND_FIRST: return worker_u64(flag, v, 0, UINT64_MAX / 2, &o->round_first, err, errlen);
	case OPT_ROUND_COUNT: return worker_u64(flag, v, 0, UINT64_MAX / 2, &o->round_count, err, errlen);
	case OPT_ROUND_S: return worker_dbl(flag, v, 0, 1e9, &o->round_s, err, errlen);
	case OPT_COMPUTE_S: return worker_dbl(flag, v, 0, 1e9, &o->compute_s, err, errlen);
	case OPT_RESTART_S: return worker_dbl(flag, v, 0, 1e9, &o->restart_s, err, errlen);
	case OPT_SCALE: return worker_dbl(flag, v, 1e-6, 1e9, &o->time_scale, err, errlen);
	case OPT_NOISE: return worker_dbl(flag, v, 0, 10, &o->noise_cv, err, errlen);
	case OPT_SEED: return worker_u64(flag, v, 0, UINT64_MAX, &o->seed, err, errlen);
	case OPT_REPORT_FD: return worker_u32(flag, v, 0, 1 << 20, (uint32_t *)&o->report_fd, err, errlen);
	case OPT_REPORT_MS: return worker_u32(flag, v, 0, 3600000, &o->report_ms, err, errlen);
	case OPT_REPORT_WAIT: return worker_dbl(flag, v, 0, 86400, &o->report_wait_s, err, errlen);
	case OPT_EMULATE: o->emulate = true; return 0;
	default: return -EINVAL;
	}
}

#define WORKER_SEEN(opt) (1u << ((opt) - OPT_JOB))

/* Rules across flags, checked once all are read. */
static int worker_opts_check(struct worker_opts *o, uint32_t seen, char *err, size_t errlen)
{
	static const int required[] = { OPT_JOB, OPT_LEASE, OPT_RANK, OPT_WORLD, OPT_ROUND_COUNT };

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!(seen & WORKER_SEEN(required[i]))) {
			snprintf(err, errlen, "--%s is required", worker_longopts[required[i] - OPT_JOB].name);
			return -EINVAL;
		}
	}
	if (!(seen & WORKER_SEEN(OPT_JOB_TASKS)))
		o->job_tasks = o->tasks;
	if (o->rank >= o->world_size) {
		snprintf(err, errlen, "--rank %u must be below --world-size %u", o->rank, o->world_size);
		return -EINVAL;
	}
	if (o->tasks > o->job_tasks) {
		snprintf(err, errlen, "--tasks %u must not exceed --job-tasks %u", o->tasks, o->job_tasks);
		return -EINVAL;
	}
	if (o->emulate && !(o->round_s > 0)) {
		snprintf(err, errlen, "--round-s must be given and above 0 with --emulate");
		return -EINVAL;
	}
	if (fcntl(o->report_fd, F_GETFD) < 0) {
		snprintf(err, errlen, "--report-fd %d is not an open file descriptor", o->report_fd);
		return -EINVAL;
	}
	return 0;
}

int worker_opts_parse(int argc, char **argv, struct worker_opts *o, char *err, size_t errlen)
{
	uint32_t seen = 0;
	int c, rc;

	*o = (struct worker_opts){ .world_size = 1, .tasks = 1, .job_tasks = 1, .time_scale = 1,
				   .seed = 1, .report_fd = 1, .report_ms = 100, .report_wait_s = 30 };
	snprintf(o->model, sizeof(o->model), "unknown");
	snprintf(o->gpu_type, sizeof(o->gpu_type), "unknown");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", worker_longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(worker_usage, stdout);
			return 1;
		}
		if (c == '?' || c == ':') {
			snprintf(err, errlen, "unknown flag or missing value: '%.64s' (see --help)",
				 argv[optind - 1]);
			return -EINVAL;
		}
		rc = worker_opt_set(o, c, optarg, &seen, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%.64s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	return worker_opts_check(o, seen, err, errlen);
}
