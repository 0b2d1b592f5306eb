/* SPDX-License-Identifier: MIT */
/* Trace rows: the header and row parsers of the three trace formats (philly,
 * gavel, hare), strict number parsing and the per-row seeded draws. */
#include "trace_impl.h"

#include "cluster.h"
#include "err.h"
#include "profile.h"
#include "rng.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* uthash exits on a failed allocation unless told otherwise */
static int trace_oom;
#define uthash_nonfatal_oom(obj) (trace_oom = 1)
#include <uthash.h>

/* Weights drawn for formats that have none (Philly and Gavel traces). */
static const double trace_weights[] = { 1, 2, 4, 8 };

enum { PH_TIMESTAMP, PH_DURATION, PH_NUM_GPUS, PH_GPU_TIME, PH_CLUSTER, PH_NCOLS };
static const char *const philly_cols[] = { "timestamp", "duration", "num_gpus", "gpu_time",
					   "cluster" };

enum {
	HR_ARRIVAL, HR_NAME, HR_MODEL, HR_MIN_GPUS, HR_MAX_GPUS, HR_TASKS, HR_ROUNDS, HR_DURATION,
	HR_WEIGHT, HR_GPU_TYPES, HR_USER, HR_AFTER, HR_NCOLS
};
static const char *const hare_cols[] = { "arrival_s", "name", "model", "min_gpus", "max_gpus",
					 "tasks", "rounds", "duration_s", "weight", "gpu_types",
					 "user", "after" };

enum { GV_JOB_TYPE, GV_COMMAND, GV_STEPS_ARG, GV_DATA_DIR, GV_TOTAL_STEPS, GV_ARRIVAL, GV_SCALE,
       GV_NCOLS };

int trace_fail(struct trace_ctx *x, uint32_t line, const char *fmt, ...)
{
	va_list ap;
	/* line 0: the file as a whole (nothing in it) */
	int n = line ? snprintf(x->errbuf, x->errlen, "%s:%u: ", x->name, line)
		     : snprintf(x->errbuf, x->errlen, "%s: ", x->name);

	if (n >= 0 && (size_t)n < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->errbuf + n, x->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return ERR_BAD_TRACE;
}

/* At most 40 characters of input for a message, control characters and
 * quotes replaced, so the message stays one printable line. */
static const char *trace_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 4 < len && n < 40; s++)
		buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f || *s == '\'' ? '?' : *s;
	if (*s && n + 4 < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static char *trace_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

uint32_t trace_split(char *s, char sep, char **fields)
{
	uint32_t n = 0;

	for (;;) {
		char *next = strchr(s, sep);

		if (n == TRACE_MAX_FIELDS)
			return TRACE_MAX_FIELDS + 1;
		if (next)
			*next = '\0';
		fields[n++] = sep == '\t' ? s : trace_trim(s);
		if (!next)
			return n;
		s = next + 1;
	}
}

/* A finite decimal number in [lo, hi]; lo_open makes lo itself invalid. */
static int trace_num(struct trace_ctx *x, uint32_t line, const char *field, const char *s,
		     double lo, bool lo_open, double hi, double *out)
{
	char q[48], *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* decimal only: strtod also reads "0x10" */
	if (s[0] == '\0' || end == s || *end != '\0' || errno == ERANGE || !isfinite(v) ||
	    isspace((unsigned char)s[0]) || strpbrk(s, "xX"))
		return trace_fail(x, line, "%s: expected a number, got '%s'", field,
				  trace_quote(s, q, sizeof(q)));
	if (v < lo || (lo_open && v == lo) || v > hi)
		return trace_fail(x, line, "%s: must be %s %g and <= %g, got %g", field,
				  lo_open ? ">" : ">=", lo, hi, v);
	*out = v;
	return 0;
}

/* A whole number of decimal digits in [lo, hi]. */
static int trace_whole(struct trace_ctx *x, uint32_t line, const char *field, const char *s,
		       uint64_t lo, uint64_t hi, uint64_t *out)
{
	char q[48], *end;
	unsigned long long v;

	errno = 0;
	v = isdigit((unsigned char)s[0]) ? strtoull(s, &end, 10) : 0;
	if (!isdigit((unsigned char)s[0]) || errno || *end != '\0')
		return trace_fail(x, line, "%s: expected a whole number, got '%s'", field,
				  trace_quote(s, q, sizeof(q)));
	if (v < lo || v > hi)
		return trace_fail(x, line, "%s: must be between %llu and %llu, got %llu", field,
				  (unsigned long long)lo, (unsigned long long)hi, v);
	*out = v;
	return 0;
}

/* Columns of a CSV header; unknown or repeated names are errors. */
static int trace_header_cols(struct trace_ctx *x, char **f, uint32_t n, const char *const *names,
			     uint32_t nnames, uint32_t line)
{
	char q[48];

	for (uint32_t k = 0; k < nnames; k++)
		x->col[k] = -1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = 0;

		while (k < nnames && strcasecmp(f[i], names[k]) != 0)
			k++;
		if (k == nnames)
			return trace_fail(x, line, "unknown column '%s'", trace_quote(f[i], q, sizeof(q)));
		if (x->col[k] >= 0)
			return trace_fail(x, line, "column '%s' given twice", names[k]);
		x->col[k] = (int)i;
	}
	x->ncols = n;
	return 0;
}

