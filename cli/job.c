/* SPDX-License-Identifier: MIT */
/* Job specifications for harectl submit: key parsing and validation shared
 * by flags and job files, conversion to JobSpec, and the job-file reader. */
#include "job.h"

#include "config.h"
#include "err.h"
#include "format.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const cli_key_names[CLI_KEY_COUNT] = {
	[CLI_KEY_NAME] = "name",
	[CLI_KEY_MODEL] = "model",
	[CLI_KEY_GPUS] = "gpus",
	[CLI_KEY_MIN_GPUS] = "min-gpus",
	[CLI_KEY_MAX_GPUS] = "max-gpus",
	[CLI_KEY_ROUNDS] = "rounds",
	[CLI_KEY_WEIGHT] = "weight",
	[CLI_KEY_GPU_TYPES] = "gpu-types",
	[CLI_KEY_COMMAND] = "command",
	[CLI_KEY_PROXY] = "proxy",
	[CLI_KEY_AFTER] = "after",
};

/* after_ref of a job file's item that names a [job], until it is resolved */
#define CLI_AFTER_NAMED (-2)

void cli_job_init(struct cli_job *j)
{
	memset(j, 0, sizeof(*j));
	j->weight = 1;
}

const char *cli_job_key_name(enum cli_job_key key)
{
	return key < CLI_KEY_COUNT ? cli_key_names[key] : "?";
}

