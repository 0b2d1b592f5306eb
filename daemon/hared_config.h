/* SPDX-License-Identifier: MIT */
/* hared's configuration: the [daemon] section of an INI file (common/config.h)
 * with defaults, range checks and "file:line: key: reason" errors; an
 * [agent] section (hare-agent's, in a file serving both) is skipped. */
#ifndef HARE_HARED_CONFIG_H
#define HARE_HARED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HARED_CONFIG_DEFAULT "/etc/hare/hared.conf"
#define HARED_PATH_LEN 256
#define HARED_ADDR_LEN 128
/* sun_path holds 108 bytes with its terminating NUL. */
#define HARED_SOCKET_PATH_MAX 107

#define HARED_HEALTH_FAILS_MAX 16	/* quarantine_health_fails (DRIVER_HEALTH_FAILS) */

struct hared_config {
	char agent_listen[HARED_ADDR_LEN];	/* host:port for agents (port 0: pick one) */
	char client_socket[HARED_PATH_LEN];	/* Unix socket for local clients */
	uint32_t client_socket_mode;		/* permission bits of that socket */
	char client_listen[HARED_ADDR_LEN];	/* optional host:port for remote clients */
	char client_token_file[HARED_PATH_LEN];	/* their shared token: they act as "remote" */
	char client_users_file[HARED_PATH_LEN];	/* "NAME TOKEN" lines: each acts as NAME
						 * (client_listen needs this or the token) */
	char state_dir[HARED_PATH_LEN];		/* holds hare.db */
	char cluster_key_file[HARED_PATH_LEN];	/* agents' shared key ("": none) */
	char private_data[32];			/* "jobs", "usage", both (comma-
						 * separated) or "": what users see
						 * of others' (hared_private) */
	char tls[16];				/* "optional" (TLS or plaintext peers on the
						 * TCP ports) or "required" (TLS only) */
	char agent_keys_dir[HARED_PATH_LEN];	/* NODE.key: a node's own key, used
						 * before the shared one ("": none) */
	char profiles[HARED_PATH_LEN];		/* throughput profile directory */
	char policy[32];			/* scheduling policy (solver/sched.h names) */
	double time_scale;			/* profile seconds per wall second */
	double noise_cv;			/* emulated workers' straggler noise */
	uint32_t replan_debounce_ms;
	double reconnect_grace_s;
	double type_slack;		/* hare: slower types within this fraction */
	double min_lease_s;		/* profile seconds a lease runs before jobs
					 * ranked above it may take its GPUs */
	double heartbeat_timeout_s;
	double stop_grace_s;			/* the agents' SIGTERM to SIGKILL grace */
	uint32_t max_frame;			/* cap on one frame's payload, bytes */
	uint32_t max_queued_mib;		/* replies queued for all peers at most */
	uint32_t flush_ms;			/* group-commit interval of batched writes */
	uint32_t max_retries;			/* worker failures before a job is FAILED */
	double finish_grace_s;			/* a DONE job's workers exit on their own within */
	double failed_node_avoid_s;		/* a job is not placed where its worker failed */
	double retry_backoff_s;			/* a failed job's first wait before a retry */
	double stall_timeout_s;			/* no round from a running lease this long: failed */
	uint32_t quarantine_jobs;		/* drain a node where workers of this many jobs
						 * failed within the hour (0: never) */
	uint32_t quarantine_users;		/* ... of at least this many users */
	uint32_t quarantine_max_nodes;		/* ... while fewer nodes are so drained */
	uint32_t quarantine_health_fails;	/* drain a node whose health check turned
						 * failing this often within the hour (0: never) */
	uint32_t max_user_jobs;			/* active jobs of one user (not root); 0: no limit */
	double max_user_weight;			/* highest weight a user (not root) may give; 0: none */
	char remote_user[32];			/* the account remote clients' jobs run as on the nodes */
	bool measure_gpus;			/* ask agents to measure GPU types the profile lacks */
	char measure_models[HARED_PATH_LEN];	/* models they measure ("a,b"; "": every model) */
	char port_file[HARED_PATH_LEN];		/* optional: write the bound ports here */
	char metrics_file[HARED_PATH_LEN];	/* optional: Prometheus text metrics (metrics.h) */
	uint32_t metrics_interval_s;		/* ... written this often */
	char log_level[16];
};

/* Fill every key with its default (client_socket /run/hare/hared.sock,
 * state_dir /var/lib/hare, agent_listen 0.0.0.0:7070, policy hare, ...). */
void hared_config_defaults(struct hared_config *c);

/* Load the file at path over the defaults in *c, then check the result
 * (hared_config_check). Returns 0, -errno if it cannot be read, or
 * ERR_BAD_CONFIG with "path:line: key: reason" (or "path: reason" for a
 * cross-key problem) in errbuf. */
int hared_config_load(const char *path, struct hared_config *c, char *errbuf, size_t errlen);

/* The same over text in memory; name stands for the file in messages. */
int hared_config_load_string(const char *name, const char *text, struct hared_config *c,
			     char *errbuf, size_t errlen);

/* Check keys that depend on each other (client_listen needs
 * client_token_file, paths not empty, socket path length). 0 or
 * ERR_BAD_CONFIG with "name: reason" in errbuf. */
int hared_config_check(const char *name, const struct hared_config *c, char *errbuf,
		       size_t errlen);

/* A reload: each key whose value differs between cur and next is passed to
 * cb (its name, the old and new value as text, and whether it applies at
 * once: live), and a live one is copied into cur; the others keep their
 * value until hared restarts. The number of keys that differ. */
typedef void (*hared_config_diff_cb)(void *user, const char *key, const char *from,
				     const char *to, bool live);
uint32_t hared_config_diff(struct hared_config *cur, const struct hared_config *next,
			   hared_config_diff_cb cb, void *user);

/* Parse "host:port" or "[v6]:port" (numeric host, or "localhost"/"*") into a
 * socket address. 0 or ERR_BAD_CONFIG with a reason in err. */
int hared_addr_parse(const char *text, struct sockaddr_storage *out, char *err, size_t errlen);

/* Whether tls is "required": a TCP peer that does not begin TLS is refused. */
bool hared_tls_required(const struct hared_config *c);

/* Whether private_data lists what ("jobs" or "usage"): then a user other
 * than root sees only their own. */
bool hared_private(const struct hared_config *c, const char *what);

#endif
