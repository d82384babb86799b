/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the scrape engine (exporter/scrape.c) with collectors of
 * the test's own: what finished is published, a collector still running at
 * the deadline is reported failed and counted, its late output is dropped,
 * partial success and errors go through the context.
 *
 * No timing is asserted: a stalled collector waits on a gate the test opens
 * only after the scrape answered, so the deadline is certain to pass first.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collectors/collector.h"
#include "exporter/expo.h"
#include "exporter/runtime.h"
#include "exporter/scrape.h"

/* Seconds a test waits for a gate before failing: a bound, not a measure. */
#define HANG_SECONDS 30

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;
static bool gate_open, stalled_entered, stalled_left;

static void gate_set(bool *flag)
{
	pthread_mutex_lock(&gate_lock);
	*flag = true;
	pthread_cond_broadcast(&gate_changed);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_wait(bool *flag)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HANG_SECONDS;
	pthread_mutex_lock(&gate_lock);
	while (!*flag)
		assert_int_equal(pthread_cond_timedwait(&gate_changed, &gate_lock, &until), 0);
	pthread_mutex_unlock(&gate_lock);
}

static int fast_collect(void *state, struct collect_ctx *ctx)
{
	int err = expo_family(ctx->out, "test_fast", EXPO_GAUGE, "Written in time.");

	(void)state;
	return err ? err : expo_sample(ctx->out, 1, NULL);
}

/* Writes a family, then waits until the test opens the gate. */
static int stalled_collect(void *state, struct collect_ctx *ctx)
{
	int err = expo_family(ctx->out, "test_stalled", EXPO_GAUGE, "Written too late.");

	(void)state;
	gate_set(&stalled_entered);
	gate_wait(&gate_open);
	gate_set(&stalled_left);
	return err;
}

static int partial_collect(void *state, struct collect_ctx *ctx)
{
	int err = expo_family(ctx->out, "test_partial", EXPO_GAUGE, "Some sources.");

	(void)state;
	collect_error(ctx, "source_unreadable");
	collect_housekeeping(ctx, "tidied");
	collect_partial(ctx);
	return err ? err : expo_sample(ctx->out, 2, NULL);
}

static int failing_collect(void *state, struct collect_ctx *ctx)
{
	(void)state;
	expo_family(ctx->out, "test_failed", EXPO_GAUGE, "Discarded.");
	return -EIO;
}

static void no_release(void *state)
{
	(void)state;
}

static const struct collector fast = {
    .name = "fast", .help = "", .collect = fast_collect, .release = no_release};
static const struct collector stalled = {
    .name = "stalled", .help = "", .collect = stalled_collect, .release = no_release};
static const struct collector partial = {
    .name = "partial", .help = "", .collect = partial_collect, .release = no_release};
static const struct collector failing = {
    .name = "failing", .help = "", .collect = failing_collect, .release = no_release};

/* A runtime of the test's collectors, lanes from 8 up (the registry's are below). */
static struct runtime *make_runtime(const struct collector *const *list, size_t n)
{
	struct runtime *rt = calloc(1, sizeof(*rt));

	assert_non_null(rt);
	rt->refs = 1;
	rt->count = n;
	for (size_t i = 0; i < n; i++)
		rt->instances[i] = (struct collector_instance){
		    .collector = list[i], .enabled = true, .lane = 8 + i};
	return rt;
}

static char *scrape_text(struct runtime *rt, double timeout)
{
	struct expo *out = NULL;
	char *text = NULL;
	size_t len;

	assert_int_equal(scrape_run(rt, timeout, &out), 0);
	assert_int_equal(expo_render(out, EXPO_TEXT_004, false, &text, &len), 0);
	expo_free(out);
	return text;
}

static void test_finished_collectors_are_published(void **state)
{
	const struct collector *const list[] = {&fast, &partial, &failing};
	struct runtime *rt = make_runtime(list, 3);
	char *text = scrape_text(rt, 60);

	(void)state;
	assert_non_null(strstr(text, "\ntest_fast 1\n"));
	assert_non_null(strstr(text, "memtide_scrape_collector_success{collector=\"fast\"} 1\n"));
	/* Partial: published, success 0, its error and housekeeping counted apart. */
	assert_non_null(strstr(text, "\ntest_partial 2\n"));
	assert_non_null(
	    strstr(text, "memtide_scrape_collector_success{collector=\"partial\"} 0\n"));
	assert_non_null(strstr(text, "memtide_scrape_errors_total{collector=\"partial\","
				     "reason=\"source_unreadable\"} 1\n"));
	assert_non_null(strstr(
	    text,
	    "memtide_collector_housekeeping_total{collector=\"partial\",action=\"tidied\"} 1\n"));
	/* Failed: what it wrote is discarded. */
	assert_null(strstr(text, "test_failed"));
	assert_non_null(
	    strstr(text, "memtide_scrape_collector_success{collector=\"failing\"} 0\n"));
	free(text);
	runtime_put(rt);
}

static void test_deadline_answers_without_a_stalled_collector(void **state)
{
	const struct collector *const list[] = {&fast, &stalled};
	struct runtime *rt = make_runtime(list, 2);
	char *text;

	(void)state;
	/* The gate stays shut until the scrape answered: the deadline passes first. */
	text = scrape_text(rt, 0.05);
	gate_wait(&stalled_entered);
	assert_non_null(strstr(text, "\ntest_fast 1\n"));
	assert_null(strstr(text, "test_stalled"));
	assert_non_null(
	    strstr(text, "memtide_scrape_collector_success{collector=\"stalled\"} 0\n"));
	assert_non_null(strstr(text, "memtide_scrape_errors_total{collector=\"stalled\","
				     "reason=\"deadline\"} 1\n"));
	free(text);
	/* The runtime outlives the scrape while the late collector holds it. */
	runtime_put(rt);
	gate_set(&gate_open);
	gate_wait(&stalled_left);
	/* A lane runs its tasks in order: a scrape on the stalled collector's
	 * lane (9) answers only once the late task let go of everything. */
	rt = make_runtime((const struct collector *const[]){&fast, &fast}, 2);
	text = scrape_text(rt, 60);
	assert_non_null(strstr(text, "\ntest_fast 1\n"));
	free(text);
	runtime_put(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_finished_collectors_are_published),
	    cmocka_unit_test(test_deadline_answers_without_a_stalled_collector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
