/* SPDX-License-Identifier: MIT */
/* The profile table's CSV files: a small reader (comma rows, no quoting,
 * errors as "file:line: reason"), and the rows of models.csv and of
 * throughput.csv (or a measured file) checked and stored. */
#include "profile_impl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

#define PROFILE_MAX_FIELDS 16
#define PROFILE_LINE_MAX 1024
#define PROFILE_MAX_WORKERS (1u << (SCHED_SYNC_POINTS - 1))

/* A CSV file being read: simple comma rows, no quoting. */
struct csv {
	FILE *f;
	const char *path;
	uint32_t line;
	char *buf;
	size_t cap;
	char *fields[PROFILE_MAX_FIELDS];
	uint32_t nfields;
	uint32_t ncols;		/* fields of the header row */
};

/* A column of a file's header: its name, whether it must be present, and
 * the field index it was found at (-1: absent). */
struct csv_col {
	const char *name;
	bool required;
	int idx;
};

int profile_err(char *errbuf, size_t errlen, const char *path, uint32_t line,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!errbuf || errlen == 0)
		return ERR_BAD_PROFILE;
	n = snprintf(errbuf, errlen, "%s:%u: ", path, line);
	if (n < 0 || (size_t)n >= errlen)
		return ERR_BAD_PROFILE;
	va_start(ap, fmt);
	vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return ERR_BAD_PROFILE;
}

