/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's core and hare-worker: config (with file:line
 * errors), GPU lists, NVML names, HMAC, the emulated worker's output, and
 * the whole relay path (spawn, report lines, RoundReport/TaskExit, stop,
 * reconnect, adoption) against a fake daemon on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "agent_impl.h"	/* kill_hook: see test_adopt_damaged_state */
#include "err.h"
#include "frame.h"
#include "log.h"
#include "spawn_stdout.h"
#include "tls_link.h"
#include "utf8.h"
#include "workloads/report.h"

#define WORKER_BIN HARE_BINARY_DIR "/workloads/hare-worker"
#define AGENT_BIN HARE_BINARY_DIR "/agent/hare-agent"
#define TEST_KEY "0123456789abcdef-test-cluster-key"

/* A fresh directory under $TMPDIR (or /tmp) into buf. */
static void temp_dir(char *buf, size_t len, const char *what)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, len, "%s/hare-test-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", what);
	assert_non_null(mkdtemp(buf));
}

static double now_s(void)
{
	return (double)uv_hrtime() * 1e-9;
}

/* ---- configuration ---- */

static bool file_exists(const char *path);
static void read_text(const char *path, char *buf, size_t len);

/* Accounts workers run as: a passwd name, a bare uid as hared names it
 * (group nogroup), and a name this node lacks, refused with a reason. */
static void test_account_find(void **state)
{
	struct agent_account acc;
	char why[256] = "";

	(void)state;
	assert_int_equal(agent_account_find("root", &acc, why, sizeof(why)), 0);
	assert_int_equal(acc.uid, 0);
	assert_true(acc.passwd);
	assert_int_equal(agent_account_find("uid4242", &acc, why, sizeof(why)), 0);
	assert_int_equal(acc.uid, 4242);
	assert_int_equal(acc.gid, 65534);
	assert_false(acc.passwd);
	assert_string_equal(acc.home, "/");
	assert_int_equal(agent_account_find("no-such-user-hq7", &acc, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "user 'no-such-user-hq7' has no account on this node");
	assert_int_equal(agent_account_find("uid042", &acc, why, sizeof(why)), -ENOENT);
	assert_int_equal(agent_account_find("uid99999999999", &acc, why, sizeof(why)), -ENOENT);
	assert_int_equal(agent_account_find("", &acc, why, sizeof(why)), -EINVAL);
}

static void test_config_ok(void **state)
{
	struct agent_config c;
	char err[512] = "";

	(void)state;
	agent_config_defaults(&c);
	assert_int_equal(c.report_interval_ms, 100);
	assert_int_equal(c.stop_grace_ms, 5000);
	assert_true(c.run_as_owner);
	assert_int_equal(c.cgroup, AGENT_CGROUP_AUTO);
	assert_int_equal(agent_config_load_string(&c, "agent.conf",
		"[daemon]\nagent_listen = 0.0.0.0:7070\n"
		"[agent]\ndaemon = hared.example:7070\nnode = gpu-01\n"
		"cluster_key_file = /etc/hare/cluster.key\ngpus = V100:2, T4:1\n"
		"worker = /opt/hare/bin/hare-worker\nwork_dir = /tmp/w\nreport_interval_ms = 50\n"
		"heartbeat_ms = 1000\nstop_grace_ms = 300\nlog_level = debug\nworker_engine = cpu\n"
		"profile_unknown = yes\nprofile_proxy = batch=8,mlp=4-2\nprofile_iters = 5\n"
		"profile_timeout_s = 600\nrun_as_owner = no\ncgroup = yes\n",
		err, sizeof(err)), 0);
	assert_false(c.run_as_owner);
	assert_int_equal(c.cgroup, AGENT_CGROUP_YES);
	assert_string_equal(c.daemon, "hared.example:7070");
	assert_string_equal(c.node, "gpu-01");
	assert_string_equal(c.key_file, "/etc/hare/cluster.key");
	assert_true(c.gpus_set);
	assert_int_equal(c.ngpus, 3);
	assert_string_equal(c.gpus[2].type, "T4");
	assert_int_equal(c.gpus[2].index, 2);
	assert_string_equal(c.worker, "/opt/hare/bin/hare-worker");
	assert_int_equal(c.report_interval_ms, 50);
	assert_int_equal(c.heartbeat_ms, 1000);
	assert_int_equal(c.stop_grace_ms, 300);
	assert_string_equal(c.log_level, "debug");
	assert_true(c.worker_cpu);
	assert_int_equal(c.profile_unknown, AGENT_PROFILE_YES);
	assert_string_equal(c.profile_proxy, "batch=8,mlp=4-2");
	assert_int_equal(c.profile_iters, 5);
	assert_int_equal(c.profile_timeout_s, 600);
	assert_int_equal(agent_config_finish(&c, NULL, err, sizeof(err)), 0);
}

static void test_config_example(void **state)
{
	struct agent_config c;
	char err[512] = "";

	(void)state;
	agent_config_defaults(&c);
	if (agent_config_load(&c, HARE_SOURCE_DIR "/deploy/agent.conf.example", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.daemon, "hared.example.org:7070");
	assert_string_equal(c.key_file, "/etc/hare/cluster.key");
	assert_false(c.gpus_set);
	assert_false(c.worker_cpu);
	assert_int_equal(c.report_interval_ms, 100);
	/* the measuring keys' defaults */
	assert_int_equal(c.profile_unknown, AGENT_PROFILE_AUTO);
	assert_string_equal(c.profile_proxy, "");
	assert_int_equal(c.profile_iters, 0);
	assert_int_equal(c.profile_timeout_s, 3600);
}

static void test_config_bad(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} bad[] = {
		{ "[agent]\ndaemon = hared\n", "a.conf:2: daemon: expected host:port, got 'hared'" },
		{ "[agent]\ndaemon = h:0\n", "a.conf:2: port of 'h:0': must be between 1 and 65535" },
		{ "[agent]\ndaemon = ::1:80\n", "a.conf:2: daemon: expected host:port" },
		{ "[agent]\ndaemon = [::1:80\n", "a.conf:2: daemon: expected [address]:port" },
		{ "[agent]\nnode = a\nbogus = 1\n", "a.conf:3: unknown key 'bogus' in [agent]" },
		{ "[agent]\nheartbeat_s = 1\n", "a.conf:2: unknown key 'heartbeat_s' in [agent] (did you mean heartbeat_ms?)" },
		{ "[agent]\nworkdir = /x\n", "a.conf:2: unknown key 'workdir' in [agent] (did you mean work_dir?)" },
		{ "[agents]\nnode = a\n", "a.conf:1: unknown section [agents]" },
		{ "node = a\n", "a.conf:1: key 'node' outside a section" },
		{ "[agent]\ngpus = V100:0\n", "a.conf:2: count of V100 must be between 1 and 64" },
		{ "[agent]\n\n\ngpus = V100:4,,T4:2\n", "a.conf:4: gpus: expected TYPE:COUNT, got ''" },
		{ "[agent]\ngpus = V100:40,T4:40\n", "a.conf:2: count of T4 must be between 1 and 24" },
		{ "[agent]\nreport_interval_ms = -1\n", "a.conf:2: report_interval_ms: must be between 0 and 60000, got -1" },
		{ "[agent]\nheartbeat_ms = fast\n", "a.conf:2: heartbeat_ms: expected a whole number, got 'fast'" },
		{ "[agent]\nnode = bad name\n", "a.conf:2: node name may hold letters" },
		{ "[agent]\nlog_level = loud\n", "a.conf:2: log_level must be error, warn, info or debug" },
		{ "[agent]\ntask_logs = logs\n", "a.conf:2: task_logs: expected an absolute directory or none, got 'logs'" },
		{ "[agent]\ntask_log_keep_days = -2\n", "a.conf:2: task_log_keep_days: must be between 0 and 36500, got -2" },
		{ "[agent]\nworker_progress_s = 1e3\n", "a.conf:2: worker_progress_s: expected a whole number, got '1e3'" },
		{ "[agent]\nnode = a\n[agent\n", "a.conf:3: syntax error" },
		{ "[agent]\nworker =\n", "a.conf:2: worker must be 1 to" },
		{ "[agent]\nworker_engine = cuda\n", "a.conf:2: worker_engine must be emulate or cpu" },
		{ "[agent]\nprofile_unknown = maybe\n",
		  "a.conf:2: profile_unknown must be auto, yes or no, got 'maybe'" },
		{ "[agent]\ncgroup = v1\n", "a.conf:2: cgroup must be auto, yes or no, got 'v1'" },
		{ "[agent]\ncgroups = no\n", "a.conf:2: unknown key 'cgroups' in [agent] (did you mean cgroup?)" },
		{ "[agent]\nprofile_iters = 0\n", "a.conf:2: profile_iters: must be between 1 and 100000, got 0" },
		{ "[agent]\nprofile_timeout_s = 86401\n", "a.conf:2: profile_timeout_s: must be between 1 and 86400" },
		{ "[agent]\nprofile_proxy =\n", "a.conf:2: profile_proxy must be 1 to 255" },
		{ "[agent]\nhealth_check = check.sh\n",
		  "a.conf:2: health_check must be an absolute path to a program, got 'check.sh'" },
		{ "[agent]\nhealth_check_interval_s = 0\n",
		  "a.conf:2: health_check_interval_s: must be between 1 and 86400, got 0" },
		{ "[agent]\nhealth_check_timeout_s = 3601\n",
		  "a.conf:2: health_check_timeout_s: must be between 1 and 3600, got 3601" },
		{ "[agent]\nhealth_chek = /x\n",
		  "a.conf:2: unknown key 'health_chek' in [agent] (did you mean health_check?)" },
	};
	struct agent_config c;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		agent_config_defaults(&c);
		err[0] = '\0';
		assert_int_equal(agent_config_load_string(&c, "a.conf", bad[i].text, err, sizeof(err)),
				 ERR_BAD_CONFIG);
		if (!strstr(err, bad[i].err))
			fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].err);
	}
	/* a missing file is -ENOENT with the path */
	assert_int_equal(agent_config_load(&c, "/nonexistent/agent.conf", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/agent.conf"));
}

static void test_config_finish(void **state)
{
	struct agent_config c;
	char err[512];

	(void)state;
	agent_config_defaults(&c);
	assert_int_equal(agent_config_finish(&c, AGENT_BIN, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "daemon (host:port) is not set"));
	assert_int_equal(agent_config_set(&c, "daemon", "127.0.0.1:7070", err, sizeof(err)), 0);
	assert_int_equal(agent_config_finish(&c, AGENT_BIN, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "cluster_key_file is not set"));
	assert_int_equal(agent_config_set(&c, "cluster_key_file", "/k", err, sizeof(err)), 0);
	/* node from the host name, worker found from the agent's own path */
	assert_int_equal(agent_config_finish(&c, AGENT_BIN, err, sizeof(err)), 0);
	assert_true(c.node[0] != '\0');
	assert_string_equal(c.worker, HARE_BINARY_DIR "/agent/../workloads/hare-worker");
	agent_config_defaults(&c);
	agent_config_set(&c, "daemon", "h:1", err, sizeof(err));
	agent_config_set(&c, "cluster_key_file", "/k", err, sizeof(err));
	assert_int_equal(agent_config_finish(&c, "/nonexistent/bin/hare-agent", err, sizeof(err)),
			 ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "no hare-worker next to /nonexistent/bin"));
}

static void test_addr_parse(void **state)
{
	char host[64], err[256];
	uint16_t port;

	(void)state;
	assert_int_equal(agent_addr_parse("10.1.2.3:7070", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "10.1.2.3");
	assert_int_equal(port, 7070);
	assert_int_equal(agent_addr_parse("[::1]:65535", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 65535);
	assert_int_equal(agent_addr_parse(":80", host, sizeof(host), &port, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_int_equal(agent_addr_parse("h:", host, sizeof(host), &port, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_int_equal(agent_addr_parse("h:1x", host, sizeof(host), &port, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_int_equal(agent_addr_parse("[]:80", host, sizeof(host), &port, err, sizeof(err)), ERR_BAD_CONFIG);
}

/* ---- GPUs ---- */

static void test_gpus_parse(void **state)
{
	static const char *const bad[] = {
		"", " ", "V100", "V100:", ":4", "V100:x", "V100:0", "V100:65", "V100:-1",
		"V100:4,", ",V100:4", "V100:4,,T4:2", "V1 00:2", "V100:4;T4:4", "V100:2:3",
		"V100:40,T4:40", "V100:99999999999999999999",
		"AVeryLongTypeNameThatIsLongerThanSixtyThreeCharactersForSureYesIndeed:1",
	};
	struct agent_gpu g[AGENT_GPUS_MAX];
	char err[256];
	uint32_t n = 99;

	(void)state;
	assert_int_equal(agent_gpus_parse("V100:4,T4:4", g, AGENT_GPUS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 8);
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(g[i].index, i);
		assert_string_equal(g[i].type, i < 4 ? "V100" : "T4");
		assert_true(g[i].emulated);
	}
	assert_int_equal(agent_gpus_parse(" K80:1 , A100-80GB:2 ", g, AGENT_GPUS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(g[2].type, "A100-80GB");
	assert_int_equal(agent_gpus_parse("none", g, AGENT_GPUS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(agent_gpus_parse("V100:64", g, AGENT_GPUS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 64);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (agent_gpus_parse(bad[i], g, AGENT_GPUS_MAX, &n, err, sizeof(err)) != ERR_BAD_CONFIG)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(n, 0);
		assert_true(err[0] != '\0');
	}
}

static void test_nvml_names(void **state)
{
	static const struct {
		const char *name, *type;
		int known;
	} cases[] = {
		{ "Tesla V100-SXM2-16GB", "V100", 1 },
		{ "Tesla V100-PCIE-32GB", "V100", 1 },
		{ "NVIDIA H100 80GB HBM3", "H100", 1 },
		{ "NVIDIA H100 PCIe", "H100", 1 },
		{ "NVIDIA H200", "H200", 1 },
		{ "Tesla T4", "T4", 1 },
		{ "NVIDIA A100-SXM4-40GB", "A100", 1 },
		{ "NVIDIA A100 80GB PCIe", "A100", 1 },
		{ "NVIDIA A10", "A10", 1 },
		{ "Tesla P100-PCIE-16GB", "P100", 1 },
		{ "Tesla K80", "K80", 1 },
		{ "Tesla M60", "M60", 1 },
		{ "NVIDIA GeForce RTX 3090", "NVIDIA-GeForce-RTX-3090", 0 },
		{ "Quadro RTX 8000", "Quadro-RTX-8000", 0 },
		{ "NVIDIA A1000", "NVIDIA-A1000", 0 },
	};
	char type[AGENT_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int known = agent_gpu_type_from_name(cases[i].name, type, sizeof(type));

		if (known != cases[i].known || strcmp(type, cases[i].type) != 0)
			fail_msg("'%s' -> '%s' (%d), want '%s'", cases[i].name, type, known, cases[i].type);
	}
}

static void test_nvml_absent(void **state)
{
	struct agent_gpu g[AGENT_GPUS_MAX];
	uint32_t n = 7, unknown = 7;
	char err[256] = "";
	int rc;

	(void)state;
	rc = agent_gpus_discover(g, AGENT_GPUS_MAX, &n, &unknown, err, sizeof(err));
	if (rc == 0) {
		/* a machine with NVML: whatever it has, the types are filled */
		for (uint32_t i = 0; i < n; i++)
			assert_true(g[i].type[0] && !g[i].emulated && g[i].index == i);
		return;
	}
	assert_true(rc == -ENOENT || rc == -EIO);
	assert_int_equal(n, 0);
	assert_true(err[0] != '\0');
}

/* ---- authentication ---- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_hmac_vectors(void **state)
{
	/* RFC 4231 test cases 2 and 6, the message split into nonce || node */
	uint8_t mac[AGENT_MAC_LEN], key6[131];
	char out[2 * AGENT_MAC_LEN + 1];

	(void)state;
	assert_int_equal(agent_auth_mac((const uint8_t *)"Jefe", 4,
					(const uint8_t *)"what do ya want ", 16, "for nothing?", mac), 0);
	hex(mac, sizeof(mac), out);
	assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(key6, 0xaa, sizeof(key6));
	assert_int_equal(agent_auth_mac(key6, sizeof(key6),
					(const uint8_t *)"Test Using Larger Than Block-Size Key - ", 40,
					"Hash Key First", mac), 0);
	hex(mac, sizeof(mac), out);
	assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_key_load(void **state)
{
	char dir[200], path[256], err[256];
	uint8_t key[AGENT_KEY_MAX];
	size_t len = 0;
	bool loose = false;

	(void)state;
	temp_dir(dir, sizeof(dir), "key");
	snprintf(path, sizeof(path), "%s/k", dir);
	write_file(path, "0123456789abcdef \r\n\n", 0600);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &len, &loose, err, sizeof(err)), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(key, "0123456789abcdef", 16);
	assert_false(loose);
	chmod(path, 0644);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &len, &loose, err, sizeof(err)), 0);
	assert_true(loose);
	write_file(path, "short\n", 0600);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &len, &loose, err, sizeof(err)),
			 ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "key is 5 bytes, need at least 16"));
	unlink(path);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &len, &loose, err, sizeof(err)), -ENOENT);
	rmdir(dir);
}

/* ---- hare-worker on its own ---- */

struct worker_out {
	int rounds_lines;
	uint64_t rounds, next;
	double compute, sync, times[64];
	bool contiguous;
	struct report_line end;
	bool has_end;
};

static int run_worker(const char *args, struct worker_out *o, double *wall)
{
	char cmd[1024], line[REPORT_LINE_MAX + 2], err[160];
	struct report_line l;
	double t0 = now_s();
	FILE *p;

	memset(o, 0, sizeof(*o));
	o->contiguous = true;
	snprintf(cmd, sizeof(cmd), "%s %s", WORKER_BIN, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (report_line_parse(line, strlen(line), &l, err, sizeof(err)) < 0)
			fail_msg("worker wrote a bad line '%s': %s", line, err);
		if (l.kind != REPORT_ROUND) {
			o->end = l;
			o->has_end = true;
			continue;
		}
		o->contiguous &= o->rounds_lines == 0 || l.first == o->next;
		if (o->rounds_lines < 64)
			o->times[o->rounds_lines] = l.compute_s + l.sync_s;
		o->rounds_lines++;
		o->next = l.first + l.count;
		o->rounds += l.count;
		o->compute += l.compute_s;
		o->sync += l.sync_s;
	}
	if (wall)
		*wall = now_s() - t0;
	return pclose(p);
}

static void test_worker_flags(void **state)
{
	static const char *const bad[] = {
		"--emulate --bogus", "--emulate --job 1", "--emulate --job 1 --lease 1 --rank 2 --world-size 2 --round-count 1 --round-s 1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1",
		"--emulate --job x --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s -1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 --tasks 3 --job-tasks 2",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 --time-scale 0",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 --report-fd 99",
		"--job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1",
		"--emulate --job 1 --lease 1 --rank 0 --world-size 1 --round-count 1 --round-s 1 extra",
	};
	char cmd[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st;

		snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", WORKER_BIN, bad[i]);
		st = system(cmd);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
			fail_msg("'%s' exited %d, want 2", bad[i], WEXITSTATUS(st));
	}
	snprintf(cmd, sizeof(cmd), "%s --help >/dev/null", WORKER_BIN);
	assert_int_equal(system(cmd), 0);
}

static void test_worker_emulate(void **state)
{
	struct worker_out r0, r1, other;
	double wall;
	const char *common = "--emulate --job 3 --lease 4 --world-size 2 --round-first 100 "
			     "--round-count 50 --round-s 2 --compute-s 0.5 --tasks 2 --job-tasks 3 "
			     "--noise-cv 0.2 --report-ms 0 --restart-s 1000 --time-scale 10000";
	char args[512];

	(void)state;
	snprintf(args, sizeof(args), "%s --rank 0 --seed 9", common);
	assert_int_equal(run_worker(args, &r0, &wall), 0);
	/* one line per round (report-ms 0), contiguous from round_first, then done */
	assert_int_equal(r0.rounds_lines, 50);
	assert_int_equal(r0.rounds, 50);
	assert_true(r0.contiguous && r0.next == 150);
	assert_true(r0.has_end && r0.end.kind == REPORT_DONE && r0.end.rounds == 50);
	/* compute share = tasks * compute_s / round_s, noise scales both */
	assert_true(fabs(r0.compute / (r0.compute + r0.sync) - 0.5) < 1e-6);
	for (int i = 0; i < 50; i++)
		assert_true(r0.times[i] >= 1.0 - 1e-6 && r0.times[i] <= 6.0 + 1e-6);
	/* restart 1000 s / 10000 = 0.1 s, rounds 50 * ~0.2 ms */
	assert_true(wall >= 0.1 && wall < 2.0);
	/* the other rank of the lease draws the same noise; another seed not */
	snprintf(args, sizeof(args), "%s --rank 1 --seed 9", common);
	assert_int_equal(run_worker(args, &r1, NULL), 0);
	assert_memory_equal(r0.times, r1.times, sizeof(r0.times));
	snprintf(args, sizeof(args), "%s --rank 0 --seed 10", common);
	assert_int_equal(run_worker(args, &other, NULL), 0);
	assert_true(memcmp(r0.times, other.times, sizeof(r0.times)) != 0);
	/* fast rounds are batched: 20000 rounds of 5 us in a few lines */
	assert_int_equal(run_worker("--emulate --job 1 --lease 1 --rank 0 --world-size 1 "
				    "--round-count 20000 --round-s 1 --time-scale 200000", &r0, &wall), 0);
	assert_int_equal(r0.rounds, 20000);
	assert_true(r0.contiguous);
	assert_true(r0.rounds_lines >= 1 && r0.rounds_lines <= 3 + (int)(wall * 10));
	print_message("worker: 20000 rounds of 5 us in %.3f s, %d lines\n", wall, r0.rounds_lines);
}

/* --progress-s: a line on stderr every so often with the round reached, the
 * loss and the mean round time; none with 0. */
static void test_worker_progress(void **state)
{
	char cmd[1024], text[8192];
	char path[256];
	const char *p;
	int lines = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/hare-progress-%d.txt", P_tmpdir, (int)getpid());
	/* 40 rounds of 10 ms (emulated 2 s at time scale 200), a line each 0.1 s */
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 7 --lease 2 --rank 0 --world-size 1 "
		 "--round-first 10 --round-count 40 --round-s 2 --compute-s 1.5 --time-scale 200 "
		 "--progress-s 0.1 --report-fd 1 >/dev/null 2>%s", WORKER_BIN, path);
	assert_int_equal(system(cmd), 0);
	read_text(path, text, sizeof(text));
	for (p = text; (p = strstr(p, "worker job=7 lease=2 rank=0: round ")); p++) {
		unsigned long long round, end, n;
		double loss, secs, per, compute, sync;

		if (sscanf(p, "worker job=7 lease=2 rank=0: round %llu of %llu, loss %lf; %llu rounds in "
			   "%lf s, %lf s a round (compute %lf s, sync %lf s)", &round, &end, &loss, &n,
			   &secs, &per, &compute, &sync) != 8)
			fail_msg("bad progress line: %.200s", p);
		assert_true(round > 10 && round <= 50 && end == 50);
		assert_true(loss > 0 && n >= 1 && secs >= 0.1);
		assert_true(fabs(per - 2) < 1e-9 && fabs(compute - 1.5) < 1e-9 && fabs(sync - 0.5) < 1e-9);
		lines++;
	}
	/* about 0.4 s of rounds: 2 to 4 lines */
	if (lines < 2 || lines > 4)
		fail_msg("%d progress lines:\n%s", lines, text);
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 7 --lease 2 --rank 0 --world-size 1 "
		 "--round-count 20 --round-s 2 --time-scale 200 --progress-s 0 --report-fd 1 "
		 ">/dev/null 2>%s", WORKER_BIN, path);
	assert_int_equal(system(cmd), 0);
	read_text(path, text, sizeof(text));
	assert_null(strstr(text, ": round "));
	unlink(path);
}

static void test_worker_sigterm(void **state)
{
	static const char *const argv[] = {
		WORKER_BIN, "--emulate", "--job", "1", "--lease", "1", "--rank", "0", "--world-size",
		"1", "--round-count", "1000000", "--round-s", "0.02", "--report-ms", "0", NULL
	};
	char line[REPORT_LINE_MAX + 2], err[160];
	struct report_line l;
	uint64_t rounds = 0;
	int st;
	FILE *f;
	pid_t pid;

	(void)state;
	f = spawn_stdout(argv, &pid);
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	kill(pid, SIGTERM);
	do {
		assert_int_equal(report_line_parse(line, strlen(line), &l, err, sizeof(err)), 0);
		if (l.kind == REPORT_ROUND)
			rounds += l.count;
	} while (fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(l.kind, REPORT_STOPPED);
	assert_int_equal(l.rounds, rounds);
	assert_true(rounds >= 1 && rounds < 20);
}

/* Whether child pid ends within secs (its wait status in *st); one that
 * does not is SIGKILLed and reaped. */
static bool child_ends(pid_t pid, double secs, int *st)
{
	for (int i = 0; i < (int)(secs * 100); i++) {
		if (waitpid(pid, st, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, st, 0);
	return false;
}

/* A worker whose reports nobody reads any more (its agent is gone, and no
 * new one adopted it) stops after --orphan-timeout-s; one whose reader
 * comes back in time goes on, though it batches rounds for longer. */
static void test_worker_orphan(void **state)
{
	static const char *const argv[] = {
		WORKER_BIN, "--emulate", "--job", "1", "--lease", "1", "--rank", "0", "--world-size",
		"1", "--round-count", "1000000", "--round-s", "0.02", "--report-ms", "0",
		"--orphan-timeout-s", "0.5", "--report-wait-s", "0.2", NULL
	};
	char line[REPORT_LINE_MAX + 2];
	int st;
	double t0;
	FILE *f;
	pid_t pid;

	(void)state;
	f = spawn_stdout(argv, &pid);
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));	/* it runs and reports */
	fclose(f);					/* its agent is gone */
	t0 = now_s();
	if (!child_ends(pid, 5.0, &st))
		fail_msg("an orphaned worker still ran 5 s after its reader went");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(now_s() - t0 >= 0.4);
	print_message("orphaned worker stopped %.2f s after its reader went\n", now_s() - t0);

	/* a new reader (an agent that adopts it) within the timeout, even with
	 * rounds batched for longer than it: it goes on, and reports to it */
	{
		char fifo[600], dir[512];
		int rfd, wfd;

		temp_dir(dir, sizeof(dir), "orphan");
		snprintf(fifo, sizeof(fifo), "%s/report.fifo", dir);
		assert_int_equal(mkfifo(fifo, 0600), 0);
		rfd = open(fifo, O_RDONLY | O_NONBLOCK);
		wfd = open(fifo, O_WRONLY | O_NONBLOCK);
		assert_true(rfd >= 0 && wfd >= 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(wfd, 1);
			close(rfd);
			close(wfd);
			execl(WORKER_BIN, WORKER_BIN, "--emulate", "--job", "1", "--lease", "1",
			      "--rank", "0", "--world-size", "1", "--round-count", "1000000",
			      "--round-s", "0.02", "--report-ms", "2000", "--orphan-timeout-s", "1",
			      (char *)NULL);
			_exit(127);
		}
		close(wfd);
		close(rfd);			/* the agent goes: the flush at 2 s fails */
		usleep(2400000);
		rfd = open(fifo, O_RDONLY | O_NONBLOCK);	/* a new one adopts it */
		assert_true(rfd >= 0);
		usleep(1100000);		/* past the timeout, before the next batch */
		assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
		assert_true(read(rfd, line, sizeof(line)) > 0);	/* its reports come */
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(rfd);
		unlink(fifo);
		rmdir(dir);
	}
}

/* The scene of test_worker_parent_pid, in a child of the test (a subreaper
 * there, so that the orphaned worker is its child to wait for): a middle
 * process starts a long worker with --parent-pid, waits for its first
 * report line, and dies by SIGKILL. Returns 0, or which step failed. */
static int parent_pid_scene(void)
{
	int out[2], ids[2], st;
	pid_t mid, w = 0;
	char line[256];

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || pipe(out) < 0 || pipe(ids) < 0)
		return 10;
	mid = fork();
	if (mid < 0)
		return 11;
	if (mid == 0) {
		pid_t c = fork();
		FILE *f;

		if (c == 0) {
			char pp[16];

			snprintf(pp, sizeof(pp), "%d", (int)getppid());
			dup2(out[1], 1);
			execl(WORKER_BIN, WORKER_BIN, "--emulate", "--job", "1", "--lease", "1",
			      "--rank", "0", "--world-size", "1", "--round-count", "1000000",
			      "--round-s", "0.02", "--report-ms", "0", "--parent-pid", pp, (char *)NULL);
			_exit(127);
		}
		close(out[1]);
		f = fdopen(out[0], "r");
		if (c < 0 || !f || !fgets(line, sizeof(line), f))
			_exit(12);
		if (write(ids[1], &c, sizeof(c)) != sizeof(c))
			_exit(13);
		raise(SIGKILL);
	}
	close(out[0]);
	close(out[1]);
	if (waitpid(mid, &st, 0) != mid || !WIFSIGNALED(st) || read(ids[0], &w, sizeof(w)) != sizeof(w))
		return 14;
	/* the worker is gone within 5 s, by the kernel's SIGKILL */
	if (!child_ends(w, 5.0, &st))
		return 16;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 15;
}

/* --parent-pid: a worker ends with the process that started it, even when
 * that one is SIGKILLed; a pid that is not its parent is refused. */
static void test_worker_parent_pid(void **state)
{
	char cmd[1024];
	pid_t h;
	int st;

	(void)state;
	h = fork();
	assert_true(h >= 0);
	if (h == 0)
		_exit(parent_pid_scene());
	assert_int_equal(waitpid(h, &st, 0), h);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("parent-pid scene failed at step %d (16: the worker outlived its parent)",
			 WEXITSTATUS(st));
	/* a parent that has ended, also one not reaped yet: the worker ends at
	 * once */
	h = fork();
	assert_true(h >= 0);
	if (h == 0)
		_exit(0);
	{
		siginfo_t si;

		/* a zombie now, until reaped */
		assert_int_equal(waitid(P_PID, (id_t)h, &si, WEXITED | WNOWAIT), 0);
	}
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 1 --lease 1 --rank 0 --world-size 1 "
		 "--round-count 1 --round-s 0.001 --parent-pid %d 2>&1 | grep -q 'process %d has "
		 "ended'", WORKER_BIN, (int)h, (int)h);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(waitpid(h, &st, 0), h);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 1 --lease 1 --rank 0 --world-size 1 "
		 "--round-count 1 --round-s 0.001 --parent-pid %d >/dev/null 2>&1", WORKER_BIN, (int)h);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	/* alive but not its parent (a wrapper in between): it runs, and says so
	 * (grep -q leaves at the line: the worker's last report finds no
	 * reader, and is not waited for) */
	snprintf(cmd, sizeof(cmd), "%s --emulate --job 1 --lease 1 --rank 0 --world-size 1 "
		 "--round-count 1 --round-s 0.001 --report-wait-s 0 --parent-pid %d 2>&1 | grep -q 'is not this "
		 "worker.s parent (a wrapper that does not exec?); this worker ends with its "
		 "parent'", WORKER_BIN, (int)getpid());
	assert_int_equal(system(cmd), 0);
}

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

