/* SPDX-License-Identifier: MIT */
/* Decode a frame, check the message against the session state, run the
 * session handshake (hello, challenge, auth, register) and hand work
 * messages to the driver and requests to the client handlers. */
#include "dispatch.h"

#include "auth_hmac.h"

#include "auth.h"
#include "clients.h"
#include "conn.h"
#include "driver.h"
#include "err.h"
#include "frame.h"
#include "hared.h"
#include "log.h"
#include "logs.h"
#include "measure.h"
#include "usage.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *dispatch_msg_name(Hare__ToDaemon__MsgCase m)
{
	switch (m) {
	case HARE__TO_DAEMON__MSG_HELLO: return "Hello";
	case HARE__TO_DAEMON__MSG_AUTH: return "Auth";
	case HARE__TO_DAEMON__MSG_REGISTER: return "Register";
	case HARE__TO_DAEMON__MSG_HEARTBEAT: return "Heartbeat";
	case HARE__TO_DAEMON__MSG_ROUND_REPORT: return "RoundReport";
	case HARE__TO_DAEMON__MSG_TASK_EXIT: return "TaskExit";
	case HARE__TO_DAEMON__MSG_RENDEZVOUS: return "Rendezvous";
	case HARE__TO_DAEMON__MSG_SUBMIT: return "Submit";
	case HARE__TO_DAEMON__MSG_QUEUE: return "QueueRequest";
	case HARE__TO_DAEMON__MSG_SHOW: return "ShowRequest";
	case HARE__TO_DAEMON__MSG_CANCEL: return "CancelRequest";
	case HARE__TO_DAEMON__MSG_NODES: return "NodesRequest";
	case HARE__TO_DAEMON__MSG_DRAIN: return "DrainRequest";
	case HARE__TO_DAEMON__MSG_PROFILE_RESULT: return "ProfileResult";
	case HARE__TO_DAEMON__MSG_LOG_DATA: return "LogData";
	case HARE__TO_DAEMON__MSG_LOGS: return "LogsRequest";
	case HARE__TO_DAEMON__MSG_UPDATE: return "UpdateRequest";
	case HARE__TO_DAEMON__MSG_HISTORY: return "HistoryRequest";
	case HARE__TO_DAEMON__MSG_FORGET: return "ForgetRequest";
	case HARE__TO_DAEMON__MSG_USAGE: return "UsageRequest";
	default: return "unknown message";
	}
}

static const char *dispatch_state_name(enum conn_state s)
{
	static const char *const names[] = {
		[CONN_NEW] = "before hello", [CONN_CHALLENGED] = "before auth",
		[CONN_AUTHED] = "before register", [CONN_READY] = "in an agent session",
		[CONN_CLIENT] = "in a client session", [CONN_CLOSING] = "while closing",
	};

	return names[s];
}

/* Which state a message needs; CONN_CLOSING: never allowed. */
static bool dispatch_allowed(Hare__ToDaemon__MsgCase m, enum conn_state s)
{
	switch (m) {
	case HARE__TO_DAEMON__MSG_HELLO:
		return s == CONN_NEW;
	case HARE__TO_DAEMON__MSG_AUTH:
		return s == CONN_CHALLENGED;
	case HARE__TO_DAEMON__MSG_REGISTER:
		return s == CONN_AUTHED || s == CONN_READY;
	case HARE__TO_DAEMON__MSG_HEARTBEAT:
	case HARE__TO_DAEMON__MSG_ROUND_REPORT:
	case HARE__TO_DAEMON__MSG_TASK_EXIT:
	case HARE__TO_DAEMON__MSG_RENDEZVOUS:
	case HARE__TO_DAEMON__MSG_PROFILE_RESULT:
	case HARE__TO_DAEMON__MSG_LOG_DATA:
		return s == CONN_READY;
	case HARE__TO_DAEMON__MSG_SUBMIT:
	case HARE__TO_DAEMON__MSG_QUEUE:
	case HARE__TO_DAEMON__MSG_SHOW:
	case HARE__TO_DAEMON__MSG_CANCEL:
	case HARE__TO_DAEMON__MSG_NODES:
	case HARE__TO_DAEMON__MSG_DRAIN:
	case HARE__TO_DAEMON__MSG_LOGS:
	case HARE__TO_DAEMON__MSG_UPDATE:
	case HARE__TO_DAEMON__MSG_HISTORY:
	case HARE__TO_DAEMON__MSG_FORGET:
	case HARE__TO_DAEMON__MSG_USAGE:
		return s == CONN_CLIENT;
	default:
		return false;
	}
}

