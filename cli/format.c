/* SPDX-License-Identifier: MIT */
/* Output of harectl: aligned tables, job details, JSON, and the small
 * formatters (relative times, progress, GPU types) they share. */
#include "format.h"

#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

/* ---- JSON ---- */

/* Where escaped text goes: a bounded buffer (counting what it needs) or a
 * stream. */
struct cli_sink {
	FILE *f;
	char *buf;
	size_t cap;
	size_t n;
};

static void cli_sink_put(struct cli_sink *k, const char *p, size_t len)
{
	if (k->f) {
		fwrite(p, 1, len, k->f);
		return;
	}
	for (size_t i = 0; i < len; i++, k->n++)
		if (k->n + 1 < k->cap)
			k->buf[k->n] = p[i];
}

static bool cli_utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

bool cli_utf8_valid(const char *str)
{
	return utf8_valid(str);
}

static void cli_json_escape_to(struct cli_sink *k, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		unsigned char c = *s;
		char esc[8];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			cli_sink_put(k, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			const char *named = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" :
					    c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;

			if (!named) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				named = esc;
			}
			cli_sink_put(k, named, strlen(named));
		} else if (c < 0x80) {
			cli_sink_put(k, (const char *)s, 1);
		} else if ((n = utf8_seq_len(s)) > 0) {	/* c >= 0x80: 2..4, or 0 */
			cli_sink_put(k, (const char *)s, n);
			s += n;
			continue;
		} else {
			cli_sink_put(k, "\\ufffd", 6);
		}
		s++;
	}
}

size_t cli_json_escape(const char *s, char *buf, size_t buflen)
{
	struct cli_sink k = { .buf = buf, .cap = buflen };

	cli_json_escape_to(&k, s);
	if (buflen > 0)
		buf[k.n < buflen ? k.n : buflen - 1] = '\0';
	return k.n;
}

void cli_json_string(FILE *f, const char *s)
{
	struct cli_sink k = { .f = f };

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	cli_json_escape_to(&k, s);
	fputc('"', f);
}

/* Shortest of %.15g / %.17g that reads back as v; non-finite as null. */
static void cli_json_double(FILE *f, double v)
{
	char b[40];

	if (!isfinite(v)) {
		fputs("null", f);
		return;
	}
	snprintf(b, sizeof(b), "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, sizeof(b), "%.17g", v);
	fputs(b, f);
}

/* ---- small formatters ---- */

/* Held by harectl hold (by its owner or by root)? */
static bool cli_job_held(const Hare__JobInfo *j)
{
	/* an ended job's hold means nothing any more */
	return j->has_held && j->held != HARE__JOB_HELD__JOB_HELD_NONE &&
	       (j->state == HARE__JOB_STATE__QUEUED || j->state == HARE__JOB_STATE__RUNNING);
}

/* Queued until the jobs it runs after are DONE (harectl queue: WAITING)? */
static bool cli_job_waiting(const Hare__JobInfo *j)
{
	return j->state == HARE__JOB_STATE__QUEUED && j->n_after_pending > 0;
}

static const char *cli_held_by(const Hare__JobInfo *j)
{
	return j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? "root" : "owner";
}

const char *cli_state_name(int state)
{
	switch (state) {
	case HARE__JOB_STATE__QUEUED: return "QUEUED";
	case HARE__JOB_STATE__RUNNING: return "RUNNING";
	case HARE__JOB_STATE__DONE: return "DONE";
	case HARE__JOB_STATE__CANCELLED: return "CANCELLED";
	case HARE__JOB_STATE__FAILED: return "FAILED";
	default: return "UNKNOWN";
	}
}

bool cli_state_ended(int state)
{
	return state == HARE__JOB_STATE__DONE || state == HARE__JOB_STATE__CANCELLED ||
	       state == HARE__JOB_STATE__FAILED;
}

/* A span: seconds under a minute, minutes and seconds under ten minutes
 * (110 s is 1m50s, not "1m"), then minutes, rounded to the nearest. */
static void cli_span_format(double secs, char *buf, size_t len)
{
	long s = (long)(secs + 0.5), m = (s + 30) / 60;

	if (s < 60)
		snprintf(buf, len, "%lds", s);
	else if (s < 600 && s % 60)
		snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
	else if (m < 60)
		snprintf(buf, len, "%ldm", m);
	else
		snprintf(buf, len, "%ldh%02ldm", m / 60, m % 60);
}

/* Local time of t, false where t is not a time_t at all (converting such a
 * double is undefined) or has no calendar date. */
static bool cli_localtime(double t, struct tm *tm)
{
	time_t tt;

	if (!(t > -9.2e18 && t < 9.2e18))
		return false;
	tt = (time_t)t;
	return localtime_r(&tt, tm) != NULL;
}

void cli_time_format(double t, double now, bool estimate, char *buf, size_t len)
{
	const char *tilde = estimate ? "~" : "";
	double d = t - now;
	char span[32];

	if (!isfinite(t)) {
		snprintf(buf, len, "-");
	} else if (fabs(d) < 1 || (estimate && d < 0)) {
		snprintf(buf, len, "%snow", tilde);
	} else if (fabs(d) >= 86400) {
		struct tm tm;

		if (cli_localtime(t, &tm) && strftime(span, sizeof(span), "%Y-%m-%dT%H:%M", &tm))
			snprintf(buf, len, "%s%s", tilde, span);
		else
			snprintf(buf, len, "-");
	} else {
		cli_span_format(fabs(d), span, sizeof(span));
		snprintf(buf, len, d > 0 ? "%sin %s" : "%s%s ago", tilde, span);
	}
}

void cli_progress_format(uint64_t done, uint64_t total, char *buf, size_t len)
{
	if (total == 0)
		snprintf(buf, len, "%llu/0", (unsigned long long)done);
	else
		snprintf(buf, len, "%llu/%llu (%.1f%%)", (unsigned long long)done, (unsigned long long)total,
			 100.0 * (double)done / (double)total);
}

/* Count names by first appearance and write "2xV100+1xT4". */
static void cli_count_join(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		size_t count = 0;
		bool seen = false;
		int w;

		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(names[k], names[i]) == 0;
		if (seen)
			continue;
		for (size_t k = i; k < n; k++)
			count += strcmp(names[k], names[i]) == 0;
		w = snprintf(buf + used, len - used, "%s%zux%s", used ? "+" : "", count, names[i]);
		used += w > 0 ? (size_t)w : 0;
	}
}

