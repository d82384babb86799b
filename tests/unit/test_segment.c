// SPDX-License-Identifier: MIT
/*
 * Unit tests for the segment reader (agent/segment_read.c): a valid segment is
 * read exactly, and every kind of damage is rejected with its reason, without
 * reading outside the buffer (each buffer is a heap block of exactly the length
 * given, so that the ASan build catches any stray read).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/segment_read.h"
#include "agent/site_read.h"

#define NOW 400000000u /* reader clock, seconds (12 years of uptime) */

static struct memtide_seg_snapshot snap;

static struct memtide_seg_header *hdr(void *buf)
{
	return buf;
}

static struct memtide_seg_slot *slot(void *buf, uint32_t i)
{
	return (struct memtide_seg_slot *)((char *)buf + MEMTIDE_SEG_SLOT_OFFSET) + i;
}

static struct memtide_seg_slot *overflow(void *buf)
{
	return (struct memtide_seg_slot *)((char *)buf + MEMTIDE_SEG_OVERFLOW_OFFSET);
}

static struct memtide_seg_pool *pool(void *buf, uint32_t i)
{
	return (struct memtide_seg_pool *)((char *)buf + MEMTIDE_SEG_POOL_OFFSET) + i;
}

/* A valid segment as the agent writes it, with one ticket pool "web". */
static void *make_segment(void)
{
	void *buf = calloc(1, MEMTIDE_SEG_TOTAL_SIZE);
	struct memtide_seg_header *h = buf;
	struct memtide_seg_pool *p;

	assert_non_null(buf);
	h->magic = MEMTIDE_SEG_MAGIC;
	h->version = MEMTIDE_SEG_VERSION;
	h->compat_version = MEMTIDE_SEG_COMPAT_VERSION;
	h->header_size = sizeof(*h);
	h->flags = MEMTIDE_SEG_FLAG_READY;
	h->total_size = MEMTIDE_SEG_TOTAL_SIZE;
	h->pid = 4242;
	h->clock_id = 7;
	h->start_time = 99;
	h->slot_count = MEMTIDE_SEG_SLOTS;
	h->slot_size = MEMTIDE_SEG_SLOT_SIZE;
	h->slot_offset = MEMTIDE_SEG_SLOT_OFFSET;
	h->overflow_offset = MEMTIDE_SEG_OVERFLOW_OFFSET;
	h->slots_used = 2;
	h->pool_count = MEMTIDE_SEG_MAX_POOLS;
	h->pool_size = MEMTIDE_SEG_POOL_SIZE;
	h->pool_offset = MEMTIDE_SEG_POOL_OFFSET;
	h->pools_used = 1;
	h->age_minute_cells = MEMTIDE_SEG_AGE_MINUTES;
	h->age_hour_cells = MEMTIDE_SEG_AGE_HOURS;
	h->age_minute_length = MEMTIDE_SEG_AGE_MINUTE_SECONDS;
	h->mallinfo_seq = 2;
	h->mallinfo_system = 1000;
	h->mallinfo_free = 200;
	h->mallinfo_releasable = 50;

	*slot(buf, 0) = (struct memtide_seg_slot){
	    .allocs = 10, .frees = 4, .bytes_allocated = 1000, .bytes_freed = 400};
	*slot(buf, 1) = (struct memtide_seg_slot){
	    .allocs = 5, .frees = 8, .bytes_allocated = 500, .bytes_freed = 800};
	*overflow(buf) = (struct memtide_seg_slot){
	    .allocs = 3, .frees = 1, .bytes_allocated = 30, .bytes_freed = 10};
	p = pool(buf, 0);
	strcpy(p->name, "web");
	p->state = MEMTIDE_SEG_POOL_READY;
	p->mode = MEMTIDE_SEG_MODE_TICKETS;
	p->ttl_ms = 1800000;
	p->ancient_min_hour = UINT64_MAX;
	return buf;
}

/* Read the first len bytes of buf from an exact-size copy. */
static int read_prefix(const void *buf, size_t len, unsigned retries)
{
	void *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	err = memtide_segment_read(copy, len, NOW, retries, &snap);
	free(copy);
	return err;
}

static int read_all(const void *buf)
{
	return read_prefix(buf, MEMTIDE_SEG_TOTAL_SIZE, 3);
}

