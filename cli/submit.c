/* SPDX-License-Identifier: MIT */
/* harectl submit: the jobs of the flags, of a file or of an array, checked
 * by hared first when there are several (or --check), then submitted in
 * order; --wait then waits for them (wait.c). */
#include "cli.h"

#include "client.h"
#include "format.h"
#include "run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Submit one job, index of its file or array; ids: what hared gave the
 * jobs before it (a job from flags: just where its id goes), where its id
 * goes on success. check: only have hared check it (Submit.check_only; the
 * file's jobs it runs after are left out, none has an id yet); nothing is
 * printed but a refusal. */
static int cli_submit_one(struct cli_run *r, const struct cli_job *job, const char *file, uint64_t *ids,
			  uint32_t index, bool check)
{
	struct cli_spec_refs refs;
	struct cli_job outside;
	Hare__JobSpec spec;
	Hare__Submit submit = HARE__SUBMIT__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply;
	char where[300] = "";
	int status;

	if (check) {
		outside = *job;
		outside.nafter = 0;
		for (uint32_t k = 0; k < job->nafter; k++)
			if (job->after_ref[k] < 0) {
				outside.after[outside.nafter] = job->after[k];
				outside.after_kind[outside.nafter] = job->after_kind[k];
				outside.after_ref[outside.nafter++] = -1;
			}
		job = &outside;
		submit.has_check_only = submit.check_only = true;
	}
	cli_job_to_spec(job, ids, &spec, &refs);
	submit.spec = &spec;
	req.msg_case = HARE__TO_DAEMON__MSG_SUBMIT;
	req.submit = &submit;
	if (file)
		snprintf(where, sizeof(where), "%s:%d: ", strcmp(file, "-") ? file : "<stdin>", job->line);
	else if (r->a->narray)
		snprintf(where, sizeof(where), "--array index %u: ", r->a->array[index]);
	if (cli_run_request(r, &req, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY, &reply, where) < 0)
		return CLI_EXIT_FAIL;
	if (check) {
		hare__from_daemon__free_unpacked(reply, NULL);
		return CLI_EXIT_OK;
	}
	status = cli_reply_print(r->a, reply, r->out, r->err, 0);
	fflush(r->out);
	if (ids)
		ids[index] = reply->submit_reply->job_id;
	hare__from_daemon__free_unpacked(reply, NULL);
	return status;
}

/* The jobs of a submit besides the one of the flags: a file's, or an
 * array's (*loaded, *njobs of them, *ids for what hared gives each). The
 * exit status; nothing to free unless CLI_EXIT_OK. */
static int cli_submit_jobs(struct cli_run *r, struct cli_job **loaded, uint64_t **ids, uint32_t *njobs)
{
	int rc;

	*loaded = NULL;
	*ids = NULL;
	*njobs = 1;
	if (r->a->file) {
		rc = cli_jobfile_load(r->a->file, loaded, njobs, r->msg, sizeof(r->msg));
		if (rc < 0) {
			fprintf(r->err, "harectl: %s\n", r->msg);
			return CLI_EXIT_USAGE;
		}
	} else if (r->a->narray) {
		/* one job per index, every one made (and so checked) before any is sent */
		rc = cli_array_expand(&r->a->job, r->a->array, r->a->narray, loaded, r->msg,
				      sizeof(r->msg));
		if (rc < 0) {
			fprintf(r->err, rc == -ENOMEM ? "harectl: out of memory\n" : "harectl submit: %s\n",
				r->msg);
			return rc == -ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
		}
		*njobs = r->a->narray;
	} else {
		return CLI_EXIT_OK;
	}
	*ids = calloc(*njobs, sizeof(**ids));
	if (!*ids) {
		fprintf(r->err, "harectl: out of memory\n");
		free(*loaded);
		*loaded = NULL;
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* Whether this hared knows what the jobs ask for (an older one would
 * ignore the lists and run them at once); the exit status, said on err. */
static int cli_submit_features(struct cli_run *r, const struct cli_job *jobs, uint32_t njobs)
{
	for (uint32_t i = 0; i < njobs; i++) {
		bool kinds = false;

		for (uint32_t k = 0; k < jobs[i].nafter; k++)
			kinds = kinds || jobs[i].after_kind[k] != CLI_AFTER_OK;
		if (jobs[i].nafter && !(r->features & CLI_FEATURE_AFTER)) {
			fprintf(r->err, "harectl: this hared does not run jobs after others (it is older "
				"than harectl); nothing was submitted\n");
			return CLI_EXIT_FAIL;
		}
		if (kinds && !(r->features & CLI_FEATURE_AFTER_KINDS)) {
			fprintf(r->err, "harectl: this hared runs jobs only after others that are DONE "
				"(it is older than harectl): 'any:' and 'notok:' are not known to it; "
				"nothing was submitted\n");
			return CLI_EXIT_FAIL;
		}
	}
	if (r->a->check && !(r->features & CLI_FEATURE_CHECK)) {
		fprintf(r->err, "harectl: this hared cannot check jobs without submitting them (it is "
			"older than harectl); nothing was sent\n");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int cli_cmd_submit(struct cli_run *r)
{
	const struct cli_job *jobs = &r->a->job;
	struct cli_job *loaded = NULL;
	uint64_t *ids = NULL;		/* a file's or an array's: what hared gave each job */
	uint64_t flag_id = 0;		/* the job from flags, for --wait */
	uint32_t njobs = 1;
	int status;

	status = cli_submit_jobs(r, &loaded, &ids, &njobs);
	if (status != CLI_EXIT_OK)
		return status;
	if (loaded)
		jobs = loaded;
	status = cli_run_prepare(r);
	if (status == CLI_EXIT_OK)
		status = cli_run_connect(r);
	if (status == CLI_EXIT_OK)
		status = cli_submit_features(r, jobs, njobs);
	/* a file's jobs checked by hared first, so a mistake only hared sees
	 * (an unknown model) leaves none of them submitted; --check: only that */
	for (uint32_t i = 0; (njobs > 1 || r->a->check) && (r->features & CLI_FEATURE_CHECK) &&
			     i < njobs && status == CLI_EXIT_OK; i++) {
		status = cli_submit_one(r, &jobs[i], r->a->file, ids, i, true);
		if (status != CLI_EXIT_OK)
			fprintf(r->err, "harectl: nothing was submitted\n");
	}
	if (status == CLI_EXIT_OK && r->a->check) {
		if (njobs == 1)
			fprintf(r->out, "ok: hared would accept the job (nothing was submitted)\n");
		else
			fprintf(r->out, "ok: hared would accept all %u jobs (nothing was submitted)\n", njobs);
		njobs = 0;	/* nothing to submit, nothing to wait for */
	}
	/* in file order: a job names only earlier ones, whose ids are known */
	for (uint32_t i = 0; i < njobs && status == CLI_EXIT_OK; i++) {
		status = cli_submit_one(r, &jobs[i], r->a->file, ids ? ids : &flag_id, ids ? i : 0, false);
		if (status != CLI_EXIT_OK && i > 0)
			fprintf(r->err, "harectl: the %u job%s before it stay%s submitted\n", i, i > 1 ? "s" : "",
				i > 1 ? "" : "s");
	}
	/* the ids stay on stdout alone; how each job ended goes to stderr */
	if (status == CLI_EXIT_OK && r->a->wait)
		status = cli_wait_ids(r, ids ? ids : &flag_id, njobs, r->err);
	free(ids);
	free(loaded);
	return status;
}
