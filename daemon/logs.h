/* SPDX-License-Identifier: MIT */
/* harectl logs: a client's LogsRequest becomes a LogFetch to every node up
 * whose agent keeps workers' output; their LogData answers (or a timeout,
 * or a disconnect) make one LogsReply, oldest part first. */
#ifndef HARE_DAEMON_LOGS_H
#define HARE_DAEMON_LOGS_H

#include <stdint.h>

#include "hare.pb-c.h"

struct conn;
struct hared;

#define LOGS_DEFAULT_BYTES 65536u
#define LOGS_MAX_BYTES (1u << 20)
#define LOGS_TIMEOUT_MS 5000u
#define LOGS_PENDING_MAX 64u	/* requests waiting for nodes at once */
#define LOGS_PENDING_USER 8u	/* ... of one user */

/* A client's request: the job's owner or root; errors go back at once. */
void logs_request(struct conn *c, const Hare__LogsRequest *m);
/* A node's answer (agent_id: the sending agent's session). */
void logs_on_data(struct hared *d, uint32_t agent_id, const Hare__LogData *m);
/* The agent's session ended: requests stop waiting for it. */
void logs_on_detach(struct hared *d, uint32_t agent_id);
/* Answer requests whose nodes did not answer within LOGS_TIMEOUT_MS (the
 * daemon's tick). */
void logs_expire(struct hared *d);
/* Drop every waiting request (shutdown). */
void logs_free_all(struct hared *d);

#endif
