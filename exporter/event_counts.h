/* SPDX-License-Identifier: MIT */
/*
 * event_counts: counters of one collector's events by reason, for a counter
 * family labelled {collector, <label>} (memtide_scrape_errors_total,
 * memtide_collector_housekeeping_total).
 *
 * Thread-safe: the collector's lane counts what it meets, the scrape counts
 * what happened to the collector (a deadline missed), a scrape writes them.
 * Reasons must be string literals or otherwise live for the life of the
 * program: the table keeps the pointers. The table is bounded; reasons past
 * its size are counted under "other".
 */
#ifndef MEMTIDE_EVENT_COUNTS_H
#define MEMTIDE_EVENT_COUNTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct expo;

/* Reasons are literals in a collector's code, a dozen at most; the bound only
 * guards against a bug adding them dynamically. */
#define EVENT_REASONS_MAX 32

struct event_counts {
	pthread_mutex_t lock;
	size_t used;
	struct {
		const char *reason;
		uint64_t count;
	} entries[EVENT_REASONS_MAX];
};

#define EVENT_COUNTS_INIT                                                                          \
	{                                                                                          \
		.lock = PTHREAD_MUTEX_INITIALIZER                                                  \
	}

void event_counts_inc(struct event_counts *c, const char *reason);

/* Writes one sample per reason, labelled collector=`collector` and
 * `label`=reason, to the family already opened on out. Returns 0 or a
 * negative errno. */
int event_counts_write(struct event_counts *c, struct expo *out, const char *collector,
		       const char *label);

#endif
