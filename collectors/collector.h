/* SPDX-License-Identifier: MIT */
/*
 * The collector interface.
 *
 * One file per collector, registered in the static table of registry.c.
 * A collector never knows about HTTP: it reads its source and writes metric
 * families to the context it is given.
 *
 * Concurrency: each collector runs on a lane of its own (exporter/lanes.h),
 * one collect() at a time, whatever the number of scrapes in flight and
 * across config reloads; init() and release() never run beside a collect()
 * of the same state. So a collector's state needs no lock of its own. Only
 * what several collectors share (a cache read by two of them) needs one.
 */
#ifndef MEMTIDE_COLLECTOR_H
#define MEMTIDE_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "exporter/log.h"

struct config;
struct config_section;
struct expo;
struct event_counts;

/* The most collectors the registry may hold: the size of the runtime's
 * instance table and the number of lanes. registry.c checks it at compile time. */
#define COLLECTORS_MAX 16

/*
 * What one collect() call works with, scoped to its collector: where its
 * families go, when the scrape answers, and where its errors and log lines
 * go, already labelled with its name.
 */
struct collect_ctx {
	struct expo *out;		 /* this collector's families, for this scrape */
	const struct timespec *deadline; /* CLOCK_MONOTONIC: the scrape answers then */
	const char *name;		 /* the collector's */
	struct event_counts *errors;	 /* memtide_scrape_errors_total{collector=name} */
	struct event_counts
	    *housekeeping; /* memtide_collector_housekeeping_total{collector=name} */
	bool partial;	   /* set by collect_partial() */
};

/*
 * Counts an error: something the scrape could not read or had to skip, under
 * memtide_scrape_errors_total{collector,reason}. `reason` must live for the
 * life of the program (a literal). One reason, one meaning, for the exporter.
 */
void collect_error(struct collect_ctx *ctx, const char *reason);

/* Counts routine upkeep that is not an error (a stale file removed) under
 * memtide_collector_housekeeping_total{collector,action}; `action` a literal. */
void collect_housekeeping(struct collect_ctx *ctx, const char *action);

/* Some sources failed: what was written about the others is published, and
 * the collector's success for this scrape is 0. */
void collect_partial(struct collect_ctx *ctx);

/* Whether the scrape's deadline has passed. */
bool collect_past_deadline(const struct collect_ctx *ctx);

/* A log line tagged collector=NAME; key/value string pairs ended by NULL. */
void collect_log(const struct collect_ctx *ctx, enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

struct collector {
	const char *name; /* "process", "system", "self", ... */
	const char *help; /* one line for --help and the landing page */
	bool enabled_by_default;
	/* Its part of the config file (config_section.h); NULL: it has none. */
	const struct config_section *config;
	/* Builds the state for one config. Returns 0 or a negative errno. */
	int (*init)(void **state, const struct config *cfg);
	/*
	 * Called once per scrape, on the collector's lane. Returns 0 (success, or
	 * partial success when it called collect_partial()) or a negative errno
	 * (what was written to ctx->out is discarded). Work past ctx->deadline is
	 * wasted: the scrape has answered without it.
	 */
	int (*collect)(void *state, struct collect_ctx *ctx);
	void (*release)(void *state);
};

extern const struct collector *const collectors[];
extern const size_t collectors_count;

/* The registered collector called `name`, or NULL. */
const struct collector *collector_find(const char *name);

#endif
