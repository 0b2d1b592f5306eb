/* SPDX-License-Identifier: MIT */
/* hared's [daemon] configuration: a key table with parsers, defaults, and the
 * cross-key checks; host:port parsing for the listeners. An [agent] section
 * is hare-agent's (one file may serve both): skipped, its keys unchecked. */
#include "hared_config.h"

#include "config.h"
#include "err.h"
#include "fileio.h"
#include "sched.h"
#include "text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef HARE_PROFILES_INSTALLED
#define HARE_PROFILES_INSTALLED "/usr/local/share/hare/profiles"
#endif

enum cfg_kind { CFG_STR, CFG_U32, CFG_DOUBLE, CFG_MODE, CFG_LEVEL, CFG_BOOL };

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	size_t size;		/* CFG_STR: buffer size */
	double min, max;	/* numbers: accepted range */
	bool live;		/* a reload (SIGHUP) applies it at once */
};

#define CFG_S(f) CFG_STR, offsetof(struct hared_config, f), sizeof(((struct hared_config *)0)->f)
#define CFG_N(k, f) k, offsetof(struct hared_config, f), 0

static const struct cfg_key cfg_keys[] = {
	{ "agent_listen", CFG_S(agent_listen), 0, 0, false },
	{ "client_socket", CFG_S(client_socket), 0, 0, false },
	{ "client_socket_mode", CFG_N(CFG_MODE, client_socket_mode), 0, 0777, false },
	{ "client_listen", CFG_S(client_listen), 0, 0, false },
	{ "client_token_file", CFG_S(client_token_file), 0, 0, false },
	{ "client_users_file", CFG_S(client_users_file), 0, 0, false },
	{ "state_dir", CFG_S(state_dir), 0, 0, false },
	{ "cluster_key_file", CFG_S(cluster_key_file), 0, 0, false },
	{ "agent_keys_dir", CFG_S(agent_keys_dir), 0, 0, true },
	{ "tls", CFG_S(tls), 0, 0, true },
	{ "profiles", CFG_S(profiles), 0, 0, false },
	{ "policy", CFG_S(policy), 0, 0, false },
	{ "time_scale", CFG_N(CFG_DOUBLE, time_scale), 1e-3, 1e6, false },
	{ "noise_cv", CFG_N(CFG_DOUBLE, noise_cv), 0, 1, true },
	{ "replan_debounce_ms", CFG_N(CFG_U32, replan_debounce_ms), 0, 60000, true },
	{ "reconnect_grace_s", CFG_N(CFG_DOUBLE, reconnect_grace_s), 0, 3600, true },
	{ "min_lease_s", CFG_N(CFG_DOUBLE, min_lease_s), 0, 1e7, false },
	{ "type_slack", CFG_N(CFG_DOUBLE, type_slack), 0, 10, false },
	{ "heartbeat_timeout_s", CFG_N(CFG_DOUBLE, heartbeat_timeout_s), 1, 3600, true },
	{ "stop_grace_s", CFG_N(CFG_DOUBLE, stop_grace_s), 0, 3600, true },
	{ "max_frame", CFG_N(CFG_U32, max_frame), 1024, 64u * 1024 * 1024, true },
	{ "max_queued_mib", CFG_N(CFG_U32, max_queued_mib), 16, 65536, true },
	{ "flush_ms", CFG_N(CFG_U32, flush_ms), 1, 10000, true },
	{ "max_retries", CFG_N(CFG_U32, max_retries), 0, 1000, true },
	{ "finish_grace_s", CFG_N(CFG_DOUBLE, finish_grace_s), 0, 86400, true },
	{ "failed_node_avoid_s", CFG_N(CFG_DOUBLE, failed_node_avoid_s), 0, 30 * 86400, true },
	{ "retry_backoff_s", CFG_N(CFG_DOUBLE, retry_backoff_s), 0, 600, true },
	{ "stall_timeout_s", CFG_N(CFG_DOUBLE, stall_timeout_s), 0, 86400, true },
	{ "quarantine_jobs", CFG_N(CFG_U32, quarantine_jobs), 0, 64, true },
	{ "quarantine_users", CFG_N(CFG_U32, quarantine_users), 1, 64, true },
	{ "quarantine_max_nodes", CFG_N(CFG_U32, quarantine_max_nodes), 1, 100000, true },
	{ "quarantine_health_fails", CFG_N(CFG_U32, quarantine_health_fails), 0,
	  HARED_HEALTH_FAILS_MAX, true },
	{ "max_user_jobs", CFG_N(CFG_U32, max_user_jobs), 0, 1000000, true },
	{ "max_user_weight", CFG_N(CFG_DOUBLE, max_user_weight), 0, 1e6, true },	/* CLIENTS_MAX_WEIGHT */
	{ "remote_user", CFG_S(remote_user), 0, 0, true },
	{ "private_data", CFG_S(private_data), 0, 0, true },
	{ "measure_gpus", CFG_N(CFG_BOOL, measure_gpus), 0, 0, false },
	{ "measure_models", CFG_S(measure_models), 0, 0, false },
	{ "port_file", CFG_S(port_file), 0, 0, false },
	{ "metrics_file", CFG_S(metrics_file), 0, 0, false },
	{ "metrics_interval_s", CFG_N(CFG_U32, metrics_interval_s), 1, 3600, true },
	{ "log_level", CFG_LEVEL, offsetof(struct hared_config, log_level),
	  sizeof(((struct hared_config *)0)->log_level), 0, 0, true },
};

