/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for agent_stats (collectors/agent_stats.c): the counters of a
 * group never go back while it lives, when its processes exit, when a
 * segment cannot be read for a scrape, when a pid is reused; and what no
 * live process holds any more is dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/segment_read.h"
#include "collectors/agent_stats.h"
#include "exporter/expo.h"

#define ALLOCS "memtide_malloc_allocs_total{group=\"g\"}"
#define OPENED "memtide_sessions_opened_total{source=\"agent\",group=\"g\",pool=\"web\"}"

static struct memtide_seg_snapshot snap;

/* One process's segment: allocs and frees, and a ticket pool "web". */
static const struct memtide_seg_snapshot *segment(uint64_t allocs, uint64_t opened)
{
	memset(&snap, 0, sizeof(snap));
	snap.allocs = allocs;
	snap.frees = allocs / 2;
	snap.bytes_allocated = allocs * 16;
	snap.live_objects = allocs - allocs / 2;
	snap.pool_count = 1;
	strcpy(snap.pools[0].name, "web");
	snap.pools[0].mode = MEMTIDE_SEG_MODE_TICKETS;
	snap.pools[0].opened = opened;
	snap.pools[0].has_ages = true;
	return &snap;
}

/* Ends the scrape and renders its families; the caller frees the text. */
static char *end_scrape(struct agent_stats *st)
{
	struct expo *out = expo_new();
	char *text = NULL;
	size_t len;

	assert_non_null(out);
	assert_int_equal(agent_stats_end(st, out), 0);
	assert_int_equal(expo_render(out, EXPO_TEXT_004, false, &text, &len), 0);
	expo_free(out);
	return text;
}

/* The value of a series in text, or -1 when absent. */
static double value(const char *text, const char *series)
{
	const char *at = strstr(text, series);
	double v = -1;

	if (at)
		assert_int_equal(sscanf(at + strlen(series), " %lf", &v), 1);
	return v;
}

/* Ends the scrape and checks the group's allocs and the pool's opened. */
static void expect(struct agent_stats *st, double allocs, double opened)
{
	char *text = end_scrape(st);

	assert_true(value(text, ALLOCS) == allocs);
	assert_true(value(text, OPENED) == opened);
	free(text);
}

static void test_counters_never_go_back_while_the_group_lives(void **state)
{
	struct agent_stats st = {0};

	(void)state;
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_add(&st, "g", 1, 100, segment(10, 3)), 0);
	assert_int_equal(agent_stats_add(&st, "g", 2, 200, segment(5, 2)), 0);
	expect(&st, 15, 5);

	/* Process 2 exited: its counts are retired into the group and its pool. */
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_add(&st, "g", 1, 100, segment(12, 4)), 0);
	expect(&st, 17, 6);

	/* Process 1's segment could not be read: carried, not retired. */
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_keep(&st, 1, 100), 0);
	expect(&st, 17, 6);

	/* Read again: counted once, not twice. */
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_add(&st, "g", 1, 100, segment(13, 4)), 0);
	expect(&st, 18, 6);

	/* Pid 1 reused by a new process: the old one is retired, the new one added. */
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_add(&st, "g", 1, 999, segment(1, 0)), 0);
	expect(&st, 19, 6);
	agent_stats_free(&st);
}

static void test_a_group_without_live_processes_is_dropped(void **state)
{
	struct agent_stats st = {0};
	char *text;

	(void)state;
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_add(&st, "g", 1, 100, segment(10, 3)), 0);
	expect(&st, 10, 3);

	agent_stats_begin(&st);
	text = end_scrape(&st);
	assert_true(value(text, ALLOCS) == -1);
	assert_true(value(text, OPENED) == -1);
	free(text);

	/* A new process of the group starts from its own counts: nothing retired is kept. */
	agent_stats_begin(&st);
	assert_int_equal(agent_stats_add(&st, "g", 3, 300, segment(2, 1)), 0);
	expect(&st, 2, 1);
	agent_stats_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters_never_go_back_while_the_group_lives),
	    cmocka_unit_test(test_a_group_without_live_processes_is_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
