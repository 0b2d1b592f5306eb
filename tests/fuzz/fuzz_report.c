/* SPDX-License-Identifier: MIT */
/* Fuzz target for worker report lines: the input is a report pipe's byte
 * stream, fed whole and in uneven pieces; every accepted line must format
 * and parse back to the same values. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "workloads/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_count {
	uint64_t ok, bad;
};

static void fuzz_check_roundtrip(const struct report_line *l)
{
	struct report_line back;
	char buf[REPORT_LINE_MAX], err[160];
	int n = report_line_format(l, buf, sizeof(buf));

	if (n < 0 || report_line_parse(buf, (size_t)n, &back, err, sizeof(err)) < 0)
		__builtin_trap();
	if (back.kind != l->kind || back.first != l->first || back.count != l->count ||
	    back.rounds != l->rounds || back.rdv_len != l->rdv_len ||
	    memcmp(back.rdv, l->rdv, l->rdv_len) != 0)
		__builtin_trap();
}

static void fuzz_on_line(void *user, int rc, const struct report_line *l, const char *err)
{
	struct fuzz_count *c = user;

	if (rc < 0) {
		if (l || !err || !err[0])
			__builtin_trap();
		c->bad++;
		return;
	}
	fuzz_check_roundtrip(l);
	c->ok++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report_reader r;
	struct fuzz_count whole = { 0 }, split = { 0 };
	struct report_line l;
	char err[160];
	size_t off = 0, step = 1;

	report_reader_init(&r);
	report_reader_feed(&r, (const char *)data, size, fuzz_on_line, &whole);
	/* the same stream in pieces of 1, 2, 3 ... bytes gives the same lines */
	report_reader_init(&r);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		report_reader_feed(&r, (const char *)data + off, n, fuzz_on_line, &split);
		off += n;
		step = step % 7 + 1;
	}
	if (whole.ok != split.ok || whole.bad != split.bad)
		__builtin_trap();
	/* and the input as one line */
	if (report_line_parse((const char *)data, size, &l, err, sizeof(err)) == 0)
		fuzz_check_roundtrip(&l);
	return 0;
}
