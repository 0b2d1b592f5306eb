/* SPDX-License-Identifier: MIT */
/* hared's start-up: check and load the configuration's files (profile, keys,
 * tokens, state_dir and its lock), open the store and reload queued and
 * running jobs. hared_loop.c runs the daemon once it is up. */
#include "hared.h"
#include "hared_impl.h"

#include "clients.h"
#include "conn.h"
#include "driver.h"
#include "err.h"
#include "fileio.h"
#include "log.h"
#include "measure.h"
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hared_users_free(struct hared *d)
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

int hared_keys_dir_check(const char *dir, char *errbuf, size_t errlen)
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
struct driver_opts hared_driver_opts(const struct hared_config *cfg)
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
