/* SPDX-License-Identifier: MIT */
/* hared on its loop: the store's group commit and its failures in the log,
 * the once-a-second tick, signals and SIGHUP reloads, the start (listeners,
 * port_file) and the orderly shutdown. */
#include "hared.h"
#include "hared_impl.h"

#include "clients.h"
#include "conn.h"
#include "driver.h"
#include "log.h"
#include "logs.h"
#include "measure.h"
#include "metrics.h"
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define HARED_TICK_MS 1000

/* Store failures in the log: the first of an incident at once, then a
 * summary at most once a minute while it lasts, and a line when writes
 * succeed again (a count-based throttle stayed silent for the next
 * incidents). */
#define HARED_STORE_LOG_MS 60000

static void hared_store_log(struct hared *d, int rc)
{
	struct hared_store_log *g = &d->store_log;
	int last;
	uint64_t lost = store_write_failures(d->store, &last), now = uv_now(d->loop);
	uint64_t n = (rc < 0) + (lost >= g->lost_seen ? lost - g->lost_seen : lost);

	g->lost_seen = lost;
	if (n == 0) {
		if (g->failing && rc == 0) {
			log_info("store: writes succeed again (%" PRIu64 " failed in all)", g->total);
			g->failing = false;
		}
		return;
	}
	if (!g->failing)
		g->total = g->pending = 0;
	g->total += n;
	g->pending += n;
	if (g->failing && now - g->logged_ms < HARED_STORE_LOG_MS)
		return;
	log_error("store: %" PRIu64 " write(s) failed%s: %s; job ends are kept and written again, "
		  "other changes of the failed writes are lost", g->pending,
		  g->failing ? " in the last minute" : "", store_err_str(rc < 0 ? rc : last));
	g->failing = true;
	g->pending = 0;
	g->logged_ms = now;
}

void hared_flush(struct hared *d)
{
	if (!d->drv || !d->store)
		return;
	driver_store_sync(d->drv);
	hared_store_log(d, store_flush(d->store));
}

/* Group commit: state changes, events and submissions' neighbours reach the
 * disk within flush_ms. */
static void hared_on_flush(uv_timer_t *t)
{
	struct hared *d = t->data;

	hared_store_log(d, store_flush(d->store));
}

/* Once a second: progress and learned speeds to the store (they change with
 * every round report, so they are written at this slower pace), and
 * silent peers dropped. */
/* metrics_file, logging a failure once until a write succeeds again. */
static void hared_metrics(struct hared *d, int up)
{
	char err[HARED_PATH_LEN + 96];
	int rc = metrics_write(d, up, err, sizeof(err));

	if (rc < 0 && rc != d->metrics_error)
		log_warn("metrics: %s (tried again every %u s)", err, d->cfg.metrics_interval_s);
	else if (rc == 0 && d->metrics_error < 0)
		log_info("metrics: %s written again", d->cfg.metrics_file);
	d->metrics_error = rc;
}

static double hared_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hared_on_tick(uv_timer_t *t)
{
	struct hared *d = t->data;

	driver_store_sync(d->drv);
	driver_stall_check(d->drv, driver_now());
	conn_expire(d);
	logs_expire(d);
	if (d->metrics_due > 0 && --d->metrics_due == 0) {
		hared_metrics(d, 1);
		d->metrics_due = d->cfg.metrics_interval_s;
	}
}

static void hared_on_check(uv_check_t *h)
{
	struct hared *d = h->data;

	if (d->stopping)
		return;
	clients_commit(d);
	driver_ends_commit(d->drv);
	conn_resume_paused(d);
}

static void hared_on_signal(uv_signal_t *s, int signum)
{
	struct hared *d = s->data;

	log_info("signal %d: shutting down", signum);
	hared_stop(d);
}

struct hared_reload_count {
	uint32_t now, later;
};

static void hared_reload_key(void *user, const char *key, const char *from, const char *to,
			     bool live)
{
	struct hared_reload_count *n = user;

	if (live) {
		n->now++;
		log_info("reload: %s %s -> %s", key, from, to);
	} else {
		n->later++;
		log_warn("reload: %s %s -> %s takes effect when hared restarts", key, from, to);
	}
}

