/* SPDX-License-Identifier: MIT */
/* Job specifications for harectl submit: key parsing and validation shared
 * by flags and job files, and conversion to JobSpec. */
#include "job_impl.h"

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
void cli_list_next(const char **p, const char **item, size_t *n)
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
uint8_t cli_job_after_kind(const char **s, size_t *n)
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
