/* SPDX-License-Identifier: MIT */
/*
 * proc_cache: per-process readings too costly to take every scrape, served
 * for up to a maximum age.
 *
 * Two users: PSS and USS (smaps_rollup takes the target's mmap lock and walks
 * its page tables, seconds on a process of hundreds of gigabytes) and the
 * cgroup memory limit (the cgroup file costs as much to read as stat, and a
 * process rarely changes cgroup). Each process is read at most once per max
 * age, through a libproc2 select of just the processes due; the cache holds
 * exactly the processes asked for in the latest fill, so it never outgrows
 * the process table.
 */
#ifndef MEMTIDE_PROC_CACHE_H
#define MEMTIDE_PROC_CACHE_H

#include <libproc2/pids.h>
#include <stdbool.h>
#include <stddef.h>

struct proc_reading {
	int pid;
	unsigned long long started; /* start time in ticks: tells pid reuse apart */
	double read_at;		    /* CLOCK_MONOTONIC seconds */
	double v[2];		    /* the values, as the reader defines them */
	bool ok;		    /* false: could not be read */
	size_t tag;		    /* the caller's own, kept as it is */
};

struct proc_cache_reader {
	/* What to select; the first two must be PIDS_ID_PID and PIDS_TICS_BEGAN. */
	const enum pids_item *items;
	int n_items;
	/* Fills r->v from a fresh stack; returns false when the values are unreadable. */
	bool (*read)(void *ctx, struct pids_stack *stack, struct proc_reading *r);
	void *ctx;
};

struct proc_cache;

/* The reader is copied; its items and ctx must outlive the cache. */
int proc_cache_new(const struct proc_cache_reader *reader, struct proc_cache **out);
void proc_cache_free(struct proc_cache *c);

/*
 * Fills want[0..n) (pid, started and tag set by the caller) with readings no
 * older than max_age, reading only the processes whose cached reading is
 * missing, stale, failed or of an earlier process with the same pid. Sorts
 * want by pid. Returns 0 or -errno; on error the readings not obtained have
 * ok == false.
 */
int proc_cache_fill(struct proc_cache *c, struct proc_reading *want, size_t n, double max_age);

#endif
