/* SPDX-License-Identifier: MIT */
/* Unit tests for hared's configuration: defaults, keys and ranges, file:line
 * errors, cross-key checks, host:port parsing, the secret files, and the
 * folders --check-config looks at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "auth_hmac.h"
#include "err.h"
#include "hared.h"
#include "hared_config.h"
#include "profile.h"

static void test_defaults(void **state)
{
	struct hared_config c;
	char err[256] = "";

	(void)state;
	hared_config_defaults(&c);
	assert_string_equal(c.policy, "hare");
	assert_true(c.time_scale == 1.0);
	assert_int_equal(c.replan_debounce_ms, 50);
	assert_true(c.reconnect_grace_s == 10.0);
	assert_true(c.heartbeat_timeout_s == 15.0);
	assert_true(c.stop_grace_s == 5.0);
	assert_true(c.min_lease_s == 3600.0);
	assert_true(c.type_slack == 0.3);
	assert_int_equal(c.max_frame, 4194304);
	assert_int_equal(c.quarantine_jobs, 0);	/* off unless an operator asks */
	assert_int_equal(c.quarantine_users, 2);
	assert_int_equal(c.quarantine_max_nodes, 1);
	assert_int_equal(c.quarantine_health_fails, 3);	/* on: a flapping check's node is drained */
	assert_int_equal(hared_config_check("x", &c, err, sizeof(err)), 0);
}

static void test_load_keys(void **state)
{
	struct hared_config c;
	char err[256] = "";
	const char *text =
		"; comment\n"
		"[daemon]\n"
		"agent_listen = 127.0.0.1:0\n"
		"client_socket = /tmp/x.sock\n"
		"state_dir = /tmp/state\n"
		"policy = fifo\n"
		"time_scale = 1000\n"
		"noise_cv = 0.1\n"
		"replan_debounce_ms = 20\n"
		"reconnect_grace_s = 2.5\n"
		"stop_grace_s = 0.5\n"
		"min_lease_s = 0\n"
		"type_slack = 0\n"
		"max_frame = 65536\n"
		"client_socket_mode = 0660\n"
		"log_level = debug\n"
		"quarantine_jobs = 3\n"
		"quarantine_users = 3\n"
		"quarantine_max_nodes = 4\n"
		"quarantine_health_fails = 0\n"
		"max_user_jobs = 500\n"
		"max_user_weight = 10\n"
		"port_file = /tmp/ports\n";

	(void)state;
	hared_config_defaults(&c);
	assert_int_equal(hared_config_load_string("t.conf", text, &c, err, sizeof(err)), 0);
	assert_string_equal(c.agent_listen, "127.0.0.1:0");
	assert_string_equal(c.policy, "fifo");
	assert_true(c.time_scale == 1000.0);
	assert_true(c.noise_cv == 0.1);
	assert_int_equal(c.replan_debounce_ms, 20);
	assert_true(c.reconnect_grace_s == 2.5);
	assert_true(c.stop_grace_s == 0.5);
	assert_true(c.min_lease_s == 0.0);
	assert_true(c.type_slack == 0.0);
	assert_int_equal(c.max_frame, 65536);
	assert_int_equal(c.client_socket_mode, 0660);
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.port_file, "/tmp/ports");
	assert_int_equal(c.quarantine_jobs, 3);
	assert_int_equal(c.quarantine_users, 3);
	assert_int_equal(c.quarantine_max_nodes, 4);
	assert_int_equal(c.quarantine_health_fails, 0);
	assert_int_equal(c.max_user_jobs, 500);
	assert_true(c.max_user_weight == 10.0);
	/* Untouched keys keep their defaults. */
	assert_true(c.heartbeat_timeout_s == 15.0);
}

/* Load text and expect ERR_BAD_CONFIG with `want` in the message. */
static void expect_bad(const char *text, const char *want)
{
	struct hared_config c;
	char err[256] = "";
	int rc;

	hared_config_defaults(&c);
	rc = hared_config_load_string("bad.conf", text, &c, err, sizeof(err));
	if (rc != ERR_BAD_CONFIG || !strstr(err, want))
		fail_msg("rc=%d err='%s', want ERR_BAD_CONFIG with '%s'", rc, err, want);
}

