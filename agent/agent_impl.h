/* SPDX-License-Identifier: MIT */
/* Inside hare-agent: the agent object, its link to the daemon and the
 * tasks (workers) it supervises, shared by agent*.c only. */
#ifndef HARE_AGENT_IMPL_H
#define HARE_AGENT_IMPL_H

#include "agent.h"

#include "frame.h"
#include "tls_link.h"
#include "utf8.h"
#include "workloads/report.h"

#include <time.h>

/* How long to wait for a worker's report pipe to close after the worker
 * exited (a child of a researcher's program may still hold it). */
#define AGENT_EOF_WAIT_MS 1000
#define AGENT_ADOPT_WATCH_MS 500	/* how often an adopted worker is looked at */
/* Reports are held back (merged) while this much output is unwritten. */
#define AGENT_WRITE_QUEUE_MAX (1u << 20)
/* Tasks (running or with an unsent exit) one agent keeps at most. */
#define AGENT_TASKS_MAX 1024
/* Back-off between connection attempts: 0.2 s doubling up to 10 s. */
#define AGENT_BACKOFF_MIN_MS 200
#define AGENT_BACKOFF_MAX_MS 10000
/* work_dir/tasks/JOB.LEASE.RANK, and that plus a suffix */
#define AGENT_BASE_MAX (AGENT_PATH_MAX + 96)
#define AGENT_FILE_MAX (AGENT_BASE_MAX + 16)
/* the agent's cgroup folder, and one of a run in it */
#define AGENT_CGROUP_BASE_MAX AGENT_PATH_MAX
#define AGENT_CGROUP_MAX (AGENT_CGROUP_BASE_MAX + 96)

enum agent_link_state {
	LINK_IDLE,		/* not connected; maybe a retry timer runs */
	LINK_RESOLVING,
	LINK_CONNECTING,
	LINK_HELLO,		/* Hello sent, waiting for Challenge */
	LINK_AUTH,		/* Auth sent, waiting for Welcome */
	LINK_READY,		/* registered */
	LINK_CLOSING,
};

enum agent_task_phase {
	TASK_PROLOG,		/* the prolog runs; the worker starts once it passed */
	TASK_RUNNING,		/* worker alive (or adopted, pipe open) */
	TASK_REAPING,		/* outcome known, its processes killed: the wait
				 * for them to be gone (agent_reap.c) */
	TASK_EPILOG,		/* outcome known, the epilog runs; TaskExit after it */
	TASK_ENDED,		/* outcome known, TaskExit not yet sent */
	TASK_GONE,		/* TaskExit sent; freed once its handles close */
};

/* An operator's program run as the agent: the health check, a task's
 * prolog or epilog (agent_script.c). */
#define AGENT_SCRIPT_TAIL 4096	/* bytes of a run's output kept: its end */
#define AGENT_SCRIPT_STUCK_MS 5000	/* after its timeout's SIGKILL: given up as stuck */
struct agent_script;
typedef void (*agent_script_fn)(struct agent_script *s);
struct agent_script {
	struct agent *agent;
	const char *what;	/* "health check", "prolog", "epilog" */
	void *data;		/* its owner's */
	uv_process_t proc;	/* the run (one at a time) */
	uv_pipe_t pipe;		/* its stdout and stderr */
	uv_timer_t timer;	/* its timeout, the wait for its output's end after its
				 * exit, or a failed start's end */
	int handles;		/* timer, proc and pipe, until their close callbacks */
	bool timer_open, proc_open, pipe_open;	/* not uv_close'd yet */
	bool running;		/* a run is on: until it exited and its handles closed */
	bool exited;
	bool timed_out;		/* killed at its timeout */
	bool stopped;		/* killed by agent_script_stop */
	bool start_failed;	/* not run (why) */
	int64_t exit_status;
	int term_signal;
	int pid;
	uint32_t timeout_s;
	char why[1100];
	char cg_name[80];	/* its cgroup's name under the agent's ("": none) */
	char cgroup[AGENT_CGROUP_MAX];	/* the run's cgroup ("": not in one) */
	char tail[AGENT_SCRIPT_TAIL + 1];	/* the output's last bytes (ntail) */
	size_t ntail;
	bool tail_cut;		/* ... and there was more before them */
	agent_script_fn on_end;		/* the run is over */
	agent_script_fn on_timeout;	/* it outlasted timeout_s (NULL: wait for on_end) */
	agent_script_fn on_closed;	/* one of its handles closed (NULL: nothing) */
	/* it does not end AGENT_SCRIPT_STUCK_MS after the SIGKILL of its
	 * timeout (NULL: wait for on_end) */
	agent_script_fn on_stuck;
};

