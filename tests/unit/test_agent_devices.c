/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's device isolation (constrain_devices): a
 * worker, and what it starts out of its session, may open its own GPU's
 * device file and no other GPU's; what the agent refuses at start; a rule
 * that cannot be attached drains the node without charging the job. The
 * GPUs are emulated ones given device files of the test's own (mknod, as
 * root): without a driver, opening one fails with ENXIO where the rule
 * allows it and with EPERM where it denies it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <sys/syscall.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "log.h"

#define DEV_MAJOR 195	/* NVIDIA's, as /dev/nvidiaN have */

/* f's n GPUs given device files f->dir/nvI (195:I); false where this host
 * cannot make or open them (not root, a nodev folder). */
static bool dev_files(struct fake *f, uint32_t n)
{
	char path[300];
	int fd;

	if (geteuid() != 0)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/nv%u", f->dir, i);
		if (mknod(path, S_IFCHR | 0666, makedev(DEV_MAJOR, i)) < 0)
			return false;
		f->cfg.gpus[i].has_dev = true;
		f->cfg.gpus[i].dev = makedev(DEV_MAJOR, i);
	}
	/* outside any rule: opened, or refused by the (absent) driver */
	snprintf(path, sizeof(path), "%s/nv0", f->dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else if (errno == EPERM || errno == EACCES)
		return false;
	return true;
}

/* Whether this kernel lets the test load the least cgroup-device program
 * (allow all); where it does, the agent must isolate. */
static bool dev_bpf_loads(void)
{
	struct bpf_insn p[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr at;
	int fd;

	memset(&at, 0, sizeof(at));
	at.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	at.insns = (uint64_t)(uintptr_t)p;
	at.insn_cnt = 2;
	at.license = (uint64_t)(uintptr_t)"MIT";
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &at, sizeof(at));
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* f's agent with cgroups and constrain_devices = mode, registered; false
 * where the host gives it no cgroup v2 or no BPF (the test skips). */
static bool dev_registered(struct fake *f, const char *mode)
{
	fake_set(f, "cgroup", "auto");
	fake_set(f, "constrain_devices", mode);
	fake_agent_registered(f);
	if (!agent_cgroup_on(f->agent)) {
		print_message("no cgroup v2 the agent may write here: skipped\n");
		return false;
	}
	if (strcmp(mode, "no") != 0 && !dev_bpf_loads()) {
		print_message("this kernel loads no cgroup-device program for the test: skipped\n");
		return false;
	}
	/* the agent isolates wherever the test could load a program */
	assert_int_equal(agent_devices_on(f->agent), strcmp(mode, "no") != 0);
	return true;
}

/* A command that opens each of n device files nvI, itself and from a
 * process in a session of its own, writing what the shell said to
 * f->dir/openI and escI, then f->dir/done; then it reports a round and
 * runs on. */
static void dev_open_command(struct fake *f, uint32_t n, char *cmd, size_t len)
{
	const char *d = f->dir;
	size_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		k += (size_t)snprintf(cmd + k, len - k,
				      "(exec 3<>%s/nv%u) 2>%s/open%u.t; mv %s/open%u.t %s/open%u; "
				      "setsid sh -c '(exec 3<>%s/nv%u) 2>%s/esc%u.t; "
				      "mv %s/esc%u.t %s/esc%u' </dev/null >/dev/null 2>&1 & ",
				      d, i, d, i, d, i, d, i, d, i, d, i, d, i, d, i);
		assert_true(k < len);
	}
	k += (size_t)snprintf(cmd + k, len - k, "wait; echo \"$CUDA_VISIBLE_DEVICES\" >%s/cvd; "
			      "touch %s/done; "
			      "printf 'round 0 1 1 1 1\\n' >&$HARE_REPORT_FD; exec sleep 30", d, d);
	assert_true(k < len);
}

/* What opening f->dir/NAME said (waits up to 5 s for it). */
static void dev_said(struct fake *f, const char *name, char *buf, size_t len)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	RUN_UNTIL(f, file_exists(path), 5);
	read_text(path, buf, len);
}

/* Whether the shell's message says the open was refused by the rule. */
static bool dev_denied(const char *said)
{
	return strstr(said, "Operation not permitted") != NULL;
}

/* A worker on GPU 1 of three, of a lease that has GPUs 1 and 2 of the
 * node, opens the stand-ins of /dev/nvidia1 and /dev/nvidia2 only: GPU 0
 * is refused to it and to what it started in another session; its
 * CUDA_VISIBLE_DEVICES names its GPU by UUID (CUDA numbers only the
 * devices it may open). With constrain_devices = no, nothing is refused,
 * and the GPU is named by its index. The GPUs pass for real ones once
 * registered. */
