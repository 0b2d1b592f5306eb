/* SPDX-License-Identifier: MIT */
/* Worker report lines: strict parsing and formatting of "round ..." /
 * "done N" / "stopped N" / "rendezvous BASE64", and the line splitter over
 * a pipe's byte stream. */
#include "report.h"

#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPORT_FIELDS_MAX 8
/* Bounds that keep every accepted value printable and parsable again (and
 * sane: 1e12 s is 31,000 years). */
#define REPORT_TIME_MAX 1e12
#define REPORT_LOSS_MAX 1e300

struct report_fields {
	char text[REPORT_LINE_MAX];
	const char *f[REPORT_FIELDS_MAX];
	int n;			/* fields found; REPORT_FIELDS_MAX + 1 when too many */
};

/* Copy the line without its newline and split it at runs of spaces. */
static int report_split(const char *line, size_t len, struct report_fields *fs, char *err,
			size_t errlen)
{
	char *p;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len >= sizeof(fs->text))
		goto out_long;
	if (memchr(line, '\0', len)) {
		snprintf(err, errlen, "NUL byte in line");
		return ERR_PROTO;
	}
	memcpy(fs->text, line, len);
	fs->text[len] = '\0';
	fs->n = 0;
	p = fs->text;
	if (*p == ' ') {
		snprintf(err, errlen, "line starts with a space");
		return ERR_PROTO;
	}
	while (*p) {
		if (fs->n == REPORT_FIELDS_MAX) {
			fs->n++;
			break;
		}
		fs->f[fs->n++] = p;
		p += strcspn(p, " ");
		while (*p == ' ')
			*p++ = '\0';
	}
	for (int i = 0; i < fs->n && i < REPORT_FIELDS_MAX; i++) {
		for (const char *c = fs->f[i]; *c; c++) {
			if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
				snprintf(err, errlen, "control or non-ASCII byte in field %d", i + 1);
				return ERR_PROTO;
			}
		}
	}
	return 0;
out_long:
	snprintf(err, errlen, "line longer than %d bytes", REPORT_LINE_MAX - 1);
	return ERR_PROTO;
}

/* Decimal digits only: no sign, no blanks, no hex. */
static int report_parse_u64(const char *name, const char *s, uint64_t max, uint64_t *out, char *err,
			    size_t errlen, uint64_t min)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno || v < min || v > max) {
		snprintf(err, errlen, "%s must be a whole number between %llu and %llu, got '%.32s'",
			 name, (unsigned long long)min, (unsigned long long)max, s);
		return ERR_PROTO;
	}
	*out = v;
	return 0;
}

/* A finite number >= 0 (times), or with nan_ok also "nan" (loss, any sign). */
static int report_parse_double(const char *name, const char *s, bool nan_ok, double *out,
			       char *err, size_t errlen)
{
	const char *t = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
	char *end;
	double v;

	if (nan_ok && strcasecmp(t, "nan") == 0) {
		*out = NAN;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	/* strtod also takes "inf", "nan(...)" and hex floats: only plain decimals here */
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || strpbrk(s, "xXnN")) {
		snprintf(err, errlen, "%s must be a finite number, got '%.32s'", name, s);
		return ERR_PROTO;
	}
	if (!nan_ok && v < 0) {
		snprintf(err, errlen, "%s must not be negative, got '%.32s'", name, s);
		return ERR_PROTO;
	}
	if (fabs(v) > (nan_ok ? REPORT_LOSS_MAX : REPORT_TIME_MAX)) {
		snprintf(err, errlen, "%s must be at most %g, got '%.32s'", name,
			 nan_ok ? REPORT_LOSS_MAX : REPORT_TIME_MAX, s);
		return ERR_PROTO;
	}
	*out = v == 0 ? 0.0 : v;	/* no -0 */
	return 0;
}

/* True when the line has n fields; else err says what was expected. */
static bool report_nfields(const struct report_fields *fs, int n, const char *usage, char *err,
			   size_t errlen)
{
	if (fs->n == n)
		return true;
	snprintf(err, errlen, "expected '%s', got %s%d fields", usage,
		 fs->n > REPORT_FIELDS_MAX ? "more than " : "",
		 fs->n > REPORT_FIELDS_MAX ? REPORT_FIELDS_MAX : fs->n);
	return false;
}

static int report_parse_round(const struct report_fields *fs, struct report_line *out, char *err,
			      size_t errlen)
{
	uint64_t count = 0;
	int rc;

	if (!report_nfields(fs, 6, "round FIRST COUNT COMPUTE_S SYNC_S LOSS", err, errlen))
		return ERR_PROTO;
	out->kind = REPORT_ROUND;
	rc = report_parse_u64("FIRST", fs->f[1], UINT64_MAX, &out->first, err, errlen, 0);
	if (rc == 0)
		rc = report_parse_u64("COUNT", fs->f[2], UINT32_MAX, &count, err, errlen, 1);
	if (rc == 0 && out->first > UINT64_MAX - count) {
		snprintf(err, errlen, "FIRST + COUNT overflows (%s + %s)", fs->f[1], fs->f[2]);
		rc = ERR_PROTO;
	}
	if (rc == 0)
		rc = report_parse_double("COMPUTE_S", fs->f[3], false, &out->compute_s, err, errlen);
	if (rc == 0)
		rc = report_parse_double("SYNC_S", fs->f[4], false, &out->sync_s, err, errlen);
	if (rc == 0)
		rc = report_parse_double("LOSS", fs->f[5], true, &out->loss, err, errlen);
	out->count = (uint32_t)count;
	return rc;
}

static int report_parse_end(const struct report_fields *fs, enum report_kind kind,
			    struct report_line *out, char *err, size_t errlen)
{
	char usage[48];

