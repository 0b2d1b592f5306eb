/* SPDX-License-Identifier: MIT */
/* hare-worker's command line: flags, defaults, ranges and the usage text. */
#include "worker.h"

#include "proxy.h"
#include "worker_engine.h"

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
	OPT_REPORT_WAIT, OPT_EMULATE, OPT_HELP, OPT_ENGINE, OPT_PROXY, OPT_LIB, OPT_DEVICE,
	OPT_CKPT_DIR, OPT_CKPT_EVERY, OPT_CKPT_S, OPT_CKPT_KEEP, OPT_NCCL_ID_FILE, OPT_RDV_TIMEOUT,
	OPT_PROFILE, OPT_PROFILE_BATCHES, OPT_PROFILE_WORKERS, OPT_PROFILE_ITERS, OPT_PROFILE_BUSBW,
	OPT_PARENT_PID, OPT_VERSION, OPT_ORPHAN, OPT_PROGRESS,
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
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "proxy", required_argument, NULL, OPT_PROXY },
	{ "lib", required_argument, NULL, OPT_LIB },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT_DIR },
	{ "checkpoint-every", required_argument, NULL, OPT_CKPT_EVERY },
	{ "checkpoint-s", required_argument, NULL, OPT_CKPT_S },
	{ "checkpoint-keep", required_argument, NULL, OPT_CKPT_KEEP },
	{ "nccl-id-file", required_argument, NULL, OPT_NCCL_ID_FILE },
	{ "rendezvous-timeout-s", required_argument, NULL, OPT_RDV_TIMEOUT },
	{ "profile", no_argument, NULL, OPT_PROFILE },
	{ "profile-batches", required_argument, NULL, OPT_PROFILE_BATCHES },
	{ "profile-workers", required_argument, NULL, OPT_PROFILE_WORKERS },
	{ "profile-iters", required_argument, NULL, OPT_PROFILE_ITERS },
	{ "profile-busbw-gbs", required_argument, NULL, OPT_PROFILE_BUSBW },
	{ "parent-pid", required_argument, NULL, OPT_PARENT_PID },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "orphan-timeout-s", required_argument, NULL, OPT_ORPHAN },
	{ "progress-s", required_argument, NULL, OPT_PROGRESS },
	{ NULL, 0, NULL, 0 },
};

static const char worker_usage[] =
	"usage: hare-worker --emulate --job ID --lease L --rank R --world-size W\n"
	"                   --round-count C --round-s X [options]\n"
	"       hare-worker --model M --job ID --lease L --rank R --world-size W\n"
	"                   --round-count C [options]         (real training)\n"
	"       hare-worker --profile --model M [--gpu-type T] (throughput.csv rows)\n"
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
	"  --orphan-timeout-s S  stop (as on SIGTERM) once nobody has read the reports\n"
	"                     for S seconds: its agent is gone and no new one adopted\n"
	"                     it (default 600; 0: never)\n"
	"  --progress-s S     a progress line on stderr every S seconds: round, loss,\n"
	"                     mean round time (default 60; 0: none)\n"
	"  --emulate          sleep instead of training\n"
	"  --version          the version and the engine ABI\n"
	"  --parent-pid P     end (SIGKILL) when process P, this one's parent, ends;\n"
	"                     at once if P has ended (hare-agent passes its own pid\n"
	"                     to --profile)\n"
	"Real training (without --emulate; see docs/worker.md):\n"
	"  --model M          proxy model: resnet18 resnet50 yolov3 transformer bert lm\n"
	"                     deepspeech2 recommendation ncf\n"
	"  --proxy K=V,...    size overrides (batch, width, blocks=2-2-2-2, dim, layers,\n"
	"                     lr, momentum, clip, ...)\n"
	"  --engine E         cuda (default; loads libhare_worker_cuda.so) or cpu (the\n"
	"                     float64 reference, for tiny sizes)\n"
	"  --lib PATH         the CUDA engine library (default: next to hare-worker,\n"
	"                     or $HARE_WORKER_CUDA_LIB)\n"
	"  --device N         CUDA device ordinal (default 0)\n"
	"  --checkpoint-dir D this job's checkpoints (default $HARE_CHECKPOINT_DIR;\n"
	"                     under an agent: checkpoints/JOB in its work dir)\n"
	"  --checkpoint-every N  also checkpoint every N rounds (default 0: by time)\n"
	"  --checkpoint-s S   checkpoint when S seconds passed since the last (300)\n"
	"  --checkpoint-keep N   newest checkpoints kept (default 2)\n"
	"  --nccl-id-file P   where rank 0's rendezvous line is shared with the other\n"
	"                     ranks (default $HARE_NCCL_ID_FILE)\n"
	"  --rendezvous-timeout-s S  how long ranks > 0 wait for it (default 600)\n"
	"Profiling (--profile):\n"
	"  --profile-batches L   batch sizes, e.g. 16,32,64 (default: the model's\n"
	"                     per-task batch x 1/4, 1/2, 1, 2)\n"
	"  --profile-workers L   GPU counts to all-reduce over (default 1,2,4,..\n"
	"                     up to the GPUs present)\n"
	"  --profile-iters N  timed steps per point (default 20)\n"
	"  --profile-busbw-gbs B  bus bandwidth assumed for sync when fewer than 2\n"
	"                     GPUs can be measured (default 10)\n";

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