static const char *cli_str(const char *s)
{
	return s ? s : "";
}

void cli_types_format(const Hare__JobInfo *j, char *buf, size_t len)
{
	const char *names[256];
	size_t n = 0;

	if (len == 0)
		return;
	if (j->n_placement == 0) {
		size_t used = 0;

		snprintf(buf, len, "%s", j->n_gpu_types ? "" : "any");
		for (size_t i = 0; i < j->n_gpu_types && used < len; i++) {
			int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", cli_str(j->gpu_types[i]));

			used += w > 0 ? (size_t)w : 0;
		}
		return;
	}
	for (size_t i = 0; i < j->n_placement && n < 256; i++)
		names[n++] = j->placement[i]->gpu_type ? j->placement[i]->gpu_type : "?";
	cli_count_join(names, n, buf, len);
}

/* ---- tables ---- */

#define CLI_CELL 128
#define CLI_COLS 16

/* A table made one row at a time, twice (cli_table_print): the first pass
 * measures the columns, the second prints; only one row is held, so a
 * reply of many jobs needs no more memory than the reply itself. */
struct cli_table {
	uint32_t ncols;
	char cells[CLI_COLS][CLI_CELL];	/* the row being made */
	size_t width[CLI_COLS];
};

/* Fill row r's cells with cli_table_set. */
typedef void (*cli_row_fn)(struct cli_table *t, size_t r, const void *user);

void cli_controls_mask(char *s, size_t n, bool keep_newlines)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && !(keep_newlines && c == '\n')) || c == 0x7f) {
			s[i] = '?';
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			   (unsigned char)s[i + 1] <= 0x9f) {
			/* U+0080..U+009F in UTF-8: C1 controls (U+009B is a CSI) */
			s[i] = s[i + 1] = '?';
			i++;
		} else if (c >= 0x80) {
			/* a byte that starts no valid character (an older hared
			 * stored anything) is shown as '?'; a valid one is kept */
			size_t len = utf8_seq_len((const unsigned char *)s + i);

			if (len == 0 || i + len > n)
				s[i] = '?';
			else if (utf8_bidi_len((const unsigned char *)s + i))
				memset(s + i, '?', len), i += len - 1;	/* a text shown as another */
			else
				i += len - 1;
		}
	}
}

const char *cli_text_clean(const char *src, char *buf, size_t len)
{
	snprintf(buf, len, "%s", src ? src : "");
	cli_controls_mask(buf, len, false);
	return buf;
}

/* Set a cell of the row being made; control characters become '?' so a
 * name cannot break the table, and a cut one ends with "..." (-o json has
 * it whole). */
__attribute__((format(printf, 3, 4)))
static void cli_table_set(struct cli_table *t, uint32_t col, const char *fmt, ...)
{
	char *cell = t->cells[col];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cell, CLI_CELL, fmt, ap);
	va_end(ap);
	if (n >= CLI_CELL) {
		size_t end = CLI_CELL - 4;

		while (end > 0 && cli_utf8_cont((unsigned char)cell[end]))
			end--;	/* not in the middle of a character */
		memcpy(cell + end, "...", 4);
	}
	cli_controls_mask(cell, CLI_CELL, false);
}

/* Display width of a cell (valid UTF-8 once masked): each character's
 * wcwidth where the locale knows it (2 for CJK, 0 for a combining mark),
 * else 1. */
static size_t cli_width(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t w = 0;

	while (*s) {
		size_t n = utf8_seq_len(s);
		wchar_t cp;
		int cw;

		if (n <= 1) {	/* ASCII, or a byte the mask left */
			w++;
			s++;
			continue;
		}
		cp = (wchar_t)(s[0] & (0x7f >> n));
		for (size_t i = 1; i < n; i++)
			cp = (wchar_t)((cp << 6) | (s[i] & 0x3f));
		cw = wcwidth(cp);
		w += cw >= 0 ? (size_t)cw : 1;
		s += n;
	}
	return w;
}

