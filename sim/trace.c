/* SPDX-License-Identifier: MIT */
/* Trace import driver: reads the file, tells the format, runs the row
 * parsers, then sorts, thins, truncates and rescales arrivals and builds
 * the workload's jobs. */
#include "trace.h"

#include "cluster.h"
#include "err.h"
#include "profile.h"
#include "trace_impl.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Rows read so far, in file order (then sorted for philly). */
struct trace_rows {
	struct trace_row *v;
	uint32_t n;
	uint32_t cap;
};

/* Where the line iterator stands in the text. */
struct trace_cursor {
	const char *p;
	const char *end;
	uint32_t line;
};

void sim_trace_opts_default(struct sim_trace_opts *o)
{
	*o = (struct sim_trace_opts){ .format = SIM_TRACE_AUTO, .seed = 1, .thin = 1.0 };
}

const char *sim_trace_format_name(enum sim_trace_format f)
{
	switch (f) {
	case SIM_TRACE_PHILLY: return "philly";
	case SIM_TRACE_GAVEL: return "gavel";
	case SIM_TRACE_HARE: return "hare";
	default: return "auto";
	}
}

int sim_trace_format_parse(const char *name, enum sim_trace_format *out)
{
	static const enum sim_trace_format all[] = { SIM_TRACE_AUTO, SIM_TRACE_PHILLY,
						     SIM_TRACE_GAVEL, SIM_TRACE_HARE };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcasecmp(name, sim_trace_format_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return ERR_BAD_SPEC;
}

/* Per profile model: its perf on the cluster and on the reference type. */
static int trace_models_init(struct trace_ctx *x)
{
	const struct sched_cluster *c = &x->c->sched;
	const char *names[SCHED_MAX_TYPES], *ref = profile_reference_type(x->prof);
	int rc;

	for (uint32_t t = 0; t < c->ntypes; t++)
		names[t] = c->type_names[t];
	sim_type_gpus(c, x->type_gpus);
	x->nmodels = profile_model_count(x->prof);
	x->models = calloc(x->nmodels + 1, sizeof(*x->models));
	x->draw = calloc(x->nmodels + 1, sizeof(*x->draw));
	if (!x->models || !x->draw)
		return -ENOMEM;
	for (uint32_t m = 0; m < x->nmodels; m++) {
		struct trace_model *tm = &x->models[m];

		rc = profile_perf_fill(x->prof, m, names, c->ntypes, &tm->perf, x->errbuf, x->errlen);
		if (rc < 0)
			return rc;
		tm->runs = sched_perf_fastest(&tm->perf, c->ntypes) > 0;
		if (ref && profile_reference_compute_s(x->prof, m) > 0) {
			rc = profile_perf_fill(x->prof, m, &ref, 1, &tm->ref, x->errbuf, x->errlen);
			if (rc < 0)
				return rc;
			tm->has_ref = tm->ref.compute_s[0] > 0;
		}
		tm->drawable = tm->runs && tm->has_ref;
		if (tm->drawable)
			x->draw[x->ndraw++] = m;
	}
	return 0;
}

/* The next line into buf (CR stripped); false at the end of the text. A
 * line too long or holding a NUL byte comes back as a row error. */
static bool trace_line_next(struct trace_cursor *cur, char *buf, int *bad)
{
	const char *nl, *p = cur->p;
	size_t len;

	if (p >= cur->end)
		return false;
	nl = memchr(p, '\n', (size_t)(cur->end - p));
	len = nl ? (size_t)(nl - p) : (size_t)(cur->end - p);
	cur->p = nl ? nl + 1 : cur->end;
	cur->line++;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	*bad = len > TRACE_LINE_MAX ? 1 : memchr(p, '\0', len) ? 2 : 0;
	if (*bad)
		len = 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return true;
}

static bool trace_line_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' || *s == '#';
}

