/* SPDX-License-Identifier: MIT */
/* One harectl command's run, shared by the files that carry out commands
 * (commands.c, submit.c, wait.c): its session with hared, its streams, and the
 * request helpers that print failures as harectl does. */
#ifndef HARE_CLI_RUN_H
#define HARE_CLI_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "client.h"

#define CLI_TOKEN_MAX 1024

struct cli_run {
	const struct cli_args *a;
	FILE *out, *err;
	struct cli_conn *conn;		/* NULL: not connected */
	char token[CLI_TOKEN_MAX + 2];	/* one byte more: a longer token is refused */
	char msg[1024];
	uint32_t features;		/* the daemon's (CLI_FEATURE_*) */
	double deadline;		/* cli_mono_now() at which a follow stops waiting
					 * for hared to come back (0: after
					 * CLI_FOLLOW_RECONNECT_S only) */
};

/* Resolve the token before anything is sent (CLI_EXIT_USAGE on a bad
 * file), then open the session (CLI_EXIT_FAIL when hared cannot be
 * reached); each prints why. */
int cli_run_prepare(struct cli_run *r);
int cli_run_connect(struct cli_run *r);

/* Unix seconds now (the wall clock relative times are shown against). */
double cli_wall_now(void);
/* Seconds on a clock that only goes forward (for spans: waits, deadlines). */
double cli_mono_now(void);

/* One request and its reply; prints the failure (hared's Error message
 * included) with an optional "file:line: " before it. 0 or negative. */
int cli_run_request(struct cli_run *r, Hare__ToDaemon *req, int expect, Hare__FromDaemon **reply,
		    const char *where);

/* One request of a command that goes on for a while (logs --follow, wait):
 * a connection hared closed (it stopped, or restarts) is made again, once a
 * second for up to CLI_FOLLOW_RECONNECT_S (or until r->deadline), and the
 * request sent again. Failures are printed. 0 or negative (-ETIMEDOUT:
 * hared was still away at r->deadline). */
int cli_follow_request(struct cli_run *r, Hare__ToDaemon *req, int expect, Hare__FromDaemon **reply);

/* harectl submit (submit.c). The exit status. */
int cli_cmd_submit(struct cli_run *r);

/* harectl wait, and submit --wait on the ids just submitted (their lines
 * to r->err then: standard output holds the ids). The exit status. */
int cli_cmd_wait(struct cli_run *r);
int cli_wait_ids(struct cli_run *r, const uint64_t *ids, uint32_t n, FILE *lines);

#endif