static void cli_table_row_print(FILE *f, const struct cli_table *t)
{
	for (uint32_t c = 0; c < t->ncols; c++) {
		const char *cell = t->cells[c];

		if (c + 1 == t->ncols)
			fprintf(f, "%s\n", cell);
		else
			fprintf(f, "%s%*s  ", cell, (int)(t->width[c] - cli_width(cell)), "");
	}
}

/* The header, then rows 0..nrows-1 made by fn, columns as wide as their
 * widest cell. */
static void cli_table_print(FILE *f, uint32_t ncols, const char *const *headers, size_t nrows,
			    cli_row_fn fn, const void *user)
{
	struct cli_table t = { .ncols = ncols < CLI_COLS ? ncols : CLI_COLS };

	for (int pass = 0; pass < 2; pass++) {
		for (size_t r = 0; r <= nrows; r++) {
			for (uint32_t c = 0; c < t.ncols; c++)
				t.cells[c][0] = '\0';
			if (r == 0)	/* masked and cut as cells (usage's are GPU type names) */
				for (uint32_t c = 0; c < t.ncols; c++)
					cli_table_set(&t, c, "%s", headers[c]);
			else
				fn(&t, r - 1, user);
			if (pass == 1) {
				cli_table_row_print(f, &t);
				continue;
			}
			for (uint32_t c = 0; c < t.ncols; c++) {
				size_t w = cli_width(t.cells[c]);

				t.width[c] = w > t.width[c] ? w : t.width[c];
			}
		}
	}
}

static void cli_gpus_format(const Hare__JobInfo *j, char *buf, size_t len)
{
	uint32_t lo = j->has_min_gpus ? j->min_gpus : 1;
	uint32_t hi = j->has_max_gpus ? j->max_gpus : j->tasks;

	if (j->n_placement > 0)
		snprintf(buf, len, "%zu", j->n_placement);
	else if (lo >= hi)
		snprintf(buf, len, "%u", hi);
	else
		snprintf(buf, len, "%u-%u", lo, hi);
}

static bool cli_job_active(const Hare__JobInfo *j)
{
	return j->state == HARE__JOB_STATE__QUEUED || j->state == HARE__JOB_STATE__RUNNING;
}

/* START and FINISH: the actual time when there is one, else the plan's
 * estimate (while the job is active), else "-". */
static void cli_when_format(bool has_actual, double actual, bool has_est, double est, bool active, double now,
			    char *buf, size_t len)
{
	if (has_actual && actual > 0)
		cli_time_format(actual, now, false, buf, len);
	else if (active && has_est && est > 0 && isfinite(est))
		cli_time_format(est, now, true, buf, len);
	else
		snprintf(buf, len, "-");
}

struct cli_queue_rows {
	const Hare__QueueReply *q;
	double now;
};

static void cli_queue_row(struct cli_table *t, size_t r, const void *user)
{
	const struct cli_queue_rows *qr = user;
	const Hare__JobInfo *j = qr->q->jobs[r];
	double now = qr->now;
	char cell[CLI_CELL];
	bool active = cli_job_active(j);

	cli_table_set(t, 0, "%llu", (unsigned long long)j->job_id);
	cli_table_set(t, 1, "%s", cli_str(j->user));
	cli_table_set(t, 2, "%s", j->name && j->name[0] ? j->name : "-");
	/* a hold outranks the wait: release is what it needs first */
	cli_table_set(t, 3, "%s", cli_job_held(j) && j->state == HARE__JOB_STATE__QUEUED ? "HELD" :
		      cli_job_waiting(j) ? "WAITING" : cli_state_name(j->state));
	cli_gpus_format(j, cell, sizeof(cell));
	cli_table_set(t, 4, "%s", cell);
	cli_types_format(j, cell, sizeof(cell));
	cli_table_set(t, 5, "%s", cell);
	cli_progress_format(j->rounds_done, j->rounds_total, cell, sizeof(cell));
	cli_table_set(t, 6, "%s", cell);
	if (active && j->has_order)
		cli_table_set(t, 7, "%u", j->order + 1);
	else
		cli_table_set(t, 7, "-");
	if (cli_job_waiting(j) && !(j->has_start_time && j->start_time > 0))
		/* no estimate: it starts once these are DONE */
		snprintf(cell, sizeof(cell), "after %llu%s", (unsigned long long)j->after_pending[0],
			 j->n_after_pending > 1 ? " +more" : "");
	else
		cli_when_format(j->has_start_time, j->start_time, j->has_est_start, j->est_start, active,
				now, cell, sizeof(cell));
	cli_table_set(t, 8, "%s", cell);
	cli_when_format(j->has_finish_time, j->finish_time, j->has_est_finish, j->est_finish, active, now, cell,
			sizeof(cell));
	cli_table_set(t, 9, "%s", cell);
}

