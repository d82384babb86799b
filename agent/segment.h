// SPDX-License-Identifier: MIT
/*
 * The shared-memory segment of libmemtide: the only file shared between the agent
 * (writer, inside the watched process) and the exporter (reader, another process
 * that must treat the file as hostile input).
 *
 * File: $MEMTIDE_DIR/memtide.<pid> (default /dev/shm), one per process, created
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 (0640 with MEMTIDE_GROUP_READABLE=1),
 * unlinked by the agent at normal exit. A crash, _exit() or SIGKILL leaves the file
 * behind: readers recognise a stale file by a dead pid or by a pid whose start time
 * differs from start_time (pid reuse).
 *
 * Layout, all integers in the host's byte order (the reader runs on the same
 * host), every field naturally aligned, all offsets from the start of the file:
 *
 *	[0, header_size)                      struct memtide_seg_header
 *	[overflow_offset, +slot_size)         struct memtide_seg_slot (shared, atomic adds)
 *	[slot_offset, +slot_count*slot_size)  struct memtide_seg_slot (one writer each)
 *	[pool_offset, +pool_count*pool_size)  struct memtide_seg_pool
 *	[site_offset, +site_count*site_size)  struct memtide_seg_site (version 3)
 *	total_size                            the size the writer made the file
 *
 * Version rules: a reader of version V accepts a segment whose compat_version <= V
 * and reads only the fields it knows; a writer bumps version for every addition and
 * compat_version only when an existing field changes meaning or place. New fields
 * only ever go into reserved space or at the end of a structure, whose size is
 * published (header_size, slot_size, pool_size), so older readers skip them.
 *
 * Concurrency: every field the writer changes after creation is written with
 * __atomic stores (relaxed unless stated otherwise) and must be read with
 * __atomic loads, each field read once: a reader copies a value into a local,
 * validates the local and uses only the local. Nothing in the file points into
 * memory; there are only offsets, sizes and counts, all bounded below.
 */
#ifndef MEMTIDE_SEGMENT_H
#define MEMTIDE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "MEMTIDE\x01" read as a little-endian uint64_t. */
#define MEMTIDE_SEG_MAGIC 0x01454449544d454dULL
#define MEMTIDE_SEG_VERSION 3
#define MEMTIDE_SEG_COMPAT_VERSION 1

/*
 * File name: MEMTIDE_SEG_PREFIX followed by the decimal pid, "memtide.<pid>".
 * When that name is taken by a file the writer may not replace (another
 * user's: anyone may create files in /dev/shm, also for pids that do not exist
 * yet), the writer uses "memtide.<pid>.<start_time>", start_time being field
 * 22 of /proc/<pid>/stat in decimal, as in the header. Nobody can know it
 * before the process exists, and a reader finds it from /proc/<pid>/stat.
 * Readers trust either name only under the same rules (owner, pid, start time).
 * A writer on its second name links the first to its file as soon as that
 * name is free again, so a reader that finds processes by their first name
 * sees it whatever the squatter does next.
 */
#define MEMTIDE_SEG_PREFIX "memtide."

#define MEMTIDE_SEG_CACHELINE 64
/* Per-thread slots; threads beyond these share the overflow slot. */
#define MEMTIDE_SEG_SLOTS 512
#define MEMTIDE_SEG_MAX_POOLS 64
/* Pool names: at most 63 bytes and a NUL, NUL-padded to the end. */
#define MEMTIDE_SEG_POOL_NAME 64

/*
 * Session ages. A session's open time is kept with minute resolution in a ring of
 * MEMTIDE_SEG_AGE_MINUTES per-minute cells (25.6 h, more than the largest bucket,
 * 86400 s, plus an hour); cells recycled by newer minutes spill their count into a
 * ring of MEMTIDE_SEG_AGE_HOURS per-hour cells (85 days), whose recycled cells spill
 * into one "ancient" counter. See struct memtide_seg_pool.
 */
#define MEMTIDE_SEG_AGE_MINUTE_SECONDS 60
#define MEMTIDE_SEG_AGE_MINUTES 1536
#define MEMTIDE_SEG_AGE_HOURS 2048

/* Sanity bounds a reader enforces before trusting any size. */
#define MEMTIDE_SEG_MAX_TOTAL_SIZE (64u << 20)

/* header.flags */
#define MEMTIDE_SEG_FLAG_READY 0x1u   /* the writer finished initialising the file */
#define MEMTIDE_SEG_FLAG_EXITING 0x2u /* the writer ran its exit handler */
#define MEMTIDE_SEG_FLAG_FORKED 0x4u  /* counters were inherited from the parent at fork */

