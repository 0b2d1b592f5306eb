/* SPDX-License-Identifier: MIT */
/* Fuzz target for harectl's handling of hared's replies: the input is the
 * byte stream hared would send, read frame by frame by the client's own
 * receive code, and each reply is printed as the answer to every command,
 * as tables and as JSON. Nothing may crash or leak, and every JSON document
 * must be valid JSON (checked by a small strict parser here). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NOW 1700000000.0	/* what relative times are shown against */
#define FZ_DEPTH_MAX 16		/* harectl's documents nest 4 deep */

/* A property harectl promised does not hold: make the fuzzer report it. */
static void fz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* ---- a strict JSON parser (RFC 8259), accepting or refusing only ---- */

struct fz_json {
	const unsigned char *p, *end;
};

static bool fz_json_value(struct fz_json *j, int depth);

static void fz_json_ws(struct fz_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static bool fz_json_lit(struct fz_json *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool fz_json_digits(struct fz_json *j)
{
	const unsigned char *start = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

static bool fz_json_number(struct fz_json *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!fz_json_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!fz_json_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!fz_json_digits(j))
			return false;
	}
	return true;
}

/* A string: no raw control characters, known escapes only, and the text
 * as a whole valid UTF-8 (harectl promises that). */
static bool fz_json_string(struct fz_json *j)
{
	char *text;
	size_t n = 0;
	bool ok = false;

	if (j->p >= j->end || *j->p++ != '"')
		return false;
	text = malloc((size_t)(j->end - j->p) + 1);
	if (!text)
		return false;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = *j->p++;

		if (c < 0x20 || c == 0x7f)
			goto out;
		if (c == '\\') {
			if (j->p >= j->end || !strchr("\"\\/bfnrtu", *j->p) || *j->p == '\0')
				goto out;
			if (*j->p++ == 'u') {
				for (int k = 0; k < 4; k++, j->p++)
					if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || *j->p == '\0')
						goto out;
			}
			c = 'x';
		}
		text[n++] = (char)c;
	}
	text[n] = '\0';
	ok = j->p < j->end && cli_utf8_valid(text);
	j->p++;
out:
	free(text);
	return ok;
}

static bool fz_json_members(struct fz_json *j, int depth, bool object)
{
	char close = object ? '}' : ']';

	j->p++;
	fz_json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		if (object) {
			fz_json_ws(j);
			if (!fz_json_string(j))
				return false;
			fz_json_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!fz_json_value(j, depth + 1))
			return false;
		fz_json_ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p++ != ',')
			return false;
	}
}

static bool fz_json_value(struct fz_json *j, int depth)
{
	if (depth > FZ_DEPTH_MAX)
		return false;
	fz_json_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{': return fz_json_members(j, depth, true);
	case '[': return fz_json_members(j, depth, false);
	case '"': return fz_json_string(j);
	case 't': return fz_json_lit(j, "true");
	case 'f': return fz_json_lit(j, "false");
	case 'n': return fz_json_lit(j, "null");
	default: return fz_json_number(j);
	}
}

/* Exactly one JSON document, ending with a newline. */
static bool fz_json_valid(const char *s, size_t n)
{
	struct fz_json j = { (const unsigned char *)s, (const unsigned char *)s + n };

	if (n == 0 || s[n - 1] != '\n' || memchr(s, '\0', n))
		return false;
	if (!fz_json_value(&j, 0))
		return false;
	fz_json_ws(&j);
	return j.p == j.end;
}

/* Checks of the parser itself, once: a validator that accepts anything
 * would make the property above worthless. */
