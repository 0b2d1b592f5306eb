/* SPDX-License-Identifier: MIT */
/* hared's life cycle: check and load the configuration's files, open the
 * store, reload queued and running jobs, listen, group-commit on a timer,
 * and shut down in order on SIGTERM/SIGINT. */
#include "hared.h"

#include "clients.h"
#include "conn.h"
#include "driver.h"
#include "err.h"
#include "fileio.h"
#include "log.h"
#include "logs.h"
#include "measure.h"
#include "metrics.h"
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define HARED_TICK_MS 1000

static void hared_users_free(struct hared *d)
{
	if (d->users)
		memset(d->users, 0, d->nusers * sizeof(*d->users));	/* the tokens */
	free(d->users);
	free(d->user_tls_ids);
	d->users = NULL;
	d->user_tls_ids = NULL;
	d->nusers = 0;
}

/* The TLS identities remote clients' tokens go by (tls_token_identity). */
static int hared_token_ids(struct hared *d, char *errbuf, size_t errlen)
{
	int rc = d->tokenlen ? tls_token_identity(d->token, d->tokenlen, d->token_tls_id) : 0;

	if (rc == 0 && d->nusers) {
		d->user_tls_ids = calloc(d->nusers, sizeof(*d->user_tls_ids));
		if (!d->user_tls_ids)
			rc = -ENOMEM;
	}
	for (uint32_t i = 0; rc == 0 && i < d->nusers; i++)
		rc = tls_token_identity(d->users[i].token, d->users[i].len, d->user_tls_ids[i]);
	if (rc < 0)
		snprintf(errbuf, errlen, "cannot name the client tokens for TLS: %s", strerror(-rc));
	return rc;
}

/* agent_keys_dir: a folder hared can read, which only its owner may add
 * keys to (a warning otherwise). */
/* Whether dir holds a NODE.key (any name ending so). */
static bool hared_keys_dir_has_key(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	bool any = false;

	while (dh && !any && (e = readdir(dh))) {
		size_t n = strlen(e->d_name);

		any = n > 4 && strcmp(e->d_name + n - 4, ".key") == 0;
	}
	if (dh)
		closedir(dh);
	return any;
}

