// SPDX-License-Identifier: MIT
/*
 * What used to take an agent thread, done lazily by the application's own
 * allocations: every 256 allocations of a thread (interpose.c, slot_tick), at
 * most once per second of CLOCK_MONOTONIC_COARSE for the whole process:
 *
 *   - drain the pre-segment counts of threads that raced with its creation;
 *   - beat the heartbeat;
 *   - every MEMTIDE_MALLINFO_INTERVAL seconds, or sooner when this thread
 *     alone holds more live bytes than the last snapshot's system bytes (a
 *     young process growing), publish a mallinfo2() snapshot.
 *
 * No thread means nothing that can keep a process alive after its last
 * thread of its own ends, nothing that takes or holds a signal, and glibc
 * keeps its single-threaded fast paths. The cost: an idle process does not
 * beat, and its snapshot ages until it allocates again.
 *
 * One refresher at a time (a flag, never waited for); never recursive, since
 * nothing here allocates. mallinfo2() takes every arena's lock, so signals
 * are blocked around it: a handler that allocated in this thread meanwhile
 * would wait for a lock its own thread holds.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "agent_internal.h"

static int busy;
static int64_t last_second = -1;
static uint64_t next_mallinfo;

/* mallinfo2() with asynchronous signals held back for its duration. */
static void publish_mallinfo_masked(struct memtide_seg_header *h, uint64_t now)
{
	sigset_t all, old;

	sigfillset(&all);
	/* Synchronous faults must still be delivered, as without us. */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
		return;
	segment_publish_mallinfo(h, now);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* This thread's own live bytes outgrew the snapshot: the heap grew since. */
static bool outgrown(struct memtide_seg_header *h, struct memtide_seg_slot *s)
{
	int64_t live = (int64_t)(s->bytes_allocated - s->bytes_freed);

	return live > (int64_t)__atomic_load_n(&h->mallinfo_system, __ATOMIC_RELAXED);
}

void agent_refresh(struct memtide_seg_slot *s)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	int saved_errno = errno;
	struct timespec ts;
	uint64_t now;

	if (!h || __atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
		return;
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0 || ts.tv_sec == last_second)
		goto out;
	last_second = ts.tv_sec;
	now = agent_now();
	interpose_drain_fallback(h);
	segment_heartbeat(h, now);
	segment_reclaim_first_name();
	if (agent_cfg.mallinfo_interval && (now >= next_mallinfo || outgrown(h, s))) {
		publish_mallinfo_masked(h, now);
		next_mallinfo = now + agent_cfg.mallinfo_interval;
	}
out:
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
	errno = saved_errno;
}

/* A fork child is single-threaded: a refresh that another thread of the
 * parent was doing at the fork did not come along. */
void agent_refresh_fork_child(void)
{
	busy = 0;
	last_second = -1;
}