struct agent_task {
	struct agent *agent;
	struct agent_task *next;
	uint64_t job_id;
	uint64_t lease_id;
	uint32_t rank;
	uint32_t gpu_index;
	uint32_t world_size;	/* ranks of the lease (0: unknown, an old state file) */
	uint32_t tasks;		/* micro-batches per round on this GPU (0: unknown) */
	uint64_t round_first;
	uint64_t round_count;
	int pid;
	/* the worker's start time (/proc/PID/stat, clock ticks since boot): a
	 * pid seen again is this worker only with the same start time (0:
	 * unknown, a state file of an older agent) */
	uint64_t pid_start;
	/* the account it runs as: its rendezvous file is given to it (-1:
	 * the agent's, or unknown: an adopted worker, whose process says) */
	int64_t run_uid, run_gid;
	enum agent_task_phase phase;

	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t timer;	/* stop grace, then wait for the pipe's EOF */
	int handles;		/* open handles; freed at 0 and TASK_GONE */
	bool proc_open, pipe_open;

	bool adopted;		/* left by a previous agent: not our child */
	bool adopted_dead;	/* ... already gone (or a zombie) when adopted */
	bool exited;		/* exit status known */
	bool stop_requested;
	char stop_reason[320];	/* the TaskStop's reason ("": none given) */
	bool killed;		/* SIGKILL sent after the grace period */
	int64_t exit_status;
	int term_signal;

	struct report_reader reader;
	struct report_line pend;	/* rounds not yet relayed (count 0: none) */
	uint64_t rounds_reported;	/* rounds relayed or pending */
	uint64_t next_first;		/* where the next report should start */
	uint64_t last_sent_ms;
	uint64_t bad_lines;
	bool saw_end;
	struct report_line end;	/* the done / stopped line */

	/* outcome, once TASK_ENDED */
	int status;		/* Hare__TaskStatus */
	bool has_exit_code;
	int32_t exit_code;
	uint64_t rounds_done;
	char message[400];
	bool no_account;	/* not started: its owner has no account here */
	/* where this lease's output starts in the rank's log file (-1: no
	 * file, or not known for an adopted task) */
	int64_t log_off;

	/* rendezvous (agent_rdv.c) */
	uint8_t rdv[RDV_DATA_MAX];	/* what the lease's id file holds (rdv_len 0: nothing yet) */
	uint32_t rdv_len;
	uint8_t rdv_out[RDV_DATA_MAX];	/* what this worker announced */
	uint32_t rdv_out_len;
	bool rdv_unsent;		/* rdv_out not yet sent to the daemon */
	bool rdv_held;			/* rdv came during the prolog, not written yet */

	char base[AGENT_BASE_MAX];	/* work_dir/tasks/JOB.LEASE.RANK */
	char cgroup[AGENT_CGROUP_MAX];	/* the worker's cgroup ("": none) */

	/* prolog and epilog (agent_prolog.c; script.agent NULL: neither is set) */
	struct agent_script script;	/* the prolog's run, then the epilog's */
	uint8_t *start_msg;		/* the packed TaskStart, while the prolog runs */
	size_t start_len;
	char user[64];			/* the job's owner ("": unknown) */
	/* a prolog or epilog that failed, in words: hared drains the node */
	char node_fault[256];
	bool prolog_failed;		/* ... the prolog: no worker ran */
	/* TASK_REAPING: when the wait began (ms since boot: a restarted
	 * agent waits for the rest), after how many ms of it the next
	 * SIGKILL goes, and whether the log has told of the wait */
	uint64_t reap_since_ms, reap_kill_ms;
	bool reap_told;
};

/* Measuring GPU types the daemon's profile lacks (agent_profile.c,
 * agent_profile_run.c). */
#define AGENT_PROFILE_MODELS_MAX 32	/* models in one ProfileRequest */
#define AGENT_PROFILE_ROWS_MAX 64	/* rows hare-worker may print per model */
#define AGENT_PROFILE_LINE_MAX 4096	/* bytes in one line of its output */
#define AGENT_PROFILE_MSG_MAX 512
/* Characters of a bad line quoted in a message. */
#define AGENT_PROFILE_QUOTE 80
/* On agent close: SIGTERM to a running measurement, SIGKILL after this. */
#define AGENT_PROFILE_KILL_MS 2000

enum agent_profile_phase {
	PROFILE_QUEUED,
	PROFILE_RUNNING,
	PROFILE_DONE,		/* result made, not sent yet (the link is down) */
};

