/* SPDX-License-Identifier: MIT */
/* The agent's session with hared over TCP: resolve, connect, Hello ->
 * Challenge -> Auth -> Welcome -> Register, heartbeats, dispatch of the
 * daemon's messages, and reconnection with jittered exponential back-off. */
#include "agent_impl.h"

#include "auth_hmac.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *agent_state_name(enum agent_link_state s)
{
	static const char *const names[] = { "idle", "resolving", "connecting", "hello", "auth",
					     "ready", "closing" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

bool agent_link_is_ready(const struct agent *a)
{
	return a->state == LINK_READY;
}

size_t agent_link_queued(const struct agent *a)
{
	return a->tcp_open ? uv_stream_get_write_queue_size((const uv_stream_t *)&a->tcp) : 0;
}

static uint64_t agent_rand(struct agent *a)
{
	uint64_t x = a->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	a->rng = x;
	return x;
}

static void on_retry(uv_timer_t *t)
{
	struct agent *a = t->data;

	/* while hared is away too: old output files do not pile up */
	agent_log_prune_due(a);
	agent_link_connect(a);
}

/* Next attempt after 0.2 s doubling to 10 s, jittered to [d/2, d] so agents
 * that lost the daemon together do not reconnect together. */
static void agent_link_retry_later(struct agent *a)
{
	uint64_t d = AGENT_BACKOFF_MIN_MS;

	for (uint32_t i = 0; i < a->attempt && d < AGENT_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > AGENT_BACKOFF_MAX_MS)
		d = AGENT_BACKOFF_MAX_MS;
	d = d / 2 + agent_rand(a) % (d / 2 + 1);
	a->attempt++;
	log_debug("agent reconnect daemon=%s in_ms=%llu attempt=%u", a->cfg.daemon,
		  (unsigned long long)d, a->attempt);
	uv_timer_start(&a->retry_timer, on_retry, d, 0);
}

static void on_written(uv_write_t *req, int status)
{
	struct agent_write *w = (struct agent_write *)req;
	struct agent *a = req->handle->data;

	free(w->buf);
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		agent_link_drop(a, uv_strerror(status));
}

/* m as one frame (header included) in *buf, malloc'd; once the session
 * is signed out, with its tag after the payload, counted in the header. */
static int agent_link_encode(struct agent *a, const Hare__ToDaemon *m, uint8_t **buf, size_t *len)
{
	size_t plen;
	uint8_t *b;
	/* hared's frame limit counts the tag */
	int rc = wire_encode_to_daemon(m, a->signed_out ? WIRE_FRAME_MAX_DEFAULT - AGENT_MAC_LEN : 0,
				       buf, len);

	if (rc < 0 || !a->signed_out)
		return rc;
	plen = *len - WIRE_HEADER_LEN;
	b = realloc(*buf, *len + AGENT_MAC_LEN);
	if (!b || plen + AGENT_MAC_LEN > UINT32_MAX ||
	    auth_hmac_frame(a->mac_out, a->seq_out, b + WIRE_HEADER_LEN, plen, b + *len) < 0) {
		free(b ? b : *buf);
		*buf = NULL;
		return b ? -EIO : -ENOMEM;
	}
	a->seq_out++;
	plen += AGENT_MAC_LEN;
	b[0] = (uint8_t)(plen >> 24);
	b[1] = (uint8_t)(plen >> 16);
	b[2] = (uint8_t)(plen >> 8);
	b[3] = (uint8_t)plen;
	*buf = b;
	*len += AGENT_MAC_LEN;
	return 0;
}

/* A link without a socket (test seam): the frame goes to the sink. */
static int agent_link_write_sink(struct agent *a, const Hare__ToDaemon *m)
{
	uint8_t *buf;
	size_t len;
	int rc = agent_link_encode(a, m, &buf, &len);

	if (rc < 0)
		return rc;
	a->sink(a->sink_user, buf, len);
	free(buf);
	a->stats.frames_sent++;
	return 0;
}

/* Write w (taken: its len bytes at w->buf) on the link; a write that cannot
 * be queued drops the link. 0 or its error. */
static int agent_write_queue(struct agent *a, struct agent_write *w, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned int)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&a->tcp, &b, 1, on_written);

	if (rc < 0) {
		free(w->buf);
		free(w);
		agent_link_drop(a, uv_strerror(rc));
	}
	return rc;
}

