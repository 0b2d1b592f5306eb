/* SPDX-License-Identifier: MIT */
/* hare-agent's core: configuration, GPU inventory (emulated or NVML), the
 * authenticated link to hared, and supervision of the workers it starts. */
#ifndef HARE_AGENT_H
#define HARE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define AGENT_GPUS_MAX 64
#define AGENT_NAME_MAX 64
#define AGENT_PATH_MAX 1024
#define AGENT_KEY_MAX 4096
#define AGENT_KEY_MIN 16
#define AGENT_MAC_LEN 32
#define AGENT_DEFAULT_CONFIG "/etc/hare/agent.conf"
#define AGENT_DEFAULT_WORK_DIR "/var/lib/hare-agent"

struct agent_gpu {
	uint32_t index;			/* CUDA ordinal (NVML index) or emulated slot */
	char type[AGENT_NAME_MAX];	/* profile type name: V100, T4, ... */
	uint64_t memory_mib;		/* 0 when unknown */
	bool emulated;
	bool has_dev;			/* its device file is known: */
	dev_t dev;			/* ... /dev/nvidiaN's number */
	char uuid[96];			/* NVML's "GPU-..." ("": unknown) */
};

/* profile_unknown: whether this node measures GPU types hared's profile lacks */
enum agent_profile_mode {
	AGENT_PROFILE_AUTO,		/* on real (NVML) GPUs, not on emulated ones */
	AGENT_PROFILE_YES,		/* emulated ones too (on the CPU engine) */
	AGENT_PROFILE_NO,
};

/* cgroup: tracking each task's processes in a cgroup v2 of its own */
enum agent_cgroup_mode {
	AGENT_CGROUP_AUTO,		/* where the agent may make one, else process groups */
	AGENT_CGROUP_YES,		/* required: the agent does not start without */
	AGENT_CGROUP_NO,		/* process groups only */
};

/* constrain_devices: a worker may open its lease's GPUs' device files only */
enum agent_devices_mode {
	AGENT_DEVICES_AUTO,		/* where the agent can (real GPUs, cgroup v2, BPF) */
	AGENT_DEVICES_YES,		/* required: the agent does not start without */
	AGENT_DEVICES_NO,		/* CUDA_VISIBLE_DEVICES only */
};

#define AGENT_UNSET UINT32_MAX	/* a worker setting left to hare-worker */

struct agent_config {
	char daemon[256];		/* host:port of hared's agent listener */
	char node[AGENT_NAME_MAX];	/* default: the host name */
	char key_file[AGENT_PATH_MAX];	/* cluster key */
	bool gpus_set;			/* gpus given: emulated; else discovered */
	uint32_t ngpus;
	struct agent_gpu gpus[AGENT_GPUS_MAX];
	char worker[AGENT_PATH_MAX];	/* default: hare-worker next to the agent */
	bool worker_cpu;		/* worker_engine = cpu: emulated GPUs train on the CPU engine */
	bool run_as_owner;		/* as root: workers run as their job's owner (yes) */
	bool tls;			/* the link to hared in TLS, keyed with key_file (yes) */
	char work_dir[AGENT_PATH_MAX];	/* report pipes and task state */
	char task_logs[AGENT_PATH_MAX];	/* workers' output files ("": work_dir/logs;
					 * "none": the agent's own stderr) */
	uint32_t worker_orphan_timeout_s;	/* hare-worker --orphan-timeout-s
						 * (AGENT_UNSET: the worker's default) */
	uint32_t worker_progress_s;	/* hare-worker --progress-s (AGENT_UNSET: its default) */
	uint32_t task_log_keep_days;	/* output files unchanged this long are
					 * deleted (30; 0: kept for ever) */
	uint32_t report_interval_ms;	/* batch reports within this (100) */
	uint32_t heartbeat_ms;		/* 3000 */
	uint32_t stop_grace_ms;		/* SIGTERM to SIGKILL (5000) */
	uint32_t max_frame;		/* cap on one frame from the daemon */
	enum agent_profile_mode profile_unknown;	/* auto */
	char profile_proxy[256];	/* hare-worker --proxy when measuring ("": none) */
	uint32_t profile_iters;		/* hare-worker --profile-iters (0: its default) */
	uint32_t profile_timeout_s;	/* one model's measurement at most (3600) */
	char log_level[16];		/* "" or error/warn/info/debug */
	char health_check[AGENT_PATH_MAX];	/* the node's health check program
						 * ("": none) */
	uint32_t health_check_interval_s;	/* from one run's end to the next (60) */
	uint32_t health_check_timeout_s;	/* a run killed after this (30) */
	char prolog[AGENT_PATH_MAX];	/* run before each worker starts ("": none) */
	char epilog[AGENT_PATH_MAX];	/* run after each worker ended ("": none) */
	uint32_t prolog_timeout_s;	/* a prolog killed (and failed) after this (60) */
	uint32_t epilog_timeout_s;	/* an epilog killed (and failed) after this (60) */
	enum agent_cgroup_mode cgroup;	/* auto */
	/* how long a task's exit waits, after the SIGKILL at its end, for
	 * its processes to be gone; then hared drains the node (60; 0: no
	 * wait) */
	uint32_t unkillable_timeout_s;
	enum agent_devices_mode constrain_devices;	/* auto */
};