/*
 * One cell of an age ring: (epoch << 32) | (uint32_t)count, updated by CAS only.
 * epoch is the open minute (minute ring) or hour (hour ring) on the segment's clock,
 * count a signed 32-bit number of live sessions opened in that epoch. A count may
 * be transiently negative (a close that overtook the spill of its open); readers
 * clamp sums to [0, live].
 */
#define MEMTIDE_SEG_CELL_EPOCH(w) ((uint32_t)((uint64_t)(w) >> 32))
#define MEMTIDE_SEG_CELL_COUNT(w) ((int32_t)(uint32_t)((uint64_t)(w)&0xffffffffu))
#define MEMTIDE_SEG_CELL(epoch, count)                                                             \
	(((uint64_t)(uint32_t)(epoch) << 32) | (uint64_t)(uint32_t)(int32_t)(count))

/*
 * The header. Fields marked "const" are written once before flags gets
 * MEMTIDE_SEG_FLAG_READY (release store) and never change afterwards.
 */
struct memtide_seg_header {
	uint64_t magic;		 /* const: MEMTIDE_SEG_MAGIC */
	uint32_t version;	 /* const: MEMTIDE_SEG_VERSION of the writer */
	uint32_t compat_version; /* const: oldest reader version that can read this */
	uint32_t header_size;  /* const: sizeof(struct memtide_seg_header) of the writer, >= 256 */
	uint32_t flags;	       /* MEMTIDE_SEG_FLAG_* */
	uint64_t total_size;   /* const: file size; every offset + size is within it */
	uint32_t pid;	       /* const: the writer's pid (changes never: a fork child
				  writes its own file) */
	uint32_t clock_id;     /* const: clockid_t of every time below: CLOCK_BOOTTIME (7) */
	uint64_t start_time;   /* const: /proc/<pid>/stat field 22, clock ticks since boot */
	uint64_t created_at;   /* const: seconds on the clock when the file was created */
	int64_t clock_offset;  /* seconds added to the clock by the writer (0 in production;
				  MEMTIDE_CLOCK_OFFSET or memtide_debug_advance_clock in tests).
				  A reader computes "now" as its clock + clock_offset. */
	uint64_t heartbeat;    /* incremented at most once a second by the process's own
				  allocations (every 1024th of a thread): stays put while the
				  process does not allocate */
	uint64_t heartbeat_at; /* seconds on the clock (with clock_offset) of the last beat */

	/* Per-thread slots. Each is written by one thread only, with relaxed stores. */
	uint32_t slot_count;	  /* const: number of per-thread slots, <= MEMTIDE_SEG_SLOTS */
	uint32_t slot_size;	  /* const: bytes per slot, >= sizeof(struct memtide_seg_slot),
				     a multiple of MEMTIDE_SEG_CACHELINE */
	uint64_t slot_offset;	  /* const: cache-line aligned */
	uint64_t overflow_offset; /* const: one slot updated with atomic adds, cache-line aligned */
	uint32_t slots_used;	  /* high-water mark of claimed per-thread slots, <= slot_count.
				     Readers may sum just these, or all slot_count slots. */
	uint32_t bytes_overhead;  /* const, <= 64: bytes the slots count per block beyond its
				     usable size (see struct memtide_seg_slot) */

	/* Session pools. */
	uint32_t pool_count;	    /* const: pools in the file, <= MEMTIDE_SEG_MAX_POOLS */
	uint32_t pool_size;	    /* const: bytes per pool, >= sizeof(struct memtide_seg_pool) */
	uint64_t pool_offset;	    /* const: 8-byte aligned */
	uint32_t pools_used;	    /* pools registered so far (high-water), <= pool_count */
	uint32_t age_minute_cells;  /* const: MEMTIDE_SEG_AGE_MINUTES */
	uint32_t age_hour_cells;    /* const: MEMTIDE_SEG_AGE_HOURS */
	uint32_t age_minute_length; /* const: MEMTIDE_SEG_AGE_MINUTE_SECONDS */

	/*
	 * mallinfo2() snapshot, published under a seqlock from the allocation path: seq is
	 * odd while the writer changes the fields below it, and increases by 2 for
	 * every published snapshot. A reader loads seq (acquire), copies the fields,
	 * loads seq again after an acquire fence and retries if it was odd or changed.
	 * seq == 0: no snapshot yet (or MEMTIDE_MALLINFO_INTERVAL=0).
	 */
	uint64_t mallinfo_seq;
	uint64_t mallinfo_system;     /* arena + hblkhd: bytes the allocator holds from the OS */
	uint64_t mallinfo_free;	      /* fordblks: free bytes kept inside the allocator */
	uint64_t mallinfo_releasable; /* keepcost: releasable top of the main heap */
	uint64_t mallinfo_taken_at;   /* seconds on the clock (with clock_offset) */
	uint64_t mallinfo_interval;   /* const: MEMTIDE_MALLINFO_INTERVAL in seconds, 0 = off */

