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

enum conn_kind { CONN_AGENT, CONN_CLIENT_UNIX, CONN_CLIENT_TCP };

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
	char user[64];			/* clients: user name */
	bool admin;			/* clients: root may cancel any job */
	char node[64];			/* agents: node name */
	uint32_t agent_id;
	uint8_t nonce[AUTH_NONCE_LEN];
	uint64_t last_seen_ms;		/* uv_now of the last frame */
	uint64_t iter;			/* loop iteration of frames_iter */
	uint32_t frames_iter;		/* frames handled in that iteration */
	bool paused;			/* reading stopped until the next iteration */
	uint64_t opened_ms;
	size_t queued;			/* bytes in not yet completed writes */
};

/* Open the listeners of d->cfg. 0 or a negative code with errbuf set. */
int conn_listen(struct hared *d, char *errbuf, size_t errlen);

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

/* Drop agents silent for longer than the heartbeat timeout, and peers that
 * never said Hello. */
void conn_expire(struct hared *d);

#endif
