/* SPDX-License-Identifier: MIT */
/* Unit tests for workloads/report.c: worker report lines (rendezvous lines
 * included), their strict parser and formatter, and the line splitter over a
 * byte stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "workloads/report.h"

static int parse(const char *s, struct report_line *out, char *err, size_t errlen)
{
	return report_line_parse(s, strlen(s), out, err, errlen);
}

static void test_parse_round(void **state)
{
	struct report_line r;
	char err[200];

	(void)state;
	assert_int_equal(parse("round 40 3 1.5 0.25 2.125\n", &r, err, sizeof(err)), 0);
	assert_int_equal(r.kind, REPORT_ROUND);
	assert_int_equal(r.first, 40);
	assert_int_equal(r.count, 3);
	assert_true(r.compute_s == 1.5 && r.sync_s == 0.25 && r.loss == 2.125);
	/* no newline, CRLF, runs of spaces, exponents, nan loss, big FIRST */
	assert_int_equal(parse("round 0 1 1e-3 0 nan", &r, err, sizeof(err)), 0);
	assert_true(isnan(r.loss) && r.compute_s == 1e-3);
	assert_int_equal(parse("round  7   2 0.5 0.5 -NaN\r\n", &r, err, sizeof(err)), 0);
	assert_true(r.first == 7 && r.count == 2 && isnan(r.loss));
	assert_int_equal(parse("round 18446744073709551614 1 0 0 -1.5\n", &r, err, sizeof(err)), 0);
	assert_true(r.first == UINT64_MAX - 1 && r.loss == -1.5);
	assert_int_equal(parse("round 0 4294967295 0 0 0\n", &r, err, sizeof(err)), 0);
	assert_int_equal(r.count, UINT32_MAX);
}

static void test_parse_end(void **state)
{
	struct report_line r;
	char err[200];

	(void)state;
	assert_int_equal(parse("done 1000\n", &r, err, sizeof(err)), 0);
	assert_true(r.kind == REPORT_DONE && r.rounds == 1000);
	assert_int_equal(parse("stopped 0\n", &r, err, sizeof(err)), 0);
	assert_true(r.kind == REPORT_STOPPED && r.rounds == 0);
}

