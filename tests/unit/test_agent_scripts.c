/* SPDX-License-Identifier: MIT */
/* Unit tests for the programs hare-agent runs for the operator, against a
 * fake hared: the node's health check (its outcome, output, hang, and the
 * paths refused) and each task's prolog and epilog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_fake.h"
#include "agent_impl.h"
#include "err.h"
#include "log.h"
#include "utf8.h"

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
	/* a script's interpreter runs as the agent too: walked the same way,
	 * through scripts of scripts (as the kernel, 4 deep) */
	{
		char a1[300], a2[300], text[700];

		snprintf(a1, sizeof(a1), "%s/safe/interp", dir);
		write_file(a1, "#!/bin/sh\n", 0755);
		snprintf(a2, sizeof(a2), "%s/safe/script", dir);
		snprintf(text, sizeof(text), "#! %s -e\necho hi\n", a1);
		write_file(a2, text, 0755);
		assert_int_equal(agent_health_check_ok(a2, real, sizeof(real), err, sizeof(err)), 0);
		assert_string_equal(real, a2);	/* what runs is the script */
		snprintf(a1, sizeof(a1), "%s/open/interp", dir);
		write_file(a1, "#!/bin/sh\n", 0755);
		snprintf(text, sizeof(text), "#!%s\n", a1);
		write_file(a2, text, 0755);
		assert_int_equal(agent_health_check_ok(a2, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		snprintf(text, sizeof(text), "its interpreter %s: mode 777 lets others change its "
			 "folder ", a1);
		assert_non_null(strstr(err, text));
		write_file(a2, "#!bin/sh\n", 0755);
		assert_int_equal(agent_health_check_ok(a2, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, "names its interpreter by a relative path (bin/sh)"));
		snprintf(a1, sizeof(a1), "%s/safe/loop", dir);
		snprintf(text, sizeof(text), "#!%s\n", a2);
		write_file(a1, text, 0755);
		snprintf(text, sizeof(text), "#!%s\n", a1);
		write_file(a2, text, 0755);
		assert_int_equal(agent_health_check_ok(a2, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, ": too many levels of #! interpreters"));
		/* env looks its program up in PATH when it runs: refused */
		write_file(a2, "#!/usr/bin/env sh\n", 0755);
		assert_int_equal(agent_health_check_ok(a2, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, "runs its interpreter through /usr/bin/env, which looks "
				       "it up in PATH"));
		/* a name kernels would cut short (before 5.0) or refuse */
		memset(text, 'x', 200);
		memcpy(text, "#!/bin/", 7);
		text[200] = '\0';
		write_file(a2, text, 0755);
		assert_int_equal(agent_health_check_ok(a2, NULL, 0, err, sizeof(err)), ERR_BAD_CONFIG);
		assert_non_null(strstr(err, ": its #! line is longer than kernels read"));
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
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
	/* the operator's settings for the scripts come through; no other
	 * HARE_ variable of the agent's does */
	setenv("HARE_HEALTH_DISK_MAX", "90", 1);
	setenv("HARE_NODE_SPOOF", "x", 1);
	fake_agent_registered(f);
	fake_task_start(f, &s);
	RUN_UNTIL(f, fake_exit(f, 7, 3, 0), 10);
	unsetenv("HARE_HEALTH_DISK_MAX");
	unsetenv("HARE_NODE_SPOOF");
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
	assert_non_null(strstr(env, "\nHARE_HEALTH_DISK_MAX=90\n"));
	assert_null(strstr(env, "HARE_NODE_SPOOF"));
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
 * uncharged) but not the node's fault, and runs the epilog. A prolog an
 * agent killed outright left running (its pid and start time in the state
 * file) is killed by the next agent. */
static void test_prolog_cut_short(void **state)
{
	struct fake *f = fake_new(TEST_KEY, "V100:1");
	char cmd[600], env[2048], path[300], st[2048], more[80];
	struct start_args s = { .job = 9, .lease = 1, .count = 1, .command = cmd };
	const Hare__TaskExit *e;
	pid_t left;
	FILE *fp;

	(void)state;
	prolog_fake_setup(f, "slow\n", "ok\n");
	prolog_worker(f, cmd, sizeof(cmd));
	fake_agent_registered(f);
	fake_task_start(f, &s);
	snprintf(path, sizeof(path), "%s/prolog.started", f->dir);
	RUN_UNTIL(f, file_exists(path), 5);
	snprintf(path, sizeof(path), "%s/work/tasks/9.1.0.task", f->dir);
	read_text(path, st, sizeof(st));
	assert_non_null(strstr(st, "\nscript_pid="));
	fake_agent_stop(f);
	read_text(path, st, sizeof(st));
	assert_non_null(strstr(st, "\nprolog=running\n"));
	assert_null(fake_exit(f, 9, 1, 0));
	/* as if the agent had been killed outright: its prolog (here a
	 * stand-in in a group of its own) still runs */
	left = session_sleep(60);
	snprintf(more, sizeof(more), "script_pid=%d\nscript_start=%llu\n", (int)left,
		 (unsigned long long)agent_pid_start(left));
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs(more, fp);
	fclose(fp);
	fake_agent_start(f);
	RUN_UNTIL(f, proc_state(left) == 'Z', 5);
	waitpid(left, NULL, 0);
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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
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
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
