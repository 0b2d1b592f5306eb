/* SPDX-License-Identifier: MIT */
/* Connections on the loop: the connection table, read into a frame reader,
 * hand every complete frame to the dispatcher, write one allocation per
 * frame, send Error and close on bad input, detach agents on close. */
#include "conn_impl.h"

#include "auth_hmac.h"

#include "dispatch.h"
#include "driver.h"
#include "err.h"
#include "hared.h"
#include "log.h"
#include "logs.h"
#include "measure.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A peer must say Hello (an agent: authenticate) this long after it
 * connected: harectl and hare-agent do at once, and a peer waiting holds a
 * place of the few below. */
#define CONN_HELLO_TIMEOUT_MS 10000
/* A frame must be whole this long after its first bytes came: a peer that
 * sends most of a large frame and stops would hold its buffer (up to
 * max_frame) for as long as it stays connected. */
#define CONN_FRAME_TIMEOUT_MS 120000
/* Frames one connection may have handled in a loop iteration before its
 * reading pauses until the next one, so a flooding agent cannot starve
 * the others (every frame of a read is still handled). */
#define CONN_FRAMES_PER_ITER 1024
/* Past max_queued_mib for all peers together, the peer with the most queued
 * is dropped if it holds this much, or a quarter of the budget if less
 * (each one alone: conn_queue_limit). */
#define CONN_QUEUE_HOG (16u * 1024 * 1024)
/* Bytes a peer may have sent (besides one read more) before its TLS
 * handshake is done (ours: about 300). */
#define CONN_TLS_HANDSHAKE_MAX (16u * 1024)

struct conn_wreq {
	uv_write_t req;
	size_t len;
	uint8_t data[];
};

/* ---- the connection table (ids ascend, so inserts append) ---- */