/* The default profiles: where make install put them under the configured
 * prefix, or, when that holds none, share/hare/profiles beside the bin/
 * this hared runs from (an install moved by cmake --install --prefix). */
static void hared_default_profiles(char *out, size_t len)
{
	snprintf(out, len, "%s", HARE_PROFILES_INSTALLED);
	if (access(HARE_PROFILES_INSTALLED "/models.csv", R_OK) < 0)
		file_beside_exe("../share/hare/profiles", "models.csv", out, len);
}

void hared_config_defaults(struct hared_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->agent_listen, sizeof(c->agent_listen), "0.0.0.0:7070");
	snprintf(c->client_socket, sizeof(c->client_socket), "/run/hare/hared.sock");
	c->client_socket_mode = 0666;
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/hare");
	snprintf(c->cluster_key_file, sizeof(c->cluster_key_file), "/etc/hare/cluster.key");
	hared_default_profiles(c->profiles, sizeof(c->profiles));
	snprintf(c->policy, sizeof(c->policy), "hare");
	c->time_scale = 1;
	c->noise_cv = 0;
	c->replan_debounce_ms = 50;
	c->reconnect_grace_s = 10;
	c->min_lease_s = SCHED_MIN_LEASE_S;
	c->type_slack = SCHED_TYPE_SLACK;
	c->heartbeat_timeout_s = 15;
	c->stop_grace_s = 5;
	c->max_frame = 4u * 1024 * 1024;
	c->max_queued_mib = 512;
	c->flush_ms = 10;
	c->max_retries = 3;
	c->finish_grace_s = 60;
	c->failed_node_avoid_s = 3600;
	c->quarantine_jobs = 0;
	c->quarantine_users = 2;
	c->quarantine_max_nodes = 1;
	c->quarantine_health_fails = 3;
	c->metrics_interval_s = 15;
	c->retry_backoff_s = 10;
	c->stall_timeout_s = 1800;
	c->measure_gpus = true;
	snprintf(c->remote_user, sizeof(c->remote_user), "nobody");
	snprintf(c->tls, sizeof(c->tls), "optional");
	snprintf(c->log_level, sizeof(c->log_level), "info");
}

static int cfg_set_str(const struct cfg_key *k, char *dst, const char *value, char *err,
		       size_t errlen)
{
	size_t len = strlen(value);

	if (len >= k->size) {
		snprintf(err, errlen, "%s: longer than %zu characters", k->name, k->size - 1);
		return ERR_BAD_CONFIG;
	}
	memcpy(dst, value, len + 1);
	return 0;
}

static int cfg_set_mode(const struct cfg_key *k, uint32_t *dst, const char *value, char *err,
			size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 8);
	if (errno || end == value || *end != '\0' || v > 0777) {
		snprintf(err, errlen, "%s: expected octal permission bits like 0660, got '%s'",
			 k->name, value);
		return ERR_BAD_CONFIG;
	}
	*dst = (uint32_t)v;
	return 0;
}

static int cfg_set_level(const struct cfg_key *k, char *dst, const char *value, char *err,
			 size_t errlen)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(value, levels[i]) == 0) {
			snprintf(dst, 16, "%s", levels[i]);
			return 0;
		}
	}
	snprintf(err, errlen, "%s: expected error, warn, info or debug, got '%s'", k->name, value);
	return ERR_BAD_CONFIG;
}

