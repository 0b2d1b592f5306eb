/* SPDX-License-Identifier: MIT */
/* Unit tests for hared's job-spec validation: defaults, every rejected
 * field with its error code and message, and the types a job may use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "driver.h"
#include "err.h"
#include "profile.h"

static struct profile *prof;

static int setup(void **state)
{
	char err[256];

	(void)state;
	return profile_load(HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR, &prof, err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	profile_free(prof);
	return 0;
}

static void spec_default(Hare__JobSpec *s, char **types)
{
	hare__job_spec__init(s);
	s->model = "resnet50";
	s->tasks = 4;
	s->rounds = 1000;
	s->gpu_types = types;
}

static void test_good(void **state)
{
	Hare__JobSpec s;
	struct store_job j;
	char err[256] = "", *types[] = { "v100", "T4" };

	(void)state;
	spec_default(&s, types);
	assert_int_equal(clients_spec_check(prof, &s, "alice", &j, err, sizeof(err)), 0);
	assert_string_equal(j.user, "alice");
	assert_string_equal(j.model, "resnet50");
	assert_string_equal(j.name, "resnet50");	/* defaults to the model */
	assert_int_equal(j.tasks, 4);
	assert_int_equal(j.min_gpus, 1);
	assert_int_equal(j.max_gpus, 4);
	assert_true(j.weight == 1.0);
	assert_int_equal(j.state, STORE_QUEUED);
	assert_true(j.submit_time > 1e9);
	assert_true(isnan(j.loss));
	assert_int_equal(j.ntypes, 0);
	s.n_gpu_types = 2;
	s.name = "sweep-1";
	s.has_weight = s.has_min_gpus = s.has_max_gpus = true;
	s.weight = 2.5;
	s.min_gpus = 2;
	s.max_gpus = 3;
	assert_int_equal(clients_spec_check(prof, &s, "bob", &j, err, sizeof(err)), 0);
	assert_string_equal(j.name, "sweep-1");
	assert_int_equal(j.ntypes, 2);
	assert_string_equal(j.types[0], "V100");	/* as the profile spells it */
	assert_string_equal(j.types[1], "T4");
	/* a model by its alias: stored by its name, the job named after it */
	s.model = "ResNet-50";
	s.name = NULL;
	assert_int_equal(clients_spec_check(prof, &s, "bob", &j, err, sizeof(err)), 0);
	assert_string_equal(j.model, "resnet50");
	assert_string_equal(j.name, "resnet50");
	s.model = "resnet50";
	assert_int_equal(j.min_gpus, 2);
	assert_int_equal(j.max_gpus, 3);
	assert_true(j.weight == 2.5);
}

/* Expect code with `want` in the message for a spec changed by `tweak`. */
static void expect_bad(const Hare__JobSpec *s, int code, const char *want)
{
	struct store_job j;
	char err[256] = "";
	int rc = clients_spec_check(prof, s, "alice", &j, err, sizeof(err));

	if (rc != code || !strstr(err, want))
		fail_msg("rc=%d (%s) err='%s', want %s with '%s'", rc, err_name(rc), err,
			 err_name(code), want);
}