/* Add name to a list of at most 16 for a log line ("a, b, ..."); n counts
 * them all. */
static void hared_names_add(char *names, size_t cap, uint32_t *n, const char *name)
{
	size_t used = strlen(names);

	if ((*n)++ < 16)
		snprintf(names + used, cap - used, "%s%s", used ? ", " : "", name);
}

/* agent_keys_dir becomes dir: say which connected nodes came in with keys
 * of their own from the folder before, whose next sessions take their keys
 * from the new one (or the cluster key). */
static void hared_reload_keys_note(struct hared *d, const char *dir)
{
	char names[512] = "";
	uint32_t n = 0;

	for (const struct conn *c = d->conns; c; c = c->next)
		if (c->kind == CONN_AGENT && c->own_key && c->state != CONN_CLOSING)
			hared_names_add(names, sizeof(names), &n, c->node);
	if (n)
		log_warn("reload: %u node%s connected with %s own key%s from %s (%s%s): %s keep%s "
			 "the session, and the next take%s the key from %s%s", n, n == 1 ? "" : "s",
			 n == 1 ? "its" : "their", n == 1 ? "" : "s", d->cfg.agent_keys_dir, names,
			 n > 16 ? ", ..." : "", n == 1 ? "it" : "they", n == 1 ? "s" : "",
			 n == 1 ? "s" : "", dir[0] ? dir : "the cluster key",
			 dir[0] ? " (or the cluster key)" : "");
}

/* next, or a copy of it in *checked keeping the agent_keys_dir in use
 * when the new one would leave a node's key unreadable: a folder that is
 * not there (every node would fall back to the cluster key), or none while
 * hared has no cluster key (cluster_key_file is read at start). */
static const struct hared_config *hared_reload_keys_dir(struct hared *d,
							const struct hared_config *next,
							struct hared_config *checked)
{
	char err[HARED_PATH_LEN + 128];
	const char *why = NULL;

	if (strcmp(next->agent_keys_dir, d->cfg.agent_keys_dir) == 0)
		return next;
	if (!next->agent_keys_dir[0] && d->keylen == 0)
		why = "hared started without a cluster key (cluster_key_file is read at start), "
		      "so no node could come in; restart hared with both changes";
	else if (next->agent_keys_dir[0] &&
		 hared_keys_dir_check(next->agent_keys_dir, err, sizeof(err)) < 0)
		why = err;
	if (!why) {
		hared_reload_keys_note(d, next->agent_keys_dir);
		return next;
	}
	log_error("reload: agent_keys_dir %s kept: %s", d->cfg.agent_keys_dir[0] ?
		  d->cfg.agent_keys_dir : "(none)", why);
	*checked = *next;
	memcpy(checked->agent_keys_dir, d->cfg.agent_keys_dir, sizeof(checked->agent_keys_dir));
	return checked;
}

/* tls became required: the TCP sessions in the clear are closed (their
 * peers are told why, and reconnect to be refused the same way), so that
 * none stays in the clear after the operator asked for none. */
static void hared_reload_tls_required(struct hared *d)
{
	char names[512] = "";
	uint32_t n = 0;

	for (struct conn *c = d->conns; c; c = c->next) {
		if (!c->plain || c->state == CONN_CLOSING)
			continue;
		hared_names_add(names, sizeof(names), &n,
				c->kind == CONN_AGENT && c->node[0] ? c->node : c->peer);
		c->refused = true;	/* said here, once for all */
		conn_fail(c, -EPROTONOSUPPORT, "hared now takes only TLS on this port (tls = "
			  "required in hared.conf): %s", c->kind == CONN_AGENT ? "upgrade this "
			  "hare-agent, or set tls = yes in its configuration" : "upgrade harectl, and "
			  "do not give it --no-tls");
	}
	if (n)
		log_warn("reload: tls = required: closed %u session%s in the clear (%s%s)", n,
			 n == 1 ? "" : "s", names, n > 16 ? ", ..." : "");
}