/* One row of hare-worker --profile (a throughput.csv row; the type is the
 * request's). */
struct agent_profile_row {
	char model[AGENT_NAME_MAX];
	uint32_t workers;
	bool spread;		/* placement spread, else consolidated */
	double compute_s, sync_s;
	char source[AGENT_NAME_MAX];
};

/* One ProfileRequest: queued, running, or its result waiting for the link. */
struct agent_profile {
	struct agent_profile *next;
	char type[AGENT_NAME_MAX];
	char models[AGENT_PROFILE_MODELS_MAX][AGENT_NAME_MAX];
	uint32_t nmodels;
	enum agent_profile_phase phase;
	bool ok;
	bool cancelled;				/* by a ProfileCancel (not ok) */
	char message[AGENT_PROFILE_MSG_MAX];	/* why it failed ("" when ok) */
	struct agent_profile_row *rows;		/* every model's, in order */
	uint32_t nrows, cap;
	uint64_t start_ms;
};

/* The one hare-worker --profile process at a time: the running request's
 * current model. Its handles are reused for the next model once closed. */
struct agent_profile_run {
	struct agent_profile *p;	/* the running request (NULL: none) */
	uint32_t model;			/* index into p->models */
	uv_process_t proc;
	uv_pipe_t pipe;			/* its stdout */
	uv_timer_t timer;		/* the model's timeout, the wait for EOF after
					 * its exit, the kill on close (an agent handle) */
	int handles;			/* proc and pipe, until their close callbacks */
	bool proc_open, pipe_open;	/* not uv_close'd yet */
	bool exited, failed;
	bool cancelled;			/* by a ProfileCancel: answered as such */
	bool killed;			/* closing: SIGKILL sent after SIGTERM */
	int64_t exit_status;
	int term_signal;
	int pid;
	uint32_t rows;			/* rows of this model so far */
	uint64_t start_ms;
	char line[AGENT_PROFILE_LINE_MAX + 1];	/* the line being read */
	size_t linelen;
};

/* The node's health check (agent_health.c). */
struct agent_health {
	struct agent_script run;
	uv_timer_t timer;	/* the next run (an agent handle) */
	bool judged;		/* its outcome is said (at its timeout) */
	bool connect_waits;	/* the agent connects once the first run has ended */
	bool first_done;	/* an outcome is known */
	bool ok;
	char reason[256];	/* why not ok */
	uint64_t since_ms;	/* when ok last changed (or the first outcome came) */
};

struct agent_write {
	uv_write_t req;
	uint8_t *buf;
};

/* Test seam: where a link without a socket sends each encoded frame
 * (header included; borrowed for the call). See agent_link_connect. */
typedef void (*agent_link_sink_cb)(void *user, const uint8_t *frame, size_t len);

struct auth_hmac_key;

struct agent {
	uv_loop_t *loop;
	struct agent_config cfg;
	uint8_t key[AGENT_KEY_MAX];
	uint8_t hello_nonce[AGENT_NONCE_LEN];	/* this session's, in Hello.agent_nonce */
	/* once hared proved itself: every frame from it carries a tag with the
	 * session's key (auth_hmac_frame), the seq-th of the session */
	bool signed_in;
	struct auth_hmac_key *mac_in;
	uint64_t seq_in;
	/* ... and every frame to it after the Challenge carries a tag with the
	 * agent's own session key (Hello.tags), the seq_out-th */
	bool signed_out;
	struct auth_hmac_key *mac_out;
	uint64_t seq_out;
	size_t keylen;
	char host[256];
	char port[8];

	enum agent_link_state state;
	uv_getaddrinfo_t gai;
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	uv_tcp_t tcp;
	bool tcp_open;
	struct tls_link *tls;	/* cfg.tls: the session's TLS (NULL before connect) */
	uint8_t tls_first[512];	/* the first bytes back, kept until the handshake is
				 * done: hared may answer in the clear */
	size_t ntls_first;
	struct wire_reader reader;
	uint32_t attempt;	/* failed attempts since the last Welcome */
	uint64_t rng;		/* back-off jitter */

	uv_timer_t retry_timer;
	uv_timer_t heartbeat_timer;
	uv_timer_t flush_timer;
	int handles;		/* the agent's own open handles */
	int requests;		/* getaddrinfo / connect / shutdown in flight */
	char rbuf[65536];	/* read buffer for the link and the report pipes */
	uint8_t tbuf[16384];	/* what TLS decrypts of it */
	uint64_t start_ms;
	int lock_fd;		/* work_dir/agent.lock, flock'ed; -1 before agent_start */
	bool start_config_error;	/* agent_start: a folder of the config cannot be made */
	char link_why[400];	/* why the link last dropped or failed */
	uint64_t pruned_ms;	/* when output files were last pruned */