static int hared_keys_dir_check(const char *dir, char *errbuf, size_t errlen)
{
	struct stat st;
	int rc = 0;

	if (stat(dir, &st) < 0)
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	else if (access(dir, R_OK | X_OK) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(errbuf, errlen, "agent_keys_dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (st.st_mode & 022)
		log_warn("agent_keys_dir %s is writable by group or others: whoever can write "
			 "there can add a node; chmod go-w it", dir);
	return 0;
}

static int hared_secrets_load(struct hared *d, const struct hared_config *cfg, char *errbuf,
			      size_t errlen)
{
	/* none: only nodes with a key of their own in agent_keys_dir */
	int rc = cfg->cluster_key_file[0] ? auth_secret_load(cfg->cluster_key_file, d->key,
							     sizeof(d->key), &d->keylen, errbuf,
							     errlen) : 0;

	bool token = cfg->client_listen[0] && cfg->client_token_file[0];
	bool users = cfg->client_listen[0] && cfg->client_users_file[0];

	if (rc == 0 && token)
		rc = auth_secret_load(cfg->client_token_file, d->token, sizeof(d->token),
				      &d->tokenlen, errbuf, errlen);
	if (rc == 0 && token)
		rc = auth_token_check(cfg->client_token_file, d->token, d->tokenlen, errbuf, errlen);
	if (rc == 0 && users)
		rc = auth_users_load(cfg->client_users_file, &d->users, &d->nusers, errbuf, errlen);
	if (rc == 0)
		rc = hared_token_ids(d, errbuf, errlen);
	if (rc == 0 && cfg->agent_keys_dir[0])
		rc = hared_keys_dir_check(cfg->agent_keys_dir, errbuf, errlen);
	if (rc == 0 && cfg->agent_keys_dir[0] && !cfg->cluster_key_file[0] &&
	    !hared_keys_dir_has_key(cfg->agent_keys_dir))
		log_warn("agent_keys_dir %s holds no NODE.key and there is no cluster_key_file: no "
			 "node can come in until a key is put there", cfg->agent_keys_dir);
	if (rc == 0) {
		/* as hare-agent says of its key: a secret others can read is none */
		const char *files[3] = { cfg->cluster_key_file, token ? cfg->client_token_file : NULL,
					 users ? cfg->client_users_file : NULL };
		struct stat st;

		for (int i = 0; i < 3; i++)
			if (files[i] && stat(files[i], &st) == 0 && (st.st_mode & 077))
				log_warn("%s is readable by group or others; chmod 600 it", files[i]);
	}
	return rc;
}

/* An existing state_dir: a folder hared may write in. */
static int hared_state_dir_usable(const char *dir, const struct stat *st, char *errbuf,
				  size_t errlen)
{
	if (!S_ISDIR(st->st_mode)) {
		snprintf(errbuf, errlen, "state_dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(errbuf, errlen, "state_dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The length of path[0..len)'s parent ("/" for "/a"), 0 when it is the
 * working directory ("a"). */
static size_t hared_path_parent(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	while (len > 1 && path[len - 1] == '/')
		len--;
	return len;
}

/* A missing state_dir is made with the folders above it that are missing
 * (mkdir -p: 0750 for state_dir, 0755 above it), in the nearest folder
 * that exists, which must be one hared may write in. Without create, the
 * first missing folder is made and removed at once, so that the check
 * answers as the start would: access() says yes to root on /proc, where
 * mkdir fails. The messages are the same either way. */
static int hared_state_dir(const char *dir, bool create, char *errbuf, size_t errlen)
{
	char path[HARED_PATH_LEN], parent[HARED_PATH_LEN];
	size_t n = strlen(dir), top, up;
	struct stat st;
	int e;

	if (stat(dir, &st) == 0)
		return hared_state_dir_usable(dir, &st, errbuf, errlen);
	if (errno != ENOENT || n >= sizeof(path)) {
		e = n >= sizeof(path) ? ENAMETOOLONG : errno;
		snprintf(errbuf, errlen, "state_dir %s: %s", dir, strerror(e));
		return -e;
	}
	memcpy(path, dir, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	/* path[0..top) is the first missing folder, parent the one above it */
	for (top = n;; top = up) {
		up = hared_path_parent(path, top);
		snprintf(parent, sizeof(parent), "%.*s", up ? (int)up : 1, up ? path : ".");
		if (stat(parent, &st) == 0)
			break;
		if (errno != ENOENT || up == 0) {
			e = errno;
			snprintf(errbuf, errlen, "state_dir %s: %s: %s", dir, parent, strerror(e));
			return -e;
		}
	}
	if (!S_ISDIR(st.st_mode) || access(parent, W_OK | X_OK) < 0) {
		e = S_ISDIR(st.st_mode) ? errno : ENOTDIR;
		snprintf(errbuf, errlen, "state_dir %s: cannot create it in %s: %s", dir, parent,
			 strerror(e));
		return -e;
	}
	for (size_t end = top; end <= n; end++) {
		if (end < n && path[end] != '/')
			continue;
		if (end > top && path[end - 1] == '/')
			continue;	/* "a//b" */
		path[end] = '\0';
		if (mkdir(path, end == n ? 0750 : 0755) == 0) {
			if (!create) {
				rmdir(path);
				return 0;
			}
		} else if (errno != EEXIST) {
			e = errno;
			snprintf(errbuf, errlen, "state_dir %s: cannot create %s: %s", dir, path,
				 e == ENOENT ? "its file system takes no new folders" : strerror(e));
			return -e;
		} else if (!create) {
			return 0;	/* made meanwhile, not by this check */
		}
		if (end < n)
			path[end] = '/';
	}
	if (stat(dir, &st) < 0) {
		e = errno;
		snprintf(errbuf, errlen, "state_dir %s: %s", dir, strerror(e));
		return -e;
	}
	return hared_state_dir_usable(dir, &st, errbuf, errlen);
}

/* One hared per state_dir: a second one would requeue the first one's
 * running jobs as "not running on any agent" and write over its state. The
 * lock (flock, released by the kernel when hared ends, however it ends)
 * holds its pid for the message. */
static int hared_lock(struct hared *d, const char *dir, char *errbuf, size_t errlen)
{
	char path[HARED_PATH_LEN + 16], pid[32];
	int rc;

	snprintf(path, sizeof(path), "%s/hared.lock", dir);
	rc = file_lock_pid(path, &d->lock_fd, pid, sizeof(pid));
	if (rc == -EBUSY)
		snprintf(errbuf, errlen, "state_dir %s is in use by another hared%s%s%s: stop it first, "
			 "or give this one a state_dir of its own", dir, pid[0] ? " (pid " : "", pid,
			 pid[0] ? ")" : "");
	else if (rc < 0)
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
	else if (rc > 0)
		log_warn("%s: cannot write the pid: %s", path, strerror(errno));
	if (rc < 0)
		return rc;
	d->locked = true;
	return 0;
}

/* The shipped profile and the GPU types measured on this cluster. */
static int hared_profile_load(const struct hared_config *cfg, struct profile **out, char *errbuf,
			      size_t errlen)
{
	char path[HARED_PATH_LEN + 32];
	uint32_t measured = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, MEASURE_FILE);
	rc = profile_load_measured(cfg->profiles, path, out, errbuf, errlen);
	if (rc < 0) {
		if (strstr(errbuf, MEASURE_FILE))
			snprintf(errbuf + strlen(errbuf), errlen - strlen(errbuf),
				 " (GPU types measured on this cluster: fix or remove the file)");
		else if (strncmp(errbuf, cfg->profiles, strlen(cfg->profiles)) == 0)
			snprintf(errbuf + strlen(errbuf), errlen - strlen(errbuf),
				 " (the profiles key: the throughput profiles' folder)");
		return rc;
	}
	for (uint32_t t = 0; t < profile_gpu_type_count(*out); t++)
		measured += profile_gpu_type_measured(*out, t);
	if (measured)
		log_info("profile: %u GPU type(s) measured on this cluster, from %s", measured, path);
	if (profile_measured_skipped(*out))
		log_warn("profile: %u rows of %s skipped: %s has their GPU types now",
			 profile_measured_skipped(*out), path, cfg->profiles);
	return 0;
}

/* What --check-config checks, in d (d->cfg set): the profile (d->prof), the
 * key and token files, measure_models (d->measure), the policy name,
 * state_dir (made when create) and client_socket's folder. The check and
 * the start run the same steps, so they refuse with the same message. */
static int hared_config_steps(struct hared *d, bool create, char *errbuf, size_t errlen)
{
	const struct hared_config *cfg = &d->cfg;
	struct sched_policy *pol = NULL;
	int rc = hared_profile_load(cfg, &d->prof, errbuf, errlen);

	if (rc == 0)
		rc = hared_secrets_load(d, cfg, errbuf, errlen);
	if (rc == 0)
		rc = measure_new(d, &d->measure, errbuf, errlen);
	if (rc == 0) {
		rc = sched_policy_new(cfg->policy, NULL, &pol);
		if (rc < 0)
			snprintf(errbuf, errlen, "policy: %s '%s'", err_str(rc), cfg->policy);
		sched_policy_free(pol);
	}
	if (rc == 0)
		rc = hared_state_dir(cfg->state_dir, create, errbuf, errlen);
	if (rc == 0)
		rc = conn_unix_path_check(cfg->client_socket, errbuf, errlen);
	if (rc == -ENOMEM && !errbuf[0])
		snprintf(errbuf, errlen, "out of memory");
	return rc;
}

int hared_check(const struct hared_config *cfg, char *errbuf, size_t errlen)
{
	struct hared *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	rc = hared_config_steps(d, false, errbuf, errlen);
	measure_free(d->measure);
	profile_free(d->prof);
	memset(d->key, 0, sizeof(d->key));
	memset(d->token, 0, sizeof(d->token));
	hared_users_free(d);
	free(d);
	return rc;
}

static int hared_job_loaded(void *user, const struct store_job *job)
{
	struct hared *d = user;

	return driver_job_load(d->drv, job);
}

_Static_assert(HARED_HEALTH_FAILS_MAX <= DRIVER_HEALTH_FAILS, "a node keeps fewer health failures "
	       "than quarantine_health_fails may ask for");

/* The driver's options from the configuration (at start, and at a reload). */
static struct driver_opts hared_driver_opts(const struct hared_config *cfg)
{
	struct driver_opts o = {
		.policy = cfg->policy,
		.time_scale = cfg->time_scale,
		.noise_cv = cfg->noise_cv,
		.replan_debounce_ms = cfg->replan_debounce_ms,
		.reconnect_grace_s = cfg->reconnect_grace_s,
		.min_lease_s = cfg->min_lease_s,
		.type_slack = cfg->type_slack,
		.stop_grace_s = cfg->stop_grace_s,
		.max_retries = cfg->max_retries,
		.finish_grace_s = cfg->finish_grace_s,
		.failed_node_avoid_s = cfg->failed_node_avoid_s,
		.retry_backoff_s = cfg->retry_backoff_s,
		.stall_timeout_s = cfg->stall_timeout_s,
		.quarantine_jobs = cfg->quarantine_jobs,
		.quarantine_users = cfg->quarantine_users,
		.quarantine_max_nodes = cfg->quarantine_max_nodes,
		.quarantine_health_fails = cfg->quarantine_health_fails,
		.max_user_weight = cfg->max_user_weight,
		.remote_owner = CONN_REMOTE_USER,
	};

	snprintf(o.remote_user, sizeof(o.remote_user), "%s", cfg->remote_user);
	return o;
}

static int hared_driver_open(struct hared *d, char *errbuf, size_t errlen)
{
	struct driver_opts o = hared_driver_opts(&d->cfg);
	int rc = driver_new(d->loop, &o, d->prof, d->store, conn_agent_send, d, &d->drv, errbuf,
			    errlen);

	if (rc < 0)
		return rc;
	rc = store_jobs_load(d->store, false, hared_job_loaded, d);
	if (rc < 0)
		snprintf(errbuf, errlen, "cannot load jobs from the store: %s", err_str(rc));
	else
		log_info("loaded %u queued or running jobs from %s/hare.db",
			 driver_job_count(d->drv), d->cfg.state_dir);
	if (rc >= 0)
		driver_failures_load(d->drv);
	return rc;
}

int hared_init(struct hared *d, uv_loop_t *loop, const struct hared_config *cfg, char *errbuf,
	       size_t errlen)
{
	char path[HARED_PATH_LEN + 16];
	int rc;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->cfg = *cfg;
	log_level_set(cfg->log_level);
	if (clients_pending_init(d) < 0)
		return -ENOMEM;
	rc = hared_config_steps(d, true, errbuf, errlen);
	if (rc < 0) {
		d->config_error = rc != -ENOMEM;
		return rc;
	}
	rc = hared_lock(d, cfg->state_dir, errbuf, errlen);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/hare.db", cfg->state_dir);
	rc = store_open(path, &d->store, errbuf, errlen);
	if (rc < 0)
		return rc;
	return hared_driver_open(d, errbuf, errlen);
}

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
