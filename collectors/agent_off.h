/* SPDX-License-Identifier: MIT */
/*
 * agent_off: processes whose agent is off, by group and reason, as the gauge
 * memtide_agent_off_processes{group,reason}. A program linked with jemalloc
 * runs with the agent preloaded but is not counted (the agent forwards to its
 * allocator); its segment says so, and this says so to the user. Bounded: the
 * groups of the config times the few reasons of agent/segment.h.
 */
#ifndef MEMTIDE_AGENT_OFF_H
#define MEMTIDE_AGENT_OFF_H

#include <stddef.h>
#include <stdint.h>

struct expo;

struct agent_off_count {
	char *group;
	uint32_t reason;
	unsigned processes;
};

struct agent_off {
	struct agent_off_count *counts;
	size_t n, cap;
};

void agent_off_begin(struct agent_off *off);

/* One more process of group off for reason. Returns 0 or -ENOMEM. */
int agent_off_add(struct agent_off *off, const char *group, uint32_t reason);

/* Writes the family (always, so that a user can see it exists). */
int agent_off_write(const struct agent_off *off, struct expo *out);

void agent_off_free(struct agent_off *off);

#endif
