// SPDX-License-Identifier: MIT
/* Unit tests for the exposition writer (exporter/expo.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "exporter/expo.h"

/* Renders e uncompressed and checks the result is NUL-terminated at len. */
static char *render(const struct expo *e, enum expo_format fmt)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(expo_render(e, fmt, false, &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void assert_render(const struct expo *e, enum expo_format fmt, const char *want)
{
	char *got = render(e, fmt);

	assert_string_equal(got, want);
	free(got);
}

/* The rendering of one gauge sample without labels. */
static char *render_value(double v)
{
	struct expo *e = expo_new();
	char *out;

	assert_non_null(e);
	assert_int_equal(expo_family(e, "v", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(e, v, NULL), 0);
	out = render(e, EXPO_TEXT_004);
	expo_free(e);
	return out;
}

static void assert_value(double v, const char *want)
{
	char *got = render_value(v);
	char line[64];

	snprintf(line, sizeof(line), "# TYPE v gauge\nv %s\n", want);
	assert_string_equal(got, line);
	free(got);
}

static void test_empty(void **state)
{
	struct expo *e = expo_new();

	assert_non_null(e);
	assert_render(e, EXPO_TEXT_004, "");
	assert_render(e, EXPO_OPENMETRICS_100, "# EOF\n");
	assert_int_equal(expo_family_count(e), 0);
	assert_int_equal(expo_sample_count(e), 0);
	expo_free(e);
	expo_free(NULL);
}

static void test_text_basic(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "memtide_sessions_live", EXPO_GAUGE, "Live sessions."), 0);
	assert_int_equal(expo_sample(e, 3, "source", "agent", "pool", "web", NULL), 0);
	assert_int_equal(
	    expo_family(e, "memtide_malloc_allocs_total", EXPO_COUNTER, "Allocations."), 0);
	assert_int_equal(expo_sample(e, 42, "group", "app", NULL), 0);
	assert_int_equal(expo_family(e, "memtide_thing", EXPO_UNTYPED, NULL), 0);
	assert_int_equal(expo_sample(e, 1, NULL), 0);
	assert_render(e, EXPO_TEXT_004,
		      "# HELP memtide_sessions_live Live sessions.\n"
		      "# TYPE memtide_sessions_live gauge\n"
		      "memtide_sessions_live{source=\"agent\",pool=\"web\"} 3\n"
		      "# HELP memtide_malloc_allocs_total Allocations.\n"
		      "# TYPE memtide_malloc_allocs_total counter\n"
		      "memtide_malloc_allocs_total{group=\"app\"} 42\n"
		      "# TYPE memtide_thing untyped\n"
		      "memtide_thing 1\n");
	assert_int_equal(expo_family_count(e), 3);
	assert_int_equal(expo_sample_count(e), 3);
	expo_free(e);
}

static void test_openmetrics_counter(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(
	    expo_family(e, "memtide_malloc_allocs_total", EXPO_COUNTER, "Allocations."), 0);
	assert_int_equal(expo_sample(e, 42, "group", "app", NULL), 0);
	assert_int_equal(expo_family(e, "memtide_thing", EXPO_UNTYPED, "A thing."), 0);
	assert_int_equal(expo_sample(e, 1, NULL), 0);
	assert_render(e, EXPO_OPENMETRICS_100,
		      "# HELP memtide_malloc_allocs Allocations.\n"
		      "# TYPE memtide_malloc_allocs counter\n"
		      "memtide_malloc_allocs_total{group=\"app\"} 42\n"
		      "# HELP memtide_thing A thing.\n"
		      "# TYPE memtide_thing unknown\n"
		      "memtide_thing 1\n"
		      "# EOF\n");
	expo_free(e);
}

static void test_empty_family(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "a_total", EXPO_COUNTER, "Nothing yet."), 0);
	assert_render(e, EXPO_TEXT_004, "# HELP a_total Nothing yet.\n# TYPE a_total counter\n");
	assert_render(e, EXPO_OPENMETRICS_100, "# HELP a Nothing yet.\n# TYPE a counter\n# EOF\n");
	expo_free(e);
}

static void test_escaping_text(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, "back\\slash \"quoted\"\nnext line"), 0);
	assert_int_equal(expo_sample(e, 1, "path", "C:\\dir \"x\"\nend", NULL), 0);
	assert_render(e, EXPO_TEXT_004,
		      "# HELP m back\\\\slash \"quoted\"\\nnext line\n"
		      "# TYPE m gauge\n"
		      "m{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1\n");
	expo_free(e);
}

