/* SPDX-License-Identifier: MIT */
/* The pieces harectl's output is made of: JSON strings and numbers, the
 * small formatters (relative times, progress, GPU-hours), control characters
 * masked, and aligned tables made one row at a time. */
#include "format_impl.h"

#include "utf8.h"

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
void cli_json_double(FILE *f, double v)
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

void cli_json_key(FILE *f, const char *key)
{
	fprintf(f, ",\"%s\":", key);
}

/* {"V100": GPU-seconds, ...} */
void cli_json_gpu_times(FILE *f, Hare__GpuTime *const *t, size_t n)
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

/* ---- small formatters ---- */

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
bool cli_localtime(double t, struct tm *tm)
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

/* GPU-hours: two decimals (36 GPU-seconds each). */
void cli_hours_format(double gpu_s, char *buf, size_t len)
{
	snprintf(buf, len, "%.2f", isfinite(gpu_s) && gpu_s > 0 ? gpu_s / 3600 : 0.0);
}

/* ---- tables ---- */

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
void cli_table_set(struct cli_table *t, uint32_t col, const char *fmt, ...)
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
void cli_table_print(FILE *f, uint32_t ncols, const char *const *headers, size_t nrows,
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
