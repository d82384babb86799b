// SPDX-License-Identifier: MIT
/*
 * Test hooks of libmemtide. Not part of the stable API and not installed.
 */
#ifndef MEMTIDE_DEBUG_H
#define MEMTIDE_DEBUG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Move this process's session clock forward by seconds (negative values are
 * ignored). Real behaviour, on a shifted clock: the segment publishes the total
 * offset (header.clock_offset) and readers add it to their own clock, so
 * session ages grow as if the time had passed. The environment variable
 * MEMTIDE_CLOCK_OFFSET sets the initial offset at agent start.
 */
void memtide_debug_advance_clock(int64_t seconds);

#ifdef __cplusplus
}
#endif

#endif /* MEMTIDE_DEBUG_H */