int cli_job_key_find(const char *name)
{
	char norm[16];
	size_t i;

	if (strncmp(name, "--", 2) == 0)
		name += 2;
	for (i = 0; name[i] && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '_' ? '-' : name[i];
	if (name[i])
		return -1;
	norm[i] = '\0';
	for (int k = 0; k < CLI_KEY_COUNT; k++)
		if (strcmp(norm, cli_key_names[k]) == 0)
			return k;
	return -1;
}

/* Range errors read "gpus must be ...", format errors "gpus: expected ...". */
static int cli_job_fail(const char *label, const char *reason, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s%s%s", label, strncmp(reason, "must", 4) == 0 ? " " : ": ", reason);
	return ERR_BAD_SPEC;
}

static int cli_job_text(const char *label, const char *value, size_t max, char *out, char *err, size_t errlen)
{
	if (value[0] == '\0') {
		snprintf(err, errlen, "%s is empty", label);
		return ERR_BAD_SPEC;
	}
	if (strlen(value) > max) {
		snprintf(err, errlen, "%s is longer than %zu bytes", label, max);
		return ERR_BAD_SPEC;
	}
	if (utf8_has_c0(value)) {
		snprintf(err, errlen, "%s has a control character", label);
		return ERR_BAD_SPEC;
	}
	if (!cli_utf8_valid(value)) {
		snprintf(err, errlen, "%s is not valid UTF-8", label);
		return ERR_BAD_SPEC;
	}
	memcpy(out, value, strlen(value) + 1);
	return 0;
}

/* Letters, digits, '.', '-', '_' (model and GPU type names). */
static bool cli_is_ident(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
			return false;
	return n > 0;
}

static int cli_job_model(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen)
{
	if (strlen(value) > CLI_JOB_MODEL_MAX || !cli_is_ident(value, strlen(value))) {
		snprintf(err, errlen, "%s must be 1 to %d letters, digits, '.', '-' or '_', got '%.40s'", label,
			 CLI_JOB_MODEL_MAX, value);
		return ERR_BAD_SPEC;
	}
	memcpy(j->model, value, strlen(value) + 1);
	return 0;
}

static int cli_job_type_add(struct cli_job *j, const char *label, const char *s, size_t n, char *err,
			    size_t errlen)
{
	if (n == 0 || n > CLI_JOB_TYPE_MAX || !cli_is_ident(s, n)) {
		snprintf(err, errlen, "%s: '%.*s' is not a GPU type name (1 to %d letters, digits, '.', '-', '_')",
			 label, (int)(n > 40 ? 40 : n), s, CLI_JOB_TYPE_MAX);
		return ERR_BAD_SPEC;
	}
	if (j->ntypes == CLI_JOB_TYPES_MAX) {
		snprintf(err, errlen, "%s lists more than %d types", label, CLI_JOB_TYPES_MAX);
		return ERR_BAD_SPEC;
	}
	for (uint32_t i = 0; i < j->ntypes; i++) {
		if (strlen(j->types[i]) == n && strncasecmp(j->types[i], s, n) == 0) {
			snprintf(err, errlen, "%s lists %.*s twice", label, (int)n, s);
			return ERR_BAD_SPEC;
		}
	}
	memcpy(j->types[j->ntypes], s, n);
	j->types[j->ntypes++][n] = '\0';
	return 0;
}

/* The next item of the comma-separated list at *p, without the spaces
 * around it: *item and *n; *p moves past its comma, or to NULL after the
 * last item. */
static void cli_list_next(const char **p, const char **item, size_t *n)
{
	const char *s = *p, *end = strchr(s, ',');
	size_t len = end ? (size_t)(end - s) : strlen(s);

	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	*item = s;
	*n = len;
	*p = end ? end + 1 : NULL;
}

/* "V100,T4" (spaces around names allowed). */
static int cli_job_types(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen)
{
	const char *p = value;

	while (p) {
		const char *s;
		size_t n;
		int rc;

		cli_list_next(&p, &s, &n);
		rc = cli_job_type_add(j, label, s, n, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* How many of the n bytes at s are in set, from the start. */
static size_t cli_span(const char *s, size_t n, const char *set)
{
	size_t i = 0;

	while (i < n && s[i] && strchr(set, s[i]))
		i++;
	return i;
}

/* s[0..n) as a job id (1 and up), or 0 when it is none. */
static uint64_t cli_job_id_parse(const char *s, size_t n)
{
	uint64_t v = 0;

	if (n == 0 || cli_span(s, n, "0123456789") != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

/* The kind prefix of an after item ("any:41"): its kind, and s and n
 * moved past it; none: CLI_AFTER_OK, unmoved. */
static uint8_t cli_job_after_kind(const char **s, size_t *n)
{
	static const struct {
		const char *prefix;
		uint8_t kind;
	} kinds[] = { { "ok:", CLI_AFTER_OK }, { "any:", CLI_AFTER_ANY },
		      { "notok:", CLI_AFTER_NOTOK } };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t len = strlen(kinds[k].prefix);

		if (*n >= len && memcmp(*s, kinds[k].prefix, len) == 0) {
			*s += len;
			*n -= len;
			return kinds[k].kind;
		}
	}
	return CLI_AFTER_OK;
}

/* One item of an after list: a job id, perhaps after a kind ("any:41");
 * in a job file (a label without "--"), anything but digits names an
 * earlier [job], resolved once the whole job is read. */
static int cli_job_after_add(struct cli_job *j, const char *label, const char *s, size_t n, char *err,
			     size_t errlen)
{
	uint8_t kind = cli_job_after_kind(&s, &n);
	bool digits = n > 0 && cli_span(s, n, "0123456789") == n;
	uint64_t id = cli_job_id_parse(s, n);
	int w = (int)(n > 40 ? 40 : n);

	if (n == 0 && kind != CLI_AFTER_OK) {
		snprintf(err, errlen, "%s: a kind ('any:' or 'notok:') wants a job after it", label);
		return ERR_BAD_SPEC;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s has an empty item", label);
		return ERR_BAD_SPEC;
	}
	if ((digits && id == 0) || (!digits && strncmp(label, "--", 2) == 0)) {
		/* names are for job files; "-3" or "4.5" is a number gone wrong */
		snprintf(err, errlen, "%s: '%.*s' is not a job id (%s)", label, w, s,
			 !digits && memchr(s, ':', n) ? "the kinds are any:ID and notok:ID" :
			 !digits && !strchr("+-.0123456789", s[0]) ?
			 "names of earlier [job] sections are for job files" : "want a number like 42");
		return ERR_BAD_SPEC;
	}
	if (j->nafter == CLI_JOB_AFTER_MAX) {
		snprintf(err, errlen, "%s lists more than %d jobs", label, CLI_JOB_AFTER_MAX);
		return ERR_BAD_SPEC;
	}
	for (uint32_t i = 0; digits && i < j->nafter; i++) {
		if (j->after_ref[i] < 0 && j->after[i] == id) {
			snprintf(err, errlen, "%s lists job %llu twice", label, (unsigned long long)id);
			return ERR_BAD_SPEC;
		}
	}
	j->after[j->nafter] = id;
	j->after_kind[j->nafter] = kind;
	j->after_ref[j->nafter++] = digits ? -1 : CLI_AFTER_NAMED;
	return 0;
}

/* "41, 42" (and in a job file "prep, 42"). */
static int cli_job_after(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen)
{
	const char *p = value;

	if (value[strspn(value, " \t")] == '\0') {
		snprintf(err, errlen, "%s is empty", label);
		return ERR_BAD_SPEC;
	}
	while (p) {
		const char *s;
		size_t n;
		int rc;

		cli_list_next(&p, &s, &n);
		rc = cli_job_after_add(j, label, s, n, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int cli_job_u32(const char *label, const char *value, uint32_t min, uint32_t max, uint32_t *out,
		       char *err, size_t errlen)
{
	char reason[128];

	if (config_parse_u32(value, min, max, out, reason, sizeof(reason)) < 0)
		return cli_job_fail(label, reason, err, errlen);
	return 0;
}

static int cli_job_rounds(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen)
{
	const char *digits = value[0] == '-' ? value + 1 : value;
	unsigned long long v;

	if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits)) {
		snprintf(err, errlen, "%s: expected a whole number, got '%.40s'", label, value);
		return ERR_BAD_SPEC;
	}
	errno = 0;
	v = strtoull(value, NULL, 10);
	if (value[0] == '-' || errno || v < 1 || v > CLI_JOB_ROUNDS_MAX) {
		snprintf(err, errlen, "%s must be between 1 and %llu, got %.40s", label, CLI_JOB_ROUNDS_MAX, value);
		return ERR_BAD_SPEC;
	}
	j->rounds = v;
	return 0;
}

static int cli_job_weight(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen)
{
	char reason[128];
	double w;

	if (config_parse_double(value, -HUGE_VAL, HUGE_VAL, &w, reason, sizeof(reason)) < 0)
		return cli_job_fail(label, reason, err, errlen);
	if (!(w > 0 && w <= CLI_JOB_WEIGHT_MAX)) {
		snprintf(err, errlen, "%s must be greater than 0 and at most %g, got %.40s", label,
			 CLI_JOB_WEIGHT_MAX, value);
		return ERR_BAD_SPEC;
	}
	j->weight = w;
	return 0;
}

int cli_job_set(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen)
{
	int key = cli_job_key_find(label);

	if (key < 0) {
		snprintf(err, errlen, "unknown key '%.40s'", label);
		return -EINVAL;
	}
	if (j->set & (1u << key)) {
		snprintf(err, errlen, "%s given twice", label);
		return ERR_BAD_SPEC;
	}
	j->set |= 1u << key;
	switch (key) {
	case CLI_KEY_NAME:
		return cli_job_text(label, value, CLI_JOB_NAME_MAX, j->name, err, errlen);
	case CLI_KEY_MODEL:
		return cli_job_model(j, label, value, err, errlen);
	case CLI_KEY_GPUS:
		return cli_job_u32(label, value, 1, CLI_JOB_GPUS_MAX, &j->gpus, err, errlen);
	case CLI_KEY_MIN_GPUS:
		return cli_job_u32(label, value, 1, CLI_JOB_GPUS_MAX, &j->min_gpus, err, errlen);
	case CLI_KEY_MAX_GPUS:
		return cli_job_u32(label, value, 1, CLI_JOB_GPUS_MAX, &j->max_gpus, err, errlen);
	case CLI_KEY_ROUNDS:
		return cli_job_rounds(j, label, value, err, errlen);
	case CLI_KEY_WEIGHT:
		return cli_job_weight(j, label, value, err, errlen);
	case CLI_KEY_GPU_TYPES:
		return cli_job_types(j, label, value, err, errlen);
	case CLI_KEY_PROXY:
		return cli_job_text(label, value, CLI_JOB_PROXY_MAX, j->proxy, err, errlen);
	case CLI_KEY_AFTER:
		return cli_job_after(j, label, value, err, errlen);
	default:
		return cli_job_text(label, value, CLI_JOB_COMMAND_MAX, j->command, err, errlen);
	}
}

bool cli_job_has(const struct cli_job *j, enum cli_job_key key)
{
	return j->set & (1u << key);
}

int cli_job_check(const struct cli_job *j, const char *prefix, enum cli_job_key *blame, char *err,
		  size_t errlen)
{
	enum cli_job_key unused;
	static const enum cli_job_key required[] = { CLI_KEY_MODEL, CLI_KEY_GPUS, CLI_KEY_ROUNDS };
	uint32_t lo = cli_job_has(j, CLI_KEY_MIN_GPUS) ? j->min_gpus : 1;
	uint32_t hi = cli_job_has(j, CLI_KEY_MAX_GPUS) ? j->max_gpus : j->gpus;

	if (!blame)
		blame = &unused;
	*blame = CLI_KEY_COUNT;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!cli_job_has(j, required[i])) {
			snprintf(err, errlen, "missing %s%s", prefix, cli_key_names[required[i]]);
			return ERR_BAD_SPEC;
		}
	}
	if (cli_job_has(j, CLI_KEY_MAX_GPUS) && j->max_gpus > j->gpus) {
		*blame = CLI_KEY_MAX_GPUS;
		snprintf(err, errlen, "%smax-gpus (%u) is greater than %sgpus (%u)", prefix, j->max_gpus, prefix,
			 j->gpus);
		return ERR_BAD_SPEC;
	}
	if (lo > hi) {
		*blame = CLI_KEY_MIN_GPUS;
		snprintf(err, errlen, "%smin-gpus (%u) is greater than %s%s (%u)", prefix, lo, prefix,
			 cli_job_has(j, CLI_KEY_MAX_GPUS) ? "max-gpus" : "gpus", hi);
		return ERR_BAD_SPEC;
	}
	if (cli_job_has(j, CLI_KEY_PROXY) && cli_job_has(j, CLI_KEY_COMMAND)) {
		*blame = CLI_KEY_PROXY;
		snprintf(err, errlen, "%sproxy sizes are for the built-in worker: not with %scommand", prefix,
			 prefix);
		return ERR_BAD_SPEC;
	}
	return 0;
}

void cli_job_to_spec(const struct cli_job *j, const uint64_t *ids, Hare__JobSpec *spec,
		     struct cli_spec_refs *refs)
{
	hare__job_spec__init(spec);
	spec->name = cli_job_has(j, CLI_KEY_NAME) ? (char *)j->name : NULL;
	spec->model = (char *)j->model;
	spec->tasks = j->gpus;
	spec->has_min_gpus = cli_job_has(j, CLI_KEY_MIN_GPUS);
	spec->min_gpus = j->min_gpus;
	spec->has_max_gpus = cli_job_has(j, CLI_KEY_MAX_GPUS);
	spec->max_gpus = j->max_gpus;
	spec->rounds = j->rounds;
	spec->has_weight = cli_job_has(j, CLI_KEY_WEIGHT);
	spec->weight = j->weight;
	for (uint32_t i = 0; i < j->ntypes; i++)
		refs->types[i] = (char *)j->types[i];
	spec->n_gpu_types = j->ntypes;
	spec->gpu_types = j->ntypes ? refs->types : NULL;
	spec->command = cli_job_has(j, CLI_KEY_COMMAND) ? (char *)j->command : NULL;
	spec->proxy = cli_job_has(j, CLI_KEY_PROXY) ? (char *)j->proxy : NULL;
	/* by kind, each a run of refs->after; an earlier [job] of the file:
	 * the id hared gave it */
	{
		uint64_t *lists[3] = { NULL };
		size_t *counts[3] = { &spec->n_after, &spec->n_after_any, &spec->n_after_notok };
		uint32_t n = 0;

		for (uint8_t kind = CLI_AFTER_OK; kind <= CLI_AFTER_NOTOK; kind++) {
			*counts[kind] = 0;
			for (uint32_t i = 0; i < j->nafter; i++) {
				if (j->after_kind[i] != kind)
					continue;
				if ((*counts[kind])++ == 0)
					lists[kind] = &refs->after[n];
				refs->after[n++] = j->after_ref[i] >= 0 && ids ? ids[j->after_ref[i]] :
						   j->after[i];
			}
		}
		spec->after = lists[CLI_AFTER_OK];
		spec->after_any = lists[CLI_AFTER_ANY];
		spec->after_notok = lists[CLI_AFTER_NOTOK];
	}
}

/* ---- arrays ---- */

/* One number of an --array spec, [p, stop): 0 and *v, or -1. */
static int cli_array_number(const char *p, const char *stop, uint32_t *v)
{
	uint64_t x = 0;

	if (p == stop || stop - p > 7)
		return -1;
	for (; p < stop; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (x > CLI_ARRAY_INDEX_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* One item "N", "A-B" or "A-B:S" of [p, stop). */
static int cli_array_item(const char *p, const char *stop, uint32_t *lo, uint32_t *hi, uint32_t *step)
{
	const char *dash = memchr(p, '-', (size_t)(stop - p));
	const char *colon = memchr(p, ':', (size_t)(stop - p));

	*step = 1;
	if (!dash)
		return colon || cli_array_number(p, stop, lo) < 0 ? -1 : (*hi = *lo, 0);
	if (colon && (colon < dash || cli_array_number(colon + 1, stop, step) < 0 || *step == 0))
		return -1;
	if (cli_array_number(p, dash, lo) < 0 || cli_array_number(dash + 1, colon ? colon : stop, hi) < 0)
		return -1;
	return *lo <= *hi ? 0 : -1;
}

static bool cli_array_has(const uint32_t *idx, uint32_t n, uint32_t i)
{
	for (uint32_t k = 0; k < n; k++)
		if (idx[k] == i)
			return true;
	return false;
}

int cli_array_parse(const char *spec, uint32_t *idx, uint32_t *n, char *err, size_t errlen)
{
	const char *p = spec;

	*n = 0;
	while (*p) {
		const char *stop = p + strcspn(p, ",");
		uint32_t lo, hi, step;

		if (cli_array_item(p, stop, &lo, &hi, &step) < 0) {
			snprintf(err, errlen, "--array wants indices from 0 to %d as N, A-B or A-B:STEP, "
				 "comma-separated (0-9, 1,3,8-12, 0-99:10), got '%.*s'%s",
				 CLI_ARRAY_INDEX_MAX, (int)(stop - p < 40 ? stop - p : 40), p,
				 p == spec && !*stop ? "" : " in the list");
			return ERR_BAD_SPEC;
		}
		for (uint64_t i = lo; i <= hi; i += step) {
			if (cli_array_has(idx, *n, (uint32_t)i)) {
				snprintf(err, errlen, "--array: index %u given twice", (unsigned)i);
				return ERR_BAD_SPEC;
			}
			if (*n == CLI_ARRAY_MAX) {
				snprintf(err, errlen, "--array: more than %d jobs", CLI_ARRAY_MAX);
				return ERR_BAD_SPEC;
			}
			idx[(*n)++] = (uint32_t)i;
		}
		p = *stop ? stop + 1 : stop;
		if (*stop && !*p) {
			snprintf(err, errlen, "--array ends with ','");
			return ERR_BAD_SPEC;
		}
	}
	if (*n == 0) {
		snprintf(err, errlen, "--array is empty");
		return ERR_BAD_SPEC;
	}
	return 0;
}

/* name with each "%a" replaced by index (or "-INDEX" added); -1 if it
 * does not fit. */
static int cli_array_name(const char *name, uint32_t index, char *out, size_t len)
{
	size_t o = 0;
	bool subst = strstr(name, "%a") != NULL;
	int w;

	for (const char *p = name; *p; p++) {
		if (subst && p[0] == '%' && p[1] == 'a') {
			w = snprintf(out + o, len - o, "%u", (unsigned)index);
			p++;
		} else {
			w = snprintf(out + o, len - o, "%c", *p);
		}
		if (w < 0 || (size_t)w >= len - o)
			return -1;
		o += (size_t)w;
	}
	if (!subst) {
		w = snprintf(out + o, len - o, "-%u", (unsigned)index);
		if (w < 0 || (size_t)w >= len - o)
			return -1;
	}
	return 0;
}

int cli_array_expand(const struct cli_job *j, const uint32_t *idx, uint32_t n, struct cli_job **out,
		     char *err, size_t errlen)
{
	struct cli_job *jobs = calloc(n ? n : 1, sizeof(*jobs));

	if (!jobs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct cli_job *c = &jobs[i];
		int w;

		*c = *j;
		/* no name: MODEL-INDEX (31 + 7 bytes at most), so the jobs differ */
		c->set |= 1u << CLI_KEY_NAME;
		if (cli_array_name(cli_job_has(j, CLI_KEY_NAME) ? j->name : j->model, idx[i], c->name,
				   sizeof(c->name)) < 0) {
			snprintf(err, errlen, "--name with array index %u is longer than %d bytes",
				 (unsigned)idx[i], CLI_JOB_NAME_MAX);
			free(jobs);
			return ERR_BAD_SPEC;
		}
		if (!cli_job_has(j, CLI_KEY_COMMAND))
			continue;
		w = snprintf(c->command, sizeof(c->command), "HARE_ARRAY_INDEX=%u HARE_ARRAY_COUNT=%u; "
			     "export HARE_ARRAY_INDEX HARE_ARRAY_COUNT; %s", (unsigned)idx[i], (unsigned)n,
			     j->command);
		if (w < 0 || (size_t)w >= sizeof(c->command)) {
			snprintf(err, errlen, "--command with the array's variables set before it "
				 "(HARE_ARRAY_INDEX=%u ...; %zu bytes more) is longer than %d bytes",
				 (unsigned)idx[i], (size_t)w - strlen(j->command), CLI_JOB_COMMAND_MAX);
			free(jobs);
			return ERR_BAD_SPEC;
		}
	}
	*out = jobs;
	return 0;
}

/* ---- job files ---- */

/* State of one job-file parse. Its lines are read here, by the INI rules
 * (inih's: key = value or key: value, ';' or '#' comment lines, " ;" an
 * inline comment, spaces around keys and values dropped), not by inih,
 * whose lines are at most 199 bytes with their end: a command alone may
 * be 511. */
struct cli_jobfile {
	const char *name;
	struct cli_job *jobs;
	uint32_t njobs, cap;
	struct cli_job *cur;	/* NULL while in the text before the first [job] */
	char after[CLI_JOBFILE_LINE_MAX + 1];	/* cur's after value, its names resolved at its end */
	char *errbuf;
	size_t errlen;
};

static bool cli_section_is_job(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n == 3 && strncasecmp(s, "job", 3) == 0;
}

static int cli_jobfile_on_key(struct cli_jobfile *jf, int lineno, const char *key, const char *value,
			      char *err, size_t errlen)
{
	int rc;

	if (!jf->cur) {
		snprintf(err, errlen, "key '%.40s' outside a [job] section", key);
		return ERR_BAD_SPEC;
	}
	rc = cli_job_set(jf->cur, key, value, err, errlen);
	if (rc == -EINVAL) {
		snprintf(err, errlen, "unknown key '%.40s' (known: name, model, gpus, min-gpus, max-gpus, rounds, "
			 "weight, gpu-types, command, proxy, after)", key);
		return ERR_BAD_SPEC;
	}
	if (rc == 0 && cli_job_key_find(key) == CLI_KEY_AFTER) {
		/* a line holds it whole (longer ones are refused) */
		if (strlen(value) >= sizeof(jf->after)) {
			snprintf(err, errlen, "%s is longer than %zu bytes", key, sizeof(jf->after) - 1);
			return ERR_BAD_SPEC;
		}
		memcpy(jf->after, value, strlen(value) + 1);
	}
	if (rc == 0)
		jf->cur->key_line[cli_job_key_find(key)] = lineno;
	return rc;
}

static int cli_jobfile_fail(struct cli_jobfile *jf, int line, const char *reason)
{
	snprintf(jf->errbuf, jf->errlen, "%s:%d: %s", jf->name, line, reason);
	return ERR_BAD_SPEC;
}

/* Index of the one [job] before the current one named name[0..n), or
 * ERR_BAD_SPEC with the reason: none (the job itself is not earlier), or
 * several. */
static int cli_jobfile_after_find(const struct cli_jobfile *jf, const char *name, size_t n, char *reason,
				  size_t len)
{
	uint32_t cur = (uint32_t)(jf->cur - jf->jobs), found = 0;
	int index = -1, w = (int)(n > CLI_JOB_NAME_MAX ? CLI_JOB_NAME_MAX : n);

	for (uint32_t i = 0; i < cur; i++) {
		const struct cli_job *e = &jf->jobs[i];

		if (cli_job_has(e, CLI_KEY_NAME) && strlen(e->name) == n && memcmp(e->name, name, n) == 0 &&
		    found++ == 0)
			index = (int)i;
	}
	if (found == 1)
		return index;
	if (found == 0)
		snprintf(reason, len, "after: no earlier [job] is named '%.*s'%s", w, name,
			 memchr(name, ':', n) ? " (the kinds are any: and notok:)" : "");
	else
		snprintf(reason, len, "after: %u earlier [job] sections are named '%.*s'", found, w, name);
	return ERR_BAD_SPEC;
}

/* The current job's after names (its value in jf->after, item k being
 * after[k]) to the indexes of the earlier [job] sections they name; errors
 * name its after line. */
static int cli_jobfile_after(struct cli_jobfile *jf)
{
	struct cli_job *j = jf->cur;
	const char *p = jf->after;
	int line = j->key_line[CLI_KEY_AFTER];
	char reason[160];

	for (uint32_t k = 0; p && k < j->nafter; k++) {
		const char *s;
		size_t n;
		int index;

		cli_list_next(&p, &s, &n);
		cli_job_after_kind(&s, &n);
		if (j->after_ref[k] != CLI_AFTER_NAMED) {
			/* digits are a job id: a [job] named so would be mistaken */
			if (cli_jobfile_after_find(jf, s, n, reason, sizeof(reason)) >= 0) {
				snprintf(reason, sizeof(reason), "after: '%.*s' is a job id, and also the "
					 "name of an earlier [job]: rename that [job] to run after it",
					 (int)(n > 20 ? 20 : n), s);
				return cli_jobfile_fail(jf, line, reason);
			}
			continue;
		}
		index = cli_jobfile_after_find(jf, s, n, reason, sizeof(reason));
		if (index < 0)
			return cli_jobfile_fail(jf, line, reason);
		for (uint32_t m = 0; m < k; m++) {
			if (j->after_ref[m] == index) {
				snprintf(reason, sizeof(reason), "after lists '%.*s' twice",
					 (int)(n > CLI_JOB_NAME_MAX ? CLI_JOB_NAME_MAX : n), s);
				return cli_jobfile_fail(jf, line, reason);
			}
		}
		j->after_ref[k] = index;
	}
	return 0;
}

/* The current job is read whole (its section ends): check it. */
static int cli_jobfile_end(struct cli_jobfile *jf)
{
	enum cli_job_key blame;
	char reason[256];

	/* a missing key is the [job]'s; a conflict, its key's line */
	if (jf->cur && cli_job_check(jf->cur, "", &blame, reason, sizeof(reason)) < 0)
		return cli_jobfile_fail(jf, blame < CLI_KEY_COUNT && jf->cur->key_line[blame] ?
					    jf->cur->key_line[blame] : jf->cur->line, reason);
	return jf->cur ? cli_jobfile_after(jf) : 0;
}

static int cli_jobfile_begin(struct cli_jobfile *jf, int line, const char *hdr, size_t n)
{
	const char *close = memchr(hdr, ']', n);

	if (!close)
		return cli_jobfile_fail(jf, line, "section header without ']'");
	if (!cli_section_is_job(hdr + 1, (size_t)(close - hdr - 1))) {
		char reason[128];

		snprintf(reason, sizeof(reason), "unknown section [%.*s] (expected [job])",
			 (int)(close - hdr - 1 > 40 ? 40 : close - hdr - 1), hdr + 1);
		return cli_jobfile_fail(jf, line, reason);
	}
	if (jf->njobs == CLI_JOBFILE_JOBS_MAX)
		return cli_jobfile_fail(jf, line, "too many [job] sections (at most 1000 per file)");
	if (jf->njobs == jf->cap) {
		uint32_t cap = jf->cap ? jf->cap * 2 : 8;
		struct cli_job *jobs = realloc(jf->jobs, cap * sizeof(*jobs));

		if (!jobs)
			return -ENOMEM;
		jf->jobs = jobs;
		jf->cap = cap;
	}
	jf->cur = &jf->jobs[jf->njobs++];
	cli_job_init(jf->cur);
	jf->cur->line = line;
	jf->after[0] = '\0';
	return 0;
}

/* What an INI reader makes of one line (inih's rules). */
enum cli_line_kind { CLI_LINE_BLANK, CLI_LINE_COMMENT, CLI_LINE_SECTION, CLI_LINE_KEY, CLI_LINE_CONTINUATION };

static enum cli_line_kind cli_line_classify(const char *line, size_t n, bool after_key, const char **start)
{
	const char *s = line;

	while (s < line + n && isspace((unsigned char)*s))
		s++;
	*start = s;
	if (s == line + n)
		return CLI_LINE_BLANK;
	if (*s == ';' || *s == '#')
		return CLI_LINE_COMMENT;
	if (after_key && s > line)
		return CLI_LINE_CONTINUATION;
	if (*s == '[')
		return CLI_LINE_SECTION;
	return CLI_LINE_KEY;
}

/* Whether the INI reader would see an inline comment in the n bytes at s:
 * a ';' after a space or a tab. */
static bool cli_comment_at(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (s[i] == ';' && (s[i - 1] == ' ' || s[i - 1] == '\t'))
			return true;
	return false;
}

/* The offset in s[0..n) of the first byte in chars (none: n), or of an
 * inline comment before it: a ';' after white space (inih's
 * find_chars_or_comment). */
static size_t cli_ini_find(const char *s, size_t n, const char *chars)
{
	bool was_space = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strchr(chars, s[i]) || (was_space && s[i] == ';'))
			break;
		was_space = isspace((unsigned char)s[i]);
	}
	return i;
}

/* A key line, from its first byte (s, n bytes without the line's end): the
 * key and the value as inih would give them, to cli_jobfile_on_key. */
static int cli_jobfile_key(struct cli_jobfile *jf, int lineno, const char *s, size_t n)
{
	char key[CLI_JOBFILE_LINE_MAX + 1], value[CLI_JOBFILE_LINE_MAX + 1], reason[256] = "";
	size_t k = cli_ini_find(s, n, "=:"), v, vn;
	int rc;

	if (k == n || (s[k] != '=' && s[k] != ':'))
		return cli_jobfile_fail(jf, lineno, "syntax error (expected [section] or key = value)");
	v = k + 1;
	vn = cli_ini_find(s + v, n - v, "");
	while (k > 0 && isspace((unsigned char)s[k - 1]))
		k--;
	while (vn > 0 && isspace((unsigned char)s[v])) {
		v++;
		vn--;
	}
	while (vn > 0 && isspace((unsigned char)s[v + vn - 1]))
		vn--;
	memcpy(key, s, k);
	key[k] = '\0';
	memcpy(value, s + v, vn);
	value[vn] = '\0';
	rc = cli_jobfile_on_key(jf, lineno, key, value, reason, sizeof(reason));
	if (rc < 0)
		return cli_jobfile_fail(jf, lineno, reason);
	return 0;
}

/* One line (n bytes, without its line end): a key of the current job, or
 * a section header that ends it and starts the next. */
static int cli_jobfile_line(struct cli_jobfile *jf, const char *line, size_t n, int lineno, bool *after_key)
{
	const char *start;
	enum cli_line_kind kind = cli_line_classify(line, n, *after_key, &start);
	int rc;

	if (n > CLI_JOBFILE_LINE_MAX) {
		char reason[64];

		snprintf(reason, sizeof(reason), "line too long (at most %d bytes)", CLI_JOBFILE_LINE_MAX);
		return cli_jobfile_fail(jf, lineno, reason);
	}
	/* an indented line continues the previous value in INI files: refused,
	 * so that the file means the same to any INI reader */
	if (kind == CLI_LINE_CONTINUATION)
		return cli_jobfile_fail(jf, lineno, "indented line would continue the previous value; start "
					"each key in the first column");
	/* ';' after a space or tab starts a comment: a shell's "a ; b" would
	 * quietly lose "; b" */
	if (kind == CLI_LINE_KEY && (size_t)(line + n - start) > 7 && strncmp(start, "command", 7) == 0 &&
	    (start[7] == ' ' || start[7] == '=' || start[7] == ':' || start[7] == '\t') &&
	    cli_comment_at(start, (size_t)(line + n - start)))
		return cli_jobfile_fail(jf, lineno, "command: \" ;\" starts a comment here, so the "
					"command would end before it; put the commands in a script, or "
					"write ';' with no space before it");
	/* As in the INI reader, only a well-formed key = value line makes
	 * the next indented line its continuation. */
	if (kind == CLI_LINE_KEY && (memchr(start, '=', (size_t)(line + n - start)) ||
				     memchr(start, ':', (size_t)(line + n - start))))
		*after_key = true;
	if (kind == CLI_LINE_KEY)
		return cli_jobfile_key(jf, lineno, start, (size_t)(line + n - start));
	if (kind != CLI_LINE_SECTION)
		return 0;
	rc = cli_jobfile_end(jf);
	if (rc == 0)
		rc = cli_jobfile_begin(jf, lineno, start, (size_t)(line + n - start));
	*after_key = false;
	return rc;
}

static int cli_jobfile_scan(struct cli_jobfile *jf, const char *text)
{
	const char *p = text;
	int lineno = 1, rc;
	bool after_key = false;

	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		rc = cli_jobfile_line(jf, p, n, lineno, &after_key);
		if (rc < 0)
			return rc;
		if (!nl)
			break;
		p = nl + 1;
		lineno++;
	}
	rc = cli_jobfile_end(jf);
	if (rc == 0 && jf->njobs == 0) {
		snprintf(jf->errbuf, jf->errlen, "%s: no [job] section", jf->name);
		rc = ERR_BAD_SPEC;
	}
	return rc;
}

int cli_jobfile_parse(const char *name, const char *text, struct cli_job **jobs, uint32_t *njobs,
		      char *errbuf, size_t errlen)
{
	struct cli_jobfile jf = { .name = name, .errbuf = errbuf, .errlen = errlen };
	int rc = cli_jobfile_scan(&jf, text);

	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(errbuf, errlen, "%s: out of memory", name);
		free(jf.jobs);
		return rc;
	}
	*jobs = jf.jobs;
	*njobs = jf.njobs;
	return 0;
}

int cli_jobfile_load(const char *path, struct cli_job **jobs, uint32_t *njobs, char *errbuf, size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	char *text;
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	text = malloc(CLI_JOBFILE_BYTES_MAX + 1);
	n = text ? fread(text, 1, CLI_JOBFILE_BYTES_MAX + 1, f) : 0;
	rc = !text ? -ENOMEM : ferror(f) ? (errno ? -errno : -EIO) : 0;
	if (!is_stdin)
		fclose(f);
	if (rc < 0)
		snprintf(errbuf, errlen, "%s: %s", name, rc == -ENOMEM ? "out of memory" :
			 rc == -EISDIR ? "is a directory, not a job file" : strerror(-rc));
	else if (n > CLI_JOBFILE_BYTES_MAX)
		snprintf(errbuf, errlen, "%s: larger than %u bytes", name, CLI_JOBFILE_BYTES_MAX);
	else if (memchr(text, '\0', n))
		snprintf(errbuf, errlen, "%s: not a text file (has a NUL byte)", name);
	else {
		text[n] = '\0';
		rc = cli_jobfile_parse(name, text, jobs, njobs, errbuf, errlen);
		free(text);
		return rc;
	}
	free(text);
	return rc < 0 ? rc : ERR_BAD_SPEC;
}