/* Tell the format from the first line that is not blank or a comment. */
static int trace_detect(struct trace_ctx *x, const char *first, uint32_t line)
{
	char buf[TRACE_LINE_MAX + 1], *f[TRACE_MAX_FIELDS];
	uint32_t n;

	if (strncasecmp(first, "timestamp,", 10) == 0) {
		x->format = SIM_TRACE_PHILLY;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", first);
	if (strchr(buf, '\t') && trace_split(buf, '\t', f) == 7) {
		x->format = SIM_TRACE_GAVEL;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", first);
	n = trace_split(buf, ',', f);
	for (uint32_t i = 0; i < n && i < TRACE_MAX_FIELDS; i++)
		if (strcasecmp(f[i], "arrival_s") == 0) {
			x->format = SIM_TRACE_HARE;
			return 0;
		}
	return trace_fail(x, line, "cannot tell the trace format from this line (expected a philly "
			  "header 'timestamp,duration,num_gpus,...', a hare header 'arrival_s,...' or "
			  "a 7-field gavel TSV row); use --format");
}

static int trace_rows_push(struct trace_rows *rows, const struct trace_row *r)
{
	if (rows->n == rows->cap) {
		uint32_t cap = rows->cap ? rows->cap * 2 : 1024;
		struct trace_row *v = realloc(rows->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n++] = *r;
	return 0;
}

/* A line trace_line_next flagged: too long (1) or holding a NUL (2). */
static int trace_line_bad(struct trace_ctx *x, uint32_t line, int bad)
{
	if (bad == 1)
		return trace_fail(x, line, "line longer than %d bytes", TRACE_LINE_MAX);
	return trace_fail(x, line, "NUL byte in the line (not a text file?)");
}

/* One data line: parse it, check the order where the format requires it. */
static int trace_data_line(struct trace_ctx *x, char *buf, uint32_t line, int bad,
			   struct trace_rows *rows, struct trace_row *r)
{
	int rc;

	if (bad)
		return trace_line_bad(x, line, bad);
	rc = trace_row_parse(x, buf, line, r);
	if (rc == 0 && x->format != SIM_TRACE_PHILLY && rows->n > 0 &&
	    r->arrival_s < rows->v[rows->n - 1].arrival_s)
		rc = trace_fail(x, line, "arrival %.17g is before the previous row's %.17g (rows "
				"must be sorted by arrival)", r->arrival_s,
				rows->v[rows->n - 1].arrival_s);
	return rc;
}

/* A malformed row: fatal, or counted and skipped with skip_bad. */
static int trace_row_bad(struct trace_ctx *x, struct sim_trace_info *info, int rc)
{
	if (rc != ERR_BAD_TRACE || !x->o->skip_bad)
		return rc;
	if (info->skipped++ == 0)
		snprintf(info->first_skipped, sizeof(info->first_skipped), "%s", x->errbuf);
	return 0;
}

/* Header (where the format has one), then every data row. */
static int trace_read_rows(struct trace_ctx *x, struct trace_cursor *cur,
			   struct trace_rows *rows, struct sim_trace_info *info)
{
	char *buf = x->line_buf;
	bool started = false;
	struct trace_row r;
	int bad, rc;

	while (trace_line_next(cur, buf, &bad)) {
		if (!bad && trace_line_blank(buf))
			continue;
		if (!started) {
			started = true;
			if (bad)
				return trace_line_bad(x, cur->line, bad);
			if (x->format == SIM_TRACE_AUTO && (rc = trace_detect(x, buf, cur->line)) < 0)
				return rc;
			if (x->format == SIM_TRACE_PHILLY && x->ndraw == 0)
				return trace_fail(x, cur->line, "no model of the profile runs on both "
						  "the reference type and a GPU type of this cluster");
			if (x->format != SIM_TRACE_GAVEL) {
				rc = trace_header_parse(x, buf, cur->line);
				if (rc < 0)
					return rc;
				continue;
			}
		}
		info->rows++;
		rc = trace_data_line(x, buf, cur->line, bad, rows, &r);
		if (rc < 0) {
			if ((rc = trace_row_bad(x, info, rc)) < 0)
				return rc;
			continue;
		}
		if (rows->n == SIM_TRACE_MAX_JOBS)
			return trace_fail(x, cur->line, "more than %u jobs", SIM_TRACE_MAX_JOBS);
		r.index = x->nrows++;
		if (trace_rows_push(rows, &r) < 0 || (r.name[0] && trace_name_add(x, &r) < 0))
			return -ENOMEM;
	}
	if (!started)
		return trace_fail(x, cur->line, "empty trace (no header%s)",
				  cur->line ? ", only blank or comment lines" : ": the file is empty");
	return 0;
}

static int trace_row_cmp(const void *pa, const void *pb)
{
	const struct trace_row *a = pa, *b = pb;

	if (a->arrival_s != b->arrival_s)
		return a->arrival_s < b->arrival_s ? -1 : 1;
	return (a->line > b->line) - (a->line < b->line);
}

/* Sort (philly), thin, truncate; counts what was dropped. */
static void trace_rows_select(struct trace_ctx *x, struct trace_rows *rows,
			      struct sim_trace_info *info)
{
	uint32_t k = 0;

	if (x->format == SIM_TRACE_PHILLY)
		qsort(rows->v, rows->n, sizeof(*rows->v), trace_row_cmp);
	if (x->o->thin > 0 && x->o->thin < 1) {
		for (uint32_t i = 0; i < rows->n; i++)
			if (rows->v[i].keep_u < x->o->thin)
				rows->v[k++] = rows->v[i];
		info->thinned = rows->n - k;
		rows->n = k;
	}
	if (x->o->max_jobs > 0 && rows->n > x->o->max_jobs) {
		info->truncated = rows->n - x->o->max_jobs;
		rows->n = x->o->max_jobs;
	}
}

/* Offered load of the rows' own arrivals, the factor to apply, and the
 * load after it (see sim/README.md). */
static void trace_load(struct trace_ctx *x, const struct trace_rows *rows,
		       struct sim_trace_info *info)
{
	double work = 0, span = rows->v[rows->n - 1].arrival_s - rows->v[0].arrival_s;
	double target = x->o->load;

	for (uint32_t i = 0; i < rows->n; i++) {
		const struct trace_row *r = &rows->v[i];

		if (x->models[r->model].has_ref)
			work += r->tasks * r->rounds * trace_ref_round_s(x, r->model, r->tasks);
	}
	info->source_load = span > 0 ? work / ((double)x->c->sched.ngpus * span) : NAN;
	if (!(target > 0) && x->format != SIM_TRACE_HARE)
		target = SIM_TRACE_DEFAULT_LOAD;
	info->arrival_scale = 1;
	if (x->o->arrival_scale > 0)
		info->arrival_scale = x->o->arrival_scale;
	else if (target > 0 && span > 0 && work > 0)
		info->arrival_scale = info->source_load / target;
	info->offered_load = info->source_load / info->arrival_scale;
}

/* The rescaled arrivals stay within SIM_MAX_SECONDS: a --load so small, or
 * an --arrival-scale so large, that they would not is the input's error
 * (the LP bound and the engine's clock need finite, bounded times). */
static int trace_scale_check(struct trace_ctx *x, const struct trace_rows *rows,
			     const struct sim_trace_info *info)
{
	double a0 = rows->v[0].arrival_s, base = x->format == SIM_TRACE_PHILLY ? 0 : a0;
	double last = base + (rows->v[rows->n - 1].arrival_s - a0) * info->arrival_scale;

	if (last <= SIM_MAX_SECONDS)
		return 0;
	if (x->o->arrival_scale > 0)
		return trace_fail(x, 0, "--arrival-scale: %g puts the last arrival at %.3g s, past "
				  "the limit of %g s; use a smaller --arrival-scale",
				  x->o->arrival_scale, last, SIM_MAX_SECONDS);
	return trace_fail(x, 0, "--load: %s%g stretches the arrivals by %.3g to end at %.3g s, past "
			  "the limit of %g s; use a larger --load", x->o->load > 0 ? "" : "the default ",
			  info->offered_load, info->arrival_scale, last, SIM_MAX_SECONDS);
}

static void trace_job_build(struct trace_ctx *x, const struct trace_row *r, uint32_t id,
			    double arrival_s, struct sim_job *job)
{
	struct sched_job *j = &job->spec;

	memset(job, 0, sizeof(*job));
	j->id = id;
	if (r->name[0])
		snprintf(j->name, sizeof(j->name), "%s", r->name);
	else if (x->format == SIM_TRACE_HARE)
		snprintf(j->name, sizeof(j->name), "job%u", id);
	else
		snprintf(j->name, sizeof(j->name), "%s-%u", sim_trace_format_name(x->format), r->line);
	j->weight = r->weight;
	j->arrival_s = arrival_s;
	j->tasks = r->tasks;
	j->min_gpus = r->min_gpus;
	j->max_gpus = r->max_gpus;
	j->rounds_total = (uint64_t)r->rounds;
	j->perf = x->models[r->model].perf;
	for (uint32_t t = 0; t < x->c->sched.ntypes; t++)
		if (r->type_mask && !(r->type_mask >> t & 1))
			j->perf.compute_s[t] = 0;
	j->first_start_s = -1;
	j->last_run_s = -1;
	job->model = r->model;
}

/* hare's after column: the rows each runs after, by index among the rows
 * read, become job ids; a row dropped by --thin or --max-jobs takes its
 * place in its dependents' lists with it (info->after_dropped). */
static int trace_after_build(struct trace_ctx *x, const struct trace_rows *rows,
			     struct sim_trace_info *info, struct sim_workload *out)
{
	uint32_t *job_of;
	bool any = false;

	for (uint32_t i = 0; i < rows->n && !any; i++)
		any = rows->v[i].nafter > 0;
	if (!any)
		return 0;
	job_of = malloc(x->nrows * sizeof(*job_of));
	if (!job_of)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->nrows; i++)
		job_of[i] = UINT32_MAX;
	for (uint32_t i = 0; i < rows->n; i++)
		job_of[rows->v[i].index] = i;
	for (uint32_t i = 0; i < rows->n; i++) {
		struct sim_job *j = &out->jobs[i];

		for (uint32_t k = 0; k < rows->v[i].nafter; k++) {
			uint32_t id = job_of[rows->v[i].after[k]];

			/* an earlier row: a smaller id, as the engine needs */
			if (id == UINT32_MAX)
				info->after_dropped++;
			else
				j->after[j->nafter++] = id;
		}
	}
	free(job_of);
	return 0;
}

/* Turn the selected rows into the workload, arrivals rescaled. */
static int trace_workload_build(struct trace_ctx *x, const struct trace_rows *rows,
				struct sim_trace_info *info, struct sim_workload *out)
{
	double a0 = rows->v[0].arrival_s, base = x->format == SIM_TRACE_PHILLY ? 0 : a0;
	int rc = sim_workload_models_init(out, x->prof);

	if (rc < 0)
		return rc;
	out->jobs = calloc(rows->n, sizeof(*out->jobs));
	if (!out->jobs)
		return -ENOMEM;
	out->njobs = rows->n;
	for (uint32_t i = 0; i < rows->n; i++) {
		double a = base + (rows->v[i].arrival_s - a0) * info->arrival_scale;

		trace_job_build(x, &rows->v[i], i, a, &out->jobs[i]);
	}
	return trace_after_build(x, rows, info, out);
}

static int trace_run(struct trace_ctx *x, struct trace_cursor *cur, struct sim_workload *out,
		     struct sim_trace_info *info)
{
	struct trace_rows rows = { 0 };
	int rc = trace_models_init(x);

	x->line_buf = malloc(TRACE_LINE_MAX + 1);
	if (rc == 0 && !x->line_buf)
		rc = -ENOMEM;
	if (rc == 0)
		rc = trace_read_rows(x, cur, &rows, info);
	if (rc == 0 && rows.n == 0)
		rc = trace_fail(x, cur->line, "no usable rows (%u read, %u skipped as malformed)",
				info->rows, info->skipped);
	if (rc == 0) {
		info->format = x->format;
		trace_rows_select(x, &rows, info);
		if (rows.n == 0)
			rc = trace_fail(x, cur->line, "no jobs left after --thin");
	}
	if (rc == 0) {
		trace_load(x, &rows, info);
		rc = trace_scale_check(x, &rows, info);
	}
	if (rc == 0)
		rc = trace_workload_build(x, &rows, info, out);
	info->capped = x->capped;
	free(rows.v);
	free(x->line_buf);
	trace_names_free(x);
	return rc;
}

int sim_trace_parse(const char *name, const char *text, size_t len, const struct sim_trace_opts *o,
		    const struct profile *prof, const struct sim_cluster *c, struct sim_workload *out,
		    struct sim_trace_info *info, char *errbuf, size_t errlen)
{
	struct trace_ctx x = { .name = name, .o = o, .prof = prof, .c = c, .format = o->format,
			       .errbuf = errbuf, .errlen = errlen };
	struct trace_cursor cur = { .p = text, .end = text + len };
	struct sim_trace_info local;
	int rc;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		cur.p += 3;	/* a UTF-8 byte order mark, as spreadsheets write */
	memset(out, 0, sizeof(*out));
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (c->sched.ngpus == 0 || !(o->thin > 0 && o->thin <= 1)) {
		snprintf(errbuf, errlen, "%s: empty cluster or thin outside (0, 1]", name);
		return -EINVAL;
	}
	x.max_tasks = o->max_tasks ? o->max_tasks : c->sched.ngpus;
	if (x.max_tasks > TRACE_MAX_TASKS)
		x.max_tasks = TRACE_MAX_TASKS;
	info->max_tasks = x.max_tasks;
	rc = trace_run(&x, &cur, out, info);
	if (rc == -ENOMEM)
		snprintf(errbuf, errlen, "%s: out of memory", name);
	free(x.models);
	free(x.draw);
	if (rc < 0)
		sim_workload_destroy(out);
	return rc;
}

/* The whole file into memory (bounded by SIM_TRACE_MAX_BYTES). */
static int trace_file_read(const char *path, char **text, size_t *len, char *errbuf,
			   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = NULL;
	int rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	errno = 0;
	for (;;) {
		char *b = n + 1 >= cap || !buf ? realloc(buf, cap *= 2) : buf;

		if (!b) {
			rc = -ENOMEM;
			break;
		}
		buf = b;
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (got == 0 || n > SIM_TRACE_MAX_BYTES)
			break;
	}
	if (rc == 0 && ferror(f))
		rc = -(errno ? errno : EIO);	/* EISDIR for a folder */
	if (rc == 0 && n > SIM_TRACE_MAX_BYTES)
		rc = -EFBIG;
	fclose(f);
	if (rc < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, rc == -EFBIG ? "file larger than 256 MiB" :
			 strerror(-rc));
		free(buf);
		return rc;
	}
	*text = buf;
	*len = n;
	return 0;
}

int sim_trace_load(const char *path, const struct sim_trace_opts *o, const struct profile *prof,
		   const struct sim_cluster *c, struct sim_workload *out, struct sim_trace_info *info,
		   char *errbuf, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = trace_file_read(path, &text, &len, errbuf, errlen);
	if (rc < 0)
		return rc;
	rc = sim_trace_parse(path, text, len, o, prof, c, out, info, errbuf, errlen);
	free(text);
	return rc;
}
