/* SPDX-License-Identifier: MIT */
/* Unit tests for common/: error table, INI loading with file:line errors,
 * value parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "fileio.h"
#include "utf8.h"

static void test_err_names(void **state)
{
	(void)state;
	assert_string_equal(err_name(ERR_BAD_SPEC), "ERR_BAD_SPEC");
	assert_string_equal(err_name(-ENOMEM), "ENOMEM");
	assert_string_equal(err_name(0), "OK");
	assert_string_equal(err_str(ERR_UNKNOWN_GPU), "unknown GPU type");
	assert_string_equal(err_str(-ENOENT), strerror(ENOENT));
	for (int c = ERR_BASE; c < ERR_END; c++)
		assert_true(strncmp(err_name(c), "ERR_", 4) == 0);
	/* any errno has its name, not EUNKNOWN */
	assert_string_equal(err_name(-E2BIG), "E2BIG");
	assert_string_equal(err_name(-ECONNRESET), "ECONNRESET");
	assert_string_equal(err_name(-EUSERS), "EUSERS");
	assert_string_equal(err_name(-99999), "EUNKNOWN");
}

static void test_utf8(void **state)
{
	(void)state;
	assert_int_equal(utf8_cut_len("caf\xc3\xa9!", 4), 3);	/* not inside the é */
	assert_int_equal(utf8_cut_len("caf\xc3\xa9!", 5), 5);
	assert_int_equal(utf8_cut_len("caf\xc3\xa9", 9), 5);	/* shorter than max */
	assert_int_equal(utf8_cut_len("\xf0\x9f\x98\x80x", 3), 0);
	assert_int_equal(utf8_cut_len("abc", 0), 0);
	assert_true(utf8_valid(""));
	assert_true(utf8_valid("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"));
	assert_false(utf8_valid("\xff"));
	assert_false(utf8_valid("\xc3"));		/* cut short */
	assert_false(utf8_valid("\xc0\xaf"));		/* overlong '/' */
	assert_false(utf8_valid("\xed\xa0\x80"));	/* a surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80"));	/* past U+10FFFF */
	assert_int_equal(utf8_seq_len((const unsigned char *)"a"), 1);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xe6\x97\xa5"), 3);
	assert_true(utf8_has_c1("x\xc2\x9b"));
	assert_false(utf8_has_c1("\xc2\xa0"));	/* no-break space */
	/* bidirectional formatting: RLO (U+202E), LRE (U+202A), FSI, PDI */
	assert_true(utf8_has_bidi("job\xe2\x80\xae"));
	assert_true(utf8_has_bidi("\xe2\x80\xaax"));
	assert_true(utf8_has_bidi("\xe2\x81\xa8"));
	assert_true(utf8_has_bidi("a\xe2\x81\xa9"));
	assert_false(utf8_has_bidi("\xe2\x80\xa9"));	/* paragraph separator */
	assert_false(utf8_has_bidi("\xe2\x81\xa5"));	/* U+2065, unassigned */
	assert_false(utf8_has_bidi("caf\xc3\xa9 \xe2\x82\xac"));	/* é, € */
}

struct kv {
	int n;
	char last_key[32];
	uint32_t gpus;
};

static int on_kv(void *user, const char *section, const char *key, const char *value, char *err,
		 size_t errlen)
{
	struct kv *kv = user;

	(void)section;
	kv->n++;
	snprintf(kv->last_key, sizeof(kv->last_key), "%s", key);
	if (strcmp(key, "gpus") == 0)
		return config_parse_u32(value, 1, 64, &kv->gpus, err, errlen);
	if (strcmp(key, "bogus") == 0) {
		snprintf(err, errlen, "unknown key 'bogus'");
		return ERR_BAD_CONFIG;
	}
	return 0;
}

static void test_config_ok(void **state)
{
	struct kv kv = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(config_load_string("a.ini", "[x]\ngpus = 8\nname = n\n", on_kv, &kv, err,
					    sizeof(err)), 0);
	assert_int_equal(kv.n, 2);
	assert_int_equal(kv.gpus, 8);
}

