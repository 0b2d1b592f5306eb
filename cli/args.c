/* SPDX-License-Identifier: MIT */
/* harectl's command line: global options anywhere, one command, its options
 * and arguments; every mistake becomes one line naming it, with a hint. */
#include "cli.h"

#include "config.h"
#include "err.h"
#include "text.h"
#include "utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum cli_opt_id {
	OPT_SOCKET,
	OPT_HOST,
	OPT_TOKEN_FILE,
	OPT_NO_TLS,
	OPT_TIMEOUT,
	OPT_HELP,
	OPT_VERSION,
	OPT_ALL,
	OPT_USER,
	OPT_STATE,
	OPT_OUTPUT,
	OPT_FILE,
	OPT_REASON,
	OPT_RANK,
	OPT_BYTES,
	OPT_LINES,
	OPT_FOLLOW,
	OPT_JOB,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_WAIT,
	OPT_MAX_WAIT,
	OPT_ARRAY,
	OPT_CHECK,
	OPT_NODE,
};

#define CMD_BIT(c) (1u << (c))
#define CMDS_OUTPUT (CMD_BIT(CLI_CMD_QUEUE) | CMD_BIT(CLI_CMD_SHOW) | CMD_BIT(CLI_CMD_NODES))
#define CMDS_JOB_SET (CMD_BIT(CLI_CMD_SUBMIT) | CMD_BIT(CLI_CMD_UPDATE))
#define CMDS_OUTPUT_MORE (CMDS_OUTPUT | CMD_BIT(CLI_CMD_HISTORY) | CMD_BIT(CLI_CMD_USAGE) | \
			  CMD_BIT(CLI_CMD_WAIT))

struct cli_opt {
	const char *name;	/* long name, without "--" */
	char short_name;	/* 0: none */
	bool value;		/* takes a value */
	enum cli_opt_id id;
	uint32_t cmds;		/* commands it belongs to; 0: every command */
};

static const struct cli_opt cli_opts[] = {
	{ "socket", 0, true, OPT_SOCKET, 0 },
	{ "host", 0, true, OPT_HOST, 0 },
	{ "token-file", 0, true, OPT_TOKEN_FILE, 0 },
	{ "no-tls", 0, false, OPT_NO_TLS, 0 },
	{ "timeout", 0, true, OPT_TIMEOUT, 0 },
	{ "help", 'h', false, OPT_HELP, 0 },
	{ "version", 0, false, OPT_VERSION, 0 },
	{ "all", 'a', false, OPT_ALL, CMD_BIT(CLI_CMD_QUEUE) },
	{ "user", 'u', true, OPT_USER, CMD_BIT(CLI_CMD_QUEUE) | CMD_BIT(CLI_CMD_USAGE) },
	{ "since", 0, true, OPT_SINCE, CMD_BIT(CLI_CMD_USAGE) },
	{ "until", 0, true, OPT_UNTIL, CMD_BIT(CLI_CMD_USAGE) },
	{ "state", 's', true, OPT_STATE, CMD_BIT(CLI_CMD_QUEUE) },
	{ "output", 'o', true, OPT_OUTPUT, CMDS_OUTPUT_MORE },
	{ "file", 'f', true, OPT_FILE, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "reason", 0, true, OPT_REASON, CMD_BIT(CLI_CMD_DRAIN) },
	{ "rank", 'r', true, OPT_RANK, CMD_BIT(CLI_CMD_LOGS) },
	{ "bytes", 'c', true, OPT_BYTES, CMD_BIT(CLI_CMD_LOGS) },
	{ "lines", 'n', true, OPT_LINES, CMD_BIT(CLI_CMD_LOGS) | CMD_BIT(CLI_CMD_HISTORY) },
	{ "follow", 'f', false, OPT_FOLLOW, CMD_BIT(CLI_CMD_LOGS) },
	{ "name", 0, true, OPT_JOB, CMDS_JOB_SET },
	{ "model", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "gpus", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "min-gpus", 0, true, OPT_JOB, CMDS_JOB_SET },
	{ "max-gpus", 0, true, OPT_JOB, CMDS_JOB_SET },
	{ "rounds", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "weight", 0, true, OPT_JOB, CMDS_JOB_SET },
	{ "gpu-types", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "command", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "proxy", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "after", 0, true, OPT_JOB, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "array", 0, true, OPT_ARRAY, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "wait", 0, false, OPT_WAIT, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "check", 0, false, OPT_CHECK, CMD_BIT(CLI_CMD_SUBMIT) },
	{ "node", 0, true, OPT_NODE, CMD_BIT(CLI_CMD_HISTORY) },
	{ "max-wait", 0, true, OPT_MAX_WAIT, CMD_BIT(CLI_CMD_SUBMIT) | CMD_BIT(CLI_CMD_WAIT) },
};
#define CLI_NOPTS (sizeof(cli_opts) / sizeof(cli_opts[0]))