/* The daemon's plan count and decision latency, when it sent them. */
static void cli_queue_footer(FILE *f, const Hare__QueueReply *q)
{
	if (!q->has_plans)
		return;
	fprintf(f, "plans: %llu", (unsigned long long)q->plans);
	if (q->has_plan_p50_ms && q->has_plan_p99_ms)
		fprintf(f, "  decision latency p50 %.3g ms, p99 %.3g ms", q->plan_p50_ms,
			q->plan_p99_ms);
	fputc('\n', f);
}

void cli_queue_cut_note(FILE *err, const Hare__QueueReply *q, bool filters, bool all)
{
	if (!q->has_cut_jobs || q->cut_jobs == 0)
		return;
	fprintf(err, "harectl: %u more job%s not shown (%s): the queue is more than one reply of "
		"hared holds", q->cut_jobs, q->cut_jobs == 1 ? "" : "s",
		all ? "finished ones first, the oldest first, then the newest active ones" :
		"the newest");
	/* --state chooses among the jobs hared sent, not before */
	if (filters)
		fprintf(err, "; --state chooses among the jobs sent, so some left out may match too");
	if (all)
		fprintf(err, "; without --all (and finished states in --state) hared sends active "
			"jobs only\n");
	else
		fprintf(err, "; harectl show JOBID shows any job\n");
}

int cli_queue_print(FILE *f, const Hare__QueueReply *q, double now)
{
	static const char *const headers[] = { "JOBID", "USER", "NAME", "STATE", "GPUS", "TYPES", "PROGRESS",
					       "ORDER", "START", "FINISH" };
	struct cli_queue_rows qr = { .q = q, .now = now };

	cli_table_print(f, 10, headers, q->n_jobs, cli_queue_row, &qr);
	cli_queue_footer(f, q);
	return 0;
}

/* An up node whose health check fails (its reason). */
static bool cli_node_unhealthy(const Hare__NodeInfo *node)
{
	return node->up && node->unhealthy && node->unhealthy[0];
}

static const char *cli_node_state(const Hare__NodeInfo *node, size_t busy)
{
	if (node->drained)
		return busy ? "draining" : "drained";
	if (cli_node_unhealthy(node))
		return "unhealthy";
	return node->up ? "up" : "down";
}

/* Whether a comma-separated list holds name. */
static bool cli_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t w = end ? (size_t)(end - p) : strlen(p);

		if (w == n && strncmp(p, name, n) == 0)
			return true;
		p += w + (end != NULL);
	}
	return false;
}

/* Append name to a comma-separated list unless it is there already. */
static void cli_list_add(char *list, size_t len, const char *name)
{
	size_t used = strlen(list);

	if (!cli_list_has(list, name))
		snprintf(list + used, len - used, "%s%s", used ? "," : "", name);
}

struct cli_node_rows {
	const Hare__NodesReply *n;
	double now;
};

static void cli_node_row(struct cli_table *t, size_t i, const void *user)
{
	const struct cli_node_rows *nr = user;
	const Hare__NodeInfo *node = nr->n->nodes[i];
	const char *names[256];
	size_t busy = 0, k = 0, unused = 0;
	char cell[CLI_CELL], unprofiled[CLI_CELL] = "", measuring[CLI_CELL] = "";
	char seen[2 * CLI_CELL] = "";

	for (size_t g = 0; g < node->n_gpus; g++) {
		const char *type = cli_str(node->gpus[g]->type);

		/* a stopped worker still runs there until it exits */
		busy += (node->gpus[g]->has_job_id && node->gpus[g]->job_id != 0) ||
			node->gpus[g]->stopping;
		if (node->gpus[g]->unprofiled || node->gpus[g]->measuring)
			unused++;
		/* every such type, once each */
		if (node->gpus[g]->measuring)
			cli_list_add(measuring, sizeof(measuring), type);
		if (k < 256)
			names[k++] = type;
	}
	/* types not profiled that are not being measured on this node */
	for (size_t g = 0; g < node->n_gpus; g++) {
		char one[CLI_CELL] = "";

		cli_list_add(one, sizeof(one), cli_str(node->gpus[g]->type));
		if (!node->gpus[g]->unprofiled || cli_list_has(measuring, one))
			continue;
		cli_list_add(unprofiled, sizeof(unprofiled), one);
	}
	cli_count_join(names, k, cell, sizeof(cell));
	cli_table_set(t, 0, "%s", cli_str(node->name));
	cli_table_set(t, 1, "%s", cli_node_state(node, busy));
	cli_table_set(t, 2, "%s", cell[0] ? cell : "-");
	cli_table_set(t, 3, "%zu", busy);
	cli_table_set(t, 4, "%zu", node->up && !node->drained && !cli_node_unhealthy(node) &&
				      node->n_gpus >= busy + unused ?
				      node->n_gpus - busy - unused : 0);
	if (node->has_recent_failures && node->recent_failures > 0)
		cli_table_set(t, 5, "%u", node->recent_failures);
	else
		cli_table_set(t, 5, "-");
	if (!node->up && node->has_last_seen && node->last_seen > 0) {
		/* how long gone: a node gone for good is for harectl forget (a
		 * clock behind hared's: "now", not "in 3m") */
		cli_time_format(fmin(node->last_seen, nr->now), nr->now, false, cell, sizeof(cell));
		snprintf(seen, sizeof(seen), "last seen %s", cell);
	} else if (!node->up) {
		snprintf(seen, sizeof(seen), "not back since hared started");
	}
	if (!node->up && node->refused && node->refused[0]) {
		char when[CLI_CELL];
		size_t used = strlen(seen);

		cli_time_format(node->has_refused_at ? fmin(node->refused_at, nr->now) : nr->now,
				nr->now, false, when, sizeof(when));
		snprintf(seen + used, sizeof(seen) - used, "; refused %s %s", when, node->refused);
	}
	if (node->drained && node->drain_reason && node->drain_reason[0] && !node->up)
		cli_table_set(t, 6, "%s; down, %s", node->drain_reason, seen);
	else if (node->drained && node->drain_reason && node->drain_reason[0])
		cli_table_set(t, 6, "%s", node->drain_reason);
	else if (cli_node_unhealthy(node) && node->has_unhealthy_since) {
		cli_time_format(fmin(node->unhealthy_since, nr->now), nr->now, false, cell,
				sizeof(cell));
		cli_table_set(t, 6, "%s (since %s)", node->unhealthy, cell);
	} else if (cli_node_unhealthy(node))
		cli_table_set(t, 6, "%s", node->unhealthy);
	else if (measuring[0] && unprofiled[0])
		cli_table_set(t, 6, "measuring %s; not profiled: %s", measuring, unprofiled);
	else if (measuring[0])
		cli_table_set(t, 6, "measuring %s", measuring);
	else if (unprofiled[0])
		cli_table_set(t, 6, "not profiled: %s", unprofiled);
	else if (!node->up)
		cli_table_set(t, 6, "%s", seen);
	else if (node->has_tagged && !node->tagged)
		cli_table_set(t, 6, "agent older than hared: its frames are not tagged");
	else if (node->has_tls && !node->tls)
		cli_table_set(t, 6, "its link is not in TLS (an older agent, or its tls = no)");
	else
		cli_table_set(t, 6, "-");
}

