/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/maps, parsed with a bounded, allocation-light parser: one buffer
 * for the text, one array for the executable file mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_maps.h"

static char *read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *bigger;
	ssize_t r;

	while (buf) {
		if (n == cap) {
			if (cap >= PROC_MAPS_BYTES)
				break;
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

int proc_maps_read(unsigned pid, struct proc_maps *out)
{
	char path[64], *text;
	size_t len = 0;
	int fd, err;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	text = read_all(fd, &len);
	close(fd);
	if (!text)
		return -ENOMEM;
	err = proc_maps_parse(text, len, out);
	free(text);
	return err;
}

/* One line: "start-end perms offset dev inode   path". Only r-xp file maps. */
static int parse_line(const char *line, size_t len, struct proc_map *m)
{
	char perms[8], buf[PROC_MAPS_PATH + 128];
	unsigned long long start, end, offset, inode;
	int path_at = -1;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (sscanf(buf, "%llx-%llx %7s %llx %*s %llu %n", &start, &end, perms, &offset, &inode,
		   &path_at) < 5 ||
	    path_at < 0)
		return -1;
	if (perms[2] != 'x' || buf[path_at] != '/' || end <= start || inode == 0)
		return -1;
	if (strlen(buf + path_at) >= sizeof(m->path))
		return -1;
	m->start = start;
	m->end = end;
	m->offset = offset;
	strcpy(m->path, buf + path_at);
	return 0;
}

int proc_maps_parse(const char *text, size_t len, struct proc_maps *out)
{
	const char *p = text, *end = text + len, *nl;
	size_t cap = 64;

	memset(out, 0, sizeof(*out));
	out->maps = malloc(cap * sizeof(*out->maps));
	if (!out->maps)
		return -ENOMEM;
	while (p < end && out->n < PROC_MAPS_MAX) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (out->n == cap) {
			struct proc_map *bigger = realloc(out->maps, cap * 2 * sizeof(*out->maps));

			if (!bigger)
				return -ENOMEM; /* what was parsed stays usable; freed by the caller
						 */
			out->maps = bigger;
			cap *= 2;
		}
		if (parse_line(p, (size_t)(nl - p), &out->maps[out->n]) == 0)
			out->n++;
		p = nl + 1;
	}
	return 0;
}

const struct proc_map *proc_maps_find(const struct proc_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->maps[mid].start)
			hi = mid;
		else if (addr >= m->maps[mid].end)
			lo = mid + 1;
		else
			return &m->maps[mid];
	}
	return NULL;
}

void proc_maps_free(struct proc_maps *m)
{
	free(m->maps);
	m->maps = NULL;
	m->n = 0;
}