/* Send what the TLS session has for hared (handshake, records, an alert).
 * 0 or a negative code, the link dropped. */
static int agent_tls_flush(struct agent *a)
{
	size_t n = a->tls ? tls_link_pending(a->tls) : 0;
	struct agent_write *w;

	if (n == 0 || !a->tcp_open || uv_is_closing((uv_handle_t *)&a->tcp))
		return 0;
	w = malloc(sizeof(*w));
	if (w)
		w->buf = malloc(n);
	if (!w || !w->buf) {
		free(w);
		agent_link_drop(a, "out of memory");
		return -ENOMEM;
	}
	return agent_write_queue(a, w, tls_link_take(a->tls, w->buf, n));
}

/* Queue one envelope on the connection, whatever the session state. */
static int agent_link_write(struct agent *a, const Hare__ToDaemon *m)
{
	struct agent_write *w;
	size_t len;
	int rc;

	if ((!a->tcp_open && !a->sink) || a->state == LINK_CLOSING)
		return -ENOTCONN;
	if (a->sink)
		return agent_link_write_sink(a, m);
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	rc = agent_link_encode(a, m, &w->buf, &len);
	if (rc < 0) {
		free(w);	/* not tagged: seq_out is as it was */
		return rc;
	}
	if (a->tls) {
		/* encrypted: the frame's bytes go into the session, its records out */
		rc = tls_link_write(a->tls, w->buf, len);
		free(w->buf);
		free(w);
		if (rc < 0) {
			agent_link_drop(a, "cannot encrypt a frame for hared");
			return -EIO;
		}
		a->stats.frames_sent++;
		return agent_tls_flush(a);
	}
	rc = agent_write_queue(a, w, len);
	a->stats.frames_sent += rc == 0;
	return rc;
}

int agent_link_send(struct agent *a, const Hare__ToDaemon *m)
{
	return a->state == LINK_READY ? agent_link_write(a, m) : -ENOTCONN;
}

void agent_on_tcp_closed(uv_handle_t *h)
{
	struct agent *a = h->data;

	a->tcp_open = false;
	a->state = LINK_IDLE;
	tls_link_free(a->tls);	/* the next connection makes its own */
	a->tls = NULL;
	wire_reader_destroy(&a->reader);
	wire_reader_init(&a->reader, a->cfg.max_frame);
	if (a->closing)
		uv_close((uv_handle_t *)&a->retry_timer, agent_on_handle_closed);
	else
		agent_link_retry_later(a);
	agent_on_handle_closed(h);
}

void agent_link_drop(struct agent *a, const char *why)
{
	bool was_ready = a->state == LINK_READY;

	if (a->state == LINK_CLOSING)
		return;
	/* the session's keys go with it */
	a->signed_in = a->signed_out = false;
	auth_hmac_key_free(a->mac_in);
	auth_hmac_key_free(a->mac_out);
	a->mac_in = a->mac_out = NULL;
	tls_link_free(a->tls);
	a->tls = NULL;
	uv_timer_stop(&a->heartbeat_timer);
	snprintf(a->link_why, sizeof(a->link_why), "%s", why);
	if (!a->tcp_open) {
		a->state = LINK_IDLE;
		if (!a->closing) {
			agent_link_retry_later(a);
			if (a->event_cb)
				a->event_cb(a->event_user, AGENT_EVENT_DISCONNECTED);
		}
		return;
	}
	if (was_ready || (a->attempt == 0 && !a->closing))
		log_warn("agent link down daemon=%s state=%s: %s (retrying)", a->cfg.daemon,
			 agent_state_name(a->state), why);
	else
		log_debug("agent link down daemon=%s state=%s: %s", a->cfg.daemon,
			  agent_state_name(a->state), why);
	a->state = LINK_CLOSING;
	uv_close((uv_handle_t *)&a->tcp, agent_on_tcp_closed);
	if (!a->closing && a->event_cb)
		a->event_cb(a->event_user, AGENT_EVENT_DISCONNECTED);
}

