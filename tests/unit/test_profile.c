/* SPDX-License-Identifier: MIT */
/* Tests of the throughput profile loader: the shipped table against its
 * sources, its shape, perf filling, and rejection of malformed tables. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "profile.h"

#define SHIPPED HARE_SOURCE_DIR "/workloads/profiles"
#define BAD HARE_SOURCE_DIR "/tests/fixtures/profiles_bad/"

static int shipped_setup(void **state)
{
	struct profile *p = NULL;
	char err[256];
	int rc = profile_load(SHIPPED, &p, err, sizeof(err));

	if (rc != 0) {
		fprintf(stderr, "profile_load(%s): %d %s\n", SHIPPED, rc, err);
		return -1;
	}
	*state = p;
	return 0;
}

static int shipped_teardown(void **state)
{
	profile_free(*state);
	return 0;
}

/* Fill perf for `model` on a one-type cluster. */
static void perf_one(const struct profile *p, const char *model, const char *type,
		     struct sched_perf *perf)
{
	const char *names[1] = { type };
	int m = profile_model_find(p, model);
	char err[128];

	assert_true(m >= 0);
	assert_int_equal(profile_perf_fill(p, (uint32_t)m, names, 1, perf, err, sizeof(err)), 0);
}

static double compute_of(const struct profile *p, const char *model, const char *type)
{
	struct sched_perf perf;

	perf_one(p, model, type, &perf);
	return perf.compute_s[0];
}

/* The CSV keeps 6 significant digits. */
static void assert_close(double got, double want)
{
	if (fabs(got - want) > 1e-5 * fabs(want)) {
		fprintf(stderr, "got %.9g, want %.9g\n", got, want);
		fail();
	}
}

static void test_shipped_names(void **state)
{
	const struct profile *p = *state;
	const char *types[] = { "K80", "P100", "T4", "V100" };
	const char *models[] = { "resnet18", "resnet50", "transformer", "lm", "recommendation" };

	assert_true(profile_model_count(p) >= 5);
	assert_int_equal(profile_gpu_type_count(p), 4);
	for (size_t i = 0; i < 4; i++)
		assert_true(profile_gpu_type_find(p, types[i]) >= 0);
	for (size_t i = 0; i < 5; i++)
		assert_true(profile_model_find(p, models[i]) >= 0);
	assert_int_equal(profile_gpu_type_find(p, "v100"), profile_gpu_type_find(p, "V100"));
	assert_int_equal(profile_gpu_type_find(p, "M60"), ERR_UNKNOWN_GPU);
	assert_int_equal(profile_model_find(p, "RESNET50"), profile_model_find(p, "resnet50"));
	assert_int_equal(profile_model_find(p, "ResNet-50"), profile_model_find(p, "resnet50"));
	assert_int_equal(profile_model_find(p, "imagenet"), profile_model_find(p, "resnet50"));
	assert_int_equal(profile_model_find(p, "cifar10"), profile_model_find(p, "resnet18"));
	assert_int_equal(profile_model_find(p, "alexnet"), ERR_UNKNOWN_MODEL);
	assert_string_equal(profile_reference_type(p), "V100");
	assert_string_equal(profile_model_name(p, (uint32_t)profile_model_find(p, "lm")), "lm");
	assert_null(profile_model_name(p, profile_model_count(p)));
	assert_null(profile_gpu_type_name(p, profile_gpu_type_count(p)));
}