static void dispatch_welcome(struct conn *c, uint32_t agent_id)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Welcome w = HARE__WELCOME__INIT;
	static char *features[] = { "after", "after-kinds", "check", "node-history" };

	w.version = HARE__VERSION__PROTOCOL_VERSION;
	if (agent_id == 0) {	/* a client's session */
		w.n_features = sizeof(features) / sizeof(features[0]);
		w.features = features;
	}
	w.has_agent_id = agent_id != 0;
	w.agent_id = agent_id;
	m.msg_case = HARE__FROM_DAEMON__MSG_WELCOME;
	m.welcome = &w;
	conn_send(c, &m);
}

/* node name's slot of slots (FNV-1a): a node's notes are limited by its
 * own slot, so one who says Hello under other names does not hide a
 * misconfigured node's. */
static uint64_t *dispatch_key_slot(uint64_t *slots, const char *node)
{
	uint32_t h = 2166136261u;

	for (const char *p = node; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return &slots[h % HARED_KEY_LOG_SLOTS];
}

/* A note for the log about node's key, at most once every 10 s for a
 * node name's slot of slots (anyone may say Hello with any node name),
 * else at debug. */
static void dispatch_note_limited(struct conn *c, uint64_t *slots, const char *tail,
				  const char *fmt, va_list ap)
{
	uint64_t now = uv_now(c->d->loop), *last = dispatch_key_slot(slots, c->node);
	char msg[600];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (*last && now - *last < 10000) {
		log_debug("node=%s peer=%s: %s", c->node, c->peer, msg);
		return;
	}
	*last = now ? now : 1;
	log_warn("node=%s peer=%s: %s (said at most every 10 s for a node%s)", c->node, c->peer,
		 msg, tail);
}

/* Why node's agent was refused. */
static void dispatch_key_note(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dispatch_note_limited(c, c->d->key_logged_ms, "; hare_agent_refusals_total counts them",
			      fmt, ap);
	va_end(ap);
}

/* A warning about the key node's agent came in with, which a refusal's
 * note does not hold back. */
static void dispatch_key_warn(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dispatch_note_limited(c, c->d->key_warned_ms, "", fmt, ap);
	va_end(ap);
}

/* A known node's agent was refused: why, for harectl nodes (with where
 * from, since anyone may say Hello under its name). */
static void dispatch_node_refused(struct conn *c, const char *why)
{
	char note[96];

	snprintf(note, sizeof(note), "from %.40s: %s", c->peer, why);
	driver_node_refused(c->d->drv, c->node, note);
}

/* The key node c->node's agent holds: its own (agent_keys_dir/NODE.key),
 * else the cluster's; in own, or d->key. NULL when there is none or it
 * cannot be read (said, counted and noted for harectl nodes): never an
 * empty key, and never the cluster key for a node whose own cannot be read
 * (or whose folder is gone), which would let the cluster key in where the
 * node's alone may. */
static const uint8_t *dispatch_node_key_get(struct conn *c, uint8_t *own, size_t cap, size_t *len)
{
	struct hared *d = c->d;
	char err[512] = "";
	bool loose = false;
	int rc = -ENOENT;

	c->own_key = false;
	if (d->cfg.agent_keys_dir[0]) {
		rc = auth_node_key_load(d->cfg.agent_keys_dir, c->node, own, cap, len, &loose, err,
					sizeof(err));
		if (rc == 0) {
			if (loose)
				dispatch_key_warn(c, "%s/%s.key is readable by group or others; chmod "
						  "600 it", d->cfg.agent_keys_dir, c->node);
			c->own_key = true;
			return own;
		}
	}
	if (rc == -ENOENT && d->keylen > 0) {
		*len = d->keylen;
		return d->key;
	}
	if (rc == -ENOENT)
		dispatch_key_note(c, "refused: no key of its own (%s/%s.key) and no cluster_key_file",
				  d->cfg.agent_keys_dir[0] ? d->cfg.agent_keys_dir : "(no agent_keys_dir)",
				  c->node);
	else
		dispatch_key_note(c, "refused: its key: %s", err);
	d->agent_refused_nokey++;
	dispatch_node_refused(c, "hared has no usable key for it");
	c->refused = true;	/* said above, at most every 10 s */
	return NULL;
}

/* The same, the session failed when there is none. */
static const uint8_t *dispatch_node_key(struct conn *c, uint8_t *own, size_t cap, size_t *len)
{
	const uint8_t *key = dispatch_node_key_get(c, own, cap, len);

	if (!key)
		conn_fail(c, -EACCES, "hared has no usable key for node %s (its log says why)",
			  c->node);
	return key;
}

/* The client token whose TLS identity (tls_token_identity) is identity,
 * and the user it acts as: client_users_file's, else client_token_file's. */
static bool dispatch_token_of(const struct hared *d, const char *identity, const char **user,
			      const uint8_t **token, size_t *len)
{
	for (uint32_t i = 0; d->user_tls_ids && i < d->nusers; i++)
		if (strcmp(identity, d->user_tls_ids[i]) == 0) {
			*user = d->users[i].name;
			*token = d->users[i].token;
			*len = d->users[i].len;
			return true;
		}
	if (!d->tokenlen || strcmp(identity, d->token_tls_id) != 0)
		return false;
	*user = CONN_REMOTE_USER;
	*token = d->token;
	*len = d->tokenlen;
	return true;
}

int dispatch_tls_psk(void *cb_user, const char *identity, uint8_t psk[TLS_PSK_LEN])
{
	struct conn *c = cb_user;
	struct hared *d = c->d;
	uint8_t own[AUTH_SECRET_MAX];
	const uint8_t *key, *token;
	const char *user;
	size_t len = strlen(identity), keylen = 0, tokenlen;
	int rc;

	if (c->kind != CONN_AGENT) {
		/* a remote client: the identity names its token, never the token */
		if (!dispatch_token_of(d, identity, &user, &token, &tokenlen))
			return -ENOENT;
		snprintf(c->tls_user, sizeof(c->tls_user), "%s", user);
		return tls_psk_derive(token, tokenlen, identity, psk);
	}
	/* an agent: the identity is its node's name, whose key it holds */
	if (len >= sizeof(c->node) || !driver_node_name_ok(identity))
		return -EINVAL;
	/* a client token's (harectl --host at the agent port): no node's refusal */
	if (dispatch_token_of(d, identity, &user, &token, &tokenlen)) {
		log_info("conn=%" PRIu64 " peer=%s: a client token's TLS identity on the agent port "
			 "(harectl --host pointed at agent_listen, not client_listen?)", c->id, c->peer);
		c->refused = true;
		return -ENOENT;
	}
	memcpy(c->node, identity, len + 1);
	key = dispatch_node_key_get(c, own, sizeof(own), &keylen);
	rc = key ? tls_psk_derive(key, keylen, identity, psk) : -EACCES;
	explicit_bzero(own, sizeof(own));
	return rc;
}

void dispatch_tls_failed(struct conn *c)
{
	if (c->kind != CONN_AGENT || !tls_link_bad_key(c->tls))
		return;
	/* the handshake's binder was not made with the key hared holds */
	c->d->agent_refused_key++;
	dispatch_node_refused(c, "a wrong key");
	dispatch_key_note(c, "refused: its TLS handshake is not made with the key hared holds for "
			  "it (%s)", c->own_key ? "its own, in agent_keys_dir" : "the cluster key");
	c->refused = true;
}

/* An agent's Hello checked: its node's name (kept in c->node), its nonce,
 * and TLS as hared.conf asks; false when the session was failed. */
static bool dispatch_hello_agent_ok(struct conn *c, const Hare__Hello *h)
{
	size_t len = h->node ? strlen(h->node) : 0;

	if (len == 0 || len >= sizeof(c->node)) {
		conn_fail(c, ERR_PROTO, "agent hello needs a node name of 1 to %zu characters",
			  sizeof(c->node) - 1);
		return false;
	}
	if (!driver_node_name_ok(h->node)) {
		conn_fail(c, -EINVAL, "node name '%s' must be letters, digits, '.', '_' or '-'",
			  h->node);
		return false;
	}
	if (h->has_agent_nonce && h->agent_nonce.len != AUTH_NONCE_LEN) {
		conn_fail(c, ERR_PROTO, "agent hello: agent_nonce must be %d bytes, got %zu",
			  AUTH_NONCE_LEN, h->agent_nonce.len);
		return false;
	}
	if (h->has_tags && h->tags && !h->has_agent_nonce) {
		conn_fail(c, ERR_PROTO, "agent hello: tags needs an agent_nonce");
		return false;
	}
	memcpy(c->node, h->node, len + 1);
	if (c->plain && hared_tls_required(&c->d->cfg)) {
		c->d->agent_refused_tls++;
		dispatch_node_refused(c, "its agent does not use TLS (tls = required)");
		dispatch_key_note(c, "refused: its agent does not use TLS (tls = required; an agent "
				  "older than hared, or tls = no in its configuration)");
		c->refused = true;	/* said above, at most every 10 s */
		conn_fail(c, -EPROTONOSUPPORT, "hared takes only TLS on this port (tls = required in "
			  "hared.conf): upgrade this hare-agent, or set tls = yes in its "
			  "configuration");
		return false;
	}
	if (c->tls && strcmp(tls_link_identity(c->tls), h->node) != 0) {
		conn_fail(c, -EACCES, "agent hello names node %s, but its TLS session is node %s's",
			  h->node, tls_link_identity(c->tls));
		return false;
	}
	return true;
}

/* The agent's half of the handshake (it sent a nonce): hared's proof that
 * it holds the key too (into proof), and the session's keys to tag each
 * frame after the Challenge with, and to check the agent's with (tags). */
static int dispatch_hello_keys(struct conn *c, const Hare__Hello *h, const uint8_t *key,
			       size_t keylen, uint8_t proof[AUTH_MAC_LEN])
{
	bool tags = h->has_tags && h->tags;
	uint8_t sk[AUTH_MAC_LEN], ak[AUTH_MAC_LEN];
	int rc = 0;

	if (auth_hmac_proof(key, keylen, h->agent_nonce.data, c->nonce, c->node, tags,
			    proof) < 0 ||
	    auth_hmac_session(key, keylen, h->agent_nonce.data, c->nonce, c->node, sk) < 0 ||
	    auth_hmac_key_new(sk, &c->sign_key) < 0 ||
	    (tags && (auth_hmac_agent_session(key, keylen, h->agent_nonce.data, c->nonce,
					      c->node, ak) < 0 ||
		      auth_hmac_key_new(ak, &c->check_key) < 0)))
		rc = -EIO;
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(ak, sizeof(ak));
	return rc;
}

static void dispatch_hello_agent(struct conn *c, const Hare__Hello *h)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Challenge ch = HARE__CHALLENGE__INIT;
	uint8_t proof[AUTH_MAC_LEN], own[AUTH_SECRET_MAX];
	size_t keylen = 0;
	const uint8_t *key;
	int rc;

	if (!dispatch_hello_agent_ok(c, h))
		return;
	key = dispatch_node_key(c, own, sizeof(own), &keylen);
	if (!key) {
		explicit_bzero(own, sizeof(own));	/* what a refused file held */
		return;
	}
	/* what the key is needed for is made now: the answer the agent's Auth
	 * must hold, hared's proof and the session keys */
	rc = auth_nonce_fill(c->nonce);
	if (rc == 0)
		rc = auth_mac_compute(key, keylen, c->nonce, AUTH_NONCE_LEN, c->node, c->expect);
	ch.nonce.data = c->nonce;
	ch.nonce.len = AUTH_NONCE_LEN;
	if (rc == 0 && h->has_agent_nonce) {
		rc = dispatch_hello_keys(c, h, key, keylen, proof);
		ch.has_proof = true;
		ch.proof.data = proof;
		ch.proof.len = sizeof(proof);
	}
	explicit_bzero(own, sizeof(own));
	if (rc < 0) {
		conn_fail(c, -EIO, "cannot draw a challenge");
		return;
	}
	m.msg_case = HARE__FROM_DAEMON__MSG_CHALLENGE;
	m.challenge = &ch;
	if (conn_send(c, &m) == 0) {
		c->state = CONN_CHALLENGED;
		c->sign = ch.has_proof;
		c->sign_seq = 0;
		c->check = h->has_tags && h->tags;
		c->check_seq = 0;
	}
}

