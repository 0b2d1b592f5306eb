/* SPDX-License-Identifier: MIT */
/* harectl wait (and submit --wait): ask hared until every job given has
 * ended, print each as it ends; the exit status says how they ended. */
#include "cli.h"

#include "format.h"
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLI_WAIT_FAST_MS 1000	/* a poll a second ... */
#define CLI_WAIT_FAST_S 60	/* ... for the first minute */
#define CLI_WAIT_SLOW_MS 5000	/* then one every 5 s */
#define CLI_WAIT_NAMED_MAX 8	/* jobs named when --max-wait runs out */

/* A job not ended yet, as last seen. */
struct cli_wait_job {
	uint64_t id;
	int state;			/* Hare__JobState */
	uint64_t rounds_done, rounds_total;
	bool seen;			/* in the last queue reply */
};

struct cli_wait {
	struct cli_run *r;
	FILE *lines;			/* where "job 42: DONE" goes */
	struct cli_wait_job *jobs;	/* by id */
	uint32_t n;
	char owner[64];			/* every job's owner when one; "" otherwise */
	bool mixed;			/* jobs of several owners */
	bool notok;			/* one ended CANCELLED or FAILED */
};

static int cli_wait_job_cmp(const void *a, const void *b)
{
	const struct cli_wait_job *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}


static void cli_wait_print_end(struct cli_wait *w, const Hare__JobInfo *j)
{
	cli_wait_print(w->lines, j, w->r->a->json);
	fflush(w->lines);
	if (j->state != HARE__JOB_STATE__DONE)
		w->notok = true;
}

/* Ask hared for job k's show; print it and drop it from w if it has
 * ended. first: the first look (a refusal, "no job 99", is not retried
 * across a restart). 0, or a negative code (printed; -ETIMEDOUT: hared was
 * away when --max-wait ran out). */
static int cli_wait_show(struct cli_wait *w, uint32_t k, bool first)
{
	Hare__ShowRequest show = HARE__SHOW_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply;
	const Hare__JobInfo *j;
	int rc;

	show.job_id = w->jobs[k].id;
	req.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	req.show = &show;
	rc = first ? cli_run_request(w->r, &req, HARE__FROM_DAEMON__MSG_SHOW_REPLY, &reply, NULL)
		   : cli_follow_request(w->r, &req, HARE__FROM_DAEMON__MSG_SHOW_REPLY, &reply);
	if (rc < 0)
		return rc;
	j = reply->show_reply->job;
	if (cli_state_ended(j->state)) {
		cli_wait_print_end(w, j);
		w->jobs[k].id = 0;	/* dropped by cli_wait_compact */
	} else {
		w->jobs[k].state = j->state;
		w->jobs[k].rounds_done = j->rounds_done;
		w->jobs[k].rounds_total = j->rounds_total;
		if (first && j->has_held && j->held != HARE__JOB_HELD__JOB_HELD_NONE)
			fprintf(w->r->err, "harectl: job %llu is held%s: it does not end until "
				"released (harectl release %llu)\n", (unsigned long long)j->job_id,
				j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? " by root" : "",
				(unsigned long long)j->job_id);
		if (first && j->user && !w->mixed) {
			if (!w->owner[0])
				snprintf(w->owner, sizeof(w->owner), "%s", j->user);
			else if (strcmp(w->owner, j->user) != 0)
				w->mixed = true;
		}
	}
	hare__from_daemon__free_unpacked(reply, NULL);
	return 0;
}

/* Drop the jobs that ended (id 0), keeping the order. */
static void cli_wait_compact(struct cli_wait *w)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < w->n; i++)
		if (w->jobs[i].id)
			w->jobs[k++] = w->jobs[i];
	w->n = k;
}

/* One look at the queue (active jobs: one owner's when every job has
 * one): jobs in it are not ended; each one not in it is shown, which
 * prints and drops it if it has ended (a job left out of a cut reply is
 * only shown). 0 or a negative code, as cli_wait_show. */
