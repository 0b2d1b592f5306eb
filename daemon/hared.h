/* SPDX-License-Identifier: MIT */
/* The daemon as a whole: configuration, profile, store, driver, listeners,
 * connections and timers on one libuv loop; start-up and orderly shutdown. */
#ifndef HARE_DAEMON_HARED_H
#define HARE_DAEMON_HARED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "hared_config.h"
#include "store.h"
#include "tls_link.h"

#define HARED_KEY_LOG_SLOTS 64	/* node names' slots for notes on their keys */

struct conn;
struct driver;
struct profile;
struct clients_pending;
struct measure;

/* What the log has said of store failures (hared_store_log in hared_loop.c). */
struct hared_store_log {
	uint64_t lost_seen, total, pending, logged_ms;
	bool failing;
};

/* harectl usage sums on the thread pool at once, one per user: libuv's four
 * threads also plan, so two stay free */
#define HARED_USAGE_INFLIGHT 2

struct hared {
	uv_loop_t *loop;
	struct hared_config cfg;
	struct profile *prof;
	struct store *store;
	struct driver *drv;
	struct measure *measure;	/* GPU types agents measure (measure.h) */
	uint8_t key[AUTH_SECRET_MAX];
	size_t keylen;
	uint8_t token[AUTH_SECRET_MAX];
	size_t tokenlen;
	struct auth_user *users;		/* client_users_file's */
	uint32_t nusers;
	/* the TLS identities remote clients name their tokens by
	 * (tls_token_identity): the shared token's, and each user's */
	char token_tls_id[TLS_IDENTITY_MAX];
	char (*user_tls_ids)[TLS_IDENTITY_MAX];

	/* Connections: a list for iteration, an id table for lookup. */
	struct conn *conns;
	uint32_t nconns;
	struct hared_store_log store_log;	/* store failures in the log */
	uint32_t npending[3];		/* connections before Hello / Auth, per
					 * enum conn_kind (one listener's
					 * strangers do not shut out another's) */
	uint32_t conn_max;		/* connections at most (file descriptors) */
	uint64_t conns_refused;		/* turned away at accept by those limits */
	uint64_t refused_logged_ms;	/* uv_now of the last warning about them */
	size_t queued_total;		/* bytes queued for all peers */
	uint64_t next_conn_id;
	struct conn **conn_slots;	/* open addressing on id */
	uint32_t conn_slots_cap;
	uint64_t *agent_conn;		/* agent id -> connection id (0: none) */
	uint32_t agent_conn_cap;

	uv_tcp_t agent_srv, client_tcp_srv;
	uv_pipe_t client_srv;
	bool agent_srv_open, client_srv_open, client_tcp_open;
	int agent_port, client_port;

	uv_timer_t flush_timer, tick_timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_check_t submit_check;
	struct clients_pending *pending;	/* submissions waiting for their commit */
	bool handles_open;

	uint8_t rbuf[16 * 1024];		/* read buffer shared by all connections */
	uint8_t tbuf[16 * 1024];		/* what TLS decrypts of it */
	/* TCP sessions by how they began, by enum conn_kind: TLS (handshake
	 * done), TLS that failed, and in the clear (older agents and harectl,
	 * served or refused) */
	uint64_t tls_sessions[3], tls_failed[3], plain_sessions[3];
	uint64_t plain_warned_ms;		/* uv_now of the last plaintext client warning */
	uint64_t iter;				/* loop iterations (check callbacks) */
	uint64_t *paused;			/* connections to resume reading */
	uint32_t npaused, paused_cap;
	bool stopping;
	uint64_t submits, frames_in, frames_out;
	/* agent sessions refused: a wrong Auth, a frame whose tag is wrong,
	 * no key for the node (or one that cannot be read) */
	uint64_t agent_refused_key, agent_refused_tag, agent_refused_nokey;
	uint64_t agent_refused_tls;		/* in the clear under tls = required */
	uint64_t key_logged_ms[HARED_KEY_LOG_SLOTS];	/* refusals of nodes' agents, by
							 * name's slot: last logged (uv_now) */
	uint64_t key_warned_ms[HARED_KEY_LOG_SLOTS];	/* warnings on their key files */
	struct logs_req *logs;			/* harectl logs waiting for nodes (logs.h) */
	uint32_t nlogs;
	uint64_t next_log_id;
	uint32_t usage_inflight;		/* harectl usage sums on the thread pool */
	char usage_users[HARED_USAGE_INFLIGHT][64];	/* whose they are ("": a free slot) */
	atomic_bool usage_stop;			/* hared stops: running sums give up */
	double start_time;			/* unix seconds, at hared_start */
	uint32_t metrics_due;			/* ticks until the next metrics write */
	int metrics_error;			/* last metrics write's error (logged once) */
	int lock_fd;				/* state_dir/hared.lock, held (when locked) */
	bool locked;
	const char *config_path;		/* re-read on SIGHUP (NULL: no reload) */
	uint64_t reloads;			/* configurations applied by a reload */
	bool config_error;			/* hared_init failed on what --check-config
						 * checks (exit 2, not 1) */
};

/* Check a configuration without starting anything: profile, key and token
 * files, policy name, state_dir (there, or one hared could create) and
 * client_socket's folder. 0 or a negative code with errbuf set. */
int hared_check(const struct hared_config *cfg, char *errbuf, size_t errlen);

/* Load the profile and secrets, open the store, create the driver and load
 * the jobs that were queued or running. 0 or a negative code (errbuf);
 * config_error says whether the failure was one of hared_check's (a file
 * the configuration names, a bad value) rather than of the moment (the
 * store locked by another hared, no memory). */
int hared_init(struct hared *d, uv_loop_t *loop, const struct hared_config *cfg, char *errbuf,
	       size_t errlen);

/* Listen, start timers and signal handlers, write port_file, notify
 * systemd (READY=1). 0 or a negative code (errbuf). */
int hared_start(struct hared *d, char *errbuf, size_t errlen);

/* Begin an orderly shutdown: stop listening, flush the store, close every
 * connection and handle; uv_run returns once they are closed. */
void hared_stop(struct hared *d);

/* After the loop has drained: close the SIGHUP handler hared_stop left
 * open (a SIGHUP while hared stops is ignored, not fatal), and ignore
 * SIGHUP from then on. */
void hared_signals_close(struct hared *d);

/* Free what hared_init made (after the loop has drained). */
void hared_destroy(struct hared *d);

/* A reload (SIGHUP; systemctl reload): the settings of next that may change
 * while hared runs take effect at once (log_level, retries, quarantine,
 * limits, timers; hared_config_diff), each logged with its old and new
 * value; any other change is logged as waiting for the next start. The
 * number of settings that differ. */
uint32_t hared_reload(struct hared *d, const struct hared_config *next);

/* SIGHUP: read config_path again and hared_reload it; a file that cannot be
 * read or is not valid changes nothing (an error says why). 0, or the
 * load's negative code. */
int hared_reload_file(struct hared *d);

/* Group commit: hand batched writes to the store and commit them. */
void hared_flush(struct hared *d);

#endif
