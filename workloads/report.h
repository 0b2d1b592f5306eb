/* SPDX-License-Identifier: MIT */
/* Worker report lines: what a worker (hare-worker, or a researcher's program)
 * writes on its report fd, one line per report, and the strict parser and
 * line splitter the agent reads them with. */
#ifndef HARE_REPORT_H
#define HARE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rendezvous.h"

/*
 * The exit code of a worker (hare-worker, or a researcher's program) that
 * failed because a peer rank or the network did (NCCL's ncclRemoteError, a
 * system error joining the communicator, no rendezvous from rank 0 in
 * time), not because of anything on its own node:
 * 75, EX_TEMPFAIL of sysexits.h. hared then retries the job as after any
 * failure, but charges no node for it unless the lease ran on this node
 * alone; the first rank of the lease that reports a failure of its own
 * charges its node instead.
 */
#define REPORT_EXIT_PEER 75

/* Longest accepted line, newline included; lines are well under PIPE_BUF so
 * a single write() of one line is atomic on a pipe. */
#define REPORT_LINE_MAX 256

/*
 * The line grammar (fields separated by one or more spaces, an optional
 * "\r" before the "\n"):
 *   round FIRST COUNT COMPUTE_S SYNC_S LOSS   COUNT rounds from absolute round
 *                                             FIRST, times summed over them in
 *                                             profile seconds, LOSS after the
 *                                             last ("nan" when unknown)
 *   done ROUNDS                               clean end, ROUNDS completed
 *   stopped ROUNDS                            stopped on SIGTERM
 *   rendezvous BASE64                         rank 0's rendezvous data for the
 *                                             lease's other ranks (1 to
 *                                             RDV_DATA_MAX bytes, rendezvous.h)
 */
enum report_kind {
	REPORT_ROUND = 1,
	REPORT_DONE,
	REPORT_STOPPED,
	REPORT_RENDEZVOUS,
};

struct report_line {
	enum report_kind kind;
	uint64_t first;		/* round: absolute index of the first round */
	uint32_t count;		/* round: rounds covered, >= 1 */
	double compute_s;	/* round: summed compute, 0 .. 1e12 */
	double sync_s;		/* round: summed sync (incl. barrier wait), 0 .. 1e12 */
	double loss;		/* round: NaN or within +-1e300 */
	uint64_t rounds;	/* done / stopped: rounds completed */
	uint32_t rdv_len;	/* rendezvous: bytes of rdv, 1 .. RDV_DATA_MAX */
	uint8_t rdv[RDV_DATA_MAX];	/* rendezvous: the decoded data */
};

/*
 * Parse one line (len bytes, with or without its trailing "\n"). Returns 0
 * and fills *out, or ERR_PROTO with the reason in err ("COUNT must be a whole
 * number between 1 and 4294967295, got 'x'"). Never reads past len.
 */
int report_line_parse(const char *line, size_t len, struct report_line *out, char *err,
		      size_t errlen);

/*
 * Write r as one line with its "\n" into buf. Returns the length (without
 * the NUL), or -EINVAL when r does not satisfy the grammar's ranges, or
 * -ENOSPC when buf is smaller than needed (REPORT_LINE_MAX always suffices).
 */
int report_line_format(const struct report_line *r, char *buf, size_t len);

/* Called by report_reader_feed for each complete line: rc 0 with the parsed
 * line, or a negative code with the reason in err (line is then NULL). */
typedef void (*report_line_cb)(void *user, int rc, const struct report_line *line,
			       const char *err);

/* Splits a byte stream into lines; tolerates lines split across reads, and
 * resynchronises after an over-long line at its next newline. */
struct report_reader {
	char buf[REPORT_LINE_MAX];
	size_t len;		/* bytes of the current partial line */
	bool overlong;		/* discarding up to the next newline */
	uint64_t lines;		/* complete lines seen */
	uint64_t bad;		/* lines rejected */
};

void report_reader_init(struct report_reader *r);

/* Feed n stream bytes; cb runs for every line completed by them, in order.
 * Bytes of an unfinished line stay buffered for the next feed. */
void report_reader_feed(struct report_reader *r, const char *data, size_t n, report_line_cb cb,
			void *user);

/* True when an unfinished line is buffered (e.g. the writer died mid-line). */
bool report_reader_has_partial(const struct report_reader *r);

#endif