/* Values traced back to single rows of the sources (see PROVENANCE.md). */
static void test_shipped_known_values(void **state)
{
	const struct profile *p = *state;
	struct sched_perf perf;

	/* Gavel physical_cluster, ResNet-50 batch 64, 1 GPU: steps/s. */
	assert_close(compute_of(p, "resnet50", "V100"), 1.0 / 4.525762041224065);
	assert_close(compute_of(p, "resnet50", "K80"), 1.0 / 0.7458616001066279);
	/* Gavel physical_cluster, ResNet-18 batch 128 on V100. */
	assert_close(compute_of(p, "resnet18", "V100"), 1.0 / 22.37157036353171);
	/* Pollux T4 placement "1": cifar10 between batch 91 and 129, at 128. */
	assert_close(compute_of(p, "resnet18", "T4"),
		     0.07591350078582763 + (0.10385050773620605 - 0.07591350078582763) * 37.0 / 38.0);
	/* Pollux T4 placement "1": imagenet between batch 57 and 81, at 64. */
	assert_close(compute_of(p, "resnet50", "T4"),
		     0.32392780780792235 + (0.42071189880371096 - 0.32392780780792235) * 7.0 / 24.0);
	/* Pollux T4 bert batch 12: sync_time of placements "2" and "11". */
	perf_one(p, "bert", "T4", &perf);
	assert_close(perf.sync_s[1][SCHED_CONSOLIDATED], 0.05467441153526306);
	assert_close(perf.sync_s[1][SCHED_SPREAD], 0.6196762866973876);
	/* Gavel V100 ResNet-50: 2-GPU step minus 1-GPU step, median over batches. */
	perf_one(p, "resnet50", "V100", &perf);
	assert_true(perf.sync_s[1][SCHED_CONSOLIDATED] > 0.03 && perf.sync_s[1][SCHED_CONSOLIDATED] < 0.1);
	assert_close(profile_reference_compute_s(p, (uint32_t)profile_model_find(p, "resnet50")),
		     1.0 / 4.525762041224065);
}

/* Models Pollux did not measure get T4 = V100 x the geometric mean of the
 * T4/V100 ratios of ResNet-18 and ResNet-50. */
static void test_shipped_t4_bridge(void **state)
{
	const struct profile *p = *state;
	double r18 = compute_of(p, "resnet18", "T4") / compute_of(p, "resnet18", "V100");
	double r50 = compute_of(p, "resnet50", "T4") / compute_of(p, "resnet50", "V100");
	double bridge = sqrt(r18 * r50);
	const char *bridged[] = { "transformer", "lm", "recommendation" };

	assert_true(bridge > 1.5 && bridge < 2.5);
	for (size_t i = 0; i < 3; i++)
		assert_close(compute_of(p, bridged[i], "T4") / compute_of(p, bridged[i], "V100"),
			     bridge);
}

static void check_perf_shape(const struct sched_perf *perf)
{
	assert_true(perf->compute_s[0] > 0);
	assert_true(perf->restart_s > 0);
	for (int pl = 0; pl < 2; pl++) {
		assert_true(perf->sync_s[0][pl] == 0);
		assert_true(perf->sync_s[1][pl] > 0);
		for (int i = 1; i < SCHED_SYNC_POINTS; i++)
			assert_true(perf->sync_s[i][pl] >= perf->sync_s[i - 1][pl]);
	}
	for (int i = 0; i < SCHED_SYNC_POINTS; i++)
		assert_true(perf->sync_s[i][SCHED_SPREAD] >= perf->sync_s[i][SCHED_CONSOLIDATED]);
	assert_true(perf->sync_s[SCHED_SYNC_POINTS - 1][SCHED_SPREAD] > perf->sync_s[1][SCHED_SPREAD]);
}

/* Every (model, type): positive compute, sync growing with workers,
 * spread never cheaper than consolidated. */
static void test_shipped_shape(void **state)
{
	const struct profile *p = *state;

	for (uint32_t m = 0; m < profile_model_count(p); m++) {
		for (uint32_t t = 0; t < profile_gpu_type_count(p); t++) {
			const char *names[1] = { profile_gpu_type_name(p, t) };
			struct sched_perf perf;

			assert_int_equal(profile_perf_fill(p, m, names, 1, &perf, NULL, 0), 0);
			check_perf_shape(&perf);
		}
		assert_true(profile_reference_compute_s(p, m) > 0);
	}
}

