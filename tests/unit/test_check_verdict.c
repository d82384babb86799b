/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for memtide-check's verdict (check/verdict.c): the Theil–Sen
 * slope shrugs off wild points, a one-time step is not a leak, steady
 * growth is, sessions that come back are not, sessions that stay are, and
 * the growing sites are ranked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check/check.h"

#define KIB 1024.0

static struct check_options opts = {.cycles = 6, .warmup = 1, .max_growth = 64 * KIB};
static struct check_point points[7];
static struct check_reading baseline;
static struct check_verdict v;

static void heap(const double *kib, size_t n)
{
	memset(points, 0, sizeof(points));
	for (size_t i = 0; i < n; i++)
		points[i].r.live_bytes = (uint64_t)(kib[i] * KIB);
}

static void test_theil_sen_ignores_outliers(void **unused)
{
	double y[] = {0, 10, 20, 1000, 40, 50, 60};

	assert_true(check_theil_sen(y, 7) == 10);
	assert_true(check_theil_sen(y, 1) == 0);
}

static void test_grown_share(void **unused)
{
	double y[] = {1, 2, 2, 3, 1};

	assert_true(check_grown_share(y, 5) == 0.5);
}

static void test_steady_growth_is_a_leak(void **unused)
{
	double kib[] = {100, 200, 300, 400, 500, 600, 700};

	heap(kib, 7);
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_LEAK);
	assert_true(v.heap_leak);
	assert_true(v.heap_slope == 100 * KIB);
}

static void test_one_step_is_not_a_leak(void **unused)
{
	/* A cache that fills once, late: a large step, then flat. */
	double kib[] = {100, 100, 100, 900, 900, 900, 900};

	heap(kib, 7);
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_PASS);
}

static void test_growth_within_budget_passes(void **unused)
{
	double kib[] = {100, 110, 120, 130, 140, 150, 160};

	heap(kib, 7);
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_PASS);
	assert_true(v.grown_share == 1.0);
}

static void test_noise_is_not_a_leak(void **unused)
{
	/* Up and down by more than the budget, no trend. */
	double kib[] = {500, 700, 450, 720, 480, 690, 470};

	heap(kib, 7);
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_PASS);
}

static void sessions(const uint64_t *live, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		points[i].r.pool_count = 1;
		strcpy(points[i].r.pools[0].name, "web");
		points[i].r.pools[0].live = live[i];
		points[i].r.sessions = live[i];
	}
}

static void test_sessions_that_stay_are_a_leak(void **unused)
{
	double kib[7] = {0};
	uint64_t live[] = {0, 1, 1, 2, 3, 3, 4};

	heap(kib, 7);
	sessions(live, 7);
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_LEAK);
	assert_true(v.session_leak);
	assert_string_equal(v.pools[0].name, "web");
	assert_int_equal(v.pools[0].last, 4);
}

static void test_sessions_that_come_back_pass(void **unused)
{
	double kib[7] = {0};
	uint64_t live[] = {0, 0, 1, 0, 0, 2, 0};

	heap(kib, 7);
	sessions(live, 7);
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_PASS);
}

static void test_sites_ranked_by_growth(void **unused)
{
	static struct check_site first[2], last[3];
	double kib[7] = {0};

	heap(kib, 7);
	strcpy(first[0].label, "a");
	first[0].live_bytes = 1000;
	strcpy(first[1].label, "b");
	first[1].live_bytes = 50;
	strcpy(last[0].label, "a");
	last[0].live_bytes = 1600; /* +100 per cycle */
	strcpy(last[1].label, "b");
	last[1].live_bytes = 50; /* flat */
	strcpy(last[2].label, "c");
	last[2].live_bytes = 6000; /* new: +1000 per cycle */
	points[0].r.sites = first;
	points[0].r.site_count = 2;
	points[6].r.sites = last;
	points[6].r.site_count = 3;
	check_judge(points, 7, &baseline, &opts, &v);
	assert_int_equal(v.site_count, 2);
	assert_string_equal(v.sites[0].label, "c");
	assert_true(v.sites[0].per_cycle == 1000);
	assert_string_equal(v.sites[1].label, "a");
}

static void test_too_few_points(void **unused)
{
	check_judge(points, 5, &baseline, &opts, &v);
	assert_int_equal(v.exit, CHECK_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_theil_sen_ignores_outliers),
	    cmocka_unit_test(test_grown_share),
	    cmocka_unit_test(test_steady_growth_is_a_leak),
	    cmocka_unit_test(test_one_step_is_not_a_leak),
	    cmocka_unit_test(test_growth_within_budget_passes),
	    cmocka_unit_test(test_noise_is_not_a_leak),
	    cmocka_unit_test(test_sessions_that_stay_are_a_leak),
	    cmocka_unit_test(test_sessions_that_come_back_pass),
	    cmocka_unit_test(test_sites_ranked_by_growth),
	    cmocka_unit_test(test_too_few_points),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