/* A remote client without TLS sent its token in the clear: said at most
 * once a minute (scripts call harectl in loops). */
static void dispatch_plain_client_warn(struct conn *c)
{
	uint64_t now = uv_now(c->d->loop);

	if (c->d->plain_warned_ms && now - c->d->plain_warned_ms < 60000)
		return;
	c->d->plain_warned_ms = now;
	log_warn("client peer=%s user=%s: over TCP without TLS, so its token went in the clear "
		 "(a harectl older than this hared, or --no-tls); tls = required refuses such "
		 "sessions (said at most once a minute)", c->peer, c->user);
}

static void dispatch_hello(struct conn *c, const Hare__Hello *h)
{
	struct hared *d = c->d;
	bool agent_port = c->kind == CONN_AGENT;

	if (h->version != HARE__VERSION__PROTOCOL_VERSION) {
		conn_fail(c, ERR_PROTO, "protocol version %u not supported (this daemon speaks %d)",
			  h->version, HARE__VERSION__PROTOCOL_VERSION);
		return;
	}
	if (h->role != HARE__ROLE__ROLE_AGENT && h->role != HARE__ROLE__ROLE_CLIENT) {
		conn_fail(c, ERR_PROTO, "unknown role %d in hello (1: agent, 2: client)", (int)h->role);
		return;
	}
	if (agent_port != (h->role == HARE__ROLE__ROLE_AGENT)) {
		conn_fail(c, ERR_PROTO, agent_port ? "this port is for agents" :
			  "this socket is for clients; agents connect to agent_listen");
		return;
	}
	if (agent_port) {
		dispatch_hello_agent(c, h);
		return;
	}
	if (c->kind == CONN_CLIENT_TCP) {
		/* a token of client_users_file acts as its user; the shared one as
		 * "remote" */
		int u = h->token ? auth_users_find(d->users, d->nusers, h->token) : -1;

		if (u >= 0) {
			snprintf(c->user, sizeof(c->user), "%s", d->users[u].name);
		} else if (h->token && d->tokenlen && auth_token_equal(d->token, d->tokenlen, h->token)) {
			snprintf(c->user, sizeof(c->user), "%s", CONN_REMOTE_USER);
		} else {
			conn_fail(c, -EACCES, "wrong or missing client token");
			return;
		}
		/* the token that keyed the TLS session is the one said */
		if (c->tls && strcmp(c->user, c->tls_user) != 0) {
			conn_fail(c, -EACCES, "the client token in Hello is not the one this TLS "
				  "session was made with");
			return;
		}
	}
	if (c->kind == CONN_CLIENT_TCP && c->plain)
		dispatch_plain_client_warn(c);
	if (conn_user_full(c)) {
		conn_fail(c, -EUSERS, "user %s already has the most sessions one user may hold; "
			  "close some (harectl logs -f?) and retry", c->user);
		return;
	}
	c->state = CONN_CLIENT;
	conn_admitted(c);
	dispatch_welcome(c, 0);
}