/* One parse: where we are and how messages start ("harectl submit"). */
struct cli_parse {
	int argc;
	char *const *argv;
	struct cli_args *a;
	char *errbuf;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int cli_usage_fail(struct cli_parse *p, const char *fmt, ...)
{
	const char *cmd = cli_command_name(p->a->cmd);
	int n = snprintf(p->errbuf, p->errlen, "harectl%s%s: ", cmd[0] ? " " : "", cmd);
	va_list ap;

	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "harectl submit --help" or "harectl --help", for hints. */
static const char *cli_hint(const struct cli_parse *p)
{
	static char hint[48];
	const char *cmd = cli_command_name(p->a->cmd);

	snprintf(hint, sizeof(hint), "harectl%s%s --help", cmd[0] ? " " : "", cmd);
	return hint;
}

static bool cli_opt_fits(const struct cli_opt *o, enum cli_command cmd)
{
	return o->cmds == 0 || (o->cmds & CMD_BIT(cmd));
}

static const struct cli_opt *cli_opt_long(const char *name, size_t n)
{
	for (size_t k = 0; k < CLI_NOPTS; k++)
		if (strlen(cli_opts[k].name) == n && strncmp(cli_opts[k].name, name, n) == 0)
			return &cli_opts[k];
	return NULL;
}

/* A letter may mean different options to different commands (-f: submit
 * --file, logs --follow): the command's own first. */
static const struct cli_opt *cli_opt_short(char c, enum cli_command cmd)
{
	const struct cli_opt *any = NULL;

	for (size_t k = 0; k < CLI_NOPTS; k++) {
		if (!c || cli_opts[k].short_name != c)
			continue;
		if (cli_opt_fits(&cli_opts[k], cmd))
			return &cli_opts[k];
		if (!any)
			any = &cli_opts[k];
	}
	return any;
}

/* Whether arg is one of harectl's options: a long one ("--weight",
 * "--name=x") or a short one alone ("-o"). Taken as the value of an option
 * before it, it is almost surely a value left out ("update 4 --name
 * --weight 2"). */
static bool cli_is_option(const struct cli_parse *p, const char *arg)
{
	const char *eq;

	if (arg[0] != '-' || arg[1] == '\0')
		return false;
	if (arg[1] != '-')
		return arg[2] == '\0' && cli_opt_short(arg[1], p->a->cmd) != NULL;
	eq = strchr(arg + 2, '=');
	return cli_opt_long(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2)) != NULL;
}

static int cli_unknown_option(struct cli_parse *p, const char *arg)
{
	char name[40];
	const char *best = NULL;
	size_t n = strcspn(arg, "=");

	snprintf(name, sizeof(name), "%.*s", (int)(n < 39 ? n : 39), arg[1] == '-' ? arg + 2 : arg + 1);
	for (size_t k = 0; k < CLI_NOPTS; k++)
		if (cli_opt_fits(&cli_opts[k], p->a->cmd) && text_distance(name, cli_opts[k].name) <= 2 &&
		    strlen(name) >= 3)
			best = cli_opts[k].name;
	if (best)
		return cli_usage_fail(p, "unknown option '%.*s' (did you mean --%s? see %s)", (int)n, arg, best,
				      cli_hint(p));
	return cli_usage_fail(p, "unknown option '%.*s' (see %s)", (int)n, arg, cli_hint(p));
}

static int cli_parse_id(struct cli_parse *p, const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno || v == 0)
		return cli_usage_fail(p, "bad job id '%.40s' (want a number like 42)", arg);
	for (uint32_t k = 0; k < p->a->nids; k++)
		if (p->a->ids[k] == v)
			return 0;	/* a repeat: one answer per job */
	if (p->a->nids == CLI_IDS_MAX)
		return cli_usage_fail(p, "at most %d job ids at once", CLI_IDS_MAX);
	p->a->ids[p->a->nids++] = v;
	return 0;
}