static int conn_slot_index(const struct hared *d, uint64_t id)
{
	uint32_t lo = 0, hi = d->nconns;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->conn_slots[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->nconns && d->conn_slots[lo]->id == id ? (int)lo : -1;
}

int conn_table_add(struct hared *d, struct conn *c)
{
	if (d->nconns == d->conn_slots_cap) {
		uint32_t cap = d->conn_slots_cap ? d->conn_slots_cap * 2 : 64;
		struct conn **a = realloc(d->conn_slots, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		d->conn_slots = a;
		d->conn_slots_cap = cap;
	}
	d->conn_slots[d->nconns++] = c;
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	return 0;
}

static void conn_table_remove(struct hared *d, struct conn *c)
{
	int i = conn_slot_index(d, c->id);

	if (i >= 0) {
		memmove(&d->conn_slots[i], &d->conn_slots[i + 1],
			(d->nconns - (uint32_t)i - 1) * sizeof(*d->conn_slots));
		d->nconns--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (d->conns == c)
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

struct conn *conn_find(struct hared *d, uint64_t id)
{
	int i = conn_slot_index(d, id);

	if (i < 0 || d->conn_slots[i]->state == CONN_CLOSING)
		return NULL;
	return d->conn_slots[i];
}

/* ---- closing ---- */

/* The session is over: out of the table, its agent detached. */
static void conn_ended(struct conn *c)
{
	struct hared *d = c->d;

	conn_table_remove(d, c);
	if (c->pending) {
		c->pending = false;
		d->npending[c->kind]--;
	}
	/* At shutdown agents keep their workers and the jobs stay RUNNING in
	 * the store, to be adopted by the next daemon. */
	if (c->agent_id && c->agent_id < d->agent_conn_cap && d->agent_conn[c->agent_id] == c->id) {
		d->agent_conn[c->agent_id] = 0;
		if (!d->stopping) {
			driver_agent_detach(d->drv, c->agent_id);
			if (d->measure)
				measure_on_detach(d->measure, c->agent_id);
			logs_on_detach(d, c->agent_id);
		}
	}
	log_debug("conn=%" PRIu64 " peer=%s closed", c->id, c->peer);
	wire_reader_destroy(&c->rd);
	/* what was made with the node's key goes with the session */
	auth_hmac_key_free(c->sign_key);
	auth_hmac_key_free(c->check_key);
	tls_link_free(c->tls);
	explicit_bzero(c->expect, sizeof(c->expect));
	free(c);
}

static void conn_on_close(uv_handle_t *h)
{
	conn_ended(h->data);
}

void conn_close(struct conn *c)
{
	if (c->sink) {
		c->state = CONN_CLOSING;
		return;
	}
	if (uv_is_closing(&c->h.handle))
		return;
	c->state = CONN_CLOSING;
	uv_close(&c->h.handle, conn_on_close);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->handle->data;

	(void)status;
	free(req);
	conn_close(c);
}

void conn_close_all(struct hared *d)
{
	for (struct conn *c = d->conns; c; c = c->next)
		conn_close(c);
}

/* ---- writing ---- */

static void conn_on_write(uv_write_t *req, int status)
{
	struct conn_wreq *w = (struct conn_wreq *)req;
	struct conn *c = req->handle->data;

	c->queued -= sizeof(*w) + w->len;
	c->d->queued_total -= sizeof(*w) + w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED) {
		log_debug("conn=%" PRIu64 " peer=%s write failed: %s", c->id, c->peer,
			  uv_strerror(status));
		conn_close(c);
	}
}

static size_t conn_queue_limit(const struct hared *d)
{
	size_t lim = (size_t)d->cfg.max_frame * 16;

	return lim > 64u * 1024 * 1024 ? lim : 64u * 1024 * 1024;
}

static size_t conn_queue_total(const struct hared *d)
{
	return (size_t)(d->cfg.max_queued_mib ? d->cfg.max_queued_mib : 512) << 20;
}

/* Write w (taken) on c's stream, counted in what c and all peers have
 * queued; a peer that does not read is dropped. A write that cannot be
 * queued closes c when the stream's state moved on (tagged or TLS): the
 * peer's next frame would not follow. */
static int conn_queue(struct conn *c, struct conn_wreq *w, bool stateful)
{
	struct hared *d = c->d;
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned int)w->len);
	int rc = uv_write(&w->req, &c->h.stream, &buf, 1, conn_on_write);

	if (rc < 0) {
		free(w);
		if (stateful)
			conn_close(c);
		return rc;
	}
	/* what the write holds, its request included: small replies cost
	 * more in uv_write_t than in bytes */
	c->queued += sizeof(*w) + w->len;
	d->queued_total += sizeof(*w) + w->len;
	if (c->queued > conn_queue_limit(d)) {
		log_warn("conn=%" PRIu64 " peer=%s does not read its replies (%zu bytes queued); "
			 "closing", c->id, c->peer, c->queued);
		conn_close(c);
	} else if (d->queued_total > conn_queue_total(d)) {
		struct conn *big = c;

		for (struct conn *o = d->conns; o; o = o->next)
			if (o->queued > big->queued && o->state != CONN_CLOSING)
				big = o;
		/* the rest is held by peers already closing: it is on its way
		 * out, and a peer that reads is not to pay for it */
		if (big->queued < CONN_QUEUE_HOG && big->queued < conn_queue_total(d) / 4)
			return 0;
		log_warn("conn=%" PRIu64 " peer=%s: %zu bytes queued for all peers (max_queued_mib "
			 "%u); closing this one, which does not read its %zu", big->id, big->peer,
			 d->queued_total, d->cfg.max_queued_mib, big->queued);
		conn_close(big);
	}
	return 0;
}

/* Send what c's TLS session has for the peer (handshake, records, an
 * alert). 0 or the write's error. */
static int conn_tls_flush(struct conn *c)
{
	size_t n = tls_link_pending(c->tls);
	struct conn_wreq *w;

	if (n == 0 || uv_is_closing(&c->h.handle))
		return 0;
	w = malloc(sizeof(*w) + n);
	if (!w) {
		conn_close(c);
		return -ENOMEM;
	}
	w->len = tls_link_take(c->tls, w->data, n);
	return conn_queue(c, w, true);
}

int conn_send(struct conn *c, const Hare__FromDaemon *m)
{
	struct hared *d = c->d;
	struct conn_wreq *w;
	size_t plen, tag;
	int rc;

	if (c->state == CONN_CLOSING || (!c->sink && uv_is_closing(&c->h.handle)))
		return -EPIPE;
	if (c->tls && !tls_link_ready(c->tls))
		return -ENOTCONN;	/* no session to say it in */
	if (m->msg_case == HARE__FROM_DAEMON__MSG__NOT_SET || !protobuf_c_message_check(&m->base)) {
		log_error("conn=%" PRIu64 ": refusing to send an incomplete message (case %d)", c->id,
			  (int)m->msg_case);
		return ERR_PROTO;
	}
	plen = hare__from_daemon__get_packed_size(m);
	tag = c->sign && !c->sink ? AUTH_MAC_LEN : 0;
	if (plen + tag > d->cfg.max_frame)
		return ERR_FRAME_TOO_BIG;
	w = malloc(sizeof(*w) + WIRE_HEADER_LEN + plen + tag);
	if (!w)
		return -ENOMEM;
	w->len = WIRE_HEADER_LEN + plen + tag;
	w->data[0] = (uint8_t)((plen + tag) >> 24);
	w->data[1] = (uint8_t)((plen + tag) >> 16);
	w->data[2] = (uint8_t)((plen + tag) >> 8);
	w->data[3] = (uint8_t)(plen + tag);
	hare__from_daemon__pack(m, w->data + WIRE_HEADER_LEN);
	/* the agent acts on no frame of this session without hared's tag */
	if (tag && auth_hmac_frame(c->sign_key, c->sign_seq, w->data + WIRE_HEADER_LEN, plen,
				   w->data + WIRE_HEADER_LEN + plen) < 0) {
		free(w);
		/* the next frame's tag would not be the agent's next: the session
		 * cannot go on (no Error: it would need a tag too) */
		log_error("conn=%" PRIu64 " peer=%s: cannot tag a frame for the agent; closing", c->id,
			  c->peer);
		conn_close(c);
		return -EIO;
	}
	c->sign_seq += tag != 0;
	if (c->sink) {
		c->sink(c->sink_user, w->data + WIRE_HEADER_LEN, plen);
		d->frames_out++;
		free(w);
		return 0;
	}
	d->frames_out++;
	if (c->tls) {
		/* the frame goes out encrypted; a TLS session that cannot take
		 * it is over */
		rc = tls_link_write(c->tls, w->data, w->len);
		free(w);
		if (rc < 0) {
			log_debug("conn=%" PRIu64 " peer=%s: cannot encrypt a frame: %s", c->id, c->peer,
				  tls_link_error(c->tls));
			conn_close(c);
			return -EPIPE;
		}
		return conn_tls_flush(c);
	}
	return conn_queue(c, w, tag != 0);
}

static int conn_send_errorv(struct conn *c, int code, const char *fmt, va_list ap)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Error e = HARE__ERROR__INIT;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	e.code = code;
	e.message = msg;
	m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
	m.error = &e;
	return conn_send(c, &m);
}