/* The session of node other than c whose agent was heard from within
 * half the heartbeat timeout (a live one), or NULL. */
static struct conn *dispatch_live_twin(struct conn *c)
{
	struct hared *d = c->d;
	uint64_t now = uv_now(d->loop), live_ms = (uint64_t)(d->cfg.heartbeat_timeout_s * 500);

	for (struct conn *o = d->conns; o; o = o->next)
		if (o != c && o->kind == CONN_AGENT && (o->state == CONN_AUTHED || o->state == CONN_READY) &&
		    strcmp(o->node, c->node) == 0 && now - o->last_seen_ms < live_ms)
			return o;
	return NULL;
}

/* The agent's answer, or its first frame's tag (made with a key of the
 * same one), is not for the key hared holds for the node. */
static void dispatch_auth_failed(struct conn *c)
{
	c->d->agent_refused_key++;
	dispatch_node_refused(c, "a wrong key");
	dispatch_key_note(c, "refused: its answer is not made with the key hared holds for it "
			  "(%s)", c->own_key ? "its own, in agent_keys_dir" : "the cluster key");
	c->refused = true;	/* said above, at most every 10 s */
	/* the same words whichever key: a stranger learns nothing of them */
	conn_fail(c, -EACCES, "authentication failed for node %s (a wrong key? hared's log says "
		  "which it holds)", c->node);
}