static void test_bad(void **state)
{
	Hare__JobSpec s;
	char *types[] = { "V100", "Z9000" }, name[100];

	(void)state;
	spec_default(&s, types);
	s.tasks = 0;
	expect_bad(&s, ERR_BAD_SPEC, "gpus must be between 1 and 64, got 0");
	s.tasks = 65;
	expect_bad(&s, ERR_BAD_SPEC, "gpus must be between 1 and 64, got 65");
	s.tasks = 4;
	s.has_min_gpus = true;
	s.min_gpus = 5;
	expect_bad(&s, ERR_BAD_SPEC, "min_gpus must be between 1 and max_gpus (4), got 5");
	s.min_gpus = 0;
	expect_bad(&s, ERR_BAD_SPEC, "min_gpus must be between 1");
	s.has_min_gpus = false;
	s.has_max_gpus = true;
	s.max_gpus = 8;
	expect_bad(&s, ERR_BAD_SPEC, "max_gpus must be between min_gpus (1) and gpus (4), got 8");
	s.has_max_gpus = false;
	s.rounds = 0;
	expect_bad(&s, ERR_BAD_SPEC, "rounds must be between 1 and");
	s.rounds = 10;
	s.has_weight = true;
	s.weight = 0;
	expect_bad(&s, ERR_BAD_SPEC, "weight must be a number above 0");
	s.weight = -1;
	expect_bad(&s, ERR_BAD_SPEC, "got -1");
	s.weight = NAN;
	expect_bad(&s, ERR_BAD_SPEC, "weight must be");
	s.weight = INFINITY;
	expect_bad(&s, ERR_BAD_SPEC, "weight must be");
	s.has_weight = false;
	s.model = "nosuch";
	expect_bad(&s, ERR_UNKNOWN_MODEL, "unknown model 'nosuch' (known: resnet18");
	s.model = "resnt50";	/* a typo: the model it is closest to */
	expect_bad(&s, ERR_UNKNOWN_MODEL, "unknown model 'resnt50' (did you mean resnet50? known: "
		   "resnet18");
	s.model = "";
	expect_bad(&s, ERR_BAD_SPEC, "model is missing");
	s.model = "resnet50";
	s.n_gpu_types = 2;
	expect_bad(&s, ERR_UNKNOWN_GPU, "unknown GPU type 'Z9000' (known: K80, P100, T4, V100)");
	s.n_gpu_types = 0;
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	s.name = name;
	expect_bad(&s, ERR_BAD_SPEC, "name is longer than 63 bytes");
	s.name = "tab\there";
	expect_bad(&s, ERR_BAD_SPEC, "name contains control characters");
	s.name = "\xff\xfe";
	expect_bad(&s, ERR_BAD_SPEC, "name is not valid UTF-8");
	s.name = "csi\xc2\x9b" "2J";	/* U+009B, a terminal's CSI */
	expect_bad(&s, ERR_BAD_SPEC, "name contains control characters");
	s.name = "train\xe2\x80\xaetxt.exe";	/* U+202E: shown as "trainexe.txt" */
	expect_bad(&s, ERR_BAD_SPEC, "name contains bidirectional control characters (U+202A..U+202E, "
		   "U+2066..U+2069: it would display as another text)");
}

/* Proxy sizes are checked as hare-worker will check them, for the job's
 * model, and only for the built-in worker. */
static void test_proxy(void **state)
{
	Hare__JobSpec s;
	struct store_job j;
	char err[256] = "", *types[] = { "V100" }, big[300];

	(void)state;
	spec_default(&s, types);
	s.model = "lm";
	s.proxy = "batch=4,hidden=32,layers=1";
	assert_int_equal(clients_spec_check(prof, &s, "alice", &j, err, sizeof(err)), 0);
	assert_string_equal(j.proxy, "batch=4,hidden=32,layers=1");
	s.proxy = NULL;
	assert_int_equal(clients_spec_check(prof, &s, "alice", &j, err, sizeof(err)), 0);
	assert_string_equal(j.proxy, "");
	s.proxy = "width=8";		/* a resnet knob */
	expect_bad(&s, ERR_BAD_SPEC, "proxy: ");
	expect_bad(&s, ERR_BAD_SPEC, "width");
	s.proxy = "batch=0";
	expect_bad(&s, ERR_BAD_SPEC, "proxy: ");
	s.proxy = "bogus=1";
	expect_bad(&s, ERR_BAD_SPEC, "bogus");
	s.proxy = "batch=4";
	s.command = "./train.sh";
	expect_bad(&s, ERR_BAD_SPEC, "a job with its own command cannot set them");
	s.command = NULL;
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s.proxy = big;
	expect_bad(&s, ERR_BAD_SPEC, "proxy is longer than 255 bytes");
	s.proxy = "batch=4\n";
	expect_bad(&s, ERR_BAD_SPEC, "proxy contains control characters");
	s.model = "nosuch";
	s.proxy = "batch=4";
	expect_bad(&s, ERR_UNKNOWN_MODEL, "unknown model 'nosuch'");
}

static void test_perf_types(void **state)
{
	struct store_job j = { .ntypes = 1 };
	struct sched_perf perf;
	uint32_t model, t4, v100;
	char err[256];

	(void)state;
	snprintf(j.model, sizeof(j.model), "resnet50");
	snprintf(j.types[0], sizeof(j.types[0]), "T4");
	assert_int_equal(driver_perf_fill(prof, &j, &model, &perf, err, sizeof(err)), 0);
	t4 = (uint32_t)profile_gpu_type_find(prof, "T4");
	v100 = (uint32_t)profile_gpu_type_find(prof, "V100");
	assert_true(perf.compute_s[t4] > 0);
	assert_true(perf.compute_s[v100] == 0);	/* excluded by the user */
	j.ntypes = 0;
	assert_int_equal(driver_perf_fill(prof, &j, &model, &perf, err, sizeof(err)), 0);
	assert_true(perf.compute_s[v100] > 0 && perf.compute_s[v100] < perf.compute_s[t4]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_proxy),
		cmocka_unit_test(test_perf_types),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
