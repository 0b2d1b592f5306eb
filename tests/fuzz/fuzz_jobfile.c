/* SPDX-License-Identifier: MIT */
/* Fuzz target for harectl's job-file parser: any text either yields checked
 * jobs whose Submit envelopes encode, or one "jobs.ini..." error line. The
 * text's first line (a comment: '#', ';' and blanks before it skipped) is
 * also read as a submit --array list, and each job made into that array:
 * every job of it checks and encodes too. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"
#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* Every parsed job passes the whole-job check, names only jobs before it
 * (index i; ids: what hared would have given them), and encodes as a
 * Submit. */
static void fuzz_job(const struct cli_job *j, uint32_t i, const uint64_t *ids)
{
	char reason[256];
	struct cli_spec_refs refs;
	Hare__JobSpec spec;
	Hare__Submit submit = HARE__SUBMIT__INIT;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	uint8_t *buf = NULL;
	size_t len;

	fuzz_check(cli_job_check(j, "", NULL, reason, sizeof(reason)) == 0);
	fuzz_check(j->line >= 1);
	fuzz_check(j->nafter <= CLI_JOB_AFTER_MAX);
	for (uint32_t k = 0; k < j->nafter; k++)
		fuzz_check(j->after_ref[k] < 0 ? j->after_ref[k] == -1 && j->after[k] > 0 :
			   (uint32_t)j->after_ref[k] < i);
	cli_job_to_spec(j, ids, &spec, &refs);
	fuzz_check(spec.n_after + spec.n_after_any + spec.n_after_notok == j->nafter);
	for (uint32_t k = 0; k < j->nafter; k++)
		fuzz_check(j->after_kind[k] <= CLI_AFTER_NOTOK);
	submit.spec = &spec;
	m.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	m.submit = &submit;
	fuzz_check(wire_encode_to_daemon(&m, 0, &buf, &len) == 0);
	free(buf);
}

/* The first line as an --array list: indices, or one "--array" error;
 * each job of the file made into the array (up to 8 of its indices). */
static void fuzz_array(const char *text, const struct cli_job *jobs, uint32_t njobs,
		       const uint64_t *ids)
{
	static uint32_t idx[CLI_ARRAY_MAX];
	char line[80], err[512];
	uint32_t n;
	int rc;

	text += strspn(text, "#; \t");
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(text, "\n"), text);
	err[0] = '\0';
	rc = cli_array_parse(line, idx, &n, err, sizeof(err));
	if (rc != 0) {
		fuzz_check(rc == ERR_BAD_SPEC && strncmp(err, "--array", 7) == 0);
		return;
	}
	fuzz_check(n >= 1 && n <= CLI_ARRAY_MAX);
	for (uint32_t i = 0; i < n; i++) {
		fuzz_check(idx[i] <= CLI_ARRAY_INDEX_MAX);
		for (uint32_t k = 0; k < i; k++)
			fuzz_check(idx[k] != idx[i]);
	}
	for (uint32_t i = 0; i < njobs; i++) {
		struct cli_job *out = NULL;
		uint32_t m = n < 8 ? n : 8;

		rc = cli_array_expand(&jobs[i], idx, m, &out, err, sizeof(err));
		if (rc != 0) {
			fuzz_check((rc == ERR_BAD_SPEC && strstr(err, "longer than")) || rc == -ENOMEM);
			continue;
		}
		for (uint32_t k = 0; k < m; k++) {
			fuzz_check(strlen(out[k].name) <= CLI_JOB_NAME_MAX);
			fuzz_check(strlen(out[k].command) <= CLI_JOB_COMMAND_MAX);
			fuzz_check(!jobs[i].command[0] ||
				   strncmp(out[k].command, "HARE_ARRAY_INDEX=", 17) == 0);
			fuzz_job(&out[k], i, ids);
		}
		free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct cli_job *jobs = NULL;
	uint32_t njobs = 0;
	char err[512];
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	rc = cli_jobfile_parse("jobs.ini", text, &jobs, &njobs, err, sizeof(err));
	if (rc == 0) {
		uint64_t ids[CLI_JOBFILE_JOBS_MAX];

		fuzz_check(njobs >= 1 && njobs <= CLI_JOBFILE_JOBS_MAX);
		for (uint32_t i = 0; i < njobs; i++)
			ids[i] = 1000 + i;
		for (uint32_t i = 0; i < njobs; i++)
			fuzz_job(&jobs[i], i, ids);
		fuzz_array(text, jobs, njobs, ids);
		free(jobs);
	} else {
		fuzz_check(rc == ERR_BAD_SPEC || rc == -ENOMEM);
		fuzz_check(jobs == NULL);
		fuzz_check(strncmp(err, "jobs.ini", 8) == 0 && !strchr(err, '\n'));
	}
	free(text);
	return 0;
}