void dispatch_agent_left_at_proof(struct conn *c)
{
	c->d->agent_refused_key++;
	dispatch_node_refused(c, "a wrong key (its agent refused hared's proof)");
	dispatch_key_note(c, "refused: its agent left at hared's proof: it holds another key for "
			  "the node than hared's (%s)", c->own_key ? "its own, in agent_keys_dir" :
			  "the cluster key");
}

static void dispatch_auth(struct conn *c, const Hare__Auth *a)
{
	struct hared *d = c->d;
	struct conn *twin;
	int id;

	if (!auth_mac_matches(c->expect, a->mac.data, a->mac.len)) {
		dispatch_auth_failed(c);
		return;
	}
	/* A new session replaces a node's silent one (its agent restarted, its
	 * connection broke); while the old one is heard from, the newcomer is
	 * another agent with the same node name, whose GPUs would take the
	 * node's place turn by turn, each time its jobs restarting */
	twin = dispatch_live_twin(c);
	if (twin) {
		double ago = (double)(uv_now(d->loop) - twin->last_seen_ms) / 1000;

		log_warn("node=%s peer=%s refused: the node is connected from peer %s, heard from "
			 "%.1f s ago; two agents with one node name?", c->node, c->peer, twin->peer, ago);
		conn_fail(c, -EEXIST, "node %s is connected already (from %s, heard from %.1f s ago): "
			  "is another agent using the node name %s? (hare-agent --node); a new "
			  "session replaces one silent for %.0f s", c->node, twin->peer, ago, c->node,
			  d->cfg.heartbeat_timeout_s / 2);
		return;
	}
	id = driver_agent_attach(d->drv, c->node, c->peer);
	if (id == -E2BIG)
		log_warn("node=%s peer=%s refused: hared knows %d nodes already, down ones "
			 "included, and none has been down for an hour without failures or a "
			 "drain (harectl forget removes a node gone for good)", c->node, c->peer,
			 DRIVER_MAX_NODES);
	if (id < 0) {
		conn_fail(c, id, id == -EINVAL ? "node name '%s' must be letters, digits, '.', '_' "
			  "or '-'" : "node %s refused: too many nodes", c->node);
		return;
	}
	if (conn_agent_bind(d, c, (uint32_t)id) < 0) {
		driver_agent_detach(d->drv, (uint32_t)id);
		conn_fail(c, -ENOMEM, "out of memory");
		return;
	}
	c->state = CONN_AUTHED;
	conn_admitted(c);
	log_info("node=%s agent=%d peer=%s authenticated (%s, %s, %s)", c->node, id, c->peer,
		 c->own_key ? "its own key" : "the cluster key",
		 c->check ? "frames tagged both ways" : "its frames untagged",
		 c->tls ? "in TLS" : "in the clear");
	if (c->plain && c->check)
		log_warn("node=%s peer=%s: its agent does not use TLS (tls = no in its "
			 "configuration?): what goes between them can be read on the way", c->node,
			 c->peer);
	if (!c->check)
		log_warn("node=%s peer=%s: its agent does not tag its frames (a hare-agent older "
			 "than this hared): what it reports could be altered on the way; upgrade "
			 "it", c->node, c->peer);
	dispatch_welcome(c, (uint32_t)id);
}