static char *profile_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Split the line in c->buf into c->fields; reject quotes and extra fields. */
static int csv_split(struct csv *c, char *errbuf, size_t errlen)
{
	char *s = c->buf;

	if (strchr(s, '"'))
		return profile_err(errbuf, errlen, c->path, c->line,
				   "quotes are not supported in profile tables");
	c->nfields = 0;
	for (;;) {
		char *comma = strchr(s, ',');

		if (c->nfields == PROFILE_MAX_FIELDS)
			return profile_err(errbuf, errlen, c->path, c->line,
					   "more than %d fields", PROFILE_MAX_FIELDS);
		if (comma)
			*comma = '\0';
		c->fields[c->nfields++] = profile_trim(s);
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

/*
 * Read the next row that is not blank or a '#' comment. Returns 1 with the
 * fields split, 0 at end of file, or a negative error.
 */
static int csv_next(struct csv *c, char *errbuf, size_t errlen)
{
	ssize_t n;

	while ((n = getline(&c->buf, &c->cap, c->f)) >= 0) {
		char *s;

		c->line++;
		if ((size_t)n != strlen(c->buf))
			return profile_err(errbuf, errlen, c->path, c->line, "NUL byte in line");
		if (c->line == 1 && strncmp(c->buf, "\xef\xbb\xbf", 3) == 0) {
			/* a UTF-8 byte order mark, as spreadsheets write */
			memmove(c->buf, c->buf + 3, (size_t)n - 2);
			n -= 3;
		}
		if (n > PROFILE_LINE_MAX)
			return profile_err(errbuf, errlen, c->path, c->line,
					   "line longer than %d bytes", PROFILE_LINE_MAX);
		s = profile_trim(c->buf);
		if (*s == '\0' || *s == '#')
			continue;
		memmove(c->buf, s, strlen(s) + 1);
		return csv_split(c, errbuf, errlen) ? ERR_BAD_PROFILE : 1;
	}
	if (ferror(c->f))
		return profile_err(errbuf, errlen, c->path, c->line, "read error");
	return 0;
}

/* Open path for reading; -errno with "path: reason" in errbuf. */
static int csv_open(struct csv *c, const char *path, char *errbuf, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->path = path;
	c->f = fopen(path, "r");
	if (!c->f) {
		int e = errno;

		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static void csv_close(struct csv *c)
{
	if (c->f)
		fclose(c->f);
	free(c->buf);
	c->f = NULL;
	c->buf = NULL;
}

/* Read the header row and map it onto cols (NULL-name terminated). */
static int csv_header(struct csv *c, struct csv_col *cols, char *errbuf, size_t errlen)
{
	int rc = csv_next(c, errbuf, errlen);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return profile_err(errbuf, errlen, c->path, c->line ? c->line : 1,
				   "empty file, expected a header row");
	for (struct csv_col *k = cols; k->name; k++)
		k->idx = -1;
	for (uint32_t i = 0; i < c->nfields; i++) {
		struct csv_col *k = cols;

		while (k->name && strcasecmp(k->name, c->fields[i]) != 0)
			k++;
		if (!k->name)
			return profile_err(errbuf, errlen, c->path, c->line, "unknown column '%s'",
					   c->fields[i]);
		if (k->idx >= 0)
			return profile_err(errbuf, errlen, c->path, c->line, "duplicate column '%s'",
					   c->fields[i]);
		k->idx = (int)i;
	}
	c->ncols = c->nfields;
	for (struct csv_col *k = cols; k->name; k++)
		if (k->required && k->idx < 0)
			return profile_err(errbuf, errlen, c->path, c->line, "missing column '%s'",
					   k->name);
	return 0;
}

/* Next data row with as many fields as the header: 1, 0 at the end, or an error. */
static int csv_row(struct csv *c, char *errbuf, size_t errlen)
{
	int rc = csv_next(c, errbuf, errlen);

	if (rc == 1 && c->nfields != c->ncols)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "malformed row: expected %u comma-separated fields, got %u", c->ncols,
				   c->nfields);
	return rc;
}

/* The field of column col in the current row ("" for an absent optional one). */
static const char *csv_field(const struct csv *c, const struct csv_col *col)
{
	return col->idx >= 0 ? c->fields[col->idx] : "";
}

static bool profile_parse_double(const char *s, double *out)
{
	char *end;

	if (*s == '\0')
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0' && errno == 0 && isfinite(*out);
}

static bool profile_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno != 0 || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ------------------------------------------------------------ models.csv -- */

enum { MC_MODEL, MC_FAMILY, MC_BATCH, MC_PARAMS, MC_RESTART, MC_ALIASES, MC_SOURCE };

/* Check one name and that it is new; used for models and their aliases. */
static int profile_model_name_add(const struct profile *p, const struct csv *c, char *dst,
				  const char *name, const char *what, char *errbuf, size_t errlen)
{
	int other;

	if (!profile_name_ok(name, SCHED_NAME_LEN))
		return profile_err(errbuf, errlen, c->path, c->line,
				   "bad %s name '%s' (1-%d characters of A-Z a-z 0-9 . _ + -)", what,
				   name, SCHED_NAME_LEN - 1);
	other = profile_model_index(p, name);
	if (other >= 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "duplicate model name '%s' (first at line %u)", name,
				   p->models[other].line);
	strcpy(dst, name);
	return 0;
}

static int profile_aliases_parse(struct profile *p, struct profile_model *m, const struct csv *c,
				 const char *field, char *errbuf, size_t errlen)
{
	char buf[PROFILE_LINE_MAX + 1];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", field);
	for (char *a = strtok_r(buf, ";", &save); a; a = strtok_r(NULL, ";", &save)) {
		int rc;

		a = profile_trim(a);
		if (m->naliases == PROFILE_MAX_ALIASES)
			return profile_err(errbuf, errlen, c->path, c->line,
					   "more than %d aliases", PROFILE_MAX_ALIASES);
		if (profile_model_matches(m, a))
			continue;	/* repeats the model's own name or an alias */
		rc = profile_model_name_add(p, c, m->aliases[m->naliases], a, "alias", errbuf, errlen);
		if (rc)
			return rc;
		m->naliases++;
	}
	return 0;
}

static int profile_model_row(struct profile *p, const struct csv *c, const struct csv_col *cols,
			     char *errbuf, size_t errlen)
{
	struct profile_model *m = &p->models[p->nmodels];
	const char *batch = csv_field(c, &cols[MC_BATCH]);
	const char *params = csv_field(c, &cols[MC_PARAMS]);
	const char *restart = csv_field(c, &cols[MC_RESTART]);
	int rc;

	memset(m, 0, sizeof(*m));
	m->line = c->line;
	rc = profile_model_name_add(p, c, m->name, csv_field(c, &cols[MC_MODEL]), "model", errbuf,
				    errlen);
	if (rc)
		return rc;
	if (!profile_name_ok(csv_field(c, &cols[MC_FAMILY]), SCHED_NAME_LEN))
		return profile_err(errbuf, errlen, c->path, c->line, "bad family name '%s'",
				   csv_field(c, &cols[MC_FAMILY]));
	strcpy(m->family, csv_field(c, &cols[MC_FAMILY]));
	if (!profile_parse_uint(batch, 1000000, &m->per_task_batch) || m->per_task_batch == 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "per_task_batch must be an integer from 1 to 1000000, got '%s'", batch);
	if (!profile_parse_double(params, &m->params_m) || m->params_m <= 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "params_millions must be a positive number, got '%s'", params);
	if (!profile_parse_double(restart, &m->restart_s) || m->restart_s <= 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "restart_s must be a positive number of seconds, got '%s'", restart);
	return profile_aliases_parse(p, m, c, csv_field(c, &cols[MC_ALIASES]), errbuf, errlen);
}

int profile_models_read(struct profile *p, const char *path, char *errbuf, size_t errlen)
{
	struct csv_col cols[] = {
		[MC_MODEL] = { "model", true, -1 },
		[MC_FAMILY] = { "family", true, -1 },
		[MC_BATCH] = { "per_task_batch", true, -1 },
		[MC_PARAMS] = { "params_millions", true, -1 },
		[MC_RESTART] = { "restart_s", true, -1 },
		[MC_ALIASES] = { "aliases", false, -1 },
		[MC_SOURCE] = { "source", false, -1 },
		{ NULL, false, -1 },
	};
	struct csv c;
	int rc = csv_open(&c, path, errbuf, errlen);

	if (rc)
		return rc;
	rc = csv_header(&c, cols, errbuf, errlen);
	while (rc == 0 && (rc = csv_row(&c, errbuf, errlen)) == 1) {
		if (p->nmodels == PROFILE_MAX_MODELS)
			rc = profile_err(errbuf, errlen, path, c.line, "more than %d models",
					 PROFILE_MAX_MODELS);
		else if ((rc = profile_model_row(p, &c, cols, errbuf, errlen)) == 0)
			p->nmodels++;
	}
	if (rc == 0 && p->nmodels == 0)
		rc = profile_err(errbuf, errlen, path, c.line, "no models");
	csv_close(&c);
	return rc;
}

/* -------------------------------------------------------- throughput.csv -- */

enum { TC_MODEL, TC_TYPE, TC_WORKERS, TC_PLACEMENT, TC_COMPUTE, TC_SYNC, TC_SOURCE };

/* One parsed throughput row. */
struct profile_row {
	uint32_t model;
	uint32_t type;
	uint32_t point;		/* log2 of workers */
	uint32_t workers;
	int placement;
	double compute_s;
	double sync_s;
};

/* GPU type index by name, adding it when new. */
static int profile_type_intern(struct profile *p, const struct csv *c, const char *name,
			       char *errbuf, size_t errlen)
{
	int t = profile_gpu_type_find(p, name);

	if (t >= 0)
		return t;
	if (!profile_name_ok(name, SCHED_TYPE_NAME))
		return profile_err(errbuf, errlen, c->path, c->line,
				   "bad GPU type '%s' (1-%d characters of A-Z a-z 0-9 . _ + -)", name,
				   SCHED_TYPE_NAME - 1);
	if (p->ntypes == PROFILE_MAX_TYPES)
		return profile_err(errbuf, errlen, c->path, c->line, "more than %d GPU types",
				   PROFILE_MAX_TYPES);
	strcpy(p->types[p->ntypes], name);
	return (int)p->ntypes++;
}

static int profile_placement_parse(const char *s)
{
	if (strcasecmp(s, "consolidated") == 0)
		return SCHED_CONSOLIDATED;
	if (strcasecmp(s, "spread") == 0)
		return SCHED_SPREAD;
	return -1;
}

/* Parse the model, type, workers and placement fields of a row. */
static int profile_row_keys(struct profile *p, const struct csv *c, const struct csv_col *cols,
			    struct profile_row *r, char *errbuf, size_t errlen)
{
	const char *model = csv_field(c, &cols[TC_MODEL]);
	const char *workers = csv_field(c, &cols[TC_WORKERS]);
	const char *placement = csv_field(c, &cols[TC_PLACEMENT]);
	int m = -1, t;

	for (uint32_t i = 0; i < p->nmodels && m < 0; i++)
		if (strcasecmp(p->models[i].name, model) == 0)
			m = (int)i;
	if (m < 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "unknown model '%s' (not in models.csv)", model);
	t = profile_type_intern(p, c, csv_field(c, &cols[TC_TYPE]), errbuf, errlen);
	if (t < 0)
		return t;
	if (!profile_parse_uint(workers, PROFILE_MAX_WORKERS, &r->workers) || r->workers == 0 ||
	    (r->workers & (r->workers - 1)) != 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "workers must be a power of two from 1 to %u, got '%s'",
				   PROFILE_MAX_WORKERS, workers);
	r->placement = profile_placement_parse(placement);
	if (r->placement < 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "placement must be consolidated or spread, got '%s'", placement);
	r->model = (uint32_t)m;
	r->type = (uint32_t)t;
	r->point = 0;
	while ((1u << r->point) < r->workers)
		r->point++;
	return 0;
}

/* Parse and range-check the two times of a row. */
static int profile_row_times(const struct csv *c, const struct csv_col *cols,
			     struct profile_row *r, char *errbuf, size_t errlen)
{
	const char *compute = csv_field(c, &cols[TC_COMPUTE]);
	const char *sync = csv_field(c, &cols[TC_SYNC]);

	if (!profile_parse_double(compute, &r->compute_s) || r->compute_s <= 0)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "compute_s must be a positive number of seconds, got '%s'", compute);
	if (!profile_parse_double(sync, &r->sync_s) || r->sync_s < 0 ||
	    (r->sync_s == 0 && r->workers > 1))
		return profile_err(errbuf, errlen, c->path, c->line,
				   "sync_s must be a positive number of seconds (0 allowed for 1 worker only), got '%s'",
				   sync);
	return 0;
}

/* Store a parsed row, rejecting duplicates and a changing compute time. */
static int profile_row_store(struct profile *p, const struct csv *c, const struct profile_row *r,
			     char *errbuf, size_t errlen)
{
	struct profile_entry *e = profile_entry_at(p, r->model, r->type);
	uint32_t *seen = &e->line[r->point][r->placement];
	const char *where = r->placement == SCHED_SPREAD ? "spread" : "consolidated";

	if (*seen)
		return profile_err(errbuf, errlen, c->path, c->line,
				   "duplicate row for model %s, type %s, %u workers %s (first at line %u)",
				   p->models[r->model].name, p->types[r->type], r->workers, where, *seen);
	if (e->first_line == 0) {
		e->first_line = c->line;
		e->compute_s = r->compute_s;
	} else if (fabs(r->compute_s - e->compute_s) > 1e-9 * e->compute_s) {
		return profile_err(errbuf, errlen, c->path, c->line,
				   "compute_s %g differs from %g at line %u (one value per model and type)",
				   r->compute_s, e->compute_s, e->first_line);
	}
	*seen = c->line;
	e->sync_s[r->point][r->placement] = r->sync_s;
	return 0;
}

/* Rows of throughput.csv, or of the measured file (measured): those add
 * GPU types only, so their rows for a type throughput.csv has are skipped. */
int profile_throughput_read(struct profile *p, const char *path, bool measured,
			    char *errbuf, size_t errlen)
{
	struct csv_col cols[] = {
		[TC_MODEL] = { "model", true, -1 },
		[TC_TYPE] = { "gpu_type", true, -1 },
		[TC_WORKERS] = { "workers", true, -1 },
		[TC_PLACEMENT] = { "placement", true, -1 },
		[TC_COMPUTE] = { "compute_s", true, -1 },
		[TC_SYNC] = { "sync_s", true, -1 },
		[TC_SOURCE] = { "source", false, -1 },
		{ NULL, false, -1 },
	};
	struct csv c;
	int rc = csv_open(&c, path, errbuf, errlen);

	if (rc == -ENOENT && measured) {
		if (errbuf && errlen)
			errbuf[0] = '\0';
		return 0;	/* nothing measured yet */
	}
	if (rc)
		return rc;
	rc = csv_header(&c, cols, errbuf, errlen);
	while (rc == 0 && (rc = csv_row(&c, errbuf, errlen)) == 1) {
		struct profile_row r = { 0 };

		rc = profile_row_keys(p, &c, cols, &r, errbuf, errlen);
		if (rc == 0 && measured && r.type < p->nshipped) {
			p->measured_skipped++;
			continue;
		}
		if (rc == 0)
			rc = profile_row_times(&c, cols, &r, errbuf, errlen);
		if (rc == 0)
			rc = profile_row_store(p, &c, &r, errbuf, errlen);
		if (rc == 0)
			profile_entry_at(p, r.model, r.type)->measured = measured;
	}
	csv_close(&c);
	return rc;
}