int conn_send_error(struct conn *c, int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = conn_send_errorv(c, code, fmt, ap);
	va_end(ap);
	return rc;
}

/* Read no more; close once what is queued is written. */
static void conn_end(struct conn *c)
{
	uv_shutdown_t *req;

	c->state = CONN_CLOSING;
	if (c->sink)
		return;
	uv_read_stop(&c->h.stream);
	req = malloc(sizeof(*req));
	if (!req || uv_shutdown(req, &c->h.stream, conn_on_shutdown) < 0) {
		free(req);
		conn_close(c);
	}
}

void conn_fail(struct conn *c, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->state == CONN_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a peer with the wrong key or token is an operator's business */
	if (!c->refused)
		log_at(code == -EACCES ? LOG_LVL_WARN : LOG_LVL_INFO, "conn=%" PRIu64 " peer=%s closing: "
		       "%s (%s)", c->id, c->peer, msg, err_name(code));
	conn_send_error(c, code, "%s", msg);
	conn_end(c);
}

/* ---- reading ---- */

static void conn_frame_too_big(struct conn *c)
{
	if (c->pending)
		conn_fail(c, ERR_FRAME_TOO_BIG, "frame larger than %u bytes before hello%s",
			  c->rd.max_frame, c->kind == CONN_AGENT ? " and authentication" : "");
	else
		conn_fail(c, ERR_FRAME_TOO_BIG, "frame larger than max_frame (%u bytes)",
			  c->rd.max_frame);
}

