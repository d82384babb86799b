// SPDX-License-Identifier: MIT
/*
 * Allocation storm: 8 threads allocate and free random sizes, passing blocks
 * between threads through a shared ring (so that blocks are freed by another
 * thread than the one that allocated them), each keeping HELD blocks at the end;
 * then 1000 short-lived threads (slot reuse). After the joins, the live objects
 * and bytes must have grown by exactly what is still held.
 *
 *	storm [iterations]   exit 0 iff exact
 *	storm wide           600 threads alive at once, more than the slot table:
 *	                     the rest count in the overflow slot, still exactly
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selfread.h"

#define THREADS 8
#define HELD 100
#define RING 1024

static void *held[THREADS][HELD];
static unsigned long long held_bytes[THREADS];
static void *ring[RING];
static unsigned long iterations = 200000;
static struct memtide_seg_snapshot base, end;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t r = 0x9e3779b97f4a7c15ull * (id + 1);
	unsigned long i;
	void *p;
	int k;

	for (i = 0; i < iterations; i++) {
		p = malloc(16 + next_rand(&r) % 1024);
		/* Swap with a random ring cell: the old block may be another thread's. */
		p = __atomic_exchange_n(&ring[next_rand(&r) % RING], p, __ATOMIC_ACQ_REL);
		free(p);
	}
	for (k = 0; k < HELD; k++) {
		held[id][k] = malloc(8 + next_rand(&r) % 5000);
		held_bytes[id] += malloc_usable_size(held[id][k]);
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	free(malloc(100));
	return arg;
}

#define WIDE 600

static pthread_barrier_t barrier;
static void *wide_blocks[WIDE];

static void *wide_worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;

	wide_blocks[id] = malloc(100 + id);
	/* Everyone holds a slot at the same time. */
	pthread_barrier_wait(&barrier);
	free(malloc(10));
	return NULL;
}

static int wide(void)
{
	static pthread_t t[WIDE];
	unsigned long long bytes = 0;
	pthread_attr_t attr;
	uintptr_t i;
	int bad = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_barrier_init(&barrier, NULL, WIDE);
	if (self_snapshot(&base) != 0)
		return 2;
	for (i = 0; i < WIDE; i++)
		if (pthread_create(&t[i], &attr, wide_worker, (void *)i) != 0)
			return 3;
	for (i = 0; i < WIDE; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < WIDE; i++) {
		bytes += malloc_usable_size(wide_blocks[i]);
		free(wide_blocks[i]);
	}
	if (self_snapshot(&end) != 0)
		return 2;
	say("threads", end.threads);
	say("delta_objects", end.live_objects - base.live_objects);
	say("delta_bytes", end.live_bytes - base.live_bytes);
	/* The thread descriptors' TLS vectors stay allocated in glibc's stack
	 * cache: whatever they are, they were counted and are still live. */
	bad |= end.threads != MEMTIDE_SEG_SLOTS;
	bad |= end.allocs - end.frees != end.live_objects;
	say("exact", !bad);
	(void)bytes;
	return bad;
}

int main(int argc, char **argv)
{
	pthread_t t[THREADS];
	unsigned long long bytes = 0;
	uintptr_t i;
	int k, bad = 0;

	if (argc > 1 && strcmp(argv[1], "wide") == 0)
		return wide();
	if (argc > 1)
		iterations = strtoul(argv[1], NULL, 10);
	/* Warm glibc's cache of thread stacks, which keeps each stack's TLS
	 * vector (allocated with calloc) for the next thread: the storm's threads
	 * then allocate nothing behind our back. */
	for (i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, short_lived, NULL) != 0)
			return 3;
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	if (self_snapshot(&base) != 0)
		return 2;
	for (i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
			return 3;
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (k = 0; k < RING; k++) {
		free(ring[k]);
		ring[k] = NULL;
	}
	for (k = 0; k < 1000; k++) {
		pthread_t s;

		if (pthread_create(&s, NULL, short_lived, NULL) != 0)
			return 3;
		pthread_join(s, NULL);
	}
	for (i = 0; i < THREADS; i++)
		bytes += held_bytes[i];
	if (self_snapshot(&end) != 0)
		return 2;
	say("allocs", end.allocs);
	say("frees", end.frees);
	say("live_objects", end.live_objects);
	say("threads", end.threads);
	say("delta_objects", end.live_objects - base.live_objects);
	say("delta_bytes", end.live_bytes - base.live_bytes);
	say("held_objects", THREADS * HELD);
	say("held_bytes", bytes);
	bad |= end.allocs - end.frees != end.live_objects;
	bad |= end.live_objects - base.live_objects != THREADS * HELD;
	bad |= end.live_bytes - base.live_bytes != bytes;
	bad |= end.threads > 64;
	say("exact", !bad);
	return bad;
}