uint32_t hared_reload(struct hared *d, const struct hared_config *next)
{
	struct hared_reload_count n = { 0, 0 };
	struct hared_config checked;
	uint32_t flush_ms = d->cfg.flush_ms, diff;
	bool required = hared_tls_required(&d->cfg);
	struct driver_opts o;

	if (d->stopping)
		return 0;
	next = hared_reload_keys_dir(d, next, &checked);
	diff = hared_config_diff(&d->cfg, next, hared_reload_key, &n);
	log_level_set(d->cfg.log_level);
	/* d->cfg holds the new live keys; driver_opts_set keeps the others */
	o = hared_driver_opts(&d->cfg);
	driver_opts_set(d->drv, &o);
	if (d->handles_open && flush_ms != d->cfg.flush_ms)
		uv_timer_start(&d->flush_timer, hared_on_flush, d->cfg.flush_ms, d->cfg.flush_ms);
	if (d->metrics_due > d->cfg.metrics_interval_s)	/* a shorter interval: from now */
		d->metrics_due = d->cfg.metrics_interval_s;
	if (!required && hared_tls_required(&d->cfg))
		hared_reload_tls_required(d);
	d->reloads++;
	log_info("reload: %u setting%s changed now, %u at the next start", n.now,
		 n.now == 1 ? "" : "s", n.later);
	return diff;
}

int hared_reload_file(struct hared *d)
{
	struct hared_config next;
	char err[512];
	int rc;

	if (!d->config_path)
		return 0;
	hared_config_defaults(&next);
	rc = hared_config_load(d->config_path, &next, err, sizeof(err));
	if (rc < 0) {
		log_error("reload: %s; the configuration in use is kept", err);
		return rc;
	}
	hared_reload(d, &next);
	/* what waits for a restart: would hared start with it? */
	{
		struct hared_config rest = d->cfg;

		if (hared_config_diff(&rest, &next, NULL, NULL) > 0 &&
		    hared_check(&next, err, sizeof(err)) < 0)
			log_warn("reload: hared would not start again with %s: %s", d->config_path,
				 err);
	}
	return 0;
}

static void hared_on_hup(uv_signal_t *s, int signum)
{
	struct hared *d = s->data;

	(void)signum;
	if (d->stopping) {
		log_info("SIGHUP: ignored, hared is stopping");
		return;
	}
	sd_notify(0, "RELOADING=1");
	log_info("SIGHUP: reading %s again", d->config_path ? d->config_path : "(no file)");
	hared_reload_file(d);
	sd_notify(0, "READY=1");
}

/* "agent_port=N\n[client_port=M\n]", written whole (rename) so a reader
 * never sees half of it. The temporary file is made anew (O_EXCL, a stale
 * one removed first) and never through a link: in a folder others may
 * write in, a link put there would have hared (root) truncate and write the
 * file it points to. */
static int hared_port_file(const struct hared *d, char *errbuf, size_t errlen)
{
	char tmp[HARED_PATH_LEN + 8], text[96];
	int n, fd, rc = 0;

	if (!d->cfg.port_file[0])
		return 0;
	n = snprintf(text, sizeof(text), "agent_port=%d\n", d->agent_port);
	if (d->client_tcp_open)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "client_port=%d\n", d->client_port);
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.port_file);
	if (unlink(tmp) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(errbuf, errlen, "port_file %s: cannot remove the old %s: %s",
			 d->cfg.port_file, tmp, strerror(-rc));
		return rc;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		snprintf(errbuf, errlen, "port_file %s: %s appeared again after hared removed it "
			 "(is another hared writing the same port_file?)", d->cfg.port_file, tmp);
		return -EEXIST;
	}
	if (fd < 0 || write(fd, text, (size_t)n) != n)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, d->cfg.port_file) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(errbuf, errlen, "port_file %s: %s", d->cfg.port_file, strerror(-rc));
		if (fd >= 0)
			unlink(tmp);	/* ours: made just now */
	}
	return rc;
}

