// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the segment reader (agent/segment_read.c), which the
 * exporter runs on files written by other users' processes.
 *
 * Two shapes of input, chosen by the first byte:
 *   even: the rest of the input is the segment, as is (short, mostly rejected
 *         at the header);
 *   odd:  the rest is a list of (offset: 4 bytes, value: 1 byte) patches
 *         applied to a valid segment, so the fuzzer reaches the slot, pool and
 *         age-ring code with plausible headers.
 * Either way the reader sees a heap block of exactly the length it is told, so
 * ASan catches any read outside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/segment_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for the header, the slots and two pools: small enough to copy per run. */
#define TEMPLATE_SIZE (MEMTIDE_SEG_POOL_OFFSET + 2 * (uint64_t)MEMTIDE_SEG_POOL_SIZE)

static void make_template(unsigned char *buf)
{
	struct memtide_seg_header *h = (struct memtide_seg_header *)buf;
	struct memtide_seg_pool *p;
	int i;

	memset(buf, 0, TEMPLATE_SIZE);
	h->magic = MEMTIDE_SEG_MAGIC;
	h->version = MEMTIDE_SEG_VERSION;
	h->compat_version = MEMTIDE_SEG_COMPAT_VERSION;
	h->header_size = sizeof(*h);
	h->flags = MEMTIDE_SEG_FLAG_READY;
	h->total_size = TEMPLATE_SIZE;
	h->slot_count = MEMTIDE_SEG_SLOTS;
	h->slot_size = MEMTIDE_SEG_SLOT_SIZE;
	h->slot_offset = MEMTIDE_SEG_SLOT_OFFSET;
	h->overflow_offset = MEMTIDE_SEG_OVERFLOW_OFFSET;
	h->slots_used = 1;
	h->pool_count = 2;
	h->pool_size = MEMTIDE_SEG_POOL_SIZE;
	h->pool_offset = MEMTIDE_SEG_POOL_OFFSET;
	h->pools_used = 2;
	h->age_minute_cells = MEMTIDE_SEG_AGE_MINUTES;
	h->age_hour_cells = MEMTIDE_SEG_AGE_HOURS;
	h->age_minute_length = MEMTIDE_SEG_AGE_MINUTE_SECONDS;
	h->mallinfo_seq = 2;
	for (i = 0; i < 2; i++) {
		p = (struct memtide_seg_pool *)(buf + MEMTIDE_SEG_POOL_OFFSET) + i;
		memcpy(p->name, i ? "api" : "web", 4);
		p->state = MEMTIDE_SEG_POOL_READY;
		p->mode = (uint32_t)i;
		p->opened = 10;
		p->closed = 3;
		p->ancient_min_hour = UINT64_MAX;
		p->minutes[5] = MEMTIDE_SEG_CELL(5, 4);
		p->hours[1] = MEMTIDE_SEG_CELL(1, 3);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memtide_seg_snapshot snap;
	unsigned char *buf;
	size_t len, i;
	uint32_t off;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		len = size - 1;
		buf = malloc(len ? len : 1);
		if (!buf)
			return 0;
		memcpy(buf, data + 1, len);
	} else {
		/* Patches may also shorten the segment: the last byte of the input
		 * picks how much of the template to keep. */
		len = TEMPLATE_SIZE - (size % 2 ? 0 : data[size - 1] * 97u);
		buf = malloc(TEMPLATE_SIZE);
		if (!buf)
			return 0;
		make_template(buf);
		for (i = 1; i + 5 <= size; i += 5) {
			memcpy(&off, data + i, 4);
			buf[off % len] = data[i + 4];
		}
	}
	(void)memtide_segment_read(buf, len, 1000000, 2, &snap);
	free(buf);
	return 0;
}