static void test_escaping_openmetrics(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, "back\\slash \"quoted\"\nnext line"), 0);
	assert_int_equal(expo_sample(e, 1, "path", "C:\\dir \"x\"\nend", NULL), 0);
	assert_render(e, EXPO_OPENMETRICS_100,
		      "# HELP m back\\\\slash \\\"quoted\\\"\\nnext line\n"
		      "# TYPE m gauge\n"
		      "m{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1\n"
		      "# EOF\n");
	expo_free(e);
}

static void test_invalid_utf8(void **state)
{
	struct expo *e = expo_new();

	/* A stray continuation byte, a truncated sequence, an overlong "/", a surrogate. */
	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(e, 1, "v",
				     "a\x80"
				     "b\xc3"
				     "c\xc0\xaf"
				     "d\xed\xa0\x80",
				     NULL),
			 0);
	assert_int_equal(
	    expo_sample(e, 2, "v", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98", NULL), 0);
	assert_render(e, EXPO_TEXT_004,
		      "# TYPE m gauge\n"
		      "m{v=\"a\xef\xbf\xbd"
		      "b\xef\xbf\xbd"
		      "c\xef\xbf\xbd\xef\xbf\xbd"
		      "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 1\n"
		      "m{v=\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98\"} 2\n");
	expo_free(e);
}

static void test_sorting(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(e, 3, "g", "c", NULL), 0);
	assert_int_equal(expo_sample(e, 1, "g", "a", NULL), 0);
	assert_int_equal(expo_sample(e, 4, "g", "ab", NULL), 0);
	assert_int_equal(expo_sample(e, 0, NULL), 0);
	assert_int_equal(expo_sample(e, 2, "g", "b", "h", "x", NULL), 0);
	assert_render(e, EXPO_TEXT_004,
		      "# TYPE m gauge\n"
		      "m 0\n"
		      "m{g=\"a\"} 1\n"
		      "m{g=\"ab\"} 4\n"
		      "m{g=\"b\",h=\"x\"} 2\n"
		      "m{g=\"c\"} 3\n");
	expo_free(e);
}

/* Many samples, written in reverse: the rendering comes out sorted. */
static void test_sorting_many(void **state)
{
	struct expo *e = expo_new();
	char label[16], prev[64] = "", *out, *line, *save = NULL;
	size_t lines = 0;
	int i;

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, NULL), 0);
	for (i = 20000; i > 0; i--) {
		snprintf(label, sizeof(label), "%05d", i);
		assert_int_equal(expo_sample(e, i, "n", label, NULL), 0);
	}
	assert_int_equal(expo_sample_count(e), 20000);
	out = render(e, EXPO_TEXT_004);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		assert_true(strcmp(prev, line) < 0);
		snprintf(prev, sizeof(prev), "%s", line);
		lines++;
	}
	assert_int_equal(lines, 20000);
	assert_string_equal(prev, "m{n=\"20000\"} 20000");
	free(out);
	expo_free(e);
}

static void test_samplev(void **state)
{
	const char *names[] = {"a", "b"};
	const char *values[] = {"1", "2"};
	const char *bad[] = {"a", "a"};
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_samplev(e, 5, 2, names, values), 0);
	assert_int_equal(expo_samplev(e, 6, 0, NULL, NULL), 0);
	assert_int_equal(expo_samplev(e, 7, 2, bad, values), -EINVAL);
	assert_render(e, EXPO_TEXT_004, "# TYPE m gauge\nm 6\nm{a=\"1\",b=\"2\"} 5\n");
	expo_free(e);
}

static void test_many_labels(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(e, 1, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f",
				     "6", "g", "7", "h", "8", "i", "9", "j", "10", NULL),
			 0);
	assert_render(e, EXPO_TEXT_004,
		      "# TYPE m gauge\nm{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\","
		      "h=\"8\",i=\"9\",j=\"10\"} 1\n");
	expo_free(e);
}

static void test_invalid_names(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "", EXPO_GAUGE, NULL), -EINVAL);
	assert_int_equal(expo_family(e, NULL, EXPO_GAUGE, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "1abc", EXPO_GAUGE, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "a-b", EXPO_GAUGE, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "a b", EXPO_GAUGE, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "caf\xc3\xa9", EXPO_GAUGE, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "bytes", EXPO_COUNTER, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "_total", EXPO_COUNTER, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "m", (enum expo_type)42, NULL), -EINVAL);
	/* No family open after a failure: samples have nowhere to go. */
	assert_int_equal(expo_sample(e, 1, NULL), -EINVAL);

	assert_int_equal(expo_family(e, ":ns:a_b9", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_family(e, "_x", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(e, 1, "ok_1", "v", NULL), 0);
	assert_int_equal(expo_sample(e, 1, "_ok", "v", NULL), 0);
	assert_int_equal(expo_sample(e, 1, "__name__", "v", NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 1, "__x", "v", NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 1, "1a", "v", NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 1, "a:b", "v", NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 1, "", "v", NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 1, "a", "v", "a", "w", NULL), -EINVAL);
	/* A name without a value: the NULL value ends the list early. */
	assert_int_equal(expo_sample(e, 1, "a", NULL), -EINVAL);
	assert_int_equal(expo_sample_count(e), 2);
	expo_free(e);
}

static void test_no_family(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_sample(e, 1, NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 1, "a", "b", NULL), -EINVAL);
	assert_int_equal(expo_sample(NULL, 1, NULL), -EINVAL);
	expo_free(e);
}