static void test_valid(void **state)
{
	void *buf = make_segment();

	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pid, 4242);
	assert_int_equal(snap.start_time, 99);
	assert_int_equal(snap.allocs, 18);
	assert_int_equal(snap.frees, 13);
	assert_int_equal(snap.live_objects, 5);
	assert_int_equal(snap.live_bytes, 320);
	assert_int_equal(snap.threads, 2);
	assert_true(snap.has_mallinfo);
	assert_int_equal(snap.heap_system_bytes, 1000);
	assert_int_equal(snap.heap_free_bytes, 200);
	assert_int_equal(snap.heap_releasable_bytes, 50);
	assert_int_equal(snap.pool_count, 1);
	assert_string_equal(snap.pools[0].name, "web");
	assert_true(snap.pools[0].ttl_seconds == 1800.0);
	assert_int_equal(snap.pools[0].live, 0);
	free(buf);
}

/* Slots counting chunk bytes: the reader takes the overhead off per block. */
static void test_bytes_overhead(void **state)
{
	void *buf = make_segment();

	hdr(buf)->bytes_overhead = 8;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.bytes_allocated, 1530 - 8 * 18);
	assert_int_equal(snap.bytes_freed, 1210 - 8 * 13);
	assert_int_equal(snap.live_bytes, 320 - 8 * 5);
	hdr(buf)->bytes_overhead = 65;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	free(buf);
}

static void test_truncated(void **state)
{
	void *buf = make_segment();
	size_t len;

	for (len = 0; len < sizeof(struct memtide_seg_header); len += 7)
		assert_int_equal(read_prefix(buf, len, 3), MEMTIDE_SEG_ETRUNCATED);
	/* A whole header but not the whole file. */
	for (len = sizeof(struct memtide_seg_header); len < MEMTIDE_SEG_TOTAL_SIZE; len += 65536)
		assert_int_equal(read_prefix(buf, len, 3), MEMTIDE_SEG_ETRUNCATED);
	assert_int_equal(read_prefix(buf, MEMTIDE_SEG_TOTAL_SIZE - 1, 3), MEMTIDE_SEG_ETRUNCATED);
	free(buf);
}

static void test_magic_version_ready(void **state)
{
	void *buf = make_segment();

	hdr(buf)->magic ^= 1;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EMAGIC);
	hdr(buf)->magic ^= 1;

	hdr(buf)->compat_version = MEMTIDE_SEG_VERSION + 1;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EVERSION);
	/* A newer writer that older readers can still read is accepted. */
	hdr(buf)->compat_version = MEMTIDE_SEG_VERSION;
	hdr(buf)->version = MEMTIDE_SEG_VERSION + 5;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	hdr(buf)->version = 0;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EVERSION);
	hdr(buf)->version = MEMTIDE_SEG_VERSION;

	hdr(buf)->flags = 0;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ENOTREADY);
	free(buf);
}

static void test_absurd_counts(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_header *h = hdr(buf);

	h->slot_count = 1u << 30;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slot_count = MEMTIDE_SEG_SLOTS;
	h->slots_used = MEMTIDE_SEG_SLOTS + 1;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slots_used = 2;
	h->slot_size = 0;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slot_size = UINT32_MAX;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slot_size = MEMTIDE_SEG_SLOT_SIZE;
	h->pool_count = 1000;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->pool_count = MEMTIDE_SEG_MAX_POOLS;
	h->pools_used = MEMTIDE_SEG_MAX_POOLS + 1;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->pools_used = 1;
	h->pool_size = 8;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->pool_size = MEMTIDE_SEG_POOL_SIZE;
	h->age_minute_cells = 1;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->age_minute_cells = MEMTIDE_SEG_AGE_MINUTES;
	h->header_size = 8;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->header_size = UINT32_MAX;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->header_size = sizeof(*h);
	h->clock_offset = INT64_MIN;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->clock_offset = 0;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	free(buf);
}

static void test_offsets_past_the_end(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_header *h = hdr(buf);

	h->total_size = UINT64_MAX;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ETRUNCATED);
	h->total_size = MEMTIDE_SEG_TOTAL_SIZE;

	h->slot_offset = MEMTIDE_SEG_TOTAL_SIZE;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slot_offset = UINT64_MAX - 7; /* offset + size wraps */
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slot_offset = MEMTIDE_SEG_SLOT_OFFSET + 4; /* misaligned */
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->slot_offset = MEMTIDE_SEG_SLOT_OFFSET;

	h->overflow_offset = MEMTIDE_SEG_TOTAL_SIZE - 8;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->overflow_offset = MEMTIDE_SEG_OVERFLOW_OFFSET;

	h->total_size = MEMTIDE_SEG_SITE_OFFSET;      /* a file without sites, pools last */
	h->pool_offset = MEMTIDE_SEG_POOL_OFFSET + 8; /* last pool runs past the end */
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->total_size = MEMTIDE_SEG_TOTAL_SIZE;
	h->pool_offset = UINT64_MAX & ~7ull;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT);
	h->pool_offset = MEMTIDE_SEG_POOL_OFFSET;

	/* A smaller file that says so is fine if everything fits. */
	h->pool_count = 1;
	h->total_size = MEMTIDE_SEG_POOL_OFFSET + MEMTIDE_SEG_POOL_SIZE;
	assert_int_equal(read_prefix(buf, h->total_size, 3), MEMTIDE_SEG_OK);
	h->pool_count = 2;
	assert_int_equal(read_prefix(buf, h->total_size, 3), MEMTIDE_SEG_ELAYOUT);
	free(buf);
}