	/*
	 * Version 2. agent_state: 0 the agent counts; 1 it is off in this process
	 * and counts nothing (slots stay zero), for the reason in off_reason
	 * (MEMTIDE_SEG_OFF_*). Both const. Version 1 writers leave them zero.
	 */
	uint32_t agent_state;
	uint32_t off_reason;

	/*
	 * Version 3: sampled allocation sites (struct memtide_seg_site). All const
	 * but sites_used and samples_dropped. Older writers leave them zero, and a
	 * reader looks at them only when version >= 3.
	 */
	uint64_t site_offset;	  /* 8-byte aligned */
	uint32_t site_count;	  /* sites in the file, <= MEMTIDE_SEG_MAX_SITES */
	uint32_t site_size;	  /* bytes per site, >= sizeof(struct memtide_seg_site) */
	uint32_t site_depth;	  /* frames[] entries per site, <= MEMTIDE_SEG_SITE_DEPTH */
	uint32_t sites_used;	  /* sites claimed so far (high-water), <= site_count */
	uint64_t sample_bytes;	  /* mean bytes between samples (MEMTIDE_SAMPLE_BYTES); 0 = off */
	uint64_t samples_dropped; /* samples lost: site or block table full */

	uint8_t reserved[256 - 240];
};

/* header.agent_state */
#define MEMTIDE_SEG_STATE_COUNTING 0u
#define MEMTIDE_SEG_STATE_OFF 1u

/* header.off_reason: why the agent does not count in this process. Readers map
 * an unknown value to "other". */
#define MEMTIDE_SEG_OFF_NONE 0u
#define MEMTIDE_SEG_OFF_JEMALLOC 1u	   /* the program's malloc is jemalloc's */
#define MEMTIDE_SEG_OFF_TCMALLOC 2u	   /* ... tcmalloc's */
#define MEMTIDE_SEG_OFF_MIMALLOC 3u	   /* ... mimalloc's */
#define MEMTIDE_SEG_OFF_OTHER_ALLOCATOR 4u /* ... another allocator or interposer */
#define MEMTIDE_SEG_OFF_CHUNK_LAYOUT 5u	   /* glibc, but chunk headers not as expected */
#define MEMTIDE_SEG_OFF_REASONS 6u
/* Their labels (memtide_agent_off_processes{reason}), indexed by the code. */
#define MEMTIDE_SEG_OFF_NAMES                                                                      \
	{                                                                                          \
		"none", "jemalloc", "tcmalloc", "mimalloc", "other_allocator", "chunk_layout"      \
	}

/*
 * A slot: four monotonic counters (modulo 2^64), summed over all slots including
 * the overflow slot. A single slot's difference can be negative (a block freed by
 * another thread than the one that allocated it), the sums' cannot, except
 * transiently while a reader races writers. A realloc that succeeds counts as
 * one free (of the old block, if any) and one allocation.
 *
 * Byte counters count each block's usable size (malloc_usable_size) plus
 * header.bytes_overhead, identically at allocation and at free; on x86-64 glibc
 * that is the chunk size from the chunk header, read without a call. So, with
 * the sums A = allocs, F = frees, BA = bytes_allocated, BF = bytes_freed and
 * o = bytes_overhead (all modulo 2^64):
 *
 *	live objects          A - F
 *	live usable bytes     (BA - BF) - o * (A - F)
 *	usable bytes ever     BA - o * A
 */
struct memtide_seg_slot {
	uint64_t allocs;
	uint64_t frees;
	uint64_t bytes_allocated;
	uint64_t bytes_freed;
	uint32_t owner; /* tid of the thread that owns the slot, 0 = free. Informational */
	uint16_t tick;	/* unused since version 3 (was the refresh tick) */
	uint16_t reserved1;
	uint64_t countdown; /* writer-private: bytes to the next sample or refresh
			       (agent sampler.h); readers ignore it */
	uint64_t reserved[2];
};

