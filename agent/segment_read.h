// SPDX-License-Identifier: MIT
/*
 * Validating reader of libmemtide segments (segment.h): a pure function of a byte
 * buffer and its length, for the exporter's agent collector, the dump tool, the
 * unit tests and the fuzzer. It performs no I/O and allocates nothing; opening the
 * file safely (O_NOFOLLOW, fstat: regular file, owner uid, size) and mapping or
 * reading it is the caller's job.
 *
 * The buffer may be a live MAP_SHARED mapping that the writer keeps changing, or
 * hostile bytes: every field is loaded once, checked, and only the checked copy is
 * used, so no value read from the buffer can make the reader touch memory outside
 * [buf, buf + len).
 */
#ifndef MEMTIDE_SEGMENT_READ_H
#define MEMTIDE_SEGMENT_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Why a segment was rejected: the reader's own verdict, typed apart from
 * errno values so that the two are never mixed in one int. The exporter
 * turns a verdict into a reason label for memtide_scrape_errors_total
 * (memtide_segment_strerror()) and an errno of its own where it reads it.
 */
enum memtide_seg_error {
	MEMTIDE_SEG_OK = 0,
	MEMTIDE_SEG_EALIGN = -1,     /* buf is not 8-byte aligned */
	MEMTIDE_SEG_ETRUNCATED = -2, /* shorter than its header or its total_size */
	MEMTIDE_SEG_EMAGIC = -3,
	MEMTIDE_SEG_EVERSION = -4,  /* compat_version newer than this reader */
	MEMTIDE_SEG_ENOTREADY = -5, /* the writer has not finished creating it */
	MEMTIDE_SEG_ELAYOUT = -6,   /* a size, count or offset out of bounds */
	MEMTIDE_SEG_EPOOL = -7,	    /* a pool name not NUL-terminated or not printable */
	MEMTIDE_SEG_EBUSY = -8,	    /* seqlock retries exhausted */
};

/* Sessions of one pool. */
struct memtide_seg_pool_snapshot {
	char name[MEMTIDE_SEG_POOL_NAME]; /* NUL-terminated, printable ASCII, non-empty */
	uint32_t mode;			  /* MEMTIDE_SEG_MODE_* */
	double ttl_seconds;
	uint64_t opened;     /* ticket mode: sessions opened; 0 in set mode */
	uint64_t closed;     /* ticket mode: sessions closed; 0 in set mode */
	uint64_t live;	     /* opened - closed, or set_live (negative clamped to 0) */
	uint64_t bad_closes; /* closes with an invalid ticket */
	/* Ticket mode only: live sessions older than MEMTIDE_SEG_AGE_BUCKET_SECONDS. */
	bool has_ages;
	uint64_t live_by_age[MEMTIDE_SEG_AGE_BUCKETS];
	/* Lower bound on the oldest live session's age (minute or hour resolution);
	 * 0 when there is none. */
	uint64_t oldest_age_seconds;
};

/* A consistent copy of one segment. */
struct memtide_seg_snapshot {
	uint32_t version;
	uint32_t flags;
	uint32_t pid;
	uint64_t start_time; /* clock ticks since boot, /proc/<pid>/stat field 22 */
	uint64_t created_at;
	int64_t clock_offset;
	uint64_t heartbeat;
	uint64_t heartbeat_at;

	uint64_t allocs;
	uint64_t frees;
	uint64_t bytes_allocated; /* usable bytes (bytes_overhead already taken off) */
	uint64_t bytes_freed;
	uint64_t live_objects; /* allocs - frees, 0 if transiently negative */
	uint64_t live_bytes;   /* bytes_allocated - bytes_freed, likewise */
	uint32_t threads;      /* per-thread slots claimed (high-water) */

	/* Version 2: the agent is off in this process (counts are all 0), and
	 * why: MEMTIDE_SEG_OFF_*, an unknown code read as OTHER_ALLOCATOR. */
	bool agent_off;
	uint32_t off_reason;

	bool has_mallinfo;
	/* At least live_bytes: a snapshot older than the latest allocations is
	 * raised to them (the heap holds at least its live blocks). */
	uint64_t heap_system_bytes;
	uint64_t heap_free_bytes;
	uint64_t heap_releasable_bytes;
	uint64_t mallinfo_taken_at;

	uint32_t pool_count; /* valid entries in pools[] */
	struct memtide_seg_pool_snapshot pools[MEMTIDE_SEG_MAX_POOLS];
};

/*
 * Validate the segment in buf[0, len) and copy it into *out. now is the reader's
 * clock (the header's clock_id, CLOCK_BOOTTIME) in seconds, without the segment's
 * clock_offset, which this function adds. max_retries bounds the seqlock retries
 * for the mallinfo snapshot. Returns 0 or a negative enum memtide_seg_error; *out
 * is meaningful only on 0.
 */
enum memtide_seg_error memtide_segment_read(const void *buf, size_t len, uint64_t now,
					    unsigned max_retries, struct memtide_seg_snapshot *out);

/* The parts of a segment a reader needs besides its header, from a checked header. */
struct memtide_seg_extents {
	uint64_t total;		 /* total_size: <= the file's length */
	uint64_t off[4], len[4]; /* overflow slot, used slots, used pools, used sites
				    (version 3); inside total */
	uint64_t used;		 /* the header and the three ranges: what a copy costs */
};

/*
 * Validate just the header (sizeof(struct memtide_seg_header) bytes at hdr,
 * 8-byte aligned) of a file of file_len bytes, before anything else of the
 * file is read, and say which ranges memtide_segment_read will look at. A
 * hostile header cannot make a reader copy more than a well-formed one of the
 * largest shape. Returns 0 or a negative enum memtide_seg_error.
 */
enum memtide_seg_error memtide_segment_check_header(const void *hdr, size_t file_len,
						    struct memtide_seg_extents *out);

/* The label of an off_reason ("jemalloc", ...). */
const char *memtide_segment_off_reason(uint32_t reason);

/* The reason label of an error from memtide_segment_read ("truncated", ...). */
const char *memtide_segment_strerror(enum memtide_seg_error err);

#ifdef __cplusplus
}
#endif

#endif /* MEMTIDE_SEGMENT_READ_H */
