// SPDX-License-Identifier: MIT
/*
 * The session API (memtide.h). A pool handle is the address of the pool inside
 * the segment, which never moves. Open and close are lock-free: atomic adds on
 * the pool's counters and a CAS on one cell of the age rings (segment.h, struct
 * memtide_seg_pool). Only registering a pool takes a lock.
 *
 * Ticket layout (opaque to applications; 0 is never a valid ticket):
 *	bits 63..32  open minute on the segment's clock, plus one
 *	bits 31..26  pool index
 *	bits 25..0   low bits of the pool's open count, to tell tickets apart
 */
#include <pthread.h>
#include <string.h>

#include "agent_internal.h"
#include "memtide.h"
#include "memtide_debug.h"

#define TICKET_POOL_SHIFT 26
#define TICKET_SEQ_MASK ((1u << TICKET_POOL_SHIFT) - 1)

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Add delta to the live count of sessions opened in epoch at ring level (0:
 * minutes, 1: hours, 2: ancient). A cell holding an older epoch is recycled and
 * its count moves one level up; a cell already holding a newer epoch means ours
 * was recycled, so delta follows it up. Epochs in a cell only grow, which is why
 * an open and the close of the same session always end up in the same place.
 */
static void age_add(struct memtide_seg_pool *p, int level, uint32_t epoch, int32_t delta)
{
	uint64_t *cell, w;
	uint32_t e;
	int32_t c;

	for (; level < 2; level++, epoch = level == 1 ? epoch / 60 : epoch) {
		cell = level == 0 ? &p->minutes[epoch % MEMTIDE_SEG_AGE_MINUTES]
				  : &p->hours[epoch % MEMTIDE_SEG_AGE_HOURS];
		w = __atomic_load_n(cell, __ATOMIC_RELAXED);
		for (;;) {
			e = MEMTIDE_SEG_CELL_EPOCH(w);
			c = MEMTIDE_SEG_CELL_COUNT(w);
			if (e > epoch)
				break;
			if (e == epoch) {
				if (__atomic_compare_exchange_n(
					cell, &w, MEMTIDE_SEG_CELL(e, c + delta), true,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
					return;
				continue;
			}
			if (__atomic_compare_exchange_n(cell, &w, MEMTIDE_SEG_CELL(epoch, delta),
							true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
				if (c)
					age_add(p, level + 1, level == 0 ? e / 60 : e, c);
				return;
			}
		}
	}
	/* Ancient: epoch is an hour. */
	__atomic_fetch_add(&p->ancient_count, delta, __ATOMIC_RELAXED);
	if (delta > 0) {
		uint64_t min = __atomic_load_n(&p->ancient_min_hour, __ATOMIC_RELAXED);

		while (epoch < min &&
		       !__atomic_compare_exchange_n(&p->ancient_min_hour, &min, epoch, true,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
}

static uint32_t now_minute(void)
{
	return (uint32_t)(agent_now() / MEMTIDE_SEG_AGE_MINUTE_SECONDS);
}

static uint32_t pool_index(struct memtide_seg_header *h, const struct memtide_seg_pool *p)
{
	return (uint32_t)(p - segment_pool(h, 0));
}

/* Label-safe copy of an application's pool name: printable ASCII except '"'
 * and '\\', others become '_'; at most 63 bytes. */
static void copy_name(char dst[MEMTIDE_SEG_POOL_NAME], const char *src)
{
	size_t i;

	memset(dst, 0, MEMTIDE_SEG_POOL_NAME);
	for (i = 0; i < MEMTIDE_SEG_POOL_NAME - 1 && src[i]; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"' && src[i] != '\\' ? src[i]
											    : '_';
}

static uint64_t ttl_ms(double ttl_seconds)
{
	if (!(ttl_seconds > 0)) /* also NaN */
		return 0;
	if (ttl_seconds > 1e12)
		return (uint64_t)1e15;
	return (uint64_t)(ttl_seconds * 1000.0 + 0.5);
}

static struct memtide_seg_pool *find_pool(struct memtide_seg_header *h, const char *name)
{
	uint32_t i, used = __atomic_load_n(&h->pools_used, __ATOMIC_ACQUIRE);

	for (i = 0; i < used; i++)
		if (strncmp(segment_pool(h, i)->name, name, MEMTIDE_SEG_POOL_NAME) == 0)
			return segment_pool(h, i);
	return NULL;
}

MEMTIDE_EXPORT struct memtide_pool *memtide_pool(const char *name, double ttl_seconds)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	char clean[MEMTIDE_SEG_POOL_NAME];
	struct memtide_seg_pool *p;
	uint32_t used;

	if (!h || !name || !name[0])
		return NULL;
	copy_name(clean, name);
	pthread_mutex_lock(&pool_lock);
	p = find_pool(h, clean);
	if (p)
		goto out_unlock;
	used = h->pools_used;
	if (used >= MEMTIDE_SEG_MAX_POOLS) {
		agent_log("too many session pools, ignoring", clean, MEMTIDE_SEG_MAX_POOLS);
		goto out_unlock;
	}
	p = segment_pool(h, used);
	__atomic_store_n(&p->state, MEMTIDE_SEG_POOL_CLAIMED, __ATOMIC_RELAXED);
	memcpy(p->name, clean, sizeof(clean));
	p->ttl_ms = ttl_ms(ttl_seconds);
	p->mode = MEMTIDE_SEG_MODE_TICKETS;
	p->ancient_min_hour = UINT64_MAX;
	__atomic_store_n(&p->state, MEMTIDE_SEG_POOL_READY, __ATOMIC_RELEASE);
	__atomic_store_n(&h->pools_used, used + 1, __ATOMIC_RELEASE);
out_unlock:
	pthread_mutex_unlock(&pool_lock);
	return (struct memtide_pool *)p;
}

MEMTIDE_EXPORT uint64_t memtide_session_open(struct memtide_pool *pool)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	struct memtide_seg_pool *p = (struct memtide_seg_pool *)pool;
	uint32_t minute = now_minute();
	uint64_t seq;

	if (!h || !p)
		return 0;
	age_add(p, 0, minute, 1);
	seq = __atomic_fetch_add(&p->opened, 1, __ATOMIC_RELEASE);
	return ((uint64_t)minute + 1) << 32 | (uint64_t)pool_index(h, p) << TICKET_POOL_SHIFT |
	       (seq & TICKET_SEQ_MASK);
}

MEMTIDE_EXPORT void memtide_session_close(struct memtide_pool *pool, uint64_t ticket)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	struct memtide_seg_pool *p = (struct memtide_seg_pool *)pool;
	uint64_t minute_plus_one = ticket >> 32;

	if (!h || !p)
		return;
	/* A ticket from another pool, or from the future: ignore it but count it,
	 * rather than corrupt the ages. A double close cannot be detected. */
	if (minute_plus_one == 0 || minute_plus_one > (uint64_t)now_minute() + 1 ||
	    ((ticket >> TICKET_POOL_SHIFT) & 63) != pool_index(h, p)) {
		__atomic_fetch_add(&p->bad_closes, 1, __ATOMIC_RELAXED);
		return;
	}
	age_add(p, 0, (uint32_t)(minute_plus_one - 1), -1);
	__atomic_fetch_add(&p->closed, 1, __ATOMIC_RELEASE);
}

MEMTIDE_EXPORT void memtide_sessions_set(struct memtide_pool *pool, int64_t live)
{
	struct memtide_seg_pool *p = (struct memtide_seg_pool *)pool;

	if (!p || !__atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&p->set_live, live, __ATOMIC_RELAXED);
	__atomic_store_n(&p->mode, MEMTIDE_SEG_MODE_SET, __ATOMIC_RELEASE);
}

/* Registering a pool must not be in progress across fork(). */
void sessions_fork_prepare(void)
{
	pthread_mutex_lock(&pool_lock);
}

void sessions_fork_done(void)
{
	pthread_mutex_unlock(&pool_lock);
}