static int cli_parse_positional(struct cli_parse *p, const char *arg)
{
	switch (p->a->cmd) {
	case CLI_CMD_SHOW:
	case CLI_CMD_CANCEL:
	case CLI_CMD_LOGS:
	case CLI_CMD_HISTORY:
	case CLI_CMD_HOLD:
	case CLI_CMD_RELEASE:
	case CLI_CMD_UPDATE:
	case CLI_CMD_WAIT:
		return cli_parse_id(p, arg);
	default:
		break;
	}
	if ((p->a->cmd == CLI_CMD_DRAIN || p->a->cmd == CLI_CMD_UNDRAIN ||
	     p->a->cmd == CLI_CMD_FORGET) && !p->a->node) {
		p->a->node = arg;
		return 0;
	}
	return cli_usage_fail(p, "unexpected argument '%.40s' (see %s)", arg, cli_hint(p));
}

/* HOST:PORT with a non-empty host and a port of digits (the connect
 * resolves the rest). */
static bool cli_host_ok(const char *v)
{
	const char *colon = strrchr(v, ':');

	return colon && colon > v && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	       strlen(colon + 1) <= 5;
}

/* "running,held" into a CLI_STATE_* mask; -EINVAL for an unknown name. */
static int cli_states_parse(const char *value, uint32_t *mask)
{
	static const struct { const char *name; uint32_t bit; } states[] = {
		{ "queued", CLI_STATE_QUEUED }, { "waiting", CLI_STATE_WAITING }, { "held", CLI_STATE_HELD },
		{ "running", CLI_STATE_RUNNING }, { "done", CLI_STATE_DONE },
		{ "cancelled", CLI_STATE_CANCELLED }, { "failed", CLI_STATE_FAILED },
	};
	const size_t nstates = sizeof(states) / sizeof(states[0]);
	const char *p = value;

	*mask = 0;
	while (*p) {
		size_t n = strcspn(p, ","), k;

		for (k = 0; k < nstates; k++)
			if (strlen(states[k].name) == n && strncasecmp(p, states[k].name, n) == 0)
				break;
		if (k == nstates)
			return -EINVAL;
		*mask |= states[k].bit;
		p += n;
		if (*p == ',' && *++p == '\0')
			return -EINVAL;
	}
	return *mask ? 0 : -EINVAL;
}

/* A usage window's end: "now", a span before now (N followed by s, m, h, d
 * or w: "7d"), "@" and unix seconds, or a local date and time
 * YYYY-MM-DD[THH:MM[:SS]] (a blank for the T too). */