static struct memtide_site_snapshot site_out[4];

/* A version 3 segment with one ready site and one being written. */
static void *make_sites(void)
{
	void *buf = make_segment();
	struct memtide_seg_header *h = hdr(buf);
	struct memtide_seg_site *t =
	    (struct memtide_seg_site *)((char *)buf + MEMTIDE_SEG_SITE_OFFSET);

	h->site_offset = MEMTIDE_SEG_SITE_OFFSET;
	h->site_count = MEMTIDE_SEG_MAX_SITES;
	h->site_size = MEMTIDE_SEG_SITE_SIZE;
	h->site_depth = MEMTIDE_SEG_SITE_DEPTH;
	h->sites_used = 2;
	h->sample_bytes = 524288;
	t[0].state = MEMTIDE_SEG_SITE_READY;
	t[0].depth = 2;
	t[0].frames[0] = 0x1000;
	t[0].frames[1] = 0x2000;
	t[0].live_bytes = 4096;
	t[0].live_objects = 2 * MEMTIDE_SEG_SITE_UNIT;
	t[0].alloc_bytes = 8192;
	t[1].state = MEMTIDE_SEG_SITE_CLAIMED;
	return buf;
}

static void test_sites(void **state)
{
	void *buf = make_sites();
	struct memtide_seg_header *h = hdr(buf);
	struct memtide_seg_site *t =
	    (struct memtide_seg_site *)((char *)buf + MEMTIDE_SEG_SITE_OFFSET);
	struct memtide_sites_info info;

	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info), 0);
	assert_int_equal(info.count, 1);
	assert_int_equal(info.skipped, 1); /* the one being written */
	assert_int_equal(site_out[0].depth, 2);
	assert_int_equal(site_out[0].frames[1], 0x2000);
	assert_int_equal(site_out[0].live_bytes, 4096);
	assert_true(site_out[0].live_objects == 2.0);

	/* Transiently negative (a free overtook its allocation): clamped. */
	t[0].live_bytes = (uint64_t)-5;
	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info), 0);
	assert_int_equal(site_out[0].live_bytes, 0);

	/* A depth beyond the table's is not read. */
	t[0].depth = MEMTIDE_SEG_SITE_DEPTH + 1;
	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info), 0);
	assert_int_equal(info.count, 0);
	t[0].depth = 2;

	/* sites_used beyond site_count is clamped, not trusted. */
	h->sites_used = UINT32_MAX;
	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info), 0);
	assert_true(info.count <= 4);
	h->sites_used = 2;

	/* Hostile geometry: rejected, never read out of bounds. */
	h->site_offset = MEMTIDE_SEG_TOTAL_SIZE - 8;
	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info),
			 MEMTIDE_SEG_ELAYOUT);
	h->site_offset = MEMTIDE_SEG_SITE_OFFSET;
	h->site_size = 8;
	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info),
			 MEMTIDE_SEG_ELAYOUT);
	assert_int_equal(read_all(buf), MEMTIDE_SEG_ELAYOUT); /* check_header says so too */
	h->site_size = MEMTIDE_SEG_SITE_SIZE;

	/* A version 2 segment has no sites, whatever its reserved bytes say. */
	h->version = 2;
	assert_int_equal(memtide_sites_read(buf, MEMTIDE_SEG_TOTAL_SIZE, site_out, 4, &info), 0);
	assert_int_equal(info.count, 0);
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	free(buf);
}

static void test_pool_names(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_pool *p = pool(buf, 0);

	memset(p->name, 'a', sizeof(p->name)); /* no NUL */
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EPOOL);
	memset(p->name, 0, sizeof(p->name));
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EPOOL); /* empty */
	strcpy(p->name, "we\nb");
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EPOOL);
	strcpy(p->name, "w\xc3\xa9");
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EPOOL);
	memset(p->name, 'x', sizeof(p->name) - 1);
	p->name[sizeof(p->name) - 1] = '\0'; /* 63 bytes: the longest name */
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(strlen(snap.pools[0].name), 63);
	p->mode = 7;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_EPOOL);
	p->mode = MEMTIDE_SEG_MODE_TICKETS;
	/* A pool not READY yet is skipped, not an error. */
	p->state = MEMTIDE_SEG_POOL_CLAIMED;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pool_count, 0);
	free(buf);
}