int cli_nodes_print(FILE *f, const Hare__NodesReply *n, double now)
{
	static const char *const headers[] = { "NODE", "STATE", "GPUS", "BUSY", "FREE", "FAILS",
					       "REASON" };
	struct cli_node_rows nr = { .n = n, .now = now };

	cli_table_print(f, 7, headers, n->n_nodes, cli_node_row, &nr);
	return 0;
}

/* ---- job details ---- */

static void cli_show_time(FILE *f, const char *key, bool has, double t, bool estimate, double now)
{
	char iso[40] = "-", rel[48];
	struct tm tm;

	if (!has || !(t > 0) || !cli_localtime(t, &tm)) {
		fprintf(f, "%-13s-\n", key);
		return;
	}
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm);
	cli_time_format(t, now, estimate, rel, sizeof(rel));
	fprintf(f, "%-13s%s (%s)\n", key, iso, rel);
}

static void cli_show_placement(FILE *f, const Hare__JobInfo *j)
{
	fprintf(f, "%-13s", "placement:");
	if (j->n_placement == 0)
		fputs("-", f);
	for (size_t i = 0; i < j->n_placement; i++) {
		const Hare__JobPlacement *p = j->placement[i];

		fprintf(f, "%s%s/%u %s x%u", i ? ", " : "", cli_str(p->node), p->gpu_index, cli_str(p->gpu_type),
			p->tasks);
	}
	fputc('\n', f);
}