static void test_type_clash(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, "Gauge."), 0);
	assert_int_equal(expo_sample(e, 1, "a", "1", NULL), 0);
	assert_int_equal(expo_family(e, "m", EXPO_UNTYPED, NULL), -EINVAL);
	assert_int_equal(expo_sample(e, 2, "a", "2", NULL), -EINVAL);
	/* Same name and type reopens the family. */
	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, "Other help."), 0);
	assert_int_equal(expo_sample(e, 0, "a", "0", NULL), 0);
	/* Counter foo_total and gauge foo are both family "foo" in OpenMetrics. */
	assert_int_equal(expo_family(e, "m_total", EXPO_COUNTER, NULL), -EINVAL);
	assert_int_equal(expo_family(e, "n_total", EXPO_COUNTER, NULL), 0);
	assert_int_equal(expo_family(e, "n", EXPO_GAUGE, NULL), -EINVAL);
	assert_render(e, EXPO_TEXT_004,
		      "# HELP m Gauge.\n# TYPE m gauge\nm{a=\"0\"} 0\nm{a=\"1\"} 1\n"
		      "# TYPE n_total counter\n");
	expo_free(e);
}

static void test_help_adopted(void **state)
{
	struct expo *e = expo_new();

	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_family(e, "m", EXPO_GAUGE, "Late help."), 0);
	assert_render(e, EXPO_TEXT_004, "# HELP m Late help.\n# TYPE m gauge\n");
	expo_free(e);
}