static void dispatch_register(struct conn *c, const Hare__Register *r)
{
	char why[256];
	int rc = driver_agent_register(c->d->drv, c->agent_id, r, why, sizeof(why));

	if (rc < 0) {
		conn_fail(c, rc, "register refused: %s", why);
		return;
	}
	c->state = CONN_READY;
	c->logs = r->has_logs && r->logs;
	if (c->d->measure) {
		measure_on_register(c->d->measure, c->agent_id, r);
		measure_on_node_unfit(c->d->measure);	/* it says it measures, unfit */
	}
}

/* Messages of an established session. */
static void dispatch_session(struct conn *c, const Hare__ToDaemon *m)
{
	struct driver *drv = c->d->drv;

	switch (m->msg_case) {
	case HARE__TO_DAEMON__MSG_HEARTBEAT:
		/* a node back to health may measure what nobody measures */
		if (driver_agent_heartbeat(drv, c->agent_id, m->heartbeat) && c->d->measure)
			measure_on_node_fit(c->d->measure);
		measure_on_node_unfit(c->d->measure);	/* ... or its health check fails */
		break;
	case HARE__TO_DAEMON__MSG_ROUND_REPORT:
		driver_round_report(drv, c->agent_id, m->round_report);
		break;
	case HARE__TO_DAEMON__MSG_TASK_EXIT:
		driver_task_exit(drv, c->agent_id, m->task_exit);
		measure_on_node_unfit(c->d->measure);	/* a node fault drains it */
		break;
	case HARE__TO_DAEMON__MSG_RENDEZVOUS:
		driver_rendezvous(drv, c->agent_id, m->rendezvous);
		break;
	case HARE__TO_DAEMON__MSG_PROFILE_RESULT:
		if (c->d->measure)
			measure_on_result(c->d->measure, c->agent_id, m->profile_result);
		break;
	case HARE__TO_DAEMON__MSG_SUBMIT:
		clients_submit(c, m->submit);
		break;
	case HARE__TO_DAEMON__MSG_QUEUE:
		clients_queue(c, m->queue);
		break;
	case HARE__TO_DAEMON__MSG_SHOW:
		clients_show(c, m->show);
		break;
	case HARE__TO_DAEMON__MSG_CANCEL:
		clients_cancel(c, m->cancel);
		break;
	case HARE__TO_DAEMON__MSG_NODES:
		clients_nodes(c);
		break;
	case HARE__TO_DAEMON__MSG_DRAIN:
		clients_drain(c, m->drain);
		break;
	case HARE__TO_DAEMON__MSG_LOG_DATA:
		logs_on_data(c->d, c->agent_id, m->log_data);
		break;
	case HARE__TO_DAEMON__MSG_LOGS:
		logs_request(c, m->logs);
		break;
	case HARE__TO_DAEMON__MSG_UPDATE:
		clients_update(c, m->update);
		break;
	case HARE__TO_DAEMON__MSG_HISTORY:
		clients_history(c, m->history);
		break;
	case HARE__TO_DAEMON__MSG_FORGET:
		clients_forget(c, m->forget);
		break;
	case HARE__TO_DAEMON__MSG_USAGE:
		usage_request(c, m->usage);
		break;
	default:
		break;
	}
}