/* Whether id is among the n ids at v. */
static bool cli_ids_have(const uint64_t *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

/* "after:       41 (done), any:42 (waiting), notok:43 (waiting)". hared
 * lists the ones pending of an active job only: a job that ran (RUNNING,
 * DONE, FAILED) did so once each had ended as it needed, and of a
 * CANCELLED one (by its owner, or because one of them did not end so)
 * nothing is known: bare ids. */
static void cli_show_after(FILE *f, const Hare__JobInfo *j)
{
	static const char *const ended[] = { " (done)", " (ended)", " (ended, not DONE)" };
	bool queued = j->state == HARE__JOB_STATE__QUEUED;
	bool known = j->state != HARE__JOB_STATE__CANCELLED;

	if (j->n_after == 0)
		return;
	fprintf(f, "%-13s", "after:");
	for (size_t i = 0; i < j->n_after; i++) {
		bool pending = cli_ids_have(j->after_pending, j->n_after_pending, j->after[i]);
		int kind = cli_ids_have(j->after_notok, j->n_after_notok, j->after[i]) ? 2 :
			   cli_ids_have(j->after_any, j->n_after_any, j->after[i]) ? 1 : 0;

		fprintf(f, "%s%s%llu%s", i ? ", " : "", kind == 2 ? "notok:" : kind == 1 ? "any:" : "",
			(unsigned long long)j->after[i],
			!known ? "" : !pending ? ended[kind] : queued ? " (waiting)" : "");
	}
	fputc('\n', f);
}

/* GPU-hours: two decimals (36 GPU-seconds each). */
static void cli_hours_format(double gpu_s, char *buf, size_t len)
{
	snprintf(buf, len, "%.2f", isfinite(gpu_s) && gpu_s > 0 ? gpu_s / 3600 : 0.0);
}

/* "gpu_hours:   3.50 (V100 2.50, T4 1.00)": what its leases held so far. */
static void cli_show_gpu_time(FILE *f, const Hare__JobInfo *j)
{
	double total = 0;
	char h[32];

	for (size_t i = 0; i < j->n_gpu_time; i++)
		total += isfinite(j->gpu_time[i]->gpu_s) ? j->gpu_time[i]->gpu_s : 0;
	cli_hours_format(total, h, sizeof(h));
	fprintf(f, "%-13s%s", "gpu_hours:", j->n_gpu_time ? h : "-");
	for (size_t i = 0; i < j->n_gpu_time; i++) {
		cli_hours_format(j->gpu_time[i]->gpu_s, h, sizeof(h));
		fprintf(f, "%s%s %s", i ? ", " : " (", cli_str(j->gpu_time[i]->gpu_type), h);
	}
	fprintf(f, "%s\n", j->n_gpu_time ? ")" : "");
}

void cli_job_print(FILE *f, const Hare__JobInfo *j, double now)
{
	char buf[CLI_CELL];

	fprintf(f, "%-13s%llu\n", "job_id:", (unsigned long long)j->job_id);
	fprintf(f, "%-13s%s\n", "name:", j->name && j->name[0] ? j->name : "-");
	fprintf(f, "%-13s%s\n", "user:", cli_str(j->user));
	fprintf(f, "%-13s%s\n", "model:", cli_str(j->model));
	if (j->proxy && j->proxy[0])
		fprintf(f, "%-13s%s\n", "proxy:", j->proxy);
	if (j->command && j->command[0])
		fprintf(f, "%-13s%s\n", "command:", j->command);
	fprintf(f, "%-13s%s\n", "state:", cli_state_name(j->state));
	if (cli_job_held(j))
		fprintf(f, "%-13syes, by %s%s (harectl release %llu)\n", "held:",
			j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? "root" : "its owner",
			j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? ", who alone may release it" : "",
			(unsigned long long)j->job_id);
	cli_show_after(f, j);
	fprintf(f, "%-13s%u\n", "tasks:", j->tasks);
	fprintf(f, "%-13s%u%s\n", "min_gpus:", j->has_min_gpus ? j->min_gpus : 1, j->has_min_gpus ? "" : " (default)");
	fprintf(f, "%-13s%u%s\n", "max_gpus:", j->has_max_gpus ? j->max_gpus : j->tasks,
		j->has_max_gpus ? "" : " (default)");
	fprintf(f, "%-13s", "gpu_types:");
	for (size_t i = 0; i < j->n_gpu_types; i++)
		fprintf(f, "%s%s", i ? "," : "", cli_str(j->gpu_types[i]));
	fprintf(f, "%s\n", j->n_gpu_types ? "" : "any");
	fprintf(f, "%-13s%g\n", "weight:", j->weight);
	cli_progress_format(j->rounds_done, j->rounds_total, buf, sizeof(buf));
	fprintf(f, "%-13s%s\n", "rounds:", buf);
	if (j->has_loss && isfinite(j->loss))
		fprintf(f, "%-13s%.4g\n", "loss:", j->loss);
	else
		fprintf(f, "%-13s-\n", "loss:");
	if (cli_job_active(j) && j->has_order)
		fprintf(f, "%-13s%u\n", "order:", j->order + 1);
	else
		fprintf(f, "%-13s-\n", "order:");
	cli_show_placement(f, j);
	cli_show_time(f, "submit_time:", j->has_submit_time, j->submit_time, false, now);
	cli_show_time(f, "start_time:", j->has_start_time, j->start_time, false, now);
	cli_show_time(f, "finish_time:", j->has_finish_time, j->finish_time, false, now);
	/* a running job has its start_time; est_start is for one that waits */
	cli_show_time(f, "est_start:", j->has_est_start && j->state == HARE__JOB_STATE__QUEUED,
		      j->est_start, true, now);
	cli_show_time(f, "est_finish:", j->has_est_finish && cli_job_active(j), j->est_finish, true, now);
	if (j->waiting && j->waiting[0])
		fprintf(f, "%-13s%s\n", "waiting:", j->waiting);
	if (j->end_reason && j->end_reason[0])
		fprintf(f, "%-13s%s\n", "cancelled:", j->end_reason);
	if (j->n_avoided_nodes > 0) {
		fprintf(f, "%-13s", "avoiding:");
		for (size_t i = 0; i < j->n_avoided_nodes; i++)
			fprintf(f, "%s%s", i ? ", " : "", cli_str(j->avoided_nodes[i]));
		fprintf(f, " (its workers failed there)\n");
	}
	cli_show_gpu_time(f, j);
	fprintf(f, "%-13s%u\n", "restarts:", j->has_restarts ? j->restarts : 0);
	if (j->last_error && j->last_error[0]) {
		/* why a lease failed: node, rank and what the agent saw */
		fprintf(f, "%-13s%s\n", "last_error:", j->last_error);
		cli_show_time(f, "error_time:", j->has_last_error_time, j->last_error_time, false, now);
	}
}

/* ---- JSON documents ---- */

static void cli_json_key(FILE *f, const char *key)
{
	fprintf(f, ",\"%s\":", key);
}

static void cli_json_opt_u(FILE *f, const char *key, bool has, unsigned long long v)
{
	if (has) {
		cli_json_key(f, key);
		fprintf(f, "%llu", v);
	}
}

static void cli_json_opt_d(FILE *f, const char *key, bool has, double v)
{
	if (has) {
		cli_json_key(f, key);
		cli_json_double(f, v);
	}
}

static void cli_json_placement(FILE *f, const Hare__JobInfo *j)
{
	cli_json_key(f, "placement");
	fputc('[', f);
	for (size_t i = 0; i < j->n_placement; i++) {
		const Hare__JobPlacement *p = j->placement[i];

		fputs(i ? ",{\"node\":" : "{\"node\":", f);
		cli_json_string(f, cli_str(p->node));
		fprintf(f, ",\"gpu_index\":%u,\"gpu_type\":", p->gpu_index);
		cli_json_string(f, cli_str(p->gpu_type));
		fprintf(f, ",\"tasks\":%u}", p->tasks);
	}
	fputc(']', f);
}

/* ,"key":[1,2] when n > 0 */
static void cli_json_ids(FILE *f, const char *key, const uint64_t *v, size_t n)
{
	if (n == 0)
		return;
	cli_json_key(f, key);
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
	fputc(']', f);
}

/* {"V100": GPU-seconds, ...} */
static void cli_json_gpu_times(FILE *f, Hare__GpuTime *const *t, size_t n)
{
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		cli_json_string(f, cli_str(t[i]->gpu_type));
		fputc(':', f);
		cli_json_double(f, t[i]->gpu_s);
	}
	fputc('}', f);
}

