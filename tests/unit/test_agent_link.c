/* SPDX-License-Identifier: MIT */
/* Unit tests for hare-agent's link to hared against a fake one: a wrong key
 * (in TLS and not), an older hared, a hared that proves nothing or does not
 * check the agent's tags, and a frame with a wrong tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_fake.h"
#include "log.h"

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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_key),
		cmocka_unit_test(test_tls_bad_key),
		cmocka_unit_test(test_tls_older_hared),
		cmocka_unit_test(test_no_proof),
		cmocka_unit_test(test_untagged_proof),
		cmocka_unit_test(test_bad_tag),
	};

	/* a worker or script put in its cgroup comes back here first
	 * (/proc/self/exe --exec-in, as in hare-agent) */
	if (argc > 1 && strcmp(argv[1], "--exec-in") == 0)
		return agent_exec_in(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	log_level_set(getenv("HARE_TEST_LOG") ? getenv("HARE_TEST_LOG") : "warn");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
