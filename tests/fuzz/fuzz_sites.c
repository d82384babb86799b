// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what the exporter reads of other users' processes to
 * name their allocation sites: the site table of a segment
 * (agent/site_read.c) and /proc/PID/maps text (collectors/proc_maps.c).
 *
 * First byte even: the rest is maps text, parsed, then every parsed mapping
 * looked up by its bounds. Odd: the rest is a list of (offset: 4 bytes,
 * value: 1 byte) patches to a valid segment with a few sites, read by the site
 * reader in a heap block of exactly its length, so ASan catches any read
 * outside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/site_read.h"
#include "collectors/proc_maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SITES 4
#define TEMPLATE_SIZE (MEMTIDE_SEG_SITE_OFFSET + SITES * (uint64_t)MEMTIDE_SEG_SITE_SIZE)

static void make_template(unsigned char *buf)
{
	struct memtide_seg_header *h = (struct memtide_seg_header *)buf;
	struct memtide_seg_site *s = (struct memtide_seg_site *)(buf + MEMTIDE_SEG_SITE_OFFSET);

	memset(buf, 0, TEMPLATE_SIZE);
	h->magic = MEMTIDE_SEG_MAGIC;
	h->version = MEMTIDE_SEG_VERSION;
	h->compat_version = MEMTIDE_SEG_COMPAT_VERSION;
	h->header_size = sizeof(*h);
	h->flags = MEMTIDE_SEG_FLAG_READY;
	h->total_size = TEMPLATE_SIZE;
	h->site_offset = MEMTIDE_SEG_SITE_OFFSET;
	h->site_count = SITES;
	h->site_size = MEMTIDE_SEG_SITE_SIZE;
	h->site_depth = MEMTIDE_SEG_SITE_DEPTH;
	h->sites_used = SITES;
	for (int i = 0; i < SITES; i++) {
		s[i].state = MEMTIDE_SEG_SITE_READY;
		s[i].depth = 3;
		s[i].live_bytes = 1000;
	}
}

static void fuzz_maps(const uint8_t *data, size_t size)
{
	struct proc_maps m;

	if (proc_maps_parse((const char *)data, size, &m) == 0)
		for (size_t i = 0; i < m.n; i++)
			(void)proc_maps_find(&m, m.maps[i].start);
	proc_maps_free(&m);
}

static void fuzz_sites(const uint8_t *data, size_t size)
{
	static struct memtide_site_snapshot out[SITES];
	struct memtide_sites_info info;
	unsigned char *buf = malloc(TEMPLATE_SIZE);
	uint64_t off, len;

	if (!buf)
		return;
	make_template(buf);
	for (size_t i = 0; i + 5 <= size; i += 5) {
		uint32_t at;

		memcpy(&at, data + i, 4);
		buf[at % TEMPLATE_SIZE] = data[i + 4];
	}
	(void)memtide_sites_read(buf, TEMPLATE_SIZE, out, SITES, &info);
	(void)memtide_sites_extent(buf, TEMPLATE_SIZE, &off, &len);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_sites(data + 1, size - 1);
	else
		fuzz_maps(data + 1, size - 1);
	return 0;
}
