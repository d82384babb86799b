/* SPDX-License-Identifier: MIT */
#include "stack_release.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* Left alone below the frame: what the functions this one returns to may
 * still touch before they return too. */
#define MARGIN (16u << 10)

void stack_release_below_caller(void)
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
