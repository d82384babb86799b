// SPDX-License-Identifier: MIT
/*
 * The table of sampled allocation sites in the segment (segment.h, struct
 * memtide_seg_site): sites are claimed in order (sites_used is a fetch-add),
 * so a reader copies only [0, sites_used); a private index of
 * MEMTIDE_SEG_MAX_SITES * 4 entries maps a stack's hash to its site.
 *
 * Two threads that meet a new stack at once may both add it: the reader
 * merges sites with equal stacks. A full table drops samples of new stacks
 * (samples_dropped) and keeps counting the stacks it has.
 *
 * Being in the segment, the table outlives the process: after a SIGKILL (an
 * OOM kill) the file stays until the exporter removes it as stale, and the
 * sites say what was alive at the end.
 */
#include <string.h>

#include "agent_internal.h"
#include "sampler.h"

#define INDEX_COUNT (MEMTIDE_SEG_MAX_SITES * 4)
#define MAX_PROBES 32

/* Site number + 1 per slot; 0 = empty. Reset with the table at fork. */
static uint32_t site_index[INDEX_COUNT];

static struct memtide_seg_site *site_at(struct memtide_seg_header *h, uint32_t i)
{
	return (struct memtide_seg_site *)((char *)h + MEMTIDE_SEG_SITE_OFFSET) + i;
}

void sites_init_header(struct memtide_seg_header *h, uint64_t sample_bytes)
{
	h->site_offset = MEMTIDE_SEG_SITE_OFFSET;
	h->site_count = MEMTIDE_SEG_MAX_SITES;
	h->site_size = MEMTIDE_SEG_SITE_SIZE;
	h->site_depth = MEMTIDE_SEG_SITE_DEPTH;
	h->sites_used = 0;
	h->sample_bytes = sample_bytes;
	h->samples_dropped = 0;
}

/* FNV-1a over the frames. */
static uint64_t stack_hash(const uint64_t *frames, uint32_t depth)
{
	uint64_t x = 0xcbf29ce484222325ull;
	uint32_t i;

	for (i = 0; i < depth; i++) {
		x ^= frames[i];
		x *= 0x100000001b3ull;
	}
	return x;
}

static bool same_stack(struct memtide_seg_site *s, uint64_t hash, const uint64_t *frames,
		       uint32_t depth)
{
	return s->hash == hash && s->depth == depth &&
	       memcmp(s->frames, frames, depth * sizeof(frames[0])) == 0;
}

static int add_site(struct memtide_seg_header *h, uint64_t hash, const uint64_t *frames,
		    uint32_t depth)
{
	uint32_t n = __atomic_fetch_add(&h->sites_used, 1, __ATOMIC_RELAXED);
	struct memtide_seg_site *s;

	if (n >= MEMTIDE_SEG_MAX_SITES) {
		__atomic_store_n(&h->sites_used, MEMTIDE_SEG_MAX_SITES, __ATOMIC_RELAXED);
		return -1;
	}
	s = site_at(h, n);
	__atomic_store_n(&s->state, MEMTIDE_SEG_SITE_CLAIMED, __ATOMIC_RELAXED);
	s->hash = hash;
	s->depth = depth;
	memcpy(s->frames, frames, depth * sizeof(frames[0]));
	s->first_seen = agent_now();
	__atomic_store_n(&s->last_grew, s->first_seen, __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, MEMTIDE_SEG_SITE_READY, __ATOMIC_RELEASE);
	return (int)n;
}

int sites_find_or_add(struct memtide_seg_header *h, const uint64_t *frames, uint32_t depth)
{
	uint64_t hash = stack_hash(frames, depth);
	uint32_t i, at = (uint32_t)(hash % INDEX_COUNT), v, zero;
	int n;

	for (i = 0; i < MAX_PROBES; i++) {
		uint32_t *slot = &site_index[(at + i) % INDEX_COUNT];

		v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (v && same_stack(site_at(h, v - 1), hash, frames, depth))
			return (int)(v - 1);
		if (v)
			continue;
		n = add_site(h, hash, frames, depth);
		if (n < 0)
			return -1;
		zero = 0;
		/* Lost the slot to another stack: the site exists, unindexed
		 * (found again only by a later insert of the same stack). */
		__atomic_compare_exchange_n(slot, &zero, (uint32_t)n + 1, false, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
		return n;
	}
	return -1;
}

/* Raise the high-water mark, and say when it grew. */
static void note_growth(struct memtide_seg_site *s, uint64_t live)
{
	uint64_t peak = __atomic_load_n(&s->peak_live_bytes, __ATOMIC_RELAXED);

	while ((int64_t)live > (int64_t)peak) {
		if (__atomic_compare_exchange_n(&s->peak_live_bytes, &peak, live, true,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			__atomic_store_n(&s->last_grew, agent_now(), __ATOMIC_RELAXED);
			return;
		}
	}
}

void sites_add(struct memtide_seg_header *h, uint32_t site, struct sample_weight w, bool alloc)
{
	struct memtide_seg_site *s;
	uint64_t live;

	if (site >= MEMTIDE_SEG_MAX_SITES)
		return;
	s = site_at(h, site);
	if (!alloc) {
		__atomic_fetch_sub(&s->live_bytes, w.bytes, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&s->live_objects, w.objects, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&s->alloc_bytes, w.bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->alloc_objects, w.objects, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->live_objects, w.objects, __ATOMIC_RELAXED);
	live = __atomic_add_fetch(&s->live_bytes, w.bytes, __ATOMIC_RELAXED);
	note_growth(s, live);
}

/* The child's file holds no sites (segment_write.c copies the header and
 * pools only): forget the parent's. */
void sites_fork_child(struct memtide_seg_header *h)
{
	memset(site_index, 0, sizeof(site_index));
	h->sites_used = 0;
	h->samples_dropped = 0;
}
