// SPDX-License-Identifier: MIT
/*
 * Validating segment reader (segment_read.h). Pure: no I/O, no allocation, no
 * global state. Every load from the buffer goes through ld32()/ld64() (one
 * relaxed atomic load each, so a concurrently written mapping is read without
 * tearing), and every offset is checked against len before use.
 */
#include <string.h>

#include "segment_read.h"
#include "site_read.h"

static const uint32_t age_bucket_seconds[MEMTIDE_SEG_AGE_BUCKETS] = MEMTIDE_SEG_AGE_BUCKET_SECONDS;

static uint64_t ld64(const unsigned char *base, uint64_t off)
{
	return __atomic_load_n((const uint64_t *)(const void *)(base + off), __ATOMIC_RELAXED);
}

static uint32_t ld32(const unsigned char *base, uint64_t off)
{
	return __atomic_load_n((const uint32_t *)(const void *)(base + off), __ATOMIC_RELAXED);
}

#define HDR(field) offsetof(struct memtide_seg_header, field)
#define SLOT(field) offsetof(struct memtide_seg_slot, field)
#define POOL(field) offsetof(struct memtide_seg_pool, field)

/* The checked geometry of a segment, copied out of the header once. */
struct layout {
	uint64_t total;
	uint32_t slot_count, slot_size, slots_used;
	uint64_t slot_offset, overflow_offset;
	uint32_t pool_count, pool_size, pools_used;
	uint64_t pool_offset;
	uint32_t minute_cells, hour_cells, minute_length;
	uint32_t bytes_overhead;
	uint64_t site_offset, site_len;
};

/* Is [off, off + size) inside [0, total) and aligned to align? */
static bool range_ok(uint64_t off, uint64_t size, uint64_t total, uint64_t align)
{
	return off % align == 0 && off <= total && size <= total - off;
}

/* Version 2 fields; a version 1 writer left them zero: counting. */
static void read_state(const unsigned char *b, struct memtide_seg_snapshot *out)
{
	uint32_t reason;

	out->agent_off = ld32(b, HDR(agent_state)) == MEMTIDE_SEG_STATE_OFF;
	reason = ld32(b, HDR(off_reason));
	if (out->agent_off && (reason == MEMTIDE_SEG_OFF_NONE || reason >= MEMTIDE_SEG_OFF_REASONS))
		reason = MEMTIDE_SEG_OFF_OTHER_ALLOCATOR;
	out->off_reason = out->agent_off ? reason : MEMTIDE_SEG_OFF_NONE;
}

const char *memtide_segment_off_reason(uint32_t reason)
{
	static const char *const names[MEMTIDE_SEG_OFF_REASONS] = MEMTIDE_SEG_OFF_NAMES;

	return reason < MEMTIDE_SEG_OFF_REASONS ? names[reason] : "other_allocator";
}

static int check_identity(const unsigned char *b, size_t len, uint32_t *version,
			  uint32_t *flags_out)
{
	uint32_t hsize, flags;

	if (len < sizeof(struct memtide_seg_header))
		return MEMTIDE_SEG_ETRUNCATED;
	if (ld64(b, HDR(magic)) != MEMTIDE_SEG_MAGIC)
		return MEMTIDE_SEG_EMAGIC;
	*version = ld32(b, HDR(version));
	if (ld32(b, HDR(compat_version)) > MEMTIDE_SEG_VERSION || *version == 0)
		return MEMTIDE_SEG_EVERSION;
	flags = __atomic_load_n((const uint32_t *)(const void *)(b + HDR(flags)), __ATOMIC_ACQUIRE);
	if (!(flags & MEMTIDE_SEG_FLAG_READY))
		return MEMTIDE_SEG_ENOTREADY;
	*flags_out = flags;
	hsize = ld32(b, HDR(header_size));
	if (hsize < sizeof(struct memtide_seg_header) || hsize > len)
		return MEMTIDE_SEG_ELAYOUT;
	return MEMTIDE_SEG_OK;
}

