// SPDX-License-Identifier: MIT
/*
 * Unit tests for collectors/segment_name.c: both names of a segment are read
 * back to their pid, and nothing else is taken for one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collectors/segment_name.h"

static void test_names_to_pids(void **state)
{
	(void)state;
	assert_int_equal(segment_name_pid("memtide.1"), 1);
	assert_int_equal(segment_name_pid("memtide.4194304"), 4194304);
	assert_int_equal(segment_name_pid("memtide.123.987654321"), 123);
	assert_int_equal(segment_name_pid("memtide.123.18446744073709551615"), 123);
}

static void test_junk(void **state)
{
	static const char *const junk[] = {
	    "memtide.",
	    "memtide.0",
	    "memtide.012",
	    "memtide.12a",
	    "memtide.12.",
	    "memtide.12.0",
	    "memtide.12.01",
	    "memtide.12.3.4",
	    "memtide.-1",
	    "memtide.999999999",
	    "memtide.1.18446744073709551616",
	    "memtide 12",
	    "xmemtide.12",
	    "memtide.12 ",
	    "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(segment_name_pid(junk[i]), -1);
}

static void test_format(void **state)
{
	char buf[64];

	(void)state;
	segment_name_format(buf, sizeof(buf), 42, 0);
	assert_string_equal(buf, "memtide.42");
	segment_name_format(buf, sizeof(buf), 42, 7777);
	assert_string_equal(buf, "memtide.42.7777");
	assert_int_equal(segment_name_pid(buf), 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_to_pids),
	    cmocka_unit_test(test_junk),
	    cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