void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	/* One buffer for every connection: the loop calls on_read right after
	 * this, and on_read copies what it keeps into the frame reader. */
	*buf = uv_buf_init((char *)c->d->rbuf, sizeof(c->d->rbuf));
}

/* Dispatch every complete frame; stop when the connection closes. */
static void conn_frames(struct conn *c)
{
	const uint8_t *p;
	size_t len;

	while (c->state != CONN_CLOSING) {
		int rc = wire_reader_next(&c->rd, &p, &len);

		if (rc == 0) {
			if (c->rd.len == c->rd.off)
				c->partial_ms = 0;
			else if (!c->partial_ms)
				c->partial_ms = uv_now(c->d->loop);
			return;
		}
		if (rc < 0) {
			conn_frame_too_big(c);
			return;
		}
		c->last_seen_ms = uv_now(c->d->loop);
		c->partial_ms = 0;
		c->d->frames_in++;
		if (c->iter != c->d->iter) {
			c->iter = c->d->iter;
			c->frames_iter = 0;
		}
		c->frames_iter++;
		dispatch_frame(c, p, len);
	}
}

/* Stop reading c for the rest of this loop iteration. */
static void conn_pause(struct conn *c)
{
	struct hared *d = c->d;

	if (d->npaused == d->paused_cap) {
		uint32_t cap = d->paused_cap ? d->paused_cap * 2 : 16;
		uint64_t *a = realloc(d->paused, cap * sizeof(*a));

		if (!a)
			return;	/* keep reading: fairness is not worth failing for */
		d->paused = a;
		d->paused_cap = cap;
	}
	d->paused[d->npaused++] = c->id;
	c->paused = true;
	uv_read_stop(&c->h.stream);
}

void conn_resume_paused(struct hared *d)
{
	uint32_t n = d->npaused;

	d->iter++;
	d->npaused = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct conn *c = conn_find(d, d->paused[i]);

		if (!c || !c->paused)
			continue;
		c->paused = false;
		if (uv_read_start(&c->h.stream, conn_on_alloc, conn_on_read) < 0)
			conn_close(c);
	}
}

/* Plaintext from the peer (read, or decrypted): into the frame reader,
 * every whole frame dispatched. */
static void conn_plain_in(struct conn *c, const uint8_t *p, size_t n)
{
	int rc = wire_reader_feed(&c->rd, p, n);

	conn_frames(c);
	if (rc == ERR_FRAME_TOO_BIG)
		conn_frame_too_big(c);
	else if (rc < 0)
		conn_fail(c, rc, "cannot buffer input: %s", err_str(rc));
}

/* The peer's first bytes on a TCP port: TLS begins with a handshake record;
 * anything else is an older peer's frame, refused with tls = required. 0,
 * or < 0 when c is closing. */
static int conn_tls_begin(struct conn *c, uint8_t first)
{
	struct hared *d = c->d;
	int rc;

	if (first == TLS_LINK_FIRST_BYTE) {
		rc = tls_link_server(dispatch_tls_psk, c, &c->tls);
		if (rc < 0) {
			log_error("conn=%" PRIu64 " peer=%s: cannot begin TLS: %s", c->id, c->peer,
				  err_str(rc));
			conn_close(c);
		}
		return rc;
	}
	c->plain = true;
	d->plain_sessions[c->kind]++;
	/* an agent is refused at its Hello, which names its node (harectl
	 * nodes and the log say why that node is out) */
	if (!hared_tls_required(&d->cfg) || c->kind == CONN_AGENT)
		return 0;
	conn_refused_note(d, "a client without TLS on the client port (tls = required)");
	c->refused = true;
	conn_fail(c, -EPROTONOSUPPORT, "hared takes only TLS on this port (tls = required in "
		  "hared.conf): upgrade harectl, and do not give it --no-tls");
	return -EPROTONOSUPPORT;
}