static void fake_on_written(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
	free(req);
}

static void fake_send(struct fake *f, const Hare__FromDaemon *m)
{
	uv_write_t *req = malloc(sizeof(*req));
	uint8_t *buf;
	size_t len;
	uv_buf_t b;

	assert_non_null(req);
	assert_int_equal(wire_encode_from_daemon(m, 0, &buf, &len), 0);
	if (!f->client_open) {
		free(buf);
		free(req);
		return;
	}
	if (f->sign) {
		/* HMAC(session, seq big-endian || payload) appended, by OpenSSL
		 * directly; the header counts it */
		size_t plen = len - WIRE_HEADER_LEN;
		uint8_t *msg = malloc(8 + plen), *out = realloc(buf, len + 32);
		unsigned int tl = 0;

		assert_non_null(msg);
		assert_non_null(out);
		buf = out;
		for (int i = 0; i < 8; i++)
			msg[i] = (uint8_t)(f->seq >> (56 - 8 * i));
		memcpy(msg + 8, buf + WIRE_HEADER_LEN, plen);
		HMAC(EVP_sha256(), f->session, 32, msg, 8 + plen, buf + len, &tl);
		free(msg);
		f->seq++;
		if (f->bad_tag)
			buf[len + 5] ^= 1;
		len += 32;
		plen += 32;
		buf[0] = (uint8_t)(plen >> 24);
		buf[1] = (uint8_t)(plen >> 16);
		buf[2] = (uint8_t)(plen >> 8);
		buf[3] = (uint8_t)plen;
	}
	if (f->tls) {
		assert_int_equal(tls_link_write(f->tls, buf, len), 0);
		free(buf);
		len = tls_link_pending(f->tls);
		buf = malloc(len);
		assert_non_null(buf);
		assert_int_equal(tls_link_take(f->tls, buf, len), len);
	}
	req->data = buf;
	b = uv_buf_init((char *)buf, (unsigned int)len);
	assert_int_equal(uv_write(req, (uv_stream_t *)&f->client, &b, 1, fake_on_written), 0);
}

/* What the TLS session has for the agent (its handshake, an alert). */
static void fake_tls_flush(struct fake *f)
{
	size_t len = tls_link_pending(f->tls);
	uv_write_t *req;
	uint8_t *buf;
	uv_buf_t b;

	if (len == 0)
		return;
	req = malloc(sizeof(*req));
	buf = malloc(len);
	assert_non_null(req);
	assert_non_null(buf);
	assert_int_equal(tls_link_take(f->tls, buf, len), len);
	req->data = buf;
	b = uv_buf_init((char *)buf, (unsigned int)len);
	assert_int_equal(uv_write(req, (uv_stream_t *)&f->client, &b, 1, fake_on_written), 0);
}

/* The fake's key for the node (tls_psk_find_cb). */
static int fake_tls_psk(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN])
{
	struct fake *f = user;

	assert_string_equal(identity, "test-node");
	return tls_psk_derive((const uint8_t *)f->key, strlen(f->key), identity, psk);
}

static void fake_on_client_closed(uv_handle_t *h)
{
	struct fake *f = h->data;

	f->client_open = false;
	wire_reader_destroy(&f->reader);
	tls_link_free(f->tls);
	f->tls = NULL;
}

static void fake_drop(struct fake *f)
{
	if (f->client_open && !uv_is_closing((uv_handle_t *)&f->client))
		uv_close((uv_handle_t *)&f->client, fake_on_client_closed);
}

/* HMAC-SHA256(the fake's key, label NUL || agent_nonce || the fake's
 * nonce || "test-node"), as hared makes its proof and session keys, by
 * OpenSSL directly. */
static void fake_hmac(struct fake *f, const char *label, const uint8_t *agent_nonce,
		      uint8_t out[32])
{
	uint8_t msg[16 + 64 + 9];
	size_t ll = strlen(label) + 1;
	unsigned int len = 0;

	assert_true(ll <= 16);
	memcpy(msg, label, ll);
	memcpy(msg + ll, agent_nonce, 32);
	memcpy(msg + ll + 32, f->nonce, 32);
	memcpy(msg + ll + 64, "test-node", 9);
	assert_non_null(HMAC(EVP_sha256(), f->key, (int)strlen(f->key), msg, ll + 64 + 9, out, &len));
}

static void fake_on_hello(struct fake *f, const Hare__Hello *h)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Challenge c = HARE__CHALLENGE__INIT;
	uint8_t proof[32];

	assert_int_equal(h->version, HARE__VERSION__PROTOCOL_VERSION);
	assert_int_equal(h->role, HARE__ROLE__ROLE_AGENT);
	assert_string_equal(h->node, "test-node");
	assert_true(h->has_agent_nonce && h->agent_nonce.len == 32);
	assert_true(h->has_tags && h->tags);
	f->hellos++;
	f->sign = false;
	f->check = false;
	if (f->mute)
		return;
	for (size_t i = 0; i < sizeof(f->nonce); i++)
		f->nonce[i] = (uint8_t)(i * 7 + f->hellos);
	c.nonce.data = f->nonce;
	c.nonce.len = sizeof(f->nonce);
	/* hared's proof, with the fake's key, by OpenSSL directly; the
	 * session's key, for hared's frames after this one, and the agent's,
	 * for its frames */
	fake_hmac(f, f->untagged_proof ? "hared" : "hared+tags", h->agent_nonce.data, proof);
	fake_hmac(f, "session", h->agent_nonce.data, f->session);
	fake_hmac(f, "agent-session", h->agent_nonce.data, f->session_in);
	c.has_proof = !f->no_proof;
	c.proof.data = proof;
	c.proof.len = sizeof(proof);
	m.msg_case = HARE__FROM_DAEMON__MSG_CHALLENGE;
	m.challenge = &c;
	fake_send(f, &m);
	f->sign = c.has_proof;
	f->seq = 0;
	f->check = c.has_proof;
	f->seq_in = 0;
}

/* Checked with OpenSSL directly, not with the agent's own function. */
static void fake_on_auth(struct fake *f, const Hare__Auth *a)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Welcome w = HARE__WELCOME__INIT;
	Hare__Error e = HARE__ERROR__INIT;
	uint8_t msg[64], want[32];
	unsigned int len = 0;

	f->auths++;
	memcpy(msg, f->nonce, 32);
	memcpy(msg + 32, "test-node", 9);
	HMAC(EVP_sha256(), f->key, (int)strlen(f->key), msg, 41, want, &len);
	if (a->mac.len != 32 || memcmp(a->mac.data, want, 32) != 0) {
		f->auths_bad++;
		e.code = ERR_PROTO;
		e.message = "authentication failed";
		m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
		m.error = &e;
		fake_send(f, &m);
		fake_drop(f);
		return;
	}
	w.version = HARE__VERSION__PROTOCOL_VERSION;
	w.has_agent_id = true;
	w.agent_id = 7;
	m.msg_case = HARE__FROM_DAEMON__MSG_WELCOME;
	m.welcome = &w;
	fake_send(f, &m);
}

static void fake_on_register(struct fake *f, const Hare__Register *r)
{
	f->registers++;
	f->reg_msgs = f->nmsgs;
	f->reg_gpus = (uint32_t)r->n_gpus;
	/* hared waits this long for a stopped worker's exit */
	assert_true(r->has_stop_grace_ms);
	assert_int_equal(r->stop_grace_ms, f->cfg.stop_grace_ms);
	snprintf(f->reg_type0, sizeof(f->reg_type0), "%s", r->n_gpus ? r->gpus[0]->type : "");
	if (r->n_gpus)
		assert_true(r->gpus[0]->has_emulated && r->gpus[0]->emulated);
	assert_true(r->has_measures && r->measures);
	assert_true(r->has_profile_cancel && r->profile_cancel);
	f->reg_logs = r->has_logs && r->logs;
	f->reg_health = r->health ? r->health->ok : -1;
	snprintf(f->reg_reason, sizeof(f->reg_reason), "%s",
		 r->health && r->health->reason ? r->health->reason : "");
	f->reg_measuring[0] = '\0';
	for (size_t i = 0; i < r->n_measuring; i++)
		snprintf(f->reg_measuring + strlen(f->reg_measuring),
			 sizeof(f->reg_measuring) - strlen(f->reg_measuring), "%s%s", i ? "," : "",
			 r->measuring[i]);
	f->reg_running = r->n_running;
	f->reg_running_job = r->n_running ? r->running[0]->job_id : 0;
	if (r->n_running)
		f->reg_task0 = *r->running[0];
}

static void fake_on_message(struct fake *f, Hare__ToDaemon *m)
{
	switch (m->msg_case) {
	case HARE__TO_DAEMON__MSG_HELLO:
		fake_on_hello(f, m->hello);
		break;
	case HARE__TO_DAEMON__MSG_AUTH:
		fake_on_auth(f, m->auth);
		break;
	case HARE__TO_DAEMON__MSG_REGISTER:
		fake_on_register(f, m->register_);
		break;
	default:
		if (f->nmsgs < FAKE_MSGS_MAX) {
			f->msgs[f->nmsgs++] = m;
			return;
		}
		break;
	}
	hare__to_daemon__free_unpacked(m, NULL);
}

static void fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(suggested);
	buf->len = suggested;
}

static void fake_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fake *f = s->data;
	const uint8_t *p;
	size_t len;

	if (nread < 0) {
		fake_drop(f);
	} else if (nread > 0 && f->tls_start && (uint8_t)buf->base[0] == TLS_LINK_FIRST_BYTE &&
		   f->old_hared) {
		/* an older hared reads a TLS record as a frame far too large */
		static const Hare__Error e = { PROTOBUF_C_MESSAGE_INIT(&hare__error__descriptor),
					       ERR_FRAME_TOO_BIG, "frame larger than 65536 bytes" };
		Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;

		m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
		m.error = (Hare__Error *)&e;
		fake_send(f, &m);
		f->tls_failed++;
		fake_drop(f);
	} else if (nread > 0) {
		if (f->tls_start && (uint8_t)buf->base[0] == TLS_LINK_FIRST_BYTE)
			assert_int_equal(tls_link_server(fake_tls_psk, f, &f->tls), 0);
		f->tls_start = false;
		if (f->tls) {
			uint8_t plain[16384];
			bool was = tls_link_ready(f->tls);
			ssize_t r;

			assert_int_equal(tls_link_feed(f->tls, buf->base, (size_t)nread), 0);
			while ((r = tls_link_read(f->tls, plain, sizeof(plain))) > 0)
				assert_int_equal(wire_reader_feed(&f->reader, plain, (size_t)r), 0);
			f->tls_ok += !was && tls_link_ready(f->tls);
			fake_tls_flush(f);
			if (r == TLS_LINK_FAILED) {
				f->tls_failed++;
				fake_drop(f);
				free(buf->base);
				return;
			}
		} else {
			assert_int_equal(wire_reader_feed(&f->reader, buf->base, (size_t)nread), 0);
		}
		while (wire_reader_next(&f->reader, &p, &len) == 1) {
			Hare__ToDaemon *m = NULL;

			/* HMAC(agent's session, seq big-endian || payload) at its
			 * end, checked with OpenSSL directly */
			if (f->check) {
				uint8_t *msg = malloc(8 + len), want[32];
				unsigned int tl = 0;

				assert_non_null(msg);
				assert_true(len >= 32);
				len -= 32;
				for (int i = 0; i < 8; i++)
					msg[i] = (uint8_t)(f->seq_in >> (56 - 8 * i));
				memcpy(msg + 8, p, len);
				HMAC(EVP_sha256(), f->session_in, 32, msg, 8 + len, want, &tl);
				free(msg);
				assert_memory_equal(want, p + len, 32);
				f->seq_in++;
				f->tagged++;
			}
			assert_int_equal(wire_decode_to_daemon(p, len, &m), 0);
			fake_on_message(f, m);
		}
	}
	free(buf->base);
}

static void fake_on_connection(uv_stream_t *server, int status)
{
	struct fake *f = server->data;

	assert_int_equal(status, 0);
	assert_false(f->client_open);
	uv_tcp_init(&f->loop, &f->client);
	f->client.data = f;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&f->client), 0);
	f->client_open = true;
	f->check = false;	/* a new session: its Hello is not tagged */
	f->tls_start = true;
	wire_reader_init(&f->reader, 0);
	uv_read_start((uv_stream_t *)&f->client, fake_alloc, fake_on_read);
}