static int cli_when_parse(const char *v, struct cli_when *w)
{
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
					       "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d" };
	static const struct { char unit; double secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 },
	};
	char *end;
	double x;

	*w = (struct cli_when){ .set = true, .ago = true };
	if (strcmp(v, "now") == 0)
		return 0;
	if (v[0] == '@' && v[1] >= '0' && v[1] <= '9') {
		errno = 0;
		x = strtod(v + 1, &end);
		if (errno || *end || !(x < 1e11))
			return -EINVAL;
		w->ago = false;
		w->value = x;
		return 0;
	}
	if (v[0] >= '0' && v[0] <= '9' && strspn(v, "0123456789") == strlen(v) - 1) {
		x = strtod(v, &end);
		for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (*end == units[k].unit && x * units[k].secs <= 1e10) {
				w->value = x * units[k].secs;
				return 0;
			}
		return -EINVAL;
	}
	for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++) {
		struct tm tm, want;
		const char *rest;
		time_t t;

		memset(&tm, 0, sizeof(tm));
		rest = strptime(v, formats[k], &tm);
		if (!rest || *rest)
			continue;
		tm.tm_isdst = -1;
		want = tm;
		t = mktime(&tm);
		/* mktime moves a day that does not exist (02-30) to one that does */
		if (t == (time_t)-1 || t < 0 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
		    tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min)
			return -EINVAL;
		w->ago = false;
		w->value = (double)t;
		return 0;
	}
	return -EINVAL;
}

/* A length of time: seconds, or a number followed by s, m, h or d ("90",
 * "1.5h"): digits, optionally a '.' and digits, then the unit; from 0 to
 * CLI_MAX_WAIT_S. */
