/* SPDX-License-Identifier: MIT */
#include "agent_off.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/dynbuf.h"
#include "exporter/expo.h"

/* (group, reason) pairs: a group per live process at worst, times a few
 * reasons; the cap only stops a runaway. */
#define AGENT_OFF_MAX ((size_t)1 << 24)
#include "agent/segment_read.h"

static void clear(struct agent_off *off)
{
	for (size_t i = 0; i < off->n; i++)
		free(off->counts[i].group);
	off->n = 0;
}

void agent_off_begin(struct agent_off *off)
{
	clear(off);
}

static struct agent_off_count *find(struct agent_off *off, const char *group, uint32_t reason)
{
	for (size_t i = 0; i < off->n; i++)
		if (off->counts[i].reason == reason && strcmp(off->counts[i].group, group) == 0)
			return &off->counts[i];
	return NULL;
}

int agent_off_add(struct agent_off *off, const char *group, uint32_t reason)
{
	struct agent_off_count *c = find(off, group, reason);
	int err;

	if (c) {
		c->processes++;
		return 0;
	}
	err = dynarray_reserve((void **)&off->counts, &off->cap, off->n + 1, sizeof(*off->counts),
			       AGENT_OFF_MAX);
	if (err)
		return err;
	c = &off->counts[off->n];
	c->group = strdup(group);
	if (!c->group)
		return -ENOMEM;
	c->reason = reason;
	c->processes = 1;
	off->n++;
	return 0;
}

int agent_off_write(const struct agent_off *off, struct expo *out)
{
	int err = expo_family(out, "memtide_agent_off_processes", EXPO_GAUGE,
			      "Processes of the group with libmemtide loaded but off, and why "
			      "(jemalloc, tcmalloc, mimalloc, other_allocator, chunk_layout): "
			      "they have no memtide_malloc_* statistics.");

	for (size_t i = 0; i < off->n && !err; i++)
		err = expo_sample(out, (double)off->counts[i].processes, "group",
				  off->counts[i].group, "reason",
				  memtide_segment_off_reason(off->counts[i].reason), NULL);
	return err;
}

void agent_off_free(struct agent_off *off)
{
	clear(off);
	free(off->counts);
	off->counts = NULL;
	off->cap = 0;
}
