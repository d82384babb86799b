/* SPDX-License-Identifier: MIT */
/* Unit tests for dynbuf (exporter/dynbuf.c): the cap, freeing on failure,
 * handing the bytes over; and dynarray_reserve's cap and overflow guard. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporter/dynbuf.h"

static void test_appends_up_to_the_cap(void **state)
{
	struct dynbuf b;
	char *p;
	size_t len;

	(void)state;
	dynbuf_init(&b, 10000);
	assert_int_equal(dynbuf_addstr(&b, "abc"), 0);
	assert_int_equal(dynbuf_addf(&b, "-%d-", 42), 0);
	assert_string_equal(b.p, "abc-42-");
	/* Across the first allocation, up to the cap exactly. */
	for (size_t i = b.len; i < 10000; i++)
		assert_int_equal(dynbuf_add(&b, "x", 1), 0);
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.p[b.len], '\0');
	p = dynbuf_take(&b, &len);
	assert_int_equal(len, 10000);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(p);
}

static void test_past_the_cap_fails_and_frees(void **state)
{
	struct dynbuf b;

	(void)state;
	dynbuf_init(&b, 8);
	assert_int_equal(dynbuf_addstr(&b, "12345678"), 0);
	assert_int_equal(dynbuf_add(&b, "9", 1), -E2BIG);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	/* Freed and empty, it may be used again (or freed again, harmlessly). */
	assert_int_equal(dynbuf_addf(&b, "%s", "123456789"), -E2BIG);
	dynbuf_free(&b);
}

static void test_array_reserve(void **state)
{
	uint64_t *arr = NULL;
	size_t alloc = 0;

	(void)state;
	assert_int_equal(dynarray_reserve((void **)&arr, &alloc, 1, sizeof(*arr), 100), 0);
	assert_int_equal(alloc, 16);
	assert_int_equal(dynarray_reserve((void **)&arr, &alloc, 17, sizeof(*arr), 100), 0);
	assert_int_equal(alloc, 32);
	assert_int_equal(dynarray_reserve((void **)&arr, &alloc, 90, sizeof(*arr), 100), 0);
	assert_int_equal(alloc, 100);
	arr[99] = 7;
	/* Past the cap: refused, the array as it was. */
	assert_int_equal(dynarray_reserve((void **)&arr, &alloc, 101, sizeof(*arr), 100), -E2BIG);
	assert_int_equal(alloc, 100);
	assert_int_equal(arr[99], 7);
	/* A cap whose bytes would overflow size_t is refused, not wrapped. */
	assert_int_equal(dynarray_reserve((void **)&arr, &alloc, 200, sizeof(*arr), SIZE_MAX / 4),
			 -E2BIG);
	free(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appends_up_to_the_cap),
	    cmocka_unit_test(test_past_the_cap_fails_and_frees),
	    cmocka_unit_test(test_array_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