static void dev_isolation_run(const char *mode)
{
	struct fake *f = fake_new(TEST_KEY, "V100:3");
	char cmd[4096], said[512], name[32];
	static const uint32_t lease_gpus[] = { 2, 1 };
	struct start_args s = { .job = 3, .lease = 1, .gpu = 1, .command = cmd,
				.node_gpus = lease_gpus, .n_node_gpus = 2 };
	bool on = strcmp(mode, "no") != 0;

	if (!dev_files(f, 3) || !dev_registered(f, mode)) {
		fake_free(f);
		skip();
	}
	assert_int_equal(agent_devices_on(f->agent), on);
	/* real ones from here on (the fake hared has them registered emulated) */
	for (uint32_t i = 0; i < 3; i++) {
		struct agent_gpu *g = &f->agent->cfg.gpus[i];

		g->emulated = false;
		snprintf(g->uuid, sizeof(g->uuid), "GPU-test-%u", i);
	}
	dev_open_command(f, 3, cmd, sizeof(cmd));
	fake_task_start(f, &s);
	dev_said(f, "done", said, sizeof(said));
	dev_said(f, "cvd", said, sizeof(said));
	assert_string_equal(said, on ? "GPU-test-1\n" : "1\n");
	for (uint32_t i = 0; i < 3; i++) {
		for (int esc = 0; esc < 2; esc++) {
			snprintf(name, sizeof(name), "%s%u", esc ? "esc" : "open", i);
			dev_said(f, name, said, sizeof(said));
			if (dev_denied(said) != (on && i == 0))
				fail_msg("constrain_devices = %s, worker on GPU 1 (lease: 1, 2), %s "
					 "of GPU %u's device said '%s'", mode, esc ? "its escapee's open" :
					 "its open", i, said);
		}
	}
	fake_task_stop(f, 3, 1);
	RUN_UNTIL(f, fake_exit(f, 3, 1, 0), 5);
	assert_int_equal(fake_exit(f, 3, 1, 0)->status, HARE__TASK_STATUS__TASK_STOPPED);
	fake_free(f);
}

static void test_devices_isolated(void **state)
{
	(void)state;
	dev_isolation_run("auto");
}

static void test_devices_off(void **state)
{
	(void)state;
	dev_isolation_run("no");
}

/* Whether a process in cgroup dir is refused path (EPERM): a child joins
 * dir and opens it. */
static bool dev_denied_in(const char *dir, const char *path)
{
	char procs[AGENT_CGROUP_MAX + 16];
	int st = 0;
	pid_t pid;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(procs, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(2);
		fd = open(path, O_RDWR | O_CLOEXEC);
		_exit(fd < 0 && errno == EPERM ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) < 2);
	return WEXITSTATUS(st) == 1;
}

/* Nodes of 1 to 64 GPUs: the agent isolates (its program loads, whatever
 * its length, and one with nothing to deny too), and the rule for the
 * first and the last GPU denies every other GPU's device and not its own. */
static void test_devices_node_sizes(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 4, 8, 16, 64 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t n = sizes[k];
		char gpus[32], dir[AGENT_CGROUP_MAX], why[256], path[300];
		struct fake *f;

		snprintf(gpus, sizeof(gpus), "V100:%u", n);
		f = fake_new(TEST_KEY, gpus);
		if (!dev_files(f, n) || !dev_registered(f, "auto")) {
			fake_free(f);
			skip();
		}
		snprintf(dir, sizeof(dir), "%s/probe.test", f->agent->cg_base);
		for (uint32_t self = 0; self < n; self += n > 1 ? n - 1 : 1) {
			assert_int_equal(mkdir(dir, 0755), 0);
			if (agent_devices_limit(f->agent, dir, self, NULL, 0, why, sizeof(why)) < 0)
				fail_msg("%u GPUs, GPU %u: %s", n, self, why);
			for (uint32_t i = 0; i < n; i += i + 1 < n && n > 4 ? n / 4 : 1) {
				snprintf(path, sizeof(path), "%s/nv%u", f->dir, i);
				if (dev_denied_in(dir, path) != (i != self))
					fail_msg("%u GPUs, the rule of GPU %u: GPU %u's device %s",
						 n, self, i, i != self ? "allowed" : "denied");
			}
			snprintf(path, sizeof(path), "%s/nv%u", f->dir, n - 1);
			assert_int_equal(dev_denied_in(dir, path), n - 1 != self);
			assert_int_equal(rmdir(dir), 0);
		}
		fake_free(f);
	}
}

/* constrain_devices = yes where it cannot be had: the agent does not
 * start, says why, and a restart would not help (exit 2). */