const char *agent_link_why(const struct agent *a)
{
	return a->link_why;
}

static void agent_send_hello(struct agent *a)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Hello h = HARE__HELLO__INIT;

	h.version = HARE__VERSION__PROTOCOL_VERSION;
	h.role = HARE__ROLE__ROLE_AGENT;
	h.node = a->cfg.node;
	/* hared must prove it holds the key over this: a server that does not
	 * (a wrong address, a spoofed name) is told nothing and sends nothing */
	if (getrandom(a->hello_nonce, sizeof(a->hello_nonce), 0) != (ssize_t)sizeof(a->hello_nonce)) {
		agent_link_drop(a, "cannot draw a nonce");
		return;
	}
	h.has_agent_nonce = true;
	h.agent_nonce.data = a->hello_nonce;
	h.agent_nonce.len = sizeof(a->hello_nonce);
	/* and tags its own frames, so hared reads no report not this agent's */
	h.has_tags = true;
	h.tags = true;
	a->signed_in = false;
	a->signed_out = false;
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &h;
	if (agent_link_write(a, &m) == 0)
		a->state = LINK_HELLO;
}

static void agent_on_challenge(struct agent *a, const Hare__Challenge *c)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Auth auth = HARE__AUTH__INIT;
	uint8_t mac[AGENT_MAC_LEN];

	if (c->nonce.len != AGENT_NONCE_LEN ||
	    agent_auth_mac(a->key, a->keylen, c->nonce.data, c->nonce.len, a->cfg.node, mac) < 0) {
		agent_link_drop(a, "unusable challenge");
		return;
	}
	if (!c->has_proof) {
		agent_link_drop(a, "the server did not prove it holds the cluster key: not hared, or "
			       "a hared older than this agent (upgrade hared first)");
		return;
	}
	if (!agent_auth_proof_ok(a->key, a->keylen, a->hello_nonce, c->nonce.data, a->cfg.node,
				 true, c->proof.data, c->proof.len)) {
		/* hared's proof for an agent that does not tag: hared did not see
		 * Hello.tags (older, or the flag was taken out on the way) and
		 * would not check this agent's frames */
		if (agent_auth_proof_ok(a->key, a->keylen, a->hello_nonce, c->nonce.data,
					a->cfg.node, false, c->proof.data, c->proof.len))
			agent_link_drop(a, "hared does not check this agent's frame tags: a hared "
				       "older than this agent (upgrade hared first)");
		else
			agent_link_drop(a, "the server's proof of the cluster key is wrong: not this "
				       "cluster's hared, or hared holds another key for this node (a "
				       "different cluster_key_file, or a file of its own in hared's "
				       "agent_keys_dir)");
		return;
	}
	/* from here on a frame without the session's tag is not hared's, and
	 * each of this agent's frames, its Auth first, carries its own */
	{
		uint8_t in[AGENT_MAC_LEN], out[AGENT_MAC_LEN];
		bool ok;

		auth_hmac_key_free(a->mac_in);
		auth_hmac_key_free(a->mac_out);
		a->mac_in = a->mac_out = NULL;
		ok = auth_hmac_session(a->key, a->keylen, a->hello_nonce, c->nonce.data, a->cfg.node,
				       in) == 0 &&
		     auth_hmac_agent_session(a->key, a->keylen, a->hello_nonce, c->nonce.data,
					     a->cfg.node, out) == 0 &&
		     auth_hmac_key_new(in, &a->mac_in) == 0 && auth_hmac_key_new(out, &a->mac_out) == 0;
		explicit_bzero(in, sizeof(in));
		explicit_bzero(out, sizeof(out));
		if (!ok) {
			agent_link_drop(a, "cannot derive the session key");
			return;
		}
	}
	a->signed_in = true;
	a->seq_in = 0;
	a->signed_out = true;
	a->seq_out = 0;
	auth.mac.data = mac;
	auth.mac.len = sizeof(mac);
	m.msg_case = HARE__TO_DAEMON__MSG_AUTH;
	m.auth = &auth;
	if (agent_link_write(a, &m) == 0)
		a->state = LINK_AUTH;
}

