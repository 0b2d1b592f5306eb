/* SPDX-License-Identifier: MIT */
/* hare-agent's configuration: the [agent] section of an INI file, the same
 * checks for command-line overrides, and the derived defaults. */
#include "agent.h"

#include "config.h"
#include "err.h"
#include "log.h"
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void agent_config_defaults(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->work_dir, sizeof(c->work_dir), "%s", AGENT_DEFAULT_WORK_DIR);
	c->report_interval_ms = 100;
	c->heartbeat_ms = 3000;
	c->stop_grace_ms = 5000;
	c->max_frame = 4u * 1024 * 1024;
	c->profile_unknown = AGENT_PROFILE_AUTO;
	c->profile_timeout_s = 3600;
	c->task_log_keep_days = 30;
	c->worker_orphan_timeout_s = AGENT_UNSET;
	c->run_as_owner = true;
	c->tls = true;
	c->worker_progress_s = AGENT_UNSET;
	c->health_check_interval_s = 60;
	c->health_check_timeout_s = 30;
	c->prolog_timeout_s = 60;
	c->epilog_timeout_s = 60;
	c->unkillable_timeout_s = 60;
}

__attribute__((format(printf, 3, 4)))
static int agent_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ERR_BAD_CONFIG;
}

int agent_addr_parse(const char *text, char *host, size_t hostlen, uint16_t *port, char *err,
		     size_t errlen)
{
	const char *colon, *h = text;
	size_t n;
	uint32_t p;
	char perr[128];

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return agent_bad(err, errlen, "expected [address]:port, got '%.200s'", text);
		h = text + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return agent_bad(err, errlen, "expected host:port, got '%.200s'", text);
		n = (size_t)(colon - text);
	}
	if (n == 0 || n >= hostlen)
		return agent_bad(err, errlen, "host missing or too long in '%.200s'", text);
	if (config_parse_u32(colon + 1, 1, 65535, &p, perr, sizeof(perr)) < 0) {
		snprintf(err, errlen, "port of '%.200s': %s", text, perr);
		return ERR_BAD_CONFIG;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* A string key: non-empty and fits. */
static int agent_set_str(char *dst, size_t cap, const char *key, const char *value, char *err,
			 size_t errlen)
{
	size_t n = strlen(value);

	if (n == 0 || n >= cap) {
		snprintf(err, errlen, "%s must be 1 to %zu characters", key, cap - 1);
		return ERR_BAD_CONFIG;
	}
	memcpy(dst, value, n + 1);
	return 0;
}

static int agent_set_node(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	for (const char *p = value; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return agent_bad(err, errlen,
					 "node name may hold letters, digits, '-', '_' and '.', got '%.64s'",
					 value);
	}
	return agent_set_str(c->node, sizeof(c->node), "node", value, err, errlen);
}

static int agent_set_daemon(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	int rc = agent_addr_parse(value, host, sizeof(host), &port, err, errlen);

	return rc < 0 ? rc : agent_set_str(c->daemon, sizeof(c->daemon), "daemon", value, err, errlen);
}

static int agent_set_level(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			snprintf(c->log_level, sizeof(c->log_level), "%s", value);
			return 0;
		}
	}
	return agent_bad(err, errlen, "log_level must be error, warn, info or debug, got '%.32s'",
			 value);
}

/* What runs on an emulated GPU: the emulated worker, or real training on
 * the CPU engine. */
static int agent_set_engine(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "emulate") != 0 && strcmp(value, "cpu") != 0)
		return agent_bad(err, errlen, "worker_engine must be emulate or cpu, got '%.32s'",
				 value);
	c->worker_cpu = strcmp(value, "cpu") == 0;
	return 0;
}