int trace_header_parse(struct trace_ctx *x, char *text, uint32_t line)
{
	static const int philly_req[] = { PH_TIMESTAMP, PH_DURATION, PH_NUM_GPUS };
	static const int hare_req[] = { HR_ARRIVAL, HR_MODEL, HR_TASKS };
	bool philly = x->format == SIM_TRACE_PHILLY;
	const char *const *names = philly ? philly_cols : hare_cols;
	const int *req = philly ? philly_req : hare_req;
	char *f[TRACE_MAX_FIELDS];
	uint32_t n = trace_split(text, ',', f);
	int rc;

	if (n > TRACE_MAX_FIELDS)
		return trace_fail(x, line, "header: more than %d columns", TRACE_MAX_FIELDS);
	rc = trace_header_cols(x, f, n, names, philly ? PH_NCOLS : HR_NCOLS, line);
	for (uint32_t k = 0; rc == 0 && k < 3; k++)
		if (x->col[req[k]] < 0)
			rc = trace_fail(x, line, "missing column '%s'", names[req[k]]);
	if (rc == 0 && !philly && x->col[HR_ROUNDS] < 0 && x->col[HR_DURATION] < 0)
		rc = trace_fail(x, line, "missing column 'rounds' or 'duration_s'");
	return rc;
}

double trace_ref_round_s(const struct trace_ctx *x, uint32_t model, uint32_t tasks)
{
	const struct sched_perf *ref = &x->models[model].ref;

	return ref->compute_s[0] + sched_sync_time(ref, tasks, false);
}

/* The per-row draws, from a stream fixed by (seed, line): model, weight,
 * keep. Fixed order, so thinning never changes another row's draws. */
static void trace_draw(const struct trace_ctx *x, struct trace_row *r, bool model, bool weight)
{
	uint64_t mix = x->o->seed;
	struct sim_rng rng;
	uint32_t m;
	double w;

	sim_rng_seed(&rng, sim_rng_splitmix(&mix) + (uint64_t)r->line * 0x9e3779b97f4a7c15ull);
	m = x->ndraw ? x->draw[sim_rng_below(&rng, x->ndraw)] : 0;
	w = trace_weights[sim_rng_below(&rng, 4)];
	r->keep_u = sim_rng_uniform(&rng);
	if (model && x->ndraw)
		r->model = m;
	if (weight)
		r->weight = w;
}

/* The row's job within SIM_MAX_WORK_S (sim_job_size_check); field names
 * what set its rounds. */
static int trace_size_check(struct trace_ctx *x, uint32_t line, const struct trace_row *r,
			    const char *field)
{
	char why[160];

	if (sim_job_size_check(&x->c->sched, &x->models[r->model].perf, r->type_mask, r->tasks,
			       r->rounds, why, sizeof(why)) < 0)
		return trace_fail(x, line, "%s: %s", field, why);
	return 0;
}

