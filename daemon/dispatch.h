/* SPDX-License-Identifier: MIT */
/* Decode + dispatch: one frame from a connection becomes a ToDaemon
 * envelope, checked against the session's state and handed to the session,
 * driver or client handlers; the envelope is freed at one exit. */
#ifndef HARE_DAEMON_DISPATCH_H
#define HARE_DAEMON_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/* Handle one frame payload (len bytes, borrowed) received on c. A frame
 * that does not decode, or a message not allowed in c's state, gets an
 * Error and closes c; nothing else is affected. Loop thread. */
void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len);

/* An agent that tags its frames closed its connection at hared's
 * Challenge: it found hared's proof wrong, so it holds another key for its
 * node than hared (counted as a key refusal, and logged). */
void dispatch_agent_left_at_proof(struct conn *c);

#endif
