/* SPDX-License-Identifier: MIT */
/* Unit tests for solver/speed.c: exact NNLS and the online round-time fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "speed.h"

static void test_nnls_clamps(void **state)
{
	/* min (x0 - 1)^2 + (x1 + 2)^2: unconstrained x1 = -2, NNLS x1 = 0. */
	double ata[4] = { 1, 0, 0, 1 }, atb[2] = { 1, -2 }, x[2];

	(void)state;
	assert_int_equal(speed_nnls_normal(ata, atb, 2, x), 0);
	assert_true(fabs(x[0] - 1) < 1e-12);
	assert_true(x[1] == 0);
}

static void test_nnls_matches_ls_when_positive(void **state)
{
	/* Points y = 2 + 3 t for t = 0..4: columns (1, t). */
	double ata[4] = { 0 }, atb[2] = { 0 }, x[2];

	(void)state;
	for (int t = 0; t < 5; t++) {
		double a[2] = { 1, t }, y = 2 + 3 * t;

		for (int i = 0; i < 2; i++) {
			for (int k = 0; k < 2; k++)
				ata[i * 2 + k] += a[i] * a[k];
			atb[i] += a[i] * y;
		}
	}
	assert_int_equal(speed_nnls_normal(ata, atb, 2, x), 0);
	assert_true(fabs(x[0] - 2) < 1e-9 && fabs(x[1] - 3) < 1e-9);
}

static void test_model_prior_and_fit(void **state)
{
	struct speed_model m;

	(void)state;
	speed_model_init(&m, 0);
	/* Unfitted: the profile as is. */
	assert_true(fabs(speed_model_predict(&m, 2.0, 0.5, 4) - 2.5) < 1e-12);
	/* Observed rounds 30% slower in compute than profiled, at several widths. */
	for (uint32_t k = 1; k <= 8; k++) {
		double comp = 8.0 / k, sync = 0.1 * (k - 1);

		speed_model_observe(&m, comp, sync, k, 1.3 * comp + sync, 200);
	}
	speed_model_observe(&m, NAN, 1, 1, 1, 1);	/* ignored */
	assert_int_equal(speed_model_fit(&m), 0);
	assert_true(fabs(m.theta[0] - 1.3) < 0.02);
	assert_true(fabs(speed_model_predict(&m, 2.0, 0.3, 4) - (2.6 + 0.3)) < 0.05);
	for (int i = 0; i < SPEED_NPARAM; i++)
		assert_true(m.theta[i] >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nnls_clamps),
		cmocka_unit_test(test_nnls_matches_ls_when_positive),
		cmocka_unit_test(test_model_prior_and_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
