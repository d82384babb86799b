// SPDX-License-Identifier: MIT
/*
 * Sampling of allocations by bytes (sampler.c), the sampled blocks
 * (sample_blocks.c), the sites in the segment (sites.c) and the stacks
 * (unwind.c). Internal to libmemtide.
 *
 * The malloc fast path spends two instructions on all of this, in place of
 * the refresh tick it had before: it subtracts the block's counted size from
 * its slot's countdown (segment.h, writer-private) and branches when that
 * borrows. That branch runs the lazy refresh too (refresh.c): the countdown
 * never exceeds SAMPLER_REFRESH_BYTES; the rest of the distance to the next
 * sample waits in the sampler's per-thread state.
 *
 * Sampled blocks are served SAMPLER_ALIGN-aligned, so free tells "maybe
 * sampled" from one test of the pointer's low bits and looks up only those
 * few blocks in a lock-free table (sample_blocks.c). Nothing here takes a
 * lock, allocates through malloc or waits for another thread.
 */
#ifndef MEMTIDE_SAMPLER_H
#define MEMTIDE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

/* Sampled blocks are page-aligned: ordinary glibc blocks rarely are (small
 * ones by chance, 1 in 256; mmapped ones never: their data starts 16 bytes
 * into a page). */
#define SAMPLER_ALIGN 4096u
/* The refresh runs at least every this many counted bytes of a thread:
 * every 4096 allocations of the smallest blocks (32 bytes), as often as the
 * tick it replaces for blocks of 128 bytes. */
#define SAMPLER_REFRESH_BYTES (128u << 10)
#define SAMPLER_DEFAULT_BYTES (512u << 10)

static inline bool sampler_maybe_sampled(const void *p)
{
	return ((uintptr_t)p & (SAMPLER_ALIGN - 1)) == 0;
}

/* sampler.c */
void sampler_init(uint64_t mean_bytes, uint64_t seed);
void sampler_arm_slot(uint64_t *countdown);
bool sampler_take(uint64_t *countdown, size_t n);
void sampler_record(void *p, size_t size, size_t n);
void sampler_forget(void *p);
void sampler_fork_child(void);

/* sample_blocks.c: sampled block -> site and weights */
struct sample_weight {
	uint64_t bytes;	  /* estimated bytes this sample stands for */
	uint64_t objects; /* estimated objects, in 1/MEMTIDE_SEG_SITE_UNIT */
};
int blocks_init(void);
void blocks_reset_after_fork(void);
bool blocks_insert(const void *p, uint32_t site, struct sample_weight w);
bool blocks_remove(const void *p, uint32_t *site, struct sample_weight *w);

/* sites.c: the site table in the segment */
void sites_init_header(struct memtide_seg_header *h, uint64_t sample_bytes);
int sites_find_or_add(struct memtide_seg_header *h, const uint64_t *frames, uint32_t depth);
void sites_add(struct memtide_seg_header *h, uint32_t site, struct sample_weight w, bool alloc);
void sites_fork_child(struct memtide_seg_header *h);

/* unwind.c */
int unwind_warm_up(void);
uint32_t unwind_stack(uint64_t *frames, uint32_t max);

#endif /* MEMTIDE_SAMPLER_H */