static void test_errors(void **state)
{
	(void)state;
	expect_bad("[daemon]\npolicy = hares\n", "bad.conf:2: policy: unknown scheduling policy "
		   "'hares' (known: hare, hare-smith, optimus, fifo, fifo-backfill, srtf, tiresias, gavel, gavel-tput, allox, gandiva)");
	expect_bad("[daemon]\ncolour = blue\n", "bad.conf:2: unknown key 'colour'");
	expect_bad("[daemon]\nplicy = fifo\n", "bad.conf:2: unknown key 'plicy' in [daemon] (did you "
		   "mean policy?)");
	expect_bad("[daemon]\nheartbeat_timeout = 9\n", "bad.conf:2: unknown key 'heartbeat_timeout' in "
		   "[daemon] (did you mean heartbeat_timeout_s?)");
	expect_bad("policy = fifo\n[daemon]\n", "bad.conf:1: key 'policy' outside a section (expected "
		   "[daemon])");
	expect_bad("[agents]\nnode = x\n", "bad.conf:1: unknown section [agents] (hared reads "
		   "[daemon] and skips [agent])");
	/* named at its header, not at its first key */
	expect_bad("[daemon]\npolicy = hare\n\n[bogus]\n# why\nx = 1\n", "bad.conf:4: unknown "
		   "section [bogus]");
	expect_bad("[daemon]\n\ntime_scale = 0\n", "bad.conf:3: time_scale: must be between");
	expect_bad("[daemon]\ntime_scale = fast\n", "time_scale: expected a number, got 'fast'");
	expect_bad("[daemon]\nmax_frame = 10\n", "max_frame: must be between 1024");
	expect_bad("[daemon]\nstop_grace_s = -1\n", "stop_grace_s: must be between 0");
	expect_bad("[daemon]\nlog_level = loud\n", "log_level: expected error, warn, info or debug");
	expect_bad("[daemon]\nclient_socket_mode = 999\n", "client_socket_mode: expected octal");
	expect_bad("[daemon]\nagent_listen = nowhere\n", "agent_listen: expected host:port");
	expect_bad("[daemon]\nagent_listen = 1.2.3.4:70000\n", "agent_listen: port: must be between");
	expect_bad("[daemon]\nagent_listen = example.com:1\n", "not a numeric IPv4 or IPv6 address");
	expect_bad("[daemon]\nremote_user = root\n", "remote_user: remote clients' jobs may not run as root");
	expect_bad("[daemon]\nremote_user = a/b\n", "remote_user: expected an account name");
	expect_bad("[daemon]\nclient_listen = 127.0.0.1:9\n", "client_listen needs client_token_file "
		   "(a token they share) or client_users_file (a token each)");
	expect_bad("[daemon]\nstate_dir =\n", "state_dir: missing");
	expect_bad("[daemon]\nprivate_data = jobs,nodes\n", "bad.conf: private_data: unknown item "
		   "'nodes' (expected jobs, usage, or none)");
	expect_bad("[daemon]\nprivate_data = none, jobs\n", "bad.conf: private_data: 'none' goes "
		   "alone (got 'none, jobs')");
	expect_bad("[daemon]\ntls = yes\n", "bad.conf:2: tls: expected optional (TLS, and older "
		   "peers in the clear) or required (TLS only), got 'yes'");
	expect_bad("[daemon]\ntls = required # c\n", "bad.conf:2: tls: expected optional (TLS, and "
		   "older peers in the clear) or required (TLS only), got 'required # c' (a comment "
		   "after a value starts with ';'; '#' only at the start of a line)");
	expect_bad("[daemon]\ncluster_key_file =\n", "cluster_key_file is empty or missing: it may "
		   "be empty only with agent_keys_dir, when every node has a key of its own");
	expect_bad("[daemon]\nthis is not ini\n", "bad.conf:2: syntax error");
	expect_bad("[daemon]\nquarantine_jobs = 2\nquarantine_users = 3\n",
		   "bad.conf: quarantine_users (3; default 2) is above quarantine_jobs (2): no node "
		   "would ever be quarantined; set quarantine_users to at most 2");
	expect_bad("[daemon]\nquarantine_jobs = 1\n",
		   "bad.conf: quarantine_users (2; default 2) is above quarantine_jobs (1)");
	expect_bad("[daemon]\nquarantine_users = 0\n", "quarantine_users: must be between 1");
	expect_bad("[daemon]\nquarantine_max_nodes = 0\n", "quarantine_max_nodes: must be between 1");
	expect_bad("[daemon]\nquarantine_health_fails = 17\n",
		   "bad.conf:2: quarantine_health_fails: must be between 0 and 16, got 17");
}