static void test_parse_rendezvous(void **state)
{
	struct report_line r, in = { .kind = REPORT_RENDEZVOUS };
	char err[200], buf[REPORT_LINE_MAX];
	int n;

	(void)state;
	assert_int_equal(parse("rendezvous AQID\n", &r, err, sizeof(err)), 0);
	assert_int_equal(r.kind, REPORT_RENDEZVOUS);
	assert_int_equal(r.rdv_len, 3);
	assert_true(r.rdv[0] == 1 && r.rdv[1] == 2 && r.rdv[2] == 3);
	/* runs of spaces and CRLF as for every line; padding */
	assert_int_equal(parse("rendezvous   AQ==\r\n", &r, err, sizeof(err)), 0);
	assert_true(r.rdv_len == 1 && r.rdv[0] == 1);
	/* the largest: RDV_DATA_MAX bytes, round trip through the formatter */
	for (int i = 0; i < RDV_DATA_MAX; i++)
		in.rdv[i] = (uint8_t)(i * 37 + 5);
	in.rdv_len = RDV_DATA_MAX;
	n = report_line_format(&in, buf, sizeof(buf));
	assert_true(n > 0 && n < REPORT_LINE_MAX && buf[n - 1] == '\n');
	assert_int_equal(report_line_parse(buf, (size_t)n, &r, err, sizeof(err)), 0);
	assert_true(r.kind == REPORT_RENDEZVOUS && r.rdv_len == RDV_DATA_MAX);
	assert_memory_equal(r.rdv, in.rdv, RDV_DATA_MAX);
	/* 183 bytes do not fit the data (and 184 would not fit the line) */
	memset(buf, 'A', sizeof(buf));
	memcpy(buf, "rendezvous ", 11);
	assert_int_equal(report_line_parse(buf, 11 + 244, &r, err, sizeof(err)), ERR_PROTO);
	assert_non_null(strstr(err, "base64 characters in groups of 4"));
	/* nothing, or too much, is not written */
	in.rdv_len = 0;
	assert_int_equal(report_line_format(&in, buf, sizeof(buf)), -EINVAL);
	in.rdv_len = RDV_DATA_MAX + 1;
	assert_int_equal(report_line_format(&in, buf, sizeof(buf)), -EINVAL);
	in.rdv_len = 3;
	assert_int_equal(report_line_format(&in, buf, 8), -ENOSPC);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *line;
		const char *err;
	} bad[] = {
		{ "\n", "empty line" },
		{ "", "empty line" },
		{ " round 0 1 0 0 0\n", "starts with a space" },
		{ "round 0 1 0 0\n", "got 5 fields" },
		{ "round 0 1 0 0 0 0\n", "got 7 fields" },
		{ "round 0 1 0 0 0 0 0 0 0 0\n", "more than 8 fields" },
		{ "round -1 1 0 0 0\n", "FIRST must be a whole number" },
		{ "round +1 1 0 0 0\n", "FIRST must be a whole number" },
		{ "round 18446744073709551616 1 0 0 0\n", "FIRST must be a whole number" },
		{ "round 0 0 0 0 0\n", "COUNT must be a whole number between 1 and 4294967295, got '0'" },
		{ "round 0 4294967296 0 0 0\n", "COUNT must be" },
		{ "round 0 1x 0 0 0\n", "COUNT must be" },
		{ "round 18446744073709551615 1 0 0 0\n", "FIRST + COUNT overflows" },
		{ "round 0 1 -1 0 0\n", "COMPUTE_S must not be negative" },
		{ "round 0 1 0 inf 0\n", "SYNC_S must be a finite number, got 'inf'" },
		{ "round 0 1 nan 0 0\n", "COMPUTE_S must be a finite number" },
		{ "round 0 1 0x10 0 0\n", "COMPUTE_S must be a finite number" },
		{ "round 0 1 1e999 0 0\n", "COMPUTE_S must be a finite number" },
		{ "round 0 1 0 0 inf\n", "LOSS must be a finite number" },
		{ "round 0 1 0 0 1.5abc\n", "LOSS must be a finite number" },
		{ "round 0 1 1e13 0 0\n", "COMPUTE_S must be at most 1e+12" },
		{ "round 0 1 0 0 -1e301\n", "LOSS must be at most 1e+300" },
		{ "round 0 1 0 0\t1\n", "control or non-ASCII" },
		{ "done\n", "expected 'done ROUNDS', got 1 fields" },
		{ "done 1 2\n", "expected 'done ROUNDS', got 3 fields" },
		{ "stopped x\n", "ROUNDS must be a whole number" },
		{ "Round 0 1 0 0 0\n", "unknown report 'Round'" },
		{ "hello world\n", "unknown report 'hello'" },
		{ "rendezvous\n", "expected 'rendezvous BASE64', got 1 fields" },
		{ "rendezvous AQID AQID\n", "got 3 fields" },
		{ "rendezvous AQI\n", "in groups of 4" },
		{ "rendezvous AQ=D\n", "bad base64" },
		{ "rendezvous A*ID\n", "bad base64" },
	};
	struct report_line r;
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].line, &r, err, sizeof(err)), ERR_PROTO);
		if (!strstr(err, bad[i].err))
			fail_msg("line %zu '%s': got '%s', want '%s'", i, bad[i].line, err, bad[i].err);
	}
	/* a NUL inside the line, and an over-long line */
	assert_int_equal(report_line_parse("done 1\0 2\n", 10, &r, err, sizeof(err)), ERR_PROTO);
	assert_non_null(strstr(err, "NUL byte"));
	{
		char big[400];

		memset(big, '1', sizeof(big));
		memcpy(big, "done ", 5);
		assert_int_equal(report_line_parse(big, sizeof(big), &r, err, sizeof(err)), ERR_PROTO);
		assert_non_null(strstr(err, "longer than 255 bytes"));
	}
}