	struct agent_task *tasks;
	uint32_t ntasks;
	/* CGROUP/hare.NODE.HASH, where each run gets a cgroup ("": process
	 * groups only; agent_cgroup.c) */
	char cg_base[AGENT_CGROUP_BASE_MAX];
	bool cg_freeze_kill;	/* no cgroup.kill (before Linux 5.14): freeze, kill each */
	bool dev_on;		/* each worker's cgroup gets a device rule (agent_devices.c) */

	struct agent_health health;

	struct agent_profile *profiles;	/* in arrival order */
	struct agent_profile_run prof;

	agent_event_cb event_cb;
	void *event_user;
	bool closing;
	agent_close_cb close_cb;
	void *close_user;
	bool done;

	struct agent_stats stats;

	/* Test seams for fuzz targets, NULL in hare-agent itself. sink: the link
	 * has no socket (agent_link_connect, agent_link_feed). spawn_hook stands
	 * in for uv_spawn: 0 is a worker without a process or handle (pid 0) whose
	 * exit the caller reports with agent_task_on_exit. kill_hook stands in
	 * for kill(2) wherever a worker, a prolog or an epilog is signalled. */
	agent_link_sink_cb sink;
	void *sink_user;
	int (*spawn_hook)(struct agent_task *t, const uv_process_options_t *o);
	int (*kill_hook)(pid_t pid, int sig);
	/* profile_hook stands in for uv_spawn of hare-worker --profile: 0 is a
	 * process without a handle (pid 0) whose output the hook writes, during
	 * the call, to o->stdio[1].data.fd and whose exit the caller reports
	 * with agent_profile_on_exit. */
	int (*profile_hook)(struct agent *a, const uv_process_options_t *o);
};

/* agent_link.c: the session with the daemon */
/* Resolve and connect; with a sink set, "connect" at once and send Hello. */
void agent_link_connect(struct agent *a);
/* Handle stream bytes from the daemon: every whole frame is decoded and
 * dispatched until the link drops (on_read's work; the fuzz targets call it
 * with a sink in place of the socket). */
void agent_link_feed(struct agent *a, const uint8_t *data, size_t len);
/* Close the connection (if any); reconnect later unless closing. */
void agent_link_drop(struct agent *a, const char *why);
/* Encode and queue one message; -ENOTCONN when not registered (for
 * Register itself, when not past Welcome), else 0 or an encoding error. */
int agent_link_send(struct agent *a, const Hare__ToDaemon *m);
bool agent_link_is_ready(const struct agent *a);
/* Send a Heartbeat now (what the heartbeat timer sends). */
void agent_link_heartbeat(struct agent *a);
size_t agent_link_queued(const struct agent *a);
void agent_on_tcp_closed(uv_handle_t *h);

/* agent.c: lifecycle */
/* Read callbacks' buffer for a handle whose data is the agent: its rbuf
 * (the link, the measuring worker's output, the health check's). */
void agent_rbuf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
/* Close callback of the agent's own handles (data = the agent). */
void agent_on_handle_closed(uv_handle_t *h);
/* Free the agent once closing and nothing is left open. */
void agent_maybe_done(struct agent *a);
uint64_t agent_now_ms(const struct agent *a);

/* agent_log.c: workers' output files */
/* The task log directory; false when task_logs = none. */
bool agent_log_dir(const struct agent *a, char *buf, size_t len);
/* DIR/job-JOB.rank-RANK.log; false when none or too long. */
bool agent_log_path(const struct agent *a, uint64_t job, uint32_t rank, char *buf, size_t len);
/* Open (append) the output file of m's rank and write the lease's header;
 * sets t->log_off. The fd for the worker's stdout and stderr, or -1 (none:
 * they go to the agent's own stderr). */
int agent_log_open(struct agent_task *t, const Hare__TaskStart *m, const char *gpu_type);
/* Append a line saying how t's lease ended (when it has a file). */
void agent_log_end(const struct agent_task *t);
/* The last non-empty line t's worker wrote in its lease ("" if unknown). */
void agent_log_last_line(const struct agent_task *t, char *out, size_t len);
/* Delete output files unchanged for task_log_keep_days of jobs with no
 * worker here (at start, then every AGENT_LOG_PRUNE_MS: agent_log_prune_due).
 * Returns how many were deleted. */
