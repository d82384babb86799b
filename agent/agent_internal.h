// SPDX-License-Identifier: MIT
/*
 * Internal interfaces between the files of libmemtide (not installed):
 *
 *	interpose.c      the malloc family and the per-thread counting slots
 *	segment_write.c  creating, forking and removing the shared segment
 *	sessions.c       the session API
 *	agent.c          start-up, configuration, the agent thread, exit
 *
 * Everything here has hidden visibility: only memtide.h and the malloc family
 * are exported from libmemtide.so.
 */
#ifndef MEMTIDE_AGENT_INTERNAL_H
#define MEMTIDE_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "segment.h"

#define MEMTIDE_EXPORT __attribute__((visibility("default")))

/* Configuration, read once from the environment by agent.c. */
struct agent_config {
	bool debug;		    /* MEMTIDE_DEBUG=1 */
	bool group_readable;	    /* MEMTIDE_GROUP_READABLE=1 */
	uint64_t mallinfo_interval; /* MEMTIDE_MALLINFO_INTERVAL, seconds, 0 = no agent thread */
	int64_t clock_offset;	    /* MEMTIDE_CLOCK_OFFSET, seconds */
	char dir[256];		    /* MEMTIDE_DIR */
};

extern struct agent_config agent_cfg;

/*
 * The published segment, or NULL before it exists and when the agent is off.
 * Written with release stores by the thread that creates the segment; the
 * address never changes for the life of the process (a fork child remaps its
 * own file at the same address), so pool handles and slot pointers stay valid.
 */
extern struct memtide_seg_header *agent_seg;
/* Set when no segment will ever exist in this process: counting stops. */
extern bool agent_off;

/* Diagnostics to stderr when MEMTIDE_DEBUG=1; never allocates. */
void agent_log(const char *msg, const char *detail, long value);

/* The segment's clock: CLOCK_BOOTTIME seconds plus the clock offset. */
uint64_t agent_now(void);

/* interpose.c */
bool interpose_usable_size_ok(void);
uint32_t interpose_bytes_overhead(void);
void interpose_drain_fallback(struct memtide_seg_header *h);
void interpose_fork_prepare(void);
void interpose_fork_parent(void);
void interpose_fork_child(struct memtide_seg_header *h);

/* segment_write.c */
int segment_create(struct memtide_seg_header **out);
int segment_fork_child(struct memtide_seg_header *h);
void segment_unlink(void);
void segment_heartbeat(struct memtide_seg_header *h, uint64_t now);
void segment_publish_mallinfo(struct memtide_seg_header *h, uint64_t now);

/* sessions.c */
void sessions_fork_prepare(void);
void sessions_fork_done(void);

/* The slot array and the overflow slot of a segment. */
static inline struct memtide_seg_slot *segment_slot(struct memtide_seg_header *h, uint32_t i)
{
	return (struct memtide_seg_slot *)((char *)h + MEMTIDE_SEG_SLOT_OFFSET) + i;
}

static inline struct memtide_seg_slot *segment_overflow(struct memtide_seg_header *h)
{
	return (struct memtide_seg_slot *)((char *)h + MEMTIDE_SEG_OVERFLOW_OFFSET);
}

static inline struct memtide_seg_pool *segment_pool(struct memtide_seg_header *h, uint32_t i)
{
	return (struct memtide_seg_pool *)((char *)h + MEMTIDE_SEG_POOL_OFFSET) + i;
}

#endif /* MEMTIDE_AGENT_INTERNAL_H */
