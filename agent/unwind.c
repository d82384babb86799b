// SPDX-License-Identifier: MIT
/*
 * Stacks of sampled allocations, with libunwind's unw_backtrace(): it reads
 * the DWARF call frame information, so it walks code built without frame
 * pointers (Debian 12's glibc, libstdc++ and interpreters), where a
 * frame-pointer walk stops after a frame or two.
 *
 * Called from sampler_record() only (a few thousand times a second at most),
 * under the sampler's per-thread guard: what libunwind might allocate is not
 * sampled again. Per-thread caching: libunwind's global cache takes a lock
 * with signals blocked around it; the per-thread one takes none. The first
 * unwind (which sets up libunwind's caches and walks dl_iterate_phdr's list)
 * is done at start-up, outside malloc.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent_internal.h"
#include "sampler.h"

int unwind_warm_up(void)
{
	uint64_t frames[8];

	if (unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD) != 0)
		return -1;
	return unwind_stack(frames, 8) ? 0 : -1;
}

/* Up to max return addresses, innermost first; this function's own frame is
 * left out. 0 if libunwind found none. */
uint32_t unwind_stack(uint64_t *frames, uint32_t max)
{
	void *buf[MEMTIDE_SEG_SITE_DEPTH + 1];
	int n, i;

	if (max > MEMTIDE_SEG_SITE_DEPTH)
		max = MEMTIDE_SEG_SITE_DEPTH;
	n = unw_backtrace(buf, (int)max + 1);
	if (n <= 1)
		return 0;
	for (i = 1; i < n; i++)
		frames[i - 1] = (uint64_t)(uintptr_t)buf[i];
	return (uint32_t)(n - 1);
}