static void cli_json_job(FILE *f, const Hare__JobInfo *j)
{
	fprintf(f, "{\"job_id\":%llu,\"user\":", (unsigned long long)j->job_id);
	cli_json_string(f, cli_str(j->user));
	cli_json_key(f, "name");
	cli_json_string(f, cli_str(j->name));
	cli_json_key(f, "model");
	cli_json_string(f, cli_str(j->model));
	if (j->proxy && j->proxy[0]) {
		cli_json_key(f, "proxy");
		cli_json_string(f, j->proxy);
	}
	if (j->command && j->command[0]) {
		cli_json_key(f, "command");
		cli_json_string(f, j->command);
	}
	fprintf(f, ",\"state\":\"%s\",\"tasks\":%u", cli_state_name(j->state), j->tasks);
	cli_json_opt_u(f, "min_gpus", j->has_min_gpus, j->min_gpus);
	cli_json_opt_u(f, "max_gpus", j->has_max_gpus, j->max_gpus);
	fprintf(f, ",\"rounds_total\":%llu,\"rounds_done\":%llu", (unsigned long long)j->rounds_total,
		(unsigned long long)j->rounds_done);
	cli_json_opt_d(f, "weight", true, j->weight);
	cli_json_placement(f, j);
	cli_json_opt_u(f, "order", j->has_order, j->order);
	cli_json_opt_d(f, "submit_time", j->has_submit_time, j->submit_time);
	cli_json_opt_d(f, "start_time", j->has_start_time, j->start_time);
	cli_json_opt_d(f, "finish_time", j->has_finish_time, j->finish_time);
	cli_json_opt_d(f, "est_start", j->has_est_start, j->est_start);
	cli_json_opt_d(f, "est_finish", j->has_est_finish, j->est_finish);
	cli_json_opt_u(f, "restarts", j->has_restarts, j->restarts);
	cli_json_key(f, "gpu_types");
	fputc('[', f);
	for (size_t i = 0; i < j->n_gpu_types; i++) {
		if (i)
			fputc(',', f);
		cli_json_string(f, cli_str(j->gpu_types[i]));
	}
	fputc(']', f);
	cli_json_opt_d(f, "loss", j->has_loss, j->loss);
	if (j->n_avoided_nodes > 0) {
		cli_json_key(f, "avoided_nodes");
		fputc('[', f);
		for (size_t i = 0; i < j->n_avoided_nodes; i++) {
			if (i)
				fputc(',', f);
			cli_json_string(f, cli_str(j->avoided_nodes[i]));
		}
		fputc(']', f);
	}
	if (cli_job_held(j)) {
		cli_json_key(f, "held");
		cli_json_string(f, cli_held_by(j));
	}
	cli_json_ids(f, "after", j->after, j->n_after);
	cli_json_ids(f, "after_pending", j->after_pending, j->n_after_pending);
	cli_json_ids(f, "after_any", j->after_any, j->n_after_any);
	cli_json_ids(f, "after_notok", j->after_notok, j->n_after_notok);
	if (j->waiting && j->waiting[0]) {
		cli_json_key(f, "waiting");
		cli_json_string(f, j->waiting);
	}
	if (j->end_reason && j->end_reason[0]) {
		cli_json_key(f, "end_reason");
		cli_json_string(f, j->end_reason);
	}
	if (j->last_error && j->last_error[0]) {
		cli_json_key(f, "last_error");
		cli_json_string(f, j->last_error);
		cli_json_opt_d(f, "last_error_time", j->has_last_error_time, j->last_error_time);
	}
	if (j->n_gpu_time > 0) {
		cli_json_key(f, "gpu_seconds");
		cli_json_gpu_times(f, j->gpu_time, j->n_gpu_time);
	}
	fputc('}', f);
}

