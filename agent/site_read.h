// SPDX-License-Identifier: MIT
/*
 * Validating reader of the site table of a libmemtide segment (segment.h,
 * version 3): pure, no I/O, no allocation, every field loaded once and checked,
 * like segment_read.h, whose rules it follows. A segment older than version 3
 * has no sites: zero sites, not an error.
 */
#ifndef MEMTIDE_SITE_READ_H
#define MEMTIDE_SITE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One site as read, estimates in bytes and objects (weights applied). */
struct memtide_site_snapshot {
	uint32_t depth; /* 1..MEMTIDE_SEG_SITE_DEPTH */
	uint64_t frames[MEMTIDE_SEG_SITE_DEPTH];
	uint64_t first_seen, last_grew; /* seconds on the segment's clock */
	uint64_t live_bytes, alloc_bytes;
	double live_objects, alloc_objects;
};

struct memtide_sites_info {
	uint64_t sample_bytes;	  /* 0: the writer does not sample */
	uint64_t samples_dropped; /* as the writer counted them */
	uint32_t count;		  /* sites copied to the caller's array */
	uint32_t skipped;	  /* sites not ready, malformed or beyond the array */
};

/*
 * The range of the file that holds the sites in use, from a header already
 * checked by memtide_segment_check_header() (buf: that header, 8-byte
 * aligned; total: its total_size). 0 and *len = 0 for segments without sites;
 * negative enum memtide_seg_error if the site geometry is out of bounds.
 */
int memtide_sites_extent(const void *hdr, uint64_t total, uint64_t *off, uint64_t *len);

/*
 * Read up to max sites of the segment in buf[0, len) (checked as a whole by
 * memtide_segment_read() first) into out[]. Returns 0 or a negative enum
 * memtide_seg_error.
 */
int memtide_sites_read(const void *buf, size_t len, struct memtide_site_snapshot *out, uint32_t max,
		       struct memtide_sites_info *info);

#ifdef __cplusplus
}
#endif

#endif /* MEMTIDE_SITE_READ_H */