static void test_format_roundtrip(void **state)
{
	struct report_line in = { .kind = REPORT_ROUND, .first = 123456789012ull, .count = 77,
				  .compute_s = 12.345678, .sync_s = 0.001, .loss = 0.3456 };
	struct report_line out;
	char buf[REPORT_LINE_MAX], err[200];
	int n;

	(void)state;
	n = report_line_format(&in, buf, sizeof(buf));
	assert_true(n > 0 && buf[n - 1] == '\n' && (size_t)n == strlen(buf));
	assert_int_equal(report_line_parse(buf, (size_t)n, &out, err, sizeof(err)), 0);
	assert_true(out.first == in.first && out.count == in.count);
	assert_true(fabs(out.compute_s - in.compute_s) < 1e-7 && fabs(out.loss - in.loss) < 1e-9);
	in.loss = NAN;
	n = report_line_format(&in, buf, sizeof(buf));
	assert_string_equal(buf, "round 123456789012 77 12.345678 0.001 nan\n");
	in = (struct report_line){ .kind = REPORT_DONE, .rounds = 5 };
	assert_int_equal(report_line_format(&in, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "done 5\n");
	in.kind = REPORT_STOPPED;
	report_line_format(&in, buf, sizeof(buf));
	assert_string_equal(buf, "stopped 5\n");
	/* what the grammar forbids is not written */
	in = (struct report_line){ .kind = REPORT_ROUND, .count = 0 };
	assert_int_equal(report_line_format(&in, buf, sizeof(buf)), -EINVAL);
	in = (struct report_line){ .kind = REPORT_ROUND, .count = 1, .compute_s = -1 };
	assert_int_equal(report_line_format(&in, buf, sizeof(buf)), -EINVAL);
	in = (struct report_line){ .kind = REPORT_ROUND, .count = 1, .loss = INFINITY };
	assert_int_equal(report_line_format(&in, buf, sizeof(buf)), -EINVAL);
	in = (struct report_line){ .kind = REPORT_DONE, .rounds = 1 };
	assert_int_equal(report_line_format(&in, buf, 4), -ENOSPC);
}

struct collected {
	int ok, bad;
	uint64_t rounds;
	char last_err[160];
	enum report_kind last_kind;
};

static void on_line(void *user, int rc, const struct report_line *l, const char *err)
{
	struct collected *c = user;

	if (rc < 0) {
		c->bad++;
		snprintf(c->last_err, sizeof(c->last_err), "%s", err);
		return;
	}
	assert_non_null(l);
	c->ok++;
	c->last_kind = l->kind;
	if (l->kind == REPORT_ROUND)
		c->rounds += l->count;
}

static void test_reader_split(void **state)
{
	const char *stream = "round 0 2 1 1 2.5\ngarbage\nround 2 1 0.5 0.5 nan\ndone 3\n";
	struct report_reader r;
	struct collected c = { 0 };

	(void)state;
	/* one byte at a time: every line spans many feeds */
	report_reader_init(&r);
	for (size_t i = 0; stream[i]; i++)
		report_reader_feed(&r, stream + i, 1, on_line, &c);
	assert_int_equal(c.ok, 3);
	assert_int_equal(c.bad, 1);
	assert_int_equal(c.rounds, 3);
	assert_int_equal(c.last_kind, REPORT_DONE);
	assert_false(report_reader_has_partial(&r));
	assert_int_equal(r.lines, 4);
	assert_int_equal(r.bad, 1);
	/* all at once gives the same */
	memset(&c, 0, sizeof(c));
	report_reader_init(&r);
	report_reader_feed(&r, stream, strlen(stream), on_line, &c);
	assert_true(c.ok == 3 && c.bad == 1 && c.rounds == 3);
	/* a trailing partial line stays buffered */
	report_reader_feed(&r, "round 3 1", 9, on_line, &c);
	assert_true(report_reader_has_partial(&r));
	report_reader_feed(&r, " 0 0 0\n", 7, on_line, &c);
	assert_true(c.ok == 4 && c.rounds == 4 && !report_reader_has_partial(&r));
}

static void test_reader_overlong(void **state)
{
	struct report_reader r;
	struct collected c = { 0 };
	char junk[1000];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	report_reader_init(&r);
	/* an over-long line in pieces, then a good line: resynchronised */
	report_reader_feed(&r, "round 1 1 0 0 0\nxx", 18, on_line, &c);
	for (int i = 0; i < 5; i++)
		report_reader_feed(&r, junk, sizeof(junk), on_line, &c);
	assert_true(report_reader_has_partial(&r));
	report_reader_feed(&r, "x\ndone 1\n", 9, on_line, &c);
	assert_int_equal(c.ok, 2);
	assert_int_equal(c.bad, 1);
	assert_non_null(strstr(c.last_err, "longer than 255"));
	/* exactly 255 bytes + newline is fine, split or not */
	{
		char line[REPORT_LINE_MAX + 1];

		memset(line, ' ', sizeof(line));
		memcpy(line, "done", 4);
		line[REPORT_LINE_MAX - 2] = '7';
		line[REPORT_LINE_MAX - 1] = '\n';
		memset(&c, 0, sizeof(c));
		report_reader_feed(&r, line, REPORT_LINE_MAX, on_line, &c);
		report_reader_feed(&r, line, 100, on_line, &c);
		report_reader_feed(&r, line + 100, REPORT_LINE_MAX - 100, on_line, &c);
		assert_int_equal(c.ok, 2);
		assert_int_equal(c.bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_round),
		cmocka_unit_test(test_parse_end),
		cmocka_unit_test(test_parse_rendezvous),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_reader_split),
		cmocka_unit_test(test_reader_overlong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