/* auto, yes or no (the order of their enums) into *out. */
static int agent_set_auto_yes_no(const char *key, const char *value, int *out, char *err,
				 size_t errlen)
{
	static const char *const names[] = { "auto", "yes", "no" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return agent_bad(err, errlen, "%s must be auto, yes or no, got '%.32s'", key, value);
}

/* Whether to measure GPU types the daemon's profile lacks. */
static int agent_set_profile(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	int i = 0, rc = agent_set_auto_yes_no("profile_unknown", value, &i, err, errlen);

	if (rc == 0)
		c->profile_unknown = (enum agent_profile_mode)i;
	return rc;
}

/* Whether each task's processes are tracked in a cgroup of their own. */
static int agent_set_cgroup(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	int i = 0, rc = agent_set_auto_yes_no("cgroup", value, &i, err, errlen);

	if (rc == 0)
		c->cgroup = (enum agent_cgroup_mode)i;
	return rc;
}

/* Whether a worker may open its lease's GPUs' device files only. */
static int agent_set_devices(struct agent_config *c, const char *value, char *err, size_t errlen)
{
	int i = 0, rc = agent_set_auto_yes_no("constrain_devices", value, &i, err, errlen);

	if (rc == 0)
		c->constrain_devices = (enum agent_devices_mode)i;
	return rc;
}

/* The key of [agent] nearest to an unknown one (a typo), or NULL; keys
 * holds every key agent_config_set takes. */
static const char *agent_key_near(const char *key)
{
	static const char *const keys[] = {
		"daemon", "node", "cluster_key_file", "gpus", "worker", "worker_engine", "work_dir",
		"task_logs", "worker_orphan_timeout_s", "worker_progress_s", "task_log_keep_days",
		"report_interval_ms", "heartbeat_ms", "stop_grace_ms", "max_frame", "log_level",
		"profile_unknown", "profile_proxy", "profile_iters", "profile_timeout_s",
		"run_as_owner", "tls", "health_check", "health_check_interval_s",
		"health_check_timeout_s", "prolog", "epilog", "prolog_timeout_s", "epilog_timeout_s",
		"cgroup", "unkillable_timeout_s", "constrain_devices",
	};
	const char *best = NULL;
	size_t best_d = 3;

	if (strlen(key) < 3)
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t d = text_distance(key, keys[i]);

		if (d < best_d) {
			best = keys[i];
			best_d = d;
		}
	}
	return best;
}

int agent_config_set(struct agent_config *c, const char *key, const char *value, char *err,
		     size_t errlen)
{
	const char *near;

	if (strcmp(key, "daemon") == 0)
		return agent_set_daemon(c, value, err, errlen);
	if (strcmp(key, "node") == 0)
		return agent_set_node(c, value, err, errlen);
	if (strcmp(key, "cluster_key_file") == 0)
		return agent_set_str(c->key_file, sizeof(c->key_file), key, value, err, errlen);
	if (strcmp(key, "gpus") == 0) {
		c->gpus_set = true;
		return agent_gpus_parse(value, c->gpus, AGENT_GPUS_MAX, &c->ngpus, err, errlen);
	}
	if (strcmp(key, "worker") == 0)
		return agent_set_str(c->worker, sizeof(c->worker), key, value, err, errlen);
	if (strcmp(key, "worker_engine") == 0)
		return agent_set_engine(c, value, err, errlen);
	if (strcmp(key, "work_dir") == 0)
		return agent_set_str(c->work_dir, sizeof(c->work_dir), key, value, err, errlen);
	if (strcmp(key, "task_logs") == 0) {
		if (value[0] != '/' && strcmp(value, "none") != 0)
			return agent_bad(err, errlen, "expected an absolute directory or "
					 "none, got '%.200s'", value);
		return agent_set_str(c->task_logs, sizeof(c->task_logs), key, value, err, errlen);
	}
	if (strcmp(key, "run_as_owner") == 0)
		return config_parse_bool(value, &c->run_as_owner, err, errlen);
	if (strcmp(key, "tls") == 0)
		return config_parse_bool(value, &c->tls, err, errlen);
	if (strcmp(key, "worker_orphan_timeout_s") == 0)
		return config_parse_u32(value, 0, 864000, &c->worker_orphan_timeout_s, err, errlen);
	if (strcmp(key, "worker_progress_s") == 0)
		return config_parse_u32(value, 0, 86400, &c->worker_progress_s, err, errlen);
	if (strcmp(key, "task_log_keep_days") == 0)
		return config_parse_u32(value, 0, 36500, &c->task_log_keep_days, err, errlen);
	if (strcmp(key, "report_interval_ms") == 0)
		return config_parse_u32(value, 0, 60000, &c->report_interval_ms, err, errlen);
	if (strcmp(key, "heartbeat_ms") == 0)
		return config_parse_u32(value, 100, 600000, &c->heartbeat_ms, err, errlen);
	if (strcmp(key, "stop_grace_ms") == 0)
		return config_parse_u32(value, 0, 3600000, &c->stop_grace_ms, err, errlen);
	if (strcmp(key, "max_frame") == 0)
		return config_parse_u32(value, 4096, 1u << 30, &c->max_frame, err, errlen);
	if (strcmp(key, "log_level") == 0)
		return agent_set_level(c, value, err, errlen);
	if (strcmp(key, "profile_unknown") == 0)
		return agent_set_profile(c, value, err, errlen);
	if (strcmp(key, "profile_proxy") == 0)
		return agent_set_str(c->profile_proxy, sizeof(c->profile_proxy), key, value, err,
				     errlen);
	if (strcmp(key, "profile_iters") == 0)
		return config_parse_u32(value, 1, 100000, &c->profile_iters, err, errlen);
	if (strcmp(key, "profile_timeout_s") == 0)
		return config_parse_u32(value, 1, 86400, &c->profile_timeout_s, err, errlen);
	if (strcmp(key, "health_check") == 0 || strcmp(key, "prolog") == 0 ||
	    strcmp(key, "epilog") == 0) {
		char *dst = key[0] == 'h' ? c->health_check : key[0] == 'p' ? c->prolog : c->epilog;

		if (value[0] != '/' && value[0] != '\0')
			return agent_bad(err, errlen, "%s must be an absolute path to a program, got "
					 "'%.200s'", key, value);
		return agent_set_str(dst, AGENT_PATH_MAX, key, value, err, errlen);
	}
	if (strcmp(key, "cgroup") == 0)
		return agent_set_cgroup(c, value, err, errlen);
	if (strcmp(key, "constrain_devices") == 0)
		return agent_set_devices(c, value, err, errlen);
	if (strcmp(key, "health_check_interval_s") == 0)
		return config_parse_u32(value, 1, 86400, &c->health_check_interval_s, err, errlen);
	if (strcmp(key, "health_check_timeout_s") == 0)
		return config_parse_u32(value, 1, 3600, &c->health_check_timeout_s, err, errlen);
	if (strcmp(key, "prolog_timeout_s") == 0)
		return config_parse_u32(value, 1, 3600, &c->prolog_timeout_s, err, errlen);
	if (strcmp(key, "epilog_timeout_s") == 0)
		return config_parse_u32(value, 1, 3600, &c->epilog_timeout_s, err, errlen);
	if (strcmp(key, "unkillable_timeout_s") == 0)
		return config_parse_u32(value, 0, 3600, &c->unkillable_timeout_s, err, errlen);
	near = agent_key_near(key);
	if (near)
		return agent_bad(err, errlen, "unknown key '%.64s' in [agent] (did you mean %s?)", key,
				 near);
	return agent_bad(err, errlen, "unknown key '%.64s' in [agent]", key);
}