static int check_layout(const unsigned char *b, size_t len, struct layout *l)
{
	l->total = ld64(b, HDR(total_size));
	if (l->total > len)
		return MEMTIDE_SEG_ETRUNCATED;
	/* Smaller than its own header: a reader copies the header whole. */
	if (l->total > MEMTIDE_SEG_MAX_TOTAL_SIZE || l->total < sizeof(struct memtide_seg_header))
		return MEMTIDE_SEG_ELAYOUT;
	l->slot_count = ld32(b, HDR(slot_count));
	l->slot_size = ld32(b, HDR(slot_size));
	l->slot_offset = ld64(b, HDR(slot_offset));
	l->overflow_offset = ld64(b, HDR(overflow_offset));
	l->slots_used = ld32(b, HDR(slots_used));
	l->pool_count = ld32(b, HDR(pool_count));
	l->pool_size = ld32(b, HDR(pool_size));
	l->pool_offset = ld64(b, HDR(pool_offset));
	l->pools_used = ld32(b, HDR(pools_used));
	l->minute_cells = ld32(b, HDR(age_minute_cells));
	l->hour_cells = ld32(b, HDR(age_hour_cells));
	l->minute_length = ld32(b, HDR(age_minute_length));
	l->bytes_overhead = ld32(b, HDR(bytes_overhead));
	if (l->bytes_overhead > 64)
		return MEMTIDE_SEG_ELAYOUT;

	if (l->slot_count > MEMTIDE_SEG_SLOTS || l->slot_size < sizeof(struct memtide_seg_slot) ||
	    l->slot_size % 8 || l->slot_size > 4096 || l->slots_used > l->slot_count)
		return MEMTIDE_SEG_ELAYOUT;
	if (!range_ok(l->overflow_offset, l->slot_size, l->total, 8) ||
	    !range_ok(l->slot_offset, (uint64_t)l->slot_count * l->slot_size, l->total, 8))
		return MEMTIDE_SEG_ELAYOUT;
	/* The age rings are the writer's compile-time constants: a segment whose
	 * pools are shaped differently is not one this reader understands. */
	if (l->minute_cells != MEMTIDE_SEG_AGE_MINUTES || l->hour_cells != MEMTIDE_SEG_AGE_HOURS ||
	    l->minute_length != MEMTIDE_SEG_AGE_MINUTE_SECONDS)
		return MEMTIDE_SEG_ELAYOUT;
	if (l->pool_count > MEMTIDE_SEG_MAX_POOLS || l->pools_used > l->pool_count ||
	    l->pool_size < sizeof(struct memtide_seg_pool) || l->pool_size % 8 ||
	    l->pool_size > 2 * sizeof(struct memtide_seg_pool))
		return MEMTIDE_SEG_ELAYOUT;
	if (!range_ok(l->pool_offset, (uint64_t)l->pool_count * l->pool_size, l->total, 8))
		return MEMTIDE_SEG_ELAYOUT;
	/* Version 3: the site table (site_read.c), in bounds too. */
	return memtide_sites_extent(b, l->total, &l->site_offset, &l->site_len);
}

/* Sum the slots: every slot's frees before any slot's allocs, so that a block
 * freed while we read is never counted as freed but not allocated. */
static void read_slots(const unsigned char *b, const struct layout *l,
		       struct memtide_seg_snapshot *out)
{
	uint64_t off;
	uint32_t i;

	for (i = 0; i <= l->slot_count; i++) {
		off = i == l->slot_count ? l->overflow_offset
					 : l->slot_offset + (uint64_t)i * l->slot_size;
		out->frees += ld64(b, off + SLOT(frees));
		out->bytes_freed += ld64(b, off + SLOT(bytes_freed));
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (i = 0; i <= l->slot_count; i++) {
		off = i == l->slot_count ? l->overflow_offset
					 : l->slot_offset + (uint64_t)i * l->slot_size;
		out->allocs += ld64(b, off + SLOT(allocs));
		out->bytes_allocated += ld64(b, off + SLOT(bytes_allocated));
	}
	/* From chunk bytes to usable bytes (segment.h, struct memtide_seg_slot). */
	out->bytes_allocated -= (uint64_t)l->bytes_overhead * out->allocs;
	out->bytes_freed -= (uint64_t)l->bytes_overhead * out->frees;
	out->live_objects = out->allocs >= out->frees ? out->allocs - out->frees : 0;
	out->live_bytes =
	    out->bytes_allocated >= out->bytes_freed ? out->bytes_allocated - out->bytes_freed : 0;
	out->threads = l->slots_used;
}

/* Copy the mallinfo snapshot under its seqlock, at most max_retries + 1 tries. */
static int read_mallinfo(const unsigned char *b, unsigned max_retries,
			 struct memtide_seg_snapshot *out)
{
	const uint64_t *seqp = (const uint64_t *)(const void *)(b + HDR(mallinfo_seq));
	uint64_t s1, s2;
	unsigned tries;