/* A mixed cluster: compute per cluster type in its order, sync the largest. */
static void test_perf_fill_mixed(void **state)
{
	const struct profile *p = *state;
	const char *names[3] = { "t4", "V100", "K80" };
	struct sched_perf mix, one[3];
	uint32_t m = (uint32_t)profile_model_find(p, "transformer");
	char err[128];

	assert_int_equal(profile_perf_fill(p, m, names, 3, &mix, err, sizeof(err)), 0);
	for (int t = 0; t < 3; t++) {
		perf_one(p, "transformer", names[t], &one[t]);
		assert_true(mix.compute_s[t] == one[t].compute_s[0]);
	}
	assert_true(mix.compute_s[3] == 0);
	for (int i = 0; i < SCHED_SYNC_POINTS; i++)
		for (int pl = 0; pl < 2; pl++)
			assert_true(mix.sync_s[i][pl] ==
				    fmax(one[0].sync_s[i][pl], fmax(one[1].sync_s[i][pl], one[2].sync_s[i][pl])));
	assert_true(mix.restart_s == one[0].restart_s);
	assert_true(mix.compute_s[2] > mix.compute_s[1]);	/* K80 slower than V100 */
}

static void test_perf_fill_errors(void **state)
{
	const struct profile *p = *state;
	const char *names[2] = { "V100", "M60" };
	const char *many[SCHED_MAX_TYPES + 1];
	struct sched_perf perf;
	char err[128];

	assert_int_equal(profile_perf_fill(p, 0, names, 2, &perf, err, sizeof(err)), ERR_UNKNOWN_GPU);
	assert_non_null(strstr(err, "M60"));
	assert_int_equal(profile_perf_fill(p, profile_model_count(p), names, 1, &perf, err,
					   sizeof(err)), ERR_UNKNOWN_MODEL);
	for (int i = 0; i <= SCHED_MAX_TYPES; i++)
		many[i] = "V100";
	assert_int_equal(profile_perf_fill(p, 0, many, SCHED_MAX_TYPES + 1, &perf, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(profile_perf_fill(p, 0, names, 0, &perf, err, sizeof(err)), 0);
	assert_true(perf.compute_s[0] == 0 && perf.sync_s[3][SCHED_SPREAD] == 0);
}

struct bad_case {
	const char *dir;
	int rc;
	const char *where;	/* "file:line:" expected in the message */
	const char *what;	/* and this reason */
};

static const struct bad_case bad_cases[] = {
	{ "negative_time", ERR_BAD_PROFILE, "throughput.csv:23: ", "compute_s must be a positive" },
	{ "hole", ERR_BAD_PROFILE, "throughput.csv:18: ",
	  "hole: model resnet50 on T4 has no row for 8 workers spread" },
	{ "malformed_row", ERR_BAD_PROFILE, "throughput.csv:10: ", "malformed row" },
	{ "duplicate_row", ERR_BAD_PROFILE, "throughput.csv:34: ", "(first at line 5)" },
	{ "unknown_column", ERR_BAD_PROFILE, "throughput.csv:1: ", "unknown column 'speed'" },
	{ "quoted", ERR_BAD_PROFILE, "throughput.csv:7: ", "quotes" },
	{ "zero_sync", ERR_BAD_PROFILE, "throughput.csv:6: ", "sync_s must be a positive" },
	{ "unknown_model", ERR_BAD_PROFILE, "throughput.csv:20: ", "unknown model 'resnet51'" },
	{ "no_reference", ERR_BAD_PROFILE, "models.csv:2: ", "reference type V100" },
	{ "missing_column", ERR_BAD_PROFILE, "models.csv:1: ", "missing column 'restart_s'" },
	{ "compute_mismatch", ERR_BAD_PROFILE, "throughput.csv:12: ", "differs from 0.221 at line 2" },
	{ "bad_workers", ERR_BAD_PROFILE, "throughput.csv:14: ", "power of two" },
	{ "non_numeric", ERR_BAD_PROFILE, "throughput.csv:8: ", "got 'fast'" },
	{ "missing_file", -ENOENT, "throughput.csv: ", "No such file" },
	{ "no_such_dir", -ENOENT, "models.csv: ", "No such file" },
};

static void test_bad_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct profile *p = (struct profile *)&p;	/* must be reset to NULL */
		char dir[512], err[512];
		int rc;

		snprintf(dir, sizeof(dir), BAD "%s", c->dir);
		rc = profile_load(dir, &p, err, sizeof(err));
		if (rc != c->rc || !strstr(err, c->where) || !strstr(err, c->what)) {
			fprintf(stderr, "case %s: rc %d (want %d), message '%s'\n", c->dir, rc, c->rc, err);
			fail();
		}
		assert_null(p);
		assert_non_null(strstr(err, c->dir));	/* the message names the file */
	}
}