static void fake_on_tick(uv_timer_t *t)
{
	(void)t;
}

static void fake_on_agent_closed(void *user)
{
	struct fake *f = user;

	f->agent = NULL;
	f->closed = true;
}

static void fake_agent_start(struct fake *f)
{
	uint8_t key[AGENT_KEY_MAX];
	size_t keylen;
	bool loose;
	char err[512], path[256];

	snprintf(path, sizeof(path), "%s/cluster.key", f->dir);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &keylen, &loose, err, sizeof(err)), 0);
	f->closed = false;
	assert_int_equal(agent_new(&f->loop, &f->cfg, key, keylen, &f->agent), 0);
	assert_int_equal(agent_start(f->agent, err, sizeof(err)), 0);
}

/* Start the agent and wait for its first Register; its Auth and Register
 * carried its tags. */
static void fake_agent_registered(struct fake *f)
{
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 1, 5);
	assert_true(f->tagged >= 2);
	/* in TLS, unless the test turned it off */
	assert_int_equal(f->tls_ok >= 1, f->cfg.tls);
	assert_int_equal(f->tls != NULL, f->cfg.tls);
}

static void fake_agent_stop(struct fake *f)
{
	if (f->agent)
		agent_close(f->agent, fake_on_agent_closed, f);
	RUN_UNTIL(f, f->closed, 5);
}

static struct fake *fake_new(const char *daemon_key, const char *gpus)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in addr;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char path[256], v[256], err[512];

	assert_non_null(f);
	temp_dir(f->dir, sizeof(f->dir), "agent");
	snprintf(path, sizeof(path), "%s/cluster.key", f->dir);
	write_file(path, TEST_KEY "\n", 0600);
	f->key = daemon_key;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_tcp_init(&f->loop, &f->server);
	f->server.data = f;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	assert_int_equal(uv_tcp_bind(&f->server, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->server, 8, fake_on_connection), 0);
	uv_tcp_getsockname(&f->server, (struct sockaddr *)&ss, &sslen);
	f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, fake_on_tick, 5, 5);

	agent_config_defaults(&f->cfg);
	snprintf(v, sizeof(v), "127.0.0.1:%u", f->port);
	assert_int_equal(agent_config_set(&f->cfg, "daemon", v, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "node", "test-node", err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "cluster_key_file", path, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "gpus", gpus, err, sizeof(err)), 0);
	snprintf(v, sizeof(v), "%s/work", f->dir);
	assert_int_equal(agent_config_set(&f->cfg, "work_dir", v, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "report_interval_ms", "50", err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "heartbeat_ms", "100", err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "stop_grace_ms", "300", err, sizeof(err)), 0);
	/* process groups only, unless a test asks for cgroups */
	assert_int_equal(agent_config_set(&f->cfg, "cgroup", "no", err, sizeof(err)), 0);
	assert_int_equal(agent_config_finish(&f->cfg, AGENT_BIN, err, sizeof(err)), 0);
	return f;
}

static void fake_free(struct fake *f)
{
	char cmd[256];

	fake_agent_stop(f);
	fake_drop(f);
	uv_close((uv_handle_t *)&f->server, NULL);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (size_t i = 0; i < f->nmsgs; i++)
		hare__to_daemon__free_unpacked(f->msgs[i], NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

struct start_args {
	uint64_t job, lease, first, count;
	uint32_t rank, world, gpu;
	double round_s, scale, restart_s;
	const char *command;
	const char *model;	/* default resnet50 */
	const char *proxy;	/* TaskStart.proxy */
	const char *user;	/* TaskStart.user */
};

static void fake_task_start(struct fake *f, const struct start_args *s)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__TaskStart t = HARE__TASK_START__INIT;

	t.job_id = s->job;
	t.lease_id = s->lease;
	t.model = (char *)(s->model ? s->model : "resnet50");
	t.rank = s->rank;
	t.world_size = s->world ? s->world : 1;
	t.gpu_index = s->gpu;
	t.tasks = 1;
	t.job_tasks = t.world_size;
	t.round_first = s->first;
	t.round_count = s->count;
	t.has_time_scale = true;
	t.time_scale = s->scale ? s->scale : 1;
	t.master_addr = "10.0.0.1";
	t.has_master_port = true;
	t.master_port = 29500;
	t.has_seed = true;
	t.seed = 42;
	t.command = (char *)s->command;
	t.proxy = (char *)s->proxy;
	t.user = (char *)s->user;
	if (s->round_s > 0) {
		t.has_round_s = t.has_compute_s = t.has_noise_cv = true;
		t.round_s = s->round_s;
		t.compute_s = 0.4 * s->round_s;
		t.noise_cv = 0.1;
	}
	t.has_restart_s = s->restart_s > 0;
	t.restart_s = s->restart_s;
	m.msg_case = HARE__FROM_DAEMON__MSG_TASK_START;
	m.task_start = &t;
	fake_send(f, &m);
}

static void fake_task_stop(struct fake *f, uint64_t job, uint64_t lease)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__TaskStop s = HARE__TASK_STOP__INIT;

	s.job_id = job;
	s.lease_id = lease;
	s.reason = "preempted";
	m.msg_case = HARE__FROM_DAEMON__MSG_TASK_STOP;
	m.task_stop = &s;
	fake_send(f, &m);
}

static const Hare__TaskExit *fake_exit(const struct fake *f, uint64_t job, uint64_t lease,
				       uint32_t rank)
{
	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__TaskExit *e = f->msgs[i]->task_exit;

		if (f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_TASK_EXIT && e->job_id == job &&
		    e->lease_id == lease && e->rank == rank)
			return e;
	}
	return NULL;
}

struct relayed {
	int reports;
	uint64_t rounds, next;
	double compute, sync, loss;
	bool contiguous, exit_after_reports;
};

/* What the daemon heard for one rank; checks that no report follows the exit. */
static struct relayed fake_relayed(const struct fake *f, uint64_t job, uint64_t lease, uint32_t rank)
{
	struct relayed r = { .contiguous = true, .exit_after_reports = true, .loss = NAN };
	bool exited = false;

	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__ToDaemon *m = f->msgs[i];

		if (m->msg_case == HARE__TO_DAEMON__MSG_TASK_EXIT && m->task_exit->job_id == job &&
		    m->task_exit->lease_id == lease && m->task_exit->rank == rank)
			exited = true;
		if (m->msg_case != HARE__TO_DAEMON__MSG_ROUND_REPORT)
			continue;
		const Hare__RoundReport *p = m->round_report;

		if (p->job_id != job || p->lease_id != lease || p->rank != rank)
			continue;
		r.exit_after_reports &= !exited;
		r.contiguous &= r.reports == 0 || p->round_first == r.next;
		r.reports++;
		r.next = p->round_first + p->round_count;
		r.rounds += p->round_count;
		r.compute += p->compute_s;
		r.sync += p->sync_s;
		r.loss = p->has_loss ? p->loss : NAN;
	}
	return r;
}

static int fake_heartbeats_running(const struct fake *f)
{
	int n = 0;

	for (size_t i = 0; i < f->nmsgs; i++)
		n += f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_HEARTBEAT &&
		     f->msgs[i]->heartbeat->n_running > 0;
	return n;
}

static void test_relay_two_ranks(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2,T4:1");
	struct start_args s = { .job = 1, .lease = 1, .world = 2, .first = 1000, .count = 400,
				.round_s = 1, .scale = 1000 };
	struct relayed r0, r1;
	const Hare__TaskExit *e;

	(void)state;
	fake_agent_registered(f);
	assert_int_equal(f->reg_gpus, 3);
	assert_string_equal(f->reg_type0, "V100");
	assert_int_equal(f->reg_running, 0);
	fake_task_start(f, &s);
	s.rank = 1;
	s.gpu = 1;
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 1, 1, 0) && fake_exit(f, 1, 1, 1), 20);
	r0 = fake_relayed(f, 1, 1, 0);
	r1 = fake_relayed(f, 1, 1, 1);
	print_message("relay: 400 rounds of ~1 ms per rank in %d and %d RoundReports\n",
		      r0.reports, r1.reports);
	assert_int_equal(r0.rounds, 400);
	assert_int_equal(r1.rounds, 400);
	assert_true(r0.contiguous && r1.contiguous && r0.exit_after_reports && r1.exit_after_reports);
	assert_int_equal(r0.next, 1400);
	/* batched: about one report per 50 ms, not one per round */
	assert_true(r0.reports >= 2 && r0.reports <= 60);
	/* the same noise on both ranks, compute share 0.4 of each round */
	assert_true(fabs(r0.compute - r1.compute) < 1e-6 && fabs(r0.sync - r1.sync) < 1e-6);
	assert_true(fabs(r0.compute / (r0.compute + r0.sync) - 0.4) < 1e-6);
	assert_true(r0.compute + r0.sync > 0.5 * 400 && r0.compute + r0.sync < 3.0 * 400);
	assert_true(r0.loss > 0.1 && r0.loss < 2.6);
	e = fake_exit(f, 1, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_true(e->has_exit_code && e->exit_code == 0);
	assert_true(e->has_rounds_done && e->rounds_done == 400);
	assert_true(fake_heartbeats_running(f) >= 1);
	fake_free(f);
}

static void test_stop_and_kill(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 2, .lease = 5, .count = 100000, .round_s = 1, .scale = 100 };
	struct start_args k = { .job = 3, .lease = 6, .gpu = 1, .command =
		"trap '' TERM; printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; "
		"while :; do sleep 0.05; done" };
	const Hare__TaskExit *e;
	struct relayed r;
	double t0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	fake_task_start(f, &k);
	RUN_UNTIL(f, fake_relayed(f, 2, 5, 0).reports >= 1 && fake_relayed(f, 3, 6, 0).reports >= 1, 10);
	t0 = now_s();
	fake_task_stop(f, 2, 5);
	fake_task_stop(f, 3, 6);
	fake_task_stop(f, 99, 99);	/* nothing of that runs here: ignored */
	RUN_UNTIL(f, fake_exit(f, 2, 5, 0), 5);
	print_message("stop: TaskExit %.0f ms after TaskStop\n", (now_s() - t0) * 1000);
	e = fake_exit(f, 2, 5, 0);
	r = fake_relayed(f, 2, 5, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(e->exit_code, 0);
	assert_true(r.rounds > 0 && e->rounds_done == r.rounds && r.exit_after_reports);
	assert_non_null(strstr(e->message, "stopped after "));
	assert_true(now_s() - t0 < 1.0);
	/* the worker that ignores SIGTERM is killed after the 300 ms grace */
	RUN_UNTIL(f, fake_exit(f, 3, 6, 0), 5);
	e = fake_exit(f, 3, 6, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(e->exit_code, 128 + SIGKILL);
	assert_string_equal(e->message, "killed by signal 9 after the 300 ms grace period");
	assert_true(now_s() - t0 >= 0.3);
	fake_free(f);
}

/* The state letter of /proc/PID/stat ('Z' for a zombie), or 0. */
static char proc_state(int pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* A worker that failed by itself before its stop came (a child of it still
 * holds the report pipe) is reported FAILED with its exit code, not
 * STOPPED: hared charges the node of the rank that failed by itself; the
 * child is ended. */
static void test_stop_after_exit(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 4, .lease = 2, .command =
		"sleep 30 & printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; exit 3" };
	const Hare__TaskExit *e;
	double t0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 4, 2, 0).reports >= 1, 5);
	t0 = now_s();
	RUN_UNTIL(f, now_s() - t0 > 0.3, 2);	/* exited; the pipe held open */
	assert_null(fake_exit(f, 4, 2, 0));
	fake_task_stop(f, 4, 2);
	RUN_UNTIL(f, fake_exit(f, 4, 2, 0), 5);
	e = fake_exit(f, 4, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_int_equal(e->exit_code, 3);
	assert_string_equal(e->message, "exited with code 3");
	assert_true(now_s() - t0 < 0.9);	/* before the 1 s wait for EOF: the child was ended */
	fake_free(f);
}

/* What a task leaves in its process group (here a child that ignores
 * SIGTERM, after a stop) is killed when the task ends; and a researcher's
 * command runs with SIGPIPE ignored, so it survives writing a report while
 * no agent reads. */
static void test_task_group_killed(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], path[300], line[64];
	struct start_args s = { .job = 4, .lease = 3, .command = cmd };
	const Hare__TaskExit *e;
	FILE *fp;
	int pid = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/left.pid", f->dir);
	snprintf(cmd, sizeof(cmd), "sh -c 'trap \"\" TERM; exec sleep 60' & echo $! > %s; "
		 "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; "
		 "m=$(awk '/^SigIgn/ { print $2 }' /proc/$$/status); [ $((0x$m & 0x1000)) -ne 0 ] || exit 9; "
		 "while :; do sleep 0.05; done", path);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 4, 3, 0).reports >= 1, 5);
	fake_task_stop(f, 4, 3);
	RUN_UNTIL(f, fake_exit(f, 4, 3, 0), 5);
	e = fake_exit(f, 4, 3, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);	/* not exit 9: PIPE ignored */
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	pid = atoi(line);
	assert_true(pid > 1);
	for (int i = 0; i < 200 && agent_pid_alive(pid, 0); i++)
		usleep(10000);
	if (agent_pid_alive(pid, 0))
		fail_msg("the child that ignores SIGTERM (pid %d) still runs: state %c", pid,
			 proc_state(pid));
	fake_free(f);
}

static void test_command_env_and_garbage(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], path[256], got[256] = "";
	struct start_args s = { .job = 4, .lease = 9, .world = 3, .rank = 2, .first = 7, .count = 4,
				.command = cmd };
	struct agent_stats st;
	const Hare__TaskExit *e;
	struct relayed r;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/env.txt", f->dir);
	snprintf(cmd, sizeof(cmd),
		 "echo \"$HARE_JOB_ID $HARE_LEASE_ID $HARE_RANK $HARE_WORLD_SIZE $HARE_MASTER_ADDR "
		 "$HARE_MASTER_PORT [$CUDA_VISIBLE_DEVICES] $HARE_REPORT_FD $HARE_ROUND_FIRST\" > %s; "
		 "printf 'round 7 2 1 1 2.5\\ngarbage here\\n' >&$HARE_REPORT_FD; sleep 0.1; "
		 "printf 'rou' >&$HARE_REPORT_FD; sleep 0.1; "
		 "printf 'nd 9 1 0.5 0.5 nan\\nround 10 1 0.5 0.5 2.25\\ndone 4\\n' >&$HARE_REPORT_FD",
		 path);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 4, 9, 2), 10);
	e = fake_exit(f, 4, 9, 2);
	r = fake_relayed(f, 4, 9, 2);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(e->rounds_done, 4);
	assert_int_equal(r.rounds, 4);
	assert_true(r.contiguous && r.next == 11);
	assert_true(r.loss == 2.25);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.bad_lines, 1);
	assert_int_equal(st.report_lines, 5);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(got, sizeof(got), fp));
	fclose(fp);
	assert_string_equal(got, "4 9 2 3 10.0.0.1 29500 [] 3 7\n");
	fake_free(f);
}

static void test_failures(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 5, .lease = 1, .command = "exit 3" };
	const Hare__TaskExit *e;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	s.lease = 2;
	s.command = "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; kill -SEGV $$";
	fake_task_start(f, &s);
	s.lease = 3;
	s.command = "true";
	fake_task_start(f, &s);
	s.lease = 4;
	s.gpu = 9;
	fake_task_start(f, &s);
	s.lease = 5;
	s.gpu = 0;
	s.command = NULL;	/* an emulated worker without round_s */
	fake_task_start(f, &s);
	s.lease = 6;		/* stopped on its own, cleanly (an orphan's stop) */
	s.command = "printf 'round 0 2 1 1 1\nstopped 2\n' >&$HARE_REPORT_FD";
	fake_task_start(f, &s);
	s.lease = 7;		/* a peer failed (REPORT_EXIT_PEER) */
	s.command = "exit 75";
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 5, 1, 0) && fake_exit(f, 5, 2, 0) && fake_exit(f, 5, 3, 0) &&
		  fake_exit(f, 5, 4, 0) && fake_exit(f, 5, 5, 0) && fake_exit(f, 5, 6, 0) &&
		  fake_exit(f, 5, 7, 0), 10);
	e = fake_exit(f, 5, 7, 0);
	assert_true(e->status == HARE__TASK_STATUS__TASK_FAILED && e->exit_code == REPORT_EXIT_PEER);
	assert_string_equal(e->message, "exited with code 75 (a peer rank or the network failed)");
	e = fake_exit(f, 5, 6, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_int_equal(e->rounds_done, 2);
	e = fake_exit(f, 5, 1, 0);
	assert_true(e->status == HARE__TASK_STATUS__TASK_FAILED && e->exit_code == 3);
	assert_string_equal(e->message, "exited with code 3");
	e = fake_exit(f, 5, 2, 0);
	assert_true(e->status == HARE__TASK_STATUS__TASK_FAILED && e->exit_code == 128 + SIGSEGV);
	assert_int_equal(e->rounds_done, 1);
	assert_non_null(strstr(e->message, "terminated by signal 11"));
	e = fake_exit(f, 5, 3, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "exited with code 0 without a done line");
	e = fake_exit(f, 5, 4, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "GPU 9 is not on node test-node (1 GPUs)");
	e = fake_exit(f, 5, 5, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_non_null(strstr(e->message, "needs round_s"));
	fake_free(f);
}

static void fake_set(struct fake *f, const char *key, const char *value);

static void fake_log_fetch(struct fake *f, uint64_t req, uint64_t job, uint32_t rank,
			   uint32_t max_bytes)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__LogFetch q = HARE__LOG_FETCH__INIT;

	q.request_id = req;
	q.job_id = job;
	q.rank = rank;
	q.max_bytes = max_bytes;
	m.msg_case = HARE__FROM_DAEMON__MSG_LOG_FETCH;
	m.log_fetch = &q;
	fake_send(f, &m);
}

static const Hare__LogData *fake_log_data(const struct fake *f, uint64_t req)
{
	for (size_t i = 0; i < f->nmsgs; i++) {
		if (f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_LOG_DATA &&
		    f->msgs[i]->log_data->request_id == req)
			return f->msgs[i]->log_data;
	}
	return NULL;
}

/* A worker's stdout and stderr go to its rank's file, between the agent's
 * lines on the lease; a failure quotes the last line; LogFetch sends the
 * file's end (none for a job without one); task_logs = none keeps no file
 * and tells the daemon so. */
static void test_task_output(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 6, .lease = 1, .count = 5,
				.command = "echo out1; printf 'err: bad\tthing\n\n' >&2; exit 4" };
	char path[300], text[2048], want[600];
	const Hare__TaskExit *e;
	const Hare__LogData *d;
	const char *p;

	(void)state;
	fake_agent_registered(f);
	assert_true(f->reg_logs);
	fake_task_start(f, &s);
	s.lease = 2;
	s.command = "echo second lease; exit 5";
	RUN_UNTIL(f, fake_exit(f, 6, 1, 0), 10);
	fake_task_start(f, &s);
	s.job = 7;
	s.lease = 3;
	s.gpu = 1;
	s.command = "echo x; sleep 30";
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 10);
	e = fake_exit(f, 6, 1, 0);
	assert_string_equal(e->message, "exited with code 4; last output: err: bad thing");
	e = fake_exit(f, 6, 2, 0);
	assert_string_equal(e->message, "exited with code 5; last output: second lease");
	snprintf(path, sizeof(path), "%s/work/logs/job-6.rank-0.log", f->dir);
	read_text(path, text, sizeof(text));
	p = strstr(text, ": job 6 lease 1 rank 0/1 on node test-node GPU 0 (V100), rounds 0..5\n"
		   "out1\nerr: bad\tthing\n\nhare-agent ");
	assert_non_null(p);
	p = strstr(p, ": job 6 lease 1 rank 0 failed: exited with code 4\nhare-agent ");
	assert_non_null(p);
	p = strstr(p, ": job 6 lease 2 rank 0/1 on node test-node GPU 0 (V100), rounds 0..5\n"
		   "second lease\nhare-agent ");
	assert_non_null(p);
	assert_non_null(strstr(p, ": job 6 lease 2 rank 0 failed: exited with code 5\n"));
	assert_int_equal(text[strlen(text) - 1], '\n');

	/* the end of the file, and of a file that does not exist */
	fake_log_fetch(f, 41, 6, 0, 20);
	fake_log_fetch(f, 42, 6, 0, 1000000);
	fake_log_fetch(f, 43, 6, 1, 100);
	RUN_UNTIL(f, fake_log_data(f, 41) && fake_log_data(f, 42) && fake_log_data(f, 43), 5);
	d = fake_log_data(f, 41);
	assert_non_null(d->part);
	assert_string_equal(d->part->node, "test-node");
	assert_string_equal(d->part->path, path);
	assert_int_equal(d->part->size, strlen(text));
	assert_int_equal(d->part->data.len, 20);
	assert_memory_equal(d->part->data.data, text + strlen(text) - 20, 20);
	assert_true(d->part->has_mtime && d->part->mtime > 1e9);
	d = fake_log_data(f, 42);
	assert_int_equal(d->part->data.len, strlen(text));
	assert_memory_equal(d->part->data.data, text, strlen(text));
	d = fake_log_data(f, 43);
	assert_null(d->part);
	assert_null(d->message);

	/* something else planted under a file's name: a FIFO is neither waited
	 * on nor written (the worker's output goes to the agent's stderr), a
	 * symlink is not followed; a C1 control in the quoted line is masked */
	snprintf(path, sizeof(path), "%s/work/logs/job-9.rank-0.log", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/work/logs/job-9.rank-1.log", f->dir);
	snprintf(want, sizeof(want), "%s/elsewhere", f->dir);
	assert_int_equal(symlink(want, path), 0);
	s.job = 9;
	s.lease = 5;
	s.command = "printf 'x\\302\\2332Jboom\\n'; exit 2";
	fake_task_start(f, &s);
	s.rank = 1;
	s.gpu = 1;
	s.world = 2;
	fake_task_start(f, &s);
	s.job = 10;
	s.rank = 0;
	s.world = 1;
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 9, 5, 0) && fake_exit(f, 9, 5, 1) && fake_exit(f, 10, 5, 0), 10);
	assert_string_equal(fake_exit(f, 9, 5, 0)->message, "exited with code 2");
	assert_string_equal(fake_exit(f, 9, 5, 1)->message, "exited with code 2");
	assert_string_equal(fake_exit(f, 10, 5, 0)->message, "exited with code 2; last output: x?2Jboom");
	assert_false(file_exists(want));
	fake_log_fetch(f, 44, 9, 0, 100);
	fake_log_fetch(f, 45, 9, 1, 100);
	RUN_UNTIL(f, fake_log_data(f, 44) && fake_log_data(f, 45), 5);
	assert_null(fake_log_data(f, 44)->part);
	assert_non_null(strstr(fake_log_data(f, 44)->message, "job-9.rank-0.log: not a regular file"));
	assert_non_null(strstr(fake_log_data(f, 45)->message, "job-9.rank-1.log: not a regular file"));
	s.gpu = 0;

	/* a stopped task's end line has the daemon's reason */
	RUN_UNTIL(f, (snprintf(path, sizeof(path), "%s/work/logs/job-7.rank-0.log", f->dir),
		      read_text(path, text, sizeof(text)), strstr(text, "\nx\n")), 5);
	fake_task_stop(f, 7, 3);
	RUN_UNTIL(f, fake_exit(f, 7, 3, 0), 10);
	read_text(path, text, sizeof(text));
	snprintf(want, sizeof(want), ": job 7 lease 3 rank 0 stopped (preempted): stopped by "
		 "signal %d (%s)\n", SIGTERM, strsignal(SIGTERM));
	assert_non_null(strstr(text, want));
	fake_free(f);

	/* none: output to the agent's stderr, no file, Register says so */
	f = fake_new(TEST_KEY, "V100:1");
	fake_set(f, "task_logs", "none");
	fake_agent_registered(f);
	assert_false(f->reg_logs);
	s.job = 8;
	s.lease = 4;
	s.gpu = 0;
	s.command = "echo to the agent; exit 6";
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 4, 0), 10);
	assert_string_equal(fake_exit(f, 8, 4, 0)->message, "exited with code 6");
	snprintf(path, sizeof(path), "%s/work/logs", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* An output file of age_days in the agent's log folder. */
static void old_file(const struct fake *f, const char *name, double age_days)
{
	char path[400];
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/work/logs/%s", f->dir, name);
	write_file(path, "x\n", 0640);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= (time_t)(age_days * 86400);
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool log_exists(const struct fake *f, const char *name)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/work/logs/%s", f->dir, name);
	return file_exists(path);
}

/* Entries of dir set aside for removal (.stale-*). */
static int stale_count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, ".stale-", 7) == 0;
	if (d)
		closedir(d);
	return n;
}