static void test_seqlock(void **state)
{
	void *buf = make_segment();

	hdr(buf)->mallinfo_seq = 3; /* a writer forever in the middle of an update */
	assert_int_equal(read_prefix(buf, MEMTIDE_SEG_TOTAL_SIZE, 0), MEMTIDE_SEG_EBUSY);
	assert_int_equal(read_prefix(buf, MEMTIDE_SEG_TOTAL_SIZE, 1000), MEMTIDE_SEG_EBUSY);
	hdr(buf)->mallinfo_seq = 0; /* no snapshot yet */
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_false(snap.has_mallinfo);
	free(buf);
}

static void test_alignment(void **state)
{
	void *buf = make_segment();
	char *copy = malloc(MEMTIDE_SEG_TOTAL_SIZE + 8);

	assert_non_null(copy);
	memcpy(copy + 4, buf, MEMTIDE_SEG_TOTAL_SIZE);
	assert_int_equal(memtide_segment_read(copy + 4, MEMTIDE_SEG_TOTAL_SIZE, NOW, 3, &snap),
			 MEMTIDE_SEG_EALIGN);
	assert_int_equal(memtide_segment_read(NULL, 0, NOW, 3, &snap), MEMTIDE_SEG_EALIGN);
	free(copy);
	free(buf);
}

/* Live sessions by age from the rings, on the reader's clock plus the offset. */
static void test_ages(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_pool *p = pool(buf, 0);
	uint32_t m;

	hdr(buf)->clock_offset = 1000; /* now = NOW + 1000 on the segment's clock */
	p->opened = 30;
	p->closed = 5;
	/* 10 opened in the minute ending 400 s ago: older than 60 and 300 s. */
	m = (NOW + 1000 - 400) / 60 - 1;
	p->minutes[m % MEMTIDE_SEG_AGE_MINUTES] = MEMTIDE_SEG_CELL(m, 10);
	/* 5 opened just now. */
	m = (NOW + 1000) / 60;
	p->minutes[m % MEMTIDE_SEG_AGE_MINUTES] = MEMTIDE_SEG_CELL(m, 5);
	/* 7 spilled into the hour ring two days ago, 3 into ancient 100 days ago. */
	m = (NOW + 1000) / 3600 - 48;
	p->hours[m % MEMTIDE_SEG_AGE_HOURS] = MEMTIDE_SEG_CELL(m, 7);
	p->ancient_count = 3;
	p->ancient_min_hour = (NOW + 1000) / 3600 - 2400;

	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pools[0].live, 25);
	assert_true(snap.pools[0].has_ages);
	assert_int_equal(snap.pools[0].live_by_age[0], 20);
	assert_int_equal(snap.pools[0].live_by_age[1], 20);
	assert_int_equal(snap.pools[0].live_by_age[2], 10);
	assert_int_equal(snap.pools[0].live_by_age[5], 10);
	assert_true(snap.pools[0].oldest_age_seconds >= 2399 * 3600);

	/* Negative cells (a close that overtook its open's spill) and counts above
	 * live are clamped. */
	p->closed = 29;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pools[0].live_by_age[0], 1);
	p->ancient_count = -100;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pools[0].live_by_age[5], 0);
	free(buf);
}

/*
 * The bound of a bucket counts: sessions at least that old are under
 * older_than_seconds="3600" (memtide_seg_age_counts, which session
 * directories use too). The minute cell's age is a lower bound, so sessions
 * whose lower bound is exactly 3600 s are at least an hour old.
 */
static void test_age_bound_counts(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_pool *p = pool(buf, 0);
	int64_t now;
	uint32_t m;

	hdr(buf)->clock_offset = 60 - NOW % 60; /* now on a minute boundary */
	now = NOW + hdr(buf)->clock_offset;
	p->opened = 4;
	m = (uint32_t)((now - 3600) / 60 - 1); /* the minute ending exactly 3600 s ago */
	p->minutes[m % MEMTIDE_SEG_AGE_MINUTES] = MEMTIDE_SEG_CELL(m, 4);
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pools[0].live_by_age[3], 4); /* 3600 */
	assert_int_equal(snap.pools[0].live_by_age[4], 0); /* 14400 */

	/* The same comparison for a file's age in a session directory. */
	assert_true(memtide_seg_age_counts(3600.0, 3600));
	assert_false(memtide_seg_age_counts(3599.999, 3600));
	free(buf);
}

