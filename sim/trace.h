/* SPDX-License-Identifier: MIT */
/* Trace import for hare-sim --trace: the Philly trace as Pollux processed it,
 * Gavel's per-VC traces and Hare's own CSV, turned into a sim_workload. */
#ifndef HARE_SIM_TRACE_H
#define HARE_SIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct profile;
struct sim_cluster;
struct sim_workload;

enum sim_trace_format {
	SIM_TRACE_AUTO = 0,	/* tell from the first line */
	SIM_TRACE_PHILLY,	/* timestamp,duration,num_gpus,gpu_time,cluster */
	SIM_TRACE_GAVEL,	/* TSV, no header: job_type, command, ..., arrival, scale */
	SIM_TRACE_HARE,		/* arrival_s,name,model,min_gpus,max_gpus,tasks,... */
};

/* Offered load that philly and gavel traces are scaled to unless told
 * otherwise (see sim/README.md: V100 GPU-seconds per GPU-second). */
#define SIM_TRACE_DEFAULT_LOAD 0.5
#define SIM_TRACE_MAX_JOBS 1000000u
#define SIM_TRACE_MAX_TASKS 4096u	/* tasks per round a job may have */
#define SIM_TRACE_MAX_LOAD 1000.0
/* Largest file read (bytes): a bound for hostile input, far above Philly. */
#define SIM_TRACE_MAX_BYTES (256u << 20)
#define SIM_TRACE_REASON_LEN 200

struct sim_trace_opts {
	enum sim_trace_format format;	/* SIM_TRACE_AUTO: detect */
	uint64_t seed;			/* per-job draws (model, weight, thinning) */
	bool skip_bad;			/* skip malformed rows instead of failing */
	double load;			/* > 0: scale arrivals to this offered load;
					 * 0: SIM_TRACE_DEFAULT_LOAD for philly and
					 * gavel, unscaled for hare */
	double arrival_scale;		/* > 0: multiply arrival times by this (no load scaling) */
	double thin;			/* keep each job with this probability, (0, 1] */
	uint32_t max_jobs;		/* keep the first N by arrival; 0: all */
	uint32_t max_tasks;		/* cap on tasks for philly and gavel; 0: the cluster's GPUs */
};

/* What an import did, for the operator and the summary. */
struct sim_trace_info {
	enum sim_trace_format format;
	uint32_t rows;			/* data rows read, malformed ones included */
	uint32_t skipped;		/* malformed rows skipped (skip_bad) */
	char first_skipped[SIM_TRACE_REASON_LEN];	/* "file:line: reason" of the first */
	uint32_t capped;		/* jobs whose tasks were capped at max_tasks */
	uint32_t max_tasks;		/* the cap applied */
	uint32_t thinned;		/* jobs dropped by thin */
	uint32_t truncated;		/* jobs dropped by max_jobs */
	uint32_t after_dropped;		/* hare after: dependencies on rows dropped by
					 * thin or max_jobs, left out */
	double source_load;		/* offered load of the trace's own arrivals */
	double arrival_scale;		/* factor applied to arrival times (1: none) */
	double offered_load;		/* offered load after scaling */
};

/* Defaults: detect the format, seed 1, no skipping, default load, thin 1. */
void sim_trace_opts_default(struct sim_trace_opts *o);

/* "philly", "gavel", "hare" or "auto". */
const char *sim_trace_format_name(enum sim_trace_format f);

/* Parse a format name (any case); 0 or ERR_BAD_SPEC. */
int sim_trace_format_parse(const char *name, enum sim_trace_format *out);

/*
 * Read the trace at path and build the workload for cluster c from profile
 * prof (formats, conversions and defaults: sim/README.md). Jobs come out
 * sorted by arrival, ids 0..n-1 in that order, the first arriving at 0.
 * Returns 0; -errno when the file cannot be read; -ENOMEM; ERR_BAD_TRACE
 * with "path:line: reason" in errbuf for a malformed row (the first one, or
 * none left with skip_bad) or a header that is wrong. info (may be NULL) is
 * filled on success. The caller frees out with sim_workload_destroy().
 */
int sim_trace_load(const char *path, const struct sim_trace_opts *o, const struct profile *prof,
		   const struct sim_cluster *c, struct sim_workload *out, struct sim_trace_info *info,
		   char *errbuf, size_t errlen);

/* The same over len bytes of text in memory (need not end in a NUL); name
 * stands for the file in messages. */
int sim_trace_parse(const char *name, const char *text, size_t len, const struct sim_trace_opts *o,
		    const struct profile *prof, const struct sim_cluster *c, struct sim_workload *out,
		    struct sim_trace_info *info, char *errbuf, size_t errlen);

#endif
