/* SPDX-License-Identifier: MIT */
/* Loads and validates the throughput profile table (models.csv and
 * throughput.csv, format in workloads/profiles/PROVENANCE.md) and turns it
 * into the scheduler's per-job sched_perf. profile_csv.c reads the files'
 * rows. */
#include "profile.h"
#include "profile_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

#define PROFILE_REFERENCE "V100"

/* A character of a name: [A-Za-z0-9._+-]. */
static bool profile_name_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("._+-", ch));
}

/* Names: 1..len-1 characters of [A-Za-z0-9._+-]. */
bool profile_name_ok(const char *s, size_t len)
{
	size_t n = strlen(s);

	if (n == 0 || n >= len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!profile_name_char_ok(s[i]))
			return false;
	return true;
}

bool profile_model_matches(const struct profile_model *m, const char *name)
{
	if (strcasecmp(m->name, name) == 0)
		return true;
	for (uint32_t i = 0; i < m->naliases; i++)
		if (strcasecmp(m->aliases[i], name) == 0)
			return true;
	return false;
}

/* Index of the model called name (or with that alias), or -1. */
int profile_model_index(const struct profile *p, const char *name)
{
	for (uint32_t i = 0; i < p->nmodels; i++)
		if (profile_model_matches(&p->models[i], name))
			return (int)i;
	return -1;
}

struct profile_entry *profile_entry_at(const struct profile *p, uint32_t m, uint32_t t)
{
	return &p->entries[(size_t)m * PROFILE_MAX_TYPES + t];
}

/* ------------------------------------------------------------ validation -- */

/* Every (model, type) with a row must have all 2 x SCHED_SYNC_POINTS rows. */
static int profile_holes_check(const struct profile *p, const char *path, const char *measured,
			       char *errbuf, size_t errlen)
{
	for (uint32_t m = 0; m < p->nmodels; m++) {
		for (uint32_t t = 0; t < p->ntypes; t++) {
			const struct profile_entry *e = profile_entry_at(p, m, t);

			if (e->first_line == 0)
				continue;
			for (uint32_t i = 0; i < SCHED_SYNC_POINTS; i++)
				for (int pl = 0; pl < 2; pl++)
					if (e->line[i][pl] == 0)
						return profile_err(errbuf, errlen,
								   e->measured ? measured : path,
								   e->first_line,
								   "hole: model %s on %s has no row for %u workers %s",
								   p->models[m].name, p->types[t], 1u << i,
								   pl == SCHED_SPREAD ? "spread" : "consolidated");
		}
	}
	return 0;
}

/* Every model needs rows, and rows on the reference type. */
static int profile_models_check(const struct profile *p, const char *path, char *errbuf,
				size_t errlen)
{
	int ref = profile_gpu_type_find(p, PROFILE_REFERENCE);

	for (uint32_t m = 0; m < p->nmodels; m++) {
		bool any = false;

		for (uint32_t t = 0; t < p->ntypes; t++)
			any = any || profile_entry_at(p, m, t)->first_line != 0;
		if (!any)
			return profile_err(errbuf, errlen, path, p->models[m].line,
					   "model %s has no rows in throughput.csv", p->models[m].name);
		if (ref < 0 || profile_entry_at(p, m, (uint32_t)ref)->first_line == 0)
			return profile_err(errbuf, errlen, path, p->models[m].line,
					   "model %s has no rows for the reference type %s in throughput.csv",
					   p->models[m].name, PROFILE_REFERENCE);
	}
	return 0;
}

/* ---------------------------------------------------------------- public -- */