/* hare-agent --exec-as NAME UID GID PROGRAM ARGS...: the agent's child
 * becoming a job's owner before it execs the worker (main() hands argv over
 * when argv[1] is --exec-as). Returns only on failure, the exit status. */
int agent_exec_as(int argc, char **argv);

/* hare-agent --exec-in DIR PROGRAM ARGS... (or --exec-in DIR --exec-as
 * ...): the agent's child joining the cgroup v2 DIR before it execs (main()
 * hands argv over when argv[1] is --exec-in). Returns only on failure. */
int agent_exec_in(int argc, char **argv);

/* Defaults for every key; daemon, key_file and node are left empty. */
void agent_config_defaults(struct agent_config *c);

/*
 * Set one [agent] key from its text (also used for command-line
 * overrides). Returns 0, or ERR_BAD_CONFIG with the reason (no file or line)
 * in err: an unknown key, a malformed host:port, a bad GPU list ...
 */
int agent_config_set(struct agent_config *c, const char *key, const char *value, char *err,
		     size_t errlen);

/*
 * Load an INI file (or text, named name in messages) into c: keys of
 * [agent]; a [daemon] section is skipped so one file may serve both; any
 * other section or key is an error. Returns 0, -errno, or ERR_BAD_CONFIG
 * with "file:line: reason" in err.
 */
int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen);
int agent_config_load_string(struct agent_config *c, const char *name, const char *text,
			     char *err, size_t errlen);

/*
 * Check that the required keys are set (daemon, cluster_key_file) and fill
 * the derived defaults: node from the host name, worker next to
 * self_exe (the agent binary's path; NULL: look up with uv_exepath).
 * Returns 0 or ERR_BAD_CONFIG with the reason in err.
 */
int agent_config_finish(struct agent_config *c, const char *self_exe, char *err, size_t errlen);

/* Whether the program at path (health_check, prolog, epilog) may run as
 * the agent: path is walked one name at a time, and every folder entered
 * (from / on) must be owned by root or the agent's user and writable by
 * its owner only (or have the sticky bit), every link passed must be
 * root's or the agent's, and the file it ends at so too, and executable.
 * 0 with that file's path in real (reallen bytes; NULL: not wanted), or
 * ERR_BAD_CONFIG or -errno (it cannot be seen), with the reason in err.
 * Checked before each run, which then runs real (agent_script.c). */
int agent_health_check_ok(const char *path, char *real, size_t reallen, char *err, size_t errlen);

/* Split "host:port" or "[v6addr]:port" (port 1..65535). 0 or ERR_BAD_CONFIG. */
int agent_addr_parse(const char *text, char *host, size_t hostlen, uint16_t *port, char *err,
		     size_t errlen);

/*
 * Parse an emulated GPU list "V100:4,T4:4" (or "none") into gpus[0..*n):
 * indices 0..n-1 in order, emulated. Type names are 1-63 of [A-Za-z0-9_-];
 * counts 1..max in total. Returns 0 or ERR_BAD_CONFIG with the reason.
 */
int agent_gpus_parse(const char *spec, struct agent_gpu *gpus, uint32_t max, uint32_t *n,
		     char *err, size_t errlen);

/*
 * Map an NVML device name ("Tesla V100-SXM2-16GB", "NVIDIA H100 80GB HBM3")
 * to a profile type name (V100, H100, ...) in type (len bytes). Returns 1
 * when the name was recognised, 0 when it was not (type then holds the name
 * itself, blanks turned into '-').
 */
int agent_gpu_type_from_name(const char *name, char *type, size_t len);
/* The type names agent_gpu_type_from_name knows, blank-separated. */
void agent_gpu_types_known(char *buf, size_t len);

