// SPDX-License-Identifier: MIT
/*
 * The sampled blocks that are alive: block address -> site and weights, so
 * that freeing a sample takes its weight back off its site.
 *
 * An open-addressed table in private anonymous memory (never malloc), made at
 * start-up, lock-free: a key is claimed by CAS from empty or deleted, removed
 * by CAS to deleted, and probes are bounded. Keys are never set back to
 * empty, so a lookup may stop at the first empty key. A full neighbourhood
 * drops the sample (counted in the segment's samples_dropped).
 *
 * Blocks with no entry are the common case in lookups: every page-aligned
 * block freed by the program, sampled or not, is looked up once.
 */
#include <stddef.h>
#include <sys/mman.h>

#include "agent_internal.h"
#include "sampler.h"

#define BLOCKS_BITS 15 /* 32768 entries of 32 bytes: 1 MiB, touched as used */
#define BLOCKS_COUNT (1u << BLOCKS_BITS)
#define MAX_PROBES 64
#define KEY_EMPTY 0u
#define KEY_DELETED 1u /* no block is at address 1 */

struct block_entry {
	uintptr_t key;
	uint32_t site;
	uint32_t unused;
	uint64_t bytes;
	uint64_t objects;
};

static struct block_entry *table;

#define TABLE_SIZE ((size_t)BLOCKS_COUNT * sizeof(struct block_entry))

int blocks_init(void)
{
	void *m = mmap(NULL, TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	__atomic_store_n(&table, (struct block_entry *)m, __ATOMIC_RELEASE);
	return 0;
}

/* In a fork child, inherited entries name the parent's sites: start empty.
 * A fresh mapping over the old one costs no copy of the old pages. */
void blocks_reset_after_fork(void)
{
	struct block_entry *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);

	if (t && mmap(t, TABLE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		__atomic_store_n(&table, NULL, __ATOMIC_RELEASE);
}

static uint32_t home(const void *p)
{
	return (uint32_t)((((uintptr_t)p >> 12) * 0x9e3779b97f4a7c15ull) >> (64 - BLOCKS_BITS));
}

bool blocks_insert(const void *p, uint32_t site, struct sample_weight w)
{
	struct block_entry *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE), *e;
	uint32_t i, at = home(p);
	uintptr_t k;

	if (!t)
		return false;
	for (i = 0; i < MAX_PROBES; i++) {
		e = &t[(at + i) & (BLOCKS_COUNT - 1)];
		k = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
		if ((k == KEY_EMPTY || k == KEY_DELETED) &&
		    __atomic_compare_exchange_n(&e->key, &k, (uintptr_t)p, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			/* p is not handed out yet: nobody looks for it before these land. */
			__atomic_store_n(&e->site, site, __ATOMIC_RELAXED);
			__atomic_store_n(&e->bytes, w.bytes, __ATOMIC_RELAXED);
			__atomic_store_n(&e->objects, w.objects, __ATOMIC_RELEASE);
			return true;
		}
	}
	return false;
}

bool blocks_remove(const void *p, uint32_t *site, struct sample_weight *w)
{
	struct block_entry *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE), *e;
	uint32_t i, at = home(p);
	uintptr_t k;

	if (!t)
		return false;
	for (i = 0; i < MAX_PROBES; i++) {
		e = &t[(at + i) & (BLOCKS_COUNT - 1)];
		k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
		if (k == KEY_EMPTY)
			return false;
		if (k != (uintptr_t)p)
			continue;
		w->objects = __atomic_load_n(&e->objects, __ATOMIC_ACQUIRE);
		w->bytes = __atomic_load_n(&e->bytes, __ATOMIC_RELAXED);
		*site = __atomic_load_n(&e->site, __ATOMIC_RELAXED);
		return __atomic_compare_exchange_n(&e->key, &k, KEY_DELETED, false,
						   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
	return false;
}
