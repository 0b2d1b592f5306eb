/* SPDX-License-Identifier: MIT */
/* harectl's commands: find hared (flags, then environment, then defaults),
 * open a session, send the command's request(s), print the replies
 * (commands_reply.c). */
#include "cli.h"

#include "client.h"
#include "err.h"
#include "format.h"
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef HARE_VERSION
#define HARE_VERSION "unknown"
#endif

#define CLI_TOKEN_MIN 16		/* hared refuses a shorter token file (AUTH_SECRET_MIN) */

double cli_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double cli_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The token file's first line, trailing whitespace removed. */
static int cli_token_read(struct cli_run *r, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		int rc = -errno;

		snprintf(r->msg, sizeof(r->msg), "cannot read token file %s: %s", path, strerror(-rc));
		return rc;
	}
	n = fread(r->token, 1, CLI_TOKEN_MAX + 1, f);
	fclose(f);
	r->token[n] = '\0';
	r->token[strcspn(r->token, "\r\n")] = '\0';
	n = strlen(r->token);
	if (n > CLI_TOKEN_MAX) {
		snprintf(r->msg, sizeof(r->msg), "token file %s: the token is longer than %d bytes",
			 path, CLI_TOKEN_MAX);
		return ERR_BAD_CONFIG;
	}
	while (n > 0 && (r->token[n - 1] == ' ' || r->token[n - 1] == '\t'))
		r->token[--n] = '\0';
	if (n == 0) {
		snprintf(r->msg, sizeof(r->msg), "token file %s is empty", path);
		return ERR_BAD_CONFIG;
	}
	if (n < CLI_TOKEN_MIN) {
		snprintf(r->msg, sizeof(r->msg), "token file %s: the token is %zu bytes; hared's is at "
			 "least %d", path, n, CLI_TOKEN_MIN);
		return ERR_BAD_CONFIG;
	}
	return 0;
}

