// SPDX-License-Identifier: MIT
/*
 * Stacks of sampled allocations, with glibc's backtrace(): libgcc's DWARF
 * unwinder (_Unwind_Backtrace, .eh_frame_hdr lookups through
 * dl_iterate_phdr), so it walks code built without frame pointers (Debian
 * 12's glibc, libstdc++ and interpreters), where a frame-pointer walk stops
 * after a frame or two.
 *
 * Not libunwind: libunwind 1.6 opens a pipe at its initialisation (to
 * validate addresses) and keeps it, so every preloaded program would find two
 * descriptors it did not open (Python's test_subprocess sees them), and a
 * program that closes every descriptor it does not know would close
 * libunwind's under it.
 *
 * backtrace() loads libgcc_s with dlopen() on first use, which allocates:
 * that first call is made at start-up (unwind_warm_up), outside malloc.
 * Called from sampler_record() only (a few thousand times a second at most),
 * under the sampler's per-thread guard, so whatever the unwinder allocates is
 * counted but never sampled again.
 */
#include <execinfo.h>

#include "agent_internal.h"
#include "sampler.h"

int unwind_warm_up(void)
{
	uint64_t frames[8];

	return unwind_stack(frames, 8) ? 0 : -1;
}

/* Up to max return addresses, innermost first; this function's own frame is
 * left out. 0 if none was found. */
uint32_t unwind_stack(uint64_t *frames, uint32_t max)
{
	void *buf[MEMTIDE_SEG_SITE_DEPTH + 1];
	int n, i;

	if (max > MEMTIDE_SEG_SITE_DEPTH)
		max = MEMTIDE_SEG_SITE_DEPTH;
	n = backtrace(buf, (int)max + 1);
	if (n <= 1)
		return 0;
	for (i = 1; i < n; i++)
		frames[i - 1] = (uint64_t)(uintptr_t)buf[i];
	return (uint32_t)(n - 1);
}
