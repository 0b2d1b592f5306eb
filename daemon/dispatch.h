/* SPDX-License-Identifier: MIT */
/* Decode + dispatch: one frame from a connection becomes a ToDaemon
 * envelope, checked against the session's state and handed to the session,
 * driver or client handlers; the envelope is freed at one exit. */
#ifndef HARE_DAEMON_DISPATCH_H
#define HARE_DAEMON_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "tls_link.h"

struct conn;

/* Handle one frame payload (len bytes, borrowed) received on c. A frame
 * that does not decode, or a message not allowed in c's state, gets an
 * Error and closes c; nothing else is affected. Loop thread. */
void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len);

/* An agent that tags its frames closed its connection at hared's
 * Challenge: it found hared's proof wrong, so it holds another key for its
 * node than hared (counted as a key refusal, and logged). */
void dispatch_agent_left_at_proof(struct conn *c);

/* tls_psk_find_cb of a TCP connection (user: the struct conn): on the agent
 * port the identity is a node name, keyed with the key its agent holds (as
 * the Challenge is: refused, counted and noted when hared has none); on the
 * client port the token the identity names (tls_token_identity), whose
 * user is then c->tls_user. */
int dispatch_tls_psk(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN]);

/* c's TLS handshake failed: on the agent port a wrong key is counted and
 * noted as a wrong Auth is. */
void dispatch_tls_failed(struct conn *c);

#endif
