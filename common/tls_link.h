/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 with a pre-shared key over any byte stream (OpenSSL, memory BIOs:
 * the caller moves the bytes, on libuv or on a plain socket). No
 * certificates: the client names an identity (a node, or a client token's
 * id) and both ends hold a key for it; the key exchange is (EC)DHE as well
 * (psk_dhe_ke), so a key stolen later does not open sessions recorded
 * before. A wrong key fails the handshake (the PSK binder).
 */
#ifndef HARE_COMMON_TLS_LINK_H
#define HARE_COMMON_TLS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_PSK_LEN 32
#define TLS_IDENTITY_MAX 64		/* an identity's bytes, NUL included */
#define TLS_LINK_EOF (-1001)		/* tls_link_read: the peer closed (close_notify) */
#define TLS_LINK_FAILED (-1002)		/* the handshake or a record failed */
/* The first byte of a TLS record carrying a handshake message: a stream
 * starting with it is TLS, one starting with a frame header (its length's
 * top byte, 0 below 16 MiB) is not. */
#define TLS_LINK_FIRST_BYTE 0x16

struct tls_link;

/* Server: the key for identity (NUL-terminated; printable ASCII, at most
 * TLS_IDENTITY_MAX - 1 bytes, else never asked) into psk. 0, or < 0: no
 * key for it (the handshake fails). Called during tls_link_read. */
typedef int (*tls_psk_find_cb)(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN]);

/* A server end asking cb for keys, or a client end for identity with psk.
 * 0, -ENOMEM, -EINVAL (an identity too long or not printable), or -EIO. */
int tls_link_server(tls_psk_find_cb cb, void *user, struct tls_link **out);
int tls_link_client(const char *identity, const uint8_t psk[TLS_PSK_LEN], struct tls_link **out);

/* Free t (NULL: nothing). */
void tls_link_free(struct tls_link *t);

/* Bytes received from the peer. 0 or -ENOMEM. */
int tls_link_feed(struct tls_link *t, const void *p, size_t n);

/* Go on with the handshake (a client begins it at its first call), then
 * decrypt: up to cap bytes of the peer's data into buf. > 0: bytes; 0:
 * nothing more until more is fed; TLS_LINK_EOF; TLS_LINK_FAILED
 * (tls_link_error says why). Either way, tls_link_pending may then hold
 * bytes to send (the handshake's, an alert). */
ssize_t tls_link_read(struct tls_link *t, void *buf, size_t cap);

/* The handshake is done: data may be written. */
bool tls_link_ready(const struct tls_link *t);

/* Encrypt n bytes for the peer (only once ready). 0 or TLS_LINK_FAILED. */
int tls_link_write(struct tls_link *t, const void *p, size_t n);

/* Bytes waiting to be sent to the peer, and taking up to cap of them into
 * buf (the count taken). */
size_t tls_link_pending(const struct tls_link *t);
size_t tls_link_take(struct tls_link *t, void *buf, size_t cap);

/* The identity the handshake was for ("" before a server end is asked). */
const char *tls_link_identity(const struct tls_link *t);

/* Why the last call failed (OpenSSL's reason, or the peer's alert). */
const char *tls_link_error(const struct tls_link *t);

/* Whether the failure was the peer's key not matching (a wrong key or
 * token), as far as the end that saw it can tell. */
bool tls_link_bad_key(const struct tls_link *t);

/* psk = HMAC-SHA256(key, "hare-tls-psk" NUL || identity). 0, -EINVAL
 * (empty key), or -EIO. */
int tls_psk_derive(const uint8_t *key, size_t keylen, const char *identity,
		   uint8_t psk[TLS_PSK_LEN]);

/* A client token's identity: "t-" and 16 hex digits of
 * HMAC-SHA256(token, "hare-token-id"), so that the identity, seen by all,
 * names the token without giving it away. 0, -EINVAL or -EIO. */
int tls_token_identity(const uint8_t *token, size_t len, char out[TLS_IDENTITY_MAX]);

#endif
