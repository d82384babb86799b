/* SPDX-License-Identifier: MIT */
/*
 * agent_stats: the agent collector's sums by group and by (group, pool), and
 * the counters of processes that exited.
 *
 * A scrape calls agent_stats_begin(), agent_stats_add() once per live
 * segment, then agent_stats_end(), which moves the counters of processes
 * seen in the previous scrape but not in this one into the retired totals of
 * their group (and pool), adds those totals to the live sums so counters
 * never go backwards while a group lives, and writes the metric families.
 * Retired totals of a group (or pool) that no live process has any more are
 * dropped with it: memory stays bounded by what is alive.
 */
#ifndef MEMTIDE_AGENT_STATS_H
#define MEMTIDE_AGENT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "collectors/process_config.h"
#include "exporter/config.h"
#include "agent/segment.h"

struct expo;
struct memtide_seg_snapshot;

/* Counters one process contributed, kept until the next scrape. */
struct agent_proc {
	unsigned pid;
	uint64_t started;
	char group[PROCESS_GROUP_NAME_MAX];
	uint64_t allocs, frees, bytes_allocated;
	size_t first_pool, n_pools; /* into agent_stats.proc_pools */
};

struct agent_pool_counts {
	char name[MEMTIDE_SEG_POOL_NAME];
	uint64_t opened, closed;
};

struct agent_group;
struct agent_pool;
struct agent_retired;

struct agent_stats {
	struct agent_group *groups;
	size_t n_groups, cap_groups;
	struct agent_pool *pools;
	size_t n_pools, cap_pools;
	/* This scrape's processes and the previous scrape's. */
	struct agent_proc *procs, *prev;
	size_t n_procs, cap_procs, n_prev, cap_prev;
	struct agent_pool_counts *proc_pools, *prev_pools;
	size_t n_proc_pools, cap_proc_pools, n_prev_pools, cap_prev_pools;
	struct agent_retired *retired;
	size_t n_retired, cap_retired;
};

void agent_stats_begin(struct agent_stats *st);

/* Adds one process's snapshot under group. Returns 0 or -ENOMEM. */
int agent_stats_add(struct agent_stats *st, const char *group, unsigned pid, uint64_t started,
		    const struct memtide_seg_snapshot *snap);

/*
 * A live process whose segment could not be read this time: its counters
 * from the previous scrape are carried, so that they neither drop nor get
 * retired and later counted twice. Returns 0 or -ENOMEM.
 */
int agent_stats_keep(struct agent_stats *st, unsigned pid, uint64_t started);

/* Retires what exited and writes the families. Returns 0 or a negative errno. */
int agent_stats_end(struct agent_stats *st, struct expo *out);

void agent_stats_free(struct agent_stats *st);

#endif