/* Apply one key's value; the reason names the key. */
static int cfg_key_set(const struct cfg_key *k, struct hared_config *c, const char *value,
		       char *err, size_t errlen)
{
	char *field = (char *)c + k->off;
	char why[192] = "";
	int rc = 0;

	switch (k->kind) {
	case CFG_STR:
		rc = cfg_set_str(k, field, value, err, errlen);
		/* the listeners' addresses are checked here, where the line is known */
		if (rc == 0 && value[0] && (strcmp(k->name, "agent_listen") == 0 ||
					    strcmp(k->name, "client_listen") == 0)) {
			struct sockaddr_storage ss;

			rc = hared_addr_parse(value, &ss, why, sizeof(why));
			if (rc < 0)
				snprintf(err, errlen, "%s: %s", k->name, why);
		}
		/* an account name as useradd takes it: the agents look it up */
		if (rc == 0 && strcmp(k->name, "remote_user") == 0 &&
		    (!value[0] || value[0] == '-' || strspn(value, "abcdefghijklmnopqrstuvwxyz"
						    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(value))) {
			snprintf(err, errlen, "%s: expected an account name (letters, digits, '.', '_', "
				 "'-'), got '%.40s'", k->name, value);
			rc = ERR_BAD_CONFIG;
		}
		if (rc == 0 && strcmp(k->name, "tls") == 0 && strcmp(value, "optional") != 0 &&
		    strcmp(value, "required") != 0) {
			snprintf(err, errlen, "expected optional (TLS, and older peers in the clear) or "
				 "required (TLS only), got '%.40s'", value);
			rc = ERR_BAD_CONFIG;
		}
		/* whoever holds the shared token would run programs as root */
		if (rc == 0 && strcmp(k->name, "remote_user") == 0 &&
		    (strcmp(value, "root") == 0 || strcmp(value, "uid0") == 0)) {
			snprintf(err, errlen, "%s: remote clients' jobs may not run as root", k->name);
			rc = ERR_BAD_CONFIG;
		}
		return rc;
	case CFG_MODE:
		return cfg_set_mode(k, (uint32_t *)field, value, err, errlen);
	case CFG_LEVEL:
		return cfg_set_level(k, field, value, err, errlen);
	case CFG_U32:
		rc = config_parse_u32(value, (uint32_t)k->min, (uint32_t)k->max, (uint32_t *)field,
				      why, sizeof(why));
		break;
	case CFG_DOUBLE:
		rc = config_parse_double(value, k->min, k->max, (double *)field, why, sizeof(why));
		break;
	case CFG_BOOL:
		rc = config_parse_bool(value, (bool *)field, why, sizeof(why));
		break;
	}
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", k->name, why);
	return rc;
}

/* One of the scheduling policies (sched_policy_names), named in the error. */
static int cfg_set_policy(struct hared_config *c, const char *value, char *err, size_t errlen)
{
	const char *const *names = sched_policy_names();
	size_t n = 0;

	for (size_t i = 0; names[i]; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			snprintf(c->policy, sizeof(c->policy), "%s", names[i]);
			return 0;
		}
	}
	n = (size_t)snprintf(err, errlen, "policy: unknown scheduling policy '%.64s' (known:", value);
	for (size_t i = 0; names[i] && n < errlen; i++)
		n += (size_t)snprintf(err + n, errlen - n, "%s %s", i ? "," : "", names[i]);
	if (n < errlen)
		snprintf(err + n, errlen - n, ")");
	return ERR_BAD_CONFIG;
}

/* The key of [daemon] nearest to an unknown one (a typo), or NULL. */
static const char *cfg_key_near(const char *key)
{
	const char *best = NULL;
	size_t best_d = 3;

	if (strlen(key) < 3)
		return NULL;
	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		size_t d = text_distance(key, cfg_keys[i].name);

		if (d < best_d) {
			best = cfg_keys[i].name;
			best_d = d;
		}
	}
	return best;
}

