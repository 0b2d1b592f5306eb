/* SPDX-License-Identifier: MIT */
/* INI loading (inih) with file:line errors, and checked value parsers. */
#include "config.h"

#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A key read so far, and where. */
struct config_seen {
	char *section_key;	/* "section\0key" */
	size_t len;
	int line;
};

struct config_ctx {
	config_entry_cb cb;
	void *user;
	char reason[256];
	int code;
	int line;		/* line the reader returned last */
	int err_line;		/* line of the first rejected key */
	int report_line;	/* the line its error names (a section's header for
				 * an unknown section) */
	int section_line;	/* line of the last [section] header read */
	bool indented;		/* that line starts with white space: a continuation */
	FILE *file;		/* source: a file, or */
	const char *text;	/* a string (advanced as it is read) */
	struct config_seen *seen;	/* keys read so far (a key given twice is refused) */
	size_t nseen, seen_cap;
};

/* Notes the line just read if it is a [section] header. */
static void config_note_line(struct config_ctx *ctx, const char *buf)
{
	while (*buf == ' ' || *buf == '\t')
		buf++;
	if (*buf == '[')
		ctx->section_line = ctx->line;
}

/* inih reader: one line per call; counting calls gives the current line, so
 * a rejected key is reported at its own line even after a syntax error. */
static char *config_read_line(char *buf, int size, void *stream)
{
	struct config_ctx *ctx = stream;
	const char *nl;
	size_t n;

	if (ctx->file) {
		if (!fgets(buf, size, ctx->file))
			return NULL;
		ctx->line++;
		config_note_line(ctx, buf);
		ctx->indented = buf[0] == ' ' || buf[0] == '\t';
		return buf;
	}
	if (!ctx->text || !*ctx->text)
		return NULL;
	nl = strchr(ctx->text, '\n');
	n = nl ? (size_t)(nl - ctx->text) + 1 : strlen(ctx->text);
	if (n > (size_t)size - 1)
		n = (size_t)size - 1;
	memcpy(buf, ctx->text, n);
	buf[n] = '\0';
	ctx->text += n;
	ctx->line++;
	config_note_line(ctx, buf);
	ctx->indented = buf[0] == ' ' || buf[0] == '\t';
	return buf;
}

/* The line key was given at before in section, or 0; notes it at this
 * line otherwise (without memory, keys go unchecked). */
static int config_seen_before(struct config_ctx *ctx, const char *section, const char *key)
{
	size_t ls = strlen(section), lk = strlen(key), len = ls + 1 + lk;
	struct config_seen *e;

	for (size_t i = 0; i < ctx->nseen; i++)
		if (ctx->seen[i].len == len && memcmp(ctx->seen[i].section_key, section, ls + 1) == 0 &&
		    memcmp(ctx->seen[i].section_key + ls + 1, key, lk) == 0)
			return ctx->seen[i].line;
	if (ctx->nseen == ctx->seen_cap) {
		size_t cap = ctx->seen_cap ? ctx->seen_cap * 2 : 32;
		struct config_seen *v = realloc(ctx->seen, cap * sizeof(*v));

		if (!v)
			return 0;
		ctx->seen = v;
		ctx->seen_cap = cap;
	}
	e = &ctx->seen[ctx->nseen];
	e->section_key = malloc(len + 1);
	if (!e->section_key)
		return 0;
	memcpy(e->section_key, section, ls + 1);
	memcpy(e->section_key + ls + 1, key, lk + 1);
	e->len = len;
	e->line = ctx->line;
	ctx->nseen++;
	return 0;
}

static void config_seen_free(struct config_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nseen; i++)
		free(ctx->seen[i].section_key);
	free(ctx->seen);
}