static void dispatch_msg(struct conn *c, const Hare__ToDaemon *m)
{
	if (!dispatch_allowed(m->msg_case, c->state)) {
		conn_fail(c, ERR_PROTO, "unexpected %s %s", dispatch_msg_name(m->msg_case),
			  dispatch_state_name(c->state));
		return;
	}
	switch (m->msg_case) {
	case HARE__TO_DAEMON__MSG_HELLO:
		dispatch_hello(c, m->hello);
		break;
	case HARE__TO_DAEMON__MSG_AUTH:
		dispatch_auth(c, m->auth);
		break;
	case HARE__TO_DAEMON__MSG_REGISTER:
		dispatch_register(c, m->register_);
		break;
	default:
		dispatch_session(c, m);
		break;
	}
}

void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len)
{
	Hare__ToDaemon *m = NULL;
	int rc;

	/* an agent that tags its frames: none is read without its tag */
	if (c->check) {
		if (!auth_hmac_frame_ok(c->check_key, c->check_seq++, payload, len)) {
			/* the Auth's tag is made with the agent's key: a wrong one
			 * there is most likely a wrong key, not an attack */
			if (c->state == CONN_CHALLENGED) {
				dispatch_auth_failed(c);
				return;
			}
			log_warn("node=%s peer=%s: a frame without its agent's tag for this session "
				 "(altered on the way, or not from the agent); closing", c->node,
				 c->peer);
			c->d->agent_refused_tag++;
			conn_fail(c, -EACCES, "a frame without this session's tag");
			return;
		}
		len -= AUTH_MAC_LEN;
	}
	rc = wire_decode_to_daemon(payload, len, &m);
	if (rc < 0) {
		conn_fail(c, ERR_PROTO, "malformed frame (%zu bytes): not a valid ToDaemon message",
			  len);
		return;
	}
	dispatch_msg(c, m);
	hare__to_daemon__free_unpacked(m, NULL);
}