static int cli_span_parse(const char *v, double *secs)
{
	static const struct { char unit; double secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	size_t n = strspn(v, "0123456789");
	double x, unit = 1;

	if (n == 0 || n > 12)
		return -EINVAL;
	if (v[n] == '.') {
		size_t frac = strspn(v + n + 1, "0123456789");

		if (frac == 0 || frac > 9)
			return -EINVAL;
		n += 1 + frac;
	}
	if (v[n]) {
		size_t k;

		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (v[n] == units[k].unit && v[n + 1] == '\0')
				break;
		if (k == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		unit = units[k].secs;
	}
	x = strtod(v, NULL) * unit;
	if (!(x <= CLI_MAX_WAIT_S))
		return -EINVAL;
	*secs = x;
	return 0;
}

/* A node name as hared takes it: letters, digits, '.', '-', '_'. */
static bool cli_node_name_ok(const char *v)
{
	return strlen(v) <= CLI_NODE_NAME_MAX &&
	       strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(v);
}

/* submit --array, history --node, wait and submit --max-wait. */
static int cli_apply_more(struct cli_parse *p, const struct cli_opt *o, const char *label, const char *value)
{
	struct cli_args *a = p->a;
	char reason[256];

	switch (o->id) {
	case OPT_ARRAY:
		if (a->narray)
			return cli_usage_fail(p, "%s given twice", label);
		if (cli_array_parse(value, a->array, &a->narray, reason, sizeof(reason)) < 0)
			return cli_usage_fail(p, "%s", reason);
		return 0;
	case OPT_NODE:
		if (!cli_node_name_ok(value))
			return cli_usage_fail(p, "%s wants a node name (letters, digits, '.', '-', '_'; "
					      "at most %d bytes), got '%.40s'", label, CLI_NODE_NAME_MAX,
					      value);
		a->node = value;
		return 0;
	default:
		if (cli_span_parse(value, &a->max_wait_s) < 0)
			return cli_usage_fail(p, "%s wants seconds, or a number followed by s, m, h or "
					      "d (90, 30m, 1.5h), at most %.0f days, got '%.40s'", label,
					      CLI_MAX_WAIT_S / 86400, value);
		a->has_max_wait = true;
		a->max_wait_text = value;
		return 0;
	}
}

/* The options whose value is text: socket, host, token file, file, reason,
 * user and output. */
static int cli_apply_text(struct cli_parse *p, const struct cli_opt *o, const char *label,
			  const char *value)
{
	struct cli_args *a = p->a;

	switch (o->id) {
	case OPT_SOCKET: a->socket_path = value; return 0;
	case OPT_HOST:
		if (!cli_host_ok(value))
			return cli_usage_fail(p, "%s wants HOST:PORT ([::1]:PORT for IPv6), "
					      "got '%.60s'", label, value);
		a->host = value;
		return 0;
	case OPT_TOKEN_FILE: a->token_file = value; return 0;
	case OPT_FILE: a->file = value; return 0;
	case OPT_REASON:
		if (strlen(value) > CLI_REASON_MAX)
			return cli_usage_fail(p, "%s is longer than %d bytes", label, CLI_REASON_MAX);
		if (utf8_has_c0(value))
			return cli_usage_fail(p, "%s contains control characters (a newline, a tab "
					      "...): one line of text", label);
		a->reason = value;
		return 0;
	case OPT_USER:
		if (strlen(value) > 63)
			return cli_usage_fail(p, "%s is longer than 63 bytes", label);
		a->user = value;
		return 0;
	default:
		if (strcmp(value, "json") != 0 && strcmp(value, "table") != 0)
			return cli_usage_fail(p, "%s wants table or json, got '%.40s'", label,
					      value);
		a->json = strcmp(value, "json") == 0;
		return 0;
	}
}

/* The options whose value is a number: rank, bytes, lines and timeout. */
static int cli_apply_number(struct cli_parse *p, const struct cli_opt *o, const char *label,
			    const char *value)
{
	struct cli_args *a = p->a;
	char reason[256];
	double secs;

	switch (o->id) {
	case OPT_RANK:
		if (config_parse_u32(value, 0, 4095, &a->rank, reason, sizeof(reason)) < 0)
			return cli_usage_fail(p, "%s %s", label, reason);
		a->has_rank = true;
		return 0;
	case OPT_BYTES:
		if (config_parse_u32(value, 1, CLI_LOG_BYTES_MAX, &a->max_bytes, reason,
				     sizeof(reason)) < 0)
			return cli_usage_fail(p, "%s %s", label, reason);
		return 0;
	case OPT_LINES:
		if (config_parse_u32(value, 1, a->cmd == CLI_CMD_HISTORY ? CLI_HISTORY_MAX : 1000000,
				     &a->lines, reason, sizeof(reason)) < 0)
			return cli_usage_fail(p, "%s %s", label, reason);
		return 0;
	default:
		if (config_parse_double(value, 0.1, 3600, &secs, reason, sizeof(reason)) < 0)
			return cli_usage_fail(p, "%s %s", label, reason);
		a->timeout_ms = (uint32_t)(secs * 1000 + 0.5);
		return 0;
	}
}

/* The filters: --state, --since and --until. */
static int cli_apply_filter(struct cli_parse *p, const struct cli_opt *o, const char *label,
			    const char *value)
{
	struct cli_args *a = p->a;

	if (o->id == OPT_STATE) {
		if (cli_states_parse(value, &a->states) < 0)
			return cli_usage_fail(p, "%s wants states among queued, waiting, held, running, "
					      "done, cancelled, failed (comma-separated), got '%.60s'", label,
					      value);
		return 0;
	}
	if (cli_when_parse(value, o->id == OPT_SINCE ? &a->since : &a->until) < 0)
		return cli_usage_fail(p, "%s wants now, a span before now (30m, 12h, 7d, 2w), "
				      "a local date YYYY-MM-DD[THH:MM[:SS]] or @UNIXSECONDS, "
				      "got '%.40s'", label, value);
	return 0;
}

/* An option that takes a value (label: as it was given): an empty value is
 * refused but for the job's own options, the rest by kind. */
static int cli_apply_value(struct cli_parse *p, const struct cli_opt *o, const char *label,
			   const char *value)
{
	struct cli_args *a = p->a;
	char reason[256];

	if (o->id != OPT_JOB && value[0] == '\0')
		return cli_usage_fail(p, "%s needs a value (see %s)", label, cli_hint(p));
	switch (o->id) {
	case OPT_SOCKET:
	case OPT_HOST:
	case OPT_TOKEN_FILE:
	case OPT_FILE:
	case OPT_REASON:
	case OPT_USER:
	case OPT_OUTPUT:
		return cli_apply_text(p, o, label, value);
	case OPT_RANK:
	case OPT_BYTES:
	case OPT_LINES:
	case OPT_TIMEOUT:
		return cli_apply_number(p, o, label, value);
	case OPT_STATE:
	case OPT_SINCE:
	case OPT_UNTIL:
		return cli_apply_filter(p, o, label, value);
	case OPT_ARRAY:
	case OPT_NODE:
	case OPT_MAX_WAIT:
		return cli_apply_more(p, o, label, value);
	default:
		a->job_flags = true;
		if (cli_job_set(&a->job, label, value, reason, sizeof(reason)) < 0)
			return cli_usage_fail(p, "%s", reason);
		return 0;
	}
}

static int cli_apply(struct cli_parse *p, const struct cli_opt *o, const char *label, const char *value)
{
	if (o->value)
		return cli_apply_value(p, o, label, value);
	if (o->id == OPT_HELP)
		p->a->help = true;
	else if (o->id == OPT_VERSION)
		p->a->version = true;
	else if (o->id == OPT_FOLLOW)
		p->a->follow = true;
	else if (o->id == OPT_NO_TLS)
		p->a->no_tls = true;
	else if (o->id == OPT_WAIT)
		p->a->wait = true;
	else if (o->id == OPT_CHECK)
		p->a->check = true;
	else
		p->a->all = true;
	return 0;
}

/* argv[*i] starts with '-': find it, take its value (inline or the next
 * argument), apply it. */
static int cli_parse_option(struct cli_parse *p, int *i)
{
	const char *arg = p->argv[*i];
	const char *value = NULL;
	const struct cli_opt *o;
	char label[48];

	if (arg[1] == '-') {
		const char *eq = strchr(arg + 2, '=');

		o = cli_opt_long(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
		value = eq ? eq + 1 : NULL;
	} else {
		o = cli_opt_short(arg[1], p->a->cmd);
		value = arg[2] ? arg + 2 : NULL;
		if (o && value && !o->value)
			o = NULL;
	}
	if (!o)
		return cli_unknown_option(p, arg);
	if (arg[1] == '-')
		snprintf(label, sizeof(label), "--%s", o->name);
	else
		snprintf(label, sizeof(label), "-%c", o->short_name);
	if (!cli_opt_fits(o, p->a->cmd))
		return cli_usage_fail(p, "%s is not an option of %s (see %s)", label, cli_command_name(p->a->cmd),
				      cli_hint(p));
	if (!o->value && value)
		return cli_usage_fail(p, "%s takes no value", label);
	if (o->value && !value) {
		if (*i + 1 >= p->argc)
			return cli_usage_fail(p, "%s needs a value (see %s)", label, cli_hint(p));
		value = p->argv[++*i];
		if (cli_is_option(p, value))
			return cli_usage_fail(p, "%s needs a value, got the option '%.40s' (write "
					      "--%s=VALUE for a value that starts with -)", label, value,
					      o->name);
	}
	return cli_apply(p, o, label, value);
}

static int cli_command_find(const char *name)
{
	for (int c = CLI_CMD_NONE + 1; c < CLI_CMD_COUNT; c++)
		if (strcmp(name, cli_command_name(c)) == 0)
			return c;
	return -1;
}

/* Whether some command's short option c takes no value (-f: logs --follow,
 * while submit's -f takes a file). */
static bool cli_short_flag(char c)
{
	for (size_t k = 0; k < CLI_NOPTS; k++)
		if (cli_opts[k].short_name == c && !cli_opts[k].value)
			return true;
	return false;
}

/* Index of the command word: the first argument that is neither an option
 * nor an option's value; 0 if there is none. A letter that takes a value
 * for one command and none for another takes the next argument unless that
 * is a command name ("harectl -f logs 42", "harectl -f jobs.ini submit"). */
static int cli_command_index(int argc, char *const *argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const struct cli_opt *o;

		if (strcmp(arg, "--") == 0)
			return i + 1 < argc ? i + 1 : 0;
		if (arg[0] != '-' || arg[1] == '\0')
			return i;
		if (arg[1] == '-')
			o = strchr(arg, '=') ? NULL : cli_opt_long(arg + 2, strlen(arg + 2));
		else
			o = arg[2] ? NULL : cli_opt_short(arg[1], CLI_CMD_NONE);
		if (o && o->value && arg[1] != '-' && cli_short_flag(arg[1]) && i + 1 < argc &&
		    cli_command_find(argv[i + 1]) > 0)
			continue;
		if (o && o->value)
			i++;
	}
	return 0;
}

/* --help, -h or --version before any "--". */
static bool cli_has_flag(int argc, char *const *argv, const char *lng, const char *shrt)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], lng) == 0 || (shrt && strcmp(argv[i], shrt) == 0))
			return true;
	return false;
}

