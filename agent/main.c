/* SPDX-License-Identifier: MIT */
/* hare-agent: one per node; registers the node's GPUs with hared and runs
 * the workers it is sent, under systemd (Type=notify) or by hand. */
#include "agent.h"

#include "err.h"
#include "log.h"
#include "hare.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifdef HARE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
static int sd_notify(int unset, const char *state)
{
	(void)unset;
	(void)state;
	return 0;
}
#endif

enum { EXIT_USAGE = 2 };

struct agent_main {
	uv_loop_t *loop;
	struct agent *agent;
	uv_signal_t sig_term, sig_int, sig_hup;
	char daemon[256];
};

static const char agent_usage[] =
	"usage: hare-agent [--config FILE] [--daemon HOST:PORT] [--node NAME]\n"
	"                  [--gpus V100:4,T4:4] [--key-file FILE] [--work-dir DIR]\n"
	"                  [--worker PATH] [--worker-engine emulate|cpu]\n"
	"                  [--tls yes|no] [--health-check PROGRAM]\n"
	"                  [--prolog PROGRAM] [--epilog PROGRAM] [--cgroup auto|yes|no]\n"
	"                  [--constrain-devices auto|yes|no]\n"
	"                  [--log-level LEVEL] [--list-gpus]\n"
	"Connects to hared, registers this node's GPUs and runs the workers it is sent.\n"
	"  --config FILE          INI file with an [agent] section\n"
	"                         (default " AGENT_DEFAULT_CONFIG ")\n"
	"  --daemon HOST:PORT     hared's agent address (key daemon)\n"
	"  --node NAME            this node's name (key node; default: short host name)\n"
	"  --gpus LIST            emulated GPUs, TYPE:COUNT,... or none (key gpus;\n"
	"                         default: the real GPUs, found with NVML)\n"
	"  --key-file FILE        the cluster key, or this node's own where hared has one\n"
	"                         (key cluster_key_file)\n"
	"  --work-dir DIR         task state, reports, checkpoints (key work_dir)\n"
	"  --worker PATH          the hare-worker program (key worker)\n"
	"  --worker-engine E      emulated GPUs: emulate (sleep) or cpu (real training\n"
	"                         on the CPU engine) (key worker_engine)\n"
	"  --tls yes|no           the link to hared in TLS 1.3, keyed with the key file\n"
	"                         (key tls; default yes; no: for a hared older than\n"
	"                         this agent, and in the clear)\n"
	"  --health-check PROGRAM the node's health check (key health_check; default\n"
	"                         none): run at start, before registering, then every\n"
	"                         health_check_interval_s; while it exits non-zero\n"
	"                         hared plans nothing here (its last line says why)\n"
	"  --prolog PROGRAM       run before each worker starts (key prolog; default\n"
	"                         none); a failure fails the task and hared drains\n"
	"                         the node\n"
	"  --epilog PROGRAM       run after each worker ended, before its end is told\n"
	"                         (key epilog; default none); a failure drains the node\n"
	"  --cgroup auto|yes|no   each worker, prolog and epilog in a cgroup v2 of its\n"
	"                         own, so what escapes its process group is killed\n"
	"                         with it (key cgroup; default auto: where the agent\n"
	"                         may make one; yes: required)\n"
	"  --constrain-devices auto|yes|no   a worker may open its lease's GPUs'\n"
	"                         device files and no other GPU's (a BPF rule on\n"
	"                         its cgroup; key constrain_devices; default auto:\n"
	"                         on real GPUs\n"
	"                         where the agent has cgroups and may load BPF;\n"
	"                         yes: required)\n"
	"  --log-level LEVEL      error, warn, info or debug (key log_level)\n"
	"  --list-gpus            print the GPUs the agent would register, then exit\n"
	"  -h, --help             this help\n"
	"  --version              the version and the protocol version\n"
	"Keys without a flag (docs/agent.md): report_interval_ms, heartbeat_ms,\n"
	"stop_grace_ms, max_frame,\n"
	"  task_logs DIR          workers' output files (default work_dir/logs; none:\n"
	"                         the agent's stderr)\n"
	"  task_log_keep_days N   remove output files unchanged this long (default 30;\n"
	"                         0: keep)\n"
	"  worker_orphan_timeout_s, worker_progress_s   passed to hare-worker\n"
	"and for measuring GPU types hared's profile lacks:\n"
	"  profile_unknown M      auto (default: on real GPUs only), yes (emulated ones\n"
	"                         too, on the CPU engine) or no\n"
	"  profile_proxy SIZES    hare-worker --proxy when measuring (default none)\n"
	"  profile_iters N        hare-worker --profile-iters (default: the worker's)\n"
	"  profile_timeout_s S    one model's measurement at most (default 3600)\n"
	"and for the health check:\n"
	"  health_check_interval_s S   from one run's end to the next (default 60)\n"
	"  health_check_timeout_s S    a run is killed after this (default 30)\n"
	"  prolog_timeout_s S, epilog_timeout_s S   killed, and failed, after this\n"
	"                              (default 60 each)\n"
	"  unkillable_timeout_s S   a task's end waits this long for its processes to\n"
	"                         die of SIGKILL, then the node is drained (default 60;\n"
	"                         0: no wait)\n"
	"Flags override the config file's keys.\n";