/* As root, a task whose owner has no account on the node is not started,
 * and its exit says so (TaskExit.no_account: the job's matter, not the
 * node's); one that runs as root is no such case. */
static void test_no_account(void **state)
{
	const Hare__TaskExit *e;
	struct fake *f;

	(void)state;
	if (geteuid() != 0)
		skip();
	f = fake_new(TEST_KEY, "V100:2");
	fake_agent_registered(f);
	fake_task_start(f, &(struct start_args){ .job = 7, .lease = 1, .count = 3, .round_s = 0.01,
						 .user = "no-such-user-hq7" });
	RUN_UNTIL(f, fake_exit(f, 7, 1, 0), 5);
	e = fake_exit(f, 7, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_true(e->has_no_account && e->no_account);
	assert_false(e->has_exit_code);
	assert_string_equal(e->message, "user 'no-such-user-hq7' has no account on this node");
	fake_task_start(f, &(struct start_args){ .job = 8, .lease = 1, .count = 3, .round_s = 0.01,
						 .gpu = 1, .user = "root" });
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 10);
	e = fake_exit(f, 8, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_false(e->has_no_account && e->no_account);
	fake_free(f);
}

/* A checkpoint folder made the job owner's (as root): a user's or root's
 * stale one (another job's, after a new database) is set aside and removed
 * as its owner, a system account's (an upgrade) given over with what is its
 * own in it (a hard link to another's file is taken out), a link in its
 * place removed as a link; links planted inside are never followed, so
 * nothing outside work_dir is touched. */
static void test_account_ckpt_dir(void **state)
{
	struct fake *f;
	struct agent_account alice = { .uid = 4242, .gid = 4242, .name = "alice" };
	char path[512], victim[512], other[512], why[256];
	struct stat st;

	(void)state;
	if (geteuid() != 0)
		skip();
	f = fake_new(TEST_KEY, "V100:1");
	fake_agent_start(f);	/* makes checkpoints/ 0711 */
	snprintf(victim, sizeof(victim), "%s/victim", f->dir);
	write_file(victim, "keep", 0600);
	/* as a worker of root's job leaves it (checkpoint.c): 0700 */
	snprintf(path, sizeof(path), "%s/work/checkpoints", f->dir);
	assert_int_equal(chmod(path, 0700), 0);
	/* job 5: bob's (uid 5000), with a link out and a nested folder */
	snprintf(path, sizeof(path), "%s/work/checkpoints/5", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5/z", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5/z/ckpt", f->dir);
	write_file(path, "bob's", 0600);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5/out", f->dir);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(lchown(path, 5000, 5000), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5/z/ckpt", f->dir);
	assert_int_equal(chown(path, 5000, 5000), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5/z", f->dir);
	assert_int_equal(chown(path, 5000, 5000), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5", f->dir);
	assert_int_equal(chown(path, 5000, 5000), 0);
	assert_int_equal(agent_account_ckpt_dir(f->agent, 5, &alice, why, sizeof(why)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode) && st.st_uid == 4242 && (st.st_mode & 07777) == 0700);
	snprintf(path, sizeof(path), "%s/work/checkpoints/5/z", f->dir);
	assert_false(file_exists(path));	/* bob's went */
	assert_true(file_exists(victim));	/* not through the link */
	/* job 6: the agent's former account's (uid 998): given over, kept */
	snprintf(path, sizeof(path), "%s/work/checkpoints/6", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/6/round-1", f->dir);
	write_file(path, "alice's", 0600);
	assert_int_equal(chown(path, 998, 998), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/6/out", f->dir);
	assert_int_equal(symlink(victim, path), 0);
	/* a hard link to another account's file: taken out, not given */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	write_file(other, "carol's", 0660);
	assert_int_equal(chown(other, 4000, 4000), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/6/hard", f->dir);
	assert_int_equal(link(other, path), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/6", f->dir);
	assert_int_equal(chown(path, 998, 998), 0);
	assert_int_equal(agent_account_ckpt_dir(f->agent, 6, &alice, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/6/round-1", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 4242);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_uid, 0);		/* the link's target stays root's */
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_uid, 4000);	/* carol's stays carol's */
	snprintf(path, sizeof(path), "%s/work/checkpoints/6/hard", f->dir);
	assert_false(file_exists(path));
	/* job 8: root's (a root job's, ids begun again): set aside, not given */
	snprintf(path, sizeof(path), "%s/work/checkpoints/8", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/work/checkpoints/8/round-1", f->dir);
	write_file(path, "root's", 0600);
	assert_int_equal(agent_account_ckpt_dir(f->agent, 8, &alice, why, sizeof(why)), 0);
	assert_false(file_exists(path));
	snprintf(path, sizeof(path), "%s/work/checkpoints/8", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 4242);
	/* job 7: a link where the folder goes */
	snprintf(path, sizeof(path), "%s/work/checkpoints/7", f->dir);
	assert_int_equal(symlink(f->dir, path), 0);
	assert_int_equal(agent_account_ckpt_dir(f->agent, 7, &alice, why, sizeof(why)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode) && st.st_uid == 4242);
	assert_true(file_exists(victim));
	/* checkpoints/ itself: searchable by others */
	snprintf(path, sizeof(path), "%s/work/checkpoints", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0011, 0011);
	/* the folders set aside (5's, 8's) are removed in the background */
	for (int i = 0; i < 100 && stale_count(path) > 0; i++)
		usleep(20000);
	assert_int_equal(stale_count(path), 0);
	assert_true(file_exists(victim));
	fake_free(f);
}

/* Output files unchanged for task_log_keep_days go, unless a worker of
 * their job is here; other files stay; 0 keeps everything. */
static void test_task_output_prune(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 21, .lease = 1, .count = 5, .command = "sleep 30" };
	static const char *const ckpts[] = { "30", "31", "21", "x1" };
	char path[400];

	(void)state;
	fake_set(f, "task_log_keep_days", "7");
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, log_exists(f, "job-21.rank-0.log"), 5);
	old_file(f, "job-20.rank-0.log", 8);
	old_file(f, "job-20.rank-3.log", 30);
	old_file(f, "job-21.rank-0.log", 8);	/* its worker runs */
	old_file(f, "job-22.rank-0.log", 6);
	old_file(f, "notes.txt", 100);
	old_file(f, "job-23.rank-0.log.1", 100);
	old_file(f, "job- 5.rank-0.log", 100);
	old_file(f, "job-+5.rank-0.log", 100);
	old_file(f, "job-05.rank-0.log", 100);
	/* checkpoint folders: an empty one of a job not here goes, one with
	 * files or of a job running here stays, other names stay */
	snprintf(path, sizeof(path), "%s/work/checkpoints", f->dir);
	mkdir(path, 0711);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/work/checkpoints/%s", f->dir, ckpts[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	snprintf(path, sizeof(path), "%s/work/checkpoints/31/ckpt-1", f->dir);
	write_file(path, "x", 0600);
	assert_int_equal(agent_log_prune(f->agent, time(NULL)), 2);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/work/checkpoints/%s", f->dir, ckpts[i]);
		assert_int_equal(file_exists(path), i != 0);
	}
	assert_false(log_exists(f, "job-20.rank-0.log") || log_exists(f, "job-20.rank-3.log"));
	assert_true(log_exists(f, "job-21.rank-0.log") && log_exists(f, "job-22.rank-0.log"));
	assert_true(log_exists(f, "notes.txt") && log_exists(f, "job-23.rank-0.log.1"));
	assert_true(log_exists(f, "job- 5.rank-0.log") && log_exists(f, "job-+5.rank-0.log") &&
		    log_exists(f, "job-05.rank-0.log"));
	assert_int_equal(agent_log_prune(f->agent, time(NULL) + 2 * 86400), 1);	/* job-22 */
	/* agent_log_prune_due: not again within AGENT_LOG_PRUNE_MS, then yes */
	old_file(f, "job-25.rank-0.log", 8);
	agent_log_prune_due(f->agent);
	assert_true(log_exists(f, "job-25.rank-0.log"));
	f->agent->pruned_ms = agent_now_ms(f->agent) - AGENT_LOG_PRUNE_MS - 1;
	agent_log_prune_due(f->agent);
	assert_false(log_exists(f, "job-25.rank-0.log"));
	old_file(f, "job-24.rank-0.log", 1000);
	f->agent->cfg.task_log_keep_days = 0;
	assert_int_equal(agent_log_prune(f->agent, time(NULL)), 0);
	assert_true(log_exists(f, "job-24.rank-0.log"));
	fake_task_stop(f, 21, 1);
	RUN_UNTIL(f, fake_exit(f, 21, 1, 0), 10);
	fake_free(f);
}

/* worker_orphan_timeout_s and worker_progress_s reach hare-worker. */
static void test_worker_settings(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	struct start_args s = { .job = 30, .lease = 1, .count = 2, .round_s = 0.001 };
	char wrap[300], text[600], got[2048];

	(void)state;
	snprintf(wrap, sizeof(wrap), "%s/worker.sh", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$*\" >> %s/argv.txt\nexec %s \"$@\"\n",
		 f->dir, WORKER_BIN);
	write_file(wrap, text, 0755);
	fake_set(f, "worker", wrap);
	fake_set(f, "worker_orphan_timeout_s", "77");
	fake_set(f, "worker_progress_s", "0");
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 30, 1, 0), 10);
	assert_int_equal(fake_exit(f, 30, 1, 0)->status, HARE__TASK_STATUS__TASK_OK);
	snprintf(text, sizeof(text), "%s/argv.txt", f->dir);
	read_text(text, got, sizeof(got));
	assert_non_null(strstr(got, " --orphan-timeout-s=77 --progress-s=0"));
	fake_free(f);
}

static void test_reconnect_keeps_reports(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "T4:1");
	struct start_args s = { .job = 6, .lease = 2, .count = 1500, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	struct relayed r;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 6, 2, 0).reports >= 1, 5);
	fake_drop(f);
	/* the agent comes back (0.1 - 0.2 s back-off) and lists the running task
	 * with all a daemon needs to book it where it runs */
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->hellos, 2);
	assert_int_equal(f->reg_running, 1);
	assert_int_equal(f->reg_running_job, 6);
	assert_true(f->reg_task0.has_gpu_index && f->reg_task0.has_world_size &&
		    f->reg_task0.has_tasks && f->reg_task0.has_round_first);
	assert_int_equal(f->reg_task0.gpu_index, 0);
	assert_int_equal(f->reg_task0.world_size, 1);
	assert_int_equal(f->reg_task0.tasks, 1);
	assert_int_equal(f->reg_task0.round_first, 0);
	assert_true(f->reg_task0.has_rounds_done && f->reg_task0.rounds_done >= 1);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 10);
	e = fake_exit(f, 6, 2, 0);
	r = fake_relayed(f, 6, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(r.rounds, 1500);
	assert_true(r.contiguous && r.exit_after_reports);
	fake_free(f);
}

static void test_adopt_after_agent_restart(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 7, .lease = 3, .rank = 1, .world = 2, .gpu = 1, .first = 500,
				.count = 1500, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	struct relayed r;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 7, 3, 1).reports >= 1, 5);
	/* the agent goes away; its worker does not */
	fake_agent_stop(f);
	RUN_UNTIL(f, !f->client_open, 5);
	assert_null(fake_exit(f, 7, 3, 1));
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 1);
	assert_int_equal(f->reg_running_job, 7);
	/* what the new agent read back from the task's state file */
	assert_int_equal(f->reg_task0.rank, 1);
	assert_int_equal(f->reg_task0.gpu_index, 1);
	assert_int_equal(f->reg_task0.world_size, 2);
	assert_int_equal(f->reg_task0.tasks, 1);
	assert_int_equal(f->reg_task0.round_first, 500);
	assert_true(!f->reg_task0.has_rounds_done || f->reg_task0.rounds_done <= 1500);
	RUN_UNTIL(f, fake_exit(f, 7, 3, 1), 10);
	e = fake_exit(f, 7, 3, 1);
	r = fake_relayed(f, 7, 3, 1);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_false(e->has_exit_code);	/* not the new agent's child */
	assert_int_equal(e->rounds_done, 1500);
	assert_int_equal(r.rounds, 1500);
	assert_true(r.contiguous);
	fake_free(f);
}


/* A worker that died while its agent was away (a zombie here, as under a
 * parent that reaps late) ends when the next agent adopts it: FAILED, not
 * "running" for good (its report FIFO then has no writer, and a FIFO
 * opened without one shows no hang-up by itself). */
static void test_adopt_worker_died_while_away(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 8, .lease = 4, .rank = 0, .world = 1, .gpu = 0, .first = 0,
				.count = 100000, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	char path[512], line[256];
	FILE *fp;
	int pid = 0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 8, 4, 0).reports >= 1, 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/8.4.0.task", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "pid=%d", &pid) == 1)
			break;
	fclose(fp);
	assert_true(pid > 1);
	/* killed, and left unreaped: a zombie still answers kill(pid, 0) */
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (int i = 0; i < 500 && proc_state(pid) != 'Z'; i++)
		usleep(10000);
	assert_int_equal(proc_state(pid), 'Z');
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	RUN_UNTIL(f, fake_exit(f, 8, 4, 0), 5);
	e = fake_exit(f, 8, 4, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "worker ended without a done line while the agent was away");
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	fake_free(f);
}

static pid_t reused_pid;
static int reused_kills;

static int reused_kill(pid_t pid, int sig)
{
	if (pid == reused_pid || pid == -reused_pid)
		reused_kills++;
	return kill(pid, sig);
}

/* The pid of a worker that ended while the agent was away now belongs to
 * another process (a reboot, a long outage): its start time differs from
 * the one in the task state, so the agent does not adopt it as the worker,
 * never signals it (not at the stop, not at the end), and reports the task
 * ended. Before, it adopted the stranger and killed it at the stop. */
static void test_adopt_pid_reused(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 8, .lease = 5, .rank = 0, .world = 1, .gpu = 0, .first = 0,
				.count = 100000, .round_s = 1, .scale = 1000 };
	char path[512], line[256], text[2048] = "";
	size_t used = 0;
	FILE *fp;
	int pid = 0;

	(void)state;
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_relayed(f, 8, 5, 0).reports >= 1, 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/8.5.0.task", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "pid=%d", &pid) == 1)
			continue;	/* written again below, as the stranger's */
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s", line);
	}
	fclose(fp);
	assert_true(pid > 1);
	assert_non_null(strstr(text, "pid_start="));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	reused_pid = fork();
	assert_true(reused_pid >= 0);
	if (reused_pid == 0) {
		setsid();
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%spid=%d\n", text, (int)reused_pid);
	fclose(fp);
	reused_kills = 0;
	fake_agent_start(f);
	f->agent->kill_hook = reused_kill;
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 0);	/* not counted as running */
	fake_task_stop(f, 8, 5);
	RUN_UNTIL(f, fake_exit(f, 8, 5, 0), 5);
	assert_int_equal(reused_kills, 0);
	assert_int_equal(kill(reused_pid, 0), 0);	/* the stranger runs on */
	kill(reused_pid, SIGKILL);
	waitpid(reused_pid, NULL, 0);
	fake_free(f);
}

/* A task whose state file cannot be written (a full disk; here a folder in
 * the way of its temporary file) is stopped and reported FAILED: a
 * restarted agent could not adopt it, and it would run on unseen. */
static void test_task_state_unwritable(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args s = { .job = 8, .lease = 6, .rank = 0, .world = 1, .gpu = 0, .first = 0,
				.count = 100000, .round_s = 1, .scale = 1000 };
	const Hare__TaskExit *e;
	char path[512];

	(void)state;
	fake_agent_registered(f);
	snprintf(path, sizeof(path), "%s/work/tasks/8.6.0.task.tmp", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 6, 0), 5);
	e = fake_exit(f, 8, 6, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_non_null(strstr(e->message, "cannot write its task state in "));
	assert_non_null(strstr(e->message, "stopped, since an agent restart could not adopt it"));
	rmdir(path);
	fake_free(f);
}

/* An adopted worker is watched as a child would be: one that closed its
 * report pipe but still runs stays running until it exits; one that died
 * while a child of it holds the pipe ends about a second later. */
static void test_adopt_watch(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	char closed[512], held[512], path[300], line[32];
	struct start_args a = { .job = 9, .lease = 1, .command = closed },
			  b = { .job = 9, .lease = 2, .gpu = 1, .command = held };
	const Hare__TaskExit *e;
	double t0;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/child.pid", f->dir);
	snprintf(closed, sizeof(closed), "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; "
		 "eval \"exec $HARE_REPORT_FD>&-\"; sleep 2; exit 4");
	snprintf(held, sizeof(held), "sleep 30 & echo $! > %s; printf 'round 0 1 1 1 1\\n' "
		 ">&$HARE_REPORT_FD; sleep 1; exit 3", path);
	fake_agent_registered(f);
	fake_task_start(f, &a);
	fake_task_start(f, &b);
	RUN_UNTIL(f, fake_relayed(f, 9, 1, 0).reports >= 1 && fake_relayed(f, 9, 2, 0).reports >= 1, 5);
	fake_agent_stop(f);
	t0 = now_s();
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 2);
	/* b's worker exits at about 1 s; its child holds the pipe */
	RUN_UNTIL(f, fake_exit(f, 9, 2, 0), 5);
	print_message("adopted worker with a child on its pipe: TaskExit %.0f ms after the restart\n",
		      (now_s() - t0) * 1000);
	e = fake_exit(f, 9, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "adopted worker ended without a done line (its exit code is "
			    "unknown)");
	/* a's worker closed its pipe but ran on until about 2 s */
	RUN_UNTIL(f, fake_exit(f, 9, 1, 0), 5);
	assert_true(now_s() - t0 > 1.5);
	e = fake_exit(f, 9, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	fp = fopen(path, "r");
	if (fp && fgets(line, sizeof(line), fp) && atoi(line) > 1)
		kill(atoi(line), SIGKILL);
	if (fp)
		fclose(fp);
	fake_free(f);
}

static int damaged_kills;

static int damaged_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	damaged_kills++;
	return 0;
}

/* Task state files no agent wrote that way: a copy under another name (or
 * a file named for another task), an unknown status, a worker pid of 1.
 * Files not named for the task they describe are ignored, the
 * status goes out as FAILED, and the stop signals nobody (kill(-1) would
 * reach every process; kill_hook records instead). */
