// SPDX-License-Identifier: MIT
/* Unit tests for content negotiation (exporter/negotiate.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "exporter/negotiate.h"

#define OM EXPO_OPENMETRICS_100
#define TEXT EXPO_TEXT_004

/* What Prometheus 2.42 sends. */
static const char prom2[] = "application/openmetrics-text;version=1.0.0,"
			    "application/openmetrics-text;version=0.0.1;q=0.75,"
			    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/* What Prometheus 3 sends. */
static const char prom3[] = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
			    "application/openmetrics-text;version=0.0.1;q=0.5,"
			    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
			    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

static void test_prometheus(void **state)
{
	assert_int_equal(negotiate_format(prom2), OM);
	assert_int_equal(negotiate_format(prom3), OM);
	/* Prometheus configured with scrape_protocols: [PrometheusText0.0.4]. */
	assert_int_equal(negotiate_format("text/plain;version=0.0.4;q=1,*/*;q=0.1"), TEXT);
}

static void test_fallbacks(void **state)
{
	assert_int_equal(negotiate_format(NULL), TEXT);
	assert_int_equal(negotiate_format(""), TEXT);
	assert_int_equal(negotiate_format("*/*"), TEXT);
	assert_int_equal(negotiate_format("text/plain"), TEXT);
	assert_int_equal(negotiate_format("text/*"), TEXT);
	assert_int_equal(negotiate_format("application/json"), TEXT);
	assert_int_equal(negotiate_format("application/*"), TEXT);
	assert_int_equal(negotiate_format("text/html,application/xhtml+xml,"
					  "application/xml;q=0.9,*/*;q=0.8"),
			 TEXT);
}

static void test_openmetrics_versions(void **state)
{
	assert_int_equal(negotiate_format("application/openmetrics-text"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;version=1.0.0"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;version=\"1.0.0\""), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;version=0.0.1"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;version=2.0.0"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;version=0.0.1,*/*"), TEXT);
	assert_int_equal(
	    negotiate_format("application/openmetrics-text;version=1.0.0;charset=utf-8"), OM);
	/* Only the version we speak counts, whatever q the other has. */
	assert_int_equal(negotiate_format("application/openmetrics-text;version=0.0.1,"
					  "application/openmetrics-text;version=1.0.0;q=0.2,"
					  "text/plain;q=0.3"),
			 TEXT);
}

static void test_q_ordering(void **state)
{
	assert_int_equal(negotiate_format("text/plain;q=0.9,application/openmetrics-text;q=0.8"),
			 TEXT);
	assert_int_equal(negotiate_format("text/plain;q=0.8,application/openmetrics-text;q=0.9"),
			 OM);
	/* Ties go to OpenMetrics. */
	assert_int_equal(negotiate_format("text/plain,application/openmetrics-text"), OM);
	assert_int_equal(negotiate_format("text/plain;q=0.5,application/openmetrics-text;q=0.500"),
			 OM);
	/* Thousandths count. */
	assert_int_equal(negotiate_format("text/plain;q=0.501,application/openmetrics-text;q=0.5"),
			 TEXT);
	/* text/plain is more specific than star/star and decides text's q. */
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,text/plain;q=0.1,"
					  "*/*;q=1"),
			 OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,*/*;q=0.9"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,text/*;q=0.9"), TEXT);
	/* The highest q among equally specific ranges. */
	assert_int_equal(negotiate_format("text/plain;q=0.1,application/openmetrics-text;q=0.5,"
					  "text/plain;version=0.0.4;q=0.7"),
			 TEXT);
}