/* Bytes of a TLS session: the handshake goes on, then what it decrypts is
 * read as frames; what TLS has for the peer goes out. */
static void conn_tls_in(struct conn *c, const uint8_t *p, size_t n)
{
	struct hared *d = c->d;
	bool was_ready = tls_link_ready(c->tls);
	ssize_t r;

	/* a handshake is a few hundred bytes each way; OpenSSL would buffer a
	 * stranger's ClientHello up to 128 KiB. Counted before this read, so
	 * data that comes with the last flight of a handshake is not. */
	if (!was_ready && c->tls_in > CONN_TLS_HANDSHAKE_MAX) {
		d->tls_failed[c->kind]++;
		log_info("conn=%" PRIu64 " peer=%s closing: a TLS handshake of more than %u bytes",
			 c->id, c->peer, CONN_TLS_HANDSHAKE_MAX);
		conn_close(c);
		return;
	}
	c->tls_in += n;
	r = tls_link_feed(c->tls, p, n) < 0 ? TLS_LINK_FAILED : 0;

	while (r == 0 || r > 0) {
		r = tls_link_read(c->tls, d->tbuf, sizeof(d->tbuf));
		if (!was_ready && tls_link_ready(c->tls)) {
			was_ready = true;
			d->tls_sessions[c->kind]++;
		}
		if (r <= 0)
			break;
		conn_plain_in(c, d->tbuf, (size_t)r);
		if (c->state == CONN_CLOSING)
			return;
	}
	conn_tls_flush(c);
	if (r == TLS_LINK_EOF) {
		conn_close(c);
	} else if (r == TLS_LINK_FAILED) {
		d->tls_failed[c->kind]++;
		dispatch_tls_failed(c);
		if (!c->refused)
			log_warn("conn=%" PRIu64 " peer=%s closing: TLS %s failed: %s%s", c->id,
				 c->peer, tls_link_ready(c->tls) ? "session" : "handshake",
				 tls_link_error(c->tls), c->kind == CONN_AGENT ? "" :
				 tls_link_bad_key(c->tls) ? " (a wrong client token)" :
				 strncmp(tls_link_identity(c->tls), "t-", 2) == 0 ? " (no client token "
				 "has that identity: a wrong or old token)" : tls_link_identity(c->tls)[0] ?
				 " (not a client token's identity: an agent pointed at client_listen?)" : "");
		/* the alert is on its way; then the end */
		conn_end(c);
	}
}

void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("conn=%" PRIu64 " peer=%s read: %s", c->id, c->peer,
				  uv_strerror((int)nread));
		/* an agent that checks hared's proof and leaves at it holds
		 * another key for its node than hared does (in TLS the key was
		 * right: it left for another reason) */
		if (c->kind == CONN_AGENT && c->state == CONN_CHALLENGED && c->check && !c->tls)
			dispatch_agent_left_at_proof(c);
		conn_close(c);
		return;
	}
	if (nread == 0 || c->state == CONN_CLOSING)
		return;
	if (c->kind != CONN_CLIENT_UNIX && !c->tls && !c->plain &&
	    conn_tls_begin(c, (uint8_t)buf->base[0]) < 0)
		return;
	if (c->tls)
		conn_tls_in(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		conn_plain_in(c, (const uint8_t *)buf->base, (size_t)nread);
	if (c->frames_iter >= CONN_FRAMES_PER_ITER && c->state != CONN_CLOSING && !c->paused)
		conn_pause(c);
}

/* ---- agents ---- */