static void test_merge(void **state)
{
	struct expo *dst = expo_new(), *a = expo_new(), *b = expo_new();

	assert_int_equal(expo_family(dst, "memtide_sessions_live", EXPO_GAUGE, "Live sessions."),
			 0);
	assert_int_equal(expo_sample(dst, 2, "source", "tcp", NULL), 0);

	assert_int_equal(expo_family(a, "memtide_agent_processes", EXPO_GAUGE, "Agents."), 0);
	assert_int_equal(expo_sample(a, 1, "group", "web", NULL), 0);
	assert_int_equal(expo_family(a, "memtide_sessions_live", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(a, 5, "source", "agent", NULL), 0);

	assert_int_equal(expo_family(b, "memtide_sessions_live", EXPO_GAUGE, "Ignored."), 0);
	assert_int_equal(expo_sample(b, 7, "source", "dir", NULL), 0);
	assert_int_equal(expo_family(b, "z_total", EXPO_COUNTER, "Z."), 0);
	assert_int_equal(expo_sample(b, 9, NULL), 0);

	assert_int_equal(expo_merge(dst, a), 0);
	assert_int_equal(expo_merge(dst, b), 0);
	assert_int_equal(expo_family_count(a), 0);
	assert_int_equal(expo_sample_count(a), 0);
	assert_int_equal(expo_family_count(b), 0);
	assert_int_equal(expo_family_count(dst), 3);
	assert_int_equal(expo_sample_count(dst), 5);
	assert_render(a, EXPO_TEXT_004, "");
	assert_render(dst, EXPO_OPENMETRICS_100,
		      "# HELP memtide_sessions_live Live sessions.\n"
		      "# TYPE memtide_sessions_live gauge\n"
		      "memtide_sessions_live{source=\"agent\"} 5\n"
		      "memtide_sessions_live{source=\"dir\"} 7\n"
		      "memtide_sessions_live{source=\"tcp\"} 2\n"
		      "# HELP memtide_agent_processes Agents.\n"
		      "# TYPE memtide_agent_processes gauge\n"
		      "memtide_agent_processes{group=\"web\"} 1\n"
		      "# HELP z Z.\n"
		      "# TYPE z counter\n"
		      "z_total 9\n"
		      "# EOF\n");

	/* src stays usable after a merge. */
	assert_int_equal(expo_family(a, "memtide_sessions_live", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(a, 1, "source", "agent2", NULL), 0);
	assert_int_equal(expo_merge(dst, a), 0);
	assert_int_equal(expo_sample_count(dst), 6);
	assert_int_equal(expo_merge(dst, dst), -EINVAL);

	expo_free(a);
	expo_free(b);
	expo_free(dst);
}

static void test_merge_clash(void **state)
{
	struct expo *dst = expo_new(), *src = expo_new();

	assert_int_equal(expo_family(dst, "m", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(dst, 1, NULL), 0);
	assert_int_equal(expo_family(src, "m", EXPO_UNTYPED, NULL), 0);
	assert_int_equal(expo_sample(src, 2, "a", "b", NULL), 0);
	assert_int_equal(expo_family(src, "k", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(src, 3, NULL), 0);
	assert_int_equal(expo_merge(dst, src), -EINVAL);
	assert_int_equal(expo_family_count(src), 0);
	assert_int_equal(expo_sample_count(src), 0);
	/* Counter m_total would be OpenMetrics family "m", as dst's gauge is. */
	assert_int_equal(expo_family(src, "m_total", EXPO_COUNTER, NULL), 0);
	assert_int_equal(expo_sample(src, 4, NULL), 0);
	assert_int_equal(expo_merge(dst, src), -EINVAL);
	assert_int_equal(expo_family_count(src), 0);
	assert_int_equal(expo_family_count(dst), 2);
	assert_int_equal(expo_sample_count(dst), 2);
	assert_render(dst, EXPO_TEXT_004, "# TYPE m gauge\nm 1\n# TYPE k gauge\nk 3\n");
	expo_free(src);
	expo_free(dst);
}

static void test_values(void **state)
{
	assert_value(0, "0");
	assert_value(1, "1");
	assert_value(-42, "-42");
	assert_value(0.1, "0.1");
	assert_value(0.5, "0.5");
	assert_value(1.5e-7, "1.5e-07");
	assert_value(1e-9, "1e-09");
	assert_value(123456789012345.0, "123456789012345");
	assert_value(999999999999999.0, "999999999999999");
	assert_value(1e15, "1e+15");
	assert_value(18446744073709551616.0, "1.8446744073709552e+19");
	assert_value(9007199254740993.0, "9007199254740992");
	assert_value(1.0 / 3.0, "0.3333333333333333");
	assert_value(0.1 + 0.2, "0.30000000000000004");
	assert_value(1e300, "1e+300");
	assert_value(-1.7976931348623157e308, "-1.7976931348623157e+308");
	assert_value(5e-324, "4.94065645841247e-324");
	assert_value(INFINITY, "+Inf");
	assert_value(-INFINITY, "-Inf");
	assert_value(NAN, "NaN");
}

/* Whatever is written reads back as the same double. */
static void test_values_round_trip(void **state)
{
	double v[] = {0.1,	     2.0 / 3.0,		 1e-300,   123.456,
		      6.02214076e23, 4503599627370496.5, 1e15 + 1, 3.14159265358979323846,
		      -2.5e-5};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *out = render_value(v[i]);
		char *num = strrchr(out, ' ') + 1;

		assert_true(strtod(num, NULL) == v[i]);
		assert_true(strlen(num) <= 24);
		free(out);
	}
}

static char *gunzip(const char *in, size_t len, size_t *out_len)
{
	size_t cap = 1 << 16;
	char *out = malloc(cap);
	z_stream zs = {0};
	int zr;

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	do {
		if (zs.total_out == cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		zs.next_out = (Bytef *)out + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zr = inflate(&zs, Z_NO_FLUSH);
		assert_true(zr == Z_OK || zr == Z_STREAM_END);
	} while (zr != Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return out;
}

static void test_gzip_round_trip(void **state)
{
	struct expo *e = expo_new();
	enum expo_format fmts[] = {EXPO_TEXT_004, EXPO_OPENMETRICS_100};
	char label[32];
	size_t i, f;

	assert_int_equal(expo_family(e, "memtide_group_resident_bytes", EXPO_GAUGE, "RSS."), 0);
	for (i = 0; i < 5000; i++) {
		snprintf(label, sizeof(label), "group-%zu", i * 7919 % 5000);
		assert_int_equal(expo_sample(e, (double)i * 4096.5, "group", label, NULL), 0);
	}
	for (f = 0; f < 2; f++) {
		char *plain, *gz = NULL, *back;
		size_t plain_len, gz_len = 0, back_len;

		plain = render(e, fmts[f]);
		plain_len = strlen(plain);
		assert_int_equal(expo_render(e, fmts[f], true, &gz, &gz_len), 0);
		assert_true(gz_len > 18 && gz_len < plain_len / 2);
		assert_int_equal((unsigned char)gz[0], 0x1f);
		assert_int_equal((unsigned char)gz[1], 0x8b);
		back = gunzip(gz, gz_len, &back_len);
		assert_int_equal(back_len, plain_len);
		assert_memory_equal(back, plain, plain_len);
		free(back);
		free(gz);
		free(plain);
	}
	expo_free(e);
}

static void test_gzip_empty(void **state)
{
	struct expo *e = expo_new();
	char *gz = NULL, *back;
	size_t gz_len = 0, back_len;

	assert_int_equal(expo_render(e, EXPO_TEXT_004, true, &gz, &gz_len), 0);
	back = gunzip(gz, gz_len, &back_len);
	assert_int_equal(back_len, 0);
	free(back);
	free(gz);
	expo_free(e);
}

/*
 * Fills an expo with 1 MiB label values until the cap stops it; what was
 * written before still renders, and small writes that fit still succeed.
 */
static void test_cap(void **state)
{
	size_t big = 1 << 20, i, n = 0, len = 0;
	struct expo *e = expo_new(), *other;
	char *value = malloc(big + 1), *out = NULL, label[16];
	int ret = 0;

	assert_non_null(value);
	memset(value, 'x', big);
	value[big] = '\0';
	assert_int_equal(expo_family(e, "big", EXPO_GAUGE, "Big."), 0);
	for (i = 0; i < 2 * (EXPO_MAX_BYTES >> 20) && !ret; i++) {
		snprintf(label, sizeof(label), "%zu", i);
		ret = expo_sample(e, 1, "i", label, "v", value, NULL);
		if (!ret)
			n++;
	}
	assert_int_equal(ret, -E2BIG);
	assert_true(n > (EXPO_MAX_BYTES >> 20) - 4 && n < (EXPO_MAX_BYTES >> 20));
	assert_int_equal(expo_sample_count(e), n);
	assert_int_equal(expo_sample(e, 1, "v", value, NULL), -E2BIG);
	assert_int_equal(expo_family(e, "another", EXPO_GAUGE, value), -E2BIG);

	/* Still valid: a small sample fits, and everything renders. */
	assert_int_equal(expo_family(e, "big", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(e, 2, "i", "small", NULL), 0);
	assert_int_equal(expo_render(e, EXPO_TEXT_004, false, &out, &len), 0);
	assert_true(len > n * big);
	assert_non_null(strstr(out + len - 64, "big{i=\"small\"} 2\n"));
	free(out);

	/* Merging a full expo into another that holds some: the family is dropped. */
	other = expo_new();
	assert_int_equal(expo_family(other, "big", EXPO_GAUGE, NULL), 0);
	assert_int_equal(expo_sample(other, 1, "v", value, NULL), 0);
	assert_int_equal(expo_merge(e, other), -E2BIG);
	assert_int_equal(expo_sample_count(other), 0);
	assert_int_equal(expo_sample_count(e), n + 1);
	expo_free(other);

	expo_free(e);
	free(value);
}

static void test_content_type(void **state)
{
	assert_string_equal(expo_content_type(EXPO_TEXT_004),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(expo_content_type(EXPO_OPENMETRICS_100),
			    "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

static void test_bad_args(void **state)
{
	struct expo *e = expo_new();
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(expo_render(e, (enum expo_format)7, false, &out, &len), -EINVAL);
	assert_int_equal(expo_render(e, EXPO_TEXT_004, false, NULL, &len), -EINVAL);
	assert_int_equal(expo_render(NULL, EXPO_TEXT_004, false, &out, &len), -EINVAL);
	assert_null(out);
	assert_int_equal(expo_merge(NULL, e), -EINVAL);
	assert_int_equal(expo_family_count(NULL), 0);
	expo_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_text_basic),
	    cmocka_unit_test(test_openmetrics_counter),
	    cmocka_unit_test(test_empty_family),
	    cmocka_unit_test(test_escaping_text),
	    cmocka_unit_test(test_escaping_openmetrics),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_sorting),
	    cmocka_unit_test(test_sorting_many),
	    cmocka_unit_test(test_samplev),
	    cmocka_unit_test(test_many_labels),
	    cmocka_unit_test(test_invalid_names),
	    cmocka_unit_test(test_no_family),
	    cmocka_unit_test(test_type_clash),
	    cmocka_unit_test(test_help_adopted),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_merge_clash),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_values_round_trip),
	    cmocka_unit_test(test_gzip_round_trip),
	    cmocka_unit_test(test_gzip_empty),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
