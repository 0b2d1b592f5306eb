/* SPDX-License-Identifier: MIT */
/* What happened, as harectl history and usage print it: a job's or a node's
 * events, and GPU-hours per user and type; tables and JSON. */
#include "format_impl.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- history ---- */

static void cli_history_row(struct cli_table *t, size_t r, const void *user)
{
	const Hare__HistoryReply *h = user;
	const Hare__JobEvent *e = h->events[r];
	const char *detail = e->detail ? e->detail : "";
	char iso[40] = "-";
	struct tm tm;

	if (e->time > 0 && cli_localtime(e->time, &tm))
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm);
	/* a node's events: its name before the why is left out */
	if (h->node && h->node[0] && strncmp(detail, h->node, strlen(h->node)) == 0) {
		size_t n = strlen(h->node);

		if (detail[n] == '\0')
			detail += n;
		else if (detail[n] == ':' && detail[n + 1] == ' ')
			detail += n + 2;
	}
	cli_table_set(t, 0, "%s", iso);
	cli_table_set(t, 1, "%s", cli_str(e->kind));
	cli_table_set(t, 2, "%s", detail[0] ? detail : "-");
}

int cli_history_print(FILE *f, const Hare__HistoryReply *h, FILE *err)
{
	static const char *const headers[] = { "TIME", "EVENT", "DETAIL" };

	char whose[96];

	if (h->node && h->node[0]) {
		char node[72];

		snprintf(whose, sizeof(whose), "node %s", cli_text_clean(h->node, node, sizeof(node)));
	} else {
		snprintf(whose, sizeof(whose), "job %llu", (unsigned long long)h->job_id);
	}
	if (h->n_events == 0) {
		fprintf(err, "harectl: %s has no events\n", whose);
		return 0;
	}
	cli_table_print(f, 3, headers, h->n_events, cli_history_row, h);
	if (h->has_cut && h->cut)
		fprintf(err, "harectl: older events of %s not shown\n", whose);
	return 0;
}

void cli_history_print_json(FILE *f, const Hare__HistoryReply *h)
{
	if (h->node && h->node[0]) {
		fputs("{\"node\":", f);
		cli_json_string(f, h->node);
		fputs(",\"events\":[", f);
	} else {
		fprintf(f, "{\"job_id\":%llu,\"events\":[", (unsigned long long)h->job_id);
	}
	for (size_t i = 0; i < h->n_events; i++) {
		const Hare__JobEvent *e = h->events[i];

		fprintf(f, "%s{", i ? "," : "");
		fprintf(f, "\"time\":");
		cli_json_double(f, e->time);
		cli_json_key(f, "kind");
		cli_json_string(f, cli_str(e->kind));
		cli_json_key(f, "detail");
		cli_json_string(f, e->detail ? e->detail : "");
		fputc('}', f);
	}
	fprintf(f, "],\"cut\":%s}\n", h->has_cut && h->cut ? "true" : "false");
}

/* ---- usage ---- */

#define CLI_USAGE_TYPES (CLI_COLS - 4)	/* type columns; the rest in OTHER */

/* The usage table: the GPU types of every user's rows, by name. */
struct cli_usage {
	const Hare__UsageReply *u;
	const char *types[CLI_USAGE_TYPES];
	uint32_t ntypes;
	bool other;			/* more types than columns */
};

static int cli_str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Column of a type, or CLI_USAGE_TYPES for OTHER. */
static uint32_t cli_usage_col(const struct cli_usage *c, const char *type)
{
	for (uint32_t k = 0; k < c->ntypes; k++)
		if (strcmp(c->types[k], type) == 0)
			return k;
	return CLI_USAGE_TYPES;
}