static void dev_refused(const char *gpus, bool files, const char *cgroup, const char *want)
{
	struct fake *f = fake_new(TEST_KEY, gpus);
	uint8_t key[AGENT_KEY_MAX];
	char err[512] = "", path[300];
	size_t keylen;
	bool loose;

	if (files && !dev_files(f, f->cfg.ngpus)) {
		fake_free(f);
		skip();
	}
	fake_set(f, "cgroup", cgroup);
	fake_set(f, "constrain_devices", "yes");
	snprintf(path, sizeof(path), "%s/cluster.key", f->dir);
	assert_int_equal(agent_key_load(path, key, sizeof(key), &keylen, &loose, err, sizeof(err)), 0);
	assert_int_equal(agent_new(&f->loop, &f->cfg, key, keylen, &f->agent), 0);
	f->closed = false;
	assert_true(agent_start(f->agent, err, sizeof(err)) < 0);
	assert_string_equal(err, want);
	assert_true(agent_start_config_error(f->agent));
	fake_free(f);
}

static void test_devices_yes_refused(void **state)
{
	(void)state;
	dev_refused("V100:2", false, "no", "constrain_devices = yes, but the node's GPUs are "
		    "emulated (no device files)");
	dev_refused("none", false, "no", "constrain_devices = yes, but the node has no GPU");
	dev_refused("V100:2", true, "no", "constrain_devices = yes, but the agent has no cgroup "
		    "v2 for its tasks (key cgroup)");
}

/* A rule that cannot be attached (the worker's cgroup, left over, holds
 * the most programs the kernel allows): the worker does not run, the exit
 * says why with a node fault (hared drains the node) and prolog_failed
 * (no worker ran: the job is not charged). */
static void test_devices_attach_fails(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:2");
	char dir[AGENT_CGROUP_MAX], why[256], path[300];
	struct start_args s = { .job = 6, .lease = 2, .gpu = 1, .command = path };
	const Hare__TaskExit *e;
	int n = 0;

	(void)state;
	if (!dev_files(f, 2) || !dev_registered(f, "auto")) {
		fake_free(f);
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/worker.6.2.0", f->agent->cg_base);
	assert_int_equal(mkdir(dir, 0755), 0);
	while (n < 1000 && agent_devices_limit(f->agent, dir, 0, NULL, 0, why, sizeof(why)) == 0)
		n++;
	assert_true(n >= 1 && n < 1000);
	snprintf(path, sizeof(path), "touch %s/ran", f->dir);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 6, 2, 0), 5);
	e = fake_exit(f, 6, 2, 0);
	assert_int_equal(e->status, HARE__TASK_STATUS__TASK_FAILED);
	assert_non_null(e->node_fault);
	if (!strstr(e->node_fault, "cannot isolate GPU 1: attaching its device rule to "))
		fail_msg("node fault '%s'", e->node_fault);
	assert_string_equal(e->message, e->node_fault);
	assert_true(e->has_prolog_failed && e->prolog_failed);
	assert_false(e->has_exit_code);
	snprintf(path, sizeof(path), "%s/ran", f->dir);
	assert_false(file_exists(path));
	fake_free(f);
}

/* The shim that puts a worker in its cgroup (hare-agent --exec-in DIR
 * --must-join, as the agent starts workers while it isolates GPUs) does
 * not run the program when it cannot join; without --must-join it does. */
static void test_devices_must_join(void **state)
{
	char dir[200], out[300], cmd[1024], said[512];
	int st;

	(void)state;
	temp_dir(dir, sizeof(dir), "devices");
	for (int must = 0; must < 2; must++) {
		snprintf(out, sizeof(out), "%s/ran%d", dir, must);
		snprintf(cmd, sizeof(cmd), "/proc/%d/exe --exec-in %s/no-such-cgroup %s /bin/sh -c "
			 "'touch %s' 2>%s/err%d", (int)getpid(), dir, must ? "--must-join" : "", out,
			 dir, must);
		st = system(cmd);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), must ? 126 : 0);
		assert_int_equal(file_exists(out), !must);
		snprintf(out, sizeof(out), "%s/err%d", dir, must);
		read_text(out, said, sizeof(said));
		if (!strstr(said, must ? "the program is not run, since out of it it could open "
			    "every GPU of the node (constrain_devices)" :
			    "is tracked by its process group only"))
			fail_msg("the shim said '%s'", said);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devices_isolated),
		cmocka_unit_test(test_devices_off),
		cmocka_unit_test(test_devices_node_sizes),
		cmocka_unit_test(test_devices_yes_refused),
		cmocka_unit_test(test_devices_attach_fails),
		cmocka_unit_test(test_devices_must_join),
	};

	/* a worker put in its cgroup comes back here first (/proc/self/exe
	 * --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