/* Write a file of the given text under dir. */
static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/* Columns in any order and any case, CRLF, blanks, comments; one type only. */
static void test_format_tolerance(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : P_tmpdir;
	char dir[256];
	char rows[4096] = "# a comment\r\nSYNC_S, Workers ,placement,model,gpu_type,compute_s\r\n\r\n";
	struct profile *p = NULL;
	struct sched_perf perf;
	const char *names[1] = { "v100" };
	char err[256];
	int rc;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/hare-profile-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	write_file(dir, "models.csv", "restart_s,model,family,per_task_batch,params_millions\n12,m1,cnn,32,1.5\n");
	for (int i = 0; i < SCHED_SYNC_POINTS; i++) {
		char line[128];

		snprintf(line, sizeof(line), "%g,%d,consolidated,M1,V100,0.5\r\n%g,%d,Spread,m1,V100,0.5\r\n",
			 i ? 0.01 * i : 0.0, 1 << i, i ? 0.02 * i : 0.0, 1 << i);
		strcat(rows, line);
	}
	write_file(dir, "throughput.csv", rows);
	rc = profile_load(dir, &p, err, sizeof(err));
	remove_file(dir, "models.csv");
	remove_file(dir, "throughput.csv");
	rmdir(dir);
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(profile_perf_fill(p, 0, names, 1, &perf, err, sizeof(err)), 0);
	assert_true(perf.compute_s[0] == 0.5 && perf.restart_s == 12);
	assert_true(fabs(perf.sync_s[3][SCHED_SPREAD] - 0.06) < 1e-12);
	profile_free(p);
}

/* The 16 rows of model on type in throughput.csv format, compute c. */
static void measured_rows(char *buf, size_t len, const char *model, const char *type, double c)
{
	size_t off = strlen(buf);

	for (int i = 0; i < SCHED_SYNC_POINTS; i++)
		off += (size_t)snprintf(buf + off, len - off,
					"%s,%s,%d,consolidated,%g,%g,measured/nccl\n%s,%s,%d,spread,%g,%g,measured/nccl\n",
					model, type, 1 << i, c, i ? 0.5 * i : 0.0, model, type, 1 << i, c,
					i ? 0.6 * i : 0.0);
}

/* A measured file adds its GPU types after the shipped ones; its rows for a
 * shipped type are skipped; no file is no change; a hole names the file. */
