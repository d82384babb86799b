/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proc_cache (collectors/proc_cache.c) against this test's
 * own process: a reading is taken once and served until it is older than
 * the maximum age; a pid reused by another process, a failed reading and a
 * process the latest fill did not ask for are read again; a pid no process
 * holds is never read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "collectors/proc_cache.h"

static const enum pids_item items[] = {PIDS_ID_PID, PIDS_TICS_BEGAN};
static unsigned reads;
static bool fail_next;

/* Counts the reads; the value is the read's number. */
static bool count_read(void *ctx, struct pids_stack *stack, struct proc_reading *r)
{
	(void)ctx;
	(void)stack;
	r->v[0] = ++reads;
	if (fail_next) {
		fail_next = false;
		return false;
	}
	return true;
}

/* Field 22 of /proc/self/stat: the start time in ticks, as libproc2 reads it. */
static unsigned long long own_start(void)
{
	char buf[1024], *p;
	unsigned long long started = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')');
	assert_non_null(p);
	/* After ") ": state is field 3; skip to field 22. */
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	assert_int_equal(sscanf(p, "%llu", &started), 1);
	return started;
}

static struct proc_reading own(unsigned long long started, size_t tag)
{
	return (struct proc_reading){.pid = getpid(), .started = started, .tag = tag};
}

static struct proc_cache *new_cache(void)
{
	struct proc_cache_reader reader = {items, 2, count_read, NULL};
	struct proc_cache *c = NULL;

	assert_int_equal(proc_cache_new(&reader, &c), 0);
	reads = 0;
	return c;
}

static void test_served_until_too_old(void **state)
{
	struct proc_cache *c = new_cache();
	unsigned long long started = own_start();
	struct proc_reading w = own(started, 7);

	(void)state;
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_true(w.ok);
	assert_true(w.v[0] == 1);
	assert_int_equal(w.tag, 7);
	/* Fresh enough: served from the cache, with the caller's tag. */
	w = own(started, 8);
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_true(w.ok && w.v[0] == 1);
	assert_int_equal(w.tag, 8);
	assert_int_equal(reads, 1);
	/* Any age is too old: read again. */
	w = own(started, 8);
	assert_int_equal(proc_cache_fill(c, &w, 1, -1), 0);
	assert_true(w.ok && w.v[0] == 2);
	proc_cache_free(c);
}

static void test_reused_pid_failed_reading_and_dropped_entries_are_read_again(void **state)
{
	struct proc_cache *c = new_cache();
	unsigned long long started = own_start();
	struct proc_reading w = own(started, 0);

	(void)state;
	fail_next = true;
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_false(w.ok);
	/* A failed reading is not served: read again. */
	w = own(started, 0);
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_true(w.ok && w.v[0] == 2);
	/* Another start time with this pid is another process: not served, and
	 * not read either (the live process with the pid is not the one asked). */
	w = own(started + 1, 0);
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_false(w.ok);
	assert_int_equal(reads, 2);
	/* The cache holds what the latest fill asked for: that was the other start time. */
	w = own(started, 0);
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_true(w.ok && w.v[0] == 3);
	proc_cache_free(c);
}

static void test_a_pid_of_no_process_is_not_read(void **state)
{
	struct proc_cache *c = new_cache();
	struct proc_reading w;
	pid_t child = fork();

	(void)state;
	if (child == 0)
		_exit(0);
	assert_true(child > 0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	w = (struct proc_reading){.pid = child, .started = 1};
	assert_int_equal(proc_cache_fill(c, &w, 1, 3600), 0);
	assert_false(w.ok);
	assert_int_equal(reads, 0);
	proc_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_served_until_too_old),
	    cmocka_unit_test(test_reused_pid_failed_reading_and_dropped_entries_are_read_again),
	    cmocka_unit_test(test_a_pid_of_no_process_is_not_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
