/* SPDX-License-Identifier: MIT */
/*
 * Sampled allocation sites by group, for the agent collector: each process's
 * sites are named (symbolize.h: the first frame that is not the allocator's)
 * and summed by (group, name); a scrape publishes, per group, the top
 * SITES_TOP names by estimated live bytes and the top SITES_TOP of the rest
 * by growth, and one site="other" holding the remainder, so that the sums
 * over a group stay true. See docs/metrics.md for the cardinality.
 *
 * Growth of a site: its live bytes over the time since it was first seen,
 * if it reached a new high within the last SITES_GROWTH_RECENT seconds, else
 * 0 (a site that stopped growing is not growing, whatever it holds).
 *
 * The pids of each group at the last scrape are kept for the heap profile
 * endpoint (?group=NAME).
 */
#ifndef MEMTIDE_SITES_H
#define MEMTIDE_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "agent/site_read.h"

#define SITES_TOP 10
#define SITES_GROWTH_RECENT 600
#define SITES_LABEL 384
/* (group, name) pairs one scrape keeps apart; past it, sites go to "other". */
#define SITES_MAX_ENTRIES 16384
/* New ELF files one scrape may open to name sites (the rest wait). */
#define SITES_OPENS_PER_SCRAPE 64

struct expo;
struct sites_state;

/* top: sites per group and ranking (0: SITES_TOP, or MEMTIDE_SITES_TOP). */
struct sites_state *sites_new(unsigned top);
void sites_free(struct sites_state *st);

void sites_begin(struct sites_state *st);
/* Adds the n sites of process pid in group; now on the segment's clock. */
int sites_add(struct sites_state *st, const char *group, unsigned pid,
	      const struct memtide_site_snapshot *sites, uint32_t n, uint64_t now);
int sites_end(struct sites_state *st, struct expo *out);

/* The name of a site of process pid: its first frame not the allocator's.
 * named (may be NULL) receives what is known of that frame; found_map and
 * found_symbol are false when the stack is empty. */
struct symbolizer;
struct frame_info;
void sites_label(struct symbolizer *sym, const struct memtide_site_snapshot *s, char *buf,
		 size_t len, struct frame_info *named);

/* Pids of group at the last scrape (at most max); the count. Thread-safe. */
size_t sites_group_pids(const char *group, unsigned *pids, size_t max);

#endif