/*
 * Discover this node's GPUs with NVML, loaded at run time with dlopen (the
 * agent needs no NVIDIA package to build or run). Returns 0 with gpus[0..*n)
 * (not emulated), -ENOENT when NVML is absent, -EIO when it fails; err says
 * why. Names it cannot map are kept as they are (see above); *unknown
 * counts them.
 */
int agent_gpus_discover(struct agent_gpu *gpus, uint32_t max, uint32_t *n, uint32_t *unknown,
			char *err, size_t errlen);

/*
 * Read the cluster key: the file's bytes with trailing whitespace removed
 * (the daemon reads it the same way), at least AGENT_KEY_MIN bytes. 0,
 * -errno, or ERR_BAD_CONFIG; err says "path: reason". *loose is set when
 * the file is readable by group or others.
 */
int agent_key_load(const char *path, uint8_t *key, size_t cap, size_t *len, bool *loose,
		   char *err, size_t errlen);

/* mac = HMAC-SHA256(key, nonce || node) (OpenSSL). 0, -EINVAL, or -EIO. */
int agent_auth_mac(const uint8_t *key, size_t keylen, const uint8_t *nonce, size_t noncelen,
		   const char *node, uint8_t mac[AGENT_MAC_LEN]);

#define AGENT_NONCE_LEN 32	/* hared's challenge, and the agent's own */

/* Whether proof (prooflen bytes, Challenge.proof) is hared's
 * HMAC-SHA256(key, label NUL || agent_nonce || nonce || node), both nonces
 * AGENT_NONCE_LEN bytes, label "hared+tags" (tags) or "hared" (a hared that
 * did not see Hello.tags); compared in constant time. */
bool agent_auth_proof_ok(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
			 const uint8_t *nonce, const char *node, bool tags, const uint8_t *proof,
			 size_t prooflen);

/* ---- the running agent ---- */

struct agent;

enum agent_event {
	AGENT_EVENT_REGISTERED = 1,	/* Welcome received and Register sent */
	AGENT_EVENT_DISCONNECTED,	/* the link to the daemon dropped, or a try to
					 * connect failed (agent_link_why says why) */
};

typedef void (*agent_event_cb)(void *user, enum agent_event ev);
typedef void (*agent_close_cb)(void *user);

struct agent_stats {
	uint64_t connects;		/* sessions that reached Welcome */
	uint64_t frames_sent;
	uint64_t report_lines;		/* lines read from workers */
	uint64_t bad_lines;		/* rejected with a warning */
	uint64_t reports_sent;		/* RoundReport messages */
	uint64_t rounds_relayed;	/* rounds those covered */
	uint64_t exits_sent;		/* TaskExit messages */
	uint64_t tasks_started;
	uint64_t rendezvous_sent;	/* Rendezvous messages from local workers */
	uint64_t rendezvous_written;	/* lease id files written */
	uint64_t rendezvous_ignored;	/* bad or unknown Rendezvous, single-rank lines */
	uint64_t profile_workers;	/* hare-worker --profile processes started */
	uint64_t profile_results;	/* ProfileResult messages sent */
	uint64_t profile_cancels;	/* measurements (queued, running or done) cancelled */
	uint32_t tasks_live;		/* workers running now */
};

/*
 * Make an agent on loop from a finished config (copied) and the cluster key
 * (copied). GPUs are cfg->gpus. Nothing starts before agent_start. 0 or
 * -ENOMEM. Runs on the loop's thread, as does everything below.
 */
int agent_new(uv_loop_t *loop, const struct agent_config *cfg, const uint8_t *key, size_t keylen,
	      struct agent **out);

/* Called on registration and disconnection (e.g. for sd_notify). */
void agent_event_cb_set(struct agent *a, agent_event_cb cb, void *user);
/* Why the link last dropped or failed ("" before that). */
const char *agent_link_why(const struct agent *a);

/*
 * Create the work directory, adopt workers a previous agent left running
 * (their report pipes are in work_dir), and start connecting. 0, or -errno
 * when the work directory cannot be made or locked (err says which).
 */
int agent_start(struct agent *a, char *err, size_t errlen);

/* After agent_start failed: whether the configuration is at fault (work_dir
 * or task_logs cannot be made; a restart will not help) rather than the
 * moment (work_dir locked by another agent). */
bool agent_start_config_error(const struct agent *a);

/*
 * Shut down: send what is pending if connected, close the link and every
 * handle. Workers keep running (a restarted agent adopts them). cb runs once
 * everything is closed, after which the agent is freed.
 */
void agent_close(struct agent *a, agent_close_cb cb, void *user);

void agent_stats_get(const struct agent *a, struct agent_stats *out);

#endif