static void hared_handles_start(struct hared *d)
{
	uv_timer_init(d->loop, &d->flush_timer);
	uv_timer_init(d->loop, &d->tick_timer);
	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_hup);
	uv_check_init(d->loop, &d->submit_check);
	d->flush_timer.data = d->tick_timer.data = d->sig_term.data = d->sig_int.data = d;
	d->sig_hup.data = d;
	d->submit_check.data = d;
	d->handles_open = true;
	uv_timer_start(&d->flush_timer, hared_on_flush, d->cfg.flush_ms, d->cfg.flush_ms);
	uv_timer_start(&d->tick_timer, hared_on_tick, HARED_TICK_MS, HARED_TICK_MS);
	uv_signal_start(&d->sig_term, hared_on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, hared_on_signal, SIGINT);
	uv_signal_start(&d->sig_hup, hared_on_hup, SIGHUP);
	uv_check_start(&d->submit_check, hared_on_check);
}

int hared_start(struct hared *d, char *errbuf, size_t errlen)
{
	int rc;

	hared_handles_start(d);
	rc = conn_listen(d, errbuf, errlen);
	if (rc == 0)
		rc = hared_port_file(d, errbuf, errlen);
	if (rc < 0)
		return rc;
	driver_start(d->drv);
	d->start_time = hared_wall_now();
	if (d->cfg.metrics_file[0]) {
		hared_metrics(d, 1);
		d->metrics_due = d->cfg.metrics_interval_s;
	}
	sd_notify(0, "READY=1");
	if (d->client_tcp_open)
		log_info("hared ready agent_listen=%s agent_port=%d client_socket=%s client_listen=%s "
			 "client_port=%d tls=%s policy=%s time_scale=%g", d->cfg.agent_listen,
			 d->agent_port, d->cfg.client_socket, d->cfg.client_listen, d->client_port,
			 d->cfg.tls, d->cfg.policy, d->cfg.time_scale);
	else
		log_info("hared ready agent_listen=%s agent_port=%d client_socket=%s tls=%s policy=%s "
			 "time_scale=%g", d->cfg.agent_listen, d->agent_port, d->cfg.client_socket,
			 d->cfg.tls, d->cfg.policy, d->cfg.time_scale);
	return 0;
}

static void hared_handle_close(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void hared_stop(struct hared *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	atomic_store(&d->usage_stop, true);	/* harectl usage sums give up */
	sd_notify(0, "STOPPING=1");
	conn_listen_stop(d);
	if (d->drv) {
		driver_usage_sync(d->drv);	/* running leases' GPU time until now */
		driver_nodes_sync(d->drv);	/* nodes up were seen until now */
	}
	hared_flush(d);
	if (d->start_time > 0)
		hared_metrics(d, 0);	/* hare_up 0: stopped, not lost */
	conn_close_all(d);
	driver_close(d->drv);
	if (d->handles_open) {
		hared_handle_close((uv_handle_t *)&d->flush_timer);
		hared_handle_close((uv_handle_t *)&d->tick_timer);
		hared_handle_close((uv_handle_t *)&d->sig_term);
		hared_handle_close((uv_handle_t *)&d->sig_int);
		hared_handle_close((uv_handle_t *)&d->submit_check);
		/* closing it would give SIGHUP back its default, ending hared
		 * while it drains: hared_signals_close, after the loop */
		uv_unref((uv_handle_t *)&d->sig_hup);
	}
}

void hared_signals_close(struct hared *d)
{
	if (d->handles_open && !uv_is_closing((uv_handle_t *)&d->sig_hup)) {
		uv_close((uv_handle_t *)&d->sig_hup, NULL);
		uv_run(d->loop, UV_RUN_DEFAULT);
	}
	signal(SIGHUP, SIG_IGN);
}

void hared_destroy(struct hared *d)
{
	hared_flush(d);
	measure_free(d->measure);
	logs_free_all(d);
	driver_free(d->drv);
	store_close(d->store);
	profile_free(d->prof);
	clients_pending_free(d);
	free(d->conn_slots);
	free(d->agent_conn);
	free(d->paused);
	memset(d->key, 0, sizeof(d->key));
	memset(d->token, 0, sizeof(d->token));
	hared_users_free(d);
	if (d->locked)
		close(d->lock_fd);	/* after the store's last commit */
	d->locked = false;
	d->measure = NULL;
	d->drv = NULL;
	d->store = NULL;
	d->prof = NULL;
}