static void test_measured_types(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : P_tmpdir;
	char dir[256], path[320], err[512];
	static char rows[16384];
	struct profile *p = NULL;
	uint32_t shipped;
	int h;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/hare-measured-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/measured.csv", dir);

	/* missing: the shipped table alone */
	assert_int_equal(profile_load_measured(SHIPPED, path, &p, err, sizeof(err)), 0);
	shipped = profile_gpu_type_count(p);
	assert_false(profile_gpu_type_measured(p, shipped - 1));
	profile_free(p);

	snprintf(rows, sizeof(rows), "# H100 measured on node n1\nmodel,gpu_type,workers,placement,compute_s,sync_s,source\n");
	measured_rows(rows, sizeof(rows), "resnet18", "H100", 0.02);
	measured_rows(rows, sizeof(rows), "lm", "H100", 0.01);
	measured_rows(rows, sizeof(rows), "resnet18", "V100", 7);	/* shipped type: skipped */
	write_file(dir, "measured.csv", rows);
	assert_int_equal(profile_load_measured(SHIPPED, path, &p, err, sizeof(err)), 0);
	assert_int_equal(profile_gpu_type_count(p), shipped + 1);
	h = profile_gpu_type_find(p, "h100");
	assert_int_equal(h, (int)shipped);
	assert_true(profile_gpu_type_measured(p, (uint32_t)h));
	assert_int_equal(profile_measured_skipped(p), 2 * SCHED_SYNC_POINTS);
	assert_true(compute_of(p, "resnet18", "H100") == 0.02);
	assert_true(compute_of(p, "lm", "H100") == 0.01);
	assert_true(compute_of(p, "resnet18", "V100") != 7);
	assert_true(compute_of(p, "transformer", "H100") == 0);	/* not measured: not run there */
	{
		/* a measured type's (larger) sync does not raise the shipped types' */
		const char *both[2] = { "V100", "H100" };
		struct sched_perf v100, mixed, h100;
		int m = profile_model_find(p, "resnet18");

		perf_one(p, "resnet18", "V100", &v100);
		perf_one(p, "resnet18", "H100", &h100);
		assert_int_equal(profile_perf_fill(p, (uint32_t)m, both, 2, &mixed, err, sizeof(err)), 0);
		assert_true(mixed.sync_s[3][SCHED_SPREAD] == v100.sync_s[3][SCHED_SPREAD]);
		assert_true(v100.sync_s[3][SCHED_SPREAD] < 1.8);
		assert_true(h100.sync_s[3][SCHED_SPREAD] == 1.8);	/* its own, alone */
		assert_true(mixed.compute_s[1] == 0.02);
	}
	profile_free(p);

	/* a UTF-8 byte order mark before the header (a spreadsheet's export) */
	snprintf(rows, sizeof(rows), "\xef\xbb\xbfmodel,gpu_type,workers,placement,compute_s,sync_s,source\n");
	measured_rows(rows, sizeof(rows), "resnet18", "H100", 0.02);
	write_file(dir, "measured.csv", rows);
	assert_int_equal(profile_load_measured(SHIPPED, path, &p, err, sizeof(err)), 0);
	assert_true(compute_of(p, "resnet18", "H100") == 0.02);
	profile_free(p);

	/* a hole in the measured rows names the measured file */
	snprintf(rows, sizeof(rows), "model,gpu_type,workers,placement,compute_s,sync_s,source\n");
	measured_rows(rows, sizeof(rows), "lm", "A100", 0.01);
	*strstr(rows, "lm,A100,128,spread") = '\0';
	write_file(dir, "measured.csv", rows);
	p = (struct profile *)&p;
	assert_int_equal(profile_load_measured(SHIPPED, path, &p, err, sizeof(err)), ERR_BAD_PROFILE);
	assert_null(p);
	assert_non_null(strstr(err, "measured.csv:2: "));
	assert_non_null(strstr(err, "128 workers spread"));

	/* a directory in its place is an error, not "nothing measured" */
	remove_file(dir, "measured.csv");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(profile_load_measured(SHIPPED, path, &p, err, sizeof(err)) != 0);
	assert_null(p);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_names),
		cmocka_unit_test(test_shipped_known_values),
		cmocka_unit_test(test_shipped_t4_bridge),
		cmocka_unit_test(test_shipped_shape),
		cmocka_unit_test(test_perf_fill_mixed),
		cmocka_unit_test(test_perf_fill_errors),
	};
	const struct CMUnitTest standalone[] = {
		cmocka_unit_test(test_bad_tables),
		cmocka_unit_test(test_format_tolerance),
		cmocka_unit_test(test_measured_types),
	};
	int failed = cmocka_run_group_tests_name("shipped", tests, shipped_setup, shipped_teardown);

	return failed + cmocka_run_group_tests_name("tables", standalone, NULL, NULL);
}
