/* SPDX-License-Identifier: MIT */
/* Private to the trace importer: one parsed row, the parse context, and the
 * per-format header and row parsers (trace_rows.c) that trace.c drives. */
#ifndef HARE_SIM_TRACE_IMPL_H
#define HARE_SIM_TRACE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched.h"
#include "trace.h"
#include "workload.h"

struct profile;
struct sim_cluster;

#define TRACE_LINE_MAX 4096
#define TRACE_MAX_FIELDS 16
/* Largest tasks per round a row may ask for (a bound, not a cluster size). */
#define TRACE_MAX_TASKS SIM_TRACE_MAX_TASKS
#define TRACE_MAX_ROUNDS 1e12
#define TRACE_MAX_SECONDS SIM_MAX_SECONDS

/* One accepted row, ready to become a job. */
struct trace_row {
	double arrival_s;
	double rounds;		/* whole, >= 1 */
	double weight;		/* > 0 */
	double keep_u;		/* per-row uniform draw in [0, 1) for thinning */
	uint32_t line;
	uint32_t tasks;
	uint32_t min_gpus;
	uint32_t max_gpus;
	uint32_t model;		/* profile model index */
	uint32_t type_mask;	/* cluster types the job may use (bit t); 0: all */
	char name[SCHED_NAME_LEN];	/* "" until ids are known */
	uint32_t index;		/* its place among the rows read (hare: after) */
	uint32_t nafter;	/* hare's after column: the rows it runs after, */
	uint32_t after[SIM_MAX_AFTER];	/* by index */
};

/* A name of a row read so far (hare's after column), by name. */
struct trace_name;

/* Per profile model: can it run here, and its V100 reference numbers. */
struct trace_model {
	bool runs;		/* on some GPU type of the cluster */
	bool has_ref;		/* profiled on the reference type */
	bool drawable;		/* runs here and has_ref: philly draws it */
	struct sched_perf perf;	/* on the cluster's types */
	struct sched_perf ref;	/* on the reference type alone (index 0) */
};

struct trace_ctx {
	const char *name;	/* the file, for messages */
	const struct sim_trace_opts *o;
	const struct profile *prof;
	const struct sim_cluster *c;
	enum sim_trace_format format;
	uint32_t max_tasks;
	uint32_t capped;
	uint32_t nmodels;
	struct trace_model *models;
	uint32_t type_gpus[SCHED_MAX_TYPES];	/* the cluster's GPUs per type */
	uint32_t *draw;		/* drawable model indices */
	uint32_t ndraw;
	char *line_buf;		/* TRACE_LINE_MAX + 1 bytes */
	struct trace_name *names;	/* uthash: the named rows read so far */
	uint32_t nrows;		/* rows read so far (the next row's index) */
	int col[TRACE_MAX_FIELDS];	/* header: column of each known field, -1 if absent */
	uint32_t ncols;		/* fields per row (CSV formats) */
	char *errbuf;
	size_t errlen;
};

/* "name:line: reason" into ctx->errbuf; returns ERR_BAD_TRACE. */
int trace_fail(struct trace_ctx *x, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Split s in place at sep into at most TRACE_MAX_FIELDS trimmed fields;
 * returns the count, or TRACE_MAX_FIELDS + 1 when there are more. */
uint32_t trace_split(char *s, char sep, char **fields);

/* Note row r (hare, named) under its name for later rows' after column;
 * 0 or -ENOMEM. Free them all with trace_names_free. */
int trace_name_add(struct trace_ctx *x, const struct trace_row *r);
void trace_names_free(struct trace_ctx *x);

/* Read the header line of a CSV format into x->col / x->ncols. */
int trace_header_parse(struct trace_ctx *x, char *text, uint32_t line);

/* Parse one data row of x->format into *row (model, tasks, rounds; weight
 * and keep_u drawn where the format has none). */
int trace_row_parse(struct trace_ctx *x, char *text, uint32_t line, struct trace_row *row);

/* Seconds of one round of `model` at `tasks` tasks on as many reference
 * GPUs of one node (compute + consolidated sync). */
double trace_ref_round_s(const struct trace_ctx *x, uint32_t model, uint32_t tasks);

#endif
