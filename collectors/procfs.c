/* SPDX-License-Identifier: MIT */
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int procfs_boot_time(const char *procfs, double *out)
{
	char path[4096];
	char line[256];
	int err = -ENODATA;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stat", procfs);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long btime;

		if (sscanf(line, "btime %llu", &btime) == 1) {
			*out = (double)btime;
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

static int count_dir_entries(int dirfd, long *out)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;
	long n = 0;

	if (!d) {
		close(dirfd);
		return -errno;
	}
	errno = 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (errno) {
		int err = -errno;

		closedir(d);
		return err;
	}
	closedir(d);
	*out = n;
	return 0;
}

int procfs_count_fds(const char *procfs, int pid, long *out)
{
	char path[4096];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/fd", procfs, pid);
	/* One stat(2) where the kernel reports the count; permission is checked by it too. */
	if (stat(path, &st) != 0)
		return -errno;
	if (st.st_size > 0) {
		*out = (long)st.st_size;
		return 0;
	}
	/* An older kernel, or a process with no open fd at all: count. */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return count_dir_entries(fd, out);
}

int procfs_read(const char *procfs, int pid, const char *file, char *buf, size_t len)
{
	char path[4096];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (len == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%d/%s", procfs, pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (int)got;
}