static int agent_on_entry(void *user, const char *section, const char *key, const char *value,
			  char *err, size_t errlen)
{
	if (strcmp(section, "daemon") == 0)
		return 0;
	if (strcmp(section, "agent") != 0) {
		if (section[0] == '\0')
			return agent_bad(err, errlen, "key '%.64s' outside a section (expected [agent])",
					 key);
		return agent_bad(err, errlen, "unknown section [%.64s] (expected [agent])", section);
	}
	return agent_config_set(user, key, value, err, errlen);
}

int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen)
{
	return config_load(path, agent_on_entry, c, err, errlen);
}

int agent_config_load_string(struct agent_config *c, const char *name, const char *text,
			     char *err, size_t errlen)
{
	return config_load_string(name, text, agent_on_entry, c, err, errlen);
}

/* The hare-worker that sits next to the agent binary, or in the build tree's
 * workloads/ beside agent/. */
static int agent_worker_default(struct agent_config *c, const char *self_exe, char *err,
				size_t errlen)
{
	static const char *const rel[] = { "hare-worker", "../workloads/hare-worker" };
	char exe[AGENT_PATH_MAX];
	size_t n = sizeof(exe);
	char *slash;

	if (self_exe)
		snprintf(exe, sizeof(exe), "%s", self_exe);
	else if (uv_exepath(exe, &n) < 0)
		return agent_bad(err, errlen, "cannot find the agent's own path; set worker");
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(exe, sizeof(exe), ".");
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char path[AGENT_PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/%s", exe, rel[i]);
		size_t plen = strlen(path);

		if (access(path, X_OK) == 0 && plen < sizeof(c->worker)) {
			memcpy(c->worker, path, plen + 1);
			return 0;
		}
	}
	return agent_bad(err, errlen, "no hare-worker next to %.900s; set worker in [agent]", exe);
}

int agent_config_finish(struct agent_config *c, const char *self_exe, char *err, size_t errlen)
{
	if (c->daemon[0] == '\0')
		return agent_bad(err, errlen, "daemon (host:port) is not set");
	if (c->key_file[0] == '\0')
		return agent_bad(err, errlen, "cluster_key_file is not set");
	if (c->node[0] == '\0') {
		char host[256] = "";

		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
			return agent_bad(err, errlen, "cannot read the host name; set node");
		host[strcspn(host, ".")] = '\0';	/* the short name */
		if (agent_set_node(c, host, err, errlen) < 0)
			return ERR_BAD_CONFIG;
	}
	if (c->worker[0] == '\0')
		return agent_worker_default(c, self_exe, err, errlen);
	return 0;
}
