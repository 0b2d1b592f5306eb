/* SPDX-License-Identifier: MIT */
/* Fuzz target for hare-sim's --generate spec parser (sim/generate.c); small
 * accepted specs are also generated, bounded and replayed under fifo. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bound.h"
#include "cluster.h"
#include "engine.h"
#include "err.h"
#include "profile.h"
#include "sched.h"
#include "workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_JOBS 24

static const char fuzz_cluster_text[] =
	"[v100]\ntype = V100\nnodes = 1\ngpus_per_node = 4\n"
	"[k80]\ntype = K80\nnodes = 2\ngpus_per_node = 2\n";

struct fuzz_env {
	struct profile *prof;
	struct sim_cluster cluster;
	int ready;
};

static struct fuzz_env *fuzz_env_get(void)
{
	static struct fuzz_env env;
	static int tried;
	char err[256];

	if (!tried) {
		tried = 1;
		env.ready = profile_load(HARE_SOURCE_DIR "/workloads/profiles", &env.prof, err,
					 sizeof(err)) == 0 &&
			    sim_cluster_parse("fuzz.ini", fuzz_cluster_text, env.prof, &env.cluster, err,
					      sizeof(err)) == 0;
	}
	return &env;
}

/* Generate, bound and replay a small workload: every job must complete. */
static void fuzz_replay(const struct sim_gen_spec *spec)
{
	struct fuzz_env *env = fuzz_env_get();
	struct sim_workload w;
	struct sched_policy *p;
	struct sim_result r;
	double bound;
	char err[512];
	int rc;

	if (!env->ready || spec->jobs > FUZZ_MAX_JOBS)
		return;
	rc = sim_workload_generate(spec, env->prof, &env->cluster, &w, err, sizeof(err));
	if (rc == ERR_BAD_SPEC && strncmp(err, "--generate: load: ", 18) == 0 && !strchr(err, '\n'))
		return;	/* a load so small that the arrivals pass the limit on times */
	if (rc != 0)
		abort();
	if (sim_bound_compute(&env->cluster.sched, &w, &bound, err, sizeof(err)) != 0 || !(bound > 0))
		abort();
	if (sched_policy_new("fifo", NULL, &p) != 0)
		abort();
	if (sim_engine_run(&env->cluster.sched, &w, p, &r, err, sizeof(err)) != 0 ||
	    r.completed != w.njobs)
		abort();
	sim_result_destroy(&r);
	sched_policy_free(p);
	sim_workload_destroy(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim_gen_spec spec;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sim_gen_spec_parse(text, &spec, err, sizeof(err)) == 0) {
		if (spec.jobs == 0 || !(spec.load > 0))
			abort();
		fuzz_replay(&spec);
	} else if (strchr(err, '\n') || err[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}