static int agent_send_register(struct agent *a)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Register reg = HARE__REGISTER__INIT;
	Hare__NodeHealth health;
	Hare__GpuInfo gpus[AGENT_GPUS_MAX], *gp[AGENT_GPUS_MAX];
	Hare__RunningTask **running = NULL;
	char logdir[AGENT_PATH_MAX + 8];
	size_t nrun = 0;
	int rc;

	for (uint32_t i = 0; i < a->cfg.ngpus; i++) {
		const struct agent_gpu *g = &a->cfg.gpus[i];

		hare__gpu_info__init(&gpus[i]);
		gpus[i].index = g->index;
		gpus[i].type = (char *)g->type;
		gpus[i].has_memory_mib = g->memory_mib > 0;
		gpus[i].memory_mib = g->memory_mib;
		gpus[i].has_emulated = true;
		gpus[i].emulated = g->emulated;
		gp[i] = &gpus[i];
	}
	rc = agent_tasks_running(a, &running, &nrun);
	if (rc < 0)
		return rc;
	reg.n_gpus = a->cfg.ngpus;
	reg.gpus = gp;
	reg.n_running = nrun;
	reg.running = running;
	reg.has_stop_grace_ms = true;
	reg.stop_grace_ms = a->cfg.stop_grace_ms;
	/* a task's exit waits for its prolog's end and its epilog: hared
	 * keeps its GPU that long */
	reg.has_script_grace_ms = agent_prolog_on(a);
	reg.script_grace_ms = agent_prolog_grace_ms(a);
	reg.has_prolog_ms = a->cfg.prolog[0] != '\0';
	reg.prolog_ms = a->cfg.prolog_timeout_s * 1000 + AGENT_SCRIPT_STUCK_MS;
	/* ... and for its processes to be gone after the SIGKILL at its end */
	reg.has_unkillable_ms = a->cfg.unkillable_timeout_s > 0;
	reg.unkillable_ms = a->cfg.unkillable_timeout_s * 1000;
	reg.has_gpus_isolated = true;
	reg.gpus_isolated = agent_devices_on(a);
	reg.has_measures = reg.measures = true;
	reg.has_profile_cancel = reg.profile_cancel = true;
	reg.has_logs = reg.logs = agent_log_dir(a, logdir, sizeof(logdir));
	if (agent_health_fill(a, &health))
		reg.health = &health;
	rc = agent_profile_measuring(a, &reg.measuring, &reg.n_measuring);
	if (rc < 0) {
		free(running);
		return rc;
	}
	m.msg_case = HARE__TO_DAEMON__MSG_REGISTER;
	m.register_ = &reg;
	rc = agent_link_send(a, &m);
	free(running);
	free(reg.measuring);
	return rc;
}

void agent_link_heartbeat(struct agent *a)
{
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Heartbeat hb = HARE__HEARTBEAT__INIT;
	Hare__NodeHealth health;
	Hare__RunningTask **running = NULL;
	size_t nrun = 0;

	if (agent_tasks_running(a, &running, &nrun) < 0)
		return;
	if (agent_health_fill(a, &health))
		hb.health = &health;
	hb.has_uptime_s = true;
	hb.uptime_s = (double)(agent_now_ms(a) - a->start_ms) / 1000.0;
	hb.n_running = nrun;
	hb.running = running;
	m.msg_case = HARE__TO_DAEMON__MSG_HEARTBEAT;
	m.heartbeat = &hb;
	agent_link_send(a, &m);
	free(running);
}

