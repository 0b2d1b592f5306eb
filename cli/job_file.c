/* SPDX-License-Identifier: MIT */
/* Job files for harectl submit: one [job] section per job, read line by line
 * by the INI rules, each job checked and its after names resolved. */
#include "job_impl.h"

#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- job files ---- */

/* State of one job-file parse. Its lines are read here, by the INI rules
 * (inih's: key = value or key: value, ';' or '#' comment lines, " ;" an
 * inline comment, spaces around keys and values dropped), not by inih,
 * whose lines are at most 199 bytes with their end: a command alone may
 * be 511. */
struct cli_jobfile {
	const char *name;
	struct cli_job *jobs;
	uint32_t njobs, cap;
	struct cli_job *cur;	/* NULL while in the text before the first [job] */
	char after[CLI_JOBFILE_LINE_MAX + 1];	/* cur's after value, its names resolved at its end */
	char *errbuf;
	size_t errlen;
};

static bool cli_section_is_job(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n == 3 && strncasecmp(s, "job", 3) == 0;
}

static int cli_jobfile_on_key(struct cli_jobfile *jf, int lineno, const char *key, const char *value,
			      char *err, size_t errlen)
{
	int rc;

	if (!jf->cur) {
		snprintf(err, errlen, "key '%.40s' outside a [job] section", key);
		return ERR_BAD_SPEC;
	}
	rc = cli_job_set(jf->cur, key, value, err, errlen);
	if (rc == -EINVAL) {
		snprintf(err, errlen, "unknown key '%.40s' (known: name, model, gpus, min-gpus, max-gpus, rounds, "
			 "weight, gpu-types, command, proxy, after)", key);
		return ERR_BAD_SPEC;
	}
	if (rc == 0 && cli_job_key_find(key) == CLI_KEY_AFTER) {
		/* a line holds it whole (longer ones are refused) */
		if (strlen(value) >= sizeof(jf->after)) {
			snprintf(err, errlen, "%s is longer than %zu bytes", key, sizeof(jf->after) - 1);
			return ERR_BAD_SPEC;
		}
		memcpy(jf->after, value, strlen(value) + 1);
	}
	if (rc == 0)
		jf->cur->key_line[cli_job_key_find(key)] = lineno;
	return rc;
}

static int cli_jobfile_fail(struct cli_jobfile *jf, int line, const char *reason)
{
	snprintf(jf->errbuf, jf->errlen, "%s:%d: %s", jf->name, line, reason);
	return ERR_BAD_SPEC;
}

/* Index of the one [job] before the current one named name[0..n), or
 * ERR_BAD_SPEC with the reason: none (the job itself is not earlier), or
 * several. */
static int cli_jobfile_after_find(const struct cli_jobfile *jf, const char *name, size_t n, char *reason,
				  size_t len)
{
	uint32_t cur = (uint32_t)(jf->cur - jf->jobs), found = 0;
	int index = -1, w = (int)(n > CLI_JOB_NAME_MAX ? CLI_JOB_NAME_MAX : n);

	for (uint32_t i = 0; i < cur; i++) {
		const struct cli_job *e = &jf->jobs[i];

		if (cli_job_has(e, CLI_KEY_NAME) && strlen(e->name) == n && memcmp(e->name, name, n) == 0 &&
		    found++ == 0)
			index = (int)i;
	}
	if (found == 1)
		return index;
	if (found == 0)
		snprintf(reason, len, "after: no earlier [job] is named '%.*s'%s", w, name,
			 memchr(name, ':', n) ? " (the kinds are any: and notok:)" : "");
	else
		snprintf(reason, len, "after: %u earlier [job] sections are named '%.*s'", found, w, name);
	return ERR_BAD_SPEC;
}

/* The current job's after names (its value in jf->after, item k being
 * after[k]) to the indexes of the earlier [job] sections they name; errors
 * name its after line. */
static int cli_jobfile_after(struct cli_jobfile *jf)
{
	struct cli_job *j = jf->cur;
	const char *p = jf->after;
	int line = j->key_line[CLI_KEY_AFTER];
	char reason[160];

	for (uint32_t k = 0; p && k < j->nafter; k++) {
		const char *s;
		size_t n;
		int index;

		cli_list_next(&p, &s, &n);
		cli_job_after_kind(&s, &n);
		if (j->after_ref[k] != CLI_AFTER_NAMED) {
			/* digits are a job id: a [job] named so would be mistaken */
			if (cli_jobfile_after_find(jf, s, n, reason, sizeof(reason)) >= 0) {
				snprintf(reason, sizeof(reason), "after: '%.*s' is a job id, and also the "
					 "name of an earlier [job]: rename that [job] to run after it",
					 (int)(n > 20 ? 20 : n), s);
				return cli_jobfile_fail(jf, line, reason);
			}
			continue;
		}
		index = cli_jobfile_after_find(jf, s, n, reason, sizeof(reason));
		if (index < 0)
			return cli_jobfile_fail(jf, line, reason);
		for (uint32_t m = 0; m < k; m++) {
			if (j->after_ref[m] == index) {
				snprintf(reason, sizeof(reason), "after lists '%.*s' twice",
					 (int)(n > CLI_JOB_NAME_MAX ? CLI_JOB_NAME_MAX : n), s);
				return cli_jobfile_fail(jf, line, reason);
			}
		}
		j->after_ref[k] = index;
	}
	return 0;
}

