/* SPDX-License-Identifier: MIT */
#include "scrape_errors.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "expo.h"

/* Reasons are literals in the collectors' code, so a few dozen pairs cover
 * every one; the bound only guards against a bug adding them dynamically. */
#define SCRAPE_ERRORS_MAX 64

struct scrape_error {
	const char *collector;
	const char *reason;
	uint64_t count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct scrape_error table[SCRAPE_ERRORS_MAX];
static size_t used;

static const char overflow_reason[] = "other";

static struct scrape_error *find_or_add(const char *collector, const char *reason)
{
	for (size_t i = 0; i < used; i++)
		if (strcmp(table[i].collector, collector) == 0 &&
		    strcmp(table[i].reason, reason) == 0)
			return &table[i];
	/* The last slot is kept for the overflow pair itself. */
	if (used == SCRAPE_ERRORS_MAX - 1 && reason != overflow_reason)
		return find_or_add("exporter", overflow_reason);
	table[used] = (struct scrape_error){.collector = collector, .reason = reason};
	return &table[used++];
}

void scrape_errors_inc(const char *collector, const char *reason)
{
	pthread_mutex_lock(&lock);
	find_or_add(collector, reason)->count++;
	pthread_mutex_unlock(&lock);
}

int scrape_errors_write(struct expo *out)
{
	struct scrape_error snapshot[SCRAPE_ERRORS_MAX];
	size_t n;
	int err;

	pthread_mutex_lock(&lock);
	n = used;
	memcpy(snapshot, table, n * sizeof(snapshot[0]));
	pthread_mutex_unlock(&lock);

	err = expo_family(out, "memtide_scrape_errors_total", EXPO_COUNTER,
			  "Things collectors skipped: processes that exited mid-read, files they "
			  "may not read, corrupt agent segments.");
	for (size_t i = 0; i < n && err == 0; i++)
		err = expo_sample(out, (double)snapshot[i].count, "collector",
				  snapshot[i].collector, "reason", snapshot[i].reason, NULL);
	return err;
}