static int cli_unknown_command(struct cli_parse *p, const char *name)
{
	for (int c = CLI_CMD_NONE + 1; c < CLI_CMD_COUNT; c++)
		if (text_distance(name, cli_command_name(c)) <= 2)
			return cli_usage_fail(p, "unknown command '%.40s' (did you mean %s? see harectl --help)", name,
					      cli_command_name(c));
	return cli_usage_fail(p, "unknown command '%.40s' (see harectl --help)", name);
}

/* Set p->a->cmd from the command word; handles "help [COMMAND]". */
static int cli_parse_command(struct cli_parse *p, int *index)
{
	const char *word;
	int cmd;

	if (*index == 0)
		return 0;
	word = p->argv[*index];
	if (strcmp(word, "help") == 0) {
		p->a->help = true;
		if (*index + 1 >= p->argc)
			return 0;
		word = p->argv[++*index];
	}
	cmd = cli_command_find(word);
	if (cmd < 0)
		return cli_unknown_command(p, word);
	p->a->cmd = cmd;
	return 0;
}

/* submit's options that go together, and its job from flags as a whole. */
static int cli_finish_submit(struct cli_parse *p)
{
	const struct cli_args *a = p->a;
	char reason[256];

	if (a->check && a->wait)
		return cli_usage_fail(p, "--check submits nothing to wait for: not with --wait");
	if (a->has_max_wait && !a->wait)
		return cli_usage_fail(p, "--max-wait goes with --wait (see %s)", cli_hint(p));
	if (a->file && a->narray)
		return cli_usage_fail(p, "--array goes with job options, not --file (a job file "
				      "lists its jobs)");
	if (a->file && a->job_flags)
		return cli_usage_fail(p, "--file cannot be combined with job options such as --model");
	if (a->file || cli_job_check(&a->job, "--", NULL, reason, sizeof(reason)) == 0)
		return 0;
	if (strncmp(reason, "missing", 7) == 0)
		return cli_usage_fail(p, "%s (see %s)", reason, cli_hint(p));
	return cli_usage_fail(p, "%s", reason);
}

