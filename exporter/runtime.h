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

#include "collectors/collector.h"

struct config;

/* One registered collector under one config. */
struct collector_instance {
	const struct collector *collector;
	void *state;	/* from init(); NULL when disabled or init failed */
	int init_error; /* negative errno: it reports failure on every scrape */
	bool enabled;
	size_t lane; /* lanes.h: its position in the registry, for the life of the exporter */
};

struct runtime {
	struct config *cfg;
	struct collector_instance instances[COLLECTORS_MAX]; /* in registry order */
	size_t count;
	unsigned refs; /* atomic */
};

/* Whether the instance takes part in scrapes (enabled, and its init succeeded). */
static inline bool collector_instance_runs(const struct collector_instance *ci)
{
	return ci->enabled && ci->init_error == 0;
}

/* Takes ownership of cfg (freed on failure too) and inits every enabled
 * collector. A collector whose init fails is logged and scraped as failing.
 * Returns 0 or a negative errno. */
int runtime_new(struct config *cfg, const bool *enabled, struct runtime **out);

/* Calls fn for each registered collector with its name, help line and
 * whether rt enabled it: what the landing page shows, without the HTTP
 * layer knowing the registry. */
void runtime_each_collector(const struct runtime *rt,
			    void (*fn)(void *arg, const char *name, const char *help, bool on),
			    void *arg);

/* The config file rt was loaded from, or NULL when there is none. */
const char *runtime_config_path(const struct runtime *rt);

struct runtime *runtime_get(struct runtime *rt);
void runtime_put(struct runtime *rt);

/* The process-wide current runtime, for the HTTP layer and reloads. */
struct runtime *runtime_current(void); /* returns a new reference, or NULL */
void runtime_swap(struct runtime *rt); /* takes rt's reference; drops the old one */

#endif