int conn_agent_bind(struct hared *d, struct conn *c, uint32_t agent_id)
{
	struct conn *old;

	if (agent_id >= d->agent_conn_cap) {
		uint32_t cap = d->agent_conn_cap ? d->agent_conn_cap : 16;
		uint64_t *a;

		while (cap <= agent_id)
			cap *= 2;
		a = realloc(d->agent_conn, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		memset(a + d->agent_conn_cap, 0, (cap - d->agent_conn_cap) * sizeof(*a));
		d->agent_conn = a;
		d->agent_conn_cap = cap;
	}
	old = d->agent_conn[agent_id] ? conn_find(d, d->agent_conn[agent_id]) : NULL;
	d->agent_conn[agent_id] = c->id;
	c->agent_id = agent_id;
	if (old && old != c) {
		logs_on_detach(d, agent_id);	/* the old session answers no more */
		conn_fail(old, -ECONNRESET, "node %s connected again; closing this session",
			  old->node);
	}
	return 0;
}

int conn_fake_new(struct hared *d, enum conn_kind kind, conn_sink_cb sink, void *user,
		  struct conn **out)
{
	struct conn *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->kind = kind;
	c->sink = sink;
	c->sink_user = user;
	c->id = ++d->next_conn_id;
	if (conn_table_add(d, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	wire_reader_init(&c->rd, d->cfg.max_frame);
	snprintf(c->peer, sizeof(c->peer), "fake");
	snprintf(c->source, sizeof(c->source), "fake");
	if (kind == CONN_CLIENT_UNIX) {
		snprintf(c->user, sizeof(c->user), "root");
		c->admin = true;
	}
	*out = c;
	return 0;
}

void conn_fake_feed(struct conn *c, const void *data, size_t n)
{
	if (wire_reader_feed(&c->rd, data, n) == ERR_FRAME_TOO_BIG) {
		conn_frames(c);
		conn_frame_too_big(c);
		return;
	}
	conn_frames(c);
}

void conn_fake_free(struct conn *c)
{
	if (c)
		conn_ended(c);
}

int conn_agent_send(void *user, uint32_t agent_id, const Hare__FromDaemon *m)
{
	struct hared *d = user;
	struct conn *c;

	if (agent_id >= d->agent_conn_cap || !d->agent_conn[agent_id])
		return -ENOTCONN;
	c = conn_find(d, d->agent_conn[agent_id]);
	return c ? conn_send(c, m) : -ENOTCONN;
}

void conn_expire(struct hared *d)
{
	conn_expire_at(d, uv_now(d->loop));
}

void conn_expire_at(struct hared *d, uint64_t now)
{
	uint64_t hb_ms = (uint64_t)(d->cfg.heartbeat_timeout_s * 1000);

	for (struct conn *c = d->conns; c; c = c->next) {
		if (c->state == CONN_NEW && now - c->opened_ms > CONN_HELLO_TIMEOUT_MS)
			conn_fail(c, -ETIMEDOUT, "no hello within %d s", CONN_HELLO_TIMEOUT_MS / 1000);
		else if (c->pending && c->state == CONN_CHALLENGED &&
			 now - c->opened_ms > CONN_HELLO_TIMEOUT_MS)
			conn_fail(c, -ETIMEDOUT, "no authentication within %d s",
				  CONN_HELLO_TIMEOUT_MS / 1000);
		else if (c->state != CONN_CLOSING && c->partial_ms &&
			 now - c->partial_ms > CONN_FRAME_TIMEOUT_MS)
			conn_fail(c, -ETIMEDOUT, "a frame begun %d s ago is still not whole (%zu bytes)",
				  CONN_FRAME_TIMEOUT_MS / 1000, c->rd.len - c->rd.off);
		else if (c->kind == CONN_AGENT && c->state != CONN_CLOSING &&
			 now - c->last_seen_ms > hb_ms)
			conn_fail(c, -ETIMEDOUT, "agent %s silent for %.0f s", c->node[0] ? c->node : "?",
				  d->cfg.heartbeat_timeout_s);
	}
}
