/* SPDX-License-Identifier: MIT */
/* harectl as a library: command-line parsing into struct cli_args, help
 * texts, and cli_main, which runs one command against hared. */
#ifndef HARE_CLI_H
#define HARE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "job.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1		/* hared unreachable, refused, a job not cancelled (changed),
				 * or (wait) a job that ended other than DONE */
#define CLI_EXIT_USAGE 2	/* bad command line or job spec, found before sending */
#define CLI_EXIT_WAITED 3	/* wait --max-wait ran out with jobs not ended (none failed) */
#define CLI_IDS_MAX 1024
#define CLI_REASON_MAX 127	/* bytes of a drain's --reason */
#define CLI_NODE_NAME_MAX 63	/* bytes of history --node's name (hared's) */
#define CLI_LOG_BYTES_MAX 1048576	/* logs --bytes */
#define CLI_FOLLOW_MS 1000		/* logs --follow: one poll a second */
#define CLI_FOLLOW_END_POLLS 10		/* polls after the job's end, at most */
#define CLI_FOLLOW_RECONNECT_S 120	/* logs --follow: how long hared may be away */
#define CLI_HISTORY_MAX 1000		/* history --lines */
#define CLI_MAX_WAIT_S (366.0 * 86400)	/* wait --max-wait */

/* queue --state bits */
enum {
	CLI_STATE_QUEUED = 1u << 0,
	CLI_STATE_HELD = 1u << 1,
	CLI_STATE_RUNNING = 1u << 2,
	CLI_STATE_DONE = 1u << 3,
	CLI_STATE_CANCELLED = 1u << 4,
	CLI_STATE_FAILED = 1u << 5,
	CLI_STATE_WAITING = 1u << 6,	/* QUEUED, after jobs not done yet */
	CLI_STATES_FINAL = CLI_STATE_DONE | CLI_STATE_CANCELLED | CLI_STATE_FAILED,
};

enum cli_command {
	CLI_CMD_NONE,
	CLI_CMD_SUBMIT,
	CLI_CMD_QUEUE,
	CLI_CMD_SHOW,
	CLI_CMD_CANCEL,
	CLI_CMD_NODES,
	CLI_CMD_DRAIN,
	CLI_CMD_UNDRAIN,
	CLI_CMD_LOGS,
	CLI_CMD_HOLD,
	CLI_CMD_RELEASE,
	CLI_CMD_UPDATE,
	CLI_CMD_HISTORY,
	CLI_CMD_FORGET,
	CLI_CMD_USAGE,
	CLI_CMD_WAIT,
	CLI_CMD_COUNT
};

/* usage --since / --until: a time, or a span before now (resolved when the
 * command runs). */
struct cli_when {
	bool set;
	bool ago;			/* value: seconds before now; else unix seconds */
	double value;
};

/* A parsed command line. Strings point into argv. */
struct cli_args {
	enum cli_command cmd;
	bool help;			/* print cli_help_text(cmd) and stop */
	bool version;
	const char *socket_path;	/* --socket */
	const char *host;		/* --host */
	const char *token_file;		/* --token-file */
	bool no_tls;			/* --no-tls: TCP in the clear (an older hared) */
	uint32_t timeout_ms;		/* --timeout; 0: default */
	bool all;			/* queue --all */
	const char *user;		/* queue, usage --user: only this user's jobs */
	struct cli_when since, until;	/* usage's window */
	uint32_t states;		/* queue --state: CLI_STATE_* bits; 0: any */
	bool json;			/* -o json */
	const char *file;		/* submit --file ("-": standard input) */
	bool job_flags;			/* some job key was given as a flag */
	struct cli_job job;		/* submit from flags, checked; update's
					 * weight, min-gpus, max-gpus, name */
	uint32_t nids;			/* show, cancel, logs, hold, release, update,
					 * wait */
	uint64_t ids[CLI_IDS_MAX];
	const char *node;		/* drain, undrain, forget; history --node */
	const char *reason;		/* drain --reason */
	bool has_rank;			/* logs --rank */
	uint32_t rank;
	uint32_t max_bytes;		/* logs --bytes; 0: hared's default */
	uint32_t lines;			/* logs --lines (0: all it got); history --lines
					 * (0: hared's default) */
	bool follow;			/* logs --follow */
	bool wait;			/* submit --wait */
	bool check;			/* submit --check: hared checks, nothing is submitted */
	uint32_t narray;		/* submit --array: its indices; 0: none */
	uint32_t array[CLI_ARRAY_MAX];
	bool has_max_wait;		/* wait, submit --wait: --max-wait */
	double max_wait_s;
	const char *max_wait_text;	/* ... as given ("30m") */
};

/*
 * Parse argv (argv[0] is the program). The environment is not read here.
 * Returns 0, or a negative code with the whole line to print in errbuf
 * ("harectl submit: --gpus must be between 1 and 64, got 0"); --help wins
 * over any error after the command is known.
 */
int cli_args_parse(int argc, char *const *argv, struct cli_args *a, char *errbuf, size_t errlen);

/* Help text for a command; CLI_CMD_NONE gives the overview. */
const char *cli_help_text(enum cli_command cmd);

/* Name of a command ("submit"). */
const char *cli_command_name(enum cli_command cmd);

/*
 * Run harectl with argv, writing results to out and messages to err. Reads
 * HARE_SOCKET and HARE_TOKEN from the environment. Returns the exit status
 * (CLI_EXIT_*). Blocking; meant for the main thread of a process.
 */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

/* The reply case (Hare__FromDaemon__MsgCase) that answers cmd;
 * HARE__FROM_DAEMON__MSG__NOT_SET for CLI_CMD_NONE. */
int cli_reply_case(enum cli_command cmd);

/*
 * Print hared's reply m to command a->cmd as harectl does (a->json picks
 * JSON; a->ids are what cancel asked for), to out, with messages to err.
 * Returns the exit status; CLI_EXIT_FAIL when m is not of
 * cli_reply_case(a->cmd). now (unix seconds) is what relative times are
 * shown against. cli_main uses it after each request; it is public so that
 * tests and the reply fuzzer can print replies without a daemon. For wait
 * (a ShowReply) it prints the line of a job that has ended, exit status 0
 * only for DONE; harectl wait itself asks and prints in its own loop
 * (wait.c), of which this is the printing.
 */
int cli_reply_print(const struct cli_args *a, const Hare__FromDaemon *m, FILE *out, FILE *err, double now);

#endif