/* Resolve the token before anything is sent: exit status 2 on a bad file. */
int cli_run_prepare(struct cli_run *r)
{
	const char *env_token = getenv("HARE_TOKEN");

	if (r->a->token_file && cli_token_read(r, r->a->token_file) < 0) {
		fprintf(r->err, "harectl: %s\n", r->msg);
		return CLI_EXIT_USAGE;
	}
	if (!r->a->token_file && r->a->host && env_token && env_token[0] &&
	    strlen(env_token) < CLI_TOKEN_MIN) {
		fprintf(r->err, "harectl: $HARE_TOKEN is %zu bytes; hared's token is at least %d\n",
			strlen(env_token), CLI_TOKEN_MIN);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* Connect as the options say: 0 (r->conn set), CLI_EXIT_USAGE, or a
 * negative code with the reason in r->msg; quiet. */
static int cli_run_connect_quiet(struct cli_run *r)
{
	const char *env_socket = getenv("HARE_SOCKET");
	const char *env_token = getenv("HARE_TOKEN");
	struct cli_target t = {
		.socket_path = r->a->socket_path,
		.host = r->a->host,
		.timeout_ms = r->a->timeout_ms,
		.features = &r->features,
		.no_tls = r->a->no_tls,
	};

	if (!t.socket_path)
		t.socket_path = env_socket && env_socket[0] ? env_socket : CLI_SOCKET_DEFAULT;
	if (r->a->token_file)
		t.token = r->token;
	else if (env_token && env_token[0])
		t.token = env_token;
	if (t.host && !t.token) {
		snprintf(r->msg, sizeof(r->msg), "--host needs the client token: --token-file FILE or "
			 "$HARE_TOKEN");
		return CLI_EXIT_USAGE;
	}
	return cli_client_connect(&t, &r->conn, r->msg, sizeof(r->msg));
}

int cli_run_connect(struct cli_run *r)
{
	char clean[sizeof(r->msg)];
	int rc = cli_run_connect_quiet(r);

	if (rc == 0)
		return CLI_EXIT_OK;
	/* may hold hared's (or, with --host, any peer's) Error text */
	fprintf(r->err, "harectl: %s\n", cli_text_clean(r->msg, clean, sizeof(clean)));
	return rc == CLI_EXIT_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

int cli_run_request(struct cli_run *r, Hare__ToDaemon *req, int expect, Hare__FromDaemon **reply,
		    const char *where)
{
	int rc = cli_client_request(r->conn, req, expect, r->a->timeout_ms, reply, r->msg, sizeof(r->msg));

	char clean[sizeof(r->msg)];

	if (rc < 0)
		fprintf(r->err, "harectl: %s%s\n", where ? where : "",
			cli_text_clean(r->msg, clean, sizeof(clean)));
	return rc;
}

/* Send req, print its reply (reply_case) as harectl does, times against
 * now, and free it: the exit status. */
static int cli_request_print(struct cli_run *r, Hare__ToDaemon *req, int reply_case, double now)
{
	Hare__FromDaemon *reply;
	int status;

	if (cli_run_request(r, req, reply_case, &reply, NULL) < 0)
		return CLI_EXIT_FAIL;
	status = cli_reply_print(r->a, reply, r->out, r->err, now);
	hare__from_daemon__free_unpacked(reply, NULL);
	return status;
}

static int cli_cmd_queue(struct cli_run *r)
{
	Hare__QueueRequest q = HARE__QUEUE_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;

	q.all = r->a->all || (r->a->states & CLI_STATES_FINAL);
	q.has_all = q.all;
	q.user = (char *)r->a->user;	/* hared reads only theirs (an older one sends all) */
	req.msg_case = HARE__TO_DAEMON__MSG_QUEUE;
	req.queue = &q;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_QUEUE_REPLY, cli_wall_now());
}

/* ShowRequest for job id: the reply, or NULL (the error is printed). */
static Hare__FromDaemon *cli_show_request(struct cli_run *r, uint64_t id)
{
	Hare__ShowRequest show = HARE__SHOW_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply;

	show.job_id = id;
	req.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	req.show = &show;
	if (cli_run_request(r, &req, HARE__FROM_DAEMON__MSG_SHOW_REPLY, &reply, NULL) < 0)
		return NULL;
	return reply;
}

static int cli_cmd_show(struct cli_run *r)
{
	Hare__FromDaemon *reply = cli_show_request(r, r->a->ids[0]);
	int status;

	if (!reply)
		return CLI_EXIT_FAIL;
	status = cli_reply_print(r->a, reply, r->out, r->err, cli_wall_now());
	hare__from_daemon__free_unpacked(reply, NULL);
	return status;
}

static int cli_cmd_cancel(struct cli_run *r)
{
	Hare__CancelRequest cancel = HARE__CANCEL_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;

	cancel.n_job_ids = r->a->nids;
	cancel.job_ids = (uint64_t *)r->a->ids;
	req.msg_case = HARE__TO_DAEMON__MSG_CANCEL;
	req.cancel = &cancel;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_CANCEL_REPLY, 0);
}

/* hold, release, update: one UpdateRequest for every job named. */
static int cli_cmd_update(struct cli_run *r)
{
	Hare__UpdateRequest u = HARE__UPDATE_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	const struct cli_job *j = &r->a->job;

	u.n_job_ids = r->a->nids;
	u.job_ids = (uint64_t *)r->a->ids;
	u.has_hold = r->a->cmd != CLI_CMD_UPDATE;
	u.hold = r->a->cmd == CLI_CMD_HOLD;
	u.has_weight = cli_job_has(j, CLI_KEY_WEIGHT);
	u.weight = j->weight;
	u.has_min_gpus = cli_job_has(j, CLI_KEY_MIN_GPUS);
	u.min_gpus = j->min_gpus;
	u.has_max_gpus = cli_job_has(j, CLI_KEY_MAX_GPUS);
	u.max_gpus = j->max_gpus;
	u.name = cli_job_has(j, CLI_KEY_NAME) ? (char *)j->name : NULL;
	req.msg_case = HARE__TO_DAEMON__MSG_UPDATE;
	req.update = &u;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_UPDATE_REPLY, 0);
}