static int profile_path(char *buf, size_t len, const char *dir, const char *file)
{
	int n = snprintf(buf, len, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int profile_read_all(struct profile *p, const char *dir, const char *measured,
			    char *errbuf, size_t errlen)
{
	char models[PATH_MAX], thr[PATH_MAX];
	int rc;

	if (profile_path(models, sizeof(models), dir, "models.csv") ||
	    profile_path(thr, sizeof(thr), dir, "throughput.csv")) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	rc = profile_models_read(p, models, errbuf, errlen);
	if (rc)
		return rc;
	p->entries = calloc((size_t)p->nmodels * PROFILE_MAX_TYPES, sizeof(*p->entries));
	if (!p->entries)
		return -ENOMEM;
	rc = profile_throughput_read(p, thr, false, errbuf, errlen);
	p->nshipped = p->ntypes;
	if (rc == 0 && measured)
		rc = profile_throughput_read(p, measured, true, errbuf, errlen);
	if (rc == 0)
		rc = profile_holes_check(p, thr, measured, errbuf, errlen);
	if (rc == 0)
		rc = profile_models_check(p, models, errbuf, errlen);
	return rc;
}

int profile_load(const char *dir, struct profile **out, char *errbuf, size_t errlen)
{
	return profile_load_measured(dir, NULL, out, errbuf, errlen);
}

int profile_load_measured(const char *dir, const char *measured, struct profile **out,
			  char *errbuf, size_t errlen)
{
	struct profile *p;
	int rc;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!dir || !out)
		return -EINVAL;
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	rc = profile_read_all(p, dir, measured, errbuf, errlen);
	if (rc) {
		profile_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	free(p->entries);
	free(p);
}

bool profile_type_name_ok(const char *name)
{
	return profile_name_ok(name, SCHED_TYPE_NAME);
}

bool profile_type_chars_ok(const char *name)
{
	if (!name || !name[0])
		return false;
	for (const char *p = name; *p; p++)
		if (!profile_name_char_ok(*p))
			return false;
	return true;
}

uint32_t profile_measured_skipped(const struct profile *p)
{
	return p->measured_skipped;
}

bool profile_gpu_type_measured(const struct profile *p, uint32_t type)
{
	return type < p->ntypes && type >= p->nshipped;
}

uint32_t profile_model_count(const struct profile *p)
{
	return p ? p->nmodels : 0;
}

const char *profile_model_name(const struct profile *p, uint32_t model)
{
	return p && model < p->nmodels ? p->models[model].name : NULL;
}

int profile_model_find(const struct profile *p, const char *name)
{
	int m = p && name ? profile_model_index(p, name) : -1;

	return m >= 0 ? m : ERR_UNKNOWN_MODEL;
}

uint32_t profile_gpu_type_count(const struct profile *p)
{
	return p ? p->ntypes : 0;
}

const char *profile_gpu_type_name(const struct profile *p, uint32_t type)
{
	return p && type < p->ntypes ? p->types[type] : NULL;
}

int profile_gpu_type_find(const struct profile *p, const char *name)
{
	if (!p || !name)
		return ERR_UNKNOWN_GPU;
	for (uint32_t t = 0; t < p->ntypes; t++)
		if (strcasecmp(p->types[t], name) == 0)
			return (int)t;
	return ERR_UNKNOWN_GPU;
}

const char *profile_reference_type(const struct profile *p)
{
	int t = profile_gpu_type_find(p, PROFILE_REFERENCE);

	return t >= 0 ? p->types[t] : PROFILE_REFERENCE;
}

double profile_reference_compute_s(const struct profile *p, uint32_t model)
{
	int t = profile_gpu_type_find(p, PROFILE_REFERENCE);

	if (t < 0 || model >= p->nmodels)
		return 0;
	return profile_entry_at(p, model, (uint32_t)t)->compute_s;
}

/* Raise perf's sync table to the one of entry e (the largest wins). */
static void profile_sync_merge(struct sched_perf *perf, const struct profile_entry *e)
{
	for (uint32_t i = 0; i < SCHED_SYNC_POINTS; i++)
		for (int pl = 0; pl < 2; pl++)
			perf->sync_s[i][pl] = fmax(perf->sync_s[i][pl], e->sync_s[i][pl]);
}

int profile_perf_fill(const struct profile *p, uint32_t model, const char *const *type_names,
		      uint32_t ntypes, struct sched_perf *perf, char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!p || !perf || (ntypes && !type_names) || ntypes > SCHED_MAX_TYPES)
		return -EINVAL;
	if (model >= p->nmodels)
		return ERR_UNKNOWN_MODEL;
	memset(perf, 0, sizeof(*perf));
	/* one sync table per job: the shipped types' (largest); a measured
	 * type's only for a model no shipped type of the list has, so
	 * measuring a type never changes the other types' plans */
	for (int pass = 0; pass < 2; pass++) {
		bool synced = false;

		for (uint32_t t = 0; t < ntypes; t++) {
			int idx = profile_gpu_type_find(p, type_names[t]);
			const struct profile_entry *e = idx < 0 ? NULL :
							profile_entry_at(p, model, (uint32_t)idx);

			if (e && e->first_line && e->measured == (pass == 1)) {
				profile_sync_merge(perf, e);
				synced = true;
			}
		}
		if (synced)
			break;
	}
	for (uint32_t t = 0; t < ntypes; t++) {
		int idx = profile_gpu_type_find(p, type_names[t]);
		const struct profile_entry *e;

		if (idx < 0) {
			if (errbuf && errlen)
				snprintf(errbuf, errlen, "unknown GPU type '%s' (not in the profile)",
					 type_names[t] ? type_names[t] : "(null)");
			memset(perf, 0, sizeof(*perf));
			return ERR_UNKNOWN_GPU;
		}
		e = profile_entry_at(p, model, (uint32_t)idx);
		if (e->first_line == 0)
			continue;	/* the model cannot run on this type */
		perf->compute_s[t] = e->compute_s;
	}
	perf->restart_s = p->models[model].restart_s;
	return 0;
}
