/* SPDX-License-Identifier: MIT */
/*
 * pss_cache: PSS and USS readings of processes, served for up to a maximum
 * age.
 *
 * Reading smaps_rollup takes the target's mmap lock and walks its page
 * tables: seconds on a process of hundreds of gigabytes. So each process is
 * read at most once per max age, and the cache holds exactly the processes
 * asked for in the latest scrape: it never outgrows the process table.
 */
#ifndef MEMTIDE_PSS_CACHE_H
#define MEMTIDE_PSS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct pss_reading {
	int pid;
	unsigned long long started; /* start time in ticks: tells pid reuse apart */
	double read_at;             /* CLOCK_MONOTONIC seconds */
	double pss;                 /* bytes */
	double uss;                 /* bytes */
	bool ok;                    /* false: could not be read */
	size_t tag;                 /* the caller's own, kept as it is */
};

struct pss_cache;

int pss_cache_new(struct pss_cache **out);
void pss_cache_free(struct pss_cache *c);

/*
 * Fills want[0..n) (pid and started set by the caller) with readings no older
 * than max_age, reading smaps_rollup through libproc2 only for processes whose
 * cached reading is missing, stale or of an earlier process with the same
 * pid. Sorts want by pid. Then the cache holds exactly these n. Returns 0 or -errno; on error
 * the readings not obtained have ok == false.
 */
int pss_cache_fill(struct pss_cache *c, struct pss_reading *want, size_t n, double max_age);

/* How many smaps_rollup reads the last fill made, for tests and logs. */
size_t pss_cache_last_reads(const struct pss_cache *c);

#endif