static void test_adopt_damaged_state(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	const char *ended = "job=21\nlease=1\nrank=0\npid=0\nstatus=99\nmessage=damaged\n";
	const Hare__TaskExit *e;
	char dir[256], path[320];
	double t0;
	int fd, exits = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/work", f->dir);
	assert_int_equal(mkdir(dir, 0750), 0);
	snprintf(dir, sizeof(dir), "%s/work/tasks", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/21.1.0.task", dir);
	write_file(path, ended, 0600);
	snprintf(path, sizeof(path), "%s/copy.task", dir);
	write_file(path, ended, 0600);
	snprintf(path, sizeof(path), "%s/23.1.0.task.orig", dir);	/* not a .task */
	write_file(path, "job=23\nlease=1\nrank=0\npid=0\nstatus=1\n", 0600);
	snprintf(path, sizeof(path), "%s/24.1.1.task", dir);	/* names another task */
	write_file(path, "job=24\nlease=1\nrank=0\npid=0\nstatus=1\n", 0600);
	snprintf(path, sizeof(path), "%s/22.1.0.task", dir);
	write_file(path, "job=22\nlease=1\nrank=0\npid=1\n", 0600);
	/* a live worker's report pipe: held open for writing */
	snprintf(path, sizeof(path), "%s/22.1.0.fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	fd = open(path, O_RDWR | O_NONBLOCK);
	assert_true(fd >= 0);
	damaged_kills = 0;
	fake_agent_start(f);
	f->agent->kill_hook = damaged_kill;
	RUN_UNTIL(f, f->registers == 1 && fake_exit(f, 21, 1, 0), 5);
	assert_int_equal(f->reg_running, 1);
	assert_int_equal(f->reg_running_job, 22);
	fake_task_stop(f, 22, 1);
	/* past the 300 ms grace, when SIGKILL would follow SIGTERM */
	t0 = now_s();
	RUN_UNTIL(f, now_s() > t0 + 0.6, 2);
	assert_int_equal(damaged_kills, 0);
	close(fd);
	RUN_UNTIL(f, fake_exit(f, 22, 1, 0), 5);
	assert_int_equal(fake_exit(f, 22, 1, 0)->status, HARE__TASK_STATUS__TASK_STOPPED);
	e = fake_exit(f, 21, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->message, "damaged");
	for (size_t i = 0; i < f->nmsgs; i++)
		exits += f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_TASK_EXIT &&
			 f->msgs[i]->task_exit->job_id == 21;
	assert_int_equal(exits, 1);
	assert_null(fake_exit(f, 23, 1, 0));
	assert_null(fake_exit(f, 24, 1, 0));
	/* the files not adopted are set aside once, kept for the operator */
	snprintf(path, sizeof(path), "%s/copy.task.ignored", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/24.1.1.task.ignored", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/24.1.1.task", dir);
	assert_int_equal(access(path, F_OK), -1);
	fake_free(f);
}

/* The agent, started against f, answers none of its Challenges (no Auth,
 * no Register) and says why (want in its link's reason). */
static void refused_at_challenge(struct fake *f, int hellos, const char *want)
{
	fake_agent_start(f);
	RUN_UNTIL(f, f->hellos >= hellos, 5);
	assert_int_equal(f->auths, 0);
	assert_int_equal(f->registers, 0);
	assert_non_null(strstr(agent_link_why(f->agent), want));
	fake_free(f);
}

/* A server with another key cannot prove it holds the agent's: the agent
 * answers no Challenge of it, says why, and retries with back-off (0.1-0.2
 * s, 0.2-0.4 s ...). */
static void test_bad_key(void **state)
{
	struct fake *f = fake_new("another-key-that-does-not-match", "V100:1");

	(void)state;
	f->cfg.tls = false;	/* the Challenge's proof is checked (in TLS too) */
	refused_at_challenge(f, 3, "proof of the cluster key is wrong");
}

/* In TLS a server with another key fails the handshake: the agent never
 * says Hello, says why, and retries with back-off. */
static void test_tls_bad_key(void **state)
{
	struct fake *f = fake_new("another-key-that-does-not-match", "V100:1");

	(void)state;
	fake_agent_start(f);
	RUN_UNTIL(f, f->tls_failed >= 2, 5);
	assert_int_equal(f->hellos, 0);
	assert_int_equal(f->tls_ok, 0);
	assert_non_null(strstr(agent_link_why(f->agent), "hared refused this node's key (TLS"));
	assert_non_null(strstr(agent_link_why(f->agent), "holds another key than hared has for "
			       "node test-node"));
	fake_free(f);
}

/* An older hared reads the ClientHello as a frame too large and says so
 * in plaintext: the agent says to upgrade hared (or set tls = no), and
 * with tls = no it registers with that hared. */
static void test_tls_older_hared(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");

	(void)state;
	f->old_hared = true;
	fake_agent_start(f);
	RUN_UNTIL(f, f->tls_failed >= 2, 5);
	assert_int_equal(f->hellos, 0);
	assert_non_null(strstr(agent_link_why(f->agent), "does not speak TLS (it says 'frame larger "
			       "than 65536 bytes'): a hared older than this agent; upgrade it (tls = "
			       "no here talks to it meanwhile, in the clear)"));
	fake_agent_stop(f);
	f->cfg.tls = false;
	fake_agent_registered(f);
	fake_free(f);
}

/* A frame after the Challenge whose tag is wrong (altered on the way, or
 * injected by one who relays the session) is not acted on: the link is
 * dropped before the Welcome, so the agent never registers. */
static void test_bad_tag(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");

	(void)state;
	f->bad_tag = true;
	fake_agent_start(f);
	RUN_UNTIL(f, f->auths >= 2, 5);
	assert_int_equal(f->registers, 0);
	assert_non_null(strstr(agent_link_why(f->agent), "a frame without hared's tag"));
	f->bad_tag = false;	/* the next session's tags are right */
	RUN_UNTIL(f, f->registers >= 1, 5);
	fake_free(f);
}

/* A server that proves nothing (an older hared, or a stranger at hared's
 * address): no Auth, no Register, and a reason that says what to do. */
static void test_no_proof(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");

	(void)state;
	f->no_proof = true;
	refused_at_challenge(f, 2, "upgrade hared first");
}

/* A proof for an agent that does not tag its frames: hared did not see
 * Hello.tags (an older hared, or the flag taken out on the way, so that
 * hared would not check this agent's frames): no Auth, and a reason that
 * says what to do. */
static void test_untagged_proof(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");

	(void)state;
	f->untagged_proof = true;
	refused_at_challenge(f, 2, "hared does not check this agent's frame tags: a hared older "
			     "than this agent (upgrade hared first)");
}

/* Lines from a file through cat, so the agent, not the writer, is measured. */
static void test_relay_throughput(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char path[256], cmd[320];
	struct start_args s = { .job = 8, .lease = 1, .command = cmd };
	const int lines = 300000;
	struct agent_stats st;
	const Hare__TaskExit *e;
	struct relayed r;
	double t0, dt;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/lines.txt", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < lines; i++)
		fprintf(fp, "round %d 1 0.25 0.05 %.4f\n", i, 2.5 - i / 1e6);
	fprintf(fp, "done %d\n", lines);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "exec cat %s >&$HARE_REPORT_FD", path);
	fake_agent_registered(f);
	t0 = now_s();
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 60);
	dt = now_s() - t0;
	e = fake_exit(f, 8, 1, 0);
	r = fake_relayed(f, 8, 1, 0);
	agent_stats_get(f->agent, &st);
	print_message("relay: %d report lines in %.3f s = %.0f lines/s, %d RoundReports\n", lines,
		      dt, lines / dt, r.reports);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(r.rounds, lines);
	assert_true(r.contiguous);
	assert_true(fabs(r.compute - 0.25 * lines) < 1e-3);
	assert_int_equal(st.bad_lines, 0);
	assert_true(r.reports <= 10 + (int)(dt / 0.05) * 2);
	fake_free(f);
}

/* ---- the rendezvous relay ---- */

/* The Rendezvous messages the daemon heard for a lease: how many, the last. */
static const Hare__Rendezvous *fake_rdv(const struct fake *f, uint64_t job, uint64_t lease, int *n)
{
	const Hare__Rendezvous *last = NULL;

	*n = 0;
	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__Rendezvous *r = f->msgs[i]->rendezvous;

		if (f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_RENDEZVOUS && r->job_id == job &&
		    r->lease_id == lease) {
			last = r;
			(*n)++;
		}
	}
	return last;
}

static void fake_send_rdv(struct fake *f, uint64_t job, uint64_t lease, const uint8_t *data,
			  size_t len)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Rendezvous r = HARE__RENDEZVOUS__INIT;

	r.job_id = job;
	r.lease_id = lease;
	r.data.data = (uint8_t *)data;
	r.data.len = len;
	m.msg_case = HARE__FROM_DAEMON__MSG_RENDEZVOUS;
	m.rendezvous = &r;
	fake_send(f, &m);
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* The whole (small) file into buf; "" when missing. */
static void read_text(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, len - 1, fp) : 0;

	buf[n] = '\0';
	if (fp)
		fclose(fp);
}

/* A command that waits up to 5 s for the lease's id file, copies it (and its
 * path) to OUT and OUT.path, and ends with a done line. */
static void rdv_reader_cmd(char *cmd, size_t len, const char *out)
{
	int n = snprintf(cmd, len,
		 "i=0; while [ ! -s \"$HARE_NCCL_ID_FILE\" ] && [ $i -lt 100 ]; do sleep 0.05; "
		 "i=$((i + 1)); done; echo \"$HARE_NCCL_ID_FILE\" > %s.path; "
		 "cat \"$HARE_NCCL_ID_FILE\" > %s.tmp && mv %s.tmp %s; printf 'done 0\\n' >&$HARE_REPORT_FD",
		 out, out, out, out);

	assert_true(n > 0 && (size_t)n < len);
}

/* Rank 0's line reaches the daemon once, and rank 1 on the same node at
 * once, without waiting for the daemon's echo; the file goes with the lease. */
static void test_rendezvous_local(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:3");
	char cmd0[1024], cmd1[1024], out[256], got[512], path[300], want[300];
	struct start_args r0 = { .job = 10, .lease = 3, .world = 2, .command = cmd0 };
	struct start_args r1 = { .job = 10, .lease = 3, .world = 2, .rank = 1, .gpu = 1,
				 .command = cmd1 };
	struct start_args single = { .job = 12, .lease = 1, .gpu = 2, .command =
		"printf 'rendezvous AQIDBAUG\\ndone 0\\n' >&$HARE_REPORT_FD" };
	const Hare__Rendezvous *r;
	struct agent_stats st;
	int n;

	(void)state;
	snprintf(out, sizeof(out), "%s/r1", f->dir);
	/* twice the same line: one message; then wait for rank 1 to have it */
	snprintf(cmd0, sizeof(cmd0),
		 "printf 'rendezvous AQIDBAUG\\nrendezvous AQIDBAUG\\n' >&$HARE_REPORT_FD; i=0; "
		 "while [ ! -e %s ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; "
		 "printf 'done 0\\n' >&$HARE_REPORT_FD", out);
	rdv_reader_cmd(cmd1, sizeof(cmd1), out);
	fake_agent_registered(f);
	fake_task_start(f, &r0);
	fake_task_start(f, &r1);
	fake_task_start(f, &single);
	RUN_UNTIL(f, fake_exit(f, 10, 3, 0) && fake_exit(f, 10, 3, 1) && fake_exit(f, 12, 1, 0), 10);
	assert_int_equal(fake_exit(f, 10, 3, 0)->status, HARE__TASK_STATUS__TASK_OK);
	assert_int_equal(fake_exit(f, 10, 3, 1)->status, HARE__TASK_STATUS__TASK_OK);
	r = fake_rdv(f, 10, 3, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r->data.len, 6);
	assert_memory_equal(r->data.data, "\1\2\3\4\5\6", 6);
	read_text(out, got, sizeof(got));
	assert_string_equal(got, "rendezvous AQIDBAUG\n");
	snprintf(want, sizeof(want), "%s/work/tasks/10.3.rdv\n", f->dir);
	snprintf(path, sizeof(path), "%s.path", out);
	read_text(path, got, sizeof(got));
	assert_string_equal(got, want);
	/* a single-rank lease has nobody to meet: not relayed */
	fake_rdv(f, 12, 1, &n);
	assert_int_equal(n, 0);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.rendezvous_sent, 1);
	assert_int_equal(st.rendezvous_written, 1);
	assert_int_equal(st.rendezvous_ignored, 1);
	assert_int_equal(st.bad_lines, 0);
	/* the lease is over here: its file is gone */
	want[strlen(want) - 1] = '\0';
	assert_false(file_exists(want));
	fake_free(f);
}

/* The daemon's Rendezvous lands in the lease's file; bogus ones (unknown
 * lease, no data, too much data) are ignored; a restarted agent removes the
 * files of leases it has no task of. */
static void test_rendezvous_from_daemon(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], out[256], got[512], line[RDV_LINE_MAX], path[256], stale[300], keep[300];
	struct start_args r1 = { .job = 11, .lease = 4, .world = 2, .rank = 1, .command = cmd };
	uint8_t data[RDV_DATA_MAX + 1];
	struct agent_stats st;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	snprintf(path, sizeof(path), "%s/work/tasks", f->dir);
	assert_int_equal(system(strcat(strcpy(got, "mkdir -p "), path)), 0);
	snprintf(stale, sizeof(stale), "%s/99.9.rdv", path);
	write_file(stale, "rendezvous AQID\n", 0644);
	snprintf(keep, sizeof(keep), "%s/99.9.rdv.tmp.123", path);
	write_file(keep, "x", 0644);
	snprintf(out, sizeof(out), "%s/r1", f->dir);
	rdv_reader_cmd(cmd, sizeof(cmd), out);
	fake_agent_start(f);
	assert_false(file_exists(stale));
	assert_false(file_exists(keep));
	RUN_UNTIL(f, f->registers == 1, 5);
	fake_task_start(f, &r1);
	fake_send_rdv(f, 11, 5, data, 144);		/* not a lease of this node */
	fake_send_rdv(f, 11, 4, data, 0);
	fake_send_rdv(f, 11, 4, data, RDV_DATA_MAX + 1);
	fake_send_rdv(f, 11, 4, data, 144);
	fake_send_rdv(f, 11, 4, data, 144);		/* again: written once */
	RUN_UNTIL(f, fake_exit(f, 11, 4, 1), 10);
	assert_int_equal(fake_exit(f, 11, 4, 1)->status, HARE__TASK_STATUS__TASK_OK);
	read_text(out, got, sizeof(got));
	assert_int_equal(rdv_line_format(data, 144, line, sizeof(line)), 204);
	assert_string_equal(got, line);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.rendezvous_written, 1);
	assert_int_equal(st.rendezvous_ignored, 3);
	assert_int_equal(st.rendezvous_sent, 0);
	fake_rdv(f, 11, 4, &n);
	assert_int_equal(n, 0);
	snprintf(path, sizeof(path), "%s/work/tasks/11.4.rdv", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* Real workers (worker_engine = cpu) get --nccl-id-file: rank 0's id
 * reaches the daemon, rank 1 reads it and then fails on the one-rank
 * engine, not on the rendezvous (it would wait 600 s for it). */
static void test_rendezvous_cpu_workers(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	struct start_args r0 = { .job = 13, .lease = 2, .world = 2, .count = 5, .model = "ncf",
				 .proxy = "batch=8,mlp=4-2" };
	struct start_args r1 = r0;
	const Hare__Rendezvous *r;
	char err[512], path[300], got[4096], wrap[300], text[600], want[400];
	int n;

	(void)state;
	/* hare-worker behind a wrapper that records its flags */
	snprintf(wrap, sizeof(wrap), "%s/worker.sh", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$*\" >> %s/argv.txt\nexec %s \"$@\"\n",
		 f->dir, WORKER_BIN);
	write_file(wrap, text, 0755);
	assert_int_equal(agent_config_set(&f->cfg, "worker", wrap, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "worker_engine", "cpu", err, sizeof(err)), 0);
	r1.rank = r1.gpu = 1;
	fake_agent_registered(f);
	fake_task_start(f, &r0);
	fake_task_start(f, &r1);
	/* generous: two real workers start under a loaded machine too */
	RUN_UNTIL(f, fake_exit(f, 13, 2, 0) && fake_exit(f, 13, 2, 1), 60);
	r = fake_rdv(f, 13, 2, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r->data.len, 16 + 128);
	assert_true(r->data.data[0] == 13 && r->data.data[8] == 2);	/* job, lease (LE) */
	for (int rank = 0; rank < 2; rank++) {
		const Hare__TaskExit *e = fake_exit(f, 13, 2, (uint32_t)rank);

		assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
		assert_int_equal(e->exit_code, 1);
		snprintf(want, sizeof(want), "job 13 rank %d: the cpu engine runs a single rank, not 2",
			 rank);
		/* each rank's output is in its own file, and the exit quotes it */
		snprintf(path, sizeof(path), "%s/work/logs/job-13.rank-%d.log", f->dir, rank);
		read_text(path, got, sizeof(got));
		if (!strstr(got, want))
			fail_msg("'%s' not in the worker's output:\n%s", want, got);
		if (!strstr(e->message, want))
			fail_msg("'%s' not in the exit's message '%s'", want, e->message);
	}
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	read_text(path, got, sizeof(got));
	snprintf(want, sizeof(want), "--engine=cpu --nccl-id-file=%s/work/tasks/13.2.rdv"
		 " --proxy=batch=8,mlp=4-2 --job=13 ", f->dir);
	assert_non_null(strstr(got, want));
	assert_null(strstr(got, "--emulate"));
	/* the worker settings are the worker's own unless set */
	assert_null(strstr(got, "--orphan-timeout-s"));
	assert_null(strstr(got, "--progress-s"));
	fake_free(f);
}

/* ---- measuring GPU types the daemon lacks ---- */

static void fake_profile_request(struct fake *f, const char *type, const char *const *models,
				 size_t n)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__ProfileRequest r = HARE__PROFILE_REQUEST__INIT;

	r.gpu_type = (char *)type;
	r.models = (char **)models;
	r.n_models = n;
	m.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_REQUEST;
	m.profile_request = &r;
	fake_send(f, &m);
}

/* The ProfileResults the daemon heard for type (NULL: any): how many, the
 * last, and where it is among all messages. */
static const Hare__ProfileResult *fake_profile_result(const struct fake *f, const char *type,
						      int *n, size_t *at)
{
	const Hare__ProfileResult *last = NULL;

	*n = 0;
	for (size_t i = 0; i < f->nmsgs; i++) {
		const Hare__ProfileResult *r = f->msgs[i]->profile_result;

		if (f->msgs[i]->msg_case != HARE__TO_DAEMON__MSG_PROFILE_RESULT ||
		    (type && strcmp(r->gpu_type, type) != 0))
			continue;
		last = r;
		(*n)++;
		if (at)
			*at = i;
	}
	return last;
}

static bool fake_has_profile(const struct fake *f, const char *type)
{
	int n;

	return fake_profile_result(f, type, &n, NULL) != NULL;
}

/* The i-th ProfileResult heard (of any type). */
static const Hare__ProfileResult *fake_profile_nth(const struct fake *f, int i)
{
	for (size_t k = 0; k < f->nmsgs; k++) {
		if (f->msgs[k]->msg_case == HARE__TO_DAEMON__MSG_PROFILE_RESULT && i-- == 0)
			return f->msgs[k]->profile_result;
	}
	return NULL;
}

/* A stand-in for hare-worker --profile as the agent's worker: it logs its
 * flags, GPUs and environment to DIR/argv.txt, then acts by model name;
 * any other model prints comments and the 16 rows of a (model, type), as
 * the real one does. */
static void profile_worker(struct fake *f)
{
	char path[256], text[4096], err[256];
	int n;

	snprintf(path, sizeof(path), "%s/worker.sh", f->dir);
	n = snprintf(text, sizeof(text),
		"#!/bin/sh\n"
		"d=%s\n"
		"for a; do case \"$a\" in --model=*) model=${a#--model=};; "
		"--gpu-type=*) type=${a#--gpu-type=};; esac; done\n"
		"echo \"start $type $model: $* [$CUDA_VISIBLE_DEVICES] $CUDA_DEVICE_ORDER "
		"${HARE_LEAK-none} $(pwd)\" >> $d/argv.txt\n"
		"rows() { for w in 1 2 4 8 16 32 64 128; do for p in consolidated spread; do\n"
		"  echo \"$model,$type,$w,$p,0.5,0.0$w,measured/nccl\"; done; done; }\n"
		"case $model in\n"
		"bad) printf '%%s,%%s,0,spread,1,1,x\\001y\\n' $model $type;;\n"
		"exit3) rows; exit 3;;\n"
		"slow) echo $$ > $d/slow.pid; exec sleep 5;;\n"
		"nap) sleep 0.3; rows;;\n"
		"long) head -c 5000 /dev/zero | tr '\\0' a; echo;;\n"
		"many) rows; rows; rows; rows; rows;;\n"
		"partial) rows; printf '%%s' \"$model,$type,1,spread\";;\n"
		"none) echo '# nothing measured';;\n"
		"term) echo $$ > $d/term.pid; exec sleep 30;;\n"
		"*) echo \"# hare-worker --profile: model $model\"; echo; rows;;\n"
		"esac\n"
		"echo \"end $type $model\" >> $d/argv.txt\n", f->dir);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	write_file(path, text, 0755);
	assert_int_equal(agent_config_set(&f->cfg, "worker", path, err, sizeof(err)), 0);
}

static void fake_set(struct fake *f, const char *key, const char *value)
{
	char err[256];

	if (agent_config_set(&f->cfg, key, value, err, sizeof(err)) != 0)
		fail_msg("%s = %s: %s", key, value, err);
}

/* A fake daemon and an agent (not started) with GPUs gpus that measures
 * them (profile_unknown = yes) with the stand-in worker above. */
static struct fake *profile_fake(const char *gpus)
{
	struct fake *f = fake_new(TEST_KEY, gpus);

	profile_worker(f);
	fake_set(f, "profile_unknown", "yes");
	return f;
}

