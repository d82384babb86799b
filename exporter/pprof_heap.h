/* SPDX-License-Identifier: MIT */
/*
 * The heap profile of processes under libmemtide, in pprof's format
 * (profile.proto, gzip-compressed), for /debug/pprof/heap: Go's four sample
 * types (alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes), one sample per sampled site (leaf first, the agent's
 * own frames left out), locations with the functions and lines the exporter
 * found (symbolize.h), mappings with their files and build-ids, period
 * space/bytes = the agent's sampling mean. Read by `go tool pprof`, and
 * scrapeable by Pyroscope or Grafana Alloy as they scrape Go services.
 *
 * Bounded: at most PPROF_MAX_PIDS processes per profile, PPROF_OPENS new
 * ELF files per request, and PB_MAX bytes of output.
 */
#ifndef MEMTIDE_PPROF_HEAP_H
#define MEMTIDE_PPROF_HEAP_H

#include <stddef.h>

#define PPROF_MAX_PIDS 64
#define PPROF_OPENS 64

/*
 * The profile of the live processes pids[0, n) whose segments are in
 * agent_dir, into a malloc'ed gzip buffer. 0, -ENOENT when none of them has a
 * readable segment, or another -errno.
 */
int pprof_heap(const char *agent_dir, const unsigned *pids, size_t n, unsigned char **out,
	       size_t *len);

#endif
