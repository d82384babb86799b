/* SPDX-License-Identifier: MIT */
/*
 * runtime: one loaded config with the states of the collectors it enabled.
 *
 * Reference counted: every scrape (and every collector thread a scrape left
 * behind at its deadline) holds a reference, and a reload swaps in a new
 * runtime while scrapes in flight finish on the old one, which is released
 * by whoever drops the last reference.
 */
#ifndef MEMTIDE_RUNTIME_H
#define MEMTIDE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

struct config;

#define RUNTIME_MAX_COLLECTORS 16

struct runtime {
	struct config *cfg;
	bool enabled[RUNTIME_MAX_COLLECTORS]; /* indexed like collectors[] */
	void *states[RUNTIME_MAX_COLLECTORS];
	int init_errors[RUNTIME_MAX_COLLECTORS]; /* a collector whose init failed reports failure */
	unsigned refs;				 /* atomic */
};

/* Takes ownership of cfg (freed on failure too) and inits every enabled
 * collector. A collector whose init fails is logged and scraped as failing.
 * Returns 0 or a negative errno. */
int runtime_new(struct config *cfg, const bool *enabled, struct runtime **out);

struct runtime *runtime_get(struct runtime *rt);
void runtime_put(struct runtime *rt);

/* The process-wide current runtime, for the HTTP layer and reloads. */
struct runtime *runtime_current(void); /* returns a new reference, or NULL */
void runtime_swap(struct runtime *rt); /* takes rt's reference; drops the old one */

#endif