static int config_on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct config_ctx *ctx = user;
	char reason[256] = "";
	int rc, before = config_seen_before(ctx, section, key);

	if (before && ctx->indented) {
		/* inih reads an indented line as the previous value going on */
		snprintf(reason, sizeof(reason), "an indented line continues the value of %.48s (line "
			 "%d); keys start in the first column", key, before);
		rc = ERR_BAD_CONFIG;
	} else if (before) {
		/* which of two values was meant is not ours to guess */
		snprintf(reason, sizeof(reason), "%.48s given twice in [%.48s] (also at line %d)", key,
			 section, before);
		rc = ERR_BAD_CONFIG;
	} else {
		rc = ctx->cb(ctx->user, section, key, value, reason, sizeof(reason));
	}
	if (rc == 0)
		return 1;
	if (ctx->code == 0) {
		size_t k = strlen(key);

		ctx->code = rc;
		ctx->err_line = ctx->report_line = ctx->line;
		/* inih names a section at its first key: point at the header */
		if (strncmp(reason, "unknown section", 15) == 0 && ctx->section_line)
			ctx->report_line = ctx->section_line;
		/* a bad value ("must be ...", "expected ...") says whose:
		 * "file:line: key: reason" */
		if ((strncmp(reason, "must be", 7) == 0 || strncmp(reason, "expected", 8) == 0) &&
		    !(strncmp(reason, key, k) == 0 && reason[k] == ':'))
			snprintf(ctx->reason, sizeof(ctx->reason), "%.48s: %.200s", key, reason);
		else
			snprintf(ctx->reason, sizeof(ctx->reason), "%s", reason[0] ? reason : err_str(rc));
		/* inih strips "; ..." after a value, not "# ...": say so */
		if (strstr(value, " #") || strstr(value, "\t#")) {
			size_t n = strlen(ctx->reason);

			snprintf(ctx->reason + n, sizeof(ctx->reason) - n, " (a comment after a value "
				 "starts with ';'; '#' only at the start of a line)");
		}
	}
	return 0;
}

static int config_finish(const char *name, int line, struct config_ctx *ctx, char *errbuf, size_t errlen)
{
	if (line == 0)
		return 0;
	if (line == -2) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (ctx->code != 0 && ctx->err_line == line) {
		snprintf(errbuf, errlen, "%s:%d: %s", name, ctx->report_line, ctx->reason);
		return ctx->code == -ENOMEM ? -ENOMEM : ERR_BAD_CONFIG;
	}
	snprintf(errbuf, errlen, "%s:%d: syntax error (expected [section] or key = value)", name, line);
	return ERR_BAD_CONFIG;
}

int config_load(const char *path, config_entry_cb cb, void *user, char *errbuf, size_t errlen)
{
	struct config_ctx ctx = { .cb = cb, .user = user };
	FILE *f;
	int line;

	f = fopen(path, "r");
	if (!f) {
		int rc = -errno;

		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	ctx.file = f;
	line = ini_parse_stream(config_read_line, &ctx, config_on_entry, &ctx);
	fclose(f);
	config_seen_free(&ctx);
	return config_finish(path, line, &ctx, errbuf, errlen);
}

int config_load_string(const char *name, const char *text, config_entry_cb cb, void *user,
		       char *errbuf, size_t errlen)
{
	struct config_ctx ctx = { .cb = cb, .user = user, .text = text };
	int line = ini_parse_stream(config_read_line, &ctx, config_on_entry, &ctx);

	config_seen_free(&ctx);
	return config_finish(name, line, &ctx, errbuf, errlen);
}

int config_parse_u32(const char *value, uint32_t min, uint32_t max, uint32_t *out, char *err, size_t errlen)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	/* digits, or a minus for the range's message; strtoll also takes "+2" */
	if (errno || end == value || *end != '\0' || value[0] == '+' || isspace((unsigned char)value[0])) {
		snprintf(err, errlen, "expected a whole number, got '%s'", value);
		return ERR_BAD_CONFIG;
	}
	if (v < (long long)min || v > (long long)max) {
		snprintf(err, errlen, "must be between %u and %u, got %lld", min, max, v);
		return ERR_BAD_CONFIG;
	}
	*out = (uint32_t)v;
	return 0;
}

int config_parse_double(const char *value, double min, double max, double *out, char *err, size_t errlen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	/* decimal only: strtod also reads "0x10" (hexadecimal) */
	if (end == value || *end != '\0' || strpbrk(value, "xX") || !isfinite(v) ||
	    (errno && fabs(v) >= 1.0)) {
		snprintf(err, errlen, "expected a number, got '%.60s'", value);
		return ERR_BAD_CONFIG;
	}
	/* a number too small for a double (1e-400) reads as 0 or nearly */
	if (v < min || v > max) {
		snprintf(err, errlen, "must be between %g and %g, got %.60s", min, max, value);
		return ERR_BAD_CONFIG;
	}
	*out = v;
	return 0;
}

int config_parse_bool(const char *value, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(err, errlen, "expected yes or no, got '%s'", value);
	return ERR_BAD_CONFIG;
}