static void on_heartbeat(uv_timer_t *t)
{
	struct agent *a = t->data;

	agent_log_prune_due(a);
	agent_cgroup_sweep(a, false);	/* ended runs' cgroups, once empty */
	agent_link_heartbeat(a);
}

static void agent_on_welcome(struct agent *a, const Hare__Welcome *w)
{
	if (w->version != HARE__VERSION__PROTOCOL_VERSION)
		log_warn("agent daemon=%s speaks protocol version %u, this agent %d", a->cfg.daemon,
			 w->version, HARE__VERSION__PROTOCOL_VERSION);
	a->state = LINK_READY;
	a->attempt = 0;
	a->stats.connects++;
	if (agent_send_register(a) < 0) {
		agent_link_drop(a, "cannot send Register");
		return;
	}
	log_info("agent registered daemon=%s node=%s agent_id=%u gpus=%u running=%u",
		 a->cfg.daemon, a->cfg.node, w->has_agent_id ? w->agent_id : 0, a->cfg.ngpus,
		 agent_tasks_live(a));
	uv_timer_start(&a->heartbeat_timer, on_heartbeat, a->cfg.heartbeat_ms, a->cfg.heartbeat_ms);
	/* what piled up while disconnected: rendezvous (ranks wait for it),
	 * reports, then exits */
	agent_rdv_send_pending(a);
	if (agent_tasks_flush(a, true))
		agent_flush_timer_arm(a);
	agent_tasks_send_exits(a);
	agent_profile_send_pending(a);
	if (a->event_cb)
		a->event_cb(a->event_user, AGENT_EVENT_REGISTERED);
}

static void agent_on_error(struct agent *a, const Hare__Error *e)
{
	log_error("agent daemon=%s refused: code=%d (%s): %s", a->cfg.daemon, e->code,
		  err_name(e->code), e->message);
	agent_link_drop(a, "daemon sent an error");
}

/* One decoded message; each arrives only in its session state. */
static void agent_link_dispatch(struct agent *a, const Hare__FromDaemon *m)
{
	enum agent_link_state s = a->state;

	if (m->msg_case == HARE__FROM_DAEMON__MSG_ERROR)
		agent_on_error(a, m->error);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_CHALLENGE && s == LINK_HELLO)
		agent_on_challenge(a, m->challenge);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_WELCOME && s == LINK_AUTH)
		agent_on_welcome(a, m->welcome);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_TASK_START && s == LINK_READY)
		agent_task_start(a, m->task_start);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_TASK_STOP && s == LINK_READY)
		agent_task_stop(a, m->task_stop->job_id, m->task_stop->lease_id,
				m->task_stop->reason);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_RENDEZVOUS && s == LINK_READY)
		agent_rdv_on_message(a, m->rendezvous);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_PROFILE_REQUEST && s == LINK_READY)
		agent_profile_on_request(a, m->profile_request);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_PROFILE_CANCEL && s == LINK_READY)
		agent_profile_on_cancel(a, m->profile_cancel);
	else if (m->msg_case == HARE__FROM_DAEMON__MSG_LOG_FETCH && s == LINK_READY)
		agent_log_on_fetch(a, m->log_fetch);
	else {
		log_error("agent daemon=%s sent message %d in state %s", a->cfg.daemon,
			  (int)m->msg_case, agent_state_name(s));
		agent_link_drop(a, "unexpected message");
	}
}

