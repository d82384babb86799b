/* SPDX-License-Identifier: MIT */
/*
 * lanes: one long-lived thread per collector, fed by a short queue.
 *
 * Collectors run off the scrape's own thread so that a scrape can answer at
 * its deadline without them. They run on threads that live as long as the
 * exporter because libproc2 keeps per-thread buffers (hundreds of KiB) that a
 * thread's exit never frees: a thread per scrape would leak them every scrape.
 * A lane also serialises its collector, and a lane whose queue is full (its
 * collector stalled) refuses more work instead of piling it up.
 */
#ifndef MEMTIDE_LANES_H
#define MEMTIDE_LANES_H

#include <stddef.h>

#include "collectors/collector.h"

/* One lane per registered collector: the same bound, not an equal number. */
#define LANES_MAX COLLECTORS_MAX
/* Concurrent scrapes queue one task each per lane: room for more than
 * --web.max-requests' default (40), so that scrapes wait their turn rather
 * than fail, while a stalled collector still cannot pile work up. */
#define LANE_QUEUE_MAX 64

struct lane_task {
	void (*run)(struct lane_task *task); /* owns the task once called */
	struct lane_task *next;
};

/*
 * Queues task on lane `lane` (0 <= lane < LANES_MAX), starting its thread on
 * first use. Returns 0, -EBUSY when the lane already holds LANE_QUEUE_MAX
 * tasks, or -errno when its thread cannot start; on error the task was not
 * queued and still belongs to the caller.
 */
int lanes_submit(size_t lane, struct lane_task *task);

#endif
