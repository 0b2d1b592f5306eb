/* SPDX-License-Identifier: MIT */
/* The agent's unit tests' harness (tests/unit/test_agent_*.c): a fake hared
 * on loopback (struct fake) that an agent of the test's registers with,
 * and small file helpers. Assertions fail the calling cmocka test. */
#ifndef HARE_TESTS_AGENT_FAKE_H
#define HARE_TESTS_AGENT_FAKE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

#include "agent.h"
#include "frame.h"
#include "tls_link.h"

#define WORKER_BIN HARE_BINARY_DIR "/workloads/hare-worker"
#define AGENT_BIN HARE_BINARY_DIR "/agent/hare-agent"
#define TEST_KEY "0123456789abcdef-test-cluster-key"

/* A fresh directory under $TMPDIR (or /tmp) into buf. */
void temp_dir(char *buf, size_t len, const char *what);
/* Monotonic seconds. */
double now_s(void);
/* Writes text to path (created or truncated), then gives it mode. */
void write_file(const char *path, const char *text, mode_t mode);
bool file_exists(const char *path);
/* The whole (small) file into buf; "" when missing. */
void read_text(const char *path, char *buf, size_t len);
/* The state letter of /proc/PID/stat ('Z' for a zombie), or 0. */
char proc_state(int pid);
/* A child running `sleep SECS` in a session of its own, once it does
 * (after its setsid); its pid. The caller kills and reaps it. */
pid_t session_sleep(unsigned secs);

/* ---- a fake daemon on loopback ---- */

#define FAKE_MSGS_MAX 100000

struct fake {
	uv_loop_t loop;
	uv_tcp_t server, client;
	uv_timer_t tick;
	bool client_open;
	struct wire_reader reader;
	uint16_t port;
	const char *key;	/* the daemon's key (may differ from the agent's) */
	uint8_t nonce[32];
	int hellos, auths, auths_bad, registers;
	bool mute;		/* leave Hellos unanswered: the agent never registers */
	bool no_proof;		/* a Challenge without hared's proof (an older hared) */
	bool sign;		/* tag frames (after the Challenge), as hared does */
	bool bad_tag;		/* ... with a wrong tag: a frame altered on the way */
	bool untagged_proof;	/* the proof for an agent that does not tag (an
				 * older hared, or Hello.tags taken out on the way) */
	uint8_t session[32];
	uint64_t seq;
	bool check;		/* the agent's frames carry its tags: checked */
	uint8_t session_in[32];
	uint64_t seq_in;
	int tagged;		/* frames whose agent's tag was right */
	/* TLS (the agent's default): the session's server end, keyed with
	 * key; sessions whose handshake ended well or failed */
	struct tls_link *tls;
	int tls_ok, tls_failed;
	bool old_hared;		/* no TLS: a TLS peer gets a plaintext Error */
	bool tls_start;		/* the session's first bytes are still to come */
	size_t reg_msgs;	/* messages heard before the last Register */
	char reg_measuring[256];	/* its measuring types, comma-separated */
	uint32_t reg_gpus;
	char reg_type0[16];
	size_t reg_running;
	bool reg_logs;		/* Register.logs */
	int reg_health;		/* Register.health: -1 none, 0 not ok, 1 ok */
	char reg_reason[256];	/* ... its reason */
	uint64_t reg_running_job;
	Hare__RunningTask reg_task0;	/* the first running task listed (copied) */
	Hare__ToDaemon *msgs[FAKE_MSGS_MAX];
	size_t nmsgs;
	struct agent *agent;
	/* the agent's kill_hook, set before it starts (adoption signals) */
	int (*kill_hook)(pid_t pid, int sig);
	struct agent_config cfg;
	bool closed;
	char dir[200];
};

#define RUN_UNTIL(f, cond, secs) do {						\
	double deadline_ = now_s() + (secs);					\
	while (!(cond)) {							\
		if (now_s() > deadline_)					\
			fail_msg("timed out after %g s waiting for %s", (double)(secs), #cond); \
		uv_run(&(f)->loop, UV_RUN_ONCE);				\
	}									\
} while (0)

/* A fake hared listening on 127.0.0.1 with key daemon_key (TEST_KEY: the
 * agent's), and the configuration of an agent (not started) for it with
 * GPUs gpus ("V100:2,T4:1") in a fresh folder f->dir. */
struct fake *fake_new(const char *daemon_key, const char *gpus);
/* Stops the agent, closes the loop and removes f->dir. */
void fake_free(struct fake *f);
/* Starts an agent with f->cfg (the tests may change it before). */
void fake_agent_start(struct fake *f);
/* Start the agent and wait for its first Register; its Auth and Register
 * carried its tags. */
void fake_agent_registered(struct fake *f);
/* Closes the agent (its workers run on) and waits for it. */
void fake_agent_stop(struct fake *f);
/* f->cfg's key = value; fails the test where it is refused. */
void fake_set(struct fake *f, const char *key, const char *value);
/* m to the agent (tagged and in TLS as the session is); dropped when no
 * agent is connected. */
void fake_send(struct fake *f, const Hare__FromDaemon *m);
/* Closes the agent's connection (it reconnects). */
void fake_drop(struct fake *f);

struct start_args {
	uint64_t job, lease, first, count;
	uint32_t rank, world, gpu;
	double round_s, scale, restart_s;
	const char *command;
	const char *model;	/* default resnet50 */
	const char *proxy;	/* TaskStart.proxy */
	const char *user;	/* TaskStart.user */
	const uint32_t *node_gpus;	/* TaskStart.node_gpus (n_node_gpus) */
	size_t n_node_gpus;
};

void fake_task_start(struct fake *f, const struct start_args *s);
void fake_task_stop(struct fake *f, uint64_t job, uint64_t lease);
/* The TaskExit heard for the rank, or NULL. */
const Hare__TaskExit *fake_exit(const struct fake *f, uint64_t job, uint64_t lease,
				uint32_t rank);

struct relayed {
	int reports;
	uint64_t rounds, next;
	double compute, sync, loss;
	bool contiguous, exit_after_reports;
};

/* What the daemon heard for one rank; checks that no report follows the exit. */
struct relayed fake_relayed(const struct fake *f, uint64_t job, uint64_t lease, uint32_t rank);
/* Heartbeats heard that list a running task. */
int fake_heartbeats_running(const struct fake *f);

/* A Rendezvous for the lease with data. */
void fake_send_rdv(struct fake *f, uint64_t job, uint64_t lease, const uint8_t *data, size_t len);
/* A command that waits up to 5 s for the lease's id file, copies it (and its
 * path) to OUT and OUT.path, and ends with a done line. */
void rdv_reader_cmd(char *cmd, size_t len, const char *out);

#endif