/*
 * Sampled allocation sites (version 3). The agent samples allocations by
 * bytes: a per-thread countdown drawn from an exponential distribution with a
 * mean of sample_bytes, so a block of n bytes is sampled with probability
 * p = 1 - exp(-n / sample_bytes). Each sample is weighted by 1/p (objects) and
 * n/p (bytes): the sums below are unbiased estimates of the process's true
 * totals, for small and large blocks alike.
 *
 * A site is one call stack (frames[0] the innermost return address, the
 * allocator's own frames included; readers skip them). Estimated counts are
 * in units of 1/MEMTIDE_SEG_SITE_UNIT object. live_* go up at a sampled
 * allocation and down at its free (modulo 2^64: read them as signed, clamp at
 * 0); alloc_* only go up. Times are seconds on the segment's clock.
 */
#define MEMTIDE_SEG_MAX_SITES 1024
#define MEMTIDE_SEG_SITE_DEPTH 32
#define MEMTIDE_SEG_SITE_UNIT 256

/* site.state */
#define MEMTIDE_SEG_SITE_FREE 0u
#define MEMTIDE_SEG_SITE_CLAIMED 1u /* being written: skip */
#define MEMTIDE_SEG_SITE_READY 2u   /* hash, depth, frames, first_seen final (release) */

struct memtide_seg_site {
	uint64_t hash;		  /* const once READY: hash of frames[0, depth) */
	uint32_t state;		  /* MEMTIDE_SEG_SITE_* */
	uint32_t depth;		  /* const once READY: frames used, 1..site_depth */
	uint64_t first_seen;	  /* const once READY */
	uint64_t last_grew;	  /* last time live_bytes reached a new high */
	uint64_t peak_live_bytes; /* that high */
	uint64_t live_bytes;	  /* estimated bytes alive (signed, see above) */
	uint64_t live_objects;	  /* estimated objects alive, in 1/UNIT */
	uint64_t alloc_bytes;	  /* estimated bytes ever allocated */
	uint64_t alloc_objects;	  /* estimated objects ever allocated, in 1/UNIT */
	uint64_t reserved[3];
	uint64_t frames[MEMTIDE_SEG_SITE_DEPTH]; /* const once READY: return addresses */
};

/* pool.state */
#define MEMTIDE_SEG_POOL_FREE 0u
#define MEMTIDE_SEG_POOL_CLAIMED 1u /* being initialised: skip */
#define MEMTIDE_SEG_POOL_READY 2u   /* name and ttl are final (release store) */

/* pool.mode */
#define MEMTIDE_SEG_MODE_TICKETS 0u /* memtide_session_open/close: opened, closed, ages */
#define MEMTIDE_SEG_MODE_SET 1u	    /* memtide_sessions_set: set_live only, no ages */

/*
 * A session pool. Live sessions are opened - closed in ticket mode and set_live in
 * set mode (the last memtide_sessions_set() switches the pool to set mode).
 *
 * Ages: every open adds 1 and every close subtracts 1 to the count of the open
 * minute (the ticket carries it) in minutes[minute % age_minute_cells]. A cell
 * holding an older minute is recycled by CAS and its count moves to the hour ring
 * (hours[hour % age_hour_cells], hour = minute / 60), whose recycled cells move
 * into ancient_count. A close whose minute's cell was already recycled follows
 * the same path, so opens and closes of one session always meet in one place and
 * the rings need no thread to maintain them: at any time, with now on the
 * segment's clock, a live session opened in minute e is older than
 * now - (e + 1) * 60 seconds, one in hour h older than now - (h + 1) * 3600
 * seconds (always more than 86400: a minute cell is only recycled 1536 minutes
 * after its minute) and one in ancient_count older than 85 days.
 */
struct memtide_seg_pool {
	char name[MEMTIDE_SEG_POOL_NAME]; /* const once READY; NUL-terminated, NUL-padded */
	uint32_t state;			  /* MEMTIDE_SEG_POOL_* */
	uint32_t mode;			  /* MEMTIDE_SEG_MODE_* */
	uint64_t ttl_ms;		  /* const once READY: the pool's maximum idle time, ms */
	uint64_t opened;		  /* sessions opened (monotonic) */
	uint64_t closed;		  /* sessions closed with a valid ticket (monotonic) */
	int64_t set_live;		  /* the last memtide_sessions_set() value */
	uint64_t bad_closes;		  /* closes with an invalid ticket (ignored) */
	int64_t ancient_count;		  /* live sessions spilled out of the hour ring */
	uint64_t ancient_min_hour;	  /* the oldest hour ever spilled into ancient_count;
					     UINT64_MAX if none */
	uint64_t minutes[MEMTIDE_SEG_AGE_MINUTES]; /* MEMTIDE_SEG_CELL(minute, count) */
	uint64_t hours[MEMTIDE_SEG_AGE_HOURS];	   /* MEMTIDE_SEG_CELL(hour, count) */
};

