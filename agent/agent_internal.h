// SPDX-License-Identifier: MIT
/*
 * Internal interfaces between the files of libmemtide (not installed):
 *
 *	interpose.c      the malloc family and the per-thread counting slots
 *	segment_write.c  creating, forking and removing the shared segment
 *	session_api.c    the session API
 *	allocator.c      which malloc the process uses: count or forward
 *	refresh.c        heartbeat and mallinfo2, from the allocation path
 *	sampler.c        sampled allocations (with sample_blocks.c, sites.c,
 *	                 unwind.c; sampler.h)
 *	privdrop.c       the set*id family: the segment follows the process's ids
 *	reap.c           the wait family: a reaped child's leftover segment goes
 *	agent_main.c     start-up, configuration, fork, exit
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

/* Configuration, read once from the environment by agent_main.c. */
struct agent_config {
	bool debug;		    /* MEMTIDE_DEBUG=1 */
	bool group_readable;	    /* MEMTIDE_GROUP_READABLE=1 */
	uint64_t mallinfo_interval; /* MEMTIDE_MALLINFO_INTERVAL, seconds, 0 = no snapshots */
	int64_t clock_offset;	    /* MEMTIDE_CLOCK_OFFSET, seconds */
	uint64_t sample_bytes;	    /* MEMTIDE_SAMPLE_BYTES, mean bytes between samples, 0 = off */
	uint64_t sample_seed;	    /* MEMTIDE_SAMPLE_SEED, 0 = from the clock (tests fix it) */
	char dir[256];		    /* MEMTIDE_DIR */
};

/* MEMTIDE_DIR: an absolute path shorter than this, room left for the names. */
#define MEMTIDE_DIR_MAX 220

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

/* Diagnostics to stderr when MEMTIDE_DEBUG=1, "memtide: msg: detail value";
 * never allocate. agent_note() has no value. */
void agent_log(const char *msg, const char *detail, long value);
void agent_note(const char *msg, const char *detail);

/* The segment's clock: CLOCK_BOOTTIME seconds plus the clock offset. */
uint64_t agent_now(void);

/* allocator.c: which malloc the process really uses (see there). */
enum alloc_mode {
	ALLOC_UNKNOWN = 0, /* nothing asked yet */
	ALLOC_RESOLVING,   /* being asked: serve from glibc and note the block */
	ALLOC_GLIBC,	   /* glibc's malloc after us: count */
	ALLOC_FOREIGN,	   /* another allocator: forward everything, count nothing */
};

/* What each function would be bound to without us; NULL where nothing is. */
struct alloc_next {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*reallocarray)(void *, size_t, size_t);
};

extern struct alloc_next alloc_next;
extern int alloc_mode;
extern uint32_t alloc_reason;

void allocator_resolve(void);
const char *allocator_reason_name(uint32_t reason);
void *allocator_boot_note(void *p);
bool allocator_boot_take(void *p);

/* The mode, resolved first if nobody asked yet. */
static inline int allocator_mode(void)
{
	int m = __atomic_load_n(&alloc_mode, __ATOMIC_ACQUIRE);

	if (m == ALLOC_UNKNOWN) {
		allocator_resolve();
		m = __atomic_load_n(&alloc_mode, __ATOMIC_ACQUIRE);
	}
	return m;
}

/* interpose.c */
void *interpose_own_malloc(void);
void interpose_count_boot_block(void *p);
bool interpose_usable_size_ok(void);
uint32_t interpose_bytes_overhead(void);
void interpose_drain_fallback(struct memtide_seg_header *h);
void interpose_fork_prepare(void);
void interpose_fork_parent(void);
void interpose_fork_child(struct memtide_seg_header *h);

/* refresh.c: heartbeat and mallinfo2, lazily from the allocation path */
void agent_refresh(struct memtide_seg_slot *s);
void agent_refresh_fork_child(void);

/* segment_write.c */
int segment_create(struct memtide_seg_header **out);
int segment_create_off(uint32_t reason);
void segment_fork_child_off(void);
const char *segment_path(void);
int segment_chown(uid_t uid, gid_t gid);
void segment_forget_child(pid_t pid);
void segment_reclaim_first_name(void);

/* reap.c */
void reap_init(void);
int segment_fork_child(struct memtide_seg_header *h);
void segment_unlink(void);
void segment_heartbeat(struct memtide_seg_header *h, uint64_t now);
void segment_publish_mallinfo(struct memtide_seg_header *h, uint64_t now);

/* session_api.c */
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
