/* SPDX-License-Identifier: MIT */
/*
 * The collector interface.
 *
 * One file per collector, registered in the static table of registry.c.
 * A collector never knows about HTTP: it reads its source and writes metric
 * families to the expo it is given. Two scrapes may call collect() at once,
 * so state that outlives a scrape lives behind the collector's own lock.
 */
#ifndef MEMTIDE_COLLECTOR_H
#define MEMTIDE_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;
struct expo;

#define COLLECTOR_PARTIAL 1

struct collector {
	const char *name; /* "process", "system", "self", ... */
	const char *help; /* one line for --help and the landing page */
	bool enabled_by_default;
	/* Builds the state for one config. Returns 0 or a negative errno. */
	int (*init)(void **state, const struct config *cfg);
	/*
	 * Called once per scrape. `deadline` (CLOCK_MONOTONIC) is when the scrape
	 * answers with or without this collector: take locks with
	 * pthread_mutex_clocklock(lock, CLOCK_MONOTONIC, deadline), so that a
	 * scrape stuck behind a stalled one gives up in time. Returns 0, a
	 * negative errno (what was written to `out` is discarded), or
	 * COLLECTOR_PARTIAL: some of its sources failed, what it wrote about the
	 * others is published, and its success for the scrape is 0.
	 */
	int (*collect)(void *state, struct expo *out, const struct timespec *deadline);
	void (*release)(void *state);
};

extern const struct collector *const collectors[];
extern const size_t collectors_count;

/* The registered collector called `name`, or NULL. */
const struct collector *collector_find(const char *name);

#endif
