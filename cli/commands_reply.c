/* SPDX-License-Identifier: MIT */
/* harectl's replies printed: each command's reply from hared as text or
 * JSON (queue filtered by --user and --state, nodes in name order, a line
 * per job for cancel, hold, release and update), and the exit status it
 * makes. */
#include "cli.h"

#include "format.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The result for id, each result used once (ids may repeat); NULL if none. */
static const Hare__CancelResult *cli_result_for(Hare__CancelResult *const *results, size_t n,
						uint64_t id, bool *used)
{
	for (size_t k = 0; k < n; k++) {
		if (!used[k] && results[k]->job_id == id) {
			used[k] = true;
			return results[k];
		}
	}
	return NULL;
}

static int cli_node_cmp(const void *a, const void *b)
{
	const Hare__NodeInfo *x = *(Hare__NodeInfo *const *)a, *y = *(Hare__NodeInfo *const *)b;

	return strverscmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* A line per job asked for: cancel says "cancelled 12", the others print
 * hared's message ("job 12: weight 1 -> 4"); a job not done is "13: REASON",
 * or hared's reason alone when it names the job ("job 13: ..."). */
static int cli_results_print(const struct cli_args *a, Hare__CancelResult *const *results, size_t n,
			     FILE *out, FILE *err)
{
	bool *used = calloc(n + 1, sizeof(*used));
	int status = CLI_EXIT_OK;
	char clean[320], named[32];

	if (!used) {
		fprintf(err, "harectl: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < a->nids; i++) {
		unsigned long long id = a->ids[i];
		const Hare__CancelResult *res = cli_result_for(results, n, id, used);
		bool said = res && res->message && res->message[0];

		if (res && res->ok && a->cmd == CLI_CMD_CANCEL) {
			/* hared's "job 41 cancelled, and 2 jobs after it" */
			const char *more = said ? strstr(res->message, " cancelled, and ") : NULL;

			fprintf(out, "cancelled %llu%s\n", id, more ? cli_text_clean(more + 10, clean,
									 sizeof(clean)) : "");
			continue;
		}
		if (res && res->ok && !said) {
			fprintf(out, "changed %llu\n", id);
			continue;
		}
		if (res && res->ok) {
			fprintf(out, "%s\n", cli_text_clean(res->message, clean, sizeof(clean)));
			continue;
		}
		status = CLI_EXIT_FAIL;
		snprintf(named, sizeof(named), "job %llu", id);
		if (said && strncmp(res->message, named, strlen(named)) == 0 &&
		    strchr(" :", res->message[strlen(named)]))	/* names the job itself */
			fprintf(out, "%s\n", cli_text_clean(res->message, clean, sizeof(clean)));
		else
			fprintf(out, "%llu: %s\n", id, !res ? "no answer from hared" : said ?
				cli_text_clean(res->message, clean, sizeof(clean)) :
				a->cmd == CLI_CMD_CANCEL ? "not cancelled" : "not changed");
	}
	free(used);
	return status;
}

int cli_reply_case(enum cli_command cmd)
{
	switch (cmd) {
	case CLI_CMD_SUBMIT: return HARE__FROM_DAEMON__MSG_SUBMIT_REPLY;
	case CLI_CMD_QUEUE: return HARE__FROM_DAEMON__MSG_QUEUE_REPLY;
	case CLI_CMD_SHOW:
	case CLI_CMD_WAIT: return HARE__FROM_DAEMON__MSG_SHOW_REPLY;
	case CLI_CMD_CANCEL: return HARE__FROM_DAEMON__MSG_CANCEL_REPLY;
	case CLI_CMD_NODES: return HARE__FROM_DAEMON__MSG_NODES_REPLY;
	case CLI_CMD_DRAIN:
	case CLI_CMD_UNDRAIN: return HARE__FROM_DAEMON__MSG_DRAIN_REPLY;
	case CLI_CMD_LOGS: return HARE__FROM_DAEMON__MSG_LOGS_REPLY;
	case CLI_CMD_HOLD:
	case CLI_CMD_RELEASE:
	case CLI_CMD_UPDATE: return HARE__FROM_DAEMON__MSG_UPDATE_REPLY;
	case CLI_CMD_HISTORY: return HARE__FROM_DAEMON__MSG_HISTORY_REPLY;
	case CLI_CMD_FORGET: return HARE__FROM_DAEMON__MSG_FORGET_REPLY;
	case CLI_CMD_USAGE: return HARE__FROM_DAEMON__MSG_USAGE_REPLY;
	default: return HARE__FROM_DAEMON__MSG__NOT_SET;
	}
}

static void cli_drain_print(const struct cli_args *a, const Hare__DrainReply *d, FILE *out)
{
	char node[128];

	cli_text_clean(d->node, node, sizeof(node));
	if (d->drained && d->has_was_drained && d->was_drained)
		fprintf(out, "node %s was drained already (reason %s)\n", node,
			a->reason && a->reason[0] ? "updated" : "kept");
	else if (d->drained)
		fprintf(out, "node %s drained (%u job%s moved)\n", node, d->jobs_moved,
			d->jobs_moved == 1 ? "" : "s");
	else if (d->has_was_drained && !d->was_drained)
		fprintf(out, "node %s was not drained\n", node);
	else
		fprintf(out, "node %s undrained\n", node);
}

static void cli_forget_print(const Hare__ForgetReply *f, FILE *out)
{
	char node[128], more[96] = "";
	uint32_t n = f->has_recent_failures ? f->recent_failures : 0;

	cli_text_clean(f->node, node, sizeof(node));
	if (f->has_was_drained && f->was_drained && n)
		snprintf(more, sizeof(more), " (with its drain and %u failure%s of the last hour)", n,
			 n == 1 ? "" : "s");
	else if (f->has_was_drained && f->was_drained)
		snprintf(more, sizeof(more), " (with its drain)");
	else if (n)
		snprintf(more, sizeof(more), " (with %u failure%s of the last hour)", n,
			 n == 1 ? "" : "s");
	fprintf(out, "node %s forgotten%s\n", node, more);
}

/* show's text, its lines' control characters (but the line breaks) as '?':
 * a job's texts come from hared, and must not drive the terminal. */
static int cli_show_print(const Hare__JobInfo *j, FILE *out, FILE *err, double now)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		fprintf(err, "harectl: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	cli_job_print(f, j, now);
	if (fclose(f) != 0 || !text) {
		free(text);
		fprintf(err, "harectl: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	cli_controls_mask(text, len, true);
	fwrite(text, 1, len, out);
	free(text);
	return CLI_EXIT_OK;
}

/* A table printer's -ENOMEM as harectl reports it. */
static int cli_table_status(int rc, FILE *err)
{
	if (rc < 0)
		fprintf(err, "harectl: out of memory\n");
	return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* A job's queue --state bit (QUEUED and held: HELD; else QUEUED with jobs
 * it runs after not done: WAITING). */
static uint32_t cli_state_bit(const Hare__JobInfo *j)
{
	switch (j->state) {
	case HARE__JOB_STATE__QUEUED:
		if (j->has_held && j->held != HARE__JOB_HELD__JOB_HELD_NONE)
			return CLI_STATE_HELD;
		return j->n_after_pending > 0 ? CLI_STATE_WAITING : CLI_STATE_QUEUED;
	case HARE__JOB_STATE__RUNNING: return CLI_STATE_RUNNING;
	case HARE__JOB_STATE__DONE: return CLI_STATE_DONE;
	case HARE__JOB_STATE__CANCELLED: return CLI_STATE_CANCELLED;
	case HARE__JOB_STATE__FAILED: return CLI_STATE_FAILED;
	default: return 0;
	}
}

/* queue's reply, with only the jobs --user and --state ask for. */
static int cli_queue_filtered(const struct cli_args *a, const Hare__QueueReply *q, FILE *out,
			      FILE *err, double now)
{
	Hare__QueueReply sub = *q;
	Hare__JobInfo **keep = NULL;
	int rc;

	if (a->user || a->states) {
		keep = calloc(q->n_jobs ? q->n_jobs : 1, sizeof(*keep));
		if (!keep) {
			fprintf(err, "harectl: out of memory\n");
			return CLI_EXIT_FAIL;
		}
		sub.n_jobs = 0;
		sub.jobs = keep;
		for (size_t i = 0; i < q->n_jobs; i++) {
			const Hare__JobInfo *j = q->jobs[i];

			if ((a->user && (!j->user || strcmp(j->user, a->user) != 0)) ||
			    (a->states && !(a->states & cli_state_bit(j))))
				continue;
			keep[sub.n_jobs++] = q->jobs[i];
		}
	}
	if (a->json) {
		cli_queue_print_json(out, &sub);
		rc = 0;
	} else {
		rc = cli_queue_print(out, &sub, now);
		cli_queue_cut_note(err, q, a->states != 0,
				   a->all || (a->states & CLI_STATES_FINAL));
	}
	free(keep);
	return cli_table_status(rc, err);
}

int cli_reply_print(const struct cli_args *a, const Hare__FromDaemon *m, FILE *out, FILE *err, double now)
{
	if ((int)m->msg_case != cli_reply_case(a->cmd))
		return CLI_EXIT_FAIL;
	switch (a->cmd) {
	case CLI_CMD_SUBMIT:
		fprintf(out, "%llu\n", (unsigned long long)m->submit_reply->job_id);
		if (m->submit_reply->warning && m->submit_reply->warning[0]) {
			char text[512];

			fprintf(err, "harectl: warning: job %llu: %s\n",
				(unsigned long long)m->submit_reply->job_id,
				cli_text_clean(m->submit_reply->warning, text, sizeof(text)));
		}
		return CLI_EXIT_OK;
	case CLI_CMD_QUEUE:
		return cli_queue_filtered(a, m->queue_reply, out, err, now);
	case CLI_CMD_SHOW:
		if (a->json)
			cli_job_print_json(out, m->show_reply->job);
		else
			return cli_show_print(m->show_reply->job, out, err, now);
		return CLI_EXIT_OK;
	case CLI_CMD_WAIT:
		cli_wait_print(out, m->show_reply->job, a->json);
		return m->show_reply->job->state == HARE__JOB_STATE__DONE ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	case CLI_CMD_CANCEL:
		return cli_results_print(a, m->cancel_reply->results, m->cancel_reply->n_results, out,
					 err);
	case CLI_CMD_HOLD:
	case CLI_CMD_RELEASE:
	case CLI_CMD_UPDATE:
		return cli_results_print(a, m->update_reply->results, m->update_reply->n_results, out,
					 err);
	case CLI_CMD_HISTORY:
		if (a->json) {
			cli_history_print_json(out, m->history_reply);
			return CLI_EXIT_OK;
		}
		return cli_table_status(cli_history_print(out, m->history_reply, err), err);
	case CLI_CMD_NODES:
		/* by name, node2 before node10; hared lists them as they came */
		if (m->nodes_reply->n_nodes > 1)
			qsort(m->nodes_reply->nodes, m->nodes_reply->n_nodes,
			      sizeof(*m->nodes_reply->nodes), cli_node_cmp);
		if (!a->json)
			return cli_table_status(cli_nodes_print(out, m->nodes_reply, now), err);
		cli_nodes_print_json(out, m->nodes_reply);
		return CLI_EXIT_OK;
	case CLI_CMD_LOGS:
		return cli_logs_print(a, m->logs_reply, out, err);
	case CLI_CMD_FORGET:
		cli_forget_print(m->forget_reply, out);
		return CLI_EXIT_OK;
	case CLI_CMD_USAGE:
		if (a->json) {
			cli_usage_print_json(out, m->usage_reply);
			return CLI_EXIT_OK;
		}
		return cli_table_status(cli_usage_print(out, m->usage_reply, err), err);
	default:
		cli_drain_print(a, m->drain_reply, out);
		return CLI_EXIT_OK;
	}
}