void cli_job_print_json(FILE *f, const Hare__JobInfo *j)
{
	cli_json_job(f, j);
	fputc('\n', f);
}

void cli_wait_print(FILE *f, const Hare__JobInfo *j, bool json)
{
	const char *why = j->state == HARE__JOB_STATE__CANCELLED ? j->end_reason :
			  j->state == HARE__JOB_STATE__FAILED ? j->last_error : NULL;
	char clean[512];

	if (json) {
		cli_job_print_json(f, j);
		return;
	}
	fprintf(f, "job %llu: %s", (unsigned long long)j->job_id, cli_state_name(j->state));
	if (why && why[0])
		fprintf(f, ": %s", cli_text_clean(why, clean, sizeof(clean)));
	fputc('\n', f);
}

void cli_queue_print_json(FILE *f, const Hare__QueueReply *q)
{
	fputs("{\"jobs\":[", f);
	for (size_t i = 0; i < q->n_jobs; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		cli_json_job(f, q->jobs[i]);
	}
	fputs(q->n_jobs ? "\n]" : "]", f);
	cli_json_opt_d(f, "lp_bound_s", q->has_lp_bound_s, q->lp_bound_s);
	cli_json_opt_u(f, "plans", q->has_plans, q->plans);
	cli_json_opt_d(f, "plan_p50_ms", q->has_plan_p50_ms, q->plan_p50_ms);
	cli_json_opt_d(f, "plan_p99_ms", q->has_plan_p99_ms, q->plan_p99_ms);
	cli_json_opt_u(f, "cut_jobs", q->has_cut_jobs, q->cut_jobs);
	fputs("}\n", f);
}

static void cli_json_node(FILE *f, const Hare__NodeInfo *node)
{
	fputs("{\"name\":", f);
	cli_json_string(f, cli_str(node->name));
	fprintf(f, ",\"up\":%s,\"drained\":%s", node->up ? "true" : "false",
		node->drained ? "true" : "false");
	if (node->drained && node->drain_reason && node->drain_reason[0]) {
		cli_json_key(f, "drain_reason");
		cli_json_string(f, node->drain_reason);
	}
	if (node->unhealthy && node->unhealthy[0]) {
		cli_json_key(f, "unhealthy");
		cli_json_string(f, node->unhealthy);
		cli_json_opt_d(f, "unhealthy_since", node->has_unhealthy_since,
			       node->unhealthy_since);
	}
	cli_json_opt_d(f, "last_seen", node->has_last_seen, node->last_seen);
	cli_json_opt_u(f, "recent_failures", node->has_recent_failures, node->recent_failures);
	if (node->has_own_key)
		fprintf(f, ",\"own_key\":%s", node->own_key ? "true" : "false");
	if (node->has_tagged)
		fprintf(f, ",\"tagged\":%s", node->tagged ? "true" : "false");
	if (node->has_tls)
		fprintf(f, ",\"tls\":%s", node->tls ? "true" : "false");
	if (node->refused && node->refused[0]) {
		cli_json_key(f, "refused");
		cli_json_string(f, node->refused);
		cli_json_opt_d(f, "refused_at", node->has_refused_at, node->refused_at);
	}
	fputs(",\"gpus\":[", f);
	for (size_t g = 0; g < node->n_gpus; g++) {
		const Hare__NodeGpu *gpu = node->gpus[g];

		fprintf(f, "%s{\"index\":%u,\"type\":", g ? "," : "", gpu->index);
		cli_json_string(f, cli_str(gpu->type));
		fprintf(f, ",\"job_id\":%llu,\"emulated\":%s,\"stopping\":%s,\"unprofiled\":%s,"
			"\"measuring\":%s}",
			(unsigned long long)(gpu->has_job_id ? gpu->job_id : 0),
			gpu->has_emulated && gpu->emulated ? "true" : "false",
			gpu->stopping ? "true" : "false", gpu->unprofiled ? "true" : "false",
			gpu->measuring ? "true" : "false");
	}
	fputs("]}", f);
}

void cli_nodes_print_json(FILE *f, const Hare__NodesReply *n)
{
	fputs("{\"nodes\":[", f);
	for (size_t i = 0; i < n->n_nodes; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		cli_json_node(f, n->nodes[i]);
	}
	fputs(n->n_nodes ? "\n]}\n" : "]}\n", f);
}

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