	for (tries = 0; tries <= max_retries; tries++) {
		s1 = __atomic_load_n(seqp, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		out->heap_system_bytes = ld64(b, HDR(mallinfo_system));
		out->heap_free_bytes = ld64(b, HDR(mallinfo_free));
		out->heap_releasable_bytes = ld64(b, HDR(mallinfo_releasable));
		out->mallinfo_taken_at = ld64(b, HDR(mallinfo_taken_at));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(seqp, __ATOMIC_RELAXED);
		if (s1 == s2) {
			out->has_mallinfo = s1 != 0;
			return MEMTIDE_SEG_OK;
		}
	}
	return MEMTIDE_SEG_EBUSY;
}

/* Copy and check a pool name: NUL-terminated within the field, non-empty,
 * printable ASCII (the exporter puts it into a label value). */
static bool read_name(const unsigned char *b, uint64_t off, char name[MEMTIDE_SEG_POOL_NAME])
{
	size_t i;

	for (i = 0; i < MEMTIDE_SEG_POOL_NAME; i++)
		name[i] = (char)__atomic_load_n(b + off + i, __ATOMIC_RELAXED);
	for (i = 0; i < MEMTIDE_SEG_POOL_NAME && name[i] != '\0'; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return i > 0 && i < MEMTIDE_SEG_POOL_NAME;
}

/* Add count live sessions, each older than age seconds, to the buckets. */
static void age_account(struct memtide_seg_pool_snapshot *p, int64_t *sums, int64_t *oldest,
			int64_t age, int64_t count)
{
	int k;

	if (count == 0)
		return;
	if (age < 0)
		age = 0;
	for (k = 0; k < MEMTIDE_SEG_AGE_BUCKETS; k++)
		if (memtide_seg_age_counts((double)age, age_bucket_seconds[k]))
			sums[k] += count;
	if (count > 0 && age > *oldest)
		*oldest = age;
	(void)p;
}

/* Compute the age buckets of a ticket-mode pool from its rings. */
static void read_ages(const unsigned char *b, uint64_t off, int64_t now,
		      struct memtide_seg_pool_snapshot *p)
{
	int64_t sums[MEMTIDE_SEG_AGE_BUCKETS] = {0}, oldest = -1, count;
	uint64_t w, min_hour;
	uint32_t i;
	int k;

	for (i = 0; i < MEMTIDE_SEG_AGE_MINUTES; i++) {
		w = ld64(b, off + POOL(minutes) + 8 * (uint64_t)i);
		age_account(p, sums, &oldest,
			    now - ((int64_t)MEMTIDE_SEG_CELL_EPOCH(w) + 1) *
				      MEMTIDE_SEG_AGE_MINUTE_SECONDS,
			    MEMTIDE_SEG_CELL_COUNT(w));
	}
	for (i = 0; i < MEMTIDE_SEG_AGE_HOURS; i++) {
		w = ld64(b, off + POOL(hours) + 8 * (uint64_t)i);
		age_account(p, sums, &oldest, now - ((int64_t)MEMTIDE_SEG_CELL_EPOCH(w) + 1) * 3600,
			    MEMTIDE_SEG_CELL_COUNT(w));
	}
	count = (int64_t)ld64(b, off + POOL(ancient_count));
	min_hour = ld64(b, off + POOL(ancient_min_hour));
	/* Negative while a close overtakes the spill of its open; min_hour is
	 * unset until a positive count arrives: then everything there is old. */
	if (count != 0)
		age_account(p, sums, &oldest,
			    min_hour < UINT32_MAX ? now - ((int64_t)min_hour + 1) * 3600 : now,
			    count);

	p->has_ages = true;
	for (k = 0; k < MEMTIDE_SEG_AGE_BUCKETS; k++) {
		if (sums[k] < 0)
			sums[k] = 0;
		p->live_by_age[k] = (uint64_t)sums[k] < p->live ? (uint64_t)sums[k] : p->live;
	}
	p->oldest_age_seconds = p->live && oldest > 0 ? (uint64_t)oldest : 0;
}

static int read_pool(const unsigned char *b, uint64_t off, int64_t now,
		     struct memtide_seg_pool_snapshot *p)
{
	int64_t set_live;

	memset(p, 0, sizeof(*p));
	if (!read_name(b, off + POOL(name), p->name))
		return MEMTIDE_SEG_EPOOL;
	p->mode = ld32(b, off + POOL(mode));
	if (p->mode != MEMTIDE_SEG_MODE_TICKETS && p->mode != MEMTIDE_SEG_MODE_SET)
		return MEMTIDE_SEG_EPOOL;
	p->ttl_seconds = (double)ld64(b, off + POOL(ttl_ms)) / 1000.0;
	p->bad_closes = ld64(b, off + POOL(bad_closes));
	if (p->mode == MEMTIDE_SEG_MODE_SET) {
		set_live = (int64_t)ld64(b, off + POOL(set_live));
		p->live = set_live > 0 ? (uint64_t)set_live : 0;
		return MEMTIDE_SEG_OK;
	}
	/* closed first: a session closed while we read is never counted closed
	 * but not opened. */
	p->closed = ld64(b, off + POOL(closed));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	p->opened = ld64(b, off + POOL(opened));
	p->live = p->opened >= p->closed ? p->opened - p->closed : 0;
	read_ages(b, off, now, p);
	return MEMTIDE_SEG_OK;
}

static int read_pools(const unsigned char *b, const struct layout *l, int64_t now,
		      struct memtide_seg_snapshot *out)
{
	uint64_t off;
	uint32_t i;
	int err;

	for (i = 0; i < l->pools_used; i++) {
		off = l->pool_offset + (uint64_t)i * l->pool_size;
		if (__atomic_load_n((const uint32_t *)(const void *)(b + off + POOL(state)),
				    __ATOMIC_ACQUIRE) != MEMTIDE_SEG_POOL_READY)
			continue;
		err = read_pool(b, off, now, &out->pools[out->pool_count]);
		if (err)
			return err;
		out->pool_count++;
	}
	return MEMTIDE_SEG_OK;
}

enum memtide_seg_error memtide_segment_read(const void *buf, size_t len, uint64_t now,
					    unsigned max_retries, struct memtide_seg_snapshot *out)
{
	const unsigned char *b = buf;
	struct layout l;
	int err;

	memset(out, 0, sizeof(*out));
	if (!buf || (uintptr_t)buf % 8)
		return MEMTIDE_SEG_EALIGN;
	err = check_identity(b, len, &out->version, &out->flags);
	if (err)
		return err;
	read_state(b, out);
	err = check_layout(b, len, &l);
	if (err)
		return err;
	out->pid = ld32(b, HDR(pid));
	out->start_time = ld64(b, HDR(start_time));
	out->created_at = ld64(b, HDR(created_at));
	out->clock_offset = (int64_t)ld64(b, HDR(clock_offset));
	out->heartbeat = ld64(b, HDR(heartbeat));
	out->heartbeat_at = ld64(b, HDR(heartbeat_at));
	/* Clamp so that a hostile offset cannot overflow the age arithmetic. */
	if (out->clock_offset > (1ll << 40) || out->clock_offset < -(1ll << 40) ||
	    now > (1ull << 40))
		return MEMTIDE_SEG_ELAYOUT;
	read_slots(b, &l, out);
	err = read_mallinfo(b, max_retries, out);
	if (err)
		return err;
	/* The snapshot is taken from the allocation path (refresh.c): a process
	 * that went idle after growing has an older one. The heap holds at least
	 * the live blocks, so that is the better lower bound then. */
	if (out->has_mallinfo && out->heap_system_bytes < out->live_bytes)
		out->heap_system_bytes = out->live_bytes;
	return read_pools(b, &l, (int64_t)now + out->clock_offset, out);
}

enum memtide_seg_error memtide_segment_check_header(const void *hdr, size_t file_len,
						    struct memtide_seg_extents *out)
{
	const unsigned char *b = hdr;
	uint32_t version, flags;
	struct layout l;
	int err;

	memset(out, 0, sizeof(*out));
	if (!hdr || (uintptr_t)hdr % 8)
		return MEMTIDE_SEG_EALIGN;
	/* Both checks load header fields only; lengths are compared with file_len. */
	err = check_identity(b, file_len, &version, &flags);
	if (err)
		return err;
	err = check_layout(b, file_len, &l);
	if (err)
		return err;
	out->total = l.total;
	out->off[0] = l.overflow_offset;
	out->len[0] = l.slot_size;
	out->off[1] = l.slot_offset;
	out->len[1] = (uint64_t)l.slots_used * l.slot_size;
	out->off[2] = l.pool_offset;
	out->len[2] = (uint64_t)l.pools_used * l.pool_size;
	out->off[3] = l.site_offset;
	out->len[3] = l.site_len;
	out->used = sizeof(struct memtide_seg_header) + out->len[0] + out->len[1] + out->len[2] +
		    out->len[3];
	return MEMTIDE_SEG_OK;
}

const char *memtide_segment_strerror(enum memtide_seg_error err)
{
	switch (err) {
	case MEMTIDE_SEG_OK:
		return "ok";
	case MEMTIDE_SEG_EALIGN:
		return "alignment";
	case MEMTIDE_SEG_ETRUNCATED:
		return "truncated";
	case MEMTIDE_SEG_EMAGIC:
		return "magic";
	case MEMTIDE_SEG_EVERSION:
		return "version";
	case MEMTIDE_SEG_ENOTREADY:
		return "not_ready";
	case MEMTIDE_SEG_ELAYOUT:
		return "layout";
	case MEMTIDE_SEG_EPOOL:
		return "pool";
	case MEMTIDE_SEG_EBUSY:
		return "seqlock_retries";
	}
	return "unknown";
}
