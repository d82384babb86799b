// SPDX-License-Identifier: MIT
/*
 * Site table reader (site_read.h). Every load is one relaxed atomic load;
 * every offset is checked against the file's length before use.
 */
#include <string.h>

#include "segment_read.h"
#include "site_read.h"

#define HDR(field) offsetof(struct memtide_seg_header, field)
#define SITE(field) offsetof(struct memtide_seg_site, field)

static uint64_t ld64(const unsigned char *b, uint64_t off)
{
	return __atomic_load_n((const uint64_t *)(const void *)(b + off), __ATOMIC_RELAXED);
}

static uint32_t ld32(const unsigned char *b, uint64_t off)
{
	return __atomic_load_n((const uint32_t *)(const void *)(b + off), __ATOMIC_RELAXED);
}

struct site_layout {
	uint64_t offset;
	uint32_t count, size, depth, used;
};

/* 0 with count 0 for a segment without sites; ELAYOUT when out of bounds. */
static int site_layout(const unsigned char *b, uint64_t total, struct site_layout *l)
{
	memset(l, 0, sizeof(*l));
	if (ld32(b, HDR(version)) < 3)
		return MEMTIDE_SEG_OK;
	l->offset = ld64(b, HDR(site_offset));
	l->count = ld32(b, HDR(site_count));
	l->size = ld32(b, HDR(site_size));
	l->depth = ld32(b, HDR(site_depth));
	l->used = ld32(b, HDR(sites_used));
	if (l->count == 0)
		return MEMTIDE_SEG_OK;
	if (l->count > MEMTIDE_SEG_MAX_SITES * 16u || l->size < sizeof(struct memtide_seg_site) ||
	    l->size % 8 || l->size > 16 * sizeof(struct memtide_seg_site) || l->depth == 0 ||
	    (uint64_t)l->depth * 8 > l->size - SITE(frames))
		return MEMTIDE_SEG_ELAYOUT;
	if (l->offset % 8 || l->offset > total || (uint64_t)l->count * l->size > total - l->offset)
		return MEMTIDE_SEG_ELAYOUT;
	if (l->used > l->count)
		l->used = l->count;
	return MEMTIDE_SEG_OK;
}

int memtide_sites_extent(const void *hdr, uint64_t total, uint64_t *off, uint64_t *len)
{
	struct site_layout l;
	int err = site_layout(hdr, total, &l);

	*off = *len = 0;
	if (err)
		return err;
	*off = l.offset;
	*len = (uint64_t)l.used * l.size;
	return MEMTIDE_SEG_OK;
}

/* Estimated counts are stored modulo 2^64 and may be transiently negative. */
static uint64_t clamp(uint64_t v)
{
	return (int64_t)v < 0 ? 0 : v;
}

static bool read_site(const unsigned char *b, uint64_t off, uint32_t max_depth,
		      struct memtide_site_snapshot *s)
{
	uint32_t i;

	if (__atomic_load_n((const uint32_t *)(const void *)(b + off + SITE(state)),
			    __ATOMIC_ACQUIRE) != MEMTIDE_SEG_SITE_READY)
		return false;
	s->depth = ld32(b, off + SITE(depth));
	if (s->depth == 0 || s->depth > max_depth || s->depth > MEMTIDE_SEG_SITE_DEPTH)
		return false;
	for (i = 0; i < s->depth; i++)
		s->frames[i] = ld64(b, off + SITE(frames) + 8ull * i);
	s->first_seen = ld64(b, off + SITE(first_seen));
	s->last_grew = ld64(b, off + SITE(last_grew));
	s->live_bytes = clamp(ld64(b, off + SITE(live_bytes)));
	s->alloc_bytes = ld64(b, off + SITE(alloc_bytes));
	s->live_objects = (double)clamp(ld64(b, off + SITE(live_objects))) / MEMTIDE_SEG_SITE_UNIT;
	s->alloc_objects = (double)ld64(b, off + SITE(alloc_objects)) / MEMTIDE_SEG_SITE_UNIT;
	return true;
}

int memtide_sites_read(const void *buf, size_t len, struct memtide_site_snapshot *out, uint32_t max,
		       struct memtide_sites_info *info)
{
	const unsigned char *b = buf;
	struct site_layout l;
	uint64_t total;
	uint32_t i;
	int err;

	memset(info, 0, sizeof(*info));
	if (!buf || (uintptr_t)buf % 8)
		return MEMTIDE_SEG_EALIGN;
	if (len < sizeof(struct memtide_seg_header))
		return MEMTIDE_SEG_ETRUNCATED;
	total = ld64(b, HDR(total_size));
	if (total > len)
		return MEMTIDE_SEG_ETRUNCATED;
	err = site_layout(b, total, &l);
	if (err || l.count == 0)
		return err;
	info->sample_bytes = ld64(b, HDR(sample_bytes));
	info->samples_dropped = ld64(b, HDR(samples_dropped));
	for (i = 0; i < l.used; i++) {
		if (info->count < max &&
		    read_site(b, l.offset + (uint64_t)i * l.size, l.depth, &out[info->count]))
			info->count++;
		else
			info->skipped++;
	}
	return MEMTIDE_SEG_OK;
}