static int worker_str(const char *flag, const char *v, char *out, size_t cap, char *err, size_t errlen)
{
	char why[48];

	if (v[0] == '\0' || strlen(v) >= cap) {
		snprintf(why, sizeof(why), "expected 1 to %zu characters", cap - 1);
		return worker_bad(err, errlen, flag, why, v);
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int worker_name(const char *flag, const char *v, char *out, char *err, size_t errlen)
{
	return worker_str(flag, v, out, WORKER_NAME_MAX, err, errlen);
}

int worker_list_parse(const char *s, uint32_t max, uint32_t *out, int cap)
{
	int n = 0;

	while (*s) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (n == cap || *s < '0' || *s > '9' || errno || v < 1 || v > max ||
		    (*end != ',' && *end != '\0'))
			return -EINVAL;
		out[n++] = (uint32_t)v;
		s = *end ? end + 1 : end;
		if (*end == ',' && *s == '\0')
			return -EINVAL;
	}
	return n > 0 ? n : -EINVAL;
}

static int worker_list(const char *flag, const char *v, char *out, char *err, size_t errlen)
{
	uint32_t tmp[32];

	if (strlen(v) >= WORKER_LIST_MAX || worker_list_parse(v, 1u << 20, tmp, 32) < 0)
		return worker_bad(err, errlen, flag, "expected whole numbers >= 1 separated by commas", v);
	strcpy(out, v);
	return 0;
}

/* The flags of real training and profiling. */
static int worker_opt_set_real(struct worker_opts *o, int c, const char *flag, const char *v,
			       char *err, size_t errlen)
{
	switch (c) {
	case OPT_ENGINE:
		if (strcmp(v, "cuda") != 0 && strcmp(v, "cpu") != 0)
			return worker_bad(err, errlen, flag, "expected cuda or cpu", v);
		strcpy(o->engine, v);
		return 0;
	case OPT_PROXY: return worker_str(flag, v, o->proxy, sizeof(o->proxy), err, errlen);
	case OPT_LIB: return worker_str(flag, v, o->lib, sizeof(o->lib), err, errlen);
	case OPT_DEVICE: return worker_u32(flag, v, 0, 1023, (uint32_t *)&o->device, err, errlen);
	case OPT_CKPT_DIR:
		return worker_str(flag, v, o->checkpoint_dir, sizeof(o->checkpoint_dir), err, errlen);
	case OPT_CKPT_EVERY: return worker_u64(flag, v, 0, UINT64_MAX / 2, &o->checkpoint_every, err, errlen);
	case OPT_CKPT_S: return worker_dbl(flag, v, 0, 1e9, &o->checkpoint_s, err, errlen);
	case OPT_CKPT_KEEP: return worker_u32(flag, v, 1, 1000, &o->checkpoint_keep, err, errlen);
	case OPT_NCCL_ID_FILE:
		return worker_str(flag, v, o->nccl_id_file, sizeof(o->nccl_id_file), err, errlen);
	case OPT_RDV_TIMEOUT: return worker_dbl(flag, v, 0, 1e6, &o->rendezvous_timeout_s, err, errlen);
	case OPT_PROFILE: o->profile = true; return 0;
	case OPT_PROFILE_BATCHES: return worker_list(flag, v, o->profile_batches, err, errlen);
	case OPT_PROFILE_WORKERS: return worker_list(flag, v, o->profile_workers, err, errlen);
	case OPT_PROFILE_ITERS: return worker_u32(flag, v, 1, 100000, &o->profile_iters, err, errlen);
	case OPT_PROFILE_BUSBW: return worker_dbl(flag, v, 1e-3, 1e6, &o->profile_busbw_gbs, err, errlen);
	case OPT_PARENT_PID: return worker_u32(flag, v, 2, 1u << 22, &o->parent_pid, err, errlen);
	case OPT_ORPHAN: return worker_dbl(flag, v, 0, 1e7, &o->orphan_timeout_s, err, errlen);
	case OPT_PROGRESS: return worker_dbl(flag, v, 0, 1e7, &o->progress_s, err, errlen);
	default: return -EINVAL;
	}
}

/* One flag with its value; `seen` marks the required ones. */
static int worker_opt_set(struct worker_opts *o, int c, const char *v, uint64_t *seen, char *err,
			  size_t errlen)
{
	const char *flag = worker_longopts[c - OPT_JOB].name;

	*seen |= 1ull << (c - OPT_JOB);
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
	default: return worker_opt_set_real(o, c, flag, v, err, errlen);
	}
}

