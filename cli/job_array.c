/* SPDX-License-Identifier: MIT */
/* harectl submit --array: the index list ("0-9", "1,3,8-12", "0-99:10") and
 * the jobs made from one job and those indexes. */
#include "job.h"

#include "err.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
