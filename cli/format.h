/* SPDX-License-Identifier: MIT */
/* harectl's output: squeue/sinfo-like tables, key: value job details, and
 * JSON (with a string escaper that always yields valid UTF-8). Functions that
 * take `now` (unix seconds) print times relative to it. */
#ifndef HARE_CLI_FORMAT_H
#define HARE_CLI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hare.pb-c.h"

/* Replace the control characters among s's first n bytes (up to its NUL)
 * with '?': C0 (line breaks kept if asked), DEL, and C1 in UTF-8 (both of
 * its bytes). */
void cli_controls_mask(char *s, size_t n, bool keep_newlines);

/* Copy src into buf (truncating), control characters as '?', so text from
 * hared (its messages, names) cannot move the terminal's cursor or colours;
 * returns buf. */
const char *cli_text_clean(const char *src, char *buf, size_t len);

/*
 * Escape s as the inside of a JSON string (no quotes added): '"', '\\' and
 * control characters escaped, valid UTF-8 copied, each invalid byte replaced
 * by \ufffd. Writes at most buflen bytes including the NUL (like snprintf)
 * and returns the length the whole escape needs, without the NUL.
 */
size_t cli_json_escape(const char *s, char *buf, size_t buflen);

/* Whether s is entirely valid UTF-8 (no overlong forms or surrogates). */
bool cli_utf8_valid(const char *s);

/* Write s to f as a quoted JSON string; NULL is written as null. */
void cli_json_string(FILE *f, const char *s);

/* Name of a job state ("QUEUED"), or "UNKNOWN". */
const char *cli_state_name(int state);

/* Whether a job in state (Hare__JobState) has ended: DONE, CANCELLED or
 * FAILED (a state this harectl does not know is not). */
bool cli_state_ended(int state);

/*
 * Time t relative to now: "now", "in 45s", "3m ago", "in 2h05m"; a day or
 * more away, local ISO time ("2025-03-01T14:05"). estimate prefixes "~" and
 * shows a past estimate as "~now".
 */
void cli_time_format(double t, double now, bool estimate, char *buf, size_t len);

/* "1234/5000 (24.7%)". */
void cli_progress_format(uint64_t done, uint64_t total, char *buf, size_t len);

/* GPUs of a job: its placement by type ("2xV100+1xT4"), or when not placed
 * the allowed types ("V100,T4", "any"). */
void cli_types_format(const Hare__JobInfo *j, char *buf, size_t len);

/* JOBID USER NAME STATE GPUS TYPES PROGRESS ORDER START FINISH, one row per
 * job, then a footer with the daemon's plan count and decision latency
 * ("plans: 42  decision latency p50 1.2 ms, p99 3.4 ms") when it sent
 * them. 0 or -ENOMEM. */
int cli_queue_print(FILE *f, const Hare__QueueReply *q, double now);

/* When hared left jobs out of q (QueueReply.cut_jobs), a line on err that
 * says how many and which, and what helps: filters (--user, --state) were
 * given, all (finished jobs) was asked for. */
void cli_queue_cut_note(FILE *err, const Hare__QueueReply *q, bool filters, bool all);

/* {"jobs": [JobInfo...], "lp_bound_s": N, "plans": N, "plan_p50_ms": N,
 * "plan_p99_ms": N, "cut_jobs": N}: every field the daemon set. */
void cli_queue_print_json(FILE *f, const Hare__QueueReply *q);

/* Every field of one job as "key: value" lines. */
void cli_job_print(FILE *f, const Hare__JobInfo *j, double now);

/* One JobInfo as a JSON object on its own line. */
void cli_job_print_json(FILE *f, const Hare__JobInfo *j);

/* harectl wait's line for a job that has ended: "job 43: FAILED: rank 1 on
 * node n2 GPU 0 failed (exit code 1); 4 failures, giving up" (its last
 * failure; a CANCELLED job's end reason), control characters as '?'; json:
 * the job as show -o json. */
void cli_wait_print(FILE *f, const Hare__JobInfo *j, bool json);

/* NODE STATE GPUS BUSY FREE FAILS REASON, one row per node (a down node's
 * REASON: when it was last seen, relative to now). 0 or -ENOMEM. */
int cli_nodes_print(FILE *f, const Hare__NodesReply *n, double now);

/* {"nodes": [{"name", "up", "last_seen", "gpus": [...]}]}. */
void cli_nodes_print_json(FILE *f, const Hare__NodesReply *n);

/* harectl history: TIME EVENT DETAIL rows (local ISO times, control
 * characters masked); a note on err when older events were left out.
 * 0 or -ENOMEM. */
int cli_history_print(FILE *f, const Hare__HistoryReply *h, FILE *err);
/* {"job_id": N, "events": [{"time", "kind", "detail"}], "cut": BOOL}; a
 * node's: {"node": NAME, "events": ..., "cut": BOOL}. */
void cli_history_print_json(FILE *f, const Hare__HistoryReply *h);
/* harectl usage: the window, then GPU-hours per user (and TOTAL), one
 * column per GPU type; a note on err when hared cut the list. 0, or
 * -ENOMEM. */
int cli_usage_print(FILE *f, const Hare__UsageReply *u, FILE *err);
/* {"since", "until", "users": [{"user", "jobs", "gpu_seconds", "types":
 * {TYPE: GPU-seconds}}], "cut"} */
void cli_usage_print_json(FILE *f, const Hare__UsageReply *u);

struct cli_args;
/* harectl logs: the reply's output to out (the last a->lines lines when
 * set), notes on err. CLI_EXIT_FAIL when no node had any. */
int cli_logs_print(const struct cli_args *a, const Hare__LogsReply *r, FILE *out, FILE *err);

/* harectl logs --follow: how much of each file was printed. */
#define CLI_FOLLOW_FILES 32
struct cli_logs_seen {
	char node[128];
	char path[512];
	uint64_t size;			/* its bytes printed (or left out) */
};
struct cli_logs_follow {
	uint32_t n;
	struct cli_logs_seen seen[CLI_FOLLOW_FILES];
	int32_t current;		/* the file printed last (-1: none) */
	bool printed;			/* anything printed */
};

/* Remember every part of r as printed in full (after cli_logs_print). */
void cli_logs_follow_init(struct cli_logs_follow *f, const Hare__LogsReply *r);
/* Print what r adds to what f says was printed, file by file, oldest first:
 * a file's new bytes under its header when another file was printed last
 * (a job that moved); update f. */
void cli_logs_follow_print(struct cli_logs_follow *f, const Hare__LogsReply *r, FILE *out,
			   FILE *err);
/* Whether r's newest file ends with the agent's line on how the lease's
 * rank ended (done, stopped, failed): nothing more comes of that lease. */
bool cli_logs_lease_ended(const Hare__LogsReply *r, uint32_t rank);

#endif
