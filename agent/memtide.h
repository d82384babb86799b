// SPDX-License-Identifier: MIT
/*
 * libmemtide: allocator statistics and live-session counts of this process,
 * published for memtide_exporter in a shared-memory segment (docs/agent.md).
 *
 * Link with `pkg-config --cflags --libs memtide`, or load the library with
 * LD_PRELOAD for the allocator statistics alone. Every function is safe to call
 * when the agent is not running (no segment could be created): pools are then
 * NULL and every call with a NULL pool does nothing.
 *
 *	static struct memtide_pool *web;
 *
 *	web = memtide_pool("web", 1800.0);           // once, at start-up
 *	uint64_t t = memtide_session_open(web);      // store t with the session
 *	...
 *	memtide_session_close(web, t);               // when the session ends
 */
#ifndef MEMTIDE_H
#define MEMTIDE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct memtide_pool;

/*
 * The pool called name (at most 63 bytes; bytes that cannot appear in a label
 * value become '_'), created on first use with ttl_seconds as its maximum idle
 * lifetime (published as memtide_sessions_ttl_seconds; a later call with the
 * same name returns the same pool and keeps the first ttl). At most 64 pools
 * per process. Returns NULL when the agent is off or the pools are exhausted.
 * Thread-safe; takes a lock, so call it once and keep the handle. The handle
 * stays valid for the life of the process, including in fork children.
 */
struct memtide_pool *memtide_pool(const char *name, double ttl_seconds);

/*
 * A session was opened. Returns a ticket recording when (minute resolution) and
 * in which pool; pass it to memtide_session_close(). 0 when pool is NULL.
 * Lock-free.
 */
uint64_t memtide_session_open(struct memtide_pool *pool);

/*
 * The session of ticket ended. Close each ticket once: a double close cannot be
 * detected and makes the counts wrong. A ticket of another pool, or 0, is
 * ignored (and counted as a bad close). Lock-free.
 */
void memtide_session_close(struct memtide_pool *pool, uint64_t ticket);

/*
 * For applications that count their sessions themselves: the pool has live
 * sessions now. Switches the pool to this mode for good: the exporter then
 * publishes live only, without opened/closed counts and ages.
 */
void memtide_sessions_set(struct memtide_pool *pool, int64_t live);

#ifdef __cplusplus
}
#endif

#endif /* MEMTIDE_H */