static void test_q_zero(void **state)
{
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.000,*/*"), TEXT);
	/* Version 1.0.0 refused explicitly: the unversioned range does not bring it back. */
	assert_int_equal(negotiate_format("application/openmetrics-text;version=1.0.0;q=0,"
					  "application/openmetrics-text"),
			 TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.1,text/plain;q=0"), OM);
}

static void test_mixed_case_and_whitespace(void **state)
{
	assert_int_equal(negotiate_format("Application/OpenMetrics-Text; Version=1.0.0"), OM);
	assert_int_equal(negotiate_format("APPLICATION/OPENMETRICS-TEXT;VERSION=1.0.0;Q=0.9,"
					  "TEXT/PLAIN;Q=0.5"),
			 OM);
	assert_int_equal(negotiate_format("  application/openmetrics-text ; version = 1.0.0 ; "
					  "q = 0.7 ,\ttext/plain ;q=0.6  "),
			 OM);
	assert_int_equal(negotiate_format("Text/Plain;q=0.9, application/openmetrics-text;q=0.8"),
			 TEXT);
}

static void test_malformed(void **state)
{
	/* A malformed element is skipped; the rest of the header still counts. */
	assert_int_equal(negotiate_format("application/openmetrics-text;q=2"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=-1"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5x"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.1234"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=1.001"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;q="), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;version"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text;version=\"1.0.0"), TEXT);
	assert_int_equal(negotiate_format("application /openmetrics-text"), TEXT);
	assert_int_equal(negotiate_format("application/openmetrics-text junk"), TEXT);
	assert_int_equal(negotiate_format("*/openmetrics-text"), TEXT);
	assert_int_equal(negotiate_format("openmetrics-text"), TEXT);
	assert_int_equal(negotiate_format(",,;;,=,/,\"\",\\"), TEXT);
	assert_int_equal(negotiate_format("garbage;q=1,application/openmetrics-text;q=0.2,"
					  "text/plain;q=oops"),
			 OM);
	assert_int_equal(negotiate_format(",application/openmetrics-text,"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;"), OM);
	/* A comma inside a quoted parameter value does not split the element. */
	assert_int_equal(negotiate_format("application/openmetrics-text;x=\"a,b\";q=0.9,"
					  "text/plain;q=0.5"),
			 OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;x=\"a,text/plain\""), OM);
}

static void test_gzip(void **state)
{
	assert_true(negotiate_gzip("gzip"));
	assert_true(negotiate_gzip("gzip, deflate, br"));
	assert_true(negotiate_gzip("deflate, gzip;q=1.0, *;q=0.5"));
	assert_true(negotiate_gzip("x-gzip"));
	assert_true(negotiate_gzip("*"));
	assert_true(negotiate_gzip("identity;q=1, *;q=0.1"));
	assert_true(negotiate_gzip("GZip"));
	assert_true(negotiate_gzip(" gzip ; q = 0.5 "));
	assert_true(negotiate_gzip("gzip;level=5"));

	assert_false(negotiate_gzip(NULL));
	assert_false(negotiate_gzip(""));
	assert_false(negotiate_gzip("identity"));
	assert_false(negotiate_gzip("deflate, br"));
	assert_false(negotiate_gzip("gzip;q=0"));
	assert_false(negotiate_gzip("gzip;q=0.000"));
	assert_false(negotiate_gzip("*;q=0"));
	/* An explicit refusal beats "*", in either order. */
	assert_false(negotiate_gzip("gzip;q=0, *"));
	assert_false(negotiate_gzip("*, gzip;q=0"));
	assert_true(negotiate_gzip("gzip;q=0.001, *;q=0"));
	/* x-gzip is gzip. */
	assert_true(negotiate_gzip("gzip;q=0, x-gzip"));
}

static void test_gzip_malformed(void **state)
{
	assert_false(negotiate_gzip("gzip;q=2"));
	assert_false(negotiate_gzip("gzip;q=abc"));
	assert_false(negotiate_gzip("gzip;q"));
	assert_false(negotiate_gzip("gzip junk"));
	assert_false(negotiate_gzip("gzipx"));
	assert_false(negotiate_gzip("g zip"));
	assert_false(negotiate_gzip(",;,=,"));
	assert_true(negotiate_gzip("gzip;q=oops, deflate, *"));
	assert_true(negotiate_gzip(",,gzip,,"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prometheus),
	    cmocka_unit_test(test_fallbacks),
	    cmocka_unit_test(test_openmetrics_versions),
	    cmocka_unit_test(test_q_ordering),
	    cmocka_unit_test(test_q_zero),
	    cmocka_unit_test(test_mixed_case_and_whitespace),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_gzip),
	    cmocka_unit_test(test_gzip_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