void agent_link_feed(struct agent *a, const uint8_t *data, size_t n)
{
	const uint8_t *payload;
	size_t len;
	int rc;

	rc = wire_reader_feed(&a->reader, data, n);
	/* a dropped link (CLOSING, or IDLE for one without a socket) reads no more */
	while (rc >= 0 && a->state != LINK_CLOSING && a->state != LINK_IDLE &&
	       (rc = wire_reader_next(&a->reader, &payload, &len)) == 1) {
		Hare__FromDaemon *m = NULL;

		if (a->signed_in) {
			if (!auth_hmac_frame_ok(a->mac_in, a->seq_in++, payload, len)) {
				agent_link_drop(a, "a frame without hared's tag for this session "
					       "(altered on the way, or not from hared)");
				return;
			}
			len -= AGENT_MAC_LEN;
		}
		rc = wire_decode_from_daemon(payload, len, &m);
		if (rc < 0)
			break;
		agent_link_dispatch(a, m);
		hare__from_daemon__free_unpacked(m, NULL);
	}
	if (rc < 0 && a->state == LINK_HELLO) {
		/* the first bytes back are not hared's: say where to look */
		char why[400];

		snprintf(why, sizeof(why), "%s in the first reply: is %s hared's agent_listen "
			 "address? (the peer does not speak Hare's protocol)", err_str(rc),
			 a->cfg.daemon);
		agent_link_drop(a, why);
	} else if (rc < 0) {
		agent_link_drop(a, err_str(rc));
	}
}

/* Why the TLS handshake with hared failed, in words an operator can act on. */
static void agent_tls_why(struct agent *a, char *why, size_t len)
{
	const char *e = tls_link_error(a->tls);
	char said[300];

	if (wire_peek_error(a->tls_first, a->ntls_first, said, sizeof(said))) {
		/* hared's Error in the clear: an older hared, or one too busy */
		if (strstr(said, "frame larger than"))
			snprintf(why, len, "hared at %.100s does not speak TLS (it says '%.150s'): a "
				 "hared older than this agent; upgrade it (tls = no here talks to it "
				 "meanwhile, in the clear)", a->cfg.daemon, said);
		else
			snprintf(why, len, "hared refused the connection: %.300s", said);
	} else if (tls_link_bad_key(a->tls))
		snprintf(why, len, "hared refused this node's key (TLS: %.100s): %.150s holds another key "
			 "than hared has for node %s (agent_keys_dir/%s.key, else its "
			 "cluster_key_file)", e, a->cfg.key_file, a->cfg.node, a->cfg.node);
	else if (strstr(e, "alert handshake failure"))
		snprintf(why, len, "hared refused the TLS handshake for node %s (%.100s): it has no "
			 "usable key for the node (hared's log says why; or is %.100s hared's "
			 "client_listen? agents talk to agent_listen)", a->cfg.node, e, a->cfg.daemon);
	else
		snprintf(why, len, "TLS with %.100s failed (%.100s): is it hared's agent_listen?",
			 a->cfg.daemon, e);
}

/* Bytes of the TLS session: the handshake goes on (Hello once it is done),
 * then what it decrypts is read as hared's frames. */
