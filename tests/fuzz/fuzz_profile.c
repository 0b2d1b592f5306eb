/* SPDX-License-Identifier: MIT */
/* Fuzz target for the profile loader: the input becomes throughput.csv next
 * to a valid models.csv in a temporary directory; loading must never crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_models[] =
	"model,family,per_task_batch,params_millions,restart_s,aliases,source\n"
	"resnet50,resnet,64,25.56,13.1,ResNet-50;imagenet,fuzz\n"
	"lm,lstm,20,13.99,11.7,LM,fuzz\n";

static char fuzz_dir[4096];

static int fuzz_write(const char *name, const void *data, size_t size)
{
	char path[sizeof(fuzz_dir) + 32];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	n = fwrite(data, 1, size, f);
	return fclose(f) == 0 && n == size ? 0 : -1;
}

static void fuzz_cleanup(void)
{
	char path[sizeof(fuzz_dir) + 32];

	snprintf(path, sizeof(path), "%s/models.csv", fuzz_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/throughput.csv", fuzz_dir);
	unlink(path);
	rmdir(fuzz_dir);
}

static int fuzz_init(void)
{
	static int state;	/* 0: not yet, 1: ready, -1: failed */

	if (state == 0) {
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : P_tmpdir;

		state = -1;
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/hare-fuzz-profile-XXXXXX", tmp);
		if (mkdtemp(fuzz_dir) && fuzz_write("models.csv", fuzz_models, strlen(fuzz_models)) == 0) {
			atexit(fuzz_cleanup);
			state = 1;
		}
	}
	return state;
}

/* Use a loaded profile the way the scheduler does. */
static void fuzz_exercise(const struct profile *p)
{
	const char *names[SCHED_MAX_TYPES];
	uint32_t n = profile_gpu_type_count(p);
	struct sched_perf perf;
	char err[256];

	if (n > SCHED_MAX_TYPES)
		n = SCHED_MAX_TYPES;
	for (uint32_t t = 0; t < n; t++)
		names[t] = profile_gpu_type_name(p, t);
	for (uint32_t m = 0; m < profile_model_count(p); m++) {
		profile_perf_fill(p, m, names, n, &perf, err, sizeof(err));
		profile_reference_compute_s(p, m);
	}
	profile_reference_type(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile *p = NULL;
	char err[512];

	if (fuzz_init() < 0 || fuzz_write("throughput.csv", data, size) < 0)
		return 0;
	if (profile_load(fuzz_dir, &p, err, sizeof(err)) == 0) {
		fuzz_exercise(p);
		profile_free(p);
	}
	return 0;
}
