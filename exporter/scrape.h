/* SPDX-License-Identifier: MIT */
/*
 * scrape: one scrape of every enabled collector, against a deadline.
 *
 * Each collector runs on its own lane (lanes.h) and writes to an expo of its
 * own. At the deadline the scrape answers with what finished; a collector
 * still running is reported with memtide_scrape_collector_success 0 and
 * finishes on its lane later, its output discarded. So a process whose
 * smaps_rollup stalls for seconds costs one collector one scrape, never the
 * whole scrape.
 */
#ifndef MEMTIDE_SCRAPE_H
#define MEMTIDE_SCRAPE_H

struct expo;
struct runtime;

/*
 * Runs a scrape that answers within `timeout` seconds and returns a new expo
 * in *out holding every collector's families followed by
 * memtide_scrape_collector_duration_seconds, memtide_scrape_collector_success
 * memtide_scrape_errors_total and memtide_collector_housekeeping_total.
 * Returns 0 or a negative errno (-ENOMEM).
 */
int scrape_run(struct runtime *rt, double timeout, struct expo **out);

#endif