#define AGENT_LOG_PRUNE_MS (6 * 3600 * 1000ull)
uint32_t agent_log_prune(struct agent *a, time_t now);
/* agent_log_prune when AGENT_LOG_PRUNE_MS have passed since the last one
 * (heartbeats while connected, reconnect attempts while not). */
void agent_log_prune_due(struct agent *a);
/* Answer a LogFetch with the end of the rank's file here. */
void agent_log_on_fetch(struct agent *a, const Hare__LogFetch *m);

/* agent_task.c: workers */
void agent_task_start(struct agent *a, const Hare__TaskStart *m);
void agent_task_stop(struct agent *a, uint64_t job_id, uint64_t lease_id, const char *reason);
/* Send every pending report whose batching interval passed (all with force);
 * returns true while some remain pending. */
bool agent_tasks_flush(struct agent *a, bool force);
/* Send the TaskExit of every ended task (after its last report); returns
 * true while some could not be sent yet. */
bool agent_tasks_send_exits(struct agent *a);
/* Running tasks as RunningTask messages (for Register and Heartbeat);
 * *out is one allocation the caller frees. -ENOMEM. */
int agent_tasks_running(struct agent *a, Hare__RunningTask ***out, size_t *n);
/* Rounds t's worker completed in its lease, as far as the agent knows
 * (an adopted worker's earlier rounds are known once it reports again). */
uint64_t agent_task_rounds(const struct agent_task *t);
/* Tasks whose worker runs (or may run: adopted, pipe open). */
uint32_t agent_tasks_live(const struct agent *a);
/* The worker's exit status arrived (spawned tasks only). */
void agent_task_on_exit(struct agent_task *t, int64_t status, int sig);
/* kill(2), or the kill_hook where one is set. */
int agent_kill(const struct agent *a, pid_t pid, int sig);
/* Signal t's worker's process group (or the worker); nothing without a pid. */
void agent_task_signal(struct agent_task *t, int sig);
/* Close every task's handles, leaving the workers running. */
void agent_tasks_close(struct agent *a);
/* Arm the batching timer if it is not running. */
void agent_flush_timer_arm(struct agent *a);

/* agent_spawn.c: starting a worker */
/* A NULL-terminated vector of heap strings (argv, environment). */
struct agent_strv {
	char **v;
	size_t n, cap;
	bool failed;		/* out of memory on some add: v is incomplete */
};
/* Append one formatted string; on failure set s->failed and add nothing more. */
__attribute__((format(printf, 2, 3)))
void agent_strv_add(struct agent_strv *s, const char *fmt, ...);
void agent_strv_free(struct agent_strv *s);
/* Append the agent's environment less what the agent sets for its children
 * (HARE_*, CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER). */
void agent_env_inherit(struct agent_strv *env);
/* Why m cannot run here (bad GPU index, missing field ...) into why, or
 * leave why empty. */
void agent_spawn_check(const struct agent *a, const Hare__TaskStart *m, char *why, size_t len);
/* Make the report FIFO and spawn the worker (or the job's command) for t.
 * 0, or a negative code with the reason in why. */
int agent_spawn(struct agent_task *t, const Hare__TaskStart *m, char *why, size_t len);

/* The account a worker runs as (agent_user.c). */
struct agent_account {
	uid_t uid;
	gid_t gid;
	bool passwd;			/* has a passwd entry (else a bare "uidN") */
	char name[64];
	char home[AGENT_PATH_MAX];
};

/* Look an account name up on this node ("uidN" without a passwd entry:
 * that uid, group nogroup). 0, -ENOENT (no such account), -EIO (the
 * lookup failed), or -EINVAL (not an account name), with the reason in
 * why. */
int agent_account_find(const char *name, struct agent_account *acc, char *why, size_t len);

/* The account m's worker runs as: 1 with it in acc (the agent is root with
 * run_as_owner, and m names a user), 0 (the agent's, whoever owns the
 * job: not root, run_as_owner off, or no user in m), or -errno with the
 * reason in why: -ESRCH when the node has no account of that name (the
 * job's matter: TaskExit.no_account), another when the lookup failed. */
int agent_account_of(const struct agent *a, const Hare__TaskStart *m, struct agent_account *acc,
		     char *why, size_t len);

/* Whether acc is another account than the agent's (the worker drops root). */
bool agent_account_other(const struct agent_account *acc);

/* Make work_dir/checkpoints/JOB the account's (0700). One there of another
 * account is given to it when a system account's (uid below 1000: root's,
 * or the agent's own before an upgrade), else removed (another job's);
 * either walked by descriptors, never through a link. 0, or -errno with
 * the reason. */
int agent_account_ckpt_dir(const struct agent *a, uint64_t job, const struct agent_account *acc,
			   char *why, size_t len);