/* r holds the 16 rows of profile_worker for each of models, in order. */
static void assert_profile_rows(const Hare__ProfileResult *r, const char *type,
				const char *const *models, size_t n)
{
	assert_non_null(r);
	assert_true(r->ok);
	assert_string_equal(r->gpu_type, type);
	assert_int_equal(r->n_rows, 16 * n);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *w = r->rows[i];
		uint32_t workers = 1u << (i % 16 / 2);
		char sync[16];

		snprintf(sync, sizeof(sync), "0.0%u", workers);
		assert_string_equal(w->model, models[i / 16]);
		assert_int_equal(w->workers, workers);
		assert_string_equal(w->placement, i % 2 ? "spread" : "consolidated");
		assert_true(w->compute_s == 0.5);
		assert_true(w->sync_s == strtod(sync, NULL));
		assert_string_equal(w->source, "measured/nccl");
	}
}

/* Two types measured one after the other: real T4s (auto measures them) on
 * their CUDA ordinals, emulated V100s (profile_unknown = yes) on the CPU
 * engine; rows of each model in order, flags and environment as documented. */
static void test_profile_rows(void **state)
{
	static const char *const models[] = { "ncf", "resnet50" };
	struct fake *f = profile_fake("V100:1,T4:2");
	char path[300], work[300], want[2048], got[2048];
	const Hare__ProfileResult *r;
	struct agent_stats st;
	int n;

	(void)state;
	fake_set(f, "profile_proxy", "batch=8,mlp=4-2");
	fake_set(f, "profile_iters", "3");
	/* the T4s as NVML would have found them */
	f->cfg.gpus[1].emulated = f->cfg.gpus[2].emulated = false;
	setenv("HARE_LEAK", "1", 1);
	setenv("CUDA_VISIBLE_DEVICES", "7", 1);
	fake_agent_registered(f);
	fake_profile_request(f, "T4", models, 2);
	fake_profile_request(f, "V100", models, 1);
	RUN_UNTIL(f, fake_has_profile(f, "T4") && fake_has_profile(f, "V100"), 10);
	unsetenv("HARE_LEAK");
	unsetenv("CUDA_VISIBLE_DEVICES");
	r = fake_profile_result(f, "T4", &n, NULL);
	assert_int_equal(n, 1);
	assert_profile_rows(r, "T4", models, 2);
	assert_null(r->message);
	r = fake_profile_result(f, "V100", &n, NULL);
	assert_int_equal(n, 1);
	assert_profile_rows(r, "V100", models, 1);
	/* in request order, one process at a time, in work_dir */
	snprintf(path, sizeof(path), "%s/work", f->dir);
	assert_non_null(realpath(path, work));
	snprintf(want, sizeof(want),
		 "start T4 ncf: --profile --model=ncf --gpu-type=T4 --proxy=batch=8,mlp=4-2 "
		 "--profile-iters=3 --parent-pid=%d [1,2] PCI_BUS_ID none %s\nend T4 ncf\n"
		 "start T4 resnet50: --profile --model=resnet50 --gpu-type=T4 "
		 "--proxy=batch=8,mlp=4-2 --profile-iters=3 --parent-pid=%d [1,2] PCI_BUS_ID none "
		 "%s\nend T4 resnet50\n"
		 "start V100 ncf: --profile --model=ncf --gpu-type=V100 --engine=cpu "
		 "--proxy=batch=8,mlp=4-2 --profile-iters=3 --parent-pid=%d [] PCI_BUS_ID none "
		 "%s\nend V100 ncf\n",
		 (int)getpid(), work, (int)getpid(), work, (int)getpid(), work);
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	read_text(path, got, sizeof(got));
	assert_string_equal(got, want);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 3);
	assert_int_equal(st.profile_results, 2);
	fake_free(f);
}

/* The real hare-worker --profile on the CPU engine (tiny sizes): its output
 * as it prints it goes through, 16 rows a model. */
static void test_profile_real_worker(void **state)
{
	static const char *const models[] = { "ncf", "recommendation" };
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	const Hare__ProfileResult *r;
	int n;

	(void)state;
	fake_set(f, "worker", WORKER_BIN);
	fake_set(f, "profile_unknown", "yes");
	fake_set(f, "profile_proxy", "batch=8,dim=8,rows=100,mlp=4-2");
	fake_set(f, "profile_iters", "1");
	fake_agent_registered(f);
	fake_profile_request(f, "V100", models, 2);
	RUN_UNTIL(f, fake_has_profile(f, "V100"), 20);
	r = fake_profile_result(f, "V100", &n, NULL);
	if (!r->ok)
		fail_msg("%s", r->message);
	assert_int_equal(r->n_rows, 32);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *w = r->rows[i];

		assert_string_equal(w->model, models[i / 16]);
		assert_int_equal(w->workers, 1u << (i % 16 / 2));
		assert_string_equal(w->placement, i % 2 ? "spread" : "consolidated");
		assert_true(w->compute_s > 0 && w->compute_s == r->rows[i / 16 * 16]->compute_s);
		assert_true(w->workers == 1 ? w->sync_s == 0 : w->sync_s > 0);
		assert_non_null(strstr(w->source, "measured/"));
	}
	fake_free(f);
}

/* A worker that hangs (killed after profile_timeout_s), prints a bad row,
 * exits 3, prints an overlong line, too many rows, half a line, no rows:
 * each fails its request (no rows) with the reason, and a failing model
 * ends its request. */
static void test_profile_failures(void **state)
{
	static const struct {
		const char *type, *model, *message;
	} cases[] = {
		{ "V100", "bad", "hare-worker --profile --model bad printed a bad line "
		  "'bad,V100,0,spread,1,1,x?y': workers must be 1 to 128" },
		{ "T4", "exit3", "hare-worker --profile --model exit3 exited with status 3" },
		{ "P100", "long", "hare-worker --profile --model long printed a line over 4096 "
		  "bytes: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'" },
		{ "A100", "many", "hare-worker --profile --model many printed more than 64 rows" },
		{ "H100", "partial", "hare-worker --profile --model partial ended its output in the "
		  "middle of a line: 'partial,H100,1,spread'" },
		{ "L4", "none", "hare-worker --profile --model none printed no rows" },
	};
	struct fake *f = profile_fake("K80:1,V100:1,T4:1,P100:1,A100:1,H100:1,L4:1");
	const char *slow[] = { "slow" }, *two[] = { NULL, "ncf" };
	const Hare__ProfileResult *r;
	char path[300], got[4096];
	double t0, dt;
	int n, pid;

	(void)state;
	fake_set(f, "profile_timeout_s", "1");
	fake_agent_registered(f);
	t0 = now_s();
	fake_profile_request(f, "K80", slow, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		two[0] = cases[i].model;
		fake_profile_request(f, cases[i].type, two, 2);
	}
	RUN_UNTIL(f, fake_has_profile(f, "K80"), 5);
	dt = now_s() - t0;
	print_message("profile: a hung worker's request failed after %.2f s (timeout 1 s)\n", dt);
	assert_true(dt >= 0.95 && dt < 2.5);
	r = fake_profile_result(f, "K80", &n, NULL);
	assert_false(r->ok);
	assert_int_equal(r->n_rows, 0);
	assert_string_equal(r->message, "hare-worker --profile --model slow took over 1 s");
	/* killed, and reaped */
	snprintf(path, sizeof(path), "%s/slow.pid", f->dir);
	read_text(path, got, sizeof(got));
	pid = atoi(got);
	assert_true(pid > 1);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		RUN_UNTIL(f, fake_has_profile(f, cases[i].type), 5);
		r = fake_profile_result(f, cases[i].type, &n, NULL);
		assert_int_equal(n, 1);
		assert_false(r->ok);
		assert_int_equal(r->n_rows, 0);
		if (strcmp(r->message, cases[i].message) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].type, r->message, cases[i].message);
	}
	/* the model after a failing one never ran */
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	read_text(path, got, sizeof(got));
	assert_null(strstr(got, " ncf:"));
	fake_free(f);
}

/* Requests refused at once, without a worker: emulated GPUs under auto, a
 * type the node does not have, bad model lists; profile_unknown = no. */
static void test_profile_refused(void **state)
{
	static const char *const ncf[] = { "ncf" }, *const twice[] = { "ncf", "ncf" };
	static const char *const badname[] = { "ncf", "res net" };
	const char *many[33];
	static const char *const want[] = {
		("measuring is off on node test-node (profile_unknown = auto and its V100 GPUs are "
		 "emulated)"),
		"GPU type 'A100' is not on node test-node",
		"a request names 1 to 32 models, got 0",
		"a request names 1 to 32 models, got 33",
		"model name 'res net' must be 1 to 63 of A-Z a-z 0-9 . _ + -",
		"model 'ncf' is listed twice",
		"measuring is off on node test-node (profile_unknown = no)",
	};
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	const Hare__ProfileResult *r;
	struct agent_stats st;
	int n;

	(void)state;
	for (size_t i = 0; i < 33; i++)
		many[i] = "ncf";
	profile_worker(f);
	fake_agent_registered(f);
	fake_profile_request(f, "V100", ncf, 1);
	fake_profile_request(f, "A100", ncf, 1);
	fake_profile_request(f, "V100", ncf, 0);
	fake_profile_request(f, "V100", many, 33);
	fake_profile_request(f, "V100", badname, 2);
	fake_profile_request(f, "V100", twice, 2);
	RUN_UNTIL(f, fake_profile_nth(f, 5), 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 0);
	/* the link stays up: the next agent's request is answered too */
	fake_agent_stop(f);
	fake_set(f, "profile_unknown", "no");
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	fake_profile_request(f, "V100", ncf, 1);
	RUN_UNTIL(f, fake_profile_nth(f, 6), 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 0);
	for (int i = 0; i < 7; i++) {
		r = fake_profile_nth(f, i);
		assert_false(r->ok);
		assert_int_equal(r->n_rows, 0);
		if (strcmp(r->message, want[i]) != 0)
			fail_msg("result %d: got '%s', want '%s'", i, r->message, want[i]);
	}
	fake_profile_result(f, NULL, &n, NULL);
	assert_int_equal(n, 7);
	assert_int_equal(f->hellos, 2);	/* no refusal dropped the link */
	fake_free(f);
}

/* A request for a type already running or queued is ignored: one worker
 * and one result per type. */
static void test_profile_duplicate(void **state)
{
	static const char *const nap[] = { "nap" }, *const ncf[] = { "ncf" };
	struct fake *f = profile_fake("V100:1,T4:1");
	struct agent_stats st;
	double t0;
	int n;

	(void)state;
	fake_agent_registered(f);
	fake_profile_request(f, "V100", nap, 1);
	fake_profile_request(f, "T4", nap, 1);
	fake_profile_request(f, "V100", ncf, 1);	/* running */
	fake_profile_request(f, "T4", ncf, 1);		/* queued */
	RUN_UNTIL(f, fake_has_profile(f, "V100") && fake_has_profile(f, "T4"), 5);
	t0 = now_s();
	RUN_UNTIL(f, now_s() > t0 + 0.2, 2);
	assert_profile_rows(fake_profile_result(f, "V100", &n, NULL), "V100", nap, 1);
	assert_int_equal(n, 1);
	assert_profile_rows(fake_profile_result(f, "T4", &n, NULL), "T4", nap, 1);
	assert_int_equal(n, 1);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 2);
	fake_free(f);
}

/* Register lists the types the agent measures (queued or running) or has
 * a result for that follows, so hared waits instead of asking again; a
 * refusal is no measurement; a new request after the result measures anew. */
static void test_profile_register_lists(void **state)
{
	static const char *const slow[] = { "slow" }, *const nap[] = { "nap" };
	struct fake *f = profile_fake("V100:1,T4:1,K80:1");
	struct agent_stats st;
	int n;

	(void)state;
	fake_set(f, "profile_timeout_s", "2");
	fake_agent_registered(f);
	assert_string_equal(f->reg_measuring, "");
	f->mute = true;
	fake_profile_request(f, "V100", slow, 1);	/* running */
	fake_profile_request(f, "T4", nap, 1);		/* queued */
	fake_profile_request(f, "A100", nap, 1);	/* refused: not on the node */
	fake_drop(f);
	f->mute = false;
	fake_drop(f);
	RUN_UNTIL(f, f->registers == 2, 10);
	assert_string_equal(f->reg_measuring, "V100,T4");
	RUN_UNTIL(f, fake_has_profile(f, "T4"), 10);
	fake_profile_request(f, "T4", nap, 1);
	RUN_UNTIL(f, (fake_profile_result(f, "T4", &n, NULL), n == 2), 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_workers, 3);	/* slow, nap, nap again */
	fake_free(f);
}

/* A result made while the link is down goes out right after the next
 * Register. */
static void test_profile_after_reconnect(void **state)
{
	static const char *const nap[] = { "nap" };
	struct fake *f = profile_fake("T4:1");
	char path[300];
	size_t at = 0;
	int n;

	(void)state;
	fake_agent_registered(f);
	f->mute = true;		/* the agent's next session stops at Hello */
	fake_profile_request(f, "T4", nap, 1);
	snprintf(path, sizeof(path), "%s/argv.txt", f->dir);
	RUN_UNTIL(f, file_exists(path), 5);
	fake_drop(f);
	RUN_UNTIL(f, f->agent->profiles && f->agent->profiles->phase == PROFILE_DONE, 5);
	assert_true(f->hellos >= 2);
	assert_false(fake_has_profile(f, "T4"));
	f->mute = false;
	fake_drop(f);
	RUN_UNTIL(f, f->registers == 2 && fake_has_profile(f, "T4"), 10);
	assert_profile_rows(fake_profile_result(f, "T4", &n, &at), "T4", nap, 1);
	assert_int_equal(n, 1);
	assert_int_equal(at, f->reg_msgs);	/* the first message after Register */
	fake_free(f);
}

static void fake_profile_cancel(struct fake *f, const char *type)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__ProfileCancel c = HARE__PROFILE_CANCEL__INIT;

	c.gpu_type = (char *)type;
	m.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_CANCEL;
	m.profile_cancel = &c;
	fake_send(f, &m);
}

/* ProfileCancel: the running measurement of the type is killed and
 * answered as cancelled once it exited, a queued one of another type at
 * once; a request of the type made while the killed one still ends runs
 * after it, as usual; a second cancel and one for a type nothing measures
 * get no answer. */
static void test_profile_cancel(void **state)
{
	static const char *const slow[] = { "slow" }, *const nap[] = { "nap" };
	static const char *const two[] = { "nap", "ncf" };
	struct fake *f = profile_fake("V100:1,T4:1");
	char path[300], got[64] = "";
	const Hare__ProfileResult *r;
	struct agent_stats st;
	size_t at_t4 = 0, at_v100 = 0, at_nap = 0;
	int pid, n;

	(void)state;
	fake_agent_registered(f);
	fake_profile_request(f, "T4", slow, 1);		/* runs */
	fake_profile_request(f, "V100", two, 2);	/* queued */
	snprintf(path, sizeof(path), "%s/slow.pid", f->dir);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	pid = atoi(got);
	fake_profile_cancel(f, "A100");			/* nothing to cancel */
	fake_profile_cancel(f, "V100");			/* the queued one */
	fake_profile_cancel(f, "T4");			/* the running one */
	fake_profile_cancel(f, "T4");			/* again: nothing more */
	/* asked again while the cancelled one still ends: queued behind it */
	fake_profile_request(f, "T4", nap, 1);
	RUN_UNTIL(f, fake_has_profile(f, "V100"), 3);
	r = fake_profile_result(f, "V100", &n, &at_v100);
	assert_int_equal(n, 1);
	assert_true(!r->ok && r->has_cancelled && r->cancelled && r->n_rows == 0);
	assert_string_equal(r->message, "cancelled by the daemon before it started");
	/* the killed one's answer comes once it exited: "slow" sleeps 5 s */
	RUN_UNTIL(f, fake_has_profile(f, "T4"), 3);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	r = fake_profile_result(f, "T4", &n, &at_t4);
	assert_true(!r->ok && r->has_cancelled && r->cancelled && r->n_rows == 0);
	assert_string_equal(r->message, "cancelled by the daemon");
	RUN_UNTIL(f, (fake_profile_result(f, "T4", &n, NULL), n == 2), 5);
	r = fake_profile_result(f, "T4", &n, &at_nap);
	assert_profile_rows(r, "T4", nap, 1);
	assert_false(r->has_cancelled && r->cancelled);
	assert_true(at_v100 < at_t4 && at_t4 < at_nap);
	RUN_UNTIL(f, !f->agent->profiles && !f->agent->prof.p, 5);
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.profile_cancels, 2);
	assert_int_equal(st.profile_workers, 2);	/* slow, nap: V100 never ran */
	assert_int_equal(st.profile_results, 3);
	fake_free(f);
}

/* The agent's close ends a measurement (SIGTERM), waits for it, and
 * leaves no handle behind (fake_free closes the loop). */
/* ---- the node's health check ---- */

/* A check at f->dir/check that does what f->dir/health says: "ok", "fail
 * TEXT" (prints TEXT, exits 3), "hang" (starts a child that writes its pid
 * to f->dir/hang.pid, then waits), "raw" (prints control characters, an
 * escape sequence and bytes that are not UTF-8, exits 1), "long" (100000
 * lines, then the one that says why, exits 1), "wide" (a line of 200
 * two-byte characters, exits 1), "leave" (starts a child that writes its
 * pid to f->dir/leave.pid, exits 0 while it runs), "edge" (4096 bytes
 * that end in the first byte of a character, exits 1) or "longline" (a
 * last line of 10 KB, exits 1). */
static void health_fake_setup(struct fake *f, const char *first, uint32_t timeout_s)
{
	char path[300], text[1400], err[512], v[32];

	snprintf(path, sizeof(path), "%s/health", f->dir);
	write_file(path, first, 0600);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "read -r what rest <%s/health\n"
		 "case \"$what\" in\n"
		 "ok) exit 0 ;;\n"
		 "hang) sleep 30 & echo $! >%s/hang.pid; wait ;;\n"
		 "raw) printf 'first line\\n\\033[31mred\\tand\\001 \\377\\376 caf\\303\\251 \\302\\233x\\n\\n  \\n'; "
		 "exit 1 ;;\n"
		 "long) seq 100000; echo 'FINAL: GPU 3 has 12 retired pages'; exit 1 ;;\n"
		 "wide) i=0; while [ $i -lt 200 ]; do printf '\\303\\251'; i=$((i+1)); done; exit 1 ;;\n"
		 "leave) sleep 300 & echo $! >%s/leave.pid; exit 0 ;;\n"
		 "edge) head -c 3990 /dev/zero | tr '\\000' a; echo; head -c 104 /dev/zero | "
		 "tr '\\000' b; printf '\\342'; exit 1 ;;\n"
		 "longline) echo first; head -c 10000 /dev/zero | tr '\\000' x; echo ' the end'; "
		 "exit 1 ;;\n"
		 "*) echo \"node $HARE_NODE gpus $HARE_GPU_INDICES types $HARE_GPU_TYPES\"; "
		 "echo \"$rest\"; exit 3 ;;\n"
		 "esac\n", f->dir, f->dir, f->dir);
	snprintf(path, sizeof(path), "%s/check", f->dir);
	write_file(path, text, 0755);
	assert_int_equal(agent_config_set(&f->cfg, "health_check", path, err, sizeof(err)), 0);
	assert_int_equal(agent_config_set(&f->cfg, "health_check_interval_s", "1", err, sizeof(err)), 0);
	snprintf(v, sizeof(v), "%u", timeout_s);
	assert_int_equal(agent_config_set(&f->cfg, "health_check_timeout_s", v, err, sizeof(err)), 0);
	assert_int_equal(agent_config_finish(&f->cfg, AGENT_BIN, err, sizeof(err)), 0);
}

/* The pid a check wrote to f->dir/NAME is gone within 2 s. */
static void health_child_gone(struct fake *f, const char *name)
{
	char path[300], got[64] = "";
	int pid;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	read_text(path, got, sizeof(got));
	pid = atoi(got);
	assert_true(pid > 1);
	RUN_UNTIL(f, kill(pid, 0) < 0, 2);
}

/* The newest heartbeat's health: -1 none, 0 not ok, 1 ok; its reason. */
static int fake_last_health(const struct fake *f, char *reason, size_t len)
{
	for (size_t i = f->nmsgs; i-- > 0;) {
		const Hare__Heartbeat *hb = f->msgs[i]->msg_case == HARE__TO_DAEMON__MSG_HEARTBEAT ?
					    f->msgs[i]->heartbeat : NULL;

		if (!hb)
			continue;
		if (reason)
			snprintf(reason, len, "%s", hb->health && hb->health->reason ?
				 hb->health->reason : "");
		return hb->health ? hb->health->ok : -1;
	}
	return -1;
}

/* Registers once the first run ended, unhealthy with the check's last line;
 * each change reaches hared in a Heartbeat; the check's environment. */
static void test_health_check(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2,T4:1");
	char path[300], reason[256] = "";

	(void)state;
	health_fake_setup(f, "fail GPU 2: ECC errors\n", 5);
	fake_agent_registered(f);
	assert_int_equal(f->reg_health, 0);
	assert_string_equal(f->reg_reason, "health check exited with status 3: GPU 2: ECC errors");
	/* no heartbeat yet, or one that says the same */
	assert_true(fake_last_health(f, NULL, 0) <= 0);
	snprintf(path, sizeof(path), "%s/health", f->dir);
	write_file(path, "ok\n", 0600);
	RUN_UNTIL(f, fake_last_health(f, NULL, 0) == 1, 5);
	write_file(path, "fail disk full\n", 0600);
	RUN_UNTIL(f, fake_last_health(f, reason, sizeof(reason)) == 0, 5);
	assert_string_equal(reason, "health check exited with status 3: disk full");
	/* what the check is told: the node and its GPUs (the line before) */
	write_file(path, "fail\n", 0600);
	RUN_UNTIL(f, (fake_last_health(f, reason, sizeof(reason)),
		      strstr(reason, "node test-node gpus 0,1,2 types V100,V100,T4") != NULL), 5);
	assert_string_equal(reason, "health check exited with status 3: node test-node gpus 0,1,2 "
			    "types V100,V100,T4");
	/* a reconnect registers with the last outcome */
	fake_drop(f);
	RUN_UNTIL(f, f->registers == 2, 10);
	assert_int_equal(f->reg_health, 0);
	assert_string_equal(f->reg_reason, reason);
	fake_free(f);
}