static int cli_cmd_history(struct cli_run *r)
{
	Hare__HistoryRequest h = HARE__HISTORY_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;

	if (r->a->node && !(r->features & CLI_FEATURE_NODE_HISTORY)) {
		fprintf(r->err, "harectl: this hared cannot list a node's events (it is older than "
			"harectl)\n");
		return CLI_EXIT_FAIL;
	}
	h.job_id = r->a->node ? 0 : r->a->ids[0];
	h.node = (char *)r->a->node;
	h.has_max = r->a->lines > 0;
	h.max = r->a->lines;
	req.msg_case = HARE__TO_DAEMON__MSG_HISTORY;
	req.history = &h;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_HISTORY_REPLY, 0);
}

/* A usage window's end in unix seconds (a span before now resolved). */
static double cli_when_resolve(const struct cli_when *w, double now)
{
	return w->ago ? now - w->value : w->value;
}

/* usage's window at now: 0, or CLI_EXIT_USAGE with the message printed
 * (a span and a date in the wrong order, a --since still to come). */
static int cli_usage_window(struct cli_run *r, double now, Hare__UsageRequest *u)
{
	const struct cli_args *a = r->a;

	/* until now: hared's clock says when now is */
	u->has_until = a->until.set && !(a->until.ago && a->until.value == 0);
	u->until = u->has_until ? cli_when_resolve(&a->until, now) : now;
	if (u->until <= 0) {
		fprintf(r->err, "harectl usage: --until is not after 1970\n");
		return CLI_EXIT_USAGE;
	}
	u->has_since = a->since.set;
	u->since = fmax(0, cli_when_resolve(&a->since, now));	/* a span back past 1970 */
	if (u->has_since && u->since >= u->until) {
		fprintf(r->err, a->until.set ? "harectl usage: --since must be before --until\n" :
			"harectl usage: --since is not in the past\n");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int cli_cmd_usage(struct cli_run *r)
{
	Hare__UsageRequest u = HARE__USAGE_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	const struct cli_args *a = r->a;
	double now = cli_wall_now();

	if (cli_usage_window(r, now, &u) != 0)
		return CLI_EXIT_USAGE;
	u.user = (char *)a->user;
	req.msg_case = HARE__TO_DAEMON__MSG_USAGE;
	req.usage = &u;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_USAGE_REPLY, now);
}

int cli_follow_request(struct cli_run *r, Hare__ToDaemon *req, int expect, Hare__FromDaemon **reply)
{
	const struct timespec pause = { CLI_FOLLOW_MS / 1000, (CLI_FOLLOW_MS % 1000) * 1000000L };
	char clean[sizeof(r->msg)];
	double until = 0;
	int rc;

	for (;;) {
		rc = r->conn ? cli_client_request(r->conn, req, expect, r->a->timeout_ms, reply, r->msg,
						     sizeof(r->msg)) : -ECONNRESET;
		if (rc != -ECONNRESET && rc != -EPIPE)
			break;
		cli_client_close(r->conn);
		r->conn = NULL;
		if (until == 0) {
			until = cli_mono_now() + CLI_FOLLOW_RECONNECT_S;
			if (r->deadline > 0 && r->deadline < until)
				until = r->deadline;
			fprintf(r->err, "harectl: hared closed the connection; following on once it is "
				"back (up to %.0f s)\n", fmax(0, until - cli_mono_now()));
		} else if (cli_mono_now() >= until) {
			if (r->deadline > 0 && until == r->deadline) {
				snprintf(r->msg, sizeof(r->msg), "hared was not back when --max-wait ran "
					 "out");
				rc = -ETIMEDOUT;
			} else {
				snprintf(r->msg, sizeof(r->msg), "hared was not back within %d s",
					 CLI_FOLLOW_RECONNECT_S);
			}
			break;
		}
		nanosleep(&pause, NULL);
		if (cli_run_connect_quiet(r) != 0) {
			cli_client_close(r->conn);
			r->conn = NULL;
		}
	}
	if (rc < 0)
		fprintf(r->err, "harectl: %s\n", cli_text_clean(r->msg, clean, sizeof(clean)));
	return rc;
}

/* Whether the job has ended (DONE, CANCELLED, FAILED); -1 when hared
 * cannot say (the error is printed). */
static int cli_job_ended(struct cli_run *r, uint64_t id)
{
	Hare__ShowRequest show = HARE__SHOW_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply;
	int ended;

	show.job_id = id;
	req.msg_case = HARE__TO_DAEMON__MSG_SHOW;
	req.show = &show;
	if (cli_follow_request(r, &req, HARE__FROM_DAEMON__MSG_SHOW_REPLY, &reply) < 0)
		return -1;
	ended = cli_state_ended(reply->show_reply->job->state);
	hare__from_daemon__free_unpacked(reply, NULL);
	return ended;
}

/* --follow: poll once a second and print what is new. Once the job has
 * ended, polls go on until the newest file ends with the agent's line on
 * how the lease ended (a worker may still write after hared counted its
 * last round, or within its stop grace), at most CLI_FOLLOW_END_POLLS. */
static int cli_logs_follow_loop(struct cli_run *r, Hare__ToDaemon *req,
				struct cli_logs_follow *f)
{
	const struct timespec pause = { CLI_FOLLOW_MS / 1000, (CLI_FOLLOW_MS % 1000) * 1000000L };
	uint32_t rank = req->logs->has_rank ? req->logs->rank : 0, after = 0;
	Hare__FromDaemon *reply;
	bool last = false;

	while (!last) {
		int ended;

		nanosleep(&pause, NULL);
		ended = cli_job_ended(r, r->a->ids[0]);
		if (ended < 0)
			return CLI_EXIT_FAIL;
		if (cli_follow_request(r, req, HARE__FROM_DAEMON__MSG_LOGS_REPLY, &reply) < 0)
			return CLI_EXIT_FAIL;
		cli_logs_follow_print(f, reply->logs_reply, r->out, r->err);
		last = ended && (cli_logs_lease_ended(reply->logs_reply, rank) ||
				 ++after >= CLI_FOLLOW_END_POLLS);
		hare__from_daemon__free_unpacked(reply, NULL);
	}
	if (!f->printed) {
		fprintf(r->err, "harectl: job %llu ended without output of rank %u on the nodes up\n",
			(unsigned long long)r->a->ids[0], rank);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int cli_cmd_logs(struct cli_run *r)
{
	Hare__LogsRequest logs = HARE__LOGS_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply;
	struct cli_logs_follow f;
	int status;

	logs.job_id = r->a->ids[0];
	logs.has_rank = r->a->has_rank;
	logs.rank = r->a->rank;
	logs.has_max_bytes = r->a->max_bytes > 0;
	logs.max_bytes = r->a->max_bytes;
	req.msg_case = HARE__TO_DAEMON__MSG_LOGS;
	req.logs = &logs;
	if (cli_run_request(r, &req, HARE__FROM_DAEMON__MSG_LOGS_REPLY, &reply, NULL) < 0)
		return CLI_EXIT_FAIL;
	status = cli_reply_print(r->a, reply, r->out, r->err, 0);
	cli_logs_follow_init(&f, reply->logs_reply);
	hare__from_daemon__free_unpacked(reply, NULL);
	fflush(r->out);
	if (status != CLI_EXIT_OK || !r->a->follow)
		return status;
	return cli_logs_follow_loop(r, &req, &f);
}

static int cli_cmd_nodes(struct cli_run *r)
{
	Hare__NodesRequest nodes = HARE__NODES_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;

	req.msg_case = HARE__TO_DAEMON__MSG_NODES;
	req.nodes = &nodes;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_NODES_REPLY, cli_wall_now());
}

static int cli_cmd_drain(struct cli_run *r)
{
	Hare__DrainRequest drain = HARE__DRAIN_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;

	drain.node = (char *)r->a->node;
	drain.drain = r->a->cmd == CLI_CMD_DRAIN;
	drain.reason = (char *)r->a->reason;
	req.msg_case = HARE__TO_DAEMON__MSG_DRAIN;
	req.drain = &drain;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_DRAIN_REPLY, 0);
}

static int cli_cmd_forget(struct cli_run *r)
{
	Hare__ForgetRequest forget = HARE__FORGET_REQUEST__INIT;
	Hare__ToDaemon req = HARE__TO_DAEMON__INIT;

	forget.node = (char *)r->a->node;
	req.msg_case = HARE__TO_DAEMON__MSG_FORGET;
	req.forget = &forget;
	return cli_request_print(r, &req, HARE__FROM_DAEMON__MSG_FORGET_REPLY, 0);
}

/* Everything but submit: token, session, then the command. */
static int cli_run_simple(struct cli_run *r, int (*cmd)(struct cli_run *))
{
	int status = cli_run_prepare(r);

	if (status == CLI_EXIT_OK)
		status = cli_run_connect(r);
	return status == CLI_EXIT_OK ? cmd(r) : status;
}

static int cli_dispatch(struct cli_run *r)
{
	switch (r->a->cmd) {
	case CLI_CMD_SUBMIT: return cli_cmd_submit(r);
	case CLI_CMD_QUEUE: return cli_run_simple(r, cli_cmd_queue);
	case CLI_CMD_SHOW: return cli_run_simple(r, cli_cmd_show);
	case CLI_CMD_CANCEL: return cli_run_simple(r, cli_cmd_cancel);
	case CLI_CMD_NODES: return cli_run_simple(r, cli_cmd_nodes);
	case CLI_CMD_LOGS: return cli_run_simple(r, cli_cmd_logs);
	case CLI_CMD_HOLD:
	case CLI_CMD_RELEASE:
	case CLI_CMD_UPDATE: return cli_run_simple(r, cli_cmd_update);
	case CLI_CMD_HISTORY: return cli_run_simple(r, cli_cmd_history);
	case CLI_CMD_DRAIN:
	case CLI_CMD_UNDRAIN: return cli_run_simple(r, cli_cmd_drain);
	case CLI_CMD_FORGET: return cli_run_simple(r, cli_cmd_forget);
	case CLI_CMD_WAIT: return cli_run_simple(r, cli_cmd_wait);
	case CLI_CMD_USAGE: {
		Hare__UsageRequest u = HARE__USAGE_REQUEST__INIT;

		/* a window that cannot be is found before hared is asked */
		if (cli_usage_window(r, cli_wall_now(), &u) != 0)
			return CLI_EXIT_USAGE;
		return cli_run_simple(r, cli_cmd_usage);
	}
	default: return CLI_EXIT_USAGE;
	}
}

int cli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_args *a = malloc(sizeof(*a));
	struct cli_run *r = calloc(1, sizeof(*r));
	int status;

	if (!a || !r) {
		fprintf(err, "harectl: out of memory\n");
		free(a);
		free(r);
		return CLI_EXIT_FAIL;
	}
	r->a = a;
	r->out = out;
	r->err = err;
	r->conn = NULL;
	if (cli_args_parse(argc, argv, a, r->msg, sizeof(r->msg)) < 0) {
		fprintf(err, "%s\n", r->msg);
		status = CLI_EXIT_USAGE;
	} else if (a->help) {
		fputs(cli_help_text(a->cmd), out);
		status = CLI_EXIT_OK;
	} else if (a->version) {
		fprintf(out, "harectl %s (protocol %d)\n", HARE_VERSION, HARE__VERSION__PROTOCOL_VERSION);
		status = CLI_EXIT_OK;
	} else {
		status = cli_dispatch(r);
	}
	cli_client_close(r->conn);
	fflush(out);
	free(a);
	free(r);
	return status;
}