static void agent_tls_in(struct agent *a, const uint8_t *p, size_t n)
{
	bool was_ready = tls_link_ready(a->tls);
	ssize_t r = tls_link_feed(a->tls, p, n) < 0 ? TLS_LINK_FAILED : 0;
	char why[600];

	if (!was_ready && a->ntls_first < sizeof(a->tls_first)) {
		size_t k = n < sizeof(a->tls_first) - a->ntls_first ? n :
			   sizeof(a->tls_first) - a->ntls_first;

		memcpy(a->tls_first + a->ntls_first, p, k);
		a->ntls_first += k;
	}

	while (r >= 0 && a->tls && a->state != LINK_CLOSING && a->state != LINK_IDLE) {
		r = tls_link_read(a->tls, a->tbuf, sizeof(a->tbuf));
		if (!was_ready && tls_link_ready(a->tls)) {
			was_ready = true;
			agent_send_hello(a);
		}
		if (r <= 0)
			break;
		agent_link_feed(a, a->tbuf, (size_t)r);
	}
	if (!a->tls || agent_tls_flush(a) < 0 || !a->tls)
		return;	/* dropped meanwhile */
	if (r == TLS_LINK_EOF && !was_ready) {
		agent_tls_why(a, why, sizeof(why));
		agent_link_drop(a, why);
	} else if (r == TLS_LINK_EOF) {
		agent_link_drop(a, "closed by the daemon");
	} else if (r == TLS_LINK_FAILED) {
		agent_tls_why(a, why, sizeof(why));
		/* hared turned this node away: said each time, as its Error is */
		if (strncmp(why, "hared refused", 13) == 0)
			log_error("agent daemon=%s refused: %s", a->cfg.daemon, why);
		agent_link_drop(a, why);
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct agent *a = s->data;

	if (nread < 0) {
		agent_link_drop(a, nread == UV_EOF ? "closed by the daemon" : uv_strerror((int)nread));
		return;
	}
	if (a->tls)
		agent_tls_in(a, (const uint8_t *)buf->base, (size_t)nread);
	else
		agent_link_feed(a, (const uint8_t *)buf->base, (size_t)nread);
}

/* Begin TLS keyed for this node (a client end: its ClientHello goes out). */
static int agent_tls_begin(struct agent *a)
{
	uint8_t psk[TLS_PSK_LEN];
	int rc = tls_psk_derive(a->key, a->keylen, a->cfg.node, psk);

	if (rc == 0)
		rc = tls_link_client(a->cfg.node, psk, &a->tls);
	explicit_bzero(psk, sizeof(psk));
	a->ntls_first = 0;
	if (rc == 0 && tls_link_read(a->tls, a->tbuf, 0) < 0)
		rc = -EIO;
	if (rc < 0) {
		agent_link_drop(a, rc == -EINVAL ? "the node name cannot be a TLS identity" :
				"cannot begin TLS");
		return rc;
	}
	return agent_tls_flush(a);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct agent *a = req->data;

	a->requests--;
	if (a->closing || status == UV_ECANCELED || a->state != LINK_CONNECTING) {
		agent_maybe_done(a);
		return;
	}
	if (status < 0) {
		agent_link_drop(a, uv_strerror(status));
		return;
	}
	uv_read_start((uv_stream_t *)&a->tcp, agent_rbuf_alloc, on_read);
	if (a->cfg.tls)
		agent_tls_begin(a);	/* Hello once the handshake is done */
	else
		agent_send_hello(a);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct agent *a = req->data;
	int rc;

	a->requests--;
	if (a->closing || status < 0) {
		if (!a->closing)
			log_warn("agent resolve daemon=%s: %s", a->cfg.daemon, uv_strerror(status));
		uv_freeaddrinfo(res);
		a->state = LINK_IDLE;
		if (!a->closing)
			agent_link_retry_later(a);
		agent_maybe_done(a);
		return;
	}
	uv_tcp_init(a->loop, &a->tcp);
	a->tcp.data = a;
	a->tcp_open = true;
	a->handles++;
	uv_tcp_nodelay(&a->tcp, 1);
	uv_tcp_keepalive(&a->tcp, 1, 10);
	a->state = LINK_CONNECTING;
	a->connect_req.data = a;
	rc = uv_tcp_connect(&a->connect_req, &a->tcp, res->ai_addr, on_connected);
	uv_freeaddrinfo(res);
	if (rc < 0)
		agent_link_drop(a, uv_strerror(rc));
	else
		a->requests++;	/* released in on_connected */
}

void agent_link_connect(struct agent *a)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	int rc;

	if (a->closing || a->state != LINK_IDLE)
		return;
	if (a->sink) {
		/* test seam: connected at once, a fresh stream from the daemon */
		wire_reader_destroy(&a->reader);
		wire_reader_init(&a->reader, a->cfg.max_frame);
		agent_send_hello(a);
		return;
	}
	a->state = LINK_RESOLVING;
	a->gai.data = a;
	rc = uv_getaddrinfo(a->loop, &a->gai, on_resolved, a->host, a->port, &hints);
	if (rc < 0) {
		log_warn("agent resolve daemon=%s: %s", a->cfg.daemon, uv_strerror(rc));
		a->state = LINK_IDLE;
		agent_link_retry_later(a);
		return;
	}
	a->requests++;
}