/* The reason is one line of clean text: control characters, escapes, C1
 * and bytes that are not UTF-8 become '?', valid UTF-8 stays. */
static void test_health_check_raw_output(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");

	(void)state;
	health_fake_setup(f, "raw\n", 5);
	fake_agent_registered(f);
	assert_int_equal(f->reg_health, 0);
	assert_string_equal(f->reg_reason, "health check exited with status 1: ?[31mred?and? ?? "
			    "caf\xc3\xa9 ?x");
	fake_free(f);
}

/* Output of any length: the reason is its last line (the agent keeps the
 * end of it), cut to whole characters; what a check leaves running is
 * killed when it ends. */
static void test_health_check_output_end(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char path[300], got[64] = "";

	(void)state;
	health_fake_setup(f, "long\n", 10);
	fake_agent_registered(f);
	assert_string_equal(f->reg_reason, "health check exited with status 1: FINAL: GPU 3 has 12 "
			    "retired pages");
	snprintf(path, sizeof(path), "%s/health", f->dir);
	write_file(path, "wide\n", 0600);
	RUN_UNTIL(f, (fake_last_health(f, got, sizeof(got)), strstr(got, "\xc3\xa9") != NULL), 5);
	{
		char reason[256];

		fake_last_health(f, reason, sizeof(reason));
		assert_true(utf8_valid(reason));
		assert_true(strlen(reason) <= 35 + 180);
		assert_int_equal(strncmp(reason, "health check exited with status 1: \xc3\xa9", 37), 0);
	}
	/* the output's last byte starts a character it does not hold */
	write_file(path, "edge\n", 0600);
	RUN_UNTIL(f, (fake_last_health(f, got, sizeof(got)), strstr(got, "bbbb") != NULL), 5);
	{
		char reason[256];

		fake_last_health(f, reason, sizeof(reason));
		assert_int_equal(strlen(reason), 35 + 104 + 1);
		assert_string_equal(reason + 35 + 104, "?");
	}
	/* a last line longer than what is kept: its end */
	write_file(path, "longline\n", 0600);
	RUN_UNTIL(f, (fake_last_health(f, got, sizeof(got)), strstr(got, "1: ...") != NULL), 5);
	{
		char reason[256];
		size_t n;

		fake_last_health(f, reason, sizeof(reason));
		n = strlen(reason);
		assert_true(n > 35 + 3 + 100 && n <= 35 + 180);
		assert_string_equal(reason + n - 9, "x the end");
	}
	write_file(path, "leave\n", 0600);
	RUN_UNTIL(f, fake_last_health(f, NULL, 0) == 1, 5);
	health_child_gone(f, "leave.pid");
	fake_free(f);
}

/* A hung check is killed with its process group at the timeout; an agent
 * that closes while its first check runs does not wait for it, and kills
 * it too. */
static void test_health_check_hang(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char path[300], got[64] = "";
	double t0;
	int pid;

	(void)state;
	health_fake_setup(f, "hang\n", 1);
	t0 = now_s();
	fake_agent_registered(f);
	assert_true(now_s() - t0 >= 0.9);
	assert_int_equal(f->reg_health, 0);
	assert_string_equal(f->reg_reason, "health check did not end within 1 s (killed)");
	health_child_gone(f, "hang.pid");
	fake_free(f);

	f = fake_new(TEST_KEY, "V100:1");
	health_fake_setup(f, "hang\n", 60);
	fake_agent_start(f);
	snprintf(path, sizeof(path), "%s/hang.pid", f->dir);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	pid = atoi(got);
	assert_int_equal(f->registers, 0);	/* waits for the first outcome */
	t0 = now_s();
	fake_agent_stop(f);
	assert_true(now_s() - t0 < 1.5);
	RUN_UNTIL(f, kill(pid, 0) < 0, 2);
	assert_int_equal(f->registers, 0);
	fake_free(f);
}

/* A check that may not run as the agent (root): refused before each run,
 * with why (a file, folder or link another account may change, also one
 * the path reaches through a link); one that is fine, reached through
 * links and "..", resolves to the file that runs; a folder with the
 * sticky bit is fine. */