/* Duration (seconds at `gpus` reference GPUs) into rounds at r->tasks. */
static void trace_rounds_from(const struct trace_ctx *x, struct trace_row *r, double seconds,
			      uint32_t gpus)
{
	double per = trace_ref_round_s(x, r->model, r->tasks);
	double rounds = floor(seconds * gpus / r->tasks / per + 0.5);

	r->rounds = rounds >= 1 ? fmin(rounds, TRACE_MAX_ROUNDS) : 1;
}

/* GPUs of the cluster that row r's model may run on (types allowed by
 * its mask and profiled for the model): sim_usable_gpus, as the generator. */
static uint32_t trace_usable_gpus(const struct trace_ctx *x, const struct trace_row *r)
{
	return sim_usable_gpus(x->type_gpus, x->c->sched.ntypes, &x->models[r->model].perf,
			       r->type_mask);
}

/* Tasks from a foreign trace's GPU count, capped at x->max_tasks; the job
 * may use 1 to min(tasks, usable GPUs) GPUs. */
static void trace_tasks_cap(struct trace_ctx *x, struct trace_row *r, uint64_t gpus)
{
	uint32_t usable = trace_usable_gpus(x, r);

	r->tasks = gpus > x->max_tasks ? x->max_tasks : (uint32_t)gpus;
	if (gpus > x->max_tasks)
		x->capped++;
	r->min_gpus = 1;
	r->max_gpus = r->tasks < usable ? r->tasks : usable;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t trace_days(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static bool trace_digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/* "YYYY-MM-DD HH:MM:SS" (UTC) into seconds since the epoch. */
static int trace_timestamp(struct trace_ctx *x, uint32_t line, const char *s, double *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se;
	char q[48];

	if (strlen(s) != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
	    s[13] != ':' || s[16] != ':' || !trace_digits(s, 4, &y) || !trace_digits(s + 5, 2, &mo) ||
	    !trace_digits(s + 8, 2, &d) || !trace_digits(s + 11, 2, &h) ||
	    !trace_digits(s + 14, 2, &mi) || !trace_digits(s + 17, 2, &se) || mo < 1 || mo > 12 ||
	    d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
		return trace_fail(x, line, "timestamp: expected YYYY-MM-DD HH:MM:SS, got '%s'",
				  trace_quote(s, q, sizeof(q)));
	*out = (double)trace_days(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + se;
	return 0;
}

static int trace_philly_row(struct trace_ctx *x, char **f, uint32_t line, struct trace_row *r)
{
	double dur;
	uint64_t gpus;
	int rc;

	rc = trace_timestamp(x, line, f[x->col[PH_TIMESTAMP]], &r->arrival_s);
	if (rc == 0)
		rc = trace_num(x, line, "duration", f[x->col[PH_DURATION]], 0, true, TRACE_MAX_SECONDS,
			       &dur);
	if (rc == 0)
		rc = trace_whole(x, line, "num_gpus", f[x->col[PH_NUM_GPUS]], 1, 1000000, &gpus);
	if (rc < 0)
		return rc;
	trace_draw(x, r, true, true);
	trace_tasks_cap(x, r, gpus);
	trace_rounds_from(x, r, dur, (uint32_t)gpus);
	return trace_size_check(x, line, r, "duration");
}

/* Gavel's job type "ResNet-50 (batch size 64)" names a model by alias. */
static int trace_gavel_model(struct trace_ctx *x, uint32_t line, const char *job_type,
			     uint32_t *model)
{
	char name[64], q[48];
	const char *paren = strstr(job_type, " (");
	size_t len = paren ? (size_t)(paren - job_type) : strlen(job_type);
	int m;

	if (len == 0 || len >= sizeof(name))
		return trace_fail(x, line, "job_type: expected a model name, got '%s'",
				  trace_quote(job_type, q, sizeof(q)));
	memcpy(name, job_type, len);
	name[len] = '\0';
	m = profile_model_find(x->prof, name);
	if (m < 0)
		return trace_fail(x, line, "unknown model '%s' (job type '%s')",
				  trace_quote(name, q, sizeof(q)), job_type);
	if (!x->models[m].runs)
		return trace_fail(x, line, "model '%s' runs on no GPU type of the cluster",
				  profile_model_name(x->prof, (uint32_t)m));
	*model = (uint32_t)m;
	return 0;
}

static int trace_gavel_row(struct trace_ctx *x, char **f, uint32_t n, uint32_t line,
			   struct trace_row *r)
{
	uint64_t steps, scale;
	double rounds;
	int rc;

	if (n != GV_NCOLS)
		return trace_fail(x, line, "expected %d tab-separated fields, got %u", GV_NCOLS, n);
	rc = trace_gavel_model(x, line, f[GV_JOB_TYPE], &r->model);
	if (rc == 0)
		rc = trace_whole(x, line, "total_steps", f[GV_TOTAL_STEPS], 1, (uint64_t)1e15, &steps);
	if (rc == 0)
		rc = trace_num(x, line, "arrival_time", f[GV_ARRIVAL], 0, false, TRACE_MAX_SECONDS,
			       &r->arrival_s);
	if (rc == 0)
		rc = trace_whole(x, line, "scale_factor", f[GV_SCALE], 1, 1000000, &scale);
	if (rc < 0)
		return rc;
	trace_draw(x, r, false, true);
	trace_tasks_cap(x, r, scale);
	/* Gavel counts steps summed over the job's workers: one round of
	 * `tasks` tasks is `tasks` of them. */
	rounds = floor((double)steps / r->tasks + 0.5);
	r->rounds = rounds >= 1 ? fmin(rounds, TRACE_MAX_ROUNDS) : 1;
	return trace_size_check(x, line, r, "total_steps");
}

/* A hare-format field, or NULL when the column is absent or the field empty. */
static const char *trace_hare_field(const struct trace_ctx *x, char **f, int k)
{
	return x->col[k] >= 0 && f[x->col[k]][0] ? f[x->col[k]] : NULL;
}

/* gpu_types "V100;T4": the cluster types the job may use. */
static int trace_hare_types(struct trace_ctx *x, uint32_t line, char *s, uint32_t *mask)
{
	const struct sched_cluster *c = &x->c->sched;
	char *save = NULL, q[48];

	*mask = 0;
	for (char *tok = strtok_r(s, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *name = trace_trim(tok);

		if (name[0] == '\0')
			continue;
		if (profile_gpu_type_find(x->prof, name) < 0)
			return trace_fail(x, line, "gpu_types: unknown GPU type '%s'",
					  trace_quote(name, q, sizeof(q)));
		for (uint32_t t = 0; t < c->ntypes; t++)
			if (strcasecmp(c->type_names[t], name) == 0)
				*mask |= 1u << t;
	}
	if (*mask == 0)
		return trace_fail(x, line, "gpu_types: none of them is in the cluster");
	return 0;
}

/* Does `model` run on a type allowed by mask (0: any)? */
static bool trace_model_fits(const struct trace_ctx *x, uint32_t model, uint32_t mask)
{
	const struct sched_cluster *c = &x->c->sched;

	for (uint32_t t = 0; t < c->ntypes; t++)
		if ((!mask || (mask >> t & 1)) && x->models[model].perf.compute_s[t] > 0)
			return true;
	return false;
}

static int trace_hare_name(struct trace_ctx *x, uint32_t line, const char *s, struct trace_row *r)
{
	char q[48];

	if (!s)
		return 0;
	if (strlen(s) >= sizeof(r->name))
		return trace_fail(x, line, "name: longer than %zu characters", sizeof(r->name) - 1);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"')
			return trace_fail(x, line, "name: bad character in '%s'",
					  trace_quote(s, q, sizeof(q)));
	snprintf(r->name, sizeof(r->name), "%s", s);
	return 0;
}

struct trace_name {
	uint32_t index;		/* the row's, the last one so named */
	uint32_t count;		/* rows so named */
	UT_hash_handle hh;
	char name[];
};

int trace_name_add(struct trace_ctx *x, const struct trace_row *r)
{
	struct trace_name *e;
	size_t len = strlen(r->name);

	HASH_FIND(hh, x->names, r->name, len, e);
	if (!e) {
		e = calloc(1, sizeof(*e) + len + 1);
		if (!e)
			return -ENOMEM;
		memcpy(e->name, r->name, len + 1);
		trace_oom = 0;
		HASH_ADD(hh, x->names, name[0], len, e);
		if (trace_oom) {
			free(e);
			return -ENOMEM;
		}
	}
	e->index = r->index;
	e->count++;
	return 0;
}

void trace_names_free(struct trace_ctx *x)
{
	struct trace_name *e, *tmp;

	HASH_ITER(hh, x->names, e, tmp) {
		HASH_DEL(x->names, e);
		free(e);
	}
}

/* after: names of earlier rows, ';'-separated (as gpu_types), at most
 * SIM_MAX_AFTER, each naming one earlier row, none twice. */
static int trace_hare_after(struct trace_ctx *x, uint32_t line, const char *s, struct trace_row *r)
{
	char buf[TRACE_LINE_MAX + 1], q[48], *rest = buf, *tok;

	if (!s || !s[0])
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	while ((tok = strsep(&rest, ";"))) {
		char *name = trace_trim(tok);
		struct trace_name *e;

		if (name[0] == '\0')
			return trace_fail(x, line, "after: empty name in '%s'", trace_quote(s, q, sizeof(q)));
		HASH_FIND(hh, x->names, name, strlen(name), e);
		if (!e)
			return trace_fail(x, line, "after: no earlier row is named '%s'",
					  trace_quote(name, q, sizeof(q)));
		if (e->count > 1)
			return trace_fail(x, line, "after: %u earlier rows are named '%s'", e->count,
					  trace_quote(name, q, sizeof(q)));
		for (uint32_t k = 0; k < r->nafter; k++)
			if (r->after[k] == e->index)
				return trace_fail(x, line, "after: '%s' given twice",
						  trace_quote(name, q, sizeof(q)));
		if (r->nafter == SIM_MAX_AFTER)
			return trace_fail(x, line, "after: more than %d jobs", SIM_MAX_AFTER);
		r->after[r->nafter++] = e->index;
	}
	return 0;
}

static int trace_hare_model(struct trace_ctx *x, uint32_t line, char **f, struct trace_row *r)
{
	const char *s = trace_hare_field(x, f, HR_MODEL);
	char *types = x->col[HR_GPU_TYPES] >= 0 ? f[x->col[HR_GPU_TYPES]] : NULL;
	char q[48];
	int m, rc;

	if (!s)
		return trace_fail(x, line, "model: empty");
	m = profile_model_find(x->prof, s);
	if (m < 0)
		return trace_fail(x, line, "unknown model '%s'", trace_quote(s, q, sizeof(q)));
	r->model = (uint32_t)m;
	r->type_mask = 0;
	if (types && types[0]) {
		rc = trace_hare_types(x, line, types, &r->type_mask);
		if (rc < 0)
			return rc;
	}
	if (!trace_model_fits(x, r->model, r->type_mask))
		return trace_fail(x, line, "model '%s' runs on no allowed GPU type of the cluster",
				  profile_model_name(x->prof, r->model));
	if (!x->models[m].has_ref && trace_hare_field(x, f, HR_DURATION))
		return trace_fail(x, line, "duration_s: model '%s' has no %s profile to convert it",
				  profile_model_name(x->prof, r->model),
				  profile_reference_type(x->prof));
	return 0;
}

/* tasks, min_gpus, max_gpus of a hare row. */
static int trace_hare_sizes(struct trace_ctx *x, uint32_t line, char **f, struct trace_row *r)
{
	const char *tasks = trace_hare_field(x, f, HR_TASKS);
	const char *lo = trace_hare_field(x, f, HR_MIN_GPUS), *hi = trace_hare_field(x, f, HR_MAX_GPUS);
	uint32_t usable;
	uint64_t v;
	int rc;

	rc = trace_whole(x, line, "tasks", tasks ? tasks : "", 1, TRACE_MAX_TASKS, &v);
	if (rc < 0)
		return rc;
	r->tasks = (uint32_t)v;
	r->min_gpus = 1;
	r->max_gpus = r->tasks;
	if (lo && (rc = trace_whole(x, line, "min_gpus", lo, 1, r->tasks, &v)) < 0)
		return rc;
	if (lo)
		r->min_gpus = (uint32_t)v;
	if (hi && (rc = trace_whole(x, line, "max_gpus", hi, r->min_gpus, r->tasks, &v)) < 0)
		return rc;
	if (hi)
		r->max_gpus = (uint32_t)v;
	usable = trace_usable_gpus(x, r);
	if (r->min_gpus > usable)
		return trace_fail(x, line, "min_gpus: %u is more than the %u GPUs of the cluster "
				  "this job can use", r->min_gpus, usable);
	if (r->max_gpus > usable)
		r->max_gpus = usable;
	return 0;
}

/* rounds or duration_s (exactly one), and weight. */
static int trace_hare_work(struct trace_ctx *x, uint32_t line, char **f, struct trace_row *r)
{
	const char *rounds = trace_hare_field(x, f, HR_ROUNDS);
	const char *dur = trace_hare_field(x, f, HR_DURATION);
	const char *w = trace_hare_field(x, f, HR_WEIGHT);
	uint64_t v;
	double d;
	int rc;

	if (!rounds == !dur)
		return trace_fail(x, line, "give one of rounds and duration_s, %s",
				  rounds ? "not both" : "got neither");
	if (rounds) {
		rc = trace_whole(x, line, "rounds", rounds, 1, (uint64_t)TRACE_MAX_ROUNDS, &v);
		r->rounds = (double)v;
	} else {
		rc = trace_num(x, line, "duration_s", dur, 0, true, TRACE_MAX_SECONDS, &d);
		if (rc == 0)
			trace_rounds_from(x, r, d, r->tasks);
	}
	if (rc == 0)
		rc = trace_size_check(x, line, r, rounds ? "rounds" : "duration_s");
	r->weight = 1;
	if (rc == 0 && w)
		rc = trace_num(x, line, "weight", w, 0, true, 1e6, &r->weight);
	return rc;
}

static int trace_hare_row(struct trace_ctx *x, char **f, uint32_t line, struct trace_row *r)
{
	const char *arrival = trace_hare_field(x, f, HR_ARRIVAL);
	int rc;

	rc = trace_num(x, line, "arrival_s", arrival ? arrival : "", 0, false, TRACE_MAX_SECONDS,
		       &r->arrival_s);
	if (rc == 0)
		rc = trace_hare_name(x, line, trace_hare_field(x, f, HR_NAME), r);
	if (rc == 0)
		rc = trace_hare_model(x, line, f, r);
	if (rc == 0)
		rc = trace_hare_sizes(x, line, f, r);
	if (rc == 0)
		rc = trace_hare_work(x, line, f, r);
	if (rc == 0)
		rc = trace_hare_after(x, line, trace_hare_field(x, f, HR_AFTER), r);
	if (rc == 0)
		trace_draw(x, r, false, false);
	return rc;
}

int trace_row_parse(struct trace_ctx *x, char *text, uint32_t line, struct trace_row *r)
{
	char *f[TRACE_MAX_FIELDS];
	bool gavel = x->format == SIM_TRACE_GAVEL;
	uint32_t n;

	memset(r, 0, sizeof(*r));
	r->line = line;
	if (!gavel && strchr(text, '"'))
		return trace_fail(x, line, "quoted fields are not supported");
	n = trace_split(text, gavel ? '\t' : ',', f);
	if (gavel)
		return trace_gavel_row(x, f, n, line, r);
	if (n != x->ncols)
		return trace_fail(x, line, "expected %u fields as in the header, got %s%u", x->ncols,
				  n > TRACE_MAX_FIELDS ? "more than " : "",
				  n > TRACE_MAX_FIELDS ? TRACE_MAX_FIELDS : n);
	if (x->format == SIM_TRACE_PHILLY)
		return trace_philly_row(x, f, line, r);
	return trace_hare_row(x, f, line, r);
}
