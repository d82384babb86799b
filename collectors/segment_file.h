/* SPDX-License-Identifier: MIT */
/*
 * segment_file: reading an agent segment file safely.
 *
 * The file belongs to another process, maybe another user, and is hostile
 * input: it may be a symlink, a FIFO, huge, or shrink while it is read. So it
 * is opened without following links and without blocking, checked with fstat,
 * and copied with pread into private memory: never mapped, because a mapped
 * file that its owner truncates kills the reader with SIGBUS. Only the parts
 * the header says are in use are copied (a segment is mostly unused pool
 * space); the rest of the private copy reads as zeros.
 */
#ifndef MEMTIDE_SEGMENT_FILE_H
#define MEMTIDE_SEGMENT_FILE_H

#include <stddef.h>
#include <sys/types.h>

struct segment_copy {
	void *buf;  /* 8-byte aligned private memory of len bytes */
	size_t len; /* the segment's total_size */
};

/*
 * Copies dirfd/name, a regular file owned by `owner`. Returns 0, or a
 * negative errno: -ELOOP (a symlink), -EINVAL (not a regular file, or a size
 * out of bounds), -EPERM (another owner), -EACCES, -ENOENT (gone), -ENOMEM;
 * then *reason holds a label for memtide_scrape_errors_total.
 */
int segment_file_copy(int dirfd, const char *name, uid_t owner, struct segment_copy *out,
		      const char **reason);

void segment_file_release(struct segment_copy *copy);

struct memtide_seg_header;

/* Reads just the header of dirfd/name, whoever owns it. Returns 0 or -errno. */
int segment_file_header(int dirfd, const char *name, struct memtide_seg_header *out);

#endif