/* Remove the empty checkpoint folders of jobs with no task here (a worker
 * of another account empties its own but cannot remove it); with the
 * output files' pruning. */
void agent_account_ckpt_sweep(const struct agent *a);

/* In the agent's child before it execs a program: nothing the agent
 * inherited goes on, only stdin, stdout, stderr and the report pipe (fd 3). */
void agent_close_inherited(void);

/* At start, as root with run_as_owner: work_dir and its tasks/ let
 * other accounts through (search permission only). */
void agent_account_dirs(const struct agent *a);

/* agent_prolog.c: a task's prolog and epilog */
/* Whether prolog or epilog is set. */
bool agent_prolog_on(const struct agent *a);
/* How much longer than stop_grace_ms a stopped task's exit may take for
 * them (Register.script_grace_ms). */
uint32_t agent_prolog_grace_ms(const struct agent *a);
/* At t's allocation: its script, when prolog or epilog is set. */
void agent_prolog_init(struct agent_task *t);
/* Start t's prolog (TASK_PROLOG), keeping m for the worker's start once it
 * passed (agent_task_launch); one that cannot be started (out of memory)
 * fails the task. False without a prolog: the caller launches the worker
 * now. */
bool agent_prolog_start(struct agent_task *t, const Hare__TaskStart *m);
/* A TaskStop during t's prolog: the prolog is killed, no worker starts. */
void agent_prolog_stop(struct agent_task *t);
/* t's outcome is known: start its epilog (TASK_EPILOG; its end sends the
 * exit); false without one (or the agent closing). */
bool agent_epilog_start(struct agent_task *t);
/* What t holds of them, at its free. */
void agent_prolog_free(struct agent_task *t);
/* At the agent's start: a warning for a prolog or epilog that would not
 * run now (agent_health_check_ok). */
void agent_prolog_check(const struct agent *a);

/* agent_reap.c: the wait, at a task's end, for its processes to be gone */
#define AGENT_REAP_POLL_MS 50	/* how often it looks (each 0.5 s after 1 s) */
#define AGENT_REAP_KILL_MS 1000	/* how often it sends SIGKILL again */
/* t's outcome is known and what was left of it SIGKILLed: true when some of
 * its processes are still there (in its cgroup, or in its process group
 * while that is the worker's) and the wait for them has begun
 * (TASK_REAPING; agent_task_finish follows once they are gone, or with a
 * node fault after unkillable_timeout_s); false when nothing is left, or
 * with unkillable_timeout_s 0. */
bool agent_reap_start(struct agent_task *t);
/* A restarted agent's task that was in its wait, begun at since (ms since
 * boot; 0: unknown): its cgroup killed again and the wait goes on for the
 * rest of the time (false: no cgroup, nothing left, or no wait). */
bool agent_reap_resume(struct agent_task *t, uint64_t since);
/* Up to len - 1 bytes naming the processes still there ("" when none);
 * how many there are. */
int agent_reap_survivors(const struct agent_task *t, char *out, size_t len);

/* agent_rdv.c: the rendezvous relay */
/* The lease's id file: work_dir/tasks/JOB.LEASE.rdv */
void agent_rdv_path(const struct agent *a, uint64_t job, uint64_t lease, char *buf, size_t len);
/* A worker's rendezvous line: write the lease's file, send it to the daemon. */
void agent_rdv_on_line(struct agent_task *t, const struct report_line *l);
/* The daemon's Rendezvous: checked, then written for the lease's local workers. */
void agent_rdv_on_message(struct agent *a, const Hare__Rendezvous *r);
/* Send what workers announced while the link was down. */
void agent_rdv_send_pending(struct agent *a);
/* t is gone: remove the lease's file when no other task of it is left. */
void agent_rdv_release(const struct agent_task *t);
/* On start, after adoption: remove id files of leases with no task here. */
void agent_rdv_sweep(struct agent *a);
/* t's worker has started after its prolog: the lease's data that came
 * meanwhile (t->rdv_held) is written for it. */
void agent_rdv_after_prolog(struct agent_task *t);

/* agent_profile.c: measuring GPU types the daemon's profile lacks */
/* The daemon's ProfileRequest: refused at once (ProfileResult ok=false),
 * ignored as a duplicate, or queued to run. */
void agent_profile_on_request(struct agent *a, const Hare__ProfileRequest *m);
/* The daemon's ProfileCancel: a running measurement of the type ends
 * (SIGKILL) and is answered once it exited, a queued one at once, both as
 * ProfileResult{ok = false, cancelled = true}; a result made already goes
 * out as it is. */
