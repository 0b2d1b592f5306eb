/* SPDX-License-Identifier: MIT */
/* Fuzz target for hare-sim's trace importer (sim/trace.c). The first byte
 * picks the options (format, --skip-bad, --thin, --max-jobs), the rest is
 * the trace; accepted traces must be well formed, and small ones are
 * replayed under fifo to completion. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bound.h"
#include "cluster.h"
#include "engine.h"
#include "profile.h"
#include "sched.h"
#include "trace.h"
#include "workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_REPLAY 12

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

static void fuzz_opts(uint8_t b, struct sim_trace_opts *o)
{
	static const enum sim_trace_format formats[] = { SIM_TRACE_AUTO, SIM_TRACE_PHILLY,
							 SIM_TRACE_GAVEL, SIM_TRACE_HARE };

	sim_trace_opts_default(o);
	o->format = formats[b & 3];
	o->skip_bad = b & 4;
	if (b & 8)
		o->thin = 0.5;
	if (b & 16)
		o->max_jobs = 3;
	if (b & 32)
		o->arrival_scale = 1;
	o->seed = b >> 6;
}

/* Every accepted job is one the engine can run. */
static void fuzz_check(const struct sim_workload *w, const struct sim_cluster *c)
{
	if (w->njobs == 0)
		abort();
	for (uint32_t i = 0; i < w->njobs; i++) {
		const struct sched_job *j = &w->jobs[i].spec;

		if (j->id != i || !(j->min_gpus >= 1 && j->min_gpus <= j->max_gpus &&
				    j->max_gpus <= j->tasks) || j->rounds_total < 1 ||
		    !(j->weight > 0) || !(j->arrival_s >= 0 && j->arrival_s <= SIM_MAX_SECONDS) ||
		    j->min_gpus > c->sched.ngpus || !(sched_perf_fastest(&j->perf, c->sched.ntypes) > 0) ||
		    w->jobs[i].model >= w->nmodels || (i > 0 && j->arrival_s < w->jobs[i - 1].spec.arrival_s))
			abort();
		/* after: earlier jobs, each once, as the engine needs */
		if (w->jobs[i].nafter > SIM_MAX_AFTER)
			abort();
		for (uint32_t k = 0; k < w->jobs[i].nafter; k++) {
			if (w->jobs[i].after[k] >= i)
				abort();
			for (uint32_t m = 0; m < k; m++)
				if (w->jobs[i].after[m] == w->jobs[i].after[k])
					abort();
		}
	}
}

/* The LP bound takes every accepted workload, and fifo completes it. */
static void fuzz_replay(const struct sim_workload *w, const struct sim_cluster *c)
{
	struct sched_policy *p;
	struct sim_result r;
	double bound;
	char err[512];

	if (w->njobs > FUZZ_MAX_REPLAY)
		return;
	if (sim_bound_compute(&c->sched, w, &bound, err, sizeof(err)) != 0 || !(bound >= 0))
		abort();
	if (sched_policy_new("fifo", NULL, &p) != 0)
		abort();
	if (sim_engine_run(&c->sched, w, p, &r, err, sizeof(err)) != 0 || r.completed != w->njobs)
		abort();
	sim_result_destroy(&r);
	sched_policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_env *env = fuzz_env_get();
	struct sim_trace_opts o;
	struct sim_workload w;
	char err[512];
	int rc;

	if (!env->ready || size == 0)
		return 0;
	fuzz_opts(data[0], &o);
	rc = sim_trace_parse("fuzz.trace", (const char *)data + 1, size - 1, &o, env->prof,
			     &env->cluster, &w, NULL, err, sizeof(err));
	if (rc == 0) {
		fuzz_check(&w, &env->cluster);
		fuzz_replay(&w, &env->cluster);
		sim_workload_destroy(&w);
	} else if (strchr(err, '\n') || err[0] == '\0' || w.jobs) {
		abort();
	}
	return 0;
}