static void fz_json_selftest(void)
{
	static const char *const good[] = { "{}\n", "{\"a\":[1,-2.5e+3,null,true,\"\\u00e9\\n\"]}\n",
					    "[0.5, {\"k\": \"v\"}]\n" };
	static const char *const bad[] = { "{\n", "{\"a\":}\n", "[01]\n", "[nan]\n", "\"\x01\"\n",
					   "[1,]\n", "{\"a\":1}{}\n", "\"\\x\"\n", "[\"\xff\"]\n", "[-]\n" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		fz_check(fz_json_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fz_check(!fz_json_valid(bad[i], strlen(bad[i])));
}

/* ---- replies ---- */

static bool fz_is_json_cmd(enum cli_command cmd)
{
	return cmd == CLI_CMD_QUEUE || cmd == CLI_CMD_SHOW || cmd == CLI_CMD_NODES ||
	       cmd == CLI_CMD_USAGE || cmd == CLI_CMD_WAIT;
}

/* cancel asks for the ids its results name, one they do not, and one twice. */
static void fz_cancel_ids(struct cli_args *a, const Hare__FromDaemon *m)
{
	a->nids = 0;
	if (m->msg_case == HARE__FROM_DAEMON__MSG_CANCEL_REPLY)
		for (size_t k = 0; k < m->cancel_reply->n_results && a->nids < 8; k++)
			a->ids[a->nids++] = m->cancel_reply->results[k]->job_id;
	if (m->msg_case == HARE__FROM_DAEMON__MSG_UPDATE_REPLY)
		for (size_t k = 0; k < m->update_reply->n_results && a->nids < 8; k++)
			a->ids[a->nids++] = m->update_reply->results[k]->job_id;
	a->ids[a->nids++] = 7;
	a->ids[a->nids++] = a->ids[0];
}

/* Print m as the reply to cmd, in both output forms. */
static void fz_print(const Hare__FromDaemon *m, enum cli_command cmd, bool json, FILE *devnull)
{
	struct cli_args *a = calloc(1, sizeof(*a));
	char errbuf[1024] = "", *buf = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	if (!a)
		return;
	a->cmd = cmd;
	a->json = json;
	a->lines = json ? 3 : 0;	/* logs: the last lines, or all */
	/* queue: the JSON form filtered by user and state, the table not */
	a->user = json ? "alice" : NULL;
	a->states = json ? CLI_STATE_HELD | CLI_STATE_WAITING | CLI_STATE_RUNNING | CLI_STATE_FAILED : 0;
	fz_cancel_ids(a, m);
	rc = cli_client_reply_check(m, cli_reply_case(cmd), errbuf, sizeof(errbuf));
	if (rc < 0) {
		/* harectl prints the reason and fails */
		fz_check(m->msg_case == HARE__FROM_DAEMON__MSG_ERROR || errbuf[0] != '\0');
		goto out;
	}
	out = open_memstream(&buf, &len);
	if (!out)
		goto out;
	rc = cli_reply_print(a, m, out, devnull, FZ_NOW);
	fclose(out);
	fz_check(rc == CLI_EXIT_OK || rc == CLI_EXIT_FAIL);
	if (json && fz_is_json_cmd(cmd))
		fz_check(fz_json_valid(buf, len));
	free(buf);
out:
	free(a);
}

/* logs --follow over the stream's LogsReplies: the first starts it, each
 * later one prints what it adds; the state never points past its files. */
static void fz_follow(const Hare__FromDaemon *m, struct cli_logs_follow *f, bool *started,
		      FILE *devnull)
{
	if (m->msg_case != HARE__FROM_DAEMON__MSG_LOGS_REPLY)
		return;
	if (!*started)
		cli_logs_follow_init(f, m->logs_reply);
	else
		cli_logs_follow_print(f, m->logs_reply, devnull, devnull);
	*started = true;
	(void)cli_logs_lease_ended(m->logs_reply, m->logs_reply->rank);
	fz_check(f->n <= CLI_FOLLOW_FILES && f->current < (int32_t)f->n);
}

static void fz_reply(const Hare__FromDaemon *m, FILE *devnull)
{
	for (int cmd = CLI_CMD_SUBMIT; cmd < CLI_CMD_COUNT; cmd++) {
		fz_print(m, (enum cli_command)cmd, false, devnull);
		fz_print(m, (enum cli_command)cmd, true, devnull);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool selftested;
	Hare__FromDaemon *m;
	char errbuf[1024];
	FILE *devnull;
	struct cli_logs_follow *follow = calloc(1, sizeof(*follow));
	bool started = false;
	int fd, rc;

	if (!follow)
		return 0;
	if (!selftested) {
		fz_json_selftest();
		selftested = true;
	}
	/* the client reads a socket; a file gives it the same bytes, then end
	 * of stream, without a peer */
	fd = memfd_create("fuzz-clireply", MFD_CLOEXEC);
	if (fd < 0) {
		free(follow);
		return 0;
	}
	devnull = fopen("/dev/null", "w");
	if (!devnull || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET) != 0)
		goto out;
	for (;;) {
		struct cli_conn c = { .fd = fd };

		m = NULL;
		errbuf[0] = '\0';
		rc = cli_client_recv(&c, 1000, &m, errbuf, sizeof(errbuf));
		if (rc < 0) {
			fz_check(m == NULL && errbuf[0] != '\0');
			break;
		}
		fz_check(m != NULL && m->msg_case != HARE__FROM_DAEMON__MSG__NOT_SET);
		fz_reply(m, devnull);
		fz_follow(m, follow, &started, devnull);
		hare__from_daemon__free_unpacked(m, NULL);
	}
out:
	if (devnull)
		fclose(devnull);
	close(fd);
	free(follow);
	return 0;
}