/* The current job is read whole (its section ends): check it. */
static int cli_jobfile_end(struct cli_jobfile *jf)
{
	enum cli_job_key blame;
	char reason[256];

	/* a missing key is the [job]'s; a conflict, its key's line */
	if (jf->cur && cli_job_check(jf->cur, "", &blame, reason, sizeof(reason)) < 0)
		return cli_jobfile_fail(jf, blame < CLI_KEY_COUNT && jf->cur->key_line[blame] ?
					    jf->cur->key_line[blame] : jf->cur->line, reason);
	return jf->cur ? cli_jobfile_after(jf) : 0;
}

static int cli_jobfile_begin(struct cli_jobfile *jf, int line, const char *hdr, size_t n)
{
	const char *close = memchr(hdr, ']', n);

	if (!close)
		return cli_jobfile_fail(jf, line, "section header without ']'");
	if (!cli_section_is_job(hdr + 1, (size_t)(close - hdr - 1))) {
		char reason[128];

		snprintf(reason, sizeof(reason), "unknown section [%.*s] (expected [job])",
			 (int)(close - hdr - 1 > 40 ? 40 : close - hdr - 1), hdr + 1);
		return cli_jobfile_fail(jf, line, reason);
	}
	if (jf->njobs == CLI_JOBFILE_JOBS_MAX)
		return cli_jobfile_fail(jf, line, "too many [job] sections (at most 1000 per file)");
	if (jf->njobs == jf->cap) {
		uint32_t cap = jf->cap ? jf->cap * 2 : 8;
		struct cli_job *jobs = realloc(jf->jobs, cap * sizeof(*jobs));

		if (!jobs)
			return -ENOMEM;
		jf->jobs = jobs;
		jf->cap = cap;
	}
	jf->cur = &jf->jobs[jf->njobs++];
	cli_job_init(jf->cur);
	jf->cur->line = line;
	jf->after[0] = '\0';
	return 0;
}

/* What an INI reader makes of one line (inih's rules). */
enum cli_line_kind { CLI_LINE_BLANK, CLI_LINE_COMMENT, CLI_LINE_SECTION, CLI_LINE_KEY, CLI_LINE_CONTINUATION };

static enum cli_line_kind cli_line_classify(const char *line, size_t n, bool after_key, const char **start)
{
	const char *s = line;

	while (s < line + n && isspace((unsigned char)*s))
		s++;
	*start = s;
	if (s == line + n)
		return CLI_LINE_BLANK;
	if (*s == ';' || *s == '#')
		return CLI_LINE_COMMENT;
	if (after_key && s > line)
		return CLI_LINE_CONTINUATION;
	if (*s == '[')
		return CLI_LINE_SECTION;
	return CLI_LINE_KEY;
}

/* Whether the INI reader would see an inline comment in the n bytes at s:
 * a ';' after a space or a tab. */
static bool cli_comment_at(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (s[i] == ';' && (s[i - 1] == ' ' || s[i - 1] == '\t'))
			return true;
	return false;
}

/* The offset in s[0..n) of the first byte in chars (none: n), or of an
 * inline comment before it: a ';' after white space (inih's
 * find_chars_or_comment). */
static size_t cli_ini_find(const char *s, size_t n, const char *chars)
{
	bool was_space = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strchr(chars, s[i]) || (was_space && s[i] == ';'))
			break;
		was_space = isspace((unsigned char)s[i]);
	}
	return i;
}

/* A key line, from its first byte (s, n bytes without the line's end): the
 * key and the value as inih would give them, to cli_jobfile_on_key. */
static int cli_jobfile_key(struct cli_jobfile *jf, int lineno, const char *s, size_t n)
{
	char key[CLI_JOBFILE_LINE_MAX + 1], value[CLI_JOBFILE_LINE_MAX + 1], reason[256] = "";
	size_t k = cli_ini_find(s, n, "=:"), v, vn;
	int rc;

	if (k == n || (s[k] != '=' && s[k] != ':'))
		return cli_jobfile_fail(jf, lineno, "syntax error (expected [section] or key = value)");
	v = k + 1;
	vn = cli_ini_find(s + v, n - v, "");
	while (k > 0 && isspace((unsigned char)s[k - 1]))
		k--;
	while (vn > 0 && isspace((unsigned char)s[v])) {
		v++;
		vn--;
	}
	while (vn > 0 && isspace((unsigned char)s[v + vn - 1]))
		vn--;
	memcpy(key, s, k);
	key[k] = '\0';
	memcpy(value, s + v, vn);
	value[vn] = '\0';
	rc = cli_jobfile_on_key(jf, lineno, key, value, reason, sizeof(reason));
	if (rc < 0)
		return cli_jobfile_fail(jf, lineno, reason);
	return 0;
}