static void cli_usage_row(struct cli_table *t, size_t r, const void *user)
{
	const struct cli_usage *c = user;
	const Hare__UsageReply *u = c->u;
	double col[CLI_USAGE_TYPES + 1] = { 0 }, total = 0;
	bool has[CLI_USAGE_TYPES + 1] = { false };
	uint64_t jobs = 0;
	char h[32];

	/* rows 0..n-1: the users; row n: TOTAL */
	for (size_t i = r < u->n_users ? r : 0; i < (r < u->n_users ? r + 1 : u->n_users); i++) {
		const Hare__UserUsage *x = u->users[i];

		jobs += x->jobs;
		total += isfinite(x->gpu_s) ? x->gpu_s : 0;
		for (size_t k = 0; k < x->n_types; k++) {
			uint32_t at = cli_usage_col(c, cli_str(x->types[k]->gpu_type));

			col[at] += isfinite(x->types[k]->gpu_s) ? x->types[k]->gpu_s : 0;
			has[at] = true;
		}
	}
	cli_table_set(t, 0, "%s", r < u->n_users ? cli_str(u->users[r]->user) : "TOTAL");
	cli_table_set(t, 1, "%llu", (unsigned long long)jobs);
	cli_hours_format(total, h, sizeof(h));
	cli_table_set(t, 2, "%s", h);
	for (uint32_t k = 0; k < c->ntypes + (c->other ? 1 : 0); k++) {
		uint32_t at = k < c->ntypes ? k : CLI_USAGE_TYPES;

		cli_hours_format(col[at], h, sizeof(h));
		cli_table_set(t, 3 + k, "%s", has[at] ? h : "-");
	}
}

int cli_usage_print(FILE *f, const Hare__UsageReply *u, FILE *err)
{
	struct cli_usage c = { .u = u };
	const char *headers[CLI_COLS] = { "USER", "JOBS", "GPU-HOURS" };
	const char **all = NULL;
	size_t nall = 0, cap = 0;
	char from[40] = "-", to[40] = "-";
	struct tm tm;

	if (cli_localtime(u->since, &tm))
		strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%S%z", &tm);
	if (cli_localtime(u->until, &tm))
		strftime(to, sizeof(to), "%Y-%m-%dT%H:%M:%S%z", &tm);
	fprintf(f, "GPU time from %s to %s\n", from, to);
	if (u->n_users == 0) {
		fprintf(f, "no job held a GPU then\n");
		return 0;
	}
	for (size_t i = 0; i < u->n_users; i++)
		cap += u->users[i]->n_types;
	all = calloc(cap ? cap : 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < u->n_users; i++)
		for (size_t k = 0; k < u->users[i]->n_types; k++)
			all[nall++] = cli_str(u->users[i]->types[k]->gpu_type);
	qsort(all, nall, sizeof(*all), cli_str_cmp);
	for (size_t i = 0; i < nall; i++) {
		if (i > 0 && strcmp(all[i], all[i - 1]) == 0)
			continue;
		if (c.ntypes == CLI_USAGE_TYPES)
			c.other = true;
		else
			c.types[c.ntypes++] = all[i];
	}
	for (uint32_t k = 0; k < c.ntypes; k++)
		headers[3 + k] = c.types[k];
	if (c.other)
		headers[3 + c.ntypes] = "OTHER";
	cli_table_print(f, 3 + c.ntypes + (c.other ? 1 : 0), headers,
			u->n_users + (u->n_users > 1 ? 1 : 0), cli_usage_row, &c);
	free(all);
	if (u->has_cut && u->cut)
		fprintf(err, "harectl: more users than one reply holds; the rest are not shown and "
			"not in TOTAL (--user NAME gives one)\n");
	return 0;
}

void cli_usage_print_json(FILE *f, const Hare__UsageReply *u)
{
	fputs("{\"since\":", f);
	cli_json_double(f, u->since);
	cli_json_key(f, "until");
	cli_json_double(f, u->until);
	fputs(",\"users\":[", f);
	for (size_t i = 0; i < u->n_users; i++) {
		const Hare__UserUsage *x = u->users[i];

		fputs(i ? ",\n  {\"user\":" : "\n  {\"user\":", f);
		cli_json_string(f, cli_str(x->user));
		fprintf(f, ",\"jobs\":%u", x->jobs);
		cli_json_key(f, "gpu_seconds");
		cli_json_double(f, x->gpu_s);
		cli_json_key(f, "types");
		cli_json_gpu_times(f, x->types, x->n_types);
		fputc('}', f);
	}
	fprintf(f, "%s],\"cut\":%s}\n", u->n_users ? "\n" : "", u->has_cut && u->cut ? "true" : "false");
}
