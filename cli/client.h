/* SPDX-License-Identifier: MIT */
/* A client's session with hared over blocking-style I/O with deadlines: connect
 * (unix socket or TCP), handshake, then one envelope at a time. Used by
 * harectl and by tests and benchmarks that talk to a daemon. */
#ifndef HARE_CLI_CLIENT_H
#define HARE_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hare.pb-c.h"

#define CLI_SOCKET_DEFAULT "/run/hare/hared.sock"
#define CLI_TIMEOUT_MS_DEFAULT 10000u

/* Where the daemon listens and how to introduce ourselves. Borrowed strings. */
struct cli_target {
	const char *socket_path;	/* unix socket, used when host is NULL */
	const char *host;		/* "HOST:PORT" or "[V6ADDR]:PORT" for TCP, or NULL */
	const char *token;		/* client token for TCP sessions, or NULL */
	uint32_t timeout_ms;		/* for the connect and for the handshake; 0: default */
	uint32_t *features;		/* where the Welcome's features go (CLI_FEATURE_*
					 * bits), or NULL */
	bool no_tls;			/* TCP in the clear (a hared older than TLS) */
};

struct tls_link;

/* A session with hared: its socket and, over TCP, its TLS session with
 * what it decrypted that was not read yet (in[off, len)). A plain socket
 * (tests) is { .fd = FD }. */
struct cli_conn {
	int fd;
	struct tls_link *tls;
	uint8_t *in;
	size_t off, len, cap;
};

/* What a daemon does beyond its protocol version (Welcome.features). */
enum {
	CLI_FEATURE_AFTER = 1u << 0,	/* "after": JobSpec.after is honoured */
	CLI_FEATURE_AFTER_KINDS = 1u << 1,	/* "after-kinds": after_any, after_notok too */
	CLI_FEATURE_CHECK = 1u << 2,		/* "check": Submit.check_only */
	CLI_FEATURE_NODE_HISTORY = 1u << 3,	/* "node-history": HistoryRequest.node */
};

/*
 * Connect to the daemon (over TCP in TLS 1.3 keyed with the token, unless
 * no_tls), send Hello{PROTOCOL_VERSION, ROLE_CLIENT, token} and wait for
 * Welcome. 0 with *out (its socket non-blocking and close-on-exec; close
 * it with cli_client_close) or a negative code with one line in errbuf:
 * -errno for the connection ("cannot connect to PATH: No such file or
 * directory (is hared running?)"), -ETIMEDOUT, -EPROTO for a TLS handshake
 * that failed (a wrong token, or a hared older than TLS), or the code of
 * the daemon's Error with its message when it refused the session.
 */
int cli_client_connect(const struct cli_target *t, struct cli_conn **out, char *errbuf,
		       size_t errlen);

/* Close and free a session of cli_client_connect (NULL: nothing). */
void cli_client_close(struct cli_conn *c);

/* Send one envelope within timeout_ms (0: default). 0, or a negative code
 * with the reason in errbuf. */
int cli_client_send(struct cli_conn *c, const Hare__ToDaemon *m, uint32_t timeout_ms, char *errbuf, size_t errlen);

/*
 * Receive one envelope within timeout_ms (0: default), reading exactly its
 * bytes so that nothing of a following frame is consumed (in TLS, what was
 * decrypted beyond it waits in c). 0 with *out set (free with hare__from_daemon__free_unpacked),
 * or -ETIMEDOUT, -ECONNRESET (the daemon closed the connection), -errno,
 * ERR_FRAME_TOO_BIG, ERR_PROTO, each with a one-line reason in errbuf.
 */
int cli_client_recv(struct cli_conn *c, uint32_t timeout_ms, Hare__FromDaemon **out, char *errbuf, size_t errlen);

/*
 * Whether m answers a request whose reply is of case `expect`: 0, or for an
 * Error its code (ERR_PROTO if the daemon sent a non-negative one) with its
 * message in errbuf, or ERR_PROTO for a reply of another case.
 */
int cli_client_reply_check(const Hare__FromDaemon *m, int expect, char *errbuf, size_t errlen);

/*
 * Send req and receive its reply, which must be of case `expect` (a
 * Hare__FromDaemon__MsgCase). An Error reply is returned as its code
 * (ERR_PROTO if the daemon sent a non-negative one) with its message in
 * errbuf; a reply of another case is ERR_PROTO. On 0 the caller frees *reply.
 */
int cli_client_request(struct cli_conn *c, const Hare__ToDaemon *req, int expect, uint32_t timeout_ms,
		       Hare__FromDaemon **reply, char *errbuf, size_t errlen);

#endif