struct diff_seen {
	char lines[8][160];
	uint32_t n;
};

static void diff_note(void *user, const char *key, const char *from, const char *to, bool live)
{
	struct diff_seen *d = user;

	if (d->n < 8)
		snprintf(d->lines[d->n++], sizeof(d->lines[0]), "%s %s -> %s%s", key, from, to,
			 live ? "" : " (restart)");
}

/* One file for hared and hare-agent (docs/agent.md): each skips the
 * other's section, hared without checking its keys, and reads its own
 * whichever comes first. */
static void test_combined_file(void **state)
{
	const char *text =
		"[agent]\n"
		"daemon = 127.0.0.1:7070\n"
		"cluster_key_file = /etc/hare/cluster.key\n"
		"gpus = V100:2\n"
		"\n"
		"[daemon]\n"
		"agent_listen = 127.0.0.1:7070\n"
		"policy = fifo\n"
		"\n"
		"[agent]\n"
		"node = gpu-01\n";
	struct hared_config c;
	struct agent_config a;
	char err[256] = "";

	(void)state;
	hared_config_defaults(&c);
	if (hared_config_load_string("both.conf", text, &c, err, sizeof(err)) != 0)
		fail_msg("hared refuses a file with an [agent] section: '%s'", err);
	assert_string_equal(c.agent_listen, "127.0.0.1:7070");
	assert_string_equal(c.policy, "fifo");
	agent_config_defaults(&a);
	if (agent_config_load_string(&a, "both.conf", text, err, sizeof(err)) != 0)
		fail_msg("hare-agent refuses a file with a [daemon] section: '%s'", err);
	assert_string_equal(a.daemon, "127.0.0.1:7070");
	assert_string_equal(a.node, "gpu-01");
	/* the [daemon] keys are still checked */
	expect_bad("[agent]\nnode = x\n[daemon]\ncolour = blue\n", "bad.conf:4: unknown key 'colour'");
}

/* A reload: the keys that differ are named with their old and new values;
 * live ones are applied, the others keep the running value. */
static void test_reload_diff(void **state)
{
	struct hared_config cur, next;
	struct diff_seen seen = { .n = 0 };
	char err[256] = "";

	(void)state;
	hared_config_defaults(&cur);
	assert_int_equal(hared_config_load_string("a.conf", "[daemon]\nclient_socket = /tmp/x.sock\n",
						  &cur, err, sizeof(err)), 0);
	next = cur;
	assert_int_equal(hared_config_diff(&cur, &next, diff_note, &seen), 0);
	assert_int_equal(hared_config_load_string("b.conf", "[daemon]\nclient_socket = /tmp/x.sock\n"
						  "log_level = debug\nquarantine_jobs = 3\n"
						  "policy = fifo\nmeasure_gpus = no\n"
						  "client_socket_mode = 0660\nretry_backoff_s = 2.5\n",
						  &next, err, sizeof(err)), 0);
	assert_int_equal(hared_config_diff(&cur, &next, diff_note, &seen), 6);
	assert_int_equal(seen.n, 6);
	assert_string_equal(seen.lines[0], "client_socket_mode 0666 -> 0660 (restart)");
	assert_string_equal(seen.lines[1], "policy hare -> fifo (restart)");
	assert_string_equal(seen.lines[2], "retry_backoff_s 10 -> 2.5");
	assert_string_equal(seen.lines[3], "quarantine_jobs 0 -> 3");
	assert_string_equal(seen.lines[4], "measure_gpus yes -> no (restart)");
	assert_string_equal(seen.lines[5], "log_level info -> debug");
	/* applied: the live ones only */
	assert_string_equal(cur.log_level, "debug");
	assert_int_equal(cur.quarantine_jobs, 3);
	assert_true(cur.retry_backoff_s == 2.5);
	assert_string_equal(cur.policy, "hare");
	assert_true(cur.measure_gpus);
	assert_int_equal(cur.client_socket_mode, 0666);
	/* again: only what still differs, the keys that wait for a restart */
	seen.n = 0;
	assert_int_equal(hared_config_diff(&cur, &next, diff_note, &seen), 3);
}

