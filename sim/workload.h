/* SPDX-License-Identifier: MIT */
/* Simulated workloads: the jobs a run replays, and the synthetic generator
 * behind `--generate jobs=N,seed=S[,load=L][,pipeline=P]` (Poisson arrivals, Philly-like
 * sizes and durations, model families drawn from the profile). */
#ifndef HARE_SIM_WORKLOAD_H
#define HARE_SIM_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "sched.h"

struct profile;
struct sim_cluster;

#define SIM_MODEL_NAME_LEN 48
#define SIM_GEN_MAX_JOBS 1000000u
#define SIM_GEN_MAX_LOAD 1000.0

/* Limits that keep every accepted workload inside the LP bound's (1e15 for
 * any number, solver/lp_common.c) with room for the schedule: a job's
 * arrival, generated, imported or rescaled, is at most SIM_MAX_SECONDS,
 * and its work (sim_job_size_check) at most SIM_MAX_WORK_S. */
#define SIM_MAX_SECONDS 1e11
#define SIM_MAX_WORK_S 1e15

#define SIM_MAX_AFTER 4		/* jobs one job runs after */
#define SIM_GEN_PIPELINE_BACK 8	/* pipeline: the job waited for is one of the 8 before */

/* One job to replay: its sched_job as it arrives (driver fields zeroed,
 * perf filled for the cluster's GPU types) and its model family. */
struct sim_job {
	struct sched_job spec;
	uint32_t model;		/* index into sim_workload.model_names */
	/* Jobs it runs after (ids below its own), as hared's submit --after:
	 * it is planned once each has completed, and FAILED with any that
	 * FAILED. */
	uint32_t nafter;
	uint32_t after[SIM_MAX_AFTER];
};

struct sim_workload {
	uint32_t njobs;
	struct sim_job *jobs;	/* ids 0..njobs-1, in arrival order */
	uint32_t nmodels;
	char (*model_names)[SIM_MODEL_NAME_LEN];
};

struct sim_gen_spec {
	uint32_t jobs;		/* 1 .. SIM_GEN_MAX_JOBS */
	uint64_t seed;
	double load;		/* offered load as a fraction of capacity, > 0 (default 1) */
	double pipeline;	/* fraction of jobs (after the first) that run after one of
				 * the SIM_GEN_PIPELINE_BACK jobs before them, 0..1 (default 0) */
};

/*
 * Parse "jobs=N,seed=S[,load=L][,pipeline=P]". Returns 0, or ERR_BAD_SPEC with a one-line
 * reason naming the field in errbuf ("jobs: expected a whole number between
 * 1 and 1000000, got '0'"): unknown key, missing jobs or seed, a value that
 * is not a number or out of range, a key given twice, an empty item.
 */
int sim_gen_spec_parse(const char *text, struct sim_gen_spec *out, char *errbuf, size_t errlen);

/*
 * Generate spec->jobs jobs for cluster c from profile prof (see sim/README.md
 * for the distributions). The same spec, profile and cluster always give the
 * same jobs. Returns 0, -ENOMEM, ERR_NO_CAPACITY when no model of the profile
 * runs on both the reference type and a type of the cluster, or the profile's
 * error; errbuf says why. The caller frees out with sim_workload_destroy().
 */
int sim_workload_generate(const struct sim_gen_spec *spec, const struct profile *prof,
			  const struct sim_cluster *c, struct sim_workload *out, char *errbuf,
			  size_t errlen);

/* Copy the profile's model names into w->model_names (w->nmodels); 0 or
 * -ENOMEM. Used by the generator and the trace importer. */
int sim_workload_models_init(struct sim_workload *w, const struct profile *prof);

/* Up GPUs of each type of cluster c, count[SCHED_MAX_TYPES]. */
void sim_type_gpus(const struct sched_cluster *c, uint32_t *count);

/*
 * The GPUs of the cluster a job may use: the up GPUs (type_gpus, from
 * sim_type_gpus) of the types perf runs on (compute_s > 0) that mask allows
 * (bit t; 0: every type). The generator and the trace importer share the
 * width rule built on it (sim/README.md): a job's max_gpus is lowered to
 * this count, and a min_gpus above it is an error (the job could never
 * run), so a job never asks for more GPUs than the cluster can give it.
 */
uint32_t sim_usable_gpus(const uint32_t *type_gpus, uint32_t ntypes, const struct sched_perf *perf,
			 uint32_t mask);

/*
 * Whether a job of `tasks` tasks and `rounds` rounds on perf (the types
 * mask allows, 0: all) stays within SIM_MAX_WORK_S: its work, tasks x
 * rounds x its fastest compute time, in GPU-seconds (the LP bound's item),
 * and its rounds' time on one GPU of that type with that GPU's sync (a
 * bound on the item's span). 0, or -ERANGE with the reason in why ("1e+12
 * rounds of 4096 tasks are 4.3e+15 GPU-seconds on K80, ...") for the
 * caller to prefix with the field.
 */
int sim_job_size_check(const struct sched_cluster *c, const struct sched_perf *perf, uint32_t mask,
		       uint32_t tasks, double rounds, char *why, size_t len);

/* Free a workload; safe on a zeroed one. */
void sim_workload_destroy(struct sim_workload *w);

/* Name of job j's model family. */
const char *sim_workload_model_name(const struct sim_workload *w, uint32_t j);

#endif