/* What a command needs once every argument is read. */
static int cli_parse_finish(struct cli_parse *p)
{
	struct cli_args *a = p->a;

	if (a->socket_path && a->host)
		return cli_usage_fail(p, "--socket and --host cannot be used together");
	/* the token goes with TCP only; on the local socket it would be ignored */
	if (a->token_file && !a->host)
		return cli_usage_fail(p, "--token-file goes with --host (the local socket needs no token)");
	if (a->no_tls && !a->host)
		return cli_usage_fail(p, "--no-tls goes with --host (the local socket is not encrypted: "
				      "it never leaves the host)");
	switch (a->cmd) {
	case CLI_CMD_SUBMIT:
		return cli_finish_submit(p);
	case CLI_CMD_UPDATE:
		if (a->nids == 0)
			return cli_usage_fail(p, "missing job id (see %s)", cli_hint(p));
		if (a->job.set == 0)
			return cli_usage_fail(p, "nothing to change: give --weight, --min-gpus, "
					      "--max-gpus or --name (see %s)", cli_hint(p));
		if (cli_job_has(&a->job, CLI_KEY_MIN_GPUS) && cli_job_has(&a->job, CLI_KEY_MAX_GPUS) &&
		    a->job.min_gpus > a->job.max_gpus)
			return cli_usage_fail(p, "--min-gpus (%u) is above --max-gpus (%u)",
					      a->job.min_gpus, a->job.max_gpus);
		return 0;
	case CLI_CMD_HISTORY:
		/* --lines given before the command word was read as logs' */
		if (a->lines > CLI_HISTORY_MAX)
			return cli_usage_fail(p, "--lines must be between 1 and %d, got %u",
					      CLI_HISTORY_MAX, a->lines);
		if (a->node && a->nids)
			return cli_usage_fail(p, "a job id or --node NODE, not both");
		if (a->node)
			return 0;
		if (a->nids == 0)
			return cli_usage_fail(p, "missing job id, or --node NODE (see %s)", cli_hint(p));
		/* fall through */
	case CLI_CMD_SHOW:
	case CLI_CMD_LOGS:
		if (a->nids > 1)
			return cli_usage_fail(p, "one job id at a time, got %u", a->nids);
		/* fall through */
	case CLI_CMD_CANCEL:
	case CLI_CMD_HOLD:
	case CLI_CMD_RELEASE:
	case CLI_CMD_WAIT:
		if (a->nids == 0)
			return cli_usage_fail(p, "missing job id (see %s)", cli_hint(p));
		return 0;
	case CLI_CMD_USAGE:
		/* both before now, or both dates: their order is known here */
		if (a->since.set && a->until.set && a->since.ago == a->until.ago &&
		    (a->since.ago ? a->since.value <= a->until.value : a->since.value >= a->until.value))
			return cli_usage_fail(p, "--since must be before --until");
		return 0;
	case CLI_CMD_DRAIN:
	case CLI_CMD_UNDRAIN:
	case CLI_CMD_FORGET:
		if (!a->node)
			return cli_usage_fail(p, "missing node name (see %s)", cli_hint(p));
		return 0;
	default:
		return 0;
	}
}

