// SPDX-License-Identifier: MIT
/*
 * memtide-segment-dump: print a libmemtide segment as key=value lines, through
 * the same validating reader the exporter uses. For tests and for people.
 *
 *	memtide-segment-dump FILE
 *
 * Exit status: 0 printed, 1 the segment was rejected (reason on stderr),
 * 2 the file could not be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collectors/segment_file.h"
#include "segment_read.h"
#include "site_read.h"

static const unsigned age_buckets[MEMTIDE_SEG_AGE_BUCKETS] = MEMTIDE_SEG_AGE_BUCKET_SECONDS;

static void print_pool(unsigned i, const struct memtide_seg_pool_snapshot *p)
{
	int k;

	printf("pool.%u.name=%s\n", i, p->name);
	printf("pool.%u.mode=%s\n", i, p->mode == MEMTIDE_SEG_MODE_SET ? "set" : "tickets");
	printf("pool.%u.ttl_seconds=%.3f\n", i, p->ttl_seconds);
	printf("pool.%u.live=%llu\n", i, (unsigned long long)p->live);
	printf("pool.%u.opened=%llu\n", i, (unsigned long long)p->opened);
	printf("pool.%u.closed=%llu\n", i, (unsigned long long)p->closed);
	printf("pool.%u.bad_closes=%llu\n", i, (unsigned long long)p->bad_closes);
	if (!p->has_ages)
		return;
	for (k = 0; k < MEMTIDE_SEG_AGE_BUCKETS; k++)
		printf("pool.%u.live_older_than_%u=%llu\n", i, age_buckets[k],
		       (unsigned long long)p->live_by_age[k]);
	printf("pool.%u.oldest_age_seconds=%llu\n", i, (unsigned long long)p->oldest_age_seconds);
}

static void print_snapshot(const struct memtide_seg_snapshot *s)
{
	unsigned i;

	printf("version=%u\nflags=%u\npid=%u\nstart_time=%llu\n", s->version, s->flags, s->pid,
	       (unsigned long long)s->start_time);
	printf("clock_offset=%lld\nheartbeat=%llu\nheartbeat_at=%llu\n", (long long)s->clock_offset,
	       (unsigned long long)s->heartbeat, (unsigned long long)s->heartbeat_at);
	printf("allocs=%llu\nfrees=%llu\n", (unsigned long long)s->allocs,
	       (unsigned long long)s->frees);
	printf("bytes_allocated=%llu\nbytes_freed=%llu\n", (unsigned long long)s->bytes_allocated,
	       (unsigned long long)s->bytes_freed);
	printf("agent_off=%d\noff_reason=%s\n", s->agent_off,
	       memtide_segment_off_reason(s->off_reason));
	printf("live_objects=%llu\nlive_bytes=%llu\nthreads=%u\n",
	       (unsigned long long)s->live_objects, (unsigned long long)s->live_bytes, s->threads);
	printf("has_mallinfo=%d\n", s->has_mallinfo);
	printf("heap_system_bytes=%llu\nheap_free_bytes=%llu\nheap_releasable_bytes=%llu\n",
	       (unsigned long long)s->heap_system_bytes, (unsigned long long)s->heap_free_bytes,
	       (unsigned long long)s->heap_releasable_bytes);
	printf("pools=%u\n", s->pool_count);
	for (i = 0; i < s->pool_count; i++)
		print_pool(i, &s->pools[i]);
}

static struct memtide_site_snapshot sites[MEMTIDE_SEG_MAX_SITES];
static struct memtide_sites_info sites_info;

/* Sampled allocation sites, raw: frames are return addresses in the process
 * (the exporter names them; this tool does not). */
static void print_sites(void)
{
	const struct memtide_site_snapshot *t;
	uint32_t i, k;

	printf("sample_bytes=%llu\nsamples_dropped=%llu\nsites=%u\n",
	       (unsigned long long)sites_info.sample_bytes,
	       (unsigned long long)sites_info.samples_dropped, sites_info.count);
	for (i = 0; i < sites_info.count; i++) {
		t = &sites[i];
		printf("site.%u.live_bytes=%llu\nsite.%u.live_objects=%.2f\n", i,
		       (unsigned long long)t->live_bytes, i, t->live_objects);
		printf("site.%u.alloc_bytes=%llu\nsite.%u.alloc_objects=%.2f\n", i,
		       (unsigned long long)t->alloc_bytes, i, t->alloc_objects);
		printf("site.%u.first_seen=%llu\nsite.%u.last_grew=%llu\nsite.%u.frames=", i,
		       (unsigned long long)t->first_seen, i, (unsigned long long)t->last_grew, i);
		for (k = 0; k < t->depth; k++)
			printf("%s0x%llx", k ? "," : "", (unsigned long long)t->frames[k]);
		printf("\n");
	}
}

/* A private copy, read with pread (collectors/segment_file.c): a writer that
 * truncates the file meanwhile makes a short copy, never a SIGBUS. A copy torn
 * by a mallinfo snapshot being published is taken again. */
static int read_copy(const char *path, struct memtide_seg_snapshot *snap)
{
	struct segment_copy copy = {0};
	const char *reason = NULL;
	struct timespec now;
	int err = MEMTIDE_SEG_EBUSY;

	for (int attempt = 0; attempt < 20 && err == MEMTIDE_SEG_EBUSY; attempt++) {
		uint64_t budget = UINT64_MAX; /* one file, asked for by name: no scrape to share */

		if (segment_file_copy(AT_FDCWD, path, (uid_t)-1, &budget, &copy, &reason) != 0) {
			fprintf(stderr, "memtide-segment-dump: %s: cannot use: %s\n", path, reason);
			return 2;
		}
		clock_gettime(CLOCK_BOOTTIME, &now);
		err = memtide_segment_read(copy.buf, copy.len, (uint64_t)now.tv_sec, 100, snap);
		if (err == 0)
			err = memtide_sites_read(copy.buf, copy.len, sites, MEMTIDE_SEG_MAX_SITES,
						 &sites_info);
		segment_file_release(&copy);
	}
	if (err) {
		fprintf(stderr, "memtide-segment-dump: %s: rejected: %s\n", path,
			memtide_segment_strerror(err));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct memtide_seg_snapshot *snap;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEGMENT\n", argv[0]);
		return 2;
	}
	snap = malloc(sizeof(*snap));
	if (!snap) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		return 2;
	}
	err = read_copy(argv[1], snap);
	if (err == 0) {
		print_snapshot(snap);
		print_sites();
	}
	free(snap);
	return err;
}