static int cfg_on_entry(void *user, const char *section, const char *key, const char *value,
			char *err, size_t errlen)
{
	struct hared_config *c = user;
	const char *near;

	if (strcmp(section, "agent") == 0)
		return 0;
	if (section[0] == '\0') {
		snprintf(err, errlen, "key '%s' outside a section (expected [daemon])", key);
		return ERR_BAD_CONFIG;
	}
	if (strcmp(section, "daemon") != 0) {
		snprintf(err, errlen, "unknown section [%s] (hared reads [daemon] and skips [agent])",
			 section);
		return ERR_BAD_CONFIG;
	}
	if (strcmp(key, "policy") == 0)
		return cfg_set_policy(c, value, err, errlen);
	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (strcmp(key, cfg_keys[i].name) == 0)
			return cfg_key_set(&cfg_keys[i], c, value, err, errlen);
	near = cfg_key_near(key);
	if (near)
		snprintf(err, errlen, "unknown key '%s' in [daemon] (did you mean %s?)", key, near);
	else
		snprintf(err, errlen, "unknown key '%s' in [daemon]", key);
	return ERR_BAD_CONFIG;
}

static int hared_private_check(const char *v, char *why, size_t len);

int hared_config_check(const char *name, const struct hared_config *c, char *errbuf,
		       size_t errlen)
{
	struct sockaddr_storage ss;
	char why[160];

	if (!c->agent_listen[0] || hared_addr_parse(c->agent_listen, &ss, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "%s: agent_listen: %s", name,
			 c->agent_listen[0] ? why : "missing");
		return ERR_BAD_CONFIG;
	}
	if (c->client_listen[0] && hared_addr_parse(c->client_listen, &ss, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "%s: client_listen: %s", name, why);
		return ERR_BAD_CONFIG;
	}
	if (c->client_listen[0] && !c->client_token_file[0] && !c->client_users_file[0]) {
		snprintf(errbuf, errlen, "%s: client_listen needs client_token_file (a token they "
			 "share) or client_users_file (a token each)", name);
		return ERR_BAD_CONFIG;
	}
	if (!c->client_socket[0] || strlen(c->client_socket) > HARED_SOCKET_PATH_MAX) {
		snprintf(errbuf, errlen, "%s: client_socket: %s", name,
			 c->client_socket[0] ? "path longer than 107 bytes" : "missing");
		return ERR_BAD_CONFIG;
	}
	if (!c->state_dir[0] || !c->profiles[0] || !c->policy[0]) {
		snprintf(errbuf, errlen, "%s: %s: missing", name, !c->state_dir[0] ? "state_dir" :
			 !c->profiles[0] ? "profiles" : "policy");
		return ERR_BAD_CONFIG;
	}
	if (!c->cluster_key_file[0] && !c->agent_keys_dir[0]) {
		snprintf(errbuf, errlen, "%s: cluster_key_file is empty or missing: it may be empty "
			 "only with agent_keys_dir, when every node has a key of its own", name);
		return ERR_BAD_CONFIG;
	}
	if (strcmp(c->tls, "optional") != 0 && strcmp(c->tls, "required") != 0) {
		snprintf(errbuf, errlen, "%s: tls: '%s' is neither optional (TLS and older "
			 "plaintext peers) nor required (TLS only)", name, c->tls);
		return ERR_BAD_CONFIG;
	}
	if (hared_private_check(c->private_data, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "%s: private_data: %s", name, why);
		return ERR_BAD_CONFIG;
	}
	if (c->quarantine_jobs > 0 && c->quarantine_users > c->quarantine_jobs) {
		snprintf(errbuf, errlen, "%s: quarantine_users (%u; default 2) is above quarantine_jobs "
			 "(%u): no node would ever be quarantined; set quarantine_users to at most %u",
			 name, c->quarantine_users, c->quarantine_jobs, c->quarantine_jobs);
		return ERR_BAD_CONFIG;
	}
	return 0;
}

/* Whether item is one of list's items (separated by commas, blanks or
 * both, as hared_private_check splits them). */
