/* SPDX-License-Identifier: MIT */
/* Rendezvous of a lease's ranks: rank 0's NCCL unique id travels as one
 * report line "rendezvous BASE64" (relayed by the agent as a Rendezvous
 * message through hared) and arrives at the other ranks as a file holding
 * the same line; standalone runs share the file directly. */
#ifndef HARE_RENDEZVOUS_H
#define HARE_RENDEZVOUS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Line grammar: "rendezvous" SP BASE64 LF, BASE64 being RFC 4648 with
 * padding and no line breaks, 1 to RDV_DATA_MAX bytes of opaque data (the
 * 128-byte NCCL id). The bound keeps the line within REPORT_LINE_MAX (256),
 * so a write of it is atomic on a pipe and the agent's reader accepts its
 * length. Hex would not fit (11 + 256 + 1 bytes).
 */
#define RDV_KEYWORD "rendezvous"
#define RDV_DATA_MAX 180
#define RDV_LINE_MAX 256

/* Format data as a line with its "\n". Returns its length, -EINVAL for an
 * empty or too long data, -ENOSPC when buf is short (RDV_LINE_MAX suffices). */
int rdv_line_format(const uint8_t *data, size_t len, char *buf, size_t buflen);

/*
 * Parse one line (with or without "\n" or "\r\n"): returns 0 with the data
 * in data (cap bytes at most) and its length in *n, or -EINVAL with the
 * reason in err ("not a rendezvous line", "bad base64 at column 12", ...).
 */
int rdv_line_parse(const char *line, size_t len, uint8_t *data, size_t cap, size_t *n, char *err,
		   size_t errlen);

/*
 * Decode the BASE64 field alone (len characters at s; col is the column of
 * s[0] in its line, for messages): the same checks and errors as
 * rdv_line_parse.
 */
int rdv_data_decode(const char *s, size_t len, size_t col, uint8_t *data, size_t cap, size_t *n,
		    char *err, size_t errlen);

/* Write the line for data to path atomically (temp file + rename). 0 or
 * -errno with err. */
int rdv_file_write(const char *path, const uint8_t *data, size_t len, char *err, size_t errlen);

/* The same, the file given to uid:gid with mode 0600 before it takes the
 * path ((uid_t)-1, (gid_t)-1: kept the writer's, mode 0644). */
int rdv_file_write_as(const char *path, const uint8_t *data, size_t len, uid_t uid, gid_t gid,
		      char *err, size_t errlen);

/*
 * Wait for path to hold a rendezvous line, polling every 50 ms for up to
 * timeout_s seconds or until *stop becomes non-zero. Returns 0 with the
 * data, -ETIMEDOUT, -EINTR (stopped) or -EINVAL (a malformed file) with err.
 */
int rdv_file_wait(const char *path, double timeout_s, volatile sig_atomic_t *stop, uint8_t *data,
		  size_t cap, size_t *n, char *err, size_t errlen);

#endif