int cli_args_parse(int argc, char *const *argv, struct cli_args *a, char *errbuf, size_t errlen)
{
	struct cli_parse p = { .argc = argc, .argv = argv, .a = a, .errbuf = errbuf, .errlen = errlen };
	int index = cli_command_index(argc, argv);
	bool dashdash = false;
	int rc;

	memset(a, 0, sizeof(*a));
	cli_job_init(&a->job);
	errbuf[0] = '\0';
	rc = cli_parse_command(&p, &index);
	if (rc < 0 || a->help || cli_has_flag(argc, argv, "--help", "-h")) {
		a->help = rc == 0;
		return rc;
	}
	if (index == 0 && !cli_has_flag(argc, argv, "--version", NULL))
		return cli_usage_fail(&p, "no command given (see harectl --help)");
	for (int i = 1; i < argc && rc == 0; i++) {
		const char *arg = argv[i];

		if (i == index)
			continue;
		if (!dashdash && strcmp(arg, "--") == 0)
			dashdash = true;
		else if (!dashdash && arg[0] == '-' && arg[1] != '\0')
			rc = cli_parse_option(&p, &i);
		else
			rc = cli_parse_positional(&p, arg);
	}
	if (rc == 0 && a->version)
		return 0;
	return rc < 0 ? rc : cli_parse_finish(&p);
}