static const struct option agent_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "daemon", required_argument, NULL, 'd' },
	{ "node", required_argument, NULL, 'n' },
	{ "gpus", required_argument, NULL, 'g' },
	{ "key-file", required_argument, NULL, 'k' },
	{ "work-dir", required_argument, NULL, 'w' },
	{ "worker", required_argument, NULL, 'W' },
	{ "worker-engine", required_argument, NULL, 'E' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "tls", required_argument, NULL, 'T' },
	{ "health-check", required_argument, NULL, 'H' },
	{ "prolog", required_argument, NULL, 'p' },
	{ "epilog", required_argument, NULL, 'e' },
	{ "cgroup", required_argument, NULL, 'C' },
	{ "constrain-devices", required_argument, NULL, 'D' },
	{ "list-gpus", no_argument, NULL, 'L' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Config key each override flag sets. */
static const char *agent_flag_key(int c)
{
	switch (c) {
	case 'd': return "daemon";
	case 'n': return "node";
	case 'g': return "gpus";
	case 'k': return "cluster_key_file";
	case 'w': return "work_dir";
	case 'W': return "worker";
	case 'E': return "worker_engine";
	case 'l': return "log_level";
	case 'T': return "tls";
	case 'H': return "health_check";
	case 'p': return "prolog";
	case 'e': return "epilog";
	case 'C': return "cgroup";
	case 'D': return "constrain_devices";
	default: return NULL;
	}
}

static const char *agent_flag_name(int c)
{
	for (const struct option *o = agent_longopts; o->name; o++) {
		if (o->val == c)
			return o->name;
	}
	return "?";
}

static bool agent_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Whether the worker can be started as uv_spawn starts it: a name without
 * '/' from PATH (execvp), a relative path from work_dir (the workers' cwd). */
static bool agent_worker_found(const char *worker, const char *work_dir)
{
	char path[4096];
	const char *env = getenv("PATH"), *p;

	if (strchr(worker, '/')) {
		if (worker[0] == '/')
			return agent_executable(worker);
		snprintf(path, sizeof(path), "%s/%s", work_dir, worker);
		return agent_executable(path);
	}
	for (p = env && env[0] ? env : "/usr/local/bin:/usr/bin:/bin"; ; p++) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		snprintf(path, sizeof(path), "%.*s/%s", (int)n, n ? p : ".", worker);
		if (agent_executable(path))
			return true;
		if (!end)
			return false;
		p = end;
	}
}

/* Whether a config file was read (a missing setting's hint names it). */
static bool agent_config_read;

/* Load the config file, then apply the flags over it. 0, 1 (--help), or
 * an exit code > 1 after printing why. */
static int agent_main_config(int argc, char **argv, struct agent_config *cfg, bool *list)
{
	const char *path = NULL;
	char err[512];
	int c, rc;

	agent_config_defaults(cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", agent_longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(agent_usage, stdout);
			return 1;
		}
		if (c == 'V') {
			printf("hare-agent %s (protocol %d)\n", HARE_VERSION,
			       HARE__VERSION__PROTOCOL_VERSION);
			return 1;
		}
		if (c == '?') {
			fprintf(stderr, "hare-agent: unknown flag or missing value '%s' (see --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (c == 'c')
			path = optarg;
		*list |= c == 'L';
	}
	if (optind < argc) {
		fprintf(stderr, "hare-agent: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	agent_config_read = path || access(AGENT_DEFAULT_CONFIG, F_OK) == 0;
	if (agent_config_read) {
		rc = agent_config_load(cfg, path ? path : AGENT_DEFAULT_CONFIG, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "hare-agent: %s\n", err);
			return EXIT_USAGE;
		}
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", agent_longopts, NULL)) != -1) {
		const char *key = agent_flag_key(c);

		if (key && agent_config_set(cfg, key, optarg, err, sizeof(err)) < 0) {
			fprintf(stderr, "hare-agent: --%s: %s\n", agent_flag_name(c), err);
			return EXIT_USAGE;
		}
	}
	if (cfg->log_level[0])
		log_level_set(cfg->log_level);
	return 0;
}

/* Real GPUs through NVML when the config lists none; none found is not an
 * error (a CPU-only node still registers). */
static void agent_main_discover(struct agent_config *cfg)
{
	uint32_t unknown = 0;
	char err[256] = "";
	int rc;

	if (cfg->gpus_set)
		return;
	rc = agent_gpus_discover(cfg->gpus, AGENT_GPUS_MAX, &cfg->ngpus, &unknown, err, sizeof(err));
	if (rc < 0)
		log_warn("agent gpus=0: %s (set gpus = TYPE:COUNT in [agent] to emulate GPUs)", err);
	else if (cfg->ngpus == 0)
		log_warn("agent gpus=0: NVML found no GPU");
	for (uint32_t i = 0; i < cfg->ngpus && unknown > 0; i++) {
		char type[AGENT_NAME_MAX];

		if (!agent_gpu_type_from_name(cfg->gpus[i].type, type, sizeof(type)))
			log_warn("agent gpu=%u type=%s is not a known profile type; the daemon may refuse it",
				 i, cfg->gpus[i].type);
	}
}

static void agent_main_list(const struct agent_config *cfg)
{
	printf("index type memory_mib emulated device uuid\n");
	for (uint32_t i = 0; i < cfg->ngpus; i++) {
		const struct agent_gpu *g = &cfg->gpus[i];
		char dev[32] = "-";

		if (g->has_dev)
			snprintf(dev, sizeof(dev), "%u:%u", major(g->dev), minor(g->dev));
		printf("%u %s %llu %s %s %s\n", g->index, g->type, (unsigned long long)g->memory_mib,
		       g->emulated ? "yes" : "no", dev, g->uuid[0] ? g->uuid : "-");
	}
}

static void on_agent_event(void *user, enum agent_event ev)
{
	struct agent_main *m = user;
	char status[720];

	if (ev == AGENT_EVENT_REGISTERED)
		snprintf(status, sizeof(status), "STATUS=registered with %s", m->daemon);
	else
		snprintf(status, sizeof(status), "STATUS=reconnecting to %s (%.400s)", m->daemon,
			 m->agent ? agent_link_why(m->agent) : "");
	sd_notify(0, status);
}

static void on_agent_closed(void *user)
{
	struct agent_main *m = user;

	m->agent = NULL;
	uv_close((uv_handle_t *)&m->sig_term, NULL);
	uv_close((uv_handle_t *)&m->sig_int, NULL);
	uv_close((uv_handle_t *)&m->sig_hup, NULL);
}

/* SIGHUP (a closed terminal, a reload by habit): the agent goes on. */
static void on_hup(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	log_warn("agent signal=SIGHUP ignored: restart hare-agent to apply a new configuration "
		 "(its workers keep running)");
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct agent_main *m = s->data;

	log_info("agent signal=%s: stopping (workers keep running)", strsignal(signum));
	sd_notify(0, "STOPPING=1");
	uv_signal_stop(&m->sig_term);
	uv_signal_stop(&m->sig_int);
	if (m->agent)
		agent_close(m->agent, on_agent_closed, m);
}

static int agent_main_run(struct agent_main *m, const struct agent_config *cfg)
{
	uint8_t key[AGENT_KEY_MAX];
	char err[512], status[360];
	size_t keylen;
	bool loose;
	int rc;

	rc = agent_key_load(cfg->key_file, key, sizeof(key), &keylen, &loose, err, sizeof(err));
	if (rc < 0) {
		log_error("agent cluster key: %s", err);
		return EXIT_USAGE;
	}
	if (loose)
		log_warn("agent cluster key %s is readable by group or others; chmod 600 it", cfg->key_file);
	m->loop = uv_default_loop();
	snprintf(m->daemon, sizeof(m->daemon), "%s", cfg->daemon);
	rc = agent_new(m->loop, cfg, key, keylen, &m->agent);
	explicit_bzero(key, sizeof(key));
	if (rc < 0) {
		log_error("agent: out of memory");
		return EXIT_FAILURE;
	}
	agent_event_cb_set(m->agent, on_agent_event, m);
	uv_signal_init(m->loop, &m->sig_term);
	uv_signal_init(m->loop, &m->sig_int);
	uv_signal_init(m->loop, &m->sig_hup);
	m->sig_term.data = m->sig_int.data = m->sig_hup.data = m;
	uv_signal_start(&m->sig_term, on_signal, SIGTERM);
	uv_signal_start(&m->sig_int, on_signal, SIGINT);
	uv_signal_start(&m->sig_hup, on_hup, SIGHUP);
	rc = agent_start(m->agent, err, sizeof(err));
	if (rc < 0) {
		/* 2: the unit does not restart what a restart will not fix */
		int code = agent_start_config_error(m->agent) ? EXIT_USAGE : EXIT_FAILURE;

		log_error("agent: %s", err);
		agent_close(m->agent, on_agent_closed, m);
		uv_run(m->loop, UV_RUN_DEFAULT);
		return code;
	}
	log_info("agent start node=%s daemon=%s tls=%s gpus=%u worker=%s work_dir=%s", cfg->node,
		 cfg->daemon, cfg->tls ? "yes" : "no", cfg->ngpus, cfg->worker, cfg->work_dir);
	/* Ready once it runs: its workers are adopted and it is connecting.
	 * Waiting for hared here would hold up systemctl and the boot (the
	 * target waits for its units) while hared is down or the key wrong. */
	snprintf(status, sizeof(status), "READY=1\nSTATUS=%s%s", cfg->health_check[0] ?
		 "running the first health check, then connecting to " : "connecting to ",
		 m->daemon);
	sd_notify(0, status);
	uv_run(m->loop, UV_RUN_DEFAULT);
	uv_loop_close(m->loop);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_main m = { 0 };
	struct agent_config cfg;
	bool list = false;
	char err[512];
	int rc;

	/* the agent's own child becoming a job's owner (agent_user.c) */
	if (argc > 1 && strcmp(argv[1], "--exec-as") == 0)
		return agent_exec_as(argc, argv);
	/* ... or joining its cgroup (agent_cgroup.c) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);
	/* a daemon that went away must not kill the agent mid-write */
	signal(SIGPIPE, SIG_IGN);
	rc = agent_main_config(argc, argv, &cfg, &list);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	agent_main_discover(&cfg);
	if (list) {
		agent_main_list(&cfg);
		return 0;
	}
	if (agent_config_finish(&cfg, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "hare-agent: %s%s\n", err, agent_config_read ? "" :
			" (no " AGENT_DEFAULT_CONFIG " and no --config: give the settings as flags, "
			"see --help)");
		return EXIT_USAGE;
	}
	/* a node whose every task would fail to start must not register:
	 * hared would send it jobs until their retries run out */
	if (!agent_worker_found(cfg.worker, cfg.work_dir)) {
		fprintf(stderr, "hare-agent: worker %s is not an executable file (a name without '/' "
			"is looked up in PATH, a relative path in work_dir %s); set worker in [agent] "
			"or --worker\n", cfg.worker, cfg.work_dir);
		return EXIT_USAGE;
	}
	/* a typo in an emulated type is a type nobody profiled: say so */
	for (uint32_t i = 0; i < cfg.ngpus; i++) {
		char known[AGENT_NAME_MAX], all[256];
		bool seen = false;

		for (uint32_t k = 0; k < i; k++)
			seen |= strcmp(cfg.gpus[k].type, cfg.gpus[i].type) == 0;
		if (seen || !cfg.gpus[i].emulated)
			continue;
		if (agent_gpu_type_from_name(cfg.gpus[i].type, known, sizeof(known)) &&
		    strcmp(known, cfg.gpus[i].type) == 0)
			continue;
		agent_gpu_types_known(all, sizeof(all));
		log_warn("agent emulated GPU type '%s' is none of %s: unless hared's profile has it, "
			 "its GPUs stay unused or are measured (profile_unknown)", cfg.gpus[i].type, all);
	}
	return agent_main_run(&m, &cfg);
}
