/* SPDX-License-Identifier: MIT */
/* The handshake's two HMAC-SHA256 messages, one definition for hared and the
 * agent: the agent's answer to hared's challenge, and hared's proof to the
 * agent that it holds the cluster key too (OpenSSL). */
#ifndef HARE_AUTH_HMAC_H
#define HARE_AUTH_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_HMAC_LEN 32	/* bytes of either */
#define AUTH_HMAC_NONCE 32	/* bytes of each nonce of the proof */
#define AUTH_HMAC_PART_MAX 256	/* longest challenge nonce or node name taken */

/* The agent's answer: HMAC-SHA256(key, nonce || node). 0, -EINVAL (a part
 * too long), or -EIO. */
int auth_hmac_answer(const uint8_t *key, size_t keylen, const uint8_t *nonce, size_t noncelen,
		     const char *node, uint8_t out[AUTH_HMAC_LEN]);

/* hared's proof: HMAC-SHA256(key, label NUL || agent_nonce || nonce ||
 * node), both nonces AUTH_HMAC_NONCE bytes (the label's NUL keeps it from
 * ever being an answer). The label is "hared+tags" for an agent that tags
 * its own frames (Hello.tags), so one who strips that flag on the way makes
 * the proof wrong; "hared" for an agent that does not. 0, -EINVAL, or -EIO. */
int auth_hmac_proof(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
		    const uint8_t *nonce, const char *node, bool tags, uint8_t out[AUTH_HMAC_LEN]);

/* The session's key, once hared proved itself: HMAC-SHA256(key, "session"
 * NUL || agent_nonce || nonce || node). 0, -EINVAL, or -EIO. */
int auth_hmac_session(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
		      const uint8_t *nonce, const char *node, uint8_t out[AUTH_HMAC_LEN]);

/* The key of the agent's own tags (Hello.tags): HMAC-SHA256(key,
 * "agent-session" NUL || agent_nonce || nonce || node), a key of its own so
 * that none of hared's frames is ever a valid agent's frame. 0, -EINVAL, or
 * -EIO. */
int auth_hmac_agent_session(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
			    const uint8_t *nonce, const char *node, uint8_t out[AUTH_HMAC_LEN]);

/* A session key made ready to tag frames with (HMAC-SHA256 keyed once,
 * so each tag costs the hashing of its frame alone). */
struct auth_hmac_key;

/* *out for session (AUTH_HMAC_LEN bytes). 0, -ENOMEM or -EIO. */
int auth_hmac_key_new(const uint8_t session[AUTH_HMAC_LEN], struct auth_hmac_key **out);

/* Free k (NULL: nothing), its key material wiped. */
void auth_hmac_key_free(struct auth_hmac_key *k);

/* A frame's tag: HMAC-SHA256(session, seq as 8 bytes big-endian ||
 * payload), with the sender's session key; seq counts the sender's frames
 * after the Challenge from 0 (the agent's Auth is its 0th). 0 or -EIO. */
int auth_hmac_frame(struct auth_hmac_key *k, uint64_t seq, const uint8_t *payload, size_t len,
		    uint8_t out[AUTH_HMAC_LEN]);

/* Whether a received frame's payload (len bytes, its tag last) ends with
 * the tag auth_hmac_frame gives the rest for seq; compared in constant
 * time. A frame shorter than a tag has none. */
bool auth_hmac_frame_ok(struct auth_hmac_key *k, uint64_t seq, const uint8_t *payload, size_t len);

/* Constant-time comparison of n bytes. */
bool auth_hmac_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
