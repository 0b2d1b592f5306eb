/* SPDX-License-Identifier: MIT */
/* hared's I/O layer: listeners (TCP for agents, a Unix socket and optional
 * TCP for clients), one connection per peer with a frame reader, a write
 * queue of one allocation per frame, and error-then-close on bad input. */
#ifndef HARE_DAEMON_CONN_H
#define HARE_DAEMON_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "auth.h"
#include "frame.h"

struct hared;

/* Where a connection without a socket (conn_fake_new) delivers what it
 * would send: the packed FromDaemon payload, borrowed for the call. */
typedef void (*conn_sink_cb)(void *user, const uint8_t *payload, size_t len);

enum conn_kind { CONN_AGENT, CONN_CLIENT_UNIX, CONN_CLIENT_TCP };

/* The user every TCP client session is (they share the client token); a
 * local user of that name goes by "uidN" instead. */
#define CONN_REMOTE_USER "remote"

/* Whether a local user's passwd name is one other sessions go by
 * (CONN_REMOTE_USER, or "uid" and digits: a uid without a passwd entry);
 * such a user goes by "uidN" of its own uid. */
bool conn_name_reserved(const char *name);

struct auth_hmac_key;

enum conn_state {
	CONN_NEW,		/* waiting for Hello */
	CONN_CHALLENGED,	/* agent: Challenge sent, waiting for Auth */
	CONN_AUTHED,		/* agent: Welcome sent, waiting for Register */
	CONN_READY,		/* agent: registered */
	CONN_CLIENT,		/* client: Welcome sent */
	CONN_CLOSING,		/* no more input is read */
};

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct hared *d;
	struct conn *prev, *next;
	uint64_t id;
	enum conn_kind kind;
	enum conn_state state;
	struct wire_reader rd;
	char peer[64];			/* address, or "uid N" */
	char source[48];		/* whose pending connections it counts among:
					 * "uid N" (unix socket) or the address (TCP) */
	char user[64];			/* clients: user name */
	bool admin;			/* clients: root may cancel any job and drain nodes */
	char node[64];			/* agents: node name */
	bool logs;			/* agents: keeps workers' output (Register.logs) */
	uint32_t agent_id;
	uint8_t nonce[AUTH_NONCE_LEN];
	uint8_t expect[AUTH_MAC_LEN];	/* agents: the right Auth.mac for nonce */
	bool own_key;			/* agents: with the node's own key (agent_keys_dir) */
	/* agents that sent Hello.agent_nonce: frames to them after the
	 * Challenge carry a tag (auth_hmac_frame) with this session's key */
	bool sign;
	struct auth_hmac_key *sign_key;
	uint64_t sign_seq;
	/* agents that sent Hello.tags too: each of their frames after the
	 * Challenge ends with a tag with the agent's own session key, checked
	 * before it is read (dispatch_frame) */
	bool check;
	struct auth_hmac_key *check_key;
	uint64_t check_seq;
	uint64_t last_seen_ms;		/* uv_now of the last frame */
	uint64_t iter;			/* loop iteration of frames_iter */
	uint32_t frames_iter;		/* frames handled in that iteration */
	bool paused;			/* reading stopped until the next iteration */
	uint64_t opened_ms;
	size_t queued;			/* memory of not yet completed writes */
	bool refused;			/* turned away at accept (logged in sum) */
	uint64_t partial_ms;		/* since when part of a frame is buffered (0: none) */
	bool pending;			/* no Hello (agents: no Auth) yet: counted in
					 * hared.npending, small frames only */
	/* TCP peers: TLS (tls_link.h) when their first byte begins it, else
	 * plain (an older agent or harectl; refused with tls = required) */
	struct tls_link *tls;
	uint64_t tls_in;		/* bytes fed to it */
	bool plain;
	char tls_user[64];		/* client port: whose token keyed the TLS session */
	conn_sink_cb sink;		/* set: no socket, frames go here (tests, fuzzing) */
	void *sink_user;
};

/* The peer said Hello (a client) or authenticated (an agent): it may send
 * frames up to max_frame and no longer counts among the peers waiting. */
void conn_admitted(struct conn *c);

/* Why c, a peer just accepted (kind, source and admin set), may not wait
 * for its Hello (an agent: its Auth) now, as the Error it is sent; NULL
 * when it may. Each listener lets CONN_PENDING_MAX peers wait, one uid
 * CONN_PENDING_UID_MAX of them on the unix socket and one address
 * CONN_PENDING_ADDR_MAX on a TCP port, so that one local user or one
 * stranger cannot fill it for all; root on the unix socket always may. */
const char *conn_pending_refusal(const struct hared *d, const struct conn *c);

/* The client's user holds as many sessions as one user may (root: never). */
bool conn_user_full(const struct conn *c);

/* Open the listeners of d->cfg (raising the soft limit of open files to the
 * hard one first). 0 or a negative code with errbuf set. */
int conn_listen(struct hared *d, char *errbuf, size_t errlen);

/* Whether hared could make its Unix socket at path: a folder it may write
 * in, holding no file of that name that is not a socket (libuv's bind says
 * "permission denied" for a folder that is missing). 0 or a negative code
 * with errbuf set. */
int conn_unix_path_check(const char *path, char *errbuf, size_t errlen);

/* Close the listeners (the Unix socket file is removed). */
void conn_listen_stop(struct hared *d);

/* Close every connection. */
void conn_close_all(struct hared *d);

/* Connection by id, or NULL once it is closing or gone. */
struct conn *conn_find(struct hared *d, uint64_t id);

/* Queue one frame. 0, -ENOMEM, ERR_FRAME_TOO_BIG, or -EPIPE when the
 * connection is closing; a peer that stops reading is dropped. */
int conn_send(struct conn *c, const Hare__FromDaemon *m);

/* Send Error{code, message}; the connection stays open. */
int conn_send_error(struct conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Send Error{code, message}, stop reading, and close once it is written. */
void conn_fail(struct conn *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Close now (pending writes are dropped). */
void conn_close(struct conn *c);

/* Make c the session of agent_id; an older session of the same agent is
 * closed. */
int conn_agent_bind(struct hared *d, struct conn *c, uint32_t agent_id);

/* driver_send_cb: deliver to the agent's current session. */
int conn_agent_send(void *user, uint32_t agent_id, const Hare__FromDaemon *m);

/* Once per loop iteration: resume reading on connections that used up
 * their share of the previous iteration. */
void conn_resume_paused(struct hared *d);

/* Drop agents silent for longer than the heartbeat timeout, peers that
 * never said Hello, and peers whose frame stays incomplete for 2 minutes.
 * conn_expire_at: the same at loop time now_ms (tests). */
void conn_expire(struct hared *d);
void conn_expire_at(struct hared *d, uint64_t now_ms);

/* A connection of kind without a socket, in d's table like any other, for
 * tests and fuzzing: feed it frames with dispatch_frame; what the daemon
 * sends goes to sink; closing it only marks it CONN_CLOSING. Clients get
 * the user "root" (admin) on the Unix kind, agents must authenticate (or be
 * bound with conn_agent_bind). 0 or -ENOMEM. */
int conn_fake_new(struct hared *d, enum conn_kind kind, conn_sink_cb sink, void *user,
		  struct conn **out);

/* Bytes read on a connection made by conn_fake_new, framed as a socket's
 * are (its whole frames dispatched, a partial one kept). */
void conn_fake_feed(struct conn *c, const void *data, size_t n);

/* Free a connection made by conn_fake_new, closing its session as a socket
 * close would (its agent is detached unless the daemon is stopping). */
void conn_fake_free(struct conn *c);

#endif
