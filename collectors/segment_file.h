/* SPDX-License-Identifier: MIT */
/*
 * segment_file: finding and reading an agent segment file safely.
 *
 * The file belongs to another process, maybe another user, and is hostile
 * input: it may be a symlink, a FIFO, huge, sparse, or shrink while it is
 * read. So it is opened without following links and without blocking,
 * checked with fstat, its header is read and validated before anything else,
 * and only then are the parts the header says are in use copied with pread
 * into private memory: never mapped, because a mapped file that its owner
 * truncates kills the reader with SIGBUS. The rest of the private copy reads
 * as zeros and costs no memory.
 */
#ifndef MEMTIDE_SEGMENT_FILE_H
#define MEMTIDE_SEGMENT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Whether a segment file with this fstat may be believed for a process run by owner. */
int segment_trusted(const struct stat *st, uid_t owner);

struct segment_copy {
	void *buf;	 /* 8-byte aligned private memory of len bytes */
	size_t len;	 /* the segment's total_size */
	uint64_t copied; /* bytes read from the file */
};

/*
 * Copies dirfd/name, a regular file owned by `owner`, if its header is valid
 * and what it says is in use fits in *budget bytes, which it then takes from.
 * Returns 0, or a negative errno: -ELOOP (a symlink), -EINVAL (not a regular
 * file, or a size out of bounds), -EPERM (another owner), -EACCES, -ENOENT
 * (gone), -ENOMEM, -EBADMSG (an invalid header), -EAGAIN (its writer has not
 * finished creating it), -ENOSPC (over budget); then *reason holds a label for
 * memtide_scrape_errors_total.
 */
int segment_file_copy(int dirfd, const char *name, uid_t owner, uint64_t *budget,
		      struct segment_copy *out, const char **reason);

void segment_file_release(struct segment_copy *copy);

struct memtide_seg_header;

/*
 * Reads just the header of dirfd/name, whoever owns it, and its mtime.
 * Returns 0, or -errno; -EBADMSG when the header is impossible (not a segment
 * this reader understands).
 */
int segment_file_header(int dirfd, const char *name, struct memtide_seg_header *out, time_t *mtime);

#endif