static void test_config_errors(void **state)
{
	struct kv kv = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(config_load_string("jobs.ini", "[x]\nname = a\ngpus = 0\n", on_kv, &kv, err,
					    sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "jobs.ini:3: gpus: must be between 1 and 64, got 0");
	assert_int_equal(config_load_string("c.ini", "[x]\nbogus = 1\n", on_kv, &kv, err,
					    sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "c.ini:2: unknown key 'bogus'");
	assert_int_equal(config_load_string("s.ini", "[x]\nno equals sign here\n", on_kv, &kv, err,
					    sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "s.ini:2: syntax error"));
	/* A syntax error before a rejected key: each reported at its own line. */
	assert_int_equal(config_load_string("o.ini", "[x\ngpus = 0\n", on_kv, &kv, err,
					    sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "o.ini:1: syntax error"));
	/* a key twice in a section, or an indented line (inih's continuation of
	 * the value above); the same key in two sections is two keys */
	assert_int_equal(config_load_string("d.ini", "[x]\ngpus = 4\nname = a\ngpus = 8\n", on_kv, &kv,
					    err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "d.ini:4: gpus given twice in [x] (also at line 2)");
	assert_int_equal(config_load_string("i.ini", "[x]\ngpus = 4\n  name = a\n", on_kv, &kv, err,
					    sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "i.ini:3: an indented line continues the value of gpus (line 2); "
			    "keys start in the first column");
	/* '#' after a value is part of it (inih strips "; ..." only): a
	 * refused value says so, a ';' comment is read as one */
	assert_int_equal(config_load_string("h.ini", "[x]\ngpus = 4 # four\n", on_kv, &kv, err,
					    sizeof(err)), ERR_BAD_CONFIG);
	assert_non_null(strstr(err, "h.ini:2: "));
	assert_non_null(strstr(err, " (a comment after a value starts with ';'; '#' only at the "
				    "start of a line)"));
	kv.n = 0;
	assert_int_equal(config_load_string("k.ini", "[x]\ngpus = 4 ; four\n", on_kv, &kv, err,
					    sizeof(err)), 0);
	assert_int_equal(kv.n, 1);
	kv.n = 0;
	assert_int_equal(config_load_string("t.ini", "[x]\ngpus = 4\n[y]\ngpus = 8\n", on_kv, &kv, err,
					    sizeof(err)), 0);
	assert_int_equal(kv.n, 2);
	assert_true(config_load("/nonexistent/hare.ini", on_kv, &kv, err, sizeof(err)) == -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/hare.ini"));
}

static void test_parsers(void **state)
{
	char err[128];
	double d;
	bool b;
	uint32_t u;

	(void)state;
	assert_int_equal(config_parse_double("2.5", 0, 10, &d, err, sizeof(err)), 0);
	assert_true(d == 2.5);
	assert_int_equal(config_parse_double("nan", 0, 10, &d, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_int_equal(config_parse_double("11", 0, 10, &d, err, sizeof(err)), ERR_BAD_CONFIG);
	/* decimal only; a number too small for a double is out of range */
	assert_int_equal(config_parse_double("0x10", 0, 100, &d, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "expected a number, got '0x10'");
	assert_int_equal(config_parse_double("1e-320", 1e-300, 10, &d, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "must be between 1e-300 and 10, got 1e-320");
	assert_int_equal(config_parse_double("1e-400", -1, 10, &d, err, sizeof(err)), 0);
	assert_true(d == 0);
	assert_int_equal(config_parse_double("1e400", 0, 10, &d, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "expected a number, got '1e400'");
	assert_int_equal(config_parse_double("-1e-5", -1, 10, &d, err, sizeof(err)), 0);
	assert_int_equal(config_parse_u32("-3", 0, 10, &u, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "must be between 0 and 10, got -3");
	assert_int_equal(config_parse_u32("4x", 0, 10, &u, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_int_equal(config_parse_u32("+2", 0, 10, &u, err, sizeof(err)), ERR_BAD_CONFIG);
	assert_string_equal(err, "expected a whole number, got '+2'");
	assert_int_equal(config_parse_bool("Yes", &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("maybe", &b, err, sizeof(err)), ERR_BAD_CONFIG);
}

/* One holder of a pid lock file: a second open of it (as by a second
 * process) is refused with the holder's pid; after close it is free. */
static void test_lock_pid(void **state)
{
	char dir[] = "/tmp/hare-lock-XXXXXX", path[64], holder[32], want[32];
	int fd = -1, fd2 = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.lock", dir);
	assert_int_equal(file_lock_pid(path, &fd, holder, sizeof(holder)), 0);
	assert_true(fd >= 0);
	assert_int_equal(file_lock_pid(path, &fd2, holder, sizeof(holder)), -EBUSY);
	snprintf(want, sizeof(want), "%d", (int)getpid());
	assert_string_equal(holder, want);
	assert_int_equal(fd2, -1);
	close(fd);
	assert_int_equal(file_lock_pid(path, &fd2, holder, sizeof(holder)), 0);
	close(fd2);
	snprintf(path, sizeof(path), "%s/no/such/x.lock", dir);
	assert_int_equal(file_lock_pid(path, &fd, holder, sizeof(holder)), -ENOENT);
	snprintf(path, sizeof(path), "%s/x.lock", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_names),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_config_ok),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_lock_pid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