static void test_addr_parse(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	char err[128];

	(void)state;
	assert_int_equal(hared_addr_parse("127.0.0.1:7070", &ss, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(v4->sin_port), 7070);
	assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(hared_addr_parse("[::1]:0", &ss, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(v6->sin6_port), 0);
	assert_int_equal(hared_addr_parse("*:80", &ss, err, sizeof(err)), 0);
	assert_int_equal(v4->sin_addr.s_addr, 0);
	assert_int_equal(hared_addr_parse("localhost:1", &ss, err, sizeof(err)), 0);
	assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(hared_addr_parse("[::1", &ss, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_int_equal(hared_addr_parse("1.2.3.4:-1", &ss, err, sizeof(err)), ERR_BAD_CONFIG);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* client_users_file: NAME TOKEN lines; names hared gives others, repeated
 * names or tokens, short tokens and malformed lines are refused with their
 * line; a token finds its user, any other none. */
static void test_users_file(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "alice 0123456789abcdef\nroot 0123456789abcdeX\n", "u:2: 'root' is not a name" },
		{ "remote 0123456789abcdef\n", "u:1: 'remote' is not a name" },
		{ "uid42 0123456789abcdef\n", "u:1: 'uid42' is not a name" },
		{ "Alice 0123456789abcdef\n", "u:1: 'Alice' is not a name" },
		{ "alice short\n", "u:1: alice's token is 5 bytes; want 16 to 1024" },
		{ "alice 0123456789abcdef extra\n", "u:1: expected NAME TOKEN" },
		{ "alice\n", "u:1: expected NAME TOKEN" },
		{ "alice 0123456789abcdef\nalice 0123456789abcdeX\n", "u:2: alice's name was given before" },
		{ "alice 0123456789abcdef\nbob 0123456789abcdef\n", "u:2: bob's token was given before" },
	};
	char dir[] = "/tmp/hare-cfg-XXXXXX", path[64], err[256];
	struct auth_user *u;
	uint32_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/u", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].text);
		assert_int_equal(auth_users_load(path, &u, &n, err, sizeof(err)), ERR_BAD_CONFIG);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: '%s', want '%s'", i, err, bad[i].msg);
		assert_null(u);
	}
	write_file(path, "# who may connect over TCP\n\n  alice\t0123456789abcdef\r\nbob.b   "
			 "fedcba9876543210fedc\n");
	assert_int_equal(auth_users_load(path, &u, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(u[0].name, "alice");
	assert_string_equal(u[1].name, "bob.b");
	assert_int_equal(auth_users_find(u, n, "fedcba9876543210fedc"), 1);
	assert_int_equal(auth_users_find(u, n, "0123456789abcdef"), 0);
	assert_int_equal(auth_users_find(u, n, "0123456789abcde"), -1);
	assert_int_equal(auth_users_find(u, n, ""), -1);
	free(u);
	unlink(path);
	assert_int_equal(auth_users_load(path, &u, &n, err, sizeof(err)), -ENOENT);
	rmdir(dir);
}

static void test_secret_and_mac(void **state)
{
	char dir[] = "/tmp/hare-cfg-XXXXXX", path[64], err[256];
	uint8_t key[AUTH_SECRET_MAX], nonce[AUTH_NONCE_LEN] = { 1, 2, 3 }, mac[AUTH_MAC_LEN];
	size_t len = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	write_file(path, "0123456789abcdef-secret\n\n");
	assert_int_equal(auth_secret_load(path, key, sizeof(key), &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen("0123456789abcdef-secret"));
	assert_memory_equal(key, "0123456789abcdef-secret", len);
	assert_int_equal(auth_mac_compute(key, len, nonce, sizeof(nonce), "node1", mac), 0);
	{
		uint8_t want1[AUTH_MAC_LEN], want2[AUTH_MAC_LEN];

		assert_int_equal(auth_mac_compute(key, len, nonce, sizeof(nonce), "node1", want1), 0);
		assert_int_equal(auth_mac_compute(key, len, nonce, sizeof(nonce), "node2", want2), 0);
		assert_true(auth_mac_matches(want1, mac, sizeof(mac)));
		assert_false(auth_mac_matches(want2, mac, sizeof(mac)));
		assert_false(auth_mac_matches(want1, mac, sizeof(mac) - 1));
		mac[5] ^= 1;
		assert_false(auth_mac_matches(want1, mac, sizeof(mac)));
	}
	/* hared's proof to the agent: "hared" NUL, the agent's nonce, hared's,
	 * the node, as OpenSSL computes it here */
	{
		uint8_t an[AUTH_NONCE_LEN] = { 9, 8, 7 }, proof[AUTH_MAC_LEN], want[32], msg[6 + 64 + 5];
		unsigned int wl = 0;

		memcpy(msg, "hared", 6);
		memcpy(msg + 6, an, 32);
		memcpy(msg + 38, nonce, 32);
		memcpy(msg + 70, "node1", 5);
		HMAC(EVP_sha256(), key, (int)len, msg, sizeof(msg), want, &wl);
		assert_int_equal(auth_hmac_proof(key, len, an, nonce, "node1", false, proof), 0);
		assert_memory_equal(proof, want, 32);
		/* for an agent that tags its frames: "hared+tags" NUL, the rest
		 * alike, so the two proofs differ */
		{
			uint8_t tmsg[14 + 64 + 5], twant[32];

			memcpy(tmsg, "hared+tags", 11);
			memcpy(tmsg + 11, an, 32);
			memcpy(tmsg + 43, nonce, 32);
			memcpy(tmsg + 75, "node1", 5);
			HMAC(EVP_sha256(), key, (int)len, tmsg, 11 + 64 + 5, twant, &wl);
			assert_int_equal(auth_hmac_proof(key, len, an, nonce, "node1", true, proof), 0);
			assert_memory_equal(proof, twant, 32);
			assert_memory_not_equal(twant, want, 32);
			/* the agent's session key: "agent-session" NUL, the same */
			memcpy(tmsg, "agent-session", 14);
			memcpy(tmsg + 14, an, 32);
			memcpy(tmsg + 46, nonce, 32);
			memcpy(tmsg + 78, "node1", 5);
			HMAC(EVP_sha256(), key, (int)len, tmsg, 14 + 64 + 5, twant, &wl);
			assert_int_equal(auth_hmac_agent_session(key, len, an, nonce, "node1", proof), 0);
			assert_memory_equal(proof, twant, 32);
		}
		/* frame tags with a key made once: the one-shot HMAC of seq (8
		 * bytes, big-endian) || payload, frame after frame */
		{
			struct auth_hmac_key *k;
			uint8_t sess[32] = { 5, 4, 3 }, fm[8 + 5], tag[32], want2[32];

			assert_int_equal(auth_hmac_key_new(sess, &k), 0);
			for (uint64_t seq = 0; seq < 3; seq++) {
				memset(fm, 0, 8);
				fm[7] = (uint8_t)seq;
				memcpy(fm + 8, "frame", 5);
				HMAC(EVP_sha256(), sess, 32, fm, sizeof(fm), want2, &wl);
				assert_int_equal(auth_hmac_frame(k, seq, fm + 8, 5, tag), 0);
				assert_memory_equal(tag, want2, 32);
			}
			auth_hmac_key_free(k);
		}
		assert_int_equal(auth_mac_compute(key, len, nonce, sizeof(nonce), "node1", mac), 0);
		assert_memory_not_equal(proof, mac, 32);
	}
	assert_true(auth_token_equal(key, len, "0123456789abcdef-secret"));
	assert_false(auth_token_equal(key, len, "0123456789abcdef-secreT"));
	assert_false(auth_token_equal(key, len, "0123456789abcdef-secret!"));
	assert_false(auth_token_equal(key, len, ""));
	/* a client token is one line: harectl sends only its file's first */
	assert_int_equal(auth_token_check(path, key, len, err, sizeof(err)), 0);
	write_file(path, "0123456789abcdef-secret\nline two\n");
	assert_int_equal(auth_secret_load(path, key, sizeof(key), &len, err, sizeof(err)), 0);
	assert_int_equal(auth_token_check(path, key, len, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "must be one line (a line break at byte 23)"));
	memset(key, 't', AUTH_TOKEN_MAX + 1);
	assert_int_equal(auth_token_check(path, key, AUTH_TOKEN_MAX, err, sizeof(err)), 0);
	assert_int_equal(auth_token_check(path, key, AUTH_TOKEN_MAX + 1, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "the client token is 1025 bytes; harectl sends at most 1024"));
	write_file(path, "short\n");
	assert_int_equal(auth_secret_load(path, key, sizeof(key), &len, err, sizeof(err)),
			 ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "need at least 16"));
	unlink(path);
	assert_int_equal(auth_secret_load(path, key, sizeof(key), &len, err, sizeof(err)), -ENOENT);
	rmdir(dir);
}

/* A configuration for the folder checks: its files in dir. */
static void check_config(struct hared_config *c, const char *dir)
{
	char path[HARED_PATH_LEN];

	hared_config_defaults(c);
	snprintf(path, sizeof(path), "%s/key", dir);
	write_file(path, "0123456789abcdef-secret\n");
	snprintf(c->cluster_key_file, sizeof(c->cluster_key_file), "%s", path);
	snprintf(c->profiles, sizeof(c->profiles), "%s", HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR);
	snprintf(c->client_socket, sizeof(c->client_socket), "%s/hared.sock", dir);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s/state", dir);
	snprintf(c->agent_listen, sizeof(c->agent_listen), "127.0.0.1:0");
}

/* Expect hared_check to refuse c with a message starting with want. */
static void expect_check_refused(const struct hared_config *c, const char *want)
{
	char err[512] = "";
	int rc = hared_check(c, err, sizeof(err));

	if (rc == 0 || strncmp(err, want, strlen(want)) != 0)
		fail_msg("rc=%d err='%s', want a refusal starting with '%s'", rc, err, want);
}

/* --check-config answers as the start would: a state_dir whose parents
 * are missing is fine (hared makes them) and the check makes nothing; one
 * in a folder that takes none is refused; so is a client_socket in a
 * folder that is missing, or in place of a file. */
static void test_check_folders(void **state)
{
	char dir[] = "/tmp/hare-cfg-XXXXXX", path[HARED_PATH_LEN], want[HARED_PATH_LEN * 2];
	struct hared_config c;
	char err[512] = "";
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	check_config(&c, dir);
	assert_int_equal(hared_check(&c, err, sizeof(err)), 0);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s/deep/a//b/", dir);
	if (hared_check(&c, err, sizeof(err)) != 0)
		fail_msg("a state_dir with missing parents: '%s'", err);
	snprintf(path, sizeof(path), "%s/deep", dir);
	assert_int_equal(stat(path, &st), -1);	/* the check made nothing */

	snprintf(c.state_dir, sizeof(c.state_dir), "/proc/hare-check-%d/a", (int)getpid());
	snprintf(want, sizeof(want), "state_dir %s: cannot create ", c.state_dir);
	expect_check_refused(&c, want);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s/state", dir);

	snprintf(c.client_socket, sizeof(c.client_socket), "%s/nodir/x.sock", dir);
	snprintf(want, sizeof(want), "client_socket %s: folder %s/nodir does not exist", c.client_socket,
		 dir);
	expect_check_refused(&c, want);
	snprintf(c.client_socket, sizeof(c.client_socket), "%s/key/x.sock", dir);
	snprintf(want, sizeof(want), "client_socket %s: %s/key is not a directory", c.client_socket, dir);
	expect_check_refused(&c, want);
	snprintf(c.client_socket, sizeof(c.client_socket), "%s/key", dir);
	snprintf(want, sizeof(want), "client_socket %s exists and is not a socket", c.client_socket);
	expect_check_refused(&c, want);

	snprintf(c.client_socket, sizeof(c.client_socket), "%s/hared.sock", dir);

	/* agent_keys_dir: a folder; with it, no cluster key is needed */
	snprintf(c.agent_keys_dir, sizeof(c.agent_keys_dir), "%s/keys", dir);
	snprintf(want, sizeof(want), "agent_keys_dir %s/keys: No such file or directory", dir);
	expect_check_refused(&c, want);
	snprintf(c.agent_keys_dir, sizeof(c.agent_keys_dir), "%s/key", dir);
	snprintf(want, sizeof(want), "agent_keys_dir %s/key: Not a directory", dir);
	expect_check_refused(&c, want);
	snprintf(c.agent_keys_dir, sizeof(c.agent_keys_dir), "%s", dir);
	c.cluster_key_file[0] = '\0';
	if (hared_check(&c, err, sizeof(err)) != 0)
		fail_msg("agent_keys_dir without a cluster key: '%s'", err);
	{
		struct hared_config l;

		hared_config_defaults(&l);
		assert_int_equal(hared_config_load_string("ok.conf", "[daemon]\ncluster_key_file =\n"
							   "agent_keys_dir = /etc/hare/nodes\n", &l,
							   err, sizeof(err)), 0);
		assert_string_equal(l.agent_keys_dir, "/etc/hare/nodes");
		assert_int_equal(hared_config_load_string("ok.conf", "[daemon]\nprivate_data = "
							   "usage , jobs\n", &l, err, sizeof(err)), 0);
		assert_true(hared_private(&l, "jobs") && hared_private(&l, "usage"));
		assert_int_equal(hared_config_load_string("ok.conf", "[daemon]\nprivate_data = none\n",
							   &l, err, sizeof(err)), 0);
		assert_false(hared_private(&l, "jobs") || hared_private(&l, "usage"));
		/* blanks alone separate items too: as checked, so applied */
		assert_int_equal(hared_config_load_string("ok.conf", "[daemon]\nprivate_data = jobs "
							   "\tusage\n", &l, err, sizeof(err)), 0);
		assert_true(hared_private(&l, "jobs") && hared_private(&l, "usage"));
		assert_false(hared_private(&l, "job") || hared_private(&l, "jobs usage"));
		assert_string_equal(l.cluster_key_file, "");
		/* tls: optional unless said */
		assert_false(hared_tls_required(&l));
		assert_int_equal(hared_config_load_string("ok.conf", "[daemon]\ntls = required\n", &l,
							   err, sizeof(err)), 0);
		assert_true(hared_tls_required(&l));
	}

	snprintf(path, sizeof(path), "%s/key", dir);
	unlink(path);
	rmdir(dir);
}

/* The start makes a state_dir whose parents are missing (mkdir -p), and
 * refuses one in a folder that takes none with the check's message. */
static void test_init_makes_state_dir(void **state)
{
	char dir[] = "/tmp/hare-cfg-XXXXXX", path[HARED_PATH_LEN], check[512], err[512] = "";
	struct hared *d = calloc(1, sizeof(*d));
	struct hared_config c;
	struct stat st;
	uv_loop_t loop;

	(void)state;
	assert_non_null(d);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(uv_loop_init(&loop), 0);
	check_config(&c, dir);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s/deep/a/b", dir);
	if (hared_init(d, &loop, &c, err, sizeof(err)) != 0)
		fail_msg("hared_init with a state_dir whose parents are missing: '%s'", err);
	assert_int_equal(stat(c.state_dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777 & ~0750u, 0);	/* 0750 less the umask */
	hared_stop(d);
	uv_run(&loop, UV_RUN_DEFAULT);
	hared_destroy(d);

	snprintf(c.state_dir, sizeof(c.state_dir), "/proc/hare-check-%d/a", (int)getpid());
	assert_true(hared_check(&c, check, sizeof(check)) < 0);
	assert_true(hared_init(d, &loop, &c, err, sizeof(err)) < 0);
	assert_string_equal(err, check);
	hared_stop(d);
	uv_run(&loop, UV_RUN_DEFAULT);
	hared_destroy(d);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(d);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_load_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_combined_file),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_reload_diff),
		cmocka_unit_test(test_secret_and_mac),
		cmocka_unit_test(test_users_file),
		cmocka_unit_test(test_check_folders),
		cmocka_unit_test(test_init_makes_state_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