static void test_health_check_refused(void **state)
{
	char dir[200], path[300], other[300], more[300], real[4096], err[1100];

	(void)state;
	temp_dir(dir, sizeof(dir), "health");
	snprintf(path, sizeof(path), "%s/check", dir);
	assert_int_equal(agent_health_check_ok(path, real, sizeof(real), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(agent_health_check_ok("check", NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "check is not an absolute path");
	write_file(path, "#!/bin/sh\n", 0644);
	assert_int_equal(agent_health_check_ok(path, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "is not executable by the agent"));
	assert_int_equal(chmod(path, 0775), 0);
	assert_int_equal(agent_health_check_ok(path, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "mode 775 lets others change "));
	assert_non_null(strstr(err, "/check (chmod go-w it)"));
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(agent_health_check_ok(path, real, sizeof(real), err, sizeof(err)), 0);
	assert_string_equal(real, path);
	assert_int_equal(agent_health_check_ok(dir, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "is not a file"));
	snprintf(other, sizeof(other), "%s/check/x", dir);
	assert_int_equal(agent_health_check_ok(other, NULL, 0, err, sizeof(err)), -ENOTDIR);
	/* its folder writable by all: refused; with the sticky bit too (another
	 * account could move a program of root's there at a missing name);
	 * a folder of root's in a sticky one is fine */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(agent_health_check_ok(path, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "mode 777 lets others change its folder "));
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(agent_health_check_ok(path, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "mode 1777 lets others put files in "));
	assert_non_null(strstr(err, ", where check sits: the program, and each link on its path, "
			    "must be in folders only root may write to"));
	snprintf(other, sizeof(other), "%s/safe", dir);
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(more, sizeof(more), "%s/safe/check", dir);
	write_file(more, "#!/bin/sh\n", 0755);
	assert_int_equal(agent_health_check_ok(more, NULL, 0, err, sizeof(err)), 0);
	/* a '/' after the file, as the kernel says */
	{
		char slash[sizeof(more) + 1];

		snprintf(slash, sizeof(slash), "%s/", more);
		assert_int_equal(agent_health_check_ok(slash, NULL, 0, err, sizeof(err)), -ENOTDIR);
	}
	/* a link in a folder others may write to, to a check that is fine */
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(other, sizeof(other), "%s/open", dir);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(chmod(other, 0777), 0);
	snprintf(other, sizeof(other), "%s/open/link", dir);
	assert_int_equal(symlink(path, other), 0);
	assert_int_equal(agent_health_check_ok(other, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "mode 777 lets others change its folder "));
	assert_non_null(strstr(err, "/open (chmod go-w it)"));
	/* links and .. in folders that are fine: what runs is the file itself */
	snprintf(other, sizeof(other), "%s/sub", dir);
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(other, sizeof(other), "%s/sub/rel", dir);
	assert_int_equal(symlink("../check", other), 0);
	snprintf(more, sizeof(more), "%s/sub/../sub/./rel", dir);
	assert_int_equal(agent_health_check_ok(more, real, sizeof(real), err, sizeof(err)), 0);
	assert_string_equal(real, path);
	/* links whose targets, put together, are longer than the walk keeps:
	 * refused, not cut short (the kernel would run another file) */
	{
		char t1[4200] = "L2/", t2[4200] = "", l[320], q[700];

		for (int i = 0; i < 2000; i++) {
			strcat(t1, "./");
			strcat(t2, "./");
		}
		strcat(t2, ".");
		snprintf(l, sizeof(l), "%s/sub/L1", dir);
		assert_int_equal(symlink(t1, l), 0);
		snprintf(l, sizeof(l), "%s/sub/L2", dir);
		assert_int_equal(symlink(t2, l), 0);
		snprintf(q, sizeof(q), "%s/sub/L1/", dir);
		for (int i = 0; i < 150; i++)
			strcat(q, "./");
		strcat(q, "rel");
		assert_int_equal(agent_health_check_ok(q, NULL, 0, err, sizeof(err)), -ENAMETOOLONG);
	}
	if (geteuid() == 0) {
		/* a link of another account's, in a sticky folder: its owner
		 * could point it anywhere */
		snprintf(other, sizeof(other), "%s/sticky", dir);
		assert_int_equal(mkdir(other, 0755), 0);
		assert_int_equal(chmod(other, 01777), 0);
		snprintf(other, sizeof(other), "%s/sticky/link", dir);
		assert_int_equal(symlink(path, other), 0);
		assert_int_equal(lchown(other, 65534, 65534), 0);
		assert_int_equal(agent_health_check_ok(other, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, "mode 1777 lets others put files in "));
		/* ... and so, where links may sit, one of another account's */
		assert_int_equal(chmod(other, 0755), 0);
		snprintf(more, sizeof(more), "%s/sticky", dir);
		assert_int_equal(chmod(more, 0755), 0);
		assert_int_equal(agent_health_check_ok(other, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, "uid 65534, neither root nor the agent's, owns the link "));
		/* a root link that leads through another account's folder */
		snprintf(other, sizeof(other), "%s/theirs", dir);
		assert_int_equal(mkdir(other, 0755), 0);
		snprintf(more, sizeof(more), "%s/theirs/link", dir);
		assert_int_equal(symlink(path, more), 0);
		assert_int_equal(chown(other, 65534, 65534), 0);
		snprintf(other, sizeof(other), "%s/via", dir);
		assert_int_equal(symlink(more, other), 0);
		assert_int_equal(agent_health_check_ok(other, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, "uid 65534, neither root nor the agent's, owns its folder "));
		assert_non_null(strstr(err, "/theirs: it runs as the agent"));
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

static void test_profile_close_kills(void **state)
{
	static const char *const term[] = { "term" };
	struct fake *f = profile_fake("T4:1");
	char path[300], got[64] = "";
	double t0;
	int pid;

	(void)state;
	fake_agent_registered(f);
	fake_profile_request(f, "T4", term, 1);
	snprintf(path, sizeof(path), "%s/term.pid", f->dir);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	pid = atoi(got);
	t0 = now_s();
	fake_agent_stop(f);
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_false(fake_has_profile(f, "T4"));
	fake_free(f);
}

/* ---- a task's prolog and epilog ---- */

/* A prolog and an epilog (NULL: none) at f->dir/prolog and f->dir/epilog,
 * each doing what f->dir/NAME.ctl says: "ok" (appends its HARE_*
 * environment, then "end", to f->dir/NAME.env; exits 0), "slow" (writes
 * f->dir/NAME.started, sleeps 2 s, then as ok), "fail TEXT" (prints a line
 * and TEXT, exits 2), "hang" (sleeps 30 s: past its 1 s timeout; 5 s
 * for one that starts slow) or "stuck" (writes its pid to f->dir/NAME.pid,
 * then as hang). */
static void prolog_fake_setup(struct fake *f, const char *prolog, const char *epilog)
{
	const char *names[2] = { "prolog", "epilog" }, *ctl[2] = { prolog, epilog };
	char path[300], text[2400], err[512], key[32];

	for (int i = 0; i < 2; i++) {
		if (!ctl[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s.ctl", f->dir, names[i]);
		write_file(path, ctl[i], 0600);
		snprintf(text, sizeof(text),
			 "#!/bin/sh\n"
			 "read -r what rest <%s/%s.ctl\n"
			 "case \"$what\" in\n"
			 "slow) : >%s/%s.started; sleep 2 ;;\n"
			 "fail) echo first; echo \"$rest\"; exit 2 ;;\n"
			 "hang) sleep 30 ;;\n"
			 "stuck) echo $$ >%s/%s.pid; sleep 30 ;;\n"
			 "esac\n"
			 "env | grep '^HARE_' | sort >>%s/%s.env; echo end >>%s/%s.env\n",
			 f->dir, names[i], f->dir, names[i], f->dir, names[i], f->dir, names[i],
			 f->dir, names[i]);
		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		write_file(path, text, 0755);
		assert_int_equal(agent_config_set(&f->cfg, names[i], path, err, sizeof(err)), 0);
		snprintf(key, sizeof(key), "%s_timeout_s", names[i]);
		assert_int_equal(agent_config_set(&f->cfg, key, strncmp(ctl[i], "slow", 4) == 0 ?
						  "5" : "1", err, sizeof(err)), 0);
	}
	assert_int_equal(agent_config_finish(&f->cfg, AGENT_BIN, err, sizeof(err)), 0);
}

/* What f->dir/NAME.env holds ("" if nothing). */
static void prolog_env(struct fake *f, const char *name, char *buf, size_t len)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s.env", f->dir, name);
	buf[0] = '\0';
	read_text(path, buf, len);
}

/* A worker that reports one round and is done, after touching f->dir/ran. */
static void prolog_worker(struct fake *f, char *cmd, size_t len)
{
	snprintf(cmd, len, ": >%s/ran; printf 'round 0 1 1 1 1\\ndone 1\\n' >&$HARE_REPORT_FD", f->dir);
}

/* The prolog runs before the worker, the epilog after it and before its
 * TaskExit; each is told the task, the epilog how it ended. */
static void test_prolog_epilog(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1,T4:1");
	char cmd[600], env[2048], path[300];
	struct start_args s = { .job = 7, .lease = 3, .gpu = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;

	(void)state;
	prolog_fake_setup(f, "ok\n", "ok\n");
	/* the worker fails unless the prolog ran before it */
	snprintf(cmd, sizeof(cmd), "test -s %s/prolog.env || exit 9; : >%s/ran; "
		 "printf 'round 0 1 1 1 1\\ndone 1\\n' >&$HARE_REPORT_FD", f->dir, f->dir);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 7, 3, 0), 10);
	e = fake_exit(f, 7, 3, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_true(e->has_rounds_done && e->rounds_done == 1);
	assert_null(e->node_fault);
	prolog_env(f, "prolog", env, sizeof(env));
	assert_non_null(strstr(env, "HARE_JOB_ID=7\n"));
	assert_non_null(strstr(env, "HARE_LEASE_ID=3\n"));
	assert_non_null(strstr(env, "HARE_RANK=0\n"));
	assert_non_null(strstr(env, "HARE_WORLD_SIZE=1\n"));
	assert_non_null(strstr(env, "HARE_GPU_INDEX=1\n"));
	assert_non_null(strstr(env, "HARE_GPU_TYPE=T4\n"));
	assert_non_null(strstr(env, "HARE_NODE=test-node\n"));
	assert_null(strstr(env, "HARE_TASK_STATUS"));
	/* the exit waited for the epilog */
	prolog_env(f, "epilog", env, sizeof(env));
	assert_non_null(strstr(env, "HARE_JOB_ID=7\n"));
	assert_non_null(strstr(env, "HARE_TASK_STATUS=DONE\n"));
	assert_non_null(strstr(env, "HARE_ROUNDS_DONE=1\n"));
	assert_non_null(strstr(env, "HARE_EXIT_CODE=0\n"));
	assert_non_null(strstr(env, "\nend\n"));
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_true(file_exists(path));
	fake_free(f);
}

/* A prolog that fails, or outlasts its time, fails the task without a
 * worker: no exit code, no round, and the node's fault (hared drains it);
 * the epilog still runs. */
static void test_prolog_fails(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	char cmd[600], env[2048], path[300];
	struct start_args s = { .job = 8, .lease = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;

	(void)state;
	prolog_fake_setup(f, "fail GPU 0 holds 3 processes\n", "ok\n");
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 10);
	e = fake_exit(f, 8, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_false(e->has_exit_code);
	assert_true(e->has_rounds_done && e->rounds_done == 0);
	assert_string_equal(e->message, "prolog exited with status 2: GPU 0 holds 3 processes");
	assert_string_equal(e->node_fault, "prolog exited with status 2: GPU 0 holds 3 processes");
	assert_true(e->has_prolog_failed && e->prolog_failed);
	/* its output file says why no worker ran */
	{
		char log[2048];

		snprintf(path, sizeof(path), "%s/work/logs/job-8.rank-0.log", f->dir);
		read_text(path, log, sizeof(log));
		assert_non_null(strstr(log, "job 8 lease 1 rank 0 failed: prolog exited with status "
				       "2: GPU 0 holds 3 processes\n"));
	}
	prolog_env(f, "epilog", env, sizeof(env));
	assert_non_null(strstr(env, "HARE_TASK_STATUS=FAILED\n"));
	assert_null(strstr(env, "HARE_EXIT_CODE"));
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	/* one that hangs is killed at its timeout */
	snprintf(path, sizeof(path), "%s/prolog.ctl", f->dir);
	write_file(path, "hang\n", 0600);
	s.lease = 2;
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 2, 0), 10);
	e = fake_exit(f, 8, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_string_equal(e->node_fault, "prolog did not end within 1 s (killed)");
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* A TaskStop during the prolog kills it: the task is stopped, not failed,
 * no worker starts, and the node is not at fault; while the prolog runs
 * the task counts as running (its GPU is busy). */
static void test_prolog_stopped(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], path[300];
	struct start_args s = { .job = 9, .lease = 4, .count = 1, .command = cmd };
	const Hare__TaskExit *e;
	size_t seen;
	double t0;

	(void)state;
	prolog_fake_setup(f, "slow\n", NULL);
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	fake_task_start(f, &s);
	snprintf(path, sizeof(path), "%s/prolog.started", f->dir);
	RUN_UNTIL(f, file_exists(path), 5);
	seen = f->nmsgs;
	RUN_UNTIL(f, fake_heartbeats_running(f) >= 1 && f->nmsgs > seen, 5);
	t0 = now_s();
	fake_task_stop(f, 9, 4);
	RUN_UNTIL(f, fake_exit(f, 9, 4, 0), 5);
	assert_true(now_s() - t0 < 1.0);
	e = fake_exit(f, 9, 4, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_STOPPED);
	assert_null(e->node_fault);
	assert_string_equal(e->message, "stopped during its prolog (prolog killed by signal 9 "
			    "(Killed))");
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* An epilog that fails leaves the task's outcome as it was and says the
 * node's fault; one cut short by the agent's stop runs again at its next
 * start, before the exit is sent. */
static void test_epilog_fails_and_reruns(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], path[300], text[4096], env[2048];
	struct start_args s = { .job = 10, .lease = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;

	(void)state;
	prolog_fake_setup(f, NULL, "fail /scratch/job-10 is still there\n");
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 10, 1, 0), 10);
	e = fake_exit(f, 10, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_string_equal(e->node_fault, "epilog exited with status 2: /scratch/job-10 is still there");
	assert_string_equal(e->message, "done after 1 rounds; epilog exited with status 2: "
			    "/scratch/job-10 is still there");
	/* the agent stops during the next task's epilog */
	snprintf(path, sizeof(path), "%s/epilog.ctl", f->dir);
	write_file(path, "slow\n", 0600);
	s.lease = 2;
	fake_task_start(f, &s);
	snprintf(path, sizeof(path), "%s/epilog.started", f->dir);
	RUN_UNTIL(f, file_exists(path), 10);
	assert_null(fake_exit(f, 10, 2, 0));
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/10.2.0.task", f->dir);
	read_text(path, text, sizeof(text));
	assert_non_null(strstr(text, "epilog=pending\n"));
	prolog_env(f, "epilog", env, sizeof(env));
	assert_string_equal(env, "");	/* killed before it wrote */
	snprintf(path, sizeof(path), "%s/epilog.ctl", f->dir);
	write_file(path, "ok\n", 0600);
	fake_agent_start(f);
	RUN_UNTIL(f, fake_exit(f, 10, 2, 0), 10);
	e = fake_exit(f, 10, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_OK);
	assert_null(e->node_fault);
	prolog_env(f, "epilog", env, sizeof(env));
	assert_non_null(strstr(env, "HARE_JOB_ID=10\nHARE_LEASE_ID=2\n"));
	assert_non_null(strstr(env, "HARE_TASK_STATUS=DONE\n"));
	fake_free(f);
}

/* Rank 0's rendezvous that hared relays while this node's rank is still in
 * its prolog is kept, and written for the worker once it starts. */
static void test_prolog_rendezvous_held(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1024], out[256], path[300], got[512];
	struct start_args s = { .job = 11, .lease = 2, .world = 2, .rank = 1, .command = cmd };
	struct agent_stats st;

	(void)state;
	prolog_fake_setup(f, "slow\n", NULL);
	snprintf(out, sizeof(out), "%s/r1", f->dir);
	rdv_reader_cmd(cmd, sizeof(cmd), out);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	snprintf(path, sizeof(path), "%s/prolog.started", f->dir);
	RUN_UNTIL(f, file_exists(path), 5);
	fake_send_rdv(f, 11, 2, (const uint8_t *)"\1\2\3\4\5\6", 6);
	RUN_UNTIL(f, fake_exit(f, 11, 2, 1), 15);
	assert_int_equal(fake_exit(f, 11, 2, 1)->status, HARE__TASK_STATUS__TASK_OK);
	read_text(out, got, sizeof(got));
	assert_string_equal(got, "rendezvous AQIDBAUG\n");
	agent_stats_get(f->agent, &st);
	assert_int_equal(st.rendezvous_ignored, 0);
	assert_int_equal(st.rendezvous_written, 1);
	fake_free(f);
}

/* A prolog that cannot run (not executable, at a path of 2-byte
 * characters longer than what is kept): the node's fault, its text cut at
 * a character's start; no worker ran. */
static void test_prolog_not_run(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char dir[600], path[700], err[512], cmd[600];
	struct start_args s = { .job = 12, .lease = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;
	size_t n;

	(void)state;
	n = (size_t)snprintf(dir, sizeof(dir), "%s/", f->dir);
	for (int i = 0; i < 120; i++)
		n += (size_t)snprintf(dir + n, sizeof(dir) - n, "\xc3\xa9");
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/prolog", dir);
	write_file(path, "#!/bin/sh\nexit 0\n", 0644);
	assert_int_equal(agent_config_set(&f->cfg, "prolog", path, err, sizeof(err)), 0);
	assert_int_equal(agent_config_finish(&f->cfg, AGENT_BIN, err, sizeof(err)), 0);
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 12, 1, 0), 5);
	e = fake_exit(f, 12, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_true(e->prolog_failed);
	assert_non_null(e->node_fault);
	assert_int_equal(strncmp(e->node_fault, "prolog not run: ", 16), 0);
	assert_true(strlen(e->node_fault) <= 255 && strlen(e->node_fault) > 200);
	assert_true(utf8_valid(e->node_fault) && utf8_valid(e->message));
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}


/* While set, SIGKILLs to process groups are not sent: a prolog stuck in
 * the kernel, as nvidia-smi on a wedged GPU can be. */
static bool kills_held;

static int held_kill(pid_t pid, int sig)
{
	if (kills_held && pid < 0 && sig == SIGKILL)
		return 0;
	return kill(pid, sig);
}

/* A prolog that does not end after its timeout's SIGKILL is given up 5 s
 * later: the task fails without a worker or an epilog, the node at fault;
 * once it does end, it is reaped (no zombie) and the task freed. */
static void test_prolog_stuck(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], path[300], got[64] = "", env[2048];
	struct start_args s = { .job = 13, .lease = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;
	double t0;
	int pid;

	(void)state;
	prolog_fake_setup(f, "stuck\n", "ok\n");
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	f->agent->kill_hook = held_kill;
	kills_held = true;
	t0 = now_s();
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 13, 1, 0), 15);
	assert_true(now_s() - t0 >= 5.5);
	e = fake_exit(f, 13, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_true(e->prolog_failed);
	assert_string_equal(e->node_fault, "prolog did not end within 1 s (killed); it does not "
			    "end after SIGKILL");
	prolog_env(f, "epilog", env, sizeof(env));
	assert_string_equal(env, "");	/* no epilog after it */
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	/* it ends at last: reaped */
	snprintf(path, sizeof(path), "%s/prolog.pid", f->dir);
	read_text(path, got, sizeof(got));
	pid = atoi(got);
	assert_true(pid > 1);
	kills_held = false;
	assert_int_equal(kill(-pid, SIGKILL), 0);
	RUN_UNTIL(f, kill(pid, 0) < 0, 5);
	RUN_UNTIL(f, f->agent->ntasks == 0, 5);
	fake_free(f);
}

/* The agent stopped during a prolog (which it kills): its restart ends the
 * task without a worker, as a failed prolog (hared requeues the job,
 * uncharged) but not the node's fault, and runs the epilog. */
static void test_prolog_cut_short(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], env[2048], path[300], st[2048];
	struct start_args s = { .job = 9, .lease = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;

	(void)state;
	prolog_fake_setup(f, "slow\n", "ok\n");
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	fake_task_start(f, &s);
	snprintf(path, sizeof(path), "%s/prolog.started", f->dir);
	RUN_UNTIL(f, file_exists(path), 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/9.1.0.task", f->dir);
	read_text(path, st, sizeof(st));
	assert_non_null(strstr(st, "\nprolog=running\n"));
	assert_null(fake_exit(f, 9, 1, 0));
	fake_agent_start(f);
	RUN_UNTIL(f, fake_exit(f, 9, 1, 0), 10);
	e = fake_exit(f, 9, 1, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_true(e->has_prolog_failed && e->prolog_failed);
	assert_null(e->node_fault);
	assert_false(e->has_exit_code);
	assert_string_equal(e->message, "prolog cut short: the agent stopped while it ran, so no "
			    "worker ran");
	prolog_env(f, "epilog", env, sizeof(env));
	assert_non_null(strstr(env, "HARE_JOB_ID=9\n"));
	assert_non_null(strstr(env, "HARE_TASK_STATUS=FAILED\n"));
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	snprintf(path, sizeof(path), "%s/work/tasks/9.1.0.task", f->dir);
	RUN_UNTIL(f, !file_exists(path), 5);	/* removed once the exit is sent */
	fake_free(f);
}

/* ---- each task's processes in a cgroup of its own ---- */

/* f's agent with cgroup = auto, registered; false (the agent stopped) where
 * this host gives it no cgroup v2 (then the test skips). */
static bool cg_agent_registered(struct fake *f)
{
	char err[256];

	assert_int_equal(agent_config_set(&f->cfg, "cgroup", "auto", err, sizeof(err)), 0);
	fake_agent_registered(f);
	if (agent_cgroup_on(f->agent))
		return true;
	print_message("no cgroup v2 the agent may write here: skipped\n");
	return false;
}

/* The pid f->dir/NAME holds, once written (within 5 s). */
static int cg_read_pid(struct fake *f, const char *name)
{
	char path[300], got[32] = "";

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	RUN_UNTIL(f, (read_text(path, got, sizeof(got)), atoi(got) > 1), 5);
	return atoi(got);
}

/* Whether pid's cgroup (v2) ends with /name. */
static bool cg_pid_in(int pid, const char *name)
{
	char path[64], line[1200];
	bool in = false;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		size_t n = strcspn(line, "\n"), k = strlen(name);

		line[n] = '\0';
		if (strncmp(line, "0::", 3) == 0 && n > k && line[n - k - 1] == '/' &&
		    strcmp(line + n - k, name) == 0)
			in = true;
	}
	fclose(fp);
	return in;
}

/* Wait up to 2 s for pid to be gone (a zombie is). */
static bool cg_pid_gone(int pid)
{
	for (int i = 0; i < 200 && agent_pid_alive(pid, 0); i++)
		usleep(10000);
	return !agent_pid_alive(pid, 0);
}

/* A worker's command that starts two processes in sessions of their own
 * (out of its process group: the group's signals miss them), each writing
 * its pid to f->dir/NAME.N: the first ignores SIGTERM, the second writes
 * f->dir/NAME.term when it gets one and exits. It reports a round and runs
 * on. */
static void cg_escaping_command(struct fake *f, const char *name, char *cmd, size_t len)
{
	const char *d = f->dir;

	snprintf(cmd, len, "setsid sh -c 'trap \"\" TERM; echo $$ >%s/%s.t1; mv %s/%s.t1 %s/%s.1; "
		 "exec sleep 60' </dev/null >/dev/null 2>&1 & "
		 "setsid sh -c 'trap \"echo got >%s/%s.term; exit 0\" TERM; echo $$ >%s/%s.t2; "
		 "mv %s/%s.t2 %s/%s.2; while :; do sleep 0.05; done' </dev/null >/dev/null 2>&1 & "
		 "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; while :; do sleep 0.05; done",
		 d, name, d, name, d, name, d, name, d, name, d, name, d, name);
}

/* What escaped a worker's process group is killed with the task; with
 * cgroup = no it is not (what the cgroup is for). The agent's folder is
 * gone once it closed with nothing left in it. */
static void test_cgroup_worker_escapee(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[2048], base[AGENT_CGROUP_BASE_MAX], err[256], path[AGENT_CGROUP_MAX];
	struct start_args s = { .job = 4, .lease = 3, .command = cmd };
	int pid, pid2;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	snprintf(base, sizeof(base), "%s", f->agent->cg_base);
	cg_escaping_command(f, "esc1", cmd, sizeof(cmd));
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc1.1");
	pid2 = cg_read_pid(f, "esc1.2");
	assert_true(cg_pid_in(pid, "worker.4.3.0") && cg_pid_in(pid2, "worker.4.3.0"));
	fake_task_stop(f, 4, 3);
	RUN_UNTIL(f, fake_exit(f, 4, 3, 0), 5);
	assert_int_equal(fake_exit(f, 4, 3, 0)->status, HARE__TASK_STATUS__TASK_STOPPED);
	if (!cg_pid_gone(pid))
		fail_msg("the process that left the worker's group (pid %d) still runs", pid);
	assert_true(cg_pid_gone(pid2));
	/* ... the one that heeds SIGTERM was asked first, as the worker was */
	snprintf(path, sizeof(path), "%s/esc1.term", f->dir);
	assert_true(file_exists(path));
	/* the ended task's cgroup goes once empty (a heartbeat's sweep at the
	 * latest), while the agent runs on */
	snprintf(path, sizeof(path), "%s/worker.4.3.0", base);
	RUN_UNTIL(f, !file_exists(path), 5);
	fake_agent_stop(f);
	assert_false(file_exists(base));
	/* the same without a cgroup: the group kill alone misses it */
	assert_int_equal(agent_config_set(&f->cfg, "cgroup", "no", err, sizeof(err)), 0);
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	cg_escaping_command(f, "esc2", cmd, sizeof(cmd));
	s.lease = 4;
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc2.1");
	pid2 = cg_read_pid(f, "esc2.2");
	fake_task_stop(f, 4, 4);
	RUN_UNTIL(f, fake_exit(f, 4, 4, 0), 5);
	usleep(200000);
	assert_true(agent_pid_alive(pid, 0) && agent_pid_alive(pid2, 0));
	kill(pid, SIGKILL);
	kill(pid2, SIGKILL);
	fake_free(f);
}

/* Before Linux 5.14 (no cgroup.kill) the cgroup is frozen while each of
 * its processes is killed: the same outcome. */
static void test_cgroup_freeze_kill(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[2048];
	struct start_args s = { .job = 4, .lease = 5, .command = cmd };
	int pid, pid2;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	f->agent->cg_freeze_kill = true;
	cg_escaping_command(f, "esc", cmd, sizeof(cmd));
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc.1");
	pid2 = cg_read_pid(f, "esc.2");
	fake_task_stop(f, 4, 5);
	RUN_UNTIL(f, fake_exit(f, 4, 5, 0), 5);
	if (!cg_pid_gone(pid) || !cg_pid_gone(pid2))
		fail_msg("processes that left the worker's group (pids %d %d) still run", pid, pid2);
	fake_free(f);
}

/* What a prolog leaves running out of its group is killed once it exits,
 * before the worker starts. Through the shim as without it, the real file
 * runs: a script's $0 is that file (the kernel's), not the link
 * configured. */
static void test_cgroup_prolog_escapee(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], path[300], text[1200], err[256], link[300];
	struct start_args s = { .job = 5, .lease = 1, .count = 1, .command = cmd };
	int pid;

	(void)state;
	if (geteuid() != 0) {
		fake_free(f);
		skip();
	}
	snprintf(path, sizeof(path), "%s/prolog", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$0\" >%s/pro.argv0\n"
		 "setsid sleep 60 </dev/null >/dev/null 2>&1 &\n"
		 "echo $! >%s/pro.tmp; mv %s/pro.tmp %s/pro.pid\n", f->dir, f->dir, f->dir, f->dir);
	assert_true(strlen(text) < sizeof(text) - 1);
	write_file(path, text, 0755);
	snprintf(link, sizeof(link), "%s/prolog-link", f->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(agent_config_set(&f->cfg, "prolog", link, err, sizeof(err)), 0);
	/* the worker fails unless the prolog's escapee is gone when it starts */
	snprintf(cmd, sizeof(cmd), "p=$(cat %s/pro.pid); for i in $(seq 100); do "
		 "kill -0 $p 2>/dev/null || break; sleep 0.02; done; kill -0 $p 2>/dev/null && exit 9; "
		 "printf 'round 0 1 1 1 1\\ndone 1\\n' >&$HARE_REPORT_FD", f->dir);
	if (!cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 5, 1, 0), 10);
	assert_int_equal(fake_exit(f, 5, 1, 0)->status, HARE__TASK_STATUS__TASK_OK);
	pid = cg_read_pid(f, "pro.pid");
	assert_true(cg_pid_gone(pid));
	snprintf(path, sizeof(path), "%s/pro.argv0", f->dir);
	read_text(path, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/prolog\n", f->dir);
	assert_string_equal(text, path);
	fake_free(f);
}

/* A restarted agent adopts the worker's cgroup from its state file: the
 * stop kills what escaped, as the first agent would have. */
static void test_cgroup_adopt(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[2048], path[300], st[2048];
	struct start_args s = { .job = 6, .lease = 2, .command = cmd };
	int pid;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	cg_escaping_command(f, "esc", cmd, sizeof(cmd));
	fake_task_start(f, &s);
	pid = cg_read_pid(f, "esc.1");	/* the one that ignores SIGTERM */
	RUN_UNTIL(f, fake_relayed(f, 6, 2, 0).reports >= 1, 5);
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/6.2.0.task", f->dir);
	read_text(path, st, sizeof(st));
	assert_non_null(strstr(st, "/worker.6.2.0\n"));
	assert_true(agent_pid_alive(pid, 0));	/* the agent's stop leaves the task running */
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	assert_int_equal(f->reg_running, 1);
	fake_task_stop(f, 6, 2);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 5);
	if (!cg_pid_gone(pid))
		fail_msg("the adopted task's escaped process (pid %d) still runs", pid);
	fake_free(f);
}

/* A cgroup of no task here (an agent killed while a prolog ran, say) is
 * emptied and removed when the agent starts. */
static void test_cgroup_leftover(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char base[AGENT_CGROUP_BASE_MAX], dir[AGENT_CGROUP_MAX], path[AGENT_CGROUP_MAX + 32];
	char pidtext[32];
	pid_t pid, got = 0;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	snprintf(base, sizeof(base), "%s", f->agent->cg_base);
	fake_agent_stop(f);
	assert_int_equal(mkdir(base, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/prolog.9.1.0", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	pid = fork();
	if (pid == 0) {
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pidtext, sizeof(pidtext), "%d", (int)pid);
	write_file(path, pidtext, 0644);
	assert_true(cg_pid_in(pid, "prolog.9.1.0"));
	fake_agent_start(f);
	RUN_UNTIL(f, f->registers == 2, 5);
	for (int i = 0; i < 200 && (got = waitpid(pid, NULL, WNOHANG)) == 0; i++)
		usleep(10000);
	if (got != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the process left in %s was not killed at the agent's start", dir);
	}
	fake_agent_stop(f);
	assert_false(file_exists(dir));
	fake_free(f);
}

/* A state file's cgroup is adopted only where an agent makes one: not
 * through a link (the agent would write cgroup.kill wherever it leads), nor
 * a path with "..", nor a folder of another's; a refused one is left
 * alone at the task's end. */
static void test_cgroup_adopt_refused(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char base[AGENT_CGROUP_BASE_MAX], victim[AGENT_CGROUP_MAX], dir[AGENT_CGROUP_MAX + 32];
	char path[AGENT_CGROUP_MAX + 64], link[300], text[AGENT_CGROUP_MAX + 200];
	int fds[2];
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	snprintf(base, sizeof(base), "%s", f->agent->cg_base);
	snprintf(victim, sizeof(victim), "%s/victim", base);
	assert_int_equal(mkdir(victim, 0755), 0);
	/* the child holds the agent's lock until its exec: wait for that */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	close(fds[1]);
	while (read(fds[0], text, 1) < 0 && errno == EINTR)
		;
	close(fds[0]);
	snprintf(path, sizeof(path), "%s/cgroup.procs", victim);
	snprintf(text, sizeof(text), "%d", (int)pid);
	write_file(path, text, 0644);
	/* the agent's own */
	snprintf(dir, sizeof(dir), "%s/worker.7.1.0", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_true(agent_cgroup_adoptable(dir, "worker.7.1.0"));
	assert_false(agent_cgroup_adoptable(dir, "worker.7.1.1"));
	snprintf(path, sizeof(path), "%s/../%s/worker.7.1.0", victim, strrchr(base, '/') + 1);
	assert_false(agent_cgroup_adoptable(path, "worker.7.1.0"));
	assert_int_equal(rmdir(dir), 0);
	/* another's folder */
	snprintf(dir, sizeof(dir), "%s/worker.7.1.0", victim);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_false(agent_cgroup_adoptable(dir, "worker.7.1.0"));
	assert_int_equal(rmdir(dir), 0);
	/* a link named for the task, to a cgroup with a process in it */
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(mkdir(link, 0755), 0);
	snprintf(link, sizeof(link), "%s/link/worker.7.1.0", f->dir);
	assert_int_equal(symlink(victim, link), 0);
	assert_false(agent_cgroup_adoptable(link, "worker.7.1.0"));
	fake_agent_stop(f);
	snprintf(path, sizeof(path), "%s/work/tasks/7.1.0.task", f->dir);
	snprintf(text, sizeof(text), "job=7\nlease=1\nrank=0\ngpu=0\npid=999999\ncgroup=%s\n", link);
	write_file(path, text, 0600);
	fake_agent_start(f);
	RUN_UNTIL(f, fake_exit(f, 7, 1, 0), 5);
	usleep(200000);
	if (waitpid(pid, NULL, WNOHANG) == pid)
		fail_msg("the agent killed the cgroup %s that a state file's link led to", victim);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < 200 && rmdir(victim) < 0; i++)
		usleep(10000);
	fake_free(f);
}

/* The agent's cgroup folder, removed by someone while empty, is made again
 * for the next run, which is in its cgroup as before. */
static void test_cgroup_base_made_again(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[1000], path[300], got[AGENT_CGROUP_MAX] = "";
	struct start_args s = { .job = 8, .lease = 1, .count = 1, .command = cmd };

	(void)state;
	if (geteuid() != 0 || !cg_agent_registered(f)) {
		fake_free(f);
		skip();
	}
	assert_int_equal(rmdir(f->agent->cg_base), 0);
	snprintf(cmd, sizeof(cmd), "sed -n 's/^0:://p' /proc/self/cgroup >%s/cg.t; mv %s/cg.t %s/cg; "
		 "printf 'round 0 1 1 1 1\\ndone 1\\n' >&$HARE_REPORT_FD", f->dir, f->dir, f->dir);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 8, 1, 0), 5);
	assert_int_equal(fake_exit(f, 8, 1, 0)->status, HARE__TASK_STATUS__TASK_OK);
	snprintf(path, sizeof(path), "%s/cg", f->dir);
	read_text(path, got, sizeof(got));
	got[strcspn(got, "\n")] = '\0';
	assert_true(strlen(got) > 13);
	assert_string_equal(got + strlen(got) - 13, "/worker.8.1.0");
	fake_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_ok),
		cmocka_unit_test(test_config_example),
		cmocka_unit_test(test_config_bad),
		cmocka_unit_test(test_account_find),
		cmocka_unit_test(test_no_account),
		cmocka_unit_test(test_account_ckpt_dir),
		cmocka_unit_test(test_config_finish),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_gpus_parse),
		cmocka_unit_test(test_nvml_names),
		cmocka_unit_test(test_nvml_absent),
		cmocka_unit_test(test_hmac_vectors),
		cmocka_unit_test(test_key_load),
		cmocka_unit_test(test_worker_flags),
		cmocka_unit_test(test_worker_emulate),
		cmocka_unit_test(test_worker_progress),
		cmocka_unit_test(test_worker_sigterm),
		cmocka_unit_test(test_worker_parent_pid),
		cmocka_unit_test(test_worker_orphan),
		cmocka_unit_test(test_relay_two_ranks),
		cmocka_unit_test(test_stop_and_kill),
		cmocka_unit_test(test_stop_after_exit),
		cmocka_unit_test(test_task_group_killed),
		cmocka_unit_test(test_command_env_and_garbage),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_task_output),
		cmocka_unit_test(test_task_output_prune),
		cmocka_unit_test(test_worker_settings),
		cmocka_unit_test(test_reconnect_keeps_reports),
		cmocka_unit_test(test_adopt_after_agent_restart),
		cmocka_unit_test(test_adopt_damaged_state),
		cmocka_unit_test(test_adopt_worker_died_while_away),
		cmocka_unit_test(test_adopt_pid_reused),
		cmocka_unit_test(test_task_state_unwritable),
		cmocka_unit_test(test_adopt_watch),
		cmocka_unit_test(test_bad_key),
		cmocka_unit_test(test_tls_bad_key),
		cmocka_unit_test(test_tls_older_hared),
		cmocka_unit_test(test_no_proof),
		cmocka_unit_test(test_untagged_proof),
		cmocka_unit_test(test_bad_tag),
		cmocka_unit_test(test_relay_throughput),
		cmocka_unit_test(test_rendezvous_local),
		cmocka_unit_test(test_rendezvous_from_daemon),
		cmocka_unit_test(test_rendezvous_cpu_workers),
		cmocka_unit_test(test_profile_rows),
		cmocka_unit_test(test_profile_real_worker),
		cmocka_unit_test(test_profile_failures),
		cmocka_unit_test(test_profile_refused),
		cmocka_unit_test(test_profile_duplicate),
		cmocka_unit_test(test_profile_after_reconnect),
		cmocka_unit_test(test_profile_register_lists),
		cmocka_unit_test(test_profile_close_kills),
		cmocka_unit_test(test_profile_cancel),
		cmocka_unit_test(test_health_check),
		cmocka_unit_test(test_health_check_raw_output),
		cmocka_unit_test(test_health_check_output_end),
		cmocka_unit_test(test_health_check_hang),
		cmocka_unit_test(test_health_check_refused),
		cmocka_unit_test(test_prolog_epilog),
		cmocka_unit_test(test_prolog_fails),
		cmocka_unit_test(test_prolog_stopped),
		cmocka_unit_test(test_epilog_fails_and_reruns),
		cmocka_unit_test(test_prolog_rendezvous_held),
		cmocka_unit_test(test_prolog_not_run),
		cmocka_unit_test(test_prolog_stuck),
		cmocka_unit_test(test_prolog_cut_short),
		cmocka_unit_test(test_cgroup_worker_escapee),
		cmocka_unit_test(test_cgroup_freeze_kill),
		cmocka_unit_test(test_cgroup_prolog_escapee),
		cmocka_unit_test(test_cgroup_adopt),
		cmocka_unit_test(test_cgroup_leftover),
		cmocka_unit_test(test_cgroup_adopt_refused),
		cmocka_unit_test(test_cgroup_base_made_again),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