/* One line (n bytes, without its line end): a key of the current job, or
 * a section header that ends it and starts the next. */
static int cli_jobfile_line(struct cli_jobfile *jf, const char *line, size_t n, int lineno, bool *after_key)
{
	const char *start;
	enum cli_line_kind kind = cli_line_classify(line, n, *after_key, &start);
	int rc;

	if (n > CLI_JOBFILE_LINE_MAX) {
		char reason[64];

		snprintf(reason, sizeof(reason), "line too long (at most %d bytes)", CLI_JOBFILE_LINE_MAX);
		return cli_jobfile_fail(jf, lineno, reason);
	}
	/* an indented line continues the previous value in INI files: refused,
	 * so that the file means the same to any INI reader */
	if (kind == CLI_LINE_CONTINUATION)
		return cli_jobfile_fail(jf, lineno, "indented line would continue the previous value; start "
					"each key in the first column");
	/* ';' after a space or tab starts a comment: a shell's "a ; b" would
	 * quietly lose "; b" */
	if (kind == CLI_LINE_KEY && (size_t)(line + n - start) > 7 && strncmp(start, "command", 7) == 0 &&
	    (start[7] == ' ' || start[7] == '=' || start[7] == ':' || start[7] == '\t') &&
	    cli_comment_at(start, (size_t)(line + n - start)))
		return cli_jobfile_fail(jf, lineno, "command: \" ;\" starts a comment here, so the "
					"command would end before it; put the commands in a script, or "
					"write ';' with no space before it");
	/* As in the INI reader, only a well-formed key = value line makes
	 * the next indented line its continuation. */
	if (kind == CLI_LINE_KEY && (memchr(start, '=', (size_t)(line + n - start)) ||
				     memchr(start, ':', (size_t)(line + n - start))))
		*after_key = true;
	if (kind == CLI_LINE_KEY)
		return cli_jobfile_key(jf, lineno, start, (size_t)(line + n - start));
	if (kind != CLI_LINE_SECTION)
		return 0;
	rc = cli_jobfile_end(jf);
	if (rc == 0)
		rc = cli_jobfile_begin(jf, lineno, start, (size_t)(line + n - start));
	*after_key = false;
	return rc;
}

static int cli_jobfile_scan(struct cli_jobfile *jf, const char *text)
{
	const char *p = text;
	int lineno = 1, rc;
	bool after_key = false;

	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		rc = cli_jobfile_line(jf, p, n, lineno, &after_key);
		if (rc < 0)
			return rc;
		if (!nl)
			break;
		p = nl + 1;
		lineno++;
	}
	rc = cli_jobfile_end(jf);
	if (rc == 0 && jf->njobs == 0) {
		snprintf(jf->errbuf, jf->errlen, "%s: no [job] section", jf->name);
		rc = ERR_BAD_SPEC;
	}
	return rc;
}

int cli_jobfile_parse(const char *name, const char *text, struct cli_job **jobs, uint32_t *njobs,
		      char *errbuf, size_t errlen)
{
	struct cli_jobfile jf = { .name = name, .errbuf = errbuf, .errlen = errlen };
	int rc = cli_jobfile_scan(&jf, text);

	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(errbuf, errlen, "%s: out of memory", name);
		free(jf.jobs);
		return rc;
	}
	*jobs = jf.jobs;
	*njobs = jf.njobs;
	return 0;
}

int cli_jobfile_load(const char *path, struct cli_job **jobs, uint32_t *njobs, char *errbuf, size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	char *text;
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	text = malloc(CLI_JOBFILE_BYTES_MAX + 1);
	n = text ? fread(text, 1, CLI_JOBFILE_BYTES_MAX + 1, f) : 0;
	rc = !text ? -ENOMEM : ferror(f) ? (errno ? -errno : -EIO) : 0;
	if (!is_stdin)
		fclose(f);
	if (rc < 0)
		snprintf(errbuf, errlen, "%s: %s", name, rc == -ENOMEM ? "out of memory" :
			 rc == -EISDIR ? "is a directory, not a job file" : strerror(-rc));
	else if (n > CLI_JOBFILE_BYTES_MAX)
		snprintf(errbuf, errlen, "%s: larger than %u bytes", name, CLI_JOBFILE_BYTES_MAX);
	else if (memchr(text, '\0', n))
		snprintf(errbuf, errlen, "%s: not a text file (has a NUL byte)", name);
	else {
		text[n] = '\0';
		rc = cli_jobfile_parse(name, text, jobs, njobs, errbuf, errlen);
		free(text);
		return rc;
	}
	free(text);
	return rc < 0 ? rc : ERR_BAD_SPEC;
}