void agent_profile_on_cancel(struct agent *a, const Hare__ProfileCancel *m);
/* Send the results made while the link was down (after Register). */
void agent_profile_send_pending(struct agent *a);
/* The types of Register.measuring: queued, running, or with a result not
 * sent yet (*types borrows their names; the caller frees the array). */
int agent_profile_measuring(struct agent *a, char ***types, size_t *n);
/* Free a request and its rows (unlinked already). */
void agent_profile_free(struct agent_profile *p);
/* Text of an untrusted string for a message or the log: at most max
 * characters, control and non-ASCII bytes as '?', "..." when cut. */
void agent_profile_quote(const char *s, size_t len, size_t max, char *out, size_t outlen);
/* How many of this node's GPUs are of type, and whether any is emulated. */
uint32_t agent_profile_gpus(const struct agent *a, const char *type, bool *emulated);
/* p is done: an older result for its type not sent yet is replaced by it
 * (one pending result per type), then it goes out if the link is up. */
void agent_profile_done(struct agent *a, struct agent_profile *p);

/* agent_profile_run.c: running hare-worker --profile for a request */
/* Start the first queued request when nothing runs. */
void agent_profile_next(struct agent *a);
/* The running model failed (the first reason counts): its output is of no
 * use any more, nor is the process (SIGKILL). */
__attribute__((format(printf, 2, 3)))
void agent_profile_fail(struct agent *a, const char *fmt, ...);
/* The running hare-worker --profile exited (the profile_hook's caller
 * reports it; the agent's own processes report through uv_spawn). */
void agent_profile_on_exit(struct agent *a, int64_t status, int sig);
/* Agent close: forget every request, SIGTERM a running measurement and
 * close its handles once it exited (SIGKILL after AGENT_PROFILE_KILL_MS). */
void agent_profile_close(struct agent *a);

/* agent_script.c: an operator's program run as the agent */
/* Make s (its timer: handles 1) for runs of what, owned by data. */
void agent_script_init(struct agent_script *s, struct agent *a, const char *what, void *data,
		       agent_script_fn on_end, agent_script_fn on_closed);
/* Start a run of the program at path (checked first) with env, killed
 * after timeout_s; s must not be running. Its end, a failed start too,
 * comes through on_end at a later turn of the loop. */
void agent_script_run(struct agent_script *s, const char *path, char **env, uint32_t timeout_s);
/* The ended run's outcome in words ("prolog exited with status 1: LINE");
 * true when it passed (exit status 0). */
bool agent_script_outcome(struct agent_script *s, char *out, size_t len);
/* The last line of its output that is not blank, cleaned ("" if none). */
void agent_script_last_line(struct agent_script *s, char *out, size_t len);
/* SIGKILL to a running run's process group. */
void agent_script_kill(struct agent_script *s);
/* Kill a running run for its owner's sake (a stop): as at its timeout, it
 * is given up as stuck (on_stuck) if it does not end. */
void agent_script_stop(struct agent_script *s);
/* Kill a running run and close the handles (on_closed hears of each). */
void agent_script_close(struct agent_script *s);

/* agent_cgroup.c: a cgroup v2 for each run */
/* At start: the agent's cgroup folder, per cfg.cgroup. 0 (on, or process
 * groups only), or -errno with err said when cgroup = yes cannot be had. */
int agent_cgroup_init(struct agent *a, char *err, size_t errlen);
bool agent_cgroup_on(const struct agent *a);
/* Make the cgroup NAME for a run (what an earlier run left in it is
 * killed): its path in out; false (out "") when off or it cannot be made. */
bool agent_cgroup_make(struct agent *a, const char *name, char *out, size_t len);
/* Start av with the shim that puts the program in dir before it execs
 * (must: a program that cannot join is not run). */
void agent_cgroup_argv(struct agent_strv *av, const char *dir, bool must);
/* SIGKILL to every process in dir (cgroup.kill; the kill_hook, where one
 * is set, for each). 0, or -errno; nothing for "". */
int agent_cgroup_kill(const struct agent *a, const char *dir);
/* sig to each process in dir outside process group pgid (which the caller
 * signals itself). */
void agent_cgroup_signal(const struct agent *a, const char *dir, int sig, pid_t pgid);
/* 1 while dir holds a process, 0 once empty, -errno. */
int agent_cgroup_populated(const char *dir);
/* Whether a state file's path is a cgroup v2 folder named name, in an
 * agent's folder (hare.*), the path itself (no link, no ".."). */
bool agent_cgroup_adoptable(const char *path, const char *name);
/* Remove the cgroups of runs that are over (empty ones; at start, those of
 * no adopted task are emptied first). */
