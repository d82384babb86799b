/* SPDX-License-Identifier: MIT */
#include "memory_policy.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* Left alone below the frame: what the functions this one returns to may
 * still touch before they return too. */
#define MARGIN (16u << 10)

void memory_policy_request_done(void)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	volatile char here = 0;
	pthread_attr_t attr;
	uintptr_t low, high;
	void *addr;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return;
	if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
		low = ((uintptr_t)addr + page - 1) & ~(page - 1);
		high = ((uintptr_t)&here - MARGIN) & ~(page - 1);
		/* The stack grows down: [low, high) is below every live frame. */
		if (high > low && (uintptr_t)&here < (uintptr_t)addr + size)
			madvise((void *)low, high - low, MADV_DONTNEED);
	}
	pthread_attr_destroy(&attr);
}

/*
 * One arena rather than one per thread (scrapes are short and few), and
 * large buffers (a scrape's rendering) straight from mmap, returned when
 * freed, instead of glibc's thresholds that grow after every large free and
 * keep the memory.
 */
int memory_policy_init(void)
{
	int ok = mallopt(M_ARENA_MAX, 1);

	ok &= mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	ok &= mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	return ok ? 0 : -EINVAL;
}

/* What a scrape freed stays free until the next, and holes in the heap
 * would otherwise stay resident. */
void memory_policy_scrapes_idle(void)
{
	malloc_trim(0);
}