static bool hared_list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; *p;) {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == n && strncmp(p, item, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* private_data: jobs, usage, both (separated by commas or blanks), or
 * none (empty, or "none" alone). */
static int hared_private_check(const char *v, char *why, size_t len)
{
	char rest[sizeof(((struct hared_config *)0)->private_data)];
	char *save = NULL;
	int items = 0;

	snprintf(rest, sizeof(rest), "%s", v);
	for (char *t = strtok_r(rest, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		if (strcmp(t, "jobs") != 0 && strcmp(t, "usage") != 0 && strcmp(t, "none") != 0) {
			snprintf(why, len, "unknown item '%s' (expected jobs, usage, or none)", t);
			return ERR_BAD_CONFIG;
		}
		items++;
	}
	if (items > 1 && hared_list_has(v, "none")) {
		snprintf(why, len, "'none' goes alone (got '%s')", v);
		return ERR_BAD_CONFIG;
	}
	return 0;
}

bool hared_tls_required(const struct hared_config *c)
{
	return strcmp(c->tls, "required") == 0;
}

bool hared_private(const struct hared_config *c, const char *what)
{
	return hared_list_has(c->private_data, what);
}

int hared_config_load(const char *path, struct hared_config *c, char *errbuf, size_t errlen)
{
	int rc = config_load(path, cfg_on_entry, c, errbuf, errlen);

	return rc < 0 ? rc : hared_config_check(path, c, errbuf, errlen);
}

int hared_config_load_string(const char *name, const char *text, struct hared_config *c,
			     char *errbuf, size_t errlen)
{
	int rc = config_load_string(name, text, cfg_on_entry, c, errbuf, errlen);

	return rc < 0 ? rc : hared_config_check(name, c, errbuf, errlen);
}

/* Split "host:port" / "[v6]:port" into host and port text. */
static int addr_split(const char *text, char *host, size_t hostlen, const char **port, char *err,
		      size_t errlen)
{
	const char *colon;
	size_t len;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':') {
			snprintf(err, errlen, "expected [address]:port, got '%s'", text);
			return ERR_BAD_CONFIG;
		}
		len = (size_t)(close - text - 1);
		colon = close + 1;
		text++;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			snprintf(err, errlen, "expected host:port, got '%s'", text);
			return ERR_BAD_CONFIG;
		}
		len = (size_t)(colon - text);
	}
	if (len >= hostlen) {
		snprintf(err, errlen, "host part too long");
		return ERR_BAD_CONFIG;
	}
	memcpy(host, text, len);
	host[len] = '\0';
	*port = colon + 1;
	return 0;
}

int hared_addr_parse(const char *text, struct sockaddr_storage *out, char *err, size_t errlen)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	char host[64], why[128];
	const char *port_text;
	uint32_t port;
	int rc = addr_split(text, host, sizeof(host), &port_text, err, errlen);

	if (rc < 0)
		return rc;
	if (config_parse_u32(port_text, 0, 65535, &port, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "port: %s", why);
		return ERR_BAD_CONFIG;
	}
	memset(out, 0, sizeof(*out));
	if (strcmp(host, "*") == 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "0.0.0.0");
	else if (strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	snprintf(err, errlen, "'%s' is not a numeric IPv4 or IPv6 address", host);
	return ERR_BAD_CONFIG;
}

/* A key's value in c as text. */
static void cfg_key_text(const struct cfg_key *k, const struct hared_config *c, char *buf,
			 size_t len)
{
	const char *p = (const char *)c + k->off;

	switch (k->kind) {
	case CFG_STR:
	case CFG_LEVEL:
		snprintf(buf, len, "%s", p[0] ? p : "(none)");
		break;
	case CFG_U32:
		snprintf(buf, len, "%u", *(const uint32_t *)(const void *)p);
		break;
	case CFG_MODE:
		snprintf(buf, len, "%04o", *(const uint32_t *)(const void *)p);
		break;
	case CFG_DOUBLE:
		snprintf(buf, len, "%g", *(const double *)(const void *)p);
		break;
	case CFG_BOOL:
		snprintf(buf, len, "%s", *(const bool *)(const void *)p ? "yes" : "no");
		break;
	}
}

uint32_t hared_config_diff(struct hared_config *cur, const struct hared_config *next,
			   hared_config_diff_cb cb, void *user)
{
	uint32_t n = 0;

	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		const struct cfg_key *k = &cfg_keys[i];
		size_t size = k->kind == CFG_STR || k->kind == CFG_LEVEL ? k->size
			    : k->kind == CFG_DOUBLE ? sizeof(double)
			    : k->kind == CFG_BOOL ? sizeof(bool) : sizeof(uint32_t);
		char from[HARED_PATH_LEN + 8], to[HARED_PATH_LEN + 8];
		bool same = k->kind == CFG_STR || k->kind == CFG_LEVEL
			  ? strcmp((const char *)cur + k->off, (const char *)next + k->off) == 0
			  : memcmp((const char *)cur + k->off, (const char *)next + k->off, size) == 0;

		if (same)
			continue;
		n++;
		cfg_key_text(k, cur, from, sizeof(from));
		cfg_key_text(k, next, to, sizeof(to));
		if (cb)
			cb(user, k->name, from, to, k->live);
		if (k->live)
			memcpy((char *)cur + k->off, (const char *)next + k->off, size);
	}
	return n;
}
