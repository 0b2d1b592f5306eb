/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's settings: the accounts workers run as (and
 * their checkpoint folders), the config (with file:line errors), addresses,
 * GPU lists, NVML names, HMAC vectors and key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "err.h"
#include "log.h"

/* ---- accounts ---- */

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

/* ---- configuration ---- */

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
	assert_int_equal(c.constrain_devices, AGENT_DEVICES_AUTO);
	assert_int_equal(agent_config_load_string(&c, "agent.conf",
		"[daemon]\nagent_listen = 0.0.0.0:7070\n"
		"[agent]\ndaemon = hared.example:7070\nnode = gpu-01\n"
		"cluster_key_file = /etc/hare/cluster.key\ngpus = V100:2, T4:1\n"
		"worker = /opt/hare/bin/hare-worker\nwork_dir = /tmp/w\nreport_interval_ms = 50\n"
		"heartbeat_ms = 1000\nstop_grace_ms = 300\nlog_level = debug\nworker_engine = cpu\n"
		"profile_unknown = yes\nprofile_proxy = batch=8,mlp=4-2\nprofile_iters = 5\n"
		"profile_timeout_s = 600\nrun_as_owner = no\ncgroup = yes\nconstrain_devices = no\n",
		err, sizeof(err)), 0);
	assert_false(c.run_as_owner);
	assert_int_equal(c.cgroup, AGENT_CGROUP_YES);
	assert_int_equal(c.constrain_devices, AGENT_DEVICES_NO);
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
		{ "[agent]\nconstrain_devices = on\n",
		  "a.conf:2: constrain_devices must be auto, yes or no, got 'on'" },
		{ "[agent]\nconstrain_device = no\n",
		  "a.conf:2: unknown key 'constrain_device' in [agent] (did you mean constrain_devices?)" },
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
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