void agent_cgroup_sweep(struct agent *a, bool start);
/* Agent close: remove what is empty, the agent's folder too. */
void agent_cgroup_close(struct agent *a);

/* agent_devices.c: each worker may open its lease's GPUs' device files only */
/* At start, after agent_cgroup_init: whether isolation is on, per
 * cfg.constrain_devices. 0 (on, or off with an info line why), or -errno
 * with err said when constrain_devices = yes cannot be had. */
int agent_devices_init(struct agent *a, char *err, size_t errlen);
bool agent_devices_on(const struct agent *a);
/* Attach to cgroup (the worker's, before it joins) the rule that denies
 * the device files of every GPU of the node but gpu and the nalso GPUs of
 * also (its lease's others there). 0, or -errno with why said. */
int agent_devices_limit(const struct agent *a, const char *cgroup, uint32_t gpu,
			const uint32_t *also, size_t nalso, char *why, size_t len);

/* agent_health.c: the node's health check */
/* The agent's environment (less HARE_* and CUDA_*) and the node's:
 * HARE_NODE, HARE_GPU_INDICES, HARE_GPU_TYPES, HARE_GPUS_EMULATED,
 * HARE_WORK_DIR (the health check's; a prolog's and an epilog's start). */
void agent_script_env_node(struct agent_strv *env, const struct agent *a);
/* Whether health_check is set. */
bool agent_health_on(const struct agent *a);
/* Fill h with the last outcome (for Register and Heartbeat), or say it is
 * pending (no run has ended yet); false without a check. */
bool agent_health_fill(const struct agent *a, Hare__NodeHealth *h);
/* Run the check now, and then every health_check_interval_s. True when
 * the first outcome connects to hared (agent_start waits for it); false
 * without a check, or with workers adopted (the agent connects now). */
bool agent_health_start(struct agent *a);
/* Agent close: SIGKILL a running check's process group, close the handles. */
void agent_health_close(struct agent *a);

/* agent_state.c: task state files and adoption */
int agent_state_dir_make(struct agent *a, char *err, size_t errlen);
/* Locks work_dir/agent.lock (-EBUSY, with the holder's pid in err, when
 * another agent has it); the lock is a->lock_fd until the agent is freed. */
int agent_state_lock(struct agent *a, char *err, size_t errlen);
int agent_state_write(const struct agent_task *t);
void agent_state_remove(const struct agent_task *t);
void agent_state_adopt_all(struct agent *a);
/* Read reports from fd (the FIFO's read end; taken over, closed on error). */
int agent_task_pipe_attach(struct agent_task *t, int fd);
/* An adopted worker is not our child: look every AGENT_ADOPT_WATCH_MS
 * whether it is gone, to end its task as a child's exit would. */
void agent_task_watch(struct agent_task *t);
/* pid runs (a zombie does not; pids 0 and 1 are never a worker of ours),
 * and, with start != 0, is the process that started then (not a later one
 * given the same pid). */
bool agent_pid_alive(int pid, uint64_t start);
/* When process pid started (clock ticks since boot; 0 when unknown). */
uint64_t agent_pid_start(int pid);
/* This boot's id (/proc/sys/kernel/random/boot_id; "" when unknown): a
 * task state's pids are of the boot it names. */
const char *agent_boot_id(void);
/* /proc/PID/stat into buf (len bytes), *rest after the command's ")": "S
 * ppid pgrp ..."; false when it cannot be read. */
bool agent_proc_stat(int pid, char *buf, size_t len, const char **rest);
/* "; more" added to t's message, cut (at a character's start) to fit. */
void agent_task_message_add(struct agent_task *t, const char *more);
/* Close callback of a task's handles (data = the task). */
void agent_task_on_handle_closed(uv_handle_t *h);
struct agent_task *agent_task_alloc(struct agent *a, uint64_t job, uint64_t lease, uint32_t rank);
/* t's worker has ended (or never ran) and its outcome is set, or set here:
 * what was left of it is SIGKILLed, and once gone (agent_reap_start)
 * agent_task_finish follows. */
void agent_task_end(struct agent_task *t);
/* Its end in its output file, then its epilog (TASK_EPILOG) or its exit
 * (TASK_ENDED). */
void agent_task_finish(struct agent_task *t);
/* Start t's worker for m (after its prolog, if any). */
void agent_task_launch(struct agent_task *t, const Hare__TaskStart *m);
/* One of t's prolog's handles closed: free t if it is done with. */
void agent_task_handle_gone(struct agent_task *t);

#endif