/*
 * The age buckets of memtide_sessions_live_by_age, in seconds: the one
 * definition, for the agent's pools and for session directories alike
 * (collectors/session_families.h).
 */
#define MEMTIDE_SEG_AGE_BUCKETS 6
#define MEMTIDE_SEG_AGE_BUCKET_SECONDS                                                             \
	{                                                                                          \
		60, 300, 900, 3600, 14400, 86400                                                   \
	}

/* Whether a session `age` seconds old counts under the bucket `bound`
 * (older_than_seconds="bound"): at least that old. The one comparison of
 * every source; docs/metrics.md states it. */
static inline int memtide_seg_age_counts(double age, double bound)
{
	return age >= bound;
}

/* The layout the writer creates; readers must use the sizes from the header. */
#define MEMTIDE_SEG_SLOT_SIZE ((uint32_t)sizeof(struct memtide_seg_slot))
#define MEMTIDE_SEG_POOL_SIZE ((uint32_t)sizeof(struct memtide_seg_pool))
#define MEMTIDE_SEG_OVERFLOW_OFFSET ((uint64_t)sizeof(struct memtide_seg_header))
#define MEMTIDE_SEG_SLOT_OFFSET (MEMTIDE_SEG_OVERFLOW_OFFSET + MEMTIDE_SEG_SLOT_SIZE)
#define MEMTIDE_SEG_POOL_OFFSET                                                                    \
	(MEMTIDE_SEG_SLOT_OFFSET + (uint64_t)MEMTIDE_SEG_SLOTS * MEMTIDE_SEG_SLOT_SIZE)
#define MEMTIDE_SEG_SITE_SIZE ((uint32_t)sizeof(struct memtide_seg_site))
#define MEMTIDE_SEG_SITE_OFFSET                                                                    \
	(MEMTIDE_SEG_POOL_OFFSET + (uint64_t)MEMTIDE_SEG_MAX_POOLS * MEMTIDE_SEG_POOL_SIZE)
#define MEMTIDE_SEG_TOTAL_SIZE                                                                     \
	(MEMTIDE_SEG_SITE_OFFSET + (uint64_t)MEMTIDE_SEG_MAX_SITES * MEMTIDE_SEG_SITE_SIZE)

#ifndef __cplusplus
_Static_assert(sizeof(struct memtide_seg_header) == 256, "header is 256 bytes");
_Static_assert(offsetof(struct memtide_seg_header, flags) == 20, "flags at 20");
_Static_assert(offsetof(struct memtide_seg_header, total_size) == 24, "total_size at 24");
_Static_assert(offsetof(struct memtide_seg_header, start_time) == 40, "start_time at 40");
_Static_assert(offsetof(struct memtide_seg_header, heartbeat) == 64, "heartbeat at 64");
_Static_assert(offsetof(struct memtide_seg_header, slot_count) == 80, "slot_count at 80");
_Static_assert(offsetof(struct memtide_seg_header, pool_count) == 112, "pool_count at 112");
_Static_assert(offsetof(struct memtide_seg_header, mallinfo_seq) == 144, "seq at 144");
_Static_assert(offsetof(struct memtide_seg_header, mallinfo_interval) == 184, "interval at 184");
_Static_assert(offsetof(struct memtide_seg_header, site_offset) == 200, "sites at 200");
_Static_assert(offsetof(struct memtide_seg_header, samples_dropped) == 232, "dropped at 232");
_Static_assert(sizeof(struct memtide_seg_site) % 8 == 0, "sites stay 8-byte aligned");
_Static_assert(sizeof(struct memtide_seg_slot) == MEMTIDE_SEG_CACHELINE, "slot = cache line");
_Static_assert(offsetof(struct memtide_seg_pool, state) == 64, "pool state at 64");
_Static_assert(offsetof(struct memtide_seg_pool, minutes) == 128, "minute ring at 128");
_Static_assert(sizeof(struct memtide_seg_pool) % 8 == 0, "pools stay 8-byte aligned");
_Static_assert(MEMTIDE_SEG_AGE_MINUTES *MEMTIDE_SEG_AGE_MINUTE_SECONDS >= 86400 + 3600,
	       "the minute ring covers the largest bucket and one hour");
_Static_assert(MEMTIDE_SEG_TOTAL_SIZE <= MEMTIDE_SEG_MAX_TOTAL_SIZE, "segment within bounds");
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMTIDE_SEGMENT_H */