	snprintf(usage, sizeof(usage), "%s ROUNDS", fs->f[0]);
	if (!report_nfields(fs, 2, usage, err, errlen))
		return ERR_PROTO;
	out->kind = kind;
	return report_parse_u64("ROUNDS", fs->f[1], UINT64_MAX, &out->rounds, err, errlen, 0);
}

/* The base64 field, decoded by rendezvous.h (columns as in "rendezvous B64"). */
static int report_parse_rdv(const struct report_fields *fs, struct report_line *out, char *err,
			    size_t errlen)
{
	size_t n;

	if (!report_nfields(fs, 2, "rendezvous BASE64", err, errlen))
		return ERR_PROTO;
	if (rdv_data_decode(fs->f[1], strlen(fs->f[1]), sizeof(RDV_KEYWORD) + 1, out->rdv,
			    sizeof(out->rdv), &n, err, errlen) < 0)
		return ERR_PROTO;
	out->kind = REPORT_RENDEZVOUS;
	out->rdv_len = (uint32_t)n;
	return 0;
}

static int report_unknown(const char *word, char *err, size_t errlen)
{
	snprintf(err, errlen, "unknown report '%.32s' (expected round, done, stopped or rendezvous)",
		 word);
	return ERR_PROTO;
}

int report_line_parse(const char *line, size_t len, struct report_line *out, char *err,
		      size_t errlen)
{
	struct report_fields fs;
	struct report_line r = { 0 };
	int rc;

	rc = report_split(line, len, &fs, err, errlen);
	if (rc < 0)
		return rc;
	if (fs.n == 0) {
		snprintf(err, errlen, "empty line");
		return ERR_PROTO;
	}
	if (strcmp(fs.f[0], "round") == 0)
		rc = report_parse_round(&fs, &r, err, errlen);
	else if (strcmp(fs.f[0], "done") == 0)
		rc = report_parse_end(&fs, REPORT_DONE, &r, err, errlen);
	else if (strcmp(fs.f[0], "stopped") == 0)
		rc = report_parse_end(&fs, REPORT_STOPPED, &r, err, errlen);
	else if (strcmp(fs.f[0], RDV_KEYWORD) == 0)
		rc = report_parse_rdv(&fs, &r, err, errlen);
	else
		rc = report_unknown(fs.f[0], err, errlen);
	if (rc == 0)
		*out = r;
	return rc;
}

static bool report_time_ok(double v)
{
	return isfinite(v) && v >= 0 && v <= REPORT_TIME_MAX;
}

int report_line_format(const struct report_line *r, char *buf, size_t len)
{
	int n;

	switch (r->kind) {
	case REPORT_ROUND:
		if (r->count == 0 || r->first > UINT64_MAX - r->count || !report_time_ok(r->compute_s) ||
		    !report_time_ok(r->sync_s) || fabs(r->loss) > REPORT_LOSS_MAX)
			return -EINVAL;
		if (isnan(r->loss))
			n = snprintf(buf, len, "round %llu %u %.9g %.9g nan\n",
				     (unsigned long long)r->first, r->count, r->compute_s, r->sync_s);
		else
			n = snprintf(buf, len, "round %llu %u %.9g %.9g %.9g\n",
				     (unsigned long long)r->first, r->count, r->compute_s, r->sync_s,
				     r->loss);
		break;
	case REPORT_DONE:
	case REPORT_STOPPED:
		n = snprintf(buf, len, "%s %llu\n", r->kind == REPORT_DONE ? "done" : "stopped",
			     (unsigned long long)r->rounds);
		break;
	case REPORT_RENDEZVOUS:
		return rdv_line_format(r->rdv, r->rdv_len, buf, len);
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? n : -ENOSPC;
}

void report_reader_init(struct report_reader *r)
{
	memset(r, 0, sizeof(*r));
}

static void report_reader_line(struct report_reader *r, const char *line, size_t len,
			       report_line_cb cb, void *user)
{
	struct report_line out;
	char err[160];
	int rc;

	r->lines++;
	if (r->overlong) {
		r->overlong = false;
		r->bad++;
		cb(user, ERR_PROTO, NULL, "line longer than 255 bytes");
		return;
	}
	rc = report_line_parse(line, len, &out, err, sizeof(err));
	if (rc < 0)
		r->bad++;
	cb(user, rc, rc == 0 ? &out : NULL, rc == 0 ? "" : err);
}

/* Buffer part of a line; past REPORT_LINE_MAX drop it and remember to
 * report it when its newline comes. */
static void report_reader_keep(struct report_reader *r, const char *data, size_t n)
{
	if (r->overlong)
		return;
	if (r->len + n > sizeof(r->buf)) {
		r->overlong = true;
		r->len = 0;
		return;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
}

void report_reader_feed(struct report_reader *r, const char *data, size_t n, report_line_cb cb,
			void *user)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) + 1 : n;

		if (!nl) {
			report_reader_keep(r, data, take);
			return;
		}
		if (r->len == 0 && !r->overlong && take <= sizeof(r->buf)) {
			/* the common case: a whole line inside this read (no
			 * longer than the buffered path accepts, so a line's
			 * fate does not depend on how the reads split it:
			 * 255 bytes + "\r\n" is over the limit either way) */
			report_reader_line(r, data, take, cb, user);
		} else {
			report_reader_keep(r, data, take);
			report_reader_line(r, r->buf, r->len, cb, user);
			r->len = 0;
		}
		data += take;
		n -= take;
	}
}

bool report_reader_has_partial(const struct report_reader *r)
{
	return r->len > 0 || r->overlong;
}