static void test_set_mode(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_pool *p = pool(buf, 0);

	p->mode = MEMTIDE_SEG_MODE_SET;
	p->set_live = 17;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pools[0].live, 17);
	assert_false(snap.pools[0].has_ages);
	p->set_live = -3;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.pools[0].live, 0);
	free(buf);
}

static void test_strerror(void **state)
{
	int e;

	for (e = MEMTIDE_SEG_EBUSY; e <= 0; e++)
		assert_string_not_equal(memtide_segment_strerror(e), "unknown");
	assert_string_equal(memtide_segment_strerror(MEMTIDE_SEG_ETRUNCATED), "truncated");
	assert_string_equal(memtide_segment_strerror(-1000), "unknown");
}

/* The header alone says what a copy costs; a hostile one costs nothing more. */
static void test_check_header(void **state)
{
	void *buf = make_segment();
	struct memtide_seg_header *h = hdr(buf);
	struct memtide_seg_extents ext;

	(void)state;
	assert_int_equal(memtide_segment_check_header(buf, MEMTIDE_SEG_TOTAL_SIZE, &ext), 0);
	assert_int_equal(ext.total, MEMTIDE_SEG_TOTAL_SIZE);
	assert_int_equal(ext.len[1], 2 * MEMTIDE_SEG_SLOT_SIZE);
	assert_int_equal(ext.len[2], MEMTIDE_SEG_POOL_SIZE);
	assert_int_equal(ext.used, sizeof(*h) + 3 * MEMTIDE_SEG_SLOT_SIZE + MEMTIDE_SEG_POOL_SIZE);
	for (int i = 0; i < 3; i++)
		assert_true(ext.off[i] + ext.len[i] <= ext.total);

	/* The file is shorter than the header says. */
	assert_int_equal(memtide_segment_check_header(buf, MEMTIDE_SEG_TOTAL_SIZE - 1, &ext),
			 MEMTIDE_SEG_ETRUNCATED);
	h->slots_used = 0xffffffffu;
	h->slot_size = 0xffffffffu;
	assert_int_equal(memtide_segment_check_header(buf, MEMTIDE_SEG_TOTAL_SIZE, &ext),
			 MEMTIDE_SEG_ELAYOUT);
	h->slots_used = 2;
	h->slot_size = MEMTIDE_SEG_SLOT_SIZE;
	h->flags = 0;
	assert_int_equal(memtide_segment_check_header(buf, MEMTIDE_SEG_TOTAL_SIZE, &ext),
			 MEMTIDE_SEG_ENOTREADY);
	free(buf);
}

/* Version 2: a segment that says the agent is off, and why. */
static void test_agent_off(void **state)
{
	void *buf = make_segment();

	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_false(snap.agent_off);
	hdr(buf)->agent_state = MEMTIDE_SEG_STATE_OFF;
	hdr(buf)->off_reason = MEMTIDE_SEG_OFF_JEMALLOC;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_true(snap.agent_off);
	assert_string_equal(memtide_segment_off_reason(snap.off_reason), "jemalloc");
	/* A reason this reader does not know, or none, is "other_allocator". */
	hdr(buf)->off_reason = 77;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_string_equal(memtide_segment_off_reason(snap.off_reason), "other_allocator");
	hdr(buf)->off_reason = MEMTIDE_SEG_OFF_NONE;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_string_equal(memtide_segment_off_reason(snap.off_reason), "other_allocator");
	free(buf);
}

/* A snapshot older than the live bytes is raised to them. */
static void test_heap_never_below_live(void **state)
{
	void *buf = make_segment();

	hdr(buf)->mallinfo_system = 100;
	assert_int_equal(read_all(buf), MEMTIDE_SEG_OK);
	assert_int_equal(snap.live_bytes, 320);
	assert_int_equal(snap.heap_system_bytes, 320);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_bytes_overhead),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_magic_version_ready),
	    cmocka_unit_test(test_absurd_counts),
	    cmocka_unit_test(test_offsets_past_the_end),
	    cmocka_unit_test(test_pool_names),
	    cmocka_unit_test(test_sites),
	    cmocka_unit_test(test_seqlock),
	    cmocka_unit_test(test_alignment),
	    cmocka_unit_test(test_ages),
	    cmocka_unit_test(test_age_bound_counts),
	    cmocka_unit_test(test_set_mode),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_check_header),
	    cmocka_unit_test(test_agent_off),
	    cmocka_unit_test(test_heap_never_below_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
