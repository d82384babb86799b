/* SPDX-License-Identifier: MIT */
#include "segment_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"

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
		*reason = err == -ELOOP ? "segment_symlink"
			  : err == -ENOENT ? "segment_vanished"
					   : "segment_unreadable";
		return err;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		*reason = "segment_not_regular";
		close(fd);
		return -EINVAL;
	}
	if (owner != (uid_t)-1 && st->st_uid != owner) {
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

/* Copies the header, then the slot and pool ranges the header says are in use. */
static int copy_used(int fd, struct segment_copy *c)
{
	const struct memtide_seg_header *h = c->buf;
	uint64_t slots, pools;
	int err = copy_range(fd, c, 0, sizeof(*h));

	if (err)
		return err;
	/* Unchecked values only bound what is copied; the reader validates them. */
	slots = (uint64_t)h->slots_used * h->slot_size;
	pools = (uint64_t)h->pools_used * h->pool_size;
	err = copy_range(fd, c, h->overflow_offset, h->slot_size);
	if (err == 0)
		err = copy_range(fd, c, h->slot_offset, slots);
	if (err == 0)
		err = copy_range(fd, c, h->pool_offset, pools);
	return err;
}

int segment_file_copy(int dirfd, const char *name, uid_t owner, struct segment_copy *out,
		      const char **reason)
{
	struct stat st;
	int fd = open_checked(dirfd, name, owner, &st, reason);
	int err;

	if (fd < 0)
		return fd;
	out->len = (size_t)st.st_size;
	/* Anonymous pages: zero, and only the ones written to cost memory. */
	out->buf = mmap(NULL, out->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (out->buf == MAP_FAILED) {
		*reason = "segment_memory";
		close(fd);
		return -ENOMEM;
	}
	err = copy_used(fd, out);
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

int segment_file_header(int dirfd, const char *name, struct memtide_seg_header *out)
{
	const char *reason;
	struct stat st;
	int fd = open_checked(dirfd, name, (uid_t)-1, &st, &reason);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = pread(fd, out, sizeof(*out), 0);
	close(fd);
	return n == (ssize_t)sizeof(*out) ? 0 : -EIO;
}