static int cli_wait_poll(struct cli_wait *w)
{
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply;
	int rc;

	q.user = w->owner[0] && !w->mixed ? w->owner : NULL;
	req.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	req.queue = &q;
	rc = cli_follow_request(w->r, &req, HARE__FROM_DAEMON__MSG_QUEUE_REPLY, &reply);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < w->n; i++)
		w->jobs[i].seen = false;
	for (size_t i = 0; i < reply->queue_reply->n_jobs; i++) {
		const Hare__JobInfo *j = reply->queue_reply->jobs[i];
		struct cli_wait_job key = { .id = j->job_id }, *found;

		found = bsearch(&key, w->jobs, w->n, sizeof(*w->jobs), cli_wait_job_cmp);
		if (!found || cli_state_ended(j->state))
			continue;
		found->seen = true;
		found->state = j->state;
		found->rounds_done = j->rounds_done;
		found->rounds_total = j->rounds_total;
	}
	hare__from_daemon__free_unpacked(reply, NULL);
	for (uint32_t i = 0; i < w->n && rc == 0; i++)
		if (!w->jobs[i].seen)
			rc = cli_wait_show(w, i, false);
	cli_wait_compact(w);
	return rc;
}

/* --max-wait ran out: name the jobs not ended on stderr. */
static void cli_wait_timed_out(const struct cli_wait *w)
{
	FILE *err = w->r->err;

	fprintf(err, "harectl: %u job%s not ended after --max-wait %s:", w->n, w->n == 1 ? "" : "s",
		w->r->a->max_wait_text);
	for (uint32_t i = 0; i < w->n && i < CLI_WAIT_NAMED_MAX; i++) {
		const struct cli_wait_job *j = &w->jobs[i];

		fprintf(err, "%s job %llu (%s", i ? "," : "", (unsigned long long)j->id, cli_state_name(j->state));
		if (j->rounds_total)
			fprintf(err, ", %llu/%llu rounds", (unsigned long long)j->rounds_done,
				(unsigned long long)j->rounds_total);
		fputc(')', err);
	}
	fprintf(err, "%s\n", w->n > CLI_WAIT_NAMED_MAX ? ", ..." : "");
}

static void cli_wait_sleep(double secs)
{
	struct timespec t;

	if (!(secs > 0))
		return;
	t.tv_sec = (time_t)secs;
	t.tv_nsec = (long)((secs - (double)t.tv_sec) * 1e9);
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

int cli_wait_ids(struct cli_run *r, const uint64_t *ids, uint32_t n, FILE *lines)
{
	struct cli_wait w = { .r = r, .lines = lines };
	double start = cli_mono_now(), deadline = r->a->has_max_wait ? start + r->a->max_wait_s : INFINITY;
	int rc = 0, status;

	w.jobs = calloc(n ? n : 1, sizeof(*w.jobs));
	if (!w.jobs) {
		fprintf(r->err, "harectl: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < n; i++)
		w.jobs[i].id = ids[i];
	w.n = n;
	qsort(w.jobs, w.n, sizeof(*w.jobs), cli_wait_job_cmp);
	/* every job looked at once first: one that does not exist (or is
	 * not the user's to see) stops the wait before it starts */
	for (uint32_t i = 0; i < w.n && rc == 0; i++)
		rc = cli_wait_show(&w, i, true);
	cli_wait_compact(&w);
	/* hared away while --max-wait runs out ends the wait, as a timeout */
	r->deadline = r->a->has_max_wait ? deadline : 0;
	while (rc == 0 && w.n > 0) {
		double now = cli_mono_now();
		double step = (now - start < CLI_WAIT_FAST_S ? CLI_WAIT_FAST_MS : CLI_WAIT_SLOW_MS) / 1000.0;

		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		cli_wait_sleep(fmin(step, deadline - now));
		rc = cli_wait_poll(&w);
	}
	r->deadline = 0;
	if (rc == -ETIMEDOUT && w.n > 0) {
		cli_wait_timed_out(&w);
		status = w.notok ? CLI_EXIT_FAIL : CLI_EXIT_WAITED;
	} else {
		status = rc < 0 || w.notok ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}
	free(w.jobs);
	return status;
}

int cli_cmd_wait(struct cli_run *r)
{
	return cli_wait_ids(r, r->a->ids, r->a->nids, r->out);
}
