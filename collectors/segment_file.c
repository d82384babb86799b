/* SPDX-License-Identifier: MIT */
#include "segment_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/segment.h"
#include "agent/segment_read.h"

/* The file must be the process's own: written by the user the process runs as. */
int segment_trusted(const struct stat *st, uid_t owner)
{
	return owner == (uid_t)-1 || st->st_uid == owner;
}

/* A pread of exactly [off, off + len), clamped to the copy; short reads leave zeros. */
static int copy_range(int fd, struct segment_copy *c, uint64_t off, uint64_t len)
{
	ssize_t n;

	if (off >= c->len)
		return 0;
	if (len > c->len - off)
		len = c->len - off;
	while (len > 0) {
		n = pread(fd, (char *)c->buf + off, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* the file shrank: the reader finds it truncated */
		c->copied += (uint64_t)n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int open_checked(int dirfd, const char *name, uid_t owner, struct stat *st,
			const char **reason)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int err;

	if (fd < 0) {
		err = -errno;
		*reason = err == -ELOOP	   ? "segment_symlink"
			  : err == -ENOENT ? "segment_vanished"
					   : "segment_unreadable";
		return err;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		*reason = "segment_not_regular";
		close(fd);
		return -EINVAL;
	}
	if (!segment_trusted(st, owner)) {
		*reason = "segment_wrong_owner";
		close(fd);
		return -EPERM;
	}
	if ((uint64_t)st->st_size < sizeof(struct memtide_seg_header) ||
	    (uint64_t)st->st_size > MEMTIDE_SEG_MAX_TOTAL_SIZE) {
		*reason = "segment_size";
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* The header, 8-byte aligned for the reader. */
union header_buf {
	struct memtide_seg_header h;
	uint64_t align;
};

/* Reads and validates the header: nothing else of the file is read before. */
static int read_header(int fd, size_t file_len, union header_buf *hb,
		       struct memtide_seg_extents *ext, const char **reason)
{
	enum memtide_seg_error verdict;
	ssize_t n;

	do
		n = pread(fd, hb, sizeof(*hb), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*hb)) {
		*reason = "segment_unreadable";
		return n < 0 ? -errno : -EIO;
	}
	verdict = memtide_segment_check_header(hb, file_len, ext);
	if (verdict == MEMTIDE_SEG_OK)
		return 0;
	*reason = memtide_segment_strerror(verdict);
	return verdict == MEMTIDE_SEG_ENOTREADY ? -EAGAIN : -EBADMSG;
}

/* Copies the ranges the checked header says are in use; the header itself as checked. */
static int copy_used(int fd, struct segment_copy *c, const union header_buf *hb,
		     const struct memtide_seg_extents *ext)
{
	int err = 0;

	memcpy(c->buf, hb, sizeof(*hb));
	c->copied = sizeof(*hb);
	for (size_t i = 0; i < sizeof(ext->off) / sizeof(ext->off[0]) && err == 0; i++)
		err = copy_range(fd, c, ext->off[i], ext->len[i]);
	return err;
}

int segment_file_copy(int dirfd, const char *name, uid_t owner, uint64_t *budget,
		      struct segment_copy *out, const char **reason)
{
	struct memtide_seg_extents ext;
	union header_buf hb;
	struct stat st;
	int fd = open_checked(dirfd, name, owner, &st, reason);
	int err;

	if (fd < 0)
		return fd;
	err = read_header(fd, (size_t)st.st_size, &hb, &ext, reason);
	if (err == 0 && ext.used > *budget) {
		*reason = "segment_budget";
		err = -ENOSPC;
	}
	if (err) {
		close(fd);
		return err;
	}
	*budget -= ext.used;
	out->len = (size_t)ext.total;
	/* Anonymous pages: zero, and only the ones written to cost memory. */
	out->buf = mmap(NULL, out->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (out->buf == MAP_FAILED) {
		*reason = "segment_memory";
		close(fd);
		return -ENOMEM;
	}
	err = copy_used(fd, out, &hb, &ext);
	close(fd);
	if (err) {
		*reason = "segment_unreadable";
		segment_file_release(out);
	}
	return err;
}

void segment_file_release(struct segment_copy *copy)
{
	if (copy->buf && copy->buf != MAP_FAILED)
		munmap(copy->buf, copy->len);
	copy->buf = NULL;
}

int segment_file_header(int dirfd, const char *name, struct memtide_seg_header *out, time_t *mtime)
{
	struct memtide_seg_extents ext;
	const char *reason;
	union header_buf hb;
	struct stat st;
	int fd = open_checked(dirfd, name, (uid_t)-1, &st, &reason);
	int err;

	if (fd < 0)
		return fd;
	*mtime = st.st_mtime;
	err = read_header(fd, (size_t)st.st_size, &hb, &ext, &reason);
	close(fd);
	if (err == 0 || err == -EAGAIN)
		*out = hb.h;
	return err;
}
