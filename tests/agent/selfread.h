// SPDX-License-Identifier: MIT
/*
 * Test helper: read this process's own libmemtide segment through the
 * validating reader, without allocating (the test programs count their own
 * allocations exactly, so the helper must not make any).
 */
#ifndef MEMTIDE_TEST_SELFREAD_H
#define MEMTIDE_TEST_SELFREAD_H

#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/segment_read.h"

/*
 * The bytes the agent counts for a live block: its usable size, plus 8 for a
 * block glibc served with its own mmap on x86-64 (docs/agent.md, "How it
 * counts"), where the agent reads the chunk size without telling them apart.
 */
static inline size_t counted_usable(void *p)
{
#if defined(__x86_64__)
	uintptr_t hdr = (uintptr_t)p - sizeof(size_t);

	__asm__("" : "+r"(hdr)); /* the chunk header, outside what malloc returned */
	return malloc_usable_size(p) + ((*(const size_t *)hdr & 2) ? 8 : 0);
#else
	return malloc_usable_size(p);
#endif
}

/* The path of pid's segment in buf. */
static inline void segment_path_alt(char *buf, size_t len, pid_t pid, unsigned long long start)
{
	const char *dir = getenv("MEMTIDE_DIR");
	char num[24];
	int i = 0;
	size_t n;

	if (!dir || !*dir)
		dir = "/dev/shm";
	n = strlen(dir);
	if (n + 40 > len)
		n = 0;
	memcpy(buf, dir, n);
	buf[n++] = '/';
	memcpy(buf + n, MEMTIDE_SEG_PREFIX, sizeof(MEMTIDE_SEG_PREFIX));
	n += sizeof(MEMTIDE_SEG_PREFIX) - 1;
	do {
		num[i++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid);
	while (i)
		buf[n++] = num[--i];
	if (start) {
		buf[n++] = '.';
		do {
			num[i++] = (char)('0' + start % 10);
			start /= 10;
		} while (start);
		while (i)
			buf[n++] = num[--i];
	}
	buf[n] = '\0';
}

static inline void segment_path(char *buf, size_t len, pid_t pid)
{
	segment_path_alt(buf, len, pid, 0);
}

/* Field 22 of /proc/self/stat, for the second name (agent/segment.h). */
static inline unsigned long long self_start_time(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field;
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (field = 2; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (unsigned long long)(*p++ - '0');
	return v;
}

/* This process's segment: its first name if this user owns that file, else
 * its second. An fd, or -1. */
static inline int open_own_segment(void)
{
	struct stat st;
	char path[512];
	int fd;

	segment_path(path, sizeof(path), getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
	    st.st_size == (off_t)MEMTIDE_SEG_TOTAL_SIZE)
		return fd;
	if (fd >= 0)
		close(fd);
	segment_path_alt(path, sizeof(path), getpid(), self_start_time());
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* 0, or -1 when there is no readable segment, or the reader's error. */
static inline int self_snapshot(struct memtide_seg_snapshot *out)
{
	static void *map;
	struct timespec now;
	int fd;

	/* Map once: the file of this process never moves (a fork child maps its
	 * own file at the same address, but this helper maps it separately). */
	fd = open_own_segment();
	if (fd < 0)
		return -1;
	map = mmap(NULL, MEMTIDE_SEG_TOTAL_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	clock_gettime(CLOCK_BOOTTIME, &now);
	fd = memtide_segment_read(map, MEMTIDE_SEG_TOTAL_SIZE, (uint64_t)now.tv_sec, 100, out);
	munmap(map, MEMTIDE_SEG_TOTAL_SIZE);
	return fd;
}

/* printf-free output: write(2) a string and a number. */
static inline void say(const char *key, unsigned long long v)
{
	char buf[128], num[24];
	size_t n = strlen(key);
	int i = 0;

	if (n > 90)
		n = 90;
	memcpy(buf, key, n);
	buf[n++] = '=';
	do {
		num[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		buf[n++] = num[--i];
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, n) < 0)
		_exit(99);
}

/* Block until stdin reaches end of file (the test closes it). */
static inline void wait_stdin_eof(void)
{
	char c;

	while (read(STDIN_FILENO, &c, 1) > 0)
		;
}

#endif