#define WORKER_SEEN(opt) (1ull << ((opt) - OPT_JOB))

/* Real training: the model must be known and the --proxy sizes valid. */
static int worker_opts_check_real(struct worker_opts *o, uint64_t seen, char *err, size_t errlen)
{
	struct proxy_spec spec;
	char why[200];
	const char *env;

	if (!(seen & WORKER_SEEN(OPT_MODEL))) {
		snprintf(err, errlen, "--model is required without --emulate");
		return -EINVAL;
	}
	if (proxy_spec_default(o->model, &spec, why, sizeof(why)) < 0 ||
	    (o->proxy[0] && proxy_spec_apply(&spec, o->proxy, why, sizeof(why)) < 0) ||
	    proxy_spec_check(&spec, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--%s: %s", o->proxy[0] ? "proxy" : "model", why);
		return -EINVAL;
	}
	if (!o->checkpoint_dir[0] && (env = getenv("HARE_CHECKPOINT_DIR")) && env[0] &&
	    strlen(env) < sizeof(o->checkpoint_dir)) {
		strcpy(o->checkpoint_dir, env);
	} else if (!o->checkpoint_dir[0] && getenv("HARE_JOB_ID") && !o->profile) {
		snprintf(o->checkpoint_dir, sizeof(o->checkpoint_dir), "checkpoints/%llu",
			 (unsigned long long)o->job_id);
		o->checkpoint_dir_default = true;
	}
	if (!o->nccl_id_file[0] && (env = getenv("HARE_NCCL_ID_FILE")) && env[0] &&
	    strlen(env) < sizeof(o->nccl_id_file))
		strcpy(o->nccl_id_file, env);
	if (!o->lib[0] && (env = getenv("HARE_WORKER_CUDA_LIB")) && env[0] && strlen(env) < sizeof(o->lib))
		strcpy(o->lib, env);
	return 0;
}

/* Rules across flags, checked once all are read. */
static int worker_opts_check(struct worker_opts *o, uint64_t seen, char *err, size_t errlen)
{
	static const int required[] = { OPT_JOB, OPT_LEASE, OPT_RANK, OPT_WORLD, OPT_ROUND_COUNT };

	if (o->profile && o->emulate) {
		snprintf(err, errlen, "--profile measures real training; it cannot go with --emulate");
		return -EINVAL;
	}
	if (o->profile)
		return worker_opts_check_real(o, seen, err, errlen);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!(seen & WORKER_SEEN(required[i]))) {
			snprintf(err, errlen, "--%s is required (see --help)",
				 worker_longopts[required[i] - OPT_JOB].name);
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
	return o->emulate ? 0 : worker_opts_check_real(o, seen, err, errlen);
}

int worker_opts_parse(int argc, char **argv, struct worker_opts *o, char *err, size_t errlen)
{
	uint64_t seen = 0;
	int c, rc;

	*o = (struct worker_opts){ .world_size = 1, .tasks = 1, .job_tasks = 1, .time_scale = 1,
				   .seed = 1, .report_fd = 1, .report_ms = 100, .report_wait_s = 30,
				   .checkpoint_s = 300, .checkpoint_keep = 2, .rendezvous_timeout_s = 600,
				   .profile_iters = 20, .profile_busbw_gbs = 10,
				   .orphan_timeout_s = 600, .progress_s = 60 };
	snprintf(o->engine, sizeof(o->engine), "cuda");
	snprintf(o->model, sizeof(o->model), "unknown");
	snprintf(o->gpu_type, sizeof(o->gpu_type), "unknown");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", worker_longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(worker_usage, stdout);
			return 1;
		}
		if (c == OPT_VERSION) {
			printf("hare-worker %s (engine ABI %d)\n", HARE_VERSION, WORKER_ENGINE_ABI);
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
